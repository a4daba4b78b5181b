// SPDX-License-Identifier: Apache-2.0
/*
 * bzImage loading, initrd placement, boot_params and setup_data, against synthetic
 * images. Offsets are restated here from Documentation/arch/x86/boot.rst rather than
 * taken from bzimage.c, so a wrong offset there shows up as a failure here.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/bzimage.h"
#include "arch/x86/layout.h"
#include "lib/guest_mem.h"

#define MIB (1ULL << 20)

/* boot.rst offsets */
#define OFF_SETUP_SECTS 0x1f1
#define OFF_SYSSIZE 0x1f4
#define OFF_VID_MODE 0x1fa
#define OFF_BOOT_FLAG 0x1fe
#define OFF_JUMP 0x200
#define OFF_HEADER 0x202
#define OFF_VERSION 0x206
#define OFF_TYPE_OF_LOADER 0x210
#define OFF_LOADFLAGS 0x211
#define OFF_RAMDISK_IMAGE 0x218
#define OFF_RAMDISK_SIZE 0x21c
#define OFF_HEAP_END_PTR 0x224
#define OFF_CMD_LINE_PTR 0x228
#define OFF_INITRD_ADDR_MAX 0x22c
#define OFF_KERNEL_ALIGNMENT 0x230
#define OFF_RELOCATABLE 0x234
#define OFF_XLOADFLAGS 0x236
#define OFF_CMDLINE_SIZE 0x238
#define OFF_SETUP_DATA 0x250
#define OFF_PREF_ADDRESS 0x258
#define OFF_INIT_SIZE 0x260
#define OFF_EXT_RAMDISK_IMAGE 0x0c0
#define OFF_EXT_RAMDISK_SIZE 0x0c4
#define OFF_EXT_CMD_LINE_PTR 0x0c8
#define OFF_E820_ENTRIES 0x1e8
#define OFF_SENTINEL 0x1ef
#define OFF_E820_TABLE 0x2d0

struct image_spec {
	uint8_t setup_sects;
	uint16_t version;
	uint16_t xloadflags;
	uint8_t relocatable;
	uint8_t loadflags;
	uint32_t kernel_bytes;    /* protected-mode part actually in the file */
	uint32_t syssize_bytes;   /* what the header claims (0 = kernel_bytes) */
	uint32_t kernel_alignment;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
	uint8_t jump_offset;
};

static struct image_spec default_spec(void)
{
	return (struct image_spec){
		.setup_sects = 27,
		.version = 0x020f,
		.xloadflags = 0x7f,
		.relocatable = 1,
		.loadflags = 0x01,
		.kernel_bytes = 64 * 1024,
		.kernel_alignment = 0x200000,
		.pref_address = 0x1000000,
		.init_size = 32 * MIB,
		.initrd_addr_max = 0x7fffffff,
		.cmdline_size = 2047,
		.jump_offset = 0x66,
	};
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static size_t setup_bytes(const struct image_spec *s)
{
	return ((size_t)(s->setup_sects ? s->setup_sects : 4) + 1) * 512;
}

/* A bzImage with the header of s and a recognisable kernel pattern. */
static uint8_t *make_image(const struct image_spec *s, size_t *size)
{
	size_t setup = setup_bytes(s);
	uint8_t *img;

	*size = setup + s->kernel_bytes;
	img = calloc(1, *size);
	cr_assert_not_null(img);
	img[OFF_SETUP_SECTS] = s->setup_sects;
	put32(img + OFF_SYSSIZE, (s->syssize_bytes ? s->syssize_bytes : s->kernel_bytes) / 16);
	put16(img + OFF_BOOT_FLAG, 0xaa55);
	img[OFF_JUMP] = 0xeb;
	img[OFF_JUMP + 1] = s->jump_offset;
	memcpy(img + OFF_HEADER, "HdrS", 4);
	put16(img + OFF_VERSION, s->version);
	img[OFF_LOADFLAGS] = s->loadflags;
	put32(img + OFF_INITRD_ADDR_MAX, s->initrd_addr_max);
	put32(img + OFF_KERNEL_ALIGNMENT, s->kernel_alignment);
	img[OFF_RELOCATABLE] = s->relocatable;
	put16(img + OFF_XLOADFLAGS, s->xloadflags);
	put32(img + OFF_CMDLINE_SIZE, s->cmdline_size);
	put64(img + OFF_PREF_ADDRESS, s->pref_address);
	put32(img + OFF_INIT_SIZE, s->init_size);
	/* A setup-header field a loader must leave alone, and a byte past the header. */
	put16(img + OFF_VID_MODE, 0x1234);
	img[0x26f] = 0xa5;
	for (size_t i = 0; i < s->kernel_bytes; i++)
		img[setup + i] = (uint8_t)(i * 7 + 3);
	return img;
}

static struct guest_mem mem;

static void mem_init(uint64_t size)
{
	cr_assert_eq(guest_mem_init(&mem, size), 0);
}

static void mem_fini(void)
{
	guest_mem_free(&mem);
}

static int load(const struct image_spec *s, struct bzimage_info *info, struct err *e)
{
	size_t size;
	uint8_t *img = make_image(s, &size);
	int rc = bzimage_load(&mem, img, size, info, e);

	free(img);
	return rc;
}

static void expect_reject(const struct image_spec *s, const char *needle)
{
	struct bzimage_info info;
	struct err e = { { 0 } };

	cr_assert_eq(load(s, &info, &e), -1);
	cr_assert(strstr(e.msg, needle), "message \"%s\" lacks \"%s\"", e.msg, needle);
}

TestSuite(bzimage, .init = NULL, .fini = mem_fini);

Test(bzimage, loads_at_pref_address)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;
	size_t size;
	uint8_t *img = make_image(&s, &size);

