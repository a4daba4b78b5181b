/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-device transport of a managed device (contract in managed.h, protocol in
 * docs/transport-vq.md sections 6.8-6.20 and 7). Decisions the document leaves here:
 *
 * - Commands are a table: (class, command) -> handler, exact out size (a minimum for
 *   CONFIG SET, whose handler checks the rest), in size, and whether the out-data starts
 *   with queue_index. managed_command does step 8 of 6.4 and the queue index check from
 *   the table; handlers do the rest in the document's order and write in-data only on
 *   success. Wire fields are read with memcpy + le*toh: the buffers have no alignment.
 * - Queues: VQ_ENABLE SET 1 maps the rings with vq_activate (the RAM check needs the
 *   final size and RING_EVENT_IDX, known once FEATURES_OK is set), so an enabled queue
 *   is vq->active and the model's activate (at DRIVER_OK, or at once on a running
 *   device) starts it. A queue that starts running gets one kick from us (its kick
 *   eventfd is written): kicks before DRIVER_OK were dropped, and 2.4 promises the
 *   device looks at the ring when it starts. Disabling clears vq->active again, so a
 *   later activate for another queue does not restart it.
 * - FEATURES_OK refused (no VERSION_1, or a bit no longer offered after provisioning)
 *   also drops a DRIVER_OK written with it: DRIVER_OK never stands without FEATURES_OK.
 * - needs_reset while the status is 0 is ignored (a fresh device is not broken), as in
 *   virtio-pci.
 * - Each set MSI entry owns an eventfd attached as irqfd to its own KVM MSI route; the
 *   route follows VQ_SET / CONFIG_SET with msi_route_update. A route the hypervisor has
 *   no room for is ENOSPC; any other hypervisor failure is ERR, logged.
 * - A budget below the entries already set is refused like a change under a driver
 *   (-EBUSY from managed_set_msix_budget).
 *
 * Kick watches. Queue q's kick eventfd (the target of its doorbell ioeventfd) is
 * watched on virtio_queue_loop(dev, q), and only that loop's thread may submit to it:
 * create queues an evloop_call that arms the watch and waits for it while the loop
 * runs (a loop not started yet arms it when it starts: pre-created devices exist before
 * the loops run, and the creator must not start the loop concurrently); destroy queues
 * a call that cancels it and waits until the poll's last completion was reaped, after
 * which no completion can name the queue. A loop stopped for good (loop->stop) is not
 * waited for: its watches are abandoned, and it must never run again (as for blk and
 * virtio-pci). A loop neither running nor stopped is waited for until it is one or the
 * other.
 *
 * Locks, in this order (managed.h):
 *
 *   md->lock -> the model's locks -> md->msi_lock -> hv lock;  md->watch_lock (leaf)
 *
 * - md->lock: the state machine: held by managed_command, managed_reset,
 *   managed_doorbell_bar, managed_get_info and managed_set_*, also across the model's
 *   ops (activate, reset, queue_reset, queue_stop, config access), which may wait for
 *   backend I/O. Never taken on a loop. Guards the offered and accepted features, the
 *   queues' states, ring setup flags, ioeventfds and the BAR placement.
 * - md->msi_lock: what the loops touch too: the status byte (needs_reset sets
 *   DEVICE_NEEDS_RESET), the generation, every MSI entry and the count of set ones,
 *   and each queue's "running" flag that lets kicks through to queue_notify. The
 *   transport ops take only it, so a model may call them with its own locks held; MSI
 *   routes are changed under it, so an interrupt never sees a half-changed entry.
 * - md->watch_lock: the kick watches' arm/cancel handshake between the command thread
 *   and the loops.
 */
#include "virtio/managed.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "virtio/tvq_proto.h"

#define BIT(n) (1ULL << (n))
#define OFF(type, field) offsetof(struct type, field)
#define SZ(type) sizeof(struct type)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* Is the reserved field `field` of out-data struct `type` at p all zero? */
#define RESERVED_OK(p, type, field)                                                     \
	all_zero((p) + OFF(type, field), sizeof(((struct type *)0)->field))

#define S_ACK TVQ_STATUS_ACKNOWLEDGE
#define S_DRIVER TVQ_STATUS_DRIVER
#define S_DRIVER_OK TVQ_STATUS_DRIVER_OK
#define S_FEATURES_OK TVQ_STATUS_FEATURES_OK
#define S_NEEDS_RESET TVQ_STATUS_DEVICE_NEEDS_RESET

#define MD_MAX_QUEUES 65535 /* queue_index and num_queues are le16 */
#define MD_WAIT_POLL_MS 100

enum md_qstate { MQ_DISABLED, MQ_ENABLED, MQ_RUNNING };

/* The kick watch's life; ARMING and CANCELLING wait for a call or a completion. */
enum md_watch { W_IDLE, W_ARMING, W_ARMED, W_CANCELLING };

struct md_msi {
	bool set, enabled, masked, pending;
	int efd; /* the irqfd while set, else -1 */
	int gsi; /* its MSI route while set, else -1 */
};

struct md_queue {
	struct managed_dev *md;
	unsigned int index;
	/* md->lock */
	enum md_qstate state;
	bool addr_set;
	bool ioeventfd; /* registered at the doorbell */
	/* md->msi_lock */
	bool running; /* kicks reach queue_notify */
	struct md_msi msi;
	/* The loop's; watch and arm_err under md->watch_lock. */
	int kick_fd;
	struct evloop_op kick_op;
	struct evloop_call arm_call, cancel_call;
	enum md_watch watch;
	/*
	 * cancel_call is queued on the loop and has not run yet: the watch may not become
	 * W_IDLE (which lets destroy free mq, cancel_call included) until it ran.
	 */
	bool cancel_queued;
	int arm_err;
};

struct managed_dev {
	struct virtio_device *dev;
	struct hv hv;
	/* features_provisioned: md->lock; msix_budget: written under md->lock and msi_lock */
	struct managed_params p;

	pthread_mutex_t lock;
	uint64_t offered;
	uint64_t driver_features; /* DRIVER_SET's value, until reset */
	uint64_t bar_gpa; /* where the doorbell BAR is while the ioeventfds are registered */

	pthread_mutex_t msi_lock;
	uint8_t status;
	uint32_t generation;
	uint16_t msix_in_use;
	struct md_msi config_msi;
	struct virtio_irq_stats irqs; /* relaxed atomics (stats.h), counted under msi_lock */

