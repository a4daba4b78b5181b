/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Wire format of vqvm's management device (PCI 1AF4:10F0): its device configuration,
 * the transport virtqueue (queue 0) and the admin virtqueue (queue 1).
 *
 * Written from docs/transport-vq.md, the normative description; the section numbers
 * below are that document's. Every field is little-endian, naturally aligned, and every
 * byte of padding is an explicit reserved field. vqvm_tvq_check_layout() asserts each
 * offset and size at build time.
 */
#ifndef VQVM_TVQ_H
#define VQVM_TVQ_H

#include <linux/build_bug.h>
#include <linux/stddef.h>
#include <linux/types.h>

/* 2.1: PCI identity */
#define VQVM_MGMT_VENDOR_ID		0x1af4
#define VQVM_MGMT_DEVICE_ID		0x10f0

/* 2.3: fixed offsets in BAR0 (also announced by the virtio vendor capabilities) */
#define VQVM_BAR0_COMMON		0x0000
#define VQVM_BAR0_ISR			0x1000
#define VQVM_BAR0_DEVICE		0x2000
#define VQVM_BAR0_NOTIFY		0x3000
#define VQVM_BAR0_NOTIFY_MULT		4

/* 5.1: the management device's queues */
#define VQVM_TRANSPORTQ			0
#define VQVM_ADMINQ			1
#define VQVM_MGMT_NUM_QUEUES		2

/* 4.1: feature bits of the management device */
#define VQVM_F_ADMIN_VQ			41
#define VQVM_F_FEATURE_63_0_MGMT	43
#define VQVM_F_TRNSPT_VQ		44
#define VQVM_F_TRNSPT_VQ_VDEV		45

/* 3: device configuration (BAR0 + 0x2000), read-only */
struct vqvm_mgmt_config {
	__le32 max_managed;
	__le32 managed_generation;
	__le16 msix_pool_first;
	__le16 msix_pool_size;
	u8 doorbell_bar;
	u8 reserved0[3];
	__le32 doorbell_stride;
	__le32 removal_timeout_ms;
};

/* 6.1: transportq request and reply headers */
struct vqvm_tvq_req_hdr {
	__le64 device_id;
	__le16 class;
	__le16 command;
	u8 reserved[4];
};

struct vqvm_tvq_reply_hdr {
	__le32 ack;
};

/* 6.3: ack codes */
#define VQVM_ACK_OK			0
#define VQVM_ACK_EIO			1
#define VQVM_ACK_EAGAIN			11
#define VQVM_ACK_EBUSY			16
#define VQVM_ACK_ENODEV			19
#define VQVM_ACK_EINVAL			22
#define VQVM_ACK_ENOSPC			28
#define VQVM_ACK_EOPNOTSUPP		95
#define VQVM_ACK_ERR			255

