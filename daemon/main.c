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
 * Reload (SIGHUP, or "reload" on the control socket): reload.h. It never
 * blocks this loop, which carries every relayed byte.
 *
 * Privileges: what needs root is done first (reading the cookie secret file,
 * opening the kernel's NFQUEUE table, creating the control socket's
 * directory); then, before any thread exists, a daemon started as root
 * becomes daemon.user with only CAP_NET_ADMIN, CAP_NET_RAW and, for ports
 * below 1024, CAP_NET_BIND_SERVICE (privdrop.h). Everything after that,
 * including iptables at start and at exit, runs as it does under systemd.
 */
#include <getopt.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <sodium.h>
#include <systemd/sd-daemon.h>

#include "conf.h"
#include "control.h"
#include "fastpath.h"
#include "firewall.h"
#include "handoff.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "privdrop.h"
#include "queue.h"
#include "reload.h"
#include "secret.h"
#include "xdppath.h"

#define CONF_DEFAULT "/etc/synguard/synguard.conf"

struct daemon {
	const char *conf_path;
	struct conf *conf; /* the configuration at start; then the reload's */
	/* What the control socket, metrics and notifications read: a copy of *conf made on
	 * this thread whenever a reload completes, so their pointer never changes. */
	struct conf view;
	struct queue_shared shared;
	struct reload *reload;
	struct ev_loop *loop;
	struct handoff *handoff;
	struct queue_thread **queues;
	size_t n_queues;
	uint16_t *queue_nums;
	const struct stats_block **blocks;
	struct control *control;
	struct metrics *metrics;
	struct notify *notify;
	struct fastpath *fastpath;                /* handoff "local": the kernel fast path */
	struct xdppath *xdppath;                  /* datapath "xdp" */
	uint8_t cookie_master[COOKIE_MASTER_LEN]; /* handed to the queues, then wiped */
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

/* The cookie master: derived from the shared secret file, or random and never stored. */
static int load_cookie_master(const struct conf *c, uint8_t master[COOKIE_MASTER_LEN], char *err,
                              size_t errlen)
{
	struct secret_owners ok = {.self = geteuid()};
	const struct passwd *pw;

	if (!c->daemon.cookie_secret_file[0]) {
		randombytes_buf(master, COOKIE_MASTER_LEN);
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

static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	(void)reload_request(the_daemon->reload, "SIGHUP", 0, NULL);
}

/* The control socket's "reload": answered when it is over. */
static bool ctl_reload(void *arg, FILE *out, uint64_t ticket)
{
	struct daemon *d = arg;

	return reload_request(d->reload, "control reload", ticket, out);
}

static void reload_reply(void *arg, uint64_t ticket, const char *text)
{
	struct daemon *d = arg;

	control_reply(d->control, ticket, text);
}

static void ctl_listener_info(void *arg, size_t i, struct control_listener_info *out)
{
	struct daemon *d = arg;
	struct handoff_listener_counts lc;
	struct handoff_listener *ls = handoff_listener(d->handoff, i);

	memset(out, 0, sizeof(*out));
	/* while a slow reload finishes, the view's indexes are not the handoff's yet */
	if (!ls || reload_handing_over(d->reload))
		return;
	handoff_listener_counts(ls, &lc);
	out->accept_queue = lc.accept_queue;
	out->connections = lc.connections;
	out->sources = lc.sources;
}

static const struct stats_block *src_tc_stats(void *arg)
{
	struct daemon *d = arg;

	/* while a slow reload finishes, the view's slots may not be the maps' yet: harmless,
	 * the block follows the view's listeners by name */
	return fastpath_stats(d->fastpath, &d->view);
}

static const struct control_kcounters *src_xdp_stats(void *arg)
{
	struct daemon *d = arg;

	return xdppath_stats(d->xdppath, &d->view);
}

static uint32_t src_accept_queue(void *arg, size_t i)
{
	struct control_listener_info in;

	ctl_listener_info(arg, i, &in);
	return in.accept_queue;
}

/* Handshakes completed in the kernel: every queue thread may hold the entry (queue.h). */
static size_t tc_deliver(void *arg, const struct fastpath_done *done)
{
	struct daemon *d = arg;
	size_t refused = 0;

	for (size_t i = 0; i < d->n_queues; i++)
		refused += !queue_tc_done(d->queues[i], done);
	return refused;
}

static void tc_flush(void *arg)
{
	struct daemon *d = arg;

	for (size_t i = 0; i < d->n_queues; i++)
		queue_tc_flush(d->queues[i]);
}

/* The reload module owns the configuration from here: it is generation 1. */
static void start_queues(struct daemon *d, struct reload_env *env)
{
	const struct conf_daemon *dc = &d->conf->daemon;
	char err[256];

	d->n_queues = (size_t)dc->queue_last - dc->queue_first + 1;
	d->shared.handoff = d->handoff;
	d->shared.n_queues = d->n_queues;
	memcpy(d->shared.cookie_master, d->cookie_master, sizeof(d->shared.cookie_master));
	sodium_memzero(d->cookie_master, sizeof(d->cookie_master));

	d->queues = calloc(d->n_queues, sizeof(*d->queues));
	d->queue_nums = calloc(d->n_queues, sizeof(*d->queue_nums));
	d->blocks = calloc(d->n_queues + 1, sizeof(*d->blocks));
	if (!d->queues || !d->queue_nums || !d->blocks)
		fatalx("out of memory");
	env->blocks = d->blocks;
	d->reload = reload_new(env, d->conf, err, sizeof(err));
	if (!d->reload)
		fatalx("%s", err);
	for (size_t i = 0; i < d->n_queues; i++) {
		uint16_t num = (uint16_t)(dc->queue_first + i);

		d->queues[i] = queue_start(num, &d->shared, err, sizeof(err));
		if (!d->queues[i])
			fatalx("queue %u: %s", num, err);
		d->queue_nums[i] = num;
		d->blocks[i] = queue_stats(d->queues[i]);
	}
	d->blocks[d->n_queues] = handoff_stats(d->handoff);
	reload_set_queues(d->reload, d->queues, d->queue_nums, d->n_queues);
	if (d->fastpath) {
		struct fastpath_sink sink = {.deliver = tc_deliver, .flush = tc_flush, .arg = d};

		fastpath_set_sink(d->fastpath, &sink);
	}
}

static void stop_queues(struct daemon *d)
{
	fastpath_set_sink(d->fastpath, NULL);
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
	struct reload_env env;
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
	/* loading and attaching need CAP_BPF: before the drop; map updates need no capability */
	if (fastpath_wanted(d->conf)) {
		d->fastpath = fastpath_new(d->loop, d->conf, d->cookie_master, err, sizeof(err));
		if (!d->fastpath)
			fatalx("fast path (handoff \"local\"): %s", err);
		log_info("fast path: TC ingress program attached to %s",
		         fastpath_devices(d->fastpath));
	}
	if (xdppath_wanted(d->conf)) {
		d->xdppath = xdppath_new(d->loop, d->conf, d->cookie_master, err, sizeof(err));
		if (!d->xdppath)
			fatalx("xdp (datapath \"xdp\"): %s", err);
		log_info("xdp: XDP program attached to %s", xdppath_devices(d->xdppath));
	}
	/* before any thread: threads inherit the capabilities of their creator */
	if (privdrop_run(d->conf, err, sizeof(err)) < 0)
		fatalx("privileges: %s", err);

	d->handoff = handoff_new(d->loop, d->conf, err, sizeof(err));
	if (!d->handoff)
		fatalx("handoff: %s", err);
	memset(&env, 0, sizeof(env));
	env.loop = d->loop;
	env.conf_path = d->conf_path;
	env.handoff = d->handoff;
	env.shared = &d->shared;
	env.fastpath = d->fastpath;
	env.xdppath = d->xdppath;
	env.view = &d->view;
	env.firewall = d->conf->daemon.firewall == CONF_FW_IPTABLES;
	env.reply = reload_reply;
	env.reply_arg = d;
	start_queues(d, &env);

	d->view = *d->conf;
	memset(&src, 0, sizeof(src));
	src.conf = &d->view;
	src.blocks = d->blocks;
	src.queue_nums = d->queue_nums;
	src.n_queues = d->n_queues;
	src.accept_queue = src_accept_queue;
	src.tc_stats = d->fastpath ? src_tc_stats : NULL;
	src.xdp_stats = d->xdppath ? src_xdp_stats : NULL;
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
	/* a reload's iptables-restore must not outlive the rules' removal */
	reload_shutdown(d->reload);
	remove_rules();
	stop_queues(d);
	/* after the rules: no SYN is answered any more whose ACK would need it */
	fastpath_free(d->fastpath);
	d->fastpath = NULL;
	xdppath_free(d->xdppath);
	d->xdppath = NULL;
	notify_free(d->notify);
	metrics_free(d->metrics);
	control_free(d->control);
	handoff_free(d->handoff);
	/* after the handoff, which points into the configuration (the generation's) */
	reload_free(d->reload);
	d->reload = NULL;
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

	d.conf = reload_conf_load(conf_path, err, sizeof(err));
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
		if (fastpath_report(stdout, d.conf) < 0) {
			fprintf(stderr,
			        "synguardd: %s: handoff \"local\" cannot work here, or not for "
			        "every client (see above)\n",
			        conf_path);
			conf_free(d.conf);
			return 1;
		}
		if (xdppath_report(stdout, d.conf) < 0) {
			fprintf(stderr,
			        "synguardd: %s: datapath \"xdp\" cannot work here (see above)\n",
			        conf_path);
			conf_free(d.conf);
			return 1;
		}
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