	pthread_mutex_t watch_lock;
	pthread_cond_t watch_cond;

	struct md_queue q[];
};

/* One command being executed: the buffers and the decoded queue index. */
struct md_cmd {
	const uint8_t *out;
	size_t out_len;
	uint8_t *in;
	size_t in_cap;
	size_t in_len; /* in-data written on OK: the table's in size unless the handler says */
	unsigned int q;
};

/* ---- wire helpers ---- */

static uint16_t ld16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static uint32_t ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static void st16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static void st32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void st64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- status and MSI entries (msi_lock held unless named otherwise) ---- */

static const struct md_msi md_msi_unset = { .efd = -1, .gsi = -1 };

static bool md_msi_fire(struct managed_dev *md, struct md_msi *m)
{
	if (eventfd_write(m->efd, 1) < 0) {
		log_warn("%s: MSI irqfd write failed: %s", md->dev->name, strerror(errno));
		return false;
	}
	stats_add(&md->irqs.injected, 1);
	return true;
}

/*
 * 7.3: discarded when not set or disabled, held while masked, else sent. What is not
 * sent now counts as suppressed (and as injected too if an unmask sends it).
 */
static void md_msi_signal(struct managed_dev *md, struct md_msi *m)
{
	bool sent = false;

	if (m->set && m->enabled && m->masked)
		m->pending = true;
	else if (m->set && m->enabled)
		sent = md_msi_fire(md, m);
	if (!sent)
		stats_add(&md->irqs.suppressed, 1);
}

static void md_raise_config(struct managed_dev *md)
{
	md_msi_signal(md, &md->config_msi);
}

static void md_msi_release(struct managed_dev *md, struct md_msi *m)
{
	const struct hv *hv = &md->hv;

	if (m->gsi >= 0) {
		hv->ops->irqfd(hv->ctx, m->efd, m->gsi, false);
		hv->ops->msi_route_del(hv->ctx, m->gsi);
	}
	if (m->efd >= 0)
		close(m->efd);
	if (m->set)
		md->msix_in_use--;
	*m = md_msi_unset;
}

/* A new entry: an eventfd, a route for (addr, data) and the irqfd joining them. */
static uint32_t md_msi_route(struct managed_dev *md, struct md_msi *m, uint64_t addr,
			     uint32_t data)
{
	const struct hv *hv = &md->hv;
	int efd, gsi, ret;

	if (md->msix_in_use >= md->p.msix_budget)
		return TVQ_ACK_ENOSPC;
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0) {
		log_warn("%s: MSI entry: eventfd: %s", md->dev->name, strerror(errno));
		return TVQ_ACK_ERR;
	}
	gsi = hv->ops->msi_route_add(hv->ctx, addr, data);
	if (gsi < 0) {
		close(efd);
		if (gsi == -ENOSPC)
			return TVQ_ACK_ENOSPC;
		log_warn("%s: MSI entry: route: %s", md->dev->name, strerror(-gsi));
		return TVQ_ACK_ERR;
	}
	ret = hv->ops->irqfd(hv->ctx, efd, gsi, true);
	if (ret < 0) {
		log_warn("%s: MSI entry: irqfd: %s", md->dev->name, strerror(-ret));
		hv->ops->msi_route_del(hv->ctx, gsi);
		close(efd);
		return TVQ_ACK_ERR;
	}
	m->set = true;
	m->efd = efd;
	m->gsi = gsi;
	md->msix_in_use++;
	return TVQ_ACK_OK;
}

/* VQ_SET / CONFIG_SET effect: a set entry only follows the new message. */
static uint32_t md_msi_set(struct managed_dev *md, struct md_msi *m, uint64_t addr,
			   uint32_t data)
{
	const struct hv *hv = &md->hv;
	uint32_t ack = TVQ_ACK_OK;
	int ret;

	pthread_mutex_lock(&md->msi_lock);
	if (!m->set) {
		ack = md_msi_route(md, m, addr, data);
	} else {
		ret = hv->ops->msi_route_update(hv->ctx, m->gsi, addr, data);
		if (ret < 0) {
			log_warn("%s: MSI entry: route update: %s", md->dev->name, strerror(-ret));
			ack = TVQ_ACK_ERR;
		}
	}
	pthread_mutex_unlock(&md->msi_lock);
	return ack;
}

static uint8_t md_status(struct managed_dev *md)
{
	uint8_t s;

	pthread_mutex_lock(&md->msi_lock);
	s = md->status;
	pthread_mutex_unlock(&md->msi_lock);
	return s;
}

/* The driver's value; DEVICE_NEEDS_RESET is the device's and stays. Any thread. */
static void md_status_store(struct managed_dev *md, uint8_t val)
{
	pthread_mutex_lock(&md->msi_lock);
	md->status = val | (md->status & S_NEEDS_RESET);
	pthread_mutex_unlock(&md->msi_lock);
}

/* The model could not start: DEVICE_NEEDS_RESET and the config interrupt (6.9, 6.14). */
static uint32_t md_fail(struct managed_dev *md, uint8_t val, int err)
{
	log_warn("%s: the device model cannot start: %s", md->dev->name, strerror(-err));
	pthread_mutex_lock(&md->msi_lock);
	md->status |= val | S_NEEDS_RESET;
	md_raise_config(md);
	pthread_mutex_unlock(&md->msi_lock);
	return TVQ_ACK_EIO;
}

/* ---- queues (md->lock held) ---- */

static void md_set_running(struct managed_dev *md, struct md_queue *mq, bool running)
{
	pthread_mutex_lock(&md->msi_lock);
	mq->running = running;
	pthread_mutex_unlock(&md->msi_lock);
}

/* Started: let kicks through, and look at the ring once (kicks so far were dropped). */
static void md_queue_run(struct managed_dev *md, struct md_queue *mq)
{
	mq->state = MQ_RUNNING;
	md_set_running(md, mq, true);
	if (eventfd_write(mq->kick_fd, 1) < 0)
		log_warn("%s: queue %u: first kick lost: %s", md->dev->name, mq->index,
			 strerror(errno));
}

/* Disabled, keeping size, addresses and available index (7.6). */
static void md_queue_park(struct managed_dev *md, struct md_queue *mq)
{
	struct virtqueue *vq = &md->dev->vqs[mq->index];

	vq->enabled = false;
	vq->active = false;
	mq->state = MQ_DISABLED;
}

