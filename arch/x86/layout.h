/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where vqvm puts things in guest physical memory at boot (x86_64, Linux 64-bit boot
 * protocol). Everything below 1 MiB except the EBDA/BIOS areas is usable by the kernel
 * after boot; the kernel copies boot_params and the command line early.
 */
#ifndef VQVM_ARCH_X86_LAYOUT_H
#define VQVM_ARCH_X86_LAYOUT_H

#define BOOT_GDT_ADDR 0x500ULL
#define BOOT_IDT_ADDR 0x520ULL
#define BOOT_PARAMS_ADDR 0x7000ULL /* the "zero page" */
#define BOOT_STACK_TOP 0x8ff0ULL
#define BOOT_PML4_ADDR 0x9000ULL
#define BOOT_PDPT_ADDR 0xA000ULL
#define BOOT_PD_ADDR 0xB000ULL /* 4 pages: identity map of the first 4 GiB, 2 MiB pages */
#define BOOT_CMDLINE_ADDR 0x20000ULL
#define BOOT_CMDLINE_MAX 0x10000ULL /* bytes reserved; the kernel's cmdline_size also applies */
#define BOOT_SETUP_DATA_ADDR 0x30000ULL /* setup_data chain (SETUP_DTB) */
#define BOOT_SETUP_DATA_MAX 0x60000ULL
/*
 * An 8 KiB EBDA holding the MP tables: 254 vCPUs need about 5.2 KiB, more than the
 * classic 1 KiB EBDA at 0x9FC00. Its segment goes in the BDA word at BOOT_BDA_EBDA_SEG,
 * which is where Linux looks for the MP floating pointer outside the fixed windows.
 */
#define BOOT_BDA_EBDA_SEG 0x40EULL
#define BOOT_EBDA_START 0x9E000ULL
#define BOOT_LOWMEM_END 0xA0000ULL
#define BOOT_BIOS_START 0xF0000ULL
#define BOOT_HIGHMEM_START 0x100000ULL /* 1 MiB */
#define BOOT_MIN_KERNEL_ADDR 0x1000000ULL /* 16 MiB, Debian's CONFIG_PHYSICAL_START */

#define IOAPIC_ADDR 0xFEC00000ULL
#define LAPIC_ADDR 0xFEE00000ULL
#define KVM_TSS_ADDR 0xFFFBD000ULL /* 3 pages, then the identity map page */
#define KVM_IDENTITY_MAP_ADDR 0xFFFFC000ULL

/* Smallest guest we agree to boot: the kernel, its init_size and an initrd need room. */
#define GUEST_MIN_MEMORY (64ULL << 20)

#endif
