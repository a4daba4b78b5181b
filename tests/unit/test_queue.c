// SPDX-License-Identifier: Apache-2.0
/*
 * Split virtqueues, device side, against real guest memory. The test plays the driver:
 * it writes descriptors and avail entries into guest RAM and reads the used ring back.
 * Guest RAM is followed by a PROT_NONE guard page, so any read or write past the end of
 * RAM kills the test instead of going unnoticed.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <endian.h>
#include <errno.h>
#include <linux/virtio_ring.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/guest_mem.h"
#include "lib/log.h"
#include "virtio/queue.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define PAGE 4096ULL
#define RAM_SIZE (16ULL << 20)
#define MAX_SIZE 256
#define QSIZE 8
#define DESC_GPA 0x10000ULL
#define AVAIL_GPA 0x11000ULL
#define USED_GPA 0x12000ULL
#define RINGS_BYTES 0x3000ULL   /* desc, avail and used pages */
#define IND_GPA 0x20000ULL      /* indirect tables */
#define IND2_GPA 0x30000ULL     /* a second one, for nesting */
#define DATA_GPA 0x100000ULL    /* buffers */
#define PAST_RAM (RAM_SIZE + 0x10000)
#define MAX_IOV 512

static struct guest_mem mem;
static struct virtqueue vq;
static struct iovec iov[MAX_IOV];
static struct vq_chain chain;
static int log_fd = -1;

static void *host(uint64_t gpa)
{
	void *p = guest_mem_ptr(&mem, gpa, 1);

	cr_assert_not_null(p, "gpa 0x%llx not RAM", (unsigned long long)gpa);
	return p;
}

static void setup(void)
{
	/* One page more than RAM, made inaccessible and cut off: RAM ends at a guard page. */
	cr_assert_eq(guest_mem_init(&mem, RAM_SIZE + PAGE), 0);
	cr_assert_eq(mprotect(mem.mapping + RAM_SIZE, PAGE, PROT_NONE), 0);
	mem.region[0].size = RAM_SIZE;
	cr_assert_null(guest_mem_ptr(&mem, RAM_SIZE, 1));
	memset(&vq, 0, sizeof(vq));
	vq.max_size = MAX_SIZE;
	/* Catch the log: the hostile cases check why the queue broke, not only that it did. */
	log_fd = memfd_create("log", 0);
	cr_assert_geq(log_fd, 0);
	log_set_fd(log_fd);
}

static void teardown(void)
{
	log_set_fd(2);
	close(log_fd);
	guest_mem_free(&mem);
}

static bool logged(const char *what)
{
	static char buf[4096];
	ssize_t n = pread(log_fd, buf, sizeof(buf) - 1, 0);

	cr_assert_geq(n, 0);
	buf[n] = 0;
	return strstr(buf, what);
}

TestSuite(queue, .init = setup, .fini = teardown);

static int configure(uint16_t size, bool event_idx, bool indirect)
{
	vq_reset(&vq);
	vq.size = size;
	vq.desc_addr = DESC_GPA;
	vq.avail_addr = AVAIL_GPA;
	vq.used_addr = USED_GPA;
	vq.enabled = true;
	return vq_activate(&vq, &mem, event_idx, indirect);
}

/* The driver's side. */

static struct vring_desc *desc_table(uint64_t gpa)
{
	return host(gpa);
}

static void set_desc(uint64_t table, unsigned int i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	desc_table(table)[i] = (struct vring_desc){
		.addr = htole64(addr),
		.len = htole32(len),
		.flags = htole16(flags),
		.next = htole16(next),
	};
}

static void desc(unsigned int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	set_desc(DESC_GPA, i, addr, len, flags, next);
}

static void ind(unsigned int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	set_desc(IND_GPA, i, addr, len, flags, next);
}

static struct vring_avail *avail(void)
{
	return host(AVAIL_GPA);
}

static struct vring_used *used(void)
{
	return host(USED_GPA);
}

static void set_avail_idx(uint16_t idx)
{
	avail()->idx = htole16(idx);
}

/* Make head available at the driver's current avail idx. */
static void publish(uint16_t head)
{
	uint16_t idx = le16toh(avail()->idx);

	avail()->ring[idx % vq.size] = htole16(head);
	set_avail_idx(idx + 1);
}

static uint16_t used_idx(void)
{
	return le16toh(used()->idx);
}

static void set_used_event(uint16_t v)
{
	avail()->ring[vq.size] = htole16(v);
}

static uint16_t avail_event(void)
{
	return le16toh(*(uint16_t *)&used()->ring[vq.size]);
}

static void assert_iov(unsigned int i, uint64_t gpa, size_t len)
{
	cr_assert_eq(iov[i].iov_base, host(gpa), "iov[%u] base", i);
	cr_assert_eq(iov[i].iov_len, len, "iov[%u] len %zu, expected %zu", i, iov[i].iov_len,
		     len);
}

/* vq_activate */

Test(queue, activate_maps_rings)
{
	cr_assert_eq(configure(QSIZE, true, true), 0);
	cr_assert(vq.active);
	cr_assert(vq.event_idx);
	cr_assert(vq.indirect);
	cr_assert_eq((void *)vq.desc, host(DESC_GPA));
	cr_assert_eq((void *)vq.avail, host(AVAIL_GPA));
	cr_assert_eq((void *)vq.used, host(USED_GPA));
	cr_assert_eq(vq.mem, &mem);
	cr_assert_eq(configure(MAX_SIZE, false, false), 0);
	cr_assert_not(vq.event_idx);
	cr_assert_not(vq.indirect);
	cr_assert_eq(configure(1, false, false), 0);
}

