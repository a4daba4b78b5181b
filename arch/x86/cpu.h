/* SPDX-License-Identifier: Apache-2.0 */
/*
 * x86_64 vCPU state for the Linux 64-bit boot protocol: CPUID (from
 * KVM_GET_SUPPORTED_CPUID, with per-vCPU APIC ids and topology), MSRs, FPU, LAPIC LINT
 * pins, and, for the boot CPU, long mode with identity-mapped page tables and the
 * registers the kernel's 64-bit entry expects. Application processors are left in
 * their reset state: the guest starts them with INIT/SIPI through the in-kernel LAPIC.
 */
#ifndef VQVM_ARCH_X86_CPU_H
#define VQVM_ARCH_X86_CPU_H

#include <stdint.h>

#include "lib/err.h"
#include "lib/guest_mem.h"

struct kvm_cpuid2;

/* The host's supported CPUID, fetched once per VM (caller frees). */
struct kvm_cpuid2 *cpu_supported_cpuid(int kvm_fd, struct err *e);
/* Adjust a copy of the supported CPUID for vCPU `index` of `ncpus` (pure; unit-tested). */
void cpu_cpuid_for_vcpu(struct kvm_cpuid2 *cpuid, unsigned int index, unsigned int ncpus);

/* GDT, IDT and page tables in guest memory at the addresses of layout.h. */
int cpu_write_boot_tables(const struct guest_mem *mem, struct err *e);

/* Program a vCPU: CPUID, MSRs, FPU, LAPIC; on the boot CPU also sregs and regs. */
int cpu_setup_vcpu(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned int index,
		   unsigned int ncpus, uint64_t entry, uint64_t boot_params, struct err *e);

/* GDT entries as the kernel's 64-bit entry expects them (exposed for tests). */
#define BOOT_GDT_NULL 0x0000000000000000ULL
#define BOOT_GDT_CODE64 0x00af9b000000ffffULL
#define BOOT_GDT_DATA 0x00cf93000000ffffULL
#define BOOT_GDT_TSS 0x008f8b000000ffffULL
#define BOOT_SEL_CODE 0x08
#define BOOT_SEL_DATA 0x10
#define BOOT_SEL_TSS 0x18

#endif
