// SPDX-License-Identifier: Apache-2.0
#include "virtio/pci.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/log.h"

#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

/* MSI-X capability: message control at +2, table and PBA offset/BIR at +4 and +8. */
#define MSIX_CAP_LEN 12
#define MSIX_CTL 2
#define MSIX_CTL_ENABLE 0x8000
#define MSIX_CTL_MASKALL 0x4000
#define MSIX_ENTRY_SIZE 16
#define MSIX_ENTRY_MASKED 0x1

/* Virtio capabilities: struct virtio_pci_cap, then a dword of type-specific data. */
#define VIRTIO_CAP_LEN 16
#define VIRTIO_CAP_EXT_LEN 20
#define PCI_CFG_DATA 16 /* pci_cfg_data in struct virtio_pci_cfg_cap */

#define S_FEATURES_OK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DRIVER_OK VIRTIO_CONFIG_S_DRIVER_OK
#define S_NEEDS_RESET VIRTIO_CONFIG_S_NEEDS_RESET
#define ISR_QUEUE 0x1

#define BIT(n) (1ULL << (n))

struct vp_vector {
	uint32_t addr_lo, addr_hi, data, ctrl; /* the table entry as the guest wrote it */
	int efd;     /* the irqfd, made when the vector is first unmasked or fired; or -1 */
	int gsi;     /* its MSI route, or -1 */
	bool stale;  /* the entry changed since the route was written */
	bool warned; /* a route failure was logged (once per vector) */
};

struct vp_queue {
	struct virtio_pci *vp;
	unsigned int index;
	int kick_fd;
	struct evloop_op kick_op;
	bool ioeventfd; /* registered at the doorbell (vp->lock) */
	uint16_t vector; /* irq_lock */
	bool live;       /* irq_lock: kicks are passed to the device */
	uint64_t kicks, kicks_passed; /* irq_lock: eventfd counts read; of them to the device */
};

struct virtio_pci {
	struct pci_function fn;
	struct virtio_device *dev;
	struct pci_host *host;
	struct hv hv;
	uint8_t msix_cap, pcicfg_cap; /* capability offsets in config space */
	uint32_t msix_bar_size, pba_offset;
	uint64_t offered;
	struct virtio_pci_options opt;

	pthread_mutex_t lock;
	uint64_t driver_features; /* as the driver writes them, until FEATURES_OK */
	uint32_t dfselect, gfselect;
	uint16_t queue_select;
	bool running; /* DRIVER_OK accepted and the device activated */
	uint64_t notify_addr; /* guest address of doorbell 0 while BAR0 is mapped */

	pthread_mutex_t irq_lock;
	uint8_t status, isr, generation;
	uint16_t config_vector;
	bool msix_enabled, msix_masked;
	unsigned int nr_vectors; /* MSI-X table entries */
	unsigned int nr_own;     /* the first nr_own signal; the rest are a silent pool */
	struct vp_vector *vec;
	uint64_t *pba;
	struct vp_queue *q;
	struct virtio_irq_stats irqs; /* relaxed atomics (stats.h), counted under irq_lock */
};

/* ---- little helpers ---- */

static uint64_t get_le(const uint8_t *p, uint32_t len)
{
	uint64_t v = 0;

	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_le(uint8_t *p, uint32_t len, uint64_t v)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = v >> (8 * i);
}

/* Does [off, off + len) touch [start, start + n)? */
static bool touches(uint32_t off, uint32_t len, uint32_t start, uint32_t n)
{
	return off < start + n && start < off + len;
}

