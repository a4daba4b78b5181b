// SPDX-License-Identifier: GPL-2.0
/*
 * vqvm_mgmt: a struct virtio_device per managed device. Every transport
 * operation is a transportq command (docs/transport-vq.md, section 6); queue
 * kicks go to the device's doorbell page in the management function's BAR,
 * and each queue's interrupt is an MSI-X pool vector of the management
 * function whose message is handed to the device with MSI VQ_SET.
 */

#include <linux/slab.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "vqvm_mgmt.h"

static int vqvm_md_cmd(struct vqvm_mdev *md, u16 class, u16 command,
		       const void *out, size_t out_len, void *in, size_t in_len)
{
	if (READ_ONCE(md->gone))
		return -ENODEV;
	return vqvm_tvq_cmd(md->mgmt, md->id, class, command, out, out_len, in, in_len);
}

static struct device *md_dev(struct vqvm_mdev *md)
{
	return &md->vdev.dev;
}

/* ---- config space, status, features ------------------------------------- */

static void vqvm_vdev_get(struct virtio_device *vdev, unsigned int offset, void *buf,
		     unsigned int len)
{
	struct vqvm_mdev *md = to_vqvm_mdev(vdev);
	struct vqvm_tvq_config_out o = {
		.offset = cpu_to_le32(offset),
		.size = cpu_to_le32(len),
	};

	if (!len)
		return;
	if (vqvm_md_cmd(md, VQVM_CLASS_CONFIG, VQVM_CONFIG_GET, &o, sizeof(o), buf, len))
		memset(buf, 0, len);
}

static void vqvm_vdev_set(struct virtio_device *vdev, unsigned int offset, const void *buf,
		     unsigned int len)
{
	struct vqvm_mdev *md = to_vqvm_mdev(vdev);
	struct vqvm_tvq_config_out *o;

	if (!len)
		return;
	o = kmalloc(sizeof(*o) + len, GFP_KERNEL);
	if (!o)
		return;
	o->offset = cpu_to_le32(offset);
	o->size = cpu_to_le32(len);
	memcpy(o + 1, buf, len);
	vqvm_md_cmd(md, VQVM_CLASS_CONFIG, VQVM_CONFIG_SET, o, sizeof(*o) + len, NULL, 0);
	kfree(o);
}

static u32 vqvm_vdev_generation(struct virtio_device *vdev)
{
	struct vqvm_tvq_generation g = {};

	vqvm_md_cmd(to_vqvm_mdev(vdev), VQVM_CLASS_GENERATION, VQVM_GENERATION_GET,
		    NULL, 0, &g, sizeof(g));
	return le32_to_cpu(g.generation);
}

static u8 vqvm_vdev_get_status(struct virtio_device *vdev)
{
	struct vqvm_tvq_status st = {};

	if (vqvm_md_cmd(to_vqvm_mdev(vdev), VQVM_CLASS_STATUS, VQVM_STATUS_GET,
			NULL, 0, &st, sizeof(st)))
		return 0;
	return st.status;
}

static void vqvm_vdev_set_status(struct virtio_device *vdev, u8 status)
{
	struct vqvm_mdev *md = to_vqvm_mdev(vdev);
	struct vqvm_tvq_status st = { .status = status };

	/* The core resets through ->reset, never by writing 0 here. */
	WARN_ON(!status);
	md->status = status;
	vqvm_md_cmd(md, VQVM_CLASS_STATUS, VQVM_STATUS_SET, &st, sizeof(st), NULL, 0);
}

static void vqvm_vdev_synchronize_cbs(struct virtio_device *vdev)
{
	struct vqvm_mdev *md = to_vqvm_mdev(vdev);
	struct vqvm_vq_info *info;

	list_for_each_entry(info, &md->vqs, node)
		if (info->irq.requested)
			synchronize_irq(info->irq.irq);
	if (md->config_irq.requested)
		synchronize_irq(md->config_irq.irq);
}

/* STATUS SET 0 replies once the reset is complete (6.9). */
static void vqvm_vdev_reset(struct virtio_device *vdev)
{
	struct vqvm_mdev *md = to_vqvm_mdev(vdev);
	struct vqvm_tvq_status st = { .status = 0 };
	struct vqvm_vq_info *info;
	int err;

	err = vqvm_md_cmd(md, VQVM_CLASS_STATUS, VQVM_STATUS_SET, &st, sizeof(st), NULL, 0);
	if (err && err != -ENODEV)
		dev_err(md_dev(md), "reset of managed device %llu failed: %d\n", md->id, err);
	md->status = 0;
	/* The reset disabled every queue and released every MSI entry (7.4). */
	mutex_lock(&md->msi_lock);
	list_for_each_entry(info, &md->vqs, node) {
		info->enabled = false;
		info->irq.msi_set = false;
	}
	md->config_irq.msi_set = false;
	mutex_unlock(&md->msi_lock);
	vqvm_vdev_synchronize_cbs(vdev);
}

