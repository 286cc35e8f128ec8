/*
 * XDP: SYNs to protected listeners answered in the driver, ACK floods dropped
 * there.
 *
 * What is answered where:
 *   - A SYN to a listener whose SG_XDP_F_SYN is set is answered here, in
 *     place with XDP_TX: the SYN-ACK that the NFQUEUE path's hs_synack() and
 *     lib/pkt.c's pkt_build() would send, byte for byte (same cookie as ISN
 *     and TSval, same options in Linux's order, same IP header fields), so an
 *     ACK answering either validates on either path. The SYN goes no further.
 *   - An ACK candidate (ACK set, SYN and RST clear: hs_packet()'s definition)
 *     to a listener whose SG_XDP_F_ACK is set has its cookie checked here. An
 *     invalid or expired cookie is dropped and counted; a valid one goes on
 *     (XDP_PASS) to the normal path, which builds the connection as before:
 *     the NFQUEUE path for proxy and pass-fd listeners, the TC program for
 *     handoff "local".
 *   - A packet whose tuple a connection already holds (the kernel's socket
 *     lookup finds anything but a listener: established, TIME_WAIT, a
 *     request) passes untouched: the kernel answers it as it would without
 *     us, as the queue path leaves such packets to it.
 *
 * What goes to the NFQUEUE path (XDP_PASS), and why:
 *   - Whatever this program does not parse: VLAN-tagged frames, IPv4 with
 *     options, IPv6 with extension headers, fragments, lengths that lie,
 *     malformed TCP options, a SYN carrying data (TCP Fast Open). The queue
 *     path parses all of these and decides (most it drops, counted): passing
 *     never goes around the protection, dropping here could cut off what the
 *     queue path accepts.
 *   - A SYN whose IPv4 or TCP checksum does not verify: a local sender's
 *     partial checksum (veth, containers) looks like that and is legitimate;
 *     the kernel, which knows the difference, decides on the queue path.
 *   - A SYN whose SYN-ACK needs more room than the frame has (a SYN with
 *     fewer option bytes than our answer, typically none at all, on a driver
 *     that leaves no tailroom): answering with fewer options would grant less
 *     than the queue path does.
 *   - SYNs of a listener in stateful mode, or in auto mode while calm
 *     (SG_XDP_F_SYN clear, sg_xdp_auto[slot] SG_XDP_AUTO_QUEUE): the
 *     half-open table lives in the daemon. Likewise every SYN before the
 *     daemon has written a key.
 *   - Frames to a multicast or broadcast MAC: the kernel answers no TCP there.
 *
 * Policies, as the queue path's (lib/policy.c's policy_syn_check() and
 * policy_ack()), on packets parsed in full and not held by a connection:
 *   - Deny and allow lists (SG_XDP_F_ACL; sg_xdp_acl4/6, longest prefix
 *     wins, an allow entry shadows a shorter deny): a denied source's SYNs
 *     (syn_denied) and ACK candidates (ack_denied) are dropped, whether the
 *     SYNs would be answered here or passed.
 *   - Per-source SYN rate limit (SG_XDP_F_RATE; sg_xdp_rate): lib/ratelimit.c's
 *     GCRA per listener and source prefix (srckey_of()), allow-listed sources
 *     exempt; a SYN over it is dropped (syn_rate_limited) and takes no token.
 *     Where it differs from the library: the table is an LRU hash (the least
 *     recently used bucket goes, not the fullest of a set; a throttled source
 *     keeps sending, so stays recent), shared by the CPUs without a lock
 *     (rate_ok(): CPUs racing on one source may let through one SYN each
 *     beyond its burst), time in ns of bpf_ktime_get_ns(), and a changed rate
 *     keeps each bucket's deficit in time rather than its tokens.
 *     The queue path keeps its own buckets for the SYNs passed to it; those
 *     conform already, so it drops next to none of them.
 *   - Then the answer (policy_syn_check()'s mode step): SG_XDP_F_SYN, or
 *     SG_XDP_F_AUTO with the daemon's switch sg_xdp_auto[slot]. Every SYN
 *     that gets this far counts in syn_seen, answered here or not: the auto
 *     mode's SYN rate, which the queue path no longer sees.
 *
 * Nothing is ever dropped that the program has not parsed in full. ECN is
 * agreed exactly where hs_synack() agrees to it (daemon/handshake.h): only for
 * listeners flagged SG_XDP_F_ECN (handoff "local", the host accepting ECN).
 *
 * Per-CPU counters per listener slot (xdp_syn.h); packets that could not be
 * matched to a listener count in slot SG_XDP_SLOT_UNMATCHED. A SYN answered
 * or dropped here never reaches the daemon: its SYN rate (auto mode's
 * trigger) is syn_seen's, or its own plus syn_answered.
 */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "acl.bpf.h"
