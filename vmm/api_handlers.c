// SPDX-License-Identifier: Apache-2.0
/*
 * The API's endpoints (docs/api.md): the route table and its handlers. Handlers of
 * on_loop routes run on the VMM's event loop (control.h) and change the configuration
 * or the VM there; the others only read, under the controller's lock.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "vmm/api_handlers.h"
#include "vmm/config_json.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/*
 * The Firecracker API whose endpoints and field names vqvm follows (machine-config's
 * huge_pages is from 1.7.0): what GET /version reports as firecracker_version, so that
 * clients written for Firecracker find the field they parse.
 */
#define FIRECRACKER_API_VERSION "1.7.0"

enum control_state api_state(struct control *c)
{
	enum control_state s;

	pthread_mutex_lock(&c->lock);
	s = c->state;
	pthread_mutex_unlock(&c->lock);
	return s;
}

bool api_need_vm(struct api_request *r, struct control *c, const char *what)
{
	switch (api_state(c)) {
	case CTL_NOT_STARTED:
		api_fail(r, MHD_HTTP_BAD_REQUEST, "%s: the VM is not running yet (InstanceStart "
			 "first)", what);
		return false;
	case CTL_ENDED:
		api_fail(r, MHD_HTTP_BAD_REQUEST, "%s: the VM has ended", what);
		return false;
	default:
		return true;
	}
}

/* --- reads (API thread) ------------------------------------------------------------ */

static void get_info(struct api_request *r)
{
	struct control *c = api_ctx(r);

	api_reply(r, MHD_HTTP_OK,
		  json_pack("{s:s, s:s, s:s, s:s}", "id", "anonymous-instance", "state",
			    control_state_name(api_state(c)), "vmm_version", VQVM_VERSION,
			    "app_name", "vqvm"));
}

static void get_version(struct api_request *r)
{
	api_reply(r, MHD_HTTP_OK, json_pack("{s:s, s:s}", "firecracker_version",
					    FIRECRACKER_API_VERSION, "vqvm_version", VQVM_VERSION));
}

/* GET /vm/config, or one of its sections (GET /machine-config). */
static void get_config(struct api_request *r)
{
	struct control *c = api_ctx(r);
	const char *section = api_data(r);
	json_t *all, *one;

	pthread_mutex_lock(&c->lock);
	all = config_json_dump(&c->cfg);
	pthread_mutex_unlock(&c->lock);
	if (!all) {
		api_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return;
	}
	if (!section) {
		api_reply(r, MHD_HTTP_OK, all);
		return;
	}
	one = json_incref(json_object_get(all, section));
	json_decref(all);
	api_reply(r, MHD_HTTP_OK, one);
}

/* --- configuration (VMM loop) --------------------------------------------------------- */

/* A configuration endpoint: how its body applies to the configuration. */
struct config_endpoint {
	const char *what;
	int (*apply)(struct vm_config *cfg, const char *id, json_t *body, struct err *e);
	bool any_time; /* also while the VM runs (logger, metrics: not the VM's) */
	/* Put it in effect (files to open); next is the configuration about to be kept. */
	int (*activate)(struct control *c, const struct vm_config *next, struct err *e);
};

/*
 * Apply the body to a copy of the configuration, check the whole, and keep it only if
 * all of that (and activate) succeeded: a failed request changes nothing.
 */
void api_commit_config(struct control *c, struct vm_config *next)
{
	struct vm_config old;

	pthread_mutex_lock(&c->lock);
	old = c->cfg;
	c->cfg = *next;
	pthread_mutex_unlock(&c->lock);
	config_free(&old);
	memset(next, 0, sizeof(*next));
}

void api_update_config(struct api_request *r)
{
	const struct config_endpoint *ep = api_data(r);
	struct control *c = api_ctx(r);
	struct err e = { { 0 } };
	struct vm_config next;

	if (!ep->any_time && api_state(c) != CTL_NOT_STARTED) {
		api_fail(r, MHD_HTTP_BAD_REQUEST, "%s: only before InstanceStart (the VM %s)",
			 ep->what, api_state(c) == CTL_ENDED ? "has ended" : "is running");
		return;
	}
	if (config_copy(&next, &c->cfg)) {
		api_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return;
	}
	if (ep->apply(&next, api_param(r), api_body(r), &e) ||
	    config_check_as(&next, &config_api_names, &e) ||
	    (ep->activate && ep->activate(c, &next, &e))) {
		config_free(&next);
		api_fail(r, MHD_HTTP_BAD_REQUEST, "%s", e.msg);
		return;
	}
	api_commit_config(c, &next);
	api_reply(r, MHD_HTTP_NO_CONTENT, NULL);
}

