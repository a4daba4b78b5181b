/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake two-queue virtio device model with 16 bytes of config, for transport tests
 * (test_virtio_pci.c, test_managed.c): it offers f->features, keeps its config in
 * f->config and counts what the transport asks of it. A config access beyond the 16
 * bytes does nothing but tell f->misuse (which may abort the test).
 *
 * The ops are exported one by one, for a test to make the model it needs (with or
 * without queue_reset and queue_stop): FAKE_DEV_MANDATORY_OPS, then the optional ones.
 */
#ifndef VQVM_TESTS_FAKE_DEV_H
#define VQVM_TESTS_FAKE_DEV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/evloop.h"
#include "lib/guest_mem.h"
#include "virtio/device.h"

#define FAKE_DEV_NQ 2
#define FAKE_DEV_CFG_SIZE 16

struct fake_dev {
	struct virtio_device dev;
	struct virtqueue vqs[FAKE_DEV_NQ];
	uint8_t config[FAKE_DEV_CFG_SIZE];
	uint64_t features; /* offered */
	void (*misuse)(void *opaque, const char *what);
	void *misuse_opaque;
	int resets, activates, activate_ret, config_reads;
	int queue_resets[FAKE_DEV_NQ], queue_stops[FAKE_DEV_NQ];
	bool active_at_stop[FAKE_DEV_NQ]; /* vq->active when queue_stop was called */
	atomic_int notifies[FAKE_DEV_NQ];
	atomic_int foreign_notifies; /* queue_notify off the queue's own loop thread */
};

/*
 * f zeroed, then a device called name of type `type` with ops, its queues (of qmax
 * entries at most) on mem and loop, offering features, config byte i 0xc0 + i. misuse
 * (with opaque) is told of a transport's config access beyond the config; NULL: nobody.
 */
void fake_dev_init(struct fake_dev *f, const char *name, uint32_t type,
		   const struct virtio_device_ops *ops, uint64_t features, uint16_t qmax,
		   struct guest_mem *mem, struct evloop *loop,
		   void (*misuse)(void *opaque, const char *what), void *opaque);

uint64_t fake_dev_features(struct virtio_device *dev);
void fake_dev_config_read(struct virtio_device *dev, uint32_t off, void *buf, uint32_t len);
void fake_dev_config_write(struct virtio_device *dev, uint32_t off, const void *buf,
			   uint32_t len);
int fake_dev_activate(struct virtio_device *dev);         /* activate_ret */
void fake_dev_queue_notify(struct virtio_device *dev, unsigned int q);
void fake_dev_reset(struct virtio_device *dev);
void fake_dev_queue_reset(struct virtio_device *dev, unsigned int q);
void fake_dev_queue_stop(struct virtio_device *dev, unsigned int q);

#define FAKE_DEV_MANDATORY_OPS                                                         \
	.features = fake_dev_features, .config_read = fake_dev_config_read,                \
	.config_write = fake_dev_config_write, .activate = fake_dev_activate,              \
	.queue_notify = fake_dev_queue_notify, .reset = fake_dev_reset

#endif
