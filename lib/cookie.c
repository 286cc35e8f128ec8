/*
 * SYN cookies: see cookie.h for the ISN layout, the MAC input and the epoch
 * rules.
 *
 * Hot path: cookie_make() and cookie_check() run once per SYN / handshake ACK
 * of a flood. Each builds the fixed 46-byte MAC input on the stack and runs
 * exactly one SipHash-2-4 (cookie_check() none at all when the key is gone):
 * no allocation.
 *
 * libsodium initialisation: neither crypto_shorthash_siphash24() nor
 * crypto_kdf_derive_from_key() needs sodium_init(). SipHash has a single
 * portable implementation, and the BLAKE2b behind the KDF starts with its
 * portable compression function; sodium_init() only swaps in a faster one.
 * Calling it here would touch process-wide state (CPU probing, the random
 * source), which this library does not do; that is for the daemon, once at
 * startup before its threads, as it needs the random source for the master.
 */
#include "cookie.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "bytes.h"

_Static_assert(crypto_shorthash_siphash24_KEYBYTES == COOKIE_KEY_LEN, "SipHash key size");
_Static_assert(crypto_shorthash_siphash24_BYTES == 8, "SipHash output size");
_Static_assert(crypto_kdf_KEYBYTES == COOKIE_MASTER_LEN, "KDF master size");
_Static_assert(crypto_kdf_BYTES_MIN <= COOKIE_KEY_LEN && COOKIE_KEY_LEN <= crypto_kdf_BYTES_MAX,
               "KDF subkey size");

/* The KDF context: exactly crypto_kdf_CONTEXTBYTES (8) characters, no NUL needed. */
static const char kdf_context[crypto_kdf_CONTEXTBYTES] = {'s', 'g', 'c', 'o', 'o', 'k', 'i', 'e'};

/* Short names for the layout of the ISN's low byte (cookie_layout.h). */
#define INFO_MSS_SHIFT    COOKIE_INFO_MSS_SHIFT
#define INFO_MSS_MASK     COOKIE_INFO_MSS_MASK
#define INFO_WSCALE_SHIFT COOKIE_INFO_WSCALE_SHIFT
#define INFO_WSCALE_MASK  COOKIE_INFO_WSCALE_MASK
#define INFO_SACK         COOKIE_INFO_SACK
#define INFO_TS           COOKIE_INFO_TS
#define INFO_PARITY       COOKIE_INFO_PARITY

static const uint8_t wscale_table[] = COOKIE_WSCALE_TABLE;
_Static_assert(sizeof(wscale_table) == INFO_WSCALE_MASK, "window scale indexes 1..7");
_Static_assert(sizeof(wscale_table) == COOKIE_WSCALE_SLOTS, "window scale table size");
_Static_assert(COOKIE_MSS4_FIRST == PKT_DEFAULT_MSS4 && COOKIE_MSS6_FIRST == PKT_DEFAULT_MSS6,
               "the default tables start at the protocol's default MSS");

/* The MAC input: see cookie_layout.h for its fixed 46-byte layout. */
#define MAC_IN_LEN COOKIE_IN_LEN

struct key_slot {
	uint8_t key[COOKIE_KEY_LEN];
	uint32_t epoch;
	bool live; /* epoch 0 is a valid epoch, so an empty slot needs its own flag */
};

struct cookie_ctx {
	struct key_slot slot[2]; /* indexed by epoch & 1 */
};

struct cookie_ctx *cookie_new(void)
{
	return calloc(1, sizeof(struct cookie_ctx));
}

void cookie_free(struct cookie_ctx *ctx)
{
	if (ctx == NULL)
		return;
	sodium_memzero(ctx, sizeof(*ctx));
	free(ctx);
}

void cookie_set_key(struct cookie_ctx *ctx, uint32_t epoch, const uint8_t key[COOKIE_KEY_LEN])
{
	struct key_slot *s = &ctx->slot[epoch & 1];

	memcpy(s->key, key, COOKIE_KEY_LEN);
	s->epoch = epoch;
	s->live = true;
}

void cookie_derive_key(uint8_t key[COOKIE_KEY_LEN], const uint8_t master[COOKIE_MASTER_LEN],
                       uint32_t epoch)
{
	/* Cannot fail: every size it checks is fixed by the static assertions above. */
	(void)crypto_kdf_derive_from_key(key, COOKIE_KEY_LEN, epoch, kdf_context, master);
}

static const struct key_slot *live_slot(const struct cookie_ctx *ctx, uint32_t epoch)
{
	const struct key_slot *s = &ctx->slot[epoch & 1];

	return s->live && s->epoch == epoch ? s : NULL;
}

bool cookie_has_key(const struct cookie_ctx *ctx, uint32_t epoch)
{
	return live_slot(ctx, epoch) != NULL;
}

