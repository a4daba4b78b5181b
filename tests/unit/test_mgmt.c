/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The management device's own part (virtio/mgmt*.c): its PCI function and config, the
 * framing and checks of both queues, the backend pool behind CREATE, ids and slots,
 * AVAIL_RES, the MSI pool accounting, the adminq, pre-creation, host hot-add and
 * removal, and its reset. Driven as a guest would, through the in-process guest and
 * driver of tests/unit/lib, with the real managed.c; the backends are fake device models
 * (and a real virtio-net on a socketpair for the MAC).
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/lib/guest.h"
#include "tests/unit/lib/tvq_driver.h"
#include "virtio/mgmt.h"
#include "virtio/net.h"
#include "virtio/tvq_proto.h"

#define BIT(n) (1ULL << (n))
#define ALL TVQ_MGMT_FEATURES
#define NO_F63 (ALL & ~BIT(TVQ_F_FEATURE_63_0_MGMT))
#define QSIZE 64
#define MAX_MODELS 16

/* ---- fake backends ---- */

struct fmodel {
	struct virtio_device dev;
	struct virtqueue vqs[8];
	uint8_t config[12];
	unsigned int index;
};

static bool destroyed[MAX_MODELS];

static uint64_t fm_features(struct virtio_device *dev)
{
	return BIT(5) | VIRTIO_COMMON_FEATURES;
}

static void fm_config_read(struct virtio_device *dev, uint32_t off, void *buf, uint32_t len)
{
	memcpy(buf, ((struct fmodel *)dev->priv)->config + off, len);
}

static void fm_config_write(struct virtio_device *dev, uint32_t off, const void *buf,
			    uint32_t len)
{
}

static int fm_activate(struct virtio_device *dev)
{
	return 0;
}

static void fm_nop(struct virtio_device *dev)
{
}

static void fm_queue_nop(struct virtio_device *dev, unsigned int q)
{
}

static void fm_destroy(struct virtio_device *dev)
{
	struct fmodel *f = dev->priv;

	destroyed[f->index] = true;
	free(f);
}

static const struct virtio_device_ops fm_ops = {
	.features = fm_features,
	.config_read = fm_config_read,
	.config_write = fm_config_write,
	.activate = fm_activate,
	.queue_notify = fm_queue_nop,
	.reset = fm_nop,
	.queue_reset = fm_queue_nop,
	.queue_stop = fm_queue_nop,
	.destroy = fm_destroy,
};

/* ---- the machine ---- */

static struct test_guest g;
static struct mgmt *m;
static struct tvq_drv d;
static bool drv_open;
static unsigned int nr_models;

static struct virtio_device *model(uint32_t type, unsigned int nq)
{
	struct fmodel *f = calloc(1, sizeof(*f));

	cr_assert_not_null(f);
	cr_assert_lt(nr_models, MAX_MODELS);
	f->index = nr_models++;
	destroyed[f->index] = false;
	f->dev = (struct virtio_device){
		.name = "fake", .device_type = type, .ops = &fm_ops, .priv = f,
		.config_size = sizeof(f->config), .nr_queues = nq, .vqs = f->vqs,
		.mem = &g.mem, .loop = &g.loop,
	};
	for (unsigned int i = 0; i < nq; i++)
		f->vqs[i].max_size = 256;
	f->config[0] = 0x52; /* a unicast MAC for net models */
	f->config[5] = f->index;
	return &f->dev;
}

