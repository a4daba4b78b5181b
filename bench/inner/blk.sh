#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Block benchmark, the part that runs where the VMMs run (see bench/blk.sh and lib.sh).
#
#   blk.sh --runs N --kernel K --initrd I --memory MIB --vqvm PATH --qemu PATH|none
#          --disk DEV --tools IMG --jobs FIO-JOBFILE --runtime S [--only "IMPL..."]
#
# Each run: the fio jobs natively on DEV, then in a guest of vqvm and one of QEMU microvm
# (the guest script, bench/guest/blk.sh, is in the initrd) with DEV as the guest's
# virtio-blk disk "data", opened O_DIRECT (vqvm cache=none; QEMU cache=none,aio=io_uring),
# and the tools disk (fio) as "tools"; with "managed" in --only also in a vqvm guest with
# DEV as a managed disk (--managed-disk, the guest driver vqvm_mgmt loaded); the order
# rotates from run to run.
. "$(dirname "$0")/lib.sh"

only="native vqvm managed qemu" runs=5 kernel= initrd= memory=256 vqvm= qemu=none disk= tools= jobs= runtime=3
parse_args blk.sh "disk tools jobs runtime" "$@"
njobs=$(grep -c '^\[[^g]' "$jobs")
# The guest boots in up to ~20 s in the sandbox, fio loads for a few more.
VM_TIMEOUT=$((150 + njobs * (runtime + 1) * 3))

# report IMPL RUN FILE: RESULT lines from "<job>;<err>;<rKiB/s>;<rIOPS>;<wKiB/s>;<wIOPS>"
# lines (after a BENCH-FIO prefix in guest output); 0 when all njobs jobs are there.
report() {
	local impl=$1 run=$2 f=$3 line job err rbw riops wbw wiops got=0 msg=
	# (L1 has no /dev/fd for bash's <(...).)
	tr -d '\r' <"$f" | grep -E '^(BENCH-FIO )?[a-z0-9-]+;' | sed 's/^BENCH-FIO //' >"$f.jobs" || true
	while IFS=';' read -r job err rbw riops wbw wiops; do
		if [ "$err" != 0 ]; then
			fail "$impl" "$run" "fio job $job: error $err"
			continue
		fi
		got=$((got + 1))
		result "$impl" "$run" "$job.iops" $((riops + wiops))
		result "$impl" "$run" "$job.kibs" $((rbw + wbw))
		msg="$msg $job $((riops + wiops))"
	done <"$f.jobs"
	[ "$got" = "$njobs" ] || return 1
	say "$impl run $run: IOPS$msg"
}

run_native() {
	local run=$1 out=$logs/native-$1.out rc
	set +e
	BENCH_DEV=$disk BENCH_RUNTIME=$runtime timeout -s KILL "$VM_TIMEOUT" \
		fio --output-format=terse --terse-version=3 "$jobs" >"$logs/native-$run.fio" 2>"$out"
	rc=$?
	set -e
	grep '^3;' "$logs/native-$run.fio" | cut -d';' -f3,5,7,8,48,49 >"$logs/native-$run.res" || true
	report native "$run" "$logs/native-$run.res" ||
		fail native "$run" "fio exited with status $rc" "$out"
}

say "blk: $runs runs; fio jobs: $(grep '^\[[^g]' "$jobs" | tr -d '[]' | tr '\n' ' ')($runtime s + 1 s ramp each)"
say "disk: $disk ($(($(blockdev --getsize64 "$disk" 2>/dev/null || stat -L -c %s "$disk") / 1048576)) MiB); guests: 1 vCPU, $memory MiB"
say "where the VMMs run: $(uname -r), $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1)"
run_vqvm() {
	vqvm_guest vqvm "$1" "fio jobs reported" "bench.runtime=$runtime" \
		--disk "path=$disk,cache=none,id=data"
}
# The same disk and options on the management device (the guest's /init loads
# vqvm_mgmt.ko); the tools disk stays virtio-pci.
run_managed() {
	vqvm_guest managed "$1" "fio jobs reported" "bench.runtime=$runtime vqvm.mgmt=load" \
		--managed-disk "path=$disk,cache=none,id=data"
}
run_qemu() {
	qemu_guest "$1" "fio jobs reported" "bench.runtime=$runtime" \
		-drive "id=data,file=$disk,format=raw,if=none,cache=none,aio=io_uring" \
		-device virtio-blk-device,drive=data,serial=data
}

run_all
exit "$failed"
