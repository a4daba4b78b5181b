// SPDX-License-Identifier: Apache-2.0
/*
 * The API server in-process on a temporary socket, spoken to over raw AF_UNIX sockets:
 * every endpoint against the configuration layer (no KVM: InstanceStart fails cleanly
 * on --kvm /dev/null), every kind of bad input, slow and many clients, the socket file's
 * life, --config-file and the JSON <-> configuration mapping.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vmm/api.h"
#include "vmm/cli.h"
#include "vmm/config_json.h"
#include "vmm/control.h"
#include "vmm/metrics.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

/* --- fixture: a controller waiting for InstanceStart, its API on dir/api.sock -------- */

struct fixture {
	struct control c;
	pthread_t thread;
	char dir[64];
	char sock[128];
	int status;
};

static void *run_control(void *arg)
{
	struct fixture *f = arg;

	f->status = control_run(&f->c, false);
	return NULL;
}

static void start_loop(struct fixture *f, bool run_loop)
{
	struct vm_config cfg;
	struct err e = { { 0 } };
	struct api_params p = {
		.routes = control_routes,
		.nr_routes = control_nr_routes,
		.dispatch = control_dispatch,
		.idle_timeout_s = 1,
	};

	memset(f, 0, sizeof(*f));
	strcpy(f->dir, "/tmp/vqvm-api.XXXXXX");
	cr_assert_not_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/api.sock", f->dir);
	config_init(&cfg);
	cfg.kvm_path = strdup("/dev/null"); /* InstanceStart fails cleanly: no KVM here */
	cfg.api_sock = strdup(f->sock);
	cr_assert_eq(control_init(&f->c, &cfg, &e), 0, "%s", e.msg);
	p.path = f->sock;
	p.ctx = &f->c;
	cr_assert_eq(api_start(&f->c.api, &p, &e), 0, "%s", e.msg);
	if (run_loop)
		cr_assert_eq(pthread_create(&f->thread, NULL, run_control, f), 0);
}

static void start(struct fixture *f)
{
	start_loop(f, true);
}

static void end_vm(struct fixture *f)
{
	control_stop(&f->c, "test over");
	pthread_join(f->thread, NULL);
	f->thread = 0;
}

static void stop(struct fixture *f)
{
	char cmd[128];

	if (f->thread)
		end_vm(f);
	control_destroy(&f->c);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	cr_assert_eq(system(cmd), 0);
}

/* --- a raw HTTP client ---------------------------------------------------------------- */

static int connect_to(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect %s: %s", path,
		     strerror(errno));
	return fd;
}

static void send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* the server may close early (413): the reply still comes */
		buf += n;
		len -= (size_t)n;
	}
}

static void send_request(int fd, const char *method, const char *path, const char *body)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n", method,
			 path);

	if (body)
		n += snprintf(head + n, sizeof(head) - n,
			      "Content-Type: application/json\r\nContent-Length: %zu\r\n",
			      strlen(body));
	n += snprintf(head + n, sizeof(head) - n, "\r\n");
	send_all(fd, head, (size_t)n);
	if (body)
		send_all(fd, body, strlen(body));
}

struct reply {
	int status;
	char raw[16384];
	const char *body;
	json_t *json;
};

/* Read to EOF (Connection: close), parse the status line and a JSON body. */
static void read_reply(int fd, struct reply *r)
{
	size_t len = 0;
	ssize_t n;
	char *sep;

	memset(r, 0, sizeof(*r));
	while ((n = read(fd, r->raw + len, sizeof(r->raw) - 1 - len)) > 0)
		len += (size_t)n;
	r->raw[len] = '\0';
	close(fd);
	cr_assert_eq(sscanf(r->raw, "HTTP/1.1 %d", &r->status), 1, "no status line in '%s'",
		     r->raw);
	sep = strstr(r->raw, "\r\n\r\n");
	r->body = sep ? sep + 4 : "";
	if (*r->body)
		r->json = json_loads(r->body, 0, NULL);
}

static void free_reply(struct reply *r)
{
	json_decref(r->json);
	r->json = NULL;
}

static int request(struct fixture *f, const char *method, const char *path, const char *body,
		   struct reply *r)
{
	int fd = connect_to(f->sock);

	send_request(fd, method, path, body);
	read_reply(fd, r);
	return r->status;
}

/* method path body -> want status; for errors, the fault_message contains each of msg. */
static void expect(struct fixture *f, const char *method, const char *path, const char *body,
		   int want, const char *msg)
{
	struct reply r;

	request(f, method, path, body, &r);
	cr_assert_eq(r.status, want, "%s %s %s: status %d, expected %d: %s", method, path,
		     body ? body : "", r.status, want, r.body);
	if (want >= 400) {
		const char *fm = json_string_value(json_object_get(r.json, "fault_message"));

		cr_assert_not_null(fm, "%s %s: no fault_message in '%s'", method, path, r.body);
		if (msg)
			cr_assert(strstr(fm, msg), "%s %s: '%s' does not say '%s'", method, path, fm,
				  msg);
	}
	free_reply(&r);
}

static void expect_ok(struct fixture *f, const char *method, const char *path, const char *body)
{
	expect(f, method, path, body, 204, NULL);
}

/* GET path, returning its JSON (caller decrefs). */
static json_t *get(struct fixture *f, const char *path)
{
	struct reply r;
	json_t *j;

	cr_assert_eq(request(f, "GET", path, NULL, &r), 200, "GET %s: %s", path, r.body);
	cr_assert_not_null(r.json, "GET %s: not JSON: %s", path, r.body);
	j = r.json;
	return j;
}

static long long get_int(json_t *obj, const char *a, const char *b)
{
	json_t *v = json_object_get(obj, a);

	if (b)
		v = json_object_get(v, b);
	cr_assert(json_is_integer(v), "%s.%s is not an integer", a, b ? b : "");
	return json_integer_value(v);
}

static const char *get_str(json_t *obj, const char *a, const char *b)
{
	json_t *v = json_object_get(obj, a);

	if (b)
		v = json_object_get(v, b);
	return json_string_value(v);
}

static void expect_fast(struct fixture *f, int ms);

/* --- endpoints ------------------------------------------------------------------------ */

