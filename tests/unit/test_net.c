// SPDX-License-Identifier: Apache-2.0
/*
 * virtio/net.c and virtio/tap.c. The data path runs against SOCK_SEQPACKET socket
 * pairs standing in for TAP queues (they keep packet boundaries, as a TAP does), a
 * real io_uring event loop on its own thread (or, where a test asks, one loop and
 * thread per queue, as --io-loops per-queue sets up) and real split rings in guest
 * memory, laid out here the way a driver lays them out; the test thread plays the
 * transport (vCPU side), the driver, and the host end of the TAP. tap_open's errors and
 * one end to end run go through real TAP devices, created with ip(8) and deleted again,
 * and are skipped where /dev/net/tun or ip is missing.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lib/evloop.h"
#include "lib/guest_mem.h"
#include "lib/log.h"
#include "tests/unit/lib/host_net.h"
#include "tests/unit/lib/vq_drv.h"
#include "virtio/net.h"
#include "virtio/tap.h"

#define MEM_SIZE (16U << 20)
#define QSIZE 64
#define MAX_PAIRS 4
#define MAX_QUEUES (2 * MAX_PAIRS + 1)
#define TX_AREA 0x200000ULL   /* transmit packets */
#define RX_AREA 0x400000ULL   /* receive buffers */
#define CTRL_AREA 0x180000ULL /* control commands: header, data at +16, ack at +0x1000 */
#define BIG_AREA 0x800000ULL  /* 64 KiB+ packets */

#define F(b) (1ULL << (b))
#define F_VERSION_1 F(32)
#define F_EVENT_IDX F(29)
/* What Linux negotiates, minus MRG_RXBUF and event idx, which tests add. */
#define F_BASE                                                                         \
	(F_VERSION_1 | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) |                      \
	 F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |    \
	 F(VIRTIO_NET_F_HOST_ECN) | F(VIRTIO_NET_F_CTRL_VQ))
#define F_MRG (F_BASE | F(VIRTIO_NET_F_MRG_RXBUF))

/* ---- fixture: guest memory, loop thread, fake transport, socket pairs ---- */

static struct guest_mem mem;
static struct evloop loop;
static pthread_t loop_thread;
static struct virtio_device *dev;
static int peer[MAX_PAIRS];  /* the host end of each "TAP queue" */
static int devfd[MAX_PAIRS]; /* the device's end (owned by the device once created) */
/* Per-queue loops (dev->queue_loops), started by the tests that want them. */
static struct qloops qloops;
static sem_t *loop_held; /* released by teardown if a test fails with the loop held */
static char taps[4][IFNAMSIZ]; /* real TAPs this test created, deleted by teardown */

static void setup(void)
{
	log_set_level(LOG_ERROR);
	cr_assert_eq(vqd_setup(&mem, MEM_SIZE, &loop, &loop_thread, &qloops), 0);
	dev = NULL;
	loop_held = NULL;
	for (int i = 0; i < MAX_PAIRS; i++)
		peer[i] = devfd[i] = -1;
	memset(taps, 0, sizeof(taps));
}

static void tap_del(const char *name)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "ip link del %s 2>/dev/null", name);
	if (system(cmd)) {
		/* already gone */
	}
}

static void teardown(void)
{
	if (loop_held)
		sem_post(loop_held);
	vqd_teardown(dev, &qloops, &loop, loop_thread, &mem);
	for (int i = 0; i < MAX_PAIRS; i++)
		if (peer[i] >= 0)
			close(peer[i]);
	for (int i = 0; i < 4; i++)
		if (taps[i][0])
			tap_del(taps[i]);
}

/* One timeout for all suites: with different ones Criterion 2.4 leaks 48 bytes, which
 * LeakSanitizer turns into a failed run. */
TestSuite(net, .init = setup, .fini = teardown, .timeout = 30);
TestSuite(net_hdr, .timeout = 30);
TestSuite(tap, .init = setup, .fini = teardown, .timeout = 30);

static const uint8_t test_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* A device on `pairs` socket pairs; peer[i] is the host end of pair i. */
static struct virtio_device *create_pairs(unsigned int pairs)
{
	struct net_dev_config cfg = { .tap = "sp", .queues = pairs };
	struct err e = { { 0 } };
	struct virtio_device *d = NULL;

	memcpy(cfg.mac, test_mac, 6);
	for (unsigned int i = 0; i < pairs; i++) {
		int sv[2];

		cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
		devfd[i] = sv[0];
		peer[i] = sv[1];
	}
	cr_assert_eq(net_create_fds(&d, &cfg, devfd, &mem, &loop, &e), 0, "%s", e.msg);
	d->transport = &counting_transport;
	return d;
}

/* One loop and thread per queue of dev, before the driver starts it. */
static void start_queue_loops(void)
{
	cr_assert_leq(dev->nr_queues, MAX_QUEUES);
	cr_assert_eq(qloops_start(&qloops, dev), 0);
}

/* ---- the driver side ---- */

static void *gp(uint64_t gpa)
{
	void *p = guest_mem_ptr(&mem, gpa, 1);

	cr_assert_not_null(p);
	return p;
}

/* What the transport does when the driver enables queue q. */
static void queue_setup(struct drv *d, unsigned int q, uint16_t size, bool event_idx)
{
	cr_assert_eq(drv_queue_setup(d, dev, &mem, q, size, event_idx), 0);
}

/* FEATURES_OK with `features`, every queue enabled, DRIVER_OK. */
static void start(struct drv *d, uint64_t features)
{
	dev->driver_features = features;
	for (unsigned int q = 0; q < dev->nr_queues; q++)
		queue_setup(&d[q], q, QSIZE, features & F_EVENT_IDX);
	cr_assert_eq(dev->ops->activate(dev), 0);
}

/* The doorbell: queue_notify runs on the queue's loop thread, as the transport's would. */
static void kick(struct drv *d)
{
	drv_kick(dev, d->q);
}

static void wait_used(const struct drv *d, uint16_t n)
{
	cr_assert_eq(drv_wait_used(d, n, 5000), n, "queue %u: used idx %u, want %u", d->q,
		     drv_used_idx(d), n);
}

static void set_used_event(struct drv *d, uint16_t v)
{
	__atomic_store_n(&d->avail->ring[d->size], htole16(v), __ATOMIC_RELEASE);
}

static void wait_irqs(unsigned int q, unsigned int n)
{
	for (int i = 0; i < 2000 && atomic_load(&tr_counts.irqs[q]) < n; i++)
		usleep(1000);
	cr_assert_eq(atomic_load(&tr_counts.irqs[q]), n, "queue %u: %u interrupts, want %u", q,
		     atomic_load(&tr_counts.irqs[q]), n);
}

static struct net_stats stats(void)
{
	struct net_stats s;

	net_get_stats(dev, &s);
	return s;
}

/* Wait until a counter reaches want (the loop updates it after the test's action). */
#define wait_stat(field, want)                                                         \
	do {                                                                               \
		for (int i_ = 0; i_ < 5000 && stats().field < (want); i_++)                    \
			usleep(1000);                                                          \
		cr_assert_eq(stats().field, (want), #field " is %llu, want %llu",          \
			     (unsigned long long)stats().field, (unsigned long long)(want));   \
	} while (0)

/* ---- packets ---- */

static uint8_t pattern(uint32_t seed, uint32_t i)
{
	return (uint8_t)(seed * 31 + i * 7 + i / 251);
}

static void fill(uint8_t *p, uint32_t seed, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = pattern(seed, i);
}

static bool is_pattern(const uint8_t *p, uint32_t seed, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != pattern(seed, i))
			return false;
	return true;
}

static struct virtio_net_hdr_mrg_rxbuf hdr(uint8_t flags, uint8_t gso_type, uint16_t hdr_len,
					   uint16_t gso_size, uint16_t csum_start,
					   uint16_t csum_offset)
{
	struct virtio_net_hdr_mrg_rxbuf h;

	memset(&h, 0, sizeof(h));
	h.hdr.flags = flags;
	h.hdr.gso_type = gso_type;
	h.hdr.hdr_len = htole16(hdr_len);
	h.hdr.gso_size = htole16(gso_size);
	h.hdr.csum_start = htole16(csum_start);
	h.hdr.csum_offset = htole16(csum_offset);
	return h;
}

/* A TX packet at gpa: header, then a frame of len bytes from seed. Header and frame in
 * two descriptors, as Linux sends them. */
static uint16_t add_tx(struct drv *d, uint64_t gpa, const struct virtio_net_hdr_mrg_rxbuf *h,
		       uint32_t seed, uint32_t len)
{
	struct seg s[2] = {
		{ gpa, NET_HDR_LEN, false },
		{ gpa + 64, len, false },
	};

	memcpy(gp(gpa), h, NET_HDR_LEN);
	fill(guest_mem_ptr(&mem, gpa + 64, len), seed, len);
	return drv_add_chain(d, s, 2);
}

/* Receive one packet from the host end, waiting up to timeout_ms; -1 if none. */
static ssize_t peer_recv(int fd, void *buf, size_t len, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, timeout_ms) != 1)
		return -1;
	return recv(fd, buf, len, MSG_DONTWAIT);
}

/* Send header + frame(seed, len) from the host end. */
static void peer_send(int fd, const struct virtio_net_hdr_mrg_rxbuf *h, uint32_t seed,
		      uint32_t len)
{
	uint8_t *buf = malloc(NET_HDR_LEN + len);

	memcpy(buf, h, NET_HDR_LEN);
	fill(buf + NET_HDR_LEN, seed, len);
	cr_assert_eq(send(fd, buf, NET_HDR_LEN + len, 0), (ssize_t)(NET_HDR_LEN + len),
		     "send: %s", strerror(errno));
	free(buf);
}

static uint16_t add_rx(struct drv *d, uint64_t gpa, uint32_t len)
{
	struct seg s = { gpa, len, true };

	return drv_add_chain(d, &s, 1);
}

static const struct virtio_net_hdr_mrg_rxbuf *guest_hdr(uint64_t gpa)
{
	return gp(gpa);
}

/* ==== header checks (pure) ==== */

#define TXF (F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) | \
	     F(VIRTIO_NET_F_HOST_ECN))
#define CS VIRTIO_NET_HDR_F_NEEDS_CSUM
#define ECN VIRTIO_NET_HDR_GSO_ECN

struct hdr_case {
	const char *what;
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset;
	uint64_t frame_len;
	uint64_t features;
	enum net_hdr_error want;
};