#include "cookie.bpf.h"
#include "local_ack.h"
#include "tcpopt.bpf.h"
#include "xdp_syn.h"

#define ETH_HLEN      14
#define ETH_P_IP      0x0800
#define ETH_P_IPV6    0x86DD
#define ETH_P_8021Q   0x8100
#define ETH_P_8021AD  0x88A8
#define IPV4_HLEN     20
#define IPV6_HLEN     40
#define TCP_HLEN      20
#define TCP_FIN       0x01
#define TCP_SYN       0x02
#define TCP_RST       0x04
#define TCP_ACK       0x10
#define TCP_ECE       0x40
#define TCP_CWR       0x80
#define IP_DF         0x4000
#define SG_SYNACK_TTL 64 /* pkt_build()'s default */
#define SG_OPT_MAX    20 /* MSS 4 + SACK-permitted and timestamps 12 + window scale 4 */

/* A SYN is this program's business: answered here, or a policy applies to it. */
#define SG_XDP_SYN_WORK (SG_XDP_F_SYN | SG_XDP_F_AUTO | SG_XDP_F_ACL | SG_XDP_F_RATE)

#define SG_TCP_TIME_WAIT    6
#define SG_TCP_LISTEN       10
#define SG_TCP_NEW_SYN_RECV 12

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SG_XDP_SLOTS);
	__type(key, struct sg_xdp_key);
	__type(value, struct sg_xdp_listener);
} sg_xdp_listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, (SG_XDP_SLOTS + 1) * SG_XDP_NCOUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} sg_xdp_counters SEC(".maps");

/* local_ack.bpf.c's sg_local_acl4 / sg_local_acl6, definition for definition (xdp_syn.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SG_LOCAL_ACL_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sg_local_acl4);
	__type(value, __u8);
} sg_xdp_acl4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SG_LOCAL_ACL_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sg_local_acl6);
	__type(value, __u8);
} sg_xdp_acl6 SEC(".maps");

/*
 * One bucket per source prefix and listener, shared by the CPUs: RSS spreads
 * one source's SYNs (one flow per source port) over every queue, so per-CPU
 * buckets would grant a source a burst and a rate per CPU. The LRU bounds the
 * memory whatever a spoofed flood sends.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SG_XDP_RATE_MAX);
	__type(key, struct sg_xdp_rate_key);
	__type(value, __u64);
} sg_xdp_rate SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SG_XDP_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} sg_xdp_auto SEC(".maps");

#ifdef SG_XDP_TEST_CLOCK
/* Test builds only (tests/unit): the rate limiter's clock, when not zero. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sg_xdp_test_now SEC(".maps");

static __always_inline __u64 now_ns(void)
{
	__u32 zero = 0;
	__u64 *t = bpf_map_lookup_elem(&sg_xdp_test_now, &zero);

	return t && *t ? *t : bpf_ktime_get_ns();
}
#else
static __always_inline __u64 now_ns(void)
{
	return bpf_ktime_get_ns();
}
#endif

/* The SYN-ACK's TCP header with the most options it can carry. */
struct sg_synack_tcp {
	struct tcphdr th;
	__u32 opt[SG_OPT_MAX / 4];
};

/*
 * The answer's buffers and what passes between its steps. On the stack they
 * would push the call chain (the program's frame, then a SipHash's) past the
 * verifier's 512 bytes. A per-CPU entry is the packet's alone (XDP runs with
 * migration disabled, one packet at a time per CPU). The options stay on the
 * stack: bpf_loop() takes only a stack context.
 */
