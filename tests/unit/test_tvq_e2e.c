// SPDX-License-Identifier: Apache-2.0
/*
 * The management device end to end, with tests/unit/lib's in-process guest playing the
 * guest: guest RAM in a buffer, the driver's vrings built there, doorbells and the MSI-X
 * table reached through the MMIO bus and PCI config callbacks that vCPU exits use, KVM's
 * ioeventfds and irqfds emulated by the fake hypervisor. Backends are real: raw images
 * in /tmp, a socket pair or a real TAP for net.
 *
 * Every expected ack names the section of docs/transport-vq.md that fixes it.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "tests/unit/lib/host_net.h"
#include "tests/unit/lib/tvq_driver.h"
#include "virtio/blk.h"
#include "virtio/mgmt.h"
#include "virtio/net.h"
#include "vmm/metrics.h"
#include "vmm/vm.h"

#define RAM_SIZE (64ULL << 20)
#define IMG_SIZE (4U << 20)
#define MAX_MANAGED 8
#define POOL_SIZE 64
#define NR_BLK 3
#define QSIZE 64
#define F(bit) (1ULL << (bit))
#define ACK_DRIVER (TVQ_STATUS_ACKNOWLEDGE | TVQ_STATUS_DRIVER)
#define FEATURES_OK (ACK_DRIVER | TVQ_STATUS_FEATURES_OK)
#define LIVE (FEATURES_OK | TVQ_STATUS_DRIVER_OK)
#define BLK_CONFIG_SIZE ((uint32_t)sizeof(struct virtio_blk_config))

/* ASan's heap in use (sanitizer/allocator_interface.h, which gcc does not install). */
size_t __sanitizer_get_current_allocated_bytes(void);

/* Provisioned backends, in this order: CREATE takes the smallest budget first (6.6). */
static const struct {
	const char *name;
	unsigned int queues;
} blk_backends[NR_BLK] = { { "blk0", 1 }, { "blk1", 1 }, { "blk2", 2 } };

static struct test_guest g;
static struct mgmt *m;
static struct tvq_drv d;
static struct tvq_cmd *raw; /* for hand-made commands */
static char imgs[NR_BLK][64];
static int net_peer = -1;   /* the host end of net0's socket pair */
static struct tvq_mdev md[4];
static char tap_name[IFNAMSIZ];

/* ---- fixture ---- */

/* Byte i of image k. */
static uint8_t pattern(unsigned int k, uint64_t i)
{
	return (uint8_t)(i * 13 + (i >> 9) * 7 + k * 31 + 5);
}

static void make_image(unsigned int k)
{
	uint8_t *buf = malloc(IMG_SIZE);
	int fd;

	snprintf(imgs[k], sizeof(imgs[k]), "/tmp/vqvm-tvq-XXXXXX");
	fd = mkstemp(imgs[k]);
	cr_assert(fd >= 0 && buf);
	for (uint64_t i = 0; i < IMG_SIZE; i++)
		buf[i] = pattern(k, i);
	cr_assert_eq(pwrite(fd, buf, IMG_SIZE, 0), IMG_SIZE);
	close(fd);
	free(buf);
}

static void add_backend(struct virtio_device *dev, const char *name)
{
	struct err e = { { 0 } };
	uint64_t id = 1;

	cr_assert_eq(mgmt_add_backend(m, dev, name, &id, &e), 0, "%s: %s", name, e.msg);
	cr_assert_eq(id, 0, "no pre-creation: the backend only joins the pool");
}

static void add_blk(unsigned int k)
{
	struct blk_config cfg = { .path = imgs[k], .queues = blk_backends[k].queues };
	struct virtio_device *dev;
	struct err e = { { 0 } };

	cr_assert_eq(blk_create(&dev, &cfg, &g.mem, &g.loop, &e), 0, "%s", e.msg);
	add_backend(dev, blk_backends[k].name);
}

static void add_socket_net(void)
{
	struct net_dev_config cfg = { .tap = "sp", .queues = 1 };
	struct virtio_device *dev;
	struct err e = { { 0 } };
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(net_create_fds(&dev, &cfg, &sv[0], &g.mem, &g.loop, &e), 0, "%s", e.msg);
	net_peer = sv[1];
	add_backend(dev, "net0");
}

static void setup(void)
{
	struct mgmt_params p = {
		.max_managed = MAX_MANAGED,
		.msix_pool_size = POOL_SIZE,
		.removal_timeout_ms = 1000,
	};
	struct err e = { { 0 } };

	log_set_level(LOG_ERROR);
	memset(md, 0, sizeof(md));
	cr_assert_eq(tg_init(&g, RAM_SIZE), 0);
	cr_assert_eq(tg_start_loop(&g), 0);
	cr_assert_eq(mgmt_create(&m, &p, &g.host, fake_hv_hv(g.hv), &g.mem, &e), 0, "%s", e.msg);
	for (unsigned int k = 0; k < NR_BLK; k++) {
		make_image(k);
		add_blk(k);
	}
	add_socket_net();
	raw = calloc(1, sizeof(*raw));
	cr_assert_not_null(raw);
	cr_assert_eq(tvq_drv_open(&d, &g, TVQ_MGMT_FEATURES, TVQ_DRV_QSIZE), 0);
}

static void teardown(void)
{
	char cmd[64];

	tvq_drv_close(&d);
	if (m)
		mgmt_destroy(m);
	m = NULL;
	tg_fini(&g);
	for (unsigned int i = 0; i < 4; i++)
		tvq_mdev_free(&md[i]);
	for (unsigned int k = 0; k < NR_BLK; k++)
		unlink(imgs[k]);
	if (net_peer >= 0)
		close(net_peer);
	net_peer = -1;
	if (tap_name[0]) {
		snprintf(cmd, sizeof(cmd), "ip link del %s >/dev/null 2>&1", tap_name);
		if (system(cmd))
			fprintf(stderr, "could not delete %s\n", tap_name);
		tap_name[0] = 0;
	}
	free(raw);
}

TestSuite(tvq, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ---- */

/* A non-fatal ack check that names the call and the doc section. */
#define EXPECT(want, expr, section)                                                        \
	do {                                                                               \
		int got_ = (expr);                                                         \
		cr_expect_eq(got_, (want), "%s (doc %s): got %d, want %d", #expr, section, \
			     got_, (int)(want));                                           \
	} while (0)

/* Send raw as it is (after tvq_cmd_* and any edits); its ack. */
static int send_raw(void)
{
	int ret = tvq_exec(&d, raw);

	cr_assert_eq(ret, 0, "command completed (%d)", ret);
	return tvq_cmd_ack(raw);
}

/* A transportq command with exact out-data and reply buffer sizes (reply incl. header). */
static int tq_raw(uint64_t id, uint16_t class, uint16_t command, const void *out,
		  uint32_t out_len, uint32_t reply_len)
{
	tvq_cmd_tq(raw, id, class, command, out, out_len, 0);
	raw->reply_len = reply_len;
	return send_raw();
}

static int aq_raw(uint16_t command, uint16_t dst_type, uint64_t vdev_id, const void *data,
		  uint32_t len, uint32_t reply_len)
{
	tvq_cmd_aq(raw, command, dst_type, vdev_id, data, len, 0);
	raw->reply_len = reply_len;
	return send_raw();
}

static uint64_t create_blk(void)
{
	uint64_t id = 0;

	EXPECT(TVQ_ACK_OK, tvq_create(&d, TVQ_VIRTIO_ID_BLOCK, 0, NULL, 0, &id), "6.6");
	cr_assert_neq(id, 0);
	return id;
}

static uint8_t status_of(uint64_t id)
{
	uint8_t s = 0xee;

	EXPECT(TVQ_ACK_OK, tvq_status_get(&d, id, &s), "6.9");
	return s;
}

/* Bring a device up to FEATURES_OK with these features (0: every offered one). */
static void to_features_ok(uint64_t id, uint64_t f)
{
	if (!f)
		EXPECT(TVQ_ACK_OK, tvq_feat_get(&d, id, TVQ_CMD_FEAT_DEVICE_GET, &f), "6.8");
	EXPECT(TVQ_ACK_OK, tvq_feat_set(&d, id, f), "6.8");
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, id, TVQ_STATUS_ACKNOWLEDGE), "6.9");
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, id, ACK_DRIVER), "6.9");
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, id, FEATURES_OK), "6.9");
	cr_assert_eq(status_of(id), FEATURES_OK);
}

static uint64_t data_area(uint64_t size)
{
	uint64_t gpa = tg_alloc(&g, size, 4096);

	cr_assert_neq(gpa, 0, "guest RAM left for %lu bytes", (unsigned long)size);
	return gpa;
}

/* Read len bytes at sector of md's image into guest memory and check them. */
static void blk_read_check(struct tvq_mdev *dev, unsigned int img, uint16_t q, uint64_t sector,
			   uint32_t len)
{
	uint64_t buf = data_area(len);
	uint8_t *p = tg_ptr(&g, buf, len);

	cr_assert_eq(tvq_blk_io(&d, dev, q, VIRTIO_BLK_T_IN, sector, buf, len), VIRTIO_BLK_S_OK);
	for (uint32_t i = 0; i < len; i++)
		cr_assert_eq(p[i], pattern(img, sector * 512 + i), "byte %u of sector %lu", i,
			     (unsigned long)sector);
}

/* The witness: blk1 brought up and live, to show others' failures leave it alone. */
static struct tvq_mdev *witness(void)
{
	struct tvq_mdev *w = &md[3];

	/* blk0 first: CREATE picks blk0, then blk1 (6.6). */
	EXPECT(0, tvq_mdev_up(&d, &md[2], TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, QSIZE), "6.6");
	EXPECT(0, tvq_mdev_up(&d, w, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, QSIZE), "6.6");
	return w;
}

/* DEVICE_MGMT assign (8.7); the status. */
static int assign(uint64_t id, uint16_t resource, uint64_t val, uint8_t *cs)
{
	return tvq_device_mgmt(&d, id, TVQ_ADMIN_MGMT_OP_ASSIGN, resource, &val, cs);
}

/* The management device still serves both queues, and the witness still works. */
static void healthy(struct tvq_mdev *w, unsigned int img)
{
	struct tvq_avail_res r;
	uint64_t ids[8], total;
	unsigned int n;

	EXPECT(TVQ_ACK_OK, tvq_avail_res(&d, NULL, &r), "6.7");
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_list(&d, 1, ids, 8, &n, &total), "8.10");
	if (!w)
		return;
	cr_assert_eq(status_of(w->id), LIVE, "the witness is still live");
	blk_read_check(w, img, 0, 3, 1024);
}

/* ---- identity, configuration, negotiation ---- */

Test(tvq, pci_identity_and_device_config)
{
	uint8_t devfn = d.vp.pci.devfn;
	uint64_t bar2;

	cr_assert_eq(tg_cfg_rd(&g, devfn, 0x08, 4), TVQ_PCI_CLASS << 8 | TVQ_PCI_REVISION, "2.1");
	cr_assert_eq(tg_cfg_rd(&g, devfn, 0x2c, 4),
		     TVQ_PCI_SUBSYS_ID << 16 | TVQ_PCI_SUBSYS_VENDOR_ID);
	cr_assert_eq(tg_cfg_rd(&g, devfn, 0x3d, 1), 0, "no INTx pin");
	cr_assert_eq(d.vp.pci.bar_size[0], TVQ_BAR0_SIZE);
	bar2 = (uint64_t)MAX_MANAGED * TVQ_DOORBELL_STRIDE;
	cr_assert_eq(d.vp.pci.bar_size[2], bar2, "2.4: max_managed pages");
	cr_assert_neq(d.vp.pci.bar_size[4], 0);
	cr_assert_eq(d.vp.pci.bar_size[1] | d.vp.pci.bar_size[3] | d.vp.pci.bar_size[5], 0);
	/* 2.2: the capabilities point at the fixed offsets of 2.3. */
	cr_assert_eq(d.vp.common, d.vp.pci.bar[0] + TVQ_BAR0_COMMON);
	cr_assert_eq(d.vp.isr, d.vp.pci.bar[0] + TVQ_BAR0_ISR);
	cr_assert_eq(d.vp.device, d.vp.pci.bar[0] + TVQ_BAR0_DEVICE);
	cr_assert_eq(d.vp.notify, d.vp.pci.bar[0] + TVQ_BAR0_NOTIFY);
	cr_assert_eq(d.vp.notify_mult, TVQ_NOTIFY_OFF_MULTIPLIER);
	cr_assert_eq(d.vq[1].notify, d.vp.notify + 4, "queue_notify_off = q");
	cr_assert_eq(d.vp.nr_queues, TVQ_NUM_QUEUES);
	cr_assert_eq(d.vp.pci.msix_entries, TVQ_MSIX_POOL_FIRST + POOL_SIZE, "2.5");
	cr_assert_eq(d.vp.pci.msix_table, d.vp.pci.bar[4]);
	cr_assert_eq(d.vp.pci.msix_pba, d.vp.pci.bar[4] + d.vp.pci.bar_size[4] / 2);
	/* 3 */
	cr_assert_eq(d.cfg.max_managed, MAX_MANAGED);
	cr_assert_eq(d.cfg.managed_generation, 0);
	cr_assert_eq(d.cfg.msix_pool_first, TVQ_MSIX_POOL_FIRST);
	cr_assert_eq(d.cfg.msix_pool_size, POOL_SIZE);
	cr_assert_eq(d.cfg.doorbell_bar, TVQ_BAR_DOORBELL);
	cr_assert_eq(d.cfg.doorbell_stride, TVQ_DOORBELL_STRIDE);
	cr_assert_eq(d.cfg.removal_timeout_ms, 1000);
	cr_assert_eq(tvq_drv_cfg(&d, 13, 1), 0, "reserved0");
	tg_wr(&g, d.vp.device, 5, 4);
	cr_assert_eq(tvq_drv_cfg(&d, TVQ_CFG_MAX_MANAGED, 4), MAX_MANAGED, "read-only");
	/* 4.1 */
	cr_assert_eq(tg_vpci_device_features(&g, &d.vp), TVQ_MGMT_FEATURES);
	cr_assert_eq(tg_vpci_status(&g, &d.vp), LIVE);
}

/* 2.4, 2.5: BAR2 outside a device's doorbells, and the pool's MSI-X entries. */
Test(tvq, doorbell_bar_and_msix_pool)
{
	struct tvq_mdev *b = &md[0];
	unsigned int pool = d.cfg.msix_pool_first;
	struct fake_hv_stats st0, st1;

	EXPECT(0, tvq_mdev_up(&d, b, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, QSIZE), "6.6");
	/* The OS allocates pool vectors for the device; the device never uses them (2.5). */
	tg_msix_set(&g, &d.vp.pci, pool, TG_MSI_ADDR, 0x7770, false);
	tg_msix_set(&g, &d.vp.pci, pool + 1, TG_MSI_ADDR, 0x7771, true);
	cr_assert_eq(tg_rd(&g, d.vp.pci.msix_table + 16 * pool + 8, 4), 0x7770, "stored");
	fake_hv_get_stats(g.hv, &st0);
	tvq_mdev_kick(&d, b, 1);            /* a queue the device does not have */
	tg_wr(&g, b->doorbell + 4, 0, 2);   /* not offset 0 */
	tg_wr(&g, b->doorbell, 0, 4);       /* not 2 bytes */
	tg_wr(&g, d.doorbell_bar + 5 * TVQ_DOORBELL_STRIDE, 0, 2); /* an unused slot */
	fake_hv_get_stats(g.hv, &st1);
	cr_assert_eq(st1.ioeventfd_hits, st0.ioeventfd_hits, "2.4: none of these is a kick");
	cr_assert_eq(tg_rd(&g, b->doorbell, 2), 0, "2.4: reads 0");
	cr_assert_eq(tg_rd(&g, d.doorbell_bar + 5 * TVQ_DOORBELL_STRIDE, 4), 0);
	blk_read_check(b, 0, 0, 6, 4096);
	cr_assert_not(fake_hv_has_route(g.hv, TG_MSI_ADDR, 0x7770), "2.5: never signalled");
	cr_assert_eq(fake_hv_irqs(g.hv, TG_MSI_ADDR, 0x7770), 0);
	cr_assert_eq(tg_rd(&g, d.vp.pci.msix_pba, 8) >> pool, 0, "2.5: pool PBA bits read 0");
	healthy(b, 0);
}

