// SPDX-License-Identifier: Apache-2.0
#include "devices/pci.h"

#include <errno.h>
#include <string.h>

#include "lib/log.h"

/* Type-0 configuration header. */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_BARS_END 0x28
#define PCI_SUBSYS_VENDOR_ID 0x2c
#define PCI_SUBSYS_ID 0x2e
#define PCI_CAP_PTR 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_CAP_START 0x40

#define PCI_CMD_IO 0x0001
#define PCI_CMD_MEM 0x0002
#define PCI_CMD_MASTER 0x0004
#define PCI_CMD_INTX_DISABLE 0x0400
#define PCI_CMD_WMASK (PCI_CMD_IO | PCI_CMD_MEM | PCI_CMD_MASTER | PCI_CMD_INTX_DISABLE)

#define PCI_STATUS_CAP_LIST 0x0010
/* Parity, abort and SERR bits: sticky error flags the guest clears by writing 1. */
#define PCI_STATUS_W1C 0xf900

#define PCI_BAR_IO 0x1
#define PCI_BAR_MEM_64 0x4
#define PCI_BAR_IO_ADDR 0xfffffffcU
#define PCI_BAR_MEM_ADDR 0xfffffff0U

#define PCI_IO_SPACE_END 0x10000ULL /* x86 ports are 16 bits */

#define CONFIG_ADDR_ENABLE 0x80000000U
/* Enable, bus, devfn, register; reserved bits 30:24 and 1:0 read as zero. */
#define CONFIG_ADDR_MASK 0x80fffffcU

#define HOST_BRIDGE_VENDOR 0x1b36
#define HOST_BRIDGE_DEVICE 0x0008
#define HOST_BRIDGE_CLASS 0x060000

static uint16_t cfg_get16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

static uint32_t cfg_get32(const uint8_t *p)
{
	return (uint32_t)cfg_get16(p) | (uint32_t)cfg_get16(p + 2) << 16;
}

