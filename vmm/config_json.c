// SPDX-License-Identifier: Apache-2.0
#include "vmm/config_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arch/x86/layout.h"
#include "lib/log.h"
#include "vmm/metrics.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_MEMORY_MIB (1ULL << 24) /* 16 TiB: beyond any host, well inside uint64 bytes */
#define IFNAMSIZ_MAX 15

/*
 * One field of an object: its JSON type and a setter. Which objects accept it and which
 * require it are bit masks of enum obj_kind, so drives and managed block backends (and
 * network interfaces and managed net backends) share one table. JSON null is accepted
 * for every optional field and means "not set"; type JSON_NULL marks a Firecracker field
 * vqvm does not support, accepted only as null.
 */
enum obj_kind { OBJ_PLAIN = 1, OBJ_MANAGED = 2 };

struct jfield {
	const char *name;
	json_type type; /* JSON_TRUE stands for either boolean */
	unsigned int in, required;
	int (*set)(void *target, json_t *v, struct err *e);
};

static const char *type_name(json_type t)
{
	static const char *const names[] = {
		[JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
		[JSON_STRING] = "a string",  [JSON_INTEGER] = "an integer",
		[JSON_REAL] = "a number",    [JSON_TRUE] = "true or false",
		[JSON_FALSE] = "true or false", [JSON_NULL] = "null (vqvm does not support it)",
	};

	return names[t];
}

static bool type_ok(json_type want, json_t *v)
{
	return want == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == want;
}

static int parse_fields(const char *what, json_t *obj, const struct jfield *fields,
			unsigned int nr, unsigned int kind, bool partial, void *target,
			struct err *e)
{
	uint64_t seen = 0;
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return err_set(e, "%s: the body must be a JSON object", what);
	json_object_foreach(obj, key, v) {
		unsigned int i;

		for (i = 0; i < nr && (!(fields[i].in & kind) || strcmp(fields[i].name, key)); i++)
			;
		if (i == nr)
			return err_set(e, "%s: unknown field '%s'", what, key);
		seen |= 1ULL << i;
		if (json_is_null(v) && !(fields[i].required & kind))
			continue;
		if (!type_ok(fields[i].type, v))
			return err_set(e, "%s: %s must be %s", what, key, type_name(fields[i].type));
		if (fields[i].set(target, v, e))
			return err_prefix(e, "%s: %s", what, key);
	}
	for (unsigned int i = 0; i < nr && !partial; i++)
		if ((fields[i].required & kind) && !(seen & (1ULL << i)))
			return err_set(e, "%s: %s is required", what, fields[i].name);
	return 0;
}

/* --- value helpers ------------------------------------------------------------- */

static int get_uint(json_t *v, unsigned long long min, unsigned long long max,
		    unsigned long long *out, struct err *e)
{
	json_int_t n = json_integer_value(v);

	*out = 0;
	if (n < 0 || (unsigned long long)n < min || (unsigned long long)n > max)
		return err_set(e, "%lld is out of range (%llu-%llu)", (long long)n, min, max);
	*out = (unsigned long long)n;
	return 0;
}

static int set_uint(unsigned int *field, json_t *v, unsigned long long min,
		    unsigned long long max, struct err *e)
{
	unsigned long long n;

	if (get_uint(v, min, max, &n, e))
		return -1;
	*field = (unsigned int)n;
	return 0;
}

static int set_string(char **field, json_t *v, size_t max, struct err *e)
{
	const char *s = json_string_value(v);

	if (!*s)
		return err_set(e, "must not be empty");
	if (max && strlen(s) > max)
		return err_set(e, "'%s' is longer than %zu characters", s, max);
	free(*field);
	*field = strdup(s);
	return *field ? 0 : err_set(e, "out of memory");
}

/* A string that must be one of names[]: returns its index. */
static int get_choice(json_t *v, const char *const *names, unsigned int nr, int *out,
		      struct err *e)
{
	const char *s = json_string_value(v);
	char list[128] = "";

	for (unsigned int i = 0; i < nr; i++) {
		if (!strcmp(s, names[i])) {
			*out = (int)i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
			 names[i]);
	}
	return err_set(e, "'%s' is not one of %s", s, list);
}

static int must_be_false(json_t *v, const char *why, struct err *e)
{
	return json_is_true(v) ? err_set(e, "true is not supported: %s", why) : 0;
}

int config_json_enum(const char *what, json_t *obj, const char *field,
		     const char *const *names, unsigned int nr, int *out, struct err *e)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return err_set(e, "%s: the body must be a JSON object", what);
	json_object_foreach(obj, key, v)
		if (strcmp(key, field))
			return err_set(e, "%s: unknown field '%s'", what, key);
	v = json_object_get(obj, field);
	if (!v)
		return err_set(e, "%s: %s is required", what, field);
	if (!json_is_string(v))
		return err_set(e, "%s: %s must be a string", what, field);
	if (get_choice(v, names, nr, out, e))
		return err_prefix(e, "%s: %s", what, field);
	return 0;
}

