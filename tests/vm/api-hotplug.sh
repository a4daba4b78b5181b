#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Hot-remove and hot-add cycles of managed disks through the API, on a running guest with
# the management driver (vqvm_mgmt.ko); one boot, vqvm started with --api-sock.
# 1. Removal under I/O: a managed disk is hot-added, fio writes to it (direct, io_uring,
#    a small range, time-based) in the guest's background, and the host DELETEs it while
#    the image is still changing: DELETE replies 204, the driver logs the removal, the
#    disk and its /dev node go away, fio ends with an error, the guest still answers
#    afterwards and vqvm keeps running. The reply comes after the last write: the image's
#    mtime, size and checksum taken right when DELETE returned are still the same at the
#    end of the run (tens of seconds later).
# 2. 50 add/remove cycles of a managed disk (PUT, the guest sees it appear, DELETE, the
#    guest sees it go): every PUT 200 and DELETE 204, and no leak: vqvm's open fds (in
#    /proc/PID/fd, where vqvm runs: L1 in the sandbox) are back to where they were before
#    the cycles (+-1), its VmRSS grew by at most 1 MiB from cycle 5 to cycle 50 (the first
#    cycles warm up allocators) and by at most 4 MiB overall, and the guest's
#    /sys/bus/virtio/devices has as many entries as before. No oops or WARN in the guest.
# Sandbox time: about 160 s on a quiet machine (a cycle takes ~1 s), 350 s with five other
# sandboxes running (3-4 s a cycle); hence --timeout 700.
. "$(dirname "$0")/../lib.sh"

# fio on a tools disk of this test's own (build/images/tools.ext4 may be in use by
# another test's QEMU, which locks it).
tools=$work/tools.ext4
"$root/guest-images/mktools.sh" "$tools" fio || fail "mktools.sh: the tools disk"
cycles=50

cat >"$work/guest.sh" <<'GUEST'
. /vqvm-lib.sh # find_dev, wait_dev, wait_gone: builtins only (forks are slow in the sandbox)
# writes SERIAL-DEV: writes completed on /dev/vdX so far (field 5 of its stat).
writes() {
	read -r _ _ _ _ w _ <"/sys/block/${1#/dev/}/stat" 2>/dev/null
	echo "${w:-0}"
}
dmesg -n 1 # kernel messages would cut into the lines below
dmesg -c >/dev/null # the sandbox's L2 boot has a known XSAVE WARN: only what follows counts
find_dev tools
mkdir -p /tools && mount -o ro "$dev" /tools && . /tools/setup.sh
echo "TOOLS_RC=$?"
insmod "/lib/modules/$(uname -r)/extra/vqvm_mgmt.ko"
echo "INSMOD_RC=$?"
echo "MGMT_READY"

# --- 1. removal under fio
wait_dev fio1 1200
hr=$dev
echo "HR_DISK=${hr:-none}"
fio --name=hr --filename="$hr" --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k \
	--iodepth=16 --size=4M --allow_file_create=0 --time_based --runtime=120 --output-format=terse \
	>/tmp/fio.out 2>&1 &
fpid=$!
# fio loads slowly from the tools disk here: go once its writes complete.
i=0
while [ $i -lt 600 ] && [ "$(writes "$hr")" -lt 64 ] && kill -0 $fpid 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
echo "HR_FIO_RUNNING=$(kill -0 $fpid 2>/dev/null && echo yes || echo no) writes $(writes "$hr")"
echo "HR_GO"
wait_gone fio1 900 && echo "HR_GONE=yes" || echo "HR_GONE=no"
i=0
while [ $i -lt 300 ] && kill -0 $fpid 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
if kill -0 $fpid 2>/dev/null; then
	echo "HR_FIO_HUNG=yes"
	kill -9 $fpid
fi
wait $fpid
echo "HR_FIO_RC=$?"
# Terse output: field 5 is the job's error number.
echo "HR_FIO_ERR=$(grep '^3;' /tmp/fio.out | cut -d';' -f5 | head -n1)"
grep -i -m3 'error' /tmp/fio.out | sed 's/^/HR_FIO: /'
echo "HR_NODE=$([ -e "$hr" ] && echo present || echo gone)"
dmesg | grep -E 'vqvm|virtio' | sed 's/^/HR_DMESG: /'
echo "HR_GUEST_ALIVE=$(echo alive)"