static void cfg_set16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void cfg_set32(uint8_t *p, uint32_t v)
{
	cfg_set16(p, v);
	cfg_set16(p + 2, v >> 16);
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Does [off, off + len) touch [start, start + n)? */
static bool touches(uint32_t off, uint32_t len, uint32_t start, uint32_t n)
{
	return off < start + n && start < off + len;
}

/* ---- functions and their header ---- */

void pci_function_init(struct pci_function *fn, uint16_t vendor, uint16_t device,
		       uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		       uint16_t subsys_id)
{
	memset(fn, 0, sizeof(*fn));
	cfg_set16(&fn->cfg[PCI_VENDOR_ID], vendor);
	cfg_set16(&fn->cfg[PCI_DEVICE_ID], device);
	fn->cfg[PCI_REVISION_ID] = revision;
	fn->cfg[PCI_CLASS_PROG] = class_code;
	cfg_set16(&fn->cfg[PCI_CLASS_PROG + 1], class_code >> 8);
	fn->cfg[PCI_HEADER_TYPE] = 0; /* type 0, single function */
	cfg_set16(&fn->cfg[PCI_SUBSYS_VENDOR_ID], subsys_vendor);
	cfg_set16(&fn->cfg[PCI_SUBSYS_ID], subsys_id);

	cfg_set16(&fn->wmask[PCI_COMMAND], PCI_CMD_WMASK);
	cfg_set16(&fn->w1cmask[PCI_STATUS], PCI_STATUS_W1C);
	fn->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	fn->wmask[PCI_INTERRUPT_LINE] = 0xff;
}

/* A BAR register is taken by a BAR of its own or by the upper half of a 64-bit one. */
static bool pci_bar_reg_used(const struct pci_function *fn, int reg)
{
	if (fn->bar[reg].type != PCI_BAR_NONE)
		return true;
	return reg > 0 && fn->bar[reg - 1].type == PCI_BAR_MMIO64;
}

static bool pci_bar_size_ok(enum pci_bar_type type, uint64_t size)
{
	if (!is_pow2(size))
		return false;
	switch (type) {
	case PCI_BAR_MMIO32:
		return size >= 16 && size <= (1ULL << 31);
	case PCI_BAR_MMIO64:
		return size >= 16 && size <= (1ULL << 63);
	case PCI_BAR_PIO:
		return size >= 4 && size <= 256;
	default:
		return false;
	}
}

int pci_function_set_bar(struct pci_function *fn, int bar, enum pci_bar_type type,
			 uint64_t size, bus_io_fn io, void *opaque)
{
	int nregs = type == PCI_BAR_MMIO64 ? 2 : 1;
	uint64_t addr_mask = ~(size - 1);
	uint8_t *reg, *wmask;

	if (bar < 0 || bar + nregs > PCI_NR_BARS || !io || !pci_bar_size_ok(type, size))
		return -EINVAL;
	if (fn->host || pci_bar_reg_used(fn, bar) || (nregs == 2 && pci_bar_reg_used(fn, bar + 1)))
		return -EBUSY;
	reg = &fn->cfg[PCI_BAR0 + 4 * bar];
	wmask = &fn->wmask[PCI_BAR0 + 4 * bar];

	fn->bar[bar] = (struct pci_bar){ .type = type, .size = size, .fn = io, .opaque = opaque };
	/* The address bits below the size read back as zero: that is how sizing works. */
	switch (type) {
	case PCI_BAR_PIO:
		cfg_set32(reg, PCI_BAR_IO);
		cfg_set32(wmask, addr_mask & PCI_BAR_IO_ADDR);
		break;
	case PCI_BAR_MMIO64:
		cfg_set32(reg, PCI_BAR_MEM_64);
		cfg_set32(wmask, addr_mask & PCI_BAR_MEM_ADDR);
		cfg_set32(wmask + 4, addr_mask >> 32);
		break;
	default:
		cfg_set32(reg, 0);
		cfg_set32(wmask, addr_mask & PCI_BAR_MEM_ADDR);
		break;
	}
	return 0;
}

int pci_function_add_cap(struct pci_function *fn, const uint8_t *data, uint8_t len,
			 const uint8_t *wmask)
{
	uint32_t off = fn->next_cap ? fn->next_cap : PCI_CAP_START;
	uint8_t last;

	if (len < 2 || !data)
		return -EINVAL;
	if (off + len > PCI_CFG_SIZE)
		return -ENOSPC;

	memcpy(&fn->cfg[off], data, len);
	fn->cfg[off + 1] = 0; /* end of the list, until the next one is added */
	if (wmask)
		memcpy(&fn->wmask[off], wmask, len);
	/* The ID and the link belong to the list, never to the guest. */
	fn->wmask[off] = fn->wmask[off + 1] = 0;

	if (!fn->cfg[PCI_CAP_PTR]) {
		fn->cfg[PCI_CAP_PTR] = off;
	} else {
		for (last = fn->cfg[PCI_CAP_PTR]; fn->cfg[last + 1]; last = fn->cfg[last + 1])
			;
		fn->cfg[last + 1] = off;
	}
	cfg_set16(&fn->cfg[PCI_STATUS], cfg_get16(&fn->cfg[PCI_STATUS]) | PCI_STATUS_CAP_LIST);
	fn->next_cap = (off + len + 3) & ~3U;
	return off;
}

/* ---- BAR decoding ---- */

static struct bus *pci_bar_bus(const struct pci_host *host, const struct pci_bar *bar)
{
	return bar->type == PCI_BAR_PIO ? host->pio : host->mmio;
}

/* The address the BAR registers hold now (type bits stripped). */
static uint64_t pci_bar_cfg_addr(const struct pci_function *fn, int i)
{
	const uint8_t *reg = &fn->cfg[PCI_BAR0 + 4 * i];

	switch (fn->bar[i].type) {
	case PCI_BAR_PIO:
		return cfg_get32(reg) & PCI_BAR_IO_ADDR;
	case PCI_BAR_MMIO64:
		return (cfg_get32(reg) & PCI_BAR_MEM_ADDR) | (uint64_t)cfg_get32(reg + 4) << 32;
	default:
		return cfg_get32(reg) & PCI_BAR_MEM_ADDR;
	}
}

/* A register whose writable bits are all set holds a sizing probe, not an address. */
static bool pci_bar_reg_sizing(const struct pci_function *fn, int reg, uint32_t type_bits)
{
	uint32_t wmask = cfg_get32(&fn->wmask[PCI_BAR0 + 4 * reg]);
	uint32_t val = cfg_get32(&fn->cfg[PCI_BAR0 + 4 * reg]) & ~type_bits;

	return wmask && val == wmask;
}

static bool pci_bar_addr_ok(const struct pci_function *fn, int i, uint64_t addr)
{
	const struct pci_bar *bar = &fn->bar[i];

	if (!addr)
		return false;
	switch (bar->type) {
	case PCI_BAR_PIO:
		return !pci_bar_reg_sizing(fn, i, PCI_BAR_IO) &&
		       addr + bar->size <= PCI_IO_SPACE_END;
	case PCI_BAR_MMIO64:
		return !pci_bar_reg_sizing(fn, i, 0xf) && !pci_bar_reg_sizing(fn, i + 1, 0) &&
		       addr + (bar->size - 1) > addr;
	default:
		return !pci_bar_reg_sizing(fn, i, 0xf);
	}
}

static bool pci_bar_decoding(const struct pci_function *fn, int i)
{
	uint16_t cmd = cfg_get16(&fn->cfg[PCI_COMMAND]);

	return cmd & (fn->bar[i].type == PCI_BAR_PIO ? PCI_CMD_IO : PCI_CMD_MEM);
}

static void pci_bar_notify(struct pci_function *fn, int i)
{
	if (fn->ops && fn->ops->bar_remapped)
		fn->ops->bar_remapped(fn, i, fn->bar[i].addr, fn->bar[i].mapped);
}

/*
 * Bring the bus in line with BAR i's registers and the command register: unmap it from
 * its old address, map it at the new one if decoding is on and the address is real.
 */
static void pci_bar_update(struct pci_function *fn, int i)
{
	struct pci_bar *bar = &fn->bar[i];
	struct bus *bus = pci_bar_bus(fn->host, bar);
	uint64_t old_addr = bar->addr, addr = pci_bar_cfg_addr(fn, i);
	bool old_mapped = bar->mapped;
	bool want = pci_bar_decoding(fn, i) && pci_bar_addr_ok(fn, i, addr);
	int ret;

	if (bar->mapped && (!want || addr != old_addr)) {
		bus_unregister(bus, old_addr);
		bar->mapped = false;
	}
	bar->addr = addr;
	if (want && !bar->mapped) {
		ret = bus_register(bus, addr, bar->size, bar->fn, bar->opaque);
		if (ret)
			log_warn("pci %02x.%d: BAR%d at %#llx (size %#llx) not mapped on %s: %s",
				 fn->devfn >> 3, fn->devfn & 7, i, (unsigned long long)addr,
				 (unsigned long long)bar->size, bus->name, strerror(-ret));
		else
			bar->mapped = true;
	}
	if (bar->mapped != old_mapped || (bar->mapped && addr != old_addr))
		pci_bar_notify(fn, i);
}

static void pci_bar_unmap(struct pci_function *fn, int i)
{
	struct pci_bar *bar = &fn->bar[i];

	if (!bar->mapped)
		return;
	bus_unregister(pci_bar_bus(fn->host, bar), bar->addr);
	bar->mapped = false;
	pci_bar_notify(fn, i);
}

/* ---- configuration accesses ---- */

static struct pci_function *pci_lookup(const struct pci_host *host, uint8_t devfn)
{
	/* Single-function devices: functions 1-7 of every slot are absent. */
	if (devfn & 7)
		return NULL;
	return host->fn[devfn >> 3];
}

static bool pci_access_ok(uint32_t offset, uint32_t len)
{
	if (len != 1 && len != 2 && len != 4)
		return false;
	return offset < PCI_CFG_SIZE && (offset & 3) + len <= 4;
}

static uint32_t pci_cfg_read(struct pci_host *host, uint8_t devfn, uint32_t offset,
			     uint32_t len)
{
	struct pci_function *fn = pci_lookup(host, devfn);
	uint32_t val = 0;

	if (!fn || !pci_access_ok(offset, len))
		return len >= 4 ? 0xffffffffU : (1U << (8 * len)) - 1;
	if (fn->ops && fn->ops->cfg_read)
		fn->ops->cfg_read(fn, offset, len);
	for (uint32_t i = 0; i < len; i++)
		val |= (uint32_t)fn->cfg[offset + i] << (8 * i);
	return val;
}

/* The BAR index whose registers include config dword reg (0-5), or -1. */
static int pci_bar_of_reg(const struct pci_function *fn, int reg)
{
	if (fn->bar[reg].type != PCI_BAR_NONE)
		return reg;
	if (reg > 0 && fn->bar[reg - 1].type == PCI_BAR_MMIO64)
		return reg - 1;
	return -1;
}

static void pci_cfg_write(struct pci_host *host, uint8_t devfn, uint32_t offset,
			  uint32_t len, uint32_t val)
{
	struct pci_function *fn = pci_lookup(host, devfn);
	int bar;

	if (!fn || !pci_access_ok(offset, len))
		return;
	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = offset + i;
		uint8_t b = val >> (8 * i);

		fn->cfg[o] = (fn->cfg[o] & ~fn->wmask[o]) | (b & fn->wmask[o]);
		fn->cfg[o] &= ~(b & fn->w1cmask[o]);
	}
	if (touches(offset, len, PCI_COMMAND, 2)) {
		for (int i = 0; i < PCI_NR_BARS; i++)
			if (fn->bar[i].type != PCI_BAR_NONE)
				pci_bar_update(fn, i);
	} else if (touches(offset, len, PCI_BAR0, PCI_BARS_END - PCI_BAR0)) {
		bar = pci_bar_of_reg(fn, (offset - PCI_BAR0) / 4);
		if (bar >= 0)
			pci_bar_update(fn, bar);
	}
	if (fn->ops && fn->ops->cfg_write)
		fn->ops->cfg_write(fn, offset, len, val);
}

