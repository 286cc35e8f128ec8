/*
 * The key of a source prefix, for the per-source tables (ratelimit,
 * srccount): the source address cut to the configured prefix length, as one
 * 64-bit number, so a table slot compares one word.
 *
 * IPv4: the address's first plen4 bits (0..32), in the low 32 bits.
 * IPv6: the address's first plen6 bits (0..64) of its top 64 bits. Longer
 * IPv6 prefixes are not offered: a single host commonly owns a whole /64, so
 * counting per /128 would give it 2^64 buckets.
 *
 * The family is not part of the number; tables keep it beside the key.
 */
#ifndef SYNGUARD_SRCKEY_H
#define SYNGUARD_SRCKEY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bytes.h"

#define SRCKEY_MAX_V4 32
#define SRCKEY_MAX_V6 64

struct srckey_masks {
	uint64_t m4;
	uint64_t m6;
};

/* False when a prefix length is out of range. */
static inline bool srckey_masks_make(struct srckey_masks *m, unsigned plen4, unsigned plen6)
{
	if (plen4 > SRCKEY_MAX_V4 || plen6 > SRCKEY_MAX_V6)
		return false;
	m->m4 = plen4 == 0 ? 0 : (0xffffffffULL << (32 - plen4)) & 0xffffffffULL;
	m->m6 = plen6 == 0 ? 0 : ~0ULL << (64 - plen6);
	return true;
}

/* addr: network order, 4 bytes for AF_INET, 16 otherwise. */
static inline uint64_t srckey_of(const struct srckey_masks *m, int family, const uint8_t *addr)
{
	if (family == AF_INET)
		return bytes_get_be32(addr) & m->m4;
	return bytes_get_be64(addr) & m->m6;
}

#endif
