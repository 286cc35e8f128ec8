/*
 * The half-open table: entries round-trip, full table and per-source cap,
 * the retransmit schedule to the millisecond, expiry, reconfiguration, and a
 * million SYNs of churn in a small table without growth.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "alloccount.h"
#include "halfopen.h"

static const uint8_t seed[HALFOPEN_SEED_LEN] = {1, 4, 1, 4, 2, 1, 3, 5, 6, 2, 3, 7, 3, 0, 9, 5};

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static struct halfopen_params params(size_t capacity, uint32_t per_source, uint32_t rto_ms,
                                     uint8_t retries)
{
	struct halfopen_params p = {
	    .capacity = capacity,
	    .per_source = per_source,
	    .prefix_v4 = 32,
	    .prefix_v6 = 64,
	    .rto_ms = rto_ms,
	    .retries = retries,
	};

	return p;
}

/* A SYN from src:sport to 192.0.2.1:443 (or [2001:db8::1]:443). */
static struct halfopen_syn syn_from(const char *src, uint16_t sport)
{
	struct halfopen_syn s;
	int fam = strchr(src, ':') != NULL ? AF_INET6 : AF_INET;

	memset(&s, 0, sizeof(s));
	s.t.family = (uint8_t)fam;
	assert_int_equal(inet_pton(fam, src, s.t.saddr), 1);
	assert_int_equal(inet_pton(fam, fam == AF_INET ? "192.0.2.1" : "2001:db8::1", s.t.daddr),
	                 1);
	s.t.sport = sport;
	s.t.dport = 443;
	s.client_isn = 0x10000000u + sport;
	s.our_isn = 0x20000000u + sport;
	return s;
}

static void test_bad_params(void **state)
{
	struct halfopen_params p = params(16, 0, 1000, 5);

	(void)state;
	p.capacity = 0;
	assert_null(halfopen_new(&p, seed));
	p = params(16, 0, 0, 5);
	assert_null(halfopen_new(&p, seed));
	p = params(16, 0, 1000, HALFOPEN_MAX_RETRIES + 1);
	assert_null(halfopen_new(&p, seed));
	p = params(16, 1, 1000, 5);
	p.prefix_v6 = 65;
	assert_null(halfopen_new(&p, seed));
}

static void test_insert_find_remove(void **state)
{
	struct halfopen_params p = params(16, 0, 1000, 5);
	struct halfopen *h = halfopen_new(&p, seed);
	struct halfopen_syn a = syn_from("198.51.100.7", 40000);
	struct halfopen_syn b = syn_from("2001:db8:5::7", 40000);
	struct halfopen_entry e;
	struct pkt_tuple other;

	(void)state;
	a.opt = (struct pkt_tcpopts){.mss = 1460,
	                             .wscale = 7,
	                             .has_wscale = true,
	                             .sack_ok = true,
	                             .has_ts = true,
	                             .tsval = 0xdeadbeef,
	                             .tsecr = 0};
	a.our_tsval = 0x12345678;
	a.ecn = true; /* b: false */
	b.opt = (struct pkt_tcpopts){.mss = 1220};
	assert_int_equal(halfopen_insert(h, &a, 100), HALFOPEN_OK);
	assert_int_equal(halfopen_insert(h, &b, 101), HALFOPEN_OK);
	assert_int_equal(halfopen_insert(h, &a, 102), HALFOPEN_EEXIST);
	assert_int_equal(halfopen_count(h), 2);
	assert_true(halfopen_occupancy(h) == 2.0 / 16);

	assert_true(halfopen_find(h, &a.t, &e));
	assert_memory_equal(&e.syn, &a, sizeof(a));
	assert_int_equal(e.created_ms, 100);
	assert_int_equal(e.retransmits, 0);
	assert_true(halfopen_find(h, &b.t, &e));
	assert_memory_equal(&e.syn, &b, sizeof(b));
	assert_int_equal(e.created_ms, 101);

	/* any change of the tuple is another connection */
	other = a.t;
	other.sport++;
	assert_false(halfopen_find(h, &other, NULL));
	other = a.t;
	other.dport++;
	assert_false(halfopen_find(h, &other, NULL));
	other = a.t;
	other.daddr[3]++;
	assert_false(halfopen_find(h, &other, NULL));
	/* an IPv4 tuple with junk past its 4 address bytes is the same tuple */
	other = a.t;
	other.saddr[10] = 0x55;
	assert_true(halfopen_find(h, &other, NULL));

	assert_true(halfopen_remove(h, &a.t));
	assert_false(halfopen_remove(h, &a.t));
	assert_false(halfopen_find(h, &a.t, NULL));
	assert_true(halfopen_find(h, &b.t, NULL));
	assert_int_equal(halfopen_count(h), 1);
	halfopen_free(h);
}

