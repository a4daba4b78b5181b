// SPDX-License-Identifier: Apache-2.0
/*
 * Linux x86 boot protocol (Documentation/arch/x86/boot.rst). The image is untrusted
 * input: every field is range-checked before it is used as a size or an address.
 */
#include "arch/x86/bzimage.h"

#include <string.h>

#include "arch/x86/layout.h"

/* Setup header fields: offsets in the image file, identical in boot_params. */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_SYSSIZE 0x1f4
#define HDR_VID_MODE 0x1fa
#define HDR_JUMP_OFFSET 0x201 /* second byte of the jump: header length past 0x202 */
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_SETUP_DATA 0x250
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_END_2_12 0x264 /* end of the last field we read (init_size) */
#define HDR_MAX_END 0x290  /* boot_params.edd_mbr_sig_buffer follows the header */

/* boot_params fields outside the setup header. */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define BP_SIZE 0x1000

#define XLF_KERNEL_64 0x0001
#define LOADFLAG_KEEP_SEGMENTS 0x40
#define LOADFLAG_CAN_USE_HEAP 0x80
#define HEAP_END_PTR 0xfe00 /* heap top as an offset from the real-mode segment */
#define KERNEL_ENTRY64_OFFSET 0x200

#define PAGE_SIZE 4096ULL
#define MIB (1ULL << 20)

#define SETUP_DATA_HDR_SIZE 16 /* le64 next, le32 type, le32 len */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t mib_round_up(uint64_t bytes)
{
	return bytes / MIB + (bytes % MIB != 0);
}

/* [addr, addr + len) inside low RAM and above the real-mode area vqvm uses. */
static int fits_low(const struct guest_mem *mem, uint64_t addr, uint64_t len)
{
	uint64_t end = guest_mem_low_end(mem);

	return addr >= BOOT_HIGHMEM_START && addr <= end && len <= end - addr;
}

/* Is this a bzImage vqvm can boot: magic, protocol, 64-bit entry, relocatable? */
static int check_kind(const uint8_t *image, size_t image_size, struct err *e)
{
	uint16_t ver;

	if (!image || image_size < HDR_END_2_12)
		return err_set(e, "file is too small to be a bzImage (%zu bytes)",
			       image_size);
	if (memcmp(image + HDR_MAGIC, "HdrS", 4))
		return err_set(e, "not a bzImage (no HdrS magic)");
	ver = get16(image + HDR_VERSION);
	if (ver < BZIMAGE_MIN_PROTOCOL)
		return err_set(e, "boot protocol %u.%02u is too old (need %u.%02u)",
			       ver >> 8, ver & 0xff, BZIMAGE_MIN_PROTOCOL >> 8,
			       BZIMAGE_MIN_PROTOCOL & 0xff);
	if (!(get16(image + HDR_XLOADFLAGS) & XLF_KERNEL_64))
		return err_set(e, "no 64-bit entry point (XLF_KERNEL_64 not set)");
	if (!image[HDR_RELOCATABLE])
		return err_set(e, "not relocatable (relocatable_kernel is 0)");
	return 0;
}

/* Sizes and placement constraints; on success fills everything but the addresses. */
static int parse_header(const uint8_t *image, size_t image_size, struct bzimage_info *bi,
			struct err *e)
{
	unsigned int sects = image[HDR_SETUP_SECTS] ? image[HDR_SETUP_SECTS] : 4;
	uint64_t init_size;

