/*
 * The XDP program's policies (daemon/bpf/xdp_syn.bpf.c) under
 * BPF_PROG_TEST_RUN, in a network namespace of its own:
 *   - deny and allow lists over both families: longest prefix wins, an allow
 *     entry inside a denied prefix, lists of another policy ignored, the
 *     lookup only for listeners flagged SG_XDP_F_ACL, a denied source's ACK
 *     dropped before its cookie is checked, the generation switch of a reload;
 *   - per-source SYN rate limits on the program built with a test clock
 *     (xdp_syn_clock.bpf.c): burst, then drops; refill after time the test
 *     sets; source prefixes; buckets per listener; allow-listed sources exempt;
 *     SYNs passed to the queue path limited too. Then on the daemon's program,
 *     the refill in real time, waited for;
 *   - auto mode's switch (sg_xdp_auto) both ways;
 *   - the counters of each; and, for the record, the SYN path's cost with and
 *     without the lists and the rate limit.
 * Loading the daemon's program is the verifier's verdict. Needs root and BPF:
 * otherwise exits 77 and says why.
 */
#define _GNU_SOURCE /* unshare */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

#include "bpf_test.h"
#include "local_ack.h"
#include "xdp_syn.skel.h"
#include "xdp_syn_clock.skel.h"
#include "xdp_test.h"

#define ANSWER_FLAGS (SG_XDP_F_SYN | SG_XDP_F_ACK | SG_XDP_F_SACK | SG_XDP_F_TS)
#define NONE         SG_XDP_NCOUNTERS
#define NS_PER_MS    1000000ull
#define NS_PER_SEC   1000000000ull

static struct xdp_syn *prod;
static struct xdp_syn_clock *clk;

/* The policy maps of the object xt points at. */
static struct {
	int acl4, acl6, rate, autosw;
	int now; /* the test clock; -1 on the daemon's program */
} pm;

static void use_prod(void)
{
	xt = (struct xdp_test_fds){
	    .prog = bpf_program__fd(prod->progs.sg_xdp_syn),
	    .listeners = bpf_map__fd(prod->maps.sg_xdp_listeners),
	    .counters = bpf_map__fd(prod->maps.sg_xdp_counters),
	    .keys = bpf_map__fd(prod->maps.sg_cookie_keys),
	    .ncpus = libbpf_num_possible_cpus(),
	};
	pm.acl4 = bpf_map__fd(prod->maps.sg_xdp_acl4);
	pm.acl6 = bpf_map__fd(prod->maps.sg_xdp_acl6);
	pm.rate = bpf_map__fd(prod->maps.sg_xdp_rate);
	pm.autosw = bpf_map__fd(prod->maps.sg_xdp_auto);
	pm.now = -1;
}

static void use_clock(void)
{
	xt = (struct xdp_test_fds){
	    .prog = bpf_program__fd(clk->progs.sg_xdp_syn),
	    .listeners = bpf_map__fd(clk->maps.sg_xdp_listeners),
	    .counters = bpf_map__fd(clk->maps.sg_xdp_counters),
	    .keys = bpf_map__fd(clk->maps.sg_cookie_keys),
	    .ncpus = libbpf_num_possible_cpus(),
	};
	pm.acl4 = bpf_map__fd(clk->maps.sg_xdp_acl4);
	pm.acl6 = bpf_map__fd(clk->maps.sg_xdp_acl6);
	pm.rate = bpf_map__fd(clk->maps.sg_xdp_rate);
	pm.autosw = bpf_map__fd(clk->maps.sg_xdp_auto);
	pm.now = bpf_map__fd(clk->maps.sg_xdp_test_now);
}

