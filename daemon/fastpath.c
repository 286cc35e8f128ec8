/*
 * The kernel fast path of handoff "local": see fastpath.h.
 */
#include "fastpath.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

bool fastpath_wanted(const struct conf *c)
{
	for (size_t i = 0; c && i < c->n_listeners; i++)
		if (c->listeners[i].handoff == CONF_HANDOFF_LOCAL)
			return true;
	return false;
}

#ifndef SYNGUARD_HAVE_BPF

int fastpath_conf_check(const struct conf *c, char *err, size_t errlen)
{
	for (size_t i = 0; c && i < c->n_listeners; i++)
		if (c->listeners[i].handoff == CONF_HANDOFF_LOCAL) {
			snprintf(err, errlen,
			         "listener %s: handoff \"local\" needs the kernel fast path, which "
			         "this synguardd was built without (%s): use handoff \"proxy\" or "
			         "\"pass-fd\", or build with SYNGUARD_BPF=ON",
			         c->listeners[i].name, SYNGUARD_BPF_WHY_NOT);
			return -1;
		}
	return 0;
}

int fastpath_report(FILE *out, const struct conf *c)
{
	if (!fastpath_wanted(c))
		return 0;
	fprintf(out, "fast path: not built (%s)\n", SYNGUARD_BPF_WHY_NOT);
	return -1;
}

struct fastpath *fastpath_new(struct ev_loop *loop, const struct conf *c,
                              const uint8_t master[COOKIE_MASTER_LEN], char *err, size_t errlen)
{
	(void)loop;
	(void)c;
	(void)master;
	snprintf(err, errlen, "the kernel fast path is not built (%s)", SYNGUARD_BPF_WHY_NOT);
	return NULL;
}

void fastpath_free(struct fastpath *f)
{
	(void)f;
}

void fastpath_set_sink(struct fastpath *f, const struct fastpath_sink *sink)
{
	(void)f;
	(void)sink;
}

int fastpath_check_update(const struct fastpath *f, const struct conf *c, char *err, size_t errlen)
{
	(void)f;
	return fastpath_conf_check(c, err, errlen);
}

void fastpath_update(struct fastpath *f, const struct conf *c)
{
	(void)f;
	(void)c;
}

const struct stats_block *fastpath_stats(struct fastpath *f, const struct conf *view)
{
	(void)f;
	(void)view;
	return NULL;
}

const char *fastpath_devices(const struct fastpath *f)
{
	(void)f;
	return "";
}

#else /* SYNGUARD_HAVE_BPF */

#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sodium.h>

#include "bpfkeys.h"
#include "firewall.h"
#include "fpdev.h"
#include "fpsysctl.h"
#include "local_ack.h"
#include "local_ack.skel.h"
#include "log.h"
#include "sockutil.h"

/*
 * The program moves to epoch e + 1 (its keys, then its current epoch) this
 * long before the boundary, so that an ACK answering a SYN-ACK the queue
 * threads made just after the boundary never meets the program still in
 * epoch e. The queue threads read the clock themselves; this loop may run
 * late (a busy machine, a flood keeping the CPUs on the queue threads), and
 * the program is in step only while the lateness stays under the lead: half
 * a rotation, at most FASTPATH_KEY_LEAD_MAX. A cookie of e - 1 then expires
 * that much earlier (the program at e + 1 no longer holds its key): it still
 * lives at least half a rotation.
 */
#define FASTPATH_KEY_LEAD_MAX 2.0
/*
 * The tick is due at boundary - lead: should it run a hair early (timer or
 * floating-point rounding), the epoch must change all the same, or it would
 * stay behind for a whole rotation.
 */
#define FASTPATH_KEY_SLACK    0.01
/*
 * After a failed key publish, the next attempt this much later, until one
 * succeeds: waiting for the next tick would leave the program a whole
 * rotation behind the queue threads, refusing every cookie they make.
 */
#define FASTPATH_KEY_RETRY    0.25

/* Ring-buffer reads per readiness: a steady stream of reports does not starve the loop. */
#define FASTPATH_DONE_ROUNDS  8

struct fastpath_slot {
	char name[CONF_NAME_MAX];          /* "": free */
	uint64_t base[SG_LOCAL_NCOUNTERS]; /* the counters when the slot was taken */
	uint64_t lost;                     /* reports a recipient had no room for */
};

