// SPDX-License-Identifier: Apache-2.0
#include "vmm/config.h"

#include <ctype.h>
#include <stdio.h>
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
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		free(cfg->disks[i].path);
		free(cfg->disks[i].id);
	}
	for (unsigned int i = 0; i < cfg->nr_nets; i++) {
		free(cfg->nets[i].tap);
		free(cfg->nets[i].id);
	}
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

/* Device ids must be unique across disks and nets: they name devices in logs and the API. */
static int config_check_ids(const struct vm_config *cfg, struct err *e)
{
	const char *ids[CONFIG_MAX_DISKS + CONFIG_MAX_NETS];
	unsigned int n = 0;

	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		if (cfg->disks[i].id)
			ids[n++] = cfg->disks[i].id;
	for (unsigned int i = 0; i < cfg->nr_nets; i++)
		if (cfg->nets[i].id)
			ids[n++] = cfg->nets[i].id;
	for (unsigned int i = 0; i < n; i++)
		for (unsigned int j = i + 1; j < n; j++)
			if (!strcmp(ids[i], ids[j]))
				return err_set(e, "device id '%s' is used twice", ids[i]);
	return 0;
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
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		if (cfg->disks[i].queues > cfg->cpus)
			return err_set(e, "--disk %s: queues=%u is more than the %u vCPUs",
				       cfg->disks[i].path, cfg->disks[i].queues, cfg->cpus);
	for (unsigned int i = 0; i < cfg->nr_nets; i++)
		if (cfg->nets[i].queues > cfg->cpus)
			return err_set(e, "--net %s: queues=%u is more than the %u vCPUs",
				       cfg->nets[i].tap, cfg->nets[i].queues, cfg->cpus);
	return config_check_ids(cfg, e);
}

int parse_mac(const char *s, uint8_t mac[6], struct err *e)
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6 || strlen(s) != 17)
		return err_set(e, "mac '%s' is not of the form 52:54:00:12:34:56", s);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	if (mac[0] & 1)
		return err_set(e, "mac '%s' is a multicast address", s);
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return err_set(e, "mac '%s' is all zeroes", s);
	return 0;
}

/*
 * A comma-separated list of key=value (or bare flag) items, each handled by the entry
 * of a table; unknown keys, repeated keys and missing values are errors that name the
 * option and the key.
 */
struct kv_key {
	const char *key;
	bool flag; /* takes no value */
	int (*set)(void *target, const char *value, struct err *e);
};

static int parse_kv(const char *option, const char *spec, const struct kv_key *keys,
		    unsigned int nr_keys, void *target, struct err *e)
{
	char *copy = strdup(spec), *save = NULL, *item;
	uint32_t seen = 0;
	int ret = 0;

	if (!copy)
		return err_set(e, "out of memory");
	if (!*spec)
		ret = err_set(e, "%s: empty value", option);
	for (item = strtok_r(copy, ",", &save); item && !ret; item = strtok_r(NULL, ",", &save)) {
		char *value = strchr(item, '=');
		unsigned int i;

		if (value)
			*value++ = '\0';
		for (i = 0; i < nr_keys && strcmp(keys[i].key, item); i++)
			;
		if (i == nr_keys)
			ret = err_set(e, "%s: unknown key '%s'", option, item);
		else if (seen & (1U << i))
			ret = err_set(e, "%s: '%s' given twice", option, item);
		else if (keys[i].flag && value)
			ret = err_set(e, "%s: '%s' takes no value", option, item);
		else if (!keys[i].flag && (!value || !*value))
			ret = err_set(e, "%s: '%s' needs a value (%s=...)", option, item, item);
		else if (keys[i].set(target, value, e))
			ret = err_prefix(e, "%s", option);
		seen |= 1U << i;
	}
	free(copy);
	return ret;
}

static int set_str(char **field, const char *value, struct err *e)
{
	free(*field);
	*field = strdup(value);
	return *field ? 0 : err_set(e, "out of memory");
}

