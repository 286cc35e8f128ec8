/*
 * A kernel program's key tick: see bpftick.h.
 */
#include "bpftick.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpfkeys.h"
#include "log.h"

/*
 * The program moves to epoch e + 1 (its keys, then its current epoch) this
 * long before the boundary, so that an ACK answering a SYN-ACK the queue
 * threads made just after the boundary never meets the program still in
 * epoch e. The queue threads read the clock themselves; this loop may run
 * late (a busy machine, a flood keeping the CPUs on the queue threads), and
 * the program is in step only while the lateness stays under the lead: half
 * a rotation, at most BPFTICK_LEAD_MAX. A cookie of e - 1 then expires that
 * much earlier (the program at e + 1 no longer holds its key): it still lives
 * at least half a rotation.
 */
#define BPFTICK_LEAD_MAX 2.0
/*
 * The tick is due at boundary - lead: should it run a hair early
 * (timer or floating-point rounding), the epoch must change all the same, or
 * it would stay behind for a whole rotation.
 */
#define BPFTICK_SLACK 0.01
/*
 * After a failed key publish, the next attempt this much later, until one
 * succeeds: waiting for the next tick would leave the program a whole
 * rotation behind the queue threads, refusing every cookie they make.
 */
#define BPFTICK_RETRY 0.25

struct bpftick {
	struct ev_loop *loop;
	struct bpfkeys *keys;
	ev_periodic tick;
	ev_timer retry;        /* while a key publish keeps failing */
	uint64_t key_failures; /* failed publishes since the start */
	unsigned key_pending;  /* failed publishes since the last success */
	uint32_t rotation;
	double lead; /* seconds: see BPFTICK_LEAD_MAX */
	const char *who;
	void (*hook)(void *arg);
	void *arg;
};

static void retry_stop(struct bpftick *t)
{
	if (!ev_is_active(&t->retry))
		return;
	ev_ref(t->loop);
	ev_timer_stop(t->loop, &t->retry);
}

/*
 * A failed publish is tried again every BPFTICK_RETRY seconds (for the epoch
 * of that moment) until it succeeds; the failures are counted and logged at
 * most every 10 s, the recovery once.
 */
static void keys_now(struct bpftick *t)
{
	uint32_t epoch = (uint32_t)((uint64_t)(ev_time() + t->lead + BPFTICK_SLACK) / t->rotation);

	if (bpfkeys_set_epoch(t->keys, epoch) < 0) {
		int e = errno;

		t->key_failures++;
		t->key_pending++;
		log_warnx_ratelimited(10,
		                      "%s: publishing the cookie keys of epoch %u: %s (%llu "
		                      "failures in all): the program refuses new cookies until it "
		                      "succeeds; trying again every %.2f s",
		                      t->who, epoch, strerror(e),
		                      (unsigned long long)t->key_failures, BPFTICK_RETRY);
		if (!ev_is_active(&t->retry)) {
			ev_timer_set(&t->retry, BPFTICK_RETRY, BPFTICK_RETRY);
			ev_timer_start(t->loop, &t->retry);
			ev_unref(t->loop);
		}
		return;
	}
	if (t->key_pending) {
		log_info("%s: cookie keys of epoch %u published after %u failed attempts "
		         "(%llu failures in all)",
		         t->who, epoch, t->key_pending, (unsigned long long)t->key_failures);
		t->key_pending = 0;
	}
	retry_stop(t);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	keys_now(w->data);
}

static void on_tick(struct ev_loop *loop, ev_periodic *w, int revents)
{
	struct bpftick *t = w->data;

	(void)loop;
	(void)revents;
	keys_now(t);
	if (t->hook)
		t->hook(t->arg);
}

struct bpftick *bpftick_new(struct ev_loop *loop, int map_fd,
                            const uint8_t master[COOKIE_MASTER_LEN], uint32_t rotation,
                            const char *who, void (*hook)(void *arg), void *arg, char *err,
                            size_t errlen)
{
	struct bpftick *t = calloc(1, sizeof(*t));

	if (!t || !(t->keys = bpfkeys_new(map_fd, master))) {
		snprintf(err, errlen, "out of memory");
		free(t);
		return NULL;
	}
	t->loop = loop;
	t->rotation = rotation;
	t->lead = rotation / 2.0 < BPFTICK_LEAD_MAX ? rotation / 2.0 : BPFTICK_LEAD_MAX;
	t->who = who;
	t->hook = hook;
	t->arg = arg;
	ev_init(&t->retry, on_retry);
	t->retry.data = t;
	if (bpfkeys_set_epoch(t->keys, (uint32_t)((uint64_t)(ev_time() + t->lead) / rotation)) <
	    0) {
		snprintf(err, errlen, "writing the cookie keys: %s", strerror(errno));
		bpftick_free(t);
		return NULL;
	}
	ev_periodic_init(&t->tick, on_tick, rotation - t->lead, rotation, NULL);
	t->tick.data = t;
	ev_periodic_start(loop, &t->tick);
	ev_unref(loop); /* the loop ends when everything else has */
	return t;
}

void bpftick_free(struct bpftick *t)
{
	if (!t)
		return;
	if (ev_is_active(&t->tick)) {
		ev_ref(t->loop);
		ev_periodic_stop(t->loop, &t->tick);
	}
	retry_stop(t);
	bpfkeys_free(t->keys);
	free(t);
}
