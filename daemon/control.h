/*
 * Control socket (Unix stream, mode 0660). Protocol: one request line per
 * connection ("stats", "stats --json", "status", ...), the daemon answers and
 * closes. synguardctl is the client.
 */
#ifndef SYNGUARD_CONTROL_H
#define SYNGUARD_CONTROL_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "stats.h"

/* What the control socket reads from the daemon. */
struct control_source {
	const struct conf *conf;
	/* stats blocks to sum: blocks[0..n_queues-1] belong to the queue threads
	 * (NFQUEUE numbers in queue_nums), blocks[n_queues] to the handoff */
	const struct stats_block *const *blocks;
	const uint16_t *queue_nums;
	size_t n_queues;
};

struct control;

struct control *control_new(struct ev_loop *loop, const char *path,
			    const struct control_source *src, char *err, size_t errlen);
void control_free(struct control *c);

#endif
