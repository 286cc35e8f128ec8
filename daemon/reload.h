/*
 * Reload (SIGHUP, or "reload" on the control socket), on the main loop and
 * never blocking it: the loop carries every relayed byte.
 *
 * The new file is read and validated completely, and refused (the running
 * configuration stays, the answer and the log say why: file, line, key)
 * when it does not parse, when the daemon section changed (queues, sockets,
 * user, keys: those apply at start only), when an allow/deny list does not
 * build or when a new pass-fd socket cannot be opened. Otherwise:
 *   1. the handoff switches at once (handoff_reconfigure);
 *   2. a new queue generation is published and every queue thread woken; each
 *      moves over at the top of its next batch and says so (the moved_on
 *      callback, which wakes the loop);
 *   3. once all have moved, the readers' view and counters blocks follow, the
 *      old generation, the old counters blocks and what the handoff left are
 *      freed (handoff_commit), and the firewall rules are refilled by
 *      iptables-restore under a child watcher (firewall.h);
 *   4. when the firewall step is over, the requester is answered and the
 *      outcome logged.
 * Established and half-open connections are untouched throughout: relays and
 * pass-fd sockets carry over by listener name and path, half-open tables by
 * listener name, and the firewall chains are refilled atomically.
 * A thread that has not moved within RELOAD_HANDOVER_MS is logged, the
 * requester is answered that the rest follows, and the old generation stays
 * alive until the thread moves: nothing a thread may still use is freed.
 *
 * A reload requested while another is under way is queued: it starts when
 * the running one is over, reads the file as it is then, and its requesters
 * get its own answer (requests queued together share one reload). Only while
 * a queue thread is stuck on an old generation is a request refused.
 */
#ifndef SYNGUARD_RELOAD_H
#define SYNGUARD_RELOAD_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "fastpath.h"
#include "handoff.h"
#include "queue.h"
#include "stats.h"
#include "xdppath.h"

/* How long the hand-over may take before the requester is told it goes on. */
#define RELOAD_HANDOVER_MS 3000

/* What a reload works on; owned by the daemon. */
struct reload_env {
	struct ev_loop *loop; /* the default loop: the firewall step uses child watchers */
	const char *conf_path;
	struct handoff *handoff;
	struct queue_shared *shared; /* its gen and moved_on are set by reload_new */
	struct fastpath *fastpath;   /* NULL: none loaded (no listener had handoff "local") */
	struct xdppath *xdppath;     /* NULL: none loaded (datapath "nfqueue") */
	/* the readers' copy of the configuration and their counters blocks (n_queues + 1,
	 * the handoff's last), refreshed once every thread has moved */
	struct conf *view;
	const struct stats_block **blocks;
	bool firewall;      /* the daemon manages iptables rules */
	double handover_ms; /* 0: RELOAD_HANDOVER_MS */
	/* answers a deferred request (its ticket) with the rest of its answer */
	void (*reply)(void *arg, uint64_t ticket, const char *text);
	void *reply_arg;
};

struct reload;

/* Reads and parses a configuration file. NULL + err (file, line) on failure. */
struct conf *reload_conf_load(const char *path, char *err, size_t errlen);

/* Takes conf c (also on failure) as generation 1 and publishes it in env->shared. */
struct reload *reload_new(const struct reload_env *env, struct conf *c, char *err, size_t errlen);
/* The queue threads, once started on generation 1, and their NFQUEUE numbers (the arrays
 * must stay valid). */
void reload_set_queues(struct reload *r, struct queue_thread *const *queues, const uint16_t *nums,
                       size_t n);

/*
 * Starts (or queues) a reload. origin names the requester in the log
 * ("SIGHUP", "control reload"). Returns false when the answer is complete in
 * out (may be NULL: log only); true when it comes later through env->reply
 * with ticket (0: none wanted).
 */
bool reload_request(struct reload *r, const char *origin, uint64_t ticket, FILE *out);

/* The configuration the queue threads are moving to or use. */
const struct conf *reload_conf(const struct reload *r);
/* True while queue threads move over: the handoff's listeners are not the view's yet. */
bool reload_handing_over(const struct reload *r);

/* Exit, before the rules are removed: waits for a firewall tool still running. */
void reload_shutdown(struct reload *r);
/* Exit, once the queue threads are stopped: frees the generations. */
void reload_free(struct reload *r);

#endif
