/*
 * One NFQUEUE queue, one thread, one libev loop. See queue.h.
 *
 * The loop's only I/O watcher is the netlink socket (nfqsock.h). When it is
 * readable the thread reads packet messages until EAGAIN (or a bounded number
 * of rounds, so the flush below is never starved), and decides each packet at
 * once (handshake.h). The verdicts and the SYN-ACK batch are flushed after
 * every full receive round (so a long burst does not hold the first answers
 * back: under a flood the queue never runs dry and the connect p99 of
 * legitimate clients was that wait), from an ev_prepare watcher right before
 * the loop blocks, or earlier when full. SYN-ACKs leave at layer 2 when
 * NFQUEUE told us the way back (tx.h).
 *
 * The handshake module reaches the world through the ops below: the SYN-ACK
 * batch (tx.c), the repaired socket (repair.c), the accept queue (handoff.h)
 * and this thread's table of recent flows (flows.h).
 *
 * Nothing here allocates after queue_start() but a reload: receive buffers,
 * the verdict buffer, the transmit ring, the flows table and the policy
 * tables are all sized up front.
 */
#define _GNU_SOURCE /* pthread_setname_np, pthread_setaffinity_np */
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <linux/netfilter.h>
#include <sodium.h>

#include "cookie.h"
#include "flows.h"
#include "handshake.h"
#include "log.h"
#include "mailbox.h"
#include "nfqsock.h"
#include "policy.h"
#include "repair.h"
#include "tx.h"

/* recvmmsg() rounds per wake-up before the loop gets to flush. */
#define Q_RX_ROUNDS 16
/* SYN-ACKs per sendmmsg(). */
#define Q_TX_BATCH 64
/* Flows handed off recently: entries live a few seconds, far longer than a queued packet. */
#define Q_FLOWS_CAPACITY 8192
#define Q_FLOWS_TTL_MS   5000

/* The policy timer: SYN-ACK retransmits are due on whole seconds after their SYN; a tenth
 * of a second late is well within what a client tolerates. */
#define Q_TIMER_MS 100
/* How long a device's MAC address is trusted before it is read again (tx.h). */
#define Q_DEVICES_MS 10000
/* Reports of handshakes completed in the kernel waiting for the thread: main drains the
 * ring buffer in batches, the thread takes them at its next wake-up. */
#define Q_TC_MAILBOX 4096

struct queue_thread {
	uint16_t num;
	const struct queue_shared *sh;
	const struct queue_gen *gen;
	/* per listener of gen->conf; a listener's row's cookie_threads gauge (0 or 1) says
	 * whether this thread counts in its handoff_listener's cookie threads */
	struct hs_listener *ql;
	uint64_t seen; /* atomic: gen->seq */
	/* datapath "xdp", per listener of gen->conf: syn_answered as read at the latest tick */
	uint64_t *xdp_answered;
	uint64_t *xdp_percpu; /* gen->xdp.ncpus: the read's buffer */

	struct nfqs *nfqs;
	struct hs_ctx hs;

	struct ev_loop *loop;
	ev_io io;
	ev_prepare prepare;
	ev_async stop;
	ev_async wake;
	ev_timer timer;
	struct mailbox *tc_done; /* struct fastpath_done, from main */
	pthread_t thread;
	bool thread_started;

	struct cookie_ctx *cookies;
	bool have_epoch;

	struct tx *tx;
	uint64_t devs_ms; /* when tx last forgot the devices' addresses */
	struct flows *flows;
	/* counters: blocks[cur] is written; the other is the previous one until main frees it */
	struct stats_block blocks[2];
	int cur; /* atomic */
};

static const struct conf *q_conf(const struct queue_thread *q)
{
	return q->gen->conf;
}

/* ---- time and keys ---- */

