/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The run state of one device queue whose backend I/O runs on the queue's event loop
 * (virtio_queue_loop), and how a reset or stop waits for that I/O to end: what every
 * device model (blk, net) needs the same way.
 *
 * A stop clears `running`, asks the loop to cancel what is in flight (the model's
 * cancel callback names the operations) and waits until the loop reaped all of it.
 * Waiting is refused on the loop's own thread (it alone reaps: that would deadlock), and
 * given up when the loop stopped for good (VM teardown): the I/O is then abandoned and
 * its buffers must stay allocated.
 *
 * Lock: `lock` is the owning queue's lock. Every field and every function below except
 * queue_io_init and queue_io_destroy need it held, unless a function says otherwise.
 */
#ifndef VQVM_VIRTIO_QUEUE_IO_H
#define VQVM_VIRTIO_QUEUE_IO_H

#include <pthread.h>
#include <stdbool.h>

#include "lib/evloop.h"
#include "virtio/device.h"

struct queue_io {
	pthread_mutex_t *lock;     /* the owning queue's */
	pthread_cond_t idle;       /* queue_io_idle() became true */
	struct virtio_device *dev; /* the queue's device and index: its loop */
	unsigned int index;
	bool running;              /* activated and not reset */
	bool stopping;             /* queue_stop: running, but nothing more is started */
	unsigned int in_flight;    /* io_uring operations of the model not reaped yet */
	bool start_queued;         /* the model's start call waits in the loop's queue */
	unsigned int cancels;      /* cancellation SQEs not reaped yet */
	bool cancel_queued;        /* cancel_call waits in the loop's call queue */
	struct evloop_call cancel_call;
	struct evloop_op cancel_op;
	/* On the loop, lock held: queue_io_cancel_op() for every operation in flight. */
	void (*cancel)(void *owner);
	void *owner;
	/* For logs: "<kind> '<name>' <queue>", e.g. "blk 'disk.img' queue 0". */
	const char *kind, *name;
	char queue[24];
};

/* Lock not needed (nobody else sees io yet). name must outlive io. */
void queue_io_init(struct queue_io *io, pthread_mutex_t *lock, struct virtio_device *dev,
		   unsigned int index, void (*cancel)(void *owner), void *owner,
		   const char *kind, const char *name, const char *queue);
void queue_io_destroy(struct queue_io *io);

/* Where the queue's kicks, backend I/O and cancellations run. No lock needed. */
static inline struct evloop *queue_io_loop(const struct queue_io *io)
{
	return virtio_queue_loop(io->dev, io->index);
}

/* Is the caller on the thread of the queue's loop (the only one that reaps it)? */
static inline bool queue_io_on_loop(const struct queue_io *io)
{
	return evloop_on_thread(queue_io_loop(io));
}

/* Nothing in flight, no cancellation pending, no call queued. */
static inline bool queue_io_idle(const struct queue_io *io)
{
	return !io->in_flight && !io->start_queued && !io->cancels && !io->cancel_queued;
}

/* After any of queue_io_idle's counts dropped: wakes the waiters once it holds. */
void queue_io_wake_if_idle(struct queue_io *io);

/* On the loop, from the cancel callback: one cancellation SQE for op (best effort). */
void queue_io_cancel_op(struct queue_io *io, struct evloop_op *op);

/*
 * Queue the cancel callback on the loop unless one is queued already, we are on the
 * loop (the caller's own I/O ends by itself there) or the loop stopped for good.
 */
void queue_io_request_cancel(struct queue_io *io);

/*
 * Until queue_io_idle() holds, or the loop stopped for good (the I/O is abandoned,
 * with a warning). The lock is dropped while waiting. Aborts when called on the loop's
 * thread with I/O in flight: it would wait for itself forever.
 */
void queue_io_wait_quiet(struct queue_io *io);

/*
 * The queue's ring (vq_log_state) and run state in the log, each line prefixed with
 * "<kind> '<name>' <queue>" and followed by the model's own detail.
 */
void queue_io_log_state(const struct queue_io *io, const struct virtqueue *vq,
			const char *detail);

/* Lock not held: stop running, and have the loop cancel what is in flight. */
void queue_io_halt(struct queue_io *io);

#endif
