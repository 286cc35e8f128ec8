/*
 * The XDP program (daemon/bpf/xdp_syn.bpf.c) under BPF_PROG_TEST_RUN, in a
 * network namespace of its own: loading it is the verifier's verdict.
 *
 * SYNs built by lib/pkt.c (both families, the option combinations of the
 * shared cookie vectors, no options at all, ECN setup, Ethernet padding, the
 * policy's SACK and timestamps refused) must come back as XDP_TX frames equal,
 * byte for byte after the swapped MACs, to the SYN-ACK the queue path sends
 * for the same SYN with the same key and epoch: the daemon's own hs_synack()
 * (sgd_handshake) fed as hs_on_syn() feeds it, built by pkt_build(); their
 * checksums are verified with lib/csum.c. What the program does not parse
 * passes unchanged; ACKs: the shared check vectors as packets, an ACK of the
 * program's own SYN-ACK, forged and expired ones, an established connection's
 * segment; and the counters of each. Then the program on a veth, native and
 * generic XDP: real clients' handshakes complete on its SYN-ACKs. Needs root
 * and BPF: otherwise exits 77 and says why.
 */
#define _GNU_SOURCE /* unshare */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "bpf_test.h"
#include "bpfkeys.h"
#include "cookie.h"
#include "cookie_vectors.h"
#include "csum.h"
#include "handshake.h"
#include "pkt.h"
#include "xdp_syn.h"
#include "xdp_syn.skel.h"
#include "xdp_test.h"

_Static_assert(SG_XDP_OUR_MSS4 == HS_OUR_MSS4 && SG_XDP_OUR_MSS6 == HS_OUR_MSS6, "our MSS");
_Static_assert(SG_XDP_SYNACK_WINDOW == HS_SYNACK_WINDOW, "the SYN-ACK's window");

#define FRAME_MAX 256
#define ALL_FLAGS (SG_XDP_F_SYN | SG_XDP_F_ACK | SG_XDP_F_SACK | SG_XDP_F_TS)

static struct xdp_syn *skel;
/* The listener under test may agree to ECN (SG_XDP_F_ECN: handoff "local", host ECN on). */
static bool ref_ecn;

static void counters(uint32_t slot, uint64_t out[SG_XDP_NCOUNTERS])
{
	for (uint32_t id = 0; id < SG_XDP_NCOUNTERS; id++)
		out[id] = xt_counter(slot, id);
}

/*
 * Exactly counter id of slot grew, by one, since before (SG_XDP_NCOUNTERS: none did); with a
 * SYN's outcome past the policies, syn_seen too.
 */
static void assert_counted(uint32_t slot, const uint64_t before[SG_XDP_NCOUNTERS], uint32_t id,
                           const char *what)
{
	bool seen = id == SG_XC_SYN_ANSWERED || id == SG_XC_SYN_PASSED || id == SG_XC_PASSED_CSUM ||
	            id == SG_XC_PASSED_NOROOM;
	uint64_t now[SG_XDP_NCOUNTERS];

	counters(slot, now);
	for (uint32_t i = 0; i < SG_XDP_NCOUNTERS; i++)
		if (now[i] - before[i] != (i == id || (seen && i == SG_XC_SYN_SEEN)))
			fail_msg("%s: counter %u of slot %u grew by %llu", what, i, slot,
			         (unsigned long long)(now[i] - before[i]));
}

/* The library's context with the same keys. */
static struct cookie_ctx *lib_keys(const uint8_t *m, const uint32_t *keys, unsigned n)
{
	struct cookie_ctx *c = cookie_new();

	assert_non_null(c);
	for (unsigned i = 0; i < n; i++) {
		uint8_t key[COOKIE_KEY_LEN];

		cookie_derive_key(key, m, keys[i]);
		cookie_set_key(c, keys[i], key);
	}
	return c;
}

/* Where the TCP header of a frame of family af starts. */
static size_t tcp_at(int af)
{
	return 14 + (af == AF_INET ? 20 : 40);
}

static void ipv4_csum_fix(struct frame *f)
{
	size_t ihl = (f->b[14] & 0xf) * 4u;
	uint16_t sum;

	f->b[24] = f->b[25] = 0;
	sum = csum_fold(csum_partial(f->b + 14, ihl, 0));
	memcpy(f->b + 24, &sum, 2);
}

/* The IPv4 length to the frame's, and the header checksum. */
static void ipv4_fix(struct frame *f)
{
	f->b[16] = (uint8_t)((f->len - 14) >> 8);
	f->b[17] = (uint8_t)(f->len - 14);
	ipv4_csum_fix(f);
}

/* The TCP checksum of an option-only segment (no payload) after a change by hand. */
static void tcp_fix(struct frame *f)
{
	struct pkt_tcp p;
	uint8_t *th;
	uint16_t sum;
	uint32_t l4;

	assert_int_equal(pkt_parse(f->b + 14, f->len - 14, 0, &p), PKT_OK);
	th = f->b + 14 + p.l4off;
	l4 = p.tcp_hlen + p.payload_len;
	th[16] = th[17] = 0;
	sum = csum_fold(
	    csum_partial(th, l4, csum_pseudo(p.t.family, p.t.saddr, p.t.daddr, IPPROTO_TCP, l4)));
	memcpy(th + 16, &sum, 2);
}

/* A run that must pass the frame on exactly as it came. */
static void assert_passed_unchanged(const struct frame *in, const char *what)
{
	struct frame out;
	int v = run(in, &out);

	if (v != XDP_PASS)
		fail_msg("%s: verdict %d, not XDP_PASS", what, v);
	assert_int_equal(out.len, in->len);
	assert_memory_equal(out.b, in->b, in->len);
}

/*
 * What the queue path sends for the SYN frame syn under policy pol with the
 * library's keys at epoch: hs_on_syn()'s cookie and filtering (its static
 * hs_ecn_agreed() written out again, with ref_ecn for the listener's part),
 * then hs_synack() and pkt_build(). Returns the packet's length (no Ethernet).
 */
