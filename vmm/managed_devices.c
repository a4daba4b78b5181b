// SPDX-License-Identifier: Apache-2.0
#include "vmm/managed_devices.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "virtio/mgmt.h"
#include "virtio/tvq_proto.h"
#include "vmm/virtio_devices.h"
#include "vmm/vm.h"

/*
 * MSI-X pool entries beyond what the provisioned backends need by default: room for
 * budgets raised with DEVICE_MGMT and for backends hot-added later.
 */
#define MGMT_POOL_HEADROOM 64

/* A backend's default budget (transport-vq.md 7.3): its queues + 1 for config. */
static unsigned int disk_vectors(const struct vm *vm, const struct disk_config *d)
{
	return (d->queues ? d->queues : vm->cfg->cpus) + 1;
}

static unsigned int net_vectors(const struct net_config *n)
{
	return 2 * (n->queues ? n->queues : 1) + 1 + 1;
}

static void mgmt_params_of(const struct vm *vm, struct mgmt_params *p)
{
	const struct vm_config *cfg = vm->cfg;
	unsigned int backends = cfg->nr_managed_disks + cfg->nr_managed_nets;
	unsigned int vectors = MGMT_POOL_HEADROOM;

	for (unsigned int i = 0; i < cfg->nr_managed_disks; i++)
		vectors += disk_vectors(vm, &cfg->managed_disks[i]);
	for (unsigned int i = 0; i < cfg->nr_managed_nets; i++)
		vectors += net_vectors(&cfg->managed_nets[i]);
	if (vectors > TVQ_MSIX_MAX_ENTRIES - TVQ_MSIX_POOL_FIRST)
		vectors = TVQ_MSIX_MAX_ENTRIES - TVQ_MSIX_POOL_FIRST;
	memset(p, 0, sizeof(*p));
	p->max_managed = cfg->managed_max ? cfg->managed_max : MGMT_DEFAULT_MAX_MANAGED;
	if (!cfg->managed_max && backends > p->max_managed)
		p->max_managed = backends;
	p->msix_pool_size = vectors;
	p->precreate = cfg->managed_precreate;
	p->removal_timeout_ms = MGMT_DEFAULT_REMOVAL_TIMEOUT_MS;
}

static int add_backend(struct vm *vm, struct virtio_device *dev, const char *name,
		       uint64_t *id, struct err *e)
{
	if (mgmt_add_backend(vm->mgmt, dev, name, id, e)) {
		dev->ops->destroy(dev); /* not taken: still ours */
		return err_prefix(e, "%s", name);
	}
	if (*id)
		log_info("%s: managed device %llu", name, (unsigned long long)*id);
	else
		log_info("%s: in the backend pool, waiting for the guest's CREATE", name);
	return 0;
}

/* name: the backend's, its id or else "<kind><i>". */
static const char *backend_name(char name[32], const char *id, const char *kind, unsigned int i)
{
	snprintf(name, 32, "%s", id ? id : "");
	if (!id)
		snprintf(name, 32, "%s%u", kind, i);
	return name;
}

static int add_disk(struct vm *vm, const struct disk_config *d, unsigned int i, uint64_t *id,
		    struct err *e)
{
	struct virtio_device *dev;
	char name[32];

	if (vm_open_disk(vm, d, &dev, e))
		return -1;
	return add_backend(vm, dev, backend_name(name, d->id, "mblk", i), id, e);
}

static int add_net(struct vm *vm, const struct net_config *n, unsigned int i, uint64_t *id,
		   struct err *e)
{
	struct virtio_device *dev;
	char name[32];

	if (vm_open_net(vm, n, &dev, e))
		return -1;
	return add_backend(vm, dev, backend_name(name, n->id, "mnet", i), id, e);
}

int vm_add_managed_disk(struct vm *vm, const struct disk_config *d, uint64_t *id,
			struct err *e)
{
	return add_disk(vm, d, 0, id, e);
}

int vm_add_managed_net(struct vm *vm, const struct net_config *n, uint64_t *id, struct err *e)
{
	return add_net(vm, n, 0, id, e);
}

int vm_create_mgmt(struct vm *vm, struct err *e)
{
	struct hv hv = hv_kvm_hv(&vm->hv);
	struct mgmt_params p;
	uint64_t id;

	if (!config_has_mgmt(vm->cfg))
		return 0;
	mgmt_params_of(vm, &p);
	if (mgmt_create(&vm->mgmt, &p, &vm->pci, &hv, &vm->mem, e))
		return err_prefix(e, "management device");
	log_info("management device at 00:%02x.0: %u slots, %u MSI-X pool vectors",
		 mgmt_devfn(vm->mgmt) >> 3, p.max_managed, p.msix_pool_size);
	for (unsigned int i = 0; i < vm->cfg->nr_managed_disks; i++)
		if (add_disk(vm, &vm->cfg->managed_disks[i], i, &id, e))
			return -1;
	for (unsigned int i = 0; i < vm->cfg->nr_managed_nets; i++)
		if (add_net(vm, &vm->cfg->managed_nets[i], i, &id, e))
			return -1;
	return 0;
}

void vm_destroy_mgmt(struct vm *vm)
{
	if (vm->mgmt)
		mgmt_destroy(vm->mgmt);
	vm->mgmt = NULL;
}

static void log_device_state(void *arg, const struct mgmt_dev_info *info,
			     struct virtio_device *dev)
{
	log_info("managed device %" PRIu64 " ('%s'):", info->id, info->backend);
	if (dev->ops->log_state)
		dev->ops->log_state(dev);
}

void vm_log_managed_state(struct vm *vm)
{
	if (vm->mgmt)
		mgmt_for_each_device(vm->mgmt, log_device_state, NULL);
}
