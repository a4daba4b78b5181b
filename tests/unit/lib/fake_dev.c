// SPDX-License-Identifier: Apache-2.0
/* The fake device model of transport tests (fake_dev.h). */
#include "tests/unit/lib/fake_dev.h"

#include <stdio.h>
#include <string.h>

void fake_dev_init(struct fake_dev *f, const char *name, uint32_t type,
		   const struct virtio_device_ops *ops, uint64_t features, uint16_t qmax,
		   struct guest_mem *mem, struct evloop *loop,
		   void (*misuse)(void *opaque, const char *what), void *opaque)
{
	memset(f, 0, sizeof(*f));
	f->dev = (struct virtio_device){
		.name = name, .device_type = type, .ops = ops, .priv = f,
		.config_size = FAKE_DEV_CFG_SIZE, .nr_queues = FAKE_DEV_NQ, .vqs = f->vqs,
		.mem = mem, .loop = loop,
	};
	for (unsigned int q = 0; q < FAKE_DEV_NQ; q++)
		f->vqs[q].max_size = qmax;
	for (unsigned int i = 0; i < FAKE_DEV_CFG_SIZE; i++)
		f->config[i] = 0xc0 + i;
	f->features = features;
	f->misuse = misuse;
	f->misuse_opaque = opaque;
}

/* Whether [off, off + len) is config; if not, misuse is told. */
static bool in_config(struct fake_dev *f, const char *op, uint32_t off, uint32_t len)
{
	char what[96];

	if ((uint64_t)off + len <= FAKE_DEV_CFG_SIZE)
		return true;
	snprintf(what, sizeof(what), "config %s of %u bytes at %u: beyond the %u bytes", op,
		 len, off, FAKE_DEV_CFG_SIZE);
	if (f->misuse)
		f->misuse(f->misuse_opaque, what);
	return false;
}

uint64_t fake_dev_features(struct virtio_device *dev)
{
	return ((struct fake_dev *)dev->priv)->features;
}

void fake_dev_config_read(struct virtio_device *dev, uint32_t off, void *buf, uint32_t len)
{
	struct fake_dev *f = dev->priv;

	if (!in_config(f, "read", off, len))
		return;
	f->config_reads++;
	memcpy(buf, f->config + off, len);
}

void fake_dev_config_write(struct virtio_device *dev, uint32_t off, const void *buf,
			   uint32_t len)
{
	struct fake_dev *f = dev->priv;

	if (in_config(f, "write", off, len))
		memcpy(f->config + off, buf, len);
}

int fake_dev_activate(struct virtio_device *dev)
{
	struct fake_dev *f = dev->priv;

	f->activates++;
	return f->activate_ret;
}

void fake_dev_queue_notify(struct virtio_device *dev, unsigned int q)
{
	struct fake_dev *f = dev->priv;

	if (!evloop_on_thread(virtio_queue_loop(dev, q)))
		atomic_fetch_add(&f->foreign_notifies, 1);
	atomic_fetch_add(&f->notifies[q], 1);
}

void fake_dev_reset(struct virtio_device *dev)
{
	((struct fake_dev *)dev->priv)->resets++;
}

void fake_dev_queue_reset(struct virtio_device *dev, unsigned int q)
{
	((struct fake_dev *)dev->priv)->queue_resets[q]++;
}

void fake_dev_queue_stop(struct virtio_device *dev, unsigned int q)
{
	struct fake_dev *f = dev->priv;

	f->queue_stops[q]++;
	f->active_at_stop[q] = dev->vqs[q].active;
}
