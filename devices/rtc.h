/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A PC's MC146818 CMOS RTC: an index port (0x70; bit 7 is the NMI mask on real boards,
 * ignored here) selects one of 128 CMOS bytes read and written through the data port
 * (0x71). The clock registers are not counted by the device: each read computes them
 * from the host's CLOCK_REALTIME (UTC) plus offset_sec, so the RTC keeps time while the
 * VM is paused and never shows an update in progress (register A's UIP reads 0).
 * Setting the time (SET bit in register B, or a lone write to a time register) only
 * changes offset_sec, never the host clock.
 *
 * No interrupts: alarm, periodic and update-ended interrupts are not implemented,
 * register C reads 0 and IRQ 8 is never raised. The alarm registers are plain storage.
 * Linux's rtc_cmos probes and reads/sets the time without the IRQ; but since the x86
 * platform device always carries IRQ 8, the driver still offers alarms, and anything
 * waiting for one (RTC_AIE_ON, RTC_UIE_ON as used by hwclock) waits in vain.
 *
 * Both ports are byte-wide; wider accesses act on the low byte (reads fill 0xff).
 * Thread safety: the handlers take the device's own mutex (a leaf lock).
 */
#ifndef VQVM_DEVICES_RTC_H
#define VQVM_DEVICES_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define RTC_INDEX_PORT 0x70
#define RTC_DATA_PORT 0x71
#define RTC_IRQ 8 /* what a PC wires the RTC to; never raised here */

#define RTC_CMOS_SIZE 128

struct rtc {
	pthread_mutex_t lock;
	uint8_t index; /* selected CMOS byte, NMI bit stripped */
	/*
	 * Registers A, B, alarms and NVRAM. The time registers (and the century byte
	 * 0x32) hold the frozen/written time only while register B's SET bit is up;
	 * otherwise they are computed on each read.
	 */
	uint8_t cmos[RTC_CMOS_SIZE];
	int64_t offset_sec; /* guest time - host time, changed by guest writes */
};

void rtc_init(struct rtc *rtc);
void rtc_destroy(struct rtc *rtc);
/* Bus handlers: one for the index port 0x70, one for the data port 0x71 (len 1 each). */
void rtc_index_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void rtc_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