	mem_init(256 * MIB);
	cr_assert_eq(bzimage_load(&mem, img, size, &info, &e), 0, "%s", e.msg);
	cr_expect_eq(info.protocol, 0x020f);
	cr_expect_eq(info.setup_size, 28 * 512);
	cr_expect_eq(info.kernel_size, s.kernel_bytes);
	cr_expect_eq(info.load_addr, 0x1000000);
	cr_expect_eq(info.entry64, 0x1000200);
	cr_expect_eq(info.init_size, 32 * MIB);
	cr_expect_eq(info.kernel_alignment, 0x200000);
	cr_expect_eq(info.initrd_addr_max, 0x7fffffff);
	cr_expect_eq(info.cmdline_size, 2047);
	cr_expect_eq(info.initrd_addr, 0);
	cr_expect_eq(memcmp(guest_mem_ptr(&mem, 0x1000000, s.kernel_bytes),
			    img + info.setup_size, s.kernel_bytes), 0);
	free(img);
}

Test(bzimage, setup_sects_zero_means_four)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;

	s.setup_sects = 0;
	mem_init(256 * MIB);
	cr_assert_eq(load(&s, &info, &e), 0, "%s", e.msg);
	cr_expect_eq(info.setup_size, 5 * 512);
	/* The kernel proper starts right after the five sectors. */
	cr_expect_eq(*(uint8_t *)guest_mem_ptr(&mem, info.load_addr, 1), 3);
	cr_expect_eq(*(uint8_t *)guest_mem_ptr(&mem, info.load_addr + 1, 1), 10);
}

Test(bzimage, other_pref_address_honoured)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;

	s.pref_address = 0x4000000;
	mem_init(256 * MIB);
	cr_assert_eq(load(&s, &info, &e), 0, "%s", e.msg);
	cr_expect_eq(info.load_addr, 0x4000000);
}

Test(bzimage, pref_address_not_fitting_falls_back)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;

	/* 200 MiB + 64 MiB runs past a 256 MiB guest; 32 MiB alignment from 16 MiB. */
	s.pref_address = 200 * MIB;
	s.init_size = 64 * MIB;
	s.kernel_alignment = 32 * MIB;
	mem_init(256 * MIB);
	cr_assert_eq(load(&s, &info, &e), 0, "%s", e.msg);
	cr_expect_eq(info.load_addr, 32 * MIB);
	cr_expect_eq(info.load_addr % info.kernel_alignment, 0);
}

Test(bzimage, unaligned_or_low_pref_address_falls_back)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;

	mem_init(256 * MIB);
	s.pref_address = 0x1100000; /* not 2 MiB aligned */
	cr_assert_eq(load(&s, &info, &e), 0, "%s", e.msg);
	cr_expect_eq(info.load_addr, BOOT_MIN_KERNEL_ADDR);
	s.pref_address = 0x80000; /* inside vqvm's real-mode area */
	cr_assert_eq(load(&s, &info, &e), 0, "%s", e.msg);
	cr_expect_eq(info.load_addr, BOOT_MIN_KERNEL_ADDR);
}

