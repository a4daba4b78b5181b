// SPDX-License-Identifier: Apache-2.0
/*
 * How fast `vqvm --api-sock` is ready: start it, and from the moment just before the
 * fork, connect to the socket and send GET / until a reply's status line arrives. Prints
 * one line per start:
 *
 *   RESULT <run> wall_ms <ms> cpu_ms <ms> threads <n>
 *
 * wall_ms: fork to the first byte of the reply; cpu_ms: the CPU time all of vqvm's
 * threads had used by then (/proc/PID/task/TID/schedstat, ns). vqvm is then stopped with
 * SIGTERM. No VM is started: this is the control plane's start-up alone.
 *
 *   api-start VQVM RUNS
 */
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* One GET / over the socket: true once a reply's first bytes came back. */
static bool answered(const char *path)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char buf[16];
	bool ok = false;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return false;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1))
		ok = read(fd, buf, sizeof(buf)) > 0 && !memcmp(buf, "HTTP/1.1 ", 9);
	close(fd);
	return ok;
}

/* CPU time of every thread of pid, in ns; *threads gets how many there are. */
static uint64_t cpu_ns(pid_t pid, unsigned int *threads)
{
	char dir[64], path[352];
	uint64_t sum = 0, ns;
	struct dirent *d;
	DIR *dp;

	*threads = 0;
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	dp = opendir(dir);
	if (!dp)
		return 0;
	while ((d = readdir(dp))) {
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/schedstat", dir, d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%" SCNu64, &ns) == 1) {
			sum += ns;
			(*threads)++;
		}
		fclose(f);
	}
	closedir(dp);
	return sum;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/vqvm-api-start.XXXXXX", sock[64];
	int runs;

	if (argc != 3 || (runs = atoi(argv[2])) < 1) {
		fprintf(stderr, "usage: api-start VQVM RUNS\n");
		return 2;
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/api.sock", dir);
	for (int run = 1; run <= runs; run++) {
		uint64_t t0 = now_ns(), wall = 0, cpu;
		unsigned int threads;
		int status;
		pid_t pid = fork();

		if (pid == 0) {
			execl(argv[1], argv[1], "--api-sock", sock, "--log-level", "error",
			      (char *)NULL);
			_exit(127);
		}
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		while (!answered(sock)) {
			if (waitpid(pid, &status, WNOHANG) == pid) {
				fprintf(stderr, "api-start: vqvm exited before answering\n");
				return 1;
			}
			if (now_ns() - t0 > 10000000000ULL) {
				fprintf(stderr, "api-start: no answer within 10 s\n");
				kill(pid, SIGKILL);
				return 1;
			}
			usleep(200);
		}
		wall = now_ns() - t0;
		cpu = cpu_ns(pid, &threads);
		printf("RESULT %d wall_ms %.3f cpu_ms %.3f threads %u\n", run, wall / 1e6,
		       cpu / 1e6, threads);
		fflush(stdout);
		kill(pid, SIGTERM);
		waitpid(pid, &status, 0);
	}
	rmdir(dir);
	return 0;
}
