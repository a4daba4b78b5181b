// SPDX-License-Identifier: Apache-2.0
/* CLI parsing and configuration validation: what users type and what they get back. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <string.h>

#include "vmm/cli.h"
#include "vmm/config.h"

static enum cli_result parse(struct vm_config *cfg, struct err *e, int argc, char **argv)
{
	config_init(cfg);
	memset(e, 0, sizeof(*e));
	return cli_parse(argc, argv, cfg, e);
}

#define ARGV(...) ((char *[]){ "vqvm", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "vqvm", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(cfg, e, ...) parse(cfg, e, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

Test(size, suffixes)
{
	struct err e;
	uint64_t v;

	cr_assert_eq(parse_size("512M", &v, &e), 0);
	cr_assert_eq(v, 512ULL << 20);
	cr_assert_eq(parse_size("2g", &v, &e), 0);
	cr_assert_eq(v, 2ULL << 30);
	cr_assert_eq(parse_size("131072K", &v, &e), 0);
	cr_assert_eq(v, 128ULL << 20);
	cr_assert_eq(parse_size("300", &v, &e), 0, "a bare number is MiB");
	cr_assert_eq(v, 300ULL << 20);
	cr_assert_eq(parse_size("4096B", &v, &e), 0);
	cr_assert_eq(v, 4096);
}

Test(size, rejects_garbage)
{
	struct err e;
	uint64_t v;

	cr_assert_eq(parse_size("", &v, &e), -1);
	cr_assert_eq(parse_size("12Q", &v, &e), -1);
	cr_assert(strstr(e.msg, "suffix"));
	cr_assert_eq(parse_size("M", &v, &e), -1);
	cr_assert_eq(parse_size("-1G", &v, &e), -1);
	cr_assert_eq(parse_size("1.5G", &v, &e), -1);
	cr_assert_eq(parse_size("99999999999999999999T", &v, &e), -1);
	cr_assert_eq(parse_size("20000000T", &v, &e), -1, "overflow must be caught");
}

Test(cli, full_run_command)
{
	struct vm_config cfg;
	struct err e;

	cr_assert_eq(PARSE(&cfg, &e, "run", "--kernel", "/k", "--initrd", "/i", "--cmdline",
			   "quiet", "--cpus", "4", "--memory", "1G", "--serial", "file:/tmp/o",
			   "--dump-dtb", "/tmp/d"),
		     CLI_RUN, "%s", e.msg);
	cr_assert_str_eq(cfg.kernel_path, "/k");
	cr_assert_str_eq(cfg.initrd_path, "/i");
	cr_assert_str_eq(cfg.cmdline, "quiet");
	cr_assert_eq(cfg.cpus, 4);
	cr_assert_eq(cfg.memory, 1ULL << 30);
	cr_assert_eq(cfg.serial, SERIAL_FILE);
	cr_assert_str_eq(cfg.serial_path, "/tmp/o");
	cr_assert_str_eq(cfg.dump_dtb_path, "/tmp/d");
	config_free(&cfg);
}

Test(cli, defaults)
{
	struct vm_config cfg;
	struct err e;

	cr_assert_eq(PARSE(&cfg, &e, "run", "-k", "/k"), CLI_RUN, "%s", e.msg);
	cr_assert_eq(cfg.cpus, 1);
	cr_assert_eq(cfg.memory, CONFIG_DEFAULT_MEMORY);
	cr_assert_eq(cfg.serial, SERIAL_STDIO);
	cr_assert_null(cfg.initrd_path);
	config_free(&cfg);
}

/* Every bad invocation: an error whose message names the problem. */
static const struct {
	const char *name;
	int argc;
	char **argv;
	const char *msg_contains;
} bad[] = {
	{ "no command", 1, (char *[]){ "vqvm", NULL }, "no command" },
	{ "unknown command", 2, (char *[]){ "vqvm", "fly", NULL }, "unknown command 'fly'" },
	{ "no kernel", 2, (char *[]){ "vqvm", "run", NULL }, "no kernel" },
	{ "unknown option", 4, (char *[]){ "vqvm", "run", "-k/k", "--frobnicate", NULL },
	  "--frobnicate" },
	{ "missing value", 3, (char *[]){ "vqvm", "run", "--kernel", NULL }, "needs a value" },
	{ "zero cpus", 5, (char *[]){ "vqvm", "run", "-k/k", "--cpus", "0", NULL }, "--cpus" },
	{ "too many cpus", 5, (char *[]){ "vqvm", "run", "-k/k", "--cpus", "255", NULL },
	  "--cpus" },
	{ "cpus not a number", 5, (char *[]){ "vqvm", "run", "-k/k", "--cpus", "two", NULL },
	  "--cpus" },
	{ "memory too small", 5, (char *[]){ "vqvm", "run", "-k/k", "--memory", "16M", NULL },
	  "too small" },
	{ "memory larger than host", 5,
	  (char *[]){ "vqvm", "run", "-k/k", "--memory", "64T", NULL }, "more than this host" },
	{ "memory not page multiple", 5,
	  (char *[]){ "vqvm", "run", "-k/k", "--memory", "65537K", NULL }, "4 KiB" },
	{ "bad serial", 5, (char *[]){ "vqvm", "run", "-k/k", "--serial", "tcp:1", NULL },
	  "--serial 'tcp:1'" },
	{ "serial file without path", 5,
	  (char *[]){ "vqvm", "run", "-k/k", "--serial", "file:", NULL }, "needs a path" },
	{ "bad log level", 5, (char *[]){ "vqvm", "run", "-k/k", "--log-level", "loud", NULL },
	  "--log-level" },
	{ "stray argument", 4, (char *[]){ "vqvm", "run", "-k/k", "extra", NULL }, "'extra'" },
};

Test(cli, bad_input_is_named)
{
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vm_config cfg;
		struct err e;

		cr_assert_eq(parse(&cfg, &e, bad[i].argc, bad[i].argv), CLI_ERROR, "%s",
			     bad[i].name);
		cr_assert(strstr(e.msg, bad[i].msg_contains), "%s: message was '%s'",
			  bad[i].name, e.msg);
		config_free(&cfg);
	}
}

Test(cli, help_and_version_exit_ok)
{
	struct vm_config cfg;
	struct err e;

	cr_redirect_stdout();
	cr_assert_eq(PARSE(&cfg, &e, "--help"), CLI_EXIT_OK);
	cr_assert_eq(PARSE(&cfg, &e, "--version"), CLI_EXIT_OK);
	cr_assert_eq(PARSE(&cfg, &e, "run", "--help"), CLI_EXIT_OK);
	config_free(&cfg);
}
