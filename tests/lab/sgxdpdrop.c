/*
 * sgxdpdrop: attaches an XDP program that drops every frame (XDP_DROP) to a
 * device, natively, and exits; --detach takes it off. The benchmarks' generator-only
 * phase puts it on the server's attacker-facing veth: the flood ends at the
 * server's XDP hook, unanswered, so the machine's CPU during that phase is
 * what the generator and the veth cost by themselves, the base that a
 * defense's own cost per SYN is measured from. The attachment stays with the
 * device (netlink XDP, no link) and goes with it or its namespace.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

int main(int argc, char **argv)
{
	/* r0 = XDP_DROP; exit */
	const struct bpf_insn prog[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_DROP},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	bool detach = argc == 3 && strcmp(argv[1], "--detach") == 0;
	const char *dev = argv[argc - 1];
	unsigned ifindex;
	int fd;

	if (argc != 2 && !detach) {
		fprintf(stderr, "usage: sgxdpdrop [--detach] DEVICE\n");
		return 2;
	}
	ifindex = if_nametoindex(dev);
	if (ifindex == 0) {
		fprintf(stderr, "sgxdpdrop: %s: %s\n", dev, strerror(errno));
		return 1;
	}
	if (detach)
		return bpf_xdp_detach((int)ifindex, XDP_FLAGS_DRV_MODE, NULL) < 0;
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "sg_xdp_drop", "GPL", prog, 2, NULL);
	if (fd < 0) {
		fprintf(stderr, "sgxdpdrop: loading: %s\n", strerror(errno));
		return 1;
	}
	if (bpf_xdp_attach((int)ifindex, fd, XDP_FLAGS_DRV_MODE, NULL) < 0) {
		fprintf(stderr, "sgxdpdrop: %s: attaching: %s\n", dev, strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}
