#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Hot-add benchmark, the part that runs where the VMMs run (see bench/hotplug.sh, lib.sh).
#
#   hotplug.sh --runs N --hp-runs M --kernel K --initrd I --memory MIB --vqvm PATH
#              --qemu PATH|none --helper PATH [--only "IMPL..."]
#
# Each run boots vqvm once and QEMU q35 once (order rotating), 1 vCPU, MIB MiB, the guest
# script bench/guest/hotplug.sh in the initrd, the static helper (bench/hotplug-helper.c)
# as /hp in the guest and as PATH here:
# - vqvm (--managed-disk gblk, pre-created, --api-sock): the guest destroys gblk's device,
#   then M times writes `blk` to the driver's `create` and times (in the guest) until the
#   disk reads (HPG lines: hp.guest); then the host M times PUTs /managed-devices/hotI
#   and times (here) from just before curl to the guest's "HPR I." on the console
#   (hp.host), then DELETEs it (hp.del: the DELETE's duration);
# - QEMU -M q35 with a pcie-root-port and a blockdev node: M times QMP device_add
#   virtio-blk-pci serial=hotI on the root port, timed here from just before the QMP
#   client to "HPR I." (hp.host), then device_del until DEVICE_DELETED (hp.del).
# Peak RSS of both VMMs over the whole boot (busybox time -v): rss_kib.
. "$(dirname "$0")/lib.sh"

only="vqvm qemu" runs=3 hp_runs=20 kernel= initrd= memory=128 vqvm= qemu=none helper=
parse_args hotplug.sh "hp_runs helper" "$@"
# A boot (SeaBIOS for q35) up to ~60 s in the sandbox, then 2*M hot-adds of ~1-3 s each.
VM_TIMEOUT=$((240 + hp_runs * 20))

# median of the numbers on stdin (integers), "" when none
median() {
	sort -n | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}