struct fastpath {
	struct local_ack *skel;
	struct bpfkeys *keys;
	struct ev_loop *loop;
	ev_periodic tick;
	struct ring_buffer *done; /* sg_local_done */
	ev_io done_io;
	struct fastpath_sink sink;
	ev_timer retry;        /* while a key publish keeps failing */
	uint64_t key_failures; /* failed publishes since the start */
	unsigned key_pending;  /* failed publishes since the last success */
	uint32_t rotation;
	double key_lead;            /* seconds: see FASTPATH_KEY_LEAD_MAX */
	struct fpdev *devs;         /* the links, one per device */
	const struct conf *conf;    /* the configuration in use (the reload's generation) */
	struct fpsysctl_values sys; /* the kernel switches when last looked at */
	struct fastpath_slot slots[SG_LOCAL_SLOTS];
	uint32_t gen; /* SG_LOCAL_GEN_BIT or 0: the ACL keys' generation in use */
	int ncpus;
	uint64_t *percpu;
	struct stats_block block;
};

static const enum stats_id counter_stats[SG_LOCAL_NCOUNTERS] = {
    [SG_LC_ACK_VALID] = ST_ACK_VALID,           [SG_LC_HANDOFFS] = ST_HANDOFFS,
    [SG_LC_HANDOFF_FAILED] = ST_HANDOFF_FAILED, [SG_LC_ACK_INVALID] = ST_ACK_INVALID,
    [SG_LC_ACK_EXPIRED] = ST_ACK_EXPIRED,       [SG_LC_ACK_DENIED] = ST_ACK_DENIED,
    [SG_LC_ACK_FLOW] = ST_ACK_FLOW_PASSED,      [SG_LC_MALFORMED_OPT] = ST_MALFORMED_OPT,
    [SG_LC_DONE_LOST] = ST_HALFOPEN_TC_LOST,
};

int fastpath_conf_check(const struct conf *c, char *err, size_t errlen)
{
	size_t n = 0;

	for (size_t i = 0; c && i < c->n_listeners; i++)
		n += c->listeners[i].handoff == CONF_HANDOFF_LOCAL;
	if (n > SG_LOCAL_SLOTS) {
		snprintf(err, errlen, "%zu listeners have handoff \"local\": at most %d may", n,
		         SG_LOCAL_SLOTS);
		return -1;
	}
	return 0;
}

/* ---- kernel switches ---- */

static void sysctl_read(struct fpsysctl_values *v)
{
	v->syncookies = sock_sysctl_ipv4("tcp_syncookies");
	v->timestamps = sock_sysctl_ipv4("tcp_timestamps");
	v->sack = sock_sysctl_ipv4("tcp_sack");
	v->window_scaling = sock_sysctl_ipv4("tcp_window_scaling");
}

enum sysctl_mode {
	SC_PRINT,    /* every issue on out (synguardd -t); -1 when there is one */
	SC_REFUSE,   /* -1 with the first issue breaking every handshake in err; no log */
	SC_WARN,     /* as SC_REFUSE, and the issues breaking some handshakes logged */
	SC_WARN_ALL, /* every issue logged (the switches changed under a running daemon) */
};

/* The switches v of this network namespace against c's local listeners (fpsysctl.h). */
static int sysctl_check(const struct conf *c, const struct fpsysctl_values *v,
                        enum sysctl_mode mode, FILE *out, char *err, size_t errlen)
{
	size_t n = fpsysctl_check(c, v, NULL, 0);
	struct fpsysctl_issue *is = n ? calloc(n, sizeof(*is)) : NULL;
	int rc = 0;

	if (n && !is) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = fpsysctl_check(c, v, is, n);
	for (size_t i = 0; i < n; i++) {
		char line[512];

		fpsysctl_describe(c, &is[i], line, sizeof(line));
		if (mode == SC_PRINT) {
			fprintf(out, "fast path: %s\n", line);
			rc = -1;
		} else if (is[i].harm == FPSYSCTL_EVERY && mode != SC_WARN_ALL) {
			if (rc == 0)
				snprintf(err, errlen, "%s", line);
			rc = -1;
		} else if (mode != SC_REFUSE) {
			log_warnx("fast path: %s", line);
		}
	}
	free(is);
	return rc;
}