static const struct hdr_case tx_cases[] = {
	/* valid */
	{ "plain", 0, 0, 0, 0, 0, 0, 60, 0, NET_HDR_OK },
	{ "plain, all features", 0, 0, 0, 0, 0, 0, 1514, TXF, NET_HDR_OK },
	{ "smallest frame", 0, 0, 0, 0, 0, 0, 14, 0, NET_HDR_OK },
	{ "largest frame", 0, 0, 0, 0, 0, 0, NET_MAX_FRAME, 0, NET_HDR_OK },
	{ "checksum offload", CS, 0, 0, 0, 34, 16, 60, F(VIRTIO_NET_F_CSUM), NET_HDR_OK },
	{ "checksum in the last 2 bytes", CS, 0, 0, 0, 40, 18, 60, F(VIRTIO_NET_F_CSUM),
	  NET_HDR_OK },
	{ "tcpv4", CS, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16, 9000, TXF, NET_HDR_OK },
	{ "tcpv6", CS, VIRTIO_NET_HDR_GSO_TCPV6, 74, 1428, 54, 16, 60000, TXF, NET_HDR_OK },
	{ "tcpv4 with ecn", CS, VIRTIO_NET_HDR_GSO_TCPV4 | ECN, 54, 1448, 34, 16, 9000, TXF,
	  NET_HDR_OK },
	{ "tcpv6 with ecn", CS, VIRTIO_NET_HDR_GSO_TCPV6 | ECN, 74, 1428, 54, 16, 9000, TXF,
	  NET_HDR_OK },
	{ "gso_size larger than the payload", CS, VIRTIO_NET_HDR_GSO_TCPV4, 54, 65000, 34, 16,
	  100, TXF, NET_HDR_OK },
	{ "hdr_len == frame", CS, VIRTIO_NET_HDR_GSO_TCPV4, 100, 1448, 34, 16, 100, TXF,
	  NET_HDR_OK },
	{ "tcpv4, only HOST_TSO4", CS, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16, 9000,
	  F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4), NET_HDR_OK },
	/* invalid */
	{ "empty frame", 0, 0, 0, 0, 0, 0, 0, TXF, NET_HDR_RUNT },
	{ "13-byte frame", 0, 0, 0, 0, 0, 0, 13, TXF, NET_HDR_RUNT },
	{ "frame over the maximum", 0, 0, 0, 0, 0, 0, NET_MAX_FRAME + 1, TXF,
	  NET_HDR_OVERSIZED },
	{ "huge frame", 0, 0, 0, 0, 0, 0, 1ULL << 33, TXF, NET_HDR_OVERSIZED },
	{ "DATA_VALID from the driver", VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0, 60, TXF,
	  NET_HDR_FLAGS },
	{ "RSC_INFO from the driver", VIRTIO_NET_HDR_F_RSC_INFO, 0, 0, 0, 0, 0, 60, TXF,
	  NET_HDR_FLAGS },
	{ "unknown flag", 0x80, 0, 0, 0, 0, 0, 60, TXF, NET_HDR_FLAGS },
	{ "NEEDS_CSUM without CSUM", CS, 0, 0, 0, 34, 16, 60, F(VIRTIO_NET_F_HOST_TSO4),
	  NET_HDR_CSUM_FEATURE },
	{ "gso without any feature", CS, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16, 9000, 0,
	  NET_HDR_CSUM_FEATURE },
	{ "csum_start at the end", CS, 0, 0, 0, 60, 0, 60, TXF, NET_HDR_CSUM_RANGE },
	{ "checksum one byte past the end", CS, 0, 0, 0, 40, 19, 60, TXF, NET_HDR_CSUM_RANGE },
	{ "csum_offset overflow", CS, 0, 0, 0, 0xffff, 0xffff, 60, TXF, NET_HDR_CSUM_RANGE },
	{ "csum_offset alone too large", CS, 0, 0, 0, 0, 0xfffe, 1000, TXF,
	  NET_HDR_CSUM_RANGE },
	{ "UFO (GSO_UDP)", CS, VIRTIO_NET_HDR_GSO_UDP, 42, 1472, 34, 6, 9000, TXF,
	  NET_HDR_GSO_TYPE },
	{ "USO (GSO_UDP_L4)", CS, 5, 42, 1472, 34, 6, 9000, TXF, NET_HDR_GSO_TYPE },
	{ "gso type 2", CS, 2, 54, 1448, 34, 16, 9000, TXF, NET_HDR_GSO_TYPE },
	{ "gso type 0x7f", CS, 0x7f, 54, 1448, 34, 16, 9000, TXF, NET_HDR_GSO_TYPE },
	{ "ecn without gso", CS, ECN, 0, 0, 34, 16, 60, TXF, NET_HDR_GSO_TYPE },
	{ "tcpv4 without HOST_TSO4", CS, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16, 9000,
	  F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO6), NET_HDR_GSO_FEATURE },
	{ "tcpv6 without HOST_TSO6", CS, VIRTIO_NET_HDR_GSO_TCPV6, 74, 1428, 54, 16, 9000,
	  F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4), NET_HDR_GSO_FEATURE },
	{ "ecn without HOST_ECN", CS, VIRTIO_NET_HDR_GSO_TCPV4 | ECN, 54, 1448, 34, 16, 9000,
	  F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4), NET_HDR_GSO_FEATURE },
	{ "gso without NEEDS_CSUM", 0, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 0, 0, 9000, TXF,
	  NET_HDR_GSO_CSUM },
	{ "gso_size 0", CS, VIRTIO_NET_HDR_GSO_TCPV6, 74, 0, 54, 16, 9000, TXF,
	  NET_HDR_GSO_SIZE },
	{ "hdr_len past the frame", CS, VIRTIO_NET_HDR_GSO_TCPV4, 101, 1448, 34, 16, 100, TXF,
	  NET_HDR_HDR_LEN },
	{ "hdr_len past a plain frame", 0, 0, 0xffff, 0, 0, 0, 60, TXF, NET_HDR_HDR_LEN },
};

Test(net_hdr, tx_header_table)
{
	for (size_t i = 0; i < sizeof(tx_cases) / sizeof(tx_cases[0]); i++) {
		const struct hdr_case *c = &tx_cases[i];
		struct virtio_net_hdr_mrg_rxbuf in = hdr(c->flags, c->gso_type, c->hdr_len,
							 c->gso_size, c->csum_start,
							 c->csum_offset);
		struct virtio_net_hdr_mrg_rxbuf out;
		enum net_hdr_error got = net_hdr_from_guest(&in, c->frame_len, c->features,
							    &out);

		cr_expect_eq(got, c->want, "%s: got %d (%s), want %d (%s)", c->what, got,
			     net_hdr_strerror(got), c->want, net_hdr_strerror(c->want));
		if (got == NET_HDR_OK && c->want == NET_HDR_OK) {
			cr_expect_eq(out.hdr.flags, c->flags, "%s", c->what);
			cr_expect_eq(out.hdr.gso_type, c->gso_type, "%s", c->what);
			cr_expect_eq(le16toh(out.hdr.hdr_len), c->hdr_len, "%s", c->what);
		}
	}
}

Test(net_hdr, tx_translation_zeroes_unused_fields)
{
	struct virtio_net_hdr_mrg_rxbuf in = hdr(0, 0, 20, 1000, 5, 6), out;

	in.num_buffers = htole16(7);
	memset(&out, 0xee, sizeof(out));
	cr_assert_eq(net_hdr_from_guest(&in, 60, TXF, &out), NET_HDR_OK);
	cr_assert_eq(out.hdr.flags, 0);
	cr_assert_eq(out.hdr.gso_type, 0);
	cr_assert_eq(le16toh(out.hdr.hdr_len), 20);
	cr_assert_eq(out.hdr.gso_size, 0, "no gso: gso_size is not passed on");
	cr_assert_eq(out.hdr.csum_start, 0, "no NEEDS_CSUM: csum fields are not passed on");
	cr_assert_eq(out.hdr.csum_offset, 0);
	cr_assert_eq(out.num_buffers, 0, "num_buffers is the device's, on receive only");

	in = hdr(CS, VIRTIO_NET_HDR_GSO_TCPV4 | ECN, 54, 1448, 34, 16);
	cr_assert_eq(net_hdr_from_guest(&in, 9000, TXF, &out), NET_HDR_OK);
	cr_assert_eq(out.hdr.flags, CS);
	cr_assert_eq(out.hdr.gso_type, VIRTIO_NET_HDR_GSO_TCPV4 | ECN);
	cr_assert_eq(le16toh(out.hdr.gso_size), 1448);
	cr_assert_eq(le16toh(out.hdr.csum_start), 34);
	cr_assert_eq(le16toh(out.hdr.csum_offset), 16);
}

Test(net_hdr, every_error_has_a_message)
{
	for (int i = 0; i < NET_HDR_NR; i++)
		cr_assert(net_hdr_strerror(i) && net_hdr_strerror(i)[0], "error %d", i);
	cr_assert_str_eq(net_hdr_strerror(NET_HDR_NR), "unknown header error");
}

#define RXF_ALL (F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) |             \
		 F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_ECN))
#define DV VIRTIO_NET_HDR_F_DATA_VALID

static const struct {
	const char *what;
	uint8_t flags, gso_type;
	uint64_t features;
	enum net_hdr_error want;
	uint8_t want_flags;
} rx_cases[] = {
	{ "plain", 0, 0, 0, NET_HDR_OK, 0 },
	{ "DATA_VALID without GUEST_CSUM is cleared", DV, 0, 0, NET_HDR_OK, 0 },
	{ "DATA_VALID with GUEST_CSUM stays", DV, 0, F(VIRTIO_NET_F_GUEST_CSUM), NET_HDR_OK,
	  DV },
	{ "NEEDS_CSUM with GUEST_CSUM", CS, 0, F(VIRTIO_NET_F_GUEST_CSUM), NET_HDR_OK, CS },
	{ "NEEDS_CSUM without GUEST_CSUM", CS, 0, 0, NET_HDR_CSUM_FEATURE, 0 },
	{ "tcpv4 with GUEST_TSO4", CS, VIRTIO_NET_HDR_GSO_TCPV4, RXF_ALL, NET_HDR_OK, CS },
	{ "tcpv6 with ecn", CS, VIRTIO_NET_HDR_GSO_TCPV6 | ECN, RXF_ALL, NET_HDR_OK, CS },
	{ "tcpv4 without GUEST_TSO4", CS, VIRTIO_NET_HDR_GSO_TCPV4,
	  F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO6), NET_HDR_GSO_FEATURE, 0 },
	{ "ecn without GUEST_ECN", CS, VIRTIO_NET_HDR_GSO_TCPV4 | ECN,
	  F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4), NET_HDR_GSO_FEATURE, 0 },
	{ "UFO never", CS, VIRTIO_NET_HDR_GSO_UDP, RXF_ALL | F(VIRTIO_NET_F_GUEST_UFO),
	  NET_HDR_GSO_TYPE, 0 },
	{ "RSC_INFO never", VIRTIO_NET_HDR_F_RSC_INFO, 0, RXF_ALL, NET_HDR_FLAGS, 0 },
};

Test(net_hdr, rx_header_table)
{
	for (size_t i = 0; i < sizeof(rx_cases) / sizeof(rx_cases[0]); i++) {
		struct virtio_net_hdr_mrg_rxbuf h = hdr(rx_cases[i].flags, rx_cases[i].gso_type,
							54, 1448, 34, 16);
		enum net_hdr_error got = net_hdr_to_guest(&h, rx_cases[i].features, 3);

		cr_expect_eq(got, rx_cases[i].want, "%s: got %s", rx_cases[i].what,
			     net_hdr_strerror(got));
		if (got == NET_HDR_OK) {
			cr_expect_eq(h.hdr.flags, rx_cases[i].want_flags, "%s", rx_cases[i].what);
			cr_expect_eq(le16toh(h.num_buffers), 3, "%s", rx_cases[i].what);
		}
	}
}

Test(net_hdr, tap_offloads_follow_guest_features)
{
	static const struct {
		uint64_t features;
		unsigned int want;
	} cases[] = {
		{ 0, 0 },
		{ F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4), 0 }, /* host side: not ours */
		{ F(VIRTIO_NET_F_GUEST_CSUM), TUN_F_CSUM },
		{ F(VIRTIO_NET_F_GUEST_TSO4), 0 }, /* TSO without checksum offload */
		{ F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4),
		  TUN_F_CSUM | TUN_F_TSO4 },
		{ F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO6),
		  TUN_F_CSUM | TUN_F_TSO6 },
		{ RXF_ALL, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN },
		{ F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_ECN), TUN_F_CSUM },
		{ RXF_ALL | F(VIRTIO_NET_F_GUEST_UFO), TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 |
		  TUN_F_TSO_ECN },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(net_tap_offloads(cases[i].features), cases[i].want,
			     "case %zu: 0x%x, want 0x%x", i, net_tap_offloads(cases[i].features),
			     cases[i].want);
}

/* ==== device: configuration ==== */

static struct virtio_net_config config(void)
{
	struct virtio_net_config c;

	memset(&c, 0, sizeof(c));
	cr_assert_eq(dev->config_size, 12, "mac, status, max_virtqueue_pairs, mtu");
	dev->ops->config_read(dev, 0, &c, dev->config_size);
	return c;
}