/* The initial state of 7.2: disabled, maximum size, no addresses, index 0, ASID 0. */
static void md_queue_defaults(struct managed_dev *md, struct md_queue *mq)
{
	struct virtqueue *vq = &md->dev->vqs[mq->index];

	vq_reset(vq);
	vq->size = vq->max_size;
	mq->state = MQ_DISABLED;
	mq->addr_set = false;
}

static bool md_features_ok(const struct managed_dev *md)
{
	return (md->driver_features & BIT(VIRTIO_F_VERSION_1)) &&
	       !(md->driver_features & ~md->offered);
}

/* STATUS SET 0 (7.4): stop, let the model drain, forget queues, entries and status. */
static void md_reset(struct managed_dev *md)
{
	struct virtio_device *dev = md->dev;

	pthread_mutex_lock(&md->msi_lock);
	for (unsigned int i = 0; i < dev->nr_queues; i++)
		md->q[i].running = false;
	pthread_mutex_unlock(&md->msi_lock);

	dev->ops->reset(dev);
	for (unsigned int i = 0; i < dev->nr_queues; i++)
		md_queue_defaults(md, &md->q[i]);
	md->driver_features = 0;
	dev->driver_features = 0;

	pthread_mutex_lock(&md->msi_lock);
	for (unsigned int i = 0; i < dev->nr_queues; i++)
		md_msi_release(md, &md->q[i].msi);
	md_msi_release(md, &md->config_msi);
	md->status = 0;
	pthread_mutex_unlock(&md->msi_lock);
}

/* ---- class 3 FEAT, 4 STATUS, 5 GENERATION, 6 CONFIG ---- */

static uint32_t md_feat_device_get(struct managed_dev *md, struct md_cmd *c)
{
	st64(c->in, md->offered);
	return TVQ_ACK_OK;
}

static uint32_t md_feat_driver_set(struct managed_dev *md, struct md_cmd *c)
{
	uint64_t features = ld64(c->out + OFF(tvq_features, features));

	if (features & ~md->offered)
		return TVQ_ACK_EINVAL;
	if (md_status(md) & S_FEATURES_OK)
		return TVQ_ACK_EBUSY;
	md->driver_features = features;
	return TVQ_ACK_OK;
}

static uint32_t md_feat_driver_get(struct managed_dev *md, struct md_cmd *c)
{
	st64(c->in, md->driver_features);
	return TVQ_ACK_OK;
}

/* DRIVER_OK newly set (6.9 step 6): the model starts every enabled queue. */
static uint32_t md_start(struct managed_dev *md, uint8_t val)
{
	struct virtio_device *dev = md->dev;
	int ret = dev->ops->activate(dev);

	if (ret)
		return md_fail(md, val, ret);
	md_status_store(md, val);
	for (unsigned int i = 0; i < dev->nr_queues; i++)
		if (md->q[i].state == MQ_ENABLED)
			md_queue_run(md, &md->q[i]);
	return TVQ_ACK_OK;
}

static uint32_t md_status_set(struct managed_dev *md, struct md_cmd *c)
{
	uint8_t val = c->out[OFF(tvq_status, status)], old, newly;

	if (!val) {
		md_reset(md);
		return TVQ_ACK_OK;
	}
	if (val & TVQ_STATUS_RESERVED_BITS)
		return TVQ_ACK_EINVAL;
	val &= ~S_NEEDS_RESET;
	old = md_status(md) & ~S_NEEDS_RESET;
	if (old & ~val)
		return TVQ_ACK_EINVAL; /* sticky until reset */
	newly = val & ~old;
	if ((newly & S_FEATURES_OK) && (val & (S_ACK | S_DRIVER)) != (S_ACK | S_DRIVER))
		return TVQ_ACK_EINVAL;
	if ((newly & S_DRIVER_OK) && !(val & S_FEATURES_OK))
		return TVQ_ACK_EINVAL;
	if (newly & S_FEATURES_OK) {
		if (!md_features_ok(md))
			val &= ~(S_FEATURES_OK | S_DRIVER_OK);
		else
			md->dev->driver_features = md->driver_features;
	}
	if (val & ~old & S_DRIVER_OK)
		return md_start(md, val);
	md_status_store(md, val);
	return TVQ_ACK_OK;
}

static uint32_t md_status_get(struct managed_dev *md, struct md_cmd *c)
{
	c->in[0] = md_status(md);
	return TVQ_ACK_OK;
}

static uint32_t md_generation_get(struct managed_dev *md, struct md_cmd *c)
{
	pthread_mutex_lock(&md->msi_lock);
	st32(c->in, md->generation);
	pthread_mutex_unlock(&md->msi_lock);
	return TVQ_ACK_OK;
}

/* size 1..4096 and offset + size inside the config, in 64 bits: no overflow. */
static bool md_config_range(const struct managed_dev *md, const struct md_cmd *c,
			    uint32_t *offset, uint32_t *size)
{
	*offset = ld32(c->out + OFF(tvq_config_get_out, offset));
	*size = ld32(c->out + OFF(tvq_config_get_out, size));
	return *size && *size <= TVQ_CONFIG_MAX &&
	       (uint64_t)*offset + *size <= md->dev->config_size;
}

static uint32_t md_config_get(struct managed_dev *md, struct md_cmd *c)
{
	uint32_t offset, size;

	if (!md_config_range(md, c, &offset, &size) || c->in_cap < size)
		return TVQ_ACK_EINVAL;
	md->dev->ops->config_read(md->dev, offset, c->in, size);
	c->in_len = size;
	return TVQ_ACK_OK;
}

static uint32_t md_config_set(struct managed_dev *md, struct md_cmd *c)
{
	uint32_t offset, size;

	if (!md_config_range(md, c, &offset, &size) ||
	    c->out_len != SZ(tvq_config_set_out) + size)
		return TVQ_ACK_EINVAL;
	md->dev->ops->config_write(md->dev, offset, c->out + OFF(tvq_config_set_out, data),
				   size);
	return TVQ_ACK_OK;
}

/* ---- class 7 MSI ---- */

static bool md_msi_addr_ok(uint64_t addr)
{
	return addr >= TVQ_MSI_ADDR_FIRST && addr <= TVQ_MSI_ADDR_LAST;
}

