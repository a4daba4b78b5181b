/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM's virtio-pci devices: built from the configuration (--disk, --net) before the
 * guest starts, each a device model wrapped in the virtio-pci transport, and their
 * per-queue I/O loops and threads (--io-loops per-queue).
 */
#ifndef VQVM_VMM_VIRTIO_DEVICES_H
#define VQVM_VMM_VIRTIO_DEVICES_H

#include "lib/err.h"
#include "vmm/config.h"

struct vm;
struct virtio_device;

/*
 * The device model of a --disk / --net (or managed backend) configuration, idle, its
 * queues on the VM's main loop: the file or TAP is opened and checked. Returns 0, or -1
 * with e naming the file or TAP.
 */
int vm_open_disk(struct vm *vm, const struct disk_config *d, struct virtio_device **dev,
		 struct err *e);
int vm_open_net(struct vm *vm, const struct net_config *n, struct virtio_device **dev,
		struct err *e);

/*
 * Create every configured device; on error, what was created stays for vm_destroy.
 * With --io-loops per-queue each device also gets one event loop per queue
 * (dev->queue_loops), not running yet.
 */
int vm_create_virtio_devices(struct vm *vm, struct err *e);
/*
 * --io-loops per-queue: start one thread per queue loop ("io-blk0-q1"), each running
 * evloop_run until vm_stop_io_loops. Call before the vCPUs start, with the signal mask
 * the threads should inherit. Threads already started on error stay for
 * vm_stop_io_loops. Nothing to do with shared loops.
 */
int vm_start_io_loops(struct vm *vm, struct err *e);
/* Stop the queue loops for good and join their threads: after the vCPUs are joined. */
void vm_stop_io_loops(struct vm *vm);
/*
 * Tear the devices down: vCPUs stopped, I/O threads joined (vm_stop_io_loops), on the
 * main loop's thread after it stopped for good; every loop a transport watches is then
 * stopped for good, as virtio_pci_destroy needs.
 */
void vm_destroy_virtio_devices(struct vm *vm);
/* Log (info) each device's transport and queue state: the SIGUSR2 dump. Any thread. */
void vm_log_virtio_state(struct vm *vm);

#endif
