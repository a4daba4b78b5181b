// SPDX-License-Identifier: Apache-2.0
/*
 * MP spec 1.4 tables. Layout at gpa: the floating pointer, then the configuration
 * table (header and entries). The BDA's EBDA pointer is set to gpa so Linux's EBDA scan
 * finds the floating pointer wherever in low memory the caller puts it. Host and guest
 * are both x86_64, so the packed structs below are already little endian.
 */
#include "arch/x86/mptable.h"

#include <string.h>

#include "arch/x86/layout.h"

#define MP_SPEC_REV 4
#define MP_LAPIC_VERSION 0x14
#define MP_IOAPIC_VERSION 0x11
#define MP_CPU_SIGNATURE 0x600 /* family 6, model 0, stepping 0 */
#define MP_CPU_FEATURES 0x201  /* CPUID.1:EDX FPU | APIC */
#define MP_NR_ISA_IRQS 16
#define MP_ISA_BUS_ID 0
#define MP_PCI_BUS_ID 1 /* Linux maps MP PCI buses to PCI bus numbers in order */

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_IRQ_INT, MP_IRQ_NMI, MP_IRQ_SMI, MP_IRQ_EXTINT };
#define MP_CPU_ENABLED 0x01
#define MP_CPU_BSP 0x02
#define MP_IOAPIC_USABLE 0x01
#define MP_IRQFLAG_CONFORMING 0x0000 /* polarity and trigger as the bus defines */
#define MP_ALL_LAPICS 0xff

struct mpf_intel {
	char signature[4];
	uint32_t physptr;
	uint8_t length; /* in 16-byte paragraphs */
	uint8_t spec;
	uint8_t checksum;
	uint8_t feature[5]; /* all 0: a configuration table follows, no IMCR */
} __attribute__((packed));

struct mpc_table {
	char signature[4];
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oem_ptr;
	uint16_t oem_size;
	uint16_t entry_count;
	uint32_t lapic_addr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_ver;
	uint8_t flags;
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_ver;
	uint8_t flags;
	uint32_t addr;
} __attribute__((packed));

/* I/O (type 3) and local (type 4) interrupt assignments share this layout. */
struct mpc_intsrc {
	uint8_t type;
	uint8_t irq_type;
	uint16_t irq_flags;
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_apic;
	uint8_t dst_pin;
} __attribute__((packed));

_Static_assert(sizeof(struct mpf_intel) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mpc_table) == 44, "MP config table header is 44 bytes");
_Static_assert(sizeof(struct mpc_cpu) == 20, "MP processor entry is 20 bytes");
_Static_assert(sizeof(struct mpc_bus) == 8, "MP bus entry is 8 bytes");
_Static_assert(sizeof(struct mpc_ioapic) == 8, "MP IOAPIC entry is 8 bytes");
_Static_assert(sizeof(struct mpc_intsrc) == 8, "MP interrupt entry is 8 bytes");

#define MP_FIXED_SIZE (sizeof(struct mpf_intel) + sizeof(struct mpc_table) + \
		       2 * sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) + \
		       (MP_NR_ISA_IRQS + 2) * sizeof(struct mpc_intsrc))
#define MP_MAX_SIZE (MP_FIXED_SIZE + MPTABLE_MAX_CPUS * sizeof(struct mpc_cpu))

uint64_t mptable_size(unsigned int ncpus)
{
	return MP_FIXED_SIZE + (uint64_t)ncpus * sizeof(struct mpc_cpu);
}

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return (uint8_t)-sum;
}

/* Appends entries to the table; tracks the count for the header. */
struct mp_writer {
	uint8_t *pos;
	uint16_t count;
};

static void mp_put(struct mp_writer *w, const void *entry, size_t len)
{
	memcpy(w->pos, entry, len);
	w->pos += len;
	w->count++;
}

static void put_cpus(struct mp_writer *w, unsigned int ncpus)
{
	for (unsigned int i = 0; i < ncpus; i++) {
		struct mpc_cpu cpu = {
			.type = MP_PROCESSOR,
			.apic_id = (uint8_t)i,
			.apic_ver = MP_LAPIC_VERSION,
			.flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
			.signature = MP_CPU_SIGNATURE,
			.features = MP_CPU_FEATURES,
		};

		mp_put(w, &cpu, sizeof(cpu));
	}
}

static void put_bus(struct mp_writer *w, uint8_t id, const char type[6])
{
	struct mpc_bus bus = { .type = MP_BUS, .bus_id = id };

	memcpy(bus.bus_type, type, sizeof(bus.bus_type));
	mp_put(w, &bus, sizeof(bus));
}

