/*
 * Reload: building a new configuration's queue generation, the hand-over to
 * the queue threads and the firewall step, all on the main loop without
 * waiting. See reload.h.
 */
#define _GNU_SOURCE /* asprintf, open_memstream */
#include "reload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cidr.h"
#include "firewall.h"
#include "log.h"
#include "sockutil.h"
#include "policy.h"

#define CONF_SIZE_MAX (1 << 20)

/* ---- the file ---- */

/* Reads a whole file into a NUL-terminated buffer. */
static char *read_text(const char *path, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CONF_SIZE_MAX) {
		snprintf(err, errlen, "%s: not a regular file of at most %d bytes", path,
		         CONF_SIZE_MAX);
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: read: %s", path,
			         n < 0 ? strerror(errno) : "file shrank");
			goto fail;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

struct conf *reload_conf_load(const char *path, char *err, size_t errlen)
{
	struct conf *c = NULL;
	char *text = read_text(path, err, errlen);
	char msg[512];

	if (!text)
		return NULL;
	if (conf_parse(text, path, &c, err, errlen) < 0)
		c = NULL;
	free(text);
	if (c && (fastpath_conf_check(c, msg, sizeof(msg)) < 0 ||
	          xdppath_conf_check(c, msg, sizeof(msg)) < 0)) {
		snprintf(err, errlen, "%s: %s", path, msg);
		conf_free(c);
		c = NULL;
	}
	return c;
}

/* ---- generations ---- */

static void gen_free(struct queue_gen *g)
{
	if (!g)
		return;
	if (g->access)
		for (size_t i = 0; i < g->conf->n_policies; i++)
			cidr_set_free(g->access[i]);
	free(g->access);
	free(g->ls);
	free(g->xdp_slot);
	conf_free((struct conf *)g->conf);
	free(g);
}

/*
 * Whether this network namespace accepts ECN on incoming connections (net.ipv4.tcp_ecn
 * != 0), which the kernel requires before it keeps the ECN a handoff "local" SYN-ACK
 * agreed to (handshake.h). Read once per generation, never per packet. Unreadable: no,
 * and said when a listener would have used it.
 */
static bool host_accepts_ecn(const struct conf *c)
{
	int v = sock_sysctl_ipv4("tcp_ecn");

	if (v >= 0)
		return v != 0;
	for (size_t i = 0; i < c->n_listeners; i++) {
		if (c->listeners[i].handoff == CONF_HANDOFF_LOCAL) {
			log_warnx("cannot read net.ipv4.tcp_ecn: ECN-setup SYNs to listeners with "
			          "handoff \"local\" are answered without ECE");
			break;
		}
	}
	return false;
}

/* The generation of conf c (which it then owns): its policies' access sets built, and the
 * handoff's listener states, so the handoff must use c already; so must the XDP program x
 * (may be NULL), whose slots it takes. */
static struct queue_gen *gen_new(struct handoff *h, const struct xdppath *x, struct conf *c,
                                 uint64_t seq, char *err, size_t errlen)
{
	struct queue_gen *g = calloc(1, sizeof(*g));

	if (!g) {
		snprintf(err, errlen, "out of memory");
		conf_free(c);
		return NULL;
	}
	g->seq = seq;
	g->conf = c;
	g->host_ecn = host_accepts_ecn(c);
	g->ls = calloc(c->n_listeners ? c->n_listeners : 1, sizeof(*g->ls));
	g->access = calloc(c->n_policies ? c->n_policies : 1, sizeof(*g->access));
	if (!g->ls || !g->access) {
		snprintf(err, errlen, "out of memory");
		gen_free(g);
		return NULL;
	}
	for (size_t i = 0; i < c->n_policies; i++) {
		const struct conf_policy *p = &c->policies[i];
		char why[256];

		g->access[i] =
		    policy_access_new(p->allow, p->n_allow, p->deny, p->n_deny, why, sizeof(why));
		if (!g->access[i] && why[0]) {
			snprintf(err, errlen, "policy %s: allow/deny: %s", p->name, why);
			gen_free(g);
			return NULL;
		}
	}
	for (size_t i = 0; i < c->n_listeners; i++)
		g->ls[i] = handoff_listener(h, i);
	xdppath_auto_maps(x, &g->xdp);
	if (g->xdp.counters_fd >= 0) {
		g->xdp_slot = calloc(c->n_listeners ? c->n_listeners : 1, sizeof(*g->xdp_slot));
		if (!g->xdp_slot) {
			snprintf(err, errlen, "out of memory");
			gen_free(g);
			return NULL;
		}
		for (size_t i = 0; i < c->n_listeners; i++)
			g->xdp_slot[i] = xdppath_auto_slot(x, c, i);
	}
	return g;
}

