// SPDX-License-Identifier: Apache-2.0
/*
 * The machine's device tree, built with libfdt's sequential-write API.
 *
 * I/O ports at the root: the root has #address-cells = 2 and #size-cells = 2. A reg
 * whose high address cell is FDT_SPACE_IO (0x01000000, the I/O space code of the PCI
 * binding's phys.hi) names x86 I/O ports: the low cell is the port, the size cells the
 * number of ports. A memory address never has that bit set (it would be above 2^56), so
 * the two spaces cannot be confused. Such nodes are named by their port
 * (serial@3f8, i8042@60, pci@cf8). The PCI host's ranges use the same encoding for
 * their parent (CPU) side of the I/O window.
 */
#include "arch/x86/fdt.h"

#include <limits.h>
#include <libfdt.h>
#include <stdio.h>

#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"

#define FDT_SPACE_IO 0x01000000u    /* PCI binding phys.hi: I/O space */
#define FDT_SPACE_MEM32 0x02000000u /* PCI binding phys.hi: 32-bit memory space */
#define IOAPIC_PHANDLE 1
#define APIC_MMIO_SIZE 0x1000
#define SERIAL_NR_PORTS 8
#define SERIAL_CLOCK_HZ 1843200
#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define PCI_CONF1_PORT 0xcf8
#define PCI_CONF1_NR_PORTS 8
#define MAX_CELLS 16

/* Stop at the first libfdt error; the caller turns it into a message. */
#define TRY(expr)                       \
	do {                            \
		int rc_ = (expr);       \
		if (rc_ < 0)            \
			return rc_;     \
	} while (0)

static int prop_cells(void *fdt, const char *name, const uint32_t *cells, int n)
{
	fdt32_t be[MAX_CELLS];

	for (int i = 0; i < n; i++)
		be[i] = cpu_to_fdt32(cells[i]);
	return fdt_property(fdt, name, be, n * (int)sizeof(be[0]));
}

static uint32_t hi32(uint64_t v)
{
	return (uint32_t)(v >> 32);
}

static uint32_t lo32(uint64_t v)
{
	return (uint32_t)v;
}

static int add_chosen(void *fdt, const struct fdt_machine *m)
{
	char path[32];

	TRY(fdt_begin_node(fdt, "chosen"));
	if (m->cmdline)
		TRY(fdt_property_string(fdt, "bootargs", m->cmdline));
	if (m->initrd_addr) {
		TRY(fdt_property_u64(fdt, "linux,initrd-start", m->initrd_addr));
		TRY(fdt_property_u64(fdt, "linux,initrd-end", m->initrd_addr + m->initrd_size));
	}
	snprintf(path, sizeof(path), "/serial@%x", m->serial_base);
	TRY(fdt_property_string(fdt, "stdout-path", path));
	return fdt_end_node(fdt);
}

static int add_cpus(void *fdt, const struct fdt_machine *m)
{
	char name[16];

	TRY(fdt_begin_node(fdt, "cpus"));
	TRY(fdt_property_u32(fdt, "#address-cells", 1));
	TRY(fdt_property_u32(fdt, "#size-cells", 0));
	for (unsigned int i = 0; i < m->ncpus; i++) {
		snprintf(name, sizeof(name), "cpu@%x", i);
		TRY(fdt_begin_node(fdt, name));
		TRY(fdt_property_string(fdt, "device_type", "cpu"));
		TRY(fdt_property_u32(fdt, "reg", i)); /* the APIC id */
		TRY(fdt_end_node(fdt));
	}
	return fdt_end_node(fdt);
}

static int add_memory(void *fdt, const struct guest_mem *mem)
{
	uint32_t reg[GUEST_MEM_MAX_REGIONS * 4];
	int n = 0;

	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		reg[n++] = hi32(mem->region[i].gpa);
		reg[n++] = lo32(mem->region[i].gpa);
		reg[n++] = hi32(mem->region[i].size);
		reg[n++] = lo32(mem->region[i].size);
	}
	TRY(fdt_begin_node(fdt, "memory@0"));
	TRY(fdt_property_string(fdt, "device_type", "memory"));
	TRY(prop_cells(fdt, "reg", reg, n));
	return fdt_end_node(fdt);
}

static int add_apics(void *fdt)
{
	const uint32_t ioapic_reg[] = { hi32(IOAPIC_ADDR), lo32(IOAPIC_ADDR), 0, APIC_MMIO_SIZE };
	const uint32_t lapic_reg[] = { hi32(LAPIC_ADDR), lo32(LAPIC_ADDR), 0, APIC_MMIO_SIZE };
	char name[32];

	snprintf(name, sizeof(name), "ioapic@%llx", IOAPIC_ADDR);
	TRY(fdt_begin_node(fdt, name));
	TRY(fdt_property_string(fdt, "compatible", "intel,ce4100-ioapic"));
	TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
	TRY(fdt_property_u32(fdt, "#address-cells", 0)); /* no interrupt-map uses it */
	TRY(fdt_property_u32(fdt, "#interrupt-cells", 2)); /* pin, trigger (0 = edge high) */
	TRY(prop_cells(fdt, "reg", ioapic_reg, 4));
	TRY(fdt_property_u32(fdt, "phandle", IOAPIC_PHANDLE));
	TRY(fdt_end_node(fdt));

	snprintf(name, sizeof(name), "lapic@%llx", LAPIC_ADDR);
	TRY(fdt_begin_node(fdt, name));
	TRY(fdt_property_string(fdt, "compatible", "intel,ce4100-lapic"));
	TRY(prop_cells(fdt, "reg", lapic_reg, 4));
	return fdt_end_node(fdt);
}