static void test_full(void **state)
{
	struct halfopen_params p = params(4, 0, 1000, 5);
	struct halfopen *h = halfopen_new(&p, seed);

	(void)state;
	for (uint16_t i = 0; i < 4; i++) {
		struct halfopen_syn s = syn_from("198.51.100.7", 1000 + i);

		assert_int_equal(halfopen_insert(h, &s, 0), HALFOPEN_OK);
	}
	{
		struct halfopen_syn s = syn_from("198.51.100.8", 1000);
		struct halfopen_syn old = syn_from("198.51.100.7", 1002);

		assert_int_equal(halfopen_insert(h, &s, 0), HALFOPEN_EFULL);
		assert_true(halfopen_occupancy(h) == 1.0);
		/* a retransmitted SYN of a known entry is still recognised */
		assert_int_equal(halfopen_insert(h, &old, 0), HALFOPEN_EEXIST);
		assert_true(halfopen_remove(h, &old.t));
		assert_int_equal(halfopen_insert(h, &s, 0), HALFOPEN_OK);
		assert_int_equal(halfopen_insert(h, &old, 0), HALFOPEN_EFULL);
	}
	halfopen_free(h);
}

static void test_per_source(void **state)
{
	struct halfopen_params p = params(64, 2, 1000, 1);
	struct halfopen *h;
	struct halfopen_event ev[8];

	(void)state;
	p.prefix_v4 = 24;
	p.prefix_v6 = 48;
	h = halfopen_new(&p, seed);
	{
		struct halfopen_syn a = syn_from("192.0.2.10", 1);
		struct halfopen_syn b = syn_from("192.0.2.11", 2);
		struct halfopen_syn c = syn_from("192.0.2.12", 3);
		struct halfopen_syn d = syn_from("192.0.3.12", 3);
		struct halfopen_syn x = syn_from("2001:db8:1:2::1", 1);
		struct halfopen_syn y = syn_from("2001:db8:1:3::1", 1);
		struct halfopen_syn z = syn_from("2001:db8:1:4::1", 1);

		assert_int_equal(halfopen_insert(h, &a, 0), HALFOPEN_OK);
		assert_int_equal(halfopen_insert(h, &b, 0), HALFOPEN_OK);
		assert_int_equal(halfopen_insert(h, &c, 0), HALFOPEN_ESOURCE);
		assert_int_equal(halfopen_insert(h, &d, 0), HALFOPEN_OK);
		assert_int_equal(halfopen_insert(h, &x, 0), HALFOPEN_OK);
		assert_int_equal(halfopen_insert(h, &y, 0), HALFOPEN_OK);
		assert_int_equal(halfopen_insert(h, &z, 0), HALFOPEN_ESOURCE);
		assert_int_equal(halfopen_count(h), 5);
		/* completion frees a place for the source */
		assert_true(halfopen_remove(h, &a.t));
		assert_int_equal(halfopen_insert(h, &c, 10), HALFOPEN_OK);
		assert_int_equal(halfopen_insert(h, &a, 10), HALFOPEN_ESOURCE);
		/* and so does expiry: retries 1, rto 1 s: gone at 3 s (b, d, x, y) and 3.01 s (c)
		 */
		assert_int_equal(halfopen_due(h, 1010, ev, 8), 5);
		assert_int_equal(halfopen_due(h, 3000, ev, 8), 4);
		assert_int_equal(ev[0].kind, HALFOPEN_EXPIRED);
		assert_int_equal(halfopen_insert(h, &a, 3000), HALFOPEN_OK);
		assert_int_equal(halfopen_insert(h, &z, 3000), HALFOPEN_OK);
		assert_int_equal(halfopen_insert(h, &b, 3000), HALFOPEN_ESOURCE);
	}
	halfopen_free(h);
}

