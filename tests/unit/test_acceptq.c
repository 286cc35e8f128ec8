/*
 * The accept queue without a daemon: admission limits and their release,
 * the per-source table across a reload, connect slots, and the waiting line
 * (order, removal, deadlines) with injected time; one test lets a real loop's
 * timer expire an entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "acceptq.h"

static struct pkt_tuple from(const char *src)
{
	struct pkt_tuple t;

	memset(&t, 0, sizeof(t));
	t.family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, src, t.saddr), 1);
	return t;
}

static void assert_counts(const struct acceptq *q, uint32_t queue, uint32_t conns, uint32_t sources)
{
	struct acceptq_counts c;

	acceptq_counts(q, &c);
	assert_int_equal(c.accept_queue, queue);
	assert_int_equal(c.connections, conns);
	assert_int_equal(c.sources, sources);
}

static struct conf_policy policy(uint32_t backlog, uint32_t max_conns, uint32_t per_source)
{
	struct conf_policy p;

	memset(&p, 0, sizeof(p));
	p.accept_backlog = backlog;
	p.max_connections = max_conns;
	p.per_source.max_connections = per_source;
	p.per_source.prefix_v4 = 24;
	p.per_source.prefix_v6 = 64;
	return p;
}

static void test_admit_backlog(void **state)
{
	(void)state;
	struct acceptq *q = acceptq_new("web");
	struct conf_policy pol = policy(2, 0, 0);
	struct pkt_tuple t = from("192.0.2.1");
	struct acceptq_hold h[3];

	memset(h, 0, sizeof(h));
	assert_string_equal(acceptq_name(q), "web");
	assert_int_equal(acceptq_admit(q, &h[0], &pol, &t, false), ACCEPTQ_ADMIT_OK);
	assert_int_equal(acceptq_admit(q, &h[1], &pol, &t, false), ACCEPTQ_ADMIT_OK);
	assert_int_equal(acceptq_admit(q, &h[2], &pol, &t, false), ACCEPTQ_ADMIT_BACKLOG);
	assert_false(h[2].queued || h[2].held || h[2].src);
	assert_counts(q, 2, 2, 0);
	/* leaving the queue (the backend took it) makes room; the connection stays held */
	acceptq_leave(&h[0]);
	acceptq_leave(&h[0]);
	assert_counts(q, 1, 2, 0);
	assert_int_equal(acceptq_admit(q, &h[2], &pol, &t, false), ACCEPTQ_ADMIT_OK);
	assert_counts(q, 2, 3, 0);
	for (int i = 0; i < 3; i++) {
		acceptq_drop(&h[i], &t);
		acceptq_drop(&h[i], &t); /* twice changes nothing */
	}
	assert_counts(q, 0, 0, 0);
	acceptq_free(q);
}

static void test_admit_max_connections(void **state)
{
	(void)state;
	struct acceptq *q = acceptq_new("web");
	struct conf_policy pol = policy(10, 2, 0);
	struct pkt_tuple t = from("192.0.2.1");
	struct acceptq_hold a = {0}, b = {0}, c = {0};

	assert_int_equal(acceptq_admit(q, &a, &pol, &t, false), ACCEPTQ_ADMIT_OK);
	assert_int_equal(acceptq_admit(q, &b, &pol, &t, false), ACCEPTQ_ADMIT_OK);
	/* out of the accept queue but still held: still counts against max_connections */
	acceptq_leave(&a);
	acceptq_leave(&b);
	assert_int_equal(acceptq_admit(q, &c, &pol, &t, false), ACCEPTQ_ADMIT_CONNS);
	assert_counts(q, 0, 2, 0);
	acceptq_drop(&a, &t);
	assert_int_equal(acceptq_admit(q, &c, &pol, &t, false), ACCEPTQ_ADMIT_OK);
	acceptq_drop(&b, &t);
	acceptq_drop(&c, &t);
	assert_counts(q, 0, 0, 0);
	acceptq_free(q);
}