Test(bzimage, init_size_honoured)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;

	mem_init(128 * MIB);
	/* Exactly up to the end of RAM is fine ... */
	s.init_size = 112 * MIB;
	cr_assert_eq(load(&s, &info, &e), 0, "%s", e.msg);
	cr_expect_eq(info.load_addr + info.init_size, 128 * MIB);
	/* ... one page more is not, at pref_address nor anywhere aligned above 16 MiB. */
	s.init_size = 112 * MIB + 4096;
	expect_reject(&s, "give the guest more memory");
}

Test(bzimage, init_size_smaller_than_kernel_is_raised)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;

	s.init_size = 4096;
	mem_init(256 * MIB);
	cr_assert_eq(load(&s, &info, &e), 0, "%s", e.msg);
	cr_expect_eq(info.init_size, s.kernel_bytes);
}

Test(bzimage, trailing_bytes_after_syssize_accepted)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;

	/* Like a signed vmlinuz: the file goes on past syssize. */
	s.syssize_bytes = s.kernel_bytes - 1024;
	mem_init(256 * MIB);
	cr_assert_eq(load(&s, &info, &e), 0, "%s", e.msg);
	cr_expect_eq(info.kernel_size, s.kernel_bytes - 1024);
}

Test(bzimage, rejects_too_small_file)
{
	struct bzimage_info info;
	struct err e;
	uint8_t img[0x200] = { 0 };

	mem_init(256 * MIB);
	cr_assert_eq(bzimage_load(&mem, img, sizeof(img), &info, &e), -1);
	cr_expect(strstr(e.msg, "too small"), "%s", e.msg);
	cr_assert_eq(bzimage_load(&mem, NULL, 0, &info, &e), -1);
}

Test(bzimage, rejects_missing_magic)
{
	struct bzimage_info info;
	struct err e;
	struct image_spec s = default_spec();
	size_t size;
	uint8_t *img = make_image(&s, &size);

	mem_init(256 * MIB);
	img[OFF_HEADER + 3] = 'T';
	cr_assert_eq(bzimage_load(&mem, img, size, &info, &e), -1);
	cr_expect_str_eq(e.msg, "not a bzImage (no HdrS magic)");
	free(img);
}

Test(bzimage, rejects_protocol_2_11)
{
	struct image_spec s = default_spec();

	s.version = 0x020b;
	mem_init(256 * MIB);
	expect_reject(&s, "boot protocol 2.11 is too old (need 2.12)");
}

Test(bzimage, accepts_protocol_2_12)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;

	s.version = 0x020c;
	mem_init(256 * MIB);
	cr_expect_eq(load(&s, &info, &e), 0, "%s", e.msg);
}

Test(bzimage, rejects_no_64bit_entry)
{
	struct image_spec s = default_spec();

	s.xloadflags = 0x7e;
	mem_init(256 * MIB);
	expect_reject(&s, "XLF_KERNEL_64");
}

Test(bzimage, rejects_not_relocatable)
{
	struct image_spec s = default_spec();

	s.relocatable = 0;
	mem_init(256 * MIB);
	expect_reject(&s, "not relocatable");
}

Test(bzimage, rejects_syssize_beyond_file)
{
	struct image_spec s = default_spec();

	s.syssize_bytes = s.kernel_bytes + 16;
	mem_init(256 * MIB);
	expect_reject(&s, "syssize");
}

Test(bzimage, rejects_huge_syssize_without_overflow)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;
	size_t size;
	uint8_t *img = make_image(&s, &size);

	mem_init(256 * MIB);
	put32(img + OFF_SYSSIZE, 0xffffffff);
	cr_assert_eq(bzimage_load(&mem, img, size, &info, &e), -1);
	cr_expect(strstr(e.msg, "syssize"), "%s", e.msg);
	free(img);
}

Test(bzimage, rejects_setup_beyond_file)
{
	struct bzimage_info info;
	struct err e;
	struct image_spec s = default_spec();
	size_t size;
	uint8_t *img = make_image(&s, &size);

	mem_init(256 * MIB);
	img[OFF_SETUP_SECTS] = 255; /* 128 KiB of setup in a ~78 KiB file */
	cr_assert_eq(bzimage_load(&mem, img, size, &info, &e), -1);
	cr_expect(strstr(e.msg, "setup"), "%s", e.msg);
	free(img);
}

