/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a device-model test (test_blk.c, test_net.c) plays around a virtio device model,
 * with no transport or guest in between:
 *
 * - the driver: split rings at fixed guest addresses, chains of segments made available,
 *   kicks that run queue_notify on the queue's loop thread (as a transport's doorbell
 *   would), and the used ring read back;
 * - the transport: a transport that counts each queue's interrupts, those raised off the
 *   queue's own loop thread, and needs_reset calls;
 * - per-queue loops (dev->queue_loops), each on a thread of its own;
 * - a loop held with a kick's requests in flight, and reset, queue_reset and queue_stop
 *   on threads of their own (they wait for those requests).
 *
 * No Criterion here (bench/ links tests/unit/lib too): the callers assert.
 */
#ifndef VQVM_TESTS_VQ_DRV_H
#define VQVM_TESTS_VQ_DRV_H

#include <linux/virtio_ring.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/evloop.h"
#include "lib/guest_mem.h"
#include "virtio/device.h"

#define VQD_MAX_QUEUES 16

/* ---- the driver side ---- */

struct drv {
	unsigned int q;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t size, avail_idx, next_desc;
};

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/*
 * What the transport does when the driver enables queue q of dev with size `size`: the
 * rings at 0x10000 * (q + 1) (descriptors, available, used: 4 KiB apart), zeroed, and
 * the queue activated. Returns vq_activate's result, or -EFAULT if mem lacks the rings.
 */
int drv_queue_setup(struct drv *d, struct virtio_device *dev, struct guest_mem *mem,
		    unsigned int q, uint16_t size, bool event_idx);
/* Put a chain on the descriptor table and make it available (no kick); its head. */
uint16_t drv_add_chain(struct drv *d, const struct seg *segs, unsigned int n);
/* The doorbell: queue_notify runs on the queue's loop thread, as the transport's would. */
void drv_kick(struct virtio_device *dev, unsigned int q);
uint16_t drv_used_idx(const struct drv *d);
/* Poll the used index until it reaches n or timeout_ms passes; returns it. */
uint16_t drv_wait_used(const struct drv *d, uint16_t n, int timeout_ms);
/* Used ring entry i (mod the size), in host byte order. */
struct vring_used_elem drv_used_elem(const struct drv *d, uint16_t i);

/* ---- the transport side ---- */

struct tr_counts {
	atomic_uint irqs[VQD_MAX_QUEUES];
	atomic_uint foreign_irqs; /* raised off the queue's own loop thread */
	atomic_uint needs_resets;
};

/* Counts into tr_counts; tr_counts_reset() zeroes them (each test's setup). */
extern const struct virtio_transport_ops counting_transport;
extern struct tr_counts tr_counts;
void tr_counts_reset(void);

/* ---- loops ---- */

/* A thread's body: evloop_run(loop). */
void *vqd_run_loop(void *loop);

struct qloops {
	struct evloop loop[VQD_MAX_QUEUES];
	pthread_t thread[VQD_MAX_QUEUES];
	struct evloop *table[VQD_MAX_QUEUES];
	unsigned int nr; /* started */
};

/*
 * One loop and thread per queue of dev, before the driver starts it; dev->queue_loops
 * points at them. Returns 0 or -errno; the loops started stay for qloops_stop.
 */
int qloops_start(struct qloops *ql, struct virtio_device *dev);
void qloops_stop(struct qloops *ql);

/*
 * A test's fixture: guest memory of mem_size, the device's loop running on *thread, no
 * queue loops yet (ql), the transport's counts zeroed. Returns 0 or -errno.
 */
int vqd_setup(struct guest_mem *mem, uint64_t mem_size, struct evloop *loop,
	      pthread_t *thread, struct qloops *ql);
/* dev (unless NULL) reset and destroyed, then the queue loops, the loop and memory go. */
void vqd_teardown(struct virtio_device *dev, struct qloops *ql, struct evloop *loop,
		  pthread_t thread, struct guest_mem *mem);

/* ---- a loop held, resets and queue_stop on threads ---- */

struct blocker {
	struct evloop_call call;
	struct virtio_device *dev;
	unsigned int q;
	sem_t entered, release; /* sem_destroy both when done */
};

/*
 * Kick queue q of dev on loop, then hold loop there until b->release is posted (the
 * requests the kick popped are prepared, not submitted). Returns once the kick ran.
 */
void blocker_hold(struct blocker *b, struct evloop *loop, struct virtio_device *dev,
		  unsigned int q);

/*
 * Wait until loop has run every call queued on it before this one (e.g. a model's start
 * call queued at activate), so that what the test does next cannot race them.
 */
void vqd_loop_sync(struct evloop *loop);

struct resetter {
	struct virtio_device *dev;
	int q; /* -1: the whole device */
	atomic_bool done; /* the reset returned */
};

/* A thread's body: reset, or queue_reset of r->q, then r->done. */
void *resetter_run(void *r);

struct stopper {
	struct virtio_device *dev;
	unsigned int q;
	atomic_bool done; /* queue_stop returned */
};

/* A thread's body: s->dev->ops->queue_stop(s->dev, s->q), then s->done. */
void *stopper_run(void *s);

#endif
