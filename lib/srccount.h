/*
 * Counts per source prefix (see srckey.h for the key), with a cap: the
 * concurrent connections of a source (acquire at handoff, release at close),
 * or the half-open entries of a source (halfopen.c).
 *
 * Bounded: at most max_sources prefixes with a non-zero count. Unlike a rate
 * limiter's bucket, a count cannot be evicted (a later release would find
 * nothing to decrement), so when max_sources prefixes are counted, a new
 * prefix is refused (SRCCOUNT_EFULL) and the caller decides: refuse the
 * connection, or let it through uncounted. Sizing max_sources to the most
 * connections the daemon holds makes that impossible. Entries are created
 * only by proven clients (a completed handshake), not by spoofed SYNs.
 *
 * Table: open addressing with linear probing over 2^k >= 2 max_sources
 * slots (load at most one half; SipHash-1-3 of key and family under a secret
 * seed picks the home slot). A count that drops to zero frees its slot at
 * once by backward-shift deletion, so there are no tombstones and a lookup
 * stops at the first empty slot. 16 bytes a slot. Memory is allocated by
 * srccount_new only.
 *
 * Not thread-safe: one table per thread, or a lock around it.
 */
#ifndef SYNGUARD_SRCCOUNT_H
#define SYNGUARD_SRCCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "siphash.h"

#define SRCCOUNT_SEED_LEN    SIPHASH_KEY_LEN
#define SRCCOUNT_MAX_SOURCES ((size_t)1 << 29)

enum srccount_result {
	SRCCOUNT_OK = 0,
	SRCCOUNT_ECAP,  /* the prefix's count is already at the cap */
	SRCCOUNT_EFULL, /* a new prefix, and max_sources prefixes are already counted */
};

struct srccount;

/* max_sources 1..SRCCOUNT_MAX_SOURCES; prefix_v4 0..32, prefix_v6 0..64. NULL (errno EINVAL or
 * ENOMEM) on failure. */
struct srccount *srccount_new(size_t max_sources, unsigned prefix_v4, unsigned prefix_v6,
                              const uint8_t seed[SRCCOUNT_SEED_LEN]);
void srccount_free(struct srccount *sc);

/* Adds one to the count of addr's prefix unless it is at cap (0: no cap). Only an
 * SRCCOUNT_OK acquire is to be released. No allocation. */
enum srccount_result srccount_acquire(struct srccount *sc, int family, const uint8_t *addr,
                                      uint32_t cap);

/* Takes one from the count of addr's prefix; false (and nothing changes) if it was not counted. */
bool srccount_release(struct srccount *sc, int family, const uint8_t *addr);

/* The count of addr's prefix. */
uint32_t srccount_get(const struct srccount *sc, int family, const uint8_t *addr);

/* Prefixes with a non-zero count. */
size_t srccount_sources(const struct srccount *sc);
size_t srccount_max_sources(const struct srccount *sc);

#endif