static uint32_t md_msi_vq_set(struct managed_dev *md, struct md_cmd *c)
{
	const uint8_t *o = c->out;
	uint64_t addr = ld64(o + OFF(tvq_msi_vq_set_out, addr));

	if (!RESERVED_OK(o, tvq_msi_vq_set_out, reserved0) ||
	    !RESERVED_OK(o, tvq_msi_vq_set_out, reserved1) || !md_msi_addr_ok(addr))
		return TVQ_ACK_EINVAL;
	return md_msi_set(md, &md->q[c->q].msi, addr,
			  ld32(o + OFF(tvq_msi_vq_set_out, data)));
}

static uint32_t md_msi_config_set(struct managed_dev *md, struct md_cmd *c)
{
	const uint8_t *o = c->out;
	uint64_t addr = ld64(o + OFF(tvq_msi_config_set_out, addr));

	if (!RESERVED_OK(o, tvq_msi_config_set_out, reserved) || !md_msi_addr_ok(addr))
		return TVQ_ACK_EINVAL;
	return md_msi_set(md, &md->config_msi, addr,
			  ld32(o + OFF(tvq_msi_config_set_out, data)));
}

/* VQ_ENABLE / CONFIG_ENABLE: disabling drops what is pending. */
static uint32_t md_msi_enable(struct managed_dev *md, struct md_msi *m, uint8_t enable,
			      uint8_t reserved)
{
	uint32_t ack = TVQ_ACK_OK;

	if (enable > TVQ_MSI_ENABLED || reserved)
		return TVQ_ACK_EINVAL;
	pthread_mutex_lock(&md->msi_lock);
	if (enable && !m->set) {
		ack = TVQ_ACK_EBUSY;
	} else {
		m->enabled = enable;
		if (!enable)
			m->pending = false;
	}
	pthread_mutex_unlock(&md->msi_lock);
	return ack;
}

/* VQ_MASK / CONFIG_MASK: unmasking sends what is pending, before the reply. */
static uint32_t md_msi_mask(struct managed_dev *md, struct md_msi *m, uint8_t mask,
			    uint8_t reserved)
{
	if (mask > TVQ_MSI_MASKED || reserved)
		return TVQ_ACK_EINVAL;
	pthread_mutex_lock(&md->msi_lock);
	m->masked = mask;
	if (!mask && m->pending) {
		m->pending = false;
		md_msi_fire(md, m);
	}
	pthread_mutex_unlock(&md->msi_lock);
	return TVQ_ACK_OK;
}

static uint32_t md_msi_vq_enable(struct managed_dev *md, struct md_cmd *c)
{
	return md_msi_enable(md, &md->q[c->q].msi, c->out[OFF(tvq_msi_vq_enable_out, enable)],
			     c->out[OFF(tvq_msi_vq_enable_out, reserved)]);
}

static uint32_t md_msi_vq_mask(struct managed_dev *md, struct md_cmd *c)
{
	return md_msi_mask(md, &md->q[c->q].msi, c->out[OFF(tvq_msi_vq_mask_out, mask)],
			   c->out[OFF(tvq_msi_vq_mask_out, reserved)]);
}

static uint32_t md_msi_config_enable(struct managed_dev *md, struct md_cmd *c)
{
	return md_msi_enable(md, &md->config_msi,
			     c->out[OFF(tvq_msi_config_enable_out, enable)], 0);
}

static uint32_t md_msi_config_mask(struct managed_dev *md, struct md_cmd *c)
{
	return md_msi_mask(md, &md->config_msi, c->out[OFF(tvq_msi_config_mask_out, mask)], 0);
}

/* ---- classes 8-14: queues ---- */

static uint32_t md_vq_addr_set(struct managed_dev *md, struct md_cmd *c)
{
	const uint8_t *o = c->out;
	struct md_queue *mq = &md->q[c->q];
	struct virtqueue *vq = &md->dev->vqs[c->q];
	uint64_t device = ld64(o + OFF(tvq_vq_addr_set_out, device_area));
	uint64_t desc = ld64(o + OFF(tvq_vq_addr_set_out, descriptor_area));
	uint64_t driver = ld64(o + OFF(tvq_vq_addr_set_out, driver_area));

	if (!RESERVED_OK(o, tvq_vq_addr_set_out, reserved) ||
	    desc % TVQ_VQ_DESC_ALIGN || driver % TVQ_VQ_DRIVER_ALIGN ||
	    device % TVQ_VQ_DEVICE_ALIGN)
		return TVQ_ACK_EINVAL;
	if (mq->state != MQ_DISABLED)
		return TVQ_ACK_EBUSY;
	vq->desc_addr = desc;
	vq->avail_addr = driver;
	vq->used_addr = device;
	mq->addr_set = true;
	return TVQ_ACK_OK;
}

static uint32_t md_queue_enable(struct managed_dev *md, struct md_queue *mq)
{
	struct virtio_device *dev = md->dev;
	struct virtqueue *vq = &dev->vqs[mq->index];
	uint8_t status = md_status(md);
	int ret;

	if (mq->state != MQ_DISABLED)
		return TVQ_ACK_OK;
	if (!(status & S_FEATURES_OK) || !mq->addr_set)
		return TVQ_ACK_EBUSY;
	/* Size and alignment were checked when set: a failure here is a ring outside RAM. */
	if (vq_activate(vq, dev->mem, virtio_has_feature(dev, VIRTIO_RING_F_EVENT_IDX),
			virtio_has_feature(dev, VIRTIO_RING_F_INDIRECT_DESC)))
		return TVQ_ACK_EINVAL;
	vq->enabled = true;
	mq->state = MQ_ENABLED;
	if (!(status & S_DRIVER_OK))
		return TVQ_ACK_OK;
	/* activate starts the active queues that are not running (device.h, blk.h). */
	ret = dev->ops->activate(dev);
	if (ret)
		return md_fail(md, 0, ret);
	md_queue_run(md, mq);
	return TVQ_ACK_OK;
}

/* 7.6: a running queue is quiesced by the model, keeping its place. */
static uint32_t md_queue_disable(struct managed_dev *md, struct md_queue *mq)
{
	struct virtio_device *dev = md->dev;

	if (mq->state == MQ_RUNNING) {
		if (!dev->ops->queue_stop) {
			log_warn("queue stop not supported by %s: its queue %u keeps running",
				 dev->name, mq->index);
			return TVQ_ACK_ERR;
		}
		md_set_running(md, mq, false);
		dev->ops->queue_stop(dev, mq->index);
	}
	md_queue_park(md, mq);
	return TVQ_ACK_OK;
}