	bi->protocol = get16(image + HDR_VERSION);
	bi->setup_size = (sects + 1) * 512;
	if (bi->setup_size >= image_size)
		return err_set(e, "setup (%u bytes) leaves no kernel in a %zu-byte file",
			       bi->setup_size, image_size);
	bi->kernel_size = (uint64_t)get32(image + HDR_SYSSIZE) * 16;
	if (bi->kernel_size == 0)
		return err_set(e, "syssize is 0");
	/* The file may be longer (e.g. a signature appended), never shorter. */
	if (bi->kernel_size > image_size - bi->setup_size)
		return err_set(e, "syssize says %llu bytes but the file has %zu after the setup; truncated?",
			       (unsigned long long)bi->kernel_size, image_size - bi->setup_size);
	bi->kernel_alignment = get32(image + HDR_KERNEL_ALIGNMENT);
	if (!bi->kernel_alignment || (bi->kernel_alignment & (bi->kernel_alignment - 1)))
		return err_set(e, "kernel_alignment 0x%x is not a power of two",
			       bi->kernel_alignment);
	/* init_size covers the file's kernel too; a smaller value would be a lie. */
	init_size = get32(image + HDR_INIT_SIZE);
	bi->init_size = init_size > bi->kernel_size ? init_size : bi->kernel_size;
	bi->initrd_addr_max = get32(image + HDR_INITRD_ADDR_MAX);
	bi->cmdline_size = get32(image + HDR_CMDLINE_SIZE);
	return 0;
}

/* pref_address if it is usable, else the lowest aligned address from 16 MiB. */
static int choose_load_addr(const struct guest_mem *mem, uint64_t pref,
			    struct bzimage_info *bi, struct err *e)
{
	uint64_t align = bi->kernel_alignment;
	uint64_t addr;

	if (pref % align == 0 && fits_low(mem, pref, bi->init_size)) {
		bi->load_addr = pref;
		return 0;
	}
	/* align <= 2^31, so this cannot overflow. */
	addr = (BOOT_MIN_KERNEL_ADDR + align - 1) & ~(align - 1);
	if (!fits_low(mem, addr, bi->init_size))
		return err_set(e, "needs %llu MiB (init_size) from 0x%llx but RAM below 3 GiB ends at 0x%llx; give the guest more memory",
			       (unsigned long long)mib_round_up(bi->init_size),
			       (unsigned long long)addr,
			       (unsigned long long)guest_mem_low_end(mem));
	bi->load_addr = addr;
	return 0;
}

int bzimage_load(const struct guest_mem *mem, const uint8_t *image, size_t image_size,
		 struct bzimage_info *info, struct err *e)
{
	struct bzimage_info bi = { 0 };

	if (check_kind(image, image_size, e) || parse_header(image, image_size, &bi, e))
		return -1;
	if (choose_load_addr(mem, get64(image + HDR_PREF_ADDRESS), &bi, e))
		return -1;
	if (guest_mem_write(mem, bi.load_addr, image + bi.setup_size, bi.kernel_size))
		return err_set(e, "cannot write %llu bytes at 0x%llx",
			       (unsigned long long)bi.kernel_size,
			       (unsigned long long)bi.load_addr);
	bi.entry64 = bi.load_addr + KERNEL_ENTRY64_OFFSET;
	*info = bi;
	return 0;
}

/* Highest page-aligned start for size bytes ending at or below top; 0 if none. */
static uint64_t place_below(uint64_t top, uint64_t size)
{
	if (size > top)
		return 0;
	return (top - size) & ~(PAGE_SIZE - 1);
}

int bzimage_load_initrd(const struct guest_mem *mem, struct bzimage_info *info,
			const uint8_t *initrd, size_t initrd_size, struct err *e)
{
	uint64_t kstart = info->load_addr, kend = info->load_addr + info->init_size;
	uint64_t limit = guest_mem_low_end(mem), addr;

	info->initrd_addr = 0;
	info->initrd_size = 0;
	if (!initrd || !initrd_size)
		return 0;
	/* initrd_addr_max is the last byte the initrd may occupy. */
	if ((uint64_t)info->initrd_addr_max + 1 < limit)
		limit = (uint64_t)info->initrd_addr_max + 1;
	addr = place_below(limit, initrd_size);
	if (addr < kend && addr + initrd_size > kstart)
		addr = place_below(kstart < limit ? kstart : limit, initrd_size);
	if (addr < BOOT_HIGHMEM_START)
		return err_set(e, "%llu MiB does not fit below 0x%llx next to the kernel's %llu MiB; give the guest more memory",
			       (unsigned long long)mib_round_up(initrd_size),
			       (unsigned long long)limit,
			       (unsigned long long)mib_round_up(info->init_size));
	if (guest_mem_write(mem, addr, initrd, initrd_size))
		return err_set(e, "cannot write %zu bytes at 0x%llx", initrd_size,
			       (unsigned long long)addr);
	info->initrd_addr = addr;
	info->initrd_size = initrd_size;
	return 0;
}