Test(queue, activate_rejects_bad_sizes)
{
	const uint16_t bad[] = { 0, 3, 6, 12, 255, 257, 512, 65535 };

	for (unsigned int i = 0; i < ARRAY_SIZE(bad); i++) {
		cr_assert_eq(configure(bad[i], false, false), -EINVAL, "size %u", bad[i]);
		cr_assert_not(vq.active, "size %u", bad[i]);
	}
	/* A power of two, but above what the device offers. */
	vq.max_size = 64;
	cr_assert_eq(configure(128, false, false), -EINVAL);
	cr_assert_eq(configure(64, false, false), 0);
	/* The device can never offer more than VQ_MAX_SIZE, nor nothing. */
	vq.max_size = VQ_MAX_SIZE + 1;
	cr_assert_eq(configure(8, false, false), -EINVAL);
	vq.max_size = 0;
	cr_assert_eq(configure(8, false, false), -EINVAL);
	vq.max_size = VQ_MAX_SIZE;
	vq_reset(&vq);
	vq.size = VQ_MAX_SIZE;
	vq.desc_addr = 0x100000;
	vq.avail_addr = 0x200000;
	vq.used_addr = 0x300000;
	cr_assert_eq(vq_activate(&vq, &mem, true, true), 0);
}

Test(queue, activate_rejects_misaligned_rings)
{
	const struct {
		uint64_t d, a, u;
		int expect;
	} c[] = {
		{ DESC_GPA + 8, AVAIL_GPA, USED_GPA, -EINVAL },
		{ DESC_GPA + 1, AVAIL_GPA, USED_GPA, -EINVAL },
		{ DESC_GPA, AVAIL_GPA + 1, USED_GPA, -EINVAL },
		{ DESC_GPA, AVAIL_GPA, USED_GPA + 2, -EINVAL },
		{ DESC_GPA, AVAIL_GPA, USED_GPA + 1, -EINVAL },
		/* The minimum alignments are enough. */
		{ DESC_GPA + 16, AVAIL_GPA + 2, USED_GPA + 4, 0 },
	};

	for (unsigned int i = 0; i < ARRAY_SIZE(c); i++) {
		vq_reset(&vq);
		vq.size = QSIZE;
		vq.desc_addr = c[i].d;
		vq.avail_addr = c[i].a;
		vq.used_addr = c[i].u;
		cr_assert_eq(vq_activate(&vq, &mem, false, false), c[i].expect, "case %u", i);
		cr_assert_eq(vq.active, c[i].expect == 0, "case %u", i);
	}
}

static int activate_at(uint64_t d, uint64_t a, uint64_t u, bool event_idx)
{
	vq_reset(&vq);
	vq.size = QSIZE;
	vq.desc_addr = d;
	vq.avail_addr = a;
	vq.used_addr = u;
	return vq_activate(&vq, &mem, event_idx, false);
}

Test(queue, activate_rejects_rings_outside_ram)
{
	const uint64_t outside[] = { RAM_SIZE, PAST_RAM, GUEST_MEM_HOLE_START,
				     GUEST_MEM_HIGH_START, 1ULL << 40, UINT64_MAX - 15 };

	for (unsigned int i = 0; i < ARRAY_SIZE(outside); i++) {
		uint64_t o = outside[i];

		cr_assert_eq(activate_at(o, AVAIL_GPA, USED_GPA, false), -EINVAL, "desc %#lx", o);
		cr_assert_eq(activate_at(DESC_GPA, o, USED_GPA, false), -EINVAL, "avail %#lx", o);
		cr_assert_eq(activate_at(DESC_GPA, AVAIL_GPA, o, false), -EINVAL, "used %#lx", o);
		cr_assert_not(vq.active);
	}
}

Test(queue, activate_rejects_rings_straddling_end_of_ram)
{
	const uint64_t desc_end = RAM_SIZE - 16 * QSIZE;
	const uint64_t avail_end = RAM_SIZE - (4 + 2 * QSIZE);
	const uint64_t used_end = RAM_SIZE - (4 + 8 * QSIZE);

	/* Ending exactly at the end of RAM is fine ... */
	cr_assert_eq(activate_at(desc_end, AVAIL_GPA, USED_GPA, false), 0);
	cr_assert_eq(activate_at(DESC_GPA, avail_end, USED_GPA, false), 0);
	cr_assert_eq(activate_at(DESC_GPA, AVAIL_GPA, used_end, false), 0);
	/* ... one element further is not. */
	cr_assert_eq(activate_at(desc_end + 16, AVAIL_GPA, USED_GPA, false), -EINVAL);
	cr_assert_eq(activate_at(DESC_GPA, avail_end + 2, USED_GPA, false), -EINVAL);
	cr_assert_eq(activate_at(DESC_GPA, AVAIL_GPA, used_end + 4, false), -EINVAL);
	/* With event idx, used_event and avail_event are part of the rings. */
	cr_assert_eq(activate_at(DESC_GPA, avail_end, USED_GPA, true), -EINVAL);
	cr_assert_eq(activate_at(DESC_GPA, AVAIL_GPA, used_end, true), -EINVAL);
	cr_assert_eq(activate_at(DESC_GPA, avail_end - 2, used_end - 4, true), 0);
}

Test(queue, failed_activate_leaves_nothing_mapped)
{
	cr_assert_eq(configure(QSIZE, false, false), 0);
	desc(0, DATA_GPA, 16, 0, 0);
	publish(0);
	vq.size = 3;
	cr_assert_eq(vq_activate(&vq, &mem, false, false), -EINVAL);
	cr_assert_not(vq.active);
	cr_assert_null(vq.desc);
	cr_assert_null(vq.avail);
	cr_assert_null(vq.used);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 0);
	cr_assert_not(vq_has_available(&vq));
	vq_push(&vq, 0, 1);
	cr_assert_eq(used_idx(), 0);
	cr_assert_not(vq_should_notify(&vq));
}

Test(queue, reset_keeps_only_max_size)
{
	struct virtqueue want = { .max_size = MAX_SIZE };

	cr_assert_eq(configure(QSIZE, true, true), 0);
	vq.last_avail_idx = 5;
	vq.used_idx = 7;
	vq.signalled_used = 3;
	vq.signalled_used_valid = true;
	vq.broken = true;
	vq.msix_vector = 2;
	vq_reset(&vq);
	cr_assert_eq(memcmp(&vq, &want, sizeof(vq)), 0);
}

/* vq_pop / vq_push: well-formed chains */

Test(queue, empty_ring_pops_nothing)
{
	cr_assert_eq(configure(QSIZE, false, true), 0);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 0);
	cr_assert_not(vq_has_available(&vq));
	cr_assert_eq(vq.last_avail_idx, 0);
	cr_assert_not(vq.broken);
}

