/*
 * The inbox between queue threads and the main loop: a fixed ring under a
 * mutex. Queue threads only copy a small struct in and, when the ring was
 * empty, wake the main loop with ev_async; the main loop takes entries out in
 * batches (the lock is never held while a connection is dispatched) and
 * hands each to its listener's backend. A full ring is the caller's to
 * handle (reset + count): producers never wait on the main loop.
 *
 * Listener states (see handoff.h) live as long as some configuration names
 * them: handoff_reconfigure carries them over by name and retires the
 * others, which handoff_commit frees once no queue thread can reach them.
 * A connection admitted under a retired listener and still in the inbox is
 * reset at dispatch: its listener is gone. A reload that changes a
 * listener's per-source prefixes gives its accept queue a new table; the
 * old one is retired the same way.
 */
#define _GNU_SOURCE
#include "handoff.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/un.h>

#include "log.h"
#include "passfd.h"
#include "relay.h"
#include "sockutil.h"

#define HANDOFF_INBOX_CAP 4096 /* power of two */
#define HANDOFF_BATCH     64   /* entries taken per lock */
#define HANDOFF_BUDGET    1024 /* entries per wakeup before other watchers get a turn */

struct handoff_listener {
	struct acceptq *aq;
	uint32_t cookie_threads; /* atomic; decides who logs a switch (handoff_listener_cookie) */
	/* main thread */
	struct acceptq_src *src_old; /* replaced by the latest reload, freed at commit */
	struct handoff_listener *next_retired;
};

struct handoff {
	struct ev_loop *loop;
	const struct conf *conf;
	struct stats_block stats;
	struct stats_block old_stats; /* the block before the latest reconfiguration */
	ev_async wake;

	pthread_mutex_t lock;
	struct handoff_conn *ring;
	size_t head; /* next to take */
	size_t count;

	struct relay *relay;
	struct passfd **passfd;       /* per listener; NULL for proxy listeners */
	struct handoff_listener **ls; /* per listener */
	struct handoff_listener *retired;
	bool src_retired; /* some listener has a src_old */
};

void handoff_reset_fd(int fd)
{
	sock_close_reset(fd);
}

/* ---- listener states ---- */

static struct handoff_listener *ls_new(const char *name)
{
	struct handoff_listener *ls = calloc(1, sizeof(*ls));

	if (ls && !(ls->aq = acceptq_new(name))) {
		free(ls);
		return NULL;
	}
	return ls;
}

static void ls_free(struct handoff_listener *ls)
{
	if (!ls)
		return;
	acceptq_src_unref(ls->src_old);
	acceptq_free(ls->aq);
	free(ls);
}

struct handoff_listener *handoff_listener(const struct handoff *h, size_t i)
{
	return i < h->conf->n_listeners ? h->ls[i] : NULL;
}

const char *handoff_listener_name(const struct handoff_listener *ls)
{
	return acceptq_name(ls->aq);
}

void handoff_listener_counts(const struct handoff_listener *ls, struct handoff_listener_counts *out)
{
	struct acceptq_counts qc;

	acceptq_counts(ls->aq, &qc);
	out->accept_queue = qc.accept_queue;
	out->connections = qc.connections;
	out->sources = qc.sources;
}

uint32_t handoff_listener_cookie(struct handoff_listener *ls, int delta)
{
	return __atomic_add_fetch(&ls->cookie_threads, (uint32_t)delta, __ATOMIC_RELAXED);
}

/* ---- admission: the listener's accept queue ---- */

enum handoff_admit handoff_admit(struct handoff_conn *c, const struct conf_policy *pol,
                                 bool skip_source)
{
	return (enum handoff_admit)acceptq_admit(c->ls->aq, &c->hold, pol, &c->t, skip_source);
}

void handoff_unadmit(struct handoff_conn *c)
{
	acceptq_drop(&c->hold, &c->t);
}

/* ---- the inbox ---- */

static struct stats_row *unmatched_row(struct handoff *h)
{
	return &h->stats.rows[h->conf->n_listeners];
}

static void dispatch(struct handoff *h, struct handoff_conn *c)
{
	int idx = c->ls ? acceptq_index(c->ls->aq) : -1;
	struct acceptq_conn ac = {.fd = c->fd, .t = c->t, .h = c->hold};

	if (idx < 0) {
		/* A listener removed by a reload (or a queue thread bug): nobody serves it. */
		sock_close_reset(c->fd);
		handoff_unadmit(c);
		stats_inc(unmatched_row(h), ST_HANDOFF_FAILED);
		log_warnx_ratelimited(10, "handoff: connection for %s listener %s: reset",
		                      c->ls ? "removed" : "unknown",
		                      c->ls ? handoff_listener_name(c->ls) : "-");
		return;
	}
	if (h->conf->listeners[idx].handoff == CONF_HANDOFF_LOCAL) {
		/* Its ACKs are the kernel fast path's; one reaches the queue only through
		 * rules of the operator's own (firewall = "none"): no backend to take it. */
		sock_close_reset(c->fd);
		handoff_unadmit(c);
		stats_inc(unmatched_row(h), ST_HANDOFF_FAILED);
		return;
	}
	if (h->conf->listeners[idx].handoff == CONF_HANDOFF_PASSFD)
		passfd_send(h->passfd[idx], &ac);
	else
		relay_start(h->relay, &ac, (size_t)idx);
}

