// SPDX-License-Identifier: Apache-2.0
/*
 * virtio/blk.c against a real image file, a real io_uring event loop on its own thread
 * (or, where a test asks, one loop and thread per queue, as --io-loops per-queue sets
 * up) and real split rings in guest memory, laid out here the way a driver lays them
 * out. The test thread plays the transport (vCPU side) and the driver.
 */
#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "lib/evloop.h"
#include "lib/guest_mem.h"
#include "lib/log.h"
#include "tests/unit/lib/vq_drv.h"
#include "virtio/blk.h"
#include "vmm/metrics.h"
#include "vmm/vm.h"

#define IMG_SIZE (1U << 20)
#define MEM_SIZE (16U << 20)
#define QSIZE 64
#define HDR_AREA 0x100000ULL   /* 32 bytes per request slot */
#define STATUS_AREA 0x180000ULL /* 1 byte per request slot */
#define DATA_AREA 0x200000ULL
#define MAX_QLOOPS 4

/* ---- fixture: image, guest memory, loop thread, fake transport ---- */

static char img[64];
static struct guest_mem mem;
static struct evloop loop;
static pthread_t loop_thread;
static struct virtio_device *dev;
static sem_t *loop_held; /* released by teardown if a test fails with the loop held */
/* Per-queue loops (dev->queue_loops), started by the tests that want them. */
static struct qloops qloops;
static sem_t *qloop_held[MAX_QLOOPS];

/* Byte i of the image: a pattern that differs between sectors and within them. */
static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 7 + i / 512 * 13 + 1);
}

static void make_image(const char *path, size_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	uint8_t *buf = malloc(size);

	cr_assert(fd >= 0);
	for (size_t i = 0; i < size; i++)
		buf[i] = pattern(i);
	cr_assert_eq(pwrite(fd, buf, size, 0), (ssize_t)size);
	free(buf);
	close(fd);
}

static void setup(void)
{
	int fd;

	log_set_level(LOG_ERROR);
	strcpy(img, "/tmp/vqvm-blk-XXXXXX");
	fd = mkstemp(img);
	cr_assert(fd >= 0);
	cr_assert_eq(ftruncate(fd, IMG_SIZE), 0);
	close(fd);
	make_image(img, IMG_SIZE);
	cr_assert_eq(vqd_setup(&mem, MEM_SIZE, &loop, &loop_thread, &qloops), 0);
	dev = NULL;
	loop_held = NULL;
	memset(qloop_held, 0, sizeof(qloop_held));
}

/* One loop and thread per queue of dev, before the driver starts it. */
static void start_queue_loops(void)
{
	cr_assert_leq(dev->nr_queues, MAX_QLOOPS);
	cr_assert_eq(qloops_start(&qloops, dev), 0);
}

static void teardown(void)
{
	if (loop_held)
		sem_post(loop_held);
	for (unsigned int q = 0; q < MAX_QLOOPS; q++)
		if (qloop_held[q])
			sem_post(qloop_held[q]);
	vqd_teardown(dev, &qloops, &loop, loop_thread, &mem);
	unlink(img);
}

TestSuite(blk, .init = setup, .fini = teardown, .timeout = 30);

static struct virtio_device *create(const struct blk_config *cfg)
{
	struct err e = { { 0 } };
	struct virtio_device *d = NULL;

	cr_assert_eq(blk_create(&d, cfg, &mem, &loop, &e), 0, "blk_create: %s", e.msg);
	d->transport = &counting_transport;
	return d;
}

static struct virtio_device *create_default(void)
{
	struct blk_config cfg = { .path = img, .queues = 1, .id = "vqvm-disk-0" };

	return create(&cfg);
}

/* ---- the driver side ---- */

static void *gp(uint64_t gpa)
{
	void *p = guest_mem_ptr(&mem, gpa, 1);

	cr_assert_not_null(p);
	return p;
}

/* What the transport does when the driver enables queue q with size `size`. */
static void queue_setup(struct drv *d, unsigned int q, uint16_t size)
{
	cr_assert_eq(drv_queue_setup(d, dev, &mem, q, size, false), 0);
}

static void start(struct drv *d, unsigned int nr_queues, uint16_t size)
{
	for (unsigned int q = 0; q < nr_queues; q++)
		queue_setup(&d[q], q, size);
	cr_assert_eq(dev->ops->activate(dev), 0);
}

/* The doorbell: queue_notify runs on the queue's loop thread, as the transport's would. */
static void kick(struct drv *d)
{
	drv_kick(dev, d->q);
}

static void wait_used(const struct drv *d, uint16_t n)
{
	cr_assert_eq(drv_wait_used(d, n, 5000), n, "used idx %u, want %u", drv_used_idx(d), n);
}

/* A request as Linux lays it out: header, data, status; slot picks the guest areas. */
static uint16_t add_req(struct drv *d, unsigned int slot, uint32_t type, uint64_t sector,
			uint64_t data, uint32_t len, bool data_write)
{
	struct virtio_blk_outhdr *h = gp(HDR_AREA + slot * 32);
	struct seg s[3];
	unsigned int n = 0;

	h->type = htole32(type);
	h->ioprio = 0;
	h->sector = htole64(sector);
	*(uint8_t *)gp(STATUS_AREA + slot) = 0xee;
	s[n++] = (struct seg){ HDR_AREA + slot * 32, sizeof(*h), false };
	if (len)
		s[n++] = (struct seg){ data, len, data_write };
	s[n++] = (struct seg){ STATUS_AREA + slot, 1, true };
	return drv_add_chain(d, s, n);
}

static uint8_t status(unsigned int slot)
{
	return *(volatile uint8_t *)gp(STATUS_AREA + slot);
}

/* Submit one request, kick, wait, return its status; *len gets the used length. */
static uint8_t run_req(struct drv *d, uint32_t type, uint64_t sector, uint64_t data,
		       uint32_t len, bool data_write, uint32_t *used_len)
{
	uint16_t before = drv_used_idx(d), head;
	struct vring_used_elem e;

	head = add_req(d, 0, type, sector, data, len, data_write);
	kick(d);
	wait_used(d, before + 1);
	e = drv_used_elem(d, before);
	cr_assert_eq(e.id, head);
	if (used_len)
		*used_len = e.len;
	return status(0);
}

