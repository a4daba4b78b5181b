#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# nproc equals --cpus for 1 and 4, and MemTotal follows --memory for a small guest and for
# one larger than 3 GiB (RAM split around the PCI hole, the rest above 4 GiB).
. "$(dirname "$0")/../lib.sh"

cat >"$work/guest.sh" <<'GUEST'
echo "NPROC=$(nproc)"
echo "MEMTOTAL_KB=$(awk '/^MemTotal/ {print $2}' /proc/meminfo)"
echo "HIGHRAM=$(dmesg | grep -c 'BIOS-e820: \[mem 0x0000000100000000-')"
GUEST

# boot CPUS MEMORY MIN_KB MAX_KB
boot() {
	local out=$work/out-$1-$2
	"$vm_run" --script "$work/guest.sh" --cpus "$1" --memory "$2" >"$out" 2>"$work/err-$1"
	local status=$?
	local kb
	check "$1 vCPUs, $2: vqvm exits 0" expect_status 0 "$status"
	check "$1 vCPUs, $2: nproc is $1" expect_line "$out" "^NPROC=$1$"
	kb=$(sed -n 's/^MEMTOTAL_KB=//p' "$out")
	check "$1 vCPUs, $2: MemTotal ${kb:-?} kB in [$3, $4]" \
		test "${kb:-0}" -ge "$3" -a "${kb:-0}" -le "$4"
	[ "$failures" -eq 0 ] || { show "$out"; show "$work/err-$1"; }
}

# The kernel keeps its image, page structs and early allocations out of MemTotal: allow
# an eighth plus 48 MiB for them.
boot 1 128M $((128 * 1024 * 7 / 8 - 48 * 1024)) $((128 * 1024))
boot 4 3584M $((3584 * 1024 * 7 / 8 - 48 * 1024)) $((3584 * 1024))
check "RAM above 4 GiB is in the e820 map" \
	expect_line "$work/out-4-3584M" '^HIGHRAM=1$'
finish
