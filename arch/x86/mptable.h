/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Intel MultiProcessor Specification 1.4 tables: a floating pointer and a configuration
 * table with one processor entry per vCPU (APIC id = index), an ISA bus (id 0) and a PCI
 * bus (id 1, without interrupt entries: PCI functions use MSI-X), the IOAPIC (id = ncpus,
 * at IOAPIC_ADDR, 24 pins), ISA IRQs 0-15 routed to the same-numbered IOAPIC pins, and
 * LINT0 = ExtINT, LINT1 = NMI on every LAPIC. Linux uses it for SMP and the IOAPIC when
 * there is no ACPI.
 */
#ifndef VQVM_ARCH_X86_MPTABLE_H
#define VQVM_ARCH_X86_MPTABLE_H

#include <stdint.h>

#include "lib/err.h"
#include "lib/guest_mem.h"

#define MPTABLE_MAX_CPUS 254 /* APIC ids 0..253, the IOAPIC takes the next one */
#define IOAPIC_NR_PINS 24

/*
 * Write the tables at gpa (BOOT_EBDA_START, 16-byte aligned), at most
 * BOOT_LOWMEM_END - gpa bytes: the floating pointer first, the configuration table right
 * after it. Also points the BDA's EBDA segment (BOOT_BDA_EBDA_SEG) at gpa, which is
 * where Linux looks for the floating pointer.
 */
int mptable_build(const struct guest_mem *mem, uint64_t gpa, unsigned int ncpus, struct err *e);
/* Bytes the tables take for ncpus (so callers and tests can check they fit). */
uint64_t mptable_size(unsigned int ncpus);

#endif
