/*
 * SYN cookie tests: option round trips, the MAC input layout, epochs and key
 * rotation, tampering, timestamps, and the forgery rate measured against the
 * 24-bit MAC width. Keys and pseudo-random inputs come from fixed seeds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "cookie.h"

static const uint16_t mss4[COOKIE_MSS_SLOTS] = COOKIE_MSS4_DEFAULT;
static const uint16_t mss6[COOKIE_MSS_SLOTS] = COOKIE_MSS6_DEFAULT;

static const uint8_t master_a[COOKIE_MASTER_LEN] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

/* splitmix64: a fixed-seed source for the statistical tests. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_fill(uint64_t *s, uint8_t *p, size_t n)
{
	while (n > 0) {
		uint64_t r = rng_next(s);
		size_t k = n < 8 ? n : 8;

		memcpy(p, &r, k);
		p += k;
		n -= k;
	}
}

static struct pkt_tuple tuple4(void)
{
	struct pkt_tuple t = {.family = AF_INET, .sport = 40000, .dport = 443};

	memcpy(t.saddr, (const uint8_t[]){198, 51, 100, 7}, 4);
	memcpy(t.daddr, (const uint8_t[]){192, 0, 2, 1}, 4);
	return t;
}

static struct pkt_tuple tuple6(void)
{
	struct pkt_tuple t = {.family = AF_INET6, .sport = 51234, .dport = 80};
	static const uint8_t s[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
	static const uint8_t d[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

	memcpy(t.saddr, s, 16);
	memcpy(t.daddr, d, 16);
	return t;
}

/* Installs the key of epoch e the way the daemon does: derived from the master. */
static void install(struct cookie_ctx *ctx, uint32_t e)
{
	uint8_t key[COOKIE_KEY_LEN];

	cookie_derive_key(key, master_a, e);
	cookie_set_key(ctx, e, key);
}

static struct cookie_ctx *ctx_with(uint32_t e_prev, uint32_t e_cur)
{
	struct cookie_ctx *ctx = cookie_new();

	assert_non_null(ctx);
	install(ctx, e_prev);
	install(ctx, e_cur);
	return ctx;
}

/* The ACK a well-behaved client sends back for a cookie. */
struct ack {
	uint32_t seq, ack;
	struct pkt_tcpopts opt;
};

static struct ack ack_for(uint32_t client_isn, uint32_t isn, bool ts, uint32_t tsval)
{
	struct ack a = {.seq = client_isn + 1, .ack = isn + 1};

	a.opt.has_ts = ts;
	a.opt.tsval = 0x01020304;
	a.opt.tsecr = ts ? tsval : 0;
	return a;
}

static enum cookie_result check(const struct cookie_ctx *ctx, uint32_t now, const uint16_t *table,
                                const struct pkt_tuple *t, const struct ack *a,
                                struct cookie_syn *out)
{
	return cookie_check(ctx, now, table, t, a->seq, a->ack, &a->opt, out);
}

static void test_new_ctx_has_no_keys(void **state)
{
	(void)state;
	struct cookie_ctx *ctx = cookie_new();
	struct pkt_tuple t = tuple4();
	struct cookie_syn in = {.mss = 1460}, out;
	uint32_t isn, tsval;

	assert_non_null(ctx);
	assert_false(cookie_has_key(ctx, 0));
	assert_false(cookie_has_key(ctx, 1));
	assert_int_equal(cookie_make(ctx, 0, mss4, &t, 1, &in, &isn, &tsval), -1);
	struct ack a = ack_for(1, 0x12345600, false, 0);
	assert_int_equal(check(ctx, 0, mss4, &t, &a, &out), COOKIE_ENOKEY);
	cookie_free(ctx);
	cookie_free(NULL);
}

static void test_key_slots(void **state)
{
	(void)state;
	struct cookie_ctx *ctx = cookie_new();

	assert_non_null(ctx);
	install(ctx, 10);
	assert_true(cookie_has_key(ctx, 10));
	assert_false(cookie_has_key(ctx, 11));
	assert_false(cookie_has_key(ctx, 12));
	install(ctx, 11);
	assert_true(cookie_has_key(ctx, 10));
	assert_true(cookie_has_key(ctx, 11));
	install(ctx, 12); /* same slot as 10: retires it */
	assert_false(cookie_has_key(ctx, 10));
	assert_true(cookie_has_key(ctx, 11));
	assert_true(cookie_has_key(ctx, 12));
	cookie_free(ctx);
}

