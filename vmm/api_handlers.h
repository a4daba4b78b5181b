/* SPDX-License-Identifier: Apache-2.0 */
/* What the API's handler files (api_handlers.c, api_managed.c) share. */
#ifndef VQVM_VMM_API_HANDLERS_H
#define VQVM_VMM_API_HANDLERS_H

#include <stdbool.h>

#include "vmm/api.h"
#include "vmm/control.h"

/* The controller's state, under its lock. */
enum control_state api_state(struct control *c);
/* True if the VM runs (or is paused); else a 400 saying why, naming what. */
bool api_need_vm(struct api_request *r, struct control *c, const char *what);
/* Make next the configuration (the old one is freed into next's place and freed). */
void api_commit_config(struct control *c, struct vm_config *next);
/* A configuration endpoint's handler: route data is its struct config_endpoint. */
void api_update_config(struct api_request *r);

/* /managed-devices (api_managed.c). */
void api_get_managed(struct api_request *r);
void api_put_managed(struct api_request *r);
void api_delete_managed(struct api_request *r);

#endif