Test(queue, out_and_in_chain_then_push)
{
	cr_assert_eq(configure(QSIZE, false, false), 0);
	desc(2, DATA_GPA, 16, VRING_DESC_F_NEXT, 5);
	desc(5, DATA_GPA + 0x1000, 100, VRING_DESC_F_NEXT, 1);
	desc(1, DATA_GPA + 0x2000, 512, VRING_DESC_F_WRITE, 0);
	desc(3, DATA_GPA + 0x3000, 1, VRING_DESC_F_WRITE, 0);
	publish(2);
	publish(3);
	cr_assert(vq_has_available(&vq));

	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	cr_assert_eq(chain.head, 2);
	cr_assert_eq(chain.nr_out, 2);
	cr_assert_eq(chain.nr_in, 1);
	cr_assert_eq(chain.out_len, 116);
	cr_assert_eq(chain.in_len, 512);
	cr_assert_eq(chain.iov, iov);
	assert_iov(0, DATA_GPA, 16);
	assert_iov(1, DATA_GPA + 0x1000, 100);
	assert_iov(2, DATA_GPA + 0x2000, 512);
	cr_assert_eq(vq.last_avail_idx, 1);

	vq_push(&vq, chain.head, 300);
	cr_assert_eq(used_idx(), 1);
	cr_assert_eq(le32toh(used()->ring[0].id), 2);
	cr_assert_eq(le32toh(used()->ring[0].len), 300);

	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	cr_assert_eq(chain.head, 3);
	cr_assert_eq(chain.nr_out, 0);
	cr_assert_eq(chain.nr_in, 1);
	assert_iov(0, DATA_GPA + 0x3000, 1);
	vq_push(&vq, chain.head, 1);
	cr_assert_eq(used_idx(), 2);
	cr_assert_eq(le32toh(used()->ring[1].id), 3);
	cr_assert_eq(le32toh(used()->ring[1].len), 1);

	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 0);
	cr_assert_not(vq_has_available(&vq));
}

/* SIGUSR2's dump: a stalled queue's post-mortem needs every index of both sides. */
Test(queue, log_state_shows_both_sides_indices)
{
	enum log_level level = log_get_level();

	cr_assert_eq(configure(QSIZE, true, false), 0);
	for (unsigned int i = 0; i < 3; i++) {
		desc(i, DATA_GPA + i * 0x100, 16, 0, 0);
		publish(i);
	}
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	vq_push(&vq, chain.head, 0);
	set_used_event(5);
	cr_assert(vq_should_notify(&vq));
	cr_assert(vq_enable_notify(&vq)); /* one still available: avail_event = 2 */
	log_set_level(LOG_INFO);
	vq_log_state(&vq, "q0");
	log_set_level(level);
	cr_assert(logged("q0: size 8 avail idx 3 flags 0 event_idx last_avail 2 | used idx 1 "
			 "flags 0 | used_event 5 avail_event 2 signalled_used 1\n"));
}

Test(queue, chain_of_exactly_queue_size_descriptors)
{
	cr_assert_eq(configure(QSIZE, false, false), 0);
	for (unsigned int i = 0; i < QSIZE - 1; i++)
		desc(i, DATA_GPA + i * 0x100, 0x10, VRING_DESC_F_NEXT, i + 1);
	desc(QSIZE - 1, DATA_GPA + 0x1000, 0x20, VRING_DESC_F_WRITE, 0);
	publish(0);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	cr_assert_eq(chain.nr_out, QSIZE - 1);
	cr_assert_eq(chain.nr_in, 1);
	assert_iov(QSIZE - 1, DATA_GPA + 0x1000, 0x20);
}

Test(queue, indirect_chain)
{
	cr_assert_eq(configure(QSIZE, false, true), 0);
	ind(0, DATA_GPA, 16, VRING_DESC_F_NEXT, 2);
	ind(2, DATA_GPA + 0x1000, 4096, VRING_DESC_F_NEXT, 1);
	ind(1, DATA_GPA + 0x2000, 1, VRING_DESC_F_WRITE, 0);
	desc(4, IND_GPA, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(4);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	cr_assert_eq(chain.head, 4);
	cr_assert_eq(chain.nr_out, 2);
	cr_assert_eq(chain.nr_in, 1);
	cr_assert_eq(chain.out_len, 16 + 4096);
	cr_assert_eq(chain.in_len, 1);
	assert_iov(0, DATA_GPA, 16);
	assert_iov(1, DATA_GPA + 0x1000, 4096);
	assert_iov(2, DATA_GPA + 0x2000, 1);
	vq_push(&vq, 4, 1);
	cr_assert_eq(le32toh(used()->ring[0].id), 4);
	cr_assert_eq(used_idx(), 1);
}

Test(queue, indirect_table_need_not_be_aligned)
{
	/* The spec asks no alignment of indirect tables: they are read bytewise. */
	const uint64_t table = IND_GPA + 3;
	const struct vring_desc e[2] = {
		{ htole64(DATA_GPA), htole32(8), htole16(VRING_DESC_F_NEXT), htole16(1) },
		{ htole64(DATA_GPA + 0x100), htole32(4), htole16(VRING_DESC_F_WRITE), 0 },
	};

	cr_assert_eq(configure(QSIZE, false, true), 0);
	memcpy(host(table), e, sizeof(e));
	desc(0, table, sizeof(e), VRING_DESC_F_INDIRECT, 0);
	publish(0);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	cr_assert_eq(chain.nr_out, 1);
	cr_assert_eq(chain.nr_in, 1);
	assert_iov(0, DATA_GPA, 8);
	assert_iov(1, DATA_GPA + 0x100, 4);
}

Test(queue, indirect_table_longer_than_next_can_reach)
{
	/*
	 * 65537 entries: next is 16 bits, so a chain can visit 65536 of them at most. One
	 * that long is valid (too long for the caller: -ENOBUFS); one more step is a loop.
	 */
	const uint64_t table = 0x400000;
	const unsigned int n = 65537;

	cr_assert_eq(configure(QSIZE, false, true), 0);
	for (unsigned int i = 0; i < 65536; i++)
		set_desc(table, i, DATA_GPA, 1, i < 65535 ? VRING_DESC_F_NEXT : 0, i + 1);
	desc(0, table, n * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), -ENOBUFS);
	cr_assert_not(vq.broken);

	set_desc(table, 65535, DATA_GPA, 1, VRING_DESC_F_NEXT, 0);
	publish(0);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), -EINVAL);
	cr_assert(logged("indirect chain loops"));
}

