#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Network benchmark, the part that runs where the VMMs run (see bench/net.sh and lib.sh).
#
#   net.sh --runs N --kernel K --initrd I --memory MIB --vqvm PATH --qemu PATH|none
#          --tools IMG --tap NAME --time S [--only "IMPL..."]
#
# Each run: iperf3 natively over loopback (client and server both here), then from a
# guest of vqvm and one of QEMU microvm (virtio-net on the TAP NAME, whose host side
# runs the iperf3 server: bench/inner/net-setup.sh; the guest script bench/guest/net.sh
# is in the initrd), and with "managed" in --only one of vqvm with the same TAP as a
# managed net device (--managed-net, guest driver vqvm_mgmt); the order rotates. Tests: TCP guest->host (tx),
# host->guest (rx, iperf3 -R), UDP with 64-byte datagrams at full speed (-b 0) both ways.
. "$(dirname "$0")/lib.sh"

only="native vqvm managed qemu" runs=5 kernel= initrd= memory=256 vqvm= qemu=none tools= tap= time=3
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs=$2 ;;
	--kernel) kernel=$2 ;;
	--initrd) initrd=$2 ;;
	--memory) memory=$2 ;;
	--vqvm) vqvm=$2 ;;
	--qemu) qemu=$2 ;;
	--tools) tools=$2 ;;
	--tap) tap=$2 ;;
	--time) time=$2 ;;
	--only) only=$2 ;;
	*) echo "net.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift 2
done
TESTS="tcp-tx tcp-rx udp-tx udp-rx"
MAC=52:54:00:12:34:56
VM_TIMEOUT=$((150 + 4 * (time + 1) * 3))

# report IMPL RUN FILE: RESULT lines from "BENCH-IPERF <test> <rc> <receiver line>"
# lines: TCP in Mbit/s (tcp-*.mbps), UDP in datagrams received per second
# (udp-*.pps, from the receiver's lost/total and interval); 0 when all tests are there.
report() {
	local impl=$1 run=$2 f=$3
	tr -d '\r' <"$f" | grep '^BENCH-IPERF ' | awk -v impl="$impl" -v run="$run" '
	{
		test = $2; rc = $3; v = ""
		secs = 0
		if (rc == 0) for (i = 4; i <= NF; i++) {
			if ($i ~ /^[0-9.]+-[0-9.]+$/) { split($i, iv, "-"); secs = iv[2] - iv[1] }
			if ($i == "Mbits/sec" && test ~ /^tcp/) v = $(i - 1)
			if ($i ~ /^[0-9]+\/[0-9]+$/ && test ~ /^udp/ && secs > 0) {
				split($i, lt, "/")	# lost/total datagrams
				v = sprintf("%.0f", (lt[2] - lt[1]) / secs)
			}
		}
		if (v == "") { print "BAD " test " (iperf3 status " rc ")"; next }
		print "RESULT " impl " " run " " test (test ~ /^tcp/ ? ".mbps " : ".pps ") v
	}' >"$f.res"
	grep '^RESULT' "$f.res" || true
	grep '^BAD' "$f.res" | sed "s/^BAD /FAIL $impl run $run: test /" || true
	if [ "$(grep -c '^RESULT' "$f.res")" = 4 ]; then
		say "$impl run $run: $(awk '{ printf "%s %s  ", $4, $5 }' "$f.res")"
		return 0
	fi
	return 1
}

run_native() {
	local run=$1 out=$logs/native-$1.out test opts rc
	: >"$out"
	for test in $TESTS; do
		case $test in
		tcp-tx) opts=() ;;
		tcp-rx) opts=(-R) ;;
		udp-tx) opts=(-u -l 64 -b 0) ;;
		udp-rx) opts=(-u -l 64 -b 0 -R) ;;
		esac
		set +e
		timeout -s KILL $((time + 30)) iperf3 -c 127.0.0.1 -t "$time" -O 1 -f m "${opts[@]}" \
			>"$logs/iperf.out" 2>&1
		rc=$?
		set -e
		echo "BENCH-IPERF $test $rc $(grep 'receiver$' "$logs/iperf.out" | tail -n 1)" >>"$out"
		[ "$rc" = 0 ] || tail -n 3 "$logs/iperf.out" >>"$out"
	done
	report native "$run" "$out" || fail native "$run" "not all iperf3 tests worked" "$out"
}

run_vm() {
	local impl=$1 run=$2
	shift 2
	local out=$logs/$impl-$run.out err=$logs/$impl-$run.err rc
	set +e
	timeout -s KILL "$VM_TIMEOUT" "$@" </dev/null >"$out" 2>"$err"
	rc=$?
	set -e
	report "$impl" "$run" "$out" ||
		fail "$impl" "$run" "not all iperf3 tests worked (VMM exit status $rc)" "$out" "$err"
}

say "net: $runs runs; iperf3 tests: $TESTS (${time}s each after 1 s omitted); guests: 1 vCPU, $memory MiB"
say "where the VMMs run: $(uname -r), $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1)"
read -r -a impls <<<"$only"
for ((run = 1; run <= runs; run++)); do
	for impl in $(rotate "$run" "${impls[@]}"); do
		case $impl in
		native) run_native "$run" ;;
		vqvm)
			run_vm vqvm "$run" "$vqvm" run --kernel "$kernel" --initrd "$initrd" --cpus 1 \
				--memory "${memory}M" --serial stdio --cmdline "bench.time=$time" \
				--disk "path=$tools,readonly,id=tools" --net "tap=$tap,mac=$MAC"
			;;
		managed)
			# The same TAP and MAC on the management device (the guest's /init loads
			# vqvm_mgmt.ko: vqvm.mgmt=load).
			run_vm managed "$run" "$vqvm" run --kernel "$kernel" --initrd "$initrd" --cpus 1 \
				--memory "${memory}M" --serial stdio --cmdline "bench.time=$time vqvm.mgmt=load" \
				--disk "path=$tools,readonly,id=tools" --managed-net "tap=$tap,mac=$MAC"
			;;
		qemu)
			if [ "$qemu" = none ]; then
				fail qemu "$run" "qemu-system-x86_64 is not installed"
				continue
			fi
			qemu_base "$memory"
			run_vm qemu "$run" "${qemu_cmd[@]}" \
				-drive "id=tools,file=$tools,format=raw,if=none,readonly=on" \
				-device virtio-blk-device,drive=tools,serial=tools \
				-netdev "tap,id=net0,ifname=$tap,script=no,downscript=no,vhost=off" \
				-device "virtio-net-device,netdev=net0,mac=$MAC" \
				-append "$QEMU_APPEND bench.time=$time"
			;;
		esac
	done
done
exit "$failed"
