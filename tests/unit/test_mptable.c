// SPDX-License-Identifier: Apache-2.0
/*
 * MP tables, read back the way Linux finds and parses them (arch/x86/kernel/mpparse.c):
 * scan for "_MP_" in 16-byte steps, check both checksums, walk the entries by type.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "lib/guest_mem.h"

#define MIB (1ULL << 20)

static struct guest_mem mem;

static void mem_fini(void)
{
	guest_mem_free(&mem);
}

TestSuite(mptable, .fini = mem_fini);

static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

/* What Linux's smp_scan_config() accepts: 16-byte aligned, length 1, spec 1 or 4. */
static uint64_t scan(uint64_t base, uint64_t len)
{
	for (uint64_t a = base; a + 16 <= base + len; a += 16) {
		const uint8_t *p = guest_mem_ptr(&mem, a, 16);

		if (!memcmp(p, "_MP_", 4) && p[8] == 1 && sum(p, 16) == 0 &&
		    (p[9] == 1 || p[9] == 4))
			return a;
	}
	return 0;
}

/* Linux's order: first KiB, last KiB below 640K, the BIOS ROM, then the EBDA. */
static uint64_t linux_find_mpf(void)
{
	uint64_t ebda = (uint64_t)get16(guest_mem_ptr(&mem, 0x40e, 2)) << 4;
	uint64_t a;

	if ((a = scan(0, 0x400)) || (a = scan(639 * 0x400, 0x400)) ||
	    (a = scan(0xf0000, 0x10000)))
		return a;
	return ebda ? scan(ebda, 0x400) : 0;
}

struct parsed {
	unsigned int cpus, buses, ioapics, intsrcs, lintsrcs, entries;
	int isa_bus, pci_bus;
	uint8_t ioapic_id;
	uint16_t length;
};

static const uint8_t *build_and_find(unsigned int ncpus, uint64_t *mpf_gpa)
{
	struct err e;

	cr_assert_eq(guest_mem_init(&mem, 128 * MIB), 0);
	cr_assert_eq(mptable_build(&mem, BOOT_EBDA_START, ncpus, &e), 0, "%s", e.msg);
	*mpf_gpa = linux_find_mpf();
	cr_assert_neq(*mpf_gpa, 0, "Linux would not find the floating pointer");
	return guest_mem_ptr(&mem, *mpf_gpa, 16);
}

static void check_cpu(const uint8_t *p, unsigned int index, struct parsed *r)
{
	cr_expect_eq(p[1], index, "processor entry %u has APIC id %u", index, p[1]);
	cr_expect_eq(p[2], 0x14);
	cr_expect_eq(p[3] & 1, 1, "CPU %u not enabled", index);
	cr_expect_eq(!!(p[3] & 2), index == 0, "BSP flag wrong on CPU %u", index);
	cr_expect_eq(get32(p + 8) & 0x201, 0x201); /* FPU and APIC features */
	r->cpus++;
}

static void check_intsrc(const uint8_t *p, struct parsed *r)
{
	if (p[0] == 3) {
		/* ISA IRQ n, conforming, to IOAPIC pin n; entries come after the IOAPIC. */
		cr_expect_eq(p[1], 0, "not an INT");
		cr_expect_eq(get16(p + 2), 0);
		cr_expect_eq(p[4], r->isa_bus);
		cr_expect_eq(p[5], r->intsrcs);
		cr_expect_eq(p[6], r->ioapic_id);
		cr_expect_eq(p[7], r->intsrcs);
		r->intsrcs++;
		return;
	}
	/* LINT0 = ExtINT (3), LINT1 = NMI (1), to every local APIC. */
	cr_expect_eq(p[1], r->lintsrcs == 0 ? 3 : 1);
	cr_expect_eq(p[6], 0xff);
	cr_expect_eq(p[7], r->lintsrcs);
	r->lintsrcs++;
}

static void parse_entry(const uint8_t *p, struct parsed *r)
{
	switch (p[0]) {
	case 0:
		check_cpu(p, r->cpus, r);
		break;
	case 1:
		if (!memcmp(p + 2, "ISA   ", 6))
			r->isa_bus = p[1];
		else if (!memcmp(p + 2, "PCI   ", 6))
			r->pci_bus = p[1];
		else
			cr_assert_fail("unknown bus type %.6s", p + 2);
		r->buses++;
		break;
	case 2:
		r->ioapic_id = p[1];
		cr_expect_eq(p[2], 0x11);
		cr_expect_eq(p[3] & 1, 1, "IOAPIC not usable");
		cr_expect_eq(get32(p + 4), IOAPIC_ADDR);
		r->ioapics++;
		break;
	case 3:
	case 4:
		check_intsrc(p, r);
		break;
	default:
		cr_assert_fail("unknown entry type %u", p[0]);
	}
	r->entries++;
}

