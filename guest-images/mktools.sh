#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Build a read-only ext4 "tools disk" with host programs the I/O tests and benchmarks
# run in the guest (fio and iperf3 by default), every shared library they load at its
# usual path, and /setup.sh, which a guest sources after mounting the disk at /tools:
#
#   mount -o ro /dev/vdX /tools && . /tools/setup.sh && fio ...
#
# A disk rather than an initramfs: the guest reads only the pages it runs, instead of
# unpacking some 85 MB of libraries at every boot (slow under the nested sandbox).
#
#   mktools.sh OUT.ext4 [PROGRAM...]
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: guest-images/mktools.sh OUT.ext4 [PROGRAM...]" >&2; exit 2; }
out=$1
shift
progs=("$@")
[ ${#progs[@]} -gt 0 ] || progs=(fio iperf3)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

copy() { # copy SRC DST-inside-the-image
	mkdir -p "$stage$(dirname "$2")"
	cp -L "$1" "$stage$2"
}

for prog in "${progs[@]}"; do
	path=$(command -v "$prog") || { echo "mktools.sh: $prog is not installed (make deps)" >&2; exit 1; }
	copy "$path" "/usr/bin/$prog"
	# ldd prints "name => /path (addr)" or "/path (addr)" for the loader.
	while read -r lib; do
		[ -z "$lib" ] || copy "$lib" "$lib"
	done < <(ldd "$path" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p')
done
cat >"$stage/setup.sh" <<'SETUP'
# Sourced by guest scripts after `mount -o ro /dev/vdX /tools`.
mkdir -p /lib64
[ -e /lib64/ld-linux-x86-64.so.2 ] || ln -s /tools/lib64/ld-linux-x86-64.so.2 /lib64/
export LD_LIBRARY_PATH=/tools/lib/x86_64-linux-gnu:/tools/usr/lib/x86_64-linux-gnu:/tools/usr/lib/x86_64-linux-gnu/ceph
export PATH=/tools/usr/bin:$PATH
SETUP
mb=$(du -sm "$stage" | cut -f1)
rm -f "$out.tmp"
# Fixed UUID, hash seed and timestamps so the image is the same every build.
E2FSPROGS_FAKE_TIME=1 mke2fs -q -t ext4 -d "$stage" -L vqvm-tools \
	-U 6b7a4b1e-0d1c-4c3a-9a59-7471766d0001 -E hash_seed=6b7a4b1e-0d1c-4c3a-9a59-7471766d0002 \
	-O ^has_journal "$out.tmp" "$((mb + mb / 4 + 16))M"
mv -f "$out.tmp" "$out"
