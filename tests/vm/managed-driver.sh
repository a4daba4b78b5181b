#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The guest driver of the management device (guest-images/driver, vqvm_mgmt.ko) on a real
# guest. Boot 1, pre-created devices: the module binds PCI 1AF4:10F0, a managed disk
# becomes /dev/vdX (found by serial) that the stock virtio_blk drives, data written in the
# guest is read back and is byte-identical in the image on the host, fio verifies random
# writes at QD32 from both vCPUs, the disk's queue interrupts arrive on MSI-X pool vectors
# and follow the vector to the other vCPU when its affinity moves (the driver re-sends the
# MSI message), a managed virtio-net device pings the host over a TAP, unbind/bind and
# rmmod take everything away and give it back. Boot 2, --managed-precreate off: nothing exists until the guest writes `blk`
# to the sysfs file `create`; `destroy` removes it, ids are never reused, a CREATE with
# no free backend fails, a net device created with a chosen MAC has that MAC. Boot 3,
# through the API: a disk hot-added while the guest runs appears in it, and a host
# removal request makes the driver unregister and DESTROY it. No boot may leave an oops,
# a WARN or a command timeout in dmesg.
. "$(dirname "$0")/../lib.sh"

tools=$root/build/images/tools.ext4
img=$work/managed.img
img2=$work/managed2.img
truncate -s 32M "$img" "$img2"
printf 'HOST-MARK' | dd of="$img" conv=notrunc status=none
printf 'HOST-MRK2' | dd of="$img2" conv=notrunc status=none

tap_host_script "$work/host.sh" 10.78.0.1

# Each guest script's start (helpers: tests/guest/lib.sh).
cat >"$work/common.sh" <<'GUEST'
. /vqvm-lib.sh
# Only what happens from here on counts (the sandbox's L2 boot has a known XSAVE WARN).
dmesg -c >/tmp/boot.dmesg
find_mgmt
echo "MGMT_FUNCTION=${mgmt:-none}"
GUEST

cat >"$work/guest1.sh" <<'GUEST'
. /common.sh
insmod "/lib/modules/$(uname -r)/extra/vqvm_mgmt.ko"
echo "INSMOD_RC=$?"
echo "BOUND=$(basename "$(readlink "$mgmt/driver")")"
sed 's/^/DEVICES: /' "$mgmt/devices"
wait_dev mdata
disk=$dev
echo "DISK=${disk:-none}"
echo "HOSTMARK=$(head -c 9 "$disk")"
yes vqvm-managed-0123456789 | head -c 1048576 >/tmp/pattern
dd if=/tmp/pattern of="$disk" bs=1M seek=4 oflag=direct conv=fsync 2>/dev/null
echo "WRITE_RC=$?"
dd if="$disk" of=/tmp/back bs=1M skip=4 count=1 iflag=direct 2>/dev/null
cmp -s /tmp/pattern /tmp/back
echo "READBACK_RC=$?"
# fio: many requests in flight on both queues, every block verified.
mkdir -p /tools && mount -o ro "$(dev_of tools)" /tools && . /tools/setup.sh
fio --name=managed --filename="$disk" --ioengine=io_uring --direct=1 --rw=randwrite \
	--bsrange=4k-64k --iodepth=32 --size=8M --offset=8M --numjobs=2 --offset_increment=8M \
	--cpus_allowed=0,1 --cpus_allowed_policy=split --verify=crc32c --verify_fatal=1 \
	--do_verify=1 --output-format=terse >/tmp/fio.out 2>&1
echo "FIO_RC=$?"
echo "FIO_ERRS=$(grep '^3;' /tmp/fio.out | cut -d';' -f5 | tr '\n' ' ')"
grep -i -m3 'verify\|error' /tmp/fio.out

