// SPDX-License-Identifier: Apache-2.0
/*
 * Split virtqueues, device side (virtio 1.2 section 2.7). The contract is in queue.h;
 * this file adds the decisions the spec leaves to the device:
 *
 * - A zero-length descriptor is accepted and produces no iovec: it names no guest
 *   memory, so its address is not looked at. It still counts towards the chain length
 *   and its WRITE flag still obeys the readable-before-writable rule. (Rejecting it, as
 *   QEMU does, would break a queue over a quirk that cannot hurt the host.)
 * - Direct descriptors may precede the one that points at an indirect table (the spec's
 *   "zero or more normal chained descriptors followed by a single descriptor with
 *   VIRTQ_DESC_F_INDIRECT"). The WRITE flag of that descriptor is ignored, as the spec
 *   requires. Indirect tables need no particular alignment.
 * - A chain is validated to its end even when it has more buffers than the caller's
 *   iovec array: -ENOBUFS means "well formed, too many buffers", and a malformed chain is
 *   -EINVAL however many buffers it has.
 * - Each direction's total length must fit in 32 bits (the used length is an le32).
 * - A broken queue refuses new chains but still completes the ones popped before the
 *   break (vq_push, vq_should_notify): their buffers were validated, and the driver is
 *   better off getting them back before it resets the queue.
 *
 * Everything the driver writes is read exactly once into a local before it is checked
 * and used, so a driver rewriting a descriptor under our feet cannot change a value
 * between its check and its use.
 */
#include "virtio/queue.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_ring.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"

#define DESC_SIZE sizeof(struct vring_desc) /* 16 */
/* next fields are 16 bits wide: no acyclic chain in a table visits more entries. */
#define INDIRECT_MAX_REACHABLE 65536U

/* One load the compiler may neither tear, repeat nor elide. */
#define READ_ONCE(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define WRITE_ONCE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* A descriptor as read out of guest memory, in host byte order. */
struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* State of one chain walk. */
struct walk {
	struct vq_chain *chain;
	struct iovec *iov;
	unsigned int max_iov;
	unsigned int nr_out, nr_in; /* buffers seen, may exceed max_iov */
	bool seen_in;               /* a device-writable descriptor came already */
};

void vq_reset(struct virtqueue *vq)
{
	uint16_t max_size = vq->max_size;

	memset(vq, 0, sizeof(*vq));
	vq->max_size = max_size;
}

static uint64_t avail_bytes(uint16_t size, bool event_idx)
{
	/* flags, idx, ring[size], then used_event with event idx */
	return 4 + 2ULL * size + (event_idx ? 2 : 0);
}

static uint64_t used_bytes(uint16_t size, bool event_idx)
{
	/* flags, idx, ring[size] of {id, len}, then avail_event with event idx */
	return 4 + 8ULL * size + (event_idx ? 2 : 0);
}

int vq_activate(struct virtqueue *vq, const struct guest_mem *mem, bool event_idx,
		bool indirect)
{
	uint16_t size = vq->size;
	void *desc, *avail, *used;

	/* A failed activation must not leave an earlier mapping usable. */
	vq->active = false;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	if (vq->max_size == 0 || vq->max_size > VQ_MAX_SIZE)
		return -EINVAL;
	if (size == 0 || size > vq->max_size || (size & (size - 1)))
		return -EINVAL;
	if (vq->desc_addr % VRING_DESC_ALIGN_SIZE || vq->avail_addr % VRING_AVAIL_ALIGN_SIZE ||
	    vq->used_addr % VRING_USED_ALIGN_SIZE)
		return -EINVAL;
	desc = guest_mem_ptr(mem, vq->desc_addr, DESC_SIZE * size);
	avail = guest_mem_ptr(mem, vq->avail_addr, avail_bytes(size, event_idx));
	used = guest_mem_ptr(mem, vq->used_addr, used_bytes(size, event_idx));
	if (!desc || !avail || !used)
		return -EINVAL;

	vq->mem = mem;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	/* Nothing was signalled on this mapping yet: the first decision must notify. */
	vq->signalled_used_valid = false;
	vq->active = true;
	return 0;
}