uint32_t pci_config_read(struct pci_host *host, uint8_t devfn, uint32_t offset, uint32_t len)
{
	uint32_t val;

	pthread_mutex_lock(&host->lock);
	val = pci_cfg_read(host, devfn, offset, len);
	pthread_mutex_unlock(&host->lock);
	return val;
}

void pci_config_write(struct pci_host *host, uint8_t devfn, uint32_t offset, uint32_t len,
		      uint32_t value)
{
	pthread_mutex_lock(&host->lock);
	pci_cfg_write(host, devfn, offset, len, value);
	pthread_mutex_unlock(&host->lock);
}

/*
 * 0xCF8: only a dword write sets the address (Linux's type-1 probe writes a byte to
 * 0xCFB first and expects it to be ignored); narrower reads see its bytes.
 */
void pci_config_addr_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			bool is_write)
{
	struct pci_host *host = opaque;
	uint32_t val = 0;

	pthread_mutex_lock(&host->lock);
	if (is_write) {
		for (uint32_t i = 0; i < len && i < 4; i++)
			val |= (uint32_t)data[i] << (8 * i);
		if (offset == 0 && len == 4)
			host->config_address = val & CONFIG_ADDR_MASK;
	} else {
		for (uint32_t i = 0; i < len; i++) {
			uint64_t byte = offset + i;

			data[i] = byte < 4 ? host->config_address >> (8 * byte) : 0xff;
		}
	}
	pthread_mutex_unlock(&host->lock);
}

