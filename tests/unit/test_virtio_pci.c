// SPDX-License-Identifier: Apache-2.0
/*
 * The virtio-pci transport driven the way Linux's virtio_pci does it: config space
 * through 0xCF8/0xCFC, BARs through the MMIO bus, the fake hypervisor of
 * tests/unit/lib/fake_hv.h in strict mode (ioeventfds, MSI routes and irqfds), and the
 * fake two-queue device with 16 bytes of config of tests/unit/lib/fake_dev.h. Guest
 * memory is real (vq_activate maps the rings).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/bus.h"
#include "devices/pci.h"
#include "lib/evloop.h"
#include "lib/guest_mem.h"
#include "tests/unit/lib/fake_dev.h"
#include "tests/unit/lib/fake_hv.h"
#include "virtio/pci.h"

#define BIT(n) (1ULL << (n))
#define CMD_MEM 0x2
#define FAKE_FEATURES (BIT(0) | BIT(5))
#define OFFERED (FAKE_FEATURES | VIRTIO_COMMON_FEATURES)
#define QMAX 256
#define NO_VECTOR 0xffff
#define MSI_ADDR 0xfee00000U

/* Bounds of the fake hypervisor's snapshots here (a device has few of either). */
#define MAX_IOEVENTS 16
#define MAX_ROUTES 16

/* ---- fake device ---- */

static const struct virtio_device_ops fake_ops = {
	FAKE_DEV_MANDATORY_OPS,
	.queue_reset = fake_dev_queue_reset,
};

/* ---- the machine ---- */

static struct bus pio, mmio;
static struct pci_host host;
static struct guest_mem mem;
static struct evloop loop;
static struct fake_hv *fhv;
static const struct hv *hv;
static struct fake_dev fdev;
static struct virtio_pci *vp;
static int slot;

/* The transport misused the fake hypervisor (strict mode) or the fake device. */
static void misuse(void *opaque, const char *what)
{
	cr_assert_fail("%s: %s", (const char *)opaque, what);
}

static void fake_init(struct fake_dev *f, uint32_t type)
{
	fake_dev_init(f, "fake", type, &fake_ops, FAKE_FEATURES, QMAX, &mem, &loop, misuse,
		      "fake device");
}

static void setup(void)
{
	struct err e;

	cr_assert_eq(fake_hv_create(&fhv, &pio, &mmio), 0);
	fake_hv_set_strict(fhv, misuse, "fake hv");
	fake_hv_set_route_limit(fhv, MAX_ROUTES);
	hv = fake_hv_hv(fhv);
	cr_assert_eq(bus_init(&pio, "pio"), 0);
	cr_assert_eq(bus_init(&mmio, "mmio"), 0);
	cr_assert_eq(pci_host_init(&host, &pio, &mmio), 0);
	cr_assert_eq(bus_register(&pio, PCI_CONFIG_ADDR_PORT, 4, pci_config_addr_io, &host), 0);
	cr_assert_eq(bus_register(&pio, PCI_CONFIG_DATA_PORT, 4, pci_config_data_io, &host), 0);
	cr_assert_eq(guest_mem_init(&mem, 1 << 20), 0);
	cr_assert_eq(evloop_init(&loop, 64), 0);
	fake_init(&fdev, 1 /* net */);
	cr_assert_eq(virtio_pci_create(&vp, &fdev.dev, &host, hv, &e), 0, "%s", e.msg);
	slot = virtio_pci_devfn(vp) >> 3;
	cr_assert_eq(slot, 1, "first free slot after the host bridge");
}

static void teardown(void)
{
	virtio_pci_destroy(vp);
	fake_hv_destroy(fhv);
	evloop_destroy(&loop);
	guest_mem_free(&mem);
	pci_host_destroy(&host);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

TestSuite(virtio_pci, .init = setup, .fini = teardown);

/* ---- guest-side accessors ---- */

static void out4(uint32_t v, uint16_t port)
{
	uint8_t d[4] = { v, v >> 8, v >> 16, v >> 24 };

	bus_access(&pio, port, d, 4, true);
}

static uint32_t cfg_rd(uint32_t reg, uint32_t len)
{
	uint8_t d[4] = { 0 };

	out4(0x80000000U | slot << 11 | (reg & 0xfc), 0xcf8);
	bus_access(&pio, 0xcfc + (reg & 3), d, len, false);
	return d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24;
}

static void cfg_wr(uint32_t reg, uint32_t len, uint32_t v)
{
	uint8_t d[4] = { v, v >> 8, v >> 16, v >> 24 };

	out4(0x80000000U | slot << 11 | (reg & 0xfc), 0xcf8);
	bus_access(&pio, 0xcfc + (reg & 3), d, len, true);
}

static uint64_t mmio_rd(uint64_t addr, uint32_t len)
{
	uint8_t d[8] = { 0 };
	uint64_t v = 0;

	cr_assert(bus_access(&mmio, addr, d, len, false), "MMIO read at %#lx decoded", addr);
	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)d[i] << (8 * i);
	return v;
}

static void mmio_wr(uint64_t addr, uint32_t len, uint64_t v)
{
	uint8_t d[8];

	for (uint32_t i = 0; i < len; i++)
		d[i] = v >> (8 * i);
	cr_assert(bus_access(&mmio, addr, d, len, true), "MMIO write at %#lx decoded", addr);
}

static uint64_t bar_addr(int bar)
{
	return cfg_rd(0x10 + 4 * bar, 4) & ~0xfULL;
}

static void enable_mem(void)
{
	cfg_wr(0x04, 2, CMD_MEM);
}

static uint64_t common(uint32_t off)
{
	return bar_addr(VIRTIO_PCI_BAR) + VIRTIO_PCI_COMMON_OFFSET + off;
}

static uint32_t c_rd(uint32_t off, uint32_t len)
{
	return mmio_rd(common(off), len);
}

static void c_wr(uint32_t off, uint32_t len, uint32_t v)
{
	mmio_wr(common(off), len, v);
}

static uint8_t status(void)
{
	return c_rd(VIRTIO_PCI_COMMON_STATUS, 1);
}

static void set_status(uint8_t s)
{
	c_wr(VIRTIO_PCI_COMMON_STATUS, 1, s);
}

