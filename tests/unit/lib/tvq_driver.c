// SPDX-License-Identifier: Apache-2.0
/*
 * The management device's guest driver (tvq_driver.h). Each queue has a fixed guest
 * buffer per descriptor head: a command's request is copied there and its reply buffer
 * poisoned at submission, so a head names its buffers and a late completion (after a
 * driver timeout) still lands in memory no one else uses.
 */
#include "tests/unit/lib/tvq_driver.h"

#include <errno.h>
#include <linux/virtio_blk.h>
#include <stdlib.h>
#include <string.h>

#define SLOT_SIZE (TVQ_DRV_REQ_MAX + TVQ_DRV_REPLY_MAX)
#define BATCH_MAX 64
#define BLK_HDR_SLOT 32 /* per head: 16-byte header, then the status byte */

static uint64_t slot_gpa(struct tvq_drv *d, unsigned int q, uint16_t head)
{
	return d->slots[q] + (uint64_t)head * SLOT_SIZE;
}

static struct tvq_cmd *scratch(struct tvq_drv *d)
{
	return &d->batch[0];
}

int tvq_drv_open(struct tvq_drv *d, struct test_guest *g, uint64_t features, uint16_t qsize)
{
	uint8_t devfn;
	int ret;

	memset(d, 0, sizeof(*d));
	d->g = g;
	d->timeout_ms = TVQ_DRV_TIMEOUT_MS;
	d->next_msi_data = 0x100;
	if (qsize > TVQ_DRV_QSIZE)
		return -EINVAL;
	ret = tg_pci_find(g, TVQ_PCI_VENDOR_ID, TVQ_PCI_DEVICE_ID, 0, &devfn);
	if (!ret)
		ret = tg_vpci_open(g, devfn, &d->vp);
	if (ret)
		return ret;
	d->batch = calloc(BATCH_MAX + 1, sizeof(*d->batch));
	if (!d->batch)
		return -ENOMEM;
	for (unsigned int q = 0; q < TVQ_NUM_QUEUES; q++) {
		d->slots[q] = tg_alloc(g, (uint64_t)qsize * SLOT_SIZE, 4096);
		if (!d->slots[q])
			return -ENOMEM;
	}
	tg_msix_set(g, &d->vp.pci, TVQ_MSIX_VECTOR_CONFIG, TG_MSI_ADDR, TVQ_DRV_MSI_CONFIG,
		    false);
	tg_msix_set(g, &d->vp.pci, TVQ_MSIX_VECTOR_QUEUES, TG_MSI_ADDR, TVQ_DRV_MSI_QUEUES,
		    false);
	ret = tg_vpci_start(g, &d->vp, features, d->vq, TVQ_NUM_QUEUES, qsize,
			    TVQ_MSIX_VECTOR_CONFIG, TVQ_MSIX_VECTOR_QUEUES);
	if (ret)
		return ret;
	d->features = features;
	d->cfg.max_managed = tvq_drv_cfg(d, TVQ_CFG_MAX_MANAGED, 4);
	d->cfg.managed_generation = tvq_drv_cfg(d, TVQ_CFG_MANAGED_GENERATION, 4);
	d->cfg.msix_pool_first = tvq_drv_cfg(d, TVQ_CFG_MSIX_POOL_FIRST, 2);
	d->cfg.msix_pool_size = tvq_drv_cfg(d, TVQ_CFG_MSIX_POOL_SIZE, 2);
	d->cfg.doorbell_bar = tvq_drv_cfg(d, TVQ_CFG_DOORBELL_BAR, 1);
	d->cfg.doorbell_stride = tvq_drv_cfg(d, TVQ_CFG_DOORBELL_STRIDE, 4);
	d->cfg.removal_timeout_ms = tvq_drv_cfg(d, TVQ_CFG_REMOVAL_TIMEOUT_MS, 4);
	if (d->cfg.doorbell_bar >= PCI_NR_BARS || !d->vp.pci.bar[d->cfg.doorbell_bar])
		return -ENODEV;
	d->doorbell_bar = d->vp.pci.bar[d->cfg.doorbell_bar];
	return 0;
}