/* 4.1: FEATURES_OK does not stick for these combinations. */
Test(tvq, features_ok_refused_for_bad_combinations)
{
	static const uint64_t bad[] = {
		TVQ_MGMT_FEATURES & ~F(TVQ_F_TRNSPT_VQ),
		TVQ_MGMT_FEATURES & ~F(TVQ_F_ADMIN_VQ),
		TVQ_MGMT_FEATURES & ~F(TVQ_F_VERSION_1),
	};

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tvq_drv_close(&d);
		cr_expect_eq(tvq_drv_open(&d, &g, bad[i], 16), -EIO, "features %#lx: 4.1",
			     (unsigned long)bad[i]);
	}
	tvq_drv_close(&d);
	cr_assert_eq(tvq_drv_open(&d, &g, TVQ_MGMT_FEATURES, 64), 0, "and then a good set");
	healthy(NULL, 0);
}

/* 4.1, 6.4 step 2, 8.3 step 2: queues without their feature bits. */
Test(tvq, queues_without_their_features)
{
	struct tvq_avail_res r;
	uint64_t ids[2], total;
	unsigned int n;

	tvq_drv_close(&d);
	cr_assert_eq(tvq_drv_open(&d, &g, F(TVQ_F_VERSION_1) | F(TVQ_F_TRNSPT_VQ), 16), 0);
	EXPECT(TVQ_ACK_EOPNOTSUPP, tvq_avail_res(&d, NULL, &r), "4.1: TRNSPT_VQ_VDEV missing");
	EXPECT(TVQ_ACK_EOPNOTSUPP, tvq_create(&d, TVQ_VIRTIO_ID_BLOCK, 0, NULL, 0, NULL), "6.4");
	/* Step 2 comes before step 3: even a request too short for a header. */
	tvq_cmd_tq(raw, 0, TVQ_CLASS_AVAIL_RES, TVQ_CMD_AVAIL_RES_GET, NULL, 0, 8);
	raw->req_len = 3;
	EXPECT(TVQ_ACK_EOPNOTSUPP, send_raw(), "6.4 step 2");
	EXPECT(TVQ_ADMIN_STATUS_INVALID_COMMAND, tvq_list(&d, 1, ids, 2, &n, &total),
	       "8.3 step 2");
	tvq_drv_close(&d);
	cr_assert_eq(tvq_drv_open(&d, &g, TVQ_MGMT_FEATURES, 64), 0);
	healthy(NULL, 0);
}

/* ---- the success path of every command ---- */

Test(tvq, vdev_create_destroy_and_generation)
{
	struct tvq_admin_device_info_result info;
	uint64_t cfg_irqs = fake_hv_irqs(g.hv, TG_MSI_ADDR, TVQ_DRV_MSI_CONFIG);
	uint64_t id, id2;

	id = create_blk();
	cr_assert_eq(id, 1, "6.2: ids from 1");
	cr_assert_eq(tvq_drv_cfg(&d, TVQ_CFG_MANAGED_GENERATION, 4), 1, "3: bumped by CREATE");
	cr_assert_geq(fake_hv_irqs(g.hv, TG_MSI_ADDR, TVQ_DRV_MSI_CONFIG), cfg_irqs + 1,
		      "3: config interrupt before the reply");
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_device_info(&d, id, &info), "8.6");
	cr_assert_eq(info.vdev_id, id);
	cr_assert_eq(info.virtio_device_id, TVQ_VIRTIO_ID_BLOCK);
	cr_assert_eq(info.num_queues, 1);
	cr_assert_eq(info.state, TVQ_STATE_CREATED);
	cr_assert_eq(info.device_status, 0);
	cr_assert_eq(info.origin, TVQ_ORIGIN_CREATE);
	cr_assert_eq(info.msix_budget, 2, "7.3: queues + 1");
	cr_assert_eq(info.msix_in_use, 0);
	cr_assert_eq(info.slot, 0, "lowest free slot");
	cr_assert_str_eq((char *)info.backend_name, "blk0", "6.6: smallest budget, then order");
	cr_assert_eq(info.config_size, BLK_CONFIG_SIZE);
	EXPECT(TVQ_ACK_OK, tvq_destroy(&d, id), "6.6: DESTROY before DRIVER_OK");
	cr_assert_eq(tvq_drv_cfg(&d, TVQ_CFG_MANAGED_GENERATION, 4), 2);
	EXPECT(TVQ_ACK_ENODEV, tvq_destroy(&d, id), "6.2");
	id2 = create_blk();
	cr_assert_eq(id2, 2, "6.2: never reused");
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_device_info(&d, id2, &info), "8.6");
	cr_assert_eq(info.slot, 0, "slots are reused");
	cr_assert_str_eq((char *)info.backend_name, "blk0", "the backend went back to the pool");
}

Test(tvq, avail_res_counts)
{
	struct tvq_avail_res r;
	uint32_t type;

	EXPECT(TVQ_ACK_OK, tvq_avail_res(&d, NULL, &r), "6.7");
	cr_expect_eq(r.num_avail_vqs, 1 + 1 + 2 + 3, "every free backend's queues");
	cr_expect_eq(r.min_vdev_vqs, 1);
	cr_expect_eq(r.max_vdev_vqs, 3);
	cr_expect_eq(r.num_avail_vdev, 4);
	type = TVQ_VIRTIO_ID_BLOCK;
	EXPECT(TVQ_ACK_OK, tvq_avail_res(&d, &type, &r), "6.7");
	cr_expect(r.num_avail_vqs == 4 && r.min_vdev_vqs == 1 && r.max_vdev_vqs == 2 &&
		  r.num_avail_vdev == 3, "blk: %u %u %u %u", r.num_avail_vqs, r.min_vdev_vqs,
		  r.max_vdev_vqs, r.num_avail_vdev);
	type = TVQ_VIRTIO_ID_NET;
	EXPECT(TVQ_ACK_OK, tvq_avail_res(&d, &type, &r), "6.7");
	cr_expect(r.num_avail_vqs == 3 && r.min_vdev_vqs == 3 && r.max_vdev_vqs == 3 &&
		  r.num_avail_vdev == 1, "net: %u %u %u %u", r.num_avail_vqs, r.min_vdev_vqs,
		  r.max_vdev_vqs, r.num_avail_vdev);
	type = 7;
	EXPECT(TVQ_ACK_OK, tvq_avail_res(&d, &type, &r), "6.7");
	cr_expect_eq(r.num_avail_vqs | r.min_vdev_vqs | r.max_vdev_vqs | r.num_avail_vdev, 0,
		     "unknown type: zeros");
	create_blk();
	type = TVQ_VIRTIO_ID_BLOCK;
	EXPECT(TVQ_ACK_OK, tvq_avail_res(&d, &type, &r), "6.7");
	cr_expect_eq(r.num_avail_vdev, 2);
	cr_expect_eq(r.num_avail_vqs, 3);
}

Test(tvq, feature_status_generation_config_commands)
{
	struct virtio_blk_config bc;
	uint64_t id = create_blk(), f = 0, got = 1;
	uint32_t gen = 7;
	uint8_t buf[8];

	EXPECT(TVQ_ACK_OK, tvq_feat_get(&d, id, TVQ_CMD_FEAT_DEVICE_GET, &f), "6.8");
	cr_assert(f & F(TVQ_F_VERSION_1), "4.2: VERSION_1 always");
	cr_assert_eq(f & TVQ_MANAGED_NEVER_FEATURES, 0, "4.2");
	cr_assert(f & F(TVQ_F_RING_RESET));
	EXPECT(TVQ_ACK_OK, tvq_feat_get(&d, id, TVQ_CMD_FEAT_DRIVER_GET, &got), "6.8");
	cr_assert_eq(got, 0, "nothing accepted yet");
	EXPECT(TVQ_ACK_OK, tvq_feat_set(&d, id, F(TVQ_F_VERSION_1)), "6.8");
	EXPECT(TVQ_ACK_OK, tvq_feat_set(&d, id, f), "6.8: replaces the previous value");
	EXPECT(TVQ_ACK_OK, tvq_feat_get(&d, id, TVQ_CMD_FEAT_DRIVER_GET, &got), "6.8");
	cr_assert_eq(got, f);
	cr_assert_eq(status_of(id), 0);
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, id, TVQ_STATUS_ACKNOWLEDGE), "6.9");
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, id, ACK_DRIVER), "6.9");
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, id, FEATURES_OK), "6.9");
	cr_assert_eq(status_of(id), FEATURES_OK);
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, id, FEATURES_OK | TVQ_STATUS_DEVICE_NEEDS_RESET),
	       "6.9 step 2: bit 64 ignored in writes");
	cr_assert_eq(status_of(id), FEATURES_OK);
	EXPECT(TVQ_ACK_OK, tvq_generation(&d, id, &gen), "6.10");
	cr_assert_eq(gen, 0);
	/* 6.11: capacity, read whole and in pieces; writes to read-only fields ignored. */
	EXPECT(TVQ_ACK_OK, tvq_config_get(&d, id, 0, sizeof(bc), &bc), "6.11");
	cr_assert_eq(bc.capacity, IMG_SIZE / 512);
	EXPECT(TVQ_ACK_OK, tvq_config_get(&d, id, 1, 1, buf), "6.11");
	cr_assert_eq(buf[0], (IMG_SIZE / 512) >> 8);
	memset(buf, 0x5a, sizeof(buf));
	EXPECT(TVQ_ACK_OK, tvq_config_set(&d, id, 0, 8, buf), "6.11: read-only, still OK");
	EXPECT(TVQ_ACK_OK, tvq_config_get(&d, id, 0, 8, &got), "6.11");
	cr_assert_eq(got, IMG_SIZE / 512);
	EXPECT(TVQ_ACK_OK, tvq_config_get(&d, id, BLK_CONFIG_SIZE - 1, 1, buf), "6.11: last");
	/* Reset: status and features back to 0 (7.4). */
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, id, 0), "6.9");
	cr_assert_eq(status_of(id), 0);
	EXPECT(TVQ_ACK_OK, tvq_feat_get(&d, id, TVQ_CMD_FEAT_DRIVER_GET, &got), "6.8");
	cr_assert_eq(got, 0);
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, id, TVQ_STATUS_FAILED), "6.9: FAILED any time");
}

Test(tvq, queue_and_msi_commands)
{
	struct tvq_admin_device_info_result info;
	struct tvq_vq_notify_get_in nt;
	struct tg_vring vr;
	uint64_t id = create_blk();
	uint16_t v16 = 0;
	uint8_t v8 = 9;

	cr_assert_eq(tg_vring_init(&g, &vr, 16), 0);
	EXPECT(TVQ_ACK_OK, tvq_vq_get(&d, id, TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, 0, &v16, 2),
	       "6.15");
	cr_assert_eq(v16, BLK_QUEUE_SIZE, "the maximum first");
	EXPECT(TVQ_ACK_OK, tvq_vq_size_set(&d, id, 0, 16), "6.15");
	EXPECT(TVQ_ACK_OK, tvq_vq_get(&d, id, TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, 0, &v16, 2),
	       "6.15");
	cr_assert_eq(v16, 16);
	EXPECT(TVQ_ACK_OK, tvq_vq_addr(&d, id, 0, vr.desc_gpa, vr.avail_gpa, vr.used_gpa), "6.13");
	EXPECT(TVQ_ACK_OK, tvq_asid_set(&d, id, 0, 0), "6.19");
	EXPECT(TVQ_ACK_OK, tvq_vq_avail_set(&d, id, 0, 5), "6.17");
	EXPECT(TVQ_ACK_OK,
	       tvq_vq_get(&d, id, TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_GET, 0, &v16, 2),
	       "6.17");
	cr_assert_eq(v16, 5);
	EXPECT(TVQ_ACK_OK, tvq_vq_avail_set(&d, id, 0, 0), "6.17");
	EXPECT(TVQ_ACK_OK, tvq_vq_get(&d, id, TVQ_CLASS_VQ_NOTIFY, TVQ_CMD_VQ_NOTIFY_GET, 0, &nt,
				      sizeof(nt)), "6.16");
	cr_assert_eq(nt.addr, 0, "slot 0");
	cr_assert_eq(nt.size, TVQ_DOORBELL_STRIDE);
	/* MSI (6.12): messages, flags; budget use in DEVICE_INFO. */
	EXPECT(TVQ_ACK_OK, tvq_msi_vq_set(&d, id, 0, TG_MSI_ADDR, 0x4041), "6.12");
	EXPECT(TVQ_ACK_OK, tvq_msi_vq_set(&d, id, 0, TVQ_MSI_ADDR_LAST & ~3ULL, 0x4042),
	       "6.12: an update of a set entry");
	EXPECT(TVQ_ACK_OK, tvq_msi_vq_flag(&d, id, TVQ_CMD_MSI_VQ_ENABLE, 0, 1), "6.12");
	EXPECT(TVQ_ACK_OK, tvq_msi_vq_flag(&d, id, TVQ_CMD_MSI_VQ_MASK, 0, 1), "6.12");
	EXPECT(TVQ_ACK_OK, tvq_msi_vq_flag(&d, id, TVQ_CMD_MSI_VQ_MASK, 0, 0), "6.12");
	EXPECT(TVQ_ACK_OK, tvq_msi_config_set(&d, id, TG_MSI_ADDR, 0x4050), "6.12");
	EXPECT(TVQ_ACK_OK, tvq_msi_config_flag(&d, id, TVQ_CMD_MSI_CONFIG_ENABLE, 1), "6.12");
	EXPECT(TVQ_ACK_OK, tvq_msi_config_flag(&d, id, TVQ_CMD_MSI_CONFIG_MASK, 1), "6.12");
	EXPECT(TVQ_ACK_OK, tvq_msi_config_flag(&d, id, TVQ_CMD_MSI_CONFIG_MASK, 0), "6.12");
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_device_info(&d, id, &info), "8.6");
	cr_assert_eq(info.msix_in_use, 2);
	cr_assert(fake_hv_has_route(g.hv, TVQ_MSI_ADDR_LAST & ~3ULL, 0x4042), "6.12: routed");
	/* Enable: needs FEATURES_OK (6.14). */
	to_features_ok(id, 0);
	EXPECT(TVQ_ACK_OK, tvq_vq_enable(&d, id, 0, 1), "6.14");
	EXPECT(TVQ_ACK_OK, tvq_vq_enable(&d, id, 0, 1), "6.14: already enabled: OK");
	EXPECT(TVQ_ACK_OK,
	       tvq_vq_get(&d, id, TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, 0, &v8, 1), "6.14");
	cr_assert_eq(v8, 1);
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, id, LIVE), "6.9");
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_device_info(&d, id, &info), "8.6");
	cr_assert_eq(info.state, TVQ_STATE_LIVE);
	EXPECT(TVQ_ACK_OK, tvq_vq_enable(&d, id, 0, 0), "6.14: stop");
	EXPECT(TVQ_ACK_OK,
	       tvq_vq_get(&d, id, TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, 0, &v8, 1), "6.14");
	cr_assert_eq(v8, 0);
	EXPECT(TVQ_ACK_OK, tvq_vq_enable(&d, id, 0, 0), "6.14: disabled: OK");
	EXPECT(TVQ_ACK_OK, tvq_vq_reset(&d, id, 0), "6.18");
	EXPECT(TVQ_ACK_OK, tvq_vq_get(&d, id, TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, 0, &v16, 2),
	       "6.15");
	cr_assert_eq(v16, BLK_QUEUE_SIZE, "7.5: back to the maximum");
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_device_info(&d, id, &info), "8.6");
	cr_assert_eq(info.msix_in_use, 2, "7.5: VQ_RESET keeps the MSI entry");
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, id, 0), "6.9");
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_device_info(&d, id, &info), "8.6");
	cr_assert_eq(info.msix_in_use, 0, "7.4: a reset releases the entries");
	cr_assert_not(fake_hv_has_route(g.hv, TVQ_MSI_ADDR_LAST & ~3ULL, 0x4042), "7.4");
	tg_vring_free(&vr);
}

