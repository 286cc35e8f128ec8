/*
 * sgxdppass / sgxdpdrop: attach to a device, natively, an XDP program that
 * passes (XDP_PASS) or drops (XDP_DROP) every frame, and exit; --detach takes
 * it off. The attachment stays with the device (netlink XDP, no link), so it
 * goes when the device or its namespace goes. One source, built twice
 * (SGXDP_DROP chooses).
 *
 * sgxdppass: the lab's veth peers need it. A veth delivers the frames an XDP
 * program on the other end sends back (XDP_TX) only to a peer in NAPI mode,
 * which an XDP program of its own turns on.
 *
 * sgxdpdrop: the benchmarks' generator-only phase puts it on the server's
 * attacker-facing veth. The flood ends at the server's XDP hook, unanswered,
 * so the machine's CPU during that phase is what the generator and the veth
 * cost by themselves: the base that a defense's own cost per SYN is measured
 * from.
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

#if SGXDP_DROP
#define SGXDP_NAME    "sgxdpdrop"
#define SGXDP_VERDICT XDP_DROP
#else
#define SGXDP_NAME    "sgxdppass"
#define SGXDP_VERDICT XDP_PASS
#endif

int main(int argc, char **argv)
{
	/* r0 = the verdict; exit */
	const struct bpf_insn prog[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = SGXDP_VERDICT},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	bool detach = argc == 3 && strcmp(argv[1], "--detach") == 0;
	const char *dev = argv[argc - 1];
	unsigned ifindex;
	int fd;

	if (argc != 2 && !detach) {
		fprintf(stderr, "usage: " SGXDP_NAME " [--detach] DEVICE\n");
		return 2;
	}
	ifindex = if_nametoindex(dev);
	if (ifindex == 0) {
		fprintf(stderr, SGXDP_NAME ": %s: %s\n", dev, strerror(errno));
		return 1;
	}
	if (detach)
		return bpf_xdp_detach((int)ifindex, XDP_FLAGS_DRV_MODE, NULL) < 0;
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, SGXDP_DROP ? "sg_xdp_drop" : "sg_xdp_pass", "GPL",
	                   prog, 2, NULL);
	if (fd < 0) {
		fprintf(stderr, SGXDP_NAME ": loading: %s\n", strerror(errno));
		return 1;
	}
	if (bpf_xdp_attach((int)ifindex, fd, XDP_FLAGS_DRV_MODE, NULL) < 0) {
		fprintf(stderr, SGXDP_NAME ": %s: attaching: %s\n", dev, strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}
