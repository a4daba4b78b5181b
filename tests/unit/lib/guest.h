/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An in-process guest for tests and benchmarks: guest RAM (lib/guest_mem) with a bump
 * allocator, the PIO and MMIO buses with the PCI host, a KVM-like fake hypervisor
 * (fake_hv.h) through which every guest write goes, and the device models' event loop
 * on a thread of its own. On top, what a guest kernel does with them: PCI enumeration
 * and BAR setup through pci_config_read/write, MSI-X table programming, driver-side split
 * virtqueues in guest RAM, and a virtio-pci modern bring-up through the common config.
 *
 * Nothing here asserts: every function returns an error code, so that Criterion tests
 * and the benchmark (without Criterion) share it. Single-threaded: one driver thread.
 */
#ifndef VQVM_TESTS_GUEST_H
#define VQVM_TESTS_GUEST_H

#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/pci.h"
#include "lib/evloop.h"
#include "lib/guest_mem.h"
#include "tests/unit/lib/fake_hv.h"

#define TG_MSI_ADDR 0xfee00000ULL /* every test interrupt goes to CPU 0's LAPIC */
#define TG_ALLOC_BASE 0x100000ULL /* the bump allocator starts at 1 MiB */

struct test_guest {
	struct bus pio, mmio;
	struct pci_host host;
	struct guest_mem mem;
	struct fake_hv *hv;
	struct evloop loop; /* the device models' loop */
	pthread_t loop_thread;
	bool loop_running;
	uint64_t next, end; /* bump allocator over low RAM */
	uint64_t mmio_reads, mmio_writes, cfg_accesses; /* what would be VM exits */
};

/* RAM of ram_size bytes (below the PCI hole), buses, PCI host, fake hv, loop (idle). */
int tg_init(struct test_guest *g, uint64_t ram_size);
/* Run the models' loop on its thread (after the transports that need it idle exist). */
int tg_start_loop(struct test_guest *g);
/* Stop the loop for good and join its thread. */
void tg_stop_loop(struct test_guest *g);
/* Everything else; the transports must be gone. */
void tg_fini(struct test_guest *g);

/* size bytes of zeroed guest RAM aligned to align (a power of two); 0 when exhausted. */
uint64_t tg_alloc(struct test_guest *g, uint64_t size, uint64_t align);
/* Host view of [gpa, gpa + len), NULL outside RAM. */
void *tg_ptr(struct test_guest *g, uint64_t gpa, uint64_t len);

/* Guest MMIO accesses (writes through the fake hv: ioeventfds first). */
uint64_t tg_rd(struct test_guest *g, uint64_t addr, uint32_t len);
void tg_wr(struct test_guest *g, uint64_t addr, uint64_t val, uint32_t len);

/* ---- PCI ---- */

struct tg_pci {
	uint8_t devfn;
	uint64_t bar[PCI_NR_BARS], bar_size[PCI_NR_BARS];
	uint32_t msix_cap;     /* offset in config space, 0: none */
	uint16_t msix_entries; /* table size */
	uint64_t msix_table, msix_pba;
};

uint32_t tg_cfg_rd(struct test_guest *g, uint8_t devfn, uint32_t off, uint32_t len);
void tg_cfg_wr(struct test_guest *g, uint8_t devfn, uint32_t off, uint32_t len, uint32_t v);
/* The index-th function with these ids on bus 0: 0 and *devfn, or -ENODEV. */
int tg_pci_find(struct test_guest *g, uint16_t vendor, uint16_t device, unsigned int index,
		uint8_t *devfn);
/* First capability with this id (and, if cfg_type >= 0, this virtio cfg_type); 0: none. */
uint32_t tg_pci_cap(struct test_guest *g, uint8_t devfn, uint8_t id, int cfg_type);
/*
 * Firmware and OS work: size the BARs (all-ones probe), enable memory decoding and bus
 * mastering, locate the MSI-X table and PBA, and enable MSI-X with every entry masked.
 */
int tg_pci_setup(struct test_guest *g, uint8_t devfn, struct tg_pci *p);
/* Program MSI-X table entry i. */
void tg_msix_set(struct test_guest *g, const struct tg_pci *p, unsigned int i, uint64_t addr,
		 uint32_t data, bool masked);

