/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake hypervisor for in-process tests and benchmarks that behaves like KVM for
 * everything lib/hv.h offers, so that transports run unchanged:
 *
 * - ioeventfds: a guest write (fake_hv_write) at an address with a registered ioeventfd
 *   of the same length (and, with datamatch, the same value) signals that eventfd and
 *   never reaches the bus, as KVM_IOEVENTFD does; any other write is dispatched on the
 *   PIO or MMIO bus, as a VM exit would be.
 * - MSI routes are a GSI table; an irqfd attached to a GSI is "injected" when the fake
 *   drains it: the interrupt is counted for the MSI message (address, data) the GSI is
 *   routed to at that moment. Draining happens before every routing change, so an
 *   interrupt signalled before a route update or removal counts for the old message,
 *   as KVM's synchronous injection does. An irqfd whose GSI has no route counts as lost.
 *
 * The fake keeps its own duplicate of every eventfd it was given, so a transport that
 * closes its fd after deassigning never races with the fake reading it.
 *
 * Thread-safe: transports call the hv ops from any thread; one mutex (a leaf: nothing is
 * called with it held but eventfd reads and writes) guards the tables.
 */
#ifndef VQVM_TESTS_FAKE_HV_H
#define VQVM_TESTS_FAKE_HV_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "lib/hv.h"

struct fake_hv;

struct fake_hv_stats {
	unsigned int ioeventfds; /* registered now */
	unsigned int routes;     /* MSI routes allocated now */
	unsigned int irqfds;     /* attached now */
	uint64_t ioeventfd_hits; /* guest writes that signalled an ioeventfd */
	uint64_t bus_writes;     /* guest writes that went to the bus (VM exits) */
	uint64_t injected;       /* interrupts delivered to some MSI message */
	uint64_t lost;           /* irqfd signals whose GSI had no route */
	uint64_t route_updates;  /* msi_route_update calls that changed a route */
};

/* A registered ioeventfd, as the transport assigned it. */
struct fake_hv_ioeventfd {
	int fd; /* the transport's eventfd */
	uint64_t addr, datamatch;
	uint32_t len;
	bool pio, match;
};

/* An MSI route allocated now. */
struct fake_hv_route {
	int gsi;
	uint64_t addr;
	uint32_t data;
	int irqfd; /* the transport's fd attached to the GSI; -1: none */
};

/* The buses guest writes fall through to. Returns 0 or -errno. */
int fake_hv_create(struct fake_hv **out, struct bus *pio, struct bus *mmio);
/* Everything must have been deassigned and deleted by then; leftovers are freed. */
void fake_hv_destroy(struct fake_hv *h);
/* The struct hv to hand to transports. */
const struct hv *fake_hv_hv(struct fake_hv *h);

/* A guest write of len (1, 2, 4 or 8) bytes of val, little endian. */
void fake_hv_write(struct fake_hv *h, bool pio, uint64_t addr, uint64_t val, uint32_t len);
/* A guest read; all-ones where nothing decodes the address. */
uint64_t fake_hv_read(struct fake_hv *h, bool pio, uint64_t addr, uint32_t len);

/* Interrupts delivered so far with this MSI message. */
uint64_t fake_hv_irqs(struct fake_hv *h, uint64_t addr, uint32_t data);
/* Whether an MSI route carries this message now. */
bool fake_hv_has_route(struct fake_hv *h, uint64_t addr, uint32_t data);
/*
 * Block until some irqfd is signalled or timeout_ms passes (0: just drain). Returns true
 * if anything was injected. Meant for one waiting thread at a time.
 */
bool fake_hv_wait(struct fake_hv *h, int timeout_ms);
void fake_hv_get_stats(struct fake_hv *h, struct fake_hv_stats *st);

/*
 * Interrupts delivered with this MSI message since the last call for it (fake_hv_irqs
 * still counts them all).
 */
uint64_t fake_hv_take_irqs(struct fake_hv *h, uint64_t addr, uint32_t data);

/*
 * The ioeventfds registered now, in registration order but for removals (the last one
 * takes a removed one's place): copies up to max of them to out and returns how many
 * there are.
 */
unsigned int fake_hv_ioeventfds(struct fake_hv *h, struct fake_hv_ioeventfd *out,
				unsigned int max);
/* The MSI routes allocated now, lowest GSI first; like fake_hv_ioeventfds. */
unsigned int fake_hv_routes(struct fake_hv *h, struct fake_hv_route *out, unsigned int max);

/* At most limit MSI routes at a time (0, the default: no limit); msi_route_add: -ENOSPC. */
void fake_hv_set_route_limit(struct fake_hv *h, unsigned int limit);

/*
 * Strict mode, for transport tests: fn(opaque, what) is told of every use of the hv ops
 * that KVM tolerates or refuses but a correct transport never makes:
 * - an MSI route updated or deleted that is not allocated,
 * - an MSI route deleted while an irqfd is still attached to its GSI,
 * - an irqfd attached to a GSI with no route, or to one that has an irqfd already,
 * - an irqfd deassigned that is not the one attached to that GSI, or from a GSI with no
 *   route.
 * fn is called without the fake's lock held, from the thread that made the call, after
 * the op did what it does without strict mode; it may abort the test. NULL: off (the
 * default).
 */
void fake_hv_set_strict(struct fake_hv *h, void (*fn)(void *opaque, const char *what),
			void *opaque);

#endif
