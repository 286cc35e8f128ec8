/*
 * Control socket (Unix stream, mode 0660). Protocol: one request line per
 * connection ("stats", "stats --json", "status", ...), the daemon answers and
 * closes. synguardctl is the client.
 */
#ifndef SYNGUARD_CONTROL_H
#define SYNGUARD_CONTROL_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "stats.h"

/*
 * A kernel program's own counters, which have no stats id: rows 0..n_rows-1 are the
 * listeners of the configuration shown and the unmatched row, each of n_ids values named
 * names[] (row r, id i: v[r * n_ids + i]). sum (same shape as the stats rows) is what of
 * them is also summed into the listeners' rows.
 */
struct control_kcounters {
	const char *const *names;
	size_t n_ids;
	size_t n_rows;
	const uint64_t *v;
	const struct stats_block *sum;
};

/* What the control socket reads from the daemon. */
struct control_source {
	const struct conf *conf;
	/* stats blocks to sum: blocks[0..n_queues-1] belong to the queue threads
	 * (NFQUEUE numbers in queue_nums), blocks[n_queues] to the handoff */
	const struct stats_block *const *blocks;
	const uint16_t *queue_nums;
	size_t n_queues;
	/* The accept_queue figure of listener i of conf (acceptq.h), read when counters are
	 * shown: it stands in for the blocks' accept_queue gauge, so that the stats, the
	 * listeners view and the metrics all show the one figure. NULL: the blocks' gauge. */
	uint32_t (*accept_queue)(void *arg, size_t i);
	/* The kernel fast path's counters (handoff "local", fastpath.h), read when counters
	 * are shown: summed into the listeners' rows and shown apart as the "tc" path.
	 * NULL, or NULL returned: no fast path. */
	const struct stats_block *(*tc_stats)(void *arg);
	/* The XDP program's counters (datapath "xdp", xdppath.h), read when counters are
	 * shown: the "xdp" rows, and their sum block summed into the listeners' rows.
	 * NULL, or NULL returned: no XDP. */
	const struct control_kcounters *(*xdp_stats)(void *arg);
	void *arg;
};

/* The counters the fast path keeps (the others stay 0 in its block). */
static inline bool control_tc_counter(size_t id)
{
	return id == ST_ACK_VALID || id == ST_HANDOFFS || id == ST_HANDOFF_FAILED ||
	       id == ST_ACK_INVALID || id == ST_ACK_EXPIRED || id == ST_ACK_DENIED ||
	       id == ST_ACK_FLOW_PASSED || id == ST_MALFORMED_OPT || id == ST_HALFOPEN_TC_LOST;
}

/* src's fast path block when it has one of n_rows rows, NULL otherwise. */
static inline const struct stats_block *control_source_tc(const struct control_source *src,
                                                          size_t n_rows)
{
	const struct stats_block *b = src->tc_stats ? src->tc_stats(src->arg) : NULL;

	return b && b->n_rows == n_rows ? b : NULL;
}

/* src's XDP counters when they have n_rows rows, NULL otherwise. */
static inline const struct control_kcounters *control_source_xdp(const struct control_source *src,
                                                                 size_t n_rows)
{
	const struct control_kcounters *k = src->xdp_stats ? src->xdp_stats(src->arg) : NULL;

	return k && k->n_rows == n_rows && k->sum && k->sum->n_rows == n_rows ? k : NULL;
}

/* Adds the kernel programs' shares (TC, XDP) into rows summed from src's blocks. */
static inline void control_source_kernel_sum(const struct control_source *src,
                                             struct stats_row *rows, size_t n_rows)
{
	const struct stats_block *tc = control_source_tc(src, n_rows);
	const struct control_kcounters *xdp = control_source_xdp(src, n_rows);

	if (tc)
		stats_block_sum(rows, tc);
	if (xdp)
		stats_block_sum(rows, xdp->sum);
}

/* Puts the accept_queue figure into rows summed from src's blocks (n_rows: the listeners of
 * src->conf and the unmatched row, which holds no accept queue). */
static inline void control_source_accept_queue(const struct control_source *src,
                                               struct stats_row *rows, size_t n_rows)
{
	if (!src->accept_queue)
		return;
	for (size_t i = 0; i < n_rows; i++)
		rows[i].v[ST_ACCEPT_QUEUE] = i + 1 < n_rows ? src->accept_queue(src->arg, i) : 0;
}

/* The runtime state of one listener (handoff.h's counts). */
struct control_listener_info {
	uint32_t accept_queue; /* the figure of control_source.accept_queue */
	uint32_t connections;
	uint32_t sources; /* source prefixes with a connection count */
};

/* What only the running daemon can do; without them those commands answer an error. */
struct control_hooks {
	void *arg;
	/* "reload": re-reads the configuration. Either writes the whole answer to out
	 * and returns false, or returns true and answers later, without blocking, with
	 * control_reply(ticket). Answers start with "error:" when the configuration
	 * was kept. */
	bool (*reload)(void *arg, FILE *out, uint64_t ticket);
	/* the state of listener i of the source's conf */
	void (*listener_info)(void *arg, size_t i, struct control_listener_info *out);
};

struct control;

struct control *control_new(struct ev_loop *loop, const char *path,
                            const struct control_source *src, char *err, size_t errlen);
void control_free(struct control *c);
void control_set_hooks(struct control *c, const struct control_hooks *hooks);
/* Completes an answer the reload hook deferred; nothing happens when its client is gone. */
void control_reply(struct control *c, uint64_t ticket, const char *text);

#endif