void tvq_drv_close(struct tvq_drv *d)
{
	if (d->vp.common)
		tg_vpci_set_status(d->g, &d->vp, 0);
	for (unsigned int q = 0; q < TVQ_NUM_QUEUES; q++)
		tg_vring_free(&d->vq[q]);
	free(d->batch);
	d->batch = NULL;
}

uint32_t tvq_drv_cfg(struct tvq_drv *d, uint32_t off, uint32_t len)
{
	return tg_rd(d->g, d->vp.device + off, len);
}

/* ---- raw commands ---- */

static void cmd_init(struct tvq_cmd *c, unsigned int queue, const void *hdr, uint32_t hdr_len,
		     const void *data, uint32_t data_len, uint32_t reply_len)
{
	c->queue = queue;
	c->req_len = hdr_len + data_len;
	c->reply_len = reply_len;
	c->req_split[0] = 0;
	c->reply_split[0] = 0;
	c->done = false;
	c->used_len = 0;
	memcpy(c->req, hdr, hdr_len);
	if (data)
		memcpy(c->req + hdr_len, data, data_len);
	else
		memset(c->req + hdr_len, 0, data_len);
}

void tvq_cmd_tq(struct tvq_cmd *c, uint64_t device_id, uint16_t class, uint16_t command,
		const void *out, uint32_t out_len, uint32_t in_len)
{
	struct tvq_req_hdr h = { .device_id = device_id, .class = class, .command = command };

	cmd_init(c, TVQ_QUEUE_TRANSPORTQ, &h, sizeof(h), out, out_len,
		 sizeof(struct tvq_reply_hdr) + in_len);
}

void tvq_cmd_aq(struct tvq_cmd *c, uint16_t command, uint16_t dst_type, uint64_t vdev_id,
		const void *data, uint32_t data_len, uint32_t result_len)
{
	struct tvq_admin_req_hdr h = { .command = command, .dst_type = dst_type,
				       .vdev_id = vdev_id };

	cmd_init(c, TVQ_QUEUE_ADMINQ, &h, sizeof(h), data, data_len,
		 sizeof(struct tvq_admin_reply_hdr) + result_len);
}

/* Cut [gpa, gpa + len) into descriptors at the lengths of split (0-terminated). */
static unsigned int cut(struct tg_sg *sg, uint64_t gpa, uint32_t len, const uint32_t *split,
			bool write)
{
	unsigned int n = 0;
	uint32_t off = 0;

	for (unsigned int i = 0; i < TVQ_DRV_MAX_SPLIT && split[i] && off < len; i++) {
		uint32_t piece = split[i] < len - off ? split[i] : len - off;

		sg[n++] = (struct tg_sg){ gpa + off, piece, write };
		off += piece;
	}
	if (off < len)
		sg[n++] = (struct tg_sg){ gpa + off, len - off, write };
	return n;
}

int tvq_submit(struct tvq_drv *d, struct tvq_cmd *c)
{
	struct tg_sg sg[2 * TVQ_DRV_MAX_SPLIT + 2];
	struct tg_vring *vr;
	uint16_t head, got;
	uint64_t gpa;
	unsigned int n;

	if (c->queue >= TVQ_NUM_QUEUES || c->req_len > TVQ_DRV_REQ_MAX ||
	    c->reply_len > TVQ_DRV_REPLY_MAX)
		return -EINVAL;
	vr = &d->vq[c->queue];
	head = tg_vring_next_head(vr);
	if (!vr->nr_free)
		return -ENOSPC;
	gpa = slot_gpa(d, c->queue, head);
	n = cut(sg, gpa, c->req_len, c->req_split, false);
	n += cut(sg + n, gpa + TVQ_DRV_REQ_MAX, c->reply_len, c->reply_split, true);
	if (!n)
		return -EINVAL;
	memcpy(tg_ptr(d->g, gpa, TVQ_DRV_REQ_MAX), c->req, c->req_len);
	memset(tg_ptr(d->g, gpa + TVQ_DRV_REQ_MAX, TVQ_DRV_REPLY_MAX), TVQ_DRV_POISON,
	       TVQ_DRV_REPLY_MAX);
	c->done = false;
	if (tg_vring_add(vr, sg, n, &got))
		return -ENOSPC;
	c->head = got;
	d->inflight[c->queue][got] = c;
	d->commands++;
	return 0;
}

