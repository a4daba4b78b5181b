// SPDX-License-Identifier: Apache-2.0
/*
 * Helper of bench/hotplug.sh, built static (build/bench/hotplug-helper) so that the same
 * binary runs in the guest and where the VMMs run (L1 in the sandbox), with nothing but
 * the kernel under it. All times are CLOCK_MONOTONIC, read by this process itself.
 *
 * In the guest:
 *   create MGMT-DIR SERIAL N   N times: write "blk" to MGMT-DIR/create, then poll until
 *                              the disk whose serial is SERIAL exists and a 4 KiB O_DIRECT
 *                              read of it works; print "HPG <i> <total ns> <create-write
 *                              ns>"; then destroy it (MGMT-DIR/destroy) and wait until it
 *                              is gone.
 *   wait PREFIX N [RESCAN-S]   for i in 1..N: poll until the disk with serial PREFIX<i>
 *                              exists and a 4 KiB O_DIRECT read works, print "HPR <i>."
 *                              (the host times from its command to that line), then wait
 *                              until the host removed it; with RESCAN-S > 0, write 1 to
 *                              /sys/bus/pci/rescan when the disk is not there RESCAN-S
 *                              seconds after the previous one left, and every second
 *                              after that (counted: "HPR-RESCANS <n>" at the end).
 * Where the VMMs run:
 *   time FILE MARKER TIMEOUT-S -- CMD...   run CMD, wait for it, then until MARKER appears
 *                              in FILE (a console log that grows); print the ns from just
 *                              before CMD started to MARKER ("-1" on timeout, status 1).
 *   waitfile FILE MARKER TIMEOUT-S [PID]    until MARKER appears in FILE (status 1: it did
 *                              not within the time, or process PID ended).
 *   qmp SOCKET JSON [EVENT [TIMEOUT-S]]     QEMU's QMP: connect, qmp_capabilities, send
 *                              JSON, print the reply; with EVENT also wait for that event.
 *                              Status 0 when the reply is a "return".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void nap_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = 0;
	return 0;
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	n = n < 0 ? -errno : 0;
	close(fd);
	return (int)n;
}

/* The vdX whose serial is SERIAL, into name; 0 when found. */
static int find_disk(const char *serial, char *name, size_t len)
{
	DIR *d = opendir("/sys/block");
	struct dirent *e;
	char path[300], s[128];
	int found = -1;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "vd", 2))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/serial", e->d_name);
		if (read_file(path, s, sizeof(s)) == 0 && !strcmp(s, serial)) {
			snprintf(name, len, "%s", e->d_name);
			found = 0;
			break;
		}
	}
	closedir(d);
	return found;
}

/* One 4 KiB O_DIRECT read of /dev/NAME; 0 when it worked. */
static int read_4k(const char *name)
{
	static char buf[8192];
	char *p = (char *)(((unsigned long)buf + 4095) & ~4095UL);
	char path[300];
	int fd, ok;

	snprintf(path, sizeof(path), "/dev/%s", name);
	fd = open(path, O_RDONLY | O_DIRECT);
	if (fd < 0)
		return -1;
	ok = pread(fd, p, 4096, 0) == 4096 ? 0 : -1;
	close(fd);
	return ok;
}

static int cmd_create(const char *mgmt, const char *serial, int n)
{
	char path[400], id[64], name[64], gone[300];
	int i, rc;

	for (i = 1; i <= n; i++) {
		long long t0, t1, t2, limit;

		snprintf(path, sizeof(path), "%s/create", mgmt);
		t0 = now_ns();
		rc = write_file(path, "blk");
		t1 = now_ns();
		if (rc) {
			printf("HPG-FAIL %d create: %s\n", i, strerror(-rc));
			return 1;
		}
		limit = t0 + 30000000000LL;
		while (find_disk(serial, name, sizeof(name)) || read_4k(name)) {
			if (now_ns() > limit) {
				printf("HPG-FAIL %d: no usable disk %s after 30 s\n", i, serial);
				return 1;
			}
			nap_us(200);
		}
		t2 = now_ns();
		printf("HPG %d %lld %lld\n", i, t2 - t0, t1 - t0);
		fflush(stdout);
		snprintf(path, sizeof(path), "%s/last_created", mgmt);
		if (read_file(path, id, sizeof(id))) {
			printf("HPG-FAIL %d: no last_created\n", i);
			return 1;
		}
		snprintf(path, sizeof(path), "%s/destroy", mgmt);
		rc = write_file(path, id);
		if (rc) {
			printf("HPG-FAIL %d destroy %s: %s\n", i, id, strerror(-rc));
			return 1;
		}
		snprintf(gone, sizeof(gone), "/sys/block/%s", name);
		limit = now_ns() + 30000000000LL;
		while (access(gone, F_OK) == 0) {
			if (now_ns() > limit) {
				printf("HPG-FAIL %d: %s still there 30 s after destroy\n", i, name);
				return 1;
			}
			nap_us(1000);
		}
		nap_us(50000);
	}
	return 0;
}

