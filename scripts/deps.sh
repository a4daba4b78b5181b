#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Install (with apt-get) everything needed to build, test and run vqvm.
#
#   scripts/deps.sh               install what is missing, upgrade nothing else
#   scripts/deps.sh --if-missing  same, but return at once when all is installed
#                                 and say what is missing when not root
#
# Idempotent. Runs `apt-get update` only when a package cannot be found in the
# package lists (or once per run when CI=true).
set -euo pipefail

PACKAGES=(
	build-essential pkg-config linux-libc-dev
	liburing-dev libfdt-dev device-tree-compiler
	libcriterion-dev libmicrohttpd-dev libjansson-dev libseccomp-dev
	busybox-static qemu-system-x86 cpio kmod iproute2
	fio iperf3 curl ethtool
)

die() { echo "deps.sh: $*" >&2; exit 1; }

usage() {
	echo "usage: scripts/deps.sh [--if-missing]" >&2
	exit 2
}

if_missing=0
case "${1-}" in
'') ;;
--if-missing) if_missing=1 ;;
-h | --help) usage ;;
*) echo "deps.sh: unknown argument '$1'" >&2; usage ;;
esac

export DEBIAN_FRONTEND=noninteractive
updated=0

apt_update() {
	[ "$updated" = 1 ] && return 0
	echo "deps.sh: apt-get update" >&2
	apt-get update -q || die "apt-get update failed"
	updated=1
}

# The versioned package behind the linux-image-amd64 metapackage, e.g.
# linux-image-6.1.0-56-amd64 -> prints 6.1.0-56. Empty if unknown.
guest_kernel_version() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\(.*\)-amd64$/\1/p' | head -n1
}

# True when every package given is installed (dpkg-query status).
all_installed() {
	local p st
	for p in "$@"; do
		st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || return 1
		[ "$st" = installed ] || return 1
	done
}

missing_of() {
	local p
	for p in "$@"; do
		all_installed "$p" || echo "$p"
	done
}

# True when apt knows a candidate version for every package given.
all_known() {
	local p cand
	for p in "$@"; do
		cand=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p')
		[ -n "$cand" ] && [ "$cand" != "(none)" ] || return 1
	done
}

command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 only"

if [ "${CI:-}" = true ]; then
	apt_update
fi

kver=$(guest_kernel_version)
if [ -z "$kver" ] && [ "$updated" = 0 ] && [ "$(id -u)" = 0 ]; then
	apt_update
	kver=$(guest_kernel_version)
fi
want=("${PACKAGES[@]}")
if [ -n "$kver" ]; then
	want+=("linux-headers-$kver-amd64")
else
	echo "deps.sh: warning: cannot resolve linux-image-amd64 (guest kernel headers skipped)" >&2
fi

mapfile -t missing < <(missing_of "${want[@]}")
if [ "${#missing[@]}" = 0 ]; then
	[ "$if_missing" = 1 ] || echo "deps.sh: all ${#want[@]} packages are installed" >&2
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	die "must run as root to install: ${missing[*]}
  (run: sudo scripts/deps.sh)"
fi

if ! all_known "${missing[@]}"; then
	apt_update
	all_known "${missing[@]}" || die "not found in the package archive: $(
		for p in "${missing[@]}"; do all_known "$p" || printf '%s ' "$p"; done)"
fi

install() {
	echo "deps.sh: installing ${missing[*]}" >&2
	apt-get install -y -q --no-install-recommends "${missing[@]}"
}
# A failure with stale package lists (a version gone from the archive) is
# retried once after apt-get update.
if ! install; then
	[ "$updated" = 0 ] || die "apt-get install failed"
	apt_update
	install || die "apt-get install failed"
fi