/* --- machine-config ------------------------------------------------------------ */

static int m_vcpus(void *t, json_t *v, struct err *e)
{
	return set_uint(&((struct vm_config *)t)->cpus, v, 1, CONFIG_MAX_CPUS, e);
}

static int m_memory(void *t, json_t *v, struct err *e)
{
	unsigned long long n;

	if (get_uint(v, GUEST_MIN_MEMORY >> 20, MAX_MEMORY_MIB, &n, e))
		return -1;
	((struct vm_config *)t)->memory = n << 20;
	return 0;
}

static int m_smt(void *t, json_t *v, struct err *e)
{
	return must_be_false(v, "vqvm gives every vCPU a core of its own", e);
}

static int m_dirty(void *t, json_t *v, struct err *e)
{
	return must_be_false(v, "vqvm does not track dirty pages", e);
}

static int m_none_only(void *t, json_t *v, struct err *e)
{
	static const char *const none[] = { "None" };
	int i;

	return get_choice(v, none, 1, &i, e);
}

static const char *const io_loops_names[] = { [IO_LOOPS_SHARED] = "shared",
					      [IO_LOOPS_PER_QUEUE] = "per-queue" };

static int m_io_loops(void *t, json_t *v, struct err *e)
{
	int i;

	if (get_choice(v, io_loops_names, ARRAY_SIZE(io_loops_names), &i, e))
		return -1;
	((struct vm_config *)t)->io_loops = (enum io_loops)i;
	return 0;
}

static int m_managed_max(void *t, json_t *v, struct err *e)
{
	return set_uint(&((struct vm_config *)t)->managed_max, v, 1, CONFIG_MAX_MANAGED_SLOTS, e);
}

static int m_precreate(void *t, json_t *v, struct err *e)
{
	((struct vm_config *)t)->managed_precreate = json_is_true(v);
	return 0;
}

static const struct jfield machine_fields[] = {
	{ "vcpu_count", JSON_INTEGER, OBJ_PLAIN, OBJ_PLAIN, m_vcpus },
	{ "mem_size_mib", JSON_INTEGER, OBJ_PLAIN, OBJ_PLAIN, m_memory },
	{ "smt", JSON_TRUE, OBJ_PLAIN, 0, m_smt },
	{ "track_dirty_pages", JSON_TRUE, OBJ_PLAIN, 0, m_dirty },
	{ "cpu_template", JSON_STRING, OBJ_PLAIN, 0, m_none_only },
	{ "huge_pages", JSON_STRING, OBJ_PLAIN, 0, m_none_only },
	{ "io_loops", JSON_STRING, OBJ_PLAIN, 0, m_io_loops },
	{ "managed_max", JSON_INTEGER, OBJ_PLAIN, 0, m_managed_max },
	{ "managed_precreate", JSON_TRUE, OBJ_PLAIN, 0, m_precreate },
};

int config_json_machine(struct vm_config *cfg, json_t *obj, bool partial, struct err *e)
{
	if (!partial) {
		/* PUT replaces the whole object: what is not given is the default. */
		cfg->io_loops = IO_LOOPS_SHARED;
		cfg->managed_max = 0;
		cfg->managed_precreate = true;
	}
	return parse_fields("machine-config", obj, machine_fields, ARRAY_SIZE(machine_fields),
			    OBJ_PLAIN, partial, cfg, e);
}

/* --- boot-source ------------------------------------------------------------------ */

static int b_kernel(void *t, json_t *v, struct err *e)
{
	return set_string(&((struct vm_config *)t)->kernel_path, v, 0, e);
}

static int b_initrd(void *t, json_t *v, struct err *e)
{
	return set_string(&((struct vm_config *)t)->initrd_path, v, 0, e);
}

