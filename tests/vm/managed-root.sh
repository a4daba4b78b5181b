#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Managed devices (guest driver vqvm_mgmt, guest-images/driver) carrying a real guest.
#
# Boot 1, pre-created devices: the root file system is on a managed disk. The kernel runs
# a small initramfs script as PID 1 (rdinit=, because busybox switch_root must be PID 1,
# which a script that the stock /init starts is not) that loads the virtio modules and
# vqvm_mgmt, mounts the ext4 root from /dev/vda (serial "root") and switch_roots into it.
# The root's own init (a static busybox and a script, built here with mkfs.ext4 -d)
# prints a marker with what / is, mounts a second managed disk (the read-only tools disk)
# and runs iperf3 TCP both ways over a managed virtio-net device to the host's TAP,
# writes a file, syncs, remounts / read-only and reboots. On the host the file is in the
# image (debugfs) and e2fsck finds the file system clean.
#
# Boot 2, --managed-precreate off: from guest user space, 100 cycles of `create` blk,
# a 4 KiB direct read of the new /dev/vdX (the backend's host-written marker), `destroy`;
# AVAIL_RES (`avail`) counts down on every create and back up on every destroy, ids are
# new every time, and nothing leaks: the virtio device count and /sys/block are the same
# afterwards, and the active objects of the kmalloc caches and of the caches a virtio
# disk's lifetime touches (see slab_check) grow by no more than a small tolerance.
# No boot may leave an oops, a WARN or a command timeout in dmesg.
. "$(dirname "$0")/../lib.sh"


# --- boot 1: a managed disk as the root file system, a managed NIC ----------------------
token=root-$$-$RANDOM$RANDOM
rootdir=$work/rootdir
mkdir -p "$rootdir"/{bin,dev,proc,sys,tmp,tools,etc,var}
ln -s bin "$rootdir/sbin"
cp /bin/busybox "$rootdir/bin/busybox"
for a in $(/bin/busybox --list); do
	[ "$a" = busybox ] || ln -s busybox "$rootdir/bin/$a"
done
echo "$token" >"$rootdir/etc/vqvm-root-token"
cat >"$rootdir/vqvm-root-init" <<'ROOTINIT'
#!/bin/sh
# init of the managed root file system (PID 1 after switch_root).
export PATH=/bin:/sbin
echo "NEWROOT-MARKER pid=$$"
echo "ROOT_FS=$(awk '$2 == "/" { r = $1 " " $3 " " substr($4, 1, 2) } END { print r }' /proc/mounts)"
echo "ROOT_TOKEN=$(cat /etc/vqvm-root-token)"
echo "INITRAMFS_LEFT=$(ls /init /vqvm-rdinit 2>/dev/null | wc -l)"
mount -t tmpfs tmpfs /tmp
find_dev() {
	for d in /sys/block/vd*; do
		[ -e "$d/serial" ] && [ "$(cat "$d/serial")" = "$1" ] && echo "/dev/${d##*/}"
	done
}
t=$(find_dev tools)
echo "TOOLS_DEV=${t:-none}"
mount -o ro "$t" /tools
echo "TOOLS_RC=$?"
iperf3() { /tools/lib64/ld-linux-x86-64.so.2 --library-path /tools/lib /tools/bin/iperf3 "$@"; }
net=
for n in /sys/class/net/*; do
	[ -e "$n/device" ] && net=${n##*/}