/* ---- validation ---- */

/* The daemon section applies at start only, but for devices: names the first key that differs. */
static const char *daemon_changed(const struct conf_daemon *a, const struct conf_daemon *b)
{
	struct conf_daemon x;

	if (a->queue_first != b->queue_first || a->queue_last != b->queue_last)
		return "queue";
	if (a->firewall != b->firewall)
		return "firewall";
	if (a->fail_open != b->fail_open)
		return "fail_open";
	if (a->queue_full != b->queue_full)
		return "queue_full";
	if (strcmp(a->control_socket, b->control_socket) != 0)
		return "control_socket";
	if (a->cookie_rotation != b->cookie_rotation)
		return "cookie_rotation";
	if (strcmp(a->user, b->user) != 0)
		return "user";
	if (a->metrics_len != b->metrics_len || memcmp(&a->metrics, &b->metrics, a->metrics_len))
		return "metrics_listen";
	if (strcmp(a->cookie_secret_file, b->cookie_secret_file) != 0)
		return "cookie_secret_file";
	if (a->n_queue_cpus != b->n_queue_cpus ||
	    memcmp(a->queue_cpus, b->queue_cpus, sizeof(a->queue_cpus)) != 0)
		return "queue_cpus";
	if (a->queue_priority != b->queue_priority)
		return "queue_priority";
	if (a->queue_nice != b->queue_nice)
		return "queue_nice";
	if (a->synack_layer2 != b->synack_layer2)
		return "synack_layer2";
	if (a->datapath != b->datapath)
		return "datapath";
	/* a key this list does not know yet (both structs come zeroed from conf_parse);
	 * devices may change: the XDP program's links follow them (xdppath_update) */
	x = *b;
	memcpy(x.devices, a->devices, sizeof(x.devices));
	x.n_devices = a->n_devices;
	if (memcmp(a, &x, sizeof(*a)) != 0)
		return "*";
	return NULL;
}

static void listener_names_diff(FILE *out, const struct conf *a, const struct conf *b,
                                const char *what)
{
	bool any = false;

	for (size_t i = 0; i < a->n_listeners; i++) {
		bool found = false;

		for (size_t j = 0; j < b->n_listeners && !found; j++)
			found = strcmp(a->listeners[i].name, b->listeners[j].name) == 0;
		if (!found) {
			fprintf(out, "%s %s", any ? "," : what, a->listeners[i].name);
			any = true;
		}
	}
	if (any)
		fputs(";", out);
}

/* ---- the reload ---- */

struct reload_waiter {
	const char *origin;
	uint64_t ticket; /* 0: log only */
};

struct reload_waiters {
	struct reload_waiter *v;
	size_t n, cap;
};

enum reload_state {
	RELOAD_IDLE,
	RELOAD_HANDOVER, /* queue threads move to gen */
	RELOAD_FIREWALL, /* the rules follow */
};

struct reload {
	struct reload_env env;
	struct queue_thread *const *queues;
	const uint16_t *queue_nums;
	size_t n_queues;
	struct queue_gen *gen;
	struct queue_gen *old_gen; /* until every queue thread has left it */
	enum reload_state state;
	bool stuck; /* a thread did not move within RELOAD_HANDOVER_MS */
	char *text; /* the answer so far */
	struct reload_waiters cur, next;
	struct toolseq *fw; /* the firewall step under way */
	ev_async moved;
	ev_timer handover;
};

static int waiters_add(struct reload_waiters *w, const char *origin, uint64_t ticket)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].ticket == ticket && w->v[i].origin == origin)
			return 0; /* signals coalesce */
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 4;
		struct reload_waiter *v = realloc(w->v, cap * sizeof(*v));

		if (!v)
			return -1;
		w->v = v;
		w->cap = cap;
	}
	w->v[w->n].origin = origin;
	w->v[w->n].ticket = ticket;
	w->n++;
	return 0;
}