static size_t reference(const struct frame *syn, const struct conf_policy *pol,
                        const struct cookie_ctx *c, uint32_t epoch, uint8_t *buf, size_t cap)
{
	struct halfopen_syn hs;
	struct cookie_syn in;
	struct pkt_spec s;
	struct pkt_tcp p;

	assert_int_equal(pkt_parse(syn->b + 14, syn->len - 14, 0, &p), PKT_OK);
	memset(&in, 0, sizeof(in));
	in.mss = p.opt.mss;
	in.has_wscale = p.opt.has_wscale;
	in.wscale = p.opt.wscale;
	in.sack_ok = p.opt.sack_ok && pol->sack;
	in.has_ts = p.opt.has_ts && pol->timestamps;
	in.ecn = ref_ecn && in.has_ts && (p.flags & (PKT_ECE | PKT_CWR)) == (PKT_ECE | PKT_CWR) &&
	         p.ip_ecn == 0;
	memset(&hs, 0, sizeof(hs));
	hs.t = p.t;
	hs.client_isn = p.seq;
	assert_int_equal(cookie_make(c, epoch, p.t.family == AF_INET ? pol->mss : pol->mss6, &p.t,
	                             p.seq, &in, &hs.our_isn, &hs.our_tsval),
	                 0);
	hs.opt = p.opt;
	hs.opt.sack_ok = in.sack_ok;
	hs.opt.has_ts = in.has_ts;
	hs.opt.tsecr = 0;
	hs.ecn = in.ecn;
	hs_synack(&hs, pol, &s);
	return pkt_build(buf, cap, &s);
}

/* The IPv4 header checksum and the TCP checksum verify (lib/csum.c, lib/pkt.c). */
static void assert_csums(const struct frame *f)
{
	struct pkt_tcp p;

	assert_int_equal(pkt_parse(f->b + 14, f->len - 14, 0, &p), PKT_OK);
	assert_true(pkt_tcp_csum_ok(f->b + 14, f->len - 14, &p));
	if (p.t.family == AF_INET)
		assert_int_equal(csum_fold(csum_partial(f->b + 14, 20, 0)), 0);
}

/* The SYN frame must come back as the reference SYN-ACK. */
static void assert_answered(const struct frame *syn, const struct conf_policy *pol,
                            const struct cookie_ctx *c, uint32_t epoch, const char *what,
                            struct frame *out)
{
	uint8_t want[PKT_BUILD_MAX];
	size_t n = reference(syn, pol, c, epoch, want, sizeof(want));
	int v = run(syn, out);

	if (v != XDP_TX)
		fail_msg("%s: verdict %d, not XDP_TX", what, v);
	if (out->len != 14 + n)
		fail_msg("%s: %zu bytes out, the queue path's SYN-ACK has %zu", what, out->len,
		         14 + n);
	assert_memory_equal(out->b, mac_client, 6);
	assert_memory_equal(out->b + 6, mac_server, 6);
	assert_memory_equal(out->b + 12, syn->b + 12, 2);
	if (memcmp(out->b + 14, want, n) != 0) {
		for (size_t i = 0; i < n; i++)
			if (out->b[14 + i] != want[i])
				printf("%s: byte %zu of the packet: %02x, want %02x\n", what, i,
				       out->b[14 + i], want[i]);
		fail_msg("%s: the SYN-ACK differs from the queue path's", what);
	}
	assert_csums(out);
}

static void policy_of(struct conf_policy *pol, const uint16_t table[4], uint8_t wscale, bool sack,
                      bool ts)
{
	memset(pol, 0, sizeof(*pol));
	memcpy(pol->mss, table, sizeof(pol->mss));
	memcpy(pol->mss6, table, sizeof(pol->mss6));
	pol->wscale = wscale;
	pol->sack = sack;
	pol->timestamps = ts;
}

/* Every make vector of family 4 or 6 as a SYN offering the options it grants (and asking for
 * ECN where the vector agrees to it). */
static void test_vectors_as_syns(void **state)
{
	unsigned runs = 0, nokey = 0;

	(void)state;
	for (unsigned i = 0; i < COOKIE_NVECS; i++) {
		const struct cookie_vec *v = &cookie_vecs[i];
		int af = v->family == 4 ? AF_INET : AF_INET6;
		struct pkt_spec syn = {.seq = v->seq, .window = 64240, .flags = PKT_SYN};
		uint32_t slot = i % SG_XDP_SLOTS;
		uint8_t wscale = (uint8_t)(i % 16);
		uint64_t before[SG_XDP_NCOUNTERS];
		struct conf_policy pol;
		struct cookie_ctx *c;
		struct frame in, out;
		struct pkt_tcp p;
		char what[96];

		if (v->op != VEC_MAKE || (v->family != 4 && v->family != 6))
			continue;
		snprintf(what, sizeof(what), "vector %u (%s)", i, v->name);
		syn.t.family = (uint8_t)af;
		memcpy(syn.t.saddr, v->saddr, 16);
		memcpy(syn.t.daddr, v->daddr, 16);
		syn.t.sport = v->sport;
		syn.t.dport = v->dport;
		syn.opt.mss = v->mss;
		syn.opt.has_wscale = v->flags & VEC_WSCALE;
		syn.opt.wscale = v->wscale;
		syn.opt.sack_ok = v->flags & VEC_SACK;
		syn.opt.has_ts = v->flags & VEC_TS;
		syn.opt.tsval = 0x01020304u * (i + 1);
		if (v->flags & VEC_ECN)
			syn.flags |= PKT_ECE | PKT_CWR;
		frame_of(&syn, &in);
		clear_listeners();
		/* a local listener's: ECN agreed where the vector's SYN asks for it */
		put_listener(af, v->daddr, v->dport, slot, v->mss_table, wscale,
		             ALL_FLAGS | SG_XDP_F_ECN);
		ref_ecn = true;
		map_keys(cookie_vec_master, v->keys, v->nkeys, v->epoch);
		counters(slot, before);
		if (v->rc != 0) {
			/* no key for the epoch: the queue path's (which has none either) */
			assert_passed_unchanged(&in, what);
			assert_counted(slot, before, SG_XC_SYN_PASSED, what);
			nokey++;
			continue;
		}
		c = lib_keys(cookie_vec_master, v->keys, v->nkeys);
		policy_of(&pol, v->mss_table, wscale, true, true);
		assert_answered(&in, &pol, c, v->epoch, what, &out);
		assert_counted(slot, before, SG_XC_SYN_ANSWERED, what);
		/* the vector's own cookie, where the SYN could carry its window scale */
		assert_int_equal(pkt_parse(out.b + 14, out.len - 14, 0, &p), PKT_OK);
		if (v->wscale <= PKT_MAX_WSCALE) {
			assert_int_equal(p.seq, v->isn);
			if (v->flags & VEC_TS)
				assert_int_equal(p.opt.tsval, v->tsval);
		}
		cookie_free(c);
		runs++;
	}
	ref_ecn = false;
	printf("%u make vectors as SYNs answered, %u without a key passed\n", runs, nokey);
	assert_true(runs > 50);
}

