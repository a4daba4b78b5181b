/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Levelled logging to stderr or a log file. The logger is process-wide: it is set up
 * before any thread starts; level and fd are atomics so the API can change them later.
 * Nothing here ever writes to stdout (the guest console may own it).
 */
#ifndef VQVM_LIB_LOG_H
#define VQVM_LIB_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error", "warn"/"warning", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *s);
/* Send log lines to fd (default 2). The caller keeps ownership of fd. */
void log_set_fd(int fd);
/*
 * Send log lines to PATH from now on (PUT /logger): a file, appended to and created
 * (0600) if missing, or a FIFO (opened without waiting for a reader; lines that do not
 * fit are dropped rather than block). A second call switches files without a window
 * where a line could go to a closed or reused fd. Returns 0 or -errno.
 */
int log_open_file(const char *path);
/*
 * While on, the calling thread's info (and warn, error) lines are written whatever the
 * level says: a state dump the user asked for. Other threads keep to the level, and the
 * level itself is untouched (PUT /logger may change it meanwhile).
 */
void log_thread_verbose(bool on);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
