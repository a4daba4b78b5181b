# SPDX-License-Identifier: Apache-2.0
# Sourced by bench/inner/*.sh. Those scripts run where the VMMs run: inside L1 in the
# nested sandbox (started by tests/vm-run --vmm-cmd, so with L1's busybox tools; bash is
# copied in), or on this host in direct mode. They run every implementation (native,
# vqvm, QEMU) BENCH_RUNS times, interleaved, and print one line per measurement:
#
#   RESULT <impl> <run> <metric> <value>   a measurement (impl: native, vqvm, qemu)
#   FAIL <impl> run <run>: <why>           a measurement that did not happen
#   LOG <impl> run <run>: <line>           the tail of that run's console log
#   # <text>                               progress
set -euo pipefail

# Keep each run's logs; L1 loses them anyway, on a host they are removed at exit.
logs=$(mktemp -d "${TMPDIR:-/tmp}/vqvm-bench.XXXXXX")
trap 'rm -rf "$logs"' EXIT
failed=0

say() { echo "# $*"; }
result() { echo "RESULT $*"; }

# fail IMPL RUN WHY [LOG...]: report a measurement that did not happen.
fail() {
	local impl=$1 run=$2 why=$3 f
	shift 3
	failed=1
	echo "FAIL $impl run $run: $why"
	for f in "$@"; do
		[ -s "$f" ] || continue
		# A guest kernel's oops or panic: from its first line, then the log's end.
		tr -d '\r' <"$f" | awk '/BUG: |Oops|general protection fault|Kernel panic/ { p = 1 }
			p && n++ < 25' | sed "s|^|LOG $impl run $run: |"
		tail -n 12 "$f" | tr -d '\r' | sed "s|^|LOG $impl run $run: |"
	done
}

# now_ns: NOW = the monotonic clock in ns (ktime_get, as /proc/timer_list prints it),
# read by this shell itself: no fork.
now_ns() {
	local a b c rest
	while read -r a b c rest; do
		if [ "$a $b" = "now at" ]; then
			NOW=$c
			return 0
		fi
	done </proc/timer_list
	return 1
}

# busybox `time -v` is the one tool for a peak RSS that L1 has. Some versions of it
# print ru_maxrss (KiB) multiplied by page size / 1024, taking it for pages (Debian's
# 1.35 does): rss_calibrate measures that factor once on dd with a 64 MiB buffer,
# rss_kib divides by it.
rss_factor=1
rss_calibrate() {
	local r
	busybox time -v -o "$logs/cal" dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null
	r=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$logs/cal")
	rss_factor=$(((${r:-65536} + 32768) / 65536))
	[ "$rss_factor" -ge 1 ] || rss_factor=1
}
rss_kib() { # rss_kib FILE: the peak RSS in KiB from a `busybox time -v -o FILE` report
	local r
	r=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$1" 2>/dev/null || true)
	[ -z "$r" ] || echo $((r / rss_factor))
}

# awk that handles each input line as it arrives (mawk buffers pipes otherwise).
awk_lines=(awk)
case "$(awk -W version 2>&1 </dev/null)" in *mawk*) awk_lines+=(-W interactive) ;; esac

# The order of the implementations in run number $1: rotated each run, so none is
# always first (caches, or other load on the machine, drift over the whole benchmark).
rotate() {
	local n=$1
	shift
	local list=("$@") i out=()
	for ((i = 0; i < ${#list[@]}; i++)); do
		out+=("${list[(i + n) % ${#list[@]}]}")
	done
	echo "${out[@]}"
}

# QEMU microvm with KVM: the command up to (not including) the devices and -append.
# $qemu, $kernel, $initrd set by the caller; $1 = memory in MiB.
qemu_base() {
	qemu_cmd=("$qemu" -M microvm -enable-kvm -cpu host -m "$1" -smp 1 -nodefaults
		-no-user-config -nographic -serial stdio -no-reboot -L /usr/share/qemu
		-kernel "$kernel" -initrd "$initrd")
}
# The kernel command line QEMU gets (vqvm has its own defaults, docs/cli.md): microvm has
# no i8042, so the guest resets by triple fault (reboot=t) and QEMU exits (-no-reboot).
QEMU_APPEND="console=ttyS0 reboot=t panic=1"