Test(bzimage, rejects_bad_alignment)
{
	struct image_spec s = default_spec();

	mem_init(256 * MIB);
	s.kernel_alignment = 0x300000;
	expect_reject(&s, "kernel_alignment 0x300000 is not a power of two");
	s.kernel_alignment = 0;
	expect_reject(&s, "kernel_alignment");
}

Test(bzimage, rejects_kernel_too_big_for_guest)
{
	struct image_spec s = default_spec();

	s.init_size = 0xf0000000;
	mem_init(64 * MIB);
	expect_reject(&s, "give the guest more memory");
}

static void load_default(uint64_t ram, struct image_spec *s, struct bzimage_info *info)
{
	struct err e;

	mem_init(ram);
	cr_assert_eq(load(s, info, &e), 0, "%s", e.msg);
}

static uint8_t *make_initrd(size_t size)
{
	uint8_t *p = malloc(size);

	cr_assert_not_null(p);
	for (size_t i = 0; i < size; i++)
		p[i] = (uint8_t)(i * 13 + 1);
	return p;
}

Test(bzimage, initrd_placed_high_and_aligned)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;
	size_t size = 3 * MIB + 123;
	uint8_t *rd = make_initrd(size);

	load_default(256 * MIB, &s, &info);
	cr_assert_eq(bzimage_load_initrd(&mem, &info, rd, size, &e), 0, "%s", e.msg);
	cr_expect_eq(info.initrd_size, size);
	cr_expect_eq(info.initrd_addr % 4096, 0);
	cr_expect_leq(info.initrd_addr + size, 256 * MIB);
	/* As high as possible: less than a page of slack at the top. */
	cr_expect_gt(info.initrd_addr + size + 4096, 256 * MIB);
	cr_expect_geq(info.initrd_addr, info.load_addr + info.init_size);
	cr_expect_eq(memcmp(guest_mem_ptr(&mem, info.initrd_addr, size), rd, size), 0);
	free(rd);
}

Test(bzimage, initrd_below_initrd_addr_max)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;
	size_t size = 2 * MIB;
	uint8_t *rd = make_initrd(size);

	s.initrd_addr_max = 0x5fffffff; /* last byte at 1.5 GiB - 1 */
	load_default(2048 * MIB, &s, &info);
	cr_assert_eq(bzimage_load_initrd(&mem, &info, rd, size, &e), 0, "%s", e.msg);
	cr_expect_eq(info.initrd_addr, 0x60000000 - size);
	free(rd);
}

Test(bzimage, initrd_in_large_guest_stays_below_3g)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;
	size_t size = MIB;
	uint8_t *rd = make_initrd(size);

	s.initrd_addr_max = 0xffffffff;
	load_default(6144 * MIB, &s, &info);
	cr_assert_eq(bzimage_load_initrd(&mem, &info, rd, size, &e), 0, "%s", e.msg);
	cr_expect_eq(info.initrd_addr, GUEST_MEM_HOLE_START - size);
	free(rd);
}

Test(bzimage, initrd_goes_below_kernel_when_no_room_above)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;
	size_t size = 10 * MIB;
	uint8_t *rd = make_initrd(size);

	/* The kernel spans [16 MiB, 250 MiB) of 256 MiB: 6 MiB above, 15 below 16 MiB. */
	s.init_size = 234 * MIB;
	load_default(256 * MIB, &s, &info);
	cr_assert_eq(bzimage_load_initrd(&mem, &info, rd, size, &e), 0, "%s", e.msg);
	cr_expect_eq(info.initrd_addr, 6 * MIB);
	cr_expect_leq(info.initrd_addr + size, info.load_addr);
	cr_expect_geq(info.initrd_addr, BOOT_HIGHMEM_START);
	free(rd);
}

Test(bzimage, initrd_never_overlaps_kernel)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;
	size_t size = 20 * MIB;
	uint8_t *rd = make_initrd(size);

	/* 6 MiB above the kernel, 15 MiB from 1 MiB up to it: 20 MiB fits nowhere. */
	s.init_size = 234 * MIB;
	load_default(256 * MIB, &s, &info);
	cr_assert_eq(bzimage_load_initrd(&mem, &info, rd, size, &e), -1);
	cr_expect(strstr(e.msg, "20 MiB does not fit below 0x10000000"), "%s", e.msg);
	cr_expect(strstr(e.msg, "give the guest more memory"), "%s", e.msg);
	cr_expect_eq(info.initrd_addr, 0);
	free(rd);
}

