// SPDX-License-Identifier: Apache-2.0
#include "lib/guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

int guest_mem_init(struct guest_mem *mem, uint64_t ram_size)
{
	uint64_t low;
	void *p;

	memset(mem, 0, sizeof(*mem));
	if (ram_size == 0 || ram_size % 4096)
		return -EINVAL;
	/* Reserve without committing: pages are backed as the guest touches them. */
	p = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	madvise(p, ram_size, MADV_MERGEABLE);
	mem->mapping = p;
	mem->ram_size = ram_size;
	low = ram_size < GUEST_MEM_HOLE_START ? ram_size : GUEST_MEM_HOLE_START;
	mem->region[0] = (struct guest_region){ .gpa = 0, .size = low, .host = p };
	mem->nr_regions = 1;
	if (ram_size > low) {
		mem->region[1] = (struct guest_region){
			.gpa = GUEST_MEM_HIGH_START,
			.size = ram_size - low,
			.host = (uint8_t *)p + low,
		};
		mem->nr_regions = 2;
	}
	return 0;
}

void guest_mem_free(struct guest_mem *mem)
{
	if (mem->mapping)
		munmap(mem->mapping, mem->ram_size);
	memset(mem, 0, sizeof(*mem));
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->region[i];

		/* gpa - r->gpa cannot underflow after the first test; no gpa + len overflow. */
		if (gpa < r->gpa || gpa - r->gpa > r->size)
			continue;
		if (len > r->size - (gpa - r->gpa))
			return NULL;
		return r->host + (gpa - r->gpa);
	}
	return NULL;
}

bool guest_mem_valid(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	return guest_mem_ptr(mem, gpa, len) != NULL;
}

int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *dst, size_t len)
{
	const void *src = guest_mem_ptr(mem, gpa, len);

	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, size_t len)
{
	void *dst = guest_mem_ptr(mem, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

uint64_t guest_mem_low_end(const struct guest_mem *mem)
{
	return mem->nr_regions ? mem->region[0].size : 0;
}
