// SPDX-License-Identifier: Apache-2.0
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/bzimage.h"
#include "arch/x86/cpu.h"
#include "arch/x86/fdt.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "lib/log.h"
#include "vmm/vcpu.h"
#include "vmm/managed_devices.h"
#include "vmm/virtio_devices.h"

#define KVM_API_VERSION_EXPECTED 12
static const char panic_banner[] = "Kernel panic - not syncing";

/* Capabilities vqvm cannot run without, with the name users will search for. */
static const struct {
	int cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
};

void vm_request_stop(struct vm *vm, enum vm_end why, const char *fmt, ...)
{
	va_list ap;
	bool first;

	pthread_mutex_lock(&vm->stop_lock);
	first = vm->end == VM_RUNNING;
	if (first) {
		va_start(ap, fmt);
		vsnprintf(vm->end_msg, sizeof(vm->end_msg), fmt, ap);
		va_end(ap);
		__atomic_store_n(&vm->end, why, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&vm->stop_lock);
	if (!first)
		return;
	vcpus_kick(vm);
	evloop_stop(&vm->loop);
}

int vm_exit_status(const struct vm *vm)
{
	switch (vm->end) {
	case VM_END_RESET:
	case VM_END_SHUTDOWN:
		return 0;
	case VM_END_SIGNAL:
		return vm->end_signal ? 128 + vm->end_signal : 0;
	default:
		return 1;
	}
}

/* --- devices ------------------------------------------------------------------ */

static void kvm_irq_line(void *opaque, unsigned int gsi, int level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		log_warn("KVM_IRQ_LINE %u: %s", gsi, strerror(errno));
}

/* Called for every byte the guest prints, under the serial lock. */
static void watch_console(void *opaque, uint8_t byte)
{
	struct panic_watch *w = opaque;

	if (w->seen)
		return;
	if (byte == (uint8_t)panic_banner[w->matched])
		w->matched++;
	else
		w->matched = byte == (uint8_t)panic_banner[0];
	if (w->matched == sizeof(panic_banner) - 1)
		__atomic_store_n(&w->seen, true, __ATOMIC_RELEASE);
}

static void guest_reset(void *opaque)
{
	struct vm *vm = opaque;

	/* panic=N reboots after a panic; that reboot is a failure, not a clean exit. */
	if (__atomic_load_n(&vm->panic.seen, __ATOMIC_ACQUIRE))
		vm_request_stop(vm, VM_END_PANIC, "guest kernel panicked");
	else
		vm_request_stop(vm, VM_END_RESET, "guest reset");
}

static int open_serial_output(struct vm *vm, struct err *e)
{
	switch (vm->cfg->serial) {
	case SERIAL_STDIO:
		return STDOUT_FILENO;
	case SERIAL_NONE:
		return -1;
	case SERIAL_FILE:
		vm->serial_out_fd = open(vm->cfg->serial_path,
					 O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (vm->serial_out_fd < 0)
			return err_set(e, "--serial file:%s: %s", vm->cfg->serial_path,
				       strerror(errno)), -2;
		return vm->serial_out_fd;
	}
	return -1;
}

static int setup_devices(struct vm *vm, struct err *e)
{
	struct irq_line com1 = { .set_level = kvm_irq_line, .opaque = vm,
				 .gsi = SERIAL_COM1_IRQ };
	struct irq_line kbd = { .set_level = kvm_irq_line, .opaque = vm, .gsi = I8042_KBD_IRQ };
	int out_fd = open_serial_output(vm, e);

	if (out_fd == -2)
		return -1;
	serial_init(&vm->serial, com1, out_fd);
	vm->serial.on_tx = watch_console;
	vm->serial.on_tx_opaque = &vm->panic;
	i8042_init(&vm->i8042, kbd, guest_reset, vm);
	rtc_init(&vm->rtc);
	if (pci_host_init(&vm->pci, &vm->pio, &vm->mmio))
		return err_set(e, "cannot set up the PCI host bridge");
	if (bus_register(&vm->pio, SERIAL_COM1_BASE, SERIAL_NR_PORTS, serial_io, &vm->serial) ||
	    bus_register(&vm->pio, I8042_DATA_PORT, 1, i8042_data_io, &vm->i8042) ||
	    bus_register(&vm->pio, I8042_CMD_PORT, 1, i8042_cmd_io, &vm->i8042) ||
	    bus_register(&vm->pio, RTC_INDEX_PORT, 1, rtc_index_io, &vm->rtc) ||
	    bus_register(&vm->pio, RTC_DATA_PORT, 1, rtc_data_io, &vm->rtc) ||
	    bus_register(&vm->pio, PCI_CONFIG_ADDR_PORT, 4, pci_config_addr_io, &vm->pci) ||
	    bus_register(&vm->pio, PCI_CONFIG_DATA_PORT, 4, pci_config_data_io, &vm->pci))
		return err_set(e, "cannot register legacy devices on the port bus");
	return 0;
}

/* --- KVM ---------------------------------------------------------------------- */

static int open_kvm(struct vm *vm, struct err *e)
{
	const char *path = vm->cfg->kvm_path ? vm->cfg->kvm_path : "/dev/kvm";
	int version, max_vcpus;

	vm->kvm_fd = open(path, O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return err_set(e, "cannot open %s: %s%s", path, strerror(errno),
			       errno == ENOENT ? " (is KVM enabled? load kvm_intel or kvm_amd)" :
			       errno == EACCES ? " (add yourself to the kvm group)" : "");
	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION_EXPECTED)
		return err_set(e, "%s: KVM API version %d, need %d", path, version,
			       KVM_API_VERSION_EXPECTED);
	for (unsigned int i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++)
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0)
			return err_set(e, "%s lacks %s, which vqvm needs", path,
				       required_caps[i].name);
	max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_vcpus <= 0)
		max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max_vcpus > 0 && vm->cfg->cpus > (unsigned int)max_vcpus)
		return err_set(e, "--cpus %u is more than KVM allows here (%d)", vm->cfg->cpus,
			       max_vcpus);
	vm->kvm_run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->kvm_run_size <= 0)
		return err_set(e, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	return 0;
}