static void test_derive_key(void **state)
{
	(void)state;
	static const uint32_t epochs[] = {0, 1, 2, 3, 1000, 0x7fffffff, 0xfffffffe, 0xffffffff};
	enum { N = sizeof(epochs) / sizeof(epochs[0]) };
	uint8_t k[N][COOKIE_KEY_LEN], again[COOKIE_KEY_LEN], direct[COOKIE_KEY_LEN];

	for (size_t i = 0; i < N; i++) {
		cookie_derive_key(k[i], master_a, epochs[i]);
		cookie_derive_key(again, master_a, epochs[i]);
		assert_memory_equal(k[i], again, COOKIE_KEY_LEN);
		/* The contract other hosts rely on: BLAKE2b KDF, context "sgcookie", id = epoch. */
		assert_int_equal(crypto_kdf_derive_from_key(direct, COOKIE_KEY_LEN, epochs[i],
		                                            "sgcookie", master_a),
		                 0);
		assert_memory_equal(k[i], direct, COOKIE_KEY_LEN);
		for (size_t j = 0; j < i; j++)
			assert_memory_not_equal(k[i], k[j], COOKIE_KEY_LEN);
	}

	/* Any single-bit change of the master changes the key. */
	for (size_t bit = 0; bit < COOKIE_MASTER_LEN * 8; bit++) {
		uint8_t m[COOKIE_MASTER_LEN];

		memcpy(m, master_a, sizeof(m));
		m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		cookie_derive_key(again, m, 1000);
		assert_memory_not_equal(again, k[4], COOKIE_KEY_LEN);
	}
}

/*
 * Recomputes a cookie from the layout documented in cookie.h, independently of
 * the library, so the MAC input and the bit positions are pinned.
 */
static void reference_cookie(const uint8_t key[COOKIE_KEY_LEN], const struct pkt_tuple *t,
                             uint32_t client_isn, uint32_t epoch, uint8_t info, uint32_t *isn,
                             uint32_t *tsval)
{
	uint8_t in[46] = {0}, out[8];
	size_t alen = t->family == AF_INET ? 4 : 16;
	uint64_t h = 0;

	in[0] = t->family == AF_INET ? 4 : 6;
	memcpy(in + 1, t->saddr, alen);
	memcpy(in + 17, t->daddr, alen);
	in[33] = (uint8_t)(t->sport >> 8), in[34] = (uint8_t)t->sport;
	in[35] = (uint8_t)(t->dport >> 8), in[36] = (uint8_t)t->dport;
	for (int i = 0; i < 4; i++) {
		in[37 + i] = (uint8_t)(client_isn >> (24 - 8 * i));
		in[41 + i] = (uint8_t)(epoch >> (24 - 8 * i));
	}
	in[45] = info;
	crypto_shorthash_siphash24(out, in, sizeof(in), key);
	for (int i = 7; i >= 0; i--)
		h = h << 8 | out[i];
	*isn = (uint32_t)(h >> 40) << 8 | info;
	*tsval = (uint32_t)h;
}

static void test_mac_input_layout(void **state)
{
	(void)state;
	uint8_t key[COOKIE_KEY_LEN];
	struct cookie_ctx *ctx = cookie_new();
	uint32_t epoch = 777, isn, tsval, want_isn, want_ts;

	assert_non_null(ctx);
	cookie_derive_key(key, master_a, epoch);
	cookie_set_key(ctx, epoch, key);

	/* mss 1440 -> idx 2, wscale 7 -> idx 4, SACK, TS, parity 1: 10 100 1 1 1 */
	struct cookie_syn in = {
	    .mss = 1440, .wscale = 7, .has_wscale = true, .sack_ok = true, .has_ts = true};
	struct pkt_tuple t4 = tuple4(), t6 = tuple6();

	assert_int_equal(cookie_make(ctx, epoch, mss4, &t4, 0xdeadbeef, &in, &isn, &tsval), 0);
	assert_int_equal(isn & 0xff, 0xa7);
	reference_cookie(key, &t4, 0xdeadbeef, epoch, 0xa7, &want_isn, &want_ts);
	assert_int_equal(isn, want_isn);
	assert_int_equal(tsval, want_ts);

	/* Bytes past an IPv4 address are not part of it. */
	struct pkt_tuple junk = t4;
	memset(junk.saddr + 4, 0xa5, 12);
	memset(junk.daddr + 4, 0x5a, 12);
	uint32_t isn2, ts2;
	assert_int_equal(cookie_make(ctx, epoch, mss4, &junk, 0xdeadbeef, &in, &isn2, &ts2), 0);
	assert_int_equal(isn2, isn);
	assert_int_equal(ts2, tsval);

	/* mss 1220 -> idx 0, no wscale, no SACK, no TS, parity 1 */
	struct cookie_syn in6 = {.mss = 1220};
	assert_int_equal(cookie_make(ctx, epoch, mss6, &t6, 7, &in6, &isn, NULL), 0);
	assert_int_equal(isn & 0xff, 0x01);
	reference_cookie(key, &t6, 7, epoch, 0x01, &want_isn, &want_ts);
	assert_int_equal(isn, want_isn);

	/* An IPv4 tuple never hashes like the IPv6 one with the same leading bytes. */
	struct pkt_tuple as6 = t4;
	as6.family = AF_INET6;
	memset(as6.saddr + 4, 0, 12);
	memset(as6.daddr + 4, 0, 12);
	in.has_ts = false;
	assert_int_equal(cookie_make(ctx, epoch, mss4, &t4, 99, &in, &isn, NULL), 0);
	assert_int_equal(cookie_make(ctx, epoch, mss4, &as6, 99, &in, &isn2, NULL), 0);
	assert_int_not_equal(isn >> 8, isn2 >> 8);
	struct ack a = ack_for(99, isn, false, 0);
	struct cookie_syn out;
	assert_int_equal(check(ctx, epoch, mss4, &as6, &a, &out), COOKIE_EMAC);
	assert_int_equal(check(ctx, epoch, mss4, &t4, &a, &out), COOKIE_VALID);

	/* A family the cookie cannot bind is refused both ways. */
	struct pkt_tuple bad = t4;
	bad.family = 0;
	assert_int_equal(cookie_make(ctx, epoch, mss4, &bad, 99, &in, &isn2, NULL), -1);
	assert_int_equal(check(ctx, epoch, mss4, &bad, &a, &out), COOKIE_EMAC);
	cookie_free(ctx);
}

