/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio/managed.c driven the way the management device drives it: managed_command with
 * byte buffers laid out as docs/transport-vq.md says (never through the structs), for a
 * fake two-queue device model with 16 bytes of config (tests/unit/lib/fake_dev.h), the
 * fake hypervisor of tests/unit/lib/fake_hv.h in strict mode (ioeventfds, MSI routes,
 * irqfds), real guest memory (16 MiB; vq_activate maps the rings) and a real event loop
 * on its own thread, where the kick watches live. Interrupts are counted by the fake
 * hypervisor for the MSI message the irqfd's route carried when it was signalled.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/evloop.h"
#include "lib/guest_mem.h"
#include "lib/log.h"
#include "tests/unit/lib/fake_dev.h"
#include "tests/unit/lib/fake_hv.h"
#include "tests/unit/lib/vq_drv.h"
#include "virtio/blk.h"
#include "virtio/managed.h"
#include "virtio/tvq_proto.h"

#define BIT(n) (1ULL << (n))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MEM_SIZE (16ULL << 20)
#define QMAX 256
#define NQ 2
#define CFG_SIZE 16
#define SLOT 3
#define DB_OFFSET (SLOT * 4096ULL)
#define BAR_GPA 0xe0000000ULL
#define MSI_ADDR 0xfee00000ULL
#define VERSION_1 BIT(32)
#define EVENT_IDX BIT(29)
#define RING_RESET BIT(40)
/* Model bits: two device-type bits and some a managed device must never offer. */
#define FAKE_FEATURES (BIT(0) | BIT(5) | BIT(33) | BIT(34) | BIT(38) | BIT(41) | BIT(45))
#define OFFERED (BIT(0) | BIT(5) | VIRTIO_COMMON_FEATURES)

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 64
#define S_FAILED 128

#define OK 0
#define EIO_ 1
#define EBUSY_ 16
#define EINVAL_ 22
#define ENOSPC_ 28
#define EOPNOTSUPP_ 95
#define ERR_ 255

/* Bounds of the fake hypervisor's snapshots here (a device has few of either). */
#define MAX_IOEVENTS 16
#define MAX_ROUTES 16

/* ---- fake device model ---- */

_Static_assert(NQ == FAKE_DEV_NQ && CFG_SIZE == FAKE_DEV_CFG_SIZE, "the fake device's shape");

static const struct virtio_device_ops fake_ops = {
	FAKE_DEV_MANDATORY_OPS,
	.queue_reset = fake_dev_queue_reset,
	.queue_stop = fake_dev_queue_stop,
};

/* A model without queue_reset and queue_stop. */
static const struct virtio_device_ops fake_ops_minimal = { FAKE_DEV_MANDATORY_OPS };

/* ---- fixture ---- */

static struct guest_mem mem;
static struct evloop loop;
static pthread_t loop_thread;
static struct fake_hv *fhv;
static const struct hv *hv;
static struct fake_dev fdev;
static struct managed_dev *md;
static struct virtio_device *blk_model; /* a real model, for the tests that want one */
static char img[64];
static sem_t *loop_held; /* released by teardown if a test fails with the loop held */

/* The transport misused the fake hypervisor (strict mode) or the fake device. */
static void misuse(void *opaque, const char *what)
{
	cr_assert_fail("%s: %s", (const char *)opaque, what);
}

static void fake_init(struct fake_dev *f, const struct virtio_device_ops *ops)
{
	fake_dev_init(f, "fake0", TVQ_VIRTIO_ID_BLOCK, ops, FAKE_FEATURES, QMAX, &mem, &loop,
		      misuse, "fake device");
}

static const struct managed_params params = {
	.id = 7, .slot = SLOT, .doorbell_offset = DB_OFFSET, .doorbell_size = 4096,
	.features_allowed = 0, .features_provisioned = ~0ULL, .msix_budget = NQ + 1,
};

static void serve(const struct virtio_device_ops *ops, const struct managed_params *p)
{
	struct err e = { { 0 } };

	fake_init(&fdev, ops);
	cr_assert_eq(managed_create(&md, &fdev.dev, p, hv, &e), 0, "%s", e.msg);
}

static void setup(void)
{
	log_set_level(LOG_ERROR);
	/* No buses: the guest's doorbell writes are the ioeventfds' (doorbell()). */
	cr_assert_eq(fake_hv_create(&fhv, NULL, NULL), 0);
	fake_hv_set_strict(fhv, misuse, "fake hv");
	fake_hv_set_route_limit(fhv, MAX_ROUTES);
	hv = fake_hv_hv(fhv);
	cr_assert_eq(guest_mem_init(&mem, MEM_SIZE), 0);
	cr_assert_eq(evloop_init(&loop, 64), 0);
	cr_assert_eq(pthread_create(&loop_thread, NULL, vqd_run_loop, &loop), 0);
	serve(&fake_ops, &params);
}

static void teardown(void)
{
	if (loop_held)
		sem_post(loop_held);
	managed_destroy(md);
	if (blk_model) {
		blk_model->ops->destroy(blk_model);
		unlink(img);
	}
	evloop_stop(&loop);
	pthread_join(loop_thread, NULL);
	evloop_destroy(&loop);
	guest_mem_free(&mem);
	fake_hv_destroy(fhv);
}

TestSuite(managed, .init = setup, .fini = teardown, .timeout = 30);

/* ---- commands as byte buffers ---- */

static uint8_t reply[8192];
static size_t reply_len;

static void put(uint8_t *p, unsigned int off, unsigned int len, uint64_t v)
{
	for (unsigned int i = 0; i < len; i++)
		p[off + i] = v >> (8 * i);
}

static uint64_t get(const uint8_t *p, unsigned int off, unsigned int len)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < len; i++)
		v |= (uint64_t)p[off + i] << (8 * i);
	return v;
}

/* Run a command; the reply buffer is poisoned first, to see what was written. */
static uint32_t run(uint16_t class, uint16_t command, const uint8_t *out, size_t out_len,
		    size_t in_cap)
{
	memset(reply, 0xa5, sizeof(reply));
	return managed_command(md, class, command, out, out_len, reply, in_cap, &reply_len);
}

/* A command that must succeed and return in_size bytes of in-data. */
static uint64_t run_get(uint16_t class, uint16_t command, const uint8_t *out, size_t out_len,
			size_t in_size)
{
	uint32_t ack = run(class, command, out, out_len, in_size);

	cr_assert_eq(ack, OK, "class %u command %u: ack %u", class, command, ack);
	cr_assert_eq(reply_len, in_size);
	cr_assert_eq(reply[in_size], 0xa5, "nothing written past the in-data");
	return get(reply, 0, in_size < 8 ? in_size : 8);
}

static uint32_t status_set(uint8_t s)
{
	return run(TVQ_CLASS_STATUS, TVQ_CMD_STATUS_SET, &s, 1, 0);
}

static uint8_t status_get(void)
{
	return run_get(TVQ_CLASS_STATUS, TVQ_CMD_STATUS_GET, NULL, 0, 1);
}

static uint32_t feat_set(uint64_t f)
{
	uint8_t o[8];

	put(o, 0, 8, f);
	return run(TVQ_CLASS_FEAT, TVQ_CMD_FEAT_DRIVER_SET, o, 8, 0);
}

static uint64_t feat_get(uint16_t command)
{
	return run_get(TVQ_CLASS_FEAT, command, NULL, 0, 8);
}

/* The 4-byte { le16 queue_index, le16 value } (or two bytes) out-data. */
static uint32_t q4(uint16_t class, uint16_t command, uint16_t q, uint16_t v)
{
	uint8_t o[4];

	put(o, 0, 2, q);
	put(o, 2, 2, v);
	return run(class, command, o, 4, 0);
}

/* enable/mask flag and reserved byte after the queue index */
static uint16_t flag(uint8_t v, uint8_t reserved)
{
	return v | reserved << 8;
}

static uint64_t q_get(uint16_t class, uint16_t command, uint16_t q, size_t in_size)
{
	uint8_t o[2];

	put(o, 0, 2, q);
	return run_get(class, command, o, 2, in_size);
}