static unsigned int e820_add(struct e820_entry *out, unsigned int max, unsigned int n,
			     uint64_t start, uint64_t end, uint32_t type)
{
	if (end <= start || n >= max)
		return n;
	out[n] = (struct e820_entry){ .addr = start, .size = end - start, .type = type };
	return n + 1;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

unsigned int e820_build(const struct guest_mem *mem, struct e820_entry *out, unsigned int max)
{
	uint64_t low = guest_mem_low_end(mem);
	unsigned int n = 0;

	n = e820_add(out, max, n, 0, min_u64(BOOT_EBDA_START, low), E820_RAM);
	/* The MP tables live in the EBDA: the kernel must not reuse it. */
	n = e820_add(out, max, n, BOOT_EBDA_START, min_u64(BOOT_LOWMEM_END, low), E820_RESERVED);
	n = e820_add(out, max, n, BOOT_BIOS_START, min_u64(BOOT_HIGHMEM_START, low), E820_RESERVED);
	n = e820_add(out, max, n, BOOT_HIGHMEM_START, low, E820_RAM);
	for (unsigned int i = 1; i < mem->nr_regions; i++)
		n = e820_add(out, max, n, mem->region[i].gpa,
			     mem->region[i].gpa + mem->region[i].size, E820_RAM);
	return n;
}

/* Copy the image's setup header: 0x1f1 up to 0x202 + the jump's offset byte. */
static void copy_setup_header(uint8_t *bp, const uint8_t *image, size_t image_size)
{
	size_t end = HDR_MAGIC + image[HDR_JUMP_OFFSET];

	if (end > HDR_MAX_END)
		end = HDR_MAX_END;
	if (end > image_size)
		end = image_size;
	memcpy(bp + HDR_SETUP_SECTS, image + HDR_SETUP_SECTS, end - HDR_SETUP_SECTS);
}

static void set_loader_fields(uint8_t *bp, const struct bzimage_info *info,
			      uint64_t cmdline_gpa, uint64_t setup_data_gpa)
{
	bp[HDR_TYPE_OF_LOADER] = 0xff; /* undefined boot loader */
	bp[HDR_LOADFLAGS] |= LOADFLAG_CAN_USE_HEAP;
	/* The 64-bit entry sets up its own segments; we load flat descriptors. */
	bp[HDR_LOADFLAGS] &= (uint8_t)~LOADFLAG_KEEP_SEGMENTS;
	put16(bp + HDR_VID_MODE, 0xffff); /* "normal": no mode change */
	put16(bp + HDR_HEAP_END_PTR, HEAP_END_PTR);
	put32(bp + HDR_CMD_LINE_PTR, (uint32_t)cmdline_gpa);
	put32(bp + BP_EXT_CMD_LINE_PTR, (uint32_t)(cmdline_gpa >> 32));
	put32(bp + HDR_RAMDISK_IMAGE, (uint32_t)info->initrd_addr);
	put32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(info->initrd_addr >> 32));
	put32(bp + HDR_RAMDISK_SIZE, (uint32_t)info->initrd_size);
	put32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)(info->initrd_size >> 32));
	put64(bp + HDR_SETUP_DATA, setup_data_gpa);
}