/* Client MSS -> expected table index, including values between entries. */
struct mss_case {
	uint16_t mss;
	unsigned idx;
};

static const struct mss_case mss4_cases[] = {
    {0, 0},    {1, 0},    {535, 0},  {536, 0},  {537, 0},   {1299, 0},
    {1300, 1}, {1301, 1}, {1439, 1}, {1440, 2}, {1441, 2},  {1459, 2},
    {1460, 3}, {1461, 3}, {8940, 3}, {9000, 3}, {65535, 3},
};

static const struct mss_case mss6_cases[] = {
    {0, 0},    {536, 0},  {1219, 0}, {1220, 0}, {1221, 0},  {1419, 0},
    {1420, 1}, {1421, 1}, {1439, 1}, {1440, 2}, {1441, 2},  {1460, 2},
    {8939, 2}, {8940, 3}, {8941, 3}, {9000, 3}, {65535, 3},
};

/* Client window scale (-1: option absent) -> expected index and granted shift. */
struct ws_case {
	int ws;
	unsigned idx;
	uint8_t granted;
};

static const struct ws_case ws_cases[] = {
    {-1, 0, 0},  {0, 1, 0},   {1, 1, 0},   {2, 1, 0},   {3, 1, 0},   {4, 2, 4},
    {5, 2, 4},   {6, 3, 6},   {7, 4, 7},   {8, 5, 8},   {9, 6, 9},   {10, 7, 10},
    {11, 7, 10}, {13, 7, 10}, {14, 7, 10}, {15, 7, 10}, {16, 7, 10}, {255, 7, 10},
};

static void round_trip_family(const struct pkt_tuple *t, const uint16_t *table,
                              const struct mss_case *mc, size_t nmc, unsigned *count)
{
	for (uint32_t epoch = 40; epoch <= 41; epoch++) {
		struct cookie_ctx *ctx = ctx_with(epoch - 1, epoch);

		for (size_t m = 0; m < nmc; m++) {
			for (size_t w = 0; w < sizeof(ws_cases) / sizeof(ws_cases[0]); w++) {
				for (unsigned flags = 0; flags < 4; flags++) {
					const struct ws_case *wc = &ws_cases[w];
					struct cookie_syn in = {
					    .mss = mc[m].mss,
					    .wscale = wc->ws < 0 ? 0 : (uint8_t)wc->ws,
					    .has_wscale = wc->ws >= 0,
					    .sack_ok = flags & 1,
					    .has_ts = flags & 2,
					};
					uint32_t cisn =
					    0x9e3779b9u * (uint32_t)(m * 131 + w * 7 + flags);
					uint32_t isn, tsval = 0;
					struct cookie_syn out;

					assert_int_equal(cookie_make(ctx, epoch, table, t, cisn,
					                             &in, &isn, &tsval),
					                 0);
					uint8_t want = (uint8_t)(mc[m].idx << 6 | wc->idx << 3 |
					                         (in.sack_ok ? 4 : 0) |
					                         (in.has_ts ? 2 : 0) | (epoch & 1));
					assert_int_equal(isn & 0xff, want);

					struct ack a = ack_for(cisn, isn, in.has_ts, tsval);
					memset(&out, 0xee, sizeof(out));
					/* Valid in its own epoch and in the next one. */
					for (uint32_t now = epoch; now <= epoch + 1; now++) {
						if (now == epoch + 1)
							install(ctx, now);
						assert_int_equal(
						    check(ctx, now, table, t, &a, &out),
						    COOKIE_VALID);
						assert_int_equal(out.mss, table[mc[m].idx]);
						assert_int_equal(out.has_wscale, wc->ws >= 0);
						assert_int_equal(out.wscale, wc->granted);
						assert_int_equal(out.sack_ok, in.sack_ok);
						assert_int_equal(out.has_ts, in.has_ts);
					}
					install(ctx, epoch - 1);
					(*count)++;
				}
			}
		}
		cookie_free(ctx);
	}
}