static uint64_t pow2_roundup(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/* ---- MSI-X vectors (irq_lock held) ---- */

static bool vp_vector_masked(const struct virtio_pci *vp, unsigned int v)
{
	return !vp->msix_enabled || vp->msix_masked || (vp->vec[v].ctrl & MSIX_ENTRY_MASKED);
}

static void vp_pba_set(struct virtio_pci *vp, unsigned int v, bool pending)
{
	if (pending)
		vp->pba[v / 64] |= BIT(v % 64);
	else
		vp->pba[v / 64] &= ~BIT(v % 64);
}

static bool vp_pba_test(const struct virtio_pci *vp, unsigned int v)
{
	return vp->pba[v / 64] & BIT(v % 64);
}

static int vp_vector_fail(struct virtio_pci *vp, unsigned int v, const char *what, int err)
{
	if (!vp->vec[v].warned)
		log_warn("%s: MSI-X vector %u: %s: %s (its interrupts are lost)", vp->dev->name,
			 v, what, strerror(-err));
	vp->vec[v].warned = true;
	return err;
}

/* Make the vector's irqfd and MSI route exist and carry the table entry's message. */
static int vp_vector_sync(struct virtio_pci *vp, unsigned int v)
{
	const struct hv *hv = &vp->hv;
	struct vp_vector *vec = &vp->vec[v];
	uint64_t addr = (uint64_t)vec->addr_hi << 32 | vec->addr_lo;
	int ret;

	if (vec->efd < 0) {
		vec->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (vec->efd < 0)
			return vp_vector_fail(vp, v, "eventfd", -errno);
	}
	if (vec->gsi < 0) {
		ret = hv->ops->msi_route_add(hv->ctx, addr, vec->data);
		if (ret < 0)
			return vp_vector_fail(vp, v, "MSI route", ret);
		vec->gsi = ret;
		ret = hv->ops->irqfd(hv->ctx, vec->efd, vec->gsi, true);
		if (ret < 0) {
			hv->ops->msi_route_del(hv->ctx, vec->gsi);
			vec->gsi = -1;
			return vp_vector_fail(vp, v, "irqfd", ret);
		}
		vec->stale = false;
		return 0;
	}
	if (!vec->stale)
		return 0;
	ret = hv->ops->msi_route_update(hv->ctx, vec->gsi, addr, vec->data);
	if (ret < 0)
		return vp_vector_fail(vp, v, "MSI route update", ret);
	vec->stale = false;
	return 0;
}

/* Write the vector's irqfd; false if it could not be (logged once per vector). */
static bool vp_vector_fire(struct virtio_pci *vp, unsigned int v)
{
	if (vp_vector_sync(vp, v))
		return false;
	if (eventfd_write(vp->vec[v].efd, 1) < 0) {
		vp_vector_fail(vp, v, "irqfd write", -errno);
		return false;
	}
	stats_add(&vp->irqs.injected, 1);
	return true;
}

/*
 * Send vector v, or record it in the PBA while it is masked. NO_VECTOR: nothing. What
 * is not sent now counts as suppressed (and as injected too if an unmask sends it).
 */
static void vp_signal(struct virtio_pci *vp, uint16_t v)
{
	bool sent = false;

	if (v < vp->nr_own && vp_vector_masked(vp, v))
		vp_pba_set(vp, v, true);
	else if (v < vp->nr_own)
		sent = vp_vector_fire(vp, v);
	if (!sent)
		stats_add(&vp->irqs.suppressed, 1);
}

/* The vector just became deliverable: route it now, and deliver what was held back. */
static void vp_vector_unmasked(struct virtio_pci *vp, unsigned int v)
{
	if (vp_pba_test(vp, v)) {
		vp_pba_set(vp, v, false);
		vp_vector_fire(vp, v);
	} else {
		vp_vector_sync(vp, v);
	}
}

static void vp_raise_config(struct virtio_pci *vp)
{
	vp->isr |= VIRTIO_PCI_ISR_CONFIG;
	vp_signal(vp, vp->config_vector);
}

/* ---- MSI-X table and PBA (BAR4) ---- */

static void vp_msix_entry_write(struct virtio_pci *vp, unsigned int v, unsigned int dword,
				uint32_t val)
{
	struct vp_vector *vec = &vp->vec[v];
	uint32_t *msg[] = { &vec->addr_lo, &vec->addr_hi, &vec->data };
	bool was_masked = vp_vector_masked(vp, v);

	/* A pool entry only stores what is written: it never gets a route. */
	if (v >= vp->nr_own) {
		if (dword == 3)
			vec->ctrl = val & MSIX_ENTRY_MASKED;
		else
			*msg[dword] = dword ? val : val & ~3U;
		return;
	}
	if (dword == 3) {
		vec->ctrl = val & MSIX_ENTRY_MASKED; /* the other bits are reserved */
		if (was_masked && !vp_vector_masked(vp, v))
			vp_vector_unmasked(vp, v);
		return;
	}
	if (dword == 0)
		val &= ~3U; /* the message address is dword aligned */
	if (*msg[dword] == val)
		return;
	*msg[dword] = val;
	vec->stale = true;
	/* A live vector retargeted in place (Linux moves IRQs that way): follow it now. */
	if (!was_masked && vec->gsi >= 0)
		vp_vector_sync(vp, v);
}

static uint32_t vp_msix_entry_read(const struct virtio_pci *vp, unsigned int v,
				   unsigned int dword)
{
	const struct vp_vector *vec = &vp->vec[v];
	const uint32_t val[] = { vec->addr_lo, vec->addr_hi, vec->data, vec->ctrl };

	return val[dword];
}

static void vp_msix_dword(struct virtio_pci *vp, uint32_t off, uint8_t *data, bool is_write)
{
	uint32_t pba_len = (vp->nr_vectors + 63) / 64 * 8;

	if (off < vp->nr_vectors * MSIX_ENTRY_SIZE) {
		unsigned int v = off / MSIX_ENTRY_SIZE, dword = off % MSIX_ENTRY_SIZE / 4;

		if (is_write)
			vp_msix_entry_write(vp, v, dword, get_le(data, 4));
		else
			put_le(data, 4, vp_msix_entry_read(vp, v, dword));
	} else if (!is_write && off >= vp->pba_offset && off - vp->pba_offset < pba_len) {
		off -= vp->pba_offset;
		put_le(data, 4, vp->pba[off / 8] >> (off % 8 * 8));
	}
}

/* The table takes aligned 4- and 8-byte accesses (PCIe); the PBA is read-only. */
static void vp_msix_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_pci *vp = opaque;

	if (!is_write)
		memset(data, 0, len);
	if ((len != 4 && len != 8) || off % len || off >= vp->msix_bar_size)
		return;
	pthread_mutex_lock(&vp->irq_lock);
	for (uint32_t i = 0; i < len; i += 4)
		vp_msix_dword(vp, off + i, data + i, is_write);
	pthread_mutex_unlock(&vp->irq_lock);
}

/* Message control changed (cfg_write hook): mirror it, deliver what became unmasked. */
static void vp_msix_ctl_changed(struct virtio_pci *vp)
{
	uint16_t ctl = get_le(&vp->fn.cfg[vp->msix_cap + MSIX_CTL], 2);

	pthread_mutex_lock(&vp->irq_lock);
	vp->msix_enabled = ctl & MSIX_CTL_ENABLE;
	vp->msix_masked = ctl & MSIX_CTL_MASKALL;
	for (unsigned int v = 0; v < vp->nr_own; v++) {
		if (vp_pba_test(vp, v) && !vp_vector_masked(vp, v)) {
			vp_pba_set(vp, v, false);
			vp_vector_fire(vp, v);
		}
	}
	pthread_mutex_unlock(&vp->irq_lock);
}

/* ---- device status: start and reset (vp->lock held) ---- */

static uint8_t vp_status(struct virtio_pci *vp)
{
	uint8_t s;

	pthread_mutex_lock(&vp->irq_lock);
	s = vp->status;
	pthread_mutex_unlock(&vp->irq_lock);
	return s;
}

static void vp_queue_defaults(struct virtqueue *vq)
{
	vq_reset(vq);
	vq->size = vq->max_size; /* queue_size reads the maximum after reset (4.1.4.3) */
}

/*
 * Device reset: stop the kicks, let the device finish or cancel its I/O (it may wait
 * for its event loops: no irq_lock held), then forget queues, features and vectors.
 * The MSI-X table belongs to PCI and stays; interrupts held back for the old
 * configuration are dropped.
 */
static void vp_reset(struct virtio_pci *vp)
{
	struct virtio_device *dev = vp->dev;

	pthread_mutex_lock(&vp->irq_lock);
	for (unsigned int i = 0; i < dev->nr_queues; i++)
		vp->q[i].live = false;
	pthread_mutex_unlock(&vp->irq_lock);

	dev->ops->reset(dev);
	for (unsigned int i = 0; i < dev->nr_queues; i++)
		vp_queue_defaults(&dev->vqs[i]);
	dev->driver_features = 0;
	vp->driver_features = 0;
	vp->dfselect = vp->gfselect = 0;
	vp->queue_select = 0;
	vp->running = false;

	pthread_mutex_lock(&vp->irq_lock);
	vp->status = 0;
	vp->isr = 0;
	vp->config_vector = VIRTIO_MSI_NO_VECTOR;
	for (unsigned int i = 0; i < dev->nr_queues; i++)
		vp->q[i].vector = VIRTIO_MSI_NO_VECTOR;
	memset(vp->pba, 0, (vp->nr_vectors + 63) / 64 * 8);
	pthread_mutex_unlock(&vp->irq_lock);
}

static bool vp_features_ok(const struct virtio_pci *vp)
{
	if ((vp->driver_features & ~vp->offered) ||
	    !(vp->driver_features & BIT(VIRTIO_F_VERSION_1)))
		return false;
	return !vp->opt.features_ok || vp->opt.features_ok(vp->opt.opaque, vp->driver_features);
}