# The disk's first request queue: its pool vector, per-CPU counts, then its affinity
# moved to the other vCPU and I/O from vCPU 0 (which blk-mq maps to that queue).
vdev=$(basename "$(readlink "/sys/block/${disk#/dev/}/device")")
echo "MQ_QUEUES=$(ls "/sys/block/${disk#/dev/}/mq" | wc -l)"
irq=$(awk -v n="$vdev-req.0" '$NF == n { sub(":", "", $1); print $1 }' /proc/interrupts)
echo "REQ0_IRQ=${irq:-none}"
counts() { awk -v n="$vdev-req.0" '$NF == n { print $2, $3 }' /proc/interrupts; }
echo "REQ0_COUNTS_BEFORE=$(counts)"
resent() { dmesg | grep -c "$vdev-req.0: MSI message now"; }
resent0=$(resent)
eff=$(cat "/proc/irq/$irq/effective_affinity" 2>/dev/null)
case "$eff" in *1) new=2 ;; *) new=1 ;; esac
echo "$new" >"/proc/irq/$irq/smp_affinity"
echo "AFFINITY_RC=$? $eff->$(cat "/proc/irq/$irq/effective_affinity" 2>/dev/null)"
sleep 1
for i in 1 2 3 4; do
	taskset -c 0 dd if="$disk" of=/dev/null bs=4k count=64 skip=$((i * 100)) iflag=direct 2>/dev/null
done
taskset -c 0 dd if="$disk" of=/tmp/back2 bs=1M skip=4 count=1 iflag=direct 2>/dev/null
cmp -s /tmp/pattern /tmp/back2
echo "AFTER_AFFINITY_READ_RC=$?"
echo "REQ0_COUNTS_AFTER=$(counts) new_mask=$new"
echo "MSI_RESENT=$resent0 $(resent)"

# The managed virtio-net device.
wait_net
echo "NET=${net:-none}"
if [ -n "$net" ]; then
	echo "MAC=$(cat "/sys/class/net/$net/address")"
	ip link set "$net" up
	ip addr add 10.78.0.2/24 dev "$net"
	ping -c 3 -W 5 10.78.0.1 >/tmp/ping 2>&1
	echo "PING_RC=$?"
	tail -n 2 /tmp/ping
	ip link set "$net" down
fi

# Unbind and bind the management function, then unload the module.
bdf=$(basename "$mgmt")
echo "$bdf" >/sys/bus/pci/drivers/vqvm_mgmt/unbind
echo "UNBIND_RC=$?"
echo "AFTER_UNBIND_DISK=$(dev_of mdata)"
echo "AFTER_UNBIND_VIRTIO=$(ls -d "$mgmt"/virtio* 2>/dev/null | wc -l)"
echo "$bdf" >/sys/bus/pci/drivers/vqvm_mgmt/bind
echo "BIND_RC=$?"
wait_dev mdata
disk=$dev
echo "REBOUND_DISK=${disk:-none}"
dd if="$disk" of=/tmp/back3 bs=1M skip=4 count=1 iflag=direct 2>/dev/null
cmp -s /tmp/pattern /tmp/back3
echo "REBOUND_READ_RC=$?"
rmmod vqvm_mgmt
echo "RMMOD_RC=$?"
echo "AFTER_RMMOD_DISK=$(dev_of mdata)"
echo "AFTER_RMMOD_VIRTIO=$(ls -d "$mgmt"/virtio* 2>/dev/null | wc -l)"
dmesg_checks
GUEST

cat >"$work/guest2.sh" <<'GUEST'
. /common.sh
insmod "/lib/modules/$(uname -r)/extra/vqvm_mgmt.ko"
echo "INSMOD_RC=$?"
echo "DEVICES_BEFORE=$(wc -l <"$mgmt/devices")"
echo "AVAIL=$(cat "$mgmt/avail")"
echo blk >"$mgmt/create"
echo "CREATE_RC=$?"
id=$(cat "$mgmt/last_created")
echo "CREATED_ID=$id"
sed 's/^/DEVICES: /' "$mgmt/devices"
wait_dev m2
disk=$dev
echo "DISK=${disk:-none}"
echo "HOSTMARK=$(head -c 9 "$disk")"
yes vqvm-created-9876543210 | head -c 1048576 >/tmp/pattern
dd if=/tmp/pattern of="$disk" bs=1M seek=8 oflag=direct conv=fsync 2>/dev/null
echo "WRITE_RC=$?"
dd if="$disk" of=/tmp/back bs=1M skip=8 count=1 iflag=direct 2>/dev/null
cmp -s /tmp/pattern /tmp/back
echo "READBACK_RC=$?"
echo blk >"$mgmt/create" 2>/dev/null
echo "CREATE_NO_BACKEND_RC=$?"
echo "$id" >"$mgmt/destroy"
echo "DESTROY_RC=$?"
echo "AFTER_DESTROY_DISK=$(dev_of m2)"
echo "DEVICES_AFTER_DESTROY=$(wc -l <"$mgmt/devices")"
echo "$id" >"$mgmt/destroy" 2>/dev/null
echo "DESTROY_AGAIN_RC=$?"
echo blk >"$mgmt/create"
echo "RECREATE_RC=$?"
id2=$(cat "$mgmt/last_created")
echo "RECREATED_ID=$id2 FIRST_ID=$id"
wait_dev m2
disk=$dev
dd if="$disk" of=/tmp/back2 bs=1M skip=8 count=1 iflag=direct 2>/dev/null
cmp -s /tmp/pattern /tmp/back2
echo "RECREATED_READ_RC=$?"
echo "$id2" >"$mgmt/destroy"
echo "DESTROY2_RC=$?"

echo "net mac=52:54:00:ab:cd:ef" >"$mgmt/create"
echo "NET_CREATE_RC=$?"
nid=$(cat "$mgmt/last_created")
sed 's/^/DEVICES: /' "$mgmt/devices"
wait_net
echo "NET_MAC=$( [ -n "$net" ] && cat "/sys/class/net/$net/address")"
if [ -n "$net" ]; then
	ip link set "$net" up
	ip addr add 10.78.0.2/24 dev "$net"
	ping -c 2 -W 5 10.78.0.1 >/tmp/ping 2>&1
	echo "NET_PING_RC=$?"
	ip link set "$net" down
fi
echo "$nid" >"$mgmt/destroy"
echo "NET_DESTROY_RC=$?"
echo "DEVICES_AT_END=$(wc -l <"$mgmt/devices")"
rmmod vqvm_mgmt
echo "RMMOD_RC=$?"
dmesg_checks
GUEST

# MSI_RESENT=B A: the driver logged a new MSI message for req.0 after the affinity change
# (B before it, A after).
resent_check() {
	local l
	l=$(sed -n 's/^MSI_RESENT=//p' "$1")
	# shellcheck disable=SC2086 # split the two numbers
	set -- $l
	[ $# = 2 ] && [ "$2" -gt "$1" ]
}

# REQ0_COUNTS_BEFORE=c0 c1 and REQ0_COUNTS_AFTER=c0 c1 new_mask=M: the count of the
# vCPU in mask M grew.
irq_moved_check() {
	local before after
	before=$(sed -n 's/^REQ0_COUNTS_BEFORE=//p' "$1")
	after=$(sed -n 's/^REQ0_COUNTS_AFTER=//p' "$1")
	# shellcheck disable=SC2086 # split the numbers
	set -- $before $after
	[ $# = 5 ] || return 1
	case "$5" in
	new_mask=2) [ "$4" -gt "$2" ] ;;
	new_mask=1) [ "$3" -gt "$1" ] ;;
	*) return 1 ;;
	esac
}

