/*
 * Per-source token buckets: exact rate and burst with injected time, prefix
 * aggregation, the eviction order, reload, and a spoofed flood of a million
 * sources into a small table: no allocation, a source within its limit is
 * always allowed, and a throttled source stays throttled.
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
#include "ratelimit.h"

static const uint8_t seed[RL_SEED_LEN] = {2, 7, 1, 8, 2, 8, 1, 8, 2, 8, 4, 5, 9, 0, 4, 5};

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static const uint8_t *a4(const char *s)
{
	static uint8_t a[4][4];
	static int n;
	uint8_t *p = a[n++ % 4];

	assert_int_equal(inet_pton(AF_INET, s, p), 1);
	return p;
}

static const uint8_t *a6(const char *s)
{
	static uint8_t a[4][16];
	static int n;
	uint8_t *p = a[n++ % 4];

	assert_int_equal(inet_pton(AF_INET6, s, p), 1);
	return p;
}

static void test_bad_params(void **state)
{
	(void)state;
	assert_null(rl_new(64, 0, 5, 32, 64, seed));
	assert_null(rl_new(64, 10, 0, 32, 64, seed));
	assert_null(rl_new(64, 10, 5, 33, 64, seed));
	assert_null(rl_new(64, 10, 5, 32, 65, seed));
	assert_null(rl_new(RL_MAX_SLOTS + 1, 10, 5, 32, 64, seed));
}

static void test_capacity(void **state)
{
	struct rl *rl = rl_new(1000, 10, 5, 32, 64, seed);

	(void)state;
	assert_int_equal(rl_capacity(rl), 1024);
	rl_free(rl);
	rl = rl_new(0, 10, 5, 32, 64, seed);
	assert_int_equal(rl_capacity(rl), RL_WAYS);
	rl_free(rl);
}

/* Packets every step_ms from t0 to t1 inclusive; returns how many were allowed. */
static unsigned send_every(struct rl *rl, int fam, const uint8_t *a, uint64_t t0, uint64_t t1,
                           uint64_t step_ms)
{
	unsigned n = 0;

	for (uint64_t t = t0; t <= t1; t += step_ms)
		n += rl_allow(rl, fam, a, t);
	return n;
}

static void test_rate_and_burst(void **state)
{
	struct rl *rl = rl_new(64, 10, 5, 32, 64, seed);
	const uint8_t *a = a4("192.0.2.1");

	(void)state;
	/* a full burst at once, then nothing until a token comes back after 100 ms */
	for (int i = 0; i < 5; i++)
		assert_true(rl_allow(rl, AF_INET, a, 1000));
	assert_false(rl_allow(rl, AF_INET, a, 1000));
	assert_false(rl_allow(rl, AF_INET, a, 1099));
	assert_true(rl_allow(rl, AF_INET, a, 1100));
	assert_false(rl_allow(rl, AF_INET, a, 1100));
	assert_true(rl_allow(rl, AF_INET, a, 1200));
	/* idle for long: the bucket refills to the burst, not beyond */
	assert_int_equal(send_every(rl, AF_INET, a, 60000, 60000, 1), 1);
	assert_true(rl_tokens(rl, AF_INET, a, 60000) == 4.0);
	for (int i = 0; i < 4; i++)
		assert_true(rl_allow(rl, AF_INET, a, 60000));
	assert_false(rl_allow(rl, AF_INET, a, 60000));
	rl_free(rl);

	/* sending every millisecond for 10 s: the burst, then exactly the rate */
	rl = rl_new(64, 10, 5, 32, 64, seed);
	assert_int_equal(send_every(rl, AF_INET, a, 0, 10000, 1), 5 + 100);
	rl_free(rl);

	/* a rate that does not divide a second: 3/s, burst 3: tokens at k/3 s, ceil'd to the ms */
	rl = rl_new(64, 3, 3, 32, 64, seed);
	assert_int_equal(send_every(rl, AF_INET, a, 0, 10000, 1), 3 + 30);
	rl_free(rl);

	/* a sender exactly at its rate is always allowed, even with a burst of 1 */
	rl = rl_new(64, 100, 1, 32, 64, seed);
	assert_int_equal(send_every(rl, AF_INET6, a6("2001:db8::1"), 5, 100005, 10), 10001);
	/* one slightly faster is not: with a burst of 1, the token that comes back between two
	 * packets waits for the next one, so every other packet passes (every 18 ms) */
	assert_int_equal(send_every(rl, AF_INET6, a6("2001:db8:0:1::2"), 5, 10004, 9), 556);
	rl_free(rl);
}

