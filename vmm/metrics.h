/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metrics (PUT /metrics): one JSON object per line to a file or FIFO, written every
 * interval, on FlushMetrics and when vqvm exits (by the caller, or metrics_destroy).
 * What a line holds comes from a collect callback (the controller: API counters, and
 * the VM's with metrics_vm_json). Writes never block: the file is opened O_NONBLOCK (a
 * FIFO with O_RDWR, so no reader is needed) and a line a full FIFO does not take is
 * dropped and counted.
 *
 * Threads: a "metrics" thread does the periodic writes; metrics_flush may be called
 * from any thread. m->lock is a leaf except around collect, which may take the
 * controller's lock (order: metrics lock -> controller lock). The counters are relaxed
 * atomics (virtio/stats.h) read without the devices' locks; listing the managed devices
 * takes only the management device's short-held lock, never a lock a command holds
 * across backend I/O (mgmt_for_each_device).
 */
#ifndef VQVM_VMM_METRICS_H
#define VQVM_VMM_METRICS_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

struct vm;
struct mgmt;

#define METRICS_DEFAULT_INTERVAL_MS 60000 /* as Firecracker's */
#define METRICS_MAX_INTERVAL_S 86400      /* PUT /metrics flush_interval_s: 1 s to a day */

struct metrics {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fd;                  /* -1: not configured */
	unsigned int interval_ms;
	bool thread_started, stop;
	pthread_t thread;
	/* Fills in the line (an object it may add to); called under m->lock. */
	void (*collect)(void *arg, json_t *line);
	void *arg;
	uint64_t lines, dropped;
};

void metrics_init(struct metrics *m, void (*collect)(void *arg, json_t *line), void *arg);
/*
 * Write to path from now on (replacing an earlier file), a line every interval_ms (0:
 * METRICS_DEFAULT_INTERVAL_MS), the first one interval_ms from now.
 */
int metrics_open(struct metrics *m, const char *path, unsigned int interval_ms,
		 struct err *e);
/* Write a line now; -1 with e set if no file is configured or the write failed. */
int metrics_flush(struct metrics *m, struct err *e);
/* Stop the thread, close the file; write a last line first if last_line. */
void metrics_destroy(struct metrics *m, bool last_line);
/*
 * The VM's counters (docs/api.md, metrics): vCPU exits by reason; per virtio-pci device
 * its model's counters and its interrupts; the management device's commands and
 * interrupts, and per managed device the same as for a virtio-pci one.
 */
json_t *metrics_vm_json(struct vm *vm);
/* The management device's part of it ("mgmt"). */
json_t *metrics_mgmt_json(struct mgmt *m);

#endif
