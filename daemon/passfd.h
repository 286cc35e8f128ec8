/*
 * pass-fd handoff: one Unix stream listening socket per pass-fd listener, at
 * the listener's backend path. synguard-aware backends connect to it (see
 * lib/synguard_client.h); each proven connection goes to one connected
 * backend, round-robin, as one record plus the socket (SCM_RIGHTS), after
 * which the daemon closes its copy: the backend owns the connection.
 *
 * Accept queue (acceptq.h): when no backend is connected, or none can take
 * the message right now (its socket buffer is full: it is not reading), the
 * connection waits in line in arrival order and goes to the next backend
 * that connects or drains its socket, for at most the policy's
 * accept_timeout seconds (then it is reset: ST_ACCEPT_TIMEOUT). Admission
 * bounds the accept queue before the socket even exists; the line also
 * refuses to hold more than accept_backlog itself. A policy with accept_timeout 0
 * holds nothing: the client is reset at once. A backend that hangs up, or
 * whose socket fails, is dropped. Runs on the main event loop only.
 */
#ifndef SYNGUARD_PASSFD_H
#define SYNGUARD_PASSFD_H

#include <ev.h>
#include <stddef.h>

#include "conf.h"
#include "acceptq.h"
#include "stats.h"

#define PASSFD_BACKENDS_MAX 64 /* connected backends per listener */

struct passfd;

/*
 * Opens the socket for listener l (sock_unix_listen): a stale socket file
 * left by a dead daemon is removed first, one that a live process still
 * serves is an error, and anything that is not a socket is never removed.
 * The file gets mode 0660. l, pol and `row` (the listener's counters) must outlive the
 * object or the next passfd_update. NULL + err on failure.
 */
struct passfd *passfd_new(struct ev_loop *loop, const struct conf_listener *l,
                          const struct conf_policy *pol, struct stats_row *row, char *err,
                          size_t errlen);
/* Resets the waiting connections, closes the backends and the socket, and removes the socket
 * file. */
void passfd_free(struct passfd *p);

/* Reload: the same socket (same path) under a new configuration. */
void passfd_update(struct passfd *p, const struct conf_listener *l, const struct conf_policy *pol,
                   struct stats_row *row);

/* Hands c->fd to a backend, holds it, or resets it; takes ownership of c->fd and its
 * accounting whatever happens. */
void passfd_send(struct passfd *p, const struct acceptq_conn *c);

/* Reload: the socket stays while the listener of accept queue `from` goes away and the
 * listener of `to` takes its path: the connections waiting move their accounting (without
 * a per-source count) to `to`. */
void passfd_requeue(struct passfd *p, struct acceptq *from, struct acceptq *to);

/* Backends currently connected, connections waiting for one. */
size_t passfd_backends(const struct passfd *p);
size_t passfd_waiting(const struct passfd *p);

#endif
