#include "acceptq.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "srccount.h"

/* Source prefixes a per-source table counts when the listener sets no max_connections. */
#define ACCEPTQ_SOURCES_DEFAULT 65536
/* A timer set for a deadline already past still waits this long: no busy loop. */
#define ACCEPTQ_TIMER_MIN 0.001

struct acceptq_src {
	pthread_mutex_t lock;
	struct srccount *sc;
	uint32_t refs; /* atomic: the queue's, plus one per counted connection */
	uint8_t prefix_v4, prefix_v6;
	size_t max_sources;
};

struct acceptq {
	char name[CONF_NAME_MAX];
	/* shared with queue threads: atomics only */
	uint32_t pending; /* accept_queue */
	uint32_t conns;
	struct acceptq_src *src; /* NULL: no per-source cap */
	/* main thread */
	int idx;
	uint32_t connecting;
	struct acceptq_fifo slot_line;
};

struct acceptq *acceptq_new(const char *name)
{
	struct acceptq *q = calloc(1, sizeof(*q));

	if (q)
		snprintf(q->name, sizeof(q->name), "%s", name);
	return q;
}

void acceptq_free(struct acceptq *q)
{
	if (!q)
		return;
	acceptq_fifo_fini(&q->slot_line);
	acceptq_src_unref(q->src);
	free(q);
}

const char *acceptq_name(const struct acceptq *q)
{
	return q->name;
}

int acceptq_index(const struct acceptq *q)
{
	return q->idx;
}

void acceptq_set_index(struct acceptq *q, int idx)
{
	q->idx = idx;
}

/* ---- per-source tables ---- */

static size_t max_sources_of(const struct conf_policy *pol)
{
	return pol->max_connections ? pol->max_connections : ACCEPTQ_SOURCES_DEFAULT;
}

struct acceptq_src *acceptq_src_new(const struct conf_policy *pol)
{
	struct acceptq_src *g = calloc(1, sizeof(*g));
	uint8_t seed[SRCCOUNT_SEED_LEN];

	if (!g)
		return NULL;
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
		free(g);
		return NULL;
	}
	g->prefix_v4 = pol->per_source.prefix_v4;
	g->prefix_v6 = pol->per_source.prefix_v6;
	g->max_sources = max_sources_of(pol);
	g->sc = srccount_new(g->max_sources, g->prefix_v4, g->prefix_v6, seed);
	if (!g->sc) {
		free(g);
		return NULL;
	}
	pthread_mutex_init(&g->lock, NULL);
	g->refs = 1;
	return g;
}

