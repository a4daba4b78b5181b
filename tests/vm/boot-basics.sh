#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A real Debian kernel boots under vqvm with 2 vCPUs and 256 MiB: it reaches init, sees
# both CPUs and the memory, gets the command line, runs the initramfs script, returns its
# output, and `reboot -f` ends vqvm with status 0. One boot, several checks.
. "$(dirname "$0")/../lib.sh"

cat >"$work/guest.sh" <<'GUEST'
echo "NPROC=$(nproc)"
echo "MEMTOTAL_KB=$(awk '/^MemTotal/ {print $2}' /proc/meminfo)"
echo "CMDLINE=$(cat /proc/cmdline)"
echo "ONLINE=$(cat /sys/devices/system/cpu/online)"
# The XSAVE size warning comes from CPUID leaf 0xD as nested KVM on QEMU TCG reports
# it (see the notes in docs/architecture.md); every other warning counts.
echo "DMESG_WARNINGS=$(dmesg | grep -E 'WARNING: CPU:|BUG:' | grep -vc 'fpu/xstate.c')"
echo "SERIAL=$(dmesg | grep -o 'ttyS0 at I/O 0x3f8 (irq = 4[^)]*) is a 16550A')"
echo "RTC=$(dmesg | grep -c 'rtc_cmos.*broken')"
echo "YEAR=$(date -u +%Y)"
echo "script output reaches the host"
GUEST
"$vm_run" --script "$work/guest.sh" --cpus 2 --memory 256M \
	-- --cmdline "vqvm.test=marker-42" >"$work/out" 2>"$work/err"
status=$?

check "vqvm exits 0 after reboot -f" expect_status 0 "$status"
check "guest reached init" expect_line "$work/out" '^VQVM-GUEST-INIT-OK$'
check "nproc is 2" expect_line "$work/out" '^NPROC=2$'
check "CPUs 0-1 online" expect_line "$work/out" '^ONLINE=0-1$'
# 256 MiB minus the kernel's own reservations (image, memmap, ...): see cpus-and-memory.
memtotal=$(sed -n 's/^MEMTOTAL_KB=//p' "$work/out")
check "MemTotal ${memtotal:-?} kB fits 256 MiB" \
	test "${memtotal:-0}" -ge $((256 * 1024 * 7 / 8 - 48 * 1024)) -a "${memtotal:-0}" -le $((256 * 1024))
check "user cmdline appended to the defaults" \
	expect_line "$work/out" '^CMDLINE=reboot=k panic=1 .*console=ttyS0 vqvm.test=marker-42$'
check "COM1 is detected as a 16550A on IRQ 4" expect_line "$work/out" '^SERIAL=ttyS0'
check "script output comes back" expect_line "$work/out" '^script output reaches the host$'
check "script exit status reported" expect_line "$work/out" '^VQVM-GUEST-SCRIPT-RC=0$'
check "the guest's RTC works" expect_line "$work/out" '^RTC=0$'
check "the guest knows the date" expect_line "$work/out" "^YEAR=$(date -u +%Y)$"
check "no kernel warnings" expect_line "$work/out" '^DMESG_WARNINGS=0$'
check "vqvm printed nothing to stderr but the runner's line" \
	test -z "$(grep -v '^vm-run:' "$work/err")"
[ "$failures" -eq 0 ] || { show "$work/out"; show "$work/err"; }
finish
