// SPDX-License-Identifier: Apache-2.0
#include "vmm/vcpu.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/cpu_state.h"
#include "lib/clock.h"
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

static bool exit_io(struct vcpu *vcpu)
{
	handle_pio(vcpu->vm, vcpu->run);
	return true;
}

static bool exit_mmio(struct vcpu *vcpu)
{
	handle_mmio(vcpu->vm, vcpu->run);
	return true;
}

static bool exit_intr(struct vcpu *vcpu)
{
	return true;
}

/*
 * A crashed vCPU's registers and the code at rip, at error level: a triple fault
 * leaves nothing in the guest's own output, so this is all there is to go on.
 */
static void log_crash_state(struct vcpu *vcpu)
{
	struct cpu_state st;
	char text[1536];

	cpu_state_read(vcpu->fd, &vcpu->vm->mem, &st);
	cpu_state_format(&st, text, sizeof(text));
	for (char *line = text, *end; *line; line = end + (*end != 0)) {
		end = line + strcspn(line, "\n");
		log_err("vcpu%u: %.*s", vcpu->index, (int)(end - line), line);
	}
}

static bool exit_shutdown(struct vcpu *vcpu)
{
	log_crash_state(vcpu);
	vm_request_stop(vcpu->vm, VM_END_CRASH, "guest triple-faulted on vCPU %u", vcpu->index);
	return false;
}

static bool exit_system_event(struct vcpu *vcpu)
{
	handle_system_event(vcpu->vm, vcpu, vcpu->run);
	return false;
}

static bool exit_fail_entry(struct vcpu *vcpu)
{
	log_crash_state(vcpu);
	vm_request_stop(vcpu->vm, VM_END_CRASH, "KVM could not enter vCPU %u (reason 0x%llx)",
			vcpu->index,
			(unsigned long long)vcpu->run->fail_entry.hardware_entry_failure_reason);
	return false;
}

static bool exit_internal_error(struct vcpu *vcpu)
{
	log_crash_state(vcpu);
	vm_request_stop(vcpu->vm, VM_END_CRASH, "KVM internal error %u on vCPU %u",
			vcpu->run->internal.suberror, vcpu->index);
	return false;
}

static bool exit_hlt(struct vcpu *vcpu)
{
	/* Only without an in-kernel irqchip, which vqvm always has. */
	vm_request_stop(vcpu->vm, VM_END_CRASH, "unexpected HLT exit on vCPU %u", vcpu->index);
	return false;
}

/* Where a vCPU thread is (vcpu->where), for the SIGUSR2 dump. */
enum vcpu_where { VCPU_STARTING, VCPU_IN_GUEST, VCPU_IN_EXIT, VCPU_PARKED, VCPU_ENDED };

/* On the vCPU's own thread. */
static void vcpu_at(struct vcpu *vcpu, enum vcpu_where where)
{
	__atomic_store_n(&vcpu->where_since_ns, clock_monotonic_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&vcpu->where, where, __ATOMIC_RELEASE);
}

/* Each handler returns false when the vCPU must stop; names are the metrics' keys. */
static const struct {
	uint32_t reason;
	const char *name;
	bool (*handle)(struct vcpu *vcpu);
} exit_handlers[] = {
	{ KVM_EXIT_IO, "io", exit_io },
	{ KVM_EXIT_MMIO, "mmio", exit_mmio },
	{ KVM_EXIT_INTR, "intr", exit_intr },
	{ KVM_EXIT_SHUTDOWN, "shutdown", exit_shutdown },
	{ KVM_EXIT_SYSTEM_EVENT, "system_event", exit_system_event },
	{ KVM_EXIT_FAIL_ENTRY, "fail_entry", exit_fail_entry },
	{ KVM_EXIT_INTERNAL_ERROR, "internal_error", exit_internal_error },
	{ KVM_EXIT_HLT, "hlt", exit_hlt },
};
#define NR_EXIT_HANDLERS (sizeof(exit_handlers) / sizeof(exit_handlers[0]))
_Static_assert(NR_EXIT_HANDLERS < VCPU_EXIT_STATS, "VCPU_EXIT_STATS too small");