static void test_round_trip(void **state)
{
	(void)state;
	struct pkt_tuple t4 = tuple4(), t6 = tuple6();
	unsigned n = 0;

	round_trip_family(&t4, mss4, mss4_cases, sizeof(mss4_cases) / sizeof(mss4_cases[0]), &n);
	round_trip_family(&t6, mss6, mss6_cases, sizeof(mss6_cases) / sizeof(mss6_cases[0]), &n);
	print_message("round trip: %u option combinations (IPv4 + IPv6, both epoch parities)\n", n);
	assert_int_equal(n, 2 * 2 * 17 * (sizeof(ws_cases) / sizeof(ws_cases[0])) * 4);
}

/*
 * Key rotation as the daemon does it: on entering epoch n it installs the key
 * of n, which retires the key of n - 2.
 */
static void expiry_from(uint32_t e)
{
	struct cookie_ctx *ctx = ctx_with(e - 1, e);
	struct pkt_tuple t = tuple6();
	struct cookie_syn in = {.mss = 1440, .wscale = 7, .has_wscale = true, .sack_ok = true};
	struct cookie_syn out;
	uint32_t isn, isn_next;

	assert_int_equal(cookie_make(ctx, e, mss6, &t, 1234, &in, &isn, NULL), 0);
	struct ack a = ack_for(1234, isn, false, 0);

	assert_int_equal(check(ctx, e, mss6, &t, &a, &out), COOKIE_VALID);
	/* The clock has moved on but the new key is not installed yet. */
	assert_int_equal(check(ctx, e + 1, mss6, &t, &a, &out), COOKIE_VALID);
	/*
	 * A cookie from e + 1 checked by a clock still in e names e - 1, whose
	 * key is live: a MAC mismatch. Without the key of e - 1 there is none.
	 */
	struct cookie_ctx *ahead = ctx_with(e, e + 1);
	uint32_t isn_ahead;
	assert_int_equal(cookie_make(ahead, e + 1, mss6, &t, 1234, &in, &isn_ahead, NULL), 0);
	cookie_free(ahead);
	struct ack fut = ack_for(1234, isn_ahead, false, 0);
	assert_int_equal(check(ctx, e, mss6, &t, &fut, &out), COOKIE_EMAC);
	struct cookie_ctx *lone = cookie_new();
	assert_non_null(lone);
	install(lone, e);
	assert_int_equal(check(lone, e, mss6, &t, &fut, &out), COOKIE_ENOKEY);
	assert_int_equal(check(lone, e, mss6, &t, &a, &out), COOKIE_VALID);
	cookie_free(lone);

	/* First rotation: the key of e is still live. */
	install(ctx, e + 1);
	assert_int_equal(check(ctx, e + 1, mss6, &t, &a, &out), COOKIE_VALID);
	assert_int_equal(cookie_make(ctx, e + 1, mss6, &t, 1234, &in, &isn_next, NULL), 0);
	struct ack next = ack_for(1234, isn_next, false, 0);

	/* Epoch e + 2 before its key is installed: no key for the epoch the parity names. */
	assert_int_equal(check(ctx, e + 2, mss6, &t, &a, &out), COOKIE_ENOKEY);

	/*
	 * Second rotation retires e's key. With one parity bit an e cookie now
	 * names epoch e + 2, whose key is live, so it fails as a MAC mismatch:
	 * after rotation it is indistinguishable from a forgery.
	 */
	install(ctx, e + 2);
	assert_false(cookie_has_key(ctx, e));
	assert_int_not_equal(check(ctx, e + 2, mss6, &t, &a, &out), COOKIE_VALID);
	assert_int_equal(check(ctx, e + 2, mss6, &t, &a, &out), COOKIE_EMAC);
	/* The cookie of e + 1 survives exactly one rotation. */
	assert_int_equal(check(ctx, e + 2, mss6, &t, &next, &out), COOKIE_VALID);

	install(ctx, e + 3);
	assert_int_equal(check(ctx, e + 3, mss6, &t, &a, &out), COOKIE_EMAC);
	assert_int_equal(check(ctx, e + 3, mss6, &t, &next, &out), COOKIE_EMAC);

	/* A stalled rotation never revives a retired key: e + 2 was skipped. */
	struct cookie_ctx *gap = ctx_with(e - 1, e);
	install(gap, e + 3);
	assert_int_equal(check(gap, e + 3, mss6, &t, &a, &out), COOKIE_ENOKEY);
	assert_int_equal(check(gap, e + 4, mss6, &t, &a, &out), COOKIE_ENOKEY);
	cookie_free(gap);
	cookie_free(ctx);
}