static void start(unsigned int max_managed, unsigned int pool, bool precreate,
		  uint32_t removal_ms)
{
	struct mgmt_params p = {
		.max_managed = max_managed, .msix_pool_size = pool, .precreate = precreate,
		.removal_timeout_ms = removal_ms,
	};
	struct err e;

	nr_models = 0;
	cr_assert_eq(tg_init(&g, 64 << 20), 0);
	cr_assert_eq(mgmt_create(&m, &p, &g.host, fake_hv_hv(g.hv), &g.mem, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(tg_start_loop(&g), 0);
}

static void open_drv(uint64_t features)
{
	cr_assert_eq(tvq_drv_open(&d, &g, features, QSIZE), 0);
	drv_open = true;
}

static void close_drv(void)
{
	if (drv_open)
		tvq_drv_close(&d);
	drv_open = false;
}

static void teardown(void)
{
	close_drv();
	mgmt_destroy(m);
	m = NULL;
	tg_stop_loop(&g);
	tg_fini(&g);
}

TestSuite(mgmt, .fini = teardown);

static uint64_t add(uint32_t type, unsigned int nq, const char *name)
{
	uint64_t id;
	struct err e;

	cr_assert_eq(mgmt_add_backend(m, model(type, nq), name, &id, &e), 0, "%s", e.msg);
	return id;
}

static uint64_t create(uint32_t type)
{
	uint64_t id = 0;

	cr_assert_eq(tvq_create(&d, type, 0, NULL, 0, &id), TVQ_ACK_OK);
	return id;
}

static struct tvq_admin_device_info_result info(uint64_t id)
{
	struct tvq_admin_device_info_result r;

	cr_assert_eq(tvq_device_info(&d, id, &r), TVQ_ADMIN_STATUS_OK, "DEVICE_INFO %lu", id);
	return r;
}

static struct tvq_avail_res avail(uint32_t type)
{
	struct tvq_avail_res r;

	cr_assert_eq(tvq_avail_res(&d, &type, &r), TVQ_ACK_OK);
	return r;
}

static struct tvq_admin_device_mgmt_attrs_result attrs(void)
{
	struct tvq_admin_device_mgmt_attrs_result r;

	cr_assert_eq(tvq_aq(&d, TVQ_ADMIN_CMD_DEVICE_MGMT_ATTRS, 0, 0, NULL, 0, &r, sizeof(r),
			    NULL), TVQ_ADMIN_STATUS_OK);
	return r;
}

static uint32_t generation(void)
{
	return tvq_drv_cfg(&d, TVQ_CFG_MANAGED_GENERATION, 4);
}

/* MANAGED_DEVICE_LIST from first with room for max ids: how many came. */
static unsigned int list(uint64_t first, uint64_t *ids, unsigned int max, uint64_t *total)
{
	struct tvq_admin_managed_device_list_result r;
	struct tvq_cmd *c = calloc(1, sizeof(*c));
	unsigned int n;

	tvq_cmd_aq(c, TVQ_ADMIN_CMD_MANAGED_DEVICE_LIST, 0, 0, &first, sizeof(first),
		   16 + 8 * max);
	cr_assert_eq(tvq_exec(&d, c), 0);
	cr_assert_eq(tvq_cmd_ack(c), TVQ_ADMIN_STATUS_OK);
	memcpy(&r, c->reply + 8, c->used_len - 8);
	n = r.num_identifiers;
	cr_assert_leq(n, max);
	cr_assert_eq(c->used_len, 8 + 16 + 8 * n);
	memcpy(ids, r.vdev_ids, n * sizeof(*ids));
	*total = r.num_managed_vdevs;
	free(c);
	return n;
}

/* A raw transportq command with the header patched by the caller. */
static int raw_tq(struct tvq_cmd *c)
{
	int ret = tvq_exec(&d, c);

	cr_assert_eq(ret, 0);
	return tvq_cmd_ack(c);
}

/* ---- the PCI function and its config ---- */

Test(mgmt, identity_config_and_features)
{
	uint8_t devfn;

	start(8, 32, false, 1000);
	cr_assert_eq(tg_pci_find(&g, 0x1af4, 0x10f0, 0, &devfn), 0);
	cr_assert_eq(devfn, mgmt_devfn(m));
	cr_assert_eq(tg_cfg_rd(&g, devfn, 0x08, 4), 0x08800001);
	cr_assert_eq(tg_cfg_rd(&g, devfn, 0x2c, 4), 0x10f01af4);
	open_drv(ALL);
	cr_assert_eq(tg_vpci_device_features(&g, &d.vp), TVQ_MGMT_FEATURES);
	cr_assert_eq(d.cfg.max_managed, 8);
	cr_assert_eq(d.cfg.managed_generation, 0);
	cr_assert_eq(d.cfg.msix_pool_first, TVQ_MSIX_POOL_FIRST);
	cr_assert_eq(d.cfg.msix_pool_size, 32);
	cr_assert_eq(d.cfg.doorbell_bar, TVQ_BAR_DOORBELL);
	cr_assert_eq(d.cfg.doorbell_stride, TVQ_DOORBELL_STRIDE);
	cr_assert_eq(d.cfg.removal_timeout_ms, 1000);
	cr_assert_eq(d.vp.pci.bar_size[TVQ_BAR_DOORBELL], 8 * 4096);
	cr_assert_eq(d.vp.pci.msix_entries, TVQ_MSIX_POOL_FIRST + 32);
	cr_assert_eq(tg_rd(&g, d.doorbell_bar, 2), 0, "BAR2 reads 0");
}

Test(mgmt, feature_dependencies_and_gating)
{
	const uint64_t v1 = BIT(TVQ_F_VERSION_1);
	int ret;

	start(4, 16, false, 1000);
	add(TVQ_VIRTIO_ID_BLOCK, 1, "b");
	ret = tvq_drv_open(&d, &g, v1 | BIT(TVQ_F_TRNSPT_VQ_VDEV) | BIT(TVQ_F_ADMIN_VQ), QSIZE);
	tvq_drv_close(&d);
	cr_assert_eq(ret, -EIO, "TRNSPT_VQ_VDEV needs TRNSPT_VQ");
	ret = tvq_drv_open(&d, &g, v1 | BIT(TVQ_F_FEATURE_63_0_MGMT), QSIZE);
	tvq_drv_close(&d);
	cr_assert_eq(ret, -EIO, "FEATURE_63_0_MGMT needs ADMIN_VQ");

	open_drv(v1 | BIT(TVQ_F_TRNSPT_VQ) | BIT(TVQ_F_ADMIN_VQ));
	cr_assert_eq(tvq_create(&d, TVQ_VIRTIO_ID_BLOCK, 0, NULL, 0, NULL), TVQ_ACK_EOPNOTSUPP,
		     "the transportq needs both of its bits");
	close_drv();
	open_drv(v1 | BIT(TVQ_F_TRNSPT_VQ) | BIT(TVQ_F_TRNSPT_VQ_VDEV));
	cr_assert_eq(tvq_aq(&d, TVQ_ADMIN_CMD_DEVICE_MGMT_ATTRS, 0, 0, NULL, 0, NULL, 0, NULL),
		     TVQ_ADMIN_STATUS_INVALID_COMMAND, "no ADMIN_VQ");
	cr_assert_eq(create(TVQ_VIRTIO_ID_BLOCK), 1);
}

/* ---- transportq framing (6.4) ---- */

Test(mgmt, transportq_checks_in_order)
{
	struct tvq_cmd *c = calloc(1, sizeof(*c));

	start(4, 16, false, 1000);
	open_drv(ALL);
	tvq_cmd_tq(c, 0, TVQ_CLASS_AVAIL_RES, 0, NULL, 0, 8);
	c->reply_len = 3;
	cr_assert_eq(raw_tq(c), TVQ_DRV_NO_REPLY, "reply buffer under 4 bytes");
	tvq_cmd_tq(c, 0, TVQ_CLASS_AVAIL_RES, 0, NULL, 0, 8);
	c->req_len = 15;
	cr_assert_eq(raw_tq(c), TVQ_ACK_EINVAL, "request under 16 bytes");
	tvq_cmd_tq(c, 0, 0, 0, NULL, 0, 8);
	cr_assert_eq(raw_tq(c), TVQ_ACK_EOPNOTSUPP, "class 0");
	tvq_cmd_tq(c, 7, TVQ_CLASS_VQ_NOTIFY, 0, NULL, 2, 16);
	cr_assert_eq(raw_tq(c), TVQ_ACK_EOPNOTSUPP, "VQ_NOTIFY command 0, before ENODEV");
	tvq_cmd_tq(c, 0, 15, 0, NULL, 0, 8);
	cr_assert_eq(raw_tq(c), TVQ_ACK_EOPNOTSUPP, "class 15");
	tvq_cmd_tq(c, 0, TVQ_CLASS_AVAIL_RES, 0, NULL, 0, 8);
	c->req[13] = 1;
	cr_assert_eq(raw_tq(c), TVQ_ACK_EINVAL, "header reserved");
	tvq_cmd_tq(c, 0, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_GET, NULL, 0, 1);
	cr_assert_eq(raw_tq(c), TVQ_ACK_EINVAL, "device_id 0 for a device's command");
	tvq_cmd_tq(c, 3, TVQ_CLASS_AVAIL_RES, 0, NULL, 0, 8);
	cr_assert_eq(raw_tq(c), TVQ_ACK_EINVAL, "AVAIL_RES with a device id");
	tvq_cmd_tq(c, 99, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_GET, NULL, 0, 1);
	cr_assert_eq(raw_tq(c), TVQ_ACK_ENODEV);
	tvq_cmd_tq(c, 0, TVQ_CLASS_AVAIL_RES, 0, NULL, 4, 8);
	cr_assert_eq(raw_tq(c), TVQ_ACK_EINVAL, "AVAIL_RES out-data of 4 bytes");
	tvq_cmd_tq(c, 0, TVQ_CLASS_AVAIL_RES, 0, NULL, 0, 7);
	cr_assert_eq(raw_tq(c), TVQ_ACK_EINVAL, "reply room under 4 + 8");
	tvq_cmd_tq(c, 0, TVQ_CLASS_VDEV, TVQ_CMD_VDEV_CREATE, NULL, 16 + 4096 + 8, 8);
	cr_assert_eq(raw_tq(c), TVQ_ACK_EINVAL, "a request longer than any");
	cr_assert_eq(c->used_len, 4);
	free(c);
}

Test(mgmt, create_checks)
{
	struct tvq_vdev_create_out h = { .virtio_device_id = TVQ_VIRTIO_ID_NET };
	uint8_t buf[64] = { 0 };
	uint8_t cfg[12] = { 0 };

	start(4, 16, false, 1000);
	open_drv(ALL);
	h.reserved = 1;
	memcpy(buf, &h, sizeof(h));
	cr_assert_eq(tvq_tq(&d, 0, 1, 0, buf, 16, NULL, 8), TVQ_ACK_EINVAL, "reserved");
	cr_assert_eq(tvq_create(&d, 3, 0, NULL, 0, NULL), TVQ_ACK_EINVAL, "type 3");
	cr_assert_eq(tvq_create(&d, TVQ_VIRTIO_ID_NET, 0, buf, 13, NULL), TVQ_ACK_EINVAL,
		     "net config is 12 bytes");
	cfg[8] = 1;
	cr_assert_eq(tvq_create(&d, TVQ_VIRTIO_ID_NET, 0, cfg, 12, NULL), TVQ_ACK_EINVAL,
		     "status is not choosable");
	cfg[8] = 0;
	cfg[0] = 0x01;
	cr_assert_eq(tvq_create(&d, TVQ_VIRTIO_ID_NET, 0, cfg, 6, NULL), TVQ_ACK_EINVAL,
		     "multicast MAC");
	cr_assert_eq(tvq_create(&d, TVQ_VIRTIO_ID_NET, 0, cfg, 3, NULL), TVQ_ACK_EINVAL,
		     "half a MAC");
	cr_assert_eq(tvq_create(&d, TVQ_VIRTIO_ID_BLOCK, 0, cfg, 1, NULL), TVQ_ACK_EINVAL,
		     "block: nothing choosable");
	cr_assert_eq(tvq_create(&d, TVQ_VIRTIO_ID_NET, 0, NULL, 0, NULL), TVQ_ACK_ENOSPC,
		     "no backend");
}

/* ---- the pool, ids and slots ---- */

Test(mgmt, create_picks_smallest_budget_then_provisioning_order)
{
	struct tvq_admin_device_info_result r;

	start(8, 64, false, 1000);
	add(TVQ_VIRTIO_ID_BLOCK, 4, "b4");
	add(TVQ_VIRTIO_ID_BLOCK, 1, "b1a");
	add(TVQ_VIRTIO_ID_BLOCK, 1, "b1b");
	add(TVQ_VIRTIO_ID_NET, 3, "n3");
	open_drv(ALL);
	cr_assert_eq(create(TVQ_VIRTIO_ID_BLOCK), 1);
	cr_assert_eq(create(TVQ_VIRTIO_ID_BLOCK), 2);
	cr_assert_eq(create(TVQ_VIRTIO_ID_NET), 3);
	cr_assert_eq(create(TVQ_VIRTIO_ID_BLOCK), 4);
	cr_assert_eq(tvq_create(&d, TVQ_VIRTIO_ID_BLOCK, 0, NULL, 0, NULL), TVQ_ACK_ENOSPC);
	r = info(1);
	cr_assert_str_eq((char *)r.backend_name, "b1a");
	cr_assert_eq(r.slot, 0);
	cr_assert_eq(r.origin, TVQ_ORIGIN_CREATE);
	cr_assert_eq(r.msix_budget, 2);
	cr_assert_eq(r.virtio_device_id, TVQ_VIRTIO_ID_BLOCK);
	cr_assert_eq(r.num_queues, 1);
	cr_assert_eq(r.state, TVQ_STATE_CREATED);
	cr_assert_str_eq((char *)info(2).backend_name, "b1b");
	cr_assert_str_eq((char *)info(3).backend_name, "n3");
	r = info(4);
	cr_assert_str_eq((char *)r.backend_name, "b4");
	cr_assert_eq(r.slot, 3);
	cr_assert_eq(r.msix_budget, 5);
}

Test(mgmt, ids_never_reused_lowest_free_slot)
{
	uint64_t ids[8], total;
	unsigned int n;
	uint8_t st;

	start(4, 64, false, 1000);
	for (int i = 0; i < 4; i++)
		add(TVQ_VIRTIO_ID_BLOCK, 1, (const char *[]){ "a", "b", "c", "d" }[i]);
	open_drv(ALL);
	for (uint64_t i = 1; i <= 3; i++)
		cr_assert_eq(create(TVQ_VIRTIO_ID_BLOCK), i);
	cr_assert_eq(generation(), 3);
	cr_assert_eq(tvq_destroy(&d, 2), TVQ_ACK_OK);
	cr_assert_eq(generation(), 4);
	cr_assert_eq(tvq_destroy(&d, 2), TVQ_ACK_ENODEV);
	cr_assert_eq(tvq_status_get(&d, 2, &st), TVQ_ACK_ENODEV);
	cr_assert_eq(tvq_device_info(&d, 2, &(struct tvq_admin_device_info_result){ 0 }),
		     TVQ_ADMIN_STATUS_INVALID_VDEV_ID);
	cr_assert_eq(create(TVQ_VIRTIO_ID_BLOCK), 4);
	cr_assert_eq(info(4).slot, 1, "the freed slot, not a new one");
	cr_assert_eq(create(TVQ_VIRTIO_ID_BLOCK), 5);
	cr_assert_eq(info(5).slot, 3);
	n = list(0, ids, 8, &total);
	cr_assert_eq(n, 4);
	cr_assert_eq(ids[0], 1);
	cr_assert_eq(ids[1], 3);
	cr_assert_eq(ids[2], 4);
	cr_assert_eq(ids[3], 5);
}

Test(mgmt, avail_res_counts)
{
	struct tvq_avail_res_get_out out = { 0 };
	struct tvq_avail_res r;
	struct tvq_cmd *c = calloc(1, sizeof(*c));

	start(8, 8, false, 1000);
	add(TVQ_VIRTIO_ID_BLOCK, 1, "b1a"); /* budget 2 */
	add(TVQ_VIRTIO_ID_BLOCK, 4, "b4");  /* 5 */
	add(TVQ_VIRTIO_ID_BLOCK, 1, "b1b"); /* 2 */
	add(TVQ_VIRTIO_ID_NET, 3, "n3");    /* 4 */
	open_drv(ALL);
	r = avail(TVQ_VIRTIO_ID_BLOCK);
	cr_assert_eq(r.num_avail_vqs, 6);
	cr_assert_eq(r.min_vdev_vqs, 1);
	cr_assert_eq(r.max_vdev_vqs, 4);
	cr_assert_eq(r.num_avail_vdev, 2, "2 + 2 fit in 8 vectors, 5 more do not");
	r = avail(0);
	cr_assert_eq(r.num_avail_vqs, 9);
	cr_assert_eq(r.num_avail_vdev, 3, "2 + 2 + 4");
	cr_assert_eq(tvq_avail_res(&d, NULL, &r), TVQ_ACK_OK, "empty out-data: all types");
	cr_assert_eq(r.num_avail_vdev, 3);
	r = avail(TVQ_VIRTIO_ID_NET);
	cr_assert_eq(r.num_avail_vqs, 3);
	cr_assert_eq(r.min_vdev_vqs, 3);
	cr_assert_eq(r.num_avail_vdev, 1);
	r = avail(7);
	cr_assert_eq(r.num_avail_vqs + r.min_vdev_vqs + r.max_vdev_vqs + r.num_avail_vdev, 0);
	create(TVQ_VIRTIO_ID_BLOCK);
	create(TVQ_VIRTIO_ID_BLOCK);
	r = avail(TVQ_VIRTIO_ID_BLOCK);
	cr_assert_eq(r.num_avail_vqs, 4);
	cr_assert_eq(r.num_avail_vdev, 0, "5 vectors wanted, 4 left");
	cr_assert_eq(tvq_create(&d, TVQ_VIRTIO_ID_BLOCK, 0, NULL, 0, NULL), TVQ_ACK_ENOSPC);
	cr_assert_eq(avail(TVQ_VIRTIO_ID_NET).num_avail_vdev, 1);
	tvq_cmd_tq(c, 0, TVQ_CLASS_AVAIL_RES, 0, &out, 8, 8);
	c->req[16 + 4] = 1;
	cr_assert_eq(raw_tq(c), TVQ_ACK_EINVAL, "reserved");
	free(c);
}

Test(mgmt, avail_res_limited_by_slots)
{
	start(2, 64, false, 1000);
	for (int i = 0; i < 3; i++)
		add(TVQ_VIRTIO_ID_BLOCK, 1, (const char *[]){ "a", "b", "c" }[i]);
	open_drv(ALL);
	cr_assert_eq(avail(0).num_avail_vdev, 2);
	create(TVQ_VIRTIO_ID_BLOCK);
	create(TVQ_VIRTIO_ID_BLOCK);
	cr_assert_eq(avail(0).num_avail_vdev, 0);
	cr_assert_eq(avail(0).num_avail_vqs, 1);
	cr_assert_eq(tvq_create(&d, TVQ_VIRTIO_ID_BLOCK, 0, NULL, 0, NULL), TVQ_ACK_ENOSPC);
}

/* ---- MSI pool accounting (DEVICE_MGMT, ATTRS) ---- */

Test(mgmt, msix_pool_accounting)
{
	struct tvq_admin_device_mgmt_attrs_result a;
	uint64_t val;
	uint8_t cs;

	start(4, 10, false, 1000);
	add(TVQ_VIRTIO_ID_BLOCK, 1, "b1");
	add(TVQ_VIRTIO_ID_BLOCK, 2, "b2");
	open_drv(ALL);
	a = attrs();
	cr_assert_eq(a.total_msix_count, 10);
	cr_assert_eq(a.assigned_msix_count, 0);
	cr_assert_eq(a.per_device_max_msix_count, 10);
	cr_assert_eq(a.attrs_mask, 0xf);
	create(TVQ_VIRTIO_ID_BLOCK);
	cr_assert_eq(attrs().assigned_msix_count, 2);
	val = 0;
	cr_assert_eq(tvq_device_mgmt(&d, 1, TVQ_ADMIN_MGMT_OP_QUERY, 0, &val, &cs), 0);
	cr_assert_eq(val, 2);
	val = 6;
	cr_assert_eq(tvq_device_mgmt(&d, 1, TVQ_ADMIN_MGMT_OP_ASSIGN, 0, &val, &cs), 0);
	cr_assert_eq(val, 6);
	cr_assert_eq(attrs().assigned_msix_count, 6);
	cr_assert_eq(info(1).msix_budget, 6);
	val = 11;
	cr_assert_eq(tvq_device_mgmt(&d, 1, TVQ_ADMIN_MGMT_OP_ASSIGN, 0, &val, &cs),
		     TVQ_ADMIN_STATUS_CS_ERR);
	cr_assert_eq(cs, TVQ_ADMIN_CS_ERR_RSC_COUNT_EXCEED);
	val = 10;
	cr_assert_eq(tvq_device_mgmt(&d, 1, TVQ_ADMIN_MGMT_OP_ASSIGN, 0, &val, &cs), 0,
		     "the device's own 6 count towards its new 10");
	cr_assert_eq(tvq_create(&d, TVQ_VIRTIO_ID_BLOCK, 0, NULL, 0, NULL), TVQ_ACK_ENOSPC,
		     "no vectors left for the default budget");
	val = 7;
	cr_assert_eq(tvq_device_mgmt(&d, 1, TVQ_ADMIN_MGMT_OP_ASSIGN, 0, &val, &cs), 0);
	cr_assert_eq(create(TVQ_VIRTIO_ID_BLOCK), 2);
	cr_assert_eq(attrs().assigned_msix_count, 10);
	val = 8;
	cr_assert_eq(tvq_device_mgmt(&d, 1, TVQ_ADMIN_MGMT_OP_ASSIGN, 0, &val, &cs),
		     TVQ_ADMIN_STATUS_CS_ERR);
	cr_assert_eq(cs, TVQ_ADMIN_CS_ERR_NO_RSC);
	cr_assert_eq(tvq_status_set(&d, 1, TVQ_STATUS_ACKNOWLEDGE), TVQ_ACK_OK);
	val = 1;
	cr_assert_eq(tvq_device_mgmt(&d, 1, TVQ_ADMIN_MGMT_OP_ASSIGN, 0, &val, &cs),
		     TVQ_ADMIN_STATUS_CS_ERR);
	cr_assert_eq(cs, TVQ_ADMIN_CS_ERR_VDEV_IN_USE);
	cr_assert_eq(tvq_destroy(&d, 1), TVQ_ACK_OK);
	cr_assert_eq(attrs().assigned_msix_count, 3, "destroy returns the budget");
}

Test(mgmt, device_mgmt_checks_and_features)
{
	struct tvq_admin_device_mgmt_data data = { .operation = 2 };
	uint64_t val, offered;
	uint8_t cs;

	start(4, 16, false, 1000);
	add(TVQ_VIRTIO_ID_BLOCK, 1, "b1");
	open_drv(ALL);
	create(TVQ_VIRTIO_ID_BLOCK);
	val = 0;
	cr_assert_eq(tvq_device_mgmt(&d, 1, 0, 0, &val, &cs), TVQ_ADMIN_STATUS_CS_ERR);
	cr_assert_eq(cs, TVQ_ADMIN_CS_ERR_OP_UNSUPPORTED);
	cr_assert_eq(tvq_device_mgmt(&d, 1, 2, 2, &val, &cs), TVQ_ADMIN_STATUS_CS_ERR);
	cr_assert_eq(cs, TVQ_ADMIN_CS_ERR_RSC_UNSUPPORTED);
	val = 1;
	cr_assert_eq(tvq_device_mgmt(&d, 1, 2, 0, &val, &cs), TVQ_ADMIN_STATUS_INVALID_FIELD);
	data.reserved0 = 1;
	cr_assert_eq(tvq_aq(&d, TVQ_ADMIN_CMD_DEVICE_MGMT, 1, 1, &data, sizeof(data), NULL, 0,
			    NULL), TVQ_ADMIN_STATUS_INVALID_FIELD);
	cr_assert_eq(tvq_aq(&d, TVQ_ADMIN_CMD_DEVICE_MGMT, 0, 0, &data, sizeof(data), NULL, 0,
			    NULL), TVQ_ADMIN_STATUS_INVALID_FIELD, "dst_type 0");
	val = 0;
	cr_assert_eq(tvq_device_mgmt(&d, 1, 2, 1, &val, &cs), 0);
	offered = val;
	cr_assert(offered & BIT(5));
	cr_assert(offered & BIT(TVQ_F_VERSION_1));
	val = BIT(50);
	cr_assert_eq(tvq_device_mgmt(&d, 1, 1, 1, &val, &cs), TVQ_ADMIN_STATUS_CS_ERR);
	cr_assert_eq(cs, TVQ_ADMIN_CS_ERR_RSC_VAL_INVALID);
	val = BIT(TVQ_F_VERSION_1);
	cr_assert_eq(tvq_device_mgmt(&d, 1, 1, 1, &val, &cs), 0);
	cr_assert_eq(val, BIT(TVQ_F_VERSION_1), "what is offered now");
	close_drv();
	open_drv(NO_F63);
	val = 0;
	cr_assert_eq(tvq_device_mgmt(&d, 1, 2, 1, &val, &cs), TVQ_ADMIN_STATUS_CS_ERR);
	cr_assert_eq(cs, TVQ_ADMIN_CS_ERR_RSC_UNSUPPORTED, "resource 1 needs FEATURE_63_0");
	cr_assert_eq(attrs().attrs_mask, 0x7);
	cr_assert_eq(attrs().managed_device_features_63_0, 0);
}

/* ---- the adminq (section 8) ---- */

Test(mgmt, adminq_checks_identify_caps_info)
{
	struct tvq_admin_device_identify_result *idr = calloc(1, sizeof(*idr));
	struct tvq_admin_device_mgmt_caps_result *caps = calloc(1, sizeof(*caps));
	struct tvq_cmd *c = calloc(1, sizeof(*c));

	start(4, 16, false, 1000);
	add(TVQ_VIRTIO_ID_BLOCK, 1, "b1");
	add(TVQ_VIRTIO_ID_NET, 3, "n1");
	open_drv(ALL);
	create(TVQ_VIRTIO_ID_BLOCK);
	create(TVQ_VIRTIO_ID_NET);
	cr_assert_eq(tvq_aq(&d, 0, 0, 0, NULL, 0, idr, sizeof(*idr), NULL), 0);
	cr_assert_eq(idr->attrs_mask, 0xf);
	cr_assert_eq(idr->vdev_id, 0);
	cr_assert_eq(idr->optional_caps_support, 0x6);
	cr_assert_eq(idr->num_supported_managed_vdevs, 4);
	cr_assert_eq(idr->max_managed_vdev_id, 2);
	cr_assert_eq(tvq_aq(&d, 0, 1, 2, NULL, 0, idr, sizeof(*idr), NULL), 0);
	cr_assert_eq(idr->attrs_mask, 0x3);
	cr_assert_eq(idr->vdev_id, 2);
	cr_assert_eq(idr->max_managed_vdev_id, 0);
	cr_assert_eq(tvq_aq(&d, 4, 0, 0, NULL, 0, caps, sizeof(*caps), NULL), 0);
	cr_assert_eq(caps->caps[0], 0x3);
	cr_assert_eq(tvq_aq(&d, 1, 0, 0, NULL, 0, NULL, 0, NULL), TVQ_ADMIN_STATUS_INVALID_COMMAND);
	cr_assert_eq(tvq_aq(&d, 7, 0, 0, NULL, 0, NULL, 0, NULL), TVQ_ADMIN_STATUS_INVALID_COMMAND);
	cr_assert_eq(tvq_aq(&d, 2, 0, 0, NULL, 0, NULL, 0, NULL), TVQ_ADMIN_STATUS_INVALID_FIELD);
	cr_assert_eq(tvq_aq(&d, 4, 1, 1, NULL, 0, NULL, 0, NULL), TVQ_ADMIN_STATUS_INVALID_FIELD);
	cr_assert_eq(tvq_aq(&d, 5, 0, 1, NULL, 0, NULL, 0, NULL), TVQ_ADMIN_STATUS_INVALID_FIELD);
	cr_assert_eq(tvq_aq(&d, 0, 2, 0, NULL, 0, NULL, 0, NULL), TVQ_ADMIN_STATUS_INVALID_FIELD);
	cr_assert_eq(tvq_aq(&d, 2, 1, 0, NULL, 0, NULL, 0, NULL),
		     TVQ_ADMIN_STATUS_INVALID_VDEV_ID);
	cr_assert_eq(tvq_aq(&d, 2, 1, 9, NULL, 0, NULL, 0, NULL),
		     TVQ_ADMIN_STATUS_INVALID_VDEV_ID);
	cr_assert_eq(tvq_aq(&d, 5, 0, 0, NULL, 1, NULL, 0, NULL), TVQ_ADMIN_STATUS_INVALID_FIELD,
		     "data where there is none");
	tvq_cmd_aq(c, 5, 0, 0, NULL, 0, 64);
	c->req[17] = 1;
	cr_assert_eq(tvq_exec(&d, c), 0);
	cr_assert_eq(tvq_cmd_ack(c), TVQ_ADMIN_STATUS_INVALID_FIELD, "reserved1");
	cr_assert_eq(c->used_len, 8);
	tvq_cmd_aq(c, 2, 1, 2, NULL, 0, 40);
	cr_assert_eq(tvq_exec(&d, c), 0);
	cr_assert_eq(tvq_cmd_ack(c), 0);
	cr_assert_eq(c->used_len, 8 + 40, "a short result buffer gets what fits");
	tvq_cmd_aq(c, 2, 1, 2, NULL, 0, 128);
	c->reply_len = 7;
	cr_assert_eq(tvq_exec(&d, c), 0);
	cr_assert_eq(tvq_cmd_ack(c), TVQ_DRV_NO_REPLY);
	free(idr);
	free(caps);
	free(c);
}

Test(mgmt, managed_device_list_paging)
{
	struct tvq_cmd *c = calloc(1, sizeof(*c));
	uint64_t ids[8], total, first = 0;
	unsigned int n;

	start(8, 64, false, 1000);
	for (int i = 0; i < 5; i++)
		add(TVQ_VIRTIO_ID_BLOCK, 1, (const char *[]){ "a", "b", "c", "d", "e" }[i]);
	open_drv(ALL);
	for (int i = 0; i < 5; i++)
		create(TVQ_VIRTIO_ID_BLOCK);
	cr_assert_eq(tvq_destroy(&d, 1), TVQ_ACK_OK);
	n = list(0, ids, 2, &total);
	cr_assert_eq(n, 2);
	cr_assert_eq(total, 4);
	cr_assert_eq(ids[0], 2);
	cr_assert_eq(ids[1], 3);
	n = list(4, ids, 8, &total);
	cr_assert_eq(n, 2);
	cr_assert_eq(ids[0], 4);
	cr_assert_eq(ids[1], 5);
	n = list(6, ids, 8, &total);
	cr_assert_eq(n, 0, "past the end is OK with no entries");
	cr_assert_eq(total, 4);
	tvq_cmd_aq(c, 6, 0, 0, &first, 8, 16 + 12);
	cr_assert_eq(tvq_exec(&d, c), 0);
	cr_assert_eq(c->used_len, 8 + 16 + 8, "whole entries only");
	tvq_cmd_aq(c, 6, 0, 0, &first, 8, 10);
	cr_assert_eq(tvq_exec(&d, c), 0);
	cr_assert_eq(tvq_cmd_ack(c), 0);
	cr_assert_eq(c->used_len, 8 + 10, "the header's first bytes");
	cr_assert_eq(c->reply[8], 0, "num_identifiers 0");
	free(c);
}

/* ---- destruction, pre-creation, hot-add, removal, reset ---- */

Test(mgmt, destroy_needs_reset_after_driver_ok)
{
	struct tvq_mdev md = { 0 };

	start(4, 16, false, 1000);
	add(TVQ_VIRTIO_ID_BLOCK, 1, "b1");
	open_drv(ALL);
	cr_assert_eq(tvq_mdev_up(&d, &md, TVQ_VIRTIO_ID_BLOCK, BIT(TVQ_F_VERSION_1), 0, 16), 0);
	cr_assert_eq(info(md.id).state, TVQ_STATE_LIVE);
	cr_assert_eq(tvq_destroy(&d, md.id), TVQ_ACK_EBUSY);
	cr_assert_eq(avail(0).num_avail_vdev, 0);
	cr_assert_eq(tvq_mdev_down(&d, &md), TVQ_ACK_OK);
	cr_assert_eq(avail(0).num_avail_vdev, 1, "the backend is back in the pool");
	cr_assert_eq(create(TVQ_VIRTIO_ID_BLOCK), 2);
	tvq_mdev_free(&md);
}

Test(mgmt, precreate_and_hot_add)
{
	struct tvq_admin_device_info_result r;
	uint64_t ids[4], total;
	unsigned int n;

	start(4, 16, true, 1000);
	cr_assert_eq(add(TVQ_VIRTIO_ID_BLOCK, 1, "disk0"), 1);
	cr_assert_eq(add(TVQ_VIRTIO_ID_NET, 3, "net0"), 2);
	open_drv(ALL);
	cr_assert_eq(d.cfg.managed_generation, 0, "pre-created devices are the start");
	n = list(0, ids, 4, &total);
	cr_assert_eq(n, 2);
	r = info(2);
	cr_assert_eq(r.origin, TVQ_ORIGIN_HOST);
	cr_assert_str_eq((char *)r.backend_name, "net0");
	cr_assert_eq(avail(0).num_avail_vdev, 0, "pre-created backends are not free");
	cr_assert_eq(add(TVQ_VIRTIO_ID_BLOCK, 2, "disk1"), 3, "hot-add");
	cr_assert_eq(generation(), 1);
	cr_assert_eq(info(3).slot, 2);
	cr_assert(fake_hv_irqs(g.hv, TG_MSI_ADDR, TVQ_DRV_MSI_CONFIG) >= 1 ||
		  fake_hv_wait(g.hv, 1000), "config interrupt");
}

Test(mgmt, add_backend_refusals)
{
	struct err e;
	uint64_t id;
	struct virtio_device *dev;

	start(1, 2, true, 1000);
	cr_assert_eq(add(TVQ_VIRTIO_ID_BLOCK, 1, "a"), 1);
	dev = model(TVQ_VIRTIO_ID_BLOCK, 1);
	cr_assert_eq(mgmt_add_backend(m, dev, "b", &id, &e), -1, "no free slot");
	cr_assert_eq(mgmt_add_backend(m, dev, "a", &id, &e), -1, "name taken");
	cr_assert_eq(mgmt_add_backend(m, dev, "0123456789012345678901234567890123", &id, &e), -1);
	dev->ops->destroy(dev);
}

Test(mgmt, host_removal_with_timeout)
{
	struct err e;
	uint32_t gen;
	uint64_t ids[4], total;
	unsigned int n;

	start(4, 16, true, 200);
	add(TVQ_VIRTIO_ID_BLOCK, 1, "disk0");
	add(TVQ_VIRTIO_ID_BLOCK, 1, "disk1");
	open_drv(ALL);
	cr_assert_eq(mgmt_remove(m, 9, &e), -1);
	cr_assert_eq(mgmt_remove(m, 1, &e), 0);
	gen = generation();
	cr_assert_eq(gen, 1);
	cr_assert_eq(info(1).removal_requested, 1);
	cr_assert_eq(mgmt_remove(m, 1, &e), 0);
	cr_assert_eq(generation(), gen, "a second request changes nothing");
	n = list(0, ids, 4, &total);
	cr_assert_eq(n, 2, "listed until destroyed");
	usleep(600 * 1000);
	n = list(0, ids, 4, &total);
	cr_assert_eq(n, 1);
	cr_assert_eq(ids[0], 2);
	cr_assert_eq(generation(), gen + 1);
	cr_assert_eq(tvq_device_info(&d, 1, &(struct tvq_admin_device_info_result){ 0 }),
		     TVQ_ADMIN_STATUS_INVALID_VDEV_ID);
	cr_assert(destroyed[0], "the backend left vqvm");
	cr_assert_eq(mgmt_remove_backend(m, "disk0", &e), -1);
}

Test(mgmt, forced_removal_of_a_live_device)
{
	struct tvq_mdev md = { 0 };
	struct err e;
	uint8_t st;

	start(4, 16, false, 100);
	add(TVQ_VIRTIO_ID_BLOCK, 2, "disk0");
	open_drv(ALL);
	cr_assert_eq(tvq_mdev_up(&d, &md, TVQ_VIRTIO_ID_BLOCK, BIT(TVQ_F_VERSION_1), 0, 16), 0);
	cr_assert_eq(mgmt_remove(m, md.id, &e), 0);
	cr_assert_eq(info(md.id).state, TVQ_STATE_LIVE, "usable until the timeout");
	usleep(500 * 1000);
	cr_assert_eq(tvq_status_get(&d, md.id, &st), TVQ_ACK_ENODEV);
	cr_assert(destroyed[0]);
	cr_assert_eq(generation(), 3, "create, removal request, forced destruction");
	cr_assert_eq(attrs().assigned_msix_count, 0);
	tvq_mdev_free(&md);
}

Test(mgmt, host_removal_then_guest_destroy)
{
	struct err e;

	start(4, 16, true, 10000);
	add(TVQ_VIRTIO_ID_BLOCK, 1, "disk0");
	open_drv(ALL);
	cr_assert_eq(mgmt_remove(m, 1, &e), 0);
	cr_assert_eq(tvq_destroy(&d, 1), TVQ_ACK_OK);
	cr_assert(destroyed[0]);
	cr_assert_eq(avail(0).num_avail_vqs, 0, "not back in the pool");
	cr_assert_eq(generation(), 2);
}

Test(mgmt, remove_free_backend)
{
	struct err e;

	start(4, 16, false, 1000);
	add(TVQ_VIRTIO_ID_BLOCK, 1, "disk0");
	open_drv(ALL);
	create(TVQ_VIRTIO_ID_BLOCK);
	cr_assert_eq(mgmt_remove_backend(m, "disk0", &e), -1, "serves a device");
	cr_assert_eq(tvq_destroy(&d, 1), TVQ_ACK_OK);
	cr_assert_eq(mgmt_remove_backend(m, "disk0", &e), 0);
	cr_assert(destroyed[0]);
	cr_assert_eq(tvq_create(&d, TVQ_VIRTIO_ID_BLOCK, 0, NULL, 0, NULL), TVQ_ACK_ENOSPC);
}

Test(mgmt, reset_keeps_devices)
{
	struct tvq_mdev md = { 0 };
	struct mgmt_dev_info li[4];
	uint64_t ids[4], total;
	unsigned int n;

	start(4, 16, false, 1000);
	add(TVQ_VIRTIO_ID_BLOCK, 1, "b1");
	add(TVQ_VIRTIO_ID_BLOCK, 1, "b2");
	open_drv(ALL);
	cr_assert_eq(tvq_mdev_up(&d, &md, TVQ_VIRTIO_ID_BLOCK, BIT(TVQ_F_VERSION_1), 0, 16), 0);
	create(TVQ_VIRTIO_ID_BLOCK);
	cr_assert_eq(mgmt_list(m, li, 4), 2);
	cr_assert_eq(li[0].status & TVQ_STATUS_DRIVER_OK, TVQ_STATUS_DRIVER_OK);
	close_drv(); /* status 0 */
	cr_assert_eq(mgmt_list(m, li, 4), 2);
	cr_assert_eq(li[0].status, 0, "managed devices are reset");
	cr_assert_str_eq(li[1].backend, "b2");
	open_drv(ALL);
	n = list(0, ids, 4, &total);
	cr_assert_eq(n, 2);
	cr_assert_eq(info(md.id).state, TVQ_STATE_CREATED);
	cr_assert_eq(tvq_destroy(&d, md.id), TVQ_ACK_OK);
	tvq_mdev_free(&md);
}

/* A real virtio-net model: CREATE's MAC, and the backend's own back on reuse. */
Test(mgmt, net_mac_chosen_and_restored)
{
	const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct net_dev_config cfg = { .queues = 1, .mac = { 0x52, 0x54, 0, 0, 0, 9 } };
	struct virtio_device *dev;
	uint8_t got[6];
	uint64_t id;
	struct err e;
	int sv[2];

	start(4, 16, false, 1000);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	cr_assert_eq(net_create_fds(&dev, &cfg, &sv[0], &g.mem, &g.loop, &e), 0, "%s", e.msg);
	cr_assert_eq(mgmt_add_backend(m, dev, "net0", &id, &e), 0, "%s", e.msg);
	open_drv(ALL);
	cr_assert_eq(tvq_create(&d, TVQ_VIRTIO_ID_NET, 0, mac, 6, &id), TVQ_ACK_OK);
	cr_assert_eq(tvq_config_get(&d, id, 0, 6, got), TVQ_ACK_OK);
	cr_assert_eq(memcmp(got, mac, 6), 0);
	cr_assert_eq(tvq_destroy(&d, id), TVQ_ACK_OK);
	cr_assert_eq(tvq_create(&d, TVQ_VIRTIO_ID_NET, 0, NULL, 0, &id), TVQ_ACK_OK);
	cr_assert_eq(tvq_config_get(&d, id, 0, 6, got), TVQ_ACK_OK);
	cr_assert_eq(memcmp(got, cfg.mac, 6), 0, "the backend's MAC again");
	close(sv[1]);
}

/* Several devices brought up at once: pipelined commands per device stay in order. */
Test(mgmt, pipelined_bring_up_of_several_devices)
{
	struct tvq_mdev md[3] = { 0 };

	start(4, 32, false, 1000);
	for (int i = 0; i < 3; i++)
		add(TVQ_VIRTIO_ID_BLOCK, 2, (const char *[]){ "a", "b", "c" }[i]);
	open_drv(ALL);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(tvq_mdev_up(&d, &md[i], TVQ_VIRTIO_ID_BLOCK, BIT(TVQ_F_VERSION_1), 0,
					 16), 0);
		cr_assert_eq(info(md[i].id).state, TVQ_STATE_LIVE);
	}
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(tvq_mdev_down(&d, &md[i]), TVQ_ACK_OK);
		tvq_mdev_free(&md[i]);
	}
	cr_assert_eq(attrs().assigned_msix_count, 0);
}

