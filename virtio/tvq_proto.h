/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire format of vqvm's management device: its PCI identity and device config, the
 * transport virtqueue (queue 0) and the admin virtqueue (queue 1). docs/transport-vq.md
 * is normative; this header is its C rendering, shared by the device (virtio/) and the
 * tests. The guest driver (GPL-2.0) keeps its own copy of these layouts.
 *
 * Rules for every struct below: natural alignment, every padding byte spelled out as a
 * reserved field (no implicit padding, no packing), an offsetof assert for every field and
 * a sizeof assert for every struct. Multi-byte fields are little-endian on the wire
 * ("le" comments); the structs are the wire image on a little-endian host only, so code
 * that must also run big-endian converts with le16toh() and friends. Senders write
 * reserved fields as 0; the device rejects requests whose reserved fields are not 0.
 *
 * Nothing but <stdint.h> and <stddef.h>: keep it that way.
 */
#ifndef VQVM_VIRTIO_TVQ_PROTO_H
#define VQVM_VIRTIO_TVQ_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* ---- The management PCI function (doc section 2) ---- */

#define TVQ_PCI_VENDOR_ID 0x1af4
#define TVQ_PCI_DEVICE_ID 0x10f0
#define TVQ_PCI_REVISION 0x01
#define TVQ_PCI_CLASS 0x088000 /* base 0x08 system peripheral, sub 0x80 other, prog-if 0 */
#define TVQ_PCI_SUBSYS_VENDOR_ID 0x1af4
#define TVQ_PCI_SUBSYS_ID 0x10f0

#define TVQ_BAR_VIRTIO 0   /* the management device's own virtio structures */
#define TVQ_BAR_DOORBELL 2 /* doorbell pages, one per slot (also config doorbell_bar) */
#define TVQ_BAR_MSIX 4     /* MSI-X table at 0, PBA at half the BAR */

/* BAR0 layout (virtio-pci modern structures at fixed offsets). */
#define TVQ_BAR0_SIZE 0x4000
#define TVQ_BAR0_COMMON 0x0000
#define TVQ_BAR0_COMMON_SIZE 0x3c
#define TVQ_BAR0_ISR 0x1000
#define TVQ_BAR0_DEVICE 0x2000 /* struct tvq_mgmt_config */
#define TVQ_BAR0_NOTIFY 0x3000 /* queue q's doorbell at TVQ_BAR0_NOTIFY + 4 * q */
#define TVQ_NOTIFY_OFF_MULTIPLIER 4

/* BAR2: slot s's doorbell page at s * doorbell_stride; a kick writes the le16 queue
 * index (2-byte write) at offset 0 of the page. */
#define TVQ_DOORBELL_STRIDE 4096
#define TVQ_MAX_MANAGED_LIMIT 1024 /* max_managed never exceeds this */

/* MSI-X entries of the management device itself (below msix_pool_first). */
#define TVQ_MSIX_VECTOR_CONFIG 0 /* suggested msix_config */
#define TVQ_MSIX_VECTOR_QUEUES 1 /* suggested queue_msix_vector of both queues */
#define TVQ_MSIX_POOL_FIRST 2    /* vqvm's value; drivers read msix_pool_first */
#define TVQ_MSIX_MAX_ENTRIES 2048

/* Queues of the management device. */
#define TVQ_QUEUE_TRANSPORTQ 0
#define TVQ_QUEUE_ADMINQ 1
#define TVQ_NUM_QUEUES 2
#define TVQ_QUEUE_MAX_SIZE 256

/* Device config offsets (BAR0 + TVQ_BAR0_DEVICE), see struct tvq_mgmt_config. */
#define TVQ_CFG_MAX_MANAGED 0x00
#define TVQ_CFG_MANAGED_GENERATION 0x04
#define TVQ_CFG_MSIX_POOL_FIRST 0x08
#define TVQ_CFG_MSIX_POOL_SIZE 0x0a
#define TVQ_CFG_DOORBELL_BAR 0x0c
#define TVQ_CFG_DOORBELL_STRIDE 0x10
#define TVQ_CFG_REMOVAL_TIMEOUT_MS 0x14
#define TVQ_CFG_SIZE 0x18

/* ---- Feature bits (doc section 4) ---- */

#define TVQ_F_INDIRECT_DESC 28
#define TVQ_F_RING_EVENT_IDX 29
#define TVQ_F_VERSION_1 32
#define TVQ_F_RING_RESET 40          /* managed devices only (VQ_RESET needs it) */
#define TVQ_F_ADMIN_VQ 41
/* 42 (SR-IOV management) stays unused. */
#define TVQ_F_FEATURE_63_0_MGMT 43   /* requires ADMIN_VQ */
#define TVQ_F_TRNSPT_VQ 44
#define TVQ_F_TRNSPT_VQ_VDEV 45      /* requires TRNSPT_VQ */

/* Exactly what the management device offers. */
#define TVQ_MGMT_FEATURES                                                                  \
	((1ULL << TVQ_F_INDIRECT_DESC) | (1ULL << TVQ_F_RING_EVENT_IDX) |                  \
	 (1ULL << TVQ_F_VERSION_1) | (1ULL << TVQ_F_ADMIN_VQ) |                            \
	 (1ULL << TVQ_F_FEATURE_63_0_MGMT) | (1ULL << TVQ_F_TRNSPT_VQ) |                   \
	 (1ULL << TVQ_F_TRNSPT_VQ_VDEV))

/* Bits a managed device never offers: ACCESS_PLATFORM 33, RING_PACKED 34,
 * NOTIFICATION_DATA 38, 41-45. */
#define TVQ_MANAGED_NEVER_FEATURES                                                         \
	((1ULL << 33) | (1ULL << 34) | (1ULL << 38) | (0x1fULL << 41))

/* Virtio device ids a managed device can have. */
#define TVQ_VIRTIO_ID_NET 1
#define TVQ_VIRTIO_ID_BLOCK 2