static void test_expiry_window(void **state)
{
	(void)state;
	expiry_from(100);
	expiry_from(101);
	expiry_from(1); /* e - 1 is 0 */
	expiry_from(0xfffffffd);
}

static void test_epoch_wraps(void **state)
{
	(void)state;
	struct cookie_ctx *ctx = ctx_with(0xfffffffe, 0xffffffff);
	struct pkt_tuple t = tuple4();
	struct cookie_syn in = {.mss = 1460}, out;
	uint32_t isn;

	assert_int_equal(cookie_make(ctx, 0xffffffff, mss4, &t, 5, &in, &isn, NULL), 0);
	struct ack a = ack_for(5, isn, false, 0);
	install(ctx, 0);
	assert_int_equal(check(ctx, 0, mss4, &t, &a, &out), COOKIE_VALID);
	install(ctx, 1);
	assert_int_equal(check(ctx, 1, mss4, &t, &a, &out), COOKIE_EMAC);
	cookie_free(ctx);
}

static void tamper_family(const struct pkt_tuple *t0, const uint16_t *table)
{
	const uint32_t e = 501, cisn = 0xfffffffe; /* seq = client ISN + 1 wraps */
	struct cookie_ctx *ctx = ctx_with(e - 1, e);
	struct cookie_syn in = {.mss = table[2], .wscale = 8, .has_wscale = true, .sack_ok = true};
	struct cookie_syn out;
	size_t alen = t0->family == AF_INET ? 4 : 16;
	uint32_t isn;
	unsigned n = 0;

	for (int ts = 0; ts <= 1; ts++) {
		uint32_t tsval;

		in.has_ts = ts;
		assert_int_equal(cookie_make(ctx, e, table, t0, cisn, &in, &isn, &tsval), 0);
		const struct ack good = ack_for(cisn, isn, ts, tsval);
		struct ack a;
		struct pkt_tuple t;

		assert_int_equal(check(ctx, e, table, t0, &good, &out), COOKIE_VALID);

#define EXPECT_EMAC(tp, ap)                                                                        \
	do {                                                                                       \
		assert_int_equal(check(ctx, e, table, tp, ap, &out), COOKIE_EMAC);                 \
		n++;                                                                               \
	} while (0)

		t = *t0;
		t.sport++;
		EXPECT_EMAC(&t, &good);
		t = *t0;
		t.dport++;
		EXPECT_EMAC(&t, &good);
		t = *t0;
		t.sport = t0->dport;
		t.dport = t0->sport;
		EXPECT_EMAC(&t, &good);
		t = *t0;
		memcpy(t.saddr, t0->daddr, 16);
		memcpy(t.daddr, t0->saddr, 16);
		EXPECT_EMAC(&t, &good);
		for (size_t bit = 0; bit < alen * 8; bit++) {
			t = *t0;
			t.saddr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			EXPECT_EMAC(&t, &good);
			t = *t0;
			t.daddr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			EXPECT_EMAC(&t, &good);
		}
		/* The client ISN is bound: any other sequence number fails. */
		for (int bit = 0; bit < 32; bit++) {
			a = good;
			a.seq ^= 1u << bit;
			EXPECT_EMAC(t0, &a);
		}
		/* Every ISN bit, info bits included (the parity bit names the other live key). */
		for (int bit = 0; bit < 32; bit++) {
			a = good;
			a.ack = ((good.ack - 1) ^ (1u << bit)) + 1;
			EXPECT_EMAC(t0, &a);
		}
		/* Off-by-one acknowledgment numbers. */
		a = good;
		a.ack++;
		EXPECT_EMAC(t0, &a);
		a = good;
		a.ack--;
		EXPECT_EMAC(t0, &a);
#undef EXPECT_EMAC
		/* Another key under the same epoch. */
		uint8_t other[COOKIE_KEY_LEN];
		struct cookie_ctx *ctx2 = cookie_new();
		assert_non_null(ctx2);
		memset(other, 0x42, sizeof(other));
		cookie_set_key(ctx2, e, other);
		assert_int_equal(check(ctx2, e, table, t0, &good, &out), COOKIE_EMAC);
		n++;
		cookie_free(ctx2);
	}
	print_message("tamper (%s): %u modified ACKs, all COOKIE_EMAC\n",
	              t0->family == AF_INET ? "IPv4" : "IPv6", n);
	cookie_free(ctx);
}

