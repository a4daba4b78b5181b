#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Run the VM tests: every executable tests/vm/*.sh (each boots guests through
# tests/vm-run and exits 0 on success), from the repository root.
#
#   tests/run-vm-tests.sh [NAME...]   NAME: run only tests/vm/NAME.sh
#
# Prints "PASS name (Ns)" or "FAIL name (Ns)" per test, saves each test's
# output to build/test-logs/vm-<name>.log (the tail is shown on failure), and
# ends with "N passed, N failed"; exits 1 if any test failed.
# VM_TEST_TIMEOUT (seconds, default 900) bounds each test as a whole.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
logs=build/test-logs
mkdir -p "$logs"
export VM_RUN=$root/tests/vm-run

tests=()
if [ $# -gt 0 ]; then
	for n in "$@"; do
		n=${n%.sh}
		n=${n##*/}
		[ -f "tests/vm/$n.sh" ] || { echo "run-vm-tests.sh: no test tests/vm/$n.sh" >&2; exit 2; }
		tests+=("tests/vm/$n.sh")
	done
else
	while IFS= read -r t; do tests+=("$t"); done < <(
		find tests/vm -maxdepth 1 -name '*.sh' -type f | LC_ALL=C sort)
fi

passed=0
failed=0
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	log=$logs/vm-$name.log
	start=$SECONDS
	set +e
	if [ -x "$t" ]; then
		timeout -k 10 "${VM_TEST_TIMEOUT:-900}" "$t" </dev/null >"$log" 2>&1
	else
		timeout -k 10 "${VM_TEST_TIMEOUT:-900}" bash "$t" </dev/null >"$log" 2>&1
	fi
	rc=$?
	set -e
	secs=$((SECONDS - start))
	if [ "$rc" = 0 ]; then
		echo "PASS $name (${secs}s)"
		passed=$((passed + 1))
	else
		[ "$rc" != 124 ] || echo "run-vm-tests.sh: $name: killed after ${VM_TEST_TIMEOUT:-900}s" >>"$log"
		echo "FAIL $name (${secs}s, status $rc, log $log)"
		tail -n 25 "$log" | sed 's/^/    | /'
		failed=$((failed + 1))
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