static void test_prefix_aggregation(void **state)
{
	struct rl *rl = rl_new(64, 1, 2, 24, 48, seed);

	(void)state;
	/* 192.0.2.1 and 192.0.2.200 share the /24's bucket; 192.0.3.1 has its own */
	assert_true(rl_allow(rl, AF_INET, a4("192.0.2.1"), 0));
	assert_true(rl_allow(rl, AF_INET, a4("192.0.2.200"), 0));
	assert_false(rl_allow(rl, AF_INET, a4("192.0.2.9"), 0));
	assert_true(rl_allow(rl, AF_INET, a4("192.0.3.1"), 0));
	/* IPv6 /48 */
	assert_true(rl_allow(rl, AF_INET6, a6("2001:db8:0:1::1"), 0));
	assert_true(rl_allow(rl, AF_INET6, a6("2001:db8:0:ffff:1::"), 0));
	assert_false(rl_allow(rl, AF_INET6, a6("2001:db8::5"), 0));
	assert_true(rl_allow(rl, AF_INET6, a6("2001:db8:1::1"), 0));
	rl_free(rl);

	/* IPv4 /32 and IPv6 /64 keys of the same number stay apart: 0.0.0.1 and 0:0:0:1:: */
	rl = rl_new(64, 1, 1, 32, 64, seed);
	assert_true(rl_allow(rl, AF_INET, a4("0.0.0.1"), 0));
	assert_true(rl_allow(rl, AF_INET6, a6("0:0:0:1::"), 0));
	assert_false(rl_allow(rl, AF_INET, a4("0.0.0.1"), 0));
	assert_false(rl_allow(rl, AF_INET6, a6("0:0:0:1::ffff"), 0));
	/* key 0 (0.0.0.0) is a real key, not an empty slot */
	assert_true(rl_allow(rl, AF_INET, a4("0.0.0.0"), 0));
	assert_false(rl_allow(rl, AF_INET, a4("0.0.0.0"), 0));
	assert_true(rl_allow(rl, AF_INET6, a6("::"), 0));
	assert_false(rl_allow(rl, AF_INET6, a6("::"), 0));
	rl_free(rl);
}

/*
 * One set (capacity RL_WAYS): the ninth source takes the slot of the bucket
 * with the most tokens; a full bucket goes without loss.
 */
static void test_eviction_order(void **state)
{
	struct rl *rl = rl_new(RL_WAYS, 10, 10, 32, 64, seed);
	struct rl_stats st;
	uint8_t a[RL_WAYS + 2][4];

	(void)state;
	for (int i = 0; i < RL_WAYS + 2; i++)
		memcpy(a[i], (uint8_t[]){198, 18, 0, (uint8_t)i}, 4);
	/* source i spends i + 2 tokens at 1 s; source 3 spends one only, at 0 */
	for (int i = 0; i < RL_WAYS; i++)
		for (int k = 0; k <= (i == 3 ? 0 : i + 1); k++)
			assert_true(rl_allow(rl, AF_INET, a[i], i == 3 ? 0 : 1000));
	assert_int_equal(rl_active(rl, 1000), RL_WAYS - 1);
	/* at 1 s source 3's bucket is full again: the newcomer reclaims it */
	assert_true(rl_allow(rl, AF_INET, a[RL_WAYS], 1000));
	rl_get_stats(rl, &st);
	assert_int_equal(st.reclaimed, 1);
	assert_int_equal(st.evicted, 0);
	for (int i = 0; i < RL_WAYS; i++)
		if (i != 3)
			assert_true(rl_tokens(rl, AF_INET, a[i], 1000) == 10 - (i + 2));
	/* now every bucket is spent a little: the one holding most (the newcomer, 9) goes */
	assert_true(rl_allow(rl, AF_INET, a[RL_WAYS + 1], 1000));
	rl_get_stats(rl, &st);
	assert_int_equal(st.evicted, 1);
	assert_true(rl_tokens(rl, AF_INET, a[RL_WAYS], 1000) == 10); /* forgotten: full */
	for (int i = 0; i < RL_WAYS; i++)
		if (i != 3)
			assert_true(rl_tokens(rl, AF_INET, a[i], 1000) == 10 - (i + 2));
	/* the evicted source is allowed again (with a full bucket), never denied */
	assert_true(rl_allow(rl, AF_INET, a[RL_WAYS], 1000));
	rl_get_stats(rl, &st);
	assert_int_equal(st.allowed, 2 + 3 + 4 + 1 + 6 + 7 + 8 + 9 + 1 + 1 + 1);
	assert_int_equal(st.denied, 0);
	assert_int_equal(st.inserted, RL_WAYS + 3);
	rl_free(rl);
}

static void random_v4(uint64_t *rng, uint8_t a[4])
{
	uint64_t r = rng_next(rng);

	memcpy(a, &r, 4);
}

/*
 * A million spoofed one-packet sources (about 20 per ms, from everywhere)
 * into a 1024-slot table, while a legit source sends at its rate and a heavy
 * source at ten times its rate.
 */