/* DRIVER_OK: map the enabled queues' rings, start the device, let kicks through. */
static int vp_start(struct virtio_pci *vp)
{
	struct virtio_device *dev = vp->dev;
	bool event_idx = virtio_has_feature(dev, VIRTIO_RING_F_EVENT_IDX);
	bool indirect = virtio_has_feature(dev, VIRTIO_RING_F_INDIRECT_DESC);
	int ret;

	for (unsigned int i = 0; i < dev->nr_queues; i++) {
		struct virtqueue *vq = &dev->vqs[i];

		if (!vq->enabled)
			continue;
		ret = vq_activate(vq, dev->mem, event_idx, indirect);
		if (ret) {
			log_warn("%s: queue %u: the driver's ring (size %u) is not usable",
				 dev->name, i, vq->size);
			return ret;
		}
	}
	ret = dev->ops->activate(dev);
	if (ret) {
		log_warn("%s: activation failed: %s", dev->name, strerror(-ret));
		return ret;
	}
	vp->running = true;
	pthread_mutex_lock(&vp->irq_lock);
	for (unsigned int i = 0; i < dev->nr_queues; i++)
		vp->q[i].live = dev->vqs[i].enabled;
	pthread_mutex_unlock(&vp->irq_lock);
	return 0;
}

/*
 * Status bits only accumulate until the driver writes 0. FEATURES_OK is refused
 * (left clear) when the driver took an unoffered bit or left VERSION_1 out; a failed
 * DRIVER_OK (no FEATURES_OK, bad ring, device error) sets DEVICE_NEEDS_RESET and
 * raises the config interrupt.
 */
static void vp_status_write(struct virtio_pci *vp, uint8_t val)
{
	uint8_t old = vp_status(vp), new = old | (val & ~S_NEEDS_RESET);
	bool failed = false;

	if (new & ~old & S_FEATURES_OK) {
		if (vp_features_ok(vp))
			vp->dev->driver_features = vp->driver_features;
		else
			new &= ~S_FEATURES_OK;
	}
	if ((new & ~old & S_DRIVER_OK) && (!(new & S_FEATURES_OK) || vp_start(vp))) {
		new |= S_NEEDS_RESET;
		failed = true;
	}
	pthread_mutex_lock(&vp->irq_lock);
	vp->status = new | (vp->status & S_NEEDS_RESET);
	if (failed)
		vp_raise_config(vp);
	pthread_mutex_unlock(&vp->irq_lock);
}

/* ---- per-queue operations (vp->lock held) ---- */

/*
 * queue_enable after a queue reset, while the device runs (VIRTIO_F_RING_RESET): map
 * the new ring, then activate again, which starts the active queues that are not
 * running (device.h has no per-queue start; blk relies on this).
 */
static void vp_queue_restart(struct virtio_pci *vp, unsigned int q)
{
	struct virtio_device *dev = vp->dev;
	struct virtqueue *vq = &dev->vqs[q];
	int ret;

	ret = vq_activate(vq, dev->mem, virtio_has_feature(dev, VIRTIO_RING_F_EVENT_IDX),
			  virtio_has_feature(dev, VIRTIO_RING_F_INDIRECT_DESC));
	if (ret)
		log_warn("%s: queue %u: the driver's ring is not usable after reset", dev->name,
			 q);
	else
		ret = dev->ops->activate(dev);
	pthread_mutex_lock(&vp->irq_lock);
	if (ret) {
		vp->status |= S_NEEDS_RESET;
		vp_raise_config(vp);
	} else {
		vp->q[q].live = true;
	}
	pthread_mutex_unlock(&vp->irq_lock);
}

/* queue_reset = 1: the queue is back to its defaults when the write returns. */
static void vp_queue_reset(struct virtio_pci *vp, unsigned int q)
{
	struct virtio_device *dev = vp->dev;

	pthread_mutex_lock(&vp->irq_lock);
	vp->q[q].live = false;
	vp->q[q].vector = VIRTIO_MSI_NO_VECTOR;
	pthread_mutex_unlock(&vp->irq_lock);
	if (vp->running)
		dev->ops->queue_reset(dev, q);
	vp_queue_defaults(&dev->vqs[q]);
}

/* ---- common configuration (BAR0 + 0x0000) ---- */

typedef uint32_t (*vp_rd_fn)(struct virtio_pci *vp, unsigned int q, unsigned int arg);
typedef void (*vp_wr_fn)(struct virtio_pci *vp, unsigned int q, unsigned int arg, uint32_t v);

static uint32_t rd_dfselect(struct virtio_pci *vp, unsigned int q, unsigned int arg)
{
	return vp->dfselect;
}

static void wr_dfselect(struct virtio_pci *vp, unsigned int q, unsigned int arg, uint32_t v)
{
	vp->dfselect = v;
}

static uint32_t rd_df(struct virtio_pci *vp, unsigned int q, unsigned int arg)
{
	return vp->dfselect < 2 ? vp->offered >> (32 * vp->dfselect) : 0;
}

static uint32_t rd_gfselect(struct virtio_pci *vp, unsigned int q, unsigned int arg)
{
	return vp->gfselect;
}

static void wr_gfselect(struct virtio_pci *vp, unsigned int q, unsigned int arg, uint32_t v)
{
	vp->gfselect = v;
}

static uint32_t rd_gf(struct virtio_pci *vp, unsigned int q, unsigned int arg)
{
	return vp->gfselect < 2 ? vp->driver_features >> (32 * vp->gfselect) : 0;
}

/* Features are fixed once FEATURES_OK is set; only bits 0-63 exist. */
static void wr_gf(struct virtio_pci *vp, unsigned int q, unsigned int arg, uint32_t v)
{
	unsigned int shift = 32 * vp->gfselect;

	if (vp->gfselect >= 2 || (vp_status(vp) & S_FEATURES_OK))
		return;
	vp->driver_features &= ~(0xffffffffULL << shift);
	vp->driver_features |= (uint64_t)v << shift;
}

/*
 * A vector past the table cannot be mapped: it reads back NO_VECTOR (4.1.4.5). So does
 * a pool entry, which never signals.
 */
static uint16_t vp_vector_arg(const struct virtio_pci *vp, uint32_t v)
{
	return v < vp->nr_own ? v : VIRTIO_MSI_NO_VECTOR;
}

static uint32_t rd_config_vector(struct virtio_pci *vp, unsigned int q, unsigned int arg)
{
	uint16_t v;

	pthread_mutex_lock(&vp->irq_lock);
	v = vp->config_vector;
	pthread_mutex_unlock(&vp->irq_lock);
	return v;
}

