/*
 * Datapath "xdp": see xdppath.h.
 */
#include "xdppath.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

bool xdppath_wanted(const struct conf *c)
{
	return c && c->daemon.datapath == CONF_DATAPATH_XDP;
}

#ifndef SYNGUARD_HAVE_BPF

int xdppath_conf_check(const struct conf *c, char *err, size_t errlen)
{
	if (!xdppath_wanted(c))
		return 0;
	snprintf(err, errlen,
	         "daemon.datapath \"xdp\" needs the kernel programs, which this synguardd was "
	         "built without (%s): use datapath \"nfqueue\", or build with SYNGUARD_BPF=ON",
	         SYNGUARD_BPF_WHY_NOT);
	return -1;
}

int xdppath_report(FILE *out, const struct conf *c)
{
	if (!xdppath_wanted(c))
		return 0;
	fprintf(out, "xdp: not built (%s)\n", SYNGUARD_BPF_WHY_NOT);
	return -1;
}

struct xdppath *xdppath_new(struct ev_loop *loop, const struct conf *c,
                            const uint8_t master[COOKIE_MASTER_LEN], char *err, size_t errlen)
{
	(void)loop;
	(void)master;
	if (xdppath_conf_check(c, err, errlen) == 0)
		snprintf(err, errlen, "datapath \"xdp\" is not wanted");
	return NULL;
}

void xdppath_free(struct xdppath *x)
{
	(void)x;
}

int xdppath_check_update(const struct xdppath *x, const struct conf *c, char *err, size_t errlen)
{
	(void)x;
	return xdppath_conf_check(c, err, errlen);
}

void xdppath_update(struct xdppath *x, const struct conf *c)
{
	(void)x;
	(void)c;
}

const struct control_kcounters *xdppath_stats(struct xdppath *x, const struct conf *view)
{
	(void)x;
	(void)view;
	return NULL;
}

const char *xdppath_devices(const struct xdppath *x)
{
	(void)x;
	return "";
}

void xdppath_auto_maps(const struct xdppath *x, struct xdppath_auto *out)
{
	(void)x;
	out->counters_fd = -1;
	out->switch_fd = -1;
	out->ncpus = 0;
}

int xdppath_auto_slot(const struct xdppath *x, const struct conf *c, size_t i)
{
	(void)x;
	(void)c;
	(void)i;
	return -1;
}

int xdppath_auto_answered(const struct xdppath_auto *a, uint32_t slot, uint64_t *percpu,
                          uint64_t *out)
{
	(void)a;
	(void)slot;
	(void)percpu;
	*out = 0;
	errno = ENOSYS;
	return -1;
}

int xdppath_auto_set(const struct xdppath_auto *a, uint32_t slot, bool xdp)
{
	(void)a;
	(void)slot;
	(void)xdp;
	errno = ENOSYS;
	return -1;
}

#else /* SYNGUARD_HAVE_BPF */

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfacl.h"
#include "bpfslots.h"
#include "bpftick.h"
#include "fpdev.h"
#include "local_ack.h"
#include "log.h"
#include "sockutil.h"
#include "xdp_syn.h"
#include "xdp_syn.skel.h"

struct xdppath {
	struct xdp_syn *skel;
	struct bpftick *tick; /* the keys */
	struct fpdev *devs;   /* the links, one per device */
	struct bpfslots *slots;
	struct xdppath_auto am; /* auto mode's maps */
	uint32_t gen;           /* SG_LOCAL_GEN_BIT or 0: the ACL keys' generation in use */
	/* what xdppath_stats shows */
	struct control_kcounters kc;
	uint64_t *v;
	size_t v_rows;
	struct stats_block sum;
};

/* The program's counters by id (xdp_syn.h), as the stats and metrics name them. */
static const char *const counter_names[SG_XDP_NCOUNTERS] = {
    [SG_XC_SYN_ANSWERED] = "syn_answered",
    [SG_XC_SYN_PASSED] = "syn_passed",
    [SG_XC_ACK_VALID] = "ack_valid",
    [SG_XC_ACK_INVALID] = "ack_invalid",
    [SG_XC_ACK_EXPIRED] = "ack_expired",
    [SG_XC_FLOW_PASSED] = "flow_passed",
    [SG_XC_PASSED_UNPARSED] = "passed_unparsed",
    [SG_XC_PASSED_CSUM] = "passed_csum",
    [SG_XC_PASSED_NOROOM] = "passed_noroom",
    [SG_XC_SYN_DENIED] = "syn_denied",
    [SG_XC_ACK_DENIED] = "ack_denied",
    [SG_XC_SYN_RATE_LIMITED] = "syn_rate_limited",
    [SG_XC_SYN_SEEN] = "syn_seen",
};
_Static_assert(SG_XDP_NCOUNTERS == 13, "a counter of xdp_syn.h without a name here");

