#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# make run: boot the default guest with the management device, a managed disk and (as
# root, where a TAP can be made) a managed network device, and the guest driver loaded:
# the guest prints the managed devices it found, then gives a shell on this terminal.
# `reboot -f` (or Ctrl-A x) ends it. Extra arguments go to vqvm.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
images=$root/build/images
disk=$images/run-managed.img
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A blank 64 MiB disk (in the sandbox the guest writes to L1's copy of it).
[ -f "$disk" ] || truncate -s 64M "$disk"

args=(--copy "$disk")
vqvm_args=(--managed-disk "path=$disk,id=run-disk" --cmdline vqvm.mgmt=load)
if [ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] && command -v ip >/dev/null; then
	# Where the VMM runs (L1 in the sandbox, a private namespace otherwise).
	cat >"$work/host.sh" <<'HOST'
/usr/sbin/ip tuntap add dev vqrun0 mode tap || exit 1
/usr/sbin/ip addr add 10.78.0.1/24 dev vqrun0 || exit 1
/usr/sbin/ip link set vqrun0 up || exit 1
HOST
	args+=(--host-setup "$work/host.sh" --host-prog ip)
	vqvm_args+=(--managed-net "tap=vqrun0,id=run-net")
	echo "run.sh: managed net device on TAP vqrun0 (host side 10.78.0.1/24): in the" \
		"guest, ip addr add 10.78.0.2/24 dev eth0; ip link set eth0 up; ping 10.78.0.1"
else
	echo "run.sh: not root (or no /dev/net/tun): no managed net device"
fi
echo "run.sh: managed disk $disk (64 MiB, blank); more from the guest shell:" \
	"echo blk > /sys/bus/pci/drivers/vqvm_mgmt/0000:*/create"
exec "$root/tests/vm-run" --interactive "${args[@]}" -- "${vqvm_args[@]}" "$@"
