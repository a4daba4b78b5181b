/* SPDX-License-Identifier: Apache-2.0 */
/*
 * 16550A-compatible UART (the 8250 family) at one PIO base: THR/RBR, IER, IIR/FCR, LCR,
 * MCR, LSR, MSR, SCR and the divisor latch; a 64-byte receive FIFO; interrupts through an
 * irq_line. Output bytes go to out_fd (or nowhere when out_fd < 0). Input is pushed in
 * by whoever reads the host side (serial_receive). Thread safety: every entry point takes
 * the device's own mutex (leaf lock).
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
	/* Output watcher: called with every byte the guest transmits (may be NULL). */
	void (*on_tx)(void *opaque, uint8_t byte);
	void *on_tx_opaque;
};

void serial_init(struct serial *s, struct irq_line irq, int out_fd);
void serial_destroy(struct serial *s);
/* The bus handler; register it for SERIAL_NR_PORTS ports at the base. */
void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
/* Queue received bytes; returns how many fit in the FIFO (the rest must be retried). */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);
/* Room left in the receive FIFO. */
size_t serial_rx_room(struct serial *s);

#endif