static void q_refresh_time(struct queue_thread *q)
{
	const struct conf *c =
	    q->gen ? q->gen->conf : __atomic_load_n(&q->sh->gen, __ATOMIC_ACQUIRE)->conf;
	struct timespec ts;
	uint32_t epoch;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	q->hs.now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	epoch = (uint32_t)((uint64_t)ts.tv_sec / c->daemon.cookie_rotation);
	if (q->have_epoch && epoch == q->hs.epoch)
		return;
	/* The previous epoch's key stays live so cookies made just before the rotation still
	 * validate; installing the current one retires the key from two epochs back. */
	for (uint32_t e = epoch - 1;; e = epoch) {
		if (!cookie_has_key(q->cookies, e)) {
			uint8_t key[COOKIE_KEY_LEN];

			cookie_derive_key(key, q->sh->cookie_master, e);
			cookie_set_key(q->cookies, e, key);
			sodium_memzero(key, sizeof(key));
		}
		if (e == epoch)
			break;
	}
	q->hs.epoch = epoch;
	q->have_epoch = true;
}

/* The SYN-ACKs first: a client waits for them, nobody waits for the verdicts that drop SYNs. */
static void q_flush(struct queue_thread *q)
{
	tx_flush(q->tx);
	if (q->nfqs)
		nfqs_flush(q->nfqs);
}

/* ---- modes ---- */

/*
 * Datapath "xdp": the program answers listener li's SYNs while any thread
 * answers them with cookies (the listener's cookie thread count). Written
 * by the thread that changed the count, then checked against it again: a
 * thread changing it meanwhile writes after its change, so the last write
 * agrees with the count however the threads interleave.
 */
static void q_xdp_switch(struct queue_thread *q, size_t li)
{
	const struct queue_gen *g = q->gen;
	struct handoff_listener *ls = q->ql[li].ls;
	bool xdp;

	if (!g->xdp_slot || g->xdp_slot[li] < 0)
		return;
	do {
		xdp = handoff_listener_cookie(ls, 0) != 0;
		if (xdppath_auto_set(&g->xdp, (uint32_t)g->xdp_slot[li], xdp) < 0) {
			log_warnx_ratelimited(10, "queue %u: listener %s: setting XDP's answer: %s",
			                      q->num, g->conf->listeners[li].name, strerror(errno));
			return;
		}
	} while ((handoff_listener_cookie(ls, 0) != 0) != xdp);
}

/*
 * Datapath "xdp": this thread's share of the SYNs of listener li that XDP
 * answered since the previous tick, counted toward its auto mode's SYN rate.
 * syn_answered, not syn_seen: the SYNs XDP passed reach the queue threads,
 * which count them themselves. The share of the running totals, so that no
 * remainder of the division is lost.
 */
static void q_xdp_note(struct queue_thread *q, size_t li)
{
	const struct queue_gen *g = q->gen;
	struct policy *ps = q->ql[li].ps;
	uint64_t now, was = q->xdp_answered[li], n = q->sh->n_queues ? q->sh->n_queues : 1;
	uint64_t share;

	if (g->xdp_slot[li] < 0 ||
	    xdppath_auto_answered(&g->xdp, (uint32_t)g->xdp_slot[li], q->xdp_percpu, &now) < 0 ||
	    now <= was)
		return;
	q->xdp_answered[li] = now;
	share = now / n - was / n;
	if (ps && share)
		policy_note_syns(ps, q->hs.now_ms,
		                 share > UINT32_MAX ? UINT32_MAX : (uint32_t)share);
}

/*
 * Keeps the listener's count of threads answering with cookies in step with
 * this thread's mode. The first thread to switch to cookies and the last to
 * switch back log and count the listener's switch: once, however many threads
 * there are. Switches made by a reload are the reload's to report.
 */
