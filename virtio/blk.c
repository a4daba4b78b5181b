// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk on io_uring. The guest-visible contract and the threading are in blk.h;
 * this file adds the decisions the spec leaves to the device:
 *
 * - Framing follows the descriptors' directions only (virtio 1.2 2.6.4): the header is
 *   the first 16 device-readable bytes wherever the driver split them, the status is
 *   the last device-writable byte, data lies in between. A chain without a
 *   device-writable byte cannot be answered: it is returned with used length 0 and a
 *   (rate-limited) warning, and the queue goes on. A chain whose header is short gets
 *   IOERR. Neither breaks the device: a buggy request must not take the disk away from
 *   the rest of the guest.
 * - Used length: every device-writable byte (data + status) for a successful IN, the id
 *   bytes + status for GET_ID, 1 (the status) otherwise. Drivers read the status.
 * - IOERR for ranges past the capacity (overflow-checked), IN/OUT data lengths that are
 *   not a multiple of 512, writes to a read-only disk, malformed DISCARD/WRITE_ZEROES
 *   (not exactly one segment, more than BLK_MAX_DWZ_SECTORS), and any backend error.
 *   UNSUPP for unknown types, DISCARD/WRITE_ZEROES when not offered, unknown segment
 *   flags and DISCARD with UNMAP (the spec's MUSTs).
 * - Short reads and writes are resubmitted for the rest; a 0-byte result is IOERR (the
 *   range was checked, so the file shrank under us).
 * - cache=none: a request whose buffers are not aligned for O_DIRECT (address to the
 *   file's DIO memory alignment, length to its offset alignment) goes through a
 *   page-aligned bounce buffer of at most 256 KiB, in as many steps as needed. The cap
 *   bounds what a guest can make us allocate (queue size x 256 KiB per queue).
 * - Requests in flight per queue never exceed the queue size: a driver that re-posts
 *   heads it has not got back is throttled, the rest is popped as requests complete.
 * - Interrupts: one decision (vq_should_notify, event-idx aware) per kick for the
 *   requests answered at once, and one per completion. Event idx already coalesces a
 *   burst of completions until the driver catches up.
 */
#include "virtio/blk.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "virtio/queue_io.h"

#define BLK_SECTOR 512U
#define BLK_MAX_IOV (BLK_SEG_MAX + 4) /* data + header + status, with room for splits */
#define BLK_BOUNCE_MAX (256U << 10)
#define BLK_BOUNCE_ALIGN 4096U
#define BLK_QUEUED (-1) /* a request handler submitted I/O; the status comes later */

#define BLK_WARN_BURST 5    /* warnings per queue per window... */
#define BLK_WARN_WINDOW 10  /* ...of this many seconds */

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

struct blk;
struct blk_queue;
struct blk_type;

static void blk_req_done(struct evloop_op *op, int res, bool more);

struct blk_req {
	struct evloop_op op; /* user_data of the request's SQE; op.opaque is the request */
	struct blk_queue *q;
	const struct blk_type *type;
	struct blk_req *prev, *next; /* in-flight list, or free list (next only) */
	uint16_t head;
	uint64_t start_ns;    /* when it was popped, for the latency histogram */
	uint8_t *status;      /* the last device-writable byte, in guest memory */
	uint32_t used_len;    /* used length on success */
	uint64_t sector;
	struct iovec *out;    /* device-readable buffers after the header */
	unsigned int nr_out;
	uint64_t out_len;
	struct iovec *in;     /* device-writable buffers before the status byte */
	unsigned int nr_in;
	uint64_t in_len;
	/* I/O in progress */
	struct iovec *data;   /* out or in; advanced past what is done without a bounce */
	unsigned int nr_data;
	uint64_t offset, len, done;
	int fa_mode;
	uint8_t *bounce;
	size_t bounce_size;
	struct iovec bounce_iov;
	struct iovec iov[BLK_MAX_IOV];
};

struct blk_type {
	uint32_t type;
	enum blk_req_kind kind;
	const char *name;
	int (*start)(struct blk_req *r);          /* status, or BLK_QUEUED */
	int (*done)(struct blk_req *r, int res);  /* status, or BLK_QUEUED (resubmitted) */
};

struct blk_queue {
	struct blk *blk;
	unsigned int index;
	struct virtqueue *vq;
	pthread_mutex_t lock;  /* everything below, and the virtqueue */
	struct queue_io io;    /* running, stopping, requests in flight (queue_io.h) */
	bool throttled;        /* in_flight reached the queue size with more available */
	bool pushed;           /* used entries added since the last interrupt decision */
	bool broken_reported;
	struct blk_req *inflight, *free;
	struct blk_stats st;   /* relaxed atomics (stats.h): read by blk_get_stats anywhere */
	time_t warn_window;
	unsigned int warn_count, warn_suppressed;
};

struct blk {
	struct virtio_device dev;
	char *path;
	int fd;
	bool readonly, direct, discard;
	bool no_zero_range;     /* the file system said EOPNOTSUPP to ZERO_RANGE */
	uint64_t size;          /* bytes */
	uint32_t blk_size;      /* advertised logical block size */
	uint32_t dio_mem_align; /* O_DIRECT buffer address alignment */
	uint32_t discard_align; /* sectors */
	uint64_t features;
	char id[BLK_ID_BYTES];
	struct virtio_blk_config config;
	struct blk_queue q[];
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

static void iov_from_buf(const struct iovec *iov, unsigned int nr, uint64_t skip,
			 const void *buf, size_t len)
{
	const uint8_t *p = buf;

	for (unsigned int i = 0; i < nr && len; i++) {
		size_t n;

		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		n = MIN(iov[i].iov_len - skip, len);
		memcpy((uint8_t *)iov[i].iov_base + skip, p, n);
		p += n;
		len -= n;
		skip = 0;
	}
}

static bool iov_aligned(const struct iovec *iov, unsigned int nr, uint32_t addr_align,
			uint32_t len_align)
{
	for (unsigned int i = 0; i < nr; i++)
		if ((uintptr_t)iov[i].iov_base % addr_align || iov[i].iov_len % len_align)
			return false;
	return true;
}

/* ---- logging ---- */

/* A guest can make every request fail: at most BLK_WARN_BURST lines per window. */
__attribute__((format(printf, 2, 3)))
static void blk_warn(struct blk_queue *q, const char *fmt, ...)
{
	struct timespec now;
	char msg[256];
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - q->warn_window >= BLK_WARN_WINDOW) {
		if (q->warn_suppressed)
			log_warn("blk '%s' queue %u: %u similar warnings suppressed",
				 q->blk->path, q->index, q->warn_suppressed);
		q->warn_window = now.tv_sec;
		q->warn_count = 0;
		q->warn_suppressed = 0;
	}
	if (q->warn_count >= BLK_WARN_BURST) {
		q->warn_suppressed++;
		return;
	}
	q->warn_count++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("blk '%s' queue %u: %s", q->blk->path, q->index, msg);
}

/* ---- requests: allocation and bookkeeping (queue lock held) ---- */

static struct blk_req *blk_req_get(struct blk_queue *q)
{
	struct blk_req *r = q->free;

	if (r) {
		q->free = r->next;
	} else {
		r = malloc(sizeof(*r));
		if (!r)
			return NULL;
	}
	memset(r, 0, offsetof(struct blk_req, iov));
	r->op.cb = blk_req_done;
	r->op.opaque = r;
	r->q = q;
	r->used_len = 1;
	return r;
}

static void blk_req_put(struct blk_queue *q, struct blk_req *r)
{
	free(r->bounce);
	r->bounce = NULL;
	r->next = q->free;
	q->free = r;
}

static void blk_inflight_add(struct blk_queue *q, struct blk_req *r)
{
	r->prev = NULL;
	r->next = q->inflight;
	if (q->inflight)
		q->inflight->prev = r;
	q->inflight = r;
	q->io.in_flight++;
}

static void blk_inflight_del(struct blk_queue *q, struct blk_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		q->inflight = r->next;
	if (r->next)
		r->next->prev = r->prev;
	q->io.in_flight--;
}

/* ---- requests: completion to the guest (queue lock held) ---- */

static void blk_count(struct blk_queue *q, const struct blk_req *r, int status)
{
	enum blk_req_kind kind = r->type ? r->type->kind : BLK_REQ_OTHER;

	stats_add(&q->st.requests[kind], 1);
	if (status == VIRTIO_BLK_S_OK && kind == BLK_REQ_READ)
		stats_add(&q->st.read_bytes, r->len);
	else if (status == VIRTIO_BLK_S_OK && kind == BLK_REQ_WRITE)
		stats_add(&q->st.write_bytes, r->len);
	else if (status == VIRTIO_BLK_S_IOERR)
		stats_add(&q->st.ioerr, 1);
	else if (status == VIRTIO_BLK_S_UNSUPP)
		stats_add(&q->st.unsupp, 1);
	stats_hist_add(&q->st.latency, r->start_ns);
}

static void blk_finish(struct blk_queue *q, struct blk_req *r, int status)
{
	blk_count(q, r, status);
	*r->status = (uint8_t)status;
	vq_push(q->vq, r->head, status == VIRTIO_BLK_S_OK ? r->used_len : 1);
	q->pushed = true;
	blk_req_put(q, r);
}

/* A chain we cannot answer: back with used length 0. */
static void blk_unanswered(struct blk_queue *q, uint16_t head)
{
	stats_add(&q->st.unanswered, 1);
	vq_push(q->vq, head, 0);
	q->pushed = true;
}

static void blk_notify(struct blk_queue *q)
{
	if (!q->pushed)
		return;
	q->pushed = false;
	if (vq_should_notify(q->vq))
		virtio_queue_interrupt(&q->blk->dev, q->index);
}

/* ---- request types ---- */

/* Byte offset of [sector, +len) if it lies inside the disk. */
static bool blk_range_ok(const struct blk *b, uint64_t sector, uint64_t len, uint64_t *offset)
{
	uint64_t off, end;

	if (__builtin_mul_overflow(sector, (uint64_t)BLK_SECTOR, &off) ||
	    __builtin_add_overflow(off, len, &end) || end > b->size)
		return false;
	*offset = off;
	return true;
}

static struct io_uring_sqe *blk_sqe(struct blk_req *r)
{
	struct io_uring_sqe *sqe = evloop_sqe(queue_io_loop(&r->q->io), &r->op);

	if (!sqe)
		blk_warn(r->q, "%s: io_uring submission queue full", r->type->name);
	return sqe;
}

static int blk_submit_rw(struct blk_req *r)
{
	struct blk *b = r->q->blk;
	bool write = r->type->type == VIRTIO_BLK_T_OUT;
	const struct iovec *iov = r->data;
	unsigned int nr = r->nr_data;
	struct io_uring_sqe *sqe;

	if (r->bounce) {
		size_t chunk = MIN(r->len - r->done, r->bounce_size);

		r->bounce_iov = (struct iovec){ .iov_base = r->bounce, .iov_len = chunk };
		iov = &r->bounce_iov;
		nr = 1;
	}
	sqe = blk_sqe(r);
	if (!sqe)
		return VIRTIO_BLK_S_IOERR;
	if (write && r->bounce)
		iov_to_buf(r->data, r->nr_data, r->done, r->bounce, r->bounce_iov.iov_len);
	if (write)
		io_uring_prep_writev(sqe, b->fd, iov, nr, r->offset + r->done);
	else
		io_uring_prep_readv(sqe, b->fd, iov, nr, r->offset + r->done);
	return BLK_QUEUED;
}

/* O_DIRECT needs aligned buffers; the guest's may not be. */
static int blk_bounce_alloc(struct blk_req *r)
{
	struct blk *b = r->q->blk;
	size_t size = MIN(r->len, BLK_BOUNCE_MAX);
	size_t align = MAX(b->dio_mem_align, BLK_BOUNCE_ALIGN);

	size = (size + align - 1) / align * align;
	r->bounce = aligned_alloc(align, size);
	if (!r->bounce)
		return -ENOMEM;
	r->bounce_size = size;
	return 0;
}

static int blk_start_rw(struct blk_req *r, struct iovec *data, unsigned int nr, uint64_t len)
{
	struct blk *b = r->q->blk;

	if (len % BLK_SECTOR)
		return VIRTIO_BLK_S_IOERR;
	if (!blk_range_ok(b, r->sector, len, &r->offset))
		return VIRTIO_BLK_S_IOERR;
	r->data = data;
	r->nr_data = nr;
	r->len = len;
	if (len == 0)
		return VIRTIO_BLK_S_OK;
	if (b->direct && !iov_aligned(data, nr, b->dio_mem_align, b->blk_size) &&
	    blk_bounce_alloc(r)) {
		blk_warn(r->q, "%s: no memory for a bounce buffer", r->type->name);
		return VIRTIO_BLK_S_IOERR;
	}
	return blk_submit_rw(r);
}

static int blk_start_read(struct blk_req *r)
{
	r->used_len = r->in_len + 1;
	return blk_start_rw(r, r->in, r->nr_in, r->in_len);
}

static int blk_start_write(struct blk_req *r)
{
	/* The spec's MUST: no data written on a read-only device. */
	if (r->q->blk->readonly)
		return VIRTIO_BLK_S_IOERR;
	return blk_start_rw(r, r->out, r->nr_out, r->out_len);
}

static int blk_rw_done(struct blk_req *r, int res)
{
	if (res <= 0) {
		blk_warn(r->q, "%s of %llu bytes at offset %llu: %s", r->type->name,
			 (unsigned long long)(r->len - r->done),
			 (unsigned long long)(r->offset + r->done),
			 res ? strerror(-res) : "unexpected end of file");
		return VIRTIO_BLK_S_IOERR;
	}
	if (r->bounce && r->type->type == VIRTIO_BLK_T_IN)
		iov_from_buf(r->data, r->nr_data, r->done, r->bounce, res);
	if (!r->bounce)
		iov_skip(&r->data, &r->nr_data, res);
	r->done += res;
	if (r->done < r->len)
		return blk_submit_rw(r);
	return VIRTIO_BLK_S_OK;
}

static int blk_start_flush(struct blk_req *r)
{
	struct io_uring_sqe *sqe;

	/* Nothing was written through this file: nothing to flush. */
	if (r->q->blk->readonly)
		return VIRTIO_BLK_S_OK;
	sqe = blk_sqe(r);
	if (!sqe)
		return VIRTIO_BLK_S_IOERR;
	io_uring_prep_fsync(sqe, r->q->blk->fd, IORING_FSYNC_DATASYNC);
	return BLK_QUEUED;
}

static int blk_errno_done(struct blk_req *r, int res)
{
	if (res < 0) {
		blk_warn(r->q, "%s: %s", r->type->name, strerror(-res));
		return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

static int blk_get_id(struct blk_req *r)
{
	size_t n = MIN(r->in_len, (uint64_t)BLK_ID_BYTES);

	if (n == 0)
		return VIRTIO_BLK_S_IOERR;
	iov_from_buf(r->in, r->nr_in, 0, r->q->blk->id, n);
	r->used_len = n + 1;
	return VIRTIO_BLK_S_OK;
}

static int blk_submit_fallocate(struct blk_req *r)
{
	struct io_uring_sqe *sqe = blk_sqe(r);

	if (!sqe)
		return VIRTIO_BLK_S_IOERR;
	io_uring_prep_fallocate(sqe, r->q->blk->fd, r->fa_mode, r->offset, r->len);
	return BLK_QUEUED;
}

static int blk_start_dwz(struct blk_req *r, bool discard)
{
	struct blk *b = r->q->blk;
	struct virtio_blk_discard_write_zeroes seg;
	uint32_t flags, sectors;
	bool unmap;

	if (!b->discard)
		return VIRTIO_BLK_S_UNSUPP;
	/* max_discard_seg = max_write_zeroes_seg = 1 */
	if (r->out_len != sizeof(seg))
		return VIRTIO_BLK_S_IOERR;
	iov_to_buf(r->out, r->nr_out, 0, &seg, sizeof(seg));
	flags = le32toh(seg.flags);
	unmap = flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	if ((flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) || (discard && unmap))
		return VIRTIO_BLK_S_UNSUPP;
	sectors = le32toh(seg.num_sectors);
	if (sectors > BLK_MAX_DWZ_SECTORS)
		return VIRTIO_BLK_S_IOERR;
	r->len = (uint64_t)sectors * BLK_SECTOR;
	if (!blk_range_ok(b, le64toh(seg.sector), r->len, &r->offset))
		return VIRTIO_BLK_S_IOERR;
	if (sectors == 0)
		return VIRTIO_BLK_S_OK;
	r->fa_mode = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE;
	if (!discard && !unmap && !__atomic_load_n(&b->no_zero_range, __ATOMIC_RELAXED))
		r->fa_mode = FALLOC_FL_KEEP_SIZE | FALLOC_FL_ZERO_RANGE;
	return blk_submit_fallocate(r);
}

static int blk_start_discard(struct blk_req *r)
{
	return blk_start_dwz(r, true);
}

static int blk_start_write_zeroes(struct blk_req *r)
{
	return blk_start_dwz(r, false);
}

static int blk_fallocate_done(struct blk_req *r, int res)
{
	/* A hole reads back as zeroes too, and write_zeroes_may_unmap says we may. */
	if (res == -EOPNOTSUPP && (r->fa_mode & FALLOC_FL_ZERO_RANGE)) {
		__atomic_store_n(&r->q->blk->no_zero_range, true, __ATOMIC_RELAXED);
		r->fa_mode = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE;
		return blk_submit_fallocate(r);
	}
	return blk_errno_done(r, res);
}

static const struct blk_type blk_types[] = {
	{ VIRTIO_BLK_T_IN, BLK_REQ_READ, "read", blk_start_read, blk_rw_done },
	{ VIRTIO_BLK_T_OUT, BLK_REQ_WRITE, "write", blk_start_write, blk_rw_done },
	{ VIRTIO_BLK_T_FLUSH, BLK_REQ_FLUSH, "flush", blk_start_flush, blk_errno_done },
	{ VIRTIO_BLK_T_GET_ID, BLK_REQ_GET_ID, "get-id", blk_get_id, NULL },
	{ VIRTIO_BLK_T_DISCARD, BLK_REQ_DISCARD, "discard", blk_start_discard,
	  blk_fallocate_done },
	{ VIRTIO_BLK_T_WRITE_ZEROES, BLK_REQ_WRITE_ZEROES, "write-zeroes",
	  blk_start_write_zeroes, blk_fallocate_done },
};

static const struct blk_type *blk_type_find(uint32_t type)
{
	for (size_t i = 0; i < sizeof(blk_types) / sizeof(blk_types[0]); i++)
		if (blk_types[i].type == type)
			return &blk_types[i];
	return NULL;
}

/* ---- requests: parsing and dispatch (queue lock held, loop thread) ---- */

/*
 * Find the status byte and the header. Returns false if there is no device-writable
 * byte; *hdr_ok tells whether a whole header was there.
 */
static bool blk_parse(struct blk_req *r, const struct vq_chain *c,
		      struct virtio_blk_outhdr *hdr, bool *hdr_ok)
{
	struct iovec *last;

	if (c->nr_in == 0)
		return false;
	r->head = c->head;
	r->in = r->iov + c->nr_out;
	r->nr_in = c->nr_in;
	r->in_len = c->in_len - 1;
	/* queue.c makes no iovec for a zero-length descriptor: last has a byte. */
	last = &r->in[r->nr_in - 1];
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	if (--last->iov_len == 0)
		r->nr_in--;

	r->out = r->iov;
	r->nr_out = c->nr_out;
	r->out_len = c->out_len;
	*hdr_ok = r->out_len >= sizeof(*hdr);
	if (!*hdr_ok)
		return true;
	iov_to_buf(r->out, r->nr_out, 0, hdr, sizeof(*hdr));
	iov_skip(&r->out, &r->nr_out, sizeof(*hdr));
	r->out_len -= sizeof(*hdr);
	return true;
}

static void blk_start(struct blk_queue *q, struct blk_req *r, const struct vq_chain *c)
{
	struct virtio_blk_outhdr hdr;
	bool hdr_ok;
	int status;

	r->start_ns = clock_monotonic_ns();
	if (!blk_parse(r, c, &hdr, &hdr_ok)) {
		blk_warn(q, "request %u has no device-writable status byte: returned unanswered",
			 c->head);
		blk_unanswered(q, c->head);
		blk_req_put(q, r);
		return;
	}
	if (!hdr_ok) {
		blk_finish(q, r, VIRTIO_BLK_S_IOERR);
		return;
	}
	r->sector = le64toh(hdr.sector);
	r->type = blk_type_find(le32toh(hdr.type));
	if (!r->type) {
		blk_finish(q, r, VIRTIO_BLK_S_UNSUPP);
		return;
	}
	status = r->type->start(r);
	if (status != BLK_QUEUED) {
		blk_finish(q, r, status);
		return;
	}
	blk_inflight_add(q, r);
}

enum blk_drain { DRAIN_EMPTY, DRAIN_FULL, DRAIN_BROKEN };

static enum blk_drain blk_drain(struct blk_queue *q)
{
	for (;;) {
		struct vq_chain chain;
		struct blk_req *r;
		int ret;

		if (q->io.in_flight >= q->vq->size)
			return vq_has_available(q->vq) ? DRAIN_FULL : DRAIN_EMPTY;
		r = blk_req_get(q);
		if (!r) {
			blk_warn(q, "out of memory for requests");
			/* Completions retry; with none pending the next kick does. */
			return q->io.in_flight ? DRAIN_FULL : DRAIN_EMPTY;
		}
		ret = vq_pop(q->vq, &chain, r->iov, BLK_MAX_IOV);
		if (ret == 0 || ret == -EINVAL) {
			blk_req_put(q, r);
			return ret ? DRAIN_BROKEN : DRAIN_EMPTY;
		}
		if (ret < 0) {
			blk_warn(q, "request %u has more than %u buffers: returned unanswered",
				 chain.head, BLK_MAX_IOV);
			blk_req_put(q, r);
			blk_unanswered(q, chain.head);
			continue;
		}
		blk_start(q, r, &chain);
	}
}

/* Pop and start everything available, with kicks suppressed meanwhile. */
static void blk_process(struct blk_queue *q)
{
	enum blk_drain res;

	for (;;) {
		vq_disable_notify(q->vq);
		res = blk_drain(q);
		if (res != DRAIN_EMPTY)
			break;
		if (!vq_enable_notify(q->vq))
			break;
	}
	/* Full: kicks stay off, each completion drains again. */
	q->throttled = res == DRAIN_FULL;
	if (res == DRAIN_BROKEN && !q->broken_reported) {
		q->broken_reported = true;
		q->blk->dev.transport->needs_reset(&q->blk->dev);
	}
	blk_notify(q);
}

/* ---- event loop entry points ---- */

static void blk_req_done(struct evloop_op *op, int res, bool more)
{
	struct blk_req *r = op->opaque;
	struct blk_queue *q = r->q;
	int status;

	pthread_mutex_lock(&q->lock);
	if (!q->io.running) {
		/* Stopped: the guest gets nothing, the waiting reset gets its wake-up. */
		blk_inflight_del(q, r);
		blk_req_put(q, r);
		queue_io_wake_if_idle(&q->io);
		pthread_mutex_unlock(&q->lock);
		return;
	}
	status = r->type->done(r, res);
	if (status != BLK_QUEUED) {
		blk_inflight_del(q, r);
		blk_finish(q, r, status);
		if (q->throttled && !q->io.stopping)
			blk_process(q);
		else
			blk_notify(q);
		/* A stopping queue's waiter wants the last completion, pushed and signalled. */
		if (q->io.stopping)
			queue_io_wake_if_idle(&q->io);
	}
	pthread_mutex_unlock(&q->lock);
}

static void blk_queue_notify(struct virtio_device *dev, unsigned int index)
{
	struct blk *b = dev->priv;
	struct blk_queue *q;

	if (index >= dev->nr_queues)
		return;
	q = &b->q[index];
	pthread_mutex_lock(&q->lock);
	/* A kick that raced a reset or a stop, or came before activate, is dropped here. */
	if (q->io.running && !q->io.stopping)
		blk_process(q);
	pthread_mutex_unlock(&q->lock);
}

/*
 * On the loop (queue_io's cancel callback): ask io_uring to cancel the stopped queue's
 * requests. Reads and writes a worker already runs finish anyway.
 */
static void blk_cancel(void *arg)
{
	struct blk_queue *q = arg;

	for (struct blk_req *r = q->inflight; r; r = r->next)
		queue_io_cancel_op(&q->io, &r->op);
}

/* ---- stopping ---- */

static void blk_wait_idle(struct blk_queue *q)
{
	pthread_mutex_lock(&q->lock);
	queue_io_wait_quiet(&q->io);
	pthread_mutex_unlock(&q->lock);
}

/*
 * Stop every queue first, then wait for each: with per-queue loops the cancellations
 * run on all of them at once. Each queue's cancellation goes to its own loop.
 */
static void blk_stop(struct blk *b, unsigned int first, unsigned int count)
{
	for (unsigned int i = first; i < first + count; i++)
		queue_io_halt(&b->q[i].io);
	for (unsigned int i = first; i < first + count; i++)
		blk_wait_idle(&b->q[i]);
}

/* ---- virtio_device_ops ---- */

static uint64_t blk_features(struct virtio_device *dev)
{
	struct blk *b = dev->priv;

	return b->features;
}

static void blk_config_read(struct virtio_device *dev, uint32_t offset, void *buf,
			    uint32_t len)
{
	struct blk *b = dev->priv;

	/* Immutable after create: no lock. The transport checked offset + len. */
	memcpy(buf, (const uint8_t *)&b->config + offset, len);
}

static void blk_config_write(struct virtio_device *dev, uint32_t offset, const void *buf,
			     uint32_t len)
{
	/* Every field is read-only without CONFIG_WCE. */
	log_debug("blk '%s': ignored config write at %u", ((struct blk *)dev->priv)->path,
		  offset);
}

static int blk_activate(struct virtio_device *dev)
{
	struct blk *b = dev->priv;

	for (unsigned int i = 0; i < dev->nr_queues; i++) {
		struct blk_queue *q = &b->q[i];

		pthread_mutex_lock(&q->lock);
		if (!q->io.running && dev->vqs[i].active) {
			q->io.running = true;
			q->throttled = false;
			q->pushed = false;
			q->broken_reported = false;
		}
		pthread_mutex_unlock(&q->lock);
	}
	return 0;
}

static void blk_reset(struct virtio_device *dev)
{
	blk_stop(dev->priv, 0, dev->nr_queues);
}

static void blk_queue_reset(struct virtio_device *dev, unsigned int index)
{
	if (index < dev->nr_queues)
		blk_stop(dev->priv, index, 1);
}

/*
 * Stop one queue keeping its place (device.h): nothing more is popped, the requests in
 * flight complete as usual on the loop (pushed, signalled), and once the last one is
 * reaped the queue stops running. Every popped chain has then been pushed, so used_idx
 * == last_avail_idx. A loop stopped for good abandons them, as for reset.
 */
static void blk_queue_stop(struct virtio_device *dev, unsigned int index)
{
	struct blk *b = dev->priv;
	struct blk_queue *q;

	if (index >= dev->nr_queues)
		return;
	q = &b->q[index];
	pthread_mutex_lock(&q->lock);
	q->io.stopping = true;
	pthread_mutex_unlock(&q->lock);
	blk_wait_idle(q);
	pthread_mutex_lock(&q->lock);
	q->io.running = false;
	q->io.stopping = false;
	pthread_mutex_unlock(&q->lock);
}

static void blk_free(struct blk *b)
{
	for (unsigned int i = 0; i < b->dev.nr_queues; i++) {
		struct blk_queue *q = &b->q[i];

		while (q->free) {
			struct blk_req *r = q->free;

			q->free = r->next;
			free(r);
		}
		/*
		 * Requests still in flight were abandoned with the loop stopped: the kernel
		 * may still write their buffers, so they are left allocated.
		 */
		queue_io_destroy(&q->io);
		pthread_mutex_destroy(&q->lock);
	}
	if (b->fd >= 0)
		close(b->fd);
	free(b->dev.vqs);
	free(b->path);
	free(b);
}

static void blk_destroy(struct virtio_device *dev)
{
	struct blk *b = dev->priv;

	/* Cheap when idle; makes destroy safe even if the transport did not reset. */
	blk_stop(b, 0, dev->nr_queues);
	blk_free(b);
}

static void blk_log_state(struct virtio_device *dev)
{
	struct blk *b = dev->priv;

	for (unsigned int i = 0; i < dev->nr_queues; i++) {
		struct blk_queue *q = &b->q[i];
		char detail[64];

		pthread_mutex_lock(&q->lock);
		snprintf(detail, sizeof(detail), "pushed %d, throttled %d", q->pushed,
			 q->throttled);
		queue_io_log_state(&q->io, q->vq, detail);
		pthread_mutex_unlock(&q->lock);
	}
}

static const struct virtio_device_ops blk_ops = {
	.features = blk_features,
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.activate = blk_activate,
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
	.queue_reset = blk_queue_reset,
	.queue_stop = blk_queue_stop,
	.destroy = blk_destroy,
	.log_state = blk_log_state,
};

/* ---- metrics ---- */

void blk_get_stats(struct virtio_device *dev, struct blk_stats *out)
{
	struct blk *b = dev->priv;

	memset(out, 0, sizeof(*out));
	for (unsigned int i = 0; i < dev->nr_queues; i++) {
		const struct blk_stats *st = &b->q[i].st;

		for (unsigned int k = 0; k < BLK_REQ_KINDS; k++)
			out->requests[k] += stats_get(&st->requests[k]);
		out->read_bytes += stats_get(&st->read_bytes);
		out->write_bytes += stats_get(&st->write_bytes);
		out->ioerr += stats_get(&st->ioerr);
		out->unsupp += stats_get(&st->unsupp);
		out->unanswered += stats_get(&st->unanswered);
		stats_hist_sum(&out->latency, &st->latency);
	}
}

const char *blk_req_kind_name(enum blk_req_kind kind)
{
	static const char *const names[BLK_REQ_KINDS] = {
		[BLK_REQ_READ] = "read",
		[BLK_REQ_WRITE] = "write",
		[BLK_REQ_FLUSH] = "flush",
		[BLK_REQ_DISCARD] = "discard",
		[BLK_REQ_WRITE_ZEROES] = "write_zeroes",
		[BLK_REQ_GET_ID] = "get_id",
		[BLK_REQ_OTHER] = "other",
	};

	return kind < BLK_REQ_KINDS ? names[kind] : "other";
}

/* ---- creation ---- */

static int blk_check_config(const struct blk_config *cfg, struct err *e)
{
	const char *path = cfg->path ? cfg->path : "";

	if (!cfg->path || !cfg->path[0])
		return err_set(e, "disk: no image path given");
	if (cfg->queues < 1 || cfg->queues > BLK_MAX_QUEUES)
		return err_set(e, "disk '%s': %u queues, must be 1..%u", path, cfg->queues,
			       BLK_MAX_QUEUES);
	if (cfg->id && strlen(cfg->id) > BLK_ID_BYTES)
		return err_set(e, "disk '%s': id '%s' is longer than %u bytes", path, cfg->id,
			       BLK_ID_BYTES);
	for (const char *p = cfg->id; p && *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return err_set(e, "disk '%s': id must be printable ASCII", path);
	return 0;
}

static int blk_open(struct blk *b, const struct blk_config *cfg, struct err *e)
{
	int flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;

	if (cfg->cache == BLK_CACHE_NONE)
		flags |= O_DIRECT;
	b->fd = open(cfg->path, flags);
	if (b->fd >= 0)
		return 0;
	if (errno == EINVAL && (flags & O_DIRECT))
		return err_set(e, "disk '%s': the file system refuses O_DIRECT "
			       "(use cache=writeback)", cfg->path);
	if (errno == EISDIR)
		return err_set(e, "disk '%s': a directory, not a regular file or block device",
			       cfg->path);
	return err_set(e, "disk '%s': %s", cfg->path, strerror(errno));
}

static int blk_size_check(struct blk *b, const struct stat *st, struct err *e)
{
	if (S_ISREG(st->st_mode)) {
		b->size = st->st_size;
	} else if (S_ISBLK(st->st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &b->size) < 0)
			return err_set(e, "disk '%s': cannot get the device size: %s", b->path,
				       strerror(errno));
	} else {
		return err_set(e, "disk '%s': not a regular file or block device", b->path);
	}
	if (b->size == 0)
		return err_set(e, "disk '%s': empty", b->path);
	if (b->size % BLK_SECTOR)
		return err_set(e, "disk '%s': size %llu is not a multiple of %u bytes", b->path,
			       (unsigned long long)b->size, BLK_SECTOR);
	return 0;
}

/* What O_DIRECT accepts here (statx STATX_DIOALIGN, Linux 6.1); 512 if unknown. */
static void blk_probe_dio(struct blk *b)
{
	struct statx stx;

	b->blk_size = BLK_SECTOR;
	b->dio_mem_align = BLK_SECTOR;
	if (!b->direct)
		return;
	if (statx(b->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) < 0 ||
	    !(stx.stx_mask & STATX_DIOALIGN) || !stx.stx_dio_offset_align)
		return;
	b->blk_size = MAX(stx.stx_dio_offset_align, BLK_SECTOR);
	b->dio_mem_align = MAX(stx.stx_dio_mem_align, 1U);
}

/*
 * Does the file system punch holes? Ask past the end of the file: there is no data to
 * lose there and KEEP_SIZE keeps the size, while file systems check the mode before
 * the range, so the answer is about the mode. (ZERO_RANGE is not probed: past the end
 * it would allocate blocks. It falls back to a hole at run time.)
 */
static void blk_probe_discard(struct blk *b, const struct stat *st)
{
	blksize_t bs = st->st_blksize > 0 ? st->st_blksize : BLK_SECTOR;

	b->discard = false;
	if (b->readonly || !S_ISREG(st->st_mode))
		return;
	if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, st->st_size, bs))
		return;
	b->discard = true;
	b->discard_align = MAX((uint32_t)(bs / BLK_SECTOR), 1U);
}

static void blk_init_config(struct blk *b, unsigned int queues)
{
	struct virtio_blk_config *c = &b->config;

	b->features = VIRTIO_COMMON_FEATURES | (1ULL << VIRTIO_BLK_F_SIZE_MAX) |
		      (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
		      (1ULL << VIRTIO_BLK_F_FLUSH);
	if (b->readonly)
		b->features |= 1ULL << VIRTIO_BLK_F_RO;
	if (queues > 1)
		b->features |= 1ULL << VIRTIO_BLK_F_MQ;
	c->capacity = htole64(b->size / BLK_SECTOR);
	c->size_max = htole32(BLK_SIZE_MAX);
	c->seg_max = htole32(BLK_SEG_MAX);
	c->blk_size = htole32(b->blk_size);
	c->num_queues = htole16(queues);
	if (!b->discard)
		return;
	b->features |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	c->max_discard_sectors = htole32(BLK_MAX_DWZ_SECTORS);
	c->max_discard_seg = htole32(1);
	c->discard_sector_alignment = htole32(b->discard_align);
	c->max_write_zeroes_sectors = htole32(BLK_MAX_DWZ_SECTORS);
	c->max_write_zeroes_seg = htole32(1);
	c->write_zeroes_may_unmap = 1;
}

static int blk_init_queues(struct blk *b, unsigned int queues)
{
	b->dev.vqs = calloc(queues, sizeof(*b->dev.vqs));
	if (!b->dev.vqs)
		return -ENOMEM;
	b->dev.nr_queues = queues;
	for (unsigned int i = 0; i < queues; i++) {
		struct blk_queue *q = &b->q[i];
		char name[24];

		b->dev.vqs[i].max_size = BLK_QUEUE_SIZE;
		q->blk = b;
		q->index = i;
		q->vq = &b->dev.vqs[i];
		pthread_mutex_init(&q->lock, NULL);
		snprintf(name, sizeof(name), "queue %u", i);
		queue_io_init(&q->io, &q->lock, &b->dev, i, blk_cancel, q, "blk", b->path, name);
	}
	return 0;
}

int blk_create(struct virtio_device **out, const struct blk_config *cfg,
	       const struct guest_mem *mem, struct evloop *loop, struct err *e)
{
	struct stat st;
	struct blk *b;

	if (blk_check_config(cfg, e))
		return -1;
	b = calloc(1, sizeof(*b) + cfg->queues * sizeof(b->q[0]));
	if (!b)
		return err_set(e, "disk '%s': out of memory", cfg->path);
	b->fd = -1;
	b->path = strdup(cfg->path);
	b->readonly = cfg->readonly;
	b->direct = cfg->cache == BLK_CACHE_NONE;
	if (!b->path || blk_init_queues(b, cfg->queues)) {
		err_set(e, "disk '%s': out of memory", cfg->path);
		goto fail;
	}
	if (blk_open(b, cfg, e))
		goto fail;
	if (fstat(b->fd, &st) < 0) {
		err_set(e, "disk '%s': %s", cfg->path, strerror(errno));
		goto fail;
	}
	if (blk_size_check(b, &st, e))
		goto fail;
	blk_probe_dio(b);
	blk_probe_discard(b, &st);
	blk_init_config(b, cfg->queues);
	if (cfg->id)
		memcpy(b->id, cfg->id, strlen(cfg->id)); /* NUL-padded by calloc */

	b->dev.name = "blk";
	b->dev.device_type = VIRTIO_ID_BLOCK;
	b->dev.ops = &blk_ops;
	b->dev.priv = b;
	b->dev.config_size = sizeof(b->config);
	b->dev.mem = mem;
	b->dev.loop = loop;
	*out = &b->dev;
	return 0;
fail:
	blk_free(b);
	return -1;
}
