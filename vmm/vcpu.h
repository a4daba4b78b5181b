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
/* Join the threads and close the fds. */
void vcpus_destroy(struct vm *vm);

#endif
