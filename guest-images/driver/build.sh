#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build vqvm_mgmt.ko (the guest driver of vqvm's management device) against the
# headers of the guest kernel (incremental: nothing happens when the module is
# newer than its sources and was built for the same kernel version).
#
#   guest-images/driver/build.sh OUTDIR [KERNEL-VERSION]
#
# KERNEL-VERSION (e.g. 6.1.0-57-amd64) defaults to $VQVM_KERNEL_VERSION, else to
# the version the linux-image-amd64 metapackage names (as guest-images/build.sh
# resolves it), else to OUTDIR/../kernel-version. The headers come from Debian's
# linux-headers-<version> (scripts/deps.sh installs them).
#
# Outputs: OUTDIR/vqvm_mgmt.ko, OUTDIR/kernel-version. Kbuild writes its objects
# next to the sources, so they are built in a copy: OUTDIR/src.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prog=driver/build.sh

die() { echo "$prog: $*" >&2; exit 1; }

[ $# = 1 ] || [ $# = 2 ] || { echo "usage: guest-images/driver/build.sh OUTDIR [KERNEL-VERSION]" >&2; exit 2; }
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)

kver=${2:-${VQVM_KERNEL_VERSION:-}}
if [ -z "$kver" ]; then
	kver=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\(.*-amd64\)$/\1/p' | head -n1)
fi
if [ -z "$kver" ] && [ -s "$out/../kernel-version" ]; then
	kver=$(cat "$out/../kernel-version")
fi
[ -n "$kver" ] || die "cannot resolve the guest kernel version (set VQVM_KERNEL_VERSION)"

kdir=/lib/modules/$kver/build
[ -f "$kdir/Makefile" ] || die "no kernel headers for $kver in $kdir (apt-get install linux-headers-$kver)"

ko=$out/vqvm_mgmt.ko
srcs=("$here"/*.c "$here"/*.h "$here/Kbuild")
fresh=1
[ -f "$ko" ] && [ -s "$out/kernel-version" ] && [ "$(cat "$out/kernel-version")" = "$kver" ] || fresh=0
for f in "${srcs[@]}" "$0"; do
	[ "$fresh" = 1 ] || break
	[ "$f" -nt "$ko" ] && fresh=0
done
[ "$fresh" = 0 ] || exit 0

rm -rf "$out/src"
mkdir -p "$out/src"
cp "${srcs[@]}" "$out/src/"
log=$out/build.log
if ! make -C "$kdir" M="$out/src" W=1 -j2 modules >"$log" 2>&1; then
	cat "$log" >&2
	die "building vqvm_mgmt.ko for $kver failed"
fi
if grep -q 'warning:' "$log"; then
	grep -A3 'warning:' "$log" >&2
	echo "$prog: warning: the module built with warnings (see $log)" >&2
fi
cp "$out/src/vqvm_mgmt.ko" "$ko.tmp"
strip --strip-debug "$ko.tmp"
mv -f "$ko.tmp" "$ko"
echo "$kver" >"$out/kernel-version"
echo "$prog: vqvm_mgmt.ko for $kver" >&2
