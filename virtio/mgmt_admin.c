/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The management device's admin virtqueue (docs/transport-vq.md section 8): the checks
 * of 8.3 in their order, then one handler per command from a table. Handlers fill a
 * zeroed buffer of the command's full result size; the reply gets what fits (8.1).
 * Adminq commands are unordered: they run on any worker, concurrently with transportq
 * commands, and use a managed device only through a reference (mgmt_vd_get) that
 * keeps its teardown waiting.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/mgmt_int.h"

#define DST_SELF (1U << TVQ_ADMIN_DST_SELF)
#define DST_MANAGED (1U << TVQ_ADMIN_DST_MANAGED)

struct admin_res {
	uint8_t *buf;      /* full-size result, zeroed */
	size_t room;       /* reply buffer after the header */
	size_t len;        /* result bytes the command produced */
	uint8_t cs_err;    /* with CS_ERR */
};

typedef uint8_t (*admin_fn)(struct mgmt *m, struct mgmt_vdev *vd, uint64_t vdev_id,
			    const uint8_t *data, struct admin_res *res);

struct admin_cmd {
	uint16_t command;
	uint8_t dst;       /* DST_* accepted */
	uint8_t data_len;
	admin_fn fn;
};

static bool admin_f63(struct mgmt *m)
{
	return mgmt_features(m) & (1ULL << TVQ_F_FEATURE_63_0_MGMT);
}

/* The bits a managed device may be provisioned to offer (4.2, 8.9). */
static uint64_t admin_features_63_0(struct mgmt *m)
{
	uint64_t f;

	pthread_mutex_lock(&m->lock);
	f = m->model_features;
	pthread_mutex_unlock(&m->lock);
	return (f | VIRTIO_COMMON_FEATURES) & ~TVQ_MANAGED_NEVER_FEATURES;
}

/* m->lock held. */
static uint64_t admin_max_id(struct mgmt *m)
{
	uint64_t max = 0;

	for (unsigned int s = 0; s < m->p.max_managed; s++) {
		struct mgmt_vdev *vd = m->slot[s];

		if (vd && !vd->gone && vd->id > max)
			max = vd->id;
	}
	return max;
}

static uint8_t admin_identify(struct mgmt *m, struct mgmt_vdev *vd, uint64_t vdev_id,
			      const uint8_t *data, struct admin_res *res)
{
	struct tvq_admin_device_identify_result r = { 0 };

	if (vd) {
		r.attrs_mask = htole64(TVQ_ADMIN_IDENTIFY_ATTR_VDEV_ID |
				       TVQ_ADMIN_IDENTIFY_ATTR_OPTIONAL_CAPS);
		r.vdev_id = htole64(vdev_id);
	} else {
		r.attrs_mask = htole64(0xf);
		r.optional_caps_support =
			htole64(TVQ_ADMIN_CAP_DEVICE_INFO | TVQ_ADMIN_CAP_DIRECT_MGMT);
		r.num_supported_managed_vdevs = htole64(m->p.max_managed);
		pthread_mutex_lock(&m->lock);
		r.max_managed_vdev_id = htole64(admin_max_id(m));
		pthread_mutex_unlock(&m->lock);
	}
	memcpy(res->buf, &r, sizeof(r));
	res->len = sizeof(r);
	return TVQ_ADMIN_STATUS_OK;
}

/* 8.6: derived from the status byte. */
static uint8_t admin_state(uint8_t status)
{
	if (status & (TVQ_STATUS_DEVICE_NEEDS_RESET | TVQ_STATUS_FAILED))
		return TVQ_STATE_NEEDS_RESET;
	if (status & TVQ_STATUS_DRIVER_OK)
		return TVQ_STATE_LIVE;
	return status ? TVQ_STATE_INITIALIZING : TVQ_STATE_CREATED;
}

static uint8_t admin_info(struct mgmt *m, struct mgmt_vdev *vd, uint64_t vdev_id,
			  const uint8_t *data, struct admin_res *res)
{
	struct tvq_admin_device_info_result r = { 0 };
	struct managed_info mi;

	managed_get_info(vd->md, &mi);
	r.vdev_id = htole64(vd->id);
	r.device_features = htole64(mi.device_features);
	r.driver_features = htole64(mi.driver_features);
	r.virtio_device_id = htole32(vd->be->dev->device_type);
	r.num_queues = htole16(mi.num_queues);
	r.state = admin_state(mi.status);
	r.device_status = mi.status;
	r.origin = vd->origin;
	r.msix_budget = htole16(mi.msix_budget);
	r.msix_in_use = htole16(mi.msix_in_use);
	r.slot = htole16(vd->slot);
	memcpy(r.backend_name, vd->be->name, sizeof(r.backend_name));
	r.config_size = htole16(mi.config_size);
	pthread_mutex_lock(&m->lock);
	r.removal_requested = vd->removal_requested;
	pthread_mutex_unlock(&m->lock);
	memcpy(res->buf, &r, sizeof(r));
	res->len = sizeof(r);
	return TVQ_ADMIN_STATUS_OK;
}

