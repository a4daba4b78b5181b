// SPDX-License-Identifier: GPL-2.0
/*
 * vqvm_mgmt: driver of vqvm's management device (PCI 1AF4:10F0).
 *
 * The function is a virtio 1.x device with two queues of its own: the transport
 * virtqueue (0), whose commands create, configure and destroy managed virtio
 * devices, and the admin virtqueue (1), which lists and describes them. This file
 * brings the function up, runs commands on its queues (with timeouts), keeps the
 * list of managed devices in step with the device (MANAGED_DEVICE_LIST at probe
 * and after each config interrupt that moved managed_generation), and offers a
 * sysfs interface to create and destroy devices. vqvm_vdev.c turns each managed
 * device into a struct virtio_device.
 *
 * The protocol is docs/transport-vq.md in vqvm's tree; section numbers refer to it.
 *
 * sysfs, under the PCI device:
 *   create        write "blk", "net" or "net mac=52:54:00:12:34:56": creates a device
 *                 (VDEV CREATE) and registers it; the write fails with the ack's errno
 *   last_created  the id of the device the last successful create made
 *   destroy       write an id: unregisters the device and DESTROYs it
 *   devices       one line per managed device: "<id> <blk|net|typeN> <state> <virtioN>"
 *   avail         what CREATE could still make (AVAIL_RES GET)
 */

#include <linux/bitmap.h>
#include <linux/delay.h>
#include <linux/etherdevice.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "vqvm_mgmt.h"

#define DRV_NAME "vqvm_mgmt"
#define VQVM_MGMT_CONFIG_SIZE sizeof(struct vqvm_mgmt_config)

static unsigned int cmd_timeout_ms = 15000;
module_param(cmd_timeout_ms, uint, 0644);
MODULE_PARM_DESC(cmd_timeout_ms, "Time a management command may take before it is an error (ms)");

static unsigned int max_pool_vectors = 64;
module_param(max_pool_vectors, uint, 0444);
MODULE_PARM_DESC(max_pool_vectors, "Most MSI-X pool vectors to allocate for managed devices");

static bool event_idx = true;
module_param(event_idx, bool, 0444);
MODULE_PARM_DESC(event_idx, "Negotiate RING_EVENT_IDX for the management queues");

static bool verbose;
module_param(verbose, bool, 0644);
MODULE_PARM_DESC(verbose, "Log every management command");

/* ---- commands on the management queues --------------------------------- */

/*
 * One command in flight: request and reply buffer live here, so a command that
 * timed out keeps its buffers until the device returns the chain (5.3): its
 * waiter marks it abandoned and the completion path frees it.
 */
struct vqvm_cmd {
	struct completion done;
	unsigned int used;
	bool abandoned;
	size_t req_len;
	size_t reply_len;
	u8 *req;
	u8 *reply;
	u8 buf[];
};

static struct vqvm_cmd *vqvm_cmd_alloc(size_t req_len, size_t reply_len)
{
	struct vqvm_cmd *cmd;

	cmd = kzalloc(sizeof(*cmd) + req_len + reply_len, GFP_KERNEL);
	if (!cmd)
		return NULL;
	init_completion(&cmd->done);
	cmd->req_len = req_len;
	cmd->reply_len = reply_len;
	cmd->req = cmd->buf;
	cmd->reply = cmd->buf + req_len;
	return cmd;
}

static struct vqvm_mgmt *vq_to_mgmt(struct virtqueue *vq)
{
	return container_of(vq->vdev, struct vqvm_mgmt, vdev);
}

/* Completion callback of both management queues (hard IRQ). */
static void vqvm_cq_done(struct virtqueue *vq)
{
	struct vqvm_mgmt *m = vq_to_mgmt(vq);
	struct vqvm_cq *q = vq->index == VQVM_TRANSPORTQ ? &m->tq : &m->aq;
	struct vqvm_cmd *cmd;
	unsigned long flags;
	unsigned int len;

	spin_lock_irqsave(&q->lock, flags);
	do {
		virtqueue_disable_cb(vq);
		while ((cmd = virtqueue_get_buf(vq, &len))) {
			cmd->used = len;
			if (cmd->abandoned) {
				dev_warn(&m->pdev->dev,
					 "%s: a command that had timed out completed (used length %u)\n",
					 q->name, len);
				kfree(cmd);
			} else {
				complete(&cmd->done);
			}
		}
	} while (!virtqueue_enable_cb(vq));
	spin_unlock_irqrestore(&q->lock, flags);
	wake_up(&q->space);
}

static bool vqvm_cq_notify(struct virtqueue *vq)
{
	iowrite16(vq->index, vq->priv);
	return true;
}

/*
 * Run one command: put it on q, wait for the reply. 0: the device returned it and
 * cmd->used says how much it wrote. -ETIMEDOUT: it did not; cmd now belongs to the
 * completion path, the caller must not touch it. Other errors: not submitted.
 */
static int vqvm_cmd_exec(struct vqvm_mgmt *m, struct vqvm_cq *q, struct vqvm_cmd *cmd)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(cmd_timeout_ms);
	struct scatterlist sg_out, sg_in, *sgs[2] = { &sg_out, &sg_in };
	unsigned long flags;
	long left;
	int err;

	sg_init_one(&sg_out, cmd->req, cmd->req_len);
	sg_init_one(&sg_in, cmd->reply, cmd->reply_len);
	for (;;) {
		if (READ_ONCE(m->dead))
			return -ENODEV;
		spin_lock_irqsave(&q->lock, flags);
		err = virtqueue_add_sgs(q->vq, sgs, 1, 1, cmd, GFP_ATOMIC);
		if (!err)
			virtqueue_kick(q->vq);
		spin_unlock_irqrestore(&q->lock, flags);
		if (err != -ENOSPC)
			break;
		if (time_after(jiffies, deadline)) {
			dev_err(&m->pdev->dev, "%s: no room for a command for %u ms\n",
				q->name, cmd_timeout_ms);
			return -ETIMEDOUT;
		}
		wait_event_timeout(q->space, READ_ONCE(q->vq->num_free) >= 2, HZ / 10);
	}
	if (err) {
		dev_err(&m->pdev->dev, "%s: cannot queue a command: %d\n", q->name, err);
		return err;
	}

	left = (long)(deadline - jiffies);
	if (left < 1)
		left = 1;
	if (wait_for_completion_timeout(&cmd->done, left))
		return 0;
	spin_lock_irqsave(&q->lock, flags);
	if (completion_done(&cmd->done)) {
		spin_unlock_irqrestore(&q->lock, flags);
		return 0;
	}
	cmd->abandoned = true;
	spin_unlock_irqrestore(&q->lock, flags);
	return -ETIMEDOUT;
}

