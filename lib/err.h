/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A user-facing error message: functions that can fail because of outside input
 * (files, arguments, requests) fill one in and return -1, so the caller can print a
 * single line naming the problem.
 */
#ifndef VQVM_LIB_ERR_H
#define VQVM_LIB_ERR_H

#include <stddef.h>

struct err {
	char msg[512];
};

/* Format the message; always returns -1 so callers can `return err_set(e, ...)`. */
int err_set(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix an existing message ("context: message"); returns -1. */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
