# SPDX-License-Identifier: Apache-2.0
# tests/vm-run --host-setup script of bench/net.sh (sourced by sh where the VMMs run: in
# L1, or in direct mode in the private network namespace vm-run makes): the TAP both VMMs
# use in turn, its host side 10.77.0.1/24, and an iperf3 server on every address (the
# TAP's, and loopback's for the native runs).
/usr/sbin/ip tuntap add dev vqbench0 mode tap || return 1
/usr/sbin/ip addr add 10.77.0.1/24 dev vqbench0 || return 1
/usr/sbin/ip link set vqbench0 up || return 1
/usr/bin/iperf3 -s -D || return 1
