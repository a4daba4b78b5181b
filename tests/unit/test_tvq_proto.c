// SPDX-License-Identifier: Apache-2.0
/*
 * The wire format of docs/transport-vq.md against virtio/tvq_proto.h. Everything here is
 * typed in from the document (offsets, sizes, numbers, the worked examples of its
 * appendix A), never derived from the header, so that a struct, a constant or the
 * document drifting from the others fails a test:
 *
 * - the field tables of the document, struct by struct: every field at its documented
 *   offset with its documented size, and every byte of every struct named (no implicit
 *   padding);
 * - the command tables of sections 6.5 and 8.3: class/command numbers, out and in sizes,
 *   the minimum request and reply lengths they imply;
 * - the codes of sections 4, 6.3, 8.2 and 8.7 and the PCI identity of section 2;
 * - the worked examples: requests built byte by byte at the documented offsets equal the
 *   document's hex dumps and decode through the structs, and struct-built requests encode
 *   to the same bytes.
 */
#include <criterion/criterion.h>
#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/tvq_proto.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Field tables (doc sections 3, 6, 8) ---- */

struct field_row {
	const char *type, *field; /* NULL field: end of the struct */
	size_t doc_off, doc_size; /* from the document */
	size_t off, size;         /* from the header */
	bool flex;                /* a trailing variable-length array */
};

#define MEMBER_SIZE(t, f) sizeof(((struct t *)0)->f)
#define FIELD(t, f, o, s) { #t, #f, o, s, offsetof(struct t, f), MEMBER_SIZE(t, f), false }
#define FLEX(t, f, o) { #t, #f, o, 0, offsetof(struct t, f), 0, true }
#define END(t, s) { #t, NULL, 0, s, 0, sizeof(struct t), false }