Test(net, features_queues_and_config_space)
{
	uint64_t f, want = F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) |
			   F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_CSUM) |
			   F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) |
			   F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_HOST_ECN) |
			   F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) |
			   F(VIRTIO_NET_F_GUEST_ECN) | F(VIRTIO_NET_F_CTRL_VQ);
	struct virtio_net_config c;
	uint16_t status;
	uint8_t junk[12];

	dev = create_pairs(1);
	f = dev->ops->features(dev);
	cr_assert_eq(f & want, want, "missing 0x%llx", (unsigned long long)(want & ~f));
	cr_assert(f & F_VERSION_1);
	cr_assert(f & F(40), "RING_RESET: queue_reset is implemented");
	cr_assert_not(f & F(VIRTIO_NET_F_MQ), "one pair: no MQ");
	cr_assert_not(f & F(VIRTIO_NET_F_GUEST_UFO));
	cr_assert_not(f & F(VIRTIO_NET_F_HOST_UFO));
	cr_assert_not(f & F(VIRTIO_NET_F_MTU));
	cr_assert_not(f & F(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS));
	cr_assert_not(f & F(VIRTIO_NET_F_GUEST_ANNOUNCE));
	cr_assert_eq(dev->device_type, 1);
	cr_assert_eq(dev->nr_queues, 3, "rx0, tx0, ctrl");
	for (unsigned int i = 0; i < 3; i++)
		cr_assert_eq(dev->vqs[i].max_size, NET_QUEUE_SIZE);

	c = config();
	cr_assert_arr_eq(c.mac, test_mac, 6);
	cr_assert_eq(le16toh(c.status), VIRTIO_NET_S_LINK_UP);
	cr_assert_eq(le16toh(c.max_virtqueue_pairs), 1);
	cr_assert_eq(c.mtu, 0);
	/* Field by field, as a transport may read it. */
	dev->ops->config_read(dev, 6, &status, 2);
	cr_assert_eq(le16toh(status), VIRTIO_NET_S_LINK_UP);
	/* Writes are ignored. */
	memset(junk, 0xff, sizeof(junk));
	dev->ops->config_write(dev, 0, junk, sizeof(junk));
	c = config();
	cr_assert_arr_eq(c.mac, test_mac, 6);
	cr_assert_eq(le16toh(c.status), VIRTIO_NET_S_LINK_UP);
}

Test(net, multiqueue_layout)
{
	struct virtio_net_config c;

	dev = create_pairs(4);
	cr_assert(dev->ops->features(dev) & F(VIRTIO_NET_F_MQ));
	cr_assert_eq(dev->nr_queues, 9, "2 * pairs + 1: the control queue is 2N");
	c = config();
	cr_assert_eq(le16toh(c.max_virtqueue_pairs), 4);
}

static void create_fails(const struct net_dev_config *cfg, const int *fds, const char *needle)
{
	struct err e = { { 0 } };
	struct virtio_device *d = NULL;
	int ret = fds ? net_create_fds(&d, cfg, fds, &mem, &loop, &e) :
			net_create(&d, cfg, &mem, &loop, &e);

	cr_assert_eq(ret, -1);
	cr_assert_null(d);
	cr_assert(strstr(e.msg, needle), "'%s' lacks '%s'", e.msg, needle);
}

Test(net, create_errors_and_mac_choice)
{
	struct net_dev_config cfg = { .tap = "sp", .queues = 0 };
	int bad[1] = { -1 }, sv[2];
	struct virtio_device *d1, *d2;
	struct err e = { { 0 } };
	uint8_t mac1[6], mac2[6];

	create_fails(&cfg, bad, "queue pairs");
	cfg.queues = NET_MAX_PAIRS + 1;
	create_fails(&cfg, bad, "queue pairs");
	cfg.queues = 1;
	create_fails(&cfg, bad, "fd -1");
	cfg.mac[0] = 0x01;
	create_fails(&cfg, bad, "multicast");
	cfg.mac[0] = 0;
	cfg.tap = NULL;
	create_fails(&cfg, NULL, "no tap name");

	/* No MAC given: one derived from the name, stable and locally administered. */
	cfg.tap = "tap-a";
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	cr_assert_eq(net_create_fds(&d1, &cfg, &sv[0], &mem, &loop, &e), 0, "%s", e.msg);
	cr_assert_eq(net_create_fds(&d2, &cfg, &sv[1], &mem, &loop, &e), 0, "%s", e.msg);
	d1->ops->config_read(d1, 0, mac1, 6);
	d2->ops->config_read(d2, 0, mac2, 6);
	cr_assert_arr_eq(mac1, mac2, 6);
	cr_assert_eq(mac1[0], 0x52);
	cr_assert_eq(mac1[1], 0x54);
	cr_assert_eq(mac1[2], 0x00);
	d1->ops->destroy(d1);
	d2->ops->destroy(d2);
	cr_assert_eq(fcntl(sv[0], F_GETFD), -1, "destroy closes the fds it owns");
	cfg.tap = "tap-b";
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	cr_assert_eq(net_create_fds(&d1, &cfg, &sv[0], &mem, &loop, &e), 0, "%s", e.msg);
	d1->ops->config_read(d1, 0, mac2, 6);
	cr_assert(memcmp(mac1, mac2, 6), "another name, another MAC");
	d1->ops->destroy(d1);
	close(sv[1]);
}

/* ==== device: transmit ==== */

Test(net, tx_writes_header_and_frame_and_completes)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(CS, 0, 0, 0, 34, 16);
	struct drv d[3];
	uint8_t got[2048];
	struct vring_used_elem e;
	uint16_t head;
	ssize_t n;

	dev = create_pairs(1);
	start(d, F_BASE);
	head = add_tx(&d[1], TX_AREA, &h, 1, 100);
	kick(&d[1]);
	wait_used(&d[1], 1);
	e = drv_used_elem(&d[1], 0);
	cr_assert_eq(e.id, head);
	cr_assert_eq(e.len, 0, "nothing is written into a TX chain");
	n = peer_recv(peer[0], got, sizeof(got), 1000);
	cr_assert_eq(n, NET_HDR_LEN + 100);
	cr_assert_arr_eq(got, &h, NET_HDR_LEN, "the header the TAP gets");
	cr_assert(is_pattern(got + NET_HDR_LEN, 1, 100), "the frame");
	wait_irqs(1, 1);
	cr_assert_eq(atomic_load(&tr_counts.irqs[0]), 0);
	cr_assert_eq(stats().tx_packets, 1);
	cr_assert_eq(stats().tx_bytes, 100);
	cr_assert_eq(stats().tx_dropped, 0);
}

/* Header split across descriptors, frame in many: the TAP still sees one packet. */
Test(net, tx_scattered_chain)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	uint8_t *p = gp(TX_AREA), got[4096];
	struct seg s[8];
	struct drv d[3];
	uint32_t off = 0;

	dev = create_pairs(1);
	start(d, F_BASE);
	memcpy(p, &h, NET_HDR_LEN);
	fill(p + NET_HDR_LEN, 9, 3000);
	/* 5 + 7 bytes of header (the second with 3 frame bytes), then frame pieces */
	s[0] = (struct seg){ TX_AREA, 5, false };
	s[1] = (struct seg){ TX_AREA + 5, 10, false };
	off = 15;
	for (int i = 2; i < 8; i++) {
		uint32_t len = i < 7 ? 500 : NET_HDR_LEN + 3000 - off;

		s[i] = (struct seg){ TX_AREA + off, len, false };
		off += len;
	}
	drv_add_chain(&d[1], s, 8);
	kick(&d[1]);
	wait_used(&d[1], 1);
	cr_assert_eq(peer_recv(peer[0], got, sizeof(got), 1000), NET_HDR_LEN + 3000);
	cr_assert(is_pattern(got + NET_HDR_LEN, 9, 3000));
}

/* Everything of one kick goes out, in order, and each chain comes back once. */
Test(net, tx_batch_in_order)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	uint8_t got[4096];
	struct drv d[3];

	dev = create_pairs(1);
	start(d, F_BASE);
	for (int i = 0; i < 30; i++)
		add_tx(&d[1], TX_AREA + i * 4096ULL, &h, i, 60 + i * 50);
	kick(&d[1]);
	wait_used(&d[1], 30);
	for (int i = 0; i < 30; i++) {
		cr_assert_eq(peer_recv(peer[0], got, sizeof(got), 1000), NET_HDR_LEN + 60 + i * 50,
			     "packet %d", i);
		cr_assert(is_pattern(got + NET_HDR_LEN, i, 60 + i * 50), "packet %d", i);
	}
	cr_assert_eq(stats().tx_packets, 30);
}

/* Bad packets are dropped and completed; the ones around them go out. */
Test(net, tx_bad_packets_dropped_and_completed)
{
	struct virtio_net_hdr_mrg_rxbuf good = hdr(0, 0, 0, 0, 0, 0);
	struct virtio_net_hdr_mrg_rxbuf ufo = hdr(CS, VIRTIO_NET_HDR_GSO_UDP, 42, 1472, 34, 6);
	struct virtio_net_hdr_mrg_rxbuf csum_out = hdr(CS, 0, 0, 0, 90, 20);
	uint8_t got[128];
	struct seg s[3];
	struct drv d[3];
	int bad = 0;

	dev = create_pairs(1);
	start(d, F_BASE);
	add_tx(&d[1], TX_AREA, &good, 1, 60);
	add_tx(&d[1], TX_AREA + 0x1000, &ufo, 2, 100), bad++;
	add_tx(&d[1], TX_AREA + 0x2000, &csum_out, 3, 100), bad++;
	/* a writable buffer in a TX chain */
	memcpy(gp(TX_AREA + 0x3000), &good, NET_HDR_LEN);
	s[0] = (struct seg){ TX_AREA + 0x3000, NET_HDR_LEN, false };
	s[1] = (struct seg){ TX_AREA + 0x3040, 60, false };
	s[2] = (struct seg){ TX_AREA + 0x3100, 1, true };
	drv_add_chain(&d[1], s, 3), bad++;
	/* shorter than the header, and a runt frame */
	s[0] = (struct seg){ TX_AREA + 0x4000, 8, false };
	drv_add_chain(&d[1], s, 1), bad++;
	add_tx(&d[1], TX_AREA + 0x5000, &good, 5, 13), bad++;
	/* larger than 64 KiB plus headers */
	add_tx(&d[1], BIG_AREA, &good, 6, NET_MAX_FRAME + 1), bad++;
	add_tx(&d[1], TX_AREA + 0x6000, &good, 7, 61);
	kick(&d[1]);
	wait_used(&d[1], bad + 2);
	for (int i = 0; i < bad + 2; i++)
		cr_assert_eq(drv_used_elem(&d[1], i).len, 0);
	cr_assert_eq(peer_recv(peer[0], got, sizeof(got), 1000), NET_HDR_LEN + 60);
	cr_assert(is_pattern(got + NET_HDR_LEN, 1, 60));
	cr_assert_eq(peer_recv(peer[0], got, sizeof(got), 1000), NET_HDR_LEN + 61);
	cr_assert(is_pattern(got + NET_HDR_LEN, 7, 61));
	cr_assert_eq(peer_recv(peer[0], got, sizeof(got), 50), -1, "nothing else reached the TAP");
	cr_assert_eq(stats().tx_dropped, bad);
	cr_assert_eq(stats().tx_packets, 2);
	cr_assert_eq(atomic_load(&tr_counts.needs_resets), 0,
		     "bad packets do not break the device");
}

/* A guest without HOST_TSO4 may not send TSO: the header check uses what was negotiated. */
Test(net, tx_gso_needs_negotiation)
{
	struct virtio_net_hdr_mrg_rxbuf tso = hdr(CS, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
	struct drv d[3];
	uint8_t got[16];

	dev = create_pairs(1);
	start(d, F_VERSION_1 | F(VIRTIO_NET_F_CSUM));
	add_tx(&d[1], TX_AREA, &tso, 1, 3000);
	kick(&d[1]);
	wait_used(&d[1], 1);
	cr_assert_eq(stats().tx_dropped, 1);
	cr_assert_eq(peer_recv(peer[0], got, sizeof(got), 50), -1);
}

Test(net, tx_interrupts_follow_event_idx)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	uint8_t got[256];
	struct drv d[3];

	dev = create_pairs(1);
	start(d, F_BASE | F_EVENT_IDX);
	/* The first decision on a fresh ring always interrupts. */
	add_tx(&d[1], TX_AREA, &h, 1, 60);
	kick(&d[1]);
	wait_used(&d[1], 1);
	wait_irqs(1, 1);
	/* used_event still 0: the driver did not ask for the second one. */
	add_tx(&d[1], TX_AREA + 0x1000, &h, 2, 60);
	kick(&d[1]);
	wait_used(&d[1], 2);
	usleep(20000);
	cr_assert_eq(atomic_load(&tr_counts.irqs[1]), 1);
	/* Interrupt me when entry 2 is used. */
	set_used_event(&d[1], 2);
	add_tx(&d[1], TX_AREA + 0x2000, &h, 3, 60);
	kick(&d[1]);
	wait_used(&d[1], 3);
	wait_irqs(1, 2);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(peer_recv(peer[0], got, sizeof(got), 1000), NET_HDR_LEN + 60);
}

