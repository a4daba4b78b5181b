// SPDX-License-Identifier: Apache-2.0
/* The driver and transport sides of a device-model test (vq_drv.h). */
#include "tests/unit/lib/vq_drv.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio/queue.h"

int drv_queue_setup(struct drv *d, struct virtio_device *dev, struct guest_mem *mem,
		    unsigned int q, uint16_t size, bool event_idx)
{
	struct virtqueue *vq = &dev->vqs[q];
	uint64_t base = 0x10000ULL * (q + 1); /* desc, avail, used: 4 KiB apart */
	uint8_t *rings = guest_mem_ptr(mem, base, 0x4000);

	if (!rings)
		return -EFAULT;
	memset(d, 0, sizeof(*d));
	d->q = q;
	d->size = size;
	memset(rings, 0, 0x4000);
	vq_reset(vq);
	vq->size = size;
	vq->desc_addr = base;
	vq->avail_addr = base + 0x1000;
	vq->used_addr = base + 0x2000;
	vq->enabled = true;
	d->desc = (struct vring_desc *)rings;
	d->avail = (struct vring_avail *)(rings + 0x1000);
	d->used = (struct vring_used *)(rings + 0x2000);
	return vq_activate(vq, mem, event_idx, false);
}

uint16_t drv_add_chain(struct drv *d, const struct seg *segs, unsigned int n)
{
	uint16_t head = d->next_desc;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t idx = (head + i) % d->size;
		struct vring_desc *desc = &d->desc[idx];

		desc->addr = htole64(segs[i].gpa);
		desc->len = htole32(segs[i].len);
		desc->flags = htole16((segs[i].write ? VRING_DESC_F_WRITE : 0) |
				      (i + 1 < n ? VRING_DESC_F_NEXT : 0));
		desc->next = htole16((idx + 1) % d->size);
	}
	d->next_desc = (head + n) % d->size;
	d->avail->ring[d->avail_idx % d->size] = htole16(head);
	d->avail_idx++;
	__atomic_store_n(&d->avail->idx, htole16(d->avail_idx), __ATOMIC_RELEASE);
	return head;
}

struct kick {
	struct evloop_call call;
	struct virtio_device *dev;
	unsigned int q;
};

static void do_kick(void *arg)
{
	struct kick *k = arg;

	k->dev->ops->queue_notify(k->dev, k->q);
	free(k);
}

void drv_kick(struct virtio_device *dev, unsigned int q)
{
	struct kick *k = malloc(sizeof(*k));

	if (!k)
		abort();
	k->dev = dev;
	k->q = q;
	evloop_call(virtio_queue_loop(dev, q), &k->call, do_kick, k);
}

uint16_t drv_used_idx(const struct drv *d)
{
	return le16toh(__atomic_load_n(&d->used->idx, __ATOMIC_ACQUIRE));
}

uint16_t drv_wait_used(const struct drv *d, uint16_t n, int timeout_ms)
{
	for (int i = 0; i < timeout_ms && drv_used_idx(d) < n; i++)
		usleep(1000);
	return drv_used_idx(d);
}

struct vring_used_elem drv_used_elem(const struct drv *d, uint16_t i)
{
	struct vring_used_elem e = d->used->ring[i % d->size];

	e.id = le32toh(e.id);
	e.len = le32toh(e.len);
	return e;
}

/* ---- the transport side ---- */

struct tr_counts tr_counts;

/* A queue's interrupt comes from the loop that serves it: its own. */
static void tr_queue_interrupt(struct virtio_device *d, unsigned int q)
{
	if (!evloop_on_thread(virtio_queue_loop(d, q)))
		atomic_fetch_add(&tr_counts.foreign_irqs, 1);
	if (q < VQD_MAX_QUEUES)
		atomic_fetch_add(&tr_counts.irqs[q], 1);
}

static void tr_config_interrupt(struct virtio_device *d)
{
}

static void tr_needs_reset(struct virtio_device *d)
{
	atomic_fetch_add(&tr_counts.needs_resets, 1);
}