Test(bzimage, initrd_too_big)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;
	size_t size = 300 * MIB;
	uint8_t *rd = calloc(1, size);

	load_default(256 * MIB, &s, &info);
	cr_assert_eq(bzimage_load_initrd(&mem, &info, rd, size, &e), -1);
	cr_expect(strstr(e.msg, "300 MiB does not fit"), "%s", e.msg);
	free(rd);
}

Test(bzimage, no_initrd)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;

	load_default(256 * MIB, &s, &info);
	cr_assert_eq(bzimage_load_initrd(&mem, &info, NULL, 0, &e), 0);
	cr_expect_eq(info.initrd_addr, 0);
	cr_expect_eq(info.initrd_size, 0);
}

/* Load image s with a 1 MiB initrd and build boot_params; returns the zero page. */
static const uint8_t *build_bp(struct image_spec *s, uint64_t ram, uint64_t cmdline_gpa,
			       uint64_t setup_data_gpa, struct bzimage_info *info)
{
	struct err e;
	size_t size, rd_size = MIB;
	uint8_t *img = make_image(s, &size), *rd = make_initrd(rd_size);

	mem_init(ram);
	cr_assert_eq(bzimage_load(&mem, img, size, info, &e), 0, "%s", e.msg);
	cr_assert_eq(bzimage_load_initrd(&mem, info, rd, rd_size, &e), 0, "%s", e.msg);
	cr_assert_eq(boot_params_build(&mem, img, size, info, cmdline_gpa, setup_data_gpa, &e),
		     0, "%s", e.msg);
	free(img);
	free(rd);
	return guest_mem_ptr(&mem, BOOT_PARAMS_ADDR, 4096);
}

Test(bzimage, boot_params_fields)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	const uint8_t *bp;

	s.loadflags = 0x41; /* LOADED_HIGH | KEEP_SEGMENTS: the latter must go */
	bp = build_bp(&s, 256 * MIB, BOOT_CMDLINE_ADDR, BOOT_SETUP_DATA_ADDR, &info);
	cr_assert_not_null(bp);
	cr_expect_eq(memcmp(bp + OFF_HEADER, "HdrS", 4), 0);
	cr_expect_eq(get16(bp + OFF_VERSION), 0x020f);
	cr_expect_eq(bp[OFF_SETUP_SECTS], 27);
	cr_expect_eq(get16(bp + OFF_BOOT_FLAG), 0xaa55);
	cr_expect_eq(get32(bp + OFF_KERNEL_ALIGNMENT), 0x200000);
	cr_expect_eq(get32(bp + OFF_INIT_SIZE), 32 * MIB);
	cr_expect_eq(bp[OFF_TYPE_OF_LOADER], 0xff);
	cr_expect_eq(bp[OFF_LOADFLAGS], 0x81);
	cr_expect_eq(get16(bp + OFF_HEAP_END_PTR), 0xfe00);
	cr_expect_eq(get16(bp + OFF_VID_MODE), 0xffff);
	cr_expect_eq(get32(bp + OFF_CMD_LINE_PTR), BOOT_CMDLINE_ADDR);
	cr_expect_eq(get32(bp + OFF_EXT_CMD_LINE_PTR), 0);
	cr_expect_eq(get32(bp + OFF_RAMDISK_IMAGE), info.initrd_addr);
	cr_expect_eq(get32(bp + OFF_RAMDISK_SIZE), MIB);
	cr_expect_eq(get32(bp + OFF_EXT_RAMDISK_IMAGE), 0);
	cr_expect_eq(get32(bp + OFF_EXT_RAMDISK_SIZE), 0);
	cr_expect_eq(get64(bp + OFF_SETUP_DATA), BOOT_SETUP_DATA_ADDR);
	cr_expect_eq(bp[OFF_SENTINEL], 0);
	/* jump offset 0x66: the header ends at 0x268; the image's byte at 0x26f stays out. */
	cr_expect_eq(bp[0x26f], 0);
}