/* The corner cases of the answer, both families. */
static void test_syn_shapes(void **state)
{
	const uint32_t e = 0x1000, keys[1] = {0x1000};
	struct cookie_ctx *c = lib_keys(master, keys, 1);
	struct conf_policy pol;
	struct frame in, out;

	(void)state;
	map_keys(master, keys, 1, e);
	for (int k = 0; k < 2; k++) {
		int af = k == 0 ? AF_INET : AF_INET6;
		const uint16_t *table = af == AF_INET ? mss4 : mss6;
		const uint8_t *server = af == AF_INET ? server4 : server6;
		struct pkt_spec s;

		clear_listeners();
		put_listener(af, server, 443, 1, table, 9, ALL_FLAGS);
		policy_of(&pol, table, 9, true, true);

		s = syn_of(af, 443); /* Linux's SYN: every option */
		frame_of(&s, &in);
		assert_answered(&in, &pol, c, e, "a full SYN", &out);

		s.opt = (struct pkt_tcpopts){0}; /* no options: the frame grows by our MSS */
		frame_of(&s, &in);
		assert_answered(&in, &pol, c, e, "a SYN without options", &out);

		/* ECN setup to a proxy or pass-fd listener: answered without ECE */
		s = syn_of(af, 443);
		s.flags = PKT_SYN | PKT_ECE | PKT_CWR;
		frame_of(&s, &in);
		assert_answered(&in, &pol, c, e, "an ECN-setup SYN", &out);
		assert_int_equal(out.b[tcp_at(af) + 13], PKT_SYN | PKT_ACK);

		/* to a local listener with the host's ECN on: ECE, and the TSval's ECN bit */
		put_listener(af, server, 443, 1, table, 9, ALL_FLAGS | SG_XDP_F_ECN);
		ref_ecn = true;
		assert_answered(&in, &pol, c, e, "an ECN-setup SYN, ECN agreed", &out);
		assert_int_equal(out.b[tcp_at(af) + 13], PKT_SYN | PKT_ACK | PKT_ECE);
		/* an ECN-capable SYN (ECT(0), ECT(1), CE) is refused ECN, as the kernel does */
		for (uint8_t bits = 1; bits <= 3; bits++) {
			struct frame ect = in;

			if (af == AF_INET) {
				ect.b[15] |= bits;
				ipv4_csum_fix(&ect);
			} else {
				ect.b[15] |= (uint8_t)(bits << 4);
			}
			assert_answered(&ect, &pol, c, e, "an ECT SYN", &out);
			assert_int_equal(out.b[tcp_at(af) + 13], PKT_SYN | PKT_ACK);
		}
		/* without timestamps nothing carries the agreement: no ECE */
		s.opt.has_ts = false;
		frame_of(&s, &in);
		assert_answered(&in, &pol, c, e, "ECN setup without timestamps", &out);
		assert_int_equal(out.b[tcp_at(af) + 13], PKT_SYN | PKT_ACK);
		/* ECE alone is no ECN setup */
		s = syn_of(af, 443);
		s.flags = PKT_SYN | PKT_ECE;
		frame_of(&s, &in);
		assert_answered(&in, &pol, c, e, "ECE without CWR", &out);
		assert_int_equal(out.b[tcp_at(af) + 13], PKT_SYN | PKT_ACK);
		ref_ecn = false;
		put_listener(af, server, 443, 1, table, 9, ALL_FLAGS);

		s = syn_of(af, 443); /* MSS only, and window scale without SACK */
		s.opt.sack_ok = false;
		s.opt.has_ts = false;
		frame_of(&s, &in);
		assert_answered(&in, &pol, c, e, "MSS and window scale", &out);
		s.opt.has_wscale = false;
		frame_of(&s, &in);
		assert_answered(&in, &pol, c, e, "MSS only", &out);
		s.opt.sack_ok = true;
		frame_of(&s, &in);
		assert_answered(&in, &pol, c, e, "MSS and SACK", &out);
		s.opt.has_ts = true;
		frame_of(&s, &in);
		assert_answered(&in, &pol, c, e, "timestamps without window scale", &out);

		/* a shift above 14 on the wire (pkt_build clamps it): read as 14, as lib/pkt.c */
		s = syn_of(af, 443);
		frame_of(&s, &in);
		assert_int_equal(in.b[in.len - 1], 7);
		in.b[in.len - 1] = 15;
		tcp_fix(&in);
		assert_answered(&in, &pol, c, e, "a window scale above 14", &out);

		/* the policy refuses SACK and timestamps: granted neither, shorter answer */
		put_listener(af, server, 443, 1, table, 9, SG_XDP_F_SYN | SG_XDP_F_ACK);
		policy_of(&pol, table, 9, false, false);
		s = syn_of(af, 443);
		frame_of(&s, &in);
		assert_answered(&in, &pol, c, e, "SACK and timestamps refused", &out);

		/* a table whose largest entry is below our MSS caps it; wscale 0 */
		{
			const uint16_t small[4] = {536, 600, 700, 1000};

			put_listener(af, server, 443, 1, small, 0, ALL_FLAGS);
			policy_of(&pol, small, 0, true, true);
			frame_of(&s, &in);
			assert_answered(&in, &pol, c, e, "a small MSS table", &out);
		}

		/* Ethernet padding after the SYN: the answer has the SYN-ACK's length */
		put_listener(af, server, 443, 1, table, 9, ALL_FLAGS);
		policy_of(&pol, table, 9, true, true);
		s = syn_of(af, 443);
		s.opt = (struct pkt_tcpopts){.mss = 1400};
		frame_of(&s, &in);
		in.len = 14 + (af == AF_INET ? 20 : 40) + 24 + 18;
		assert_answered(&in, &pol, c, e, "a padded frame", &out);

		/* a wildcard listener answers for any address of its family */
		clear_listeners();
		put_listener(af, (const uint8_t[16]){0}, 443, 2, table, 9, ALL_FLAGS);
		s = syn_of(af, 443);
		frame_of(&s, &in);
		assert_answered(&in, &pol, c, e, "a wildcard listener", &out);
	}
	cookie_free(c);
}