static u64 vqvm_vdev_get_features(struct virtio_device *vdev)
{
	struct vqvm_tvq_features f = {};

	vqvm_md_cmd(to_vqvm_mdev(vdev), VQVM_CLASS_FEAT, VQVM_FEAT_DEVICE_GET,
		    NULL, 0, &f, sizeof(f));
	return le64_to_cpu(f.features);
}

static int vqvm_vdev_finalize_features(struct virtio_device *vdev)
{
	struct vqvm_mdev *md = to_vqvm_mdev(vdev);
	struct vqvm_tvq_features f;

	vring_transport_features(vdev);
	/* No disable_vq_and_reset here (yet): keep per-queue reset off. */
	__virtio_clear_bit(vdev, VIRTIO_F_RING_RESET);
	if (!__virtio_test_bit(vdev, VIRTIO_F_VERSION_1)) {
		dev_err(md_dev(md), "managed device %llu lacks VIRTIO_F_VERSION_1\n", md->id);
		return -EINVAL;
	}
	f.features = cpu_to_le64(vdev->features);
	return vqvm_md_cmd(md, VQVM_CLASS_FEAT, VQVM_FEAT_DRIVER_SET, &f, sizeof(f), NULL, 0);
}

static const char *vqvm_vdev_bus_name(struct virtio_device *vdev)
{
	return pci_name(to_vqvm_mdev(vdev)->mgmt->pdev);
}

/* ---- interrupts ---------------------------------------------------------- */

/*
 * Tell the device the MSI message Linux composed for vi's pool vector (MSI VQ_SET
 * or CONFIG_SET, 6.12). Unless force, only if it differs from the one last sent.
 */
static int vqvm_irq_send_msg(struct vqvm_irq *vi, bool force)
{
	struct vqvm_mdev *md = vi->md;
	struct msi_msg msg;
	u64 addr;
	int err = 0;

	mutex_lock(&md->msi_lock);
	get_cached_msi_msg(vi->irq, &msg);
	/* Without force: only a change of a message the device holds (none after a reset). */
	if (!force && (!vi->msi_set || (msg.address_lo == vi->msg.address_lo &&
					  msg.address_hi == vi->msg.address_hi &&
					  msg.data == vi->msg.data)))
		goto out;
	addr = ((u64)msg.address_hi << 32) | msg.address_lo;
	if (vi->is_config) {
		struct vqvm_tvq_msi_config_set_out o = {
			.addr = cpu_to_le64(addr),
			.data = cpu_to_le32(msg.data),
		};

		err = vqvm_md_cmd(md, VQVM_CLASS_MSI, VQVM_MSI_CONFIG_SET, &o, sizeof(o),
				  NULL, 0);
	} else {
		struct vqvm_tvq_msi_vq_set_out o = {
			.queue_index = cpu_to_le16(vi->queue_index),
			.addr = cpu_to_le64(addr),
			.data = cpu_to_le32(msg.data),
		};

		err = vqvm_md_cmd(md, VQVM_CLASS_MSI, VQVM_MSI_VQ_SET, &o, sizeof(o), NULL, 0);
	}
	if (err)
		goto out;
	if (!force)
		dev_info(md_dev(md), "%s: MSI message now %#llx/%#x (affinity change)\n",
			 vi->name, addr, msg.data);
	vi->msg = msg;
	vi->msi_set = true;
out:
	mutex_unlock(&md->msi_lock);
	return err;
}

static int vqvm_irq_enable(struct vqvm_irq *vi, bool enable)
{
	if (vi->is_config) {
		struct vqvm_tvq_msi_config_flag_out o = { .flag = enable };

		return vqvm_md_cmd(vi->md, VQVM_CLASS_MSI, VQVM_MSI_CONFIG_ENABLE, &o, sizeof(o),
				   NULL, 0);
	} else {
		struct vqvm_tvq_msi_vq_flag_out o = {
			.queue_index = cpu_to_le16(vi->queue_index),
			.flag = enable,
		};

		return vqvm_md_cmd(vi->md, VQVM_CLASS_MSI, VQVM_MSI_VQ_ENABLE, &o, sizeof(o),
				   NULL, 0);
	}
}