static uint64_t device_features(void)
{
	uint64_t f;

	c_wr(VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	f = c_rd(VIRTIO_PCI_COMMON_DF, 4);
	c_wr(VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	return f | (uint64_t)c_rd(VIRTIO_PCI_COMMON_DF, 4) << 32;
}

/* virtio_dev_probe + virtio_features_ok: returns the status after FEATURES_OK. */
static uint8_t negotiate(uint64_t features)
{
	set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
	set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	c_wr(VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	c_wr(VIRTIO_PCI_COMMON_GF, 4, features);
	c_wr(VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	c_wr(VIRTIO_PCI_COMMON_GF, 4, features >> 32);
	set_status(status() | VIRTIO_CONFIG_S_FEATURES_OK);
	return status();
}

/* Rings of queue q in guest RAM, 64 KiB apart. */
static uint64_t ring(unsigned int q, unsigned int part)
{
	return 0x10000 + q * 0x10000 + part * 0x1000;
}

/* vp_active_vq + setup_vq: size, rings, vector, enable. */
static void setup_queue(unsigned int q, uint16_t size, uint16_t vector)
{
	c_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
	c_wr(VIRTIO_PCI_COMMON_Q_SIZE, 2, size);
	c_wr(VIRTIO_PCI_COMMON_Q_DESCLO, 4, ring(q, 0));
	c_wr(VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0);
	c_wr(VIRTIO_PCI_COMMON_Q_AVAILLO, 4, ring(q, 1));
	c_wr(VIRTIO_PCI_COMMON_Q_AVAILHI, 4, 0);
	c_wr(VIRTIO_PCI_COMMON_Q_USEDLO, 4, ring(q, 2));
	c_wr(VIRTIO_PCI_COMMON_Q_USEDHI, 4, 0);
	c_wr(VIRTIO_PCI_COMMON_Q_MSIX, 2, vector);
	c_wr(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
}

/* Walk the capability list for the first cap with this id (and virtio cfg_type). */
static uint32_t find_cap(uint8_t id, uint8_t cfg_type)
{
	int guard = 0;

	cr_assert(cfg_rd(0x06, 2) & 0x10, "capability list present");
	for (uint32_t p = cfg_rd(0x34, 1); p; p = cfg_rd(p + 1, 1)) {
		cr_assert_lt(guard++, 48, "capability list terminates");
		if (cfg_rd(p, 1) == id && (id != 0x09 || cfg_rd(p + 3, 1) == cfg_type))
			return p;
	}
	return 0;
}

/* ---- MSI-X helpers ---- */

static uint32_t msix_cap(void)
{
	uint32_t cap = find_cap(0x11, 0);

	cr_assert_neq(cap, 0);
	return cap;
}

static void msix_ctl(uint16_t ctl)
{
	cfg_wr(msix_cap() + 2, 2, ctl);
}

static uint64_t msix_entry(unsigned int v)
{
	return bar_addr(VIRTIO_PCI_MSIX_BAR) + 16 * v;
}

static void msix_program(unsigned int v, uint32_t data, bool masked)
{
	mmio_wr(msix_entry(v), 4, MSI_ADDR);
	mmio_wr(msix_entry(v) + 4, 4, 0);
	mmio_wr(msix_entry(v) + 8, 4, data);
	mmio_wr(msix_entry(v) + 12, 4, masked);
}

static uint64_t pba(void)
{
	return mmio_rd(bar_addr(VIRTIO_PCI_MSIX_BAR) + 0x800, 8);
}

/* MSI routes allocated now. */
static unsigned int nr_routes(void)
{
	return fake_hv_routes(fhv, NULL, 0);
}

static uint64_t route_updates(void)
{
	struct fake_hv_stats st;

	fake_hv_get_stats(fhv, &st);
	return st.route_updates;
}

/* Interrupts delivered with MSI data `data` since the last call (-1: no route). */
static int irqs(uint32_t data)
{
	struct fake_hv_route r[MAX_ROUTES];
	unsigned int n = fake_hv_routes(fhv, r, MAX_ROUTES);

	for (unsigned int i = 0; i < n && i < MAX_ROUTES; i++) {
		if (r[i].data != data)
			continue;
		cr_assert_neq(r[i].irqfd, -1, "route for data %#x has an irqfd", data);
		return fake_hv_take_irqs(fhv, r[i].addr, data);
	}
	return -1;
}

/* Linux's MSI-X bring-up: enable with all masked, program, unmask function. */
static void msix_up(void)
{
	msix_ctl(0xc000);
	for (unsigned int v = 0; v < 3; v++)
		msix_program(v, 0x40 + v, true);
	msix_ctl(0x8000);
}

/* A device running with queue 0 on vector 1 and config on vector 0, both unmasked. */
static void bring_up(void)
{
	enable_mem();
	msix_up();
	mmio_wr(msix_entry(0) + 12, 4, 0);
	mmio_wr(msix_entry(1) + 12, 4, 0);
	cr_assert(negotiate(OFFERED) & VIRTIO_CONFIG_S_FEATURES_OK);
	c_wr(VIRTIO_PCI_COMMON_MSIX, 2, 0);
	setup_queue(0, 128, 1);
	set_status(status() | VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert_eq(status() & (VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_NEEDS_RESET),
		     VIRTIO_CONFIG_S_DRIVER_OK);
}

static void run_loop(void);

/* ---- identity and capabilities ---- */

Test(virtio_pci, ids_and_class)
{
	struct fake_dev blk;
	struct virtio_pci *vp2;
	struct err e;

	cr_assert_eq(cfg_rd(0x00, 4), 0x10411af4);
	cr_assert_eq(cfg_rd(0x08, 4), 0x02000001, "class net, revision 1");
	cr_assert_eq(cfg_rd(0x2c, 4), 0x00411af4, "subsystem id 0x40 + type");
	cr_assert_eq(cfg_rd(0x3d, 1), 0, "no INTx pin");

	fake_init(&blk, 2);
	cr_assert_eq(virtio_pci_create(&vp2, &blk.dev, &host, hv, &e), 0, "%s", e.msg);
	slot = virtio_pci_devfn(vp2) >> 3;
	cr_assert_eq(slot, 2);
	cr_assert_eq(cfg_rd(0x00, 4), 0x10421af4);
	cr_assert_eq(cfg_rd(0x08, 4) >> 8, 0x018000);
	virtio_pci_destroy(vp2);
	cr_assert_eq(cfg_rd(0x00, 4), 0xffffffff, "slot freed");
	slot = 1;
}

Test(virtio_pci, bad_devices_refused)
{
	struct fake_dev f;
	struct virtio_pci *vp2;
	struct err e;

	fake_init(&f, 1);
	f.vqs[1].max_size = 100;
	cr_assert_eq(virtio_pci_create(&vp2, &f.dev, &host, hv, &e), -1);
	cr_assert(strstr(e.msg, "queue 1"), "%s", e.msg);
	fake_init(&f, 1);
	f.dev.config_size = VIRTIO_PCI_MAX_CONFIG + 1;
	cr_assert_eq(virtio_pci_create(&vp2, &f.dev, &host, hv, &e), -1);
	fake_init(&f, 1);
	f.dev.nr_queues = 0;
	cr_assert_eq(virtio_pci_create(&vp2, &f.dev, &host, hv, &e), -1);
}

Test(virtio_pci, capability_walk)
{
	static const struct {
		uint8_t type;
		uint32_t off, len;
	} want[] = {
		{ VIRTIO_PCI_CAP_COMMON_CFG, 0x0000, 0x3c },
		{ VIRTIO_PCI_CAP_NOTIFY_CFG, 0x3000, 8 },
		{ VIRTIO_PCI_CAP_ISR_CFG, 0x1000, 1 },
		{ VIRTIO_PCI_CAP_DEVICE_CFG, 0x2000, 16 },
	};
	uint32_t cap, msix;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cap = find_cap(0x09, want[i].type);
		cr_assert_neq(cap, 0, "virtio cap %u present", want[i].type);
		cr_assert_eq(cap % 4, 0);
		cr_assert_geq(cfg_rd(cap + 2, 1), 16, "cap_len");
		cr_assert_eq(cfg_rd(cap + 4, 1), 0, "in BAR0");
		cr_assert_eq(cfg_rd(cap + 8, 4), want[i].off, "cap %u offset", want[i].type);
		cr_assert_eq(cfg_rd(cap + 12, 4), want[i].len, "cap %u length", want[i].type);
	}
	cap = find_cap(0x09, VIRTIO_PCI_CAP_NOTIFY_CFG);
	cr_assert_eq(cfg_rd(cap + 2, 1), 20);
	cr_assert_eq(cfg_rd(cap + 16, 4), 4, "notify_off_multiplier");
	cap = find_cap(0x09, VIRTIO_PCI_CAP_PCI_CFG);
	cr_assert_neq(cap, 0);
	cr_assert_eq(cfg_rd(cap + 2, 1), 20);

	msix = msix_cap();
	cr_assert_eq(cfg_rd(msix + 2, 2), 2, "3 vectors: config + one per queue");
	cr_assert_eq(cfg_rd(msix + 4, 4), 0 | 4, "table at 0 of BAR4");
	cr_assert_eq(cfg_rd(msix + 8, 4), 0x800 | 4, "PBA at 0x800 of BAR4");
	/* Only the enable and function-mask bits are the guest's. */
	cfg_wr(msix + 2, 2, 0xffff);
	cr_assert_eq(cfg_rd(msix + 2, 2), 0xc002);
	/* BAR0 sizes as 16 KiB of 32-bit memory. */
	cfg_wr(0x10, 4, 0xffffffff);
	cr_assert_eq(cfg_rd(0x10, 4), 0xffffc000);
}

/* ---- feature negotiation ---- */

Test(virtio_pci, features_offered)
{
	enable_mem();
	cr_assert_eq(device_features(), OFFERED);
	cr_assert(OFFERED & BIT(VIRTIO_F_RING_RESET), "queue_reset op present: RING_RESET");
	c_wr(VIRTIO_PCI_COMMON_DFSELECT, 4, 2);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_DF, 4), 0, "no bits past 63");
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_NUMQ, 2), 2);
}

Test(virtio_pci, features_ok_accepted)
{
	uint64_t want = BIT(5) | BIT(VIRTIO_F_VERSION_1) | BIT(29);

	enable_mem();
	cr_assert_eq(negotiate(want), 0x0b, "ACK | DRIVER | FEATURES_OK");
	cr_assert_eq(fdev.dev.driver_features, want);
	/* Fixed from now on. */
	c_wr(VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	c_wr(VIRTIO_PCI_COMMON_GF, 4, 0);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_GF, 4), (uint32_t)want);
	cr_assert_eq(fdev.dev.driver_features, want);
}