static void q_sync_mode(struct queue_thread *q, size_t li, bool loud)
{
	struct hs_listener *ql = &q->ql[li];
	struct stats_row *row = ql->row;
	const char *name = q_conf(q)->listeners[li].name;
	bool cookie = !ql->ps || policy_mode(ql->ps) == MODE_USE_COOKIE;
	unsigned why = ql->ps ? policy_mode_why(ql->ps) : 0;
	uint32_t n;

	if (cookie == (row->v[ST_COOKIE_THREADS] != 0))
		return;
	n = handoff_listener_cookie(ql->ls, cookie ? 1 : -1);
	stats_set(row, ST_COOKIE_THREADS, cookie);
	if (cookie ? n == 1 : n == 0)
		q_xdp_switch(q, li);
	if (!loud || (why & MODE_WHY_CONFIG))
		return;
	if (cookie && n == 1) {
		stats_inc(row, ST_MODE_TO_COOKIE);
		log_info("listener %s: answering new SYNs with cookies: %s%s%s (queue %u)", name,
		         why & MODE_WHY_RATE ? "the SYN rate reached syn_rate_trigger" : "",
		         (why & MODE_WHY_RATE) && (why & MODE_WHY_FILL) ? ", " : "",
		         why & MODE_WHY_FILL ? "the half-open table reached half_open_fill_trigger"
		                             : "",
		         q->num);
	} else if (!cookie && n == 0) {
		stats_inc(row, ST_MODE_TO_STATEFUL);
		log_info("listener %s: back to stateful answers: calm for auto_calm_time", name);
	}
}

/* ---- the handshake's I/O ---- */

static void q_send_synack(void *arg, const struct pkt_spec *s, const struct tx_l2 *l2,
                          struct stats_row *row)
{
	struct queue_thread *q = arg;

	(void)tx_queue(q->tx, s, l2, row);
}

static int q_build_socket(void *arg, const struct repair_params *rp)
{
	(void)arg;
	return repair_socket(rp);
}

static enum handoff_admit q_admit(void *arg, struct handoff_conn *c, const struct conf_policy *pol,
                                  bool skip_source)
{
	(void)arg;
	return handoff_admit(c, pol, skip_source);
}

static void q_unadmit(void *arg, struct handoff_conn *c)
{
	(void)arg;
	handoff_unadmit(c);
}

static int q_submit(void *arg, struct handoff_conn *c)
{
	struct queue_thread *q = arg;

	return handoff_submit(q->sh->handoff, c);
}

static void q_reset_fd(void *arg, int fd)
{
	(void)arg;
	handoff_reset_fd(fd);
}

static bool q_flow_seen(void *arg, const struct pkt_tuple *t, uint32_t ack)
{
	struct queue_thread *q = arg;

	return flows_contains(q->flows, t, ack, q->hs.now_ms);
}

static bool q_flow_add(void *arg, const struct pkt_tuple *t, uint32_t ack)
{
	struct queue_thread *q = arg;

	return flows_insert(q->flows, t, ack, q->hs.now_ms);
}

static void q_mode_changed(void *arg, size_t li)
{
	q_sync_mode(arg, li, true);
}

static const struct hs_ops q_ops = {
    .send_synack = q_send_synack,
    .build_socket = q_build_socket,
    .admit = q_admit,
    .unadmit = q_unadmit,
    .submit = q_submit,
    .reset_fd = q_reset_fd,
    .flow_seen = q_flow_seen,
    .flow_add = q_flow_add,
    .mode_changed = q_mode_changed,
};

/* ---- packets ---- */

static int q_on_packet(void *arg, const struct nfqs_packet *p)
{
	struct queue_thread *q = arg;
	struct hs_decision d;

	hs_packet(&q->hs, p->data, p->len, p->csum_unverified, p->has_socket,
	          q_conf(q)->daemon.synack_layer2 ? &p->l2 : NULL, &d);
	if (d.why == ST_REPAIR_FAILED)
		log_warnx_ratelimited(10, "queue %u: listener %s: TCP_REPAIR failed: %s", q->num,
		                      q_conf(q)->listeners[d.listener].name, strerror(d.err));
	if (d.flows_evicted)
		log_warnx_ratelimited(60, "queue %u: recent-flows table full, oldest evicted",
		                      q->num);
	return d.accept ? NF_ACCEPT : NF_DROP;
}

/* After each receive round: what it decided goes out, and the clock moves on. */
static void q_on_round(void *arg)
{
	struct queue_thread *q = arg;

	tx_flush(q->tx);
	q_refresh_time(q);
}

/* ---- policy state and reloads ---- */

/* The state of listener i under its new params: the old one reconfigured, or a new one. */
static void q_policy_set(struct queue_thread *q, const struct queue_gen *g, size_t i,
                         struct hs_listener *ql)
{
	const char *name = g->conf->listeners[i].name;
	uint8_t seed[POLICY_SEED_LEN];
	struct policy_params pp;

