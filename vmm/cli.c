// SPDX-License-Identifier: Apache-2.0
#include "vmm/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

enum {
	OPT_KERNEL = 'k',
	OPT_INITRD = 'i',
	OPT_CMDLINE = 'c',
	OPT_CPUS = 'n',
	OPT_MEMORY = 'm',
	OPT_HELP = 'h',
	OPT_VERSION = 'V',
	OPT_SERIAL = 0x100,
	OPT_DUMP_DTB,
	OPT_KVM,
	OPT_LOG_LEVEL,
	OPT_DISK,
	OPT_NET,
	OPT_IO_LOOPS,
};

static const struct option run_options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "dump-dtb", required_argument, NULL, OPT_DUMP_DTB },
	{ "kvm", required_argument, NULL, OPT_KVM },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "net", required_argument, NULL, OPT_NET },
	{ "io-loops", required_argument, NULL, OPT_IO_LOOPS },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

void cli_usage(FILE *out)
{
	fprintf(out,
		"Usage: vqvm run --kernel BZIMAGE [options]\n"
		"       vqvm --help | --version\n"
		"\n"
		"Boot a Linux kernel in a KVM microVM.\n"
		"\n"
		"Options for run:\n"
		"  -k, --kernel PATH      bzImage to boot (boot protocol 2.12 or later, 64-bit)\n"
		"  -i, --initrd PATH      initramfs to load\n"
		"  -c, --cmdline STR      kernel command line, appended to vqvm's defaults:\n"
		"                         %s\n"
		"  -n, --cpus N           vCPUs, 1-%d (default %d)\n"
		"  -m, --memory SIZE      guest RAM; suffix K, M, G or T, a bare number is MiB\n"
		"                         (default %llu MiB, minimum 64 MiB)\n"
		"      --serial MODE      where the guest's COM1 goes: stdio (default; input from\n"
		"                         stdin, raw mode on a terminal, Ctrl-A x quits),\n"
		"                         file:PATH (output only, truncated), none\n"
		"      --disk SPEC        a virtio-blk disk (repeatable), SPEC is\n"
		"                         path=FILE[,readonly][,cache=none|writeback][,queues=N]\n"
		"                         [,id=NAME]; queues default to one per vCPU\n"
		"      --net SPEC         a virtio-net device on an existing TAP (repeatable),\n"
		"                         SPEC is tap=NAME[,mac=MAC][,queues=N][,id=NAME]\n"
		"      --io-loops MODE    which event loops serve the virtio queues: shared\n"
		"                         (default; one loop, on the main thread) or per-queue\n"
		"                         (one loop and thread per virtqueue)\n"
		"      --dump-dtb PATH    also write the machine's device tree blob to PATH\n"
		"      --kvm PATH         KVM device (default /dev/kvm)\n"
		"      --log-level LEVEL  error, warn (default), info or debug; logs go to stderr\n"
		"  -h, --help             this text\n"
		"  -V, --version          vqvm's version\n"
		"\n"
		"Exit status: 0 when the guest reboots (reboot=k is in the defaults, so\n"
		"`reboot -f` in the guest ends vqvm), 1 on a vqvm error or a guest kernel panic\n"
		"or crash, 2 on a usage error, 128+N when stopped by signal N.\n",
		VQVM_DEFAULT_CMDLINE, CONFIG_MAX_CPUS, CONFIG_DEFAULT_CPUS,
		CONFIG_DEFAULT_MEMORY >> 20);
}

static int set_string(char **field, const char *value)
{
	free(*field);
	*field = strdup(value);
	return *field ? 0 : -1;
}

static int parse_serial(struct vm_config *cfg, const char *arg, struct err *e)
{
	if (!strcmp(arg, "stdio")) {
		cfg->serial = SERIAL_STDIO;
	} else if (!strcmp(arg, "none")) {
		cfg->serial = SERIAL_NONE;
	} else if (!strncmp(arg, "file:", 5)) {
		if (!arg[5])
			return err_set(e, "--serial file: needs a path (file:PATH)");
		cfg->serial = SERIAL_FILE;
		return set_string(&cfg->serial_path, arg + 5);
	} else {
		return err_set(e, "--serial '%s': expected stdio, file:PATH or none", arg);
	}
	return 0;
}