void tvq_kick(struct tvq_drv *d, unsigned int queue)
{
	d->kicks++;
	tg_vring_kick(d->g, &d->vq[queue], queue);
}

unsigned int tvq_poll(struct tvq_drv *d, unsigned int queue)
{
	struct tg_vring *vr = &d->vq[queue];
	unsigned int n = 0;

	if (!tg_vring_collect(vr))
		return 0;
	for (uint16_t h = 0; h < vr->size; h++) {
		struct tvq_cmd *c = d->inflight[queue][h];

		if (!c || !tg_vring_reap(vr, h, &c->used_len))
			continue;
		memcpy(c->reply, tg_ptr(d->g, slot_gpa(d, queue, h) + TVQ_DRV_REQ_MAX,
					c->reply_len), c->reply_len);
		c->done = true;
		d->inflight[queue][h] = NULL;
		n++;
	}
	return n;
}

int tvq_wait(struct tvq_drv *d, struct tvq_cmd *c)
{
	int64_t deadline = tg_now_ms() + d->timeout_ms;

	while (!c->done) {
		if (tvq_poll(d, c->queue))
			continue;
		if (tg_now_ms() >= deadline)
			return -ETIMEDOUT;
		fake_hv_wait(d->g->hv, 2);
	}
	return 0;
}

int tvq_exec(struct tvq_drv *d, struct tvq_cmd *c)
{
	int ret = tvq_submit(d, c);

	if (ret)
		return ret;
	tvq_kick(d, c->queue);
	return tvq_wait(d, c);
}

int tvq_cmd_ack(const struct tvq_cmd *c)
{
	uint32_t ack;

	if (!c->used_len)
		return TVQ_DRV_NO_REPLY;
	if (c->queue == TVQ_QUEUE_ADMINQ)
		return c->reply[0];
	memcpy(&ack, c->reply, sizeof(ack));
	return ack;
}

/* ---- every command class ---- */

/* Run c; on OK copy len bytes after the hdr_len-byte reply header to out. */
static int run(struct tvq_drv *d, struct tvq_cmd *c, uint32_t hdr_len, void *out, uint32_t len)
{
	int ret = tvq_exec(d, c);

	if (ret)
		return ret;
	ret = tvq_cmd_ack(c);
	if (ret == 0 && out)
		memcpy(out, c->reply + hdr_len, len);
	return ret;
}

int tvq_tq(struct tvq_drv *d, uint64_t device_id, uint16_t class, uint16_t command,
	   const void *out, uint32_t out_len, void *in, uint32_t in_len)
{
	struct tvq_cmd *c = scratch(d);

	tvq_cmd_tq(c, device_id, class, command, out, out_len, in_len);
	return run(d, c, sizeof(struct tvq_reply_hdr), in, in_len);
}

int tvq_aq(struct tvq_drv *d, uint16_t command, uint16_t dst_type, uint64_t vdev_id,
	   const void *data, uint32_t data_len, void *result, uint32_t result_len,
	   uint8_t *cs_err)
{
	struct tvq_cmd *c = scratch(d);
	int ret;

	tvq_cmd_aq(c, command, dst_type, vdev_id, data, data_len, result_len);
	ret = run(d, c, sizeof(struct tvq_admin_reply_hdr), result, result_len);
	if (cs_err)
		*cs_err = c->used_len ? c->reply[1] : 0;
	return ret;
}

/* Out-data of a command about queue q that carries one more value. */
struct q_u8 {
	uint16_t queue_index;
	uint8_t v, reserved;
};

