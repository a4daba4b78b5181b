// SPDX-License-Identifier: Apache-2.0
/*
 * The in-process guest of guest.h. Ring layout and barriers are the driver's half of
 * virtio 1.2 section 2.7: descriptors and the available entry are written before a
 * release store of avail->idx; used->idx is read with acquire before its entries.
 */
#include "tests/unit/lib/guest.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCI_COMMAND 0x04
#define PCI_CMD_IO 0x1
#define PCI_CMD_MEM 0x2
#define PCI_CMD_MASTER 0x4
#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_CAP_PTR 0x34
#define PCI_BAR0 0x10
#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VNDR 0x09
#define MSIX_CTL_ENABLE 0x8000
#define MSIX_CTL_FMASK 0x4000
#define MSIX_ENTRY_SIZE 16
#define WAIT_SLICE_MS 2

static void *loop_main(void *arg)
{
	evloop_run(arg);
	return NULL;
}

int tg_init(struct test_guest *g, uint64_t ram_size)
{
	int ret;

	memset(g, 0, sizeof(*g));
	if (ram_size > GUEST_MEM_HOLE_START)
		return -EINVAL;
	ret = bus_init(&g->pio, "pio");
	if (ret)
		return ret;
	ret = bus_init(&g->mmio, "mmio");
	if (ret)
		goto err_pio;
	ret = pci_host_init(&g->host, &g->pio, &g->mmio);
	if (ret)
		goto err_mmio;
	ret = guest_mem_init(&g->mem, ram_size);
	if (ret)
		goto err_host;
	ret = fake_hv_create(&g->hv, &g->pio, &g->mmio);
	if (ret)
		goto err_mem;
	ret = evloop_init(&g->loop, 1024);
	if (ret)
		goto err_hv;
	g->next = TG_ALLOC_BASE;
	g->end = guest_mem_low_end(&g->mem);
	return 0;

err_hv:
	fake_hv_destroy(g->hv);
err_mem:
	guest_mem_free(&g->mem);
err_host:
	pci_host_destroy(&g->host);
err_mmio:
	bus_destroy(&g->mmio);
err_pio:
	bus_destroy(&g->pio);
	return ret;
}

int tg_start_loop(struct test_guest *g)
{
	int ret = pthread_create(&g->loop_thread, NULL, loop_main, &g->loop);

	g->loop_running = !ret;
	return -ret;
}

void tg_stop_loop(struct test_guest *g)
{
	if (!g->loop_running)
		return;
	evloop_stop(&g->loop);
	pthread_join(g->loop_thread, NULL);
	g->loop_running = false;
}

void tg_fini(struct test_guest *g)
{
	tg_stop_loop(g);
	evloop_destroy(&g->loop);
	fake_hv_destroy(g->hv);
	guest_mem_free(&g->mem);
	pci_host_destroy(&g->host);
	bus_destroy(&g->mmio);
	bus_destroy(&g->pio);
}

uint64_t tg_alloc(struct test_guest *g, uint64_t size, uint64_t align)
{
	uint64_t gpa = (g->next + align - 1) & ~(align - 1);

	if (!size || gpa > g->end || size > g->end - gpa)
		return 0;
	g->next = gpa + size;
	memset(tg_ptr(g, gpa, size), 0, size);
	return gpa;
}

void *tg_ptr(struct test_guest *g, uint64_t gpa, uint64_t len)
{
	return guest_mem_ptr(&g->mem, gpa, len);
}

uint64_t tg_rd(struct test_guest *g, uint64_t addr, uint32_t len)
{
	g->mmio_reads++;
	return fake_hv_read(g->hv, false, addr, len);
}

void tg_wr(struct test_guest *g, uint64_t addr, uint64_t val, uint32_t len)
{
	g->mmio_writes++;
	fake_hv_write(g->hv, false, addr, val, len);
}

int64_t tg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ---- PCI ---- */

uint32_t tg_cfg_rd(struct test_guest *g, uint8_t devfn, uint32_t off, uint32_t len)
{
	g->cfg_accesses++;
	return pci_config_read(&g->host, devfn, off, len);
}

void tg_cfg_wr(struct test_guest *g, uint8_t devfn, uint32_t off, uint32_t len, uint32_t v)
{
	g->cfg_accesses++;
	pci_config_write(&g->host, devfn, off, len, v);
}

