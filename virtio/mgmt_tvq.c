/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The management device's transport virtqueue (docs/transport-vq.md section 6): the
 * checks of 6.4 in their order, the command table of 6.5, the management device's own
 * commands (VDEV CREATE and DESTROY, AVAIL_RES GET) and the creation and teardown of
 * managed devices, host-initiated ones included. Classes 3-14 go to managed.c.
 *
 * Checks 2-6 run on the loop thread when the chain is taken, so that a command for an
 * existing device can join that device's FIFO (mgmt.c's runner); check 7 runs again
 * when the command executes, since a DESTROY before it in the FIFO invalidates the id.
 */
#include <endian.h>
#include <errno.h>
#include <linux/virtio_blk.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "virtio/mgmt_int.h"
#include "virtio/net.h"

#define NET_MAC_LEN 6
#define NET_CONFIG_SIZE 12 /* what vqvm's net model exposes (6.6) */

typedef uint32_t (*tvq_fn)(struct mgmt *m, struct mgmt_vdev *vd, const uint8_t *out,
			   size_t out_len, uint8_t *in, size_t in_cap, size_t *in_len);

struct tvq_cmd {
	uint16_t class, command;
	bool mgmt;  /* takes device_id 0 (and only it) */
	tvq_fn fn;  /* NULL: managed.c executes it */
};

static uint32_t tvq_create(struct mgmt *m, struct mgmt_vdev *vd, const uint8_t *out,
			   size_t out_len, uint8_t *in, size_t in_cap, size_t *in_len);
static uint32_t tvq_destroy(struct mgmt *m, struct mgmt_vdev *vd, const uint8_t *out,
			    size_t out_len, uint8_t *in, size_t in_cap, size_t *in_len);
static uint32_t tvq_avail(struct mgmt *m, struct mgmt_vdev *vd, const uint8_t *out,
			  size_t out_len, uint8_t *in, size_t in_cap, size_t *in_len);

/* 6.5: every (class, command) that exists. */
static const struct tvq_cmd tvq_cmds[] = {
	{ TVQ_CLASS_VDEV, TVQ_CMD_VDEV_CREATE, true, tvq_create },
	{ TVQ_CLASS_VDEV, TVQ_CMD_VDEV_DESTROY, false, tvq_destroy },
	{ TVQ_CLASS_AVAIL_RES, TVQ_CMD_AVAIL_RES_GET, true, tvq_avail },
	{ TVQ_CLASS_FEAT, TVQ_CMD_FEAT_DEVICE_GET, false, NULL },
	{ TVQ_CLASS_FEAT, TVQ_CMD_FEAT_DRIVER_SET, false, NULL },
	{ TVQ_CLASS_FEAT, TVQ_CMD_FEAT_DRIVER_GET, false, NULL },
	{ TVQ_CLASS_STATUS, TVQ_CMD_STATUS_SET, false, NULL },
	{ TVQ_CLASS_STATUS, TVQ_CMD_STATUS_GET, false, NULL },
	{ TVQ_CLASS_GENERATION, TVQ_CMD_GENERATION_GET, false, NULL },
	{ TVQ_CLASS_CONFIG, TVQ_CMD_CONFIG_GET, false, NULL },
	{ TVQ_CLASS_CONFIG, TVQ_CMD_CONFIG_SET, false, NULL },
	{ TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_SET, false, NULL },
	{ TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_ENABLE, false, NULL },
	{ TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_MASK, false, NULL },
	{ TVQ_CLASS_MSI, TVQ_CMD_MSI_CONFIG_SET, false, NULL },
	{ TVQ_CLASS_MSI, TVQ_CMD_MSI_CONFIG_ENABLE, false, NULL },
	{ TVQ_CLASS_MSI, TVQ_CMD_MSI_CONFIG_MASK, false, NULL },
	{ TVQ_CLASS_VQ_ADDR, TVQ_CMD_VQ_ADDR_SET, false, NULL },
	{ TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, false, NULL },
	{ TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, false, NULL },
	{ TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_SET, false, NULL },
	{ TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, false, NULL },
	{ TVQ_CLASS_VQ_NOTIFY, TVQ_CMD_VQ_NOTIFY_GET, false, NULL },
	{ TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_SET, false, NULL },
	{ TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_GET, false, NULL },
	{ TVQ_CLASS_VQ_RESET, TVQ_CMD_VQ_RESET_RESET, false, NULL },
	{ TVQ_CLASS_ASID, TVQ_CMD_ASID_SET, false, NULL },
};