/*
 * The pool vector moved (affinity change): the device must use the new message.
 * Where the move is done in process context (interrupt remapping), the message has
 * changed by the time the notifier runs. Without remapping, x86 moves an MSI when
 * the next interrupt is acknowledged, after the notifier ran: vqvm_irq_check_msg()
 * catches that in the handler and sends the message from a work item.
 */
static void vqvm_affinity_notify(struct irq_affinity_notify *notify, const cpumask_t *mask)
{
	struct vqvm_irq *vi = container_of(notify, struct vqvm_irq, notify);

	vqvm_irq_send_msg(vi, false);
}

static void vqvm_irq_msg_work(struct work_struct *work)
{
	vqvm_irq_send_msg(container_of(work, struct vqvm_irq, msg_work), false);
}

/* Hard IRQ: has Linux rewritten the vector's message since we last sent it? */
static void vqvm_irq_check_msg(struct vqvm_irq *vi)
{
	struct msi_msg msg;

	if (!READ_ONCE(vi->msi_set))
		return;
	get_cached_msi_msg(vi->irq, &msg);
	if (msg.address_lo != READ_ONCE(vi->msg.address_lo) ||
	    msg.address_hi != READ_ONCE(vi->msg.address_hi) ||
	    msg.data != READ_ONCE(vi->msg.data))
		schedule_work(&vi->msg_work);
}

static irqreturn_t vqvm_vq_interrupt(int irq, void *data)
{
	struct vqvm_vq_info *info = data;

	vqvm_irq_check_msg(&info->irq);
	return vring_interrupt(irq, info->vq);
}

static void vqvm_affinity_release(struct kref *ref)
{
	/* The notifier lives in struct vqvm_irq, freed after it is unhooked. */
}

static void vqvm_irq_teardown(struct vqvm_irq *vi, void *data)
{
	struct vqvm_mgmt *m = vi->md->mgmt;

	if (vi->notifier)
		irq_set_affinity_notifier(vi->irq, NULL);
	vi->notifier = false;
	if (vi->requested) {
		irq_update_affinity_hint(vi->irq, NULL);
		free_irq(vi->irq, data);
		cancel_work_sync(&vi->msg_work);	/* the handler queued it */
	}
	vi->requested = false;
	if (vi->hint_alloc)
		free_cpumask_var(vi->hint);
	vi->hint_alloc = false;
	if (vi->pool_idx >= 0)
		vqvm_pool_put(m, vi->pool_idx);
	vi->pool_idx = -1;
	vi->msi_set = false;
}

/* Take a pool vector for vi, request it, and hand its message to the device. */
static int vqvm_irq_setup(struct vqvm_irq *vi, irq_handler_t handler, void *data,
			  const char *label)
{
	struct vqvm_mdev *md = vi->md;
	int idx, err;

	idx = vqvm_pool_get(md->mgmt);
	if (idx < 0)
		return idx;
	vi->pool_idx = idx;
	vi->irq = vqvm_pool_irq(md->mgmt, idx);
	snprintf(vi->name, sizeof(vi->name), "%s-%s", dev_name(md_dev(md)), label);
	if (!zalloc_cpumask_var(&vi->hint, GFP_KERNEL))
		return -ENOMEM;
	vi->hint_alloc = true;
	INIT_WORK(&vi->msg_work, vqvm_irq_msg_work);
	err = request_irq(vi->irq, handler, 0, vi->name, data);
	if (err)
		return err;
	vi->requested = true;

	vi->notify.notify = vqvm_affinity_notify;
	vi->notify.release = vqvm_affinity_release;
	if (!irq_set_affinity_notifier(vi->irq, &vi->notify))
		vi->notifier = true;

	err = vqvm_irq_send_msg(vi, true);
	if (err)
		return err;
	return vqvm_irq_enable(vi, true);
}

static irqreturn_t vqvm_config_changed(int irq, void *data)
{
	struct vqvm_mdev *md = data;

	vqvm_irq_check_msg(&md->config_irq);
	virtio_config_changed(&md->vdev);
	return IRQ_HANDLED;
}

static int vqvm_vdev_set_vq_affinity(struct virtqueue *vq, const struct cpumask *mask)
{
	struct vqvm_vq_info *info = vq->priv;
	struct vqvm_irq *vi = &info->irq;

	if (!vi->requested)
		return 0;
	if (!mask)
		return irq_update_affinity_hint(vi->irq, NULL);
	cpumask_copy(vi->hint, mask);
	return irq_set_affinity_and_hint(vi->irq, vi->hint);
}