static int parse_io_loops(struct vm_config *cfg, const char *arg, struct err *e)
{
	if (!strcmp(arg, "shared"))
		cfg->io_loops = IO_LOOPS_SHARED;
	else if (!strcmp(arg, "per-queue"))
		cfg->io_loops = IO_LOOPS_PER_QUEUE;
	else
		return err_set(e, "--io-loops '%s': expected shared or per-queue", arg);
	return 0;
}

static int parse_run_option(struct vm_config *cfg, int opt, const char *arg, struct err *e)
{
	unsigned long long n;
	int level;

	switch (opt) {
	case OPT_KERNEL:
		return set_string(&cfg->kernel_path, arg);
	case OPT_INITRD:
		return set_string(&cfg->initrd_path, arg);
	case OPT_CMDLINE:
		return set_string(&cfg->cmdline, arg);
	case OPT_CPUS:
		if (parse_uint(arg, 1, CONFIG_MAX_CPUS, &n))
			return err_set(e, "--cpus '%s': expected a number from 1 to %d", arg,
				       CONFIG_MAX_CPUS);
		cfg->cpus = (unsigned int)n;
		return 0;
	case OPT_MEMORY:
		if (parse_size(arg, &cfg->memory, e))
			return err_prefix(e, "--memory");
		return 0;
	case OPT_SERIAL:
		return parse_serial(cfg, arg, e);
	case OPT_DUMP_DTB:
		return set_string(&cfg->dump_dtb_path, arg);
	case OPT_KVM:
		return set_string(&cfg->kvm_path, arg);
	case OPT_DISK:
		return config_add_disk(cfg, arg, e);
	case OPT_NET:
		return config_add_net(cfg, arg, e);
	case OPT_IO_LOOPS:
		return parse_io_loops(cfg, arg, e);
	case OPT_LOG_LEVEL:
		level = log_level_parse(arg);
		if (level < 0)
			return err_set(e, "--log-level '%s': expected error, warn, info or debug",
				       arg);
		cfg->log_level = level;
		return 0;
	default:
		return err_set(e, "unknown option");
	}
}

static enum cli_result parse_run(int argc, char **argv, struct vm_config *cfg, struct err *e)
{
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":k:i:c:n:m:hV", run_options, NULL)) != -1) {
		if (opt == OPT_HELP) {
			cli_usage(stdout);
			return CLI_EXIT_OK;
		}
		if (opt == OPT_VERSION) {
			printf("vqvm %s\n", VQVM_VERSION);
			return CLI_EXIT_OK;
		}
		if (opt == '?') {
			err_set(e, "unknown option '%s' (see vqvm --help)", argv[optind - 1]);
			return CLI_ERROR;
		}
		if (opt == ':') {
			err_set(e, "option '%s' needs a value", argv[optind - 1]);
			return CLI_ERROR;
		}
		if (parse_run_option(cfg, opt, optarg, e)) {
			if (!e->msg[0])
				err_set(e, "out of memory");
			return CLI_ERROR;
		}
	}
	if (optind < argc) {
		err_set(e, "unexpected argument '%s' (see vqvm --help)", argv[optind]);
		return CLI_ERROR;
	}
	if (config_validate(cfg, e))
		return CLI_ERROR;
	return CLI_RUN;
}

enum cli_result cli_parse(int argc, char **argv, struct vm_config *cfg, struct err *e)
{
	e->msg[0] = '\0';
	if (argc < 2) {
		err_set(e, "no command given (see vqvm --help)");
		return CLI_ERROR;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		cli_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("vqvm %s\n", VQVM_VERSION);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "run")) {
		err_set(e, "unknown command '%s' (see vqvm --help)", argv[1]);
		return CLI_ERROR;
	}
	return parse_run(argc - 1, argv + 1, cfg, e);
}
