// SPDX-License-Identifier: Apache-2.0
#include <criterion/criterion.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/i8042.h"
#include "tests/unit/lib/pio.h"

#define STR_OBF 0x01
#define STR_IBF 0x02
#define STR_SYS 0x04
#define STR_CMDDAT 0x08
#define STR_UNLOCKED 0x10

static struct i8042 kbd;
static struct bus pio;
static int resets;

static void count_reset(void *opaque)
{
	cr_assert_eq(opaque, &kbd);
	/* Called outside the device lock: the device must be usable from here. */
	cr_assert_eq(pthread_mutex_trylock(&kbd.lock), 0);
	pthread_mutex_unlock(&kbd.lock);
	resets++;
}

static void setup(void)
{
	resets = 0;
	i8042_init(&kbd, count_reset, &kbd);
	cr_assert_eq(bus_init(&pio, "pio"), 0);
	cr_assert_eq(bus_register(&pio, I8042_DATA_PORT, 1, i8042_data_io, &kbd), 0);
	cr_assert_eq(bus_register(&pio, I8042_CMD_PORT, 1, i8042_cmd_io, &kbd), 0);
}

static void teardown(void)
{
	bus_destroy(&pio);
	i8042_destroy(&kbd);
}

TestSuite(i8042, .init = setup, .fini = teardown);

/* Linux's i8042_command(): wait for IBF clear, write, then poll OBF for each reply. */
static uint8_t command_with_reply(uint8_t cmd)
{
	cr_assert_eq(pio_inb(&pio, I8042_CMD_PORT) & STR_IBF, 0);
	pio_outb(&pio, cmd, I8042_CMD_PORT);
	cr_assert(pio_inb(&pio, I8042_CMD_PORT) & STR_OBF, "no reply to %#x", cmd);
	return pio_inb(&pio, I8042_DATA_PORT);
}

static void command_with_param(uint8_t cmd, uint8_t param)
{
	pio_outb(&pio, cmd, I8042_CMD_PORT);
	cr_assert_eq(pio_inb(&pio, I8042_CMD_PORT) & STR_IBF, 0);
	pio_outb(&pio, param, I8042_DATA_PORT);
}

Test(i8042, idle_status)
{
	uint8_t st = pio_inb(&pio, I8042_CMD_PORT);

	cr_assert_eq(st & (STR_OBF | STR_IBF), 0);
	cr_assert(st & STR_SYS);
	cr_assert(st & STR_UNLOCKED); /* else Linux warns "Keylock active" */
}

Test(i8042, self_test_and_interface_tests)
{
	cr_assert_eq(command_with_reply(0xaa), 0x55);
	cr_assert_eq(pio_inb(&pio, I8042_CMD_PORT) & STR_OBF, 0); /* reading 0x60 emptied it */
	cr_assert_eq(command_with_reply(0xab), 0x00);
	cr_assert_eq(command_with_reply(0xa9), 0x00);
}

Test(i8042, status_tracks_which_port_was_written_last)
{
	pio_outb(&pio, 0xad, I8042_CMD_PORT);
	cr_assert(pio_inb(&pio, I8042_CMD_PORT) & STR_CMDDAT);
	pio_outb(&pio, 0xf4, I8042_DATA_PORT);
	cr_assert_eq(pio_inb(&pio, I8042_CMD_PORT) & STR_CMDDAT, 0);
}

Test(i8042, command_byte_read_write)
{
	uint8_t ctr = command_with_reply(0x20);

	cr_assert_eq(ctr, command_with_reply(0x20)); /* Linux wants two equal reads */
	cr_assert(ctr & 0x04, "system flag set after POST");
	command_with_param(0x60, 0x30);
	cr_assert_eq(command_with_reply(0x20), 0x30);
	/* The status register's system flag mirrors the command byte's. */
	cr_assert_eq(pio_inb(&pio, I8042_CMD_PORT) & STR_SYS, 0);
	command_with_param(0x60, 0x45);
	cr_assert(pio_inb(&pio, I8042_CMD_PORT) & STR_SYS);
}

Test(i8042, disable_enable_commands_edit_the_command_byte)
{
	command_with_param(0x60, 0x00);
	pio_outb(&pio, 0xad, I8042_CMD_PORT);
	pio_outb(&pio, 0xa7, I8042_CMD_PORT);
	cr_assert_eq(command_with_reply(0x20), 0x30);
	pio_outb(&pio, 0xae, I8042_CMD_PORT);
	cr_assert_eq(command_with_reply(0x20), 0x20);
	pio_outb(&pio, 0xa8, I8042_CMD_PORT);
	cr_assert_eq(command_with_reply(0x20), 0x00);
}

