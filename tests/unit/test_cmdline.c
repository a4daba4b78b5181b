// SPDX-License-Identifier: Apache-2.0
/* Kernel command line assembly: defaults, then the user's string, within limits. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/bzimage.h"
#include "arch/x86/layout.h"

#define DEFAULTS "reboot=k panic=1 console=ttyS0"

static char out[BOOT_CMDLINE_MAX];

/* A string of n 'x's; the caller frees it. */
static char *filler(size_t n)
{
	char *s = malloc(n + 1);

	cr_assert_not_null(s);
	memset(s, 'x', n);
	s[n] = '\0';
	return s;
}

Test(cmdline, defaults_then_user)
{
	struct err e;

	cr_assert_eq(cmdline_build(out, sizeof(out), DEFAULTS, "root=/dev/vda quiet", 2047, &e),
		     0, "%s", e.msg);
	cr_expect_str_eq(out, DEFAULTS " root=/dev/vda quiet");
}

Test(cmdline, empty_or_missing_user)
{
	struct err e;

	cr_assert_eq(cmdline_build(out, sizeof(out), DEFAULTS, "", 2047, &e), 0);
	cr_expect_str_eq(out, DEFAULTS);
	memset(out, '#', 64);
	cr_assert_eq(cmdline_build(out, sizeof(out), DEFAULTS, NULL, 2047, &e), 0);
	cr_expect_str_eq(out, DEFAULTS);
}

Test(cmdline, no_defaults)
{
	struct err e;

	cr_assert_eq(cmdline_build(out, sizeof(out), "", "init=/bin/sh", 2047, &e), 0);
	cr_expect_str_eq(out, "init=/bin/sh");
	cr_assert_eq(cmdline_build(out, sizeof(out), NULL, NULL, 2047, &e), 0);
	cr_expect_str_eq(out, "");
}

Test(cmdline, exactly_max_accepted)
{
	struct err e;
	/* defaults + ' ' + user == 2047 */
	char *user = filler(2047 - strlen(DEFAULTS) - 1);

	cr_assert_eq(cmdline_build(out, sizeof(out), DEFAULTS, user, 2047, &e), 0, "%s", e.msg);
	cr_expect_eq(strlen(out), 2047);
	cr_expect_eq(out[strlen(DEFAULTS)], ' ');
	free(user);
}

Test(cmdline, max_plus_one_rejected)
{
	struct err e = { { 0 } };
	char *user = filler(2047 - strlen(DEFAULTS));

	cr_assert_eq(cmdline_build(out, sizeof(out), DEFAULTS, user, 2047, &e), -1);
	cr_expect(strstr(e.msg, "2048 bytes"), "%s", e.msg);
	cr_expect(strstr(e.msg, "limit of 2047"), "%s", e.msg);
	free(user);
}

Test(cmdline, vqvm_area_limits_a_generous_kernel)
{
	struct err e = { { 0 } };
	char *user = filler(BOOT_CMDLINE_MAX - 1);
	char *big = malloc(BOOT_CMDLINE_MAX + 16);

	/* The kernel would take 1 MiB, but vqvm reserved BOOT_CMDLINE_MAX bytes. */
	cr_assert_eq(cmdline_build(big, BOOT_CMDLINE_MAX + 16, NULL, user, 1 << 20, &e), 0,
		     "%s", e.msg);
	free(user);
	user = filler(BOOT_CMDLINE_MAX);
	cr_assert_eq(cmdline_build(big, BOOT_CMDLINE_MAX + 16, NULL, user, 1 << 20, &e), -1);
	cr_expect(strstr(e.msg, "limit of 65535"), "%s", e.msg);
	free(user);
	free(big);
}

Test(cmdline, small_buffer_rejected)
{
	struct err e = { { 0 } };
	char small[8];

	cr_assert_eq(cmdline_build(small, sizeof(small), "abcd", "efg", 2047, &e), -1);
	cr_expect(strstr(e.msg, "buffer"), "%s", e.msg);
	cr_assert_eq(cmdline_build(small, sizeof(small), "abc", "efg", 2047, &e), 0);
	cr_expect_str_eq(small, "abc efg");
}
