/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host side of a TAP for tests: what the network stack sees of the frames a guest
 * sends, and a way to send it frames.
 */
#ifndef VQVM_TESTS_HOST_NET_H
#define VQVM_TESTS_HOST_NET_H

/*
 * A raw AF_PACKET socket for every protocol, bound to interface ifname: it receives
 * what the interface receives (the guest's frames, for a TAP) and what is sent on it
 * goes out of the interface (to the guest). The fd, or -errno.
 */
int host_packet_socket(const char *ifname);

#endif
