/*
 * sgxdpsink: attaches sgxdpsink.bpf.c natively to a device, in place of
 * whatever XDP program it had, and exits (the program stays with the device,
 * as sgxdppass's does); --read prints its counters, found through the
 * device's attached program. The spoofed prefixes are the lab's (lab.sh LAB_SPOOF4, LAB_SPOOF6).
 */
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sgxdpsink.h"
#include "sgxdpsink_prog.skel.h"

static const char *const names[SGXDPSINK_NCOUNTERS] = {"synack", "rst", "dropped"};

static int attach(unsigned ifindex, const char *dev)
{
	struct sgxdpsink_prog *skel = sgxdpsink_prog__open();
	int rc;

	if (!skel) {
		fprintf(stderr, "sgxdpsink: opening: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->spoof4 = htonl(0xc6120000);      /* 198.18.0.0 */
	skel->rodata->spoof4_mask = htonl(0xfffe0000); /* /15 */
	skel->rodata->spoof6_hi = htonl(0x20010db8);   /* 2001:db8:ffff::/48 */
	skel->rodata->spoof6_lo = 0xffff;
	rc = sgxdpsink_prog__load(skel);
	if (rc == 0)
		rc = bpf_xdp_attach((int)ifindex, bpf_program__fd(skel->progs.sg_xdp_sink),
		                    XDP_FLAGS_DRV_MODE, NULL);
	if (rc < 0)
		fprintf(stderr, "sgxdpsink: %s: %s\n", dev, strerror(-rc));
	sgxdpsink_prog__destroy(skel);
	return rc < 0;
}

/* The device's program's map called name, or -1. */
static int map_of(unsigned ifindex, const char *dev, const char *name)
{
	struct bpf_prog_info info = {0};
	uint32_t prog_id = 0, ids[8], len = sizeof(info);
	int pfd, fd = -1;

	if (bpf_xdp_query_id((int)ifindex, XDP_FLAGS_DRV_MODE, &prog_id) < 0 || prog_id == 0) {
		fprintf(stderr, "sgxdpsink: %s: no XDP program\n", dev);
		return -1;
	}
	pfd = bpf_prog_get_fd_by_id(prog_id);
	info.nr_map_ids = 8;
	info.map_ids = (uint64_t)(uintptr_t)ids;
	if (pfd < 0 || bpf_obj_get_info_by_fd(pfd, &info, &len) < 0 ||
	    strcmp(info.name, "sg_xdp_sink") != 0) {
		fprintf(stderr, "sgxdpsink: %s: its XDP program is not sgxdpsink's\n", dev);
		if (pfd >= 0)
			close(pfd);
		return -1;
	}
	close(pfd);
	for (uint32_t i = 0; i < info.nr_map_ids && i < 8 && fd < 0; i++) {
		struct bpf_map_info mi = {0};
		uint32_t mlen = sizeof(mi);

		fd = bpf_map_get_fd_by_id(ids[i]);
		if (fd >= 0 &&
		    (bpf_obj_get_info_by_fd(fd, &mi, &mlen) < 0 || strcmp(mi.name, name))) {
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0)
		fprintf(stderr, "sgxdpsink: %s: no map %s\n", dev, name);
	return fd;
}

static int read_counts(unsigned ifindex, const char *dev)
{
	int ncpu = libbpf_num_possible_cpus(), fd = map_of(ifindex, dev, "sg_sink_counts");
	uint64_t *v;

	if (fd < 0)
		return 1;
	v = calloc((size_t)(ncpu > 0 ? ncpu : 1), sizeof(*v));
	if (!v)
		return 1;
	for (uint32_t k = 0; k < SGXDPSINK_NCOUNTERS; k++) {
		uint64_t sum = 0;

		if (bpf_map_lookup_elem(fd, &k, v) < 0) {
			fprintf(stderr, "sgxdpsink: %s: reading: %s\n", dev, strerror(errno));
			return 1;
		}
		for (int c = 0; c < ncpu; c++)
			sum += v[c];
		printf("%s %" PRIu64 "\n", names[k], sum);
	}
	free(v);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dev = argv[argc - 1];
	bool rd = argc == 3 && strcmp(argv[1], "--read") == 0;
	unsigned ifindex;

	if (argc != 2 && !rd) {
		fprintf(stderr, "usage: sgxdpsink [--read] DEVICE\n");
		return 2;
	}
	ifindex = if_nametoindex(dev);
	if (ifindex == 0) {
		fprintf(stderr, "sgxdpsink: %s: %s\n", dev, strerror(errno));
		return 1;
	}
	if (rd)
		return read_counts(ifindex, dev);
	return attach(ifindex, dev);
}