int tg_pci_find(struct test_guest *g, uint16_t vendor, uint16_t device, unsigned int index,
		uint8_t *devfn)
{
	for (unsigned int slot = 0; slot < PCI_MAX_DEVICES; slot++) {
		uint32_t id = tg_cfg_rd(g, slot << 3, 0, 4);

		if (id == ((uint32_t)device << 16 | vendor) && index-- == 0) {
			*devfn = slot << 3;
			return 0;
		}
	}
	return -ENODEV;
}

uint32_t tg_pci_cap(struct test_guest *g, uint8_t devfn, uint8_t id, int cfg_type)
{
	int guard = 0;

	if (!(tg_cfg_rd(g, devfn, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST))
		return 0;
	for (uint32_t p = tg_cfg_rd(g, devfn, PCI_CAP_PTR, 1); p && guard < 48; guard++) {
		if (tg_cfg_rd(g, devfn, p, 1) == id &&
		    (cfg_type < 0 || tg_cfg_rd(g, devfn, p + 3, 1) == (uint32_t)cfg_type))
			return p;
		p = tg_cfg_rd(g, devfn, p + 1, 1);
	}
	return 0;
}

static void size_bars(struct test_guest *g, struct tg_pci *p)
{
	for (int i = 0; i < PCI_NR_BARS; i++) {
		uint32_t reg = PCI_BAR0 + 4 * i, lo = tg_cfg_rd(g, p->devfn, reg, 4), hi = 0;
		uint64_t mask;

		tg_cfg_wr(g, p->devfn, reg, 4, 0xffffffff);
		mask = tg_cfg_rd(g, p->devfn, reg, 4) & ~0xfULL;
		tg_cfg_wr(g, p->devfn, reg, 4, lo);
		if (!mask || (lo & 1))
			continue; /* unimplemented, or port I/O (unused here) */
		if ((lo & 0x6) == 0x4 && i + 1 < PCI_NR_BARS) { /* 64-bit: the upper half */
			hi = tg_cfg_rd(g, p->devfn, reg + 4, 4);
			tg_cfg_wr(g, p->devfn, reg + 4, 4, 0xffffffff);
			mask |= (uint64_t)tg_cfg_rd(g, p->devfn, reg + 4, 4) << 32;
			tg_cfg_wr(g, p->devfn, reg + 4, 4, hi);
		} else {
			mask |= ~0ULL << 32;
		}
		p->bar[i] = ((uint64_t)hi << 32) | (lo & ~0xfU);
		p->bar_size[i] = ~mask + 1;
		i += (lo & 0x6) == 0x4;
	}
}

int tg_pci_setup(struct test_guest *g, uint8_t devfn, struct tg_pci *p)
{
	uint32_t cap, ctl, tab, pba, cmd;

	memset(p, 0, sizeof(*p));
	p->devfn = devfn;
	if (tg_cfg_rd(g, devfn, 0, 4) == 0xffffffff)
		return -ENODEV;
	/* Size the BARs with decoding off, as firmware does: the probe moves them. */
	cmd = tg_cfg_rd(g, devfn, PCI_COMMAND, 2);
	tg_cfg_wr(g, devfn, PCI_COMMAND, 2, cmd & ~(PCI_CMD_MEM | PCI_CMD_IO));
	size_bars(g, p);
	tg_cfg_wr(g, devfn, PCI_COMMAND, 2, cmd | PCI_CMD_MEM | PCI_CMD_MASTER);
	cap = tg_pci_cap(g, devfn, PCI_CAP_ID_MSIX, -1);
	if (!cap)
		return 0;
	ctl = tg_cfg_rd(g, devfn, cap + 2, 2);
	tab = tg_cfg_rd(g, devfn, cap + 4, 4);
	pba = tg_cfg_rd(g, devfn, cap + 8, 4);
	if ((tab & 7) >= PCI_NR_BARS || (pba & 7) >= PCI_NR_BARS || !p->bar[tab & 7])
		return -EINVAL;
	p->msix_cap = cap;
	p->msix_entries = (ctl & 0x7ff) + 1;
	p->msix_table = p->bar[tab & 7] + (tab & ~7U);
	p->msix_pba = p->bar[pba & 7] + (pba & ~7U);
	/* Linux: enable with the function masked, mask every entry, unmask the function. */
	tg_cfg_wr(g, devfn, cap + 2, 2, MSIX_CTL_ENABLE | MSIX_CTL_FMASK);
	for (unsigned int i = 0; i < p->msix_entries; i++)
		tg_wr(g, p->msix_table + MSIX_ENTRY_SIZE * i + 12, 1, 4);
	tg_cfg_wr(g, devfn, cap + 2, 2, MSIX_CTL_ENABLE);
	return 0;
}

void tg_msix_set(struct test_guest *g, const struct tg_pci *p, unsigned int i, uint64_t addr,
		 uint32_t data, bool masked)
{
	uint64_t e = p->msix_table + MSIX_ENTRY_SIZE * i;

	tg_wr(g, e + 12, 1, 4);
	tg_wr(g, e, (uint32_t)addr, 4);
	tg_wr(g, e + 4, addr >> 32, 4);
	tg_wr(g, e + 8, data, 4);
	if (!masked)
		tg_wr(g, e + 12, 0, 4);
}

/* ---- split virtqueues ---- */

static uint64_t avail_bytes(uint16_t size)
{
	return 6 + 2ULL * size; /* flags, idx, ring[], used_event */
}

static uint64_t used_bytes(uint16_t size)
{
	return 6 + 8ULL * size; /* flags, idx, ring[], avail_event */
}

int tg_vring_init(struct test_guest *g, struct tg_vring *vr, uint16_t size)
{
	memset(vr, 0, sizeof(*vr));
	if (!size || (size & (size - 1)))
		return -EINVAL;
	vr->size = size;
	vr->desc_gpa = tg_alloc(g, 16ULL * size, 16);
	vr->avail_gpa = tg_alloc(g, avail_bytes(size), 2);
	vr->used_gpa = tg_alloc(g, used_bytes(size), 4);
	if (!vr->desc_gpa || !vr->avail_gpa || !vr->used_gpa)
		return -ENOMEM;
	vr->desc = tg_ptr(g, vr->desc_gpa, 16ULL * size);
	vr->avail = tg_ptr(g, vr->avail_gpa, avail_bytes(size));
	vr->used = tg_ptr(g, vr->used_gpa, used_bytes(size));
	vr->done = calloc(size, sizeof(*vr->done));
	vr->used_len = calloc(size, sizeof(*vr->used_len));
	vr->chain = calloc(size, sizeof(*vr->chain));
	if (!vr->done || !vr->used_len || !vr->chain) {
		tg_vring_free(vr);
		return -ENOMEM;
	}
	tg_vring_reset(vr);
	return 0;
}

void tg_vring_reset(struct tg_vring *vr)
{
	memset(vr->desc, 0, 16ULL * vr->size);
	memset(vr->avail, 0, avail_bytes(vr->size));
	memset(vr->used, 0, used_bytes(vr->size));
	memset(vr->done, 0, vr->size * sizeof(*vr->done));
	memset(vr->chain, 0, vr->size * sizeof(*vr->chain));
	for (uint16_t i = 0; i < vr->size; i++)
		vr->desc[i].next = i + 1;
	vr->free_head = 0;
	vr->nr_free = vr->size;
	vr->avail_idx = 0;
	vr->last_used = 0;
}

void tg_vring_free(struct tg_vring *vr)
{
	free(vr->done);
	free(vr->used_len);
	free(vr->chain);
	vr->done = NULL;
	vr->used_len = NULL;
	vr->chain = NULL;
}

int tg_vring_add(struct tg_vring *vr, const struct tg_sg *sg, unsigned int n, uint16_t *head)
{
	uint16_t h = vr->free_head, d = h, last = h;

	if (!n || n > vr->nr_free)
		return -ENOSPC;
	for (unsigned int i = 0; i < n; i++) {
		last = d;
		vr->desc[d].addr = sg[i].gpa;
		vr->desc[d].len = sg[i].len;
		vr->desc[d].flags = (sg[i].write ? VRING_DESC_F_WRITE : 0) |
				    (i + 1 < n ? VRING_DESC_F_NEXT : 0);
		d = vr->desc[d].next;
	}
	vr->free_head = d;
	vr->nr_free -= n;
	vr->desc[last].next = 0;
	vr->chain[h] = n;
	vr->done[h] = false;
	vr->avail->ring[vr->avail_idx % vr->size] = h;
	vr->avail_idx++;
	__atomic_store_n(&vr->avail->idx, vr->avail_idx, __ATOMIC_RELEASE);
	*head = h;
	return 0;
}

uint16_t tg_vring_used_idx(const struct tg_vring *vr)
{
	return __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);
}