/* 0xCFC-0xCFF: the config dword selected by 0xCF8, at byte (port - 0xCFC). */
void pci_config_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			bool is_write)
{
	struct pci_host *host = opaque;
	uint32_t ca, reg, val = 0;
	uint8_t devfn;

	pthread_mutex_lock(&host->lock);
	ca = host->config_address;
	/* Disabled cycles, other buses and accesses past 0xCFF go nowhere. */
	if (!(ca & CONFIG_ADDR_ENABLE) || ((ca >> 16) & 0xff) || offset + len > 4) {
		if (!is_write)
			memset(data, 0xff, len);
		goto out;
	}
	devfn = ca >> 8;
	reg = (ca & 0xfc) + offset;
	if (is_write) {
		for (uint32_t i = 0; i < len; i++)
			val |= (uint32_t)data[i] << (8 * i);
		pci_cfg_write(host, devfn, reg, len, val);
	} else {
		val = pci_cfg_read(host, devfn, reg, len);
		for (uint32_t i = 0; i < len; i++)
			data[i] = val >> (8 * i);
	}
out:
	pthread_mutex_unlock(&host->lock);
}

/* ---- host and registration ---- */

int pci_host_init(struct pci_host *host, struct bus *pio, struct bus *mmio)
{
	int ret;

	memset(host, 0, sizeof(*host));
	ret = pthread_mutex_init(&host->lock, NULL);
	if (ret)
		return -ret;
	host->pio = pio;
	host->mmio = mmio;
	host->mmio32_next = PCI_MMIO32_BASE;
	host->pio_next = PCI_PIO_BASE;
	pci_function_init(&host->bridge, HOST_BRIDGE_VENDOR, HOST_BRIDGE_DEVICE,
			  HOST_BRIDGE_CLASS, 0, 0, 0);
	host->bridge.host = host;
	host->fn[0] = &host->bridge;
	return 0;
}