Test(api, instance_info_and_version)
{
	struct fixture f;
	json_t *j;

	start(&f);
	j = get(&f, "/");
	cr_assert_str_eq(get_str(j, "state", NULL), "Not started");
	cr_assert_str_eq(get_str(j, "app_name", NULL), "vqvm");
	cr_assert_str_eq(get_str(j, "vmm_version", NULL), VQVM_VERSION);
	json_decref(j);
	/* Firecracker's clients parse firecracker_version: the API version vqvm follows. */
	j = get(&f, "/version");
	cr_assert_str_eq(get_str(j, "firecracker_version", NULL), "1.7.0");
	cr_assert_str_eq(get_str(j, "vqvm_version", NULL), VQVM_VERSION);
	cr_assert_eq(json_object_size(j), 2, "nothing else");
	json_decref(j);
	stop(&f);
}

Test(api, machine_config)
{
	struct fixture f;
	json_t *j;

	start(&f);
	j = get(&f, "/machine-config");
	cr_assert_eq(get_int(j, "vcpu_count", NULL), 1);
	cr_assert_eq(get_int(j, "mem_size_mib", NULL), 256);
	json_decref(j);
	expect_ok(&f, "PUT", "/machine-config",
		  "{\"vcpu_count\": 2, \"mem_size_mib\": 128, \"smt\": false, "
		  "\"io_loops\": \"per-queue\", \"managed_max\": 8}");
	expect_ok(&f, "PATCH", "/machine-config", "{\"vcpu_count\": 3}");
	j = get(&f, "/machine-config");
	cr_assert_eq(get_int(j, "vcpu_count", NULL), 3);
	cr_assert_eq(get_int(j, "mem_size_mib", NULL), 128, "PATCH keeps the rest");
	cr_assert_str_eq(get_str(j, "io_loops", NULL), "per-queue");
	cr_assert_eq(get_int(j, "managed_max", NULL), 8);
	json_decref(j);
	/* PUT replaces the whole object: io_loops back to its default. */
	expect_ok(&f, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64}");
	j = get(&f, "/machine-config");
	cr_assert_str_eq(get_str(j, "io_loops", NULL), "shared");
	json_decref(j);
	stop(&f);
}

Test(api, boot_source_drives_and_nets_show_in_vm_config)
{
	struct fixture f;
	json_t *j, *d;

	start(&f);
	expect_ok(&f, "PUT", "/boot-source",
		  "{\"kernel_image_path\": \"/k\", \"initrd_path\": \"/i\", "
		  "\"boot_args\": \"quiet\"}");
	expect_ok(&f, "PUT", "/drives/data",
		  "{\"drive_id\": \"data\", \"path_on_host\": \"/d\", \"is_root_device\": false, "
		  "\"cache_type\": \"Direct\", \"queues\": 1}");
	expect_ok(&f, "PUT", "/drives/rootfs",
		  "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/r\", \"is_root_device\": true, "
		  "\"is_read_only\": true, \"io_engine\": \"Sync\", \"rate_limiter\": null}");
	/* A second PUT of an id replaces it. */
	expect_ok(&f, "PUT", "/drives/data",
		  "{\"drive_id\": \"data\", \"path_on_host\": \"/d2\", \"is_root_device\": false}");
	expect_ok(&f, "PUT", "/network-interfaces/eth0",
		  "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", "
		  "\"guest_mac\": \"52:54:00:12:34:56\"}");
	j = get(&f, "/vm/config");
	cr_assert_str_eq(get_str(j, "boot-source", "kernel_image_path"), "/k");
	cr_assert_str_eq(get_str(j, "boot-source", "boot_args"), "quiet");
	cr_assert_eq(json_array_size(json_object_get(j, "drives")), 2);
	d = json_array_get(json_object_get(j, "drives"), 0);
	cr_assert_str_eq(get_str(d, "drive_id", NULL), "rootfs", "the root device is first");
	cr_assert(json_is_true(json_object_get(d, "is_read_only")));
	d = json_array_get(json_object_get(j, "drives"), 1);
	cr_assert_str_eq(get_str(d, "path_on_host", NULL), "/d2");
	cr_assert_str_eq(get_str(d, "cache_type", NULL), "Writeback");
	d = json_array_get(json_object_get(j, "network-interfaces"), 0);
	cr_assert_str_eq(get_str(d, "guest_mac", NULL), "52:54:00:12:34:56");
	json_decref(j);
	stop(&f);
}

Test(api, managed_devices_before_start)
{
	struct fixture f;
	json_t *j, *d;

	start(&f);
	expect_ok(&f, "PUT", "/managed-devices/disk1",
		  "{\"backend\": \"disk1\", \"type\": \"block\", \"path_on_host\": \"/d\", "
		  "\"is_read_only\": true}");
	expect_ok(&f, "PUT", "/managed-devices/nic1",
		  "{\"backend\": \"nic1\", \"type\": \"net\", \"host_dev_name\": \"tap1\"}");
	j = get(&f, "/managed-devices");
	cr_assert_eq(json_array_size(j), 2);
	d = json_array_get(j, 0);
	cr_assert_str_eq(get_str(d, "backend", NULL), "disk1");
	cr_assert_str_eq(get_str(d, "type", NULL), "block");
	cr_assert_str_eq(get_str(d, "state", NULL), "provisioned");
	cr_assert(json_is_null(json_object_get(d, "id")));
	cr_assert(json_is_false(json_object_get(d, "removal_requested")));
	cr_assert_str_eq(get_str(json_array_get(j, 1), "type", NULL), "net");
	json_decref(j);
	expect(&f, "PUT", "/managed-devices/disk1",
	       "{\"backend\": \"disk1\", \"type\": \"net\", \"host_dev_name\": \"tap1\"}", 400,
	       "exists already with another type");
	expect(&f, "PUT", "/managed-devices/x", "{\"backend\": \"x\", \"type\": \"gpu\"}", 400,
	       "type: 'gpu' is not one of block, net");
	expect(&f, "PUT", "/managed-devices/x", "{\"backend\": \"x\"}", 400, "type is required");
	expect(&f, "PUT", "/managed-devices/x",
	       "{\"backend\": \"x\", \"type\": \"block\", \"drive_id\": \"x\", "
	       "\"path_on_host\": \"/d\"}", 400, "unknown field 'drive_id'");
	expect_ok(&f, "DELETE", "/managed-devices/disk1", NULL);
	expect(&f, "DELETE", "/managed-devices/disk1", NULL, 404, "no backend 'disk1'");
	j = get(&f, "/managed-devices");
	cr_assert_eq(json_array_size(j), 1);
	json_decref(j);
	stop(&f);
}

