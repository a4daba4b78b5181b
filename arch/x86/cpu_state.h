/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A stopped vCPU's state, for the log when the guest crashed (triple fault, KVM
 * internal error, failed entry): where it was and the code there, its stack, page
 * tables, descriptor tables and GS bases. A triple fault prints nothing in the guest;
 * these lines are all there is to go on.
 */
#ifndef VQVM_ARCH_X86_CPU_STATE_H
#define VQVM_ARCH_X86_CPU_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/guest_mem.h"

#define CPU_STATE_CODE_BYTES 16
#define CPU_STATE_STACK_WORDS 8
#define CPU_STATE_IDT_GATES 4 /* #DE, #DF, #GP, #PF: the KASLR offset, and an intact IDT? */

struct cpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	bool have_regs, have_sregs, have_kernel_gs_base;
	uint64_t kernel_gs_base;
	uint8_t code[CPU_STATE_CODE_BYTES];
	unsigned int code_len; /* bytes read at rip: 0 when not mapped or not in RAM */
	uint64_t stack[CPU_STATE_STACK_WORDS];
	unsigned int stack_len; /* words read at rsp */
	/* In 64-bit mode: the handler of each gate of cpu_state_idt_vectors, if read. */
	uint64_t idt_handler[CPU_STATE_IDT_GATES];
	bool idt_present[CPU_STATE_IDT_GATES];
	unsigned int idt_len; /* gates read */
	char missing[96];      /* what could not be read, and why */
};

extern const uint8_t cpu_state_idt_vectors[CPU_STATE_IDT_GATES];

/* Read what KVM gives (KVM_GET_REGS, KVM_GET_SREGS, KVM_GET_MSRS, KVM_TRANSLATE). */
void cpu_state_read(int vcpu_fd, const struct guest_mem *mem, struct cpu_state *st);

/*
 * Lines of text for the log, '\n'-separated, into buf (truncated to len, always
 * terminated). Pure: unit-tested.
 */
void cpu_state_format(const struct cpu_state *st, char *buf, size_t len);

#endif