/* ---- queues -------------------------------------------------------------- */

/* A kick: the queue index, le16, at offset 0 of the device's doorbell page (2.4). */
static bool vqvm_vq_notify(struct virtqueue *vq)
{
	struct vqvm_vq_info *info = vq->priv;

	iowrite16(vq->index, info->irq.md->doorbell);
	return true;
}

static void vqvm_vdev_del_vqs(struct virtio_device *vdev)
{
	struct vqvm_mdev *md = to_vqvm_mdev(vdev);
	struct vqvm_vq_info *info, *tmp;
	/* After a reset the device has no running queue and no MSI entry (7.4). */
	bool live = md->status && !READ_ONCE(md->gone);
	struct vqvm_tvq_vq_enable_set_out en = {};

	list_for_each_entry_safe(info, tmp, &md->vqs, node) {
		if (live && info->enabled) {
			en.queue_index = cpu_to_le16(info->irq.queue_index);
			en.enable = 0;
			vqvm_md_cmd(md, VQVM_CLASS_VQ_ENABLE, VQVM_VQ_ENABLE_SET,
				    &en, sizeof(en), NULL, 0);
		}
		if (live && info->irq.msi_set)
			vqvm_irq_enable(&info->irq, false);
		vqvm_irq_teardown(&info->irq, info);
		list_del(&info->node);
		vring_del_virtqueue(info->vq);
		kfree(info);
	}
	if (live && md->config_irq.msi_set)
		vqvm_irq_enable(&md->config_irq, false);
	vqvm_irq_teardown(&md->config_irq, md);
}

static struct virtqueue *vqvm_setup_vq(struct vqvm_mdev *md, unsigned int index,
				       vq_callback_t *callback, const char *name, bool ctx)
{
	struct vqvm_tvq_vq_index qi = { .queue_index = cpu_to_le16(index) };
	struct vqvm_tvq_vq_size_get_in sz;
	struct vqvm_tvq_vq_size_set_out ss;
	struct vqvm_tvq_vq_addr_set_out as = {};
	struct vqvm_tvq_vq_enable_set_out en = {};
	struct vqvm_vq_info *info;
	struct virtqueue *vq;
	u16 max;
	int err;

	if (index >= md->num_queues)
		return ERR_PTR(-ENOENT);
	err = vqvm_md_cmd(md, VQVM_CLASS_VQ_SIZE, VQVM_VQ_SIZE_GET, &qi, sizeof(qi),
			  &sz, sizeof(sz));
	if (err)
		return ERR_PTR(err);
	max = le16_to_cpu(sz.size);
	if (!max)
		return ERR_PTR(-ENOENT);

	info = kzalloc(sizeof(*info), GFP_KERNEL);
	if (!info)
		return ERR_PTR(-ENOMEM);
	info->irq.md = md;
	info->irq.pool_idx = -1;
	info->irq.queue_index = index;
	vq = vring_create_virtqueue(index, max, SMP_CACHE_BYTES, &md->vdev, true, true, ctx,
				    vqvm_vq_notify, callback, name);
	if (!vq) {
		kfree(info);
		return ERR_PTR(-ENOMEM);
	}
	vq->priv = info;
	info->vq = vq;
	list_add_tail(&info->node, &md->vqs);	/* del_vqs undoes the rest */

	ss.queue_index = cpu_to_le16(index);
	ss.size = cpu_to_le16(virtqueue_get_vring_size(vq));
	err = vqvm_md_cmd(md, VQVM_CLASS_VQ_SIZE, VQVM_VQ_SIZE_SET, &ss, sizeof(ss), NULL, 0);
	if (err)
		return ERR_PTR(err);

	as.queue_index = cpu_to_le16(index);
	as.descriptor_area = cpu_to_le64(virtqueue_get_desc_addr(vq));
	as.driver_area = cpu_to_le64(virtqueue_get_avail_addr(vq));
	as.device_area = cpu_to_le64(virtqueue_get_used_addr(vq));
	err = vqvm_md_cmd(md, VQVM_CLASS_VQ_ADDR, VQVM_VQ_ADDR_SET, &as, sizeof(as), NULL, 0);
	if (err)
		return ERR_PTR(err);

	if (callback) {
		err = vqvm_irq_setup(&info->irq, vqvm_vq_interrupt, info, name);
		if (err)
			return ERR_PTR(err);
	}

	en.queue_index = cpu_to_le16(index);
	en.enable = 1;
	err = vqvm_md_cmd(md, VQVM_CLASS_VQ_ENABLE, VQVM_VQ_ENABLE_SET, &en, sizeof(en), NULL, 0);
	if (err)
		return ERR_PTR(err);
	info->enabled = true;
	return vq;
}

