/* SPDX-License-Identifier: Apache-2.0 */
/* The monotonic clock in nanoseconds: latencies, timeouts, the vCPU state dump. */
#ifndef VQVM_LIB_CLOCK_H
#define VQVM_LIB_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_monotonic_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

#endif
