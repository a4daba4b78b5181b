/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An in-process guest driver of vqvm's management device (docs/transport-vq.md), on the
 * guest of guest.h: it finds 1AF4:10F0 on PCI, brings it up as a virtio 1.x device
 * (MSI-X entry 0 for config changes, entry 1 for both queues), and issues transportq and
 * adminq commands as descriptor chains in guest RAM: device-readable request descriptors
 * then device-writable reply descriptors, optionally split at given lengths to exercise
 * framing. Replies are matched by head id, so several commands may be in flight and
 * complete in any order. Managed devices are brought up with the transportq, kicked
 * through their doorbell page in BAR2 (through the fake hv's ioeventfds) and interrupt
 * through the MSI messages given with MSI VQ_SET (counted by the fake hv).
 *
 * Return convention of the command helpers: the ack (transportq, 0..255) or admin status
 * (0..4); TVQ_DRV_NO_REPLY when the device returned the chain with used length 0; a
 * negative errno when the driver failed (-ETIMEDOUT, -ENOSPC for a full queue).
 */
#ifndef VQVM_TESTS_TVQ_DRIVER_H
#define VQVM_TESTS_TVQ_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "tests/unit/lib/guest.h"
#include "virtio/tvq_proto.h"

#define TVQ_DRV_QSIZE 256             /* both queues: 128 two-descriptor commands */
#define TVQ_DRV_REQ_MAX 0x1100        /* request bytes: CONFIG SET of 4096 and more */
#define TVQ_DRV_REPLY_MAX 0x2100      /* reply buffer: CAPS' 8 + 8192 and more */
#define TVQ_DRV_MAX_SPLIT 8           /* descriptors per part of a chain */
#define TVQ_DRV_TIMEOUT_MS 10000
#define TVQ_DRV_NO_REPLY 256
#define TVQ_DRV_MSI_CONFIG 0x30       /* MSI data of the management device's vectors */
#define TVQ_DRV_MSI_QUEUES 0x31
#define TVQ_DRV_POISON 0xa5           /* fills reply buffers before submission */

struct tvq_cmd {
	/* Filled by tvq_cmd_tq / tvq_cmd_aq; may be changed before submission. */
	unsigned int queue;
	uint8_t req[TVQ_DRV_REQ_MAX] __attribute__((aligned(8)));
	uint32_t req_len;
	uint32_t reply_len;
	/* Descriptor lengths (0-terminated; what is left goes in one more descriptor). */
	uint32_t req_split[TVQ_DRV_MAX_SPLIT], reply_split[TVQ_DRV_MAX_SPLIT];
	/* Set by submission and completion. */
	uint16_t head;
	bool done;
	uint32_t used_len;
	/* The reply buffer (reply_len bytes), copied at completion; aligned for results. */
	uint8_t reply[TVQ_DRV_REPLY_MAX] __attribute__((aligned(8)));
};

struct tvq_drv {
	struct test_guest *g;
	struct tg_vpci vp;
	struct tg_vring vq[TVQ_NUM_QUEUES];
	struct tvq_cmd *inflight[TVQ_NUM_QUEUES][TVQ_DRV_QSIZE]; /* by head */
	struct tvq_cmd *batch;          /* scratch commands of the helpers */
	uint64_t slots[TVQ_NUM_QUEUES]; /* per head: request then reply buffer */
	uint64_t features;
	struct tvq_mgmt_config cfg;     /* read at open */
	uint64_t doorbell_bar;          /* address of BAR doorbell_bar */
	uint32_t next_msi_data;         /* for managed devices' messages */
	int timeout_ms;
	uint64_t kicks, commands; /* doorbell writes and commands submitted so far */
};

/*
 * Find the management device, bring it up with these features (queues of qsize), read
 * its config. 0, -ENODEV, -EIO (FEATURES_OK refused) or another -errno.
 */
int tvq_drv_open(struct tvq_drv *d, struct test_guest *g, uint64_t features, uint16_t qsize);
/* Reset the management device (status 0) and free the host-side bookkeeping. */
void tvq_drv_close(struct tvq_drv *d);
/* A device config field (offset and width of struct tvq_mgmt_config). */
uint32_t tvq_drv_cfg(struct tvq_drv *d, uint32_t off, uint32_t len);

/* ---- raw commands ---- */

/* A transportq command: header, then out_len bytes of out (NULL: zeros). */
void tvq_cmd_tq(struct tvq_cmd *c, uint64_t device_id, uint16_t class, uint16_t command,
		const void *out, uint32_t out_len, uint32_t in_len);
/* An adminq command: header, then data_len bytes of data; reply room for the result. */
void tvq_cmd_aq(struct tvq_cmd *c, uint16_t command, uint16_t dst_type, uint64_t vdev_id,
		const void *data, uint32_t data_len, uint32_t result_len);
/* Put the command on its queue (no kick). 0 or -ENOSPC / -EINVAL. */
int tvq_submit(struct tvq_drv *d, struct tvq_cmd *c);
void tvq_kick(struct tvq_drv *d, unsigned int queue);
/* Complete whatever the device returned on queue; returns how many completed. */
unsigned int tvq_poll(struct tvq_drv *d, unsigned int queue);
/* Wait until c completed: 0, or -ETIMEDOUT (its buffers then stay the device's). */
int tvq_wait(struct tvq_drv *d, struct tvq_cmd *c);
/* Submit, kick, wait. */
int tvq_exec(struct tvq_drv *d, struct tvq_cmd *c);
/* The ack / admin status of a completed command (TVQ_DRV_NO_REPLY for used length 0). */
int tvq_cmd_ack(const struct tvq_cmd *c);

/* ---- every command class ---- */

/*
 * Transportq: run (device_id, class, command) with out-data, copy up to in_len bytes of
 * in-data to in on OK. Returns the ack.
 */
int tvq_tq(struct tvq_drv *d, uint64_t device_id, uint16_t class, uint16_t command,
	   const void *out, uint32_t out_len, void *in, uint32_t in_len);
/* Adminq: likewise; *cs_err (may be NULL) gets command_specific_error. */
int tvq_aq(struct tvq_drv *d, uint16_t command, uint16_t dst_type, uint64_t vdev_id,
	   const void *data, uint32_t data_len, void *result, uint32_t result_len,
	   uint8_t *cs_err);

int tvq_create(struct tvq_drv *d, uint32_t type, uint64_t features_allowed,
	       const void *dev_config, uint32_t config_len, uint64_t *id);
int tvq_destroy(struct tvq_drv *d, uint64_t id);
int tvq_avail_res(struct tvq_drv *d, const uint32_t *type, struct tvq_avail_res *r);
int tvq_feat_get(struct tvq_drv *d, uint64_t id, uint16_t command, uint64_t *features);
int tvq_feat_set(struct tvq_drv *d, uint64_t id, uint64_t features);
int tvq_status_set(struct tvq_drv *d, uint64_t id, uint8_t status);
int tvq_status_get(struct tvq_drv *d, uint64_t id, uint8_t *status);
int tvq_generation(struct tvq_drv *d, uint64_t id, uint32_t *gen);
int tvq_config_get(struct tvq_drv *d, uint64_t id, uint32_t off, uint32_t size, void *buf);
int tvq_config_set(struct tvq_drv *d, uint64_t id, uint32_t off, uint32_t size,
		   const void *buf);
int tvq_msi_vq_set(struct tvq_drv *d, uint64_t id, uint16_t q, uint64_t addr, uint32_t data);
/* MSI VQ_ENABLE or VQ_MASK (command) of queue q with flag v. */
int tvq_msi_vq_flag(struct tvq_drv *d, uint64_t id, uint16_t command, uint16_t q, uint8_t v);
int tvq_msi_config_set(struct tvq_drv *d, uint64_t id, uint64_t addr, uint32_t data);
/* MSI CONFIG_ENABLE or CONFIG_MASK (command) with flag v. */
int tvq_msi_config_flag(struct tvq_drv *d, uint64_t id, uint16_t command, uint8_t v);
int tvq_vq_addr(struct tvq_drv *d, uint64_t id, uint16_t q, uint64_t desc, uint64_t driver,
		uint64_t device);
int tvq_vq_enable(struct tvq_drv *d, uint64_t id, uint16_t q, uint8_t enable);
int tvq_vq_size_set(struct tvq_drv *d, uint64_t id, uint16_t q, uint16_t size);
int tvq_vq_avail_set(struct tvq_drv *d, uint64_t id, uint16_t q, uint16_t idx);
/* A class-9..12 GET of queue q (VQ_ENABLE, VQ_SIZE, VQ_NOTIFY, VQ_AVAIL_INDEX). */
int tvq_vq_get(struct tvq_drv *d, uint64_t id, uint16_t class, uint16_t command, uint16_t q,
	       void *in, uint32_t in_len);
int tvq_vq_reset(struct tvq_drv *d, uint64_t id, uint16_t q);
int tvq_asid_set(struct tvq_drv *d, uint64_t id, uint16_t q, uint32_t asid);

int tvq_device_info(struct tvq_drv *d, uint64_t id, struct tvq_admin_device_info_result *r);
/* DEVICE_MGMT operation on resource of id; *val in: the value, out: the result. */
int tvq_device_mgmt(struct tvq_drv *d, uint64_t id, uint8_t op, uint16_t resource,
		    uint64_t *val, uint8_t *cs_err);
/* MANAGED_DEVICE_LIST from first; up to max ids into ids, *total = num_managed_vdevs. */
int tvq_list(struct tvq_drv *d, uint64_t first, uint64_t *ids, unsigned int max,
	     unsigned int *n, uint64_t *total);

/* ---- managed devices ---- */

#define TVQ_MDEV_MAX_QUEUES 8

struct tvq_mdev {
	uint64_t id;
	uint32_t type;
	uint16_t nq;
	uint64_t offered, features;
	uint64_t doorbell;               /* guest address of its doorbell page */
	struct tg_vring vq[TVQ_MDEV_MAX_QUEUES];
	uint32_t msi_data[TVQ_MDEV_MAX_QUEUES], cfg_msi_data;
	uint64_t hdrs[TVQ_MDEV_MAX_QUEUES]; /* per queue, per head: blk header and status */
};

/*
 * CREATE a device of type (features_allowed 0: all) and bring it up: negotiate the
 * offered bits within want (VERSION_1 always), ACKNOWLEDGE, DRIVER, FEATURES_OK, for
 * each of its queues (at most nq if nq > 0) size qsize, rings (allocated in guest RAM
 * the first time md is used), an MSI message enabled, enable; config MSI; DRIVER_OK.
 * After CREATE the commands are pipelined: one batch, one kick. Returns the first ack
 * that is not OK (0 when the device is LIVE). md->id is set once CREATE succeeded.
 */
int tvq_mdev_up(struct tvq_drv *d, struct tvq_mdev *md, uint32_t type, uint64_t want,
		uint16_t nq, uint16_t qsize);
/* The same bring-up on md->id again (after STATUS SET 0), rings reset. */
int tvq_mdev_restart(struct tvq_drv *d, struct tvq_mdev *md, uint64_t want, uint16_t qsize);
/* STATUS SET 0 then DESTROY, pipelined. Returns the DESTROY ack. */
int tvq_mdev_down(struct tvq_drv *d, struct tvq_mdev *md);
void tvq_mdev_free(struct tvq_mdev *md);
/* A doorbell write for queue q (2 bytes at the device's page, through the fake hv). */
void tvq_mdev_kick(struct tvq_drv *d, const struct tvq_mdev *md, uint16_t q);
/* Interrupts delivered for queue q's MSI message so far. */
uint64_t tvq_mdev_irqs(struct tvq_drv *d, const struct tvq_mdev *md, uint16_t q);

/*
 * A virtio-blk request on queue q: header, len bytes at data (device-writable for
 * VIRTIO_BLK_T_IN), status byte; made available, not kicked. 0 and *head, or -ENOSPC.
 */
int tvq_blk_submit(struct tvq_drv *d, struct tvq_mdev *md, uint16_t q, uint32_t type,
		   uint64_t sector, uint64_t data, uint32_t len, uint16_t *head);
/* Wait for head on queue q: its status byte (0 = VIRTIO_BLK_S_OK), or -ETIMEDOUT. */
int tvq_blk_wait(struct tvq_drv *d, struct tvq_mdev *md, uint16_t q, uint16_t head);
/* Submit, kick and wait for one request. */
int tvq_blk_io(struct tvq_drv *d, struct tvq_mdev *md, uint16_t q, uint32_t type,
	       uint64_t sector, uint64_t data, uint32_t len);

#endif
