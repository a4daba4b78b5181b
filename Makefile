# SPDX-License-Identifier: Apache-2.0
# vqvm: build, test, run and benchmark. Build outputs go under build/.

VERSION := 0.1.0
CC ?= cc
BUILD := build
CFLAGS_COMMON := -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	-Wmissing-prototypes -Wstrict-prototypes -D_GNU_SOURCE -I. -MMD -MP \
	-DVQVM_VERSION=\"$(VERSION)\"
CFLAGS ?= -O2 -g
LDLIBS := -lpthread -luring -lfdt -lmicrohttpd -ljansson

# Every .c of the layers is part of the VMM; main.c only of the binary.
LAYER_SRCS := $(sort $(wildcard lib/*.c devices/*.c virtio/*.c arch/x86/*.c vmm/*.c))
LIB_SRCS := $(filter-out vmm/main.c,$(LAYER_SRCS))
OBJS := $(LAYER_SRCS:%.c=$(BUILD)/obj/%.o)

# Unit tests: every tests/unit/test_*.c is one Criterion binary, built with ASan+UBSan
# against all the layers except main.c and against the test helpers of tests/unit/lib
# (the in-process guest, the fake hypervisor, the management device's guest driver).
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)
UNIT_LIB_SRCS := $(sort $(wildcard tests/unit/lib/*.c))
SAN_OBJS := $(LIB_SRCS:%.c=$(BUILD)/san/%.o) $(UNIT_LIB_SRCS:%.c=$(BUILD)/san/%.o)

# In-process benchmarks (bench/*.c): optimised, no sanitizers, on the device layers and
# the unit-test helpers (no vmm/).
BENCH_OBJS := $(filter-out $(BUILD)/obj/vmm/%,$(OBJS)) $(UNIT_LIB_SRCS:%.c=$(BUILD)/obj/%.o)

# Freestanding test guests packaged as bzImages (run even where KVM cannot boot Linux).
TINY_GUESTS := $(addprefix $(BUILD)/tests/tiny-,$(addsuffix .bzImage,reset panic fault spin))

.PHONY: all deps images test unit-test vm-test run bench clean driver

all: $(BUILD)/vqvm

$(BUILD)/vqvm: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $(filter %.o,$^) $(LDLIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) -c -o $@ $<

$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -O1 -g $(SAN_FLAGS) -c -o $@ $<

$(BUILD)/unit/%: tests/unit/%.c $(SAN_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -O1 -g $(SAN_FLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS) -lcriterion

$(BUILD)/bench/%: bench/%.c $(BENCH_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

$(BUILD)/tests/tiny-%.bzImage: tests/guests/tiny.S
	@mkdir -p $(dir $@)
	$(CC) -c -DTINY_$(shell echo $* | tr a-z A-Z) -o $(BUILD)/tests/tiny-$*.o $<
	objcopy -O binary -j .text $(BUILD)/tests/tiny-$*.o $@

deps:
	@scripts/deps.sh

# Guest kernel, initramfs and (for the sandbox) the L1 image pieces.
images: $(BUILD)/vqvm driver
	@guest-images/build.sh $(BUILD)/images

# The guest driver of the management device (GPL-2.0 module), built against the
# guest kernel's headers; guest-images/build.sh puts it into the initramfs.
driver:
	@guest-images/driver/build.sh $(BUILD)/images/driver

unit-test: $(UNIT_BINS)
	@tests/run-unit.sh $(UNIT_BINS)

vm-test: $(BUILD)/vqvm images $(TINY_GUESTS)
	@tests/run-vm-tests.sh

test: all unit-test vm-test

run:
	@scripts/deps.sh --if-missing
	@$(MAKE) --no-print-directory all images
	@scripts/run.sh

bench: $(BUILD)/vqvm images
	@bench/run.sh

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d) $(SAN_OBJS:.o=.d) $(UNIT_BINS:=.d) $(BENCH_OBJS:.o=.d)
