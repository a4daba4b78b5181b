// SPDX-License-Identifier: Apache-2.0
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "devices/bus.h"

/* A device that records the last access it saw. */
struct recorder {
	int calls;
	uint64_t offset;
	uint32_t len;
	bool is_write;
	uint8_t last[8];
	uint8_t fill; /* what reads return */
};

static void record_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		      bool is_write)
{
	struct recorder *r = opaque;

	r->calls++;
	r->offset = offset;
	r->len = len;
	r->is_write = is_write;
	if (is_write)
		memcpy(r->last, data, len);
	else
		memset(data, r->fill, len);
}

static struct bus bus;

static void setup(void)
{
	cr_assert_eq(bus_init(&bus, "test"), 0);
}

static void teardown(void)
{
	bus_destroy(&bus);
}

TestSuite(bus, .init = setup, .fini = teardown);

Test(bus, rejects_empty_and_wrapping_ranges)
{
	struct recorder r = { 0 };

	cr_assert_eq(bus_register(&bus, 0x1000, 0, record_io, &r), -EINVAL);
	cr_assert_eq(bus_register(&bus, UINT64_MAX, 2, record_io, &r), -EINVAL);
	cr_assert_eq(bus_register(&bus, UINT64_MAX - 15, 17, record_io, &r), -EINVAL);
	cr_assert_eq(bus_register(&bus, 0x1000, 4, NULL, &r), -EINVAL);
	/* Ending exactly at the top of the address space is fine. */
	cr_assert_eq(bus_register(&bus, UINT64_MAX - 15, 16, record_io, &r), 0);
	cr_assert_eq(bus.nr, 1);
}

Test(bus, rejects_every_kind_of_overlap)
{
	struct recorder r = { 0 };

	cr_assert_eq(bus_register(&bus, 0x100, 0x10, record_io, &r), 0);
	cr_assert_eq(bus_register(&bus, 0x100, 0x10, record_io, &r), -EEXIST); /* same */
	cr_assert_eq(bus_register(&bus, 0xf8, 0x9, record_io, &r), -EEXIST); /* tail into head */
	cr_assert_eq(bus_register(&bus, 0x10f, 0x1, record_io, &r), -EEXIST); /* last byte */
	cr_assert_eq(bus_register(&bus, 0x104, 0x4, record_io, &r), -EEXIST); /* inside */
	cr_assert_eq(bus_register(&bus, 0x0, 0x1000, record_io, &r), -EEXIST); /* around */
	/* Adjacent on both sides is not an overlap. */
	cr_assert_eq(bus_register(&bus, 0xf0, 0x10, record_io, &r), 0);
	cr_assert_eq(bus_register(&bus, 0x110, 0x10, record_io, &r), 0);
	cr_assert_eq(bus.nr, 3);
}

Test(bus, keeps_ranges_sorted)
{
	struct recorder r = { 0 };
	const uint64_t bases[] = { 0x500, 0x100, 0x900, 0x300, 0x700 };

	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(bus_register(&bus, bases[i], 0x10, record_io, &r), 0);
	for (size_t i = 1; i < bus.nr; i++)
		cr_assert_lt(bus.ranges[i - 1].base, bus.ranges[i].base);
}

Test(bus, dispatches_at_the_edges_with_relative_offsets)
{
	struct recorder a = { .fill = 0xaa }, b = { .fill = 0xbb };
	uint8_t data[4] = { 1, 2, 3, 4 };

	cr_assert_eq(bus_register(&bus, 0x3f8, 8, record_io, &a), 0);
	cr_assert_eq(bus_register(&bus, 0x400, 8, record_io, &b), 0);

	cr_assert(bus_access(&bus, 0x3f8, data, 1, true));
	cr_assert_eq(a.offset, 0);
	cr_assert_eq(a.last[0], 1);
	cr_assert(a.is_write);

	cr_assert(bus_access(&bus, 0x3ff, data, 1, false));
	cr_assert_eq(a.offset, 7);
	cr_assert_eq(data[0], 0xaa);
	cr_assert_eq(b.calls, 0);

	cr_assert(bus_access(&bus, 0x400, data, 4, false));
	cr_assert_eq(b.offset, 0);
	cr_assert_eq(b.len, 4);
	cr_assert_eq(data[3], 0xbb);

	cr_assert(bus_access(&bus, 0x404, data, 4, true));
	cr_assert_eq(b.offset, 4);

	/* Just outside either end. */
	cr_assert_not(bus_access(&bus, 0x3f7, data, 1, false));
	cr_assert_not(bus_access(&bus, 0x408, data, 1, false));
	cr_assert_eq(a.calls, 2);
	cr_assert_eq(b.calls, 2);
}

Test(bus, straddling_accesses_are_not_dispatched)
{
	struct recorder a = { 0 }, b = { 0 };
	uint8_t data[8] = { 0 };

	cr_assert_eq(bus_register(&bus, 0x1000, 4, record_io, &a), 0);
	cr_assert_eq(bus_register(&bus, 0x1004, 4, record_io, &b), 0);
	cr_assert_eq(bus_register(&bus, 0x2000, 4, record_io, &b), 0);

	cr_assert_not(bus_access(&bus, 0x1002, data, 4, true)); /* across two ranges */
	cr_assert_not(bus_access(&bus, 0x1000, data, 8, false)); /* covers both */
	cr_assert_not(bus_access(&bus, 0x2002, data, 4, true)); /* past the end into nothing */
	cr_assert_not(bus_access(&bus, 0x1ffe, data, 4, true)); /* from nothing into a range */
	cr_assert_not(bus_access(&bus, UINT64_MAX - 1, data, 4, false)); /* wraps */
	cr_assert_not(bus_access(&bus, 0x1000, data, 0, false));
	cr_assert_eq(a.calls, 0);
	cr_assert_eq(b.calls, 0);
}