Test(api, logger)
{
	struct fixture f;
	char path[160], body[256];
	struct stat st;

	start(&f);
	snprintf(path, sizeof(path), "%s/vqvm.log", f.dir);
	snprintf(body, sizeof(body), "{\"log_path\": \"%s\", \"level\": \"Info\", "
		 "\"show_level\": true, \"show_log_origin\": false}", path);
	expect_ok(&f, "PUT", "/logger", body);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	expect(&f, "PUT", "/logger", "{\"level\": \"Loud\"}", 400, "logger: level");
	expect(&f, "PUT", "/logger", "{\"log_path\": \"/nonexistent/dir/log\"}", 400,
	       "/nonexistent/dir/log");
	expect(&f, "PUT", "/logger", "{\"module\": \"x\"}", 400, "module must be null");
	/* Back to stderr for the rest of this process. */
	expect_ok(&f, "PUT", "/logger", "{\"level\": \"Warning\"}");
	stop(&f);
}

/* The file's last line, parsed. */
static json_t *last_line(const char *path)
{
	char buf[8192], *line;
	int fd = open(path, O_RDONLY);
	ssize_t n;

	cr_assert_geq(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert_gt(n, 0, "%s is empty", path);
	buf[n] = '\0';
	cr_assert_eq(buf[n - 1], '\n', "lines end in a newline");
	buf[n - 1] = '\0';
	line = strrchr(buf, '\n');
	return json_loads(line ? line + 1 : buf, 0, NULL);
}

Test(api, metrics_to_file_and_fifo)
{
	struct fixture f;
	char path[160], fifo[160], body[256], buf[4096];
	json_t *j;
	int fd;
	ssize_t n;

	start(&f);
	expect(&f, "PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}", 400,
	       "PUT /metrics first");
	snprintf(path, sizeof(path), "%s/metrics.json", f.dir);
	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s\"}", path);
	expect_ok(&f, "PUT", "/metrics", body);
	expect_ok(&f, "PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}");
	j = last_line(path);
	cr_assert_not_null(j);
	cr_assert_geq(get_int(j, "api", "requests"), 3);
	cr_assert_geq(get_int(j, "api", "errors"), 1);
	cr_assert_str_eq(get_str(j, "state", NULL), "Not started");
	cr_assert_gt(get_int(j, "utc_timestamp_ms", NULL), 0);
	json_decref(j);
	/* A FIFO nobody reads yet: the flush does not block, the line waits in the pipe. */
	snprintf(fifo, sizeof(fifo), "%s/metrics.fifo", f.dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s\"}", fifo);
	expect_ok(&f, "PUT", "/metrics", body);
	expect_ok(&f, "PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}");
	fd = open(fifo, O_RDONLY | O_NONBLOCK);
	cr_assert_geq(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_assert(strstr(buf, "\"api\""), "%s", buf);
	expect(&f, "PUT", "/metrics", "{\"metrics_path\": \"/nonexistent/m\"}", 400,
	       "/nonexistent/m");
	stop(&f);
}

/* Lines in the file (each ends in a newline). */
static int count_lines(const char *path)
{
	FILE *fp = fopen(path, "r");
	int n = 0, ch;

	if (!fp)
		return 0;
	while ((ch = fgetc(fp)) != EOF)
		n += ch == '\n';
	fclose(fp);
	return n;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

/* vqvm's flush_interval_s: a short period writes lines by itself; a new PUT restarts it. */
Test(api, metrics_flush_interval)
{
	struct fixture f;
	char path[160], body[256];
	json_t *j;
	int n;

	start(&f);
	snprintf(path, sizeof(path), "%s/metrics.json", f.dir);
	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s\", \"flush_interval_s\": 1}",
		 path);
	expect_ok(&f, "PUT", "/metrics", body);
	j = get(&f, "/vm/config");
	cr_assert_eq(get_int(j, "metrics", "flush_interval_s"), 1);
	json_decref(j);
	cr_assert_eq(count_lines(path), 0, "the first line comes one interval later");
	sleep_ms(3500);
	n = count_lines(path);
	cr_assert(n >= 2 && n <= 4, "%d lines in 3.5 s at one a second", n);
	j = last_line(path);
	cr_assert_geq(get_int(j, "metrics", "lines"), 1, "the line counter counts them");
	json_decref(j);
	/* Out of range, or not an integer: 400, and the period stays. */
	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s\", \"flush_interval_s\": 0}",
		 path);
	expect(&f, "PUT", "/metrics", body, 400, "metrics: flush_interval_s: 0 is out of range "
	       "(1-86400)");
	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s\", \"flush_interval_s\": "
		 "86401}", path);
	expect(&f, "PUT", "/metrics", body, 400, "flush_interval_s: 86401 is out of range");
	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s\", \"flush_interval_s\": "
		 "\"1\"}", path);
	expect(&f, "PUT", "/metrics", body, 400, "flush_interval_s must be an integer");
	j = get(&f, "/vm/config");
	cr_assert_eq(get_int(j, "metrics", "flush_interval_s"), 1);
	json_decref(j);
	/* A PUT without it: back to Firecracker's 60 s; no more lines for now. */
	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s\"}", path);
	expect_ok(&f, "PUT", "/metrics", body);
	j = get(&f, "/vm/config");
	cr_assert_eq(get_int(j, "metrics", "flush_interval_s"), 60);
	json_decref(j);
	n = count_lines(path);
	sleep_ms(2000);
	cr_assert_eq(count_lines(path), n, "60 s now: no line within 2 s");
	stop(&f);
}