Test(virtio_pci, features_ok_refused_for_unoffered_bit)
{
	enable_mem();
	cr_assert_eq(negotiate(BIT(VIRTIO_F_VERSION_1) | BIT(7)), 0x03, "FEATURES_OK stays clear");
	cr_assert_eq(fdev.dev.driver_features, 0);
}

Test(virtio_pci, features_ok_refused_without_version_1)
{
	enable_mem();
	cr_assert_eq(negotiate(BIT(5)), 0x03);
	/* And DRIVER_OK without FEATURES_OK does not start the device. */
	set_status(status() | VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert_eq(fdev.activates, 0);
	cr_assert(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
}

Test(virtio_pci, status_bits_are_sticky)
{
	enable_mem();
	set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
	cr_assert_eq(status(), 0x03, "bits are cleared only by reset");
	set_status(VIRTIO_CONFIG_S_NEEDS_RESET);
	cr_assert_eq(status(), 0x03, "NEEDS_RESET is the device's");
}

/* ---- queues, DRIVER_OK, reset ---- */

Test(virtio_pci, queue_setup_and_driver_ok)
{
	enable_mem();
	cr_assert(negotiate(OFFERED) & VIRTIO_CONFIG_S_FEATURES_OK);
	c_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), QMAX, "queue_size starts at the max");
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_NOFF, 2), 1);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), NO_VECTOR);
	c_wr(VIRTIO_PCI_COMMON_Q_SIZE, 2, 1024);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), QMAX, "larger than the max: ignored");

	setup_queue(0, 128, 1);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_DESCLO, 4), ring(0, 0));
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_USEDLO, 4), ring(0, 2));
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), 1);
	/* Geometry is frozen once enabled. */
	c_wr(VIRTIO_PCI_COMMON_Q_SIZE, 2, 64);
	c_wr(VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0x80000);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), 128);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_DESCLO, 4), ring(0, 0));
	cr_assert_eq(fdev.activates, 0);

	set_status(status() | VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert_eq(status(), 0x0f);
	cr_assert_eq(fdev.activates, 1);
	cr_assert(fdev.vqs[0].active);
	cr_assert_eq(fdev.vqs[0].size, 128);
	cr_assert_eq(fdev.vqs[0].desc_addr, ring(0, 0));
	cr_assert_eq(fdev.vqs[0].avail_addr, ring(0, 1));
	cr_assert(fdev.vqs[0].event_idx, "RING_EVENT_IDX negotiated");
	cr_assert(fdev.vqs[0].indirect, "INDIRECT_DESC negotiated");
	cr_assert_not(fdev.vqs[1].active, "queue 1 was never enabled");
	set_status(status() | VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert_eq(fdev.activates, 1, "DRIVER_OK again does not re-activate");
}

Test(virtio_pci, bad_ring_needs_reset)
{
	enable_mem();
	msix_up();
	mmio_wr(msix_entry(0) + 12, 4, 0);
	cr_assert(negotiate(OFFERED) & VIRTIO_CONFIG_S_FEATURES_OK);
	c_wr(VIRTIO_PCI_COMMON_MSIX, 2, 0);
	c_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	c_wr(VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0x100000 - 0x800); /* runs past RAM */
	c_wr(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	set_status(status() | VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	cr_assert_eq(fdev.activates, 0);
	cr_assert_eq(irqs(0x40), 1, "config interrupt tells the driver");
	cr_assert_eq(mmio_rd(bar_addr(0) + VIRTIO_PCI_ISR_OFFSET, 1), VIRTIO_PCI_ISR_CONFIG);
}

Test(virtio_pci, activate_failure_needs_reset)
{
	fdev.activate_ret = -EIO;
	enable_mem();
	cr_assert(negotiate(OFFERED) & VIRTIO_CONFIG_S_FEATURES_OK);
	setup_queue(0, 128, NO_VECTOR);
	set_status(status() | VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert_eq(fdev.activates, 1);
	cr_assert(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
}

Test(virtio_pci, reset_clears_everything)
{
	bring_up();
	c_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	set_status(0);
	cr_assert_eq(fdev.resets, 1);
	cr_assert_eq(status(), 0, "reset is complete when the write returns");
	cr_assert_eq(fdev.dev.driver_features, 0);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_SELECT, 2), 0);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_MSIX, 2), NO_VECTOR);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), NO_VECTOR);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), QMAX);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_DESCLO, 4), 0);
	cr_assert_not(fdev.vqs[0].active);
	cr_assert_not(fdev.vqs[0].enabled);
	/* Interrupts for the old configuration go nowhere. */
	virtio_queue_interrupt(&fdev.dev, 0);
	cr_assert_eq(irqs(0x41), 0);
	cr_assert_eq(pba(), 0);
}