/* Takes at most `budget` entries out; returns how many are left. */
static size_t drain(struct handoff *h, size_t budget)
{
	struct handoff_conn batch[HANDOFF_BATCH];
	size_t done = 0, n, left;

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
	} while (left > 0 && done < budget);
	return left;
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct handoff *h = w->data;

	(void)loop;
	(void)revents;
	/* Producers only signal on empty -> non-empty, so whatever is left
	 * must be picked up by signalling ourselves. */
	if (drain(h, HANDOFF_BUDGET) > 0)
		ev_async_send(h->loop, &h->wake);
}

void handoff_drain(struct handoff *h)
{
	drain(h, SIZE_MAX);
}

int handoff_submit(struct handoff *h, struct handoff_conn *c)
{
	int was_empty;

	/* not admitted: account for it anyway, so that the releases balance */
	if (c->ls)
		acceptq_enter(c->ls->aq, &c->hold);
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

/* ---- configuration ---- */

static const char *passfd_path_of(const struct conf_listener *l)
{
	return ((const struct sockaddr_un *)&l->backend)->sun_path;
}

/* What a reconfiguration builds before it commits to anything. */
struct plan {
	size_t n;
	struct handoff_listener **ls;
	struct passfd **passfd;
	struct acceptq_src **src; /* a new table for ls[i], or NULL to keep what it has */
	bool *src_drop;           /* ls[i] keeps no table */
	bool *ls_new;             /* ls[i] was created by this plan */
	bool *passfd_new;         /* passfd[i] was created by this plan */
	struct stats_block stats;
};

static void plan_undo(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		if (p->passfd && p->passfd_new[i])
			passfd_free(p->passfd[i]);
		if (p->src)
			acceptq_src_unref(p->src[i]);
		if (p->ls && p->ls_new[i])
			ls_free(p->ls[i]);
	}
}

static void plan_free(struct plan *p)
{
	free(p->ls);
	free(p->passfd);
	free(p->src);
	free(p->src_drop);
	free(p->ls_new);
	free(p->passfd_new);
	stats_block_free(&p->stats);
}