static struct parsed parse_table(const uint8_t *mpc)
{
	struct parsed r = { .isa_bus = -1, .pci_bus = -1, .length = get16(mpc + 4) };
	uint32_t off = 44;

	cr_assert_eq(memcmp(mpc, "PCMP", 4), 0);
	cr_expect_eq(mpc[6], 4, "spec revision");
	cr_expect_eq(sum(mpc, r.length), 0, "config table checksum");
	cr_expect_eq(memcmp(mpc + 8, "VQVM", 4), 0);
	cr_expect_eq(get32(mpc + 36), LAPIC_ADDR);
	while (off < r.length) {
		uint32_t len = mpc[off] == 0 ? 20 : 8;

		cr_assert_leq(off + len, r.length, "entry runs past the table");
		parse_entry(mpc + off, &r);
		off += len;
	}
	cr_expect_eq(get16(mpc + 34), r.entries, "entry count in the header");
	return r;
}

static void check_machine(unsigned int ncpus)
{
	uint64_t mpf_gpa;
	const uint8_t *mpf = build_and_find(ncpus, &mpf_gpa);
	uint32_t physptr = get32(mpf + 4);
	const uint8_t *mpc = guest_mem_ptr(&mem, physptr, 44);
	struct parsed r;

	cr_expect_eq(mpf_gpa, BOOT_EBDA_START, "floating pointer at 0x%llx",
		     (unsigned long long)mpf_gpa);
	cr_expect_eq(mpf[9], 4);
	cr_expect_eq(mpf[11], 0, "feature byte 1: a configuration table follows");
	cr_assert_not_null(mpc);
	r = parse_table(mpc);
	cr_expect_eq(r.cpus, ncpus);
	cr_expect_eq(r.ioapics, 1);
	cr_expect_eq(r.ioapic_id, ncpus);
	cr_expect_eq(r.intsrcs, 16);
	cr_expect_eq(r.lintsrcs, 2);
	cr_expect_eq(r.buses, 2);
	cr_expect_eq(r.isa_bus, 0);
	cr_expect(r.pci_bus >= 0 && r.pci_bus != r.isa_bus);
	cr_expect_eq(physptr, mpf_gpa + 16);
	cr_expect_eq(16 + r.length, mptable_size(ncpus));
	cr_expect_leq(physptr + r.length, BOOT_LOWMEM_END);
}

Test(mptable, one_cpu)
{
	check_machine(1);
}

Test(mptable, four_cpus)
{
	check_machine(4);
}

Test(mptable, max_cpus)
{
	check_machine(MPTABLE_MAX_CPUS);
}

Test(mptable, max_size_fits_the_ebda)
{
	cr_expect_leq(mptable_size(MPTABLE_MAX_CPUS), BOOT_LOWMEM_END - BOOT_EBDA_START);
	cr_expect_lt(mptable_size(1), mptable_size(2));
}

Test(mptable, zero_and_too_many_cpus_rejected)
{
	struct err e = { { 0 } };

	cr_assert_eq(guest_mem_init(&mem, 128 * MIB), 0);
	cr_expect_eq(mptable_build(&mem, BOOT_EBDA_START, 0, &e), -1);
	cr_expect(strstr(e.msg, "0 vCPUs"), "%s", e.msg);
	cr_expect_eq(mptable_build(&mem, BOOT_EBDA_START, MPTABLE_MAX_CPUS + 1, &e), -1);
	cr_expect(strstr(e.msg, "255 vCPUs"), "%s", e.msg);
	/* Nothing was written. */
	cr_expect_eq(memcmp(guest_mem_ptr(&mem, BOOT_EBDA_START, 4), "\0\0\0\0", 4), 0);
}

Test(mptable, must_fit_below_640k)
{
	struct err e = { { 0 } };

	/* The highest 16-byte aligned start that fits, then the next one up. */
	uint64_t last = (BOOT_LOWMEM_END - mptable_size(4)) & ~15ULL;

	cr_assert_eq(guest_mem_init(&mem, 128 * MIB), 0);
	cr_expect_eq(mptable_build(&mem, last, 4, &e), 0, "%s", e.msg);
	cr_expect_eq(mptable_build(&mem, last + 16, 4, &e), -1);
	cr_expect(strstr(e.msg, "do not fit"), "%s", e.msg);
	cr_expect_eq(mptable_build(&mem, BOOT_LOWMEM_END, 1, &e), -1);
	cr_expect_eq(mptable_build(&mem, 0xfffffffffffffff0ULL, 1, &e), -1);
}

Test(mptable, unaligned_rejected)
{
	struct err e = { { 0 } };

	cr_assert_eq(guest_mem_init(&mem, 128 * MIB), 0);
	cr_expect_eq(mptable_build(&mem, BOOT_EBDA_START + 8, 1, &e), -1);
	cr_expect(strstr(e.msg, "aligned"), "%s", e.msg);
}
