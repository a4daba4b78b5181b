# SPDX-License-Identifier: Apache-2.0
# Guest side of bench/net.sh, run by the guest's /init (busybox sh) under vqvm and QEMU
# alike: eth0 = 10.77.0.2/24, the host side of the TAP = 10.77.0.1 (an iperf3 server);
# iperf3 from the tools disk (serial "tools"). One line per test:
#   BENCH-IPERF <test> <iperf3 exit status> <iperf3's receiver summary line>
# bench.time=S on the kernel command line: seconds per test (after 1 s omitted).
find_dev() {
	for d in /sys/block/vd*; do
		[ "$(cat "$d/serial" 2>/dev/null)" = "$1" ] && echo "/dev/${d##*/}"
	done
}
tools=$(find_dev tools)
[ -n "$tools" ] || { echo "BENCH-ERROR no tools disk: $(ls /sys/block)"; exit 1; }
mkdir -p /tools
mount -o ro "$tools" /tools || { echo "BENCH-ERROR cannot mount the tools disk"; exit 1; }
. /tools/setup.sh
t=3
for w in $(cat /proc/cmdline); do
	case "$w" in bench.time=*) t=${w#bench.time=} ;; esac
done
ip link set lo up
# A managed net device (net.sh's "managed" column) appears once vqvm_mgmt has probed: wait.
i=0
while [ $i -lt 100 ] && [ ! -e /sys/class/net/eth0 ]; do sleep 0.1; i=$((i + 1)); done
ip link set eth0 up
ip addr add 10.77.0.2/24 dev eth0
up=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	ping -c 1 -W 2 10.77.0.1 >/dev/null 2>&1 && { up=1; break; }
done
[ "$up" = 1 ] || { echo "BENCH-ERROR 10.77.0.1 does not answer pings"; exit 1; }
# Every 10 s, virtio_net's own count of the kicks it sent on TX queue 0, its packets, and
# tx_fifo_errors (start_xmit failed to queue a packet and returned without a kick): a
# stalled test's post-mortem next to vqvm's state dump ("kicks read N"). The same kick
# count on both sides means the guest sent no kick for the stuck buffer; more here, that
# kicks were lost on the way.
if command -v ethtool >/dev/null; then
	while sleep 10; do
		echo "BENCH-TXQ $(ethtool -S eth0 | awk '$1 ~ /^tx_queue_0_(kicks|packets):$/ { printf "%s %s ", $1, $2 }')tx_fifo_errors: $(cat /sys/class/net/eth0/statistics/tx_fifo_errors)"
	done &
fi
for test in tcp-tx tcp-rx udp-tx udp-rx; do
	case $test in
	tcp-tx) opts= ;;
	tcp-rx) opts=-R ;;
	udp-tx) opts="-u -l 64 -b 0" ;;
	udp-rx) opts="-u -l 64 -b 0 -R" ;;
	esac
	# shellcheck disable=SC2086 # $opts are several options
	iperf3 -c 10.77.0.1 -t "$t" -O 1 -f m $opts >/tmp/iperf.out 2>&1
	rc=$?
	echo "BENCH-IPERF $test $rc $(grep 'receiver$' /tmp/iperf.out | tail -n 1)"
	[ "$rc" = 0 ] || tail -n 3 /tmp/iperf.out
done