Test(bzimage, boot_params_e820)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct e820_entry want[E820_MAX_ENTRIES_ZEROPAGE];
	unsigned int n;
	const uint8_t *bp;

	bp = build_bp(&s, 6144 * MIB, BOOT_CMDLINE_ADDR, 0, &info);
	n = e820_build(&mem, want, E820_MAX_ENTRIES_ZEROPAGE);
	cr_assert_eq(n, 5);
	cr_expect_eq(bp[OFF_E820_ENTRIES], n);
	cr_expect_eq(memcmp(bp + OFF_E820_TABLE, want, n * 20), 0);
	/* The last entry, by hand: RAM at 4 GiB, 20 bytes per entry. */
	cr_expect_eq(get64(bp + OFF_E820_TABLE + 4 * 20), 0x100000000ULL);
	cr_expect_eq(get64(bp + OFF_E820_TABLE + 4 * 20 + 8), 3072 * MIB);
	cr_expect_eq(get32(bp + OFF_E820_TABLE + 4 * 20 + 16), 1);
	cr_expect_eq(get64(bp + OFF_E820_TABLE + 5 * 20 + 8), 0);
	cr_expect_eq(get64(bp + OFF_SETUP_DATA), 0);
}

Test(bzimage, boot_params_high_cmdline_uses_ext_field)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	const uint8_t *bp;

	bp = build_bp(&s, 6144 * MIB, 0x100002000ULL, 0, &info);
	cr_expect_eq(get32(bp + OFF_CMD_LINE_PTR), 0x2000);
	cr_expect_eq(get32(bp + OFF_EXT_CMD_LINE_PTR), 1);
}

Test(bzimage, boot_params_rejects_bad_addresses)
{
	struct image_spec s = default_spec();
	struct bzimage_info info;
	struct err e;
	size_t size;
	uint8_t *img = make_image(&s, &size);

	mem_init(256 * MIB);
	cr_assert_eq(bzimage_load(&mem, img, size, &info, &e), 0, "%s", e.msg);
	cr_expect_eq(boot_params_build(&mem, img, size, &info, 0xd0000000, 0, &e), -1);
	cr_expect(strstr(e.msg, "cmdline"), "%s", e.msg);
	cr_expect_eq(boot_params_build(&mem, img, size, &info, BOOT_CMDLINE_ADDR,
				       512 * MIB, &e), -1);
	cr_expect(strstr(e.msg, "setup_data"), "%s", e.msg);
	cr_expect_eq(boot_params_build(&mem, img, 0x100, &info, BOOT_CMDLINE_ADDR, 0, &e), -1);
	free(img);
}

Test(bzimage, setup_data_node)
{
	struct err e;
	const char payload[] = "\xd0\x0d\xfe\xed payload";
	const uint8_t *p;

	mem_init(128 * MIB);
	cr_assert_eq(setup_data_write(&mem, BOOT_SETUP_DATA_ADDR, SETUP_DTB, payload,
				      sizeof(payload), &e), 0, "%s", e.msg);
	p = guest_mem_ptr(&mem, BOOT_SETUP_DATA_ADDR, 16 + sizeof(payload));
	cr_expect_eq(get64(p), 0);                /* next */
	cr_expect_eq(get32(p + 8), 2);            /* SETUP_DTB */
	cr_expect_eq(get32(p + 12), sizeof(payload));
	cr_expect_eq(memcmp(p + 16, payload, sizeof(payload)), 0);
}

Test(bzimage, setup_data_must_fit)
{
	struct err e;
	uint8_t *big = calloc(1, BOOT_SETUP_DATA_MAX);

	mem_init(128 * MIB);
	/* The header plus the payload must stay inside the area. */
	cr_expect_eq(setup_data_write(&mem, BOOT_SETUP_DATA_ADDR, SETUP_DTB, big,
				      BOOT_SETUP_DATA_MAX - 16, &e), 0, "%s", e.msg);
	cr_expect_eq(setup_data_write(&mem, BOOT_SETUP_DATA_ADDR, SETUP_DTB, big,
				      BOOT_SETUP_DATA_MAX - 15, &e), -1);
	cr_expect(strstr(e.msg, "setup_data"), "%s", e.msg);
	cr_expect_eq(setup_data_write(&mem, 128 * MIB - 8, SETUP_DTB, big, 0, &e), -1);
	cr_expect_eq(setup_data_write(&mem, 0xfffffffffffffff8ULL, SETUP_DTB, big, 64, &e), -1);
	free(big);
}
