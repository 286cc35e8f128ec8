/*
 * TC ingress (tcx): the handshake ACKs of listeners with handoff "local".
 *
 * The daemon answers their SYNs from the NFQUEUE path with its cookie
 * SYN-ACK; the ACK that completes such a handshake comes here. When the
 * 4-tuple meets no connection and the listener's socket is in LISTEN, the
 * cookie is checked (cookie.bpf.h, the daemon's keys) and a valid ACK is
 * handed to that socket with bpf_sk_assign_tcp_reqsk: the kernel builds the
 * request from the options the cookie carries (ECN too, from the TSecr's ECN
 * bit) and completes the connection into the server's own accept queue.
 * Invalid ACKs are dropped.
 *
 * Everything that is not a handshake candidate for a protected listener
 * goes on untouched (TCX_NEXT), so other tcx programs after this one still
 * see it. Candidate, as in the kernel's selftest test_tcp_custom_syncookie:
 * ACK set, SYN, RST and FIN clear (a FIN without a connection draws the
 * kernel's RST as before; a data segment may carry the handshake's ACK).
 * SYNs are looked at only for a TIME_WAIT on their tuple (see below).
 */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "acl.bpf.h"
#include "cookie.bpf.h"
#include "local_ack.h"
#include "tcpopt.bpf.h"

#define ETH_HLEN   14
#define ETH_P_IP   0x0800
#define ETH_P_IPV6 0x86DD
#define TCP_FIN    0x01
#define TCP_SYN    0x02
#define TCP_RST    0x04
#define TCP_ACK    0x10

/* tcx verdicts (include/uapi/linux/bpf.h, kernel >= 6.6). */
#define SG_TCX_NEXT (-1)
#define SG_TCX_PASS 0
#define SG_TCX_DROP 2

#define SG_TCP_TIME_WAIT    6
#define SG_TCP_LISTEN       10
#define SG_TCP_NEW_SYN_RECV 12

extern int bpf_sk_assign_tcp_reqsk(struct __sk_buff *skb, struct sock *sk,
                                   struct bpf_tcp_req_attrs *attrs, int attrs__sz) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SG_LOCAL_SLOTS);
	__type(key, struct sg_local_key);
	__type(value, struct sg_local_listener);
} sg_local_listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SG_LOCAL_ACL_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sg_local_acl4);
	__type(value, __u8);
} sg_local_acl4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SG_LOCAL_ACL_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sg_local_acl6);
	__type(value, __u8);
} sg_local_acl6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SG_LOCAL_SLOTS *SG_LOCAL_NCOUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} sg_local_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SG_LOCAL_DONE_RING);
} sg_local_done SEC(".maps");

static __always_inline void count(__u32 slot, __u32 id)
{
	__u32 k = (slot % SG_LOCAL_SLOTS) * SG_LOCAL_NCOUNTERS + id;
	__u64 *v = bpf_map_lookup_elem(&sg_local_counters, &k);

	if (v)
		*v += 1;
}

/* Deny list hit (longest prefix deny); allow entries only shadow shorter denies. */
static __always_inline bool denied(const struct sg_local_listener *l,
                                   const struct sg_cookie_tuple *t)
{
	return (l->flags & SG_LOCAL_F_ACL) &&
	       sg_acl_of(&sg_local_acl4, &sg_local_acl6, l->policy, t) == SG_LOCAL_ACL_DENY;
}

static __always_inline const struct sg_local_listener *protected(const struct sg_cookie_tuple *t)
{
	struct sg_local_key k = {.family = t->family, .port = t->dport};
	const struct sg_local_listener *l;

	__builtin_memcpy(k.addr, t->daddr, 16);
	l = bpf_map_lookup_elem(&sg_local_listeners, &k);
	if (l)
		return l;
	__builtin_memset(k.addr, 0, sizeof(k.addr));
	return bpf_map_lookup_elem(&sg_local_listeners, &k);
}