/* Virtio device status bits (STATUS class). */
#define TVQ_STATUS_ACKNOWLEDGE 0x01
#define TVQ_STATUS_DRIVER 0x02
#define TVQ_STATUS_DRIVER_OK 0x04
#define TVQ_STATUS_FEATURES_OK 0x08
#define TVQ_STATUS_RESERVED_BITS 0x30 /* 16 and 32: EINVAL */
#define TVQ_STATUS_DEVICE_NEEDS_RESET 0x40
#define TVQ_STATUS_FAILED 0x80

/* ---- Transport virtqueue (doc section 6) ---- */

/* Classes and their commands. */
#define TVQ_CLASS_VDEV 1
#define TVQ_CMD_VDEV_CREATE 0
#define TVQ_CMD_VDEV_DESTROY 1
#define TVQ_CLASS_AVAIL_RES 2
#define TVQ_CMD_AVAIL_RES_GET 0
#define TVQ_CLASS_FEAT 3
#define TVQ_CMD_FEAT_DEVICE_GET 0
#define TVQ_CMD_FEAT_DRIVER_SET 1
#define TVQ_CMD_FEAT_DRIVER_GET 2
#define TVQ_CLASS_STATUS 4
#define TVQ_CMD_STATUS_SET 0
#define TVQ_CMD_STATUS_GET 1
#define TVQ_CLASS_GENERATION 5
#define TVQ_CMD_GENERATION_GET 0
#define TVQ_CLASS_CONFIG 6
#define TVQ_CMD_CONFIG_GET 0
#define TVQ_CMD_CONFIG_SET 1
#define TVQ_CLASS_MSI 7
#define TVQ_CMD_MSI_VQ_SET 0
#define TVQ_CMD_MSI_VQ_ENABLE 1
#define TVQ_CMD_MSI_VQ_MASK 2
#define TVQ_CMD_MSI_CONFIG_SET 3
#define TVQ_CMD_MSI_CONFIG_ENABLE 4
#define TVQ_CMD_MSI_CONFIG_MASK 5
#define TVQ_CLASS_VQ_ADDR 8
#define TVQ_CMD_VQ_ADDR_SET 0
#define TVQ_CLASS_VQ_ENABLE 9
#define TVQ_CMD_VQ_ENABLE_SET 0
#define TVQ_CMD_VQ_ENABLE_GET 1
#define TVQ_CLASS_VQ_SIZE 10
#define TVQ_CMD_VQ_SIZE_SET 0
#define TVQ_CMD_VQ_SIZE_GET 1
#define TVQ_CLASS_VQ_NOTIFY 11
#define TVQ_CMD_VQ_NOTIFY_GET 1 /* there is no command 0 */
#define TVQ_CLASS_VQ_AVAIL_INDEX 12
#define TVQ_CMD_VQ_AVAIL_INDEX_SET 0
#define TVQ_CMD_VQ_AVAIL_INDEX_GET 1
#define TVQ_CLASS_VQ_RESET 13
#define TVQ_CMD_VQ_RESET_RESET 0
#define TVQ_CLASS_ASID 14
#define TVQ_CMD_ASID_SET 0
#define TVQ_CLASS_MAX 14

/* The management device's own id in device_id: only CREATE and AVAIL_RES GET use it. */
#define TVQ_DEVICE_ID_MGMT 0

/* Ack codes: each has exactly one meaning (doc 6.3). */
#define TVQ_ACK_OK 0
#define TVQ_ACK_EIO 1          /* the backend failed */
#define TVQ_ACK_EAGAIN 11      /* transient, retry (a backend still being released) */
#define TVQ_ACK_EBUSY 16       /* the device's/queue's/entry's state forbids it now */
#define TVQ_ACK_ENODEV 19      /* no such managed device */
#define TVQ_ACK_EINVAL 22      /* malformed, too short/long, reserved set, out of range */
#define TVQ_ACK_ENOSPC 28      /* no free backend, slot, MSI vector or route */
#define TVQ_ACK_EOPNOTSUPP 95  /* unknown class/command, or feature not negotiated */
#define TVQ_ACK_ERR 255        /* anything else (logged) */

/* MSI flag values (1 = enabled, 1 = masked, for every MSI command). */
#define TVQ_MSI_DISABLED 0
#define TVQ_MSI_ENABLED 1
#define TVQ_MSI_UNMASKED 0
#define TVQ_MSI_MASKED 1

/* Valid MSI addresses (x86 interrupt-message window, upper 32 bits zero). */
#define TVQ_MSI_ADDR_FIRST 0xfee00000ULL
#define TVQ_MSI_ADDR_LAST 0xfeefffffULL

/* Ring alignment checked by VQ_ADDR SET. */
#define TVQ_VQ_DESC_ALIGN 16
#define TVQ_VQ_DRIVER_ALIGN 2
#define TVQ_VQ_DEVICE_ALIGN 4

/* CONFIG GET/SET size limit (a device-type config is at most 4 KiB). */
#define TVQ_CONFIG_MAX 4096

/* ---- Admin virtqueue (doc section 8) ---- */

#define TVQ_ADMIN_CMD_DEVICE_IDENTIFY 0
#define TVQ_ADMIN_CMD_SUBSYSTEM_IDENTIFY 1 /* not implemented: INVALID_COMMAND */
#define TVQ_ADMIN_CMD_DEVICE_INFO 2
#define TVQ_ADMIN_CMD_DEVICE_MGMT 3
#define TVQ_ADMIN_CMD_DEVICE_MGMT_CAPS 4
#define TVQ_ADMIN_CMD_DEVICE_MGMT_ATTRS 5
#define TVQ_ADMIN_CMD_MANAGED_DEVICE_LIST 6

#define TVQ_ADMIN_DST_SELF 0    /* the management device; vdev_id must be 0 */
#define TVQ_ADMIN_DST_MANAGED 1 /* the managed device vdev_id */

