/*
 * Fuzz target: SYN cookies with fixed keys.
 *
 * The input is cut into the fields of a handshake: tuple (family chosen from
 * a byte, so unknown families are tried too), client ISN, the ACK's sequence
 * and acknowledgment numbers, its options, the epochs and an MSS table.
 * - cookie_check() on the arbitrary ACK must not crash, must return a known
 *   result, and a VALID one must decode to parameters the ISN layout can
 *   hold (an MSS of the table, a window scale of COOKIE_WSCALE_TABLE);
 * - a cookie made for the SYN must validate for the matching ACK while its
 *   epoch is current or previous, must decode to what was granted (rounded
 *   down to the tables, ECN only with timestamps), and must fail for a
 *   different ACK sequence number when timestamps make the MAC 55 bits long
 *   (24 bits alone would let a fuzzer find a collision by chance); the
 *   TSecr's ECN bit flipped still validates, with ECN flipped.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cookie.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

struct reader {
	const uint8_t *p;
	size_t left;
};

/* Takes n bytes (zeros once the input runs out). */
static void take(struct reader *r, void *out, size_t n)
{
	size_t k = n < r->left ? n : r->left;

	memset(out, 0, n);
	memcpy(out, r->p, k);
	r->p += k;
	r->left -= k;
}

static uint8_t u8(struct reader *r)
{
	uint8_t v;

	take(r, &v, 1);
	return v;
}

static uint16_t u16(struct reader *r)
{
	uint16_t v;

	take(r, &v, 2);
	return v;
}