static int b_args(void *t, json_t *v, struct err *e)
{
	return set_string(&((struct vm_config *)t)->cmdline, v, 0, e);
}

static const struct jfield boot_fields[] = {
	{ "kernel_image_path", JSON_STRING, OBJ_PLAIN, OBJ_PLAIN, b_kernel },
	{ "initrd_path", JSON_STRING, OBJ_PLAIN, 0, b_initrd },
	{ "boot_args", JSON_STRING, OBJ_PLAIN, 0, b_args },
};

int config_json_boot_source(struct vm_config *cfg, json_t *obj, struct err *e)
{
	free(cfg->initrd_path);
	free(cfg->cmdline);
	cfg->initrd_path = cfg->cmdline = NULL;
	return parse_fields("boot-source", obj, boot_fields, ARRAY_SIZE(boot_fields), OBJ_PLAIN,
			    false, cfg, e);
}

/* --- drives and managed block backends ------------------------------------------ */

/* "type" of a managed backend: checked by config_json_managed before the table runs. */
static int any_type(void *t, json_t *v, struct err *e)
{
	return 0;
}

static int d_id(void *t, json_t *v, struct err *e)
{
	return set_string(&((struct disk_config *)t)->id, v, CONFIG_ID_MAX, e);
}

static int d_path(void *t, json_t *v, struct err *e)
{
	return set_string(&((struct disk_config *)t)->path, v, 0, e);
}

static int d_root(void *t, json_t *v, struct err *e)
{
	((struct disk_config *)t)->root = json_is_true(v);
	return 0;
}

static int d_ro(void *t, json_t *v, struct err *e)
{
	((struct disk_config *)t)->readonly = json_is_true(v);
	return 0;
}

/* Firecracker's Writeback flushes on a guest flush, as vqvm's default does; Direct is
 * vqvm's O_DIRECT (--disk cache=none). Unsafe (flushes ignored) is not offered. */
static const char *const cache_names[] = { [DISK_CACHE_WRITEBACK] = "Writeback",
					   [DISK_CACHE_NONE] = "Direct" };

static int d_cache(void *t, json_t *v, struct err *e)
{
	int i;

	if (get_choice(v, cache_names, ARRAY_SIZE(cache_names), &i, e))
		return -1;
	((struct disk_config *)t)->cache = (enum disk_cache)i;
	return 0;
}

/* vqvm always uses io_uring; both of Firecracker's names are accepted. */
static int d_engine(void *t, json_t *v, struct err *e)
{
	static const char *const engines[] = { "Sync", "Async" };
	int i;

	return get_choice(v, engines, ARRAY_SIZE(engines), &i, e);
}

static int d_queues(void *t, json_t *v, struct err *e)
{
	return set_uint(&((struct disk_config *)t)->queues, v, 1, CONFIG_MAX_QUEUES, e);
}

static const struct jfield disk_fields[] = {
	{ "drive_id", JSON_STRING, OBJ_PLAIN, OBJ_PLAIN, d_id },
	{ "backend", JSON_STRING, OBJ_MANAGED, OBJ_MANAGED, d_id },
	{ "type", JSON_STRING, OBJ_MANAGED, OBJ_MANAGED, any_type },
	{ "path_on_host", JSON_STRING, OBJ_PLAIN | OBJ_MANAGED, OBJ_PLAIN | OBJ_MANAGED, d_path },
	{ "is_root_device", JSON_TRUE, OBJ_PLAIN, OBJ_PLAIN, d_root },
	{ "is_read_only", JSON_TRUE, OBJ_PLAIN | OBJ_MANAGED, 0, d_ro },
	{ "cache_type", JSON_STRING, OBJ_PLAIN | OBJ_MANAGED, 0, d_cache },
	{ "io_engine", JSON_STRING, OBJ_PLAIN | OBJ_MANAGED, 0, d_engine },
	{ "queues", JSON_INTEGER, OBJ_PLAIN | OBJ_MANAGED, 0, d_queues },
	{ "partuuid", JSON_NULL, OBJ_PLAIN, 0, any_type },
	{ "rate_limiter", JSON_NULL, OBJ_PLAIN | OBJ_MANAGED, 0, any_type },
};

static void free_disk(struct disk_config *d)
{
	free(d->path);
	free(d->id);
	memset(d, 0, sizeof(*d));
}