static uint8_t admin_cs(struct admin_res *res, uint8_t err)
{
	res->cs_err = err;
	return TVQ_ADMIN_STATUS_CS_ERR;
}

/*
 * Resource 0, vd->mgmt_lock held: the pool keeps the increase while managed.c takes
 * the budget, which it refuses once the driver has started (VDEV_IN_USE).
 */
static uint8_t admin_assign_msix(struct mgmt *m, struct mgmt_vdev *vd, uint64_t val,
				 struct admin_res *res)
{
	uint16_t cur;
	uint32_t grow;

	if (val > m->per_device_max)
		return admin_cs(res, TVQ_ADMIN_CS_ERR_RSC_COUNT_EXCEED);
	pthread_mutex_lock(&m->lock);
	cur = vd->msix_budget;
	grow = val > cur ? val - cur : 0;
	if (grow > m->p.msix_pool_size - m->msix_assigned) {
		pthread_mutex_unlock(&m->lock);
		return admin_cs(res, TVQ_ADMIN_CS_ERR_NO_RSC);
	}
	m->msix_assigned += grow;
	pthread_mutex_unlock(&m->lock);

	if (managed_set_msix_budget(vd->md, val)) {
		pthread_mutex_lock(&m->lock);
		m->msix_assigned -= grow;
		pthread_mutex_unlock(&m->lock);
		return admin_cs(res, TVQ_ADMIN_CS_ERR_VDEV_IN_USE);
	}
	pthread_mutex_lock(&m->lock);
	m->msix_assigned -= cur - (val - grow);
	vd->msix_budget = val;
	pthread_mutex_unlock(&m->lock);
	return TVQ_ADMIN_STATUS_OK;
}

/* Resource 1, vd->mgmt_lock held. *val becomes the bits now offered. */
static uint8_t admin_assign_features(struct mgmt *m, struct mgmt_vdev *vd, uint64_t *val,
				     struct admin_res *res)
{
	uint64_t offered;

	if (*val & ~admin_features_63_0(m))
		return admin_cs(res, TVQ_ADMIN_CS_ERR_RSC_VAL_INVALID);
	if (managed_set_features(vd->md, *val, &offered))
		return admin_cs(res, TVQ_ADMIN_CS_ERR_VDEV_IN_USE);
	pthread_mutex_lock(&m->lock);
	vd->features_provisioned = *val;
	pthread_mutex_unlock(&m->lock);
	*val = offered;
	return TVQ_ADMIN_STATUS_OK;
}

static uint8_t admin_assign(struct mgmt *m, struct mgmt_vdev *vd, uint16_t rsc, uint64_t *val,
			    struct admin_res *res)
{
	struct managed_info mi;
	uint8_t st;

	pthread_mutex_lock(&vd->mgmt_lock);
	managed_get_info(vd->md, &mi);
	if (mi.status)
		st = admin_cs(res, TVQ_ADMIN_CS_ERR_VDEV_IN_USE);
	else if (rsc == TVQ_ADMIN_MGMT_RSC_MSIX)
		st = admin_assign_msix(m, vd, *val, res);
	else
		st = admin_assign_features(m, vd, val, res);
	pthread_mutex_unlock(&vd->mgmt_lock);
	return st;
}

static uint64_t admin_query(struct mgmt_vdev *vd, uint16_t rsc)
{
	struct managed_info mi;

	managed_get_info(vd->md, &mi);
	return rsc == TVQ_ADMIN_MGMT_RSC_MSIX ? mi.msix_budget : mi.device_features;
}

