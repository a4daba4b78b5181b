// SPDX-License-Identifier: Apache-2.0
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/bus.h"
#include "devices/rtc.h"
#include "lib/log.h"
#include "tests/unit/lib/pio.h"

#define SEC 0x00
#define SEC_ALARM 0x01
#define MIN 0x02
#define MIN_ALARM 0x03
#define HOUR 0x04
#define HOUR_ALARM 0x05
#define WDAY 0x06
#define MDAY 0x07
#define MONTH 0x08
#define YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define CENTURY 0x32

#define A_UIP 0x80
#define B_SET 0x80
#define B_UIE 0x10
#define B_DM_BINARY 0x04
#define B_24H 0x02
#define D_VRT 0x80
#define NMI_DISABLE 0x80

static struct rtc rtc;
static struct bus pio;

static void setup(void)
{
	rtc_init(&rtc);
	cr_assert_eq(bus_init(&pio, "pio"), 0);
	cr_assert_eq(bus_register(&pio, RTC_INDEX_PORT, 1, rtc_index_io, &rtc), 0);
	cr_assert_eq(bus_register(&pio, RTC_DATA_PORT, 1, rtc_data_io, &rtc), 0);
}

static void teardown(void)
{
	bus_destroy(&pio);
	rtc_destroy(&rtc);
}

TestSuite(rtc, .init = setup, .fini = teardown);

/* Linux's CMOS_READ/CMOS_WRITE, with the NMI bit clear as Linux leaves it. */
static uint8_t cmos_read(uint8_t reg)
{
	pio_outb(&pio, reg, RTC_INDEX_PORT);
	return pio_inb(&pio, RTC_DATA_PORT);
}

static void cmos_write(uint8_t reg, uint8_t val)
{
	pio_outb(&pio, reg, RTC_INDEX_PORT);
	pio_outb(&pio, val, RTC_DATA_PORT);
}

static unsigned int from_bcd(uint8_t v)
{
	cr_assert_leq(v >> 4, 9, "bad BCD %#x", v);
	cr_assert_leq(v & 0xf, 9, "bad BCD %#x", v);
	return (v >> 4) * 10 + (v & 0xf);
}

static uint8_t to_bcd(unsigned int v)
{
	return (uint8_t)((v / 10) << 4 | v % 10);
}

/*
 * Read the clock the way mc146818_get_time() does, retrying while the seconds change
 * under it, and check the day of the week against the date read.
 */
static time_t read_clock(bool binary)
{
	uint8_t r[CENTURY + 1];
	struct tm tm = { 0 }, check;
	int wday;
	time_t t;

	for (int tries = 0;; tries++) {
		cr_assert_lt(tries, 5);
		r[SEC] = cmos_read(SEC);
		cr_assert_eq(cmos_read(REG_A) & A_UIP, 0);
		r[MIN] = cmos_read(MIN);
		r[HOUR] = cmos_read(HOUR);
		r[WDAY] = cmos_read(WDAY);
		r[MDAY] = cmos_read(MDAY);
		r[MONTH] = cmos_read(MONTH);
		r[YEAR] = cmos_read(YEAR);
		r[CENTURY] = cmos_read(CENTURY);
		if (cmos_read(SEC) == r[SEC])
			break;
	}
	if (binary) {
		tm.tm_sec = r[SEC];
		tm.tm_min = r[MIN];
		tm.tm_hour = r[HOUR];
		tm.tm_mday = r[MDAY];
		tm.tm_mon = r[MONTH] - 1;
		tm.tm_year = r[CENTURY] * 100 + r[YEAR] - 1900;
		wday = r[WDAY] - 1;
	} else {
		tm.tm_sec = from_bcd(r[SEC]);
		tm.tm_min = from_bcd(r[MIN]);
		tm.tm_hour = from_bcd(r[HOUR]);
		tm.tm_mday = from_bcd(r[MDAY]);
		tm.tm_mon = from_bcd(r[MONTH]) - 1;
		tm.tm_year = from_bcd(r[CENTURY]) * 100 + from_bcd(r[YEAR]) - 1900;
		wday = from_bcd(r[WDAY]) - 1;
	}
	t = timegm(&tm);
	gmtime_r(&t, &check);
	/* timegm normalises: equal fields mean every register was in range. */
	cr_assert_eq(check.tm_sec, tm.tm_sec);
	cr_assert_eq(check.tm_min, tm.tm_min);
	cr_assert_eq(check.tm_hour, tm.tm_hour);
	cr_assert_eq(check.tm_mday, tm.tm_mday);
	cr_assert_eq(check.tm_mon, tm.tm_mon);
	cr_assert_eq(check.tm_wday, wday, "day of week %#x", r[WDAY]);
	return t;
}

