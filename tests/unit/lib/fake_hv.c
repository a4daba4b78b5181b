// SPDX-License-Identifier: Apache-2.0
/*
 * KVM's ioeventfd, MSI routing and irqfd semantics in process (fake_hv.h). Readiness of
 * the attached irqfds is tracked with one level-triggered epoll set: a drain asks it
 * which duplicates are readable (no syscall per irqfd), and fake_hv_wait sleeps on it.
 */
#include "tests/unit/lib/fake_hv.h"

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define FHV_GSI_BASE 24 /* below: the IOAPIC's pins, as in the VM */
#define FHV_MAX_EVENTS 64
#define FHV_WHAT 128 /* room for a strict-mode report */

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
	uint64_t taken; /* count at the last fake_hv_take_irqs */
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
	unsigned int route_limit; /* 0: none */
	void (*strict)(void *opaque, const char *what);
	void *strict_opaque;
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

/* Lock held: the irqfd attached to gsi (the first one: KVM allows more), or NULL. */
static struct fhv_irqfd *irqfd_on(struct fake_hv *h, int gsi)
{
	for (size_t i = 0; i < h->nr_irqfd; i++)
		if (h->irqfd[i].gsi == gsi)
			return &h->irqfd[i];
	return NULL;
}

/* Lock held: in strict mode, note a misuse in what (FHV_WHAT bytes), for report(). */
static void __attribute__((format(printf, 3, 4)))
misuse(struct fake_hv *h, char *what, const char *fmt, ...)
{
	va_list ap;

	if (!h->strict || what[0])
		return;
	va_start(ap, fmt);
	vsnprintf(what, FHV_WHAT, fmt, ap);
	va_end(ap);
}

/* Lock not held: tell the strict-mode callback of what misuse() noted. */
static void report(struct fake_hv *h, const char *what)
{
	void (*fn)(void *opaque, const char *what);
	void *opaque;

	if (!what[0])
		return;
	pthread_mutex_lock(&h->lock);
	fn = h->strict;
	opaque = h->strict_opaque;
	pthread_mutex_unlock(&h->lock);
	if (fn)
		fn(opaque, what);
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
	if (h->route_limit) {
		unsigned int used = 0;

		for (i = 0; i < h->nr_route; i++)
			used += h->route[i].used;
		if (used >= h->route_limit) {
			pthread_mutex_unlock(&h->lock);
			return -ENOSPC;
		}
	}
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
	char what[FHV_WHAT] = "";
	struct fhv_route *r;
	int ret = -EINVAL;

	pthread_mutex_lock(&h->lock);
	drain(h);
	r = route_of(h, gsi);
	if (r) {
		r->addr = addr;
		r->data = data;
		h->st.route_updates++;
		ret = 0;
	} else {
		misuse(h, what, "MSI route update of GSI %d, not allocated", gsi);
	}
	pthread_mutex_unlock(&h->lock);
	report(h, what);
	return ret;
}

static void fhv_route_del(void *ctx, int gsi)
{
	struct fake_hv *h = ctx;
	char what[FHV_WHAT] = "";
	struct fhv_route *r;

	pthread_mutex_lock(&h->lock);
	drain(h);
	r = route_of(h, gsi);
	if (!r)
		misuse(h, what, "MSI route delete of GSI %d, not allocated", gsi);
	else if (irqfd_on(h, gsi))
		misuse(h, what, "MSI route of GSI %d deleted with an irqfd attached", gsi);
	if (r)
		r->used = false;
	pthread_mutex_unlock(&h->lock);
	report(h, what);
}

static int irqfd_attach(struct fake_hv *h, int fd, int gsi, char *what)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct fhv_irqfd *q;
	int ret;

	if (!route_of(h, gsi))
		misuse(h, what, "irqfd %d attached to GSI %d, which has no route", fd, gsi);
	else if (irqfd_on(h, gsi))
		misuse(h, what, "irqfd %d attached to GSI %d, which has irqfd %d", fd, gsi,
		       irqfd_on(h, gsi)->fd);
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

static int irqfd_detach(struct fake_hv *h, int fd, int gsi, char *what)
{
	size_t i;

	if (!route_of(h, gsi))
		misuse(h, what, "irqfd %d detached from GSI %d, which has no route", fd, gsi);
	else if (!irqfd_on(h, gsi) || irqfd_on(h, gsi)->fd != fd)
		misuse(h, what, "irqfd %d detached from GSI %d, which has irqfd %d", fd, gsi,
		       irqfd_on(h, gsi) ? irqfd_on(h, gsi)->fd : -1);
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
	char what[FHV_WHAT] = "";
	struct fake_hv *h = ctx;
	int ret;

	pthread_mutex_lock(&h->lock);
	ret = assign ? irqfd_attach(h, fd, gsi, what) : irqfd_detach(h, fd, gsi, what);
	pthread_mutex_unlock(&h->lock);
	report(h, what);
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

uint64_t fake_hv_take_irqs(struct fake_hv *h, uint64_t addr, uint32_t data)
{
	struct fhv_msg *m;
	uint64_t n = 0;

	pthread_mutex_lock(&h->lock);
	drain(h);
	m = msg_of(h, addr, data, false);
	if (m) {
		n = m->count - m->taken;
		m->taken = m->count;
	}
	pthread_mutex_unlock(&h->lock);
	return n;
}

unsigned int fake_hv_ioeventfds(struct fake_hv *h, struct fake_hv_ioeventfd *out,
				unsigned int max)
{
	unsigned int n;

	pthread_mutex_lock(&h->lock);
	n = h->nr_io;
	for (unsigned int i = 0; i < n && i < max; i++) {
		const struct fhv_ioevent *io = &h->io[i];

		out[i] = (struct fake_hv_ioeventfd){ .fd = io->fd, .addr = io->addr,
						     .datamatch = io->datamatch, .len = io->len,
						     .pio = io->pio, .match = io->match };
	}
	pthread_mutex_unlock(&h->lock);
	return n;
}

unsigned int fake_hv_routes(struct fake_hv *h, struct fake_hv_route *out, unsigned int max)
{
	unsigned int n = 0;

	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->nr_route; i++) {
		const struct fhv_route *r = &h->route[i];
		const struct fhv_irqfd *q;
		int gsi = FHV_GSI_BASE + (int)i;

		if (!r->used)
			continue;
		if (n < max) {
			q = irqfd_on(h, gsi);
			out[n] = (struct fake_hv_route){ .gsi = gsi, .addr = r->addr,
							 .data = r->data,
							 .irqfd = q ? q->fd : -1 };
		}
		n++;
	}
	pthread_mutex_unlock(&h->lock);
	return n;
}

void fake_hv_set_route_limit(struct fake_hv *h, unsigned int limit)
{
	pthread_mutex_lock(&h->lock);
	h->route_limit = limit;
	pthread_mutex_unlock(&h->lock);
}

void fake_hv_set_strict(struct fake_hv *h, void (*fn)(void *opaque, const char *what),
			void *opaque)
{
	pthread_mutex_lock(&h->lock);
	h->strict = fn;
	h->strict_opaque = opaque;
	pthread_mutex_unlock(&h->lock);
}
