/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guest physical memory: the only place that turns a guest physical address into a
 * host pointer. Every lookup checks that the whole range lies inside one RAM region,
 * with overflow-safe arithmetic, so callers never touch memory outside guest RAM.
 */
#ifndef VQVM_LIB_GUEST_MEM_H
#define VQVM_LIB_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* x86 layout: RAM below the 32-bit PCI hole, the hole, RAM above 4 GiB. */
#define GUEST_MEM_HOLE_START 0xC0000000ULL /* 3 GiB: PCI MMIO, IOAPIC, LAPIC above */
#define GUEST_MEM_HIGH_START 0x100000000ULL /* 4 GiB */
#define GUEST_MEM_MAX_REGIONS 2

struct guest_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct guest_mem {
	struct guest_region region[GUEST_MEM_MAX_REGIONS];
	unsigned int nr_regions;
	uint64_t ram_size; /* total bytes of RAM */
	uint8_t *mapping;  /* one anonymous mapping backing every region */
};

/*
 * Map ram_size bytes of anonymous memory and lay them out: [0, min(ram, hole)) and,
 * past the hole, [4 GiB, 4 GiB + rest). Returns 0 or -errno.
 */
int guest_mem_init(struct guest_mem *mem, uint64_t ram_size);
void guest_mem_free(struct guest_mem *mem);

/* Host pointer for [gpa, gpa + len) if it lies entirely inside one region, else NULL. */
void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);
/* True when [gpa, gpa + len) lies entirely inside one region. */
bool guest_mem_valid(const struct guest_mem *mem, uint64_t gpa, uint64_t len);
/* Copy to/from guest memory; -EFAULT if the range is not RAM. */
int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *dst, size_t len);
int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, size_t len);
/* Top of RAM below the hole (exclusive). */
uint64_t guest_mem_low_end(const struct guest_mem *mem);

#endif