Test(net, tx_no_interrupt_when_suppressed)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	struct drv d[3];

	dev = create_pairs(1);
	start(d, F_BASE);
	d[1].avail->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
	add_tx(&d[1], TX_AREA, &h, 1, 60);
	kick(&d[1]);
	wait_used(&d[1], 1);
	usleep(20000);
	cr_assert_eq(atomic_load(&tr_counts.irqs[1]), 0);
}

/* ==== device: receive ==== */

Test(net, rx_packet_lands_in_guest_buffer)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	const struct virtio_net_hdr_mrg_rxbuf *g;
	struct vring_used_elem e;
	struct drv d[3];
	uint16_t head;

	dev = create_pairs(1);
	start(d, F_BASE);
	memset(gp(RX_AREA), 0xaa, 2048);
	head = add_rx(&d[0], RX_AREA, 1526);
	kick(&d[0]);
	h.num_buffers = htole16(0x4444); /* whatever the TAP says: the device sets it */
	peer_send(peer[0], &h, 5, 60);
	wait_used(&d[0], 1);
	e = drv_used_elem(&d[0], 0);
	cr_assert_eq(e.id, head);
	cr_assert_eq(e.len, NET_HDR_LEN + 60);
	g = guest_hdr(RX_AREA);
	cr_assert_eq(le16toh(g->num_buffers), 1);
	cr_assert_eq(g->hdr.flags, 0);
	cr_assert_eq(g->hdr.gso_type, 0);
	cr_assert(is_pattern(gp(RX_AREA + NET_HDR_LEN), 5, 60));
	cr_assert_eq(*(uint8_t *)gp(RX_AREA + NET_HDR_LEN + 60), 0xaa, "nothing past the packet");
	wait_irqs(0, 1);
	cr_assert_eq(stats().rx_packets, 1);
	cr_assert_eq(stats().rx_bytes, 60);
}

/* A 4000-byte packet over 1526-byte buffers: three chains, num_buffers 3. */
Test(net, rx_mergeable_buffers)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	uint8_t *flat = malloc(NET_HDR_LEN + 4000);
	struct drv d[3];
	uint16_t heads[4];
	uint32_t off = 0;

	dev = create_pairs(1);
	start(d, F_MRG);
	for (int i = 0; i < 4; i++)
		heads[i] = add_rx(&d[0], RX_AREA + i * 0x1000ULL, 1526);
	kick(&d[0]);
	peer_send(peer[0], &h, 3, 4000);
	wait_used(&d[0], 3);
	for (int i = 0; i < 3; i++) {
		struct vring_used_elem e = drv_used_elem(&d[0], i);
		uint32_t want = i < 2 ? 1526 : NET_HDR_LEN + 4000 - 2 * 1526;

		cr_assert_eq(e.id, heads[i]);
		cr_assert_eq(e.len, want, "chain %d: %u bytes, want %u", i, e.len, want);
		memcpy(flat + off, gp(RX_AREA + i * 0x1000ULL), want);
		off += want;
	}
	cr_assert_eq(le16toh(((struct virtio_net_hdr_mrg_rxbuf *)flat)->num_buffers), 3);
	cr_assert(is_pattern(flat + NET_HDR_LEN, 3, 4000));
	/* The fourth buffer takes the next packet alone. */
	peer_send(peer[0], &h, 4, 100);
	wait_used(&d[0], 4);
	cr_assert_eq(drv_used_elem(&d[0], 3).id, heads[3]);
	cr_assert_eq(le16toh(guest_hdr(RX_AREA + 0x3000)->num_buffers), 1);
	cr_assert(is_pattern(gp(RX_AREA + 0x3000 + NET_HDR_LEN), 4, 100));
	free(flat);
}

/* Without MRG_RXBUF a packet larger than the buffer is dropped, never written past it. */
Test(net, rx_oversized_without_mrg_dropped)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	uint8_t *area = gp(RX_AREA);
	struct drv d[3];
	uint16_t head;

	dev = create_pairs(1);
	start(d, F_BASE);
	memset(area, 0xaa, 4096);
	head = add_rx(&d[0], RX_AREA, 1000);
	kick(&d[0]);
	peer_send(peer[0], &h, 1, 1500);
	wait_stat(rx_dropped, 1);
	cr_assert_eq(drv_used_idx(&d[0]), 0);
	for (int i = 0; i < 4096; i++)
		cr_assert_eq(area[i], 0xaa, "byte %d written", i);
	/* The buffer is kept for the next packet that fits. */
	peer_send(peer[0], &h, 2, 200);
	wait_used(&d[0], 1);
	cr_assert_eq(drv_used_elem(&d[0], 0).id, head);
	cr_assert_eq(drv_used_elem(&d[0], 0).len, NET_HDR_LEN + 200);
	cr_assert(is_pattern(area + NET_HDR_LEN, 2, 200));
	cr_assert_eq(area[NET_HDR_LEN + 200], 0xaa);
	cr_assert_eq(stats().rx_packets, 1);
}

/* No buffers posted: nothing is read; the kick that brings buffers brings the packet. */
Test(net, rx_no_buffers_no_read)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	struct drv d[3];
	int queued = 0;

	dev = create_pairs(1);
	start(d, F_BASE);
	kick(&d[0]);
	peer_send(peer[0], &h, 7, 300);
	usleep(50000);
	cr_assert_eq(stats().rx_reads, 0, "no read without receive buffers");
	cr_assert_eq(ioctl(devfd[0], SIOCINQ, &queued), 0);
	cr_assert_gt(queued, 0, "the packet waits in the backend");
	add_rx(&d[0], RX_AREA, 1526);
	kick(&d[0]);
	wait_used(&d[0], 1);
	cr_assert(is_pattern(gp(RX_AREA + NET_HDR_LEN), 7, 300));
	usleep(20000);
	cr_assert_eq(stats().rx_reads, 1, "the ring is dry again: no further read");
}

/* With MRG_RXBUF, one 1526-byte buffer posted, a 4000-byte packet read: it waits. */
static void rx_packet_waiting(struct drv *d, uint32_t seed)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);

	dev = create_pairs(1);
	start(d, F_MRG);
	add_rx(&d[0], RX_AREA, 1526);
	kick(&d[0]);
	peer_send(peer[0], &h, seed, 4000);
	wait_stat(rx_reads, 1);
}

/* A packet read but not yet placeable waits for buffers, not dropped. */
Test(net, rx_packet_waits_for_more_buffers)
{
	struct drv d[3];

	rx_packet_waiting(d, 8);
	usleep(30000);
	cr_assert_eq(drv_used_idx(&d[0]), 0, "one buffer of three: nothing used yet");
	cr_assert_eq(stats().rx_dropped, 0);
	add_rx(&d[0], RX_AREA + 0x1000, 1526);
	add_rx(&d[0], RX_AREA + 0x2000, 1526);
	kick(&d[0]);
	wait_used(&d[0], 3);
	cr_assert_eq(le16toh(guest_hdr(RX_AREA)->num_buffers), 3);
	cr_assert_eq(stats().rx_packets, 1);
}

/* SIGUSR2's dump says why receiving stalls: a packet waits for buffers, one is held. */
Test(net, log_state_shows_a_packet_waiting_for_buffers)
{
	enum log_level level = log_get_level();
	int fd = memfd_create("log", 0);
	char buf[4096] = { 0 };
	struct drv d[3];

	cr_assert_geq(fd, 0);
	rx_packet_waiting(d, 9);
	usleep(30000);
	log_set_fd(fd);
	log_set_level(LOG_INFO);
	dev->ops->log_state(dev);
	log_set_level(level);
	log_set_fd(2);
	cr_assert_gt(pread(fd, buf, sizeof(buf) - 1, 0), 0);
	close(fd);
	cr_assert(strstr(buf, " rx0: size 64 avail idx 1 flags 0 last_avail 1 | used idx 0 "),
		  "%s", buf);
	cr_assert(strstr(buf, " rx0: running, in flight 0, cancels 0, pushed 0, idle enabled, "
			      "pending 4012 bytes, held 1 buffers\n"), "%s", buf);
	cr_assert(strstr(buf, " tx0: running, in flight 0, cancels 0, pushed 0, throttled 0, "
			      "enabled\n"), "%s", buf);
	cr_assert(strstr(buf, " ctrl: running, in flight 0, cancels 0, pushed 0\n"), "%s", buf);
}

/* With MRG_RXBUF a packet that needs more chains than the queue can hold is dropped. */
Test(net, rx_packet_needing_more_buffers_than_the_ring_dropped)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	struct drv d[3];

	dev = create_pairs(1);
	dev->driver_features = F_MRG;
	for (unsigned int q = 0; q < 3; q++)
		queue_setup(&d[q], q, 4, false); /* 4 entries: at most 4 chains */
	cr_assert_eq(dev->ops->activate(dev), 0);
	for (int i = 0; i < 4; i++)
		add_rx(&d[0], RX_AREA + i * 0x1000ULL, 100);
	kick(&d[0]);
	peer_send(peer[0], &h, 1, 1000);
	wait_stat(rx_dropped, 1);
	cr_assert_eq(drv_used_idx(&d[0]), 0);
	/* The held buffers take the next packet. */
	peer_send(peer[0], &h, 2, 150);
	wait_used(&d[0], 2);
	cr_assert_eq(le16toh(guest_hdr(RX_AREA)->num_buffers), 2);
}

/* The header is adjusted to what the guest negotiated; what it cannot take is dropped. */
Test(net, rx_header_follows_guest_features)
{
	struct virtio_net_hdr_mrg_rxbuf valid = hdr(VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0);
	struct virtio_net_hdr_mrg_rxbuf tso = hdr(CS, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
	struct drv d[3];

	dev = create_pairs(1);
	start(d, F_BASE); /* no GUEST_CSUM, no GUEST_TSO4 */
	add_rx(&d[0], RX_AREA, 1526);
	add_rx(&d[0], RX_AREA + 0x1000, 1526);
	kick(&d[0]);
	peer_send(peer[0], &valid, 1, 100);
	wait_used(&d[0], 1);
	cr_assert_eq(guest_hdr(RX_AREA)->hdr.flags, 0, "no DATA_VALID without GUEST_CSUM");
	peer_send(peer[0], &tso, 2, 1400);
	wait_stat(rx_errors, 1);
	cr_assert_eq(drv_used_idx(&d[0]), 1);
}

/* Receive chains the device cannot use are returned unused; the queue goes on. */
Test(net, rx_unusable_buffers_returned)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	struct seg ro = { RX_AREA, 1526, false };
	struct drv d[3];
	uint16_t h1, h2, h3;

	dev = create_pairs(1);
	start(d, F_BASE);
	h1 = drv_add_chain(&d[0], &ro, 1);
	h2 = add_rx(&d[0], RX_AREA + 0x1000, 8);
	h3 = add_rx(&d[0], RX_AREA + 0x2000, 1526);
	kick(&d[0]);
	peer_send(peer[0], &h, 1, 64);
	wait_used(&d[0], 3);
	cr_assert_eq(drv_used_elem(&d[0], 0).id, h1);
	cr_assert_eq(drv_used_elem(&d[0], 0).len, 0);
	cr_assert_eq(drv_used_elem(&d[0], 1).id, h2);
	cr_assert_eq(drv_used_elem(&d[0], 1).len, 0);
	cr_assert_eq(drv_used_elem(&d[0], 2).id, h3);
	cr_assert_eq(drv_used_elem(&d[0], 2).len, NET_HDR_LEN + 64);
	cr_assert_eq(atomic_load(&tr_counts.needs_resets), 0);
}

/* Buffers posted before DRIVER_OK without a kick after it are found at activation. */
Test(net, rx_buffers_posted_before_driver_ok)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	struct drv d[3];

	dev = create_pairs(1);
	dev->driver_features = F_BASE;
	for (unsigned int q = 0; q < 3; q++)
		queue_setup(&d[q], q, QSIZE, false);
	add_rx(&d[0], RX_AREA, 1526);
	kick(&d[0]); /* before DRIVER_OK: ignored */
	usleep(20000);
	cr_assert_eq(stats().rx_reads, 0);
	cr_assert_eq(dev->ops->activate(dev), 0);
	peer_send(peer[0], &h, 1, 64);
	wait_used(&d[0], 1);
}