static void wr_config_vector(struct virtio_pci *vp, unsigned int q, unsigned int arg,
			     uint32_t v)
{
	pthread_mutex_lock(&vp->irq_lock);
	vp->config_vector = vp_vector_arg(vp, v);
	pthread_mutex_unlock(&vp->irq_lock);
}

static uint32_t rd_numq(struct virtio_pci *vp, unsigned int q, unsigned int arg)
{
	return vp->dev->nr_queues;
}

static uint32_t rd_status(struct virtio_pci *vp, unsigned int q, unsigned int arg)
{
	return vp_status(vp);
}

static void wr_status(struct virtio_pci *vp, unsigned int q, unsigned int arg, uint32_t v)
{
	if (v)
		vp_status_write(vp, v);
	else
		vp_reset(vp);
}

static uint32_t rd_generation(struct virtio_pci *vp, unsigned int q, unsigned int arg)
{
	uint8_t g;

	pthread_mutex_lock(&vp->irq_lock);
	g = vp->generation;
	pthread_mutex_unlock(&vp->irq_lock);
	return g;
}

static uint32_t rd_qselect(struct virtio_pci *vp, unsigned int q, unsigned int arg)
{
	return vp->queue_select;
}

static void wr_qselect(struct virtio_pci *vp, unsigned int q, unsigned int arg, uint32_t v)
{
	vp->queue_select = v;
}

static uint32_t rd_qsize(struct virtio_pci *vp, unsigned int q, unsigned int arg)
{
	return vp->dev->vqs[q].size;
}

/* Ring geometry is the driver's until it enables the queue. */
static void wr_qsize(struct virtio_pci *vp, unsigned int q, unsigned int arg, uint32_t v)
{
	struct virtqueue *vq = &vp->dev->vqs[q];

	if (vq->enabled || !v || v > vq->max_size)
		return;
	vq->size = v;
}

static uint32_t rd_qvector(struct virtio_pci *vp, unsigned int q, unsigned int arg)
{
	uint16_t v;

	pthread_mutex_lock(&vp->irq_lock);
	v = vp->q[q].vector;
	pthread_mutex_unlock(&vp->irq_lock);
	return v;
}

static void wr_qvector(struct virtio_pci *vp, unsigned int q, unsigned int arg, uint32_t v)
{
	pthread_mutex_lock(&vp->irq_lock);
	vp->q[q].vector = vp_vector_arg(vp, v);
	pthread_mutex_unlock(&vp->irq_lock);
}

static uint32_t rd_qenable(struct virtio_pci *vp, unsigned int q, unsigned int arg)
{
	return vp->dev->vqs[q].enabled;
}

/*
 * Only 1 means anything (the driver must not write 0; queue_reset disables). Once the
 * device runs, a queue may only be (re-)enabled after a queue reset, which needs
 * VIRTIO_F_RING_RESET.
 */
static void wr_qenable(struct virtio_pci *vp, unsigned int q, unsigned int arg, uint32_t v)
{
	struct virtqueue *vq = &vp->dev->vqs[q];

	if (v != 1 || vq->enabled)
		return;
	if (!vp->running) {
		vq->enabled = true;
		return;
	}
	if (virtio_has_feature(vp->dev, VIRTIO_F_RING_RESET)) {
		vq->enabled = true;
		vp_queue_restart(vp, q);
	}
}

static uint32_t rd_qnoff(struct virtio_pci *vp, unsigned int q, unsigned int arg)
{
	return q; /* doorbell q at notify + q * VIRTIO_PCI_NOTIFY_MULTIPLIER */
}

/* arg: ring (0 desc, 1 driver/avail, 2 device/used) * 2 + high half. */
static uint64_t *vq_ring_addr(struct virtqueue *vq, unsigned int arg)
{
	uint64_t *ring[] = { &vq->desc_addr, &vq->avail_addr, &vq->used_addr };

	return ring[arg / 2];
}

static uint32_t rd_qaddr(struct virtio_pci *vp, unsigned int q, unsigned int arg)
{
	return *vq_ring_addr(&vp->dev->vqs[q], arg) >> (32 * (arg % 2));
}

static void wr_qaddr(struct virtio_pci *vp, unsigned int q, unsigned int arg, uint32_t v)
{
	struct virtqueue *vq = &vp->dev->vqs[q];
	uint64_t *addr = vq_ring_addr(vq, arg);
	unsigned int shift = 32 * (arg % 2);

	if (vq->enabled)
		return;
	*addr = (*addr & ~(0xffffffffULL << shift)) | (uint64_t)v << shift;
}

/* queue_notify_data (NOTIF_CONFIG_DATA not offered) and queue_reset (done at once). */
static uint32_t rd_zero(struct virtio_pci *vp, unsigned int q, unsigned int arg)
{
	return 0;
}

static void wr_qreset(struct virtio_pci *vp, unsigned int q, unsigned int arg, uint32_t v)
{
	if (v == 1 && virtio_has_feature(vp->dev, VIRTIO_F_RING_RESET))
		vp_queue_reset(vp, q);
}

struct vp_field {
	uint8_t off, width;
	bool per_queue; /* a field of queue_select's queue */
	uint8_t arg;
	vp_rd_fn rd;
	vp_wr_fn wr; /* NULL: read-only */
};

static const struct vp_field common_fields[] = {
	{ VIRTIO_PCI_COMMON_DFSELECT, 4, false, 0, rd_dfselect, wr_dfselect },
	{ VIRTIO_PCI_COMMON_DF, 4, false, 0, rd_df, NULL },
	{ VIRTIO_PCI_COMMON_GFSELECT, 4, false, 0, rd_gfselect, wr_gfselect },
	{ VIRTIO_PCI_COMMON_GF, 4, false, 0, rd_gf, wr_gf },
	{ VIRTIO_PCI_COMMON_MSIX, 2, false, 0, rd_config_vector, wr_config_vector },
	{ VIRTIO_PCI_COMMON_NUMQ, 2, false, 0, rd_numq, NULL },
	{ VIRTIO_PCI_COMMON_STATUS, 1, false, 0, rd_status, wr_status },
	{ VIRTIO_PCI_COMMON_CFGGENERATION, 1, false, 0, rd_generation, NULL },
	{ VIRTIO_PCI_COMMON_Q_SELECT, 2, false, 0, rd_qselect, wr_qselect },
	{ VIRTIO_PCI_COMMON_Q_SIZE, 2, true, 0, rd_qsize, wr_qsize },
	{ VIRTIO_PCI_COMMON_Q_MSIX, 2, true, 0, rd_qvector, wr_qvector },
	{ VIRTIO_PCI_COMMON_Q_ENABLE, 2, true, 0, rd_qenable, wr_qenable },
	{ VIRTIO_PCI_COMMON_Q_NOFF, 2, true, 0, rd_qnoff, NULL },
	{ VIRTIO_PCI_COMMON_Q_DESCLO, 4, true, 0, rd_qaddr, wr_qaddr },
	{ VIRTIO_PCI_COMMON_Q_DESCHI, 4, true, 1, rd_qaddr, wr_qaddr },
	{ VIRTIO_PCI_COMMON_Q_AVAILLO, 4, true, 2, rd_qaddr, wr_qaddr },
	{ VIRTIO_PCI_COMMON_Q_AVAILHI, 4, true, 3, rd_qaddr, wr_qaddr },
	{ VIRTIO_PCI_COMMON_Q_USEDLO, 4, true, 4, rd_qaddr, wr_qaddr },
	{ VIRTIO_PCI_COMMON_Q_USEDHI, 4, true, 5, rd_qaddr, wr_qaddr },
	{ VIRTIO_PCI_COMMON_Q_NDATA, 2, true, 0, rd_zero, NULL },
	{ VIRTIO_PCI_COMMON_Q_RESET, 2, true, 0, rd_zero, wr_qreset },
};