/* One log line per answer, as the requester sees it. */
static void log_answer(const char *origin, const char *text, bool ok)
{
	char *line = strdup(text);
	size_t len;

	if (!line) {
		log_warnx("%s: %s", origin, ok ? "reloaded" : "reload failed");
		return;
	}
	len = strlen(line);
	if (len && line[len - 1] == '\n')
		line[--len] = '\0';
	for (char *p = line; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (ok)
		log_info("%s: %s", origin, line);
	else
		log_warnx("%s: %s", origin, line);
	free(line);
}

static const char refused_stuck[] =
    "error: a reload is still finishing (a queue thread has not switched yet); configuration "
    "kept\n";

/* Answers (and logs for) every requester of w; the list is emptied. */
static void answer_list(struct reload *r, struct reload_waiters *w, const char *text, bool ok)
{
	for (size_t i = 0; i < w->n; i++) {
		log_answer(w->v[i].origin, text, ok);
		if (w->v[i].ticket)
			r->env.reply(r->env.reply_arg, w->v[i].ticket, text);
	}
	w->n = 0;
}

static void answer_all(struct reload *r, const char *text, bool ok)
{
	answer_list(r, &r->cur, text, ok);
}

static bool all_moved(const struct reload *r)
{
	for (size_t i = 0; i < r->n_queues; i++)
		if (queue_gen_seq(r->queues[i]) != r->gen->seq)
			return false;
	return true;
}

/*
 * Reads, validates and publishes the file. 0: under way, the answer so far
 * in r->text; -1: refused, the whole answer in *refusal (to free).
 */
static int reload_begin(struct reload *r, char **refusal)
{
	const char *path = r->env.conf_path;
	const struct conf *now = r->gen->conf;
	struct queue_gen *g;
	struct conf *c;
	const char *key;
	char err[1024];
	size_t len = 0;
	FILE *out;

	*refusal = NULL;
	c = reload_conf_load(path, err, sizeof(err));
	if (!c) {
		(void)!asprintf(refusal, "error: %s; configuration kept\n", err);
		return -1;
	}
	if ((key = daemon_changed(&now->daemon, &c->daemon))) {
		(void)!asprintf(refusal,
		                "error: %s: daemon%s%s changed: the daemon section applies at "
		                "start only (restart synguardd to change it); configuration kept\n",
		                path, strcmp(key, "*") ? "." : "", strcmp(key, "*") ? key : "");
		conf_free(c);
		return -1;
	}
	/* the access sets first: the gen is only built once the handoff switched, which must
	 * not happen for a configuration that fails after it */
	for (size_t i = 0; i < c->n_policies; i++) {
		const struct conf_policy *p = &c->policies[i];
		struct cidr_set *s =
		    policy_access_new(p->allow, p->n_allow, p->deny, p->n_deny, err, sizeof(err));

		if (!s && err[0]) {
			(void)!asprintf(refusal, "error: %s: policy %s: %s; configuration kept\n",
			                path, p->name, err);
			conf_free(c);
			return -1;
		}
		cidr_set_free(s);
	}
	if (fastpath_check_update(r->env.fastpath, c, err, sizeof(err)) < 0 ||
	    xdppath_check_update(r->env.xdppath, c, err, sizeof(err)) < 0) {
		(void)!asprintf(refusal, "error: %s: %s; configuration kept\n", path, err);
		conf_free(c);
		return -1;
	}
	if (handoff_reconfigure(r->env.handoff, c, err, sizeof(err)) < 0) {
		(void)!asprintf(refusal, "error: %s: %s; configuration kept\n", path, err);
		conf_free(c);
		return -1;
	}
	/* XDP's listener flags before the generation, which takes the slots they give new
	 * listeners: the queue threads still on the previous one answer what XDP passes them
	 * as before, and a policy that gained a list or a limit has it applied in XDP */
	xdppath_update(r->env.xdppath, c);
	g = gen_new(r->env.handoff, r->env.xdppath, c, r->gen->seq + 1, err, sizeof(err));
	if (!g)
		fatalx("reload: %s after the handoff switched", err); /* out of memory */

	free(r->text);
	r->text = NULL;
	out = open_memstream(&r->text, &len);
	if (!out)
		fatalx("reload: out of memory after the handoff switched");
	fprintf(out, "reloaded %s: %zu listener(s);", path, c->n_listeners);
	listener_names_diff(out, c, now, " added");
	listener_names_diff(out, now, c, " removed");
	if (fclose(out) != 0 || !r->text)
		fatalx("reload: out of memory after the handoff switched");

	r->old_gen = r->gen;
	r->gen = g;
	r->state = RELOAD_HANDOVER;
	__atomic_store_n(&r->env.shared->gen, g, __ATOMIC_RELEASE);
	/* the handshake ACKs of local listeners follow at once: SYNs answered under the old
	 * generation carry the same keys' cookies */
	fastpath_update(r->env.fastpath, c);
	ev_timer_set(&r->handover, r->env.handover_ms / 1000., 0.);
	ev_timer_start(r->env.loop, &r->handover);
	for (size_t i = 0; i < r->n_queues; i++)
		queue_wake(r->queues[i]);
	return 0;
}

/* Starts the next queued reload, if any; its refusal is its answer. */
static void reload_next(struct reload *r)
{
	char *refusal;

	while (r->state == RELOAD_IDLE && r->next.n) {
		struct reload_waiters w = r->cur;

		r->cur = r->next;
		r->next = w;
		r->next.n = 0;
		if (reload_begin(r, &refusal) < 0) {
			answer_all(r,
			           refusal ? refusal : "error: out of memory; configuration kept\n",
			           false);
			free(refusal);
		}
	}
}

static void reload_over(struct reload *r, const char *text, bool ok)
{
	if (r->cur.n)
		answer_all(r, text, ok);
	else if (ok)
		log_info("reload: complete"); /* the requesters heard at the hand-over timeout */
	else
		log_answer("reload", text, false);
	free(r->text);
	r->text = NULL;
	r->state = RELOAD_IDLE;
	r->stuck = false;
	reload_next(r);
}

static void on_firewall_done(void *arg, int rc, const char *err)
{
	struct reload *r = arg;
	char *text = NULL;

	toolseq_free(r->fw);
	r->fw = NULL;
	if (rc < 0) {
		(void)!asprintf(&text,
		                "%s\nerror: the configuration is applied but the firewall update "
		                "failed: %s\n",
		                r->cur.n ? r->text : "", err);
		/* requesters answered at the hand-over timeout: only the failure is logged */
		reload_over(r,
		            text ? (r->cur.n ? text : text + 1) : "error: firewall update failed\n",
		            false);
	} else {
		(void)!asprintf(&text, "%s\n", r->text);
		reload_over(r, text ? text : "reloaded\n", true);
	}
	free(text);
}

/* Every queue thread uses r->gen: the readers follow, the old generation goes, then the
 * firewall. */
static void handover_done(struct reload *r)
{
	const struct queue_gen *old = r->old_gen;
	char err[512];

	ev_timer_stop(r->env.loop, &r->handover);
	r->stuck = false;
	for (size_t i = 0; i < r->n_queues; i++)
		r->env.blocks[i] = queue_stats(r->queues[i]);
	r->env.blocks[r->n_queues] = handoff_stats(r->env.handoff);
	*r->env.view = *r->gen->conf;
	for (size_t i = 0; i < r->n_queues; i++)
		queue_stats_free_prev(r->queues[i]);
	/* connections admitted under the old generation's listener states go out first */
	handoff_drain(r->env.handoff);
	handoff_commit(r->env.handoff);
	r->state = RELOAD_FIREWALL;
	if (r->env.firewall)
		r->fw = fw_update_seq(old->conf, r->gen->conf, err, sizeof(err));
	gen_free(r->old_gen);
	r->old_gen = NULL;
	if (!r->env.firewall) {
		on_firewall_done(r, 0, "");
		return;
	}
	if (!r->fw) {
		on_firewall_done(r, -1, err);
		return;
	}
	toolseq_start(r->fw, r->env.loop, on_firewall_done, r);
}

static void on_moved(struct ev_loop *loop, ev_async *w, int revents)
{
	struct reload *r = w->data;

	(void)loop;
	(void)revents;
	if (r->state == RELOAD_HANDOVER && all_moved(r))
		handover_done(r);
}

static void on_handover_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct reload *r = w->data;
	char late[256] = "", *text = NULL;
	size_t at = 0;

	(void)loop;
	(void)revents;
	if (r->state != RELOAD_HANDOVER || all_moved(r))
		return;
	for (size_t i = 0; i < r->n_queues && at < sizeof(late) - 8; i++)
		if (queue_gen_seq(r->queues[i]) != r->gen->seq)
			at += (size_t)snprintf(late + at, sizeof(late) - at, "%s%u", at ? "," : "",
			                       r->queue_nums[i]);
	log_warnx("reload: queue(s) %s still on the previous configuration after %d ms: it "
	          "stays in memory until they move, and the rest of the reload follows then",
	          late, (int)r->env.handover_ms);
	r->stuck = true;
	(void)!asprintf(&text,
	                "%s some queue threads have not switched yet: the firewall follows when "
	                "they do\n",
	                r->text);
	answer_all(r, text ? text : "reloaded; the firewall follows\n", true);
	free(text);
	/* queued ones would wait as long as the thread */
	answer_list(r, &r->next, refused_stuck, false);
}