const struct virtio_transport_ops counting_transport = {
	.queue_interrupt = tr_queue_interrupt,
	.config_interrupt = tr_config_interrupt,
	.needs_reset = tr_needs_reset,
};

void tr_counts_reset(void)
{
	for (int i = 0; i < VQD_MAX_QUEUES; i++)
		atomic_store(&tr_counts.irqs[i], 0);
	atomic_store(&tr_counts.foreign_irqs, 0);
	atomic_store(&tr_counts.needs_resets, 0);
}

/* ---- loops ---- */

void *vqd_run_loop(void *loop)
{
	evloop_run(loop);
	return NULL;
}

int qloops_start(struct qloops *ql, struct virtio_device *dev)
{
	int ret;

	if (dev->nr_queues > VQD_MAX_QUEUES)
		return -E2BIG;
	for (unsigned int q = 0; q < dev->nr_queues; q++) {
		ret = evloop_init(&ql->loop[q], 256);
		if (ret)
			return ret < 0 ? ret : -EIO;
		ret = pthread_create(&ql->thread[q], NULL, vqd_run_loop, &ql->loop[q]);
		if (ret) {
			evloop_destroy(&ql->loop[q]);
			return -ret;
		}
		ql->nr = q + 1;
		ql->table[q] = &ql->loop[q];
	}
	dev->queue_loops = ql->table;
	return 0;
}

void qloops_stop(struct qloops *ql)
{
	for (unsigned int q = 0; q < ql->nr; q++) {
		evloop_stop(&ql->loop[q]);
		pthread_join(ql->thread[q], NULL);
		evloop_destroy(&ql->loop[q]);
	}
	ql->nr = 0;
}

int vqd_setup(struct guest_mem *mem, uint64_t mem_size, struct evloop *loop,
	      pthread_t *thread, struct qloops *ql)
{
	int ret;

	if (guest_mem_init(mem, mem_size))
		return -ENOMEM;
	ret = evloop_init(loop, 256);
	if (ret)
		return ret < 0 ? ret : -EIO;
	ret = pthread_create(thread, NULL, vqd_run_loop, loop);
	if (ret)
		return -ret;
	ql->nr = 0;
	tr_counts_reset();
	return 0;
}

void vqd_teardown(struct virtio_device *dev, struct qloops *ql, struct evloop *loop,
		  pthread_t thread, struct guest_mem *mem)
{
	if (dev) {
		dev->ops->reset(dev);
		dev->ops->destroy(dev);
	}
	qloops_stop(ql);
	evloop_stop(loop);
	pthread_join(thread, NULL);
	evloop_destroy(loop);
	guest_mem_free(mem);
}

/* ---- a loop held, resets and queue_stop on threads ---- */

static void kick_and_block(void *arg)
{
	struct blocker *b = arg;

	b->dev->ops->queue_notify(b->dev, b->q);
	sem_post(&b->entered);
	sem_wait(&b->release);
}

void blocker_hold(struct blocker *b, struct evloop *loop, struct virtio_device *dev,
		  unsigned int q)
{
	sem_init(&b->entered, 0, 0);
	sem_init(&b->release, 0, 0);
	b->dev = dev;
	b->q = q;
	evloop_call(loop, &b->call, kick_and_block, b);
	sem_wait(&b->entered);
}

static void post_sem(void *arg)
{
	sem_post(arg);
}

void vqd_loop_sync(struct evloop *loop)
{
	struct evloop_call call;
	sem_t done;

	sem_init(&done, 0, 0);
	evloop_call(loop, &call, post_sem, &done);
	sem_wait(&done);
	sem_destroy(&done);
}

void *resetter_run(void *arg)
{
	struct resetter *r = arg;

	if (r->q < 0)
		r->dev->ops->reset(r->dev);
	else
		r->dev->ops->queue_reset(r->dev, r->q);
	atomic_store(&r->done, true);
	return NULL;
}

void *stopper_run(void *arg)
{
	struct stopper *s = arg;

	s->dev->ops->queue_stop(s->dev, s->q);
	atomic_store(&s->done, true);
	return NULL;
}
