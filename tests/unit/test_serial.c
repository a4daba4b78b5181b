// SPDX-License-Identifier: Apache-2.0
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "devices/serial.h"

#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

/* A fake interrupt controller pin: remembers every level it was driven to. */
struct fake_line {
	int levels[512];
	int n;
	unsigned int gsi;
};

static void fake_set_level(void *opaque, unsigned int gsi, int level)
{
	struct fake_line *l = opaque;

	l->gsi = gsi;
	if (l->n < 512)
		l->levels[l->n++] = level;
}

static struct serial s;
static struct fake_line line;
static int pipefd[2];

static void setup(void)
{
	struct irq_line irq = { .set_level = fake_set_level, .opaque = &line, .gsi = 4 };

	memset(&line, 0, sizeof(line));
	cr_assert_eq(pipe2(pipefd, O_NONBLOCK), 0);
	serial_init(&s, irq, pipefd[1]);
}

static void teardown(void)
{
	serial_destroy(&s);
	close(pipefd[0]);
	close(pipefd[1]);
}

TestSuite(serial, .init = setup, .fini = teardown);

static uint8_t rd(uint64_t reg)
{
	uint8_t v;

	serial_io(&s, reg, &v, 1, false);
	return v;
}

static void wr(uint64_t reg, uint8_t v)
{
	serial_io(&s, reg, &v, 1, true);
}

static int last_level(void)
{
	return line.n ? line.levels[line.n - 1] : 0;
}

Test(serial, reset_state_looks_like_an_idle_connected_16550)
{
	cr_assert_eq(rd(IIR), 0x01); /* no interrupt, FIFOs off */
	cr_assert_eq(rd(LSR), 0x60); /* THRE | TEMT */
	cr_assert_eq(rd(MSR) & 0xf0, 0xb0); /* DCD | DSR | CTS */
	cr_assert_eq(rd(IER), 0);
	cr_assert_eq(line.n, 0);
}

Test(serial, thr_bytes_reach_out_fd_and_on_tx)
{
	const char *msg = "hello\n";
	char buf[16] = { 0 };

	for (const char *p = msg; *p; p++)
		wr(THR, *p);
	cr_assert_eq(read(pipefd[0], buf, sizeof(buf)), 6);
	cr_assert_str_eq(buf, msg);
	/* Transmission is instant: the transmitter is empty again. */
	cr_assert_eq(rd(LSR) & 0x60, 0x60);
}

static char tx_seen[8];
static int tx_n;

static void record_tx(void *opaque, uint8_t byte)
{
	cr_assert_eq(opaque, &s);
	tx_seen[tx_n++] = byte;
}

Test(serial, on_tx_sees_every_byte_even_without_an_fd)
{
	s.out_fd = -1;
	s.on_tx = record_tx;
	s.on_tx_opaque = &s;
	wr(THR, 'o');
	wr(THR, 'k');
	cr_assert_eq(tx_n, 2);
	cr_assert_eq(memcmp(tx_seen, "ok", 2), 0);
}

Test(serial, full_out_fd_drops_bytes_without_blocking, .timeout = 10)
{
	char buf[4096];
	ssize_t n, total = 0;

	/* Fill the pipe, then keep writing: each byte waits a few ms at most. */
	while (write(pipefd[1], buf, sizeof(buf)) > 0)
		;
	for (int i = 0; i < 100; i++)
		wr(THR, 'x');
	cr_assert_eq(s.tx_dropped, 100);
	/* Once the reader catches up, output flows again. */
	while ((n = read(pipefd[0], buf, sizeof(buf))) > 0)
		total += n;
	wr(THR, 'y');
	cr_assert_eq(read(pipefd[0], buf, 1), 1);
	cr_assert_eq(buf[0], 'y');
	cr_assert_not(s.tx_congested);
}

Test(serial, closed_reader_stops_output_without_crashing)
{
	signal(SIGPIPE, SIG_IGN);
	close(pipefd[0]);
	pipefd[0] = open("/dev/null", O_RDONLY);
	wr(THR, 'a');
	wr(THR, 'b');
	cr_assert_eq(s.out_fd, -1);
	cr_assert_eq(s.tx_dropped, 1);
	cr_assert_eq(rd(LSR) & 0x60, 0x60);
}

