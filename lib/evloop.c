// SPDX-License-Identifier: Apache-2.0
#include "lib/evloop.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/log.h"

static void wake_rearm(struct evloop *loop);

static void run_calls(struct evloop *loop)
{
	struct evloop_call *list;

	pthread_mutex_lock(&loop->call_lock);
	list = loop->calls;
	loop->calls = NULL;
	loop->calls_tail = &loop->calls;
	pthread_mutex_unlock(&loop->call_lock);
	while (list) {
		struct evloop_call *next = list->next;

		list->fn(list->arg);
		list = next;
	}
}

static void wake_done(struct evloop_op *op, int res, bool more)
{
	struct evloop *loop = op->opaque;

	op->armed = false;
	if (res < 0 && res != -EINTR && res != -EAGAIN)
		log_warn("event loop: wake-up read failed: %s", strerror(-res));
	run_calls(loop);
	wake_rearm(loop);
}

/* A plain read of the eventfd: its completion means "someone woke us". */
static void wake_rearm(struct evloop *loop)
{
	struct io_uring_sqe *sqe = evloop_sqe(loop, &loop->wake_op);

	if (!sqe) {
		log_err("event loop: ring full, cannot re-arm wake-ups");
		return;
	}
	io_uring_prep_read(sqe, loop->wake_fd, &loop->wake_buf, sizeof(loop->wake_buf), 0);
}

int evloop_init(struct evloop *loop, unsigned int entries)
{
	int ret;

	memset(loop, 0, sizeof(*loop));
	ret = io_uring_queue_init(entries, &loop->ring, 0);
	if (ret < 0)
		return ret;
	loop->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (loop->wake_fd < 0) {
		ret = -errno;
		io_uring_queue_exit(&loop->ring);
		return ret;
	}
	pthread_mutex_init(&loop->call_lock, NULL);
	loop->calls_tail = &loop->calls;
	loop->wake_op.cb = wake_done;
	loop->wake_op.opaque = loop;
	wake_rearm(loop);
	return 0;
}

void evloop_destroy(struct evloop *loop)
{
	io_uring_queue_exit(&loop->ring);
	close(loop->wake_fd);
	pthread_mutex_destroy(&loop->call_lock);
}

struct io_uring_sqe *evloop_sqe(struct evloop *loop, struct evloop_op *op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);

	if (!sqe) {
		io_uring_submit(&loop->ring);
		sqe = io_uring_get_sqe(&loop->ring);
		if (!sqe)
			return NULL;
	}
	io_uring_sqe_set_data(sqe, op);
	op->armed = true;
	return sqe;
}

int evloop_watch_fd(struct evloop *loop, struct evloop_op *op, int fd, uint32_t events,
		    evloop_cb cb, void *opaque)
{
	struct io_uring_sqe *sqe;

	op->cb = cb;
	op->opaque = opaque;
	op->fd = fd;
	sqe = evloop_sqe(loop, op);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_multishot(sqe, fd, events);
	return 0;
}

/* Cancellation completions carry no op: user_data 0 is ignored by the loop. */
int evloop_unwatch(struct evloop *loop, struct evloop_op *op)
{
	struct io_uring_sqe *sqe;

	if (!op->armed)
		return 0;
	sqe = io_uring_get_sqe(&loop->ring);
	if (!sqe) {
		io_uring_submit(&loop->ring);
		sqe = io_uring_get_sqe(&loop->ring);
		if (!sqe)
			return -EBUSY;
	}
	io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)op);
	io_uring_sqe_set_data(sqe, NULL);
	return 0;
}

int evloop_timer(struct evloop *loop, struct evloop_op *op, struct __kernel_timespec *ts,
		 evloop_cb cb, void *opaque)
{
	struct io_uring_sqe *sqe;

	op->cb = cb;
	op->opaque = opaque;
	sqe = evloop_sqe(loop, op);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_timeout(sqe, ts, 0, 0);
	return 0;
}

static void wake(struct evloop *loop)
{
	uint64_t one = 1;

	if (write(loop->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("event loop: wake-up failed: %s", strerror(errno));
}

void evloop_call(struct evloop *loop, struct evloop_call *call, void (*fn)(void *), void *arg)
{
	call->fn = fn;
	call->arg = arg;
	call->next = NULL;
	pthread_mutex_lock(&loop->call_lock);
	*loop->calls_tail = call;
	loop->calls_tail = &call->next;
	pthread_mutex_unlock(&loop->call_lock);
	wake(loop);
}

void evloop_stop(struct evloop *loop)
{
	__atomic_store_n(&loop->stop, true, __ATOMIC_RELEASE);
	wake(loop);
}

int evloop_run(struct evloop *loop)
{
	int ret = 0;

	__atomic_store_n(&loop->thread, pthread_self(), __ATOMIC_RELAXED);
	while (!__atomic_load_n(&loop->stop, __ATOMIC_ACQUIRE)) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;

		ret = io_uring_submit_and_wait(&loop->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			/* Dead for good: whoever waits for this loop must see it stopped. */
			__atomic_store_n(&loop->stop, true, __ATOMIC_RELEASE);
			break;
		}
		ret = 0;
		io_uring_for_each_cqe(&loop->ring, head, cqe) {
			struct evloop_op *op = io_uring_cqe_get_data(cqe);
			bool more = cqe->flags & IORING_CQE_F_MORE;

			seen++;
			if (!op)
				continue;
			if (!more)
				op->armed = false;
			op->cb(op, cqe->res, more);
		}
		io_uring_cq_advance(&loop->ring, seen);
	}
	__atomic_store_n(&loop->thread, (pthread_t)0, __ATOMIC_RELAXED);
	return ret;
}

bool evloop_on_thread(const struct evloop *loop)
{
	pthread_t t = __atomic_load_n(&loop->thread, __ATOMIC_RELAXED);

	return t && pthread_equal(t, pthread_self());
}