/* Returns false for an address family the cookie cannot bind. */
static bool mac(const struct key_slot *s, const struct pkt_tuple *t, uint32_t client_isn,
                uint8_t info, uint64_t *hash)
{
	uint8_t in[MAC_IN_LEN];
	uint8_t out[crypto_shorthash_siphash24_BYTES];

	memset(in, 0, sizeof(in));
	if (t->family == AF_INET) {
		in[COOKIE_IN_FAMILY] = COOKIE_IN_FAMILY4;
		memcpy(in + COOKIE_IN_SADDR, t->saddr, 4);
		memcpy(in + COOKIE_IN_DADDR, t->daddr, 4);
	} else if (t->family == AF_INET6) {
		in[COOKIE_IN_FAMILY] = COOKIE_IN_FAMILY6;
		memcpy(in + COOKIE_IN_SADDR, t->saddr, 16);
		memcpy(in + COOKIE_IN_DADDR, t->daddr, 16);
	} else {
		return false;
	}
	bytes_put_be16(in + COOKIE_IN_SPORT, t->sport);
	bytes_put_be16(in + COOKIE_IN_DPORT, t->dport);
	bytes_put_be32(in + COOKIE_IN_CISN, client_isn);
	bytes_put_be32(in + COOKIE_IN_EPOCH, s->epoch);
	in[COOKIE_IN_INFO] = info;

	crypto_shorthash_siphash24(out, in, sizeof(in), s->key);
	/* SipHash serialises its state little-endian */
	*hash = bytes_get_le64(out);
	return true;
}

static uint32_t isn_of(uint64_t hash, uint8_t info)
{
	return (uint32_t)(hash >> COOKIE_HASH_MAC_SHIFT) << COOKIE_ISN_MAC_SHIFT | info;
}

/* The TSval: the hash's low 32 bits, the ECN bit in place of its lowest (cookie.h). */
static uint32_t ts_of(uint64_t hash, bool ecn)
{
	return ((uint32_t)hash & ~COOKIE_TS_ECN) | (ecn ? COOKIE_TS_ECN : 0);
}

static unsigned mss_index(const uint16_t mss_table[COOKIE_MSS_SLOTS], uint16_t mss)
{
	unsigned i = COOKIE_MSS_SLOTS - 1;

	while (i > 0 && mss_table[i] > mss)
		i--;
	return i;
}

static unsigned wscale_index(const struct cookie_syn *in)
{
	if (!in->has_wscale)
		return 0;

	/*
	 * Rounding down also covers shifts above 14, which RFC 7323 2.3 says to
	 * read as 14: the table tops out below that.
	 */
	unsigned i = sizeof(wscale_table) - 1;

	while (i > 0 && wscale_table[i] > in->wscale)
		i--;
	return i + 1;
}

int cookie_make(const struct cookie_ctx *ctx, uint32_t epoch, const uint16_t mss_table[4],
                const struct pkt_tuple *t, uint32_t client_isn, const struct cookie_syn *in,
                uint32_t *isn, uint32_t *tsval)
{
	const struct key_slot *s = live_slot(ctx, epoch);
	uint64_t hash;

	if (s == NULL)
		return -1;

	uint8_t info =
	    (uint8_t)(mss_index(mss_table, in->mss) << INFO_MSS_SHIFT |
	              wscale_index(in) << INFO_WSCALE_SHIFT | (in->sack_ok ? INFO_SACK : 0) |
	              (in->has_ts ? INFO_TS : 0) | (epoch & INFO_PARITY));

	if (!mac(s, t, client_isn, info, &hash))
		return -1;
	*isn = isn_of(hash, info);
	if (tsval != NULL)
		*tsval = ts_of(hash, in->has_ts && in->ecn);
	return 0;
}

enum cookie_result cookie_check(const struct cookie_ctx *ctx, uint32_t now_epoch,
                                const uint16_t mss_table[4], const struct pkt_tuple *t,
                                uint32_t seq, uint32_t ack, const struct pkt_tcpopts *opt,
                                struct cookie_syn *out)
{
	uint32_t client_isn = seq - 1;
	uint32_t isn = ack - 1;
	uint8_t info = (uint8_t)isn;
	/* Unsigned wrap-around keeps epoch 0 - 1 consistent with cookie_make at UINT32_MAX. */
	uint32_t epoch =
	    (now_epoch & INFO_PARITY) == (info & INFO_PARITY) ? now_epoch : now_epoch - 1;
	const struct key_slot *s = live_slot(ctx, epoch);
	uint64_t hash;

	if (s == NULL)
		return COOKIE_ENOKEY;
	if (!mac(s, t, client_isn, info, &hash) || isn_of(hash, info) != isn)
		return COOKIE_EMAC;
	if ((info & INFO_TS) &&
	    (opt == NULL || !opt->has_ts || (opt->tsecr & ~COOKIE_TS_ECN) != ts_of(hash, false)))
		return COOKIE_ETS;

	unsigned widx = info >> INFO_WSCALE_SHIFT & INFO_WSCALE_MASK;

	out->mss = mss_table[info >> INFO_MSS_SHIFT & INFO_MSS_MASK];
	out->has_wscale = widx != 0;
	out->wscale = widx != 0 ? wscale_table[widx - 1] : 0;
	out->sack_ok = (info & INFO_SACK) != 0;
	out->has_ts = (info & INFO_TS) != 0;
	out->ecn = out->has_ts && (opt->tsecr & COOKIE_TS_ECN) != 0;
	return COOKIE_VALID;
}