Test(virtio_pci, queue_reset_and_reenable)
{
	bring_up();
	c_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	c_wr(VIRTIO_PCI_COMMON_Q_RESET, 2, 1);
	cr_assert_eq(fdev.queue_resets[0], 1);
	cr_assert_eq(fdev.resets, 0, "only the queue");
	/* Linux polls both for 0 (vp_modern_set_queue_reset). */
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_RESET, 2), 0);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), QMAX);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), NO_VECTOR);
	cr_assert_not(fdev.vqs[0].active);
	mmio_wr(bar_addr(0) + 0x3000, 2, 0);
	run_loop();
	cr_assert_eq(fdev.notifies[0], 0, "a reset queue takes no kicks");
	/* vp_modern_enable_vq_after_reset */
	setup_queue(0, 64, 1);
	cr_assert_eq(fdev.activates, 2, "activate again to restart the queue");
	cr_assert(fdev.vqs[0].active);
	cr_assert_eq(fdev.vqs[0].size, 64);
	cr_assert_eq(status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	mmio_wr(bar_addr(0) + 0x3000, 2, 0);
	run_loop();
	cr_assert_eq(fdev.notifies[0], 1, "kicks flow again once re-enabled");
}

Test(virtio_pci, enable_after_driver_ok_needs_ring_reset)
{
	enable_mem();
	cr_assert(negotiate(BIT(VIRTIO_F_VERSION_1)) & VIRTIO_CONFIG_S_FEATURES_OK);
	setup_queue(0, 128, NO_VECTOR);
	set_status(status() | VIRTIO_CONFIG_S_DRIVER_OK);
	c_wr(VIRTIO_PCI_COMMON_Q_RESET, 2, 1);
	cr_assert_eq(fdev.queue_resets[0], 0, "RING_RESET not negotiated: ignored");
	setup_queue(1, 128, NO_VECTOR);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0, "late enable refused");
	cr_assert_not(fdev.vqs[1].active);
}

/* ---- hostile accesses ---- */

Test(virtio_pci, queue_select_out_of_range)
{
	enable_mem();
	c_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 2);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_SELECT, 2), 2);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), 0, "absent queue: size 0");
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_NOFF, 2), 0);
	c_wr(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	c_wr(VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0x1000);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	c_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0xffff);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_DESCLO, 4), 0);
	c_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_DESCLO, 4), 0, "queue 0 untouched");
	cr_assert_not(fdev.vqs[0].enabled || fdev.vqs[1].enabled);
}

Test(virtio_pci, vector_out_of_range_reads_no_vector)
{
	enable_mem();
	c_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	c_wr(VIRTIO_PCI_COMMON_Q_MSIX, 2, 3);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), NO_VECTOR);
	c_wr(VIRTIO_PCI_COMMON_Q_MSIX, 2, 2);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), 2);
	c_wr(VIRTIO_PCI_COMMON_MSIX, 2, 0x7ff);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_MSIX, 2), NO_VECTOR);
	c_wr(VIRTIO_PCI_COMMON_MSIX, 2, 0);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_MSIX, 2), 0);
}

Test(virtio_pci, wrong_width_and_stray_accesses)
{
	enable_mem();
	set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_STATUS, 2), 0, "16-bit read of an 8-bit field");
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_NUMQ, 4), 0, "32-bit read at a 16-bit field");
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_DF + 1, 1), 0, "unaligned byte of a dword");
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0, "64-bit halves are two dwords");
	c_wr(VIRTIO_PCI_COMMON_Q_SIZE, 4, 16);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), QMAX, "32-bit write ignored");
	c_wr(VIRTIO_PCI_COMMON_STATUS, 2, 0);
	cr_assert_eq(status(), VIRTIO_CONFIG_S_ACKNOWLEDGE, "16-bit status write ignored");
	cr_assert_eq(fdev.resets, 0);
	c_wr(VIRTIO_PCI_COMMON_NUMQ, 2, 9);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_NUMQ, 2), 2, "read-only");
	cr_assert_eq(c_rd(0x3c, 4), 0, "past the structure");
	cr_assert_eq(c_rd(0xffc, 4), 0);
	cr_assert_eq(mmio_rd(bar_addr(0) + VIRTIO_PCI_ISR_OFFSET + 1, 1), 0);
	cr_assert_eq(mmio_rd(bar_addr(0) + VIRTIO_PCI_NOTIFY_OFFSET, 2), 0);
	/* A straddling access across two structures is ignored. */
	cr_assert_eq(mmio_rd(bar_addr(0) + VIRTIO_PCI_ISR_OFFSET - 2, 4), 0);
}