Test(i8042, pulse_fe_resets)
{
	/* reboot=k: kb_wait() then 0xFE, ten times over. */
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(pio_inb(&pio, I8042_CMD_PORT) & STR_IBF, 0);
		pio_outb(&pio, 0xfe, I8042_CMD_PORT);
	}
	cr_assert_eq(resets, 10);
}

Test(i8042, pulses_without_the_reset_bit_do_not_reset)
{
	pio_outb(&pio, 0xff, I8042_CMD_PORT);
	pio_outb(&pio, 0xfd, I8042_CMD_PORT);
	pio_outb(&pio, 0xf1, I8042_CMD_PORT);
	cr_assert_eq(resets, 0);
}

Test(i8042, output_port_write_with_bit0_clear_resets)
{
	command_with_param(0xd1, 0x03);
	cr_assert_eq(resets, 0);
	cr_assert_eq(command_with_reply(0xd0), 0x03);
	command_with_param(0xd1, 0x02);
	cr_assert_eq(resets, 1);
}

Test(i8042, a_command_abandons_a_pending_parameter)
{
	pio_outb(&pio, 0xd1, I8042_CMD_PORT);
	pio_outb(&pio, 0xaa, I8042_CMD_PORT);
	pio_outb(&pio, 0x00, I8042_DATA_PORT); /* now a keyboard byte, not the output port */
	cr_assert_eq(resets, 0);
}

Test(i8042, keyboard_bytes_are_acked)
{
	pio_outb(&pio, 0xed, I8042_DATA_PORT); /* set LEDs */
	cr_assert(pio_inb(&pio, I8042_CMD_PORT) & STR_OBF);
	cr_assert_eq(pio_inb(&pio, I8042_DATA_PORT), 0xfa);
	pio_outb(&pio, 0x00, I8042_DATA_PORT); /* its parameter */
	cr_assert_eq(pio_inb(&pio, I8042_DATA_PORT), 0xfa);
	cr_assert_eq(pio_inb(&pio, I8042_CMD_PORT) & STR_OBF, 0);
}

Test(i8042, keyboard_reset_answers_ack_then_bat)
{
	pio_outb(&pio, 0xff, I8042_DATA_PORT);
	cr_assert_eq(pio_inb(&pio, I8042_DATA_PORT), 0xfa);
	cr_assert(pio_inb(&pio, I8042_CMD_PORT) & STR_OBF);
	cr_assert_eq(pio_inb(&pio, I8042_DATA_PORT), 0xaa);
	cr_assert_eq(pio_inb(&pio, I8042_CMD_PORT) & STR_OBF, 0);
	/* An empty buffer reads its last byte again and stays empty. */
	cr_assert_eq(pio_inb(&pio, I8042_DATA_PORT), 0xaa);
	cr_assert_eq(pio_inb(&pio, I8042_CMD_PORT) & STR_OBF, 0);
}

Test(i8042, keyboard_id_follows_translation)
{
	pio_outb(&pio, 0xf2, I8042_DATA_PORT);
	cr_assert_eq(pio_inb(&pio, I8042_DATA_PORT), 0xfa);
	cr_assert_eq(pio_inb(&pio, I8042_DATA_PORT), 0xab);
	cr_assert_eq(pio_inb(&pio, I8042_DATA_PORT), 0x41);
	command_with_param(0x60, 0x05); /* translation off */
	pio_outb(&pio, 0xf2, I8042_DATA_PORT);
	pio_inb(&pio, I8042_DATA_PORT);
	pio_inb(&pio, I8042_DATA_PORT);
	cr_assert_eq(pio_inb(&pio, I8042_DATA_PORT), 0x83);
}

Test(i8042, controller_reply_replaces_pending_keyboard_bytes)
{
	pio_outb(&pio, 0xff, I8042_DATA_PORT);
	cr_assert_eq(command_with_reply(0xaa), 0x55);
	cr_assert_eq(pio_inb(&pio, I8042_CMD_PORT) & STR_OBF, 0);
}

/* Linux's i8042_flush() gives up ("No controller found") if OBF never clears. */
Test(i8042, flush_terminates)
{
	int n = 0;

	pio_outb(&pio, 0xff, I8042_DATA_PORT);
	while ((pio_inb(&pio, I8042_CMD_PORT) & STR_OBF) && n < 16) {
		pio_inb(&pio, I8042_DATA_PORT);
		n++;
	}
	cr_assert_eq(n, 2);
}

Test(i8042, wide_reads_fill_with_ones)
{
	uint8_t data[2] = { 0, 0 };

	i8042_cmd_io(&kbd, 0, data, 2, false);
	cr_assert(data[0] & STR_UNLOCKED);
	cr_assert_eq(data[1], 0xff);
}
