// SPDX-License-Identifier: Apache-2.0
#include "vmm/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "virtio/device.h"
#include "virtio/net.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

void metrics_init(struct metrics *m, unsigned int interval_ms,
		  void (*collect)(void *arg, json_t *line), void *arg)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	m->fd = -1;
	m->interval_ms = interval_ms ? interval_ms : METRICS_DEFAULT_INTERVAL_MS;
	m->collect = collect;
	m->arg = arg;
}

/* Under m->lock. */
static int write_line(struct metrics *m, struct err *e)
{
	struct timespec now;
	json_t *line;
	char *text;
	ssize_t n;
	size_t len;

	if (m->fd < 0)
		return err_set(e, "no metrics file (PUT /metrics first)");
	line = json_object();
	clock_gettime(CLOCK_REALTIME, &now);
	json_object_set_new(line, "utc_timestamp_ms",
			    json_integer((json_int_t)now.tv_sec * 1000 + now.tv_nsec / 1000000));
	m->collect(m->arg, line);
	json_object_set_new(line, "metrics", json_pack("{s:I, s:I}", "lines",
						       (json_int_t)m->lines, "dropped",
						       (json_int_t)m->dropped));
	text = json_dumps(line, JSON_COMPACT);
	json_decref(line);
	if (!text)
		return err_set(e, "out of memory");
	len = strlen(text);
	text[len++] = '\n'; /* json_dumps's NUL becomes the newline: one write per line */
	n = write(m->fd, text, len);
	free(text);
	if (n == (ssize_t)len) {
		m->lines++;
		return 0;
	}
	m->dropped++;
	return err_set(e, "metrics line dropped: %s", n < 0 ? strerror(errno) : "short write");
}

static void *metrics_thread(void *arg)
{
	struct metrics *m = arg;
	struct err e;

	pthread_setname_np(pthread_self(), "metrics");
	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += m->interval_ms / 1000;
		t.tv_nsec += (long)(m->interval_ms % 1000) * 1000000;
		if (t.tv_nsec >= 1000000000) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000;
		}
		if (pthread_cond_timedwait(&m->cond, &m->lock, &t) == ETIMEDOUT && !m->stop &&
		    write_line(m, &e))
			log_debug("%s", e.msg);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int metrics_open(struct metrics *m, const char *path, struct err *e)
{
	/* O_RDWR: a FIFO opens without a reader; O_NONBLOCK: a full one drops lines. */
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0600);
	int ret = 0;

	if (fd < 0)
		return err_set(e, "metrics_path %s: %s", path, strerror(errno));
	pthread_mutex_lock(&m->lock);
	if (m->fd >= 0)
		close(m->fd);
	m->fd = fd;
	if (!m->thread_started) {
		ret = pthread_create(&m->thread, NULL, metrics_thread, m);
		m->thread_started = !ret;
	}
	pthread_mutex_unlock(&m->lock);
	if (ret)
		return err_set(e, "cannot start the metrics thread: %s", strerror(ret));
	return 0;
}

int metrics_flush(struct metrics *m, struct err *e)
{
	int ret;

	pthread_mutex_lock(&m->lock);
	ret = write_line(m, e);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

void metrics_destroy(struct metrics *m, bool last_line)
{
	struct err e;

	pthread_mutex_lock(&m->lock);
	m->stop = true;
	if (m->fd >= 0 && last_line)
		write_line(m, &e);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (m->thread_started)
		pthread_join(m->thread, NULL);
	if (m->fd >= 0)
		close(m->fd);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cond);
}

static json_t *net_json(struct virtio_device *dev)
{
	struct net_stats s;

	net_get_stats(dev, &s);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "tx_packets", (json_int_t)s.tx_packets, "tx_bytes", (json_int_t)s.tx_bytes,
			 "tx_dropped", (json_int_t)s.tx_dropped, "tx_errors",
			 (json_int_t)s.tx_errors, "rx_packets", (json_int_t)s.rx_packets,
			 "rx_bytes", (json_int_t)s.rx_bytes, "rx_dropped", (json_int_t)s.rx_dropped,
			 "rx_errors", (json_int_t)s.rx_errors, "rx_reads", (json_int_t)s.rx_reads,
			 "ctrl_ok", (json_int_t)s.ctrl_ok, "ctrl_err", (json_int_t)s.ctrl_err);
}

/* Devices whose model counts something, by device type. */
static const struct {
	uint32_t type;
	json_t *(*counters)(struct virtio_device *dev);
} device_counters[] = {
	{ VIRTIO_ID_NET, net_json },
};

json_t *metrics_vm_json(struct vm *vm)
{
	const char *names[VCPU_EXIT_STATS];
	uint64_t counts[VCPU_EXIT_STATS];
	unsigned int n = vcpus_exit_stats(vm, names, counts);
	json_t *exits = json_object(), *devices = json_object();

	for (unsigned int i = 0; i < n; i++)
		json_object_set_new(exits, names[i], json_integer((json_int_t)counts[i]));
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		struct virtio_device *dev = vm->virtio[i].dev;

		for (unsigned int t = 0; t < sizeof(device_counters) / sizeof(device_counters[0]);
		     t++)
			if (dev && dev->device_type == device_counters[t].type)
				json_object_set_new(devices, vm->virtio[i].name,
						    device_counters[t].counters(dev));
	}
	return json_pack("{s:o, s:o}", "vcpu_exits", exits, "devices", devices);
}
