/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vqvm_mgmt: driver of vqvm's management device. Internal interfaces between
 * vqvm_main.c (the PCI function, its two queues, commands, device list, sysfs)
 * and vqvm_vdev.c (a struct virtio_device per managed device, whose transport
 * is the transportq).
 */
#ifndef VQVM_MGMT_H
#define VQVM_MGMT_H

#include <linux/cpumask.h>
#include <linux/interrupt.h>
#include <linux/list.h>
#include <linux/msi.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/spinlock.h>
#include <linux/virtio.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "vqvm_tvq.h"

/* One of the management device's own queues (transportq or adminq). */
struct vqvm_cq {
	struct virtqueue *vq;
	spinlock_t lock;		/* vq, and the commands' done/abandoned state */
	wait_queue_head_t space;	/* woken whenever buffers come back */
	const char *name;
};

struct vqvm_mgmt {
	struct pci_dev *pdev;
	void __iomem *bar0;
	void __iomem *common;
	void __iomem *isr;
	void __iomem *devcfg;
	void __iomem *notify;
	u32 notify_mult;
	void __iomem *doorbells;	/* the whole doorbell BAR */
	resource_size_t doorbell_len;

	/* Device configuration, constant for the VM's life */
	u32 max_managed;
	u16 pool_first;			/* first MSI-X entry of the pool */
	u16 pool_size_dev;		/* pool entries the device has */
	u32 doorbell_stride;
	u32 removal_timeout_ms;

	/*
	 * The features negotiated, held in a virtio_device never registered, which
	 * vring_create_virtqueue() needs for the two queues of the function itself.
	 */
	struct virtio_device vdev;
	struct vqvm_cq tq;		/* queue 0: transportq */
	struct vqvm_cq aq;		/* queue 1: adminq */

	/* MSI-X: entries [0, pool_first) are ours, then pool_count pool vectors */
	unsigned int nvec;
	unsigned int pool_count;
	unsigned long *pool_map;	/* set: pool vector in use */
	spinlock_t pool_lock;
	bool irqs_requested;

	/* Managed devices: list of struct vqvm_mdev, all under lock */
	struct mutex lock;
	struct list_head devices;
	bool scanned;
	u32 generation;			/* managed_generation at the last scan */
	u64 last_created;
	struct work_struct rescan_work;
	bool removing;
	bool dead;			/* no more commands: the function is going away */
};

/*
 * The interrupt of a queue of a managed device, of its config changes, or the
 * one pool vector all its queues share when the pool is short (shared).
 */
struct vqvm_irq {
	struct vqvm_mdev *md;
	int pool_idx;			/* -1: none */
	unsigned int irq;
	bool requested;
	bool notifier;
	bool msi_set;			/* told to the device with MSI VQ_SET/CONFIG_SET */
	bool is_config;
	bool shared;			/* serves every queue with vqvm_vq_info.shared */
	bool hint_alloc;
	u16 queue_index;
	struct msi_msg msg;		/* last message sent */
	struct work_struct msg_work;	/* send a message that changed */
	struct irq_affinity_notify notify;
	cpumask_var_t hint;
	char name[48];
};

struct vqvm_vq_info {
	struct list_head node;
	struct virtqueue *vq;
	struct vqvm_irq irq;
	bool enabled;
	bool spread;			/* irq.hint holds the CPUs blk-mq maps to it */
	bool shared;			/* its interrupt is the device's shared_irq */
	bool reset;			/* VQ_RESET done, not enabled again: handlers skip it */
};

struct vqvm_mdev {
	struct virtio_device vdev;
	struct vqvm_mgmt *mgmt;
	struct list_head node;		/* in mgmt->devices */
	u64 id;
	u32 type;			/* virtio device id */
	u16 num_queues;
	u16 slot;
	u8 origin;
	bool gone;			/* destroyed by the host: send nothing more */
	int bringup_err;		/* why the last find_vqs failed, else 0 */
	u8 status;			/* last status written (0 after a reset) */
	void __iomem *doorbell;
	struct list_head vqs;		/* struct vqvm_vq_info */
	struct mutex msi_lock;		/* serializes MSI messages sent */
	struct vqvm_irq config_irq;
	struct vqvm_irq shared_irq;	/* pool_idx -1 unless the queues share a vector */
	char backend[32];
};

static inline struct vqvm_mdev *to_vqvm_mdev(struct virtio_device *vdev)
{
	return container_of(vdev, struct vqvm_mdev, vdev);
}

/* vqvm_main.c */
int vqvm_tvq_cmd(struct vqvm_mgmt *m, u64 device_id, u16 class, u16 command,
		 const void *out, size_t out_len, void *in, size_t in_len);
int vqvm_adm_cmd(struct vqvm_mgmt *m, u16 command, u16 dst_type, u64 vdev_id,
		 const void *data, size_t data_len, void *result, size_t result_len,
		 size_t *written);
int vqvm_pool_get(struct vqvm_mgmt *m);
void vqvm_pool_put(struct vqvm_mgmt *m, int idx);
unsigned int vqvm_pool_irq(struct vqvm_mgmt *m, int idx);

/* vqvm_vdev.c */
extern const struct virtio_config_ops vqvm_vdev_config_ops;
void vqvm_vdev_release(struct device *dev);

#endif /* VQVM_MGMT_H */
