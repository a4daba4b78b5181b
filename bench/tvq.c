// SPDX-License-Identifier: Apache-2.0
/*
 * bench/tvq: the management device's transport virtqueue measured in process, with the
 * guest of tests/unit/lib playing the guest (guest RAM in a buffer, doorbells through
 * the fake hypervisor's ioeventfds, interrupts through its irqfds; no VM, no exits):
 *
 * - round-trip latency of one command per class (and two adminq commands): submit,
 *   kick, wait for the used entry (woken by the queue's interrupt), in microseconds;
 * - throughput with 64 commands in flight (STATUS GET), all for one device (serialised
 *   per device by the protocol, 5.3) and spread over 8 devices;
 * - managed-device creation rate: CREATE to DRIVER_OK with its queue and MSI enabled
 *   (tvq_mdev_up), against the same bring-up of a virtio-pci virtio-blk function through
 *   its PCI registers (enumeration, BARs, MSI-X table, common config), devices/s; and
 *   how many guest register accesses (VM exits in a real guest) each bring-up takes.
 *
 * Prints "RESULT key value" lines; bench/tvq.sh runs it several times and tabulates
 * medians.
 *
 *   build/bench/tvq [--iters N] [--cycles N]
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "tests/unit/lib/tvq_driver.h"
#include "virtio/blk.h"
#include "virtio/mgmt.h"
#include "virtio/pci.h"

#define RAM_SIZE (256ULL << 20)
#define IMG_SIZE (1U << 20)
#define NR_DEVS 8     /* backends kept live for latency and throughput */
#define IN_FLIGHT 64
#define F(bit) (1ULL << (bit))
#define FEATURES_OK (TVQ_STATUS_ACKNOWLEDGE | TVQ_STATUS_DRIVER | TVQ_STATUS_FEATURES_OK)

static struct test_guest g;
static struct mgmt *m;
static struct tvq_drv d;
static struct virtio_device *pci_blk;
static struct virtio_pci *vpci;
static char img[64];
static unsigned int iters = 2000, cycles = 300;

static void die(const char *what, int err)
{
	fprintf(stderr, "tvq: %s: %s (%d)\n", what, err < 0 ? strerror(-err) : "ack", err);
	exit(1);
}