static void test_admit_per_source(void **state)
{
	(void)state;
	struct acceptq *q = acceptq_new("web");
	struct conf_policy pol = policy(10, 0, 1);
	struct pkt_tuple a1 = from("192.0.2.10"), a2 = from("192.0.2.11"),
	                 b1 = from("198.51.100.1");
	struct acceptq_hold h1 = {0}, h2 = {0}, h3 = {0};

	/* no table yet: no cap */
	assert_int_equal(acceptq_admit(q, &h1, &pol, &a1, false), ACCEPTQ_ADMIT_OK);
	assert_null(h1.src);
	acceptq_drop(&h1, &a1);
	assert_false(acceptq_src_fits(q, &pol));
	assert_null(acceptq_src_swap(q, acceptq_src_new(&pol)));
	assert_true(acceptq_src_fits(q, &pol));
	assert_true(acceptq_src_present(q));

	assert_int_equal(acceptq_admit(q, &h1, &pol, &a1, false), ACCEPTQ_ADMIT_OK);
	/* the same /24 */
	assert_int_equal(acceptq_admit(q, &h2, &pol, &a2, false), ACCEPTQ_ADMIT_SOURCE);
	assert_counts(q, 1, 1, 1);
	/* allow-listed: no per-source cap, and not counted */
	assert_int_equal(acceptq_admit(q, &h2, &pol, &a2, true), ACCEPTQ_ADMIT_OK);
	assert_null(h2.src);
	assert_int_equal(acceptq_admit(q, &h3, &pol, &b1, false), ACCEPTQ_ADMIT_OK);
	assert_counts(q, 3, 3, 2);
	acceptq_drop(&h1, &a1);
	assert_counts(q, 2, 2, 1);
	assert_int_equal(acceptq_admit(q, &h1, &pol, &a2, false), ACCEPTQ_ADMIT_OK);
	acceptq_drop(&h1, &a2);
	acceptq_drop(&h2, &a2);
	acceptq_drop(&h3, &b1);
	assert_counts(q, 0, 0, 0);
	acceptq_free(q);
}

/* A reload with other prefixes: a connection counted in the old table releases into it. */
static void test_src_reload(void **state)
{
	(void)state;
	struct acceptq *q = acceptq_new("web");
	struct conf_policy pol = policy(10, 0, 1), pol2 = policy(10, 0, 1);
	struct pkt_tuple a = from("192.0.2.10");
	struct acceptq_hold h1 = {0}, h2 = {0};
	struct acceptq_src *old;

	acceptq_src_swap(q, acceptq_src_new(&pol));
	assert_int_equal(acceptq_admit(q, &h1, &pol, &a, false), ACCEPTQ_ADMIT_OK);
	pol2.per_source.prefix_v4 = 32;
	assert_false(acceptq_src_fits(q, &pol2));
	old = acceptq_src_swap(q, acceptq_src_new(&pol2));
	assert_non_null(old);
	acceptq_src_unref(old); /* the queue's reference: h1 still holds the table */
	/* the new table does not know h1: the same source is admitted once more */
	assert_int_equal(acceptq_admit(q, &h2, &pol2, &a, false), ACCEPTQ_ADMIT_OK);
	assert_counts(q, 2, 2, 1);
	acceptq_drop(&h1, &a); /* frees the old table */
	acceptq_drop(&h2, &a);
	assert_counts(q, 0, 0, 0);
	/* no per-source cap any more */
	acceptq_src_unref(acceptq_src_swap(q, NULL));
	assert_false(acceptq_src_present(q));
	acceptq_free(q);
}

/* A connection submitted without admission is counted so that its release balances. */
static void test_enter(void **state)
{
	(void)state;
	struct acceptq *q = acceptq_new("web");
	struct conf_policy pol = policy(1, 0, 0);
	struct pkt_tuple t = from("192.0.2.1");
	struct acceptq_hold a = {0}, b = {0};

	acceptq_enter(q, &a);
	assert_ptr_equal(a.q, q);
	assert_counts(q, 1, 1, 0);
	acceptq_enter(q, &a); /* already counted */
	assert_counts(q, 1, 1, 0);
	assert_int_equal(acceptq_admit(q, &b, &pol, &t, false), ACCEPTQ_ADMIT_BACKLOG);
	acceptq_drop(&a, &t);
	assert_counts(q, 0, 0, 0);
	acceptq_free(q);
}

static void test_slots(void **state)
{
	(void)state;
	struct acceptq *q = acceptq_new("web");

	assert_true(acceptq_slot_take(q, 2));
	assert_true(acceptq_slot_take(q, 2));
	assert_false(acceptq_slot_take(q, 2));
	assert_int_equal(acceptq_slots_used(q), 2);
	assert_true(acceptq_slot_take(q, 0)); /* no cap */
	acceptq_slot_give(q);
	acceptq_slot_give(q);
	assert_true(acceptq_slot_take(q, 2));
	acceptq_slot_give(q);
	acceptq_slot_give(q);
	acceptq_slot_give(q); /* never below zero */
	assert_int_equal(acceptq_slots_used(q), 0);
	assert_non_null(acceptq_slot_line(q));
	acceptq_free(q);
}

/* ---- the waiting line, injected time ---- */

struct entry {
	struct acceptq_wait w;
	int id;
};

struct log {
	int ids[16];
	size_t n;
	struct acceptq_wait *push_on_expire; /* pushed from inside the callback, once */
	double now;
};

static void on_expired(struct acceptq_fifo *f, struct acceptq_wait *w, void *arg)
{
	struct log *lg = arg;

	assert_false(w->linked);
	lg->ids[lg->n++] = ((struct entry *)w)->id;
	if (lg->push_on_expire) {
		acceptq_fifo_push(f, lg->push_on_expire, lg->now);
		lg->push_on_expire = NULL;
	}
}

