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

/* --io-loops: which event loops serve the virtio devices' queues. */
enum io_loops {
	IO_LOOPS_SHARED = 0, /* every queue on the main thread's loop */
	IO_LOOPS_PER_QUEUE,  /* each virtqueue on a loop and thread of its own */
};

#define CONFIG_MAX_DISKS 16
#define CONFIG_MAX_NETS 8
#define CONFIG_MAX_MANAGED_DISKS 32 /* --managed-disk backends */
#define CONFIG_MAX_MANAGED_NETS 16  /* --managed-net backends */
#define CONFIG_MAX_MANAGED_SLOTS 1024 /* --managed-max (TVQ_MAX_MANAGED_LIMIT) */
#define CONFIG_MAX_QUEUES 64
#define CONFIG_ID_MAX 20 /* virtio-blk's serial is 20 bytes */

enum disk_cache { DISK_CACHE_WRITEBACK = 0, DISK_CACHE_NONE };

/* --disk path=FILE[,readonly][,cache=none|writeback][,queues=N][,id=NAME] */
struct disk_config {
	char *path;
	bool readonly;
	enum disk_cache cache;
	unsigned int queues; /* 0 = one per vCPU */
	char *id;
	bool root;           /* API is_root_device: first disk, root=/dev/vda in the cmdline */
};

/* --net tap=NAME[,mac=MAC][,queues=N][,id=NAME] */
struct net_config {
	char *tap;
	uint8_t mac[6];
	bool has_mac;        /* else derived from the TAP name */
	unsigned int queues; /* queue pairs; 0 = 1 */
	char *id;
};

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
	enum io_loops io_loops;
	struct disk_config disks[CONFIG_MAX_DISKS];
	unsigned int nr_disks;
	struct net_config nets[CONFIG_MAX_NETS];
	unsigned int nr_nets;
	/* The management device's backend pool (--managed-disk, --managed-net). */
	struct disk_config managed_disks[CONFIG_MAX_MANAGED_DISKS];
	unsigned int nr_managed_disks;
	struct net_config managed_nets[CONFIG_MAX_MANAGED_NETS];
	unsigned int nr_managed_nets;
	unsigned int managed_max;  /* slots; 0 = the default */
	bool managed_precreate;    /* default true */
	/* The control plane (--api-sock, --config-file, PUT /logger, PUT /metrics). */
	char *api_sock;            /* NULL = no API server */
	char *log_path;            /* NULL = stderr */
	char *metrics_path;        /* NULL = no metrics */
	unsigned int metrics_interval_s; /* periodic metrics lines; 0 = every 60 s */
};

/* Whether the VM gets a management device: any backend, or --managed-max given. */
bool config_has_mgmt(const struct vm_config *cfg);

void config_init(struct vm_config *cfg);
void config_free(struct vm_config *cfg);
/* Deep copy into an uninitialised dst; -1 when out of memory (dst then freed). */
int config_copy(struct vm_config *dst, const struct vm_config *src);
/* Checks that need no KVM: required fields, ranges, host memory. */
int config_validate(const struct vm_config *cfg, struct err *e);
/* The same without requiring a kernel: a configuration still being built (API). */
int config_check(const struct vm_config *cfg, struct err *e);
/* How config_check names what it complains about: options, or the API's fields. */
struct config_names {
	const char *cpus, *memory, *disk, *net, *managed_disk, *managed_net, *managed_max;
};
extern const struct config_names config_cli_names, config_api_names;
int config_check_as(const struct vm_config *cfg, const struct config_names *n,
		    struct err *e);

/* Parse one --disk / --net / --managed-disk / --managed-net value and append it to cfg. */
int config_add_disk(struct vm_config *cfg, const char *spec, struct err *e);
int config_add_net(struct vm_config *cfg, const char *spec, struct err *e);
int config_add_managed_disk(struct vm_config *cfg, const char *spec, struct err *e);
int config_add_managed_net(struct vm_config *cfg, const char *spec, struct err *e);
/* The index of the device with this id, or nr. */
unsigned int config_find_disk(const struct disk_config *disks, unsigned int nr, const char *id);
unsigned int config_find_net(const struct net_config *nets, unsigned int nr, const char *id);
/* Drop the managed backend (disk or net) with this id; -1 if there is none. */
int config_remove_managed(struct vm_config *cfg, const char *id);
/* "52:54:00:12:34:56" -> 6 bytes; rejects multicast and all-zero addresses. */
int parse_mac(const char *s, uint8_t mac[6], struct err *e);

/* "512M", "2G", "131072K", "1073741824B"; a bare number is MiB. */
int parse_size(const char *s, uint64_t *out, struct err *e);
/* Decimal unsigned in [min, max]. */
int parse_uint(const char *s, unsigned long long min, unsigned long long max,
	       unsigned long long *out);

#endif