static uint32_t md_vq_enable_set(struct managed_dev *md, struct md_cmd *c)
{
	uint8_t enable = c->out[OFF(tvq_vq_enable_set_out, enable)];

	if (enable > 1 || c->out[OFF(tvq_vq_enable_set_out, reserved)])
		return TVQ_ACK_EINVAL;
	if (enable)
		return md_queue_enable(md, &md->q[c->q]);
	return md_queue_disable(md, &md->q[c->q]);
}

static uint32_t md_vq_enable_get(struct managed_dev *md, struct md_cmd *c)
{
	c->in[0] = md->q[c->q].state != MQ_DISABLED;
	return TVQ_ACK_OK;
}

static uint32_t md_vq_size_set(struct managed_dev *md, struct md_cmd *c)
{
	struct virtqueue *vq = &md->dev->vqs[c->q];
	uint16_t size = ld16(c->out + OFF(tvq_vq_size_set_out, size));

	if (!size || (size & (size - 1)) || size > vq->max_size)
		return TVQ_ACK_EINVAL;
	if (md->q[c->q].state != MQ_DISABLED)
		return TVQ_ACK_EBUSY;
	vq->size = size;
	return TVQ_ACK_OK;
}

static uint32_t md_vq_size_get(struct managed_dev *md, struct md_cmd *c)
{
	st16(c->in, md->dev->vqs[c->q].size);
	return TVQ_ACK_OK;
}

static uint32_t md_vq_notify_get(struct managed_dev *md, struct md_cmd *c)
{
	st64(c->in + OFF(tvq_vq_notify_get_in, addr), md->p.doorbell_offset);
	st64(c->in + OFF(tvq_vq_notify_get_in, size), md->p.doorbell_size);
	return TVQ_ACK_OK;
}

/* Resume point (6.17): every buffer before it counts as returned. */
static uint32_t md_vq_avail_set(struct managed_dev *md, struct md_cmd *c)
{
	struct virtqueue *vq = &md->dev->vqs[c->q];
	uint16_t idx = ld16(c->out + OFF(tvq_vq_avail_index_set_out, avail_index));

	if (md->q[c->q].state != MQ_DISABLED)
		return TVQ_ACK_EBUSY;
	vq->last_avail_idx = idx;
	vq->used_idx = idx;
	return TVQ_ACK_OK;
}

/* On a running queue the model's loop moves it: a snapshot, without tearing. */
static uint32_t md_vq_avail_get(struct managed_dev *md, struct md_cmd *c)
{
	st16(c->in, __atomic_load_n(&md->dev->vqs[c->q].last_avail_idx, __ATOMIC_RELAXED));
	return TVQ_ACK_OK;
}

/* 7.5: as a reset for one queue; its MSI entry keeps all but the pending bit. */
static uint32_t md_vq_reset(struct managed_dev *md, struct md_cmd *c)
{
	struct virtio_device *dev = md->dev;
	struct md_queue *mq = &md->q[c->q];
	uint8_t status = md_status(md);

	if (!(status & S_FEATURES_OK) || !virtio_has_feature(dev, VIRTIO_F_RING_RESET))
		return TVQ_ACK_EOPNOTSUPP;
	md_set_running(md, mq, false);
	if ((status & S_DRIVER_OK) && dev->ops->queue_reset)
		dev->ops->queue_reset(dev, mq->index);
	md_queue_defaults(md, mq);
	pthread_mutex_lock(&md->msi_lock);
	mq->msi.pending = false;
	pthread_mutex_unlock(&md->msi_lock);
	return TVQ_ACK_OK;
}

/* One address space: only ASID 0, recorded nowhere. */
static uint32_t md_asid_set(struct managed_dev *md, struct md_cmd *c)
{
	if (!RESERVED_OK(c->out, tvq_asid_set_out, reserved) ||
	    ld32(c->out + OFF(tvq_asid_set_out, asid)))
		return TVQ_ACK_EINVAL;
	if (md->q[c->q].state != MQ_DISABLED)
		return TVQ_ACK_EBUSY;
	return TVQ_ACK_OK;
}

/* ---- the command table (6.5) ---- */

#define MD_QIDX 0x1    /* out-data starts with queue_index */
#define MD_VAR_OUT 0x2 /* out size is a minimum; the handler checks the exact length */

typedef uint32_t (*md_handler)(struct managed_dev *md, struct md_cmd *c);

static const struct md_command {
	uint16_t class, command;
	uint8_t flags;
	uint8_t out_size, in_size;
	md_handler fn;
} md_commands[] = {
	{ TVQ_CLASS_FEAT, TVQ_CMD_FEAT_DEVICE_GET, 0, 0, SZ(tvq_features), md_feat_device_get },
	{ TVQ_CLASS_FEAT, TVQ_CMD_FEAT_DRIVER_SET, 0, SZ(tvq_features), 0, md_feat_driver_set },
	{ TVQ_CLASS_FEAT, TVQ_CMD_FEAT_DRIVER_GET, 0, 0, SZ(tvq_features), md_feat_driver_get },
	{ TVQ_CLASS_STATUS, TVQ_CMD_STATUS_SET, 0, SZ(tvq_status), 0, md_status_set },
	{ TVQ_CLASS_STATUS, TVQ_CMD_STATUS_GET, 0, 0, SZ(tvq_status), md_status_get },
	{ TVQ_CLASS_GENERATION, TVQ_CMD_GENERATION_GET, 0, 0, SZ(tvq_generation),
	  md_generation_get },
	/* CONFIG GET's in size is its `size`: the handler checks the room. */
	{ TVQ_CLASS_CONFIG, TVQ_CMD_CONFIG_GET, 0, SZ(tvq_config_get_out), 0, md_config_get },
	{ TVQ_CLASS_CONFIG, TVQ_CMD_CONFIG_SET, MD_VAR_OUT, SZ(tvq_config_set_out), 0,
	  md_config_set },
	{ TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_SET, MD_QIDX, SZ(tvq_msi_vq_set_out), 0,
	  md_msi_vq_set },
	{ TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_ENABLE, MD_QIDX, SZ(tvq_msi_vq_enable_out), 0,
	  md_msi_vq_enable },
	{ TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_MASK, MD_QIDX, SZ(tvq_msi_vq_mask_out), 0,
	  md_msi_vq_mask },
	{ TVQ_CLASS_MSI, TVQ_CMD_MSI_CONFIG_SET, 0, SZ(tvq_msi_config_set_out), 0,
	  md_msi_config_set },
	{ TVQ_CLASS_MSI, TVQ_CMD_MSI_CONFIG_ENABLE, 0, SZ(tvq_msi_config_enable_out), 0,
	  md_msi_config_enable },
	{ TVQ_CLASS_MSI, TVQ_CMD_MSI_CONFIG_MASK, 0, SZ(tvq_msi_config_mask_out), 0,
	  md_msi_config_mask },
	{ TVQ_CLASS_VQ_ADDR, TVQ_CMD_VQ_ADDR_SET, MD_QIDX, SZ(tvq_vq_addr_set_out), 0,
	  md_vq_addr_set },
	{ TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, MD_QIDX, SZ(tvq_vq_enable_set_out), 0,
	  md_vq_enable_set },
	{ TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, MD_QIDX, SZ(tvq_vq_index),
	  SZ(tvq_vq_enable_get_in), md_vq_enable_get },
	{ TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_SET, MD_QIDX, SZ(tvq_vq_size_set_out), 0,
	  md_vq_size_set },
	{ TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, MD_QIDX, SZ(tvq_vq_index),
	  SZ(tvq_vq_size_get_in), md_vq_size_get },
	{ TVQ_CLASS_VQ_NOTIFY, TVQ_CMD_VQ_NOTIFY_GET, MD_QIDX, SZ(tvq_vq_index),
	  SZ(tvq_vq_notify_get_in), md_vq_notify_get },
	{ TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_SET, MD_QIDX,
	  SZ(tvq_vq_avail_index_set_out), 0, md_vq_avail_set },
	{ TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_GET, MD_QIDX, SZ(tvq_vq_index),
	  SZ(tvq_vq_avail_index_get_in), md_vq_avail_get },
	{ TVQ_CLASS_VQ_RESET, TVQ_CMD_VQ_RESET_RESET, MD_QIDX, SZ(tvq_vq_index), 0,
	  md_vq_reset },
	{ TVQ_CLASS_ASID, TVQ_CMD_ASID_SET, MD_QIDX, SZ(tvq_asid_set_out), 0, md_asid_set },
};

