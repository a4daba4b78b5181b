// SPDX-License-Identifier: Apache-2.0
#include "vmm/api.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"

#define API_LISTEN_BACKLOG 64
#define API_MAX_PARAM 64

enum req_state {
	REQ_READING, /* headers and body coming in */
	REQ_QUEUED,  /* handed to the VMM loop, connection suspended */
	REQ_RUNNING, /* its handler started there; it or a callback will reply */
	REQ_DONE,    /* answered: status and reply are set */
};

struct api_request {
	struct api_server *srv;
	struct MHD_Connection *conn;
	const struct api_route *route;
	char param[API_MAX_PARAM + 1];
	bool has_param;
	char *body;
	size_t len;
	bool too_large;
	json_t *json;
	enum req_state state; /* under srv->lock once handed over */
	bool suspended;
	bool sent;            /* the reply is queued on the connection */
	unsigned int status;
	char *reply;          /* JSON text or NULL */
	const char *allow;    /* 405: the Allow header */
	char allow_buf[64];
	void *handler_state;  /* api_alloc_state */
	struct evloop_call call;
	struct api_request *next, **pprev; /* srv->pending while QUEUED or RUNNING */
};

struct api_server {
	struct api_params p;
	char *path;
	ino_t ino; /* the socket we made: removed on stop only if it is still ours */
	int fd;
	struct MHD_Daemon *mhd;
	pthread_mutex_t lock;
	struct api_request *pending;
	uint64_t requests, errors; /* atomics */
};

/* --- the socket ------------------------------------------------------------------ */

static int fill_addr(struct sockaddr_un *a, const char *path, struct err *e)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (!*path || strlen(path) >= sizeof(a->sun_path))
		return err_set(e, "--api-sock '%s': a socket path is 1-%zu bytes", path,
			       sizeof(a->sun_path) - 1);
	memcpy(a->sun_path, path, strlen(path) + 1);
	return 0;
}

