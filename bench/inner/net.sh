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
parse_args net.sh "tools tap time" "$@"
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
		# The guest's TX counters at its last report (bench/guest/net.sh).
		txq=$(tr -d '\r' <"$f" | grep '^BENCH-TXQ ' | tail -n 1)
		[ -z "$txq" ] || say "$impl run $run: guest ${txq#BENCH-TXQ }"
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

say "net: $runs runs; iperf3 tests: $TESTS (${time}s each after 1 s omitted); guests: 1 vCPU, $memory MiB"
say "where the VMMs run: $(uname -r), $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1)"
# net_guest CMD...: run a guest (vqvm_guest, qemu_guest). One that failed may have died in
# a test and left the iperf3 server busy with it (until the server's 120 s receive
# timeout), and the next runs would fail with "the server is busy": start a fresh one.
net_guest() {
	local before=$failures f=${VQBENCH_IPERF3_PIDFILE:-}
	"$@"
	[ "$failures" != "$before" ] || return 0
	if [ -z "$f" ] || [ ! -s "$f" ]; then
		say "no iperf3 server pid file: the server is not restarted after the failed run"
		return 0
	fi
	kill "$(cat "$f")" 2>/dev/null || true
	sleep 1
	/usr/bin/iperf3 -s -D -I "$f" && say "iperf3 server restarted after the failed run"
}
run_vqvm() {
	net_guest vqvm_guest vqvm "$1" "iperf3 tests worked" "bench.time=$time" \
		--net "tap=$tap,mac=$MAC"
}
# The same TAP and MAC on the management device (the guest's /init loads vqvm_mgmt.ko).
run_managed() {
	net_guest vqvm_guest managed "$1" "iperf3 tests worked" "bench.time=$time vqvm.mgmt=load" \
		--managed-net "tap=$tap,mac=$MAC"
}
run_qemu() {
	net_guest qemu_guest "$1" "iperf3 tests worked" "bench.time=$time" \
		-netdev "tap,id=net0,ifname=$tap,script=no,downscript=no,vhost=off" \
		-device "virtio-net-device,netdev=net0,mac=$MAC"
}

run_all
exit "$failed"