static void test_tamper(void **state)
{
	(void)state;
	struct pkt_tuple t4 = tuple4(), t6 = tuple6();

	tamper_family(&t4, mss4);
	tamper_family(&t6, mss6);
}

static void test_timestamps(void **state)
{
	(void)state;
	const uint32_t e = 9;
	struct cookie_ctx *ctx = ctx_with(e - 1, e);
	struct pkt_tuple t = tuple4();
	struct cookie_syn in = {.mss = 1460, .sack_ok = true, .has_ts = true}, out;
	uint32_t isn, tsval, isn2, tsval2;

	assert_int_equal(cookie_make(ctx, e, mss4, &t, 42, &in, &isn, &tsval), 0);
	/* The TSval is the hash's other half: it changes with the tuple like the ISN. */
	t.sport++;
	assert_int_equal(cookie_make(ctx, e, mss4, &t, 42, &in, &isn2, &tsval2), 0);
	assert_int_not_equal(tsval, tsval2);
	t.sport--;

	struct ack a = ack_for(42, isn, true, tsval);
	assert_int_equal(check(ctx, e, mss4, &t, &a, &out), COOKIE_VALID);
	assert_true(out.has_ts);

	struct ack bad = a;
	bad.opt.has_ts = false;
	assert_int_equal(check(ctx, e, mss4, &t, &bad, &out), COOKIE_ETS);
	assert_int_equal(cookie_check(ctx, e, mss4, &t, a.seq, a.ack, NULL, &out), COOKIE_ETS);
	/* every bit but the ECN bit is MAC (cookie.h; test_ecn has that one) */
	for (int bit = 0; bit < 32; bit++) {
		if (1u << bit == COOKIE_TS_ECN)
			continue;
		bad = a, bad.opt.tsecr ^= 1u << bit;
		assert_int_equal(check(ctx, e, mss4, &t, &bad, &out), COOKIE_ETS);
	}
	bad = a, bad.opt.tsecr = 0;
	assert_int_equal(check(ctx, e, mss4, &t, &bad, &out), COOKIE_ETS);
	/* The TSval the ACK carries is the client's own clock: not checked. */
	bad = a, bad.opt.tsval = ~a.opt.tsval;
	assert_int_equal(check(ctx, e, mss4, &t, &bad, &out), COOKIE_VALID);

	/* Timestamps not negotiated: whatever the ACK carries is ignored. */
	in.has_ts = false;
	assert_int_equal(cookie_make(ctx, e, mss4, &t, 42, &in, &isn, NULL), 0);
	a = ack_for(42, isn, false, 0);
	assert_int_equal(check(ctx, e, mss4, &t, &a, &out), COOKIE_VALID);
	assert_false(out.has_ts);
	a.opt.has_ts = true, a.opt.tsecr = 0x55555555;
	assert_int_equal(check(ctx, e, mss4, &t, &a, &out), COOKIE_VALID);
	assert_int_equal(cookie_check(ctx, e, mss4, &t, a.seq, a.ack, NULL, &out), COOKIE_VALID);
	cookie_free(ctx);
}

/*
 * ECN rides in the TSval's ECN bit (cookie.h): the ISN and the other 31 TSval bits are those
 * of the same cookie without ECN, the ACK's echo of the bit is what the check reports (not
 * authenticated), and without timestamps ECN is never agreed.
 */
