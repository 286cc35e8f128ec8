/*
 * lib/cookie.c against the committed cookie vectors (tests/fixtures): the
 * same vectors hold the kernel programs' cookie (test_bpf_cookie), so a change
 * to either side that the other does not follow fails here or there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cookie.h"
#include "cookie_vectors.h"

static struct cookie_ctx *ctx_of(const struct cookie_vec *v)
{
	struct cookie_ctx *ctx = cookie_new();

	assert_non_null(ctx);
	for (unsigned i = 0; i < v->nkeys; i++) {
		uint8_t key[COOKIE_KEY_LEN];

		cookie_derive_key(key, cookie_vec_master, v->keys[i]);
		cookie_set_key(ctx, v->keys[i], key);
	}
	return ctx;
}

/* Returns true when lib/cookie.c gives the vector's answer; prints the difference otherwise. */
static bool matches(const struct cookie_vec *v, unsigned idx)
{
	struct cookie_ctx *ctx = ctx_of(v);
	struct pkt_tuple t = {
	    .family = v->family == 4 ? AF_INET : AF_INET6, .sport = v->sport, .dport = v->dport};
	bool ok;

	memcpy(t.saddr, v->saddr, 16);
	memcpy(t.daddr, v->daddr, 16);
	if (v->op == VEC_MAKE) {
		struct cookie_syn in = {.mss = v->mss,
		                        .wscale = v->wscale,
		                        .has_wscale = v->flags & VEC_WSCALE,
		                        .sack_ok = v->flags & VEC_SACK,
		                        .has_ts = v->flags & VEC_TS,
		                        .ecn = v->flags & VEC_ECN};
		uint32_t isn = 0, tsval = 0;
		int rc = cookie_make(ctx, v->epoch, v->mss_table, &t, v->seq, &in, &isn, &tsval);

		ok = rc == v->rc && (rc != 0 || (isn == v->isn && tsval == v->tsval));
		if (!ok)
			printf(
			    "vector %u (%s): make rc %d isn %#x tsval %#x, expected %d %#x %#x\n",
			    idx, v->name, rc, isn, tsval, v->rc, v->isn, v->tsval);
	} else {
		struct pkt_tcpopts opt = {.has_ts = v->flags & VEC_TS, .tsecr = v->tsecr};
		struct cookie_syn out = {0};
		int rc =
		    (int)cookie_check(ctx, v->epoch, v->mss_table, &t, v->seq, v->ack, &opt, &out);
		uint8_t flags =
		    (uint8_t)((out.has_wscale ? VEC_WSCALE : 0) | (out.sack_ok ? VEC_SACK : 0) |
		              (out.has_ts ? VEC_TS : 0) | (out.ecn ? VEC_ECN : 0));

		ok = rc == v->rc &&
		     (rc != COOKIE_VALID || (out.mss == v->out_mss && out.wscale == v->out_wscale &&
		                             flags == v->out_flags));
		if (!ok)
			printf(
			    "vector %u (%s): check rc %d mss %u wscale %u flags %#x, expected %d "
			    "%u %u %#x\n",
			    idx, v->name, rc, out.mss, out.wscale, flags, v->rc, v->out_mss,
			    v->out_wscale, v->out_flags);
	}
	cookie_free(ctx);
	return ok;
}

static void test_lib_matches_vectors(void **state)
{
	unsigned bad = 0;

	(void)state;
	for (unsigned i = 0; i < COOKIE_NVECS; i++)
		bad += !matches(&cookie_vecs[i], i);
	assert_int_equal(bad, 0);
}

/* The vectors cover what they claim: every result, both families, every window scale index,
 * ECN made with and without timestamps and decoded on and off. */
static void test_vectors_cover(void **state)
{
	unsigned results[4] = {0}, fam4 = 0, fam6 = 0, widx = 0, mssidx = 0, parity = 0;
	unsigned ecn_made = 0, ecn_dropped = 0, ecn_on = 0, ecn_off = 0;

	(void)state;
	for (unsigned i = 0; i < COOKIE_NVECS; i++) {
		const struct cookie_vec *v = &cookie_vecs[i];

		fam4 += v->family == 4;
		fam6 += v->family == 6;
		if (v->op == VEC_CHECK) {
			assert_in_range(v->rc, 0, 3);
			results[v->rc]++;
			if (v->rc == COOKIE_VALID && (v->out_flags & VEC_TS))
				*(v->out_flags & VEC_ECN ? &ecn_on : &ecn_off) += 1;
			assert_false(v->rc == COOKIE_VALID && (v->out_flags & VEC_ECN) &&
			             !(v->out_flags & VEC_TS));
		} else if (v->rc == 0) {
			if (v->flags & VEC_ECN)
				*(v->flags & VEC_TS ? &ecn_made : &ecn_dropped) += 1;
			/* the bit is the ECN input, the rest of the TSval the MAC's */
			if (v->flags & VEC_TS)
				assert_int_equal(v->tsval & COOKIE_TS_ECN,
				                 v->flags & VEC_ECN ? COOKIE_TS_ECN : 0);
			widx |= 1u
			        << (v->isn >> COOKIE_INFO_WSCALE_SHIFT & COOKIE_INFO_WSCALE_MASK);
			mssidx |= 1u << (v->isn >> COOKIE_INFO_MSS_SHIFT & COOKIE_INFO_MSS_MASK);
			parity |= 1u << (v->isn & COOKIE_INFO_PARITY);
		}
	}
	assert_true(fam4 > 0 && fam6 > 0);
	for (int r = 0; r < 4; r++)
		assert_true(results[r] > 0);
	assert_int_equal(widx, 0xff);
	assert_int_equal(mssidx, 0xf);
	assert_int_equal(parity, 0x3);
	assert_true(ecn_made > 0 && ecn_dropped > 0 && ecn_on > 0 && ecn_off > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lib_matches_vectors),
	    cmocka_unit_test(test_vectors_cover),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
