#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# virtio-blk over virtio-pci on a real guest: fio randwrite+verify (crc32c, 4k..1M, queue
# depth 1 and 64) passes; data written in the guest is byte-identical in the image on the
# host after shutdown; the host's data is visible to the guest; a read-only disk refuses
# writes and stays untouched; 2 vCPUs get 2 queues (MQ). Then, with every virtqueue on an
# I/O thread of its own (--io-loops per-queue): fio verify with one job pinned to each
# vCPU passes and both of the disk's queues complete requests (their MSI-X vectors
# fire), and data the guest wrote and synced survives `kill -9` of vqvm.
. "$(dirname "$0")/../lib.sh"

tools=$root/build/images/tools.ext4
img=$work/data.img
ro=$work/ro.img
truncate -s 64M "$img"
printf 'HOST-MARK' | dd of="$img" conv=notrunc status=none
head -c 1M /dev/urandom >"$ro"
ro_sum=$(sha256sum <"$ro")

cat >"$work/guest.sh" <<'GUEST'
find_dev() { for d in /sys/block/vd*; do [ "$(cat "$d/serial")" = "$1" ] && echo "/dev/${d##*/}"; done; }
data=$(find_dev data) tools=$(find_dev tools) ro=$(find_dev ro)
echo "DEVICES=${data:-none} ${tools:-none} ${ro:-none}"
mkdir -p /tools && mount -o ro "$tools" /tools && . /tools/setup.sh
echo "MQ_QUEUES=$(ls "/sys/block/${data#/dev/}/mq" | wc -l)"
echo "HOSTMARK=$(head -c 9 "$data")"
fio_run() {
	name=$1
	shift
	fio --name="$name" --filename="$data" --ioengine=io_uring --direct=1 --rw=randwrite \
		--verify=crc32c --verify_fatal=1 --do_verify=1 --output-format=terse "$@" \
		>/tmp/fio-$name.out 2>&1
	echo "FIO_${name}_RC=$?"
	# Terse output: field 5 is the job's error number.
	grep '^3;' /tmp/fio-$name.out | cut -d';' -f5 | head -n1 | sed "s/^/FIO_${name}_ERR=/"
	grep -i -m3 'verify\|error' /tmp/fio-$name.out
}
fio_run qd1 --bs=4k --iodepth=1 --size=4M --offset=8M
fio_run qd64 --bsrange=4k-1M --iodepth=64 --size=24M --offset=16M
yes vqvm-pattern-0123456789 | head -c 1048576 >/tmp/pattern
dd if=/tmp/pattern of="$data" bs=1M seek=48 oflag=direct conv=fsync 2>/dev/null
echo "PATTERN_RC=$?"
echo "RO_FLAG=$(cat "/sys/block/${ro#/dev/}/ro")"
dd if=/dev/zero of="$ro" bs=4096 count=1 oflag=direct 2>/dev/null
echo "RO_WRITE_RC=$?"
GUEST

"$vm_run" --script "$work/guest.sh" --cpus 2 --memory 512M \
	--blockdev "$img" --blockdev "$tools" --blockdev "$ro" -- \
	--disk "path=$img,id=data" --disk "path=$tools,readonly,id=tools" \
	--disk "path=$ro,readonly,id=ro" >"$work/out" 2>"$work/err"
status=$?
check "vqvm exits 0" expect_status 0 "$status"
check "three disks found by serial" expect_line "$work/out" '^DEVICES=/dev/vd[a-z] /dev/vd[a-z] /dev/vd[a-z]$'
check "2 vCPUs: 2 queues" expect_line "$work/out" '^MQ_QUEUES=2$'
check "host data visible in the guest" expect_line "$work/out" '^HOSTMARK=HOST-MARK$'
check "fio verify at QD1 4k" expect_line "$work/out" '^FIO_qd1_RC=0$'
check "fio verify at QD1: no error" expect_line "$work/out" '^FIO_qd1_ERR=0$'
check "fio verify at QD64 4k-1M" expect_line "$work/out" '^FIO_qd64_RC=0$'
check "fio verify at QD64: no error" expect_line "$work/out" '^FIO_qd64_ERR=0$'
check "guest wrote its pattern" expect_line "$work/out" '^PATTERN_RC=0$'
check "pattern is byte-identical in the image" \
	cmp -s <(yes vqvm-pattern-0123456789 | head -c 1048576) \
	<(dd if="$img" bs=1M skip=48 count=1 status=none)
check "read-only disk is read-only to the guest" expect_line "$work/out" '^RO_FLAG=1$'
check "writing the read-only disk fails" expect_line "$work/out" '^RO_WRITE_RC=[1-9]'
check "read-only image untouched" test "$(sha256sum <"$ro")" = "$ro_sum"
[ "$failures" -eq 0 ] || { show "$work/out"; show "$work/err"; }

# Per-queue I/O loops: fio traffic on both queues of the disk, then synced data survives
# the VMM's death. One boot for both: each boot is expensive in the sandbox.
truncate -s 16M "$work/crash.img"
cat >"$work/crash.sh" <<'GUEST'
find_dev() { for d in /sys/block/vd*; do [ "$(cat "$d/serial")" = "$1" ] && echo "/dev/${d##*/}"; done; }
disk=$(find_dev crash) tools=$(find_dev tools)
mkdir -p /tools && mount -o ro "$tools" /tools && . /tools/setup.sh
echo "MQ_QUEUES=$(ls "/sys/block/${disk#/dev/}/mq" | wc -l)"
# One job per vCPU, each on its own 2 MiB: blk-mq sends each vCPU's I/O to its own queue.
fio --name=pq --filename="$disk" --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k \
	--iodepth=8 --size=2M --offset=4M --offset_increment=4M --numjobs=2 \
	--cpus_allowed=0,1 --cpus_allowed_policy=split --verify=crc32c --verify_fatal=1 \
	--do_verify=1 --output-format=terse >/tmp/fio-pq.out 2>&1
echo "FIO_pq_RC=$?"
# Terse output, one line per job: field 5 is the job's error number.
echo "FIO_pq_ERRS=$(grep '^3;' /tmp/fio-pq.out | cut -d';' -f5 | tr '\n' ' ')"
grep -i -m3 'verify\|error' /tmp/fio-pq.out
# Interrupts of the disk's request queues (virtioN-req.Q in /proc/interrupts).
vdev=$(basename "$(readlink "/sys/block/${disk#/dev/}/device")")
irqs() { awk -v n="$vdev-req.$1" '$NF == n { s = 0; for (i = 2; i < NF; i++) if ($i ~ /^[0-9]+$/) s += $i; print s }' /proc/interrupts; }
echo "REQ_IRQS=$(irqs 0) $(irqs 1)"
yes vqvm-survivor | head -c 65536 >/tmp/p
dd if=/tmp/p of="$disk" bs=64k seek=3 conv=fsync 2>/dev/null && echo VQVM-SYNCED
sleep 600
GUEST
"$vm_run" --script "$work/crash.sh" --cpus 2 --blockdev "$work/crash.img" --blockdev "$tools" \
	--kill-on VQVM-SYNCED -- --io-loops per-queue --log-level info \
	--disk "path=$work/crash.img,id=crash" --disk "path=$tools,readonly,id=tools" \
	>"$work/crash.out" 2>"$work/crash.err"
status=$?
check "per-queue: one I/O thread per virtqueue" \
	expect_line "$work/crash.err" '4 I/O threads, one per virtqueue'
check "per-queue: 2 vCPUs, 2 queues" expect_line "$work/crash.out" '^MQ_QUEUES=2$'
check "per-queue: fio verify on both queues" expect_line "$work/crash.out" '^FIO_pq_RC=0$'
check "per-queue: fio, no error in either job" \
	expect_line "$work/crash.out" '^FIO_pq_ERRS=0 0 ?$'
check "per-queue: both request queues completed I/O" \
	expect_line "$work/crash.out" '^REQ_IRQS=[1-9][0-9]* [1-9][0-9]*$'
check "kill -9 after sync: status 137" expect_status 137 "$status"
check "synced data is in the image after kill -9" \
	cmp -s <(yes vqvm-survivor | head -c 65536) \
	<(dd if="$work/crash.img" bs=64k skip=3 count=1 status=none)
[ "$failures" -eq 0 ] || { show "$work/crash.out"; show "$work/crash.err"; }
finish