done
echo "NET=${net:-none} MAC=$([ -n "$net" ] && cat "/sys/class/net/$net/address")"
ip link set lo up
ip link set "$net" up
ip addr add 10.79.0.2/24 dev "$net"
ping -c 1 -W 10 10.79.0.1 >/tmp/ping 2>&1
echo "PING_RC=$?"
iperf3 -c 10.79.0.1 -t 2 -f m >/tmp/tx 2>&1
echo "IPERF_TX_RC=$?"
grep -E 'sender|receiver' /tmp/tx | sed 's/^/TX: /'
iperf3 -c 10.79.0.1 -t 2 -f m -R >/tmp/rx 2>&1
echo "IPERF_RX_RC=$?"
grep -E 'sender|receiver' /tmp/rx | sed 's/^/RX: /'
ip link set "$net" down
umount /tools
echo "written on the managed root by pid $$: $(cat /etc/vqvm-root-token)" >/var/vqvm-written
sync
echo "WRITE_RC=$?"
echo "DMESG_BAD=$(dmesg | grep -cE 'WARNING:|BUG:|Oops|Call Trace|blocked for more than|no reply within|no room for a command')"
dmesg | grep -E 'vqvm|WARNING:|BUG:|Oops|Call Trace|EXT4' | sed 's/^/DMESG: /'
umount /tmp
mount -o remount,ro /
echo "REMOUNT_RO_RC=$?"
echo "NEWROOT-DONE"
reboot -f
ROOTINIT
chmod 755 "$rootdir/vqvm-root-init"
rootimg=$work/root.ext4
mkfs.ext4 -q -O ^has_journal -L vqvm-root -d "$rootdir" "$rootimg" 16M ||
	fail "mkfs.ext4 of the root image"