#define TVQ_ADMIN_STATUS_OK 0
#define TVQ_ADMIN_STATUS_CS_ERR 1
#define TVQ_ADMIN_STATUS_INVALID_COMMAND 2
#define TVQ_ADMIN_STATUS_INVALID_FIELD 3
#define TVQ_ADMIN_STATUS_INVALID_VDEV_ID 4

/* command_specific_error of DEVICE_MGMT (status CS_ERR). */
#define TVQ_ADMIN_CS_ERR_VDEV_IN_USE 0
#define TVQ_ADMIN_CS_ERR_RSC_COUNT_EXCEED 1
#define TVQ_ADMIN_CS_ERR_NO_RSC 2
#define TVQ_ADMIN_CS_ERR_RSC_UNSUPPORTED 3
#define TVQ_ADMIN_CS_ERR_OP_UNSUPPORTED 4
#define TVQ_ADMIN_CS_ERR_RSC_VAL_INVALID 5

/* DEVICE_MGMT operation and resource. */
#define TVQ_ADMIN_MGMT_OP_ASSIGN 1
#define TVQ_ADMIN_MGMT_OP_QUERY 2
#define TVQ_ADMIN_MGMT_RSC_MSIX 0
#define TVQ_ADMIN_MGMT_RSC_FEATURES_63_0 1

/* DEVICE_IDENTIFY attrs_mask and optional_caps_support bits. */
#define TVQ_ADMIN_IDENTIFY_ATTR_VDEV_ID (1ULL << 0)
#define TVQ_ADMIN_IDENTIFY_ATTR_OPTIONAL_CAPS (1ULL << 1)
#define TVQ_ADMIN_IDENTIFY_ATTR_NUM_SUPPORTED (1ULL << 2)
#define TVQ_ADMIN_IDENTIFY_ATTR_MAX_VDEV_ID (1ULL << 3)
#define TVQ_ADMIN_CAP_SUBSYSTEM_IDENTIFY (1ULL << 0)
#define TVQ_ADMIN_CAP_DEVICE_INFO (1ULL << 1)
#define TVQ_ADMIN_CAP_DIRECT_MGMT (1ULL << 2)

/* DEVICE_MGMT_ATTRS attrs_mask bits. */
#define TVQ_ADMIN_ATTR_TOTAL_MSIX (1ULL << 0)
#define TVQ_ADMIN_ATTR_ASSIGNED_MSIX (1ULL << 1)
#define TVQ_ADMIN_ATTR_PER_DEVICE_MAX_MSIX (1ULL << 2)
#define TVQ_ADMIN_ATTR_FEATURES_63_0 (1ULL << 3)

/* DEVICE_INFO state and origin. */
#define TVQ_STATE_CREATED 0
#define TVQ_STATE_INITIALIZING 1
#define TVQ_STATE_LIVE 2
#define TVQ_STATE_NEEDS_RESET 3
#define TVQ_ORIGIN_HOST 0
#define TVQ_ORIGIN_CREATE 1

#define TVQ_ADMIN_LIST_MAX 510 /* vdev_ids per MANAGED_DEVICE_LIST */

/* ---- Structs (doc tables; offsets asserted field by field) ---- */

/* Device config of the management device (BAR0 + 0x2000), read-only. Doc 3. */
struct tvq_mgmt_config {
	uint32_t max_managed; /* le32 */
	uint32_t managed_generation; /* le32 */
	uint16_t msix_pool_first; /* le16 */
	uint16_t msix_pool_size; /* le16 */
	uint8_t doorbell_bar;
	uint8_t reserved0[3];
	uint32_t doorbell_stride; /* le32 */
	uint32_t removal_timeout_ms; /* le32 */
};
_Static_assert(offsetof(struct tvq_mgmt_config, max_managed) == 0,
	       "tvq_mgmt_config.max_managed");
_Static_assert(offsetof(struct tvq_mgmt_config, managed_generation) == 4,
	       "tvq_mgmt_config.managed_generation");
_Static_assert(offsetof(struct tvq_mgmt_config, msix_pool_first) == 8,
	       "tvq_mgmt_config.msix_pool_first");
_Static_assert(offsetof(struct tvq_mgmt_config, msix_pool_size) == 10,
	       "tvq_mgmt_config.msix_pool_size");
_Static_assert(offsetof(struct tvq_mgmt_config, doorbell_bar) == 12,
	       "tvq_mgmt_config.doorbell_bar");
_Static_assert(offsetof(struct tvq_mgmt_config, reserved0) == 13, "tvq_mgmt_config.reserved0");
_Static_assert(offsetof(struct tvq_mgmt_config, doorbell_stride) == 16,
	       "tvq_mgmt_config.doorbell_stride");
_Static_assert(offsetof(struct tvq_mgmt_config, removal_timeout_ms) == 20,
	       "tvq_mgmt_config.removal_timeout_ms");
_Static_assert(sizeof(struct tvq_mgmt_config) == 24, "sizeof tvq_mgmt_config");

/* Transportq request header, then the command's out-data. Doc 6.1. */
struct tvq_req_hdr {
	uint64_t device_id; /* le64 */
	uint16_t class; /* le16 */
	uint16_t command; /* le16 */
	uint8_t reserved[4];
};
_Static_assert(offsetof(struct tvq_req_hdr, device_id) == 0, "tvq_req_hdr.device_id");
_Static_assert(offsetof(struct tvq_req_hdr, class) == 8, "tvq_req_hdr.class");
_Static_assert(offsetof(struct tvq_req_hdr, command) == 10, "tvq_req_hdr.command");
_Static_assert(offsetof(struct tvq_req_hdr, reserved) == 12, "tvq_req_hdr.reserved");
_Static_assert(sizeof(struct tvq_req_hdr) == 16, "sizeof tvq_req_hdr");