static size_t due(struct halfopen *h, uint64_t now, struct halfopen_event *ev)
{
	return halfopen_due(h, now, ev, 16);
}

/* rto 1 s, 3 retries: SYN-ACKs again at +1, +3, +7 s, expiry at +15 s. */
static void test_schedule(void **state)
{
	struct halfopen_params p = params(16, 0, 1000, 3);
	struct halfopen *h = halfopen_new(&p, seed);
	struct halfopen_syn a = syn_from("198.51.100.7", 40000);
	struct halfopen_event ev[16];
	static const uint64_t at[] = {6000, 8000, 12000};

	(void)state;
	assert_int_equal(halfopen_next_due(h), UINT64_MAX);
	assert_int_equal(halfopen_insert(h, &a, 5000), HALFOPEN_OK);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(halfopen_next_due(h), at[k]);
		assert_int_equal(due(h, at[k] - 1, ev), 0);
		assert_int_equal(due(h, at[k], ev), 1);
		assert_int_equal(ev[0].kind, HALFOPEN_RETRANSMIT);
		assert_int_equal(ev[0].e.retransmits, k + 1);
		assert_memory_equal(&ev[0].e.syn, &a, sizeof(a));
		assert_int_equal(due(h, at[k], ev), 0);
		assert_true(halfopen_find(h, &a.t, NULL));
	}
	assert_int_equal(halfopen_next_due(h), 20000);
	assert_int_equal(due(h, 19999, ev), 0);
	assert_int_equal(due(h, 20000, ev), 1);
	assert_int_equal(ev[0].kind, HALFOPEN_EXPIRED);
	assert_int_equal(ev[0].e.retransmits, 3);
	assert_int_equal(ev[0].e.created_ms, 5000);
	assert_memory_equal(&ev[0].e.syn, &a, sizeof(a));
	assert_false(halfopen_find(h, &a.t, NULL));
	assert_int_equal(halfopen_count(h), 0);
	assert_int_equal(halfopen_next_due(h), UINT64_MAX);

	/* retries 0: no retransmit, expiry at +rto */
	p.retries = 0;
	assert_int_equal(halfopen_reconfigure(h, &p, NULL), 0);
	assert_int_equal(halfopen_insert(h, &a, 30000), HALFOPEN_OK);
	assert_int_equal(due(h, 30999, ev), 0);
	assert_int_equal(due(h, 31000, ev), 1);
	assert_int_equal(ev[0].kind, HALFOPEN_EXPIRED);
	halfopen_free(h);
}

/* Many entries at different times: every one gets its events at its own times, in order. */
static void test_schedule_many(void **state)
{
	struct halfopen_params p = params(256, 0, 1000, 5);
	struct halfopen *h = halfopen_new(&p, seed);
	struct halfopen_event ev[64];
	unsigned retx[200] = {0}, expired[200] = {0};
	uint64_t t;

	(void)state;
	/* 200 SYNs, one every 7 ms, every fifth completing at once; polls every millisecond: each
	 * event comes exactly at created + 1000 (2^k - 1) */
	for (t = 0; t <= 70000; t++) {
		size_t n;

		if (t % 7 == 0 && t / 7 < 200) {
			uint16_t i = (uint16_t)(t / 7);
			struct halfopen_syn s = syn_from("203.0.113.9", 1000 + i);

			assert_int_equal(halfopen_insert(h, &s, t), HALFOPEN_OK);
			if (i % 5 == 0)
				assert_true(halfopen_remove(h, &s.t));
		}
		if (t == 1400)
			assert_int_equal(halfopen_count(h), 160);
		n = halfopen_due(h, t, ev, 64);
		assert_true(n < 64);
		for (size_t j = 0; j < n; j++) {
			unsigned i = ev[j].e.syn.t.sport - 1000;
			unsigned k = ev[j].e.retransmits;

			assert_true(i % 5 != 0);
			assert_int_equal(ev[j].e.created_ms, 7 * i);
			if (ev[j].kind == HALFOPEN_RETRANSMIT) {
				assert_int_equal(k, ++retx[i]);
				assert_int_equal(t, 7 * i + 1000 * ((1u << k) - 1));
			} else {
				assert_int_equal(k, 5);
				assert_int_equal(t, 7 * i + 63000);
				expired[i]++;
			}
		}
	}
	for (unsigned i = 0; i < 200; i++) {
		assert_int_equal(retx[i], i % 5 ? 5 : 0);
		assert_int_equal(expired[i], i % 5 ? 1 : 0);
	}
	assert_int_equal(halfopen_count(h), 0);
	halfopen_free(h);
}

