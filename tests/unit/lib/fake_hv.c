// SPDX-License-Identifier: Apache-2.0
/*
 * KVM's ioeventfd, MSI routing and irqfd semantics in process (fake_hv.h). Readiness of
 * the attached irqfds is tracked with one level-triggered epoll set: a drain asks it
 * which duplicates are readable (no syscall per irqfd), and fake_hv_wait sleeps on it.
 */
#include "tests/unit/lib/fake_hv.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define FHV_GSI_BASE 24 /* below: the IOAPIC's pins, as in the VM */
#define FHV_MAX_EVENTS 64

struct fhv_ioevent {
	int fd; /* the transport's eventfd (signalled, never closed here) */
	uint64_t addr, datamatch;
	uint32_t len;
	bool pio, match;
};

struct fhv_route {
	bool used;
	uint64_t addr;
	uint32_t data;
};

struct fhv_irqfd {
	int fd;      /* the transport's fd, to match a deassign */
	int dup;     /* ours: read when draining */
	int gsi;
	uint64_t id; /* epoll token */
};

struct fhv_msg {
	uint64_t addr;
	uint32_t data;
	uint64_t count;
};

struct fake_hv {
	struct hv hv;
	struct bus *pio, *mmio;
	pthread_mutex_t lock;
	int epfd;
	struct fhv_ioevent *io;
	size_t nr_io, cap_io;
	struct fhv_route *route; /* index = gsi - FHV_GSI_BASE */
	size_t nr_route;
	struct fhv_irqfd *irqfd;
	size_t nr_irqfd, cap_irqfd;
	uint64_t next_irqfd_id;
	struct fhv_msg *msg;
	size_t nr_msg, cap_msg;
	struct fake_hv_stats st;
};

/* Make room for one more element in a growing array. */
static int grow(void **arr, size_t *cap, size_t nr, size_t elem)
{
	size_t ncap;
	void *p;

	if (nr < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static struct fhv_route *route_of(struct fake_hv *h, int gsi)
{
	size_t i = (size_t)(gsi - FHV_GSI_BASE);

	if (gsi < FHV_GSI_BASE || i >= h->nr_route || !h->route[i].used)
		return NULL;
	return &h->route[i];
}

static struct fhv_msg *msg_of(struct fake_hv *h, uint64_t addr, uint32_t data, bool add)
{
	for (size_t i = 0; i < h->nr_msg; i++)
		if (h->msg[i].addr == addr && h->msg[i].data == data)
			return &h->msg[i];
	if (!add || grow((void **)&h->msg, &h->cap_msg, h->nr_msg, sizeof(*h->msg)))
		return NULL;
	h->msg[h->nr_msg] = (struct fhv_msg){ .addr = addr, .data = data };
	return &h->msg[h->nr_msg++];
}

/* Lock held: inject what the irqfd at index i was signalled with since the last drain. */
static bool inject(struct fake_hv *h, size_t i)
{
	struct fhv_route *r = route_of(h, h->irqfd[i].gsi);
	struct fhv_msg *m;
	eventfd_t n;

	if (eventfd_read(h->irqfd[i].dup, &n) < 0)
		return false;
	m = r ? msg_of(h, r->addr, r->data, true) : NULL;
	if (m) {
		m->count += n;
		h->st.injected += n;
	} else {
		h->st.lost += n;
	}
	return true;
}

/* Lock held: inject everything signalled so far. */
static bool drain(struct fake_hv *h)
{
	struct epoll_event ev[FHV_MAX_EVENTS];
	bool any = false;
	int n;

	do {
		n = epoll_wait(h->epfd, ev, FHV_MAX_EVENTS, 0);
		for (int k = 0; k < n; k++)
			for (size_t i = 0; i < h->nr_irqfd; i++)
				if (h->irqfd[i].id == ev[k].data.u64)
					any |= inject(h, i);
	} while (n == FHV_MAX_EVENTS);
	return any;
}

static int fhv_ioeventfd(void *ctx, int fd, uint64_t addr, uint32_t len, bool pio, bool match,
			 uint64_t datamatch, bool assign)
{
	struct fake_hv *h = ctx;
	int ret = 0;
	size_t i;

	if (len != 1 && len != 2 && len != 4 && len != 8)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->nr_io; i++) {
		struct fhv_ioevent *io = &h->io[i];

		if (io->addr == addr && io->len == len && io->pio == pio && io->match == match &&
		    (!match || io->datamatch == datamatch))
			break;
	}
	if (assign) {
		if (i < h->nr_io)
			ret = -EEXIST;
		else if (!(ret = grow((void **)&h->io, &h->cap_io, h->nr_io, sizeof(*h->io))))
			h->io[h->nr_io++] = (struct fhv_ioevent){ fd, addr, datamatch, len, pio,
								   match };
	} else if (i == h->nr_io || h->io[i].fd != fd) {
		ret = -ENOENT;
	} else {
		h->io[i] = h->io[--h->nr_io];
	}
	pthread_mutex_unlock(&h->lock);
	return ret;
}

static int fhv_route_add(void *ctx, uint64_t addr, uint32_t data)
{
	struct fake_hv *h = ctx;
	size_t i;
	int ret;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->nr_route && h->route[i].used; i++)
		;
	if (i == h->nr_route) {
		struct fhv_route *p = realloc(h->route, (i + 1) * sizeof(*p));

		if (!p) {
			pthread_mutex_unlock(&h->lock);
			return -ENOMEM;
		}
		h->route = p;
		h->nr_route = i + 1;
	}
	h->route[i] = (struct fhv_route){ true, addr, data };
	ret = FHV_GSI_BASE + (int)i;
	pthread_mutex_unlock(&h->lock);
	return ret;
}

