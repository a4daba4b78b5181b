/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transport-neutral virtio device interface (like Firecracker's VirtioDevice): a
 * device model sees guest memory, its queues, its config space and callbacks to raise
 * an interrupt for a queue or for its config. It never knows whether virtio-pci or the
 * management device's transport virtqueue serves it.
 *
 * Threading: the transport calls ops from vCPU threads (config access, status writes)
 * and the device's event loops (kicks). Devices serialise with their own lock; queue q
 * is processed, and its backend I/O submitted and reaped, only on its loop:
 * virtio_queue_loop(dev, q). That is dev->loop for every queue unless the VMM gave the
 * device a per-queue table (dev->queue_loops), in which case different queues run on
 * different threads at once and anything a device shares between queues needs its own
 * lock or atomics.
 */
#ifndef VQVM_VIRTIO_DEVICE_H
#define VQVM_VIRTIO_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/evloop.h"
#include "lib/guest_mem.h"
#include "lib/hv.h"
#include "virtio/queue.h"

/* Feature bits every vqvm device offers; the transport adds VERSION_1. */
#define VIRTIO_COMMON_FEATURES                                                         \
	((1ULL << 28 /* INDIRECT_DESC */) | (1ULL << 29 /* RING_EVENT_IDX */) |          \
	 (1ULL << 32 /* VERSION_1 */) | (1ULL << 40 /* RING_RESET */))

struct virtio_device;

struct virtio_device_ops {
	/* Device-type feature bits offered (plus VIRTIO_COMMON_FEATURES). */
	uint64_t (*features)(struct virtio_device *dev);
	/* Read/write device config space; offset+len already checked against config_size. */
	void (*config_read)(struct virtio_device *dev, uint32_t offset, void *buf, uint32_t len);
	void (*config_write)(struct virtio_device *dev, uint32_t offset, const void *buf,
			     uint32_t len);
	/*
	 * The driver set DRIVER_OK: features are in dev->driver_features, enabled queues
	 * are activated (vq->active). Start processing. Returns 0 or -errno (the transport
	 * then sets DEVICE_NEEDS_RESET).
	 */
	int (*activate)(struct virtio_device *dev);
	/* A kick for queue q arrived (on queue q's loop thread). */
	void (*queue_notify)(struct virtio_device *dev, unsigned int q);
	/*
	 * Stop all I/O: wait for or cancel in-flight requests. After it returns, nothing
	 * more is read from or written to guest memory or the backend for this device until
	 * the next activate. Used by device reset and by destruction.
	 */
	void (*reset)(struct virtio_device *dev);
	/* Optional: per-queue reset (VIRTIO_F_RING_RESET), same guarantee for one queue. */
	void (*queue_reset)(struct virtio_device *dev, unsigned int q);
	/*
	 * Optional: stop running queue q without losing its place (a managed device's
	 * VQ_ENABLE SET 0, docs/transport-vq.md 7.6). Take no more buffers; let every
	 * request in flight complete and push it to the used ring, with its interrupt as
	 * vq_should_notify decides. A receive buffer still waiting for data may instead be
	 * given back by moving last_avail_idx back over it, and only for the buffers taken
	 * last. When it returns the queue is not running, used_idx == last_avail_idx (every
	 * buffer before it was returned, none after), and nothing reads or writes the queue
	 * until activate starts it again (the transport re-activates vq first; the queue
	 * resumes at last_avail_idx). Called on any thread but queue q's loop. Without it, a
	 * transport cannot stop a queue short of queue_reset.
	 */
	void (*queue_stop)(struct virtio_device *dev, unsigned int q);
	/* Free everything (after reset). */
	void (*destroy)(struct virtio_device *dev);
	/*
	 * Optional: log (info) each queue's ring (vq_log_state) and what the model holds
	 * or waits for: the state dump of SIGUSR2 (docs/cli.md). Any thread.
	 */
	void (*log_state)(struct virtio_device *dev);
};

struct virtio_transport_ops {
	/*
	 * Raise the interrupt of queue q (honours masking). Called on queue q's loop, so
	 * with per-queue loops from several threads at once.
	 */
	void (*queue_interrupt)(struct virtio_device *dev, unsigned int q);
	/* Config space changed: bump the generation and raise the config interrupt. */
	void (*config_interrupt)(struct virtio_device *dev);
	/* The device hit an unrecoverable error: set DEVICE_NEEDS_RESET and tell the driver. */
	void (*needs_reset)(struct virtio_device *dev);
};

struct virtio_device {
	const char *name;        /* for logs: "blk0", "net1" */
	uint32_t device_type;    /* VIRTIO_ID_BLOCK, VIRTIO_ID_NET */
	const struct virtio_device_ops *ops;
	void *priv;              /* the model's state */
	uint32_t config_size;
	unsigned int nr_queues;
	struct virtqueue *vqs;   /* nr_queues, allocated by the model */
	const struct guest_mem *mem;
	struct evloop *loop;     /* where the model processes queues */
	/*
	 * Optional, nr_queues entries: queue q's own loop (its kicks, processing and
	 * backend I/O), or NULL for dev->loop. NULL table (the default): every queue on
	 * dev->loop. Set by the VMM after the model is created and before the transport
	 * is; fixed from then on, and every loop must outlive the device.
	 */
	struct evloop **queue_loops;
	uint64_t driver_features; /* negotiated */

	const struct virtio_transport_ops *transport;
	void *transport_priv;
};

static inline bool virtio_has_feature(const struct virtio_device *dev, unsigned int bit)
{
	return dev->driver_features & (1ULL << bit);
}

/* The loop that queue q's kicks, processing and backend I/O run on. */
static inline struct evloop *virtio_queue_loop(const struct virtio_device *dev, unsigned int q)
{
	if (dev->queue_loops && q < dev->nr_queues && dev->queue_loops[q])
		return dev->queue_loops[q];
	return dev->loop;
}

static inline void virtio_queue_interrupt(struct virtio_device *dev, unsigned int q)
{
	dev->transport->queue_interrupt(dev, q);
}

/*
 * For transports, before serving dev: the mandatory ops (all but queue_reset,
 * queue_stop and destroy), every hypervisor op, 1..max_queues queues each with a
 * power-of-two max_size up to VQ_MAX_SIZE, at most max_config bytes of config, a loop
 * and guest memory. Returns 0, or -1 with e naming the device and the problem.
 */
int virtio_transport_check(const struct virtio_device *dev, const struct hv *hv,
			   unsigned int max_queues, uint32_t max_config, struct err *e);

#endif