void acceptq_src_unref(struct acceptq_src *g)
{
	if (!g || __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	srccount_free(g->sc);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

bool acceptq_src_fits(const struct acceptq *q, const struct conf_policy *pol)
{
	const struct acceptq_src *g = q->src;

	return g && g->prefix_v4 == pol->per_source.prefix_v4 &&
	       g->prefix_v6 == pol->per_source.prefix_v6 && g->max_sources == max_sources_of(pol);
}

bool acceptq_src_present(const struct acceptq *q)
{
	return q->src != NULL;
}

struct acceptq_src *acceptq_src_swap(struct acceptq *q, struct acceptq_src *g)
{
	struct acceptq_src *old = q->src;

	__atomic_store_n(&q->src, g, __ATOMIC_RELEASE);
	return old;
}

/* ---- admission ---- */

enum acceptq_admit acceptq_admit(struct acceptq *q, struct acceptq_hold *h,
                                 const struct conf_policy *pol, const struct pkt_tuple *t,
                                 bool skip_source)
{
	uint32_t n;

	h->q = q;
	h->queued = h->held = false;
	h->src = NULL;
	n = __atomic_add_fetch(&q->conns, 1, __ATOMIC_RELAXED);
	if (pol->max_connections && n > pol->max_connections) {
		__atomic_sub_fetch(&q->conns, 1, __ATOMIC_RELAXED);
		return ACCEPTQ_ADMIT_CONNS;
	}
	h->held = true;
	n = __atomic_add_fetch(&q->pending, 1, __ATOMIC_RELAXED);
	h->queued = true;
	if (n > pol->accept_backlog) {
		acceptq_drop(h, t);
		return ACCEPTQ_ADMIT_BACKLOG;
	}
	if (pol->per_source.max_connections && !skip_source) {
		struct acceptq_src *g = __atomic_load_n(&q->src, __ATOMIC_ACQUIRE);
		enum srccount_result r;

		if (g) {
			pthread_mutex_lock(&g->lock);
			r = srccount_acquire(g->sc, t->family, t->saddr,
			                     pol->per_source.max_connections);
			pthread_mutex_unlock(&g->lock);
			if (r == SRCCOUNT_ECAP) {
				acceptq_drop(h, t);
				return ACCEPTQ_ADMIT_SOURCE;
			}
			/* SRCCOUNT_EFULL: more sources than the table holds; let it through
			 * uncounted rather than refuse a proven client */
			if (r == SRCCOUNT_OK) {
				__atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
				h->src = g;
			}
		}
	}
	return ACCEPTQ_ADMIT_OK;
}

void acceptq_enter(struct acceptq *q, struct acceptq_hold *h)
{
	if (h->queued || h->held || h->src)
		return;
	h->q = q;
	__atomic_add_fetch(&q->conns, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&q->pending, 1, __ATOMIC_RELAXED);
	h->queued = h->held = true;
}

void acceptq_leave(struct acceptq_hold *h)
{
	if (h->queued && h->q)
		__atomic_sub_fetch(&h->q->pending, 1, __ATOMIC_RELAXED);
	h->queued = false;
}

void acceptq_drop(struct acceptq_hold *h, const struct pkt_tuple *t)
{
	struct acceptq_src *g = h->src;

	acceptq_leave(h);
	if (h->held && h->q)
		__atomic_sub_fetch(&h->q->conns, 1, __ATOMIC_RELAXED);
	h->held = false;
	if (!g)
		return;
	h->src = NULL;
	pthread_mutex_lock(&g->lock);
	srccount_release(g->sc, t->family, t->saddr);
	pthread_mutex_unlock(&g->lock);
	acceptq_src_unref(g);
}

void acceptq_counts(const struct acceptq *q, struct acceptq_counts *out)
{
	struct acceptq_src *g = __atomic_load_n(&q->src, __ATOMIC_ACQUIRE);

	out->accept_queue = __atomic_load_n(&q->pending, __ATOMIC_RELAXED);
	out->connections = __atomic_load_n(&q->conns, __ATOMIC_RELAXED);
	out->sources = 0;
	if (g) {
		pthread_mutex_lock(&g->lock);
		out->sources = (uint32_t)srccount_sources(g->sc);
		pthread_mutex_unlock(&g->lock);
	}
}

/* ---- connect slots ---- */

bool acceptq_slot_take(struct acceptq *q, uint32_t max)
{
	if (max && q->connecting >= max)
		return false;
	q->connecting++;
	return true;
}

void acceptq_slot_give(struct acceptq *q)
{
	if (q->connecting > 0)
		q->connecting--;
}

uint32_t acceptq_slots_used(const struct acceptq *q)
{
	return q->connecting;
}

struct acceptq_fifo *acceptq_slot_line(struct acceptq *q)
{
	return &q->slot_line;
}

/* ---- the waiting line ---- */

static void fifo_arm(struct acceptq_fifo *f, double now)
{
	double left;

	if (!f->loop)
		return;
	if (!f->head) {
		ev_timer_stop(f->loop, &f->timer);
		return;
	}
	left = acceptq_fifo_deadline(f) - now;
	f->timer.repeat = left > ACCEPTQ_TIMER_MIN ? left : ACCEPTQ_TIMER_MIN;
	ev_timer_again(f->loop, &f->timer);
}

static void on_fifo_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	acceptq_fifo_expire(w->data, ev_now(loop));
}

void acceptq_fifo_init(struct acceptq_fifo *f, struct ev_loop *loop, double timeout,
                       acceptq_expired_fn *expired, void *arg)
{
	f->head = f->tail = NULL;
	f->n = 0;
	f->timeout = timeout;
	f->expired = expired;
	f->arg = arg;
	f->loop = loop;
	ev_init(&f->timer, on_fifo_timer);
	f->timer.data = f;
}

void acceptq_fifo_fini(struct acceptq_fifo *f)
{
	if (f->loop)
		ev_timer_stop(f->loop, &f->timer);
}

void acceptq_fifo_set_timeout(struct acceptq_fifo *f, double timeout, double now)
{
	if (f->timeout == timeout)
		return;
	f->timeout = timeout;
	fifo_arm(f, now);
}

void acceptq_fifo_push(struct acceptq_fifo *f, struct acceptq_wait *w, double now)
{
	bool was_empty = !f->head;

	w->since = now;
	w->next = NULL;
	w->prev = f->tail;
	if (f->tail)
		f->tail->next = w;
	else
		f->head = w;
	f->tail = w;
	w->linked = true;
	f->n++;
	/* later entries never expire before the head */
	if (was_empty)
		fifo_arm(f, now);
}

static void unlink_entry(struct acceptq_fifo *f, struct acceptq_wait *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		f->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		f->tail = w->prev;
	w->prev = w->next = NULL;
	w->linked = false;
	f->n--;
}

struct acceptq_wait *acceptq_fifo_pop(struct acceptq_fifo *f, double now)
{
	struct acceptq_wait *w = f->head;

	if (!w)
		return NULL;
	unlink_entry(f, w);
	fifo_arm(f, now);
	return w;
}

void acceptq_fifo_remove(struct acceptq_fifo *f, struct acceptq_wait *w, double now)
{
	bool was_head = w == f->head;

	if (!w->linked)
		return;
	unlink_entry(f, w);
	if (was_head)
		fifo_arm(f, now);
}

double acceptq_fifo_deadline(const struct acceptq_fifo *f)
{
	return f->head ? f->head->since + f->timeout : -1.0;
}

size_t acceptq_fifo_expire(struct acceptq_fifo *f, double now)
{
	size_t n = 0;

	/* Half a timer tick of slack: a timer may fire a hair before its deadline. */
	while (f->head && acceptq_fifo_deadline(f) <= now + ACCEPTQ_TIMER_MIN / 2) {
		struct acceptq_wait *w = f->head;

		unlink_entry(f, w);
		n++;
		/* the callback may push, pop or remove: the head is read anew each time */
		f->expired(f, w, f->arg);
	}
	fifo_arm(f, now);
	return n;
}