int xdppath_conf_check(const struct conf *c, char *err, size_t errlen)
{
	if (xdppath_wanted(c) && c->n_listeners > SG_XDP_SLOTS) {
		snprintf(err, errlen,
		         "daemon.datapath \"xdp\" serves at most %d listeners: this configuration "
		         "has %zu",
		         SG_XDP_SLOTS, c->n_listeners);
		return -1;
	}
	return 0;
}

/* ---- the listener map ---- */

static void listener_key(const struct conf_listener *l, struct sg_xdp_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = l->family == AF_INET ? 4 : 6;
	k->port = l->port;
	memcpy(k->addr, l->addr, l->family == AF_INET ? 4 : 16);
}

/*
 * Whether XDP may answer the listener's SYNs: in mode "cookie", where the
 * queue threads would answer every SYN the policies let through with a
 * cookie (the program applies the lists and the SYN rate limit first). Modes
 * stateful and auto keep them on the NFQUEUE path: the half-open table, and
 * auto mode's switch, live in the daemon.
 */
static bool syn_in_xdp(const struct conf_policy *p)
{
	return p->mode == CONF_MODE_COOKIE;
}

/* Auto mode: XDP answers while the queue threads say so (sg_xdp_auto). */
static bool syn_auto(const struct conf_policy *p)
{
	return p->mode == CONF_MODE_AUTO;
}

/*
 * Whether XDP may drop the listener's ACKs whose cookie does not check. Not
 * where the queue threads keep a half-open table (modes stateful and auto)
 * for a proxy or pass-fd listener: they accept a handshake the table holds
 * without its cookie, and a SYN-ACK retransmitted late (the table keeps an
 * entry up to a minute) may be answered after the cookie expired. The TC
 * program of handoff "local" checks only the cookie anyway.
 */
static bool ack_in_xdp(const struct conf_listener *l, const struct conf_policy *p)
{
	return p->mode == CONF_MODE_COOKIE || l->handoff == CONF_HANDOFF_LOCAL;
}

/* As the queue threads decide it (reload.c): net.ipv4.tcp_ecn != 0, read once per update. */
static bool host_ecn(void)
{
	return sock_sysctl_ipv4("tcp_ecn") > 0;
}

/*
 * A wildcard listener on a host that forwards IPv4: the program would take a
 * forwarded flow's ACK to that port for a handshake ACK (the kernel's socket
 * lookup finds the local listener) and drop it. The name of the first such
 * listener, or NULL.
 */
static const char *wildcard_forwarding(const struct conf *c)
{
	for (size_t i = 0; i < c->n_listeners; i++)
		if (c->listeners[i].wildcard && sock_sysctl_ipv4("ip_forward") > 0)
			return c->listeners[i].name;
	return NULL;
}

static bool any_listener(const struct conf_listener *l)
{
	(void)l;
	return true;
}

static bool listener_gone(const void *k, const void *arg)
{
	const struct conf *c = arg;

	for (size_t i = 0; i < c->n_listeners; i++) {
		struct sg_xdp_key lk;

		listener_key(&c->listeners[i], &lk);
		if (memcmp(&lk, k, sizeof(lk)) == 0)
			return false;
	}
	return true;
}

/*
 * The new generation's ACL entries first; then the listeners c no longer
 * has leave the map and free their slots (both hold SG_XDP_SLOTS, and a
 * reload may replace every listener); then each of c's is written (one value
 * replaced atomically, and with it the ACL generation it reads; a kept
 * listener keeps its slot and its counters run on); last the old
 * generation's ACL entries.
 */
