/*
 * The handshake decisions of a queue thread: what a queued packet gets. The
 * module holds no I/O of its own; it reaches the world only through struct
 * hs_ops (set up by queue.c), and time and keys are passed in, so every
 * branch can be driven by a test without root.
 *
 *   unparseable          -> DROP, counted by reason (packets_malformed and
 *                           malformed_*), in the unmatched row
 *   no listener          -> ACCEPT, packets_other (unmatched row)
 *   not a SYN, an ACK nor a RST -> ACCEPT, packets_other: we never black-hole
 *                           what we do not own
 *   bad TCP checksum     -> DROP, bad_checksum (only SYNs, ACKs and RSTs to a
 *                           listener, and only when the kernel had not verified it)
 *   RST                  -> see "RST" below; ACCEPT
 *   SYN                  -> the policy decides (policy.h): deny list and
 *                           per-source rate (DROP, counted), then a SYN-ACK
 *                           (hs_ops.send_synack), backed by a half-open entry
 *                           (stateful: new or resent; a full table drops in mode
 *                           stateful) or by its cookie alone; the SYN is DROPped
 *   ACK of a recent flow -> ACCEPT (queued before its socket existed: flows.h)
 *   ACK, deny-listed     -> DROP, ack_denied
 *   ACK, valid           -> the half-open entry first, then the cookie; a place
 *                           in the accept queue (hs_ops.admit), the repaired
 *                           socket (hs_ops.build_socket), the handoff
 *                           (hs_ops.submit); ACCEPT. Refused admission: the
 *                           policy's accept_overflow ("drop": DROP, the entry
 *                           stays and its retransmit asks again; "reset": a
 *                           socket is built only to be reset, the entry goes)
 *   ACK, not valid, but a socket holds the tuple (the firewall's mark, typically
 *   the TIME_WAIT of a connection handed off) -> ACCEPT, ack_flow_passed
 *   ACK, invalid cookie  -> DROP, ack_invalid (ack_expired: no key for its epoch)
 *
 * A stateful SYN-ACK carries a cookie too, so its ACK validates even once the
 * entry is gone.
 *
 * RST (stateful and auto modes). The kernel drops a request sock when the
 * client resets it; so does this module: a RST (with or without ACK) whose
 * sequence number is exactly the client's ISN + 1 (and, with ACK, whose
 * acknowledgment is our ISN + 1) retires the half-open entry of its tuple
 * (counted halfopen_reset). An out-of-sequence RST changes nothing: a blind attacker
 * cannot retire entries without guessing the client's ISN. The RST itself is
 * ACCEPTed (the kernel has no socket for it and ignores it). A later ACK of
 * that handshake then no longer matches an entry; being a valid cookie it
 * still validates by cookie, exactly as an ACK whose entry expired: the
 * kernel's own cookies accept such an ACK too, and refusing it would need
 * state per reset handshake that a flood could fill. The firewall queues
 * RSTs to protected ports that meet no socket for this (firewall.c).
 *
 * ECN. A SYN asking for ECN (ECE and CWR set) is answered with ECE (an
 * ECN-setup SYN-ACK, RFC 3168 6.1.1; the SYN-ACK itself is not ECT) only when
 * all of these hold, and without ECE otherwise, so that the client never uses
 * ECN on a connection whose server side does not:
 *   - the listener's handoff is "local": the kernel builds that connection
 *     from the TC program's bpf_tcp_req_attrs, whose ecn_ok it keeps. The
 *     proxy and pass-fd handoffs build a repaired socket, which cannot be
 *     told that ECN was negotiated (TCP_REPAIR has no option for it): their
 *     SYNs stay answered without ECE;
 *   - timestamps are granted: the agreement travels in our TSval's ECN bit
 *     (cookie.h), echoed in the ACK's TSecr; without timestamps no bit is
 *     free for it;
 *   - the host accepts ECN on incoming connections (net.ipv4.tcp_ecn != 0 in
 *     the daemon's network namespace, hs_ctx.host_ecn): the kernel ANDs
 *     ecn_ok with that (or with a route's "features ecn", which the daemon
 *     does not read: such a route gets no ECN through us);
 *   - the SYN itself is not ECN-capable (Not-ECT), as the kernel requires of
 *     the SYNs it answers itself.
 * An AccECN SYN (AE, CWR and ECE) gets the same classic ECE, which an AccECN
 * client takes as "classic ECN only"; its ACK then carries no AccECN
 * feedback, so the kernel (which looks for it in that ACK) keeps classic ECN
 * too. hs_decision.ecn says the SYN-ACK agreed; a stateful entry keeps it for
 * retransmits (halfopen_syn.ecn). A change of net.ipv4.tcp_ecn applies to the
 * daemon at its next reload.
 *
 * Counters go straight to the rows the caller gives (stats.h: single
 * writer). Nothing here allocates.
 */
#ifndef SYNGUARD_HANDSHAKE_H
#define SYNGUARD_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "cookie.h"
#include "handoff.h"
#include "pkt.h"
#include "policy.h"
#include "repair.h"
#include "stats.h"
#include "tx.h"