static uint8_t admin_mgmt(struct mgmt *m, struct mgmt_vdev *vd, uint64_t vdev_id,
			  const uint8_t *data, struct admin_res *res)
{
	struct tvq_admin_device_mgmt_data d;
	struct tvq_admin_device_mgmt_result r = { 0 };
	uint16_t rsc;
	uint64_t val;
	uint8_t st;

	memcpy(&d, data, sizeof(d));
	rsc = le16toh(d.resource);
	val = le64toh(d.resource_val);
	if (d.reserved0 || d.reserved1[0] || d.reserved1[1] || d.reserved1[2] || d.reserved1[3])
		return TVQ_ADMIN_STATUS_INVALID_FIELD;
	if (d.operation != TVQ_ADMIN_MGMT_OP_ASSIGN && d.operation != TVQ_ADMIN_MGMT_OP_QUERY)
		return admin_cs(res, TVQ_ADMIN_CS_ERR_OP_UNSUPPORTED);
	if (rsc > TVQ_ADMIN_MGMT_RSC_FEATURES_63_0 ||
	    (rsc == TVQ_ADMIN_MGMT_RSC_FEATURES_63_0 && !admin_f63(m)))
		return admin_cs(res, TVQ_ADMIN_CS_ERR_RSC_UNSUPPORTED);
	if (d.operation == TVQ_ADMIN_MGMT_OP_QUERY && val)
		return TVQ_ADMIN_STATUS_INVALID_FIELD;
	if (d.operation == TVQ_ADMIN_MGMT_OP_ASSIGN) {
		st = admin_assign(m, vd, rsc, &val, res);
		if (st != TVQ_ADMIN_STATUS_OK)
			return st;
	}
	if (d.operation == TVQ_ADMIN_MGMT_OP_QUERY || rsc == TVQ_ADMIN_MGMT_RSC_MSIX)
		val = admin_query(vd, rsc);
	r.resource_val = htole64(val);
	memcpy(res->buf, &r, sizeof(r));
	res->len = sizeof(r);
	return TVQ_ADMIN_STATUS_OK;
}

static uint8_t admin_caps(struct mgmt *m, struct mgmt_vdev *vd, uint64_t vdev_id,
			  const uint8_t *data, struct admin_res *res)
{
	res->buf[0] = 1U << TVQ_ADMIN_MGMT_RSC_MSIX;
	if (admin_f63(m))
		res->buf[0] |= 1U << TVQ_ADMIN_MGMT_RSC_FEATURES_63_0;
	res->len = sizeof(struct tvq_admin_device_mgmt_caps_result);
	return TVQ_ADMIN_STATUS_OK;
}

