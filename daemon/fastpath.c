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

#include "bpfacl.h"
#include "bpfslots.h"
#include "bpftick.h"
#include "firewall.h"
#include "fpdev.h"
#include "fpsysctl.h"
#include "local_ack.h"
#include "local_ack.skel.h"
#include "log.h"
#include "sockutil.h"

/* Ring-buffer reads per readiness: a steady stream of reports does not starve the loop. */
#define FASTPATH_DONE_ROUNDS 8

struct fastpath {
	struct local_ack *skel;
	struct bpftick *tick; /* the keys */
	struct ev_loop *loop;
	struct ring_buffer *done; /* sg_local_done */
	ev_io done_io;
	struct fastpath_sink sink;
	struct fpdev *devs;         /* the links, one per device */
	const struct conf *conf;    /* the configuration in use (the reload's generation) */
	struct fpsysctl_values sys; /* the kernel switches when last looked at */
	struct bpfslots *slots;
	uint64_t lost[SG_LOCAL_SLOTS]; /* per slot: reports a recipient had no room for */
	uint32_t gen;                  /* SG_LOCAL_GEN_BIT or 0: the ACL keys' generation in use */
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

static bool is_local(const struct conf_listener *l)
{
	return l->handoff == CONF_HANDOFF_LOCAL;
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
		bpfacl_write(bpf_map__fd(f->skel->maps.sg_local_acl4),
		             bpf_map__fd(f->skel->maps.sg_local_acl6), &c->policies[i],
		             gen | (uint32_t)i, "fast path");
	bpfmap_prune(lfd, sizeof(struct sg_local_key), listener_gone, c);
	bpfslots_keep(f->slots, c, is_local);
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		const struct conf_policy *p = &c->policies[l->policy];
		struct sg_local_listener v;
		struct sg_local_key k;
		int slot;

		if (l->handoff != CONF_HANDOFF_LOCAL)
			continue;
		slot = bpfslots_of(f->slots, l->name);
		if (slot < 0 && (slot = bpfslots_get(f->slots, l->name)) >= 0)
			f->lost[slot] = 0;
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
	bpfacl_prune(bpf_map__fd(f->skel->maps.sg_local_acl4),
	             bpf_map__fd(f->skel->maps.sg_local_acl6), gen);
	f->gen = gen;
}

/* ---- keys ---- */

static void on_tick(void *arg)
{
	sysctl_watch(arg);
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
		f->lost[e->slot]++;
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
	/* before the load: a start that cannot take a single connection fails at once */
	f->conf = c;
	sysctl_read(&f->sys);
	if (sysctl_check(c, &f->sys, SC_WARN, NULL, err, errlen) < 0)
		goto fail;
	if (!(f->skel = load(err, errlen)))
		goto fail;
	f->slots = bpfslots_new(bpf_map__fd(f->skel->maps.sg_local_counters), SG_LOCAL_SLOTS,
	                        SG_LOCAL_NCOUNTERS);
	if (!f->slots) {
		snprintf(err, errlen, "out of memory, or the possible CPUs cannot be counted");
		goto fail;
	}
	f->tick = bpftick_new(loop, bpf_map__fd(f->skel->maps.sg_cookie_keys), master,
	                      c->daemon.cookie_rotation, "fast path", on_tick, f, err, errlen);
	if (!f->tick)
		goto fail;
	/* mapped now, while the daemon may still map BPF memory */
	f->done = ring_buffer__new(bpf_map__fd(f->skel->maps.sg_local_done), on_done, f, NULL);
	if (!f->done) {
		snprintf(err, errlen, "the handshake reports' ring buffer: %s", strerror(errno));
		goto fail;
	}
	maps_apply(f, c);
	f->devs = fpdev_new(loop, FPDEV_TCX, bpf_program__fd(f->skel->progs.sg_local_ack), NULL, 0);
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
	if (f->loop && ev_is_active(&f->done_io)) {
		ev_ref(f->loop);
		ev_io_stop(f->loop, &f->done_io);
	}
	ring_buffer__free(f->done);
	fpdev_free(f->devs);
	bpftick_free(f->tick);
	local_ack__destroy(f->skel);
	stats_block_free(&f->block);
	bpfslots_free(f->slots);
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
		int slot = l->handoff == CONF_HANDOFF_LOCAL ? bpfslots_of(f->slots, l->name) : -1;

		memset(r, 0, sizeof(*r));
		for (uint32_t id = 0; slot >= 0 && id < SG_LOCAL_NCOUNTERS; id++)
			r->v[counter_stats[id]] = bpfslots_read(f->slots, (uint32_t)slot, id);
		if (slot >= 0)
			r->v[ST_HALFOPEN_TC_LOST] += f->lost[slot];
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
	(void)fpdev_report(out, FPDEV_TCX, bpf_program__fd(skel->progs.sg_local_ack), NULL, 0);
	local_ack__destroy(skel);
	return 0;
}

#endif /* SYNGUARD_HAVE_BPF */
