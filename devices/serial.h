/* SPDX-License-Identifier: Apache-2.0 */
/*
 * 16550A-compatible UART (the 8250 family) at one PIO base: THR/RBR, IER, IIR/FCR, LCR,
 * MCR, LSR, MSR, SCR and the divisor latch; a 64-byte receive FIFO; interrupts through an
 * irq_line. Output bytes go to out_fd (or nowhere when out_fd < 0). Input is pushed in
 * by whoever reads the host side (serial_receive). Thread safety: every entry point takes
 * the device's own mutex (leaf lock; irq_line_set, on_tx and on_rx_ready run under it).
 *
 * Registers are byte-wide: an access with len > 1 acts as a byte access at its offset;
 * a read fills the other bytes with 0xff (nothing decodes them).
 *
 * Writing to out_fd never blocks for long: on EAGAIN it waits up to a few milliseconds
 * for the fd, then drops the byte (counted in tx_dropped). A pipe whose reader is gone
 * raises SIGPIPE on write, so the process must ignore SIGPIPE; after EPIPE or EBADF the
 * serial stops writing (out_fd becomes -1).
 */
#ifndef VQVM_DEVICES_SERIAL_H
#define VQVM_DEVICES_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/irq.h"

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_COM1_IRQ 4
#define SERIAL_NR_PORTS 8
#define SERIAL_FIFO_SIZE 64

struct serial {
	pthread_mutex_t lock;
	struct irq_line irq;
	int out_fd;
	/* registers */
	uint8_t ier, iir, lcr, mcr, lsr, msr, scr, fcr;
	uint8_t dll, dlm;
	bool thr_empty_pending; /* THRE interrupt owed until IIR read or THR written */
	int irq_level;
	/* receive FIFO */
	uint8_t rx[SERIAL_FIFO_SIZE];
	unsigned int rx_head, rx_count;
	/*
	 * Output watcher: called with every byte the guest transmits (may be NULL), with
	 * s->lock held, so it must not call back into this serial.
	 */
	void (*on_tx)(void *opaque, uint8_t byte);
	void *on_tx_opaque;
	/*
	 * Input pacing (may be NULL): called with s->lock held when room may have
	 * appeared in the receive FIFO (the guest emptied it, or left loopback mode), so
	 * the owner can retry input that serial_receive refused. Must not call back into
	 * this serial; waking an event loop (eventfd write) is the intended use.
	 */
	void (*on_rx_ready)(void *opaque);
	void *on_rx_ready_opaque;
	/* Output bytes dropped because out_fd would not take them (full or gone). */
	uint64_t tx_dropped;
	bool tx_congested; /* last byte dropped on EAGAIN: do not wait for the next one */
};

/* Clears *s: set on_tx / on_rx_ready afterwards. out_fd stays the caller's to close. */
void serial_init(struct serial *s, struct irq_line irq, int out_fd);
void serial_destroy(struct serial *s);
/* The bus handler; register it for SERIAL_NR_PORTS ports at the base. */
void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
/* Queue received bytes; returns how many fit in the FIFO (the rest must be retried). */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);
/* Room left in the receive FIFO. */
size_t serial_rx_room(struct serial *s);

#endif
