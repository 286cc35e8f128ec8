/*
 * Internet checksum (RFC 1071).
 *
 * The one's complement sum does not depend on byte order (RFC 1071 section
 * 2(B)): summing the data as native-endian words and storing the folded
 * result in native order gives the same bytes as summing big-endian words.
 * So the data is loaded as native 64-bit words, eight bytes per addition, and
 * every sum here is in "memory order": csum_fold()'s result is stored with
 * memcpy, never with htons().
 *
 * 2^16 = 1 (mod 2^16 - 1), so a sum of 64-bit words folds down to the same
 * 16-bit checksum as the sum of the 16-bit words they contain, provided each
 * carry out of bit 63 is added back in (end-around carry).
 */
#include "csum.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static inline uint64_t add64(uint64_t a, uint64_t b)
{
	uint64_t s = a + b;

	return s + (s < b);
}

static inline uint32_t fold64(uint64_t s)
{
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint32_t csum_partial(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *p = buf;
	uint64_t acc = sum;
	uint64_t w0, w1, w2, w3;
	uint32_t w32;
	uint16_t w16;

	/* Four independent loads per round keep the adder busy on long payloads. */
	while (len >= 32) {
		memcpy(&w0, p, 8);
		memcpy(&w1, p + 8, 8);
		memcpy(&w2, p + 16, 8);
		memcpy(&w3, p + 24, 8);
		acc = add64(acc, w0);
		acc = add64(acc, w1);
		acc = add64(acc, w2);
		acc = add64(acc, w3);
		p += 32;
		len -= 32;
	}
	while (len >= 8) {
		memcpy(&w0, p, 8);
		acc = add64(acc, w0);
		p += 8;
		len -= 8;
	}
	/* The tail still starts at an even offset, so 16-bit word positions match. */
	if (len >= 4) {
		memcpy(&w32, p, 4);
		acc = add64(acc, w32);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&w16, p, 2);
		acc = add64(acc, w16);
		p += 2;
		len -= 2;
	}
	if (len) {
		/* Odd length: the last byte is the first of a zero-padded word. */
		uint8_t last[2] = {p[0], 0};

		memcpy(&w16, last, 2);
		acc = add64(acc, w16);
	}
	return fold64(acc);
}

uint16_t csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t csum_pseudo(int family, const uint8_t *saddr, const uint8_t *daddr, uint8_t proto,
                     uint32_t l4len)
{
	size_t alen = family == AF_INET6 ? 16 : 4;
	uint32_t len_be = htonl(l4len);
	uint64_t acc;

	/*
	 * IPv4 has zero, proto, 16-bit length; IPv6 has 32-bit length, three
	 * zeros, proto. Both add up to the same words: length halves and a
	 * zero-padded protocol byte, here in memory order as elsewhere.
	 */
	acc = csum_partial(saddr, alen, 0);
	acc += csum_partial(daddr, alen, 0);
	acc += htons(proto);
	acc += (len_be & 0xffff) + (len_be >> 16);
	return fold64(acc);
}
