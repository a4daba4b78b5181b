/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One managed device: a transport-neutral device model (virtio/device.h) served through
 * the management device's transport virtqueue instead of virtio-pci. This file owns the
 * per-device transport state of docs/transport-vq.md section 7: status, feature
 * negotiation, the queues' setup and states (disabled / enabled / running), the MSI
 * entries (set, enabled, masked, pending; KVM MSI route + irqfd each), the doorbell
 * ioeventfds (one per queue, datamatch = queue index, on the device's slot page in the
 * doorbell BAR) and the virtio_transport_ops the model calls to raise interrupts.
 *
 * It executes the transportq commands of classes 3-14 (sections 6.8-6.19) for one
 * device; the management device (virtio/mgmt.c) frames requests, checks steps 1-7 of
 * 6.4, owns ids, slots, the backend pool and the MSI pool accounting, and serialises
 * commands per device.
 *
 * Threads and locks: managed_command, managed_reset, managed_destroy and
 * managed_doorbell_bar are called by one thread at a time per device (the management
 * device's command workers, or a vCPU thread for the management device's own reset),
 * never on one of the device's event loop threads, since they may wait for backend I/O.
 * managed_get_info and managed_set_* may be called concurrently with them (adminq):
 * md's state lock makes them atomic (and makes them wait while a command waits for
 * backend I/O). The model's loops call the transport ops (queue_interrupt,
 * config_interrupt, needs_reset), which take only the MSI leaf lock.
 * Lock order: md->lock -> the model's locks -> md's MSI lock -> hv lock.
 */
#ifndef VQVM_VIRTIO_MANAGED_H
#define VQVM_VIRTIO_MANAGED_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/hv.h"
#include "virtio/device.h"
#include "virtio/stats.h"

struct managed_dev;

struct managed_params {
	uint64_t id;               /* never 0 */
	uint16_t slot;             /* doorbell page index */
	uint64_t doorbell_offset;  /* slot * doorbell_stride: offset in the doorbell BAR */
	uint64_t doorbell_size;    /* doorbell_stride */
	uint64_t features_allowed; /* CREATE's mask; 0 = everything the model offers */
	uint64_t features_provisioned; /* DEVICE_MGMT resource 1 (all ones = no limit) */
	uint16_t msix_budget;      /* DEVICE_MGMT resource 0 */
};

/* What DEVICE_INFO (and the API) report; a consistent snapshot. */
struct managed_info {
	uint64_t device_features; /* offered: FEAT DEVICE_GET */
	uint64_t driver_features; /* accepted: FEAT DRIVER_GET */
	uint8_t status;
	uint16_t num_queues;
	uint16_t msix_budget;
	uint16_t msix_in_use;
	uint32_t config_size;
};

/*
 * Serve dev (a model that is idle: created, or reset) as a managed device. Sets
 * dev->transport. The doorbells are registered once managed_doorbell_bar says where
 * the BAR is. Each queue's kick watch is armed on its loop (virtio_queue_loop) through
 * evloop_call: waited for where that loop runs; a loop not started yet arms it when it
 * starts (pre-creation), and must not be started concurrently with this call. Fails if
 * a loop was stopped for good. Returns 0, or -1 with e set.
 */
int managed_create(struct managed_dev **out, struct virtio_device *dev,
		   const struct managed_params *p, const struct hv *hv, struct err *e);
/*
 * Reset the device (7.4), drop its ioeventfds, kick watches (waiting until their
 * cancellations were reaped on the loops), irqfds and MSI routes, and free the
 * transport. Does not destroy dev, which is idle afterwards and may be served again by
 * a new managed_create. After it returns nothing more is read from or written to guest
 * memory or the backend on the device's behalf and no interrupt is raised for it.
 * A loop stopped for good (evloop_stop) is not waited for: its watch is abandoned and
 * the loop must never run again. A loop neither running nor stopped (never started) is
 * waited for until it is one or the other: stop it first.
 */
void managed_destroy(struct managed_dev *md);
/*
 * Execute one transportq command of classes 3-14 whose header passed steps 1-7 of 6.4:
 * check the out-data length and reply room (step 8), then the command's own checks,
 * and carry it out. out/out_len: the out-data after the 16-byte header; in/in_cap: the
 * reply buffer after the 4-byte ack. Returns a TVQ_ACK_* code; *in_len gets the in-data
 * bytes written (0 unless OK). May wait for backend I/O (STATUS SET 0, VQ_RESET,
 * VQ_ENABLE SET 0).
 */
uint32_t managed_command(struct managed_dev *md, uint16_t class, uint16_t command,
			 const uint8_t *out, size_t out_len, uint8_t *in, size_t in_cap,
			 size_t *in_len);
/* STATUS SET 0 (7.4): for the management device's reset and for DESTROY. */
void managed_reset(struct managed_dev *md);
/*
 * The doorbell BAR is now at bar_gpa (mapped) or not decoded (!mapped): move or drop
 * the device's ioeventfds. Called at creation too, with the BAR's current state.
 */
void managed_doorbell_bar(struct managed_dev *md, uint64_t bar_gpa, bool mapped);
/*
 * A doorbell write that reached user space (its ioeventfd could not be registered, see
 * the log): signal queue q's kick as the ioeventfd would. Any thread, but not
 * concurrently with managed_destroy. q past the device's queues is ignored.
 */
void managed_kick(struct managed_dev *md, uint16_t q);
void managed_get_info(struct managed_dev *md, struct managed_info *info);
/*
 * Only status, msix_budget and msix_in_use of info, and unlike managed_get_info never
 * waiting for a command in progress (msi_lock only): for the host's listings, also on
 * a loop thread.
 */
void managed_get_state(struct managed_dev *md, struct managed_info *info);
/*
 * Interrupts since creation (virtio/stats.h), any thread: injected = irqfd writes (a
 * pending one sent at unmask included); suppressed = queue and config interrupts not
 * sent when raised (entry not set, disabled, masked: then pending; or a failed write).
 */
void managed_irq_stats(struct managed_dev *md, struct virtio_irq_stats *out);
/*
 * DEVICE_MGMT assign (8.7): only while the status is 0, else -EBUSY. The caller checked
 * the value against the pool. set_features returns the bits now offered in *offered.
 */
int managed_set_msix_budget(struct managed_dev *md, uint16_t budget);
int managed_set_features(struct managed_dev *md, uint64_t provisioned, uint64_t *offered);

#endif