static void test_spoofed_flood(void **state)
{
	const uint32_t rate = 10, burst = 5;
	struct rl *rl = rl_new(1024, rate, burst, 32, 64, seed);
	struct rl *ref = rl_new(1024, rate, burst, 32, 64, seed);
	const uint8_t *legit = a4("192.0.2.10");
	const uint8_t *heavy = a4("203.0.113.66");
	const uint8_t *legit6 = a6("2001:db8:1:2::10");
	unsigned legit_ok = 0, legit_sent = 0, legit6_ok = 0, heavy_ok = 0, heavy_ref = 0;
	uint64_t rng = 99;
	unsigned spoofed = 0;
	struct rl_stats st;
	size_t before;

	(void)state;
	before = alloccount;
	for (uint64_t t = 0; spoofed < 1000000; t++) {
		uint8_t a[4];

		for (int i = 0; i < 20; i++, spoofed++) {
			random_v4(&rng, a);
			assert_true(rl_allow(rl, AF_INET, a, t)); /* every new source has a burst */
		}
		if (t % 100 == 0) {
			legit_sent++;
			legit_ok += rl_allow(rl, AF_INET, legit, t);
			legit6_ok += rl_allow(rl, AF_INET6, legit6, t);
		}
		if (t % 10 == 0) {
			heavy_ok += rl_allow(rl, AF_INET, heavy, t);
			heavy_ref +=
			    rl_allow(ref, AF_INET, heavy, t); /* the same, without a flood */
		}
	}
	assert_int_equal(alloccount, before);
	assert_int_equal(rl_capacity(rl), 1024);
	rl_get_stats(rl, &st);
	/* the flood did churn the table */
	assert_true(st.inserted >= 1000000);
	assert_true(st.evicted > 100000);
	/* guarantee 1: within its limit, always allowed */
	assert_int_equal(legit_ok, legit_sent);
	assert_int_equal(legit6_ok, legit_sent);
	/* guarantee 4: the heavy source's limit does not leak (burst >= 3) */
	assert_int_equal(heavy_ok, heavy_ref);
	assert_true(heavy_ok <= burst + rate * (50000 / 1000) + 1);
	rl_free(rl);
	rl_free(ref);
}

static void test_reload(void **state)
{
	struct rl *rl = rl_new(64, 10, 5, 32, 64, seed);
	const uint8_t *a = a4("192.0.2.1");
	const uint8_t *b = a4("192.0.2.2");
	const uint8_t *c = a4("192.0.2.3");

	(void)state;
	/* a spends 3 of 5, b spends 1 of 5; c is new after the reload */
	for (int i = 0; i < 3; i++)
		assert_true(rl_allow(rl, AF_INET, a, 1000));
	assert_true(rl_allow(rl, AF_INET, b, 1000));
	assert_int_equal(rl_set_params(rl, 0, 5, 1000), -1);
	assert_int_equal(rl_set_params(rl, 100, 10, 1000), 0);
	/* tokens are kept: a has 2 (of now 10), refilling at 100/s */
	assert_true(rl_tokens(rl, AF_INET, a, 1000) == 2.0);
	assert_int_equal(send_every(rl, AF_INET, a, 1000, 1000, 1) +
	                     send_every(rl, AF_INET, a, 1000, 1000, 1) +
	                     send_every(rl, AF_INET, a, 1000, 1000, 1),
	                 2);
	assert_false(rl_allow(rl, AF_INET, a, 1009));
	assert_true(rl_allow(rl, AF_INET, a, 1010));
	assert_true(rl_tokens(rl, AF_INET, b, 1000) == 4.0);
	for (int i = 0; i < 10; i++)
		assert_true(rl_allow(rl, AF_INET, c, 1000));
	assert_false(rl_allow(rl, AF_INET, c, 1000));
	/* a lower burst caps what a bucket holds: b had 4, now 2 */
	assert_int_equal(rl_set_params(rl, 100, 2, 1000), 0);
	assert_true(rl_tokens(rl, AF_INET, b, 1000) == 2.0);
	assert_true(rl_allow(rl, AF_INET, b, 1000));
	assert_true(rl_allow(rl, AF_INET, b, 1000));
	assert_false(rl_allow(rl, AF_INET, b, 1000));
	/* a slower rate: c (empty) regains one token per second */
	assert_int_equal(rl_set_params(rl, 1, 2, 1000), 0);
	assert_false(rl_allow(rl, AF_INET, c, 1999));
	assert_true(rl_allow(rl, AF_INET, c, 2000));
	assert_false(rl_allow(rl, AF_INET, c, 2000));
	rl_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_params),     cmocka_unit_test(test_capacity),
	    cmocka_unit_test(test_rate_and_burst), cmocka_unit_test(test_prefix_aggregation),
	    cmocka_unit_test(test_eviction_order), cmocka_unit_test(test_spoofed_flood),
	    cmocka_unit_test(test_reload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
