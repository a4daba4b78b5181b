#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# API start-up benchmark: how soon `vqvm --api-sock` answers, measured on this host by
# build/bench/api-start (bench/api-start.c): from just before the fork to the first
# bytes of the reply to GET / (wall), and the CPU time all of vqvm's threads had used by
# then (schedstat). No VM and no KVM are involved, so this runs anywhere, sandbox or not.
#
#   bench/api-start.sh       (BENCH_RUNS starts, default 20; BENCH_VQVM, default build/vqvm)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out_dir=$root/build/bench
runs=${BENCH_RUNS:-20}
vqvm=${BENCH_VQVM:-$root/build/vqvm}
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "api-start.sh: BENCH_RUNS wants a positive number, got '$runs'" >&2; exit 2; }
[ -x "$vqvm" ] || { echo "api-start.sh: no vqvm at $vqvm (make first)" >&2; exit 2; }
mkdir -p "$out_dir"
log=$out_dir/api-start.log
table=$out_dir/api-start.table
make -C "$root" --no-print-directory build/bench/api-start >/dev/null
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
"$out_dir/api-start" "$vqvm" "$runs" >"$log" 2>/dev/null
# median FIELD: the median of that field over the RESULT lines
median() {
	awk -v f="$1" '$1 == "RESULT" { for (i = 3; i < NF; i += 2) if ($i == f) print $(i + 1) }' "$log" |
		sort -n | awk '{ a[NR] = $1 } END { if (NR) printf "%.2f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
range() {
	awk -v f="$1" '$1 == "RESULT" { for (i = 3; i < NF; i += 2) if ($i == f) print $(i + 1) }' "$log" |
		sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f", lo, hi }'
}
{
	echo
	echo "api-start: vqvm --api-sock, fork to the first reply to GET / (bench/api-start.c)"
	echo "(median of $runs starts; $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs; load at the start $load_start)"
	echo "| metric                 |   median |        range |"
	echo "|------------------------|----------|--------------|"
	printf '| %-22s | %8s | %12s |\n' "wall (ms)" "$(median wall_ms)" "$(range wall_ms)"
	printf '| %-22s | %8s | %12s |\n' "CPU, all threads (ms)" "$(median cpu_ms)" "$(range cpu_ms)"
	printf '| %-22s | %8s | %12s |\n' "threads by then" "$(median threads)" "$(range threads)"
} | tee "$table"