_Static_assert(VIRTIO_PCI_COMMON_Q_RESET + 2 == VIRTIO_PCI_COMMON_SIZE,
	       "the common config ends after queue_reset");

/* Only the natural width at a field's offset reaches it. */
static const struct vp_field *vp_field_find(uint32_t off, uint32_t len)
{
	for (size_t i = 0; i < sizeof(common_fields) / sizeof(common_fields[0]); i++)
		if (common_fields[i].off == off && common_fields[i].width == len)
			return &common_fields[i];
	return NULL;
}

static void vp_common_io(struct virtio_pci *vp, uint32_t off, uint8_t *data, uint32_t len,
			 bool is_write)
{
	const struct vp_field *f = vp_field_find(off, len);
	unsigned int q;

	if (!f)
		return;
	pthread_mutex_lock(&vp->lock);
	q = vp->queue_select;
	if (f->per_queue && q >= vp->dev->nr_queues)
		goto out;
	if (!is_write)
		put_le(data, len, f->rd(vp, q, f->arg));
	else if (f->wr)
		f->wr(vp, q, f->arg, get_le(data, len));
out:
	pthread_mutex_unlock(&vp->lock);
}

/* ---- ISR, device config, doorbells (BAR0) ---- */

static void vp_isr_io(struct virtio_pci *vp, uint32_t off, uint8_t *data, uint32_t len,
		      bool is_write)
{
	if (is_write || off || len != 1)
		return;
	pthread_mutex_lock(&vp->irq_lock);
	data[0] = vp->isr;
	vp->isr = 0;
	pthread_mutex_unlock(&vp->irq_lock);
}

static void vp_device_io(struct virtio_pci *vp, uint32_t off, uint8_t *data, uint32_t len,
			 bool is_write)
{
	struct virtio_device *dev = vp->dev;

	if (off >= dev->config_size || len > dev->config_size - off)
		return;
	pthread_mutex_lock(&vp->lock);
	if (is_write)
		dev->ops->config_write(dev, off, data, len);
	else
		dev->ops->config_read(dev, off, data, len);
	pthread_mutex_unlock(&vp->lock);
}

/*
 * A doorbell write that exits to user space (the ioeventfd is not registered, or the
 * width is not the registered 16 bits) is a kick all the same: signal the eventfd the
 * loop watches, as KVM would have.
 */
static void vp_notify_io(struct virtio_pci *vp, uint32_t off, uint8_t *data, uint32_t len,
			 bool is_write)
{
	unsigned int q = off / VIRTIO_PCI_NOTIFY_MULTIPLIER;

	if (!is_write || off % VIRTIO_PCI_NOTIFY_MULTIPLIER || q >= vp->dev->nr_queues)
		return;
	if (eventfd_write(vp->q[q].kick_fd, 1) < 0)
		log_warn("%s: queue %u: kick lost: %s", vp->dev->name, q, strerror(errno));
}

typedef void (*vp_region_fn)(struct virtio_pci *vp, uint32_t off, uint8_t *data,
			     uint32_t len, bool is_write);

static const struct {
	uint32_t start, size;
	vp_region_fn io;
} bar0_regions[] = {
	{ VIRTIO_PCI_COMMON_OFFSET, 0x1000, vp_common_io },
	{ VIRTIO_PCI_ISR_OFFSET, 0x1000, vp_isr_io },
	{ VIRTIO_PCI_DEVICE_OFFSET, VIRTIO_PCI_MAX_CONFIG, vp_device_io },
	{ VIRTIO_PCI_NOTIFY_OFFSET, 0x1000, vp_notify_io },
};

static void vp_bar0_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_pci *vp = opaque;

	if (!is_write)
		memset(data, 0, len);
	for (size_t i = 0; i < sizeof(bar0_regions) / sizeof(bar0_regions[0]); i++) {
		uint32_t start = bar0_regions[i].start, size = bar0_regions[i].size;

		if (off >= start && off - start < size) {
			if (len <= size - (off - start))
				bar0_regions[i].io(vp, off - start, data, len, is_write);
			return;
		}
	}
}

/* ---- kicks ---- */

static void vp_kick(struct evloop_op *op, int res, bool more);

/* Each queue's kicks are read on that queue's loop, which also runs its processing. */
static int vp_watch_kick(struct virtio_pci *vp, struct vp_queue *q)
{
	return evloop_watch_fd(virtio_queue_loop(vp->dev, q->index), &q->kick_op, q->kick_fd,
			       POLLIN, vp_kick, q);
}

/* On the queue's loop thread. */
static void vp_kick(struct evloop_op *op, int res, bool more)
{
	struct vp_queue *q = op->opaque;
	struct virtio_pci *vp = q->vp;
	eventfd_t count;
	bool live;

	if (res == -ECANCELED)
		return;
	if (res < 0) {
		log_warn("%s: queue %u: kick watch failed: %s", vp->dev->name, q->index,
			 strerror(-res));
		return;
	}
	/* A multishot poll can end (CQ overflow): keep watching. */
	if (!more && vp_watch_kick(vp, q))
		log_err("%s: queue %u: cannot re-arm the kick watch", vp->dev->name, q->index);
	if (eventfd_read(q->kick_fd, &count) < 0)
		return;
	pthread_mutex_lock(&vp->irq_lock);
	live = q->live;
	q->kicks += count;
	if (live)
		q->kicks_passed += count;
	pthread_mutex_unlock(&vp->irq_lock);
	if (live)
		vp->dev->ops->queue_notify(vp->dev, q->index);
}

/*
 * vp->lock held: the doorbells' ioeventfds follow BAR0. Linux's vp_notify writes the
 * queue index as 16 bits to the queue's own doorbell: no datamatch needed.
 */
