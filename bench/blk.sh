#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Block benchmark: fio (io_uring, O_DIRECT) in a guest on a virtio-blk disk of vqvm, next
# to the same fio jobs run natively where the VMM runs and in a guest of QEMU microvm
# (virtio-blk-device, cache=none, aio=io_uring), same disk, same guest, same run:
# 4k random read and write at queue depth 1 and 32, 128k sequential read at depth 8
# (the jobs: bench/inner/blk.fio).
#
#   bench/blk.sh          (BENCH_RUNS=N, default 5; BENCH_FIO_RUNTIME=S seconds per job,
#                          default 3, after a 1 s ramp; BENCH_MANAGED=0|1, default 1;
#                          BENCH_MODE; see bench/lib.sh)
#
# BENCH_MANAGED=1 adds a "vqvm managed" column: the same disk, options and guest as
# vqvm's, but given with --managed-disk (the management device's transport, guest driver
# vqvm_mgmt) instead of as a virtio-pci function, with managed/pci ratios.
#
# The disk is build/bench/blk.img (256 MiB of random data, made once), passed with
# tests/vm-run --blockdev: in the sandbox it is L1's virtio disk /dev/vdb (QEMU TCG's
# emulated disk on the host file), and the native fio, vqvm and QEMU all use that block
# device; in direct mode they use the file. The guests find it by its serial ("data"),
# and fio on the read-only tools disk (a copy of build/images/tools.ext4) ("tools").
set -euo pipefail
prog=blk.sh
prog_name=blk
. "$(dirname "$0")/lib.sh"

runtime=${BENCH_FIO_RUNTIME:-3}
[[ "$runtime" =~ ^[1-9][0-9]*$ ]] || die "BENCH_FIO_RUNTIME wants seconds, got '$runtime'"
memory=256
img=$out_dir/blk.img
size_mib=256
if [ ! -f "$img" ] || [ "$(stat -c %s "$img")" != $((size_mib * 1048576)) ]; then
	echo "$prog: making $img ($size_mib MiB of random data)" >&2
	head -c $((size_mib * 1048576)) /dev/urandom >"$img.tmp"
	mv -f "$img.tmp" "$img"
fi
bench_tools

bench_header "blk: fio on a virtio-blk disk, guest 1 vCPU, $memory MiB"
echo "fio jobs: bench/inner/blk.fio, io_uring, direct=1, ${runtime}s each after a 1 s ramp"
njobs=5
per_run=$((3 * 60 + 3 * njobs * (runtime + 1) + 40))
bench_run blk $((300 + runs * per_run * nvms)) --memory "${memory}M" --cpus 1 \
	--blockdev "$tools" --blockdev "$img" \
	--script "$here/guest/blk.sh" --add "$here/inner/blk.fio:/bench/blk.fio" \
	--host-prog fio \
	--vmm-cmd -- bash "$here/inner/blk.sh" --runs "$runs" --kernel @KERNEL@ --initrd @INITRD@ \
	--memory "$memory" --vqvm "$vqvm" --qemu "$qemu" --disk "$img" --tools "$tools" \
	--jobs "$here/inner/blk.fio" --runtime "$runtime" "${impls_opt[@]}"
bench_table "blk: fio in the guest (vqvm, QEMU) and natively where they run" 1 \
	"4k randread QD1|randread-4k-qd1.iops|IOPS|1|higher" \
	"4k randread QD32|randread-4k-qd32.iops|IOPS|1|higher" \
	"4k randwrite QD1|randwrite-4k-qd1.iops|IOPS|1|higher" \
	"4k randwrite QD32|randwrite-4k-qd32.iops|IOPS|1|higher" \
	"128k seq read QD8|read-128k-qd8.kibs|MiB/s|1024|higher"
[ "$run_rc" = 0 ]