static void read_file(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	cr_assert(fd >= 0);
	cr_assert_eq(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static bool file_is_pattern(uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);
	bool ok = true;

	read_file(img, off, buf, len);
	for (size_t i = 0; i < len && ok; i++)
		ok = buf[i] == pattern(off + i);
	free(buf);
	return ok;
}

static bool guest_is_pattern(uint64_t gpa, uint64_t off, size_t len)
{
	const uint8_t *p = guest_mem_ptr(&mem, gpa, len);

	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(off + i))
			return false;
	return true;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static uint64_t features(void)
{
	return dev->ops->features(dev);
}

static struct virtio_blk_config config(void)
{
	struct virtio_blk_config c;

	cr_assert_eq(dev->config_size, sizeof(c));
	dev->ops->config_read(dev, 0, &c, sizeof(c));
	return c;
}

/* ---- configuration and features ---- */

Test(blk, config_space_and_features)
{
	struct virtio_blk_config c;
	uint64_t f;
	uint16_t cap16;

	dev = create_default();
	f = features();
	c = config();
	cr_assert_eq(dev->device_type, 2);
	cr_assert_eq(dev->nr_queues, 1);
	cr_assert_eq(dev->vqs[0].max_size, BLK_QUEUE_SIZE);
	cr_assert_eq(le64toh(c.capacity), IMG_SIZE / 512);
	cr_assert_eq(le32toh(c.seg_max), BLK_SEG_MAX);
	cr_assert_eq(le32toh(c.size_max), BLK_SIZE_MAX);
	cr_assert_eq(le32toh(c.blk_size), 512);
	cr_assert(f & (1ULL << VIRTIO_BLK_F_SEG_MAX));
	cr_assert(f & (1ULL << VIRTIO_BLK_F_SIZE_MAX));
	cr_assert(f & (1ULL << VIRTIO_BLK_F_BLK_SIZE));
	cr_assert(f & (1ULL << VIRTIO_BLK_F_FLUSH));
	cr_assert(f & (1ULL << 32), "VERSION_1");
	cr_assert(f & (1ULL << 40), "RING_RESET: queue_reset is implemented");
	cr_assert_not(f & (1ULL << VIRTIO_BLK_F_RO));
	cr_assert_not(f & (1ULL << VIRTIO_BLK_F_MQ));
	cr_assert_not(f & (1ULL << VIRTIO_BLK_F_CONFIG_WCE));
	cr_assert_eq(c.wce, 0);
	/* A partial read at an offset: the transport may read field by field. */
	dev->ops->config_read(dev, 0, &cap16, 2);
	cr_assert_eq(le16toh(cap16), IMG_SIZE / 512);
	/* Writes are ignored. */
	cap16 = 0xffff;
	dev->ops->config_write(dev, 0, &cap16, 2);
	cr_assert_eq(le64toh(config().capacity), IMG_SIZE / 512);
	if (f & (1ULL << VIRTIO_BLK_F_DISCARD)) {
		cr_assert(f & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
		cr_assert_eq(le32toh(c.max_discard_seg), 1);
		cr_assert_eq(le32toh(c.max_write_zeroes_seg), 1);
		cr_assert_eq(le32toh(c.max_discard_sectors), BLK_MAX_DWZ_SECTORS);
		cr_assert_eq(le32toh(c.max_write_zeroes_sectors), BLK_MAX_DWZ_SECTORS);
		cr_assert_geq(le32toh(c.discard_sector_alignment), 1);
		cr_assert_eq(c.write_zeroes_may_unmap, 1);
	}
}

Test(blk, multiqueue_config)
{
	struct blk_config cfg = { .path = img, .queues = 4 };
	struct virtio_blk_config c;

	dev = create(&cfg);
	c = config();
	cr_assert(features() & (1ULL << VIRTIO_BLK_F_MQ));
	cr_assert_eq(le16toh(c.num_queues), 4);
	cr_assert_eq(dev->nr_queues, 4);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(dev->vqs[i].max_size, BLK_QUEUE_SIZE);
}

Test(blk, readonly_features)
{
	struct blk_config cfg = { .path = img, .queues = 1, .readonly = true };

	dev = create(&cfg);
	cr_assert(features() & (1ULL << VIRTIO_BLK_F_RO));
	cr_assert_not(features() & (1ULL << VIRTIO_BLK_F_DISCARD));
	cr_assert_not(features() & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
}

/* ---- create errors ---- */

static void create_fails(const struct blk_config *cfg, const char *needle1,
			 const char *needle2)
{
	struct err e = { { 0 } };
	struct virtio_device *d = NULL;

	cr_assert_eq(blk_create(&d, cfg, &mem, &loop, &e), -1);
	cr_assert_null(d);
	cr_assert(strstr(e.msg, needle1), "'%s' lacks '%s'", e.msg, needle1);
	cr_assert(strstr(e.msg, needle2), "'%s' lacks '%s'", e.msg, needle2);
}

Test(blk, create_errors)
{
	char dir[] = "/tmp/vqvm-blk-dir-XXXXXX";
	struct blk_config cfg = { .queues = 1 };

	cfg.path = "/tmp/vqvm-no-such-image";
	create_fails(&cfg, cfg.path, strerror(ENOENT));

	cr_assert_eq(truncate(img, 0), 0);
	cfg.path = img;
	create_fails(&cfg, img, "empty");

	cr_assert_eq(truncate(img, 1000), 0);
	create_fails(&cfg, img, "not a multiple of 512");

	cr_assert_not_null(mkdtemp(dir));
	cfg.path = dir;
	create_fails(&cfg, dir, "not a regular file or block device");
	cfg.readonly = true; /* O_RDONLY opens a directory: fstat must catch it */
	create_fails(&cfg, dir, "not a regular file or block device");
	rmdir(dir);

	cfg.path = "/dev/null";
	create_fails(&cfg, "/dev/null", "not a regular file or block device");

	cr_assert_eq(truncate(img, IMG_SIZE), 0);
	cfg.path = img;
	cfg.readonly = false;
	cfg.queues = 0;
	create_fails(&cfg, img, "queues");
	cfg.queues = BLK_MAX_QUEUES + 1;
	create_fails(&cfg, img, "queues");
	cfg.queues = 1;
	cfg.id = "123456789012345678901";
	create_fails(&cfg, img, "longer than 20");
	cfg.id = "bad\nid";
	create_fails(&cfg, img, "printable");

	/* Unreadable file (meaningless as root, who reads anything). */
	if (geteuid() != 0) {
		cfg.id = NULL;
		cr_assert_eq(chmod(img, 0), 0);
		create_fails(&cfg, img, strerror(EACCES));
	}
}

/* ---- requests ---- */

Test(blk, read_returns_file_contents)
{
	struct drv d;
	uint32_t len;

	dev = create_default();
	start(&d, 1, QSIZE);
	memset(gp(DATA_AREA), 0, 8192);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, 3, DATA_AREA, 8192, true, &len),
		     VIRTIO_BLK_S_OK);
	cr_assert(guest_is_pattern(DATA_AREA, 3 * 512, 8192));
	cr_assert_eq(len, 8192 + 1, "data and status were written");
	cr_assert_geq(atomic_load(&tr_counts.irqs[0]), 1);
	/* The last sector. */
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, IMG_SIZE / 512 - 1, DATA_AREA, 512, true,
			     NULL), VIRTIO_BLK_S_OK);
	cr_assert(guest_is_pattern(DATA_AREA, IMG_SIZE - 512, 512));
}

Test(blk, write_reaches_file)
{
	uint8_t *p = guest_mem_ptr(&mem, DATA_AREA, 4096), back[4096];
	struct drv d;
	uint32_t len;

	dev = create_default();
	start(&d, 1, QSIZE);
	for (int i = 0; i < 4096; i++)
		p[i] = (uint8_t)(i ^ 0x5a);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_OUT, 16, DATA_AREA, 4096, false, &len),
		     VIRTIO_BLK_S_OK);
	cr_assert_eq(len, 1);
	read_file(img, 16 * 512, back, sizeof(back));
	cr_assert_arr_eq(back, p, sizeof(back));
	cr_assert(file_is_pattern(0, 16 * 512), "nothing before it changed");
	cr_assert(file_is_pattern(24 * 512, IMG_SIZE - 24 * 512), "nothing after it changed");
}