static void maps_apply(struct xdppath *x, const struct conf *c)
{
	int fd = bpf_map__fd(x->skel->maps.sg_xdp_listeners);
	int acl4 = bpf_map__fd(x->skel->maps.sg_xdp_acl4);
	int acl6 = bpf_map__fd(x->skel->maps.sg_xdp_acl6);
	uint32_t gen = x->gen ^ SG_LOCAL_GEN_BIT;
	bool ecn = host_ecn();
	size_t n_syn = 0, n_auto = 0;

	for (size_t i = 0; i < c->n_policies; i++)
		bpfacl_write(acl4, acl6, &c->policies[i], gen | (uint32_t)i, "xdp");
	bpfmap_prune(fd, sizeof(struct sg_xdp_key), listener_gone, c);
	bpfslots_keep(x->slots, c, any_listener);
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		const struct conf_policy *p = &c->policies[l->policy];
		struct sg_xdp_listener v;
		struct sg_xdp_key k;
		int slot = bpfslots_of(x->slots, l->name);

		/* a slot given anew starts calm, whatever its previous listener left */
		if (slot < 0 && (slot = bpfslots_get(x->slots, l->name)) >= 0)
			(void)xdppath_auto_set(&x->am, (uint32_t)slot, false);
		if (slot < 0)
			continue; /* xdppath_conf_check refuses more */
		memset(&v, 0, sizeof(v));
		v.slot = (uint32_t)slot;
		memcpy(v.mss, l->family == AF_INET ? p->mss : p->mss6, sizeof(v.mss));
		v.wscale = p->wscale;
		v.flags = ack_in_xdp(l, p) ? SG_XDP_F_ACK : 0;
		if (syn_in_xdp(p)) {
			v.flags |= SG_XDP_F_SYN;
			n_syn++;
		} else if (syn_auto(p)) {
			v.flags |= SG_XDP_F_AUTO;
			n_auto++;
		}
		if (p->sack)
			v.flags |= SG_XDP_F_SACK;
		if (p->timestamps)
			v.flags |= SG_XDP_F_TS;
		if (l->handoff == CONF_HANDOFF_LOCAL && ecn)
			v.flags |= SG_XDP_F_ECN;
		v.policy = gen | (uint32_t)l->policy;
		if (p->n_allow || p->n_deny)
			v.flags |= SG_XDP_F_ACL;
		if (p->per_source.syn_rate) {
			v.flags |= SG_XDP_F_RATE;
			v.rate = p->per_source.syn_rate;
			v.burst = p->per_source.burst;
			v.rate_plen4 = p->per_source.prefix_v4;
			v.rate_plen6 = p->per_source.prefix_v6;
		}
		listener_key(l, &k);
		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY) < 0)
			log_warnx("xdp: listener %s: %s", l->name, strerror(errno));
	}
	bpfacl_prune(acl4, acl6, gen);
	x->gen = gen;
	if (wildcard_forwarding(c))
		log_warnx("xdp: listener %s has a wildcard address and this host forwards IPv4 "
		          "(net.ipv4.ip_forward = 1): forwarded connections to its port lose their "
		          "ACKs in XDP; give it the host's own address",
		          wildcard_forwarding(c));
	if (n_syn < c->n_listeners)
		log_info(
		    "xdp: SYNs answered in XDP for %zu of %zu listeners (mode cookie), for %zu "
		    "(mode auto) while they answer with cookies; the others' (mode stateful) "
		    "on the NFQUEUE path",
		    n_syn, c->n_listeners, n_auto);
}

/* ---- life ---- */

static struct xdp_syn *load(char *err, size_t errlen)
{
	struct xdp_syn *skel = xdp_syn__open();
	int rc;

	if (!skel) {
		snprintf(err, errlen, "opening the XDP program: %s", strerror(errno));
		return NULL;
	}
	rc = xdp_syn__load(skel);
	if (rc < 0) {
		snprintf(err, errlen,
		         "loading the XDP program: %s (needs CAP_BPF, CAP_PERFMON and "
		         "CAP_NET_ADMIN at start, under systemd the drop-in local-handoff.conf; "
		         "and a kernel with BTF)",
		         strerror(-rc));
		xdp_syn__destroy(skel);
		return NULL;
	}
	return skel;
}