static int plan_make(struct handoff *h, const struct conf *c, struct plan *p, char *err,
                     size_t errlen)
{
	size_t n = c->n_listeners, m = h->conf ? h->conf->n_listeners : 0, k = n ? n : 1;

	memset(p, 0, sizeof(*p));
	p->n = n;
	p->ls = calloc(k, sizeof(*p->ls));
	p->passfd = calloc(k, sizeof(*p->passfd));
	p->src = calloc(k, sizeof(*p->src));
	p->src_drop = calloc(k, sizeof(*p->src_drop));
	p->ls_new = calloc(k, sizeof(*p->ls_new));
	p->passfd_new = calloc(k, sizeof(*p->passfd_new));
	if (!p->ls || !p->passfd || !p->src || !p->src_drop || !p->ls_new || !p->passfd_new ||
	    stats_block_init(&p->stats, n) < 0)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		const struct conf_listener *l = &c->listeners[i];
		const struct conf_policy *pol = conf_listener_policy(c, i);

		for (size_t j = 0; j < m && !p->ls[i]; j++)
			if (strcmp(handoff_listener_name(h->ls[j]), l->name) == 0)
				p->ls[i] = h->ls[j];
		if (!p->ls[i]) {
			if (!(p->ls[i] = ls_new(l->name)))
				goto oom;
			p->ls_new[i] = true;
		}
		if (!pol->per_source.max_connections)
			p->src_drop[i] = acceptq_src_present(p->ls[i]->aq);
		else if (!acceptq_src_fits(p->ls[i]->aq, pol) &&
		         !(p->src[i] = acceptq_src_new(pol)))
			goto oom;
	}
	/* pass-fd sockets: a path already open stays open (backends stay connected) */
	for (size_t i = 0; i < n; i++) {
		const struct conf_listener *l = &c->listeners[i];
		char perr[256];

		if (l->handoff != CONF_HANDOFF_PASSFD)
			continue;
		for (size_t j = 0; j < m && !p->passfd[i]; j++)
			if (h->passfd[j] &&
			    strcmp(passfd_path_of(&h->conf->listeners[j]), passfd_path_of(l)) == 0)
				p->passfd[i] = h->passfd[j];
		if (p->passfd[i])
			continue;
		p->passfd[i] = passfd_new(h->loop, l, conf_listener_policy(c, i), &p->stats.rows[i],
		                          perr, sizeof(perr));
		if (!p->passfd[i]) {
			snprintf(err, errlen, "listener %s: %s", l->name, perr);
			return -1;
		}
		p->passfd_new[i] = true;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static bool in_plan(const struct plan *p, const void *x, bool passfd)
{
	for (size_t i = 0; i < p->n; i++)
		if (passfd ? (const void *)p->passfd[i] == x : (const void *)p->ls[i] == x)
			return true;
	return false;
}

/* Commits a plan: nothing here fails. */
static void plan_apply(struct handoff *h, const struct conf *c, struct plan *p)
{
	size_t m = h->conf ? h->conf->n_listeners : 0;
	struct stats_row *unmatched = &p->stats.rows[p->n];

	/* What goes away settles its accounts in the old rows first. */
	for (size_t j = 0; j < m; j++) {
		if (h->passfd[j] && !in_plan(p, h->passfd[j], true))
			passfd_free(h->passfd[j]);
		if (!in_plan(p, h->ls[j], false)) {
			acceptq_set_index(h->ls[j]->aq, -1);
			relay_listener_removed(h->relay, h->ls[j]->aq);
			/* its pass-fd socket may live on under another listener */
			for (size_t i = 0; i < p->n; i++)
				if (p->passfd[i] == h->passfd[j] && h->passfd[j])
					passfd_requeue(p->passfd[i], h->ls[j]->aq, p->ls[i]->aq);
			h->ls[j]->next_retired = h->retired;
			h->retired = h->ls[j];
		}
	}
	/* Counters follow their listener by name; a removed listener's go to unmatched. */
	for (size_t j = 0; j < m; j++) {
		struct stats_row *to = unmatched;

		for (size_t i = 0; i < p->n; i++)
			if (p->ls[i] == h->ls[j])
				to = &p->stats.rows[i];
		stats_row_add(to, &h->stats.rows[j]);
	}
	if (h->stats.rows)
		stats_row_add(unmatched, &h->stats.rows[m]);

	for (size_t i = 0; i < p->n; i++) {
		struct handoff_listener *ls = p->ls[i];
		struct acceptq_src *old = NULL;

		acceptq_set_index(ls->aq, (int)i);
		if (p->src[i] || p->src_drop[i]) {
			old = acceptq_src_swap(ls->aq, p->src[i]);
			p->src[i] = NULL;
		}
		/* Queue threads on the old configuration may still read the old table's
		 * pointer: its queue's reference goes at commit. */
		if (old) {
			ls->src_old = old;
			h->src_retired = true;
		}
		if (p->passfd[i])
			passfd_update(p->passfd[i], &c->listeners[i], conf_listener_policy(c, i),
			              &p->stats.rows[i]);
	}
	free(h->ls);
	free(h->passfd);
	h->ls = p->ls;
	h->passfd = p->passfd;
	p->ls = NULL;
	p->passfd = NULL;
	h->old_stats = h->stats;
	h->stats = p->stats;
	memset(&p->stats, 0, sizeof(p->stats));
	h->conf = c;
	relay_reconfigure(h->relay, c, &h->stats);
}

int handoff_reconfigure(struct handoff *h, const struct conf *c, char *err, size_t errlen)
{
	struct plan p;

	if (h->old_stats.rows || h->retired || h->src_retired) {
		snprintf(err, errlen, "the previous reconfiguration is not committed yet");
		return -1;
	}
	if (plan_make(h, c, &p, err, errlen) < 0) {
		plan_undo(&p);
		plan_free(&p);
		return -1;
	}
	plan_apply(h, c, &p);
	plan_free(&p);
	return 0;
}

void handoff_commit(struct handoff *h)
{
	while (h->retired) {
		struct handoff_listener *ls = h->retired;

		h->retired = ls->next_retired;
		ls_free(ls);
	}
	for (size_t i = 0; h->src_retired && h->conf && i < h->conf->n_listeners; i++) {
		acceptq_src_unref(h->ls[i]->src_old);
		h->ls[i]->src_old = NULL;
	}
	h->src_retired = false;
	stats_block_free(&h->old_stats);
}

struct handoff *handoff_new(struct ev_loop *loop, const struct conf *conf, char *err, size_t errlen)
{
	struct handoff *h = calloc(1, sizeof(*h));

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->loop = loop;
	raise_fd_limit();
	pthread_mutex_init(&h->lock, NULL);
	h->ring = calloc(HANDOFF_INBOX_CAP, sizeof(*h->ring));
	h->relay = relay_new(loop, conf, NULL);
	if (!h->ring || !h->relay) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (handoff_reconfigure(h, conf, err, errlen) < 0)
		goto fail;
	handoff_commit(h);
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
	if (h->ring) {
		for (size_t i = 0; i < h->count; i++) {
			struct handoff_conn *c = &h->ring[(h->head + i) & (HANDOFF_INBOX_CAP - 1)];

			sock_close_reset(c->fd);
			handoff_unadmit(c);
		}
		h->count = 0;
	}
	if (ev_is_active(&h->wake))
		ev_async_stop(h->loop, &h->wake);
	if (h->relay)
		relay_free(h->relay);
	if (h->passfd && h->conf)
		for (size_t i = 0; i < h->conf->n_listeners; i++)
			passfd_free(h->passfd[i]);
	handoff_commit(h);
	if (h->ls && h->conf)
		for (size_t i = 0; i < h->conf->n_listeners; i++)
			ls_free(h->ls[i]);
	free(h->ls);
	free(h->passfd);
	free(h->ring);
	stats_block_free(&h->stats);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