Test(blk, flush)
{
	struct drv d;

	dev = create_default();
	start(&d, 1, QSIZE);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
}

Test(blk, get_id)
{
	uint8_t *id = guest_mem_ptr(&mem, DATA_AREA, 20);
	uint8_t want[20] = "vqvm-disk-0";
	struct drv d;
	uint32_t len;

	dev = create_default();
	start(&d, 1, QSIZE);
	memset(id, 0xff, 20);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_GET_ID, 0, DATA_AREA, 20, true, &len),
		     VIRTIO_BLK_S_OK);
	cr_assert_arr_eq(id, want, 20, "NUL-padded to 20 bytes");
	cr_assert_eq(len, 21);
}

Test(blk, get_id_twenty_bytes_has_no_terminator)
{
	struct blk_config cfg = { .path = img, .queues = 1, .id = "ABCDEFGHIJKLMNOPQRST" };
	uint8_t *id = guest_mem_ptr(&mem, DATA_AREA, 21);
	struct drv d;

	dev = create(&cfg);
	start(&d, 1, QSIZE);
	id[20] = 0x77;
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_GET_ID, 0, DATA_AREA, 20, true, NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert_arr_eq(id, "ABCDEFGHIJKLMNOPQRST", 20);
	cr_assert_eq(id[20], 0x77, "nothing written past the buffer");
}

Test(blk, out_of_range_is_ioerr_and_file_untouched)
{
	struct drv d;

	dev = create_default();
	start(&d, 1, QSIZE);
	memset(gp(DATA_AREA), 0xab, 2048);
	/* Starts inside, ends past the end. */
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, IMG_SIZE / 512 - 1, DATA_AREA, 1024, true,
			     NULL), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_OUT, IMG_SIZE / 512 - 1, DATA_AREA, 1024, false,
			     NULL), VIRTIO_BLK_S_IOERR);
	/* Starts at the end. */
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, IMG_SIZE / 512, DATA_AREA, 512, true, NULL),
		     VIRTIO_BLK_S_IOERR);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_OUT, IMG_SIZE / 512, DATA_AREA, 512, false, NULL),
		     VIRTIO_BLK_S_IOERR);
	cr_assert(file_is_pattern(0, IMG_SIZE));
	/* A zero-length read at the very end is in range. */
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, IMG_SIZE / 512, 0, 0, true, NULL),
		     VIRTIO_BLK_S_OK);
}

Test(blk, sector_overflow_is_ioerr)
{
	struct drv d;

	dev = create_default();
	start(&d, 1, QSIZE);
	/* sector * 512 wraps to 0 / to a small offset: must not be taken for sector 0. */
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_OUT, 1ULL << 55, DATA_AREA, 512, false, NULL),
		     VIRTIO_BLK_S_IOERR);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_OUT, (1ULL << 55) + 1, DATA_AREA, 512, false,
			     NULL), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, UINT64_MAX, DATA_AREA, 512, true, NULL),
		     VIRTIO_BLK_S_IOERR);
	/* sector * 512 fits but + length wraps. */
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, (UINT64_MAX >> 9), DATA_AREA, 1024, true,
			     NULL), VIRTIO_BLK_S_IOERR);
	cr_assert(file_is_pattern(0, IMG_SIZE));
}

Test(blk, length_not_multiple_of_512_is_ioerr)
{
	struct drv d;

	dev = create_default();
	start(&d, 1, QSIZE);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, 0, DATA_AREA, 1000, true, NULL),
		     VIRTIO_BLK_S_IOERR);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_OUT, 0, DATA_AREA, 513, false, NULL),
		     VIRTIO_BLK_S_IOERR);
	cr_assert(file_is_pattern(0, IMG_SIZE));
}

Test(blk, unknown_type_is_unsupp)
{
	struct drv d;
	uint32_t len;

	dev = create_default();
	start(&d, 1, QSIZE);
	cr_assert_eq(run_req(&d, 2 /* SCSI_CMD */, 0, DATA_AREA, 512, true, &len),
		     VIRTIO_BLK_S_UNSUPP);
	cr_assert_eq(len, 1);
	cr_assert_eq(run_req(&d, 0x12345, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	cr_assert_eq(run_req(&d, 10 /* GET_LIFETIME */, 0, DATA_AREA, 8, true, NULL),
		     VIRTIO_BLK_S_UNSUPP);
}

Test(blk, write_on_readonly_is_ioerr_and_file_untouched)
{
	struct blk_config cfg = { .path = img, .queues = 1, .readonly = true };
	struct drv d;

	dev = create(&cfg);
	start(&d, 1, QSIZE);
	memset(gp(DATA_AREA), 0, 4096);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_OUT, 0, DATA_AREA, 4096, false, NULL),
		     VIRTIO_BLK_S_IOERR);
	cr_assert(file_is_pattern(0, IMG_SIZE));
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, 0, DATA_AREA, 4096, true, NULL),
		     VIRTIO_BLK_S_OK, "reads still work");
	cr_assert(guest_is_pattern(DATA_AREA, 0, 4096));
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA_AREA, 16, false, NULL),
		     VIRTIO_BLK_S_UNSUPP, "not offered on a read-only disk");
}

/* ---- framing ---- */

Test(blk, missing_status_byte_returns_chain_unanswered)
{
	struct virtio_blk_outhdr *h = gp(HDR_AREA);
	struct seg s[2];
	struct drv d;
	uint16_t head;

	dev = create_default();
	start(&d, 1, QSIZE);
	h->type = htole32(VIRTIO_BLK_T_OUT);
	h->sector = 0;
	memset(gp(DATA_AREA), 0, 512);
	s[0] = (struct seg){ HDR_AREA, sizeof(*h), false };
	s[1] = (struct seg){ DATA_AREA, 512, false };
	head = drv_add_chain(&d, s, 2);
	kick(&d);
	wait_used(&d, 1);
	cr_assert_eq(drv_used_elem(&d, 0).id, head);
	cr_assert_eq(drv_used_elem(&d, 0).len, 0, "nothing written");
	cr_assert(file_is_pattern(0, IMG_SIZE), "the write was not done");
	cr_assert_eq(atomic_load(&tr_counts.needs_resets), 0, "the device stays usable");
	/* And the queue goes on. */
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, 0, DATA_AREA, 512, true, NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert(guest_is_pattern(DATA_AREA, 0, 512));
}

