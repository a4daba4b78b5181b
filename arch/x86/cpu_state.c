// SPDX-License-Identifier: Apache-2.0
#include "arch/x86/cpu_state.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_KERNEL_GS_BASE 0xc0000102
#define EFER_LMA (1ULL << 10)
#define CR0_PE 1ULL
#define PAGE_SIZE 4096ULL

static void note_missing(struct cpu_state *st, const char *what)
{
	size_t used = strlen(st->missing);

	snprintf(st->missing + used, sizeof(st->missing) - used, "%s%s: %s",
		 used ? ", " : "", what, strerror(errno));
}

const uint8_t cpu_state_idt_vectors[CPU_STATE_IDT_GATES] = { 0, 8, 13, 14 };

static bool long_mode(const struct kvm_sregs *s)
{
	return (s->efer & EFER_LMA) && s->cs.l;
}

/*
 * Copy len bytes at a guest linear address, page by page (each page translated on
 * its own). Returns how many were read: fewer where a page is not mapped or not RAM.
 */
static size_t read_linear(int vcpu_fd, const struct guest_mem *mem, struct cpu_state *st,
			  uint64_t linear, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct kvm_translation t = { .linear_address = linear + done };
		uint64_t in_page = PAGE_SIZE - (t.linear_address & (PAGE_SIZE - 1));
		size_t n = len - done;
		const uint8_t *p;

		if (ioctl(vcpu_fd, KVM_TRANSLATE, &t) < 0) {
			if (!strstr(st->missing, "KVM_TRANSLATE"))
				note_missing(st, "KVM_TRANSLATE");
			break;
		}
		if (!t.valid)
			break;
		if (n > in_page)
			n = (size_t)in_page;
		p = guest_mem_ptr(mem, t.physical_address, n);
		if (!p)
			break;
		memcpy((uint8_t *)buf + done, p, n);
		done += n;
	}
	return done;
}

/* The handlers of a few 64-bit IDT gates (16 bytes each), while they read. */
static void read_idt(int vcpu_fd, const struct guest_mem *mem, struct cpu_state *st)
{
	for (unsigned int i = 0; i < CPU_STATE_IDT_GATES; i++) {
		unsigned int v = cpu_state_idt_vectors[i];
		uint8_t g[16];
		uint16_t low, mid;
		uint32_t high;

		if (v * 16u + 15 > st->sregs.idt.limit ||
		    read_linear(vcpu_fd, mem, st, st->sregs.idt.base + v * 16u, g, 16) != 16)
			return;
		/* offset 15:0 at byte 0, 31:16 at 6, 63:32 at 8; P is bit 7 of byte 5 */
		memcpy(&low, g, 2);
		memcpy(&mid, g + 6, 2);
		memcpy(&high, g + 8, 4);
		st->idt_handler[i] = low | (uint64_t)mid << 16 | (uint64_t)high << 32;
		st->idt_present[i] = g[5] & 0x80;
		st->idt_len = i + 1;
	}
}

void cpu_state_read(int vcpu_fd, const struct guest_mem *mem, struct cpu_state *st)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entry;
	} msrs = { .hdr.nmsrs = 1, .entry.index = MSR_KERNEL_GS_BASE };

	memset(st, 0, sizeof(*st));
	st->have_regs = ioctl(vcpu_fd, KVM_GET_REGS, &st->regs) == 0;
	if (!st->have_regs)
		note_missing(st, "KVM_GET_REGS");
	st->have_sregs = ioctl(vcpu_fd, KVM_GET_SREGS, &st->sregs) == 0;
	if (!st->have_sregs)
		note_missing(st, "KVM_GET_SREGS");
	st->have_kernel_gs_base = ioctl(vcpu_fd, KVM_GET_MSRS, &msrs) == 1;
	if (st->have_kernel_gs_base)
		st->kernel_gs_base = msrs.entry.data;
	if (!st->have_regs || !st->have_sregs)
		return;
	/* In 64-bit mode the CS base does not count. */
	st->code_len = read_linear(vcpu_fd, mem, st,
				   st->regs.rip + (long_mode(&st->sregs) ? 0 : st->sregs.cs.base),
				   st->code, sizeof(st->code));
	if (!long_mode(&st->sregs))
		return;
	st->stack_len = read_linear(vcpu_fd, mem, st, st->regs.rsp, st->stack,
				    sizeof(st->stack)) / sizeof(st->stack[0]);
	read_idt(vcpu_fd, mem, st);
}