struct q_u16 {
	uint16_t queue_index, v;
};

static int tq_q8(struct tvq_drv *d, uint64_t id, uint16_t class, uint16_t command, uint16_t q,
		 uint8_t v)
{
	struct q_u8 o = { .queue_index = q, .v = v };

	return tvq_tq(d, id, class, command, &o, sizeof(o), NULL, 0);
}

static int tq_q16(struct tvq_drv *d, uint64_t id, uint16_t class, uint16_t command,
		  uint16_t q, uint16_t v)
{
	struct q_u16 o = { .queue_index = q, .v = v };

	return tvq_tq(d, id, class, command, &o, sizeof(o), NULL, 0);
}

int tvq_create(struct tvq_drv *d, uint32_t type, uint64_t features_allowed,
	       const void *dev_config, uint32_t config_len, uint64_t *id)
{
	uint8_t out[sizeof(struct tvq_vdev_create_out) + 256] = { 0 };
	struct tvq_vdev_create_out *o = (void *)out;
	struct tvq_vdev_create_in in = { 0 };
	int ret;

	if (config_len > sizeof(out) - sizeof(*o))
		return -EINVAL;
	o->virtio_device_id = type;
	o->features_allowed = features_allowed;
	if (config_len)
		memcpy(o->dev_config, dev_config, config_len);
	ret = tvq_tq(d, TVQ_DEVICE_ID_MGMT, TVQ_CLASS_VDEV, TVQ_CMD_VDEV_CREATE, out,
		     sizeof(*o) + config_len, &in, sizeof(in));
	if (ret == 0 && id)
		*id = in.device_id;
	return ret;
}

int tvq_destroy(struct tvq_drv *d, uint64_t id)
{
	return tvq_tq(d, id, TVQ_CLASS_VDEV, TVQ_CMD_VDEV_DESTROY, NULL, 0, NULL, 0);
}

int tvq_avail_res(struct tvq_drv *d, const uint32_t *type, struct tvq_avail_res *r)
{
	struct tvq_avail_res_get_out o = { .virtio_device_id = type ? *type : 0 };

	return tvq_tq(d, TVQ_DEVICE_ID_MGMT, TVQ_CLASS_AVAIL_RES, TVQ_CMD_AVAIL_RES_GET, &o,
		      type ? sizeof(o) : 0, r, sizeof(*r));
}

int tvq_feat_get(struct tvq_drv *d, uint64_t id, uint16_t command, uint64_t *features)
{
	return tvq_tq(d, id, TVQ_CLASS_FEAT, command, NULL, 0, features, sizeof(*features));
}

int tvq_feat_set(struct tvq_drv *d, uint64_t id, uint64_t features)
{
	return tvq_tq(d, id, TVQ_CLASS_FEAT, TVQ_CMD_FEAT_DRIVER_SET, &features,
		      sizeof(features), NULL, 0);
}

int tvq_status_set(struct tvq_drv *d, uint64_t id, uint8_t status)
{
	return tvq_tq(d, id, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_SET, &status, 1, NULL, 0);
}

int tvq_status_get(struct tvq_drv *d, uint64_t id, uint8_t *status)
{
	return tvq_tq(d, id, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_GET, NULL, 0, status, 1);
}

int tvq_generation(struct tvq_drv *d, uint64_t id, uint32_t *gen)
{
	return tvq_tq(d, id, TVQ_CLASS_GENERATION, TVQ_CMD_GENERATION_GET, NULL, 0, gen,
		      sizeof(*gen));
}

int tvq_config_get(struct tvq_drv *d, uint64_t id, uint32_t off, uint32_t size, void *buf)
{
	struct tvq_config_get_out o = { .offset = off, .size = size };

	if (size > TVQ_DRV_REPLY_MAX - sizeof(struct tvq_reply_hdr))
		return -EINVAL;
	return tvq_tq(d, id, TVQ_CLASS_CONFIG, TVQ_CMD_CONFIG_GET, &o, sizeof(o), buf, size);
}

