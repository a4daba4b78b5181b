#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# make bench: the boot, block, network, transport-virtqueue, hot-add and API start-up
# benchmarks one
# after the other (each also runs alone: bench/NAME.sh), then all their tables once more.
#
#   bench/run.sh [boot|blk|net|tvq|hotplug|api-start]...     (default: all of them)
#
# BENCH_RUNS=N runs each measurement N times (default 5) and reports medians; the other
# knobs are in each script's header and in docs/benchmarks.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out_dir=$(cd "$here/.." && pwd)/build/bench
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(boot blk net tvq hotplug api-start)
for b in "${benches[@]}"; do
	case "$b" in
	boot | blk | net | tvq | hotplug | api-start) ;;
	*) echo "run.sh: unknown benchmark '$b' (boot, blk, net, tvq, hotplug, api-start)" >&2; exit 2 ;;
	esac
done

start=$SECONDS
rc=0
mkdir -p "$out_dir"
for b in "${benches[@]}"; do
	rm -f "$out_dir/$b.table"
	t=$SECONDS
	"$here/$b.sh" || rc=1
	echo "($b: $((SECONDS - t)) s)"
	echo
done

echo "==================== summary: BENCH_RUNS=${BENCH_RUNS:-5}, $((SECONDS - start)) s in all ===================="
for b in "${benches[@]}"; do
	if [ -s "$out_dir/$b.table" ]; then
		cat "$out_dir/$b.table"
	else
		echo
		echo "$b: no table (it failed before measuring; see its output above)"
	fi
done
[ "$rc" = 0 ] || echo "some measurements failed: see the FAIL lines above and build/bench/*.log" >&2
exit "$rc"
