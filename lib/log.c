// SPDX-License-Identifier: Apache-2.0
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/*
 * The one piece of process-wide state outside the VM object: a logger has to work
 * before a VM exists and from every thread. Both fields are atomics.
 */
static _Atomic int log_level = LOG_WARN;
static _Atomic int log_fd = 2;
static _Atomic int log_file_fd = -1; /* owned by log_open_file; its number never changes */

/* Per thread, so not shared state: see log_thread_verbose. */
static _Thread_local bool log_verbose_thread;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level level)
{
	atomic_store(&log_level, level);
}

enum log_level log_get_level(void)
{
	return atomic_load(&log_level);
}

void log_thread_verbose(bool on)
{
	log_verbose_thread = on;
}

int log_level_parse(const char *s)
{
	if (!strcasecmp(s, "warning"))
		return LOG_WARN;
	for (unsigned int i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (!strcasecmp(s, level_names[i]))
			return (int)i;
	return -1;
}

void log_set_fd(int fd)
{
	atomic_store(&log_fd, fd);
}

int log_open_file(const char *path)
{
	/* O_RDWR: a FIFO opens at once even with no reader; O_NONBLOCK: never stall. */
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0600);
	int expected = -1;

	if (fd < 0)
		return -errno;
	if (atomic_compare_exchange_strong(&log_file_fd, &expected, fd)) {
		atomic_store(&log_fd, fd);
		return 0;
	}
	/* Swap the file under the fd number writers already use. */
	if (dup3(fd, expected, O_CLOEXEC) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	close(fd);
	atomic_store(&log_fd, expected);
	return 0;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	va_list ap;
	int n, m;

	if ((int)level > atomic_load(&log_level) && !(log_verbose_thread && level <= LOG_INFO))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(line, sizeof(line), "[%5ld.%06ld] vqvm %s: ", (long)ts.tv_sec,
		     ts.tv_nsec / 1000, level_names[level]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line so lines from different threads do not interleave. */
	if (write(atomic_load(&log_fd), line, n) < 0) {
		/* Nowhere else to report it. */
	}
}