Test(virtio_pci, device_config_bounds)
{
	uint64_t cfg;

	enable_mem();
	cfg = bar_addr(0) + VIRTIO_PCI_DEVICE_OFFSET;
	cr_assert_eq(mmio_rd(cfg, 4), 0xc3c2c1c0);
	cr_assert_eq(mmio_rd(cfg + 12, 4), 0xcfcecdcc);
	cr_assert_eq(mmio_rd(cfg + 15, 1), 0xcf);
	cr_assert_eq(mmio_rd(cfg + 14, 4), 0, "straddles the end");
	cr_assert_eq(mmio_rd(cfg + 16, 1), 0);
	cr_assert_eq(mmio_rd(cfg + 0xffc, 4), 0);
	mmio_wr(cfg + 14, 4, 0x11111111);
	mmio_wr(cfg + 0x100, 4, 0x11111111);
	cr_assert_eq(fdev.config[14], 0xce, "out of bounds write dropped");
	mmio_wr(cfg + 4, 2, 0xbeef);
	cr_assert_eq(fdev.config[4], 0xef);
	cr_assert_eq(fdev.config[5], 0xbe);
}

/* ---- MSI-X ---- */

Test(virtio_pci, msix_unmasked_vector_fires)
{
	bring_up();
	fdev.dev.transport->queue_interrupt(&fdev.dev, 0);
	cr_assert_eq(irqs(0x41), 1, "queue 0 -> vector 1 -> its irqfd");
	cr_assert_eq(irqs(0x40), 0, "not the config vector");
	cr_assert_eq(pba(), 0);
	virtio_queue_interrupt(&fdev.dev, 1); /* queue 1 has NO_VECTOR */
	cr_assert_eq(irqs(0x42), -1, "vector 2 never used: no route");
	virtio_queue_interrupt(&fdev.dev, 7); /* no such queue */
	cr_assert_eq(irqs(0x41), 0);
}

Test(virtio_pci, msix_masked_vector_pends_until_unmasked)
{
	bring_up();
	mmio_wr(msix_entry(1) + 12, 4, 1);
	cr_assert_eq(mmio_rd(msix_entry(1) + 12, 4), 1);
	virtio_queue_interrupt(&fdev.dev, 0);
	virtio_queue_interrupt(&fdev.dev, 0);
	cr_assert_eq(irqs(0x41), 0, "masked: nothing delivered");
	cr_assert_eq(pba(), 0x2, "vector 1 pending");
	mmio_wr(msix_entry(1) + 12, 4, 0);
	cr_assert_eq(irqs(0x41), 1, "unmask delivers the pending interrupt once");
	cr_assert_eq(pba(), 0);
}

Test(virtio_pci, msix_function_mask_and_disable)
{
	bring_up();
	msix_ctl(0xc000); /* enabled, function masked */
	virtio_queue_interrupt(&fdev.dev, 0);
	cr_assert_eq(irqs(0x41), 0);
	cr_assert_eq(pba(), 0x2);
	msix_ctl(0x8000);
	cr_assert_eq(irqs(0x41), 1);
	cr_assert_eq(pba(), 0);

	msix_ctl(0x0000); /* MSI-X off: held back too (no INTx here) */
	virtio_queue_interrupt(&fdev.dev, 0);
	cr_assert_eq(irqs(0x41), 0);
	cr_assert_eq(pba(), 0x2);
	msix_ctl(0x8000);
	cr_assert_eq(irqs(0x41), 1);
}

Test(virtio_pci, msix_first_unmask_creates_route_lazily)
{
	struct fake_hv_route r;

	enable_mem();
	msix_up();
	cr_assert_eq(nr_routes(), 0, "no route while everything is masked");
	mmio_wr(msix_entry(2) + 12, 4, 0);
	cr_assert_geq(fake_hv_routes(fhv, &r, 1), 1);
	cr_assert_eq(r.addr, MSI_ADDR);
	cr_assert_eq(r.data, 0x42);
	cr_assert_neq(r.irqfd, -1);
}

Test(virtio_pci, msix_live_entry_rewrite_updates_route)
{
	bring_up();
	virtio_queue_interrupt(&fdev.dev, 0);
	cr_assert_eq(irqs(0x41), 1);
	mmio_wr(msix_entry(1) + 8, 4, 0x51); /* affinity change: new vector, entry unmasked */
	cr_assert_eq(route_updates(), 1);
	virtio_queue_interrupt(&fdev.dev, 0);
	cr_assert_eq(irqs(0x51), 1);
	/* A masked entry's rewrite waits for the next delivery. */
	mmio_wr(msix_entry(1) + 12, 4, 1);
	mmio_wr(msix_entry(1) + 8, 4, 0x61);
	cr_assert_eq(route_updates(), 1);
	mmio_wr(msix_entry(1) + 12, 4, 0);
	cr_assert_eq(route_updates(), 2);
	virtio_queue_interrupt(&fdev.dev, 0);
	cr_assert_eq(irqs(0x61), 1);
}

Test(virtio_pci, msix_table_access_rules)
{
	uint64_t e1;

	enable_mem();
	e1 = msix_entry(1);
	cr_assert_eq(mmio_rd(e1 + 12, 4), 1, "entries start masked");
	mmio_wr(e1, 8, 0x00000001fee01003ULL); /* 64-bit address write */
	cr_assert_eq(mmio_rd(e1, 4), 0xfee01000, "address is dword aligned");
	cr_assert_eq(mmio_rd(e1 + 4, 4), 1);
	cr_assert_eq(mmio_rd(e1, 8), 0x00000001fee01000ULL);
	mmio_wr(e1 + 8, 2, 0xffff);
	mmio_wr(e1 + 9, 1, 0xff);
	cr_assert_eq(mmio_rd(e1 + 8, 4), 0, "narrow writes ignored");
	cr_assert_eq(mmio_rd(e1 + 8, 2), 0, "narrow reads read 0");
	mmio_wr(e1 + 12, 4, 0xfffffffe);
	cr_assert_eq(mmio_rd(e1 + 12, 4), 0, "reserved control bits read 0");
	mmio_wr(msix_entry(3), 4, 0x1234); /* past the table */
	cr_assert_eq(mmio_rd(msix_entry(3), 4), 0);
	mmio_wr(bar_addr(VIRTIO_PCI_MSIX_BAR) + 0x800, 8, ~0ULL);
	cr_assert_eq(pba(), 0, "PBA is read-only");
}