/* 5.2: a chain that breaks the virtqueue rules breaks the queue: DEVICE_NEEDS_RESET. */
Test(mgmt, broken_chain_needs_reset)
{
	struct tg_sg sg[2];
	uint16_t head;

	start(4, 16, false, 1000);
	open_drv(ALL);
	sg[0] = (struct tg_sg){ tg_alloc(&g, 64, 8), 64, true };
	sg[1] = (struct tg_sg){ tg_alloc(&g, 64, 8), 16, false }; /* readable after writable */
	cr_assert_eq(tg_vring_add(&d.vq[TVQ_QUEUE_TRANSPORTQ], sg, 2, &head), 0);
	tg_vring_kick(&g, &d.vq[TVQ_QUEUE_TRANSPORTQ], TVQ_QUEUE_TRANSPORTQ);
	for (int i = 0; i < 100 && !(tg_vpci_status(&g, &d.vp) & TVQ_STATUS_DEVICE_NEEDS_RESET);
	     i++)
		usleep(10 * 1000);
	cr_assert(tg_vpci_status(&g, &d.vp) & TVQ_STATUS_DEVICE_NEEDS_RESET);
	close_drv();
	open_drv(ALL);
	cr_assert_eq(avail(0).num_avail_vdev, 0, "a reset makes the queue usable again");
}