struct xdppath *xdppath_new(struct ev_loop *loop, const struct conf *c,
                            const uint8_t master[COOKIE_MASTER_LEN], char *err, size_t errlen)
{
	struct xdppath *x;

	if (xdppath_conf_check(c, err, errlen) < 0)
		return NULL;
	if (!(x = calloc(1, sizeof(*x)))) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (!(x->skel = load(err, errlen)))
		goto fail;
	x->slots = bpfslots_new(bpf_map__fd(x->skel->maps.sg_xdp_counters), SG_XDP_SLOTS + 1,
	                        SG_XDP_NCOUNTERS);
	if (!x->slots) {
		snprintf(err, errlen, "out of memory, or the possible CPUs cannot be counted");
		goto fail;
	}
	x->am.counters_fd = bpf_map__fd(x->skel->maps.sg_xdp_counters);
	x->am.switch_fd = bpf_map__fd(x->skel->maps.sg_xdp_auto);
	x->am.ncpus = libbpf_num_possible_cpus();
	/* the keys before the listeners: a flagged listener's SYN finds a key */
	x->tick = bpftick_new(loop, bpf_map__fd(x->skel->maps.sg_cookie_keys), master,
	                      c->daemon.cookie_rotation, "xdp", NULL, NULL, err, errlen);
	if (!x->tick)
		goto fail;
	maps_apply(x, c);
	x->devs = fpdev_new(loop, FPDEV_XDP, bpf_program__fd(x->skel->progs.sg_xdp_syn),
	                    (const char(*)[CONF_IFNAME_MAX])c->daemon.devices, c->daemon.n_devices);
	if (!x->devs) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (fpdev_count(x->devs) == 0) {
		snprintf(err, errlen,
		         "could not attach to any device (up, not loopback, Ethernet%s)",
		         c->daemon.n_devices ? ", in daemon.devices" : "");
		goto fail;
	}
	return x;
fail:
	xdppath_free(x);
	return NULL;
}

void xdppath_free(struct xdppath *x)
{
	if (!x)
		return;
	fpdev_free(x->devs);
	bpftick_free(x->tick);
	bpfslots_free(x->slots);
	xdp_syn__destroy(x->skel);
	stats_block_free(&x->sum);
	free(x->v);
	free(x);
}

int xdppath_check_update(const struct xdppath *x, const struct conf *c, char *err, size_t errlen)
{
	if (!x != !xdppath_wanted(c)) {
		snprintf(err, errlen,
		         "daemon.datapath changed from \"%s\" to \"%s\": restart synguardd",
		         x ? "xdp" : "nfqueue", x ? "nfqueue" : "xdp");
		return -1;
	}
	return xdppath_conf_check(c, err, errlen);
}

void xdppath_update(struct xdppath *x, const struct conf *c)
{
	if (!x)
		return;
	maps_apply(x, c);
	/* attaching needs CAP_NET_ADMIN only, which stays */
	fpdev_set_devices(x->devs, (const char(*)[CONF_IFNAME_MAX])c->daemon.devices,
	                  c->daemon.n_devices);
}

const struct control_kcounters *xdppath_stats(struct xdppath *x, const struct conf *view)
{
	size_t n_rows;

	if (!x || !view)
		return NULL;
	n_rows = view->n_listeners + 1;
	if (x->v_rows != n_rows) {
		uint64_t *v = calloc(n_rows, sizeof(*v) * SG_XDP_NCOUNTERS);

		if (!v)
			return NULL;
		free(x->v);
		x->v = v;
		x->v_rows = n_rows;
		stats_block_free(&x->sum);
		if (stats_block_init(&x->sum, view->n_listeners) < 0)
			return NULL;
	}
	for (size_t r = 0; r < n_rows; r++) {
		int slot = r < view->n_listeners ? bpfslots_of(x->slots, view->listeners[r].name)
		                                 : SG_XDP_SLOT_UNMATCHED;
		uint64_t *v = x->v + r * SG_XDP_NCOUNTERS;
		struct stats_row *s = &x->sum.rows[r];

		for (uint32_t id = 0; id < SG_XDP_NCOUNTERS; id++)
			v[id] = slot >= 0 ? bpfslots_read(x->slots, (uint32_t)slot, id) : 0;
		memset(s, 0, sizeof(*s));
		/* what XDP answered or dropped never reaches a queue thread; what it passed
		 * does, and counts there */
		s->v[ST_SYN_RECEIVED] =
		    v[SG_XC_SYN_ANSWERED] + v[SG_XC_SYN_DENIED] + v[SG_XC_SYN_RATE_LIMITED];
		s->v[ST_SYNACK_SENT] = v[SG_XC_SYN_ANSWERED];
		s->v[ST_SYN_DENIED] = v[SG_XC_SYN_DENIED];
		s->v[ST_SYN_RATE_LIMITED] = v[SG_XC_SYN_RATE_LIMITED];
		s->v[ST_ACK_INVALID] = v[SG_XC_ACK_INVALID];
		s->v[ST_ACK_EXPIRED] = v[SG_XC_ACK_EXPIRED];
		s->v[ST_ACK_DENIED] = v[SG_XC_ACK_DENIED];
	}
	x->kc.names = counter_names;
	x->kc.n_ids = SG_XDP_NCOUNTERS;
	x->kc.n_rows = n_rows;
	x->kc.v = x->v;
	x->kc.sum = &x->sum;
	return &x->kc;
}

