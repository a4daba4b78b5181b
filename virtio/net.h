/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-net (virtio 1.2 section 5.1) on a TAP device, every packet moved through the
 * device's io_uring event loop. net_create returns a transport-neutral virtio_device
 * (virtio/device.h); virtio-pci and the management device serve it the same way.
 *
 * What the guest sees:
 * - Queues rx0, tx0, rx1, tx1, ..., rx(N-1), tx(N-1), then the control queue at index
 *   2N: always 2N + 1 queues, each offering NET_QUEUE_SIZE entries. One TAP fd per
 *   pair (a multi_queue TAP when N > 1).
 * - Features: MAC, STATUS (link always up), MRG_RXBUF, CSUM, GUEST_CSUM, HOST_TSO4,
 *   HOST_TSO6, HOST_ECN, GUEST_TSO4, GUEST_TSO6, GUEST_ECN, CTRL_VQ, and MQ when N > 1.
 *   Not offered: UFO/USO either way (TAP UFO is gone from current kernels), MTU (the
 *   guest keeps its 1500 default and may raise it to match the TAP; offering the TAP's
 *   MTU would cap it there for good), CTRL_RX, CTRL_VLAN, CTRL_MAC_ADDR,
 *   CTRL_GUEST_OFFLOADS, GUEST_ANNOUNCE, RSS, hash reports.
 * - Config space: struct virtio_net_config up to and including mtu (12 bytes): mac,
 *   status = VIRTIO_NET_S_LINK_UP, max_virtqueue_pairs = N, mtu = 0 (MTU not offered).
 *   Read-only: writes are ignored.
 * - Header: VERSION_1 is required by the transports, so the header is the 12-byte
 *   struct virtio_net_hdr_mrg_rxbuf both ways, the TAP's vnet header size (tap.h).
 * - TX: the guest's header is copied out, checked and translated (net_hdr_from_guest)
 *   and the copy is what the TAP gets, followed by the guest's frame bytes straight
 *   from guest memory (one writev; no copy of the data). A bad header, a frame shorter
 *   than an Ethernet header or longer than NET_MAX_FRAME, or a chain with
 *   device-writable buffers is dropped and counted; the chain is completed (used length
 *   0) and the device goes on.
 * - RX: read from the TAP only while the guest has posted receive buffers: one read per
 *   rx queue at a time into a device-side buffer of NET_HDR_LEN + NET_MAX_FRAME bytes,
 *   then the packet is copied into one chain (or, with MRG_RXBUF, as many chains as it
 *   needs, num_buffers saying how many). The packets queued behind a completed read
 *   are read and delivered in the same batch (bounded), with one interrupt decision.
 *   A packet that does not fit waits, not dropped, until the guest posts more buffers
 *   and kicks; without MRG_RXBUF a packet larger than the posted chain is dropped and
 *   counted, and the chain is kept for the next one.
 * - At activation the TAP's offloads follow what the guest negotiated to receive
 *   (net_tap_offloads), and of a multi-queue TAP only pair 0 stays attached until the
 *   driver sends VQ_PAIRS_SET (the kernel steers to attached queues only); reset
 *   detaches the others again.
 * - Control queue: MQ VQ_PAIRS_SET (1..N, with MQ negotiated), RX PROMISC/ALLMULTI and
 *   MAC TABLE_SET (well-formed ones are acknowledged and otherwise ignored: a TAP
 *   delivers everything the host sends it, i.e. the device is always promiscuous);
 *   anything else, and anything malformed, gets VIRTIO_NET_ERR.
 *
 * Threads and locks are as in blk.h: each queue (rx, tx and the control queue alike)
 * lives on its loop, virtio_queue_loop(dev, q): the device's loop, or its own loop and
 * thread when the VMM set dev->queue_loops (rx and tx of a pair then run in parallel on
 * the same TAP fd, which the kernel allows). A mutex per queue, taken by its loop for
 * kicks and completions; reset, queue_reset and destroy stop a queue, cancel its
 * in-flight reads, writes and polls through its loop and wait until they were reaped,
 * after which nothing touches guest memory or the TAP for that queue until activate.
 * A packet held for lack of receive buffers is dropped by the reset. As in blk, reset
 * must not be called on a queue's loop thread while that queue has I/O in flight (an
 * rx queue with buffers always has a read in flight); it reports that and aborts. The
 * control queue's lock is taken before the rx queues' locks (VQ_PAIRS_SET resumes
 * them: directly when an rx queue shares the control queue's loop, else by queueing
 * the resume on the rx queue's loop, since only that loop may submit its reads). What
 * queues share is immutable after create, atomic (counters, the pairs in use) or under
 * the device lock (started, TAP queue attachment).
 */
#ifndef VQVM_VIRTIO_NET_H
#define VQVM_VIRTIO_NET_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/evloop.h"
#include "lib/guest_mem.h"
#include "virtio/device.h"
#include "virtio/stats.h"

#define NET_MAX_PAIRS 64
#define NET_QUEUE_SIZE 256
#define NET_HDR_LEN 12                    /* struct virtio_net_hdr_mrg_rxbuf */
#define NET_MIN_FRAME 14                  /* an Ethernet header */
#define NET_MAX_FRAME (65536 + 14 + 4)    /* a 64 KiB GSO packet with a VLAN header */

/*
 * Named net_dev_config, not net_config: vmm/config.h has a struct net_config (the
 * parsed --net option) and the VM builder includes both headers.
 */
struct net_dev_config {
	const char *tap;     /* TAP interface name */
	uint8_t mac[6];      /* all zero: derived from the TAP name (52:54:00:xx:xx:xx) */
	unsigned int queues; /* queue pairs, 1..NET_MAX_PAIRS */
	const char *id;      /* for logs; NULL: the TAP name */
};

/*
 * Attach to the TAP (tap_open) and build the device. Queues are processed on loop, or
 * on per-queue loops the caller puts in (*out)->queue_loops before the transport is
 * created. Returns 0, or -1 with e naming the TAP and the problem.
 */
int net_create(struct virtio_device **out, const struct net_dev_config *cfg,
	       const struct guest_mem *mem, struct evloop *loop, struct err *e);
/*
 * The same on cfg->queues already open fds, one per pair: TAP queues (offloads and
 * queue attachment are then managed as for net_create) or anything else that keeps
 * packet boundaries, e.g. a SOCK_SEQPACKET socket in tests. cfg->tap only names the
 * device in logs and may be NULL. The fds are made non-blocking. On success the device
 * owns them (destroy closes them); on failure the caller still does.
 */
int net_create_fds(struct virtio_device **out, const struct net_dev_config *cfg,
		   const int *fds, const struct guest_mem *mem, struct evloop *loop,
		   struct err *e);

/* Counters since creation, summed over the queues (virtio/stats.h). */
struct net_stats {
	uint64_t tx_packets, tx_bytes; /* frames written to the TAP (bytes without header) */
	uint64_t tx_dropped;           /* bad header, bad chain, too short or too long */
	uint64_t tx_errors;            /* the TAP refused the write */
	uint64_t rx_packets, rx_bytes; /* frames given to the guest */
	uint64_t rx_dropped;           /* did not fit the guest's buffers, or queue disabled */
	uint64_t rx_errors;            /* bad packet or read error from the TAP */
	uint64_t rx_reads;             /* reads submitted to the TAP (io_uring, and the
					* non-blocking ones of a batch) */
	uint64_t ctrl_ok, ctrl_err;    /* control commands acknowledged OK / ERR */
	struct stats_hist tx_latency;  /* popped to the TAP write's completion (written or
					* failed; not the dropped ones) */
};

void net_get_stats(struct virtio_device *dev, struct net_stats *out);
/*
 * Change the MAC the config space reports. Only for an idle device (not started since
 * its last reset, else -EBUSY) that no driver sees yet: reads of the config take no lock.
 */
int net_set_mac(struct virtio_device *dev, const uint8_t mac[6]);

/* ---- header checks, exposed for tests ---- */

enum net_hdr_error {
	NET_HDR_OK = 0,
	NET_HDR_RUNT,         /* frame shorter than an Ethernet header */
	NET_HDR_OVERSIZED,    /* frame longer than NET_MAX_FRAME */
	NET_HDR_FLAGS,        /* unknown flag, or DATA_VALID / RSC_INFO from the driver */
	NET_HDR_CSUM_FEATURE, /* NEEDS_CSUM without the matching CSUM feature */
	NET_HDR_CSUM_RANGE,   /* csum_start + csum_offset + 2 past the end of the frame */
	NET_HDR_GSO_TYPE,     /* unknown GSO type, UDP/UFO, or ECN without a TCP type */
	NET_HDR_GSO_FEATURE,  /* TCPV4 / TCPV6 / ECN not negotiated */
	NET_HDR_GSO_CSUM,     /* GSO without NEEDS_CSUM */
	NET_HDR_GSO_SIZE,     /* GSO with gso_size 0 */
	NET_HDR_HDR_LEN,      /* hdr_len past the end of the frame */
	NET_HDR_NR
};

const char *net_hdr_strerror(enum net_hdr_error err);
/*
 * A transmit header from the guest (little endian, as in guest memory) for a frame of
 * frame_len bytes, under the negotiated features: checked against what the device
 * offered (virtio 1.2 5.1.6.2), and on success *out is what the TAP gets: flags, GSO
 * fields and, with NEEDS_CSUM, the checksum fields as the guest sent them; unused
 * fields zeroed (gso_size without GSO, csum fields without NEEDS_CSUM, num_buffers).
 */
enum net_hdr_error net_hdr_from_guest(const struct virtio_net_hdr_mrg_rxbuf *in,
				      uint64_t frame_len, uint64_t features,
				      struct virtio_net_hdr_mrg_rxbuf *out);
/*
 * A receive header from the TAP, made into what the guest may see: num_buffers set,
 * DATA_VALID cleared without GUEST_CSUM (the spec wants flags 0 then). A header the
 * guest cannot take (NEEDS_CSUM without GUEST_CSUM, a GSO type it did not negotiate)
 * is an error and the packet is dropped.
 */
enum net_hdr_error net_hdr_to_guest(struct virtio_net_hdr_mrg_rxbuf *hdr, uint64_t features,
				    uint16_t num_buffers);
/* TUN_F_* for TUNSETOFFLOAD: what the guest negotiated to receive. */
unsigned int net_tap_offloads(uint64_t features);

#endif
