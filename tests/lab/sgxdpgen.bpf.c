/*
 * sgxdpgen: the flood generator's per-frame program (sgflood --xdp).
 *
 * Run by BPF_PROG_RUN in live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES): the
 * kernel runs it on frames of a page pool and sends each frame it returns
 * XDP_TX out of the chosen device, with no socket, no sk_buff and no copy.
 * The lab's flood then costs the machine next to nothing of its own, as a
 * flood from elsewhere would; sgflood's AF_PACKET sender spends about 2 us
 * per packet here, most of it on the very cores the defense runs on.
 *
 * Each run writes the whole template back first: pages are recycled with
 * whatever the last user (the defense answering in place) left in them. Then
 * the source address's host bits, the source port, the sequence number and,
 * for ACKs, the acknowledgment number get random values, and both checksums
 * are updated for them (RFC 1624). The template (user space's, built with
 * lib/pkt.c) holds zeros in those places and checksums that match them.
 */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "sgxdpgen.h"

#define L3OFF 14 /* Ethernet, no VLAN tag */

const volatile __u32 tmpl_len;                /* frame length, <= SGXDPGEN_FRAME_MAX */
const volatile __u32 ipv4;                    /* 1: IPv4 (no options), 0: IPv6 (no extensions) */
const volatile __u32 saddr_mask[2];           /* the bits to randomise, as in the frame */
const volatile __u32 with_ack;                /* an ACK flood: random acknowledgment numbers */
const volatile __u8 tmpl[SGXDPGEN_FRAME_MAX]; /* the frame, random fields zero */

static __always_inline __u32 sum_word(__u32 sum, __u32 w)
{
	return sum + (w & 0xffff) + (w >> 16);
}

/* The checksum field at off: the words' old values (all zero) replaced by new[] (RFC 1624). */
static __always_inline int fix_csum(void *data, void *end, __u32 off, const __u32 *new, int n)
{
	__u16 *check = data + (off & 0xfff);
	__u32 sum;

	if ((void *)(check + 1) > end)
		return -1;
	sum = (__u16) ~*check;
#pragma unroll
	for (int i = 0; i < SGXDPGEN_WORDS_MAX; i++)
		if (i < n)
			sum = sum_word(sum, new[i]);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	*check = (__u16)~sum;
	return 0;
}

SEC("xdp")
int sg_xdp_gen(struct xdp_md *ctx)
{
	__u32 len = tmpl_len, w[SGXDPGEN_WORDS_MAX];
	void *data, *end;
	__u32 *sa, *th;
	int n = 0;

	if (len == 0 || len > SGXDPGEN_FRAME_MAX)
		return XDP_ABORTED;
	if (bpf_xdp_store_bytes(ctx, 0, (void *)tmpl, len) < 0)
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	/* the source address's last 4 bytes (IPv4) or last 8 (IPv6); the TCP header */
	sa = data + (ipv4 ? L3OFF + 12 : L3OFF + 16);
	th = data + (ipv4 ? L3OFF + 20 : L3OFF + 40);
	if ((void *)(sa + 2) > end || (void *)(th + 3) > end)
		return XDP_ABORTED;

	/* the template's zeros replaced: source bits, port, sequence, acknowledgment */
	w[n] = bpf_get_prandom_u32() & saddr_mask[0];
	sa[0] |= w[n++];
	if (!ipv4) {
		w[n] = bpf_get_prandom_u32() & saddr_mask[1];
		sa[1] |= w[n++];
	}
	/* ports 1024..65535 */
	((__u16 *)th)[0] = bpf_htons((__u16)bpf_get_prandom_u32() | 0x0400);
	w[n++] = ((__u16 *)th)[0];
	th[1] = bpf_get_prandom_u32();
	w[n++] = th[1];
	if (with_ack) {
		th[2] = bpf_get_prandom_u32();
		w[n++] = th[2];
	}
	if (ipv4 && fix_csum(data, end, L3OFF + 10, w, 1) < 0)
		return XDP_ABORTED;
	if (fix_csum(data, end, (ipv4 ? L3OFF + 20 : L3OFF + 40) + 16, w, n) < 0)
		return XDP_ABORTED;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
