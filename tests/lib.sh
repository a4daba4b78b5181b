# SPDX-License-Identifier: Apache-2.0
# Shared helpers for tests/vm/*.sh: source it, then call check/expect_* and finish.
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vqvm=$root/build/vqvm
vm_run=$root/tests/vm-run
tiny=$root/build/tests
work=$(mktemp -d /tmp/vqvm-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
checks=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

ok() {
	echo "ok: $*"
}

# check DESCRIPTION CONDITION...: run the condition, record the outcome.
check() {
	local what=$1
	shift
	checks=$((checks + 1))
	if "$@"; then ok "$what"; else fail "$what"; fi
}

# expect_line FILE REGEX: some line of FILE matches the extended regex.
expect_line() {
	grep -Eq -- "$2" "$1"
}

# expect_status WANT GOT
expect_status() {
	[ "$1" = "$2" ] || { echo "  exit status $2, expected $1"; return 1; }
}

# show FILE: print a file's tail, for the log of a failed check.
show() {
	echo "---- $1 (last 30 lines)"
	tail -n 30 "$1"
	# vqvm's own messages, wherever they are: curl's or the guest's lines written after
	# them push them out of the tail.
	if grep -Eq '^vqvm: | vqvm (error|warn): ' "$1"; then
		echo "---- $1: vqvm's messages"
		grep -E '^vqvm: | vqvm (error|warn): ' "$1" | tail -n 10
	fi
	echo "----"
}

finish() {
	echo "$checks checks, $failures failed"
	[ "$failures" -eq 0 ]
}