# --- boot 1: pre-created managed disk and net -------------------------------------------
"$vm_run" --script "$work/guest1.sh" --add "$work/common.sh:/common.sh" --cpus 2 \
	--memory 512M --timeout 400 --blockdev "$img" --blockdev "$tools" \
	--host-setup "$work/host.sh" --host-prog ip -- \
	--disk "path=$tools,readonly,id=tools" --managed-disk "path=$img,id=mdata" \
	--managed-net "tap=vqtap0,mac=52:54:00:12:34:57" \
	>"$work/out1" 2>"$work/err1"
status=$?
check "boot 1: vqvm exits 0" expect_status 0 "$status"
check "the management function is on the PCI bus" expect_line "$work/out1" '^MGMT_FUNCTION=/sys/bus/pci/devices/'
check "insmod vqvm_mgmt" expect_line "$work/out1" '^INSMOD_RC=0$'
check "vqvm_mgmt binds 1AF4:10F0" expect_line "$work/out1" '^BOUND=vqvm_mgmt$'
check "devices lists the pre-created disk" expect_line "$work/out1" '^DEVICES: 1 blk live virtio[0-9]+$'
check "managed disk is a /dev/vdX (serial mdata)" expect_line "$work/out1" '^DISK=/dev/vd[a-z]$'
check "host data visible in the guest" expect_line "$work/out1" '^HOSTMARK=HOST-MARK$'
check "guest writes the managed disk" expect_line "$work/out1" '^WRITE_RC=0$'
check "and reads back what it wrote" expect_line "$work/out1" '^READBACK_RC=0$'
check "fio randwrite+verify, QD32, 2 jobs" expect_line "$work/out1" '^FIO_RC=0$'
check "fio: no error in either job" expect_line "$work/out1" '^FIO_ERRS=0 0 ?$'
check "2 vCPUs: 2 queues" expect_line "$work/out1" '^MQ_QUEUES=2$'
check "req.0 has a pool vector" expect_line "$work/out1" '^REQ0_IRQ=[0-9]+$'
check "affinity of req.0 moved" expect_line "$work/out1" '^AFFINITY_RC=0 '
check "the driver re-sent req.0's MSI message" resent_check "$work/out1"
check "I/O right after the affinity change" expect_line "$work/out1" '^AFTER_AFFINITY_READ_RC=0$'
check "req.0's interrupts arrive on the vCPU it moved to" irq_moved_check "$work/out1"
check "managed net device has its MAC" expect_line "$work/out1" '^MAC=52:54:00:12:34:57$'
check "ping over the managed net device" expect_line "$work/out1" '^PING_RC=0$'
check "unbind" expect_line "$work/out1" '^UNBIND_RC=0$'
check "unbind removes the disk" expect_line "$work/out1" '^AFTER_UNBIND_DISK=$'
check "unbind removes every managed virtio device" expect_line "$work/out1" '^AFTER_UNBIND_VIRTIO=0$'
check "bind again" expect_line "$work/out1" '^BIND_RC=0$'
check "the disk is back after bind" expect_line "$work/out1" '^REBOUND_DISK=/dev/vd[a-z]$'
check "its data too" expect_line "$work/out1" '^REBOUND_READ_RC=0$'
check "rmmod" expect_line "$work/out1" '^RMMOD_RC=0$'
check "rmmod removes the disk" expect_line "$work/out1" '^AFTER_RMMOD_DISK=$'
check "rmmod removes every managed virtio device" expect_line "$work/out1" '^AFTER_RMMOD_VIRTIO=0$'
check "no oops, WARN or command timeout in dmesg" expect_line "$work/out1" '^DMESG_BAD=0$'
check "the pattern is byte-identical in the image" \
	cmp -s <(yes vqvm-managed-0123456789 | head -c 1048576) \
	<(dd if="$img" bs=1M skip=4 count=1 status=none)