Test(tvq, admin_commands)
{
	struct tvq_admin_device_identify_result id_r;
	struct tvq_admin_device_mgmt_attrs_result at;
	struct tvq_admin_device_mgmt_caps_result *caps = malloc(sizeof(*caps));
	uint64_t a = create_blk(), b = create_blk(), ids[4], total, val;
	unsigned int n;
	uint8_t cs = 9;

	cr_assert_not_null(caps);
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_aq(&d, TVQ_ADMIN_CMD_DEVICE_IDENTIFY, TVQ_ADMIN_DST_SELF, 0,
					   NULL, 0, &id_r, sizeof(id_r), &cs), "8.4");
	cr_assert_eq(cs, 0);
	cr_assert_eq(id_r.attrs_mask, 0xf);
	cr_assert_eq(id_r.vdev_id, 0);
	cr_assert_eq(id_r.optional_caps_support, 0x6);
	cr_assert_eq(id_r.num_supported_managed_vdevs, MAX_MANAGED);
	cr_assert_eq(id_r.max_managed_vdev_id, b);
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_aq(&d, TVQ_ADMIN_CMD_DEVICE_IDENTIFY, TVQ_ADMIN_DST_MANAGED,
					   a, NULL, 0, &id_r, sizeof(id_r), NULL), "8.4");
	cr_assert(id_r.attrs_mask == 0x3 && id_r.vdev_id == a && !id_r.optional_caps_support &&
		  !id_r.num_supported_managed_vdevs && !id_r.max_managed_vdev_id);
	EXPECT(TVQ_ADMIN_STATUS_OK,
	       tvq_aq(&d, TVQ_ADMIN_CMD_DEVICE_MGMT_CAPS, TVQ_ADMIN_DST_SELF, 0, NULL, 0, caps,
		      sizeof(*caps), NULL), "8.8");
	cr_assert_eq(caps->caps[0], 0x3, "8.8: MSI-X and, negotiated, features");
	for (unsigned int i = 1; i < sizeof(caps->caps); i++)
		cr_assert_eq(caps->caps[i], 0);
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_aq(&d, TVQ_ADMIN_CMD_DEVICE_MGMT_ATTRS, TVQ_ADMIN_DST_SELF,
					   0, NULL, 0, &at, sizeof(at), NULL), "8.9");
	cr_assert_eq(at.attrs_mask, 0xf);
	cr_assert_eq(at.total_msix_count, POOL_SIZE);
	cr_assert_eq(at.assigned_msix_count, 4, "two budgets of 2");
	cr_assert_eq(at.per_device_max_msix_count, POOL_SIZE);
	cr_assert(at.managed_device_features_63_0 & F(TVQ_F_VERSION_1));
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_list(&d, 1, ids, 4, &n, &total), "8.10");
	cr_assert(n == 2 && total == 2 && ids[0] == a && ids[1] == b);
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_list(&d, b, ids, 4, &n, &total), "8.10");
	cr_assert(n == 1 && total == 2 && ids[0] == b);
	/* DEVICE_MGMT (8.7): query, assign while status 0, the value in force. */
	val = 0;
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_device_mgmt(&d, a, TVQ_ADMIN_MGMT_OP_QUERY,
						    TVQ_ADMIN_MGMT_RSC_MSIX, &val, &cs), "8.7");
	cr_assert_eq(val, 2);
	val = 5;
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_device_mgmt(&d, a, TVQ_ADMIN_MGMT_OP_ASSIGN,
						    TVQ_ADMIN_MGMT_RSC_MSIX, &val, &cs), "8.7");
	cr_assert_eq(val, 5);
	val = F(TVQ_F_VERSION_1) | F(TVQ_F_INDIRECT_DESC);
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_device_mgmt(&d, a, TVQ_ADMIN_MGMT_OP_ASSIGN,
						    TVQ_ADMIN_MGMT_RSC_FEATURES_63_0, &val, &cs),
	       "8.7");
	cr_assert_eq(val, F(TVQ_F_VERSION_1) | F(TVQ_F_INDIRECT_DESC), "now offered");
	EXPECT(TVQ_ACK_OK, tvq_feat_get(&d, a, TVQ_CMD_FEAT_DEVICE_GET, &val), "6.8");
	cr_assert_eq(val, F(TVQ_F_VERSION_1) | F(TVQ_F_INDIRECT_DESC), "4.2");
	val = 0;
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_device_mgmt(&d, a, TVQ_ADMIN_MGMT_OP_QUERY,
						    TVQ_ADMIN_MGMT_RSC_MSIX, &val, NULL), "8.7");
	cr_assert_eq(val, 5, "kept");
	free(caps);
}

/* 5.2: headers and data split across descriptors anywhere. */
Test(tvq, framing_ignores_descriptor_boundaries)
{
	struct tvq_vdev_create_out o = { .virtio_device_id = TVQ_VIRTIO_ID_BLOCK };
	static const uint32_t req_cuts[] = { 1, 3, 5, 7, 9, 0 };
	static const uint32_t reply_cuts[] = { 1, 2, 3, 0 };
	uint64_t id;

	tvq_cmd_tq(raw, 0, TVQ_CLASS_VDEV, TVQ_CMD_VDEV_CREATE, &o, sizeof(o), 8);
	memcpy(raw->req_split, req_cuts, sizeof(req_cuts));
	memcpy(raw->reply_split, reply_cuts, sizeof(reply_cuts));
	EXPECT(TVQ_ACK_OK, send_raw(), "5.2");
	cr_assert_eq(raw->used_len, 12);
	memcpy(&id, raw->reply + 4, 8);
	cr_assert_eq(id, 1);
	/* Adminq too, with a long reply buffer: nothing past the used length is written. */
	tvq_cmd_aq(raw, TVQ_ADMIN_CMD_DEVICE_INFO, TVQ_ADMIN_DST_MANAGED, id, NULL, 0, 128 + 64);
	memcpy(raw->req_split, reply_cuts, sizeof(reply_cuts));
	memcpy(raw->reply_split, req_cuts, sizeof(req_cuts));
	EXPECT(TVQ_ADMIN_STATUS_OK, send_raw(), "8.1");
	cr_assert_eq(raw->used_len, 8 + 128);
	for (unsigned int i = 8 + 128; i < raw->reply_len; i++)
		cr_assert_eq(raw->reply[i], TVQ_DRV_POISON, "5.2: byte %u untouched", i);
}

/* 5.3: many commands in flight on both queues, matched by head. */
Test(tvq, commands_in_flight_complete_by_head)
{
	struct tvq_cmd *c = calloc(96, sizeof(*c));
	uint64_t a = create_blk(), b = create_blk();
	unsigned int i;

	cr_assert_not_null(c);
	for (i = 0; i < 96; i++) {
		uint64_t id = i % 2 ? a : b;

		if (i % 3 == 2)
			tvq_cmd_aq(&c[i], TVQ_ADMIN_CMD_DEVICE_INFO, TVQ_ADMIN_DST_MANAGED, id,
				   NULL, 0, 128);
		else
			tvq_cmd_tq(&c[i], id, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_GET, NULL, 0, 1);
		cr_assert_eq(tvq_submit(&d, &c[i]), 0);
	}
	tvq_kick(&d, 0);
	tvq_kick(&d, 1);
	for (i = 0; i < 96; i++) {
		uint64_t id = i % 2 ? a : b, got;

		cr_assert_eq(tvq_wait(&d, &c[i]), 0, "command %u", i);
		cr_assert_eq(tvq_cmd_ack(&c[i]), 0);
		if (i % 3 == 2) {
			memcpy(&got, c[i].reply + 8, 8);
			cr_assert_eq(got, id, "reply %u belongs to its command", i);
		} else {
			cr_assert_eq(c[i].used_len, 5);
		}
	}
	free(c);
}

/* ---- bad inputs ---- */

/* 5.2, 6.4 steps 1 and 3, 8.3 steps 1 and 3. */
Test(tvq, bad_framing)
{
	struct tvq_mdev *w = witness();
	struct tvq_avail_res before, after;
	struct tvq_vdev_create_out o = { .virtio_device_id = TVQ_VIRTIO_ID_NET };
	uint8_t s = 0;

	EXPECT(TVQ_ACK_OK, tvq_avail_res(&d, NULL, &before), "6.7");
	for (uint32_t len = 0; len < 4; len++) {
		EXPECT(TVQ_DRV_NO_REPLY,
		       tq_raw(0, TVQ_CLASS_VDEV, TVQ_CMD_VDEV_CREATE, &o, sizeof(o), len),
		       "5.2: reply under 4 bytes");
		for (uint32_t i = 0; i < len; i++)
			cr_expect_eq(raw->reply[i], TVQ_DRV_POISON, "nothing written");
	}
	EXPECT(TVQ_ACK_OK, tvq_avail_res(&d, NULL, &after), "6.7");
	cr_assert_eq(after.num_avail_vdev, before.num_avail_vdev, "5.2: nothing done");
	for (uint32_t len = 0; len < 8; len++)
		EXPECT(TVQ_DRV_NO_REPLY, aq_raw(TVQ_ADMIN_CMD_DEVICE_INFO, 1, w->id, NULL, 0, len),
		       "5.2: adminq reply under 8 bytes");
	/* Request shorter than the header: 15 bytes, and none at all. */
	tvq_cmd_tq(raw, w->id, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_GET, NULL, 0, 1);
	raw->req_len = 15;
	EXPECT(TVQ_ACK_EINVAL, send_raw(), "6.4 step 3");
	cr_assert_eq(raw->used_len, 4, "6.1: 4 on any other ack");
	raw->req_len = 0;
	EXPECT(TVQ_ACK_EINVAL, send_raw(), "6.4 step 3");
	tvq_cmd_aq(raw, TVQ_ADMIN_CMD_DEVICE_INFO, 1, w->id, NULL, 0, 128);
	raw->req_len = 23;
	EXPECT(TVQ_ADMIN_STATUS_INVALID_FIELD, send_raw(), "8.3 step 3");
	cr_assert_eq(raw->used_len, 8);
	/* Out-data lengths are exact; reply room minimal (6.4 step 8). */
	EXPECT(TVQ_ACK_EINVAL, tq_raw(w->id, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_SET, &s, 0, 4),
	       "6.4 step 8: STATUS SET without out-data");
	EXPECT(TVQ_ACK_EINVAL, tq_raw(w->id, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_GET, &s, 1, 5),
	       "6.4 step 8: out-data on a GET without any");
	EXPECT(TVQ_ACK_EINVAL, tq_raw(w->id, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_GET, NULL, 0, 4),
	       "6.4 step 8: no room for the in-data");
	EXPECT(TVQ_ACK_EINVAL, tq_raw(0, TVQ_CLASS_AVAIL_RES, TVQ_CMD_AVAIL_RES_GET, &o, 4, 12),
	       "6.5: AVAIL_RES out-data 0 or 8");
	EXPECT(TVQ_ACK_EINVAL, tq_raw(0, TVQ_CLASS_VDEV, TVQ_CMD_VDEV_CREATE, &o, 15, 12),
	       "6.5: CREATE under 16");
	EXPECT(TVQ_ACK_OK, tq_raw(w->id, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_GET, NULL, 0, 4 + 64),
	       "6.5: a longer reply buffer is fine");
	cr_assert_eq(raw->used_len, 5);
	cr_assert_eq(raw->reply[4], LIVE);
	cr_assert_eq(raw->reply[5], TVQ_DRV_POISON, "5.2: nothing beyond the used length");
	EXPECT(TVQ_ADMIN_STATUS_INVALID_FIELD,
	       aq_raw(TVQ_ADMIN_CMD_DEVICE_INFO, 1, w->id, &s, 1, 8 + 128), "8.3 step 5: data");
	EXPECT(TVQ_ADMIN_STATUS_OK, aq_raw(TVQ_ADMIN_CMD_DEVICE_INFO, 1, w->id, NULL, 0, 8 + 10),
	       "8.1: a short result buffer");
	cr_assert_eq(raw->used_len, 18, "8.1: what fits");
	healthy(w, 1);
}

/* 6.4 steps 4-7 and 6.2, in their order. */
Test(tvq, bad_headers_ids_and_commands)
{
	struct tvq_mdev *w = witness();
	struct tvq_vdev_create_out o = { .virtio_device_id = TVQ_VIRTIO_ID_BLOCK };
	static const uint16_t bad_cmds[][2] = {
		{ 0, 0 }, { 15, 0 }, { 0xffff, 0 }, { TVQ_CLASS_VQ_NOTIFY, 0 },
		{ TVQ_CLASS_FEAT, 3 }, { TVQ_CLASS_VDEV, 2 }, { TVQ_CLASS_MSI, 6 },
		{ TVQ_CLASS_ASID, 1 },
	};
	uint64_t dead;
	uint8_t s;

	for (unsigned int i = 0; i < sizeof(bad_cmds) / sizeof(bad_cmds[0]); i++)
		EXPECT(TVQ_ACK_EOPNOTSUPP,
		       tq_raw(w->id, bad_cmds[i][0], bad_cmds[i][1], NULL, 0, 64),
		       "6.4 step 4 / 6.5");
	/* Step 4 before 5, 6 and 7. */
	tvq_cmd_tq(raw, 0, 0, 0, NULL, 0, 0);
	raw->req[12] = 1;
	EXPECT(TVQ_ACK_EOPNOTSUPP, send_raw(), "6.4: step 4 first");
	tvq_cmd_tq(raw, 12345, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_GET, NULL, 0, 1);
	raw->req[15] = 1;
	EXPECT(TVQ_ACK_EINVAL, send_raw(), "6.4 step 5: reserved, before the id check");
	/* device_id 0 where not allowed, non-zero where it must be 0. */
	EXPECT(TVQ_ACK_EINVAL, tvq_status_get(&d, 0, &s), "6.2");
	EXPECT(TVQ_ACK_EINVAL, tvq_destroy(&d, 0), "6.2");
	EXPECT(TVQ_ACK_EINVAL,
	       tq_raw(w->id, TVQ_CLASS_VDEV, TVQ_CMD_VDEV_CREATE, &o, sizeof(o), 12),
	       "6.2: CREATE with an id");
	EXPECT(TVQ_ACK_EINVAL,
	       tq_raw(w->id, TVQ_CLASS_AVAIL_RES, TVQ_CMD_AVAIL_RES_GET, NULL, 0, 12),
	       "6.2: AVAIL_RES with an id");
	EXPECT(TVQ_ACK_EINVAL,
	       tq_raw(424242, TVQ_CLASS_AVAIL_RES, TVQ_CMD_AVAIL_RES_GET, NULL, 0, 12),
	       "6.4 step 6 before 7");
	/* Unknown and destroyed ids; step 7 before step 8. */
	EXPECT(TVQ_ACK_ENODEV, tvq_status_get(&d, 424242, &s), "6.2");
	EXPECT(TVQ_ACK_ENODEV, tq_raw(424242, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_SET, NULL, 0, 4),
	       "6.4 step 7 before 8");
	dead = create_blk();
	EXPECT(TVQ_ACK_OK, tvq_destroy(&d, dead), "6.6");
	EXPECT(TVQ_ACK_ENODEV, tvq_status_get(&d, dead, &s), "6.2: destroyed");
	EXPECT(TVQ_ADMIN_STATUS_INVALID_VDEV_ID,
	       aq_raw(TVQ_ADMIN_CMD_DEVICE_INFO, 1, dead, NULL, 0, 8 + 128), "8.2");
	/* DESTROY of a live device (6.6). */
	EXPECT(TVQ_ACK_EBUSY, tvq_destroy(&d, w->id), "6.6: DRIVER_OK set");
	healthy(w, 1);
}

