// SPDX-License-Identifier: Apache-2.0
/* The device tree, parsed back with libfdt. */
#include <criterion/criterion.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/fdt.h"
#include "arch/x86/layout.h"
#include "lib/guest_mem.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
#define BUF_SIZE (64 * 1024)

static struct guest_mem mem;
static uint8_t blob[BUF_SIZE];

static void mem_fini(void)
{
	guest_mem_free(&mem);
}

TestSuite(fdt, .fini = mem_fini);

static struct fdt_machine machine(uint64_t ram, unsigned int ncpus)
{
	cr_assert_eq(guest_mem_init(&mem, ram), 0);
	return (struct fdt_machine){
		.ncpus = ncpus,
		.mem = &mem,
		.cmdline = "console=ttyS0 root=/dev/vda",
		.initrd_addr = 0x7000000,
		.initrd_size = 0x123456,
		.serial_base = 0x3f8,
		.serial_irq = 4,
		.pci_mmio32_base = 0xe0000000,
		.pci_mmio32_size = 0x10000000,
		.pci_pio_base = 0x1000,
		.pci_pio_size = 0xf000,
	};
}

static int build(const struct fdt_machine *m)
{
	struct err e;
	int size = fdt_build(blob, sizeof(blob), m, &e);

	cr_assert_gt(size, 0, "%s", e.msg);
	cr_assert_eq(fdt_check_header(blob), 0);
	cr_assert_eq((uint32_t)size, fdt_totalsize(blob));
	return size;
}

static int node(const char *path)
{
	int off = fdt_path_offset(blob, path);

	cr_assert_geq(off, 0, "no node %s: %s", path, fdt_strerror(off));
	return off;
}

/* The property's cells in host order; asserts it has exactly n of them. */
static void cells(int off, const char *name, uint32_t *out, int n)
{
	int len;
	const fdt32_t *p = fdt_getprop(blob, off, name, &len);

	cr_assert_not_null(p, "no property %s", name);
	cr_assert_eq(len, n * 4, "%s has %d bytes, want %d", name, len, n * 4);
	for (int i = 0; i < n; i++)
		out[i] = fdt32_to_cpu(p[i]);
}

static uint32_t cell(int off, const char *name)
{
	uint32_t v;

	cells(off, name, &v, 1);
	return v;
}

static const char *str(int off, const char *name)
{
	const char *s = fdt_getprop(blob, off, name, NULL);

	cr_assert_not_null(s, "no property %s", name);
	return s;
}

static uint64_t u64(int off, const char *name)
{
	uint32_t c[2];

	cells(off, name, c, 2);
	return (uint64_t)c[0] << 32 | c[1];
}

Test(fdt, root_and_chosen)
{
	struct fdt_machine m = machine(128 * MIB, 2);
	int root, chosen;

	build(&m);
	root = node("/");
	cr_expect_eq(cell(root, "#address-cells"), 2);
	cr_expect_eq(cell(root, "#size-cells"), 2);
	cr_expect_str_eq(str(root, "compatible"), "vqvm,x86_64-microvm");
	cr_expect_str_eq(str(root, "model"), "vqvm");
	chosen = node("/chosen");
	cr_expect_str_eq(str(chosen, "bootargs"), "console=ttyS0 root=/dev/vda");
	cr_expect_eq(u64(chosen, "linux,initrd-start"), 0x7000000);
	cr_expect_eq(u64(chosen, "linux,initrd-end"), 0x7000000 + 0x123456);
	cr_expect_str_eq(str(chosen, "stdout-path"), "/serial@3f8");
	/* stdout-path names a node that exists. */
	node(str(chosen, "stdout-path"));
}

Test(fdt, chosen_without_cmdline_or_initrd)
{
	struct fdt_machine m = machine(128 * MIB, 1);
	int chosen;

	m.cmdline = NULL;
	m.initrd_addr = 0;
	m.initrd_size = 0;
	build(&m);
	chosen = node("/chosen");
	cr_expect_null(fdt_getprop(blob, chosen, "bootargs", NULL));
	cr_expect_null(fdt_getprop(blob, chosen, "linux,initrd-start", NULL));
	cr_expect_null(fdt_getprop(blob, chosen, "linux,initrd-end", NULL));
	cr_expect_str_eq(str(chosen, "stdout-path"), "/serial@3f8");
}

static void check_cpus(unsigned int ncpus)
{
	struct fdt_machine m = machine(128 * MIB, ncpus);
	unsigned int n = 0;
	int cpus, child;

	build(&m);
	cpus = node("/cpus");
	cr_expect_eq(cell(cpus, "#address-cells"), 1);
	cr_expect_eq(cell(cpus, "#size-cells"), 0);
	fdt_for_each_subnode(child, blob, cpus) {
		cr_expect_str_eq(str(child, "device_type"), "cpu");
		cr_expect_eq(cell(child, "reg"), n, "cpu node %u has APIC id %u", n,
			     cell(child, "reg"));
		n++;
	}
	cr_expect_eq(n, ncpus);
}

Test(fdt, one_cpu)
{
	check_cpus(1);
}

Test(fdt, eight_cpus)
{
	check_cpus(8);
	node("/cpus/cpu@7");
}

Test(fdt, many_cpus_fit_setup_data)
{
	struct fdt_machine m = machine(128 * MIB, 254);
	int size = build(&m);

	cr_expect_lt(size, BOOT_SETUP_DATA_MAX - 16);
	node("/cpus/cpu@fd");
}