static int create_vm(struct vm *vm, struct err *e)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return err_set(e, "KVM_CREATE_VM: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0)
		return err_set(e, "KVM_SET_TSS_ADDR: %s", strerror(errno));
	{
		uint64_t ident = KVM_IDENTITY_MAP_ADDR;

		if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0)
			log_debug("KVM_SET_IDENTITY_MAP_ADDR: %s (ignored)", strerror(errno));
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return err_set(e, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return err_set(e, "KVM_CREATE_PIT2: %s", strerror(errno));
	return 0;
}

static int setup_memory(struct vm *vm, struct err *e)
{
	int ret = guest_mem_init(&vm->mem, vm->cfg->memory);

	if (ret)
		return err_set(e, "cannot map %" PRIu64 " MiB of guest memory: %s",
			       vm->cfg->memory >> 20, strerror(-ret));
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		const struct guest_region *r = &vm->mem.region[i];
		struct kvm_userspace_memory_region region = {
			.slot = i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->host,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
			return err_set(e, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	}
	return 0;
}

/* --- boot --------------------------------------------------------------------- */

struct file_map {
	uint8_t *data;
	size_t size;
};

static int map_file(const char *what, const char *path, struct file_map *f, struct err *e)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	f->data = NULL;
	f->size = 0;
	if (fd < 0)
		return err_set(e, "%s '%s': %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, "%s '%s': not a regular file", what, path);
	}
	if (st.st_size == 0) {
		close(fd);
		return err_set(e, "%s '%s': file is empty", what, path);
	}
	f->size = (size_t)st.st_size;
	f->data = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (f->data == MAP_FAILED) {
		f->data = NULL;
		return err_set(e, "%s '%s': %s", what, path, strerror(errno));
	}
	return 0;
}

static void unmap_file(struct file_map *f)
{
	if (f->data)
		munmap(f->data, f->size);
}

static int write_dtb(struct vm *vm, const struct bzimage_info *info, const char *cmdline,
		     struct err *e)
{
	const size_t max = BOOT_SETUP_DATA_MAX - 64;
	struct fdt_machine m = {
		.ncpus = vm->nr_vcpus,
		.mem = &vm->mem,
		.cmdline = cmdline,
		.initrd_addr = info->initrd_addr,
		.initrd_size = info->initrd_size,
		.serial_base = SERIAL_COM1_BASE,
		.serial_irq = SERIAL_COM1_IRQ,
		.pci_mmio32_base = PCI_MMIO32_BASE,
		.pci_mmio32_size = PCI_MMIO32_SIZE,
		.pci_pio_base = PCI_PIO_BASE,
		.pci_pio_size = PCI_PIO_SIZE,
	};
	void *blob = calloc(1, max);
	int size, ret = -1;

	if (!blob)
		return err_set(e, "out of memory");
	size = fdt_build(blob, max, &m, e);
	if (size < 0)
		goto out;
	if (setup_data_write(&vm->mem, BOOT_SETUP_DATA_ADDR, SETUP_DTB, blob, size, e))
		goto out;
	if (vm->cfg->dump_dtb_path) {
		FILE *f = fopen(vm->cfg->dump_dtb_path, "wb");

		if (!f || fwrite(blob, 1, size, f) != (size_t)size || fclose(f)) {
			err_set(e, "--dump-dtb %s: %s", vm->cfg->dump_dtb_path, strerror(errno));
			goto out;
		}
	}
	ret = 0;
out:
	free(blob);
	return ret;
}

static int load_guest(struct vm *vm, struct err *e)
{
	struct file_map kernel = { 0 }, initrd = { 0 };
	struct bzimage_info info;
	char *cmdline = NULL;
	int ret = -1;

	if (map_file("kernel", vm->cfg->kernel_path, &kernel, e))
		goto out;
	if (vm->cfg->initrd_path && map_file("initrd", vm->cfg->initrd_path, &initrd, e))
		goto out;
	if (bzimage_load(&vm->mem, kernel.data, kernel.size, &info, e)) {
		err_prefix(e, "kernel '%s'", vm->cfg->kernel_path);
		goto out;
	}
	if (initrd.data &&
	    bzimage_load_initrd(&vm->mem, &info, initrd.data, initrd.size, e)) {
		err_prefix(e, "initrd '%s'", vm->cfg->initrd_path);
		goto out;
	}
	cmdline = calloc(1, BOOT_CMDLINE_MAX);
	if (!cmdline) {
		err_set(e, "out of memory");
		goto out;
	}
	if (cmdline_build(cmdline, BOOT_CMDLINE_MAX, VQVM_DEFAULT_CMDLINE, vm->cfg->cmdline,
			  info.cmdline_size, e))
		goto out;
	if (guest_mem_write(&vm->mem, BOOT_CMDLINE_ADDR, cmdline, strlen(cmdline) + 1)) {
		err_set(e, "no room for the command line in guest memory");
		goto out;
	}
	if (cpu_write_boot_tables(&vm->mem, e) ||
	    mptable_build(&vm->mem, BOOT_EBDA_START, vm->nr_vcpus, e) ||
	    write_dtb(vm, &info, cmdline, e) ||
	    boot_params_build(&vm->mem, kernel.data, kernel.size, &info, BOOT_CMDLINE_ADDR,
			      BOOT_SETUP_DATA_ADDR, e))
		goto out;
	log_info("kernel at 0x%" PRIx64 " (entry 0x%" PRIx64 "), initrd %" PRIu64
		 " bytes at 0x%" PRIx64 ", cmdline \"%s\"",
		 info.load_addr, info.entry64, info.initrd_size, info.initrd_addr, cmdline);
	vm->cpuid = cpu_supported_cpuid(vm->kvm_fd, e);
	if (!vm->cpuid)
		goto out;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (cpu_setup_vcpu(vm->vcpus[i].fd, vm->cpuid, i, vm->nr_vcpus, info.entry64,
				   BOOT_PARAMS_ADDR, e)) {
			err_prefix(e, "vCPU %u", i);
			goto out;
		}
	ret = 0;
out:
	free(cmdline);
	unmap_file(&kernel);
	unmap_file(&initrd);
	return ret;
}

int vm_create(struct vm *vm, const struct vm_config *cfg, struct err *e)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	vm->kvm_fd = vm->vm_fd = vm->serial_out_fd = -1;
	vm->console.in_fd = -1;
	vm->nr_vcpus = cfg->cpus;
	pthread_mutex_init(&vm->stop_lock, NULL);
	if (evloop_init(&vm->loop, 256))
		return err_set(e, "cannot set up io_uring (is io_uring disabled on this host?)");
	vm->loop_ready = true;
	if (bus_init(&vm->pio, "pio") || bus_init(&vm->mmio, "mmio"))
		return err_set(e, "out of memory");
	vm->buses_ready = true;
	if (open_kvm(vm, e) || create_vm(vm, e) || setup_memory(vm, e))
		return -1;
	if (hv_kvm_init(&vm->hv, vm->vm_fd, e))
		return -1;
	vm->hv_ready = true;
	vm->devices_ready = true;
	if (setup_devices(vm, e) || vm_create_virtio_devices(vm, e) || vm_create_mgmt(vm, e) ||
	    vcpus_create(vm, e) || load_guest(vm, e))
		return -1;
	return 0;
}