static void check(const char *what, int ret)
{
	if (ret)
		die(what, ret);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void report(const char *name, double *t, unsigned int n)
{
	qsort(t, n, sizeof(*t), cmp_double);
	printf("RESULT lat.%s.p50 %.2f\n", name, t[n / 2]);
	printf("RESULT lat.%s.p99 %.2f\n", name, t[(n * 99) / 100]);
}

static struct virtio_device *blk(void)
{
	struct blk_config cfg = { .path = img, .queues = 1 };
	struct virtio_device *dev;
	struct err e = { { 0 } };

	if (blk_create(&dev, &cfg, &g.mem, &g.loop, &e)) {
		fprintf(stderr, "tvq: %s\n", e.msg);
		exit(1);
	}
	return dev;
}

static void setup(void)
{
	struct mgmt_params p = { .max_managed = 64, .msix_pool_size = 512 };
	struct err e = { { 0 } };
	char name[16];
	int fd;

	log_set_level(LOG_ERROR);
	snprintf(img, sizeof(img), "/tmp/vqvm-bench-tvq-XXXXXX");
	fd = mkstemp(img);
	if (fd < 0 || ftruncate(fd, IMG_SIZE))
		die("image", -errno);
	close(fd);
	check("guest", tg_init(&g, RAM_SIZE));
	/* virtio-pci wants its device's loop idle at creation: before the loop thread. */
	pci_blk = blk();
	if (virtio_pci_create(&vpci, pci_blk, &g.host, fake_hv_hv(g.hv), &e)) {
		fprintf(stderr, "tvq: %s\n", e.msg);
		exit(1);
	}
	check("loop", tg_start_loop(&g));
	if (mgmt_create(&m, &p, &g.host, fake_hv_hv(g.hv), &g.mem, &e)) {
		fprintf(stderr, "tvq: %s\n", e.msg);
		exit(1);
	}
	for (unsigned int i = 0; i < NR_DEVS + 1; i++) {
		uint64_t id;

		snprintf(name, sizeof(name), "blk%u", i);
		if (mgmt_add_backend(m, blk(), name, &id, &e)) {
			fprintf(stderr, "tvq: %s\n", e.msg);
			exit(1);
		}
	}
	check("management device", tvq_drv_open(&d, &g, TVQ_MGMT_FEATURES, TVQ_DRV_QSIZE));
}

static void teardown(void)
{
	tvq_drv_close(&d);
	mgmt_destroy(m);
	tg_stop_loop(&g);
	virtio_pci_destroy(vpci);
	pci_blk->ops->destroy(pci_blk);
	tg_fini(&g);
	unlink(img);
}

/* ---- latency ---- */

struct probe {
	const char *name;
	bool admin;
	uint16_t class, command; /* admin: class is the dst_type */
	uint32_t out_len, in_len;
	uint8_t out[32];
};

#define PROBE(n, a, cl, cmd, ol, il)                                                       \
	{ .name = n, .admin = a, .class = cl, .command = cmd, .out_len = ol, .in_len = il }

/* The id a probe addresses: 0 for the management device's own commands. */
static uint64_t probe_id(const struct probe *p, uint64_t id)
{
	if (p->admin)
		return p->class == TVQ_ADMIN_DST_SELF ? 0 : id;
	return p->class == TVQ_CLASS_AVAIL_RES ? 0 : id;
}

/* A device at FEATURES_OK with every feature, its queue disabled, an MSI entry set. */
static uint64_t probe_device(void)
{
	uint64_t id, f;

	check("CREATE", tvq_create(&d, TVQ_VIRTIO_ID_BLOCK, 0, NULL, 0, &id));
	check("DEVICE_GET", tvq_feat_get(&d, id, TVQ_CMD_FEAT_DEVICE_GET, &f));
	check("DRIVER_SET", tvq_feat_set(&d, id, f));
	check("STATUS", tvq_status_set(&d, id, TVQ_STATUS_ACKNOWLEDGE));
	check("STATUS", tvq_status_set(&d, id, TVQ_STATUS_ACKNOWLEDGE | TVQ_STATUS_DRIVER));
	check("STATUS", tvq_status_set(&d, id, FEATURES_OK));
	check("MSI", tvq_msi_vq_set(&d, id, 0, TG_MSI_ADDR, 0x40));
	return id;
}

static void latency_one(const struct probe *p, uint64_t id, double *t)
{
	struct tvq_cmd *c = &d.batch[0];

	for (unsigned int i = 0; i < iters; i++) {
		double t0 = now_us();

		if (p->admin)
			tvq_cmd_aq(c, p->command, p->class, probe_id(p, id), p->out, p->out_len,
				   p->in_len);
		else
			tvq_cmd_tq(c, probe_id(p, id), p->class, p->command, p->out, p->out_len,
				   p->in_len);
		check(p->name, tvq_exec(&d, c));
		t[i] = now_us() - t0;
		if (tvq_cmd_ack(c))
			die(p->name, tvq_cmd_ack(c));
	}
	report(p->name, t, iters);
}

static void latency(void)
{
	struct tvq_vq_addr_set_out addr = { .descriptor_area = 0x10000, .driver_area = 0x20000,
					    .device_area = 0x30000 };
	struct tvq_config_get_out cfg = { .offset = 0, .size = 8 };
	struct tvq_asid_set_out asid = { 0 };
	struct tvq_admin_managed_device_list_data list = { .first_vdev_id = 1 };
	struct probe probes[] = {
		PROBE("avail_res_get", false, TVQ_CLASS_AVAIL_RES, TVQ_CMD_AVAIL_RES_GET, 0, 8),
		PROBE("feat_device_get", false, TVQ_CLASS_FEAT, TVQ_CMD_FEAT_DEVICE_GET, 0, 8),
		PROBE("status_get", false, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_GET, 0, 1),
		PROBE("generation_get", false, TVQ_CLASS_GENERATION, TVQ_CMD_GENERATION_GET, 0, 4),
		PROBE("config_get", false, TVQ_CLASS_CONFIG, TVQ_CMD_CONFIG_GET, sizeof(cfg), 8),
		PROBE("msi_vq_mask", false, TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_MASK, 4, 0),
		PROBE("vq_addr_set", false, TVQ_CLASS_VQ_ADDR, TVQ_CMD_VQ_ADDR_SET, sizeof(addr), 0),
		PROBE("vq_enable_get", false, TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, 2, 1),
		PROBE("vq_size_get", false, TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, 2, 2),
		PROBE("vq_notify_get", false, TVQ_CLASS_VQ_NOTIFY, TVQ_CMD_VQ_NOTIFY_GET, 2, 16),
		PROBE("vq_avail_index_get", false, TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_GET, 2, 2),
		PROBE("vq_reset", false, TVQ_CLASS_VQ_RESET, TVQ_CMD_VQ_RESET_RESET, 2, 0),
		PROBE("asid_set", false, TVQ_CLASS_ASID, TVQ_CMD_ASID_SET, sizeof(asid), 0),
		PROBE("admin_device_info", true, TVQ_ADMIN_DST_MANAGED, TVQ_ADMIN_CMD_DEVICE_INFO, 0, 128),
		PROBE("admin_device_list", true, TVQ_ADMIN_DST_SELF, TVQ_ADMIN_CMD_MANAGED_DEVICE_LIST, sizeof(list), 16 + 8 * 8),
	};
	double *t = calloc(iters, sizeof(*t)), *t2 = calloc(iters, sizeof(*t2));
	uint64_t id = probe_device();

	if (!t || !t2)
		die("memory", -ENOMEM);
	/* Warm up: threads scheduled, caches and allocator pools filled. */
	for (unsigned int i = 0; i < iters; i++)
		check("STATUS GET", tvq_status_get(&d, id, (uint8_t[1]){ 0 }));
	memcpy(probes[4].out, &cfg, sizeof(cfg));
	memcpy(probes[6].out, &addr, sizeof(addr));
	memcpy(probes[12].out, &asid, sizeof(asid));
	memcpy(probes[14].out, &list, sizeof(list));
	/* VDEV: CREATE and DESTROY of a device that is never brought up. */
	for (unsigned int i = 0; i < iters; i++) {
		double t0 = now_us(), t1;
		uint64_t vid;

		check("CREATE", tvq_create(&d, TVQ_VIRTIO_ID_BLOCK, 0, NULL, 0, &vid));
		t1 = now_us();
		check("DESTROY", tvq_destroy(&d, vid));
		t[i] = t1 - t0;
		t2[i] = now_us() - t1;
	}
	report("vdev_create", t, iters);
	report("vdev_destroy", t2, iters);
	for (unsigned int i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		latency_one(&probes[i], id, t);
	check("STATUS 0", tvq_status_set(&d, id, 0));
	check("DESTROY", tvq_destroy(&d, id));
	free(t);
	free(t2);
}

/* ---- throughput ---- */

/* total STATUS GETs with IN_FLIGHT outstanding, round-robin over the first ndev ids. */
static double throughput(const uint64_t *ids, unsigned int ndev, unsigned int total)
{
	struct tvq_cmd *c = calloc(IN_FLIGHT, sizeof(*c));
	unsigned int sent = 0, done = 0;
	double t0;

	if (!c)
		die("memory", -ENOMEM);
	t0 = now_us();
	for (; sent < IN_FLIGHT; sent++) {
		tvq_cmd_tq(&c[sent], ids[sent % ndev], TVQ_CLASS_STATUS, TVQ_CMD_STATUS_GET, NULL, 0,
			   1);
		check("submit", tvq_submit(&d, &c[sent]));
	}
	tvq_kick(&d, TVQ_QUEUE_TRANSPORTQ);
	while (done < total) {
		bool resubmitted = false;

		if (!tvq_poll(&d, TVQ_QUEUE_TRANSPORTQ)) {
			fake_hv_wait(g.hv, 100);
			continue;
		}
		for (unsigned int i = 0; i < IN_FLIGHT; i++) {
			if (!c[i].done)
				continue;
			if (tvq_cmd_ack(&c[i]))
				die("STATUS GET", tvq_cmd_ack(&c[i]));
			c[i].done = false;
			done++;
			if (sent < total) {
				tvq_cmd_tq(&c[i], ids[sent % ndev], TVQ_CLASS_STATUS,
					   TVQ_CMD_STATUS_GET, NULL, 0, 1);
				check("submit", tvq_submit(&d, &c[i]));
				sent++;
				resubmitted = true;
			}
		}
		if (resubmitted)
			tvq_kick(&d, TVQ_QUEUE_TRANSPORTQ);
	}
	free(c);
	return total / ((now_us() - t0) / 1e6);
}

static void throughputs(void)
{
	uint64_t ids[NR_DEVS];

	for (unsigned int i = 0; i < NR_DEVS; i++)
		check("CREATE", tvq_create(&d, TVQ_VIRTIO_ID_BLOCK, 0, NULL, 0, &ids[i]));
	throughput(ids, 1, 2 * IN_FLIGHT); /* warm-up */
	printf("RESULT tput.1dev %.0f\n", throughput(ids, 1, 20 * iters));
	printf("RESULT tput.8dev %.0f\n", throughput(ids, NR_DEVS, 20 * iters));
	for (unsigned int i = 0; i < NR_DEVS; i++)
		check("DESTROY", tvq_destroy(&d, ids[i]));
}

/* ---- creation rate ---- */

/* Guest register accesses a real guest exits for: a config access is 0xCF8, then 0xCFC. */
static uint64_t accesses(void)
{
	return g.mmio_reads + g.mmio_writes + 2 * g.cfg_accesses;
}

static void creation(void)
{
	struct tvq_mdev md = { 0 };
	struct tg_vring vq[1] = { { 0 } };
	struct tg_vpci vp;
	uint64_t kicks = 0, acc = 0, cmds = 0;
	double busy = 0, t0;
	uint8_t devfn;

	for (unsigned int i = 0; i < cycles; i++) {
		kicks = d.kicks;
		cmds = d.commands;
		acc = accesses();
		t0 = now_us();
		check("managed bring-up", tvq_mdev_up(&d, &md, TVQ_VIRTIO_ID_BLOCK, ~0ULL, 1, 64));
		busy += now_us() - t0;
		kicks = d.kicks - kicks;
		cmds = d.commands - cmds;
		acc = accesses() - acc;
		check("DESTROY", tvq_mdev_down(&d, &md));
	}
	printf("RESULT create.managed %.0f\n", cycles / (busy / 1e6));
	printf("RESULT create.managed.kicks %lu\n", (unsigned long)kicks);
	printf("RESULT create.managed.cmds %lu\n", (unsigned long)cmds);
	printf("RESULT create.managed.accesses %lu\n", (unsigned long)acc);
	tvq_mdev_free(&md);

	check("find virtio-blk", tg_pci_find(&g, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + 2, 0,
					     &devfn));
	busy = 0;
	for (unsigned int i = 0; i < cycles; i++) {
		acc = accesses();
		t0 = now_us();
		check("virtio-pci open", tg_vpci_open(&g, devfn, &vp));
		tg_msix_set(&g, &vp.pci, 0, TG_MSI_ADDR, 0x50, false);
		tg_msix_set(&g, &vp.pci, 1, TG_MSI_ADDR, 0x51, false);
		check("virtio-pci bring-up",
		      tg_vpci_start(&g, &vp, tg_vpci_device_features(&g, &vp) &
				    (F(TVQ_F_VERSION_1) | F(TVQ_F_RING_EVENT_IDX) |
				     F(TVQ_F_INDIRECT_DESC)), vq, 1, 64, 0, 1));
		busy += now_us() - t0;
		acc = accesses() - acc;
		tg_vpci_set_status(&g, &vp, 0);
	}
	tg_vring_free(&vq[0]);
	printf("RESULT create.vpci %.0f\n", cycles / (busy / 1e6));
	printf("RESULT create.vpci.accesses %lu\n", (unsigned long)acc);
}

int main(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--iters"))
			iters = strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--cycles"))
			cycles = strtoul(argv[i + 1], NULL, 0);
		else
			break;
	}
	if (!iters || !cycles) {
		fprintf(stderr, "usage: tvq [--iters N] [--cycles N]\n");
		return 2;
	}
	setup();
	latency();
	throughputs();
	creation();
	teardown();
	return 0;
}