/* Now and then: switches changed under the running daemon are reported once. */
static void sysctl_watch(struct fastpath *f)
{
	struct fpsysctl_values v;
	char err[8];

	sysctl_read(&v);
	if (memcmp(&v, &f->sys, sizeof(v)) == 0)
		return;
	f->sys = v;
	if (fpsysctl_check(f->conf, &v, NULL, 0) == 0) {
		log_info("fast path: the net.ipv4 switches changed; they allow what the local "
		         "listeners' policies grant");
		return;
	}
	log_warnx("fast path: the net.ipv4 switches changed:");
	(void)sysctl_check(f->conf, &v, SC_WARN_ALL, NULL, err, sizeof(err));
}

/* ---- maps ---- */

static int family4(int af)
{
	return af == AF_INET ? COOKIE_IN_FAMILY4 : COOKIE_IN_FAMILY6;
}

static void listener_key(const struct conf_listener *l, struct sg_local_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = (uint8_t)family4(l->family);
	k->port = l->port;
	memcpy(k->addr, l->addr, l->family == AF_INET ? 4 : 16);
}

/* The policy's allow and deny entries under tag. */
static void acl_write(struct fastpath *f, const struct conf_policy *p, uint32_t tag)
{
	int fd4 = bpf_map__fd(f->skel->maps.sg_local_acl4);
	int fd6 = bpf_map__fd(f->skel->maps.sg_local_acl6);

	for (int list = 0; list < 2; list++) {
		const struct cidr *cs = list ? p->deny : p->allow;
		size_t n = list ? p->n_deny : p->n_allow;
		uint8_t v = list ? SG_LOCAL_ACL_DENY : SG_LOCAL_ACL_ALLOW;

		for (size_t i = 0; i < n; i++) {
			int rc;

			if (cs[i].family == AF_INET) {
				struct sg_local_acl4 k = {.prefixlen = 32u + cs[i].len,
				                          .policy = tag};

				memcpy(k.addr, cs[i].addr, 4);
				rc = bpf_map_update_elem(fd4, &k, &v, BPF_ANY);
			} else {
				struct sg_local_acl6 k = {.prefixlen = 32u + cs[i].len,
				                          .policy = tag};

				memcpy(k.addr, cs[i].addr, 16);
				rc = bpf_map_update_elem(fd6, &k, &v, BPF_ANY);
			}
			if (rc < 0)
				log_warnx("fast path: policy %s: ACL entry: %s", p->name,
				          strerror(errno));
		}
	}
}

static uint64_t counter_sum(struct fastpath *f, uint32_t slot, uint32_t id)
{
	uint32_t k = slot * SG_LOCAL_NCOUNTERS + id;
	uint64_t s = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.sg_local_counters), &k, f->percpu) < 0)
		return 0;
	for (int c = 0; c < f->ncpus; c++)
		s += f->percpu[c];
	return s;
}

static int slot_of(const struct fastpath *f, const char *name)
{
	for (int i = 0; i < SG_LOCAL_SLOTS; i++)
		if (strcmp(f->slots[i].name, name) == 0)
			return i;
	return -1;
}

static int slot_take(struct fastpath *f, const char *name)
{
	for (int i = 0; i < SG_LOCAL_SLOTS; i++) {
		struct fastpath_slot *s = &f->slots[i];

		if (s->name[0])
			continue;
		snprintf(s->name, sizeof(s->name), "%s", name);
		s->lost = 0;
		for (uint32_t id = 0; id < SG_LOCAL_NCOUNTERS; id++)
			s->base[id] = counter_sum(f, (uint32_t)i, id);
		return i;
	}
	return -1;
}

/* Deletes the keys of map fd (of size ksz) that drop() names. */
static void map_prune(int fd, size_t ksz, bool (*drop)(const void *k, const void *arg),
                      const void *arg)
{
	uint8_t k[sizeof(struct sg_local_acl6) + sizeof(struct sg_local_key)];
	uint8_t *doomed = NULL;
	size_t n = 0, cap = 0;

	for (int rc = bpf_map_get_next_key(fd, NULL, k); rc == 0;
	     rc = bpf_map_get_next_key(fd, k, k)) {
		if (!drop(k, arg))
			continue;
		if (n == cap) {
			uint8_t *d = realloc(doomed, (cap = cap ? 2 * cap : 64) * ksz);

			if (!d)
				break;
			doomed = d;
		}
		memcpy(doomed + n++ * ksz, k, ksz);
	}
	for (size_t i = 0; i < n; i++)
		(void)bpf_map_delete_elem(fd, doomed + i * ksz);
	free(doomed);
}