int tvq_config_set(struct tvq_drv *d, uint64_t id, uint32_t off, uint32_t size,
		   const void *buf)
{
	uint8_t out[sizeof(struct tvq_config_set_out) + TVQ_CONFIG_MAX];
	struct tvq_config_set_out o = { .offset = off, .size = size };

	if (size > TVQ_CONFIG_MAX)
		return -EINVAL;
	memcpy(out, &o, sizeof(o));
	memcpy(out + sizeof(o), buf, size);
	return tvq_tq(d, id, TVQ_CLASS_CONFIG, TVQ_CMD_CONFIG_SET, out, sizeof(o) + size, NULL,
		      0);
}

int tvq_msi_vq_set(struct tvq_drv *d, uint64_t id, uint16_t q, uint64_t addr, uint32_t data)
{
	struct tvq_msi_vq_set_out o = { .queue_index = q, .addr = addr, .data = data };

	return tvq_tq(d, id, TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_SET, &o, sizeof(o), NULL, 0);
}

int tvq_msi_vq_flag(struct tvq_drv *d, uint64_t id, uint16_t command, uint16_t q, uint8_t v)
{
	return tq_q8(d, id, TVQ_CLASS_MSI, command, q, v);
}

int tvq_msi_config_set(struct tvq_drv *d, uint64_t id, uint64_t addr, uint32_t data)
{
	struct tvq_msi_config_set_out o = { .addr = addr, .data = data };

	return tvq_tq(d, id, TVQ_CLASS_MSI, TVQ_CMD_MSI_CONFIG_SET, &o, sizeof(o), NULL, 0);
}

int tvq_msi_config_flag(struct tvq_drv *d, uint64_t id, uint16_t command, uint8_t v)
{
	return tvq_tq(d, id, TVQ_CLASS_MSI, command, &v, 1, NULL, 0);
}

int tvq_vq_addr(struct tvq_drv *d, uint64_t id, uint16_t q, uint64_t desc, uint64_t driver,
		uint64_t device)
{
	struct tvq_vq_addr_set_out o = { .queue_index = q, .device_area = device,
					 .descriptor_area = desc, .driver_area = driver };

	return tvq_tq(d, id, TVQ_CLASS_VQ_ADDR, TVQ_CMD_VQ_ADDR_SET, &o, sizeof(o), NULL, 0);
}

int tvq_vq_enable(struct tvq_drv *d, uint64_t id, uint16_t q, uint8_t enable)
{
	return tq_q8(d, id, TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, q, enable);
}

int tvq_vq_size_set(struct tvq_drv *d, uint64_t id, uint16_t q, uint16_t size)
{
	return tq_q16(d, id, TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_SET, q, size);
}

int tvq_vq_avail_set(struct tvq_drv *d, uint64_t id, uint16_t q, uint16_t idx)
{
	return tq_q16(d, id, TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_SET, q, idx);
}

int tvq_vq_get(struct tvq_drv *d, uint64_t id, uint16_t class, uint16_t command, uint16_t q,
	       void *in, uint32_t in_len)
{
	struct tvq_vq_index o = { .queue_index = q };

	return tvq_tq(d, id, class, command, &o, sizeof(o), in, in_len);
}

int tvq_vq_reset(struct tvq_drv *d, uint64_t id, uint16_t q)
{
	return tvq_vq_get(d, id, TVQ_CLASS_VQ_RESET, TVQ_CMD_VQ_RESET_RESET, q, NULL, 0);
}

int tvq_asid_set(struct tvq_drv *d, uint64_t id, uint16_t q, uint32_t asid)
{
	struct tvq_asid_set_out o = { .queue_index = q, .asid = asid };

	return tvq_tq(d, id, TVQ_CLASS_ASID, TVQ_CMD_ASID_SET, &o, sizeof(o), NULL, 0);
}