/* Every command that takes a queue index, with one past the last queue (6.5). */
Test(tvq, queue_index_out_of_range)
{
	struct tvq_mdev *w = witness();
	struct tvq_admin_device_info_result info;
	uint64_t id = create_blk();
	uint8_t out[32] = { 0 }, in[16];
	static const struct {
		uint16_t class, command;
		uint32_t out_len, in_len;
	} cmds[] = {
		{ TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_SET, 24, 0 },
		{ TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_ENABLE, 4, 0 },
		{ TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_MASK, 4, 0 },
		{ TVQ_CLASS_VQ_ADDR, TVQ_CMD_VQ_ADDR_SET, 32, 0 },
		{ TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 4, 0 },
		{ TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, 2, 1 },
		{ TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_SET, 4, 0 },
		{ TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, 2, 2 },
		{ TVQ_CLASS_VQ_NOTIFY, TVQ_CMD_VQ_NOTIFY_GET, 2, 16 },
		{ TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_SET, 4, 0 },
		{ TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_GET, 2, 2 },
		{ TVQ_CLASS_VQ_RESET, TVQ_CMD_VQ_RESET_RESET, 2, 0 },
		{ TVQ_CLASS_ASID, TVQ_CMD_ASID_SET, 8, 0 },
	};

	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_device_info(&d, id, &info), "8.6");
	cr_assert_eq(info.num_queues, 2, "blk2");
	for (unsigned int i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		for (uint16_t q = 2; q != 0; q = q == 2 ? 0xffff : 0) {
			out[0] = q;
			out[1] = q >> 8;
			EXPECT(TVQ_ACK_EINVAL, tvq_tq(&d, id, cmds[i].class, cmds[i].command, out,
						      cmds[i].out_len, in, cmds[i].in_len),
			       "6.5: queue_index not below num_queues");
		}
	}
	healthy(w, 1);
}

/* 6.15, 6.13, 6.14: sizes, addresses, enable preconditions. */
Test(tvq, bad_queue_setup)
{
	struct tvq_mdev *w = witness();
	uint64_t id = create_blk(), ram_end = guest_mem_low_end(&g.mem);
	struct tvq_vq_addr_set_out a = { 0 };
	struct tg_vring vr;
	uint8_t en[4] = { 0, 0, 1, 0 };

	cr_assert_eq(tg_vring_init(&g, &vr, 16), 0);
	EXPECT(TVQ_ACK_EINVAL, tvq_vq_size_set(&d, id, 0, 0), "6.15: size 0");
	EXPECT(TVQ_ACK_EINVAL, tvq_vq_size_set(&d, id, 0, 24), "6.15: not a power of two");
	EXPECT(TVQ_ACK_EINVAL, tvq_vq_size_set(&d, id, 0, 512), "6.15: above the maximum");
	EXPECT(TVQ_ACK_EINVAL, tvq_vq_addr(&d, id, 0, 0x10008, 0x20000, 0x30000), "6.13: desc/16");
	EXPECT(TVQ_ACK_EINVAL, tvq_vq_addr(&d, id, 0, 0x10000, 0x20001, 0x30000), "6.13: avail/2");
	EXPECT(TVQ_ACK_EINVAL, tvq_vq_addr(&d, id, 0, 0x10000, 0x20000, 0x30002), "6.13: used/4");
	a.reserved[5] = 1;
	EXPECT(TVQ_ACK_EINVAL, tvq_tq(&d, id, TVQ_CLASS_VQ_ADDR, TVQ_CMD_VQ_ADDR_SET, &a, sizeof(a),
				      NULL, 0), "6.13: reserved");
	EXPECT(TVQ_ACK_EBUSY, tvq_vq_enable(&d, id, 0, 1), "6.14: before FEATURES_OK");
	to_features_ok(id, 0);
	EXPECT(TVQ_ACK_EBUSY, tvq_vq_enable(&d, id, 0, 1), "6.14: addresses not set");
	EXPECT(TVQ_ACK_EINVAL, tvq_vq_enable(&d, id, 0, 2), "6.14: flag");
	en[3] = 1;
	EXPECT(TVQ_ACK_EINVAL,
	       tvq_tq(&d, id, TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, en, 4, NULL, 0),
	       "6.14: reserved");
	/* Outside guest RAM: recorded, refused at enable (6.13, 6.14). */
	EXPECT(TVQ_ACK_OK, tvq_vq_size_set(&d, id, 0, 16), "6.15");
	EXPECT(TVQ_ACK_OK,
	       tvq_vq_addr(&d, id, 0, ram_end - 128, vr.avail_gpa, vr.used_gpa), "6.13");
	EXPECT(TVQ_ACK_EINVAL, tvq_vq_enable(&d, id, 0, 1), "6.14: desc table past RAM");
	EXPECT(TVQ_ACK_OK,
	       tvq_vq_addr(&d, id, 0, vr.desc_gpa, vr.avail_gpa, 0xf0000000ULL), "6.13");
	EXPECT(TVQ_ACK_EINVAL, tvq_vq_enable(&d, id, 0, 1), "6.14: used ring in the PCI hole");
	EXPECT(TVQ_ACK_OK, tvq_vq_addr(&d, id, 0, vr.desc_gpa, ram_end - 8, vr.used_gpa), "6.13");
	EXPECT(TVQ_ACK_EINVAL, tvq_vq_enable(&d, id, 0, 1), "6.14: avail ring past RAM");
	EXPECT(TVQ_ACK_OK, tvq_vq_addr(&d, id, 0, vr.desc_gpa, vr.avail_gpa, vr.used_gpa), "6.13");
	EXPECT(TVQ_ACK_OK, tvq_vq_enable(&d, id, 0, 1), "6.14");
	/* Enabled: size, addresses, avail index, ASID are read-only. */
	EXPECT(TVQ_ACK_EBUSY, tvq_vq_size_set(&d, id, 0, 32), "6.15: enabled");
	EXPECT(TVQ_ACK_EBUSY, tvq_vq_addr(&d, id, 0, vr.desc_gpa, vr.avail_gpa, vr.used_gpa),
	       "6.13: enabled");
	EXPECT(TVQ_ACK_EBUSY, tvq_vq_avail_set(&d, id, 0, 1), "6.17: enabled");
	EXPECT(TVQ_ACK_EBUSY, tvq_asid_set(&d, id, 0, 0), "6.19: enabled");
	EXPECT(TVQ_ACK_EINVAL, tvq_asid_set(&d, id, 0, 1), "6.19: asid not 0, before EBUSY");
	/* VQ_RESET without RING_RESET negotiated (6.18). */
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, id, 0), "6.9");
	to_features_ok(id, F(TVQ_F_VERSION_1));
	EXPECT(TVQ_ACK_EOPNOTSUPP, tvq_vq_reset(&d, id, 0), "6.18: RING_RESET not negotiated");
	EXPECT(TVQ_ACK_EINVAL, tvq_vq_reset(&d, id, 2), "6.18: queue index first");
	tg_vring_free(&vr);
	healthy(w, 1);
}

/* 6.11: sizes and ranges, without overflow. */
Test(tvq, bad_config_access)
{
	struct tvq_mdev *w = witness();
	uint64_t id = create_blk();
	struct tvq_config_get_out o = { .offset = 0, .size = 8 };
	uint8_t buf[16] = { 0 };

	EXPECT(TVQ_ACK_EINVAL, tvq_config_get(&d, id, 0, 0, buf), "6.11: size 0");
	EXPECT(TVQ_ACK_EINVAL, tvq_config_get(&d, id, BLK_CONFIG_SIZE - 3, 4, buf),
	       "6.11: offset + size beyond");
	EXPECT(TVQ_ACK_EINVAL, tvq_config_get(&d, id, BLK_CONFIG_SIZE, 1, buf), "6.11");
	EXPECT(TVQ_ACK_EINVAL, tvq_config_get(&d, id, 0xffffffffU, 2, buf), "6.11: overflow");
	o.offset = 4;
	o.size = 0xfffffffeU;
	EXPECT(TVQ_ACK_EINVAL,
	       tq_raw(id, TVQ_CLASS_CONFIG, TVQ_CMD_CONFIG_GET, &o, sizeof(o), 4 + 16),
	       "6.11: overflow");
	o.offset = 0;
	o.size = 4097;
	EXPECT(TVQ_ACK_EINVAL, tq_raw(id, TVQ_CLASS_CONFIG, TVQ_CMD_CONFIG_GET, &o, sizeof(o),
				      4 + 4097), "6.11: size above 4096");
	o.size = 8;
	EXPECT(TVQ_ACK_EINVAL, tvq_config_set(&d, id, 0xfffffff0U, 16, buf), "6.11: overflow");
	EXPECT(TVQ_ACK_EINVAL, tvq_config_set(&d, id, 0, 0, buf), "6.11: size 0");
	memcpy(buf, &o, sizeof(o));
	EXPECT(TVQ_ACK_EINVAL, tq_raw(id, TVQ_CLASS_CONFIG, TVQ_CMD_CONFIG_SET, buf, 12, 4),
	       "6.11: SET out-data not 8 + size");
	EXPECT(TVQ_ACK_EINVAL,
	       tq_raw(id, TVQ_CLASS_CONFIG, TVQ_CMD_CONFIG_GET, &o, sizeof(o), 4 + 7),
	       "6.11: GET reply under 4 + size");
	healthy(w, 1);
}

/* 6.8 and 6.9. */
Test(tvq, bad_features_and_status)
{
	struct tvq_mdev *w = witness();
	uint64_t id = create_blk(), f = 0;
	uint8_t s;

	EXPECT(TVQ_ACK_OK, tvq_feat_get(&d, id, TVQ_CMD_FEAT_DEVICE_GET, &f), "6.8");
	EXPECT(TVQ_ACK_EINVAL, tvq_feat_set(&d, id, f | F(34)), "6.8: RING_PACKED not offered");
	EXPECT(TVQ_ACK_EINVAL, tvq_feat_set(&d, id, f | F(63)), "6.8: bit 63 not offered");
	EXPECT(TVQ_ACK_EINVAL, tvq_feat_set(&d, id, F(TVQ_F_TRNSPT_VQ)), "6.8, 4.2");
	EXPECT(TVQ_ACK_EINVAL, tvq_status_set(&d, id, 0x10), "6.9 step 1: bit 16");
	EXPECT(TVQ_ACK_EINVAL, tvq_status_set(&d, id, 0x21), "6.9 step 1: bit 32");
	EXPECT(TVQ_ACK_EINVAL, tvq_status_set(&d, id, TVQ_STATUS_FEATURES_OK),
	       "6.9 step 4: FEATURES_OK without ACKNOWLEDGE and DRIVER");
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, id, TVQ_STATUS_ACKNOWLEDGE), "6.9");
	EXPECT(TVQ_ACK_EINVAL, tvq_status_set(&d, id, TVQ_STATUS_DRIVER), "6.9 step 3: sticky");
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, id, ACK_DRIVER), "6.9");
	EXPECT(TVQ_ACK_EINVAL, tvq_status_set(&d, id, ACK_DRIVER | TVQ_STATUS_DRIVER_OK),
	       "6.9 step 4: DRIVER_OK without FEATURES_OK");
	/* Accepted features without VERSION_1: FEATURES_OK does not stick (6.9 step 5). */
	EXPECT(TVQ_ACK_OK, tvq_feat_set(&d, id, f & ~F(TVQ_F_VERSION_1)), "6.8");
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, id, FEATURES_OK), "6.9 step 5");
	EXPECT(TVQ_ACK_OK, tvq_status_get(&d, id, &s), "6.9");
	cr_assert_eq(s, ACK_DRIVER, "6.9 step 5: FEATURES_OK left clear");
	EXPECT(TVQ_ACK_OK, tvq_feat_set(&d, id, f), "6.8");
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, id, FEATURES_OK), "6.9");
	EXPECT(TVQ_ACK_EBUSY, tvq_feat_set(&d, id, f), "6.8: after FEATURES_OK");
	cr_assert_eq(status_of(id), FEATURES_OK, "failed commands change nothing (6.3)");
	healthy(w, 1);
}

/* 6.6: CREATE's checks, and an exhausted pool. */
Test(tvq, bad_create)
{
	struct tvq_mdev *w = witness();
	uint8_t out[16 + 80] = { 0 };
	struct tvq_vdev_create_out *o = (void *)out;
	const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 }, mac[6] = { 0x52, 0x54, 0, 1, 2, 3 };
	uint8_t cfg[16];
	uint64_t id;

	EXPECT(TVQ_ACK_EINVAL, tvq_create(&d, 3, 0, NULL, 0, &id), "6.6: unknown type");
	EXPECT(TVQ_ACK_EINVAL, tvq_create(&d, 0, 0, NULL, 0, &id), "6.6: type 0");
	o->virtio_device_id = TVQ_VIRTIO_ID_BLOCK;
	o->reserved = 1;
	EXPECT(TVQ_ACK_EINVAL, tq_raw(0, TVQ_CLASS_VDEV, TVQ_CMD_VDEV_CREATE, out, 16, 12),
	       "6.6: reserved");
	o->reserved = 0;
	EXPECT(TVQ_ACK_EINVAL, tq_raw(0, TVQ_CLASS_VDEV, TVQ_CMD_VDEV_CREATE, out,
				      16 + BLK_CONFIG_SIZE + 1, 12), "6.6: L too large");
	out[16 + 8] = 1;
	EXPECT(TVQ_ACK_EINVAL, tq_raw(0, TVQ_CLASS_VDEV, TVQ_CMD_VDEV_CREATE, out, 16 + 12, 12),
	       "6.6: block config byte not 0");
	EXPECT(TVQ_ACK_EINVAL, tvq_create(&d, TVQ_VIRTIO_ID_NET, 0, mcast, 6, &id),
	       "6.6: multicast MAC");
	memset(cfg, 0, sizeof(cfg));
	cfg[7] = 1;
	EXPECT(TVQ_ACK_EINVAL, tvq_create(&d, TVQ_VIRTIO_ID_NET, 0, cfg, 8, &id),
	       "6.6: net status byte not choosable");
	memset(cfg, 0, sizeof(cfg));
	memcpy(cfg, mac, 6);
	EXPECT(TVQ_ACK_EINVAL, tvq_create(&d, TVQ_VIRTIO_ID_NET, 0, cfg, 13, &id),
	       "6.6: L above net's 12");
	/* The last blk backend, then nothing left of that type (6.6: ENOSPC). */
	EXPECT(TVQ_ACK_OK, tvq_create(&d, TVQ_VIRTIO_ID_BLOCK, 0, NULL, 0, &id), "6.6");
	EXPECT(TVQ_ACK_ENOSPC, tvq_create(&d, TVQ_VIRTIO_ID_BLOCK, 0, NULL, 0, &id),
	       "6.6: no free backend");
	/* A chosen MAC (6.6), visible in the config. */
	EXPECT(TVQ_ACK_OK, tvq_create(&d, TVQ_VIRTIO_ID_NET, 0, mac, 6, &id), "6.6");
	EXPECT(TVQ_ACK_OK, tvq_config_get(&d, id, 0, 6, cfg), "6.11");
	cr_assert_arr_eq(cfg, mac, 6);
	EXPECT(TVQ_ACK_ENOSPC, tvq_create(&d, TVQ_VIRTIO_ID_NET, 0, NULL, 0, &id), "6.6");
	healthy(w, 1);
}