static int set_queues(unsigned int *field, const char *value, struct err *e)
{
	unsigned long long n;

	if (parse_uint(value, 1, CONFIG_MAX_QUEUES, &n))
		return err_set(e, "queues '%s' must be a number from 1 to %d", value,
			       CONFIG_MAX_QUEUES);
	*field = (unsigned int)n;
	return 0;
}

static int set_id(char **field, const char *value, struct err *e)
{
	if (strlen(value) > CONFIG_ID_MAX)
		return err_set(e, "id '%s' is longer than %d characters", value, CONFIG_ID_MAX);
	return set_str(field, value, e);
}

static int disk_path(void *t, const char *v, struct err *e)
{
	return set_str(&((struct disk_config *)t)->path, v, e);
}

static int disk_readonly(void *t, const char *v, struct err *e)
{
	((struct disk_config *)t)->readonly = true;
	return 0;
}

static int disk_cache(void *t, const char *v, struct err *e)
{
	struct disk_config *d = t;

	if (!strcmp(v, "none"))
		d->cache = DISK_CACHE_NONE;
	else if (!strcmp(v, "writeback"))
		d->cache = DISK_CACHE_WRITEBACK;
	else
		return err_set(e, "cache '%s' must be none or writeback", v);
	return 0;
}

static int disk_queues(void *t, const char *v, struct err *e)
{
	return set_queues(&((struct disk_config *)t)->queues, v, e);
}

static int disk_id(void *t, const char *v, struct err *e)
{
	return set_id(&((struct disk_config *)t)->id, v, e);
}

static const struct kv_key disk_keys[] = {
	{ "path", false, disk_path },	{ "readonly", true, disk_readonly },
	{ "cache", false, disk_cache }, { "queues", false, disk_queues },
	{ "id", false, disk_id },
};

int config_add_disk(struct vm_config *cfg, const char *spec, struct err *e)
{
	struct disk_config *d;

	if (cfg->nr_disks == CONFIG_MAX_DISKS)
		return err_set(e, "--disk: at most %d disks", CONFIG_MAX_DISKS);
	d = &cfg->disks[cfg->nr_disks++];
	memset(d, 0, sizeof(*d));
	if (parse_kv("--disk", spec, disk_keys, sizeof(disk_keys) / sizeof(disk_keys[0]), d, e))
		return -1;
	if (!d->path)
		return err_set(e, "--disk: path=FILE is required");
	return 0;
}

static int net_tap(void *t, const char *v, struct err *e)
{
	if (strlen(v) >= 16) /* IFNAMSIZ */
		return err_set(e, "tap name '%s' is longer than 15 characters", v);
	return set_str(&((struct net_config *)t)->tap, v, e);
}

static int net_mac(void *t, const char *v, struct err *e)
{
	struct net_config *n = t;

	n->has_mac = true;
	return parse_mac(v, n->mac, e);
}

static int net_queues(void *t, const char *v, struct err *e)
{
	return set_queues(&((struct net_config *)t)->queues, v, e);
}

static int net_id(void *t, const char *v, struct err *e)
{
	return set_id(&((struct net_config *)t)->id, v, e);
}

static const struct kv_key net_keys[] = {
	{ "tap", false, net_tap },
	{ "mac", false, net_mac },
	{ "queues", false, net_queues },
	{ "id", false, net_id },
};

int config_add_net(struct vm_config *cfg, const char *spec, struct err *e)
{
	struct net_config *n;

	if (cfg->nr_nets == CONFIG_MAX_NETS)
		return err_set(e, "--net: at most %d network devices", CONFIG_MAX_NETS);
	n = &cfg->nets[cfg->nr_nets++];
	memset(n, 0, sizeof(*n));
	if (parse_kv("--net", spec, net_keys, sizeof(net_keys) / sizeof(net_keys[0]), n, e))
		return -1;
	if (!n->tap)
		return err_set(e, "--net: tap=NAME is required");
	return 0;
}