Test(blk, short_header_is_ioerr)
{
	struct seg s[2] = {
		{ HDR_AREA, 8, false },
		{ STATUS_AREA, 1, true },
	};
	struct drv d;
	uint32_t len;

	dev = create_default();
	start(&d, 1, QSIZE);
	*(uint8_t *)gp(STATUS_AREA) = 0xee;
	drv_add_chain(&d, s, 2);
	kick(&d);
	wait_used(&d, 1);
	len = drv_used_elem(&d, 0).len;
	cr_assert_eq(status(0), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(len, 1);
}

/* Any layout is legal: header split in two, data and status sharing a descriptor. */
Test(blk, header_split_and_status_sharing_a_buffer)
{
	struct virtio_blk_outhdr *h = gp(HDR_AREA);
	uint8_t *buf = gp(DATA_AREA);
	struct seg s[3] = {
		{ HDR_AREA, 5, false },
		{ HDR_AREA + 5, sizeof(*h) - 5, false },
		{ DATA_AREA, 1024 + 1, true },
	};
	struct drv d;

	dev = create_default();
	start(&d, 1, QSIZE);
	h->type = htole32(VIRTIO_BLK_T_IN);
	h->sector = htole64(7);
	memset(buf, 0, 1025);
	buf[1024] = 0xee;
	drv_add_chain(&d, s, 3);
	kick(&d);
	wait_used(&d, 1);
	cr_assert_eq(buf[1024], VIRTIO_BLK_S_OK);
	cr_assert(guest_is_pattern(DATA_AREA, 7 * 512, 1024));
	cr_assert_eq(drv_used_elem(&d, 0).len, 1025);
}

/* Write data spread over many small buffers, and header + data in one buffer. */
Test(blk, scattered_write)
{
	uint8_t *p = gp(DATA_AREA), back[4096];
	struct virtio_blk_outhdr h = { .type = htole32(VIRTIO_BLK_T_OUT), .sector = htole64(2) };
	struct seg s[10];
	struct drv d;

	dev = create_default();
	start(&d, 1, QSIZE);
	memcpy(p, &h, sizeof(h));
	for (int i = 0; i < 4096; i++)
		p[sizeof(h) + i] = (uint8_t)(i * 3);
	/* header and the first 100 data bytes in one buffer, then pieces of odd sizes */
	s[0] = (struct seg){ DATA_AREA, sizeof(h) + 100, false };
	for (int i = 1; i < 9; i++) {
		uint64_t off = sizeof(h) + 100 + (uint64_t)(i - 1) * 499;
		uint32_t len = i < 8 ? 499 : 4096 - 100 - 7 * 499;

		s[i] = (struct seg){ DATA_AREA + off, len, false };
	}
	s[9] = (struct seg){ STATUS_AREA, 1, true };
	drv_add_chain(&d, s, 10);
	kick(&d);
	wait_used(&d, 1);
	cr_assert_eq(status(0), VIRTIO_BLK_S_OK);
	read_file(img, 2 * 512, back, sizeof(back));
	cr_assert_arr_eq(back, p + sizeof(h), sizeof(back));
}

Test(blk, too_many_buffers_returns_chain_unanswered)
{
	enum { N = BLK_SEG_MAX + 10 };
	struct seg *s = calloc(N, sizeof(*s));
	struct drv d;

	dev = create_default();
	start(&d, 1, BLK_QUEUE_SIZE);
	add_req(&d, 0, VIRTIO_BLK_T_IN, 0, DATA_AREA, 512, true); /* index 0..2 */
	s[0] = (struct seg){ HDR_AREA, 16, false };
	for (int i = 1; i < N - 1; i++)
		s[i] = (struct seg){ DATA_AREA + 4096 + i * 512ULL, 512, true };
	s[N - 1] = (struct seg){ STATUS_AREA + 1, 1, true };
	*(uint8_t *)gp(STATUS_AREA + 1) = 0xee;
	drv_add_chain(&d, s, N);
	add_req(&d, 2, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false);
	kick(&d);
	wait_used(&d, 3);
	cr_assert_eq(status(0), VIRTIO_BLK_S_OK);
	cr_assert_eq(status(1), 0xee, "no status for the oversized chain");
	cr_assert_eq(status(2), VIRTIO_BLK_S_OK, "the queue goes on");
	for (int i = 0; i < 3; i++)
		if (drv_used_elem(&d, i).id == 3)
			cr_assert_eq(drv_used_elem(&d, i).len, 0);
	cr_assert_eq(atomic_load(&tr_counts.needs_resets), 0);
	free(s);
}

Test(blk, broken_queue_asks_for_reset_once)
{
	struct drv d;

	dev = create_default();
	start(&d, 1, QSIZE);
	/* avail->idx more than the queue size ahead: a protocol violation */
	__atomic_store_n(&d.avail->idx, htole16(QSIZE + 5), __ATOMIC_RELEASE);
	kick(&d);
	kick(&d);
	for (int i = 0; i < 2000 && atomic_load(&tr_counts.needs_resets) == 0; i++)
		usleep(1000);
	usleep(20000);
	cr_assert_eq(atomic_load(&tr_counts.needs_resets), 1);
	cr_assert_eq(drv_used_idx(&d), 0);
}

/* ---- many requests, multiqueue ---- */

Test(blk, batch_of_reads_and_writes)
{
	enum { N = 32 };
	struct drv d;

	dev = create_default();
	start(&d, 1, QSIZE * 2);
	for (int i = 0; i < N; i++) {
		uint64_t gpa = DATA_AREA + i * 8192ULL;

		if (i % 2) {
			memset(gp(gpa), i, 4096);
			add_req(&d, i, VIRTIO_BLK_T_OUT, 512 + i * 8, gpa, 4096, false);
		} else {
			memset(gp(gpa), 0, 4096);
			add_req(&d, i, VIRTIO_BLK_T_IN, i * 8, gpa, 4096, true);
		}
	}
	kick(&d);
	wait_used(&d, N);
	for (int i = 0; i < N; i++) {
		uint8_t back[4096], want[4096];

		cr_assert_eq(status(i), VIRTIO_BLK_S_OK, "request %d", i);
		if (i % 2 == 0) {
			cr_assert(guest_is_pattern(DATA_AREA + i * 8192ULL, i * 8 * 512ULL, 4096));
			continue;
		}
		read_file(img, (512 + i * 8) * 512ULL, back, sizeof(back));
		memset(want, i, sizeof(want));
		cr_assert_arr_eq(back, want, sizeof(back));
	}
}

Test(blk, queues_are_independent)
{
	struct blk_config cfg = { .path = img, .queues = 3 };
	struct drv d[3];

	dev = create(&cfg);
	start(d, 3, QSIZE);
	add_req(&d[2], 2, VIRTIO_BLK_T_IN, 40, DATA_AREA, 512, true);
	kick(&d[2]);
	wait_used(&d[2], 1);
	cr_assert_eq(status(2), VIRTIO_BLK_S_OK);
	cr_assert(guest_is_pattern(DATA_AREA, 40 * 512, 512));
	cr_assert_eq(drv_used_idx(&d[0]), 0);
	cr_assert_eq(drv_used_idx(&d[1]), 0);
	cr_assert_geq(atomic_load(&tr_counts.irqs[2]), 1);
	cr_assert_eq(atomic_load(&tr_counts.irqs[0]), 0);
	cr_assert_eq(atomic_load(&tr_counts.irqs[1]), 0);
}

Test(blk, no_interrupt_when_driver_suppresses_them)
{
	struct drv d;

	dev = create_default();
	start(&d, 1, QSIZE);
	d.avail->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, 0, DATA_AREA, 512, true, NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_GET_ID, 0, DATA_AREA, 20, true, NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert_eq(atomic_load(&tr_counts.irqs[0]), 0);
}

Test(blk, kick_before_activate_is_ignored)
{
	struct drv d;

	dev = create_default();
	queue_setup(&d, 0, QSIZE); /* enabled, but no DRIVER_OK yet */
	add_req(&d, 0, VIRTIO_BLK_T_IN, 0, DATA_AREA, 512, true);
	kick(&d);
	usleep(50000);
	cr_assert_eq(drv_used_idx(&d), 0);
	cr_assert_eq(dev->ops->activate(dev), 0);
	kick(&d);
	wait_used(&d, 1);
	cr_assert_eq(status(0), VIRTIO_BLK_S_OK);
}

/* Make head available once more (a driver re-posting a head it has not got back). */
static void republish(struct drv *d, uint16_t head)
{
	d->avail->ring[d->avail_idx % d->size] = htole16(head);
	d->avail_idx++;
	__atomic_store_n(&d->avail->idx, htole16(d->avail_idx), __ATOMIC_RELEASE);
}

struct throttle {
	struct evloop_call call;
	struct drv *d;
	uint16_t popped;
	sem_t done;
};

/* On the loop, before anything is submitted: fill the queue, then offer one more. */
static void fill_then_offer_more(void *arg)
{
	struct throttle *t = arg;

	dev->ops->queue_notify(dev, 0);
	republish(t->d, 0);
	dev->ops->queue_notify(dev, 0);
	t->popped = dev->vqs[0].last_avail_idx;
	sem_post(&t->done);
}

Test(blk, in_flight_requests_limited_to_queue_size)
{
	struct throttle t;
	struct drv d;

	dev = create_default();
	start(&d, 1, 8);
	/* 4 flushes use all 8 descriptors; their heads are posted twice: 8 in flight */
	for (int i = 0; i < 4; i++)
		add_req(&d, i, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false);
	for (int i = 0; i < 4; i++)
		republish(&d, i * 2);
	t.d = &d;
	sem_init(&t.done, 0, 0);
	evloop_call(&loop, &t.call, fill_then_offer_more, &t);
	sem_wait(&t.done);
	cr_assert_eq(t.popped, 8, "the 9th request waits for a completion");
	wait_used(&d, 9);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(status(i), VIRTIO_BLK_S_OK);
	sem_destroy(&t.done);
}

/* ---- discard and write zeroes ---- */

static uint16_t add_dwz(struct drv *d, unsigned int slot, uint32_t type, uint64_t sector,
			uint32_t sectors, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes *seg = gp(DATA_AREA + slot * 16);

	seg->sector = htole64(sector);
	seg->num_sectors = htole32(sectors);
	seg->flags = htole32(flags);
	return add_req(d, slot, type, 0, DATA_AREA + slot * 16, sizeof(*seg), false);
}

static uint8_t run_dwz(struct drv *d, uint32_t type, uint64_t sector, uint32_t sectors,
		       uint32_t flags)
{
	uint16_t before = drv_used_idx(d);

	add_dwz(d, 0, type, sector, sectors, flags);
	kick(d);
	wait_used(d, before + 1);
	return status(0);
}

static bool file_is_zero(const char *path, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);
	bool ok;

	read_file(path, off, buf, len);
	ok = all_zero(buf, len);
	free(buf);
	return ok;
}