static int vqvm_ack_errno(u32 ack)
{
	switch (ack) {
	case VQVM_ACK_OK:
		return 0;
	case VQVM_ACK_EIO:
		return -EIO;
	case VQVM_ACK_EAGAIN:
		return -EAGAIN;
	case VQVM_ACK_EBUSY:
		return -EBUSY;
	case VQVM_ACK_ENODEV:
		return -ENODEV;
	case VQVM_ACK_EINVAL:
		return -EINVAL;
	case VQVM_ACK_ENOSPC:
		return -ENOSPC;
	case VQVM_ACK_EOPNOTSUPP:
		return -EOPNOTSUPP;
	default:
		return -EPROTO;
	}
}

/*
 * A transportq command (6.1): out is the command-out-data, in receives exactly
 * in_len bytes of command-in-data. Returns 0 on ack OK, the ack as a negative
 * errno (6.3), -ETIMEDOUT, or -EPROTO when the reply breaks the framing (5.2).
 */
int vqvm_tvq_cmd(struct vqvm_mgmt *m, u64 device_id, u16 class, u16 command,
		 const void *out, size_t out_len, void *in, size_t in_len)
{
	struct vqvm_tvq_req_hdr *hdr;
	struct vqvm_tvq_reply_hdr *rhdr;
	struct vqvm_cmd *cmd;
	u32 ack;
	int err;

	cmd = vqvm_cmd_alloc(sizeof(*hdr) + out_len, sizeof(*rhdr) + in_len);
	if (!cmd)
		return -ENOMEM;
	hdr = (struct vqvm_tvq_req_hdr *)cmd->req;
	hdr->device_id = cpu_to_le64(device_id);
	hdr->class = cpu_to_le16(class);
	hdr->command = cpu_to_le16(command);
	if (out_len)
		memcpy(cmd->req + sizeof(*hdr), out, out_len);

	err = vqvm_cmd_exec(m, &m->tq, cmd);
	if (err == -ETIMEDOUT) {
		dev_err(&m->pdev->dev,
			"transportq: device %llu class %u command %u: no reply within %u ms\n",
			device_id, class, command, cmd_timeout_ms);
		return err;
	}
	if (err)
		goto out;

	rhdr = (struct vqvm_tvq_reply_hdr *)cmd->reply;
	if (cmd->used < sizeof(*rhdr)) {
		dev_err(&m->pdev->dev,
			"transportq: device %llu class %u command %u: used length %u, not executed\n",
			device_id, class, command, cmd->used);
		err = -EPROTO;
		goto out;
	}
	ack = le32_to_cpu(rhdr->ack);
	err = vqvm_ack_errno(ack);
	if (verbose)
		dev_info(&m->pdev->dev,
			 "transportq: device %llu class %u command %u: ack %u, used %u\n",
			 device_id, class, command, ack, cmd->used);
	if (err) {
		if (err != -ENODEV)
			dev_warn(&m->pdev->dev,
				 "transportq: device %llu class %u command %u: ack %u\n",
				 device_id, class, command, ack);
		if (cmd->used != sizeof(*rhdr))
			dev_err(&m->pdev->dev,
				"transportq: failed command with used length %u (expected %zu)\n",
				cmd->used, sizeof(*rhdr));
		goto out;
	}
	if (cmd->used != sizeof(*rhdr) + in_len) {
		dev_err(&m->pdev->dev,
			"transportq: device %llu class %u command %u: used length %u, expected %zu\n",
			device_id, class, command, cmd->used, sizeof(*rhdr) + in_len);
		err = -EPROTO;
		goto out;
	}
	if (in_len)
		memcpy(in, cmd->reply + sizeof(*rhdr), in_len);
out:
	kfree(cmd);
	return err;
}

static int vqvm_adm_errno(u8 status)
{
	switch (status) {
	case VQVM_ADM_OK:
		return 0;
	case VQVM_ADM_CS_ERR:
		return -EREMOTEIO;
	case VQVM_ADM_INVALID_COMMAND:
		return -EOPNOTSUPP;
	case VQVM_ADM_INVALID_FIELD:
		return -EINVAL;
	case VQVM_ADM_INVALID_VDEV_ID:
		return -ENODEV;
	default:
		return -EPROTO;
	}
}

/*
 * An adminq command (8.1). *written gets the number of result bytes the device
 * wrote (it may write less than result_len: 8.1, 8.10).
 */
int vqvm_adm_cmd(struct vqvm_mgmt *m, u16 command, u16 dst_type, u64 vdev_id,
		 const void *data, size_t data_len, void *result, size_t result_len,
		 size_t *written)
{
	struct vqvm_adm_req_hdr *hdr;
	struct vqvm_adm_reply_hdr *rhdr;
	struct vqvm_cmd *cmd;
	size_t n;
	int err;

	*written = 0;
	cmd = vqvm_cmd_alloc(sizeof(*hdr) + data_len, sizeof(*rhdr) + result_len);
	if (!cmd)
		return -ENOMEM;
	hdr = (struct vqvm_adm_req_hdr *)cmd->req;
	hdr->command = cpu_to_le16(command);
	hdr->dst_type = cpu_to_le16(dst_type);
	hdr->vdev_id = cpu_to_le64(vdev_id);
	if (data_len)
		memcpy(cmd->req + sizeof(*hdr), data, data_len);

	err = vqvm_cmd_exec(m, &m->aq, cmd);
	if (err == -ETIMEDOUT) {
		dev_err(&m->pdev->dev, "adminq: command %u (vdev %llu): no reply within %u ms\n",
			command, vdev_id, cmd_timeout_ms);
		return err;
	}
	if (err)
		goto out;

	rhdr = (struct vqvm_adm_reply_hdr *)cmd->reply;
	if (cmd->used < sizeof(*rhdr) || cmd->used > cmd->reply_len) {
		dev_err(&m->pdev->dev, "adminq: command %u (vdev %llu): used length %u\n",
			command, vdev_id, cmd->used);
		err = -EPROTO;
		goto out;
	}
	err = vqvm_adm_errno(rhdr->status);
	if (verbose)
		dev_info(&m->pdev->dev, "adminq: command %u (vdev %llu): status %u/%u, used %u\n",
			 command, vdev_id, rhdr->status, rhdr->command_specific_error, cmd->used);
	if (err) {
		if (err != -ENODEV)
			dev_warn(&m->pdev->dev,
				 "adminq: command %u (vdev %llu): status %u, error %u\n",
				 command, vdev_id, rhdr->status, rhdr->command_specific_error);
		goto out;
	}
	n = cmd->used - sizeof(*rhdr);
	memcpy(result, cmd->reply + sizeof(*rhdr), n);
	*written = n;
out:
	kfree(cmd);
	return err;
}