Test(virtio_pci, config_interrupt_isr_and_generation)
{
	uint64_t isr;

	bring_up();
	isr = bar_addr(0) + VIRTIO_PCI_ISR_OFFSET;
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_CFGGENERATION, 1), 0);
	fdev.dev.transport->config_interrupt(&fdev.dev);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_CFGGENERATION, 1), 1);
	cr_assert_eq(irqs(0x40), 1);
	cr_assert_eq(mmio_rd(isr, 1), VIRTIO_PCI_ISR_CONFIG);
	cr_assert_eq(mmio_rd(isr, 1), 0, "read to clear");
	virtio_queue_interrupt(&fdev.dev, 0);
	cr_assert_eq(mmio_rd(isr, 1), 0x1);
}

Test(virtio_pci, needs_reset)
{
	fdev.dev.transport->needs_reset(&fdev.dev);
	enable_mem();
	cr_assert_eq(status(), 0, "ignored before the driver starts");
	bring_up();
	fdev.dev.transport->needs_reset(&fdev.dev);
	cr_assert_eq(status(), 0x4f);
	cr_assert_eq(irqs(0x40), 1);
	set_status(0);
	cr_assert_eq(status(), 0);
}

static void *interrupt_storm(void *arg)
{
	for (int i = 0; i < 20000; i++) {
		virtio_queue_interrupt(&fdev.dev, 0);
		if (i % 64 == 0)
			fdev.dev.transport->config_interrupt(&fdev.dev);
	}
	return NULL;
}

/* The event loop raises interrupts while a vCPU masks, unmasks and retargets. */
Test(virtio_pci, interrupts_race_masking)
{
	pthread_t t;
	int delivered;

	bring_up();
	cr_assert_eq(pthread_create(&t, NULL, interrupt_storm, NULL), 0);
	for (int i = 0; i < 2000; i++) {
		mmio_wr(msix_entry(1) + 12, 4, i & 1);
		if (i % 7 == 0)
			msix_ctl(i % 14 ? 0xc000 : 0x8000);
		c_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
		c_wr(VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
	}
	pthread_join(t, NULL);
	msix_ctl(0x8000);
	mmio_wr(msix_entry(1) + 12, 4, 0);
	cr_assert_eq(pba(), 0, "everything unmasked: nothing left pending");
	delivered = irqs(0x41);
	cr_assert_gt(delivered, 0);
	cr_assert_leq(delivered, 20000);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_CFGGENERATION, 1), ((20000 + 63) / 64) & 0xff,
		     "one generation per config interrupt");
}

/* ---- doorbells ---- */

/* ioeventfds registered now (at most MAX_IOEVENTS). */
static unsigned int nr_io(void)
{
	unsigned int n = fake_hv_ioeventfds(fhv, NULL, 0);

	cr_assert_leq(n, MAX_IOEVENTS);
	return n;
}

/* Whether an ioeventfd is registered at addr; if so, and io is not NULL, a copy in *io. */
static bool ioevent_at(uint64_t addr, struct fake_hv_ioeventfd *io)
{
	struct fake_hv_ioeventfd all[MAX_IOEVENTS];
	unsigned int n = fake_hv_ioeventfds(fhv, all, MAX_IOEVENTS);

	cr_assert_leq(n, MAX_IOEVENTS);
	for (unsigned int i = 0; i < n; i++) {
		if (all[i].addr != addr)
			continue;
		if (io)
			*io = all[i];
		return true;
	}
	return false;
}

Test(virtio_pci, ioeventfds_follow_the_bar)
{
	struct fake_hv_ioeventfd io;
	uint64_t old, new;

	cr_assert_eq(nr_io(), 0, "nothing while memory decoding is off");
	enable_mem();
	old = bar_addr(0);
	cr_assert_eq(nr_io(), 2);
	for (unsigned int q = 0; q < 2; q++) {
		cr_assert(ioevent_at(old + 0x3000 + 4 * q, &io), "doorbell %u registered", q);
		cr_assert_eq(io.len, 2);
		cr_assert_not(io.pio);
		cr_assert_not(io.match);
	}
	new = old + 0x100000;
	cfg_wr(0x10, 4, new);
	cr_assert_eq(bar_addr(0), new);
	cr_assert_eq(nr_io(), 2);
	cr_assert_not(ioevent_at(old + 0x3000, NULL), "old doorbells gone");
	cr_assert(ioevent_at(new + 0x3000, NULL));
	cr_assert(ioevent_at(new + 0x3004, NULL));
	cfg_wr(0x04, 2, 0);
	cr_assert_eq(nr_io(), 0, "decoding off drops them");
	enable_mem();
	cr_assert_eq(nr_io(), 2);
}

static void stop_loop(struct evloop_op *op, int res, bool more)
{
	evloop_stop(op->opaque);
}

/*
 * Run the device's loop for 100 ms: long enough for a pending kick, and with no
 * timer left behind to cut a later run short. evloop has no restart: clear its stop
 * flag for the next run.
 */
static void run_one_loop(struct evloop *l)
{
	static struct __kernel_timespec ts = { .tv_nsec = 100 * 1000 * 1000 };
	static struct evloop_op timer;

	cr_assert_eq(evloop_timer(l, &timer, &ts, stop_loop, l), 0);
	cr_assert_eq(evloop_run(l), 0);
	l->stop = false;
}

static void run_loop(void)
{
	run_one_loop(&loop);
}

Test(virtio_pci, doorbell_write_in_user_space_kicks)
{
	struct fake_hv_ioeventfd io;

	bring_up();
	cr_assert(ioevent_at(bar_addr(0) + 0x3000, &io), "doorbell 0 registered");
	mmio_wr(bar_addr(0) + 0x3000, 2, 0); /* as if KVM had let it exit */
	run_loop();
	cr_assert_eq(fdev.notifies[0], 1, "kick reached queue_notify on the loop");
	/* The ioeventfd path: KVM signals the same eventfd. */
	cr_assert_eq(eventfd_write(io.fd, 1), 0);
	run_loop();
	cr_assert_eq(fdev.notifies[0], 2);
	mmio_wr(bar_addr(0) + 0x3002, 2, 0); /* not a doorbell */
	mmio_wr(bar_addr(0) + 0x3008, 2, 0); /* queue 2 does not exist */
	run_loop();
	cr_assert_eq(fdev.notifies[0] + fdev.notifies[1], 2);
	cr_assert_eq(fdev.foreign_notifies, 0);
}

Test(virtio_pci, kicks_before_driver_ok_or_for_disabled_queues_dropped)
{
	enable_mem();
	mmio_wr(bar_addr(0) + 0x3000, 2, 0);
	run_loop();
	cr_assert_eq(fdev.notifies[0], 0, "before DRIVER_OK");
	bring_up();
	mmio_wr(bar_addr(0) + 0x3004, 2, 1);
	run_loop();
	cr_assert_eq(fdev.notifies[1], 0, "queue 1 is not enabled");
	set_status(0);
	mmio_wr(bar_addr(0) + 0x3000, 2, 0);
	run_loop();
	cr_assert_eq(fdev.notifies[0], 0, "after reset");
}

