/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the management device, shared by its files:
 *   mgmt.c        the PCI function's device model, its two queues, the command workers,
 *                 the management device's reset, creation and destruction;
 *   mgmt_host.c   the rest of the host API (virtio/mgmt.h): backends, removal, listing;
 *   mgmt_tvq.c    the transportq: framing and checks 1-7 of 6.4, VDEV CREATE/DESTROY,
 *                 AVAIL_RES GET, managed-device creation and teardown;
 *   mgmt_admin.c  the adminq (section 8).
 * Locks and their order are described at the top of mgmt.c.
 */
#ifndef VQVM_VIRTIO_MGMT_INT_H
#define VQVM_VIRTIO_MGMT_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/managed.h"
#include "virtio/mgmt.h"
#include "virtio/pci.h"
#include "virtio/tvq_proto.h"

#define MGMT_NAME "mgmt" /* in logs */
#define MGMT_WORKERS 2
#define MGMT_MAX_IOV 512 /* buffers of one chain the queues take (more: used length 0) */
#define MGMT_MAX_BACKENDS TVQ_MAX_MANAGED_LIMIT
#define MGMT_NAME_MAX 32 /* DEVICE_INFO backend_name, NUL included */

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* The longest request either queue can take: CONFIG SET of 4096 bytes. */
#define MGMT_REQ_MAX (sizeof(struct tvq_req_hdr) + 8 + TVQ_CONFIG_MAX)
/* The most data a reply carries after its header: CONFIG GET, DEVICE_MGMT_CAPS. */
#define MGMT_TVQ_IN_MAX TVQ_CONFIG_MAX
#define MGMT_ADMIN_RESULT_MAX sizeof(struct tvq_admin_device_mgmt_caps_result)

struct mgmt;

/* Something for a worker to run, on m->jobs. */
struct mgmt_job {
	struct mgmt_job *next;
	void (*run)(struct mgmt *m, struct mgmt_job *job);
};

/* One popped chain, from the loop that pops it to the worker that completes it. */
struct mgmt_cmd {
	struct mgmt_job job;
	struct mgmt_cmd *next; /* in a managed device's FIFO */
	unsigned int queue;    /* TVQ_QUEUE_TRANSPORTQ or TVQ_QUEUE_ADMINQ */
	uint16_t head;
	uint64_t req_len;      /* the request's length; only MGMT_REQ_MAX bytes are kept */
	_Alignas(8) uint8_t req[MGMT_REQ_MAX];
	struct iovec *in_iov;  /* the device-writable buffers (guest RAM) */
	unsigned int nr_in;
	uint64_t in_len;       /* their total length */
	uint8_t *reply;        /* the reply as it will be written */
	size_t reply_cap;      /* min(in_len, header + the most data a reply has) */
	size_t used;           /* bytes of reply to write: the used length */
};

enum mgmt_backend_state {
	MGMT_BE_FREE,      /* in the pool */
	MGMT_BE_USED,      /* bound to a managed device (or being bound by a CREATE) */
	MGMT_BE_RELEASING, /* its device is being destroyed: back in the pool soon */
};

struct mgmt_backend {
	struct mgmt_backend *next; /* provisioning order */
	struct virtio_device *dev;
	char name[MGMT_NAME_MAX];
	enum mgmt_backend_state state;
	uint8_t mac[6];            /* net: the backend's own MAC, restored on reuse */
};

/* A managed device: what the management device keeps about it besides managed.c. */
struct mgmt_vdev {
	struct mgmt *m;
	uint64_t id;
	uint16_t slot;
	uint8_t origin;            /* TVQ_ORIGIN_* */
	bool removal_requested;
	bool gone;                 /* the id is invalid (destroyed or being destroyed) */
	unsigned int users;        /* adminq and API threads using md (mgmt_vd_get) */
	uint16_t msix_budget;
	uint64_t features_provisioned;
	struct mgmt_backend *be;
	struct managed_dev *md;
	pthread_mutex_t mgmt_lock; /* DEVICE_MGMT assigns one at a time */

	/* The runner: one job at a time per device, in order (5.3). */
	struct mgmt_job job;
	bool scheduled;            /* the runner is queued or running */
	bool bar_dirty;            /* the doorbell BAR moved: tell managed.c first */
	bool force_destroy;        /* removal timed out: destroy before anything else */
	struct mgmt_cmd *fifo, **fifo_tail;
};

struct mgmt_queue {
	pthread_mutex_t lock; /* the virtqueue: pops (loop) and pushes (workers) */
	bool live;            /* commands are taken and replies written */
	bool pushed;          /* used entries since the last interrupt decision */
};

struct mgmt_removal {
	struct evloop_op op; /* the timer, on the management device's loop */
	struct evloop_call call;
	struct __kernel_timespec ts;
	struct mgmt *m;
	uint64_t id;
	struct mgmt_removal *next;
};

