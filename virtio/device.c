/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every transport checks before it serves a device model (device.h). One place,
 * so that virtio-pci and the management device refuse the same broken models.
 */
#include "virtio/device.h"

static bool virtio_ops_complete(const struct virtio_device_ops *ops)
{
	return ops && ops->features && ops->config_read && ops->config_write &&
	       ops->activate && ops->queue_notify && ops->reset;
}

static bool hv_ops_complete(const struct hv *hv)
{
	return hv && hv->ops && hv->ops->ioeventfd && hv->ops->msi_route_add &&
	       hv->ops->msi_route_update && hv->ops->msi_route_del && hv->ops->irqfd;
}

int virtio_transport_check(const struct virtio_device *dev, const struct hv *hv,
			   unsigned int max_queues, uint32_t max_config, struct err *e)
{
	if (!virtio_ops_complete(dev->ops))
		return err_set(e, "%s: incomplete device ops", dev->name);
	if (!hv_ops_complete(hv))
		return err_set(e, "%s: incomplete hypervisor ops", dev->name);
	if (!dev->nr_queues || dev->nr_queues > max_queues || !dev->vqs)
		return err_set(e, "%s: %u queues (1 to %u supported)", dev->name, dev->nr_queues,
			       max_queues);
	if (dev->config_size > max_config)
		return err_set(e, "%s: %u bytes of config space (at most %u)", dev->name,
			       dev->config_size, max_config);
	if (!dev->loop || !dev->mem)
		return err_set(e, "%s: no event loop or guest memory", dev->name);
	for (unsigned int i = 0; i < dev->nr_queues; i++) {
		uint16_t max = dev->vqs[i].max_size;

		/* Split rings need a power of two (Linux refuses anything else). */
		if (!max || (max & (max - 1)) || max > VQ_MAX_SIZE)
			return err_set(e, "%s: queue %u: bad maximum size %u", dev->name, i, max);
	}
	return 0;
}
