// SPDX-License-Identifier: Apache-2.0
/* The crash dump's text: what a user reads after a triple fault. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/cpu_state.h"

TestSuite(cpu_state, .timeout = 10);

/* A 64-bit kernel stopped at a ud2. */
static struct cpu_state kernel_state(void)
{
	static const uint8_t code[] = { 0x0f, 0x0b, 0x90, 0xc3 };
	struct cpu_state st;

	memset(&st, 0, sizeof(st));
	st.have_regs = st.have_sregs = st.have_kernel_gs_base = true;
	st.regs.rip = 0xffffffff81234567ULL;
	st.regs.rsp = 0xffffc90000003f58ULL;
	st.regs.rflags = 0x10046;
	st.regs.rax = 0xa;
	st.regs.r15 = 0x1515;
	st.sregs.cr0 = 0x80050033;
	st.sregs.cr2 = 0xdead000;
	st.sregs.cr3 = 0x2a0c000;
	st.sregs.cr4 = 0x3506f0;
	st.sregs.efer = 0xd01;
	st.sregs.cs = (struct kvm_segment){ .selector = 0x10, .l = 1, .limit = 0xffffffff };
	st.sregs.gs.base = 0xffff88800f800000ULL;
	st.sregs.idt.base = 0xfffffe0000000000ULL;
	st.sregs.idt.limit = 0xfff;
	st.kernel_gs_base = 0x7f0000001000ULL;
	memcpy(st.code, code, sizeof(code));
	st.code_len = sizeof(code);
	st.stack[0] = 0xffffffff81000123ULL;
	st.stack[1] = 0x10;
	st.stack_len = 2;
	st.idt_handler[0] = 0xffffffff81a00a70ULL;
	st.idt_handler[1] = 0xffffffff81a01b30ULL;
	st.idt_present[0] = st.idt_present[1] = true;
	st.idt_len = 2;
	return st;
}

static unsigned int count_lines(const char *s)
{
	unsigned int n = *s != 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

Test(cpu_state, a_kernel_at_a_fault)
{
	struct cpu_state st = kernel_state();
	char text[2048];
	static const char first[] = "rip 0xffffffff81234567 rsp 0xffffc90000003f58 "
				    "rflags 0x10046, cpl 0, 64-bit mode\n";

	cpu_state_format(&st, text, sizeof(text));
	cr_assert(strncmp(text, first, strlen(first)) == 0, "%s", text);
	cr_assert_not_null(strstr(text, "\nrax 0x000000000000000a rbx 0x0000000000000000"));
	cr_assert_not_null(strstr(text, " r15 0x0000000000001515\n"));
	cr_assert_not_null(strstr(text, "\ncr0 0x80050033 cr2 0xdead000 cr3 0x2a0c000 "
				      "cr4 0x3506f0 efer 0xd01\n"));
	cr_assert_not_null(strstr(text, " gs 0x0000 base 0xffff88800f800000 "), "%s", text);
	cr_assert_not_null(strstr(text, "idt 0xfffffe0000000000 limit 0xfff, "
				      "kernel gs base 0x7f0000001000\n"));
	cr_assert_not_null(strstr(text, "\ncode at rip: 0f 0b 90 c3\n"));
	cr_assert_not_null(strstr(text, "\nstack at rsp: 0xffffffff81000123 0x10\n"));
	cr_assert_not_null(strstr(text, "\nidt gates: 0 0xffffffff81a00a70, 8 0xffffffff81a01b30"),
			   "%s", text);
	cr_assert_eq(text[strlen(text) - 1], '0', "no trailing newline");
	cr_assert_eq(count_lines(text), 12, "%s", text);
}

/* A gate that is not present is a triple fault's likely cause: it is said. */
Test(cpu_state, idt_gate_not_present)
{
	struct cpu_state st = kernel_state();
	char text[2048];

	st.idt_present[1] = false;
	cpu_state_format(&st, text, sizeof(text));
	cr_assert_not_null(strstr(text, ", 8 0xffffffff81a01b30 (not present)"), "%s", text);
}

/* Outside 64-bit mode (or unreadable), no stack or gate line. */
Test(cpu_state, no_stack_or_gates_without_them)
{
	struct cpu_state st = kernel_state();
	char text[2048];

	st.stack_len = st.idt_len = 0;
	cpu_state_format(&st, text, sizeof(text));
	cr_assert_null(strstr(text, "stack at rsp"));
	cr_assert_null(strstr(text, "idt gates"));
	cr_assert_eq(count_lines(text), 10, "%s", text);
}

Test(cpu_state, code_not_readable)
{
	struct cpu_state st = kernel_state();
	char text[2048];

	st.code_len = 0;
	cpu_state_format(&st, text, sizeof(text));
	cr_assert_not_null(strstr(text, "\ncode at rip: not readable"));
}

Test(cpu_state, what_could_not_be_read_is_named)
{
	struct cpu_state st = kernel_state();
	char text[2048];

	st.have_regs = false;
	strcpy(st.missing, "KVM_GET_REGS: Input/output error");
	cpu_state_format(&st, text, sizeof(text));
	cr_assert_null(strstr(text, "rip"), "%s", text);
	cr_assert(strncmp(text, "cr0 ", 4) == 0, "%s", text);
	cr_assert_not_null(strstr(text, "\nnot read: KVM_GET_REGS: Input/output error"));

	st.have_sregs = false;
	cpu_state_format(&st, text, sizeof(text));
	cr_assert_str_eq(text, "not read: KVM_GET_REGS: Input/output error");
}

Test(cpu_state, modes)
{
	static const struct {
		uint64_t cr0, efer;
		uint8_t l;
		const char *mode;
	} cases[] = {
		{ 0x10, 0, 0, "real mode" },
		{ 0x11, 0, 0, "protected mode" },
		{ 0x80000011, 0x500, 0, "compatibility mode" },
		{ 0x80000011, 0x500, 1, "64-bit mode" },
	};

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cpu_state st = kernel_state();
		char text[2048], want[64];

		st.sregs.cr0 = cases[i].cr0;
		st.sregs.efer = cases[i].efer;
		st.sregs.cs.l = cases[i].l;
		cpu_state_format(&st, text, sizeof(text));
		snprintf(want, sizeof(want), ", cpl 0, %s\n", cases[i].mode);
		cr_assert_not_null(strstr(text, want), "%s: %s", cases[i].mode, text);
	}
}

Test(cpu_state, truncated_to_the_buffer)
{
	struct cpu_state st = kernel_state();
	char text[48];

	memset(text, 'x', sizeof(text));
	cpu_state_format(&st, text, 40);
	cr_assert_eq(strlen(text), 39);
	cr_assert_eq(text[40], 'x', "nothing written past the length");
}
