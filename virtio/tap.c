// SPDX-License-Identifier: Apache-2.0
/*
 * TAP backend setup. The contract is in tap.h; the decisions here:
 *
 * - The kind of an existing interface comes from /sys/class/net/NAME/tun_flags (the
 *   flags it was created with), read before TUNSETIFF: the kernel answers EINVAL alike
 *   for "a TUN device", "not a TUN/TAP device" and "wrong multi_queue setting", and
 *   only the flags tell the user which one to fix. Without sysfs the EINVAL message
 *   names all three.
 * - A multi-queue TAP is attached with IFF_MULTI_QUEUE even for one queue pair, since
 *   the kernel refuses the attach otherwise.
 * - The interface index is compared before and after attaching: if the TAP vanished in
 *   between, a privileged TUNSETIFF has just created a new, unconnected one under the
 *   same name, which must not be used (it goes away with our fds).
 */
#include "virtio/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define TUN_PATH "/dev/net/tun"
#define TAP_FLAGS (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)

/* The names the kernel accepts (dev_valid_name), minus '%', which TUNSETIFF expands. */
static int tap_check_name(const char *name, struct err *e)
{
	if (!name || !name[0])
		return err_set(e, "net: no tap name given");
	if (strlen(name) >= IFNAMSIZ)
		return err_set(e, "tap '%s': name longer than %d characters", name, IFNAMSIZ - 1);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return err_set(e, "tap '%s': not a valid interface name", name);
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || *p == '%' || *p <= ' ' || *p == 0x7f)
			return err_set(e, "tap '%s': not a valid interface name", name);
	return 0;
}

/*
 * The flags the interface was created with. 1: *flags set; 0: the interface exists
 * but is no TUN/TAP device; -1: unknown (no sysfs for this network namespace).
 */
static int tap_sysfs_flags(const char *name, unsigned int *flags)
{
	char path[64 + IFNAMSIZ];
	struct stat st;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/sys/class/net/%s", name);
	if (stat(path, &st) < 0)
		return -1;
	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", name);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -1;
	n = fscanf(f, "%x", flags);
	fclose(f);
	return n == 1 ? 1 : -1;
}

static int tap_missing(const char *name, unsigned int queues, struct err *e)
{
	/* The one error users meet first: say exactly what to type. */
	return err_set(e, "tap '%s' does not exist; create it with: "
		       "ip tuntap add dev %s mode tap%s", name, name,
		       queues > 1 ? " multi_queue" : "");
}

static int tap_check_kind(const char *name, unsigned int queues, unsigned int flags,
			  struct err *e)
{
	if (!(flags & IFF_TAP))
		return err_set(e, "'%s' is a TUN device (no Ethernet frames); virtio-net needs a "
			       "TAP: ip tuntap add dev NAME mode tap", name);
	if (queues > 1 && !(flags & IFF_MULTI_QUEUE))
		return err_set(e, "tap '%s' was created without multi_queue, which %u queue pairs "
			       "need; recreate it with: ip link del %s && ip tuntap add dev %s "
			       "mode tap multi_queue", name, queues, name, name);
	return 0;
}

static int tap_open_tun(const char *name, struct err *e)
{
	int fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
		return err_set(e, "tap '%s': %s is missing (load the tun module: modprobe tun)",
			       name, TUN_PATH);
	if (errno == EACCES || errno == EPERM)
		return err_set(e, "tap '%s': no permission to open %s", name, TUN_PATH);
	return err_set(e, "tap '%s': cannot open %s: %s", name, TUN_PATH, strerror(errno));
}

static int tap_setiff_error(const char *name, bool multi, int err, struct err *e)
{
	switch (err) {
	case EBUSY:
		return err_set(e, "tap '%s' is in use by another process", name);
	case EPERM:
	case EACCES:
		return err_set(e, "no permission to attach to tap '%s': it belongs to another "
			       "user or group (ip tuntap add ... user NAME), or run with "
			       "CAP_NET_ADMIN", name);
	case EINVAL:
		return err_set(e, "tap '%s' cannot be attached: it is not a TAP device, or it "
			       "was created %s multi_queue", name, multi ? "without" : "with");
	case E2BIG:
		return err_set(e, "tap '%s': too many queues attached already", name);
	default:
		return err_set(e, "tap '%s': cannot attach: %s", name, strerror(err));
	}
}

/* One queue: attach, check what we got, set the header size and no offloads. */
static int tap_attach(const char *name, bool multi, struct err *e)
{
	struct ifreq ifr;
	int fd, hdr_len = TAP_VNET_HDR_LEN;

	fd = tap_open_tun(name, e);
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, name); /* length checked */
	ifr.ifr_flags = TAP_FLAGS | (multi ? IFF_MULTI_QUEUE : 0);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		tap_setiff_error(name, multi, errno, e);
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		err_set(e, "tap '%s': TUNGETIFF: %s", name, strerror(errno));
		goto fail;
	}
	if ((ifr.ifr_flags & TAP_FLAGS) != TAP_FLAGS || (ifr.ifr_flags & IFF_TUN)) {
		err_set(e, "tap '%s': attached with flags 0x%x, not a TAP with vnet headers", name,
			(unsigned int)(uint16_t)ifr.ifr_flags);
		goto fail;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
		err_set(e, "tap '%s': cannot set a %d-byte vnet header: %s", name, hdr_len,
			strerror(errno));
		goto fail;
	}
	if (ioctl(fd, TUNSETOFFLOAD, 0U) < 0) {
		err_set(e, "tap '%s': cannot turn offloads off: %s", name, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int tap_open(const char *name, unsigned int queues, int *fds, struct err *e)
{
	unsigned int ifindex, flags = 0;
	bool multi;
	int kind;

	if (tap_check_name(name, e))
		return -1;
	if (queues < 1 || queues > TAP_MAX_QUEUES)
		return err_set(e, "tap '%s': %u queues, must be 1..%u", name, queues,
			       TAP_MAX_QUEUES);
	ifindex = if_nametoindex(name);
	if (!ifindex) {
		if (errno == ENODEV || errno == ENXIO || errno == ENOENT)
			return tap_missing(name, queues, e);
		return err_set(e, "tap '%s': cannot look it up: %s", name, strerror(errno));
	}
	kind = tap_sysfs_flags(name, &flags);
	if (kind == 0)
		return err_set(e, "'%s' is not a TUN/TAP device; create a TAP with: ip tuntap add "
			       "dev NAME mode tap", name);
	if (kind > 0 && tap_check_kind(name, queues, flags, e))
		return -1;
	multi = kind > 0 ? (flags & IFF_MULTI_QUEUE) : queues > 1;

	for (unsigned int i = 0; i < queues; i++)
		fds[i] = -1;
	for (unsigned int i = 0; i < queues; i++) {
		fds[i] = tap_attach(name, multi, e);
		if (fds[i] < 0)
			goto fail;
	}
	if (if_nametoindex(name) != ifindex) {
		err_set(e, "tap '%s' was deleted while vqvm attached to it", name);
		goto fail;
	}
	return 0;
fail:
	for (unsigned int i = 0; i < queues; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
	return -1;
}

int tap_set_offload(int fd, unsigned int flags)
{
	return ioctl(fd, TUNSETOFFLOAD, flags) < 0 ? -errno : 0;
}

int tap_set_queue_enabled(int fd, bool enabled)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = enabled ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	return ioctl(fd, TUNSETQUEUE, &ifr) < 0 ? -errno : 0;
}

bool tap_is_tap(int fd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return false;
	return (ifr.ifr_flags & IFF_TAP) && !(ifr.ifr_flags & IFF_TUN);
}
