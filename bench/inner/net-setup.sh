# SPDX-License-Identifier: Apache-2.0
# tests/vm-run --host-setup script of bench/net.sh (sourced by sh where the VMMs run: in
# L1, or in direct mode in the private network namespace vm-run makes): the TAP both VMMs
# use in turn, its host side 10.77.0.1/24, and an iperf3 server on every address (the
# TAP's, and loopback's for the native runs), whose pid file net.sh finds in
# VQBENCH_IPERF3_PIDFILE to restart it after a failed run.
/usr/sbin/ip tuntap add dev vqbench0 mode tap || return 1
/usr/sbin/ip addr add 10.77.0.1/24 dev vqbench0 || return 1
/usr/sbin/ip link set vqbench0 up || return 1
export VQBENCH_IPERF3_PIDFILE="${TMPDIR:-/tmp}/vqbench-iperf3.$$.pid"
/usr/bin/iperf3 -s -D -I "$VQBENCH_IPERF3_PIDFILE" || return 1