int tvq_device_info(struct tvq_drv *d, uint64_t id, struct tvq_admin_device_info_result *r)
{
	return tvq_aq(d, TVQ_ADMIN_CMD_DEVICE_INFO, TVQ_ADMIN_DST_MANAGED, id, NULL, 0, r,
		      sizeof(*r), NULL);
}

int tvq_device_mgmt(struct tvq_drv *d, uint64_t id, uint8_t op, uint16_t resource,
		    uint64_t *val, uint8_t *cs_err)
{
	struct tvq_admin_device_mgmt_data data = { .operation = op, .resource = resource,
						   .resource_val = *val };
	struct tvq_admin_device_mgmt_result r;
	int ret;

	ret = tvq_aq(d, TVQ_ADMIN_CMD_DEVICE_MGMT, TVQ_ADMIN_DST_MANAGED, id, &data,
		     sizeof(data), &r, sizeof(r), cs_err);
	if (ret == 0)
		*val = r.resource_val;
	return ret;
}

int tvq_list(struct tvq_drv *d, uint64_t first, uint64_t *ids, unsigned int max,
	     unsigned int *n, uint64_t *total)
{
	struct tvq_admin_managed_device_list_data data = { .first_vdev_id = first };
	struct tvq_admin_managed_device_list_result *r;
	struct tvq_cmd *c = scratch(d);
	int ret;

	if (max > TVQ_ADMIN_LIST_MAX)
		max = TVQ_ADMIN_LIST_MAX;
	tvq_cmd_aq(c, TVQ_ADMIN_CMD_MANAGED_DEVICE_LIST, TVQ_ADMIN_DST_SELF, 0, &data,
		   sizeof(data), 16 + 8 * max);
	ret = run(d, c, sizeof(struct tvq_admin_reply_hdr), NULL, 0);
	if (ret)
		return ret;
	r = (void *)(c->reply + sizeof(struct tvq_admin_reply_hdr));
	*n = r->num_identifiers <= max ? r->num_identifiers : max;
	*total = r->num_managed_vdevs;
	memcpy(ids, r->vdev_ids, *n * sizeof(*ids));
	return 0;
}

/* ---- managed devices ---- */

/* Submit n commands, one kick per queue used, wait for all; the first ack not OK. */
static int run_batch(struct tvq_drv *d, struct tvq_cmd *c, unsigned int n)
{
	bool used[TVQ_NUM_QUEUES] = { false };
	int ret, first = 0;

	for (unsigned int i = 0; i < n; i++) {
		ret = tvq_submit(d, &c[i]);
		if (ret)
			return ret;
		used[c[i].queue] = true;
	}
	for (unsigned int q = 0; q < TVQ_NUM_QUEUES; q++)
		if (used[q])
			tvq_kick(d, q);
	for (unsigned int i = 0; i < n; i++) {
		ret = tvq_wait(d, &c[i]);
		if (ret)
			return ret;
		if (!first)
			first = tvq_cmd_ack(&c[i]);
	}
	return first;
}

static int mdev_rings(struct tvq_drv *d, struct tvq_mdev *md, uint16_t q, uint16_t qsize)
{
	int ret;

	if (md->vq[q].size == qsize) {
		tg_vring_reset(&md->vq[q]);
		return 0;
	}
	tg_vring_free(&md->vq[q]);
	ret = tg_vring_init(d->g, &md->vq[q], qsize);
	if (ret)
		return ret;
	md->hdrs[q] = tg_alloc(d->g, (uint64_t)qsize * BLK_HDR_SLOT, 16);
	return md->hdrs[q] ? 0 : -ENOMEM;
}

/* Append a transportq command for md to the batch. */
static struct tvq_cmd *add(struct tvq_cmd *c, unsigned int *n, const struct tvq_mdev *md,
			   uint16_t class, uint16_t command, const void *out, uint32_t len,
			   uint32_t in_len)
{
	tvq_cmd_tq(&c[*n], md->id, class, command, out, len, in_len);
	return &c[(*n)++];
}

static void add_status(struct tvq_cmd *c, unsigned int *n, const struct tvq_mdev *md,
		       uint8_t s)
{
	add(c, n, md, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_SET, &s, 1, 0);
}