static void set_now(uint64_t ns)
{
	uint32_t zero = 0;

	assert_true(pm.now >= 0);
	assert_int_equal(bpf_map_update_elem(pm.now, &zero, &ns, BPF_ANY), 0);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* "198.51.100.7" or "2001:db8::7" into a (16 bytes); its family. */
static int addr_of(const char *s, uint8_t a[16])
{
	memset(a, 0, 16);
	if (inet_pton(AF_INET, s, a) == 1)
		return AF_INET;
	assert_int_equal(inet_pton(AF_INET6, s, a), 1);
	return AF_INET6;
}

/* An allow or deny entry "addr/len" under tag, written as the daemon's acl_write(). */
static void acl_put(uint32_t tag, const char *cidr, uint8_t v)
{
	char buf[64];
	char *slash;
	uint8_t a[16];
	unsigned len;

	snprintf(buf, sizeof(buf), "%s", cidr);
	slash = strchr(buf, '/');
	assert_non_null(slash);
	*slash = '\0';
	len = (unsigned)atoi(slash + 1);
	if (addr_of(buf, a) == AF_INET) {
		struct sg_local_acl4 k = {.prefixlen = 32u + len, .policy = tag};

		memcpy(k.addr, a, 4);
		assert_int_equal(bpf_map_update_elem(pm.acl4, &k, &v, BPF_ANY), 0);
	} else {
		struct sg_local_acl6 k = {.prefixlen = 32u + len, .policy = tag};

		memcpy(k.addr, a, 16);
		assert_int_equal(bpf_map_update_elem(pm.acl6, &k, &v, BPF_ANY), 0);
	}
}

/* Deletes the entries of one generation (gen: SG_LOCAL_GEN_BIT or 0) from map fd. */
static void acl_prune(int fd, size_t ksz, uint32_t gen)
{
	uint8_t k[sizeof(struct sg_local_acl6)], next[sizeof(struct sg_local_acl6)];
	static uint8_t doomed[1024][sizeof(struct sg_local_acl6)];
	size_t n = 0;

	for (int rc = bpf_map_get_next_key(fd, NULL, next); rc == 0;
	     rc = bpf_map_get_next_key(fd, k, next)) {
		uint32_t tag;

		memcpy(k, next, ksz);
		memcpy(&tag, k + offsetof(struct sg_local_acl4, policy), sizeof(tag));
		if ((tag & SG_LOCAL_GEN_BIT) == gen) {
			assert_true(n < 1024);
			memcpy(doomed[n++], k, ksz);
		}
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(bpf_map_delete_elem(fd, doomed[i]), 0);
}

static void acl_clear(void)
{
	acl_prune(pm.acl4, sizeof(struct sg_local_acl4), 0);
	acl_prune(pm.acl4, sizeof(struct sg_local_acl4), SG_LOCAL_GEN_BIT);
	acl_prune(pm.acl6, sizeof(struct sg_local_acl6), 0);
	acl_prune(pm.acl6, sizeof(struct sg_local_acl6), SG_LOCAL_GEN_BIT);
}

static void set_auto(uint32_t slot, uint32_t v)
{
	assert_int_equal(bpf_map_update_elem(pm.autosw, &slot, &v, BPF_ANY), 0);
}

/* A listener on the server's address (of family af) and port with these policies. */
static void listen_on(int af, uint16_t port, uint32_t slot, uint8_t flags, uint32_t tag,
                      uint32_t rate, uint32_t burst, uint8_t plen4, uint8_t plen6)
{
	struct sg_xdp_listener v = {.slot = slot,
	                            .wscale = 7,
	                            .flags = flags,
	                            .policy = tag,
	                            .rate = rate,
	                            .burst = burst,
	                            .rate_plen4 = plen4,
	                            .rate_plen6 = plen6};

	memcpy(v.mss, af == AF_INET ? mss4 : mss6, sizeof(v.mss));
	xt_put(af, af == AF_INET ? server4 : server6, port, &v);
}

/* A SYN (or, with flags, another segment) from src:sport to the server's dport. */
static struct pkt_spec seg_from(const char *src, uint16_t sport, uint16_t dport)
{
	uint8_t a[16];
	int af = addr_of(src, a);
	struct pkt_spec s = syn_of(af, dport);

	memcpy(s.t.saddr, a, 16);
	s.t.sport = sport;
	return s;
}

/*
 * The segment s goes to the program: its verdict must be want, and exactly the
 * counters of slot its outcome names grew by one: id, and syn_seen with a SYN
 * answered or passed past the policies.
 */
static void expect(const struct pkt_spec *s, uint32_t slot, int want, uint32_t id, const char *what)
{
	bool seen = s->flags == PKT_SYN && (id == SG_XC_SYN_ANSWERED || id == SG_XC_SYN_PASSED);
	uint64_t before[SG_XDP_NCOUNTERS], now[SG_XDP_NCOUNTERS];
	struct frame in, out;
	int v;

	frame_of(s, &in);
	xt_counters(slot, before);
	v = run(&in, &out);
	if (v != want)
		fail_msg("%s: verdict %d, want %d", what, v, want);
	if (v == XDP_PASS && (out.len != in.len || memcmp(out.b, in.b, in.len) != 0))
		fail_msg("%s: passed, but changed", what);
	xt_counters(slot, now);
	for (uint32_t i = 0; i < SG_XDP_NCOUNTERS; i++)
		if (now[i] - before[i] != (i == id || (seen && i == SG_XC_SYN_SEEN)))
			fail_msg("%s: counter %u of slot %u grew by %llu", what, i, slot,
			         (unsigned long long)(now[i] - before[i]));
}

static void expect_syn(const char *src, uint16_t sport, uint16_t dport, uint32_t slot, int want,
                       uint32_t id, const char *what)
{
	struct pkt_spec s = seg_from(src, sport, dport);

	expect(&s, slot, want, id, what);
}

/* SYN from src answered here: the SYN-ACK's sequence and TSval, for the ACK. */
static void answer_of(const struct pkt_spec *syn, struct pkt_tcp *sa)
{
	struct frame in, out;

	frame_of(syn, &in);
	assert_int_equal(run(&in, &out), XDP_TX);
	assert_int_equal(pkt_parse(out.b + 14, out.len - 14, 0, sa), PKT_OK);
}

/* The ACK that completes syn's handshake on its answer sa. */
static struct pkt_spec ack_of(const struct pkt_spec *syn, const struct pkt_tcp *sa)
{
	struct pkt_spec a = *syn;

	a.flags = PKT_ACK;
	a.seq = syn->seq + 1;
	a.ack = sa->seq + 1;
	a.opt = (struct pkt_tcpopts){
	    .has_ts = true, .tsval = syn->opt.tsval + 1, .tsecr = sa->opt.tsval};
	return a;
}

static void keys_now(void)
{
	const uint32_t keys[1] = {0x5000};

	map_keys(master, keys, 1, 0x5000);
}

/* Deny and allow, longest prefix, both families; a denied source's ACKs. */
static void test_acl(void **state)
{
	const uint32_t tag = 3, other = 4;
	const uint8_t fl = ANSWER_FLAGS | SG_XDP_F_ACL;
	struct pkt_spec s, a;
	struct pkt_tcp sa;

	(void)state;
	use_prod();
	keys_now();
	clear_listeners();
	acl_clear();
	listen_on(AF_INET, 443, 2, fl, tag, 0, 0, 32, 64);
	listen_on(AF_INET6, 443, 3, fl, tag, 0, 0, 32, 64);
	acl_put(tag, "198.51.0.0/16", SG_LOCAL_ACL_DENY);
	acl_put(tag, "198.51.100.0/24", SG_LOCAL_ACL_ALLOW);
	acl_put(tag, "198.51.100.64/26", SG_LOCAL_ACL_DENY);
	acl_put(tag, "2001:db8::/32", SG_LOCAL_ACL_DENY);
	acl_put(tag, "2001:db8:1::/48", SG_LOCAL_ACL_ALLOW);
	acl_put(tag, "2001:db8:1:ff::/64", SG_LOCAL_ACL_DENY);
	/* another policy's lists are not this listener's */
	acl_put(other, "203.0.113.0/24", SG_LOCAL_ACL_DENY);
	acl_put(other, "2001:db8:1::/48", SG_LOCAL_ACL_DENY);

	expect_syn("198.51.100.7", 1000, 443, 2, XDP_TX, SG_XC_SYN_ANSWERED,
	           "allowed inside a denied /16");
	expect_syn("198.51.100.70", 1001, 443, 2, XDP_DROP, SG_XC_SYN_DENIED,
	           "denied /26 inside the allowed /24");
	expect_syn("198.51.99.1", 1002, 443, 2, XDP_DROP, SG_XC_SYN_DENIED, "denied /16");
	expect_syn("203.0.113.5", 1003, 443, 2, XDP_TX, SG_XC_SYN_ANSWERED,
	           "denied by another policy only");
	expect_syn("2001:db8:1::7", 1004, 443, 3, XDP_TX, SG_XC_SYN_ANSWERED,
	           "allowed /48 inside a denied /32");
	expect_syn("2001:db8:2::7", 1005, 443, 3, XDP_DROP, SG_XC_SYN_DENIED, "denied /32");
	expect_syn("2001:db8:1:ff::9", 1006, 443, 3, XDP_DROP, SG_XC_SYN_DENIED,
	           "denied /64 inside the allowed /48");
	expect_syn("2001:db8:1:fe::9", 1007, 443, 3, XDP_TX, SG_XC_SYN_ANSWERED,
	           "next to the denied /64");

	/* ACK candidates: a denied source's dropped before the cookie, an allowed one's checked */
	s = seg_from("198.51.100.70", 1010, 443);
	s.flags = PKT_ACK;
	s.ack = 0x12345;
	expect(&s, 2, XDP_DROP, SG_XC_ACK_DENIED, "a denied source's forged ACK");
	s = seg_from("198.51.100.7", 1011, 443);
	s.flags = PKT_ACK;
	s.ack = 0x12345;
	expect(&s, 2, XDP_DROP, SG_XC_ACK_INVALID, "an allowed source's forged ACK");
	s = seg_from("2001:db8:2::7", 1012, 443);
	s.flags = PKT_ACK;
	s.ack = 0x12345;
	expect(&s, 3, XDP_DROP, SG_XC_ACK_DENIED, "a denied IPv6 source's forged ACK");

	/* without SG_XDP_F_ACL no lookup: a denied source is answered; its valid ACK then
	 * passes, and is dropped once the flag is on */
	for (int k = 0; k < 2; k++) {
		int af = k ? AF_INET6 : AF_INET;
		uint32_t slot = k ? 3 : 2;

		listen_on(af, 443, slot, ANSWER_FLAGS, tag, 0, 0, 32, 64);
		s = seg_from(k ? "2001:db8:2::7" : "198.51.99.1", 1020, 443);
		expect(&s, slot, XDP_TX, SG_XC_SYN_ANSWERED, "no lookup without the flag");
		answer_of(&s, &sa);
		a = ack_of(&s, &sa);
		expect(&a, slot, XDP_PASS, SG_XC_ACK_VALID, "a valid ACK, no lookup");
		listen_on(af, 443, slot, fl, tag, 0, 0, 32, 64);
		expect(&a, slot, XDP_DROP, SG_XC_ACK_DENIED, "a denied source's valid ACK");
		/* an allowed source's handshake completes */
		s = seg_from(k ? "2001:db8:1::7" : "198.51.100.7", 1021, 443);
		answer_of(&s, &sa);
		a = ack_of(&s, &sa);
		expect(&a, slot, XDP_PASS, SG_XC_ACK_VALID, "an allowed source's valid ACK");
	}
	acl_clear();
}

/* A reload: the new generation written, the listeners switched, the old one deleted. */
static void test_acl_generations(void **state)
{
	const uint32_t g0 = 5, g1 = SG_LOCAL_GEN_BIT | 5;
	const uint8_t fl = ANSWER_FLAGS | SG_XDP_F_ACL;

	(void)state;
	use_prod();
	keys_now();
	clear_listeners();
	acl_clear();
	listen_on(AF_INET, 443, 2, fl, g0, 0, 0, 32, 64);
	listen_on(AF_INET6, 443, 3, fl, g0, 0, 0, 32, 64);
	acl_put(g0, "198.51.0.0/16", SG_LOCAL_ACL_DENY);
	acl_put(g0, "2001:db8::/32", SG_LOCAL_ACL_DENY);
	acl_put(g0, "2001:db8:1::/48", SG_LOCAL_ACL_ALLOW);
	expect_syn("198.51.100.7", 2000, 443, 2, XDP_DROP, SG_XC_SYN_DENIED, "generation 0");
	expect_syn("2001:db8:1::7", 2001, 443, 3, XDP_TX, SG_XC_SYN_ANSWERED, "generation 0");

	/* the new lists: written, not yet read */
	acl_put(g1, "198.51.100.7/32", SG_LOCAL_ACL_DENY);
	acl_put(g1, "2001:db8:1::/48", SG_LOCAL_ACL_DENY);
	expect_syn("198.51.100.8", 2002, 443, 2, XDP_DROP, SG_XC_SYN_DENIED,
	           "generation 1 written, 0 read");
	expect_syn("2001:db8:1::7", 2003, 443, 3, XDP_TX, SG_XC_SYN_ANSWERED,
	           "generation 1 written, 0 read");

	/* the listeners switched */
	listen_on(AF_INET, 443, 2, fl, g1, 0, 0, 32, 64);
	listen_on(AF_INET6, 443, 3, fl, g1, 0, 0, 32, 64);
	for (int pruned = 0; pruned < 2; pruned++) {
		const char *what = pruned ? "generation 0 deleted" : "generation 1 read";

		expect_syn("198.51.100.7", 2004, 443, 2, XDP_DROP, SG_XC_SYN_DENIED, what);
		expect_syn("198.51.100.8", 2005, 443, 2, XDP_TX, SG_XC_SYN_ANSWERED, what);
		expect_syn("2001:db8:1::7", 2006, 443, 3, XDP_DROP, SG_XC_SYN_DENIED, what);
		expect_syn("2001:db8:2::7", 2007, 443, 3, XDP_TX, SG_XC_SYN_ANSWERED, what);
		acl_prune(pm.acl4, sizeof(struct sg_local_acl4), 0);
		acl_prune(pm.acl6, sizeof(struct sg_local_acl6), 0);
	}
	acl_clear();
}

/* Rate limits on the test clock. */
static void test_rate(void **state)
{
	const uint64_t t0 = 1000 * NS_PER_SEC;
	const uint32_t tag = 6;
	uint16_t port = 3000; /* a new source port per SYN: one flow each, as a flood's */
	char what[96];

	(void)state;
	use_clock();
	keys_now();
	clear_listeners();
	acl_clear();
	set_now(t0);
	/* 10 SYNs per second, burst 3; per /32 and /64 */
	listen_on(AF_INET, 443, 4, ANSWER_FLAGS | SG_XDP_F_RATE, 0, 10, 3, 32, 64);
	listen_on(AF_INET6, 443, 5, ANSWER_FLAGS | SG_XDP_F_RATE, 0, 10, 3, 32, 64);
	for (int i = 0; i < 3; i++) {
		snprintf(what, sizeof(what), "SYN %d of the burst", i + 1);
		expect_syn("198.51.100.7", port++, 443, 4, XDP_TX, SG_XC_SYN_ANSWERED, what);
		expect_syn("2001:db8:1::7", port++, 443, 5, XDP_TX, SG_XC_SYN_ANSWERED, what);
	}
	expect_syn("198.51.100.7", port++, 443, 4, XDP_DROP, SG_XC_SYN_RATE_LIMITED,
	           "over the burst");
	expect_syn("2001:db8:1::7", port++, 443, 5, XDP_DROP, SG_XC_SYN_RATE_LIMITED,
	           "over the burst");
	/* the /64 is the source: another host in it shares the bucket, another /64 does not */
	expect_syn("2001:db8:1::8", port++, 443, 5, XDP_DROP, SG_XC_SYN_RATE_LIMITED,
	           "the same /64");
	expect_syn("2001:db8:1:1::7", port++, 443, 5, XDP_TX, SG_XC_SYN_ANSWERED, "another /64");
	expect_syn("198.51.100.8", port++, 443, 4, XDP_TX, SG_XC_SYN_ANSWERED, "another /32");

	/* one token per 100 ms; the dropped SYNs took none */
	set_now(t0 + 99 * NS_PER_MS);
	expect_syn("198.51.100.7", port++, 443, 4, XDP_DROP, SG_XC_SYN_RATE_LIMITED, "99 ms on");
	set_now(t0 + 100 * NS_PER_MS);
	expect_syn("198.51.100.7", port++, 443, 4, XDP_TX, SG_XC_SYN_ANSWERED, "100 ms on");
	expect_syn("198.51.100.7", port++, 443, 4, XDP_DROP, SG_XC_SYN_RATE_LIMITED,
	           "100 ms on, the token taken");
	/* a long calm fills the bucket to its burst, not beyond */
	set_now(t0 + 10 * NS_PER_SEC);
	for (int i = 0; i < 3; i++)
		expect_syn("2001:db8:1::8", port++, 443, 5, XDP_TX, SG_XC_SYN_ANSWERED,
		           "a full bucket again");
	expect_syn("2001:db8:1::8", port++, 443, 5, XDP_DROP, SG_XC_SYN_RATE_LIMITED,
	           "a full bucket is the burst");

	/* buckets are per listener: the same source to another port has its own */
	listen_on(AF_INET, 8443, 6, ANSWER_FLAGS | SG_XDP_F_RATE, 0, 10, 1, 24, 48);
	expect_syn("198.51.100.7", port++, 8443, 6, XDP_TX, SG_XC_SYN_ANSWERED,
	           "another listener's bucket");
	/* whose prefix is /24: a neighbour shares it */
	expect_syn("198.51.100.9", port++, 8443, 6, XDP_DROP, SG_XC_SYN_RATE_LIMITED,
	           "the same /24");
	expect_syn("198.51.101.9", port++, 8443, 6, XDP_TX, SG_XC_SYN_ANSWERED, "another /24");

	/* a listener whose SYNs go to the queue path: limited all the same */
	listen_on(AF_INET, 9000, 7, SG_XDP_F_ACK | SG_XDP_F_RATE, 0, 1, 2, 32, 64);
	expect_syn("198.51.100.7", port++, 9000, 7, XDP_PASS, SG_XC_SYN_PASSED, "passed, 1");
	expect_syn("198.51.100.7", port++, 9000, 7, XDP_PASS, SG_XC_SYN_PASSED, "passed, 2");
	expect_syn("198.51.100.7", port++, 9000, 7, XDP_DROP, SG_XC_SYN_RATE_LIMITED,
	           "passed SYNs over the burst");

	/* allow-listed sources skip the limit; denied ones take no token */
	listen_on(AF_INET, 9443, 8, ANSWER_FLAGS | SG_XDP_F_RATE | SG_XDP_F_ACL, tag, 10, 1, 32,
	          64);
	acl_put(tag, "198.51.100.7/32", SG_LOCAL_ACL_ALLOW);
	acl_put(tag, "198.51.100.9/32", SG_LOCAL_ACL_DENY);
	for (int i = 0; i < 5; i++)
		expect_syn("198.51.100.7", port++, 9443, 8, XDP_TX, SG_XC_SYN_ANSWERED,
		           "allow-listed, no limit");
	for (int i = 0; i < 3; i++)
		expect_syn("198.51.100.9", port++, 9443, 8, XDP_DROP, SG_XC_SYN_DENIED,
		           "denied, no token");
	acl_prune(pm.acl4, sizeof(struct sg_local_acl4), 0);
	expect_syn("198.51.100.9", port++, 9443, 8, XDP_TX, SG_XC_SYN_ANSWERED,
	           "no longer listed: its bucket untouched");
	expect_syn("198.51.100.9", port++, 9443, 8, XDP_DROP, SG_XC_SYN_RATE_LIMITED,
	           "then limited");

	/* a SYN's retransmission is a SYN: the same flow pays again */
	listen_on(AF_INET, 9500, 9, ANSWER_FLAGS | SG_XDP_F_RATE, 0, 10, 1, 32, 64);
	expect_syn("198.51.100.7", 4000, 9500, 9, XDP_TX, SG_XC_SYN_ANSWERED, "a SYN");
	expect_syn("198.51.100.7", 4000, 9500, 9, XDP_DROP, SG_XC_SYN_RATE_LIMITED,
	           "its retransmission at once");
	set_now(0); /* the real clock again */
	acl_clear();
}

/*
 * Every CPU at once on one source's bucket, the clock still: each SYN is paid
 * for (atomic adds), and racing at the bucket's edge lets through at most one
 * SYN per CPU beyond the burst. One process per CPU, each pinned, repeating
 * the SYN (passed unchanged while allowed, dropped after).
 */
static void test_rate_concurrent(void **state)
{
	const uint32_t burst = 1000, per_cpu = 100000;
	struct pkt_spec s = seg_from("198.51.100.40", 8000, 9100);
	uint64_t passed, limited, seen;
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN), go[2];
	pid_t kids[64];
	struct frame f;

	(void)state;
	use_clock();
	clear_listeners();
	set_now(2000 * NS_PER_SEC);
	listen_on(AF_INET, 9100, 13, SG_XDP_F_ACK | SG_XDP_F_RATE, 0, 1, burst, 32, 64);
	frame_of(&s, &f);
	passed = xt_counter(13, SG_XC_SYN_PASSED);
	limited = xt_counter(13, SG_XC_SYN_RATE_LIMITED);
	if (ncpu > 64)
		ncpu = 64;
	assert_int_equal(pipe(go), 0);
	for (int c = 0; c < ncpu; c++) {
		kids[c] = fork();
		assert_true(kids[c] >= 0);
		if (kids[c] == 0) {
			LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f.b,
			            .data_size_in = (uint32_t)f.len, .repeat = per_cpu);
			cpu_set_t set;
			char b;

			CPU_ZERO(&set);
			CPU_SET(c, &set);
			close(go[1]);
			if (sched_setaffinity(0, sizeof(set), &set) < 0 || read(go[0], &b, 1) != 0)
				_exit(2);
			_exit(bpf_prog_test_run_opts(xt.prog, &o) == 0 ? 0 : 1);
		}
	}
	close(go[0]);
	close(go[1]); /* every child's read returns: go */
	for (int c = 0; c < ncpu; c++) {
		int st;

		assert_int_equal(waitpid(kids[c], &st, 0), kids[c]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	passed = xt_counter(13, SG_XC_SYN_PASSED) - passed;
	limited = xt_counter(13, SG_XC_SYN_RATE_LIMITED) - limited;
	seen = passed + limited;
	printf("%d CPUs, %u SYNs each on one bucket of burst %u: %llu passed, %llu dropped\n", ncpu,
	       per_cpu, burst, (unsigned long long)passed, (unsigned long long)limited);
	assert_int_equal(seen, (uint64_t)ncpu * per_cpu);
	assert_true(passed >= burst && passed <= burst + (uint64_t)ncpu - 1);
	set_now(0);
}

/* The daemon's program on the real clock: the refill is waited for, not slept for. */
static void test_rate_real_time(void **state)
{
	const uint64_t tick = NS_PER_SEC / 4;
	uint64_t start, t;
	uint16_t port = 5000;
	struct frame in, out;
	struct pkt_spec s;
	int v, tries = 0;

	(void)state;
	use_prod();
	keys_now();
	clear_listeners();
	listen_on(AF_INET, 443, 10, ANSWER_FLAGS | SG_XDP_F_RATE, 0, 4, 1, 32, 64);
	start = mono_ns(); /* bpf_ktime_get_ns()'s clock */
	expect_syn("198.51.100.20", port++, 443, 10, XDP_TX, SG_XC_SYN_ANSWERED, "the burst");
	s = seg_from("198.51.100.20", port++, 443);
	frame_of(&s, &in);
	v = run(&in, &out);
	t = mono_ns();
	if (t - start < tick)
		assert_int_equal(v, XDP_DROP);
	while (v != XDP_TX) {
		assert_true(mono_ns() - start < 10 * NS_PER_SEC);
		(void)poll(NULL, 0, 5);
		v = run(&in, &out);
		tries++;
	}
	t = mono_ns();
	/* the token came back no earlier than one emission interval after the burst began */
	assert_true(t - start >= tick);
	printf("real clock: refilled after %.1f ms (%d SYNs dropped meanwhile)\n",
	       (double)(t - start) / NS_PER_MS, tries);
}

/* The daemon's switch: SYNs to the queue path, to the cookies here, and back. */
static void test_auto(void **state)
{
	const uint8_t fl = SG_XDP_F_AUTO | SG_XDP_F_ACK | SG_XDP_F_SACK | SG_XDP_F_TS;
	struct pkt_spec s;

	(void)state;
	use_prod();
	keys_now();
	clear_listeners();
	for (int k = 0; k < 2; k++) {
		int af = k ? AF_INET6 : AF_INET;
		uint32_t slot = 11 + (uint32_t)k;
		const char *src = k ? "2001:db8:1::7" : "198.51.100.7";

		listen_on(af, 443, slot, fl, 0, 0, 0, 32, 64);
		set_auto(slot, SG_XDP_AUTO_QUEUE);
		expect_syn(src, 6000, 443, slot, XDP_PASS, SG_XC_SYN_PASSED, "auto, calm");
		set_auto(slot, SG_XDP_AUTO_XDP);
		expect_syn(src, 6001, 443, slot, XDP_TX, SG_XC_SYN_ANSWERED, "auto, under attack");
		/* ACK floods are dropped either way */
		s = seg_from(src, 6002, 443);
		s.flags = PKT_ACK;
		s.ack = 0x12345;
		expect(&s, slot, XDP_DROP, SG_XC_ACK_INVALID, "auto, a forged ACK");
		set_auto(slot, SG_XDP_AUTO_QUEUE);
		expect_syn(src, 6003, 443, slot, XDP_PASS, SG_XC_SYN_PASSED, "auto, calm again");
		expect(&s, slot, XDP_DROP, SG_XC_ACK_INVALID, "auto, calm, a forged ACK");
		/* SG_XDP_F_SYN answers whatever the switch says; without SG_XDP_F_AUTO the switch
		 * is not read */
		listen_on(af, 443, slot, fl | SG_XDP_F_SYN, 0, 0, 0, 32, 64);
		expect_syn(src, 6004, 443, slot, XDP_TX, SG_XC_SYN_ANSWERED, "cookie mode");
		set_auto(slot, SG_XDP_AUTO_XDP);
		listen_on(af, 443, slot, fl & ~SG_XDP_F_AUTO, 0, 0, 0, 32, 64);
		expect_syn(src, 6005, 443, slot, XDP_PASS, SG_XC_SYN_PASSED, "stateful mode");
		set_auto(slot, SG_XDP_AUTO_QUEUE);
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The median of 501 single runs of f, which must each give want. */
static uint32_t median_ns(const struct frame *f, int want)
{
	uint32_t ns[501];

	for (unsigned i = 0; i < 501; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->b, .data_size_in = (uint32_t)f->len,
		            .repeat = 1);
		assert_int_equal(bpf_prog_test_run_opts(xt.prog, &o), 0);
		assert_int_equal(o.retval, want);
		ns[i] = o.duration;
	}
	qsort(ns, 501, sizeof(ns[0]), cmp_u32);
	return ns[250];
}

/* A run repeated 100,000 times (the frame unchanged: drops only); ns per run. */
static uint32_t bulk_ns(const struct frame *f, int want)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->b, .data_size_in = (uint32_t)f->len,
	            .repeat = 100000);

	assert_int_equal(bpf_prog_test_run_opts(xt.prog, &o), 0);
	assert_int_equal(o.retval, want);
	return o.duration;
}

/* The kernel's account of map fd's memory (fdinfo "memlock"), 0 if it gives none. */
static unsigned long long map_bytes(int fd)
{
	unsigned long long n = 0;
	char path[64], line[128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &n) == 1)
			break;
	fclose(f);
	return n;
}