Test(fdt, memory_small_guest)
{
	struct fdt_machine m = machine(128 * MIB, 1);
	uint32_t reg[4];
	int off;

	build(&m);
	off = node("/memory@0");
	cr_expect_str_eq(str(off, "device_type"), "memory");
	cells(off, "reg", reg, 4);
	cr_expect_eq(reg[0], 0);
	cr_expect_eq(reg[1], 0);
	cr_expect_eq(reg[2], 0);
	cr_expect_eq(reg[3], 128 * MIB);
}

Test(fdt, memory_large_guest)
{
	struct fdt_machine m = machine(5 * GIB, 1);
	uint32_t reg[8];
	int off;

	build(&m);
	off = node("/memory@0");
	cells(off, "reg", reg, 8);
	cr_expect_eq((uint64_t)reg[0] << 32 | reg[1], 0);
	cr_expect_eq((uint64_t)reg[2] << 32 | reg[3], 3 * GIB);
	cr_expect_eq((uint64_t)reg[4] << 32 | reg[5], 4 * GIB);
	cr_expect_eq((uint64_t)reg[6] << 32 | reg[7], 2 * GIB);
}

Test(fdt, interrupt_controllers)
{
	struct fdt_machine m = machine(128 * MIB, 1);
	uint32_t reg[4];
	int io, lapic;

	build(&m);
	io = node("/ioapic@fec00000");
	cr_expect_str_eq(str(io, "compatible"), "intel,ce4100-ioapic");
	cr_expect_not_null(fdt_getprop(blob, io, "interrupt-controller", NULL));
	cr_expect_eq(cell(io, "#interrupt-cells"), 2);
	cells(io, "reg", reg, 4);
	cr_expect_eq((uint64_t)reg[0] << 32 | reg[1], IOAPIC_ADDR);
	cr_expect_gt(reg[3], 0);
	/* Interrupts of every node resolve to the IOAPIC. */
	cr_expect_eq(cell(node("/"), "interrupt-parent"), fdt_get_phandle(blob, io));
	cr_expect_neq(fdt_get_phandle(blob, io), 0);
	lapic = node("/lapic@fee00000");
	cr_expect_str_eq(str(lapic, "compatible"), "intel,ce4100-lapic");
	cells(lapic, "reg", reg, 4);
	cr_expect_eq((uint64_t)reg[0] << 32 | reg[1], LAPIC_ADDR);
}

Test(fdt, serial_and_i8042)
{
	struct fdt_machine m = machine(128 * MIB, 1);
	uint32_t reg[8], irq[2];
	int off;

	build(&m);
	off = node("/serial@3f8");
	cr_expect_str_eq(str(off, "compatible"), "ns16550a");
	cells(off, "reg", reg, 4);
	cr_expect_eq(reg[0], 0x01000000, "I/O space flag in the high address cell");
	cr_expect_eq(reg[1], 0x3f8);
	cr_expect_eq(reg[2], 0);
	cr_expect_eq(reg[3], 8);
	cells(off, "interrupts", irq, 2);
	cr_expect_eq(irq[0], 4);
	cr_expect_eq(irq[1], 0);
	cr_expect_eq(cell(off, "clock-frequency"), 1843200);
	off = node("/i8042@60");
	cells(off, "reg", reg, 8);
	cr_expect_eq(reg[0], 0x01000000);
	cr_expect_eq(reg[1], 0x60);
	cr_expect_eq(reg[5], 0x64);
}

Test(fdt, pci_host)
{
	struct fdt_machine m = machine(128 * MIB, 1);
	uint32_t r[14], bus[2];
	int off;

	build(&m);
	off = node("/pci@cf8");
	cr_expect_str_eq(str(off, "device_type"), "pci");
	cr_expect_str_eq(str(off, "compatible"), "vqvm,pci-conf1");
	cr_expect_str_eq(str(off, "vqvm,config-mechanism"), "conf1");
	cr_expect_eq(cell(off, "#address-cells"), 3);
	cr_expect_eq(cell(off, "#size-cells"), 2);
	cells(off, "bus-range", bus, 2);
	cr_expect_eq(bus[0], 0);
	cr_expect_eq(bus[1], 0);
	/* Each range: PCI address (3), CPU address (2), size (2). */
	cells(off, "ranges", r, 14);
	cr_expect_eq(r[0], 0x01000000);
	cr_expect_eq((uint64_t)r[1] << 32 | r[2], 0x1000);
	cr_expect_eq(r[3], 0x01000000);
	cr_expect_eq(r[4], 0x1000);
	cr_expect_eq((uint64_t)r[5] << 32 | r[6], 0xf000);
	cr_expect_eq(r[7], 0x02000000);
	cr_expect_eq((uint64_t)r[8] << 32 | r[9], 0xe0000000);
	cr_expect_eq((uint64_t)r[10] << 32 | r[11], 0xe0000000);
	cr_expect_eq((uint64_t)r[12] << 32 | r[13], 0x10000000);
}

Test(fdt, rejects_bad_input)
{
	struct fdt_machine m = machine(128 * MIB, 0);
	struct err e = { { 0 } };

	cr_expect_eq(fdt_build(blob, sizeof(blob), &m, &e), -1);
	cr_expect(strstr(e.msg, "0 vCPUs"), "%s", e.msg);
	m.ncpus = 255;
	cr_expect_eq(fdt_build(blob, sizeof(blob), &m, &e), -1);
	m.ncpus = 1;
	m.mem = NULL;
	cr_expect_eq(fdt_build(blob, sizeof(blob), &m, &e), -1);
}

Test(fdt, small_buffer_rejected)
{
	struct fdt_machine m = machine(128 * MIB, 4);
	struct err e = { { 0 } };

	cr_expect_eq(fdt_build(blob, 256, &m, &e), -1);
	cr_expect(strstr(e.msg, "does not fit a 256-byte buffer"), "%s", e.msg);
}