SEC("tc")
int sg_local_ack(struct __sk_buff *skb)
{
	struct sg_cookie_tuple t = {};
	struct bpf_sock_tuple st = {};
	const struct sg_local_listener *l;
	struct sg_tcpopt_parse op;
	struct bpf_tcp_req_attrs attrs = {};
	struct sg_cookie_syn dec = {};
	struct bpf_sock *skc;
	struct tcphdr th;
	struct sock *sk;
	__u32 l4off, tuple_size, olen;
	__u16 mss[COOKIE_MSS_SLOTS];
	__u8 flags;
	int rc, verdict;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0 || ip.version != 4 ||
		    ip.protocol != IPPROTO_TCP || (ip.frag_off & bpf_htons(0x3fff)) || ip.ihl < 5)
			return SG_TCX_NEXT;
		t.family = COOKIE_IN_FAMILY4;
		__builtin_memcpy(t.saddr, &ip.saddr, 4);
		__builtin_memcpy(t.daddr, &ip.daddr, 4);
		st.ipv4.saddr = ip.saddr;
		st.ipv4.daddr = ip.daddr;
		tuple_size = sizeof(st.ipv4);
		l4off = ETH_HLEN + ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		/* extension headers: not a handshake the daemon answered (it parses none) */
		if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip6, sizeof(ip6)) < 0 ||
		    ip6.nexthdr != IPPROTO_TCP)
			return SG_TCX_NEXT;
		t.family = COOKIE_IN_FAMILY6;
		__builtin_memcpy(t.saddr, &ip6.saddr, 16);
		__builtin_memcpy(t.daddr, &ip6.daddr, 16);
		__builtin_memcpy(st.ipv6.saddr, &ip6.saddr, 16);
		__builtin_memcpy(st.ipv6.daddr, &ip6.daddr, 16);
		tuple_size = sizeof(st.ipv6);
		l4off = ETH_HLEN + sizeof(ip6);
	} else {
		return SG_TCX_NEXT;
	}
	if (bpf_skb_load_bytes(skb, l4off, &th, sizeof(th)) < 0)
		return SG_TCX_NEXT;
	flags = ((__u8 *)&th)[13] & (TCP_ACK | TCP_SYN | TCP_RST | TCP_FIN);
	if ((flags != TCP_ACK && flags != TCP_SYN) || th.doff < 5)
		return SG_TCX_NEXT;
	t.sport = bpf_ntohs(th.source);
	t.dport = bpf_ntohs(th.dest);
	l = protected(&t);
	if (!l)
		return SG_TCX_NEXT;

	/* A connection (or its TIME_WAIT) holds the tuple: the kernel's, as without us. */
	if (t.family == COOKIE_IN_FAMILY4) {
		st.ipv4.sport = th.source;
		st.ipv4.dport = th.dest;
	} else {
		st.ipv6.sport = th.source;
		st.ipv6.dport = th.dest;
	}
	skc = bpf_skc_lookup_tcp(skb, &st, tuple_size, BPF_F_CURRENT_NETNS, 0);
	if (flags == TCP_SYN) {
		/*
		 * A TIME_WAIT holds the tuple (the server closed first, the client
		 * reuses its port): the kernel would refuse the cookie connection as
		 * a duplicate, but recycles the TIME_WAIT for a SYN it sees itself.
		 * The mark makes the firewall leave this SYN to it.
		 */
		if (skc && skc->state == SG_TCP_TIME_WAIT) {
			skb->mark = SG_LOCAL_TW_MARK;
			count(l->slot, SG_LC_ACK_FLOW);
		}
		if (skc)
			bpf_sk_release(skc);
		return SG_TCX_NEXT;
	}
	if (skc && skc->state != SG_TCP_LISTEN) {
		/* as on the queue path, where an established connection's packets never
		 * reach the daemon: only a TIME_WAIT or a request counts */
		if (skc->state == SG_TCP_TIME_WAIT || skc->state == SG_TCP_NEW_SYN_RECV)
			count(l->slot, SG_LC_ACK_FLOW);
		bpf_sk_release(skc);
		return SG_TCX_NEXT;
	}

	verdict = SG_TCX_DROP;
	if (denied(l, &t)) {
		count(l->slot, SG_LC_ACK_DENIED);
		goto out;
	}

	__builtin_memset(&op, 0, sizeof(op));
	/* doff >= 5 (checked above) keeps olen within 0..40 */
	olen = th.doff * 4 - sizeof(th);
	op.len = olen;
	if (olen > 0) {
		__u32 n = olen;

		/* the verifier must see the bound on the very register passed as the size */
		asm volatile("" : "+r"(n));
		n &= SG_TCPOPT_BUF - 1;
		if (n == 0 || n > 40 ||
		    bpf_skb_load_bytes(skb, l4off + sizeof(th), op.buf, n) < 0) {
			count(l->slot, SG_LC_MALFORMED_OPT);
			goto out;
		}
	}
	if (!sg_tcpopt_parse(&op)) {
		count(l->slot, SG_LC_MALFORMED_OPT);
		goto out;
	}

	__builtin_memcpy(mss, l->mss, sizeof(mss));
	rc = sg_cookie_check(&t, bpf_ntohl(th.seq), bpf_ntohl(th.ack_seq), op.o.flags & SG_SYN_TS,
	                     op.o.tsecr, mss, &dec);
	if (rc != SG_COOKIE_VALID) {
		count(l->slot, rc == SG_COOKIE_ENOKEY ? SG_LC_ACK_EXPIRED : SG_LC_ACK_INVALID);
		goto out;
	}
	count(l->slot, SG_LC_ACK_VALID);

	/* No listening socket: nobody to hand the connection to. The client retries. */
	sk = skc ? (struct sock *)bpf_skc_to_tcp_sock(skc) : NULL;
	if (!sk) {
		count(l->slot, SG_LC_HANDOFF_FAILED);
		goto out;
	}
	attrs.mss = dec.mss;
	if (dec.flags & SG_SYN_WSCALE) {
		attrs.wscale_ok = 1;
		attrs.snd_wscale = dec.wscale;
		attrs.rcv_wscale = l->wscale;
	}
	attrs.sack_ok = !!(dec.flags & SG_SYN_SACK);
	if (dec.flags & SG_SYN_TS) {
		attrs.tstamp_ok = 1;
		attrs.rcv_tsval = op.o.tsval;
		attrs.rcv_tsecr = op.o.tsecr;
	}
	/* The kernel keeps it only while net.ipv4.tcp_ecn (or the route) accepts ECN: the
	 * daemon's SYN-ACK asked the same of it (handshake.h). */
	attrs.ecn_ok = !!(dec.flags & SG_SYN_ECN);
	if (bpf_sk_assign_tcp_reqsk(skb, sk, &attrs, sizeof(attrs)) < 0) {
		count(l->slot, SG_LC_HANDOFF_FAILED);
		goto out;
	}
	count(l->slot, SG_LC_HANDOFFS);
	verdict = SG_TCX_PASS;
	/* the queue thread that answered the SYN holds an entry for it: retire it */
	if (l->flags & SG_LOCAL_F_STATEFUL) {
		struct sg_local_done done = {
		    .family = t.family,
		    .slot = l->slot,
		    .sport = t.sport,
		    .dport = t.dport,
		    .seq = bpf_ntohl(th.seq),
		    .ack = bpf_ntohl(th.ack_seq),
		};

		__builtin_memcpy(done.saddr, t.saddr, 16);
		__builtin_memcpy(done.daddr, t.daddr, 16);
		if (bpf_ringbuf_output(&sg_local_done, &done, sizeof(done), 0) < 0)
			count(l->slot, SG_LC_DONE_LOST);
	}
out:
	if (skc)
		bpf_sk_release(skc);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
