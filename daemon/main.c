/*
 * synguardd: start-up, signals and shutdown. The packet path lives in the
 * queue threads (queue.c), connections are handed to backends on this
 * thread's loop (handoff.c), operators talk to the control socket
 * (control.c).
 *
 * Start-up order matters: queues are bound before the firewall sends them
 * packets, and rules are removed before the queues go away, so that no SYN
 * ever waits in a queue nobody reads.
 *
 * Reload (SIGHUP, or "reload" on the control socket): the new file is read
 * and validated completely, and refused (the running configuration stays,
 * the answer says why) when it does not parse, when the daemon section
 * changed (queues, sockets, user, keys: those apply at start only) or when
 * a new pass-fd socket cannot be opened. Otherwise:
 *   1. the handoff switches at once (handoff_reconfigure);
 *   2. a new queue generation is published and every queue thread is woken;
 *      each moves over at the top of its next batch and says so;
 *   3. once all have moved (waited for here, bounded; else finished when the
 *      last one reports), the control socket's view, the counters blocks and
 *      the firewall rules follow, and the old generation is freed.
 * Established and half-open connections are untouched throughout: relays
 * and pass-fd sockets carry over by listener name and path, half-open
 * tables by listener name, and the firewall chains are refilled atomically.
 *
 * Privileges: what needs root is done first (reading the cookie secret file,
 * opening the kernel's NFQUEUE table, creating the control socket's
 * directory); then, before any thread exists, a daemon started as root
 * becomes daemon.user with only CAP_NET_ADMIN, CAP_NET_RAW and, for ports
 * below 1024, CAP_NET_BIND_SERVICE (privdrop.h). Everything after that,
 * including iptables at start and at exit, runs as it does under systemd.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <sodium.h>
#include <systemd/sd-daemon.h>

#include "cidr.h"
#include "conf.h"
#include "control.h"
#include "firewall.h"
#include "handoff.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "policy.h"
#include "privdrop.h"
#include "queue.h"
#include "secret.h"

#define CONF_DEFAULT  "/etc/synguard/synguard.conf"
#define CONF_SIZE_MAX (1 << 20)
/* How long a reload waits for the queue threads before finishing in the background. */
#define RELOAD_WAIT_MS 5000

struct daemon {
	const char *conf_path;
	struct conf *conf; /* the configuration in use (d->gen's) */
	/* What the control socket, metrics and notifications read: a copy of *conf made on
	 * this thread whenever a reload completes, so their pointer never changes. */
	struct conf view;
	struct queue_shared shared;
	struct queue_gen *gen;
	struct queue_gen *old_gen; /* until every queue thread has left it */
	bool reloading;
	ev_async moved_on;
	struct ev_loop *loop;
	struct handoff *handoff;
	struct queue_thread **queues;
	size_t n_queues;
	uint16_t *queue_nums;
	const struct stats_block **blocks;
	struct control *control;
	struct metrics *metrics;
	struct notify *notify;
	uint8_t cookie_master[SGD_MASTER_KEY_LEN]; /* handed to the queues, then wiped */
	int fw_installed;
	ev_signal sig_term, sig_int, sig_hup;
};

/* Reached from atexit() too: fatal() after the rules went in must not leave them behind. */
static struct daemon *the_daemon;

static void usage(FILE *out)
{
	fprintf(out, "usage: synguardd [-htPv] [-c FILE]\n"
	             "  -c FILE  configuration file (default " CONF_DEFAULT ")\n"
	             "  -t       check the configuration and exit\n"
	             "  -P       print the firewall rules the daemon would install and exit\n"
	             "  -v       verbose: log debug messages too\n"
	             "  -h       this help\n");
}

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

static struct conf *load_conf(const char *path, char *err, size_t errlen)
{
	struct conf *c = NULL;
	char *text = read_text(path, err, errlen);

	if (!text)
		return NULL;
	if (conf_parse(text, path, &c, err, errlen) < 0)
		c = NULL;
	free(text);
	return c;
}

_Static_assert(SECRET_MASTER_LEN == SGD_MASTER_KEY_LEN, "one cookie master size");

