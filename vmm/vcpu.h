/* SPDX-License-Identifier: Apache-2.0 */
/* vCPU threads: KVM_RUN and the dispatch of its exits to the PIO and MMIO buses. */
#ifndef VQVM_VMM_VCPU_H
#define VQVM_VMM_VCPU_H

#include "lib/err.h"
#include "vmm/vm.h"

/* The signal that kicks a vCPU thread out of KVM_RUN. */
#define VCPU_KICK_SIGNAL SIGUSR1

/* Create the vCPU fds and map their kvm_run areas. */
int vcpus_create(struct vm *vm, struct err *e);
/* Start one thread per vCPU. */
int vcpus_start(struct vm *vm, struct err *e);
/* Make every vCPU leave KVM_RUN soon (from any thread). */
void vcpus_kick(struct vm *vm);
/*
 * Pause: every vCPU thread parks before its next KVM_RUN; parked(arg) is called once
 * all are parked (or ended), from the last one's thread or from this call, with no lock
 * held. Resume lets them run on (and completes a pause still waiting). Any thread.
 * vm->pause.lock is a leaf; vcpus_kick takes it too.
 */
void vcpus_pause(struct vm *vm, void (*parked)(void *arg), void *arg);
void vcpus_resume(struct vm *vm);
/*
 * Exits by reason, summed over the vCPUs (also those already destroyed): names[i] and
 * counts[i]; returns how many. Any thread, while vm exists.
 */
unsigned int vcpus_exit_stats(struct vm *vm, const char *names[VCPU_EXIT_STATS],
			      uint64_t counts[VCPU_EXIT_STATS]);
/*
 * Log where each vCPU thread is and for how long (in the guest, in which exit, parked):
 * part of the SIGUSR2 state dump. Any thread.
 */
void vcpus_log_state(struct vm *vm);
/* Join the threads and close the fds. */
void vcpus_destroy(struct vm *vm);

#endif