unsigned int tg_vring_collect(struct tg_vring *vr)
{
	uint16_t end = tg_vring_used_idx(vr);
	unsigned int n = 0;

	for (; vr->last_used != end; vr->last_used++, n++) {
		struct vring_used_elem *e = &vr->used->ring[vr->last_used % vr->size];

		if (e->id < vr->size && vr->chain[e->id]) {
			vr->done[e->id] = true;
			vr->used_len[e->id] = e->len;
		}
	}
	/* With RING_EVENT_IDX: interrupt me for the next entry (Linux's enable_cb). */
	__atomic_store_n(&vr->avail->ring[vr->size], vr->last_used, __ATOMIC_SEQ_CST);
	return n;
}

bool tg_vring_reap(struct tg_vring *vr, uint16_t head, uint32_t *len)
{
	uint16_t d = head;

	if (head >= vr->size || !vr->done[head])
		return false;
	for (uint16_t i = 1; i < vr->chain[head]; i++)
		d = vr->desc[d].next;
	vr->desc[d].next = vr->free_head;
	vr->free_head = head;
	vr->nr_free += vr->chain[head];
	vr->chain[head] = 0;
	vr->done[head] = false;
	if (len)
		*len = vr->used_len[head];
	return true;
}

void tg_vring_kick(struct test_guest *g, const struct tg_vring *vr, uint16_t q)
{
	tg_wr(g, vr->notify, q, 2);
}