/* ---- receive batches ---- */

static void loop_sync(unsigned int q);

/* n packets of len[i] bytes (seeds seed0, seed0 + 1, ...) queued on the host end. */
static void send_packets(unsigned int n, uint32_t seed0, const uint32_t *len)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);

	for (unsigned int i = 0; i < n; i++)
		peer_send(peer[0], &h, seed0 + i, len[i]);
}

/* The packet in rx buffer i (RX_AREA + i * 0x1000, one chain each) is seed's, len bytes. */
static void check_rx(const struct drv *d, unsigned int used, unsigned int i, uint32_t seed,
		     uint32_t len)
{
	struct vring_used_elem e = drv_used_elem(d, used);

	cr_assert_eq(e.id, i, "used %u: chain %u, want %u", used, e.id, i);
	cr_assert_eq(e.len, NET_HDR_LEN + len, "used %u: %u bytes, want %u", used, e.len,
		     NET_HDR_LEN + len);
	cr_assert_eq(le16toh(guest_hdr(RX_AREA + i * 0x1000ULL)->num_buffers), 1);
	cr_assert(is_pattern(gp(RX_AREA + i * 0x1000ULL + NET_HDR_LEN), seed, len),
		  "used %u: packet %u's bytes", used, seed);
}

static unsigned int queued_bytes(void)
{
	int queued = 0;

	cr_assert_eq(ioctl(devfd[0], SIOCINQ, &queued), 0);
	return (unsigned int)queued;
}

/*
 * Packets queued on the TAP when the read completes are read in the same batch, in
 * order, with one interrupt for all of them.
 */
Test(net, rx_batch_delivers_queued_packets_with_one_interrupt)
{
	uint32_t len[10];
	struct drv d[3];

	dev = create_pairs(1);
	start(d, F_BASE);
	loop_sync(0);
	for (int i = 0; i < 16; i++)
		add_rx(&d[0], RX_AREA + i * 0x1000ULL, 1526);
	for (int i = 0; i < 10; i++)
		len[i] = 60 + 100 * i;
	send_packets(10, 20, len);
	kick(&d[0]);
	wait_used(&d[0], 10);
	for (unsigned int i = 0; i < 10; i++)
		check_rx(&d[0], i, i, 20 + i, len[i]);
	usleep(20000);
	cr_assert_eq(atomic_load(&tr_counts.irqs[0]), 1, "one interrupt for the batch");
	cr_assert_eq(stats().rx_packets, 10);
	/* The batch ended at -EAGAIN: the next packet comes through the read that waits. */
	send_packets(1, 40, len);
	wait_used(&d[0], 11);
	check_rx(&d[0], 10, 10, 40, len[0]);
	wait_irqs(0, 2);
}

/* More packets than one batch reads: the rest follow, in order, without a kick. */
Test(net, rx_batch_is_bounded_and_continues)
{
	uint32_t len[50];
	struct drv d[3];

	dev = create_pairs(1);
	start(d, F_BASE);
	loop_sync(0);
	for (int i = 0; i < 60; i++)
		add_rx(&d[0], RX_AREA + i * 0x1000ULL, 1526);
	for (int i = 0; i < 50; i++)
		len[i] = 64 + i;
	send_packets(50, 100, len);
	kick(&d[0]);
	wait_used(&d[0], 50);
	for (unsigned int i = 0; i < 50; i++)
		check_rx(&d[0], i, i, 100 + i, len[i]);
	usleep(20000);
	cr_assert_geq(atomic_load(&tr_counts.irqs[0]), 2, "the bound gives the loop a turn");
	cr_assert_leq(atomic_load(&tr_counts.irqs[0]), 3, "an interrupt per batch, not per packet");
	cr_assert_eq(stats().rx_packets, 50);
}

/*
 * The batch stops when the guest's buffers run out: nothing more is read (the rest
 * waits in the TAP, no busy loop) until the guest posts buffers and kicks.
 */
Test(net, rx_batch_stops_without_buffers_and_resumes_on_kick)
{
	uint32_t len[6] = { 100, 200, 300, 400, 500, 600 };
	struct drv d[3];

	dev = create_pairs(1);
	start(d, F_BASE);
	loop_sync(0);
	for (int i = 0; i < 3; i++)
		add_rx(&d[0], RX_AREA + i * 0x1000ULL, 1526);
	send_packets(6, 1, len);
	kick(&d[0]);
	wait_used(&d[0], 3);
	usleep(50000);
	cr_assert_eq(drv_used_idx(&d[0]), 3);
	cr_assert_eq(stats().rx_reads, 3, "nothing read without buffers");
	/* SIOCINQ on a SOCK_SEQPACKET socket: all the bytes queued. */
	cr_assert_eq(queued_bytes(), 3 * NET_HDR_LEN + 400 + 500 + 600,
		     "the other packets wait in the TAP");
	for (unsigned int i = 0; i < 3; i++)
		check_rx(&d[0], i, i, 1 + i, len[i]);
	for (int i = 3; i < 6; i++)
		add_rx(&d[0], RX_AREA + i * 0x1000ULL, 1526);
	kick(&d[0]);
	wait_used(&d[0], 6);
	for (unsigned int i = 3; i < 6; i++)
		check_rx(&d[0], i, i, 1 + i, len[i]);
	cr_assert_eq(stats().rx_packets, 6);
	cr_assert_eq(stats().rx_dropped, 0);
}

/* Without MRG_RXBUF a packet too large for the buffer is dropped inside a batch. */
Test(net, rx_batch_drops_an_oversized_packet_and_goes_on)
{
	uint32_t len[3] = { 100, 2000, 200 };
	uint8_t *area = gp(RX_AREA);
	struct drv d[3];

	dev = create_pairs(1);
	start(d, F_BASE);
	loop_sync(0);
	memset(area, 0xaa, 0x3000);
	for (int i = 0; i < 3; i++)
		add_rx(&d[0], RX_AREA + i * 0x1000ULL, 1526);
	send_packets(3, 1, len);
	kick(&d[0]);
	wait_used(&d[0], 2);
	wait_stat(rx_dropped, 1);
	check_rx(&d[0], 0, 0, 1, 100);
	check_rx(&d[0], 1, 1, 3, 200);
	for (int i = 0x2000; i < 0x3000; i++)
		cr_assert_eq(area[i], 0xaa, "byte %#x of the unused buffer written", i);
	usleep(20000);
	cr_assert_eq(drv_used_idx(&d[0]), 2);
	cr_assert_eq(atomic_load(&tr_counts.irqs[0]), 1);
}

/*
 * With MRG_RXBUF: packets spanning several chains in one batch; a packet that needs more
 * chains than are posted waits with the chains held, and the packets behind it stay
 * in the TAP until the guest posts more and kicks. Order is kept throughout.
 */
Test(net, rx_batch_mergeable_waits_for_buffers_mid_batch)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	struct drv d[3];

	dev = create_pairs(1);
	start(d, F_MRG);
	loop_sync(0);
	for (int i = 0; i < 6; i++)
		add_rx(&d[0], RX_AREA + i * 0x1000ULL, 1526);
	peer_send(peer[0], &h, 1, 100);  /* chain 0 */
	peer_send(peer[0], &h, 2, 4000); /* chains 1..3 */
	peer_send(peer[0], &h, 3, 4000); /* needs 3, 2 posted: waits */
	peer_send(peer[0], &h, 4, 150);
	kick(&d[0]);
	wait_used(&d[0], 4);
	usleep(50000);
	cr_assert_eq(drv_used_idx(&d[0]), 4, "the third packet waits");
	cr_assert_eq(stats().rx_reads, 3, "the fourth is not read yet");
	cr_assert_eq(le16toh(guest_hdr(RX_AREA)->num_buffers), 1);
	cr_assert(is_pattern(gp(RX_AREA + NET_HDR_LEN), 1, 100));
	cr_assert_eq(le16toh(guest_hdr(RX_AREA + 0x1000)->num_buffers), 3);
	cr_assert(is_pattern(gp(RX_AREA + 0x1000 + NET_HDR_LEN), 2, 1526 - NET_HDR_LEN));
	for (int i = 6; i < 8; i++)
		add_rx(&d[0], RX_AREA + i * 0x1000ULL, 1526);
	kick(&d[0]);
	wait_used(&d[0], 8);
	for (unsigned int i = 4; i < 7; i++)
		cr_assert_eq(drv_used_elem(&d[0], i).id, i);
	cr_assert_eq(le16toh(guest_hdr(RX_AREA + 0x4000)->num_buffers), 3);
	cr_assert(is_pattern(gp(RX_AREA + 0x4000 + NET_HDR_LEN), 3, 1526 - NET_HDR_LEN));
	cr_assert_eq(drv_used_elem(&d[0], 7).id, 7);
	cr_assert_eq(drv_used_elem(&d[0], 7).len, NET_HDR_LEN + 150);
	cr_assert_eq(le16toh(guest_hdr(RX_AREA + 0x7000)->num_buffers), 1);
	cr_assert(is_pattern(gp(RX_AREA + 0x7000 + NET_HDR_LEN), 4, 150));
	cr_assert_eq(stats().rx_packets, 4);
	cr_assert_eq(stats().rx_dropped, 0);
}

/*
 * A reset while a batch stopped on a packet waiting for buffers: that packet is dropped,
 * the ones behind it stay in the TAP, nothing is written to guest memory after the
 * reset, and set up again the device delivers the rest in order.
 */
Test(net, rx_reset_in_the_middle_of_a_batch)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	uint8_t *area = gp(RX_AREA);
	struct drv d[3];

	dev = create_pairs(1);
	start(d, F_MRG);
	loop_sync(0);
	memset(area, 0xaa, 0x8000);
	for (int i = 0; i < 2; i++)
		add_rx(&d[0], RX_AREA + i * 0x1000ULL, 1526);
	peer_send(peer[0], &h, 1, 100);
	peer_send(peer[0], &h, 2, 4000); /* needs 3 chains, 1 left: waits */
	peer_send(peer[0], &h, 3, 200);
	peer_send(peer[0], &h, 4, 300);
	kick(&d[0]);
	wait_used(&d[0], 1);
	wait_stat(rx_reads, 2);
	dev->ops->reset(dev);
	cr_assert_eq(stats().rx_dropped, 1, "the waiting packet went with the reset");
	cr_assert_eq(drv_used_idx(&d[0]), 1);
	for (int i = 0x1000; i < 0x8000; i++)
		cr_assert_eq(area[i], 0xaa, "byte %#x written", i);
	/* The old ring is gone: buffers posted there, and a kick, move nothing. */
	add_rx(&d[0], RX_AREA + 0x2000, 1526);
	kick(&d[0]);
	usleep(50000);
	for (int i = 0x1000; i < 0x8000; i++)
		cr_assert_eq(area[i], 0xaa, "byte %#x written after the reset", i);
	cr_assert_eq(stats().rx_reads, 2);
	start(d, F_MRG);
	for (int i = 0; i < 2; i++)
		add_rx(&d[0], RX_AREA + 0x4000 + i * 0x1000ULL, 1526);
	kick(&d[0]);
	wait_used(&d[0], 2);
	cr_assert(is_pattern(gp(RX_AREA + 0x4000 + NET_HDR_LEN), 3, 200));
	cr_assert(is_pattern(gp(RX_AREA + 0x5000 + NET_HDR_LEN), 4, 300));
	cr_assert_eq(stats().rx_packets, 3);
}

/* A malformed ring asks for a reset, once. */
Test(net, broken_ring_asks_for_reset)
{
	struct drv d[3];

	dev = create_pairs(1);
	start(d, F_BASE);
	d[1].avail->ring[0] = htole16(QSIZE + 3); /* head out of range */
	d[1].avail->idx = htole16(1);
	kick(&d[1]);
	for (int i = 0; i < 2000 && atomic_load(&tr_counts.needs_resets) == 0; i++)
		usleep(1000);
	kick(&d[1]);
	usleep(20000);
	cr_assert_eq(atomic_load(&tr_counts.needs_resets), 1);
}

/* ==== device: control queue ==== */