/* The cookie master: derived from the shared secret file, or random and never stored. */
static int load_cookie_master(const struct conf *c, uint8_t master[SECRET_MASTER_LEN], char *err,
                              size_t errlen)
{
	struct secret_owners ok = {.self = geteuid()};
	const struct passwd *pw;

	if (!c->daemon.cookie_secret_file[0]) {
		randombytes_buf(master, SECRET_MASTER_LEN);
		return 0;
	}
	pw = getpwnam(c->daemon.user);
	if (pw) {
		ok.daemon_uid = pw->pw_uid;
		ok.have_daemon_uid = true;
	}
	return secret_load(c->daemon.cookie_secret_file, &ok, master, err, errlen);
}

static void remove_rules(void)
{
	if (the_daemon && the_daemon->fw_installed) {
		fw_remove();
		the_daemon->fw_installed = 0;
		log_info("firewall rules removed");
	}
}

static void on_stop_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_info("signal %d: shutting down", w->signum);
	ev_break(loop, EVBREAK_ALL);
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
	conf_free((struct conf *)g->conf);
	free(g);
}

/* The generation of conf c (which it then owns): its policies' access sets built, and the
 * handoff's listener states, so the handoff must use c already. */
static struct queue_gen *gen_new(struct daemon *d, struct conf *c, uint64_t seq, char *err,
                                 size_t errlen)
{
	struct queue_gen *g = calloc(1, sizeof(*g));

	if (!g) {
		snprintf(err, errlen, "out of memory");
		conf_free(c);
		return NULL;
	}
	g->seq = seq;
	g->conf = c;
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
	if (d->handoff)
		for (size_t i = 0; i < c->n_listeners; i++)
			g->ls[i] = handoff_listener(d->handoff, i);
	return g;
}

/* ---- reload ---- */

/* The daemon section applies at start only: names the first key that differs. */
static const char *daemon_changed(const struct conf_daemon *a, const struct conf_daemon *b)
{
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
	/* a key this list does not know yet (both structs come zeroed from conf_parse) */
	if (memcmp(a, b, sizeof(*a)) != 0)
		return "*";
	return NULL;
}

static bool all_moved(const struct daemon *d)
{
	for (size_t i = 0; i < d->n_queues; i++)
		if (queue_gen_seq(d->queues[i]) != d->gen->seq)
			return false;
	return true;
}

/*
 * Every queue thread uses d->gen now: the readers' view, the counters
 * blocks and the firewall follow, and the old generation goes. Returns -1
 * with err when the firewall could not be updated (the configuration is
 * applied all the same; the rules of the failing family stay as they were).
 */
static int reload_finish(struct daemon *d, char *err, size_t errlen)
{
	const struct conf *old = d->old_gen->conf;
	int rc = 0;

	for (size_t i = 0; i < d->n_queues; i++)
		d->blocks[i] = queue_stats(d->queues[i]);
	d->blocks[d->n_queues] = handoff_stats(d->handoff);
	d->view = *d->conf;
	for (size_t i = 0; i < d->n_queues; i++)
		queue_stats_free_prev(d->queues[i]);
	/* connections admitted under the old generation's listener states go out first */
	handoff_drain(d->handoff);
	handoff_commit(d->handoff);
	if (d->conf->daemon.firewall == CONF_FW_IPTABLES &&
	    fw_update(old, d->conf, err, errlen) < 0)
		rc = -1;
	gen_free(d->old_gen);
	d->old_gen = NULL;
	d->reloading = false;
	return rc;
}

static void on_moved_on(struct ev_loop *loop, ev_async *w, int revents)
{
	struct daemon *d = w->data;
	char err[512];

	(void)loop;
	(void)revents;
	if (!d->reloading || !all_moved(d))
		return;
	if (reload_finish(d, err, sizeof(err)) < 0)
		log_warnx("reload: firewall: %s", err);
	else
		log_info("reload: complete");
}

