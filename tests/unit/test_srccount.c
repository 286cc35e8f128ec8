/*
 * Per-source counts: caps, prefix aggregation, the bound on prefixes, and
 * deletion in a crowded open-addressing table checked against a plain array.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "alloccount.h"
#include "srccount.h"

static const uint8_t seed[SRCCOUNT_SEED_LEN] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3};

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static const uint8_t *a4(const char *s)
{
	static uint8_t a[4];

	assert_int_equal(inet_pton(AF_INET, s, a), 1);
	return a;
}

static const uint8_t *a6(const char *s)
{
	static uint8_t a[16];

	assert_int_equal(inet_pton(AF_INET6, s, a), 1);
	return a;
}

static void test_bad_params(void **state)
{
	(void)state;
	assert_null(srccount_new(0, 32, 64, seed));
	assert_null(srccount_new(SRCCOUNT_MAX_SOURCES + 1, 32, 64, seed));
	assert_null(srccount_new(10, 33, 64, seed));
	assert_null(srccount_new(10, 32, 65, seed));
}

static void test_cap_and_release(void **state)
{
	struct srccount *sc = srccount_new(16, 32, 64, seed);

	(void)state;
	assert_non_null(sc);
	assert_int_equal(srccount_acquire(sc, AF_INET, a4("192.0.2.1"), 3), SRCCOUNT_OK);
	assert_int_equal(srccount_acquire(sc, AF_INET, a4("192.0.2.1"), 3), SRCCOUNT_OK);
	assert_int_equal(srccount_acquire(sc, AF_INET, a4("192.0.2.1"), 3), SRCCOUNT_OK);
	assert_int_equal(srccount_acquire(sc, AF_INET, a4("192.0.2.1"), 3), SRCCOUNT_ECAP);
	assert_int_equal(srccount_get(sc, AF_INET, a4("192.0.2.1")), 3);
	/* /32: the neighbour is another source */
	assert_int_equal(srccount_acquire(sc, AF_INET, a4("192.0.2.2"), 3), SRCCOUNT_OK);
	assert_int_equal(srccount_sources(sc), 2);
	/* a cap of 0 is no cap */
	assert_int_equal(srccount_acquire(sc, AF_INET, a4("192.0.2.1"), 0), SRCCOUNT_OK);
	assert_int_equal(srccount_get(sc, AF_INET, a4("192.0.2.1")), 4);
	for (int i = 0; i < 4; i++)
		assert_true(srccount_release(sc, AF_INET, a4("192.0.2.1")));
	assert_false(srccount_release(sc, AF_INET, a4("192.0.2.1")));
	assert_int_equal(srccount_get(sc, AF_INET, a4("192.0.2.1")), 0);
	assert_int_equal(srccount_sources(sc), 1);
	assert_false(srccount_release(sc, AF_INET6, a6("2001:db8::1")));
	srccount_free(sc);
}

static void test_prefixes(void **state)
{
	struct srccount *sc = srccount_new(16, 24, 48, seed);

	(void)state;
	assert_int_equal(srccount_acquire(sc, AF_INET, a4("192.0.2.1"), 2), SRCCOUNT_OK);
	assert_int_equal(srccount_acquire(sc, AF_INET, a4("192.0.2.200"), 2), SRCCOUNT_OK);
	assert_int_equal(srccount_acquire(sc, AF_INET, a4("192.0.2.99"), 2), SRCCOUNT_ECAP);
	assert_int_equal(srccount_acquire(sc, AF_INET, a4("192.0.3.1"), 2), SRCCOUNT_OK);
	assert_int_equal(srccount_acquire(sc, AF_INET6, a6("2001:db8:0:1::1"), 2), SRCCOUNT_OK);
	assert_int_equal(srccount_acquire(sc, AF_INET6, a6("2001:db8:0:ffff::1"), 2), SRCCOUNT_OK);
	assert_int_equal(srccount_acquire(sc, AF_INET6, a6("2001:db8::"), 2), SRCCOUNT_ECAP);
	assert_int_equal(srccount_acquire(sc, AF_INET6, a6("2001:db8:1::"), 2), SRCCOUNT_OK);
	/* IPv4 0.0.0.0/24 and IPv6 ::/48 have the same number as key, not the same count */
	assert_int_equal(srccount_acquire(sc, AF_INET, a4("0.0.0.1"), 1), SRCCOUNT_OK);
	assert_int_equal(srccount_acquire(sc, AF_INET6, a6("::1"), 1), SRCCOUNT_OK);
	assert_int_equal(srccount_get(sc, AF_INET, a4("0.0.0.9")), 1);
	assert_int_equal(srccount_get(sc, AF_INET6, a6("::9")), 1);
	assert_int_equal(srccount_sources(sc), 6);
	/* the release of another address of the prefix counts for the prefix */
	assert_true(srccount_release(sc, AF_INET, a4("192.0.2.7")));
	assert_int_equal(srccount_get(sc, AF_INET, a4("192.0.2.1")), 1);
	srccount_free(sc);
}