	hs_policy_params(g->conf, i, q->sh->n_queues, g->access[g->conf->listeners[i].policy], &pp);
	randombytes_buf(seed, sizeof(seed));
	if (ql->ps && policy_reconfigure(ql->ps, &pp, seed, q->hs.now_ms, NULL) < 0) {
		policy_free(ql->ps);
		ql->ps = NULL;
	}
	if (!ql->ps)
		ql->ps = policy_new(&pp, seed, q->hs.now_ms);
	if (!ql->ps)
		log_warnx("queue %u: listener %s: cannot build the policy's tables (%s): answering "
		          "with cookies, without per-source limits",
		          q->num, name, strerror(errno));
	sodium_memzero(seed, sizeof(seed));
}

/*
 * Moves to the published generation when there is a new one. The counters
 * move to a block of the new shape by listener; what a removed listener
 * counted goes to the unmatched row. Returns -1 when memory ran out: the
 * thread stays where it is and tries again at its next batch.
 */
static int q_pickup(struct queue_thread *q)
{
	const struct queue_gen *g = __atomic_load_n(&q->sh->gen, __ATOMIC_ACQUIRE);
	size_t n, m = q->gen ? q_conf(q)->n_listeners : 0;
	struct stats_block *ob = &q->blocks[q->cur], *nb;
	struct hs_listener *nql;
	uint64_t *nxa = NULL;
	bool *kept;
	int next;

	if (g == q->gen)
		return 0;
	n = g->conf->n_listeners;
	next = q->gen ? 1 - q->cur : q->cur;
	nb = &q->blocks[next];
	nql = calloc(n ? n : 1, sizeof(*nql));
	kept = calloc(m ? m : 1, sizeof(*kept));
	if (g->xdp_slot) {
		nxa = calloc(n ? n : 1, sizeof(*nxa));
		if (!q->xdp_percpu)
			q->xdp_percpu = calloc((size_t)g->xdp.ncpus, sizeof(*q->xdp_percpu));
	}
	if (!nql || !kept || (g->xdp_slot && (!nxa || !q->xdp_percpu)) ||
	    stats_block_init(nb, n) < 0) {
		free(nql);
		free(kept);
		free(nxa);
		log_warnx_ratelimited(10, "queue %u: out of memory: the new configuration waits",
		                      q->num);
		return -1;
	}
	/* batched SYN-ACKs point at the current rows: out with them first */
	q_flush(q);

	for (size_t i = 0; i < n; i++) {
		nql[i].ls = g->ls[i];
		for (size_t j = 0; j < m; j++) {
			if (!kept[j] && q->ql[j].ls == g->ls[i]) {
				kept[j] = true;
				nql[i].ps = q->ql[j].ps;
				if (nxa && q->xdp_answered && g->xdp_slot[i] == q->gen->xdp_slot[j])
					nxa[i] = q->xdp_answered[j];
				stats_row_add(&nb->rows[i], &ob->rows[j]);
				break;
			}
		}
		/* a listener new to XDP's auto mode counts from now */
		if (nxa && !nxa[i] && g->xdp_slot[i] >= 0)
			(void)xdppath_auto_answered(&g->xdp, (uint32_t)g->xdp_slot[i],
			                            q->xdp_percpu, &nxa[i]);
		nql[i].pol = conf_listener_policy(g->conf, i);
		nql[i].row = &nb->rows[i];
		q_policy_set(q, g, i, &nql[i]);
		hs_listener_sync(&nql[i]);
	}
	for (size_t j = 0; j < m; j++) {
		struct stats_row *r = &ob->rows[j];

		if (kept[j])
			continue;
		policy_free(q->ql[j].ps);
		stats_set(r, ST_HALFOPEN_ENTRIES, 0);
		if (r->v[ST_COOKIE_THREADS]) {
			handoff_listener_cookie(q->ql[j].ls, -1);
			stats_set(r, ST_COOKIE_THREADS, 0);
		}
		stats_row_add(&nb->rows[n], r);
	}
	if (q->gen)
		stats_row_add(&nb->rows[n], &ob->rows[m]);
	free(kept);
	free(q->ql);
	q->ql = nql;
	free(q->xdp_answered);
	q->xdp_answered = nxa;
	q->gen = g;
	q->hs.conf = g->conf;
	q->hs.host_ecn = g->host_ecn;
	q->hs.ls = nql;
	q->hs.unmatched = &nb->rows[n];
	/* a mode changed by the reload applies now, quietly: the reload reports it */
	for (size_t i = 0; i < n; i++) {
		if (q->ql[i].ps)
			(void)policy_tick(q->ql[i].ps, q->hs.now_ms, NULL);
		q_sync_mode(q, i, false);
		/* after any write a thread made under the previous generation: a slot that
		 * changed hands follows its new listener's count */
		q_xdp_switch(q, i);
	}
	__atomic_store_n(&q->cur, next, __ATOMIC_RELEASE);
	__atomic_store_n(&q->seen, g->seq, __ATOMIC_RELEASE);
	if (q->thread_started && q->sh->moved_on)
		q->sh->moved_on(q->sh->moved_arg);
	return 0;
}