static const struct field_row fields[] = {
	FIELD(tvq_mgmt_config, max_managed, 0, 4),
	FIELD(tvq_mgmt_config, managed_generation, 4, 4),
	FIELD(tvq_mgmt_config, msix_pool_first, 8, 2),
	FIELD(tvq_mgmt_config, msix_pool_size, 10, 2),
	FIELD(tvq_mgmt_config, doorbell_bar, 12, 1),
	FIELD(tvq_mgmt_config, reserved0, 13, 3),
	FIELD(tvq_mgmt_config, doorbell_stride, 16, 4),
	FIELD(tvq_mgmt_config, removal_timeout_ms, 20, 4),
	END(tvq_mgmt_config, 24),
	FIELD(tvq_req_hdr, device_id, 0, 8),
	FIELD(tvq_req_hdr, class, 8, 2),
	FIELD(tvq_req_hdr, command, 10, 2),
	FIELD(tvq_req_hdr, reserved, 12, 4),
	END(tvq_req_hdr, 16),
	FIELD(tvq_reply_hdr, ack, 0, 4),
	END(tvq_reply_hdr, 4),
	FIELD(tvq_vdev_create_out, virtio_device_id, 0, 4),
	FIELD(tvq_vdev_create_out, reserved, 4, 4),
	FIELD(tvq_vdev_create_out, features_allowed, 8, 8),
	FLEX(tvq_vdev_create_out, dev_config, 16),
	END(tvq_vdev_create_out, 16),
	FIELD(tvq_vdev_create_in, device_id, 0, 8),
	END(tvq_vdev_create_in, 8),
	FIELD(tvq_avail_res_get_out, virtio_device_id, 0, 4),
	FIELD(tvq_avail_res_get_out, reserved, 4, 4),
	END(tvq_avail_res_get_out, 8),
	FIELD(tvq_avail_res, num_avail_vqs, 0, 2),
	FIELD(tvq_avail_res, min_vdev_vqs, 2, 2),
	FIELD(tvq_avail_res, max_vdev_vqs, 4, 2),
	FIELD(tvq_avail_res, num_avail_vdev, 6, 2),
	END(tvq_avail_res, 8),
	FIELD(tvq_features, features, 0, 8),
	END(tvq_features, 8),
	FIELD(tvq_status, status, 0, 1),
	END(tvq_status, 1),
	FIELD(tvq_generation, generation, 0, 4),
	END(tvq_generation, 4),
	FIELD(tvq_config_get_out, offset, 0, 4),
	FIELD(tvq_config_get_out, size, 4, 4),
	END(tvq_config_get_out, 8),
	FIELD(tvq_config_set_out, offset, 0, 4),
	FIELD(tvq_config_set_out, size, 4, 4),
	FLEX(tvq_config_set_out, data, 8),
	END(tvq_config_set_out, 8),
	FIELD(tvq_msi_vq_set_out, queue_index, 0, 2),
	FIELD(tvq_msi_vq_set_out, reserved0, 2, 6),
	FIELD(tvq_msi_vq_set_out, addr, 8, 8),
	FIELD(tvq_msi_vq_set_out, data, 16, 4),
	FIELD(tvq_msi_vq_set_out, reserved1, 20, 4),
	END(tvq_msi_vq_set_out, 24),
	FIELD(tvq_msi_vq_enable_out, queue_index, 0, 2),
	FIELD(tvq_msi_vq_enable_out, enable, 2, 1),
	FIELD(tvq_msi_vq_enable_out, reserved, 3, 1),
	END(tvq_msi_vq_enable_out, 4),
	FIELD(tvq_msi_vq_mask_out, queue_index, 0, 2),
	FIELD(tvq_msi_vq_mask_out, mask, 2, 1),
	FIELD(tvq_msi_vq_mask_out, reserved, 3, 1),
	END(tvq_msi_vq_mask_out, 4),
	FIELD(tvq_msi_config_set_out, addr, 0, 8),
	FIELD(tvq_msi_config_set_out, data, 8, 4),
	FIELD(tvq_msi_config_set_out, reserved, 12, 4),
	END(tvq_msi_config_set_out, 16),
	FIELD(tvq_msi_config_enable_out, enable, 0, 1),
	END(tvq_msi_config_enable_out, 1),
	FIELD(tvq_msi_config_mask_out, mask, 0, 1),
	END(tvq_msi_config_mask_out, 1),
	FIELD(tvq_vq_addr_set_out, queue_index, 0, 2),
	FIELD(tvq_vq_addr_set_out, reserved, 2, 6),
	FIELD(tvq_vq_addr_set_out, device_area, 8, 8),
	FIELD(tvq_vq_addr_set_out, descriptor_area, 16, 8),
	FIELD(tvq_vq_addr_set_out, driver_area, 24, 8),
	END(tvq_vq_addr_set_out, 32),
	FIELD(tvq_vq_index, queue_index, 0, 2),
	END(tvq_vq_index, 2),
	FIELD(tvq_vq_enable_set_out, queue_index, 0, 2),
	FIELD(tvq_vq_enable_set_out, enable, 2, 1),
	FIELD(tvq_vq_enable_set_out, reserved, 3, 1),
	END(tvq_vq_enable_set_out, 4),
	FIELD(tvq_vq_enable_get_in, enable, 0, 1),
	END(tvq_vq_enable_get_in, 1),
	FIELD(tvq_vq_size_set_out, queue_index, 0, 2),
	FIELD(tvq_vq_size_set_out, size, 2, 2),
	END(tvq_vq_size_set_out, 4),
	FIELD(tvq_vq_size_get_in, size, 0, 2),
	END(tvq_vq_size_get_in, 2),
	FIELD(tvq_vq_notify_get_in, addr, 0, 8),
	FIELD(tvq_vq_notify_get_in, size, 8, 8),
	END(tvq_vq_notify_get_in, 16),
	FIELD(tvq_vq_avail_index_set_out, queue_index, 0, 2),
	FIELD(tvq_vq_avail_index_set_out, avail_index, 2, 2),
	END(tvq_vq_avail_index_set_out, 4),
	FIELD(tvq_vq_avail_index_get_in, avail_index, 0, 2),
	END(tvq_vq_avail_index_get_in, 2),
	FIELD(tvq_asid_set_out, queue_index, 0, 2),
	FIELD(tvq_asid_set_out, reserved, 2, 2),
	FIELD(tvq_asid_set_out, asid, 4, 4),
	END(tvq_asid_set_out, 8),
	FIELD(tvq_admin_req_hdr, command, 0, 2),
	FIELD(tvq_admin_req_hdr, dst_type, 2, 2),
	FIELD(tvq_admin_req_hdr, reserved0, 4, 4),
	FIELD(tvq_admin_req_hdr, vdev_id, 8, 8),
	FIELD(tvq_admin_req_hdr, reserved1, 16, 8),
	END(tvq_admin_req_hdr, 24),
	FIELD(tvq_admin_reply_hdr, status, 0, 1),
	FIELD(tvq_admin_reply_hdr, command_specific_error, 1, 1),
	FIELD(tvq_admin_reply_hdr, reserved, 2, 6),
	END(tvq_admin_reply_hdr, 8),
	FIELD(tvq_admin_device_identify_result, attrs_mask, 0, 8),
	FIELD(tvq_admin_device_identify_result, vdev_id, 8, 8),
	FIELD(tvq_admin_device_identify_result, optional_caps_support, 16, 8),
	FIELD(tvq_admin_device_identify_result, num_supported_managed_vdevs, 24, 8),
	FIELD(tvq_admin_device_identify_result, max_managed_vdev_id, 32, 8),
	FIELD(tvq_admin_device_identify_result, reserved, 40, 4056),
	END(tvq_admin_device_identify_result, 4096),
	FIELD(tvq_admin_device_info_result, vdev_id, 0, 8),
	FIELD(tvq_admin_device_info_result, device_features, 8, 8),
	FIELD(tvq_admin_device_info_result, driver_features, 16, 8),
	FIELD(tvq_admin_device_info_result, virtio_device_id, 24, 4),
	FIELD(tvq_admin_device_info_result, num_queues, 28, 2),
	FIELD(tvq_admin_device_info_result, state, 30, 1),
	FIELD(tvq_admin_device_info_result, device_status, 31, 1),
	FIELD(tvq_admin_device_info_result, removal_requested, 32, 1),
	FIELD(tvq_admin_device_info_result, origin, 33, 1),
	FIELD(tvq_admin_device_info_result, msix_budget, 34, 2),
	FIELD(tvq_admin_device_info_result, msix_in_use, 36, 2),
	FIELD(tvq_admin_device_info_result, slot, 38, 2),
	FIELD(tvq_admin_device_info_result, backend_name, 40, 32),
	FIELD(tvq_admin_device_info_result, config_size, 72, 2),
	FIELD(tvq_admin_device_info_result, reserved, 74, 54),
	END(tvq_admin_device_info_result, 128),
	FIELD(tvq_admin_device_mgmt_data, operation, 0, 1),
	FIELD(tvq_admin_device_mgmt_data, reserved0, 1, 1),
	FIELD(tvq_admin_device_mgmt_data, resource, 2, 2),
	FIELD(tvq_admin_device_mgmt_data, reserved1, 4, 4),
	FIELD(tvq_admin_device_mgmt_data, resource_val, 8, 8),
	END(tvq_admin_device_mgmt_data, 16),
	FIELD(tvq_admin_device_mgmt_result, resource_val, 0, 8),
	FIELD(tvq_admin_device_mgmt_result, reserved, 8, 8),
	END(tvq_admin_device_mgmt_result, 16),
	FIELD(tvq_admin_device_mgmt_caps_result, caps, 0, 8192),
	END(tvq_admin_device_mgmt_caps_result, 8192),
	FIELD(tvq_admin_device_mgmt_attrs_result, attrs_mask, 0, 8),
	FIELD(tvq_admin_device_mgmt_attrs_result, total_msix_count, 8, 4),
	FIELD(tvq_admin_device_mgmt_attrs_result, assigned_msix_count, 12, 4),
	FIELD(tvq_admin_device_mgmt_attrs_result, per_device_max_msix_count, 16, 2),
	FIELD(tvq_admin_device_mgmt_attrs_result, reserved0, 18, 6),
	FIELD(tvq_admin_device_mgmt_attrs_result, managed_device_features_63_0, 24, 8),
	FIELD(tvq_admin_device_mgmt_attrs_result, reserved1, 32, 32),
	END(tvq_admin_device_mgmt_attrs_result, 64),
	FIELD(tvq_admin_managed_device_list_data, first_vdev_id, 0, 8),
	END(tvq_admin_managed_device_list_data, 8),
	FIELD(tvq_admin_managed_device_list_result, num_identifiers, 0, 2),
	FIELD(tvq_admin_managed_device_list_result, reserved, 2, 6),
	FIELD(tvq_admin_managed_device_list_result, num_managed_vdevs, 8, 8),
	FIELD(tvq_admin_managed_device_list_result, vdev_ids, 16, 4080),
	END(tvq_admin_managed_device_list_result, 4096),
};