static uint32_t u32(struct reader *r)
{
	uint32_t v;

	take(r, &v, 4);
	return v;
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static const uint8_t wscale_table[] = COOKIE_WSCALE_TABLE;

static bool in_mss_table(const uint16_t table[4], uint16_t mss)
{
	for (int i = 0; i < 4; i++)
		if (table[i] == mss)
			return true;
	return false;
}

static bool in_wscale_table(uint8_t ws)
{
	for (size_t i = 0; i < sizeof(wscale_table); i++)
		if (wscale_table[i] == ws)
			return true;
	return false;
}

/* What a cookie should decode to for the options granted. */
static void expected(const uint16_t table[4], const struct cookie_syn *in, struct cookie_syn *out)
{
	int i = 3;

	while (i > 0 && table[i] > in->mss)
		i--;
	out->mss = table[i];
	out->has_wscale = in->has_wscale;
	out->wscale = 0;
	if (in->has_wscale) {
		size_t j = sizeof(wscale_table) - 1;

		while (j > 0 && wscale_table[j] > in->wscale)
			j--;
		out->wscale = wscale_table[j];
	}
	out->sack_ok = in->sack_ok;
	out->has_ts = in->has_ts;
	out->ecn = in->has_ts && in->ecn; /* only timestamps carry it */
}

static struct cookie_ctx *ctx;
static uint32_t key_epoch; /* keys for key_epoch and key_epoch + 1 are installed */

static void setup(uint32_t base)
{
	uint8_t key[COOKIE_KEY_LEN];

	if (!ctx)
		ctx = cookie_new();
	if (!ctx)
		abort();
	key_epoch = base;
	for (uint32_t e = base; e != base + 2; e++) {
		for (size_t i = 0; i < sizeof(key); i++)
			key[i] = (uint8_t)(0x5a ^ i ^ (e * 31));
		cookie_set_key(ctx, e, key);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = {data, size};
	static const uint16_t mss4[4] = COOKIE_MSS4_DEFAULT;
	uint16_t table[4];
	struct pkt_tuple t;
	struct pkt_tcpopts opt;
	struct cookie_syn in, out, want;
	uint32_t client_isn, seq, ack, now, isn, tsval;
	uint8_t fam, mode;
	enum cookie_result res;

	/* the keys' epochs move with the input too: parity and wrap-around at 2^32 */
	setup(u32(&r));

	memset(&t, 0, sizeof(t));
	fam = u8(&r);
	t.family = fam < 0x80 ? AF_INET : fam < 0xf0 ? AF_INET6 : fam;
	take(&r, t.saddr, 16);
	take(&r, t.daddr, 16);
	t.sport = u16(&r);
	t.dport = u16(&r);
	client_isn = u32(&r);
	seq = u32(&r);
	ack = u32(&r);
	memset(&opt, 0, sizeof(opt));
	mode = u8(&r);
	opt.has_ts = mode & 1;
	opt.tsval = u32(&r);
	opt.tsecr = u32(&r);
	now = key_epoch + (mode >> 1 & 3); /* -> key_epoch .. key_epoch + 3 */
	if (mode & 0x80) {
		memcpy(table, mss4, sizeof(table));
	} else {
		for (int i = 0; i < 4; i++)
			table[i] = u16(&r);
		qsort(table, 4, sizeof(table[0]), cmp_u16);
	}

	/* 1. an arbitrary ACK */
	memset(&out, 0, sizeof(out));
	res = cookie_check(ctx, now, table, &t, seq, ack, (mode & 0x40) ? NULL : &opt, &out);
	CHECK(res == COOKIE_VALID || res == COOKIE_ENOKEY || res == COOKIE_EMAC ||
	      res == COOKIE_ETS);
	if (res == COOKIE_VALID) {
		CHECK(in_mss_table(table, out.mss));
		CHECK(out.has_wscale ? in_wscale_table(out.wscale) : out.wscale == 0);
		CHECK(t.family == AF_INET || t.family == AF_INET6);
	}

	/* 2. make a cookie for the SYN, then check the ACK that completes it */
	memset(&in, 0, sizeof(in));
	in.mss = u16(&r);
	in.wscale = u8(&r);
	in.has_wscale = in.wscale & 0x80 ? false : true;
	in.wscale &= 0x3f;
	{
		uint8_t f = u8(&r);

		in.sack_ok = f & 1;
		in.has_ts = f & 2;
		in.ecn = f & 4;
	}
	for (uint32_t e = key_epoch; e != key_epoch + 2; e++) {
		int rc = cookie_make(ctx, e, table, &t, client_isn, &in, &isn, &tsval);

		if (t.family != AF_INET && t.family != AF_INET6) {
			CHECK(rc == -1);
			continue;
		}
		CHECK(rc == 0);
		memset(&opt, 0, sizeof(opt));
		opt.has_ts = in.has_ts;
		opt.tsecr = tsval;
		expected(table, &in, &want);
		/* valid in its own epoch and the next (whose check picks epoch - 1 by parity) */
		for (uint32_t n = e; n != e + 2; n++) {
			res = cookie_check(ctx, n, table, &t, client_isn + 1, isn + 1, &opt, &out);
			CHECK(res == COOKIE_VALID);
			CHECK(out.mss == want.mss && out.has_wscale == want.has_wscale &&
			      out.wscale == want.wscale && out.sack_ok == want.sack_ok &&
			      out.has_ts == want.has_ts && out.ecn == want.ecn);
		}
		if (in.has_ts) {
			/* a wrong sequence number changes the client ISN bound into the MAC */
			res = cookie_check(ctx, e, table, &t, client_isn + 2, isn + 1, &opt, &out);
			CHECK(res != COOKIE_VALID);
			/* the ECN bit is not authenticated: flipped, the ACK says the other */
			opt.tsecr = tsval ^ COOKIE_TS_ECN;
			res = cookie_check(ctx, e, table, &t, client_isn + 1, isn + 1, &opt, &out);
			CHECK(res == COOKIE_VALID && out.ecn != want.ecn);
			/* a missing or wrong echo fails the timestamp half of the MAC */
			opt.tsecr = tsval ^ 2;
			res = cookie_check(ctx, e, table, &t, client_isn + 1, isn + 1, &opt, &out);
			CHECK(res == COOKIE_ETS);
			res = cookie_check(ctx, e, table, &t, client_isn + 1, isn + 1, NULL, &out);
			CHECK(res == COOKIE_ETS);
		}
	}
	return 0;
}