Test(serial, dlab_switches_between_divisor_latch_and_data_registers)
{
	char c;

	wr(IER, 0x05);
	wr(LCR, 0x83); /* DLAB + 8N1 */
	wr(DLL, 0x01);
	wr(DLM, 0x02);
	cr_assert_eq(rd(DLL), 0x01);
	cr_assert_eq(rd(DLM), 0x02);
	cr_assert_eq(read(pipefd[0], &c, 1), -1); /* DLL write sent nothing */
	wr(LCR, 0x03);
	cr_assert_eq(rd(IER), 0x05);
	cr_assert_eq(rd(LCR), 0x03);
	wr(LCR, 0x83);
	cr_assert_eq(rd(DLL), 0x01); /* the latch kept its value */
	cr_assert_eq(rd(DLM), 0x02);
}

Test(serial, ier_has_four_bits_and_scratch_holds_anything)
{
	wr(IER, 0xff);
	cr_assert_eq(rd(IER), 0x0f);
	wr(IER, 0);
	for (int v = 0; v < 256; v += 51) {
		wr(SCR, v);
		cr_assert_eq(rd(SCR), v);
	}
}

Test(serial, fcr_enable_shows_fifo_bits_in_iir)
{
	wr(FCR, 0x01);
	cr_assert_eq(rd(IIR), 0xc1);
	/* Bit 5 (64-byte FIFO on a 16750) must not show: Linux would call it a 16750. */
	wr(FCR, 0x21);
	cr_assert_eq(rd(IIR) & 0x20, 0);
	wr(FCR, 0x00);
	cr_assert_eq(rd(IIR), 0x01);
}

Test(serial, receive_fills_fifo_and_reports_room)
{
	uint8_t in[100];

	for (int i = 0; i < 100; i++)
		in[i] = i;
	wr(FCR, 0x01);
	cr_assert_eq(serial_rx_room(&s), 64);
	cr_assert_eq(serial_receive(&s, in, 10), 10);
	cr_assert_eq(serial_rx_room(&s), 54);
	cr_assert_eq(serial_receive(&s, in + 10, 90), 54);
	cr_assert_eq(serial_rx_room(&s), 0);
	cr_assert_eq(serial_receive(&s, in, 1), 0);
	/* Host input is never an overrun: the caller keeps what did not fit. */
	cr_assert_eq(rd(LSR) & 0x02, 0);
	for (int i = 0; i < 64; i++) {
		cr_assert(rd(LSR) & 0x01);
		cr_assert_eq(rd(RBR), i);
	}
	cr_assert_eq(rd(LSR) & 0x01, 0);
	cr_assert_eq(serial_rx_room(&s), 64);
}

static int rx_ready_calls;

static void count_rx_ready(void *opaque)
{
	rx_ready_calls++;
}

Test(serial, on_rx_ready_fires_when_the_guest_drains_the_fifo)
{
	uint8_t in[2] = { 'a', 'b' };

	s.on_rx_ready = count_rx_ready;
	serial_receive(&s, in, 2);
	rd(RBR);
	cr_assert_eq(rx_ready_calls, 0);
	rd(RBR);
	cr_assert_eq(rx_ready_calls, 1);
}

Test(serial, fcr_clear_rx_empties_the_fifo)
{
	uint8_t in[3] = { 1, 2, 3 };

	wr(FCR, 0x01);
	serial_receive(&s, in, 3);
	wr(FCR, 0x03);
	cr_assert_eq(rd(LSR) & 0x01, 0);
	cr_assert_eq(serial_rx_room(&s), 64);
	cr_assert_eq(rd(IIR), 0xc1);
}