static int vp_doorbell_ioeventfd(struct virtio_pci *vp, unsigned int i, bool assign)
{
	uint64_t addr = vp->notify_addr + i * VIRTIO_PCI_NOTIFY_MULTIPLIER;

	return vp->hv.ops->ioeventfd(vp->hv.ctx, vp->q[i].kick_fd, addr, 2, false, false, 0,
				     assign);
}

static void vp_ioeventfds_drop(struct virtio_pci *vp)
{
	for (unsigned int i = 0; i < vp->dev->nr_queues; i++) {
		if (vp->q[i].ioeventfd)
			vp_doorbell_ioeventfd(vp, i, false);
		vp->q[i].ioeventfd = false;
	}
}

static void vp_ioeventfds_add(struct virtio_pci *vp)
{
	int ret;

	for (unsigned int i = 0; i < vp->dev->nr_queues; i++) {
		struct vp_queue *q = &vp->q[i];

		ret = vp_doorbell_ioeventfd(vp, i, true);
		if (ret < 0)
			log_warn("%s: queue %u: no ioeventfd (%s): kicks exit to vqvm",
				 vp->dev->name, i, strerror(-ret));
		q->ioeventfd = ret == 0;
	}
}

/* ---- PCI function hooks (PCI host lock held) ---- */

static void vp_bar_remapped(struct pci_function *fn, int bar, uint64_t addr, bool mapped)
{
	struct virtio_pci *vp = fn->opaque;

	if (bar && bar == vp->opt.extra_bar && vp->opt.bar_remapped)
		vp->opt.bar_remapped(vp->opt.opaque, addr, mapped);
	if (bar != VIRTIO_PCI_BAR)
		return;
	pthread_mutex_lock(&vp->lock);
	vp_ioeventfds_drop(vp);
	vp->notify_addr = addr + VIRTIO_PCI_NOTIFY_OFFSET;
	if (mapped)
		vp_ioeventfds_add(vp);
	pthread_mutex_unlock(&vp->lock);
}

/*
 * VIRTIO_PCI_CAP_PCI_CFG: an access to pci_cfg_data performs cap.length bytes (1, 2
 * or 4, aligned) at cap.offset of BAR cap.bar, whether or not the BAR is decoded.
 * Anything else is ignored (reads see zeroes).
 */
static void vp_pcicfg_access(struct virtio_pci *vp, bool is_write)
{
	uint8_t *cap = &vp->fn.cfg[vp->pcicfg_cap];
	uint8_t *data = cap + PCI_CFG_DATA;
	uint32_t off = get_le(cap + VIRTIO_PCI_CAP_OFFSET, 4);
	uint32_t len = get_le(cap + VIRTIO_PCI_CAP_LENGTH, 4);
	uint32_t size;
	bus_io_fn io;

	if (!is_write)
		memset(data, 0, 4);
	if ((len != 1 && len != 2 && len != 4) || off % len)
		return;
	switch (cap[VIRTIO_PCI_CAP_BAR]) {
	case VIRTIO_PCI_BAR:
		io = vp_bar0_io;
		size = VIRTIO_PCI_BAR_SIZE;
		break;
	case VIRTIO_PCI_MSIX_BAR:
		io = vp_msix_io;
		size = vp->msix_bar_size;
		break;
	default:
		if (!vp->opt.extra_bar || cap[VIRTIO_PCI_CAP_BAR] != vp->opt.extra_bar)
			return;
		io = vp->opt.extra_bar_io;
		size = vp->opt.extra_bar_size;
		if (off < size)
			io(vp->opt.opaque, off, data, len, is_write);
		return;
	}
	if (off < size)
		io(vp, off, data, len, is_write);
}

static void vp_cfg_write(struct pci_function *fn, uint32_t off, uint32_t len, uint32_t val)
{
	struct virtio_pci *vp = fn->opaque;

	if (touches(off, len, vp->msix_cap + MSIX_CTL, 2))
		vp_msix_ctl_changed(vp);
	if (touches(off, len, vp->pcicfg_cap + PCI_CFG_DATA, 4))
		vp_pcicfg_access(vp, true);
}

static void vp_cfg_read(struct pci_function *fn, uint32_t off, uint32_t len)
{
	struct virtio_pci *vp = fn->opaque;

	if (touches(off, len, vp->pcicfg_cap + PCI_CFG_DATA, 4))
		vp_pcicfg_access(vp, false);
}

static const struct pci_function_ops vp_fn_ops = {
	.cfg_write = vp_cfg_write,
	.cfg_read = vp_cfg_read,
	.bar_remapped = vp_bar_remapped,
};

/*
 * ---- transport ops (event loops or any thread; irq_lock only) ----
 * With per-queue loops several loop threads call these at once: irq_lock is what
 * serialises them.
 */

static void vp_queue_interrupt(struct virtio_device *dev, unsigned int q)
{
	struct virtio_pci *vp = dev->transport_priv;

	if (q >= dev->nr_queues)
		return;
	pthread_mutex_lock(&vp->irq_lock);
	vp->isr |= ISR_QUEUE; /* meaningful only with INTx, kept for the ISR's readers */
	vp_signal(vp, vp->q[q].vector);
	pthread_mutex_unlock(&vp->irq_lock);
}

static void vp_config_interrupt(struct virtio_device *dev)
{
	struct virtio_pci *vp = dev->transport_priv;

	pthread_mutex_lock(&vp->irq_lock);
	vp->generation++;
	vp_raise_config(vp);
	pthread_mutex_unlock(&vp->irq_lock);
}

/* Ignored while the driver has not started (status 0): a fresh device is not broken. */
static void vp_needs_reset(struct virtio_device *dev)
{
	struct virtio_pci *vp = dev->transport_priv;

	pthread_mutex_lock(&vp->irq_lock);
	if (vp->status) {
		vp->status |= S_NEEDS_RESET;
		vp_raise_config(vp);
	}
	pthread_mutex_unlock(&vp->irq_lock);
}

static const struct virtio_transport_ops vp_transport_ops = {
	.queue_interrupt = vp_queue_interrupt,
	.config_interrupt = vp_config_interrupt,
	.needs_reset = vp_needs_reset,
};

/* ---- creation ---- */

static uint32_t vp_class_code(uint32_t type)
{
	static const struct {
		uint32_t type, class_code;
	} classes[] = {
		{ VIRTIO_ID_NET, 0x020000 },   /* network, ethernet */
		{ VIRTIO_ID_BLOCK, 0x018000 }, /* mass storage, other */
	};

	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (classes[i].type == type)
			return classes[i].class_code;
	return 0xff0000; /* unassigned class */
}

