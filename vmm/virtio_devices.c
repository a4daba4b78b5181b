// SPDX-License-Identifier: Apache-2.0
#include "vmm/virtio_devices.h"

#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/pci.h"
#include "vmm/vm.h"

static int attach(struct vm *vm, struct virtio_device *dev, const char *kind, unsigned int index,
		  const char *id, struct err *e)
{
	struct vm_virtio_dev *slot = &vm->virtio[vm->nr_virtio];
	struct hv hv = hv_kvm_hv(&vm->hv);

	slot->dev = dev;
	vm->nr_virtio++;
	snprintf(slot->name, sizeof(slot->name), "%s", id ? id : "");
	if (!id)
		snprintf(slot->name, sizeof(slot->name), "%s%u", kind, index);
	dev->name = slot->name;
	if (virtio_pci_create(&slot->pci, dev, &vm->pci, &hv, e))
		return err_prefix(e, "%s", slot->name);
	log_info("%s: virtio-pci at 00:%02x.0", slot->name, virtio_pci_devfn(slot->pci) >> 3);
	return 0;
}

static int create_disk(struct vm *vm, unsigned int i, struct err *e)
{
	const struct disk_config *d = &vm->cfg->disks[i];
	struct blk_config bc = {
		.path = d->path,
		.readonly = d->readonly,
		.cache = d->cache == DISK_CACHE_NONE ? BLK_CACHE_NONE : BLK_CACHE_WRITEBACK,
		.queues = d->queues ? d->queues : vm->cfg->cpus,
		.id = d->id,
	};
	struct virtio_device *dev;

	/* blk's messages name the file already. */
	if (blk_create(&dev, &bc, &vm->mem, &vm->loop, e))
		return -1;
	return attach(vm, dev, "blk", i, d->id, e);
}

static int create_net(struct vm *vm, unsigned int i, struct err *e)
{
	const struct net_config *n = &vm->cfg->nets[i];
	struct net_dev_config nc = {
		.tap = n->tap,
		.queues = n->queues ? n->queues : 1,
		.id = n->id,
	};
	struct virtio_device *dev;

	/* An all-zero MAC asks net_create to derive one from the TAP name. */
	if (n->has_mac)
		memcpy(nc.mac, n->mac, sizeof(nc.mac));
	/* net's messages name the TAP already. */
	if (net_create(&dev, &nc, &vm->mem, &vm->loop, e))
		return -1;
	return attach(vm, dev, "net", i, n->id, e);
}

int vm_create_virtio_devices(struct vm *vm, struct err *e)
{
	for (unsigned int i = 0; i < vm->cfg->nr_disks; i++)
		if (create_disk(vm, i, e))
			return -1;
	for (unsigned int i = 0; i < vm->cfg->nr_nets; i++)
		if (create_net(vm, i, e))
			return -1;
	return 0;
}

void vm_destroy_virtio_devices(struct vm *vm)
{
	for (unsigned int i = vm->nr_virtio; i-- > 0;) {
		struct vm_virtio_dev *slot = &vm->virtio[i];

		if (slot->pci)
			virtio_pci_destroy(slot->pci);
		if (slot->dev && slot->dev->ops->destroy)
			slot->dev->ops->destroy(slot->dev);
		memset(slot, 0, sizeof(*slot));
	}
	vm->nr_virtio = 0;
}