Test(blk, discard_and_write_zeroes)
{
	struct drv d;

	dev = create_default();
	if (!(features() & (1ULL << VIRTIO_BLK_F_DISCARD)))
		cr_skip_test("the file system of /tmp does not punch holes");
	start(&d, 1, QSIZE);
	cr_assert_eq(run_dwz(&d, VIRTIO_BLK_T_DISCARD, 64, 64, 0), VIRTIO_BLK_S_OK);
	cr_assert(file_is_zero(img, 64 * 512, 64 * 512), "a punched hole reads as zeroes");
	cr_assert(file_is_pattern(0, 64 * 512));
	cr_assert(file_is_pattern(128 * 512, IMG_SIZE - 128 * 512));

	cr_assert_eq(run_dwz(&d, VIRTIO_BLK_T_WRITE_ZEROES, 200, 9, 0), VIRTIO_BLK_S_OK);
	cr_assert(file_is_zero(img, 200 * 512, 9 * 512));
	cr_assert(file_is_pattern(199 * 512, 512));
	cr_assert(file_is_pattern(209 * 512, 512));

	cr_assert_eq(run_dwz(&d, VIRTIO_BLK_T_WRITE_ZEROES, 300, 16,
			     VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP), VIRTIO_BLK_S_OK);
	cr_assert(file_is_zero(img, 300 * 512, 16 * 512));
	cr_assert(file_is_pattern(316 * 512, 512));
	{
		struct stat st;

		cr_assert_eq(stat(img, &st), 0);
		cr_assert_eq(st.st_size, IMG_SIZE, "KEEP_SIZE");
	}
}

Test(blk, discard_and_write_zeroes_errors)
{
	struct drv d;
	uint16_t before;

	dev = create_default();
	if (!(features() & (1ULL << VIRTIO_BLK_F_DISCARD)))
		cr_skip_test("the file system of /tmp does not punch holes");
	start(&d, 1, QSIZE);
	cr_assert_eq(run_dwz(&d, VIRTIO_BLK_T_DISCARD, 0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
		     VIRTIO_BLK_S_UNSUPP, "UNMAP is for write zeroes only");
	cr_assert_eq(run_dwz(&d, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 2), VIRTIO_BLK_S_UNSUPP,
		     "unknown flag");
	cr_assert_eq(run_dwz(&d, VIRTIO_BLK_T_DISCARD, IMG_SIZE / 512 - 4, 8, 0),
		     VIRTIO_BLK_S_IOERR);
	cr_assert_eq(run_dwz(&d, VIRTIO_BLK_T_WRITE_ZEROES, UINT64_MAX / 256, 8, 0),
		     VIRTIO_BLK_S_IOERR, "sector overflow");
	cr_assert_eq(run_dwz(&d, VIRTIO_BLK_T_WRITE_ZEROES, 0, BLK_MAX_DWZ_SECTORS + 1, 0),
		     VIRTIO_BLK_S_IOERR);
	/* two segments: more than max_*_seg */
	before = drv_used_idx(&d);
	add_req(&d, 0, VIRTIO_BLK_T_DISCARD, 0, DATA_AREA, 32, false);
	kick(&d);
	wait_used(&d, before + 1);
	cr_assert_eq(status(0), VIRTIO_BLK_S_IOERR);
	/* not a whole segment */
	before = drv_used_idx(&d);
	add_req(&d, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA_AREA, 8, false);
	kick(&d);
	wait_used(&d, before + 1);
	cr_assert_eq(status(0), VIRTIO_BLK_S_IOERR);
	cr_assert(file_is_pattern(0, IMG_SIZE));
}

/* tmpfs punches holes but has no ZERO_RANGE: write zeroes falls back to a hole. */
Test(blk, write_zeroes_without_zero_range)
{
	char path[] = "/dev/shm/vqvm-blk-XXXXXX";
	struct blk_config cfg = { .path = path, .queues = 1 };
	struct statfs sfs;
	struct drv d;
	int fd;

	fd = mkstemp(path);
	if (fd < 0 || fstatfs(fd, &sfs) || sfs.f_type != 0x01021994 /* TMPFS_MAGIC */) {
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		cr_skip_test("no tmpfs at /dev/shm");
	}
	close(fd);
	make_image(path, 64 * 1024);
	dev = create(&cfg);
	cr_assert(features() & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	start(&d, 1, QSIZE);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(run_dwz(&d, VIRTIO_BLK_T_WRITE_ZEROES, 10 + i * 20, 5, 0),
			     VIRTIO_BLK_S_OK);
		cr_assert(file_is_zero(path, (10 + i * 20) * 512, 5 * 512));
	}
	dev->ops->reset(dev);
	dev->ops->destroy(dev);
	dev = NULL;
	unlink(path);
}

/* ---- cache=none ---- */

static struct virtio_device *create_direct(void)
{
	struct blk_config cfg = { .path = img, .queues = 1, .cache = BLK_CACHE_NONE };
	struct err e = { { 0 } };
	struct virtio_device *d = NULL;

	if (blk_create(&d, &cfg, &mem, &loop, &e)) {
		cr_assert(strstr(e.msg, "refuses O_DIRECT"), "%s", e.msg);
		cr_skip_test("%s", e.msg);
	}
	d->transport = &counting_transport;
	return d;
}

Test(blk, direct_io_aligned_and_bounced)
{
	uint8_t *p;
	uint8_t back[3072];
	struct drv d;

	dev = create_direct();
	start(&d, 1, QSIZE);
	/* aligned: straight into guest memory */
	memset(gp(DATA_AREA), 0, 8192);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, 5, DATA_AREA, 8192, true, NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert(guest_is_pattern(DATA_AREA, 5 * 512, 8192));
	/* misaligned buffer: through a bounce buffer */
	memset(gp(DATA_AREA + 0x10001), 0, 3072);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, 9, DATA_AREA + 0x10001, 3072, true, NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert(guest_is_pattern(DATA_AREA + 0x10001, 9 * 512, 3072));
	p = gp(DATA_AREA + 0x20003);
	for (int i = 0; i < 3072; i++)
		p[i] = (uint8_t)(i * 11);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_OUT, 100, DATA_AREA + 0x20003, 3072, false, NULL),
		     VIRTIO_BLK_S_OK);
	read_file(img, 100 * 512, back, sizeof(back));
	cr_assert_arr_eq(back, p, sizeof(back));
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
}