static int vp_add_virtio_cap(struct virtio_pci *vp, uint8_t type, uint8_t bar, uint32_t off,
			     uint32_t len, uint32_t extra, bool has_extra, const uint8_t *wmask)
{
	uint8_t cap[VIRTIO_CAP_EXT_LEN] = { PCI_CAP_ID_VNDR };
	uint8_t cap_len = has_extra ? VIRTIO_CAP_EXT_LEN : VIRTIO_CAP_LEN;

	cap[VIRTIO_PCI_CAP_LEN] = cap_len;
	cap[VIRTIO_PCI_CAP_CFG_TYPE] = type;
	cap[VIRTIO_PCI_CAP_BAR] = bar;
	put_le(&cap[VIRTIO_PCI_CAP_OFFSET], 4, off);
	put_le(&cap[VIRTIO_PCI_CAP_LENGTH], 4, len);
	put_le(&cap[VIRTIO_CAP_LEN], 4, extra);
	return pci_function_add_cap(&vp->fn, cap, cap_len, wmask);
}

static int vp_add_msix_cap(struct virtio_pci *vp)
{
	uint8_t cap[MSIX_CAP_LEN] = { PCI_CAP_ID_MSIX };
	uint8_t wmask[MSIX_CAP_LEN] = { 0 };

	put_le(&cap[MSIX_CTL], 2, vp->nr_vectors - 1);
	put_le(&cap[4], 4, 0 | VIRTIO_PCI_MSIX_BAR);
	put_le(&cap[8], 4, vp->pba_offset | VIRTIO_PCI_MSIX_BAR);
	put_le(&wmask[MSIX_CTL], 2, MSIX_CTL_ENABLE | MSIX_CTL_MASKALL);
	return pci_function_add_cap(&vp->fn, cap, MSIX_CAP_LEN, wmask);
}

/* bar, offset, length and pci_cfg_data of the PCI_CFG window are the driver's. */
static int vp_add_caps(struct virtio_pci *vp)
{
	uint8_t cfg_wmask[VIRTIO_CAP_EXT_LEN] = { 0 };
	uint32_t nq = vp->dev->nr_queues, cfg_size = vp->dev->config_size;
	int ret;

	cfg_wmask[VIRTIO_PCI_CAP_BAR] = 0xff;
	memset(&cfg_wmask[VIRTIO_PCI_CAP_OFFSET], 0xff, 12);
	if (vp_add_virtio_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_BAR,
			      VIRTIO_PCI_COMMON_OFFSET, VIRTIO_PCI_COMMON_SIZE, 0, false, NULL) < 0 ||
	    vp_add_virtio_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_BAR,
			      VIRTIO_PCI_NOTIFY_OFFSET, nq * VIRTIO_PCI_NOTIFY_MULTIPLIER,
			      VIRTIO_PCI_NOTIFY_MULTIPLIER, true, NULL) < 0 ||
	    vp_add_virtio_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_BAR, VIRTIO_PCI_ISR_OFFSET,
			      1, 0, false, NULL) < 0)
		return -ENOSPC;
	if (cfg_size && vp_add_virtio_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_BAR,
					  VIRTIO_PCI_DEVICE_OFFSET, cfg_size, 0, false, NULL) < 0)
		return -ENOSPC;
	ret = vp_add_virtio_cap(vp, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 0, 0, true, cfg_wmask);
	if (ret < 0)
		return ret;
	vp->pcicfg_cap = ret;
	ret = vp_add_msix_cap(vp);
	if (ret < 0)
		return ret;
	vp->msix_cap = ret;
	return 0;
}

static void vp_free(struct virtio_pci *vp)
{
	const struct hv *hv = &vp->hv;

	for (unsigned int i = 0; vp->q && i < vp->dev->nr_queues; i++) {
		struct vp_queue *q = &vp->q[i];

		if (q->kick_op.armed)
			evloop_unwatch(virtio_queue_loop(vp->dev, i), &q->kick_op);
		if (q->kick_fd >= 0)
			close(q->kick_fd);
	}
	for (unsigned int v = 0; vp->vec && v < vp->nr_vectors; v++) {
		struct vp_vector *vec = &vp->vec[v];

		if (vec->gsi >= 0) {
			hv->ops->irqfd(hv->ctx, vec->efd, vec->gsi, false);
			hv->ops->msi_route_del(hv->ctx, vec->gsi);
		}
		if (vec->efd >= 0)
			close(vec->efd);
	}
	pthread_mutex_destroy(&vp->lock);
	pthread_mutex_destroy(&vp->irq_lock);
	free(vp->q);
	free(vp->vec);
	free(vp->pba);
	free(vp);
}

static int vp_alloc(struct virtio_pci *vp, unsigned int nq)
{
	vp->nr_own = vp->opt.own_vectors ? vp->opt.own_vectors : nq + 1; /* config + queues */
	vp->nr_vectors = vp->nr_own + vp->opt.msix_pool;
	vp->q = calloc(nq, sizeof(*vp->q));
	vp->vec = calloc(vp->nr_vectors, sizeof(*vp->vec));
	vp->pba = calloc((vp->nr_vectors + 63) / 64, sizeof(*vp->pba));
	if (!vp->q || !vp->vec || !vp->pba)
		return -ENOMEM;
	for (unsigned int i = 0; i < nq; i++)
		vp->q[i] = (struct vp_queue){ .vp = vp, .index = i, .kick_fd = -1,
					      .vector = VIRTIO_MSI_NO_VECTOR };
	/* Table in the first half of BAR4, PBA at the second half. */
	vp->msix_bar_size = pow2_roundup(2 * vp->nr_vectors * MSIX_ENTRY_SIZE);
	if (vp->msix_bar_size < 0x1000)
		vp->msix_bar_size = 0x1000;
	vp->pba_offset = vp->msix_bar_size / 2;
	vp->config_vector = VIRTIO_MSI_NO_VECTOR;
	/* Every entry starts masked, as after a PCI reset. */
	for (unsigned int v = 0; v < vp->nr_vectors; v++)
		vp->vec[v] = (struct vp_vector){ .ctrl = MSIX_ENTRY_MASKED, .efd = -1, .gsi = -1 };
	for (unsigned int i = 0; i < nq; i++) {
		vp->q[i].kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (vp->q[i].kick_fd < 0)
			return -errno;
	}
	return 0;
}