[ "$failures" -eq 0 ] || { show "$work/out1"; show "$work/err1"; }

# RECREATED_ID=N FIRST_ID=M with N > M > 0: ids are never reused.
new_id_check() {
	local l
	l=$(grep -m1 '^RECREATED_ID=' "$1") || return 1
	# shellcheck disable=SC2086 # split the two numbers
	set -- ${l//[!0-9 ]/}
	[ $# = 2 ] && [ "$2" -gt 0 ] && [ "$1" -gt "$2" ]
}

# --- boot 2: no pre-creation, the guest creates and destroys through sysfs ---------------
f1=$failures
"$vm_run" --script "$work/guest2.sh" --add "$work/common.sh:/common.sh" --cpus 1 \
	--memory 512M --timeout 300 --blockdev "$img2" \
	--host-setup "$work/host.sh" --host-prog ip -- \
	--managed-disk "path=$img2,id=m2" --managed-net "tap=vqtap0" \
	--managed-precreate off >"$work/out2" 2>"$work/err2"
status=$?
check "boot 2: vqvm exits 0" expect_status 0 "$status"
check "boot 2: insmod" expect_line "$work/out2" '^INSMOD_RC=0$'
check "no devices before create" expect_line "$work/out2" '^DEVICES_BEFORE=0$'
check "avail reports two backends" expect_line "$work/out2" '^AVAIL=devices 2 '
check "create blk" expect_line "$work/out2" '^CREATE_RC=0$'
check "last_created gives its id" expect_line "$work/out2" '^CREATED_ID=[1-9][0-9]*$'
check "devices lists it" expect_line "$work/out2" '^DEVICES: [1-9][0-9]* blk live virtio[0-9]+$'
check "the created disk appears" expect_line "$work/out2" '^DISK=/dev/vd[a-z]$'
check "its backend's data" expect_line "$work/out2" '^HOSTMARK=HOST-MRK2$'
check "write to the created disk" expect_line "$work/out2" '^WRITE_RC=0$'
check "read back from the created disk" expect_line "$work/out2" '^READBACK_RC=0$'
check "create with no free blk backend fails" expect_line "$work/out2" '^CREATE_NO_BACKEND_RC=[1-9]'
check "destroy" expect_line "$work/out2" '^DESTROY_RC=0$'
check "destroy removes the disk" expect_line "$work/out2" '^AFTER_DESTROY_DISK=$'
check "devices is empty after destroy" expect_line "$work/out2" '^DEVICES_AFTER_DESTROY=0$'
check "destroying it again fails" expect_line "$work/out2" '^DESTROY_AGAIN_RC=[1-9]'
check "create again" expect_line "$work/out2" '^RECREATE_RC=0$'
check "the new device has a new id" new_id_check "$work/out2"
check "the backend kept the data" expect_line "$work/out2" '^RECREATED_READ_RC=0$'
check "destroy the second one" expect_line "$work/out2" '^DESTROY2_RC=0$'
check "create net with a MAC" expect_line "$work/out2" '^NET_CREATE_RC=0$'
check "the created net device has that MAC" expect_line "$work/out2" '^NET_MAC=52:54:00:ab:cd:ef$'
check "ping over the created net device" expect_line "$work/out2" '^NET_PING_RC=0$'
check "destroy the net device" expect_line "$work/out2" '^NET_DESTROY_RC=0$'
check "nothing left" expect_line "$work/out2" '^DEVICES_AT_END=0$'
check "boot 2: rmmod" expect_line "$work/out2" '^RMMOD_RC=0$'
check "boot 2: no oops, WARN or command timeout in dmesg" expect_line "$work/out2" '^DMESG_BAD=0$'
check "the created disk's writes are in the image" \
	cmp -s <(yes vqvm-created-9876543210 | head -c 1048576) \
	<(dd if="$img2" bs=1M skip=8 count=1 status=none)
[ "$failures" -eq "$f1" ] || { show "$work/out2"; show "$work/err2"; }

# --- boot 3: hot-add and host removal through the API -------------------------------------
# vqvm runs with --api-sock next to a script that waits for the guest's driver to bring up
# the pre-created disk, hot-adds a second disk (PUT /managed-devices/hot), waits until the
# guest says it used it, and removes it (DELETE: removal_requested, which the guest's
# driver answers by unregistering and DESTROYing the device).
f2=$failures
truncate -s 16M "$work/pre.img" "$work/hot.img"
printf 'HOT-MARK!' | dd of="$work/hot.img" conv=notrunc status=none
cat >"$work/guest3.sh" <<'GUEST'
. /common.sh
insmod "/lib/modules/$(uname -r)/extra/vqvm_mgmt.ko"
echo "INSMOD_RC=$?"
wait_dev pre
echo "PRE_DISK=$dev"
i=0
while [ $i -lt 900 ] && [ -z "$(dev_of hot)" ]; do sleep 0.1; i=$((i + 1)); done
hot=$(dev_of hot)
echo "HOT_DISK=${hot:-none}"
sed 's/^/DEVICES: /' "$mgmt/devices"
echo "HOT_MARK=$(head -c 9 "$hot")"
yes vqvm-hot-plugged | head -c 65536 >/tmp/p
dd if=/tmp/p of="$hot" bs=64k seek=2 oflag=direct conv=fsync 2>/dev/null
dd if="$hot" of=/tmp/b bs=64k skip=2 count=1 iflag=direct 2>/dev/null
cmp -s /tmp/p /tmp/b
echo "HOT_RW_RC=$?"
echo "VQVM-HOT-DONE"
i=0
while [ $i -lt 900 ] && [ -n "$(dev_of hot)" ]; do sleep 0.1; i=$((i + 1)); done
echo "HOT_AFTER_REMOVAL=$(dev_of hot)"
sleep 1
echo "DEVICES_AFTER_REMOVAL=$(cat "$mgmt/devices" | tr '\n' ';')"
echo "PRE_STILL=$(dev_of pre)"
dmesg_checks
GUEST
cat >"$work/drive3.sh" <<'DRIVE'
vqvm=$1 kernel=$2 initrd=$3 pre=$4 hot=$5
dir=/tmp/managed-api.$$
mkdir -p "$dir"
sock=$dir/api.sock
# api NAME METHOD PATH [BODY]: API_NAME=<HTTP status>, the body in $dir/NAME.
api() {
	local name=$1 method=$2 path=$3 body=${4:-}
	local args=(-sS --unix-socket "$sock" -o "$dir/$name" -w '%{http_code}' -X "$method")
	[ -z "$body" ] || args+=(-H 'Content-Type: application/json' -d "$body")
	echo "API_$name=$(curl "${args[@]}" "http://localhost$path")"
}
# api_wait NAME PATH REGEX SECONDS: GET until the body matches; API_NAME=ok or timeout.
api_wait() {
	local i=0
	while [ "$i" -lt $(($4 * 2)) ]; do
		kill -0 "$pid" 2>/dev/null || { echo "API_$1=vqvm-exited"; return 1; }
		curl -sS --unix-socket "$sock" -o "$dir/$1" "http://localhost$2"
		grep -Eq -- "$3" "$dir/$1" && { echo "API_$1=ok"; return 0; }
		sleep 0.5
		i=$((i + 1))
	done
	echo "API_$1=timeout"
}
# The console goes to a file, where the script waits for the guest's marker, and to
# stdout once vqvm exited.
"$vqvm" run --kernel "$kernel" --initrd "$initrd" --memory 512M --serial stdio \
	--managed-max 4 --managed-disk "path=$pre,id=pre" --api-sock "$sock" >"$dir/console" \
	2>"$dir/vqvm.err" &
pid=$!
for _ in $(seq 600); do [ -S "$sock" ] || ! kill -0 "$pid" 2>/dev/null && break; sleep 0.1; done
echo "API_SOCKET=$([ -S "$sock" ] && echo up || echo missing)"
api_wait READY /managed-devices '"state":"driver_ok"' 240
api HOTADD PUT /managed-devices/hot "{\"backend\": \"hot\", \"type\": \"block\", \"path_on_host\": \"$hot\"}"
echo "API_HOTADD_BODY=$(cat "$dir/HOTADD")"
for _ in $(seq 1200); do grep -q VQVM-HOT-DONE "$dir/console" && break; sleep 0.1; done
api REMOVE DELETE /managed-devices/hot
echo "API_REMOVE_BODY=$(cat "$dir/REMOVE")"
api LIST GET /managed-devices
echo "API_LIST_BODY=$(cat "$dir/LIST")"
wait "$pid"
rc=$?
# vqvm's own messages, for the log when something went wrong.
sed 's/^/VQVM_STDERR: /' "$dir/vqvm.err" >&2
cat "$dir/console"
rm -rf "$dir"
exit "$rc"
DRIVE
"$vm_run" --script "$work/guest3.sh" --add "$work/common.sh:/common.sh" --timeout 400 \
	--copy "$work/drive3.sh" --copy "$work/pre.img" --copy "$work/hot.img" \
	--host-prog curl --host-prog "$vqvm" \
	--vmm-cmd -- bash "$work/drive3.sh" "$vqvm" @KERNEL@ @INITRD@ "$work/pre.img" \
	"$work/hot.img" >"$work/out3" 2>"$work/err3"
status=$?
check "boot 3: vqvm exits 0" expect_status 0 "$status"
check "boot 3: insmod" expect_line "$work/out3" '^INSMOD_RC=0$'
check "the guest's driver brought up the pre-created disk" expect_line "$work/out3" '^API_READY=ok$'
check "hot-add through the API" expect_line "$work/out3" '^API_HOTADD=200$'
check "the hot-added disk appears in the guest" expect_line "$work/out3" '^HOT_DISK=/dev/vd[a-z]$'
check "with its data" expect_line "$work/out3" '^HOT_MARK=HOT-MARK!$'
check "and takes writes" expect_line "$work/out3" '^HOT_RW_RC=0$'
check "host removal: DELETE completes (204)" expect_line "$work/out3" '^API_REMOVE=204$'
check "the guest let the disk go" expect_line "$work/out3" '^HOT_AFTER_REMOVAL=$'
check "the driver destroyed it (no forced destruction)" \
	expect_line "$work/out3" 'DMESG: .*managed device 2 destroyed$'
check "devices lists only the pre-created disk" \
	expect_line "$work/out3" '^DEVICES_AFTER_REMOVAL=1 blk live virtio[0-9]+;$'
check "the pre-created disk stays" expect_line "$work/out3" '^PRE_STILL=/dev/vd[a-z]$'
check "boot 3: no oops, WARN or command timeout in dmesg" expect_line "$work/out3" '^DMESG_BAD=0$'
[ "$failures" -eq "$f2" ] || { show "$work/out3"; show "$work/err3"; }
finish