/* ---- the MSI-X pool ------------------------------------------------------ */

/* A free pool vector's index, or -ENOSPC when all m->pool_count are in use. */
int vqvm_pool_get(struct vqvm_mgmt *m)
{
	unsigned long idx;

	spin_lock(&m->pool_lock);
	idx = find_first_zero_bit(m->pool_map, m->pool_count);
	if (idx < m->pool_count)
		set_bit(idx, m->pool_map);
	spin_unlock(&m->pool_lock);
	return idx < m->pool_count ? idx : -ENOSPC;	/* the caller says what went short */
}

void vqvm_pool_put(struct vqvm_mgmt *m, int idx)
{
	spin_lock(&m->pool_lock);
	clear_bit(idx, m->pool_map);
	spin_unlock(&m->pool_lock);
}

unsigned int vqvm_pool_irq(struct vqvm_mgmt *m, int idx)
{
	return pci_irq_vector(m->pdev, m->pool_first + idx);
}

/* ---- managed devices ----------------------------------------------------- */

static const char *vqvm_type_name(u32 type)
{
	switch (type) {
	case VIRTIO_ID_NET:
		return "net";
	case VIRTIO_ID_BLOCK:
		return "blk";
	default:
		return NULL;
	}
}

static const char *vqvm_state_name(u8 state)
{
	static const char * const names[] = {
		[VQVM_STATE_CREATED] = "created",
		[VQVM_STATE_INITIALIZING] = "initializing",
		[VQVM_STATE_LIVE] = "live",
		[VQVM_STATE_NEEDS_RESET] = "needs_reset",
	};

	return state < ARRAY_SIZE(names) ? names[state] : "unknown";
}

static int vqvm_device_info(struct vqvm_mgmt *m, u64 id, struct vqvm_adm_device_info *info)
{
	size_t written;
	int err;

	err = vqvm_adm_cmd(m, VQVM_ADM_DEVICE_INFO, VQVM_ADM_DST_VDEV, id, NULL, 0,
			   info, sizeof(*info), &written);
	if (err)
		return err;
	if (written != sizeof(*info)) {
		dev_err(&m->pdev->dev, "DEVICE_INFO of %llu: %zu result bytes, expected %zu\n",
			id, written, sizeof(*info));
		return -EPROTO;
	}
	if (le64_to_cpu(info->vdev_id) != id) {
		dev_err(&m->pdev->dev, "DEVICE_INFO of %llu names device %llu\n",
			id, le64_to_cpu(info->vdev_id));
		return -EPROTO;
	}
	return 0;
}

/* All managed devices' ids, ascending (8.10), in a kmalloc'ed array. */
static int vqvm_list_ids(struct vqvm_mgmt *m, u64 **ids_out, unsigned int *n_out)
{
	struct vqvm_adm_list_result *res;
	struct vqvm_adm_list_data data;
	unsigned int n = 0, cap = 0, i, got;
	u64 first = 1, *ids = NULL, *tmp, id;
	size_t written;
	int err = 0;

	res = kmalloc(sizeof(*res), GFP_KERNEL);
	if (!res)
		return -ENOMEM;
	for (;;) {
		data.first_vdev_id = cpu_to_le64(first);
		err = vqvm_adm_cmd(m, VQVM_ADM_MANAGED_DEVICE_LIST, VQVM_ADM_DST_SELF, 0,
				   &data, sizeof(data), res, sizeof(*res), &written);
		if (err)
			break;
		got = written >= 16 ? le16_to_cpu(res->num_identifiers) : 0;
		if (written < 16 || got > VQVM_ADM_LIST_MAX_IDS || written != 16 + 8 * got) {
			dev_err(&m->pdev->dev,
				"MANAGED_DEVICE_LIST: %zu result bytes for %u ids\n", written, got);
			err = -EPROTO;
			break;
		}
		if (n + got > cap) {
			cap = n + got + 16;
			tmp = krealloc(ids, cap * sizeof(*ids), GFP_KERNEL);
			if (!tmp) {
				err = -ENOMEM;
				break;
			}
			ids = tmp;
		}
		for (i = 0; i < got; i++) {
			id = le64_to_cpu(res->vdev_ids[i]);
			if (id < first || (n && id <= ids[n - 1])) {
				dev_err(&m->pdev->dev,
					"MANAGED_DEVICE_LIST: id %llu out of order\n", id);
				err = -EPROTO;
				goto out;
			}
			ids[n++] = id;
		}
		if (got < VQVM_ADM_LIST_MAX_IDS)
			break;
		first = ids[n - 1] + 1;
	}
out:
	kfree(res);
	if (err) {
		kfree(ids);
		return err;
	}
	*ids_out = ids;
	*n_out = n;
	return 0;
}

static struct vqvm_mdev *vqvm_find(struct vqvm_mgmt *m, u64 id)
{
	struct vqvm_mdev *md;

	list_for_each_entry(md, &m->devices, node)
		if (md->id == id)
			return md;
	return NULL;
}

/*
 * DESTROY a device no virtio driver uses (any more). It needs a reset first only
 * while DRIVER_OK is set (6.6): with reset, or when DESTROY says EBUSY.
 */
static int vqvm_destroy(struct vqvm_mgmt *m, u64 id, bool reset)
{
	struct vqvm_tvq_status st = { .status = 0 };
	int err;

	if (!reset) {
		err = vqvm_tvq_cmd(m, id, VQVM_CLASS_VDEV, VQVM_VDEV_DESTROY, NULL, 0, NULL, 0);
		if (err != -EBUSY)
			return err;
	}
	err = vqvm_tvq_cmd(m, id, VQVM_CLASS_STATUS, VQVM_STATUS_SET, &st, sizeof(st), NULL, 0);
	if (err == -ENODEV)
		return err;
	return vqvm_tvq_cmd(m, id, VQVM_CLASS_VDEV, VQVM_VDEV_DESTROY, NULL, 0, NULL, 0);
}