static bool acl_old(const void *k, const void *arg)
{
	uint32_t tag;

	memcpy(&tag, (const uint8_t *)k + offsetof(struct sg_local_acl4, policy), sizeof(tag));
	return (tag & SG_LOCAL_GEN_BIT) != *(const uint32_t *)arg;
}

/* True when c has a local listener of that name. */
static bool local_named(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->n_listeners; i++)
		if (c->listeners[i].handoff == CONF_HANDOFF_LOCAL &&
		    strcmp(c->listeners[i].name, name) == 0)
			return true;
	return false;
}

static bool listener_gone(const void *k, const void *arg)
{
	const struct conf *c = arg;

	for (size_t i = 0; i < c->n_listeners; i++) {
		struct sg_local_key lk;

		if (c->listeners[i].handoff != CONF_HANDOFF_LOCAL)
			continue;
		listener_key(&c->listeners[i], &lk);
		if (memcmp(&lk, k, sizeof(lk)) == 0)
			return false;
	}
	return true;
}

/*
 * The new generation's ACL entries first; then the listeners c no longer
 * has leave the map and their slots (the map and the slots hold
 * SG_LOCAL_SLOTS each, and a reload may replace every listener); then the
 * listeners of c (each update replaces one value atomically, and with it the
 * ACL generation it reads; a kept listener keeps its slot, so its counters
 * run on); last the old generation's ACL entries.
 */
static void maps_apply(struct fastpath *f, const struct conf *c)
{
	int lfd = bpf_map__fd(f->skel->maps.sg_local_listeners);
	uint32_t gen = f->gen ^ SG_LOCAL_GEN_BIT;

	for (size_t i = 0; i < c->n_policies; i++)
		acl_write(f, &c->policies[i], gen | (uint32_t)i);
	map_prune(lfd, sizeof(struct sg_local_key), listener_gone, c);
	for (int i = 0; i < SG_LOCAL_SLOTS; i++)
		if (f->slots[i].name[0] && !local_named(c, f->slots[i].name))
			f->slots[i].name[0] = '\0';
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		const struct conf_policy *p = &c->policies[l->policy];
		struct sg_local_listener v;
		struct sg_local_key k;
		int slot;

		if (l->handoff != CONF_HANDOFF_LOCAL)
			continue;
		slot = slot_of(f, l->name);
		if (slot < 0)
			slot = slot_take(f, l->name);
		if (slot < 0)
			continue; /* fastpath_conf_check refuses more */
		memset(&v, 0, sizeof(v));
		v.slot = (uint32_t)slot;
		v.policy = gen | (uint32_t)l->policy;
		memcpy(v.mss, l->family == AF_INET ? p->mss : p->mss6, sizeof(v.mss));
		v.wscale = p->wscale;
		v.flags = p->n_allow || p->n_deny ? SG_LOCAL_F_ACL : 0;
		/* auto holds entries whenever it answers statefully, and keeps them after */
		if (p->mode != CONF_MODE_COOKIE)
			v.flags |= SG_LOCAL_F_STATEFUL;
		listener_key(l, &k);
		if (bpf_map_update_elem(lfd, &k, &v, BPF_ANY) < 0)
			log_warnx("fast path: listener %s: %s", l->name, strerror(errno));
	}
	map_prune(bpf_map__fd(f->skel->maps.sg_local_acl4), sizeof(struct sg_local_acl4), acl_old,
	          &gen);
	map_prune(bpf_map__fd(f->skel->maps.sg_local_acl6), sizeof(struct sg_local_acl6), acl_old,
	          &gen);
	f->gen = gen;
}

/* ---- keys ---- */

static void retry_stop(struct fastpath *f)
{
	if (!ev_is_active(&f->retry))
		return;
	ev_ref(f->loop);
	ev_timer_stop(f->loop, &f->retry);
}

/*
 * A failed publish is tried again every FASTPATH_KEY_RETRY seconds (for the
 * epoch of that moment) until it succeeds; the failures are counted and
 * logged at most every 10 s, the recovery once.
 */