static void assert_clock_near(time_t expected_lo, time_t expected_hi, bool binary)
{
	time_t t = read_clock(binary);

	/* A couple of seconds of slack: the RTC has one-second resolution. */
	cr_assert_geq(t, expected_lo - 2, "rtc %lld, expected >= %lld", (long long)t,
		      (long long)expected_lo);
	cr_assert_leq(t, expected_hi + 2, "rtc %lld, expected <= %lld", (long long)t,
		      (long long)expected_hi);
}

/* What mc146818_set_time() does (BCD, no ACPI century byte unless century != 0). */
static void linux_set_time(unsigned int year, unsigned int mon, unsigned int mday,
			   unsigned int hour, unsigned int min, unsigned int sec,
			   unsigned int century)
{
	uint8_t b = cmos_read(REG_B), a;

	cmos_write(REG_B, b | B_SET);
	a = cmos_read(REG_A);
	cmos_write(REG_A, a | 0x70); /* RTC_DIV_RESET2 */
	cmos_write(YEAR, to_bcd(year));
	cmos_write(MONTH, to_bcd(mon));
	cmos_write(MDAY, to_bcd(mday));
	cmos_write(HOUR, to_bcd(hour));
	cmos_write(MIN, to_bcd(min));
	cmos_write(SEC, to_bcd(sec));
	if (century)
		cmos_write(CENTURY, to_bcd(century));
	cmos_write(REG_B, b);
	cmos_write(REG_A, a);
}

static time_t utc(int year, int mon, int mday, int hour, int min, int sec)
{
	struct tm tm = { .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = mday,
			 .tm_hour = hour, .tm_min = min, .tm_sec = sec };

	return timegm(&tm);
}

Test(rtc, status_registers_after_reset)
{
	cr_assert_eq(cmos_read(REG_A), 0x26); /* 32.768 kHz base, 1024 Hz, no UIP */
	cr_assert_eq(cmos_read(REG_B), B_24H); /* BCD, 24-hour, no interrupts */
	cr_assert_eq(cmos_read(REG_C), 0);
	cr_assert_eq(cmos_read(REG_D), D_VRT); /* else rtc_cmos reports a dead battery */
	cr_assert_eq(rtc.offset_sec, 0);
}

Test(rtc, uip_never_set_so_linux_probe_succeeds_at_once)
{
	/* mc146818_does_rtc_work(): seconds, UIP clear, same seconds. */
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(cmos_read(REG_A) & A_UIP, 0);
}

Test(rtc, bcd_time_matches_host_utc)
{
	time_t lo = time(NULL);

	assert_clock_near(lo, time(NULL), false);
}

Test(rtc, century_and_year_in_bcd)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	cr_assert_eq(cmos_read(CENTURY), to_bcd((tm.tm_year + 1900) / 100));
	cr_assert_eq(cmos_read(YEAR), to_bcd((tm.tm_year + 1900) % 100));
}

Test(rtc, binary_mode_time_matches_host_utc)
{
	time_t lo;

	cmos_write(REG_B, B_24H | B_DM_BINARY);
	cr_assert_eq(cmos_read(REG_B), B_24H | B_DM_BINARY);
	lo = time(NULL);
	assert_clock_near(lo, time(NULL), true);
}

Test(rtc, twelve_hour_mode_sets_pm_bit)
{
	linux_set_time(30, 6, 15, 15, 30, 0, 20);
	cmos_write(REG_B, 0); /* BCD, 12-hour */
	cr_assert_eq(cmos_read(HOUR), 0x80 | 0x03);
	cmos_write(REG_B, B_DM_BINARY);
	cr_assert_eq(cmos_read(HOUR), 0x80 | 3);
	cmos_write(REG_B, B_24H);
	cr_assert_eq(cmos_read(HOUR), 0x15);

	/* Midnight is 12 AM, noon is 12 PM. */
	linux_set_time(30, 6, 15, 0, 30, 0, 20);
	cmos_write(REG_B, 0);
	cr_assert_eq(cmos_read(HOUR), 0x12);
	cmos_write(REG_B, B_24H);
	linux_set_time(30, 6, 15, 12, 30, 0, 20);
	cmos_write(REG_B, 0);
	cr_assert_eq(cmos_read(HOUR), 0x80 | 0x12);
}

