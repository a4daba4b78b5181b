#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# vqvm's run path with a freestanding guest, directly on this host's KVM (it works on PVM,
# which cannot boot Linux): the command line arrives, a reset through the i8042 exits 0, a
# panic banner before the reset exits 1, a triple fault exits 1 with the vCPU's state
# logged, serial output goes where --serial says, and --dump-dtb writes a tree dtc can
# read. With --io-loops per-queue, a disk's queues get their own named I/O threads, which
# start and stop with the VM.
. "$(dirname "$0")/../lib.sh"

[ -e /dev/kvm ] || { echo "SKIP: no /dev/kvm on this host"; exit 0; }

# run NAME ARGS...: run vqvm with a tiny guest, capture out/err/status.
run() {
	local name=$1
	shift
	timeout 30 "$vqvm" run "$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null
	echo $? >"$work/$name.status"
}

run reset --kernel "$tiny/tiny-reset.bzImage" --cmdline "hello=world" --cpus 2
check "reset: exit 0" expect_status 0 "$(cat "$work/reset.status")"
check "reset: cmdline reaches the guest" expect_line "$work/reset.out" \
	'^tiny guest: cmdline=reboot=k panic=1 pci=conf1 .* console=ttyS0 hello=world$'
check "reset: nothing on stderr" test ! -s "$work/reset.err"

run panic --kernel "$tiny/tiny-panic.bzImage"
check "panic: exit 1" expect_status 1 "$(cat "$work/panic.status")"
check "panic: reason on stderr" expect_line "$work/panic.err" '^vqvm: guest kernel panicked$'

run fault --kernel "$tiny/tiny-fault.bzImage"
check "triple fault: exit 1" expect_status 1 "$(cat "$work/fault.status")"
check "triple fault: reason on stderr" expect_line "$work/fault.err" 'triple-fault'
# The vCPU's state is logged: the guest stopped at its ud2 (0f 0b), in 64-bit mode, with
# the boot IDT (one entry: limit 7) that made the #UD a triple fault.
check "triple fault: rip and mode logged" \
	expect_line "$work/fault.err" 'vcpu0: rip 0x[0-9a-f]{16} rsp .*, cpl 0, 64-bit mode$'
check "triple fault: the code at rip is the ud2" \
	expect_line "$work/fault.err" 'vcpu0: code at rip: 0f 0b( [0-9a-f]{2})*$'
check "triple fault: descriptor tables logged" \
	expect_line "$work/fault.err" 'vcpu0: gdt 0x[0-9a-f]+ limit 0x1f, idt 0x[0-9a-f]+ limit 0x7'

run file --kernel "$tiny/tiny-reset.bzImage" --serial "file:$work/console.log"
check "serial file: exit 0" expect_status 0 "$(cat "$work/file.status")"
check "serial file: console in the file" expect_line "$work/console.log" '^tiny guest: cmdline='
check "serial file: nothing on stdout" test ! -s "$work/file.out"

run none --kernel "$tiny/tiny-reset.bzImage" --serial none
check "serial none: exit 0, no output" \
	eval '[ "$(cat "$work/none.status")" = 0 ] && [ ! -s "$work/none.out" ]'

run dtb --kernel "$tiny/tiny-reset.bzImage" --cpus 3 --memory 128M --dump-dtb "$work/vm.dtb" \
	--cmdline "dtb=yes"
check "dump-dtb: exit 0" expect_status 0 "$(cat "$work/dtb.status")"
dtc -I dtb -O dts -o "$work/vm.dts" "$work/vm.dtb" 2>"$work/dtc.err"
check "dump-dtb: dtc reads it" test -s "$work/vm.dts"
check "dump-dtb: three cpu nodes" test "$(grep -c 'cpu@[0-9]' "$work/vm.dts")" = 3
check "dump-dtb: bootargs" expect_line "$work/vm.dts" 'bootargs = ".*dtb=yes"'
check "dump-dtb: memory node" expect_line "$work/vm.dts" 'memory@0'
check "dump-dtb: serial node" expect_line "$work/vm.dts" 'serial@3f8'

# spin NAME SIG ARGS...: start a spinning guest, list its threads' names in NAME.threads
# after a second, send SIG (SIG1,SIG2: each in turn, half a second apart) and wait (5 s at
# most) for vqvm to end; its status in $status.
spin() {
	local name=$1 sig=$2 pid
	shift 2
	"$vqvm" run --kernel "$tiny/tiny-spin.bzImage" --cpus 2 --serial none "$@" \
		>"$work/$name.out" 2>"$work/$name.err" </dev/null &
	pid=$!
	sleep 1
	cat /proc/"$pid"/task/*/comm >"$work/$name.threads" 2>/dev/null
	for s in ${sig//,/ }; do
		kill -"$s" "$pid"
		sleep 0.5
	done
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		fail "$name: vqvm still running 5 s after SIG$sig"
		kill -9 "$pid"
	fi
	wait "$pid"
	status=$?
}

# SIGTERM and SIGINT stop a running VM in order (status 128+N, a reason on stderr).
for sig in TERM INT; do
	spin sig "$sig"
	want=$((128 + $(kill -l "$sig")))
	check "SIG$sig: exit $want" expect_status "$want" "$status"
	check "SIG$sig: reason on stderr" expect_line "$work/sig.err" "stopped by signal"
done

# SIGUSR2 does not stop it: the state dump says where each vCPU thread is (in the guest,
# both spinning there) at any log level.
spin dump USR2,TERM --log-level error
check "SIGUSR2: then SIGTERM: exit 143" expect_status 143 "$status"
check "SIGUSR2: vcpu0 in the guest" expect_line "$work/dump.err" \
	'vcpu0: in the guest \(KVM_RUN\) for [0-9.]+ s, [0-9]+ exits'
check "SIGUSR2: vcpu1 in the guest" expect_line "$work/dump.err" 'vcpu1: in the guest'
check "SIGUSR2: the dump ends" expect_line "$work/dump.err" 'state dump ends'

# --io-loops per-queue: a disk with 2 queues runs them on threads io-blk0-q0 and
# io-blk0-q1; they stop in order with the VM, on a signal or a guest reset.
truncate -s 1M "$work/disk.img"
spin perq TERM --disk "path=$work/disk.img" --io-loops per-queue
check "per-queue: thread io-blk0-q0" grep -qx io-blk0-q0 "$work/perq.threads"
check "per-queue: thread io-blk0-q1" grep -qx io-blk0-q1 "$work/perq.threads"
check "per-queue: SIGTERM: exit 143" expect_status 143 "$status"
check "per-queue: SIGTERM: reason on stderr" expect_line "$work/perq.err" "stopped by signal"
run perq-reset --kernel "$tiny/tiny-reset.bzImage" --cpus 2 --disk "path=$work/disk.img" \
	--io-loops per-queue
check "per-queue: reset: exit 0" expect_status 0 "$(cat "$work/perq-reset.status")"
check "per-queue: reset: nothing on stderr" test ! -s "$work/perq-reset.err"
spin shared TERM --disk "path=$work/disk.img"
check "shared: no I/O threads" eval '! grep -q "^io-" "$work/shared.threads"'
check "shared: SIGTERM: exit 143" expect_status 143 "$status"
finish