static void free_net(struct net_config *n)
{
	free(n->tap);
	free(n->id);
	memset(n, 0, sizeof(*n));
}

/* The body's id must be the URL's (when there is one). */
static int check_path_id(const char *what, const char *field, const char *body_id,
			 const char *path_id, struct err *e)
{
	if (path_id && strcmp(body_id, path_id))
		return err_set(e, "%s: %s '%s' does not match the path's '%s'", what, field,
			       body_id, path_id);
	return 0;
}

/*
 * Put d (owned: moved in, or freed on error) in disks[] in place of the entry with its
 * id, else at the end; the root device goes first, so it is /dev/vda.
 */
static int store_disk(const char *what, struct disk_config *disks, unsigned int *nr,
		      unsigned int max, struct disk_config *d, struct err *e)
{
	unsigned int i = config_find_disk(disks, *nr, d->id);

	if (i == *nr && *nr == max) {
		free_disk(d);
		return err_set(e, "%s: at most %u", what, max);
	}
	for (unsigned int j = 0; d->root && j < *nr; j++) {
		if (j != i && disks[j].root) {
			err_set(e, "%s: drive '%s' is the root device already", what, disks[j].id);
			free_disk(d);
			return -1;
		}
	}
	if (i < *nr)
		free_disk(&disks[i]);
	else
		(*nr)++;
	disks[i] = *d;
	if (d->root && i) {
		memmove(&disks[1], &disks[0], i * sizeof(*disks));
		disks[0] = *d;
	}
	return 0;
}

int config_json_drive(struct vm_config *cfg, const char *path_id, json_t *obj, struct err *e)
{
	struct disk_config d = { 0 };

	if (parse_fields("drives", obj, disk_fields, ARRAY_SIZE(disk_fields), OBJ_PLAIN, false, &d,
			 e) ||
	    check_path_id("drives", "drive_id", d.id, path_id, e)) {
		free_disk(&d);
		return -1;
	}
	return store_disk("drives", cfg->disks, &cfg->nr_disks, CONFIG_MAX_DISKS, &d, e);
}

/* --- network interfaces and managed net backends -------------------------------- */

static int n_id(void *t, json_t *v, struct err *e)
{
	return set_string(&((struct net_config *)t)->id, v, CONFIG_ID_MAX, e);
}

static int n_tap(void *t, json_t *v, struct err *e)
{
	return set_string(&((struct net_config *)t)->tap, v, IFNAMSIZ_MAX, e);
}

static int n_mac(void *t, json_t *v, struct err *e)
{
	struct net_config *n = t;

	n->has_mac = true;
	return parse_mac(json_string_value(v), n->mac, e);
}

static int n_queues(void *t, json_t *v, struct err *e)
{
	return set_uint(&((struct net_config *)t)->queues, v, 1, CONFIG_MAX_QUEUES, e);
}

static const struct jfield net_fields[] = {
	{ "iface_id", JSON_STRING, OBJ_PLAIN, OBJ_PLAIN, n_id },
	{ "backend", JSON_STRING, OBJ_MANAGED, OBJ_MANAGED, n_id },
	{ "type", JSON_STRING, OBJ_MANAGED, OBJ_MANAGED, any_type },
	{ "host_dev_name", JSON_STRING, OBJ_PLAIN | OBJ_MANAGED, OBJ_PLAIN | OBJ_MANAGED, n_tap },
	{ "guest_mac", JSON_STRING, OBJ_PLAIN | OBJ_MANAGED, 0, n_mac },
	{ "queues", JSON_INTEGER, OBJ_PLAIN | OBJ_MANAGED, 0, n_queues },
	{ "rx_rate_limiter", JSON_NULL, OBJ_PLAIN | OBJ_MANAGED, 0, any_type },
	{ "tx_rate_limiter", JSON_NULL, OBJ_PLAIN | OBJ_MANAGED, 0, any_type },
};

static int store_net(const char *what, struct net_config *nets, unsigned int *nr,
		     unsigned int max, struct net_config *n, struct err *e)
{
	unsigned int i = config_find_net(nets, *nr, n->id);

	if (i == *nr && *nr == max) {
		free_net(n);
		return err_set(e, "%s: at most %u", what, max);
	}
	if (i < *nr)
		free_net(&nets[i]);
	else
		(*nr)++;
	nets[i] = *n;
	return 0;
}

