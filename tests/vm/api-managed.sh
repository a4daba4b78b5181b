#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Managed devices through the API on a running guest with the management driver
# (vqvm_mgmt.ko), which is all the guest does: no guest-side action brings devices up.
# Before the start a backend PUT is only configuration; after InstanceStart its managed
# device comes up in the guest (GET /managed-devices shows driver_ok).
# Disk: a PUT hot-adds a read-only disk that the guest finds by its serial with the
# host's data, and GET shows it; DELETE asks the guest to let it go, replies 204 only
# once it is gone, and the guest sees it vanish; a second DELETE is a 404.
# Network: a PUT hot-adds a managed net device on a TAP of the host (L1 in the sandbox);
# a new ethX with the given MAC appears in the guest, which gives it an address, pings
# the host and runs iperf3 TCP to it for 2 s; a PUT on the name in use, on a TAP that
# does not exist and on the TAP the device holds are 400s naming the problem, and leave
# nothing behind; DELETE replies 204, the interface disappears in the guest, GET no
# longer lists it, vqvm runs on, and the TAP is free again (a new backend attaches to
# it, and goes again). No oops or WARN in the guest.
. "$(dirname "$0")/../lib.sh"

# iperf3 on a tools disk of this test's own (build/images/tools.ext4 may be in use by
# another test's QEMU, which locks it).
tools=$work/tools.ext4
"$root/guest-images/mktools.sh" "$tools" iperf3 || fail "mktools.sh: the tools disk"
mac=52:54:00:00:00:78

tap_host_script "$work/host.sh" 10.78.0.1 iperf3

