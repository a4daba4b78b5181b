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
	cfg->managed_precreate = true;
}

bool config_has_mgmt(const struct vm_config *cfg)
{
	return cfg->nr_managed_disks || cfg->nr_managed_nets || cfg->managed_max;
}

static void free_disks(struct disk_config *disks, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		free(disks[i].path);
		free(disks[i].id);
	}
}

static void free_nets(struct net_config *nets, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		free(nets[i].tap);
		free(nets[i].id);
	}
}

void config_free(struct vm_config *cfg)
{
	free_disks(cfg->disks, cfg->nr_disks);
	free_nets(cfg->nets, cfg->nr_nets);
	free_disks(cfg->managed_disks, cfg->nr_managed_disks);
	free_nets(cfg->managed_nets, cfg->nr_managed_nets);
	free(cfg->kernel_path);
	free(cfg->initrd_path);
	free(cfg->cmdline);
	free(cfg->serial_path);
	free(cfg->dump_dtb_path);
	free(cfg->kvm_path);
	free(cfg->api_sock);
	free(cfg->log_path);
	free(cfg->metrics_path);
	memset(cfg, 0, sizeof(*cfg));
}

unsigned int config_find_disk(const struct disk_config *disks, unsigned int nr, const char *id)
{
	unsigned int i;

	for (i = 0; i < nr && !(disks[i].id && !strcmp(disks[i].id, id)); i++)
		;
	return i;
}

unsigned int config_find_net(const struct net_config *nets, unsigned int nr, const char *id)
{
	unsigned int i;

	for (i = 0; i < nr && !(nets[i].id && !strcmp(nets[i].id, id)); i++)
		;
	return i;
}

/* Close the gap of entry i in an array of *nr entries of size bytes. */
static void remove_entry(void *array, size_t size, unsigned int *nr, unsigned int i)
{
	char *at = (char *)array + i * size;

	(*nr)--;
	memmove(at, at + size, (*nr - i) * size);
}

int config_remove_managed(struct vm_config *cfg, const char *id)
{
	unsigned int i = config_find_disk(cfg->managed_disks, cfg->nr_managed_disks, id);

	if (i < cfg->nr_managed_disks) {
		free_disks(&cfg->managed_disks[i], 1);
		remove_entry(cfg->managed_disks, sizeof(cfg->managed_disks[0]),
			     &cfg->nr_managed_disks, i);
		return 0;
	}
	i = config_find_net(cfg->managed_nets, cfg->nr_managed_nets, id);
	if (i == cfg->nr_managed_nets)
		return -1;
	free_nets(&cfg->managed_nets[i], 1);
	remove_entry(cfg->managed_nets, sizeof(cfg->managed_nets[0]), &cfg->nr_managed_nets, i);
	return 0;
}

/* Every string of cfg, for config_copy: strdup'ed in place after a shallow copy. */
static void config_strings(struct vm_config *cfg, char **out[])
{
	char ***p = out;

	*p++ = &cfg->kernel_path;
	*p++ = &cfg->initrd_path;
	*p++ = &cfg->cmdline;
	*p++ = &cfg->serial_path;
	*p++ = &cfg->dump_dtb_path;
	*p++ = &cfg->kvm_path;
	*p++ = &cfg->api_sock;
	*p++ = &cfg->log_path;
	*p++ = &cfg->metrics_path;
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		*p++ = &cfg->disks[i].path;
		*p++ = &cfg->disks[i].id;
	}
	for (unsigned int i = 0; i < cfg->nr_managed_disks; i++) {
		*p++ = &cfg->managed_disks[i].path;
		*p++ = &cfg->managed_disks[i].id;
	}
	for (unsigned int i = 0; i < cfg->nr_nets; i++) {
		*p++ = &cfg->nets[i].tap;
		*p++ = &cfg->nets[i].id;
	}
	for (unsigned int i = 0; i < cfg->nr_managed_nets; i++) {
		*p++ = &cfg->managed_nets[i].tap;
		*p++ = &cfg->managed_nets[i].id;
	}
	*p = NULL;
}

