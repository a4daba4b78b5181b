/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An address space (port I/O or MMIO) made of non-overlapping ranges, each served by a
 * handler. vCPU threads look ranges up concurrently under the read side of the lock;
 * registration (BAR relocation) takes the write side. The lock covers the range table
 * only: a handler is called after the lock is dropped, so the bus lock is a leaf (taken
 * under the pci host lock, never held while a device lock is taken) and a handler may
 * (un)register ranges, even on the bus that called it. Consequence: a handler can still
 * be running, or start, for an access that looked its range up just before
 * bus_unregister returned; free a handler's object only when no vCPU can dispatch.
 */
#ifndef VQVM_DEVICES_BUS_H
#define VQVM_DEVICES_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * offset is relative to the range base. For reads the handler fills data[0..len);
 * for writes it consumes it. len is 1, 2, 4 or 8.
 */
typedef void (*bus_io_fn)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			  bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_io_fn fn;
	void *opaque;
};

struct bus {
	const char *name; /* "pio" or "mmio", for logs */
	struct bus_range *ranges; /* sorted by base */
	size_t nr, cap;
	pthread_rwlock_t lock;
};

int bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);
/* 0, -EINVAL (empty or wrapping range), -EEXIST (overlap) or -ENOMEM. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn fn, void *opaque);
/* Remove the range that starts at base; -ENOENT if none. */
int bus_unregister(struct bus *bus, uint64_t base);
/*
 * Dispatch an access. Returns false when no range covers [addr, addr + len): the caller
 * then treats reads as all-ones and drops writes. An access that straddles two ranges
 * is not dispatched.
 */
bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

#endif
