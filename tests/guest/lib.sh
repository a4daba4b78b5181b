# SPDX-License-Identifier: Apache-2.0
#
# Helpers for the VM tests' guest scripts (busybox sh). tests/vm-run puts this file into
# every guest that runs a --script, as /vqvm-lib.sh: `. /vqvm-lib.sh`.
# The polling helpers use shell builtins only: a fork costs milliseconds in the sandbox.

# find_mgmt: $mgmt = the management function's sysfs directory (1AF4:10F0), or empty.
find_mgmt() {
	mgmt=
	for _d in /sys/bus/pci/devices/*; do
		_v='' _p=''
		read -r _v <"$_d/vendor"
		read -r _p <"$_d/device"
		[ "$_v" = 0x1af4 ] && [ "$_p" = 0x10f0 ] && mgmt=$_d
	done
	[ -n "$mgmt" ]
}

# find_dev SERIAL: $dev = the /dev/vdX of the disk with that serial once its node exists
# (devtmpfs makes it a moment after the disk shows in sysfs); status 1 and empty if none.
find_dev() {
	dev=
	for _d in /sys/block/vd*; do
		_s=''
		read -r _s 2>/dev/null <"$_d/serial"
		[ "$_s" = "$1" ] && [ -b "/dev/${_d##*/}" ] && dev=/dev/${_d##*/}
	done
	[ -n "$dev" ]
}

# dev_of SERIAL: print find_dev's answer (for $(...)).
dev_of() {
	find_dev "$1"
	echo "$dev"
}

# poll TENTHS CMD...: run CMD every 0.1 s until it succeeds (status 1 if it did not within
# TENTHS tenths of a second).
poll() {
	_poll_n=$1 # names of its own: sh has no local variables, CMD may use _n or _i
	shift
	_poll_i=0
	while [ $_poll_i -lt "$_poll_n" ]; do
		"$@" && return 0
		sleep 0.1
		_poll_i=$((_poll_i + 1))
	done
	return 1
}

# no_dev SERIAL: no disk has that serial.
no_dev() {
	! find_dev "$1"
}

# wait_dev SERIAL [TENTHS]: until the disk is there ($dev), 20 s by default; status 1 if not.
wait_dev() {
	poll "${2:-200}" find_dev "$1"
}

# wait_gone SERIAL [TENTHS]: until no disk has that serial, 20 s by default.
wait_gone() {
	poll "${2:-200}" no_dev "$1"
}

# find_net [MAC]: $net = a virtio NIC (with that MAC if given); status 1 and empty if none.
find_net() {
	net=
	for _n in /sys/class/net/*; do
		[ -e "$_n/device/vendor" ] || continue
		_v='' _p='' _a=''
		read -r _v <"$_n/device/vendor"
		read -r _p <"$_n/device/device"
		read -r _a <"$_n/address"
		[ "$_v" = 0x1af4 ] && [ "$_p" = 0x0001 ] && { [ -z "$1" ] || [ "$_a" = "$1" ]; } &&
			net=${_n##*/}
	done
	[ -n "$net" ]
}

# no_net MAC: no interface has that MAC. Not `! find_net`: a NIC going away loses its
# device's sysfs attributes before the interface itself goes.
no_net() {
	for _n in /sys/class/net/*; do
		_a=''
		read -r _a 2>/dev/null <"$_n/address"
		[ "$_a" = "$1" ] && return 1
	done
	return 0
}

# wait_net [MAC] [TENTHS]: until find_net finds it ($net), 20 s by default.
wait_net() {
	poll "${2:-200}" find_net "$1"
}

# dmesg_checks: DMESG_BAD=N (oopses, WARNs, hung tasks, the driver's command timeouts)
# and the kernel lines about vqvm and virtio, prefixed DMESG:.
dmesg_checks() {
	echo "DMESG_BAD=$(dmesg | grep -cE 'WARNING:|BUG:|Oops|Call Trace|blocked for more than|no reply within|no room for a command')"
	dmesg | grep -E 'vqvm|virtio|WARNING:|BUG:|Oops|Call Trace' | sed 's/^/DMESG: /'
}

# kernel_watch: in the background, every 5 s, look for a kernel stall (soft lockup, hung
# task, RCU stall); on the first, print dmesg from there on, prefixed KERNEL_STALL:, to
# the console: the stack of a guest that then never finishes its script.
kernel_watch() {
	(
		while sleep 5; do
			dmesg | grep -qE 'soft lockup|blocked for more than|rcu: INFO|self-detected stall' ||
				continue
			dmesg | sed -n '/soft lockup\|blocked for more than\|rcu: INFO\|self-detected stall/,$p' |
				head -n 150 | sed 's/^/KERNEL_STALL: /'
			break
		done
	) &
}
