/*
 * Recently handed-off flows, per queue thread.
 *
 * Between the moment a queue thread builds the repaired socket and the moment
 * the `-m socket` rule starts matching, more packets of the same flow may
 * already sit in the queue (the client's data right behind its handshake ACK,
 * a retransmitted ACK). They must be accepted, not checked again: a second
 * valid cookie would try to repair a second socket for the same 4-tuple.
 *
 * An entry also holds the acknowledgment number of the handshake ACK (our
 * ISN + 1). Every packet queued before the socket existed carries exactly
 * that number: the client cannot acknowledge data we only sent once the
 * socket existed, and its packets sent after that match the socket. So a new
 * connection that reuses the 4-tuple within the entry's life (its ACK
 * acknowledges a different cookie) is not mistaken for the old one and gets
 * its own cookie check and socket.
 *
 * Fixed capacity (a power of two), open addressing with a bounded probe
 * window: a lookup reads at most FLOWS_PROBE slots, an insert takes the first
 * free, expired or matching slot in that window and otherwise evicts the one
 * that expires first. All memory is allocated by flows_new; nothing after.
 * Entries are never deleted, they only expire, so there are no tombstones.
 *
 * Time is a parameter (milliseconds, any monotonic origin); the table reads
 * no clock, so tests are deterministic.
 */
#ifndef SYNGUARD_FLOWS_H
#define SYNGUARD_FLOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkt.h"

#define FLOWS_PROBE 8

struct flows;

/* capacity is rounded up to a power of two (at least FLOWS_PROBE); ttl_ms is an entry's life.
 * seed perturbs the hash so that slots are not predictable from the tuple alone. */
struct flows *flows_new(size_t capacity, uint32_t ttl_ms, uint64_t seed);
void flows_free(struct flows *f);

/* Remembers the flow, whose handshake ACK acknowledged `ack`, until now_ms + ttl (replacing
 * an entry of the same tuple). Returns true when an unexpired entry of another flow had to be
 * evicted to make room. */
bool flows_insert(struct flows *f, const struct pkt_tuple *t, uint32_t ack, uint64_t now_ms);

/* True when the flow was inserted with this ack less than ttl ago (and not evicted since). */
bool flows_contains(const struct flows *f, const struct pkt_tuple *t, uint32_t ack,
                    uint64_t now_ms);

size_t flows_capacity(const struct flows *f);

#endif
