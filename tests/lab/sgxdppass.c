/*
 * sgxdppass: attaches an XDP program that passes every frame (XDP_PASS) to a
 * device, natively, and exits; the attachment stays with the device (netlink
 * XDP, no link), so it goes when the device or its namespace goes, or with
 * --detach. The lab's veth peers need it: a veth delivers the frames an XDP
 * program on the other end sends back (XDP_TX) only to a peer in NAPI mode,
 * which an XDP program of its own turns on.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

int main(int argc, char **argv)
{
	/* r0 = XDP_PASS; exit */
	const struct bpf_insn prog[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	bool detach = argc == 3 && strcmp(argv[1], "--detach") == 0;
	const char *dev = argv[argc - 1];
	unsigned ifindex;
	int fd;

	if (argc != 2 && !detach) {
		fprintf(stderr, "usage: sgxdppass [--detach] DEVICE\n");
		return 2;
	}
	ifindex = if_nametoindex(dev);
	if (ifindex == 0) {
		fprintf(stderr, "sgxdppass: %s: %s\n", dev, strerror(errno));
		return 1;
	}
	if (detach)
		return bpf_xdp_detach((int)ifindex, XDP_FLAGS_DRV_MODE, NULL) < 0;
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "sg_xdp_pass", "GPL", prog, 2, NULL);
	if (fd < 0) {
		fprintf(stderr, "sgxdppass: loading: %s\n", strerror(errno));
		return 1;
	}
	if (bpf_xdp_attach((int)ifindex, fd, XDP_FLAGS_DRV_MODE, NULL) < 0) {
		fprintf(stderr, "sgxdppass: %s: attaching: %s\n", dev, strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}
