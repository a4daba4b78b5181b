#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Every bad input of `vqvm run` gets a one-line error naming the problem and a non-zero
# exit, quickly: never a crash, a hang or a guest start. Runs vqvm directly (the errors
# come before any guest code runs; KVM is opened for some of them).
. "$(dirname "$0")/../lib.sh"

kernel=$tiny/tiny-reset.bzImage
printf 'this is not a kernel, just some text that is long enough to have a header\n%.0s' \
	$(seq 20) >"$work/text"
head -c 16 "$kernel" >"$work/short"
: >"$work/empty"
# The tiny guest with its boot protocol version patched down to 2.10.
cp "$kernel" "$work/old"
printf '\x0a\x02' | dd of="$work/old" bs=1 seek=$((0x206)) conv=notrunc status=none
# ... and without XLF_KERNEL_64.
cp "$kernel" "$work/no64"
printf '\x00\x00' | dd of="$work/no64" bs=1 seek=$((0x236)) conv=notrunc status=none
truncate -s 100M "$work/big-initrd"

# case NAME WANT_STATUS MESSAGE_REGEX -- ARGS...
case_() {
	local name=$1 want=$2 regex=$3
	shift 4
	timeout 20 "$vqvm" "$@" >"$work/out" 2>"$work/err" </dev/null
	local status=$?
	local lines
	lines=$(wc -l <"$work/err")
	check "$name: exit $want" expect_status "$want" "$status"
	check "$name: one line naming it" \
		eval 'expect_line "$work/err" "$regex" && [ "$lines" -eq 1 ]'
	[ -s "$work/out" ] && fail "$name: wrote to stdout: $(head -c 200 "$work/out")"
	if ! expect_line "$work/err" "$regex"; then show "$work/err"; fi
}

case_ "unknown option" 2 "unknown option '--frob'" -- run --kernel "$kernel" --frob
case_ "no command" 2 "no command" --
case_ "missing kernel" 1 "kernel '$work/nope': No such file or directory" -- \
	run --kernel "$work/nope"
case_ "kernel is a directory" 1 "kernel '$work': not a regular file" -- run --kernel "$work"
case_ "empty kernel" 1 "kernel '$work/empty': file is empty" -- run --kernel "$work/empty"
case_ "text file as kernel" 1 "kernel '$work/text'.*(bzImage|HdrS)" -- run --kernel "$work/text"
case_ "truncated kernel" 1 "kernel '$work/short'" -- run --kernel "$work/short"
case_ "boot protocol too old" 1 "kernel '$work/old'.*2\\.10.*2\\.12" -- run --kernel "$work/old"
case_ "not 64-bit bootable" 1 "kernel '$work/no64'.*64" -- run --kernel "$work/no64"
case_ "missing initrd" 1 "initrd '$work/nope': No such file" -- \
	run --kernel "$kernel" --initrd "$work/nope"
case_ "initrd does not fit" 1 "initrd '$work/big-initrd'.*fit" -- \
	run --kernel "$kernel" --initrd "$work/big-initrd" --memory 64M
case_ "memory too small" 2 "memory.*too small" -- run --kernel "$kernel" --memory 32M
case_ "memory beyond the host" 2 "more than this host has" -- run --kernel "$kernel" --memory 1T
case_ "memory garbage" 2 "--memory" -- run --kernel "$kernel" --memory lots
case_ "zero vCPUs" 2 "--cpus '0'" -- run --kernel "$kernel" --cpus 0
case_ "too many vCPUs" 2 "--cpus '1000'" -- run --kernel "$kernel" --cpus 1000
case_ "no KVM device" 1 "cannot open $work/nokvm: No such file or directory" -- \
	run --kernel "$kernel" --kvm "$work/nokvm"
case_ "KVM path is not KVM" 1 "$work/empty" -- run --kernel "$kernel" --kvm "$work/empty"
case_ "cmdline too long" 1 "cmdline.*exceed the limit" -- \
	run --kernel "$kernel" --cmdline "$(head -c 3000 /dev/zero | tr '\0' x)"
case_ "serial file in a missing directory" 1 "file:$work/no/dir" -- \
	run --kernel "$kernel" --serial "file:$work/no/dir"

