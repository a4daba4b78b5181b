// SPDX-License-Identifier: Apache-2.0
#include "arch/x86/cpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/layout.h"

#define CR0_PE (1ULL << 0)
#define CR0_ET (1ULL << 4)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define PTE_PRESENT 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MISC_ENABLE_FAST_STRING 1ULL
#define MTRR_ENABLE (1ULL << 11)
#define MTRR_TYPE_WB 6ULL

#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

#define CPUID_1_ECX_HYPERVISOR (1U << 31)
#define CPUID_1_EDX_HTT (1U << 28)

struct kvm_cpuid2 *cpu_supported_cpuid(int kvm_fd, struct err *e)
{
	/* Grow until KVM stops saying E2BIG. */
	for (unsigned int nent = 128; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

		if (!c) {
			err_set(e, "out of memory");
			return NULL;
		}
		c->nent = nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG) {
			err_set(e, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
			return NULL;
		}
	}
	err_set(e, "KVM_GET_SUPPORTED_CPUID: too many entries");
	return NULL;
}

/* Bits needed to number n things: ceil(log2(n)). */
static unsigned int bits_for(unsigned int n)
{
	unsigned int b = 0;

	while ((1U << b) < n)
		b++;
	return b;
}

/*
 * One package, one thread per core, ncpus cores: APIC id == vCPU index. Leaf 0xB
 * describes that for x2APIC-aware kernels, leaf 1 and leaf 4 for the rest.
 */
void cpu_cpuid_for_vcpu(struct kvm_cpuid2 *cpuid, unsigned int index, unsigned int ncpus)
{
	unsigned int core_bits = bits_for(ncpus);

	for (unsigned int i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *ent = &cpuid->entries[i];

		switch (ent->function) {
		case 1:
			ent->ebx = (index << 24) | (ncpus << 16) | (8 << 8);
			ent->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (ncpus > 1)
				ent->edx |= CPUID_1_EDX_HTT;
			else
				ent->edx &= ~CPUID_1_EDX_HTT;
			break;
		case 4:
			/* Cores per package - 1 in 31:26; threads sharing the cache in 25:14. */
			ent->eax &= 0x3fff;
			ent->eax |= (ncpus - 1) << 26;
			break;
		case 0xb:
			ent->edx = index;
			if (ent->index == 0) {
				ent->eax = 0;
				ent->ebx = 1;
				ent->ecx = (1 << 8) | 0; /* SMT level */
			} else if (ent->index == 1) {
				ent->eax = core_bits;
				ent->ebx = ncpus;
				ent->ecx = (2 << 8) | 1; /* core level */
			} else {
				ent->eax = 0;
				ent->ebx = 0;
				ent->ecx = ent->index; /* invalid level: end of list */
			}
			break;
		case 0x8000001e:
			ent->eax = index; /* extended APIC id */
			ent->ebx = 0;     /* compute unit id 0, one thread per unit */
			break;
		default:
			break;
		}
	}
}

int cpu_write_boot_tables(const struct guest_mem *mem, struct err *e)
{
	const uint64_t gdt[] = { BOOT_GDT_NULL, BOOT_GDT_CODE64, BOOT_GDT_DATA, BOOT_GDT_TSS };
	const uint64_t idt = 0;
	uint64_t pml4 = BOOT_PDPT_ADDR | PTE_PRESENT | PTE_RW;
	uint64_t pdpt[4];
	uint64_t *pd;

	if (guest_mem_write(mem, BOOT_GDT_ADDR, gdt, sizeof(gdt)) ||
	    guest_mem_write(mem, BOOT_IDT_ADDR, &idt, sizeof(idt)) ||
	    guest_mem_write(mem, BOOT_PML4_ADDR, &pml4, sizeof(pml4)))
		return err_set(e, "boot tables do not fit in guest memory");
	/* Identity map the first 4 GiB with 2 MiB pages: kernel, zero page, cmdline, initrd. */
	for (unsigned int i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_ADDR + i * 0x1000) | PTE_PRESENT | PTE_RW;
	if (guest_mem_write(mem, BOOT_PDPT_ADDR, pdpt, sizeof(pdpt)))
		return err_set(e, "boot page tables do not fit in guest memory");
	pd = guest_mem_ptr(mem, BOOT_PD_ADDR, 4 * 4096);
	if (!pd)
		return err_set(e, "boot page tables do not fit in guest memory");
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_PRESENT | PTE_RW | PTE_PS;
	return 0;
}

/*
 * The TSC is left alone: KVM starts every vCPU's TSC in sync, and writing it from
 * each vCPU at a slightly different time makes the guest mark it unstable.
 */