static uint8_t admin_attrs(struct mgmt *m, struct mgmt_vdev *vd, uint64_t vdev_id,
			   const uint8_t *data, struct admin_res *res)
{
	struct tvq_admin_device_mgmt_attrs_result r = { 0 };
	uint64_t mask = TVQ_ADMIN_ATTR_TOTAL_MSIX | TVQ_ADMIN_ATTR_ASSIGNED_MSIX |
			TVQ_ADMIN_ATTR_PER_DEVICE_MAX_MSIX;

	if (admin_f63(m)) {
		mask |= TVQ_ADMIN_ATTR_FEATURES_63_0;
		r.managed_device_features_63_0 = htole64(admin_features_63_0(m));
	}
	r.attrs_mask = htole64(mask);
	r.total_msix_count = htole32(m->p.msix_pool_size);
	r.per_device_max_msix_count = htole16(m->per_device_max);
	pthread_mutex_lock(&m->lock);
	r.assigned_msix_count = htole32(m->msix_assigned);
	pthread_mutex_unlock(&m->lock);
	memcpy(res->buf, &r, sizeof(r));
	res->len = sizeof(r);
	return TVQ_ADMIN_STATUS_OK;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* 8.10: whole entries only, as many as fit; the result header even if none does. */
static uint8_t admin_list(struct mgmt *m, struct mgmt_vdev *vd, uint64_t vdev_id,
			  const uint8_t *data, struct admin_res *res)
{
	struct tvq_admin_managed_device_list_result *r = (void *)res->buf;
	size_t hdr = offsetof(struct tvq_admin_managed_device_list_result, vdev_ids);
	size_t fit = res->room > hdr ? (res->room - hdr) / sizeof(uint64_t) : 0;
	unsigned int n = 0, total = 0;
	uint64_t first, ids[TVQ_MAX_MANAGED_LIMIT];

	memcpy(&first, data, sizeof(first));
	first = le64toh(first);
	pthread_mutex_lock(&m->lock);
	for (unsigned int s = 0; s < m->p.max_managed; s++) {
		struct mgmt_vdev *d = m->slot[s];

		if (!d || d->gone)
			continue;
		total++;
		if (d->id >= first)
			ids[n++] = d->id;
	}
	pthread_mutex_unlock(&m->lock);
	qsort(ids, n, sizeof(ids[0]), cmp_u64);
	if (n > TVQ_ADMIN_LIST_MAX)
		n = TVQ_ADMIN_LIST_MAX;
	if (n > fit)
		n = fit;
	r->num_identifiers = htole16(n);
	r->num_managed_vdevs = htole64(total);
	for (unsigned int i = 0; i < n; i++)
		r->vdev_ids[i] = htole64(ids[i]);
	res->len = hdr + n * sizeof(uint64_t);
	return TVQ_ADMIN_STATUS_OK;
}

/* 8.3: SUBSYSTEM_IDENTIFY (1) is not implemented, so not here. */
static const struct admin_cmd admin_cmds[] = {
	{ TVQ_ADMIN_CMD_DEVICE_IDENTIFY, DST_SELF | DST_MANAGED, 0, admin_identify },
	{ TVQ_ADMIN_CMD_DEVICE_INFO, DST_MANAGED, 0, admin_info },
	{ TVQ_ADMIN_CMD_DEVICE_MGMT, DST_MANAGED, sizeof(struct tvq_admin_device_mgmt_data),
	  admin_mgmt },
	{ TVQ_ADMIN_CMD_DEVICE_MGMT_CAPS, DST_SELF, 0, admin_caps },
	{ TVQ_ADMIN_CMD_DEVICE_MGMT_ATTRS, DST_SELF, 0, admin_attrs },
	{ TVQ_ADMIN_CMD_MANAGED_DEVICE_LIST, DST_SELF,
	  sizeof(struct tvq_admin_managed_device_list_data), admin_list },
};

static const struct admin_cmd *admin_cmd_find(uint16_t command)
{
	for (size_t i = 0; i < sizeof(admin_cmds) / sizeof(admin_cmds[0]); i++)
		if (admin_cmds[i].command == command)
			return &admin_cmds[i];
	return NULL;
}

static bool admin_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Checks 2-5 of 8.3. */
static uint8_t admin_check(struct mgmt *m, const struct tvq_admin_req_hdr *h, uint64_t req_len,
			   const struct admin_cmd **cmd)
{
	uint16_t dst = le16toh(h->dst_type);

	if (!(mgmt_features(m) & (1ULL << TVQ_F_ADMIN_VQ)))
		return TVQ_ADMIN_STATUS_INVALID_COMMAND;
	if (req_len < sizeof(*h))
		return TVQ_ADMIN_STATUS_INVALID_FIELD;
	*cmd = admin_cmd_find(le16toh(h->command));
	if (!*cmd)
		return TVQ_ADMIN_STATUS_INVALID_COMMAND;
	if (!admin_zero(h->reserved0, sizeof(h->reserved0)) ||
	    !admin_zero(h->reserved1, sizeof(h->reserved1)) || dst > TVQ_ADMIN_DST_MANAGED ||
	    !((*cmd)->dst & (1U << dst)) || (dst == TVQ_ADMIN_DST_SELF && h->vdev_id) ||
	    req_len != sizeof(*h) + (*cmd)->data_len)
		return TVQ_ADMIN_STATUS_INVALID_FIELD;
	return TVQ_ADMIN_STATUS_OK;
}

/* Checks 6-7: the target, then the command. */
static uint8_t admin_run_cmd(struct mgmt *m, const struct admin_cmd *cmd,
			     const struct tvq_admin_req_hdr *h, const uint8_t *data,
			     struct admin_res *res)
{
	uint64_t id = le64toh(h->vdev_id);
	struct mgmt_vdev *vd = NULL;
	uint8_t st;

	if (le16toh(h->dst_type) == TVQ_ADMIN_DST_MANAGED) {
		vd = mgmt_vd_get(m, id);
		if (!vd)
			return TVQ_ADMIN_STATUS_INVALID_VDEV_ID;
	}
	st = cmd->fn(m, vd, id, data, res);
	if (vd)
		mgmt_vd_put(vd);
	return st;
}

size_t mgmt_admin_exec(struct mgmt *m, const uint8_t *req, uint64_t req_len, uint8_t *reply,
		       size_t cap)
{
	struct tvq_admin_reply_hdr rh = { 0 };
	struct tvq_admin_req_hdr h = { 0 };
	struct admin_res res = { 0 };
	const struct admin_cmd *cmd = NULL;
	size_t n = 0;

	if (cap < sizeof(rh))
		return 0;
	memcpy(&h, req, req_len < sizeof(h) ? req_len : sizeof(h));
	res.room = cap - sizeof(rh);
	rh.status = admin_check(m, &h, req_len, &cmd);
	if (rh.status == TVQ_ADMIN_STATUS_OK) {
		res.buf = calloc(1, MGMT_ADMIN_RESULT_MAX);
		rh.status = res.buf ? admin_run_cmd(m, cmd, &h, req + sizeof(h), &res)
				    : TVQ_ADMIN_STATUS_INVALID_FIELD;
	}
	if (rh.status == TVQ_ADMIN_STATUS_CS_ERR)
		rh.command_specific_error = res.cs_err;
	if (rh.status == TVQ_ADMIN_STATUS_OK) {
		n = res.len < res.room ? res.len : res.room;
		memcpy(reply + sizeof(rh), res.buf, n);
	}
	memcpy(reply, &rh, sizeof(rh));
	free(res.buf);
	return sizeof(rh) + n;
}

/* A worker: one adminq command. */
void mgmt_admin_run(struct mgmt *m, struct mgmt_job *job)
{
	struct mgmt_cmd *c = container_of(job, struct mgmt_cmd, job);

	c->used = mgmt_admin_exec(m, c->req, c->req_len, c->reply, c->reply_cap);
	mgmt_cmd_complete(m, c);
}