# The second managed disk, read-only: iperf3 and its libraries (a small image of our
# own: build/images/tools.ext4 may be in use by another test's QEMU, which locks it).
tdir=$work/toolsdir
mkdir -p "$tdir/bin" "$tdir/lib" "$tdir/lib64"
cp -L /usr/bin/iperf3 "$tdir/bin/"
cp -L /lib64/ld-linux-x86-64.so.2 "$tdir/lib64/"
for lib in $(ldd /usr/bin/iperf3 | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p'); do
	cp -L "$lib" "$tdir/lib/"
done
tools=$work/tools.ext4
mkfs.ext4 -q -O ^has_journal -L vqvm-tools -d "$tdir" "$tools" 16M ||
	fail "mkfs.ext4 of the tools image"

# PID 1 of the initramfs: what a distribution's initramfs does, in a few lines.
cat >"$work/rdinit" <<'RDINIT'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
# Only what happens from here on counts (the sandbox's L2 boot has a known XSAVE WARN).
dmesg -c >/dev/null
die() { echo "RDINIT-FAIL: $*"; sync; reboot -f; }
echo "RDINIT pid=$$"
while read -r mod; do
	insmod "$mod" || echo "rdinit: insmod $mod failed"
done </etc/modules-load
insmod "/lib/modules/$(uname -r)/extra/vqvm_mgmt.ko"
echo "INSMOD_RC=$?"
i=0
while [ $i -lt 200 ] && ! [ -b /dev/vda ]; do sleep 0.1; i=$((i + 1)); done
echo "VDA_SERIAL=$(cat /sys/block/vda/serial 2>/dev/null)"
mkdir -p /newroot
mount -t ext4 /dev/vda /newroot || die "mount /dev/vda"
echo "ROOT_MOUNT_RC=0"
mount --move /dev /newroot/dev
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
exec switch_root /newroot /vqvm-root-init
RDINIT
chmod 755 "$work/rdinit"

tap_host_script "$work/host.sh" 10.79.0.1 iperf3

t0=$SECONDS
"$vm_run" --add "$work/rdinit:/vqvm-rdinit" --cpus 1 --memory 512M --timeout 300 \
	--blockdev "$rootimg" --blockdev "$tools" \
	--host-setup "$work/host.sh" --host-prog ip --host-prog iperf3 -- \
	--cmdline "quiet rdinit=/vqvm-rdinit" \
	--managed-disk "path=$rootimg,id=root" --managed-disk "path=$tools,readonly,id=tools" \
	--managed-net "tap=vqtap0,mac=52:54:00:12:34:79" \
	>"$work/out1" 2>"$work/err1"
status=$?
echo "boot 1 took $((SECONDS - t0))s"
check "boot 1: vqvm exits 0" expect_status 0 "$status"
check "the initramfs runs as PID 1" expect_line "$work/out1" '^RDINIT pid=1$'
check "it loads vqvm_mgmt" expect_line "$work/out1" '^INSMOD_RC=0$'
check "/dev/vda is the managed root disk" expect_line "$work/out1" '^VDA_SERIAL=root$'
check "ext4 root mounted from /dev/vda" expect_line "$work/out1" '^ROOT_MOUNT_RC=0$'
check "switch_root: the root's init runs as PID 1" expect_line "$work/out1" '^NEWROOT-MARKER pid=1$'
check "/ is /dev/vda, ext4, read-write" expect_line "$work/out1" '^ROOT_FS=/dev/vda ext4 rw$'
check "/ holds the image's files" expect_line "$work/out1" "^ROOT_TOKEN=$token\$"
check "the initramfs is gone" expect_line "$work/out1" '^INITRAMFS_LEFT=0$'
check "second managed disk (tools) mounted" expect_line "$work/out1" '^TOOLS_DEV=/dev/vd[b-z]$'
check "tools usable" expect_line "$work/out1" '^TOOLS_RC=0$'
check "managed NIC with its MAC" expect_line "$work/out1" '^NET=[a-z0-9]+ MAC=52:54:00:12:34:79$'
check "ping the host over the managed NIC" expect_line "$work/out1" '^PING_RC=0$'
check "iperf3 TCP guest -> host" expect_line "$work/out1" '^IPERF_TX_RC=0$'
check "iperf3 TCP host -> guest" expect_line "$work/out1" '^IPERF_RX_RC=0$'
check "iperf3 moved data both ways" eval \
	"grep -Eq '^TX: .* [1-9][0-9.]* [KMG]Bytes .*sender\$' '$work/out1' &&
	 grep -Eq '^RX: .* [1-9][0-9.]* [KMG]Bytes .*sender\$' '$work/out1'"
check "the root's init wrote and synced" expect_line "$work/out1" '^WRITE_RC=0$'
check "boot 1: no oops, WARN or command timeout in dmesg" expect_line "$work/out1" '^DMESG_BAD=0$'
check "/ remounted read-only before reboot" expect_line "$work/out1" '^REMOUNT_RO_RC=0$'
check "the root's init reached its end" expect_line "$work/out1" '^NEWROOT-DONE$'
check "the file written on the managed root is in the image" eval \
	"[ \"\$(debugfs -R 'cat /var/vqvm-written' '$rootimg' 2>/dev/null)\" = \
	   'written on the managed root by pid 1: $token' ]"
check "e2fsck: the root file system is clean" e2fsck -fn "$rootimg"
grep -E '^(TX|RX): .*sender' "$work/out1"
[ "$failures" -eq 0 ] || { show "$work/out1"; show "$work/err1"; }

# --- boot 2: 100 create / read / destroy cycles, no leak --------------------------------
f1=$failures
cycles=100
cycimg=$work/cycle.img
truncate -s 8M "$cycimg"
printf 'CYCLE-MARK' | dd of="$cycimg" conv=notrunc status=none
tol=24 tol_total=64
cat >"$work/guest2.sh" <<GUEST
cycles=$cycles tol=$tol tol_total=$tol_total
GUEST
cat >>"$work/guest2.sh" <<'GUEST'
dmesg -c >/tmp/boot.dmesg
# Kernel messages (5 lines per cycle) stay out of the serial console: in the sandbox every
# character written there is a VM exit.
dmesg -n 1
. /vqvm-lib.sh
find_mgmt
insmod "/lib/modules/$(uname -r)/extra/vqvm_mgmt.ko"
echo "INSMOD_RC=$?"
avail_devs() { read -r w av rest <"$mgmt/avail"; }
virtio_count() { set -- /sys/bus/virtio/devices/*; [ -e "$1" ] && nv=$# || nv=0; }
virtio_count
nv0=$nv
bad_create=0 bad_id=0 bad_dev=0 bad_read=0 bad_destroy=0 bad_gone=0 bad_avail=0 bad_virtio=0 last=0
# cycle: one create / read / destroy, counting what went wrong.
cycle() {
	avail_devs
	a0=$av
	if ! echo blk >"$mgmt/create"; then bad_create=$((bad_create + 1)); return; fi
	read -r id <"$mgmt/last_created"
	[ "$id" -gt "$last" ] || bad_id=$((bad_id + 1))
	last=$id
	avail_devs
	[ "$av" = $((a0 - 1)) ] || { bad_avail=$((bad_avail + 1)); echo "AVAIL after create $id: $a0 -> $av"; }
	virtio_count
	[ "$nv" = $((nv0 + 1)) ] || bad_virtio=$((bad_virtio + 1))
	find_dev cyc
	i=0
	while [ -z "$dev" ] && [ $i -lt 50 ]; do sleep 0.1; find_dev cyc; i=$((i + 1)); done
	if [ -z "$dev" ]; then
		bad_dev=$((bad_dev + 1))
	else
		mark=
		dd if="$dev" of=/tmp/blk bs=4096 count=1 iflag=direct 2>/dev/null &&
			read -r -n 10 mark </tmp/blk
		[ "$mark" = CYCLE-MARK ] || bad_read=$((bad_read + 1))
	fi
	echo "$id" >"$mgmt/destroy" || bad_destroy=$((bad_destroy + 1))
	avail_devs
	[ "$av" = "$a0" ] || { bad_avail=$((bad_avail + 1)); echo "AVAIL after destroy $id: $a0 -> $av"; }
	find_dev cyc
	[ -z "$dev" ] || bad_gone=$((bad_gone + 1))
	virtio_count
	[ "$nv" = "$nv0" ] || bad_virtio=$((bad_virtio + 1))
}
# snapshot NAME: settle, shrink every slab cache (flushes the per-CPU slabs, so
# /proc/slabinfo's active counts are exact), save slabinfo and device counts.
snapshot() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	sleep 1
	for s in /sys/kernel/slab/*/shrink; do echo 1 >"$s"; done 2>/dev/null
	cat /proc/slabinfo >"/tmp/slab.$1"
	echo "VIRTIO_$1=$(ls /sys/bus/virtio/devices | wc -l)"
	echo "BLOCK_$1=$(ls /sys/block | wc -l)"
	echo "AVAIL_$1=$(cat "$mgmt/avail")"
}
# Warm-up: caches and ids the first devices allocate for good (e.g. the first kernfs and
# sysfs nodes, per-cpu blk-mq structures sized once) are not leaks.
for w in 1 2 3; do cycle; done
echo "WARMUP_IDS=$last"
snapshot before
t0=$(cut -d. -f1 /proc/uptime)
n=0
while [ $n -lt $cycles ]; do
	cycle
	n=$((n + 1))
	[ $((n % 25)) != 0 ] || echo "PROGRESS $n $(cut -d' ' -f1 /proc/uptime)"
done
t1=$(cut -d. -f1 /proc/uptime)
echo "CYCLES=$n in $((t1 - t0))s"
echo "BAD create=$bad_create id=$bad_id dev=$bad_dev read=$bad_read destroy=$bad_destroy gone=$bad_gone avail=$bad_avail virtio=$bad_virtio"
echo "LAST_ID=$last"
snapshot after
echo "DEVICES_LEFT=$(wc -l <"$mgmt/devices")"
# Active objects before and after: the kmalloc caches (kmalloc-*, kmalloc-cg-*,
# kmalloc-rcl-*, dma-kmalloc-*) each at most +$tol and all together at most +$tol_total
# (a leak of one object per cycle would show as +$cycles); the caches a virtio disk's
# life allocates from (request_queue, bdev_cache, blkdev_ioc, bio-*, biovec-*,
# kernfs_node_cache, kernfs_iattrs_cache, radix_tree_node) each at most +$tol.
# Computed here: the console is slow.
awk -v tol="$tol" -v ttol="$tol_total" '
	FNR <= 2 { next }
	FNR == NR { b[$1] = $2; next }
	{ d = $2 - b[$1] }
	$1 ~ /^(dma-)?kmalloc-/ { k++; total += d; kind = "kmalloc" }
	$1 ~ /^(request_queue|bdev_cache|blkdev_ioc|biovec-.*|bio-.*|kernfs_node_cache|kernfs_iattrs_cache|radix_tree_node)$/ { o++; others = others " " $1; kind = "other" }
	kind != "" {
		if (d != 0) printf "SLAB %s %d -> %d (%+d)\n", $1, b[$1], $2, d
		if (d > tol) bad++
		kind = ""
	}
	END {
		if (total > ttol) bad++
		print "SLAB_OTHER_CACHES" others
		printf "SLAB_SUMMARY kmalloc_caches=%d kmalloc_total=%+d other_caches=%d over_tolerance=%d\n", k, total, o, bad
	}' /tmp/slab.before /tmp/slab.after
echo "DMESG_BAD=$(dmesg | grep -cE 'WARNING:|BUG:|Oops|Call Trace|blocked for more than|no reply within|no room for a command')"
dmesg | grep -E 'WARNING:|BUG:|Oops|Call Trace|error|fail' | head -n 20 | sed 's/^/DMESG: /'
GUEST

t0=$SECONDS
"$vm_run" --script "$work/guest2.sh" --cpus 1 --memory 512M --timeout 300 \
	--blockdev "$cycimg" -- \
	--cmdline quiet --managed-disk "path=$cycimg,id=cyc" --managed-precreate off \
	>"$work/out2" 2>"$work/err2"
status=$?
echo "boot 2 took $((SECONDS - t0))s"

# slab_check OUT: the guest's verdict on the slab caches (at least 5 kmalloc caches and 3
# others must have been found), and what grew.
slab_check() {
	grep '^SLAB' "$1" | sed 's/^/  /'
	grep -Eq '^SLAB_SUMMARY kmalloc_caches=([5-9]|[1-9][0-9]+) kmalloc_total=[-+][0-9]+ other_caches=([3-9]|[1-9][0-9]+) over_tolerance=0$' "$1"
}

# counts_equal OUT KEY: KEY_before and KEY_after are the same.
counts_equal() {
	local b a
	b=$(sed -n "s/^$2_before=//p" "$1")
	a=$(sed -n "s/^$2_after=//p" "$1")
	echo "  $2: before '$b', after '$a'"
	[ -n "$b" ] && [ "$b" = "$a" ]
}

check "boot 2: vqvm exits 0" expect_status 0 "$status"
check "boot 2: insmod" expect_line "$work/out2" '^INSMOD_RC=0$'
check "one free blk backend before the cycles" expect_line "$work/out2" '^AVAIL_before=devices 1 '
check "$cycles create/read/destroy cycles ran" expect_line "$work/out2" "^CYCLES=$cycles in "
check "every create, new id, disk, 4 KiB read, destroy, removal worked; avail and the virtio device count went down/up each time" \
	expect_line "$work/out2" '^BAD create=0 id=0 dev=0 read=0 destroy=0 gone=0 avail=0 virtio=0$'
check "ids are never reused (each larger than the last)" \
	eval "[ \"\$(sed -n 's/^LAST_ID=//p' '$work/out2')\" -ge $((cycles + 3)) ] 2>/dev/null"
check "no managed device left" expect_line "$work/out2" '^DEVICES_LEFT=0$'
check "virtio device count unchanged" counts_equal "$work/out2" VIRTIO
check "block device count unchanged" counts_equal "$work/out2" BLOCK
check "avail back where it was" counts_equal "$work/out2" AVAIL
check "slab active objects: kmalloc-* each <= +$tol, all <= +$tol_total; blk/kernfs caches each <= +$tol" slab_check "$work/out2"
check "boot 2: no oops, WARN or command timeout in dmesg" expect_line "$work/out2" '^DMESG_BAD=0$'
grep -E '^CYCLES=' "$work/out2"
[ "$failures" -eq "$f1" ] || { show "$work/out2"; show "$work/err2"; }
finish
