/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM's virtio-pci devices: built from the configuration (--disk, --net) before the
 * guest starts, each a device model wrapped in the virtio-pci transport.
 */
#ifndef VQVM_VMM_VIRTIO_DEVICES_H
#define VQVM_VMM_VIRTIO_DEVICES_H

#include "lib/err.h"

struct vm;

/* Create every configured device; on error, what was created stays for vm_destroy. */
int vm_create_virtio_devices(struct vm *vm, struct err *e);
/* Tear them down: vCPUs stopped, on the loop thread, after the loop stopped for good. */
void vm_destroy_virtio_devices(struct vm *vm);

#endif