static void keys_now(struct fastpath *f)
{
	uint32_t epoch =
	    (uint32_t)((uint64_t)(ev_time() + f->key_lead + FASTPATH_KEY_SLACK) / f->rotation);

	if (bpfkeys_set_epoch(f->keys, epoch) < 0) {
		int e = errno;

		f->key_failures++;
		f->key_pending++;
		log_warnx_ratelimited(10,
		                      "fast path: publishing the cookie keys of epoch %u: %s (%llu "
		                      "failures in all): the program refuses new cookies until it "
		                      "succeeds; trying again every %.2f s",
		                      epoch, strerror(e), (unsigned long long)f->key_failures,
		                      FASTPATH_KEY_RETRY);
		if (!ev_is_active(&f->retry)) {
			ev_timer_set(&f->retry, FASTPATH_KEY_RETRY, FASTPATH_KEY_RETRY);
			ev_timer_start(f->loop, &f->retry);
			ev_unref(f->loop);
		}
		return;
	}
	if (f->key_pending) {
		log_info("fast path: cookie keys of epoch %u published after %u failed attempts "
		         "(%llu failures in all)",
		         epoch, f->key_pending, (unsigned long long)f->key_failures);
		f->key_pending = 0;
	}
	retry_stop(f);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	keys_now(w->data);
}

static void on_tick(struct ev_loop *loop, ev_periodic *w, int revents)
{
	(void)loop;
	(void)revents;
	keys_now(w->data);
	sysctl_watch(w->data);
}

/* ---- handshake reports ---- */

static int on_done(void *ctx, void *data, size_t size)
{
	struct fastpath *f = ctx;
	const struct sg_local_done *e = data;
	struct fastpath_done d;
	size_t refused = 1;

	if (size < sizeof(*e) || (e->family != COOKIE_IN_FAMILY4 && e->family != COOKIE_IN_FAMILY6))
		return 0; /* not ours to read: the program writes nothing else */
	memset(&d, 0, sizeof(d));
	d.t.family = e->family == COOKIE_IN_FAMILY4 ? AF_INET : AF_INET6;
	memcpy(d.t.saddr, e->saddr, e->family == COOKIE_IN_FAMILY4 ? 4 : 16);
	memcpy(d.t.daddr, e->daddr, e->family == COOKIE_IN_FAMILY4 ? 4 : 16);
	d.t.sport = e->sport;
	d.t.dport = e->dport;
	d.seq = e->seq;
	d.ack = e->ack;
	if (f->sink.deliver)
		refused = f->sink.deliver(f->sink.arg, &d);
	if (refused && e->slot < SG_LOCAL_SLOTS)
		f->slots[e->slot].lost++;
	return 0;
}

/* Drained until empty (or FASTPATH_DONE_ROUNDS reads: the ring stays readable for more). */
static void on_done_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fastpath *f = w->data;

	(void)loop;
	(void)revents;
	for (int i = 0; i < FASTPATH_DONE_ROUNDS; i++)
		if (ring_buffer__consume(f->done) <= 0)
			break;
	if (f->sink.flush)
		f->sink.flush(f->sink.arg);
}

void fastpath_set_sink(struct fastpath *f, const struct fastpath_sink *sink)
{
	if (!f)
		return;
	if (sink)
		f->sink = *sink;
	else
		memset(&f->sink, 0, sizeof(f->sink));
}

/* ---- life ---- */

static struct local_ack *load(char *err, size_t errlen)
{
	struct local_ack *skel;
	int rc;

	skel = local_ack__open();
	if (!skel) {
		snprintf(err, errlen, "opening the BPF program: %s", strerror(errno));
		return NULL;
	}
	rc = local_ack__load(skel);
	if (rc == -EPERM) {
		snprintf(
		    err, errlen,
		    "loading the BPF program: %s: CAP_BPF and CAP_PERFMON (with CAP_NET_ADMIN) "
		    "and the bpf() system call are needed at start; under systemd install "
		    "the drop-in " SYNGUARD_DROPIN " as "
		    "/etc/systemd/system/synguard.service.d/local-handoff.conf and run "
		    "systemctl daemon-reload",
		    strerror(-rc));
		local_ack__destroy(skel);
		return NULL;
	}
	if (rc < 0) {
		snprintf(
		    err, errlen,
		    "loading the BPF program: %s (needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, "
		    "under systemd the drop-in local-handoff.conf; and the kfunc "
		    "bpf_sk_assign_tcp_reqsk: kernel >= 6.8)",
		    strerror(-rc));
		local_ack__destroy(skel);
		return NULL;
	}
	return skel;
}