/* Inserts n bytes at off into f (the caller fixes the headers). */
static void insert(struct frame *f, size_t off, const uint8_t *bytes, size_t n)
{
	assert_true(f->len + n <= sizeof(f->b));
	memmove(f->b + off + n, f->b + off, f->len - off);
	memcpy(f->b + off, bytes, n);
	f->len += n;
}

/* What the program does not parse passes as it came, counted where it can be. */
static void test_unparsed_passes(void **state)
{
	const uint32_t e = 0x2000, keys[1] = {0x2000};
	uint64_t c0[SG_XDP_NCOUNTERS], u0[SG_XDP_NCOUNTERS];
	struct pkt_spec s;
	struct frame f;

	(void)state;
	map_keys(master, keys, 1, e);
	clear_listeners();
	put_listener(AF_INET, server4, 80, 4, mss4, 7, ALL_FLAGS);
	put_listener(AF_INET6, server6, 80, 4, mss6, 7, ALL_FLAGS);
	counters(4, c0);

	/* IPv4 options (a record-route-sized run of NOPs and an end) */
	counters(SG_XDP_SLOT_UNMATCHED, u0);
	s = syn_of(AF_INET, 80);
	frame_of(&s, &f);
	insert(&f, 34, (const uint8_t[4]){1, 1, 1, 0}, 4);
	f.b[14] = 0x46;
	ipv4_fix(&f);
	assert_passed_unchanged(&f, "IPv4 options");
	assert_counted(SG_XDP_SLOT_UNMATCHED, u0, SG_XC_PASSED_UNPARSED, "IPv4 options");

	/* an IPv4 fragment (MF set), and a later one */
	counters(SG_XDP_SLOT_UNMATCHED, u0);
	frame_of(&s, &f);
	f.b[20] |= 0x20;
	ipv4_fix(&f);
	assert_passed_unchanged(&f, "a first fragment");
	f.b[20] = 0x40;
	f.b[21] = 0x10;
	ipv4_fix(&f);
	assert_passed_unchanged(&f, "a later fragment");
	assert_int_equal(xt_counter(SG_XDP_SLOT_UNMATCHED, SG_XC_PASSED_UNPARSED),
	                 u0[SG_XC_PASSED_UNPARSED] + 2);

	/* IPv6 hop-by-hop options, IPv6 fragment header */
	counters(SG_XDP_SLOT_UNMATCHED, u0);
	s = syn_of(AF_INET6, 80);
	frame_of(&s, &f);
	insert(&f, 54, (const uint8_t[8]){6, 0, 1, 4, 0, 0, 0, 0}, 8);
	f.b[14 + 6] = 0; /* next header: hop-by-hop */
	f.b[14 + 5] += 8;
	assert_passed_unchanged(&f, "IPv6 hop-by-hop");
	frame_of(&s, &f);
	insert(&f, 54, (const uint8_t[8]){6, 0, 0, 0, 0, 0, 0, 1}, 8);
	f.b[14 + 6] = 44;
	f.b[14 + 5] += 8;
	assert_passed_unchanged(&f, "IPv6 fragment header");
	assert_int_equal(xt_counter(SG_XDP_SLOT_UNMATCHED, SG_XC_PASSED_UNPARSED),
	                 u0[SG_XC_PASSED_UNPARSED] + 2);

	/* a VLAN tag, both families */
	counters(SG_XDP_SLOT_UNMATCHED, u0);
	for (int af = 0; af < 2; af++) {
		s = syn_of(af ? AF_INET6 : AF_INET, 80);
		frame_of(&s, &f);
		insert(&f, 12, (const uint8_t[4]){0x81, 0x00, 0x00, 0x05}, 4);
		assert_passed_unchanged(&f, "a VLAN tag");
	}
	assert_int_equal(xt_counter(SG_XDP_SLOT_UNMATCHED, SG_XC_PASSED_UNPARSED),
	                 u0[SG_XC_PASSED_UNPARSED] + 2);

	/* not TCP, not protected: passed, not counted */
	counters(SG_XDP_SLOT_UNMATCHED, u0);
	s = syn_of(AF_INET, 80);
	frame_of(&s, &f);
	f.b[23] = IPPROTO_UDP;
	ipv4_fix(&f);
	assert_passed_unchanged(&f, "UDP");
	s = syn_of(AF_INET, 81);
	frame_of(&s, &f);
	assert_passed_unchanged(&f, "a SYN to another port");
	s = syn_of(AF_INET6, 81);
	frame_of(&s, &f);
	assert_passed_unchanged(&f, "an IPv6 SYN to another port");
	s = syn_of(AF_INET, 80);
	memcpy(s.t.daddr, (const uint8_t[4]){192, 0, 2, 2}, 4);
	frame_of(&s, &f);
	assert_passed_unchanged(&f, "a SYN to another address");
	assert_counted(SG_XDP_SLOT_UNMATCHED, u0, SG_XDP_NCOUNTERS, "unprotected");
	assert_counted(4, c0, SG_XDP_NCOUNTERS, "unprotected");

	/* neither SYN nor ACK candidates: RST, SYN-ACK, SYN+FIN */
	s = syn_of(AF_INET, 80);
	s.flags = PKT_RST;
	frame_of(&s, &f);
	assert_passed_unchanged(&f, "a RST");
	s.flags = PKT_SYN | PKT_ACK;
	frame_of(&s, &f);
	assert_passed_unchanged(&f, "a SYN-ACK");
	s.flags = PKT_SYN | PKT_FIN;
	frame_of(&s, &f);
	assert_passed_unchanged(&f, "SYN and FIN");
	assert_counted(4, c0, SG_XDP_NCOUNTERS, "not candidates");

	/* to the listener, but unparsed: malformed option, data on the SYN, a lying length */
	for (int af = 0; af < 2; af++) {
		size_t l4 = 14 + (af ? 40 : 20);

		s = syn_of(af ? AF_INET6 : AF_INET, 80);
		frame_of(&s, &f);
		f.b[l4 + 20 + 5] = 1; /* the timestamp option's length */
		counters(4, c0);
		assert_passed_unchanged(&f, "a malformed option");
		assert_counted(4, c0, SG_XC_PASSED_UNPARSED, "a malformed option");

		frame_of(&s, &f);
		insert(&f, f.len, (const uint8_t[4]){'G', 'E', 'T', ' '}, 4);
		if (af)
			f.b[14 + 5] += 4;
		else
			ipv4_fix(&f);
		counters(4, c0);
		assert_passed_unchanged(&f, "data on a SYN");
		assert_counted(4, c0, SG_XC_PASSED_UNPARSED, "data on a SYN");

		frame_of(&s, &f);
		f.b[14 + (af ? 5 : 3)] += 40; /* the IP length beyond the frame */
		if (!af)
			ipv4_csum_fix(&f);
		counters(4, c0);
		assert_passed_unchanged(&f, "a lying length");
		assert_counted(4, c0, SG_XC_PASSED_UNPARSED, "a lying length");

		/* a bad checksum (or a local sender's partial one) */
		frame_of(&s, &f);
		f.b[l4 + 16] ^= 0x5a;
		counters(4, c0);
		assert_passed_unchanged(&f, "a bad TCP checksum");
		assert_counted(4, c0, SG_XC_PASSED_CSUM, "a bad TCP checksum");
		if (!af) {
			frame_of(&s, &f);
			f.b[24] ^= 0x5a;
			counters(4, c0);
			assert_passed_unchanged(&f, "a bad IPv4 header checksum");
			assert_counted(4, c0, SG_XC_PASSED_CSUM, "a bad IPv4 header checksum");
		}

		/* to a multicast MAC: not the kernel's to answer */
		frame_of(&s, &f);
		f.b[0] = 0x33;
		counters(4, c0);
		assert_passed_unchanged(&f, "a multicast MAC");
		assert_counted(4, c0, SG_XC_SYN_PASSED, "a multicast MAC");
	}

	/* SYNs are the queue path's while SG_XDP_F_SYN is clear; so is every one without a key */
	put_listener(AF_INET, server4, 80, 4, mss4, 7, ALL_FLAGS & ~SG_XDP_F_SYN);
	s = syn_of(AF_INET, 80);
	frame_of(&s, &f);
	counters(4, c0);
	assert_passed_unchanged(&f, "SYN answering off");
	assert_counted(4, c0, SG_XC_SYN_PASSED, "SYN answering off");
	put_listener(AF_INET, server4, 80, 4, mss4, 7, ALL_FLAGS);
	assert_int_equal(bpfkeys_clear(bpf_map__fd(skel->maps.sg_cookie_keys)), 0);
	counters(4, c0);
	assert_passed_unchanged(&f, "no key yet");
	assert_counted(4, c0, SG_XC_SYN_PASSED, "no key yet");
}

