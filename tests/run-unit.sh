#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Run Criterion unit-test binaries and total their results.
#
#   tests/run-unit.sh BIN...
#
# Each binary prints its own report; its output is also saved to
# build/test-logs/unit-<name>.log. The last line is "N passed, N failed"
# (tests, from Criterion's Synthesis lines; a binary that dies without one
# counts as one failed test). Exits 1 if anything failed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
logs=$root/build/test-logs
mkdir -p "$logs"

if [ $# = 0 ]; then
	echo "run-unit.sh: no unit-test binaries given"
	echo "0 passed, 0 failed"
	exit 0
fi

passed=0
failed=0
bad=()
for bin in "$@"; do
	name=$(basename "$bin")
	log=$logs/unit-$name.log
	if [ ! -x "$bin" ]; then
		echo "run-unit.sh: $bin: not found or not executable" >&2
		failed=$((failed + 1))
		bad+=("$name")
		continue
	fi
	echo "=== $name"
	set +e
	"$bin" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	# [====] Synthesis: Tested: 4 | Passing: 2 | Failing: 2 | Crashing: 1
	# (Failing already includes Crashing.)
	synth=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep 'Synthesis: Tested:' | tail -n1 || true)
	if [ -n "$synth" ]; then
		p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$synth")
		f=$(sed -n 's/.*Failing: \([0-9]*\).*/\1/p' <<<"$synth")
		passed=$((passed + ${p:-0}))
		failed=$((failed + ${f:-0}))
		if [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then
			# e.g. a leak reported by ASan at exit after all tests passed
			echo "run-unit.sh: $name exited with status $rc" >&2
			failed=$((failed + 1))
		fi
		[ "$rc" = 0 ] && [ "${f:-0}" = 0 ] || bad+=("$name")
	else
		echo "run-unit.sh: $name exited with status $rc and no Criterion summary" >&2
		failed=$((failed + 1))
		bad+=("$name")
	fi
done

[ "${#bad[@]}" = 0 ] || echo "failing binaries: ${bad[*]} (logs in ${logs#"$root"/}/)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