static void ecn_family(const struct pkt_tuple *t, const uint16_t *table)
{
	const uint32_t e = 31;
	struct cookie_ctx *ctx = ctx_with(e - 1, e);
	struct cookie_syn in = {.mss = 1460, .wscale = 7, .has_wscale = true, .has_ts = true}, out;
	uint32_t isn, tsval, isn_ecn, tsval_ecn;

	assert_int_equal(cookie_make(ctx, e, table, t, 7, &in, &isn, &tsval), 0);
	in.ecn = true;
	assert_int_equal(cookie_make(ctx, e, table, t, 7, &in, &isn_ecn, &tsval_ecn), 0);
	assert_int_equal(isn_ecn, isn);
	assert_int_equal(tsval & COOKIE_TS_ECN, 0);
	assert_int_equal(tsval_ecn, tsval | COOKIE_TS_ECN);

	struct ack a = ack_for(7, isn, true, tsval_ecn);
	assert_int_equal(check(ctx, e, table, t, &a, &out), COOKIE_VALID);
	assert_true(out.has_ts);
	assert_true(out.ecn);
	a = ack_for(7, isn, true, tsval);
	memset(&out, 0xff, sizeof(out));
	assert_int_equal(check(ctx, e, table, t, &a, &out), COOKIE_VALID);
	assert_false(out.ecn);
	/* the bit does not stand in for the MAC bits around it */
	a = ack_for(7, isn, true, tsval_ecn ^ 2);
	assert_int_equal(check(ctx, e, table, t, &a, &out), COOKIE_ETS);

	/* No timestamps: nothing carries ECN; the cookie is the plain one. */
	in.has_ts = false;
	assert_int_equal(cookie_make(ctx, e, table, t, 7, &in, &isn_ecn, NULL), 0);
	in.ecn = false;
	assert_int_equal(cookie_make(ctx, e, table, t, 7, &in, &isn, NULL), 0);
	assert_int_equal(isn_ecn, isn);
	a = ack_for(7, isn, true, COOKIE_TS_ECN);
	memset(&out, 0xff, sizeof(out));
	assert_int_equal(check(ctx, e, table, t, &a, &out), COOKIE_VALID);
	assert_false(out.has_ts);
	assert_false(out.ecn);
	cookie_free(ctx);
}

static void test_ecn(void **state)
{
	(void)state;
	struct pkt_tuple t4 = tuple4(), t6 = tuple6();

	ecn_family(&t4, mss4);
	ecn_family(&t6, mss6);
}

/*
 * Smallest k with P(X > k) < p for X ~ Poisson(lambda): the binomial count of
 * successes at a 2^-24 rate over millions of tries is Poisson to many digits.
 */
static unsigned poisson_upper(double lambda, double p)
{
	double pmf = exp(-lambda), cdf = pmf;
	unsigned k = 0;

	while (1.0 - cdf >= p) {
		k++;
		pmf *= lambda / k;
		cdf += pmf;
	}
	return k;
}

static void random_tuple(uint64_t *rng, struct pkt_tuple *t)
{
	uint64_t r = rng_next(rng);

	rng_fill(rng, t->saddr, 16);
	rng_fill(rng, t->daddr, 16);
	t->family = (r & 1) ? AF_INET6 : AF_INET;
	t->sport = (uint16_t)(r >> 8);
	t->dport = (uint16_t)(r >> 24);
}

/*
 * Random ACKs against a context holding both live keys. Every one of the 256
 * info bytes decodes, so a random ACK passes the MAC with probability 2^-24;
 * half of them also carry the TS bit and then need the 32-bit TSecr too.
 */
static void test_random_ack_acceptance(void **state)
{
	(void)state;
	const uint32_t e = 3000;
	const unsigned tries = 1u << 26;
	struct cookie_ctx *ctx = ctx_with(e - 1, e);
	uint64_t rng = 0x5eed0001;
	unsigned count[4] = {0};
	struct cookie_syn out;

	for (unsigned i = 0; i < tries; i++) {
		struct pkt_tuple t;
		struct pkt_tcpopts opt = {0};
		uint64_t r = rng_next(&rng);

		random_tuple(&rng, &t);
		opt.has_ts = r & 1;
		opt.tsecr = (uint32_t)(r >> 32);
		uint32_t seq = (uint32_t)rng_next(&rng), ack = (uint32_t)rng_next(&rng);
		count[cookie_check(ctx, e, t.family == AF_INET ? mss4 : mss6, &t, seq, ack, &opt,
		                   &out)]++;
	}

	unsigned mac_pass = count[COOKIE_VALID] + count[COOKIE_ETS];
	double lambda = tries / 16777216.0;
	unsigned bound = poisson_upper(lambda, 1e-9);

	print_message("random ACKs: %u tries, %u passed the 24-bit MAC (rate %.3g, expected "
	              "%.3g = 2^-24, bound %u), %u accepted, %u ENOKEY\n",
	              tries, mac_pass, (double)mac_pass / tries, 1.0 / 16777216.0, bound,
	              count[COOKIE_VALID], count[COOKIE_ENOKEY]);
	assert_int_equal(count[COOKIE_ENOKEY], 0);
	assert_true(mac_pass <= bound);
	assert_true(count[COOKIE_VALID] <= mac_pass);
	cookie_free(ctx);
}