/* 6.12, 7.3: MSI checks and the budget. */
Test(tvq, bad_msi)
{
	struct tvq_mdev *w = witness();
	uint64_t id = create_blk(), val = 1;
	struct tvq_msi_vq_set_out o = { .queue_index = 0, .addr = TG_MSI_ADDR };
	uint8_t flag[4] = { 0, 0, 2, 0 };

	EXPECT(TVQ_ACK_EINVAL, tvq_msi_vq_set(&d, id, 0, 0xfed00000ULL, 1), "6.12: window");
	EXPECT(TVQ_ACK_EINVAL, tvq_msi_vq_set(&d, id, 0, 0xfef00000ULL, 1), "6.12: window");
	EXPECT(TVQ_ACK_EINVAL, tvq_msi_vq_set(&d, id, 0, 0x1fee00000ULL, 1), "6.12: bits 63-32");
	EXPECT(TVQ_ACK_EINVAL, tvq_msi_config_set(&d, id, 0, 1), "6.12: window");
	o.reserved1[3] = 1;
	EXPECT(TVQ_ACK_EINVAL,
	       tvq_tq(&d, id, TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_SET, &o, sizeof(o), NULL, 0),
	       "6.12: reserved1");
	o.reserved1[3] = 0;
	o.reserved0[0] = 1;
	EXPECT(TVQ_ACK_EINVAL,
	       tvq_tq(&d, id, TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_SET, &o, sizeof(o), NULL, 0),
	       "6.12: reserved0");
	EXPECT(TVQ_ACK_EBUSY, tvq_msi_vq_flag(&d, id, TVQ_CMD_MSI_VQ_ENABLE, 0, 1),
	       "6.12: enabling an unset entry");
	EXPECT(TVQ_ACK_EBUSY, tvq_msi_config_flag(&d, id, TVQ_CMD_MSI_CONFIG_ENABLE, 1), "6.12");
	EXPECT(TVQ_ACK_EINVAL,
	       tvq_tq(&d, id, TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_ENABLE, flag, 4, NULL, 0),
	       "6.12: enable 2");
	EXPECT(TVQ_ACK_EINVAL, tvq_tq(&d, id, TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_MASK, flag, 4, NULL, 0),
	       "6.12: mask 2");
	EXPECT(TVQ_ACK_EINVAL, tvq_msi_config_flag(&d, id, TVQ_CMD_MSI_CONFIG_MASK, 2), "6.12");
	EXPECT(TVQ_ACK_EINVAL, tvq_msi_config_flag(&d, id, TVQ_CMD_MSI_CONFIG_ENABLE, 3), "6.12");
	flag[2] = 0;
	flag[3] = 1;
	EXPECT(TVQ_ACK_EINVAL, tvq_tq(&d, id, TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_MASK, flag, 4, NULL, 0),
	       "6.12: reserved");
	/* A budget of 1 (8.7 while status 0): the second entry is one too many (7.3). */
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_device_mgmt(&d, id, TVQ_ADMIN_MGMT_OP_ASSIGN,
						    TVQ_ADMIN_MGMT_RSC_MSIX, &val, NULL), "8.7");
	EXPECT(TVQ_ACK_OK, tvq_msi_vq_set(&d, id, 0, TG_MSI_ADDR, 0x777), "6.12");
	EXPECT(TVQ_ACK_OK, tvq_msi_vq_set(&d, id, 0, TG_MSI_ADDR, 0x778), "6.12: same entry");
	EXPECT(TVQ_ACK_ENOSPC, tvq_msi_config_set(&d, id, TG_MSI_ADDR, 0x779),
	       "6.12: more entries than the budget");
	cr_assert_not(fake_hv_has_route(g.hv, TG_MSI_ADDR, 0x779));
	healthy(w, 1);
}

/* 8.3 and 8.7: the adminq's checks. */
Test(tvq, bad_admin_commands)
{
	struct tvq_mdev *w = witness();
	uint64_t id = create_blk(), other = 0, val;
	struct tvq_admin_device_mgmt_data mg = { .operation = 2 };
	struct tvq_admin_managed_device_list_data first = { .first_vdev_id = 1 };
	uint8_t cs;

	EXPECT(TVQ_ACK_OK, tvq_create(&d, TVQ_VIRTIO_ID_NET, 0, NULL, 0, &other), "6.6");

	static const uint16_t bad_cmds[] = { TVQ_ADMIN_CMD_SUBSYSTEM_IDENTIFY, 7, 8, 0xffff };

	for (unsigned int i = 0; i < sizeof(bad_cmds) / sizeof(bad_cmds[0]); i++)
		EXPECT(TVQ_ADMIN_STATUS_INVALID_COMMAND, aq_raw(bad_cmds[i], 0, 0, NULL, 0, 64),
		       "8.3 step 4");
	EXPECT(TVQ_ADMIN_STATUS_INVALID_FIELD, aq_raw(TVQ_ADMIN_CMD_DEVICE_IDENTIFY, 2, 0, NULL, 0,
						      4096 + 8), "8.2: dst_type 2");
	EXPECT(TVQ_ADMIN_STATUS_INVALID_FIELD, aq_raw(TVQ_ADMIN_CMD_DEVICE_IDENTIFY, 0, id, NULL, 0,
						      4096 + 8), "8.3: dst 0 with a vdev_id");
	EXPECT(TVQ_ADMIN_STATUS_INVALID_FIELD,
	       aq_raw(TVQ_ADMIN_CMD_DEVICE_INFO, 0, 0, NULL, 0, 136), "8.6: dst_type 1 only");
	EXPECT(TVQ_ADMIN_STATUS_INVALID_FIELD,
	       aq_raw(TVQ_ADMIN_CMD_MANAGED_DEVICE_LIST, 1, id, &first, 8, 64), "8.10: dst 0 only");
	EXPECT(TVQ_ADMIN_STATUS_INVALID_FIELD,
	       aq_raw(TVQ_ADMIN_CMD_DEVICE_MGMT_CAPS, 1, id, NULL, 0, 8200), "8.8: dst 0 only");
	EXPECT(TVQ_ADMIN_STATUS_INVALID_FIELD, aq_raw(TVQ_ADMIN_CMD_DEVICE_MGMT, 0, 0, &mg,
						      sizeof(mg), 24), "8.7: dst_type 0");
	EXPECT(TVQ_ADMIN_STATUS_INVALID_VDEV_ID, aq_raw(TVQ_ADMIN_CMD_DEVICE_INFO, 1, 0, NULL, 0,
							136), "8.2: vdev_id 0");
	EXPECT(TVQ_ADMIN_STATUS_INVALID_VDEV_ID, aq_raw(TVQ_ADMIN_CMD_DEVICE_INFO, 1, 999, NULL, 0,
							136), "8.2: unknown");
	tvq_cmd_aq(raw, TVQ_ADMIN_CMD_DEVICE_INFO, 1, id, NULL, 0, 128);
	raw->req[5] = 1;
	EXPECT(TVQ_ADMIN_STATUS_INVALID_FIELD, send_raw(), "8.3: reserved0");
	tvq_cmd_aq(raw, TVQ_ADMIN_CMD_DEVICE_INFO, 1, id, NULL, 0, 128);
	raw->req[23] = 1;
	EXPECT(TVQ_ADMIN_STATUS_INVALID_FIELD, send_raw(), "8.3: reserved1");
	/* DEVICE_MGMT (8.7), in its check order. */
	mg.reserved1[0] = 1;
	EXPECT(TVQ_ADMIN_STATUS_INVALID_FIELD, aq_raw(TVQ_ADMIN_CMD_DEVICE_MGMT, 1, id, &mg,
						      sizeof(mg), 24), "8.7: reserved1");
	val = 1;
	EXPECT(TVQ_ADMIN_STATUS_CS_ERR, tvq_device_mgmt(&d, id, 0, 0, &val, &cs), "8.7");
	cr_expect_eq(cs, TVQ_ADMIN_CS_ERR_OP_UNSUPPORTED);
	EXPECT(TVQ_ADMIN_STATUS_CS_ERR, tvq_device_mgmt(&d, id, 3, 0, &val, &cs), "8.7");
	cr_expect_eq(cs, TVQ_ADMIN_CS_ERR_OP_UNSUPPORTED);
	EXPECT(TVQ_ADMIN_STATUS_CS_ERR, tvq_device_mgmt(&d, id, TVQ_ADMIN_MGMT_OP_QUERY, 2, &val,
							&cs), "8.7");
	cr_expect_eq(cs, TVQ_ADMIN_CS_ERR_RSC_UNSUPPORTED);
	EXPECT(TVQ_ADMIN_STATUS_INVALID_FIELD, tvq_device_mgmt(&d, id, TVQ_ADMIN_MGMT_OP_QUERY,
							       TVQ_ADMIN_MGMT_RSC_MSIX, &val, &cs),
	       "8.7: query with a value");
	EXPECT(TVQ_ADMIN_STATUS_CS_ERR, assign(id, TVQ_ADMIN_MGMT_RSC_MSIX, POOL_SIZE + 1, &cs),
	       "8.7");
	cr_expect_eq(cs, TVQ_ADMIN_CS_ERR_RSC_COUNT_EXCEED);
	/* The others hold 2 + 2 + 4 of the pool, blk2 3. */
	EXPECT(TVQ_ADMIN_STATUS_CS_ERR, assign(id, TVQ_ADMIN_MGMT_RSC_MSIX, POOL_SIZE, &cs), "8.7");
	cr_expect_eq(cs, TVQ_ADMIN_CS_ERR_NO_RSC);
	EXPECT(TVQ_ADMIN_STATUS_CS_ERR, assign(id, TVQ_ADMIN_MGMT_RSC_FEATURES_63_0, F(33), &cs),
	       "8.7: ACCESS_PLATFORM is never offered");
	cr_expect_eq(cs, TVQ_ADMIN_CS_ERR_RSC_VAL_INVALID);
	/* After ACKNOWLEDGE: VDEV_IN_USE (8.7, appendix A.6). */
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, other, TVQ_STATUS_ACKNOWLEDGE), "6.9");
	EXPECT(TVQ_ADMIN_STATUS_CS_ERR, assign(other, TVQ_ADMIN_MGMT_RSC_MSIX, 3, &cs), "8.7");
	cr_expect_eq(cs, TVQ_ADMIN_CS_ERR_VDEV_IN_USE);
	/* MANAGED_DEVICE_LIST past the end and with room for one entry (8.10). */
	first.first_vdev_id = 1000;
	EXPECT(TVQ_ADMIN_STATUS_OK, aq_raw(TVQ_ADMIN_CMD_MANAGED_DEVICE_LIST, 0, 0, &first, 8,
					   8 + 16 + 8 * 4), "8.10: past the end");
	cr_assert_eq(raw->used_len, 8 + 16);
	cr_assert_eq(raw->reply[8], 0, "num_identifiers 0");
	cr_assert_eq(raw->reply[16], 4, "num_managed_vdevs");
	first.first_vdev_id = 1;
	EXPECT(TVQ_ADMIN_STATUS_OK, aq_raw(TVQ_ADMIN_CMD_MANAGED_DEVICE_LIST, 0, 0, &first, 8,
					   8 + 16 + 8 + 7), "8.10: whole entries only");
	cr_assert_eq(raw->used_len, 8 + 16 + 8);
	cr_assert_eq(raw->reply[8], 1);
	cr_assert_eq(raw->reply[8 + 16 + 8], TVQ_DRV_POISON);
	EXPECT(TVQ_ADMIN_STATUS_OK, aq_raw(TVQ_ADMIN_CMD_MANAGED_DEVICE_LIST, 0, 0, &first, 8,
					   8 + 10), "8.10: not even the result header");
	cr_assert_eq(raw->used_len, 8 + 10);
	healthy(w, 1);
}

/* ---- data paths ---- */

Test(tvq, blk_bring_up_read_write)
{
	struct tvq_mdev *b = &md[0];
	const uint32_t len = 16 * 1024;
	uint64_t buf = data_area(8 * len), irqs;
	struct fake_hv_stats st0, st1;
	uint8_t *file = malloc(len);
	uint16_t head[8];
	int fd;

	cr_assert_not_null(file);
	EXPECT(0, tvq_mdev_up(&d, b, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, QSIZE), "6.6-6.16");
	cr_assert_eq(b->nq, 1);
	cr_assert_eq(status_of(b->id), LIVE);
	cr_assert(b->features & F(TVQ_F_VERSION_1));
	irqs = tvq_mdev_irqs(&d, b, 0);
	fake_hv_get_stats(g.hv, &st0);
	blk_read_check(b, 0, 0, 0, 4096);
	blk_read_check(b, 0, 0, IMG_SIZE / 512 - 8, 4096);
	fake_hv_get_stats(g.hv, &st1);
	cr_assert_eq(st1.ioeventfd_hits, st0.ioeventfd_hits + 2, "2.4: kicks signal ioeventfds");
	cr_assert_eq(st1.bus_writes, st0.bus_writes, "2.4: no kick exits to the VMM");
	cr_assert_gt(tvq_mdev_irqs(&d, b, 0), irqs, "completions raise the queue's MSI (7.3)");
	/* Eight writes in flight, one kick; then the file has them. */
	for (unsigned int i = 0; i < 8; i++) {
		memset(tg_ptr(&g, buf + i * len, len), 0x10 + i, len);
		cr_assert_eq(tvq_blk_submit(&d, b, 0, VIRTIO_BLK_T_OUT, 64 + i * (len / 512),
					    buf + i * len, len, &head[i]), 0);
	}
	tvq_mdev_kick(&d, b, 0);
	for (unsigned int i = 0; i < 8; i++)
		cr_assert_eq(tvq_blk_wait(&d, b, 0, head[i]), VIRTIO_BLK_S_OK);
	cr_assert_eq(tvq_blk_io(&d, b, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0), VIRTIO_BLK_S_OK);
	fd = open(imgs[0], O_RDONLY);
	cr_assert(fd >= 0);
	for (unsigned int i = 0; i < 8; i++) {
		cr_assert_eq(pread(fd, file, len, 64 * 512 + i * len), len);
		for (uint32_t j = 0; j < len; j++)
			cr_assert_eq(file[j], 0x10 + i, "write %u reached the file", i);
	}
	close(fd);
	/* And back through the device. */
	memset(tg_ptr(&g, buf, len), 0, len);
	cr_assert_eq(tvq_blk_io(&d, b, 0, VIRTIO_BLK_T_IN, 64 + 3 * (len / 512), buf, len), 0);
	cr_assert_eq(*(uint8_t *)tg_ptr(&g, buf + len - 1, 1), 0x13);
	free(file);
}

