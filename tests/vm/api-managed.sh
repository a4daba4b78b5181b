#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Managed devices through the API on a running guest with the management driver
# (vqvm_mgmt.ko). Before the start a backend PUT is only configuration; after
# InstanceStart its managed device comes up in the guest (GET /managed-devices shows
# driver_ok); a PUT hot-adds a read-only disk that the guest finds by its serial with
# the host's data, and GET shows it; DELETE asks the guest to let it go, replies 204
# only once it is gone, and the guest sees it vanish; a second DELETE is a 404; no
# oops or WARN in the guest.
. "$(dirname "$0")/../lib.sh"

# The two sides hand over through pre1's image: the guest writes SEEN in block 8 once it
# has looked at the hot-added disk (then the host removes it), the host writes DONE in
# block 16 once it has asked all it wanted (then the guest ends).
cat >"$work/guest.sh" <<'GUEST'
find_dev() {
	for d in /sys/block/vd*; do
		[ -e "$d/serial" ] && [ "$(cat "$d/serial")" = "$1" ] && echo "/dev/${d##*/}"
	done
}
dmesg -n 1 # kernel messages would cut into the lines below
dmesg -c >/dev/null
insmod "/lib/modules/$(uname -r)/extra/vqvm_mgmt.ko"
echo "INSMOD_RC=$?"
i=0
while [ $i -lt 600 ] && [ -z "$(find_dev hot1)" ]; do sleep 0.5; i=$((i + 1)); done
hot=$(find_dev hot1)
echo "HOT_DISK=${hot:-none}"
[ -n "$hot" ] && echo "HOT_DATA=$(head -c 8 "$hot") RO=$(cat "/sys/block/${hot#/dev/}/ro")"
pre=$(find_dev pre1)
echo "PRE_DISK=${pre:-none}"
printf 'SEEN' | dd of="$pre" bs=512 seek=8 conv=sync,notrunc oflag=direct 2>/dev/null
i=0
while [ $i -lt 240 ] && [ -n "$(find_dev hot1)" ]; do sleep 0.5; i=$((i + 1)); done
echo "HOT_GONE=$([ -z "$(find_dev hot1)" ] && echo yes || echo no)"
i=0
while [ $i -lt 240 ] &&
	[ "$(dd if="$pre" bs=512 skip=16 count=1 iflag=direct 2>/dev/null | head -c 4)" != DONE ]; do
	sleep 0.5
	i=$((i + 1))
done
echo "DMESG_BAD=$(dmesg | grep -cE 'WARNING:|BUG:|Oops|Call Trace')"
GUEST

{
	cat "$root/tests/api-client.sh"
	cat <<'DRIVE'
vqvm=$1 kernel=$2 initrd=$3
dir=/tmp/api-managed.$$
mkdir -p "$dir"
for d in pre hot; do
	truncate -s 1M "$dir/$d.img"
	printf '%s' "$(echo "$d-mark" | tr a-z A-Z)" | dd of="$dir/$d.img" conv=notrunc 2>/dev/null
done
vqvm_start "$vqvm"
api MACHINE PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256, "managed_max": 4}'
api BOOT PUT /boot-source "{\"kernel_image_path\": \"$kernel\", \"initrd_path\": \"$initrd\"}"
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
i=0
while [ $i -lt 240 ] && [ "$(mark 8)" != SEEN ]; do sleep 0.5; i=$((i + 1)); done
echo "API_GUEST_SAW=$(mark 8)"
start=$(date +%s)
api DEL DELETE /managed-devices/hot1
echo "API_DEL_SECONDS=$(($(date +%s) - start))"
api LIST1 GET /managed-devices
echo "API_LIST1_HOT=$(grep -c '"hot1"' "$dir/LIST1")"
api DEL_AGAIN DELETE /managed-devices/hot1
api CONFIG GET /vm/config
echo "API_CONFIG_HOT=$(grep -c '"hot1"' "$dir/CONFIG")"
printf 'DONE' | dd of="$dir/pre.img" bs=512 seek=16 conv=sync,notrunc 2>/dev/null
wait "$pid"
rc=$?
rm -rf "$dir"
exit "$rc"
DRIVE
} >"$work/drive.sh"

"$vm_run" --script "$work/guest.sh" --timeout 600 --copy "$work/drive.sh" \
	--host-prog curl --host-prog "$vqvm" \
	--vmm-cmd -- bash "$work/drive.sh" "$vqvm" @KERNEL@ @INITRD@ >"$work/out" 2>"$work/err"
status=$?

check "vqvm exits 0 after the guest's reboot" expect_status 0 "$status"
check "PUT /managed-devices before the start: 204" expect_line "$work/err" '^API_PRE=204$'
check "before the start it is provisioned, no id" \
	expect_line "$work/err" '^API_LIST0_BODY=\[\{"backend":"pre1".*"id":null,"state":"provisioned"'
check "InstanceStart: 204" expect_line "$work/err" '^API_START=204$'
check "the guest's driver brings pre1 to driver_ok" expect_line "$work/err" '^API_PRE_READY=ok$'
check "hot-add: 200 with the new device's id" \
	expect_line "$work/err" '^API_HOT_BODY=\{"backend":"hot1","id":[0-9]+\}$'
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
check "no oops or WARN in the guest" expect_line "$work/out" '^DMESG_BAD=0$'
[ "$failures" -eq 0 ] || { show "$work/out"; show "$work/err"; }
finish
