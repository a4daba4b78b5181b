// SPDX-License-Identifier: GPL-2.0
/*
 * vqvm_mgmt: a struct virtio_device per managed device. Every transport
 * operation is a transportq command (docs/transport-vq.md, section 6); queue
 * kicks go to the device's doorbell page in the management function's BAR,
 * and each queue's interrupt is an MSI-X pool vector of the management
 * function whose message is handed to the device with MSI VQ_SET. When the
 * pool has fewer free vectors than the device has queues with a callback, all
 * of them share one (the fallback virtio_pci has too). Per-queue reset
 * (VIRTIO_F_RING_RESET, virtqueue_resize()) is VQ_RESET, then the queue is set
 * up again as at find_vqs.
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

/*
 * After a reset (or when the device was found with status 0) the status reads 0
 * until the driver sets a bit (6.9), and the device sets none itself while no
 * queue runs (7.1): no need to ask. This spares the round trips the virtio core's
 * status checks cost on the way out of a driver's remove (virtio_dev_remove()).
 */
static u8 vqvm_vdev_get_status(struct virtio_device *vdev)
{
	struct vqvm_mdev *md = to_vqvm_mdev(vdev);
	struct vqvm_tvq_status st = {};

	if (!md->status)
		return 0;
	if (vqvm_md_cmd(md, VQVM_CLASS_STATUS, VQVM_STATUS_GET, NULL, 0, &st, sizeof(st)))
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
	if (md->shared_irq.requested)
		synchronize_irq(md->shared_irq.irq);
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
	else
		md->status = 0;
	/* The reset disabled every queue and released every MSI entry (7.4). */
	mutex_lock(&md->msi_lock);
	list_for_each_entry(info, &md->vqs, node) {
		info->enabled = false;
		info->irq.msi_set = false;
	}
	md->shared_irq.msi_set = false;
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
	bool ring_reset;

	/* vring_transport_features() drops RING_RESET; VQ_RESET (6.18) serves it. */
	ring_reset = __virtio_test_bit(vdev, VIRTIO_F_RING_RESET);
	vring_transport_features(vdev);
	if (ring_reset)
		__virtio_set_bit(vdev, VIRTIO_F_RING_RESET);
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

static int vqvm_msi_vq_set(struct vqvm_mdev *md, u16 queue_index, u64 addr, u32 data)
{
	struct vqvm_tvq_msi_vq_set_out o = {
		.queue_index = cpu_to_le16(queue_index),
		.addr = cpu_to_le64(addr),
		.data = cpu_to_le32(data),
	};

	return vqvm_md_cmd(md, VQVM_CLASS_MSI, VQVM_MSI_VQ_SET, &o, sizeof(o), NULL, 0);
}

static int vqvm_msi_vq_flag(struct vqvm_mdev *md, u16 command, u16 queue_index, bool flag)
{
	struct vqvm_tvq_msi_vq_flag_out o = {
		.queue_index = cpu_to_le16(queue_index),
		.flag = flag,
	};

	return vqvm_md_cmd(md, VQVM_CLASS_MSI, command, &o, sizeof(o), NULL, 0);
}

/*
 * The queues sharing one pool vector move to a new message together: masked while it
 * changes (what they raise meanwhile stays pending, and goes to the new message at the
 * unmask). One by one, a queue still on the old message could fire after another fired
 * at the new one, when x86 has already freed the old vector: that interrupt would be lost.
 */
static int vqvm_shared_set(struct vqvm_mdev *md, u64 addr, u32 data)
{
	struct vqvm_vq_info *info;
	int err = 0;

	list_for_each_entry(info, &md->vqs, node) {
		if (info->shared && info->irq.msi_set)
			err = vqvm_msi_vq_flag(md, VQVM_MSI_VQ_MASK, info->irq.queue_index, true);
		if (err)
			goto unmask;
	}
	list_for_each_entry(info, &md->vqs, node) {
		if (!info->shared)
			continue;
		err = vqvm_msi_vq_set(md, info->irq.queue_index, addr, data);
		if (err)
			break;
		info->irq.msi_set = true;
	}
unmask:
	list_for_each_entry(info, &md->vqs, node) {
		if (info->shared && info->irq.msi_set)
			err = vqvm_msi_vq_flag(md, VQVM_MSI_VQ_MASK, info->irq.queue_index,
					       false) ?: err;
	}
	return err;
}

/*
 * Tell the device the MSI message Linux composed for vi's pool vector (MSI VQ_SET,
 * for each queue of a shared vector, or CONFIG_SET, 6.12). Unless force, only if
 * it differs from the one last sent.
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
	} else if (vi->shared) {
		err = vqvm_shared_set(md, addr, msg.data);
	} else {
		err = vqvm_msi_vq_set(md, vi->queue_index, addr, msg.data);
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

static int vqvm_msi_vq_enable(struct vqvm_mdev *md, u16 queue_index, bool enable)
{
	return vqvm_msi_vq_flag(md, VQVM_MSI_VQ_ENABLE, queue_index, enable);
}

static int vqvm_irq_enable(struct vqvm_irq *vi, bool enable)
{
	struct vqvm_mdev *md = vi->md;
	struct vqvm_vq_info *info;
	int err = 0;

	if (vi->is_config) {
		struct vqvm_tvq_msi_config_flag_out o = { .flag = enable };

		return vqvm_md_cmd(md, VQVM_CLASS_MSI, VQVM_MSI_CONFIG_ENABLE, &o, sizeof(o),
				   NULL, 0);
	}
	if (!vi->shared)
		return vqvm_msi_vq_enable(md, vi->queue_index, enable);
	list_for_each_entry(info, &md->vqs, node) {
		if (info->shared && info->irq.msi_set)
			err = vqvm_msi_vq_enable(md, info->irq.queue_index, enable) ?: err;
	}
	return err;
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
	if (READ_ONCE(info->reset))
		return IRQ_NONE;
	return vring_interrupt(irq, info->vq);
}

/*
 * The vector all queues of a device share. The list does not change while it is
 * requested: find_vqs requests it after the last queue is added, del_vqs frees it
 * before the first one goes.
 */
static irqreturn_t vqvm_vqs_interrupt(int irq, void *data)
{
	struct vqvm_mdev *md = data;
	struct vqvm_vq_info *info;
	irqreturn_t ret = IRQ_NONE;

	vqvm_irq_check_msg(&md->shared_irq);
	list_for_each_entry(info, &md->vqs, node) {
		if (info->shared && !READ_ONCE(info->reset) &&
		    vring_interrupt(irq, info->vq) == IRQ_HANDLED)
			ret = IRQ_HANDLED;
	}
	return ret;
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

/* Request vi's pool vector (vi->pool_idx) and hand its message to the device. */
static int vqvm_irq_setup(struct vqvm_irq *vi, irq_handler_t handler, void *data,
			  const char *label)
{
	struct vqvm_mdev *md = vi->md;
	int err;

	vi->irq = vqvm_pool_irq(md->mgmt, vi->pool_idx);
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

	/* A shared vector keeps its affinity: no one queue decides for all. */
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

	/* The shared vector first: its handler walks the list. */
	if (live && md->shared_irq.msi_set)
		vqvm_irq_enable(&md->shared_irq, false);
	vqvm_irq_teardown(&md->shared_irq, md);
	list_for_each_entry_safe(info, tmp, &md->vqs, node) {
		if (live && info->enabled) {
			en.queue_index = cpu_to_le16(info->irq.queue_index);
			en.enable = 0;
			vqvm_md_cmd(md, VQVM_CLASS_VQ_ENABLE, VQVM_VQ_ENABLE_SET,
				    &en, sizeof(en), NULL, 0);
		}
		if (live && !info->shared && info->irq.msi_set)
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

/* Size, ring addresses, enable (6.15, 6.13, 6.14): at find_vqs and after VQ_RESET. */
static int vqvm_vq_activate(struct vqvm_vq_info *info)
{
	struct vqvm_mdev *md = info->irq.md;
	struct virtqueue *vq = info->vq;
	struct vqvm_tvq_vq_size_set_out ss = {
		.queue_index = cpu_to_le16(vq->index),
		.size = cpu_to_le16(virtqueue_get_vring_size(vq)),
	};
	struct vqvm_tvq_vq_addr_set_out as = {
		.queue_index = cpu_to_le16(vq->index),
		.descriptor_area = cpu_to_le64(virtqueue_get_desc_addr(vq)),
		.driver_area = cpu_to_le64(virtqueue_get_avail_addr(vq)),
		.device_area = cpu_to_le64(virtqueue_get_used_addr(vq)),
	};
	struct vqvm_tvq_vq_enable_set_out en = {
		.queue_index = cpu_to_le16(vq->index),
		.enable = 1,
	};
	int err;

	err = vqvm_md_cmd(md, VQVM_CLASS_VQ_SIZE, VQVM_VQ_SIZE_SET, &ss, sizeof(ss), NULL, 0);
	if (err)
		return err;
	err = vqvm_md_cmd(md, VQVM_CLASS_VQ_ADDR, VQVM_VQ_ADDR_SET, &as, sizeof(as), NULL, 0);
	if (err)
		return err;
	err = vqvm_md_cmd(md, VQVM_CLASS_VQ_ENABLE, VQVM_VQ_ENABLE_SET, &en, sizeof(en), NULL, 0);
	if (err)
		return err;
	info->enabled = true;
	return 0;
}

/*
 * Queue index of the device: a vring, then (vec >= 0) its own pool vector, then
 * size, addresses, enable. shared: its interrupt is the device's shared vector,
 * which the caller sets up once all queues exist. vec belongs to the queue from
 * here on (del_vqs gives it back), whatever happens.
 */
static struct virtqueue *vqvm_setup_vq(struct vqvm_mdev *md, unsigned int index,
				       vq_callback_t *callback, const char *name, bool ctx,
				       int vec, bool shared)
{
	struct vqvm_tvq_vq_index qi = { .queue_index = cpu_to_le16(index) };
	struct vqvm_tvq_vq_size_get_in sz;
	struct vqvm_vq_info *info;
	struct virtqueue *vq;
	u16 max;
	int err;

	err = index < md->num_queues ? 0 : -ENOENT;
	if (!err)
		err = vqvm_md_cmd(md, VQVM_CLASS_VQ_SIZE, VQVM_VQ_SIZE_GET, &qi, sizeof(qi),
				  &sz, sizeof(sz));
	max = err ? 0 : le16_to_cpu(sz.size);
	if (!err && !max)
		err = -ENOENT;
	info = err ? NULL : kzalloc(sizeof(*info), GFP_KERNEL);
	vq = info ? vring_create_virtqueue(index, max, SMP_CACHE_BYTES, &md->vdev, true, true,
					   ctx, vqvm_vq_notify, callback, name) : NULL;
	if (!vq) {
		kfree(info);
		if (vec >= 0)
			vqvm_pool_put(md->mgmt, vec);
		return ERR_PTR(err ?: -ENOMEM);
	}
	vq->num_max = max;	/* the bound of virtqueue_resize() and of ethtool -g */
	info->irq.md = md;
	info->irq.pool_idx = vec;
	info->irq.queue_index = index;
	info->shared = shared;
	vq->priv = info;
	info->vq = vq;
	list_add_tail(&info->node, &md->vqs);	/* del_vqs undoes the rest */

	if (vec >= 0) {
		err = vqvm_irq_setup(&info->irq, vqvm_vq_interrupt, info, name);
		if (err)
			return ERR_PTR(err);
	}
	err = vqvm_vq_activate(info);
	return err ? ERR_PTR(err) : vq;
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

/*
 * Pool vectors for the queues' interrupts: one per queue with a callback, taken
 * up front into vec[] (n of them, returns 0); or, when the pool has fewer free, one
 * the queues share (returns 1, vec[0]). -ENOSPC: not even that.
 */
static int vqvm_take_vectors(struct vqvm_mdev *md, int *vec, unsigned int n)
{
	struct vqvm_mgmt *m = md->mgmt;
	unsigned int got;

	for (got = 0; got < n; got++) {
		vec[got] = vqvm_pool_get(m);
		if (vec[got] < 0)
			break;
	}
	if (got == n)
		return 0;
	if (!got) {
		dev_err(md_dev(md),
			"managed device %llu: no free MSI-X pool vector for its queues (all %u in use)\n",
			md->id, m->pool_count);
		return -ENOSPC;
	}
	while (got > 1)
		vqvm_pool_put(m, vec[--got]);
	dev_warn(md_dev(md),
		 "managed device %llu: %u queues share one MSI-X pool vector (pool of %u short)\n",
		 md->id, n, m->pool_count);
	return 1;
}

static int vqvm_vdev_find_vqs(struct virtio_device *vdev, unsigned int nvqs,
			      struct virtqueue *vqs[], vq_callback_t *callbacks[],
			      const char * const names[], const bool *ctx,
			      struct irq_affinity *desc)
{
	struct vqvm_mdev *md = to_vqvm_mdev(vdev);
	unsigned int i, index = 0, nirq = 0, next = 0;
	bool shared = false;
	int *vec, vi, err;

	for (i = 0; i < nvqs; i++)
		if (names[i] && callbacks[i])
			nirq++;
	vec = kmalloc_array(max(nirq, 1U), sizeof(*vec), GFP_KERNEL);
	if (!vec)
		return -ENOMEM;
	err = vqvm_take_vectors(md, vec, nirq);
	if (err < 0)
		goto out;
	if (err == 1) {
		shared = true;
		md->shared_irq.pool_idx = vec[0];	/* del_vqs gives it back */
	}

	for (i = 0; i < nvqs; i++) {
		if (!names[i]) {
			vqs[i] = NULL;
			continue;
		}
		vi = callbacks[i] && !shared ? vec[next++] : -1;
		vqs[i] = vqvm_setup_vq(md, index++, callbacks[i], names[i], ctx ? ctx[i] : false,
				       vi, shared && callbacks[i]);
		if (IS_ERR(vqs[i])) {
			err = PTR_ERR(vqs[i]);
			dev_err(md_dev(md), "managed device %llu: queue %u (%s): %d\n",
				md->id, index - 1, names[i], err);
			goto fail;
		}
	}
	if (shared) {
		err = vqvm_irq_setup(&md->shared_irq, vqvm_vqs_interrupt, md, "virtqueues");
		if (err) {
			dev_err(md_dev(md), "managed device %llu: shared queue interrupt: %d\n",
				md->id, err);
			goto fail;
		}
	}

	if (desc)
		vqvm_spread_vqs(md, desc, nvqs);

	/* Config changes: one more pool vector, if the pool and the budget allow (7.3). */
	md->config_irq.pool_idx = vqvm_pool_get(md->mgmt);
	err = md->config_irq.pool_idx < 0 ? -ENOSPC :
	      vqvm_irq_setup(&md->config_irq, vqvm_config_changed, md, "config");
	if (err) {
		dev_warn(md_dev(md), "managed device %llu: no config interrupt: %d\n",
			 md->id, err);
		vqvm_irq_teardown(&md->config_irq, md);
	}
	err = 0;
	goto out;
fail:
	/* Vectors not handed to a queue yet go back; del_vqs returns the others. */
	while (!shared && next < nirq)
		vqvm_pool_put(md->mgmt, vec[next++]);
	vqvm_vdev_del_vqs(vdev);
out:
	kfree(vec);
	md->bringup_err = err;
	return err;
}

/*
 * Per-queue reset (VIRTIO_F_RING_RESET): VQ_RESET (6.18, 7.5) returns once the
 * device has let go of the queue's rings and buffers and raises no more interrupts
 * for it; its MSI entry keeps its message. Then no handler may look at the ring
 * until enable_vq_after_reset (virtqueue_resize() replaces it in between).
 */
static int vqvm_vdev_disable_vq_and_reset(struct virtqueue *vq)
{
	struct vqvm_vq_info *info = vq->priv;
	struct vqvm_mdev *md = info->irq.md;
	struct vqvm_tvq_vq_index qi = { .queue_index = cpu_to_le16(vq->index) };
	int err;

	if (!virtio_has_feature(vq->vdev, VIRTIO_F_RING_RESET))
		return -ENOENT;
	err = vqvm_md_cmd(md, VQVM_CLASS_VQ_RESET, VQVM_VQ_RESET_RESET, &qi, sizeof(qi), NULL, 0);
	if (err) {
		dev_err(md_dev(md), "managed device %llu: VQ_RESET of queue %u: %d\n",
			md->id, vq->index, err);
		return err;
	}
	info->enabled = false;
	WRITE_ONCE(info->reset, true);
	if (info->irq.requested)
		synchronize_irq(info->irq.irq);
	else if (info->shared && md->shared_irq.requested)
		synchronize_irq(md->shared_irq.irq);
	vq->reset = true;
	return 0;
}

static int vqvm_vdev_enable_vq_after_reset(struct virtqueue *vq)
{
	struct vqvm_vq_info *info = vq->priv;
	struct vqvm_mdev *md = info->irq.md;
	int err;

	if (!vq->reset)
		return -EBUSY;
	/* The ring is whole again: interrupts for it may come as soon as it runs. */
	WRITE_ONCE(info->reset, false);
	err = vqvm_vq_activate(info);
	if (err) {
		dev_err(md_dev(md), "managed device %llu: queue %u after reset: %d\n",
			md->id, vq->index, err);
		return err;
	}
	vq->reset = false;
	return 0;
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
	.disable_vq_and_reset = vqvm_vdev_disable_vq_and_reset,
	.enable_vq_after_reset = vqvm_vdev_enable_vq_after_reset,
};