/* 7.3: masked entries pend, unmasking sends, disabled entries discard. */
Test(tvq, msi_mask_pending_and_disable)
{
	struct tvq_mdev *b = &md[0];
	uint64_t irqs;

	EXPECT(0, tvq_mdev_up(&d, b, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, QSIZE), "6.6");
	EXPECT(TVQ_ACK_OK, tvq_msi_vq_flag(&d, b->id, TVQ_CMD_MSI_VQ_MASK, 0, 1), "6.12");
	irqs = tvq_mdev_irqs(&d, b, 0);
	blk_read_check(b, 0, 0, 1, 512);
	blk_read_check(b, 0, 0, 2, 512);
	cr_assert_eq(tvq_mdev_irqs(&d, b, 0), irqs, "masked: pending, not sent");
	EXPECT(TVQ_ACK_OK, tvq_msi_vq_flag(&d, b->id, TVQ_CMD_MSI_VQ_MASK, 0, 0), "6.12");
	cr_assert_eq(tvq_mdev_irqs(&d, b, 0), irqs + 1, "one coalesced interrupt at unmask");
	EXPECT(TVQ_ACK_OK, tvq_msi_vq_flag(&d, b->id, TVQ_CMD_MSI_VQ_MASK, 0, 1), "6.12");
	blk_read_check(b, 0, 0, 3, 512);
	EXPECT(TVQ_ACK_OK, tvq_msi_vq_flag(&d, b->id, TVQ_CMD_MSI_VQ_ENABLE, 0, 0), "6.12");
	EXPECT(TVQ_ACK_OK, tvq_msi_vq_flag(&d, b->id, TVQ_CMD_MSI_VQ_MASK, 0, 0), "6.12");
	cr_assert_eq(tvq_mdev_irqs(&d, b, 0), irqs + 1, "disabling dropped the pending one");
	blk_read_check(b, 0, 0, 4, 512);
	cr_assert_eq(tvq_mdev_irqs(&d, b, 0), irqs + 1, "disabled: discarded");
	EXPECT(TVQ_ACK_OK, tvq_msi_vq_flag(&d, b->id, TVQ_CMD_MSI_VQ_ENABLE, 0, 1), "6.12");
	blk_read_check(b, 0, 0, 5, 512);
	cr_assert_eq(tvq_mdev_irqs(&d, b, 0), irqs + 2);
}

/* Guest memory regions of a managed device's queue q, to prove nothing changes. */
struct snap {
	uint64_t gpa;
	size_t len;
	uint8_t *copy;
};

static void snap_take(struct snap *s, uint64_t gpa, size_t len)
{
	s->gpa = gpa;
	s->len = len;
	s->copy = malloc(len);
	cr_assert_not_null(s->copy);
	memcpy(s->copy, tg_ptr(&g, gpa, len), len);
}

static void snap_check(struct snap *s, const char *what)
{
	cr_assert_arr_eq(s->copy, tg_ptr(&g, s->gpa, s->len), s->len,
			 "%s: guest memory at %#lx changed after the reply", what,
			 (unsigned long)s->gpa);
	free(s->copy);
}

/* Queue q's rings, headers and nr requests of len bytes at buf, all in flight. */
static void load(struct tvq_mdev *b, uint16_t q, uint32_t type, uint64_t buf, unsigned int nr,
		 uint32_t len)
{
	uint16_t head;

	for (unsigned int i = 0; i < nr; i++) {
		if (type == VIRTIO_BLK_T_OUT)
			memset(tg_ptr(&g, buf + (uint64_t)i * len, len), 0x80 + i, len);
		cr_assert_eq(tvq_blk_submit(&d, b, q, type, (i * (len / 512)) % (IMG_SIZE / 512 -
							len / 512), buf + (uint64_t)i * len, len,
					    &head), 0);
	}
	tvq_mdev_kick(&d, b, q);
}

/* Until the device returned the first of them: the rest are in flight, or queued. */
static uint16_t started(struct tg_vring *vr)
{
	int64_t deadline = tg_now_ms() + 5000;

	while (!tg_vring_used_idx(vr) && tg_now_ms() < deadline)
		fake_hv_wait(g.hv, 1);
	cr_assert_neq(tg_vring_used_idx(vr), 0, "the load started");
	return tg_vring_used_idx(vr);
}

static void snap_queue(struct snap *s, struct tvq_mdev *b, uint16_t q, uint64_t buf,
		       size_t buf_len)
{
	struct tg_vring *vr = &b->vq[q];

	snap_take(&s[0], vr->desc_gpa, 16 * vr->size);
	snap_take(&s[1], vr->avail_gpa, 6 + 2 * vr->size);
	snap_take(&s[2], vr->used_gpa, 6 + 8 * vr->size);
	snap_take(&s[3], b->hdrs[q], 32 * vr->size);
	snap_take(&s[4], buf, buf_len);
}

static void snap_queue_check(struct snap *s, const char *what)
{
	for (unsigned int i = 0; i < 5; i++)
		snap_check(&s[i], what);
}

/* 7.4 via 6.9: STATUS SET 0 with requests in flight. */
Test(tvq, reset_under_load)
{
	struct tvq_mdev *b = &md[0];
	const unsigned int nr = 60;
	const uint32_t len = 256 * 1024;
	struct tvq_admin_device_info_result info;
	uint64_t buf = data_area(nr * len), irqs;
	struct snap s[5];
	uint16_t v;

	EXPECT(0, tvq_mdev_up(&d, b, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, 256), "6.6");
	load(b, 0, VIRTIO_BLK_T_IN, buf, nr, len);
	v = started(&b->vq[0]);
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, b->id, 0), "6.9: reset complete at the reply");
	cr_log_info("reset: %u, then %u of %u requests completed", v,
		    tg_vring_used_idx(&b->vq[0]), nr);
	irqs = tvq_mdev_irqs(&d, b, 0);
	snap_queue(s, b, 0, buf, nr * len);
	cr_assert_eq(status_of(b->id), 0);
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_device_info(&d, b->id, &info), "8.6");
	cr_assert_eq(info.msix_in_use, 0, "7.4 step 4");
	cr_assert_eq(info.driver_features, 0, "7.4 step 5");
	EXPECT(TVQ_ACK_OK, tvq_vq_get(&d, b->id, TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, 0, &v, 2),
	       "6.15");
	cr_assert_eq(v, BLK_QUEUE_SIZE, "7.4 step 3");
	v = 1;
	EXPECT(TVQ_ACK_OK, tvq_vq_get(&d, b->id, TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, 0, &v,
				      1), "6.14");
	cr_assert_eq(v & 0xff, 0);
	tvq_mdev_kick(&d, b, 0);
	usleep(100 * 1000);
	snap_queue_check(s, "7.4 step 2");
	cr_assert_eq(tvq_mdev_irqs(&d, b, 0), irqs, "7.4 step 2: no interrupt");
	/* Up again, and it works. */
	EXPECT(0, tvq_mdev_restart(&d, b, ~0ULL, QSIZE), "7.4");
	blk_read_check(b, 0, 0, 9, 4096);
}

/* 7.5: VQ_RESET of one queue while both queues of blk2 are loaded. */
Test(tvq, queue_reset_under_load)
{
	struct tvq_mdev *a = &md[0], *z = &md[1], *b = &md[2];
	const unsigned int nr = 40;
	const uint32_t len = 128 * 1024;
	uint64_t buf0 = data_area(nr * len), buf1 = data_area(nr * len), irqs;
	struct tvq_vq_addr_set_out addr = { .queue_index = 0 };
	struct snap s[5];
	uint16_t head, v;

	/* blk0 and blk1 first: CREATE takes the 1-queue backends before blk2 (6.6). */
	EXPECT(0, tvq_mdev_up(&d, a, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, QSIZE), "6.6");
	EXPECT(0, tvq_mdev_up(&d, z, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, QSIZE), "6.6");
	EXPECT(0, tvq_mdev_up(&d, b, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, 256), "6.6");
	cr_assert_eq(b->nq, 2, "blk2 has two queues");
	cr_assert(b->features & F(TVQ_F_RING_RESET));
	load(b, 0, VIRTIO_BLK_T_IN, buf0, nr, len);
	load(b, 1, VIRTIO_BLK_T_IN, buf1, nr, len);
	v = started(&b->vq[0]);
	EXPECT(TVQ_ACK_OK, tvq_vq_reset(&d, b->id, 0), "6.18: complete at the reply");
	cr_log_info("VQ_RESET: %u, then %u of %u requests completed", v,
		    tg_vring_used_idx(&b->vq[0]), nr);
	irqs = tvq_mdev_irqs(&d, b, 0);
	snap_queue(s, b, 0, buf0, nr * len);
	/* Queue 1 completes everything (every request of it is answered). */
	tg_vring_collect(&b->vq[1]);
	for (uint16_t h = 0; h < b->vq[1].size; h++)
		if (b->vq[1].chain[h])
			cr_assert_eq(tvq_blk_wait(&d, b, 1, h), VIRTIO_BLK_S_OK, "queue 1 head %u",
				     h);
	EXPECT(TVQ_ACK_OK, tvq_vq_get(&d, b->id, TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, 0, &v, 2),
	       "6.15");
	cr_assert_eq(v, BLK_QUEUE_SIZE, "7.5: initial state");
	tvq_mdev_kick(&d, b, 0);
	usleep(100 * 1000);
	snap_queue_check(s, "7.5");
	cr_assert_eq(tvq_mdev_irqs(&d, b, 0), irqs, "7.5: nothing more for queue 0");
	cr_assert_eq(status_of(b->id), LIVE, "the device stays live");
	/* Set up queue 0 again on a running device; its MSI entry was kept (7.5). */
	tg_vring_reset(&b->vq[0]);
	addr.descriptor_area = b->vq[0].desc_gpa;
	addr.driver_area = b->vq[0].avail_gpa;
	addr.device_area = b->vq[0].used_gpa;
	EXPECT(TVQ_ACK_OK, tvq_vq_size_set(&d, b->id, 0, b->vq[0].size), "6.15");
	EXPECT(TVQ_ACK_OK, tvq_tq(&d, b->id, TVQ_CLASS_VQ_ADDR, TVQ_CMD_VQ_ADDR_SET, &addr,
				  sizeof(addr), NULL, 0), "6.13");
	EXPECT(TVQ_ACK_OK, tvq_vq_enable(&d, b->id, 0, 1), "6.14: running at once");
	blk_read_check(b, 2, 0, 17, 4096);
	cr_assert_gt(tvq_mdev_irqs(&d, b, 0), irqs, "the kept MSI entry fires");
	cr_assert_eq(tvq_blk_submit(&d, b, 1, VIRTIO_BLK_T_IN, 0, buf1, 512, &head), 0);
	tvq_mdev_kick(&d, b, 1);
	cr_assert_eq(tvq_blk_wait(&d, b, 1, head), 0, "queue 1 undisturbed");
}

/* 6.6 / 9.5: DESTROY with writes in flight; nothing touched afterwards. */
Test(tvq, destroy_under_load_no_write_after)
{
	struct tvq_mdev *b = &md[0], *w;
	const unsigned int nr = 60;
	const uint32_t len = 256 * 1024;
	uint64_t buf = data_area(nr * len), irqs, ids[8], total;
	uint8_t *before = malloc(IMG_SIZE), *after = malloc(IMG_SIZE);
	struct fake_hv_stats st0, st1;
	struct tvq_cmd *c = calloc(2, sizeof(*c));
	uint8_t zero = 0;
	struct snap s[5];
	unsigned int n;
	int fd;

	cr_assert(before && after && c);
	EXPECT(0, tvq_mdev_up(&d, b, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, 256), "6.6");
	w = &md[1];
	EXPECT(0, tvq_mdev_up(&d, w, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, QSIZE), "6.6");
	fake_hv_get_stats(g.hv, &st0);
	load(b, 0, VIRTIO_BLK_T_OUT, buf, nr, len);
	started(&b->vq[0]);
	/* STATUS SET 0 and DESTROY pipelined: ordered for one device (5.3). */
	tvq_cmd_tq(&c[0], b->id, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_SET, &zero, 1, 0);
	tvq_cmd_tq(&c[1], b->id, TVQ_CLASS_VDEV, TVQ_CMD_VDEV_DESTROY, NULL, 0, 0);
	cr_assert_eq(tvq_submit(&d, &c[0]), 0);
	cr_assert_eq(tvq_submit(&d, &c[1]), 0);
	tvq_kick(&d, 0);
	cr_assert_eq(tvq_wait(&d, &c[1]), 0);
	EXPECT(TVQ_ACK_OK, tvq_cmd_ack(&c[1]), "6.6");
	cr_log_info("DESTROY: %u of %u writes had completed", tg_vring_used_idx(&b->vq[0]), nr);
	/* From here on: nothing read, written or raised for the device (6.6, 9.5). */
	irqs = tvq_mdev_irqs(&d, b, 0);
	snap_queue(s, b, 0, buf, nr * len);
	fd = open(imgs[0], O_RDONLY);
	cr_assert(fd >= 0);
	cr_assert_eq(pread(fd, before, IMG_SIZE, 0), IMG_SIZE);
	cr_assert_eq(tvq_wait(&d, &c[0]), 0);
	EXPECT(TVQ_ACK_OK, tvq_cmd_ack(&c[0]), "6.9");
	for (unsigned int i = 0; i < 10; i++) {
		tvq_mdev_kick(&d, b, 0); /* the old doorbell page: ignored (2.4) */
		usleep(10 * 1000);
	}
	snap_queue_check(s, "9.5");
	cr_assert_eq(pread(fd, after, IMG_SIZE, 0), IMG_SIZE);
	cr_assert_arr_eq(before, after, IMG_SIZE, "9.5: the backend is not written after DESTROY");
	close(fd);
	cr_assert_eq(tvq_mdev_irqs(&d, b, 0), irqs, "9.5: no interrupt");
	cr_assert_not(fake_hv_has_route(g.hv, TG_MSI_ADDR, b->msi_data[0]), "9.5: routes released");
	cr_assert_not(fake_hv_has_route(g.hv, TG_MSI_ADDR, b->cfg_msi_data));
	fake_hv_get_stats(g.hv, &st1);
	cr_assert_eq(st1.ioeventfds, st0.ioeventfds - 1, "its doorbell's ioeventfd is gone");
	cr_assert_eq(st1.routes, st0.routes - 2);
	EXPECT(TVQ_ACK_ENODEV, tvq_status_get(&d, b->id, &zero), "9.5");
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_list(&d, 1, ids, 8, &n, &total), "8.10");
	cr_assert(n == 1 && ids[0] == w->id, "only the other device is listed");
	healthy(w, 1);
	free(before);
	free(after);
	free(c);
}