static const struct md_command *md_command_find(uint16_t class, uint16_t command)
{
	for (size_t i = 0; i < ARRAY_SIZE(md_commands); i++)
		if (md_commands[i].class == class && md_commands[i].command == command)
			return &md_commands[i];
	return NULL;
}

/* Step 8 of 6.4: exact out-data (a minimum where variable), room for the in-data. */
static bool md_lengths_ok(const struct md_command *cmd, size_t out_len, size_t in_cap)
{
	if (cmd->flags & MD_VAR_OUT ? out_len < cmd->out_size : out_len != cmd->out_size)
		return false;
	return in_cap >= cmd->in_size;
}

uint32_t managed_command(struct managed_dev *md, uint16_t class, uint16_t command,
			 const uint8_t *out, size_t out_len, uint8_t *in, size_t in_cap,
			 size_t *in_len)
{
	const struct md_command *cmd = md_command_find(class, command);
	struct md_cmd c = { .out = out, .out_len = out_len, .in = in, .in_cap = in_cap };
	uint32_t ack;

	*in_len = 0;
	if (!cmd)
		return TVQ_ACK_EOPNOTSUPP; /* mgmt.c checked this (step 4); a safety net */
	if (!md_lengths_ok(cmd, out_len, in_cap))
		return TVQ_ACK_EINVAL;
	if (cmd->flags & MD_QIDX) {
		c.q = ld16(out);
		if (c.q >= md->dev->nr_queues)
			return TVQ_ACK_EINVAL;
	}
	c.in_len = cmd->in_size;
	pthread_mutex_lock(&md->lock);
	ack = cmd->fn(md, &c);
	pthread_mutex_unlock(&md->lock);
	if (ack == TVQ_ACK_OK)
		*in_len = c.in_len;
	return ack;
}

/* ---- transport ops (the model's loops; msi_lock only) ---- */

static void md_queue_interrupt(struct virtio_device *dev, unsigned int q)
{
	struct managed_dev *md = dev->transport_priv;

	if (q >= dev->nr_queues)
		return;
	pthread_mutex_lock(&md->msi_lock);
	md_msi_signal(md, &md->q[q].msi);
	pthread_mutex_unlock(&md->msi_lock);
}

static void md_config_interrupt(struct virtio_device *dev)
{
	struct managed_dev *md = dev->transport_priv;

	pthread_mutex_lock(&md->msi_lock);
	md->generation++;
	md_raise_config(md);
	pthread_mutex_unlock(&md->msi_lock);
}

static void md_needs_reset(struct virtio_device *dev)
{
	struct managed_dev *md = dev->transport_priv;

	pthread_mutex_lock(&md->msi_lock);
	if (md->status) {
		md->status |= S_NEEDS_RESET;
		md_raise_config(md);
	}
	pthread_mutex_unlock(&md->msi_lock);
}

static const struct virtio_transport_ops md_transport_ops = {
	.queue_interrupt = md_queue_interrupt,
	.config_interrupt = md_config_interrupt,
	.needs_reset = md_needs_reset,
};

/* ---- kick watches ---- */

static struct evloop *md_loop(const struct md_queue *mq)
{
	return virtio_queue_loop(mq->md->dev, mq->index);
}

static bool md_loop_stopped(const struct evloop *loop)
{
	return __atomic_load_n(&loop->stop, __ATOMIC_ACQUIRE);
}

static bool md_loop_running(const struct evloop *loop)
{
	return __atomic_load_n(&loop->thread, __ATOMIC_RELAXED) != 0;
}

static void md_kick(struct evloop_op *op, int res, bool more);

/* On the queue's loop thread, watch_lock held. */
static int md_watch(struct md_queue *mq)
{
	return evloop_watch_fd(md_loop(mq), &mq->kick_op, mq->kick_fd, POLLIN, md_kick, mq);
}

static void md_watch_set(struct md_queue *mq, enum md_watch w)
{
	mq->watch = w;
	pthread_cond_broadcast(&mq->md->watch_cond);
}

static bool md_watch_busy(const struct md_queue *mq)
{
	return mq->watch == W_ARMING || mq->watch == W_CANCELLING;
}

/* evloop_call on the queue's loop. A destroy that came first leaves it to the cancel. */
static void md_arm_call(void *arg)
{
	struct md_queue *mq = arg;

	pthread_mutex_lock(&mq->md->watch_lock);
	if (mq->watch == W_ARMING) {
		mq->arm_err = md_watch(mq);
		md_watch_set(mq, mq->arm_err ? W_IDLE : W_ARMED);
	}
	pthread_mutex_unlock(&mq->md->watch_lock);
}

