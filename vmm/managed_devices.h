/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM's management device (docs/transport-vq.md) and its backend pool, built from
 * --managed-disk, --managed-net, --managed-max and --managed-precreate: every backend
 * is a blk or net device model opened before the guest starts (so a bad image or TAP
 * is an error at once) and handed to the management device, which serves it to the
 * guest as a managed device through its transport virtqueue.
 */
#ifndef VQVM_VMM_MANAGED_DEVICES_H
#define VQVM_VMM_MANAGED_DEVICES_H

#include <stdint.h>

#include "lib/err.h"
#include "vmm/config.h"

struct vm;

/* Nothing to do unless config_has_mgmt(). On error, what was made stays for vm_destroy. */
int vm_create_mgmt(struct vm *vm, struct err *e);
/*
 * Hot-add (PUT /managed-devices on a running VM), on the VMM loop's thread: open the
 * backend d or n describes (its id is its name) and hand it to the management device,
 * which with pre-creation makes a managed device of it and tells the guest; *id as
 * mgmt_add_backend. -1 with e set, nothing changed, on failure.
 */
int vm_add_managed_disk(struct vm *vm, const struct disk_config *d, uint64_t *id,
			struct err *e);
int vm_add_managed_net(struct vm *vm, const struct net_config *n, uint64_t *id, struct err *e);
/* After the vCPUs stopped and the main loop stopped for good. */
void vm_destroy_mgmt(struct vm *vm);
/* Log (info) each managed device's queue state: the SIGUSR2 dump. Any thread. */
void vm_log_managed_state(struct vm *vm);

#endif