Test(rtc, twelve_hour_mode_writes)
{
	cmos_write(REG_B, 0);
	cmos_write(REG_B, B_SET);
	cmos_write(HOUR, 0x80 | 0x01); /* 1 PM */
	cmos_write(MIN, 0x30);
	cmos_write(REG_B, 0);
	cmos_write(REG_B, B_24H);
	cr_assert_eq(cmos_read(HOUR), 0x13);
	cr_assert_eq(cmos_read(MIN), 0x30);

	/* There is no hour 0 on a 12-hour clock. */
	cmos_write(REG_B, B_SET);
	cmos_write(HOUR, 0x00);
	cmos_write(REG_B, 0);
	cmos_write(REG_B, B_24H);
	cr_assert_eq(cmos_read(HOUR), 0x13);
}

Test(rtc, set_bit_sets_guest_time_not_host_time)
{
	time_t target = utc(2030, 6, 15, 12, 34, 56), lo, hi;
	time_t host_before = time(NULL);

	linux_set_time(30, 6, 15, 12, 34, 56, 0);
	hi = time(NULL);
	lo = host_before;
	cr_assert_eq(cmos_read(YEAR), 0x30);
	cr_assert_eq(cmos_read(CENTURY), 0x20);
	cr_assert_eq(cmos_read(MONTH), 0x06);
	cr_assert_eq(cmos_read(MDAY), 0x15);
	cr_assert_eq(cmos_read(WDAY), 7); /* a Saturday */
	cr_assert_eq(cmos_read(HOUR), 0x12);
	cr_assert_eq(cmos_read(MIN), 0x34);
	/* offset_sec is the guest's time minus the host's. */
	cr_assert_geq(rtc.offset_sec, target - hi - 1);
	cr_assert_leq(rtc.offset_sec, target - lo + 1);
	assert_clock_near(target, target + (time(NULL) - host_before), false);
	cr_assert_eq(cmos_read(REG_A), 0x26); /* Linux restored it */

	/* The host clock did not follow. */
	cr_assert_geq(time(NULL), host_before);
	cr_assert_leq(time(NULL) - host_before, 2);
}

Test(rtc, time_registers_hold_written_values_while_set)
{
	cmos_write(REG_B, B_24H | B_SET);
	cmos_write(SEC, 0x42);
	cmos_write(YEAR, 0x31);
	/* The clock is stopped: what was written reads back, whatever the host does. */
	cr_assert_eq(cmos_read(SEC), 0x42);
	cr_assert_eq(cmos_read(YEAR), 0x31);
	cr_assert_eq(rtc.offset_sec, 0);
	cmos_write(REG_B, B_24H);
	/* Fields not written kept the time of the moment SET was raised. */
	cr_assert_eq(cmos_read(YEAR), 0x31);
	cr_assert_neq(rtc.offset_sec, 0);
}

Test(rtc, set_bit_clears_update_interrupt_enable)
{
	cmos_write(REG_B, B_24H | B_UIE);
	cr_assert_eq(cmos_read(REG_B), B_24H | B_UIE);
	cmos_write(REG_B, B_24H | B_UIE | B_SET);
	cr_assert_eq(cmos_read(REG_B), B_24H | B_SET);
	cmos_write(REG_B, B_24H);
	cr_assert_eq(cmos_read(REG_C), 0); /* still no interrupt flags */
}

Test(rtc, century_write_moves_the_century)
{
	linux_set_time(99, 12, 31, 23, 0, 0, 21);
	cr_assert_eq(cmos_read(CENTURY), 0x21);
	cr_assert_eq(cmos_read(YEAR), 0x99);
	/* Binary-mode set, as firmware that runs the RTC in binary might do. */
	cmos_write(REG_B, B_24H | B_DM_BINARY | B_SET);
	cmos_write(CENTURY, 19);
	cmos_write(YEAR, 99);
	cmos_write(REG_B, B_24H | B_DM_BINARY);
	cr_assert_eq(cmos_read(CENTURY), 19);
	cr_assert_eq(cmos_read(YEAR), 99);
	cmos_write(REG_B, B_24H);
	cr_assert_eq(cmos_read(CENTURY), 0x19);
	cr_assert_eq(cmos_read(YEAR), 0x99);
}