/* A caller that polls late gets one event per entry per call, and a small buffer loses none. */
static void test_late_poll(void **state)
{
	struct halfopen_params p = params(16, 0, 1000, 3);
	struct halfopen *h = halfopen_new(&p, seed);
	struct halfopen *small = halfopen_new(&p, seed);
	struct halfopen_event ev[16];
	size_t n, total = 0;

	(void)state;
	for (uint16_t i = 0; i < 6; i++) {
		struct halfopen_syn s = syn_from("203.0.113.9", 1000 + i);

		assert_int_equal(halfopen_insert(h, &s, 0), HALFOPEN_OK);
		assert_int_equal(halfopen_insert(small, &s, 0), HALFOPEN_OK);
	}
	/* at 10 s each entry is three retransmits behind: one SYN-ACK per call, not a burst */
	for (int k = 1; k <= 3; k++) {
		assert_int_equal(halfopen_due(h, 10000, ev, 16), 6);
		for (int j = 0; j < 6; j++) {
			assert_int_equal(ev[j].kind, HALFOPEN_RETRANSMIT);
			assert_int_equal(ev[j].e.retransmits, k);
		}
	}
	assert_int_equal(halfopen_due(h, 10000, ev, 16), 0);
	assert_int_equal(halfopen_next_due(h), 15000);
	/* a clock step back changes nothing */
	assert_int_equal(halfopen_due(h, 100, ev, 16), 0);
	assert_int_equal(halfopen_due(h, 15000, ev, 16), 6);
	assert_int_equal(ev[5].kind, HALFOPEN_EXPIRED);
	assert_int_equal(halfopen_count(h), 0);

	/* four events at most per call: the same 18 retransmits, spread over calls */
	while ((n = halfopen_due(small, 10000, ev, 4)) > 0) {
		assert_true(n <= 4);
		total += n;
	}
	assert_int_equal(total, 18);
	assert_int_equal(halfopen_next_due(small), 15000);
	halfopen_free(h);
	halfopen_free(small);
}

static void test_reconfigure(void **state)
{
	struct halfopen_params p = params(8, 0, 1000, 5);
	struct halfopen *h = halfopen_new(&p, seed);
	struct halfopen_event ev[16];
	size_t dropped = 99;

	(void)state;
	for (uint16_t i = 0; i < 8; i++) {
		struct halfopen_syn s = syn_from("203.0.113.9", 1000 + i);

		assert_int_equal(halfopen_insert(h, &s, 100 * i), HALFOPEN_OK);
	}
	/* 1000 has had two retransmits by 3 s, 1001 one */
	assert_int_equal(halfopen_due(h, 1000, ev, 16), 1);
	assert_int_equal(halfopen_due(h, 1100, ev, 16), 1);
	assert_int_equal(halfopen_due(h, 3000, ev, 16), 1 + 6);

	/* grow: same entries, same schedule */
	p.capacity = 32;
	assert_int_equal(halfopen_reconfigure(h, &p, &dropped), 0);
	assert_int_equal(dropped, 0);
	assert_int_equal(halfopen_capacity(h), 32);
	assert_int_equal(halfopen_count(h), 8);
	for (uint16_t i = 0; i < 8; i++) {
		struct halfopen_syn s = syn_from("203.0.113.9", 1000 + i);
		struct halfopen_entry e;

		assert_true(halfopen_find(h, &s.t, &e));
		assert_int_equal(e.created_ms, 100 * i);
		assert_int_equal(e.retransmits, i == 0 ? 2 : 1);
	}
	assert_int_equal(halfopen_next_due(h), 3100); /* 1001's second retransmit */
	for (uint16_t i = 8; i < 32; i++) {
		struct halfopen_syn s = syn_from("203.0.113.9", 1000 + i);

		assert_int_equal(halfopen_insert(h, &s, 3000), HALFOPEN_OK);
	}

	/* shrink to 4: the 28 oldest go (the first 8, then 20 of those made at 3 s) */
	p.capacity = 4;
	assert_int_equal(halfopen_reconfigure(h, &p, &dropped), 0);
	assert_int_equal(dropped, 28);
	assert_int_equal(halfopen_count(h), 4);
	for (uint16_t i = 0; i < 32; i++) {
		struct halfopen_syn s = syn_from("203.0.113.9", 1000 + i);

		assert_int_equal(halfopen_find(h, &s.t, NULL), i >= 28);
	}

	/* timers in place: rto 500 ms; the four made at 3 s retransmit at 3.5 s */
	p.rto_ms = 500;
	assert_int_equal(halfopen_reconfigure(h, &p, NULL), 0);
	assert_int_equal(halfopen_capacity(h), 4);
	assert_int_equal(halfopen_next_due(h), 3500);
	assert_int_equal(halfopen_due(h, 3500, ev, 16), 4);
	assert_int_equal(ev[0].kind, HALFOPEN_RETRANSMIT);

	/* fewer retries than an entry already had: it expires at the next poll */
	p.retries = 0;
	assert_int_equal(halfopen_reconfigure(h, &p, NULL), 0);
	assert_int_equal(halfopen_next_due(h), 0);
	assert_int_equal(halfopen_due(h, 3501, ev, 16), 4);
	assert_int_equal(ev[0].kind, HALFOPEN_EXPIRED);
	assert_int_equal(halfopen_count(h), 0);

	assert_int_equal(halfopen_reconfigure(h, &(struct halfopen_params){0}, NULL), -1);
	halfopen_free(h);
}