/* Every check vector of family 4 or 6 as the ACK it describes. */
static void test_ack_vectors(void **state)
{
	unsigned runs = 0, valid = 0;

	(void)state;
	for (unsigned i = 0; i < COOKIE_NVECS; i++) {
		const struct cookie_vec *v = &cookie_vecs[i];
		int af = v->family == 4 ? AF_INET : AF_INET6;
		struct pkt_spec ack = {
		    .seq = v->seq, .ack = v->ack, .window = 502, .flags = PKT_ACK};
		uint64_t before[SG_XDP_NCOUNTERS];
		uint32_t slot = i % SG_XDP_SLOTS, want;
		struct frame in, out;
		char what[96];
		int verdict;

		if (v->op != VEC_CHECK || (v->family != 4 && v->family != 6))
			continue;
		snprintf(what, sizeof(what), "vector %u (%s)", i, v->name);
		ack.t.family = (uint8_t)af;
		memcpy(ack.t.saddr, v->saddr, 16);
		memcpy(ack.t.daddr, v->daddr, 16);
		ack.t.sport = v->sport;
		ack.t.dport = v->dport;
		ack.opt.has_ts = v->flags & VEC_TS;
		ack.opt.tsval = 0x11223344;
		ack.opt.tsecr = v->tsecr;
		frame_of(&ack, &in);
		clear_listeners();
		put_listener(af, v->daddr, v->dport, slot, v->mss_table, 7, ALL_FLAGS);
		map_keys(cookie_vec_master, v->keys, v->nkeys, v->epoch);
		counters(slot, before);
		verdict = run(&in, &out);
		want = v->rc == COOKIE_VALID    ? SG_XC_ACK_VALID
		       : v->rc == COOKIE_ENOKEY ? SG_XC_ACK_EXPIRED
		                                : SG_XC_ACK_INVALID;
		assert_counted(slot, before, want, what);
		if (verdict != (v->rc == COOKIE_VALID ? XDP_PASS : XDP_DROP))
			fail_msg("%s: verdict %d", what, verdict);
		if (verdict == XDP_PASS) {
			assert_int_equal(out.len, in.len);
			assert_memory_equal(out.b, in.b, in.len);
		}
		runs++;
		valid += v->rc == COOKIE_VALID;
	}
	printf("%u check vectors as ACKs, %u valid\n", runs, valid);
	assert_true(runs > 100 && valid > 10);
}

