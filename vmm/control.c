// SPDX-License-Identifier: Apache-2.0
#include "vmm/control.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "lib/log.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

#define CONTROL_LOOP_ENTRIES 16

const char *control_state_name(enum control_state s)
{
	static const char *const names[] = {
		[CTL_NOT_STARTED] = "Not started",
		[CTL_RUNNING] = "Running",
		[CTL_PAUSED] = "Paused",
		[CTL_ENDED] = "Ended",
	};

	return names[s];
}

/* metrics' collect: the API's counters, and the VM's while it exists. */
static void collect(void *arg, json_t *line)
{
	struct control *c = arg;
	struct api_stats st = { 0 };

	if (c->api)
		api_get_stats(c->api, &st);
	json_object_set_new(line, "api", json_pack("{s:I, s:I}", "requests",
						   (json_int_t)st.requests, "errors",
						   (json_int_t)st.errors));
	pthread_mutex_lock(&c->lock);
	json_object_set_new(line, "state", json_string(control_state_name(c->state)));
	if (c->vm)
		json_object_set_new(line, "vm", metrics_vm_json(c->vm));
	pthread_mutex_unlock(&c->lock);
}

int control_init(struct control *c, struct vm_config *cfg, struct err *e)
{
	int ret;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	c->sig_fd = -1;
	metrics_init(&c->metrics, collect, c);
	ret = evloop_init(&c->loop, CONTROL_LOOP_ENTRIES);
	if (ret)
		return err_set(e, "cannot set up io_uring: %s", strerror(-ret));
	c->loop_ready = true;
	if (c->cfg.log_path && (ret = log_open_file(c->cfg.log_path)) < 0)
		return err_set(e, "log_path %s: %s", c->cfg.log_path, strerror(-ret));
	if (c->cfg.metrics_path &&
	    metrics_open(&c->metrics, c->cfg.metrics_path, c->cfg.metrics_interval_s * 1000, e))
		return -1;
	return 0;
}

int control_start_api(struct control *c, struct err *e)
{
	struct api_params p = {
		.path = c->cfg.api_sock,
		.routes = control_routes,
		.nr_routes = control_nr_routes,
		.ctx = c,
		.dispatch = control_dispatch,
	};

	return api_start(&c->api, &p, e);
}

int control_dispatch(void *ctx, struct evloop_call *call, void (*fn)(void *), void *arg,
		     struct err *e)
{
	struct control *c = ctx;
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	if (c->state == CTL_ENDED)
		ret = err_set(e, "the VM has ended");
	else
		evloop_call(c->vm ? &c->vm->loop : &c->loop, call, fn, arg);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/* Firecracker's is_root_device: the root disk is /dev/vda (config_json put it first). */
static int add_root_args(struct vm_config *b, struct err *e)
{
	char *args;

	if (!b->nr_disks || !b->disks[0].root)
		return 0;
	if (asprintf(&args, "%s%sroot=/dev/vda %s", b->cmdline ? b->cmdline : "",
		     b->cmdline ? " " : "", b->disks[0].readonly ? "ro" : "rw") < 0)
		return err_set(e, "out of memory");
	free(b->cmdline);
	b->cmdline = args;
	return 0;
}

static void stop_loop(void *arg)
{
	struct control *c = arg;

	evloop_stop(&c->loop);
}

int control_boot(struct control *c, struct err *e)
{
	struct vm *vm;

	if (config_copy(&c->boot_cfg, &c->cfg))
		return err_set(e, "out of memory");
	c->boot_cfg_ready = true;
	if (!c->boot_cfg.kernel_path) {
		err_set(e, "no kernel: PUT /boot-source with kernel_image_path first");
		goto fail;
	}
	/* The command line's were checked already: what fails here came from the API. */
	if (add_root_args(&c->boot_cfg, e) ||
	    config_check_as(&c->boot_cfg, &config_api_names, e))
		goto fail;
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		err_set(e, "out of memory");
		goto fail;
	}
	if (vm_create(vm, &c->boot_cfg, e)) {
		vm_destroy(vm);
		free(vm);
		goto fail;
	}
	pthread_mutex_lock(&c->lock);
	c->vm = vm;
	c->state = CTL_RUNNING;
	pthread_mutex_unlock(&c->lock);
	/* Behind whatever was queued on this loop before the switch (control.h). */
	evloop_call(&c->loop, &c->stop_call, stop_loop, c);
	return 0;
fail:
	config_free(&c->boot_cfg);
	c->boot_cfg_ready = false;
	return -1;
}

