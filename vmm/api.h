/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API server: HTTP/1.1 on a Unix socket (libmicrohttpd, its own thread), JSON bodies
 * (jansson), routed by a table of method + path pattern -> handler (docs/api.md).
 *
 * Threads: libmicrohttpd's thread reads requests, routes them and parses their bodies.
 * A route marked on_loop (everything that changes the VM) is then handed to the VMM's
 * event loop through params->dispatch and its connection is suspended, so the API thread
 * never waits: the handler runs there, in one piece, and calls api_reply (from that loop,
 * or later from any thread, for handlers that wait for the guest), which resumes the
 * connection. Other routes (reads) run on the API thread and reply at once. Slow or
 * half-open clients cost a connection slot until the idle timeout, nothing else.
 */
#ifndef VQVM_VMM_API_H
#define VQVM_VMM_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/evloop.h"

struct api_server;
struct api_request;

struct api_route {
	const char *method;  /* "GET", "PUT", "PATCH", "DELETE" */
	const char *pattern; /* "/drives/{}": {} is one non-empty path segment */
	void (*handler)(struct api_request *r);
	bool on_loop;        /* run on the VMM's event loop (it changes the VM) */
	bool body;           /* takes a JSON body (required); else no body allowed */
	const void *data;    /* for the handler: api_data() */
};

struct api_params {
	const char *path; /* socket path: created 0600, removed by api_stop */
	const struct api_route *routes;
	unsigned int nr_routes;
	void *ctx; /* for the handlers: api_ctx() */
	/*
	 * Queue fn(arg) on the VMM's event loop; -1 with e set when there is none to run it
	 * (the VM has ended): the request then fails with e's message.
	 */
	int (*dispatch)(void *ctx, struct evloop_call *call, void (*fn)(void *), void *arg,
			struct err *e);
	unsigned int idle_timeout_s;  /* 0: API_DEFAULT_IDLE_TIMEOUT_S */
	unsigned int max_connections; /* 0: API_DEFAULT_MAX_CONNECTIONS */
};

#define API_DEFAULT_IDLE_TIMEOUT_S 30
#define API_DEFAULT_MAX_CONNECTIONS 64
#define API_MAX_BODY (64 * 1024) /* bytes; larger bodies get 413 */

struct api_stats {
	uint64_t requests, errors; /* errors: 4xx and 5xx replies */
};

/* Create the socket (an existing path is an error unless it is a stale socket) and
 * start the server thread. */
int api_start(struct api_server **out, const struct api_params *p, struct err *e);
/*
 * Fail every request handed to the loop and not answered yet with 400 and msg: for the
 * VMM once its loop has stopped for good (dispatch must already refuse new ones).
 */
void api_cancel_pending(struct api_server *s, const char *msg);
/* Stop the server (pending requests cancelled), close and remove the socket. */
void api_stop(struct api_server *s);
void api_get_stats(struct api_server *s, struct api_stats *out);

/* For handlers. */
void *api_ctx(const struct api_request *r);
const char *api_param(const struct api_request *r); /* the {} of the pattern, or NULL */
json_t *api_body(const struct api_request *r);      /* borrowed; NULL without a body */
const void *api_data(const struct api_request *r);  /* the route's data */
/* Zeroed memory for a handler's state across callbacks, freed with the request (after
 * its reply is sent); NULL when out of memory. Once per request. */
void *api_alloc_state(struct api_request *r, size_t size);
/* Answer: status with body (stolen; NULL: none). Once per request; later calls are
 * ignored. Any thread. */
void api_reply(struct api_request *r, unsigned int status, json_t *body);
/* Answer status with {"fault_message": ...}. */
void api_fail(struct api_request *r, unsigned int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
