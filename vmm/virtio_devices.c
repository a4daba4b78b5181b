// SPDX-License-Identifier: Apache-2.0
#include "vmm/virtio_devices.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/pci.h"
#include "vmm/vm.h"

/* Ring entries of a queue's own loop: as many as the shared loop has for everything. */
#define IO_LOOP_ENTRIES 256

/*
 * "io-" + device + "-q" + queue, in the 15 bytes a thread name has: the device name is
 * what gets cut, so the queue number always shows.
 */
static void io_loop_name(char name[16], const char *dev, unsigned int q)
{
	char suffix[16];
	size_t len = (size_t)snprintf(suffix, sizeof(suffix), "-q%u", q); /* at most 12 */
	size_t n = strnlen(dev, 15 - 3 - len);

	memcpy(name, "io-", 3);
	memcpy(name + 3, dev, n);
	memcpy(name + 3 + n, suffix, len + 1);
}

/*
 * --io-loops per-queue: a loop for each of the device's queues, made before the
 * transport, which arms each queue's kick watch on it. Threads start in
 * vm_start_io_loops, once the signal mask they inherit is set.
 */
static int create_io_loops(struct vm *vm, struct vm_virtio_dev *slot, struct err *e)
{
	unsigned int n = slot->dev->nr_queues;

	slot->io = calloc(n, sizeof(*slot->io));
	slot->queue_loops = calloc(n, sizeof(*slot->queue_loops));
	if (!slot->io || !slot->queue_loops)
		return err_set(e, "%s: out of memory", slot->name);
	slot->nr_io = n;
	for (unsigned int q = 0; q < n; q++) {
		struct vm_io_loop *l = &slot->io[q];
		int ret = evloop_init(&l->loop, IO_LOOP_ENTRIES);

		if (ret)
			return err_set(e, "%s: queue %u: cannot set up its io_uring: %s", slot->name,
				       q, strerror(-ret));
		l->ready = true;
		l->vm = vm;
		io_loop_name(l->name, slot->name, q);
		slot->queue_loops[q] = &l->loop;
	}
	slot->dev->queue_loops = slot->queue_loops;
	return 0;
}

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
	if (vm->cfg->io_loops == IO_LOOPS_PER_QUEUE && create_io_loops(vm, slot, e))
		return -1;
	if (virtio_pci_create(&slot->pci, dev, &vm->pci, &hv, e))
		return err_prefix(e, "%s", slot->name);
	log_info("%s: virtio-pci at 00:%02x.0", slot->name, virtio_pci_devfn(slot->pci) >> 3);
	return 0;
}

int vm_open_disk(struct vm *vm, const struct disk_config *d, struct virtio_device **dev,
		 struct err *e)
{
	struct blk_config bc = {
		.path = d->path,
		.readonly = d->readonly,
		.cache = d->cache == DISK_CACHE_NONE ? BLK_CACHE_NONE : BLK_CACHE_WRITEBACK,
		.queues = d->queues ? d->queues : vm->cfg->cpus,
		.id = d->id,
	};

	/* blk's messages name the file already. */
	return blk_create(dev, &bc, &vm->mem, &vm->loop, e);
}

int vm_open_net(struct vm *vm, const struct net_config *n, struct virtio_device **dev,
		struct err *e)
{
	struct net_dev_config nc = {
		.tap = n->tap,
		.queues = n->queues ? n->queues : 1,
		.id = n->id,
	};

	/* An all-zero MAC asks net_create to derive one from the TAP name. */
	if (n->has_mac)
		memcpy(nc.mac, n->mac, sizeof(nc.mac));
	/* net's messages name the TAP already. */
	return net_create(dev, &nc, &vm->mem, &vm->loop, e);
}

static int create_disk(struct vm *vm, unsigned int i, struct err *e)
{
	struct virtio_device *dev;

	if (vm_open_disk(vm, &vm->cfg->disks[i], &dev, e))
		return -1;
	return attach(vm, dev, "blk", i, vm->cfg->disks[i].id, e);
}

static int create_net(struct vm *vm, unsigned int i, struct err *e)
{
	struct virtio_device *dev;

	if (vm_open_net(vm, &vm->cfg->nets[i], &dev, e))
		return -1;
	return attach(vm, dev, "net", i, vm->cfg->nets[i].id, e);
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

static void *io_loop_thread(void *arg)
{
	struct vm_io_loop *l = arg;
	int ret;

	pthread_setname_np(pthread_self(), l->name);
	ret = evloop_run(&l->loop);
	if (ret < 0)
		vm_request_stop(l->vm, VM_END_ERROR, "%s: event loop failed: %s", l->name,
				strerror(-ret));
	return NULL;
}

int vm_start_io_loops(struct vm *vm, struct err *e)
{
	unsigned int started = 0;

	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		struct vm_virtio_dev *slot = &vm->virtio[i];

		for (unsigned int q = 0; q < slot->nr_io; q++) {
			struct vm_io_loop *l = &slot->io[q];
			int ret = pthread_create(&l->thread, NULL, io_loop_thread, l);

			if (ret)
				return err_set(e, "cannot start I/O thread %s: %s", l->name,
					       strerror(ret));
			l->started = true;
			started++;
		}
	}
	if (started)
		log_info("%u I/O threads, one per virtqueue", started);
	return 0;
}

/* Stop them all first, then join: they wind down in parallel. */
void vm_stop_io_loops(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_virtio; i++)
		for (unsigned int q = 0; q < vm->virtio[i].nr_io; q++)
			if (vm->virtio[i].io[q].started)
				evloop_stop(&vm->virtio[i].io[q].loop);
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		for (unsigned int q = 0; q < vm->virtio[i].nr_io; q++) {
			struct vm_io_loop *l = &vm->virtio[i].io[q];

			if (l->started)
				pthread_join(l->thread, NULL);
			l->started = false;
		}
	}
}

/*
 * The transport and the device go first (a reset with a queue's loop stopped abandons
 * what is in flight there rather than wait), the queues' loops after them.
 */
void vm_destroy_virtio_devices(struct vm *vm)
{
	for (unsigned int i = vm->nr_virtio; i-- > 0;) {
		struct vm_virtio_dev *slot = &vm->virtio[i];

		if (slot->pci)
			virtio_pci_destroy(slot->pci);
		if (slot->dev && slot->dev->ops->destroy)
			slot->dev->ops->destroy(slot->dev);
		for (unsigned int q = 0; q < slot->nr_io; q++)
			if (slot->io[q].ready)
				evloop_destroy(&slot->io[q].loop);
		free(slot->io);
		free(slot->queue_loops);
		memset(slot, 0, sizeof(*slot));
	}
	vm->nr_virtio = 0;
}

void vm_log_virtio_state(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		struct vm_virtio_dev *d = &vm->virtio[i];

		if (d->pci)
			virtio_pci_log_state(d->pci);
		if (d->dev && d->dev->ops->log_state)
			d->dev->ops->log_state(d->dev);
	}
}
