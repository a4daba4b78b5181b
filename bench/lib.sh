# SPDX-License-Identifier: Apache-2.0
# Shared by bench/boot.sh, blk.sh and net.sh (sourced; they set -euo pipefail).
#
# Every benchmark is one tests/vm-run --vmm-cmd invocation whose "VMM" is a script of
# bench/inner/: it runs where the VMMs run (in L1 in the nested sandbox, on this host in
# direct mode) and runs the native measurement, vqvm and QEMU microvm BENCH_RUNS times
# each, interleaved, printing RESULT lines (bench/inner/lib.sh). The timing is taken
# there, never across L1's own boot. This side keeps the log, shows progress and prints
# the medians and ratios.
#
# Environment: BENCH_RUNS (runs per implementation, default 5), BENCH_MODE (auto, direct
# or sandbox, as tests/vm-run --mode), BENCH_ONLY (below), BENCH_VQVM (the vqvm binary
# to measure, default build/vqvm: e.g. one built from a clean export of a commit while
# the work tree holds unfinished changes), VM_RUN_VERBOSE=1 (L1's console, see tests/vm-run).

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
here=$root/bench
vm_run=$root/tests/vm-run
vqvm=${BENCH_VQVM:-$root/build/vqvm}
images=$root/build/images
out_dir=$root/build/bench

die() { echo "$prog: $*" >&2; exit 2; }

runs=${BENCH_RUNS:-5}
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS wants a positive number, got '$runs'"
[ -x "$vqvm" ] || die "$vqvm not found (run: make)"
vqvm=$(realpath "$vqvm")
for f in vmlinuz initrd.cpio.gz tools.ext4; do
	[ -f "$images/$f" ] || die "$images/$f not found (run: make images)"
done
mode=${BENCH_MODE:-auto}
if [ "$mode" = auto ]; then
	# The same choice as tests/vm-run's.
	if [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; then
		mode=direct
	else
		mode=sandbox
	fi
fi
case "$mode" in
direct)
	where="direct: the VMMs and the native runs on this host (hardware KVM)"
	where_short="direct (hardware KVM)"
	;;
sandbox)
	where="sandbox: the VMMs and the native runs in L1, a Linux under QEMU TCG with emulated SVM (kvm_amd); guests are L2"
	where_short="sandbox (VMMs in L1 under QEMU TCG, guests L2)"
	;;
*) die "BENCH_MODE wants auto, direct or sandbox, got '$mode'" ;;
esac
qemu=$(command -v qemu-system-x86_64 || echo none)
mkdir -p "$out_dir"
# BENCH_ONLY="vqvm qemu" (some of native, vqvm, qemu; blk and net also managed): run
# only those (for debugging).
only_opt=()
[ -z "${BENCH_ONLY:-}" ] || only_opt=(--only "$BENCH_ONLY")
# blk and net: BENCH_MANAGED=1 (default) also measures vqvm with the device on the
# management device ("managed": --managed-disk / --managed-net, guest driver vqvm_mgmt
# loaded) next to the virtio-pci one; 0 leaves that column out. impls_opt is their --only,
# nvms the number of guests booted per run (for the timeout).
case "${BENCH_MANAGED:-1}" in
0) impls="native vqvm qemu" ;;
1) impls="native vqvm managed qemu" ;;
*) die "BENCH_MANAGED wants 0 or 1, got '$BENCH_MANAGED'" ;;
esac
impls=${BENCH_ONLY:-$impls}
impls_opt=(--only "$impls")
nvms=$(echo "$impls" | wc -w)

# vm-run options every benchmark needs: the inner scripts, vqvm, QEMU (with their shared
# libraries) and the firmware QEMU's microvm loads (qboot as bios-microvm.bin, and the
# linuxboot_dma option ROM), copied into L1 at their host paths; QEMU gets -L /usr/share/qemu.
vm_run_opts=(--mode "$mode" --copy "$here/inner" --host-prog "$vqvm")
if [ "$qemu" != none ]; then
	vm_run_opts+=(--host-prog "$qemu")
	for fw in bios-microvm.bin linuxboot_dma.bin; do
		[ ! -e "/usr/share/qemu/$fw" ] || vm_run_opts+=(--copy "/usr/share/qemu/$fw")
	done
fi

