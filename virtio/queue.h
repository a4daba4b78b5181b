/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Split virtqueues, device side (virtio 1.2 section 2.7). The driver owns the ring
 * memory and everything in it is hostile: every descriptor address and length is
 * checked against guest RAM through guest_mem, chains are bounded by the queue size,
 * loops and nested indirect tables are rejected, and a device-readable descriptor
 * after a device-writable one is an error. A queue that violates the protocol is
 * marked broken: it processes nothing more until reset, and the transport sets
 * DEVICE_NEEDS_RESET. Nothing outside guest RAM is ever read or written.
 *
 * One thread at a time works on a queue (its event loop). Barriers follow the spec:
 * read avail->idx, then acquire before reading ring entries and descriptors; write
 * used entries, release, then publish used->idx; a full barrier between publishing
 * used->idx and reading avail->flags / used_event for the interrupt decision, and
 * between writing avail_event and re-checking avail->idx.
 */
#ifndef VQVM_VIRTIO_QUEUE_H
#define VQVM_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "lib/guest_mem.h"

#define VQ_MAX_SIZE 32768

struct virtqueue {
	/* Set by the transport from the driver's writes. */
	uint16_t max_size;    /* what the device offers */
	uint16_t size;        /* what the driver chose (power of two <= max_size) */
	bool enabled;         /* queue_enable / VQ_ENABLE */
	uint64_t desc_addr, avail_addr, used_addr;
	uint16_t msix_vector; /* transport-private: which vector this queue signals */

	/* Set by vq_activate. */
	const struct guest_mem *mem;
	bool active;
	bool event_idx;       /* VIRTIO_F_RING_EVENT_IDX negotiated */
	bool indirect;        /* VIRTIO_F_INDIRECT_DESC negotiated */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;

	/* Device state. */
	uint16_t last_avail_idx; /* next avail ring entry to take */
	uint16_t used_idx;       /* next used ring entry to fill (shadow of used->idx) */
	uint16_t signalled_used; /* used_idx at the last interrupt sent (event idx) */
	bool signalled_used_valid;
	bool broken;             /* protocol violation seen: stop until reset */
};

/* A popped request: its head id (for vq_push) and its buffers as host iovecs. */
struct vq_chain {
	uint16_t head;
	unsigned int nr_out; /* device-readable iovecs, first in iov[] */
	unsigned int nr_in;  /* device-writable iovecs, after them */
	uint64_t out_len, in_len;
	struct iovec *iov;
};

/* Forget everything (reset): addresses 0, not enabled, not active. Keeps max_size. */
void vq_reset(struct virtqueue *vq);
/*
 * Check the driver-set size and ring addresses (alignment 16/2/4, inside guest RAM,
 * size a power of two <= max_size) and map the rings. -EINVAL when they do not hold.
 */
int vq_activate(struct virtqueue *vq, const struct guest_mem *mem, bool event_idx,
		bool indirect);
/*
 * Take the next available chain. Returns 1 with *chain filled (iov[] points into
 * guest RAM, at most max_iov entries), 0 when the ring is empty, -EINVAL when the
 * chain is malformed (the queue is then broken) or -ENOBUFS when it has more than
 * max_iov buffers (the chain is consumed; complete it with vq_push(len 0) or an
 * error status, the queue stays usable).
 */
int vq_pop(struct virtqueue *vq, struct vq_chain *chain, struct iovec *iov,
	   unsigned int max_iov);
/* Return a chain to the driver with the number of bytes written into it. */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written);
/* After pushes: should the driver be interrupted (event idx or NO_INTERRUPT)? */
bool vq_should_notify(struct virtqueue *vq);
/*
 * Kick suppression while the device drains the ring: disable asks the driver not to
 * notify; enable re-enables and returns true if buffers arrived in between (the caller
 * must then process them, closing the race).
 */
void vq_disable_notify(struct virtqueue *vq);
bool vq_enable_notify(struct virtqueue *vq);
/* True if the driver has made buffers available that were not popped yet. */
bool vq_has_available(struct virtqueue *vq);
/*
 * Log (info) the ring's indices and flags as both sides see them, prefixed with who:
 * the post-mortem of a stalled queue (who waits for whom). The owner's lock held.
 */
void vq_log_state(const struct virtqueue *vq, const char *who);

/* Event-idx arithmetic across 16-bit wrap (exposed for tests). */
static inline bool vq_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

#endif
