// SPDX-License-Identifier: Apache-2.0
#include "vmm/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "virtio/mgmt.h"
#include "vmm/config_json.h"

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
	OPT_MANAGED_DISK,
	OPT_MANAGED_NET,
	OPT_MANAGED_MAX,
	OPT_MANAGED_PRECREATE,
	OPT_API_SOCK,
	OPT_CONFIG_FILE,
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
	{ "managed-disk", required_argument, NULL, OPT_MANAGED_DISK },
	{ "managed-net", required_argument, NULL, OPT_MANAGED_NET },
	{ "managed-max", required_argument, NULL, OPT_MANAGED_MAX },
	{ "managed-precreate", required_argument, NULL, OPT_MANAGED_PRECREATE },
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "config-file", required_argument, NULL, OPT_CONFIG_FILE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

void cli_usage(FILE *out)
{
	fprintf(out,
		"Usage: vqvm run --kernel BZIMAGE [options]\n"
		"       vqvm --api-sock PATH [options]\n"
		"       vqvm --config-file FILE [options]\n"
		"       vqvm --help | --version\n"
		"\n"
		"Boot a Linux kernel in a KVM microVM: at once (run, --config-file), or when\n"
		"the API's InstanceStart says so (--api-sock without --config-file).\n"
		"\n"
		"Options (in the order given; later ones add to or override earlier ones):\n"
		"      --api-sock PATH    serve the HTTP API (docs/api.md) on a Unix socket at\n"
		"                         PATH, created 0600 and removed on exit\n"
		"      --config-file FILE the configuration as JSON, in the shapes of the API\n"
		"                         (GET /vm/config); the VM boots from it at once\n"
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
		"      --managed-disk SPEC  provision a virtio-blk backend for the management\n"
		"                         device (repeatable); SPEC as for --disk\n"
		"      --managed-net SPEC   provision a virtio-net backend for the management\n"
		"                         device (repeatable); SPEC as for --net\n"
		"      --managed-max N    managed-device slots, 1-%d (default %d); the\n"
		"                         management device exists when this or a backend is given\n"
		"      --managed-precreate on|off  create a managed device for every backend at\n"
		"                         boot (default on); off: backends wait for the guest's CREATE\n"
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
		CONFIG_DEFAULT_MEMORY >> 20, CONFIG_MAX_MANAGED_SLOTS, MGMT_DEFAULT_MAX_MANAGED);
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

static int parse_on_off(const char *option, const char *arg, bool *out, struct err *e)
{
	if (!strcmp(arg, "on"))
		*out = true;
	else if (!strcmp(arg, "off"))
		*out = false;
	else
		return err_set(e, "%s '%s': expected on or off", option, arg);
	return 0;
}

static int parse_managed_max(struct vm_config *cfg, const char *arg, struct err *e)
{
	unsigned long long n;

	if (parse_uint(arg, 1, CONFIG_MAX_MANAGED_SLOTS, &n))
		return err_set(e, "--managed-max '%s': expected a number from 1 to %d", arg,
			       CONFIG_MAX_MANAGED_SLOTS);
	cfg->managed_max = (unsigned int)n;
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
	case OPT_MANAGED_DISK:
		return config_add_managed_disk(cfg, arg, e);
	case OPT_MANAGED_NET:
		return config_add_managed_net(cfg, arg, e);
	case OPT_MANAGED_MAX:
		return parse_managed_max(cfg, arg, e);
	case OPT_MANAGED_PRECREATE:
		return parse_on_off("--managed-precreate", arg, &cfg->managed_precreate, e);
	case OPT_API_SOCK:
		return set_string(&cfg->api_sock, arg);
	case OPT_CONFIG_FILE:
		return config_json_load(cfg, arg, e);
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

/* run: boot now. Otherwise --config-file boots now and --api-sock alone waits. */
static enum cli_result parse_run(int argc, char **argv, struct vm_config *cfg, bool run,
				 struct err *e)
{
	bool config_file = false;
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
		config_file |= opt == OPT_CONFIG_FILE;
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
	if (!run && !config_file) {
		if (!cfg->api_sock) {
			err_set(e, "no command given (see vqvm --help)");
			return CLI_ERROR;
		}
		return config_check(cfg, e) ? CLI_ERROR : CLI_WAIT;
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
	if (!strncmp(argv[1], "--api-sock", 10) || !strncmp(argv[1], "--config-file", 13))
		return parse_run(argc, argv, cfg, false, e);
	if (strcmp(argv[1], "run")) {
		err_set(e, "unknown command '%s' (see vqvm --help)", argv[1]);
		return CLI_ERROR;
	}
	return parse_run(argc - 1, argv + 1, cfg, true, e);
}