# bench_tools [PROGRAM...]: $tools = a private copy of build/images/tools.ext4 (fio,
# iperf3), or with PROGRAMs a tools disk of its own with them (guest-images/mktools.sh),
# for vm-run --blockdev: the sandbox's QEMU locks its disk images, and VM tests running
# at the same time use the original; one per benchmark, so that blk and net can run at
# the same time (build/bench/tools-blk.ext4, tools-net.ext4).
bench_tools() {
	tools=$out_dir/tools-$prog_name.ext4
	if [ $# -gt 0 ]; then
		[ -f "$tools" ] && [ ! "$root/guest-images/mktools.sh" -nt "$tools" ] &&
			[ "$(cat "$tools.progs" 2>/dev/null)" = "$*" ] && return 0
		"$root/guest-images/mktools.sh" "$tools" "$@" >"$out_dir/mktools-$prog_name.log" 2>&1 ||
			die "building the tools disk failed (see $out_dir/mktools-$prog_name.log)"
		echo "$*" >"$tools.progs"
	elif [ ! -f "$tools" ] || [ "$images/tools.ext4" -nt "$tools" ]; then
		cp "$images/tools.ext4" "$tools.tmp"
		mv -f "$tools.tmp" "$tools"
	fi
}

# bench_header TITLE: what runs where.
bench_header() {
	echo "== $1"
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), host: $(uname -n), $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1)"
	echo "path: $where"
	echo "runs: $runs per implementation (BENCH_RUNS), interleaved; medians below"
	echo "vqvm: $(vqvm_ident)"
	if [ "$qemu" != none ]; then
		echo "QEMU: $("$qemu" --version | head -n1)"
	else
		echo "QEMU: qemu-system-x86_64 is not installed; its column will say FAILED"
	fi
	load_start=$(load_now)
	echo "load on this host at the start: $load_start"
}

# The vqvm binary measured: its path, mtime and hash; for build/vqvm also the commit of
# the work tree ("+changes" when tracked files differ from it: the binary may hold them).
vqvm_ident() {
	local rev dirty= from=
	if [ "$vqvm" = "$root/build/vqvm" ]; then
		rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')
		[ -z "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ] || dirty="+changes"
		from=" from the work tree at commit $rev$dirty"
	fi
	echo "$vqvm$from, built $(date -u -r "$vqvm" '+%Y-%m-%d %H:%M UTC'), sha256 $(sha256sum "$vqvm" | cut -c1-12)"
}

# The load average (1, 5, 15 min) of this host: the sandbox's vCPUs share its CPUs with
# anything else running here, so a busy host slows every column (ratios from the same
# run stay comparable, absolute numbers do not).
load_now() { echo "$(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min load average, $(nproc) CPUs)"; }

# bench_run NAME TIMEOUT VM-RUN-ARGS...: run vm-run (its output in build/bench/NAME.log),
# showing progress, FAIL and LOG lines on stderr. Sets $log and $run_rc.
bench_run() {
	local name=$1 timeout=$2
	shift 2
	log=$out_dir/$name.log
	loadf=$out_dir/$name.load
	# This host's 1-minute load average every 10 s while the benchmark runs (the
	# sandbox's own QEMU accounts for up to 2 of it), summarised under the table.
	cut -d' ' -f1 /proc/loadavg >"$loadf"
	(while sleep 10; do cut -d' ' -f1 /proc/loadavg; done) >>"$loadf" 2>/dev/null &
	local sampler=$!
	set +e
	"$vm_run" "${vm_run_opts[@]}" --timeout "$timeout" "$@" 2>&1 | tee "$log" |
		grep --line-buffered -E '^(# |FAIL |LOG |vm-run|\[L1\]|  qemu: )' >&2
	run_rc=${PIPESTATUS[0]}
	kill "$sampler" 2>/dev/null
	wait "$sampler" 2>/dev/null
	set -e
	case "$run_rc" in
	0) ;;
	124) echo "$prog: the whole benchmark timed out after ${timeout}s; measurements so far are used" >&2 ;;
	125) echo "$prog: the sandbox failed (see $log)" >&2 ;;
	*) echo "$prog: some measurements failed (FAIL lines in $log)" >&2 ;;
	esac
}