Test(bus, unregister_removes_only_the_named_range)
{
	struct recorder a = { 0 }, b = { 0 };
	uint8_t data[1] = { 0 };

	cr_assert_eq(bus_register(&bus, 0x10, 0x10, record_io, &a), 0);
	cr_assert_eq(bus_register(&bus, 0x20, 0x10, record_io, &b), 0);
	cr_assert_eq(bus_unregister(&bus, 0x18), -ENOENT); /* not a base */
	cr_assert_eq(bus_unregister(&bus, 0x30), -ENOENT);
	cr_assert_eq(bus_unregister(&bus, 0x10), 0);
	cr_assert_eq(bus_unregister(&bus, 0x10), -ENOENT);

	cr_assert_not(bus_access(&bus, 0x10, data, 1, false));
	cr_assert(bus_access(&bus, 0x20, data, 1, false));
	cr_assert_eq(a.calls, 0);
	cr_assert_eq(b.calls, 1);

	/* The space is free again. */
	cr_assert_eq(bus_register(&bus, 0x8, 0x18, record_io, &a), 0);
	cr_assert(bus_access(&bus, 0x10, data, 1, false));
	cr_assert_eq(a.offset, 8);
}

Test(bus, grows_past_its_initial_capacity)
{
	struct recorder r = { 0 };
	uint8_t data[1];

	for (uint64_t i = 0; i < 100; i++)
		cr_assert_eq(bus_register(&bus, (99 - i) * 0x100, 0x10, record_io, &r), 0);
	cr_assert_eq(bus.nr, 100);
	for (uint64_t i = 0; i < 100; i++) {
		cr_assert(bus_access(&bus, i * 0x100 + 0xf, data, 1, false));
		cr_assert_not(bus_access(&bus, i * 0x100 + 0x10, data, 1, false));
	}
}

/* A handler may change the bus that called it (a PCI config write moving an I/O BAR). */
static struct bus *reentrant_bus;

static void move_self_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			 bool is_write)
{
	struct recorder *r = opaque;

	r->calls++;
	cr_assert_eq(bus_unregister(reentrant_bus, 0x100), 0);
	cr_assert_eq(bus_register(reentrant_bus, 0x200, 0x10, record_io, r), 0);
}

Test(bus, handler_may_reregister_on_its_own_bus, .timeout = 5)
{
	struct recorder r = { 0 };
	uint8_t data[1] = { 0 };

	reentrant_bus = &bus;
	cr_assert_eq(bus_register(&bus, 0x100, 0x10, move_self_io, &r), 0);
	cr_assert(bus_access(&bus, 0x104, data, 1, true));
	cr_assert_not(bus_access(&bus, 0x104, data, 1, true));
	cr_assert(bus_access(&bus, 0x204, data, 1, true));
	cr_assert_eq(r.calls, 2);
	cr_assert_eq(r.offset, 4);
}

struct hammer {
	struct bus *bus;
	int *stop;
	long hits;
};

static void count_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		     bool is_write)
{
	__atomic_add_fetch((long *)opaque, 1, __ATOMIC_RELAXED);
	memset(data, 0, len);
}

static void *hammer_access(void *arg)
{
	struct hammer *h = arg;
	uint8_t data[4];

	while (!__atomic_load_n(h->stop, __ATOMIC_RELAXED))
		if (bus_access(h->bus, 0x5000, data, 4, false))
			__atomic_add_fetch(&h->hits, 1, __ATOMIC_RELAXED);
	return NULL;
}

Test(bus, concurrent_lookups_and_registrations, .timeout = 20)
{
	long calls = 0, unused = 0;
	int stop = 0;
	struct hammer h[2] = { { .bus = &bus, .stop = &stop }, { .bus = &bus, .stop = &stop } };
	pthread_t t[2];

	cr_assert_eq(bus_register(&bus, 0x5000, 0x10, count_io, &calls), 0);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, hammer_access, &h[i]);
	/* Insertions before the hammered range shift it around in the table. */
	for (uint64_t i = 0; i < 20000 || !__atomic_load_n(&h[0].hits, __ATOMIC_RELAXED) ||
			    !__atomic_load_n(&h[1].hits, __ATOMIC_RELAXED); i++) {
		cr_assert_eq(bus_register(&bus, 0x100 * (i % 64), 0x10, count_io, &unused), 0);
		cr_assert_eq(bus_unregister(&bus, 0x100 * (i % 64)), 0);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	/* Every lookup of the fixed range succeeded while the table changed. */
	cr_assert_gt(h[0].hits + h[1].hits, 0);
	cr_assert_eq(calls, h[0].hits + h[1].hits);
	cr_assert_eq(unused, 0);
	cr_assert_eq(bus.nr, 1);
}
