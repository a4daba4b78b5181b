// SPDX-License-Identifier: Apache-2.0
#include "lib/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(struct err *e, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
	char old[sizeof(e->msg)];
	va_list ap;
	int n;

	if (!e)
		return -1;
	memcpy(old, e->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(e->msg) - 3)
		return -1;
	/* Whatever of the old message fits after "prefix: ". */
	e->msg[n++] = ':';
	e->msg[n++] = ' ';
	strncpy(e->msg + n, old, sizeof(e->msg) - n - 1);
	e->msg[sizeof(e->msg) - 1] = '\0';
	return -1;
}
