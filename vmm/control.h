/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The controller: what vqvm is between its command line and the VM. It holds the
 * configuration while it is built (CLI, --config-file, API), boots the VM from a frozen
 * copy of it, runs it, and owns the API server and the metrics.
 *
 * The VMM's event loop is the controller's own loop (c->loop, on the main thread) until
 * the VM exists, then the VM's main loop (vm->loop, same thread): the API's on_loop
 * requests run there (control_dispatch picks the loop under c->lock). Booting switches
 * loops in order: requests queued on c->loop before the switch still run there (and see
 * the VM running), later ones go to vm->loop.
 *
 * Lock: c->lock protects state, vm and cfg. cfg and state change only on the VMM loop,
 * under the lock; the API thread reads them under it. Order: metrics lock -> c->lock ->
 * event loop call locks.
 */
#ifndef VQVM_VMM_CONTROL_H
#define VQVM_VMM_CONTROL_H

#include <pthread.h>
#include <stdbool.h>

#include "lib/err.h"
#include "lib/evloop.h"
#include "vmm/api.h"
#include "vmm/config.h"
#include "vmm/metrics.h"

struct vm;

enum control_state {
	CTL_NOT_STARTED = 0, /* configuring: waiting for InstanceStart */
	CTL_RUNNING,
	CTL_PAUSED,
	CTL_ENDED,
};

struct control {
	pthread_mutex_t lock;
	enum control_state state;
	struct vm_config cfg;      /* as configured; the API shows and edits this one */
	struct vm_config boot_cfg; /* the copy the VM was built from, fixed while it lives */
	bool boot_cfg_ready;
	struct vm *vm;             /* set once created, cleared before it is destroyed */
	struct evloop loop;        /* the VMM's loop until the VM exists */
	bool loop_ready;
	struct evloop_call boot_call, stop_call;
	struct evloop_op sig_op;
	int sig_fd;                /* -1 unless watch_signals */
	bool watch_signals;        /* main: SIGINT etc. end vqvm before the VM runs (they
				    * must be blocked: control_block_signals) */
	struct metrics metrics;
	bool last_metrics;         /* the line at the VM's end is written */
	struct api_server *api;
	int exit_status;
	char end_msg[600];
};

/*
 * Block the signals vqvm reads from signalfds (SIGINT, SIGTERM, SIGHUP, SIGQUIT), SIGPIPE
 * and the vCPU kick: in main, before any thread starts, so all inherit the mask.
 */
void control_block_signals(void);
/* Take over cfg (it is left empty); apply its log file and metrics settings. */
int control_init(struct control *c, struct vm_config *cfg, struct err *e);
/* Open the API socket (cfg.api_sock) and start serving. */
int control_start_api(struct control *c, struct err *e);
/*
 * On the main thread: run the VMM loop (boot_now: boot at once, as `vqvm run` and
 * --config-file do; else wait for InstanceStart), then the VM until it ends. Returns the
 * exit status; c->end_msg says how it ended.
 */
int control_run(struct control *c, bool boot_now);
/* From any thread: end vqvm (before boot: stop waiting; after: stop the VM). */
void control_stop(struct control *c, const char *why);
/* Stop the API server and metrics, destroy what is left. */
void control_destroy(struct control *c);
/* api_params.dispatch: queue fn on the VMM's loop, unless the VM has ended. */
int control_dispatch(void *ctx, struct evloop_call *call, void (*fn)(void *), void *arg,
		     struct err *e);
/* Boot from c->cfg on the VMM loop's thread (InstanceStart). */
int control_boot(struct control *c, struct err *e);
/* "Not started", "Running", "Paused", "Ended". */
const char *control_state_name(enum control_state s);

/* The API's routes (api_handlers.c). */
extern const struct api_route control_routes[];
extern const unsigned int control_nr_routes;

#endif