/* Called by queue threads. */
static void moved_on_cb(void *arg)
{
	struct reload *r = arg;

	ev_async_send(r->env.loop, &r->moved);
}

struct reload *reload_new(const struct reload_env *env, struct conf *c, char *err, size_t errlen)
{
	struct reload *r = calloc(1, sizeof(*r));

	if (!r) {
		snprintf(err, errlen, "out of memory");
		conf_free(c);
		return NULL;
	}
	r->env = *env;
	if (r->env.handover_ms <= 0)
		r->env.handover_ms = RELOAD_HANDOVER_MS;
	r->gen = gen_new(env->handoff, env->xdppath, c, 1, err, errlen);
	if (!r->gen) {
		free(r);
		return NULL;
	}
	ev_async_init(&r->moved, on_moved);
	r->moved.data = r;
	ev_async_start(env->loop, &r->moved);
	ev_timer_init(&r->handover, on_handover_timeout, 0., 0.);
	r->handover.data = r;
	env->shared->gen = r->gen;
	env->shared->moved_on = moved_on_cb;
	env->shared->moved_arg = r;
	return r;
}

void reload_set_queues(struct reload *r, struct queue_thread *const *queues, const uint16_t *nums,
                       size_t n)
{
	r->queues = queues;
	r->queue_nums = nums;
	r->n_queues = n;
}

