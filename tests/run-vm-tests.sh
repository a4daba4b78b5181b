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
# emulating SVM), which now and then freezes or faults L1 or an L2 guest on its own
# (docs/architecture.md, "Known sandbox artefacts"). There, and only there, a failed
# test runs again, up to twice: "RETRY name" shows why it failed and keeps that try's
# log as vm-<name>.failure-<N>.log, "FLAKY name" says it passed on a later try, and the
# final line counts it as passed. A test that fails three times fails.
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
	rm -f "$logs/vm-$name".failure-*.log "$logs/vm-$name.first-failure.log"
	run_one "$t" "$log"
	while [ "$rc" != 0 ] && [ "$sandbox" = 1 ] && [ "$retried" -lt 2 ]; do
		retried=$((retried + 1))
		kept=$logs/vm-$name.failure-$retried.log
		mv -f "$log" "$kept"
		echo "RETRY $name (status $rc in the sandbox; that try's log: $kept)"
		grep -E '^FAIL|vqvm:|vm-run:' "$kept" | head -n 8 | sed 's/^/    | /'
		run_one "$t" "$log"
		[ "$rc" != 0 ] || flaky=$((flaky + 1))
	done
	secs=$((SECONDS - start))
	if [ "$rc" = 0 ]; then
		if [ "$retried" -gt 0 ]; then
			echo "FLAKY $name (${secs}s: failed $retried time(s) in the sandbox, then passed)"
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
