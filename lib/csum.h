/*
 * Internet checksum (RFC 1071) helpers.
 *
 * The 32-bit accumulator is folded only at the end, so partial sums over
 * several pieces (pseudo-header, header, payload) can be chained, and a
 * precomputed partial sum can be reused for every packet of a listener.
 */
#ifndef SYNGUARD_CSUM_H
#define SYNGUARD_CSUM_H

#include <stddef.h>
#include <stdint.h>

/* Adds len bytes at buf to sum. Odd lengths are padded with a zero byte. */
uint32_t csum_partial(const void *buf, size_t len, uint32_t sum);

/* Folds the accumulator to 16 bits and complements it (network order result). */
uint16_t csum_fold(uint32_t sum);

/* Partial sum of the TCP/UDP pseudo-header. Addresses are in network order,
 * 4 bytes for AF_INET, 16 for AF_INET6; l4len is the TCP segment length. */
uint32_t csum_pseudo(int family, const uint8_t *saddr, const uint8_t *daddr, uint8_t proto,
                     uint32_t l4len);

#endif
