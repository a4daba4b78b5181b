/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A freestanding guest packaged as a minimal bzImage (boot protocol 2.15, 64-bit entry),
 * so vqvm's whole path - CLI, loader, boot_params, vCPU setup, port I/O exits, the UART,
 * the i8042 reset and the exit status - can be tested on hosts whose KVM cannot run Linux
 * (PVM). It prints a banner and the command line vqvm passed, then, depending on the
 * build: resets through the i8042 (TINY_RESET), prints the kernel panic banner and resets
 * (TINY_PANIC), triple-faults (TINY_FAULT), or halts forever (TINY_SPIN, to test how
 * vqvm is stopped from outside).
 */
	.code64
	.section .text
	.globl _start
_start:
	.org 0x1f1
	.byte 1                 /* setup_sects: setup is 2 sectors, kernel at 1024 */
	.word 0                 /* root_flags */
	.long (end - pm_start + 15) / 16 /* syssize */
	.word 0, 0, 0           /* ram_size, vid_mode, root_dev */
	.word 0xAA55            /* boot_flag */
	.byte 0xeb, 0x00        /* jump */
	.ascii "HdrS"
	.word 0x020f            /* protocol 2.15 */
	.long 0                 /* realmode_swtch */
	.word 0, 0              /* start_sys_seg, kernel_version */
	.byte 0                 /* type_of_loader */
	.byte 1                 /* loadflags: LOADED_HIGH */
	.word 0                 /* setup_move_size */
	.long 0x100000          /* code32_start */
	.long 0, 0              /* ramdisk_image, ramdisk_size */
	.long 0                 /* bootsect_kludge */
	.word 0                 /* heap_end_ptr */
	.byte 0, 0              /* ext_loader_ver, ext_loader_type */
	.long 0                 /* cmd_line_ptr */
	.long 0x7fffffff        /* initrd_addr_max */
	.long 0x200000          /* kernel_alignment */
	.byte 1                 /* relocatable_kernel */
	.byte 21                /* min_alignment */
	.word 0x3               /* xloadflags: KERNEL_64 | CAN_BE_LOADED_ABOVE_4G */
	.long 2047              /* cmdline_size */
	.long 0                 /* hardware_subarch */
	.quad 0                 /* hardware_subarch_data */
	.long 0, 0              /* payload_offset, payload_length */
	.quad 0                 /* setup_data */
	.quad 0x1000000         /* pref_address */
	.long 0x200000          /* init_size */
	.long 0                 /* handover_offset */
	.org 1024
pm_start:
	.org 1024 + 0x200
entry64:
	/* rsi = boot_params; cmd_line_ptr is at offset 0x228 of it. */
	mov %rsi, %r12
	lea banner(%rip), %rsi
	call puts
	mov 0x228(%r12), %esi
	call puts
	mov $'\n', %al
	call putc
#if defined(TINY_PANIC)
	lea panic_msg(%rip), %rsi
	call puts
#endif
#if defined(TINY_FAULT)
	/* The boot IDT has no valid gate: #UD -> #GP -> #DF -> triple fault. */
	ud2
#endif
#if defined(TINY_SPIN)
	cli
3:	hlt
	jmp 3b
#endif
	/* Pulse the reset line through the i8042, as Linux does with reboot=k. */
	mov $0x64, %dx
	mov $0xfe, %al
	out %al, %dx
1:	hlt
	jmp 1b

/* Print the NUL-terminated string at rsi. */
puts:
	lodsb
	test %al, %al
	jz 2f
	call putc
	jmp puts
2:	ret

putc:
	mov $0x3f8, %dx
	out %al, %dx
	ret

banner:
	.asciz "tiny guest: cmdline="
panic_msg:
	.asciz "Kernel panic - not syncing: tiny guest test\n"
	.balign 16
end:
