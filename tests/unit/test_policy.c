/*
 * Policy decisions (lib/policy.h), with injected time: the order of the
 * checks (deny, rate, mode, table), allow-listed sources skipping the rate
 * limit, longest-prefix precedence between allow and deny in both families,
 * the stateful handshake through the table (exact options, retransmitted
 * SYNs, mismatched ACKs), full tables in stateful versus auto mode, the
 * SYN-ACK schedule, the auto switch and its way back, reconfiguration, and
 * no allocation per packet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "alloccount.h"
#include "policy.h"

static const uint8_t seed[POLICY_SEED_LEN] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                              12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                              23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static struct pkt_tuple tup(const char *src, uint16_t sport)
{
	struct pkt_tuple t;

	memset(&t, 0, sizeof(t));
	if (strchr(src, ':')) {
		t.family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, src, t.saddr), 1);
		assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", t.daddr), 1);
	} else {
		t.family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, src, t.saddr), 1);
		assert_int_equal(inet_pton(AF_INET, "192.0.2.1", t.daddr), 1);
	}
	t.sport = sport;
	t.dport = 80;
	return t;
}

static struct cidr net(const char *text)
{
	struct cidr c;
	char err[128];

	if (cidr_parse(text, &c, err, sizeof(err)) < 0)
		fail_msg("%s: %s", text, err);
	return c;
}

static struct policy_params base(enum mode_kind kind)
{
	struct policy_params p;

	memset(&p, 0, sizeof(p));
	p.kind = kind;
	p.half_open_capacity = 64;
	p.rto_ms = 1000;
	p.synack_retries = 2;
	p.fill_trigger = 0.75;
	p.calm_ms = 5000;
	p.prefix_v4 = 32;
	p.prefix_v6 = 64;
	p.rate_table_size = 1024;
	return p;
}

static struct halfopen_syn syn_of(const struct pkt_tuple *t, uint32_t client_isn, uint32_t our_isn)
{
	struct halfopen_syn s;

	memset(&s, 0, sizeof(s));
	s.t = *t;
	s.client_isn = client_isn;
	s.our_isn = our_isn;
	s.our_tsval = 0xabcdef;
	s.opt.mss = 1398; /* not a cookie table entry: the table keeps it exactly */
	s.opt.has_wscale = true;
	s.opt.wscale = 11; /* nor a cookie's wscale value */
	s.opt.sack_ok = true;
	s.opt.has_ts = true;
	s.opt.tsval = 777;
	return s;
}

static void test_access_lists(void **state)
{
	const struct cidr allow[] = {net("198.51.100.7"), net("2001:db8:bad:1::/64")};
	const struct cidr deny[] = {net("198.51.100.0/24"), net("2001:db8:bad::/48"),
	                            net("203.0.113.0/25")};
	struct policy_params p = base(MODE_COOKIE);
	struct cidr_set *acc;
	struct pkt_tuple t;
	struct policy *ps;
	char err[128];

	(void)state;
	assert_null(policy_access_new(NULL, 0, NULL, 0, err, sizeof(err)));
	assert_string_equal(err, "");
	acc = policy_access_new(allow, 2, deny, 3, err, sizeof(err));
	assert_non_null(acc);
	p.access = acc;
	p.syn_rate = 1;
	p.burst = 1;
	ps = policy_new(&p, seed, 0);
	assert_non_null(ps);

	/* deny, SYN and ACK */
	t = tup("198.51.100.8", 1000);
	assert_int_equal(policy_access_of(ps, t.family, t.saddr), POLICY_ACCESS_DENY);
	assert_int_equal(policy_syn_check(ps, &t, 0, NULL), POLICY_SYN_DENY);
	assert_int_equal(policy_ack(ps, &t, 1, 1, NULL), POLICY_ACK_DENY);
	t = tup("2001:db8:bad:2::9", 1000);
	assert_int_equal(policy_syn_check(ps, &t, 0, NULL), POLICY_SYN_DENY);
	assert_int_equal(policy_ack(ps, &t, 1, 1, NULL), POLICY_ACK_DENY);
	t = tup("203.0.113.127", 1);
	assert_int_equal(policy_syn_check(ps, &t, 0, NULL), POLICY_SYN_DENY);
	t = tup("203.0.113.128", 1);
	assert_int_equal(policy_access_of(ps, t.family, t.saddr), POLICY_ACCESS_NONE);

	/* the longer allow prefix wins inside a denied network, and skips the rate limit */
	t = tup("198.51.100.7", 1000);
	assert_int_equal(policy_access_of(ps, t.family, t.saddr), POLICY_ACCESS_ALLOW);
	for (int i = 0; i < 50; i++)
		assert_int_equal(policy_syn_check(ps, &t, 0, NULL), POLICY_SYN_COOKIE);
	assert_int_equal(policy_ack(ps, &t, 1, 1, NULL), POLICY_ACK_COOKIE);
	t = tup("2001:db8:bad:1::5", 1000);
	for (int i = 0; i < 50; i++)
		assert_int_equal(policy_syn_check(ps, &t, 0, NULL), POLICY_SYN_COOKIE);

	/* everybody else: one SYN, then the bucket is empty */
	t = tup("192.0.2.50", 1000);
	assert_int_equal(policy_syn_check(ps, &t, 0, NULL), POLICY_SYN_COOKIE);
	assert_int_equal(policy_syn_check(ps, &t, 0, NULL), POLICY_SYN_RATE_LIMITED);
	/* the ACK of a rate-limited source is not refused: it proved its address */
	assert_int_equal(policy_ack(ps, &t, 1, 1, NULL), POLICY_ACK_COOKIE);
	policy_free(ps);
	cidr_set_free(acc);

	/* the same prefix in both lists is refused */
	assert_null(policy_access_new(deny, 1, deny, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "198.51.100.0/24"));
}

static void test_rate_limit(void **state)
{
	struct policy_params p = base(MODE_COOKIE);
	struct pkt_tuple a = tup("192.0.2.10", 1), a2 = tup("192.0.2.11", 1);
	struct pkt_tuple b = tup("198.51.100.10", 1);
	struct policy *ps;
	int allowed = 0;

	(void)state;
	p.syn_rate = 10;
	p.burst = 5;
	p.prefix_v4 = 24;
	ps = policy_new(&p, seed, 1000);
	assert_non_null(ps);
	assert_true(policy_has_rate_limit(ps));
	for (int i = 0; i < 5; i++)
		assert_int_equal(policy_syn_check(ps, &a, 1000, NULL), POLICY_SYN_COOKIE);
	/* the /24 shares one bucket */
	assert_int_equal(policy_syn_check(ps, &a2, 1000, NULL), POLICY_SYN_RATE_LIMITED);
	assert_int_equal(policy_syn_check(ps, &a, 1000, NULL), POLICY_SYN_RATE_LIMITED);
	/* another prefix is untouched */
	assert_int_equal(policy_syn_check(ps, &b, 1000, NULL), POLICY_SYN_COOKIE);
	/* 10 per second: one more each 100 ms */
	assert_int_equal(policy_syn_check(ps, &a, 1099, NULL), POLICY_SYN_RATE_LIMITED);
	assert_int_equal(policy_syn_check(ps, &a, 1100, NULL), POLICY_SYN_COOKIE);
	assert_int_equal(policy_syn_check(ps, &a, 1100, NULL), POLICY_SYN_RATE_LIMITED);
	/* over ten seconds at 1000 SYN/s, about rate * 10 get through */
	for (uint64_t t = 2000; t < 12000; t++)
		allowed += policy_syn_check(ps, &a, t, NULL) == POLICY_SYN_COOKIE;
	assert_in_range(allowed, 100, 106);
	policy_free(ps);
}

/* Rate-limited SYNs do not count toward the auto mode's trigger. */
static void test_rate_limited_not_counted(void **state)
{
	struct policy_params p = base(MODE_AUTO);
	struct pkt_tuple a = tup("192.0.2.10", 1);
	enum mode_event ev;
	struct policy *ps;

	(void)state;
	p.syn_rate = 1;
	p.burst = 1;
	p.syn_rate_trigger = 10;
	ps = policy_new(&p, seed, 0);
	assert_non_null(ps);
	for (int i = 0; i < 100; i++) {
		enum policy_syn r = policy_syn_check(ps, &a, 50, &ev);

		assert_int_equal(r, i == 0 ? POLICY_SYN_STATEFUL : POLICY_SYN_RATE_LIMITED);
		assert_int_equal(ev, MODE_EV_NONE);
	}
	assert_int_equal(policy_syn_rate(ps, 50), 1);
	assert_int_equal(policy_mode(ps), MODE_USE_STATEFUL);
	policy_free(ps);
}

static void test_cookie_mode(void **state)
{
	struct policy_params p = base(MODE_COOKIE);
	struct pkt_tuple t = tup("192.0.2.10", 1);
	struct halfopen_syn s = syn_of(&t, 100, 200);
	struct policy *ps;

	(void)state;
	ps = policy_new(&p, seed, 0);
	assert_non_null(ps);
	assert_false(policy_has_rate_limit(ps));
	assert_int_equal(policy_half_open_capacity(ps), 0);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(policy_syn_check(ps, &t, (uint64_t)i, NULL), POLICY_SYN_COOKIE);
	assert_int_equal(policy_syn_insert(ps, &s, 0, NULL), POLICY_INS_COOKIE);
	assert_int_equal(policy_ack(ps, &t, 101, 201, NULL), POLICY_ACK_COOKIE);
	assert_false(policy_ack_done(ps, &t));
	assert_int_equal(policy_next_due(ps), UINT64_MAX);
	assert_int_equal(policy_due(ps, 1000000, NULL, 0), 0);
	policy_free(ps);
}

static void test_stateful_handshake(void **state)
{
	struct policy_params p = base(MODE_STATEFUL);
	struct pkt_tuple t = tup("2001:db8::2", 40000);
	struct halfopen_syn s = syn_of(&t, 1000, 5000);
	struct halfopen_entry e;
	struct policy *ps;

	(void)state;
	p.syn_rate_trigger = 1; /* ignored outside auto */
	ps = policy_new(&p, seed, 0);
	assert_non_null(ps);
	assert_int_equal(policy_syn_check(ps, &t, 0, NULL), POLICY_SYN_STATEFUL);
	assert_int_equal(policy_syn_insert(ps, &s, 0, NULL), POLICY_INS_NEW);
	assert_int_equal(policy_half_open(ps), 1);

	/* the client's SYN again: the same SYN-ACK again, nothing new */
	assert_int_equal(policy_syn_check(ps, &t, 300, NULL), POLICY_SYN_STATEFUL);
	s.our_isn = 9999; /* what a new cookie would have been */
	memset(&e, 0, sizeof(e));
	assert_int_equal(policy_syn_insert(ps, &s, 300, &e), POLICY_INS_RESEND);
	assert_int_equal(e.syn.our_isn, 5000);
	assert_int_equal(policy_half_open(ps), 1);

	/* ACKs that do not match the entry's numbers go to the cookie check */
	assert_int_equal(policy_ack(ps, &t, 1001, 5002, NULL), POLICY_ACK_COOKIE);
	assert_int_equal(policy_ack(ps, &t, 1002, 5001, NULL), POLICY_ACK_COOKIE);
	t.sport++;
	assert_int_equal(policy_ack(ps, &t, 1001, 5001, NULL), POLICY_ACK_COOKIE);
	t.sport--;

	/* the right one: the exact options, and the entry stays until done */
	memset(&e, 0, sizeof(e));
	assert_int_equal(policy_ack(ps, &t, 1001, 5001, &e), POLICY_ACK_HALFOPEN);
	assert_int_equal(e.syn.opt.mss, 1398);
	assert_true(e.syn.opt.has_wscale);
	assert_int_equal(e.syn.opt.wscale, 11);
	assert_true(e.syn.opt.sack_ok);
	assert_true(e.syn.opt.has_ts);
	assert_int_equal(e.syn.opt.tsval, 777);
	assert_int_equal(e.syn.our_tsval, 0xabcdef);
	assert_int_equal(policy_ack(ps, &t, 1001, 5001, NULL), POLICY_ACK_HALFOPEN);
	assert_true(policy_ack_done(ps, &t));
	assert_false(policy_ack_done(ps, &t));
	assert_int_equal(policy_ack(ps, &t, 1001, 5001, NULL), POLICY_ACK_COOKIE);
	assert_int_equal(policy_half_open(ps), 0);
	policy_free(ps);
}

/* A client's RST retires its entry only when in sequence (and, with ACK, acknowledging our
 * ISN + 1); cookie mode has no entry to retire. */
static void test_reset(void **state)
{
	struct policy_params p = base(MODE_STATEFUL);
	struct pkt_tuple t = tup("198.51.100.9", 40000);
	struct halfopen_syn s = syn_of(&t, 1000, 5000);
	struct policy *ps;

	(void)state;
	ps = policy_new(&p, seed, 0);
	assert_non_null(ps);
	assert_int_equal(policy_syn_check(ps, &t, 0, NULL), POLICY_SYN_STATEFUL);
	assert_int_equal(policy_syn_insert(ps, &s, 0, NULL), POLICY_INS_NEW);
	assert_false(policy_reset(ps, &t, 1000, false, 0));
	assert_false(policy_reset(ps, &t, 1002, false, 0));
	assert_false(policy_reset(ps, &t, 1001, true, 5002));
	t.sport++;
	assert_false(policy_reset(ps, &t, 1001, false, 0));
	t.sport--;
	assert_int_equal(policy_half_open(ps), 1);
	assert_true(policy_reset(ps, &t, 1001, true, 5001));
	assert_int_equal(policy_half_open(ps), 0);
	assert_false(policy_reset(ps, &t, 1001, true, 5001));
	assert_int_equal(policy_syn_insert(ps, &s, 0, NULL), POLICY_INS_NEW);
	assert_true(policy_reset(ps, &t, 1001, false, 12345)); /* no ACK flag: ack not read */
	assert_int_equal(policy_ack(ps, &t, 1001, 5001, NULL), POLICY_ACK_COOKIE);
	policy_free(ps);

	p = base(MODE_COOKIE);
	ps = policy_new(&p, seed, 0);
	assert_non_null(ps);
	assert_false(policy_reset(ps, &t, 1001, false, 0));
	policy_free(ps);
}

/* A handshake completed in the kernel retires its entry only when the ACK's numbers are that
 * entry's (a stale report of an earlier handshake on the tuple retires nothing); no access
 * check; cookie mode has no entry. */
static void test_handshake_done(void **state)
{
	struct policy_params p = base(MODE_AUTO);
	struct pkt_tuple t = tup("198.51.100.9", 40000);
	struct halfopen_syn s = syn_of(&t, 1000, 5000);
	struct cidr deny;
	struct cidr_set *acc;
	struct policy *ps;
	char err[128];

	(void)state;
	assert_int_equal(cidr_parse("198.51.100.0/24", &deny, err, sizeof(err)), 0);
	acc = policy_access_new(NULL, 0, &deny, 1, err, sizeof(err));
	assert_non_null(acc);
	p.access = acc;
	ps = policy_new(&p, seed, 0);
	assert_non_null(ps);
	assert_int_equal(policy_syn_insert(ps, &s, 0, NULL), POLICY_INS_NEW);
	assert_false(policy_handshake_done(ps, &t, 1000, 5001));
	assert_false(policy_handshake_done(ps, &t, 1001, 5000));
	t.dport++;
	assert_false(policy_handshake_done(ps, &t, 1001, 5001));
	t.dport--;
	assert_int_equal(policy_half_open(ps), 1);
	assert_true(policy_handshake_done(ps, &t, 1001, 5001));
	assert_int_equal(policy_half_open(ps), 0);
	assert_false(policy_handshake_done(ps, &t, 1001, 5001));
	policy_free(ps);
	cidr_set_free(acc);

	p = base(MODE_COOKIE);
	ps = policy_new(&p, seed, 0);
	assert_non_null(ps);
	assert_false(policy_handshake_done(ps, &t, 1001, 5001));
	policy_free(ps);
}

static void test_full_table(void **state)
{
	const enum mode_kind kinds[] = {MODE_STATEFUL, MODE_AUTO};

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct policy_params p = base(kinds[k]);
		struct policy *ps;

		p.half_open_capacity = 3;
		p.half_open_per_source = 2;
		p.fill_trigger = 1.0;
		ps = policy_new(&p, seed, 0);
		assert_non_null(ps);
		for (uint16_t port = 1; port <= 2; port++) {
			struct pkt_tuple t = tup("192.0.2.10", port);
			struct halfopen_syn s = syn_of(&t, port, port);

			assert_int_equal(policy_syn_check(ps, &t, 0, NULL), POLICY_SYN_STATEFUL);
			assert_int_equal(policy_syn_insert(ps, &s, 0, NULL), POLICY_INS_NEW);
		}
		/* a third from the same source: over its cap */
		struct pkt_tuple t = tup("192.0.2.10", 3);
		struct halfopen_syn s = syn_of(&t, 3, 3);

		assert_int_equal(policy_syn_insert(ps, &s, 0, NULL), kinds[k] == MODE_AUTO
		                                                         ? POLICY_INS_COOKIE
		                                                         : POLICY_INS_SOURCE_FULL);
		t = tup("192.0.2.11", 1);
		s = syn_of(&t, 4, 4);
		assert_int_equal(policy_syn_insert(ps, &s, 0, NULL), POLICY_INS_NEW);
		/* the table is full */
		t = tup("192.0.2.12", 1);
		s = syn_of(&t, 5, 5);
		assert_int_equal(policy_syn_insert(ps, &s, 0, NULL),
		                 kinds[k] == MODE_AUTO ? POLICY_INS_COOKIE : POLICY_INS_FULL);
		/* stateful answers every SYN statefully (and drops what does not fit);
		 * auto saw the table fill and answers with cookies now */
		assert_int_equal(policy_syn_check(ps, &t, 1, NULL),
		                 kinds[k] == MODE_AUTO ? POLICY_SYN_COOKIE : POLICY_SYN_STATEFUL);
		assert_int_equal(policy_half_open(ps), 3);
		policy_free(ps);
	}
}

