/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Enough of the i8042 keyboard controller for Linux (with i8042.noaux/nomux/nopnp/
 * dumbkbd) to register an AT keyboard on it, for that keyboard to type Ctrl+Alt+Del,
 * and to reset the machine with reboot=k.
 *
 * Controller: status (0x64), data (0x60), command byte read/write (0x20/0x60), self
 * and interface tests (0xAA -> 0x55, 0xAB/0xA9 -> 0x00), keyboard and aux port
 * disable/enable (0xAD/0xAE, 0xA7/0xA8), output port read/write (0xD0/0xD1) and
 * keyboard output buffer write (0xD2). The reset line: the pulse command 0xFE, or
 * writing the output port with bit 0 clear, calls on_reset.
 *
 * Keyboard: bytes written to port 0x60 go to a keyboard that answers at once (ACK to
 * everything, BAT after a reset, its ID after 0xF2); i8042_send_ctrl_alt_del() makes it
 * type Ctrl+Alt+Del. Its bytes are scan code set 2, translated to set 1 while the
 * command byte's translation bit is set, as the real controller does.
 *
 * The output buffer is a small FIFO: its head is the byte at port 0x60 (status OBF).
 * IRQ 1 is high while a byte waits and the command byte enables the keyboard interrupt;
 * each new byte at the head is a fresh rising edge (the line is edge-triggered).
 *
 * Both ports are byte-wide; wider accesses act on the low byte (reads fill 0xff).
 * Locking: the device's own mutex, a leaf lock; irq_line_set runs under it, on_reset
 * without it.
 */
#ifndef VQVM_DEVICES_I8042_H
#define VQVM_DEVICES_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/irq.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define I8042_KBD_IRQ 1

/* Linux's i8042_flush() reads at most 16 bytes before it gives up on the controller. */
#define I8042_FIFO_SIZE 16

struct i8042 {
	pthread_mutex_t lock;
	uint8_t status;
	uint8_t cmd_byte; /* the controller's "command byte" (RAM byte 0) */
	/* The output buffer: fifo[head] is at port 0x60 while count > 0. */
	uint8_t fifo[I8042_FIFO_SIZE];
	unsigned int head, count;
	uint8_t last_read; /* an empty output buffer reads its last byte again */
	bool fresh; /* a new byte reached the head since the IRQ line was last set */
	bool set2_release; /* translation: an F0 (break) prefix waits for its code */
	uint8_t pending_cmd; /* command that awaits a data byte on port 0x60, or 0 */
	uint8_t outp; /* output port (0xD0/0xD1): bit 0 is the CPU reset line, active low */
	bool last_was_cmd; /* status bit 3: last write went to 0x64 */
	struct irq_line irq; /* IRQ 1 */
	int irq_level;
	/* Called without the lock held, from the vCPU thread that pulled the reset line. */
	void (*on_reset)(void *opaque);
	void *opaque;
};

void i8042_init(struct i8042 *kbd, struct irq_line irq, void (*on_reset)(void *opaque),
		void *opaque);
void i8042_destroy(struct i8042 *kbd);
/* Bus handlers: one for the data port 0x60, one for the command/status port 0x64. */
void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/*
 * The keyboard types Ctrl+Alt+Del (presses, then releases: 8 bytes once translated):
 * queued in the output buffer, IRQ 1 raised. Any thread. Returns 0, -EAGAIN when the
 * guest has disabled the keyboard port or its interrupt (before its driver set it up,
 * or while it resets the controller), -ENOSPC when the output buffer lacks room (the
 * guest has not read what the keyboard typed before). Nothing is queued on failure.
 */
int i8042_send_ctrl_alt_del(struct i8042 *kbd);

#endif