int boot_params_build(const struct guest_mem *mem, const uint8_t *image, size_t image_size,
		      const struct bzimage_info *info, uint64_t cmdline_gpa,
		      uint64_t setup_data_gpa, struct err *e)
{
	struct e820_entry map[E820_MAX_ENTRIES_ZEROPAGE];
	uint8_t bp[BP_SIZE] = { 0 };
	unsigned int n;

	if (!image || image_size < HDR_END_2_12)
		return err_set(e, "boot_params: kernel image too small (%zu bytes)", image_size);
	if (!guest_mem_valid(mem, cmdline_gpa, 1))
		return err_set(e, "boot_params: cmdline address 0x%llx is not in guest RAM",
			       (unsigned long long)cmdline_gpa);
	if (setup_data_gpa && !guest_mem_valid(mem, setup_data_gpa, SETUP_DATA_HDR_SIZE))
		return err_set(e, "boot_params: setup_data address 0x%llx is not in guest RAM",
			       (unsigned long long)setup_data_gpa);
	copy_setup_header(bp, image, image_size);
	set_loader_fields(bp, info, cmdline_gpa, setup_data_gpa);
	n = e820_build(mem, map, E820_MAX_ENTRIES_ZEROPAGE);
	bp[BP_E820_ENTRIES] = (uint8_t)n;
	memcpy(bp + BP_E820_TABLE, map, n * sizeof(map[0]));
	if (guest_mem_write(mem, BOOT_PARAMS_ADDR, bp, sizeof(bp)))
		return err_set(e, "boot_params: 0x%llx is not in guest RAM",
			       (unsigned long long)BOOT_PARAMS_ADDR);
	return 0;
}

int cmdline_build(char *out, size_t out_size, const char *defaults, const char *user,
		  uint32_t max_len, struct err *e)
{
	size_t dlen = defaults ? strlen(defaults) : 0;
	size_t ulen = user ? strlen(user) : 0;
	size_t sep = dlen && ulen ? 1 : 0;
	size_t len = dlen + sep + ulen;
	uint64_t limit = min_u64(max_len, BOOT_CMDLINE_MAX - 1);

	if (len > limit)
		return err_set(e, "cmdline: %zu bytes (%zu of defaults, %zu of yours) exceed the limit of %llu",
			       len, dlen, ulen, (unsigned long long)limit);
	if (len >= out_size)
		return err_set(e, "cmdline: %zu bytes do not fit a %zu-byte buffer", len, out_size);
	if (dlen)
		memcpy(out, defaults, dlen);
	if (sep)
		out[dlen] = ' ';
	if (ulen)
		memcpy(out + dlen + sep, user, ulen);
	out[len] = '\0';
	return 0;
}

int setup_data_write(const struct guest_mem *mem, uint64_t gpa, uint32_t type,
		     const void *payload, uint32_t len, struct err *e)
{
	uint64_t total = SETUP_DATA_HDR_SIZE + (uint64_t)len;
	uint64_t area_end = BOOT_SETUP_DATA_ADDR + BOOT_SETUP_DATA_MAX;
	uint8_t hdr[SETUP_DATA_HDR_SIZE];

	if (len && !payload)
		return err_set(e, "setup_data: no payload for %u bytes", len);
	/* Inside the reserved area, stay inside it: the EBDA follows. */
	if (gpa >= BOOT_SETUP_DATA_ADDR && gpa < area_end && total > area_end - gpa)
		return err_set(e, "setup_data: %llu bytes at 0x%llx overflow the area ending at 0x%llx",
			       (unsigned long long)total, (unsigned long long)gpa,
			       (unsigned long long)area_end);
	if (!guest_mem_valid(mem, gpa, total))
		return err_set(e, "setup_data: %llu bytes at 0x%llx are not in guest RAM",
			       (unsigned long long)total, (unsigned long long)gpa);
	put64(hdr, 0);
	put32(hdr + 8, type);
	put32(hdr + 12, len);
	guest_mem_write(mem, gpa, hdr, sizeof(hdr));
	if (len)
		guest_mem_write(mem, gpa + sizeof(hdr), payload, len);
	return 0;
}