/* Queue q's setup: size, rings, an MSI message enabled, enable. */
static int add_queue(struct tvq_drv *d, struct tvq_cmd *c, unsigned int *n,
		     struct tvq_mdev *md, uint16_t q, uint16_t qsize)
{
	struct tvq_vq_size_set_out size = { .queue_index = q, .size = qsize };
	struct tvq_vq_addr_set_out addr = { .queue_index = q };
	struct tvq_msi_vq_set_out msi = { .queue_index = q, .addr = TG_MSI_ADDR };
	struct q_u8 on = { .queue_index = q, .v = 1 };
	int ret = mdev_rings(d, md, q, qsize);

	if (ret)
		return ret;
	addr.descriptor_area = md->vq[q].desc_gpa;
	addr.driver_area = md->vq[q].avail_gpa;
	addr.device_area = md->vq[q].used_gpa;
	msi.data = md->msi_data[q] = d->next_msi_data++;
	add(c, n, md, TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_SET, &size, sizeof(size), 0);
	add(c, n, md, TVQ_CLASS_VQ_ADDR, TVQ_CMD_VQ_ADDR_SET, &addr, sizeof(addr), 0);
	add(c, n, md, TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_SET, &msi, sizeof(msi), 0);
	add(c, n, md, TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_ENABLE, &on, sizeof(on), 0);
	add(c, n, md, TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, &on, sizeof(on), 0);
	return 0;
}

/* Everything after the features are known, in one batch. */
static int mdev_setup(struct tvq_drv *d, struct tvq_mdev *md, uint64_t want, uint16_t qsize)
{
	const uint8_t s = TVQ_STATUS_ACKNOWLEDGE | TVQ_STATUS_DRIVER, on = 1;
	struct tvq_msi_config_set_out msi = { .addr = TG_MSI_ADDR };
	struct tvq_vq_notify_get_in notify;
	struct tvq_cmd *c = d->batch + 1, *nc;
	struct tvq_vq_index q0 = { 0 };
	unsigned int n = 0;
	int ret;

	md->features = (md->offered & want) | (1ULL << TVQ_F_VERSION_1);
	add(c, &n, md, TVQ_CLASS_FEAT, TVQ_CMD_FEAT_DRIVER_SET, &md->features, 8, 0);
	add_status(c, &n, md, TVQ_STATUS_ACKNOWLEDGE);
	add_status(c, &n, md, s);
	add_status(c, &n, md, s | TVQ_STATUS_FEATURES_OK);
	for (uint16_t q = 0; q < md->nq; q++) {
		ret = add_queue(d, c, &n, md, q, qsize);
		if (ret)
			return ret;
	}
	msi.data = md->cfg_msi_data = d->next_msi_data++;
	add(c, &n, md, TVQ_CLASS_MSI, TVQ_CMD_MSI_CONFIG_SET, &msi, sizeof(msi), 0);
	add(c, &n, md, TVQ_CLASS_MSI, TVQ_CMD_MSI_CONFIG_ENABLE, &on, 1, 0);
	nc = add(c, &n, md, TVQ_CLASS_VQ_NOTIFY, TVQ_CMD_VQ_NOTIFY_GET, &q0, sizeof(q0),
		 sizeof(notify));
	add_status(c, &n, md, s | TVQ_STATUS_FEATURES_OK | TVQ_STATUS_DRIVER_OK);
	ret = run_batch(d, c, n);
	if (ret)
		return ret;
	memcpy(&notify, nc->reply + sizeof(struct tvq_reply_hdr), sizeof(notify));
	md->doorbell = d->doorbell_bar + notify.addr;
	for (uint16_t q = 0; q < md->nq; q++)
		md->vq[q].notify = md->doorbell;
	return 0;
}