Test(queue, direct_descriptors_then_indirect_table)
{
	/* The spec's "normal chained descriptors followed by a single indirect one". */
	cr_assert_eq(configure(QSIZE, false, true), 0);
	desc(0, DATA_GPA, 8, VRING_DESC_F_NEXT, 1);
	desc(1, IND_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	ind(0, DATA_GPA + 0x100, 24, VRING_DESC_F_NEXT, 1);
	ind(1, DATA_GPA + 0x200, 32, VRING_DESC_F_WRITE, 0);
	publish(0);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	cr_assert_eq(chain.nr_out, 2);
	cr_assert_eq(chain.nr_in, 1);
	assert_iov(0, DATA_GPA, 8);
	assert_iov(1, DATA_GPA + 0x100, 24);
	assert_iov(2, DATA_GPA + 0x200, 32);
}

Test(queue, write_flag_of_indirect_descriptor_is_ignored)
{
	/* virtio 1.2, indirect descriptors: the device MUST ignore it; the table counts. */
	cr_assert_eq(configure(QSIZE, false, true), 0);
	desc(0, IND_GPA, 2 * 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	ind(0, DATA_GPA, 8, VRING_DESC_F_NEXT, 1);
	ind(1, DATA_GPA + 0x100, 8, VRING_DESC_F_WRITE, 0);
	publish(0);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	cr_assert_eq(chain.nr_out, 1);
	cr_assert_eq(chain.nr_in, 1);
}

Test(queue, zero_length_descriptors_are_skipped)
{
	/*
	 * Decision: a zero-length descriptor names no memory, so it is accepted whatever
	 * its address and yields no iovec; it still obeys the out-before-in rule (see the
	 * zero_len_out_after_in hostile case).
	 */
	cr_assert_eq(configure(QSIZE, false, true), 0);
	desc(0, PAST_RAM, 0, VRING_DESC_F_NEXT, 1);
	desc(1, DATA_GPA, 16, VRING_DESC_F_NEXT, 2);
	desc(2, UINT64_MAX, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
	desc(3, DATA_GPA + 0x100, 4, VRING_DESC_F_WRITE, 0);
	publish(0);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	cr_assert_eq(chain.nr_out, 1);
	cr_assert_eq(chain.nr_in, 1);
	cr_assert_eq(chain.out_len, 16);
	cr_assert_eq(chain.in_len, 4);
	assert_iov(0, DATA_GPA, 16);
	assert_iov(1, DATA_GPA + 0x100, 4);

	/* A chain of nothing but zero-length buffers is a valid, empty request. */
	ind(0, PAST_RAM, 0, 0, 0);
	desc(4, IND_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	publish(4);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	cr_assert_eq(chain.head, 4);
	cr_assert_eq(chain.nr_out + chain.nr_in, 0);
	cr_assert_eq(chain.out_len + chain.in_len, 0);
}

Test(queue, each_direction_may_total_exactly_u32_max)
{
	/* 256 buffers of (16 MiB, all of RAM) minus one byte, in each direction. */
	cr_assert_eq(configure(QSIZE, false, true), 0);
	for (unsigned int i = 0; i < 512; i++) {
		uint32_t len = (i == 255 || i == 511) ? RAM_SIZE - 1 : RAM_SIZE;
		uint16_t flags = (i >= 256 ? VRING_DESC_F_WRITE : 0) |
				 (i < 511 ? VRING_DESC_F_NEXT : 0);

		ind(i, 0, len, flags, i + 1);
	}
	desc(0, IND_GPA, 512 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	cr_assert_eq(chain.out_len, UINT32_MAX);
	cr_assert_eq(chain.in_len, UINT32_MAX);
	cr_assert_eq(chain.nr_out, 256);
	cr_assert_eq(chain.nr_in, 256);
}

Test(queue, indexes_wrap_at_65536)
{
	cr_assert_eq(configure(QSIZE, false, false), 0);
	vq.last_avail_idx = 0xfffe;
	vq.used_idx = 0xffff;
	set_avail_idx(0xfffe);
	for (unsigned int i = 0; i < 3; i++) {
		desc(i, DATA_GPA + i * 0x100, 0x10, 0, 0);
		publish(i);
	}
	cr_assert_eq(le16toh(avail()->idx), 1);
	/* Ring slots 0xfffe % 8 = 6, 7, then 0. */
	cr_assert_eq(le16toh(avail()->ring[6]), 0);
	cr_assert_eq(le16toh(avail()->ring[0]), 2);
	for (unsigned int i = 0; i < 3; i++) {
		cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1, "pop %u", i);
		cr_assert_eq(chain.head, i);
		assert_iov(0, DATA_GPA + i * 0x100, 0x10);
		vq_push(&vq, chain.head, i + 10);
	}
	cr_assert_eq(vq.last_avail_idx, 1);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 0);
	cr_assert_eq(used_idx(), 2);
	cr_assert_eq(le32toh(used()->ring[7].id), 0);
	cr_assert_eq(le32toh(used()->ring[0].id), 1);
	cr_assert_eq(le32toh(used()->ring[0].len), 11);
	cr_assert_eq(le32toh(used()->ring[1].id), 2);
	cr_assert_eq(le32toh(used()->ring[1].len), 12);
}

Test(queue, enobufs_consumes_the_chain_and_queue_stays_usable)
{
	cr_assert_eq(configure(QSIZE, false, true), 0);
	desc(0, DATA_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc(1, DATA_GPA + 0x100, 16, VRING_DESC_F_NEXT, 2);
	desc(2, DATA_GPA + 0x200, 1, VRING_DESC_F_WRITE, 0);
	desc(3, DATA_GPA + 0x300, 16, VRING_DESC_F_NEXT, 4);
	desc(4, DATA_GPA + 0x400, 1, VRING_DESC_F_WRITE, 0);
	publish(0);
	publish(3);
	cr_assert_eq(vq_pop(&vq, &chain, iov, 2), -ENOBUFS);
	cr_assert_eq(chain.head, 0);
	cr_assert_eq(chain.nr_out + chain.nr_in, 0);
	cr_assert_not(vq.broken);
	cr_assert_eq(vq.last_avail_idx, 1);
	vq_push(&vq, chain.head, 0);
	cr_assert_eq(used_idx(), 1);
	cr_assert_eq(le32toh(used()->ring[0].id), 0);
	cr_assert_eq(le32toh(used()->ring[0].len), 0);

	cr_assert_eq(vq_pop(&vq, &chain, iov, 2), 1);
	cr_assert_eq(chain.head, 3);
	cr_assert_eq(chain.nr_out, 1);
	cr_assert_eq(chain.nr_in, 1);
	assert_iov(1, DATA_GPA + 0x400, 1);
}

/* vq_pop: the hostile table */

struct hostile {
	const char *name;
	void (*build)(void); /* lays out the chain and publishes it */
	bool no_indirect;    /* VIRTIO_F_INDIRECT_DESC not negotiated */
	unsigned int max_iov; /* 0: MAX_IOV */
	int expect;
	const char *why;      /* in the log line of the break */
};

static void valid_buffer(unsigned int i)
{
	desc(i, DATA_GPA + i * 0x100, 16, 0, 0);
}

static void h_desc_addr_past_ram(void)
{
	desc(0, PAST_RAM, 16, 0, 0);
	publish(0);
}

static void h_desc_addr_at_end_of_ram(void)
{
	desc(0, RAM_SIZE, 1, VRING_DESC_F_WRITE, 0);
	publish(0);
}

static void h_desc_addr_in_pci_hole(void)
{
	desc(0, GUEST_MEM_HOLE_START, 16, 0, 0);
	publish(0);
}

static void h_addr_len_wraps_2_64(void)
{
	desc(0, UINT64_MAX - 15, 32, 0, 0);
	publish(0);
}

static void h_addr_len_wraps_into_ram(void)
{
	/* A naive addr + len <= end check would see [.., 0x1000) and pass. */
	desc(0, UINT64_MAX - PAGE + 1, 2 * PAGE, VRING_DESC_F_WRITE, 0);
	publish(0);
}

static void h_len_crosses_end_of_ram(void)
{
	desc(0, RAM_SIZE - 8, 16, VRING_DESC_F_WRITE, 0);
	publish(0);
}

static void h_len_larger_than_ram(void)
{
	desc(0, 0, UINT32_MAX, 0, 0);
	publish(0);
}

static void h_second_desc_outside_ram(void)
{
	desc(0, DATA_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc(1, PAST_RAM, 16, VRING_DESC_F_WRITE, 0);
	publish(0);
}

static void h_head_out_of_range(void)
{
	valid_buffer(0);
	publish(QSIZE);
}

static void h_head_0xffff(void)
{
	valid_buffer(0);
	publish(0xffff);
}

static void h_next_out_of_range(void)
{
	desc(0, DATA_GPA, 16, VRING_DESC_F_NEXT, QSIZE);
	publish(0);
}

static void h_self_loop(void)
{
	desc(0, DATA_GPA, 16, VRING_DESC_F_NEXT, 0);
	publish(0);
}

static void h_loop_0_1_0(void)
{
	desc(0, DATA_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc(1, DATA_GPA + 0x100, 16, VRING_DESC_F_NEXT, 0);
	publish(0);
}

static void h_chain_longer_than_size(void)
{
	/* Every descriptor once, then back to the head: size + 1 steps. */
	for (unsigned int i = 0; i < QSIZE; i++)
		desc(i, DATA_GPA + i * 0x100, 16, VRING_DESC_F_NEXT, (i + 1) % QSIZE);
	publish(3);
}

static void h_loop_of_zero_length_descriptors(void)
{
	desc(0, 0, 0, VRING_DESC_F_NEXT, 1);
	desc(1, 0, 0, VRING_DESC_F_NEXT, 0);
	publish(0);
}

static void h_out_after_in(void)
{
	desc(0, DATA_GPA, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	desc(1, DATA_GPA + 0x100, 16, 0, 0);
	publish(0);
}

static void h_zero_len_out_after_in(void)
{
	desc(0, DATA_GPA, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	desc(1, DATA_GPA + 0x100, 0, 0, 0);
	publish(0);
}

static void valid_table(unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		ind(i, DATA_GPA + i * 0x100, 16, i + 1 < n ? VRING_DESC_F_NEXT : 0, i + 1);
}

static void h_indirect_not_negotiated(void)
{
	valid_table(2);
	desc(0, IND_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
}

static void h_nested_indirect(void)
{
	set_desc(IND2_GPA, 0, DATA_GPA, 16, 0, 0);
	ind(0, DATA_GPA, 16, VRING_DESC_F_NEXT, 1);
	ind(1, IND2_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	desc(0, IND_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
}

static void h_indirect_with_next(void)
{
	valid_table(2);
	desc(0, IND_GPA, 2 * 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	valid_buffer(1);
	publish(0);
}

static void h_indirect_len_not_multiple_of_16(void)
{
	valid_table(2);
	desc(0, IND_GPA, 24, VRING_DESC_F_INDIRECT, 0);
	publish(0);
}

static void h_indirect_len_zero(void)
{
	valid_table(2);
	desc(0, IND_GPA, 0, VRING_DESC_F_INDIRECT, 0);
	publish(0);
}

static void h_indirect_table_outside_ram(void)
{
	desc(0, PAST_RAM, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
}

static void h_indirect_table_straddles_end_of_ram(void)
{
	desc(0, RAM_SIZE - 16, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
}

static void h_indirect_table_wraps_2_64(void)
{
	desc(0, UINT64_MAX - 15, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
}

static void h_indirect_entry_outside_ram(void)
{
	ind(0, DATA_GPA, 16, VRING_DESC_F_NEXT, 1);
	ind(1, RAM_SIZE - 4, 8, VRING_DESC_F_WRITE, 0);
	desc(0, IND_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
}

static void h_indirect_next_out_of_range(void)
{
	/* Entry 2 exists in guest memory, but not in the table the driver declared. */
	valid_table(3);
	desc(0, IND_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
}

static void h_indirect_loop(void)
{
	ind(0, DATA_GPA, 16, VRING_DESC_F_NEXT, 1);
	ind(1, DATA_GPA + 0x100, 16, VRING_DESC_F_NEXT, 0);
	desc(0, IND_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
}

static void h_indirect_out_after_in(void)
{
	ind(0, DATA_GPA, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	ind(1, DATA_GPA + 0x100, 16, 0, 0);
	desc(0, IND_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
}

static void h_direct_in_then_indirect_out(void)
{
	valid_table(1);
	desc(0, DATA_GPA, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	desc(1, IND_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
}

static void h_avail_idx_jumps_ahead(void)
{
	for (unsigned int i = 0; i < QSIZE; i++) {
		valid_buffer(i);
		publish(i);
	}
	publish(0); /* size + 1 entries: more than the ring holds */
}

static void h_avail_idx_goes_backwards(void)
{
	valid_buffer(0);
	publish(0);
	set_avail_idx(0xffff);
}

static void overflowing_table(uint16_t flags)
{
	/* 256 buffers of all 16 MiB of RAM: exactly 4 GiB, one byte too many. */
	for (unsigned int i = 0; i < 256; i++)
		ind(i, 0, RAM_SIZE, flags | (i < 255 ? VRING_DESC_F_NEXT : 0), i + 1);
	desc(0, IND_GPA, 256 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
}

static void h_total_out_overflows_u32(void)
{
	overflowing_table(0);
}

static void h_total_in_overflows_u32(void)
{
	overflowing_table(VRING_DESC_F_WRITE);
}

static void h_overflow_with_more_buffers_than_max_iov(void)
{
	overflowing_table(0);
}

static void h_more_buffers_than_max_iov(void)
{
	desc(0, DATA_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc(1, DATA_GPA + 0x100, 16, VRING_DESC_F_NEXT, 2);
	desc(2, DATA_GPA + 0x200, 16, VRING_DESC_F_WRITE, 0);
	publish(0);
}

static void h_indirect_more_buffers_than_max_iov(void)
{
	valid_table(5);
	desc(0, IND_GPA, 5 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
}

static void h_malformed_past_max_iov(void)
{
	desc(0, DATA_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc(1, DATA_GPA + 0x100, 16, VRING_DESC_F_NEXT, 2);
	desc(2, PAST_RAM, 16, VRING_DESC_F_WRITE, 0);
	publish(0);
}

#define H(fn, ret, reason, ...) \
	{ .name = #fn, .build = h_##fn, .expect = ret, .why = reason, __VA_ARGS__ }

static const struct hostile hostile_cases[] = {
	H(desc_addr_past_ram, -EINVAL, "buffer outside guest RAM: 0x1010000+0x10"),
	H(desc_addr_at_end_of_ram, -EINVAL, "buffer outside guest RAM: 0x1000000+0x1"),
	H(desc_addr_in_pci_hole, -EINVAL, "buffer outside guest RAM: 0xc0000000+0x10"),
	H(addr_len_wraps_2_64, -EINVAL, "buffer outside guest RAM: 0xfffffffffffffff0+0x20"),
	H(addr_len_wraps_into_ram, -EINVAL, "buffer outside guest RAM: 0xfffffffffffff000+0x2000"),
	H(len_crosses_end_of_ram, -EINVAL, "buffer outside guest RAM: 0xfffff8+0x10"),
	H(len_larger_than_ram, -EINVAL, "buffer outside guest RAM: 0x0+0xffffffff"),
	H(second_desc_outside_ram, -EINVAL, "buffer outside guest RAM: 0x1010000+0x10"),
	H(head_out_of_range, -EINVAL, "head 8 >= queue size 8"),
	H(head_0xffff, -EINVAL, "head 65535 >= queue size 8"),
	H(next_out_of_range, -EINVAL, "next 8 >= queue size 8"),
	H(self_loop, -EINVAL, "chain from head 0 longer than queue size 8"),
	H(loop_0_1_0, -EINVAL, "chain from head 0 longer than queue size 8"),
	H(chain_longer_than_size, -EINVAL, "chain from head 3 longer than queue size 8"),
	H(loop_of_zero_length_descriptors, -EINVAL, "chain from head 0 longer than queue size 8"),
	H(out_after_in, -EINVAL, "device-readable descriptor after a device-writable one"),
	H(zero_len_out_after_in, -EINVAL, "device-readable descriptor after a device-writable one"),
	H(indirect_not_negotiated, -EINVAL,
	  "indirect descriptor without VIRTIO_F_INDIRECT_DESC", .no_indirect = true),
	H(nested_indirect, -EINVAL, "nested indirect table"),
	H(indirect_with_next, -EINVAL, "indirect descriptor with NEXT"),
	H(indirect_len_not_multiple_of_16, -EINVAL, "indirect table length 24"),
	H(indirect_len_zero, -EINVAL, "indirect table length 0"),
	H(indirect_table_outside_ram, -EINVAL, "indirect table outside guest RAM: 0x1010000+0x20"),
	H(indirect_table_straddles_end_of_ram, -EINVAL,
	  "indirect table outside guest RAM: 0xfffff0+0x20"),
	H(indirect_table_wraps_2_64, -EINVAL,
	  "indirect table outside guest RAM: 0xfffffffffffffff0+0x20"),
	H(indirect_entry_outside_ram, -EINVAL, "buffer outside guest RAM: 0xfffffc+0x8"),
	H(indirect_next_out_of_range, -EINVAL, "indirect next 2 >= 2"),
	H(indirect_loop, -EINVAL, "indirect chain loops"),
	H(indirect_out_after_in, -EINVAL, "device-readable descriptor after a device-writable one"),
	H(direct_in_then_indirect_out, -EINVAL,
	  "device-readable descriptor after a device-writable one"),
	H(avail_idx_jumps_ahead, -EINVAL, "avail idx 9 is 9 ahead of 0"),
	H(avail_idx_goes_backwards, -EINVAL, "avail idx 65535 is 65535 ahead of 0"),
	H(total_out_overflows_u32, -EINVAL, "out length over 4 GiB"),
	H(total_in_overflows_u32, -EINVAL, "in length over 4 GiB"),
	/* A malformed chain is malformed however many buffers the caller can take. */
	H(overflow_with_more_buffers_than_max_iov, -EINVAL, "out length over 4 GiB",
	  .max_iov = 4),
	H(malformed_past_max_iov, -EINVAL,
	  "buffer outside guest RAM: 0x1010000+0x10", .max_iov = 1),
	H(more_buffers_than_max_iov, -ENOBUFS, NULL, .max_iov = 2),
	H(indirect_more_buffers_than_max_iov, -ENOBUFS, NULL, .max_iov = 4),
};

static void free_params(struct criterion_test_params *crp)
{
	cr_free(crp->params);
}

/*
 * The parameters are indexes into hostile_cases: Criterion may run each test in a fresh
 * image of the binary, where the table's pointers would not be valid if copied.
 */
ParameterizedTestParameters(queue, hostile)
{
	unsigned int *idx = cr_malloc(sizeof(*idx) * ARRAY_SIZE(hostile_cases));

	for (unsigned int i = 0; i < ARRAY_SIZE(hostile_cases); i++)
		idx[i] = i;
	return cr_make_param_array(unsigned int, idx, ARRAY_SIZE(hostile_cases), free_params);
}

/* The driver's memory the device may read but must never write while popping. */
static uint8_t *snapshot(void)
{
	static uint8_t copy[0x40000];

	memcpy(copy, host(DESC_GPA), sizeof(copy));
	return copy;
}

static void check_broken(const struct hostile *h, const uint8_t *before)
{
	cr_assert(vq.broken, "%s: queue not broken", h->name);
	cr_assert(logged(h->why), "%s: broken, but not because of \"%s\"", h->name, h->why);
	cr_assert_eq(vq.last_avail_idx, 0, "%s: chain consumed", h->name);
	cr_assert_eq(chain.nr_out + chain.nr_in, 0, "%s: buffers exposed", h->name);
	cr_assert_eq(chain.out_len + chain.in_len, 0, "%s: lengths exposed", h->name);
	cr_assert_eq(memcmp(before, host(DESC_GPA), 0x40000), 0, "%s: rings written", h->name);
	/* Stays broken: even a now well-formed ring yields nothing. */
	valid_buffer(0);
	avail()->ring[0] = 0;
	set_avail_idx(1);
	cr_assert_not(vq_has_available(&vq), "%s", h->name);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), -EINVAL, "%s", h->name);
	cr_assert_eq(vq.last_avail_idx, 0, "%s", h->name);
}

static void check_enobufs(const struct hostile *h)
{
	cr_assert_not(vq.broken, "%s: queue broken", h->name);
	cr_assert_not(logged("broken"), "%s", h->name);
	cr_assert_eq(vq.last_avail_idx, 1, "%s: chain not consumed", h->name);
	cr_assert_eq(chain.head, 0, "%s: head", h->name);
	cr_assert_eq(chain.nr_out + chain.nr_in, 0, "%s: buffers exposed", h->name);
	cr_assert_eq(used_idx(), 0, "%s: used ring written", h->name);
	/* Still usable. */
	valid_buffer(6);
	publish(6);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1, "%s", h->name);
	cr_assert_eq(chain.head, 6, "%s", h->name);
}

ParameterizedTest(unsigned int *i, queue, hostile)
{
	const struct hostile *h = &hostile_cases[*i];
	const uint8_t *before;
	int ret;

	cr_assert_eq(configure(QSIZE, false, !h->no_indirect), 0);
	h->build();
	before = snapshot();
	ret = vq_pop(&vq, &chain, iov, h->max_iov ? h->max_iov : MAX_IOV);
	cr_assert_eq(ret, h->expect, "%s: vq_pop returned %d, expected %d", h->name, ret,
		     h->expect);
	if (ret == -EINVAL)
		check_broken(h, before);
	else
		check_enobufs(h);
}

Test(queue, broken_queue_stays_broken_until_reset)
{
	cr_assert_eq(configure(QSIZE, true, false), 0);
	valid_buffer(0);
	publish(QSIZE); /* head out of range */
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), -EINVAL);
	cr_assert(vq.broken);
	/* The driver repairs the entry: too late. */
	avail()->ring[0] = htole16(0);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), -EINVAL);
	cr_assert_not(vq_has_available(&vq));
	cr_assert_not(vq_enable_notify(&vq));
	/* Activating again is no reset. */
	cr_assert_eq(vq_activate(&vq, &mem, true, false), 0);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), -EINVAL);
	/* A reset is. */
	cr_assert_eq(configure(QSIZE, true, false), 0);
	cr_assert_not(vq.broken);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	cr_assert_eq(chain.head, 0);
}

/* A whole round trip with the rings at d, a, u: every access stays inside RAM. */
static void round_trip(uint64_t d, uint64_t a, uint64_t u)
{
	vq_reset(&vq);
	vq.size = QSIZE;
	vq.desc_addr = d;
	vq.avail_addr = a;
	vq.used_addr = u;
	cr_assert_eq(vq_activate(&vq, &mem, true, false), 0);
	/* A driver hands over zeroed rings (the previous round used some of them). */
	memset(vq.avail, 0, 6 + 2 * QSIZE);
	memset(vq.used, 0, 6 + 8 * QSIZE);
	set_desc(d, QSIZE - 1, DATA_GPA, RAM_SIZE - DATA_GPA, VRING_DESC_F_WRITE, 0);
	vq_disable_notify(&vq);
	cr_assert_not(vq_enable_notify(&vq));
	vq.avail->ring[0] = htole16(QSIZE - 1);
	vq.avail->ring[QSIZE] = htole16(0); /* used_event */
	vq.avail->idx = htole16(1);
	cr_assert(vq_has_available(&vq));
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	cr_assert_eq(chain.head, QSIZE - 1);
	cr_assert_eq(chain.in_len, RAM_SIZE - DATA_GPA);
	vq_push(&vq, chain.head, 1);
	cr_assert(vq_should_notify(&vq));
	cr_assert_not(vq_enable_notify(&vq));
	cr_assert_eq(le16toh(*(uint16_t *)&vq.used->ring[QSIZE]), 1); /* avail_event */
	cr_assert_eq(le16toh(vq.used->idx), 1);
}

Test(queue, rings_at_end_of_ram_with_event_idx)
{
	/* Each ring in turn right before the guard page (used can only get 2 bytes close). */
	round_trip(RAM_SIZE - 16 * QSIZE, AVAIL_GPA, USED_GPA);
	round_trip(DESC_GPA, RAM_SIZE - (6 + 2 * QSIZE), USED_GPA);
	round_trip(DESC_GPA, AVAIL_GPA, RAM_SIZE - (6 + 8 * QSIZE) - 2);
}

/* Notifications */

Test(queue, need_event_matches_unwrapped_model)
{
	/* In 32-bit counters that do not wrap: notify iff old <= event < new. */
	for (uint32_t old = 65536 - 40; old < 65536 + 40; old++) {
		for (uint32_t n = old; n < old + 40; n++) {
			for (uint32_t e = old - 20; e < old + 60; e++) {
				bool want = e >= old && e < n;

				cr_assert_eq(vq_need_event(e, n, old), want,
					     "event %u new %u old %u", e & 0xffff, n & 0xffff,
					     old & 0xffff);
			}
		}
	}
}

Test(queue, need_event_around_65535)
{
	cr_assert(vq_need_event(65535, 0, 65534));
	cr_assert(vq_need_event(65535, 0, 65535));
	cr_assert_not(vq_need_event(65535, 65535, 65534));
	cr_assert_not(vq_need_event(0, 0, 65535));
	cr_assert(vq_need_event(0, 1, 65535));
	cr_assert(vq_need_event(65531, 3, 65530));
	cr_assert_not(vq_need_event(5, 3, 65530));
	cr_assert_not(vq_need_event(65529, 3, 65530));
	cr_assert_not(vq_need_event(7, 7, 7));
}

static void push_n(unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		vq_push(&vq, 0, 0);
}

Test(queue, should_notify_event_idx_across_wrap)
{
	cr_assert_eq(configure(QSIZE, true, false), 0);
	vq.used_idx = 65533;
	set_used_event(65534); /* not reached by the next push */
	/* Nothing signalled since activation: notify whatever used_event says. */
	push_n(1);
	cr_assert(vq_should_notify(&vq));
	cr_assert_eq(vq.signalled_used, 65534);
	cr_assert(vq.signalled_used_valid);
	/* "Interrupt me once entry 65535 is used." */
	set_used_event(65535);
	push_n(1); /* used_idx 65535: entry 65534 used */
	cr_assert_not(vq_should_notify(&vq));
	push_n(1); /* used_idx 0: entry 65535 used */
	cr_assert(vq_should_notify(&vq));
	cr_assert_eq(used_idx(), 0);
	push_n(1);
	cr_assert_not(vq_should_notify(&vq)); /* event already passed */
	set_used_event(2);
	push_n(1); /* 2 */
	cr_assert_not(vq_should_notify(&vq));
	push_n(3); /* 5: entries 2..4, crossing the event in one batch */
	cr_assert(vq_should_notify(&vq));
	cr_assert_eq(vq.signalled_used, 5);
	/* No push since the last decision: nothing to signal. */
	cr_assert_not(vq_should_notify(&vq));
}

Test(queue, should_notify_event_idx_ignores_no_interrupt_flag)
{
	/* virtio 1.2, notification suppression: with event idx, ignore NO_INTERRUPT. */
	cr_assert_eq(configure(QSIZE, true, false), 0);
	avail()->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
	push_n(1);
	cr_assert(vq_should_notify(&vq));
	set_used_event(1);
	push_n(1);
	cr_assert(vq_should_notify(&vq));
}

Test(queue, no_interrupt_honoured_without_event_idx)
{
	cr_assert_eq(configure(QSIZE, false, false), 0);
	set_used_event(0); /* ignored without event idx */
	push_n(1);
	cr_assert(vq_should_notify(&vq));
	avail()->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
	push_n(1);
	cr_assert_not(vq_should_notify(&vq));
	push_n(1);
	cr_assert_not(vq_should_notify(&vq));
	avail()->flags = 0;
	cr_assert(vq_should_notify(&vq));
}

Test(queue, notify_suppression_without_event_idx)
{
	cr_assert_eq(configure(QSIZE, false, false), 0);
	vq_disable_notify(&vq);
	cr_assert_eq(le16toh(used()->flags), VRING_USED_F_NO_NOTIFY);
	cr_assert_not(vq_enable_notify(&vq));
	cr_assert_eq(le16toh(used()->flags), 0);

	vq_disable_notify(&vq);
	valid_buffer(0);
	publish(0); /* arrives while kicks are suppressed */
	cr_assert(vq_enable_notify(&vq));
	cr_assert_eq(le16toh(used()->flags), 0);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	cr_assert_not(vq_enable_notify(&vq));
}

Test(queue, notify_suppression_with_event_idx)
{
	cr_assert_eq(configure(QSIZE, true, false), 0);
	vq.last_avail_idx = 65535;
	set_avail_idx(65535);
	cr_assert_not(vq_enable_notify(&vq));
	cr_assert_eq(avail_event(), 65535);
	/* Disabling leaves avail_event behind and never touches used->flags. */
	vq_disable_notify(&vq);
	cr_assert_eq(le16toh(used()->flags), 0);
	cr_assert_eq(avail_event(), 65535);
	valid_buffer(0);
	valid_buffer(1);
	publish(0);
	publish(1);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	cr_assert_eq(avail_event(), 65535, "vq_pop must not move avail_event");
	/* One buffer is still waiting: enable says so. */
	cr_assert(vq_enable_notify(&vq));
	cr_assert_eq(avail_event(), 0);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 1);
	cr_assert_eq(chain.head, 1);
	cr_assert_not(vq_enable_notify(&vq));
	cr_assert_eq(avail_event(), 1);
}

Test(queue, inactive_queue_does_nothing)
{
	vq_reset(&vq);
	cr_assert_eq(vq_pop(&vq, &chain, iov, MAX_IOV), 0);
	cr_assert_not(vq_has_available(&vq));
	cr_assert_not(vq_enable_notify(&vq));
	cr_assert_not(vq_should_notify(&vq));
	vq_disable_notify(&vq);
	vq_push(&vq, 0, 0);
	cr_assert_eq(vq.used_idx, 0);
}