/* The handler's index, NR_EXIT_HANDLERS ("other") for an exit vqvm does not handle. */
static unsigned int exit_handler_index(uint32_t reason)
{
	unsigned int i;

	for (i = 0; i < NR_EXIT_HANDLERS && exit_handlers[i].reason != reason; i++)
		;
	return i;
}

static bool handle_exit(struct vcpu *vcpu)
{
	uint32_t reason = vcpu->run->exit_reason;
	unsigned int i = exit_handler_index(reason);

	__atomic_fetch_add(&vcpu->exits[i], 1, __ATOMIC_RELAXED); /* i == NR: "other" */
	if (i < NR_EXIT_HANDLERS)
		return exit_handlers[i].handle(vcpu);
	vm_request_stop(vcpu->vm, VM_END_CRASH, "unhandled KVM exit %u on vCPU %u", reason,
			vcpu->index);
	return false;
}

unsigned int vcpus_exit_stats(struct vm *vm, const char *names[VCPU_EXIT_STATS],
			      uint64_t counts[VCPU_EXIT_STATS])
{
	/* stop_lock: vcpus_destroy may free the vCPUs meanwhile. */
	pthread_mutex_lock(&vm->stop_lock);
	for (unsigned int i = 0; i <= NR_EXIT_HANDLERS; i++) {
		names[i] = i < NR_EXIT_HANDLERS ? exit_handlers[i].name : "other";
		counts[i] = vm->vcpu_exits_done[i];
		for (unsigned int c = 0; vm->vcpus && c < vm->nr_vcpus; c++)
			counts[i] += __atomic_load_n(&vm->vcpus[c].exits[i], __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&vm->stop_lock);
	return NR_EXIT_HANDLERS + 1;
}

/* What the exit being handled is about: the port or address, for the dump. */
static void vcpu_exit_detail(const struct vcpu *vcpu, char *buf, size_t len)
{
	const struct kvm_run *run = vcpu->run;

	buf[0] = 0;
	if (run->exit_reason == KVM_EXIT_IO)
		snprintf(buf, len, " (%s port %#x)", run->io.direction ? "out" : "in",
			 run->io.port);
	else if (run->exit_reason == KVM_EXIT_MMIO)
		snprintf(buf, len, " (%s %#llx)", run->mmio.is_write ? "write" : "read",
			 (unsigned long long)run->mmio.phys_addr);
}

void vcpus_log_state(struct vm *vm)
{
	static const char *const where_names[] = {
		[VCPU_STARTING] = "not started yet",
		[VCPU_IN_GUEST] = "in the guest (KVM_RUN)",
		[VCPU_IN_EXIT] = "in vqvm, handling an exit",
		[VCPU_PARKED] = "parked (VM paused)",
		[VCPU_ENDED] = "ended",
	};
	uint64_t now = clock_monotonic_ns();

	/* stop_lock: vcpus_destroy may free the vCPUs meanwhile. */
	pthread_mutex_lock(&vm->stop_lock);
	for (unsigned int c = 0; vm->vcpus && c < vm->nr_vcpus; c++) {
		struct vcpu *vcpu = &vm->vcpus[c];
		uint32_t where = __atomic_load_n(&vcpu->where, __ATOMIC_ACQUIRE);
		uint64_t since = __atomic_load_n(&vcpu->where_since_ns, __ATOMIC_RELAXED);
		uint64_t exits = 0;
		char what[64] = "";

		for (unsigned int r = 0; r < VCPU_EXIT_STATS; r++)
			exits += __atomic_load_n(&vcpu->exits[r], __ATOMIC_RELAXED);
		if (where == VCPU_IN_EXIT) {
			/* The thread is in the handler: its kvm_run holds still. */
			unsigned int i = exit_handler_index(vcpu->run->exit_reason);
			char detail[48];

			vcpu_exit_detail(vcpu, detail, sizeof(detail));
			snprintf(what, sizeof(what), " %s%s",
				 i < NR_EXIT_HANDLERS ? exit_handlers[i].name : "other", detail);
		}
		log_info("vcpu%u: %s%s for %.3f s, %" PRIu64 " exits to vqvm so far", c,
			 where < sizeof(where_names) / sizeof(where_names[0]) ?
			 where_names[where] : "?", what,
			 since && now > since ? (double)(now - since) / 1e9 : 0.0, exits);
	}
	pthread_mutex_unlock(&vm->stop_lock);
}

/* One more vCPU thread idle (parked or ended): the last one completes a pause. */
static void pause_idle_locked(struct vm_pause *p, unsigned int nr_vcpus,
			      void (**cb)(void *), void **arg)
{
	p->idle++;
	if (p->on_parked && p->idle >= nr_vcpus) {
		*cb = p->on_parked;
		*arg = p->arg;
		p->on_parked = NULL;
	}
}

/* Before every KVM_RUN: while the VM is paused, wait here. */
static void park_if_paused(struct vcpu *vcpu)
{
	struct vm_pause *p = &vcpu->vm->pause;
	void (*cb)(void *) = NULL;
	void *arg = NULL;

	pthread_mutex_lock(&p->lock);
	if (!p->paused || vm_stopping(vcpu->vm)) {
		pthread_mutex_unlock(&p->lock);
		return;
	}
	vcpu_at(vcpu, VCPU_PARKED);
	pause_idle_locked(p, vcpu->vm->nr_vcpus, &cb, &arg);
	if (cb) {
		pthread_mutex_unlock(&p->lock);
		cb(arg);
		pthread_mutex_lock(&p->lock);
	}
	while (p->paused && !vm_stopping(vcpu->vm))
		pthread_cond_wait(&p->cond, &p->lock);
	p->idle--;
	pthread_mutex_unlock(&p->lock);
}

/* A thread that ends counts as parked for good. */
static void vcpu_ended(struct vcpu *vcpu)
{
	struct vm_pause *p = &vcpu->vm->pause;
	void (*cb)(void *) = NULL;
	void *arg = NULL;

	pthread_mutex_lock(&p->lock);
	pause_idle_locked(p, vcpu->vm->nr_vcpus, &cb, &arg);
	pthread_mutex_unlock(&p->lock);
	if (cb)
		cb(arg);
}

void vcpus_pause(struct vm *vm, void (*parked)(void *arg), void *arg)
{
	struct vm_pause *p = &vm->pause;
	bool done;

	pthread_mutex_lock(&p->lock);
	p->paused = true;
	done = p->idle >= vm->nr_vcpus;
	if (!done) {
		p->on_parked = parked;
		p->arg = arg;
	}
	pthread_mutex_unlock(&p->lock);
	if (done)
		parked(arg);
	else
		vcpus_kick(vm);
}

void vcpus_resume(struct vm *vm)
{
	struct vm_pause *p = &vm->pause;
	void (*cb)(void *);
	void *arg;

	pthread_mutex_lock(&p->lock);
	p->paused = false;
	cb = p->on_parked;
	arg = p->arg;
	p->on_parked = NULL;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (cb)
		cb(arg);
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
		park_if_paused(vcpu);
		vcpu_at(vcpu, VCPU_IN_GUEST);
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu->run->immediate_exit = 0;
				continue;
			}
			vm_request_stop(vm, VM_END_CRASH, "KVM_RUN on vCPU %u: %s", vcpu->index,
					strerror(errno));
			break;
		}
		vcpu_at(vcpu, VCPU_IN_EXIT);
		if (!handle_exit(vcpu))
			break;
	}
	vcpu_at(vcpu, VCPU_ENDED);
	vcpu_ended(vcpu);
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
	pthread_mutex_init(&vm->pause.lock, NULL);
	pthread_cond_init(&vm->pause.cond, NULL);
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
	if (!vm->vcpus)
		return;
	/* Parked vCPUs (PATCH /vm Paused) look at vm->end again. */
	pthread_mutex_lock(&vm->pause.lock);
	pthread_cond_broadcast(&vm->pause.cond);
	pthread_mutex_unlock(&vm->pause.lock);
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
	struct vcpu *vcpus;

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
	/* Their exit counts outlive them, for the metrics written at exit. */
	pthread_mutex_lock(&vm->stop_lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		for (unsigned int r = 0; r < VCPU_EXIT_STATS; r++)
			vm->vcpu_exits_done[r] += vm->vcpus[i].exits[r];
	vcpus = vm->vcpus;
	vm->vcpus = NULL;
	pthread_mutex_unlock(&vm->stop_lock);
	free(vcpus);
	pthread_mutex_destroy(&vm->pause.lock);
	pthread_cond_destroy(&vm->pause.cond);
}