/* For one tuple and fixed info bits, exactly one of the 2^24 MAC values is accepted. */
static void exhaust(const struct pkt_tuple *t, const uint16_t *table, uint32_t e,
                    const struct cookie_syn *in)
{
	struct cookie_ctx *ctx = ctx_with(e - 1, e);
	uint32_t isn, tsval = 0;
	unsigned valid = 0, other = 0, found = 0;
	struct cookie_syn out;

	assert_int_equal(cookie_make(ctx, e, table, t, 0x31337, in, &isn, &tsval), 0);
	struct ack a = ack_for(0x31337, isn, in->has_ts, tsval);
	uint32_t info = isn & 0xff;

	for (uint32_t m = 0; m < (1u << 24); m++) {
		enum cookie_result r =
		    cookie_check(ctx, e, table, t, a.seq, (m << 8 | info) + 1, &a.opt, &out);

		if (r == COOKIE_VALID)
			valid++, found = m;
		else if (r != COOKIE_EMAC)
			other++;
	}
	print_message("exhaustive %s, info 0x%02x: %u of 2^24 MAC values accepted\n",
	              t->family == AF_INET ? "IPv4" : "IPv6", info, valid);
	assert_int_equal(valid, 1);
	assert_int_equal(other, 0);
	assert_int_equal(found, isn >> 8);
	cookie_free(ctx);
}

static void test_exhaustive_mac_space(void **state)
{
	(void)state;
	struct pkt_tuple t4 = tuple4(), t6 = tuple6();
	struct cookie_syn plain = {.mss = 536};
	struct cookie_syn full = {
	    .mss = 9000, .wscale = 7, .has_wscale = true, .sack_ok = true, .has_ts = true};

	exhaust(&t4, mss4, 20, &plain);
	exhaust(&t6, mss6, 21, &full);
}

/* Each MAC bit of the ISN and the TSval is set in about half of many cookies; the TSval's
 * ECN bit is the ECN input, asked for in every other cookie. */
static void test_mac_bit_balance(void **state)
{
	(void)state;
	const uint32_t e = 77;
	const unsigned n = 1u << 20;
	struct cookie_ctx *ctx = ctx_with(e - 1, e);
	struct cookie_syn in = {.mss = 1460, .wscale = 7, .has_wscale = true, .has_ts = true};
	unsigned ones[56] = {0}, ecn_ones = 0;

	_Static_assert(COOKIE_TS_ECN == 1, "ones[24] counts the ECN bit");
	uint64_t rng = 0x5eed0002;

	for (unsigned i = 0; i < n; i++) {
		struct pkt_tuple t;
		uint32_t isn, tsval;

		random_tuple(&rng, &t);
		in.ecn = i & 1;
		assert_int_equal(
		    cookie_make(ctx, e, mss4, &t, (uint32_t)rng_next(&rng), &in, &isn, &tsval), 0);
		for (int b = 0; b < 24; b++)
			ones[b] += isn >> (8 + b) & 1;
		for (int b = 0; b < 32; b++)
			ones[24 + b] += tsval >> b & 1;
		assert_int_equal(tsval & COOKIE_TS_ECN, in.ecn ? COOKIE_TS_ECN : 0);
		ecn_ones += in.ecn;
	}
	assert_int_equal(ones[24], ecn_ones);

	double sigma = sqrt(n) / 2, worst = 0;

	for (int b = 0; b < 56; b++) {
		if (b == 24) /* the ECN bit, checked above */
			continue;
		double z = fabs(ones[b] - n / 2.0) / sigma;

		if (z > worst)
			worst = z;
		assert_true(z < 6.0);
	}
	print_message("bit balance: %u cookies, 24 MAC + 31 TSval bits, worst deviation %.2f "
	              "sigma\n",
	              n, worst);
	cookie_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_ctx_has_no_keys),
	    cmocka_unit_test(test_key_slots),
	    cmocka_unit_test(test_derive_key),
	    cmocka_unit_test(test_mac_input_layout),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_expiry_window),
	    cmocka_unit_test(test_epoch_wraps),
	    cmocka_unit_test(test_tamper),
	    cmocka_unit_test(test_timestamps),
	    cmocka_unit_test(test_ecn),
	    cmocka_unit_test(test_random_ack_acceptance),
	    cmocka_unit_test(test_exhaustive_mac_space),
	    cmocka_unit_test(test_mac_bit_balance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
