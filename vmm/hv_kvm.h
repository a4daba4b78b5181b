/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/hv.h on KVM: KVM_IOEVENTFD for doorbells, KVM_IRQFD for injection, and the VM's
 * GSI routing table for MSI routes.
 *
 * KVM_SET_GSI_ROUTING replaces the whole table, so vqvm keeps a copy: the routes KVM
 * installs by itself with the in-kernel irqchip (GSI n to IOAPIC pin n for 0-23 and to
 * PIC pin n % 8 of the master or slave for 0-15: exactly KVM's default table, so the
 * legacy devices, the PIT on GSI 0 and the MP table's identity mapping behave the same
 * once the first MSI route is added), then one MSI entry per allocated GSI, from 24 up
 * to the KVM_CAP_IRQ_ROUTING limit. The table is pushed after every change.
 *
 * Locking: one mutex, a leaf (taken under the virtio-pci irq_lock), protects the GSI
 * table; the ioeventfd and irqfd calls need no lock of vqvm's.
 */
#ifndef VQVM_VMM_HV_KVM_H
#define VQVM_VMM_HV_KVM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/hv.h"

#define HV_KVM_FIRST_MSI_GSI 24 /* after the IOAPIC's pins */

struct kvm_irq_routing;

struct hv_kvm_msi {
	uint64_t addr;
	uint32_t data;
	bool used;
};

struct hv_kvm {
	int vm_fd;
	pthread_mutex_t lock;
	struct hv_kvm_msi *msi;          /* GSI HV_KVM_FIRST_MSI_GSI + i */
	unsigned int nr_msi;
	struct kvm_irq_routing *table;   /* scratch for KVM_SET_GSI_ROUTING */
};

/* For a VM with KVM_CREATE_IRQCHIP done. vm_fd stays the caller's. */
int hv_kvm_init(struct hv_kvm *k, int vm_fd, struct err *e);
/* Only after a successful hv_kvm_init; the VM keeps its routes until it is closed. */
void hv_kvm_destroy(struct hv_kvm *k);
/* The interface transports get; valid while k lives. */
struct hv hv_kvm_hv(struct hv_kvm *k);

#endif
