/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A guest's byte-wide port I/O on a PIO bus, for device tests (test_i8042.c,
 * test_rtc.c): each access is asserted to decode. Header only, as it asserts with
 * Criterion: the .c files of tests/unit/lib are linked into bench/ too, without it.
 */
#ifndef VQVM_TESTS_PIO_H
#define VQVM_TESTS_PIO_H

#include <criterion/criterion.h>
#include <stdint.h>

#include "devices/bus.h"

static inline uint8_t pio_inb(struct bus *pio, uint16_t port)
{
	uint8_t v = 0;

	cr_assert(bus_access(pio, port, &v, 1, false));
	return v;
}

static inline void pio_outb(struct bus *pio, uint8_t v, uint16_t port)
{
	cr_assert(bus_access(pio, port, &v, 1, true));
}

#endif