/* The ACK of the program's own SYN-ACK, and forged, expired and unchecked ones. */
static void test_own_handshake(void **state)
{
	const uint32_t e = 0x3000, keys[2] = {0x3000, 0x3001};
	uint64_t c0[SG_XDP_NCOUNTERS];

	(void)state;
	for (int k = 0; k < 2; k++) {
		int af = k ? AF_INET6 : AF_INET;
		struct pkt_spec s = syn_of(af, 8443), a;
		struct frame in, out;
		struct pkt_tcp sa;

		map_keys(master, keys, 1, e);
		clear_listeners();
		/* IPv6: a local listener's handshake with ECN agreed (the bit in the TSecr) */
		put_listener(af, af == AF_INET ? server4 : server6, 8443, 6,
		             af == AF_INET ? mss4 : mss6, 7, ALL_FLAGS | (k ? SG_XDP_F_ECN : 0));
		if (k)
			s.flags |= PKT_ECE | PKT_CWR;
		frame_of(&s, &in);
		assert_int_equal(run(&in, &out), XDP_TX);
		assert_int_equal(pkt_parse(out.b + 14, out.len - 14, 0, &sa), PKT_OK);
		assert_int_equal(sa.flags & PKT_ECE, k ? PKT_ECE : 0);
		assert_int_equal(sa.opt.tsval & COOKIE_TS_ECN, k ? COOKIE_TS_ECN : 0);

		a = s;
		a.flags = PKT_ACK;
		a.seq = s.seq + 1;
		a.ack = sa.seq + 1;
		a.opt = (struct pkt_tcpopts){
		    .has_ts = true, .tsval = s.opt.tsval + 1, .tsecr = sa.opt.tsval};
		frame_of(&a, &in);
		counters(6, c0);
		assert_passed_unchanged(&in, "the handshake's ACK");
		assert_counted(6, c0, SG_XC_ACK_VALID, "the handshake's ACK");

		/* with data and PSH, as a client's first segment may come */
		a.flags = PKT_ACK | PKT_PSH;
		frame_of(&a, &in);
		insert(&in, in.len, (const uint8_t[4]){'G', 'E', 'T', ' '}, 4);
		if (af == AF_INET6)
			in.b[14 + 5] += 4;
		else
			ipv4_fix(&in);
		counters(6, c0);
		assert_passed_unchanged(&in, "the handshake's ACK with data");
		assert_counted(6, c0, SG_XC_ACK_VALID, "the handshake's ACK with data");

		/* the next epoch still takes it; two on, the key is gone */
		a.flags = PKT_ACK;
		frame_of(&a, &in);
		map_keys(master, keys, 2, e + 1);
		counters(6, c0);
		assert_passed_unchanged(&in, "an ACK one epoch on");
		assert_counted(6, c0, SG_XC_ACK_VALID, "an ACK one epoch on");
		map_keys(master, keys + 1, 1, e + 1);
		counters(6, c0);
		assert_int_equal(run(&in, &out), XDP_DROP);
		assert_counted(6, c0, SG_XC_ACK_EXPIRED, "an ACK whose key is gone");

		/* forged: the wrong acknowledgment, the wrong TSecr */
		map_keys(master, keys, 1, e);
		a.ack ^= 0x40000;
		frame_of(&a, &in);
		counters(6, c0);
		assert_int_equal(run(&in, &out), XDP_DROP);
		assert_counted(6, c0, SG_XC_ACK_INVALID, "a forged ACK");
		a.ack ^= 0x40000;
		a.opt.tsecr ^= 0x100;
		frame_of(&a, &in);
		counters(6, c0);
		assert_int_equal(run(&in, &out), XDP_DROP);
		assert_counted(6, c0, SG_XC_ACK_INVALID, "a forged TSecr");

		/* FIN+ACK is a candidate too (hs_packet's); RST+ACK is not */
		a.flags = PKT_ACK | PKT_FIN;
		frame_of(&a, &in);
		assert_int_equal(run(&in, &out), XDP_DROP);
		a.flags = PKT_ACK | PKT_RST;
		frame_of(&a, &in);
		assert_passed_unchanged(&in, "RST+ACK");

		/* with SG_XDP_F_ACK clear the queue path checks every ACK */
		put_listener(af, af == AF_INET ? server4 : server6, 8443, 6,
		             af == AF_INET ? mss4 : mss6, 7, ALL_FLAGS & ~SG_XDP_F_ACK);
		a.flags = PKT_ACK;
		frame_of(&a, &in);
		counters(6, c0);
		assert_passed_unchanged(&in, "ACK checking off");
		assert_counted(6, c0, SG_XDP_NCOUNTERS, "ACK checking off");
	}
}

/*
 * A connection the kernel holds passes whatever its acknowledgment says; the
 * listener's own socket does not make a forged ACK pass.
 */
