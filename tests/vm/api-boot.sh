#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A guest booted entirely through the API with `curl --unix-socket`: vqvm starts with
# only --api-sock, gets machine-config, boot-source (with boot_args), a drive and
# metrics by PUT, then InstanceStart; the guest runs with 2 vCPUs, 192 MiB, the command
# line and the disk it was given; GET / says Running; PATCH /vm pauses and resumes it;
# FlushMetrics writes a line, and the line written at exit counts vCPU exits; changes
# to the configuration after the start are refused with a 400; while a stalled client
# holds a request open (its body never comes), other requests are answered at once, 20
# clients at once all get theirs, and the guest runs on (PATCH /vm, its script); the
# stalled one gets its 400 when its body ends; the guest's reboot ends vqvm with status
# 0 and the socket is gone.
. "$(dirname "$0")/../lib.sh"

# The guest's side: what it was given.
cat >"$work/guest.sh" <<'GUEST'
echo "NPROC=$(nproc)"
echo "MEMTOTAL_KB=$(awk '/^MemTotal/ {print $2}' /proc/meminfo)"
echo "CMDLINE=$(cat /proc/cmdline)"
for d in /sys/block/vd*; do echo "DISK=${d##*/} $(cat "$d/serial") $(cat "$d/ro")"; done
echo "DISK_DATA=$(head -c 8 /dev/vda)"
GUEST

# The VMM command vm-run runs (here or in the sandbox's L1): vqvm with only an API
# socket, then curl drives it (tests/api-client.sh).
{
	cat "$root/tests/api-client.sh"
	cat <<'DRIVE'
vqvm=$1 kernel=$2 initrd=$3
dir=/tmp/api-boot.$$
mkdir -p "$dir"
printf 'API-DISK' >"$dir/disk.img"
dd if=/dev/zero of="$dir/disk.img" bs=512 count=2047 seek=1 2>/dev/null
vqvm_start "$vqvm"
echo "API_SOCK_MODE=$(stat -c %a "$sock" 2>/dev/null)"
api INFO0 GET /
echo "API_STATE0=$(cat "$dir/INFO0")"
api MACHINE PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 192}'
api BOOT PUT /boot-source "{\"kernel_image_path\": \"$kernel\", \"initrd_path\": \"$initrd\", \"boot_args\": \"vqvm.test=api-42\"}"
api DRIVE PUT /drives/apidisk "{\"drive_id\": \"apidisk\", \"path_on_host\": \"$dir/disk.img\", \"is_root_device\": false, \"is_read_only\": true}"
api METRICS PUT /metrics "{\"metrics_path\": \"$dir/metrics.json\"}"
api BAD PUT /machine-config '{"vcpu_count": 0, "mem_size_mib": 192}'
echo "API_BAD_MSG=$(cat "$dir/BAD")"
api START PUT /actions '{"action_type": "InstanceStart"}'
cat "$dir/START"
api INFO1 GET /
echo "API_STATE1=$(cat "$dir/INFO1")"
api LATE PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 192}'
# A stalled client: curl sends a PUT's headers, then waits for a body from a FIFO that
# nobody writes to until the end of this part (only this shell holds it open).
mkfifo "$dir/slow"
exec 6<>"$dir/slow"
curl -sS --unix-socket "$sock" -o "$dir/SLOW" -w '%{http_code}' -X PUT -T "$dir/slow" \
	http://localhost/machine-config >"$dir/SLOW_STATUS" 2>&1 6>&- &
slow=$!
sleep 1
echo "API_STALL_INFO=$(curl -sS --unix-socket "$sock" -o /dev/null \
	-w '%{http_code} %{time_total}' http://localhost/)"
many=
for _ in $(seq 20); do
	curl -sS --unix-socket "$sock" -o /dev/null -w '%{http_code}\n' \
		http://localhost/machine-config >>"$dir/many" 2>&1 &
	many="$many $!"
done
# shellcheck disable=SC2086 # the pids
wait $many
echo "API_MANY_200=$(grep -c '^200$' "$dir/many")"
echo "API_SLOW_WAITING=$(kill -0 "$slow" 2>/dev/null && echo yes || echo no)"
exec 6>&-
wait "$slow"
echo "API_SLOW=$(cat "$dir/SLOW_STATUS") $(cat "$dir/SLOW")"
api PAUSE PATCH /vm '{"state": "Paused"}'
api INFO2 GET /
echo "API_STATE2=$(cat "$dir/INFO2")"
api RESUME PATCH /vm '{"state": "Resumed"}'
api INFO3 GET /
echo "API_STATE3=$(cat "$dir/INFO3")"
api CONFIG GET /vm/config
echo "API_CONFIG_VCPUS=$(grep -o '"vcpu_count":[0-9]*' "$dir/CONFIG")"
api FLUSH PUT /actions '{"action_type": "FlushMetrics"}'
echo "API_METRICS_LINES=$(grep -c utc_timestamp_ms "$dir/metrics.json")"
wait "$pid"
rc=$?
# The line written as the VM ended has its final counters.
echo "API_METRICS_IO=$(grep '"vm":' "$dir/metrics.json" | tail -n 1 | grep -o '"io":[0-9]*')"
echo "API_SOCK_LEFT=$([ -e "$sock" ] && echo yes || echo no)"
rm -rf "$dir"
exit "$rc"
DRIVE
} >"$work/drive.sh"

