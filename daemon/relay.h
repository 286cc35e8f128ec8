/*
 * Proxy handoff: connects to the listener's backend, optionally writes a
 * PROXY protocol header, then relays both directions with splice(2) until
 * both are done. Runs on the main event loop only.
 *
 * Per connection: two sockets, one pipe per direction (bounded, so a slow
 * side stops reading from the fast one: the kernel socket buffers and one
 * pipe are all that is ever queued) and one allocation. Each direction
 * moves src -> pipe -> dst:
 *   - src is read only while its pipe has room; dst is written only while
 *     the pipe holds bytes.
 *   - src EOF (FIN): once the pipe is drained, shutdown(dst, SHUT_WR); the
 *     other direction goes on. Both shut down: both sockets are closed.
 *   - a read or write error (a reset) on either side: both sockets are
 *     closed with a reset, so the peer that is still there learns of it.
 *   - no byte either way for the policy's idle_timeout: both are reset
 *     (the stream did not end, so it must not look like it did).
 * A backend that refuses, is unreachable or does not answer within
 * RELAY_CONNECT_TIMEOUT gets the client reset at once.
 *
 * Accept queue (acceptq.h): a connection is in its listener's accept queue
 * until its backend connect succeeds or fails. At most max_backend_connects
 * connects per listener are in flight (0: no cap); the rest wait in the
 * listener's line (acceptq_slot_line) in arrival order, each for at most
 * accept_timeout seconds (then reset, ST_ACCEPT_TIMEOUT). Both sockets get
 * the policy's TCP keepalive.
 *
 * Reloads: a connection keeps its listener's state while the listener
 * exists (by name); when a reload removes it, connections still waiting
 * for a connect slot are reset, the others go on to their end, counted in
 * the unmatched row.
 *
 * Counters (the listener's row): ST_HANDOFFS when the backend connect
 * succeeds, ST_HANDOFF_FAILED when it does not, ST_ACTIVE_CONNECTIONS while
 * a relay is open (connected until closed), ST_BYTES_TO_BACKEND and
 * ST_BYTES_TO_CLIENT as bytes are delivered.
 */
#ifndef SYNGUARD_RELAY_H
#define SYNGUARD_RELAY_H

#include <ev.h>

#include "conf.h"
#include "acceptq.h"
#include "stats.h"

#define RELAY_CONNECT_TIMEOUT 5.0 /* seconds */
#define RELAY_PIPE_SIZE       (64 * 1024)

struct relay;

/* conf and stats (may be NULL until relay_reconfigure) must outlive the relay or the next
 * relay_reconfigure. */
struct relay *relay_new(struct ev_loop *loop, const struct conf *conf, struct stats_block *stats);
/* Resets every connection still open and frees everything. */
void relay_free(struct relay *r);

/* Takes ownership of c->fd and its accounting whatever happens; idx is the index of c's
 * listener (c->h.q), a proxy listener, in the relay's configuration. */
void relay_start(struct relay *r, const struct acceptq_conn *c, size_t idx);

/* Reload: the listener of accept queue q is going away (its rows are still the old
 * block's). */
void relay_listener_removed(struct relay *r, struct acceptq *q);
/* Reload: the new configuration and counters; listener indexes are already updated. */
void relay_reconfigure(struct relay *r, const struct conf *conf, struct stats_block *stats);

/* Connections currently held (connecting or relaying). */
size_t relay_count(const struct relay *r);

#endif
