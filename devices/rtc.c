// SPDX-License-Identifier: Apache-2.0
/*
 * The RTC never ticks by itself: the guest's time is the host's UTC plus offset_sec,
 * turned into register values when the guest reads them. That makes every read
 * consistent with the host clock and leaves nothing to run between accesses. Setting the
 * time is the reverse: the written registers are decoded and offset_sec becomes the
 * difference to the host's time, with one-second resolution (the chip has no finer).
 */
#include "devices/rtc.h"

#include <string.h>
#include <time.h>

#include "lib/log.h"

/* Clock registers. */
#define REG_SEC 0x00
#define REG_SEC_ALARM 0x01
#define REG_MIN 0x02
#define REG_MIN_ALARM 0x03
#define REG_HOUR 0x04
#define REG_HOUR_ALARM 0x05
#define REG_WDAY 0x06
#define REG_MDAY 0x07
#define REG_MONTH 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define REG_CENTURY 0x32 /* the PC/AT convention (ACPI FADT "century" usually says so) */

/* Register A. */
#define A_UIP 0x80 /* update in progress: never, updates take no time here */

/* Register B. */
#define B_SET 0x80 /* updates halted: the guest is writing the time */
#define B_UIE 0x10
#define B_DM_BINARY 0x04 /* binary values; BCD when clear */
#define B_24H 0x02 /* 24-hour mode; else hours 1-12 with bit 7 = PM */

#define HOUR_PM 0x80

/* Register D. */
#define D_VRT 0x80 /* valid RAM and time: the battery is good */

/* What a PC's firmware leaves: 32.768 kHz time base, 1024 Hz rate; BCD, 24-hour. */
#define A_DEFAULT 0x26
#define B_DEFAULT B_24H

static const uint8_t time_regs[] = { REG_SEC,  REG_MIN,   REG_HOUR, REG_WDAY,
				     REG_MDAY, REG_MONTH, REG_YEAR, REG_CENTURY };

void rtc_init(struct rtc *rtc)
{
	memset(rtc, 0, sizeof(*rtc));
	pthread_mutex_init(&rtc->lock, NULL);
	rtc->cmos[REG_A] = A_DEFAULT;
	rtc->cmos[REG_B] = B_DEFAULT;
	rtc->cmos[REG_D] = D_VRT;
}

void rtc_destroy(struct rtc *rtc)
{
	pthread_mutex_destroy(&rtc->lock);
}

static bool is_time_reg(uint8_t reg)
{
	for (unsigned int i = 0; i < sizeof(time_regs); i++)
		if (time_regs[i] == reg)
			return true;
	return false;
}

static int64_t host_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/*
 * The guest's current time, broken down. Fails when offset_sec puts it outside the years
 * the registers can hold (0-9999): guest writes stay inside, but a clock set to the end
 * of 9999 runs out of it, and offset_sec is the VMM's to set too. Reads then give 0.
 */
static bool guest_tm(const struct rtc *rtc, struct tm *tm)
{
	int64_t sum;
	time_t t;

	if (__builtin_add_overflow(host_now(), rtc->offset_sec, &sum))
		return false;
	t = (time_t)sum;
	if (!gmtime_r(&t, tm))
		return false;
	return tm->tm_year >= -1900 && tm->tm_year <= 9999 - 1900;
}

static uint8_t encode(uint8_t b, unsigned int v)
{
	if (b & B_DM_BINARY)
		return (uint8_t)v;
	return (uint8_t)((v / 10) << 4 | v % 10);
}

/* False for a BCD byte with a digit above 9. */
static bool decode(uint8_t b, uint8_t raw, unsigned int *v)
{
	if (b & B_DM_BINARY) {
		*v = raw;
		return true;
	}
	if ((raw >> 4) > 9 || (raw & 0xf) > 9)
		return false;
	*v = (raw >> 4) * 10 + (raw & 0xf);
	return true;
}

static uint8_t time_reg_value(uint8_t b, const struct tm *tm, uint8_t reg)
{
	unsigned int year = (unsigned int)tm->tm_year + 1900;
	unsigned int hour = (unsigned int)tm->tm_hour;

	switch (reg) {
	case REG_SEC:
		return encode(b, (unsigned int)tm->tm_sec);
	case REG_MIN:
		return encode(b, (unsigned int)tm->tm_min);
	case REG_HOUR:
		if (b & B_24H)
			return encode(b, hour);
		/* 12-hour mode: 00:xx is 12 AM, 12:xx is 12 PM. */
		return encode(b, hour % 12 ? hour % 12 : 12) | (hour >= 12 ? HOUR_PM : 0);
	case REG_WDAY:
		return encode(b, (unsigned int)tm->tm_wday + 1); /* 1 = Sunday */
	case REG_MDAY:
		return encode(b, (unsigned int)tm->tm_mday);
	case REG_MONTH:
		return encode(b, (unsigned int)tm->tm_mon + 1);
	case REG_YEAR:
		return encode(b, year % 100);
	case REG_CENTURY:
		return encode(b, year / 100);
	}
	return 0;
}