/* Transportq reply header, then in-data; used length = 4 + in-data written. Doc 6.1. */
struct tvq_reply_hdr {
	uint32_t ack; /* le32 */
};
_Static_assert(offsetof(struct tvq_reply_hdr, ack) == 0, "tvq_reply_hdr.ack");
_Static_assert(sizeof(struct tvq_reply_hdr) == 4, "sizeof tvq_reply_hdr");

/* VDEV CREATE out-data (device_id 0): 16 bytes + L bytes of dev_config. Doc 6.6. */
struct tvq_vdev_create_out {
	uint32_t virtio_device_id; /* le32 */
	uint32_t reserved; /* le32 */
	uint64_t features_allowed; /* le64 */
	uint8_t dev_config[];
};
_Static_assert(offsetof(struct tvq_vdev_create_out, virtio_device_id) == 0,
	       "tvq_vdev_create_out.virtio_device_id");
_Static_assert(offsetof(struct tvq_vdev_create_out, reserved) == 4,
	       "tvq_vdev_create_out.reserved");
_Static_assert(offsetof(struct tvq_vdev_create_out, features_allowed) == 8,
	       "tvq_vdev_create_out.features_allowed");
_Static_assert(offsetof(struct tvq_vdev_create_out, dev_config) == 16,
	       "tvq_vdev_create_out.dev_config");
_Static_assert(sizeof(struct tvq_vdev_create_out) == 16, "sizeof tvq_vdev_create_out");

/* VDEV CREATE in-data. Doc 6.6. */
struct tvq_vdev_create_in {
	uint64_t device_id; /* le64 */
};
_Static_assert(offsetof(struct tvq_vdev_create_in, device_id) == 0,
	       "tvq_vdev_create_in.device_id");
_Static_assert(sizeof(struct tvq_vdev_create_in) == 8, "sizeof tvq_vdev_create_in");

/* AVAIL_RES GET out-data: optional (0 or 8 bytes). Doc 6.7. */
struct tvq_avail_res_get_out {
	uint32_t virtio_device_id; /* le32 */
	uint32_t reserved; /* le32 */
};
_Static_assert(offsetof(struct tvq_avail_res_get_out, virtio_device_id) == 0,
	       "tvq_avail_res_get_out.virtio_device_id");
_Static_assert(offsetof(struct tvq_avail_res_get_out, reserved) == 4,
	       "tvq_avail_res_get_out.reserved");
_Static_assert(sizeof(struct tvq_avail_res_get_out) == 8, "sizeof tvq_avail_res_get_out");

/* AVAIL_RES GET in-data. Doc 6.7. */
struct tvq_avail_res {
	uint16_t num_avail_vqs; /* le16 */
	uint16_t min_vdev_vqs; /* le16 */
	uint16_t max_vdev_vqs; /* le16 */
	uint16_t num_avail_vdev; /* le16 */
};
_Static_assert(offsetof(struct tvq_avail_res, num_avail_vqs) == 0,
	       "tvq_avail_res.num_avail_vqs");
_Static_assert(offsetof(struct tvq_avail_res, min_vdev_vqs) == 2, "tvq_avail_res.min_vdev_vqs");
_Static_assert(offsetof(struct tvq_avail_res, max_vdev_vqs) == 4, "tvq_avail_res.max_vdev_vqs");
_Static_assert(offsetof(struct tvq_avail_res, num_avail_vdev) == 6,
	       "tvq_avail_res.num_avail_vdev");
_Static_assert(sizeof(struct tvq_avail_res) == 8, "sizeof tvq_avail_res");

/* FEAT: DEVICE_GET in, DRIVER_SET out, DRIVER_GET in. Doc 6.8. */
struct tvq_features {
	uint64_t features; /* le64 */
};
_Static_assert(offsetof(struct tvq_features, features) == 0, "tvq_features.features");
_Static_assert(sizeof(struct tvq_features) == 8, "sizeof tvq_features");

/* STATUS: SET out, GET in. Doc 6.9. */
struct tvq_status {
	uint8_t status;
};
_Static_assert(offsetof(struct tvq_status, status) == 0, "tvq_status.status");
_Static_assert(sizeof(struct tvq_status) == 1, "sizeof tvq_status");

/* GENERATION GET in-data. Doc 6.10. */
struct tvq_generation {
	uint32_t generation; /* le32 */
};
_Static_assert(offsetof(struct tvq_generation, generation) == 0, "tvq_generation.generation");
_Static_assert(sizeof(struct tvq_generation) == 4, "sizeof tvq_generation");

/* CONFIG GET out-data; in-data is `size` bytes. Doc 6.11. */
struct tvq_config_get_out {
	uint32_t offset; /* le32 */
	uint32_t size; /* le32 */
};
_Static_assert(offsetof(struct tvq_config_get_out, offset) == 0, "tvq_config_get_out.offset");
_Static_assert(offsetof(struct tvq_config_get_out, size) == 4, "tvq_config_get_out.size");
_Static_assert(sizeof(struct tvq_config_get_out) == 8, "sizeof tvq_config_get_out");

/* CONFIG SET out-data: 8 bytes + `size` bytes of data. Doc 6.11. */
struct tvq_config_set_out {
	uint32_t offset; /* le32 */
	uint32_t size; /* le32 */
	uint8_t data[];
};
_Static_assert(offsetof(struct tvq_config_set_out, offset) == 0, "tvq_config_set_out.offset");
_Static_assert(offsetof(struct tvq_config_set_out, size) == 4, "tvq_config_set_out.size");
_Static_assert(offsetof(struct tvq_config_set_out, data) == 8, "tvq_config_set_out.data");
_Static_assert(sizeof(struct tvq_config_set_out) == 8, "sizeof tvq_config_set_out");

