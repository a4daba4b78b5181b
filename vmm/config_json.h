/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON <-> struct vm_config, in Firecracker's shapes and field names (docs/api.md):
 * the API's request bodies and --config-file use the same objects. Each function parses
 * one object into cfg, checking types, ranges and unknown or missing fields, and names
 * the object and the field in its error; the caller applies it to a copy of the
 * configuration and runs config_validate before keeping it (nothing here checks
 * relations between objects beyond ids and the root device).
 */
#ifndef VQVM_VMM_CONFIG_JSON_H
#define VQVM_VMM_CONFIG_JSON_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/err.h"
#include "vmm/config.h"

/* PUT /machine-config (partial false: vcpu_count and mem_size_mib required, the rest
 * back to defaults) and PATCH /machine-config (partial: only what is given). */
int config_json_machine(struct vm_config *cfg, json_t *obj, bool partial, struct err *e);
/* PUT /boot-source: kernel_image_path, initrd_path, boot_args. */
int config_json_boot_source(struct vm_config *cfg, json_t *obj, struct err *e);
/*
 * PUT /drives/{id}, PUT /network-interfaces/{id}, PUT /managed-devices/{name}: add or
 * replace the device with that id. path_id is the id in the URL (the body's id must
 * match it), or NULL for a config file entry.
 */
int config_json_drive(struct vm_config *cfg, const char *path_id, json_t *obj, struct err *e);
int config_json_net(struct vm_config *cfg, const char *path_id, json_t *obj, struct err *e);
int config_json_managed(struct vm_config *cfg, const char *path_id, json_t *obj,
			struct err *e);
/* PUT /logger (log_path, level) and PUT /metrics (metrics_path, flush_interval_s). */
int config_json_logger(struct vm_config *cfg, json_t *obj, struct err *e);
int config_json_metrics(struct vm_config *cfg, json_t *obj, struct err *e);

/*
 * A body that is exactly {"FIELD": "ONE OF NAMES"} (PUT /actions, PATCH /vm): *out gets
 * the index of the name. Errors name what and the field.
 */
int config_json_enum(const char *what, json_t *obj, const char *field,
		     const char *const *names, unsigned int nr, int *out, struct err *e);

/* A whole configuration: the object GET /vm/config returns and --config-file holds. */
int config_json_apply(struct vm_config *cfg, json_t *obj, struct err *e);
/* Read FILE and config_json_apply it; errors name the file (and line for bad JSON). */
int config_json_load(struct vm_config *cfg, const char *path, struct err *e);
/* The configuration as config_json_apply reads it; NULL when out of memory. */
json_t *config_json_dump(const struct vm_config *cfg);
/* One managed backend as GET /managed-devices shows its configuration. */
json_t *config_json_dump_managed(const struct vm_config *cfg, unsigned int index, bool net);

#endif
