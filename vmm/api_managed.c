// SPDX-License-Identifier: Apache-2.0
/*
 * /managed-devices: the management device's backends. Before InstanceStart they are
 * configuration (vm_config.managed_disks/managed_nets); on a running VM a PUT opens the
 * backend and hands it to the management device (hot-add: with pre-creation a managed
 * device appears and the guest is told), and a DELETE asks the guest to let the device
 * go (mgmt_remove), which the management device forces after its removal timeout; the
 * reply waits until the device is gone.
 */
#include <linux/virtio_config.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "virtio/mgmt.h"
#include "virtio/tvq_proto.h"
#include "vmm/api_handlers.h"
#include "vmm/config_json.h"
#include "vmm/managed_devices.h"
#include "vmm/vm.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DEV_WAIT_POLL_MS 50
/* The management device forces a removal after its timeout; then some slack. */
#define REMOVAL_WAIT_MS (MGMT_DEFAULT_REMOVAL_TIMEOUT_MS + 5000)
/* How long a hot-add's reply waits for the guest's driver to bring the device up. */
#define HOTADD_WAIT_MS 10000

/* The managed devices as the management device lists them, with their state; caller frees. */
static struct mgmt_dev_info *list_devices(struct mgmt *m, unsigned int *n)
{
	struct mgmt_dev_info *infos = calloc(TVQ_MAX_MANAGED_LIMIT, sizeof(*infos));

	*n = infos ? mgmt_list(m, infos, TVQ_MAX_MANAGED_LIMIT) : 0;
	return infos;
}

static const struct mgmt_dev_info *find_backend(const struct mgmt_dev_info *infos,
						unsigned int n, const char *backend)
{
	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(infos[i].backend, backend))
			return &infos[i];
	return NULL;
}

/* Where the guest's driver left the device (its status byte), most telling bit first. */
static const char *status_name(uint8_t status)
{
	static const struct {
		uint8_t bit;
		const char *name;
	} bits[] = {
		{ 0x80, "failed" },	 { 0x40, "needs_reset" },  { 0x04, "driver_ok" },
		{ 0x08, "features_ok" }, { 0x02, "driver" },	   { 0x01, "acknowledge" },
	};

	for (unsigned int i = 0; i < ARRAY_SIZE(bits); i++)
		if (status & bits[i].bit)
			return bits[i].name;
	return "reset";
}

/* One backend's entry: its configuration, and its managed device if it has one. */
static json_t *entry(const struct vm_config *cfg, unsigned int i, bool net,
		     const struct mgmt_dev_info *infos, unsigned int n, bool running)
{
	json_t *o = config_json_dump_managed(cfg, i, net);
	const struct mgmt_dev_info *d = find_backend(infos, n, json_string_value(
							       json_object_get(o, "backend")));

	if (!d) {
		json_object_set_new(o, "id", json_null());
		json_object_set_new(o, "state", json_string(running ? "in_pool" : "provisioned"));
		json_object_set_new(o, "removal_requested", json_false());
		return o;
	}
	json_object_set_new(o, "id", json_integer((json_int_t)d->id));
	json_object_set_new(o, "state", json_string(status_name(d->status)));
	json_object_set_new(o, "status", json_integer(d->status));
	json_object_set_new(o, "removal_requested", json_boolean(d->removal_requested));
	json_object_set_new(o, "created_by", json_string(d->origin == TVQ_ORIGIN_HOST ? "host"
											: "guest"));
	json_object_set_new(o, "msix_budget", json_integer(d->msix_budget));
	json_object_set_new(o, "msix_in_use", json_integer(d->msix_in_use));
	return o;
}

void api_get_managed(struct api_request *r)
{
	struct control *c = api_ctx(r);
	struct mgmt_dev_info *infos = NULL;
	unsigned int n = 0;
	json_t *list = json_array();
	bool running;

	pthread_mutex_lock(&c->lock); /* the VM stays while it is held */
	running = c->vm != NULL;
	if (c->vm && c->vm->mgmt)
		infos = list_devices(c->vm->mgmt, &n);
	for (unsigned int net = 0; net < 2; net++)
		for (unsigned int i = 0; i < (net ? c->cfg.nr_managed_nets : c->cfg.nr_managed_disks);
		     i++)
			json_array_append_new(list, entry(&c->cfg, i, net, infos, n, running));
	pthread_mutex_unlock(&c->lock);
	free(infos);
	api_reply(r, MHD_HTTP_OK, list);
}

/* Looking for one managed device by its backend's name, or by id (backend NULL). */
struct dev_find {
	const char *backend;
	uint64_t id, found;
	uint8_t status;
};

static void find_one(void *arg, const struct mgmt_dev_info *info, struct virtio_device *dev)
{
	struct dev_find *f = arg;

	if (f->backend ? !strcmp(info->backend, f->backend) : info->id == f->id) {
		f->found = info->id;
		f->status = info->status;
	}
}