static void test_retransmit_schedule(void **state)
{
	struct policy_params p = base(MODE_STATEFUL);
	struct pkt_tuple t = tup("192.0.2.10", 7);
	struct halfopen_syn s = syn_of(&t, 1, 2);
	struct halfopen_event ev[4];
	struct policy *ps;

	(void)state;
	ps = policy_new(&p, seed, 10000);
	assert_non_null(ps);
	assert_int_equal(policy_syn_insert(ps, &s, 10000, NULL), POLICY_INS_NEW);
	assert_int_equal(policy_next_due(ps), 11000);
	assert_int_equal(policy_due(ps, 10999, ev, 4), 0);
	assert_int_equal(policy_due(ps, 11000, ev, 4), 1);
	assert_int_equal(ev[0].kind, HALFOPEN_RETRANSMIT);
	assert_int_equal(ev[0].e.syn.our_isn, 2);
	assert_int_equal(ev[0].e.retransmits, 1);
	assert_int_equal(policy_next_due(ps), 13000); /* 2 s later */
	assert_int_equal(policy_due(ps, 12999, ev, 4), 0);
	assert_int_equal(policy_due(ps, 13000, ev, 4), 1);
	assert_int_equal(ev[0].kind, HALFOPEN_RETRANSMIT);
	assert_int_equal(ev[0].e.retransmits, 2);
	/* two retries: the entry expires one doubled gap (4 s) after the last */
	assert_int_equal(policy_next_due(ps), 17000);
	assert_int_equal(policy_due(ps, 17000, ev, 4), 1);
	assert_int_equal(ev[0].kind, HALFOPEN_EXPIRED);
	assert_int_equal(policy_half_open(ps), 0);
	assert_int_equal(policy_next_due(ps), UINT64_MAX);
	policy_free(ps);
}

static void test_auto_switch(void **state)
{
	struct policy_params p = base(MODE_AUTO);
	enum mode_event ev;
	struct policy *ps;
	int to_cookie = 0;

	(void)state;
	p.syn_rate_trigger = 100;
	p.calm_ms = 2000;
	ps = policy_new(&p, seed, 0);
	assert_non_null(ps);
	/* 99 SYNs from different sources within a second: still stateful */
	for (uint16_t i = 0; i < 99; i++) {
		struct pkt_tuple t = tup("198.18.0.1", (uint16_t)(1000 + i));

		assert_int_equal(policy_syn_check(ps, &t, 10 * i, &ev), POLICY_SYN_STATEFUL);
		assert_int_equal(ev, MODE_EV_NONE);
	}
	/* the 100th trips the rate trigger: reported once */
	for (uint16_t i = 0; i < 50; i++) {
		struct pkt_tuple t = tup("198.18.0.2", (uint16_t)(2000 + i));

		assert_int_equal(policy_syn_check(ps, &t, 995, &ev), POLICY_SYN_COOKIE);
		to_cookie += ev == MODE_EV_TO_COOKIE;
	}
	assert_int_equal(to_cookie, 1);
	assert_int_equal(policy_mode(ps), MODE_USE_COOKIE);
	assert_true(policy_mode_why(ps) & MODE_WHY_RATE);
	/* quiet: the timer notices, after calm_ms below half the trigger */
	assert_int_equal(policy_tick(ps, 2500, &ev), MODE_USE_COOKIE);
	assert_int_equal(ev, MODE_EV_NONE);
	assert_int_equal(policy_tick(ps, 4499, &ev), MODE_USE_COOKIE);
	assert_int_equal(policy_tick(ps, 4500, &ev), MODE_USE_STATEFUL);
	assert_int_equal(ev, MODE_EV_TO_STATEFUL);
	assert_true(policy_mode_why(ps) & MODE_WHY_CALM);
	policy_free(ps);
}