/*
 * Queues that ask for spread interrupts (a multiqueue block device): queue k of n
 * serves the possible CPUs c with c % n == k, its vector is pointed at them, and
 * get_vq_affinity tells blk-mq so, so a request completes on a CPU that submits to
 * its queue (virtio_pci gets the same from managed IRQ affinity, which vectors
 * allocated up front for a pool cannot have).
 */
static void vqvm_spread_vqs(struct vqvm_mdev *md, struct irq_affinity *desc,
			    unsigned int nvqs)
{
	unsigned int first = desc->pre_vectors, end, n = 0, k = 0, i, cpu;
	struct vqvm_vq_info *info;

	end = desc->post_vectors < nvqs ? nvqs - desc->post_vectors : 0;
	list_for_each_entry(info, &md->vqs, node)
		if (info->irq.requested && info->vq->index >= first && info->vq->index < end)
			n++;
	if (n < 2)
		return;
	list_for_each_entry(info, &md->vqs, node) {
		if (!info->irq.requested || info->vq->index < first || info->vq->index >= end)
			continue;
		cpumask_clear(info->irq.hint);
		i = 0;
		for_each_possible_cpu(cpu)
			if (i++ % n == k)
				cpumask_set_cpu(cpu, info->irq.hint);
		k++;
		info->spread = true;
		irq_set_affinity_and_hint(info->irq.irq, info->irq.hint);
	}
}

static const struct cpumask *vqvm_vdev_get_vq_affinity(struct virtio_device *vdev, int index)
{
	struct vqvm_mdev *md = to_vqvm_mdev(vdev);
	struct vqvm_vq_info *info;

	list_for_each_entry(info, &md->vqs, node)
		if (info->vq->index == index)
			return info->spread ? info->irq.hint : NULL;
	return NULL;
}

static int vqvm_vdev_find_vqs(struct virtio_device *vdev, unsigned int nvqs,
			 struct virtqueue *vqs[], vq_callback_t *callbacks[],
			 const char * const names[], const bool *ctx,
			 struct irq_affinity *desc)
{
	struct vqvm_mdev *md = to_vqvm_mdev(vdev);
	unsigned int i, index = 0;
	int err;

	for (i = 0; i < nvqs; i++) {
		if (!names[i]) {
			vqs[i] = NULL;
			continue;
		}
		vqs[i] = vqvm_setup_vq(md, index++, callbacks[i], names[i], ctx ? ctx[i] : false);
		if (IS_ERR(vqs[i])) {
			err = PTR_ERR(vqs[i]);
			dev_err(md_dev(md), "managed device %llu: queue %u (%s): %d\n",
				md->id, index - 1, names[i], err);
			goto fail;
		}
	}

	if (desc)
		vqvm_spread_vqs(md, desc, nvqs);

	/* Config changes: one more pool vector, if the budget allows (7.3). */
	err = vqvm_irq_setup(&md->config_irq, vqvm_config_changed, md, "config");
	if (err) {
		dev_warn(md_dev(md), "managed device %llu: no config interrupt: %d\n",
			 md->id, err);
		vqvm_irq_teardown(&md->config_irq, md);
	}
	return 0;
fail:
	vqvm_vdev_del_vqs(vdev);
	return err;
}

void vqvm_vdev_release(struct device *dev)
{
	struct virtio_device *vdev = container_of(dev, struct virtio_device, dev);

	kfree(to_vqvm_mdev(vdev));
}

const struct virtio_config_ops vqvm_vdev_config_ops = {
	.get = vqvm_vdev_get,
	.set = vqvm_vdev_set,
	.generation = vqvm_vdev_generation,
	.get_status = vqvm_vdev_get_status,
	.set_status = vqvm_vdev_set_status,
	.reset = vqvm_vdev_reset,
	.find_vqs = vqvm_vdev_find_vqs,
	.del_vqs = vqvm_vdev_del_vqs,
	.synchronize_cbs = vqvm_vdev_synchronize_cbs,
	.get_features = vqvm_vdev_get_features,
	.finalize_features = vqvm_vdev_finalize_features,
	.bus_name = vqvm_vdev_bus_name,
	.set_vq_affinity = vqvm_vdev_set_vq_affinity,
	.get_vq_affinity = vqvm_vdev_get_vq_affinity,
};
