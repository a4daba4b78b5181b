/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The management device (docs/transport-vq.md sections 2-5 and 9): its PCI function is
 * virtio-pci's (virtio/pci.c with options: its own identity, a silent MSI-X pool, BAR2
 * of doorbell pages), around a device model of its own whose two queues carry the
 * transportq (mgmt_tvq.c) and adminq (mgmt_admin.c) commands. This file owns the model,
 * the queues, the worker threads, the management device's reset and the host API.
 *
 * Threads:
 *   - vCPU threads: config reads, status writes (activate, reset) through pci.c;
 *     BAR2 moves (bar_remapped) under the PCI host lock.
 *   - the "mgmt" loop thread: kicks of queues 0 and 1; pops chains, runs checks 2-7 of
 *     6.4 and hands commands to the workers; removal timers.
 *   - MGMT_WORKERS worker threads: run jobs from m->jobs, in order: a command with
 *     device_id 0 or an adminq command (unordered), or a managed device's runner, which
 *     does one thing for that device (a forced destruction, a doorbell move, its next
 *     command) and queues itself again, so one device's commands run one at a time in
 *     available-ring order while other devices' commands pass them (5.3).
 *   - API threads: mgmt_add_backend, mgmt_remove, mgmt_list (mgmt_host.c).
 *
 * Locks, in the order they are taken:
 *   PCI host lock -> vp->lock (pci.c) -> mq->lock -> m->create_lock -> vd->mgmt_lock
 *     -> m->lock -> vp->irq_lock (pci.c) -> hv
 *   - mq->lock (one per queue) guards the virtqueue, mq->live and mq->pushed: the loop
 *     pops under it, workers push replies under it. It is held across a chain's
 *     dispatch, so a reset that cleared live knows nothing more is taken from the ring.
 *   - m->create_lock makes creations one at a time, so that ids have no gaps.
 *   - vd->mgmt_lock makes DEVICE_MGMT assigns of one device one at a time.
 *   - m->lock guards the job list, the pause, slots, ids, the backend pool, the MSI pool
 *     accounting, the BAR2 placement and the mgmt_vdev fields (not vd->md's insides).
 *     It is a short-held leaf for us: nothing that may wait (managed.c, a model, pci.c's
 *     interrupts) is called with it held, except condition waits on it.
 * managed.c is called with none of our locks held but the create and DEVICE_MGMT locks;
 * its own locks come after them. Nothing here takes vp->lock, so a worker never waits
 * for a vCPU. A vCPU waits for the workers only in the management device's own reset
 * (status 0), as virtio-pci's reset waits for a device's I/O.
 *
 * Lifetime of a managed device (struct mgmt_vdev): in m->slot[] from its creation until
 * its teardown has released the slot. "gone" makes its id invalid first; adminq and API
 * users hold references (users) that teardown waits for; the runner frees it once it
 * is gone, torn down and has nothing queued.
 */
#include "virtio/mgmt.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "virtio/mgmt_int.h"

#define MGMT_LOOP_ENTRIES 64

/* ---- jobs and workers ---- */

void mgmt_job_queue(struct mgmt *m, struct mgmt_job *job)
{
	job->next = NULL;
	*m->jobs_tail = job;
	m->jobs_tail = &job->next;
	pthread_cond_signal(&m->work_cond);
}

static struct mgmt_job *mgmt_job_take(struct mgmt *m)
{
	struct mgmt_job *job = m->jobs;

	m->jobs = job->next;
	if (!m->jobs)
		m->jobs_tail = &m->jobs;
	return job;
}

static void *mgmt_worker(void *arg)
{
	struct mgmt *m = arg;

	pthread_mutex_lock(&m->lock);
	for (;;) {
		struct mgmt_job *job;

		while (!m->quit && (m->paused || !m->jobs))
			pthread_cond_wait(&m->work_cond, &m->lock);
		if (m->quit)
			break;
		job = mgmt_job_take(m);
		m->running++;
		pthread_mutex_unlock(&m->lock);
		job->run(m, job);
		pthread_mutex_lock(&m->lock);
		if (!--m->running)
			pthread_cond_broadcast(&m->idle_cond);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* m->lock held: no job starts from now on, and none is running when this returns. */
static void mgmt_pause(struct mgmt *m)
{
	m->paused = true;
	while (m->running)
		pthread_cond_wait(&m->idle_cond, &m->lock);
}

static void mgmt_resume(struct mgmt *m)
{
	m->paused = false;
	pthread_cond_broadcast(&m->work_cond);
}

/* ---- counters ---- */

const char *const mgmt_tvq_class_names[MGMT_TVQ_CLASSES] = {
	"other", "vdev", "avail_res", "feat", "status", "generation", "config", "msi",
	"vq_addr", "vq_enable", "vq_size", "vq_notify", "vq_avail_index", "vq_reset", "asid",
};
const char *const mgmt_tvq_ack_names[MGMT_TVQ_ACKS] = {
	"ok", "eio", "eagain", "ebusy", "enodev", "einval", "enospc", "eopnotsupp", "err",
};
/* The ack of each mgmt_tvq_ack_names entry; any other counts as the last, ERR. */
static const uint32_t mgmt_tvq_acks[MGMT_TVQ_ACKS] = {
	TVQ_ACK_OK, TVQ_ACK_EIO, TVQ_ACK_EAGAIN, TVQ_ACK_EBUSY, TVQ_ACK_ENODEV,
	TVQ_ACK_EINVAL, TVQ_ACK_ENOSPC, TVQ_ACK_EOPNOTSUPP, TVQ_ACK_ERR,
};
const char *const mgmt_admin_command_names[MGMT_ADMIN_COMMANDS] = {
	"device_identify", "subsystem_identify", "device_info", "device_mgmt",
	"device_mgmt_caps", "device_mgmt_attrs", "managed_device_list", "other",
};
const char *const mgmt_admin_status_names[MGMT_ADMIN_STATUSES] = {
	"ok", "cs_err", "invalid_command", "invalid_field", "invalid_vdev_id",
};

_Static_assert(MGMT_TVQ_CLASSES == TVQ_CLASS_MAX + 1, "a counter per class, and 0");
_Static_assert(MGMT_ADMIN_COMMANDS == TVQ_ADMIN_CMD_MANAGED_DEVICE_LIST + 2,
	       "a counter per admin command, and the others");
_Static_assert(MGMT_ADMIN_STATUSES == TVQ_ADMIN_STATUS_INVALID_VDEV_ID + 1,
	       "a counter per admin status");

static unsigned int mgmt_tvq_ack_index(uint32_t ack)
{
	unsigned int i = 0;

	while (i < MGMT_TVQ_ACKS - 1 && mgmt_tvq_acks[i] != ack)
		i++;
	return i;
}

/* Count a command by its request header (if it has one) and its reply header. */
static void mgmt_cmd_count(struct mgmt *m, const struct mgmt_cmd *c)
{
	if (c->queue == TVQ_QUEUE_ADMINQ) {
		const struct tvq_admin_req_hdr *h = (const void *)c->req;
		const struct tvq_admin_reply_hdr *rh = (const void *)c->reply;
		unsigned int cmd = c->req_len >= sizeof(*h) ? le16toh(h->command) : ~0U;
		unsigned int st = rh->status < MGMT_ADMIN_STATUSES ? rh->status : 0;

		if (cmd >= MGMT_ADMIN_COMMANDS)
			cmd = MGMT_ADMIN_COMMANDS - 1;
		stats_add(&m->admin_statuses[cmd][st], 1);
	} else {
		const struct tvq_req_hdr *h = (const void *)c->req;
		const struct tvq_reply_hdr *rh = (const void *)c->reply;
		unsigned int class = c->req_len >= sizeof(*h) ? le16toh(h->class) : 0;

		if (class >= MGMT_TVQ_CLASSES)
			class = 0;
		stats_add(&m->tvq_acks[class][mgmt_tvq_ack_index(le32toh(rh->ack))], 1);
	}
}

void mgmt_get_stats(struct mgmt *m, struct mgmt_stats *out)
{
	for (unsigned int i = 0; i < MGMT_TVQ_CLASSES; i++)
		for (unsigned int j = 0; j < MGMT_TVQ_ACKS; j++)
			out->transportq[i][j] = stats_get(&m->tvq_acks[i][j]);
	for (unsigned int i = 0; i < MGMT_ADMIN_COMMANDS; i++)
		for (unsigned int j = 0; j < MGMT_ADMIN_STATUSES; j++)
			out->adminq[i][j] = stats_get(&m->admin_statuses[i][j]);
	out->transportq_unanswered = stats_get(&m->unanswered[TVQ_QUEUE_TRANSPORTQ]);
	out->adminq_unanswered = stats_get(&m->unanswered[TVQ_QUEUE_ADMINQ]);
	virtio_pci_irq_stats(m->vp, &out->irqs);
}

/* ---- commands ---- */

static void mgmt_cmd_free(struct mgmt_cmd *c)
{
	free(c->in_iov);
	free(c->reply);
	free(c);
}

/* mq->lock held, queue live: scatter the reply into the writable buffers, return it. */
static void mgmt_cmd_push(struct mgmt *m, struct mgmt_cmd *c)
{
	struct virtqueue *vq = &m->vqs[c->queue];
	size_t done = 0;

	for (unsigned int i = 0; i < c->nr_in && done < c->used; i++) {
		size_t n = c->in_iov[i].iov_len;

		if (n > c->used - done)
			n = c->used - done;
		memcpy(c->in_iov[i].iov_base, c->reply + done, n);
		done += n;
	}
	vq_push(vq, c->head, c->used);
	m->q[c->queue].pushed = true;
}

/* mq->lock held, after pushes: the interrupt, if the driver wants one for them. */
static void mgmt_queue_signal(struct mgmt *m, unsigned int q)
{
	if (!m->q[q].pushed)
		return;
	m->q[q].pushed = false;
	if (vq_should_notify(&m->vqs[q]))
		m->dev.transport->queue_interrupt(&m->dev, q);
}

/* mq->lock held: return a chain without a reply. */
static void mgmt_push_empty(struct mgmt *m, unsigned int q, uint16_t head)
{
	stats_add(&m->unanswered[q], 1);
	vq_push(&m->vqs[q], head, 0);
	m->q[q].pushed = true;
}

/*
 * A reset that ran while the command executed (live cleared) wants no reply: the
 * effects stand, the ring is the next driver's (5.4).
 */
void mgmt_cmd_complete(struct mgmt *m, struct mgmt_cmd *c)
{
	struct mgmt_queue *mq = &m->q[c->queue];

	mgmt_cmd_count(m, c);
	pthread_mutex_lock(&mq->lock);
	if (mq->live) {
		mgmt_cmd_push(m, c);
		mgmt_queue_signal(m, c->queue);
	}
	pthread_mutex_unlock(&mq->lock);
	mgmt_cmd_free(c);
}

static void mgmt_cmd_job(struct mgmt *m, struct mgmt_job *job)
{
	struct mgmt_cmd *c = container_of(job, struct mgmt_cmd, job);

	if (c->queue == TVQ_QUEUE_ADMINQ)
		mgmt_admin_run(m, job);
	else
		mgmt_tvq_run(m, job);
}

/* Copy the device-readable bytes (at most MGMT_REQ_MAX of them) into the command. */
static void mgmt_gather(struct mgmt_cmd *c, const struct vq_chain *ch)
{
	size_t done = 0;

	c->req_len = ch->out_len;
	for (unsigned int i = 0; i < ch->nr_out && done < sizeof(c->req); i++) {
		size_t n = ch->iov[i].iov_len;

		if (n > sizeof(c->req) - done)
			n = sizeof(c->req) - done;
		memcpy(c->req + done, ch->iov[i].iov_base, n);
		done += n;
	}
}

static size_t mgmt_reply_hdr(unsigned int q)
{
	return q == TVQ_QUEUE_ADMINQ ? sizeof(struct tvq_admin_reply_hdr)
				     : sizeof(struct tvq_reply_hdr);
}

static size_t mgmt_reply_max(unsigned int q)
{
	size_t data = q == TVQ_QUEUE_ADMINQ ? MGMT_ADMIN_RESULT_MAX : MGMT_TVQ_IN_MAX;

	return mgmt_reply_hdr(q) + data;
}

static struct mgmt_cmd *mgmt_cmd_new(unsigned int q, const struct vq_chain *ch)
{
	struct mgmt_cmd *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->queue = q;
	c->head = ch->head;
	c->job.run = mgmt_cmd_job;
	c->nr_in = ch->nr_in;
	c->in_len = ch->in_len;
	c->reply_cap = c->in_len < mgmt_reply_max(q) ? c->in_len : mgmt_reply_max(q);
	c->in_iov = calloc(ch->nr_in, sizeof(*c->in_iov));
	c->reply = calloc(1, c->reply_cap);
	if (!c->in_iov || !c->reply) {
		mgmt_cmd_free(c);
		return NULL;
	}
	memcpy(c->in_iov, ch->iov + ch->nr_out, ch->nr_in * sizeof(*c->in_iov));
	mgmt_gather(c, ch);
	return c;
}

/*
 * mq->lock held. A reply buffer under the reply header gets used length 0 and nothing
 * else (5.2); a chain we cannot hold (out of memory, too many buffers) too.
 */
static void mgmt_take_chain(struct mgmt *m, unsigned int q, const struct vq_chain *ch)
{
	struct mgmt_cmd *c = NULL;

	if (ch->in_len >= mgmt_reply_hdr(q))
		c = mgmt_cmd_new(q, ch);
	if (!c) {
		if (ch->in_len >= mgmt_reply_hdr(q))
			log_err("%s: queue %u: out of memory: command dropped", MGMT_NAME, q);
		mgmt_push_empty(m, q, ch->head);
		return;
	}
	if (q == TVQ_QUEUE_TRANSPORTQ && !mgmt_tvq_dispatch(m, c)) {
		mgmt_cmd_count(m, c);
		mgmt_cmd_push(m, c);
		mgmt_cmd_free(c);
		return;
	}
	if (q == TVQ_QUEUE_ADMINQ) {
		pthread_mutex_lock(&m->lock);
		mgmt_job_queue(m, &c->job);
		pthread_mutex_unlock(&m->lock);
	}
}

/* mq->lock held: 1 a chain was taken, 0 the ring is empty, -1 the queue broke. */
static int mgmt_pop(struct mgmt *m, unsigned int q, struct iovec *iov)
{
	struct vq_chain ch;
	int ret = vq_pop(&m->vqs[q], &ch, iov, MGMT_MAX_IOV);

	if (ret == -ENOBUFS) {
		mgmt_push_empty(m, q, ch.head);
		return 1;
	}
	if (ret <= 0)
		return ret < 0 ? -1 : 0;
	mgmt_take_chain(m, q, &ch);
	return 1;
}

/* On the management device's loop thread. */
static void mgmt_queue_notify(struct virtio_device *dev, unsigned int q)
{
	struct mgmt *m = dev->priv;
	struct mgmt_queue *mq = &m->q[q];
	struct virtqueue *vq = &m->vqs[q];
	int ret = 0;

	pthread_mutex_lock(&mq->lock);
	if (!mq->live || vq->broken)
		goto out;
	do {
		vq_disable_notify(vq);
		while ((ret = mgmt_pop(m, q, m->iov)) > 0)
			;
	} while (!ret && vq_enable_notify(vq));
	mgmt_queue_signal(m, q);
	if (ret < 0) {
		log_warn("%s: queue %u broke the virtqueue rules: needs reset", MGMT_NAME, q);
		dev->transport->needs_reset(dev);
	}
out:
	pthread_mutex_unlock(&mq->lock);
}

/* ---- managed devices (m->lock held unless said otherwise) ---- */

struct mgmt_vdev *mgmt_vd_find(struct mgmt *m, uint64_t id)
{
	if (!id)
		return NULL;
	for (unsigned int s = 0; s < m->p.max_managed; s++) {
		struct mgmt_vdev *vd = m->slot[s];

		if (vd && vd->id == id && !vd->gone)
			return vd;
	}
	return NULL;
}

/* No lock held: a reference that keeps vd->md alive (teardown waits for it). */
struct mgmt_vdev *mgmt_vd_get(struct mgmt *m, uint64_t id)
{
	struct mgmt_vdev *vd;

	pthread_mutex_lock(&m->lock);
	vd = mgmt_vd_find(m, id);
	if (vd)
		vd->users++;
	pthread_mutex_unlock(&m->lock);
	return vd;
}

void mgmt_vd_put(struct mgmt_vdev *vd)
{
	struct mgmt *m = vd->m;

	pthread_mutex_lock(&m->lock);
	if (!--vd->users)
		pthread_cond_broadcast(&m->users_cond);
	pthread_mutex_unlock(&m->lock);
}

static bool mgmt_vd_has_work(const struct mgmt_vdev *vd)
{
	return vd->force_destroy || vd->bar_dirty || vd->fifo;
}

static void mgmt_vd_free(struct mgmt_vdev *vd)
{
	pthread_mutex_destroy(&vd->mgmt_lock);
	free(vd);
}

/*
 * A device's runner: one step, then queue itself again if there is more. A forced
 * destruction goes first, then a doorbell move (so every later command sees the
 * doorbells where the BAR is), then the next command.
 */
static void mgmt_vd_run(struct mgmt *m, struct mgmt_job *job)
{
	struct mgmt_vdev *vd = container_of(job, struct mgmt_vdev, job);
	struct mgmt_cmd *c = NULL;
	bool force, bar, mapped = false, dead;
	uint64_t addr = 0;

	pthread_mutex_lock(&m->lock);
	force = vd->force_destroy;
	vd->force_destroy = false;
	bar = !force && vd->bar_dirty;
	if (bar) {
		vd->bar_dirty = false;
		addr = m->bar_addr;
		mapped = m->bar_mapped;
	}
	if (!force && !bar && vd->fifo) {
		c = vd->fifo;
		vd->fifo = c->next;
		if (!vd->fifo)
			vd->fifo_tail = &vd->fifo;
	}
	pthread_mutex_unlock(&m->lock);

	if (force && vd->md) {
		mgmt_vdev_quiesce(vd);
		mgmt_vdev_teardown(vd);
	}
	else if (bar && vd->md)
		managed_doorbell_bar(vd->md, addr, mapped);
	else if (c)
		mgmt_tvq_exec_vd(vd, c);

	pthread_mutex_lock(&m->lock);
	if (mgmt_vd_has_work(vd))
		mgmt_job_queue(m, &vd->job);
	else
		vd->scheduled = false;
	dead = !vd->scheduled && vd->gone && !vd->md;
	pthread_mutex_unlock(&m->lock);
	if (dead)
		mgmt_vd_free(vd);
}

void mgmt_vd_schedule(struct mgmt_vdev *vd)
{
	if (vd->scheduled || !mgmt_vd_has_work(vd))
		return;
	vd->scheduled = true;
	vd->job.run = mgmt_vd_run;
	mgmt_job_queue(vd->m, &vd->job);
}

uint16_t mgmt_default_budget(const struct mgmt *m, const struct virtio_device *dev)
{
	unsigned int b = dev->nr_queues + 1;

	return b < m->per_device_max ? b : m->per_device_max;
}

uint64_t mgmt_features(struct mgmt *m)
{
	uint64_t f;

	pthread_mutex_lock(&m->lock);
	f = m->features;
	pthread_mutex_unlock(&m->lock);
	return f;
}

/*
 * The set of managed devices changed or a removal was requested (section 3). Before a
 * driver first negotiated nothing changes: managed_generation is 0 at start with the
 * pre-created devices in place.
 */
void mgmt_changed(struct mgmt *m)
{
	bool seen;

	pthread_mutex_lock(&m->lock);
	seen = m->driver_seen;
	pthread_mutex_unlock(&m->lock);
	if (!seen)
		return;
	__atomic_add_fetch(&m->generation, 1, __ATOMIC_RELEASE);
	m->dev.transport->config_interrupt(&m->dev);
}

/* ---- the management device's model (virtio/device.h) ---- */

static uint64_t mgmt_dev_features(struct virtio_device *dev)
{
	/* pci.c adds VIRTIO_COMMON_FEATURES and drops RING_RESET (no queue_reset op). */
	return TVQ_MGMT_FEATURES & ~VIRTIO_COMMON_FEATURES;
}

static void mgmt_config_read(struct virtio_device *dev, uint32_t off, void *buf, uint32_t len)
{
	struct mgmt *m = dev->priv;
	struct tvq_mgmt_config cfg = {
		.max_managed = htole32(m->p.max_managed),
		.managed_generation =
			htole32(__atomic_load_n(&m->generation, __ATOMIC_ACQUIRE)),
		.msix_pool_first = htole16(TVQ_MSIX_POOL_FIRST),
		.msix_pool_size = htole16(m->p.msix_pool_size),
		.doorbell_bar = TVQ_BAR_DOORBELL,
		.doorbell_stride = htole32(TVQ_DOORBELL_STRIDE),
		.removal_timeout_ms = htole32(m->p.removal_timeout_ms),
	};

	memcpy(buf, (const uint8_t *)&cfg + off, len);
}

/* The device config is read-only (section 3). */
static void mgmt_config_write(struct virtio_device *dev, uint32_t off, const void *buf,
			      uint32_t len)
{
}

/* DRIVER_OK (vCPU thread, vp->lock): the queues the driver enabled take commands. */
static int mgmt_activate(struct virtio_device *dev)
{
	struct mgmt *m = dev->priv;

	for (unsigned int q = 0; q < TVQ_NUM_QUEUES; q++) {
		pthread_mutex_lock(&m->q[q].lock);
		m->q[q].live = m->vqs[q].active;
		pthread_mutex_unlock(&m->q[q].lock);
	}
	pthread_mutex_lock(&m->lock);
	m->features = dev->driver_features;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* m->lock held, paused: commands taken and not started are dropped unanswered. */
static void mgmt_drop_commands(struct mgmt *m)
{
	struct mgmt_job **pp = &m->jobs;

	m->jobs_tail = &m->jobs;
	while (*pp) {
		struct mgmt_job *job = *pp;

		if (job->run != mgmt_cmd_job) {
			pp = &job->next;
			m->jobs_tail = pp;
			continue;
		}
		*pp = job->next;
		mgmt_cmd_free(container_of(job, struct mgmt_cmd, job));
	}
	for (unsigned int s = 0; s < m->p.max_managed; s++) {
		struct mgmt_vdev *vd = m->slot[s];

		while (vd && vd->fifo) {
			struct mgmt_cmd *c = vd->fifo;

			vd->fifo = c->next;
			mgmt_cmd_free(c);
		}
		if (vd)
			vd->fifo_tail = &vd->fifo;
	}
}

/* No lock held: take references to every existing device (out: p.max_managed). */
unsigned int mgmt_vd_get_all(struct mgmt *m, struct mgmt_vdev **out)
{
	unsigned int n = 0;

	pthread_mutex_lock(&m->lock);
	for (unsigned int s = 0; s < m->p.max_managed; s++) {
		struct mgmt_vdev *vd = m->slot[s];

		if (vd && !vd->gone) {
			vd->users++;
			out[n++] = vd;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return n;
}

/*
 * Status 0 (5.4), on a vCPU thread: stop taking commands, let the executing ones
 * finish unanswered, drop the others, and reset every managed device, which stays.
 */
static void mgmt_reset(struct virtio_device *dev)
{
	struct mgmt *m = dev->priv;
	struct mgmt_vdev **vds;
	unsigned int n;

	for (unsigned int q = 0; q < TVQ_NUM_QUEUES; q++) {
		pthread_mutex_lock(&m->q[q].lock);
		m->q[q].live = false;
		pthread_mutex_unlock(&m->q[q].lock);
	}
	pthread_mutex_lock(&m->lock);
	mgmt_pause(m);
	mgmt_drop_commands(m);
	m->features = 0;
	pthread_mutex_unlock(&m->lock);

	vds = calloc(m->p.max_managed, sizeof(*vds));
	n = vds ? mgmt_vd_get_all(m, vds) : 0;
	if (!vds)
		log_err("%s: out of memory: managed devices not reset", MGMT_NAME);
	for (unsigned int i = 0; i < n; i++) {
		managed_reset(vds[i]->md);
		mgmt_vd_put(vds[i]);
	}
	free(vds);

	pthread_mutex_lock(&m->lock);
	mgmt_resume(m);
	pthread_mutex_unlock(&m->lock);
}

static const struct virtio_device_ops mgmt_dev_ops = {
	.features = mgmt_dev_features,
	.config_read = mgmt_config_read,
	.config_write = mgmt_config_write,
	.activate = mgmt_activate,
	.queue_notify = mgmt_queue_notify,
	.reset = mgmt_reset,
};

/* ---- PCI options: BAR2, FEATURES_OK ---- */

/* Kicks are ioeventfds with datamatch; every access that reaches us is ignored (2.4). */
static void mgmt_doorbell_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			     bool is_write)
{
	if (!is_write)
		memset(data, 0, len);
}

/* PCI host lock held (vCPU): every device moves its doorbells before its next command. */
static void mgmt_bar_remapped(void *opaque, uint64_t addr, bool mapped)
{
	struct mgmt *m = opaque;

	pthread_mutex_lock(&m->lock);
	m->bar_addr = addr;
	m->bar_mapped = mapped;
	for (unsigned int s = 0; s < m->p.max_managed; s++) {
		struct mgmt_vdev *vd = m->slot[s];

		if (!vd || !vd->md)
			continue;
		vd->bar_dirty = true;
		if (!m->quit)
			mgmt_vd_schedule(vd);
	}
	pthread_mutex_unlock(&m->lock);
}

/* 4.1: TRNSPT_VQ_VDEV needs TRNSPT_VQ, FEATURE_63_0_MGMT needs ADMIN_VQ. */
static bool mgmt_features_ok(void *opaque, uint64_t f)
{
	struct mgmt *m = opaque;
	static const struct {
		unsigned int bit, needs;
	} deps[] = {
		{ TVQ_F_TRNSPT_VQ_VDEV, TVQ_F_TRNSPT_VQ },
		{ TVQ_F_FEATURE_63_0_MGMT, TVQ_F_ADMIN_VQ },
	};

	for (size_t i = 0; i < sizeof(deps) / sizeof(deps[0]); i++)
		if ((f & (1ULL << deps[i].bit)) && !(f & (1ULL << deps[i].needs)))
			return false;
	pthread_mutex_lock(&m->lock);
	m->driver_seen = true;
	pthread_mutex_unlock(&m->lock);
	return true;
}

static uint64_t pow2_roundup(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static void mgmt_pci_options(struct mgmt *m, struct virtio_pci_options *o)
{
	uint64_t bar = pow2_roundup((uint64_t)m->p.max_managed * TVQ_DOORBELL_STRIDE);

	*o = (struct virtio_pci_options){
		.identity = true,
		.vendor = TVQ_PCI_VENDOR_ID,
		.device = TVQ_PCI_DEVICE_ID,
		.subsys_vendor = TVQ_PCI_SUBSYS_VENDOR_ID,
		.subsys_id = TVQ_PCI_SUBSYS_ID,
		.class_code = TVQ_PCI_CLASS,
		.revision = TVQ_PCI_REVISION,
		.own_vectors = TVQ_MSIX_POOL_FIRST,
		.msix_pool = m->p.msix_pool_size,
		.extra_bar = TVQ_BAR_DOORBELL,
		.extra_bar_size = bar,
		.extra_bar_io = mgmt_doorbell_io,
		.bar_remapped = mgmt_bar_remapped,
		.features_ok = mgmt_features_ok,
		.opaque = m,
	};
}

/* ---- creation ---- */

static int mgmt_check_params(struct mgmt_params *p, struct err *e)
{
	if (!p->max_managed)
		p->max_managed = MGMT_DEFAULT_MAX_MANAGED;
	if (!p->removal_timeout_ms)
		p->removal_timeout_ms = MGMT_DEFAULT_REMOVAL_TIMEOUT_MS;
	if (p->max_managed > TVQ_MAX_MANAGED_LIMIT)
		return err_set(e, "%s: %u managed-device slots (at most %u)", MGMT_NAME,
			       p->max_managed, TVQ_MAX_MANAGED_LIMIT);
	if (p->msix_pool_size > TVQ_MSIX_MAX_ENTRIES - TVQ_MSIX_POOL_FIRST)
		return err_set(e, "%s: MSI-X pool of %u entries (at most %u)", MGMT_NAME,
			       p->msix_pool_size, TVQ_MSIX_MAX_ENTRIES - TVQ_MSIX_POOL_FIRST);
	if (!p->per_device_max_msix || p->per_device_max_msix > p->msix_pool_size)
		p->per_device_max_msix = p->msix_pool_size;
	return 0;
}

static void mgmt_init_model(struct mgmt *m)
{
	m->dev = (struct virtio_device){
		.name = MGMT_NAME, .device_type = 0, .ops = &mgmt_dev_ops, .priv = m,
		.config_size = sizeof(struct tvq_mgmt_config), .nr_queues = TVQ_NUM_QUEUES,
		.vqs = m->vqs, .mem = m->mem, .loop = &m->loop,
	};
	for (unsigned int q = 0; q < TVQ_NUM_QUEUES; q++) {
		m->vqs[q].max_size = TVQ_QUEUE_MAX_SIZE;
		pthread_mutex_init(&m->q[q].lock, NULL);
	}
}

static void *mgmt_loop_thread(void *arg)
{
	struct mgmt *m = arg;
	int ret = evloop_run(&m->loop);

	if (ret)
		log_err("%s: event loop failed: %s", MGMT_NAME, strerror(-ret));
	return NULL;
}

static int mgmt_start_threads(struct mgmt *m, struct err *e)
{
	int ret = pthread_create(&m->loop_thread, NULL, mgmt_loop_thread, m);

	if (ret)
		return err_set(e, "%s: cannot start its thread: %s", MGMT_NAME, strerror(ret));
	m->loop_running = true;
	for (; m->nr_workers < MGMT_WORKERS; m->nr_workers++) {
		ret = pthread_create(&m->workers[m->nr_workers], NULL, mgmt_worker, m);
		if (ret)
			return err_set(e, "%s: cannot start a worker: %s", MGMT_NAME,
				       strerror(ret));
	}
	return 0;
}

static struct mgmt *mgmt_alloc(const struct mgmt_params *p, struct pci_host *host,
			       const struct hv *hv, const struct guest_mem *mem)
{
	struct mgmt *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->p = *p;
	m->slot = calloc(p->max_managed, sizeof(*m->slot));
	if (!m->slot) {
		free(m);
		return NULL;
	}
	m->per_device_max = p->per_device_max_msix;
	m->host = host;
	m->hv = *hv;
	m->mem = mem;
	m->next_id = 1;
	m->jobs_tail = &m->jobs;
	m->backends_tail = &m->backends;
	pthread_mutex_init(&m->create_lock, NULL);
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->work_cond, NULL);
	pthread_cond_init(&m->idle_cond, NULL);
	pthread_cond_init(&m->users_cond, NULL);
	return m;
}

int mgmt_create(struct mgmt **out, const struct mgmt_params *params, struct pci_host *host,
		const struct hv *hv, const struct guest_mem *mem, struct err *e)
{
	struct mgmt_params p = *params;
	struct virtio_pci_options opt;
	struct mgmt *m;
	int ret;

	if (mgmt_check_params(&p, e))
		return -1;
	m = mgmt_alloc(&p, host, hv, mem);
	if (!m)
		return err_set(e, "%s: out of memory", MGMT_NAME);
	ret = evloop_init(&m->loop, MGMT_LOOP_ENTRIES);
	if (ret) {
		mgmt_destroy(m);
		return err_set(e, "%s: event loop: %s", MGMT_NAME, strerror(-ret));
	}
	m->loop_ready = true;
	mgmt_init_model(m);
	mgmt_pci_options(m, &opt);
	/* Before the loop runs: pci.c arms the kick watches on it from this thread. */
	if (virtio_pci_create_ex(&m->vp, &m->dev, host, hv, &opt, e) ||
	    mgmt_start_threads(m, e)) {
		mgmt_destroy(m);
		return -1;
	}
	*out = m;
	return 0;
}

uint8_t mgmt_devfn(const struct mgmt *m)
{
	return virtio_pci_devfn(m->vp);
}

/* ---- destruction ---- */

static void mgmt_stop_threads(struct mgmt *m)
{
	if (m->loop_running) {
		evloop_stop(&m->loop);
		pthread_join(m->loop_thread, NULL);
		m->loop_running = false;
	}
	pthread_mutex_lock(&m->lock);
	m->quit = true;
	pthread_cond_broadcast(&m->work_cond);
	pthread_mutex_unlock(&m->lock);
	for (unsigned int i = 0; i < m->nr_workers; i++)
		pthread_join(m->workers[i], NULL);
	m->nr_workers = 0;
}

/*
 * Threads stopped: jobs left are dropped, every device goes, then every backend. A
 * runner still queued for a device torn down already is all that holds that device.
 */
static void mgmt_free_all(struct mgmt *m)
{
	mgmt_drop_commands(m);
	for (struct mgmt_job *job = m->jobs, *next; job; job = next) {
		next = job->next;
		if (job->run == mgmt_vd_run && !container_of(job, struct mgmt_vdev, job)->md)
			mgmt_vd_free(container_of(job, struct mgmt_vdev, job));
	}
	m->jobs = NULL;
	m->jobs_tail = &m->jobs;
	for (unsigned int s = 0; s < m->p.max_managed; s++) {
		struct mgmt_vdev *vd = m->slot[s];

		if (!vd)
			continue;
		if (vd->md)
			managed_destroy(vd->md);
		mgmt_vd_free(vd);
	}
	while (m->backends) {
		struct mgmt_backend *be = m->backends;

		m->backends = be->next;
		mgmt_backend_free(be);
	}
	while (m->removals) {
		struct mgmt_removal *r = m->removals;

		m->removals = r->next;
		free(r);
	}
}

void mgmt_destroy(struct mgmt *m)
{
	if (!m)
		return;
	mgmt_stop_threads(m);
	/* Resets the model first: paused workers are gone, so that only waits for none. */
	if (m->vp)
		virtio_pci_destroy(m->vp);
	mgmt_free_all(m);
	if (m->loop_ready)
		evloop_destroy(&m->loop);
	for (unsigned int q = 0; q < TVQ_NUM_QUEUES; q++)
		pthread_mutex_destroy(&m->q[q].lock);
	pthread_cond_destroy(&m->work_cond);
	pthread_cond_destroy(&m->idle_cond);
	pthread_cond_destroy(&m->users_cond);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->create_lock);
	free(m->slot);
	free(m);
}