/* evloop_call on the queue's loop: the poll's -ECANCELED completion ends the watch. */
static void md_cancel_call(void *arg)
{
	struct md_queue *mq = arg;
	struct managed_dev *md = mq->md;
	bool done = false;

	pthread_mutex_lock(&md->watch_lock);
	mq->cancel_queued = false;
	if (!mq->kick_op.armed) {
		done = true;
	} else if (evloop_unwatch(md_loop(mq), &mq->kick_op)) {
		/* Submission queue full even after submitting: try again next iteration. */
		mq->cancel_queued = true;
		evloop_call(md_loop(mq), &mq->cancel_call, md_cancel_call, mq);
	}
	if (done)
		md_watch_set(mq, W_IDLE);
	pthread_mutex_unlock(&md->watch_lock);
}

/*
 * The poll ended: our cancellation (done), an error, or the kernel ended the multishot
 * poll (re-armed). True if the watch is gone; then mq may be freed at once.
 */
static bool md_watch_ended(struct md_queue *mq, int res)
{
	struct managed_dev *md = mq->md;
	bool gone;

	pthread_mutex_lock(&md->watch_lock);
	gone = mq->watch == W_CANCELLING || res < 0 || md_watch(mq);
	if (gone) {
		if (mq->watch != W_CANCELLING)
			log_err("%s: queue %u: kick watch ended (%s): kicks are lost",
				md->dev->name, mq->index, strerror(res < 0 ? -res : EBUSY));
		/* A queued cancel_call still names mq: it ends the watch when it runs. */
		if (!mq->cancel_queued)
			md_watch_set(mq, W_IDLE);
	}
	pthread_mutex_unlock(&md->watch_lock);
	return gone;
}

/* On the queue's loop thread: a doorbell write (or our own first kick). */
static void md_kick(struct evloop_op *op, int res, bool more)
{
	struct md_queue *mq = op->opaque;
	struct managed_dev *md = mq->md;
	eventfd_t count;
	bool running;

	if (!more && md_watch_ended(mq, res))
		return;
	if (res < 0 || eventfd_read(mq->kick_fd, &count) < 0)
		return;
	pthread_mutex_lock(&md->msi_lock);
	running = mq->running;
	pthread_mutex_unlock(&md->msi_lock);
	if (running)
		md->dev->ops->queue_notify(md->dev, mq->index);
}

static void md_timedwait(pthread_cond_t *cond, pthread_mutex_t *lock, long ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += ms * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(cond, lock, &until);
}

/* Until the queue's arm or cancel has happened, or its loop stopped for good. */
static void md_watch_wait(struct md_queue *mq)
{
	struct managed_dev *md = mq->md;
	struct evloop *loop = md_loop(mq);

	pthread_mutex_lock(&md->watch_lock);
	if (md_watch_busy(mq) && evloop_on_thread(loop)) {
		log_err("%s: queue %u: waiting for the kick watch on its own loop thread",
			md->dev->name, mq->index);
		abort();
	}
	while (md_watch_busy(mq) && !md_loop_stopped(loop))
		md_timedwait(&md->watch_cond, &md->watch_lock, MD_WAIT_POLL_MS);
	pthread_mutex_unlock(&md->watch_lock);
}

/* Arm every queue's watch; wait where the loop runs (elsewhere it arms when it starts). */
static int md_watch_all(struct managed_dev *md)
{
	struct virtio_device *dev = md->dev;
	int err = 0;

	for (unsigned int i = 0; i < dev->nr_queues; i++) {
		struct md_queue *mq = &md->q[i];
		struct evloop *loop = md_loop(mq);

		if (md_loop_stopped(loop))
			return -ESHUTDOWN;
		mq->watch = W_ARMING;
		if (evloop_on_thread(loop))
			md_arm_call(mq);
		else
			evloop_call(loop, &mq->arm_call, md_arm_call, mq);
	}
	for (unsigned int i = 0; i < dev->nr_queues; i++) {
		struct md_queue *mq = &md->q[i];

		if (md_loop_running(md_loop(mq)) && !evloop_on_thread(md_loop(mq)))
			md_watch_wait(mq);
		pthread_mutex_lock(&md->watch_lock);
		if (mq->arm_err)
			err = mq->arm_err;
		pthread_mutex_unlock(&md->watch_lock);
	}
	return err;
}

/* Cancel every watch (all loops at once), then wait for each cancellation's reaping. */
static void md_unwatch_all(struct managed_dev *md)
{
	struct virtio_device *dev = md->dev;

	for (unsigned int i = 0; i < dev->nr_queues; i++) {
		struct md_queue *mq = &md->q[i];
		struct evloop *loop = md_loop(mq);

		pthread_mutex_lock(&md->watch_lock);
		if (mq->watch == W_ARMING || mq->watch == W_ARMED) {
			md_watch_set(mq, W_CANCELLING);
			if (!md_loop_stopped(loop)) {
				mq->cancel_queued = true;
				evloop_call(loop, &mq->cancel_call, md_cancel_call, mq);
			}
		}
		pthread_mutex_unlock(&md->watch_lock);
	}
	for (unsigned int i = 0; i < dev->nr_queues; i++)
		md_watch_wait(&md->q[i]);
}

/* ---- doorbells (md->lock held) ---- */

static int md_doorbell(struct managed_dev *md, struct md_queue *mq, bool assign)
{
	return md->hv.ops->ioeventfd(md->hv.ctx, mq->kick_fd, md->bar_gpa + md->p.doorbell_offset,
				     2, false, true, mq->index, assign);
}

static void md_doorbells_drop(struct managed_dev *md)
{
	for (unsigned int i = 0; i < md->dev->nr_queues; i++) {
		if (md->q[i].ioeventfd)
			md_doorbell(md, &md->q[i], false);
		md->q[i].ioeventfd = false;
	}
}

static void md_doorbells_add(struct managed_dev *md)
{
	for (unsigned int i = 0; i < md->dev->nr_queues; i++) {
		int ret = md_doorbell(md, &md->q[i], true);

		if (ret < 0)
			log_warn("%s: queue %u: no doorbell ioeventfd (%s): kicks exit to vqvm",
				 md->dev->name, i, strerror(-ret));
		md->q[i].ioeventfd = ret == 0;
	}
}