static uint32_t q_get_ack(uint16_t class, uint16_t command, uint16_t q, size_t in_cap)
{
	uint8_t o[2];

	put(o, 0, 2, q);
	return run(class, command, o, 2, in_cap);
}

static uint32_t addr_set(uint16_t q, uint64_t device, uint64_t desc, uint64_t driver,
			 uint8_t reserved)
{
	uint8_t o[32] = { 0 };

	put(o, 0, 2, q);
	o[7] = reserved;
	put(o, 8, 8, device);
	put(o, 16, 8, desc);
	put(o, 24, 8, driver);
	return run(TVQ_CLASS_VQ_ADDR, TVQ_CMD_VQ_ADDR_SET, o, 32, 0);
}

static uint32_t msi_vq_set(uint16_t q, uint64_t addr, uint32_t data, unsigned int rsv_byte)
{
	uint8_t o[24] = { 0 };

	put(o, 0, 2, q);
	put(o, 8, 8, addr);
	put(o, 16, 4, data);
	if (rsv_byte)
		o[rsv_byte] = 1;
	return run(TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_SET, o, 24, 0);
}

static uint32_t msi_cfg_set(uint64_t addr, uint32_t data, unsigned int rsv_byte)
{
	uint8_t o[16] = { 0 };

	put(o, 0, 8, addr);
	put(o, 8, 4, data);
	if (rsv_byte)
		o[rsv_byte] = 1;
	return run(TVQ_CLASS_MSI, TVQ_CMD_MSI_CONFIG_SET, o, 16, 0);
}

static uint32_t msi_cfg_flag(uint16_t command, uint8_t v)
{
	return run(TVQ_CLASS_MSI, command, &v, 1, 0);
}

static uint32_t config_get(uint32_t off, uint32_t size, size_t in_cap)
{
	uint8_t o[8];

	put(o, 0, 4, off);
	put(o, 4, 4, size);
	return run(TVQ_CLASS_CONFIG, TVQ_CMD_CONFIG_GET, o, 8, in_cap);
}

static uint32_t config_set(uint32_t off, uint32_t size, const uint8_t *data, size_t len)
{
	uint8_t o[64] = { 0 };

	put(o, 0, 4, off);
	put(o, 4, 4, size);
	memcpy(o + 8, data, len);
	return run(TVQ_CLASS_CONFIG, TVQ_CMD_CONFIG_SET, o, 8 + len, 0);
}

static uint32_t generation(void)
{
	return run_get(TVQ_CLASS_GENERATION, TVQ_CMD_GENERATION_GET, NULL, 0, 4);
}

/* ---- the driver's side ---- */

static uint64_t ring_base(unsigned int q)
{
	return 0x100000ULL + 0x10000ULL * q;
}

/* VQ_SIZE, VQ_ADDR: desc at base, driver area +0x1000, device area +0x2000. */
static void queue_setup(unsigned int q, uint16_t size)
{
	uint64_t base = ring_base(q);

	cr_assert_eq(q4(TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_SET, q, size), OK);
	cr_assert_eq(addr_set(q, base + 0x2000, base, base + 0x1000, 0), OK);
}

static void features_ok(uint64_t f)
{
	cr_assert_eq(status_set(S_ACK | S_DRIVER), OK);
	cr_assert_eq(feat_set(f), OK);
	cr_assert_eq(status_set(S_ACK | S_DRIVER | S_FEATURES_OK), OK);
	cr_assert_eq(status_get(), S_ACK | S_DRIVER | S_FEATURES_OK);
}

static void queue_enable(unsigned int q)
{
	queue_setup(q, 64);
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, q, flag(1, 0)), OK);
}

/* Features, both queues, DRIVER_OK. */
static void bring_up(uint64_t f)
{
	features_ok(f);
	for (unsigned int q = 0; q < NQ; q++)
		queue_enable(q);
	cr_assert_eq(status_set(S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK), OK);
}

static uint64_t msi_addr(unsigned int entry)
{
	return MSI_ADDR + 0x1000 * entry;
}

/* Entries 0..NQ-1 are the queues', NQ the config entry: distinct messages. */
static void msi_setup(unsigned int entry, bool enable)
{
	if (entry < NQ) {
		cr_assert_eq(msi_vq_set(entry, msi_addr(entry), 0x40 + entry, 0), OK);
		if (enable)
			cr_assert_eq(q4(TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_ENABLE, entry, flag(1, 0)),
				     OK);
		return;
	}
	cr_assert_eq(msi_cfg_set(msi_addr(entry), 0x40 + entry, 0), OK);
	if (enable)
		cr_assert_eq(msi_cfg_flag(TVQ_CMD_MSI_CONFIG_ENABLE, 1), OK);
}

static uint32_t msi_mask(unsigned int entry, uint8_t mask)
{
	if (entry < NQ)
		return q4(TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_MASK, entry, flag(mask, 0));
	return msi_cfg_flag(TVQ_CMD_MSI_CONFIG_MASK, mask);
}

static uint32_t msi_enable(unsigned int entry, uint8_t enable)
{
	if (entry < NQ)
		return q4(TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_ENABLE, entry, flag(enable, 0));
	return msi_cfg_flag(TVQ_CMD_MSI_CONFIG_ENABLE, enable);
}

/* The model has an interrupt for the entry: a queue's, or a config change. */
static void model_interrupt(unsigned int entry)
{
	if (entry < NQ)
		virtio_queue_interrupt(&fdev.dev, entry);
	else
		fdev.dev.transport->config_interrupt(&fdev.dev);
}

/* Whether an MSI route carries a message to addr; if so, a copy of it in *r. */
static bool route_for(uint64_t addr, struct fake_hv_route *r)
{
	struct fake_hv_route all[MAX_ROUTES];
	unsigned int n = fake_hv_routes(fhv, all, MAX_ROUTES);

	for (unsigned int i = 0; i < n && i < MAX_ROUTES; i++) {
		if (all[i].addr == addr) {
			*r = all[i];
			return true;
		}
	}
	return false;
}

static int routes_used(void)
{
	return fake_hv_routes(fhv, NULL, 0);
}

static uint64_t route_updates(void)
{
	struct fake_hv_stats st;

	fake_hv_get_stats(fhv, &st);
	return st.route_updates;
}

/* Interrupts the guest got through the entry's route since the last look. */
static uint64_t irqs(unsigned int entry)
{
	struct fake_hv_route r;

	cr_assert(route_for(msi_addr(entry), &r), "entry %u routed", entry);
	cr_assert_geq(r.irqfd, 0, "entry %u has an irqfd", entry);
	return fake_hv_take_irqs(fhv, r.addr, r.data);
}

/* ioeventfds registered now (at most MAX_IOEVENTS), copied to io. */
static unsigned int ioeventfds(struct fake_hv_ioeventfd *io)
{
	unsigned int n = fake_hv_ioeventfds(fhv, io, MAX_IOEVENTS);

	cr_assert_leq(n, MAX_IOEVENTS);
	return n;
}

static struct managed_info info(void)
{
	struct managed_info i;

	managed_get_info(md, &i);
	return i;
}

static int notifies(unsigned int q)
{
	return atomic_load(&fdev.notifies[q]);
}

static void wait_notifies(unsigned int q, int n)
{
	for (int i = 0; i < 2000 && notifies(q) < n; i++)
		usleep(1000);
	cr_assert_eq(notifies(q), n, "queue %u: %d notifies, want %d", q, notifies(q), n);
}

/* The guest writes q to the doorbell page: the ioeventfd registered for it fires. */
static void doorbell(uint64_t bar, uint16_t q)
{
	struct fake_hv_ioeventfd all[MAX_IOEVENTS];
	unsigned int n = ioeventfds(all);

	for (unsigned int i = 0; i < n && i < MAX_IOEVENTS; i++) {
		const struct fake_hv_ioeventfd *io = &all[i];

		if (io->addr == bar + DB_OFFSET && io->match && io->datamatch == q) {
			cr_assert_eq(eventfd_write(io->fd, 1), 0);
			return;
		}
	}
	cr_assert_fail("no ioeventfd for queue %u at %#lx", q, bar + DB_OFFSET);
}

/* ---- step 8 of 6.4 and the table of 6.5 ---- */

