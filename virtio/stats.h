/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counters the virtio layer keeps for metrics (vmm/metrics.c): device models count
 * requests per queue, transports count interrupts. Writers add with relaxed atomics
 * (a device's queues may run on different threads; no lock is taken for a counter),
 * readers load each counter with a relaxed atomic load from any thread. A reading is a
 * set of counters each of which is exact, not a snapshot of all of them at one instant.
 *
 * Latency histograms have power-of-two microsecond buckets: bucket 0 counts what took
 * less than 1 us, bucket i (0 < i < STATS_HIST_BUCKETS - 1) what took at least 2^(i-1)
 * and less than 2^i us, the last bucket everything from 2^(STATS_HIST_BUCKETS - 2) us
 * (about 4.2 s) on.
 */
#ifndef VQVM_VIRTIO_STATS_H
#define VQVM_VIRTIO_STATS_H

#include <stdint.h>
#include "lib/clock.h"

#define STATS_HIST_BUCKETS 24

struct stats_hist {
	uint64_t bucket[STATS_HIST_BUCKETS];
	uint64_t sum_us; /* of every sample: with the count, the mean */
};

/* Interrupts a transport was asked to raise for a device (its queues and config). */
struct virtio_irq_stats {
	uint64_t injected;   /* irqfd writes: the hypervisor injects the MSI */
	uint64_t suppressed; /* not sent when raised: no vector, entry not set or disabled,
			      * masked (then pending, and counted as injected too if the
			      * unmask sends it), or the irqfd or its route failed */
};

static inline void stats_add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static inline uint64_t stats_get(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* The bucket of a sample of us microseconds. */
static inline unsigned int stats_hist_bucket(uint64_t us)
{
	unsigned int b = us ? 64 - (unsigned int)__builtin_clzll(us) : 0;

	return b < STATS_HIST_BUCKETS ? b : STATS_HIST_BUCKETS - 1;
}

/* Count the time from start_ns (clock_monotonic_ns) to now. */
static inline void stats_hist_add(struct stats_hist *h, uint64_t start_ns)
{
	uint64_t now = clock_monotonic_ns();
	uint64_t us = now > start_ns ? (now - start_ns) / 1000 : 0;

	stats_add(&h->bucket[stats_hist_bucket(us)], 1);
	stats_add(&h->sum_us, us);
}

/* out += h (out is the reader's own copy, h the live counters). */
static inline void stats_hist_sum(struct stats_hist *out, const struct stats_hist *h)
{
	for (unsigned int i = 0; i < STATS_HIST_BUCKETS; i++)
		out->bucket[i] += stats_get(&h->bucket[i]);
	out->sum_us += stats_get(&h->sum_us);
}

static inline void stats_irq_get(const struct virtio_irq_stats *s, struct virtio_irq_stats *out)
{
	out->injected = stats_get(&s->injected);
	out->suppressed = stats_get(&s->suppressed);
}

#endif
