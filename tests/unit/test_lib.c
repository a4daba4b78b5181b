// SPDX-License-Identifier: Apache-2.0
/*
 * lib/: guest memory bounds, error messages, the logger's per-thread override, the event
 * loop's cross-thread calls and which thread runs it.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/evloop.h"
#include "lib/guest_mem.h"
#include "lib/log.h"
#include "vmm/console.h"

Test(guest_mem, small_guest_one_region)
{
	struct guest_mem m;

	cr_assert_eq(guest_mem_init(&m, 128ULL << 20), 0);
	cr_assert_eq(m.nr_regions, 1);
	cr_assert_not_null(guest_mem_ptr(&m, 0, 128ULL << 20));
	cr_assert_null(guest_mem_ptr(&m, 0, (128ULL << 20) + 1), "one byte past the end");
	cr_assert_null(guest_mem_ptr(&m, (128ULL << 20) - 4, 8), "straddles the end");
	cr_assert_null(guest_mem_ptr(&m, UINT64_MAX - 2, 8), "wraps around");
	cr_assert_null(guest_mem_ptr(&m, 4096, UINT64_MAX), "length overflow");
	guest_mem_free(&m);
}

Test(guest_mem, large_guest_skips_hole)
{
	struct guest_mem m;
	uint8_t b = 0x5a, r = 0;

	cr_assert_eq(guest_mem_init(&m, 6ULL << 30), 0);
	cr_assert_eq(m.nr_regions, 2);
	cr_assert_eq(guest_mem_low_end(&m), GUEST_MEM_HOLE_START);
	cr_assert_eq(m.region[1].gpa, GUEST_MEM_HIGH_START);
	cr_assert_eq(m.region[1].size, (6ULL << 30) - GUEST_MEM_HOLE_START);
	cr_assert_null(guest_mem_ptr(&m, GUEST_MEM_HOLE_START, 1), "the hole is not RAM");
	cr_assert_null(guest_mem_ptr(&m, GUEST_MEM_HOLE_START - 4, 8), "straddles the hole");
	cr_assert_eq(guest_mem_write(&m, GUEST_MEM_HIGH_START + 100, &b, 1), 0);
	cr_assert_eq(guest_mem_read(&m, GUEST_MEM_HIGH_START + 100, &r, 1), 0);
	cr_assert_eq(r, 0x5a);
	cr_assert_eq(guest_mem_read(&m, 6ULL << 30, &r, 1), 0, "inside the high region");
	cr_assert_neq(guest_mem_read(&m, (7ULL << 30), &r, 1), 0);
	guest_mem_free(&m);
}

Test(err, prefix_keeps_message)
{
	struct err e;

	cr_assert_eq(err_set(&e, "not a bzImage"), -1);
	cr_assert_eq(err_prefix(&e, "kernel '%s'", "/x"), -1);
	cr_assert_str_eq(e.msg, "kernel '/x': not a bzImage");
}

static void *log_info_line(void *arg)
{
	log_info("%s", (const char *)arg);
	return NULL;
}

/* A state dump shows its lines at --log-level warn, and only its own thread's. */
Test(log, thread_verbose_shows_this_threads_info_only)
{
	int fd = memfd_create("log", 0);
	char buf[4096];
	pthread_t t;
	ssize_t n;

	cr_assert_geq(fd, 0);
	log_set_fd(fd);
	log_set_level(LOG_WARN);
	log_info("hidden before");
	log_thread_verbose(true);
	log_info("dump line");
	log_debug("debug stays hidden");
	pthread_create(&t, NULL, log_info_line, "other thread");
	pthread_join(t, NULL);
	log_thread_verbose(false);
	log_info("hidden after");
	log_set_fd(2);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	cr_assert_gt(n, 0);
	buf[n] = 0;
	cr_assert_not_null(strstr(buf, "vqvm info: dump line"));
	cr_assert_null(strstr(buf, "hidden"));
	cr_assert_null(strstr(buf, "debug stays hidden"));
	cr_assert_null(strstr(buf, "other thread"));
	cr_assert_eq(log_get_level(), LOG_WARN, "the level itself is untouched");
}

static void bump(void *arg)
{
	(*(int *)arg)++;
}

struct caller {
	struct evloop *loop;
	struct evloop_call calls[100];
	int counter;
};

static void *call_many(void *arg)
{
	struct caller *c = arg;

	for (int i = 0; i < 100; i++)
		evloop_call(c->loop, &c->calls[i], bump, &c->counter);
	return NULL;
}

static void stop_loop(void *arg)
{
	evloop_stop(arg);
}

Test(evloop, calls_from_another_thread_run_on_loop)
{
	struct evloop loop;
	struct caller c = { .loop = &loop };
	struct evloop_call stop;
	pthread_t t;

	cr_assert_eq(evloop_init(&loop, 32), 0);
	pthread_create(&t, NULL, call_many, &c);
	pthread_join(t, NULL);
	evloop_call(&loop, &stop, stop_loop, &loop);
	cr_assert_eq(evloop_run(&loop), 0);
	cr_assert_eq(c.counter, 100, "every queued call ran exactly once");
	evloop_destroy(&loop);
}

struct where {
	struct evloop *loop;
	bool on_loop_inside, on_loop_elsewhere;
};

static void *ask_elsewhere(void *arg)
{
	struct where *w = arg;

	w->on_loop_elsewhere = evloop_on_thread(w->loop);
	return NULL;
}

/* On the loop: is this its thread, and is another thread? Then stop. */
static void ask_inside(void *arg)
{
	struct where *w = arg;
	pthread_t t;

	w->on_loop_inside = evloop_on_thread(w->loop);
	pthread_create(&t, NULL, ask_elsewhere, w);
	pthread_join(t, NULL);
	evloop_stop(w->loop);
}

/* Code that would wait for a loop asks this to avoid waiting for itself. */
Test(evloop, on_thread_only_inside_evloop_run)
{
	struct evloop loop;
	struct where w = { .loop = &loop, .on_loop_elsewhere = true };
	struct evloop_call call;

	cr_assert_eq(evloop_init(&loop, 32), 0);
	cr_assert_not(evloop_on_thread(&loop), "not running yet");
	evloop_call(&loop, &call, ask_inside, &w);
	cr_assert_eq(evloop_run(&loop), 0);
	cr_assert(w.on_loop_inside, "the thread in evloop_run");
	cr_assert_not(w.on_loop_elsewhere, "another thread meanwhile");
	cr_assert_not(evloop_on_thread(&loop), "after evloop_run returned");
	evloop_destroy(&loop);
}

Test(console, escape_sequence)
{
	struct console c = { .in_fd = -1 };
	uint8_t in1[] = { 'a', 0x01, 0x01, 'b', 0x01 };
	uint8_t in2[] = { 'x', 'c' };
	bool quit;
	size_t n;

	n = console_filter(&c, in1, sizeof(in1), &quit);
	cr_assert_not(quit);
	cr_assert_eq(n, 3);
	cr_assert_eq(in1[0], 'a');
	cr_assert_eq(in1[1], 0x01, "Ctrl-A Ctrl-A sends one Ctrl-A");
	cr_assert_eq(in1[2], 'b');
	n = console_filter(&c, in2, sizeof(in2), &quit);
	cr_assert(quit, "Ctrl-A then x across two reads quits");
	cr_assert_eq(n, 0);
}
