#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# SendCtrlAltDel: vqvm started with only --api-sock refuses it before InstanceStart
# (400); once the guest is up (its AT keyboard registered on the i8042), the action
# answers 204, the keyboard types Ctrl+Alt+Del on IRQ 1, and the guest kernel, whose
# kernel.ctrl-alt-del is 1 (the default a shell /init keeps), reboots at once: vqvm
# exits 0 before the guest script's end.
. "$(dirname "$0")/../lib.sh"

cat >"$work/guest.sh" <<'GUEST'
echo "CAD_SYSCTL=$(cat /proc/sys/kernel/ctrl-alt-del)"
echo "KBD=$(sed -n 's/^N: Name="\(.*[Kk]eyboard\)"$/\1/p' /proc/bus/input/devices | head -n1)"
echo CAD-READY
sleep 600
echo CAD-NOT-REBOOTED
GUEST

{
	cat "$root/tests/api-client.sh"
	cat <<'DRIVE'
vqvm=$1 kernel=$2 initrd=$3
dir=/tmp/ctrl-alt-del.$$
mkdir -p "$dir"
# As vqvm_start, but the console goes to $dir/console, to see when the guest is up
# (L1 has no /dev/fd for a tee); it is copied to stdout at the end.
sock=$dir/api.sock
"$vqvm" --api-sock "$sock" >"$dir/console" &
pid=$!
for _ in $(seq 100); do
	[ -S "$sock" ] && break
	sleep 0.1
done
api EARLY PUT /actions '{"action_type": "SendCtrlAltDel"}'
echo "API_EARLY_MSG=$(cat "$dir/EARLY")"
api BOOT PUT /boot-source "{\"kernel_image_path\": \"$kernel\", \"initrd_path\": \"$initrd\"}"
api START PUT /actions '{"action_type": "InstanceStart"}'
ready=no
for _ in $(seq 600); do
	grep -q '^CAD-READY' "$dir/console" 2>/dev/null && { ready=yes; break; }
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.5
done
echo "API_READY=$ready"
api CAD PUT /actions '{"action_type": "SendCtrlAltDel"}'
echo "API_CAD_MSG=$(cat "$dir/CAD")"
# The guest reboots at once: give it 60 s, then end it (a failure).
t0=$(date +%s)
for _ in $(seq 120); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.5
done
if kill -0 "$pid" 2>/dev/null; then
	echo "API_CAD_EXIT=timeout"
	kill "$pid"
else
	echo "API_CAD_EXIT=$(($(date +%s) - t0))s"
fi
wait "$pid"
rc=$?
cat "$dir/console" >&3
rm -rf "$dir"
exit "$rc"
DRIVE
} >"$work/drive.sh"

"$vm_run" --script "$work/guest.sh" --timeout 600 --copy "$work/drive.sh" \
	--host-prog curl --host-prog "$vqvm" \
	--vmm-cmd -- bash "$work/drive.sh" "$vqvm" @KERNEL@ @INITRD@ >"$work/out" 2>"$work/err"
status=$?

check "SendCtrlAltDel before InstanceStart: 400" expect_line "$work/err" '^API_EARLY=400$'
check "... saying the VM is not running yet" expect_line "$work/err" '^API_EARLY_MSG=.*not running yet'
check "InstanceStart: 204" expect_line "$work/err" '^API_START=204$'
check "the guest came up" expect_line "$work/err" '^API_READY=yes$'
check "the guest has an AT keyboard on the i8042" expect_line "$work/out" '^KBD=AT .*Set 2 keyboard$'
check "the guest reboots on Ctrl+Alt+Del (kernel.ctrl-alt-del=1)" expect_line "$work/out" '^CAD_SYSCTL=1$'
check "SendCtrlAltDel on the running VM: 204" expect_line "$work/err" '^API_CAD=204$'
check "vqvm ended within 60 s of it" expect_line "$work/err" '^API_CAD_EXIT=[0-9]+s$'
check "vqvm exits 0 (guest reset)" expect_status 0 "$status"
check "the guest script did not run to its end" \
	eval '! grep -Eq "^(CAD-NOT-REBOOTED|VQVM-GUEST-SCRIPT-RC=)" "$work/out"'
[ "$failures" -eq 0 ] || { show "$work/out"; show "$work/err"; }
finish
