#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Robustness of the guest driver vqvm_mgmt (guest-images/driver) on a real guest, one boot
# with 2 vCPUs, a managed disk (2 queues), a managed net device on a TAP, and a virtio-pci
# tools disk (fio, iperf3) plus a small one with ethtool:
#
# A. Loading twice and load/unload cycles: a second insmod fails with EEXIST and the first
#    instance keeps working; then 20 rmmod/insmod cycles, each bringing the disk (read
#    back) and the net device back; afterwards the virtio device count, the block device
#    count, the interrupt lines, the management function's MSI-X vectors and virtio_ring's
#    module refcount are where they were, and the kmalloc and block/kernfs slab caches grew
#    by no more than a small tolerance (8 objects plus two or three slabs per CPU, the
#    noise of counting active objects while a shell runs: a device's worth of memory
#    left behind per cycle is far above it).
# B. Teardown with I/O in flight: rmmod while fio writes to the managed disk at QD32 (and
#    iperf3 sends over the managed NIC), then the same with unbind of the PCI function:
#    each completes within a bound, fio fails and exits, no oops/WARN/hung task, and after
#    insmod / bind the disk is back and reads what was written before.
# C. Per-queue reset (VIRTIO_F_RING_RESET, transportq VQ_RESET): the net device negotiates
#    bit 40, and `ethtool -G` resizes its rings (virtio_net's virtqueue_resize) while an
#    iperf3 TCP stream runs: the new sizes hold, the stream survives, ping works after.
# D. Bring-up that fails for want of MSI-X pool vectors: with max_pool_vectors=4 the disk
#    takes 3 and the net device's two queues share the last one (ping, a ring resize and
#    iperf3 over the shared vector, which then follows 4 affinity changes); with max_pool_vectors=2 the net device's find_vqs
#    fails: dmesg says why, virtio_net's probe fails, the device is listed as needs_reset
#    and can be destroyed through sysfs; a guest `create net` then fails with ENOSPC and
#    leaves nothing behind (10 tries: no virtio device, no slab growth, AVAIL_RES back);
#    the disk keeps working; once the disk is destroyed, `create net` works again.
# No phase may leave an oops, a WARN, a hung task or a command timeout in dmesg.
. "$(dirname "$0")/../lib.sh"

tools=$root/build/images/tools.ext4
img=$work/managed.img
truncate -s 64M "$img"
printf 'ROBUST-MARK' | dd of="$img" conv=notrunc status=none

# ethtool for the guest, on a small image of its own (the tools disk has fio and iperf3).
ethimg=$work/ethtool.ext4
if command -v ethtool >/dev/null; then
	"$root/guest-images/mktools.sh" "$ethimg" ethtool >"$work/mktools.log" 2>&1 ||
		{ cat "$work/mktools.log"; fail "building the ethtool image"; }
else
	fail "ethtool is not installed on the host (make deps)"
fi
[ -f "$ethimg" ] || truncate -s 1M "$ethimg"

tap_host_script "$work/host.sh" 10.77.0.1 iperf3 iperf3:5202 iperf3:5203

