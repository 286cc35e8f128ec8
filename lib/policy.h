/*
 * The per-packet decisions of a protection policy, for one listener in one
 * queue thread: which answer a SYN gets, and how a handshake ACK is checked.
 * It ties together the pure building blocks and holds their per-thread
 * state: the access list (cidr.h: allow / deny, longest prefix wins), the
 * per-source SYN token buckets (ratelimit.h), the answer mode (mode.h) and
 * the half-open table (halfopen.h). The daemon does the I/O around it
 * (building SYN-ACKs and sockets) and counts what it is told.
 *
 * A SYN, in order:
 *   1. deny-listed source                  -> POLICY_SYN_DENY (dropped)
 *   2. over its prefix's token bucket       -> POLICY_SYN_RATE_LIMITED (dropped);
 *      allow-listed sources skip this step
 *   3. the mode decides (every SYN that got this far counts toward the
 *      auto mode's SYN rate)                -> POLICY_SYN_COOKIE or POLICY_SYN_STATEFUL
 * After STATEFUL the caller computes the SYN-ACK (its ISN is still the
 * cookie, so the ACK also validates statelessly should the entry be gone)
 * and calls policy_syn_insert:
 *   - a new entry                           -> POLICY_INS_NEW
 *   - the tuple already has one (the client
 *     retransmitted its SYN)                -> POLICY_INS_RESEND, the entry copied out
 *   - table full / source at its cap:
 *     mode `auto`                           -> POLICY_INS_COOKIE (answer with a cookie)
 *     mode `stateful`                       -> POLICY_INS_FULL / POLICY_INS_SOURCE_FULL (drop)
 *
 * A handshake ACK: a deny-listed source is dropped (POLICY_ACK_DENY); then
 * the half-open table is asked first (an entry whose ISNs match the ACK's
 * numbers gives POLICY_ACK_HALFOPEN and the entry, with the client's exact
 * options); otherwise POLICY_ACK_COOKIE: the caller checks the cookie. The
 * entry stays until policy_ack_done, so an ACK the caller cannot serve yet
 * (a full accept queue) leaves it there, and the next SYN-ACK retransmit
 * draws another ACK, as the kernel's SYN queue does.
 *
 * Time is a parameter (ms, any monotonic origin); nothing here reads a
 * clock, draws randomness or allocates per packet. Not thread-safe: one
 * state per listener per thread.
 */
#ifndef SYNGUARD_POLICY_H
#define SYNGUARD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "halfopen.h"
#include "mode.h"
#include "pkt.h"

#define POLICY_SEED_LEN 32 /* one 16-byte key for each hashed table */

/* cidr_set values of an access set built by policy_access_new */
#define POLICY_ALLOWED 0
#define POLICY_DENIED  1

struct policy_params {
	enum mode_kind kind;
	/* half-open table (kind stateful or auto) */
	size_t half_open_capacity;
	uint32_t half_open_per_source; /* 0: no cap */
	uint32_t rto_ms;
	uint8_t synack_retries;
	/* auto */
	uint32_t syn_rate_trigger; /* SYNs per second; 0: never */
	double fill_trigger;       /* (0, 1] */
	uint32_t calm_ms;
	/* per source: the prefix of the rate limit and of the half-open cap */
	uint32_t syn_rate; /* 0: no rate limit */
	uint32_t burst;
	size_t rate_table_size;
	uint8_t prefix_v4; /* 0..32 */
	uint8_t prefix_v6; /* 0..64 */
	/* allow / deny: built by policy_access_new, owned by the caller, outlives the state;
	 * NULL: nobody is listed */
	const struct cidr_set *access;
};

enum policy_access { POLICY_ACCESS_NONE, POLICY_ACCESS_ALLOW, POLICY_ACCESS_DENY };

enum policy_syn {
	POLICY_SYN_DENY,
	POLICY_SYN_RATE_LIMITED,
	POLICY_SYN_COOKIE,
	POLICY_SYN_STATEFUL,
};

enum policy_ins {
	POLICY_INS_NEW,
	POLICY_INS_RESEND,
	POLICY_INS_COOKIE,
	POLICY_INS_FULL,
	POLICY_INS_SOURCE_FULL,
};

enum policy_ack {
	POLICY_ACK_DENY,
	POLICY_ACK_HALFOPEN,
	POLICY_ACK_COOKIE,
};