# stats TAG FILE: "median min max n" of the values (ns) in FILE, in ms
stats() {
	sort -n "$2" | awk -v tag="$1" '{ a[NR] = $1 }
		END { if (NR) printf "%s: median %.1f ms, min %.1f, max %.1f, n %d\n", tag,
			((NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) / 1e6, a[1] / 1e6, a[NR] / 1e6, NR }'
}
# report_median IMPL RUN METRIC FILE: RESULT with the median (us) of the ns in FILE
report_median() {
	local m
	m=$(median <"$4")
	[ -n "$m" ] || return 1
	result "$1" "$2" "$3" $((m / 1000))
	say "$1 run $2: $(stats "$3" "$4")"
}

# host_loop IMPL RUN DIR ADD-CMD-FN DEL-CMD-FN: M host-initiated hot-adds (after a
# failure: the medians of those that worked, and status 1)
host_loop() {
	local impl=$1 run=$2 d=$3 add=$4 del=$5 i t t0 rc=0
	: >"$d/host.ns"
	: >"$d/del.ns"
	for ((i = 1; i <= hp_runs; i++)); do
		# shellcheck disable=SC2046 # the command's words
		t=$("$helper" time "$d/console" "HPR $i." 60 -- $("$add" "$d" "$i") 2>>"$d/err.host") || {
			fail "$impl" "$run" "host hot-add $i: $t" "$d/console" "$d/err" "$d/err.host"
			rc=1
			break
		}
		echo "$t" >>"$d/host.ns"
		now_ns
		t0=$NOW
		# shellcheck disable=SC2046,SC2091 # run the command the function prints
		$("$del" "$d" "$i") >>"$d/del.out" 2>>"$d/err.host" || {
			fail "$impl" "$run" "host removal $i failed" "$d/del.out" "$d/err.host"
			rc=1
			break
		}
		now_ns
		echo $((NOW - t0)) >>"$d/del.ns"
	done
	report_median "$impl" "$run" hp.host "$d/host.ns" || true
	report_median "$impl" "$run" hp.del "$d/del.ns" || true
	return "$rc"
}

vq_add() {
	echo curl -sS -f --unix-socket "$1/api.sock" -X PUT -H Content-Type:application/json \
		-d "{\"backend\":\"hot$2\",\"type\":\"block\",\"path_on_host\":\"$1/hot.img\"}" \
		"http://localhost/managed-devices/hot$2"
}
vq_del() {
	echo curl -sS -f --unix-socket "$1/api.sock" -X DELETE "http://localhost/managed-devices/hot$2"
}
q_add() {
	echo "$helper" qmp "$1/qmp.sock" \
		"{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-blk-pci\",\"id\":\"hot$2\",\"drive\":\"hot\",\"bus\":\"rp1\",\"serial\":\"hot$2\"}}"
}
q_del() {
	echo "$helper" qmp "$1/qmp.sock" \
		"{\"execute\":\"device_del\",\"arguments\":{\"id\":\"hot$2\"}}" DEVICE_DELETED 60
}

# vm_start DIR CMD...: the VMM in the background under busybox time -v, console in DIR.
vm_start() {
	local d=$1
	shift
	busybox time -v -o "$d/time" timeout -s KILL "$VM_TIMEOUT" "$@" </dev/null \
		>"$d/console" 2>"$d/err" &
	vm_pid=$!
}

# vm_kill: end the VMM (busybox time's child; busybox timeout execs the command) and
# busybox time, by their pids.
vm_kill() {
	local c
	c=$(awk -v p="$vm_pid" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null || true)
	# shellcheck disable=SC2086 # zero or more pids
	[ -z "$c" ] || kill -KILL $c 2>/dev/null || true
	kill "$vm_pid" 2>/dev/null || true
}

# vm_finish IMPL RUN DIR: wait for the VMM, report its RSS
vm_finish() {
	local impl=$1 run=$2 d=$3 rss
	wait "$vm_pid" || true
	grep -q 'HP-DONE' "$d/console" || fail "$impl" "$run" "the guest did not finish" "$d/console" "$d/err"
	rss=$(rss_kib "$d/time")
	[ -z "$rss" ] || result "$impl" "$run" rss_kib "$rss"
	say "$impl run $run: peak RSS ${rss:-?} KiB"
}

run_vqvm() {
	local run=$1 d
	d=$logs/vqvm-$run
	mkdir -p "$d"
	truncate -s 16M "$d/g.img" "$d/hot.img"
	vm_start "$d" "$vqvm" run --kernel "$kernel" --initrd "$initrd" --cpus 1 \
		--memory "${memory}M" --serial stdio --cmdline "quiet bench.hp=vqvm bench.hp_runs=$hp_runs" \
		--managed-max 4 --managed-disk "path=$d/g.img,id=gblk" --api-sock "$d/api.sock"
	if ! "$helper" waitfile "$d/console" HP-PHASE-B $((VM_TIMEOUT - 20)) "$vm_pid"; then
		fail vqvm "$run" "the guest never reached the host phase" "$d/console" "$d/err"
		vm_kill
		vm_finish vqvm "$run" "$d"
		return
	fi
	: >"$d/guest.ns"
	: >"$d/write.ns"
	tr -d '\r' <"$d/console" | awk '$1 == "HPG" { print $3 > "'"$d"'/guest.ns"; print $4 > "'"$d"'/write.ns" }'
	grep -a 'HPG-FAIL' "$d/console" | sed "s/^/FAIL vqvm run $run: /" || true
	report_median vqvm "$run" hp.guest "$d/guest.ns" || fail vqvm "$run" "no guest-initiated hot-add worked" "$d/console"
	report_median vqvm "$run" hp.guest.write "$d/write.ns" || true
	host_loop vqvm "$run" "$d" vq_add vq_del || vm_kill
	vm_finish vqvm "$run" "$d"
}

run_qemu() {
	local run=$1 d
	d=$logs/qemu-$run
	mkdir -p "$d"
	truncate -s 16M "$d/hot.img"
	vm_start "$d" "$qemu" -M q35 -enable-kvm -cpu host -m "$memory" -smp 1 -nodefaults \
		-no-user-config -nographic -serial stdio -no-reboot -L /usr/share/qemu \
		-bios /usr/share/seabios/bios-256k.bin -kernel "$kernel" -initrd "$initrd" \
		-append "$QEMU_APPEND quiet bench.hp=qemu bench.hp_runs=$hp_runs" \
		-device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1 \
		-blockdev "driver=file,filename=$d/hot.img,node-name=hotf" \
		-blockdev driver=raw,file=hotf,node-name=hot \
		-qmp "unix:$d/qmp.sock,server=on,wait=off"
	if ! "$helper" waitfile "$d/console" HP-PHASE-B $((VM_TIMEOUT - 20)) "$vm_pid"; then
		fail qemu "$run" "the guest never reached the host phase" "$d/console" "$d/err"
		vm_kill
		vm_finish qemu "$run" "$d"
		return
	fi
	host_loop qemu "$run" "$d" q_add q_del || vm_kill
	vm_finish qemu "$run" "$d"
	say "qemu run $run: guest PCI rescans: $(tr -d '\r' <"$d/console" | sed -n 's/^HPR-RESCANS //p')"
}

say "hotplug: $runs runs of $hp_runs hot-adds each way; guests: 1 vCPU, $memory MiB"
say "where the VMMs run: $(uname -r), $(nproc) CPUs"
rss_calibrate
run_all
exit "$failed"
