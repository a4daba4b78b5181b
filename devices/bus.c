// SPDX-License-Identifier: Apache-2.0
#include "devices/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int bus_init(struct bus *bus, const char *name)
{
	int ret;

	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	ret = pthread_rwlock_init(&bus->lock, NULL);
	return ret ? -ret : 0;
}

void bus_destroy(struct bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr = bus->cap = 0;
	pthread_rwlock_destroy(&bus->lock);
}

/* Index of the first range whose base is > addr (0..nr). Lock held. */
static size_t bus_upper_bound(const struct bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Last byte of a range; callers made sure it does not wrap. */
static uint64_t range_last(const struct bus_range *r)
{
	return r->base + (r->len - 1);
}

static int bus_grow(struct bus *bus)
{
	size_t cap = bus->cap ? bus->cap * 2 : 16;
	struct bus_range *r;

	r = realloc(bus->ranges, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	bus->ranges = r;
	bus->cap = cap;
	return 0;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn fn, void *opaque)
{
	struct bus_range new = { .base = base, .len = len, .fn = fn, .opaque = opaque };
	size_t i;
	int ret = 0;

	/* The last byte must be representable: a range may end at UINT64_MAX but not wrap. */
	if (!len || !fn || base + (len - 1) < base)
		return -EINVAL;

	pthread_rwlock_wrlock(&bus->lock);
	i = bus_upper_bound(bus, base);
	/* Sorted and disjoint, so only the neighbours on either side can overlap. */
	if (i > 0 && range_last(&bus->ranges[i - 1]) >= base) {
		ret = -EEXIST;
		goto out;
	}
	if (i < bus->nr && range_last(&new) >= bus->ranges[i].base) {
		ret = -EEXIST;
		goto out;
	}
	if (bus->nr == bus->cap) {
		ret = bus_grow(bus);
		if (ret)
			goto out;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->nr - i) * sizeof(new));
	bus->ranges[i] = new;
	bus->nr++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
	size_t i;
	int ret = -ENOENT;

	pthread_rwlock_wrlock(&bus->lock);
	i = bus_upper_bound(bus, base);
	if (i > 0 && bus->ranges[i - 1].base == base) {
		i--;
		memmove(&bus->ranges[i], &bus->ranges[i + 1],
			(bus->nr - i - 1) * sizeof(bus->ranges[0]));
		bus->nr--;
		ret = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

/*
 * Find the range that holds all of [addr, addr + len) and copy it out. An access that
 * begins in one range and ends past it is refused: splitting it between two devices
 * would be an access neither of them asked for.
 */
static bool bus_find(struct bus *bus, uint64_t addr, uint32_t len, struct bus_range *out)
{
	const struct bus_range *r;
	uint64_t off;
	size_t i;
	bool found = false;

	pthread_rwlock_rdlock(&bus->lock);
	i = bus_upper_bound(bus, addr);
	if (i == 0)
		goto out;
	r = &bus->ranges[i - 1];
	off = addr - r->base;
	if (off >= r->len || len > r->len - off)
		goto out;
	*out = *r;
	found = true;
out:
	pthread_rwlock_unlock(&bus->lock);
	return found;
}

/*
 * The handler runs after the read lock is dropped. Holding it across the call would
 * deadlock the moment a handler changes the bus it was called from, which is what a
 * PCI config write (dispatched on the PIO bus) does when it moves or enables an I/O
 * BAR; it would also put every device lock under the bus lock. The price: a call that
 * looked its range up just before a concurrent bus_unregister may still run after
 * bus_unregister returned, so an owner frees a handler's object only once no vCPU can
 * be dispatching (vCPUs stopped). A BAR that moves keeps its object, so a late access
 * there is harmless, and racing one's own BAR move is undefined on hardware too.
 */
bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct bus_range r;

	if (!len || addr + (len - 1) < addr)
		return false;
	if (!bus_find(bus, addr, len, &r))
		return false;
	r.fn(r.opaque, addr - r.base, data, len, is_write);
	return true;
}