int tvq_mdev_up(struct tvq_drv *d, struct tvq_mdev *md, uint32_t type, uint64_t want,
		uint16_t nq, uint16_t qsize)
{
	int ret;

	md->id = 0;
	md->type = type;
	ret = tvq_create(d, type, 0, NULL, 0, &md->id);
	if (ret)
		return ret;
	if (!nq) {
		struct tvq_admin_device_info_result info;

		ret = tvq_device_info(d, md->id, &info);
		if (ret)
			return ret;
		nq = info.num_queues;
	}
	if (nq > TVQ_MDEV_MAX_QUEUES)
		return -E2BIG;
	md->nq = nq;
	return tvq_mdev_restart(d, md, want, qsize);
}

int tvq_mdev_restart(struct tvq_drv *d, struct tvq_mdev *md, uint64_t want, uint16_t qsize)
{
	int ret = tvq_feat_get(d, md->id, TVQ_CMD_FEAT_DEVICE_GET, &md->offered);

	return ret ? ret : mdev_setup(d, md, want, qsize);
}

int tvq_mdev_down(struct tvq_drv *d, struct tvq_mdev *md)
{
	struct tvq_cmd *c = d->batch + 1;
	unsigned int n = 0;
	int ret;

	add_status(c, &n, md, 0);
	add(c, &n, md, TVQ_CLASS_VDEV, TVQ_CMD_VDEV_DESTROY, NULL, 0, 0);
	ret = run_batch(d, c, n);
	return ret < 0 ? ret : tvq_cmd_ack(&c[1]);
}

void tvq_mdev_free(struct tvq_mdev *md)
{
	for (unsigned int q = 0; q < TVQ_MDEV_MAX_QUEUES; q++)
		tg_vring_free(&md->vq[q]);
}

void tvq_mdev_kick(struct tvq_drv *d, const struct tvq_mdev *md, uint16_t q)
{
	tg_wr(d->g, md->doorbell, q, 2);
}

uint64_t tvq_mdev_irqs(struct tvq_drv *d, const struct tvq_mdev *md, uint16_t q)
{
	return fake_hv_irqs(d->g->hv, TG_MSI_ADDR, md->msi_data[q]);
}

int tvq_blk_submit(struct tvq_drv *d, struct tvq_mdev *md, uint16_t q, uint32_t type,
		   uint64_t sector, uint64_t data, uint32_t len, uint16_t *head)
{
	struct tg_vring *vr = &md->vq[q];
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };
	uint64_t hdr;
	struct tg_sg sg[3];
	unsigned int n = 0;

	if (vr->nr_free < 3)
		return -ENOSPC;
	hdr = md->hdrs[q] + (uint64_t)tg_vring_next_head(vr) * BLK_HDR_SLOT;
	memcpy(tg_ptr(d->g, hdr, sizeof(h)), &h, sizeof(h));
	*(uint8_t *)tg_ptr(d->g, hdr + 16, 1) = 0xff;
	sg[n++] = (struct tg_sg){ hdr, sizeof(h), false };
	if (len)
		sg[n++] = (struct tg_sg){ data, len, type == VIRTIO_BLK_T_IN };
	sg[n++] = (struct tg_sg){ hdr + 16, 1, true };
	return tg_vring_add(vr, sg, n, head);
}

int tvq_blk_wait(struct tvq_drv *d, struct tvq_mdev *md, uint16_t q, uint16_t head)
{
	int ret = tg_vring_wait(d->g, &md->vq[q], head, d->timeout_ms, NULL);

	if (ret)
		return ret;
	return *(uint8_t *)tg_ptr(d->g, md->hdrs[q] + (uint64_t)head * BLK_HDR_SLOT + 16, 1);
}

int tvq_blk_io(struct tvq_drv *d, struct tvq_mdev *md, uint16_t q, uint32_t type,
	       uint64_t sector, uint64_t data, uint32_t len)
{
	uint16_t head;
	int ret = tvq_blk_submit(d, md, q, type, sector, data, len, &head);

	if (ret)
		return ret;
	tvq_mdev_kick(d, md, q);
	return tvq_blk_wait(d, md, q, head);
}