static const struct cmd_row {
	uint16_t class, command;
	size_t out, in;
	bool qidx;
} cmds[] = {
	{ 3, 0, 0, 8, false },  { 3, 1, 8, 0, false },  { 3, 2, 0, 8, false },
	{ 4, 0, 1, 0, false },  { 4, 1, 0, 1, false },  { 5, 0, 0, 4, false },
	{ 6, 0, 8, 0, false },  { 7, 0, 24, 0, true },  { 7, 1, 4, 0, true },
	{ 7, 2, 4, 0, true },   { 7, 3, 16, 0, false }, { 7, 4, 1, 0, false },
	{ 7, 5, 1, 0, false },  { 8, 0, 32, 0, true },  { 9, 0, 4, 0, true },
	{ 9, 1, 2, 1, true },   { 10, 0, 4, 0, true },  { 10, 1, 2, 2, true },
	{ 11, 1, 2, 16, true }, { 12, 0, 4, 0, true },  { 12, 1, 2, 2, true },
	{ 13, 0, 2, 0, true },  { 14, 0, 8, 0, true },
};

Test(managed, every_command_wants_its_exact_out_size_and_reply_room)
{
	uint8_t o[64] = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		const struct cmd_row *c = &cmds[i];

		cr_assert_eq(run(c->class, c->command, o, c->out + 1, c->in), EINVAL_,
			     "class %u command %u: one byte too many", c->class, c->command);
		cr_assert_eq(reply_len, 0);
		cr_assert_eq(reply[0], 0xa5, "nothing written on failure");
		if (c->out)
			cr_assert_eq(run(c->class, c->command, o, c->out - 1, c->in), EINVAL_,
				     "class %u command %u: one byte short", c->class, c->command);
		if (c->in)
			cr_assert_eq(run(c->class, c->command, o, c->out, c->in - 1), EINVAL_,
				     "class %u command %u: reply room short", c->class, c->command);
		cr_assert_eq(reply[0], 0xa5);
	}
	cr_assert_eq(status_get(), 0, "none of them did anything");
}

Test(managed, queue_index_out_of_range_is_einval_before_any_other_check)
{
	uint8_t o[64] = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		const struct cmd_row *c = &cmds[i];

		if (!c->qidx)
			continue;
		put(o, 0, 2, NQ);
		cr_assert_eq(run(c->class, c->command, o, c->out, c->in), EINVAL_,
			     "class %u command %u with queue %u", c->class, c->command, NQ);
		put(o, 0, 2, 0xffff);
		cr_assert_eq(run(c->class, c->command, o, c->out, c->in), EINVAL_);
	}
	/* Where another check would fail with another code, the queue index still wins. */
	cr_assert_eq(q4(TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_ENABLE, 0, flag(1, 0)), EBUSY_);
	cr_assert_eq(q4(TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_ENABLE, NQ, flag(1, 0)), EINVAL_);
	cr_assert_eq(q_get_ack(TVQ_CLASS_VQ_RESET, TVQ_CMD_VQ_RESET_RESET, 0, 0), EOPNOTSUPP_);
	cr_assert_eq(q_get_ack(TVQ_CLASS_VQ_RESET, TVQ_CMD_VQ_RESET_RESET, NQ, 0), EINVAL_);
}

Test(managed, unknown_commands_are_eopnotsupp)
{
	static const uint16_t bad[][2] = { { 0, 0 }, { 3, 3 }, { 4, 2 }, { 5, 1 }, { 6, 2 },
					   { 7, 6 }, { 8, 1 }, { 11, 0 }, { 13, 1 }, { 15, 0 } };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		cr_assert_eq(run(bad[i][0], bad[i][1], NULL, 0, 64), EOPNOTSUPP_, "%u/%u",
			     bad[i][0], bad[i][1]);
}

Test(managed, reply_buffer_longer_than_needed_is_fine)
{
	cr_assert_eq(run(TVQ_CLASS_FEAT, TVQ_CMD_FEAT_DEVICE_GET, NULL, 0, 100), OK);
	cr_assert_eq(reply_len, 8);
	cr_assert_eq(reply[8], 0xa5);
}

/* ---- class 3 FEAT ---- */

Test(managed, offered_features_are_the_models_with_version_1_and_never_the_forbidden)
{
	cr_assert_eq(feat_get(TVQ_CMD_FEAT_DEVICE_GET), OFFERED);
	cr_assert_eq(info().device_features, OFFERED);
	cr_assert_eq(feat_get(TVQ_CMD_FEAT_DRIVER_GET), 0);
}

Test(managed, features_allowed_and_provisioned_restrict_but_keep_version_1)
{
	struct managed_params p = params;
	uint64_t offered;

	managed_destroy(md);
	p.features_allowed = BIT(0) | BIT(33) | EVENT_IDX;
	serve(&fake_ops, &p);
	cr_assert_eq(feat_get(TVQ_CMD_FEAT_DEVICE_GET), BIT(0) | EVENT_IDX | VERSION_1);
	cr_assert_eq(managed_set_features(md, EVENT_IDX, &offered), 0);
	cr_assert_eq(offered, EVENT_IDX | VERSION_1);
	cr_assert_eq(feat_get(TVQ_CMD_FEAT_DEVICE_GET), EVENT_IDX | VERSION_1);
	cr_assert_eq(managed_set_features(md, 0, &offered), 0);
	cr_assert_eq(offered, VERSION_1, "VERSION_1 cannot be provisioned away");
	/* Only while the status is 0. */
	cr_assert_eq(status_set(S_ACK), OK);
	cr_assert_eq(managed_set_features(md, ~0ULL, &offered), -EBUSY);
	cr_assert_eq(offered, VERSION_1);
}

Test(managed, ring_reset_is_offered_only_with_queue_reset)
{
	managed_destroy(md);
	serve(&fake_ops_minimal, &params);
	cr_assert_eq(feat_get(TVQ_CMD_FEAT_DEVICE_GET), OFFERED & ~RING_RESET);
}

Test(managed, driver_set_checks_offered_then_features_ok)
{
	cr_assert_eq(feat_set(VERSION_1 | BIT(1)), EINVAL_, "bit 1 is not offered");
	cr_assert_eq(feat_set(VERSION_1 | BIT(33)), EINVAL_, "never offered");
	cr_assert_eq(feat_get(TVQ_CMD_FEAT_DRIVER_GET), 0, "a failed SET changes nothing");
	cr_assert_eq(feat_set(VERSION_1 | BIT(0)), OK);
	cr_assert_eq(feat_set(VERSION_1 | BIT(5)), OK, "replaces the previous value");
	cr_assert_eq(feat_get(TVQ_CMD_FEAT_DRIVER_GET), VERSION_1 | BIT(5));
	cr_assert_eq(info().driver_features, VERSION_1 | BIT(5));
	cr_assert_eq(status_set(S_ACK | S_DRIVER), OK);
	cr_assert_eq(status_set(S_ACK | S_DRIVER | S_FEATURES_OK), OK);
	cr_assert_eq(fdev.dev.driver_features, VERSION_1 | BIT(5), "the model sees them");
	cr_assert_eq(feat_set(VERSION_1), EBUSY_);
	cr_assert_eq(feat_set(BIT(1)), EINVAL_, "the offered check comes first");
}

/* ---- class 4 STATUS ---- */