/* One command: class, cmd, data; returns the ack (0xee if none was written). */
static uint8_t ctrl(struct drv *c, uint8_t class, uint8_t cmd, const void *data, uint32_t len)
{
	uint8_t *ack = gp(CTRL_AREA + 0x1000);
	uint16_t before = drv_used_idx(c);
	struct seg s[3];
	unsigned int n = 0;

	((uint8_t *)gp(CTRL_AREA))[0] = class;
	((uint8_t *)gp(CTRL_AREA))[1] = cmd;
	if (len)
		memcpy(gp(CTRL_AREA + 16), data, len);
	*ack = 0xee;
	s[n++] = (struct seg){ CTRL_AREA, 2, false };
	if (len)
		s[n++] = (struct seg){ CTRL_AREA + 16, len, false };
	s[n++] = (struct seg){ CTRL_AREA + 0x1000, 1, true };
	drv_add_chain(c, s, n);
	kick(c);
	wait_used(c, before + 1);
	cr_assert_eq(drv_used_elem(c, before).len, 1);
	return *(volatile uint8_t *)ack;
}

static uint8_t mq_set(struct drv *c, uint16_t pairs)
{
	uint16_t v = htole16(pairs);

	return ctrl(c, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &v, 2);
}

Test(net, ctrl_mq_pairs_set)
{
	uint8_t three[3] = { 2, 0, 0 };
	struct drv d[9];
	struct drv *c = &d[8];

	dev = create_pairs(4);
	start(d, F_BASE | F(VIRTIO_NET_F_MQ));
	cr_assert_eq(mq_set(c, 2), VIRTIO_NET_OK);
	cr_assert_eq(mq_set(c, 4), VIRTIO_NET_OK);
	cr_assert_eq(mq_set(c, 1), VIRTIO_NET_OK);
	cr_assert_eq(mq_set(c, 0), VIRTIO_NET_ERR, "below 1");
	cr_assert_eq(mq_set(c, 5), VIRTIO_NET_ERR, "above max_virtqueue_pairs");
	cr_assert_eq(mq_set(c, 0x8000), VIRTIO_NET_ERR);
	cr_assert_eq(ctrl(c, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, three, 1),
		     VIRTIO_NET_ERR, "short");
	cr_assert_eq(ctrl(c, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, three, 3),
		     VIRTIO_NET_ERR, "long");
	cr_assert_eq(ctrl(c, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, three, 3),
		     VIRTIO_NET_ERR, "RSS is not offered");
	cr_assert_eq(stats().ctrl_ok, 3);
	cr_assert_eq(stats().ctrl_err, 6);
}

Test(net, ctrl_mq_needs_the_feature)
{
	struct drv d[9];

	dev = create_pairs(4);
	start(d, F_BASE);
	cr_assert_eq(mq_set(&d[8], 2), VIRTIO_NET_ERR);
}

Test(net, ctrl_rx_mode_mac_table_and_unknown)
{
	static const uint8_t on = 1;
	uint8_t table[64], *p = table;
	uint32_t v;
	struct drv d[3];
	struct drv *c = &d[2];

	dev = create_pairs(1);
	start(d, F_BASE);
	cr_assert_eq(ctrl(c, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &on, 1),
		     VIRTIO_NET_OK);
	cr_assert_eq(ctrl(c, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, &on, 1),
		     VIRTIO_NET_OK);
	cr_assert_eq(ctrl(c, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, NULL, 0),
		     VIRTIO_NET_ERR, "no on/off byte");
	cr_assert_eq(ctrl(c, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST, &on, 1),
		     VIRTIO_NET_ERR, "CTRL_RX_EXTRA is not offered");

	/* unicast table with 1 entry, multicast table with 2 */
	v = htole32(1);
	memcpy(p, &v, 4), p += 4;
	memcpy(p, test_mac, 6), p += 6;
	v = htole32(2);
	memcpy(p, &v, 4), p += 4;
	memset(p, 0x33, 12), p += 12;
	cr_assert_eq(ctrl(c, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table,
			  p - table), VIRTIO_NET_OK);
	cr_assert_eq(ctrl(c, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table,
			  p - table + 1), VIRTIO_NET_ERR, "trailing byte");
	cr_assert_eq(ctrl(c, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table,
			  p - table - 6), VIRTIO_NET_ERR, "second table short");
	cr_assert_eq(ctrl(c, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table, 6),
		     VIRTIO_NET_ERR, "first table short");
	v = htole32(0xffffffff);
	memcpy(table, &v, 4);
	cr_assert_eq(ctrl(c, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table, 26),
		     VIRTIO_NET_ERR, "entry count past the data");
	cr_assert_eq(ctrl(c, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, test_mac, 6),
		     VIRTIO_NET_ERR, "CTRL_MAC_ADDR is not offered");
	cr_assert_eq(ctrl(c, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, table, 2),
		     VIRTIO_NET_ERR);
	cr_assert_eq(ctrl(c, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0),
		     VIRTIO_NET_ERR);
	cr_assert_eq(ctrl(c, VIRTIO_NET_CTRL_GUEST_OFFLOADS,
			  VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, table, 8), VIRTIO_NET_ERR);
	cr_assert_eq(ctrl(c, 200, 7, NULL, 0), VIRTIO_NET_ERR, "unknown class");
}

Test(net, ctrl_malformed_requests)
{
	struct drv d[3];
	struct drv *c = &d[2];
	uint8_t *ack = gp(CTRL_AREA + 0x1000);
	struct seg s[2];

	dev = create_pairs(1);
	start(d, F_BASE);
	/* one byte: no command */
	((uint8_t *)gp(CTRL_AREA))[0] = VIRTIO_NET_CTRL_RX;
	*ack = 0xee;
	s[0] = (struct seg){ CTRL_AREA, 1, false };
	s[1] = (struct seg){ CTRL_AREA + 0x1000, 1, true };
	drv_add_chain(c, s, 2);
	kick(c);
	wait_used(c, 1);
	cr_assert_eq(*ack, VIRTIO_NET_ERR);
	cr_assert_eq(drv_used_elem(c, 0).len, 1);
	/* no ack byte: returned unanswered */
	s[0] = (struct seg){ CTRL_AREA, 2, false };
	drv_add_chain(c, s, 1);
	kick(c);
	wait_used(c, 2);
	cr_assert_eq(drv_used_elem(c, 1).len, 0);
	/* ack in a larger writable buffer: the last byte */
	memset(gp(CTRL_AREA + 0x1000), 0xee, 16);
	((uint8_t *)gp(CTRL_AREA))[0] = 77;
	s[1] = (struct seg){ CTRL_AREA + 0x1000, 16, true };
	drv_add_chain(c, s, 2);
	kick(c);
	wait_used(c, 3);
	cr_assert_eq(ack[15], VIRTIO_NET_ERR);
	cr_assert_eq(ack[0], 0xee);
	cr_assert_eq(atomic_load(&tr_counts.needs_resets), 0);
}

/* Only pair 0 receives until VQ_PAIRS_SET; then a disabled pair's packets are dropped. */
Test(net, mq_pairs_gate_receive)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	struct drv d[5];

	dev = create_pairs(2);
	start(d, F_BASE | F(VIRTIO_NET_F_MQ));
	add_rx(&d[0], RX_AREA, 1526);
	add_rx(&d[2], RX_AREA + 0x1000, 1526);
	add_rx(&d[2], RX_AREA + 0x2000, 1526);
	kick(&d[0]);
	kick(&d[2]);
	peer_send(peer[1], &h, 1, 64);
	wait_stat(rx_reads, 1);
	usleep(30000);
	cr_assert_eq(stats().rx_reads, 1, "rx1 is not read before VQ_PAIRS_SET");
	cr_assert_eq(drv_used_idx(&d[2]), 0);
	cr_assert_eq(mq_set(&d[4], 2), VIRTIO_NET_OK);
	wait_used(&d[2], 1);
	cr_assert(is_pattern(gp(RX_AREA + 0x1000 + NET_HDR_LEN), 1, 64));
	/* Back to one pair: what rx1 still reads is dropped, not delivered. */
	cr_assert_eq(mq_set(&d[4], 1), VIRTIO_NET_OK);
	peer_send(peer[1], &h, 2, 64);
	wait_stat(rx_dropped, 1);
	cr_assert_eq(drv_used_idx(&d[2]), 1);
	/* rx0 and transmit on either pair are unaffected. */
	peer_send(peer[0], &h, 3, 64);
	wait_used(&d[0], 1);
}

/* ==== reset ==== */

/* Eight writes of one kick on tx0, prepared but held back with the loop. */
static void hold_tx_writes(struct drv *d, struct blocker *bl)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);

	/* activate's start call for tx0 must not find (and send) these writes first */
	loop_sync(1);
	for (int i = 0; i < 8; i++)
		add_tx(&d[1], TX_AREA + i * 0x1000ULL, &h, i, 1000);
	blocker_hold(bl, virtio_queue_loop(dev, 1), dev, 1);
	loop_held = &bl->release;
	cr_assert_eq(drv_used_idx(&d[1]), 0, "all writes are in flight");
}

/*
 * Writes of a kick prepared but held back with the loop, a read waiting on the socket:
 * the reset waits for all of them and pushes none.
 */
static void reset_with_io_in_flight(struct drv *d, struct resetter *r)
{
	static struct blocker bl; /* outlives a failed assertion, for teardown */
	pthread_t t;

	add_rx(&d[0], RX_AREA, 1526);
	kick(&d[0]);
	wait_stat(rx_reads, 1);
	hold_tx_writes(d, &bl);

	r->dev = dev;
	pthread_create(&t, NULL, resetter_run, r);
	usleep(100000);
	cr_assert_not(atomic_load(&r->done), "reset returned with I/O in flight");
	loop_held = NULL;
	sem_post(&bl.release);
	pthread_join(t, NULL);
	cr_assert(atomic_load(&r->done));
	cr_assert_eq(drv_used_idx(&d[1]), 0, "nothing pushed by or after reset");
	cr_assert_eq(atomic_load(&tr_counts.irqs[1]), 0);
	sem_destroy(&bl.entered);
	sem_destroy(&bl.release);
}

/*
 * A device reset with I/O in flight, on the device's loop or (queue_loops) on a loop per
 * queue: a packet from the TAP is not read into guest memory after it, and set up again
 * the device works both ways. The packet it then sent is left in got (2048 bytes).
 */
static void reset_with_io_then_restart(bool queue_loops, uint8_t *got)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	struct resetter r = { .q = -1 };
	struct drv d[3];

	dev = create_pairs(1);
	if (queue_loops)
		start_queue_loops();
	start(d, F_BASE);
	memset(gp(RX_AREA), 0xaa, 2048);
	reset_with_io_in_flight(d, &r);
	/* After reset, a packet from the TAP is not read into guest memory. */
	peer_send(peer[0], &h, 1, 64);
	kick(&d[0]);
	kick(&d[1]);
	usleep(50000);
	cr_assert_eq(drv_used_idx(&d[0]), 0);
	cr_assert_eq(*(uint8_t *)gp(RX_AREA), 0xaa, "guest memory untouched after reset");
	/* Drain what the held writes sent, and the packet above is still for the next run. */
	while (peer_recv(peer[0], got, 2048, 10) > 0)
		;
	/* The driver sets the device up again: it works both ways. */
	start(d, F_BASE);
	add_rx(&d[0], RX_AREA, 1526);
	kick(&d[0]);
	wait_used(&d[0], 1);
	cr_assert(is_pattern(gp(RX_AREA + NET_HDR_LEN), 1, 64));
	add_tx(&d[1], TX_AREA, &h, 9, 70);
	kick(&d[1]);
	wait_used(&d[1], 1);
	cr_assert_eq(peer_recv(peer[0], got, 2048, 1000), NET_HDR_LEN + 70);
}

Test(net, reset_waits_for_io_and_touches_nothing_after)
{
	uint8_t got[2048];

	reset_with_io_then_restart(false, got);
	cr_assert(is_pattern(got + NET_HDR_LEN, 9, 70));
}

Test(net, queue_reset_leaves_other_queues_running)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	struct resetter r = { .q = 1 };
	uint8_t got[2048];
	struct drv d[3];

	dev = create_pairs(1);
	start(d, F_BASE);
	reset_with_io_in_flight(d, &r);
	while (peer_recv(peer[0], got, sizeof(got), 10) > 0)
		;
	/* rx0 still runs: its read was never stopped */
	peer_send(peer[0], &h, 4, 64);
	wait_used(&d[0], 1);
	cr_assert(is_pattern(gp(RX_AREA + NET_HDR_LEN), 4, 64));
	/* tx0 runs again once re-enabled and activated */
	queue_setup(&d[1], 1, QSIZE, false);
	cr_assert_eq(dev->ops->activate(dev), 0);
	add_tx(&d[1], TX_AREA, &h, 5, 80);
	kick(&d[1]);
	wait_used(&d[1], 1);
	cr_assert_eq(peer_recv(peer[0], got, sizeof(got), 1000), NET_HDR_LEN + 80);
}

