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
 * Counters (the listener's row): ST_HANDOFFS when the backend connect
 * succeeds, ST_HANDOFF_FAILED when it does not, ST_ACTIVE_CONNECTIONS while
 * a relay is open (connected until closed), ST_BYTES_TO_BACKEND and
 * ST_BYTES_TO_CLIENT as bytes are delivered.
 */
#ifndef SYNGUARD_RELAY_H
#define SYNGUARD_RELAY_H

#include <ev.h>

#include "conf.h"
#include "handoff.h"
#include "stats.h"

#define RELAY_CONNECT_TIMEOUT 5.0 /* seconds */
#define RELAY_PIPE_SIZE       (64 * 1024)

struct relay;

/* conf and stats must outlive the relay. */
struct relay *relay_new(struct ev_loop *loop, const struct conf *conf, struct stats_block *stats);
/* Resets every connection still open and frees everything. */
void relay_free(struct relay *r);

/* Takes ownership of c->fd whatever happens; c->listener is a proxy listener. */
void relay_start(struct relay *r, const struct handoff_conn *c);

/* Connections currently held (connecting or relaying). */
size_t relay_count(const struct relay *r);

#endif
