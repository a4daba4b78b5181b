// SPDX-License-Identifier: Apache-2.0
/*
 * The i8042 answers every command at once, so the input buffer is never full (Linux's
 * kb_wait() before the reset pulse spins on IBF) and replies are in the output buffer
 * by the time the guest polls OBF.
 */
#include "devices/i8042.h"

#include <errno.h>
#include <string.h>

#include "lib/log.h"

/* Status register (read at 0x64). */
#define STR_OBF 0x01 /* output buffer full: a byte waits at 0x60 */
#define STR_IBF 0x02 /* input buffer full: never, commands complete at once */
#define STR_SYS 0x04 /* system flag, mirrors the command byte's */
#define STR_CMDDAT 0x08 /* last write was to 0x64 */
#define STR_UNLOCKED 0x10 /* keyboard not inhibited by the keylock */

/* Command byte. */
#define CTR_KBDINT 0x01
#define CTR_SYS 0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE 0x40

/* Controller commands (port 0x64). */
#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE 0xa8
#define CMD_AUX_TEST 0xa9
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_READ_OUTP 0xd0
#define CMD_WRITE_OUTP 0xd1
#define CMD_WRITE_KBD_OBUF 0xd2
#define CMD_PULSE_FIRST 0xf0 /* 0xF0-0xFF pulse output port bits 0-3 where clear */

#define SELF_TEST_OK 0x55
#define IFACE_TEST_OK 0x00

/* Output port. */
#define OUTP_RESET 0x01 /* CPU reset line, active low */
#define OUTP_A20 0x02

/* Keyboard commands and replies (port 0x60 without a pending controller command). */
#define KBD_CMD_ECHO 0xee
#define KBD_CMD_GETID 0xf2
#define KBD_CMD_RESET 0xff
#define KBD_REPLY_ACK 0xfa
#define KBD_REPLY_BAT_OK 0xaa
#define KBD_ID_1 0xab
#define KBD_ID_2 0x83
#define KBD_ID_2_XLATED 0x41 /* what the controller's translation makes of 0x83 */

/* Scan code set 2, what the keyboard sends. */
#define SC2_EXTENDED 0xe0 /* prefix of the grey keys; the same in set 1 */
#define SC2_BREAK 0xf0 /* prefix of a key's release; set 1 sets bit 7 instead */
#define SC2_LCTRL 0x14
#define SC2_LALT 0x11
#define SC2_DELETE 0x71 /* after SC2_EXTENDED */
#define SC1_BREAK 0x80

void i8042_init(struct i8042 *kbd, struct irq_line irq, void (*on_reset)(void *opaque),
		void *opaque)
{
	memset(kbd, 0, sizeof(*kbd));
	pthread_mutex_init(&kbd->lock, NULL);
	/* What PC firmware leaves behind: keyboard interrupt on, POST passed, translating. */
	kbd->cmd_byte = CTR_KBDINT | CTR_SYS | CTR_XLATE;
	kbd->outp = OUTP_RESET | OUTP_A20;
	kbd->irq = irq;
	kbd->on_reset = on_reset;
	kbd->opaque = opaque;
	kbd->status = STR_SYS | STR_UNLOCKED;
}

void i8042_destroy(struct i8042 *kbd)
{
	pthread_mutex_destroy(&kbd->lock);
}

static void i8042_update_status(struct i8042 *kbd)
{
	kbd->status = STR_UNLOCKED | (kbd->cmd_byte & CTR_SYS ? STR_SYS : 0) |
		      (kbd->last_was_cmd ? STR_CMDDAT : 0) | (kbd->count ? STR_OBF : 0);
}

/*
 * IRQ 1 follows OBF while the command byte enables the keyboard interrupt. A new byte
 * at the head while the line is already high lowers it first: the interrupt
 * controllers take IRQ 1 on its rising edge, one per byte (Linux reads one byte per
 * interrupt).
 */
static void i8042_update_irq(struct i8042 *kbd)
{
	int level = kbd->count && (kbd->cmd_byte & CTR_KBDINT);

	if (kbd->fresh && kbd->irq_level && level) {
		kbd->irq_level = 0;
		irq_line_set(&kbd->irq, 0);
	}
	kbd->fresh = false;
	if (level == kbd->irq_level)
		return;
	kbd->irq_level = level;
	irq_line_set(&kbd->irq, level);
}