/* SYN-ACK retransmits, half-open expiries, and the auto mode in quiet periods. */
static void q_policy_timer(struct queue_thread *q)
{
	for (size_t li = 0; li < q_conf(q)->n_listeners; li++) {
		if (q->xdp_answered)
			q_xdp_note(q, li);
		hs_timer(&q->hs, li);
	}
}

/* Handshakes completed in the kernel: the entries this thread holds for them go. At most one
 * mailbox's worth per call, so that the queue is never starved; the timer calls again. */
static void q_tc_retire(struct queue_thread *q)
{
	struct fastpath_done d;

	for (size_t n = mailbox_capacity(q->tc_done); n > 0 && mailbox_get(q->tc_done, &d); n--) {
		int li = conf_match_listener(q_conf(q), d.t.family, d.t.daddr, d.t.dport);
		struct hs_listener *l = li >= 0 ? &q->ql[li] : NULL;

		if (!l || !l->ps || !policy_handshake_done(l->ps, &d.t, d.seq, d.ack))
			continue;
		/* ack_valid and handoffs were counted by the kernel path */
		stats_inc(l->row, ST_ACK_HALFOPEN);
		stats_inc(l->row, ST_HALFOPEN_TC_RETIRED);
		hs_listener_sync(l);
	}
}

/* ---- event loop ---- */

static void q_on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct queue_thread *q = w->data;

	(void)loop;
	(void)revents;
	q_refresh_time(q);
	q_pickup(q);
	if (nfqs_read(q->nfqs, Q_RX_ROUNDS) < 0)
		log_warnx_ratelimited(10, "queue %u: netlink receive: %s", q->num, strerror(errno));
}

static void q_on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct queue_thread *q = w->data;

	(void)loop;
	(void)revents;
	q_flush(q);
}

static void q_on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct queue_thread *q = w->data;

	(void)loop;
	(void)revents;
	q_refresh_time(q);
	q_pickup(q);
	/* one wake-up for a new configuration and for the kernel path's handshake reports */
	q_tc_retire(q);
}

static void q_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct queue_thread *q = w->data;

	(void)loop;
	(void)revents;
	q_refresh_time(q);
	q_pickup(q);
	/* before the expiries: an entry whose handshake completed does not expire */
	q_tc_retire(q);
	q_policy_timer(q);
	if (q->hs.now_ms - q->devs_ms >= Q_DEVICES_MS) {
		tx_forget_devices(q->tx);
		q->devs_ms = q->hs.now_ms;
	}
}

static void q_on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void *q_main(void *arg)
{
	struct queue_thread *q = arg;

	ev_run(q->loop, 0);
	q_flush(q);
	return NULL;
}

/* ---- set-up ---- */

