#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Build a byte-reproducible initramfs (newc cpio, gzip-compressed when OUT ends
# in .gz) with busybox-static, an /init, kernel modules and extra files.
#
#   mkinitramfs.sh OUT.cpio[.gz] [options]
#     --modules "virtio_blk virtio_net ..."  modules to include (repeatable); their
#                                dependencies are resolved from modules.dep and all
#                                are listed, in load order, in /etc/modules-load
#     --add SRC:DST              copy host file or directory SRC to DST (repeatable)
#     --kernel-root DIR          a `dpkg -x` of the kernel package (default: the
#                                kernel-root directory next to OUT)
#     --init FILE                the /init script (default: guest-images/init)
#     --bare                     no busybox and no /init: only modules and --add
#                                files (an archive to concatenate to another one)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prog=mkinitramfs.sh

die() { echo "$prog: $*" >&2; exit 1; }

usage() { # the header comment
	sed -n '4,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0" >&2
	exit "${1:-2}"
}

out=
modules=()
adds=()
kroot=
init=$here/init
bare=0
while [ $# -gt 0 ]; do
	case "$1" in
	--modules) [ $# -ge 2 ] || usage; read -r -a m <<<"$2"; modules+=("${m[@]}"); shift 2 ;;
	--add) [ $# -ge 2 ] || usage; adds+=("$2"); shift 2 ;;
	--kernel-root) [ $# -ge 2 ] || usage; kroot=$2; shift 2 ;;
	--init) [ $# -ge 2 ] || usage; init=$2; shift 2 ;;
	--bare) bare=1; shift ;;
	-h | --help) usage 0 ;;
	-*) echo "$prog: unknown option '$1'" >&2; usage ;;
	*) [ -z "$out" ] || usage; out=$1; shift ;;
	esac
done
[ -n "$out" ] || usage
[ -n "$kroot" ] || kroot=$(dirname "$out")/kernel-root

# Fixed timestamp for every archived file (SOURCE_DATE_EPOCH if set).
epoch=${SOURCE_DATE_EPOCH:-0}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkinitramfs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"

# --- busybox and /init -----------------------------------------------------
if [ "$bare" = 0 ]; then
	bb=/bin/busybox
	[ -x "$bb" ] || die "$bb not found (apt-get install busybox-static)"
	file -L "$bb" 2>/dev/null | grep -q 'dynamically linked' &&
		die "$bb is dynamically linked: install busybox-static"
	[ -f "$init" ] || die "init script '$init' not found"
	mkdir -p "$root"/{bin,dev,etc,proc,sys,tmp,root,run,usr}
	ln -s bin "$root/sbin"
	ln -s ../bin "$root/usr/bin"
	ln -s ../bin "$root/usr/sbin"
	cp "$bb" "$root/bin/busybox"
	for a in $("$bb" --list); do
		[ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
	done
	install -m 0755 "$init" "$root/init"
fi

# --- kernel modules ---------------------------------------------------------
if [ "${#modules[@]}" -gt 0 ]; then
	[ -d "$kroot/lib/modules" ] ||
		die "no kernel modules in '$kroot' (run guest-images/build.sh or pass --kernel-root)"
	kvers=("$kroot"/lib/modules/*)
	[ "${#kvers[@]}" = 1 ] || die "expected one kernel version in $kroot/lib/modules"
	kver=$(basename "${kvers[0]}")
	mdir=$kroot/lib/modules/$kver
	if [ ! -s "$mdir/modules.dep" ] || [ "$mdir/modules.order" -nt "$mdir/modules.dep" ]; then
		depmod -b "$kroot" "$kver" || die "depmod failed for $mdir"
	fi

	# modules.dep: "kernel/a/b.ko[.xz]: kernel/dep1.ko kernel/dep2.ko" with the
	# full transitive closure of dependencies. Module names treat - and _ alike.
	declare -A path_of deps_of
	while IFS= read -r line; do
		p=${line%%:*}
		n=${p##*/}; n=${n%%.ko*}; n=${n//-/_}
		path_of[$n]=$p
		deps_of[$p]=${line#*:}
	done <"$mdir/modules.dep"

	declare -A seen
	order=()
	visit() { # depth first: dependencies before the module
		local p=$1 d
		[ -z "${seen[$p]-}" ] || return 0
		seen[$p]=1
		for d in ${deps_of[$p]}; do visit "$d"; done
		order+=("$p")
	}
	for m in "${modules[@]}"; do
		n=${m//-/_}
		if [ -n "${path_of[$n]-}" ]; then
			visit "${path_of[$n]}"
		elif grep -q "/${n}.ko\$\|/${m}.ko\$" "$mdir/modules.builtin" 2>/dev/null; then
			echo "$prog: note: $m is built into the kernel" >&2
		else
			die "module '$m' not found in $mdir/modules.dep"
		fi
	done

	mkdir -p "$root/etc"
	: >"$root/etc/modules-load"
	for p in "${order[@]}"; do
		dst=/lib/modules/$kver/${p%.ko*}.ko
		mkdir -p "$root$(dirname "$dst")"
		case "$p" in
		*.ko) cp "$mdir/$p" "$root$dst" ;;
		*.ko.xz) xz -dc "$mdir/$p" >"$root$dst" ;;
		*.ko.zst) zstd -qdc "$mdir/$p" >"$root$dst" ;;
		*.ko.gz) gzip -dc "$mdir/$p" >"$root$dst" ;;
		*) die "unknown module file type: $p" ;;
		esac
		echo "$dst" >>"$root/etc/modules-load"
	done
fi

# --- extra files ------------------------------------------------------------
for a in "${adds[@]}"; do
	src=${a%%:*}
	dst=${a#*:}
	if [ "$src" = "$a" ] || [ -z "$src" ] || [ -z "$dst" ]; then
		die "--add wants SRC:DST, got '$a'"
	fi
	[ -e "$src" ] || die "--add: '$src' does not exist"
	case "$dst" in /*) ;; *) dst=/$dst ;; esac
	mkdir -p "$root$(dirname "$dst")"
	cp -RL "$src" "$root$dst"
done

# --- archive ----------------------------------------------------------------
find "$root" -exec touch -h -d "@$epoch" {} +

# /dev/console must exist before /init runs (the kernel opens it for init's
# stdin/out/err). Creating the node needs root, so write its newc entry by hand.
cpio_node() { # name mode major minor
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
		1 "$2" 0 0 1 "$epoch" 0 0 0 "$3" "$4" $((${#1} + 1)) 0 "$1"
	# header (110 bytes) + name + NUL is padded to a multiple of 4
	local pad=$(((4 - (110 + ${#1} + 1) % 4) % 4))
	head -c "$pad" /dev/zero
}
gen_cpio() {
	if [ "$bare" = 0 ]; then
		cpio_node dev/console $((0020600)) 5 1
	fi
	(cd "$root" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0 --reproducible)
}

mkdir -p "$(dirname "$out")"
case "$out" in
*.gz) gen_cpio | gzip -n -9 >"$tmp/out" ;;
*) gen_cpio >"$tmp/out" ;;
esac
mv -f "$tmp/out" "$out"