/* Larger than one bounce buffer (256 KiB): several steps, each at the right place. */
Test(blk, direct_io_bounce_in_steps)
{
	const uint32_t len = 640 * 1024;
	uint64_t gpa = DATA_AREA + 7;
	uint8_t *p, *back;
	struct drv d;

	dev = create_direct();
	start(&d, 1, QSIZE);
	memset(gp(gpa), 0, len);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, 64, gpa, len, true, NULL), VIRTIO_BLK_S_OK);
	cr_assert(guest_is_pattern(gpa, 64 * 512, len));
	p = guest_mem_ptr(&mem, gpa, len);
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i / 4096 + i);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_OUT, 2, gpa, len, false, NULL), VIRTIO_BLK_S_OK);
	back = malloc(len);
	read_file(img, 2 * 512, back, len);
	cr_assert_arr_eq(back, p, len);
	free(back);
}

/* ---- reset ---- */

/*
 * Requests popped and handed to io_uring, then the loop is held so they cannot
 * complete: reset must wait for them, and must push none of them.
 */
static void reset_with_requests_in_flight(struct drv *d, struct resetter *r)
{
	static struct blocker bl; /* outlives a failed assertion, for teardown */
	pthread_t t;

	for (int i = 0; i < 8; i++)
		add_req(d, i, i % 2 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, i * 128,
			DATA_AREA + i * 65536ULL, 65536, i % 2 == 0);
	add_req(d, 8, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false);
	blocker_hold(&bl, &loop, dev, d->q);
	loop_held = &bl.release;
	cr_assert_eq(drv_used_idx(d), 0, "all requests are in flight");

	r->dev = dev;
	pthread_create(&t, NULL, resetter_run, r);
	usleep(100000);
	cr_assert_not(atomic_load(&r->done), "reset returned with requests in flight");
	loop_held = NULL;
	sem_post(&bl.release);
	pthread_join(t, NULL);
	cr_assert(atomic_load(&r->done));
	cr_assert_eq(drv_used_idx(d), 0, "nothing pushed by or after reset");
	cr_assert_eq(atomic_load(&tr_counts.irqs[d->q]), 0);
	/* A kick after reset is ignored too. */
	kick(d);
	usleep(50000);
	cr_assert_eq(drv_used_idx(d), 0);
	cr_assert_eq(atomic_load(&tr_counts.irqs[d->q]), 0);
	sem_destroy(&bl.entered);
	sem_destroy(&bl.release);
}

Test(blk, reset_waits_for_in_flight_requests)
{
	struct resetter r = { .q = -1 };
	struct drv d;

	dev = create_default();
	start(&d, 1, QSIZE);
	reset_with_requests_in_flight(&d, &r);
	/* The driver sets the device up again: it works. */
	start(&d, 1, QSIZE);
	memset(gp(DATA_AREA), 0, 512);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, 1, DATA_AREA, 512, true, NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert(guest_is_pattern(DATA_AREA, 512, 512));
}

Test(blk, queue_reset_waits_and_leaves_other_queues_running)
{
	struct blk_config cfg = { .path = img, .queues = 2 };
	struct resetter r = { .q = 1 };
	struct drv d[2];

	dev = create(&cfg);
	start(d, 2, QSIZE);
	reset_with_requests_in_flight(&d[1], &r);
	/* queue 0 still runs */
	cr_assert_eq(run_req(&d[0], VIRTIO_BLK_T_IN, 3, DATA_AREA, 512, true, NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert(guest_is_pattern(DATA_AREA, 3 * 512, 512));
	/* queue 1 runs again once re-enabled and activated */
	queue_setup(&d[1], 1, QSIZE);
	cr_assert_eq(dev->ops->activate(dev), 0);
	add_req(&d[1], 9, VIRTIO_BLK_T_IN, 4, DATA_AREA + 4096, 512, true);
	kick(&d[1]);
	wait_used(&d[1], 1);
	cr_assert_eq(status(9), VIRTIO_BLK_S_OK);
	cr_assert(guest_is_pattern(DATA_AREA + 4096, 4 * 512, 512));
}

Test(blk, reset_when_idle_returns_at_once)
{
	struct drv d;

	dev = create_default();
	dev->ops->reset(dev); /* never activated */
	start(&d, 1, QSIZE);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, 0, DATA_AREA, 512, true, NULL),
		     VIRTIO_BLK_S_OK);
	dev->ops->reset(dev);
	dev->ops->reset(dev);
	start(&d, 1, QSIZE);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
}

/* ---- per-queue loops (--io-loops per-queue) ---- */

/*
 * Two queues on two loops run by two threads: each queue's requests are submitted,
 * completed and signalled on its own loop, and both queues make progress.
 */