static int cmd_wait(const char *prefix, int n, int rescan_s)
{
	char serial[128], name[64], gone[300];
	int i, rescans = 0;

	for (i = 1; i <= n; i++) {
		long long start = now_ns(), next_rescan = start + rescan_s * 1000000000LL;

		snprintf(serial, sizeof(serial), "%s%d", prefix, i);
		while (find_disk(serial, name, sizeof(name)) || read_4k(name)) {
			long long t = now_ns();

			if (t - start > 120000000000LL) {
				printf("HPR-FAIL %d: no usable disk %s after 120 s\n", i, serial);
				return 1;
			}
			if (rescan_s > 0 && t > next_rescan) {
				write_file("/sys/bus/pci/rescan", "1");
				rescans++;
				next_rescan = t + 1000000000LL;
			}
			nap_us(500);
		}
		printf("HPR %d.\n", i);
		fflush(stdout);
		/* The next wait (and its rescan timer) starts once the host removed this one. */
		snprintf(gone, sizeof(gone), "/sys/block/%s", name);
		while (access(gone, F_OK) == 0) {
			if (now_ns() - start > 300000000000LL) {
				printf("HPR-FAIL %d: %s not removed\n", i, serial);
				return 1;
			}
			nap_us(1000);
		}
	}
	printf("HPR-RESCANS %d\n", rescans);
	return 0;
}

/* Reads what FILE gained since the last call into a sliding window; 1 when MARKER is in it. */
struct follow {
	int fd;
	char win[8192];
	size_t len;
};

static int follow_check(struct follow *f, const char *marker)
{
	char buf[4096];
	ssize_t n;
	size_t keep = strlen(marker);

	while ((n = read(f->fd, buf, sizeof(buf))) > 0) {
		if (f->len + n >= sizeof(f->win)) {
			size_t k = f->len < keep ? f->len : keep;

			memmove(f->win, f->win + f->len - k, k);
			f->len = k;
		}
		if ((size_t)n >= sizeof(f->win) - f->len) {
			memmove(f->win, buf + n - keep, keep);
			f->len = keep;
		} else {
			memcpy(f->win + f->len, buf, n);
			f->len += n;
		}
		f->win[f->len] = 0;
		if (memmem(f->win, f->len, marker, strlen(marker)))
			return 1;
	}
	return f->len && memmem(f->win, f->len, marker, strlen(marker)) != NULL;
}

static int follow_open(struct follow *f, const char *file, int from_end)
{
	f->fd = open(file, O_RDONLY);
	f->len = 0;
	if (f->fd < 0)
		return -1;
	if (from_end)
		lseek(f->fd, 0, SEEK_END);
	return 0;
}

static int wait_marker(struct follow *f, const char *marker, long long deadline)
{
	while (!follow_check(f, marker)) {
		if (now_ns() > deadline)
			return -1;
		nap_us(500);
	}
	return 0;
}

static int cmd_time(const char *file, const char *marker, int timeout_s, char **cmd)
{
	struct follow f;
	long long t0, t1;
	pid_t pid;
	int st;

	/* Only output from here on counts. */
	if (follow_open(&f, file, 1)) {
		perror(file);
		return 2;
	}
	t0 = now_ns();
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execvp(cmd[0], cmd);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		printf("-1 command-failed\n");
		return 1;
	}
	if (wait_marker(&f, marker, t0 + timeout_s * 1000000000LL)) {
		printf("-1 timeout\n");
		return 1;
	}
	t1 = now_ns();
	printf("%lld\n", t1 - t0);
	return 0;
}