Test(tvq_proto, every_field_at_its_documented_offset_and_size)
{
	size_t next = 0;
	unsigned int structs = 0;

	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		const struct field_row *r = &fields[i];

		if (!r->field) {
			cr_expect_eq(r->size, r->doc_size, "sizeof(struct %s) is %zu, doc says %zu",
				     r->type, r->size, r->doc_size);
			cr_expect_eq(next, r->doc_size, "struct %s: fields end at %zu, size %zu",
				     r->type, next, r->doc_size);
			next = 0;
			structs++;
			continue;
		}
		cr_expect_eq(r->off, r->doc_off, "%s.%s at %zu, doc says %zu", r->type, r->field,
			     r->off, r->doc_off);
		/* Every byte named: each field starts where the previous one ended. */
		cr_expect_eq(r->doc_off, next, "%s.%s: gap or overlap before it (%zu vs %zu)",
			     r->type, r->field, r->doc_off, next);
		if (r->flex)
			continue; /* a trailing array: the struct ends where it starts */
		cr_expect_eq(r->size, r->doc_size, "%s.%s is %zu bytes, doc says %zu", r->type,
			     r->field, r->size, r->doc_size);
		/* Natural alignment: scalar fields at a multiple of their size. */
		if (r->doc_size <= 8 && (r->doc_size & (r->doc_size - 1)) == 0)
			cr_expect_eq(r->doc_off % r->doc_size, 0, "%s.%s misaligned", r->type,
				     r->field);
		next = r->doc_off + r->doc_size;
	}
	cr_expect_eq(structs, 38, "the document has 38 structs, the table %u", structs);
}

Test(tvq_proto, header_sizes)
{
	cr_expect_eq(sizeof(struct tvq_req_hdr), 16);
	cr_expect_eq(sizeof(struct tvq_reply_hdr), 4);
	cr_expect_eq(sizeof(struct tvq_admin_req_hdr), 24);
	cr_expect_eq(sizeof(struct tvq_admin_reply_hdr), 8);
	cr_expect_eq(sizeof(struct tvq_mgmt_config), 24);
	cr_expect_eq(TVQ_CFG_SIZE, 24);
}

Test(tvq_proto, device_config_offsets)
{
	cr_expect_eq(TVQ_CFG_MAX_MANAGED, offsetof(struct tvq_mgmt_config, max_managed));
	cr_expect_eq(TVQ_CFG_MANAGED_GENERATION,
		     offsetof(struct tvq_mgmt_config, managed_generation));
	cr_expect_eq(TVQ_CFG_MSIX_POOL_FIRST, offsetof(struct tvq_mgmt_config, msix_pool_first));
	cr_expect_eq(TVQ_CFG_MSIX_POOL_SIZE, offsetof(struct tvq_mgmt_config, msix_pool_size));
	cr_expect_eq(TVQ_CFG_DOORBELL_BAR, offsetof(struct tvq_mgmt_config, doorbell_bar));
	cr_expect_eq(TVQ_CFG_DOORBELL_STRIDE, offsetof(struct tvq_mgmt_config, doorbell_stride));
	cr_expect_eq(TVQ_CFG_REMOVAL_TIMEOUT_MS,
		     offsetof(struct tvq_mgmt_config, removal_timeout_ms));
	/* Doc 3: the literal offsets. */
	cr_expect_eq(TVQ_CFG_MAX_MANAGED, 0);
	cr_expect_eq(TVQ_CFG_MANAGED_GENERATION, 4);
	cr_expect_eq(TVQ_CFG_MSIX_POOL_FIRST, 8);
	cr_expect_eq(TVQ_CFG_MSIX_POOL_SIZE, 10);
	cr_expect_eq(TVQ_CFG_DOORBELL_BAR, 12);
	cr_expect_eq(TVQ_CFG_DOORBELL_STRIDE, 16);
	cr_expect_eq(TVQ_CFG_REMOVAL_TIMEOUT_MS, 20);
}

/* ---- Command tables (doc 6.5 and 8.3) ---- */

struct cmd_row {
	const char *name;
	unsigned int class_doc, cmd_doc; /* numbers in the document */
	unsigned int class_hdr, cmd_hdr; /* the header's macros */
	bool mgmt_id;                    /* takes device_id 0 */
	size_t out_doc, in_doc;          /* doc 6.5: out size (fixed part), in size */
	size_t out_hdr, in_hdr;          /* sizeof of the header's structs, 0 if none */
};

#define CMD(n, c, k, cm, km, id0, o, i, os, is) { n, c, k, cm, km, id0, o, i, os, is }