/* MSI VQ_SET out-data. Doc 6.12. */
struct tvq_msi_vq_set_out {
	uint16_t queue_index; /* le16 */
	uint8_t reserved0[6];
	uint64_t addr; /* le64 */
	uint32_t data; /* le32 */
	uint8_t reserved1[4];
};
_Static_assert(offsetof(struct tvq_msi_vq_set_out, queue_index) == 0,
	       "tvq_msi_vq_set_out.queue_index");
_Static_assert(offsetof(struct tvq_msi_vq_set_out, reserved0) == 2,
	       "tvq_msi_vq_set_out.reserved0");
_Static_assert(offsetof(struct tvq_msi_vq_set_out, addr) == 8, "tvq_msi_vq_set_out.addr");
_Static_assert(offsetof(struct tvq_msi_vq_set_out, data) == 16, "tvq_msi_vq_set_out.data");
_Static_assert(offsetof(struct tvq_msi_vq_set_out, reserved1) == 20,
	       "tvq_msi_vq_set_out.reserved1");
_Static_assert(sizeof(struct tvq_msi_vq_set_out) == 24, "sizeof tvq_msi_vq_set_out");

/* MSI VQ_ENABLE out-data (1 = enabled). Doc 6.12. */
struct tvq_msi_vq_enable_out {
	uint16_t queue_index; /* le16 */
	uint8_t enable;
	uint8_t reserved;
};
_Static_assert(offsetof(struct tvq_msi_vq_enable_out, queue_index) == 0,
	       "tvq_msi_vq_enable_out.queue_index");
_Static_assert(offsetof(struct tvq_msi_vq_enable_out, enable) == 2,
	       "tvq_msi_vq_enable_out.enable");
_Static_assert(offsetof(struct tvq_msi_vq_enable_out, reserved) == 3,
	       "tvq_msi_vq_enable_out.reserved");
_Static_assert(sizeof(struct tvq_msi_vq_enable_out) == 4, "sizeof tvq_msi_vq_enable_out");

/* MSI VQ_MASK out-data (1 = masked). Doc 6.12. */
struct tvq_msi_vq_mask_out {
	uint16_t queue_index; /* le16 */
	uint8_t mask;
	uint8_t reserved;
};
_Static_assert(offsetof(struct tvq_msi_vq_mask_out, queue_index) == 0,
	       "tvq_msi_vq_mask_out.queue_index");
_Static_assert(offsetof(struct tvq_msi_vq_mask_out, mask) == 2, "tvq_msi_vq_mask_out.mask");
_Static_assert(offsetof(struct tvq_msi_vq_mask_out, reserved) == 3,
	       "tvq_msi_vq_mask_out.reserved");
_Static_assert(sizeof(struct tvq_msi_vq_mask_out) == 4, "sizeof tvq_msi_vq_mask_out");

/* MSI CONFIG_SET out-data. Doc 6.12. */
struct tvq_msi_config_set_out {
	uint64_t addr; /* le64 */
	uint32_t data; /* le32 */
	uint8_t reserved[4];
};
_Static_assert(offsetof(struct tvq_msi_config_set_out, addr) == 0,
	       "tvq_msi_config_set_out.addr");
_Static_assert(offsetof(struct tvq_msi_config_set_out, data) == 8,
	       "tvq_msi_config_set_out.data");
_Static_assert(offsetof(struct tvq_msi_config_set_out, reserved) == 12,
	       "tvq_msi_config_set_out.reserved");
_Static_assert(sizeof(struct tvq_msi_config_set_out) == 16, "sizeof tvq_msi_config_set_out");

/* MSI CONFIG_ENABLE out-data (1 = enabled). Doc 6.12. */
struct tvq_msi_config_enable_out {
	uint8_t enable;
};
_Static_assert(offsetof(struct tvq_msi_config_enable_out, enable) == 0,
	       "tvq_msi_config_enable_out.enable");
_Static_assert(sizeof(struct tvq_msi_config_enable_out) == 1,
	       "sizeof tvq_msi_config_enable_out");

/* MSI CONFIG_MASK out-data (1 = masked). Doc 6.12. */
struct tvq_msi_config_mask_out {
	uint8_t mask;
};
_Static_assert(offsetof(struct tvq_msi_config_mask_out, mask) == 0,
	       "tvq_msi_config_mask_out.mask");
_Static_assert(sizeof(struct tvq_msi_config_mask_out) == 1, "sizeof tvq_msi_config_mask_out");

/* VQ_ADDR SET out-data (the seed's field order: device, descriptor, driver). Doc 6.13. */
struct tvq_vq_addr_set_out {
	uint16_t queue_index; /* le16 */
	uint8_t reserved[6];
	uint64_t device_area; /* le64 */
	uint64_t descriptor_area; /* le64 */
	uint64_t driver_area; /* le64 */
};
_Static_assert(offsetof(struct tvq_vq_addr_set_out, queue_index) == 0,
	       "tvq_vq_addr_set_out.queue_index");
_Static_assert(offsetof(struct tvq_vq_addr_set_out, reserved) == 2,
	       "tvq_vq_addr_set_out.reserved");
_Static_assert(offsetof(struct tvq_vq_addr_set_out, device_area) == 8,
	       "tvq_vq_addr_set_out.device_area");
_Static_assert(offsetof(struct tvq_vq_addr_set_out, descriptor_area) == 16,
	       "tvq_vq_addr_set_out.descriptor_area");
_Static_assert(offsetof(struct tvq_vq_addr_set_out, driver_area) == 24,
	       "tvq_vq_addr_set_out.driver_area");
_Static_assert(sizeof(struct tvq_vq_addr_set_out) == 32, "sizeof tvq_vq_addr_set_out");

/* Out-data of VQ_{ENABLE,SIZE,NOTIFY,AVAIL_INDEX} GET and VQ_RESET RESET. Doc 6.5. */
struct tvq_vq_index {
	uint16_t queue_index; /* le16 */
};
_Static_assert(offsetof(struct tvq_vq_index, queue_index) == 0, "tvq_vq_index.queue_index");
_Static_assert(sizeof(struct tvq_vq_index) == 2, "sizeof tvq_vq_index");

