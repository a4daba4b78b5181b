/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio-pci modern transport (virtio 1.2 section 4.1): puts a transport-neutral
 * virtio_device (virtio/device.h) on PCI bus 0 as a non-transitional function that the
 * stock Linux virtio_pci driver binds.
 *
 * Identity: vendor 0x1AF4, device 0x1040 + virtio device type, revision 1, subsystem
 * 0x1AF4:0x0040 + type (the spec wants >= 0x40 for non-transitional devices), class
 * 0x020000 (net), 0x018000 (block), 0xff0000 (anything else). No INTx pin: MSI-X only.
 *
 * BAR0, 32-bit MMIO, 16 KiB, the virtio structures (one 4 KiB page each):
 *   0x0000 common config (0x3c bytes, virtio 1.2 layout with queue_reset)
 *   0x1000 ISR status (1 byte, read-to-clear)
 *   0x2000 device config (dev->config_size bytes, at most 4 KiB; no capability if 0)
 *   0x3000 notify: queue q's doorbell at 0x3000 + 4 * q (notify_off_multiplier 4,
 *          queue_notify_off = q), one KVM ioeventfd each (16-bit write, no datamatch)
 * BAR4, 32-bit MMIO, >= 4 KiB: the MSI-X table at 0 and the PBA at half the BAR.
 *   nr_queues + 1 vectors (the driver chooses which event uses which one).
 * Capabilities: COMMON, NOTIFY, ISR, DEVICE, PCI_CFG (the config-space window onto
 * the BARs, which works even with memory decoding off) and MSI-X.
 *
 * Hostile guests: every common-config field is accessed at its natural width only
 * (8-bit status and generation, 16-bit queue fields and vectors, 32-bit feature words
 * and ring address halves); any other access, or one outside a structure, reads 0 and
 * is ignored. Queue fields of a queue_select past num_queues read 0 and ignore writes.
 * queue_size and ring addresses of an enabled queue are read-only. Status bits are
 * sticky until the driver writes 0 (a driver cannot clear DRIVER_OK to "pause" the
 * device). The MSI-X table takes 4- and 8-byte aligned accesses, the PBA is read-only.
 *
 * Threads and locks. Config-space hooks run on vCPU threads under the PCI host lock,
 * BAR accesses on vCPU threads without it; queue q's kick eventfd is watched on
 * virtio_queue_loop(dev, q) (device.h), which dispatches its queue_notify, and the
 * device's interrupts come from its loops: one loop for every queue by default, one
 * per queue (each on its own thread) when the device has dev->queue_loops. Two locks
 * per transport, in this order:
 *
 *   PCI host lock -> vp->lock -> the device's own lock(s) -> vp->irq_lock -> hv lock
 *
 * vp->lock serialises the driver-facing state machine (common config, feature and
 * queue setup, status, BAR placement) and is held while calling dev->ops (reset,
 * activate, config_read/write, queue_reset). It is never taken on an event loop, so
 * dev->ops->reset may wait for the loops to finish in-flight I/O. vp->irq_lock is a
 * leaf lock for what the loops also touch: status, ISR, config generation, vector
 * assignments, the MSI-X table and PBA, and which queues take kicks; queue_interrupt,
 * config_interrupt and needs_reset only take it, so a device may call them with its own
 * lock held. Kicks reach dev->ops->queue_notify only for queues that were live when
 * the kick was read (after DRIVER_OK activated them, until reset); a kick racing a
 * reset must still be dropped by the device itself (its reset waits for queue_notify).
 *
 * Calls into the device: activate at DRIVER_OK, and again when the driver re-enables
 * a queue after a queue reset (VIRTIO_F_RING_RESET; activate must start the active
 * queues that are not running and leave running ones alone); queue_reset for
 * queue_reset = 1 once the device runs (RING_RESET is offered only if the device has
 * queue_reset); reset for device_status = 0 and at destruction. A failed activation
 * or an unusable ring sets DEVICE_NEEDS_RESET and raises the config interrupt.
 */
#ifndef VQVM_VIRTIO_PCI_H
#define VQVM_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/pci.h"
#include "lib/err.h"
#include "lib/hv.h"
#include "virtio/device.h"
#include "virtio/stats.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
#define VIRTIO_PCI_SUBSYS_BASE 0x0040