const char *xdppath_devices(const struct xdppath *x)
{
	return x ? fpdev_names(x->devs) : "";
}

void xdppath_auto_maps(const struct xdppath *x, struct xdppath_auto *out)
{
	if (x) {
		*out = x->am;
		return;
	}
	out->counters_fd = -1;
	out->switch_fd = -1;
	out->ncpus = 0;
}

int xdppath_auto_slot(const struct xdppath *x, const struct conf *c, size_t i)
{
	const struct conf_listener *l = &c->listeners[i];

	if (!x || !syn_auto(&c->policies[l->policy]))
		return -1;
	return bpfslots_of(x->slots, l->name);
}

int xdppath_auto_answered(const struct xdppath_auto *a, uint32_t slot, uint64_t *percpu,
                          uint64_t *out)
{
	*out = 0;
	if (a->counters_fd < 0 || slot >= SG_XDP_SLOTS) {
		errno = EINVAL;
		return -1;
	}
	return bpfmap_percpu_sum(a->counters_fd, slot * SG_XDP_NCOUNTERS + SG_XC_SYN_ANSWERED,
	                         a->ncpus, percpu, out);
}

int xdppath_auto_set(const struct xdppath_auto *a, uint32_t slot, bool xdp)
{
	uint32_t v = xdp ? SG_XDP_AUTO_XDP : SG_XDP_AUTO_QUEUE;

	if (a->switch_fd < 0 || slot >= SG_XDP_SLOTS) {
		errno = EINVAL;
		return -1;
	}
	return bpf_map_update_elem(a->switch_fd, &slot, &v, BPF_ANY);
}

/* ---- synguardd -t ---- */

int xdppath_report(FILE *out, const struct conf *c)
{
	struct xdp_syn *skel;
	char err[256];
	size_t n;

	if (!xdppath_wanted(c))
		return 0;
	fprintf(out, "xdp: built (BPF program xdp_syn)\n");
	if (xdppath_conf_check(c, err, sizeof(err)) < 0) {
		fprintf(out, "xdp: %s\n", err);
		return -1;
	}
	if (!(skel = load(err, sizeof(err)))) {
		fprintf(out, "xdp: %s\n", err);
		return -1;
	}
	fprintf(out, "xdp: program loads (verifier OK)\n");
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		const struct conf_policy *p = &c->policies[l->policy];

		if (syn_in_xdp(p))
			continue;
		fprintf(
		    out, "xdp: listener %s: SYNs on the NFQUEUE path%s (policy %s: mode %s), %s\n",
		    l->name, syn_auto(p) ? " but while it answers with cookies (then in XDP)" : "",
		    p->name, conf_mode_name(p->mode),
		    ack_in_xdp(l, p) ? "invalid ACKs dropped in XDP"
		                     : "ACKs too (its half-open table may hold a handshake "
		                       "past its cookie's life)");
	}
	if (wildcard_forwarding(c))
		fprintf(out,
		        "xdp: listener %s has a wildcard address and this host forwards IPv4: "
		        "forwarded connections to its port would lose their ACKs in XDP\n",
		        wildcard_forwarding(c));
	n = fpdev_report(out, FPDEV_XDP, bpf_program__fd(skel->progs.sg_xdp_syn),
	                 (const char(*)[CONF_IFNAME_MAX])c->daemon.devices, c->daemon.n_devices);
	xdp_syn__destroy(skel);
	if (n == 0) {
		fprintf(out, "xdp: the program attaches to no device\n");
		return -1;
	}
	return 0;
}

#endif /* SYNGUARD_HAVE_BPF */