# The two sides hand over through pre1's image: the guest writes SEEN in block 8 once it
# has looked at the hot-added disk (then the host removes it), NETS in block 12 once it
# has used the hot-added NIC (then the host removes that) and GONE in block 14 once it
# saw the NIC go; the host writes DONE in block 16 once it has asked all it wanted (then
# the guest ends).
echo "mac=$mac" >"$work/guest.sh"
cat >>"$work/guest.sh" <<'GUEST'
. /vqvm-lib.sh
# mark_wait BLOCK TEXT: until the host wrote TEXT there (2 min at most).
mark_wait() {
	i=0
	while [ $i -lt 240 ] &&
		[ "$(dd if="$pre" bs=512 skip="$1" count=1 iflag=direct 2>/dev/null | head -c 4)" != "$2" ]; do
		sleep 0.5
		i=$((i + 1))
	done
}
dmesg -n 1 # kernel messages would cut into the lines below
dmesg -c >/dev/null
mkdir -p /tools && mount -o ro "$(dev_of tools)" /tools && . /tools/setup.sh
echo "TOOLS_RC=$?"
insmod "/lib/modules/$(uname -r)/extra/vqvm_mgmt.ko"
echo "INSMOD_RC=$?"
wait_dev hot1 3000
hot=$dev
echo "HOT_DISK=${hot:-none}"
[ -n "$hot" ] && echo "HOT_DATA=$(head -c 8 "$hot") RO=$(cat "/sys/block/${hot#/dev/}/ro")"
pre=$(dev_of pre1)
echo "PRE_DISK=${pre:-none}"
printf 'SEEN' | dd of="$pre" bs=512 seek=8 conv=sync,notrunc oflag=direct 2>/dev/null
wait_gone hot1 1200 && echo "HOT_GONE=yes" || echo "HOT_GONE=no"

# --- the hot-added NIC
echo "NET_BEFORE=$(ls /sys/class/net | tr '\n' ' ')"
wait_net "$mac" 1200
echo "NET_IF=${net:-none}"
if [ -n "$net" ]; then
	ip link set lo up
	ip link set "$net" up
	ip addr add 10.78.0.2/24 dev "$net"
	ping -c 3 -W 5 10.78.0.1 >/tmp/ping 2>&1
	echo "NET_PING_RC=$?"
	tail -n 2 /tmp/ping | sed 's/^/NET_PING: /'
	iperf3 -c 10.78.0.1 -t 2 -f m >/tmp/tx 2>&1
	echo "NET_IPERF_RC=$?"
	grep -E 'sender|receiver' /tmp/tx | sed 's/^/NET_TX: /'
fi
printf 'NETS' | dd of="$pre" bs=512 seek=12 conv=sync,notrunc oflag=direct 2>/dev/null
poll 1200 no_net "$mac" && echo "NET_GONE=yes" || echo "NET_GONE=no"
echo "NET_AFTER=$(ls /sys/class/net | tr '\n' ' ')"
printf 'GONE' | dd of="$pre" bs=512 seek=14 conv=sync,notrunc oflag=direct 2>/dev/null
mark_wait 16 DONE
echo "DMESG_BAD=$(dmesg | grep -cE 'WARNING:|BUG:|Oops|Call Trace')"
dmesg | grep -E 'WARNING:|BUG:|Oops|Call Trace' | head -n 5 | sed 's/^/DMESG: /'
GUEST

{
	cat "$root/tests/api-client.sh"
	cat <<'DRIVE'
vqvm=$1 kernel=$2 initrd=$3 tools=$4 mac=$5
dir=/tmp/api-managed.$$
mkdir -p "$dir"
for d in pre hot; do
	truncate -s 1M "$dir/$d.img"
	printf '%s' "$(echo "$d-mark" | tr a-z A-Z)" | dd of="$dir/$d.img" conv=notrunc 2>/dev/null
done
vqvm_start "$vqvm"
api MACHINE PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256, "managed_max": 4}'
api BOOT PUT /boot-source "{\"kernel_image_path\": \"$kernel\", \"initrd_path\": \"$initrd\"}"
api TOOLS PUT /drives/tools "{\"drive_id\": \"tools\", \"path_on_host\": \"$tools\", \"is_root_device\": false, \"is_read_only\": true}"
api PRE PUT /managed-devices/pre1 "{\"backend\": \"pre1\", \"type\": \"block\", \"path_on_host\": \"$dir/pre.img\"}"
api LIST0 GET /managed-devices
echo "API_LIST0_BODY=$(cat "$dir/LIST0")"
api START PUT /actions '{"action_type": "InstanceStart"}'
# The guest's driver brings pre1's device up: then it is listening for hot-adds.
api_wait PRE_READY /managed-devices '"backend":"pre1"[^}]*"state":"driver_ok"' 300
api HOT PUT /managed-devices/hot1 "{\"backend\": \"hot1\", \"type\": \"block\", \"path_on_host\": \"$dir/hot.img\", \"is_read_only\": true}"
echo "API_HOT_BODY=$(cat "$dir/HOT")"
api_wait HOT_READY /managed-devices '"backend":"hot1"[^}]*"state":"driver_ok"' 120
echo "API_HOT_ENTRY=$(grep -o '{"backend":"hot1"[^}]*}' "$dir/HOT_READY")"
mark() { dd if="$dir/pre.img" bs=512 skip="$1" count=1 2>/dev/null | head -c 4; }
# mark_wait BLOCK TEXT: until the guest wrote TEXT there (2 min at most).
mark_wait() {
	local i=0
	while [ $i -lt 240 ] && [ "$(mark "$1")" != "$2" ]; do sleep 0.5; i=$((i + 1)); done
}
mark_wait 8 SEEN
echo "API_GUEST_SAW=$(mark 8)"
start=$(date +%s)
api DEL DELETE /managed-devices/hot1
echo "API_DEL_SECONDS=$(($(date +%s) - start))"
api LIST1 GET /managed-devices
echo "API_LIST1_HOT=$(grep -c '"hot1"' "$dir/LIST1")"
api DEL_AGAIN DELETE /managed-devices/hot1
api CONFIG GET /vm/config
echo "API_CONFIG_HOT=$(grep -c '"hot1"' "$dir/CONFIG")"

# --- the NIC
nic() { # BACKEND TAP
	echo "{\"backend\": \"$1\", \"type\": \"net\", \"host_dev_name\": \"$2\", \"guest_mac\": \"$mac\"}"
}
api NIC PUT /managed-devices/nic1 "$(nic nic1 vqtap0)"
echo "API_NIC_BODY=$(cat "$dir/NIC")"
api NIC_AGAIN PUT /managed-devices/nic1 "$(nic nic1 vqtap0)"
echo "API_NIC_AGAIN_BODY=$(cat "$dir/NIC_AGAIN")"
api NIC_NOTAP PUT /managed-devices/nic2 "$(nic nic2 vqnotap0)"
echo "API_NIC_NOTAP_BODY=$(cat "$dir/NIC_NOTAP")"
api NIC_BUSY PUT /managed-devices/nic3 "$(nic nic3 vqtap0)"
echo "API_NIC_BUSY_BODY=$(cat "$dir/NIC_BUSY")"
api_wait NIC_READY /managed-devices '"backend":"nic1"[^}]*"state":"driver_ok"' 120
echo "API_NIC_LISTED=$(grep -o '"backend":"nic[0-9]"' "$dir/NIC_READY" | tr '\n' ' ')"
mark_wait 12 NETS
echo "API_GUEST_NET=$(mark 12)"
start=$(date +%s)
api NIC_DEL DELETE /managed-devices/nic1
echo "API_NIC_DEL_SECONDS=$(($(date +%s) - start))"
echo "API_NIC_VQVM_ALIVE=$(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"
api NIC_LIST GET /managed-devices
echo "API_NIC_LIST_NIC=$(grep -c '"nic' "$dir/NIC_LIST")"
# The TAP was let go: another backend attaches to it (and goes again), once the guest
# has looked at its interfaces (the new one has the same MAC).
mark_wait 14 GONE
api NIC_REUSE PUT /managed-devices/nic4 "$(nic nic4 vqtap0)"
api_wait NIC4_READY /managed-devices '"backend":"nic4"[^}]*"state":"driver_ok"' 120
api NIC_REUSE_DEL DELETE /managed-devices/nic4
printf 'DONE' | dd of="$dir/pre.img" bs=512 seek=16 conv=sync,notrunc 2>/dev/null
wait "$pid"
rc=$?
rm -rf "$dir"
exit "$rc"
DRIVE
} >"$work/drive.sh"