/* Reset and destroy a device that was never registered here. */
static int vqvm_destroy_id(struct vqvm_mgmt *m, u64 id)
{
	return vqvm_destroy(m, id, true);
}

/* Register a virtio device for the managed device info describes. m->lock held. */
static int vqvm_mdev_add(struct vqvm_mgmt *m, const struct vqvm_adm_device_info *info)
{
	struct vqvm_tvq_vq_index qi = { .queue_index = cpu_to_le16(0) };
	struct vqvm_tvq_vq_notify_get_in nt;
	const char *tname;
	struct vqvm_mdev *md;
	u64 addr, size;
	int err;

	md = kzalloc(sizeof(*md), GFP_KERNEL);
	if (!md)
		return -ENOMEM;
	md->mgmt = m;
	md->id = le64_to_cpu(info->vdev_id);
	md->type = le32_to_cpu(info->virtio_device_id);
	md->num_queues = le16_to_cpu(info->num_queues);
	md->slot = le16_to_cpu(info->slot);
	md->origin = info->origin;
	md->status = info->device_status;
	INIT_LIST_HEAD(&md->vqs);
	mutex_init(&md->msi_lock);
	md->config_irq.md = md;
	md->config_irq.pool_idx = -1;
	md->config_irq.is_config = true;
	md->shared_irq.md = md;
	md->shared_irq.pool_idx = -1;
	md->shared_irq.shared = true;
	memcpy(md->backend, info->backend_name, sizeof(md->backend) - 1);

	if (md->num_queues) {
		err = vqvm_tvq_cmd(m, md->id, VQVM_CLASS_VQ_NOTIFY, VQVM_VQ_NOTIFY_GET,
				   &qi, sizeof(qi), &nt, sizeof(nt));
		if (err)
			goto free;
		addr = le64_to_cpu(nt.addr);
		size = le64_to_cpu(nt.size);
		if (size < 2 || addr >= m->doorbell_len || m->doorbell_len - addr < 2) {
			dev_err(&m->pdev->dev,
				"device %llu: doorbell page %#llx+%#llx outside BAR (%#llx bytes)\n",
				md->id, addr, size, (u64)m->doorbell_len);
			err = -EPROTO;
			goto free;
		}
		if (addr != (u64)md->slot * m->doorbell_stride)
			dev_warn(&m->pdev->dev,
				 "device %llu: doorbell at %#llx but slot %u (stride %u)\n",
				 md->id, addr, md->slot, m->doorbell_stride);
		md->doorbell = m->doorbells + addr;
	}

	md->vdev.dev.parent = &m->pdev->dev;
	md->vdev.dev.release = vqvm_vdev_release;
	md->vdev.config = &vqvm_vdev_config_ops;
	md->vdev.id.vendor = PCI_VENDOR_ID_REDHAT_QUMRANET;
	md->vdev.id.device = md->type;
	err = register_virtio_device(&md->vdev);
	if (err) {
		dev_err(&m->pdev->dev, "device %llu: register_virtio_device: %d\n", md->id, err);
		put_device(&md->vdev.dev);	/* frees md */
		return err;
	}
	get_device(&md->vdev.dev);		/* the list's reference */
	list_add_tail(&md->node, &m->devices);
	tname = vqvm_type_name(md->type);
	dev_info(&m->pdev->dev,
		 "managed device %llu (%s, %u queues, slot %u, backend \"%s\", %s) is %s\n",
		 md->id, tname ?: "unknown type", md->num_queues, md->slot, md->backend,
		 md->origin ? "guest-created" : "host-created", dev_name(&md->vdev.dev));
	return 0;
free:
	kfree(md);
	return err;
}

/*
 * Unregister a managed device (its driver's remove resets it and deletes its
 * queues), then, unless the host already destroyed it, with destroy DESTROY it,
 * else reset it. DESTROY needs a reset first only while DRIVER_OK is set (6.6),
 * which a driver's remove has undone: one round trip less on the way out.
 * m->lock held.
 */
static int vqvm_mdev_remove(struct vqvm_mgmt *m, struct vqvm_mdev *md, bool destroy)
{
	struct vqvm_tvq_status st = { .status = 0 };
	int err = 0;

	list_del(&md->node);
	if (md->gone)
		virtio_break_device(&md->vdev);
	unregister_virtio_device(&md->vdev);
	if (!md->gone) {
		if (!destroy)
			err = vqvm_tvq_cmd(m, md->id, VQVM_CLASS_STATUS, VQVM_STATUS_SET,
					   &st, sizeof(st), NULL, 0);
		if (destroy && err != -ENODEV)
			err = vqvm_destroy(m, md->id, !!(md->status & VIRTIO_CONFIG_S_DRIVER_OK));
	}
	dev_info(&m->pdev->dev, "managed device %llu %s\n", md->id,
		 md->gone ? "was destroyed by the host" :
		 !destroy ? "unregistered" : err ? "unregistered, DESTROY failed" : "destroyed");
	put_device(&md->vdev.dev);
	return err;
}

static u32 vqvm_read_generation(struct vqvm_mgmt *m)
{
	return ioread32(m->devcfg + offsetof(struct vqvm_mgmt_config, managed_generation));
}

static bool vqvm_id_listed(const u64 *ids, unsigned int n, u64 id)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/*
 * Bring the registered devices in line with the device's list, until
 * managed_generation stays put (3). m->lock held.
 */
static void vqvm_scan_locked(struct vqvm_mgmt *m)
{
	struct vqvm_adm_device_info info;
	struct vqvm_mdev *md, *tmp;
	unsigned int n, i, round;
	u64 *ids;
	u32 gen;
	int err;

	for (round = 0; round < 16; round++) {
		gen = vqvm_read_generation(m);
		if (m->scanned && gen == m->generation)
			return;
		err = vqvm_list_ids(m, &ids, &n);
		if (err) {
			dev_err(&m->pdev->dev, "cannot list managed devices: %d\n", err);
			m->scanned = false;
			return;
		}
		m->generation = gen;
		m->scanned = true;

		/* Registered but no longer listed: the host destroyed it (9.4). */
		list_for_each_entry_safe(md, tmp, &m->devices, node) {
			if (vqvm_id_listed(ids, n, md->id))
				continue;
			md->gone = true;
			vqvm_mdev_remove(m, md, false);
		}
		for (i = 0; i < n; i++) {
			md = vqvm_find(m, ids[i]);
			err = vqvm_device_info(m, ids[i], &info);
			if (err)
				continue;
			if (info.removal_requested) {
				dev_info(&m->pdev->dev, "host requests removal of device %llu\n",
					 ids[i]);
				if (md)
					vqvm_mdev_remove(m, md, true);
				else
					vqvm_destroy_id(m, ids[i]);
				continue;
			}
			if (!md)
				vqvm_mdev_add(m, &info);
		}
		kfree(ids);
	}
	dev_warn(&m->pdev->dev, "managed_generation keeps changing; giving up for now\n");
}