static void put_intsrc(struct mp_writer *w, uint8_t type, uint8_t irq_type, uint8_t src_irq,
		       uint8_t dst_apic, uint8_t dst_pin)
{
	struct mpc_intsrc in = {
		.type = type,
		.irq_type = irq_type,
		.irq_flags = MP_IRQFLAG_CONFORMING,
		.src_bus = MP_ISA_BUS_ID,
		.src_irq = src_irq,
		.dst_apic = dst_apic,
		.dst_pin = dst_pin,
	};

	mp_put(w, &in, sizeof(in));
}

static void put_ioapic_and_irqs(struct mp_writer *w, uint8_t ioapic_id)
{
	struct mpc_ioapic io = {
		.type = MP_IOAPIC,
		.apic_id = ioapic_id,
		.apic_ver = MP_IOAPIC_VERSION,
		.flags = MP_IOAPIC_USABLE,
		.addr = (uint32_t)IOAPIC_ADDR,
	};

	mp_put(w, &io, sizeof(io));
	/* KVM's default GSI routing sends ISA IRQ n to IOAPIC pin n. */
	for (uint8_t irq = 0; irq < MP_NR_ISA_IRQS; irq++)
		put_intsrc(w, MP_INTSRC, MP_IRQ_INT, irq, ioapic_id, irq);
	put_intsrc(w, MP_LINTSRC, MP_IRQ_EXTINT, 0, MP_ALL_LAPICS, 0);
	put_intsrc(w, MP_LINTSRC, MP_IRQ_NMI, 0, MP_ALL_LAPICS, 1);
}

static void fill_tables(uint8_t *buf, uint64_t gpa, unsigned int ncpus)
{
	struct mpf_intel *mpf = (struct mpf_intel *)buf;
	struct mpc_table *mpc = (struct mpc_table *)(mpf + 1);
	struct mp_writer w = { .pos = (uint8_t *)(mpc + 1) };

	put_cpus(&w, ncpus);
	put_bus(&w, MP_ISA_BUS_ID, "ISA   ");
	put_bus(&w, MP_PCI_BUS_ID, "PCI   ");
	/* APIC ids 0..ncpus-1 are the vCPUs; the IOAPIC takes the next one. */
	put_ioapic_and_irqs(&w, (uint8_t)ncpus);

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(w.pos - (uint8_t *)mpc);
	mpc->spec = MP_SPEC_REV;
	memcpy(mpc->oem, "VQVM    ", sizeof(mpc->oem));
	memcpy(mpc->product, "MICROVM     ", sizeof(mpc->product));
	mpc->entry_count = w.count;
	mpc->lapic_addr = (uint32_t)LAPIC_ADDR;
	mpc->checksum = checksum(mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)(gpa + sizeof(*mpf));
	mpf->length = 1;
	mpf->spec = MP_SPEC_REV;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
}

int mptable_build(const struct guest_mem *mem, uint64_t gpa, unsigned int ncpus, struct err *e)
{
	uint8_t buf[MP_MAX_SIZE] = { 0 };
	uint64_t size = mptable_size(ncpus);
	uint16_t ebda_seg = (uint16_t)(gpa >> 4);

	if (ncpus == 0 || ncpus > MPTABLE_MAX_CPUS)
		return err_set(e, "mptable: %u vCPUs; the MP table describes 1 to %d",
			       ncpus, MPTABLE_MAX_CPUS);
	/* Linux scans for the floating pointer in 16-byte steps. */
	if (gpa % 16)
		return err_set(e, "mptable: address 0x%llx is not 16-byte aligned",
			       (unsigned long long)gpa);
	if (gpa >= BOOT_LOWMEM_END || size > BOOT_LOWMEM_END - gpa)
		return err_set(e, "mptable: %llu bytes for %u vCPUs do not fit between 0x%llx and 0x%llx",
			       (unsigned long long)size, ncpus, (unsigned long long)gpa,
			       BOOT_LOWMEM_END);
	fill_tables(buf, gpa, ncpus);
	if (guest_mem_write(mem, gpa, buf, size) ||
	    guest_mem_write(mem, BOOT_BDA_EBDA_SEG, &ebda_seg, sizeof(ebda_seg)))
		return err_set(e, "mptable: 0x%llx-0x%llx is not in guest RAM",
			       (unsigned long long)gpa, (unsigned long long)(gpa + size));
	return 0;
}
