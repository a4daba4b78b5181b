/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host side of the guest's serial console when it is on stdio: stdin is put in raw
 * mode when it is a terminal (and restored on every exit path: normal return, exit(),
 * the signals vqvm handles, and fatal signals), its bytes are fed to the UART, and
 * Ctrl-A x quits (Ctrl-A Ctrl-A sends a Ctrl-A).
 */
#ifndef VQVM_VMM_CONSOLE_H
#define VQVM_VMM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#include "lib/evloop.h"

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */

struct console {
	int in_fd;      /* -1 when there is no input */
	bool raw;       /* the terminal was switched to raw mode */
	bool escape;    /* the last byte was the escape character */
	bool eof;
	struct evloop *loop;
	struct evloop_op poll_op, retry_op;
	struct __kernel_timespec retry_ts;
	uint8_t buf[64];
	size_t buf_len, buf_off; /* bytes read but not yet accepted by the UART */
	/* Deliver bytes; returns how many were taken (the UART FIFO may be full). */
	size_t (*deliver)(void *opaque, const uint8_t *buf, size_t len);
	/* The user typed the quit sequence. */
	void (*quit)(void *opaque);
	void *opaque;
};

/* Set up input from in_fd (-1 = none): raw mode if it is a terminal. */
int console_open(struct console *c, int in_fd);
/* Start feeding input through the loop. */
int console_start(struct console *c, struct evloop *loop,
		  size_t (*deliver)(void *, const uint8_t *, size_t), void (*quit)(void *),
		  void *opaque);
/* Restore the terminal (idempotent). */
void console_close(struct console *c);
/* Pure input filter for the escape sequence (exposed for tests): rewrites buf in place,
 * returns the bytes to deliver and sets *quit when Ctrl-A x was seen. */
size_t console_filter(struct console *c, uint8_t *buf, size_t len, bool *quit);

#endif