static int set_msrs(int vcpu_fd, struct err *e)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 },  { MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 },
		{ MSR_CSTAR, 0 },	      { MSR_KERNEL_GS_BASE, 0 },
		{ MSR_SYSCALL_MASK, 0 },      { MSR_LSTAR, 0 },
		{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
		{ MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_TYPE_WB },
	};
	const unsigned int n = sizeof(msrs) / sizeof(msrs[0]);
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entries[sizeof(msrs) / sizeof(msrs[0])];
	} buf;
	int ret;

	memset(&buf, 0, sizeof(buf));
	buf.hdr.nmsrs = n;
	for (unsigned int i = 0; i < n; i++) {
		buf.entries[i].index = msrs[i].index;
		buf.entries[i].data = msrs[i].data;
	}
	ret = ioctl(vcpu_fd, KVM_SET_MSRS, &buf);
	if (ret < 0)
		return err_set(e, "KVM_SET_MSRS: %s", strerror(errno));
	if ((unsigned int)ret != n)
		return err_set(e, "KVM_SET_MSRS: MSR 0x%x rejected", buf.entries[ret].index);
	return 0;
}

static int set_fpu(int vcpu_fd, struct err *e)
{
	struct kvm_fpu fpu;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0)
		return err_set(e, "KVM_SET_FPU: %s", strerror(errno));
	return 0;
}

static void lapic_set_lvt(struct kvm_lapic_state *lapic, unsigned int reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, &lapic->regs[reg], sizeof(v));
	v = (v & ~0x700U) | (mode << 8);
	memcpy(&lapic->regs[reg], &v, sizeof(v));
}

/* LINT0 receives the PIC (ExtINT), LINT1 the NMI line: what a PC's firmware sets up. */
static int set_lapic(int vcpu_fd, struct err *e)
{
	struct kvm_lapic_state lapic;

	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic) < 0)
		return err_set(e, "KVM_GET_LAPIC: %s", strerror(errno));
	lapic_set_lvt(&lapic, APIC_LVT_LINT0, APIC_MODE_EXTINT);
	lapic_set_lvt(&lapic, APIC_LVT_LINT1, APIC_MODE_NMI);
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic) < 0)
		return err_set(e, "KVM_SET_LAPIC: %s", strerror(errno));
	return 0;
}

static void segment_from_gdt(struct kvm_segment *seg, uint64_t desc, uint16_t selector)
{
	memset(seg, 0, sizeof(*seg));
	seg->base = ((desc >> 16) & 0xffffff) | (((desc >> 56) & 0xff) << 24);
	seg->limit = (uint32_t)((desc & 0xffff) | (((desc >> 48) & 0xf) << 16));
	seg->selector = selector;
	seg->type = (desc >> 40) & 0xf;
	seg->s = (desc >> 44) & 1;
	seg->dpl = (desc >> 45) & 3;
	seg->present = (desc >> 47) & 1;
	seg->avl = (desc >> 52) & 1;
	seg->l = (desc >> 53) & 1;
	seg->db = (desc >> 54) & 1;
	seg->g = (desc >> 55) & 1;
	/* The limit is in 4 KiB units when G is set. */
	if (seg->g)
		seg->limit = (seg->limit << 12) | 0xfff;
}

static int set_boot_sregs(int vcpu_fd, struct err *e)
{
	struct kvm_sregs sregs;
	struct kvm_segment data;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return err_set(e, "KVM_GET_SREGS: %s", strerror(errno));
	segment_from_gdt(&sregs.cs, BOOT_GDT_CODE64, BOOT_SEL_CODE);
	segment_from_gdt(&data, BOOT_GDT_DATA, BOOT_SEL_DATA);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	segment_from_gdt(&sregs.tr, BOOT_GDT_TSS, BOOT_SEL_TSS);
	sregs.gdt.base = BOOT_GDT_ADDR;
	sregs.gdt.limit = 4 * 8 - 1;
	sregs.idt.base = BOOT_IDT_ADDR;
	sregs.idt.limit = 7;
	sregs.cr0 = CR0_PE | CR0_ET | CR0_PG;
	sregs.cr3 = BOOT_PML4_ADDR;
	sregs.cr4 = CR4_PAE;
	sregs.efer = EFER_LME | EFER_LMA;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return err_set(e, "KVM_SET_SREGS: %s", strerror(errno));
	return 0;
}

static int set_boot_regs(int vcpu_fd, uint64_t entry, uint64_t boot_params, struct err *e)
{
	struct kvm_regs regs;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2; /* bit 1 is reserved-one; interrupts off */
	regs.rip = entry;
	regs.rsi = boot_params;
	regs.rsp = BOOT_STACK_TOP;
	regs.rbp = BOOT_STACK_TOP;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return err_set(e, "KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

int cpu_setup_vcpu(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned int index,
		   unsigned int ncpus, uint64_t entry, uint64_t boot_params, struct err *e)
{
	size_t size = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *cpuid = malloc(size);
	int ret;

	if (!cpuid)
		return err_set(e, "out of memory");
	memcpy(cpuid, supported, size);
	cpu_cpuid_for_vcpu(cpuid, index, ncpus);
	ret = ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid);
	free(cpuid);
	if (ret < 0)
		return err_set(e, "KVM_SET_CPUID2: %s", strerror(errno));
	if (set_msrs(vcpu_fd, e) || set_fpu(vcpu_fd, e) || set_lapic(vcpu_fd, e))
		return -1;
	if (index != 0)
		return 0;
	if (set_boot_sregs(vcpu_fd, e) || set_boot_regs(vcpu_fd, entry, boot_params, e))
		return -1;
	return 0;
}