Test(managed, status_rules)
{
	cr_assert_eq(status_set(0x10), EINVAL_, "reserved bit 16");
	cr_assert_eq(status_set(S_ACK | 0x20), EINVAL_, "reserved bit 32");
	cr_assert_eq(status_set(S_ACK | S_FEATURES_OK), EINVAL_, "FEATURES_OK without DRIVER");
	cr_assert_eq(status_set(S_ACK | S_DRIVER | S_DRIVER_OK), EINVAL_,
		     "DRIVER_OK without FEATURES_OK");
	cr_assert_eq(status_get(), 0);
	cr_assert_eq(status_set(S_ACK | S_NEEDS_RESET), OK, "NEEDS_RESET is ignored");
	cr_assert_eq(status_get(), S_ACK);
	cr_assert_eq(status_set(S_DRIVER), EINVAL_, "ACKNOWLEDGE is sticky");
	cr_assert_eq(status_set(S_ACK | S_DRIVER), OK);
	/* No VERSION_1 accepted: FEATURES_OK is refused silently. */
	cr_assert_eq(status_set(S_ACK | S_DRIVER | S_FEATURES_OK), OK);
	cr_assert_eq(status_get(), S_ACK | S_DRIVER);
	cr_assert_eq(status_set(S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK), OK);
	cr_assert_eq(status_get(), S_ACK | S_DRIVER, "nor DRIVER_OK with it");
	cr_assert_eq(fdev.activates, 0);
	cr_assert_eq(feat_set(VERSION_1), OK);
	cr_assert_eq(status_set(S_ACK | S_DRIVER | S_FEATURES_OK), OK);
	cr_assert_eq(status_get(), S_ACK | S_DRIVER | S_FEATURES_OK);
	cr_assert_eq(status_set(S_ACK | S_DRIVER), EINVAL_, "FEATURES_OK is sticky");
	cr_assert_eq(status_set(S_ACK | S_DRIVER | S_FEATURES_OK | S_FAILED), OK);
	cr_assert_eq(status_get(), S_ACK | S_DRIVER | S_FEATURES_OK | S_FAILED);
	cr_assert_eq(fdev.activates, 0, "FAILED changes nothing else");
	cr_assert_eq(info().status, S_ACK | S_DRIVER | S_FEATURES_OK | S_FAILED);
}

Test(managed, features_ok_refused_for_bits_no_longer_offered)
{
	uint64_t offered;

	cr_assert_eq(feat_set(VERSION_1 | BIT(5)), OK);
	cr_assert_eq(managed_set_features(md, ~BIT(5), &offered), 0);
	cr_assert_eq(status_set(S_ACK | S_DRIVER | S_FEATURES_OK), OK);
	cr_assert_eq(status_get(), S_ACK | S_DRIVER);
}

Test(managed, driver_ok_activates_the_model)
{
	bring_up(VERSION_1);
	cr_assert_eq(fdev.activates, 1);
	cr_assert_eq(status_get(), S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	for (unsigned int q = 0; q < NQ; q++)
		cr_assert(fdev.vqs[q].active, "queue %u mapped before activate", q);
}

Test(managed, driver_ok_failure_is_eio_with_needs_reset_and_a_config_interrupt)
{
	features_ok(VERSION_1);
	queue_enable(0);
	msi_setup(NQ, true);
	fdev.activate_ret = -EIO;
	cr_assert_eq(status_set(S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK), EIO_);
	cr_assert_eq(status_get(),
		     S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK | S_NEEDS_RESET);
	cr_assert_eq(irqs(NQ), 1);
	cr_assert_eq(info().status & S_NEEDS_RESET, S_NEEDS_RESET);
	/* A write of what the driver read back is fine: NEEDS_RESET is ignored. */
	cr_assert_eq(status_set(S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK | S_NEEDS_RESET),
		     OK);
	cr_assert_eq(status_set(0), OK);
	cr_assert_eq(status_get(), 0, "reset clears NEEDS_RESET");
}

Test(managed, reset_forgets_everything_but_keeps_generation_and_budget)
{
	struct managed_info i;
	int resets;

	bring_up(VERSION_1 | EVENT_IDX);
	for (unsigned int e = 0; e <= NQ; e++)
		msi_setup(e, true);
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 0, flag(0, 0)), OK);
	cr_assert_eq(q4(TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_SET, 0, 99), OK);
	model_interrupt(NQ); /* a config change: generation 1 */
	cr_assert_eq(irqs(NQ), 1);
	cr_assert_eq(info().msix_in_use, NQ + 1);
	cr_assert_eq(routes_used(), NQ + 1);
	resets = fdev.resets;

	cr_assert_eq(status_set(0), OK);
	cr_assert_eq(fdev.resets, resets + 1, "the model was reset");
	cr_assert_eq(status_get(), 0);
	cr_assert_eq(feat_get(TVQ_CMD_FEAT_DRIVER_GET), 0);
	cr_assert_eq(fdev.dev.driver_features, 0);
	i = info();
	cr_assert_eq(i.msix_in_use, 0);
	cr_assert_eq(i.msix_budget, NQ + 1);
	cr_assert_eq(routes_used(), 0, "routes released");
	cr_assert_eq(generation(), 1, "kept");
	for (unsigned int q = 0; q < NQ; q++) {
		cr_assert_eq(q_get(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, q, 1), 0);
		cr_assert_eq(q_get(TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, q, 2), QMAX);
		cr_assert_eq(q_get(TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_GET, q, 2), 0);
		cr_assert_not(fdev.vqs[q].active);
	}
	/* Addresses are unset again: FEATURES_OK, then enabling wants them first. */
	features_ok(VERSION_1);
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 0, flag(1, 0)), EBUSY_);
	/* MSI entries are unset: enabling one is EBUSY. */
	cr_assert_eq(msi_enable(0, 1), EBUSY_);
	cr_assert_eq(msi_enable(NQ, 1), EBUSY_);
	managed_reset(md);
	cr_assert_eq(status_get(), 0);
}

/* ---- class 5 GENERATION and the model's transport ops ---- */

Test(managed, config_interrupt_bumps_generation_and_raises_the_config_entry)
{
	cr_assert_eq(generation(), 0);
	msi_setup(NQ, true);
	model_interrupt(NQ);
	model_interrupt(NQ);
	cr_assert_eq(generation(), 2);
	cr_assert_eq(irqs(NQ), 2);
}

Test(managed, needs_reset_is_ignored_at_status_0_and_raises_config_after)
{
	msi_setup(NQ, true);
	fdev.dev.transport->needs_reset(&fdev.dev);
	cr_assert_eq(status_get(), 0);
	cr_assert_eq(irqs(NQ), 0);
	cr_assert_eq(status_set(S_ACK), OK);
	fdev.dev.transport->needs_reset(&fdev.dev);
	cr_assert_eq(status_get(), S_ACK | S_NEEDS_RESET);
	cr_assert_eq(irqs(NQ), 1);
	cr_assert_eq(generation(), 0, "not a config change");
}

/* ---- class 6 CONFIG ---- */

Test(managed, config_get_and_set)
{
	uint8_t data[4] = { 1, 2, 3, 4 };

	cr_assert_eq(config_get(2, 4, 4), OK);
	cr_assert_eq(reply_len, 4);
	cr_assert_eq(get(reply, 0, 4), 0xc5c4c3c2);
	cr_assert_eq(reply[4], 0xa5);
	cr_assert_eq(config_get(0, CFG_SIZE, 100), OK);
	cr_assert_eq(reply_len, CFG_SIZE);
	cr_assert_eq(reply[CFG_SIZE - 1], 0xc0 + CFG_SIZE - 1);
	cr_assert_eq(config_set(12, 4, data, 4), OK);
	cr_assert_arr_eq(fdev.config + 12, data, 4);
	/* In any state. */
	bring_up(VERSION_1);
	cr_assert_eq(config_get(12, 1, 1), OK);
	cr_assert_eq(reply[0], 1);
}

Test(managed, config_range_checks)
{
	uint8_t data[8] = { 0 };

	cr_assert_eq(config_get(0, 0, 16), EINVAL_, "size 0");
	cr_assert_eq(config_get(CFG_SIZE - 1, 2, 16), EINVAL_, "past the end");
	cr_assert_eq(config_get(CFG_SIZE, 1, 16), EINVAL_);
	cr_assert_eq(config_get(0xffffffffU, 2, 16), EINVAL_, "offset + size overflows");
	cr_assert_eq(config_get(0, 0xffffffffU, 16), EINVAL_);
	cr_assert_eq(config_get(0, 4097, 8192), EINVAL_, "size above 4096");
	cr_assert_eq(config_get(0, 8, 7), EINVAL_, "reply buffer under 4 + size");
	cr_assert_eq(config_set(0, 0, data, 0), EINVAL_);
	cr_assert_eq(config_set(CFG_SIZE - 2, 4, data, 4), EINVAL_);
	cr_assert_eq(config_set(0xfffffffeU, 4, data, 4), EINVAL_);
	cr_assert_eq(config_set(0, 4, data, 3), EINVAL_, "out-data not 8 + size");
	cr_assert_eq(config_set(0, 4, data, 5), EINVAL_);
	cr_assert_eq(fdev.config[0], 0xc0, "nothing written");
}