/* With dev->queue_loops, queue q's doorbell is read and dispatched on queue q's loop. */
Test(virtio_pci, kicks_go_to_each_queue_s_own_loop)
{
	static struct evloop qloop[2];
	struct evloop *table[2] = { &qloop[0], &qloop[1] };
	struct err e;

	/*
	 * The fixture's device again, now with a loop per queue set before the transport.
	 * The old transport's cancelled kick watches must never be reaped: a fresh loop.
	 */
	virtio_pci_destroy(vp);
	vp = NULL;
	evloop_destroy(&loop);
	cr_assert_eq(evloop_init(&loop, 64), 0);
	cr_assert_eq(evloop_init(&qloop[0], 64), 0);
	cr_assert_eq(evloop_init(&qloop[1], 64), 0);
	fake_init(&fdev, 1 /* net */);
	fdev.dev.queue_loops = table;
	cr_assert_eq(virtio_pci_create(&vp, &fdev.dev, &host, hv, &e), 0, "%s", e.msg);
	slot = virtio_pci_devfn(vp) >> 3;
	enable_mem();
	cr_assert(negotiate(OFFERED) & VIRTIO_CONFIG_S_FEATURES_OK);
	setup_queue(0, 128, NO_VECTOR);
	setup_queue(1, 128, NO_VECTOR);
	set_status(status() | VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert_eq(status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);

	mmio_wr(bar_addr(0) + 0x3000, 2, 0);
	mmio_wr(bar_addr(0) + 0x3004, 2, 1);
	run_loop();
	cr_assert_eq(fdev.notifies[0] + fdev.notifies[1], 0, "no kick on the device's loop");
	run_one_loop(&qloop[1]);
	cr_assert_eq(fdev.notifies[1], 1, "queue 1's kick on queue 1's loop");
	cr_assert_eq(fdev.notifies[0], 0, "queue 0's kick waits for queue 0's loop");
	run_one_loop(&qloop[0]);
	cr_assert_eq(fdev.notifies[0], 1);
	cr_assert_eq(fdev.foreign_notifies, 0);
	/* Torn down as the VMM does: every loop stopped for good first. */
	evloop_stop(&qloop[0]);
	evloop_stop(&qloop[1]);
	virtio_pci_destroy(vp);
	vp = NULL;
	cr_assert_eq(fdev.resets, 1);
	evloop_destroy(&qloop[0]);
	evloop_destroy(&qloop[1]);
}

/* ---- PCI_CFG window ---- */

Test(virtio_pci, pci_cfg_window_reaches_the_bars)
{
	uint32_t cap = find_cap(0x09, VIRTIO_PCI_CAP_PCI_CFG);

	cr_assert_neq(cap, 0);
	/* Memory decoding stays off: the window does not need it. */
	cfg_wr(cap + 4, 1, VIRTIO_PCI_BAR);
	cfg_wr(cap + 8, 4, VIRTIO_PCI_COMMON_NUMQ);
	cfg_wr(cap + 12, 4, 2);
	cr_assert_eq(cfg_rd(cap + 16, 4), 2, "num_queues through the window");
	cfg_wr(cap + 8, 4, VIRTIO_PCI_DEVICE_OFFSET + 4);
	cfg_wr(cap + 12, 4, 4);
	cr_assert_eq(cfg_rd(cap + 16, 4), 0xc7c6c5c4, "device config");
	/* Writes: set ACKNOWLEDGE. */
	cfg_wr(cap + 8, 4, VIRTIO_PCI_COMMON_STATUS);
	cfg_wr(cap + 12, 4, 1);
	cfg_wr(cap + 16, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	enable_mem();
	cr_assert_eq(status(), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	/* The MSI-X BAR: entry 0's control word. */
	cfg_wr(cap + 4, 1, VIRTIO_PCI_MSIX_BAR);
	cfg_wr(cap + 8, 4, 12);
	cfg_wr(cap + 12, 4, 4);
	cr_assert_eq(cfg_rd(cap + 16, 4), 1);
	/* Bad length, misaligned offset, no such BAR: nothing. */
	cfg_wr(cap + 4, 1, VIRTIO_PCI_BAR);
	cfg_wr(cap + 8, 4, VIRTIO_PCI_COMMON_NUMQ);
	cfg_wr(cap + 12, 4, 3);
	cr_assert_eq(cfg_rd(cap + 16, 4), 0);
	cfg_wr(cap + 8, 4, VIRTIO_PCI_COMMON_NUMQ + 1);
	cfg_wr(cap + 12, 4, 2);
	cr_assert_eq(cfg_rd(cap + 16, 4), 0);
	cfg_wr(cap + 4, 1, 2);
	cfg_wr(cap + 8, 4, VIRTIO_PCI_COMMON_NUMQ);
	cr_assert_eq(cfg_rd(cap + 16, 4), 0);
	cfg_wr(cap + 4, 1, VIRTIO_PCI_BAR);
	cfg_wr(cap + 8, 4, 0x10000);
	cr_assert_eq(cfg_rd(cap + 16, 4), 0, "past the BAR");
}

/* ---- teardown ---- */

Test(virtio_pci, destroy_releases_everything)
{
	bring_up();
	virtio_queue_interrupt(&fdev.dev, 0);
	cr_assert_eq(irqs(0x41), 1);
	virtio_pci_destroy(vp);
	vp = NULL;
	cr_assert_eq(fdev.resets, 1, "the device is stopped first");
	cr_assert_eq(nr_io(), 0);
	cr_assert_eq(nr_routes(), 0, "routes released");
	cr_assert_null(fdev.dev.transport);
	cr_assert_eq(cfg_rd(0x00, 4), 0xffffffff);
}

/* ---- virtio_pci_create_ex options (the management device's function) ---- */

struct extra_bar_log {
	int accesses, remaps;
	uint64_t addr;
	bool mapped;
	uint32_t refused; /* features_ok: refuse these bits */
};

static struct extra_bar_log xlog;

static void extra_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	cr_assert_eq(opaque, &xlog);
	xlog.accesses++;
	if (!is_write)
		memset(data, 0xab, len);
}

static void extra_remapped(void *opaque, uint64_t addr, bool mapped)
{
	xlog.remaps++;
	xlog.addr = addr;
	xlog.mapped = mapped;
}

static bool extra_features_ok(void *opaque, uint64_t features)
{
	return !(features & xlog.refused);
}

static const struct virtio_pci_options mgmt_like = {
	.identity = true, .vendor = 0x1af4, .device = 0x10f0, .subsys_vendor = 0x1af4,
	.subsys_id = 0x10f0, .class_code = 0x088000, .revision = 1,
	.own_vectors = 2, .msix_pool = 5,
	.extra_bar = 2, .extra_bar_size = 0x4000, .extra_bar_io = extra_io,
	.bar_remapped = extra_remapped, .features_ok = extra_features_ok, .opaque = &xlog,
};

/* Replace the suite's function by one made with options. */
static void recreate_ex(const struct virtio_pci_options *o)
{
	struct err e;

	memset(&xlog, 0, sizeof(xlog));
	virtio_pci_destroy(vp);
	fake_init(&fdev, 1);
	cr_assert_eq(virtio_pci_create_ex(&vp, &fdev.dev, &host, hv, o, &e), 0, "%s", e.msg);
	slot = virtio_pci_devfn(vp) >> 3;
}

Test(virtio_pci, options_identity)
{
	recreate_ex(&mgmt_like);
	cr_assert_eq(cfg_rd(0x00, 4), 0x10f01af4);
	cr_assert_eq(cfg_rd(0x08, 4), 0x08800001, "class 0x088000, revision 1");
	cr_assert_eq(cfg_rd(0x2c, 4), 0x10f01af4);
	enable_mem();
	cr_assert_eq(device_features(), OFFERED, "features are the device's as before");
}

Test(virtio_pci, options_msix_pool_never_signals)
{
	recreate_ex(&mgmt_like);
	enable_mem();
	cr_assert_eq((cfg_rd(msix_cap() + 2, 2) & 0x7ff) + 1, 7, "2 own + 5 pool entries");
	msix_ctl(0x8000);
	c_wr(VIRTIO_PCI_COMMON_MSIX, 2, 1);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_MSIX, 2), 1, "own entry accepted");
	c_wr(VIRTIO_PCI_COMMON_MSIX, 2, 2);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_MSIX, 2), NO_VECTOR, "pool entry refused");
	c_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	c_wr(VIRTIO_PCI_COMMON_Q_MSIX, 2, 6);
	cr_assert_eq(c_rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), NO_VECTOR);
	msix_program(4, 0x77, false);
	cr_assert_eq(mmio_rd(msix_entry(4), 4), MSI_ADDR, "the pool stores the message");
	cr_assert_eq(mmio_rd(msix_entry(4) + 8, 4), 0x77);
	cr_assert_eq(mmio_rd(msix_entry(4) + 12, 4), 0, "and the mask bit");
	cr_assert_eq(nr_routes(), 0, "no route for a pool entry");
	cr_assert_eq(pba(), 0);
}

