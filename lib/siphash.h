/*
 * SipHash (Aumasson and Bernstein) over whole 64-bit words, inline, for the
 * tables a flood writes into (ratelimit, srccount, halfopen). A secret 128-bit
 * key makes the slot of a source or a tuple unpredictable, so an attacker
 * cannot pile its spoofed sources onto the bucket of a victim.
 *
 * The tables use SipHash-1-3 (one compression round, three finalisation
 * rounds): the variant hash tables use against exactly this attack (Rust's
 * HashMap, CPython). An attacker never sees a hash output, only its effect
 * on placement. It costs a few nanoseconds where a call to libsodium's
 * crypto_shorthash (SipHash-2-4 over bytes) costs about thirty, and these
 * tables are probed once per SYN of a flood. The round counts are parameters
 * so the unit test can check this code, run with 2 and 4 rounds, against
 * libsodium's SipHash-2-4.
 *
 * Input: n words; word i stands for bytes 8i..8i+7 of the message read
 * little-endian. Callers build words from numbers, never by copying memory,
 * so the result does not depend on the host's byte order.
 */
#ifndef SYNGUARD_SIPHASH_H
#define SYNGUARD_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#include "bytes.h"

#define SIPHASH_KEY_LEN 16

struct siphash_key {
	uint64_t k0;
	uint64_t k1;
};

/* The key as SipHash reads 16 key bytes. */
static inline struct siphash_key siphash_key_from_bytes(const uint8_t bytes[SIPHASH_KEY_LEN])
{
	struct siphash_key k = {bytes_get_le64(bytes), bytes_get_le64(bytes + 8)};

	return k;
}

static inline uint64_t siphash_rotl(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

static inline void siphash_rounds(uint64_t v[4], int rounds)
{
	for (int r = 0; r < rounds; r++) {
		v[0] += v[1];
		v[1] = siphash_rotl(v[1], 13);
		v[1] ^= v[0];
		v[0] = siphash_rotl(v[0], 32);
		v[2] += v[3];
		v[3] = siphash_rotl(v[3], 16);
		v[3] ^= v[2];
		v[0] += v[3];
		v[3] = siphash_rotl(v[3], 21);
		v[3] ^= v[0];
		v[2] += v[1];
		v[1] = siphash_rotl(v[1], 17);
		v[1] ^= v[2];
		v[2] = siphash_rotl(v[2], 32);
	}
}

/* SipHash-c-d of the 8n-byte message given as n words. */
static inline uint64_t siphash_words(const struct siphash_key *k, const uint64_t *w, size_t n,
                                     int c, int d)
{
	uint64_t v[4] = {
	    k->k0 ^ 0x736f6d6570736575ULL,
	    k->k1 ^ 0x646f72616e646f6dULL,
	    k->k0 ^ 0x6c7967656e657261ULL,
	    k->k1 ^ 0x7465646279746573ULL,
	};
	/* the final block: no tail bytes, the message length (mod 256) in the top byte */
	uint64_t last = (uint64_t)(n * 8) << 56;

	for (size_t i = 0; i < n; i++) {
		v[3] ^= w[i];
		siphash_rounds(v, c);
		v[0] ^= w[i];
	}
	v[3] ^= last;
	siphash_rounds(v, c);
	v[0] ^= last;
	v[2] ^= 0xff;
	siphash_rounds(v, d);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static inline uint64_t siphash13(const struct siphash_key *k, const uint64_t *w, size_t n)
{
	return siphash_words(k, w, n, 1, 3);
}

#endif
