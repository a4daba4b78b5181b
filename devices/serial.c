// SPDX-License-Identifier: Apache-2.0
/*
 * A 16550A as Linux's 8250 driver probes and drives it. Transmission is instant: THR
 * is always empty again by the time the guest looks, so LSR.THRE and LSR.TEMT stay set
 * and a THR write only produces the THRE interrupt that follows a sent byte.
 */
#include "devices/serial.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"

/* Register offsets from the base port. */
#define UART_RX 0 /* read, DLAB=0 */
#define UART_TX 0 /* write, DLAB=0 */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1 /* DLAB=0 */
#define UART_DLM 1 /* DLAB=1 */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI 0x01 /* received data available */
#define IER_THRI 0x02 /* THR empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI 0x08 /* modem status */
#define IER_MASK 0x0f /* a 16550A has nothing above bit 3 */

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_FIFO_BITS 0xc0 /* "FIFOs enabled", which makes Linux probe a 16550A */

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_KEEP 0xc9 /* enable, DMA mode, RX trigger level; bits 1-2 self-clear */

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
#define MSR_DELTAS 0x0f
#define MSR_LINES 0xf0

/* How long a byte may wait for a full out_fd: a few ms, then it is dropped. */
#define TX_WAIT_MS 5
#define TX_WAIT_TRIES 2
#define TX_MAX_ATTEMPTS 8 /* bounds EINTR retries too */

void serial_init(struct serial *s, struct irq_line irq, int out_fd)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->irq = irq;
	s->out_fd = out_fd;
	s->iir = IIR_NO_INT;
	s->lcr = 0x03; /* 8N1 */
	s->dll = 0x0c; /* 9600 baud, as PC firmware leaves it */
	/* PC firmware leaves OUT2 set, which opens the IRQ gate; Linux sets it anyway. */
	s->mcr = MCR_OUT2;
	s->lsr = LSR_THRE | LSR_TEMT;
	/* A connected line: carrier, data set ready, clear to send. */
	s->msr = MSR_DCD | MSR_DSR | MSR_CTS;
}

void serial_destroy(struct serial *s)
{
	pthread_mutex_destroy(&s->lock);
}

static bool serial_loopback(const struct serial *s)
{
	return s->mcr & MCR_LOOP;
}

/* The highest-priority pending interrupt as an IIR source code. */
static uint8_t serial_irq_source(const struct serial *s)
{
	if ((s->ier & IER_RLSI) && (s->lsr & LSR_ERRORS))
		return IIR_RLSI;
	if ((s->ier & IER_RDI) && s->rx_count)
		return IIR_RDI;
	if ((s->ier & IER_THRI) && s->thr_empty_pending)
		return IIR_THRI;
	if ((s->ier & IER_MSI) && (s->msr & MSR_DELTAS))
		return IIR_MSI;
	return IIR_NO_INT;
}

/*
 * Recompute IIR and drive the line. On a PC the UART's interrupt output reaches the
 * interrupt controller only through a buffer enabled by MCR.OUT2, so the line is
 * pending && OUT2. The line is only touched when its level changes.
 */
static void serial_update_irq(struct serial *s)
{
	int level;

	s->iir = serial_irq_source(s);
	level = s->iir != IIR_NO_INT && (s->mcr & MCR_OUT2);
	if (level == s->irq_level)
		return;
	s->irq_level = level;
	irq_line_set(&s->irq, level);
}

static void serial_rx_ready(struct serial *s)
{
	if (s->on_rx_ready)
		s->on_rx_ready(s->on_rx_ready_opaque);
}

static bool serial_rx_push(struct serial *s, uint8_t byte)
{
	if (s->rx_count == SERIAL_FIFO_SIZE)
		return false;
	s->rx[(s->rx_head + s->rx_count) % SERIAL_FIFO_SIZE] = byte;
	s->rx_count++;
	s->lsr |= LSR_DR;
	return true;
}