/* ---- driver-side split virtqueues ---- */

struct tg_sg {
	uint64_t gpa;
	uint32_t len;
	bool write; /* device-writable */
};

struct tg_vring {
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t free_head, nr_free;
	uint16_t avail_idx; /* next avail entry the driver fills */
	uint16_t last_used; /* next used entry the driver reads */
	uint64_t notify;    /* its doorbell: the le16 queue index is written there */
	/* Per head: completed (seen in the used ring) and not reaped yet, and its length. */
	bool *done;
	uint32_t *used_len;
	uint16_t *chain; /* per head: descriptors in its chain */
};

/* Rings of size entries (power of two) in guest RAM; host bookkeeping. 0 or -errno. */
int tg_vring_init(struct test_guest *g, struct tg_vring *vr, uint16_t size);
/* Forget every buffer (after the device reset the queue) and zero the rings. */
void tg_vring_reset(struct tg_vring *vr);
void tg_vring_free(struct tg_vring *vr);
/* The head the next tg_vring_add will use (valid while nr_free > 0). */
static inline uint16_t tg_vring_next_head(const struct tg_vring *vr)
{
	return vr->free_head;
}
/*
 * Chain n buffers (device-readable ones first, as the caller orders them) and make the
 * chain available. 0 and *head, or -ENOSPC.
 */
int tg_vring_add(struct tg_vring *vr, const struct tg_sg *sg, unsigned int n, uint16_t *head);
/* Read new used entries into done[]; returns how many. */
unsigned int tg_vring_collect(struct tg_vring *vr);
/* If head completed: free its descriptors, *len = used length, true. */
bool tg_vring_reap(struct tg_vring *vr, uint16_t head, uint32_t *len);
/* Used entries the device published so far (used->idx). */
uint16_t tg_vring_used_idx(const struct tg_vring *vr);
/* Linux's vp_notify: a 2-byte write of the queue index q at vr->notify. */
void tg_vring_kick(struct test_guest *g, const struct tg_vring *vr, uint16_t q);

/* ---- virtio-pci modern ---- */

struct tg_vpci {
	struct tg_pci pci;
	uint64_t common, notify, isr, device; /* addresses of the virtio structures */
	uint32_t notify_mult;
	unsigned int nr_queues;
	struct tg_vring *vq; /* nr_queues of them, set up by tg_vpci_start */
};

/* PCI setup and the virtio capabilities. 0 or -errno. */
int tg_vpci_open(struct test_guest *g, uint8_t devfn, struct tg_vpci *vp);
uint64_t tg_vpci_device_features(struct test_guest *g, struct tg_vpci *vp);
uint8_t tg_vpci_status(struct test_guest *g, struct tg_vpci *vp);
void tg_vpci_set_status(struct test_guest *g, struct tg_vpci *vp, uint8_t s);
/*
 * virtio 1.x bring-up as Linux's virtio_pci does it: reset, ACKNOWLEDGE, DRIVER,
 * features, FEATURES_OK (read back), config vector, then for each of nq queues
 * (vq[0..nq-1], rings allocated on first use and reset later) size, rings, vector,
 * enable, with vq[i].notify set to the queue's doorbell; DRIVER_OK. Vectors: cfg_vector
 * for config changes, q_vector for every queue (0xffff: none). Returns 0, -EIO if FEATURES_OK did not stick or the device wants a
 * reset, -EINVAL if a queue cannot have qsize.
 */
int tg_vpci_start(struct test_guest *g, struct tg_vpci *vp, uint64_t features,
		  struct tg_vring *vq, unsigned int nq, uint16_t qsize, uint16_t cfg_vector,
		  uint16_t q_vector);

/*
 * Wait for head on vr: collect used entries, and between looks wait for interrupts
 * (fake_hv_wait) up to timeout_ms in all. 0 with *len, or -ETIMEDOUT.
 */
int tg_vring_wait(struct test_guest *g, struct tg_vring *vr, uint16_t head, int timeout_ms,
		  uint32_t *len);
/* Milliseconds on CLOCK_MONOTONIC. */
int64_t tg_now_ms(void);

#endif
