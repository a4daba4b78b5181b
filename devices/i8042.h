/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Just enough of the i8042 keyboard controller for Linux to probe it (with
 * i8042.noaux/nomux/nopnp/dumbkbd) and to reset the machine with reboot=k: the pulse of
 * the reset line (command 0xFE to port 0x64) calls on_reset.
 */
#ifndef VQVM_DEVICES_I8042_H
#define VQVM_DEVICES_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64

struct i8042 {
	pthread_mutex_t lock;
	uint8_t status;
	uint8_t cmd_byte; /* the controller's "command byte" (RAM byte 0) */
	uint8_t out_buf;
	bool out_full;
	uint8_t pending_cmd; /* command that awaits a data byte on port 0x60, or 0 */
	void (*on_reset)(void *opaque);
	void *opaque;
};

void i8042_init(struct i8042 *kbd, void (*on_reset)(void *opaque), void *opaque);
void i8042_destroy(struct i8042 *kbd);
/* Bus handlers: one for the data port 0x60, one for the command/status port 0x64. */
void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