/* VQ_ENABLE SET out-data (1 = enable/start, 0 = disable/stop). Doc 6.14. */
struct tvq_vq_enable_set_out {
	uint16_t queue_index; /* le16 */
	uint8_t enable;
	uint8_t reserved;
};
_Static_assert(offsetof(struct tvq_vq_enable_set_out, queue_index) == 0,
	       "tvq_vq_enable_set_out.queue_index");
_Static_assert(offsetof(struct tvq_vq_enable_set_out, enable) == 2,
	       "tvq_vq_enable_set_out.enable");
_Static_assert(offsetof(struct tvq_vq_enable_set_out, reserved) == 3,
	       "tvq_vq_enable_set_out.reserved");
_Static_assert(sizeof(struct tvq_vq_enable_set_out) == 4, "sizeof tvq_vq_enable_set_out");

/* VQ_ENABLE GET in-data. Doc 6.14. */
struct tvq_vq_enable_get_in {
	uint8_t enable;
};
_Static_assert(offsetof(struct tvq_vq_enable_get_in, enable) == 0,
	       "tvq_vq_enable_get_in.enable");
_Static_assert(sizeof(struct tvq_vq_enable_get_in) == 1, "sizeof tvq_vq_enable_get_in");

/* VQ_SIZE SET out-data. Doc 6.15. */
struct tvq_vq_size_set_out {
	uint16_t queue_index; /* le16 */
	uint16_t size; /* le16 */
};
_Static_assert(offsetof(struct tvq_vq_size_set_out, queue_index) == 0,
	       "tvq_vq_size_set_out.queue_index");
_Static_assert(offsetof(struct tvq_vq_size_set_out, size) == 2, "tvq_vq_size_set_out.size");
_Static_assert(sizeof(struct tvq_vq_size_set_out) == 4, "sizeof tvq_vq_size_set_out");

/* VQ_SIZE GET in-data. Doc 6.15. */
struct tvq_vq_size_get_in {
	uint16_t size; /* le16 */
};
_Static_assert(offsetof(struct tvq_vq_size_get_in, size) == 0, "tvq_vq_size_get_in.size");
_Static_assert(sizeof(struct tvq_vq_size_get_in) == 2, "sizeof tvq_vq_size_get_in");

/* VQ_NOTIFY GET in-data: addr is an offset in BAR doorbell_bar. Doc 6.16. */
struct tvq_vq_notify_get_in {
	uint64_t addr; /* le64 */
	uint64_t size; /* le64 */
};
_Static_assert(offsetof(struct tvq_vq_notify_get_in, addr) == 0, "tvq_vq_notify_get_in.addr");
_Static_assert(offsetof(struct tvq_vq_notify_get_in, size) == 8, "tvq_vq_notify_get_in.size");
_Static_assert(sizeof(struct tvq_vq_notify_get_in) == 16, "sizeof tvq_vq_notify_get_in");

/* VQ_AVAIL_INDEX SET out-data. Doc 6.17. */
struct tvq_vq_avail_index_set_out {
	uint16_t queue_index; /* le16 */
	uint16_t avail_index; /* le16 */
};
_Static_assert(offsetof(struct tvq_vq_avail_index_set_out, queue_index) == 0,
	       "tvq_vq_avail_index_set_out.queue_index");
_Static_assert(offsetof(struct tvq_vq_avail_index_set_out, avail_index) == 2,
	       "tvq_vq_avail_index_set_out.avail_index");
_Static_assert(sizeof(struct tvq_vq_avail_index_set_out) == 4,
	       "sizeof tvq_vq_avail_index_set_out");

/* VQ_AVAIL_INDEX GET in-data. Doc 6.17. */
struct tvq_vq_avail_index_get_in {
	uint16_t avail_index; /* le16 */
};
_Static_assert(offsetof(struct tvq_vq_avail_index_get_in, avail_index) == 0,
	       "tvq_vq_avail_index_get_in.avail_index");
_Static_assert(sizeof(struct tvq_vq_avail_index_get_in) == 2,
	       "sizeof tvq_vq_avail_index_get_in");

/* ASID SET out-data. Doc 6.19. */
struct tvq_asid_set_out {
	uint16_t queue_index; /* le16 */
	uint8_t reserved[2];
	uint32_t asid; /* le32 */
};
_Static_assert(offsetof(struct tvq_asid_set_out, queue_index) == 0,
	       "tvq_asid_set_out.queue_index");
_Static_assert(offsetof(struct tvq_asid_set_out, reserved) == 2, "tvq_asid_set_out.reserved");
_Static_assert(offsetof(struct tvq_asid_set_out, asid) == 4, "tvq_asid_set_out.asid");
_Static_assert(sizeof(struct tvq_asid_set_out) == 8, "sizeof tvq_asid_set_out");

/* Adminq request header (24 bytes: vdev_id aligned at 8), then the command data. Doc 8.1. */
struct tvq_admin_req_hdr {
	uint16_t command; /* le16 */
	uint16_t dst_type; /* le16 */
	uint8_t reserved0[4];
	uint64_t vdev_id; /* le64 */
	uint8_t reserved1[8];
};
_Static_assert(offsetof(struct tvq_admin_req_hdr, command) == 0, "tvq_admin_req_hdr.command");
_Static_assert(offsetof(struct tvq_admin_req_hdr, dst_type) == 2, "tvq_admin_req_hdr.dst_type");
_Static_assert(offsetof(struct tvq_admin_req_hdr, reserved0) == 4,
	       "tvq_admin_req_hdr.reserved0");
_Static_assert(offsetof(struct tvq_admin_req_hdr, vdev_id) == 8, "tvq_admin_req_hdr.vdev_id");
_Static_assert(offsetof(struct tvq_admin_req_hdr, reserved1) == 16,
	       "tvq_admin_req_hdr.reserved1");