/* An existing path: a socket nobody listens on is stale and goes; anything else stays. */
static int clear_stale(const struct sockaddr_un *a, const char *path, struct err *e)
{
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : err_set(e, "--api-sock %s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return err_set(e, "--api-sock %s: exists and is not a socket", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, "socket: %s", strerror(errno));
	ret = connect(fd, (const struct sockaddr *)a, sizeof(*a));
	close(fd);
	if (!ret)
		return err_set(e, "--api-sock %s: in use (another process listens on it)", path);
	if (errno != ECONNREFUSED)
		return err_set(e, "--api-sock %s: %s", path, strerror(errno));
	log_info("--api-sock %s: removing a stale socket", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return err_set(e, "--api-sock %s: cannot remove the stale socket: %s", path,
			       strerror(errno));
	return 0;
}

static int listen_unix(struct api_server *s, struct err *e)
{
	struct sockaddr_un a;
	struct stat st;

	if (fill_addr(&a, s->path, e) || clear_stale(&a, s->path, e))
		return -1;
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return err_set(e, "socket: %s", strerror(errno));
	/* Linux creates the socket file with the socket inode's mode: 0600 from the start. */
	if (fchmod(s->fd, 0600) < 0 ||
	    bind(s->fd, (const struct sockaddr *)&a, sizeof(a)) < 0)
		return err_set(e, "--api-sock %s: %s", s->path, strerror(errno));
	if (chmod(s->path, 0600) < 0 || stat(s->path, &st) < 0 ||
	    listen(s->fd, API_LISTEN_BACKLOG) < 0) {
		err_set(e, "--api-sock %s: %s", s->path, strerror(errno));
		unlink(s->path);
		return -1;
	}
	s->ino = st.st_ino;
	return 0;
}

static void remove_socket(struct api_server *s)
{
	struct stat st;

	if (s->ino && stat(s->path, &st) == 0 && st.st_ino == s->ino)
		unlink(s->path);
	s->ino = 0;
}

/* --- replies ---------------------------------------------------------------------- */

void *api_ctx(const struct api_request *r)
{
	return r->srv->p.ctx;
}

const char *api_param(const struct api_request *r)
{
	return r->has_param ? r->param : NULL;
}

json_t *api_body(const struct api_request *r)
{
	return r->json;
}

const void *api_data(const struct api_request *r)
{
	return r->route->data;
}

void *api_alloc_state(struct api_request *r, size_t size)
{
	if (!r->handler_state)
		r->handler_state = calloc(1, size);
	return r->handler_state;
}

/* Under srv->lock: record the answer; true if the connection must be resumed. */
static bool finish_locked(struct api_request *r, unsigned int status, char *text)
{
	bool resume = r->suspended;

	if (r->state == REQ_DONE) {
		free(text);
		return false;
	}
	if (r->pprev) {
		*r->pprev = r->next;
		if (r->next)
			r->next->pprev = r->pprev;
		r->pprev = NULL;
	}
	r->state = REQ_DONE;
	r->status = status;
	r->reply = text;
	r->suspended = false;
	return resume;
}

void api_reply(struct api_request *r, unsigned int status, json_t *body)
{
	struct api_server *s = r->srv;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	bool resume;

	json_decref(body);
	pthread_mutex_lock(&s->lock);
	resume = finish_locked(r, status, text);
	pthread_mutex_unlock(&s->lock);
	/* Still suspended until this call: nobody else can have freed r. */
	if (resume)
		MHD_resume_connection(r->conn);
}

static json_t *fault(const char *fmt, va_list ap)
{
	char msg[sizeof(((struct err *)0)->msg) + 64];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	return json_pack("{s:s}", "fault_message", msg);
}

void api_fail(struct api_request *r, unsigned int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	api_reply(r, status, fault(fmt, ap));
	va_end(ap);
}

void api_cancel_pending(struct api_server *s, const char *msg)
{
	json_t *body = json_pack("{s:s}", "fault_message", msg);
	struct MHD_Connection **resume;
	unsigned int n = 0, max = 0;

	pthread_mutex_lock(&s->lock);
	for (struct api_request *r = s->pending; r; r = r->next)
		max++;
	resume = calloc(max ? max : 1, sizeof(*resume));
	/* Without memory to remember them, answer none: better a hang than a crash. */
	while (resume && s->pending) {
		struct api_request *r = s->pending;

		if (finish_locked(r, 400, json_dumps(body, JSON_COMPACT)))
			resume[n++] = r->conn;
	}
	pthread_mutex_unlock(&s->lock);
	/* Each stays suspended until resumed here: the connections are still valid. */
	for (unsigned int i = 0; i < n; i++)
		MHD_resume_connection(resume[i]);
	free(resume);
	json_decref(body);
}

static enum MHD_Result send_reply(struct api_request *r)
{
	struct api_server *s = r->srv;
	size_t len = r->reply ? strlen(r->reply) : 0;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r->sent)
		return MHD_YES;
	r->sent = true;
	resp = MHD_create_response_from_buffer(len, r->reply ? r->reply : (char *)"",
					       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (r->reply)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (r->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (r->status >= 400)
		__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
	ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Answer on the API thread, before anything was handed over. */
static enum MHD_Result fail_now(struct api_request *r, unsigned int status, const char *fmt,
				...)
{
	va_list ap;

	va_start(ap, fmt);
	api_reply(r, status, fault(fmt, ap));
	va_end(ap);
	return send_reply(r);
}

/* --- routing ----------------------------------------------------------------------- */

/* Does url match pattern? Fills the parameter of "{}" (one path segment). */
static bool match(const char *pattern, const char *url, struct api_request *r)
{
	const char *brace = strstr(pattern, "{}");
	size_t prefix, seg;

	if (!brace)
		return !strcmp(pattern, url);
	prefix = (size_t)(brace - pattern);
	if (strncmp(pattern, url, prefix))
		return false;
	url += prefix;
	seg = strcspn(url, "/");
	if (!seg || strcmp(brace + 2, url + seg))
		return false;
	r->has_param = seg <= API_MAX_PARAM;
	snprintf(r->param, sizeof(r->param), "%.*s", (int)seg, url);
	return true;
}

/* The route for method + url; else NULL with a 404 or 405 answered. */
static const struct api_route *route(struct api_request *r, const char *method, const char *url)
{
	const struct api_params *p = &r->srv->p;
	size_t used = 0;

	for (unsigned int i = 0; i < p->nr_routes; i++)
		if (!strcmp(p->routes[i].method, method) && match(p->routes[i].pattern, url, r))
			return &p->routes[i];
	r->allow_buf[0] = '\0';
	for (unsigned int i = 0; i < p->nr_routes; i++)
		if (match(p->routes[i].pattern, url, r))
			used += (size_t)snprintf(r->allow_buf + used, sizeof(r->allow_buf) - used,
						 "%s%s", used ? ", " : "", p->routes[i].method);
	if (!used) {
		fail_now(r, MHD_HTTP_NOT_FOUND, "no such resource: %s", url);
		return NULL;
	}
	r->allow = r->allow_buf;
	fail_now(r, MHD_HTTP_METHOD_NOT_ALLOWED, "%s is not allowed on %s (allowed: %s)", method,
		 url, r->allow_buf);
	return NULL;
}

static void run_on_loop(void *arg)
{
	struct api_request *r = arg;
	struct api_server *s = r->srv;
	bool run;

	pthread_mutex_lock(&s->lock);
	run = r->state == REQ_QUEUED;
	if (run)
		r->state = REQ_RUNNING;
	pthread_mutex_unlock(&s->lock);
	if (run)
		r->route->handler(r);
}

/* The whole request is in: parse the body, then run the handler here or on the loop. */
static enum MHD_Result handle(struct api_request *r)
{
	struct api_server *s = r->srv;
	struct err e = { { 0 } };

	if (r->too_large)
		return fail_now(r, MHD_HTTP_CONTENT_TOO_LARGE, "the body is larger than %d bytes",
				API_MAX_BODY);
	if (!r->has_param && strstr(r->route->pattern, "{}"))
		return fail_now(r, MHD_HTTP_BAD_REQUEST, "the id in the path is longer than %d "
				"characters", API_MAX_PARAM);
	if (r->route->body) {
		json_error_t je;

		if (!r->len)
			return fail_now(r, MHD_HTTP_BAD_REQUEST, "a JSON body is required");
		r->json = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &je);
		if (!r->json)
			return fail_now(r, MHD_HTTP_BAD_REQUEST, "malformed JSON at line %d column "
					"%d: %s", je.line, je.column, je.text);
	} else if (r->len) {
		return fail_now(r, MHD_HTTP_BAD_REQUEST, "%s %s takes no body", r->route->method,
				r->route->pattern);
	}
	if (!r->route->on_loop) {
		r->route->handler(r);
		return send_reply(r);
	}
	pthread_mutex_lock(&s->lock);
	r->state = REQ_QUEUED;
	r->suspended = true;
	r->next = s->pending;
	if (r->next)
		r->next->pprev = &r->next;
	r->pprev = &s->pending;
	s->pending = r;
	pthread_mutex_unlock(&s->lock);
	MHD_suspend_connection(r->conn);
	if (s->p.dispatch(s->p.ctx, &r->call, run_on_loop, r, &e))
		api_fail(r, MHD_HTTP_BAD_REQUEST, "%s", e.msg);
	return MHD_YES;
}

static enum MHD_Result first_call(struct api_server *s, struct MHD_Connection *conn,
				  const char *url, const char *method, void **con_cls)
{
	struct api_request *r = calloc(1, sizeof(*r));
	const char *cl;

	if (!r)
		return MHD_NO;
	r->srv = s;
	r->conn = conn;
	*con_cls = r;
	__atomic_fetch_add(&s->requests, 1, __ATOMIC_RELAXED);
	r->route = route(r, method, url);
	if (!r->route)
		return MHD_YES; /* answered */
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > API_MAX_BODY)
		return fail_now(r, MHD_HTTP_CONTENT_TOO_LARGE, "the body is larger than %d bytes",
				API_MAX_BODY);
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct api_server *s = cls;
	struct api_request *r = *con_cls;
	enum req_state state;

	if (!r)
		return first_call(s, conn, url, method, con_cls);
	pthread_mutex_lock(&s->lock);
	state = r->state;
	pthread_mutex_unlock(&s->lock);
	if (state == REQ_DONE) {
		*upload_data_size = 0; /* the body of a request answered early: dropped */
		return send_reply(r);
	}
	if (state != REQ_READING)
		return MHD_YES;
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		if (r->len + n > API_MAX_BODY) {
			r->too_large = true;
		} else {
			char *grown = realloc(r->body, r->len + n);

			if (!grown)
				return MHD_NO;
			r->body = grown;
			memcpy(r->body + r->len, upload_data, n);
			r->len += n;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return handle(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct api_request *r = *con_cls;

	if (!r)
		return;
	/* Never handed over, or answered: nothing else holds r. */
	json_decref(r->json);
	free(r->body);
	free(r->reply);
	free(r->handler_state);
	free(r);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("api: %s", line);
}

/* --- lifecycle --------------------------------------------------------------------- */

int api_start(struct api_server **out, const struct api_params *p, struct err *e)
{
	struct api_server *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return err_set(e, "out of memory");
	s->p = *p;
	s->fd = -1;
	s->path = strdup(p->path);
	pthread_mutex_init(&s->lock, NULL);
	if (!s->path || listen_unix(s, e)) {
		api_stop(s);
		return -1;
	}
	s->mhd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			MHD_USE_ERROR_LOG,
		0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
		MHD_OPTION_LISTEN_SOCKET, s->fd,
		MHD_OPTION_CONNECTION_LIMIT,
		p->max_connections ? p->max_connections : API_DEFAULT_MAX_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT,
		p->idle_timeout_s ? p->idle_timeout_s : API_DEFAULT_IDLE_TIMEOUT_S,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
	if (!s->mhd) {
		err_set(e, "--api-sock %s: cannot start the HTTP server", s->path);
		api_stop(s);
		return -1;
	}
	log_info("API listening on %s", s->path);
	*out = s;
	return 0;
}

void api_stop(struct api_server *s)
{
	if (!s)
		return;
	if (s->mhd) {
		api_cancel_pending(s, "vqvm is shutting down");
		MHD_stop_daemon(s->mhd); /* closes s->fd, which it was given */
	} else if (s->fd >= 0) {
		close(s->fd);
	}
	remove_socket(s);
	pthread_mutex_destroy(&s->lock);
	free(s->path);
	free(s);
}

void api_get_stats(struct api_server *s, struct api_stats *out)
{
	out->requests = __atomic_load_n(&s->requests, __ATOMIC_RELAXED);
	out->errors = __atomic_load_n(&s->errors, __ATOMIC_RELAXED);
}
