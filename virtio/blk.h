/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-blk (virtio 1.2 section 5.2) on a raw image file or block device, with every
 * request done through the device's io_uring event loop. blk_create returns a
 * transport-neutral virtio_device (virtio/device.h); virtio-pci and the management
 * device serve it the same way.
 *
 * What the guest sees:
 * - capacity = image size / 512; blk_size 512 (with cache=none: the file's O_DIRECT
 *   offset alignment if larger, so a driver only sends requests O_DIRECT accepts).
 * - SEG_MAX 126 data segments and SIZE_MAX 1 MiB per segment: a request carries at most
 *   126 MiB. 126 + header + status is the iovec array each request owns; a chain with
 *   more buffers than that (a few spare for a split header or status) is returned
 *   unanswered (used length 0).
 * - FLUSH always: fdatasync through io_uring. Also with cache=none, where it flushes the
 *   disk's volatile cache. RO when read-only. MQ with num_queues when queues > 1.
 * - DISCARD and WRITE_ZEROES (one segment each, up to 2 GiB, write_zeroes_may_unmap 1)
 *   when the image is a writable regular file whose file system punches holes. DISCARD
 *   and WRITE_ZEROES with UNMAP punch a hole; WRITE_ZEROES without it uses ZERO_RANGE,
 *   or a hole where the file system has no ZERO_RANGE (tmpfs). Block devices get
 *   neither (probing them needs a write).
 * - GET_ID: the configured id, NUL-padded to 20 bytes.
 * - Config space is struct virtio_blk_config, read-only (CONFIG_WCE is not offered).
 *
 * Threads and locks. Queue q lives on its loop, virtio_queue_loop(dev, q) (device.h):
 * the device's loop for every queue, unless the VMM set dev->queue_loops, and then each
 * queue's kicks, requests, completions and cancellations are on its own loop and
 * thread, and queues run in parallel. Each queue has a mutex that guards everything
 * about it: whether it runs, its in-flight requests and its virtqueue. Its loop takes
 * it in queue_notify and for each completion, and calls queue_interrupt and
 * needs_reset with it held (transports make those callbacks take only leaf locks).
 * Queues share only what is immutable after create, and one atomic flag (ZERO_RANGE
 * unsupported). activate, reset, queue_reset and destroy run on any thread (vCPU
 * threads under the transport's lock): reset clears "running" of every queue it stops
 * under that queue's lock, asks each queue's loop to cancel what the queue has in
 * flight, and then waits on each queue's condition variable until its last completion
 * (and cancellation) was reaped. So after reset returns nothing more reads or writes
 * guest memory or the file for those queues, and nothing is pushed or signalled, until
 * activate starts them again. Consequences:
 * - reset may be called on a queue's loop thread only when that queue is idle; with
 *   requests in flight it would wait for itself, which is reported and aborts. (A
 *   caller that must reset from the loop needs an asynchronous reset in device.h.)
 * - If a queue's loop has been stopped for good (evloop_stop), reset does not wait for
 *   that queue: it abandons what is still in flight there, and destroy leaks those
 *   requests rather than free memory the kernel may still write.
 * - activate starts every queue that is active (vq->active) and not running. After a
 *   queue_reset the transport calls activate again once the driver re-enabled it.
 * - queue_stop (a managed device's VQ_ENABLE SET 0) pops nothing more from the queue
 *   and waits, like reset, until its requests in flight completed normally: each is
 *   pushed to the used ring and signalled on the loop before it returns. Then the queue
 *   is not running and resumes at last_avail_idx with the next activate.
 */
#ifndef VQVM_VIRTIO_BLK_H
#define VQVM_VIRTIO_BLK_H

#include <stdbool.h>

#include "lib/err.h"
#include "lib/evloop.h"
#include "lib/guest_mem.h"
#include "virtio/device.h"
#include "virtio/stats.h"

#define BLK_MAX_QUEUES 64
#define BLK_QUEUE_SIZE 256         /* max_size offered for every queue */
#define BLK_ID_BYTES 20            /* VIRTIO_BLK_ID_BYTES */
#define BLK_SEG_MAX 126            /* data segments per request */
#define BLK_SIZE_MAX (1U << 20)    /* bytes per segment */
#define BLK_MAX_DWZ_SECTORS (1U << 22) /* per discard / write-zeroes segment: 2 GiB */

struct blk_config {
	const char *path;
	bool readonly;
	enum blk_cache {
		BLK_CACHE_WRITEBACK, /* page cache; FLUSH is fdatasync */
		BLK_CACHE_NONE,      /* O_DIRECT; unaligned guest buffers go through a bounce */
	} cache;
	unsigned int queues; /* 1..BLK_MAX_QUEUES */
	const char *id;      /* serial for GET_ID, at most 20 printable ASCII bytes; NULL: none */
};

/*
 * Open and check the image (exists, regular file or block device, not empty, size a
 * multiple of 512; with cache=none the file system must accept O_DIRECT) and build the
 * device. Queues are processed on loop, or on per-queue loops the caller puts in
 * (*out)->queue_loops before the transport is created. Returns 0, or -1 with e naming
 * the file and the problem.
 */
int blk_create(struct virtio_device **out, const struct blk_config *cfg,
	       const struct guest_mem *mem, struct evloop *loop, struct err *e);

/* Request types as counted (BLK_REQ_OTHER: unknown type, or a header too short). */
enum blk_req_kind {
	BLK_REQ_READ,
	BLK_REQ_WRITE,
	BLK_REQ_FLUSH,
	BLK_REQ_DISCARD,
	BLK_REQ_WRITE_ZEROES,
	BLK_REQ_GET_ID,
	BLK_REQ_OTHER,
	BLK_REQ_KINDS
};

/*
 * Counters since creation, summed over the queues (virtio/stats.h). A request counts
 * once it is answered (its status written and the chain pushed); requests a reset
 * cancelled are not counted.
 */
struct blk_stats {
	uint64_t requests[BLK_REQ_KINDS]; /* answered, by type */
	uint64_t read_bytes, write_bytes; /* data of the reads and writes that succeeded */
	uint64_t ioerr, unsupp;           /* answered VIRTIO_BLK_S_IOERR / _UNSUPP */
	uint64_t unanswered;              /* chains returned with used length 0: no status
					   * byte, or too many buffers */
	struct stats_hist latency;        /* popped to answered, every answered request */
};

void blk_get_stats(struct virtio_device *dev, struct blk_stats *out);
/* "read", "write", "flush", "discard", "write_zeroes", "get_id", "other". */
const char *blk_req_kind_name(enum blk_req_kind kind);

#endif
