/*
 * The half-open table of stateful mode: one entry per SYN answered with a
 * SYN-ACK whose ISN is ours rather than a cookie, holding the client's exact
 * options (a cookie keeps the MSS only as one of four table entries and the
 * window scale rounded down), until the client's ACK completes the
 * handshake, like the kernel's SYN queue.
 *
 * Bounded: capacity is fixed at halfopen_new; entries live in one array and
 * nothing is allocated per SYN. When the table is full, or the SYN's source
 * prefix already holds per_source entries, insertion fails and the caller
 * answers that SYN with a cookie instead (mode.h decides when to stop trying
 * the table at all).
 *
 * Layout: entries (80 bytes) in an array, free ones in a list. An index of
 * 8-byte slots (32-bit hash, entry number), at least twice as many as
 * entries, finds them by linear probing on SipHash-1-3 of the tuple under a
 * secret seed; an entry is read only when its whole hash matches, so a
 * lookup that misses (a forged ACK) touches the index alone, and removal
 * shifts the probe cluster back instead of leaving tombstones. Per-source
 * counts live in a srccount table sized so that it never fills.
 *
 * Retransmission: SYN-ACK k (k = 1..retries) is due at created + rto (2^k - 1)
 * (with rto 1 s: 1, 3, 7, 15 ... s after the SYN, gaps of 1, 2, 4, 8 s), and
 * the entry expires at created + rto (2^(retries+1) - 1), one doubled gap
 * after the last retransmit (the kernel's default of 5 retries gives up after
 * 63 s). An entry that has had k retransmits sits in list k. Entries enter
 * list 0 in creation order, and list k + 1 from the head of list k, so every
 * list stays sorted by deadline: halfopen_due reads only list heads and does
 * O(due entries + retries) work, never a scan. Removal unlinks in O(1).
 *
 * Time: now_ms is a parameter (any monotonic origin). A now_ms below the
 * latest one seen counts as the latest one, so a clock step backwards cannot
 * break the lists' order.
 *
 * Not thread-safe: one table per thread, or a lock around it.
 */
#ifndef SYNGUARD_HALFOPEN_H
#define SYNGUARD_HALFOPEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkt.h"
#include "siphash.h"

#define HALFOPEN_SEED_LEN     SIPHASH_KEY_LEN
#define HALFOPEN_MAX_RETRIES  15
#define HALFOPEN_MAX_CAPACITY ((size_t)1 << 28)

struct halfopen_params {
	size_t capacity;     /* entries, 1..HALFOPEN_MAX_CAPACITY */
	uint32_t per_source; /* most entries per source prefix; 0: no cap */
	uint8_t prefix_v4;   /* source prefix of that cap: 0..32 */
	uint8_t prefix_v6;   /* 0..64 */
	uint32_t rto_ms;     /* first retransmit this long after the SYN, >= 1; doubles each time */
	uint8_t retries; /* SYN-ACK retransmits before the entry expires: 0..HALFOPEN_MAX_RETRIES */
};

/* What the daemon needs to retransmit our SYN-ACK and, on the ACK, to build the socket. */
struct halfopen_syn {
	struct pkt_tuple t;     /* as in the SYN: saddr is the client */
	uint32_t client_isn;    /* the SYN's sequence number */
	uint32_t our_isn;       /* our SYN-ACK's sequence number */
	uint32_t our_tsval;     /* the TSval of our first SYN-ACK, when opt.has_ts */
	struct pkt_tcpopts opt; /* the SYN's options as parsed; tsecr is not kept (reads 0) */
	bool ecn;               /* our SYN-ACK agreed to ECN (carries ECE) */
};

struct halfopen_entry {
	struct halfopen_syn syn;
	uint64_t created_ms;
	uint8_t retransmits; /* SYN-ACK retransmits asked for so far */
};

enum halfopen_result {
	HALFOPEN_OK = 0,
	HALFOPEN_EEXIST,  /* this tuple has an entry: a retransmitted SYN (nothing changed) */
	HALFOPEN_EFULL,   /* no free entry */
	HALFOPEN_ESOURCE, /* the source prefix holds per_source entries already */
};

enum halfopen_event_kind {
	HALFOPEN_RETRANSMIT, /* send the SYN-ACK again; the entry stays */
	HALFOPEN_EXPIRED,    /* retries exhausted: the entry is gone */
};

struct halfopen_event {
	enum halfopen_event_kind kind;
	struct halfopen_entry e; /* after the event: retransmits counts this one */
};

struct halfopen;

/* NULL (errno EINVAL for bad params, ENOMEM) on failure. seed: the secret hash key. */
struct halfopen *halfopen_new(const struct halfopen_params *p,
                              const uint8_t seed[HALFOPEN_SEED_LEN]);
void halfopen_free(struct halfopen *h);

/* Adds an entry created at now_ms. O(1) expected, no allocation. */
enum halfopen_result halfopen_insert(struct halfopen *h, const struct halfopen_syn *syn,
                                     uint64_t now_ms);

/* Copies the entry of tuple t (client -> server) into *out (may be NULL); false if none. */
bool halfopen_find(const struct halfopen *h, const struct pkt_tuple *t, struct halfopen_entry *out);

/* Removes the entry of tuple t (the handshake completed, or the client reset it). */
bool halfopen_remove(struct halfopen *h, const struct pkt_tuple *t);

/*
 * Advances the retransmit schedule to now_ms and reports at most max events:
 * entries whose SYN-ACK is due again (rescheduled) and entries that expired
 * (removed). Call again while it returns max. An entry gets at most one event
 * per call, so a caller that fell behind sends one SYN-ACK, not a burst.
 */
size_t halfopen_due(struct halfopen *h, uint64_t now_ms, struct halfopen_event *ev, size_t max);

/* The earliest time halfopen_due has something to report (UINT64_MAX: empty table), for a
 * timer. O(retries). */
uint64_t halfopen_next_due(const struct halfopen *h);

/*
 * Reload. Timers and per_source change in place (deadlines follow the new rto
 * and retries; entries past the new retries expire at the next halfopen_due;
 * a lowered per_source refuses new entries and keeps the existing ones). A new
 * capacity or prefix builds new arrays and moves the entries over, keeping
 * their schedule; when the new capacity is smaller than the count, the
 * oldest entries are dropped (*dropped tells how many; may be NULL). Returns
 * -1 (errno EINVAL or ENOMEM; the table unchanged) on failure.
 */
int halfopen_reconfigure(struct halfopen *h, const struct halfopen_params *p, size_t *dropped);

size_t halfopen_count(const struct halfopen *h);
size_t halfopen_capacity(const struct halfopen *h);
/* count / capacity: the fill that mode.h compares with its trigger. */
double halfopen_occupancy(const struct halfopen *h);

#endif