static int apply_machine(struct vm_config *cfg, const char *id, json_t *b, struct err *e)
{
	return config_json_machine(cfg, b, false, e);
}

static int patch_machine(struct vm_config *cfg, const char *id, json_t *b, struct err *e)
{
	return config_json_machine(cfg, b, true, e);
}

static int apply_boot(struct vm_config *cfg, const char *id, json_t *b, struct err *e)
{
	return config_json_boot_source(cfg, b, e);
}

static int apply_logger(struct vm_config *cfg, const char *id, json_t *b, struct err *e)
{
	return config_json_logger(cfg, b, e);
}

static int apply_metrics(struct vm_config *cfg, const char *id, json_t *b, struct err *e)
{
	return config_json_metrics(cfg, b, e);
}

static int open_log(struct control *c, const struct vm_config *next, struct err *e)
{
	int ret;

	if (next->log_path && (ret = log_open_file(next->log_path)) < 0)
		return err_set(e, "logger: log_path %s: %s", next->log_path, strerror(-ret));
	log_set_level(next->log_level);
	return 0;
}

static int open_metrics(struct control *c, const struct vm_config *next, struct err *e)
{
	return metrics_open(&c->metrics, next->metrics_path, next->metrics_interval_s * 1000,
			    e);
}

static const struct config_endpoint ep_machine = { "machine-config", apply_machine, false, NULL };
static const struct config_endpoint ep_machine_patch = { "machine-config", patch_machine, false,
							 NULL };
static const struct config_endpoint ep_boot = { "boot-source", apply_boot, false, NULL };
static const struct config_endpoint ep_drive = { "drives", config_json_drive, false, NULL };
static const struct config_endpoint ep_net = { "network-interfaces", config_json_net, false,
					       NULL };
static const struct config_endpoint ep_managed = { "managed-devices", config_json_managed,
						   false, NULL };
static const struct config_endpoint ep_logger = { "logger", apply_logger, true, open_log };
static const struct config_endpoint ep_metrics = { "metrics", apply_metrics, true,
						   open_metrics };

/* --- actions and VM state (VMM loop) ------------------------------------------------ */

static void instance_start(struct api_request *r, struct control *c)
{
	struct err e = { { 0 } };

	if (api_state(c) != CTL_NOT_STARTED) {
		api_fail(r, MHD_HTTP_BAD_REQUEST, "InstanceStart: the VM %s",
			 api_state(c) == CTL_ENDED ? "has ended" : "is running already");
		return;
	}
	if (control_boot(c, &e)) {
		api_fail(r, MHD_HTTP_BAD_REQUEST, "InstanceStart: %s", e.msg);
		return;
	}
	log_info("InstanceStart: VM created");
	api_reply(r, MHD_HTTP_NO_CONTENT, NULL);
}

/* The i8042's keyboard types Ctrl+Alt+Del; what follows is the guest's business. */
static void send_ctrl_alt_del(struct api_request *r, struct control *c)
{
	int ret;

	if (!api_need_vm(r, c, "SendCtrlAltDel"))
		return;
	ret = i8042_send_ctrl_alt_del(&c->vm->i8042);
	if (ret == -EAGAIN)
		api_fail(r, MHD_HTTP_BAD_REQUEST, "SendCtrlAltDel: the guest has not enabled "
			 "its keyboard (i8042) or its interrupt");
	else if (ret)
		api_fail(r, MHD_HTTP_BAD_REQUEST, "SendCtrlAltDel: the guest has not read the "
			 "keys sent before");
	else
		api_reply(r, MHD_HTTP_NO_CONTENT, NULL);
}

