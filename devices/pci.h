/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PCI bus 0 behind a host bridge, reached through configuration mechanism #1
 * (0xCF8 address, 0xCFC-0xCFF data). Functions register a 256-byte configuration space
 * and their BARs; the host bridge implements BAR sizing (all-ones writes read back the
 * size mask), keeps read-only bits read-only, and, when the guest moves a BAR or toggles
 * the command register's I/O or memory enable, moves the BAR's range on the PIO or MMIO
 * bus and tells the function. pci_register allocates BAR addresses (pci_alloc_mmio/_pio)
 * from windows the host bridge owns (and the FDT describes), writes them into the BARs
 * and leaves decoding off until the guest sets the command register's I/O or memory
 * enable, as firmware would (Linux with pci=conf1 keeps these addresses).
 *
 * The host bridge at 00:00.0 is 1B36:0008 (Red Hat, "QEMU PCIe Host bridge"), class
 * 0x060000: the ID Red Hat allocated for a generic host bridge with no chipset
 * registers, which is what this is; an Intel chipset ID would invite Linux quirks that
 * poke registers vqvm does not have.
 *
 * The VMM registers the two config handlers on the PIO bus itself:
 * pci_config_addr_io at 0xCF8 (len 4) and pci_config_data_io at 0xCFC (len 4).
 * Only bus 0 and function 0 of each slot exist; everything else reads all-ones.
 *
 * A guest that maps a BAR over another range (or outside what the bus can take) gets
 * a warning in the log and the BAR stays unmapped until its next BAR/command write.
 *
 * Locking: the pci lock serialises config accesses; it is taken before the buses' locks.
 * The function ops (cfg_write, cfg_read, bar_remapped) run with it held.
 */
#ifndef VQVM_DEVICES_PCI_H
#define VQVM_DEVICES_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"

#define PCI_CONFIG_ADDR_PORT 0xcf8
#define PCI_CONFIG_DATA_PORT 0xcfc
#define PCI_MAX_DEVICES 32
#define PCI_CFG_SIZE 256
#define PCI_NR_BARS 6

/* 32-bit MMIO window inside the hole below 4 GiB; 64-bit window above RAM. */
#define PCI_MMIO32_BASE 0xC0000000ULL
#define PCI_MMIO32_SIZE 0x3EC00000ULL /* up to the IOAPIC at 0xFEC00000 */
#define PCI_PIO_BASE 0x6000
#define PCI_PIO_SIZE 0xA000

enum pci_bar_type { PCI_BAR_NONE = 0, PCI_BAR_MMIO32, PCI_BAR_MMIO64, PCI_BAR_PIO };

struct pci_bar {
	enum pci_bar_type type;
	uint64_t size; /* power of two; 0 = unused */
	uint64_t addr; /* current guest address */
	bool mapped;   /* registered on a bus now */
	bus_io_fn fn;  /* accesses inside the BAR, offset relative to the BAR */
	void *opaque;
};

struct pci_function;

struct pci_function_ops {
	/*
	 * Optional: called after a guest config write lands in cfg[] (offset, len, the
	 * value written), e.g. for MSI-X enable bits. Called with the pci lock held.
	 */
	void (*cfg_write)(struct pci_function *fn, uint32_t offset, uint32_t len, uint32_t value);
	/* Optional: a config read about to be answered (to refresh live fields). */
	void (*cfg_read)(struct pci_function *fn, uint32_t offset, uint32_t len);
	/* Optional: a BAR moved or was (un)mapped; new_addr valid when mapped. */
	void (*bar_remapped)(struct pci_function *fn, int bar, uint64_t new_addr, bool mapped);
};

struct pci_function {
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE]; /* bits the guest may write */
	uint8_t w1cmask[PCI_CFG_SIZE]; /* bits cleared by writing 1 */
	struct pci_bar bar[PCI_NR_BARS];
	uint16_t next_cap; /* offset at which the next capability is added; 0 = none yet */
	uint8_t devfn;    /* slot << 3 */
	const struct pci_function_ops *ops;
	void *opaque;
	struct pci_host *host;
};

struct pci_host {
	pthread_mutex_t lock;
	struct bus *pio, *mmio;
	uint32_t config_address; /* last value written to 0xCF8 */
	struct pci_function bridge; /* 00:00.0 */
	struct pci_function *fn[PCI_MAX_DEVICES];
	uint64_t mmio32_next, pio_next; /* bump allocators in the windows */
};

int pci_host_init(struct pci_host *host, struct bus *pio, struct bus *mmio);
/* Does not touch the functions: pci_unregister them first (while the buses live). */
void pci_host_destroy(struct pci_host *host);

/*
 * Fill in a type-0 header: IDs, class code (24-bit: base<<16|sub<<8|prog-if), revision.
 * Call it first: it clears the whole struct, ops and opaque included. Writable by the
 * guest afterwards: command (I/O, memory, bus master, INTx disable), status error bits
 * (write 1 to clear), cache line size, interrupt line, and the BARs' address bits.
 */
void pci_function_init(struct pci_function *fn, uint16_t vendor, uint16_t device,
		       uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		       uint16_t subsys_id);
/*
 * Declare a BAR before registration; its address is allocated from the host's window
 * at pci_register. size must be a power of two (MMIO: >= 16, at most 2 GiB for a 32-bit
 * BAR; PIO: 4 to 256, the PCI limit). A 64-bit BAR also uses index bar+1. BARs are not
 * prefetchable. -EINVAL for bad arguments, -EBUSY if the index is taken or fn is
 * registered already.
 */
int pci_function_set_bar(struct pci_function *fn, int bar, enum pci_bar_type type,
			 uint64_t size, bus_io_fn io, void *opaque);
/*
 * Append a capability of len bytes (id at data[0], next pointer at data[1] is filled
 * in); wmask marks guest-writable bits (may be NULL: read-only). Returns the offset
 * of the capability in config space or -ENOSPC.
 */
int pci_function_add_cap(struct pci_function *fn, const uint8_t *data, uint8_t len,
			 const uint8_t *wmask);
/*
 * Put the function in the given slot (1..31), or in the first free one when slot < 0;
 * allocates its BARs. 0, -EINVAL (bad slot), -EBUSY (slot taken, fn already
 * registered) or -ENOSPC (no free slot, window exhausted).
 */
int pci_register(struct pci_host *host, struct pci_function *fn, int slot);
/* Unmap the BARs (bar_remapped is told) and free the slot. Window space is not reused. */
void pci_unregister(struct pci_host *host, struct pci_function *fn);
/*
 * Naturally aligned space from the 32-bit MMIO or the PIO window (bump allocators,
 * never freed): 0 and *addr, or -EINVAL (size not a power of two) / -ENOSPC.
 */
int pci_alloc_mmio(struct pci_host *host, uint64_t size, uint64_t *addr);
int pci_alloc_pio(struct pci_host *host, uint64_t size, uint64_t *addr);

/* The 0xCF8 and 0xCFC bus handlers (opaque = host). */
void pci_config_addr_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			bool is_write);
void pci_config_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			bool is_write);
/*
 * Direct config access by (devfn, offset), as 0xCFC does after 0xCF8; for tests, too.
 * len is 1, 2 or 4 and the access must stay within one dword; anything else, or an
 * absent function, reads all-ones and drops writes.
 */
uint32_t pci_config_read(struct pci_host *host, uint8_t devfn, uint32_t offset, uint32_t len);
void pci_config_write(struct pci_host *host, uint8_t devfn, uint32_t offset, uint32_t len,
		      uint32_t value);

#endif