int tg_vring_wait(struct test_guest *g, struct tg_vring *vr, uint16_t head, int timeout_ms,
		  uint32_t *len)
{
	int64_t deadline = tg_now_ms() + timeout_ms;

	for (;;) {
		tg_vring_collect(vr);
		if (tg_vring_reap(vr, head, len))
			return 0;
		if (tg_now_ms() >= deadline)
			return -ETIMEDOUT;
		fake_hv_wait(g->hv, WAIT_SLICE_MS);
	}
}

/* ---- virtio-pci modern ---- */

static uint64_t vpci_struct(struct test_guest *g, struct tg_vpci *vp, int type)
{
	uint32_t cap = tg_pci_cap(g, vp->pci.devfn, PCI_CAP_ID_VNDR, type);
	uint8_t bar;

	if (!cap)
		return 0;
	bar = tg_cfg_rd(g, vp->pci.devfn, cap + 4, 1);
	if (bar >= PCI_NR_BARS || !vp->pci.bar[bar])
		return 0;
	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
		vp->notify_mult = tg_cfg_rd(g, vp->pci.devfn, cap + 16, 4);
	return vp->pci.bar[bar] + tg_cfg_rd(g, vp->pci.devfn, cap + 8, 4);
}

int tg_vpci_open(struct test_guest *g, uint8_t devfn, struct tg_vpci *vp)
{
	int ret;

	memset(vp, 0, sizeof(*vp));
	ret = tg_pci_setup(g, devfn, &vp->pci);
	if (ret)
		return ret;
	vp->common = vpci_struct(g, vp, VIRTIO_PCI_CAP_COMMON_CFG);
	vp->notify = vpci_struct(g, vp, VIRTIO_PCI_CAP_NOTIFY_CFG);
	vp->isr = vpci_struct(g, vp, VIRTIO_PCI_CAP_ISR_CFG);
	vp->device = vpci_struct(g, vp, VIRTIO_PCI_CAP_DEVICE_CFG);
	if (!vp->common || !vp->notify || !vp->isr)
		return -ENODEV;
	vp->nr_queues = tg_rd(g, vp->common + VIRTIO_PCI_COMMON_NUMQ, 2);
	return 0;
}

uint64_t tg_vpci_device_features(struct test_guest *g, struct tg_vpci *vp)
{
	uint64_t f;

	tg_wr(g, vp->common + VIRTIO_PCI_COMMON_DFSELECT, 0, 4);
	f = tg_rd(g, vp->common + VIRTIO_PCI_COMMON_DF, 4);
	tg_wr(g, vp->common + VIRTIO_PCI_COMMON_DFSELECT, 1, 4);
	return f | tg_rd(g, vp->common + VIRTIO_PCI_COMMON_DF, 4) << 32;
}

