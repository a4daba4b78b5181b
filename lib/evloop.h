/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An event loop on io_uring. Everything the loop waits for is an evloop_op: a struct
 * embedded in its owner, whose address is the io_uring user_data and whose callback
 * runs on the loop thread when a completion for it arrives. File descriptors are
 * watched with multishot poll; backends submit their own reads and writes the same way.
 *
 * Threading: one thread runs a loop; only that thread submits to it. Other threads
 * hand work to it with evloop_call, which queues a callback and wakes the loop through
 * an eventfd. The call-queue mutex is a leaf lock.
 */
#ifndef VQVM_LIB_EVLOOP_H
#define VQVM_LIB_EVLOOP_H

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct evloop_op;
/* res is the CQE result; more is true while a multishot request stays armed. */
typedef void (*evloop_cb)(struct evloop_op *op, int res, bool more);

struct evloop_op {
	evloop_cb cb;
	void *opaque;
	int fd;
	bool armed; /* a request for this op is in flight */
};

struct evloop_call {
	void (*fn)(void *arg);
	void *arg;
	struct evloop_call *next;
};

struct evloop {
	struct io_uring ring;
	bool stop;
	int wake_fd; /* eventfd: another thread queued a call or asked to stop */
	uint64_t wake_buf;
	struct evloop_op wake_op;
	pthread_mutex_t call_lock;
	struct evloop_call *calls, **calls_tail;
	pthread_t thread; /* atomic: the thread inside evloop_run, 0 when none */
};

int evloop_init(struct evloop *loop, unsigned int entries);
void evloop_destroy(struct evloop *loop);

/* An SQE to fill in for op, or NULL if the ring is full even after submitting. */
struct io_uring_sqe *evloop_sqe(struct evloop *loop, struct evloop_op *op);
/* Watch fd for poll events (multishot): cb gets the revents mask as res. */
int evloop_watch_fd(struct evloop *loop, struct evloop_op *op, int fd, uint32_t events,
		    evloop_cb cb, void *opaque);
/* Stop watching (the op's callback sees -ECANCELED when the cancel completes). */
int evloop_unwatch(struct evloop *loop, struct evloop_op *op);
/* Run cb once after ms milliseconds (res = -ETIME). */
int evloop_timer(struct evloop *loop, struct evloop_op *op, struct __kernel_timespec *ts,
		 evloop_cb cb, void *opaque);

/* From any thread: run fn(arg) on the loop thread soon. call is owned by the caller
 * until fn runs. */
void evloop_call(struct evloop *loop, struct evloop_call *call, void (*fn)(void *), void *arg);
/* From any thread: make evloop_run return after the current iteration. */
void evloop_stop(struct evloop *loop);
/*
 * Process completions until evloop_stop. Returns 0, or -errno on a ring failure, after
 * which the loop counts as stopped (loop->stop set) as if evloop_stop had been called.
 */
int evloop_run(struct evloop *loop);
/*
 * From any thread: is the caller the thread running loop (in evloop_run)? Code that
 * would wait for the loop to reap something must not do so on that thread.
 */
bool evloop_on_thread(const struct evloop *loop);

#endif