/* The window our SYN-ACK advertises; SYN-ACK windows are never scaled. */
#define HS_SYNACK_WINDOW 65535
/* Our MSS in SYN-ACKs: Ethernet's (1500 less the IP and TCP headers), capped by the
 * policy's largest table entry. */
#define HS_OUR_MSS4 1460
#define HS_OUR_MSS6 1440

/* What the queue thread keeps per listener that the decisions need. */
struct hs_listener {
	struct handoff_listener *ls;
	struct policy *ps; /* NULL: cookies, no limits */
	const struct conf_policy *pol;
	struct stats_row *row;
};

/* The I/O a decision reaches; arg is hs_ctx.arg. */
struct hs_ops {
	/* Queues a SYN-ACK; l2 NULL: the route decides (tx.h). Counts synack_sent itself. */
	void (*send_synack)(void *arg, const struct pkt_spec *s, const struct tx_l2 *l2,
	                    struct stats_row *row);
	/* The established socket (repair.h), or -1 with errno set. */
	int (*build_socket)(void *arg, const struct repair_params *rp);
	/* The accept queue (handoff.h). */
	enum handoff_admit (*admit)(void *arg, struct handoff_conn *c,
	                            const struct conf_policy *pol, bool skip_source);
	void (*unadmit)(void *arg, struct handoff_conn *c);
	int (*submit)(void *arg, struct handoff_conn *c);
	void (*reset_fd)(void *arg, int fd);
	/* Recently handed-off flows (flows.h); flow_add returns true when one was evicted. */
	bool (*flow_seen)(void *arg, const struct pkt_tuple *t, uint32_t ack);
	bool (*flow_add)(void *arg, const struct pkt_tuple *t, uint32_t ack);
	/* The policy of listener li switched modes (a SYN, or the timer, made it). */
	void (*mode_changed)(void *arg, size_t li);
};

/* One thread's decision context; the caller keeps it current. */
struct hs_ctx {
	const struct hs_ops *ops;
	void *arg;
	const struct conf *conf;
	struct hs_listener *ls;      /* per listener of conf */
	struct stats_row *unmatched; /* the row of packets that matched no listener */
	const struct cookie_ctx *cookies;
	uint32_t epoch;
	uint64_t now_ms;
	bool host_ecn; /* net.ipv4.tcp_ecn != 0, read at start and reload, never per packet */
};

enum hs_action {
	HS_PASS,   /* ACCEPT: to the kernel as it is */
	HS_DROP,   /* DROP: counted as why */
	HS_SYNACK, /* answered with synack; the SYN is dropped */
	HS_SOCKET, /* rp built, submitted; the ACK ACCEPTed into its socket */
};

/* What a packet got: the action and what it was made of. */
struct hs_decision {
	enum hs_action action;
	bool accept;  /* the verdict: ACCEPT, or DROP */
	int listener; /* -1: none matched */
	/* the counter that says why it was dropped or passed; ST_MAX: none (HS_SYNACK,
	 * HS_SOCKET) */
	enum stats_id why;
	struct pkt_spec synack;  /* HS_SYNACK */
	struct repair_params rp; /* HS_SOCKET; also a socket built to be reset */
	bool ecn;                /* HS_SYNACK: it agreed to ECN (carries ECE), see above */
	int err;                 /* why = repair_failed: errno of the failed build */
	bool flows_evicted;      /* HS_SOCKET: the recent-flows table evicted a live entry */
};

/*
 * Decides the packet of NFQUEUE's copy (data, len) and does what it says
 * through the ops. csum_unverified: the kernel has not checked the checksum;
 * has_socket: the firewall's FW_SOCKET_MARK; l2: the way back (may be NULL).
 */
void hs_packet(const struct hs_ctx *c, const uint8_t *data, size_t len, bool csum_unverified,
               bool has_socket, const struct tx_l2 *l2, struct hs_decision *d);

/* The SYN-ACK answering syn (the client's options already filtered by the policy). */
void hs_synack(const struct halfopen_syn *syn, const struct conf_policy *pol, struct pkt_spec *s);

/* Listener li's timer work: SYN-ACK retransmits (through send_synack, the route
 * deciding), half-open expiries, the mode's evaluation in quiet periods. */
void hs_timer(const struct hs_ctx *c, size_t li);

/*
 * One thread's share of listener li's policy (conf's policy of it), for policy_new or
 * policy_reconfigure: the half-open table and the auto mode's SYN rate trigger are divided
 * among n_threads (the firewall spreads flows evenly over the queues); per-source limits
 * apply per thread as configured. access: the policy's allow/deny set, or NULL.
 */
void hs_policy_params(const struct conf *c, size_t li, size_t n_threads,
                      const struct cidr_set *access, struct policy_params *pp);

/* Sets listener l's half-open gauge from its table (after a reload changed the table). */
void hs_listener_sync(const struct hs_listener *l);

#endif