/* Copy the running time into the time registers, where the guest may then edit it. */
static void freeze_time(struct rtc *rtc, uint8_t b)
{
	struct tm tm;
	bool ok = guest_tm(rtc, &tm);

	for (unsigned int i = 0; i < sizeof(time_regs); i++)
		rtc->cmos[time_regs[i]] = ok ? time_reg_value(b, &tm, time_regs[i]) : 0;
}

static bool is_leap(unsigned int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned int days_in_month(unsigned int y, unsigned int m)
{
	static const uint8_t days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	int64_t era;
	unsigned int yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned int)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/*
 * Make the time in the time registers the guest's time. A time that does not decode
 * (bad BCD digits, fields out of range, a day the month lacks) is refused: the clock
 * keeps running as before. The day of the week is not checked: the clock derives it.
 */
static void commit_time(struct rtc *rtc, uint8_t b)
{
	const uint8_t *c = rtc->cmos;
	unsigned int sec, min, hour, mday, mon, year, century, raw_hour;
	bool ok;
	int64_t t;

	raw_hour = c[REG_HOUR];
	if (!(b & B_24H))
		raw_hour &= ~HOUR_PM;
	ok = decode(b, c[REG_SEC], &sec) && sec <= 59 && decode(b, c[REG_MIN], &min) &&
	     min <= 59 && decode(b, (uint8_t)raw_hour, &hour) &&
	     decode(b, c[REG_MDAY], &mday) && decode(b, c[REG_MONTH], &mon) && mon >= 1 &&
	     mon <= 12 && decode(b, c[REG_YEAR], &year) && year <= 99 &&
	     decode(b, c[REG_CENTURY], &century) && century <= 99;
	if (ok && b & B_24H)
		ok = hour <= 23;
	else if (ok)
		ok = hour >= 1 && hour <= 12;
	if (ok) {
		if (!(b & B_24H))
			hour = hour % 12 + (c[REG_HOUR] & HOUR_PM ? 12 : 0);
		year += century * 100;
		ok = mday >= 1 && mday <= days_in_month(year, mon);
	}
	if (!ok) {
		log_debug("rtc: ignoring bad time %02x%02x-%02x-%02x %02x:%02x:%02x (B=%#x)",
			  c[REG_CENTURY], c[REG_YEAR], c[REG_MONTH], c[REG_MDAY],
			  c[REG_HOUR], c[REG_MIN], c[REG_SEC], b);
		return;
	}
	t = days_from_civil(year, mon, mday) * 86400 + hour * 3600 + min * 60 + sec;
	rtc->offset_sec = t - host_now();
}

static void write_reg_b(struct rtc *rtc, uint8_t val)
{
	uint8_t old = rtc->cmos[REG_B];

	if (val & B_SET && !(old & B_SET)) {
		/* The chip stops counting; the registers hold the time of that moment. */
		freeze_time(rtc, val);
		/* As on the chip, SET clears the update-ended interrupt enable. */
		val &= ~B_UIE;
	}
	rtc->cmos[REG_B] = val;
	if (old & B_SET && !(val & B_SET))
		commit_time(rtc, val);
}

static uint8_t read_reg(struct rtc *rtc, uint8_t reg)
{
	uint8_t b = rtc->cmos[REG_B];
	struct tm tm;

	switch (reg) {
	case REG_A:
		return rtc->cmos[REG_A] & ~A_UIP;
	case REG_C:
		return 0; /* no interrupt flags: no interrupt sources */
	case REG_D:
		return D_VRT;
	}
	if (!is_time_reg(reg) || b & B_SET)
		return rtc->cmos[reg];
	return guest_tm(rtc, &tm) ? time_reg_value(b, &tm, reg) : 0;
}

static void write_reg(struct rtc *rtc, uint8_t reg, uint8_t val)
{
	uint8_t b = rtc->cmos[REG_B];

	switch (reg) {
	case REG_A:
		rtc->cmos[REG_A] = val & ~A_UIP;
		return;
	case REG_B:
		write_reg_b(rtc, val);
		return;
	case REG_C:
	case REG_D:
		return; /* read-only */
	}
	if (!is_time_reg(reg) || b & B_SET) {
		rtc->cmos[reg] = val;
		return;
	}
	/*
	 * A time register written while the clock runs sets that field of the current
	 * time at once (as the chip, which just counts on from the new value).
	 */
	freeze_time(rtc, b);
	rtc->cmos[reg] = val;
	commit_time(rtc, b);
}

void rtc_index_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct rtc *rtc = opaque;

	if (!len)
		return;
	if (!is_write) {
		/* The index register is write-only on a PC. */
		memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&rtc->lock);
	/* Bit 7 masks NMIs on a PC; there is nothing to mask here. */
	rtc->index = data[0] & (RTC_CMOS_SIZE - 1);
	pthread_mutex_unlock(&rtc->lock);
}

void rtc_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct rtc *rtc = opaque;

	if (!len)
		return;
	pthread_mutex_lock(&rtc->lock);
	if (is_write) {
		write_reg(rtc, rtc->index, data[0]);
	} else {
		memset(data, 0xff, len);
		data[0] = read_reg(rtc, rtc->index);
	}
	pthread_mutex_unlock(&rtc->lock);
}
