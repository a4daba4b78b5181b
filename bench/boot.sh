#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Boot benchmark: time from VMM start to the guest init's marker VQVM-GUEST-INIT-OK on
# the serial console, and the VMM's peak RSS, for vqvm and QEMU microvm booting the same
# kernel and initramfs (build/images/vmlinuz, initrd.cpio.gz) with 1 vCPU and 128 MiB.
#
#   bench/boot.sh          (BENCH_RUNS=N, default 5; BENCH_MODE; see bench/lib.sh)
#
# The clock runs where the VMM runs (in L1 in the sandbox: L1's boot is not counted):
# bench/inner/boot.sh reads the kernel's monotonic clock just before starting the VMM
# and again when the console line with the marker arrives. The guest then resets, the
# VMM exits, and busybox `time -v` gives its peak RSS. Commands (guest side the same):
#   vqvm run --kernel K --initrd I --cpus 1 --memory 128M --serial stdio --cmdline vqvm.run=true
#   qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m 128 -smp 1 -nodefaults
#     -no-user-config -nographic -serial stdio -no-reboot -L /usr/share/qemu -kernel K
#     -initrd I -append 'console=ttyS0 reboot=t panic=1 vqvm.run=true'
# Every boot is measured twice: as above, with the kernel's messages on the serial console,
# and with `quiet` added (the UART costs a VM exit per byte; BENCH_BOOT_QUIET=0 skips
# this variant). BENCH_BOOT_APPEND adds kernel parameters to every boot.
set -euo pipefail
prog=boot.sh
prog_name=boot
. "$(dirname "$0")/lib.sh"

memory=128
append=${BENCH_BOOT_APPEND:-}
variants="log quiet"
[ "${BENCH_BOOT_QUIET:-1}" != 0 ] || variants=log
bench_header "boot: VMM start -> guest init marker, 1 vCPU, $memory MiB"
echo "kernel: $(cat "$images/kernel-version" 2>/dev/null || echo '?'), initrd: build/images/initrd.cpio.gz${append:+, extra kernel parameters: $append}"
# A boot takes up to ~20 s in the sandbox; each is cut off after 120 s by the inner script.
bench_run boot $((300 + runs * 4 * 130)) --memory "${memory}M" --cpus 1 \
	--vmm-cmd -- bash "$here/inner/boot.sh" --runs "$runs" --kernel @KERNEL@ --initrd @INITRD@ \
	--memory "$memory" --vqvm "$vqvm" --qemu "$qemu" --append "$append" --variants "$variants" "${only_opt[@]}"
bench_table "boot: time from VMM start to the guest's init marker, and VMM peak RSS" 0 \
	"boot to init marker|boot_ms|ms|1|lower" \
	"boot, quiet|boot_ms_quiet|ms|1|lower" \
	"VMM peak RSS|rss_kib|MiB|1024|lower"
[ "$run_rc" = 0 ]
