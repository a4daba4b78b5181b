// SPDX-License-Identifier: Apache-2.0
/* The guest's e820 memory map for small and large guests. */
#include <criterion/criterion.h>

#include "arch/x86/bzimage.h"
#include "arch/x86/layout.h"
#include "lib/guest_mem.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static struct guest_mem mem;

static void mem_fini(void)
{
	guest_mem_free(&mem);
}

TestSuite(e820, .fini = mem_fini);

static unsigned int build(uint64_t ram, struct e820_entry *map)
{
	cr_assert_eq(guest_mem_init(&mem, ram), 0);
	return e820_build(&mem, map, E820_MAX_ENTRIES_ZEROPAGE);
}

static void expect_entry(const struct e820_entry *e, uint64_t addr, uint64_t size, uint32_t type)
{
	cr_expect_eq(e->addr, addr, "addr 0x%llx, want 0x%llx", (unsigned long long)e->addr,
		     (unsigned long long)addr);
	cr_expect_eq(e->size, size, "size 0x%llx at 0x%llx, want 0x%llx",
		     (unsigned long long)e->size, (unsigned long long)e->addr,
		     (unsigned long long)size);
	cr_expect_eq(e->type, type);
}

/* Sorted, non-empty, non-overlapping; returns the RAM total. */
static uint64_t check_sorted(const struct e820_entry *map, unsigned int n)
{
	uint64_t ram = 0;

	for (unsigned int i = 0; i < n; i++) {
		cr_expect_gt(map[i].size, 0);
		if (i)
			cr_expect_leq(map[i - 1].addr + map[i - 1].size, map[i].addr,
				      "entry %u overlaps or is out of order", i);
		if (map[i].type == E820_RAM)
			ram += map[i].size;
	}
	return ram;
}

Test(e820, entry_is_20_bytes)
{
	cr_expect_eq(sizeof(struct e820_entry), 20);
}

Test(e820, small_guest)
{
	struct e820_entry map[E820_MAX_ENTRIES_ZEROPAGE];
	unsigned int n = build(128 * MIB, map);

	cr_assert_eq(n, 4);
	expect_entry(&map[0], 0, BOOT_EBDA_START, E820_RAM);
	expect_entry(&map[1], BOOT_EBDA_START, BOOT_LOWMEM_END - BOOT_EBDA_START, E820_RESERVED);
	expect_entry(&map[2], BOOT_BIOS_START, 0x100000 - BOOT_BIOS_START, E820_RESERVED);
	expect_entry(&map[3], 0x100000, 127 * MIB, E820_RAM);
	/* All RAM but the EBDA and the legacy hole [640 KiB, 1 MiB). */
	cr_expect_eq(check_sorted(map, n), 128 * MIB - (0x100000 - BOOT_EBDA_START));
}

Test(e820, mptable_area_is_reserved)
{
	struct e820_entry map[E820_MAX_ENTRIES_ZEROPAGE];
	unsigned int n = build(64 * MIB, map);
	int covered = 0;

	for (unsigned int i = 0; i < n; i++)
		if (map[i].type == E820_RESERVED && map[i].addr <= BOOT_EBDA_START &&
		    map[i].addr + map[i].size >= BOOT_LOWMEM_END)
			covered = 1;
	cr_expect(covered);
}

Test(e820, large_guest_splits_at_3g)
{
	struct e820_entry map[E820_MAX_ENTRIES_ZEROPAGE];
	unsigned int n = build(6 * GIB, map);

	cr_assert_eq(n, 5);
	expect_entry(&map[3], 0x100000, 3 * GIB - 0x100000, E820_RAM);
	expect_entry(&map[4], 4 * GIB, 3 * GIB, E820_RAM);
	cr_expect_eq(check_sorted(map, n), 6 * GIB - (0x100000 - BOOT_EBDA_START));
	/* Nothing in the hole below 4 GiB: PCI MMIO, IOAPIC and LAPIC live there. */
	for (unsigned int i = 0; i < n; i++)
		cr_expect(map[i].addr + map[i].size <= GUEST_MEM_HOLE_START ||
			  map[i].addr >= GUEST_MEM_HIGH_START);
}

Test(e820, exactly_3g_has_no_high_region)
{
	struct e820_entry map[E820_MAX_ENTRIES_ZEROPAGE];
	unsigned int n = build(3 * GIB, map);

	cr_assert_eq(n, 4);
	expect_entry(&map[3], 0x100000, 3 * GIB - 0x100000, E820_RAM);
}

Test(e820, respects_max)
{
	struct e820_entry map[E820_MAX_ENTRIES_ZEROPAGE] = { 0 };

	cr_assert_eq(guest_mem_init(&mem, 6 * GIB), 0);
	cr_expect_eq(e820_build(&mem, map, 2), 2);
	cr_expect_eq(map[2].size, 0, "wrote past max");
	cr_expect_eq(e820_build(&mem, map, 0), 0);
}