struct mgmt {
	struct virtio_device dev; /* the management device's own model */
	struct virtqueue vqs[TVQ_NUM_QUEUES];
	struct mgmt_queue q[TVQ_NUM_QUEUES];
	struct virtio_pci *vp;
	struct pci_host *host;
	struct hv hv;
	const struct guest_mem *mem;
	struct mgmt_params p;
	uint16_t per_device_max;
	struct evloop loop;
	struct iovec iov[MGMT_MAX_IOV]; /* the loop thread's, for vq_pop */
	bool loop_ready;
	pthread_t loop_thread;
	bool loop_running;
	pthread_t workers[MGMT_WORKERS];
	unsigned int nr_workers;

	pthread_mutex_t create_lock; /* creations one at a time: ids without gaps */
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t work_cond;  /* a job was queued, or the pause ended */
	pthread_cond_t idle_cond;  /* a job finished while paused */
	pthread_cond_t users_cond; /* a vd's users dropped to 0 */
	struct mgmt_job *jobs, **jobs_tail;
	unsigned int running;      /* jobs executing */
	bool paused, quit;
	uint64_t features;         /* negotiated: set at DRIVER_OK, 0 after reset */
	bool driver_seen;          /* a driver got FEATURES_OK: changes bump the generation */
	uint64_t next_id;
	struct mgmt_vdev **slot;   /* p.max_managed */
	struct mgmt_backend *backends, **backends_tail;
	unsigned int nr_backends;
	uint32_t msix_assigned;    /* sum of the budgets of existing devices */
	uint64_t model_features;   /* union of the backends' feature bits (DEVICE_MGMT_ATTRS) */
	uint64_t bar_addr;         /* the doorbell BAR */
	bool bar_mapped;
	struct mgmt_removal *removals;
	uint32_t generation;       /* managed_generation; atomic for config reads */

	/* Counters (mgmt_get_stats): relaxed atomics (stats.h), no lock. */
	uint64_t tvq_acks[MGMT_TVQ_CLASSES][MGMT_TVQ_ACKS];
	uint64_t admin_statuses[MGMT_ADMIN_COMMANDS][MGMT_ADMIN_STATUSES];
	uint64_t unanswered[TVQ_NUM_QUEUES];
};

/* ---- mgmt.c ---- */
void mgmt_job_queue(struct mgmt *m, struct mgmt_job *job);         /* m->lock held */
void mgmt_vd_schedule(struct mgmt_vdev *vd);                       /* m->lock held */
struct mgmt_vdev *mgmt_vd_find(struct mgmt *m, uint64_t id);       /* m->lock held */
struct mgmt_vdev *mgmt_vd_get(struct mgmt *m, uint64_t id);
void mgmt_vd_put(struct mgmt_vdev *vd);
/* References to every existing device into out (p.max_managed entries); how many. */
unsigned int mgmt_vd_get_all(struct mgmt *m, struct mgmt_vdev **out);
uint64_t mgmt_features(struct mgmt *m);
/* managed_generation + 1 and the config interrupt (no lock held). */
void mgmt_changed(struct mgmt *m);
uint16_t mgmt_default_budget(const struct mgmt *m, const struct virtio_device *dev);
void mgmt_backend_unlink(struct mgmt *m, struct mgmt_backend *be); /* m->lock held */
void mgmt_backend_free(struct mgmt_backend *be);                   /* destroys the model */
/* Write the reply (if the queue is still live), free the command. */
void mgmt_cmd_complete(struct mgmt *m, struct mgmt_cmd *c);

/* ---- mgmt_tvq.c ---- */
/*
 * On the loop, mq->lock held: checks 2-7, then queue it for a worker (true), or answer
 * it at once (false: c->used is set, the caller returns the chain).
 */
bool mgmt_tvq_dispatch(struct mgmt *m, struct mgmt_cmd *c);
/* A worker: execute a command with device_id 0, or vd's next command. */
void mgmt_tvq_run(struct mgmt *m, struct mgmt_job *job);
void mgmt_tvq_exec_vd(struct mgmt_vdev *vd, struct mgmt_cmd *c);
/* Create a managed device on be (reserved by the caller: state USED). */
uint32_t mgmt_vdev_create(struct mgmt *m, struct mgmt_backend *be, uint8_t origin,
			  uint64_t features_allowed, const uint8_t *mac, uint64_t *id);
/* vd->gone is set, in vd's runner: destroy it and release what it held. */
void mgmt_vdev_teardown(struct mgmt_vdev *vd);
/* Before a forced teardown: stop its queues as VQ_ENABLE SET 0 does (7.6, 9.4). */
void mgmt_vdev_quiesce(struct mgmt_vdev *vd);

/* ---- mgmt_admin.c ---- */
void mgmt_admin_run(struct mgmt *m, struct mgmt_job *job);
/*
 * One adminq request (header + data) into reply (header + result) on the caller's
 * thread; returns the used length. For the workers, and for tests.
 */
size_t mgmt_admin_exec(struct mgmt *m, const uint8_t *req, uint64_t req_len, uint8_t *reply,
		       size_t cap);

#endif
