#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Boot benchmark, the part that runs where the VMMs run (see bench/boot.sh and lib.sh).
#
#   boot.sh --runs N --kernel K --initrd I --memory MIB --vqvm PATH --qemu PATH|none
#           [--append TEXT] [--only "IMPL..."] [--variants "log quiet"]
#
# Each run boots the guest once with vqvm and once with QEMU microvm. The clock starts
# just before the VMM is started (ktime from /proc/timer_list, read by this shell) and
# stops when the awk reading the VMM's stdout (the guest's serial console) sees the init
# marker VQVM-GUEST-INIT-OK (ktime read again there). The guest's init then runs
# vqvm.run=true and resets (reboot -f), so the VMM exits; busybox `time -v` gives the
# VMM's peak RSS (ru_maxrss, corrected: see rss_kib in lib.sh) when it has exited.
# Each boot is done twice: with the kernel's messages on the console (variant "log")
# and with "quiet" added to the kernel command line (metrics *_quiet).
. "$(dirname "$0")/lib.sh"

only="vqvm qemu" variants="log quiet" runs=5 kernel= initrd= memory=128 vqvm= qemu=none append=
parse_args boot.sh "append variants" "$@"
MARKER=VQVM-GUEST-INIT-OK
VM_TIMEOUT=120 # seconds per boot, then the run counts as failed

# boot_one IMPL RUN SUFFIX CMD...: boot, report boot_ms$SUFFIX and rss_kib$SUFFIX.
boot_one() {
	local impl=$1 run=$2 sfx=$3 t0 rc ms rss
	shift 3
	local out=$logs/$impl-$run$sfx.out err=$logs/$impl-$run$sfx.err tf=$logs/$impl-$run$sfx.ms
	local rf=$logs/$impl-$run$sfx.time
	rm -f "$tf" "$rf"
	set +e
	now_ns
	t0=$NOW
	busybox time -v -o "$rf" timeout -s KILL "$VM_TIMEOUT" "$@" </dev/null 2>"$err" |
		"${awk_lines[@]}" -v t0="$t0" -v m="$MARKER" -v tf="$tf" '
		{ print }
		!seen && index($0, m) {
			seen = 1
			while ((getline l < "/proc/timer_list") > 0)
				if (l ~ /^now at /) break
			close("/proc/timer_list")
			split(l, f, " ")
			printf "%.3f\n", (f[3] - t0) / 1e6 > tf
			close(tf)
		}' >"$out"
	rc=${PIPESTATUS[0]}
	set -e
	ms=$(cat "$tf" 2>/dev/null || true)
	rss=$(rss_kib "$rf")
	local what="$run${sfx:+ (${sfx#_})}"
	if [ -z "$ms" ]; then
		fail "$impl" "$what" "no $MARKER on the console (exit status $rc)" "$out" "$err"
		return 0
	fi
	if [ "$rc" != 0 ]; then
		fail "$impl" "$what" "$MARKER seen after $ms ms, but the VMM exited with status $rc" "$out" "$err"
		return 0
	fi
	result "$impl" "$run" "boot_ms$sfx" "$ms"
	[ -z "$rss" ] || result "$impl" "$run" "rss_kib$sfx" "$rss"
	say "$impl run $what: init marker after $ms ms, peak RSS ${rss:-?} KiB"
}

say "boot: $runs runs; guest: 1 vCPU, $memory MiB, kernel $kernel, initrd $initrd"
say "where the VMMs run: $(uname -r), $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1)"
rss_calibrate
say "busybox time's ru_maxrss factor: $rss_factor (divided out)"
# boot_variants IMPL RUN: boot_one per variant, with the command cmd_IMPL APPEND puts in
# cmd: "log" has the kernel's messages on the console, as vqvm's defaults
# have it; "quiet" only warnings and worse, so the UART's cost matters less.
boot_variants() {
	local impl=$1 run=$2 variant v_append suffix
	for variant in $variants; do
		v_append=$append suffix=
		[ "$variant" = log ] || { v_append="quiet $append" suffix=_$variant; }
		"cmd_$impl" "vqvm.run=true $v_append"
		boot_one "$impl" "$run" "$suffix" "${cmd[@]}"
	done
}
cmd_vqvm() {
	cmd=("$vqvm" run --kernel "$kernel" --initrd "$initrd" --cpus 1 --memory "${memory}M"
		--serial stdio --cmdline "$1")
}
cmd_qemu() {
	qemu_base "$memory"
	cmd=("${qemu_cmd[@]}" -append "$QEMU_APPEND $1")
}
run_vqvm() { boot_variants vqvm "$1"; }
run_qemu() { boot_variants qemu "$1"; }

run_all
exit "$failed"