# Devices (virtio-blk, virtio-net): refused before the guest starts.
truncate -s 1000 "$work/odd.img"
truncate -s 1M "$work/ok.img"
case_ "disk missing" 1 "disk .$work/nope.img.: No such file" -- \
	run --kernel "$kernel" --disk "path=$work/nope.img"
case_ "disk empty" 1 "disk .$work/empty.*empty" -- run --kernel "$kernel" --disk "path=$work/empty"
case_ "disk not a multiple of 512" 1 "disk .$work/odd.img.*512" -- \
	run --kernel "$kernel" --disk "path=$work/odd.img"
case_ "disk is a directory" 1 "disk .$work.: a directory" -- run --kernel "$kernel" --disk "path=$work"
case_ "disk spec without path" 2 "--disk: path=FILE is required" -- \
	run --kernel "$kernel" --disk "readonly"
case_ "disk queues beyond vCPUs" 2 "queues=4 is more than the 2 vCPUs" -- \
	run --kernel "$kernel" --cpus 2 --disk "path=$work/ok.img,queues=4"
case_ "MAC does not parse" 2 "mac '52:54:00:zz:00:01'" -- \
	run --kernel "$kernel" --net "tap=vqbad0,mac=52:54:00:zz:00:01"
case_ "net queues beyond vCPUs" 2 "queues=2 is more than the 1 vCPUs" -- \
	run --kernel "$kernel" --net "tap=vqbad0,queues=2"
case_ "TAP missing" 1 "tap 'vqnosuchtap' does not exist" -- \
	run --kernel "$kernel" --net "tap=vqnosuchtap"

# The management device's backends: checked like the virtio-pci ones, before the guest.
case_ "managed disk missing" 1 "disk .$work/nope.img.: No such file" -- \
	run --kernel "$kernel" --managed-disk "path=$work/nope.img"
case_ "managed disk not a multiple of 512" 1 "disk .$work/odd.img.*512" -- \
	run --kernel "$kernel" --managed-disk "path=$work/ok.img" --managed-disk "path=$work/odd.img"
case_ "managed TAP missing" 1 "tap 'vqnosuchtap' does not exist" -- \
	run --kernel "$kernel" --managed-net "tap=vqnosuchtap"
case_ "managed spec unknown key" 2 "--managed-disk: unknown key 'size'" -- \
	run --kernel "$kernel" --managed-disk "path=$work/ok.img,size=1"
case_ "fewer slots than pre-created backends" 2 "--managed-max 1 is fewer than the 2" -- \
	run --kernel "$kernel" --managed-max 1 --managed-disk "path=$work/ok.img" \
	--managed-disk "path=$work/ok.img,id=again"
case_ "managed-precreate garbage" 2 "--managed-precreate 'sometimes'" -- \
	run --kernel "$kernel" --managed-precreate sometimes
# A failure after the management device and its pre-created devices exist (the kernel is
# loaded last) tears everything down at once: no hang waiting for a loop that never ran.
case_ "bad kernel with managed devices" 1 "kernel '$work/text'" -- \
	run --kernel "$work/text" --managed-disk "path=$work/ok.img" --managed-max 4

# A TAP another vqvm holds is busy. In a private network namespace, so nothing of
# this test is visible outside it.
if [ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] && command -v unshare >/dev/null; then
	unshare --net -- bash -c '
		ip tuntap add dev vqbusy0 mode tap || exit 3
		"$1" run --kernel "$2" --serial none --net tap=vqbusy0 </dev/null >/dev/null 2>&1 &
		holder=$!
		sleep 1
		timeout 20 "$1" run --kernel "$2" --serial none --net tap=vqbusy0 </dev/null 2>"$3"
		rc=$?
		kill "$holder"; wait "$holder"
		exit "$rc"' _ "$vqvm" "$tiny/tiny-spin.bzImage" "$work/busy.err"
	status=$?
	check "TAP busy: exit 1" expect_status 1 "$status"
	check "TAP busy: named" expect_line "$work/busy.err" "tap 'vqbusy0' is in use"
else
	echo "SKIP: TAP busy (needs root, /dev/net/tun and unshare)"
fi

"$vqvm" --help >"$work/help" 2>&1
check "--help exits 0 and documents run" expect_line "$work/help" '^Usage: vqvm run'
"$vqvm" --version >"$work/version" 2>&1
check "--version prints the version" expect_line "$work/version" '^vqvm [0-9]+\.[0-9]+'
finish