#define VIRTIO_PCI_BAR 0
#define VIRTIO_PCI_BAR_SIZE 0x4000
#define VIRTIO_PCI_COMMON_OFFSET 0x0000
#define VIRTIO_PCI_COMMON_SIZE 0x3c
#define VIRTIO_PCI_ISR_OFFSET 0x1000
#define VIRTIO_PCI_DEVICE_OFFSET 0x2000
#define VIRTIO_PCI_NOTIFY_OFFSET 0x3000
#define VIRTIO_PCI_NOTIFY_MULTIPLIER 4
#define VIRTIO_PCI_MSIX_BAR 4

#define VIRTIO_PCI_MAX_QUEUES 1024 /* doorbells fill the 4 KiB notify page */
#define VIRTIO_PCI_MAX_CONFIG 0x1000

struct virtio_pci;

/*
 * Wrap dev (ops, vqs with max_size set, config_size, mem and loop filled in, and
 * queue_loops if the queues get their own loops) in a PCI function and register it in
 * the first free slot of host. hv provides ioeventfds and MSI routes. Sets
 * dev->transport. Call before the device's loops run (or with a single loop, on its
 * thread): it starts watching queue q's kick eventfd on virtio_queue_loop(dev, q).
 */
int virtio_pci_create(struct virtio_pci **out, struct virtio_device *dev,
		      struct pci_host *host, const struct hv *hv, struct err *e);

/*
 * What a function that is not a plain virtio-pci device (the management device,
 * docs/transport-vq.md section 2) changes. Zero-initialised fields keep the
 * virtio_pci_create behaviour.
 */
struct virtio_pci_options {
	/* PCI identity instead of the one derived from dev->device_type. */
	bool identity;
	uint16_t vendor, device, subsys_vendor, subsys_id;
	uint32_t class_code;
	uint8_t revision;
	/*
	 * MSI-X: own_vectors (0: nr_queues + 1) entries behave as usual and are the only
	 * ones msix_config and queue_msix_vector accept; msix_pool more entries follow
	 * them, which store what the guest writes but never signal (PBA bits 0, mask bits
	 * without effect, no route). own_vectors + msix_pool <= VIRTIO_PCI_MSIX_MAX.
	 */
	unsigned int own_vectors;
	unsigned int msix_pool;
	/*
	 * An extra 32-bit MMIO BAR (index 1-3 or 5; 0: none) of extra_bar_size bytes (a
	 * power of two >= 4096) served by extra_bar_io. bar_remapped is told, with the PCI
	 * host lock held, whenever the guest moves it or (un)maps it.
	 */
	int extra_bar;
	uint64_t extra_bar_size;
	bus_io_fn extra_bar_io;
	void (*bar_remapped)(void *opaque, uint64_t addr, bool mapped);
	/*
	 * Optional: may FEATURES_OK stick for these driver features (already checked to be
	 * offered and to include VERSION_1)? Called on a vCPU thread with vp->lock held.
	 */
	bool (*features_ok)(void *opaque, uint64_t features);
	void *opaque;
};

#define VIRTIO_PCI_MSIX_MAX 2048

/* virtio_pci_create with options (NULL: none). */
int virtio_pci_create_ex(struct virtio_pci **out, struct virtio_device *dev,
			 struct pci_host *host, const struct hv *hv,
			 const struct virtio_pci_options *opt, struct err *e);
/*
 * Unregister the function, reset the device (dev->ops->reset: no more I/O or
 * interrupts), drop ioeventfds, irqfds and MSI routes, free the transport. Does not
 * destroy dev. Call with the vCPUs stopped, after every loop of the device (dev->loop
 * and each of dev->queue_loops) has stopped for good, on dev->loop's thread or, for
 * loops run by threads of their own, after those threads were joined (nothing else
 * may touch a ring while this submits to it): the kick watches are cancelled but their
 * final completions are never reaped, so no loop may run again (no hot-unplug yet).
 */
void virtio_pci_destroy(struct virtio_pci *vp);
/* The function's slot << 3 (for logs and the device tree). */
uint8_t virtio_pci_devfn(const struct virtio_pci *vp);
/*
 * Interrupts since creation (virtio/stats.h), any thread: injected = irqfd writes (a
 * pending vector sent at unmask included); suppressed = queue and config interrupts
 * not sent when raised (no vector, MSI-X off or masked: then pending; or the irqfd or
 * its route failed).
 */
void virtio_pci_irq_stats(const struct virtio_pci *vp, struct virtio_irq_stats *out);
/* Log (info) the status, the MSI-X vectors in use and each queue's kick state. */
void virtio_pci_log_state(struct virtio_pci *vp);

#endif