"$vm_run" --script "$work/guest.sh" --timeout 600 --copy "$work/drive.sh" \
	--blockdev "$tools" --host-setup "$work/host.sh" --host-prog ip --host-prog iperf3 \
	--host-prog curl --host-prog "$vqvm" \
	--vmm-cmd -- bash "$work/drive.sh" "$vqvm" @KERNEL@ @INITRD@ "$tools" "$mac" \
	>"$work/out" 2>"$work/err"
status=$?

# The guest's new interface (NET_IF) is not among those before the hot-add (NET_BEFORE).
new_iface() {
	local n
	n=$(sed -n 's/^NET_IF=//p' "$1")
	[ -n "$n" ] && [ "$n" != none ] && ! grep -Eq "^NET_BEFORE=(.* )?$n " "$1"
}
# NET_AFTER lists the interfaces NET_BEFORE did.
same_ifaces() {
	local b a
	b=$(sed -n 's/^NET_BEFORE=//p' "$1")
	a=$(sed -n 's/^NET_AFTER=//p' "$1")
	echo "  before: '$b', after: '$a'"
	[ -n "$b" ] && [ "$b" = "$a" ]
}

check "vqvm exits 0 after the guest's reboot" expect_status 0 "$status"
check "PUT /managed-devices before the start: 204" expect_line "$work/err" '^API_PRE=204$'
check "before the start it is provisioned, no id" \
	expect_line "$work/err" '^API_LIST0_BODY=\[\{"backend":"pre1".*"id":null,"state":"provisioned"'
check "InstanceStart: 204" expect_line "$work/err" '^API_START=204$'
check "the guest's driver brings pre1 to driver_ok" expect_line "$work/err" '^API_PRE_READY=ok$'
check "hot-add: 200 with the new device's id once the guest's driver brought it up" \
	expect_line "$work/err" '^API_HOT_BODY=\{"backend":"hot1","id":[0-9]+,"state":"driver_ok","status":15,"waited_ms":[0-9]+\}$'
check "the hot-added device reaches driver_ok" expect_line "$work/err" '^API_HOT_READY=ok$'
check "GET lists it, created by the host" \
	expect_line "$work/err" '^API_HOT_ENTRY=.*"created_by":"host"'
check "the guest finds the hot-added disk" expect_line "$work/out" '^HOT_DISK=/dev/vd[a-z]$'
check "with the host's data, read-only" expect_line "$work/out" '^HOT_DATA=HOT-MARK RO=1$'
check "the host waited for the guest to look at it" expect_line "$work/err" '^API_GUEST_SAW=SEEN$'
check "DELETE: 204 once it is gone" expect_line "$work/err" '^API_DEL=204$'
check "the guest released it before the 10 s timeout" \
	expect_line "$work/err" '^API_DEL_SECONDS=[0-9]$'