void pci_host_destroy(struct pci_host *host)
{
	pthread_mutex_destroy(&host->lock);
}

static int pci_alloc(uint64_t *next, uint64_t base, uint64_t wsize, uint64_t size,
		     uint64_t *addr)
{
	uint64_t a;

	if (!is_pow2(size))
		return -EINVAL;
	a = (*next + size - 1) & ~(size - 1);
	if (a < *next || a - base > wsize || size > wsize - (a - base))
		return -ENOSPC;
	*addr = a;
	*next = a + size;
	return 0;
}

int pci_alloc_mmio(struct pci_host *host, uint64_t size, uint64_t *addr)
{
	int ret;

	pthread_mutex_lock(&host->lock);
	ret = pci_alloc(&host->mmio32_next, PCI_MMIO32_BASE, PCI_MMIO32_SIZE, size, addr);
	pthread_mutex_unlock(&host->lock);
	return ret;
}

int pci_alloc_pio(struct pci_host *host, uint64_t size, uint64_t *addr)
{
	int ret;

	pthread_mutex_lock(&host->lock);
	ret = pci_alloc(&host->pio_next, PCI_PIO_BASE, PCI_PIO_SIZE, size, addr);
	pthread_mutex_unlock(&host->lock);
	return ret;
}

static int pci_pick_slot(const struct pci_host *host, int slot)
{
	if (slot >= PCI_MAX_DEVICES)
		return -EINVAL;
	if (slot == 0)
		return -EBUSY; /* the host bridge */
	if (slot > 0)
		return host->fn[slot] ? -EBUSY : slot;
	for (slot = 1; slot < PCI_MAX_DEVICES; slot++)
		if (!host->fn[slot])
			return slot;
	return -ENOSPC;
}

