// SPDX-License-Identifier: Apache-2.0
#include "vmm/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "lib/log.h"

void config_init(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->cpus = CONFIG_DEFAULT_CPUS;
	cfg->memory = CONFIG_DEFAULT_MEMORY;
	cfg->serial = SERIAL_STDIO;
	cfg->log_level = LOG_WARN;
}

void config_free(struct vm_config *cfg)
{
	free(cfg->kernel_path);
	free(cfg->initrd_path);
	free(cfg->cmdline);
	free(cfg->serial_path);
	free(cfg->dump_dtb_path);
	free(cfg->kvm_path);
	memset(cfg, 0, sizeof(*cfg));
}

int parse_uint(const char *s, unsigned long long min, unsigned long long max,
	       unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t *out, struct err *e)
{
	static const struct {
		char suffix;
		unsigned int shift;
	} units[] = { { 'B', 0 }, { 'K', 10 }, { 'M', 20 }, { 'G', 30 }, { 'T', 40 } };
	unsigned int shift = 20; /* bare numbers are MiB */
	unsigned long long v;
	char num[32];
	size_t len;

	if (!s || !*s)
		return err_set(e, "empty size");
	len = strlen(s);
	if (len >= sizeof(num))
		return err_set(e, "size '%s' is too long", s);
	memcpy(num, s, len + 1);
	if (!isdigit((unsigned char)num[len - 1])) {
		char c = toupper((unsigned char)num[len - 1]);
		unsigned int i;

		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (units[i].suffix == c)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return err_set(e, "size '%s' has an unknown suffix (use K, M, G or T)", s);
		shift = units[i].shift;
		num[len - 1] = '\0';
	}
	if (parse_uint(num, 0, UINT64_MAX, &v))
		return err_set(e, "size '%s' is not a number", s);
	if (shift && v > (UINT64_MAX >> shift))
		return err_set(e, "size '%s' is too large", s);
	*out = (uint64_t)v << shift;
	return 0;
}

static uint64_t host_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);

	return (pages > 0 && page > 0) ? (uint64_t)pages * (uint64_t)page : 0;
}

int config_validate(const struct vm_config *cfg, struct err *e)
{
	uint64_t host = host_memory();

	if (!cfg->kernel_path)
		return err_set(e, "no kernel given (--kernel PATH)");
	if (cfg->cpus < 1 || cfg->cpus > CONFIG_MAX_CPUS)
		return err_set(e, "--cpus %u is out of range (1-%d)", cfg->cpus, CONFIG_MAX_CPUS);
	if (cfg->memory < GUEST_MIN_MEMORY)
		return err_set(e, "--memory %" PRIu64 " MiB is too small (minimum %llu MiB)",
			       cfg->memory >> 20, GUEST_MIN_MEMORY >> 20);
	if (cfg->memory % 4096)
		return err_set(e, "--memory must be a multiple of 4 KiB");
	if (host && cfg->memory > host)
		return err_set(e, "--memory %" PRIu64 " MiB is more than this host has (%" PRIu64
			       " MiB)", cfg->memory >> 20, host >> 20);
	if (cfg->serial == SERIAL_FILE && (!cfg->serial_path || !*cfg->serial_path))
		return err_set(e, "--serial file: needs a path (file:PATH)");
	return 0;
}