/* ---- class 7 MSI ---- */

Test(managed, msi_set_checks_reserved_window_and_budget)
{
	struct fake_hv_route r;

	cr_assert_eq(msi_vq_set(0, MSI_ADDR, 1, 2), EINVAL_, "reserved0");
	cr_assert_eq(msi_vq_set(0, MSI_ADDR, 1, 7), EINVAL_, "reserved0 end");
	cr_assert_eq(msi_vq_set(0, MSI_ADDR, 1, 20), EINVAL_, "reserved1");
	cr_assert_eq(msi_vq_set(0, MSI_ADDR, 1, 23), EINVAL_, "reserved1 end");
	cr_assert_eq(msi_cfg_set(MSI_ADDR, 1, 12), EINVAL_, "config reserved");
	cr_assert_eq(msi_vq_set(0, 0xfedfffffULL, 1, 0), EINVAL_, "below the window");
	cr_assert_eq(msi_vq_set(0, 0xfef00000ULL, 1, 0), EINVAL_, "above the window");
	cr_assert_eq(msi_vq_set(0, 0x1fee00000ULL, 1, 0), EINVAL_, "bits 63-32 set");
	cr_assert_eq(msi_cfg_set(0, 1, 0), EINVAL_);
	cr_assert_eq(routes_used(), 0);
	cr_assert_eq(msi_vq_set(0, 0xfeefffffULL, 1, 0), OK, "last address of the window");
	cr_assert_eq(info().msix_in_use, 1);

	/* Budget 2: a third entry does not fit; changing a set one does. */
	cr_assert_eq(managed_set_msix_budget(md, 0), -EBUSY, "below the entries set");
	cr_assert_eq(managed_set_msix_budget(md, 2), 0);
	cr_assert_eq(msi_cfg_set(MSI_ADDR, 2, 0), OK);
	cr_assert_eq(msi_vq_set(1, MSI_ADDR, 3, 0), ENOSPC_);
	cr_assert_eq(msi_vq_set(0, MSI_ADDR + 0x2000, 4, 0), OK);
	cr_assert_eq(route_updates(), 1);
	cr_assert(route_for(MSI_ADDR + 0x2000, &r), "the route follows the message");
	cr_assert_eq(r.data, 4);
	cr_assert_eq(info().msix_in_use, 2);
	cr_assert_eq(routes_used(), 2);
	cr_assert_eq(info().msix_budget, 2);
	/* The budget is for the management device only while the status is 0. */
	cr_assert_eq(status_set(S_ACK), OK);
	cr_assert_eq(managed_set_msix_budget(md, 3), -EBUSY);
}

Test(managed, msi_set_without_a_free_route_is_enospc)
{
	fake_hv_set_route_limit(fhv, 1);
	cr_assert_eq(msi_vq_set(0, MSI_ADDR, 1, 0), OK);
	cr_assert_eq(msi_vq_set(1, MSI_ADDR, 2, 0), ENOSPC_);
	cr_assert_eq(info().msix_in_use, 1, "a failed set has no effect");
}

Test(managed, msi_enable_and_mask_flags)
{
	cr_assert_eq(msi_enable(0, 1), EBUSY_, "entry not set");
	cr_assert_eq(msi_enable(NQ, 1), EBUSY_);
	cr_assert_eq(msi_enable(0, 0), OK, "disabling an unset entry is fine");
	cr_assert_eq(q4(TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_ENABLE, 0, flag(2, 0)), EINVAL_);
	cr_assert_eq(q4(TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_ENABLE, 0, flag(1, 1)), EINVAL_,
		     "reserved before the state check");
	cr_assert_eq(msi_cfg_flag(TVQ_CMD_MSI_CONFIG_ENABLE, 2), EINVAL_);
	cr_assert_eq(q4(TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_MASK, 0, flag(2, 0)), EINVAL_);
	cr_assert_eq(q4(TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_MASK, 0, flag(1, 1)), EINVAL_);
	cr_assert_eq(msi_cfg_flag(TVQ_CMD_MSI_CONFIG_MASK, 0xff), EINVAL_);
	cr_assert_eq(msi_mask(0, 1), OK, "masking is allowed in any entry state");
	cr_assert_eq(msi_mask(NQ, 1), OK);
}

/* 7.3 for one entry: discard, hold, coalesce, deliver on unmask, drop on disable. */
static void msi_delivery(unsigned int e)
{
	struct fake_hv_route r;

	msi_setup(e, false);
	model_interrupt(e);
	cr_assert_eq(irqs(e), 0, "set but not enabled: discarded");
	cr_assert_eq(msi_enable(e, 1), OK);
	cr_assert_eq(irqs(e), 0, "nothing was pending");
	model_interrupt(e);
	cr_assert_eq(irqs(e), 1, "enabled and unmasked: sent");

	cr_assert_eq(msi_mask(e, 1), OK);
	model_interrupt(e);
	model_interrupt(e);
	cr_assert_eq(irqs(e), 0, "masked: pending");
	cr_assert_eq(msi_mask(e, 0), OK);
	cr_assert_eq(irqs(e), 1, "unmasking sends the pending interrupt once");
	cr_assert_eq(msi_mask(e, 0), OK);
	cr_assert_eq(irqs(e), 0, "and clears the pending bit");

	cr_assert_eq(msi_mask(e, 1), OK);
	model_interrupt(e);
	cr_assert_eq(msi_enable(e, 0), OK);
	cr_assert_eq(msi_enable(e, 1), OK);
	cr_assert_eq(msi_mask(e, 0), OK);
	cr_assert_eq(irqs(e), 0, "disabling dropped the pending interrupt");

	/* Changing the message keeps a pending interrupt pending. */
	cr_assert_eq(msi_mask(e, 1), OK);
	model_interrupt(e);
	if (e < NQ)
		cr_assert_eq(msi_vq_set(e, msi_addr(e), 0x77, 0), OK);
	else
		cr_assert_eq(msi_cfg_set(msi_addr(e), 0x77, 0), OK);
	cr_assert(route_for(msi_addr(e), &r), "entry %u routed", e);
	cr_assert_eq(r.data, 0x77);
	cr_assert_eq(msi_mask(e, 0), OK);
	cr_assert_eq(irqs(e), 1);
}

Test(managed, msi_queue_entry_delivery)
{
	msi_delivery(1);
	cr_assert_eq(irqs(1), 0);
}

Test(managed, msi_config_entry_delivery)
{
	msi_delivery(NQ);
}

Test(managed, queue_interrupt_without_an_entry_is_dropped)
{
	msi_setup(0, true);
	model_interrupt(1);
	cr_assert_eq(irqs(0), 0, "queue 1's interrupt does not go to queue 0's entry");
	model_interrupt(0);
	cr_assert_eq(irqs(0), 1);
	virtio_queue_interrupt(&fdev.dev, NQ); /* no such queue */
	cr_assert_eq(irqs(0), 0);
}

/* ---- classes 8-10: ring setup ---- */

Test(managed, vq_addr_checks)
{
	uint64_t b = ring_base(0);

	cr_assert_eq(addr_set(0, b + 0x2000, b, b + 0x1000, 1), EINVAL_, "reserved");
	cr_assert_eq(addr_set(0, b + 0x2000, b + 8, b + 0x1000, 0), EINVAL_, "descriptors");
	cr_assert_eq(addr_set(0, b + 0x2000, b, b + 0x1001, 0), EINVAL_, "driver area");
	cr_assert_eq(addr_set(0, b + 0x2002, b, b + 0x1000, 0), EINVAL_, "device area");
	cr_assert_eq(fdev.vqs[0].desc_addr, 0, "nothing recorded");
	cr_assert_eq(addr_set(0, b + 0x2004, b + 0x10, b + 0x1002, 0), OK);
	cr_assert_eq(fdev.vqs[0].used_addr, b + 0x2004, "device area is the used ring");
	cr_assert_eq(fdev.vqs[0].desc_addr, b + 0x10);
	cr_assert_eq(fdev.vqs[0].avail_addr, b + 0x1002, "driver area is the avail ring");
	features_ok(VERSION_1);
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 0, flag(1, 0)), OK);
	cr_assert_eq(addr_set(0, b + 0x2000, b, b + 0x1000, 0), EBUSY_, "queue enabled");
	cr_assert_eq(addr_set(0, b + 0x2002, b, b + 0x1000, 0), EINVAL_,
		     "alignment before state");
}

