/*
 * Handoff: the dispatcher between the queue threads and the backends. Queue
 * threads deliver connections proven by the handshake into an inbox; the
 * main event loop takes them out and gives each to its listener's backend:
 * `proxy` (relay.h: connect, optional PROXY header, splice relay) or
 * `pass-fd` (passfd.h: SCM_RIGHTS to a synguard-aware backend).
 *
 * Listeners are known by a handoff_listener: one per listener name, kept
 * across reloads (indexes are not: a reload may add, remove and reorder
 * listeners). It carries the listener's accept queue (acceptq.h: admission,
 * per-source counts, the accept_queue figure) and how many queue threads
 * answer its SYNs with cookies. Queue threads ask handoff_admit before they
 * build a connection's socket, so a full accept queue can drop the
 * handshake ACK (the client retransmits) instead of wasting a socket.
 */
#ifndef SYNGUARD_HANDOFF_H
#define SYNGUARD_HANDOFF_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "acceptq.h"
#include "conf.h"
#include "pkt.h"
#include "stats.h"

struct handoff_listener;

struct handoff_conn {
	int fd; /* established, repaired socket; ownership moves with the struct */
	struct handoff_listener *ls; /* handoff_listener(); NULL is refused */
	struct pkt_tuple t;          /* client -> server, as in the handshake */
	/* accounting, set by handoff_admit (or by handoff_submit when not admitted) */
	struct acceptq_hold hold;
};

struct handoff;

/* Creates the service side on `loop` (opens pass-fd sockets). NULL + err on failure. */
struct handoff *handoff_new(struct ev_loop *loop, const struct conf *conf, char *err,
                            size_t errlen);
void handoff_free(struct handoff *h);

/*
 * Thread-safe; called by queue threads. Takes ownership of c->fd on success.
 * Returns -1 when the inbox is full: the caller keeps the fd, resets it,
 * releases the admission (handoff_unadmit) and counts ST_HANDOFF_FAILED.
 */
int handoff_submit(struct handoff *h, struct handoff_conn *c);

enum handoff_admit {
	HANDOFF_ADMIT_OK = ACCEPTQ_ADMIT_OK,
	HANDOFF_ADMIT_BACKLOG = ACCEPTQ_ADMIT_BACKLOG, /* accept_queue is at accept_backlog */
	HANDOFF_ADMIT_CONNS = ACCEPTQ_ADMIT_CONNS,     /* the listener holds max_connections */
	HANDOFF_ADMIT_SOURCE =
	    ACCEPTQ_ADMIT_SOURCE, /* the prefix holds per_source.max_connections */
};

/*
 * Thread-safe. Reserves c's place (c->ls and c->t set) under the policy's
 * limits; skip_source (an allow-listed client) skips the per-source cap. On
 * anything but HANDOFF_ADMIT_OK nothing is held.
 */
enum handoff_admit handoff_admit(struct handoff_conn *c, const struct conf_policy *pol,
                                 bool skip_source);
/* Thread-safe. Gives back what handoff_admit reserved, for a connection never submitted. */
void handoff_unadmit(struct handoff_conn *c);

/* Main thread: the state of listener i of the configuration in use. */
struct handoff_listener *handoff_listener(const struct handoff *h, size_t i);
const char *handoff_listener_name(const struct handoff_listener *ls);

struct handoff_listener_counts {
	uint32_t accept_queue; /* the accept_queue figure (acceptq.h) */
	uint32_t connections;  /* connections held (accept queue + relayed) */
	uint32_t sources;      /* source prefixes with a connection count */
};
void handoff_listener_counts(const struct handoff_listener *ls,
                             struct handoff_listener_counts *out);

/* Thread-safe: a queue thread starts (+1) or stops (-1) answering the listener with
 * cookies. Returns the number of such threads after the change, so that the first thread
 * to switch and the last to switch back log the listener's switch once. Only that: the
 * figure shown (stats, listeners, metrics) is the sum of the threads' cookie_threads
 * gauges. */
uint32_t handoff_listener_cookie(struct handoff_listener *ls, int delta);

/*
 * Reload, main thread. Switches the service side to c at once: pass-fd
 * sockets of new listeners are opened (a failure changes nothing: -1 +
 * err), those of removed ones closed (their waiting connections reset),
 * counters move to a new block by listener name (a removed listener's go
 * to the unmatched row), established relays keep running whatever happens
 * to their listener. Listener states of removed listeners stay valid for
 * queue threads still on the old configuration, until handoff_commit.
 * c must outlive the handoff or the next reconfiguration.
 */
int handoff_reconfigure(struct handoff *h, const struct conf *c, char *err, size_t errlen);

/* Main thread: dispatches everything in the inbox now. */
void handoff_drain(struct handoff *h);

/* Main thread, once no queue thread uses the previous configuration and the inbox was
 * drained: frees what it left (removed listeners, the previous counters block). */
void handoff_commit(struct handoff *h);

/* The service side's counters (handoffs, failures, active connections, bytes). The
 * accept_queue gauge is not kept here: it is the accept queue's figure, acceptq.h,
 * read through handoff_listener_counts. */
const struct stats_block *handoff_stats(const struct handoff *h);

/* Closes a socket with a reset (SO_LINGER 0): sock_close_reset, for queue threads. */
void handoff_reset_fd(int fd);

#endif