Test(net, reset_drops_a_waiting_packet_and_idle_resets_return)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	struct drv d[3];

	dev = create_pairs(1);
	dev->ops->reset(dev); /* never activated */
	start(d, F_MRG);
	add_rx(&d[0], RX_AREA, 1526);
	kick(&d[0]);
	peer_send(peer[0], &h, 1, 4000); /* waits for two more buffers */
	wait_stat(rx_reads, 1);
	usleep(20000);
	dev->ops->reset(dev);
	cr_assert_eq(stats().rx_dropped, 1, "the waiting packet went with the reset");
	dev->ops->reset(dev);
	start(d, F_MRG);
	add_rx(&d[0], RX_AREA, 1526);
	kick(&d[0]);
	peer_send(peer[0], &h, 2, 100);
	wait_used(&d[0], 1);
	cr_assert(is_pattern(gp(RX_AREA + NET_HDR_LEN), 2, 100));
}

/* ==== per-queue loops (--io-loops per-queue) ==== */

/*
 * Every queue on its own loop and thread: both directions of both pairs work, each
 * interrupt comes from its queue's loop, and VQ_PAIRS_SET, handled on the control
 * queue's loop, resumes rx1 through rx1's own loop.
 */
Test(net, per_queue_loops_traffic_and_mq_pairs_set)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	uint8_t got[2048];
	struct drv d[5];

	dev = create_pairs(2);
	start_queue_loops();
	start(d, F_BASE | F(VIRTIO_NET_F_MQ));
	add_rx(&d[0], RX_AREA, 1526);
	add_rx(&d[2], RX_AREA + 0x1000, 1526);
	kick(&d[0]);
	kick(&d[2]);
	peer_send(peer[0], &h, 1, 64);
	peer_send(peer[1], &h, 2, 64);
	wait_used(&d[0], 1);
	cr_assert(is_pattern(gp(RX_AREA + NET_HDR_LEN), 1, 64));
	usleep(30000);
	cr_assert_eq(drv_used_idx(&d[2]), 0, "rx1 is not read before VQ_PAIRS_SET");
	cr_assert_eq(mq_set(&d[4], 2), VIRTIO_NET_OK);
	wait_used(&d[2], 1);
	cr_assert(is_pattern(gp(RX_AREA + 0x1000 + NET_HDR_LEN), 2, 64));
	for (unsigned int pair = 0; pair < 2; pair++) {
		add_tx(&d[2 * pair + 1], TX_AREA + pair * 0x1000ULL, &h, 10 + pair, 90 + pair);
		kick(&d[2 * pair + 1]);
		wait_used(&d[2 * pair + 1], 1);
		cr_assert_eq(peer_recv(peer[pair], got, sizeof(got), 1000),
			     NET_HDR_LEN + 90 + pair);
		cr_assert(is_pattern(got + NET_HDR_LEN, 10 + pair, 90 + pair));
	}
	for (unsigned int q = 0; q < 5; q++)
		cr_assert_geq(atomic_load(&tr_counts.irqs[q]), 1, "queue %u signalled", q);
	cr_assert_eq(atomic_load(&tr_counts.foreign_irqs), 0,
		     "every interrupt from its queue's loop");
}

/*
 * rx0's read in flight on its loop, tx0's writes held back with tx0's loop: a device
 * reset cancels on both loops and returns only once both reaped everything.
 */
Test(net, per_queue_reset_waits_for_every_queue_loop)
{
	uint8_t got[2048];

	reset_with_io_then_restart(true, got);
	cr_assert_eq(atomic_load(&tr_counts.foreign_irqs), 0);
}

/* ==== TAP devices ==== */

static void need_tun(void)
{
	if (access("/dev/net/tun", R_OK | W_OK))
		cr_skip_test("no /dev/net/tun");
}

/* Create a TAP (or TUN) named after this test process; teardown deletes it. */
static const char *make_tap(int slot, const char *mode)
{
	char cmd[128];

	need_tun();
	snprintf(taps[slot], IFNAMSIZ, "vqt%d%c", getpid() % 1000000, 'a' + slot);
	snprintf(cmd, sizeof(cmd), "ip tuntap add dev %s mode %s >/dev/null 2>&1", taps[slot],
		 mode);
	if (system(cmd)) {
		taps[slot][0] = 0;
		cr_skip_test("cannot create a TAP with ip(8)");
	}
	return taps[slot];
}

static void open_fails(const char *name, unsigned int queues, const char *want)
{
	struct err e = { { 0 } };
	int fds[4] = { -1, -1, -1, -1 };

	cr_assert_eq(tap_open(name, queues, fds, &e), -1);
	cr_assert(strstr(e.msg, want), "'%s' lacks '%s'", e.msg, want);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(fds[i], -1);
}

Test(tap, missing_tap_is_not_created)
{
	char name[IFNAMSIZ], want[160];

	snprintf(name, sizeof(name), "vqnx%d", getpid() % 1000000);
	snprintf(want, sizeof(want),
		 "tap '%s' does not exist; create it with: ip tuntap add dev %s mode tap", name,
		 name);
	open_fails(name, 1, want);
	strcat(want, " multi_queue");
	open_fails(name, 2, want);
	cr_assert_eq(if_nametoindex(name), 0, "tap_open must not create it");
}

Test(tap, bad_names_and_queue_counts)
{
	open_fails("", 1, "no tap name");
	open_fails("a/b", 1, "not a valid interface name");
	open_fails("tap%d", 1, "not a valid interface name");
	open_fails("0123456789abcdef", 1, "longer than 15");
	open_fails("lo", 0, "must be 1..256");
	open_fails("lo", 1, "'lo' is not a TUN/TAP device");
}

Test(tap, tun_device_is_not_a_tap)
{
	const char *name = make_tap(0, "tun");

	open_fails(name, 1, "is a TUN device");
}

Test(tap, busy_and_multiqueue_mismatch)
{
	const char *name = make_tap(0, "tap");
	struct err e = { { 0 } };
	int fd;

	cr_assert_eq(tap_open(name, 1, &fd, &e), 0, "%s", e.msg);
	open_fails(name, 1, "is in use by another process");
	close(fd);
	open_fails(name, 2, "was created without multi_queue");
}

Test(tap, multiqueue_tap)
{
	const char *name = make_tap(0, "tap multi_queue");
	struct err e = { { 0 } };
	int fds[3];

	cr_assert_eq(tap_open(name, 3, fds, &e), 0, "%s", e.msg);
	for (int i = 0; i < 3; i++)
		cr_assert(tap_is_tap(fds[i]));
	cr_assert_eq(tap_set_queue_enabled(fds[2], false), 0);
	cr_assert_eq(tap_set_queue_enabled(fds[2], true), 0);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	/* One pair on a multi-queue TAP works too. */
	cr_assert_eq(tap_open(name, 1, fds, &e), 0, "%s", e.msg);
	close(fds[0]);
}

Test(tap, opened_fd_is_set_up_for_virtio_net)
{
	const char *name = make_tap(0, "tap");
	struct err e = { { 0 } };
	struct ifreq ifr;
	int fd, sz = 0;

	cr_assert_eq(tap_open(name, 1, &fd, &e), 0, "%s", e.msg);
	memset(&ifr, 0, sizeof(ifr));
	cr_assert_eq(ioctl(fd, TUNGETIFF, &ifr), 0);
	cr_assert_eq(ifr.ifr_flags & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN),
		     IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
	cr_assert_eq(ioctl(fd, TUNGETVNETHDRSZ, &sz), 0);
	cr_assert_eq(sz, 12);
	cr_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	cr_assert(tap_is_tap(fd));
	cr_assert_eq(tap_set_offload(fd, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN),
		     0);
	cr_assert_eq(tap_set_offload(fd, 0x4000000), -EINVAL);
	cr_assert_eq(tap_set_queue_enabled(fd, false), -EINVAL, "not a multi-queue TAP");
	close(fd);
	cr_assert_not(tap_is_tap(0));
}

/* Without CAP_NET_ADMIN, a TAP owned by someone else refuses the attach. */
Test(tap, permission_denied)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct c[2];
	char cmd[128];
	const char *name = make_tap(0, "tap");

	snprintf(cmd, sizeof(cmd), "ip link del %s && ip tuntap add dev %s mode tap user 4242",
		 name, name);
	if (system(cmd))
		cr_skip_test("cannot create a TAP owned by another user");
	if (syscall(SYS_capget, &h, c))
		cr_skip_test("capget: %s", strerror(errno));
	c[CAP_NET_ADMIN / 32].effective &= ~(1U << (CAP_NET_ADMIN % 32));
	if (syscall(SYS_capset, &h, c))
		cr_skip_test("capset: %s", strerror(errno));
	open_fails(name, 1, "no permission to attach to tap");
	/* Back, so that teardown can delete it (it runs in this process). */
	c[CAP_NET_ADMIN / 32].effective |= 1U << (CAP_NET_ADMIN % 32);
	syscall(SYS_capset, &h, c);
}

static uint32_t ethtool_get(const char *name, uint32_t cmd)
{
	struct ethtool_value v = { .cmd = cmd };
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, name);
	ifr.ifr_data = (void *)&v;
	cr_assert_eq(ioctl(s, SIOCETHTOOL, &ifr), 0, "SIOCETHTOOL: %s", strerror(errno));
	close(s);
	return v.data;
}

/* A packet socket on the host side of the TAP. */
static int host_socket(const char *name)
{
	int s = host_packet_socket(name);

	if (s < 0)
		cr_skip_test("no packet socket on %s: %s", name, strerror(-s));
	return s;
}

/* An Ethernet frame of len bytes with a local experimental ethertype and a marker. */
static void make_frame(uint8_t *f, uint32_t len, const uint8_t dst[6], uint8_t marker)
{
	static const uint8_t src[6] = { 0x02, 0, 0, 0, 0, 0x99 };

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	for (uint32_t i = 14; i < len; i++)
		f[i] = (uint8_t)(marker + i);
}

