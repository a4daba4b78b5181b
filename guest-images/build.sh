#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Build the guest images in OUTDIR (incremental: a step whose outputs exist and
# are newer than its inputs is skipped).
#
#   guest-images/build.sh OUTDIR
#
# Outputs:
#   OUTDIR/kernel-version    the Debian kernel version, e.g. 6.1.0-56-amd64
#   OUTDIR/debs/*.deb        the kernel package, as downloaded
#   OUTDIR/kernel-root/      the package unpacked (dpkg -x), modules.dep generated
#   OUTDIR/vmlinuz           the kernel (bzImage)
#   OUTDIR/driver/           vqvm_mgmt.ko, the management device's driver (driver/build.sh)
#   OUTDIR/initrd.cpio.gz    busybox + guest-images/init + virtio modules + vqvm_mgmt.ko
#
# The kernel version comes from the linux-image-amd64 metapackage; set
# VQVM_KERNEL_VERSION (e.g. 6.1.0-56-amd64) to pin one instead.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prog=build.sh

# Modules of the default guest initramfs (dependencies are added by mkinitramfs.sh).
# ext4 mounts the tools disk (and root file systems on managed disks).
GUEST_MODULES="virtio_pci virtio_mmio virtio_blk virtio_net ext4 crc32c_generic"

die() { echo "$prog: $*" >&2; exit 1; }
log() { echo "$prog: $*" >&2; }

[ $# = 1 ] || { echo "usage: guest-images/build.sh OUTDIR" >&2; exit 2; }
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)

# True when $1 is missing or older than any of the other arguments.
stale() {
	local t=$1 f
	shift
	[ -e "$t" ] || return 0
	for f in "$@"; do
		[ "$f" -nt "$t" ] && return 0
	done
	return 1
}

# Replace $2 with $1 only when the content differs, so its mtime only moves
# when something really changed (keeps later steps incremental).
install_if_changed() {
	if [ -e "$2" ] && cmp -s "$1" "$2"; then
		rm -f "$1"
	else
		mv -f "$1" "$2"
	fi
}

# --- 1. kernel version ------------------------------------------------------
resolve_version() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\(.*-amd64\)$/\1/p' | head -n1
}
kver=${VQVM_KERNEL_VERSION:-}
if [ -z "$kver" ]; then
	kver=$(resolve_version)
	if [ -z "$kver" ] && [ -s "$out/kernel-version" ]; then
		kver=$(cat "$out/kernel-version")
		log "warning: apt-cache cannot resolve linux-image-amd64; keeping $kver"
	fi
fi
[ -n "$kver" ] || die "cannot resolve linux-image-amd64 (run apt-get update, or set VQVM_KERNEL_VERSION)"
echo "$kver" >"$out/kernel-version.new"
install_if_changed "$out/kernel-version.new" "$out/kernel-version"

# --- 2. download and unpack the kernel package ------------------------------
pkg=linux-image-$kver
mkdir -p "$out/debs"
deb=$(find "$out/debs" -maxdepth 1 -name "${pkg}_*_amd64.deb" | LC_ALL=C sort | tail -n1)
if [ -z "$deb" ]; then
	log "downloading $pkg"
	# apt-get download writes to the current directory; download into a temp
	# dir so a failed download leaves nothing half-written behind.
	dl=$(mktemp -d "$out/debs/.dl.XXXXXX")
	if ! (cd "$dl" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2); then
		rm -rf "$dl"
		die "apt-get download $pkg failed (try apt-get update)"
	fi
	mv "$dl"/*.deb "$out/debs/"
	rm -rf "$dl"
	deb=$(find "$out/debs" -maxdepth 1 -name "${pkg}_*_amd64.deb" | LC_ALL=C sort | tail -n1)
	[ -n "$deb" ] || die "download of $pkg produced no .deb"
fi
# Drop packages of other kernel versions.
find "$out/debs" -maxdepth 1 -name 'linux-image-*.deb' ! -name "${pkg}_*" -delete

kroot=$out/kernel-root
stamp=$kroot/.unpacked
if stale "$stamp" "$deb" || [ "$(cat "$stamp")" != "$(basename "$deb")" ]; then
	log "unpacking $(basename "$deb")"
	rm -rf "$kroot"
	rm -rf "$kroot.tmp"
	mkdir -p "$kroot.tmp"
	dpkg -x "$deb" "$kroot.tmp"
	[ -d "$kroot.tmp/lib/modules/$kver" ] || die "no lib/modules/$kver in $(basename "$deb")"
	depmod -b "$kroot.tmp" "$kver" || die "depmod failed"
	basename "$deb" >"$kroot.tmp/.unpacked"
	mv "$kroot.tmp" "$kroot"
fi

# --- 3. vmlinuz -------------------------------------------------------------
if stale "$out/vmlinuz" "$stamp"; then
	[ -f "$kroot/boot/vmlinuz-$kver" ] || die "no boot/vmlinuz-$kver in the package"
	cp "$kroot/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"
	mv -f "$out/vmlinuz.tmp" "$out/vmlinuz"
	log "vmlinuz: $kver"
fi

# --- 4. the guest driver of the management device ---------------------------
# Not loaded by /init: tests insmod it (after virtio and virtio_ring, which the
# modules above pull in) from /lib/modules/<version>/extra/vqvm_mgmt.ko.
"$here/driver/build.sh" "$out/driver" "$kver"
driver_ko=$out/driver/vqvm_mgmt.ko

# --- 5. initramfs -----------------------------------------------------------
initrd=$out/initrd.cpio.gz
if stale "$initrd" "$stamp" "$here/init" "$here/mkinitramfs.sh" "$here/build.sh" /bin/busybox \
	"$driver_ko"; then
	"$here/mkinitramfs.sh" "$initrd.tmp.gz" --kernel-root "$kroot" --init "$here/init" \
		--modules "$GUEST_MODULES" --add "$driver_ko:/lib/modules/$kver/extra/vqvm_mgmt.ko"
	mv -f "$initrd.tmp.gz" "$initrd"
	log "initrd.cpio.gz: busybox, init, $GUEST_MODULES, vqvm_mgmt (not loaded)"
fi

# --- 6. tools disk (fio, iperf3) for I/O tests and benchmarks -----------------
tools=$out/tools.ext4
if stale "$tools" "$here/mktools.sh" "$(command -v fio || echo /usr/bin/fio)" \
	"$(command -v iperf3 || echo /usr/bin/iperf3)"; then
	"$here/mktools.sh" "$tools"
	log "tools.ext4: fio, iperf3 and their libraries"
fi