/* 6.5: classes and commands */
#define VQVM_CLASS_VDEV			1
#define  VQVM_VDEV_CREATE		0
#define  VQVM_VDEV_DESTROY		1
#define VQVM_CLASS_AVAIL_RES		2
#define  VQVM_AVAIL_RES_GET		0
#define VQVM_CLASS_FEAT			3
#define  VQVM_FEAT_DEVICE_GET		0
#define  VQVM_FEAT_DRIVER_SET		1
#define  VQVM_FEAT_DRIVER_GET		2
#define VQVM_CLASS_STATUS		4
#define  VQVM_STATUS_SET		0
#define  VQVM_STATUS_GET		1
#define VQVM_CLASS_GENERATION		5
#define  VQVM_GENERATION_GET		0
#define VQVM_CLASS_CONFIG		6
#define  VQVM_CONFIG_GET		0
#define  VQVM_CONFIG_SET		1
#define VQVM_CLASS_MSI			7
#define  VQVM_MSI_VQ_SET		0
#define  VQVM_MSI_VQ_ENABLE		1
#define  VQVM_MSI_VQ_MASK		2
#define  VQVM_MSI_CONFIG_SET		3
#define  VQVM_MSI_CONFIG_ENABLE		4
#define  VQVM_MSI_CONFIG_MASK		5
#define VQVM_CLASS_VQ_ADDR		8
#define  VQVM_VQ_ADDR_SET		0
#define VQVM_CLASS_VQ_ENABLE		9
#define  VQVM_VQ_ENABLE_SET		0
#define  VQVM_VQ_ENABLE_GET		1
#define VQVM_CLASS_VQ_SIZE		10
#define  VQVM_VQ_SIZE_SET		0
#define  VQVM_VQ_SIZE_GET		1
#define VQVM_CLASS_VQ_NOTIFY		11
#define  VQVM_VQ_NOTIFY_GET		1
#define VQVM_CLASS_VQ_AVAIL_INDEX	12
#define  VQVM_VQ_AVAIL_INDEX_SET	0
#define  VQVM_VQ_AVAIL_INDEX_GET	1
#define VQVM_CLASS_VQ_RESET		13
#define  VQVM_VQ_RESET_RESET		0
#define VQVM_CLASS_ASID			14
#define  VQVM_ASID_SET			0

/* 6.5: the out-data of commands that name only a queue */
struct vqvm_tvq_vq_index {
	__le16 queue_index;
};

/* 6.6: VDEV CREATE */
struct vqvm_tvq_vdev_create_out {
	__le32 virtio_device_id;
	__le32 reserved;
	__le64 features_allowed;
	/* followed by u8 dev_config[L] */
};

struct vqvm_tvq_vdev_create_in {
	__le64 device_id;
};

/* 6.7: AVAIL_RES GET */
struct vqvm_tvq_avail_res_get_out {
	__le32 virtio_device_id;
	__le32 reserved;
};

struct vqvm_tvq_avail_res {
	__le16 num_avail_vqs;
	__le16 min_vdev_vqs;
	__le16 max_vdev_vqs;
	__le16 num_avail_vdev;
};

/* 6.8: FEAT */
struct vqvm_tvq_features {
	__le64 features;
};

/* 6.9: STATUS */
struct vqvm_tvq_status {
	u8 status;
};

/* 6.10: GENERATION GET */
struct vqvm_tvq_generation {
	__le32 generation;
};

/* 6.11: CONFIG GET and SET (SET: followed by u8 data[size]) */
#define VQVM_CONFIG_MAX_SIZE		4096
struct vqvm_tvq_config_out {
	__le32 offset;
	__le32 size;
};

/* 6.12: MSI */
#define VQVM_MSI_ADDR_LO		0xfee00000ULL
#define VQVM_MSI_ADDR_HI		0xfeefffffULL
struct vqvm_tvq_msi_vq_set_out {
	__le16 queue_index;
	u8 reserved0[6];
	__le64 addr;
	__le32 data;
	u8 reserved1[4];
};

struct vqvm_tvq_msi_config_set_out {
	__le64 addr;
	__le32 data;
	u8 reserved[4];
};

/* VQ_ENABLE (1 = enabled) and VQ_MASK (1 = masked) share this layout */
struct vqvm_tvq_msi_vq_flag_out {
	__le16 queue_index;
	u8 flag;
	u8 reserved;
};

/* CONFIG_ENABLE and CONFIG_MASK */
struct vqvm_tvq_msi_config_flag_out {
	u8 flag;
};

/* 6.13: VQ_ADDR SET (the seed's order: device, descriptor, driver area) */
struct vqvm_tvq_vq_addr_set_out {
	__le16 queue_index;
	u8 reserved[6];
	__le64 device_area;
	__le64 descriptor_area;
	__le64 driver_area;
};

/* 6.14: VQ_ENABLE */
struct vqvm_tvq_vq_enable_set_out {
	__le16 queue_index;
	u8 enable;
	u8 reserved;
};