/*
 * The id of the managed device on backend (or with id), 0 if there is none, and its
 * status in *status (if not NULL). Never waits for a device's command: safe on the loop.
 */
static uint64_t find_device(struct mgmt *m, const char *backend, uint64_t id,
			    uint8_t *status)
{
	struct dev_find f = { .backend = backend, .id = id };

	mgmt_for_each_device(m, find_one, &f);
	if (status)
		*status = f.status;
	return f.found;
}

/* --- replies that wait for the guest ---------------------------------------------- */

/*
 * A reply that waits for what the guest's driver does with a device (a hot-add for
 * DRIVER_OK, a DELETE for the device to go): check, every DEV_WAIT_POLL_MS on the VMM
 * loop, replies and returns true once it is there, or (expired) at the limit. Freed
 * with its request.
 */
struct dev_wait {
	struct api_request *r;
	struct control *c;
	uint64_t id;
	unsigned int limit_ms, waited_ms;
	bool (*check)(struct dev_wait *w, bool expired);
	struct timespec since;
	struct evloop_op op;
	struct __kernel_timespec ts;
};

static void dev_wait_poll(struct evloop_op *op, int res, bool more);

static int dev_wait_arm(struct dev_wait *w)
{
	w->ts.tv_sec = 0;
	w->ts.tv_nsec = DEV_WAIT_POLL_MS * 1000000LL;
	return evloop_timer(&w->c->vm->loop, &w->op, &w->ts, dev_wait_poll, w);
}

static void dev_wait_poll(struct evloop_op *op, int res, bool more)
{
	struct dev_wait *w = op->opaque;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	w->waited_ms = (unsigned int)((now.tv_sec - w->since.tv_sec) * 1000 +
				      (now.tv_nsec - w->since.tv_nsec) / 1000000);
	if (!w->check(w, w->waited_ms >= w->limit_ms) && dev_wait_arm(w))
		w->check(w, true);
}

/* NULL (and r answered) when out of memory. */
static struct dev_wait *dev_wait_new(struct api_request *r, struct control *c, uint64_t id,
				     unsigned int limit_ms,
				     bool (*check)(struct dev_wait *w, bool expired))
{
	struct dev_wait *w = api_alloc_state(r, sizeof(*w));

	if (!w) {
		api_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return NULL;
	}
	*w = (struct dev_wait){ .r = r, .c = c, .id = id, .limit_ms = limit_ms,
				.check = check };
	clock_gettime(CLOCK_MONOTONIC, &w->since);
	return w;
}

/* Look now (it may be there already), then poll. */
static void dev_wait_start(struct dev_wait *w)
{
	dev_wait_poll(&(struct evloop_op){ .opaque = w }, 0, false);
}

/* --- hot-add ------------------------------------------------------------------------ */

static bool backend_exists(const struct vm_config *cfg, const char *name)
{
	return config_find_disk(cfg->managed_disks, cfg->nr_managed_disks, name) <
		       cfg->nr_managed_disks ||
	       config_find_net(cfg->managed_nets, cfg->nr_managed_nets, name) <
		       cfg->nr_managed_nets;
}

/*
 * A hot-added device's reply, once the guest's driver brought it up (DRIVER_OK), gave
 * up on it (FAILED, NEEDS_RESET) or destroyed it, or at the limit with the state it
 * reached: 200 with the state either way.
 */
static bool hotadd_check(struct dev_wait *w, bool expired)
{
	uint8_t status = 0;
	bool gone = !find_device(w->c->vm->mgmt, NULL, w->id, &status);
	bool settled = status & (VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FAILED |
				 VIRTIO_CONFIG_S_NEEDS_RESET);
	const char *state = gone ? "destroyed" : status_name(status);

	if (!gone && !settled && !expired)
		return false;
	log_info("managed-devices: device %llu is %s after %u ms%s", (unsigned long long)w->id,
		 state, w->waited_ms, settled || gone ? "" : " (no more waiting)");
	api_reply(w->r, MHD_HTTP_OK, json_pack("{s:s, s:I, s:s, s:i, s:i}", "backend",
					       api_param(w->r), "id", (json_int_t)w->id,
					       "state", state, "status", status, "waited_ms",
					       (int)w->waited_ms));
	return true;
}

