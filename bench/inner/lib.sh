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
failed=0 failures=0

say() { echo "# $*"; }
result() { echo "RESULT $*"; }

# fail IMPL RUN WHY [LOG...]: report a measurement that did not happen.
fail() {
	local impl=$1 run=$2 why=$3 f
	shift 3
	failed=1
	failures=$((failures + 1))
	echo "FAIL $impl run $run: $why"
	for f in "$@"; do
		[ -s "$f" ] || continue
		case $f in
		*.threads) sed "s|^|LOG $impl run $run: |" "$f"; continue ;; # vmm_threads, whole
		esac
		# A guest kernel's oops or panic: from its first line, then the log's end.
		tr -d '\r' <"$f" | awk '/BUG: |Oops|general protection fault|Kernel panic/ { p = 1 }
			p && n++ < 25' | sed "s|^|LOG $impl run $run: |"
		tail -n 12 "$f" | tr -d '\r' | sed "s|^|LOG $impl run $run: |"
		# vqvm's device state dump (SIGUSR2 at the timeout: run_vm), whole.
		sed -n '/state dump (SIGUSR2)/,/state dump ends/p' "$f" | sed "s|^|LOG $impl run $run: |"
	done
}

# parse_args SCRIPT "EXTRA..." "$@": each --NAME VALUE sets the variable NAME (a dash in
# NAME as _) for the options every benchmark takes (runs kernel initrd memory vqvm qemu
# only) and the script's own EXTRA names; anything else is a usage error (exit 2).
parse_args() {
	local script=$1 names=" runs kernel initrd memory vqvm qemu only $2 " name
	shift 2
	while [ $# -gt 0 ]; do
		name=${1#--}
		name=${name//-/_}
		case "$names" in
		*" $name "*) ;;
		*) echo "$script: unknown option $1" >&2; exit 2 ;;
		esac
		[ $# -ge 2 ] || { echo "$script: $1 needs a value" >&2; exit 2; }
		printf -v "$name" '%s' "$2"
		shift 2
	done
}

# run_all: every run, each implementation of $only in an order rotated from run to run:
# the script's run_IMPL RUN. QEMU's runs fail at once when it is not installed.
run_all() {
	local run impl impls
	read -r -a impls <<<"$only"
	for ((run = 1; run <= runs; run++)); do
		for impl in $(rotate "$run" "${impls[@]}"); do
			if [ "$impl" = qemu ] && [ "$qemu" = none ]; then
				fail qemu "$run" "qemu-system-x86_64 is not installed"
				continue
			fi
			"run_$impl" "$run"
		done
	done
}

# cpu_ticks TASKDIR: the user + system CPU time a thread has used, in clock ticks.
cpu_ticks() {
	local stat
	read -r stat <"$1/stat" || return 1
	# shellcheck disable=SC2086 # the fields after "(comm) ", from the state on
	set -- ${stat##*) }
	echo $(($12 + $13))
}

# vmm_threads PID: what the kernel says of each thread of a VMM about to be killed: its
# state, where it waits (wchan, kernel stack) and the CPU it used in one second (a vCPU
# spinning in the kernel shows ~100 ticks, a halted one 0); then the kernel log's end. A
# guest that stopped running is told apart from a vqvm thread stuck in vqvm this way.
vmm_threads() {
	local pid=$1 t
	local -A ticks=()
	for t in /proc/"$pid"/task/*; do ticks[$t]=$(cpu_ticks "$t" 2>/dev/null || echo 0); done
	sleep 1
	echo "threads of the VMM (pid $pid) at the timeout:"
	for t in /proc/"$pid"/task/*; do
		echo "thread ${t##*/} $(cat "$t/comm" 2>/dev/null):" \
			"$(grep '^State' "$t/status" 2>/dev/null), wchan $(cat "$t/wchan" 2>/dev/null)," \
			"$(($(cpu_ticks "$t" 2>/dev/null || echo 0) - ${ticks[$t]:-0})) CPU ticks in 1 s"
		sed 's/^/    /' "$t/stack" 2>/dev/null
	done
	dmesg 2>/dev/null | tail -n 20 | sed 's/^/kernel log: /'
}

# run_vm IMPL RUN WHAT CMD...: run a VMM whose guest runs the benchmark and prints its
# results on the console, for at most VM_TIMEOUT s; then the script's report IMPL RUN
# OUT, or fail "not all WHAT". At the timeout the VMM's threads are looked at
# (vmm_threads), then it gets SIGUSR2 (vqvm logs its vCPUs' and devices' state, the
# post-mortem of a stall, shown by fail) and SIGKILL 5 s later.
run_vm() {
	local impl=$1 run=$2 what=$3
	shift 3
	local out=$logs/$impl-$run.out err=$logs/$impl-$run.err threads=$logs/$impl-$run.threads
	local pid rc waited=0
	set +e
	"$@" </dev/null >"$out" 2>"$err" &
	pid=$!
	while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $((VM_TIMEOUT * 2)) ]; do
		sleep 0.5
		waited=$((waited + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		vmm_threads "$pid" >"$threads" 2>&1
		kill -USR2 "$pid" 2>/dev/null
		sleep 5
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid"
	rc=$?
	set -e
	report "$impl" "$run" "$out" ||
		fail "$impl" "$run" "not all $what (VMM exit status $rc)" "$threads" "$out" "$err"
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

# vqvm_guest IMPL RUN WHAT CMDLINE ARGS...: run_vm of a 1-vCPU vqvm guest with the
# read-only tools disk $tools, the kernel command line CMDLINE and the devices ARGS.
vqvm_guest() {
	local impl=$1 run=$2 what=$3 cmdline=$4
	shift 4
	run_vm "$impl" "$run" "$what" "$vqvm" run --kernel "$kernel" --initrd "$initrd" --cpus 1 \
		--memory "${memory}M" --serial stdio --cmdline "$cmdline" \
		--disk "path=$tools,readonly,id=tools" "$@"
}

# qemu_guest RUN WHAT APPEND ARGS...: the same with QEMU microvm (kernel parameters
# $QEMU_APPEND APPEND).
qemu_guest() {
	local run=$1 what=$2 append=$3
	shift 3
	qemu_base "$memory"
	run_vm qemu "$run" "$what" "${qemu_cmd[@]}" \
		-drive "id=tools,file=$tools,format=raw,if=none,readonly=on" \
		-device virtio-blk-device,drive=tools,serial=tools "$@" \
		-append "$QEMU_APPEND $append"
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