/*
 * For the record, not asserted: the SYN path's cost on the daemon's program,
 * with the lists (512 denied /24s and an allow entry, the client in neither)
 * and the rate limit (never reached), and its drops.
 */
static void test_timing(void **state)
{
	const uint32_t tag = 7;
	struct pkt_spec s = seg_from("198.51.100.7", 7000, 443);
	uint32_t plain, acl, both;
	struct frame f;
	char net[32];

	(void)state;
	use_prod();
	keys_now();
	clear_listeners();
	acl_clear();
	for (int i = 0; i < 512; i++) {
		snprintf(net, sizeof(net), "198.%d.%d.0/24", 18 + i / 256, i % 256);
		acl_put(tag, net, SG_LOCAL_ACL_DENY);
	}
	acl_put(tag, "203.0.113.0/24", SG_LOCAL_ACL_ALLOW);
	frame_of(&s, &f);
	listen_on(AF_INET, 443, 1, ANSWER_FLAGS, tag, 0, 0, 32, 64);
	plain = median_ns(&f, XDP_TX);
	listen_on(AF_INET, 443, 1, ANSWER_FLAGS | SG_XDP_F_ACL, tag, 0, 0, 32, 64);
	acl = median_ns(&f, XDP_TX);
	listen_on(AF_INET, 443, 1, ANSWER_FLAGS | SG_XDP_F_ACL | SG_XDP_F_RATE, tag, 1000000,
	          10000000, 32, 64);
	both = median_ns(&f, XDP_TX);
	printf("SYN answered: %u ns without policies, %u ns with the lists, %u ns with the lists "
	       "and the rate limit (median of 501 single runs, BPF_PROG_TEST_RUN)\n",
	       plain, acl, both);

	s = seg_from("198.18.1.7", 7001, 443);
	frame_of(&s, &f);
	printf("SYN denied, dropped: %u ns per run (repeat 100000)\n", bulk_ns(&f, XDP_DROP));
	listen_on(AF_INET, 443, 1, ANSWER_FLAGS | SG_XDP_F_RATE, tag, 1, 1, 32, 64);
	s = seg_from("198.51.100.30", 7002, 443);
	frame_of(&s, &f);
	{
		struct frame out;

		assert_int_equal(run(&f, &out), XDP_TX); /* the bucket's only token */
	}
	printf("SYN over its rate limit, dropped: %u ns per run (repeat 100000)\n",
	       bulk_ns(&f, XDP_DROP));
	printf("sg_xdp_rate: %u buckets in %llu bytes\n",
	       bpf_map__max_entries(prod->maps.sg_xdp_rate), map_bytes(pm.rate));
	acl_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_acl),
	    cmocka_unit_test(test_acl_generations),
	    cmocka_unit_test(test_rate),
	    cmocka_unit_test(test_rate_concurrent),
	    cmocka_unit_test(test_rate_real_time),
	    cmocka_unit_test(test_auto),
	    cmocka_unit_test(test_timing),
	};
	int rc;

	rc = bpf_test_enter(BPF_TEST_NETNS);
	if (rc != 0)
		return rc;
	prod = xdp_syn__open_and_load();
	if (prod == NULL)
		return bpf_test_load_failed("xdp_syn");
	clk = xdp_syn_clock__open_and_load();
	if (clk == NULL) {
		fprintf(stderr, "loading xdp_syn_clock failed: %s\n", strerror(errno));
		xdp_syn__destroy(prod);
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	xdp_syn_clock__destroy(clk);
	xdp_syn__destroy(prod);
	return rc;
}