Test(rtc, write_while_running_sets_that_field)
{
	linux_set_time(30, 6, 15, 12, 34, 0, 20);
	cmos_write(MONTH, 0x07);
	cr_assert_eq(cmos_read(MONTH), 0x07);
	cr_assert_eq(cmos_read(MDAY), 0x15);
	cr_assert_eq(cmos_read(YEAR), 0x30);
	cr_assert_eq(cmos_read(MIN), 0x34);
}

Test(rtc, leap_day)
{
	linux_set_time(28, 2, 29, 10, 0, 0, 20);
	cr_assert_eq(cmos_read(MONTH), 0x02);
	cr_assert_eq(cmos_read(MDAY), 0x29);
	cr_assert_eq(cmos_read(WDAY), 3); /* a Tuesday */
}

static void assert_rejected(uint8_t reg, uint8_t val)
{
	time_t before = time(NULL);

	cmos_write(REG_B, B_24H | B_SET);
	cmos_write(reg, val);
	/* Stored as written, while SET holds. */
	cr_assert_eq(cmos_read(reg), val);
	cmos_write(REG_B, B_24H);
	cr_assert_eq(rtc.offset_sec, 0, "reg %#x = %#x was accepted", reg, val);
	assert_clock_near(before, time(NULL), false);
}

Test(rtc, invalid_bcd_rejected)
{
	assert_rejected(SEC, 0x5a);
	assert_rejected(MIN, 0xa0);
	assert_rejected(HOUR, 0x1f);
	assert_rejected(MDAY, 0xff);
	assert_rejected(MONTH, 0x1a);
	assert_rejected(YEAR, 0xaa);
	assert_rejected(CENTURY, 0x2b);
}

Test(rtc, out_of_range_time_rejected)
{
	assert_rejected(SEC, 0x60);
	assert_rejected(MIN, 0x60);
	assert_rejected(HOUR, 0x24);
	assert_rejected(MDAY, 0x00);
	assert_rejected(MDAY, 0x32);
	assert_rejected(MONTH, 0x00);
	assert_rejected(MONTH, 0x13);
	/* A day the month does not have. */
	cmos_write(REG_B, B_24H | B_SET);
	cmos_write(YEAR, 0x29);
	cmos_write(MONTH, 0x02);
	cmos_write(MDAY, 0x29);
	cmos_write(REG_B, B_24H);
	cr_assert_eq(rtc.offset_sec, 0);
	/* Binary values above 99 for the year. */
	cmos_write(REG_B, B_24H | B_DM_BINARY | B_SET);
	cmos_write(YEAR, 100);
	cmos_write(REG_B, B_24H | B_DM_BINARY);
	cr_assert_eq(rtc.offset_sec, 0);
}

Test(rtc, invalid_lone_write_rejected)
{
	time_t before = time(NULL);

	cmos_write(MONTH, 0x4f);
	cr_assert_eq(rtc.offset_sec, 0);
	assert_clock_near(before, time(NULL), false);
}

Test(rtc, rejection_is_logged_at_debug)
{
	int fds[2];
	char buf[512] = { 0 };

	cr_assert_eq(pipe(fds), 0);
	log_set_fd(fds[1]);
	log_set_level(LOG_DEBUG);
	cmos_write(REG_B, B_24H | B_SET);
	cmos_write(SEC, 0x5a);
	cmos_write(REG_B, B_24H);
	log_set_fd(2);
	log_set_level(LOG_WARN);
	close(fds[1]);
	cr_assert_gt(read(fds[0], buf, sizeof(buf) - 1), 0);
	close(fds[0]);
	cr_assert(strstr(buf, "debug"), "%s", buf);
	cr_assert(strstr(buf, "rtc"), "%s", buf);
	cr_assert(strstr(buf, ":5a"), "%s", buf);
}

