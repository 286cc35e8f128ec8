/*
 * Per-source token buckets in a bounded table: SYN rate limits keyed by
 * source prefix (IPv4 /0../32, IPv6 /0../64, see srckey.h), which a spoofed
 * flood of millions of sources cannot make grow.
 *
 * Bucket: GCRA, the token bucket written as one timestamp. A source may send
 * `burst` packets at once and `rate` per second on average; its slot keeps
 * only its theoretical arrival time TAT (nanoseconds). With T = 1 s / rate
 * and tau = (burst - 1) T, a packet at time t is allowed when
 * max(TAT, t) - t <= tau, and then TAT = max(TAT, t) + T. TAT - t is the
 * bucket's deficit in time: the bucket holds burst - (TAT - t) / T tokens, and
 * an entry with TAT <= t holds a full bucket, exactly what a new entry holds.
 * Integer nanoseconds keep the rate exact for every rate that divides 10^9
 * and within one part in 10^8 otherwise; denied packets consume nothing.
 *
 * Table: 2^k sets of RL_WAYS slots (16 bytes each: one key word, one TAT
 * word), a set filling two adjacent 64-byte cache lines. A source's set is
 * SipHash-1-3 of its key and family under a secret seed, so sources cannot be
 * aimed at one set. A lookup reads one set and compares full keys, so two
 * prefixes never share a bucket. Memory is allocated by rl_new only.
 *
 * Eviction: a new source takes the slot, of its set, whose bucket holds the
 * most tokens (the smallest TAT; empty slots first). What this guarantees:
 *  1. Eviction never causes a deny. A source is denied only when its own
 *     bucket is empty; a source that comes back after being evicted starts
 *     with a full bucket. A source that keeps within rate and burst is
 *     allowed every time, whatever a flood does to the table.
 *  2. Reclaiming a full bucket (TAT <= now) is lossless: it behaves exactly
 *     as if the table had room. Counted as `reclaimed`.
 *  3. Only an entry with a partly spent bucket can be lost (`evicted`), and
 *     only when every other slot of its set holds no more tokens than it.
 *     Its source then regains at most `burst` tokens: the limit leaks, it
 *     never starves anyone.
 *  4. A flood source that sends one packet holds burst - 1 tokens when
 *     inserted and gains from then on. A source being throttled (sending
 *     faster than its rate, so holding less than one token plus what it
 *     regained since its last allowed packet) therefore keeps its bucket
 *     against any number of one-packet sources when burst >= 3: a spoofed
 *     flood does not reset the limit of the source it is meant to limit.
 *
 * Time: now_ms is a parameter (any monotonic origin, below 2^43 ms).
 * Not thread-safe: one table per thread, or a lock around it.
 */
#ifndef SYNGUARD_RATELIMIT_H
#define SYNGUARD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "siphash.h"

#define RL_WAYS      8
#define RL_SEED_LEN  SIPHASH_KEY_LEN
#define RL_MAX_SLOTS ((size_t)1 << 30)

struct rl;

struct rl_stats {
	uint64_t allowed;
	uint64_t denied;
	uint64_t inserted;  /* new sources, including those below */
	uint64_t reclaimed; /* inserts that took the slot of a full bucket (lossless) */
	uint64_t evicted;   /* inserts that took the slot of a partly spent bucket */
};

/*
 * capacity: slots, rounded up to a power of two and at least RL_WAYS, at most
 * RL_MAX_SLOTS. rate_per_sec >= 1 and burst >= 1. prefix_v4 0..32 and
 * prefix_v6 0..64: how much of the source address forms its key. seed: the
 * secret hash key. Returns NULL (errno EINVAL or ENOMEM) on failure.
 */
struct rl *rl_new(size_t capacity, uint32_t rate_per_sec, uint32_t burst, unsigned prefix_v4,
                  unsigned prefix_v6, const uint8_t seed[RL_SEED_LEN]);
void rl_free(struct rl *rl);

/*
 * One packet from addr (network order; 4 bytes for AF_INET, 16 for AF_INET6)
 * at now_ms: true, consuming a token, when its source's bucket has one.
 * O(RL_WAYS), no allocation.
 */
bool rl_allow(struct rl *rl, int family, const uint8_t *addr, uint64_t now_ms);

/*
 * Reload: new rate and burst, keeping every entry. Each bucket keeps its
 * number of tokens as of now_ms (capped at the new burst), so a changed rate
 * neither forgives nor punishes. O(capacity). -1 (errno EINVAL) if rate or
 * burst is 0. A new capacity, prefix length or seed needs a new table.
 */
int rl_set_params(struct rl *rl, uint32_t rate_per_sec, uint32_t burst, uint64_t now_ms);

size_t rl_capacity(const struct rl *rl);
void rl_get_stats(const struct rl *rl, struct rl_stats *out);

/* Entries whose bucket is not full at now_ms: sources that currently matter. O(capacity). */
size_t rl_active(const struct rl *rl, uint64_t now_ms);

/* Tokens in addr's bucket at now_ms (burst if it has no entry): for tests and diagnostics. */
double rl_tokens(const struct rl *rl, int family, const uint8_t *addr, uint64_t now_ms);

#endif
