/*
 * The accept queue of a listener: admission of proven connections and the
 * waiting line in front of the backend.
 *
 * accept_queue, the one figure shown under that name everywhere
 * (synguardctl stats and listeners, their JSON, the metrics endpoint):
 * proven connections of the listener not yet taken by its backend: in the
 * inbox between queue threads and the main loop, waiting for a connect slot
 * (max_backend_connects), connecting to a proxy backend, or waiting for a
 * pass-fd backend. A connection enters when a queue thread admits it
 * (acceptq_admit, before its socket is even built) and leaves when its
 * backend connect succeeds or fails, or a pass-fd backend receives it, or
 * it is reset. accept_backlog bounds this figure.
 *
 * Admission (queue threads, thread-safe: atomics, and a mutex per per-source
 * table, taken only for proven connections, never on the flood's path):
 * accept_backlog bounds the accept queue, max_connections what the daemon
 * holds (the accept queue plus open relays), per_source.max_connections
 * what one source prefix holds (allow-listed clients skip it). Proxy
 * connections are held until they close, pass-fd connections until a
 * backend takes them (after that they are the backend's, out of sight).
 *
 * One acceptq per listener name, kept across reloads by the handoff; a
 * per-source table is reference-counted (the queue's reference and one per
 * counted connection), so a reload that changes the prefixes builds a new
 * one while connections counted in the old one still release into it.
 *
 * The waiting line (acceptq_fifo, main loop only): connections in arrival
 * order, each for at most `timeout` seconds, used by both handoffs (proxy:
 * waiting for a connect slot; pass-fd: waiting for a backend). Time is
 * passed in; with a loop, a timer expires entries on time by itself.
 */
#ifndef SYNGUARD_ACCEPTQ_H
#define SYNGUARD_ACCEPTQ_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "pkt.h"

struct acceptq;
struct acceptq_src;

/* What one connection holds in its listener's accept queue; all zero: nothing. */
struct acceptq_hold {
	struct acceptq *q;
	bool queued;             /* counts in accept_queue */
	bool held;               /* counts in connections */
	struct acceptq_src *src; /* holds one count of its source prefix */
};

/* A proven connection on its way to its backend; ownership of fd moves with it. */
struct acceptq_conn {
	int fd;
	struct pkt_tuple t; /* client -> server, as in the handshake */
	struct acceptq_hold h;
};

struct acceptq *acceptq_new(const char *name);
/* Gives back the queue's reference to its per-source table. */
void acceptq_free(struct acceptq *q);
const char *acceptq_name(const struct acceptq *q);

/* Main thread: the listener's index in the configuration in use; -1 once a reload removed
 * it (connections still held settle their accounts, no new one is started). */
int acceptq_index(const struct acceptq *q);
void acceptq_set_index(struct acceptq *q, int idx);

enum acceptq_admit {
	ACCEPTQ_ADMIT_OK,
	ACCEPTQ_ADMIT_BACKLOG, /* the accept queue holds accept_backlog connections */
	ACCEPTQ_ADMIT_CONNS,   /* the listener holds max_connections */
	ACCEPTQ_ADMIT_SOURCE,  /* the source prefix holds per_source.max_connections */
};

/* Thread-safe. Reserves a place for a connection from t under pol's limits; on anything
 * but ACCEPTQ_ADMIT_OK nothing is held. */
enum acceptq_admit acceptq_admit(struct acceptq *q, struct acceptq_hold *h,
                                 const struct conf_policy *pol, const struct pkt_tuple *t,
                                 bool skip_source);
/* Thread-safe. Counts a connection that was never admitted, without limits, so that its
 * releases balance. Nothing when h already holds something. */
void acceptq_enter(struct acceptq *q, struct acceptq_hold *h);
/* The connection left the accept queue (taken by its backend, or failed); it stays held. */
void acceptq_leave(struct acceptq_hold *h);
/* Thread-safe. Gives back everything h still holds (t: the tuple it was admitted with).
 * Twice changes nothing. */
void acceptq_drop(struct acceptq_hold *h, const struct pkt_tuple *t);

struct acceptq_counts {
	uint32_t accept_queue; /* see above */
	uint32_t connections;  /* held: the accept queue plus open relays */
	uint32_t sources;      /* source prefixes with a connection count */
};
void acceptq_counts(const struct acceptq *q, struct acceptq_counts *out);

/* Reload, main thread. Whether q's per-source table suits pol as it is; a new table for pol
 * (NULL: out of memory or randomness); installs g (may be NULL: no per-source cap) and
 * returns the previous table, whose reference the caller drops with acceptq_src_unref once
 * no queue thread can still read it. */
bool acceptq_src_fits(const struct acceptq *q, const struct conf_policy *pol);
bool acceptq_src_present(const struct acceptq *q);
struct acceptq_src *acceptq_src_new(const struct conf_policy *pol);
struct acceptq_src *acceptq_src_swap(struct acceptq *q, struct acceptq_src *g);
void acceptq_src_unref(struct acceptq_src *g);

/* ---- the waiting line ---- */

struct acceptq_wait {
	struct acceptq_wait *prev, *next;
	double since;
	bool linked;
};

struct acceptq_fifo;
/* Called for each entry that waited `timeout`, already removed from the line. */
typedef void acceptq_expired_fn(struct acceptq_fifo *f, struct acceptq_wait *w, void *arg);

struct acceptq_fifo {
	struct acceptq_wait *head, *tail;
	size_t n;
	double timeout; /* seconds an entry may wait */
	acceptq_expired_fn *expired;
	void *arg;
	struct ev_loop *loop; /* NULL: no timer, the owner calls acceptq_fifo_expire */
	ev_timer timer;
};

void acceptq_fifo_init(struct acceptq_fifo *f, struct ev_loop *loop, double timeout,
                       acceptq_expired_fn *expired, void *arg);
/* Stops the timer; the line must be empty (entries are the owner's to settle). */
void acceptq_fifo_fini(struct acceptq_fifo *f);
/* Applies to the entries already waiting too. */
void acceptq_fifo_set_timeout(struct acceptq_fifo *f, double timeout, double now);
void acceptq_fifo_push(struct acceptq_fifo *f, struct acceptq_wait *w, double now);
/* The oldest entry, taken out; NULL when empty. */
struct acceptq_wait *acceptq_fifo_pop(struct acceptq_fifo *f, double now);
/* Takes w out wherever it is; nothing when it is not in a line. */
void acceptq_fifo_remove(struct acceptq_fifo *f, struct acceptq_wait *w, double now);
/* Hands every entry whose time is up at `now` to the expired callback, oldest first.
 * Returns how many. */
size_t acceptq_fifo_expire(struct acceptq_fifo *f, double now);
/* When the oldest entry's time is up; a negative value when the line is empty. */
double acceptq_fifo_deadline(const struct acceptq_fifo *f);

/* Main thread: proxy backend connects in flight (max_backend_connects; 0: no cap), and the
 * line of connections waiting for one. */
bool acceptq_slot_take(struct acceptq *q, uint32_t max);
void acceptq_slot_give(struct acceptq *q);
uint32_t acceptq_slots_used(const struct acceptq *q);
struct acceptq_fifo *acceptq_slot_line(struct acceptq *q);

#endif