struct vqvm_tvq_vq_enable_get_in {
	u8 enable;
};

/* 6.15: VQ_SIZE */
struct vqvm_tvq_vq_size_set_out {
	__le16 queue_index;
	__le16 size;
};

struct vqvm_tvq_vq_size_get_in {
	__le16 size;
};

/* 6.16: VQ_NOTIFY GET */
struct vqvm_tvq_vq_notify_get_in {
	__le64 addr;
	__le64 size;
};

/* 6.17: VQ_AVAIL_INDEX */
struct vqvm_tvq_vq_avail_index_set_out {
	__le16 queue_index;
	__le16 avail_index;
};

struct vqvm_tvq_vq_avail_index_get_in {
	__le16 avail_index;
};

/* 6.19: ASID SET */
struct vqvm_tvq_asid_set_out {
	__le16 queue_index;
	u8 reserved[2];
	__le32 asid;
};

/* 8.1: adminq request and reply headers */
struct vqvm_adm_req_hdr {
	__le16 command;
	__le16 dst_type;
	u8 reserved0[4];
	__le64 vdev_id;
	u8 reserved1[8];
};

struct vqvm_adm_reply_hdr {
	u8 status;
	u8 command_specific_error;
	u8 reserved[6];
};

/* 8.2: dst_type and status */
#define VQVM_ADM_DST_SELF		0
#define VQVM_ADM_DST_VDEV		1

#define VQVM_ADM_OK			0
#define VQVM_ADM_CS_ERR			1
#define VQVM_ADM_INVALID_COMMAND	2
#define VQVM_ADM_INVALID_FIELD		3
#define VQVM_ADM_INVALID_VDEV_ID	4

/* 8.3: admin commands */
#define VQVM_ADM_DEVICE_IDENTIFY	0
#define VQVM_ADM_SUBSYSTEM_IDENTIFY	1
#define VQVM_ADM_DEVICE_INFO		2
#define VQVM_ADM_DEVICE_MGMT		3
#define VQVM_ADM_DEVICE_MGMT_CAPS	4
#define VQVM_ADM_DEVICE_MGMT_ATTRS	5
#define VQVM_ADM_MANAGED_DEVICE_LIST	6

/* 8.6: DEVICE_INFO result */
#define VQVM_STATE_CREATED		0
#define VQVM_STATE_INITIALIZING		1
#define VQVM_STATE_LIVE			2
#define VQVM_STATE_NEEDS_RESET		3

struct vqvm_adm_device_info {
	__le64 vdev_id;
	__le64 device_features;
	__le64 driver_features;
	__le32 virtio_device_id;
	__le16 num_queues;
	u8 state;
	u8 device_status;
	u8 removal_requested;
	u8 origin;
	__le16 msix_budget;
	__le16 msix_in_use;
	__le16 slot;
	u8 backend_name[32];
	__le16 config_size;
	u8 reserved[54];
};

/* 8.7: DEVICE_MGMT data and result */
struct vqvm_adm_device_mgmt_data {
	u8 operation;
	u8 reserved0;
	__le16 resource;
	u8 reserved1[4];
	__le64 resource_val;
};

struct vqvm_adm_device_mgmt_result {
	__le64 resource_val;
	u8 reserved[8];
};

/* 8.9: DEVICE_MGMT_ATTRS result */
struct vqvm_adm_device_mgmt_attrs {
	__le64 attrs_mask;
	__le32 total_msix_count;
	__le32 assigned_msix_count;
	__le16 per_device_max_msix_count;
	u8 reserved0[6];
	__le64 managed_device_features_63_0;
	u8 reserved1[32];
};

/* 8.10: MANAGED_DEVICE_LIST data and result */
#define VQVM_ADM_LIST_MAX_IDS		510
struct vqvm_adm_list_data {
	__le64 first_vdev_id;
};

