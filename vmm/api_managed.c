// SPDX-License-Identifier: Apache-2.0
/*
 * /managed-devices: the management device's backends. Before InstanceStart they are
 * configuration (vm_config.managed_disks/managed_nets); on a running VM a PUT opens the
 * backend and hands it to the management device (hot-add: with pre-creation a managed
 * device appears and the guest is told), and a DELETE asks the guest to let the device
 * go (mgmt_remove), which the management device forces after its removal timeout; the
 * reply waits until the device is gone.
 */
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
#define REMOVAL_POLL_MS 50
/* The management device forces a removal after its timeout; then some slack. */
#define REMOVAL_WAIT_MS (MGMT_DEFAULT_REMOVAL_TIMEOUT_MS + 5000)

/*
 * The managed devices as the management device lists them, with their state; caller
 * frees. Not on the VMM loop: mgmt_list waits for a command in progress, which may be
 * waiting for backend I/O that this loop completes.
 */
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

/* --- hot-add ------------------------------------------------------------------------ */

static bool backend_exists(const struct vm_config *cfg, const char *name)
{
	return config_find_disk(cfg->managed_disks, cfg->nr_managed_disks, name) <
		       cfg->nr_managed_disks ||
	       config_find_net(cfg->managed_nets, cfg->nr_managed_nets, name) <
		       cfg->nr_managed_nets;
}

/* The body checked as before the start, then the backend opened and handed over. */
static void hot_add(struct api_request *r, struct control *c)
{
	const char *name = api_param(r);
	struct err e = { { 0 } };
	struct vm_config next;
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
	api_reply(r, MHD_HTTP_OK, json_pack("{s:s, s:o}", "backend", name, "id",
					    id ? json_integer((json_int_t)id) : json_null()));
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

/* Looking for one managed device by its backend's name, or by id (backend NULL). */
struct dev_find {
	const char *backend;
	uint64_t id, found;
};

static void find_one(void *arg, const struct mgmt_dev_info *info, struct virtio_device *dev)
{
	struct dev_find *f = arg;

	if (f->backend ? !strcmp(info->backend, f->backend) : info->id == f->id)
		f->found = info->id;
}

/*
 * The id of the managed device on backend (or with id), 0 if there is none. Without
 * the state, so that it never waits for a command (mgmt_for_each_device): safe on the
 * VMM loop, unlike list_devices.
 */
static uint64_t find_device(struct mgmt *m, const char *backend, uint64_t id)
{
	struct dev_find f = { .backend = backend, .id = id };

	mgmt_for_each_device(m, find_one, &f);
	return f.found;
}

static void forget_backend(struct control *c, const char *name)
{
	pthread_mutex_lock(&c->lock);
	config_remove_managed(&c->cfg, name);
	pthread_mutex_unlock(&c->lock);
}

/* A DELETE waiting for the device to go: polled on the VMM loop. */
struct removal {
	struct api_request *r;
	struct control *c;
	uint64_t id;
	struct timespec since;
	unsigned int waited_ms;
	struct evloop_op op;
	struct __kernel_timespec ts;
};

static void removal_poll(struct evloop_op *op, int res, bool more);

static int removal_arm(struct removal *rm)
{
	rm->ts.tv_sec = 0;
	rm->ts.tv_nsec = REMOVAL_POLL_MS * 1000000LL;
	return evloop_timer(&rm->c->vm->loop, &rm->op, &rm->ts, removal_poll, rm);
}

static void removal_poll(struct evloop_op *op, int res, bool more)
{
	struct removal *rm = op->opaque;
	struct control *c = rm->c;
	bool gone = !find_device(c->vm->mgmt, NULL, rm->id);
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	rm->waited_ms = (unsigned int)((now.tv_sec - rm->since.tv_sec) * 1000 +
				       (now.tv_nsec - rm->since.tv_nsec) / 1000000);
	if (gone) {
		forget_backend(c, api_param(rm->r));
		log_info("managed-devices: device %llu removed after %u ms",
			 (unsigned long long)rm->id, rm->waited_ms);
		api_reply(rm->r, MHD_HTTP_NO_CONTENT, NULL); /* rm is freed with r */
	} else if (rm->waited_ms >= REMOVAL_WAIT_MS || removal_arm(rm)) {
		api_fail(rm->r, MHD_HTTP_INTERNAL_SERVER_ERROR, "managed-devices: device %llu "
			 "is still there after %u ms", (unsigned long long)rm->id, rm->waited_ms);
	}
}

static void hot_remove(struct api_request *r, struct control *c)
{
	const char *name = api_param(r);
	struct err e = { { 0 } };
	struct removal *rm;
	uint64_t id;

	if (!c->vm->mgmt) {
		api_fail(r, MHD_HTTP_NOT_FOUND, "managed-devices: no backend '%s'", name);
		return;
	}
	id = find_device(c->vm->mgmt, name, 0);
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
	rm = api_alloc_state(r, sizeof(*rm));
	if (!rm) {
		api_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return;
	}
	*rm = (struct removal){ .r = r, .c = c, .id = id };
	clock_gettime(CLOCK_MONOTONIC, &rm->since);
	if (mgmt_remove(c->vm->mgmt, id, &e)) {
		api_fail(r, MHD_HTTP_NOT_FOUND, "managed-devices: %s", e.msg);
		return;
	}
	log_info("managed-devices: removal of device %llu (%s) requested", (unsigned long long)id,
		 name);
	if (removal_arm(rm))
		api_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "managed-devices: cannot wait for "
			 "device %llu to go", (unsigned long long)id);
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