static const struct cmd_row cmds[] = {
	CMD("VDEV CREATE", 1, 0, TVQ_CLASS_VDEV, TVQ_CMD_VDEV_CREATE, true, 16, 8,
	    sizeof(struct tvq_vdev_create_out), sizeof(struct tvq_vdev_create_in)),
	CMD("VDEV DESTROY", 1, 1, TVQ_CLASS_VDEV, TVQ_CMD_VDEV_DESTROY, false, 0, 0, 0, 0),
	CMD("AVAIL_RES GET", 2, 0, TVQ_CLASS_AVAIL_RES, TVQ_CMD_AVAIL_RES_GET, true, 8, 8,
	    sizeof(struct tvq_avail_res_get_out), sizeof(struct tvq_avail_res)),
	CMD("FEAT DEVICE_GET", 3, 0, TVQ_CLASS_FEAT, TVQ_CMD_FEAT_DEVICE_GET, false, 0, 8, 0,
	    sizeof(struct tvq_features)),
	CMD("FEAT DRIVER_SET", 3, 1, TVQ_CLASS_FEAT, TVQ_CMD_FEAT_DRIVER_SET, false, 8, 0,
	    sizeof(struct tvq_features), 0),
	CMD("FEAT DRIVER_GET", 3, 2, TVQ_CLASS_FEAT, TVQ_CMD_FEAT_DRIVER_GET, false, 0, 8, 0,
	    sizeof(struct tvq_features)),
	CMD("STATUS SET", 4, 0, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_SET, false, 1, 0,
	    sizeof(struct tvq_status), 0),
	CMD("STATUS GET", 4, 1, TVQ_CLASS_STATUS, TVQ_CMD_STATUS_GET, false, 0, 1, 0,
	    sizeof(struct tvq_status)),
	CMD("GENERATION GET", 5, 0, TVQ_CLASS_GENERATION, TVQ_CMD_GENERATION_GET, false, 0, 4, 0,
	    sizeof(struct tvq_generation)),
	CMD("CONFIG GET", 6, 0, TVQ_CLASS_CONFIG, TVQ_CMD_CONFIG_GET, false, 8, 0,
	    sizeof(struct tvq_config_get_out), 0), /* in: `size` bytes */
	CMD("CONFIG SET", 6, 1, TVQ_CLASS_CONFIG, TVQ_CMD_CONFIG_SET, false, 8, 0,
	    sizeof(struct tvq_config_set_out), 0), /* out: 8 + `size` */
	CMD("MSI VQ_SET", 7, 0, TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_SET, false, 24, 0,
	    sizeof(struct tvq_msi_vq_set_out), 0),
	CMD("MSI VQ_ENABLE", 7, 1, TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_ENABLE, false, 4, 0,
	    sizeof(struct tvq_msi_vq_enable_out), 0),
	CMD("MSI VQ_MASK", 7, 2, TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_MASK, false, 4, 0,
	    sizeof(struct tvq_msi_vq_mask_out), 0),
	CMD("MSI CONFIG_SET", 7, 3, TVQ_CLASS_MSI, TVQ_CMD_MSI_CONFIG_SET, false, 16, 0,
	    sizeof(struct tvq_msi_config_set_out), 0),
	CMD("MSI CONFIG_ENABLE", 7, 4, TVQ_CLASS_MSI, TVQ_CMD_MSI_CONFIG_ENABLE, false, 1, 0,
	    sizeof(struct tvq_msi_config_enable_out), 0),
	CMD("MSI CONFIG_MASK", 7, 5, TVQ_CLASS_MSI, TVQ_CMD_MSI_CONFIG_MASK, false, 1, 0,
	    sizeof(struct tvq_msi_config_mask_out), 0),
	CMD("VQ_ADDR SET", 8, 0, TVQ_CLASS_VQ_ADDR, TVQ_CMD_VQ_ADDR_SET, false, 32, 0,
	    sizeof(struct tvq_vq_addr_set_out), 0),
	CMD("VQ_ENABLE SET", 9, 0, TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_SET, false, 4, 0,
	    sizeof(struct tvq_vq_enable_set_out), 0),
	CMD("VQ_ENABLE GET", 9, 1, TVQ_CLASS_VQ_ENABLE, TVQ_CMD_VQ_ENABLE_GET, false, 2, 1,
	    sizeof(struct tvq_vq_index), sizeof(struct tvq_vq_enable_get_in)),
	CMD("VQ_SIZE SET", 10, 0, TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_SET, false, 4, 0,
	    sizeof(struct tvq_vq_size_set_out), 0),
	CMD("VQ_SIZE GET", 10, 1, TVQ_CLASS_VQ_SIZE, TVQ_CMD_VQ_SIZE_GET, false, 2, 2,
	    sizeof(struct tvq_vq_index), sizeof(struct tvq_vq_size_get_in)),
	CMD("VQ_NOTIFY GET", 11, 1, TVQ_CLASS_VQ_NOTIFY, TVQ_CMD_VQ_NOTIFY_GET, false, 2, 16,
	    sizeof(struct tvq_vq_index), sizeof(struct tvq_vq_notify_get_in)),
	CMD("VQ_AVAIL_INDEX SET", 12, 0, TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_SET,
	    false, 4, 0, sizeof(struct tvq_vq_avail_index_set_out), 0),
	CMD("VQ_AVAIL_INDEX GET", 12, 1, TVQ_CLASS_VQ_AVAIL_INDEX, TVQ_CMD_VQ_AVAIL_INDEX_GET,
	    false, 2, 2, sizeof(struct tvq_vq_index), sizeof(struct tvq_vq_avail_index_get_in)),
	CMD("VQ_RESET RESET", 13, 0, TVQ_CLASS_VQ_RESET, TVQ_CMD_VQ_RESET_RESET, false, 2, 0,
	    sizeof(struct tvq_vq_index), 0),
	CMD("ASID SET", 14, 0, TVQ_CLASS_ASID, TVQ_CMD_ASID_SET, false, 8, 0,
	    sizeof(struct tvq_asid_set_out), 0),
};

Test(tvq_proto, transportq_command_table)
{
	bool class_seen[TVQ_CLASS_MAX + 1] = { false };

	/* design.md lists 27 commands in 14 classes (with VQ_RESET and ASID). */
	cr_assert_eq(ARRAY_SIZE(cmds), 27);
	cr_expect_eq(TVQ_CLASS_MAX, 14);
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		const struct cmd_row *c = &cmds[i];

		cr_expect_eq(c->class_hdr, c->class_doc, "%s: class %u, doc %u", c->name,
			     c->class_hdr, c->class_doc);
		cr_expect_eq(c->cmd_hdr, c->cmd_doc, "%s: command %u, doc %u", c->name, c->cmd_hdr,
			     c->cmd_doc);
		cr_expect_eq(c->out_hdr, c->out_doc, "%s: out struct %zu bytes, doc %zu", c->name,
			     c->out_hdr, c->out_doc);
		cr_expect_eq(c->in_hdr, c->in_doc, "%s: in struct %zu bytes, doc %zu", c->name,
			     c->in_hdr, c->in_doc);
		cr_expect_eq(c->mgmt_id,
			     (c->class_doc == 1 && c->cmd_doc == 0) || c->class_doc == 2,
			     "%s: device_id 0 only for VDEV CREATE and AVAIL_RES GET", c->name);
		class_seen[c->class_doc] = true;
		for (size_t j = 0; j < i; j++)
			cr_expect(cmds[j].class_doc != c->class_doc || cmds[j].cmd_doc != c->cmd_doc,
				  "%s and %s share a number", cmds[j].name, c->name);
	}
	for (unsigned int k = 1; k <= TVQ_CLASS_MAX; k++)
		cr_expect(class_seen[k], "class %u has no command", k);
	cr_expect(!class_seen[0]);
}

