// SPDX-License-Identifier: Apache-2.0
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/i8042.h"
#include "tests/unit/lib/pio.h"

#define STR_OBF 0x01
#define STR_IBF 0x02
#define STR_SYS 0x04
#define STR_CMDDAT 0x08
#define STR_UNLOCKED 0x10
#define STR_AUXDATA 0x20

/* Command bytes: what Linux leaves with the keyboard enabled, translated or not. */
#define CTR_LINUX_XLATE 0x45
#define CTR_LINUX_DIRECT 0x05

static struct i8042 kbd;
static struct bus pio;
static int resets;
static int irq_level, irq_edges, irq_bad_gsi;

/* IRQ 1, as the VM's KVM_IRQ_LINE: the level, and how many rising edges it had. */
static void set_irq(void *opaque, unsigned int gsi, int level)
{
	cr_assert_eq(opaque, &kbd);
	if (gsi != 1)
		irq_bad_gsi++;
	if (level && !irq_level)
		irq_edges++;
	irq_level = level;
}

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
	struct irq_line irq = { .set_level = set_irq, .opaque = &kbd, .gsi = I8042_KBD_IRQ };

	resets = 0;
	irq_level = irq_edges = irq_bad_gsi = 0;
	i8042_init(&kbd, irq, count_reset, &kbd);
	cr_assert_eq(bus_init(&pio, "pio"), 0);
	cr_assert_eq(bus_register(&pio, I8042_DATA_PORT, 1, i8042_data_io, &kbd), 0);
	cr_assert_eq(bus_register(&pio, I8042_CMD_PORT, 1, i8042_cmd_io, &kbd), 0);
}