Test(api, actions_before_start)
{
	struct fixture f;
	json_t *j;

	start(&f);
	expect(&f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 400,
	       "PUT /boot-source");
	expect(&f, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}", 400,
	       "not running yet");
	expect(&f, "PUT", "/actions", "{\"action_type\": \"Reboot\"}", 400,
	       "actions: action_type: 'Reboot' is not one of InstanceStart");
	expect(&f, "PATCH", "/vm", "{\"state\": \"Paused\"}", 400, "not running yet");
	expect(&f, "PATCH", "/vm", "{\"state\": \"Resumed\"}", 400, "not running yet");
	expect(&f, "PATCH", "/vm", "{\"state\": \"Sleeping\"}", 400, "vm: state");
	/* A kernel, but /dev/null for KVM: InstanceStart fails, the VMM waits on. */
	expect_ok(&f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}");
	expect(&f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 400,
	       "InstanceStart: /dev/null");
	j = get(&f, "/");
	cr_assert_str_eq(get_str(j, "state", NULL), "Not started");
	json_decref(j);
	expect_ok(&f, "PATCH", "/machine-config", "{\"vcpu_count\": 2}");
	stop(&f);
}

Test(api, requests_after_the_vm_ended)
{
	struct fixture f;
	json_t *j;

	start(&f);
	end_vm(&f);
	cr_assert_str_eq(f.c.end_msg, "test over");
	j = get(&f, "/");
	cr_assert_str_eq(get_str(j, "state", NULL), "Ended");
	json_decref(j);
	expect(&f, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 128}", 400,
	       "the VM has ended");
	expect(&f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 400,
	       "the VM has ended");
	expect(&f, "PATCH", "/vm", "{\"state\": \"Paused\"}", 400, "the VM has ended");
	expect(&f, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}", 400,
	       "the VM has ended");
	expect(&f, "PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}", 400,
	       "the VM has ended");
	expect(&f, "PUT", "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/d\", "
	       "\"is_root_device\": false}", 400, "the VM has ended");
	expect(&f, "PUT", "/managed-devices/m", "{\"backend\": \"m\", \"type\": \"block\", "
	       "\"path_on_host\": \"/d\"}", 400, "the VM has ended");
	expect(&f, "DELETE", "/managed-devices/m", NULL, 400, "the VM has ended");
	expect(&f, "PUT", "/logger", "{\"level\": \"Info\"}", 400, "the VM has ended");
	expect(&f, "PUT", "/metrics", "{\"metrics_path\": \"/tmp/m\"}", 400,
	       "the VM has ended");
	/* Reads still answer. */
	j = get(&f, "/vm/config");
	json_decref(j);
	j = get(&f, "/managed-devices");
	cr_assert_eq(json_array_size(j), 0);
	json_decref(j);
	stop(&f);
}

/*
 * A change queued for the VMM's loop when that loop stops for good (the VM ended) is
 * answered 400 and never run, not left hanging nor run half-way.
 */
Test(api, pending_requests_fail_when_the_vm_ends)
{
	struct fixture f;
	struct pollfd p;
	struct reply r;
	json_t *j;
	int fd;

	start_loop(&f, false); /* nobody runs the VMM loop */
	fd = connect_to(f.sock);
	send_request(fd, "PATCH", "/machine-config", "{\"vcpu_count\": 2}");
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 300), 0, "no answer while it waits for the loop");
	expect_fast(&f, 500); /* reads are not held up by it */
	control_stop(&f.c, "test over");
	api_cancel_pending(f.c.api, "the VM has ended");
	read_reply(fd, &r);
	cr_assert_eq(r.status, 400, "%s", r.raw);
	cr_assert(strstr(r.body, "the VM has ended"), "%s", r.body);
	free_reply(&r);
	j = get(&f, "/machine-config");
	cr_assert_eq(get_int(j, "vcpu_count", NULL), 1, "the change was not applied");
	json_decref(j);
	stop(&f);
}

/* A request and what must come back (msg: in the fault_message, for errors). */
struct req_case {
	const char *method, *path, *body;
	int status;
	const char *msg;
};

/* In order, on one fixture: later cases may depend on earlier ones. */
static void expect_cases(const struct req_case *cases, size_t n)
{
	struct fixture f;

	start(&f);
	for (size_t i = 0; i < n; i++)
		expect(&f, cases[i].method, cases[i].path, cases[i].body, cases[i].status,
		       cases[i].msg);
	stop(&f);
}

/* --- bad input ------------------------------------------------------------------------ */