static const struct tvq_cmd *tvq_cmd_find(uint16_t class, uint16_t command)
{
	for (size_t i = 0; i < sizeof(tvq_cmds) / sizeof(tvq_cmds[0]); i++)
		if (tvq_cmds[i].class == class && tvq_cmds[i].command == command)
			return &tvq_cmds[i];
	return NULL;
}

static bool tvq_negotiated(struct mgmt *m)
{
	const uint64_t need = 1ULL << TVQ_F_TRNSPT_VQ | 1ULL << TVQ_F_TRNSPT_VQ_VDEV;

	return (mgmt_features(m) & need) == need;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Checks 2-6 of 6.4 (1 is the caller's: a reply buffer under 4 bytes). */
static uint32_t tvq_check_hdr(struct mgmt *m, const uint8_t *req, uint64_t len,
			      const struct tvq_cmd **cmd)
{
	struct tvq_req_hdr h;

	if (!tvq_negotiated(m))
		return TVQ_ACK_EOPNOTSUPP;
	if (len < sizeof(h))
		return TVQ_ACK_EINVAL;
	memcpy(&h, req, sizeof(h));
	*cmd = tvq_cmd_find(le16toh(h.class), le16toh(h.command));
	if (!*cmd)
		return TVQ_ACK_EOPNOTSUPP;
	if (!all_zero(h.reserved, sizeof(h.reserved)))
		return TVQ_ACK_EINVAL;
	if ((*cmd)->mgmt != (h.device_id == 0))
		return TVQ_ACK_EINVAL;
	return TVQ_ACK_OK;
}

static uint64_t tvq_device_id(const uint8_t *req)
{
	uint64_t id;

	memcpy(&id, req, sizeof(id));
	return le64toh(id);
}

/*
 * Step 8 on: the command itself (vd NULL for device_id 0). A request longer than any
 * command's (only its first MGMT_REQ_MAX bytes were kept) has a wrong length for all.
 */
static uint32_t tvq_execute(struct mgmt *m, struct mgmt_vdev *vd, const struct tvq_cmd *cmd,
			    const uint8_t *req, uint64_t req_len, uint8_t *in, size_t in_cap,
			    size_t *in_len)
{
	const uint8_t *out = req + sizeof(struct tvq_req_hdr);
	size_t out_len = req_len - sizeof(struct tvq_req_hdr);

	*in_len = 0;
	if (req_len > MGMT_REQ_MAX)
		return TVQ_ACK_EINVAL;
	if (cmd->fn)
		return cmd->fn(m, vd, out, out_len, in, in_cap, in_len);
	return managed_command(vd->md, cmd->class, cmd->command, out, out_len, in, in_cap,
			       in_len);
}

/* Fill in the reply header: used length 4 + in-data on OK, 4 otherwise (6.1). */
static size_t tvq_reply(uint8_t *reply, uint32_t ack, size_t in_len)
{
	uint32_t le = htole32(ack);

	memcpy(reply, &le, sizeof(le));
	return sizeof(le) + (ack == TVQ_ACK_OK ? in_len : 0);
}

static void tvq_answer(struct mgmt_cmd *c, uint32_t ack)
{
	c->used = tvq_reply(c->reply, ack, 0);
}

bool mgmt_tvq_dispatch(struct mgmt *m, struct mgmt_cmd *c)
{
	const struct tvq_cmd *cmd = NULL;
	uint32_t ack = tvq_check_hdr(m, c->req, c->req_len, &cmd);
	uint64_t id;
	struct mgmt_vdev *vd;

	if (ack != TVQ_ACK_OK) {
		tvq_answer(c, ack);
		return false;
	}
	id = tvq_device_id(c->req);
	pthread_mutex_lock(&m->lock);
	if (!id) {
		mgmt_job_queue(m, &c->job);
		pthread_mutex_unlock(&m->lock);
		return true;
	}
	vd = mgmt_vd_find(m, id);
	if (vd) {
		c->next = NULL;
		*vd->fifo_tail = c;
		vd->fifo_tail = &c->next;
		mgmt_vd_schedule(vd);
	}
	pthread_mutex_unlock(&m->lock);
	if (!vd)
		tvq_answer(c, TVQ_ACK_ENODEV);
	return vd != NULL;
}

static void tvq_run_cmd(struct mgmt *m, struct mgmt_vdev *vd, struct mgmt_cmd *c)
{
	struct tvq_req_hdr h;
	const struct tvq_cmd *cmd;
	size_t hdr = sizeof(struct tvq_reply_hdr), in_len;
	uint32_t ack;

	memcpy(&h, c->req, sizeof(h));
	cmd = tvq_cmd_find(le16toh(h.class), le16toh(h.command));
	ack = tvq_execute(m, vd, cmd, c->req, c->req_len, c->reply + hdr, c->reply_cap - hdr,
			  &in_len);
	c->used = tvq_reply(c->reply, ack, in_len);
	mgmt_cmd_complete(m, c);
}

/* A worker: a command with device_id 0 (unordered). */
void mgmt_tvq_run(struct mgmt *m, struct mgmt_job *job)
{
	tvq_run_cmd(m, NULL, container_of(job, struct mgmt_cmd, job));
}

/* vd's runner: its next command. Check 7 again: a DESTROY before it ended the id. */
void mgmt_tvq_exec_vd(struct mgmt_vdev *vd, struct mgmt_cmd *c)
{
	struct mgmt *m = vd->m;
	bool gone;

	pthread_mutex_lock(&m->lock);
	gone = vd->gone;
	pthread_mutex_unlock(&m->lock);
	if (!gone) {
		tvq_run_cmd(m, vd, c);
		return;
	}
	tvq_answer(c, TVQ_ACK_ENODEV);
	mgmt_cmd_complete(m, c);
}

/* ---- backends and creation ---- */

/* m->lock held: is a backend of this type on its way back to the pool? */
static bool mgmt_backend_releasing(struct mgmt *m, uint32_t type)
{
	for (struct mgmt_backend *be = m->backends; be; be = be->next)
		if (be->state == MGMT_BE_RELEASING && be->dev->device_type == type)
			return true;
	return false;
}

/*
 * 6.6: the free backend of the type with the smallest default budget, the first
 * provisioned on ties. Reserved (USED) for the caller.
 */
static struct mgmt_backend *mgmt_backend_pick(struct mgmt *m, uint32_t type, uint32_t *ack)
{
	struct mgmt_backend *best = NULL;

	pthread_mutex_lock(&m->lock);
	for (struct mgmt_backend *be = m->backends; be; be = be->next) {
		if (be->state != MGMT_BE_FREE || be->dev->device_type != type)
			continue;
		if (!best || mgmt_default_budget(m, be->dev) < mgmt_default_budget(m, best->dev))
			best = be;
	}
	if (best)
		best->state = MGMT_BE_USED;
	else
		*ack = mgmt_backend_releasing(m, type) ? TVQ_ACK_EAGAIN : TVQ_ACK_ENOSPC;
	pthread_mutex_unlock(&m->lock);
	return best;
}

/* m->lock held: the lowest free slot, or -1. */
static int mgmt_slot_free(const struct mgmt *m)
{
	for (unsigned int s = 0; s < m->p.max_managed; s++)
		if (!m->slot[s])
			return s;
	return -1;
}

static struct mgmt_vdev *mgmt_vd_new(struct mgmt *m, struct mgmt_backend *be, uint8_t origin)
{
	struct mgmt_vdev *vd = calloc(1, sizeof(*vd));

	if (!vd)
		return NULL;
	vd->m = m;
	vd->be = be;
	vd->origin = origin;
	vd->gone = true; /* not visible until created */
	vd->msix_budget = mgmt_default_budget(m, be->dev);
	vd->features_provisioned = ~0ULL;
	vd->fifo_tail = &vd->fifo;
	pthread_mutex_init(&vd->mgmt_lock, NULL);
	return vd;
}

/* m->lock held: a slot and the default budget for vd, and the next id; or ENOSPC. */
static uint32_t mgmt_vd_reserve(struct mgmt *m, struct mgmt_vdev *vd)
{
	int slot = mgmt_slot_free(m);

	if (slot < 0 || vd->msix_budget > m->p.msix_pool_size - m->msix_assigned)
		return TVQ_ACK_ENOSPC;
	vd->slot = slot;
	vd->id = m->next_id;
	m->slot[slot] = vd;
	m->msix_assigned += vd->msix_budget;
	return TVQ_ACK_OK;
}

/* m->lock held: undo mgmt_vd_reserve. */
static void mgmt_vd_unreserve(struct mgmt *m, struct mgmt_vdev *vd)
{
	m->slot[vd->slot] = NULL;
	m->msix_assigned -= vd->msix_budget;
}

/* A net backend shows the chosen MAC, or its own again after an earlier CREATE's. */
static int mgmt_backend_set_mac(struct mgmt_backend *be, const uint8_t *mac)
{
	struct virtio_device *dev = be->dev;
	uint8_t cur[NET_MAC_LEN];

	if (dev->device_type != TVQ_VIRTIO_ID_NET || dev->config_size < NET_MAC_LEN)
		return 0;
	if (!mac)
		mac = be->mac;
	dev->ops->config_read(dev, 0, cur, sizeof(cur));
	if (!memcmp(cur, mac, sizeof(cur)))
		return 0;
	return net_set_mac(dev, mac);
}

static int mgmt_vd_serve(struct mgmt *m, struct mgmt_vdev *vd, uint64_t features_allowed,
			 struct managed_dev **md)
{
	struct managed_params mp = {
		.id = vd->id,
		.slot = vd->slot,
		.doorbell_offset = (uint64_t)vd->slot * TVQ_DOORBELL_STRIDE,
		.doorbell_size = TVQ_DOORBELL_STRIDE,
		.features_allowed = features_allowed,
		.features_provisioned = vd->features_provisioned,
		.msix_budget = vd->msix_budget,
	};
	struct err e;

	if (managed_create(md, vd->be->dev, &mp, &m->hv, &e)) {
		log_warn("%s: managed device on backend '%s': %s", vd->be->dev->name,
			 vd->be->name, e.msg);
		return -1;
	}
	return 0;
}

/*
 * Create a managed device on be, which the caller reserved (USED). Creations run one
 * at a time (m->create_lock) so that ids go up by one per device that exists, a failed
 * CREATE taking none. On failure be is FREE again. The new device is visible, its
 * doorbells follow through its runner before any command of its, the generation moved.
 */
uint32_t mgmt_vdev_create(struct mgmt *m, struct mgmt_backend *be, uint8_t origin,
			  uint64_t features_allowed, const uint8_t *mac, uint64_t *id)
{
	struct mgmt_vdev *vd = mgmt_vd_new(m, be, origin);
	uint32_t ack = vd ? TVQ_ACK_OK : TVQ_ACK_ERR;
	struct managed_dev *md = NULL;

	pthread_mutex_lock(&m->create_lock);
	pthread_mutex_lock(&m->lock);
	if (vd)
		ack = mgmt_vd_reserve(m, vd);
	pthread_mutex_unlock(&m->lock);
	if (ack == TVQ_ACK_OK &&
	    (mgmt_backend_set_mac(be, mac) || mgmt_vd_serve(m, vd, features_allowed, &md)))
		ack = TVQ_ACK_EIO;
	pthread_mutex_lock(&m->lock);
	if (ack == TVQ_ACK_OK) {
		m->next_id++;
		vd->md = md;
		vd->gone = false;
		vd->bar_dirty = true;
		mgmt_vd_schedule(vd);
		*id = vd->id;
	} else {
		if (vd && vd->id)
			mgmt_vd_unreserve(m, vd);
		be->state = MGMT_BE_FREE;
	}
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_unlock(&m->create_lock);
	if (ack != TVQ_ACK_OK) {
		if (vd)
			pthread_mutex_destroy(&vd->mgmt_lock);
		free(vd);
		return ack;
	}
	mgmt_changed(m);
	return TVQ_ACK_OK;
}

/*
 * The id is invalid already, so no guest command interferes: every queue stops where
 * it is, its taken buffers completed and returned where the backend allows (7.6).
 */
void mgmt_vdev_quiesce(struct mgmt_vdev *vd)
{
	struct managed_info info;
	size_t in_len;

	managed_get_info(vd->md, &info);
	for (uint16_t q = 0; q < info.num_queues; q++) {
		struct tvq_vq_enable_set_out stop = { .queue_index = htole16(q) };

		managed_command(vd->md, TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET,
				(const uint8_t *)&stop, sizeof(stop), NULL, 0, &in_len);
	}
}

/*
 * vd->gone is set: wait for the adminq and API users of md, destroy it (no more guest
 * memory, backend I/O or interrupts for it), then release the slot, the budget and the
 * backend (to the pool, or out of vqvm after a host removal request).
 */
void mgmt_vdev_teardown(struct mgmt_vdev *vd)
{
	struct mgmt *m = vd->m;
	struct mgmt_backend *be = vd->be;
	bool leaves;

	pthread_mutex_lock(&m->lock);
	while (vd->users)
		pthread_cond_wait(&m->users_cond, &m->lock);
	leaves = vd->removal_requested;
	be->state = leaves ? MGMT_BE_USED : MGMT_BE_RELEASING;
	pthread_mutex_unlock(&m->lock);

	managed_destroy(vd->md);

	pthread_mutex_lock(&m->lock);
	vd->md = NULL;
	mgmt_vd_unreserve(m, vd);
	if (leaves)
		mgmt_backend_unlink(m, be);
	else
		be->state = MGMT_BE_FREE;
	pthread_mutex_unlock(&m->lock);
	if (leaves)
		mgmt_backend_free(be);
	mgmt_changed(m);
}

/* ---- VDEV and AVAIL_RES ---- */

static uint32_t tvq_config_size(uint32_t type)
{
	return type == TVQ_VIRTIO_ID_NET ? NET_CONFIG_SIZE : sizeof(struct virtio_blk_config);
}

/* dev_config (6.6): only a net MAC may be chosen; *mac stays NULL for "the backend's". */
static uint32_t tvq_dev_config(uint32_t type, const uint8_t *cfg, size_t len,
			       const uint8_t **mac)
{
	size_t fixed = 0;

	*mac = NULL;
	if (type == TVQ_VIRTIO_ID_NET && len >= NET_MAC_LEN)
		fixed = NET_MAC_LEN;
	if (!all_zero(cfg + fixed, len - fixed))
		return TVQ_ACK_EINVAL;
	if (!fixed || all_zero(cfg, NET_MAC_LEN))
		return TVQ_ACK_OK;
	if (cfg[0] & 1) /* multicast */
		return TVQ_ACK_EINVAL;
	*mac = cfg;
	return TVQ_ACK_OK;
}

static uint32_t tvq_create(struct mgmt *m, struct mgmt_vdev *vd, const uint8_t *out,
			   size_t out_len, uint8_t *in, size_t in_cap, size_t *in_len)
{
	struct tvq_vdev_create_out h;
	struct tvq_vdev_create_in res;
	struct mgmt_backend *be;
	const uint8_t *mac;
	uint32_t type, ack;
	uint64_t id;

	if (out_len < sizeof(h) || in_cap < sizeof(res))
		return TVQ_ACK_EINVAL;
	memcpy(&h, out, sizeof(h));
	type = le32toh(h.virtio_device_id);
	if (h.reserved || (type != TVQ_VIRTIO_ID_NET && type != TVQ_VIRTIO_ID_BLOCK) ||
	    out_len - sizeof(h) > tvq_config_size(type))
		return TVQ_ACK_EINVAL;
	ack = tvq_dev_config(type, out + sizeof(h), out_len - sizeof(h), &mac);
	if (ack != TVQ_ACK_OK)
		return ack;
	be = mgmt_backend_pick(m, type, &ack);
	if (!be)
		return ack;
	ack = mgmt_vdev_create(m, be, TVQ_ORIGIN_CREATE, le64toh(h.features_allowed), mac, &id);
	if (ack != TVQ_ACK_OK)
		return ack;
	res.device_id = htole64(id);
	memcpy(in, &res, sizeof(res));
	*in_len = sizeof(res);
	return TVQ_ACK_OK;
}

static uint32_t tvq_destroy(struct mgmt *m, struct mgmt_vdev *vd, const uint8_t *out,
			    size_t out_len, uint8_t *in, size_t in_cap, size_t *in_len)
{
	struct managed_info info;

	if (out_len)
		return TVQ_ACK_EINVAL;
	managed_get_info(vd->md, &info);
	if (info.status & TVQ_STATUS_DRIVER_OK)
		return TVQ_ACK_EBUSY;
	pthread_mutex_lock(&m->lock);
	vd->gone = true; /* commands after this one get ENODEV */
	pthread_mutex_unlock(&m->lock);
	mgmt_vdev_teardown(vd);
	return TVQ_ACK_OK;
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static uint16_t sat16(uint64_t v)
{
	return v > UINT16_MAX ? UINT16_MAX : v;
}

/*
 * m->lock held: how many devices CREATE could make from these default budgets, given
 * the free slots and vectors; the smallest budgets first, as CREATE picks (6.6, 6.7).
 */
static unsigned int mgmt_avail_count(const struct mgmt *m, uint16_t *budget, unsigned int n)
{
	uint32_t vectors = m->p.msix_pool_size - m->msix_assigned;
	unsigned int slots = 0, k;

	for (unsigned int s = 0; s < m->p.max_managed; s++)
		slots += !m->slot[s];
	qsort(budget, n, sizeof(*budget), cmp_u16);
	for (k = 0; k < n && k < slots && budget[k] <= vectors; k++)
		vectors -= budget[k];
	return k;
}

static void mgmt_avail_res(struct mgmt *m, uint32_t type, struct tvq_avail_res *out)
{
	uint64_t vqs = 0;
	unsigned int n = 0, lo = 0, hi = 0;
	uint16_t *budget;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&m->lock);
	budget = calloc(m->nr_backends + 1, sizeof(*budget));
	for (struct mgmt_backend *be = m->backends; be && budget; be = be->next) {
		unsigned int nq = be->dev->nr_queues;

		if (be->state != MGMT_BE_FREE || (type && be->dev->device_type != type))
			continue;
		vqs += nq;
		lo = n && lo < nq ? lo : nq;
		hi = hi > nq ? hi : nq;
		budget[n++] = mgmt_default_budget(m, be->dev);
	}
	if (budget) {
		out->num_avail_vqs = htole16(sat16(vqs));
		out->min_vdev_vqs = htole16(sat16(lo));
		out->max_vdev_vqs = htole16(sat16(hi));
		out->num_avail_vdev = htole16(sat16(mgmt_avail_count(m, budget, n)));
	}
	pthread_mutex_unlock(&m->lock);
	free(budget);
}

static uint32_t tvq_avail(struct mgmt *m, struct mgmt_vdev *vd, const uint8_t *out,
			  size_t out_len, uint8_t *in, size_t in_cap, size_t *in_len)
{
	struct tvq_avail_res_get_out req = { 0 };
	struct tvq_avail_res res;

	if ((out_len != 0 && out_len != sizeof(req)) || in_cap < sizeof(res))
		return TVQ_ACK_EINVAL;
	memcpy(&req, out, out_len);
	if (req.reserved)
		return TVQ_ACK_EINVAL;
	mgmt_avail_res(m, le32toh(req.virtio_device_id), &res);
	memcpy(in, &res, sizeof(res));
	*in_len = sizeof(res);
	return TVQ_ACK_OK;
}