static void q_free(struct queue_thread *q)
{
	if (q == NULL)
		return;
	nfqs_close(q->nfqs);
	if (q->loop)
		ev_loop_destroy(q->loop);
	tx_free(q->tx);
	flows_free(q->flows);
	mailbox_free(q->tc_done);
	cookie_free(q->cookies);
	if (q->ql)
		for (size_t i = 0; i < q_conf(q)->n_listeners; i++)
			policy_free(q->ql[i].ps);
	free(q->ql);
	free(q->xdp_answered);
	free(q->xdp_percpu);
	stats_block_free(&q->blocks[0]);
	stats_block_free(&q->blocks[1]);
	free(q);
}

/*
 * The CPU and scheduling the configuration asks for (daemon.queue_cpus,
 * daemon.queue_priority), given to the thread as it is created, while the
 * daemon still holds its privileges. A real-time queue thread answers a SYN as soon as it arrives
 * instead of waiting for its turn behind other work: under a flood that
 * wait, not the work, was most of the connect latency of legitimate
 * clients. The kernel's real-time throttling (kernel.sched_rt_runtime_us)
 * still leaves the other threads a share of each CPU.
 */
static void q_thread_attr(const struct queue_thread *q, pthread_attr_t *attr)
{
	const struct conf_daemon *d = &q_conf(q)->daemon;

	if (d->n_queue_cpus > 0) {
		unsigned cpu = d->queue_cpus[(unsigned)(q->num - d->queue_first) % d->n_queue_cpus];
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_attr_setaffinity_np(attr, sizeof(set), &set);
	}
	if (d->queue_priority > 0) {
		struct sched_param sp = {.sched_priority = d->queue_priority};

		pthread_attr_setinheritsched(attr, PTHREAD_EXPLICIT_SCHED);
		pthread_attr_setschedpolicy(attr, SCHED_RR);
		pthread_attr_setschedparam(attr, &sp);
	}
}

/*
 * daemon.queue_nice. A nice value cannot be given through thread attributes, and
 * a thread cannot be reniced once the daemon has dropped its privileges, but a new
 * thread inherits its creator's: the creating thread takes the value for the
 * moment of pthread_create() (see the caller). Under a flood a queue thread at
 * -20 takes nearly all of its CPU, yet, unlike a real-time one, still lets that
 * CPU's kernel threads (ksoftirqd, workqueues) in at once when they wake.
 * Returns 0, or -1 with err set.
 */
static int q_nice_push(const struct queue_thread *q, int *was, char *err, size_t errlen)
{
	int want = q_conf(q)->daemon.queue_nice;

	if (want == 0)
		return 0;
	errno = 0;
	*was = getpriority(PRIO_PROCESS, 0); /* the calling thread, on Linux */
	if (*was == -1 && errno != 0) {
		snprintf(err, errlen, "daemon.queue_nice: getpriority: %s", strerror(errno));
		return -1;
	}
	if (setpriority(PRIO_PROCESS, 0, want) < 0) {
		snprintf(err, errlen, "daemon.queue_nice = %d: %s%s", want, strerror(errno),
		         errno == EACCES || errno == EPERM
		             ? " (needs CAP_SYS_NICE or RLIMIT_NICE; systemd: LimitNICE=)"
		             : "");
		return -1;
	}
	return 0;
}

static void q_nice_pop(const struct queue_thread *q, int was)
{
	if (q_conf(q)->daemon.queue_nice != 0 && setpriority(PRIO_PROCESS, 0, was) < 0)
		log_warn("queue %u: restoring the main thread's nice value", q->num);
}

