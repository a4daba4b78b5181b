// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net on a TAP through io_uring. The guest-visible contract and the threading
 * are in net.h; this file adds the decisions the spec leaves to the device:
 *
 * - TX headers are copied out of guest memory before they are checked, and the TAP
 *   gets the checked copy: a driver rewriting its header after the check cannot make
 *   the TAP see another one. The frame itself goes from guest memory to the TAP.
 * - A TX chain with device-writable buffers, a header shorter than 12 bytes, a header
 *   net_hdr_from_guest refuses, or more than NET_TX_MAX_IOV buffers: the packet is
 *   dropped and counted, the chain completed with used length 0, a rate-limited
 *   warning logged. None of these breaks the device: the spec does not ask for
 *   DEVICE_NEEDS_RESET, and one bad packet must not take the network away. Only a
 *   malformed ring (vq_pop -EINVAL) does.
 * - RX chains with device-readable buffers, shorter than the header, or with more than
 *   NET_RX_CHAIN_IOV buffers are returned unused (used length 0; Linux counts them as
 *   length errors) and the queue goes on.
 * - RX reads go to a device-side buffer, one read in flight per queue, and only while
 *   the guest has posted buffers (or chains are held). When a read (or a POLLIN wait)
 *   completes, the packets queued behind it are read at once on the loop thread with
 *   non-blocking reads, each delivered before the next is read, up to NET_RX_BATCH
 *   per completion; at the bound or at -EAGAIN an io_uring read takes over (waiting for
 *   the next packet; other queues on the loop get their turn). When the ring runs dry,
 *   notifications are re-enabled and nothing is read until the guest kicks: no polling
 *   of a TAP whose packets we could not deliver, and packets wait in the TAP's queue,
 *   where the host's qdisc and TCP see the back pressure. A packet already read waits
 *   in the buffer for more guest buffers. With MRG_RXBUF the popped chains are held
 *   until enough of them cover the packet; a packet that needs more chains than the
 *   device holds (NET_RX_MAX_HELD, or the queue size) is dropped and the chains are
 *   kept for the next one, so a guest posting tiny buffers cannot wedge the queue.
 * - Read errors (other than a queue detached by VQ_PAIRS_SET) are retried after
 *   NET_RX_RETRY_MS, not at once, so a TAP in a bad state does not spin the loop.
 *   -EAGAIN (kernels where io_uring does not wait on a non-blocking TAP) waits for
 *   POLLIN/POLLOUT and retries.
 * - Writes per TX queue are limited to the queue size in flight, as in blk; a write
 *   the TAP refuses (-EIO: the TAP is down) is counted, the chain completed.
 * - Interrupts: one vq_should_notify decision per kick for what it completed, one per
 *   write completion and one per batch of packets received. Event idx coalesces the
 *   rest.
 * - VQ_PAIRS_SET detaches the TAP queues of the pairs it disables and attaches those
 *   it enables, so the kernel steers no traffic to a queue nobody reads; a packet a
 *   disabled pair's read returns anyway is dropped.
 */
#include "virtio/net.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "virtio/queue_io.h"
#include "virtio/tap.h"

#define NET_TX_MAX_IOV 64      /* buffers per TX chain (Linux: MAX_SKB_FRAGS + 2 <= 47) */
#define NET_RX_CHAIN_IOV 64    /* buffers per RX chain (Linux big packets: the same) */
#define NET_RX_POOL_IOV 1024   /* iovecs of all the RX chains one queue holds */
#define NET_RX_MAX_HELD 128    /* RX chains one packet may span (1.5 KiB each: 64 KiB) */
#define NET_RX_BUF (NET_HDR_LEN + NET_MAX_FRAME)
#define NET_RX_RETRY_MS 100
#define NET_RX_BATCH 32        /* reads per completion before the loop gets a turn */
#define NET_CTRL_MAX_IOV 64

#define NET_WARN_BURST 5    /* warnings per queue per window... */
#define NET_WARN_WINDOW 10  /* ...of this many seconds */

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define BIT(n) (1ULL << (n))

#define NET_FEATURES                                                                   \
	(BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_MAC) |   \
	 BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6) |                     \
	 BIT(VIRTIO_NET_F_GUEST_ECN) | BIT(VIRTIO_NET_F_HOST_TSO4) |                       \
	 BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_HOST_ECN) |                        \
	 BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_CTRL_VQ))

#define STAT_ADD(q, field, n) stats_add(&(q)->st.field, (n))
#define STAT_GET(q, field) stats_get(&(q)->st.field)

struct net;
struct net_queue;

static void net_tx_done(struct evloop_op *op, int res, bool more);
static void net_rx_done(struct evloop_op *op, int res, bool more);

enum net_kind { NQ_RX, NQ_TX, NQ_CTRL };

enum net_rx_state {
	RX_IDLE,    /* nothing in flight */
	RX_READING, /* a read from the TAP into buf */
	RX_POLLING, /* waiting for POLLIN after -EAGAIN */
	RX_BACKOFF, /* a timer after a read error */
};

struct net_tx_req {
	struct evloop_op op; /* user_data of the write (or poll); op.opaque is the request */
	struct net_queue *q;
	struct net_tx_req *prev, *next; /* in-flight list, or free list (next only) */
	uint16_t head;
	bool polling;        /* op is a POLLOUT wait, the write comes after it */
	uint64_t start_ns;   /* when it was popped, for the latency histogram */
	uint32_t frame_len;
	struct iovec *wiov;  /* the header copy, then the frame in guest memory */
	unsigned int nr_wiov;
	struct virtio_net_hdr_mrg_rxbuf hdr; /* checked copy: what the TAP gets */
	struct iovec iov[1 + NET_TX_MAX_IOV];
};

/* A popped RX chain not used yet; its iovecs are pool[first..first + nr). */
struct net_rx_chain {
	uint16_t head;
	uint32_t len;
	unsigned int first, nr;
};

/* Per-queue counters; relaxed atomics, written under the queue lock, read anywhere. */
struct net_qstats {
	uint64_t packets, bytes, dropped, errors, reads, ok, err;
	struct stats_hist latency; /* TX: popped to the TAP write's completion */
};

struct net_queue {
	struct net *net;
	unsigned int index, pair;
	enum net_kind kind;
	char name[16];        /* "rx0", "tx0", "ctrl" */
	struct virtqueue *vq;
	int fd;
	pthread_mutex_t lock; /* everything below, and the virtqueue */
	struct queue_io io;   /* running, stopping, writes or the RX op in flight */
	bool throttled;       /* TX: in flight reached the queue size with more available */
	bool pushed;          /* used entries added since the last interrupt decision */
	bool broken_reported;
	struct evloop_call start_call;
	/* TX */
	struct net_tx_req *inflight, *free;
	/* RX */
	struct evloop_op rx_op;
	enum net_rx_state rx_state;
	struct __kernel_timespec rx_retry;
	bool attached;        /* the TAP queue of this pair is attached (n->lock) */
	uint8_t *buf;         /* NET_RX_BUF bytes: header + frame from the TAP */
	struct iovec buf_iov;
	uint32_t pending;     /* bytes of a packet in buf waiting for guest buffers */
	struct net_rx_chain *held;
	unsigned int nr_held;
	bool held_not_last;   /* a chain popped after the held ones was returned */
	struct iovec *pool;
	unsigned int pool_used;
	struct net_qstats st;
	time_t warn_window;
	unsigned int warn_count, warn_suppressed;
};

struct net {
	struct virtio_device dev;
	char *name;              /* for logs */
	unsigned int pairs;
	int *fds;                /* one per pair, owned */
	bool tap;                /* the fds are TAP queues: offloads and attachment apply */
	uint64_t features;
	pthread_mutex_t lock;    /* started and the TAP queues' attachment; after queue locks */
	bool started;            /* activated since the last reset */
	unsigned int curr_pairs; /* atomic: pairs the driver uses (VQ_PAIRS_SET) */
	struct virtio_net_config config;
	struct net_queue q[];
};

