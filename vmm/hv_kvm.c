// SPDX-License-Identifier: Apache-2.0
#include "vmm/hv_kvm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "lib/log.h"

#define NR_IOAPIC_PINS 24
#define NR_PIC_PINS 16
#define NR_DEFAULT_ROUTES (NR_IOAPIC_PINS + NR_PIC_PINS)

static int hv_kvm_ioeventfd(void *ctx, int fd, uint64_t addr, uint32_t len, bool pio,
			    bool match, uint64_t datamatch, bool assign)
{
	struct hv_kvm *k = ctx;
	struct kvm_ioeventfd io = {
		.datamatch = match ? datamatch : 0,
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
			 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	return ioctl(k->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

static int hv_kvm_irqfd(void *ctx, int fd, int gsi, bool assign)
{
	struct hv_kvm *k = ctx;
	struct kvm_irqfd irqfd = {
		.fd = fd,
		.gsi = gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};

	if (gsi < 0)
		return -EINVAL;
	return ioctl(k->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

/* ---- GSI routing (k->lock held) ---- */

static void add_irqchip_route(struct kvm_irq_routing *t, uint32_t gsi, uint32_t chip,
			      uint32_t pin)
{
	t->entries[t->nr++] = (struct kvm_irq_routing_entry){
		.gsi = gsi,
		.type = KVM_IRQ_ROUTING_IRQCHIP,
		.u.irqchip = { .irqchip = chip, .pin = pin },
	};
}

/* What KVM_CREATE_IRQCHIP installs (kvm_setup_default_irq_routing), entry for entry. */
static void add_default_routes(struct kvm_irq_routing *t)
{
	for (uint32_t gsi = 0; gsi < NR_IOAPIC_PINS; gsi++) {
		add_irqchip_route(t, gsi, KVM_IRQCHIP_IOAPIC, gsi);
		if (gsi < NR_PIC_PINS)
			add_irqchip_route(t, gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER :
						   KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
	}
}

static int push_routes(struct hv_kvm *k)
{
	struct kvm_irq_routing *t = k->table;

	t->nr = 0;
	t->flags = 0;
	add_default_routes(t);
	for (unsigned int i = 0; i < k->nr_msi; i++) {
		const struct hv_kvm_msi *m = &k->msi[i];

		if (!m->used)
			continue;
		t->entries[t->nr++] = (struct kvm_irq_routing_entry){
			.gsi = HV_KVM_FIRST_MSI_GSI + i,
			.type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = m->addr, .address_hi = m->addr >> 32,
				   .data = m->data },
		};
	}
	return ioctl(k->vm_fd, KVM_SET_GSI_ROUTING, t) < 0 ? -errno : 0;
}

static struct hv_kvm_msi *msi_of_gsi(struct hv_kvm *k, int gsi)
{
	unsigned int i = gsi - HV_KVM_FIRST_MSI_GSI;

	if (gsi < HV_KVM_FIRST_MSI_GSI || i >= k->nr_msi || !k->msi[i].used)
		return NULL;
	return &k->msi[i];
}

static int hv_kvm_msi_route_add(void *ctx, uint64_t addr, uint32_t data)
{
	struct hv_kvm *k = ctx;
	unsigned int i;
	int ret = -ENOSPC;

	pthread_mutex_lock(&k->lock);
	for (i = 0; i < k->nr_msi && k->msi[i].used; i++)
		;
	if (i == k->nr_msi)
		goto out;
	k->msi[i] = (struct hv_kvm_msi){ .addr = addr, .data = data, .used = true };
	ret = push_routes(k);
	if (ret)
		k->msi[i].used = false;
	else
		ret = HV_KVM_FIRST_MSI_GSI + i;
out:
	pthread_mutex_unlock(&k->lock);
	return ret;
}

static int hv_kvm_msi_route_update(void *ctx, int gsi, uint64_t addr, uint32_t data)
{
	struct hv_kvm *k = ctx;
	struct hv_kvm_msi *m, old;
	int ret = 0;

	pthread_mutex_lock(&k->lock);
	m = msi_of_gsi(k, gsi);
	if (!m) {
		ret = -EINVAL;
		goto out;
	}
	if (m->addr == addr && m->data == data)
		goto out;
	old = *m;
	m->addr = addr;
	m->data = data;
	ret = push_routes(k);
	if (ret)
		*m = old;
out:
	pthread_mutex_unlock(&k->lock);
	return ret;
}

static void hv_kvm_msi_route_del(void *ctx, int gsi)
{
	struct hv_kvm *k = ctx;
	struct hv_kvm_msi *m;
	int ret;

	pthread_mutex_lock(&k->lock);
	m = msi_of_gsi(k, gsi);
	if (m) {
		m->used = false;
		ret = push_routes(k);
		/* KVM keeps the old entry; the GSI is free for us all the same. */
		if (ret)
			log_warn("KVM_SET_GSI_ROUTING (removing GSI %d): %s", gsi, strerror(-ret));
	}
	pthread_mutex_unlock(&k->lock);
}

static const struct hv_ops hv_kvm_ops = {
	.ioeventfd = hv_kvm_ioeventfd,
	.msi_route_add = hv_kvm_msi_route_add,
	.msi_route_update = hv_kvm_msi_route_update,
	.msi_route_del = hv_kvm_msi_route_del,
	.irqfd = hv_kvm_irqfd,
};

/*
 * KVM_CAP_IRQ_ROUTING is both the table's entry limit and one past the highest GSI:
 * MSI GSIs get what the default routes and the IOAPIC's pin numbers leave.
 */
int hv_kvm_init(struct hv_kvm *k, int vm_fd, struct err *e)
{
	int max = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING);
	unsigned int by_entries, by_gsi;

	memset(k, 0, sizeof(*k));
	k->vm_fd = vm_fd;
	if (max <= NR_DEFAULT_ROUTES || max <= HV_KVM_FIRST_MSI_GSI)
		return err_set(e, "KVM allows %d GSI routes, too few for MSI", max);
	by_entries = max - NR_DEFAULT_ROUTES;
	by_gsi = max - HV_KVM_FIRST_MSI_GSI;
	k->nr_msi = by_entries < by_gsi ? by_entries : by_gsi;
	k->msi = calloc(k->nr_msi, sizeof(*k->msi));
	k->table = calloc(1, sizeof(*k->table) + max * sizeof(k->table->entries[0]));
	if (!k->msi || !k->table) {
		free(k->msi);
		free(k->table);
		return err_set(e, "out of memory");
	}
	pthread_mutex_init(&k->lock, NULL);
	return 0;
}

void hv_kvm_destroy(struct hv_kvm *k)
{
	pthread_mutex_destroy(&k->lock);
	free(k->msi);
	free(k->table);
	k->msi = NULL;
	k->table = NULL;
}

struct hv hv_kvm_hv(struct hv_kvm *k)
{
	return (struct hv){ .ops = &hv_kvm_ops, .ctx = k };
}