Test(blk, per_queue_loops_serve_each_queue_on_its_own_loop)
{
	struct blk_config cfg = { .path = img, .queues = 2 };
	const uint64_t wr_area = DATA_AREA + 0x100000;
	uint8_t *want = malloc(8 * 4096), *got = malloc(8 * 4096);
	struct drv d[2];

	dev = create(&cfg);
	start_queue_loops();
	start(d, 2, QSIZE);
	for (unsigned int i = 0; i < 8 * 4096; i++)
		want[i] = (uint8_t)(i * 5 + 3);
	memcpy(gp(wr_area), want, 8 * 4096);
	memset(gp(DATA_AREA), 0, 8 * 4096);
	/* Queue 0 reads sectors 0..63, queue 1 writes sectors 256..319. */
	for (int i = 0; i < 8; i++) {
		add_req(&d[0], i, VIRTIO_BLK_T_IN, i * 8, DATA_AREA + i * 4096ULL, 4096, true);
		add_req(&d[1], 8 + i, VIRTIO_BLK_T_OUT, 256 + i * 8, wr_area + i * 4096ULL,
			4096, false);
	}
	kick(&d[0]);
	kick(&d[1]);
	wait_used(&d[0], 8);
	wait_used(&d[1], 8);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(status(i), VIRTIO_BLK_S_OK, "request %d", i);
	cr_assert(guest_is_pattern(DATA_AREA, 0, 8 * 4096));
	read_file(img, 256 * 512, got, 8 * 4096);
	cr_assert_arr_eq(got, want, 8 * 4096);
	cr_assert_geq(atomic_load(&tr_counts.irqs[0]), 1);
	cr_assert_geq(atomic_load(&tr_counts.irqs[1]), 1);
	cr_assert_eq(atomic_load(&tr_counts.foreign_irqs), 0,
		     "every interrupt from its queue's loop");
	free(want);
	free(got);
}

/* Requests of queue d->q handed to io_uring on its loop, which is then held. */
static void hold_queue_loop(struct drv *d, struct blocker *bl, unsigned int slot0)
{
	for (unsigned int i = 0; i < 4; i++)
		add_req(d, slot0 + i, i % 2 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
			(slot0 + i) * 128, DATA_AREA + (slot0 + i) * 65536ULL, 65536, i % 2 == 0);
	blocker_hold(bl, virtio_queue_loop(dev, d->q), dev, d->q);
	qloop_held[d->q] = &bl->release;
}

static void release_queue_loop(struct blocker *bl)
{
	qloop_held[bl->q] = NULL;
	sem_post(&bl->release);
}

/*
 * Requests in flight on both queues' loops: a device reset cancels on each loop and
 * returns only once both loops reaped everything; nothing is pushed.
 */