/* 2.4, 7.2: a kick before DRIVER_OK is lost, but the device looks at the ring at start. */
Test(tvq, kick_before_driver_ok_is_not_needed)
{
	struct tvq_mdev *b = &md[0];
	uint64_t buf = data_area(4096);
	uint16_t head;

	EXPECT(TVQ_ACK_OK, tvq_create(&d, TVQ_VIRTIO_ID_BLOCK, 0, NULL, 0, &b->id), "6.6");
	b->nq = 1;
	cr_assert_eq(tg_vring_init(&g, &b->vq[0], 16), 0);
	b->hdrs[0] = data_area(16 * 32);
	to_features_ok(b->id, 0);
	EXPECT(TVQ_ACK_OK, tvq_vq_size_set(&d, b->id, 0, 16), "6.15");
	EXPECT(TVQ_ACK_OK, tvq_vq_addr(&d, b->id, 0, b->vq[0].desc_gpa, b->vq[0].avail_gpa,
				       b->vq[0].used_gpa), "6.13");
	EXPECT(TVQ_ACK_OK, tvq_vq_enable(&d, b->id, 0, 1), "6.14: enabled, not running");
	b->doorbell = d.doorbell_bar; /* slot 0 */
	cr_assert_eq(tvq_blk_submit(&d, b, 0, VIRTIO_BLK_T_IN, 2, buf, 4096, &head), 0);
	tvq_mdev_kick(&d, b, 0);
	usleep(50 * 1000);
	cr_assert_eq(tg_vring_used_idx(&b->vq[0]), 0, "2.4: not processed before DRIVER_OK");
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, b->id, LIVE), "6.9");
	cr_assert_eq(tvq_blk_wait(&d, b, 0, head), VIRTIO_BLK_S_OK, "taken at start (2.4)");
	cr_assert_eq(*(uint8_t *)tg_ptr(&g, buf + 7, 1), pattern(0, 2 * 512 + 7));
}

/* 7.6: VQ_ENABLE SET 0 stops a loaded queue at a clean place; SET 1 resumes there. */
Test(tvq, stop_and_resume_under_load)
{
	struct tvq_mdev *b = &md[0];
	const unsigned int nr = 60, extra = 10;
	const uint32_t len = 256 * 1024;
	uint64_t buf = data_area((nr + extra) * len);
	struct snap s[5];
	uint16_t at, used, v8 = 1;

	EXPECT(0, tvq_mdev_up(&d, b, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, 256), "6.6");
	load(b, 0, VIRTIO_BLK_T_IN, buf, nr, len);
	started(&b->vq[0]);
	EXPECT(TVQ_ACK_OK, tvq_vq_enable(&d, b->id, 0, 0), "6.14: stop");
	EXPECT(TVQ_ACK_OK, tvq_vq_get(&d, b->id, TVQ_CLASS_VQ_AVAIL_INDEX,
				      TVQ_CMD_VQ_AVAIL_INDEX_GET, 0, &at, 2), "6.17");
	used = tg_vring_used_idx(&b->vq[0]);
	cr_log_info("stopped at %u of %u", at, nr);
	cr_assert_eq(used, at, "7.6: every buffer before the available index was returned");
	EXPECT(TVQ_ACK_OK, tvq_vq_get(&d, b->id, TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, 0,
				      &v8, 1), "6.14");
	cr_assert_eq(v8 & 0xff, 0);
	/* Buffers made available while stopped wait for the resume. */
	load(b, 0, VIRTIO_BLK_T_IN, buf + (uint64_t)nr * len, extra, len);
	snap_queue(s, b, 0, buf, (nr + extra) * len);
	tvq_mdev_kick(&d, b, 0);
	usleep(50 * 1000);
	snap_queue_check(s, "7.6: nothing more for a stopped queue");
	EXPECT(TVQ_ACK_OK, tvq_vq_enable(&d, b->id, 0, 1), "6.14: resume");
	tvq_mdev_kick(&d, b, 0);
	for (uint16_t h = 0; h < b->vq[0].size; h++)
		if (b->vq[0].chain[h])
			cr_assert_eq(tvq_blk_wait(&d, b, 0, h), VIRTIO_BLK_S_OK, "head %u", h);
	cr_assert_eq(tg_vring_used_idx(&b->vq[0]), nr + extra,
		     "7.6: each request returned exactly once");
	for (unsigned int i = 0; i < nr; i += 7) {
		uint64_t sector = (i * (len / 512)) % (IMG_SIZE / 512 - len / 512);

		cr_assert_eq(*(uint8_t *)tg_ptr(&g, buf + (uint64_t)i * len + 3, 1),
			     pattern(0, sector * 512 + 3), "request %u read its data", i);
	}
}

/*
 * 7.6 and 6.17: a queue stopped on one device resumes on another. blk0 serves four
 * requests and is stopped; four more wait in the ring; blk1 is brought up on the same
 * rings with VQ_AVAIL_INDEX SET and serves those four from its own image.
 */
Test(tvq, queue_moves_to_another_device)
{
	struct tvq_mdev *a = &md[0], *b = &md[1];
	struct tvq_msi_vq_set_out msi = { .queue_index = 0, .addr = TG_MSI_ADDR, .data = 0x4444 };
	uint64_t buf = data_area(8 * 4096);
	uint16_t at = 0, head[8];

	EXPECT(0, tvq_mdev_up(&d, a, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, QSIZE), "6.6");
	for (unsigned int i = 0; i < 4; i++)
		cr_assert_eq(tvq_blk_io(&d, a, 0, VIRTIO_BLK_T_IN, i, buf + i * 4096, 4096), 0);
	EXPECT(TVQ_ACK_OK, tvq_vq_enable(&d, a->id, 0, 0), "6.14: stop");
	EXPECT(TVQ_ACK_OK, tvq_vq_get(&d, a->id, TVQ_CLASS_VQ_AVAIL_INDEX,
				      TVQ_CMD_VQ_AVAIL_INDEX_GET, 0, &at, 2), "6.17");
	cr_assert_eq(at, 4);
	for (unsigned int i = 4; i < 8; i++)
		cr_assert_eq(tvq_blk_submit(&d, a, 0, VIRTIO_BLK_T_IN, i, buf + i * 4096, 4096,
					    &head[i]), 0);
	/* blk1, by hand: the same rings, resuming at the stopped device's index. */
	EXPECT(TVQ_ACK_OK, tvq_create(&d, TVQ_VIRTIO_ID_BLOCK, 0, NULL, 0, &b->id), "6.6");
	to_features_ok(b->id, 0);
	EXPECT(TVQ_ACK_OK, tvq_vq_size_set(&d, b->id, 0, QSIZE), "6.15");
	EXPECT(TVQ_ACK_OK, tvq_vq_addr(&d, b->id, 0, a->vq[0].desc_gpa, a->vq[0].avail_gpa,
				       a->vq[0].used_gpa), "6.13");
	EXPECT(TVQ_ACK_OK, tvq_vq_avail_set(&d, b->id, 0, at), "6.17");
	EXPECT(TVQ_ACK_OK, tvq_tq(&d, b->id, TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_SET, &msi, sizeof(msi),
				  NULL, 0), "6.12");
	EXPECT(TVQ_ACK_OK, tvq_msi_vq_flag(&d, b->id, TVQ_CMD_MSI_VQ_ENABLE, 0, 1), "6.12");
	EXPECT(TVQ_ACK_OK, tvq_vq_enable(&d, b->id, 0, 1), "6.14");
	EXPECT(TVQ_ACK_OK, tvq_status_set(&d, b->id, LIVE), "6.9: starts at the index (6.17)");
	for (unsigned int i = 4; i < 8; i++)
		cr_assert_eq(tvq_blk_wait(&d, a, 0, head[i]), VIRTIO_BLK_S_OK, "request %u", i);
	cr_assert_eq(tg_vring_used_idx(&a->vq[0]), 8, "6.17: used entries continue at 4");
	for (unsigned int i = 0; i < 8; i++)
		cr_assert_eq(*(uint8_t *)tg_ptr(&g, buf + i * 4096 + 1, 1),
			     pattern(i < 4 ? 0 : 1, i * 512 + 1), "request %u from blk%u", i,
			     i < 4 ? 0 : 1);
	cr_assert_gt(fake_hv_irqs(g.hv, TG_MSI_ADDR, 0x4444), 0, "blk1's MSI message");
}

/* 4.1, 8.7-8.9: feature provisioning exists only with FEATURE_63_0_MGMT. */
Test(tvq, feature_provisioning_needs_its_bit)
{
	struct tvq_admin_device_mgmt_attrs_result at;
	uint8_t caps[8], cs = 0;
	uint64_t id;

	tvq_drv_close(&d);
	cr_assert_eq(tvq_drv_open(&d, &g, TVQ_MGMT_FEATURES & ~F(TVQ_F_FEATURE_63_0_MGMT), 64),
		     0);
	id = create_blk();
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_aq(&d, TVQ_ADMIN_CMD_DEVICE_MGMT_CAPS, 0, 0, NULL, 0, caps,
					   sizeof(caps), NULL), "8.8");
	cr_assert_eq(caps[0], 0x1, "8.8: only MSI-X without FEATURE_63_0_MGMT");
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_aq(&d, TVQ_ADMIN_CMD_DEVICE_MGMT_ATTRS, 0, 0, NULL, 0, &at,
					   sizeof(at), NULL), "8.9");
	cr_assert_eq(at.attrs_mask, 0x7);
	cr_assert_eq(at.managed_device_features_63_0, 0);
	EXPECT(TVQ_ADMIN_STATUS_CS_ERR,
	       assign(id, TVQ_ADMIN_MGMT_RSC_FEATURES_63_0, F(TVQ_F_VERSION_1), &cs), "8.7");
	cr_assert_eq(cs, TVQ_ADMIN_CS_ERR_RSC_UNSUPPORTED);
	EXPECT(TVQ_ADMIN_STATUS_OK, assign(id, TVQ_ADMIN_MGMT_RSC_MSIX, 1, &cs), "8.7");
	healthy(NULL, 0);
}

/* 9.4: a host removal the guest ignores, with writes in flight: forced destruction. */
Test(tvq, host_removal_under_load)
{
	struct tvq_mdev *b = &md[0], *w = &md[1];
	const unsigned int nr = 60;
	const uint32_t len = 256 * 1024;
	struct tvq_admin_device_info_result info;
	uint64_t buf = data_area(nr * len), irqs;
	uint8_t *before = malloc(IMG_SIZE), *after = malloc(IMG_SIZE);
	struct err e = { { 0 } };
	uint32_t gen, type = TVQ_VIRTIO_ID_BLOCK;
	struct tvq_avail_res r;
	int64_t deadline;
	struct snap s[5];
	uint8_t st;
	int fd;

	cr_assert(before && after);
	EXPECT(0, tvq_mdev_up(&d, b, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, 256), "6.6");
	EXPECT(0, tvq_mdev_up(&d, w, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, QSIZE), "6.6");
	gen = tvq_drv_cfg(&d, TVQ_CFG_MANAGED_GENERATION, 4);
	cr_assert_eq(mgmt_remove(m, b->id, &e), 0, "%s", e.msg);
	cr_assert_eq(tvq_drv_cfg(&d, TVQ_CFG_MANAGED_GENERATION, 4), gen + 1, "9.4 step 1");
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_device_info(&d, b->id, &info), "8.6");
	cr_assert_eq(info.removal_requested, 1);
	cr_assert_eq(mgmt_remove(m, b->id, &e), 0, "a second request");
	cr_assert_eq(tvq_drv_cfg(&d, TVQ_CFG_MANAGED_GENERATION, 4), gen + 1, "changes nothing");
	/* Still fully usable (9.4 step 2); then loaded and left alone. */
	blk_read_check(b, 0, 0, 5, 4096);
	load(b, 0, VIRTIO_BLK_T_OUT, buf, nr, len);
	deadline = tg_now_ms() + 5000;
	while (tvq_drv_cfg(&d, TVQ_CFG_MANAGED_GENERATION, 4) == gen + 1 && tg_now_ms() < deadline)
		usleep(1000);
	cr_assert_eq(tvq_drv_cfg(&d, TVQ_CFG_MANAGED_GENERATION, 4), gen + 2,
		     "9.4 step 3: destroyed after removal_timeout_ms");
	/* From the moment the new generation can be read, DESTROY's guarantee holds. */
	irqs = tvq_mdev_irqs(&d, b, 0);
	snap_queue(s, b, 0, buf, nr * len);
	fd = open(imgs[0], O_RDONLY);
	cr_assert(fd >= 0);
	cr_assert_eq(pread(fd, before, IMG_SIZE, 0), IMG_SIZE);
	tvq_mdev_kick(&d, b, 0);
	usleep(100 * 1000);
	snap_queue_check(s, "9.4/9.5");
	cr_assert_eq(pread(fd, after, IMG_SIZE, 0), IMG_SIZE);
	cr_assert_arr_eq(before, after, IMG_SIZE, "9.5: the backend is left alone");
	close(fd);
	cr_assert_eq(tvq_mdev_irqs(&d, b, 0), irqs, "9.5: no interrupt");
	EXPECT(TVQ_ACK_ENODEV, tvq_status_get(&d, b->id, &st), "9.4");
	EXPECT(TVQ_ADMIN_STATUS_INVALID_VDEV_ID, tvq_device_info(&d, b->id, &info), "9.4");
	EXPECT(TVQ_ACK_ENODEV, tvq_destroy(&d, b->id), "9.4");
	EXPECT(TVQ_ACK_OK, tvq_avail_res(&d, &type, &r), "6.7");
	cr_assert_eq(r.num_avail_vdev, 1, "9.4: blk0 left vqvm, only blk2 is free");
	healthy(w, 1);
	free(before);
	free(after);
}

/* 5.4: a reset of the management device resets but keeps managed devices. */
Test(tvq, mgmt_reset_keeps_managed_devices)
{
	struct tvq_mdev *b = &md[0];
	uint64_t ids[4], total;
	unsigned int n;

	EXPECT(0, tvq_mdev_up(&d, b, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, QSIZE), "6.6");
	tvq_drv_close(&d);
	cr_assert_eq(tvq_drv_open(&d, &g, TVQ_MGMT_FEATURES, 64), 0);
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_list(&d, 1, ids, 4, &n, &total), "8.10");
	cr_assert(n == 1 && ids[0] == b->id, "5.4: still there");
	cr_assert_eq(status_of(b->id), 0, "5.4: reset");
	EXPECT(0, tvq_mdev_restart(&d, b, ~0ULL, QSIZE), "5.4");
	blk_read_check(b, 0, 0, 11, 2048);
	EXPECT(TVQ_ACK_OK, tvq_mdev_down(&d, b), "6.6");
}

static unsigned int open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	unsigned int n = 0;

	cr_assert_not_null(dir);
	while (readdir(dir))
		n++;
	closedir(dir);
	return n;
}

