/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What transports need from the hypervisor, without knowing it is KVM: doorbells that
 * signal an eventfd without an exit to user space (ioeventfd), and MSI routes whose
 * interrupts are injected by writing an eventfd (irqfd). The VM implements these with
 * KVM_IOEVENTFD, KVM_SET_GSI_ROUTING and KVM_IRQFD; tests implement them with fakes.
 */
#ifndef VQVM_LIB_HV_H
#define VQVM_LIB_HV_H

#include <stdbool.h>
#include <stdint.h>

struct hv_ops {
	/*
	 * (De)register fd to be signalled when the guest writes len bytes at addr (port
	 * I/O when pio); with match, only writes of the value datamatch count.
	 */
	int (*ioeventfd)(void *ctx, int fd, uint64_t addr, uint32_t len, bool pio, bool match,
			 uint64_t datamatch, bool assign);
	/* Allocate a GSI routed to the MSI (addr, data); returns the GSI or -errno. */
	int (*msi_route_add)(void *ctx, uint64_t addr, uint32_t data);
	/* Change the MSI message of an allocated GSI. */
	int (*msi_route_update)(void *ctx, int gsi, uint64_t addr, uint32_t data);
	void (*msi_route_del)(void *ctx, int gsi);
	/* (De)attach an eventfd to a GSI: writing the eventfd injects the interrupt. */
	int (*irqfd)(void *ctx, int fd, int gsi, bool assign);
};

struct hv {
	const struct hv_ops *ops;
	void *ctx;
};

#endif