Test(virtio_pci, options_extra_bar)
{
	uint64_t addr;

	recreate_ex(&mgmt_like);
	cfg_wr(0x18, 4, 0xffffffff);
	cr_assert_eq(cfg_rd(0x18, 4) & ~0xfU, ~0x3fffU, "BAR2 is 16 KiB");
	cfg_wr(0x18, 4, 0xd0000000);
	enable_mem();
	addr = bar_addr(2);
	cr_assert_eq(addr, 0xd0000000);
	cr_assert_geq(xlog.remaps, 1);
	cr_assert_eq(xlog.addr, addr);
	cr_assert(xlog.mapped);
	cr_assert_eq(mmio_rd(addr + 0x1000, 2), 0xabab);
	mmio_wr(addr + 0x2000, 2, 1);
	cr_assert_eq(xlog.accesses, 2);
	cfg_wr(0x04, 2, 0);
	cr_assert_not(xlog.mapped, "decoding off is told");
}

Test(virtio_pci, options_features_ok_hook)
{
	recreate_ex(&mgmt_like);
	enable_mem();
	xlog.refused = BIT(5);
	cr_assert_not(negotiate(OFFERED) & VIRTIO_CONFIG_S_FEATURES_OK, "hook refuses");
	set_status(0);
	cr_assert(negotiate(OFFERED & ~BIT(5)) & VIRTIO_CONFIG_S_FEATURES_OK);
	set_status(0);
	cr_assert_not(negotiate(BIT(0)) & VIRTIO_CONFIG_S_FEATURES_OK, "VERSION_1 still needed");
}

Test(virtio_pci, options_refused)
{
	struct virtio_pci_options o = mgmt_like;
	struct virtio_pci *vp2;
	struct fake_dev f;
	struct err e;

	fake_init(&f, 2);
	o.msix_pool = VIRTIO_PCI_MSIX_MAX;
	cr_assert_eq(virtio_pci_create_ex(&vp2, &f.dev, &host, hv, &o, &e), -1);
	o = mgmt_like;
	o.extra_bar = VIRTIO_PCI_MSIX_BAR;
	cr_assert_eq(virtio_pci_create_ex(&vp2, &f.dev, &host, hv, &o, &e), -1);
	o = mgmt_like;
	o.extra_bar_size = 0x3000;
	cr_assert_eq(virtio_pci_create_ex(&vp2, &f.dev, &host, hv, &o, &e), -1);
}

/* ---- interrupt counters (metrics) ---- */

/* Injected: irqfd writes (a pending vector's at unmask too); suppressed: not sent. */
Test(virtio_pci, interrupt_counters)
{
	struct virtio_irq_stats st;

	bring_up();
	virtio_pci_irq_stats(vp, &st);
	cr_assert_eq(st.injected, 0);
	cr_assert_eq(st.suppressed, 0);
	virtio_queue_interrupt(&fdev.dev, 0);
	virtio_pci_irq_stats(vp, &st);
	cr_assert_eq(st.injected, 1);
	cr_assert_eq(st.suppressed, 0);
	virtio_queue_interrupt(&fdev.dev, 1); /* NO_VECTOR */
	virtio_pci_irq_stats(vp, &st);
	cr_assert_eq(st.injected, 1);
	cr_assert_eq(st.suppressed, 1, "no vector: suppressed");
	mmio_wr(msix_entry(1) + 12, 4, 1);
	virtio_queue_interrupt(&fdev.dev, 0);
	virtio_queue_interrupt(&fdev.dev, 0);
	virtio_pci_irq_stats(vp, &st);
	cr_assert_eq(st.injected, 1);
	cr_assert_eq(st.suppressed, 3, "masked: pending, suppressed");
	mmio_wr(msix_entry(1) + 12, 4, 0);
	virtio_pci_irq_stats(vp, &st);
	cr_assert_eq(st.injected, 2, "the unmask sent the pending one");
	cr_assert_eq(st.suppressed, 3);
	cr_assert_eq(irqs(0x41), 2);
}