_Static_assert(sizeof(struct tvq_admin_req_hdr) == 24, "sizeof tvq_admin_req_hdr");

/* Adminq reply header, then the result (a short buffer gets what fits). Doc 8.1. */
struct tvq_admin_reply_hdr {
	uint8_t status;
	uint8_t command_specific_error;
	uint8_t reserved[6];
};
_Static_assert(offsetof(struct tvq_admin_reply_hdr, status) == 0, "tvq_admin_reply_hdr.status");
_Static_assert(offsetof(struct tvq_admin_reply_hdr, command_specific_error) == 1,
	       "tvq_admin_reply_hdr.command_specific_error");
_Static_assert(offsetof(struct tvq_admin_reply_hdr, reserved) == 2,
	       "tvq_admin_reply_hdr.reserved");
_Static_assert(sizeof(struct tvq_admin_reply_hdr) == 8, "sizeof tvq_admin_reply_hdr");

/* DEVICE_IDENTIFY result. Doc 8.4. */
struct tvq_admin_device_identify_result {
	uint64_t attrs_mask; /* le64 */
	uint64_t vdev_id; /* le64 */
	uint64_t optional_caps_support; /* le64 */
	uint64_t num_supported_managed_vdevs; /* le64 */
	uint64_t max_managed_vdev_id; /* le64 */
	uint8_t reserved[4056];
};
_Static_assert(offsetof(struct tvq_admin_device_identify_result, attrs_mask) == 0,
	       "tvq_admin_device_identify_result.attrs_mask");
_Static_assert(offsetof(struct tvq_admin_device_identify_result, vdev_id) == 8,
	       "tvq_admin_device_identify_result.vdev_id");
_Static_assert(offsetof(struct tvq_admin_device_identify_result, optional_caps_support) == 16,
	       "tvq_admin_device_identify_result.optional_caps_support");
_Static_assert(offsetof(struct tvq_admin_device_identify_result, num_supported_managed_vdevs) == 24,
	       "tvq_admin_device_identify_result.num_supported_managed_vdevs");
_Static_assert(offsetof(struct tvq_admin_device_identify_result, max_managed_vdev_id) == 32,
	       "tvq_admin_device_identify_result.max_managed_vdev_id");
_Static_assert(offsetof(struct tvq_admin_device_identify_result, reserved) == 40,
	       "tvq_admin_device_identify_result.reserved");
_Static_assert(sizeof(struct tvq_admin_device_identify_result) == 4096,
	       "sizeof tvq_admin_device_identify_result");

/* DEVICE_INFO result (dst_type 1). Doc 8.6. */
struct tvq_admin_device_info_result {
	uint64_t vdev_id; /* le64 */
	uint64_t device_features; /* le64 */
	uint64_t driver_features; /* le64 */
	uint32_t virtio_device_id; /* le32 */
	uint16_t num_queues; /* le16 */
	uint8_t state;
	uint8_t device_status;
	uint8_t removal_requested;
	uint8_t origin;
	uint16_t msix_budget; /* le16 */
	uint16_t msix_in_use; /* le16 */
	uint16_t slot; /* le16 */
	uint8_t backend_name[32];
	uint16_t config_size; /* le16 */
	uint8_t reserved[54];
};
_Static_assert(offsetof(struct tvq_admin_device_info_result, vdev_id) == 0,
	       "tvq_admin_device_info_result.vdev_id");
_Static_assert(offsetof(struct tvq_admin_device_info_result, device_features) == 8,
	       "tvq_admin_device_info_result.device_features");
_Static_assert(offsetof(struct tvq_admin_device_info_result, driver_features) == 16,
	       "tvq_admin_device_info_result.driver_features");
_Static_assert(offsetof(struct tvq_admin_device_info_result, virtio_device_id) == 24,
	       "tvq_admin_device_info_result.virtio_device_id");
_Static_assert(offsetof(struct tvq_admin_device_info_result, num_queues) == 28,
	       "tvq_admin_device_info_result.num_queues");
_Static_assert(offsetof(struct tvq_admin_device_info_result, state) == 30,
	       "tvq_admin_device_info_result.state");
_Static_assert(offsetof(struct tvq_admin_device_info_result, device_status) == 31,
	       "tvq_admin_device_info_result.device_status");
_Static_assert(offsetof(struct tvq_admin_device_info_result, removal_requested) == 32,
	       "tvq_admin_device_info_result.removal_requested");
_Static_assert(offsetof(struct tvq_admin_device_info_result, origin) == 33,
	       "tvq_admin_device_info_result.origin");
_Static_assert(offsetof(struct tvq_admin_device_info_result, msix_budget) == 34,
	       "tvq_admin_device_info_result.msix_budget");
_Static_assert(offsetof(struct tvq_admin_device_info_result, msix_in_use) == 36,
	       "tvq_admin_device_info_result.msix_in_use");
_Static_assert(offsetof(struct tvq_admin_device_info_result, slot) == 38,
	       "tvq_admin_device_info_result.slot");
_Static_assert(offsetof(struct tvq_admin_device_info_result, backend_name) == 40,
	       "tvq_admin_device_info_result.backend_name");
_Static_assert(offsetof(struct tvq_admin_device_info_result, config_size) == 72,
	       "tvq_admin_device_info_result.config_size");
_Static_assert(offsetof(struct tvq_admin_device_info_result, reserved) == 74,
	       "tvq_admin_device_info_result.reserved");
_Static_assert(sizeof(struct tvq_admin_device_info_result) == 128,
	       "sizeof tvq_admin_device_info_result");

/* DEVICE_MGMT data (dst_type 1). Doc 8.7. */
struct tvq_admin_device_mgmt_data {
	uint8_t operation;
	uint8_t reserved0;
	uint16_t resource; /* le16 */
	uint8_t reserved1[4];
	uint64_t resource_val; /* le64 */
};
_Static_assert(offsetof(struct tvq_admin_device_mgmt_data, operation) == 0,
	       "tvq_admin_device_mgmt_data.operation");