static void test_established_passes(void **state)
{
	/* both parities live: a forged acknowledgment is invalid, never expired */
	const uint32_t e = 0x4000, keys[2] = {0x3fff, 0x4000};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in ca;
	socklen_t n = sizeof(sa);
	uint64_t c0[SG_XDP_NCOUNTERS];
	const uint8_t lo4[16] = {127, 0, 0, 1};
	int lfd, cfd, afd;
	struct frame in, out;
	struct pkt_spec a = {.seq = 12345, .ack = 67890, .window = 502, .flags = PKT_ACK};

	(void)state;
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0 && cfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &n), 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	n = sizeof(ca);
	assert_int_equal(getsockname(cfd, (struct sockaddr *)&ca, &n), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);

	map_keys(master, keys, 2, e);
	clear_listeners();
	put_listener(AF_INET, lo4, ntohs(sa.sin_port), 7, mss4, 7, ALL_FLAGS);
	a.t.family = AF_INET;
	memcpy(a.t.saddr, lo4, 4);
	memcpy(a.t.daddr, lo4, 4);
	a.t.sport = ntohs(ca.sin_port);
	a.t.dport = ntohs(sa.sin_port);
	frame_of(&a, &in);
	counters(7, c0);
	assert_passed_unchanged(&in, "an established connection's ACK");
	assert_counted(7, c0, SG_XDP_NCOUNTERS, "an established connection's ACK");

	/* another source port: only the listener holds that tuple */
	a.t.sport ^= 1;
	frame_of(&a, &in);
	assert_int_equal(run(&in, &out), XDP_DROP);
	assert_counted(7, c0, SG_XC_ACK_INVALID, "a forged ACK to a listening socket");
	close(afd);
	close(cfd);
	close(lfd);
}

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

/* connect() to addr within 3 s: 0 connected (maybe reset since), 1 refused or failed, 2 no
 * answer. */
static int try_connect(const struct sockaddr *addr, socklen_t len)
{
	struct pollfd pfd;
	socklen_t n = sizeof(int);
	int fd, err = 0;

	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return 1;
	if (connect(fd, addr, len) < 0 && errno != EINPROGRESS) {
		close(fd);
		return 1;
	}
	pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
	if (poll(&pfd, 1, 3000) != 1) {
		close(fd);
		return 2;
	}
	/* the server's kernel, with no connection, resets it right after: ECONNRESET is
	 * a handshake the client completed, ECONNREFUSED one it never did */
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &n) < 0 || (err != 0 && err != ECONNRESET)) {
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}

/* A SYN without options from 192.0.2.2 to 192.0.2.1:443, through a raw socket. */
static int raw_syn_without_options(void)
{
	struct pkt_spec syn = {.seq = 777, .window = 1024, .flags = PKT_SYN};
	struct sockaddr_in to = {.sin_family = AF_INET};
	uint8_t buf[PKT_BUILD_MAX];
	size_t n;
	int fd, rc;

	syn.t.family = AF_INET;
	memcpy(syn.t.saddr, (const uint8_t[4]){192, 0, 2, 2}, 4);
	memcpy(syn.t.daddr, (const uint8_t[4]){192, 0, 2, 1}, 4);
	syn.t.sport = 40999;
	syn.t.dport = 443;
	n = pkt_build(buf, sizeof(buf), &syn);
	memcpy(&to.sin_addr, syn.t.daddr, 4);
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);
	if (fd < 0 || n != 40)
		return -1;
	/* the kernel writes the IP header; the TCP checksum already covers its addresses */
	rc = sendto(fd, buf + 20, n - 20, 0, (struct sockaddr *)&to, sizeof(to)) == 20 ? 0 : -1;
	close(fd);
	return rc;
}

/*
 * The real driver path: the program attached (native, then generic XDP) to
 * a veth whose peer, in a namespace of its own, connects over IPv4 and IPv6
 * to a port nobody listens on. The kernel would refuse it (RST); the client's
 * connect() succeeding (reset only after: the server's kernel has no
 * connection) means the program's SYN-ACK went out with XDP_TX and the
 * client's kernel took it (checksums, options, sequence numbers). The peer
 * carries the same program (it matches nothing there) because a veth
 * delivers XDP_TX frames only to a peer with XDP or GRO, and sends full
 * checksums (tx off), as the lab's senders do.
 */