/* 1000 CREATE ... DRIVER_OK ... DESTROY cycles: fds, memory and hv state come back. */
Test(tvq, create_destroy_1000_cycles)
{
	struct tvq_mdev *b = &md[0];
	struct fake_hv_stats st0, st1;
	size_t mem0 = 0, mem1;
	unsigned int fds0 = 0;
	uint64_t last = 0;

	for (unsigned int i = 0; i < 1020; i++) {
		if (i == 20) { /* after warm-up: lazily grown tables are grown */
			fds0 = open_fds();
			mem0 = __sanitizer_get_current_allocated_bytes();
			fake_hv_get_stats(g.hv, &st0);
		}
		cr_assert_eq(tvq_mdev_up(&d, b, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, 16), 0, "cycle %u",
			     i);
		cr_assert_gt(b->id, last, "6.2: ids grow");
		last = b->id;
		cr_assert_eq(b->doorbell, d.doorbell_bar, "slot 0 reused");
		cr_assert_eq(tvq_mdev_down(&d, b), TVQ_ACK_OK, "cycle %u", i);
	}
	fake_hv_get_stats(g.hv, &st1);
	mem1 = __sanitizer_get_current_allocated_bytes();
	cr_assert_eq(open_fds(), fds0, "file descriptors back where they started");
	cr_assert_eq(st1.ioeventfds, st0.ioeventfds);
	cr_assert_eq(st1.routes, st0.routes);
	cr_assert_eq(st1.irqfds, st0.irqfds);
	cr_assert_leq(mem1, mem0 + 64 * 1024, "heap back where it started: %zu -> %zu", mem0, mem1);
	cr_assert_eq(tvq_drv_cfg(&d, TVQ_CFG_MANAGED_GENERATION, 4), 2 * 1020, "3");
}

/* ---- net through a real TAP ---- */

/* An Ethernet frame with a local experimental ethertype, numbered by tag. */
static void frame(uint8_t *f, uint32_t len, const uint8_t *dst, uint8_t tag)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, (const uint8_t[6]){ 0x02, 0x11, 0x22, 0x33, 0x44, tag }, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	for (uint32_t i = 14; i < len; i++)
		f[i] = (uint8_t)(tag ^ i);
}

Test(tvq, net_frames_to_and_from_a_tap)
{
	struct net_dev_config cfg = { .queues = 1, .mac = { 0x52, 0x54, 0, 0xab, 0xcd, 0xef } };
	struct virtio_net_hdr_mrg_rxbuf hdr = { .num_buffers = 0 };
	struct tvq_mdev *n = &md[0];
	struct virtio_device *dev;
	struct err e = { { 0 } };
	uint8_t f[128], got[2048];
	uint64_t tx = data_area(4096), rx = data_area(16 * 2048);
	uint32_t used;
	char cmd[256];
	uint16_t head;
	bool seen = false;
	int s;

	if (access("/dev/net/tun", R_OK | W_OK))
		cr_skip_test("no /dev/net/tun: the TAP test needs it");
	snprintf(tap_name, sizeof(tap_name), "vqtvq%d", getpid() % 100000);
	snprintf(cmd, sizeof(cmd),
		 "ip tuntap add dev %s mode tap >/dev/null 2>&1 && "
		 "sysctl -qw net.ipv6.conf.%s.disable_ipv6=1 >/dev/null 2>&1; ip link set %s up",
		 tap_name, tap_name, tap_name);
	if (system(cmd)) {
		tap_name[0] = 0;
		cr_skip_test("cannot create a TAP with ip(8)");
	}
	cfg.tap = tap_name;
	cr_assert_eq(net_create(&dev, &cfg, &g.mem, &g.loop, &e), 0, "%s", e.msg);
	add_backend(dev, "tap0");
	/* Take the socket-pair net first, so CREATE picks the TAP next (6.6: order). */
	EXPECT(TVQ_ACK_OK, tvq_create(&d, TVQ_VIRTIO_ID_NET, 0, NULL, 0, NULL), "6.6");
	EXPECT(0, tvq_mdev_up(&d, n, TVQ_VIRTIO_ID_NET, F(VIRTIO_NET_F_MAC), 0, QSIZE), "6.6");
	cr_assert_eq(n->nq, 3, "rx, tx, control");
	EXPECT(TVQ_ACK_OK, tvq_config_get(&d, n->id, 0, 6, got), "6.11");
	cr_assert_arr_eq(got, cfg.mac, 6);
	s = host_packet_socket(tap_name);
	if (s < 0)
		cr_skip_test("no packet socket on %s: %s", tap_name, strerror(-s));

	/* guest -> host */
	frame(f, sizeof(f), (const uint8_t[6]){ 0x02, 0, 0, 0, 0, 0x77 }, 1);
	memcpy(tg_ptr(&g, tx, sizeof(hdr)), &hdr, sizeof(hdr));
	memcpy(tg_ptr(&g, tx + 64, sizeof(f)), f, sizeof(f));
	cr_assert_eq(tg_vring_add(&n->vq[1], (struct tg_sg[]){ { tx, NET_HDR_LEN, false },
							      { tx + 64, sizeof(f), false } }, 2,
				  &head), 0);
	tvq_mdev_kick(&d, n, 1);
	cr_assert_eq(tg_vring_wait(&g, &n->vq[1], head, 5000, NULL), 0, "tx completed");
	for (int i = 0; i < 50 && !seen; i++) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		ssize_t len = poll(&p, 1, 100) > 0 ? recv(s, got, sizeof(got), 0) : -1;

		seen = len == (ssize_t)sizeof(f) && !memcmp(got, f, sizeof(f));
	}
	cr_assert(seen, "the guest's frame reached the host side of the TAP");

	/* host -> guest */
	for (unsigned int i = 0; i < 16; i++) {
		struct tg_sg sg = { rx + i * 2048ULL, 2048, true };

		cr_assert_eq(tg_vring_add(&n->vq[0], &sg, 1, &head), 0);
	}
	tvq_mdev_kick(&d, n, 0);
	frame(f, sizeof(f), cfg.mac, 2);
	cr_assert_eq(send(s, f, sizeof(f), 0), (ssize_t)sizeof(f));
	seen = false;
	for (int i = 0; i < 200 && !seen; i++) {
		tg_vring_collect(&n->vq[0]);
		for (uint16_t h = 0; h < 16 && !seen; h++) {
			uint8_t *b = tg_ptr(&g, rx + h * 2048ULL, 2048);

			if (tg_vring_reap(&n->vq[0], h, &used))
				seen = used == NET_HDR_LEN + sizeof(f) &&
				       !memcmp(b + NET_HDR_LEN, f, sizeof(f));
		}
		if (!seen)
			fake_hv_wait(g.hv, 10);
	}
	cr_assert(seen, "the host's frame reached the guest");
	cr_assert_gt(tvq_mdev_irqs(&d, n, 0), 0, "rx interrupts");
	close(s);
	EXPECT(TVQ_ACK_OK, tvq_mdev_down(&d, n), "6.6");
}

/* ---- counters (metrics) ---- */

static unsigned int name_index(const char *const *names, unsigned int n, const char *name)
{
	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return i;
	cr_assert_fail("no counter named %s", name);
	return 0;
}

#define TQ(st, class, ack) \
	((st).transportq[class][name_index(mgmt_tvq_ack_names, MGMT_TVQ_ACKS, ack)])

static json_t *jget(json_t *j, const char *a, const char *b)
{
	json_t *v = json_object_get(j, a);

	return b ? json_object_get(v, b) : v;
}

/* Commands are counted by class and ack, adminq commands by command and status. */
Test(tvq, metrics_count_commands_by_class_and_ack)
{
	struct tvq_mdev *b = &md[0];
	struct tvq_admin_device_info_result info;
	struct mgmt_stats *st0 = calloc(1, sizeof(*st0)), *st1 = calloc(1, sizeof(*st1));
	uint64_t ids[8], total;
	unsigned int n;
	uint8_t status;
	json_t *j;

	cr_assert(st0 && st1);
	mgmt_get_stats(m, st0);
	EXPECT(0, tvq_mdev_up(&d, b, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, QSIZE), "6.6-6.16");
	EXPECT(TVQ_ACK_ENODEV, tvq_status_get(&d, 999, &status), "6.4 step 7");
	EXPECT(TVQ_ACK_EOPNOTSUPP, tq_raw(0, 99, 1, NULL, 0, 4), "6.4 step 4");
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_list(&d, 1, ids, 8, &n, &total), "8.10");
	EXPECT(TVQ_ADMIN_STATUS_OK, tvq_list(&d, 1, ids, 8, &n, &total), "8.10");
	EXPECT(TVQ_ADMIN_STATUS_INVALID_VDEV_ID, tvq_device_info(&d, 999, &info), "8.3");
	mgmt_get_stats(m, st1);

	cr_assert_eq(TQ(*st1, TVQ_CLASS_VDEV, "ok") - TQ(*st0, TVQ_CLASS_VDEV, "ok"), 1,
		     "one CREATE");
	cr_assert_gt(TQ(*st1, TVQ_CLASS_STATUS, "ok"), TQ(*st0, TVQ_CLASS_STATUS, "ok"));
	cr_assert_gt(TQ(*st1, TVQ_CLASS_VQ_ENABLE, "ok"), TQ(*st0, TVQ_CLASS_VQ_ENABLE, "ok"));
	cr_assert_eq(TQ(*st1, TVQ_CLASS_STATUS, "enodev") - TQ(*st0, TVQ_CLASS_STATUS, "enodev"),
		     1, "checked on the loop: counted all the same");
	cr_assert_eq(TQ(*st1, 0, "eopnotsupp") - TQ(*st0, 0, "eopnotsupp"), 1,
		     "a class past the last counts as other");
	cr_assert_eq(st1->adminq[TVQ_ADMIN_CMD_MANAGED_DEVICE_LIST][TVQ_ADMIN_STATUS_OK] -
			     st0->adminq[TVQ_ADMIN_CMD_MANAGED_DEVICE_LIST][TVQ_ADMIN_STATUS_OK],
		     2);
	cr_assert_eq(st1->adminq[TVQ_ADMIN_CMD_DEVICE_INFO][TVQ_ADMIN_STATUS_INVALID_VDEV_ID] -
			     st0->adminq[TVQ_ADMIN_CMD_DEVICE_INFO]
					[TVQ_ADMIN_STATUS_INVALID_VDEV_ID],
		     1);
	cr_assert_eq(st1->transportq_unanswered, st0->transportq_unanswered);
	cr_assert_gt(st1->irqs.injected, st0->irqs.injected,
		     "the management device's completions interrupt");

	j = metrics_mgmt_json(m);
	cr_assert_eq(json_integer_value(jget(jget(j, "transportq", "vdev"), "ok", NULL)),
		     TQ(*st1, TVQ_CLASS_VDEV, "ok"));
	cr_assert_eq(json_integer_value(jget(jget(j, "transportq", "status"), "enodev", NULL)),
		     1);
	cr_assert_eq(json_integer_value(jget(jget(j, "transportq", "other"), "eopnotsupp",
					     NULL)), 1);
	cr_assert_null(jget(jget(j, "transportq", "vdev"), "eio", NULL), "zeros are left out");
	cr_assert_null(jget(j, "transportq", "asid"), "and so are classes without commands");
	cr_assert_eq(json_integer_value(jget(jget(j, "adminq", "managed_device_list"), "ok",
					     NULL)), 2);
	cr_assert_eq(json_integer_value(jget(jget(j, "adminq", "device_info"),
					     "invalid_vdev_id", NULL)), 1);
	cr_assert_not_null(jget(j, "transportq_unanswered", NULL));
	cr_assert_not_null(jget(j, "adminq_unanswered", NULL));
	cr_assert_gt(json_integer_value(jget(j, "interrupts", "injected")), 0);
	json_decref(j);
	free(st0);
	free(st1);
}

/* The managed device whose id is id, in a metrics object's "devices". */
static json_t *managed_json(json_t *j, uint64_t id)
{
	const char *name;
	json_t *dev;

	json_object_foreach(json_object_get(j, "devices"), name, dev)
		if (json_integer_value(json_object_get(dev, "id")) == (json_int_t)id)
			return dev;
	cr_assert_fail("no device %lu in the metrics", (unsigned long)id);
	return NULL;
}

/* Device id's interrupt counters (mgmt_list), once they reach at least want's. */
static struct virtio_irq_stats irqs_reaching(uint64_t id, struct virtio_irq_stats want)
{
	struct mgmt_dev_info info[MAX_MANAGED];
	struct virtio_irq_stats got = { 0 };

	/* The interrupt follows the used ring the driver polls: it may come a bit later. */
	for (int t = 0; t < 2000; t++) {
		unsigned int n = mgmt_list(m, info, MAX_MANAGED);

		for (unsigned int i = 0; i < n; i++)
			if (info[i].id == id)
				got = info[i].irqs;
		if (got.injected >= want.injected && got.suppressed >= want.suppressed)
			break;
		usleep(1000);
	}
	return got;
}

/* A managed device's model counters and its interrupts, injected and suppressed. */
Test(tvq, metrics_of_a_managed_device)
{
	struct tvq_mdev *b = &md[0];
	struct virtio_irq_stats st0, st, st1;
	json_t *j, *dev;

	EXPECT(0, tvq_mdev_up(&d, b, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, QSIZE), "6.6");
	st0 = irqs_reaching(b->id, (struct virtio_irq_stats){ 0 });
	blk_read_check(b, 0, 0, 0, 4096);
	st = irqs_reaching(b->id, (struct virtio_irq_stats){ st0.injected + 1, 0 });
	cr_assert_eq(st.injected, st0.injected + 1, "the read's completion");
	cr_assert_eq(st.suppressed, st0.suppressed);
	j = metrics_mgmt_json(m);
	dev = managed_json(j, b->id);
	cr_assert_str_eq(json_string_value(json_object_get(dev, "type")), "block");
	cr_assert_eq(json_integer_value(jget(dev, "requests", "read")), 1);
	cr_assert_eq(json_integer_value(json_object_get(dev, "read_bytes")), 4096);
	cr_assert_not_null(jget(dev, "latency_us", "buckets"));
	cr_assert_eq(json_integer_value(jget(dev, "interrupts", "injected")),
		     (json_int_t)st.injected);
	cr_assert_eq(json_integer_value(jget(dev, "interrupts", "suppressed")),
		     (json_int_t)st.suppressed);
	json_decref(j);

	/* Masked: the completion's interrupt pends (suppressed), the unmask sends it. */
	EXPECT(TVQ_ACK_OK, tvq_msi_vq_flag(&d, b->id, TVQ_CMD_MSI_VQ_MASK, 0, 1), "6.12");
	blk_read_check(b, 0, 0, 1, 512);
	st1 = irqs_reaching(b->id, (struct virtio_irq_stats){ st.injected, st.suppressed + 1 });
	cr_assert_eq(st1.injected, st.injected);
	cr_assert_eq(st1.suppressed, st.suppressed + 1);
	EXPECT(TVQ_ACK_OK, tvq_msi_vq_flag(&d, b->id, TVQ_CMD_MSI_VQ_MASK, 0, 0), "6.12");
	st1 = irqs_reaching(b->id, (struct virtio_irq_stats){ st.injected + 1, 0 });
	cr_assert_eq(st1.injected, st.injected + 1, "sent by the unmask");
	cr_assert_eq(st1.suppressed, st.suppressed + 1);
}

/* A VM's metrics carry the management device's under "mgmt". */
Test(tvq, metrics_line_has_the_management_device)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct tvq_mdev *b = &md[0];
	json_t *j;

	cr_assert_not_null(vm);
	EXPECT(0, tvq_mdev_up(&d, b, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 0, QSIZE), "6.6");
	pthread_mutex_init(&vm->stop_lock, NULL);
	vm->mgmt = m;
	j = metrics_vm_json(vm);
	cr_assert_not_null(jget(jget(j, "mgmt", "transportq"), "vdev", NULL));
	cr_assert_str_eq(json_string_value(jget(managed_json(jget(j, "mgmt", NULL), b->id),
						"type", NULL)), "block");
	json_decref(j);
	pthread_mutex_destroy(&vm->stop_lock);
	free(vm);
}