_Static_assert(offsetof(struct tvq_admin_device_mgmt_data, reserved0) == 1,
	       "tvq_admin_device_mgmt_data.reserved0");
_Static_assert(offsetof(struct tvq_admin_device_mgmt_data, resource) == 2,
	       "tvq_admin_device_mgmt_data.resource");
_Static_assert(offsetof(struct tvq_admin_device_mgmt_data, reserved1) == 4,
	       "tvq_admin_device_mgmt_data.reserved1");
_Static_assert(offsetof(struct tvq_admin_device_mgmt_data, resource_val) == 8,
	       "tvq_admin_device_mgmt_data.resource_val");
_Static_assert(sizeof(struct tvq_admin_device_mgmt_data) == 16,
	       "sizeof tvq_admin_device_mgmt_data");

/* DEVICE_MGMT result. Doc 8.7. */
struct tvq_admin_device_mgmt_result {
	uint64_t resource_val; /* le64 */
	uint8_t reserved[8];
};
_Static_assert(offsetof(struct tvq_admin_device_mgmt_result, resource_val) == 0,
	       "tvq_admin_device_mgmt_result.resource_val");
_Static_assert(offsetof(struct tvq_admin_device_mgmt_result, reserved) == 8,
	       "tvq_admin_device_mgmt_result.reserved");
_Static_assert(sizeof(struct tvq_admin_device_mgmt_result) == 16,
	       "sizeof tvq_admin_device_mgmt_result");

/* DEVICE_MGMT_CAPS result: bit r of caps = resource r. Doc 8.8. */
struct tvq_admin_device_mgmt_caps_result {
	uint8_t caps[8192];
};
_Static_assert(offsetof(struct tvq_admin_device_mgmt_caps_result, caps) == 0,
	       "tvq_admin_device_mgmt_caps_result.caps");
_Static_assert(sizeof(struct tvq_admin_device_mgmt_caps_result) == 8192,
	       "sizeof tvq_admin_device_mgmt_caps_result");

/* DEVICE_MGMT_ATTRS result. Doc 8.9. */
struct tvq_admin_device_mgmt_attrs_result {
	uint64_t attrs_mask; /* le64 */
	uint32_t total_msix_count; /* le32 */
	uint32_t assigned_msix_count; /* le32 */
	uint16_t per_device_max_msix_count; /* le16 */
	uint8_t reserved0[6];
	uint64_t managed_device_features_63_0; /* le64 */
	uint8_t reserved1[32];
};
_Static_assert(offsetof(struct tvq_admin_device_mgmt_attrs_result, attrs_mask) == 0,
	       "tvq_admin_device_mgmt_attrs_result.attrs_mask");
_Static_assert(offsetof(struct tvq_admin_device_mgmt_attrs_result, total_msix_count) == 8,
	       "tvq_admin_device_mgmt_attrs_result.total_msix_count");
_Static_assert(offsetof(struct tvq_admin_device_mgmt_attrs_result, assigned_msix_count) == 12,
	       "tvq_admin_device_mgmt_attrs_result.assigned_msix_count");
_Static_assert(offsetof(struct tvq_admin_device_mgmt_attrs_result, per_device_max_msix_count) == 16,
	       "tvq_admin_device_mgmt_attrs_result.per_device_max_msix_count");
_Static_assert(offsetof(struct tvq_admin_device_mgmt_attrs_result, reserved0) == 18,
	       "tvq_admin_device_mgmt_attrs_result.reserved0");
_Static_assert(offsetof(struct tvq_admin_device_mgmt_attrs_result, managed_device_features_63_0) == 24,
	       "tvq_admin_device_mgmt_attrs_result.managed_device_features_63_0");
_Static_assert(offsetof(struct tvq_admin_device_mgmt_attrs_result, reserved1) == 32,
	       "tvq_admin_device_mgmt_attrs_result.reserved1");
_Static_assert(sizeof(struct tvq_admin_device_mgmt_attrs_result) == 64,
	       "sizeof tvq_admin_device_mgmt_attrs_result");

/* MANAGED_DEVICE_LIST data. Doc 8.10. */
struct tvq_admin_managed_device_list_data {
	uint64_t first_vdev_id; /* le64 */
};
_Static_assert(offsetof(struct tvq_admin_managed_device_list_data, first_vdev_id) == 0,
	       "tvq_admin_managed_device_list_data.first_vdev_id");
_Static_assert(sizeof(struct tvq_admin_managed_device_list_data) == 8,
	       "sizeof tvq_admin_managed_device_list_data");

/* MANAGED_DEVICE_LIST result; used length = 8 + 16 + 8 * num_identifiers. Doc 8.10. */
struct tvq_admin_managed_device_list_result {
	uint16_t num_identifiers; /* le16 */
	uint8_t reserved[6];
	uint64_t num_managed_vdevs; /* le64 */
	uint64_t vdev_ids[510]; /* le64 */
};
_Static_assert(offsetof(struct tvq_admin_managed_device_list_result, num_identifiers) == 0,
	       "tvq_admin_managed_device_list_result.num_identifiers");
_Static_assert(offsetof(struct tvq_admin_managed_device_list_result, reserved) == 2,
	       "tvq_admin_managed_device_list_result.reserved");
_Static_assert(offsetof(struct tvq_admin_managed_device_list_result, num_managed_vdevs) == 8,
	       "tvq_admin_managed_device_list_result.num_managed_vdevs");
_Static_assert(offsetof(struct tvq_admin_managed_device_list_result, vdev_ids) == 16,
	       "tvq_admin_managed_device_list_result.vdev_ids");
_Static_assert(sizeof(struct tvq_admin_managed_device_list_result) == 4096,
	       "sizeof tvq_admin_managed_device_list_result");

#endif