Test(managed, vq_size_checks)
{
	cr_assert_eq(q_get(TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, 1, 2), QMAX, "the maximum");
	cr_assert_eq(q4(TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_SET, 1, 0), EINVAL_);
	cr_assert_eq(q4(TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_SET, 1, 48), EINVAL_);
	cr_assert_eq(q4(TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_SET, 1, 2 * QMAX), EINVAL_);
	cr_assert_eq(q4(TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_SET, 1, 1), OK);
	cr_assert_eq(q_get(TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, 1, 2), 1);
	cr_assert_eq(q_get(TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, 0, 2), QMAX, "per queue");
	features_ok(VERSION_1);
	queue_enable(1);
	cr_assert_eq(q_get(TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, 1, 2), 64);
	cr_assert_eq(q4(TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_SET, 1, 32), EBUSY_);
	cr_assert_eq(q4(TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_SET, 1, 33), EINVAL_);
}

Test(managed, vq_enable_preconditions)
{
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 0, flag(2, 0)), EINVAL_);
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 0, flag(1, 1)), EINVAL_);
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 0, flag(0, 1)), EINVAL_);
	queue_setup(0, 64);
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 0, flag(1, 0)), EBUSY_,
		     "before FEATURES_OK");
	features_ok(VERSION_1);
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 1, flag(1, 0)), EBUSY_,
		     "addresses not set");
	cr_assert_eq(q_get(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, 1, 1), 0);
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 0, flag(1, 0)), OK);
	cr_assert_eq(q_get(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, 0, 1), 1);
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 0, flag(1, 0)), OK,
		     "already enabled: OK, nothing changes");
	cr_assert(fdev.vqs[0].active);
	cr_assert_eq(fdev.activates, 0, "not running before DRIVER_OK");
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 0, flag(0, 0)), OK);
	cr_assert_eq(q_get(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, 0, 1), 0);
	cr_assert_not(fdev.vqs[0].active, "a disabled queue is not started by activate");
	cr_assert_eq(fdev.queue_stops[0], 0, "an enabled queue is simply disabled");
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 0, flag(0, 0)), OK,
		     "already disabled");
}

static uint32_t enable_at(unsigned int q, uint16_t size, uint64_t desc, uint64_t drv,
			  uint64_t used)
{
	cr_assert_eq(q4(TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_SET, q, size), OK);
	cr_assert_eq(addr_set(q, used, desc, drv, 0), OK);
	return q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, q, flag(1, 0));
}

Test(managed, vq_enable_checks_rings_in_guest_ram_for_size_and_event_idx)
{
	const uint64_t b = ring_base(0), used_fit = MEM_SIZE - (4 + 8 * QMAX);

	features_ok(VERSION_1 | EVENT_IDX);
	cr_assert_eq(enable_at(0, QMAX, MEM_SIZE - 16 * QMAX + 16, b + 0x1000, b + 0x2000),
		     EINVAL_, "descriptors past the end of RAM");
	cr_assert_eq(enable_at(0, QMAX, b, MEM_SIZE - 2 * QMAX - 4, b + 0x2000), EINVAL_,
		     "avail ring without room for used_event");
	cr_assert_eq(enable_at(0, QMAX, b, b + 0x1000, used_fit), EINVAL_,
		     "used ring without room for avail_event");
	cr_assert_eq(enable_at(0, QMAX, 0xfffffffffffffff0ULL, b + 0x1000, b + 0x2000), EINVAL_,
		     "wraps around");
	cr_assert_eq(q_get(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, 0, 1), 0);
	cr_assert_eq(enable_at(0, QMAX / 2, b, b + 0x1000, used_fit), OK,
		     "a smaller ring fits");

	/* Without EVENT_IDX the same used ring fits exactly. */
	cr_assert_eq(status_set(0), OK);
	features_ok(VERSION_1);
	cr_assert_eq(enable_at(1, QMAX, b, b + 0x1000, used_fit), OK);
}

/* ---- classes 11-14 ---- */

Test(managed, vq_notify_returns_the_slot_page)
{
	cr_assert_eq(q_get(TVQ_CLASS_VQ_NOTIFY, TVQ_CMD_VQ_NOTIFY_GET, 1, 16), DB_OFFSET);
	cr_assert_eq(get(reply, 8, 8), 4096);
}

Test(managed, vq_avail_index_sets_the_resume_point)
{
	cr_assert_eq(q4(TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_SET, 1, 0xfffe), OK);
	cr_assert_eq(q_get(TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_GET, 1, 2), 0xfffe);
	cr_assert_eq(fdev.vqs[1].last_avail_idx, 0xfffe);
	cr_assert_eq(fdev.vqs[1].used_idx, 0xfffe, "the used index too");
	cr_assert_eq(q_get(TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_GET, 0, 2), 0);
	features_ok(VERSION_1);
	queue_enable(1);
	cr_assert_eq(q4(TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_SET, 1, 3), EBUSY_);
	cr_assert_eq(fdev.vqs[1].last_avail_idx, 0xfffe, "kept by the enable");
}

Test(managed, asid_only_0_on_a_disabled_queue)
{
	uint8_t o[8] = { 0 };

	cr_assert_eq(run(TVQ_CLASS_ASID, TVQ_CMD_ASID_SET, o, 8, 0), OK);
	o[3] = 1;
	cr_assert_eq(run(TVQ_CLASS_ASID, TVQ_CMD_ASID_SET, o, 8, 0), EINVAL_, "reserved");
	o[3] = 0;
	put(o, 4, 4, 1);
	cr_assert_eq(run(TVQ_CLASS_ASID, TVQ_CMD_ASID_SET, o, 8, 0), EINVAL_, "asid 1");
	features_ok(VERSION_1);
	queue_enable(0);
	cr_assert_eq(run(TVQ_CLASS_ASID, TVQ_CMD_ASID_SET, o, 8, 0), EINVAL_, "asid first");
	put(o, 4, 4, 0);
	cr_assert_eq(run(TVQ_CLASS_ASID, TVQ_CMD_ASID_SET, o, 8, 0), EBUSY_);
	put(o, 0, 2, 1);
	cr_assert_eq(run(TVQ_CLASS_ASID, TVQ_CMD_ASID_SET, o, 8, 0), OK, "queue 1 is disabled");
}

Test(managed, vq_reset_needs_ring_reset_negotiated)
{
	cr_assert_eq(q_get_ack(TVQ_CLASS_VQ_RESET, TVQ_CMD_VQ_RESET_RESET, 0, 0), EOPNOTSUPP_);
	cr_assert_eq(feat_set(VERSION_1 | RING_RESET), OK);
	cr_assert_eq(q_get_ack(TVQ_CLASS_VQ_RESET, TVQ_CMD_VQ_RESET_RESET, 0, 0), EOPNOTSUPP_,
		     "accepted only with FEATURES_OK");
	cr_assert_eq(status_set(0), OK);
	bring_up(VERSION_1);
	cr_assert_eq(q_get_ack(TVQ_CLASS_VQ_RESET, TVQ_CMD_VQ_RESET_RESET, 0, 0), EOPNOTSUPP_);
	cr_assert_eq(fdev.queue_resets[0], 0);
}