int config_json_net(struct vm_config *cfg, const char *path_id, json_t *obj, struct err *e)
{
	struct net_config n = { 0 };

	if (parse_fields("network-interfaces", obj, net_fields, ARRAY_SIZE(net_fields), OBJ_PLAIN,
			 false, &n, e) ||
	    check_path_id("network-interfaces", "iface_id", n.id, path_id, e)) {
		free_net(&n);
		return -1;
	}
	return store_net("network-interfaces", cfg->nets, &cfg->nr_nets, CONFIG_MAX_NETS, &n, e);
}

/* --- managed backends ------------------------------------------------------------ */

static const char *const managed_types[] = { "block", "net" };

static bool id_taken(const struct vm_config *cfg, const char *id, bool net)
{
	/* A backend replaces only one of its own type: one namespace for both. */
	return net ? config_find_disk(cfg->managed_disks, cfg->nr_managed_disks, id) <
			     cfg->nr_managed_disks
		   : config_find_net(cfg->managed_nets, cfg->nr_managed_nets, id) < cfg->nr_managed_nets;
}

int config_json_managed(struct vm_config *cfg, const char *path_id, json_t *obj, struct err *e)
{
	static const char what[] = "managed-devices";
	json_t *type = json_is_object(obj) ? json_object_get(obj, "type") : NULL;
	struct disk_config d = { 0 };
	struct net_config n = { 0 };
	const char *id;
	int kind;

	if (!json_is_object(obj))
		return err_set(e, "%s: the body must be a JSON object", what);
	if (!type)
		return err_set(e, "%s: type is required", what);
	if (!json_is_string(type))
		return err_set(e, "%s: type must be a string", what);
	if (get_choice(type, managed_types, ARRAY_SIZE(managed_types), &kind, e))
		return err_prefix(e, "%s: type", what);
	if (kind == 0 ? parse_fields(what, obj, disk_fields, ARRAY_SIZE(disk_fields), OBJ_MANAGED,
				     false, &d, e)
		      : parse_fields(what, obj, net_fields, ARRAY_SIZE(net_fields), OBJ_MANAGED,
				     false, &n, e))
		goto fail;
	id = kind == 0 ? d.id : n.id;
	if (check_path_id(what, "backend", id, path_id, e))
		goto fail;
	if (id_taken(cfg, id, kind == 1)) {
		err_set(e, "%s: backend '%s' exists already with another type", what, id);
		goto fail;
	}
	if (kind == 0)
		return store_disk(what, cfg->managed_disks, &cfg->nr_managed_disks,
				  CONFIG_MAX_MANAGED_DISKS, &d, e);
	return store_net(what, cfg->managed_nets, &cfg->nr_managed_nets, CONFIG_MAX_MANAGED_NETS,
			 &n, e);
fail:
	free_disk(&d);
	free_net(&n);
	return -1;
}

/* --- logger and metrics ------------------------------------------------------------ */

static int l_path(void *t, json_t *v, struct err *e)
{
	return set_string(&((struct vm_config *)t)->log_path, v, 0, e);
}

static int l_level(void *t, json_t *v, struct err *e)
{
	const char *s = json_string_value(v);
	int level = strcasecmp(s, "trace") ? log_level_parse(s) : LOG_DEBUG;

	if (level < 0)
		return err_set(e, "'%s' is not one of Error, Warning, Info, Debug, Trace", s);
	((struct vm_config *)t)->log_level = level;
	return 0;
}

static int l_flag(void *t, json_t *v, struct err *e)
{
	return 0; /* show_level, show_log_origin: vqvm's lines always carry the level */
}

static const struct jfield logger_fields[] = {
	{ "log_path", JSON_STRING, OBJ_PLAIN, 0, l_path },
	{ "level", JSON_STRING, OBJ_PLAIN, 0, l_level },
	{ "show_level", JSON_TRUE, OBJ_PLAIN, 0, l_flag },
	{ "show_log_origin", JSON_TRUE, OBJ_PLAIN, 0, l_flag },
	{ "module", JSON_NULL, OBJ_PLAIN, 0, any_type },
};

int config_json_logger(struct vm_config *cfg, json_t *obj, struct err *e)
{
	return parse_fields("logger", obj, logger_fields, ARRAY_SIZE(logger_fields), OBJ_PLAIN,
			    false, cfg, e);
}