int config_copy(struct vm_config *dst, const struct vm_config *src)
{
	char **strings[9 + 2 * (CONFIG_MAX_DISKS + CONFIG_MAX_MANAGED_DISKS + CONFIG_MAX_NETS +
				CONFIG_MAX_MANAGED_NETS) + 1];
	bool failed = false;

	*dst = *src;
	config_strings(dst, strings);
	for (char ***p = strings; *p; p++)
		if (**p && !(**p = strdup(**p)))
			failed = true;
	if (!failed)
		return 0;
	/* strdup failures left NULLs; the rest are ours. */
	config_free(dst);
	return -1;
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
static unsigned int collect_ids(const char **ids, unsigned int n, const struct disk_config *disks,
				unsigned int nr_disks, const struct net_config *nets,
				unsigned int nr_nets)
{
	for (unsigned int i = 0; i < nr_disks; i++)
		if (disks[i].id)
			ids[n++] = disks[i].id;
	for (unsigned int i = 0; i < nr_nets; i++)
		if (nets[i].id)
			ids[n++] = nets[i].id;
	return n;
}

static int config_check_ids(const struct vm_config *cfg, struct err *e)
{
	const char *ids[CONFIG_MAX_DISKS + CONFIG_MAX_NETS + CONFIG_MAX_MANAGED_DISKS +
			CONFIG_MAX_MANAGED_NETS];
	unsigned int n;

	n = collect_ids(ids, 0, cfg->disks, cfg->nr_disks, cfg->nets, cfg->nr_nets);
	n = collect_ids(ids, n, cfg->managed_disks, cfg->nr_managed_disks, cfg->managed_nets,
			cfg->nr_managed_nets);
	for (unsigned int i = 0; i < n; i++)
		for (unsigned int j = i + 1; j < n; j++)
			if (!strcmp(ids[i], ids[j]))
				return err_set(e, "device id '%s' is used twice", ids[i]);
	return 0;
}

static int check_queues(const struct vm_config *cfg, const char *disk_opt,
			const struct disk_config *disks, unsigned int nr_disks,
			const struct net_config *nets, unsigned int nr_nets, const char *net_opt,
			struct err *e)
{
	for (unsigned int i = 0; i < nr_disks; i++)
		if (disks[i].queues > cfg->cpus)
			return err_set(e, "%s %s: queues=%u is more than the %u vCPUs", disk_opt,
				       disks[i].path, disks[i].queues, cfg->cpus);
	for (unsigned int i = 0; i < nr_nets; i++)
		if (nets[i].queues > cfg->cpus)
			return err_set(e, "%s %s: queues=%u is more than the %u vCPUs", net_opt,
				       nets[i].tap, nets[i].queues, cfg->cpus);
	return 0;
}

const struct config_names config_cli_names = {
	.cpus = "--cpus", .memory = "--memory", .disk = "--disk", .net = "--net",
	.managed_disk = "--managed-disk", .managed_net = "--managed-net",
	.managed_max = "--managed-max",
};

const struct config_names config_api_names = {
	.cpus = "machine-config: vcpu_count", .memory = "machine-config: mem_size_mib",
	.disk = "drives:", .net = "network-interfaces:", .managed_disk = "managed-devices:",
	.managed_net = "managed-devices:", .managed_max = "machine-config: managed_max",
};

int config_validate(const struct vm_config *cfg, struct err *e)
{
	if (!cfg->kernel_path)
		return err_set(e, "no kernel given (--kernel PATH)");
	return config_check(cfg, e);
}

int config_check(const struct vm_config *cfg, struct err *e)
{
	return config_check_as(cfg, &config_cli_names, e);
}

int config_check_as(const struct vm_config *cfg, const struct config_names *n, struct err *e)
{
	uint64_t host = host_memory();

	if (cfg->cpus < 1 || cfg->cpus > CONFIG_MAX_CPUS)
		return err_set(e, "%s %u is out of range (1-%d)", n->cpus, cfg->cpus,
			       CONFIG_MAX_CPUS);
	if (cfg->memory < GUEST_MIN_MEMORY)
		return err_set(e, "%s %" PRIu64 " MiB is too small (minimum %llu MiB)", n->memory,
			       cfg->memory >> 20, GUEST_MIN_MEMORY >> 20);
	if (cfg->memory % 4096)
		return err_set(e, "%s must be a multiple of 4 KiB", n->memory);
	if (host && cfg->memory > host)
		return err_set(e, "%s %" PRIu64 " MiB is more than this host has (%" PRIu64
			       " MiB)", n->memory, cfg->memory >> 20, host >> 20);
	if (cfg->serial == SERIAL_FILE && (!cfg->serial_path || !*cfg->serial_path))
		return err_set(e, "--serial file: needs a path (file:PATH)");
	if (check_queues(cfg, n->disk, cfg->disks, cfg->nr_disks, cfg->nets, cfg->nr_nets,
			 n->net, e) ||
	    check_queues(cfg, n->managed_disk, cfg->managed_disks, cfg->nr_managed_disks,
			 cfg->managed_nets, cfg->nr_managed_nets, n->managed_net, e))
		return -1;
	if (cfg->managed_max &&
	    cfg->managed_max < cfg->nr_managed_disks + cfg->nr_managed_nets && cfg->managed_precreate)
		return err_set(e, "%s %u is fewer than the %u managed backends to pre-create",
			       n->managed_max, cfg->managed_max,
			       cfg->nr_managed_disks + cfg->nr_managed_nets);
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

static int add_disk(const char *option, struct disk_config *disks, unsigned int *nr,
		    unsigned int max, const char *spec, struct err *e)
{
	struct disk_config *d;

	if (*nr == max)
		return err_set(e, "%s: at most %u disks", option, max);
	d = &disks[(*nr)++];
	memset(d, 0, sizeof(*d));
	if (parse_kv(option, spec, disk_keys, sizeof(disk_keys) / sizeof(disk_keys[0]), d, e))
		return -1;
	if (!d->path)
		return err_set(e, "%s: path=FILE is required", option);
	return 0;
}

int config_add_disk(struct vm_config *cfg, const char *spec, struct err *e)
{
	return add_disk("--disk", cfg->disks, &cfg->nr_disks, CONFIG_MAX_DISKS, spec, e);
}

int config_add_managed_disk(struct vm_config *cfg, const char *spec, struct err *e)
{
	return add_disk("--managed-disk", cfg->managed_disks, &cfg->nr_managed_disks,
			CONFIG_MAX_MANAGED_DISKS, spec, e);
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

static int add_net(const char *option, struct net_config *nets, unsigned int *nr,
		   unsigned int max, const char *spec, struct err *e)
{
	struct net_config *n;

	if (*nr == max)
		return err_set(e, "%s: at most %u network devices", option, max);
	n = &nets[(*nr)++];
	memset(n, 0, sizeof(*n));
	if (parse_kv(option, spec, net_keys, sizeof(net_keys) / sizeof(net_keys[0]), n, e))
		return -1;
	if (!n->tap)
		return err_set(e, "%s: tap=NAME is required", option);
	return 0;
}

int config_add_net(struct vm_config *cfg, const char *spec, struct err *e)
{
	return add_net("--net", cfg->nets, &cfg->nr_nets, CONFIG_MAX_NETS, spec, e);
}

int config_add_managed_net(struct vm_config *cfg, const char *spec, struct err *e)
{
	return add_net("--managed-net", cfg->managed_nets, &cfg->nr_managed_nets,
		       CONFIG_MAX_MANAGED_NETS, spec, e);
}