Test(rtc, bogus_offset_reads_zero_without_crashing)
{
	rtc.offset_sec = INT64_MAX;
	cr_assert_eq(cmos_read(SEC), 0);
	cr_assert_eq(cmos_read(YEAR), 0);
	rtc.offset_sec = INT64_MIN;
	cr_assert_eq(cmos_read(CENTURY), 0);
	/* A set from there is still accepted. */
	linux_set_time(30, 1, 1, 0, 0, 0, 20);
	cr_assert_eq(cmos_read(YEAR), 0x30);
}

Test(rtc, alarm_registers_and_nvram_are_storage)
{
	for (unsigned int reg = 0x0e; reg < RTC_CMOS_SIZE; reg++)
		if (reg != CENTURY)
			cr_assert_eq(cmos_read(reg), 0, "reg %#x", reg);
	for (unsigned int reg = 0x0e; reg < RTC_CMOS_SIZE; reg++)
		if (reg != CENTURY)
			cmos_write(reg, (uint8_t)(reg ^ 0xa5));
	for (unsigned int reg = 0x0e; reg < RTC_CMOS_SIZE; reg++)
		if (reg != CENTURY)
			cr_assert_eq(cmos_read(reg), (uint8_t)(reg ^ 0xa5), "reg %#x", reg);

	cmos_write(SEC_ALARM, 0x30);
	cmos_write(MIN_ALARM, 0xc0); /* "don't care" */
	cmos_write(HOUR_ALARM, 0x23);
	cr_assert_eq(cmos_read(SEC_ALARM), 0x30);
	cr_assert_eq(cmos_read(MIN_ALARM), 0xc0);
	cr_assert_eq(cmos_read(HOUR_ALARM), 0x23);
	cr_assert_eq(rtc.offset_sec, 0);
	cr_assert_eq(cmos_read(REG_C), 0); /* no alarm interrupt flag, ever */
}

Test(rtc, register_a_divider_writable_uip_not)
{
	cmos_write(REG_A, 0x80 | 0x70 | 0x06);
	cr_assert_eq(cmos_read(REG_A), 0x76);
	cmos_write(REG_A, 0x26);
	cr_assert_eq(cmos_read(REG_A), 0x26);
}

Test(rtc, registers_c_and_d_are_read_only)
{
	cmos_write(REG_C, 0xf0);
	cmos_write(REG_D, 0x00);
	cr_assert_eq(cmos_read(REG_C), 0);
	cr_assert_eq(cmos_read(REG_D), D_VRT);
}

Test(rtc, nmi_bit_in_index_ignored)
{
	pio_outb(&pio, NMI_DISABLE | REG_D, RTC_INDEX_PORT);
	cr_assert_eq(pio_inb(&pio, RTC_DATA_PORT), D_VRT);
	pio_outb(&pio, NMI_DISABLE | 0x40, RTC_INDEX_PORT);
	pio_outb(&pio, 0x5c, RTC_DATA_PORT);
	cr_assert_eq(cmos_read(0x40), 0x5c);
	pio_outb(&pio, NMI_DISABLE | REG_A, RTC_INDEX_PORT);
	cr_assert_eq(pio_inb(&pio, RTC_DATA_PORT), 0x26);
	/* The index register is write-only. */
	cr_assert_eq(pio_inb(&pio, RTC_INDEX_PORT), 0xff);
}

Test(rtc, wide_accesses_act_on_the_low_byte)
{
	uint8_t data[4] = { 0x11, 0x22, 0x33, 0x44 };

	rtc_index_io(&rtc, 0, data, 4, true); /* index 0x11 */
	data[0] = 0x99;
	rtc_data_io(&rtc, 0, data, 2, true);
	cr_assert_eq(cmos_read(0x11), 0x99);
	cr_assert_eq(cmos_read(0x22), 0);

	pio_outb(&pio, REG_D, RTC_INDEX_PORT);
	memset(data, 0, sizeof(data));
	rtc_data_io(&rtc, 0, data, 4, false);
	cr_assert_eq(data[0], D_VRT);
	cr_assert_eq(data[1], 0xff);
	cr_assert_eq(data[2], 0xff);
	cr_assert_eq(data[3], 0xff);

	memset(data, 0, sizeof(data));
	rtc_index_io(&rtc, 0, data, 2, false);
	cr_assert_eq(data[0], 0xff);
	cr_assert_eq(data[1], 0xff);
}