static void i8042_push(struct i8042 *kbd, uint8_t byte)
{
	if (kbd->count == I8042_FIFO_SIZE)
		return;
	if (!kbd->count)
		kbd->fresh = true;
	kbd->fifo[(kbd->head + kbd->count++) % I8042_FIFO_SIZE] = byte;
}

/*
 * Replace whatever waits in the output buffer with a new reply of n bytes: controller
 * replies, and the keyboard's answers to commands (a keyboard drops its own buffer
 * when it gets a command).
 */
static void i8042_reply(struct i8042 *kbd, const uint8_t *bytes, unsigned int n)
{
	kbd->head = kbd->count = 0;
	kbd->set2_release = false;
	for (unsigned int i = 0; i < n; i++)
		i8042_push(kbd, bytes[i]);
}

static void i8042_reply1(struct i8042 *kbd, uint8_t byte)
{
	i8042_reply(kbd, &byte, 1);
}

static uint8_t i8042_read_data(struct i8042 *kbd)
{
	/* An empty buffer reads its last byte again, as the real latch does. */
	if (!kbd->count)
		return kbd->last_read;
	kbd->last_read = kbd->fifo[kbd->head];
	kbd->head = (kbd->head + 1) % I8042_FIFO_SIZE;
	if (--kbd->count)
		kbd->fresh = true;
	return kbd->last_read;
}

/*
 * Set 2 to set 1, as the controller translates while CTR_XLATE is set: only the keys
 * the keyboard here can type. A break prefix is swallowed and sets bit 7 of the code
 * that follows.
 */
static uint8_t i8042_translate(uint8_t set2)
{
	static const uint8_t map[][2] = {
		{ SC2_LCTRL, 0x1d },
		{ SC2_LALT, 0x38 },
		{ SC2_DELETE, 0x53 },
	};

	for (unsigned int i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i][0] == set2)
			return map[i][1];
	return set2;
}

/* A byte the keyboard sends, through the controller's translation when it is on. */
static void i8042_key_byte(struct i8042 *kbd, uint8_t set2)
{
	uint8_t b;

	if (!(kbd->cmd_byte & CTR_XLATE)) {
		i8042_push(kbd, set2);
		return;
	}
	if (set2 == SC2_BREAK) {
		kbd->set2_release = true;
		return;
	}
	b = i8042_translate(set2);
	if (set2 != SC2_EXTENDED && kbd->set2_release) {
		b |= SC1_BREAK;
		kbd->set2_release = false;
	}
	i8042_push(kbd, b);
}

int i8042_send_ctrl_alt_del(struct i8042 *kbd)
{
	static const uint8_t keys[] = {
		SC2_LCTRL, SC2_LALT, SC2_EXTENDED, SC2_DELETE, /* presses */
		SC2_EXTENDED, SC2_BREAK, SC2_DELETE, SC2_BREAK, SC2_LALT, SC2_BREAK, SC2_LCTRL,
	};
	unsigned int need = sizeof(keys);
	int ret = 0;

	pthread_mutex_lock(&kbd->lock);
	/* Room for all of it or nothing; translated, the three break prefixes vanish. */
	if (kbd->cmd_byte & CTR_XLATE)
		need -= 3;
	if ((kbd->cmd_byte & CTR_KBDDIS) || !(kbd->cmd_byte & CTR_KBDINT)) {
		ret = -EAGAIN;
	} else if (I8042_FIFO_SIZE - kbd->count < need) {
		ret = -ENOSPC;
	} else {
		for (unsigned int i = 0; i < sizeof(keys); i++)
			i8042_key_byte(kbd, keys[i]);
		i8042_update_status(kbd);
		i8042_update_irq(kbd);
	}
	pthread_mutex_unlock(&kbd->lock);
	return ret;
}