struct sg_xdp_scratch {
	struct sg_synack_tcp out;
	__u32 client_isn;
	__u32 isn; /* the cookie */
	__u32 tsval;
	__u8 grant;     /* SG_SYN_*: the options the SYN-ACK grants, SG_SYN_ECN its ECE */
	__u8 ecn_setup; /* the SYN asks for ECN (ECE and CWR) and is Not-ECT */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sg_xdp_scratch);
} sg_xdp_scratch SEC(".maps");

static __always_inline void count(__u32 slot, __u32 id)
{
	__u32 k = (slot % (SG_XDP_SLOTS + 1)) * SG_XDP_NCOUNTERS + id;
	__u64 *v = bpf_map_lookup_elem(&sg_xdp_counters, &k);

	if (v)
		*v += 1;
}

static __always_inline const struct sg_xdp_listener *protected(const struct sg_cookie_tuple *t)
{
	struct sg_xdp_key k = {.family = t->family, .port = t->dport};
	const struct sg_xdp_listener *l;

	__builtin_memcpy(k.addr, t->daddr, 16);
	l = bpf_map_lookup_elem(&sg_xdp_listeners, &k);
	if (l)
		return l;
	__builtin_memset(k.addr, 0, sizeof(k.addr));
	return bpf_map_lookup_elem(&sg_xdp_listeners, &k);
}

/* What the policies say of a packet (policy_syn_check(), policy_ack()). */
enum sg_xdp_verdict {
	SG_XDP_V_OK,
	SG_XDP_V_DENIED,
	SG_XDP_V_RATE_LIMITED,
};

/* The source's entry in the policy's lists: SG_LOCAL_ACL_DENY, SG_LOCAL_ACL_ALLOW or 0. */
static __always_inline __u8 acl_of(const struct sg_xdp_listener *l, const struct sg_cookie_tuple *t)
{
	return sg_acl_of(&sg_xdp_acl4, &sg_xdp_acl6, l->policy, t);
}

/*
 * lib/ratelimit.c's GCRA on a shared bucket without a lock: TAT, the
 * theoretical arrival time, allows a SYN at now when TAT - now <= tau, and
 * then grows by T with an atomic add, so concurrent SYNs of one source are
 * all paid for. Not atomic: the check with the add (CPUs racing at the
 * bucket's edge may each take the last token, and pay it back as a longer
 * wait), and the refill of a full bucket (TAT <= now is overwritten with now +
 * T, which may lose the debit of a SYN another CPU let through at the same
 * moment). Both leak at most one SYN per racing CPU, never deny more.
 */
static __always_inline bool rate_ok(const struct sg_xdp_listener *l,
                                    const struct sg_cookie_tuple *t)
{
	struct sg_xdp_rate_key k = {.slot = l->slot, .family = t->family};
	__u64 now = now_ns(), tick, tau, tat, *v;
	__u32 plen, burst = l->burst ? l->burst : 1;

	if (l->rate == 0)
		return true;
	tick = 1000000000ull / l->rate;
	if (tick == 0)
		tick = 1;
	tau = (__u64)(burst - 1) * tick;
	if (t->family == COOKIE_IN_FAMILY4) {
		__u32 a;

		__builtin_memcpy(&a, t->saddr, 4);
		plen = l->rate_plen4 > 32 ? 32 : l->rate_plen4;
		k.prefix = plen ? bpf_ntohl(a) & (0xffffffffull << (32 - plen)) & 0xffffffffull : 0;
	} else {
		__u64 a;

		__builtin_memcpy(&a, t->saddr, 8);
		plen = l->rate_plen6 > 64 ? 64 : l->rate_plen6;
		k.prefix = plen ? bpf_be64_to_cpu(a) & (~0ull << (64 - plen)) : 0;
	}
	v = bpf_map_lookup_elem(&sg_xdp_rate, &k);
	if (!v) {
		/* a new source: a full bucket, of which this SYN takes one token */
		tat = now + tick;
		if (bpf_map_update_elem(&sg_xdp_rate, &k, &tat, BPF_NOEXIST) == 0)
			return true;
		v = bpf_map_lookup_elem(&sg_xdp_rate, &k); /* another CPU was first */
		if (!v)
			return true;
	}
	tat = *(volatile __u64 *)v;
	if (tat <= now) {
		*(volatile __u64 *)v = now + tick;
		return true;
	}
	if (tat - now > tau)
		return false;
	__sync_fetch_and_add(v, tick);
	return true;
}