static uint8_t serial_rx_pop(struct serial *s)
{
	uint8_t byte;

	if (!s->rx_count)
		return 0;
	byte = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
	s->rx_count--;
	if (!s->rx_count) {
		s->lsr &= ~LSR_DR;
		serial_rx_ready(s);
	}
	return byte;
}

static void serial_rx_clear(struct serial *s)
{
	bool had_data = s->rx_count;

	s->rx_head = s->rx_count = 0;
	s->lsr &= ~LSR_DR;
	if (had_data)
		serial_rx_ready(s);
}

static void serial_tx_drop(struct serial *s, int err)
{
	s->tx_dropped++;
	if (err == EPIPE || err == EBADF) {
		log_warn("serial: output fd %d is gone (%s); guest output is discarded",
			 s->out_fd, strerror(err));
		s->out_fd = -1;
		return;
	}
	if (err == EAGAIN || err == EWOULDBLOCK)
		s->tx_congested = true;
	if (s->tx_dropped == 1)
		log_warn("serial: output fd %d not writable (%s); dropping guest output",
			 s->out_fd, strerror(err));
}

/*
 * One byte to out_fd. A vCPU is waiting on this write, so a full fd gets a short
 * grace period and then loses the byte; while the fd stays full (a stopped terminal)
 * later bytes are tried once without waiting, so the guest is not slowed to a crawl.
 */
static void serial_write_out(struct serial *s, uint8_t byte)
{
	struct pollfd pfd;
	int waits = 0, err = EAGAIN;
	ssize_t n;

	if (s->out_fd < 0)
		return;
	for (int i = 0; i < TX_MAX_ATTEMPTS; i++) {
		n = write(s->out_fd, &byte, 1);
		if (n == 1) {
			s->tx_congested = false;
			return;
		}
		err = n < 0 ? errno : EAGAIN;
		if (err == EINTR)
			continue;
		if (err != EAGAIN && err != EWOULDBLOCK)
			break;
		if (s->tx_congested || waits++ == TX_WAIT_TRIES)
			break;
		pfd = (struct pollfd){ .fd = s->out_fd, .events = POLLOUT };
		poll(&pfd, 1, TX_WAIT_MS);
	}
	serial_tx_drop(s, err);
}

/* The byte leaves the shift register: onto the line, or back into RX in loopback. */
static void serial_transmit(struct serial *s, uint8_t byte)
{
	if (serial_loopback(s)) {
		/* A full FIFO keeps its bytes and the new one is lost: an overrun. */
		if (!serial_rx_push(s, byte))
			s->lsr |= LSR_OE;
		return;
	}
	serial_write_out(s, byte);
	if (s->on_tx)
		s->on_tx(s->on_tx_opaque, byte);
}

static void serial_write_thr(struct serial *s, uint8_t byte)
{
	/* Loading THR clears its THRE interrupt; sending the byte empties THR again. */
	s->thr_empty_pending = false;
	serial_update_irq(s);
	serial_transmit(s, byte);
	if (s->ier & IER_THRI)
		s->thr_empty_pending = true;
}

static void serial_write_ier(struct serial *s, uint8_t val)
{
	uint8_t changed = (s->ier ^ val) & IER_MASK;

	s->ier = val & IER_MASK;
	/*
	 * Setting ETBEI while THR is empty raises THRE (Linux's startup test counts on it
	 * being raised again on every 0 -> 1 change); clearing it drops the request.
	 */
	if (changed & IER_THRI)
		s->thr_empty_pending = s->ier & IER_THRI;
}

static void serial_write_fcr(struct serial *s, uint8_t val)
{
	/* Turning the FIFOs on or off empties them. */
	if ((val ^ s->fcr) & FCR_ENABLE)
		val |= FCR_CLEAR_RX | FCR_CLEAR_TX;
	if (val & FCR_CLEAR_RX)
		serial_rx_clear(s);
	/* CLEAR_TX: nothing is ever queued for transmission. */
	s->fcr = val & FCR_KEEP;
}

