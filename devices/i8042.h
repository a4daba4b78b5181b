/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Just enough of the i8042 keyboard controller for Linux to probe it (with
 * i8042.noaux/nomux/nopnp/dumbkbd) and to reset the machine with reboot=k: the pulse of
 * the reset line (command 0xFE to port 0x64) calls on_reset, as does writing the output
 * port (0xD1) with bit 0 clear. There is no keyboard behind it and no IRQ 1: bytes
 * written to the keyboard are answered (ACK) in the output buffer, for polling drivers.
 * Both ports are byte-wide; wider accesses act on the low byte (reads fill 0xff).
 */
#ifndef VQVM_DEVICES_I8042_H
#define VQVM_DEVICES_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64

#define I8042_QUEUE_SIZE 4

struct i8042 {
	pthread_mutex_t lock;
	uint8_t status;
	uint8_t cmd_byte; /* the controller's "command byte" (RAM byte 0) */
	uint8_t out_buf;
	bool out_full;
	uint8_t pending_cmd; /* command that awaits a data byte on port 0x60, or 0 */
	uint8_t outp; /* output port (0xD0/0xD1): bit 0 is the CPU reset line, active low */
	bool last_was_cmd; /* status bit 3: last write went to 0x64 */
	/* Keyboard reply bytes waiting behind out_buf (0xFF answers ACK, then 0xAA). */
	uint8_t queue[I8042_QUEUE_SIZE];
	unsigned int queue_len;
	/* Called without the lock held, from the vCPU thread that pulled the reset line. */
	void (*on_reset)(void *opaque);
	void *opaque;
};

void i8042_init(struct i8042 *kbd, void (*on_reset)(void *opaque), void *opaque);
void i8042_destroy(struct i8042 *kbd);
/* Bus handlers: one for the data port 0x60, one for the command/status port 0x64. */
void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