/* --- running ------------------------------------------------------------------ */

static size_t console_deliver(void *opaque, const uint8_t *buf, size_t len)
{
	struct vm *vm = opaque;

	return serial_receive(&vm->serial, buf, len);
}

static void console_quit(void *opaque)
{
	struct vm *vm = opaque;

	vm_request_stop(vm, VM_END_SIGNAL, "quit from the console (Ctrl-A x)");
}

struct signal_watch {
	struct vm *vm;
	int fd;
	struct evloop_op op;
	struct signalfd_siginfo info;
};

static int signal_watch_arm(struct signal_watch *w)
{
	struct io_uring_sqe *sqe = evloop_sqe(&w->vm->loop, &w->op);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_read(sqe, w->fd, &w->info, sizeof(w->info), 0);
	return 0;
}

/* SIGUSR2: what every device and queue holds and waits for, in the log (stalls). */
static void vm_log_state(struct vm *vm)
{
	/* Asked for: shown whatever --log-level says. */
	log_thread_verbose(true);
	log_info("state dump (SIGUSR2): %u virtio-pci devices%s", vm->nr_virtio,
		 vm->mgmt ? " and the managed devices" : "");
	vcpus_log_state(vm);
	vm_log_virtio_state(vm);
	vm_log_managed_state(vm);
	log_info("state dump ends");
	log_thread_verbose(false);
}

