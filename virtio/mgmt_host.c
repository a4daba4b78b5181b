/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The management device's host side (virtio/mgmt.h): provisioning backends into the
 * pool (with pre-creation and hot-add), host removal of managed devices with its
 * timeout (docs/transport-vq.md 9.4), removal of free backends, and the listing for the
 * API. Called from API threads and the machine builder; the removal timers run on the
 * management device's loop. Locks as described in mgmt.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "virtio/mgmt.h"
#include "virtio/mgmt_int.h"

/* ---- backends ---- */

static int mgmt_backend_check(struct virtio_device *dev, const char *name, struct err *e)
{
	if (!dev || !name || !*name || strlen(name) >= MGMT_NAME_MAX)
		return err_set(e, "%s: backend name '%s': 1 to %d bytes", MGMT_NAME,
			       name ? name : "", MGMT_NAME_MAX - 1);
	if (dev->device_type != TVQ_VIRTIO_ID_NET && dev->device_type != TVQ_VIRTIO_ID_BLOCK)
		return err_set(e, "%s: backend '%s': virtio device type %u cannot be managed",
			       MGMT_NAME, name, dev->device_type);
	return 0;
}

/* m->lock held. */
static int mgmt_backend_fits(struct mgmt *m, const char *name, struct err *e)
{
	if (m->nr_backends >= MGMT_MAX_BACKENDS)
		return err_set(e, "%s: backend '%s': the pool is full (%u backends)", MGMT_NAME,
			       name, MGMT_MAX_BACKENDS);
	for (struct mgmt_backend *be = m->backends; be; be = be->next)
		if (!strcmp(be->name, name))
			return err_set(e, "%s: backend '%s' exists already", MGMT_NAME, name);
	return 0;
}

static struct mgmt_backend *mgmt_backend_new(struct virtio_device *dev, const char *name)
{
	struct mgmt_backend *be = calloc(1, sizeof(*be));

	if (!be)
		return NULL;
	be->dev = dev;
	snprintf(be->name, sizeof(be->name), "%s", name);
	if (dev->device_type == TVQ_VIRTIO_ID_NET && dev->config_size >= sizeof(be->mac))
		dev->ops->config_read(dev, 0, be->mac, sizeof(be->mac));
	return be;
}

/* m->lock held. */
void mgmt_backend_unlink(struct mgmt *m, struct mgmt_backend *be)
{
	struct mgmt_backend **pp = &m->backends;

	while (*pp && *pp != be)
		pp = &(*pp)->next;
	if (!*pp)
		return;
	*pp = be->next;
	if (!*pp)
		m->backends_tail = pp;
	m->nr_backends--;
}

/* The backend leaves vqvm: its model is destroyed (idle: no transport serves it). */
void mgmt_backend_free(struct mgmt_backend *be)
{
	if (be->dev->ops->destroy)
		be->dev->ops->destroy(be->dev);
	free(be);
}

int mgmt_add_backend(struct mgmt *m, struct virtio_device *dev, const char *name,
		     uint64_t *id, struct err *e)
{
	struct mgmt_backend *be;
	uint32_t ack;

	*id = 0;
	if (mgmt_backend_check(dev, name, e))
		return -1;
	be = mgmt_backend_new(dev, name);
	if (!be)
		return err_set(e, "%s: backend '%s': out of memory", MGMT_NAME, name);
	pthread_mutex_lock(&m->lock);
	if (mgmt_backend_fits(m, name, e)) {
		pthread_mutex_unlock(&m->lock);
		free(be);
		return -1;
	}
	*m->backends_tail = be;
	m->backends_tail = &be->next;
	m->nr_backends++;
	m->model_features |= dev->ops->features(dev);
	be->state = m->p.precreate ? MGMT_BE_USED : MGMT_BE_FREE;
	pthread_mutex_unlock(&m->lock);
	if (!m->p.precreate)
		return 0;
	ack = mgmt_vdev_create(m, be, TVQ_ORIGIN_HOST, 0, NULL, id);
	if (ack == TVQ_ACK_OK)
		return 0;
	/* Not provisioned after all: the caller keeps the model. */
	pthread_mutex_lock(&m->lock);
	mgmt_backend_unlink(m, be);
	pthread_mutex_unlock(&m->lock);
	free(be);
	return err_set(e, "%s: backend '%s': %s", MGMT_NAME, name,
		       ack == TVQ_ACK_ENOSPC ? "no free slot or MSI vectors"
					     : "the managed device cannot be created");
}

/* ---- host removal (9.4) ---- */

static void mgmt_removal_fired(struct evloop_op *op, int res, bool more)
{
	struct mgmt_removal *r = op->opaque, **pp;
	struct mgmt *m = r->m;
	struct mgmt_vdev *vd;

	pthread_mutex_lock(&m->lock);
	for (pp = &m->removals; *pp != r; pp = &(*pp)->next)
		;
	*pp = r->next;
	vd = mgmt_vd_find(m, r->id);
	if (vd) {
		log_warn("%s: managed device %llu not destroyed by the guest within %u ms: "
			 "destroying it", MGMT_NAME, (unsigned long long)vd->id,
			 m->p.removal_timeout_ms);
		vd->gone = true; /* the id is invalid at once */
		vd->force_destroy = true;
		mgmt_vd_schedule(vd);
	}
	pthread_mutex_unlock(&m->lock);
	free(r);
}