__attribute__((format(printf, 2, 3)))
static int vq_fail(struct virtqueue *vq, const char *fmt, ...)
{
	char why[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	/* Logged once: a broken queue processes nothing more, so it cannot flood. */
	log_warn("virtqueue broken: %s", why);
	vq->broken = true;
	return -EINVAL;
}

static uint16_t avail_idx(const struct virtqueue *vq)
{
	return le16toh(READ_ONCE(&vq->avail->idx));
}

static uint16_t *used_event(const struct virtqueue *vq)
{
	return &vq->avail->ring[vq->size];
}

static uint16_t *avail_event(const struct virtqueue *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

/* Copy a descriptor out of guest memory (which need not be aligned for indirect tables). */
static void read_desc(const void *src, struct desc *d)
{
	struct vring_desc raw;

	memcpy(&raw, src, sizeof(raw));
	/* Work on the copy only: the compiler may not go back to guest memory for it. */
	__asm__ __volatile__("" : : : "memory");
	d->addr = le64toh(raw.addr);
	d->len = le32toh(raw.len);
	d->flags = le16toh(raw.flags);
	d->next = le16toh(raw.next);
}

/* Account one buffer descriptor (not an indirect one) and map it. */
static int add_buffer(struct virtqueue *vq, struct walk *w, const struct desc *d)
{
	bool write = d->flags & VRING_DESC_F_WRITE;
	uint64_t *total = write ? &w->chain->in_len : &w->chain->out_len;
	unsigned int nr = w->nr_out + w->nr_in;
	void *p;

	if (!write && w->seen_in)
		return vq_fail(vq, "device-readable descriptor after a device-writable one");
	w->seen_in |= write;
	if (d->len == 0)
		return 0;
	p = guest_mem_ptr(vq->mem, d->addr, d->len);
	if (!p)
		return vq_fail(vq, "buffer outside guest RAM: 0x%llx+0x%x",
			       (unsigned long long)d->addr, d->len);
	/* Both terms are < 2^32: the sum cannot wrap 64 bits. */
	if (*total + d->len > UINT32_MAX)
		return vq_fail(vq, "%s length over 4 GiB", write ? "in" : "out");
	*total += d->len;
	if (nr < w->max_iov)
		w->iov[nr] = (struct iovec){ .iov_base = p, .iov_len = d->len };
	if (write)
		w->nr_in++;
	else
		w->nr_out++;
	return 0;
}

/* Walk the indirect table that d points at: the rest of the chain. */
static int walk_indirect(struct virtqueue *vq, struct walk *w, const struct desc *d)
{
	const uint8_t *table;
	unsigned int nr, limit, i = 0;
	struct desc e;
	int err;

	if (!vq->indirect)
		return vq_fail(vq, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
	if (d->flags & VRING_DESC_F_NEXT)
		return vq_fail(vq, "indirect descriptor with NEXT");
	if (d->len == 0 || d->len % DESC_SIZE)
		return vq_fail(vq, "indirect table length %u", d->len);
	table = guest_mem_ptr(vq->mem, d->addr, d->len);
	if (!table)
		return vq_fail(vq, "indirect table outside guest RAM: 0x%llx+0x%x",
			       (unsigned long long)d->addr, d->len);
	nr = d->len / DESC_SIZE;
	limit = nr < INDIRECT_MAX_REACHABLE ? nr : INDIRECT_MAX_REACHABLE;
	for (unsigned int n = 0; n < limit; n++) {
		read_desc(table + (size_t)i * DESC_SIZE, &e);
		if (e.flags & VRING_DESC_F_INDIRECT)
			return vq_fail(vq, "nested indirect table");
		err = add_buffer(vq, w, &e);
		if (err)
			return err;
		if (!(e.flags & VRING_DESC_F_NEXT))
			return 0;
		if (e.next >= nr)
			return vq_fail(vq, "indirect next %u >= %u", e.next, nr);
		i = e.next;
	}
	/* More steps than distinct entries: the chain revisits one. */
	return vq_fail(vq, "indirect chain loops");
}

static int walk_chain(struct virtqueue *vq, struct walk *w, uint16_t head)
{
	uint16_t i = head;
	struct desc d;
	int err;

	for (unsigned int n = 0; n < vq->size; n++) {
		read_desc(&vq->desc[i], &d);
		if (d.flags & VRING_DESC_F_INDIRECT)
			return walk_indirect(vq, w, &d);
		err = add_buffer(vq, w, &d);
		if (err)
			return err;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= vq->size)
			return vq_fail(vq, "next %u >= queue size %u", d.next, vq->size);
		i = d.next;
	}
	return vq_fail(vq, "chain from head %u longer than queue size %u", head, vq->size);
}

int vq_pop(struct virtqueue *vq, struct vq_chain *chain, struct iovec *iov,
	   unsigned int max_iov)
{
	struct walk w = { .chain = chain, .iov = iov, .max_iov = max_iov };
	uint16_t idx, pending, head;
	int err;

	/* Whatever happens, a caller never sees buffers of a chain not returned as 1. */
	memset(chain, 0, sizeof(*chain));
	chain->iov = iov;
	if (vq->broken)
		return -EINVAL;
	if (!vq->active)
		return 0;
	idx = avail_idx(vq);
	pending = idx - vq->last_avail_idx;
	if (pending == 0)
		return 0;
	if (pending > vq->size)
		return vq_fail(vq, "avail idx %u is %u ahead of %u (size %u)", idx, pending,
			       vq->last_avail_idx, vq->size);
	/* The ring entry and the descriptors were written before avail->idx. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	head = le16toh(READ_ONCE(&vq->avail->ring[vq->last_avail_idx & (vq->size - 1)]));
	if (head >= vq->size)
		return vq_fail(vq, "head %u >= queue size %u", head, vq->size);

	chain->head = head;
	err = walk_chain(vq, &w, head);
	if (err) {
		chain->out_len = chain->in_len = 0;
		return err;
	}
	vq->last_avail_idx++;
	if (w.nr_out + w.nr_in > max_iov) {
		/* Consumed: only head is meaningful, for the caller to push back. */
		chain->out_len = chain->in_len = 0;
		return -ENOBUFS;
	}
	chain->nr_out = w.nr_out;
	chain->nr_in = w.nr_in;
	return 1;
}

void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	struct vring_used_elem *e;

	if (!vq->active)
		return;
	e = &vq->used->ring[vq->used_idx & (vq->size - 1)];
	e->id = htole32(head);
	e->len = htole32(written);
	/* The element must be visible before the index that publishes it. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vq->used_idx++;
	WRITE_ONCE(&vq->used->idx, htole16(vq->used_idx));
}

bool vq_should_notify(struct virtqueue *vq)
{
	uint16_t old, event;
	bool valid;

	if (!vq->active)
		return false;
	/*
	 * Order the used->idx store before the reads below; pairs with the driver's full
	 * barrier between writing used_event (or clearing NO_INTERRUPT) and re-reading
	 * used->idx. Without it both sides could miss the other's update.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(le16toh(READ_ONCE(&vq->avail->flags)) & VRING_AVAIL_F_NO_INTERRUPT);

	/*
	 * Remember where this decision was taken whatever it is: the next one only has to
	 * look at entries used since. A driver that moves used_event behind this point
	 * re-checks used->idx itself after its barrier, so nothing is lost.
	 */
	old = vq->signalled_used;
	valid = vq->signalled_used_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	if (!valid)
		return true;
	event = le16toh(READ_ONCE(used_event(vq)));
	return vq_need_event(event, vq->used_idx, old);
}

