/*
 * Queue threads: one NFQUEUE queue, one thread, one libev loop each. A
 * thread reads its queue (nfqsock.h), has each packet decided (handshake.h:
 * SYN-ACKs through tx.c, ACKs checked, sockets built by repair.c and passed
 * to the handoff), and gives the verdicts. Threads share
 * nothing per packet: each has its own netlink socket, raw sockets, cookie
 * keys (derived from the shared master) and counters.
 *
 * Policies: each thread keeps, per listener, its own policy state
 * (policy.h: rate table, half-open table, mode), sized as the listener's
 * share: half_open_max and syn_rate_trigger are divided among the threads
 * (the firewall's --queue-balance hashes a connection's addresses, so a
 * flow's SYN and ACK meet the same thread, and a flood spreads evenly);
 * per-source limits apply per thread as configured (a source talking to one
 * address always hashes to the same thread). A timer (every
 * Q_TIMER_MS) retransmits SYN-ACKs, expires half-open entries and lets the
 * auto mode notice a quiet period.
 *
 * Datapath "xdp" (xdppath.h): a listener in auto mode has its SYNs answered
 * in XDP while at least one thread answers them with cookies; the thread
 * that makes that count leave or reach zero sets the program's switch. At
 * each timer tick a thread adds its share (1 / n_queues) of the SYNs XDP
 * answered since its previous tick to its SYN rate: they no longer reach
 * it, and without them it would take the flood for over and switch back.
 *
 * Reload: main publishes a new queue_gen (an RCU-like scheme). Each thread
 * picks it up at the top of its next batch (or when woken), rebuilds or
 * reconfigures its per-listener state keyed by listener name (the
 * handoff_listener), moves its counters into a block of the new shape by
 * name, and says so (queue_gen_seq, the moved_on callback). Main frees the
 * previous generation, and the previous counters block, only after every
 * thread has moved on.
 *
 * Handshakes completed in the kernel (handoff "local", fastpath.h): the
 * thread that answered the SYN holds its half-open entry, and which thread
 * that was cannot be told from user space (--queue-balance hashes with a
 * seed of the kernel's), so main hands every report to every thread through
 * a bounded mailbox of each (lock-free, single producer: queue_tc_done) and
 * wakes them once per batch (queue_tc_flush). Each thread retires the entry
 * if it holds it (the ISNs must match: policy_handshake_done); for the others
 * it is one lookup that misses. A full mailbox refuses the report: the
 * caller counts it lost and the entry expires as it would have.
 */
#ifndef SYNGUARD_QUEUE_H
#define SYNGUARD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "conf.h"
#include "cookie.h"
#include "fastpath.h"
#include "handoff.h"
#include "stats.h"
#include "xdppath.h"

/* A configuration as the queue threads use it; immutable once published. */
struct queue_gen {
	uint64_t seq; /* increases with every reload */
	const struct conf *conf;
	struct handoff_listener **ls; /* per listener of conf */
	struct cidr_set **access;     /* per policy of conf: allow/deny; NULL when both empty */
	bool host_ecn; /* net.ipv4.tcp_ecn != 0 when the generation was built (handshake.h) */
	/* datapath "xdp" (counters_fd >= 0): its auto mode switch and counters, and per
	 * listener of conf its slot there, -1 where XDP does not follow auto mode */
	struct xdppath_auto xdp;
	int *xdp_slot; /* NULL with datapath "nfqueue" */
};

struct queue_shared {
	uint8_t cookie_master[COOKIE_MASTER_LEN];
	struct handoff *handoff;
	size_t n_queues;             /* threads sharing each listener */
	const struct queue_gen *gen; /* read and written with atomics: the one to use */
	/* called by a queue thread once it uses gen (any thread) */
	void (*moved_on)(void *arg);
	void *moved_arg;
};

struct queue_thread;

/* Binds NFQUEUE `num` and starts its thread on sh->gen. NULL + err on failure (nothing left
 * running). */
struct queue_thread *queue_start(uint16_t num, const struct queue_shared *sh, char *err,
                                 size_t errlen);
/* Stops the thread, joins it, unbinds the queue. */
void queue_stop(struct queue_thread *q);

/* Wakes the thread to pick up a newly published generation. */
void queue_wake(struct queue_thread *q);
/* The seq of the generation the thread uses (atomic read). */
uint64_t queue_gen_seq(const struct queue_thread *q);

/* Main thread only: queues report d for the thread; false when its mailbox is full. */
bool queue_tc_done(struct queue_thread *q, const struct fastpath_done *d);
/* Main thread only: wakes the thread to work through the reports queued since. */
void queue_tc_flush(struct queue_thread *q);

/* The counters block the thread writes now. */
const struct stats_block *queue_stats(const struct queue_thread *q);
/* Frees the block the thread wrote before it last moved on (call after queue_gen_seq shows
 * the move, once no reader uses the old block). */
void queue_stats_free_prev(struct queue_thread *q);

#endif
