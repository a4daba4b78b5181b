// SPDX-License-Identifier: Apache-2.0
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/pci.h"

#define CMD_IO 0x1
#define CMD_MEM 0x2
#define CMD_MASTER 0x4

static struct bus pio, mmio;
static struct pci_host host;

/* A BAR handler that records where accesses land. */
struct bar_dev {
	int calls;
	uint64_t offset;
	uint8_t tag;
};

static void bar_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct bar_dev *d = opaque;

	d->calls++;
	d->offset = offset;
	if (!is_write)
		memset(data, d->tag, len);
}

/* What the function's ops saw. */
struct hooks {
	int remaps, writes, reads;
	int bar;
	uint64_t addr;
	bool mapped;
	uint32_t w_off, w_len, w_val, r_off, r_len;
};

static struct hooks hk;

static void hook_remap(struct pci_function *fn, int bar, uint64_t new_addr, bool mapped)
{
	hk.remaps++;
	hk.bar = bar;
	hk.addr = new_addr;
	hk.mapped = mapped;
}

static void hook_write(struct pci_function *fn, uint32_t off, uint32_t len, uint32_t val)
{
	hk.writes++;
	hk.w_off = off;
	hk.w_len = len;
	hk.w_val = val;
}

static void hook_read(struct pci_function *fn, uint32_t off, uint32_t len)
{
	hk.reads++;
	hk.r_off = off;
	hk.r_len = len;
}

static const struct pci_function_ops ops = {
	.cfg_write = hook_write,
	.cfg_read = hook_read,
	.bar_remapped = hook_remap,
};

static void setup(void)
{
	memset(&hk, 0, sizeof(hk));
	cr_assert_eq(bus_init(&pio, "pio"), 0);
	cr_assert_eq(bus_init(&mmio, "mmio"), 0);
	cr_assert_eq(pci_host_init(&host, &pio, &mmio), 0);
	cr_assert_eq(bus_register(&pio, PCI_CONFIG_ADDR_PORT, 4, pci_config_addr_io, &host), 0);
	cr_assert_eq(bus_register(&pio, PCI_CONFIG_DATA_PORT, 4, pci_config_data_io, &host), 0);
}