/* The minimum lengths the table implies: request = 16 + out, reply buffer = 4 + in. */
Test(tvq_proto, transportq_minimum_lengths)
{
	static const struct {
		const char *name;
		size_t request, reply;
	} doc[] = {
		{ "VDEV CREATE", 32, 12 },   { "VDEV DESTROY", 16, 4 },
		{ "AVAIL_RES GET", 24, 12 }, { "FEAT DEVICE_GET", 16, 12 },
		{ "FEAT DRIVER_SET", 24, 4 }, { "STATUS SET", 17, 4 },
		{ "STATUS GET", 16, 5 },     { "GENERATION GET", 16, 8 },
		{ "CONFIG GET", 24, 4 },     { "CONFIG SET", 24, 4 },
		{ "MSI VQ_SET", 40, 4 },     { "MSI CONFIG_SET", 32, 4 },
		{ "MSI CONFIG_MASK", 17, 4 }, { "VQ_ADDR SET", 48, 4 },
		{ "VQ_ENABLE GET", 18, 5 },  { "VQ_SIZE GET", 18, 6 },
		{ "VQ_NOTIFY GET", 18, 20 }, { "VQ_AVAIL_INDEX SET", 20, 4 },
		{ "VQ_RESET RESET", 18, 4 }, { "ASID SET", 24, 4 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(doc); i++) {
		const struct cmd_row *c = NULL;

		for (size_t j = 0; j < ARRAY_SIZE(cmds); j++)
			if (!strcmp(cmds[j].name, doc[i].name))
				c = &cmds[j];
		cr_assert_not_null(c, "%s", doc[i].name);
		cr_expect_eq(sizeof(struct tvq_req_hdr) + c->out_hdr, doc[i].request, "%s",
			     c->name);
		cr_expect_eq(sizeof(struct tvq_reply_hdr) + c->in_hdr, doc[i].reply, "%s",
			     c->name);
	}
}

struct admin_row {
	const char *name;
	unsigned int cmd_doc, cmd_hdr;
	size_t data_doc, result_doc; /* doc 8.3: data size, full result size */
	size_t data_hdr, result_hdr;
};

static const struct admin_row admin_cmds[] = {
	{ "DEVICE_IDENTIFY", 0, TVQ_ADMIN_CMD_DEVICE_IDENTIFY, 0, 4096, 0,
	  sizeof(struct tvq_admin_device_identify_result) },
	{ "DEVICE_INFO", 2, TVQ_ADMIN_CMD_DEVICE_INFO, 0, 128, 0,
	  sizeof(struct tvq_admin_device_info_result) },
	{ "DEVICE_MGMT", 3, TVQ_ADMIN_CMD_DEVICE_MGMT, 16, 16,
	  sizeof(struct tvq_admin_device_mgmt_data),
	  sizeof(struct tvq_admin_device_mgmt_result) },
	{ "DEVICE_MGMT_CAPS", 4, TVQ_ADMIN_CMD_DEVICE_MGMT_CAPS, 0, 8192, 0,
	  sizeof(struct tvq_admin_device_mgmt_caps_result) },
	{ "DEVICE_MGMT_ATTRS", 5, TVQ_ADMIN_CMD_DEVICE_MGMT_ATTRS, 0, 64, 0,
	  sizeof(struct tvq_admin_device_mgmt_attrs_result) },
	/* Full result: 16 + 8 * 510. */
	{ "MANAGED_DEVICE_LIST", 6, TVQ_ADMIN_CMD_MANAGED_DEVICE_LIST, 8, 4096,
	  sizeof(struct tvq_admin_managed_device_list_data),
	  sizeof(struct tvq_admin_managed_device_list_result) },
};

Test(tvq_proto, adminq_command_table)
{
	cr_expect_eq(TVQ_ADMIN_CMD_SUBSYSTEM_IDENTIFY, 1);
	for (size_t i = 0; i < ARRAY_SIZE(admin_cmds); i++) {
		const struct admin_row *a = &admin_cmds[i];

		cr_expect_eq(a->cmd_hdr, a->cmd_doc, "%s", a->name);
		cr_expect_eq(a->data_hdr, a->data_doc, "%s: data %zu, doc %zu", a->name,
			     a->data_hdr, a->data_doc);
		cr_expect_eq(a->result_hdr, a->result_doc, "%s: result %zu, doc %zu", a->name,
			     a->result_hdr, a->result_doc);
	}
	cr_expect_eq(TVQ_ADMIN_LIST_MAX, 510);
	cr_expect_eq(ARRAY_SIZE(((struct tvq_admin_managed_device_list_result *)0)->vdev_ids),
		     510);
	cr_expect_eq(ARRAY_SIZE(((struct tvq_admin_device_mgmt_caps_result *)0)->caps), 8192);
	cr_expect_eq(ARRAY_SIZE(((struct tvq_admin_device_info_result *)0)->backend_name), 32);
}

/* ---- Codes and identity (doc 2, 4, 6.3, 8.2, 8.7) ---- */

Test(tvq_proto, ack_codes)
{
	cr_expect_eq(TVQ_ACK_OK, 0);
	cr_expect_eq(TVQ_ACK_EIO, 1);
	cr_expect_eq(TVQ_ACK_EAGAIN, 11);
	cr_expect_eq(TVQ_ACK_EBUSY, 16);
	cr_expect_eq(TVQ_ACK_ENODEV, 19);
	cr_expect_eq(TVQ_ACK_EINVAL, 22);
	cr_expect_eq(TVQ_ACK_ENOSPC, 28);
	cr_expect_eq(TVQ_ACK_EOPNOTSUPP, 95);
	cr_expect_eq(TVQ_ACK_ERR, 255);
	cr_expect_eq(TVQ_DEVICE_ID_MGMT, 0);
}

Test(tvq_proto, admin_codes)
{
	cr_expect_eq(TVQ_ADMIN_DST_SELF, 0);
	cr_expect_eq(TVQ_ADMIN_DST_MANAGED, 1);
	cr_expect_eq(TVQ_ADMIN_STATUS_OK, 0);
	cr_expect_eq(TVQ_ADMIN_STATUS_CS_ERR, 1);
	cr_expect_eq(TVQ_ADMIN_STATUS_INVALID_COMMAND, 2);
	cr_expect_eq(TVQ_ADMIN_STATUS_INVALID_FIELD, 3);
	cr_expect_eq(TVQ_ADMIN_STATUS_INVALID_VDEV_ID, 4);
	cr_expect_eq(TVQ_ADMIN_CS_ERR_VDEV_IN_USE, 0);
	cr_expect_eq(TVQ_ADMIN_CS_ERR_RSC_COUNT_EXCEED, 1);
	cr_expect_eq(TVQ_ADMIN_CS_ERR_NO_RSC, 2);
	cr_expect_eq(TVQ_ADMIN_CS_ERR_RSC_UNSUPPORTED, 3);
	cr_expect_eq(TVQ_ADMIN_CS_ERR_OP_UNSUPPORTED, 4);
	cr_expect_eq(TVQ_ADMIN_CS_ERR_RSC_VAL_INVALID, 5);
	cr_expect_eq(TVQ_ADMIN_MGMT_OP_ASSIGN, 1);
	cr_expect_eq(TVQ_ADMIN_MGMT_OP_QUERY, 2);
	cr_expect_eq(TVQ_ADMIN_MGMT_RSC_MSIX, 0);
	cr_expect_eq(TVQ_ADMIN_MGMT_RSC_FEATURES_63_0, 1);
	cr_expect_eq(TVQ_STATE_CREATED, 0);
	cr_expect_eq(TVQ_STATE_INITIALIZING, 1);
	cr_expect_eq(TVQ_STATE_LIVE, 2);
	cr_expect_eq(TVQ_STATE_NEEDS_RESET, 3);
	cr_expect_eq(TVQ_ORIGIN_HOST, 0);
	cr_expect_eq(TVQ_ORIGIN_CREATE, 1);
}

Test(tvq_proto, feature_bits_and_identity)
{
	cr_expect_eq(TVQ_F_INDIRECT_DESC, 28);
	cr_expect_eq(TVQ_F_RING_EVENT_IDX, 29);
	cr_expect_eq(TVQ_F_VERSION_1, 32);
	cr_expect_eq(TVQ_F_RING_RESET, 40);
	cr_expect_eq(TVQ_F_ADMIN_VQ, 41);
	cr_expect_eq(TVQ_F_FEATURE_63_0_MGMT, 43);
	cr_expect_eq(TVQ_F_TRNSPT_VQ, 44);
	cr_expect_eq(TVQ_F_TRNSPT_VQ_VDEV, 45);
	/* Doc 4.1: exactly seven bits, 42 and 40 not among them. */
	cr_expect_eq(TVQ_MGMT_FEATURES, (1ULL << 28) | (1ULL << 29) | (1ULL << 32) |
						(1ULL << 41) | (1ULL << 43) | (1ULL << 44) |
						(1ULL << 45));
	cr_expect_eq(TVQ_MGMT_FEATURES & (1ULL << 42), 0);
	cr_expect_eq(TVQ_MANAGED_NEVER_FEATURES & (1ULL << TVQ_F_VERSION_1), 0);
	cr_expect_eq(TVQ_MANAGED_NEVER_FEATURES & (1ULL << TVQ_F_RING_RESET), 0);
	cr_expect_neq(TVQ_MANAGED_NEVER_FEATURES & (1ULL << TVQ_F_TRNSPT_VQ), 0);
	cr_expect_neq(TVQ_MANAGED_NEVER_FEATURES & (1ULL << 34), 0);

	cr_expect_eq(TVQ_PCI_VENDOR_ID, 0x1af4);
	cr_expect_eq(TVQ_PCI_DEVICE_ID, 0x10f0);
	cr_expect(TVQ_PCI_DEVICE_ID > 0x107f, "virtio_pci must leave it alone");
	cr_expect_eq(TVQ_PCI_REVISION, 1);
	cr_expect_eq(TVQ_PCI_CLASS, 0x088000);
	cr_expect_eq(TVQ_BAR_VIRTIO, 0);
	cr_expect_eq(TVQ_BAR_DOORBELL, 2);
	cr_expect_eq(TVQ_BAR_MSIX, 4);
	cr_expect_eq(TVQ_BAR0_DEVICE, 0x2000);
	cr_expect_eq(TVQ_BAR0_NOTIFY, 0x3000);
	cr_expect_eq(TVQ_DOORBELL_STRIDE, 4096);
	cr_expect_eq(TVQ_MSIX_POOL_FIRST, 2);
	cr_expect_eq(TVQ_QUEUE_TRANSPORTQ, 0);
	cr_expect_eq(TVQ_QUEUE_ADMINQ, 1);
	cr_expect_eq(TVQ_VIRTIO_ID_NET, 1);
	cr_expect_eq(TVQ_VIRTIO_ID_BLOCK, 2);
}

/* ---- Worked examples (doc appendix A) ---- */

static void put_le(uint8_t *buf, size_t off, unsigned int len, uint64_t v)
{
	for (unsigned int i = 0; i < len; i++)
		buf[off + i] = (uint8_t)(v >> (8 * i));
}

/* A copy in suitably aligned memory without a declared type, to read through a struct. */
static void *view(const uint8_t *buf, size_t len)
{
	void *p = aligned_alloc(8, (len + 7) & ~(size_t)7);

	cr_assert_not_null(p);
	memcpy(p, buf, len);
	return p;
}

static void expect_bytes(const uint8_t *got, const uint8_t *want, size_t len, const char *what)
{
	for (size_t i = 0; i < len; i++)
		cr_expect_eq(got[i], want[i], "%s: byte %zu is %02x, want %02x", what, i, got[i],
			     want[i]);
}

static void check_req_hdr(const uint8_t *req, uint64_t id, uint16_t k, uint16_t cmd)
{
	struct tvq_req_hdr *h = view(req, sizeof(*h));

	cr_expect_eq(le64toh(h->device_id), id);
	cr_expect_eq(le16toh(h->class), k);
	cr_expect_eq(le16toh(h->command), cmd);
	for (unsigned int i = 0; i < sizeof(h->reserved); i++)
		cr_expect_eq(h->reserved[i], 0);
	free(h);
}

/* A.1: CREATE a virtio-blk device; the device answers with id 7. */
Test(tvq_proto, example_create_blk)
{
	static const uint8_t doc_req[32] = {
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	static const uint8_t doc_reply[12] = {
		0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	uint8_t req[32] = { 0 }, reply[12] = { 0xff };

	/* Built at the documented offsets. */
	put_le(req, 0, 8, 0);  /* device_id */
	put_le(req, 8, 2, 1);  /* class VDEV */
	put_le(req, 10, 2, 0); /* command CREATE */
	put_le(req, 16 + 0, 4, 2); /* virtio_device_id: block */
	put_le(req, 16 + 8, 8, 0); /* features_allowed */
	expect_bytes(req, doc_req, sizeof(req), "A.1 request");
	cr_expect_eq(sizeof(req), sizeof(struct tvq_req_hdr) + sizeof(struct tvq_vdev_create_out));

	check_req_hdr(req, TVQ_DEVICE_ID_MGMT, TVQ_CLASS_VDEV, TVQ_CMD_VDEV_CREATE);
	struct tvq_vdev_create_out *c = view(req + 16, 16);
	cr_expect_eq(le32toh(c->virtio_device_id), TVQ_VIRTIO_ID_BLOCK);
	cr_expect_eq(le32toh(c->reserved), 0);
	cr_expect_eq(le64toh(c->features_allowed), 0);
	free(c);

	/* The reply, written through the structs, is the document's. */
	struct tvq_reply_hdr r = { .ack = htole32(TVQ_ACK_OK) };
	struct tvq_vdev_create_in in = { .device_id = htole64(7) };
	memcpy(reply, &r, sizeof(r));
	memcpy(reply + sizeof(r), &in, sizeof(in));
	expect_bytes(reply, doc_reply, sizeof(reply), "A.1 reply");
	cr_expect_eq(sizeof(r) + sizeof(in), 12, "used length");
}

/* A.2: CREATE a virtio-net device with a MAC and two features masked out. */
Test(tvq_proto, example_create_net_with_mac)
{
	static const uint8_t doc_req[38] = {
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0xff, 0xfe, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff,
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
	};
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	const uint64_t allowed = ~((1ULL << 17) | (1ULL << 8));
	uint8_t req[38] = { 0 };

	put_le(req, 8, 2, 1);
	put_le(req, 16, 4, 1);
	put_le(req, 24, 8, allowed);
	memcpy(req + 32, mac, 6);
	expect_bytes(req, doc_req, sizeof(req), "A.2 request");

	/* Out-data is 16 + L bytes: L = 6 here. */
	size_t out_len = sizeof(req) - sizeof(struct tvq_req_hdr);
	cr_expect_eq(out_len - sizeof(struct tvq_vdev_create_out), 6);
	struct tvq_vdev_create_out *c = view(req + 16, out_len);
	cr_expect_eq(le32toh(c->virtio_device_id), TVQ_VIRTIO_ID_NET);
	cr_expect_eq(le64toh(c->features_allowed), 0xfffffffffffdfeffULL);
	cr_expect_eq(memcmp(c->dev_config, mac, 6), 0);
	cr_expect_eq((uint8_t *)c->dev_config - (uint8_t *)c, 16);
	free(c);
}

/* A.3: VQ_ADDR SET, queue 1 of device 7. */
Test(tvq_proto, example_vq_addr_set)
{
	static const uint8_t doc_req[48] = {
		0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x20, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	uint8_t req[48] = { 0 };

	put_le(req, 0, 8, 7);
	put_le(req, 8, 2, 8);
	put_le(req, 10, 2, 0);
	put_le(req, 16 + 0, 2, 1);        /* queue_index */
	put_le(req, 16 + 8, 8, 0x12000);  /* device_area */
	put_le(req, 16 + 16, 8, 0x10000); /* descriptor_area */
	put_le(req, 16 + 24, 8, 0x11000); /* driver_area */
	expect_bytes(req, doc_req, sizeof(req), "A.3 request");

	check_req_hdr(req, 7, TVQ_CLASS_VQ_ADDR, TVQ_CMD_VQ_ADDR_SET);
	struct tvq_vq_addr_set_out *a = view(req + 16, 32);
	cr_expect_eq(le16toh(a->queue_index), 1);
	cr_expect_eq(le64toh(a->device_area), 0x12000);
	cr_expect_eq(le64toh(a->descriptor_area), 0x10000);
	cr_expect_eq(le64toh(a->driver_area), 0x11000);
	for (unsigned int i = 0; i < sizeof(a->reserved); i++)
		cr_expect_eq(a->reserved[i], 0);
	free(a);

	/* And built through the structs, the same bytes. */
	uint8_t enc[48];
	struct tvq_req_hdr h = { .device_id = htole64(7), .class = htole16(TVQ_CLASS_VQ_ADDR),
				 .command = htole16(TVQ_CMD_VQ_ADDR_SET) };
	struct tvq_vq_addr_set_out o = { .queue_index = htole16(1),
					 .device_area = htole64(0x12000),
					 .descriptor_area = htole64(0x10000),
					 .driver_area = htole64(0x11000) };
	memcpy(enc, &h, 16);
	memcpy(enc + 16, &o, 32);
	expect_bytes(enc, doc_req, sizeof(enc), "A.3 encoded");
}

/* A.4: MSI VQ_SET, queue 2 of device 7. */
Test(tvq_proto, example_msi_vq_set)
{
	static const uint8_t doc_req[40] = {
		0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00,
		0x41, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	uint8_t req[40] = { 0 };

	put_le(req, 0, 8, 7);
	put_le(req, 8, 2, 7);
	put_le(req, 16 + 0, 2, 2);
	put_le(req, 16 + 8, 8, 0xfee00000);
	put_le(req, 16 + 16, 4, 0x4041);
	expect_bytes(req, doc_req, sizeof(req), "A.4 request");

	check_req_hdr(req, 7, TVQ_CLASS_MSI, TVQ_CMD_MSI_VQ_SET);
	struct tvq_msi_vq_set_out *m = view(req + 16, 24);
	cr_expect_eq(le16toh(m->queue_index), 2);
	cr_expect_eq(le64toh(m->addr), 0xfee00000);
	cr_expect(le64toh(m->addr) >= TVQ_MSI_ADDR_FIRST && le64toh(m->addr) <= TVQ_MSI_ADDR_LAST);
	cr_expect_eq(le32toh(m->data), 0x4041);
	free(m);
}

/* A.5: MANAGED_DEVICE_LIST from id 1; a reply with 2 entries (ids 3 and 9). */
Test(tvq_proto, example_managed_device_list)
{
	static const uint8_t doc_req[32] = {
		0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	static const uint8_t doc_reply[40] = {
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	uint8_t req[32] = { 0 }, reply[40] = { 0 };

	put_le(req, 0, 2, 6);      /* command */
	put_le(req, 2, 2, 0);      /* dst_type: self */
	put_le(req, 8, 8, 0);      /* vdev_id */
	put_le(req, 24 + 0, 8, 1); /* first_vdev_id */
	expect_bytes(req, doc_req, sizeof(req), "A.5 request");

	struct tvq_admin_req_hdr *h = view(req, 24);
	cr_expect_eq(le16toh(h->command), TVQ_ADMIN_CMD_MANAGED_DEVICE_LIST);
	cr_expect_eq(le16toh(h->dst_type), TVQ_ADMIN_DST_SELF);
	cr_expect_eq(le64toh(h->vdev_id), 0);
	free(h);
	struct tvq_admin_managed_device_list_data *d = view(req + 24, 8);
	cr_expect_eq(le64toh(d->first_vdev_id), 1);
	free(d);

	/* The reply at the documented offsets: header 8, then num_identifiers at 0,
	 * num_managed_vdevs at 8, vdev_ids at 16 of the result. */
	put_le(reply, 0, 1, TVQ_ADMIN_STATUS_OK);
	put_le(reply, 8 + 0, 2, 2);
	put_le(reply, 8 + 8, 8, 2);
	put_le(reply, 8 + 16, 8, 3);
	put_le(reply, 8 + 24, 8, 9);
	expect_bytes(reply, doc_reply, sizeof(reply), "A.5 reply");

	/* Used length = 8 + 16 + 8 * num_identifiers. */
	cr_expect_eq(sizeof(struct tvq_admin_reply_hdr) +
			     offsetof(struct tvq_admin_managed_device_list_result, vdev_ids) +
			     2 * sizeof(uint64_t),
		     sizeof(doc_reply));

	struct tvq_admin_reply_hdr *rh = view(reply, 8);
	cr_expect_eq(rh->status, TVQ_ADMIN_STATUS_OK);
	cr_expect_eq(rh->command_specific_error, 0);
	free(rh);
	/* A short result buffer: decode the 32 result bytes through the full struct. */
	struct tvq_admin_managed_device_list_result *l = calloc(1, sizeof(*l));
	cr_assert_not_null(l);
	memcpy(l, reply + 8, sizeof(reply) - 8);
	cr_expect_eq(le16toh(l->num_identifiers), 2);
	cr_expect_eq(le64toh(l->num_managed_vdevs), 2);
	cr_expect_eq(le64toh(l->vdev_ids[0]), 3);
	cr_expect_eq(le64toh(l->vdev_ids[1]), 9);
	cr_expect(le64toh(l->vdev_ids[0]) < le64toh(l->vdev_ids[1]), "ascending");
	free(l);
}

/* A.6: DEVICE_MGMT assign 3 MSI-X vectors to device 9, refused with VDEV_IN_USE. */
Test(tvq_proto, example_device_mgmt)
{
	static const uint8_t doc_req[40] = {
		0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	static const uint8_t doc_reply[8] = { 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
	uint8_t req[40] = { 0 };

	put_le(req, 0, 2, 3);
	put_le(req, 2, 2, 1);
	put_le(req, 8, 8, 9);
	put_le(req, 24 + 0, 1, 1); /* operation: assign */
	put_le(req, 24 + 2, 2, 0); /* resource: MSI-X */
	put_le(req, 24 + 8, 8, 3); /* resource_val */
	expect_bytes(req, doc_req, sizeof(req), "A.6 request");

	struct tvq_admin_req_hdr h = { .command = htole16(TVQ_ADMIN_CMD_DEVICE_MGMT),
				       .dst_type = htole16(TVQ_ADMIN_DST_MANAGED),
				       .vdev_id = htole64(9) };
	struct tvq_admin_device_mgmt_data m = { .operation = TVQ_ADMIN_MGMT_OP_ASSIGN,
						.resource = htole16(TVQ_ADMIN_MGMT_RSC_MSIX),
						.resource_val = htole64(3) };
	uint8_t enc[40];
	memcpy(enc, &h, 24);
	memcpy(enc + 24, &m, 16);
	expect_bytes(enc, doc_req, sizeof(enc), "A.6 encoded");

	struct tvq_admin_reply_hdr r = { .status = TVQ_ADMIN_STATUS_CS_ERR,
					 .command_specific_error = TVQ_ADMIN_CS_ERR_VDEV_IN_USE };
	expect_bytes((const uint8_t *)&r, doc_reply, sizeof(doc_reply), "A.6 reply");
}

/* The adminq header keeps the seed's 24 bytes but aligns vdev_id (doc 8.1, 10 #18). */
Test(tvq_proto, admin_header_alignment)
{
	uint8_t buf[24] = { 0 };

	put_le(buf, 8, 8, 0x1122334455667788ULL);
	struct tvq_admin_req_hdr *h = view(buf, sizeof(buf));
	cr_expect_eq(le64toh(h->vdev_id), 0x1122334455667788ULL);
	for (unsigned int i = 0; i < sizeof(h->reserved0); i++)
		cr_expect_eq(h->reserved0[i], 0);
	free(h);
	cr_expect_eq(offsetof(struct tvq_admin_req_hdr, vdev_id), 8, "not the seed's packed 4");
}

/* The config struct decodes a device config image laid out as doc 3 says. */
Test(tvq_proto, example_device_config)
{
	uint8_t cfg[24] = { 0 };

	put_le(cfg, 0, 4, 64);     /* max_managed */
	put_le(cfg, 4, 4, 5);      /* managed_generation */
	put_le(cfg, 8, 2, 2);      /* msix_pool_first */
	put_le(cfg, 10, 2, 130);   /* msix_pool_size */
	put_le(cfg, 12, 1, 2);     /* doorbell_bar */
	put_le(cfg, 16, 4, 4096);  /* doorbell_stride */
	put_le(cfg, 20, 4, 10000); /* removal_timeout_ms */
	struct tvq_mgmt_config *c = view(cfg, sizeof(cfg));
	cr_expect_eq(le32toh(c->max_managed), 64);
	cr_expect_eq(le32toh(c->managed_generation), 5);
	cr_expect_eq(le16toh(c->msix_pool_first), 2);
	cr_expect_eq(le16toh(c->msix_pool_size), 130);
	cr_expect_eq(c->doorbell_bar, TVQ_BAR_DOORBELL);
	cr_expect_eq(le32toh(c->doorbell_stride), TVQ_DOORBELL_STRIDE);
	cr_expect_eq(le32toh(c->removal_timeout_ms), 10000);
	free(c);
}

/* DEVICE_INFO decoded from bytes at the documented offsets (doc 8.6). */
Test(tvq_proto, example_device_info)
{
	uint8_t res[128] = { 0 };

	put_le(res, 0, 8, 9);
	put_le(res, 8, 8, (1ULL << 32) | (1ULL << 28));
	put_le(res, 24, 4, TVQ_VIRTIO_ID_BLOCK);
	put_le(res, 28, 2, 4);
	put_le(res, 30, 1, TVQ_STATE_LIVE);
	put_le(res, 31, 1, 0x0f);
	put_le(res, 32, 1, 1);
	put_le(res, 33, 1, TVQ_ORIGIN_CREATE);
	put_le(res, 34, 2, 5);
	put_le(res, 36, 2, 5);
	put_le(res, 38, 2, 3);
	memcpy(res + 40, "disk0", 6);
	put_le(res, 72, 2, 72);
	struct tvq_admin_device_info_result *i = view(res, sizeof(res));
	cr_expect_eq(le64toh(i->vdev_id), 9);
	cr_expect_eq(le64toh(i->device_features), (1ULL << 32) | (1ULL << 28));
	cr_expect_eq(le64toh(i->driver_features), 0);
	cr_expect_eq(le32toh(i->virtio_device_id), TVQ_VIRTIO_ID_BLOCK);
	cr_expect_eq(le16toh(i->num_queues), 4);
	cr_expect_eq(i->state, TVQ_STATE_LIVE);
	cr_expect_eq(i->device_status, TVQ_STATUS_ACKNOWLEDGE | TVQ_STATUS_DRIVER |
					       TVQ_STATUS_DRIVER_OK | TVQ_STATUS_FEATURES_OK);
	cr_expect_eq(i->removal_requested, 1);
	cr_expect_eq(i->origin, TVQ_ORIGIN_CREATE);
	cr_expect_eq(le16toh(i->msix_budget), 5);
	cr_expect_eq(le16toh(i->msix_in_use), 5);
	cr_expect_eq(le16toh(i->slot), 3);
	cr_expect_str_eq((const char *)i->backend_name, "disk0");
	cr_expect_eq(le16toh(i->config_size), 72);
	free(i);
}