/*
 * The listener's policies on a parsed SYN or ACK candidate, in
 * policy_syn_check()'s order: deny list, then (SYNs of sources not
 * allow-listed) the rate limit. Not inlined: the keys' frame stays off the
 * cookie's call chain.
 */
static __noinline int policies(const struct sg_xdp_listener *l, const struct sg_cookie_tuple *t,
                               bool syn)
{
	__u8 acl = l->flags & SG_XDP_F_ACL ? acl_of(l, t) : 0;

	if (acl == SG_LOCAL_ACL_DENY)
		return SG_XDP_V_DENIED;
	if (syn && (l->flags & SG_XDP_F_RATE) && acl != SG_LOCAL_ACL_ALLOW && !rate_ok(l, t))
		return SG_XDP_V_RATE_LIMITED;
	return SG_XDP_V_OK;
}

/* SYNs answered here: SG_XDP_F_SYN, or auto mode switched to the cookies. */
static __always_inline bool answers_syns(const struct sg_xdp_listener *l)
{
	__u32 slot = l->slot;
	__u32 *v;

	if (l->flags & SG_XDP_F_SYN)
		return true;
	if (!(l->flags & SG_XDP_F_AUTO))
		return false;
	v = bpf_map_lookup_elem(&sg_xdp_auto, &slot);
	return v && *(volatile __u32 *)v == SG_XDP_AUTO_XDP;
}

/*
 * Checksums without a helper call: 32-bit words, each read as it lies in
 * memory, summed into 64 bits and folded. Ones' complement addition does not
 * care for byte order or word size (2^16 = 1 modulo 0xffff), so the folded
 * sum is the 16-bit one RFC 1071 defines, in memory order: what the checksum
 * field holds. bpf_csum_diff() computed the same at a helper call per block,
 * four per SYN answered, three more per answer.
 */
