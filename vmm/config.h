/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM's configuration as plain data. The CLI (and later the API and the config
 * file) fill it in; config_validate checks it in one place before anything is built.
 */
#ifndef VQVM_VMM_CONFIG_H
#define VQVM_VMM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

#define CONFIG_DEFAULT_CPUS 1
#define CONFIG_DEFAULT_MEMORY (256ULL << 20)
#define CONFIG_MAX_CPUS 254 /* MP table APIC ids; KVM may allow fewer */
/* What every guest gets in front of the user's command line (design.md). */
#define VQVM_DEFAULT_CMDLINE                                                          \
	"reboot=k panic=1 pci=conf1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd " \
	"console=ttyS0"

enum serial_mode { SERIAL_STDIO = 0, SERIAL_FILE, SERIAL_NONE };

struct vm_config {
	char *kernel_path;
	char *initrd_path;   /* NULL = none */
	char *cmdline;       /* the user's part; NULL = none */
	unsigned int cpus;
	uint64_t memory;     /* bytes */
	enum serial_mode serial;
	char *serial_path;   /* SERIAL_FILE */
	char *dump_dtb_path; /* NULL = none */
	char *kvm_path;      /* /dev/kvm unless overridden (tests) */
	int log_level;
};

void config_init(struct vm_config *cfg);
void config_free(struct vm_config *cfg);
/* Checks that need no KVM: required fields, ranges, host memory. */
int config_validate(const struct vm_config *cfg, struct err *e);

/* "512M", "2G", "131072K", "1073741824B"; a bare number is MiB. */
int parse_size(const char *s, uint64_t *out, struct err *e);
/* Decimal unsigned in [min, max]. */
int parse_uint(const char *s, unsigned long long min, unsigned long long max,
	       unsigned long long *out);

#endif
