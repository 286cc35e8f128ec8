/*
 * Internet checksum: against scapy's checksum() (fixtures/pkt/csum.txt), a
 * byte-at-a-time reference written here, RFC 1071's worked example, every
 * alignment and odd length, chaining, and the pseudo-headers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csum.h"

#define CSUM_FIXTURE "fixtures/pkt/csum.txt"

/* Deterministic xorshift32, so failures reproduce. */
static uint32_t rnd_next(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static void rnd_fill(uint8_t *p, size_t n, uint32_t *s)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd_next(s);
}

/* Reference: big-endian 16-bit words one by one, odd byte zero-padded. */
static uint64_t ref_sum(const uint8_t *p, size_t n)
{
	uint64_t s = 0;

	for (size_t i = 0; i < n; i += 2)
		s += (uint64_t)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0);
	return s;
}

/* Checksum as a number in network order (first byte high). */
static uint16_t ref_csum(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* What csum_fold() returns, read as the two bytes it stands for on the wire. */
static uint16_t wire16(uint16_t v)
{
	uint8_t b[2];

	memcpy(b, &v, 2);
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint16_t our_csum(const void *p, size_t n)
{
	return wire16(csum_fold(csum_partial(p, n, 0)));
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void test_rfc1071_example(void **state)
{
	/* RFC 1071 section 3: these words sum to ddf2, so the checksum is 220d. */
	const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	uint16_t c = csum_fold(csum_partial(data, sizeof(data), 0));
	uint8_t b[2];

	(void)state;
	memcpy(b, &c, 2);
	assert_int_equal(b[0], 0x22);
	assert_int_equal(b[1], 0x0d);
}

static void test_fold(void **state)
{
	(void)state;
	assert_int_equal(csum_fold(0), 0xffff);
	assert_int_equal(csum_fold(0xffff), 0);
	assert_int_equal(csum_fold(0xffffffff), 0);
	assert_int_equal(csum_fold(0x0001ffff), 0xfffe);
	assert_int_equal(csum_fold(0x12345678), (uint16_t) ~(0x1234 + 0x5678));
}

/* Every scapy case, at every start alignment, in an exactly sized heap buffer. */
static void test_scapy_fixtures(void **state)
{
	FILE *f = fopen(CSUM_FIXTURE, "r");
	char *line = NULL;
	size_t cap = 0;
	unsigned ncases = 0;

	(void)state;
	assert_non_null(f);
	while (getline(&line, &cap, f) > 0) {
		unsigned len, want;
		char *hex;

		if (line[0] == '#')
			continue;
		assert_int_equal(sscanf(line, "len=%u csum=%x", &len, &want), 2);
		hex = strstr(line, "hex=");
		assert_non_null(hex);
		hex += 4;
		for (size_t align = 0; align < 8; align++) {
			uint8_t *buf = malloc(align + len + 1);
			uint8_t *p = buf + align;

			assert_non_null(buf);
			for (unsigned i = 0; i < len; i++) {
				int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

				assert_true(hi >= 0 && lo >= 0);
				p[i] = (uint8_t)(hi << 4 | lo);
			}
			if (our_csum(p, len) != want)
				fail_msg("len %u align %zu: got %04x want %04x", len, align,
				         our_csum(p, len), want);
			/* Exact size: copy to a buffer that ends where the data ends. */
			uint8_t *exact = malloc(len ? len : 1);

			assert_non_null(exact);
			memcpy(exact, p, len);
			assert_int_equal(our_csum(exact, len), want);
			free(exact);
			free(buf);
		}
		ncases++;
	}
	free(line);
	fclose(f);
	assert_true(ncases >= 100);
}

static void test_reference_all_lengths_alignments(void **state)
{
	uint32_t seed = 0x1071;
	uint8_t *buf = malloc(600 + 8);

	(void)state;
	assert_non_null(buf);
	for (int fill = 0; fill < 3; fill++) {
		if (fill == 0)
			rnd_fill(buf, 608, &seed);
		else
			memset(buf, fill == 1 ? 0xff : 0x00, 608);
		for (size_t align = 0; align < 8; align++)
			for (size_t n = 0; n <= 600; n++) {
				uint16_t want = ref_csum(ref_sum(buf + align, n));

				if (our_csum(buf + align, n) != want)
					fail_msg("fill %d align %zu len %zu: got %04x want %04x",
					         fill, align, n, our_csum(buf + align, n), want);
			}
	}
	free(buf);
}

/* Long runs of 0xff make every 64-bit addition carry. */
static void test_carries_large_buffer(void **state)
{
	size_t n = (1u << 20) + 3;
	uint8_t *buf = malloc(n);
	uint32_t seed = 99;

	(void)state;
	assert_non_null(buf);
	memset(buf, 0xff, n);
	assert_int_equal(our_csum(buf, n), ref_csum(ref_sum(buf, n)));
	rnd_fill(buf, n, &seed);
	assert_int_equal(our_csum(buf, n), ref_csum(ref_sum(buf, n)));
	free(buf);
}

static uint32_t add_carry32(uint32_t a, uint32_t b)
{
	uint64_t s = (uint64_t)a + b;

	return (uint32_t)((s & 0xffffffff) + (s >> 32));
}

static void test_chaining(void **state)
{
	enum { N = 301 };
	uint8_t buf[N], padded[N + 1];
	uint32_t seed = 7;
	const uint32_t starts[] = {0, 1, 0xffff, 0x10000, 0xfffffffe, 0xffffffff, 0x89abcdef};

	(void)state;
	rnd_fill(buf, N, &seed);
	for (size_t s = 0; s <= N; s++) {
		uint16_t chained =
		    wire16(csum_fold(csum_partial(buf + s, N - s, csum_partial(buf, s, 0))));
		uint16_t want;

		if (s % 2 == 0) {
			want = ref_csum(ref_sum(buf, N));
		} else {
			/* An odd piece is zero-padded, so the next starts a new word. */
			memcpy(padded, buf, s);
			padded[s] = 0;
			memcpy(padded + s + 1, buf + s, N - s);
			want = ref_csum(ref_sum(padded, N + 1));
		}
		if (chained != want)
			fail_msg("split at %zu: got %04x want %04x", s, chained, want);
	}
	/* A running sum passed in is added with end-around carry. */
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
		for (size_t n = 0; n <= 64; n++) {
			uint32_t whole = csum_partial(buf, n, starts[i]);
			uint32_t split = add_carry32(csum_partial(buf, n, 0), starts[i]);

			assert_int_equal(csum_fold(whole), csum_fold(split));
		}
}

static void test_pseudo_ipv4(void **state)
{
	uint8_t s[4], d[4], ph[12];
	const uint32_t lens[] = {0, 20, 21, 1480, 65535};

	(void)state;
	assert_int_equal(inet_pton(AF_INET, "192.0.2.1", s), 1);
	assert_int_equal(inet_pton(AF_INET, "203.0.113.254", d), 1);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memcpy(ph, s, 4);
		memcpy(ph + 4, d, 4);
		ph[8] = 0;
		ph[9] = IPPROTO_TCP;
		ph[10] = (uint8_t)(lens[i] >> 8);
		ph[11] = (uint8_t)lens[i];
		assert_int_equal(
		    wire16(csum_fold(csum_pseudo(AF_INET, s, d, IPPROTO_TCP, lens[i]))),
		    ref_csum(ref_sum(ph, sizeof(ph))));
	}
}

static void test_pseudo_ipv6(void **state)
{
	uint8_t s[16], d[16], ph[40];
	const uint32_t lens[] = {0, 20, 61, 65535, 65536, 0x12345678};

	(void)state;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", s), 1);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8:ffff:1:2:3:4:5", d), 1);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memcpy(ph, s, 16);
		memcpy(ph + 16, d, 16);
		ph[32] = (uint8_t)(lens[i] >> 24);
		ph[33] = (uint8_t)(lens[i] >> 16);
		ph[34] = (uint8_t)(lens[i] >> 8);
		ph[35] = (uint8_t)lens[i];
		ph[36] = ph[37] = ph[38] = 0;
		ph[39] = IPPROTO_TCP;
		assert_int_equal(
		    wire16(csum_fold(csum_pseudo(AF_INET6, s, d, IPPROTO_TCP, lens[i]))),
		    ref_csum(ref_sum(ph, sizeof(ph))));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc1071_example),
	    cmocka_unit_test(test_fold),
	    cmocka_unit_test(test_scapy_fixtures),
	    cmocka_unit_test(test_reference_all_lengths_alignments),
	    cmocka_unit_test(test_carries_large_buffer),
	    cmocka_unit_test(test_chaining),
	    cmocka_unit_test(test_pseudo_ipv4),
	    cmocka_unit_test(test_pseudo_ipv6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