static void vqvm_rescan_work(struct work_struct *work)
{
	struct vqvm_mgmt *m = container_of(work, struct vqvm_mgmt, rescan_work);
	u8 status;

	mutex_lock(&m->lock);
	if (!m->removing) {
		status = ioread8(m->common + VIRTIO_PCI_COMMON_STATUS);
		if (status & VIRTIO_CONFIG_S_NEEDS_RESET)
			dev_err_once(&m->pdev->dev, "the management device needs a reset\n");
		vqvm_scan_locked(m);
	}
	mutex_unlock(&m->lock);
}

/* ---- sysfs --------------------------------------------------------------- */

static struct vqvm_mgmt *dev_to_mgmt(struct device *dev)
{
	return pci_get_drvdata(to_pci_dev(dev));
}

/* "blk", "net" or "net mac=XX:XX:XX:XX:XX:XX", optionally "features=0x..." */
static ssize_t create_store(struct device *dev, struct device_attribute *attr,
			    const char *buf, size_t count)
{
	struct vqvm_mgmt *m = dev_to_mgmt(dev);
	struct {
		struct vqvm_tvq_vdev_create_out hdr;
		u8 mac[ETH_ALEN];
	} __packed out = {};
	struct vqvm_tvq_vdev_create_in in;
	struct vqvm_adm_device_info info;
	size_t out_len = sizeof(out.hdr);
	struct vqvm_mdev *md;
	char line[128], *p = line, *tok;
	u32 type = 0;
	u64 id, features;
	int err;

	if (count >= sizeof(line))
		return -EINVAL;
	memcpy(line, buf, count);
	line[count] = '\0';
	while ((tok = strsep(&p, " \t\n"))) {
		if (!*tok)
			continue;
		if (!type) {
			if (!strcmp(tok, "blk") || !strcmp(tok, "block"))
				type = VIRTIO_ID_BLOCK;
			else if (!strcmp(tok, "net"))
				type = VIRTIO_ID_NET;
			else
				return -EINVAL;
		} else if (type == VIRTIO_ID_NET && !strncmp(tok, "mac=", 4)) {
			if (!mac_pton(tok + 4, out.mac) || !is_valid_ether_addr(out.mac))
				return -EINVAL;
			out_len = sizeof(out);
		} else if (!strncmp(tok, "features=", 9)) {
			if (kstrtou64(tok + 9, 0, &features))
				return -EINVAL;
			out.hdr.features_allowed = cpu_to_le64(features);
		} else {
			return -EINVAL;
		}
	}
	if (!type)
		return -EINVAL;
	out.hdr.virtio_device_id = cpu_to_le32(type);

	mutex_lock(&m->lock);
	err = vqvm_tvq_cmd(m, 0, VQVM_CLASS_VDEV, VQVM_VDEV_CREATE, &out, out_len,
			   &in, sizeof(in));
	if (err)
		goto out;
	id = le64_to_cpu(in.device_id);
	m->last_created = id;
	dev_info(&m->pdev->dev, "created %s device %llu\n", vqvm_type_name(type), id);
	err = vqvm_device_info(m, id, &info);
	if (!err)
		err = vqvm_mdev_add(m, &info);
	if (err) {
		dev_err(&m->pdev->dev, "device %llu cannot be used (%d); destroying it\n",
			id, err);
		vqvm_destroy_id(m, id);
		goto out;
	}
	/*
	 * Its driver could not bring it up for want of something the transport
	 * gives (queues, interrupt vectors): fail the write with that, and give
	 * the backend back, rather than leave a device no driver can use.
	 */
	md = vqvm_find(m, id);
	if (md && !READ_ONCE(md->vdev.dev.driver) && md->bringup_err) {
		err = md->bringup_err;
		dev_err(&m->pdev->dev, "device %llu failed bring-up (%d); destroying it\n",
			id, err);
		vqvm_mdev_remove(m, md, true);
	}
out:
	mutex_unlock(&m->lock);
	return err ?: count;
}
static DEVICE_ATTR_WO(create);

static ssize_t destroy_store(struct device *dev, struct device_attribute *attr,
			     const char *buf, size_t count)
{
	struct vqvm_mgmt *m = dev_to_mgmt(dev);
	struct vqvm_mdev *md;
	u64 id;
	int err;

	err = kstrtou64(buf, 0, &id);
	if (err)
		return err;
	if (!id)
		return -EINVAL;
	mutex_lock(&m->lock);
	md = vqvm_find(m, id);
	if (md)
		err = vqvm_mdev_remove(m, md, true);
	else
		err = vqvm_destroy_id(m, id);	/* one we never registered */
	mutex_unlock(&m->lock);
	return err ?: count;
}
static DEVICE_ATTR_WO(destroy);

static ssize_t last_created_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct vqvm_mgmt *m = dev_to_mgmt(dev);
	u64 id;

	mutex_lock(&m->lock);
	id = m->last_created;
	mutex_unlock(&m->lock);
	return sysfs_emit(buf, "%llu\n", id);
}
static DEVICE_ATTR_RO(last_created);

static ssize_t devices_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct vqvm_mgmt *m = dev_to_mgmt(dev);
	struct vqvm_adm_device_info info;
	const char *tname, *state;
	struct vqvm_mdev *md;
	char tbuf[16];
	int len = 0;

	mutex_lock(&m->lock);
	list_for_each_entry(md, &m->devices, node) {
		state = vqvm_device_info(m, md->id, &info) ? "unknown" :
			vqvm_state_name(info.state);
		tname = vqvm_type_name(md->type);
		if (!tname) {
			snprintf(tbuf, sizeof(tbuf), "type%u", md->type);
			tname = tbuf;
		}
		len += sysfs_emit_at(buf, len, "%llu %s %s %s\n", md->id, tname, state,
				     dev_name(&md->vdev.dev));
	}
	mutex_unlock(&m->lock);
	return len;
}
static DEVICE_ATTR_RO(devices);