void vq_disable_notify(struct virtqueue *vq)
{
	if (!vq->active || vq->event_idx)
		return;
	/*
	 * With event idx there is nothing to do: avail_event stays where the last enable
	 * put it, so the driver, past it, does not kick again.
	 */
	WRITE_ONCE(&vq->used->flags, htole16(VRING_USED_F_NO_NOTIFY));
}

bool vq_enable_notify(struct virtqueue *vq)
{
	if (!vq->active || vq->broken)
		return false;
	if (vq->event_idx)
		WRITE_ONCE(avail_event(vq), htole16(vq->last_avail_idx));
	else
		WRITE_ONCE(&vq->used->flags, htole16(0));
	/*
	 * A buffer the driver added before seeing our write did not kick: look for it.
	 * Pairs with the driver's barrier between updating avail->idx and reading
	 * avail_event / used->flags.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return avail_idx(vq) != vq->last_avail_idx;
}

void vq_log_state(const struct virtqueue *vq, const char *who)
{
	if (!vq->active) {
		log_info("%s: not active (size %u, enabled %d)", who, vq->size, vq->enabled);
		return;
	}
	log_info("%s: size %u%s avail idx %u flags %#x%s last_avail %u | used idx %u "
		 "flags %#x | used_event %u avail_event %u signalled_used %u%s",
		 who, vq->size, vq->broken ? " BROKEN" : "", avail_idx(vq),
		 le16toh(READ_ONCE(&vq->avail->flags)), vq->event_idx ? " event_idx" : "",
		 vq->last_avail_idx, vq->used_idx, le16toh(READ_ONCE(&vq->used->flags)),
		 vq->event_idx ? le16toh(READ_ONCE(used_event(vq))) : 0,
		 vq->event_idx ? le16toh(READ_ONCE(avail_event(vq))) : 0, vq->signalled_used,
		 vq->signalled_used_valid ? "" : " (no interrupt decision yet)");
}

bool vq_has_available(struct virtqueue *vq)
{
	if (!vq->active || vq->broken)
		return false;
	return avail_idx(vq) != vq->last_avail_idx;
}