static void end(struct control *c, int status, const char *msg)
{
	pthread_mutex_lock(&c->lock);
	if (c->state != CTL_ENDED) {
		c->state = CTL_ENDED;
		c->exit_status = status;
		snprintf(c->end_msg, sizeof(c->end_msg), "%s", msg);
	}
	pthread_mutex_unlock(&c->lock);
}

static void boot_now(void *arg)
{
	struct control *c = arg;
	struct err e = { { 0 } };

	if (control_boot(c, &e)) {
		end(c, 1, e.msg);
		evloop_stop(&c->loop);
	}
}

static void on_signal(struct evloop_op *op, int res, bool more)
{
	struct control *c = op->opaque;
	struct signalfd_siginfo si;
	char msg[96];

	if (read(c->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	snprintf(msg, sizeof(msg), "stopped by signal %u (%s) before the guest started",
		 si.ssi_signo, strsignal((int)si.ssi_signo));
	end(c, 128 + (int)si.ssi_signo, msg);
	evloop_stop(&c->loop);
}

/* What ends vqvm, as vm_run has it; read from a signalfd, so blocked everywhere. */
static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

void control_block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	for (unsigned int i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigaddset(&set, stop_signals[i]);
	sigaddset(&set, SIGPIPE);          /* a closed peer is EPIPE */
	sigaddset(&set, SIGUSR2);          /* the running VM's state dump (vm.c) */
	sigaddset(&set, VCPU_KICK_SIGNAL); /* for vCPU threads only */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* Before there is a VM, the same signals end vqvm from the controller's loop. */
static void watch_signals(struct control *c)
{
	sigset_t set;

	sigemptyset(&set);
	for (unsigned int i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigaddset(&set, stop_signals[i]);
	c->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (c->sig_fd < 0 ||
	    evloop_watch_fd(&c->loop, &c->sig_op, c->sig_fd, POLLIN, on_signal, c))
		log_warn("cannot watch signals before boot: %s", strerror(errno));
}

static void run_vm(struct control *c)
{
	struct vm *vm = c->vm;
	struct err e;
	int status;

	vm_run(vm);
	status = vm_exit_status(vm);
	end(c, status, vm->end_msg);
	/* The last line has the VM's final counters (an error without a file: ignored). */
	metrics_flush(&c->metrics, &e);
	c->last_metrics = true;
	pthread_mutex_lock(&c->lock);
	c->vm = NULL;
	pthread_mutex_unlock(&c->lock);
	vm_destroy(vm);
	free(vm);
}

int control_run(struct control *c, bool boot)
{
	if (boot)
		evloop_call(&c->loop, &c->boot_call, boot_now, c);
	if (c->watch_signals)
		watch_signals(c);
	if (evloop_run(&c->loop) < 0)
		end(c, 1, "the VMM's event loop failed");
	if (c->sig_fd >= 0) {
		close(c->sig_fd);
		c->sig_fd = -1;
	}
	if (c->vm)
		run_vm(c);
	end(c, 0, "ended");
	/* No loop runs requests any more: answer those still waiting. */
	if (c->api)
		api_cancel_pending(c->api, "the VM has ended");
	return c->exit_status;
}

void control_stop(struct control *c, const char *why)
{
	pthread_mutex_lock(&c->lock);
	if (c->vm) {
		vm_request_stop(c->vm, VM_END_SIGNAL, "%s", why);
	} else if (c->state == CTL_NOT_STARTED) {
		c->state = CTL_ENDED;
		snprintf(c->end_msg, sizeof(c->end_msg), "%s", why);
	}
	pthread_mutex_unlock(&c->lock);
	evloop_stop(&c->loop);
}

void control_destroy(struct control *c)
{
	/* Metrics first: their last line reads the API's counters. */
	metrics_destroy(&c->metrics, !c->last_metrics);
	api_stop(c->api);
	c->api = NULL;
	if (c->loop_ready)
		evloop_destroy(&c->loop);
	if (c->boot_cfg_ready)
		config_free(&c->boot_cfg);
	config_free(&c->cfg);
	pthread_mutex_destroy(&c->lock);
}