/* Returns true when the command pulsed the reset line. */
static bool i8042_command(struct i8042 *kbd, uint8_t cmd)
{
	switch (cmd) {
	case CMD_READ_CTR:
		i8042_reply1(kbd, kbd->cmd_byte);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTP:
	case CMD_WRITE_KBD_OBUF:
		kbd->pending_cmd = cmd;
		break;
	case CMD_AUX_DISABLE:
		kbd->cmd_byte |= CTR_AUXDIS;
		break;
	case CMD_AUX_ENABLE:
		kbd->cmd_byte &= ~CTR_AUXDIS;
		break;
	case CMD_SELF_TEST:
		i8042_reply1(kbd, SELF_TEST_OK);
		break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		i8042_reply1(kbd, IFACE_TEST_OK);
		break;
	case CMD_KBD_DISABLE:
		kbd->cmd_byte |= CTR_KBDDIS;
		break;
	case CMD_KBD_ENABLE:
		kbd->cmd_byte &= ~CTR_KBDDIS;
		break;
	case CMD_READ_OUTP:
		i8042_reply1(kbd, kbd->outp);
		break;
	default:
		/*
		 * 0xF0-0xFF pulse the output port bits that are clear in the low nibble;
		 * bit 0 is the reset line (0xFE is what Linux sends). Other pulses and
		 * unknown commands do nothing here.
		 */
		if (cmd >= CMD_PULSE_FIRST)
			return !(cmd & OUTP_RESET);
		log_debug("i8042: ignoring command %#x", cmd);
		break;
	}
	return false;
}

/* The data byte of a two-byte controller command. Returns true on a reset. */
static bool i8042_command_data(struct i8042 *kbd, uint8_t cmd, uint8_t val)
{
	switch (cmd) {
	case CMD_WRITE_CTR:
		kbd->cmd_byte = val;
		break;
	case CMD_WRITE_OUTP:
		kbd->outp = val;
		return !(val & OUTP_RESET);
	case CMD_WRITE_KBD_OBUF:
		i8042_reply1(kbd, val);
		break;
	}
	return false;
}

/*
 * A byte for the keyboard: it answers at once, ACK to everything (Linux unless dumbkbd,
 * and firmware, expect that), BAT success after a reset.
 */
static void i8042_keyboard_write(struct i8042 *kbd, uint8_t val)
{
	uint8_t id[] = { KBD_REPLY_ACK, KBD_ID_1, KBD_ID_2 };
	uint8_t reset[] = { KBD_REPLY_ACK, KBD_REPLY_BAT_OK };

	switch (val) {
	case KBD_CMD_RESET:
		i8042_reply(kbd, reset, sizeof(reset));
		break;
	case KBD_CMD_ECHO:
		i8042_reply1(kbd, KBD_CMD_ECHO);
		break;
	case KBD_CMD_GETID:
		if (kbd->cmd_byte & CTR_XLATE)
			id[2] = KBD_ID_2_XLATED;
		i8042_reply(kbd, id, sizeof(id));
		break;
	default:
		i8042_reply1(kbd, KBD_REPLY_ACK);
		break;
	}
}

static void i8042_finish(struct i8042 *kbd, bool reset)
{
	i8042_update_status(kbd);
	i8042_update_irq(kbd);
	pthread_mutex_unlock(&kbd->lock);
	/* Outside the lock: the VMM may stop vCPUs or tear things down from here. */
	if (reset && kbd->on_reset)
		kbd->on_reset(kbd->opaque);
}

void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct i8042 *kbd = opaque;
	bool reset = false;
	uint8_t cmd;

	if (!len)
		return;
	pthread_mutex_lock(&kbd->lock);
	if (!is_write) {
		memset(data, 0xff, len);
		data[0] = i8042_read_data(kbd);
	} else if (kbd->pending_cmd) {
		cmd = kbd->pending_cmd;
		kbd->pending_cmd = 0;
		reset = i8042_command_data(kbd, cmd, data[0]);
	} else {
		i8042_keyboard_write(kbd, data[0]);
	}
	if (is_write)
		kbd->last_was_cmd = false;
	i8042_finish(kbd, reset);
}

void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct i8042 *kbd = opaque;
	bool reset = false;

	if (!len)
		return;
	pthread_mutex_lock(&kbd->lock);
	if (is_write) {
		/* A new command abandons one still waiting for its data byte. */
		kbd->pending_cmd = 0;
		kbd->last_was_cmd = true;
		reset = i8042_command(kbd, data[0]);
	} else {
		i8042_update_status(kbd);
		memset(data, 0xff, len);
		data[0] = kbd->status;
	}
	i8042_finish(kbd, reset);
}