static int vp_setup_function(struct virtio_pci *vp)
{
	struct virtio_device *dev = vp->dev;
	const struct virtio_pci_options *o = &vp->opt;
	int ret;

	if (o->identity)
		pci_function_init(&vp->fn, o->vendor, o->device, o->class_code, o->revision,
				  o->subsys_vendor, o->subsys_id);
	else
		pci_function_init(&vp->fn, VIRTIO_PCI_VENDOR,
				  VIRTIO_PCI_DEVICE_BASE + dev->device_type,
				  vp_class_code(dev->device_type), 1, VIRTIO_PCI_VENDOR,
				  VIRTIO_PCI_SUBSYS_BASE + dev->device_type);
	vp->fn.ops = &vp_fn_ops;
	vp->fn.opaque = vp;
	ret = pci_function_set_bar(&vp->fn, VIRTIO_PCI_BAR, PCI_BAR_MMIO32, VIRTIO_PCI_BAR_SIZE,
				   vp_bar0_io, vp);
	if (!ret)
		ret = pci_function_set_bar(&vp->fn, VIRTIO_PCI_MSIX_BAR, PCI_BAR_MMIO32,
					   vp->msix_bar_size, vp_msix_io, vp);
	if (!ret && o->extra_bar)
		ret = pci_function_set_bar(&vp->fn, o->extra_bar, PCI_BAR_MMIO32,
					   o->extra_bar_size, o->extra_bar_io, o->opaque);
	if (!ret)
		ret = vp_add_caps(vp);
	return ret;
}

static int vp_check_options(const struct virtio_device *dev,
			    const struct virtio_pci_options *o, struct err *e)
{
	unsigned int own = o->own_vectors ? o->own_vectors : dev->nr_queues + 1;
	uint64_t size = o->extra_bar_size;

	if (own + o->msix_pool > VIRTIO_PCI_MSIX_MAX)
		return err_set(e, "%s: %u MSI-X entries (at most %u)", dev->name,
			       own + o->msix_pool, VIRTIO_PCI_MSIX_MAX);
	if (!o->extra_bar)
		return 0;
	if (o->extra_bar < 0 || o->extra_bar >= PCI_NR_BARS || o->extra_bar == VIRTIO_PCI_BAR ||
	    o->extra_bar == VIRTIO_PCI_MSIX_BAR || !o->extra_bar_io || size < 0x1000 ||
	    (size & (size - 1)))
		return err_set(e, "%s: bad extra BAR %d (size %#llx)", dev->name, o->extra_bar,
			       (unsigned long long)size);
	return 0;
}

int virtio_pci_create(struct virtio_pci **out, struct virtio_device *dev,
		      struct pci_host *host, const struct hv *hv, struct err *e)
{
	return virtio_pci_create_ex(out, dev, host, hv, NULL, e);
}

int virtio_pci_create_ex(struct virtio_pci **out, struct virtio_device *dev,
			 struct pci_host *host, const struct hv *hv,
			 const struct virtio_pci_options *opt, struct err *e)
{
	static const struct virtio_pci_options none;
	struct virtio_pci *vp;
	int ret;

	if (!opt)
		opt = &none;
	if (virtio_transport_check(dev, hv, VIRTIO_PCI_MAX_QUEUES, VIRTIO_PCI_MAX_CONFIG, e) ||
	    vp_check_options(dev, opt, e))
		return -1;
	vp = calloc(1, sizeof(*vp));
	if (!vp)
		return err_set(e, "%s: out of memory", dev->name);
	vp->opt = *opt;
	vp->dev = dev;
	vp->host = host;
	vp->hv = *hv;
	pthread_mutex_init(&vp->lock, NULL);
	pthread_mutex_init(&vp->irq_lock, NULL);
	vp->offered = dev->ops->features(dev) | VIRTIO_COMMON_FEATURES;
	/* A device that cannot stop one queue does not get per-queue resets. */
	if (!dev->ops->queue_reset)
		vp->offered &= ~BIT(VIRTIO_F_RING_RESET);
	ret = vp_alloc(vp, dev->nr_queues);
	if (ret)
		goto fail;
	ret = vp_setup_function(vp);
	if (ret)
		goto fail;
	for (unsigned int i = 0; i < dev->nr_queues; i++)
		vp_queue_defaults(&dev->vqs[i]);
	dev->transport = &vp_transport_ops;
	dev->transport_priv = vp;
	ret = pci_register(host, &vp->fn, -1);
	if (ret)
		goto fail;
	/* Last: a watch armed for a transport that then fails would outlive it. */
	for (unsigned int i = 0; i < dev->nr_queues; i++) {
		ret = vp_watch_kick(vp, &vp->q[i]);
		if (ret)
			goto fail;
	}
	*out = vp;
	return 0;
fail:
	pci_unregister(host, &vp->fn);
	dev->transport = NULL;
	dev->transport_priv = NULL;
	vp_free(vp);
	return err_set(e, "%s: cannot create its virtio-pci function: %s", dev->name,
		       strerror(-ret));
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	if (!vp)
		return;
	pci_unregister(vp->host, &vp->fn); /* drops the ioeventfds (bar_remapped) */
	pthread_mutex_lock(&vp->lock);
	vp_reset(vp);
	pthread_mutex_unlock(&vp->lock);
	vp->dev->transport = NULL;
	vp->dev->transport_priv = NULL;
	vp_free(vp);
}

void virtio_pci_irq_stats(const struct virtio_pci *vp, struct virtio_irq_stats *out)
{
	stats_irq_get(&vp->irqs, out);
}

void virtio_pci_log_state(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->irq_lock);
	log_info("%s: virtio-pci status %#x isr %#x msix %s%s config vector %u", vp->dev->name,
		 vp->status, vp->isr, vp->msix_enabled ? "enabled" : "disabled",
		 vp->msix_masked ? " function-masked" : "", vp->config_vector);
	for (unsigned int v = 0; v < vp->nr_own; v++) {
		const struct vp_vector *vec = &vp->vec[v];

		if (vec->gsi < 0 && !vp_pba_test(vp, v))
			continue;
		log_info("%s: vector %u: %s%s gsi %d data %#x", vp->dev->name, v,
			 vec->ctrl & MSIX_ENTRY_MASKED ? "masked" : "unmasked",
			 vp_pba_test(vp, v) ? " PENDING" : "", vec->gsi, vec->data);
	}
	for (unsigned int i = 0; i < vp->dev->nr_queues; i++) {
		const struct vp_queue *q = &vp->q[i];
		struct pollfd p = { .fd = q->kick_fd, .events = POLLIN };

		/* A kick the eventfd holds but nobody read: the queue's watch is gone. */
		log_info("%s: queue %u: vector %u %s, kicks read %" PRIu64 " (%" PRIu64
			 " passed on), unread kick %s", vp->dev->name, i, q->vector,
			 q->live ? "live" : "not live", q->kicks, q->kicks_passed, q->kick_fd < 0 ? "-" : poll(&p, 1, 0) == 1 ? "YES" : "no");
	}
	pthread_mutex_unlock(&vp->irq_lock);
}

uint8_t virtio_pci_devfn(const struct virtio_pci *vp)
{
	return vp->fn.devfn;
}