static ssize_t avail_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct vqvm_mgmt *m = dev_to_mgmt(dev);
	struct vqvm_tvq_avail_res res;
	int err;

	err = vqvm_tvq_cmd(m, 0, VQVM_CLASS_AVAIL_RES, VQVM_AVAIL_RES_GET, NULL, 0,
			   &res, sizeof(res));
	if (err)
		return err;
	return sysfs_emit(buf, "devices %u vqs %u min_vqs %u max_vqs %u\n",
			  le16_to_cpu(res.num_avail_vdev), le16_to_cpu(res.num_avail_vqs),
			  le16_to_cpu(res.min_vdev_vqs), le16_to_cpu(res.max_vdev_vqs));
}
static DEVICE_ATTR_RO(avail);

static struct attribute *vqvm_mgmt_attrs[] = {
	&dev_attr_create.attr,
	&dev_attr_destroy.attr,
	&dev_attr_last_created.attr,
	&dev_attr_devices.attr,
	&dev_attr_avail.attr,
	NULL,
};
ATTRIBUTE_GROUPS(vqvm_mgmt);

/* ---- the management function itself --------------------------------------- */

static void vqvm_set_status(struct vqvm_mgmt *m, u8 status)
{
	iowrite8(status, m->common + VIRTIO_PCI_COMMON_STATUS);
}

static u8 vqvm_get_status(struct vqvm_mgmt *m)
{
	return ioread8(m->common + VIRTIO_PCI_COMMON_STATUS);
}

/* Reset the function (5.4): status reads 0 once managed devices are reset too. */
static int vqvm_mgmt_reset(struct vqvm_mgmt *m)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(cmd_timeout_ms);

	vqvm_set_status(m, 0);
	while (vqvm_get_status(m)) {
		if (time_after(jiffies, deadline)) {
			dev_err(&m->pdev->dev, "reset did not complete within %u ms\n",
				cmd_timeout_ms);
			return -ETIMEDOUT;
		}
		usleep_range(1000, 2000);
	}
	return 0;
}

static void __iomem *vqvm_cap_map(struct vqvm_mgmt *m, int pos, u32 minlen)
{
	struct pci_dev *pdev = m->pdev;
	u32 offset, length;
	u8 bar;

	pci_read_config_byte(pdev, pos + offsetof(struct virtio_pci_cap, bar), &bar);
	pci_read_config_dword(pdev, pos + offsetof(struct virtio_pci_cap, offset), &offset);
	pci_read_config_dword(pdev, pos + offsetof(struct virtio_pci_cap, length), &length);
	if (bar != 0 || length < minlen || offset > pci_resource_len(pdev, 0) ||
	    pci_resource_len(pdev, 0) - offset < length) {
		dev_warn(&pdev->dev, "capability at %#x: BAR %u %#x+%#x unusable\n",
			 pos, bar, offset, length);
		return NULL;
	}
	return m->bar0 + offset;
}

/* Locate the virtio structures in BAR0 (2.2), or take the fixed offsets (2.3). */
static void vqvm_find_structures(struct vqvm_mgmt *m)
{
	struct pci_dev *pdev = m->pdev;
	void __iomem *p;
	u8 type;
	int pos;

	for (pos = pci_find_capability(pdev, PCI_CAP_ID_VNDR); pos > 0;
	     pos = pci_find_next_capability(pdev, pos, PCI_CAP_ID_VNDR)) {
		pci_read_config_byte(pdev, pos + offsetof(struct virtio_pci_cap, cfg_type), &type);
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			if (!m->common)
				m->common = vqvm_cap_map(m, pos, VIRTIO_PCI_COMMON_Q_USEDHI + 4);
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			if (!m->isr)
				m->isr = vqvm_cap_map(m, pos, 1);
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			if (!m->devcfg)
				m->devcfg = vqvm_cap_map(m, pos, VQVM_MGMT_CONFIG_SIZE);
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			if (m->notify)
				break;
			p = vqvm_cap_map(m, pos, 2);
			if (!p)
				break;
			m->notify = p;
			pci_read_config_dword(pdev, pos + offsetof(struct virtio_pci_notify_cap,
								   notify_off_multiplier),
					      &m->notify_mult);
			break;
		}
	}
	if (!m->common || !m->devcfg || !m->notify)
		dev_warn(&pdev->dev, "virtio capabilities incomplete: using the fixed offsets\n");
	if (!m->common)
		m->common = m->bar0 + VQVM_BAR0_COMMON;
	if (!m->isr)
		m->isr = m->bar0 + VQVM_BAR0_ISR;
	if (!m->devcfg)
		m->devcfg = m->bar0 + VQVM_BAR0_DEVICE;
	if (!m->notify) {
		m->notify = m->bar0 + VQVM_BAR0_NOTIFY;
		m->notify_mult = VQVM_BAR0_NOTIFY_MULT;
	}
}

static int vqvm_read_config(struct vqvm_mgmt *m)
{
	struct pci_dev *pdev = m->pdev;
	u8 bar;

	m->max_managed = ioread32(m->devcfg + offsetof(struct vqvm_mgmt_config, max_managed));
	m->pool_first = ioread16(m->devcfg + offsetof(struct vqvm_mgmt_config, msix_pool_first));
	m->pool_size_dev = ioread16(m->devcfg + offsetof(struct vqvm_mgmt_config, msix_pool_size));
	bar = ioread8(m->devcfg + offsetof(struct vqvm_mgmt_config, doorbell_bar));
	m->doorbell_stride = ioread32(m->devcfg + offsetof(struct vqvm_mgmt_config,
							   doorbell_stride));
	m->removal_timeout_ms = ioread32(m->devcfg + offsetof(struct vqvm_mgmt_config,
							      removal_timeout_ms));
	if (bar > 5 || !m->max_managed || m->doorbell_stride < 2 || m->pool_first < 2) {
		dev_err(&pdev->dev,
			"unusable device config: doorbell BAR %u, %u slots, stride %u, pool at %u\n",
			bar, m->max_managed, m->doorbell_stride, m->pool_first);
		return -ENODEV;
	}
	if (bar != 0) {
		int err = pcim_iomap_regions(pdev, BIT(bar), DRV_NAME);

		if (err)
			return err;
		m->doorbells = pcim_iomap_table(pdev)[bar];
	} else {
		m->doorbells = m->bar0;
	}
	m->doorbell_len = pci_resource_len(pdev, bar);
	return 0;
}

