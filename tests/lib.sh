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
	# The dump before a sandbox run's timeout (vm-run, DUMP_AT): where vqvm's threads
	# waited in L1 and where its vCPUs were (SIGUSR2). L1's kernel log after it pushes it
	# out of the tail.
	if grep -Eq "$dump_lines" "$1"; then
		echo "---- $1: vqvm's threads and vCPUs before the timeout"
		grep -E "$dump_lines" "$1" | tail -n 24
	fi
	echo "----"
}
dump_lines='\[L1\] vqvm [0-9]+ thread | vqvm info: vcpu[0-9]+: '

# tap_host_script FILE ADDR [WORD...]: a host-setup script for vm-run (--host-setup FILE
# --host-prog ip, and --host-prog iperf3 with an iperf3 word): TAP vqtap0 with ADDR/24,
# up. WORDs: multi_queue (a TAP with several queues), iperf3 (a server on ADDR, port
# 5201), iperf3:PORT (one more, on PORT).
tap_host_script() {
	local file=$1 addr=$2 mq='' ports=() w
	shift 2
	for w in "$@"; do
		case $w in
		multi_queue) mq=' multi_queue' ;;
		iperf3) ports+=(5201) ;;
		iperf3:[0-9]*) ports+=("${w#iperf3:}") ;;
		*) echo "tap_host_script: unknown word '$w'" >&2; return 1 ;;
		esac
	done
	{
		echo "/usr/sbin/ip tuntap add dev vqtap0 mode tap$mq || exit 1"
		echo "/usr/sbin/ip addr add $addr/24 dev vqtap0 || exit 1"
		echo "/usr/sbin/ip link set vqtap0 up || exit 1"
		for w in "${ports[@]}"; do
			echo "/usr/bin/iperf3 -s -D -B $addr -p $w || exit 1"
		done
	} >"$file"
}

finish() {
	echo "$checks checks, $failures failed"
	[ "$failures" -eq 0 ]
}