static int fhv_route_update(void *ctx, int gsi, uint64_t addr, uint32_t data)
{
	struct fake_hv *h = ctx;
	struct fhv_route *r;
	int ret = -EINVAL;

	pthread_mutex_lock(&h->lock);
	drain(h);
	r = route_of(h, gsi);
	if (r) {
		r->addr = addr;
		r->data = data;
		ret = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return ret;
}

static void fhv_route_del(void *ctx, int gsi)
{
	struct fake_hv *h = ctx;
	struct fhv_route *r;

	pthread_mutex_lock(&h->lock);
	drain(h);
	r = route_of(h, gsi);
	if (r)
		r->used = false;
	pthread_mutex_unlock(&h->lock);
}

static int irqfd_attach(struct fake_hv *h, int fd, int gsi)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct fhv_irqfd *q;
	int ret;

	for (size_t i = 0; i < h->nr_irqfd; i++)
		if (h->irqfd[i].fd == fd)
			return -EBUSY; /* KVM: one GSI per eventfd */
	ret = grow((void **)&h->irqfd, &h->cap_irqfd, h->nr_irqfd, sizeof(*h->irqfd));
	if (ret)
		return ret;
	q = &h->irqfd[h->nr_irqfd];
	*q = (struct fhv_irqfd){ .fd = fd, .dup = dup(fd), .gsi = gsi, .id = ++h->next_irqfd_id };
	if (q->dup < 0)
		return -errno;
	ev.data.u64 = q->id;
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, q->dup, &ev) < 0) {
		ret = -errno;
		close(q->dup);
		return ret;
	}
	h->nr_irqfd++;
	return 0;
}

static int irqfd_detach(struct fake_hv *h, int fd, int gsi)
{
	size_t i;

	for (i = 0; i < h->nr_irqfd; i++)
		if (h->irqfd[i].fd == fd && h->irqfd[i].gsi == gsi)
			break;
	if (i == h->nr_irqfd)
		return -ENOENT;
	drain(h);
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, h->irqfd[i].dup, NULL);
	close(h->irqfd[i].dup);
	h->irqfd[i] = h->irqfd[--h->nr_irqfd];
	return 0;
}

static int fhv_irqfd(void *ctx, int fd, int gsi, bool assign)
{
	struct fake_hv *h = ctx;
	int ret;

	pthread_mutex_lock(&h->lock);
	ret = assign ? irqfd_attach(h, fd, gsi) : irqfd_detach(h, fd, gsi);
	pthread_mutex_unlock(&h->lock);
	return ret;
}

