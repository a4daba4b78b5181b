#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Run the VM tests: every executable tests/vm/*.sh (each boots guests through
# tests/vm-run and exits 0 on success), from the repository root.
#
#   tests/run-vm-tests.sh [NAME...]   NAME: run only tests/vm/NAME.sh; a path (with a /)
#                                     runs that script, e.g. tests/vm-extra/*.sh
#
# Prints "PASS name (Ns)" or "FAIL name (Ns)" per test, saves each test's
# output to build/test-logs/vm-<name>.log (the tail is shown on failure), and
# ends with "N passed, N failed"; exits 1 if any test failed.
# VM_TEST_TIMEOUT (seconds, default 900) bounds each test as a whole.
#
# Where there is no hardware KVM the guests run in the nested sandbox (QEMU TCG
# emulating SVM), which now and then wedges or faults an L2 boot on its own. There,
# and only there, a failed test runs once more: "FLAKY name" says it passed the
# second time, its first log is kept as vm-<name>.first-failure.log, and the final
# line counts it as passed. A test that fails twice fails.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
logs=build/test-logs
mkdir -p "$logs"
export VM_RUN=$root/tests/vm-run

tests=()
if [ $# -gt 0 ]; then
	for n in "$@"; do
		# A path runs that script (e.g. tests/vm-extra/*.sh, not part of make test).
		if [[ "$n" == */* ]]; then
			[ -f "$n" ] || { echo "run-vm-tests.sh: no test $n" >&2; exit 2; }
			tests+=("$n")
			continue
		fi
		n=${n%.sh}
		[ -f "tests/vm/$n.sh" ] || { echo "run-vm-tests.sh: no test tests/vm/$n.sh" >&2; exit 2; }
		tests+=("tests/vm/$n.sh")
	done
else
	while IFS= read -r t; do tests+=("$t"); done < <(
		find tests/vm -maxdepth 1 -name '*.sh' -type f | LC_ALL=C sort)
fi

sandbox=1
[ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ] || sandbox=0

run_one() { # TEST LOG
	set +e
	timeout -k 10 "${VM_TEST_TIMEOUT:-900}" bash "$1" </dev/null >"$2" 2>&1
	rc=$?
	set -e
}

passed=0
failed=0
flaky=0
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	log=$logs/vm-$name.log
	start=$SECONDS
	retried=0
	rm -f "$logs/vm-$name.first-failure.log"
	run_one "$t" "$log"
	if [ "$rc" != 0 ] && [ "$sandbox" = 1 ]; then
		retried=1
		mv -f "$log" "$logs/vm-$name.first-failure.log"
		echo "RETRY $name (status $rc in the sandbox; first log $logs/vm-$name.first-failure.log)"
		grep -E '^FAIL|vqvm:|vm-run:' "$logs/vm-$name.first-failure.log" | head -n 8 | sed 's/^/    | /'
		run_one "$t" "$log"
		[ "$rc" != 0 ] || flaky=$((flaky + 1))
	fi
	secs=$((SECONDS - start))
	if [ "$rc" = 0 ]; then
		if [ "$retried" = 1 ]; then
			echo "FLAKY $name (${secs}s: failed once in the sandbox, passed on retry)"
		else
			echo "PASS $name (${secs}s)"
		fi
		passed=$((passed + 1))
	else
		[ "$rc" != 124 ] || echo "run-vm-tests.sh: $name: killed after ${VM_TEST_TIMEOUT:-900}s" >>"$log"
		echo "FAIL $name (${secs}s, status $rc, log $log)"
		tail -n 25 "$log" | sed 's/^/    | /'
		failed=$((failed + 1))
	fi
done

[ "$flaky" = 0 ] || echo "run-vm-tests.sh: $flaky test(s) passed only on a retry in the sandbox"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
