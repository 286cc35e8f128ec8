/*
 * pass-fd handoff: one Unix stream listening socket per pass-fd listener, at
 * the listener's backend path. synguard-aware backends connect to it (see
 * lib/synguard_client.h); each proven connection goes to one connected
 * backend, round-robin, as one record plus the socket (SCM_RIGHTS), after
 * which the daemon closes its copy: the backend owns the connection.
 *
 * No queueing yet: when no backend is connected or none can take the
 * message right now (socket buffer full: the backend is not reading), the
 * client is reset and ST_HANDOFF_FAILED counted. A backend that hangs up,
 * or whose socket fails, is dropped. Runs on the main event loop only.
 */
#ifndef SYNGUARD_PASSFD_H
#define SYNGUARD_PASSFD_H

#include <ev.h>
#include <stddef.h>

#include "conf.h"
#include "handoff.h"
#include "stats.h"

#define PASSFD_BACKENDS_MAX 64 /* connected backends per listener */

struct passfd;

/*
 * Opens the socket for listener l (index idx): a stale socket file left by a
 * dead daemon is removed first, one that a live process still serves is an
 * error, and anything that is not a socket is never removed. The file gets
 * mode 0660. `row` (the listener's counters) must outlive the object.
 * NULL + err on failure.
 */
struct passfd *passfd_new(struct ev_loop *loop, const struct conf_listener *l,
                          struct stats_row *row, char *err, size_t errlen);
/* Closes the backends and the socket, and removes the socket file. */
void passfd_free(struct passfd *p);

/* Hands c->fd to a backend or resets it; takes ownership of c->fd either way. */
void passfd_send(struct passfd *p, const struct handoff_conn *c);

/* Backends currently connected. */
size_t passfd_backends(const struct passfd *p);

#endif