struct fastpath *fastpath_new(struct ev_loop *loop, const struct conf *c,
                              const uint8_t master[COOKIE_MASTER_LEN], char *err, size_t errlen)
{
	struct fastpath *f = calloc(1, sizeof(*f));

	if (!f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->loop = loop;
	f->rotation = c->daemon.cookie_rotation;
	f->key_lead =
	    f->rotation / 2.0 < FASTPATH_KEY_LEAD_MAX ? f->rotation / 2.0 : FASTPATH_KEY_LEAD_MAX;
	ev_init(&f->retry, on_retry);
	f->retry.data = f;
	f->ncpus = libbpf_num_possible_cpus();
	if (f->ncpus <= 0 || !(f->percpu = calloc((size_t)f->ncpus, sizeof(uint64_t)))) {
		snprintf(err, errlen, "cannot count the possible CPUs");
		free(f);
		return NULL;
	}
	/* before the load: a start that cannot take a single connection fails at once */
	f->conf = c;
	sysctl_read(&f->sys);
	if (sysctl_check(c, &f->sys, SC_WARN, NULL, err, errlen) < 0)
		goto fail;
	if (!(f->skel = load(err, errlen)))
		goto fail;
	f->keys = bpfkeys_new(bpf_map__fd(f->skel->maps.sg_cookie_keys), master);
	if (!f->keys) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (bpfkeys_set_epoch(f->keys,
	                      (uint32_t)((uint64_t)(ev_time() + f->key_lead) / f->rotation)) < 0) {
		snprintf(err, errlen, "writing the cookie keys: %s", strerror(errno));
		goto fail;
	}
	/* mapped now, while the daemon may still map BPF memory */
	f->done = ring_buffer__new(bpf_map__fd(f->skel->maps.sg_local_done), on_done, f, NULL);
	if (!f->done) {
		snprintf(err, errlen, "the handshake reports' ring buffer: %s", strerror(errno));
		goto fail;
	}
	maps_apply(f, c);
	f->devs = fpdev_new(loop, bpf_program__fd(f->skel->progs.sg_local_ack));
	if (!f->devs) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (fpdev_count(f->devs) == 0) {
		snprintf(err, errlen,
		         "could not attach to any device (up, not loopback, Ethernet; tcx needs "
		         "kernel >= 6.6)");
		goto fail;
	}
	ev_periodic_init(&f->tick, on_tick, f->rotation - f->key_lead, f->rotation, NULL);
	f->tick.data = f;
	ev_periodic_start(loop, &f->tick);
	ev_unref(loop); /* the loop ends when everything else has */
	ev_io_init(&f->done_io, on_done_io, ring_buffer__epoll_fd(f->done), EV_READ);
	f->done_io.data = f;
	ev_io_start(loop, &f->done_io);
	ev_unref(loop);
	return f;
fail:
	fastpath_free(f);
	return NULL;
}

void fastpath_free(struct fastpath *f)
{
	if (!f)
		return;
	if (f->loop && ev_is_active(&f->tick)) {
		ev_ref(f->loop);
		ev_periodic_stop(f->loop, &f->tick);
	}
	if (f->loop && ev_is_active(&f->done_io)) {
		ev_ref(f->loop);
		ev_io_stop(f->loop, &f->done_io);
	}
	ring_buffer__free(f->done);
	if (f->loop)
		retry_stop(f);
	fpdev_free(f->devs);
	bpfkeys_free(f->keys);
	local_ack__destroy(f->skel);
	stats_block_free(&f->block);
	free(f->percpu);
	free(f);
}

int fastpath_check_update(const struct fastpath *f, const struct conf *c, char *err, size_t errlen)
{
	if (!f && fastpath_wanted(c)) {
		snprintf(err, errlen,
		         "handoff \"local\" needs the kernel fast path, which is loaded at start "
		         "only when a listener uses it: restart synguardd");
		return -1;
	}
	if (fastpath_conf_check(c, err, errlen) < 0)
		return -1;
	if (f) {
		struct fpsysctl_values v;

		sysctl_read(&v);
		return sysctl_check(c, &v, SC_REFUSE, NULL, err, errlen);
	}
	return 0;
}

void fastpath_update(struct fastpath *f, const struct conf *c)
{
	char err[8];

	if (!f)
		return;
	/* what fastpath_check_update let through still breaks some handshakes: say so */
	f->conf = c;
	sysctl_read(&f->sys);
	(void)sysctl_check(c, &f->sys, SC_WARN, NULL, err, sizeof(err));
	maps_apply(f, c);
	/* devices gone since free their places; devices that came up since get a link
	 * (attaching needs CAP_NET_ADMIN only, which stays) */
	fpdev_scan(f->devs);
}

const struct stats_block *fastpath_stats(struct fastpath *f, const struct conf *view)
{
	if (!f || !view)
		return NULL;
	if (f->block.n_rows != view->n_listeners + 1) {
		stats_block_free(&f->block);
		if (stats_block_init(&f->block, view->n_listeners) < 0)
			return NULL;
	}
	for (size_t i = 0; i < view->n_listeners; i++) {
		const struct conf_listener *l = &view->listeners[i];
		struct stats_row *r = &f->block.rows[i];
		int slot = l->handoff == CONF_HANDOFF_LOCAL ? slot_of(f, l->name) : -1;

		memset(r, 0, sizeof(*r));
		for (uint32_t id = 0; slot >= 0 && id < SG_LOCAL_NCOUNTERS; id++)
			r->v[counter_stats[id]] =
			    counter_sum(f, (uint32_t)slot, id) - f->slots[slot].base[id];
		if (slot >= 0)
			r->v[ST_HALFOPEN_TC_LOST] += f->slots[slot].lost;
	}
	return &f->block;
}

const char *fastpath_devices(const struct fastpath *f)
{
	return f ? fpdev_names(f->devs) : "";
}

/* ---- synguardd -t ---- */

static bool btf_enum_has(const struct btf *btf, const char *type, const char *value)
{
	int id = btf__find_by_name_kind(btf, type, BTF_KIND_ENUM);
	const struct btf_type *t;
	const struct btf_enum *e;

	if (id < 0 || !(t = btf__type_by_id(btf, (__u32)id)))
		return false;
	e = btf_enum(t);
	for (unsigned i = 0; i < btf_vlen(t); i++)
		if (strcmp(btf__name_by_offset(btf, e[i].name_off), value) == 0)
			return true;
	return false;
}

int fastpath_report(FILE *out, const struct conf *c)
{
	struct btf *btf;
	struct local_ack *skel;
	struct fpsysctl_values sys;
	char err[256];
	int ok = 0;

	if (!fastpath_wanted(c))
		return 0;
	fprintf(out, "fast path: built (BPF program local_ack)\n");
	btf = btf__load_vmlinux_btf();
	if (!btf) {
		fprintf(out, "fast path: kernel: no BTF at /sys/kernel/btf/vmlinux\n");
		return -1;
	}
	if (btf__find_by_name_kind(btf, "bpf_sk_assign_tcp_reqsk", BTF_KIND_FUNC) < 0) {
		fprintf(out, "fast path: kernel: no kfunc bpf_sk_assign_tcp_reqsk (kernel >= 6.8 "
		             "with CONFIG_SYN_COOKIES)\n");
		ok = -1;
	} else {
		fprintf(out, "fast path: kernel: kfunc bpf_sk_assign_tcp_reqsk present\n");
	}
	if (!btf_enum_has(btf, "bpf_attach_type", "BPF_TCX_INGRESS")) {
		fprintf(out, "fast path: kernel: no tcx (kernel >= 6.6)\n");
		ok = -1;
	} else {
		fprintf(out, "fast path: kernel: tcx present\n");
	}
	btf__free(btf);
	/* the switches of this network namespace: each mismatch with a local listener */
	sysctl_read(&sys);
	if (sysctl_check(c, &sys, SC_PRINT, out, err, sizeof(err)) < 0)
		ok = -1;
	else
		fprintf(out, "fast path: net.ipv4 tcp_syncookies, tcp_timestamps, tcp_sack, "
		             "tcp_window_scaling allow what the local listeners' policies grant\n");
	/* not a failure: ECN is only refused (handshake.h) */
	if (sock_sysctl_ipv4("tcp_ecn") == 0)
		fprintf(out,
		        "fast path: net.ipv4.tcp_ecn is 0 in this network namespace: ECN-setup "
		        "SYNs are answered without ECE (no ECN)\n");
	if (ok < 0)
		return -1;
	if (!(skel = load(err, sizeof(err)))) {
		fprintf(out, "fast path: %s\n", err);
		return -1;
	}
	fprintf(out, "fast path: program loads (verifier OK)\n");
	/* one line per device: attached and detached at once, or why not */
	fpdev_report(out, bpf_program__fd(skel->progs.sg_local_ack));
	local_ack__destroy(skel);
	return 0;
}

#endif /* SYNGUARD_HAVE_BPF */
