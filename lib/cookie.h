/*
 * SYN cookies: the server's initial sequence number (ISN) of a SYN-ACK
 * encodes what a half-open connection would have stored, authenticated by a
 * SipHash-2-4 MAC, so that a returning ACK can be validated without state.
 *
 * ISN layout (32 bits, most significant first):
 *
 *   31                                 8 7   6 5     3   2    1     0
 *  +------------------------------------+-----+-------+----+----+------+
 *  |          MAC (24 bits)             | MSS | WSCALE|SACK| TS |EPOCH |
 *  |                                    | idx |  idx  |    |    |parity|
 *  +------------------------------------+-----+-------+----+----+------+
 *
 *  MSS idx     index into the caller's 4-entry ascending MSS table: the
 *              largest entry not above the client's MSS (entry 0 if none is).
 *  WSCALE idx  0: client sent no window scale option; 1..7: index into
 *              COOKIE_WSCALE_TABLE, rounded down (a smaller shift than the
 *              client's makes us read its windows as smaller: safe).
 *  SACK        client sent SACK-permitted (and the policy allows it).
 *  TS          timestamps negotiated: our SYN-ACK carried TSval = 31 more MAC
 *              bits and the ECN bit (below), which the client must echo in
 *              every ACK's TSecr.
 *  EPOCH       low bit of the time epoch the cookie was made in; it selects
 *              one of two live keys.
 *
 * MAC = SipHash-2-4(key[epoch & 1], family | saddr | daddr | sport | dport |
 *       client ISN | epoch | low 8 bits of the ISN), over a fixed 46-byte
 * input (cookie_layout.h): family is 4 or 6, addresses take 16 bytes each (IPv4 in
 * the first 4, the rest zero), integers are big-endian. Bits 63..40 of the
 * hash (read as SipHash's little-endian 64-bit output) form the ISN's MAC and
 * bits 31..1 the TSval's. Binding the client ISN means the ACK's sequence
 * number is checked too (it must be client ISN + 1).
 *
 * ECN. With timestamps, TSval bit 0 (COOKIE_TS_ECN) says "ECN agreed" (our
 * SYN-ACK carried ECE), as the kernel's own syncookies keep ECN in the
 * timestamp; the check masks it off before comparing and reports it. The bit
 * is deliberately outside the MAC: a client holding a valid cookie could as
 * well have asked for ECN in its SYN, so letting it set the bit in its ACK
 * gains it nothing it could not have had (the kernel still refuses ECN when
 * the host does not accept it). Without timestamps there is no room for it:
 * ECN is never agreed (cookie_make ignores in->ecn, cookie_check reports
 * false).
 *
 * Time: epochs are consecutive integers (the daemon uses seconds / rotation
 * interval). A cookie made in epoch e is valid while the current epoch is e or
 * e + 1, and only while the key installed for e is still live: installing the
 * key of epoch e + 2 (same parity) retires it. So a cookie lives between one
 * and two rotation intervals, and an old key is accepted after one rotation
 * and rejected after two.
 *
 * The check takes the cookie's epoch to be now_epoch when the parity bits
 * match and now_epoch - 1 otherwise, and answers COOKIE_ENOKEY when exactly
 * that epoch's key is not installed (e.g. now is e + 2 but the rotation to
 * e + 2 has not happened yet). Once the key of e + 2 is installed, a cookie of
 * e names e + 2 and fails as COOKIE_EMAC: with one parity bit an expired
 * cookie cannot be told from a forgery.
 *
 * Time and keys are parameters: nothing here reads a clock or a random source.
 */
#ifndef SYNGUARD_COOKIE_H
#define SYNGUARD_COOKIE_H

#include <stdbool.h>
#include <stdint.h>

#include "cookie_layout.h" /* COOKIE_KEY_LEN, the tables, the bit layout */
#include "pkt.h"

enum cookie_result {
	COOKIE_VALID = 0,
	COOKIE_ENOKEY, /* no live key for the cookie's epoch: expired or too old */
	COOKIE_EMAC,   /* MAC mismatch: forged, or tuple / client ISN changed */
	COOKIE_ETS,    /* timestamps were negotiated but the ACK's TSecr is missing or wrong */
};

struct cookie_ctx; /* two live keys */

struct cookie_ctx *cookie_new(void);
void cookie_free(struct cookie_ctx *ctx);

/* Installs the key for an epoch in slot (epoch & 1), retiring whatever was there. */
void cookie_set_key(struct cookie_ctx *ctx, uint32_t epoch, const uint8_t key[COOKIE_KEY_LEN]);

/*
 * Derives the key of an epoch from a 32-byte master secret (libsodium's
 * BLAKE2b KDF). Every thread, and every host sharing the master, derives the
 * same key for the same epoch without coordination.
 */
#define COOKIE_MASTER_LEN 32
void cookie_derive_key(uint8_t key[COOKIE_KEY_LEN], const uint8_t master[COOKIE_MASTER_LEN],
                       uint32_t epoch);

/* True when a key for exactly this epoch is installed. */
bool cookie_has_key(const struct cookie_ctx *ctx, uint32_t epoch);

/* The connection parameters a cookie carries. */
struct cookie_syn {
	uint16_t mss; /* as decoded: a table entry */
	uint8_t wscale;
	bool has_wscale;
	bool sack_ok;
	bool has_ts;
	bool ecn; /* ECN agreed; only with has_ts (see ECN above) */
};

/*
 * Makes the ISN for a SYN-ACK answering a SYN with tuple t (client -> server,
 * as seen in the SYN) and client ISN client_isn, in epoch `epoch`. `in` holds
 * the options to grant (the client's, filtered by policy; mss 0 = client sent
 * none, the table's entry 0 is then used; ecn: the SYN-ACK agrees to ECN, which
 * only timestamps can carry). On success writes the ISN, and the TSval to send
 * when in->has_ts (tsval may be NULL otherwise), and returns 0;
 * returns -1 if no key is installed for epoch or t->family is neither AF_INET
 * nor AF_INET6. One SipHash, no allocation.
 */
int cookie_make(const struct cookie_ctx *ctx, uint32_t epoch, const uint16_t mss_table[4],
                const struct pkt_tuple *t, uint32_t client_isn, const struct cookie_syn *in,
                uint32_t *isn, uint32_t *tsval);

/*
 * Checks the ACK that completes a handshake: t as seen in the ACK (client ->
 * server), seq and ack its sequence and acknowledgment numbers, opt its
 * options (has_ts/tsecr are used; NULL means none). now_epoch is the current
 * epoch. A tuple of an unknown family gives COOKIE_EMAC. On COOKIE_VALID fills
 * *out with the decoded parameters (ecn: the TSecr's ECN bit, when the cookie
 * has timestamps). At most one SipHash, no allocation.
 */
enum cookie_result cookie_check(const struct cookie_ctx *ctx, uint32_t now_epoch,
                                const uint16_t mss_table[4], const struct pkt_tuple *t,
                                uint32_t seq, uint32_t ack, const struct pkt_tcpopts *opt,
                                struct cookie_syn *out);

#endif
