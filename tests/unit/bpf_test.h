/* What every BPF test does before its tests: the checks that skip it, its own network
 * namespace, the libbpf log, and the verdict on a program that would not load. The test
 * defines _GNU_SOURCE (unshare) before any header. */
#ifndef SYNGUARD_BPF_TEST_H
#define SYNGUARD_BPF_TEST_H

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/libbpf.h>

/* Warnings and errors only: the debug level floods the output. */
static inline int bpf_test_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static inline int bpf_test_lo_up(void)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int rc;

	if (fd < 0)
		return -1;
	strcpy(ifr.ifr_name, "lo");
	rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
	if (rc == 0) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
	return rc;
}

#define BPF_TEST_NETNS 1 /* a network namespace of the test's own, lo up */

/*
 * Root, and with BPF_TEST_NETNS a network namespace of the test's own (only
 * its own sockets can match a test packet); then the libbpf log. 0, or the
 * exit status: 77 (skipped, the reason printed) or 1.
 */
static inline int bpf_test_enter(int flags)
{
	if (geteuid() != 0) {
		printf("skipped: BPF_PROG_TEST_RUN needs root (CAP_BPF, CAP_PERFMON, "
		       "CAP_NET_ADMIN)\n");
		return 77;
	}
	if (flags & BPF_TEST_NETNS) {
		if (unshare(CLONE_NEWNET) < 0) {
			printf("skipped: no network namespace of its own: %s\n", strerror(errno));
			return 77;
		}
		if (bpf_test_lo_up() < 0) {
			fprintf(stderr, "cannot bring up lo in the test's namespace: %s\n",
			        strerror(errno));
			return 1;
		}
	}
	libbpf_set_print(bpf_test_log);
	return 0;
}

/* After WHAT's open_and_load() failed (errno): 77 where this kernel or these privileges
 * refuse BPF programs, 1 for a program that should have loaded. */
static inline int bpf_test_load_failed(const char *what)
{
	int err = errno;

	if (err == EPERM || err == ENOSYS) {
		printf("skipped: cannot load BPF programs here: %s\n", strerror(err));
		return 77;
	}
	fprintf(stderr, "loading %s failed: %s\n", what, strerror(err));
	return 1;
}

#endif