Test(blk, per_queue_reset_waits_for_every_queue_loop)
{
	static struct blocker bl[2]; /* outlive a failed assertion, for teardown */
	struct blk_config cfg = { .path = img, .queues = 2 };
	struct resetter r = { .q = -1 };
	struct drv d[2];
	pthread_t t;

	dev = create(&cfg);
	start_queue_loops();
	start(d, 2, QSIZE);
	hold_queue_loop(&d[0], &bl[0], 0);
	hold_queue_loop(&d[1], &bl[1], 4);
	cr_assert_eq(drv_used_idx(&d[0]) + drv_used_idx(&d[1]), 0, "all requests are in flight");

	r.dev = dev;
	pthread_create(&t, NULL, resetter_run, &r);
	usleep(100000);
	cr_assert_not(atomic_load(&r.done), "reset returned with both loops holding requests");
	release_queue_loop(&bl[0]);
	usleep(100000);
	cr_assert_not(atomic_load(&r.done), "reset returned with queue 1's requests in flight");
	release_queue_loop(&bl[1]);
	pthread_join(t, NULL);
	cr_assert(atomic_load(&r.done));
	cr_assert_eq(drv_used_idx(&d[0]) + drv_used_idx(&d[1]), 0,
		     "nothing pushed by or after reset");
	cr_assert_eq(atomic_load(&tr_counts.irqs[0]) + atomic_load(&tr_counts.irqs[1]), 0);
	kick(&d[0]);
	kick(&d[1]);
	usleep(50000);
	cr_assert_eq(drv_used_idx(&d[0]) + drv_used_idx(&d[1]), 0, "kicks after reset are ignored");
	/* Started again, both queues work on their loops. */
	start(d, 2, QSIZE);
	memset(gp(DATA_AREA), 0, 1024);
	cr_assert_eq(run_req(&d[0], VIRTIO_BLK_T_IN, 1, DATA_AREA, 512, true, NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert_eq(run_req(&d[1], VIRTIO_BLK_T_IN, 2, DATA_AREA + 512, 512, true, NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert(guest_is_pattern(DATA_AREA, 512, 1024));
	cr_assert_eq(atomic_load(&tr_counts.foreign_irqs), 0);
	for (int i = 0; i < 2; i++) {
		sem_destroy(&bl[i].entered);
		sem_destroy(&bl[i].release);
	}
}

/* ---- queue_stop (a managed device's VQ_ENABLE SET 0) ---- */

/*
 * Requests in flight when the queue is stopped complete normally: every one is pushed
 * and signalled before queue_stop returns. Nothing made available meanwhile is taken,
 * the other queue keeps running, and the queue resumes where it stopped.
 */
Test(blk, queue_stop_completes_in_flight_requests_and_keeps_the_place)
{
	static struct blocker bl; /* outlives a failed assertion, for teardown */
	struct blk_config cfg = { .path = img, .queues = 2 };
	struct stopper s = { .q = 1 };
	struct virtqueue *vq;
	struct drv d[2];
	pthread_t t;

	dev = create(&cfg);
	start(d, 2, QSIZE);
	vq = &dev->vqs[1];
	memset(gp(DATA_AREA), 0, 4 * 65536);
	hold_queue_loop(&d[1], &bl, 0);
	cr_assert_eq(drv_used_idx(&d[1]), 0, "all requests are in flight");

	s.dev = dev;
	pthread_create(&t, NULL, stopper_run, &s);
	usleep(100000);
	cr_assert_not(atomic_load(&s.done), "queue_stop returned with requests in flight");
	add_req(&d[1], 8, VIRTIO_BLK_T_IN, 5, DATA_AREA + 0x80000, 512, true);
	kick(&d[1]);
	release_queue_loop(&bl);
	pthread_join(t, NULL);
	cr_assert_eq(drv_used_idx(&d[1]), 4, "every request in flight pushed before it returned");
	for (int i = 0; i < 4; i++)
		cr_assert_eq(status(i), VIRTIO_BLK_S_OK, "request %d", i);
	cr_assert(guest_is_pattern(DATA_AREA, 0, 65536));
	cr_assert(guest_is_pattern(DATA_AREA + 2 * 65536, 256 * 512, 65536));
	cr_assert_geq(atomic_load(&tr_counts.irqs[1]), 1, "and signalled");
	cr_assert_eq(vq->last_avail_idx, 4, "the request made available meanwhile not taken");
	cr_assert_eq(vq->used_idx, 4);
	kick(&d[1]);
	usleep(50000);
	cr_assert_eq(drv_used_idx(&d[1]), 4, "a stopped queue takes nothing");
	cr_assert_eq(run_req(&d[0], VIRTIO_BLK_T_IN, 3, DATA_AREA + 0x90000, 512, true, NULL),
		     VIRTIO_BLK_S_OK, "the other queue still runs");

	/* The transport re-activates the ring, then the device: it resumes at index 4. */
	cr_assert_eq(vq_activate(vq, &mem, false, false), 0);
	cr_assert_eq(dev->ops->activate(dev), 0);
	kick(&d[1]);
	wait_used(&d[1], 5);
	cr_assert_eq(status(8), VIRTIO_BLK_S_OK);
	cr_assert(guest_is_pattern(DATA_AREA + 0x80000, 5 * 512, 512));
	sem_destroy(&bl.entered);
	sem_destroy(&bl.release);
}

Test(blk, queue_stop_when_idle_returns_at_once)
{
	struct drv d;

	dev = create_default();
	start(&d, 1, QSIZE);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	dev->ops->queue_stop(dev, 0);
	add_req(&d, 1, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false);
	kick(&d);
	usleep(50000);
	cr_assert_eq(drv_used_idx(&d), 1, "stopped: the kick is ignored");
	cr_assert_eq(vq_activate(&dev->vqs[0], &mem, false, false), 0);
	cr_assert_eq(dev->ops->activate(dev), 0);
	kick(&d);
	wait_used(&d, 2);
	cr_assert_eq(status(1), VIRTIO_BLK_S_OK);
}

/* ---- counters (metrics) ---- */

static uint64_t hist_count(const struct stats_hist *h)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < STATS_HIST_BUCKETS; i++)
		n += h->bucket[i];
	return n;
}

/* Power-of-two microsecond buckets: bucket i holds [2^(i-1), 2^i) us, the last the rest. */
Test(blk, stats_histogram_buckets)
{
	cr_assert_eq(stats_hist_bucket(0), 0);
	cr_assert_eq(stats_hist_bucket(1), 1);
	cr_assert_eq(stats_hist_bucket(2), 2);
	cr_assert_eq(stats_hist_bucket(3), 2);
	cr_assert_eq(stats_hist_bucket(4), 3);
	cr_assert_eq(stats_hist_bucket(1000), 10);
	cr_assert_eq(stats_hist_bucket(1ULL << (STATS_HIST_BUCKETS - 2)), STATS_HIST_BUCKETS - 1);
	cr_assert_eq(stats_hist_bucket(~0ULL), STATS_HIST_BUCKETS - 1);
}

Test(blk, stats_count_requests_bytes_errors_and_latency)
{
	struct virtio_blk_outhdr *h = gp(HDR_AREA + 32);
	struct seg s[2] = { { HDR_AREA + 32, sizeof(*h), false }, { DATA_AREA, 512, false } };
	struct blk_stats st;
	struct drv d;

	dev = create_default();
	blk_get_stats(dev, &st);
	cr_assert_eq(hist_count(&st.latency), 0);
	start(&d, 1, QSIZE);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, 0, DATA_AREA, 4096, true, NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, 8, DATA_AREA, 512, true, NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_OUT, 16, DATA_AREA, 1024, false, NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_GET_ID, 0, DATA_AREA, 20, true, NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_IN, IMG_SIZE / 512, DATA_AREA, 512, true, NULL),
		     VIRTIO_BLK_S_IOERR, "past the end");
	cr_assert_eq(run_req(&d, 0x12345, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	/* No status byte: returned unanswered. */
	h->type = htole32(VIRTIO_BLK_T_OUT);
	h->sector = 0;
	drv_add_chain(&d, s, 2);
	kick(&d);
	wait_used(&d, 8);

	blk_get_stats(dev, &st);
	cr_assert_eq(st.requests[BLK_REQ_READ], 3, "the failed read counts as a read");
	cr_assert_eq(st.requests[BLK_REQ_WRITE], 1);
	cr_assert_eq(st.requests[BLK_REQ_FLUSH], 1);
	cr_assert_eq(st.requests[BLK_REQ_GET_ID], 1);
	cr_assert_eq(st.requests[BLK_REQ_DISCARD], 0);
	cr_assert_eq(st.requests[BLK_REQ_WRITE_ZEROES], 0);
	cr_assert_eq(st.requests[BLK_REQ_OTHER], 1);
	cr_assert_eq(st.read_bytes, 4096 + 512, "only what was read");
	cr_assert_eq(st.write_bytes, 1024);
	cr_assert_eq(st.ioerr, 1);
	cr_assert_eq(st.unsupp, 1);
	cr_assert_eq(st.unanswered, 1);
	cr_assert_eq(hist_count(&st.latency), 7, "every answered request has a latency");
	cr_assert_lt(st.latency.sum_us, 30ULL * 1000000, "microseconds, not nanoseconds");
	cr_assert_str_eq(blk_req_kind_name(BLK_REQ_WRITE_ZEROES), "write_zeroes");
}

Test(blk, stats_summed_over_queues)
{
	struct blk_config cfg = { .path = img, .queues = 2 };
	struct blk_stats st;
	struct drv d[2];

	dev = create(&cfg);
	start(d, 2, QSIZE);
	cr_assert_eq(run_req(&d[0], VIRTIO_BLK_T_IN, 0, DATA_AREA, 512, true, NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert_eq(run_req(&d[1], VIRTIO_BLK_T_IN, 0, DATA_AREA, 1024, true, NULL),
		     VIRTIO_BLK_S_OK);
	blk_get_stats(dev, &st);
	cr_assert_eq(st.requests[BLK_REQ_READ], 2);
	cr_assert_eq(st.read_bytes, 1536);
	cr_assert_eq(hist_count(&st.latency), 2);
}

/* The metrics line (vmm/metrics.c) carries a virtio-blk device's counters. */
Test(blk, metrics_line_has_the_counters)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	json_t *j, *blk, *buckets;
	long long total = 0;
	size_t i;
	json_t *v;
	struct drv d;

	cr_assert_not_null(vm);
	dev = create_default();
	start(&d, 1, QSIZE);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_OUT, 0, DATA_AREA, 2048, false, NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert_eq(run_req(&d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	pthread_mutex_init(&vm->stop_lock, NULL);
	vm->nr_virtio = 1;
	vm->virtio[0].dev = dev;
	strcpy(vm->virtio[0].name, "blk0");
	j = metrics_vm_json(vm);
	blk = json_object_get(json_object_get(j, "devices"), "blk0");
	cr_assert_not_null(blk, "devices.blk0");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(blk, "requests"),
							"write")), 1);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(blk, "requests"),
							"flush")), 1);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(blk, "requests"),
							"read")), 0);
	cr_assert_eq(json_integer_value(json_object_get(blk, "write_bytes")), 2048);
	cr_assert_eq(json_integer_value(json_object_get(blk, "ioerr")), 0);
	buckets = json_object_get(json_object_get(blk, "latency_us"), "buckets");
	cr_assert_eq(json_array_size(buckets), STATS_HIST_BUCKETS);
	json_array_foreach(buckets, i, v)
		total += json_integer_value(v);
	cr_assert_eq(total, 2);
	cr_assert_null(json_object_get(blk, "interrupts"), "no transport here");
	cr_assert_null(json_object_get(j, "mgmt"), "no management device");
	json_decref(j);
	pthread_mutex_destroy(&vm->stop_lock);
	free(vm);
}