static void flush_metrics(struct api_request *r, struct control *c)
{
	struct err e = { { 0 } };

	if (metrics_flush(&c->metrics, &e))
		api_fail(r, MHD_HTTP_BAD_REQUEST, "FlushMetrics: %s", e.msg);
	else
		api_reply(r, MHD_HTTP_NO_CONTENT, NULL);
}

static const struct {
	const char *name;
	void (*run)(struct api_request *r, struct control *c);
} actions[] = {
	{ "InstanceStart", instance_start },
	{ "SendCtrlAltDel", send_ctrl_alt_del },
	{ "FlushMetrics", flush_metrics },
};

/* The body is {"field": one of names}: its index, or -1 after a 400. */
static int body_enum(struct api_request *r, const char *what, const char *field,
		     const char *const *names, unsigned int nr)
{
	struct err e = { { 0 } };
	int i;

	if (!config_json_enum(what, api_body(r), field, names, nr, &i, &e))
		return i;
	api_fail(r, MHD_HTTP_BAD_REQUEST, "%s", e.msg);
	return -1;
}

static void put_actions(struct api_request *r)
{
	const char *names[ARRAY_SIZE(actions)];
	int i;

	for (unsigned int n = 0; n < ARRAY_SIZE(actions); n++)
		names[n] = actions[n].name;
	i = body_enum(r, "actions", "action_type", names, ARRAY_SIZE(names));
	if (i >= 0)
		actions[i].run(r, api_ctx(r));
}

/* The state from..., now to (unless it became something else, e.g. Ended). */
static void transition(struct control *c, enum control_state from, enum control_state to)
{
	pthread_mutex_lock(&c->lock);
	if (c->state == from)
		c->state = to;
	pthread_mutex_unlock(&c->lock);
	log_info("VM %s", to == CTL_PAUSED ? "paused" : "resumed");
}

/* The last vCPU parked (any thread): the VM is paused. */
static void paused(void *arg)
{
	struct api_request *r = arg;

	transition(api_ctx(r), CTL_RUNNING, CTL_PAUSED);
	api_reply(r, MHD_HTTP_NO_CONTENT, NULL);
}

static void patch_vm(struct api_request *r)
{
	static const char *const states[] = { "Paused", "Resumed" };
	struct control *c = api_ctx(r);
	int want = body_enum(r, "vm", "state", states, ARRAY_SIZE(states));

	if (want < 0 || !api_need_vm(r, c, "vm"))
		return;
	if (want == 0) {
		/* Replies once every vCPU is parked: they may be busy in an exit. */
		vcpus_pause(c->vm, paused, r);
		return;
	}
	vcpus_resume(c->vm);
	transition(c, CTL_PAUSED, CTL_RUNNING);
	api_reply(r, MHD_HTTP_NO_CONTENT, NULL);
}

/* --- the table ----------------------------------------------------------------------- */

const struct api_route control_routes[] = {
	{ "GET", "/", get_info, false, false, NULL },
	{ "GET", "/version", get_version, false, false, NULL },
	{ "GET", "/machine-config", get_config, false, false, "machine-config" },
	{ "PUT", "/machine-config", api_update_config, true, true, &ep_machine },
	{ "PATCH", "/machine-config", api_update_config, true, true, &ep_machine_patch },
	{ "PUT", "/boot-source", api_update_config, true, true, &ep_boot },
	{ "PUT", "/drives/{}", api_update_config, true, true, &ep_drive },
	{ "PUT", "/network-interfaces/{}", api_update_config, true, true, &ep_net },
	{ "PUT", "/logger", api_update_config, true, true, &ep_logger },
	{ "PUT", "/metrics", api_update_config, true, true, &ep_metrics },
	{ "PUT", "/actions", put_actions, true, true, NULL },
	{ "PATCH", "/vm", patch_vm, true, true, NULL },
	{ "GET", "/vm/config", get_config, false, false, NULL },
	{ "GET", "/managed-devices", api_get_managed, false, false, NULL },
	{ "PUT", "/managed-devices/{}", api_put_managed, true, true, &ep_managed },
	{ "DELETE", "/managed-devices/{}", api_delete_managed, true, false, NULL },
};
const unsigned int control_nr_routes = ARRAY_SIZE(control_routes);