Test(tap, end_to_end_through_a_real_tap)
{
	struct net_dev_config cfg = { .queues = 1 };
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	struct err e = { { 0 } };
	uint8_t frame[200], got[2048];
	struct drv d[3];
	char cmd[128];
	bool seen = false;
	int s;

	cfg.tap = make_tap(0, "tap");
	memcpy(cfg.mac, test_mac, 6);
	snprintf(cmd, sizeof(cmd),
		 "sysctl -qw net.ipv6.conf.%s.disable_ipv6=1 >/dev/null 2>&1; ip link set %s up",
		 cfg.tap, cfg.tap);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(net_create(&dev, &cfg, &mem, &loop, &e), 0, "%s", e.msg);
	dev->transport = &counting_transport;
	cr_assert_eq(ethtool_get(cfg.tap, ETHTOOL_GTSO), 0, "no offloads before activation");

	/* The guest takes checksum offload and TSO: the TAP may hand it such packets. */
	start(d, F_MRG | F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4));
	cr_assert_neq(ethtool_get(cfg.tap, ETHTOOL_GTSO), 0, "TUNSETOFFLOAD at activation");
	cr_assert_neq(ethtool_get(cfg.tap, ETHTOOL_GTXCSUM), 0);
	s = host_socket(cfg.tap);

	/* guest -> host */
	make_frame(frame, sizeof(frame), (const uint8_t[6]){ 0x02, 0, 0, 0, 0, 0x77 }, 1);
	memcpy(gp(TX_AREA), &h, NET_HDR_LEN);
	memcpy(gp(TX_AREA + 64), frame, sizeof(frame));
	drv_add_chain(&d[1], (struct seg[]){ { TX_AREA, NET_HDR_LEN, false },
					 { TX_AREA + 64, sizeof(frame), false } }, 2);
	kick(&d[1]);
	wait_used(&d[1], 1);
	for (int i = 0; i < 100 && !seen; i++) { /* 10 s: a loaded CI machine is slow */
		ssize_t n = peer_recv(s, got, sizeof(got), 100);

		seen = n == (ssize_t)sizeof(frame) && !memcmp(got, frame, sizeof(frame));
	}
	cr_assert(seen, "the guest's frame reached the host side of the TAP");
	cr_assert_eq(stats().tx_packets, 1);

	/* host -> guest (the host may send its own packets too: look for ours) */
	for (int i = 0; i < 8; i++)
		add_rx(&d[0], RX_AREA + i * 0x1000ULL, 2048);
	kick(&d[0]);
	make_frame(frame, sizeof(frame), test_mac, 2);
	cr_assert_eq(send(s, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	seen = false;
	for (int i = 0; i < 1000 && !seen; i++) { /* 10 s: a loaded CI machine is slow */
		for (uint16_t u = 0; u < drv_used_idx(&d[0]) && !seen; u++) {
			struct vring_used_elem el = drv_used_elem(&d[0], u);
			uint8_t *buf = gp(RX_AREA + el.id * 0x1000ULL);

			seen = el.len == NET_HDR_LEN + sizeof(frame) &&
			       !memcmp(buf + NET_HDR_LEN, frame, sizeof(frame)) &&
			       le16toh(((struct virtio_net_hdr_mrg_rxbuf *)buf)->num_buffers) == 1;
		}
		usleep(10000);
	}
	cr_assert(seen, "the host's frame reached the guest");
	close(s);

	/* Reset, and a guest without receive offloads: the TAP stops offering them. */
	dev->ops->reset(dev);
	start(d, F_MRG);
	cr_assert_eq(ethtool_get(cfg.tap, ETHTOOL_GTSO), 0);
}

/* TUNGETIFF reports a detached queue with IFF_DETACH_QUEUE. */
static bool attached(int fd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	cr_assert_eq(ioctl(fd, TUNGETIFF, &ifr), 0, "TUNGETIFF: %s", strerror(errno));
	return !(ifr.ifr_flags & IFF_DETACH_QUEUE);
}

/* Of a multi-queue TAP, only the pairs the driver enabled stay attached. */
Test(tap, multiqueue_attachment_follows_vq_pairs_set)
{
	struct net_dev_config cfg = { .queues = 3 };
	struct err e = { { 0 } };
	struct drv d[7];
	int fds[3];

	cfg.tap = make_tap(0, "tap multi_queue");
	cr_assert_eq(tap_open(cfg.tap, 3, fds, &e), 0, "%s", e.msg);
	cr_assert_eq(net_create_fds(&dev, &cfg, fds, &mem, &loop, &e), 0, "%s", e.msg);
	dev->transport = &counting_transport;
	for (int i = 0; i < 3; i++)
		cr_assert(attached(fds[i]), "all attached after open");
	start(d, F_BASE | F(VIRTIO_NET_F_MQ));
	cr_assert(attached(fds[0]));
	cr_assert_not(attached(fds[1]), "detached until VQ_PAIRS_SET");
	cr_assert_not(attached(fds[2]));
	cr_assert_eq(mq_set(&d[6], 3), VIRTIO_NET_OK);
	for (int i = 0; i < 3; i++)
		cr_assert(attached(fds[i]), "queue %d attached", i);
	cr_assert_eq(mq_set(&d[6], 2), VIRTIO_NET_OK);
	cr_assert(attached(fds[1]));
	cr_assert_not(attached(fds[2]));
	/* A guest sending on a disabled pair gets its chain back; the TAP refused it. */
	add_tx(&d[5], TX_AREA, &(struct virtio_net_hdr_mrg_rxbuf){ 0 }, 1, 60);
	kick(&d[5]);
	wait_used(&d[5], 1);
	cr_assert_eq(stats().tx_errors, 1);
	cr_assert_eq(mq_set(&d[6], 3), VIRTIO_NET_OK);
	dev->ops->reset(dev);
	cr_assert(attached(fds[0]));
	cr_assert_not(attached(fds[1]), "reset goes back to one pair");
	cr_assert_not(attached(fds[2]));
}

/* ==== queue_stop (a managed device's VQ_ENABLE SET 0) ==== */

/* Until queue q's loop ran what was queued on it so far (activate's first look). */
static void loop_sync(unsigned int q)
{
	vqd_loop_sync(virtio_queue_loop(dev, q));
}

/* What the transport does to resume a stopped queue: map its ring again, activate. */
static void resume(unsigned int q)
{
	cr_assert_eq(vq_activate(&dev->vqs[q], &mem, false, false), 0);
	cr_assert_eq(dev->ops->activate(dev), 0);
}

/*
 * TX writes in flight when the queue is stopped complete normally: all of them are
 * sent, pushed and signalled before queue_stop returns; what is made available
 * meanwhile waits for the resume.
 */
Test(net, queue_stop_tx_completes_writes_in_flight_and_keeps_the_place)
{
	static struct blocker bl; /* outlives a failed assertion, for teardown */
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	struct stopper s = { .q = 1 };
	uint8_t got[2048];
	struct drv d[3];
	pthread_t t;

	dev = create_pairs(1);
	start(d, F_BASE);
	loop_sync(1);
	hold_tx_writes(d, &bl);

	s.dev = dev;
	pthread_create(&t, NULL, stopper_run, &s);
	usleep(100000);
	cr_assert_not(atomic_load(&s.done), "queue_stop returned with writes in flight");
	add_tx(&d[1], TX_AREA + 8 * 0x1000ULL, &h, 8, 1000);
	kick(&d[1]);
	loop_held = NULL;
	sem_post(&bl.release);
	pthread_join(t, NULL);
	cr_assert_eq(drv_used_idx(&d[1]), 8, "every write pushed before queue_stop returned");
	cr_assert_geq(atomic_load(&tr_counts.irqs[1]), 1, "and signalled");
	cr_assert_eq(dev->vqs[1].last_avail_idx, 8);
	cr_assert_eq(dev->vqs[1].used_idx, 8);
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(peer_recv(peer[0], got, sizeof(got), 1000), NET_HDR_LEN + 1000);
		cr_assert(is_pattern(got + NET_HDR_LEN, i, 1000), "packet %d", i);
	}
	kick(&d[1]);
	usleep(50000);
	cr_assert_eq(peer_recv(peer[0], got, sizeof(got), 0), -1, "a stopped queue sends nothing");
	resume(1);
	wait_used(&d[1], 9);
	cr_assert_eq(peer_recv(peer[0], got, sizeof(got), 1000), NET_HDR_LEN + 1000);
	cr_assert(is_pattern(got + NET_HDR_LEN, 8, 1000));
	sem_destroy(&bl.entered);
	sem_destroy(&bl.release);
}

/* RX waiting for a packet: the read is cancelled, the posted buffers stay the driver's. */
Test(net, queue_stop_rx_cancels_the_read)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	struct drv d[3];

	dev = create_pairs(1);
	start(d, F_BASE);
	memset(gp(RX_AREA), 0xaa, 2048);
	add_rx(&d[0], RX_AREA, 1526);
	add_rx(&d[0], RX_AREA + 0x1000, 1526);
	kick(&d[0]);
	wait_stat(rx_reads, 1);
	dev->ops->queue_stop(dev, 0);
	cr_assert_eq(drv_used_idx(&d[0]), 0);
	cr_assert_eq(dev->vqs[0].last_avail_idx, 0, "no buffer taken");
	peer_send(peer[0], &h, 3, 200);
	kick(&d[0]);
	usleep(50000);
	cr_assert_eq(stats().rx_reads, 1, "nothing read after the stop");
	cr_assert_eq(*(uint8_t *)gp(RX_AREA), 0xaa, "guest memory untouched");
	resume(0);
	wait_used(&d[0], 1);
	cr_assert_eq(drv_used_elem(&d[0], 0).len, NET_HDR_LEN + 200);
	cr_assert(is_pattern(gp(RX_AREA + NET_HDR_LEN), 3, 200));
}

/*
 * A packet waiting for more buffers, with one chain held for it: the stop moves the
 * available index back over that chain; the packet survives and lands after the resume
 * in the same chain plus the ones posted meanwhile.
 */
Test(net, queue_stop_rx_gives_held_buffers_back_by_the_avail_index)
{
	struct drv d[3];

	rx_packet_waiting(d, 8);
	for (int i = 0; i < 500 && __atomic_load_n(&dev->vqs[0].last_avail_idx,
						     __ATOMIC_RELAXED) < 1; i++)
		usleep(1000);
	cr_assert_eq(dev->vqs[0].last_avail_idx, 1, "the chain is held for the packet");
	dev->ops->queue_stop(dev, 0);
	cr_assert_eq(dev->vqs[0].last_avail_idx, 0, "given back: taken again after the resume");
	cr_assert_eq(drv_used_idx(&d[0]), 0);
	cr_assert_eq(stats().rx_dropped, 0, "the packet is kept");
	add_rx(&d[0], RX_AREA + 0x1000, 1526);
	add_rx(&d[0], RX_AREA + 0x2000, 1526);
	resume(0);
	wait_used(&d[0], 3);
	cr_assert_eq(drv_used_elem(&d[0], 0).id, 0, "the given-back chain first");
	cr_assert_eq(le16toh(guest_hdr(RX_AREA)->num_buffers), 3);
	cr_assert(is_pattern(gp(RX_AREA + NET_HDR_LEN), 8, 1526 - NET_HDR_LEN));
	cr_assert_eq(stats().rx_packets, 1);
}

/*
 * The chain held for the packet is not the last one taken (an unusable chain after it
 * was already returned): moving the index back would hand that one out twice, so the
 * held chain is returned unused instead.
 */
Test(net, queue_stop_rx_returns_held_buffers_that_are_not_the_last_taken)
{
	struct virtio_net_hdr_mrg_rxbuf h = hdr(0, 0, 0, 0, 0, 0);
	struct seg bad = { RX_AREA + 0x1000, 1526, false };
	struct drv d[3];

	dev = create_pairs(1);
	start(d, F_MRG);
	add_rx(&d[0], RX_AREA, 1526);
	drv_add_chain(&d[0], &bad, 1); /* device-readable: unusable, returned at once */
	kick(&d[0]);
	peer_send(peer[0], &h, 9, 4000);
	wait_used(&d[0], 1);
	cr_assert_eq(drv_used_elem(&d[0], 0).id, 1, "the unusable chain went back");
	dev->ops->queue_stop(dev, 0);
	cr_assert_eq(drv_used_idx(&d[0]), 2, "the held chain returned too");
	cr_assert_eq(drv_used_elem(&d[0], 1).id, 0);
	cr_assert_eq(drv_used_elem(&d[0], 1).len, 0, "unused");
	cr_assert_eq(dev->vqs[0].last_avail_idx, 2);
	cr_assert_eq(dev->vqs[0].used_idx, 2);
	cr_assert_geq(atomic_load(&tr_counts.irqs[0]), 1);
	for (int i = 0; i < 3; i++)
		add_rx(&d[0], RX_AREA + 0x2000 + i * 0x1000ULL, 1526);
	resume(0);
	wait_used(&d[0], 5);
	cr_assert_eq(le16toh(guest_hdr(RX_AREA + 0x2000)->num_buffers), 3);
	cr_assert_eq(stats().rx_packets, 1);
}

/* ---- counters (metrics) ---- */

/* The TX latency histogram has a sample per write to the TAP, none for a dropped packet. */
Test(net, tx_latency_histogram)
{
	struct virtio_net_hdr_mrg_rxbuf good = hdr(0, 0, 0, 0, 0, 0);
	struct net_stats s;
	struct drv d[3];
	uint64_t n = 0;

	dev = create_pairs(1);
	start(d, F_BASE);
	cr_assert_eq(stats().tx_latency.sum_us, 0);
	add_tx(&d[1], TX_AREA, &good, 1, 60);
	add_tx(&d[1], TX_AREA + 0x1000, &good, 2, 13); /* a runt: dropped */
	add_tx(&d[1], TX_AREA + 0x2000, &good, 3, 61);
	kick(&d[1]);
	wait_used(&d[1], 3);
	s = stats();
	for (unsigned int i = 0; i < STATS_HIST_BUCKETS; i++)
		n += s.tx_latency.bucket[i];
	cr_assert_eq(s.tx_packets, 2);
	cr_assert_eq(s.tx_dropped, 1);
	cr_assert_eq(n, 2);
}