/* ---- iovec helpers ---- */

static void iov_skip(struct iovec **iov, unsigned int *nr, uint64_t n)
{
	while (n && *nr) {
		if (n < (*iov)->iov_len) {
			(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
			(*iov)->iov_len -= n;
			return;
		}
		n -= (*iov)->iov_len;
		(*iov)++;
		(*nr)--;
	}
}

/* Copy len bytes starting skip bytes into iov out to buf. */
static void iov_to_buf(const struct iovec *iov, unsigned int nr, uint64_t skip, void *buf,
		       size_t len)
{
	uint8_t *p = buf;

	for (unsigned int i = 0; i < nr && len; i++) {
		size_t n;

		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		n = MIN(iov[i].iov_len - skip, len);
		memcpy(p, (uint8_t *)iov[i].iov_base + skip, n);
		p += n;
		len -= n;
		skip = 0;
	}
}

static void iov_from_buf(const struct iovec *iov, unsigned int nr, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	for (unsigned int i = 0; i < nr && len; i++) {
		size_t n = MIN(iov[i].iov_len, len);

		memcpy(iov[i].iov_base, p, n);
		p += n;
		len -= n;
	}
}

/* ---- headers ---- */

/* GSO types the device knows, and which feature lets each direction use them. */
static const struct net_gso {
	uint8_t type;
	unsigned int host_feature;  /* the guest may send it */
	unsigned int guest_feature; /* the guest may receive it */
} net_gso_types[] = {
	{ VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_GUEST_TSO4 },
	{ VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_GUEST_TSO6 },
};

/* Receive offloads for TUNSETOFFLOAD: what the guest takes, given GUEST_CSUM. */
static const struct {
	unsigned int feature;
	unsigned int tun_flag;
} net_rx_offloads[] = {
	{ VIRTIO_NET_F_GUEST_TSO4, TUN_F_TSO4 },
	{ VIRTIO_NET_F_GUEST_TSO6, TUN_F_TSO6 },
	{ VIRTIO_NET_F_GUEST_ECN, TUN_F_TSO_ECN },
};

static const char *const net_hdr_errors[NET_HDR_NR] = {
	[NET_HDR_OK] = "ok",
	[NET_HDR_RUNT] = "frame shorter than an Ethernet header",
	[NET_HDR_OVERSIZED] = "frame longer than 64 KiB plus a VLAN Ethernet header",
	[NET_HDR_FLAGS] = "flags the sender may not set",
	[NET_HDR_CSUM_FEATURE] = "NEEDS_CSUM without checksum offload negotiated",
	[NET_HDR_CSUM_RANGE] = "checksum position past the end of the frame",
	[NET_HDR_GSO_TYPE] = "unknown or unsupported GSO type",
	[NET_HDR_GSO_FEATURE] = "GSO type not negotiated",
	[NET_HDR_GSO_CSUM] = "GSO without NEEDS_CSUM",
	[NET_HDR_GSO_SIZE] = "GSO with gso_size 0",
	[NET_HDR_HDR_LEN] = "hdr_len past the end of the frame",
};

const char *net_hdr_strerror(enum net_hdr_error err)
{
	if ((unsigned int)err >= NET_HDR_NR)
		return "unknown header error";
	return net_hdr_errors[err];
}

static const struct net_gso *net_gso_find(uint8_t type)
{
	for (size_t i = 0; i < sizeof(net_gso_types) / sizeof(net_gso_types[0]); i++)
		if (net_gso_types[i].type == type)
			return &net_gso_types[i];
	return NULL;
}

/* The GSO type, ECN bit included, against one direction's features. */
static enum net_hdr_error net_gso_check(uint8_t gso_type, uint64_t features, bool from_guest)
{
	uint8_t type = gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	bool ecn = gso_type & VIRTIO_NET_HDR_GSO_ECN;
	unsigned int ecn_feature = from_guest ? VIRTIO_NET_F_HOST_ECN : VIRTIO_NET_F_GUEST_ECN;
	const struct net_gso *g;

	if (type == VIRTIO_NET_HDR_GSO_NONE)
		return ecn ? NET_HDR_GSO_TYPE : NET_HDR_OK;
	g = net_gso_find(type);
	if (!g)
		return NET_HDR_GSO_TYPE;
	if (!(features & BIT(from_guest ? g->host_feature : g->guest_feature)))
		return NET_HDR_GSO_FEATURE;
	if (ecn && !(features & BIT(ecn_feature)))
		return NET_HDR_GSO_FEATURE;
	return NET_HDR_OK;
}

enum net_hdr_error net_hdr_from_guest(const struct virtio_net_hdr_mrg_rxbuf *in,
				      uint64_t frame_len, uint64_t features,
				      struct virtio_net_hdr_mrg_rxbuf *out)
{
	uint8_t flags = in->hdr.flags, gso_type = in->hdr.gso_type;
	uint16_t hdr_len = le16toh(in->hdr.hdr_len), gso_size = le16toh(in->hdr.gso_size);
	uint16_t csum_start = le16toh(in->hdr.csum_start);
	uint16_t csum_offset = le16toh(in->hdr.csum_offset);
	bool csum = flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
	bool gso = (gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_NONE;
	enum net_hdr_error err;

	if (frame_len < NET_MIN_FRAME)
		return NET_HDR_RUNT;
	if (frame_len > NET_MAX_FRAME)
		return NET_HDR_OVERSIZED;
	/* DATA_VALID and RSC_INFO are the device's to set (5.1.6.2.1). */
	if (flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return NET_HDR_FLAGS;
	if (csum && !(features & BIT(VIRTIO_NET_F_CSUM)))
		return NET_HDR_CSUM_FEATURE;
	/* u16 + u16 + 2 cannot wrap 32 bits; the checksum is 2 bytes at start + offset. */
	if (csum && (uint32_t)csum_start + csum_offset + 2 > frame_len)
		return NET_HDR_CSUM_RANGE;
	err = net_gso_check(gso_type, features, true);
	if (err)
		return err;
	if (gso && !csum)
		return NET_HDR_GSO_CSUM;
	if (gso && !gso_size)
		return NET_HDR_GSO_SIZE;
	if (hdr_len > frame_len)
		return NET_HDR_HDR_LEN;

	memset(out, 0, sizeof(*out));
	out->hdr.flags = flags;
	out->hdr.gso_type = gso_type;
	out->hdr.hdr_len = htole16(hdr_len);
	if (gso)
		out->hdr.gso_size = htole16(gso_size);
	if (csum) {
		out->hdr.csum_start = htole16(csum_start);
		out->hdr.csum_offset = htole16(csum_offset);
	}
	return NET_HDR_OK;
}

enum net_hdr_error net_hdr_to_guest(struct virtio_net_hdr_mrg_rxbuf *hdr, uint64_t features,
				    uint16_t num_buffers)
{
	bool guest_csum = features & BIT(VIRTIO_NET_F_GUEST_CSUM);
	uint8_t flags = hdr->hdr.flags;
	enum net_hdr_error err;

	if (flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
		return NET_HDR_FLAGS;
	if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !guest_csum)
		return NET_HDR_CSUM_FEATURE;
	err = net_gso_check(hdr->hdr.gso_type, features, false);
	if (err)
		return err;
	/* Without GUEST_CSUM the device must leave flags 0 (5.1.6.3.2). */
	if (!guest_csum)
		flags = 0;
	hdr->hdr.flags = flags;
	hdr->num_buffers = htole16(num_buffers);
	return NET_HDR_OK;
}

unsigned int net_tap_offloads(uint64_t features)
{
	unsigned int flags = TUN_F_CSUM;

	/* Segmentation offloads need checksum offload (and the kernel ignores them without). */
	if (!(features & BIT(VIRTIO_NET_F_GUEST_CSUM)))
		return 0;
	for (size_t i = 0; i < sizeof(net_rx_offloads) / sizeof(net_rx_offloads[0]); i++)
		if (features & BIT(net_rx_offloads[i].feature))
			flags |= net_rx_offloads[i].tun_flag;
	/* ECN only qualifies TSO. */
	if (!(flags & (TUN_F_TSO4 | TUN_F_TSO6)))
		flags &= ~TUN_F_TSO_ECN;
	return flags;
}

/* ---- logging ---- */

/* A guest can make every packet fail: at most NET_WARN_BURST lines per window. */
__attribute__((format(printf, 2, 3)))
static void net_warn(struct net_queue *q, const char *fmt, ...)
{
	struct timespec now;
	char msg[256];
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - q->warn_window >= NET_WARN_WINDOW) {
		if (q->warn_suppressed)
			log_warn("net '%s' %s: %u similar warnings suppressed", q->net->name,
				 q->name, q->warn_suppressed);
		q->warn_window = now.tv_sec;
		q->warn_count = 0;
		q->warn_suppressed = 0;
	}
	if (q->warn_count >= NET_WARN_BURST) {
		q->warn_suppressed++;
		return;
	}
	q->warn_count++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("net '%s' %s: %s", q->net->name, q->name, msg);
}

/* ---- common queue bookkeeping (queue lock held) ---- */

static void net_push(struct net_queue *q, uint16_t head, uint32_t len)
{
	vq_push(q->vq, head, len);
	q->pushed = true;
}

static void net_notify(struct net_queue *q)
{
	if (!q->pushed)
		return;
	q->pushed = false;
	if (vq_should_notify(q->vq))
		virtio_queue_interrupt(&q->net->dev, q->index);
}

/* The driver broke the ring: ask for a reset, once. */
static void net_broken(struct net_queue *q)
{
	if (q->broken_reported)
		return;
	q->broken_reported = true;
	q->net->dev.transport->needs_reset(&q->net->dev);
}

static bool net_pair_enabled(const struct net_queue *q)
{
	return q->pair < __atomic_load_n(&q->net->curr_pairs, __ATOMIC_ACQUIRE);
}

/* ---- TX (queue lock held, loop thread) ---- */

static struct net_tx_req *net_tx_get(struct net_queue *q)
{
	struct net_tx_req *r = q->free;

	if (r) {
		q->free = r->next;
	} else {
		r = malloc(sizeof(*r));
		if (!r)
			return NULL;
	}
	memset(r, 0, offsetof(struct net_tx_req, iov));
	r->op.cb = net_tx_done;
	r->op.opaque = r;
	r->q = q;
	return r;
}

static void net_tx_put(struct net_queue *q, struct net_tx_req *r)
{
	r->next = q->free;
	q->free = r;
}

static void net_tx_inflight_add(struct net_queue *q, struct net_tx_req *r)
{
	r->prev = NULL;
	r->next = q->inflight;
	if (q->inflight)
		q->inflight->prev = r;
	q->inflight = r;
	q->io.in_flight++;
}

static void net_tx_inflight_del(struct net_queue *q, struct net_tx_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		q->inflight = r->next;
	if (r->next)
		r->next->prev = r->prev;
	q->io.in_flight--;
}

/* The write, or the POLLOUT wait before it. False when the ring is full. */
static bool net_tx_submit(struct net_tx_req *r)
{
	struct io_uring_sqe *sqe = evloop_sqe(queue_io_loop(&r->q->io), &r->op);

	if (!sqe)
		return false;
	if (r->polling)
		io_uring_prep_poll_add(sqe, r->q->fd, POLLOUT);
	else
		io_uring_prep_writev(sqe, r->q->fd, r->wiov, r->nr_wiov, 0);
	return true;
}

static void net_tx_drop(struct net_queue *q, struct net_tx_req *r)
{
	STAT_ADD(q, dropped, 1);
	net_push(q, r->head, 0);
	net_tx_put(q, r);
}

/* Check one popped chain and hand it to the TAP, or drop it. */
static void net_tx_start(struct net_queue *q, struct net_tx_req *r, const struct vq_chain *c)
{
	struct virtio_net_hdr_mrg_rxbuf raw;
	enum net_hdr_error err;
	struct iovec *data = r->iov + 1;
	unsigned int nr = c->nr_out;

	r->head = c->head;
	r->start_ns = clock_monotonic_ns();
	if (c->nr_in) {
		net_warn(q, "packet %u has device-writable buffers: dropped", c->head);
		net_tx_drop(q, r);
		return;
	}
	if (c->out_len < NET_HDR_LEN) {
		net_warn(q, "packet %u is shorter than the %u-byte header: dropped", c->head,
			 NET_HDR_LEN);
		net_tx_drop(q, r);
		return;
	}
	iov_to_buf(data, nr, 0, &raw, sizeof(raw));
	r->frame_len = c->out_len - NET_HDR_LEN;
	err = net_hdr_from_guest(&raw, r->frame_len, q->net->dev.driver_features, &r->hdr);
	if (err) {
		net_warn(q, "packet %u (%u bytes) dropped: %s", c->head, r->frame_len,
			 net_hdr_strerror(err));
		net_tx_drop(q, r);
		return;
	}
	/* The frame after the guest's header; the checked copy goes in front of it. */
	iov_skip(&data, &nr, NET_HDR_LEN);
	data[-1] = (struct iovec){ .iov_base = &r->hdr, .iov_len = NET_HDR_LEN };
	r->wiov = data - 1;
	r->nr_wiov = nr + 1;
	if (!net_tx_submit(r)) {
		net_warn(q, "io_uring submission queue full: packet %u dropped", c->head);
		STAT_ADD(q, errors, 1);
		net_push(q, r->head, 0);
		net_tx_put(q, r);
		return;
	}
	net_tx_inflight_add(q, r);
}

enum net_drain { DRAIN_EMPTY, DRAIN_FULL, DRAIN_BROKEN };

static enum net_drain net_tx_drain(struct net_queue *q)
{
	for (;;) {
		struct vq_chain chain;
		struct net_tx_req *r;
		int ret;

		if (q->io.in_flight >= q->vq->size)
			return vq_has_available(q->vq) ? DRAIN_FULL : DRAIN_EMPTY;
		r = net_tx_get(q);
		if (!r) {
			net_warn(q, "out of memory for packets");
			/* Completions retry; with none pending the next kick does. */
			return q->io.in_flight ? DRAIN_FULL : DRAIN_EMPTY;
		}
		ret = vq_pop(q->vq, &chain, r->iov + 1, NET_TX_MAX_IOV);
		if (ret == 0 || ret == -EINVAL) {
			net_tx_put(q, r);
			return ret ? DRAIN_BROKEN : DRAIN_EMPTY;
		}
		if (ret < 0) {
			net_warn(q, "packet %u has more than %u buffers: dropped", chain.head,
				 NET_TX_MAX_IOV);
			r->head = chain.head;
			net_tx_drop(q, r);
			continue;
		}
		net_tx_start(q, r, &chain);
	}
}

/*
 * Pop and submit everything available, with kicks suppressed meanwhile. The writes
 * of one kick go to the kernel together when the callback returns to the loop.
 */
static void net_tx_process(struct net_queue *q)
{
	enum net_drain res;

	for (;;) {
		vq_disable_notify(q->vq);
		res = net_tx_drain(q);
		if (res != DRAIN_EMPTY)
			break;
		if (!vq_enable_notify(q->vq))
			break;
	}
	/* Full: kicks stay off, each completion drains again. */
	q->throttled = res == DRAIN_FULL;
	if (res == DRAIN_BROKEN)
		net_broken(q);
	net_notify(q);
}

/* A poll result that says the fd will never become ready. */
static bool net_poll_failed(int res)
{
	return res < 0 || (res & (POLLERR | POLLHUP | POLLNVAL));
}

static void net_tx_done(struct evloop_op *op, int res, bool more)
{
	struct net_tx_req *r = op->opaque;
	struct net_queue *q = r->q;

	pthread_mutex_lock(&q->lock);
	if (!q->io.running) {
		/* Stopped: the guest gets nothing, the waiting reset gets its wake-up. */
		net_tx_inflight_del(q, r);
		net_tx_put(q, r);
		queue_io_wake_if_idle(&q->io);
		pthread_mutex_unlock(&q->lock);
		return;
	}
	if (r->polling) {
		r->polling = false;
		if (!net_poll_failed(res) && net_tx_submit(r))
			goto out;
		res = res < 0 ? res : -EPIPE; /* the fd will not take it: detached or gone */
	} else if (res == -EAGAIN && net_pair_enabled(q)) {
		/* The TAP's queue is full: wait until it takes more. */
		r->polling = true;
		if (net_tx_submit(r))
			goto out;
		r->polling = false;
	}
	if (res < 0) {
		STAT_ADD(q, errors, 1);
		net_warn(q, "write to the TAP failed: %s%s", strerror(-res),
			 res == -EIO ? " (is the TAP up?)" : "");
	} else if ((uint32_t)res != NET_HDR_LEN + r->frame_len) {
		STAT_ADD(q, errors, 1);
		net_warn(q, "short write to the TAP: %d of %u bytes", res,
			 NET_HDR_LEN + r->frame_len);
	} else {
		STAT_ADD(q, packets, 1);
		STAT_ADD(q, bytes, r->frame_len);
	}
	stats_hist_add(&q->st.latency, r->start_ns);
	net_tx_inflight_del(q, r);
	net_push(q, r->head, 0);
	net_tx_put(q, r);
	if (q->throttled && !q->io.stopping)
		net_tx_process(q);
	else
		net_notify(q);
	/* A stopping queue's waiter wants the last write, pushed and signalled. */
	if (q->io.stopping)
		queue_io_wake_if_idle(&q->io);
out:
	pthread_mutex_unlock(&q->lock);
}

/* ---- RX (queue lock held, loop thread) ---- */

enum net_take { TAKE_OK, TAKE_EMPTY, TAKE_FULL };

static unsigned int net_rx_cap(const struct net_queue *q)
{
	return MIN((unsigned int)NET_RX_MAX_HELD, (unsigned int)q->vq->size);
}

/* Pop one usable receive chain into held[]. */
static enum net_take net_rx_take(struct net_queue *q)
{
	for (;;) {
		struct vq_chain c;
		int ret;

		if (q->nr_held >= net_rx_cap(q) ||
		    q->pool_used + NET_RX_CHAIN_IOV > NET_RX_POOL_IOV)
			return TAKE_FULL;
		ret = vq_pop(q->vq, &c, q->pool + q->pool_used, NET_RX_CHAIN_IOV);
		if (ret == 0) {
			/* Dry: ask for a kick, unless buffers came in meanwhile. */
			if (!vq_enable_notify(q->vq))
				return TAKE_EMPTY;
			vq_disable_notify(q->vq);
			continue;
		}
		if (ret == -EINVAL) {
			net_broken(q);
			return TAKE_EMPTY;
		}
		if (ret < 0 || c.nr_out || c.in_len < NET_HDR_LEN) {
			net_warn(q, "receive buffer %u %s: returned unused", c.head,
				 ret < 0 ? "has too many descriptors" :
				 c.nr_out ? "has device-readable descriptors" :
				 "is shorter than the header");
			STAT_ADD(q, errors, 1);
			if (q->nr_held)
				q->held_not_last = true;
			net_push(q, c.head, 0);
			continue;
		}
		q->held[q->nr_held++] = (struct net_rx_chain){
			.head = c.head, .len = c.in_len, .first = q->pool_used, .nr = c.nr_in,
		};
		q->pool_used += c.nr_in;
		return TAKE_OK;
	}
}

/* Forget the first k held chains (used), keeping the others' iovecs in the pool. */
static void net_rx_release(struct net_queue *q, unsigned int k)
{
	unsigned int first = k < q->nr_held ? q->held[k].first : q->pool_used;

	memmove(q->pool, q->pool + first, (q->pool_used - first) * sizeof(*q->pool));
	q->pool_used -= first;
	memmove(q->held, q->held + k, (q->nr_held - k) * sizeof(*q->held));
	q->nr_held -= k;
	for (unsigned int i = 0; i < q->nr_held; i++)
		q->held[i].first -= first;
	if (!q->nr_held)
		q->held_not_last = false;
}

static void net_rx_drop(struct net_queue *q)
{
	q->pending = 0;
	STAT_ADD(q, dropped, 1);
}

/* How many held chains the pending packet needs: 0 while they are not enough. */
static unsigned int net_rx_gather(struct net_queue *q, bool mrg)
{
	uint64_t have = 0;
	unsigned int k = 0;

	if (!mrg) {
		if (!q->nr_held && net_rx_take(q) != TAKE_OK)
			return 0;
		if (q->held[0].len < q->pending) {
			net_warn(q, "a %u-byte packet does not fit the %u-byte receive buffer "
				 "(no MRG_RXBUF): dropped", q->pending, q->held[0].len);
			net_rx_drop(q);
			return 0;
		}
		return 1;
	}
	for (;;) {
		while (k < q->nr_held && have < q->pending)
			have += q->held[k++].len;
		if (have >= q->pending)
			return k;
		switch (net_rx_take(q)) {
		case TAKE_OK:
			continue;
		case TAKE_EMPTY:
			return 0;
		case TAKE_FULL:
			net_warn(q, "a %u-byte packet needs more than the %u receive buffers "
				 "held: dropped", q->pending, q->nr_held);
			net_rx_drop(q);
			return 0;
		}
	}
}

/*
 * Copy the packet in buf into the guest's chains. False while it waits for buffers;
 * true once it was delivered or dropped.
 */
static bool net_rx_deliver(struct net_queue *q)
{
	uint64_t features = q->net->dev.driver_features;
	uint32_t len = q->pending, off = 0;
	enum net_hdr_error err;
	unsigned int k;

	k = net_rx_gather(q, features & BIT(VIRTIO_NET_F_MRG_RXBUF));
	if (!k)
		return !q->pending;
	err = net_hdr_to_guest((struct virtio_net_hdr_mrg_rxbuf *)q->buf, features, k);
	if (err) {
		net_warn(q, "packet from the TAP dropped: %s", net_hdr_strerror(err));
		q->pending = 0;
		STAT_ADD(q, errors, 1);
		return true;
	}
	for (unsigned int i = 0; i < k; i++) {
		const struct net_rx_chain *c = &q->held[i];
		uint32_t n = MIN(c->len, len - off);

		iov_from_buf(q->pool + c->first, c->nr, q->buf + off, n);
		net_push(q, c->head, n);
		off += n;
	}
	net_rx_release(q, k);
	q->pending = 0;
	STAT_ADD(q, packets, 1);
	STAT_ADD(q, bytes, len - NET_HDR_LEN);
	return true;
}

/* Something to receive into: held chains or posted ones. Kicks stay off while so. */
static bool net_rx_have_buffers(struct net_queue *q)
{
	if (q->nr_held)
		return true;
	if (!vq_has_available(q->vq) && !vq_enable_notify(q->vq))
		return false;
	vq_disable_notify(q->vq);
	return true;
}

static void net_rx_submit(struct net_queue *q, enum net_rx_state state)
{
	struct io_uring_sqe *sqe = evloop_sqe(queue_io_loop(&q->io), &q->rx_op);

	if (!sqe) {
		net_warn(q, "io_uring submission queue full: receiving waits for the next kick");
		return;
	}
	switch (state) {
	case RX_READING:
		io_uring_prep_readv(sqe, q->fd, &q->buf_iov, 1, 0);
		STAT_ADD(q, reads, 1);
		break;
	case RX_POLLING:
		io_uring_prep_poll_add(sqe, q->fd, POLLIN);
		break;
	case RX_BACKOFF:
		io_uring_prep_timeout(sqe, &q->rx_retry, 0, 0);
		break;
	case RX_IDLE:
		break;
	}
	q->rx_state = state;
	q->io.in_flight++;
}

static void net_rx_read_done(struct net_queue *q, int res);

/* Room for another packet and nothing in flight: the conditions for reading one. */
static bool net_rx_can_read(struct net_queue *q)
{
	return q->rx_state == RX_IDLE && !q->pending && net_pair_enabled(q) &&
	       net_rx_have_buffers(q);
}

/*
 * After a read completed (or POLLIN): read more packets right here, non-blocking, and
 * deliver each, up to NET_RX_BATCH reads, while the guest has room. It ends at a
 * packet waiting for buffers, with the ring dry (kicks on again), on an error
 * (back-off), at -EAGAIN or at the bound; the last two hand over to an io_uring read
 * as after a kick: it waits for the next packet, and at the bound it lets the loop's
 * other work have its turn first.
 */
static void net_rx_drain(struct net_queue *q)
{
	for (unsigned int n = 0; net_rx_can_read(q); n++) {
		ssize_t res;

		if (n == NET_RX_BATCH) {
			net_rx_submit(q, RX_READING);
			return;
		}
		STAT_ADD(q, reads, 1);
		res = read(q->fd, q->buf, NET_RX_BUF);
		if (res < 0 && (errno == EAGAIN || errno == EINTR)) {
			net_rx_submit(q, RX_READING);
			return;
		}
		/* As a completion's res; net_rx_read_done checks the length. */
		net_rx_read_done(q, res < 0 ? -errno : (int)MIN(res, (ssize_t)INT32_MAX));
		if (q->pending)
			net_rx_deliver(q);
	}
}

/*
 * Deliver what waits, then read the next packet if the guest has room for it: through
 * io_uring after a kick, or with drain (a read or POLLIN just completed, more packets
 * are likely queued) at once with net_rx_drain. One interrupt decision for it all.
 */
static void net_rx_run(struct net_queue *q, bool drain)
{
	if (!q->pending || net_rx_deliver(q)) {
		if (drain)
			net_rx_drain(q);
		else if (net_rx_can_read(q))
			net_rx_submit(q, RX_READING);
	}
	net_notify(q);
}

static void net_rx_failed(struct net_queue *q, int res)
{
	/* A TAP queue detached by VQ_PAIRS_SET fails its reads: wait to be re-enabled. */
	if (!net_pair_enabled(q))
		return;
	STAT_ADD(q, errors, 1);
	net_warn(q, "read from the TAP failed: %s; retrying in %d ms",
		 res < 0 ? strerror(-res) : "no vnet header", NET_RX_RETRY_MS);
	net_rx_submit(q, RX_BACKOFF);
}

static void net_rx_read_done(struct net_queue *q, int res)
{
	if (res == -EAGAIN && net_pair_enabled(q)) {
		net_rx_submit(q, RX_POLLING);
		return;
	}
	/* A TAP always gives a header; less (0: end of file) is an error, not a packet. */
	if (res < NET_HDR_LEN) {
		net_rx_failed(q, res);
		return;
	}
	if (!net_pair_enabled(q)) {
		STAT_ADD(q, dropped, 1);
		return;
	}
	if (res > NET_RX_BUF) {
		/* The TAP reports the whole length of what did not fit. */
		net_warn(q, "a %d-byte packet from the TAP is larger than %u bytes: dropped", res,
			 NET_RX_BUF);
		STAT_ADD(q, dropped, 1);
		return;
	}
	q->pending = res;
}

static void net_rx_done(struct evloop_op *op, int res, bool more)
{
	struct net_queue *q = op->opaque;
	enum net_rx_state state;

	pthread_mutex_lock(&q->lock);
	q->io.in_flight--;
	state = q->rx_state;
	q->rx_state = RX_IDLE;
	if (!q->io.running) {
		queue_io_wake_if_idle(&q->io);
		pthread_mutex_unlock(&q->lock);
		return;
	}
	if (q->io.stopping) {
		/* Nothing more is read; a packet this read got waits in buf for the resume. */
		if (state == RX_READING && res >= NET_HDR_LEN)
			net_rx_read_done(q, res);
		queue_io_wake_if_idle(&q->io);
		pthread_mutex_unlock(&q->lock);
		return;
	}
	if (state == RX_READING)
		net_rx_read_done(q, res);
	else if (state == RX_POLLING && net_poll_failed(res))
		net_rx_failed(q, res < 0 ? res : -EIO);
	/* RX_BACKOFF: the timer ran out, read again (through io_uring, not drained). */
	if (q->rx_state == RX_IDLE)
		net_rx_run(q, state != RX_BACKOFF);
	pthread_mutex_unlock(&q->lock);
}

/* ---- control queue (queue lock held, loop thread) ---- */

typedef uint8_t (*net_ctrl_fn)(struct net_queue *q, const struct iovec *iov, unsigned int nr,
			       uint32_t len);

/* PROMISC and ALLMULTI: one byte, on or off. A TAP filters nothing, so both hold. */
static uint8_t net_ctrl_rx_mode(struct net_queue *q, const struct iovec *iov,
				unsigned int nr, uint32_t len)
{
	return len == 1 ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
}

/* Two tables, each le32 entries followed by that many MACs; nothing after them. */
static uint8_t net_ctrl_mac_table(struct net_queue *q, const struct iovec *iov,
				  unsigned int nr, uint32_t len)
{
	uint64_t off = 0;

	for (int t = 0; t < 2; t++) {
		uint32_t entries;

		if (len - off < sizeof(entries))
			return VIRTIO_NET_ERR;
		iov_to_buf(iov, nr, off, &entries, sizeof(entries));
		off += sizeof(entries);
		if (le32toh(entries) > (len - off) / 6)
			return VIRTIO_NET_ERR;
		off += 6ULL * le32toh(entries);
	}
	return off == len ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
}

/* Attach or detach TAP queue `pair` (n->lock held); false when the kernel refused. */
static bool net_tap_queue(struct net *n, unsigned int pair, bool attach)
{
	struct net_queue *rx = &n->q[2 * pair];
	int ret;

	if (!n->tap || n->pairs == 1 || rx->attached == attach)
		return true;
	ret = tap_set_queue_enabled(n->fds[pair], attach);
	if (ret) {
		log_warn("net '%s': cannot %s TAP queue %u: %s", n->name,
			 attach ? "attach" : "detach", pair, strerror(-ret));
		return false;
	}
	rx->attached = attach;
	return true;
}

static void net_start_call(void *arg);

/*
 * On ctrl's loop, rx's lock held: let a running rx queue look at its ring and the TAP
 * again. Only rx's own loop may submit its read: directly when ctrl shares that loop,
 * else through rx's loop (start_call, which its reset waits for like any I/O).
 */
static void net_rx_resume(struct net_queue *rx, const struct net_queue *ctrl)
{
	if (queue_io_loop(&rx->io) == queue_io_loop(&ctrl->io)) {
		net_rx_run(rx, false);
	} else if (!rx->io.start_queued) {
		rx->io.start_queued = true;
		evloop_call(queue_io_loop(&rx->io), &rx->start_call, net_start_call, rx);
	}
}

/*
 * Use pairs 0..want-1 from now on (on ctrl's loop, ctrl's lock held). False (and
 * nothing changed) when a queue would not attach.
 */
static bool net_set_pairs(struct net *n, const struct net_queue *ctrl, unsigned int want)
{
	unsigned int old = __atomic_load_n(&n->curr_pairs, __ATOMIC_RELAXED);

	pthread_mutex_lock(&n->lock);
	for (unsigned int i = old; i < want; i++) {
		if (!net_tap_queue(n, i, true)) {
			while (i-- > old)
				net_tap_queue(n, i, false);
			pthread_mutex_unlock(&n->lock);
			return false;
		}
	}
	__atomic_store_n(&n->curr_pairs, want, __ATOMIC_RELEASE);
	for (unsigned int i = want; i < old; i++)
		net_tap_queue(n, i, false);
	pthread_mutex_unlock(&n->lock);

	for (unsigned int i = 0; i < n->pairs; i++) {
		struct net_queue *rx = &n->q[2 * i];

		if ((i < want) == (i < old))
			continue;
		pthread_mutex_lock(&rx->lock);
		if (i >= want && rx->pending)
			net_rx_drop(rx); /* no more packets on disabled queues (5.1.6.5.5) */
		if (rx->io.running && !rx->io.stopping)
			net_rx_resume(rx, ctrl);
		pthread_mutex_unlock(&rx->lock);
	}
	return true;
}

static uint8_t net_ctrl_mq_pairs(struct net_queue *q, const struct iovec *iov,
				 unsigned int nr, uint32_t len)
{
	struct net *n = q->net;
	uint16_t pairs;

	if (!virtio_has_feature(&n->dev, VIRTIO_NET_F_MQ) || len != sizeof(pairs))
		return VIRTIO_NET_ERR;
	iov_to_buf(iov, nr, 0, &pairs, sizeof(pairs));
	pairs = le16toh(pairs);
	if (pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > n->pairs)
		return VIRTIO_NET_ERR;
	return net_set_pairs(n, q, pairs) ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
}

static const struct net_ctrl_cmd {
	uint8_t class, cmd;
	const char *name;
	net_ctrl_fn fn;
} net_ctrl_cmds[] = {
	{ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, "rx promisc", net_ctrl_rx_mode },
	{ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, "rx allmulti", net_ctrl_rx_mode },
	{ VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, "mac table set",
	  net_ctrl_mac_table },
	{ VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "mq pairs set",
	  net_ctrl_mq_pairs },
};

static const struct net_ctrl_cmd *net_ctrl_find(uint8_t class, uint8_t cmd)
{
	for (size_t i = 0; i < sizeof(net_ctrl_cmds) / sizeof(net_ctrl_cmds[0]); i++)
		if (net_ctrl_cmds[i].class == class && net_ctrl_cmds[i].cmd == cmd)
			return &net_ctrl_cmds[i];
	return NULL;
}

/* class, command and data device-readable; the ack is the last device-writable byte. */
static void net_ctrl_one(struct net_queue *q, const struct vq_chain *c, struct iovec *iov)
{
	const struct net_ctrl_cmd *cmd;
	struct virtio_net_ctrl_hdr hdr;
	struct iovec *data = iov, *last;
	unsigned int nr = c->nr_out;
	uint8_t ack = VIRTIO_NET_ERR;

	if (!c->nr_in) {
		net_warn(q, "command %u has no device-writable ack byte: returned unanswered",
			 c->head);
		net_push(q, c->head, 0);
		return;
	}
	if (c->out_len < sizeof(hdr)) {
		net_warn(q, "command %u is shorter than its class and command", c->head);
	} else {
		iov_to_buf(iov, nr, 0, &hdr, sizeof(hdr));
		iov_skip(&data, &nr, sizeof(hdr));
		cmd = net_ctrl_find(hdr.class, hdr.cmd);
		if (cmd)
			ack = cmd->fn(q, data, nr, c->out_len - sizeof(hdr));
		if (cmd && ack != VIRTIO_NET_OK)
			net_warn(q, "%s: malformed or out of range", cmd->name);
		if (!cmd)
			log_debug("net '%s': control class %u command %u not supported",
				  q->net->name, hdr.class, hdr.cmd);
	}
	/* queue.c makes no iovec for a zero-length descriptor: the last one has a byte. */
	last = &iov[c->nr_out + c->nr_in - 1];
	((uint8_t *)last->iov_base)[last->iov_len - 1] = ack;
	net_push(q, c->head, 1);
	if (ack == VIRTIO_NET_OK)
		STAT_ADD(q, ok, 1);
	else
		STAT_ADD(q, err, 1);
}

static void net_ctrl_process(struct net_queue *q)
{
	struct iovec iov[NET_CTRL_MAX_IOV];
	struct vq_chain c;
	int ret;

	do {
		vq_disable_notify(q->vq);
		while ((ret = vq_pop(q->vq, &c, iov, NET_CTRL_MAX_IOV)) != 0) {
			if (ret == -EINVAL) {
				net_broken(q);
				break;
			}
			if (ret < 0) {
				net_warn(q, "command %u has more than %u buffers: returned "
					 "unanswered", c.head, NET_CTRL_MAX_IOV);
				net_push(q, c.head, 0);
				continue;
			}
			net_ctrl_one(q, &c, iov);
		}
	} while (ret == 0 && vq_enable_notify(q->vq));
	net_notify(q);
}

/* ---- event loop entry points ---- */

static void net_process(struct net_queue *q)
{
	switch (q->kind) {
	case NQ_RX:
		net_rx_run(q, false);
		break;
	case NQ_TX:
		net_tx_process(q);
		break;
	case NQ_CTRL:
		net_ctrl_process(q);
		break;
	}
}

static void net_queue_notify(struct virtio_device *dev, unsigned int index)
{
	struct net *n = dev->priv;
	struct net_queue *q;

	if (index >= dev->nr_queues)
		return;
	q = &n->q[index];
	pthread_mutex_lock(&q->lock);
	/* A kick that raced a reset or a stop, or came before activate, is dropped here. */
	if (q->io.running && !q->io.stopping)
		net_process(q);
	pthread_mutex_unlock(&q->lock);
}

/*
 * Queued by activate: buffers a driver made available before DRIVER_OK come with no
 * kick after it (older Linux fills the receive ring in probe), so look once.
 */
static void net_start_call(void *arg)
{
	struct net_queue *q = arg;

	pthread_mutex_lock(&q->lock);
	q->io.start_queued = false;
	if (q->io.running && !q->io.stopping)
		net_process(q);
	queue_io_wake_if_idle(&q->io);
	pthread_mutex_unlock(&q->lock);
}

/*
 * On the loop (queue_io's cancel callback): cancel the stopped queue's writes, read,
 * poll or timer. A write the kernel already runs finishes anyway.
 */
static void net_cancel(void *arg)
{
	struct net_queue *q = arg;

	for (struct net_tx_req *r = q->inflight; r; r = r->next)
		queue_io_cancel_op(&q->io, &r->op);
	if (q->rx_state != RX_IDLE)
		queue_io_cancel_op(&q->io, &q->rx_op);
}

/* ---- stopping ---- */

static void net_wait_idle(struct net_queue *q)
{
	pthread_mutex_lock(&q->lock);
	queue_io_wait_quiet(&q->io);
	/* What the driver gave us is forgotten with the ring; a held packet is lost. */
	if (q->pending)
		STAT_ADD(q, dropped, 1);
	q->pending = 0;
	q->nr_held = 0;
	q->held_not_last = false;
	q->pool_used = 0;
	q->throttled = false;
	pthread_mutex_unlock(&q->lock);
}

/*
 * Stop every queue first, then wait for each: with per-queue loops the cancellations
 * run on all of them at once. Each queue's cancellation goes to its own loop.
 */
static void net_stop(struct net *n, unsigned int first, unsigned int count)
{
	for (unsigned int i = first; i < first + count; i++)
		queue_io_halt(&n->q[i].io);
	for (unsigned int i = first; i < first + count; i++)
		net_wait_idle(&n->q[i]);
}

/* ---- virtio_device_ops ---- */

static uint64_t net_features(struct virtio_device *dev)
{
	struct net *n = dev->priv;

	return n->features;
}

static void net_config_read(struct virtio_device *dev, uint32_t offset, void *buf,
			    uint32_t len)
{
	struct net *n = dev->priv;

	/* Immutable after create: no lock. The transport checked offset + len. */
	memcpy(buf, (const uint8_t *)&n->config + offset, len);
}

static void net_config_write(struct virtio_device *dev, uint32_t offset, const void *buf,
			     uint32_t len)
{
	/* mac is read-only with VERSION_1 (the driver sets it with CTRL_MAC_ADDR). */
	log_debug("net '%s': ignored config write at %u", ((struct net *)dev->priv)->name,
		  offset);
}

/*
 * First activation since reset: the TAP produces what the guest negotiated to
 * receive, and only pair 0 is attached until VQ_PAIRS_SET.
 */
static int net_start_device(struct net *n)
{
	int ret = 0;

	pthread_mutex_lock(&n->lock);
	if (n->started)
		goto out;
	if (n->tap) {
		ret = tap_set_offload(n->fds[0], net_tap_offloads(n->dev.driver_features));
		if (ret) {
			log_warn("net '%s': cannot set the TAP's offloads: %s", n->name,
				 strerror(-ret));
			goto out;
		}
		for (unsigned int i = 0; i < n->pairs; i++)
			net_tap_queue(n, i, i == 0);
	}
	__atomic_store_n(&n->curr_pairs, 1, __ATOMIC_RELEASE);
	n->started = true;
out:
	pthread_mutex_unlock(&n->lock);
	return ret;
}

static int net_activate(struct virtio_device *dev)
{
	struct net *n = dev->priv;
	int ret;

	ret = net_start_device(n);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < dev->nr_queues; i++) {
		struct net_queue *q = &n->q[i];

		pthread_mutex_lock(&q->lock);
		if (!q->io.running && dev->vqs[i].active) {
			q->io.running = true;
			q->throttled = false;
			q->pushed = false;
			q->broken_reported = false;
			if (queue_io_on_loop(&q->io)) {
				net_process(q);
			} else if (!q->io.start_queued) {
				q->io.start_queued = true;
				evloop_call(queue_io_loop(&q->io), &q->start_call, net_start_call, q);
			}
		}
		pthread_mutex_unlock(&q->lock);
	}
	return 0;
}

static void net_reset(struct virtio_device *dev)
{
	struct net *n = dev->priv;

	net_stop(n, 0, dev->nr_queues);
	pthread_mutex_lock(&n->lock);
	n->started = false;
	/* Nobody reads pairs 1.. until the next VQ_PAIRS_SET: no traffic may queue there. */
	for (unsigned int i = 1; i < n->pairs; i++)
		net_tap_queue(n, i, false);
	__atomic_store_n(&n->curr_pairs, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&n->lock);
}

static void net_queue_reset(struct virtio_device *dev, unsigned int index)
{
	if (index < dev->nr_queues)
		net_stop(dev->priv, index, 1);
}

/*
 * Queue lock held, nothing in flight: the receive chains held for a packet go back to
 * the driver (7.6). When they are the last ones taken, the available index moves back
 * over them and they are taken again after the resume; otherwise they are returned
 * unused (length 0, which Linux counts as a length error before posting them again).
 */
static void net_rx_give_back(struct net_queue *q)
{
	if (q->held_not_last) {
		for (unsigned int i = 0; i < q->nr_held; i++)
			net_push(q, q->held[i].head, 0);
	} else {
		q->vq->last_avail_idx -= q->nr_held;
	}
	q->nr_held = 0;
	q->held_not_last = false;
	q->pool_used = 0;
}

/*
 * Stop one queue keeping its place (device.h). Nothing more is popped or read; TX
 * writes in flight complete as usual on the loop (pushed, signalled); an RX read, poll
 * or back-off timer is cancelled, a packet already read waits in buf for the resume,
 * and the chains held for it are given back. The control queue has no I/O in flight.
 */
static void net_queue_stop(struct virtio_device *dev, unsigned int index)
{
	struct net *n = dev->priv;
	struct net_queue *q;

	if (index >= dev->nr_queues)
		return;
	q = &n->q[index];
	pthread_mutex_lock(&q->lock);
	q->io.stopping = true;
	if (q->rx_state != RX_IDLE)
		queue_io_request_cancel(&q->io);
	queue_io_wait_quiet(&q->io);
	net_rx_give_back(q);
	net_notify(q);
	q->io.running = false;
	q->io.stopping = false;
	pthread_mutex_unlock(&q->lock);
}

static void net_free(struct net *n)
{
	for (unsigned int i = 0; i < n->dev.nr_queues; i++) {
		struct net_queue *q = &n->q[i];

		while (q->free) {
			struct net_tx_req *r = q->free;

			q->free = r->next;
			free(r);
		}
		/*
		 * Requests still in flight were abandoned with the loop stopped: the kernel
		 * may still use their memory, so they (and the RX buffer) are left allocated.
		 */
		if (q->rx_state == RX_IDLE)
			free(q->buf);
		free(q->held);
		free(q->pool);
		queue_io_destroy(&q->io);
		pthread_mutex_destroy(&q->lock);
	}
	for (unsigned int i = 0; n->fds && i < n->pairs; i++)
		if (n->fds[i] >= 0)
			close(n->fds[i]);
	pthread_mutex_destroy(&n->lock);
	free(n->fds);
	free(n->dev.vqs);
	free(n->name);
	free(n);
}

static void net_destroy(struct virtio_device *dev)
{
	struct net *n = dev->priv;

	/* Cheap when idle; makes destroy safe even if the transport did not reset. */
	net_stop(n, 0, dev->nr_queues);
	net_free(n);
}

static void net_log_state(struct virtio_device *dev)
{
	static const char *const rx_states[] = {
		[RX_IDLE] = "idle", [RX_READING] = "reading", [RX_POLLING] = "polling",
		[RX_BACKOFF] = "backoff",
	};
	struct net *n = dev->priv;

	for (unsigned int i = 0; i < dev->nr_queues; i++) {
		struct net_queue *q = &n->q[i];
		char detail[160];

		pthread_mutex_lock(&q->lock);
		if (q->kind == NQ_RX)
			snprintf(detail, sizeof(detail), "pushed %d, %s %s, pending %u bytes, "
				 "held %u buffers", q->pushed, rx_states[q->rx_state],
				 net_pair_enabled(q) ? "enabled" : "disabled", q->pending,
				 q->nr_held);
		else if (q->kind == NQ_TX)
			snprintf(detail, sizeof(detail), "pushed %d, throttled %d, %s", q->pushed,
				 q->throttled, net_pair_enabled(q) ? "enabled" : "disabled");
		else
			snprintf(detail, sizeof(detail), "pushed %d", q->pushed);
		queue_io_log_state(&q->io, q->vq, detail);
		pthread_mutex_unlock(&q->lock);
	}
}

static const struct virtio_device_ops net_ops = {
	.features = net_features,
	.config_read = net_config_read,
	.config_write = net_config_write,
	.activate = net_activate,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
	.queue_reset = net_queue_reset,
	.queue_stop = net_queue_stop,
	.destroy = net_destroy,
	.log_state = net_log_state,
};

void net_get_stats(struct virtio_device *dev, struct net_stats *out)
{
	struct net *n = dev->priv;

	memset(out, 0, sizeof(*out));
	for (unsigned int i = 0; i < dev->nr_queues; i++) {
		struct net_queue *q = &n->q[i];

		switch (q->kind) {
		case NQ_TX:
			out->tx_packets += STAT_GET(q, packets);
			out->tx_bytes += STAT_GET(q, bytes);
			out->tx_dropped += STAT_GET(q, dropped);
			out->tx_errors += STAT_GET(q, errors);
			stats_hist_sum(&out->tx_latency, &q->st.latency);
			break;
		case NQ_RX:
			out->rx_packets += STAT_GET(q, packets);
			out->rx_bytes += STAT_GET(q, bytes);
			out->rx_dropped += STAT_GET(q, dropped);
			out->rx_errors += STAT_GET(q, errors);
			out->rx_reads += STAT_GET(q, reads);
			break;
		case NQ_CTRL:
			out->ctrl_ok += STAT_GET(q, ok);
			out->ctrl_err += STAT_GET(q, err);
			break;
		}
	}
}

/* ---- creation ---- */

static bool net_mac_zero(const uint8_t mac[6])
{
	for (int i = 0; i < 6; i++)
		if (mac[i])
			return false;
	return true;
}

/* A stable, locally administered unicast MAC from the name (FNV-1a). */
static void net_mac_from_name(const char *name, uint8_t mac[6])
{
	uint32_t h = 2166136261U;

	for (const char *p = name ? name : ""; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619U;
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

static int net_check_config(const struct net_dev_config *cfg, struct err *e)
{
	const char *name = cfg->tap ? cfg->tap : "";

	if (cfg->queues < 1 || cfg->queues > NET_MAX_PAIRS)
		return err_set(e, "net '%s': %u queue pairs, must be 1..%u", name, cfg->queues,
			       NET_MAX_PAIRS);
	if (cfg->mac[0] & 1)
		return err_set(e, "net '%s': mac %02x:%02x:%02x:%02x:%02x:%02x is a multicast "
			       "address", name, cfg->mac[0], cfg->mac[1], cfg->mac[2],
			       cfg->mac[3], cfg->mac[4], cfg->mac[5]);
	return 0;
}

static void net_init_queue(struct net *n, unsigned int i)
{
	struct net_queue *q = &n->q[i];

	q->net = n;
	q->index = i;
	q->pair = i / 2;
	q->vq = &n->dev.vqs[i];
	q->vq->max_size = NET_QUEUE_SIZE;
	pthread_mutex_init(&q->lock, NULL);
	if (i == 2 * n->pairs) {
		q->kind = NQ_CTRL;
		q->fd = -1;
		snprintf(q->name, sizeof(q->name), "ctrl");
	} else {
		q->kind = i % 2 ? NQ_TX : NQ_RX;
		q->fd = n->fds[q->pair];
		snprintf(q->name, sizeof(q->name), "%s%u", q->kind == NQ_RX ? "rx" : "tx",
			 q->pair);
	}
	queue_io_init(&q->io, &q->lock, &n->dev, i, net_cancel, q, "net", n->name, q->name);
	if (q->kind == NQ_CTRL)
		return;
	q->rx_op.cb = net_rx_done;
	q->rx_op.opaque = q;
	q->rx_retry.tv_nsec = NET_RX_RETRY_MS * 1000000LL;
	q->attached = true; /* tap_open attached every queue */
}

static int net_alloc_rx(struct net_queue *q)
{
	q->buf = malloc(NET_RX_BUF);
	q->held = calloc(NET_RX_MAX_HELD, sizeof(*q->held));
	q->pool = calloc(NET_RX_POOL_IOV, sizeof(*q->pool));
	if (!q->buf || !q->held || !q->pool)
		return -ENOMEM;
	q->buf_iov = (struct iovec){ .iov_base = q->buf, .iov_len = NET_RX_BUF };
	return 0;
}

static void net_init_config(struct net *n, const struct net_dev_config *cfg)
{
	struct virtio_net_config *c = &n->config;

	n->features = VIRTIO_COMMON_FEATURES | NET_FEATURES;
	if (n->pairs > 1)
		n->features |= BIT(VIRTIO_NET_F_MQ);
	if (net_mac_zero(cfg->mac))
		net_mac_from_name(cfg->tap, c->mac);
	else
		memcpy(c->mac, cfg->mac, sizeof(c->mac));
	c->status = htole16(VIRTIO_NET_S_LINK_UP);
	c->max_virtqueue_pairs = htole16(n->pairs);
	c->mtu = 0;
}

/* The device around open fds, which it owns on success. */
static int net_build(struct virtio_device **out, const struct net_dev_config *cfg,
		     const int *fds, bool tap, const struct guest_mem *mem,
		     struct evloop *loop, struct err *e)
{
	const char *name = cfg->id ? cfg->id : cfg->tap ? cfg->tap : "net";
	unsigned int nr_queues = 2 * cfg->queues + 1;
	struct net *n;

	n = calloc(1, sizeof(*n) + nr_queues * sizeof(n->q[0]));
	if (!n)
		return err_set(e, "net '%s': out of memory", name);
	pthread_mutex_init(&n->lock, NULL);
	n->pairs = cfg->queues;
	n->tap = tap;
	n->curr_pairs = 1;
	n->name = strdup(name);
	n->fds = malloc(cfg->queues * sizeof(*n->fds));
	n->dev.vqs = calloc(nr_queues, sizeof(*n->dev.vqs));
	if (!n->name || !n->fds || !n->dev.vqs)
		goto oom;
	memcpy(n->fds, fds, cfg->queues * sizeof(*n->fds));
	for (unsigned int i = 0; i < nr_queues; i++) {
		net_init_queue(n, i);
		n->dev.nr_queues = i + 1; /* what net_free tears down */
		if (n->q[i].kind == NQ_RX && net_alloc_rx(&n->q[i]))
			goto oom;
	}
	net_init_config(n, cfg);

	n->dev.name = "net";
	n->dev.device_type = VIRTIO_ID_NET;
	n->dev.ops = &net_ops;
	n->dev.priv = n;
	n->dev.config_size = offsetof(struct virtio_net_config, mtu) + sizeof(n->config.mtu);
	n->dev.mem = mem;
	n->dev.loop = loop;
	*out = &n->dev;
	return 0;
oom:
	err_set(e, "net '%s': out of memory", name);
	free(n->fds); /* the caller keeps the fds */
	n->fds = NULL;
	net_free(n);
	return -1;
}

int net_create(struct virtio_device **out, const struct net_dev_config *cfg,
	       const struct guest_mem *mem, struct evloop *loop, struct err *e)
{
	int fds[NET_MAX_PAIRS];

	if (net_check_config(cfg, e))
		return -1;
	if (tap_open(cfg->tap, cfg->queues, fds, e))
		return -1;
	if (net_build(out, cfg, fds, true, mem, loop, e)) {
		for (unsigned int i = 0; i < cfg->queues; i++)
			close(fds[i]);
		return -1;
	}
	return 0;
}

int net_create_fds(struct virtio_device **out, const struct net_dev_config *cfg,
		   const int *fds, const struct guest_mem *mem, struct evloop *loop,
		   struct err *e)
{
	const char *name = cfg->tap ? cfg->tap : "net";
	bool tap = true;

	if (net_check_config(cfg, e))
		return -1;
	for (unsigned int i = 0; i < cfg->queues; i++) {
		int flags = fcntl(fds[i], F_GETFL);

		if (flags < 0 || fcntl(fds[i], F_SETFL, flags | O_NONBLOCK) < 0)
			return err_set(e, "net '%s': fd %d: %s", name, fds[i], strerror(errno));
		tap = tap && tap_is_tap(fds[i]);
	}
	return net_build(out, cfg, fds, tap, mem, loop, e);
}

/*
 * The management device gives a pooled backend the MAC its CREATE chose, before a
 * transport serves it: config reads take no lock, so only while not started.
 */
int net_set_mac(struct virtio_device *dev, const uint8_t mac[6])
{
	struct net *n = dev->priv;
	int ret = 0;

	pthread_mutex_lock(&n->lock);
	if (n->started)
		ret = -EBUSY;
	else
		memcpy(n->config.mac, mac, sizeof(n->config.mac));
	pthread_mutex_unlock(&n->lock);
	return ret;
}
