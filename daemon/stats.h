/*
 * Counters. Every thread owns one stats block (one row per listener plus a
 * row for packets that matched no listener) and is its only writer; readers
 * (control socket, metrics) sum the blocks with relaxed atomic loads. No
 * locked instruction on the packet path.
 */
#ifndef SYNGUARD_STATS_H
#define SYNGUARD_STATS_H

#include <stddef.h>
#include <stdint.h>

/*
 * X(id, name, kind): kind is COUNTER or GAUGE. Names are the JSON keys.
 * packets_malformed counts every queued packet pkt_parse() refused; the
 * malformed_* counters split it by reason (enum pkt_err). bad_checksum counts
 * SYNs and ACKs whose TCP checksum the kernel had not verified yet and which
 * were wrong.
 *
 * Policies (policy.h): syn_denied / ack_denied (deny list), syn_rate_limited
 * (per-source token bucket), synack_stateful (SYNs answered through the
 * half-open table, retransmitted SYNs included; the others got cookies),
 * synack_retransmits, syn_halfopen_full / syn_halfopen_source_full (mode
 * stateful: no room, dropped), halfopen_expired (entries whose SYN-ACKs went
 * unanswered), halfopen_reset (entries the client's in-sequence RST
 * retired), ack_halfopen (valid ACKs matched in the table; ack_valid
 * counts them too, and so are handshakes of handoff "local" that the
 * kernel completed for an entry: those also count halfopen_tc_retired),
 * halfopen_tc_lost (reports of such handshakes lost on their way from the
 * kernel to the queue threads, a ring or a mailbox full: their entries
 * expire instead), mode_to_cookie / mode_to_stateful (the listener's auto
 * mode switched: the first queue thread to use cookies, the last to stop).
 * Accept queue: accept_overflow (accept_backlog reached), conn_limited
 * (max_connections), source_conn_limited (per_source.max_connections): each
 * got the accept_overflow action; accept_timeout (waited accept_timeout
 * seconds for a backend: reset). Gauges: halfopen_entries, accept_queue
 * (proven connections not yet taken by the backend: in the inbox, waiting
 * for a connect slot, connecting, or waiting for a pass-fd backend; the
 * figure is the accept queue's own, acceptq.h, put into the rows when they
 * are shown: no block counts it), cookie_threads (queue threads answering
 * the listener's SYNs with cookies).
 */