static int x_path(void *t, json_t *v, struct err *e)
{
	return set_string(&((struct vm_config *)t)->metrics_path, v, 0, e);
}

/* vqvm's: Firecracker's period (60 s) is the default. */
static int x_interval(void *t, json_t *v, struct err *e)
{
	return set_uint(&((struct vm_config *)t)->metrics_interval_s, v, 1,
			METRICS_MAX_INTERVAL_S, e);
}

static const struct jfield metrics_fields[] = {
	{ "metrics_path", JSON_STRING, OBJ_PLAIN, OBJ_PLAIN, x_path },
	{ "flush_interval_s", JSON_INTEGER, OBJ_PLAIN, 0, x_interval },
};

int config_json_metrics(struct vm_config *cfg, json_t *obj, struct err *e)
{
	cfg->metrics_interval_s = 0; /* PUT replaces the whole object */
	return parse_fields("metrics", obj, metrics_fields, ARRAY_SIZE(metrics_fields), OBJ_PLAIN,
			    false, cfg, e);
}

/* --- whole configuration ------------------------------------------------------------ */

static int apply_machine(struct vm_config *cfg, json_t *v, struct err *e)
{
	return config_json_machine(cfg, v, false, e);
}

static int apply_list(const char *what, struct vm_config *cfg, json_t *v,
		      int (*one)(struct vm_config *, const char *, json_t *, struct err *),
		      struct err *e)
{
	size_t i;
	json_t *item;

	if (!json_is_array(v))
		return err_set(e, "%s must be an array", what);
	json_array_foreach(v, i, item)
		if (one(cfg, NULL, item, e))
			return err_prefix(e, "%s[%zu]", what, i);
	return 0;
}

static int apply_drives(struct vm_config *cfg, json_t *v, struct err *e)
{
	return apply_list("drives", cfg, v, config_json_drive, e);
}

static int apply_nets(struct vm_config *cfg, json_t *v, struct err *e)
{
	return apply_list("network-interfaces", cfg, v, config_json_net, e);
}

static int apply_managed(struct vm_config *cfg, json_t *v, struct err *e)
{
	return apply_list("managed-devices", cfg, v, config_json_managed, e);
}

static const struct {
	const char *name;
	int (*apply)(struct vm_config *cfg, json_t *v, struct err *e);
} sections[] = {
	{ "machine-config", apply_machine },
	{ "boot-source", config_json_boot_source },
	{ "drives", apply_drives },
	{ "network-interfaces", apply_nets },
	{ "managed-devices", apply_managed },
	{ "logger", config_json_logger },
	{ "metrics", config_json_metrics },
};

int config_json_apply(struct vm_config *cfg, json_t *obj, struct err *e)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return err_set(e, "the configuration must be a JSON object");
	/* In table order, not the file's: machine-config first, as the API would have it. */
	for (unsigned int i = 0; i < ARRAY_SIZE(sections); i++) {
		v = json_object_get(obj, sections[i].name);
		if (v && !json_is_null(v) && sections[i].apply(cfg, v, e))
			return -1;
	}
	json_object_foreach(obj, key, v) {
		unsigned int i;

		for (i = 0; i < ARRAY_SIZE(sections) && strcmp(sections[i].name, key); i++)
			;
		if (i == ARRAY_SIZE(sections))
			return err_set(e, "unknown section '%s'", key);
	}
	return 0;
}

int config_json_load(struct vm_config *cfg, const char *path, struct err *e)
{
	json_error_t je;
	json_t *obj = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	int ret;

	if (!obj && je.line < 1) /* not read at all: the text says why */
		return err_set(e, "--config-file %s: %s", path, je.text);
	if (!obj)
		return err_set(e, "--config-file %s: line %d: %s", path, je.line, je.text);
	ret = config_json_apply(cfg, obj, e);
	json_decref(obj);
	return ret ? err_prefix(e, "--config-file %s", path) : 0;
}

