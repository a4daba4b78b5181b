#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# virtio-net over virtio-pci on a TAP: the guest sees the MAC it was given and two queue
# pairs on 2 vCPUs, pings the host side, and iperf3 TCP runs both ways (guest->host and,
# with -R, host->guest). The host side (TAP, iperf3 server) lives in L1 in the sandbox, or
# in a private network namespace on a host with hardware KVM.
. "$(dirname "$0")/../lib.sh"

tools=$root/build/images/tools.ext4
tap_host_script "$work/host.sh" 10.77.0.1 multi_queue iperf3
cat >"$work/guest.sh" <<'GUEST'
mkdir -p /tools && mount -o ro /dev/vda /tools && . /tools/setup.sh
echo "MAC=$(cat /sys/class/net/eth0/address)"
ip link set lo up
ip link set eth0 up
ip addr add 10.77.0.2/24 dev eth0
echo "RX_QUEUES=$(ls -d /sys/class/net/eth0/queues/rx-* | wc -l)"
ping -c 3 -W 5 10.77.0.1 >/tmp/ping 2>&1
echo "PING_RC=$?"
tail -n 2 /tmp/ping
iperf3 -c 10.77.0.1 -t 2 -f m >/tmp/tx 2>&1
echo "IPERF_TX_RC=$?"
grep -E 'sender|receiver' /tmp/tx
iperf3 -c 10.77.0.1 -t 2 -f m -R >/tmp/rx 2>&1
echo "IPERF_RX_RC=$?"
grep -E 'sender|receiver' /tmp/rx
GUEST

"$vm_run" --script "$work/guest.sh" --cpus 2 --memory 512M --blockdev "$tools" \
	--host-setup "$work/host.sh" --host-prog ip --host-prog iperf3 -- \
	--disk "path=$tools,readonly" --net "tap=vqtap0,mac=52:54:00:12:34:56,queues=2" \
	>"$work/out" 2>"$work/err"
status=$?
check "vqvm exits 0" expect_status 0 "$status"
check "guest sees the MAC it was given" expect_line "$work/out" '^MAC=52:54:00:12:34:56$'
check "2 vCPUs: 2 queue pairs" expect_line "$work/out" '^RX_QUEUES=2$'
check "ping guest -> host" expect_line "$work/out" '^PING_RC=0$'
check "iperf3 TCP guest -> host" expect_line "$work/out" '^IPERF_TX_RC=0$'
check "iperf3 TCP host -> guest" expect_line "$work/out" '^IPERF_RX_RC=0$'
check "iperf3 moved data" expect_line "$work/out" 'sender$'
[ "$failures" -eq 0 ] || { show "$work/out"; show "$work/err"; }
finish
