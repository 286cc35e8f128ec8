/*
 * siphash.h: the word-oriented SipHash, run with 2 and 4 rounds, must equal
 * libsodium's SipHash-2-4 of the same bytes; SipHash-1-3 differs from it and
 * depends on every key and message bit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <sodium.h>

#include "siphash.h"

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void le64_store(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t sodium_siphash24(const uint8_t key[16], const uint64_t *w, size_t n)
{
	uint8_t msg[8 * 8];
	uint8_t out[8];

	for (size_t i = 0; i < n; i++)
		le64_store(msg + 8 * i, w[i]);
	crypto_shorthash_siphash24(out, msg, 8 * n, key);
	return bytes_get_le64(out);
}

/* Random keys and messages of 0..8 words. */
static void test_matches_libsodium(void **state)
{
	uint64_t seed = 7;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		uint8_t key[16];
		uint64_t w[8];
		size_t n = (size_t)round % 9;
		struct siphash_key k;

		for (int i = 0; i < 2; i++)
			le64_store(key + 8 * i, rng_next(&seed));
		for (size_t i = 0; i < n; i++)
			w[i] = rng_next(&seed);
		k = siphash_key_from_bytes(key);
		assert_true(siphash_words(&k, w, n, 2, 4) == sodium_siphash24(key, w, n));
	}
}

static void test_paper_vector(void **state)
{
	/* SipHash-2-4, key 00..0f, message 00..07: the paper's vectors table, entry 8 */
	uint8_t key[16];
	uint8_t msg[8];
	struct siphash_key k;
	uint64_t w;

	(void)state;
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 8; i++)
		msg[i] = (uint8_t)i;
	k = siphash_key_from_bytes(key);
	w = bytes_get_le64(msg);
	assert_true(siphash_words(&k, &w, 1, 2, 4) == 0x93f5f5799a932462ULL);
}

static void test_13_avalanche(void **state)
{
	uint64_t seed = 11;
	uint8_t key[16];
	struct siphash_key k;
	uint64_t w[2] = {0x00000000c0000201ULL, 1};
	uint64_t base;
	long flips = 0;
	int trials = 0;

	(void)state;
	for (int i = 0; i < 2; i++)
		le64_store(key + 8 * i, rng_next(&seed));
	k = siphash_key_from_bytes(key);
	base = siphash13(&k, w, 2);
	assert_true(base != siphash_words(&k, w, 2, 2, 4));
	/* every message bit changes about half the output bits */
	for (int word = 0; word < 2; word++) {
		for (int bit = 0; bit < 64; bit++) {
			uint64_t x[2] = {w[0], w[1]};

			x[word] ^= 1ULL << bit;
			flips += __builtin_popcountll(base ^ siphash13(&k, x, 2));
			trials++;
		}
	}
	assert_true(flips > trials * 28 && flips < trials * 36);
	/* and so does every key bit */
	flips = trials = 0;
	for (int bit = 0; bit < 128; bit++) {
		struct siphash_key kk = k;

		if (bit < 64)
			kk.k0 ^= 1ULL << bit;
		else
			kk.k1 ^= 1ULL << (bit - 64);
		flips += __builtin_popcountll(base ^ siphash13(&kk, w, 2));
		trials++;
	}
	assert_true(flips > trials * 28 && flips < trials * 36);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_matches_libsodium),
	    cmocka_unit_test(test_paper_vector),
	    cmocka_unit_test(test_13_avalanche),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