/* --- dump ------------------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *disk_json(const struct disk_config *d, const char *id_field, const char *id)
{
	json_t *o = json_pack("{s:s, s:s, s:b, s:s, s:s}", id_field, id, "path_on_host", d->path,
			      "is_read_only", d->readonly, "cache_type", cache_names[d->cache],
			      "io_engine", "Async");

	if (o && d->queues)
		json_object_set_new(o, "queues", json_integer(d->queues));
	return o;
}

static json_t *net_json(const struct net_config *n, const char *id_field, const char *id)
{
	json_t *o = json_pack("{s:s, s:s}", id_field, id, "host_dev_name", n->tap);
	char mac[18];

	if (o && n->has_mac) {
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1],
			 n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
		json_object_set_new(o, "guest_mac", json_string(mac));
	}
	if (o && n->queues)
		json_object_set_new(o, "queues", json_integer(n->queues));
	return o;
}

/* Devices without an id get the name vqvm gives them (virtio_devices.c, mgmt). */
static const char *dev_name(char buf[32], const char *id, const char *kind, unsigned int i)
{
	if (id)
		return id;
	snprintf(buf, 32, "%s%u", kind, i);
	return buf;
}

json_t *config_json_dump_managed(const struct vm_config *cfg, unsigned int i, bool net)
{
	char buf[32];
	json_t *o;

	if (net)
		o = net_json(&cfg->managed_nets[i], "backend",
			     dev_name(buf, cfg->managed_nets[i].id, "mnet", i));
	else
		o = disk_json(&cfg->managed_disks[i], "backend",
			      dev_name(buf, cfg->managed_disks[i].id, "mblk", i));
	if (o)
		json_object_set_new(o, "type", json_string(managed_types[net]));
	return o;
}

static json_t *dump_devices(const struct vm_config *cfg, json_t *root)
{
	json_t *drives = json_array(), *nets = json_array(), *managed = json_array();
	char buf[32];

	json_object_set_new(root, "drives", drives);
	json_object_set_new(root, "network-interfaces", nets);
	json_object_set_new(root, "managed-devices", managed);
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		const struct disk_config *d = &cfg->disks[i];
		json_t *o = disk_json(d, "drive_id", dev_name(buf, d->id, "blk", i));

		json_object_set_new(o, "is_root_device", json_boolean(d->root));
		json_array_append_new(drives, o);
	}
	for (unsigned int i = 0; i < cfg->nr_nets; i++)
		json_array_append_new(nets, net_json(&cfg->nets[i], "iface_id",
						     dev_name(buf, cfg->nets[i].id, "net", i)));
	for (unsigned int i = 0; i < cfg->nr_managed_disks; i++)
		json_array_append_new(managed, config_json_dump_managed(cfg, i, false));
	for (unsigned int i = 0; i < cfg->nr_managed_nets; i++)
		json_array_append_new(managed, config_json_dump_managed(cfg, i, true));
	return root;
}

/* null without a metrics file (config_json_apply skips it); the interval in effect. */
static json_t *dump_metrics(const struct vm_config *cfg)
{
	unsigned int interval = cfg->metrics_interval_s;

	if (!cfg->metrics_path)
		return json_null();
	return json_pack("{s:s, s:i}", "metrics_path", cfg->metrics_path, "flush_interval_s",
			 (int)(interval ? interval : METRICS_DEFAULT_INTERVAL_MS / 1000));
}

json_t *config_json_dump(const struct vm_config *cfg)
{
	static const char *const levels[] = { "Error", "Warning", "Info", "Debug" };
	json_t *root = json_object();

	if (!root)
		return NULL;
	json_object_set_new(root, "machine-config",
			    json_pack("{s:i, s:I, s:b, s:b, s:s, s:o, s:b}", "vcpu_count",
				      (int)cfg->cpus, "mem_size_mib", (json_int_t)(cfg->memory >> 20),
				      "smt", 0, "track_dirty_pages", 0, "io_loops",
				      io_loops_names[cfg->io_loops], "managed_max",
				      cfg->managed_max ? json_integer(cfg->managed_max) : json_null(),
				      "managed_precreate", cfg->managed_precreate));
	/* No kernel yet: null, which config_json_apply skips. */
	json_object_set_new(root, "boot-source",
			    cfg->kernel_path ? json_pack("{s:s, s:o, s:o}", "kernel_image_path",
							 cfg->kernel_path, "initrd_path",
							 str_or_null(cfg->initrd_path),
							 "boot_args", str_or_null(cfg->cmdline))
					     : json_null());
	dump_devices(cfg, root);
	json_object_set_new(root, "logger",
			    json_pack("{s:o, s:s}", "log_path", str_or_null(cfg->log_path),
				      "level", levels[cfg->log_level]));
	json_object_set_new(root, "metrics", dump_metrics(cfg));
	return root;
}