static int cmd_waitfile(const char *file, const char *marker, int timeout_s, int pid)
{
	struct follow f;
	long long deadline = now_ns() + timeout_s * 1000000000LL;

	while (follow_open(&f, file, 0)) {
		if (now_ns() > deadline)
			return 1;
		nap_us(100000);
	}
	while (!follow_check(&f, marker)) {
		if (now_ns() > deadline || (pid > 0 && kill(pid, 0) && errno == ESRCH))
			return 1;
		nap_us(20000);
	}
	return 0;
}

/* QMP: reads until a line containing want (or "error" when want is "return"). */
static int qmp_read_until(int fd, const char *want, int timeout_s, char *out, size_t outlen)
{
	static char buf[65536];
	static size_t len;
	long long deadline = now_ns() + timeout_s * 1000000000LL;

	for (;;) {
		char *nl;

		while ((nl = memchr(buf, '\n', len))) {
			size_t l = nl - buf + 1;
			int hit;

			*nl = 0;
			hit = strstr(buf, want) != NULL ||
			      (!strcmp(want, "\"return\"") && strstr(buf, "\"error\"") != NULL);
			if (hit && out)
				snprintf(out, outlen, "%s", buf);
			memmove(buf, buf + l, len - l);
			len -= l;
			if (hit)
				return 0;
		}
		if (now_ns() > deadline || len == sizeof(buf)) {
			return -1;
		} else {
			fd_set rd;
			struct timeval tv = { 0, 100000 };
			ssize_t n;

			FD_ZERO(&rd);
			FD_SET(fd, &rd);
			if (select(fd + 1, &rd, NULL, NULL, &tv) <= 0)
				continue;
			n = read(fd, buf + len, sizeof(buf) - len);
			if (n <= 0)
				return -1;
			len += n;
		}
	}
}

static int cmd_qmp(const char *sock, const char *json, const char *event, int timeout_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *caps = "{\"execute\":\"qmp_capabilities\"}\n";
	char reply[4096], want[128];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror(sock);
		return 2;
	}
	if (qmp_read_until(fd, "\"QMP\"", 10, NULL, 0) || write(fd, caps, strlen(caps)) < 0 ||
	    qmp_read_until(fd, "\"return\"", 10, NULL, 0)) {
		fprintf(stderr, "qmp: no greeting or capabilities reply\n");
		return 2;
	}
	if (write(fd, json, strlen(json)) < 0 || write(fd, "\n", 1) < 0 ||
	    qmp_read_until(fd, "\"return\"", 30, reply, sizeof(reply))) {
		fprintf(stderr, "qmp: no reply\n");
		return 2;
	}
	printf("%s\n", reply);
	if (strstr(reply, "\"error\""))
		return 1;
	if (event) {
		snprintf(want, sizeof(want), "\"event\": \"%s\"", event);
		if (qmp_read_until(fd, want, timeout_s, reply, sizeof(reply))) {
			fprintf(stderr, "qmp: no %s event within %d s\n", event, timeout_s);
			return 1;
		}
		printf("%s\n", reply);
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[1], "create"))
		return cmd_create(argv[2], argv[3], atoi(argv[4]));
	if (argc >= 4 && !strcmp(argv[1], "wait"))
		return cmd_wait(argv[2], atoi(argv[3]), argc > 4 ? atoi(argv[4]) : 0);
	if (argc >= 7 && !strcmp(argv[1], "time") && !strcmp(argv[5], "--"))
		return cmd_time(argv[2], argv[3], atoi(argv[4]), argv + 6);
	if (argc >= 5 && !strcmp(argv[1], "waitfile"))
		return cmd_waitfile(argv[2], argv[3], atoi(argv[4]), argc > 5 ? atoi(argv[5]) : 0);
	if (argc >= 4 && !strcmp(argv[1], "qmp"))
		return cmd_qmp(argv[2], argv[3], argc > 4 ? argv[4] : NULL,
			       argc > 5 ? atoi(argv[5]) : 30);
	fprintf(stderr, "usage: see bench/hotplug-helper.c\n");
	return 2;
}