struct vqvm_adm_list_result {
	__le16 num_identifiers;
	u8 reserved[6];
	__le64 num_managed_vdevs;
	__le64 vdev_ids[VQVM_ADM_LIST_MAX_IDS];
};

#define VQVM_CHECK_FIELD(type, field, off) \
	BUILD_BUG_ON(offsetof(struct type, field) != (off))
#define VQVM_CHECK_SIZE(type, size) \
	BUILD_BUG_ON(sizeof(struct type) != (size))

/* Every offset and size of docs/transport-vq.md, checked at build time. */
static inline void vqvm_tvq_check_layout(void)
{
	VQVM_CHECK_FIELD(vqvm_mgmt_config, max_managed, 0);
	VQVM_CHECK_FIELD(vqvm_mgmt_config, managed_generation, 4);
	VQVM_CHECK_FIELD(vqvm_mgmt_config, msix_pool_first, 8);
	VQVM_CHECK_FIELD(vqvm_mgmt_config, msix_pool_size, 10);
	VQVM_CHECK_FIELD(vqvm_mgmt_config, doorbell_bar, 12);
	VQVM_CHECK_FIELD(vqvm_mgmt_config, reserved0, 13);
	VQVM_CHECK_FIELD(vqvm_mgmt_config, doorbell_stride, 16);
	VQVM_CHECK_FIELD(vqvm_mgmt_config, removal_timeout_ms, 20);
	VQVM_CHECK_SIZE(vqvm_mgmt_config, 24);

	VQVM_CHECK_FIELD(vqvm_tvq_req_hdr, device_id, 0);
	VQVM_CHECK_FIELD(vqvm_tvq_req_hdr, class, 8);
	VQVM_CHECK_FIELD(vqvm_tvq_req_hdr, command, 10);
	VQVM_CHECK_FIELD(vqvm_tvq_req_hdr, reserved, 12);
	VQVM_CHECK_SIZE(vqvm_tvq_req_hdr, 16);
	VQVM_CHECK_SIZE(vqvm_tvq_reply_hdr, 4);
	VQVM_CHECK_SIZE(vqvm_tvq_vq_index, 2);

	VQVM_CHECK_FIELD(vqvm_tvq_vdev_create_out, virtio_device_id, 0);
	VQVM_CHECK_FIELD(vqvm_tvq_vdev_create_out, reserved, 4);
	VQVM_CHECK_FIELD(vqvm_tvq_vdev_create_out, features_allowed, 8);
	VQVM_CHECK_SIZE(vqvm_tvq_vdev_create_out, 16);
	VQVM_CHECK_SIZE(vqvm_tvq_vdev_create_in, 8);

	VQVM_CHECK_FIELD(vqvm_tvq_avail_res_get_out, reserved, 4);
	VQVM_CHECK_SIZE(vqvm_tvq_avail_res_get_out, 8);
	VQVM_CHECK_FIELD(vqvm_tvq_avail_res, num_avail_vqs, 0);
	VQVM_CHECK_FIELD(vqvm_tvq_avail_res, min_vdev_vqs, 2);
	VQVM_CHECK_FIELD(vqvm_tvq_avail_res, max_vdev_vqs, 4);
	VQVM_CHECK_FIELD(vqvm_tvq_avail_res, num_avail_vdev, 6);
	VQVM_CHECK_SIZE(vqvm_tvq_avail_res, 8);

	VQVM_CHECK_SIZE(vqvm_tvq_features, 8);
	VQVM_CHECK_SIZE(vqvm_tvq_status, 1);
	VQVM_CHECK_SIZE(vqvm_tvq_generation, 4);
	VQVM_CHECK_FIELD(vqvm_tvq_config_out, size, 4);
	VQVM_CHECK_SIZE(vqvm_tvq_config_out, 8);

	VQVM_CHECK_FIELD(vqvm_tvq_msi_vq_set_out, queue_index, 0);
	VQVM_CHECK_FIELD(vqvm_tvq_msi_vq_set_out, reserved0, 2);
	VQVM_CHECK_FIELD(vqvm_tvq_msi_vq_set_out, addr, 8);
	VQVM_CHECK_FIELD(vqvm_tvq_msi_vq_set_out, data, 16);
	VQVM_CHECK_FIELD(vqvm_tvq_msi_vq_set_out, reserved1, 20);
	VQVM_CHECK_SIZE(vqvm_tvq_msi_vq_set_out, 24);
	VQVM_CHECK_FIELD(vqvm_tvq_msi_config_set_out, addr, 0);
	VQVM_CHECK_FIELD(vqvm_tvq_msi_config_set_out, data, 8);
	VQVM_CHECK_FIELD(vqvm_tvq_msi_config_set_out, reserved, 12);
	VQVM_CHECK_SIZE(vqvm_tvq_msi_config_set_out, 16);
	VQVM_CHECK_FIELD(vqvm_tvq_msi_vq_flag_out, flag, 2);
	VQVM_CHECK_FIELD(vqvm_tvq_msi_vq_flag_out, reserved, 3);
	VQVM_CHECK_SIZE(vqvm_tvq_msi_vq_flag_out, 4);
	VQVM_CHECK_SIZE(vqvm_tvq_msi_config_flag_out, 1);

	VQVM_CHECK_FIELD(vqvm_tvq_vq_addr_set_out, reserved, 2);
	VQVM_CHECK_FIELD(vqvm_tvq_vq_addr_set_out, device_area, 8);
	VQVM_CHECK_FIELD(vqvm_tvq_vq_addr_set_out, descriptor_area, 16);
	VQVM_CHECK_FIELD(vqvm_tvq_vq_addr_set_out, driver_area, 24);
	VQVM_CHECK_SIZE(vqvm_tvq_vq_addr_set_out, 32);
	VQVM_CHECK_FIELD(vqvm_tvq_vq_enable_set_out, enable, 2);
	VQVM_CHECK_FIELD(vqvm_tvq_vq_enable_set_out, reserved, 3);
	VQVM_CHECK_SIZE(vqvm_tvq_vq_enable_set_out, 4);
	VQVM_CHECK_SIZE(vqvm_tvq_vq_enable_get_in, 1);
	VQVM_CHECK_FIELD(vqvm_tvq_vq_size_set_out, size, 2);
	VQVM_CHECK_SIZE(vqvm_tvq_vq_size_set_out, 4);
	VQVM_CHECK_SIZE(vqvm_tvq_vq_size_get_in, 2);
	VQVM_CHECK_FIELD(vqvm_tvq_vq_notify_get_in, size, 8);
	VQVM_CHECK_SIZE(vqvm_tvq_vq_notify_get_in, 16);
	VQVM_CHECK_FIELD(vqvm_tvq_vq_avail_index_set_out, avail_index, 2);
	VQVM_CHECK_SIZE(vqvm_tvq_vq_avail_index_set_out, 4);
	VQVM_CHECK_SIZE(vqvm_tvq_vq_avail_index_get_in, 2);
	VQVM_CHECK_FIELD(vqvm_tvq_asid_set_out, reserved, 2);
	VQVM_CHECK_FIELD(vqvm_tvq_asid_set_out, asid, 4);
	VQVM_CHECK_SIZE(vqvm_tvq_asid_set_out, 8);

	VQVM_CHECK_FIELD(vqvm_adm_req_hdr, command, 0);
	VQVM_CHECK_FIELD(vqvm_adm_req_hdr, dst_type, 2);
	VQVM_CHECK_FIELD(vqvm_adm_req_hdr, reserved0, 4);
	VQVM_CHECK_FIELD(vqvm_adm_req_hdr, vdev_id, 8);
	VQVM_CHECK_FIELD(vqvm_adm_req_hdr, reserved1, 16);
	VQVM_CHECK_SIZE(vqvm_adm_req_hdr, 24);
	VQVM_CHECK_FIELD(vqvm_adm_reply_hdr, command_specific_error, 1);
	VQVM_CHECK_FIELD(vqvm_adm_reply_hdr, reserved, 2);
	VQVM_CHECK_SIZE(vqvm_adm_reply_hdr, 8);

	VQVM_CHECK_FIELD(vqvm_adm_device_info, vdev_id, 0);
	VQVM_CHECK_FIELD(vqvm_adm_device_info, device_features, 8);
	VQVM_CHECK_FIELD(vqvm_adm_device_info, driver_features, 16);
	VQVM_CHECK_FIELD(vqvm_adm_device_info, virtio_device_id, 24);
	VQVM_CHECK_FIELD(vqvm_adm_device_info, num_queues, 28);
	VQVM_CHECK_FIELD(vqvm_adm_device_info, state, 30);
	VQVM_CHECK_FIELD(vqvm_adm_device_info, device_status, 31);
	VQVM_CHECK_FIELD(vqvm_adm_device_info, removal_requested, 32);
	VQVM_CHECK_FIELD(vqvm_adm_device_info, origin, 33);
	VQVM_CHECK_FIELD(vqvm_adm_device_info, msix_budget, 34);
	VQVM_CHECK_FIELD(vqvm_adm_device_info, msix_in_use, 36);
	VQVM_CHECK_FIELD(vqvm_adm_device_info, slot, 38);
	VQVM_CHECK_FIELD(vqvm_adm_device_info, backend_name, 40);
	VQVM_CHECK_FIELD(vqvm_adm_device_info, config_size, 72);
	VQVM_CHECK_FIELD(vqvm_adm_device_info, reserved, 74);
	VQVM_CHECK_SIZE(vqvm_adm_device_info, 128);

	VQVM_CHECK_FIELD(vqvm_adm_device_mgmt_data, reserved0, 1);
	VQVM_CHECK_FIELD(vqvm_adm_device_mgmt_data, resource, 2);
	VQVM_CHECK_FIELD(vqvm_adm_device_mgmt_data, reserved1, 4);
	VQVM_CHECK_FIELD(vqvm_adm_device_mgmt_data, resource_val, 8);
	VQVM_CHECK_SIZE(vqvm_adm_device_mgmt_data, 16);
	VQVM_CHECK_FIELD(vqvm_adm_device_mgmt_result, reserved, 8);
	VQVM_CHECK_SIZE(vqvm_adm_device_mgmt_result, 16);

	VQVM_CHECK_FIELD(vqvm_adm_device_mgmt_attrs, total_msix_count, 8);
	VQVM_CHECK_FIELD(vqvm_adm_device_mgmt_attrs, assigned_msix_count, 12);
	VQVM_CHECK_FIELD(vqvm_adm_device_mgmt_attrs, per_device_max_msix_count, 16);
	VQVM_CHECK_FIELD(vqvm_adm_device_mgmt_attrs, reserved0, 18);
	VQVM_CHECK_FIELD(vqvm_adm_device_mgmt_attrs, managed_device_features_63_0, 24);
	VQVM_CHECK_FIELD(vqvm_adm_device_mgmt_attrs, reserved1, 32);
	VQVM_CHECK_SIZE(vqvm_adm_device_mgmt_attrs, 64);

	VQVM_CHECK_SIZE(vqvm_adm_list_data, 8);
	VQVM_CHECK_FIELD(vqvm_adm_list_result, reserved, 2);
	VQVM_CHECK_FIELD(vqvm_adm_list_result, num_managed_vdevs, 8);
	VQVM_CHECK_FIELD(vqvm_adm_list_result, vdev_ids, 16);
	VQVM_CHECK_SIZE(vqvm_adm_list_result, 4096);
}

#endif /* VQVM_TVQ_H */