Test(api_bad, malformed_json)
{
	static const struct req_case cases[] = {
		{ "PUT", "/machine-config", "{\"vcpu_count\": 2", 400, "malformed JSON" },
		{ "PUT", "/boot-source", "not json", 400, "malformed JSON at line 1" },
		{ "PUT", "/actions", "{\"action_type\": \"FlushMetrics\", \"action_type\": "
		  "\"FlushMetrics\"}", 400, "malformed JSON" },
		{ "PUT", "/machine-config", "", 400, "a JSON body is required" },
		{ "PUT", "/machine-config", "[1, 2]", 400, "must be a JSON object" },
		{ "GET", "/machine-config", "{}", 400, "takes no body" },
	};

	expect_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(api_bad, wrong_types)
{
	static const struct req_case cases[] = {
		{ "PUT", "/machine-config", "{\"vcpu_count\": \"2\", \"mem_size_mib\": 128}",
		  400, "machine-config: vcpu_count must be an integer" },
		{ "PUT", "/machine-config", "{\"vcpu_count\": 2.5, \"mem_size_mib\": 128}", 400,
		  "vcpu_count must be an integer" },
		{ "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 128, "
		  "\"smt\": \"no\"}", 400, "smt must be true or false" },
		{ "PUT", "/boot-source", "{\"kernel_image_path\": 5}", 400,
		  "kernel_image_path must be a string" },
		{ "PUT", "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/d\", "
		  "\"is_root_device\": \"yes\"}", 400, "is_root_device must be true or false" },
		{ "PUT", "/network-interfaces/a", "{\"iface_id\": \"a\", "
		  "\"host_dev_name\": [\"tap0\"]}", 400, "host_dev_name must be a string" },
		{ "PUT", "/actions", "{\"action_type\": 1}", 400, "action_type must be a string" },
		{ "PUT", "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/d\", "
		  "\"is_root_device\": false, \"rate_limiter\": {\"bandwidth\": {}}}", 400,
		  "rate_limiter must be null" },
		{ "PATCH", "/vm", "{\"state\": true}", 400, "vm: state must be a string" },
		{ "PUT", "/logger", "{\"level\": 3}", 400, "logger: level must be a string" },
		{ "PUT", "/metrics", "{\"metrics_path\": 1}", 400,
		  "metrics: metrics_path must be a string" },
		{ "PUT", "/managed-devices/m", "{\"backend\": \"m\", \"type\": 1}", 400,
		  "managed-devices: type must be a string" },
		{ "PUT", "/managed-devices/m", "{\"backend\": \"m\", \"type\": \"block\", "
		  "\"path_on_host\": 5}", 400, "managed-devices: path_on_host must be a string" },
		{ "PUT", "/managed-devices/n", "{\"backend\": \"n\", \"type\": \"net\", "
		  "\"host_dev_name\": \"tap0\", \"queues\": \"2\"}", 400,
		  "managed-devices: queues must be an integer" },
		{ "PUT", "/managed-devices/m", "[\"m\"]", 400,
		  "managed-devices: the body must be a JSON object" },
	};

	expect_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(api_bad, unknown_fields)
{
	static const struct req_case cases[] = {
		{ "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 128, "
		  "\"cpus\": 2}", 400, "machine-config: unknown field 'cpus'" },
		{ "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\", \"kernel\": \"/k\"}",
		  400, "boot-source: unknown field 'kernel'" },
		{ "PUT", "/actions", "{\"action_type\": \"FlushMetrics\", \"now\": true}", 400,
		  "actions: unknown field 'now'" },
		{ "PUT", "/network-interfaces/a", "{\"iface_id\": \"a\", \"host_dev_name\": "
		  "\"t\", \"backend\": \"a\"}", 400, "unknown field 'backend'" },
		{ "PATCH", "/vm", "{\"state\": \"Paused\", \"when\": 1}", 400,
		  "vm: unknown field 'when'" },
		{ "PUT", "/logger", "{\"file\": \"/tmp/l\"}", 400, "logger: unknown field 'file'" },
		{ "PUT", "/metrics", "{\"metrics_path\": \"/tmp/m\", \"interval\": 1}", 400,
		  "metrics: unknown field 'interval'" },
		{ "PUT", "/managed-devices/n", "{\"backend\": \"n\", \"type\": \"net\", "
		  "\"host_dev_name\": \"tap0\", \"path_on_host\": \"/d\"}", 400,
		  "managed-devices: unknown field 'path_on_host'" },
	};

	expect_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(api_bad, missing_required_fields)
{
	static const struct req_case cases[] = {
		{ "PUT", "/machine-config", "{\"vcpu_count\": 2}", 400,
		  "machine-config: mem_size_mib is required" },
		{ "PUT", "/boot-source", "{\"boot_args\": \"x\"}", 400,
		  "boot-source: kernel_image_path is required" },
		{ "PUT", "/drives/a", "{\"drive_id\": \"a\", \"is_root_device\": false}", 400,
		  "drives: path_on_host is required" },
		{ "PUT", "/network-interfaces/a", "{\"iface_id\": \"a\"}", 400,
		  "network-interfaces: host_dev_name is required" },
		{ "PUT", "/metrics", "{}", 400, "metrics: metrics_path is required" },
		{ "PUT", "/actions", "{}", 400, "actions: action_type is required" },
		{ "PATCH", "/vm", "{}", 400, "vm: state is required" },
		{ "PUT", "/boot-source", "{\"kernel_image_path\": null}", 400,
		  "kernel_image_path must be a string" },
		{ "PUT", "/managed-devices/m", "{\"backend\": \"m\", \"type\": \"block\"}", 400,
		  "managed-devices: path_on_host is required" },
		{ "PUT", "/managed-devices/n", "{\"backend\": \"n\", \"type\": \"net\"}", 400,
		  "managed-devices: host_dev_name is required" },
		{ "PUT", "/managed-devices/m", "{\"type\": \"block\", \"path_on_host\": \"/d\"}",
		  400, "managed-devices: backend is required" },
	};

	expect_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(api_bad, values_out_of_range)
{
	static const struct req_case cases[] = {
		{ "PUT", "/machine-config", "{\"vcpu_count\": 0, \"mem_size_mib\": 128}", 400,
		  "vcpu_count: 0 is out of range (1-254)" },
		{ "PUT", "/machine-config", "{\"vcpu_count\": 255, \"mem_size_mib\": 128}", 400,
		  "vcpu_count: 255 is out of range" },
		{ "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 8}", 400,
		  "mem_size_mib: 8 is out of range" },
		{ "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 16000000}",
		  400, "machine-config: mem_size_mib 16000000 MiB is more than this host has" },
		{ "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 128, "
		  "\"smt\": true}", 400, "smt: true is not supported" },
		{ "PATCH", "/machine-config", "{\"vcpu_count\": -1}", 400, "out of range" },
		{ "PUT", "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/d\", "
		  "\"is_root_device\": false, \"queues\": 2}", 400,
		  "drives: /d: queues=2 is more than the 1 vCPUs" },
		{ "PUT", "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/d\", "
		  "\"is_root_device\": false, \"cache_type\": \"Unsafe\"}", 400,
		  "cache_type: 'Unsafe' is not one of Writeback, Direct" },
		{ "PUT", "/drives/abcdefghijklmnopqrstu", "{\"drive_id\": "
		  "\"abcdefghijklmnopqrstu\", \"path_on_host\": \"/d\", \"is_root_device\": false}",
		  400, "longer than 20 characters" },
		{ "PUT", "/network-interfaces/a", "{\"iface_id\": \"a\", \"host_dev_name\": "
		  "\"tap0\", \"guest_mac\": \"01:00:00:00:00:01\"}", 400, "multicast" },
		{ "PUT", "/network-interfaces/a", "{\"iface_id\": \"a\", \"host_dev_name\": "
		  "\"a-very-long-tap-name\"}", 400, "longer than 15 characters" },
		/* The body's id must be the path's; one root device. */
		{ "PUT", "/drives/a", "{\"drive_id\": \"b\", \"path_on_host\": \"/d\", "
		  "\"is_root_device\": false}", 400, "drive_id 'b' does not match the path's 'a'" },
		{ "PUT", "/drives/r1", "{\"drive_id\": \"r1\", \"path_on_host\": \"/d\", "
		  "\"is_root_device\": true}", 204, NULL },
		{ "PUT", "/drives/r2", "{\"drive_id\": \"r2\", \"path_on_host\": \"/d\", "
		  "\"is_root_device\": true}", 400, "drive 'r1' is the root device already" },
		/* Device ids are one namespace. */
		{ "PUT", "/network-interfaces/r1", "{\"iface_id\": \"r1\", "
		  "\"host_dev_name\": \"tap0\"}", 400, "device id 'r1' is used twice" },
		{ "PUT", "/managed-devices/r1", "{\"backend\": \"r1\", \"type\": \"block\", "
		  "\"path_on_host\": \"/d\"}", 400, "device id 'r1' is used twice" },
		{ "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 128, "
		  "\"managed_max\": 1025}", 400, "managed_max: 1025 is out of range (1-1024)" },
		{ "PUT", "/managed-devices/m", "{\"backend\": \"m\", \"type\": \"block\", "
		  "\"path_on_host\": \"/d\", \"queues\": 0}", 400,
		  "managed-devices: queues: 0 is out of range (1-64)" },
		{ "PUT", "/managed-devices/a", "{\"backend\": \"b\", \"type\": \"block\", "
		  "\"path_on_host\": \"/d\"}", 400, "backend 'b' does not match the path's 'a'" },
		{ "PUT", "/managed-devices/n", "{\"backend\": \"n\", \"type\": \"net\", "
		  "\"host_dev_name\": \"tap0\", \"guest_mac\": \"00:00:00:00:00:00\"}", 400,
		  "guest_mac" },
		/* An id in the path longer than any the API takes. */
		{ "PUT", "/drives/" "0123456789012345678901234567890123456789012345678901234567890123x",
		  "{}", 400, "the id in the path is longer than 64 characters" },
		{ "DELETE", "/managed-devices/"
		  "0123456789012345678901234567890123456789012345678901234567890123x", NULL, 400,
		  "the id in the path is longer than 64 characters" },
	};

	expect_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(api_bad, wrong_method_and_unknown_path)
{
	struct fixture f;
	struct reply r;

	start(&f);
	request(&f, "POST", "/machine-config", "{}", &r);
	cr_assert_eq(r.status, 405);
	cr_assert(strstr(r.raw, "Allow: GET, PUT, PATCH"), "%s", r.raw);
	free_reply(&r);
	expect(&f, "DELETE", "/", NULL, 405, "DELETE is not allowed on /");
	expect(&f, "GET", "/actions", NULL, 405, "allowed: PUT");
	expect(&f, "GET", "/drives/a", NULL, 405, "allowed: PUT");
	expect(&f, "GET", "/nothing-here", NULL, 404, "no such resource: /nothing-here");
	expect(&f, "PUT", "/drives/", "{}", 404, "no such resource");
	expect(&f, "PUT", "/drives/a/b", "{}", 404, "no such resource");
	stop(&f);
}

Test(api_bad, body_too_large)
{
	struct fixture f;
	size_t big = API_MAX_BODY + 100;
	char *body = malloc(big + 1), head[256];
	struct reply r;
	int fd;

	start(&f);
	memset(body, ' ', big);
	body[big] = '\0';
	/* Announced by Content-Length: refused before the body is read. */
	expect(&f, "PUT", "/machine-config", body, 413, "larger than 65536 bytes");
	/* Chunked, no length given: refused once it grows past the limit. */
	fd = connect_to(f.sock);
	snprintf(head, sizeof(head), "PUT /machine-config HTTP/1.1\r\nHost: x\r\n"
		 "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n", big);
	send_all(fd, head, strlen(head));
	send_all(fd, body, big);
	send_all(fd, "\r\n0\r\n\r\n", 7);
	read_reply(fd, &r);
	cr_assert_eq(r.status, 413, "%s", r.raw);
	free_reply(&r);
	free(body);
	/* The server is fine. */
	expect_ok(&f, "PATCH", "/machine-config", "{\"vcpu_count\": 2}");
	stop(&f);
}

/* A request answered within ms milliseconds. */
static void expect_fast(struct fixture *f, int ms)
{
	struct timespec t0, t1;
	json_t *j;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	j = get(f, "/machine-config");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	json_decref(j);
	cr_assert_lt((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, ms);
}

/* Does the server close fd within ms milliseconds? */
static bool closed_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[4096];

	while (poll(&p, 1, ms) == 1) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n <= 0)
			return true;
	}
	return false;
}

Test(api_bad, slow_and_half_open_clients)
{
	struct fixture f;
	const char *partial = "PUT /machine-config HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n"
			      "\r\n{\"vcpu_count\":";
	int silent, slow, half;

	start(&f);
	silent = connect_to(f.sock); /* connects, says nothing */
	slow = connect_to(f.sock);   /* half a request, then nothing */
	send_all(slow, partial, strlen(partial));
	half = connect_to(f.sock);   /* half a header, then closes its side */
	send_all(half, "GET /machine-con", 16);
	shutdown(half, SHUT_WR);
	/* Others are served at once, and changes apply. */
	expect_fast(&f, 500);
	expect_ok(&f, "PATCH", "/machine-config", "{\"vcpu_count\": 2}");
	expect_fast(&f, 500);
	/* The idle ones are dropped after the idle timeout (1 s here). */
	cr_assert(closed_within(silent, 5000), "a silent client is dropped");
	cr_assert(closed_within(slow, 5000), "a stalled client is dropped");
	cr_assert(closed_within(half, 5000), "a half-closed client is dropped");
	close(silent);
	close(slow);
	close(half);
	expect_fast(&f, 500);
	stop(&f);
}

#define MANY 40

Test(api_bad, many_clients_at_once)
{
	struct fixture f;
	int fds[MANY];
	json_t *j;

	start(&f);
	/* All connected and asking before any reply is read. */
	for (int i = 0; i < MANY; i++) {
		fds[i] = connect_to(f.sock);
		if (i % 2)
			send_request(fds[i], "PATCH", "/machine-config", "{\"vcpu_count\": 2}");
		else
			send_request(fds[i], "GET", "/", NULL);
	}
	for (int i = 0; i < MANY; i++) {
		struct reply r;

		read_reply(fds[i], &r);
		cr_assert_eq(r.status, i % 2 ? 204 : 200, "client %d: %s", i, r.raw);
		free_reply(&r);
	}
	j = get(&f, "/machine-config");
	cr_assert_eq(get_int(j, "vcpu_count", NULL), 2);
	json_decref(j);
	stop(&f);
}

/*
 * More clients than the connection limit: the one over it waits (the server leaves it in
 * the listen backlog) until a slot frees, here when the idle clients are dropped after the
 * idle timeout (1 s), and is then served; nothing is lost or stuck.
 */
Test(api_bad, more_clients_than_the_limit)
{
	struct fixture f;
	int idle[API_DEFAULT_MAX_CONNECTIONS], extra;
	struct timespec t0, t1;
	struct pollfd p;
	struct reply r;
	long ms;

	start(&f);
	for (int i = 0; i < API_DEFAULT_MAX_CONNECTIONS; i++)
		idle[i] = connect_to(f.sock);
	sleep_ms(200); /* the server has taken them all */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	extra = connect_to(f.sock);
	send_request(extra, "GET", "/", NULL);
	p = (struct pollfd){ .fd = extra, .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 5000), 1, "the client over the limit is not left hanging");
	read_reply(extra, &r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_eq(r.status, 200, "%s", r.raw);
	free_reply(&r);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	cr_assert_geq(ms, 500, "served after %ld ms: it waited for a free slot", ms);
	for (int i = 0; i < API_DEFAULT_MAX_CONNECTIONS; i++)
		cr_assert(closed_within(idle[i], 5000), "idle client %d dropped", i);
	for (int i = 0; i < API_DEFAULT_MAX_CONNECTIONS; i++)
		close(idle[i]);
	expect_fast(&f, 500);
	expect_ok(&f, "PATCH", "/machine-config", "{\"vcpu_count\": 2}");
	stop(&f);
}

/* --- the socket file ---------------------------------------------------------------- */

Test(api_socket, mode_stale_in_use_and_removal)
{
	struct fixture f;
	struct api_params p = { .routes = control_routes, .nr_routes = control_nr_routes,
				.dispatch = control_dispatch };
	struct api_server *s;
	struct err e = { { 0 } };
	struct stat st;
	char path[160];
	int fd;

	start(&f);
	cr_assert_eq(stat(f.sock, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0600);
	/* In use by the fixture's server. */
	p.path = f.sock;
	p.ctx = &f.c;
	cr_assert_eq(api_start(&s, &p, &e), -1);
	cr_assert(strstr(e.msg, "in use"), "%s", e.msg);
	/* Not a socket. */
	snprintf(path, sizeof(path), "%s/file", f.dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	p.path = path;
	cr_assert_eq(api_start(&s, &p, &e), -1);
	cr_assert(strstr(e.msg, "not a socket"), "%s", e.msg);
	/* A stale socket (bound, nobody listening) is replaced. */
	snprintf(path, sizeof(path), "%s/stale.sock", f.dir);
	{
		struct sockaddr_un a = { .sun_family = AF_UNIX };

		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		memcpy(a.sun_path, path, strlen(path) + 1); /* f.dir is short */
		cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
		close(fd);
	}
	cr_assert_eq(api_start(&s, &p, &e), 0, "%s", e.msg);
	api_stop(s);
	cr_assert_neq(stat(path, &st), 0, "removed on stop");
	/* Too long a path. */
	memset(path, 'a', 150);
	path[0] = '/';
	path[150] = '\0';
	cr_assert_eq(api_start(&s, &p, &e), -1);
	cr_assert(strstr(e.msg, "a socket path is 1-107 bytes"), "%s", e.msg);
	stop(&f);
	cr_assert_neq(stat(f.sock, &st), 0, "the fixture's socket is gone");
}

/* --- configuration as JSON, --config-file, the CLI -------------------------------- */

static const char full_config[] =
	"{\"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 128, \"managed_max\": 4},"
	" \"boot-source\": {\"kernel_image_path\": \"/k\", \"boot_args\": \"quiet\"},"
	" \"drives\": [{\"drive_id\": \"root\", \"path_on_host\": \"/r\", "
	"\"is_root_device\": true, \"is_read_only\": true}],"
	" \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", "
	"\"guest_mac\": \"52:54:00:00:00:01\", \"queues\": 2}],"
	" \"managed-devices\": [{\"backend\": \"m1\", \"type\": \"block\", "
	"\"path_on_host\": \"/m\"}],"
	" \"logger\": {\"level\": \"Info\"}, \"metrics\": null}";

Test(config_json, apply_and_dump_round_trip)
{
	struct vm_config a, b;
	struct err e = { { 0 } };
	json_t *j = json_loads(full_config, 0, NULL), *d1, *d2;

	config_init(&a);
	cr_assert_eq(config_json_apply(&a, j, &e), 0, "%s", e.msg);
	cr_assert_eq(a.cpus, 2);
	cr_assert_eq(a.memory, 128ULL << 20);
	cr_assert_eq(a.managed_max, 4);
	cr_assert_str_eq(a.kernel_path, "/k");
	cr_assert(a.disks[0].root && a.disks[0].readonly);
	cr_assert_eq(a.nets[0].queues, 2);
	cr_assert_eq(a.nr_managed_disks, 1);
	cr_assert_eq(a.log_level, 2);
	d1 = config_json_dump(&a);
	config_init(&b);
	cr_assert_eq(config_json_apply(&b, d1, &e), 0, "%s", e.msg);
	d2 = config_json_dump(&b);
	cr_assert(json_equal(d1, d2), "dump -> apply -> dump is stable");
	json_decref(j);
	json_decref(d1);
	json_decref(d2);
	config_free(&a);
	config_free(&b);
}

Test(config_json, copy_is_deep)
{
	struct vm_config a, b;
	struct err e = { { 0 } };
	json_t *j = json_loads(full_config, 0, NULL);

	config_init(&a);
	cr_assert_eq(config_json_apply(&a, j, &e), 0, "%s", e.msg);
	cr_assert_eq(config_copy(&b, &a), 0);
	cr_assert_neq(a.kernel_path, b.kernel_path);
	cr_assert_str_eq(b.disks[0].path, "/r");
	cr_assert_neq(a.disks[0].path, b.disks[0].path);
	config_free(&a);
	cr_assert_str_eq(b.managed_disks[0].path, "/m");
	config_free(&b);
	json_decref(j);
}

Test(config_json, errors_name_section_and_field)
{
	struct vm_config c;
	struct err e = { { 0 } };
	json_t *j = json_loads("{\"vsock\": {}}", 0, NULL);

	config_init(&c);
	cr_assert_eq(config_json_apply(&c, j, &e), -1);
	cr_assert_str_eq(e.msg, "unknown section 'vsock'");
	json_decref(j);
	j = json_loads("{\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"/d\", "
		       "\"is_root_device\": false}, {\"drive_id\": \"b\"}]}", 0, NULL);
	cr_assert_eq(config_json_apply(&c, j, &e), -1);
	cr_assert_str_eq(e.msg, "drives[1]: drives: path_on_host is required");
	json_decref(j);
	config_free(&c);
}

/* The metrics section's vqvm field, as --config-file reads it and GET /vm/config shows it. */
Test(config_json, metrics_flush_interval)
{
	struct vm_config c;
	struct err e = { { 0 } };
	json_t *j = json_loads("{\"metrics\": {\"metrics_path\": \"/m\", "
			       "\"flush_interval_s\": 5}}", 0, NULL), *d;

	config_init(&c);
	cr_assert_eq(config_json_apply(&c, j, &e), 0, "%s", e.msg);
	cr_assert_eq(c.metrics_interval_s, 5);
	d = config_json_dump(&c);
	cr_assert(json_equal(json_object_get(d, "metrics"), json_object_get(j, "metrics")),
		  "dumped as given");
	json_decref(d);
	json_decref(j);
	j = json_loads("{\"metrics\": {\"metrics_path\": \"/m\", \"flush_interval_s\": -1}}",
		       0, NULL);
	cr_assert_eq(config_json_apply(&c, j, &e), -1);
	cr_assert_str_eq(e.msg, "metrics: flush_interval_s: -1 is out of range (1-86400)");
	json_decref(j);
	config_free(&c);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

#define ARGV(...) ((char *[]){ "vqvm", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "vqvm", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(cfg, e, ...) cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), cfg, e)

Test(cli_api, config_file_and_api_sock)
{
	char dir[] = "/tmp/vqvm-cfg.XXXXXX", path[64], bad[64], cmd[96];
	struct vm_config c;
	struct err e = { { 0 } };

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vm.json", dir);
	snprintf(bad, sizeof(bad), "%s/bad.json", dir);
	write_file(path, full_config);
	write_file(bad, "{\n\"machine-config\": {\"vcpu_count\": 2,}\n}");

	config_init(&c);
	cr_assert_eq(PARSE(&c, &e, "--config-file", path, "--memory", "96M"), CLI_RUN, "%s",
		     e.msg);
	cr_assert_eq(c.memory, 96ULL << 20, "options apply in order");
	cr_assert_eq(c.cpus, 2);
	cr_assert_str_eq(c.kernel_path, "/k");
	config_free(&c);

	config_init(&c);
	cr_assert_eq(PARSE(&c, &e, "--api-sock", "/tmp/x.sock"), CLI_WAIT, "%s", e.msg);
	cr_assert_str_eq(c.api_sock, "/tmp/x.sock");
	config_free(&c);

	config_init(&c);
	cr_assert_eq(PARSE(&c, &e, "--api-sock", "/tmp/x.sock", "--config-file", path), CLI_RUN);
	config_free(&c);

	config_init(&c);
	cr_assert_eq(PARSE(&c, &e, "run", "--kernel", "/k", "--api-sock", "/tmp/x.sock"),
		     CLI_RUN);
	cr_assert_str_eq(c.api_sock, "/tmp/x.sock");
	config_free(&c);

	config_init(&c);
	cr_assert_eq(PARSE(&c, &e, "--config-file", bad), CLI_ERROR);
	cr_assert(strstr(e.msg, "bad.json: line 2"), "%s", e.msg);
	config_free(&c);

	config_init(&c);
	cr_assert_eq(PARSE(&c, &e, "--config-file", "/nonexistent.json"), CLI_ERROR);
	cr_assert(strstr(e.msg, "/nonexistent.json"), "%s", e.msg);
	config_free(&c);

	config_init(&c);
	cr_assert_eq(PARSE(&c, &e, "--api-sock", "/tmp/x.sock", "--cpus", "0"), CLI_ERROR);
	config_free(&c);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* --- metrics of a VM --------------------------------------------------------------- */

/* Exit counts are summed over vCPUs and survive them: the last line is written after
 * the vCPUs are gone. */
Test(metrics, vcpu_exits_outlive_the_vcpus)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	json_t *j;

	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_mutex_init(&vm->pause.lock, NULL);
	pthread_cond_init(&vm->pause.cond, NULL);
	vm->nr_vcpus = 2;
	vm->vcpus = calloc(2, sizeof(*vm->vcpus));
	vm->vcpus[0].exits[0] = 5; /* io */
	vm->vcpus[1].exits[0] = 7;
	vm->vcpus[1].exits[1] = 3; /* mmio */
	j = metrics_vm_json(vm);
	cr_assert_eq(get_int(json_object_get(j, "vcpu_exits"), "io", NULL), 12);
	cr_assert_eq(get_int(json_object_get(j, "vcpu_exits"), "mmio", NULL), 3);
	cr_assert_eq(get_int(json_object_get(j, "vcpu_exits"), "other", NULL), 0);
	json_decref(j);
	vcpus_destroy(vm);
	cr_assert_null(vm->vcpus);
	j = metrics_vm_json(vm);
	cr_assert_eq(get_int(json_object_get(j, "vcpu_exits"), "io", NULL), 12);
	json_decref(j);
	pthread_mutex_destroy(&vm->stop_lock);
	free(vm);
}