# --- 2. add/remove cycles
v0=$(ls /sys/bus/virtio/devices | wc -l)
echo "CYC_START"
n=1
while [ $n -le CYCLES ]; do
	wait_dev cyc 300 || { echo "CYC_UP_TIMEOUT $n"; break; }
	read -r up _ </proc/uptime
	echo "CYC_UP $n $dev $up"
	wait_gone cyc 300 || { echo "CYC_DOWN_TIMEOUT $n"; break; }
	echo "CYC_DOWN $n end"
	n=$((n + 1))
done
echo "CYC_DONE=$((n - 1))"
echo "VIRTIO_DEVICES=$v0 $(ls /sys/bus/virtio/devices | wc -l)"
# The host says it is done measuring by hot-adding one more disk.
wait_dev done 600 || dev=none
echo "END_DISK=$dev"
echo "DMESG_BAD=$(dmesg | grep -cE 'WARNING:|BUG:|Oops|Call Trace|blocked for more than|no reply within|no room for a command')"
dmesg | grep -E 'WARNING:|BUG:|Oops|Call Trace|blocked for more|no reply|no room' | head -n 5 | sed 's/^/DMESG: /'
GUEST
sed -i "s/CYCLES/$cycles/" "$work/guest.sh"

{
	cat "$root/tests/api-client.sh"
	cat <<'DRIVE'
vqvm=$1 kernel=$2 initrd=$3 tools=$4 cycles=$5
dir=/tmp/api-hotplug.$$
mkdir -p "$dir"
sock=$dir/api.sock
truncate -s 8M "$dir/fio.img"
truncate -s 1M "$dir/cyc.img" "$dir/done.img"
# The guest console goes to stdout and to a file, where the script waits for the guest
# (through a FIFO: L1 has no /dev/fd for a process substitution).
mkfifo "$dir/console.fifo"
tee "$dir/console" <"$dir/console.fifo" >&3 &
"$vqvm" --api-sock "$sock" >"$dir/console.fifo" &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
# wait_console REGEX TENTHS: a console line matches (status 1: timeout, or vqvm ended).
wait_console() {
	local i=0
	while [ "$i" -lt "$2" ]; do
		grep -Eq -- "$1" "$dir/console" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
fds() { ls "/proc/$pid/fd" | wc -l; }
rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status"; }
state() { echo "$(stat -c '%y %s' "$dir/fio.img") $(md5sum <"$dir/fio.img" | cut -c1-32)"; }
disk() { # backend image
	echo "{\"backend\": \"$1\", \"type\": \"block\", \"path_on_host\": \"$2\"}"
}

api MACHINE PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 512, "managed_max": 4}'
api BOOT PUT /boot-source "{\"kernel_image_path\": \"$kernel\", \"initrd_path\": \"$initrd\"}"
api TOOLS PUT /drives/tools "{\"drive_id\": \"tools\", \"path_on_host\": \"$tools\", \"is_root_device\": false, \"is_read_only\": true}"
api START PUT /actions '{"action_type": "InstanceStart"}'
t0=$(date +%s)
wait_console MGMT_READY 3000 && echo "API_GUEST_READY=ok"
echo "API_T_READY=$(($(date +%s) - t0))"

# --- 1. removal under fio
api HR PUT /managed-devices/fio1 "$(disk fio1 "$dir/fio.img")"
echo "API_HR_BODY=$(cat "$dir/HR")"
wait_console HR_GO 600 && echo "API_HR_GO=ok"
s0=$(state)
sleep 1
s1=$(state)
echo "API_HR_WRITING=$([ "$s0" != "$s1" ] && echo yes || echo no)"
t1=$(date +%s)
api HR_DEL DELETE /managed-devices/fio1
s_del=$(state)
echo "API_HR_DEL_SECONDS=$(($(date +%s) - t1))"
echo "API_HR_VQVM_ALIVE=$(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"
echo "API_HR_STATE_AT_DELETE=$s_del"
api HR_LIST GET /managed-devices
echo "API_HR_LISTED=$(grep -c '"fio1"' "$dir/HR_LIST")"

# --- 2. add/remove cycles
wait_console CYC_START 900
echo "API_T_CYC_START=$(($(date +%s) - t0))"
sleep 1
fd0=$(fds) rss0=$(rss) fd5= rss5=
puts=0 dels=0 ups=0 downs=0
# stuck: after a request that failed or never returned, what vqvm holds (its SIGUSR2 state
# dump goes to its stderr, in the log) and what it lists.
stuck() {
	kill -USR2 "$pid"
	echo "API_STUCK_LIST=$(curl -sS --max-time 10 --unix-socket "$sock" http://localhost/managed-devices)"
}
for n in $(seq "$cycles"); do
	# --max-time: a request that never returns shows as 000 here, not as the test's timeout.
	st=$(curl -sS --max-time 60 --unix-socket "$sock" -o "$dir/PUT" -w '%{http_code}' -X PUT \
		-H 'Content-Type: application/json' -d "$(disk cyc "$dir/cyc.img")" \
		http://localhost/managed-devices/cyc)
	[ "$st" = 200 ] && puts=$((puts + 1)) || { echo "API_CYC_PUT_$n=$st $(cat "$dir/PUT")"; stuck; }
	wait_console "CYC_UP $n " 300 && ups=$((ups + 1))
	st=$(curl -sS --max-time 60 --unix-socket "$sock" -o "$dir/DEL" -w '%{http_code}' -X DELETE \
		http://localhost/managed-devices/cyc)
	[ "$st" = 204 ] && dels=$((dels + 1)) || { echo "API_CYC_DEL_$n=$st $(cat "$dir/DEL")"; stuck; }
	wait_console "CYC_DOWN $n end" 300 && downs=$((downs + 1))
	[ "$downs" = "$n" ] || break
	[ "$n" != 5 ] || { sleep 1; fd5=$(fds) rss5=$(rss); }
done
echo "API_T_CYC_END=$(($(date +%s) - t0))"
sleep 1
echo "API_CYC=$puts $ups $dels $downs"
echo "API_FDS=$fd0 $fd5 $(fds)"
echo "API_RSS_KB=$rss0 $rss5 $(rss)"
echo "API_HR_STATE_AT_END=$(state)"
api DONE PUT /managed-devices/done "$(disk done "$dir/done.img")"
wait "$pid"
rc=$?
rm -rf "$dir"
exit "$rc"
DRIVE
} >"$work/drive.sh"

"$vm_run" --script "$work/guest.sh" --timeout 700 --copy "$work/drive.sh" \
	--blockdev "$tools" --host-prog curl --host-prog "$vqvm" \
	--vmm-cmd -- bash "$work/drive.sh" "$vqvm" @KERNEL@ @INITRD@ "$tools" "$cycles" \
	>"$work/out" 2>"$work/err"
status=$?

# API_FDS=start at5 end: end within 1 of start.
fds_check() {
	local l
	l=$(sed -n 's/^API_FDS=//p' "$1")
	# shellcheck disable=SC2086 # split the numbers
	set -- $l
	[ $# = 3 ] && [ "$3" -le $(($1 + 1)) ] && [ "$3" -ge $(($1 - 1)) ]
}
# API_RSS_KB=start at5 end: end <= at5 + 1024 and end <= start + 4096.
rss_check() {
	local l
	l=$(sed -n 's/^API_RSS_KB=//p' "$1")
	# shellcheck disable=SC2086 # split the numbers
	set -- $l
	[ $# = 3 ] && [ "$3" -le $(($2 + 1024)) ] && [ "$3" -le $(($1 + 4096)) ]
}
# The image's stat and checksum when DELETE returned equal those at the end.
unchanged_check() {
	local a b
	a=$(sed -n 's/^API_HR_STATE_AT_DELETE=//p' "$1")
	b=$(sed -n 's/^API_HR_STATE_AT_END=//p' "$1")
	[ -n "$a" ] && [ "$a" = "$b" ] || { echo "  at DELETE: $a; at the end: $b"; return 1; }
}
# fio ended by itself once its disk was gone (not killed after 30 s).
not_hung() { ! grep -q '^HR_FIO_HUNG' "$1"; }
# VIRTIO_DEVICES=before after: equal.
virtio_check() {
	local l
	l=$(sed -n 's/^VIRTIO_DEVICES=//p' "$1" | tr -d '\r')
	# shellcheck disable=SC2086 # split the numbers
	set -- $l
	[ $# = 2 ] && [ "$1" = "$2" ]
}

check "vqvm exits 0 after the guest's reboot" expect_status 0 "$status"
check "InstanceStart: 204" expect_line "$work/err" '^API_START=204$'
check "the guest mounted the tools disk" expect_line "$work/out" '^TOOLS_RC=0$'
check "insmod vqvm_mgmt" expect_line "$work/out" '^INSMOD_RC=0$'
check "under I/O: hot-add 200" expect_line "$work/err" '^API_HR_BODY=\{"backend":"fio1","id":[0-9]+,"state":"driver_ok","status":15,"waited_ms":[0-9]+\}$'
check "under I/O: the guest finds the disk" expect_line "$work/out" '^HR_DISK=/dev/vd[a-z]$'
check "under I/O: fio runs in the background, writing" expect_line "$work/out" '^HR_FIO_RUNNING=yes writes [0-9]+$'
check "under I/O: the image changes while fio runs (before DELETE)" \
	expect_line "$work/err" '^API_HR_WRITING=yes$'
check "under I/O: DELETE 204" expect_line "$work/err" '^API_HR_DEL=204$'
check "under I/O: the guest released it before the 10 s timeout" \
	expect_line "$work/err" '^API_HR_DEL_SECONDS=[0-9]$'
check "under I/O: vqvm still runs after DELETE" expect_line "$work/err" '^API_HR_VQVM_ALIVE=yes$'
check "under I/O: GET no longer lists it" expect_line "$work/err" '^API_HR_LISTED=0$'
check "under I/O: the guest saw the disk go" expect_line "$work/out" '^HR_GONE=yes$'
check "under I/O: its /dev node is gone" expect_line "$work/out" '^HR_NODE=gone$'
check "under I/O: fio ended on its own" not_hung "$work/out"
check "under I/O: fio failed" expect_line "$work/out" '^HR_FIO_RC=[1-9]'
check "under I/O: with an I/O error" expect_line "$work/out" '^HR_FIO_ERR=[1-9][0-9]*$'
check "under I/O: the driver logs the host's removal request" \
	expect_line "$work/out" '^HR_DMESG: .*host requests removal of device [0-9]+'
check "under I/O: the driver logs the device destroyed" \
	expect_line "$work/out" '^HR_DMESG: .*managed device [0-9]+ destroyed'
check "under I/O: the guest still answers afterwards" expect_line "$work/out" '^HR_GUEST_ALIVE=alive$'
check "no write reached the image after DELETE replied (mtime, size, md5)" \
	unchanged_check "$work/err"
check "cycles: all $cycles PUT 200, seen by the guest, DELETE 204, seen gone" \
	expect_line "$work/err" "^API_CYC=$cycles $cycles $cycles $cycles\$"
check "cycles: the guest counted $cycles" expect_line "$work/out" "^CYC_DONE=$cycles\$"
check "cycles: vqvm's open fds back to where they started (+-1)" fds_check "$work/err"
check "cycles: VmRSS +<=1 MiB from cycle 5 to $cycles, +<=4 MiB in all" rss_check "$work/err"
check "cycles: no growth of the guest's /sys/bus/virtio/devices" virtio_check "$work/out"
check "the last hot-add reached the guest" expect_line "$work/out" '^END_DISK=/dev/vd[a-z]$'
check "no oops, WARN or stall in the guest" expect_line "$work/out" '^DMESG_BAD=0$'
grep -E '^API_(FDS|RSS_KB|HR_DEL_SECONDS|CYC|CYC_(PUT|DEL)_[0-9]+|STUCK_LIST|T_[A-Z_]+)=' "$work/err"
[ "$failures" -eq 0 ] || { show "$work/out"; show "$work/err"; }
finish