static void veth_connect(uint32_t mode, const char *name)
{
	const uint32_t e = 0x5000, keys[1] = {0x5000};
	const uint8_t srv4[16] = {192, 0, 2, 1};
	int prog = bpf_program__fd(skel->progs.sg_xdp_syn);
	int to_child[2], to_parent[2], status, ifindex;
	uint64_t before, noroom, answered = 0;
	char c = 0;
	pid_t pid;

	if (sh("command -v ethtool >/dev/null") != 0 ||
	    sh("ip link add sgx0 type veth peer name sgx1 2>/dev/null") != 0) {
		printf("skipped: no ethtool, or no veth here\n");
		skip();
	}
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(to_parent), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(443)};
		struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
		int r4, r6;

		if (unshare(CLONE_NEWNET) < 0 || write(to_parent[1], &c, 1) != 1 ||
		    read(to_child[0], &c, 1) != 1)
			_exit(10);
		if (sh("ip link set lo up && ip addr add 192.0.2.2/24 dev sgx1 && "
		       "ip addr add 2001:db8::2/64 dev sgx1 nodad && ip link set sgx1 up && "
		       "ethtool -K sgx1 tx off >/dev/null") != 0)
			_exit(11);
		ifindex = (int)if_nametoindex("sgx1");
		if (ifindex == 0 || bpf_xdp_attach(ifindex, prog, XDP_FLAGS_DRV_MODE, NULL) < 0)
			_exit(12);
		inet_pton(AF_INET, "192.0.2.1", &a4.sin_addr);
		inet_pton(AF_INET6, "2001:db8::1", &a6.sin6_addr);
		r4 = try_connect((struct sockaddr *)&a4, sizeof(a4));
		r6 = try_connect((struct sockaddr *)&a6, sizeof(a6));
		if (raw_syn_without_options() < 0)
			_exit(13);
		_exit(r4 | r6 << 2);
	}
	assert_int_equal(read(to_parent[0], &c, 1), 1);
	assert_int_equal(sh("ip link set sgx1 netns %d && ip addr add 192.0.2.1/24 dev sgx0 && "
	                    "ip addr add 2001:db8::1/64 dev sgx0 nodad && ip link set sgx0 up",
	                    (int)pid),
	                 0);
	ifindex = (int)if_nametoindex("sgx0");
	assert_true(ifindex > 0);
	assert_int_equal(bpf_xdp_attach(ifindex, prog, mode, NULL), 0);
	map_keys(master, keys, 1, e);
	clear_listeners();
	put_listener(AF_INET, srv4, 443, 8, mss4, 7, SG_XDP_F_SYN | SG_XDP_F_SACK | SG_XDP_F_TS);
	put_listener(AF_INET6, server6, 443, 8, mss6, 7,
	             SG_XDP_F_SYN | SG_XDP_F_SACK | SG_XDP_F_TS);
	before = xt_counter(8, SG_XC_SYN_ANSWERED);
	noroom = xt_counter(8, SG_XC_PASSED_NOROOM);
	assert_int_equal(write(to_child[1], &c, 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* the option-less SYN (the last): answered, or left to the queue path for want of
	 * room to grow; wait for the one or the other (2 s at most) */
	for (int i = 0; i < 200; i++) {
		answered = xt_counter(8, SG_XC_SYN_ANSWERED) - before;
		if (answered >= 3 || xt_counter(8, SG_XC_PASSED_NOROOM) > noroom)
			break;
		usleep(10000);
	}
	noroom = xt_counter(8, SG_XC_PASSED_NOROOM) - noroom;
	assert_int_equal(bpf_xdp_detach(ifindex, mode, NULL), 0);
	sh("ip link del sgx0");
	close(to_child[0]), close(to_child[1]), close(to_parent[0]), close(to_parent[1]);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0) {
		for (uint32_t id = 0; id < SG_XDP_NCOUNTERS; id++)
			printf("counter %u: %llu\n", id, (unsigned long long)xt_counter(8, id));
		fail_msg("client: exit %d (IPv4 %d, IPv6 %d: 1 refused, 2 no answer; 10+: setup)",
		         WEXITSTATUS(status), WEXITSTATUS(status) & 3, WEXITSTATUS(status) >> 2);
	}
	assert_true(answered >= 2);
	printf("veth, %s XDP: IPv4 and IPv6 clients connected on the program's SYN-ACK\n", name);
	assert_true(answered + noroom >= 3);
	printf("veth, %s XDP: a SYN without options was %s\n", name,
	       noroom ? "left to the queue path (the frame could not grow)"
	              : "answered (the frame grew)");
}

static void test_veth_connect(void **state)
{
	(void)state;
	veth_connect(XDP_FLAGS_DRV_MODE, "native");
	/* where a driver has no XDP of its own, the daemon attaches generic XDP */
	veth_connect(XDP_FLAGS_SKB_MODE, "generic");
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * For the record, not asserted: the program's time per SYN answered and per
 * forged ACK. A repeated run reuses the frame the last one left, so SYNs are
 * timed one run at a time (the median), forged ACKs (left as they are) in bulk.
 */
static void test_timing(void **state)
{
	const uint32_t e = 0x7000, keys[2] = {0x6fff, 0x7000};
	struct pkt_spec s = syn_of(AF_INET, 443);
	uint32_t ns[501];
	struct frame f;

	(void)state;
	map_keys(master, keys, 2, e);
	clear_listeners();
	put_listener(AF_INET, server4, 443, 1, mss4, 7, ALL_FLAGS);
	frame_of(&s, &f);
	for (unsigned i = 0; i < 501; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f.b, .data_size_in = (uint32_t)f.len,
		            .repeat = 1);
		assert_int_equal(
		    bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sg_xdp_syn), &o), 0);
		assert_int_equal(o.retval, XDP_TX);
		ns[i] = o.duration;
	}
	qsort(ns, 501, sizeof(ns[0]), cmp_u32);
	printf("SYN answered: %u ns per run, median of 501 single runs (BPF_PROG_TEST_RUN)\n",
	       ns[250]);

	s.flags = PKT_ACK;
	s.ack = 0x12345;
	s.opt = (struct pkt_tcpopts){.has_ts = true, .tsecr = 1};
	frame_of(&s, &f);
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f.b, .data_size_in = (uint32_t)f.len,
	            .repeat = 100000);
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sg_xdp_syn), &o), 0);
	assert_int_equal(o.retval, XDP_DROP);
	printf("forged ACK with timestamps, dropped: %u ns per run (repeat %u)\n", o.duration,
	       o.repeat);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors_as_syns), cmocka_unit_test(test_syn_shapes),
	    cmocka_unit_test(test_unparsed_passes), cmocka_unit_test(test_ack_vectors),
	    cmocka_unit_test(test_own_handshake),   cmocka_unit_test(test_established_passes),
	    cmocka_unit_test(test_veth_connect),    cmocka_unit_test(test_timing),
	};
	int rc;

	rc = bpf_test_enter(BPF_TEST_NETNS);
	if (rc != 0)
		return rc;
	skel = xdp_syn__open_and_load();
	if (skel == NULL)
		return bpf_test_load_failed("xdp_syn");
	xt = (struct xdp_test_fds){
	    .prog = bpf_program__fd(skel->progs.sg_xdp_syn),
	    .listeners = bpf_map__fd(skel->maps.sg_xdp_listeners),
	    .counters = bpf_map__fd(skel->maps.sg_xdp_counters),
	    .keys = bpf_map__fd(skel->maps.sg_cookie_keys),
	    .ncpus = libbpf_num_possible_cpus(),
	};
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	xdp_syn__destroy(skel);
	return rc;
}