/*
 * Builds the access set of allow (value POLICY_ALLOWED) and deny
 * (POLICY_DENIED) prefixes; NULL with a message, or NULL with err[0] == '\0'
 * when both lists are empty.
 */
struct cidr_set *policy_access_new(const struct cidr *allow, size_t n_allow,
                                   const struct cidr *deny, size_t n_deny, char *err,
                                   size_t errlen);

struct policy;

/*
 * NULL (errno EINVAL for bad params, ENOMEM) on failure. The rate table and
 * the half-open table exist only when the params need them.
 */
struct policy *policy_new(const struct policy_params *p, const uint8_t seed[POLICY_SEED_LEN],
                          uint64_t now_ms);
void policy_free(struct policy *ps);

/*
 * Reload: applies p keeping what can be kept (token buckets, half-open
 * entries with their schedule, the mode and its rate window). *dropped
 * (may be NULL) counts half-open entries lost: a smaller table, or a mode
 * that needs none. On failure (-1, errno) the state is unchanged.
 */
int policy_reconfigure(struct policy *ps, const struct policy_params *p,
                       const uint8_t seed[POLICY_SEED_LEN], uint64_t now_ms, size_t *dropped);

enum policy_access policy_access_of(const struct policy *ps, int family, const uint8_t *addr);

/* Steps 1-3 above for a SYN of tuple t (client -> server). *ev (may be NULL) reports a mode
 * switch this SYN made. */
enum policy_syn policy_syn_check(struct policy *ps, const struct pkt_tuple *t, uint64_t now_ms,
                                 enum mode_event *ev);

/* After POLICY_SYN_STATEFUL: records the SYN-ACK about to be sent. On POLICY_INS_RESEND the
 * existing entry is copied to *existing (may be NULL). */
enum policy_ins policy_syn_insert(struct policy *ps, const struct halfopen_syn *syn,
                                  uint64_t now_ms, struct halfopen_entry *existing);

/* A handshake ACK of tuple t with sequence and acknowledgment numbers seq and ack. On
 * POLICY_ACK_HALFOPEN the entry is copied to *e (may be NULL). */
enum policy_ack policy_ack(const struct policy *ps, const struct pkt_tuple *t, uint32_t seq,
                           uint32_t ack, struct halfopen_entry *e);

/* The handshake of t is served (or refused for good): forgets its half-open entry. */
bool policy_ack_done(struct policy *ps, const struct pkt_tuple *t);

/*
 * A handshake of t completed elsewhere (the kernel fast path of handoff "local"), its ACK
 * carrying seq and ack: forgets t's half-open entry when it is that handshake's (its ISNs
 * match, as in policy_ack), and only then returns true. No access check: the ACK was
 * admitted where it was served.
 */
bool policy_handshake_done(struct policy *ps, const struct pkt_tuple *t, uint32_t seq,
                           uint32_t ack);

/* A RST of tuple t (client -> server): forgets t's half-open entry when the RST is in
 * sequence (seq is the client's ISN + 1 and, when has_ack, ack our ISN + 1), as the kernel
 * drops a request sock; true when an entry went. */
bool policy_reset(struct policy *ps, const struct pkt_tuple *t, uint32_t seq, bool has_ack,
                  uint32_t ack);

/* The timer's work: SYN-ACK retransmits and expiries (as halfopen_due), and the mode's
 * evaluation in quiet periods (*ev as in policy_syn_check). */
size_t policy_due(struct policy *ps, uint64_t now_ms, struct halfopen_event *evs, size_t max);
enum mode_use policy_tick(struct policy *ps, uint64_t now_ms, enum mode_event *ev);

/* Counts n SYNs the mode did not see one by one toward its SYN rate (datapath "xdp": SYNs
 * answered in the driver while auto mode answers with cookies); the next policy_tick
 * evaluates them. */
void policy_note_syns(struct policy *ps, uint64_t now_ms, uint32_t n);

/* When the timer has work next: UINT64_MAX when there is no half-open entry. */
uint64_t policy_next_due(const struct policy *ps);

enum mode_use policy_mode(const struct policy *ps);
unsigned policy_mode_why(const struct policy *ps);
size_t policy_half_open(const struct policy *ps);

/* Observations without a caller in the daemon: what test_policy checks a reconfiguration and
 * the mode's rate by (policy_next_due above too). */
uint32_t policy_syn_rate(const struct policy *ps, uint64_t now_ms);
size_t policy_half_open_capacity(const struct policy *ps);
bool policy_has_rate_limit(const struct policy *ps);

#endif