static u64 vqvm_read_features(struct vqvm_mgmt *m)
{
	u64 f;

	iowrite32(0, m->common + VIRTIO_PCI_COMMON_DFSELECT);
	f = ioread32(m->common + VIRTIO_PCI_COMMON_DF);
	iowrite32(1, m->common + VIRTIO_PCI_COMMON_DFSELECT);
	f |= (u64)ioread32(m->common + VIRTIO_PCI_COMMON_DF) << 32;
	return f;
}

static int vqvm_negotiate(struct vqvm_mgmt *m)
{
	const u64 need = BIT_ULL(VIRTIO_F_VERSION_1) | BIT_ULL(VQVM_F_ADMIN_VQ) |
			 BIT_ULL(VQVM_F_TRNSPT_VQ) | BIT_ULL(VQVM_F_TRNSPT_VQ_VDEV);
	u64 want = need | BIT_ULL(VQVM_F_FEATURE_63_0_MGMT) |
		   BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC);
	u64 offered, f;

	if (event_idx)
		want |= BIT_ULL(VIRTIO_RING_F_EVENT_IDX);
	offered = vqvm_read_features(m);
	f = offered & want;
	if ((f & need) != need) {
		dev_err(&m->pdev->dev, "device offers features %#llx, lacking %#llx\n",
			offered, need & ~f);
		return -ENODEV;
	}
	iowrite32(0, m->common + VIRTIO_PCI_COMMON_GFSELECT);
	iowrite32(lower_32_bits(f), m->common + VIRTIO_PCI_COMMON_GF);
	iowrite32(1, m->common + VIRTIO_PCI_COMMON_GFSELECT);
	iowrite32(upper_32_bits(f), m->common + VIRTIO_PCI_COMMON_GF);
	vqvm_set_status(m, vqvm_get_status(m) | VIRTIO_CONFIG_S_FEATURES_OK);
	if (!(vqvm_get_status(m) & VIRTIO_CONFIG_S_FEATURES_OK)) {
		dev_err(&m->pdev->dev, "device refused features %#llx\n", f);
		return -ENODEV;
	}
	m->vdev.features = f;
	return 0;
}

static int vqvm_alloc_vectors(struct vqvm_mgmt *m)
{
	struct pci_dev *pdev = m->pdev;
	unsigned int want, table;
	int n;

	table = pci_msix_vec_count(pdev) > 0 ? pci_msix_vec_count(pdev) : 0;
	want = m->pool_first + min_t(unsigned int, m->pool_size_dev, max_pool_vectors);
	if (table < want) {
		dev_warn(&pdev->dev, "MSI-X table has %u entries, pool wants up to %u\n",
			 table, want);
		want = table;
	}
	if (want < m->pool_first)
		return -ENODEV;
	/* The OS may run short of interrupt vectors: then try with a smaller pool. */
	for (;;) {
		n = pci_alloc_irq_vectors(pdev, m->pool_first, want, PCI_IRQ_MSIX);
		if (n >= 0 || want <= m->pool_first + 1U)
			break;
		want = m->pool_first + (want - m->pool_first) / 2;
	}
	if (n < 0) {
		dev_err(&pdev->dev, "cannot allocate %u MSI-X vectors: %d\n", want, n);
		return n;
	}
	m->nvec = n;
	m->pool_count = n - m->pool_first;
	m->pool_map = bitmap_zalloc(max(m->pool_count, 1U), GFP_KERNEL);
	if (!m->pool_map) {
		pci_free_irq_vectors(pdev);
		return -ENOMEM;
	}
	return 0;
}

static int vqvm_setup_cq(struct vqvm_mgmt *m, struct vqvm_cq *q, u16 index, const char *name)
{
	void __iomem *c = m->common;
	struct virtqueue *vq;
	u16 size, off;
	u64 a;

	spin_lock_init(&q->lock);
	init_waitqueue_head(&q->space);
	q->name = name;

	iowrite16(index, c + VIRTIO_PCI_COMMON_Q_SELECT);
	size = ioread16(c + VIRTIO_PCI_COMMON_Q_SIZE);
	if (!size || (size & (size - 1)) || ioread16(c + VIRTIO_PCI_COMMON_Q_ENABLE)) {
		dev_err(&m->pdev->dev, "%s: size %u, or enabled after reset\n", name, size);
		return -ENODEV;
	}
	off = ioread16(c + VIRTIO_PCI_COMMON_Q_NOFF);

	vq = vring_create_virtqueue(index, size, SMP_CACHE_BYTES, &m->vdev, true, true,
				    false, vqvm_cq_notify, vqvm_cq_done, name);
	if (!vq)
		return -ENOMEM;
	vq->priv = m->notify + (u32)off * m->notify_mult;
	q->vq = vq;

	iowrite16(virtqueue_get_vring_size(vq), c + VIRTIO_PCI_COMMON_Q_SIZE);
	a = virtqueue_get_desc_addr(vq);
	iowrite32(lower_32_bits(a), c + VIRTIO_PCI_COMMON_Q_DESCLO);
	iowrite32(upper_32_bits(a), c + VIRTIO_PCI_COMMON_Q_DESCHI);
	a = virtqueue_get_avail_addr(vq);
	iowrite32(lower_32_bits(a), c + VIRTIO_PCI_COMMON_Q_AVAILLO);
	iowrite32(upper_32_bits(a), c + VIRTIO_PCI_COMMON_Q_AVAILHI);
	a = virtqueue_get_used_addr(vq);
	iowrite32(lower_32_bits(a), c + VIRTIO_PCI_COMMON_Q_USEDLO);
	iowrite32(upper_32_bits(a), c + VIRTIO_PCI_COMMON_Q_USEDHI);
	/* Entry 1 serves both queues (2.5). */
	iowrite16(1, c + VIRTIO_PCI_COMMON_Q_MSIX);
	if (ioread16(c + VIRTIO_PCI_COMMON_Q_MSIX) != 1) {
		dev_err(&m->pdev->dev, "%s: MSI-X vector 1 refused\n", name);
		return -EBUSY;
	}
	iowrite16(1, c + VIRTIO_PCI_COMMON_Q_ENABLE);
	return 0;
}