struct queue_thread *queue_start(uint16_t num, const struct queue_shared *sh, char *err,
                                 size_t errlen)
{
	struct queue_thread *q = calloc(1, sizeof(*q));
	const struct conf *conf = __atomic_load_n(&sh->gen, __ATOMIC_ACQUIRE)->conf;
	struct nfqs_cb cb;
	sigset_t all, old;
	pthread_attr_t attr;
	uint64_t seed;
	int e, nice_was = 0;

	if (q == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	q->num = num;
	q->sh = sh;
	if (conf->daemon.cookie_rotation == 0) {
		snprintf(err, errlen, "cookie_rotation must be positive");
		goto fail;
	}
	randombytes_buf(&seed, sizeof(seed));
	q->cookies = cookie_new();
	q->flows = flows_new(Q_FLOWS_CAPACITY, Q_FLOWS_TTL_MS, seed);
	q->tc_done = mailbox_new(Q_TC_MAILBOX, sizeof(struct fastpath_done));
	if (!q->cookies || !q->flows || !q->tc_done) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	q->hs.ops = &q_ops;
	q->hs.arg = q;
	q->hs.cookies = q->cookies;
	q->tx = tx_new(Q_TX_BATCH, err, errlen);
	if (q->tx == NULL)
		goto fail;
	if (conf->daemon.synack_layer2 && tx_layer2_errno(q->tx) != 0)
		log_warnx(
		    "queue %u: synack_layer2: no packet socket (%s): SYN-ACKs take the routed "
		    "raw sockets",
		    num, strerror(tx_layer2_errno(q->tx)));
	q_refresh_time(q);
	if (q_pickup(q) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	cb.packet = q_on_packet;
	cb.round = q_on_round;
	cb.arg = q;
	q->nfqs = nfqs_open(num, q_conf(q)->daemon.queue_full == CONF_QUEUE_FULL_ACCEPT, &cb, err,
	                    errlen);
	if (q->nfqs == NULL)
		goto fail;
	q_flush(q);

	q->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (q->loop == NULL) {
		snprintf(err, errlen, "cannot create an event loop");
		goto fail;
	}
	ev_io_init(&q->io, q_on_readable, nfqs_fd(q->nfqs), EV_READ);
	q->io.data = q;
	ev_io_start(q->loop, &q->io);
	ev_prepare_init(&q->prepare, q_on_prepare);
	q->prepare.data = q;
	ev_prepare_start(q->loop, &q->prepare);
	ev_async_init(&q->stop, q_on_stop);
	ev_async_start(q->loop, &q->stop);
	ev_async_init(&q->wake, q_on_wake);
	q->wake.data = q;
	ev_async_start(q->loop, &q->wake);
	ev_timer_init(&q->timer, q_on_timer, Q_TIMER_MS / 1000.0, Q_TIMER_MS / 1000.0);
	q->timer.data = q;
	ev_timer_start(q->loop, &q->timer);

	/* Signals belong to the main thread's loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	q_thread_attr(q, &attr);
	e = q_nice_push(q, &nice_was, err, errlen);
	if (e == 0) {
		e = pthread_create(&q->thread, &attr, q_main, q);
		q_nice_pop(q, nice_was);
	}
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e < 0)
		goto fail; /* q_nice_push said why */
	if (e != 0) {
		snprintf(err, errlen, "cannot start the queue thread: %s%s", strerror(e),
		         e == EINVAL || e == EPERM ? " (daemon.queue_cpus or queue_priority)" : "");
		goto fail;
	}
	q->thread_started = true;
	{
		char name[16];

		snprintf(name, sizeof(name), "sg-queue-%u", num);
		pthread_setname_np(q->thread, name);
	}
	return q;

fail:
	q_free(q);
	return NULL;
}

void queue_stop(struct queue_thread *q)
{
	if (q == NULL)
		return;
	if (q->thread_started) {
		ev_async_send(q->loop, &q->stop);
		pthread_join(q->thread, NULL);
	}
	q_free(q);
}

const struct stats_block *queue_stats(const struct queue_thread *q)
{
	return &q->blocks[__atomic_load_n(&q->cur, __ATOMIC_ACQUIRE)];
}

void queue_stats_free_prev(struct queue_thread *q)
{
	stats_block_free(&q->blocks[1 - __atomic_load_n(&q->cur, __ATOMIC_ACQUIRE)]);
}

void queue_wake(struct queue_thread *q)
{
	ev_async_send(q->loop, &q->wake);
}

bool queue_tc_done(struct queue_thread *q, const struct fastpath_done *d)
{
	return mailbox_put(q->tc_done, d);
}

void queue_tc_flush(struct queue_thread *q)
{
	ev_async_send(q->loop, &q->wake);
}

uint64_t queue_gen_seq(const struct queue_thread *q)
{
	return __atomic_load_n(&q->seen, __ATOMIC_ACQUIRE);
}