static void test_full(void **state)
{
	struct srccount *sc = srccount_new(4, 32, 64, seed);
	char s[32];

	(void)state;
	for (int i = 0; i < 4; i++) {
		snprintf(s, sizeof(s), "198.51.100.%d", i);
		assert_int_equal(srccount_acquire(sc, AF_INET, a4(s), 0), SRCCOUNT_OK);
	}
	assert_int_equal(srccount_acquire(sc, AF_INET, a4("198.51.100.9"), 0), SRCCOUNT_EFULL);
	/* a counted prefix still counts */
	assert_int_equal(srccount_acquire(sc, AF_INET, a4("198.51.100.2"), 0), SRCCOUNT_OK);
	assert_true(srccount_release(sc, AF_INET, a4("198.51.100.0")));
	assert_int_equal(srccount_acquire(sc, AF_INET, a4("198.51.100.9"), 0), SRCCOUNT_OK);
	assert_int_equal(srccount_max_sources(sc), 4);
	srccount_free(sc);
}

/*
 * Random acquires and releases over a pool of addresses, in a table at its
 * limit, against an array of counts. Deletion moves entries around; every
 * count must survive. No allocation.
 */
static void churn(size_t max_sources, size_t pool, unsigned ops, uint64_t rs)
{
	size_t at_new = alloccount;
	struct srccount *sc = srccount_new(max_sources, 32, 64, seed);
	uint32_t ref[4096] = {0};
	size_t live = 0;
	uint64_t rng = rs;
	size_t before;

	assert_true(pool <= 4096);
	assert_true(alloccount > at_new); /* the counting works: _new was seen allocating */
	before = alloccount;
	for (unsigned op = 0; op < ops; op++) {
		size_t i = rng_next(&rng) % pool;
		uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, (uint8_t)(i >> 8), (uint8_t)i};
		int fam = i % 2 ? AF_INET6 : AF_INET;

		if (fam == AF_INET) {
			a[0] = 198;
			a[1] = 18;
			a[2] = (uint8_t)(i >> 8);
			a[3] = (uint8_t)i;
		}
		if (rng_next(&rng) % 2) {
			enum srccount_result r = srccount_acquire(sc, fam, a, 3);

			if (ref[i] == 3) {
				assert_int_equal(r, SRCCOUNT_ECAP);
			} else if (ref[i] == 0 && live == max_sources) {
				assert_int_equal(r, SRCCOUNT_EFULL);
			} else {
				assert_int_equal(r, SRCCOUNT_OK);
				live += ref[i] == 0;
				ref[i]++;
			}
		} else {
			assert_int_equal(srccount_release(sc, fam, a), ref[i] != 0);
			if (ref[i] != 0 && --ref[i] == 0)
				live--;
		}
		assert_int_equal(srccount_sources(sc), live);
		if (op % 1024 == 0) {
			for (size_t j = 0; j < pool; j++) {
				uint8_t b[16] = {
				    0x20, 0x01, 0x0d, 0xb8, 0, 0, (uint8_t)(j >> 8), (uint8_t)j};

				if (j % 2 == 0) {
					b[0] = 198;
					b[1] = 18;
					b[2] = (uint8_t)(j >> 8);
					b[3] = (uint8_t)j;
				}
				assert_int_equal(srccount_get(sc, j % 2 ? AF_INET6 : AF_INET, b),
				                 ref[j]);
			}
		}
	}
	assert_int_equal(alloccount, before);
	srccount_free(sc);
}

static void test_churn(void **state)
{
	(void)state;
	churn(8, 24, 200000, 1);      /* 16 slots, crowded: wrap-around clusters */
	churn(1000, 1500, 300000, 2); /* 2048 slots */
	churn(3000, 4096, 300000, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_params), cmocka_unit_test(test_cap_and_release),
	    cmocka_unit_test(test_prefixes),   cmocka_unit_test(test_full),
	    cmocka_unit_test(test_churn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
