/*
 * A kernel program's key tick: see bpftick.h.
 */
#include "bpftick.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpfkeys.h"
#include "log.h"

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

/* CLOCK_REALTIME - CLOCK_MONOTONIC, in ns: what the programs add to their clock. The
 * monotonic clock read on both sides of the real-time one halves the error of a reading
 * interrupted between the two. */
static uint64_t clock_offset(time_t *now)
{
	struct timespec m0, r, m1;
	uint64_t mono;

	clock_gettime(CLOCK_MONOTONIC, &m0);
	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m1);
	mono = ((uint64_t)m0.tv_sec * 1000000000u + (uint64_t)m0.tv_nsec +
	        (uint64_t)m1.tv_sec * 1000000000u + (uint64_t)m1.tv_nsec) /
	       2;
	*now = r.tv_sec;
	return (uint64_t)r.tv_sec * 1000000000u + (uint64_t)r.tv_nsec - mono;
}

/* Keys up to the next epoch's, and the programs' clock (bpfkeys_set_clock). */
static int publish(struct bpftick *t, uint32_t *epoch)
{
	time_t now;
	uint64_t off = clock_offset(&now);

	*epoch = (uint32_t)((uint64_t)now / t->rotation);
	return bpfkeys_set_clock(t->keys, *epoch, off, t->rotation);
}

/*
 * Publishes now. A failed publish is tried again every BPFTICK_RETRY seconds
 * (for the epoch of that moment) until it succeeds; the failures are counted
 * and logged at most every 10 s, the recovery once.
 */
static void keys_now(struct bpftick *t)
{
	uint32_t epoch;

	if (publish(t, &epoch) < 0) {
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
	uint32_t epoch;

	if (!t || !(t->keys = bpfkeys_new(map_fd, master))) {
		snprintf(err, errlen, "out of memory");
		free(t);
		return NULL;
	}
	t->loop = loop;
	t->rotation = rotation;
	t->who = who;
	t->hook = hook;
	t->arg = arg;
	ev_init(&t->retry, on_retry);
	t->retry.data = t;
	if (publish(t, &epoch) < 0) {
		snprintf(err, errlen, "writing the cookie keys: %s", strerror(errno));
		bpftick_free(t);
		return NULL;
	}
	/* mid-epoch: the next epoch's key goes in half a rotation before it is needed */
	ev_periodic_init(&t->tick, on_tick, rotation / 2.0, rotation, NULL);
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
