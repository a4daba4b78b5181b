/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM object: the one place that holds mutable state. It owns the KVM file
 * descriptors, guest memory, the buses and devices, the vCPU threads, the main event
 * loop and the virtio I/O loops, and records why the VM ended.
 *
 * Threads: one per vCPU (KVM_RUN and exit dispatch), the main thread (event loop:
 * console input, signals and, with --io-loops shared, every virtio queue's kicks,
 * processing and io_uring completions) and, with --io-loops per-queue, one thread per
 * virtqueue ("io-blk0-q1") running that queue's own loop for the same work; they start
 * before the vCPUs and stop after them (vCPUs joined, then I/O threads, then the
 * transports and devices are destroyed).
 *
 * Locks, in the order they may be taken: pci host lock -> bus lock (rwlock; held only
 * to look a range up, never while a handler runs) -> device locks (serial, i8042, rtc;
 * for a virtio device: its transport's lock, then the model's locks, then the
 * transport's irq lock, then the KVM glue's GSI lock, see virtio/pci.h) ->
 * vm->stop_lock. The event loops' call-queue locks are leaves. Event loop threads never
 * take the PCI host lock, a bus lock or a transport's lock (only its irq lock), so a
 * vCPU resetting a device under those may wait for a loop. Device callbacks that stop
 * the VM (i8042 reset) run after the device lock is dropped; an I/O thread whose loop
 * fails stops the VM holding no lock. No lock is held across KVM_RUN.
 */
#ifndef VQVM_VMM_VM_H
#define VQVM_VMM_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/i8042.h"
#include "devices/pci.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "lib/err.h"
#include "lib/evloop.h"
#include "lib/guest_mem.h"
#include "vmm/config.h"
#include "vmm/console.h"
#include "vmm/hv_kvm.h"

struct kvm_run;
struct kvm_cpuid2;
struct virtio_device;
struct virtio_pci;
struct mgmt;

#define VM_MAX_VIRTIO_DEVICES (CONFIG_MAX_DISKS + CONFIG_MAX_NETS)

/* A virtqueue's own event loop and the thread that runs it (--io-loops per-queue). */
struct vm_io_loop {
	struct vm *vm;
	struct evloop loop;
	char name[16];  /* the thread's name, e.g. "io-blk0-q1" */
	pthread_t thread;
	bool ready;     /* loop initialised: destroyed with the device */
	bool started;   /* thread running evloop_run: stopped and joined before teardown */
};

/* A virtio device model and the transport that serves it. */
struct vm_virtio_dev {
	char name[32];
	struct virtio_device *dev;
	struct virtio_pci *pci;
	/* --io-loops per-queue: one loop per queue; dev->queue_loops points at them */
	struct vm_io_loop *io;
	struct evloop **queue_loops;
	unsigned int nr_io;
};

enum vm_end {
	VM_RUNNING = 0,
	VM_END_RESET,     /* the guest reset the machine (reboot): success */
	VM_END_SHUTDOWN,  /* the guest powered off: success */
	VM_END_PANIC,     /* the guest kernel panicked */
	VM_END_CRASH,     /* triple fault, KVM internal error, failed entry */
	VM_END_SIGNAL,    /* stopped by a signal or the console escape */
	VM_END_ERROR,     /* vqvm failed */
};

#define VCPU_EXIT_STATS 12 /* exit reasons counted per vCPU (vcpu.c's table, + other) */

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	uint64_t exits[VCPU_EXIT_STATS]; /* atomics, for metrics */
	/*
	 * Where the thread is (enum vcpu_where in vcpu.c) and since when (monotonic ns):
	 * atomics written by the thread itself, read by the SIGUSR2 dump, which tells a
	 * guest that stopped running from a vCPU thread stuck in vqvm. In an exit, run
	 * says which one.
	 */
	uint32_t where;
	uint64_t where_since_ns;
};

/* PATCH /vm Paused (vcpu.c): vCPU threads park between exits. Under lock. */
struct vm_pause {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool paused;
	unsigned int idle;              /* vCPU threads parked or ended */
	void (*on_parked)(void *arg);   /* called once all are idle */
	void *arg;
};

/* Watches the guest's console output for the kernel's panic banner. */
struct panic_watch {
	unsigned int matched; /* bytes of the banner matched so far */
	bool seen;
};

struct vm {
	const struct vm_config *cfg;
	int kvm_fd, vm_fd;
	int kvm_run_size;
	struct guest_mem mem;
	struct bus pio, mmio;
	struct pci_host pci;
	struct serial serial;
	struct i8042 i8042;
	struct rtc rtc;
	struct console console;
	struct panic_watch panic;
	struct kvm_cpuid2 *cpuid;
	struct vcpu *vcpus;
	unsigned int nr_vcpus;
	struct vm_pause pause;
	uint64_t vcpu_exits_done[VCPU_EXIT_STATS]; /* of vCPUs destroyed; under stop_lock */
	struct evloop loop;
	struct hv_kvm hv;
	bool hv_ready;
	struct vm_virtio_dev virtio[VM_MAX_VIRTIO_DEVICES];
	unsigned int nr_virtio;
	struct mgmt *mgmt;  /* the management device, when configured */
	int serial_out_fd; /* owned when serial=file */
	bool loop_ready, buses_ready, devices_ready; /* what vm_destroy must undo */

	/* How the VM ended; first writer wins. Protected by stop_lock. */
	pthread_mutex_t stop_lock;
	enum vm_end end;
	int end_signal;
	char end_msg[256];
};

/* Build everything from cfg (which must outlive vm); nothing runs yet. */
int vm_create(struct vm *vm, const struct vm_config *cfg, struct err *e);
/* Start the vCPUs and run the main loop until the VM ends. */
int vm_run(struct vm *vm);
/* Stop all threads and free everything. Safe after a failed vm_create. */
void vm_destroy(struct vm *vm);
/* From any thread: end the VM (first reason wins) and wake everyone up. */
void vm_request_stop(struct vm *vm, enum vm_end why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The process exit status for how the VM ended, and a one-line description. */
int vm_exit_status(const struct vm *vm);

#endif