check "GET no longer lists it" expect_line "$work/err" '^API_LIST1_HOT=0$'
check "GET /vm/config after the removal: 200" expect_line "$work/err" '^API_CONFIG=200$'
check "nor does the configuration have it" expect_line "$work/err" '^API_CONFIG_HOT=0$'
check "a second DELETE: 404" expect_line "$work/err" '^API_DEL_AGAIN=404$'
check "the guest saw it go" expect_line "$work/out" '^HOT_GONE=yes$'
check "pre1 is a disk in the guest too" expect_line "$work/out" '^PRE_DISK=/dev/vd[a-z]$'
check "the guest mounted the tools disk" expect_line "$work/out" '^TOOLS_RC=0$'
check "NIC: hot-add 200 with the new device's id, once up in the guest" \
	expect_line "$work/err" '^API_NIC_BODY=\{"backend":"nic1","id":[0-9]+,"state":"driver_ok","status":15,"waited_ms":[0-9]+\}$'
check "NIC: a PUT on the name in use: 400 naming it" \
	expect_line "$work/err" '^API_NIC_AGAIN=400$'
check "NIC: ... 'exists already'" \
	expect_line "$work/err" "^API_NIC_AGAIN_BODY=\\{\"fault_message\":\"managed-devices: backend 'nic1' exists already"
check "NIC: a TAP that does not exist: 400 naming it" \
	expect_line "$work/err" '^API_NIC_NOTAP=400$'
check "NIC: ... 'tap vqnotap0 does not exist'" \
	expect_line "$work/err" "^API_NIC_NOTAP_BODY=.*\"fault_message\":\"managed-devices: .*tap 'vqnotap0' does not exist"
check "NIC: the TAP another backend holds: 400 naming it" \
	expect_line "$work/err" '^API_NIC_BUSY=400$'
check "NIC: ... 'tap vqtap0 is in use'" \
	expect_line "$work/err" "^API_NIC_BUSY_BODY=.*\"fault_message\":\"managed-devices: .*tap 'vqtap0' is in use"
check "NIC: the hot-added device reaches driver_ok" expect_line "$work/err" '^API_NIC_READY=ok$'
check "NIC: the failed PUTs left nothing in GET /managed-devices" \
	expect_line "$work/err" '^API_NIC_LISTED="backend":"nic1" $'
check "NIC: a new interface with the given MAC appears in the guest" \
	expect_line "$work/out" '^NET_IF=eth[0-9]+$'
check "NIC: ... which was not there before" new_iface "$work/out"
check "NIC: the guest pings the host over it" expect_line "$work/out" '^NET_PING_RC=0$'
check "NIC: iperf3 TCP guest -> host" expect_line "$work/out" '^NET_IPERF_RC=0$'
check "NIC: iperf3 moved data" \
	expect_line "$work/out" '^NET_TX: .* [1-9][0-9.]* [KMG]Bytes .*sender$'
check "NIC: the host waited for the guest to use it" expect_line "$work/err" '^API_GUEST_NET=NETS$'
check "NIC: DELETE 204 once it is gone" expect_line "$work/err" '^API_NIC_DEL=204$'
check "NIC: the guest released it before the 10 s timeout" \
	expect_line "$work/err" '^API_NIC_DEL_SECONDS=[0-9]$'
check "NIC: vqvm still runs after DELETE" expect_line "$work/err" '^API_NIC_VQVM_ALIVE=yes$'
check "NIC: GET no longer lists it" expect_line "$work/err" '^API_NIC_LIST_NIC=0$'
check "NIC: the interface disappears in the guest" expect_line "$work/out" '^NET_GONE=yes$'
check "NIC: ... leaving the interfaces there were before" same_ifaces "$work/out"
check "NIC: the TAP is free again: another backend attaches (200)" \
	expect_line "$work/err" '^API_NIC_REUSE=200$'
check "NIC: ... reaches driver_ok" expect_line "$work/err" '^API_NIC4_READY=ok$'
check "NIC: ... and goes (204)" expect_line "$work/err" '^API_NIC_REUSE_DEL=204$'
check "no oops or WARN in the guest" expect_line "$work/out" '^DMESG_BAD=0$'
grep -E '^(NET_TX|NET_PING): ' "$work/out"
[ "$failures" -eq 0 ] || { show "$work/out"; show "$work/err"; }
finish