#define STATS_LIST(X)                                                                              \
	X(SYN_RECEIVED, "syn_received", COUNTER)                                                   \
	X(SYNACK_SENT, "synack_sent", COUNTER)                                                     \
	X(SYNACK_SEND_FAILED, "synack_send_failed", COUNTER)                                       \
	X(ACK_VALID, "ack_valid", COUNTER)                                                         \
	X(ACK_INVALID, "ack_invalid", COUNTER)                                                     \
	X(ACK_EXPIRED, "ack_expired", COUNTER)                                                     \
	X(ACK_FLOW_PASSED, "ack_flow_passed", COUNTER)                                             \
	X(PKT_MALFORMED, "packets_malformed", COUNTER)                                             \
	X(MALFORMED_TRUNC, "malformed_truncated", COUNTER)                                         \
	X(MALFORMED_VERSION, "malformed_ip_version", COUNTER)                                      \
	X(MALFORMED_IHL, "malformed_ipv4_ihl", COUNTER)                                            \
	X(MALFORMED_LEN, "malformed_ip_length", COUNTER)                                           \
	X(MALFORMED_FRAG, "malformed_fragment", COUNTER)                                           \
	X(MALFORMED_EXTHDR, "malformed_ipv6_exthdr", COUNTER)                                      \
	X(MALFORMED_NEXTHDR, "malformed_ipv6_nexthdr", COUNTER)                                    \
	X(MALFORMED_NOTTCP, "malformed_not_tcp", COUNTER)                                          \
	X(MALFORMED_TCPOFF, "malformed_tcp_offset", COUNTER)                                       \
	X(MALFORMED_OPT, "malformed_tcp_option", COUNTER)                                          \
	X(BAD_CSUM, "bad_checksum", COUNTER)                                                       \
	X(PKT_OTHER, "packets_other", COUNTER)                                                     \
	X(REPAIR_FAILED, "repair_failed", COUNTER)                                                 \
	X(HANDOFFS, "handoffs", COUNTER)                                                           \
	X(HANDOFF_FAILED, "handoff_failed", COUNTER)                                               \
	X(SYN_DENIED, "syn_denied", COUNTER)                                                       \
	X(ACK_DENIED, "ack_denied", COUNTER)                                                       \
	X(SYN_RATE_LIMITED, "syn_rate_limited", COUNTER)                                           \
	X(SYNACK_STATEFUL, "synack_stateful", COUNTER)                                             \
	X(SYNACK_RETRANSMITS, "synack_retransmits", COUNTER)                                       \
	X(SYN_HALFOPEN_FULL, "syn_halfopen_full", COUNTER)                                         \
	X(SYN_HALFOPEN_SOURCE, "syn_halfopen_source_full", COUNTER)                                \
	X(HALFOPEN_EXPIRED, "halfopen_expired", COUNTER)                                           \
	X(HALFOPEN_RESET, "halfopen_reset", COUNTER)                                               \
	X(ACK_HALFOPEN, "ack_halfopen", COUNTER)                                                   \
	X(HALFOPEN_TC_RETIRED, "halfopen_tc_retired", COUNTER)                                     \
	X(HALFOPEN_TC_LOST, "halfopen_tc_lost", COUNTER)                                           \
	X(MODE_TO_COOKIE, "mode_to_cookie", COUNTER)                                               \
	X(MODE_TO_STATEFUL, "mode_to_stateful", COUNTER)                                           \
	X(ACCEPT_OVERFLOW, "accept_overflow", COUNTER)                                             \
	X(CONN_LIMITED, "conn_limited", COUNTER)                                                   \
	X(SOURCE_CONN_LIMITED, "source_conn_limited", COUNTER)                                     \
	X(ACCEPT_TIMEOUT, "accept_timeout", COUNTER)                                               \
	X(HALFOPEN_ENTRIES, "halfopen_entries", GAUGE)                                             \
	X(ACCEPT_QUEUE, "accept_queue", GAUGE)                                                     \
	X(COOKIE_THREADS, "cookie_threads", GAUGE)                                                 \
	X(ACTIVE_CONNECTIONS, "active_connections", GAUGE)                                         \
	X(BYTES_TO_BACKEND, "bytes_to_backend", COUNTER)                                           \
	X(BYTES_TO_CLIENT, "bytes_to_client", COUNTER)

enum stats_id {
#define STATS_ENUM(id, name, kind) ST_##id,
	STATS_LIST(STATS_ENUM)
#undef STATS_ENUM
	    ST_MAX
};

enum stats_kind { STATS_COUNTER, STATS_GAUGE };

struct stats_row {
	uint64_t v[ST_MAX];
};

/* One writer thread's counters: rows[0..n_listeners-1], rows[n_listeners] = unmatched. */
struct stats_block {
	size_t n_rows;
	struct stats_row *rows;
};

extern const char *const stats_names[ST_MAX];
extern const enum stats_kind stats_kinds[ST_MAX];

static inline void stats_add(struct stats_row *r, enum stats_id id, uint64_t n)
{
	/* single writer: a relaxed load/store pair, no lock prefix */
	__atomic_store_n(&r->v[id], __atomic_load_n(&r->v[id], __ATOMIC_RELAXED) + n,
	                 __ATOMIC_RELAXED);
}

static inline void stats_inc(struct stats_row *r, enum stats_id id)
{
	stats_add(r, id, 1);
}

static inline void stats_set(struct stats_row *r, enum stats_id id, uint64_t v)
{
	__atomic_store_n(&r->v[id], v, __ATOMIC_RELAXED);
}

static inline void stats_dec(struct stats_row *r, enum stats_id id)
{
	stats_add(r, id, (uint64_t)-1);
}

int stats_block_init(struct stats_block *b, size_t n_listeners);
/* Adds row src into dst (both owned by the calling writer, or no longer written). */
void stats_row_add(struct stats_row *dst, const struct stats_row *src);
void stats_block_free(struct stats_block *b);

/* Adds every row of src into dst (same shape), reading with relaxed loads. */
void stats_block_sum(struct stats_row *dst, const struct stats_block *src);

/*
 * Sums blocks[0..n_blocks-1], each of n_rows rows, into rows[0..n_rows-1];
 * when per_queue is given, also folds each of the first n_queues blocks (the
 * queue threads') over its rows into per_queue[b]. NULL blocks are skipped;
 * blocks of another shape (made for another configuration) are skipped and
 * counted in the return value.
 */
size_t stats_sum_blocks(const struct stats_block *const *blocks, size_t n_blocks, size_t n_queues,
                        struct stats_row *rows, size_t n_rows, struct stats_row *per_queue);

#endif