/* Free whatever is still on a queue (commands that timed out), then the queue. */
static void vqvm_del_cq(struct vqvm_cq *q)
{
	struct vqvm_cmd *cmd;

	if (!q->vq)
		return;
	while ((cmd = virtqueue_detach_unused_buf(q->vq)))
		kfree(cmd);	/* only abandoned commands can be left */
	vring_del_virtqueue(q->vq);
	q->vq = NULL;
}

static irqreturn_t vqvm_config_irq(int irq, void *data)
{
	struct vqvm_mgmt *m = data;

	if (verbose)
		dev_info(&m->pdev->dev, "config interrupt\n");
	if (!READ_ONCE(m->removing))
		schedule_work(&m->rescan_work);
	return IRQ_HANDLED;
}

static irqreturn_t vqvm_queues_irq(int irq, void *data)
{
	struct vqvm_mgmt *m = data;
	irqreturn_t t, a;

	t = vring_interrupt(irq, m->tq.vq);
	a = vring_interrupt(irq, m->aq.vq);
	return (t == IRQ_HANDLED || a == IRQ_HANDLED) ? IRQ_HANDLED : IRQ_NONE;
}

static int vqvm_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct vqvm_mgmt *m;
	int err;

	vqvm_tvq_check_layout();

	m = devm_kzalloc(&pdev->dev, sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	m->pdev = pdev;
	mutex_init(&m->lock);
	INIT_LIST_HEAD(&m->devices);
	INIT_WORK(&m->rescan_work, vqvm_rescan_work);
	spin_lock_init(&m->pool_lock);
	/* Never registered: it only carries the features for the two queues. */
	m->vdev.dev.parent = &pdev->dev;
	INIT_LIST_HEAD(&m->vdev.vqs);
	spin_lock_init(&m->vdev.vqs_list_lock);
	pci_set_drvdata(pdev, m);

	err = pcim_enable_device(pdev);
	if (err)
		return err;
	err = pcim_iomap_regions(pdev, BIT(0), DRV_NAME);
	if (err)
		return err;
	m->bar0 = pcim_iomap_table(pdev)[0];
	pci_set_master(pdev);
	err = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (err)
		dev_warn(&pdev->dev, "no 64-bit DMA mask: %d\n", err);

	vqvm_find_structures(m);
	err = vqvm_read_config(m);
	if (err)
		return err;

	err = vqvm_mgmt_reset(m);
	if (err)
		return err;
	vqvm_set_status(m, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vqvm_set_status(m, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	err = vqvm_negotiate(m);
	if (err)
		goto fail_status;
	err = vqvm_alloc_vectors(m);
	if (err)
		goto fail_status;

	err = vqvm_setup_cq(m, &m->tq, VQVM_TRANSPORTQ, "transportq");
	if (err)
		goto fail_queues;
	err = vqvm_setup_cq(m, &m->aq, VQVM_ADMINQ, "adminq");
	if (err)
		goto fail_queues;
	iowrite16(0, m->common + VIRTIO_PCI_COMMON_MSIX);
	if (ioread16(m->common + VIRTIO_PCI_COMMON_MSIX) != 0) {
		dev_err(&pdev->dev, "config MSI-X vector 0 refused\n");
		err = -EBUSY;
		goto fail_queues;
	}
	err = request_irq(pci_irq_vector(pdev, 0), vqvm_config_irq, 0, "vqvm-mgmt-config", m);
	if (err)
		goto fail_queues;
	err = request_irq(pci_irq_vector(pdev, 1), vqvm_queues_irq, 0, "vqvm-mgmt-queues", m);
	if (err) {
		free_irq(pci_irq_vector(pdev, 0), m);
		goto fail_queues;
	}
	m->irqs_requested = true;
	vqvm_set_status(m, vqvm_get_status(m) | VIRTIO_CONFIG_S_DRIVER_OK);

	dev_info(&pdev->dev,
		 "management device: %u slots, %u of %u pool vectors, features %#llx\n",
		 m->max_managed, m->pool_count, m->pool_size_dev, m->vdev.features);

	mutex_lock(&m->lock);
	vqvm_scan_locked(m);
	mutex_unlock(&m->lock);
	return 0;

fail_queues:
	vqvm_mgmt_reset(m);
	WRITE_ONCE(m->dead, true);
	vqvm_del_cq(&m->aq);
	vqvm_del_cq(&m->tq);
	pci_free_irq_vectors(pdev);
	bitmap_free(m->pool_map);
	return err;
fail_status:
	vqvm_set_status(m, vqvm_get_status(m) | VIRTIO_CONFIG_S_FAILED);
	return err;
}

static void vqvm_remove(struct pci_dev *pdev)
{
	struct vqvm_mgmt *m = pci_get_drvdata(pdev);
	struct vqvm_mdev *md, *tmp;

	/* No new scans: the config vector goes first, then any queued scan. */
	WRITE_ONCE(m->removing, true);
	free_irq(pci_irq_vector(pdev, 0), m);
	cancel_work_sync(&m->rescan_work);

	/* Managed devices stay on the device (5.4): only unregister them here. */
	mutex_lock(&m->lock);
	list_for_each_entry_safe(md, tmp, &m->devices, node)
		vqvm_mdev_remove(m, md, false);
	mutex_unlock(&m->lock);

	vqvm_mgmt_reset(m);
	WRITE_ONCE(m->dead, true);
	free_irq(pci_irq_vector(pdev, 1), m);
	vqvm_del_cq(&m->aq);
	vqvm_del_cq(&m->tq);
	pci_free_irq_vectors(pdev);
	bitmap_free(m->pool_map);
	dev_info(&pdev->dev, "management device released\n");
}

static const struct pci_device_id vqvm_ids[] = {
	{ PCI_DEVICE(VQVM_MGMT_VENDOR_ID, VQVM_MGMT_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, vqvm_ids);

static struct pci_driver vqvm_driver = {
	.name = DRV_NAME,
	.id_table = vqvm_ids,
	.probe = vqvm_probe,
	.remove = vqvm_remove,
	.dev_groups = vqvm_mgmt_groups,
};
module_pci_driver(vqvm_driver);

MODULE_DESCRIPTION("vqvm management device: virtio devices over a transport virtqueue");
MODULE_LICENSE("GPL");