static void test_fifo_order(void **state)
{
	(void)state;
	struct acceptq_fifo f;
	struct log lg = {0};
	struct entry e[4];

	acceptq_fifo_init(&f, NULL, 5, on_expired, &lg);
	assert_null(acceptq_fifo_pop(&f, 0));
	assert_true(acceptq_fifo_deadline(&f) < 0);
	for (int i = 0; i < 4; i++) {
		e[i].id = i;
		acceptq_fifo_push(&f, &e[i].w, 100 + i);
	}
	assert_int_equal(f.n, 4);
	/* out of the middle, the tail, and again (not linked any more: nothing) */
	acceptq_fifo_remove(&f, &e[1].w, 104);
	acceptq_fifo_remove(&f, &e[3].w, 104);
	acceptq_fifo_remove(&f, &e[3].w, 104);
	assert_int_equal(f.n, 2);
	acceptq_fifo_push(&f, &e[1].w, 104); /* back, at the end */
	assert_ptr_equal(acceptq_fifo_pop(&f, 104), &e[0].w);
	assert_ptr_equal(acceptq_fifo_pop(&f, 104), &e[2].w);
	assert_ptr_equal(acceptq_fifo_pop(&f, 104), &e[1].w);
	assert_null(acceptq_fifo_pop(&f, 104));
	assert_int_equal(f.n, 0);
	assert_null(f.head);
	assert_null(f.tail);
	assert_int_equal(lg.n, 0);
	acceptq_fifo_fini(&f);
}

static void test_fifo_deadlines(void **state)
{
	(void)state;
	struct acceptq_fifo f;
	struct log lg = {0};
	struct entry e[4];

	acceptq_fifo_init(&f, NULL, 5, on_expired, &lg);
	for (int i = 0; i < 3; i++) {
		e[i].id = i;
		acceptq_fifo_push(&f, &e[i].w, 100 + i); /* due at 105, 106, 107 */
	}
	assert_true(acceptq_fifo_deadline(&f) == 105);
	assert_int_equal(acceptq_fifo_expire(&f, 104.9), 0);
	assert_int_equal(acceptq_fifo_expire(&f, 106), 2);
	assert_int_equal(lg.n, 2);
	assert_int_equal(lg.ids[0], 0);
	assert_int_equal(lg.ids[1], 1);
	assert_true(acceptq_fifo_deadline(&f) == 107);
	/* a new timeout applies to the entry already waiting */
	acceptq_fifo_set_timeout(&f, 10, 106);
	assert_true(acceptq_fifo_deadline(&f) == 112);
	assert_int_equal(acceptq_fifo_expire(&f, 111), 0);
	/* the callback may push: the new entry is not due yet */
	e[3].id = 3;
	lg.push_on_expire = &e[3].w;
	lg.now = 112;
	assert_int_equal(acceptq_fifo_expire(&f, 112), 1);
	assert_int_equal(lg.ids[2], 2);
	assert_ptr_equal(f.head, &e[3].w);
	assert_true(acceptq_fifo_deadline(&f) == 122);
	assert_int_equal(acceptq_fifo_expire(&f, 1000), 1);
	assert_int_equal(lg.ids[3], 3);
	assert_int_equal(f.n, 0);
	acceptq_fifo_fini(&f);
}

/* With a loop, the line's timer expires the oldest entry by itself. */
static void on_expired_break(struct acceptq_fifo *f, struct acceptq_wait *w, void *arg)
{
	on_expired(f, w, arg);
	ev_break(f->loop, EVBREAK_ALL);
}

static void test_fifo_timer(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct acceptq_fifo f;
	struct log lg = {0};
	struct entry a = {.id = 1}, b = {.id = 2};
	ev_tstamp t0;

	assert_non_null(loop);
	acceptq_fifo_init(&f, loop, 0.05, on_expired_break, &lg);
	ev_now_update(loop);
	t0 = ev_now(loop);
	acceptq_fifo_push(&f, &a.w, t0);
	acceptq_fifo_push(&f, &b.w, t0 + 10); /* far from due */
	ev_run(loop, 0);                      /* returns once something expired */
	assert_int_equal(lg.n, 1);
	assert_int_equal(lg.ids[0], 1);
	assert_true(ev_now(loop) >= t0 + 0.05 - 0.001);
	assert_ptr_equal(f.head, &b.w);
	acceptq_fifo_remove(&f, &b.w, ev_now(loop));
	acceptq_fifo_fini(&f);
	ev_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_admit_backlog),
	    cmocka_unit_test(test_admit_max_connections),
	    cmocka_unit_test(test_admit_per_source),
	    cmocka_unit_test(test_src_reload),
	    cmocka_unit_test(test_enter),
	    cmocka_unit_test(test_slots),
	    cmocka_unit_test(test_fifo_order),
	    cmocka_unit_test(test_fifo_deadlines),
	    cmocka_unit_test(test_fifo_timer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
