/*
 * Test program: a real packet in (Ethernet, IPv4 without options or IPv6
 * without extension headers, TCP), the cookie out. A SYN gets the cookie a
 * SYN-ACK would carry, granting the client's options (ECN for an ECN-setup
 * SYN); a pure ACK gets its
 * check. The answer goes to the single entry of cookie_pkt_out. Driven by
 * test_bpf_cookie through BPF_PROG_TEST_RUN, against lib/pkt.c + lib/cookie.c.
 */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "cookie.bpf.h"
#include "tcpopt.bpf.h"

#define ETH_P_IP   0x0800
#define ETH_P_IPV6 0x86DD
#define TCP_SYN    0x02
#define TCP_ACK    0x10
#define TCP_ECE    0x40
#define TCP_CWR    0x80

/* What the test reads back. */
struct cookie_pkt_out {
	__s32 rc;  /* make: 0 / -1; check: SG_COOKIE_*; -2: not parsed */
	__u32 isn; /* make */
	__u32 tsval;
	__u16 mss; /* check, when valid */
	__u8 wscale;
	__u8 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cookie_pkt_out);
} cookie_pkt_out SEC(".maps");

/* SEC(".rodata"): see sg_wscale_table. */
static const __u16 sg_mss4[COOKIE_MSS_SLOTS] SEC(".rodata") = COOKIE_MSS4_DEFAULT;
static const __u16 sg_mss6[COOKIE_MSS_SLOTS] SEC(".rodata") = COOKIE_MSS6_DEFAULT;

SEC("xdp")
int cookie_pkt(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct sg_cookie_tuple t = {};
	struct sg_tcpopt_parse op = {};
	struct cookie_pkt_out *out;
	const __u16 *mss_table;
	struct tcphdr *th;
	__u32 zero = 0, l4off;

	out = bpf_map_lookup_elem(&cookie_pkt_out, &zero);
	if (out == NULL)
		return XDP_ABORTED;
	out->rc = -2;
	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_TCP ||
		    (ip->frag_off & bpf_htons(0x3fff)))
			return XDP_PASS;
		t.family = COOKIE_IN_FAMILY4;
		__builtin_memcpy(t.saddr, &ip->saddr, 4);
		__builtin_memcpy(t.daddr, &ip->daddr, 4);
		th = (void *)(ip + 1);
		mss_table = sg_mss4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return XDP_PASS;
		t.family = COOKIE_IN_FAMILY6;
		__builtin_memcpy(t.saddr, &ip6->saddr, 16);
		__builtin_memcpy(t.daddr, &ip6->daddr, 16);
		th = (void *)(ip6 + 1);
		mss_table = sg_mss6;
	} else {
		return XDP_PASS;
	}
	if ((void *)(th + 1) > end || th->doff < 5)
		return XDP_PASS;
	t.sport = bpf_ntohs(th->source);
	t.dport = bpf_ntohs(th->dest);
	l4off = (__u32)((void *)th - data);
	__u32 olen = (th->doff * 4 - sizeof(*th)) & (SG_TCPOPT_BUF - 1);

	op.len = olen;
	if (olen > 0 && olen <= 40 &&
	    bpf_xdp_load_bytes(ctx, l4off + sizeof(*th), op.buf, olen) < 0)
		return XDP_PASS;
	if (!sg_tcpopt_parse(&op))
		return XDP_PASS;

	__u8 flags = ((__u8 *)th)[13];

	if ((flags & (TCP_SYN | TCP_ACK)) == TCP_SYN) {
		/* an ECN-setup SYN is granted ECN (the TSval carries it when timestamps are) */
		__u8 ecn = (flags & (TCP_ECE | TCP_CWR)) == (TCP_ECE | TCP_CWR) ? SG_SYN_ECN : 0;
		struct sg_cookie_syn syn = {
		    .mss = op.o.mss, .wscale = op.o.wscale, .flags = op.o.flags | ecn};
		__u32 isn = 0, tsval = 0;

		out->rc = sg_cookie_make(&t, bpf_ntohl(th->seq), &syn, mss_table, &isn, &tsval);
		out->isn = isn;
		out->tsval = tsval;
	} else if ((flags & (TCP_SYN | TCP_ACK)) == TCP_ACK) {
		struct sg_cookie_syn dec = {};

		out->rc = sg_cookie_check(&t, bpf_ntohl(th->seq), bpf_ntohl(th->ack_seq),
		                          op.o.flags & SG_SYN_TS, op.o.tsecr, mss_table, &dec);
		out->mss = dec.mss;
		out->wscale = dec.wscale;
		out->flags = dec.flags;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