struct out {
	char *buf;
	size_t len, used;
};

static void __attribute__((format(printf, 2, 3))) put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->used >= o->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->used += (size_t)n < o->len - o->used ? (size_t)n : o->len - o->used - 1;
}

static const char *cpu_mode(const struct kvm_sregs *s)
{
	if (!(s->cr0 & CR0_PE))
		return "real mode";
	if (s->efer & EFER_LMA)
		return long_mode(s) ? "64-bit mode" : "compatibility mode";
	return "protected mode";
}

static void put_seg(struct out *o, const char *name, const struct kvm_segment *s)
{
	put(o, " %s 0x%04x base %#llx limit %#x", name, s->selector,
	    (unsigned long long)s->base, s->limit);
}

void cpu_state_format(const struct cpu_state *st, char *buf, size_t len)
{
	static const char *const gpr_names[] = {
		"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
		"r9", "r10", "r11", "r12", "r13", "r14", "r15",
	};
	const struct kvm_regs *r = &st->regs;
	const uint64_t gprs[] = {
		r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rbp, r->r8,
		r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15,
	};
	const struct kvm_sregs *s = &st->sregs;
	struct out o = { buf, len, 0 };

	if (!len)
		return;
	buf[0] = 0;
	if (st->have_regs) {
		put(&o, "rip 0x%016llx rsp 0x%016llx rflags %#llx", (unsigned long long)r->rip,
		    (unsigned long long)r->rsp, (unsigned long long)r->rflags);
		if (st->have_sregs)
			put(&o, ", cpl %u, %s", s->cs.dpl, cpu_mode(s));
		for (unsigned int i = 0; i < sizeof(gprs) / sizeof(gprs[0]); i++)
			put(&o, "%s%s 0x%016llx", i % 4 ? " " : "\n", gpr_names[i],
			    (unsigned long long)gprs[i]);
	}
	if (st->have_sregs) {
		put(&o, "%scr0 %#llx cr2 %#llx cr3 %#llx cr4 %#llx efer %#llx",
		    o.used ? "\n" : "", (unsigned long long)s->cr0, (unsigned long long)s->cr2,
		    (unsigned long long)s->cr3, (unsigned long long)s->cr4,
		    (unsigned long long)s->efer);
		put(&o, "\nsegments:");
		put_seg(&o, "cs", &s->cs);
		put_seg(&o, "ss", &s->ss);
		put_seg(&o, "ds", &s->ds);
		put(&o, "\nsegments:");
		put_seg(&o, "fs", &s->fs);
		put_seg(&o, "gs", &s->gs);
		put_seg(&o, "tr", &s->tr);
		put(&o, "\ngdt %#llx limit %#x, idt %#llx limit %#x",
		    (unsigned long long)s->gdt.base, s->gdt.limit,
		    (unsigned long long)s->idt.base, s->idt.limit);
		if (st->have_kernel_gs_base)
			put(&o, ", kernel gs base %#llx", (unsigned long long)st->kernel_gs_base);
	}
	if (st->have_regs && st->have_sregs) {
		put(&o, "\ncode at rip:");
		for (unsigned int i = 0; i < st->code_len; i++)
			put(&o, " %02x", st->code[i]);
		if (!st->code_len)
			put(&o, " not readable (not mapped, or not in guest RAM)");
		if (st->stack_len)
			put(&o, "\nstack at rsp:");
		for (unsigned int i = 0; i < st->stack_len; i++)
			put(&o, " %#llx", (unsigned long long)st->stack[i]);
		if (st->idt_len)
			put(&o, "\nidt gates:");
		for (unsigned int i = 0; i < st->idt_len; i++)
			put(&o, "%s %u %#llx%s", i ? "," : "", cpu_state_idt_vectors[i],
			    (unsigned long long)st->idt_handler[i],
			    st->idt_present[i] ? "" : " (not present)");
	}
	if (st->missing[0])
		put(&o, "%snot read: %s", o.used ? "\n" : "", st->missing);
}
