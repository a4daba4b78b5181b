/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TAP devices as the backend of virtio-net. Creating the TAP (and putting it in a
 * bridge, giving it an address) is the user's job: tap_open only attaches to an
 * existing one, and says how to create it when it is missing. vqvm usually runs with
 * CAP_NET_ADMIN, with which TUNSETIFF would silently create a fresh, unconnected TAP
 * under a mistyped name; checking first turns that into a clear error.
 *
 * Every queue fd is set up the way virtio-net 1.x wants it: IFF_TAP | IFF_NO_PI |
 * IFF_VNET_HDR, a 12-byte vnet header (struct virtio_net_hdr_mrg_rxbuf, the VERSION_1
 * header both ways), O_NONBLOCK, close-on-exec, and no offloads until the driver
 * negotiated what it can receive (tap_set_offload at activation).
 */
#ifndef VQVM_VIRTIO_TAP_H
#define VQVM_VIRTIO_TAP_H

#include <stdbool.h>

#include "lib/err.h"

#define TAP_MAX_QUEUES 256 /* the kernel's MAX_TAP_QUEUES */
#define TAP_VNET_HDR_LEN 12

/*
 * Attach to the TAP `name` with `queues` fds (one per virtio-net queue pair; more than
 * one needs a TAP created with multi_queue). Returns 0 with fds[0..queues-1] open, or
 * -1 with e saying what is wrong and how to fix it: the TAP does not exist, is a TUN
 * device or no TUN/TAP device at all, is in use by another process, has the wrong
 * multi_queue setting, or we lack the permission to attach.
 */
int tap_open(const char *name, unsigned int queues, int *fds, struct err *e);
/* TUNSETOFFLOAD: TUN_F_* the reader (the guest) accepts. 0 or -errno. */
int tap_set_offload(int fd, unsigned int flags);
/* Attach (true) or detach one queue of a multi-queue TAP (TUNSETQUEUE). 0 or -errno. */
int tap_set_queue_enabled(int fd, bool enabled);
/* True when fd is attached to a TAP (not a TUN device, not some other file). */
bool tap_is_tap(int fd);

#endif