/* The modem input lines: looped back from MCR in loopback mode, else a live line. */
static uint8_t serial_msr_lines(const struct serial *s)
{
	uint8_t lines = 0;

	if (!serial_loopback(s))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	if (s->mcr & MCR_DTR)
		lines |= MSR_DSR;
	if (s->mcr & MCR_RTS)
		lines |= MSR_CTS;
	if (s->mcr & MCR_OUT1)
		lines |= MSR_RI;
	if (s->mcr & MCR_OUT2)
		lines |= MSR_DCD;
	return lines;
}

/* Update MSR's line bits and latch the delta bits for those that changed. */
static void serial_update_msr(struct serial *s)
{
	uint8_t old = s->msr & MSR_LINES, new = serial_msr_lines(s);
	uint8_t changed = old ^ new, deltas = 0;

	if (changed & MSR_CTS)
		deltas |= MSR_DCTS;
	if (changed & MSR_DSR)
		deltas |= MSR_DDSR;
	if ((old & MSR_RI) && !(new & MSR_RI)) /* trailing edge only */
		deltas |= MSR_TERI;
	if (changed & MSR_DCD)
		deltas |= MSR_DDCD;
	s->msr = new | (s->msr & MSR_DELTAS) | deltas;
}

static void serial_write_mcr(struct serial *s, uint8_t val)
{
	bool was_loop = serial_loopback(s);

	s->mcr = val & MCR_MASK;
	serial_update_msr(s);
	/* Host input refused during loopback can come in now. */
	if (was_loop && !serial_loopback(s))
		serial_rx_ready(s);
}

static void serial_write(struct serial *s, uint64_t offset, uint8_t val)
{
	bool dlab = s->lcr & LCR_DLAB;

	switch (offset) {
	case UART_TX:
		if (dlab)
			s->dll = val;
		else
			serial_write_thr(s, val);
		break;
	case UART_IER:
		if (dlab)
			s->dlm = val;
		else
			serial_write_ier(s, val);
		break;
	case UART_FCR:
		serial_write_fcr(s, val);
		break;
	case UART_LCR:
		s->lcr = val;
		break;
	case UART_MCR:
		serial_write_mcr(s, val);
		break;
	case UART_SCR:
		s->scr = val;
		break;
	default:
		/* LSR and MSR: writes are for factory testing; ignored. */
		break;
	}
}

static uint8_t serial_read_iir(struct serial *s)
{
	uint8_t src = serial_irq_source(s);

	/* Reading IIR acknowledges THRE, but only when THRE is what it reports. */
	if (src == IIR_THRI)
		s->thr_empty_pending = false;
	return src | ((s->fcr & FCR_ENABLE) ? IIR_FIFO_BITS : 0);
}

static uint8_t serial_read(struct serial *s, uint64_t offset)
{
	bool dlab = s->lcr & LCR_DLAB;
	uint8_t val;

	switch (offset) {
	case UART_RX:
		return dlab ? s->dll : serial_rx_pop(s);
	case UART_IER:
		return dlab ? s->dlm : s->ier;
	case UART_IIR:
		return serial_read_iir(s);
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		/* Error bits are reported once; reading clears them (and their interrupt). */
		val = s->lsr;
		s->lsr &= ~LSR_ERRORS;
		return val;
	case UART_MSR:
		val = s->msr;
		s->msr &= ~MSR_DELTAS;
		return val;
	case UART_SCR:
		return s->scr;
	default:
		return 0xff;
	}
}

void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct serial *s = opaque;

	if (!len)
		return;
	pthread_mutex_lock(&s->lock);
	if (is_write) {
		serial_write(s, offset, data[0]);
	} else {
		memset(data, 0xff, len);
		data[0] = serial_read(s, offset);
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	/* In loopback the receiver is cut off from the line: keep the input for later. */
	if (!serial_loopback(s)) {
		while (n < len && serial_rx_push(s, buf[n]))
			n++;
		serial_update_irq(s);
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial_rx_room(struct serial *s)
{
	size_t room;

	pthread_mutex_lock(&s->lock);
	room = serial_loopback(s) ? 0 : SERIAL_FIFO_SIZE - s->rx_count;
	pthread_mutex_unlock(&s->lock);
	return room;
}