Test(serial, loopback_returns_tx_and_overflow_sets_oe)
{
	char c;

	wr(FCR, 0x07);
	wr(MCR, 0x10);
	for (int i = 0; i < 256; i++)
		wr(THR, i);
	cr_assert_eq(read(pipefd[0], &c, 1), -1); /* nothing went out */
	/* Host input is refused while the receiver is looped back. */
	cr_assert_eq(serial_rx_room(&s), 0);
	cr_assert_eq(serial_receive(&s, (const uint8_t *)"x", 1), 0);
	/* Linux's size_fifo(): count bytes while DR; a U6_16550A holds 64. */
	uint8_t lsr = rd(LSR);

	cr_assert_eq(lsr & 0x03, 0x03); /* DR | OE */
	cr_assert_eq(rd(LSR) & 0x02, 0); /* OE is cleared by reading LSR */
	int count = 0;

	while ((rd(LSR) & 0x01) && count < 256)
		cr_assert_eq(rd(RBR), count++);
	cr_assert_eq(count, 64);
	wr(MCR, 0x08);
	cr_assert_eq(serial_rx_room(&s), 64);
}

Test(serial, loopback_msr_mirrors_mcr)
{
	/* Linux's loop test: LOOP | OUT2 | RTS must read back as DCD | CTS. */
	wr(MCR, 0x10 | 0x08 | 0x02);
	cr_assert_eq(rd(MSR) & 0xf0, 0x90);
	wr(MCR, 0x10 | 0x01);
	cr_assert_eq(rd(MSR) & 0xf0, 0x20); /* DTR -> DSR */
	wr(MCR, 0x10 | 0x04);
	cr_assert_eq(rd(MSR) & 0xf0, 0x40); /* OUT1 -> RI */
	wr(MCR, 0x10 | 0x0f);
	cr_assert_eq(rd(MSR) & 0xf0, 0xf0);
	wr(MCR, 0x08);
	cr_assert_eq(rd(MSR) & 0xf0, 0xb0); /* back on the live line */
}

Test(serial, msr_latches_deltas_until_read)
{
	wr(MCR, 0x10 | 0x0f); /* RI 0 -> 1, DCD 1 -> 1, DSR 1 -> 1, CTS 1 -> 1 */
	cr_assert_eq(rd(MSR), 0xf0);
	wr(MCR, 0x10); /* everything drops: DCTS, DDSR, TERI, DDCD */
	cr_assert_eq(rd(MSR), 0x0f);
	cr_assert_eq(rd(MSR), 0x00);
}

Test(serial, modem_status_interrupt_is_the_lowest_priority)
{
	wr(MCR, 0x08 | 0x10 | 0x02); /* deltas: DDSR (DSR dropped), DCD unchanged */
	wr(IER, 0x08);
	cr_assert_eq(rd(IIR), 0x00); /* modem status */
	cr_assert_eq(last_level(), 1);
	rd(MSR);
	cr_assert_eq(rd(IIR), 0x01);
	cr_assert_eq(last_level(), 0);
}

Test(serial, interrupt_priorities)
{
	uint8_t b = 'z';

	wr(MCR, 0x08 | 0x10); /* loopback to make an overrun */
	rd(MSR);
	for (int i = 0; i < 65; i++)
		wr(THR, i);
	wr(IER, 0x0f); /* everything */
	cr_assert_eq(rd(IIR), 0x06); /* receiver line status first */
	rd(LSR);
	cr_assert_eq(rd(IIR), 0x04); /* then data available */
	while (rd(LSR) & 0x01)
		rd(RBR);
	cr_assert_eq(rd(IIR), 0x02); /* then THR empty, acknowledged by this read */
	cr_assert_eq(rd(IIR), 0x01);
	wr(MCR, 0x08);
	cr_assert_eq(rd(IIR), 0x00); /* leaving loopback changed the modem lines */
	rd(MSR);
	cr_assert_eq(rd(IIR), 0x01);
	cr_assert_eq(serial_receive(&s, &b, 1), 1);
	cr_assert_eq(rd(IIR), 0x04);
}

Test(serial, thre_interrupt_on_ier_enable_cleared_by_iir_read)
{
	wr(IER, 0x02);
	cr_assert_eq(last_level(), 1);
	cr_assert_eq(line.gsi, 4);
	cr_assert_eq(rd(IIR), 0x02);
	cr_assert_eq(last_level(), 0);
	cr_assert_eq(rd(IIR), 0x01);
	/* Linux's startup test: toggling ETBEI raises it again. */
	wr(IER, 0x00);
	wr(IER, 0x02);
	cr_assert_eq(rd(IIR), 0x02);
	cr_assert_eq(rd(IIR), 0x01);
}

