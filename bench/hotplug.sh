#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Hot-add benchmark: how long from asking for a new disk to a disk the guest can read,
# for vqvm's managed devices and QEMU's PCI hotplug, same guest kernel, same run:
# - guest-initiated (vqvm only): the guest writes `blk` to vqvm_mgmt's sysfs `create`;
#   timed in the guest (CLOCK_MONOTONIC) to the first successful 4 KiB O_DIRECT read of
#   the new /dev/vdX;
# - host-initiated: vqvm's `PUT /managed-devices/hotI` (curl on the API socket) and QEMU
#   -M q35's QMP `device_add virtio-blk-pci` on a pcie-root-port (ACPI PCI hotplug; the
#   guest rescans the bus itself only if the disk has not shown up after 2 s, counted),
#   timed where the VMMs run from just before the client starts to the guest's console
#   line saying the disk read (the guest polls every 0.5 ms); also the removal (DELETE,
#   device_del until DEVICE_DELETED);
# - the VMMs' peak RSS over such a boot (vqvm 1 vCPU, 128 MiB, a managed disk plus the
#   hot-added ones; QEMU q35 with its root port).
# Each cell: the median over BENCH_RUNS boots of the median of BENCH_HOTPLUG_RUNS hot-adds
# per boot.
#
#   bench/hotplug.sh      (BENCH_RUNS=N boots per VMM, default 5; BENCH_HOTPLUG_RUNS=M
#                          hot-adds each way per boot, default 20; BENCH_MODE; lib.sh)
#
# The timing helper (bench/hotplug-helper.c) is built static with the host's gcc into
# build/bench/hotplug-helper and runs both in the guest (/hp) and where the VMMs run.
set -euo pipefail
prog=hotplug.sh
prog_name=hotplug
. "$(dirname "$0")/lib.sh"

hpruns=${BENCH_HOTPLUG_RUNS:-20}
[[ "$hpruns" =~ ^[1-9][0-9]*$ ]] || die "BENCH_HOTPLUG_RUNS wants a positive number, got '$hpruns'"
memory=128
helper=$out_dir/hotplug-helper
if [ ! -x "$helper" ] || [ "$here/hotplug-helper.c" -nt "$helper" ]; then
	gcc -O2 -Wall -Wno-format-truncation -static -o "$helper.tmp" "$here/hotplug-helper.c" ||
		die "building $helper failed (gcc and the static libc, libc6-dev, are needed)"
	mv -f "$helper.tmp" "$helper"
fi
[ -f "$images/driver/vqvm_mgmt.ko" ] || die "$images/driver/vqvm_mgmt.ko not found (run: make images)"
only=${BENCH_ONLY:-vqvm qemu}

bench_header "hotplug: hot-add to a readable disk, guest 1 vCPU, $memory MiB"
echo "hot-adds: $hpruns each way per boot (BENCH_HOTPLUG_RUNS); cells: median over boots of the per-boot median"
fw=()
for f in /usr/share/seabios/bios-256k.bin /usr/share/qemu/kvmvapic.bin; do
	[ ! -e "$f" ] || fw+=(--copy "$f")
done
bench_run hotplug $((300 + runs * 2 * (300 + hpruns * 20))) --memory "${memory}M" --cpus 1 \
	--script "$here/guest/hotplug.sh" --add "$helper:/hp" --copy "$helper" "${fw[@]}" \
	--host-prog curl \
	--vmm-cmd -- bash "$here/inner/hotplug.sh" --runs "$runs" --hp-runs "$hpruns" \
	--kernel @KERNEL@ --initrd @INITRD@ --memory "$memory" --vqvm "$vqvm" --qemu "$qemu" \
	--helper "$helper" --only "$only"
bench_table "hotplug: request -> readable disk in the guest (median of $hpruns per boot), VMM peak RSS" 0 \
	"hot-add, guest create|hp.guest|ms|1000|lower|vqvm-only" \
	"  of it: create write|hp.guest.write|ms|1000|lower|vqvm-only" \
	"hot-add, host API/QMP|hp.host|ms|1000|lower" \
	"removal, host API/QMP|hp.del|ms|1000|lower" \
	"VMM peak RSS|rss_kib|MiB|1024|lower"
[ "$run_rc" = 0 ]