/* 2.4: the doorbells follow BAR2 when the guest moves it, before the device's next command. */
Test(mgmt, doorbells_follow_bar2)
{
	const uint64_t moved = 0xe0000000;
	struct fake_hv_stats before, after;
	uint8_t st;

	start(4, 16, false, 1000);
	add(TVQ_VIRTIO_ID_BLOCK, 1, "b1");
	open_drv(ALL);
	create(TVQ_VIRTIO_ID_BLOCK);
	cr_assert_eq(tvq_status_get(&d, 1, &st), TVQ_ACK_OK);
	fake_hv_get_stats(g.hv, &before);
	fake_hv_write(g.hv, false, d.doorbell_bar, 0, 2);
	fake_hv_get_stats(g.hv, &after);
	cr_assert_eq(after.ioeventfd_hits, before.ioeventfd_hits + 1, "slot 0, queue 0");
	tg_cfg_wr(&g, mgmt_devfn(m), 0x10 + 4 * TVQ_BAR_DOORBELL, 4, moved);
	cr_assert_eq(tvq_status_get(&d, 1, &st), TVQ_ACK_OK);
	fake_hv_get_stats(g.hv, &before);
	fake_hv_write(g.hv, false, moved, 0, 2);
	fake_hv_write(g.hv, false, d.doorbell_bar, 0, 2);
	fake_hv_get_stats(g.hv, &after);
	cr_assert_eq(after.ioeventfd_hits, before.ioeventfd_hits + 1, "only the new page");
	cr_assert_eq(after.ioeventfds, before.ioeventfds);
}