static void test_reconfigure_per_source(void **state)
{
	struct halfopen_params p = params(16, 0, 1000, 5);
	struct halfopen *h = halfopen_new(&p, seed);

	(void)state;
	for (uint16_t i = 0; i < 5; i++) {
		struct halfopen_syn s = syn_from("203.0.113.9", 1000 + i);

		assert_int_equal(halfopen_insert(h, &s, 0), HALFOPEN_OK);
	}
	/* a cap appears: the five stay, the source gets no sixth until it is under the cap */
	p.per_source = 3;
	assert_int_equal(halfopen_reconfigure(h, &p, NULL), 0);
	assert_int_equal(halfopen_count(h), 5);
	{
		struct halfopen_syn s = syn_from("203.0.113.9", 2000);
		struct halfopen_syn other = syn_from("203.0.113.10", 2000);

		assert_int_equal(halfopen_insert(h, &s, 0), HALFOPEN_ESOURCE);
		assert_int_equal(halfopen_insert(h, &other, 0), HALFOPEN_OK);
		for (uint16_t i = 0; i < 3; i++) {
			struct halfopen_syn r = syn_from("203.0.113.9", 1000 + i);

			assert_true(halfopen_remove(h, &r.t));
		}
		assert_int_equal(halfopen_insert(h, &s, 0), HALFOPEN_OK);
	}
	halfopen_free(h);
}

/*
 * A million SYNs from spoofed sources into 4096 entries, 100 per ms, with
 * some completions, polling every 10 ms, and entries that expire after 0.7 s
 * (rto 100 ms, 2 retries): the table stays at its capacity,
 * allocates nothing, and every entry is accounted for.
 */
