/*
 * Handoff: where queue threads deliver connections proven by the handshake.
 * The service side runs on the main event loop and hands each connection to
 * its listener's backend: `proxy` (connect, optional PROXY header, splice
 * relay) or `pass-fd` (SCM_RIGHTS to a synguard-aware backend).
 */
#ifndef SYNGUARD_HANDOFF_H
#define SYNGUARD_HANDOFF_H

#include <ev.h>
#include <stdint.h>

#include "conf.h"
#include "pkt.h"
#include "stats.h"

struct handoff_conn {
	int fd;            /* established, repaired socket; ownership moves with the struct */
	uint32_t listener; /* index into conf->listeners */
	struct pkt_tuple t; /* client -> server, as in the handshake */
};

struct handoff;

/* Creates the service side on `loop` (opens pass-fd sockets). NULL + err on failure. */
struct handoff *handoff_new(struct ev_loop *loop, const struct conf *conf, char *err,
			    size_t errlen);
void handoff_free(struct handoff *h);

/*
 * Thread-safe; called by queue threads. Takes ownership of c->fd on success.
 * Returns -1 when the inbox is full: the caller keeps the fd, resets it and
 * counts ST_HANDOFF_FAILED.
 */
int handoff_submit(struct handoff *h, const struct handoff_conn *c);

/* The service side's counters (handoffs, failures, active connections, bytes). */
const struct stats_block *handoff_stats(const struct handoff *h);

/* Closes a socket with a reset (SO_LINGER 0). */
void handoff_reset_fd(int fd);

#endif
