/*
 * The inbox between queue threads and the main loop: a fixed ring under a
 * mutex. Queue threads only copy a small struct in and, when the ring was
 * empty, wake the main loop with ev_async; the main loop takes entries out in
 * batches (the lock is never held while a connection is dispatched) and
 * hands each to its listener's backend. A full ring is the caller's to
 * handle (reset + count): producers never wait on the main loop.
 */
#include "handoff.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "passfd.h"
#include "relay.h"

#define HANDOFF_INBOX_CAP 4096 /* power of two */
#define HANDOFF_BATCH     64   /* entries taken per lock */
#define HANDOFF_BUDGET    1024 /* entries per wakeup before other watchers get a turn */

struct handoff {
	struct ev_loop *loop;
	const struct conf *conf;
	struct stats_block stats;
	ev_async wake;

	pthread_mutex_t lock;
	struct handoff_conn *ring;
	size_t head; /* next to take */
	size_t count;

	struct relay *relay;
	struct passfd **passfd; /* per listener; NULL for proxy listeners */
};

void handoff_reset_fd(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (fd < 0)
		return;
	/* With a zero linger time, close() sends RST and frees the socket at
	 * once: no FIN_WAIT or TIME_WAIT left behind for a connection we drop. */
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void dispatch(struct handoff *h, const struct handoff_conn *c)
{
	const struct conf_listener *l;

	if (c->listener >= h->conf->n_listeners) {
		/* A queue thread bug; never let it index past the listeners. */
		handoff_reset_fd(c->fd);
		stats_inc(&h->stats.rows[h->conf->n_listeners], ST_HANDOFF_FAILED);
		log_warnx_ratelimited(10, "handoff: connection for unknown listener %u",
		                      c->listener);
		return;
	}
	l = &h->conf->listeners[c->listener];
	if (l->handoff == CONF_HANDOFF_PASSFD)
		passfd_send(h->passfd[c->listener], c);
	else
		relay_start(h->relay, c);
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct handoff *h = w->data;
	struct handoff_conn batch[HANDOFF_BATCH];
	size_t done = 0, n, left;

	(void)loop;
	(void)revents;
	do {
		pthread_mutex_lock(&h->lock);
		n = h->count < HANDOFF_BATCH ? h->count : HANDOFF_BATCH;
		for (size_t i = 0; i < n; i++)
			batch[i] = h->ring[(h->head + i) & (HANDOFF_INBOX_CAP - 1)];
		h->head = (h->head + n) & (HANDOFF_INBOX_CAP - 1);
		h->count -= n;
		left = h->count;
		pthread_mutex_unlock(&h->lock);

		for (size_t i = 0; i < n; i++)
			dispatch(h, &batch[i]);
		done += n;
	} while (left > 0 && done < HANDOFF_BUDGET);
	/* Producers only signal on empty -> non-empty, so whatever is left
	 * must be picked up by signalling ourselves. */
	if (left > 0)
		ev_async_send(h->loop, &h->wake);
}

int handoff_submit(struct handoff *h, const struct handoff_conn *c)
{
	int was_empty;

	pthread_mutex_lock(&h->lock);
	if (h->count == HANDOFF_INBOX_CAP) {
		pthread_mutex_unlock(&h->lock);
		return -1;
	}
	h->ring[(h->head + h->count) & (HANDOFF_INBOX_CAP - 1)] = *c;
	was_empty = h->count++ == 0;
	pthread_mutex_unlock(&h->lock);
	if (was_empty)
		ev_async_send(h->loop, &h->wake);
	return 0;
}

const struct stats_block *handoff_stats(const struct handoff *h)
{
	return &h->stats;
}

/*
 * Every relayed connection holds six fds (two sockets, two pipes), so the
 * usual soft limit of 1024 would cap the relay at about 170 connections:
 * take the hard limit. Failing that only lowers capacity, and running out
 * is handled per connection (reset + ST_HANDOFF_FAILED).
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("handoff: cannot raise the open file limit above %llu",
		         (unsigned long long)was);
	else
		log_info("handoff: open file limit raised from %llu to %llu",
		         (unsigned long long)was, (unsigned long long)rl.rlim_cur);
}

struct handoff *handoff_new(struct ev_loop *loop, const struct conf *conf, char *err, size_t errlen)
{
	struct handoff *h = calloc(1, sizeof(*h));

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->loop = loop;
	h->conf = conf;
	raise_fd_limit();
	pthread_mutex_init(&h->lock, NULL);
	h->ring = calloc(HANDOFF_INBOX_CAP, sizeof(*h->ring));
	h->passfd = calloc(conf->n_listeners ? conf->n_listeners : 1, sizeof(*h->passfd));
	if (!h->ring || !h->passfd || stats_block_init(&h->stats, conf->n_listeners) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	h->relay = relay_new(loop, conf, &h->stats);
	if (!h->relay) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < conf->n_listeners; i++) {
		char perr[256];

		if (conf->listeners[i].handoff != CONF_HANDOFF_PASSFD)
			continue;
		h->passfd[i] =
		    passfd_new(loop, &conf->listeners[i], &h->stats.rows[i], perr, sizeof(perr));
		if (!h->passfd[i]) {
			snprintf(err, errlen, "listener %s: %s", conf->listeners[i].name, perr);
			goto fail;
		}
	}
	ev_async_init(&h->wake, on_wake);
	h->wake.data = h;
	ev_async_start(loop, &h->wake);
	return h;
fail:
	handoff_free(h);
	return NULL;
}

void handoff_free(struct handoff *h)
{
	if (!h)
		return;
	/* Queue threads are stopped by now: whatever is still in the inbox
	 * will never be served; reset it rather than leave clients hanging. */
	if (h->ring)
		for (size_t i = 0; i < h->count; i++)
			handoff_reset_fd(h->ring[(h->head + i) & (HANDOFF_INBOX_CAP - 1)].fd);
	if (ev_is_active(&h->wake))
		ev_async_stop(h->loop, &h->wake);
	if (h->relay)
		relay_free(h->relay);
	if (h->passfd)
		for (size_t i = 0; i < h->conf->n_listeners; i++)
			passfd_free(h->passfd[i]);
	free(h->passfd);
	free(h->ring);
	stats_block_free(&h->stats);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