cat >"$work/guest.sh" <<'GUEST'
# Only what happens from here on counts (the sandbox's L2 boot has a known XSAVE WARN).
dmesg -c >/tmp/boot.dmesg
# Kernel messages stay out of the serial console (slow in the sandbox); dmesg has them.
dmesg -n 1
ko=/lib/modules/$(uname -r)/extra/vqvm_mgmt.ko
. /vqvm-lib.sh
kernel_watch
find_mgmt
bdf=${mgmt##*/}
echo "MGMT_FUNCTION=${mgmt:-none}"
net_up() { # NET: address it, one ping
	ip link set "$1" up && ip addr add 10.77.0.2/24 dev "$1" 2>/dev/null
	ping -c 1 -W 5 10.77.0.1 >/dev/null 2>&1 || ping -c 2 -W 5 10.77.0.1 >/dev/null 2>&1
}
now() { read -r u _ </proc/uptime; echo "${u%.*}${u#*.}"; } # centiseconds
# shellcheck disable=SC2086 # count GLOB: expand it
count() { set -- $1; [ -e "$1" ] && echo $# || echo 0; }
virtio_count() { count "/sys/bus/virtio/devices/*"; }
msix_count() { count "$mgmt/msi_irqs/*"; }
irq_lines() { grep -cE 'vqvm|virtio[0-9]+-' /proc/interrupts; }
ring_refcnt() { cat /sys/module/virtio_ring/refcnt; }
read_mark() { # DEV: the host's marker at offset 0
	dd if="$1" bs=4096 count=1 iflag=direct 2>/dev/null | head -c 11
}
# snapshot NAME: settle, shrink every slab cache (flushes the per-CPU slabs, so the active
# counts are exact but for what the shell itself allocates meanwhile), three times, and
# save the smallest active count of each cache; print the device and interrupt counts.
snapshot() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	sleep 1
	# Through a pipe: files written meanwhile would grow the page cache's radix_tree_node.
	for _ in 1 2 3; do
		for s in /sys/kernel/slab/*/shrink; do echo 1 >"$s"; done 2>/dev/null
		cat /proc/slabinfo
	done | awk '/^(slabinfo|#)/ { next } !($1 in m) || $2 < m[$1] { m[$1] = $2; l[$1] = $0 }
		END { print "slabinfo"; print "#"; for (c in l) { $0 = l[c]; $2 = m[c]; print } }' \
		>"/tmp/slab.$1"
	echo "COUNTS_$1=virtio $(virtio_count) block $(count "/sys/block/*") irqs $(irq_lines) msix $(msix_count) ring_refcnt $(ring_refcnt)"
}
# slab_diff TAG BEFORE AFTER TOL: active objects of the kmalloc caches and of the caches a
# virtio disk's or NIC's life allocates from, each at most +TOL plus two slabs per CPU
# (three for objects under 1 KiB): the snapshot's own allocations refill per-CPU slabs,
# which count as fully used (measured noise: up to ~2.3 slabs per CPU of kmalloc-96).
slab_diff() {
	awk -v tag="$1" -v tol="$4" -v ncpu="$(grep -c ^processor /proc/cpuinfo)" '
		FNR <= 2 { next }
		FNR == NR { b[$1] = $2; next }
		{ d = $2 - b[$1]; lim = tol + ncpu * $5 * ($4 < 1024 ? 3 : 2) }
		$1 ~ /^(dma-)?kmalloc-/ { k++; total += d * $4; kind = 1 }
		$1 ~ /^(request_queue|bdev_cache|blkdev_ioc|biovec-.*|bio-.*|kernfs_node_cache|kernfs_iattrs_cache|radix_tree_node|skbuff_head_cache)$/ { o++; kind = 1 }
		kind {
			if (d != 0) printf "SLAB_%s %s %d -> %d (%+d, limit +%d)\n", tag, $1, b[$1], $2, d, lim
			if (d > lim) bad++
			kind = 0
		}
		END {
			printf "SLAB_SUMMARY_%s kmalloc_caches=%d kmalloc_bytes=%+d other_caches=%d over_tolerance=%d\n", tag, k, total, o, bad
		}' "/tmp/slab.$2" "/tmp/slab.$3"
}
mkdir -p /tools /eth
mount -o ro "$(dev_of tools)" /tools && . /tools/setup.sh
mount -o ro "$(dev_of ethtool)" /eth
export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:/eth/lib/x86_64-linux-gnu:/eth/usr/lib/x86_64-linux-gnu"
ethtool() { /eth/usr/bin/ethtool "$@"; }
rings() { ethtool -g "$1" | awk '/^Current/ { c = 1 } c && /^RX:/ { rx = $2 } c && /^TX:/ { tx = $2 } END { print rx, tx }'; }
refcnt0=$(ring_refcnt)
T0=$(now)
phase() { echo "PHASE_$1 at $(($(now) - T0))cs"; } # where the guest's time goes

# --- A. load twice, load/unload cycles ----------------------------------------------------
insmod "$ko"
echo "INSMOD_RC=$?"
wait_dev mdata
disk=$dev
echo "DISK=${disk:-none} MARK=$(read_mark "$disk")"
insmod "$ko" 2>/tmp/insmod2.err
echo "INSMOD_AGAIN_RC=$?"
echo "INSMOD_AGAIN_ERR=$(cat /tmp/insmod2.err)"
echo "BOUND_AFTER_AGAIN=$(basename "$(readlink "$mgmt/driver")")"
echo "MARK_AFTER_AGAIN=$(read_mark "$disk")"
wait_net
echo "NET=${net:-none}"
net_up "$net"
echo "PING_A_RC=$?"
# One cycle to warm up (caches and ids a first reload allocates for good), then the count.
rmmod vqvm_mgmt
insmod "$ko"
wait_dev mdata
wait_net
phase A_SNAP
snapshot cycles_before
phase A_CYCLES
bad_rmmod=0 bad_gone=0 bad_insmod=0 bad_disk=0 bad_net=0
cycles=20
cyc=0
t0=$(now)
while [ $cyc -lt $cycles ]; do
	rmmod vqvm_mgmt || bad_rmmod=$((bad_rmmod + 1))
	! find_dev mdata && ! find_net && [ "$(msix_count)" = 0 ] ||
		bad_gone=$((bad_gone + 1))
	insmod "$ko" || bad_insmod=$((bad_insmod + 1))
	wait_dev mdata && [ "$(read_mark "$dev")" = ROBUST-MARK ] || bad_disk=$((bad_disk + 1))
	wait_net || bad_net=$((bad_net + 1))
	cyc=$((cyc + 1))
done
echo "CYCLES=$cyc in $(($(now) - t0))cs"
echo "CYCLES_BAD rmmod=$bad_rmmod gone=$bad_gone insmod=$bad_insmod disk=$bad_disk net=$bad_net"
snapshot cycles_after
slab_diff cycles cycles_before cycles_after 8
wait_net
net_up "$net"
echo "PING_AFTER_CYCLES_RC=$?"

phase B
# --- B. rmmod and unbind with I/O in flight ----------------------------------------------
wait_dev mdata
disk=$dev
yes robust-pattern-0123456789 | head -c 1048576 >/tmp/pattern
dd if=/tmp/pattern of="$disk" bs=1M seek=32 oflag=direct conv=fsync 2>/dev/null
echo "PATTERN_WRITE_RC=$?"
# reads_pattern DEV MIB: the MiB at MIB on DEV is /tmp/pattern.
reads_pattern() {
	dd if="$1" of=/tmp/back bs=1M skip="$2" count=1 iflag=direct 2>/dev/null &&
		cmp -s /tmp/pattern /tmp/back
}
# inflight_teardown NAME CMD...: fio randwrites (QD32) on the disk, iperf3 sends over the
# NIC; once writes complete, CMD runs (timed); then fio must end by itself (iperf3 gives up
# 5 s after its NIC went, or is killed: a TCP stream need not notice that soon).
inflight_teardown() {
	name=$1 port=$2
	shift 2
	# allow_file_create=0: once the disk is gone, fio must not create /dev/vdX as a file.
	w0=$(awk '{ print $5 }' "/sys/block/${disk#/dev/}/stat")
	fio --name=inflight --filename="$disk" --allow_file_create=0 --ioengine=io_uring \
		--direct=1 --rw=randwrite --bs=4k --iodepth=32 --size=16M --offset=8M \
		--time_based --runtime=120 --output-format=terse >"/tmp/fio.$name" 2>&1 &
	fpid=$!
	# A server of its own: one whose client vanished with its NIC stays busy for minutes.
	iperf3 -c 10.77.0.1 -p "$port" -t 120 --snd-timeout 5000 >"/tmp/iperf.$name" 2>&1 &
	ipid=$!
	# fio takes seconds to start in an emulated guest: wait for its writes.
	i=0
	w1=$w0
	while [ $i -lt 600 ] && [ $((w1 - w0)) -lt 200 ] && kill -0 $fpid 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
		w1=$(awk '{ print $5 }' "/sys/block/${disk#/dev/}/stat")
	done
	sleep 1
	w1=$(awk '{ print $5 }' "/sys/block/${disk#/dev/}/stat")
	echo "${name}_WRITES_BEFORE=$((w1 - w0)) inflight $(cat "/sys/block/${disk#/dev/}/inflight")"
	kill -0 $fpid 2>/dev/null || sed "s/^/${name}_FIO_EARLY: /" "/tmp/fio.$name"
	t0=$(now)
	# Watchdog: if CMD hangs, show where every blocked task waits (the failure's evidence).
	( sleep 40; echo "${name}_HUNG: blocked tasks follow"; echo w >/proc/sysrq-trigger
	  sleep 1; dmesg | tail -n 200 | sed "s/^/${name}_HUNG: /" ) &
	wdog=$!
	"$@"
	echo "${name}_RC=$? in $(($(now) - t0))cs"
	kill $wdog 2>/dev/null
	i=0
	while [ $i -lt 300 ] && kill -0 $fpid 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	ended=yes
	kill -0 $fpid 2>/dev/null && { ended=no; kill -9 $fpid; }
	wait $fpid
	frc=$?
	echo "${name}_FIO_ENDED=$ended fio_rc=$frc after $((i / 10))s"
	i=0
	while [ $i -lt 100 ] && kill -0 $ipid 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -9 $ipid 2>/dev/null && echo "${name}_IPERF_KILLED"
	wait $ipid
	echo "${name}_IPERF_RC=$?"
	grep -m2 -i 'error' "/tmp/fio.$name" | sed "s/^/${name}_FIO: /"
}
inflight_teardown RMMOD 5202 rmmod vqvm_mgmt
echo "AFTER_RMMOD_DISK=$(dev_of mdata) VIRTIO=$(virtio_count) MSIX=$(msix_count)"
insmod "$ko"
echo "RELOAD_RC=$?"
wait_dev mdata
disk=$dev
reads_pattern "$disk" 32
echo "RELOAD_READ_RC=$?"
wait_net
net_up "$net"
echo "RELOAD_PING_RC=$?"
unbind() { echo "$bdf" >/sys/bus/pci/drivers/vqvm_mgmt/unbind; }
inflight_teardown UNBIND 5203 unbind
echo "AFTER_UNBIND_DISK=$(dev_of mdata) VIRTIO=$(virtio_count) MSIX=$(msix_count)"
echo "$bdf" >/sys/bus/pci/drivers/vqvm_mgmt/bind
echo "BIND_RC=$?"
wait_dev mdata
disk=$dev
reads_pattern "$disk" 32
echo "REBIND_READ_RC=$?"
dd if=/tmp/pattern of="$disk" bs=1M seek=40 oflag=direct conv=fsync 2>/dev/null &&
	reads_pattern "$disk" 40
echo "REBIND_RW_RC=$?"
wait_net
net_up "$net"
echo "REBIND_PING_RC=$?"

phase C
# --- C. per-queue reset: ethtool -G ------------------------------------------------------
vnet=$(basename "$(readlink "/sys/class/net/$net/device")")
echo "NET_RING_RESET_BIT=$(cut -c41 "/sys/bus/virtio/devices/$vnet/features")"
# resize_test TAG: rings before, resizes during an iperf3 stream, rings after, ping.
resize_test() {
	echo "$1_RINGS_BEFORE=$(rings "$net")"
	iperf3 -c 10.77.0.1 -t 6 -f m >"/tmp/iperf.$1" 2>&1 &
	ipid=$!
	sleep 1.5
	rc=0
	for s in "128 64" "64 128" "256 256" "32 32"; do
		# shellcheck disable=SC2086 # split "rx tx"
		set -- "$1" $s
		ethtool -G "$net" rx "$2" tx "$3" || rc=$?
		[ "$(rings "$net")" = "$2 $3" ] || rc=99
		sleep 0.5
	done
	wait $ipid
	irc=$?
	echo "$1_IPERF_RC=$irc"
	if [ $irc -eq 0 ]; then
		grep -E 'sender|receiver' "/tmp/iperf.$1" | sed "s/^/$1_IPERF: /"
	else
		tail -n 20 "/tmp/iperf.$1" | sed "s/^/$1_IPERF: /"
		dmesg | tail -n 20 | sed "s/^/$1_DMESG: /"
	fi
	echo "$1_RESIZE_RC=$rc"
	echo "$1_RINGS_AFTER=$(rings "$net")"
	ping -c 3 -W 5 10.77.0.1 >/dev/null 2>&1
	echo "$1_PING_RC=$?"
	ethtool -G "$net" rx 256 tx 256
	echo "$1_RESTORE_RC=$? $(rings "$net")"
	ping -c 2 -W 5 10.77.0.1 >/dev/null 2>&1
	echo "$1_PING2_RC=$?"
}
resize_test PERVQ

phase D
# --- D. MSI-X pool exhaustion ---------------------------------------------------------------
rmmod vqvm_mgmt
echo "RMMOD_FOR_D_RC=$?"
insmod "$ko" max_pool_vectors=4
echo "INSMOD_POOL4_RC=$?"
wait_dev mdata
disk=$dev
wait_net
echo "POOL4_DISK=${disk:-none} NET=${net:-none} MSIX=$(msix_count)"
grep -E 'virtio[0-9]+-' /proc/interrupts | awk '{ print "POOL4_IRQ:", $NF }'
net_up "$net"
echo "POOL4_PING_RC=$?"
resize_test SHARED
# The shared vector follows affinity changes under an iperf3 stream: its queues move to
# the new message together (masked meanwhile), none fires at a vector x86 has freed.
sirq=$(awk '$NF ~ /-virtqueues$/ { sub(":", "", $1); print $1 }' /proc/interrupts)
moves() { dmesg | grep -c 'virtqueues: MSI message now'; }
moves0=$(moves)
iperf3 -c 10.77.0.1 -t 4 -f m >/tmp/iperf.aff 2>&1 &
ipid=$!
sleep 1
arc=0
for m in 2 1 2 1; do
	echo $m >"/proc/irq/$sirq/smp_affinity" || arc=$?
	sleep 0.5
done
wait $ipid
irc=$?
echo "SHARED_AFFINITY_RC=$arc iperf=$irc moves=$(($(moves) - moves0))"
ping -c 2 -W 5 10.77.0.1 >/dev/null 2>&1
echo "SHARED_AFFINITY_PING_RC=$?"
echo "POOL4_MARK=$(read_mark "$disk")"
rmmod vqvm_mgmt
insmod "$ko" max_pool_vectors=2
echo "INSMOD_POOL2_RC=$?"
wait_dev mdata
disk=$dev
sleep 1
sed 's/^/POOL2_DEVICES: /' "$mgmt/devices"
nid=$(awk '$2 == "net" { print $1 }' "$mgmt/devices")
nvirtio=$(awk '$2 == "net" { print $4 }' "$mgmt/devices")
find_net
echo "POOL2_NET_DEV=$net DRIVER=$(basename "$(readlink "/sys/bus/virtio/devices/$nvirtio/driver" 2>/dev/null)")"
echo "POOL2_MARK=$(read_mark "$disk")"
v0=$(virtio_count)
echo "$nid" >"$mgmt/destroy"
echo "POOL2_DESTROY_RC=$? virtio $v0 -> $(virtio_count) devices $(wc -l <"$mgmt/devices")"
phase D2
snapshot fail_before
avail0=$(cat "$mgmt/avail")
bad_create=0
tries=0
while [ $tries -lt 10 ]; do
	echo net >"$mgmt/create" 2>/tmp/create.err && bad_create=$((bad_create + 1))
	tries=$((tries + 1))
done
echo "FAILED_CREATES=$tries unexpected_successes=$bad_create err=$(cat /tmp/create.err)"
echo "AVAIL_AFTER_FAILED=$( [ "$(cat "$mgmt/avail")" = "$avail0" ] && echo same || echo "$avail0 -> $(cat "$mgmt/avail")")"
snapshot fail_after
slab_diff fail fail_before fail_after 8
echo "POOL2_MARK_AFTER=$(read_mark "$disk")"
did=$(awk '$2 == "blk" { print $1 }' "$mgmt/devices")
echo "$did" >"$mgmt/destroy"
echo "DISK_DESTROY_RC=$?"
echo net >"$mgmt/create"
echo "CREATE_NET_RC=$?"
wait_net
net_up "$net"
echo "CREATED_NET_PING_RC=$?"
sed 's/^/FINAL_DEVICES: /' "$mgmt/devices"
rmmod vqvm_mgmt
echo "FINAL_RMMOD_RC=$? VIRTIO=$(virtio_count) MSIX=$(msix_count) ring_refcnt $(ring_refcnt) (was $refcnt0)"
phase END

echo "DMESG_BAD=$(dmesg | grep -cE 'WARNING:|BUG:|Oops|Call Trace|blocked for more than|no reply within|no room for a command')"
dmesg | grep -E 'vqvm|virtio|WARNING:|BUG:|Oops|Call Trace|blocked' | grep -v 'I/O error' |
	tail -n 80 | sed 's/^/DMESG: /'
echo "DMESG_IO_ERRORS=$(dmesg | grep -c 'I/O error')"
echo "DMESG_SHARED=$(dmesg | grep -c 'queues share one MSI-X pool vector')"
echo "DMESG_NO_VECTOR=$(dmesg | grep -c 'no free MSI-X pool vector for its queues')"
echo "DMESG_PROBE_FAILED=$(dmesg | grep -cE 'virtio_net: probe of virtio[0-9]+ failed with error -28')"
echo "DMESG_CREATE_FAILED=$(dmesg | grep -c 'failed bring-up (-28); destroying it')"
GUEST

t0=$SECONDS
"$vm_run" --script "$work/guest.sh" --cpus 2 --memory 512M --timeout 500 \
	--blockdev "$img" --blockdev "$tools" --copy "$ethimg" \
	--host-setup "$work/host.sh" --host-prog ip --host-prog iperf3 -- \
	--disk "path=$tools,readonly,id=tools" --disk "path=$ethimg,readonly,id=ethtool" \
	--managed-disk "path=$img,id=mdata" --managed-net "tap=vqtap0,mac=52:54:00:12:34:77" \
	>"$work/out" 2>"$work/err"
status=$?
echo "boot took $((SECONDS - t0))s"
out=$work/out

# counts_equal KEY_A KEY_B: the COUNTS_ lines of two snapshots are the same.
counts_equal() {
	local a b
	a=$(sed -n "s/^COUNTS_$1=//p" "$out")
	b=$(sed -n "s/^COUNTS_$2=//p" "$out")
	echo "  $1: '$a', $2: '$b'"
	[ -n "$a" ] && [ "$a" = "$b" ]
}
# slab_ok TAG: the guest's verdict (at least 5 kmalloc caches and 3 others found).
slab_ok() {
	grep "^SLAB_.*$1" "$out" | sed 's/^/  /'
	grep -Eq "^SLAB_SUMMARY_$1 kmalloc_caches=([5-9]|[1-9][0-9]+) kmalloc_bytes=[-+][0-9]+ other_caches=([3-9]|[1-9][0-9]+) over_tolerance=0\$" "$out"
}
# took KEY MAX: "KEY_RC=0 in Ncs" with N <= MAX centiseconds.
took() {
	local l
	l=$(grep -m1 "^$1_RC=" "$out") || return 1
	echo "  $l"
	[[ "$l" =~ ^$1_RC=0\ in\ ([0-9]+)cs$ ]] && [ "${BASH_REMATCH[1]}" -le "$2" ]
}

check "vqvm exits 0" expect_status 0 "$status"
check "the management function is on the PCI bus" expect_line "$out" '^MGMT_FUNCTION=/sys/bus/pci/devices/'
# A
check "A: insmod" expect_line "$out" '^INSMOD_RC=0$'
check "A: the managed disk with the host's data" expect_line "$out" '^DISK=/dev/vd[a-z] MARK=ROBUST-MARK$'
check "A: a second insmod fails" expect_line "$out" '^INSMOD_AGAIN_RC=[1-9]'
check "A: with EEXIST" expect_line "$out" '^INSMOD_AGAIN_ERR=.*File exists'
check "A: the first instance stays bound" expect_line "$out" '^BOUND_AFTER_AGAIN=vqvm_mgmt$'
check "A: and its disk keeps working" expect_line "$out" '^MARK_AFTER_AGAIN=ROBUST-MARK$'
check "A: ping over the managed NIC" expect_line "$out" '^PING_A_RC=0$'
check "A: 20 rmmod/insmod cycles ran" expect_line "$out" '^CYCLES=20 in '
check "A: every rmmod removed disk, NIC and vectors; every insmod brought disk (read) and NIC back" \
	expect_line "$out" '^CYCLES_BAD rmmod=0 gone=0 insmod=0 disk=0 net=0$'
check "A: virtio/block devices, IRQ lines, MSI-X vectors, virtio_ring refcount as before" \
	counts_equal cycles_before cycles_after
check "A: slab: kmalloc-* and blk/kernfs/skb caches each <= +8 + 2-3 slabs per CPU" slab_ok cycles
check "A: ping after the cycles" expect_line "$out" '^PING_AFTER_CYCLES_RC=0$'
# B
check "B: pattern written" expect_line "$out" '^PATTERN_WRITE_RC=0$'
check "B: fio was writing when rmmod started" expect_line "$out" '^RMMOD_WRITES_BEFORE=[1-9][0-9]* '
check "B: rmmod with I/O in flight completes within 30 s" took RMMOD 3000
check "B: fio ended by itself, with an error" expect_line "$out" '^RMMOD_FIO_ENDED=yes fio_rc=[1-9]'
check "B: after rmmod no managed disk, no vectors" expect_line "$out" '^AFTER_RMMOD_DISK= VIRTIO=[0-9]+ MSIX=0$'
check "B: insmod again" expect_line "$out" '^RELOAD_RC=0$'
check "B: the disk reads what was written before" expect_line "$out" '^RELOAD_READ_RC=0$'
check "B: ping after the reload" expect_line "$out" '^RELOAD_PING_RC=0$'
check "B: fio was writing when unbind started" expect_line "$out" '^UNBIND_WRITES_BEFORE=[1-9][0-9]* '
check "B: unbind with I/O in flight completes within 30 s" took UNBIND 3000
check "B: fio ended by itself after unbind, with an error" \
	expect_line "$out" '^UNBIND_FIO_ENDED=yes fio_rc=[1-9]'
check "B: after unbind no managed disk, no vectors" expect_line "$out" '^AFTER_UNBIND_DISK= VIRTIO=[0-9]+ MSIX=0$'
check "B: bind again" expect_line "$out" '^BIND_RC=0$'
check "B: the disk reads what was written before" expect_line "$out" '^REBIND_READ_RC=0$'
check "B: and takes writes" expect_line "$out" '^REBIND_RW_RC=0$'
check "B: ping after bind" expect_line "$out" '^REBIND_PING_RC=0$'
# C
check "C: the managed NIC negotiated RING_RESET (bit 40)" expect_line "$out" '^NET_RING_RESET_BIT=1$'
check "C: rings 256/256 at first" expect_line "$out" '^PERVQ_RINGS_BEFORE=256 256$'
check "C: ethtool -G to 128/64, 64/128, 256/256, 32/32 under iperf3: each size holds" \
	expect_line "$out" '^PERVQ_RESIZE_RC=0$'
check "C: the iperf3 stream survived the resizes" expect_line "$out" '^PERVQ_IPERF_RC=0$'
check "C: rings 32/32 after" expect_line "$out" '^PERVQ_RINGS_AFTER=32 32$'
check "C: ping over the 32-entry rings" expect_line "$out" '^PERVQ_PING_RC=0$'
check "C: back to 256/256, ping" eval "grep -q '^PERVQ_RESTORE_RC=0 256 256\$' '$out' && grep -q '^PERVQ_PING2_RC=0\$' '$out'"
# D
check "D: insmod max_pool_vectors=4" expect_line "$out" '^INSMOD_POOL4_RC=0$'
check "D: disk and NIC with 4 pool vectors" expect_line "$out" '^POOL4_DISK=/dev/vd[a-z] NET=[a-z0-9]+ MSIX=6$'
check "D: the NIC's queues share one vector" expect_line "$out" '^POOL4_IRQ: virtio[0-9]+-virtqueues$'
check "D: dmesg says so" expect_line "$out" '^DMESG_SHARED=[1-9]'
check "D: ping over the shared vector" expect_line "$out" '^POOL4_PING_RC=0$'
check "D: ring resizes on the shared vector under iperf3" \
	eval "grep -q '^SHARED_RESIZE_RC=0\$' '$out' && grep -q '^SHARED_IPERF_RC=0\$' '$out' && grep -q '^SHARED_PING_RC=0\$' '$out'"
check "D: the shared vector follows 4 affinity changes under iperf3, ping after" \
	eval "grep -Eq '^SHARED_AFFINITY_RC=0 iperf=0 moves=[1-9]' '$out' && grep -q '^SHARED_AFFINITY_PING_RC=0\$' '$out'"
check "D: the disk works beside it" expect_line "$out" '^POOL4_MARK=ROBUST-MARK$'
check "D: insmod max_pool_vectors=2" expect_line "$out" '^INSMOD_POOL2_RC=0$'
check "D: the NIC's bring-up failures are in dmesg (1 at insmod, 10 creates)" \
	expect_line "$out" '^DMESG_NO_VECTOR=11$'
check "D: virtio_net's probe failed with ENOSPC each time" expect_line "$out" '^DMESG_PROBE_FAILED=11$'
check "D: each failed create was destroyed" expect_line "$out" '^DMESG_CREATE_FAILED=10$'
check "D: devices lists the NIC as needs_reset" expect_line "$out" '^POOL2_DEVICES: [0-9]+ net needs_reset virtio[0-9]+$'
check "D: no net interface, no driver bound" expect_line "$out" '^POOL2_NET_DEV= DRIVER=$'
check "D: the disk works" expect_line "$out" '^POOL2_MARK=ROBUST-MARK$'
check "D: the failed NIC is destroyed through sysfs" \
	expect_line "$out" '^POOL2_DESTROY_RC=0 virtio ([0-9]+) -> ([0-9]+) devices 1$'
check "D: 10 guest creates of a NIC fail" expect_line "$out" '^FAILED_CREATES=10 unexpected_successes=0 err=.*No space left on device'
check "D: AVAIL_RES back where it was" expect_line "$out" '^AVAIL_AFTER_FAILED=same$'
check "D: virtio/block devices, IRQ lines, MSI-X vectors as before the failed creates" \
	counts_equal fail_before fail_after
check "D: slab after the failed creates: each cache <= +8 + 2-3 slabs per CPU" slab_ok fail
check "D: the disk still works" expect_line "$out" '^POOL2_MARK_AFTER=ROBUST-MARK$'
check "D: the disk destroyed" expect_line "$out" '^DISK_DESTROY_RC=0$'
check "D: then create net works" expect_line "$out" '^CREATE_NET_RC=0$'
check "D: and pings" expect_line "$out" '^CREATED_NET_PING_RC=0$'
check "final rmmod leaves no virtio device of ours, no vector, virtio_ring's refcount as at start" \
	eval "grep -Eq '^FINAL_RMMOD_RC=0 VIRTIO=2 MSIX=0 ring_refcnt ([0-9]+) \\(was \\1\\)\$' '$out'"
check "no oops, WARN, hung task or command timeout in dmesg" expect_line "$out" '^DMESG_BAD=0$'
grep -E '^(CYCLES|RMMOD_RC|UNBIND_RC|[A-Z]+_WRITES_BEFORE|PHASE_)' "$out"
if [ "$failures" -ne 0 ]; then
	echo "---- the guest's results"
	grep -E '^[A-Z][A-Z0-9_]*(=|: )' "$out"
	show "$out"
	show "$work/err"
fi
finish