/* The body checked as before the start, then the backend opened and handed over. */
static void hot_add(struct api_request *r, struct control *c)
{
	const char *name = api_param(r);
	struct err e = { { 0 } };
	struct vm_config next;
	struct dev_wait *w;
	unsigned int i;
	uint64_t id = 0;
	int ret;

	if (!c->vm->mgmt) {
		api_fail(r, MHD_HTTP_BAD_REQUEST, "managed-devices: this VM has no management "
			 "device (give it managed_max or a backend before InstanceStart)");
		return;
	}
	if (backend_exists(&c->cfg, name)) {
		api_fail(r, MHD_HTTP_BAD_REQUEST, "managed-devices: backend '%s' exists already "
			 "(DELETE it first)", name);
		return;
	}
	if (config_copy(&next, &c->cfg)) {
		api_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return;
	}
	if (config_json_managed(&next, name, api_body(r), &e) ||
	    config_check_as(&next, &config_api_names, &e)) {
		config_free(&next);
		api_fail(r, MHD_HTTP_BAD_REQUEST, "%s", e.msg);
		return;
	}
	i = config_find_disk(next.managed_disks, next.nr_managed_disks, name);
	if (i < next.nr_managed_disks)
		ret = vm_add_managed_disk(c->vm, &next.managed_disks[i], &id, &e);
	else
		ret = vm_add_managed_net(c->vm, &next.managed_nets[config_find_net(
						    next.managed_nets, next.nr_managed_nets, name)],
					 &id, &e);
	if (ret) {
		config_free(&next);
		api_fail(r, MHD_HTTP_BAD_REQUEST, "managed-devices: %s", e.msg);
		return;
	}
	api_commit_config(c, &next);
	log_info("managed-devices: backend %s added (managed device %llu)", name,
		 (unsigned long long)id);
	if (!id) {
		/* Without pre-creation it waits in the pool for the guest's CREATE. */
		api_reply(r, MHD_HTTP_OK, json_pack("{s:s, s:n, s:s}", "backend", name, "id",
						    "state", "in_pool"));
		return;
	}
	w = dev_wait_new(r, c, id, HOTADD_WAIT_MS, hotadd_check);
	if (w)
		dev_wait_start(w);
}

void api_put_managed(struct api_request *r)
{
	struct control *c = api_ctx(r);

	if (api_state(c) == CTL_NOT_STARTED)
		api_update_config(r);
	else if (api_need_vm(r, c, "managed-devices"))
		hot_add(r, c);
}

/* --- removal ---------------------------------------------------------------------- */

static void forget_backend(struct control *c, const char *name)
{
	pthread_mutex_lock(&c->lock);
	config_remove_managed(&c->cfg, name);
	pthread_mutex_unlock(&c->lock);
}

/* A DELETE's reply once the device is gone (204), or 500 at the limit. */
static bool removal_check(struct dev_wait *w, bool expired)
{
	struct control *c = w->c;
	bool gone = !find_device(c->vm->mgmt, NULL, w->id, NULL);

	if (gone) {
		forget_backend(c, api_param(w->r));
		log_info("managed-devices: device %llu removed after %u ms",
			 (unsigned long long)w->id, w->waited_ms);
		api_reply(w->r, MHD_HTTP_NO_CONTENT, NULL); /* w is freed with r */
	} else if (expired) {
		api_fail(w->r, MHD_HTTP_INTERNAL_SERVER_ERROR, "managed-devices: device %llu "
			 "is still there after %u ms", (unsigned long long)w->id, w->waited_ms);
	}
	return gone || expired;
}

static void hot_remove(struct api_request *r, struct control *c)
{
	const char *name = api_param(r);
	struct err e = { { 0 } };
	struct dev_wait *w;
	uint64_t id;

	if (!c->vm->mgmt) {
		api_fail(r, MHD_HTTP_NOT_FOUND, "managed-devices: no backend '%s'", name);
		return;
	}
	id = find_device(c->vm->mgmt, name, 0, NULL);
	if (!id) {
		/* No device on it: a backend waiting in the pool goes at once. */
		if (mgmt_remove_backend(c->vm->mgmt, name, &e)) {
			api_fail(r, MHD_HTTP_NOT_FOUND, "managed-devices: %s", e.msg);
			return;
		}
		forget_backend(c, name);
		api_reply(r, MHD_HTTP_NO_CONTENT, NULL);
		return;
	}
	w = dev_wait_new(r, c, id, REMOVAL_WAIT_MS, removal_check);
	if (!w)
		return;
	if (mgmt_remove(c->vm->mgmt, id, &e)) {
		api_fail(r, MHD_HTTP_NOT_FOUND, "managed-devices: %s", e.msg);
		return;
	}
	log_info("managed-devices: removal of device %llu (%s) requested", (unsigned long long)id,
		 name);
	dev_wait_start(w);
}

void api_delete_managed(struct api_request *r)
{
	struct control *c = api_ctx(r);
	int ret;

	if (api_state(c) != CTL_NOT_STARTED) {
		if (api_need_vm(r, c, "managed-devices"))
			hot_remove(r, c);
		return;
	}
	pthread_mutex_lock(&c->lock);
	ret = config_remove_managed(&c->cfg, api_param(r));
	pthread_mutex_unlock(&c->lock);
	if (ret)
		api_fail(r, MHD_HTTP_NOT_FOUND, "managed-devices: no backend '%s'", api_param(r));
	else
		api_reply(r, MHD_HTTP_NO_CONTENT, NULL);
}
