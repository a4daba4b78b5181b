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
	cr_assert_eq(cfg.io_loops, IO_LOOPS_SHARED);
	cr_assert_null(cfg.initrd_path);
	config_free(&cfg);
}

Test(cli, io_loops)
{
	struct vm_config cfg;
	struct err e;

	cr_assert_eq(PARSE(&cfg, &e, "run", "-k/k", "--io-loops", "per-queue"), CLI_RUN, "%s",
		     e.msg);
	cr_assert_eq(cfg.io_loops, IO_LOOPS_PER_QUEUE);
	config_free(&cfg);
	cr_assert_eq(PARSE(&cfg, &e, "run", "-k/k", "--io-loops", "shared"), CLI_RUN, "%s",
		     e.msg);
	cr_assert_eq(cfg.io_loops, IO_LOOPS_SHARED);
	config_free(&cfg);
	cr_assert_eq(PARSE(&cfg, &e, "run", "-k/k", "--io-loops", "per-queue", "--io-loops",
			   "shared"), CLI_RUN, "%s", e.msg);
	cr_assert_eq(cfg.io_loops, IO_LOOPS_SHARED, "the last one wins, as for --cpus");
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
	{ "bad io loops", 5, (char *[]){ "vqvm", "run", "-k/k", "--io-loops", "per-cpu", NULL },
	  "--io-loops 'per-cpu'" },
	{ "io loops without value", 3, (char *[]){ "vqvm", "run", "--io-loops", NULL },
	  "needs a value" },
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

Test(devices, disk_spec_full)
{
	struct vm_config cfg;
	struct err e;

	cr_assert_eq(PARSE(&cfg, &e, "run", "-k/k", "--cpus", "4", "--disk",
			   "path=/img,readonly,cache=none,queues=2,id=root", "--disk", "path=/b"),
		     CLI_RUN, "%s", e.msg);
	cr_assert_eq(cfg.nr_disks, 2);
	cr_assert_str_eq(cfg.disks[0].path, "/img");
	cr_assert(cfg.disks[0].readonly);
	cr_assert_eq(cfg.disks[0].cache, DISK_CACHE_NONE);
	cr_assert_eq(cfg.disks[0].queues, 2);
	cr_assert_str_eq(cfg.disks[0].id, "root");
	cr_assert_not(cfg.disks[1].readonly);
	cr_assert_eq(cfg.disks[1].cache, DISK_CACHE_WRITEBACK);
	cr_assert_eq(cfg.disks[1].queues, 0, "0 = one per vCPU");
	config_free(&cfg);
}

Test(devices, net_spec_full)
{
	struct vm_config cfg;
	struct err e;
	const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

	cr_assert_eq(PARSE(&cfg, &e, "run", "-k/k", "--cpus", "2", "--net",
			   "tap=tap0,mac=52:54:00:ab:cd:ef,queues=2,id=eth"),
		     CLI_RUN, "%s", e.msg);
	cr_assert_eq(cfg.nr_nets, 1);
	cr_assert_str_eq(cfg.nets[0].tap, "tap0");
	cr_assert(cfg.nets[0].has_mac);
	cr_assert_arr_eq(cfg.nets[0].mac, mac, 6);
	cr_assert_eq(cfg.nets[0].queues, 2);
	config_free(&cfg);
}

static const struct {
	const char *name, *opt, *spec, *msg;
} bad_devices[] = {
	{ "disk without path", "--disk", "readonly", "path=FILE is required" },
	{ "disk unknown key", "--disk", "path=/x,speed=9", "unknown key 'speed'" },
	{ "disk repeated key", "--disk", "path=/x,path=/y", "'path' given twice" },
	{ "disk flag with value", "--disk", "path=/x,readonly=yes", "'readonly' takes no value" },
	{ "disk empty value", "--disk", "path=", "'path' needs a value" },
	{ "disk bad cache", "--disk", "path=/x,cache=fast", "cache 'fast'" },
	{ "disk zero queues", "--disk", "path=/x,queues=0", "queues '0'" },
	{ "disk queues beyond vcpus", "--disk", "path=/x,queues=2", "more than the 1 vCPUs" },
	{ "disk id too long", "--disk", "path=/x,id=abcdefghijklmnopqrstuvwxyz", "longer than 20" },
	{ "empty disk", "--disk", "", "empty value" },
	{ "net without tap", "--net", "mac=52:54:00:00:00:01", "tap=NAME is required" },
	{ "net bad mac", "--net", "tap=t0,mac=52:54:00:00:00", "not of the form" },
	{ "net mac junk", "--net", "tap=t0,mac=52:54:00:00:00:0g", "not of the form" },
	{ "net multicast mac", "--net", "tap=t0,mac=01:00:5e:00:00:01", "multicast" },
	{ "net zero mac", "--net", "tap=t0,mac=00:00:00:00:00:00", "all zeroes" },
	{ "net long tap name", "--net", "tap=abcdefghijklmnopq", "longer than 15" },
	{ "net queues beyond vcpus", "--net", "tap=t0,queues=3", "more than the 1 vCPUs" },
};

Test(devices, bad_specs_are_named)
{
	for (unsigned int i = 0; i < sizeof(bad_devices) / sizeof(bad_devices[0]); i++) {
		char *argv[] = { "vqvm", "run", "-k/k", (char *)bad_devices[i].opt,
				 (char *)bad_devices[i].spec, NULL };
		struct vm_config cfg;
		struct err e;

		cr_assert_eq(parse(&cfg, &e, 5, argv), CLI_ERROR, "%s", bad_devices[i].name);
		cr_assert(strstr(e.msg, bad_devices[i].msg), "%s: message was '%s'",
			  bad_devices[i].name, e.msg);
		config_free(&cfg);
	}
}

Test(devices, duplicate_ids)
{
	struct vm_config cfg;
	struct err e;

	cr_assert_eq(PARSE(&cfg, &e, "run", "-k/k", "--disk", "path=/a,id=x", "--net",
			   "tap=t0,id=x"),
		     CLI_ERROR);
	cr_assert(strstr(e.msg, "'x' is used twice"), "%s", e.msg);
	config_free(&cfg);
}

Test(managed, backends_and_defaults)
{
	struct vm_config cfg;
	struct err e;

	cr_assert_eq(PARSE(&cfg, &e, "run", "--kernel", "/k"), CLI_RUN);
	cr_assert(!config_has_mgmt(&cfg), "no management device unless asked for");
	cr_assert(cfg.managed_precreate, "pre-creation is on by default");
	config_free(&cfg);

	cr_assert_eq(PARSE(&cfg, &e, "run", "--kernel", "/k", "--cpus", "2", "--managed-disk",
			   "path=/a.img,readonly,cache=none,queues=2,id=root", "--managed-disk",
			   "path=/b.img", "--managed-net", "tap=tap7,mac=52:54:00:00:00:07",
			   "--managed-precreate", "off"),
		     CLI_RUN, "%s", e.msg);
	cr_assert(config_has_mgmt(&cfg));
	cr_assert_eq(cfg.nr_managed_disks, 2);
	cr_assert_str_eq(cfg.managed_disks[0].path, "/a.img");
	cr_assert(cfg.managed_disks[0].readonly);
	cr_assert_eq(cfg.managed_disks[0].cache, DISK_CACHE_NONE);
	cr_assert_eq(cfg.managed_disks[0].queues, 2);
	cr_assert_str_eq(cfg.managed_disks[0].id, "root");
	cr_assert_eq(cfg.nr_managed_nets, 1);
	cr_assert_str_eq(cfg.managed_nets[0].tap, "tap7");
	cr_assert(cfg.managed_nets[0].has_mac);
	cr_assert_eq(cfg.managed_nets[0].mac[5], 7);
	cr_assert(!cfg.managed_precreate);
	cr_assert_eq(cfg.nr_disks, 0, "managed backends are not virtio-pci disks");
	config_free(&cfg);

	cr_assert_eq(PARSE(&cfg, &e, "run", "--kernel", "/k", "--managed-max", "8"), CLI_RUN);
	cr_assert(config_has_mgmt(&cfg), "--managed-max alone makes the device");
	cr_assert_eq(cfg.managed_max, 8);
	config_free(&cfg);
}

Test(managed, bad_input_is_named)
{
	static const struct {
		char *opt, *val;
		const char *msg;
	} cases[] = {
		{ "--managed-max", "0", "--managed-max '0'" },
		{ "--managed-max", "1025", "--managed-max '1025'" },
		{ "--managed-precreate", "yes", "expected on or off" },
		{ "--managed-disk", "readonly", "--managed-disk: path=FILE is required" },
		{ "--managed-disk", "path=/a,bogus=1", "--managed-disk: unknown key 'bogus'" },
		{ "--managed-net", "mac=52:54:00:00:00:01", "--managed-net: tap=NAME is required" },
		{ "--managed-net", "tap=t0,mac=01:00:00:00:00:01", "multicast" },
		{ "--managed-disk", "path=/a,queues=3", "queues=3 is more than the 1 vCPUs" },
	};

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vm_config cfg;
		struct err e;

		cr_assert_eq(PARSE(&cfg, &e, "run", "--kernel", "/k", cases[i].opt, cases[i].val),
			     CLI_ERROR, "%s %s accepted", cases[i].opt, cases[i].val);
		cr_assert(strstr(e.msg, cases[i].msg), "%s %s: got '%s'", cases[i].opt,
			  cases[i].val, e.msg);
		config_free(&cfg);
	}
}

Test(managed, ids_unique_across_pci_and_managed)
{
	struct vm_config cfg;
	struct err e;

	cr_assert_eq(PARSE(&cfg, &e, "run", "--kernel", "/k", "--disk", "path=/a,id=d0",
			   "--managed-disk", "path=/b,id=d0"),
		     CLI_ERROR);
	cr_assert(strstr(e.msg, "'d0' is used twice"), "%s", e.msg);
	config_free(&cfg);
	cr_assert_eq(PARSE(&cfg, &e, "run", "--kernel", "/k", "--managed-max", "1",
			   "--managed-disk", "path=/a", "--managed-disk", "path=/b"),
		     CLI_ERROR);
	cr_assert(strstr(e.msg, "fewer than the 2 managed backends"), "%s", e.msg);
	config_free(&cfg);
}