Test(serial, thre_interrupt_after_each_sent_byte)
{
	wr(IER, 0x02);
	rd(IIR);
	int before = line.n;

	wr(THR, 'a');
	cr_assert_eq(line.n, before + 1);
	cr_assert_eq(last_level(), 1);
	/* A write while THRE is still pending drops and re-raises the line: a new edge. */
	wr(THR, 'b');
	cr_assert_eq(line.n, before + 3);
	cr_assert_eq(line.levels[before + 1], 0);
	cr_assert_eq(line.levels[before + 2], 1);
	cr_assert_eq(rd(IIR), 0x02);
	cr_assert_eq(last_level(), 0);
	/* Disabling ETBEI withdraws a pending THRE interrupt. */
	wr(THR, 'c');
	cr_assert_eq(last_level(), 1);
	wr(IER, 0x00);
	cr_assert_eq(last_level(), 0);
	cr_assert_eq(rd(IIR), 0x01);
}

Test(serial, rda_interrupt_follows_the_fifo)
{
	uint8_t in[2] = { 'h', 'i' };

	wr(IER, 0x01);
	cr_assert_eq(line.n, 0); /* enabling with nothing received raises nothing */
	serial_receive(&s, in, 2);
	cr_assert_eq(line.n, 1);
	cr_assert_eq(last_level(), 1);
	cr_assert_eq(rd(IIR), 0x04);
	cr_assert_eq(rd(RBR), 'h');
	cr_assert_eq(last_level(), 1); /* one byte still there: no change, no call */
	cr_assert_eq(line.n, 1);
	cr_assert_eq(rd(RBR), 'i');
	cr_assert_eq(last_level(), 0);
	cr_assert_eq(line.n, 2);
}

Test(serial, out2_gates_the_interrupt_line)
{
	uint8_t in = 'q';

	wr(MCR, 0x00); /* OUT2 off */
	wr(IER, 0x01);
	serial_receive(&s, &in, 1);
	cr_assert_eq(rd(IIR), 0x04); /* pending inside the UART ... */
	cr_assert_eq(line.n, 0); /* ... but the line stays low */
	wr(MCR, 0x08);
	cr_assert_eq(line.n, 1);
	cr_assert_eq(last_level(), 1);
	wr(MCR, 0x0b); /* DTR | RTS | OUT2: still open, no new call */
	cr_assert_eq(line.n, 1);
	wr(MCR, 0x03);
	cr_assert_eq(line.n, 2);
	cr_assert_eq(last_level(), 0);
	rd(RBR);
	wr(MCR, 0x08);
	cr_assert_eq(line.n, 2); /* nothing pending any more */
}

Test(serial, wide_accesses_act_on_the_low_byte)
{
	uint8_t data[4] = { 0x5a, 0x11, 0x22, 0x33 };

	serial_io(&s, SCR, data, 2, true);
	memset(data, 0, sizeof(data));
	serial_io(&s, SCR, data, 4, false);
	cr_assert_eq(data[0], 0x5a);
	cr_assert_eq(data[1], 0xff);
	cr_assert_eq(data[3], 0xff);
}

/* The sequence of Linux's autoconfig() up to the FIFO size check. */
Test(serial, linux_autoconfig_finds_a_16550a)
{
	uint8_t save_ier = rd(IER);

	wr(IER, 0);
	cr_assert_eq(rd(IER) & 0x0f, 0);
	wr(IER, 0x0f);
	cr_assert_eq(rd(IER) & 0x0f, 0x0f);
	wr(IER, save_ier);

	wr(LCR, 0xbf); /* EFR access on other chips: an FCR write here */
	wr(FCR, 0);
	wr(LCR, 0);
	wr(FCR, 0x01);
	cr_assert_eq(rd(IIR) >> 6, 3);
	wr(LCR, 0x80);
	cr_assert_neq(rd(IIR), 0); /* no ST16C650 EFR */
	wr(LCR, 0xbf);
	cr_assert_neq(rd(IIR), 0);
	wr(LCR, 0);
	/* Not an XScale: IER bit 6 does not stick. */
	wr(IER, 0x40);
	cr_assert_eq(rd(IER) & 0x40, 0);
}