static __always_inline __u16 csum_fold16(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* The sum of w's first n (<= 10) words: unrolled by the compiler, a bound the verifier sees. */
static __always_inline __u64 sum_words(const __u32 *w, __u32 n)
{
	__u64 sum = 0;

#pragma unroll
	for (int i = 0; i < 10; i++)
		if (i < (int)n)
			sum += w[i];
	return sum;
}

/* The TCP pseudo-header's sum, as lib/csum.c's csum_pseudo(). */
static __always_inline __u64 pseudo_sum(const struct sg_cookie_tuple *t, __u32 l4len)
{
	__u32 sa[4], da[4];

	__builtin_memcpy(sa, t->saddr, 16);
	__builtin_memcpy(da, t->daddr, 16);
	if (t->family == COOKIE_IN_FAMILY4)
		return (__u64)sa[0] + da[0] + bpf_htonl(IPPROTO_TCP << 16 | l4len);
	return (__u64)bpf_htonl(l4len) + bpf_htonl(IPPROTO_TCP) + sum_words(sa, 4) +
	       sum_words(da, 4);
}

/* True when the SYN's TCP checksum (header and options, no payload) verifies. */
static __always_inline bool syn_csum_ok(const struct sg_cookie_tuple *t, const struct tcphdr *th,
                                        const struct sg_tcpopt_parse *op)
{
	__u64 sum = pseudo_sum(t, TCP_HLEN + op->len) + sum_words((const __u32 *)th, TCP_HLEN / 4) +
	            sum_words((const __u32 *)op->buf, op->len / 4);

	return csum_fold16(sum) == 0xffff;
}

/* True when the frame's IPv4 header (20 bytes, no options: parsed so) verifies. */
static __always_inline bool ip_csum_ok(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	const __u32 *w = data + ETH_HLEN;

	if ((void *)(w + IPV4_HLEN / 4) > end)
		return false;
	return csum_fold16(sum_words(w, IPV4_HLEN / 4)) == 0xffff;
}

/*
 * The SYN-ACK's TCP header into *out (pkt_build()'s option layout, with
 * hs_synack()'s choices); returns its length.
 */
static __always_inline __u32 synack_tcp(struct sg_synack_tcp *out, const struct sg_cookie_tuple *t,
                                        __u32 isn, __u32 client_isn, __u16 mss, __u8 wscale,
                                        __u8 grant, __u32 tsval, __u32 tsecr)
{
	__u32 optlen = 4;

	__builtin_memset(out, 0, sizeof(*out));
	out->th.source = bpf_htons(t->dport);
	out->th.dest = bpf_htons(t->sport);
	out->th.seq = bpf_htonl(isn);
	out->th.ack_seq = bpf_htonl(client_isn + 1);
	out->th.window = bpf_htons(SG_XDP_SYNACK_WINDOW);
	out->opt[0] = bpf_htonl(2u << 24 | 4u << 16 | mss);
	if (grant & SG_SYN_TS) {
		out->opt[1] = grant & SG_SYN_SACK ? bpf_htonl(0x0402080a) : bpf_htonl(0x0101080a);
		out->opt[2] = bpf_htonl(tsval);
		out->opt[3] = bpf_htonl(tsecr);
		optlen = 16;
		if (grant & SG_SYN_WSCALE) {
			out->opt[4] = bpf_htonl(0x01030300 | wscale);
			optlen = 20;
		}
	} else if (grant & SG_SYN_SACK) {
		out->opt[1] = bpf_htonl(0x01010402);
		optlen = 8;
		if (grant & SG_SYN_WSCALE) {
			out->opt[2] = bpf_htonl(0x01030300 | wscale);
			optlen = 12;
		}
	} else if (grant & SG_SYN_WSCALE) {
		out->opt[1] = bpf_htonl(0x01030300 | wscale);
		optlen = 8;
	}
	/* data offset in words, then SYN and ACK */
	((__u8 *)&out->th)[12] = (__u8)((TCP_HLEN + optlen) / 4 << 4);
	((__u8 *)&out->th)[13] = TCP_SYN | TCP_ACK | (grant & SG_SYN_ECN ? TCP_ECE : 0);
	return TCP_HLEN + optlen;
}

/*
 * hs_on_syn()'s cookie: the client's options, SACK and timestamps as the
 * policy allows, ECN as hs_ecn_agreed(), into sc's isn, tsval and grant.
 * Returns 0, or -1 without a key. Not inlined, nor is check_ack(): an inlined SipHash spills enough
 * that the program's frame and its own exceed the 512-byte stack together.
 */
static __noinline int syn_cookie(struct sg_xdp_scratch *sc, const struct sg_xdp_listener *l,
                                 const struct sg_cookie_tuple *t, const struct sg_tcpopts *o)
{
	struct sg_cookie_syn in = {};
	__u16 mss_table[COOKIE_MSS_SLOTS];
	__u32 isn, tsval = 0;

	sc->grant = (o->flags & SG_SYN_WSCALE) |
	            (l->flags & SG_XDP_F_SACK ? o->flags & SG_SYN_SACK : 0) |
	            (l->flags & SG_XDP_F_TS ? o->flags & SG_SYN_TS : 0);
	if ((l->flags & SG_XDP_F_ECN) && (sc->grant & SG_SYN_TS) && sc->ecn_setup)
		sc->grant |= SG_SYN_ECN;
	in.mss = o->mss;
	in.wscale = o->wscale;
	in.flags = sc->grant;
	__builtin_memcpy(mss_table, l->mss, sizeof(mss_table));
	if (sg_cookie_make(t, sc->client_isn, &in, mss_table, &isn, &tsval) < 0)
		return -1;
	sc->isn = isn;
	sc->tsval = tsval;
	return 0;
}

/*
 * Answers the SYN in place with sc's cookie: the frame resized to the
 * SYN-ACK, every byte after the Ethernet type written anew, straight into the
 * frame. Returns the XDP verdict.
 */
static __noinline int answer_syn(struct xdp_md *ctx, struct sg_xdp_scratch *sc,
                                 const struct sg_xdp_listener *l, const struct sg_cookie_tuple *t,
                                 const struct sg_tcpopts *o)
{
	const __u32 *words = (const __u32 *)&sc->out;
	__u32 thlen, iphlen, *w;
	struct ethhdr *eth;
	void *data, *end;
	__u16 our_mss;
	__u8 mac[6];
	__u64 sum;
	__s64 d;

	/* hs_synack(): our MSS capped by the table's largest entry, our window scale */
	our_mss = t->family == COOKIE_IN_FAMILY4 ? SG_XDP_OUR_MSS4 : SG_XDP_OUR_MSS6;
	if (l->mss[COOKIE_MSS_SLOTS - 1] < our_mss)
		our_mss = l->mss[COOKIE_MSS_SLOTS - 1];
	thlen = synack_tcp(&sc->out, t, sc->isn, sc->client_isn, our_mss,
	                   l->wscale > 14 ? 14 : l->wscale, sc->grant, sc->tsval, o->tsval);
	/* a multiple of 4 up to 40: the verifier must see the bound on this very register */
	asm volatile("" : "+r"(thlen));
	thlen &= 0x3c;
	if (thlen < TCP_HLEN || thlen > sizeof(sc->out))
		return XDP_PASS;
	sum = pseudo_sum(t, thlen) + sum_words(words, thlen / 4);
	sc->out.th.check = (__u16)~csum_fold16(sum);

	iphlen = t->family == COOKIE_IN_FAMILY4 ? IPV4_HLEN : IPV6_HLEN;
	d = (__s64)(ETH_HLEN + iphlen + thlen) - (__s64)bpf_xdp_get_buff_len(ctx);
	if (d != 0 && bpf_xdp_adjust_tail(ctx, (int)d) < 0) {
		count(l->slot, SG_XC_PASSED_NOROOM);
		return XDP_PASS;
	}

	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_ABORTED;
	__builtin_memcpy(mac, eth->h_dest, 6);
	__builtin_memcpy(eth->h_dest, eth->h_source, 6);
	__builtin_memcpy(eth->h_source, mac, 6);
	/* pkt_build()'s IP header: no options, TOS and IDs zero, DF, TTL 64 */
	w = (void *)(eth + 1);
	if (t->family == COOKIE_IN_FAMILY4) {
		if ((void *)(w + IPV4_HLEN / 4) > end)
			return XDP_ABORTED;
		w[0] = bpf_htonl(0x45000000 | (IPV4_HLEN + thlen));
		w[1] = bpf_htonl(IP_DF);
		w[2] = bpf_htonl(SG_SYNACK_TTL << 24 | IPPROTO_TCP << 16);
		__builtin_memcpy(&w[3], t->daddr, 4);
		__builtin_memcpy(&w[4], t->saddr, 4);
		((struct iphdr *)w)->check = (__u16)~csum_fold16(sum_words(w, IPV4_HLEN / 4));
		w += IPV4_HLEN / 4;
	} else {
		if ((void *)(w + IPV6_HLEN / 4) > end)
			return XDP_ABORTED;
		w[0] = bpf_htonl(0x60000000);
		w[1] = bpf_htonl(thlen << 16 | IPPROTO_TCP << 8 | SG_SYNACK_TTL);
		__builtin_memcpy(&w[2], t->daddr, 16);
		__builtin_memcpy(&w[6], t->saddr, 16);
		w += IPV6_HLEN / 4;
	}
	/* the TCP header, word by word: the frame ends where the header does */
#pragma unroll
	for (int i = 0; i < (int)(sizeof(sc->out) / 4); i++)
		if (i < (int)(thlen / 4) && (void *)(w + i + 1) <= end)
			w[i] = words[i];
	count(l->slot, SG_XC_SYN_ANSWERED);
	return XDP_TX;
}

/* A handshake ACK candidate's cookie: valid passes, anything else drops. */
static __noinline int check_ack(const struct sg_xdp_listener *l, const struct sg_cookie_tuple *t,
                                const struct sg_tcpopts *o, __u32 seq, __u32 ack)
{
	__u16 mss[COOKIE_MSS_SLOTS];
	struct sg_cookie_syn dec;
	int rc;

	__builtin_memcpy(mss, l->mss, sizeof(mss));
	rc = sg_cookie_check(t, seq, ack, o->flags & SG_SYN_TS, o->tsecr, mss, &dec);
	if (rc == SG_COOKIE_VALID) {
		count(l->slot, SG_XC_ACK_VALID);
		return XDP_PASS;
	}
	count(l->slot, rc == SG_COOKIE_ENOKEY ? SG_XC_ACK_EXPIRED : SG_XC_ACK_INVALID);
	return XDP_DROP;
}

/* The kernel holds a connection on this tuple: true when the packet is its business. */
static __always_inline bool flow_held(struct xdp_md *ctx, const struct sg_xdp_listener *l,
                                      const struct sg_cookie_tuple *t, const struct tcphdr *th)
{
	struct bpf_sock_tuple st = {};
	struct bpf_sock *skc;
	__u32 size;
	bool held;

	if (t->family == COOKIE_IN_FAMILY4) {
		__builtin_memcpy(&st.ipv4.saddr, t->saddr, 4);
		__builtin_memcpy(&st.ipv4.daddr, t->daddr, 4);
		st.ipv4.sport = th->source;
		st.ipv4.dport = th->dest;
		size = sizeof(st.ipv4);
	} else {
		__builtin_memcpy(st.ipv6.saddr, t->saddr, 16);
		__builtin_memcpy(st.ipv6.daddr, t->daddr, 16);
		st.ipv6.sport = th->source;
		st.ipv6.dport = th->dest;
		size = sizeof(st.ipv6);
	}
	skc = bpf_skc_lookup_tcp(ctx, &st, size, BPF_F_CURRENT_NETNS, 0);
	if (!skc)
		return false;
	held = skc->state != SG_TCP_LISTEN;
	/* as on the queue path: an established connection's packets are not counted */
	if (skc->state == SG_TCP_TIME_WAIT || skc->state == SG_TCP_NEW_SYN_RECV)
		count(l->slot, SG_XC_FLOW_PASSED);
	bpf_sk_release(skc);
	return held;
}

SEC("xdp")
int sg_xdp_syn(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct sg_cookie_tuple t = {};
	const struct sg_xdp_listener *l;
	struct sg_tcpopt_parse op;
	struct sg_xdp_scratch *sc;
	struct tcphdr th;
	__u32 l4off, l4len, olen, frame, zero = 0;
	bool syn, ack, mcast;
	__u8 flags, ip_ecn;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	mcast = eth->h_dest[0] & 1;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->version != 4 || ip->protocol != IPPROTO_TCP)
			return XDP_PASS;
		if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff))) {
			count(SG_XDP_SLOT_UNMATCHED, SG_XC_PASSED_UNPARSED);
			return XDP_PASS;
		}
		t.family = COOKIE_IN_FAMILY4;
		ip_ecn = ip->tos & 3;
		__builtin_memcpy(t.saddr, &ip->saddr, 4);
		__builtin_memcpy(t.daddr, &ip->daddr, 4);
		l4off = ETH_HLEN + IPV4_HLEN;
		l4len = bpf_ntohs(ip->tot_len);
		if (l4len < IPV4_HLEN)
			l4len = 0xffff; /* a lie: fails the length check below */
		else
			l4len -= IPV4_HLEN;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->version != 6)
			return XDP_PASS;
		if (ip6->nexthdr != IPPROTO_TCP) {
			switch (ip6->nexthdr) {
			case 0:   /* hop-by-hop */
			case 43:  /* routing */
			case 44:  /* fragment */
			case 51:  /* authentication */
			case 60:  /* destination options */
			case 135: /* mobility */
			case 139: /* host identity */
			case 140: /* shim6 */
				count(SG_XDP_SLOT_UNMATCHED, SG_XC_PASSED_UNPARSED);
			}
			return XDP_PASS;
		}
		t.family = COOKIE_IN_FAMILY6;
		ip_ecn = ip6->flow_lbl[0] >> 4 & 3; /* the traffic class's low bits */
		__builtin_memcpy(t.saddr, &ip6->saddr, 16);
		__builtin_memcpy(t.daddr, &ip6->daddr, 16);
		l4off = ETH_HLEN + IPV6_HLEN;
		l4len = bpf_ntohs(ip6->payload_len);
	} else {
		if (eth->h_proto == bpf_htons(ETH_P_8021Q) ||
		    eth->h_proto == bpf_htons(ETH_P_8021AD))
			count(SG_XDP_SLOT_UNMATCHED, SG_XC_PASSED_UNPARSED);
		return XDP_PASS;
	}

	if (bpf_xdp_load_bytes(ctx, l4off, &th, sizeof(th)) < 0)
		return XDP_PASS;
	t.sport = bpf_ntohs(th.source);
	t.dport = bpf_ntohs(th.dest);
	l = protected(&t);
	if (!l)
		return XDP_PASS;
	flags = ((__u8 *)&th)[13];
	syn = (flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) == TCP_SYN;
	ack = (flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_ACK;
	if (!(syn && (l->flags & SG_XDP_SYN_WORK)) && !(ack && (l->flags & SG_XDP_F_ACK))) {
		if (syn) {
			count(l->slot, SG_XC_SYN_PASSED);
			count(l->slot, SG_XC_SYN_SEEN);
		}
		return XDP_PASS;
	}
	if (syn && mcast) {
		count(l->slot, SG_XC_SYN_PASSED);
		count(l->slot, SG_XC_SYN_SEEN);
		return XDP_PASS;
	}

	/* The lengths: the IP length covers the TCP header, the frame covers the IP length. */
	frame = bpf_xdp_get_buff_len(ctx);
	olen = th.doff * 4;
	if (th.doff < 5 || l4len < olen || l4off + l4len > frame || (syn && l4len != olen)) {
		count(l->slot, SG_XC_PASSED_UNPARSED);
		return XDP_PASS;
	}

	/* before the options: an established connection's segments need no more */
	if (flow_held(ctx, l, &t, &th))
		return XDP_PASS;

	olen -= TCP_HLEN;
	__builtin_memset(&op, 0, sizeof(op));
	op.len = olen;
	if (olen > 0) {
		__u32 n = olen;

		/* the verifier must see the bound on the very register passed as the size */
		asm volatile("" : "+r"(n));
		n &= SG_TCPOPT_BUF - 1;
		if (n == 0 || n > 40 || bpf_xdp_load_bytes(ctx, l4off + TCP_HLEN, op.buf, n) < 0) {
			count(l->slot, SG_XC_PASSED_UNPARSED);
			return XDP_PASS;
		}
	}
	if (!sg_tcpopt_parse(&op)) {
		count(l->slot, SG_XC_PASSED_UNPARSED);
		return XDP_PASS;
	}

	if (l->flags & (SG_XDP_F_ACL | SG_XDP_F_RATE)) {
		switch (policies(l, &t, syn)) {
		case SG_XDP_V_DENIED:
			count(l->slot, syn ? SG_XC_SYN_DENIED : SG_XC_ACK_DENIED);
			return XDP_DROP;
		case SG_XDP_V_RATE_LIMITED:
			count(l->slot, SG_XC_SYN_RATE_LIMITED);
			return XDP_DROP;
		}
	}
	if (ack)
		return check_ack(l, &t, &op.o, bpf_ntohl(th.seq), bpf_ntohl(th.ack_seq));

	count(l->slot, SG_XC_SYN_SEEN);
	if (!answers_syns(l)) {
		count(l->slot, SG_XC_SYN_PASSED);
		return XDP_PASS;
	}
	sc = bpf_map_lookup_elem(&sg_xdp_scratch, &zero);
	if (!sc)
		return XDP_PASS;
	if ((t.family == COOKIE_IN_FAMILY4 && !ip_csum_ok(ctx)) || !syn_csum_ok(&t, &th, &op)) {
		count(l->slot, SG_XC_PASSED_CSUM);
		return XDP_PASS;
	}
	sc->client_isn = bpf_ntohl(th.seq);
	sc->ecn_setup = (flags & (TCP_ECE | TCP_CWR)) == (TCP_ECE | TCP_CWR) && ip_ecn == 0;
	if (syn_cookie(sc, l, &t, &op.o) < 0) {
		count(l->slot, SG_XC_SYN_PASSED);
		return XDP_PASS;
	}
	return answer_syn(ctx, sc, l, &t, &op.o);
}