bool reload_request(struct reload *r, const char *origin, uint64_t ticket, FILE *out)
{
	const char *answer = NULL;
	char *refusal = NULL;

	if (r->stuck)
		answer = refused_stuck;
	else if (r->state != RELOAD_IDLE) {
		if (waiters_add(&r->next, origin, ticket) == 0) {
			log_info("%s: queued behind the reload under way", origin);
			return true;
		}
		answer = "error: out of memory; configuration kept\n";
	} else if (waiters_add(&r->cur, origin, ticket) < 0)
		answer = "error: out of memory; configuration kept\n";
	else if (reload_begin(r, &refusal) == 0)
		return true;
	else {
		r->cur.n = 0;
		answer = refusal ? refusal : "error: out of memory; configuration kept\n";
	}
	log_answer(origin, answer, false);
	if (out)
		fputs(answer, out);
	free(refusal);
	return false;
}

const struct conf *reload_conf(const struct reload *r)
{
	return r->gen->conf;
}

bool reload_handing_over(const struct reload *r)
{
	return r->state == RELOAD_HANDOVER;
}

void reload_shutdown(struct reload *r)
{
	if (!r)
		return;
	toolseq_free(r->fw);
	r->fw = NULL;
	ev_timer_stop(r->env.loop, &r->handover);
	ev_async_stop(r->env.loop, &r->moved);
}

void reload_free(struct reload *r)
{
	if (!r)
		return;
	reload_shutdown(r);
	gen_free(r->old_gen);
	gen_free(r->gen);
	free(r->cur.v);
	free(r->next.v);
	free(r->text);
	free(r);
}