static void teardown(void)
{
	cr_assert_eq(irq_bad_gsi, 0);
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

/* --- the keyboard's interrupt and Ctrl+Alt+Del ------------------------------------- */

/*
 * What Linux does with i8042.dumbkbd: two equal CTR reads, a CTR with the keyboard
 * disabled and its interrupt off, a flush; then, with its IRQ handler registered, the
 * keyboard enabled with its interrupt on. No byte goes to the keyboard.
 */
static void linux_probe(uint8_t ctr_enabled)
{
	uint8_t ctr = command_with_reply(0x20);
	int n = 0;

	cr_assert_eq(command_with_reply(0x20), ctr);
	command_with_param(0x60, (uint8_t)((ctr | 0x10) & ~0x01));
	while ((pio_inb(&pio, I8042_CMD_PORT) & STR_OBF) && n++ < 16)
		pio_inb(&pio, I8042_DATA_PORT);
	cr_assert_lt(n, 16);
	command_with_param(0x60, ctr_enabled);
}

/*
 * Linux's i8042_interrupt() for every rising edge of IRQ 1: one byte per interrupt, a
 * keyboard byte when OBF is set and AUXDATA is not. Returns how many bytes it read.
 */
static unsigned int irq_handler_loop(uint8_t *out, unsigned int max)
{
	unsigned int n = 0;
	int handled = 0;

	while (handled < irq_edges) {
		uint8_t st = pio_inb(&pio, I8042_CMD_PORT);

		handled++;
		if (!(st & STR_OBF))
			continue;
		cr_assert_eq(st & STR_AUXDATA, 0);
		cr_assert_lt(n, max);
		out[n++] = pio_inb(&pio, I8042_DATA_PORT);
	}
	return n;
}

Test(i8042, ctrl_alt_del_translated_is_set_1)
{
	static const uint8_t want[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	uint8_t got[16];
	unsigned int n;

	linux_probe(CTR_LINUX_XLATE);
	irq_edges = 0;
	cr_assert_eq(i8042_send_ctrl_alt_del(&kbd), 0);
	cr_assert(pio_inb(&pio, I8042_CMD_PORT) & STR_OBF);
	cr_assert_eq(irq_level, 1);
	n = irq_handler_loop(got, sizeof(got));
	cr_assert_eq(n, sizeof(want));
	cr_assert_arr_eq(got, want, sizeof(want));
	/* One interrupt per byte, the line low once all is read. */
	cr_assert_eq(irq_edges, (int)sizeof(want));
	cr_assert_eq(irq_level, 0);
	cr_assert_eq(pio_inb(&pio, I8042_CMD_PORT) & STR_OBF, 0);
}

Test(i8042, ctrl_alt_del_untranslated_is_set_2)
{
	static const uint8_t want[] = { 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0,
					0x71, 0xf0, 0x11, 0xf0, 0x14 };
	uint8_t got[16];

	linux_probe(CTR_LINUX_DIRECT);
	irq_edges = 0;
	cr_assert_eq(i8042_send_ctrl_alt_del(&kbd), 0);
	cr_assert_eq(irq_handler_loop(got, sizeof(got)), sizeof(want));
	cr_assert_arr_eq(got, want, sizeof(want));
	cr_assert_eq(irq_level, 0);
}

Test(i8042, ctrl_alt_del_polled)
{
	static const uint8_t want[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };

	linux_probe(CTR_LINUX_XLATE);
	cr_assert_eq(i8042_send_ctrl_alt_del(&kbd), 0);
	for (unsigned int i = 0; i < sizeof(want); i++) {
		cr_assert(pio_inb(&pio, I8042_CMD_PORT) & STR_OBF, "byte %u", i);
		cr_assert_eq(pio_inb(&pio, I8042_DATA_PORT), want[i], "byte %u", i);
	}
	cr_assert_eq(pio_inb(&pio, I8042_CMD_PORT) & STR_OBF, 0);
	cr_assert_eq(pio_inb(&pio, I8042_DATA_PORT), 0x9d); /* the latch keeps its last */
}

Test(i8042, ctrl_alt_del_refused_while_the_keyboard_is_disabled)
{
	linux_probe(CTR_LINUX_XLATE);
	pio_outb(&pio, 0xad, I8042_CMD_PORT);
	cr_assert_eq(i8042_send_ctrl_alt_del(&kbd), -EAGAIN);
	cr_assert_eq(pio_inb(&pio, I8042_CMD_PORT) & STR_OBF, 0);
	pio_outb(&pio, 0xae, I8042_CMD_PORT);
	command_with_param(0x60, CTR_LINUX_XLATE & ~0x01); /* interrupt off */
	cr_assert_eq(i8042_send_ctrl_alt_del(&kbd), -EAGAIN);
	cr_assert_eq(pio_inb(&pio, I8042_CMD_PORT) & STR_OBF, 0);
	cr_assert_eq(irq_level, 0);
	command_with_param(0x60, CTR_LINUX_XLATE);
	cr_assert_eq(i8042_send_ctrl_alt_del(&kbd), 0);
}

Test(i8042, ctrl_alt_del_all_or_nothing_when_the_buffer_fills)
{
	unsigned int n = 0;

	linux_probe(CTR_LINUX_XLATE);
	/* 16 bytes of room: two translated sequences, not three. */
	cr_assert_eq(i8042_send_ctrl_alt_del(&kbd), 0);
	cr_assert_eq(i8042_send_ctrl_alt_del(&kbd), 0);
	cr_assert_eq(i8042_send_ctrl_alt_del(&kbd), -ENOSPC);
	pio_inb(&pio, I8042_DATA_PORT);
	cr_assert_eq(i8042_send_ctrl_alt_del(&kbd), -ENOSPC);
	while ((pio_inb(&pio, I8042_CMD_PORT) & STR_OBF) && n < 32) {
		pio_inb(&pio, I8042_DATA_PORT);
		n++;
	}
	cr_assert_eq(n, 15);
	/* Untranslated it is 11 bytes: one at a time. */
	command_with_param(0x60, CTR_LINUX_DIRECT);
	cr_assert_eq(i8042_send_ctrl_alt_del(&kbd), 0);
	cr_assert_eq(i8042_send_ctrl_alt_del(&kbd), -ENOSPC);
}

Test(i8042, irq_follows_obf_and_the_interrupt_enable)
{
	linux_probe(CTR_LINUX_XLATE);
	cr_assert_eq(i8042_send_ctrl_alt_del(&kbd), 0);
	cr_assert_eq(irq_level, 1);
	/* The guest masks the keyboard interrupt: the line drops, the bytes stay. */
	command_with_param(0x60, CTR_LINUX_XLATE & ~0x01);
	cr_assert_eq(irq_level, 0);
	cr_assert(pio_inb(&pio, I8042_CMD_PORT) & STR_OBF);
	irq_edges = 0;
	command_with_param(0x60, CTR_LINUX_XLATE);
	cr_assert_eq(irq_level, 1);
	cr_assert_eq(irq_edges, 1);
	cr_assert_eq(pio_inb(&pio, I8042_DATA_PORT), 0x1d);
	cr_assert_eq(irq_level, 1);
	cr_assert_eq(irq_edges, 2, "the next byte is a new edge");
}

Test(i8042, controller_replies_raise_the_irq_when_enabled)
{
	/* The firmware's command byte has the keyboard interrupt on, as on a PC. */
	pio_outb(&pio, 0x20, I8042_CMD_PORT);
	cr_assert_eq(irq_level, 1);
	pio_inb(&pio, I8042_DATA_PORT);
	cr_assert_eq(irq_level, 0);
	command_with_param(0x60, 0x44);
	pio_outb(&pio, 0xaa, I8042_CMD_PORT);
	cr_assert_eq(irq_level, 0);
	cr_assert(pio_inb(&pio, I8042_CMD_PORT) & STR_OBF);
}

Test(i8042, keyboard_acks_raise_the_irq)
{
	linux_probe(CTR_LINUX_XLATE);
	irq_edges = 0;
	pio_outb(&pio, 0xed, I8042_DATA_PORT); /* set LEDs */
	cr_assert_eq(irq_edges, 1);
	cr_assert_eq(pio_inb(&pio, I8042_DATA_PORT), 0xfa);
	cr_assert_eq(irq_level, 0);
	pio_outb(&pio, 0xf4, I8042_DATA_PORT); /* enable scanning */
	cr_assert_eq(irq_edges, 2);
	cr_assert_eq(pio_inb(&pio, I8042_DATA_PORT), 0xfa);
	pio_outb(&pio, 0xf5, I8042_DATA_PORT); /* disable scanning */
	cr_assert_eq(pio_inb(&pio, I8042_DATA_PORT), 0xfa);
	cr_assert_eq(irq_edges, 3);
}

static void *send_many(void *arg)
{
	int *sent = arg;

	for (int i = 0; i < 200; i++)
		if (!i8042_send_ctrl_alt_del(&kbd))
			(*sent)++;
	return NULL;
}

/* The API's thread sends while a vCPU reads: every byte sent is read, in order. */
Test(i8042, ctrl_alt_del_from_another_thread)
{
	static const uint8_t want[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	pthread_t t;
	int sent = 0;
	unsigned int got = 0;
	void *ret;
	bool done = false;

	linux_probe(CTR_LINUX_XLATE);
	cr_assert_eq(pthread_create(&t, NULL, send_many, &sent), 0);
	while (!done) {
		/* Whether the sender is done, checked before the last drain. */
		done = pthread_tryjoin_np(t, &ret) == 0;
		while (pio_inb(&pio, I8042_CMD_PORT) & STR_OBF) {
			uint8_t b = pio_inb(&pio, I8042_DATA_PORT);

			cr_assert_eq(b, want[got % sizeof(want)], "byte %u", got);
			got++;
		}
	}
	cr_assert_gt(sent, 0);
	cr_assert_eq(got, (unsigned int)sent * sizeof(want));
	cr_assert_eq(irq_level, 0);
}