uint8_t tg_vpci_status(struct test_guest *g, struct tg_vpci *vp)
{
	return tg_rd(g, vp->common + VIRTIO_PCI_COMMON_STATUS, 1);
}

void tg_vpci_set_status(struct test_guest *g, struct tg_vpci *vp, uint8_t s)
{
	tg_wr(g, vp->common + VIRTIO_PCI_COMMON_STATUS, s, 1);
}

static int vpci_setup_queue(struct test_guest *g, struct tg_vpci *vp, struct tg_vring *vr,
			    uint16_t q, uint16_t qsize, uint16_t vector)
{
	uint64_t c = vp->common;
	uint16_t max;
	int ret;

	tg_wr(g, c + VIRTIO_PCI_COMMON_Q_SELECT, q, 2);
	max = tg_rd(g, c + VIRTIO_PCI_COMMON_Q_SIZE, 2);
	if (qsize > max)
		return -EINVAL;
	if (vr->size != qsize) {
		tg_vring_free(vr);
		ret = tg_vring_init(g, vr, qsize);
		if (ret)
			return ret;
	} else {
		tg_vring_reset(vr);
	}
	tg_wr(g, c + VIRTIO_PCI_COMMON_Q_SIZE, qsize, 2);
	tg_wr(g, c + VIRTIO_PCI_COMMON_Q_DESCLO, (uint32_t)vr->desc_gpa, 4);
	tg_wr(g, c + VIRTIO_PCI_COMMON_Q_DESCHI, vr->desc_gpa >> 32, 4);
	tg_wr(g, c + VIRTIO_PCI_COMMON_Q_AVAILLO, (uint32_t)vr->avail_gpa, 4);
	tg_wr(g, c + VIRTIO_PCI_COMMON_Q_AVAILHI, vr->avail_gpa >> 32, 4);
	tg_wr(g, c + VIRTIO_PCI_COMMON_Q_USEDLO, (uint32_t)vr->used_gpa, 4);
	tg_wr(g, c + VIRTIO_PCI_COMMON_Q_USEDHI, vr->used_gpa >> 32, 4);
	tg_wr(g, c + VIRTIO_PCI_COMMON_Q_MSIX, vector, 2);
	vr->notify = vp->notify +
		     (uint64_t)tg_rd(g, c + VIRTIO_PCI_COMMON_Q_NOFF, 2) * vp->notify_mult;
	tg_wr(g, c + VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	return 0;
}

int tg_vpci_start(struct test_guest *g, struct tg_vpci *vp, uint64_t features,
		  struct tg_vring *vq, unsigned int nq, uint16_t qsize, uint16_t cfg_vector,
		  uint16_t q_vector)
{
	uint64_t c = vp->common;
	uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	int64_t deadline = tg_now_ms() + 5000;
	int ret;

	if (nq > vp->nr_queues)
		return -EINVAL;
	tg_vpci_set_status(g, vp, 0);
	while (tg_vpci_status(g, vp)) /* the reset is complete when the status reads 0 */
		if (tg_now_ms() > deadline)
			return -ETIMEDOUT;
	tg_vpci_set_status(g, vp, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	tg_vpci_set_status(g, vp, s);
	tg_wr(g, c + VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
	tg_wr(g, c + VIRTIO_PCI_COMMON_GF, (uint32_t)features, 4);
	tg_wr(g, c + VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	tg_wr(g, c + VIRTIO_PCI_COMMON_GF, features >> 32, 4);
	tg_vpci_set_status(g, vp, s | VIRTIO_CONFIG_S_FEATURES_OK);
	if (!(tg_vpci_status(g, vp) & VIRTIO_CONFIG_S_FEATURES_OK))
		return -EIO;
	s |= VIRTIO_CONFIG_S_FEATURES_OK;
	tg_wr(g, c + VIRTIO_PCI_COMMON_MSIX, cfg_vector, 2);
	vp->vq = vq;
	for (unsigned int q = 0; q < nq; q++) {
		ret = vpci_setup_queue(g, vp, &vq[q], q, qsize, q_vector);
		if (ret)
			return ret;
	}
	tg_vpci_set_status(g, vp, s | VIRTIO_CONFIG_S_DRIVER_OK);
	if (tg_vpci_status(g, vp) & VIRTIO_CONFIG_S_NEEDS_RESET)
		return -EIO;
	return 0;
}