static void signal_arrived(struct evloop_op *op, int res, bool more)
{
	struct signal_watch *w = op->opaque;
	int sig;

	if (res < (int)sizeof(w->info))
		return;
	sig = (int)w->info.ssi_signo;
	if (sig == SIGUSR2) {
		vm_log_state(w->vm);
		if (signal_watch_arm(w))
			log_warn("cannot watch signals any more");
		return;
	}
	vm_request_stop(w->vm, VM_END_SIGNAL, "stopped by signal %d (%s)", sig, strsignal(sig));
	pthread_mutex_lock(&w->vm->stop_lock);
	if (w->vm->end == VM_END_SIGNAL && !w->vm->end_signal)
		w->vm->end_signal = sig;
	pthread_mutex_unlock(&w->vm->stop_lock);
}

static int watch_signals(struct vm *vm, struct signal_watch *w, const sigset_t *set)
{
	w->vm = vm;
	w->fd = signalfd(-1, set, SFD_CLOEXEC);
	if (w->fd < 0)
		return -errno;
	w->op.cb = signal_arrived;
	w->op.opaque = w;
	return signal_watch_arm(w);
}

int vm_run(struct vm *vm)
{
	struct signal_watch sigwatch = { .fd = -1 };
	struct err e = { { 0 } };
	sigset_t set;
	int ret;

	/* Signals are read from a signalfd on this thread; every thread blocks them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGUSR2); /* not a stop: the state dump */
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGPIPE); /* a closed console output is EPIPE, not a stop */
	{
		sigset_t kick;

		sigemptyset(&kick);
		sigaddset(&kick, VCPU_KICK_SIGNAL);
		pthread_sigmask(SIG_BLOCK, &kick, NULL); /* vCPU threads unblock it */
	}
	if (watch_signals(vm, &sigwatch, &set)) {
		log_err("cannot watch signals: %s", strerror(errno));
		vm_request_stop(vm, VM_END_ERROR, "cannot watch signals");
		return -1;
	}
	if (vm->cfg->serial == SERIAL_STDIO) {
		if (console_open(&vm->console, STDIN_FILENO))
			log_warn("cannot put the terminal in raw mode: %s", strerror(errno));
		console_start(&vm->console, &vm->loop, console_deliver, console_quit, vm);
	}
	/* I/O threads first: a vCPU's first kick must find its queue's loop running. */
	if (vm_start_io_loops(vm, &e) || vcpus_start(vm, &e)) {
		vm_request_stop(vm, VM_END_ERROR, "%s", e.msg);
	} else {
		ret = evloop_run(&vm->loop);
		if (ret < 0)
			vm_request_stop(vm, VM_END_ERROR, "event loop failed: %s", strerror(-ret));
	}
	vcpus_kick(vm);
	vcpus_destroy(vm);
	/* After the vCPUs: a device reset they were doing could still wait for a loop. */
	vm_stop_io_loops(vm);
	console_close(&vm->console);
	if (sigwatch.fd >= 0)
		close(sigwatch.fd);
	return 0;
}

void vm_destroy(struct vm *vm)
{
	vcpus_destroy(vm);
	vm_stop_io_loops(vm);
	console_close(&vm->console);
	/*
	 * The main loop is stopped for good from here on, also when vm_create failed before
	 * it ever ran: device teardown then abandons what it would wait for the loop to
	 * reap (the loop never runs again) instead of waiting forever.
	 */
	if (vm->loop_ready)
		evloop_stop(&vm->loop);
	vm_destroy_mgmt(vm);
	vm_destroy_virtio_devices(vm);
	if (vm->hv_ready)
		hv_kvm_destroy(&vm->hv);
	free(vm->cpuid);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->devices_ready) {
		pci_host_destroy(&vm->pci);
		i8042_destroy(&vm->i8042);
		rtc_destroy(&vm->rtc);
		serial_destroy(&vm->serial);
	}
	if (vm->buses_ready) {
		bus_destroy(&vm->pio);
		bus_destroy(&vm->mmio);
	}
	if (vm->loop_ready)
		evloop_destroy(&vm->loop);
	guest_mem_free(&vm->mem);
	if (vm->serial_out_fd >= 0)
		close(vm->serial_out_fd);
	pthread_mutex_destroy(&vm->stop_lock);
}