static void teardown(void)
{
	pci_host_destroy(&host);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

TestSuite(pci, .init = setup, .fini = teardown);

/* ---- port I/O as the guest does it ---- */

static uint32_t in(uint16_t port, uint32_t len)
{
	uint8_t d[4] = { 0 };

	if (!bus_access(&pio, port, d, len, false))
		return 0xffffffffU >> (32 - 8 * len); /* nothing there: the bus floats high */
	return d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24;
}

static void out(uint32_t v, uint16_t port, uint32_t len)
{
	uint8_t d[4] = { v, v >> 8, v >> 16, v >> 24 };

	bus_access(&pio, port, d, len, true);
}

static uint32_t cf8(int slot, uint32_t reg)
{
	return 0x80000000U | slot << 11 | (reg & 0xfc);
}

/* Linux's pci_conf1_read/write: address to 0xCF8, data at 0xCFC + (reg & 3). */
static uint32_t cfg_rd(int slot, uint32_t reg, uint32_t len)
{
	out(cf8(slot, reg), 0xcf8, 4);
	return in(0xcfc + (reg & 3), len);
}

static void cfg_wr(int slot, uint32_t reg, uint32_t len, uint32_t v)
{
	out(cf8(slot, reg), 0xcf8, 4);
	out(v, 0xcfc + (reg & 3), len);
}

static uint8_t mmio_rd8(uint64_t addr, bool *hit)
{
	uint8_t v = 0xff;

	*hit = bus_access(&mmio, addr, &v, 1, false);
	return v;
}

/* A device with one BAR of each kind: BAR0 MMIO32 4K, BAR2/3 MMIO64 16K, BAR4 PIO 32. */
static struct pci_function dev;
static struct bar_dev b0 = { .tag = 0xb0 }, b2 = { .tag = 0xb2 }, b4 = { .tag = 0xb4 };

static int add_dev(int slot)
{
	pci_function_init(&dev, 0x1af4, 0x10f0, 0x088000, 1, 0x1af4, 0x0042);
	dev.ops = &ops;
	cr_assert_eq(pci_function_set_bar(&dev, 0, PCI_BAR_MMIO32, 0x1000, bar_io, &b0), 0);
	cr_assert_eq(pci_function_set_bar(&dev, 2, PCI_BAR_MMIO64, 0x4000, bar_io, &b2), 0);
	cr_assert_eq(pci_function_set_bar(&dev, 4, PCI_BAR_PIO, 32, bar_io, &b4), 0);
	return pci_register(&host, &dev, slot);
}

/* ---- tests ---- */

Test(pci, config_address_register)
{
	/* Linux's pci_check_type1(): byte to 0xCFB ignored, dword reads back. */
	out(0x01, 0xcfb, 1);
	out(0x80000000, 0xcf8, 4);
	cr_assert_eq(in(0xcf8, 4), 0x80000000);
	out(0x01, 0xcfb, 1);
	cr_assert_eq(in(0xcf8, 4), 0x80000000);
	/* Reserved bits 30:24 and 1:0 read as zero. */
	out(0xffffffff, 0xcf8, 4);
	cr_assert_eq(in(0xcf8, 4), 0x80fffffc);
	cr_assert_eq(in(0xcfa, 2), 0x80ff);
}

Test(pci, host_bridge_identity)
{
	cr_assert_eq(cfg_rd(0, 0x00, 4), 0x00081b36);
	cr_assert_eq(cfg_rd(0, 0x0a, 2), 0x0600); /* pci_sanity_check() looks for this */
	cr_assert_eq(cfg_rd(0, 0x08, 4) >> 8, 0x060000);
	cr_assert_eq(cfg_rd(0, 0x0e, 1), 0x00);
}

Test(pci, absent_functions_read_all_ones)
{
	cr_assert_eq(cfg_rd(5, 0x00, 4), 0xffffffff);
	cr_assert_eq(cfg_rd(31, 0x00, 2), 0xffff);
	cr_assert_eq(cfg_rd(31, 0x0e, 1), 0xff);
	/* Function 1 of the bridge's slot. */
	out(0x80000100, 0xcf8, 4);
	cr_assert_eq(in(0xcfc, 4), 0xffffffff);
	/* Bus 1. */
	out(0x80010000, 0xcf8, 4);
	cr_assert_eq(in(0xcfc, 4), 0xffffffff);
	out(0x12345678, 0xcfc, 4); /* and writes there go nowhere */
	cr_assert_eq(cfg_rd(0, 0x00, 4), 0x00081b36);
}

Test(pci, enable_bit_clear_ignores_accesses)
{
	cr_assert_eq(add_dev(3), 0);
	out(3 << 11 | 0x04, 0xcf8, 4); /* command register, enable bit clear */
	cr_assert_eq(in(0xcfc, 4), 0xffffffff);
	out(CMD_MEM, 0xcfc, 2);
	cr_assert_eq(cfg_rd(3, 0x04, 2), 0);
	cr_assert_eq(hk.writes, 0);
	cr_assert_eq(b0.calls, 0);
}

Test(pci, device_ids_and_header)
{
	cr_assert_eq(add_dev(-1), 0);
	cr_assert_eq(dev.devfn, 1 << 3); /* first free slot after the bridge */
	cr_assert_eq(cfg_rd(1, 0x00, 4), 0x10f01af4);
	cr_assert_eq(cfg_rd(1, 0x08, 4), 0x08800001);
	cr_assert_eq(cfg_rd(1, 0x2c, 4), 0x00421af4);
	cr_assert_eq(cfg_rd(1, 0x0e, 1), 0x00);
	cr_assert_eq(cfg_rd(1, 0x30, 4), 0); /* no expansion ROM */
	cr_assert_eq(hk.reads, 5);
	cr_assert_eq(hk.r_off, 0x30);
	cr_assert_eq(hk.r_len, 4);
}

Test(pci, read_only_fields_stay)
{
	cr_assert_eq(add_dev(2), 0);
	cfg_wr(2, 0x00, 4, 0xdeadbeef);
	cfg_wr(2, 0x08, 4, 0xffffffff);
	cfg_wr(2, 0x0c, 4, 0xffffffff);
	cfg_wr(2, 0x2c, 4, 0);
	cfg_wr(2, 0x30, 4, 0xffffffff);
	cfg_wr(2, 0x34, 1, 0x80);
	cfg_wr(2, 0x3c, 4, 0xffffffff);
	cr_assert_eq(cfg_rd(2, 0x00, 4), 0x10f01af4);
	cr_assert_eq(cfg_rd(2, 0x08, 4), 0x08800001);
	/* Only the cache line size is writable in this dword; header type stays 0. */
	cr_assert_eq(cfg_rd(2, 0x0c, 4), 0x000000ff);
	cr_assert_eq(cfg_rd(2, 0x2c, 4), 0x00421af4);
	cr_assert_eq(cfg_rd(2, 0x30, 4), 0);
	cr_assert_eq(cfg_rd(2, 0x34, 1), 0);
	cr_assert_eq(cfg_rd(2, 0x3c, 4), 0x000000ff); /* interrupt line only */
	/* The hook still hears about every write that landed. */
	cr_assert_eq(hk.writes, 7);
	cr_assert_eq(hk.w_off, 0x3c);
	cr_assert_eq(hk.w_len, 4);
	cr_assert_eq(hk.w_val, 0xffffffff);
}

Test(pci, command_register_writable_bits)
{
	cr_assert_eq(add_dev(2), 0);
	cr_assert_eq(cfg_rd(2, 0x04, 2), 0); /* decoding off after registration */
	cfg_wr(2, 0x04, 2, 0xffff);
	cr_assert_eq(cfg_rd(2, 0x04, 2), 0x0407);
	cfg_wr(2, 0x04, 2, 0);
	cr_assert_eq(cfg_rd(2, 0x04, 2), 0);
}

Test(pci, bars_are_allocated_from_the_windows)
{
	uint64_t lo, hi;

	cr_assert_eq(add_dev(2), 0);
	lo = cfg_rd(2, 0x10, 4);
	cr_assert_eq(lo & 0xf, 0); /* 32-bit, non-prefetchable memory */
	cr_assert_geq(lo, PCI_MMIO32_BASE);
	cr_assert_eq(lo & 0xfff, 0);
	cr_assert_eq(dev.bar[0].addr, lo);

	lo = cfg_rd(2, 0x18, 4);
	hi = cfg_rd(2, 0x1c, 4);
	cr_assert_eq(lo & 0xf, 0x4); /* 64-bit memory */
	cr_assert_eq(hi, 0);
	cr_assert_eq((lo & ~0xfULL) % 0x4000, 0);
	cr_assert_geq(lo & ~0xfULL, PCI_MMIO32_BASE);
	cr_assert_lt(lo & ~0xfULL, PCI_MMIO32_BASE + PCI_MMIO32_SIZE);

	lo = cfg_rd(2, 0x20, 4);
	cr_assert_eq(lo & 0x3, 0x1); /* I/O */
	cr_assert_geq(lo & ~3ULL, PCI_PIO_BASE);
	cr_assert_lt(lo & ~3ULL, PCI_PIO_BASE + PCI_PIO_SIZE);
	cr_assert_eq((lo & ~3ULL) % 32, 0);

	/* Nothing decodes yet. */
	cr_assert_not(dev.bar[0].mapped);
	cr_assert_eq(mmio.nr, 0);
	cr_assert_eq(hk.remaps, 0);
}

/* Linux's __pci_read_base(): save, write all-ones, read the mask, restore. */
static uint32_t size_bar(int slot, uint32_t reg)
{
	uint32_t orig = cfg_rd(slot, reg, 4), mask;

	cfg_wr(slot, reg, 4, 0xffffffff);
	mask = cfg_rd(slot, reg, 4);
	cfg_wr(slot, reg, 4, orig);
	cr_assert_eq(cfg_rd(slot, reg, 4), orig);
	return mask;
}

Test(pci, bar_sizing)
{
	cr_assert_eq(add_dev(2), 0);
	cr_assert_eq(size_bar(2, 0x10), 0xfffff000); /* 4 KiB, 32-bit memory */
	cr_assert_eq(size_bar(2, 0x18), 0xffffc004); /* 16 KiB, 64-bit memory */
	cr_assert_eq(size_bar(2, 0x1c), 0xffffffff); /* upper half: size < 4 GiB */
	cr_assert_eq(size_bar(2, 0x20), 0xffffffe1); /* 32 ports */
	cr_assert_eq(size_bar(2, 0x14), 0); /* unused BARs */
	cr_assert_eq(size_bar(2, 0x24), 0);
}

Test(pci, large_64bit_bar_sizes_its_upper_half)
{
	struct pci_function big;
	struct bar_dev d = { 0 };

	pci_function_init(&big, 0x1af4, 0x1000, 0x020000, 0, 0, 0);
	cr_assert_eq(pci_function_set_bar(&big, 0, PCI_BAR_MMIO64, 1ULL << 33, bar_io, &d), 0);
	/* Not placed (the 32-bit window is smaller): size its header directly. */
	cr_assert_eq(pci_register(&host, &big, 6), -ENOSPC);
	cr_assert_null(host.fn[6]);
	host.fn[6] = &big;
	big.host = &host;
	big.devfn = 6 << 3;
	cr_assert_eq(size_bar(6, 0x10), 0x00000004);
	cr_assert_eq(size_bar(6, 0x14), 0xfffffffe); /* 8 GiB */
	host.fn[6] = NULL;
}

Test(pci, bar_declaration_errors)
{
	struct pci_function f;
	struct bar_dev d = { 0 };

	pci_function_init(&f, 1, 2, 0, 0, 0, 0);
	cr_assert_eq(pci_function_set_bar(&f, 0, PCI_BAR_MMIO32, 0x3000, bar_io, &d), -EINVAL);
	cr_assert_eq(pci_function_set_bar(&f, 0, PCI_BAR_MMIO32, 8, bar_io, &d), -EINVAL);
	cr_assert_eq(pci_function_set_bar(&f, 0, PCI_BAR_PIO, 512, bar_io, &d), -EINVAL);
	cr_assert_eq(pci_function_set_bar(&f, 5, PCI_BAR_MMIO64, 0x1000, bar_io, &d), -EINVAL);
	cr_assert_eq(pci_function_set_bar(&f, 6, PCI_BAR_MMIO32, 0x1000, bar_io, &d), -EINVAL);
	cr_assert_eq(pci_function_set_bar(&f, 0, PCI_BAR_MMIO32, 0x1000, NULL, &d), -EINVAL);
	cr_assert_eq(pci_function_set_bar(&f, 1, PCI_BAR_MMIO64, 0x1000, bar_io, &d), 0);
	cr_assert_eq(pci_function_set_bar(&f, 2, PCI_BAR_MMIO32, 0x1000, bar_io, &d), -EBUSY);
	cr_assert_eq(pci_function_set_bar(&f, 0, PCI_BAR_MMIO64, 0x1000, bar_io, &d), -EBUSY);
}

Test(pci, memory_enable_maps_bars_and_relocation_moves_them)
{
	uint64_t a0, a2;
	bool hit;

	cr_assert_eq(add_dev(2), 0);
	a0 = dev.bar[0].addr;
	a2 = dev.bar[2].addr;
	mmio_rd8(a0, &hit);
	cr_assert_not(hit);

	cfg_wr(2, 0x04, 2, CMD_MEM | CMD_MASTER);
	cr_assert(dev.bar[0].mapped);
	cr_assert(dev.bar[2].mapped);
	cr_assert_not(dev.bar[4].mapped); /* I/O decoding still off */
	cr_assert_eq(hk.remaps, 2);
	cr_assert_eq(mmio_rd8(a0 + 0x10, &hit), 0xb0);
	cr_assert(hit);
	cr_assert_eq(b0.offset, 0x10);
	cr_assert_eq(mmio_rd8(a2 + 0x3fff, &hit), 0xb2);
	cr_assert_eq(b2.offset, 0x3fff);
	mmio_rd8(a0 + 0x1000, &hit); /* one past BAR0: nothing there */
	cr_assert_not(hit);

	/* Relocate BAR0 while decoding: the old address goes dark, the new one answers. */
	cfg_wr(2, 0x10, 4, 0xd0000000);
	cr_assert_eq(cfg_rd(2, 0x10, 4), 0xd0000000);
	cr_assert_eq(hk.remaps, 3);
	cr_assert_eq(hk.bar, 0);
	cr_assert_eq(hk.addr, 0xd0000000);
	cr_assert(hk.mapped);
	b0.calls = 0;
	mmio_rd8(a0 + 0x10, &hit);
	cr_assert_not(hit);
	cr_assert_eq(b0.calls, 0);
	cr_assert_eq(mmio_rd8(0xd0000020, &hit), 0xb0);
	cr_assert(hit);
	cr_assert_eq(b0.offset, 0x20);

	/* Relocate the 64-bit BAR above 4 GiB: low then high dword, as Linux writes. */
	cfg_wr(2, 0x18, 4, 0x00000000);
	cfg_wr(2, 0x1c, 4, 0x00000010);
	cr_assert_eq(dev.bar[2].addr, 0x1000000000ULL);
	cr_assert(dev.bar[2].mapped);
	cr_assert_eq(mmio_rd8(0x1000000004ULL, &hit), 0xb2);
	cr_assert(hit);
	cr_assert_eq(b2.offset, 4);
	mmio_rd8(a2, &hit);
	cr_assert_not(hit);

	/* Memory decoding off: everything unmapped, the hook told. */
	cfg_wr(2, 0x04, 2, CMD_MASTER);
	cr_assert_not(dev.bar[0].mapped);
	cr_assert_not(dev.bar[2].mapped);
	cr_assert_eq(hk.mapped, false);
	cr_assert_eq(mmio.nr, 0);
	mmio_rd8(0xd0000020, &hit);
	cr_assert_not(hit);
}

Test(pci, io_enable_maps_the_pio_bar_through_the_config_port)
{
	uint16_t port;

	cr_assert_eq(add_dev(2), 0);
	port = dev.bar[4].addr;
	cr_assert_eq(in(port, 1), 0xff); /* nothing there */
	/* This config write runs on the PIO bus and registers a range on that same bus. */
	cfg_wr(2, 0x04, 2, CMD_IO);
	cr_assert(dev.bar[4].mapped);
	cr_assert_not(dev.bar[0].mapped);
	cr_assert_eq(in(port + 31, 1), 0xb4);
	cr_assert_eq(b4.offset, 31);
	cr_assert_eq(hk.bar, 4);
	cr_assert_eq(hk.addr, port);

	cfg_wr(2, 0x20, 4, 0xc000);
	cr_assert_eq(cfg_rd(2, 0x20, 4), 0xc001);
	b4.calls = 0;
	cr_assert_eq(in(port, 1), 0xff);
	cr_assert_eq(b4.calls, 0);
	cr_assert_eq(in(0xc004, 2), 0xb4b4);
	cr_assert_eq(b4.offset, 4);
	/* An I/O BAR past 64K cannot be reached and is not mapped. */
	cfg_wr(2, 0x20, 4, 0x10000);
	cr_assert_not(dev.bar[4].mapped);
}

Test(pci, sizing_with_decoding_on_does_not_map_the_probe_value)
{
	uint64_t a0;
	bool hit;

	cr_assert_eq(add_dev(2), 0);
	a0 = dev.bar[0].addr;
	cfg_wr(2, 0x04, 2, CMD_MEM | CMD_IO);
	cfg_wr(2, 0x10, 4, 0xffffffff);
	cr_assert_not(dev.bar[0].mapped);
	mmio_rd8(0xfffff000, &hit);
	cr_assert_not(hit);
	cfg_wr(2, 0x10, 4, (uint32_t)a0);
	cr_assert(dev.bar[0].mapped);
	cr_assert_eq(mmio_rd8(a0, &hit), 0xb0);

	/* 64-bit: the high half holding all-ones is a probe too. */
	cfg_wr(2, 0x1c, 4, 0xffffffff);
	cr_assert_not(dev.bar[2].mapped);
	cfg_wr(2, 0x1c, 4, 0);
	cr_assert(dev.bar[2].mapped);

	cfg_wr(2, 0x20, 4, 0xffffffff);
	cr_assert_not(dev.bar[4].mapped);

	/* Address zero means "not assigned". */
	cfg_wr(2, 0x10, 4, 0);
	cr_assert_not(dev.bar[0].mapped);
}

Test(pci, overlapping_bar_is_left_unmapped)
{
	struct pci_function other;
	struct bar_dev ob = { .tag = 0x77 };
	bool hit;

	cr_assert_eq(add_dev(2), 0);
	pci_function_init(&other, 0x1af4, 0x1001, 0x010000, 0, 0, 0);
	cr_assert_eq(pci_function_set_bar(&other, 0, PCI_BAR_MMIO32, 0x1000, bar_io, &ob), 0);
	cr_assert_eq(pci_register(&host, &other, 3), 0);
	cr_assert_neq(other.bar[0].addr, dev.bar[0].addr);

	cfg_wr(2, 0x04, 2, CMD_MEM);
	cfg_wr(3, 0x04, 2, CMD_MEM);
	cr_assert(other.bar[0].mapped);
	/* The guest moves the other BAR on top of dev's BAR0: refused, nothing breaks. */
	cfg_wr(3, 0x10, 4, (uint32_t)dev.bar[0].addr);
	cr_assert_not(other.bar[0].mapped);
	cr_assert_eq(cfg_rd(3, 0x10, 4), (uint32_t)dev.bar[0].addr); /* register keeps it */
	cr_assert_eq(mmio_rd8(dev.bar[0].addr, &hit), 0xb0);
	cr_assert(hit);
	cr_assert_eq(ob.calls, 0);
	/* Moved somewhere free, it maps again. */
	cfg_wr(3, 0x10, 4, 0xe0000000);
	cr_assert(other.bar[0].mapped);
	cr_assert_eq(mmio_rd8(0xe0000000, &hit), 0x77);
	pci_unregister(&host, &other);
}

Test(pci, capability_list)
{
	uint8_t vndr[8] = { 0x09, 0xee, 8, 1, 2, 3, 4, 5 };
	uint8_t msix[12] = { 0x11, 0xee, 0x03, 0x00, 0x04, 0, 0, 0, 0x04, 0x08, 0, 0 };
	uint8_t msix_wmask[12] = { 0xff, 0xff, 0x00, 0xc0 };
	uint8_t pos, ids[4];
	int n = 0;

	pci_function_init(&dev, 0x1af4, 0x10f0, 0x088000, 1, 0, 0);
	cr_assert_eq(pci_function_add_cap(&dev, vndr, 5, NULL), 0x40);
	cr_assert_eq(pci_function_add_cap(&dev, msix, 12, msix_wmask), 0x48); /* 4-aligned */
	cr_assert_eq(pci_function_add_cap(&dev, vndr, 8, NULL), 0x54);
	cr_assert_eq(pci_register(&host, &dev, 4), 0);

	cr_assert(cfg_rd(4, 0x06, 2) & 0x10); /* status: capabilities list */
	/* Walk it the way Linux's pci_find_capability() does. */
	for (pos = cfg_rd(4, 0x34, 1); pos && n < 4; pos = cfg_rd(4, pos + 1, 1)) {
		cr_assert_eq(pos & 3, 0);
		ids[n++] = cfg_rd(4, pos, 1);
	}
	cr_assert_eq(n, 3);
	cr_assert_eq(ids[0], 0x09);
	cr_assert_eq(ids[1], 0x11);
	cr_assert_eq(ids[2], 0x09);
	cr_assert_eq(cfg_rd(4, 0x42, 2), 0x0108); /* cap contents kept */

	/* MSI-X message control: only bits 15:14 writable; ID and link never. */
	cfg_wr(4, 0x48, 4, 0xffffffff);
	cr_assert_eq(cfg_rd(4, 0x48, 4), 0xc0035411);
	cfg_wr(4, 0x4b, 1, 0x00);
	cr_assert_eq(cfg_rd(4, 0x4a, 2), 0x0003);
	/* The rest of the capability is read-only. */
	cfg_wr(4, 0x4c, 4, 0);
	cr_assert_eq(cfg_rd(4, 0x4c, 4), 0x00000004);
	/* Status is not writable either (the cap bit stays). */
	cfg_wr(4, 0x06, 2, 0);
	cr_assert(cfg_rd(4, 0x06, 2) & 0x10);
}

Test(pci, capability_space_runs_out)
{
	uint8_t cap[64] = { 0x09 };

	pci_function_init(&dev, 1, 2, 0, 0, 0, 0);
	cr_assert_eq(pci_function_add_cap(&dev, cap, 64, NULL), 0x40);
	cr_assert_eq(pci_function_add_cap(&dev, cap, 64, NULL), 0x80);
	cr_assert_eq(pci_function_add_cap(&dev, cap, 64, NULL), 0xc0);
	cr_assert_eq(pci_function_add_cap(&dev, cap, 4, NULL), -ENOSPC);
	cr_assert_eq(pci_function_add_cap(&dev, cap, 1, NULL), -EINVAL);
	cr_assert_eq(dev.cfg[0xc1], 0); /* the list still ends at the last one */
}

Test(pci, byte_and_word_accesses_at_cfd_to_cff)
{
	cr_assert_eq(add_dev(2), 0);
	out(cf8(2, 0x00), 0xcf8, 4);
	cr_assert_eq(in(0xcfc, 1), 0xf4);
	cr_assert_eq(in(0xcfd, 1), 0x1a);
	cr_assert_eq(in(0xcfe, 1), 0xf0);
	cr_assert_eq(in(0xcff, 1), 0x10);
	cr_assert_eq(in(0xcfe, 2), 0x10f0);
	cr_assert_eq(in(0xcfd, 2), 0xf01a); /* unaligned but inside the dword */
	/* A dword at 0xCFD would run past 0xCFF: not dispatched at all. */
	uint8_t d[4];

	cr_assert_not(bus_access(&pio, 0xcfd, d, 4, false));

	/* Writes: INTx disable is bit 10, i.e. bit 2 of the byte at 0xCFD. */
	out(cf8(2, 0x04), 0xcf8, 4);
	out(0x04, 0xcfd, 1);
	cr_assert_eq(cfg_rd(2, 0x04, 2), 0x0400);
	cr_assert_eq(hk.w_off, 0x05);
	cr_assert_eq(hk.w_len, 1);
	cr_assert_eq(hk.w_val, 0x04);
	/* Interrupt line via a byte write at 0xCFC, word at 0xCFE leaves it alone. */
	out(cf8(2, 0x3c), 0xcf8, 4);
	out(0x0b, 0xcfc, 1);
	out(0xffff, 0xcfe, 2);
	cr_assert_eq(cfg_rd(2, 0x3c, 4), 0x0000000b);
}

Test(pci, direct_config_access_checks_alignment)
{
	cr_assert_eq(add_dev(2), 0);
	cr_assert_eq(pci_config_read(&host, 2 << 3, 0x00, 4), 0x10f01af4);
	cr_assert_eq(pci_config_read(&host, 2 << 3, 0x02, 2), 0x10f0);
	cr_assert_eq(pci_config_read(&host, 2 << 3, 0x03, 2), 0xffff); /* crosses a dword */
	cr_assert_eq(pci_config_read(&host, 2 << 3, 0x00, 3), 0xffffff);
	cr_assert_eq(pci_config_read(&host, 2 << 3, 0x100, 4), 0xffffffff);
	pci_config_write(&host, 2 << 3, 0x03, 2, 0xffff); /* command high byte + next: dropped */
	pci_config_write(&host, 2 << 3, 0x3b, 2, 0xffff);
	cr_assert_eq(pci_config_read(&host, 2 << 3, 0x3c, 1), 0);
	cr_assert_eq(hk.writes, 0);
}

Test(pci, slots)
{
	struct pci_function f[PCI_MAX_DEVICES];

	for (int i = 0; i < PCI_MAX_DEVICES; i++)
		pci_function_init(&f[i], 0x1af4, 0x1000 + i, 0, 0, 0, 0);
	cr_assert_eq(pci_register(&host, &f[0], 0), -EBUSY); /* the host bridge */
	cr_assert_eq(pci_register(&host, &f[0], 32), -EINVAL);
	cr_assert_eq(pci_register(&host, &f[0], 7), 0);
	cr_assert_eq(pci_register(&host, &f[0], 8), -EBUSY); /* already registered */
	cr_assert_eq(pci_register(&host, &f[1], 7), -EBUSY);
	for (int i = 1; i < PCI_MAX_DEVICES - 1; i++)
		cr_assert_eq(pci_register(&host, &f[i], -1), 0);
	cr_assert_eq(pci_register(&host, &f[31], -1), -ENOSPC);
	cr_assert_eq(f[1].devfn, 1 << 3);
	cr_assert_eq(f[7].devfn, 8 << 3); /* slot 7 was taken */
	cr_assert_eq(cfg_rd(31, 0, 4), 0x101e1af4);
}

Test(pci, unregister_unmaps_bars_and_empties_the_slot)
{
	uint64_t a0 = 0;
	bool hit;

	cr_assert_eq(add_dev(2), 0);
	a0 = dev.bar[0].addr;
	cfg_wr(2, 0x04, 2, CMD_MEM | CMD_IO);
	cr_assert_eq(mmio.nr, 2);
	hk.remaps = 0;
	pci_unregister(&host, &dev);
	cr_assert_eq(hk.remaps, 3);
	cr_assert_not(hk.mapped);
	cr_assert_eq(mmio.nr, 0);
	cr_assert_eq(pio.nr, 2); /* just the config ports */
	mmio_rd8(a0, &hit);
	cr_assert_not(hit);
	cr_assert_eq(cfg_rd(2, 0, 4), 0xffffffff);
	cr_assert_null(dev.host);
	/* It can come back (with fresh addresses: the windows are bump allocated). */
	cr_assert_eq(pci_register(&host, &dev, 2), 0);
	cr_assert_neq(dev.bar[0].addr, a0);
}

Test(pci, windows_run_out)
{
	struct pci_function f[3];
	struct bar_dev d = { 0 };
	uint64_t addr;

	for (int i = 0; i < 3; i++)
		pci_function_init(&f[i], 1, 2, 0, 0, 0, 0);
	cr_assert_eq(pci_function_set_bar(&f[0], 0, PCI_BAR_MMIO32, 0x1000, bar_io, &d), 0);
	cr_assert_eq(pci_function_set_bar(&f[0], 1, PCI_BAR_MMIO32, 1ULL << 28, bar_io, &d), 0);
	cr_assert_eq(pci_function_set_bar(&f[1], 0, PCI_BAR_MMIO32, 1ULL << 28, bar_io, &d), 0);
	cr_assert_eq(pci_function_set_bar(&f[2], 0, PCI_BAR_MMIO32, 0x1000, bar_io, &d), 0);
	cr_assert_eq(pci_function_set_bar(&f[2], 1, PCI_BAR_MMIO32, 1ULL << 28, bar_io, &d), 0);
	cr_assert_eq(pci_register(&host, &f[0], -1), 0);
	/* Largest first, each naturally aligned. */
	cr_assert_eq(f[0].bar[1].addr, 0xc0000000);
	cr_assert_eq(f[0].bar[0].addr, 0xd0000000);
	cr_assert_eq(pci_register(&host, &f[1], -1), 0);
	cr_assert_eq(f[1].bar[0].addr, 0xe0000000);
	/* 256 MiB at 0xF0000000 would run over the IOAPIC at 0xFEC00000. */
	cr_assert_eq(pci_register(&host, &f[2], -1), -ENOSPC);
	cr_assert_null(f[2].host);
	cr_assert_eq(cfg_rd(3, 0, 4), 0xffffffff);
	/* The failed registration took nothing: its small BAR was not allocated either. */
	cr_assert_eq(pci_alloc_mmio(&host, 0x1000, &addr), 0);
	cr_assert_eq(addr, 0xf0000000);
	cr_assert_eq(pci_alloc_mmio(&host, 0x10000000, &addr), -ENOSPC);

	cr_assert_eq(pci_alloc_pio(&host, 0x100, &addr), 0);
	cr_assert_eq(addr, PCI_PIO_BASE);
	cr_assert_eq(pci_alloc_pio(&host, 0x3000, &addr), -EINVAL);
	cr_assert_eq(pci_alloc_pio(&host, 0x10000, &addr), -ENOSPC);
}
