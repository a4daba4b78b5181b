// SPDX-License-Identifier: Apache-2.0
/* vCPU setup that needs no KVM: CPUID topology and the boot page tables and GDT. */
#include <criterion/criterion.h>
#include <linux/kvm.h>
#include <stdlib.h>

#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"

static struct kvm_cpuid2 *fake_cpuid(void)
{
	static const struct kvm_cpuid_entry2 ents[] = {
		{ .function = 1, .ebx = 0xdead0000, .ecx = 0, .edx = 1U << 28 },
		{ .function = 4, .index = 0, .eax = 0xfc000121 },
		{ .function = 0xb, .index = 0 },
		{ .function = 0xb, .index = 1 },
		{ .function = 0xb, .index = 2 },
	};
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + sizeof(ents));

	c->nent = sizeof(ents) / sizeof(ents[0]);
	memcpy(c->entries, ents, sizeof(ents));
	return c;
}

Test(cpuid, apic_ids_and_topology)
{
	for (unsigned int ncpus = 1; ncpus <= 8; ncpus++) {
		for (unsigned int idx = 0; idx < ncpus; idx++) {
			struct kvm_cpuid2 *c = fake_cpuid();

			cpu_cpuid_for_vcpu(c, idx, ncpus);
			cr_assert_eq(c->entries[0].ebx >> 24, idx, "leaf 1 APIC id");
			cr_assert_eq((c->entries[0].ebx >> 16) & 0xff, ncpus, "leaf 1 count");
			cr_assert(c->entries[0].ecx & (1U << 31), "hypervisor bit");
			cr_assert_eq(!!(c->entries[0].edx & (1U << 28)), ncpus > 1, "HTT");
			cr_assert_eq(c->entries[1].eax >> 26, ncpus - 1, "leaf 4 cores - 1");
			cr_assert_eq(c->entries[1].eax & 0x3fff, 0x121, "cache bits kept");
			cr_assert_eq(c->entries[2].edx, idx, "x2APIC id");
			cr_assert_eq(c->entries[2].ebx, 1, "one thread per core");
			cr_assert_eq(c->entries[3].ebx, ncpus, "cores in package");
			cr_assert_geq(1U << c->entries[3].eax, ncpus, "shift covers all ids");
			cr_assert_eq((c->entries[3].ecx >> 8) & 0xff, 2, "core level type");
			cr_assert_eq((c->entries[4].ecx >> 8) & 0xff, 0, "end of levels");
			free(c);
		}
	}
}

Test(boot_tables, identity_map_and_gdt)
{
	struct guest_mem mem;
	struct err e;
	uint64_t v;

	cr_assert_eq(guest_mem_init(&mem, 128ULL << 20), 0);
	cr_assert_eq(cpu_write_boot_tables(&mem, &e), 0);
	cr_assert_eq(guest_mem_read(&mem, BOOT_GDT_ADDR + 8, &v, 8), 0);
	cr_assert_eq(v, BOOT_GDT_CODE64);
	cr_assert_eq(guest_mem_read(&mem, BOOT_PML4_ADDR, &v, 8), 0);
	cr_assert_eq(v & ~0xfffULL, BOOT_PDPT_ADDR);
	cr_assert(v & 1, "PML4[0] present");
	/* 3 GiB + 2 MiB is mapped to itself by PD 3, entry 1. */
	cr_assert_eq(guest_mem_read(&mem, BOOT_PDPT_ADDR + 3 * 8, &v, 8), 0);
	cr_assert_eq(v & ~0xfffULL, BOOT_PD_ADDR + 3 * 4096);
	cr_assert_eq(guest_mem_read(&mem, BOOT_PD_ADDR + 3 * 4096 + 8, &v, 8), 0);
	cr_assert_eq(v & ~0xfffULL, (3ULL << 30) + (2ULL << 20));
	cr_assert(v & 0x80, "2 MiB page");
	guest_mem_free(&mem);
}