/* SYNs counted elsewhere (answered in XDP) keep the mode at cookies, as seen ones do. */
static void test_auto_noted_syns(void **state)
{
	struct policy_params p = base(MODE_AUTO);
	enum mode_event ev;
	struct policy *ps;

	(void)state;
	p.syn_rate_trigger = 100;
	p.calm_ms = 2000;
	ps = policy_new(&p, seed, 0);
	assert_non_null(ps);
	policy_note_syns(ps, 100, 99);
	assert_int_equal(policy_tick(ps, 100, &ev), MODE_USE_STATEFUL);
	assert_int_equal(ev, MODE_EV_NONE);
	policy_note_syns(ps, 200, 1);
	assert_int_equal(policy_tick(ps, 200, &ev), MODE_USE_COOKIE);
	assert_int_equal(ev, MODE_EV_TO_COOKIE);
	assert_int_equal(policy_syn_rate(ps, 200), 100);
	/* 50 a second, fed every 100 ms for ten seconds: half the trigger, never calm */
	for (uint64_t t = 300; t < 10300; t += 100) {
		policy_note_syns(ps, t, 5);
		assert_int_equal(policy_tick(ps, t, &ev), MODE_USE_COOKIE);
		assert_int_equal(ev, MODE_EV_NONE);
	}
	/* nothing more: back after calm_ms */
	assert_int_equal(policy_tick(ps, 11200, &ev), MODE_USE_COOKIE);
	assert_int_equal(policy_tick(ps, 13200, &ev), MODE_USE_STATEFUL);
	assert_int_equal(ev, MODE_EV_TO_STATEFUL);
	policy_free(ps);
}

