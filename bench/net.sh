#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Network benchmark: iperf3 between a guest's virtio-net and the host side of a TAP, for
# vqvm and QEMU microvm (virtio-net-device, userspace: vhost=off, as vqvm has no vhost),
# next to iperf3 over loopback where the VMMs run, same run: TCP guest->host (tx) and
# host->guest (rx, -R), UDP with 64-byte datagrams at full speed (-b 0) both ways,
# reported as datagrams received per second.
#
#   bench/net.sh          (BENCH_RUNS=N, default 5; BENCH_NET_TIME=S seconds per test,
#                          default 3, after 1 s omitted; BENCH_MANAGED=0|1, default 1;
#                          BENCH_MODE; see bench/lib.sh)
#
# BENCH_MANAGED=1 adds a "vqvm managed" column: the same TAP, MAC and guest as vqvm's,
# but given with --managed-net (management device, guest driver vqvm_mgmt) instead of as
# a virtio-pci function, with managed/pci ratios.
#
# The TAP (vqbench0, 10.77.0.1/24) and the iperf3 server are made by the --host-setup
# script bench/inner/net-setup.sh: in L1 in the sandbox, in a private network namespace
# in direct mode. The guest (10.77.0.2) runs iperf3 from a tools disk of its own (iperf3,
# ethtool: build/bench/tools-net.ext4).
set -euo pipefail
prog=net.sh
prog_name=net
. "$(dirname "$0")/lib.sh"

time_s=${BENCH_NET_TIME:-3}
[[ "$time_s" =~ ^[1-9][0-9]*$ ]] || die "BENCH_NET_TIME wants seconds, got '$time_s'"
memory=256
# ethtool: the guest prints virtio_net's own TX counters (bench/guest/net.sh, BENCH-TXQ).
bench_tools iperf3 ethtool

bench_header "net: iperf3 over virtio-net on a TAP, guest 1 vCPU, $memory MiB"
echo "iperf3: ${time_s}s per test after 1 s omitted (-O 1), -f m; native = client and server over loopback"
per_run=$((3 * 60 + 3 * 4 * (time_s + 1) + 40))
bench_run net $((300 + runs * per_run * nvms)) --memory "${memory}M" --cpus 1 \
	--blockdev "$tools" --script "$here/guest/net.sh" \
	--host-setup "$here/inner/net-setup.sh" --host-prog ip --host-prog iperf3 \
	--vmm-cmd -- bash "$here/inner/net.sh" --runs "$runs" --kernel @KERNEL@ --initrd @INITRD@ \
	--memory "$memory" --vqvm "$vqvm" --qemu "$qemu" --tools "$tools" --tap vqbench0 \
	--time "$time_s" "${impls_opt[@]}"
bench_table "net: iperf3, guest <-> host side of a TAP (native: loopback)" 1 \
	"TCP guest->host|tcp-tx.mbps|Mbit/s|1|higher" \
	"TCP host->guest|tcp-rx.mbps|Mbit/s|1|higher" \
	"UDP 64B guest->host|udp-tx.pps|kpkt/s|1000|higher" \
	"UDP 64B host->guest|udp-rx.pps|kpkt/s|1000|higher"
[ "$run_rc" = 0 ]