Test(managed, vq_reset_resets_the_queue_and_only_the_pending_bit_of_its_entry)
{
	bring_up(VERSION_1 | RING_RESET);
	msi_setup(1, true);
	cr_assert_eq(msi_mask(1, 1), OK);
	model_interrupt(1);
	cr_assert_eq(q_get_ack(TVQ_CLASS_VQ_RESET, TVQ_CMD_VQ_RESET_RESET, 1, 0), OK);
	model_interrupt(1);
	cr_assert_eq(irqs(1), 0, "the mask stays");
	cr_assert_eq(msi_mask(1, 0), OK);
	cr_assert_eq(irqs(1), 1, "message and enable stay: the new interrupt was pending");
	cr_assert_eq(msi_mask(1, 1), OK);
	model_interrupt(1);
	cr_assert_eq(q_get_ack(TVQ_CLASS_VQ_RESET, TVQ_CMD_VQ_RESET_RESET, 1, 0), OK);
	cr_assert_eq(msi_mask(1, 0), OK);
	cr_assert_eq(irqs(1), 0, "the pending interrupt is gone");
	cr_assert_eq(fdev.queue_resets[1], 2);
	cr_assert_eq(fdev.queue_resets[0], 0);
	cr_assert_eq(q_get(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, 1, 1), 0);
	cr_assert_eq(q_get(TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, 1, 2), QMAX);
	cr_assert_eq(fdev.vqs[1].desc_addr, 0);
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 1, flag(1, 0)), EBUSY_,
		     "addresses unset");
	cr_assert_eq(info().msix_in_use, 1);
	/* Set up again on the running device: it starts at once. */
	queue_enable(1);
	cr_assert_eq(q_get(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, 1, 1), 1);
	cr_assert_eq(fdev.activates, 2);
}

/* ---- doorbells, kicks and running queues ---- */

Test(managed, doorbells_follow_the_bar)
{
	struct fake_hv_ioeventfd io[MAX_IOEVENTS];

	cr_assert_eq(ioeventfds(io), 0, "nothing before the BAR is known");
	managed_doorbell_bar(md, BAR_GPA, true);
	cr_assert_eq(ioeventfds(io), NQ);
	for (int i = 0; i < NQ; i++) {
		cr_assert_eq(io[i].addr, BAR_GPA + DB_OFFSET);
		cr_assert_eq(io[i].len, 2);
		cr_assert(io[i].match);
		cr_assert_not(io[i].pio);
		cr_assert_lt(io[i].datamatch, NQ);
	}
	cr_assert_neq(io[0].datamatch, io[1].datamatch);
	managed_doorbell_bar(md, BAR_GPA + 0x100000, true);
	cr_assert_eq(ioeventfds(io), NQ);
	cr_assert_eq(io[0].addr, BAR_GPA + 0x100000 + DB_OFFSET, "moved");
	managed_doorbell_bar(md, BAR_GPA, false);
	cr_assert_eq(ioeventfds(io), 0, "not decoded: dropped");
}

Test(managed, bring_up_to_driver_ok_then_kicks_reach_the_model_on_its_loop)
{
	managed_doorbell_bar(md, BAR_GPA, true);
	features_ok(VERSION_1 | EVENT_IDX);
	queue_enable(0);
	queue_enable(1);
	doorbell(BAR_GPA, 0);
	usleep(50000);
	cr_assert_eq(notifies(0), 0, "a kick before DRIVER_OK is lost");
	cr_assert_eq(status_set(S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK), OK);
	cr_assert(fdev.vqs[0].event_idx, "rings mapped with the negotiated EVENT_IDX");
	/* Starting looks at each ring once. */
	wait_notifies(0, 1);
	wait_notifies(1, 1);
	doorbell(BAR_GPA, 1);
	wait_notifies(1, 2);
	doorbell(BAR_GPA, 0);
	wait_notifies(0, 2);
	cr_assert_eq(atomic_load(&fdev.foreign_notifies), 0, "every kick on the queue's loop");
	/* managed_kick, for a doorbell write that reached user space, works the same. */
	managed_kick(md, 1);
	wait_notifies(1, 3);
	managed_kick(md, NQ);
	/* After a reset kicks are dropped again. */
	cr_assert_eq(status_set(0), OK);
	doorbell(BAR_GPA, 0);
	usleep(50000);
	cr_assert_eq(notifies(0), 2);
}

Test(managed, enabling_a_queue_on_a_running_device_starts_it)
{
	features_ok(VERSION_1);
	queue_enable(0);
	cr_assert_eq(status_set(S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK), OK);
	wait_notifies(0, 1);
	cr_assert_eq(fdev.activates, 1);
	queue_enable(1);
	cr_assert_eq(fdev.activates, 2, "activated again for the new queue");
	wait_notifies(1, 1);
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 1, flag(1, 0)), OK);
	cr_assert_eq(fdev.activates, 2, "enabling a running queue changes nothing");
	usleep(50000);
	cr_assert_eq(notifies(1), 1, "and does not look at its ring again");
}

Test(managed, enabling_a_queue_the_model_cannot_start_is_eio)
{
	features_ok(VERSION_1);
	queue_enable(0);
	cr_assert_eq(status_set(S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK), OK);
	msi_setup(NQ, true);
	fdev.activate_ret = -ENOMEM;
	queue_setup(1, 64);
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 1, flag(1, 0)), EIO_);
	cr_assert_eq(status_get() & S_NEEDS_RESET, S_NEEDS_RESET);
	cr_assert_eq(irqs(NQ), 1);
	usleep(50000);
	cr_assert_eq(notifies(1), 0, "not running");
}

Test(managed, stopping_a_running_queue_keeps_its_place)
{
	managed_doorbell_bar(md, BAR_GPA, true);
	bring_up(VERSION_1);
	wait_notifies(0, 1);
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 0, flag(0, 0)), OK);
	cr_assert_eq(fdev.queue_stops[0], 1);
	cr_assert(fdev.active_at_stop[0], "the model stops a mapped queue");
	cr_assert_eq(fdev.queue_stops[1], 0);
	cr_assert_eq(q_get(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, 0, 1), 0);
	cr_assert_eq(q_get(TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, 0, 2), 64, "size kept");
	cr_assert_eq(fdev.vqs[0].desc_addr, ring_base(0), "addresses kept");
	doorbell(BAR_GPA, 0);
	usleep(50000);
	cr_assert_eq(notifies(0), 1, "a stopped queue takes no kicks");
	/* Resume at a chosen index. */
	cr_assert_eq(q4(TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_SET, 0, 17), OK);
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 0, flag(1, 0)), OK);
	cr_assert_eq(fdev.activates, 2);
	cr_assert_eq(fdev.vqs[0].last_avail_idx, 17);
	wait_notifies(0, 2);
	doorbell(BAR_GPA, 0);
	wait_notifies(0, 3);
}

Test(managed, stopping_a_queue_of_a_model_without_queue_stop_is_err)
{
	managed_destroy(md);
	serve(&fake_ops_minimal, &params);
	bring_up(VERSION_1);
	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 0, flag(0, 0)), ERR_);
	cr_assert_eq(q_get(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, 0, 1), 1, "still running");
	wait_notifies(0, 1);
}

/* ---- destruction ---- */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

Test(managed, destroy_releases_every_fd_route_and_doorbell)
{
	struct fake_hv_ioeventfd io[MAX_IOEVENTS];
	int before, kick_fd;

	managed_destroy(md);
	md = NULL;
	before = count_fds();
	serve(&fake_ops, &params);
	managed_doorbell_bar(md, BAR_GPA, true);
	bring_up(VERSION_1);
	for (unsigned int e = 0; e <= NQ; e++)
		msi_setup(e, true);
	wait_notifies(0, 1);
	cr_assert_gt(count_fds(), before);
	/* A second reference keeps queue 0's kick eventfd alive past the destroy. */
	cr_assert_geq(ioeventfds(io), 1);
	kick_fd = dup(io[0].fd);
	cr_assert_geq(kick_fd, 0);
	managed_destroy(md);
	md = NULL;
	/* The watch was cancelled and reaped: a late kick reaches nothing (ASan would see). */
	cr_assert_eq(eventfd_write(kick_fd, 1), 0);
	usleep(50000);
	close(kick_fd);
	cr_assert_eq(count_fds(), before, "no fd left behind");
	cr_assert_eq(routes_used(), 0);
	cr_assert_eq(ioeventfds(io), 0);
	cr_assert_null(fdev.dev.transport);
	cr_assert_eq(fdev.resets, 1, "the model was reset");
	/* The idle model can be served again. */
	serve(&fake_ops, &params);
	bring_up(VERSION_1);
	wait_notifies(1, 1);
}

