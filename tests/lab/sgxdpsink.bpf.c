/*
 * sgxdpsink: the attacker's end of the lab when answers come back as XDP
 * frames (bench.sh, synguard-xdp): drops what goes to the spoofed sources
 * before any sk_buff exists, counting its SYN-ACKs and RSTs per CPU. The internet
 * would absorb those answers; the lab's veth delivers them in the sender's
 * softirq, so what the attacker spends on them is charged to the defense.
 * An XDP_PASS program followed by the nft sink at the ingress hook built an
 * sk_buff for each, a cost the defense does not have on a real link.
 */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "sgxdpsink.h"

#define ETH_P_IP   0x0800
#define ETH_P_IPV6 0x86DD

/* the spoofed prefixes, as in the frame: 198.18.0.0/15, 2001:db8:ffff::/48 */
const volatile __u32 spoof4 = 0;
const volatile __u32 spoof4_mask = 0;
const volatile __u32 spoof6_hi = 0; /* the /48's first 4 bytes */
const volatile __u16 spoof6_lo = 0; /* and its last 2 */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SGXDPSINK_NCOUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} sg_sink_counts SEC(".maps");

static __always_inline void count(__u32 k)
{
	__u64 *v = bpf_map_lookup_elem(&sg_sink_counts, &k);

	if (v)
		*v += 1;
}

SEC("xdp")
int sg_xdp_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct tcphdr *th;
	bool spoofed;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP)
			return XDP_PASS;
		th = (void *)ip + ip->ihl * 4;
		spoofed = (ip->daddr & spoof4_mask) == spoof4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return XDP_PASS;
		th = (void *)(ip6 + 1);
		spoofed = ip6->daddr.in6_u.u6_addr32[0] == spoof6_hi &&
		          ip6->daddr.in6_u.u6_addr16[2] == spoof6_lo;
	} else {
		return XDP_PASS;
	}
	/* what passes, the nft sink behind counts */
	if ((void *)(th + 1) > end || !spoofed)
		return XDP_PASS;
	if (th->syn && th->ack && !th->rst)
		count(SGXDPSINK_SYNACK);
	if (th->rst)
		count(SGXDPSINK_RST);
	count(SGXDPSINK_DROPPED);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
