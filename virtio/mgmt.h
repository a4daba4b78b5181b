/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The management device (docs/transport-vq.md, normative): a virtio 1.x PCI function
 * (1AF4:10F0) whose queue 0 is the transport virtqueue and queue 1 the admin virtqueue.
 * It owns the backend pool (device models provisioned by the host), the slots and their
 * doorbell pages (BAR2), the MSI-X pool accounting (BAR4), managed-device ids, and
 * managed_generation; each managed device's own transport state is virtio/managed.c.
 *
 * Threads: its two queues are served on a loop and thread of its own ("mgmt"), and
 * commands run on its worker threads, so a vCPU never waits for a command, commands for
 * different devices complete out of order, and commands that wait for backend I/O
 * (DESTROY, STATUS SET 0, VQ_RESET, VQ_ENABLE SET 0) hold up nothing else. Commands for
 * one device run one at a time in available-ring order (5.3). Managed devices' queues
 * run on the loops their models were created with.
 */
#ifndef VQVM_VIRTIO_MGMT_H
#define VQVM_VIRTIO_MGMT_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/pci.h"
#include "lib/err.h"
#include "lib/evloop.h"
#include "lib/guest_mem.h"
#include "lib/hv.h"
#include "virtio/device.h"
#include "virtio/stats.h"

#define MGMT_DEFAULT_MAX_MANAGED 64
#define MGMT_DEFAULT_REMOVAL_TIMEOUT_MS 10000 /* docs/transport-vq.md 3 (vqvm: 10000) */

struct mgmt;

struct mgmt_params {
	unsigned int max_managed;        /* slots: 1..TVQ_MAX_MANAGED_LIMIT (0: default) */
	unsigned int msix_pool_size;     /* MSI-X pool entries, fixed for the VM's life: the
					  * caller sizes it for every backend it may add */
	unsigned int per_device_max_msix; /* largest budget of one device; 0: the pool size */
	bool precreate;                  /* a managed device for every backend added */
	uint32_t removal_timeout_ms;     /* 0: the default */
};

/*
 * Build the management PCI function and register it on host (first free slot); start
 * its own loop and worker threads. mem is guest RAM, hv gives ioeventfds and MSI routes.
 * Call before the vCPUs run (PCI has no hotplug here), from the thread that builds the
 * machine. Returns 0, or -1 with e set.
 */
int mgmt_create(struct mgmt **out, const struct mgmt_params *p, struct pci_host *host,
		const struct hv *hv, const struct guest_mem *mem, struct err *e);
/*
 * Provision a backend, from any thread: dev is an idle device model (blk_create or
 * net_create, not served by virtio-pci), owned by the management device from now on
 * (it destroys it). name (at most 31 bytes, unique) is the backend name DEVICE_INFO
 * reports. With precreate, a managed device is created for it at once (origin host):
 * before the guest runs, or while it runs (hot-add: generation bump and config
 * interrupt). On success *id gets the new device's id (0 if none was created). Returns
 * 0, or -1 with e set (no slot, no MSI vectors, pool full); on failure dev stays the
 * caller's.
 */
int mgmt_add_backend(struct mgmt *m, struct virtio_device *dev, const char *name,
		     uint64_t *id, struct err *e);
/*
 * Host removal (section 9.4) of the managed device id, from any thread: sets its
 * removal_requested, bumps managed_generation and raises the config interrupt; if the
 * guest has not destroyed it removal_timeout_ms later, the device destroys it itself.
 * Either way its backend then leaves vqvm (the model is destroyed). A second request
 * for the same device changes nothing. Returns 0, or -1 with e set (no such device).
 */
int mgmt_remove(struct mgmt *m, uint64_t id, struct err *e);
/*
 * Remove a backend that serves no managed device (the pool's, with precreate off, or
 * after the guest destroyed its device): its model is destroyed. -1 with e set if it
 * does not exist or serves a device (remove that with mgmt_remove).
 */
int mgmt_remove_backend(struct mgmt *m, const char *name, struct err *e);

/* One managed device as the API lists it (a consistent snapshot per device). */
struct mgmt_dev_info {
	uint64_t id;
	uint16_t slot;
	uint8_t origin;            /* TVQ_ORIGIN_HOST (pre-created, hot-added) or _CREATE */
	bool removal_requested;
	uint32_t virtio_device_id; /* 1 net, 2 block */
	uint8_t status;            /* its device status byte */
	uint16_t msix_budget, msix_in_use;
	char backend[32];          /* the name given to mgmt_add_backend */
	struct virtio_irq_stats irqs; /* its interrupts (managed_irq_stats) */
};

/*
 * Fill out[0..max) with the existing managed devices (slot order); returns how many.
 * Any thread, the VMM's loops included: it never waits for a device's command in
 * progress (one may wait for backend I/O on a loop).
 */
unsigned int mgmt_list(struct mgmt *m, struct mgmt_dev_info *out, unsigned int max);
/*
 * Call fn for each existing managed device (slot order), from any thread, holding a
 * reference that keeps the device and its model alive during the call (a DESTROY or
 * removal waits for it): dev is the backend's device model, for its own counters
 * (blk_get_stats, net_get_stats). fn must be quick and must not call into m. Never
 * waits for a device's command in progress, as mgmt_list.
 */
void mgmt_for_each_device(struct mgmt *m,
			  void (*fn)(void *arg, const struct mgmt_dev_info *info,
				     struct virtio_device *dev),
			  void *arg);

/*
 * Commands answered since creation, for metrics. A command counts when its reply is
 * written (or would be: a reset that ran meanwhile drops the reply, not the count).
 * transportq is indexed by the request's class (0: a header too short or a class past
 * the last) and the ack; adminq by the command (MGMT_ADMIN_COMMANDS - 1: a header too
 * short or a command past the last) and the status. The names are the JSON keys.
 */
#define MGMT_TVQ_CLASSES 15    /* 0, then TVQ_CLASS_VDEV (1) .. TVQ_CLASS_ASID (14) */
#define MGMT_TVQ_ACKS 9
#define MGMT_ADMIN_COMMANDS 8  /* TVQ_ADMIN_CMD_* (0-6), then the others */
#define MGMT_ADMIN_STATUSES 5  /* TVQ_ADMIN_STATUS_* */

extern const char *const mgmt_tvq_class_names[MGMT_TVQ_CLASSES];
extern const char *const mgmt_tvq_ack_names[MGMT_TVQ_ACKS];
extern const char *const mgmt_admin_command_names[MGMT_ADMIN_COMMANDS];
extern const char *const mgmt_admin_status_names[MGMT_ADMIN_STATUSES];

struct mgmt_stats {
	uint64_t transportq[MGMT_TVQ_CLASSES][MGMT_TVQ_ACKS];
	uint64_t adminq[MGMT_ADMIN_COMMANDS][MGMT_ADMIN_STATUSES];
	/* Chains returned with used length 0 (a reply buffer under the reply header, too
	 * many buffers, out of memory), per queue. */
	uint64_t transportq_unanswered, adminq_unanswered;
	struct virtio_irq_stats irqs; /* the management device's own PCI function */
};

/* A reading of the counters (virtio/stats.h), from any thread. */
void mgmt_get_stats(struct mgmt *m, struct mgmt_stats *out);
/*
 * Stop the threads, destroy every managed device and backend, unregister, free. Call
 * with the vCPUs stopped and while the loops of the backends' models still run
 * (managed_destroy waits for their cancellations there).
 */
void mgmt_destroy(struct mgmt *m);
/* The function's slot << 3 (for logs and the device tree). */
uint8_t mgmt_devfn(const struct mgmt *m);

#endif
