#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# tvq benchmark: the management device's transport virtqueue, measured in process by
# build/bench/tvq (bench/tvq.c) with the guest of tests/unit/lib playing the guest:
# round-trip latency of one command per class (median and p99 of --iters commands each),
# throughput with 64 commands in flight, and the managed-device creation rate (CREATE to
# DRIVER_OK with its queue and MSI) next to the same bring-up of a virtio-pci virtio-blk
# function through its PCI registers. No VM: a guest register access is a function call
# here, where a real guest takes a VM exit, so the table also counts the accesses each
# bring-up makes.
#
#   bench/tvq.sh          (BENCH_RUNS=N runs of the program, default 5; medians;
#                          BENCH_TVQ_ITERS, default 2000; BENCH_TVQ_CYCLES, default 300)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out_dir=$root/build/bench
runs=${BENCH_RUNS:-5}
iters=${BENCH_TVQ_ITERS:-2000}
cycles=${BENCH_TVQ_CYCLES:-300}
for v in "$runs" "$iters" "$cycles"; do
	[[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "tvq.sh: want positive numbers, got '$v'" >&2; exit 2; }
done
mkdir -p "$out_dir"
log=$out_dir/tvq.log
table=$out_dir/tvq.table
make -C "$root" --no-print-directory -j2 build/bench/tvq >/dev/null
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$log"
for i in $(seq "$runs"); do
	echo "tvq.sh: run $i of $runs" >&2
	echo "run $i" >>"$log"
	"$out_dir/tvq" --iters "$iters" --cycles "$cycles" >>"$log"
done

{
	echo
	echo "tvq: management device, transportq and adminq in process (bench/tvq.c; no VM exits)"
	echo "(median of $runs runs; $iters commands per latency cell; $cycles bring-ups per rate;" \
		"$(date -u '+%Y-%m-%d %H:%M UTC'); load $load_start -> $(cut -d' ' -f1-3 /proc/loadavg))"
	awk -v exit_us=9 '
	function med(key,   k, i, j, t, a) {
		k = n[key] + 0
		if (k == 0) return ""
		for (i = 1; i <= k; i++) a[i] = val[key, i]
		for (i = 2; i <= k; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
	}
	function fmt(v) {
		if (v == "") return "FAILED"
		if (v >= 100) return sprintf("%.0f", v)
		if (v >= 10) return sprintf("%.1f", v)
		return sprintf("%.2f", v)
	}
	$1 == "RESULT" {
		if (!($2 in seen)) { seen[$2] = 1; order[++nk] = $2 }
		val[$2, ++n[$2]] = $3 + 0
	}
	END {
		printf "| %-32s | %10s | %10s |\n", "command round trip", "p50 (us)", "p99 (us)"
		printf "|%s|%s|%s|\n", "----------------------------------", "------------", "------------"
		for (i = 1; i <= nk; i++) {
			if (order[i] !~ /^lat\..*\.p50$/) continue
			name = order[i]; sub(/^lat\./, "", name); sub(/\.p50$/, "", name)
			printf "| %-32s | %10s | %10s |\n", name, fmt(med("lat." name ".p50")), fmt(med("lat." name ".p99"))
		}
		print ""
		printf "| %-32s | %10s |\n", "throughput, 64 in flight", "cmds/s"
		printf "|%s|%s|\n", "----------------------------------", "------------"
		printf "| %-32s | %10s |\n", "STATUS GET, one device", fmt(med("tput.1dev"))
		printf "| %-32s | %10s |\n", "STATUS GET, 8 devices", fmt(med("tput.8dev"))
		print ""
		m = med("create.managed"); p = med("create.vpci")
		ma = med("create.managed.accesses"); pa = med("create.vpci.accesses")
		printf "| %-32s | %12s | %12s | %8s |\n", "bring-up to DRIVER_OK (1 queue)", "managed", "virtio-pci", "ratio"
		printf "|%s|%s|%s|%s|\n", "----------------------------------", "--------------", "--------------", "----------"
		printf "| %-32s | %12s | %12s | %8s |\n", "devices/s, in process", fmt(m), fmt(p), (m && p) ? sprintf("%.3f", m / p) : "-"
		printf "| %-32s | %12d | %12d | %8s |\n", "guest register accesses (exits)", ma, pa, "-"
		printf "| %-32s | %12s | %12s | %8s |\n", "transportq commands, kicks", sprintf("%d, %d", med("create.managed.cmds"), med("create.managed.kicks")), "-", "-"
		if (m && p) {
			me = 1e6 / (1e6 / m + ma * exit_us); pe = 1e6 / (1e6 / p + pa * exit_us)
			printf "| %-32s | %12s | %12s | %8s |\n", "devices/s, " exit_us " us/exit (est.)", fmt(me), fmt(pe), sprintf("%.3f", me / pe)
		}
	}' "$log"
	echo "(est.: the in-process time plus 9 us per guest register access, the PVM exit cost"
	echo " measured in the sandbox notes; derived, not measured)"
} | tee "$table"