static void test_reconfigure(void **state)
{
	struct policy_params p = base(MODE_STATEFUL), q;
	struct pkt_tuple t = tup("192.0.2.10", 7), u = tup("192.0.2.20", 7);
	struct halfopen_syn s = syn_of(&t, 1, 2);
	struct policy *ps;
	size_t dropped = 99;

	(void)state;
	ps = policy_new(&p, seed, 0);
	assert_non_null(ps);
	assert_int_equal(policy_syn_insert(ps, &s, 0, NULL), POLICY_INS_NEW);

	/* a bigger table and a rate limit: the entry and its schedule stay */
	q = p;
	q.half_open_capacity = 1000;
	q.syn_rate = 1;
	q.burst = 2;
	assert_int_equal(policy_reconfigure(ps, &q, seed, 0, &dropped), 0);
	assert_int_equal(dropped, 0);
	assert_int_equal(policy_half_open(ps), 1);
	assert_int_equal(policy_half_open_capacity(ps), 1000);
	assert_int_equal(policy_next_due(ps), 1000);
	assert_true(policy_has_rate_limit(ps));
	assert_int_equal(policy_syn_check(ps, &u, 0, NULL), POLICY_SYN_STATEFUL);
	assert_int_equal(policy_syn_check(ps, &u, 0, NULL), POLICY_SYN_STATEFUL);
	assert_int_equal(policy_syn_check(ps, &u, 0, NULL), POLICY_SYN_RATE_LIMITED);

	/* a new rate keeps the bucket (empty stays empty) */
	q.syn_rate = 2;
	assert_int_equal(policy_reconfigure(ps, &q, seed, 0, NULL), 0);
	assert_int_equal(policy_syn_check(ps, &u, 0, NULL), POLICY_SYN_RATE_LIMITED);
	assert_int_equal(policy_syn_check(ps, &u, 500, NULL), POLICY_SYN_STATEFUL);

	/* bad params: refused, nothing changes */
	q.half_open_capacity = 0;
	errno = 0;
	assert_int_equal(policy_reconfigure(ps, &q, seed, 0, &dropped), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(policy_half_open(ps), 1);
	assert_int_equal(policy_half_open_capacity(ps), 1000);

	/* to cookies: the table goes, its entries are reported lost */
	q = p;
	q.kind = MODE_COOKIE;
	assert_int_equal(policy_reconfigure(ps, &q, seed, 0, &dropped), 0);
	assert_int_equal(dropped, 1);
	assert_int_equal(policy_half_open_capacity(ps), 0);
	assert_false(policy_has_rate_limit(ps));
	assert_int_equal(policy_syn_check(ps, &u, 0, NULL), POLICY_SYN_COOKIE);
	assert_int_equal(policy_ack(ps, &t, 2, 3, NULL), POLICY_ACK_COOKIE);

	/* and back: a new table */
	q.kind = MODE_AUTO;
	q.syn_rate_trigger = 1000;
	assert_int_equal(policy_reconfigure(ps, &q, seed, 0, &dropped), 0);
	assert_int_equal(dropped, 0);
	assert_int_equal(policy_half_open_capacity(ps), 64);
	/* auto starts from the cookies it was answering with and calms down */
	assert_int_equal(policy_syn_check(ps, &u, 10, NULL), POLICY_SYN_COOKIE);
	assert_int_equal(policy_tick(ps, 5010, NULL), MODE_USE_STATEFUL);
	assert_int_equal(policy_syn_check(ps, &u, 5020, NULL), POLICY_SYN_STATEFUL);
	policy_free(ps);
}

static void test_bad_params(void **state)
{
	struct policy_params p = base(MODE_STATEFUL);

	(void)state;
	p.half_open_capacity = 0;
	errno = 0;
	assert_null(policy_new(&p, seed, 0));
	assert_int_equal(errno, EINVAL);
	p = base(MODE_AUTO);
	p.synack_retries = HALFOPEN_MAX_RETRIES + 1;
	assert_null(policy_new(&p, seed, 0));
	p = base(MODE_COOKIE);
	p.syn_rate = 5;
	p.burst = 0;
	assert_null(policy_new(&p, seed, 0));
	p = base(MODE_COOKIE);
	p.prefix_v6 = 65;
	assert_null(policy_new(&p, seed, 0));
	/* cookie mode needs no table: its size does not matter */
	p = base(MODE_COOKIE);
	p.half_open_capacity = 0;
	policy_free(policy_new(&p, seed, 0));
}

/* A spoofed flood through every step: nothing allocated after policy_new. */
static void test_no_allocation(void **state)
{
	const struct cidr deny[] = {net("203.0.113.0/24")};
	struct policy_params p = base(MODE_AUTO);
	struct halfopen_event evs[16];
	struct cidr_set *acc = policy_access_new(NULL, 0, deny, 1, NULL, 0);
	struct policy *ps;
	size_t before;
	uint64_t now = 0;

	(void)state;
	p.access = acc;
	p.syn_rate = 5;
	p.burst = 5;
	p.syn_rate_trigger = 5000;
	p.half_open_capacity = 4096;
	ps = policy_new(&p, seed, 0);
	assert_non_null(ps);
	before = alloccount;
	for (uint32_t i = 0; i < 200000; i++) {
		char src[32];
		struct pkt_tuple t;

		snprintf(src, sizeof(src), "198.18.%u.%u", (i >> 8) & 0xff, i & 0xff);
		t = tup(src, (uint16_t)i);
		now = i / 50; /* 50k SYN/s */
		if (policy_syn_check(ps, &t, now, NULL) == POLICY_SYN_STATEFUL) {
			struct halfopen_syn s = syn_of(&t, i, ~i);

			(void)policy_syn_insert(ps, &s, now, NULL);
		}
		(void)policy_ack(ps, &t, i + 1, ~i + 1, NULL);
		while (policy_due(ps, now, evs, 16) == 16)
			;
		(void)policy_tick(ps, now, NULL);
	}
	assert_int_equal(alloccount, before);
	assert_int_equal(policy_mode(ps), MODE_USE_COOKIE);
	policy_free(ps);
	cidr_set_free(acc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_access_lists),
	    cmocka_unit_test(test_rate_limit),
	    cmocka_unit_test(test_rate_limited_not_counted),
	    cmocka_unit_test(test_cookie_mode),
	    cmocka_unit_test(test_stateful_handshake),
	    cmocka_unit_test(test_reset),
	    cmocka_unit_test(test_handshake_done),
	    cmocka_unit_test(test_full_table),
	    cmocka_unit_test(test_retransmit_schedule),
	    cmocka_unit_test(test_auto_switch),
	    cmocka_unit_test(test_auto_noted_syns),
	    cmocka_unit_test(test_reconfigure),
	    cmocka_unit_test(test_bad_params),
	    cmocka_unit_test(test_no_allocation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