static void mgmt_removal_arm(void *arg)
{
	struct mgmt_removal *r = arg;
	int ret = evloop_timer(&r->m->loop, &r->op, &r->ts, mgmt_removal_fired, r);

	if (ret)
		log_err("%s: managed device %llu: removal timer: %s", MGMT_NAME,
			(unsigned long long)r->id, strerror(-ret));
}

int mgmt_remove(struct mgmt *m, uint64_t id, struct err *e)
{
	struct mgmt_removal *r = calloc(1, sizeof(*r));
	struct mgmt_vdev *vd;

	if (!r)
		return err_set(e, "%s: out of memory", MGMT_NAME);
	pthread_mutex_lock(&m->lock);
	vd = mgmt_vd_find(m, id);
	if (!vd || vd->removal_requested) {
		pthread_mutex_unlock(&m->lock);
		free(r);
		if (vd)
			return 0; /* a second request changes nothing */
		return err_set(e, "%s: no managed device %llu", MGMT_NAME,
			       (unsigned long long)id);
	}
	vd->removal_requested = true;
	r->m = m;
	r->id = id;
	r->ts.tv_sec = m->p.removal_timeout_ms / 1000;
	r->ts.tv_nsec = (long long)(m->p.removal_timeout_ms % 1000) * 1000000;
	r->next = m->removals;
	m->removals = r;
	pthread_mutex_unlock(&m->lock);
	mgmt_changed(m);
	evloop_call(&m->loop, &r->call, mgmt_removal_arm, r);
	return 0;
}

int mgmt_remove_backend(struct mgmt *m, const char *name, struct err *e)
{
	struct mgmt_backend *be;

	pthread_mutex_lock(&m->lock);
	for (be = m->backends; be && strcmp(be->name, name); be = be->next)
		;
	if (!be || be->state != MGMT_BE_FREE) {
		pthread_mutex_unlock(&m->lock);
		return err_set(e, "%s: backend '%s' %s", MGMT_NAME, name,
			       be ? "serves a managed device: remove the device"
				  : "does not exist");
	}
	mgmt_backend_unlink(m, be);
	pthread_mutex_unlock(&m->lock);
	mgmt_backend_free(be);
	return 0;
}

/* ---- listing (API) ---- */

/* Never waits for a command of the device (managed_get_state). */
static void mgmt_info_fill(struct mgmt *m, struct mgmt_vdev *vd, struct mgmt_dev_info *out)
{
	struct managed_info mi = { 0 };

	managed_get_state(vd->md, &mi);
	*out = (struct mgmt_dev_info){
		.id = vd->id, .slot = vd->slot, .origin = vd->origin,
		.virtio_device_id = vd->be->dev->device_type, .status = mi.status,
		.msix_budget = mi.msix_budget, .msix_in_use = mi.msix_in_use,
	};
	memcpy(out->backend, vd->be->name, sizeof(out->backend));
	managed_irq_stats(vd->md, &out->irqs);
	pthread_mutex_lock(&m->lock);
	out->removal_requested = vd->removal_requested;
	pthread_mutex_unlock(&m->lock);
}

typedef void mgmt_each_fn(void *arg, const struct mgmt_dev_info *info,
			  struct virtio_device *dev);

static void mgmt_each(struct mgmt *m, mgmt_each_fn *fn, void *arg)
{
	struct mgmt_vdev **vds = calloc(m->p.max_managed, sizeof(*vds));
	unsigned int n;

	if (!vds)
		return;
	n = mgmt_vd_get_all(m, vds);
	for (unsigned int i = 0; i < n; i++) {
		struct mgmt_dev_info info;

		mgmt_info_fill(m, vds[i], &info);
		fn(arg, &info, vds[i]->be->dev);
		mgmt_vd_put(vds[i]);
	}
	free(vds);
}

void mgmt_for_each_device(struct mgmt *m, mgmt_each_fn *fn, void *arg)
{
	mgmt_each(m, fn, arg);
}

struct mgmt_list_out {
	struct mgmt_dev_info *out;
	unsigned int max, n;
};

static void mgmt_list_one(void *arg, const struct mgmt_dev_info *info,
			  struct virtio_device *dev)
{
	struct mgmt_list_out *l = arg;

	if (l->n < l->max)
		l->out[l->n++] = *info;
}

unsigned int mgmt_list(struct mgmt *m, struct mgmt_dev_info *out, unsigned int max)
{
	struct mgmt_list_out l = { .out = out, .max = max };

	mgmt_each(m, mgmt_list_one, &l);
	return l.n;
}
