// SPDX-License-Identifier: Apache-2.0
#include "vmm/vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/log.h"

static bool vm_stopping(struct vm *vm)
{
	return __atomic_load_n(&vm->end, __ATOMIC_ACQUIRE) != VM_RUNNING;
}

/* Port I/O, including string I/O (count > 1): each unit goes through the bus. */
static void handle_pio(struct vm *vm, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (bus_access(&vm->pio, run->io.port, data, run->io.size, is_write))
			continue;
		if (!is_write)
			memset(data, 0xff, run->io.size);
		/* Port 0x80 is the POST/delay port: written often, meaning nothing. */
		if (run->io.port != 0x80)
			log_debug("unhandled port %s 0x%x size %u", is_write ? "write" : "read",
				  run->io.port, run->io.size);
	}
}

static void handle_mmio(struct vm *vm, struct kvm_run *run)
{
	uint32_t len = run->mmio.len;

	if (len > sizeof(run->mmio.data))
		len = sizeof(run->mmio.data);
	if (bus_access(&vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write))
		return;
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0xff, len);
	log_debug("unhandled MMIO %s 0x%llx len %u", run->mmio.is_write ? "write" : "read",
		  (unsigned long long)run->mmio.phys_addr, len);
}

static void handle_system_event(struct vm *vm, struct vcpu *vcpu, struct kvm_run *run)
{
	switch (run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vm, VM_END_SHUTDOWN, "guest powered off");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(vm, VM_END_RESET, "guest reset");
		break;
	case KVM_SYSTEM_EVENT_CRASH:
		vm_request_stop(vm, VM_END_CRASH, "guest crashed (vCPU %u)", vcpu->index);
		break;
	default:
		vm_request_stop(vm, VM_END_CRASH, "unknown KVM system event %u on vCPU %u",
				run->system_event.type, vcpu->index);
	}
}

/* Returns false when the vCPU must stop. */
static bool handle_exit(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	struct kvm_run *run = vcpu->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_pio(vm, run);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(vm, run);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SHUTDOWN:
		vm_request_stop(vm, VM_END_CRASH, "guest triple-faulted on vCPU %u", vcpu->index);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(vm, vcpu, run);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vm_request_stop(vm, VM_END_CRASH, "KVM could not enter vCPU %u (reason 0x%llx)",
				vcpu->index,
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vm_request_stop(vm, VM_END_CRASH, "KVM internal error %u on vCPU %u",
				run->internal.suberror, vcpu->index);
		return false;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel irqchip, which vqvm always has. */
		vm_request_stop(vm, VM_END_CRASH, "unexpected HLT exit on vCPU %u", vcpu->index);
		return false;
	default:
		vm_request_stop(vm, VM_END_CRASH, "unhandled KVM exit %u on vCPU %u",
				run->exit_reason, vcpu->index);
		return false;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	sigset_t set;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (!vm_stopping(vm)) {
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu->run->immediate_exit = 0;
				continue;
			}
			vm_request_stop(vm, VM_END_CRASH, "KVM_RUN on vCPU %u: %s", vcpu->index,
					strerror(errno));
			break;
		}
		if (!handle_exit(vcpu))
			break;
	}
	return NULL;
}

static void kick_handler(int sig)
{
	/* Nothing to do: delivery interrupts KVM_RUN with EINTR. */
}

int vcpus_create(struct vm *vm, struct err *e)
{
	struct sigaction sa;

	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return err_set(e, "out of memory");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];
		void *run;

		vcpu->vm = vm;
		vcpu->index = i;
		vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (vcpu->fd < 0)
			return err_set(e, "KVM_CREATE_VCPU %u: %s", i, strerror(errno));
		run = mmap(NULL, vm->kvm_run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
		if (run == MAP_FAILED)
			return err_set(e, "mmap of vCPU %u's kvm_run: %s", i, strerror(errno));
		vcpu->run = run;
	}
	return 0;
}

int vcpus_start(struct vm *vm, struct err *e)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];
		int ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);

		if (ret)
			return err_set(e, "cannot start vCPU thread %u: %s", i, strerror(ret));
		vcpu->started = true;
	}
	return 0;
}

void vcpus_kick(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		if (!vcpu->run)
			continue;
		__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_RELEASE);
		if (vcpu->started)
			pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
	}
}

void vcpus_destroy(struct vm *vm)
{
	if (!vm->vcpus)
		return;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		if (vcpu->started)
			pthread_join(vcpu->thread, NULL);
		if (vcpu->run)
			munmap(vcpu->run, vm->kvm_run_size);
		if (vcpu->fd > 0)
			close(vcpu->fd);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
}
