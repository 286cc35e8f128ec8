/*
 * Fixed-width integers read from and written to byte buffers in a given byte
 * order, at any alignment: packet fields (big-endian) and SipHash's state
 * (little-endian). Compilers turn each into one load or store and a swap.
 */
#ifndef SYNGUARD_BYTES_H
#define SYNGUARD_BYTES_H

#include <stdint.h>

static inline uint16_t bytes_get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t bytes_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t bytes_get_be64(const uint8_t *p)
{
	return (uint64_t)bytes_get_be32(p) << 32 | bytes_get_be32(p + 4);
}

static inline uint64_t bytes_get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline void bytes_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void bytes_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