"$vm_run" --script "$work/guest.sh" --timeout 400 --copy "$work/drive.sh" \
	--host-prog curl --host-prog "$vqvm" \
	--vmm-cmd -- bash "$work/drive.sh" "$vqvm" @KERNEL@ @INITRD@ >"$work/out" 2>"$work/err"
status=$?

check "vqvm exits 0 after the guest's reboot" expect_status 0 "$status"
check "the socket is created 0600" expect_line "$work/err" '^API_SOCK_MODE=600$'
check "GET / before the start: Not started" expect_line "$work/err" '^API_STATE0=.*"state":"Not started"'
check "PUT /machine-config: 204" expect_line "$work/err" '^API_MACHINE=204$'
check "PUT /boot-source: 204" expect_line "$work/err" '^API_BOOT=204$'
check "PUT /drives/apidisk: 204" expect_line "$work/err" '^API_DRIVE=204$'
check "PUT /metrics: 204" expect_line "$work/err" '^API_METRICS=204$'
check "a bad vcpu_count: 400 naming the field" \
	expect_line "$work/err" '^API_BAD_MSG=\{"fault_message":"machine-config: vcpu_count: 0 is out of range'
check "InstanceStart: 204" expect_line "$work/err" '^API_START=204$'
check "GET / after the start: Running" expect_line "$work/err" '^API_STATE1=.*"state":"Running"'
check "machine-config after the start: 400" expect_line "$work/err" '^API_LATE=400$'
check "a stalled client: others are answered at once (< 2 s)" \
	expect_line "$work/err" '^API_STALL_INFO=200 [01]\.[0-9]+$'
check "20 clients at once: 20 x 200" expect_line "$work/err" '^API_MANY_200=20$'
check "the stalled client was still waiting meanwhile" \
	expect_line "$work/err" '^API_SLOW_WAITING=yes$'
check "its body ends empty: 400" \
	expect_line "$work/err" '^API_SLOW=400 \{"fault_message":"a JSON body is required"\}$'
check "PATCH /vm Paused: 204" expect_line "$work/err" '^API_PAUSE=204$'
check "GET / while paused: Paused" expect_line "$work/err" '^API_STATE2=.*"state":"Paused"'
check "PATCH /vm Resumed: 204" expect_line "$work/err" '^API_RESUME=204$'
check "GET / after resuming: Running" expect_line "$work/err" '^API_STATE3=.*"state":"Running"'
check "GET /vm/config shows 2 vCPUs" expect_line "$work/err" '^API_CONFIG_VCPUS="vcpu_count":2$'
check "FlushMetrics: 204" expect_line "$work/err" '^API_FLUSH=204$'
check "FlushMetrics wrote a line" expect_line "$work/err" '^API_METRICS_LINES=[1-9]'
check "the last metrics line counts port I/O exits" \
	expect_line "$work/err" '^API_METRICS_IO="io":[1-9][0-9]*$'
check "guest reached init" expect_line "$work/out" '^VQVM-GUEST-INIT-OK$'
check "the guest has 2 vCPUs" expect_line "$work/out" '^NPROC=2$'
memtotal=$(sed -n 's/^MEMTOTAL_KB=//p' "$work/out")
check "MemTotal ${memtotal:-?} kB fits 192 MiB" \
	test "${memtotal:-0}" -ge $((192 * 1024 * 7 / 8 - 48 * 1024)) -a "${memtotal:-0}" -le $((192 * 1024))
check "boot_args appended to the defaults" \
	expect_line "$work/out" '^CMDLINE=reboot=k panic=1 .*console=ttyS0 vqvm.test=api-42$'
check "the drive is vda, serial apidisk, read-only" expect_line "$work/out" '^DISK=vda apidisk 1$'
check "the drive's data reaches the guest" expect_line "$work/out" '^DISK_DATA=API-DISK$'
check "script exit status reported" expect_line "$work/out" '^VQVM-GUEST-SCRIPT-RC=0$'
check "the socket is removed on exit" expect_line "$work/err" '^API_SOCK_LEFT=no$'
[ "$failures" -eq 0 ] || { show "$work/out"; show "$work/err"; }
finish
