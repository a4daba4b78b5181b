/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flattened device tree (libfdt) describing the machine: CPUs, memory, the IOAPIC
 * and LAPIC, COM1, the i8042, and the PCI host bridge with its windows. Passed to the
 * kernel as setup_data SETUP_DTB and dumpable with --dump-dtb.
 *
 * x86 I/O ports (COM1, the i8042, the PCI conf1 ports, the PCI I/O window's CPU side)
 * are described at the root as reg = <0x01000000 port 0 count>: the high address cell
 * carries the PCI binding's I/O space code, which no memory address can have.
 */
#ifndef VQVM_ARCH_X86_FDT_H
#define VQVM_ARCH_X86_FDT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/guest_mem.h"

struct fdt_machine {
	unsigned int ncpus;
	const struct guest_mem *mem;
	const char *cmdline;    /* may be NULL */
	uint64_t initrd_addr;   /* 0 = none */
	uint64_t initrd_size;
	uint16_t serial_base;   /* COM1 */
	unsigned int serial_irq;
	uint64_t pci_mmio32_base, pci_mmio32_size;
	uint64_t pci_pio_base, pci_pio_size;
};

/* Build the tree into buf (size bytes); returns the blob's total size or -1. */
int fdt_build(void *buf, size_t size, const struct fdt_machine *m, struct err *e);

#endif