Test(managed, create_checks_its_arguments)
{
	struct managed_params p = params;
	struct managed_dev *other = NULL;
	struct fake_dev f;
	struct err e = { { 0 } };

	fake_init(&f, &fake_ops);
	p.id = 0;
	cr_assert_eq(managed_create(&other, &f.dev, &p, hv, &e), -1);
	cr_assert(strstr(e.msg, "id 0"), "%s", e.msg);
	f.vqs[1].max_size = 3;
	cr_assert_eq(managed_create(&other, &f.dev, &params, hv, &e), -1);
	cr_assert(strstr(e.msg, "maximum size"), "%s", e.msg);
	cr_assert_null(f.dev.transport);
}

/* ---- with a real model: virtio-blk on an image ---- */

#define IMG_SIZE (1U << 20)
#define REQ_AREA 0x200000ULL /* slot s: header at +0, status at +16, data at +0x200 */

static uint8_t img_byte(uint64_t i)
{
	return (uint8_t)(i * 7 + i / 512 * 13 + 1);
}

static void serve_blk(void)
{
	struct blk_config cfg = { .path = img, .queues = 1 };
	struct err e = { { 0 } };
	uint8_t *buf = malloc(IMG_SIZE);
	int fd;

	managed_destroy(md);
	md = NULL;
	strcpy(img, "/tmp/vqvm-managed-XXXXXX");
	fd = mkstemp(img);
	cr_assert(fd >= 0);
	for (uint64_t i = 0; i < IMG_SIZE; i++)
		buf[i] = img_byte(i);
	cr_assert_eq(pwrite(fd, buf, IMG_SIZE, 0), IMG_SIZE);
	close(fd);
	free(buf);
	cr_assert_eq(blk_create(&blk_model, &cfg, &mem, &loop, &e), 0, "%s", e.msg);
	cr_assert_eq(managed_create(&md, blk_model, &params, hv, &e), 0, "%s", e.msg);
}

/* The driver's view of queue 0's split ring, where queue_setup put it. */
struct ring {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t size, avail_idx, next;
};

static void *gp(uint64_t gpa, uint64_t len)
{
	void *p = guest_mem_ptr(&mem, gpa, len);

	cr_assert_not_null(p);
	return p;
}

static void ring_init(struct ring *r, unsigned int q, uint16_t size)
{
	uint64_t b = ring_base(q);

	memset(gp(b, 0x3000), 0, 0x3000);
	*r = (struct ring){ .desc = gp(b, 16 * size), .avail = gp(b + 0x1000, 6 + 2 * size),
			    .used = gp(b + 0x2000, 6 + 8 * size), .size = size };
}

static void ring_desc(struct ring *r, uint64_t gpa, uint32_t len, uint16_t flags)
{
	struct vring_desc *d = &r->desc[r->next % r->size];

	d->addr = htole64(gpa);
	d->len = htole32(len);
	d->flags = htole16(flags);
	d->next = htole16((r->next + 1) % r->size);
	r->next++;
}

/* A 512-byte read of `sector` into slot's buffers, made available (no kick). */
static void blk_read(struct ring *r, unsigned int slot, uint64_t sector)
{
	uint64_t a = REQ_AREA + slot * 0x1000ULL;
	struct virtio_blk_outhdr h = { .type = htole32(VIRTIO_BLK_T_IN),
				       .sector = htole64(sector) };
	uint16_t head = r->next % r->size;

	memcpy(gp(a, sizeof(h)), &h, sizeof(h));
	*(uint8_t *)gp(a + 16, 1) = 0xee;
	memset(gp(a + 0x200, 512), 0, 512);
	ring_desc(r, a, sizeof(h), VRING_DESC_F_NEXT);
	ring_desc(r, a + 0x200, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT);
	ring_desc(r, a + 16, 1, VRING_DESC_F_WRITE);
	r->avail->ring[r->avail_idx % r->size] = htole16(head);
	r->avail_idx++;
	__atomic_store_n(&r->avail->idx, htole16(r->avail_idx), __ATOMIC_RELEASE);
}

static uint16_t ring_used(const struct ring *r)
{
	return le16toh(__atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE));
}

static void wait_ring_used(const struct ring *r, uint16_t n)
{
	for (int i = 0; i < 5000 && ring_used(r) < n; i++)
		usleep(1000);
	cr_assert_eq(ring_used(r), n, "used idx %u, want %u", ring_used(r), n);
}

/* Slot's read of `sector` completed OK with the image's bytes. */
static void blk_read_ok(unsigned int slot, uint64_t sector)
{
	const uint8_t *data = gp(REQ_AREA + slot * 0x1000ULL + 0x200, 512);

	cr_assert_eq(*(volatile uint8_t *)gp(REQ_AREA + slot * 0x1000ULL + 16, 1),
		     VIRTIO_BLK_S_OK, "slot %u status", slot);
	for (unsigned int i = 0; i < 512; i++)
		cr_assert_eq(data[i], img_byte(sector * 512 + i), "slot %u byte %u", slot, i);
}

struct holder {
	struct evloop_call call;
	sem_t entered, release;
};

/* On the loop: the model takes the kick, then the loop is held with its SQEs unsent. */
static void notify_and_hold(void *arg)
{
	struct holder *h = arg;

	blk_model->ops->queue_notify(blk_model, 0);
	sem_post(&h->entered);
	sem_wait(&h->release);
}

static atomic_uint stop_ack = 0xffff;

static void *stop_queue_0(void *arg)
{
	atomic_store(&stop_ack, q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 0, flag(0, 0)));
	return NULL;
}

/*
 * VQ_ENABLE SET 0 on a running virtio-blk queue with requests in flight (7.6): the
 * reply comes only once every one of them was completed, returned and signalled; a
 * request made available meanwhile is not taken; VQ_ENABLE SET 1 resumes at the
 * available index and takes it.
 */
Test(managed, blk_queue_stop_returns_everything_taken_then_resumes_in_place)
{
	static struct holder h; /* outlives a failed assertion, for teardown */
	struct ring r;
	pthread_t t;

	serve_blk();
	managed_doorbell_bar(md, BAR_GPA, true);
	features_ok(VERSION_1);
	ring_init(&r, 0, 64);
	queue_enable(0);
	msi_setup(0, true);
	cr_assert_eq(status_set(S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK), OK);
	blk_read(&r, 0, 3);
	doorbell(BAR_GPA, 0);
	wait_ring_used(&r, 1);
	blk_read_ok(0, 3);
	cr_assert_eq(irqs(0), 1, "one interrupt through the queue's MSI entry");

	for (unsigned int i = 1; i <= 4; i++)
		blk_read(&r, i, 8 * i);
	sem_init(&h.entered, 0, 0);
	sem_init(&h.release, 0, 0);
	evloop_call(&loop, &h.call, notify_and_hold, &h);
	sem_wait(&h.entered);
	loop_held = &h.release;
	cr_assert_eq(ring_used(&r), 1, "four requests in flight");
	pthread_create(&t, NULL, stop_queue_0, NULL);
	usleep(100000);
	cr_assert_eq(atomic_load(&stop_ack), 0xffff, "no reply with requests in flight");
	blk_read(&r, 5, 48);
	doorbell(BAR_GPA, 0);
	loop_held = NULL;
	sem_post(&h.release);
	pthread_join(t, NULL);
	cr_assert_eq(atomic_load(&stop_ack), OK);
	cr_assert_eq(ring_used(&r), 5, "every request taken was returned before the reply");
	for (unsigned int i = 1; i <= 4; i++)
		blk_read_ok(i, 8 * i);
	cr_assert_geq(irqs(0), 1, "and signalled");
	cr_assert_eq(q_get(TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_GET, 0, 2), 5);
	cr_assert_eq(q_get(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, 0, 1), 0);
	usleep(50000);
	cr_assert_eq(ring_used(&r), 5, "the request made available while stopping waits");

	cr_assert_eq(q4(TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, 0, flag(1, 0)), OK);
	wait_ring_used(&r, 6);
	blk_read_ok(5, 48);
	sem_destroy(&h.entered);
	sem_destroy(&h.release);
}