/* Called by queue threads. */
static void moved_on_cb(void *arg)
{
	struct daemon *d = arg;

	ev_async_send(d->loop, &d->moved_on);
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

/* Re-reads the configuration file and applies it; writes one line to out. */
static int reload(struct daemon *d, FILE *out)
{
	struct queue_gen *g;
	struct conf *c;
	const char *key;
	char err[1024];
	struct timespec t0, now;

	if (d->reloading) {
		fputs("error: a reload is still finishing (a queue thread has not switched yet); "
		      "configuration kept\n",
		      out);
		return -1;
	}
	c = load_conf(d->conf_path, err, sizeof(err));
	if (!c) {
		fprintf(out, "error: %s; configuration kept\n", err);
		return -1;
	}
	if ((key = daemon_changed(&d->conf->daemon, &c->daemon))) {
		fprintf(out,
		        "error: %s: daemon%s%s changed: the daemon section applies at start only "
		        "(restart synguardd to change it); configuration kept\n",
		        d->conf_path, strcmp(key, "*") ? "." : "", strcmp(key, "*") ? key : "");
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
			fprintf(out, "error: %s: policy %s: %s; configuration kept\n", d->conf_path,
			        p->name, err);
			conf_free(c);
			return -1;
		}
		cidr_set_free(s);
	}
	if (handoff_reconfigure(d->handoff, c, err, sizeof(err)) < 0) {
		fprintf(out, "error: %s: %s; configuration kept\n", d->conf_path, err);
		conf_free(c);
		return -1;
	}
	g = gen_new(d, c, d->gen->seq + 1, err, sizeof(err));
	if (!g)
		fatalx("reload: %s after the handoff switched", err); /* out of memory */

	fprintf(out, "reloaded %s: %zu listener(s);", d->conf_path, c->n_listeners);
	listener_names_diff(out, c, d->conf, " added");
	listener_names_diff(out, d->conf, c, " removed");
	d->old_gen = d->gen;
	d->gen = g;
	d->conf = c;
	d->reloading = true;
	__atomic_store_n(&d->shared.gen, g, __ATOMIC_RELEASE);
	for (size_t i = 0; i < d->n_queues; i++)
		queue_wake(d->queues[i]);

	/* Threads move over within one batch: wait for them, so the answer is the outcome. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct timespec pause = {0, 1000000};
		long ms;

		if (all_moved(d))
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= RELOAD_WAIT_MS) {
			fputs(
			    " some queue threads have not switched yet: the firewall follows when "
			    "they do\n",
			    out);
			log_warnx("reload: queue threads slow to switch; finishing when they do");
			return 0;
		}
		nanosleep(&pause, NULL);
	}
	if (reload_finish(d, err, sizeof(err)) < 0) {
		fprintf(out,
		        "\nerror: the configuration is applied but the firewall update "
		        "failed: %s\n",
		        err);
		return -1;
	}
	fputs("\n", out);
	return 0;
}

static void reload_logged(struct daemon *d, const char *why)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	int rc;

	if (!out) {
		log_warn("reload");
		return;
	}
	rc = reload(d, out);
	fclose(out);
	if (len && text[len - 1] == '\n')
		text[len - 1] = '\0';
	for (char *p = text; p && *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (rc < 0)
		log_warnx("%s: %s", why, text ? text : "reload failed");
	else
		log_info("%s: %s", why, text ? text : "reloaded");
	free(text);
}

static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	reload_logged(the_daemon, "SIGHUP");
}

/* The control socket's "reload": logged, and answered. */
static void ctl_reload(void *arg, FILE *out)
{
	struct daemon *d = arg;
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	int rc;

	if (!mem) {
		fputs("error: out of memory\n", out);
		return;
	}
	rc = reload(d, mem);
	fclose(mem);
	if (text) {
		fputs(text, out);
		if (len && text[len - 1] == '\n')
			text[len - 1] = '\0';
		if (rc < 0)
			log_warnx("control reload: %s", text);
		else
			log_info("control reload: %s", text);
	}
	free(text);
}

static void ctl_listener_info(void *arg, size_t i, struct control_listener_info *out)
{
	struct daemon *d = arg;
	struct handoff_listener_counts lc;
	struct handoff_listener *ls = handoff_listener(d->handoff, i);

	memset(out, 0, sizeof(*out));
	/* while a slow reload finishes, the view's indexes are not the handoff's yet */
	if (!ls || d->reloading)
		return;
	handoff_listener_counts(ls, &lc);
	out->accept_queue = lc.accept_queue;
	out->connections = lc.connections;
	out->cookie_threads = lc.cookie_threads;
	out->sources = lc.sources;
}

static uint32_t src_accept_queue(void *arg, size_t i)
{
	struct control_listener_info in;

	ctl_listener_info(arg, i, &in);
	return in.accept_queue;
}

static void start_queues(struct daemon *d)
{
	const struct conf_daemon *dc = &d->conf->daemon;
	char err[256];

	d->n_queues = (size_t)dc->queue_last - dc->queue_first + 1;
	d->gen = gen_new(d, d->conf, 1, err, sizeof(err));
	if (!d->gen)
		fatalx("%s", err);
	d->shared.handoff = d->handoff;
	d->shared.n_queues = d->n_queues;
	d->shared.gen = d->gen;
	d->shared.moved_on = moved_on_cb;
	d->shared.moved_arg = d;
	memcpy(d->shared.cookie_master, d->cookie_master, sizeof(d->shared.cookie_master));
	sodium_memzero(d->cookie_master, sizeof(d->cookie_master));

	d->queues = calloc(d->n_queues, sizeof(*d->queues));
	d->queue_nums = calloc(d->n_queues, sizeof(*d->queue_nums));
	d->blocks = calloc(d->n_queues + 1, sizeof(*d->blocks));
	if (!d->queues || !d->queue_nums || !d->blocks)
		fatalx("out of memory");
	for (size_t i = 0; i < d->n_queues; i++) {
		uint16_t num = (uint16_t)(dc->queue_first + i);

		d->queues[i] = queue_start(num, &d->shared, err, sizeof(err));
		if (!d->queues[i])
			fatalx("queue %u: %s", num, err);
		d->queue_nums[i] = num;
		d->blocks[i] = queue_stats(d->queues[i]);
	}
	d->blocks[d->n_queues] = handoff_stats(d->handoff);
}

static void stop_queues(struct daemon *d)
{
	for (size_t i = 0; i < d->n_queues; i++)
		if (d->queues[i])
			queue_stop(d->queues[i]);
	free(d->queues);
	free(d->queue_nums);
	free(d->blocks);
	d->queues = NULL;
}

static void run(struct daemon *d)
{
	struct control_source src;
	struct control_hooks hooks;
	char err[512];
	int nfq_fd;

	d->loop = ev_default_loop(EVFLAG_AUTO);
	if (!d->loop)
		fatalx("cannot initialise the event loop");
	ev_signal_init(&d->sig_term, on_stop_signal, SIGTERM);
	ev_signal_init(&d->sig_int, on_stop_signal, SIGINT);
	ev_signal_init(&d->sig_hup, on_hup, SIGHUP);
	ev_signal_start(d->loop, &d->sig_term);
	ev_signal_start(d->loop, &d->sig_int);
	ev_signal_start(d->loop, &d->sig_hup);

	/* root-only, and read at every scrape: opened while it still can be */
	nfq_fd = d->conf->daemon.metrics_len ? metrics_nfq_open() : -1;
	/* before any thread: threads inherit the capabilities of their creator */
	if (privdrop_run(d->conf, err, sizeof(err)) < 0)
		fatalx("privileges: %s", err);

	d->handoff = handoff_new(d->loop, d->conf, err, sizeof(err));
	if (!d->handoff)
		fatalx("handoff: %s", err);
	ev_async_init(&d->moved_on, on_moved_on);
	d->moved_on.data = d;
	ev_async_start(d->loop, &d->moved_on);
	start_queues(d);

	d->view = *d->conf;
	memset(&src, 0, sizeof(src));
	src.conf = &d->view;
	src.blocks = d->blocks;
	src.queue_nums = d->queue_nums;
	src.n_queues = d->n_queues;
	src.accept_queue = src_accept_queue;
	src.arg = d;
	d->control = control_new(d->loop, d->conf->daemon.control_socket, &src, err, sizeof(err));
	if (!d->control)
		fatalx("control socket: %s", err);
	hooks.arg = d;
	hooks.reload = ctl_reload;
	hooks.listener_info = ctl_listener_info;
	control_set_hooks(d->control, &hooks);
	if (d->conf->daemon.metrics_len) {
		const struct sockaddr *ma = (const struct sockaddr *)&d->conf->daemon.metrics;
		char where[INET6_ADDRSTRLEN + 16];

		d->metrics = metrics_new(d->loop, ma, d->conf->daemon.metrics_len, &src, nfq_fd,
		                         err, sizeof(err));
		if (!d->metrics)
			fatalx("metrics: %s", err);
		metrics_addr_str(ma, where, sizeof(where));
		log_info("metrics: http://%s/metrics", where);
		if (!metrics_addr_is_loopback(ma))
			log_warnx("metrics: %s is not a loopback address: whoever reaches it can "
			          "read the counters",
			          where);
	}

	if (d->conf->daemon.firewall == CONF_FW_IPTABLES) {
		d->fw_installed = 1; /* a partial install is removed on exit too */
		if (fw_install(d->conf, err, sizeof(err)) < 0)
			fatalx("firewall: %s", err);
		log_info("firewall rules installed");
	}

	log_info("synguardd running: %zu listener(s), queues %u-%u, fail-%s, a full queue %ss",
	         d->conf->n_listeners, d->conf->daemon.queue_first, d->conf->daemon.queue_last,
	         d->conf->daemon.fail_open ? "open" : "closed",
	         d->conf->daemon.queue_full == CONF_QUEUE_FULL_ACCEPT ? "accept" : "drop");
	sd_notifyf(0, "READY=1\nSTATUS=protecting %zu listener(s)", d->conf->n_listeners);
	d->notify = notify_new(d->loop, &src);

	ev_run(d->loop, 0);

	sd_notify(0, "STOPPING=1");
	remove_rules();
	stop_queues(d);
	notify_free(d->notify);
	metrics_free(d->metrics);
	control_free(d->control);
	handoff_free(d->handoff);
	ev_async_stop(d->loop, &d->moved_on);
	/* d->conf belongs to the generation */
	gen_free(d->old_gen);
	gen_free(d->gen);
	d->gen = d->old_gen = NULL;
	d->conf = NULL;
}

int main(int argc, char **argv)
{
	static struct daemon d;
	const char *conf_path = CONF_DEFAULT;
	int check_only = 0, print_rules = 0, verbosity = LOG_LVL_INFO, ch;
	char err[1024];

	while ((ch = getopt(argc, argv, "c:hPtv")) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'P':
			print_rules = 1;
			break;
		case 't':
			check_only = 1;
			break;
		case 'v':
			verbosity = LOG_LVL_DEBUG;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	d.conf = load_conf(conf_path, err, sizeof(err));
	if (!d.conf) {
		fprintf(stderr, "synguardd: %s\n", err);
		return 1;
	}
	if (check_only) {
		err[0] = '\0';
		if (sodium_init() < 0 ||
		    load_cookie_master(d.conf, d.cookie_master, err, sizeof(err)) < 0) {
			fprintf(stderr, "synguardd: %s: %s\n", conf_path,
			        err[0] ? err : "libsodium failed to initialise");
			conf_free(d.conf);
			return 1;
		}
		sodium_memzero(d.cookie_master, sizeof(d.cookie_master));
		printf("synguardd: %s: configuration OK\n", conf_path);
		conf_free(d.conf);
		return 0;
	}
	if (print_rules) {
		fw_print(stdout, d.conf);
		conf_free(d.conf);
		return 0;
	}

	log_init(verbosity, notify_fd_is_journal(STDERR_FILENO, getenv("JOURNAL_STREAM")));
	if (sodium_init() < 0)
		fatalx("libsodium failed to initialise");
	if (load_cookie_master(d.conf, d.cookie_master, err, sizeof(err)) < 0)
		fatalx("%s", err);
	if (d.conf->daemon.cookie_secret_file[0])
		log_info("cookie keys derive from %s", d.conf->daemon.cookie_secret_file);
	signal(SIGPIPE, SIG_IGN);
	the_daemon = &d;
	atexit(remove_rules);

	d.conf_path = conf_path;
	run(&d);

	log_info("synguardd stopped");
	return 0;
}
