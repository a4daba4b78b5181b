# SPDX-License-Identifier: Apache-2.0
# Guest side of bench/blk.sh, run by the guest's /init (busybox sh) under vqvm and QEMU
# alike: fio (from the tools disk, serial "tools") runs the jobs of /bench/blk.fio on the
# disk with serial "data" and prints one line per job:
#   BENCH-FIO <job>;<error>;<read KiB/s>;<read IOPS>;<write KiB/s>;<write IOPS>
# bench.runtime=S on the kernel command line: seconds per job.
find_dev() {
	for d in /sys/block/vd*; do
		[ "$(cat "$d/serial" 2>/dev/null)" = "$1" ] && echo "/dev/${d##*/}"
	done
}
# A managed disk (bench.sh's "managed" column) appears once vqvm_mgmt has probed: wait.
i=0
while [ $i -lt 100 ] && [ -z "$(find_dev data)" ]; do sleep 0.1; i=$((i + 1)); done
data=$(find_dev data)
tools=$(find_dev tools)
if [ -z "$data" ] || [ -z "$tools" ]; then
	echo "BENCH-ERROR disks not found (data '$data', tools '$tools'): $(ls /sys/block)"
	exit 1
fi
mkdir -p /tools
mount -o ro "$tools" /tools || { echo "BENCH-ERROR cannot mount the tools disk"; exit 1; }
. /tools/setup.sh
runtime=3
for w in $(cat /proc/cmdline); do
	case "$w" in bench.runtime=*) runtime=${w#bench.runtime=} ;; esac
done
BENCH_DEV=$data BENCH_RUNTIME=$runtime fio --output-format=terse --terse-version=3 \
	/bench/blk.fio >/tmp/fio.out 2>/tmp/fio.err
rc=$?
echo "BENCH-FIO-RC $rc"
grep '^3;' /tmp/fio.out | cut -d';' -f3,5,7,8,48,49 | sed 's/^/BENCH-FIO /'
[ "$rc" = 0 ] || tail -n 5 /tmp/fio.err
exit "$rc"
