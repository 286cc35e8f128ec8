/*
 * Queue threads: one NFQUEUE queue, one thread, one libev loop each. A
 * thread answers SYNs with cookie SYN-ACKs, validates ACKs, builds the
 * established socket (repair.c) and passes it to the handoff. Threads share
 * nothing per packet: each has its own netlink socket, raw sockets, cookie
 * keys (derived from the shared master) and counters.
 */
#ifndef SYNGUARD_QUEUE_H
#define SYNGUARD_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "handoff.h"
#include "stats.h"

#define SGD_MASTER_KEY_LEN 32

struct queue_shared {
	const struct conf *conf;
	uint8_t cookie_master[SGD_MASTER_KEY_LEN];
	struct handoff *handoff;
};

struct queue_thread;

/* Binds NFQUEUE `num` and starts its thread. NULL + err on failure (nothing left running). */
struct queue_thread *queue_start(uint16_t num, const struct queue_shared *sh, char *err,
				 size_t errlen);
/* Stops the thread, joins it, unbinds the queue. */
void queue_stop(struct queue_thread *q);

const struct stats_block *queue_stats(const struct queue_thread *q);
uint16_t queue_num(const struct queue_thread *q);

#endif