static void pci_bar_set_cfg_addr(struct pci_function *fn, int i, uint64_t addr)
{
	uint8_t *reg = &fn->cfg[PCI_BAR0 + 4 * i];
	uint32_t type_bits = cfg_get32(reg) & (fn->bar[i].type == PCI_BAR_PIO ? 0x3 : 0xf);

	cfg_set32(reg, (uint32_t)addr | type_bits);
	if (fn->bar[i].type == PCI_BAR_MMIO64)
		cfg_set32(reg + 4, addr >> 32);
}

/* The largest BAR not yet placed, or -1. */
static int pci_next_bar_to_place(const struct pci_function *fn, const bool *placed)
{
	int best = -1;

	for (int i = 0; i < PCI_NR_BARS; i++) {
		if (fn->bar[i].type == PCI_BAR_NONE || placed[i])
			continue;
		if (best < 0 || fn->bar[i].size > fn->bar[best].size)
			best = i;
	}
	return best;
}

/*
 * Place every BAR in its window, as firmware would; all or nothing. Largest first, so
 * natural alignment wastes less of the window.
 */
static int pci_alloc_bars(struct pci_host *host, struct pci_function *fn)
{
	uint64_t mmio_next = host->mmio32_next, pio_next = host->pio_next;
	uint64_t addr[PCI_NR_BARS];
	bool placed[PCI_NR_BARS] = { false };
	int i, ret;

	while ((i = pci_next_bar_to_place(fn, placed)) >= 0) {
		struct pci_bar *bar = &fn->bar[i];

		placed[i] = true;
		if (bar->type == PCI_BAR_PIO)
			ret = pci_alloc(&pio_next, PCI_PIO_BASE, PCI_PIO_SIZE, bar->size, &addr[i]);
		else
			ret = pci_alloc(&mmio_next, PCI_MMIO32_BASE, PCI_MMIO32_SIZE, bar->size,
					&addr[i]);
		if (ret)
			return ret;
	}
	for (i = 0; i < PCI_NR_BARS; i++) {
		if (fn->bar[i].type == PCI_BAR_NONE)
			continue;
		pci_bar_set_cfg_addr(fn, i, addr[i]);
		fn->bar[i].addr = addr[i];
		fn->bar[i].mapped = false;
	}
	host->mmio32_next = mmio_next;
	host->pio_next = pio_next;
	return 0;
}

int pci_register(struct pci_host *host, struct pci_function *fn, int slot)
{
	uint16_t cmd;
	int ret;

	pthread_mutex_lock(&host->lock);
	if (fn->host) {
		ret = -EBUSY;
		goto out;
	}
	ret = pci_pick_slot(host, slot);
	if (ret < 0)
		goto out;
	slot = ret;
	ret = pci_alloc_bars(host, fn);
	if (ret)
		goto out;
	/* Decoding stays off until the guest's driver enables the device. */
	cmd = cfg_get16(&fn->cfg[PCI_COMMAND]) & ~(PCI_CMD_IO | PCI_CMD_MEM);
	cfg_set16(&fn->cfg[PCI_COMMAND], cmd);
	fn->devfn = slot << 3;
	fn->host = host;
	host->fn[slot] = fn;
out:
	pthread_mutex_unlock(&host->lock);
	return ret;
}

void pci_unregister(struct pci_host *host, struct pci_function *fn)
{
	pthread_mutex_lock(&host->lock);
	if (fn->host != host || host->fn[fn->devfn >> 3] != fn || fn == &host->bridge)
		goto out;
	for (int i = 0; i < PCI_NR_BARS; i++)
		pci_bar_unmap(fn, i);
	host->fn[fn->devfn >> 3] = NULL;
	fn->host = NULL;
out:
	pthread_mutex_unlock(&host->lock);
}
