/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Linux x86 boot protocol: check a bzImage, place its protected-mode kernel and an
 * initrd in guest memory, and build boot_params (the zero page) with e820, cmdline,
 * initrd and setup_data. See Documentation/x86/boot.rst.
 */
#ifndef VQVM_ARCH_X86_BZIMAGE_H
#define VQVM_ARCH_X86_BZIMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/guest_mem.h"

#define BZIMAGE_MIN_PROTOCOL 0x020c /* 2.12: xloadflags, 64-bit entry */

struct bzimage_info {
	uint16_t protocol;       /* boot protocol version from the header */
	uint32_t setup_size;     /* (setup_sects + 1) * 512: bytes before the kernel proper */
	uint64_t kernel_size;    /* protected-mode kernel bytes in the file */
	uint64_t load_addr;      /* where the protected-mode kernel was placed */
	uint64_t entry64;        /* load_addr + 0x200 */
	uint64_t init_size;      /* memory the kernel needs from load_addr while booting */
	uint32_t kernel_alignment;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;   /* maximum cmdline length, without the NUL */
	uint64_t initrd_addr;    /* 0 when no initrd */
	uint64_t initrd_size;
};

/*
 * Validate the header ("HdrS", protocol >= 2.12, XLF_KERNEL_64, relocatable, sizes
 * consistent with the file) and copy the protected-mode kernel into guest RAM at an
 * address that honours pref_address, kernel_alignment and init_size.
 */
int bzimage_load(const struct guest_mem *mem, const uint8_t *image, size_t image_size,
		 struct bzimage_info *info, struct err *e);
/*
 * Place the initrd as high as possible below min(initrd_addr_max, end of low RAM),
 * page aligned, not overlapping the kernel's [load_addr, load_addr + init_size).
 */
int bzimage_load_initrd(const struct guest_mem *mem, struct bzimage_info *info,
			const uint8_t *initrd, size_t initrd_size, struct err *e);

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_MAX_ENTRIES_ZEROPAGE 128

/* The guest's memory map; returns the number of entries written (<= max). */
unsigned int e820_build(const struct guest_mem *mem, struct e820_entry *out, unsigned int max);

/*
 * Build boot_params at BOOT_PARAMS_ADDR: copy the setup header from the image, set
 * type_of_loader 0xff, loadflags (CAN_USE_HEAP, KEEP_SEGMENTS off), heap_end_ptr,
 * cmd_line_ptr (cmdline already written at cmdline_gpa), ramdisk fields, the e820 table,
 * and setup_data (0 = none).
 */
int boot_params_build(const struct guest_mem *mem, const uint8_t *image, size_t image_size,
		      const struct bzimage_info *info, uint64_t cmdline_gpa,
		      uint64_t setup_data_gpa, struct err *e);

/*
 * Write the kernel command line: defaults, then a space, then the user's string. Fails
 * (naming both lengths) when the result exceeds max_len (the kernel's cmdline_size) or
 * BOOT_CMDLINE_MAX - 1.
 */
int cmdline_build(char *out, size_t out_size, const char *defaults, const char *user,
		  uint32_t max_len, struct err *e);

/* Write a setup_data node of the given type at gpa (next = 0); returns -1 if it does not fit. */
int setup_data_write(const struct guest_mem *mem, uint64_t gpa, uint32_t type,
		     const void *payload, uint32_t len, struct err *e);
#define SETUP_DTB 2

#endif
