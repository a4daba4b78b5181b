// SPDX-License-Identifier: Apache-2.0
#include "vmm/console.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"

/*
 * A fatal signal must still give the user their terminal back, and a signal handler
 * cannot reach the VM object: this copy of the original terminal state is the one
 * static the console keeps. It is written once, before any handler is installed.
 */
static struct termios saved_termios;
static volatile sig_atomic_t saved_fd = -1;

static void restore_saved(void)
{
	if (saved_fd >= 0)
		tcsetattr(saved_fd, TCSANOW, &saved_termios);
}

static void fatal_signal(int sig)
{
	restore_saved();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_restore_handlers(void)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fatal_signal;
	sa.sa_flags = SA_RESETHAND;
	for (unsigned int i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
	atexit(restore_saved);
}

int console_open(struct console *c, int in_fd)
{
	struct termios raw;

	memset(c, 0, sizeof(*c));
	c->in_fd = in_fd;
	if (in_fd < 0 || !isatty(in_fd))
		return 0;
	if (tcgetattr(in_fd, &saved_termios) < 0)
		return -errno;
	raw = saved_termios;
	cfmakeraw(&raw);
	/* Keep output post-processing so vqvm's own stderr lines stay readable. */
	raw.c_oflag |= OPOST;
	saved_fd = in_fd;
	install_restore_handlers();
	if (tcsetattr(in_fd, TCSANOW, &raw) < 0) {
		saved_fd = -1;
		return -errno;
	}
	c->raw = true;
	return 0;
}

void console_close(struct console *c)
{
	if (c->raw) {
		restore_saved();
		saved_fd = -1;
		c->raw = false;
	}
}

size_t console_filter(struct console *c, uint8_t *buf, size_t len, bool *quit)
{
	size_t out = 0;

	*quit = false;
	for (size_t i = 0; i < len; i++) {
		uint8_t b = buf[i];

		if (c->escape) {
			c->escape = false;
			if (b == 'x' || b == 'X') {
				*quit = true;
				return out;
			}
			if (b != CONSOLE_ESCAPE)
				continue; /* unknown escape: swallow it */
		} else if (b == CONSOLE_ESCAPE) {
			c->escape = true;
			continue;
		}
		buf[out++] = b;
	}
	return out;
}

static void arm_poll(struct console *c);

/* Push buffered bytes; true when all were taken. */
static bool flush_pending(struct console *c)
{
	while (c->buf_off < c->buf_len) {
		size_t n = c->deliver(c->opaque, c->buf + c->buf_off, c->buf_len - c->buf_off);

		if (n == 0)
			return false;
		c->buf_off += n;
	}
	c->buf_off = c->buf_len = 0;
	return true;
}

static void retry_later(struct console *c);

static void retry_done(struct evloop_op *op, int res, bool more)
{
	struct console *c = op->opaque;

	if (flush_pending(c))
		arm_poll(c);
	else
		retry_later(c);
}

/* The guest is not draining its FIFO: look again in 10 ms rather than spin. */
static void retry_later(struct console *c)
{
	c->retry_ts.tv_sec = 0;
	c->retry_ts.tv_nsec = 10 * 1000 * 1000;
	if (evloop_timer(c->loop, &c->retry_op, &c->retry_ts, retry_done, c))
		log_warn("console: cannot arm retry timer");
}

static void input_ready(struct evloop_op *op, int res, bool more)
{
	struct console *c = op->opaque;
	bool quit;
	ssize_t n;

	if (res < 0) {
		if (res != -ECANCELED)
			log_warn("console: poll failed: %s", strerror(-res));
		return;
	}
	n = read(c->in_fd, c->buf, sizeof(c->buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		arm_poll(c);
		return;
	}
	if (n <= 0) {
		/* End of input: the guest keeps running, it just gets no more input. */
		c->eof = true;
		return;
	}
	c->buf_len = console_filter(c, c->buf, (size_t)n, &quit);
	c->buf_off = 0;
	if (quit) {
		c->quit(c->opaque);
		return;
	}
	if (flush_pending(c))
		arm_poll(c);
	else
		retry_later(c);
}

/* One-shot poll: we read only after the UART took the previous bytes. */
static void arm_poll(struct console *c)
{
	struct io_uring_sqe *sqe;

	c->poll_op.cb = input_ready;
	c->poll_op.opaque = c;
	sqe = evloop_sqe(c->loop, &c->poll_op);
	if (!sqe) {
		log_warn("console: event loop full, input stalls");
		return;
	}
	io_uring_prep_poll_add(sqe, c->in_fd, POLLIN);
}

int console_start(struct console *c, struct evloop *loop,
		  size_t (*deliver)(void *, const uint8_t *, size_t), void (*quit)(void *),
		  void *opaque)
{
	c->loop = loop;
	c->deliver = deliver;
	c->quit = quit;
	c->opaque = opaque;
	c->retry_op.opaque = c;
	if (c->in_fd >= 0)
		arm_poll(c);
	return 0;
}