static int add_serial(void *fdt, const struct fdt_machine *m)
{
	const uint32_t reg[] = { FDT_SPACE_IO, m->serial_base, 0, SERIAL_NR_PORTS };
	const uint32_t irq[] = { m->serial_irq, 0 }; /* ISA: edge, active high */
	char name[32];

	snprintf(name, sizeof(name), "serial@%x", m->serial_base);
	TRY(fdt_begin_node(fdt, name));
	TRY(fdt_property_string(fdt, "compatible", "ns16550a"));
	TRY(prop_cells(fdt, "reg", reg, 4));
	TRY(prop_cells(fdt, "interrupts", irq, 2));
	TRY(fdt_property_u32(fdt, "clock-frequency", SERIAL_CLOCK_HZ));
	return fdt_end_node(fdt);
}

static int add_i8042(void *fdt)
{
	const uint32_t reg[] = {
		FDT_SPACE_IO, I8042_DATA_PORT, 0, 1,
		FDT_SPACE_IO, I8042_CMD_PORT, 0, 1,
	};

	/*
	 * vqvm's i8042 is the reset line and a keyboard port (IRQ 1) that only ever sends
	 * Ctrl+Alt+Del, with no aux port: no standard binding fits.
	 */
	TRY(fdt_begin_node(fdt, "i8042@60"));
	TRY(fdt_property_string(fdt, "compatible", "vqvm,i8042"));
	TRY(prop_cells(fdt, "reg", reg, 8));
	return fdt_end_node(fdt);
}

static int add_pci(void *fdt, const struct fdt_machine *m)
{
	const uint32_t reg[] = { FDT_SPACE_IO, PCI_CONF1_PORT, 0, PCI_CONF1_NR_PORTS };
	const uint32_t bus_range[] = { 0, 0 };
	/* child (phys.hi, phys.mid, phys.lo), parent (2 cells), size (2 cells) */
	const uint32_t ranges[] = {
		FDT_SPACE_IO, hi32(m->pci_pio_base), lo32(m->pci_pio_base),
		FDT_SPACE_IO, lo32(m->pci_pio_base),
		hi32(m->pci_pio_size), lo32(m->pci_pio_size),
		FDT_SPACE_MEM32, hi32(m->pci_mmio32_base), lo32(m->pci_mmio32_base),
		hi32(m->pci_mmio32_base), lo32(m->pci_mmio32_base),
		hi32(m->pci_mmio32_size), lo32(m->pci_mmio32_size),
	};
	char name[32];

	snprintf(name, sizeof(name), "pci@%x", PCI_CONF1_PORT);
	TRY(fdt_begin_node(fdt, name));
	TRY(fdt_property_string(fdt, "compatible", "vqvm,pci-conf1"));
	TRY(fdt_property_string(fdt, "device_type", "pci"));
	TRY(fdt_property_string(fdt, "vqvm,config-mechanism", "conf1"));
	TRY(fdt_property_u32(fdt, "#address-cells", 3));
	TRY(fdt_property_u32(fdt, "#size-cells", 2));
	TRY(prop_cells(fdt, "reg", reg, 4));
	TRY(prop_cells(fdt, "bus-range", bus_range, 2));
	TRY(prop_cells(fdt, "ranges", ranges, 14));
	return fdt_end_node(fdt);
}

static int build_tree(void *fdt, int size, const struct fdt_machine *m)
{
	TRY(fdt_create(fdt, size));
	TRY(fdt_finish_reservemap(fdt));
	TRY(fdt_begin_node(fdt, ""));
	TRY(fdt_property_u32(fdt, "#address-cells", 2));
	TRY(fdt_property_u32(fdt, "#size-cells", 2));
	TRY(fdt_property_string(fdt, "compatible", "vqvm,x86_64-microvm"));
	TRY(fdt_property_string(fdt, "model", "vqvm"));
	TRY(fdt_property_u32(fdt, "interrupt-parent", IOAPIC_PHANDLE));
	TRY(add_chosen(fdt, m));
	TRY(add_cpus(fdt, m));
	TRY(add_memory(fdt, m->mem));
	TRY(add_apics(fdt));
	TRY(add_serial(fdt, m));
	TRY(add_i8042(fdt));
	TRY(add_pci(fdt, m));
	TRY(fdt_end_node(fdt));
	TRY(fdt_finish(fdt));
	return fdt_pack(fdt);
}

int fdt_build(void *buf, size_t size, const struct fdt_machine *m, struct err *e)
{
	int rc;

	if (m->ncpus == 0 || m->ncpus > MPTABLE_MAX_CPUS)
		return err_set(e, "fdt: %u vCPUs; 1 to %d are supported", m->ncpus,
			       MPTABLE_MAX_CPUS);
	if (!m->mem || m->mem->nr_regions == 0)
		return err_set(e, "fdt: no guest memory to describe");
	if (m->initrd_addr && m->initrd_size > UINT64_MAX - m->initrd_addr)
		return err_set(e, "fdt: initrd 0x%llx+0x%llx overflows",
			       (unsigned long long)m->initrd_addr,
			       (unsigned long long)m->initrd_size);
	rc = build_tree(buf, size > INT_MAX ? INT_MAX : (int)size, m);
	if (rc == -FDT_ERR_NOSPACE)
		return err_set(e, "fdt: the device tree does not fit a %zu-byte buffer", size);
	if (rc < 0)
		return err_set(e, "fdt: %s", fdt_strerror(rc));
	return (int)fdt_totalsize(buf);
}