static void test_churn(void **state)
{
	struct halfopen_params p = params(4096, 4, 100, 2);
	struct halfopen *h = halfopen_new(&p, seed);
	static struct halfopen_event ev[8192];
	uint64_t rng = 5;
	uint64_t ok = 0, full = 0, src = 0, removed = 0, expired = 0, retx = 0;
	uint64_t t = 0;
	size_t before = alloccount;

	(void)state;
	for (unsigned i = 0; i < 1000000; i++) {
		struct halfopen_syn s;
		uint64_t r = rng_next(&rng);

		memset(&s, 0, sizeof(s));
		s.t.family = r & 1 ? AF_INET6 : AF_INET;
		/* sources from 198.18.0.0/15, or 2001:db8::/32; a small pool hits the cap */
		if (s.t.family == AF_INET) {
			s.t.saddr[0] = 198;
			s.t.saddr[1] = 18 | ((r >> 8) & 1);
			s.t.saddr[2] = (uint8_t)(r >> 16);
			s.t.saddr[3] = (uint8_t)(r >> 24) & (i % 2 ? 0xff : 0x03);
		} else {
			memcpy(s.t.saddr, (uint8_t[]){0x20, 0x01, 0x0d, 0xb8}, 4);
			memcpy(s.t.saddr + 4, &r, 4);
			if (i % 2 == 0)
				s.t.saddr[4] = s.t.saddr[5] = s.t.saddr[6] = 0;
		}
		s.t.sport = (uint16_t)(r >> 32);
		s.t.dport = 443;
		switch (halfopen_insert(h, &s, t)) {
		case HALFOPEN_OK:
			ok++;
			if (r >> 60 == 0 && halfopen_remove(h, &s.t)) /* 1 in 16 completes */
				removed++;
			break;
		case HALFOPEN_EFULL:
			full++;
			break;
		case HALFOPEN_ESOURCE:
			src++;
			break;
		case HALFOPEN_EEXIST:
			break;
		}
		if (i % 100 == 99)
			t++;
		if (i % 1000 == 999) {
			size_t n;

			while ((n = halfopen_due(h, t, ev, 8192)) > 0)
				for (size_t j = 0; j < n; j++) {
					if (ev[j].kind == HALFOPEN_EXPIRED)
						expired++;
					else
						retx++;
				}
		}
		assert_true(halfopen_count(h) <= 4096);
	}
	assert_int_equal(alloccount, before);
	assert_int_equal(halfopen_capacity(h), 4096);
	assert_int_equal(ok, halfopen_count(h) + removed + expired);
	assert_true(full > 100000); /* the flood did fill the table */
	assert_true(src > 1000);    /* and the small pool hit the per-source cap */
	assert_true(expired > 10000 && retx >= 2 * expired);
	/* it drains completely, and every per-source count is released */
	{
		size_t n;

		while ((n = halfopen_due(h, t + 7000, ev, 8192)) > 0)
			expired += n;
	}
	assert_int_equal(halfopen_count(h), 0);
	assert_int_equal(halfopen_next_due(h), UINT64_MAX);
	for (uint16_t i = 0; i < 4; i++) {
		struct halfopen_syn s = syn_from("198.18.0.1", i);

		assert_int_equal(halfopen_insert(h, &s, t + 7000), HALFOPEN_OK);
	}
	halfopen_free(h);
}

/* A tiny table (8 entries, 16 index slots) under random inserts and removals of 24 tuples,
 * against a model: probe clusters wrap and shift back all the time. */
static void test_index_model(void **state)
{
	struct halfopen_params p = params(8, 0, 1000, 3);
	struct halfopen *h = halfopen_new(&p, seed);
	bool in[24] = {false};
	size_t n = 0;
	uint64_t rng = 17;

	(void)state;
	for (int op = 0; op < 200000; op++) {
		uint64_t r = rng_next(&rng);
		unsigned i = (unsigned)(r % 24);
		struct halfopen_syn s = syn_from(i % 3 ? "198.51.100.1" : "2001:db8::9", 1000 + i);

		if ((r >> 32) % 2) {
			enum halfopen_result want = in[i]    ? HALFOPEN_EEXIST
			                            : n == 8 ? HALFOPEN_EFULL
			                                     : HALFOPEN_OK;

			assert_int_equal(halfopen_insert(h, &s, 0), want);
			if (want == HALFOPEN_OK) {
				in[i] = true;
				n++;
			}
		} else {
			assert_int_equal(halfopen_remove(h, &s.t), in[i]);
			if (in[i]) {
				in[i] = false;
				n--;
			}
		}
		assert_int_equal(halfopen_count(h), n);
		for (unsigned j = 0; j < 24; j++) {
			struct halfopen_syn q =
			    syn_from(j % 3 ? "198.51.100.1" : "2001:db8::9", 1000 + j);

			assert_int_equal(halfopen_find(h, &q.t, NULL), in[j]);
		}
	}
	halfopen_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_params),
	    cmocka_unit_test(test_insert_find_remove),
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_per_source),
	    cmocka_unit_test(test_schedule),
	    cmocka_unit_test(test_schedule_many),
	    cmocka_unit_test(test_late_poll),
	    cmocka_unit_test(test_reconfigure),
	    cmocka_unit_test(test_reconfigure_per_source),
	    cmocka_unit_test(test_churn),
	    cmocka_unit_test(test_index_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