void managed_doorbell_bar(struct managed_dev *md, uint64_t bar_gpa, bool mapped)
{
	pthread_mutex_lock(&md->lock);
	md_doorbells_drop(md);
	md->bar_gpa = bar_gpa;
	if (mapped)
		md_doorbells_add(md);
	pthread_mutex_unlock(&md->lock);
}

void managed_kick(struct managed_dev *md, uint16_t q)
{
	if (q < md->dev->nr_queues && eventfd_write(md->q[q].kick_fd, 1) < 0)
		log_warn("%s: queue %u: kick lost: %s", md->dev->name, q, strerror(errno));
}

/* ---- the API ---- */

static uint64_t md_offered(const struct managed_dev *md)
{
	const struct virtio_device *dev = md->dev;
	uint64_t f = dev->ops->features(md->dev) | VIRTIO_COMMON_FEATURES;

	if (md->p.features_allowed)
		f &= md->p.features_allowed;
	f &= md->p.features_provisioned;
	/* A model that cannot reset one queue does not get VQ_RESET. */
	if (!dev->ops->queue_reset)
		f &= ~BIT(VIRTIO_F_RING_RESET);
	return (f | BIT(VIRTIO_F_VERSION_1)) & ~TVQ_MANAGED_NEVER_FEATURES;
}

static int md_check(const struct virtio_device *dev, const struct managed_params *p,
		    const struct hv *hv, struct err *e)
{
	if (!p->id)
		return err_set(e, "%s: managed device id 0", dev->name);
	return virtio_transport_check(dev, hv, MD_MAX_QUEUES, TVQ_CONFIG_MAX, e);
}

static void md_free(struct managed_dev *md)
{
	for (unsigned int i = 0; i < md->dev->nr_queues; i++)
		if (md->q[i].kick_fd >= 0)
			close(md->q[i].kick_fd);
	pthread_mutex_destroy(&md->lock);
	pthread_mutex_destroy(&md->msi_lock);
	pthread_mutex_destroy(&md->watch_lock);
	pthread_cond_destroy(&md->watch_cond);
	free(md);
}

static struct managed_dev *md_alloc(struct virtio_device *dev, const struct managed_params *p,
				    const struct hv *hv)
{
	struct managed_dev *md = calloc(1, sizeof(*md) + dev->nr_queues * sizeof(md->q[0]));

	if (!md)
		return NULL;
	md->dev = dev;
	md->hv = *hv;
	md->p = *p;
	pthread_mutex_init(&md->lock, NULL);
	pthread_mutex_init(&md->msi_lock, NULL);
	pthread_mutex_init(&md->watch_lock, NULL);
	pthread_cond_init(&md->watch_cond, NULL);
	md->config_msi = md_msi_unset;
	for (unsigned int i = 0; i < dev->nr_queues; i++)
		md->q[i] = (struct md_queue){ .md = md, .index = i, .msi = md_msi_unset,
					      .kick_fd = -1 };
	return md;
}

int managed_create(struct managed_dev **out, struct virtio_device *dev,
		   const struct managed_params *p, const struct hv *hv, struct err *e)
{
	struct managed_dev *md;
	int ret = -ENOMEM;

	if (md_check(dev, p, hv, e))
		return -1;
	md = md_alloc(dev, p, hv);
	if (!md)
		return err_set(e, "%s: out of memory", dev->name);
	for (unsigned int i = 0; i < dev->nr_queues; i++) {
		md->q[i].kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (md->q[i].kick_fd < 0) {
			ret = -errno;
			goto fail;
		}
		md_queue_defaults(md, &md->q[i]);
	}
	md->offered = md_offered(md);
	dev->driver_features = 0;
	dev->transport = &md_transport_ops;
	dev->transport_priv = md;
	ret = md_watch_all(md);
	if (ret)
		goto fail_watch;
	*out = md;
	return 0;
fail_watch:
	md_unwatch_all(md);
	dev->transport = NULL;
	dev->transport_priv = NULL;
fail:
	md_free(md);
	return err_set(e, "%s: cannot serve it as a managed device: %s", dev->name,
		       strerror(-ret));
}

void managed_destroy(struct managed_dev *md)
{
	if (!md)
		return;
	pthread_mutex_lock(&md->lock);
	md_doorbells_drop(md);
	md_reset(md);
	pthread_mutex_unlock(&md->lock);
	md_unwatch_all(md);
	md->dev->transport = NULL;
	md->dev->transport_priv = NULL;
	md_free(md);
}

void managed_reset(struct managed_dev *md)
{
	pthread_mutex_lock(&md->lock);
	md_reset(md);
	pthread_mutex_unlock(&md->lock);
}

void managed_irq_stats(struct managed_dev *md, struct virtio_irq_stats *out)
{
	stats_irq_get(&md->irqs, out);
}

void managed_get_info(struct managed_dev *md, struct managed_info *info)
{
	pthread_mutex_lock(&md->lock);
	info->device_features = md->offered;
	info->driver_features = md->driver_features;
	info->num_queues = md->dev->nr_queues;
	info->msix_budget = md->p.msix_budget;
	info->config_size = md->dev->config_size;
	pthread_mutex_lock(&md->msi_lock);
	info->status = md->status;
	info->msix_in_use = md->msix_in_use;
	pthread_mutex_unlock(&md->msi_lock);
	pthread_mutex_unlock(&md->lock);
}

void managed_get_state(struct managed_dev *md, struct managed_info *info)
{
	pthread_mutex_lock(&md->msi_lock);
	info->status = md->status;
	info->msix_budget = md->p.msix_budget;
	info->msix_in_use = md->msix_in_use;
	pthread_mutex_unlock(&md->msi_lock);
}

int managed_set_msix_budget(struct managed_dev *md, uint16_t budget)
{
	int ret = 0;

	pthread_mutex_lock(&md->lock);
	pthread_mutex_lock(&md->msi_lock);
	if (md->status || budget < md->msix_in_use)
		ret = -EBUSY;
	else
		md->p.msix_budget = budget;
	pthread_mutex_unlock(&md->msi_lock);
	pthread_mutex_unlock(&md->lock);
	return ret;
}

int managed_set_features(struct managed_dev *md, uint64_t provisioned, uint64_t *offered)
{
	int ret = 0;

	pthread_mutex_lock(&md->lock);
	if (md_status(md)) {
		ret = -EBUSY;
	} else {
		md->p.features_provisioned = provisioned;
		md->offered = md_offered(md);
	}
	*offered = md->offered;
	pthread_mutex_unlock(&md->lock);
	return ret;
}