# bench_table TITLE WITH_NATIVE SPEC...: the table of medians from $log, printed and saved
# as build/bench/NAME.table. SPEC is "label|metric|unit|divisor|higher or lower is better"
# with an optional "|vqvm-only" (QEMU's cell says n/a: it has no such thing).
# A cell is the median of the runs that worked, "(k/N)" when only k of N did, FAILED when
# none did; a ratio needs both medians. "paired": the median of the per-run vqvm/QEMU
# ratios (runs where both worked). When the log has results of the impl "managed" (vqvm
# with the device on the management device instead of virtio-pci, BENCH_MANAGED), the
# table also has its column, managed/vqvm (ratio of medians) and its paired ratio.
bench_table() {
	local title=$1 native=$2
	shift 2
	{
		echo
		echo "$title"
		echo "(median of $runs runs per cell; $where_short; $(date -u '+%Y-%m-%d %H:%M UTC'))"
		echo "(host load at the start: ${load_start:-?}; at the end: $(load_now))"
		[ ! -s "${loadf:-}" ] || sort -n "$loadf" | awk '{ a[NR] = $1 }
			END { printf "(host 1-min load average during the run, every 10 s: min %s, median %s, max %s)\n",
				a[1], a[int((NR + 1) / 2)], a[NR] }'
		printf '%s\n' "$@" | awk -v native="$native" -v runs="$runs" -v logf="$log" '
		function fmt(v) {
			if (v >= 100) return sprintf("%.0f", v)
			if (v >= 10) return sprintf("%.1f", v)
			if (v >= 1) return sprintf("%.2f", v)
			return sprintf("%.3f", v)
		}
		function med(impl, metric, div,   k, i, j, t, a, key) {
			key = impl SUBSEP metric
			k = n[key] + 0
			if (k == 0) return ""
			for (i = 1; i <= k; i++) a[i] = val[key, i]
			for (i = 2; i <= k; i++)
				for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return ((k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2) / div
		}
		function cell(impl, metric, div,   m, k) {
			m = med(impl, metric, div)
			k = n[impl SUBSEP metric] + 0
			if (m == "") return "FAILED"
			return fmt(m) (k < runs ? " (" k "/" runs ")" : "")
		}
		function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.3f", a / b) }
		# The median over runs of vqvm/QEMU within the same run (the two ran minutes
		# apart at most): less exposed than the ratio of medians to load that changes
		# during the benchmark. "-" without a run where both worked.
		function paired(metric, x, y,   i, j, k, t, a, r) {
			k = 0
			for (i = 1; i <= n[x SUBSEP metric]; i++) {
				r = runof[x SUBSEP metric, i]
				if (((y SUBSEP metric SUBSEP r) in byrun) && byrun[y, metric, r] != 0)
					a[++k] = val[x SUBSEP metric, i] / byrun[y, metric, r]
			}
			if (k == 0) return "-"
			for (i = 2; i <= k; i++)
				for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return sprintf("%.3f", (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2)
		}
		BEGIN {
			while ((getline line < logf) > 0) {
				split(line, f, " ")
				if (f[1] != "RESULT") continue
				key = f[2] SUBSEP f[4]
				val[key, ++n[key]] = f[5] + 0
				runof[key, n[key]] = f[3]
				byrun[f[2], f[4], f[3]] = f[5] + 0
				if (f[2] == "managed") managed = 1
			}
			FS = "|"
			fmtline = native ? "| %-28s | %14s | %14s | %14s | %11s | %9s | %-20s | %9s |" : "| %-28s | %14s | %14s | %9s | %-20s | %9s |"
			if (native) {
				printf fmtline, "metric", "native", "vqvm", "QEMU", "vqvm/native", "vqvm/QEMU", "vqvm vs QEMU", "paired"
				if (managed) printf " %14s | %12s | %12s |", "vqvm managed", "managed/pci", "paired m/pci"
				printf "\n|%s|%s|%s|%s|%s|%s|%s|%s|", "------------------------------", "----------------", "----------------", "----------------", "-------------", "-----------", "----------------------", "-----------"
			} else {
				printf fmtline, "metric", "vqvm", "QEMU", "vqvm/QEMU", "vqvm vs QEMU", "paired"
				if (managed) printf " %14s | %12s | %12s |", "vqvm managed", "managed/pci", "paired m/pci"
				printf "\n|%s|%s|%s|%s|%s|%s|", "------------------------------", "----------------", "----------------", "-----------", "----------------------", "-----------"
			}
			if (managed) printf "%s|%s|%s|", "----------------", "--------------", "--------------"
			printf "\n"
		}
		{
			label = $1 " (" $3 ")"; metric = $2; div = $4 + 0; better = $5
			v = med("vqvm", metric, div); q = med("qemu", metric, div); nv = med("native", metric, div)
			qc = ($6 == "vqvm-only") ? "n/a" : cell("qemu", metric, div)
			vs = "-"
			if (v != "" && q != "" && q != 0) {
				d = (v / q - 1) * 100
				good = (better == "higher") ? (d >= 0) : (d <= 0)
				vs = sprintf("%+.0f%% (%s)", d, (d > -3 && d < 3) ? "about same" : good ? "vqvm better" : "QEMU better")
			}
			if (native)
				printf fmtline, label, cell("native", metric, div), cell("vqvm", metric, div), qc, ratio(v, nv), ratio(v, q), vs, paired(metric, "vqvm", "qemu")
			else
				printf fmtline, label, cell("vqvm", metric, div), qc, ratio(v, q), vs, paired(metric, "vqvm", "qemu")
			if (managed) {
				mv = med("managed", metric, div)
				printf " %14s | %12s | %12s |", cell("managed", metric, div), ratio(mv, v), paired(metric, "managed", "vqvm")
			}
			printf "\n"
		}'
	} | tee "$out_dir/$prog_name.table"
}