static const struct hv_ops fhv_ops = {
	.ioeventfd = fhv_ioeventfd,
	.msi_route_add = fhv_route_add,
	.msi_route_update = fhv_route_update,
	.msi_route_del = fhv_route_del,
	.irqfd = fhv_irqfd,
};

int fake_hv_create(struct fake_hv **out, struct bus *pio, struct bus *mmio)
{
	struct fake_hv *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0) {
		free(h);
		return -errno;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->hv = (struct hv){ .ops = &fhv_ops, .ctx = h };
	h->pio = pio;
	h->mmio = mmio;
	*out = h;
	return 0;
}

void fake_hv_destroy(struct fake_hv *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nr_irqfd; i++)
		close(h->irqfd[i].dup);
	close(h->epfd);
	pthread_mutex_destroy(&h->lock);
	free(h->io);
	free(h->route);
	free(h->irqfd);
	free(h->msg);
	free(h);
}

const struct hv *fake_hv_hv(struct fake_hv *h)
{
	return &h->hv;
}

void fake_hv_write(struct fake_hv *h, bool pio, uint64_t addr, uint64_t val, uint32_t len)
{
	uint64_t mask = len >= 8 ? ~0ULL : (1ULL << (8 * len)) - 1;
	uint8_t data[8];

	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->nr_io; i++) {
		struct fhv_ioevent *io = &h->io[i];

		if (io->addr != addr || io->len != len || io->pio != pio ||
		    (io->match && io->datamatch != (val & mask)))
			continue;
		eventfd_write(io->fd, 1);
		h->st.ioeventfd_hits++;
		pthread_mutex_unlock(&h->lock);
		return;
	}
	h->st.bus_writes++;
	pthread_mutex_unlock(&h->lock);
	for (uint32_t i = 0; i < len && i < sizeof(data); i++)
		data[i] = val >> (8 * i);
	bus_access(pio ? h->pio : h->mmio, addr, data, len, true);
}

uint64_t fake_hv_read(struct fake_hv *h, bool pio, uint64_t addr, uint32_t len)
{
	uint8_t data[8];
	uint64_t v = 0;

	memset(data, 0xff, sizeof(data));
	bus_access(pio ? h->pio : h->mmio, addr, data, len, false);
	for (uint32_t i = 0; i < len && i < sizeof(data); i++)
		v |= (uint64_t)data[i] << (8 * i);
	return v;
}

uint64_t fake_hv_irqs(struct fake_hv *h, uint64_t addr, uint32_t data)
{
	struct fhv_msg *m;
	uint64_t n;

	pthread_mutex_lock(&h->lock);
	drain(h);
	m = msg_of(h, addr, data, false);
	n = m ? m->count : 0;
	pthread_mutex_unlock(&h->lock);
	return n;
}

bool fake_hv_has_route(struct fake_hv *h, uint64_t addr, uint32_t data)
{
	bool found = false;

	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->nr_route && !found; i++)
		found = h->route[i].used && h->route[i].addr == addr && h->route[i].data == data;
	pthread_mutex_unlock(&h->lock);
	return found;
}

bool fake_hv_wait(struct fake_hv *h, int timeout_ms)
{
	struct epoll_event ev;
	bool any;

	if (timeout_ms > 0)
		epoll_wait(h->epfd, &ev, 1, timeout_ms);
	pthread_mutex_lock(&h->lock);
	any = drain(h);
	pthread_mutex_unlock(&h->lock);
	return any;
}

void fake_hv_get_stats(struct fake_hv *h, struct fake_hv_stats *st)
{
	pthread_mutex_lock(&h->lock);
	drain(h);
	*st = h->st;
	st->ioeventfds = h->nr_io;
	st->irqfds = h->nr_irqfd;
	st->routes = 0;
	for (size_t i = 0; i < h->nr_route; i++)
		st->routes += h->route[i].used;
	pthread_mutex_unlock(&h->lock);
}