/* 5.4: a reset with commands queued and executing: none answered later, nothing lost. */
Test(mgmt, reset_with_commands_in_flight)
{
	struct tvq_cmd *c = calloc(QSIZE / 2, sizeof(*c));

	start(8, 64, false, 1000);
	for (int i = 0; i < 4; i++)
		add(TVQ_VIRTIO_ID_BLOCK, 1, (const char *[]){ "a", "b", "c", "d" }[i]);
	open_drv(ALL);
	for (int i = 0; i < QSIZE / 2; i++) {
		if (i % 8)
			tvq_cmd_tq(&c[i], 0, TVQ_CLASS_AVAIL_RES, 0, NULL, 0, 8);
		else
			tvq_cmd_tq(&c[i], 0, TVQ_CLASS_VDEV, TVQ_CMD_VDEV_CREATE,
				   &(struct tvq_vdev_create_out){ .virtio_device_id = 2 }, 16, 8);
		cr_assert_eq(tvq_submit(&d, &c[i]), 0);
	}
	tvq_kick(&d, TVQ_QUEUE_TRANSPORTQ);
	close_drv();
	open_drv(ALL);
	cr_assert_leq(attrs().assigned_msix_count, 8, "at most the 4 CREATEs took effect");
	cr_assert_eq(avail(0).num_avail_vdev + attrs().assigned_msix_count / 2, 4);
	free(c);
}
