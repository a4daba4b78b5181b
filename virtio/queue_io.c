// SPDX-License-Identifier: Apache-2.0
/*
 * Stopping a device queue's backend I/O: cancellation on the queue's loop and the wait
 * for it (queue_io.h).
 */
#include "virtio/queue_io.h"

#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lib/log.h"

/* How often a waiter looks whether the loop stopped for good meanwhile. */
#define QUEUE_IO_POLL_MS 100

static void queue_io_cancel_done(struct evloop_op *op, int res, bool more)
{
	struct queue_io *io = op->opaque;

	pthread_mutex_lock(io->lock);
	io->cancels--;
	queue_io_wake_if_idle(io);
	pthread_mutex_unlock(io->lock);
}

/*
 * On the loop: the model names what to cancel. An operation the kernel already runs
 * finishes anyway (-EALREADY); queued ones end with -ECANCELED.
 */
static void queue_io_cancel_call(void *arg)
{
	struct queue_io *io = arg;

	pthread_mutex_lock(io->lock);
	io->cancel(io->owner);
	io->cancel_queued = false;
	queue_io_wake_if_idle(io);
	pthread_mutex_unlock(io->lock);
}

void queue_io_init(struct queue_io *io, pthread_mutex_t *lock, struct virtio_device *dev,
		   unsigned int index, void (*cancel)(void *owner), void *owner,
		   const char *kind, const char *name, const char *queue)
{
	io->lock = lock;
	pthread_cond_init(&io->idle, NULL);
	io->dev = dev;
	io->index = index;
	io->cancel = cancel;
	io->owner = owner;
	io->cancel_op.cb = queue_io_cancel_done;
	io->cancel_op.opaque = io;
	io->kind = kind;
	io->name = name;
	snprintf(io->queue, sizeof(io->queue), "%s", queue);
}

void queue_io_destroy(struct queue_io *io)
{
	pthread_cond_destroy(&io->idle);
}

void queue_io_wake_if_idle(struct queue_io *io)
{
	if (queue_io_idle(io))
		pthread_cond_broadcast(&io->idle);
}

void queue_io_cancel_op(struct queue_io *io, struct evloop_op *op)
{
	struct io_uring_sqe *sqe = evloop_sqe(queue_io_loop(io), &io->cancel_op);

	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
	io->cancels++;
}

static bool queue_io_loop_stopped(const struct queue_io *io)
{
	return __atomic_load_n(&queue_io_loop(io)->stop, __ATOMIC_ACQUIRE);
}

void queue_io_request_cancel(struct queue_io *io)
{
	if (io->cancel_queued || queue_io_on_loop(io) || queue_io_loop_stopped(io))
		return;
	io->cancel_queued = true;
	evloop_call(queue_io_loop(io), &io->cancel_call, queue_io_cancel_call, io);
}

void queue_io_wait_quiet(struct queue_io *io)
{
	bool on_loop = queue_io_on_loop(io);

	while (!queue_io_idle(io)) {
		struct timespec until;

		if (queue_io_loop_stopped(io)) {
			log_warn("%s '%s' %s: %u requests in flight with the event loop stopped: "
				 "abandoned", io->kind, io->name, io->queue, io->in_flight);
			break;
		}
		if (on_loop) {
			log_err("%s '%s' %s: stop or reset on the event loop thread with %u "
				"requests in flight would wait for itself", io->kind, io->name,
				io->queue, io->in_flight);
			abort();
		}
		/* Timed, so that a loop stopped meanwhile does not hang us. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += QUEUE_IO_POLL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&io->idle, io->lock, &until);
	}
}

void queue_io_log_state(const struct queue_io *io, const struct virtqueue *vq,
			const char *detail)
{
	char who[256];

	snprintf(who, sizeof(who), "%s '%s' %s", io->kind, io->name, io->queue);
	vq_log_state(vq, who);
	log_info("%s: %s%s, in flight %u, cancels %u%s%s, %s", who,
		 io->running ? "running" : "not running", io->stopping ? " stopping" : "",
		 io->in_flight, io->cancels, io->cancel_queued ? " cancel_queued" : "",
		 io->start_queued ? " start_queued" : "", detail);
}

void queue_io_halt(struct queue_io *io)
{
	pthread_mutex_lock(io->lock);
	io->running = false;
	if (io->in_flight)
		queue_io_request_cancel(io);
	pthread_mutex_unlock(io->lock);
}
