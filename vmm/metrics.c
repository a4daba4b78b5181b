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
#include "virtio/blk.h"
#include "virtio/device.h"
#include "virtio/mgmt.h"
#include "virtio/net.h"
#include "virtio/pci.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

void metrics_init(struct metrics *m, void (*collect)(void *arg, json_t *line), void *arg)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	m->fd = -1;
	m->interval_ms = METRICS_DEFAULT_INTERVAL_MS;
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
		/* Woken early (a new file or interval, or stop): the period starts again. */
		if (pthread_cond_timedwait(&m->cond, &m->lock, &t) == ETIMEDOUT && !m->stop &&
		    write_line(m, &e))
			log_debug("%s", e.msg);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int metrics_open(struct metrics *m, const char *path, unsigned int interval_ms,
		 struct err *e)
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
	m->interval_ms = interval_ms ? interval_ms : METRICS_DEFAULT_INTERVAL_MS;
	pthread_cond_broadcast(&m->cond);
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

/* {"buckets": [...], "sum": total us}: bucket i counts samples under 2^i us (stats.h). */
static json_t *hist_json(const struct stats_hist *h)
{
	json_t *buckets = json_array();

	for (unsigned int i = 0; i < STATS_HIST_BUCKETS; i++)
		json_array_append_new(buckets, json_integer((json_int_t)h->bucket[i]));
	return json_pack("{s:o, s:I}", "buckets", buckets, "sum", (json_int_t)h->sum_us);
}

static json_t *irq_json(const struct virtio_irq_stats *s)
{
	return json_pack("{s:I, s:I}", "injected", (json_int_t)s->injected, "suppressed",
			 (json_int_t)s->suppressed);
}

static json_t *net_json(struct virtio_device *dev)
{
	struct net_stats s;

	net_get_stats(dev, &s);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
			 "tx_packets", (json_int_t)s.tx_packets, "tx_bytes", (json_int_t)s.tx_bytes,
			 "tx_dropped", (json_int_t)s.tx_dropped, "tx_errors",
			 (json_int_t)s.tx_errors, "rx_packets", (json_int_t)s.rx_packets,
			 "rx_bytes", (json_int_t)s.rx_bytes, "rx_dropped", (json_int_t)s.rx_dropped,
			 "rx_errors", (json_int_t)s.rx_errors, "rx_reads", (json_int_t)s.rx_reads,
			 "ctrl_ok", (json_int_t)s.ctrl_ok, "ctrl_err", (json_int_t)s.ctrl_err,
			 "tx_latency_us", hist_json(&s.tx_latency));
}

static json_t *blk_json(struct virtio_device *dev)
{
	json_t *requests = json_object();
	struct blk_stats s;

	blk_get_stats(dev, &s);
	for (unsigned int k = 0; k < BLK_REQ_KINDS; k++)
		json_object_set_new(requests, blk_req_kind_name(k),
				    json_integer((json_int_t)s.requests[k]));
	return json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:o}", "requests", requests,
			 "read_bytes", (json_int_t)s.read_bytes, "write_bytes",
			 (json_int_t)s.write_bytes, "ioerr", (json_int_t)s.ioerr, "unsupp",
			 (json_int_t)s.unsupp, "unanswered", (json_int_t)s.unanswered,
			 "latency_us", hist_json(&s.latency));
}

/* What each device model counts, by device type. */
static const struct {
	uint32_t type;
	json_t *(*counters)(struct virtio_device *dev);
} device_counters[] = {
	{ VIRTIO_ID_NET, net_json },
	{ VIRTIO_ID_BLOCK, blk_json },
};

/* The model's counters and the transport's interrupts (irqs NULL: none). */
static json_t *device_json(struct virtio_device *dev, const struct virtio_irq_stats *irqs)
{
	json_t *j = NULL;

	for (unsigned int t = 0; t < sizeof(device_counters) / sizeof(device_counters[0]); t++)
		if (dev->device_type == device_counters[t].type)
			j = device_counters[t].counters(dev);
	if (!j)
		j = json_object();
	if (irqs)
		json_object_set_new(j, "interrupts", irq_json(irqs));
	return j;
}

/* {"class or command": {"ack or status": count}}, leaving out what counted nothing. */
static json_t *matrix_json(const uint64_t *counts, unsigned int rows, unsigned int cols,
			   const char *const *row_names, const char *const *col_names)
{
	json_t *j = json_object();

	for (unsigned int r = 0; r < rows; r++) {
		json_t *row = json_object();

		for (unsigned int c = 0; c < cols; c++)
			if (counts[r * cols + c])
				json_object_set_new(row, col_names[c],
						    json_integer((json_int_t)counts[r * cols + c]));
		if (json_object_size(row))
			json_object_set_new(j, row_names[r], row);
		else
			json_decref(row);
	}
	return j;
}

static void managed_device_json(void *arg, const struct mgmt_dev_info *info,
				struct virtio_device *dev)
{
	json_t *j = device_json(dev, &info->irqs);

	json_object_set_new(j, "id", json_integer((json_int_t)info->id));
	json_object_set_new(j, "type", json_string(info->virtio_device_id == VIRTIO_ID_BLOCK ?
						   "block" : "net"));
	json_object_set_new(arg, info->backend, j);
}

json_t *metrics_mgmt_json(struct mgmt *m)
{
	struct mgmt_stats *s = malloc(sizeof(*s));
	json_t *devices = json_object(), *j;

	if (!s)
		return devices;
	mgmt_get_stats(m, s);
	mgmt_for_each_device(m, managed_device_json, devices);
	j = json_pack("{s:o, s:I, s:o, s:I, s:o, s:o}", "transportq",
		      matrix_json(&s->transportq[0][0], MGMT_TVQ_CLASSES, MGMT_TVQ_ACKS,
				  mgmt_tvq_class_names, mgmt_tvq_ack_names),
		      "transportq_unanswered", (json_int_t)s->transportq_unanswered, "adminq",
		      matrix_json(&s->adminq[0][0], MGMT_ADMIN_COMMANDS, MGMT_ADMIN_STATUSES,
				  mgmt_admin_command_names, mgmt_admin_status_names),
		      "adminq_unanswered", (json_int_t)s->adminq_unanswered, "interrupts",
		      irq_json(&s->irqs), "devices", devices);
	free(s);
	return j;
}

json_t *metrics_vm_json(struct vm *vm)
{
	const char *names[VCPU_EXIT_STATS];
	uint64_t counts[VCPU_EXIT_STATS];
	unsigned int n = vcpus_exit_stats(vm, names, counts);
	json_t *exits = json_object(), *devices = json_object(), *j;

	for (unsigned int i = 0; i < n; i++)
		json_object_set_new(exits, names[i], json_integer((json_int_t)counts[i]));
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		struct vm_virtio_dev *v = &vm->virtio[i];
		struct virtio_irq_stats irqs;

		if (!v->dev)
			continue;
		if (v->pci)
			virtio_pci_irq_stats(v->pci, &irqs);
		json_object_set_new(devices, v->name, device_json(v->dev, v->pci ? &irqs : NULL));
	}
	j = json_pack("{s:o, s:o}", "vcpu_exits", exits, "devices", devices);
	if (vm->mgmt)
		json_object_set_new(j, "mgmt", metrics_mgmt_json(vm->mgmt));
	return j;
}
