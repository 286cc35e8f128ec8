/*
 * The handshake decisions. See handshake.h.
 *
 * Unparseable packets are dropped, not left to the kernel: the rules queue
 * only TCP SYNs, ACKs and RSTs to protected ports, so one we cannot parse is
 * still aimed at a protected service, and Linux reads TCP options leniently
 * (it stops at a bad option length and keeps the SYN). Accepted, a SYN with a
 * broken option would reach a listener on the protected address without a
 * cookie: a way around the whole defence. No legitimate stack sends them.
 *
 * Checksums: the kernel verifies TCP checksums after netfilter, so a SYN with
 * a bad checksum would get a SYN-ACK the kernel itself would never send, and a
 * RST with one would retire an entry the kernel would keep.
 *
 * One ordering rule matters: the socket for a handshake ACK is built inline,
 * before its verdict is even queued, so the ACCEPT delivers the ACK (and any
 * data on it) to the new socket, never to a closed port.
 */
#include "handshake.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* The first SYN-ACK retransmit, doubling after (as the kernel's TCP_TIMEOUT_INIT). */
#define HS_SYNACK_RTO_MS 1000
/* Timer events handled per policy_due() call. */
#define HS_DUE_BATCH 64

/* Why pkt_parse() refused a packet, as a counter. */
static const enum stats_id hs_malformed_stat[PKT_NERR] = {
    [PKT_ETRUNC] = ST_MALFORMED_TRUNC,     [PKT_EVERSION] = ST_MALFORMED_VERSION,
    [PKT_EIHL] = ST_MALFORMED_IHL,         [PKT_ELEN] = ST_MALFORMED_LEN,
    [PKT_EFRAG] = ST_MALFORMED_FRAG,       [PKT_EEXTHDR] = ST_MALFORMED_EXTHDR,
    [PKT_ENEXTHDR] = ST_MALFORMED_NEXTHDR, [PKT_ENOTTCP] = ST_MALFORMED_NOTTCP,
    [PKT_ETCPOFF] = ST_MALFORMED_TCPOFF,   [PKT_EOPT] = ST_MALFORMED_OPT,
};
_Static_assert(PKT_NERR == PKT_EOPT + 1, "a counter for every parse error");

static const uint16_t *hs_mss_table(const struct conf_policy *pol, int family)
{
	return family == AF_INET ? pol->mss : pol->mss6;
}

static void hs_drop(struct hs_decision *d, struct stats_row *row, enum stats_id why)
{
	stats_inc(row, why);
	d->action = HS_DROP;
	d->accept = false;
	d->why = why;
}

static void hs_pass(struct hs_decision *d, struct stats_row *row, enum stats_id why)
{
	if (why != ST_MAX)
		stats_inc(row, why);
	d->action = HS_PASS;
	d->accept = true;
	d->why = why;
}

/* The half-open gauge follows the table: one place sets it, from the table's count. */
static void hs_gauge(const struct hs_listener *l)
{
	stats_set(l->row, ST_HALFOPEN_ENTRIES, l->ps ? policy_half_open(l->ps) : 0);
}

void hs_synack(const struct halfopen_syn *syn, const struct conf_policy *pol, struct pkt_spec *s)
{
	const uint16_t *table = hs_mss_table(pol, syn->t.family);
	uint16_t our_mss = syn->t.family == AF_INET ? HS_OUR_MSS4 : HS_OUR_MSS6;

	memset(s, 0, sizeof(*s));
	s->t.family = syn->t.family;
	memcpy(s->t.saddr, syn->t.daddr, sizeof(s->t.saddr));
	memcpy(s->t.daddr, syn->t.saddr, sizeof(s->t.daddr));
	s->t.sport = syn->t.dport;
	s->t.dport = syn->t.sport;
	s->seq = syn->our_isn;
	s->ack = syn->client_isn + 1;
	s->window = HS_SYNACK_WINDOW;
	/* ECE only where the socket will keep ECN (see handshake.h); the SYN-ACK itself is
	 * not ECT (RFC 3168 6.1.1): pkt_build writes TOS / traffic class 0 */
	s->flags = PKT_SYN | PKT_ACK | (syn->ecn ? PKT_ECE : 0);
	s->opt.mss = our_mss < table[COOKIE_MSS_SLOTS - 1] ? our_mss : table[COOKIE_MSS_SLOTS - 1];
	s->opt.has_wscale = syn->opt.has_wscale;
	s->opt.wscale = pol->wscale;
	s->opt.sack_ok = syn->opt.sack_ok;
	s->opt.has_ts = syn->opt.has_ts;
	s->opt.tsval = syn->our_tsval;
	s->opt.tsecr = syn->opt.tsval;
}

/*
 * Whether the SYN-ACK answering p agrees to ECN (handshake.h): only the kernel's own
 * socket (handoff "local") can keep ECN, only the timestamp carries the agreement to it,
 * and the kernel keeps it only while the host accepts ECN. An ECN-capable SYN is refused
 * as the kernel refuses it for its own connections: a SYN must not be ECT (RFC 3168
 * 6.1.1), so one that is tells of a path that rewrites the bits.
 */
static bool hs_ecn_agreed(const struct hs_ctx *c, size_t li, const struct pkt_tcp *p,
                          const struct cookie_syn *in)
{
	return c->conf->listeners[li].handoff == CONF_HANDOFF_LOCAL && c->host_ecn && in->has_ts &&
	       (p->flags & (PKT_ECE | PKT_CWR)) == (PKT_ECE | PKT_CWR) && p->ip_ecn == 0;
}

static void hs_send(const struct hs_ctx *c, const struct hs_listener *l,
                    const struct halfopen_syn *syn, const struct tx_l2 *l2, struct hs_decision *d)
{
	hs_synack(syn, l->pol, &d->synack);
	d->ecn = syn->ecn;
	d->action = HS_SYNACK;
	d->accept = false;
	d->why = ST_MAX;
	c->ops->send_synack(c->arg, &d->synack, l2, l->row);
}

static void hs_on_syn(const struct hs_ctx *c, const struct pkt_tcp *p, size_t li,
                      const struct tx_l2 *l2, struct hs_decision *d)
{
	const struct hs_listener *l = &c->ls[li];
	const struct conf_policy *pol = l->pol;
	enum policy_syn verdict = POLICY_SYN_COOKIE;
	struct halfopen_entry existing;
	struct halfopen_syn hs;
	struct cookie_syn in;
	enum mode_event ev;

	stats_inc(l->row, ST_SYN_RECEIVED);
	if (l->ps) {
		verdict = policy_syn_check(l->ps, &p->t, c->now_ms, &ev);
		if (ev != MODE_EV_NONE)
			c->ops->mode_changed(c->arg, li);
		if (verdict == POLICY_SYN_DENY)
			return hs_drop(d, l->row, ST_SYN_DENIED);
		if (verdict == POLICY_SYN_RATE_LIMITED)
			return hs_drop(d, l->row, ST_SYN_RATE_LIMITED);
	}

	memset(&in, 0, sizeof(in));
	in.mss = p->opt.mss;
	in.has_wscale = p->opt.has_wscale;
	in.wscale = p->opt.wscale;
	in.sack_ok = p->opt.sack_ok && pol->sack;
	in.has_ts = p->opt.has_ts && pol->timestamps;
	in.ecn = hs_ecn_agreed(c, li, p, &in);
	memset(&hs, 0, sizeof(hs));
	hs.t = p->t;
	hs.client_isn = p->seq;
	/* Stateful answers carry a cookie too: their ACK validates even without the entry. */
	if (cookie_make(c->cookies, c->epoch, hs_mss_table(pol, p->t.family), &p->t, p->seq, &in,
	                &hs.our_isn, &hs.our_tsval) < 0)
		return hs_drop(d, l->row, ST_SYNACK_SEND_FAILED); /* no key: the caller's bug */
	hs.opt = p->opt; /* the client's exact MSS and window scale, for the table */
	hs.opt.sack_ok = in.sack_ok;
	hs.opt.has_ts = in.has_ts;
	hs.opt.tsecr = 0;
	hs.ecn = in.ecn;

	if (verdict == POLICY_SYN_STATEFUL) {
		switch (policy_syn_insert(l->ps, &hs, c->now_ms, &existing)) {
		case POLICY_INS_NEW:
			stats_inc(l->row, ST_SYNACK_STATEFUL);
			break;
		case POLICY_INS_RESEND:
			/* the client did not hear us: the same SYN-ACK again */
			stats_inc(l->row, ST_SYNACK_STATEFUL);
			hs = existing.syn;
			break;
		case POLICY_INS_COOKIE:
			break;
		case POLICY_INS_FULL:
			return hs_drop(d, l->row, ST_SYN_HALFOPEN_FULL);
		case POLICY_INS_SOURCE_FULL:
			return hs_drop(d, l->row, ST_SYN_HALFOPEN_SOURCE);
		}
	}
	hs_send(c, l, &hs, l2, d);
}

/* The ACK's handshake ends here (served, or refused for good): its half-open entry goes. */
static void hs_done(const struct hs_listener *l, const struct pkt_tuple *t)
{
	if (l->ps)
		(void)policy_ack_done(l->ps, t);
}

/* What the repair parameters of every valid ACK share; the rest come from its half-open
 * entry or its cookie. */
static void hs_params(const struct pkt_tcp *p, const struct conf_policy *pol,
                      struct repair_params *rp)
{
	memset(rp, 0, sizeof(*rp));
	rp->t = p->t;
	rp->client_isn = p->seq - 1;
	rp->our_isn = p->ack - 1;
	rp->rcv_wscale = pol->wscale;
	rp->ack_window = p->window;
	rp->our_window = HS_SYNACK_WINDOW;
}

static void hs_on_ack(const struct hs_ctx *c, const struct pkt_tcp *p, size_t li, bool has_socket,
                      struct hs_decision *d)
{
	const struct hs_listener *l = &c->ls[li];
	const struct conf_policy *pol = l->pol;
	struct repair_params *rp = &d->rp;
	enum policy_ack how = POLICY_ACK_COOKIE;
	struct halfopen_entry e;
	struct handoff_conn hc;
	enum handoff_admit adm;
	struct cookie_syn cs;
	enum cookie_result r;
	bool allowed;
	int fd;

	if (c->ops->flow_seen(c->arg, &p->t, p->ack))
		return hs_pass(d, l->row, ST_ACK_FLOW_PASSED);
	if (l->ps)
		how = policy_ack(l->ps, &p->t, p->seq, p->ack, &e);
	if (how == POLICY_ACK_DENY)
		return hs_drop(d, l->row, ST_ACK_DENIED);

	hs_params(p, pol, rp);
	if (how == POLICY_ACK_HALFOPEN) {
		/* the table kept what the client offered, exactly */
		rp->mss = e.syn.opt.mss            ? e.syn.opt.mss
		          : p->t.family == AF_INET ? PKT_DEFAULT_MSS4
		                                   : PKT_DEFAULT_MSS6;
		rp->has_wscale = e.syn.opt.has_wscale;
		rp->snd_wscale =
		    e.syn.opt.wscale > PKT_MAX_WSCALE ? PKT_MAX_WSCALE : e.syn.opt.wscale;
		rp->sack_ok = e.syn.opt.sack_ok;
		rp->has_ts = e.syn.opt.has_ts;
		rp->ack_tsecr = e.syn.our_tsval;
		stats_inc(l->row, ST_ACK_VALID);
		stats_inc(l->row, ST_ACK_HALFOPEN);
	} else {
		r = cookie_check(c->cookies, c->epoch, hs_mss_table(pol, p->t.family), &p->t,
		                 p->seq, p->ack, &p->opt, &cs);
		/* Not a handshake, but a socket holds this tuple: typically the TIME_WAIT of a
		 * connection we handed off, awaiting the client's FIN. The kernel answers it
		 * as it would without us. */
		if (r != COOKIE_VALID && has_socket)
			return hs_pass(d, l->row, ST_ACK_FLOW_PASSED);
		if (r != COOKIE_VALID)
			return hs_drop(d, l->row,
			               r == COOKIE_ENOKEY ? ST_ACK_EXPIRED : ST_ACK_INVALID);
		stats_inc(l->row, ST_ACK_VALID);
		rp->mss = cs.mss;
		rp->has_wscale = cs.has_wscale;
		rp->snd_wscale = cs.wscale;
		rp->sack_ok = cs.sack_ok;
		rp->has_ts = cs.has_ts;
		rp->ack_tsecr = p->opt.tsecr;
	}

	/* A place in the accept queue before the socket exists: a full queue costs nothing. */
	memset(&hc, 0, sizeof(hc));
	hc.ls = l->ls;
	hc.t = p->t;
	allowed = l->ps && policy_access_of(l->ps, p->t.family, p->t.saddr) == POLICY_ACCESS_ALLOW;
	adm = c->ops->admit(c->arg, &hc, pol, allowed);
	if (adm != HANDOFF_ADMIT_OK) {
		hs_drop(d, l->row,
		        adm == HANDOFF_ADMIT_BACKLOG ? ST_ACCEPT_OVERFLOW
		        : adm == HANDOFF_ADMIT_CONNS ? ST_CONN_LIMITED
		                                     : ST_SOURCE_CONN_LIMITED);
		if (pol->accept_overflow == CONF_OVERFLOW_DROP)
			return; /* the half-open entry stays: its retransmit asks again */
		/* "reset": the client holds an established connection; tell it it is over */
		fd = c->ops->build_socket(c->arg, rp);
		if (fd >= 0)
			c->ops->reset_fd(c->arg, fd);
		hs_done(l, &p->t);
		return;
	}

	fd = c->ops->build_socket(c->arg, rp);
	if (fd < 0) {
		d->err = errno;
		c->ops->unadmit(c->arg, &hc);
		return hs_drop(d, l->row, ST_REPAIR_FAILED);
	}
	hc.fd = fd;
	if (c->ops->submit(c->arg, &hc) < 0) {
		/* The reset carries our ISN + 1, the state the client already holds. */
		c->ops->reset_fd(c->arg, fd);
		c->ops->unadmit(c->arg, &hc);
		return hs_drop(d, l->row, ST_HANDOFF_FAILED);
	}
	hs_done(l, &p->t);
	d->flows_evicted = c->ops->flow_add(c->arg, &p->t, p->ack);
	d->action = HS_SOCKET;
	d->accept = true;
	d->why = ST_MAX;
}

/* A client's RST: retires its handshake's entry when in sequence (handshake.h). */
static void hs_on_rst(const struct hs_ctx *c, const struct pkt_tcp *p, size_t li,
                      struct hs_decision *d)
{
	const struct hs_listener *l = &c->ls[li];

	if (l->ps && policy_reset(l->ps, &p->t, p->seq, p->flags & PKT_ACK, p->ack))
		return hs_pass(d, l->row, ST_HALFOPEN_RESET);
	hs_pass(d, l->row, ST_PKT_OTHER);
}

/* True when the segment was captured whole and its checksum is wrong. A longer one (data
 * beyond the copy range) goes on unchecked: the kernel checks it after us anyway. */
static bool hs_csum_bad(const uint8_t *data, size_t len, const struct pkt_tcp *p)
{
	if ((size_t)p->l4off + p->tcp_hlen + p->payload_len > len)
		return false;
	return !pkt_tcp_csum_ok(data, len, p);
}

void hs_packet(const struct hs_ctx *c, const uint8_t *data, size_t len, bool csum_unverified,
               bool has_socket, const struct tx_l2 *l2, struct hs_decision *d)
{
	struct pkt_tcp p;
	enum pkt_err err;
	bool syn, ack, rst;
	int li;

	memset(d, 0, sizeof(*d));
	d->listener = -1;
	err = pkt_parse(data, len, PKT_PARSE_PARTIAL, &p);
	if (err != PKT_OK) {
		if ((unsigned)err < PKT_NERR && hs_malformed_stat[err])
			stats_inc(c->unmatched, hs_malformed_stat[err]);
		return hs_drop(d, c->unmatched, ST_PKT_MALFORMED); /* see the top of this file */
	}
	li = conf_match_listener(c->conf, p.t.family, p.t.daddr, p.t.dport);
	if (li < 0)
		return hs_pass(d, c->unmatched, ST_PKT_OTHER);
	d->listener = li;
	syn = (p.flags & (PKT_SYN | PKT_ACK | PKT_RST | PKT_FIN)) == PKT_SYN;
	ack = (p.flags & (PKT_SYN | PKT_ACK | PKT_RST)) == PKT_ACK;
	rst = (p.flags & (PKT_SYN | PKT_RST)) == PKT_RST;
	if (!syn && !ack && !rst) {
		hs_pass(d, c->ls[li].row, ST_PKT_OTHER);
	} else if (csum_unverified && hs_csum_bad(data, len, &p)) {
		hs_drop(d, c->ls[li].row, ST_BAD_CSUM);
	} else if (rst) {
		hs_on_rst(c, &p, (size_t)li, d);
	} else if (syn) {
		hs_on_syn(c, &p, (size_t)li, l2, d);
	} else {
		hs_on_ack(c, &p, (size_t)li, has_socket, d);
	}
	hs_gauge(&c->ls[li]);
}

void hs_timer(const struct hs_ctx *c, size_t li)
{
	const struct hs_listener *l = &c->ls[li];
	struct halfopen_event evs[HS_DUE_BATCH];
	struct pkt_spec s;
	enum mode_event ev;
	size_t k;

	if (!l->ps)
		return;
	do {
		k = policy_due(l->ps, c->now_ms, evs, HS_DUE_BATCH);
		for (size_t i = 0; i < k; i++) {
			if (evs[i].kind == HALFOPEN_RETRANSMIT) {
				stats_inc(l->row, ST_SYNACK_RETRANSMITS);
				/* the route decides: the table keeps no MAC */
				hs_synack(&evs[i].e.syn, l->pol, &s);
				c->ops->send_synack(c->arg, &s, NULL, l->row);
			} else {
				stats_inc(l->row, ST_HALFOPEN_EXPIRED);
			}
		}
	} while (k == HS_DUE_BATCH);
	(void)policy_tick(l->ps, c->now_ms, &ev);
	if (ev != MODE_EV_NONE)
		c->ops->mode_changed(c->arg, li);
	hs_gauge(l);
}

void hs_listener_sync(const struct hs_listener *l)
{
	hs_gauge(l);
}

static enum mode_kind hs_mode_kind(enum conf_mode m)
{
	switch (m) {
	case CONF_MODE_STATEFUL:
		return MODE_STATEFUL;
	case CONF_MODE_AUTO:
		return MODE_AUTO;
	case CONF_MODE_COOKIE:
		break;
	}
	return MODE_COOKIE;
}

void hs_policy_params(const struct conf *c, size_t li, size_t n_threads,
                      const struct cidr_set *access, struct policy_params *pp)
{
	const struct conf_policy *pol = conf_listener_policy(c, li);
	uint32_t n = n_threads ? (uint32_t)n_threads : 1;

	memset(pp, 0, sizeof(*pp));
	pp->kind = hs_mode_kind(pol->mode);
	pp->half_open_capacity = (pol->half_open_max + n - 1) / n;
	pp->half_open_per_source = pol->half_open_per_source;
	pp->rto_ms = HS_SYNACK_RTO_MS;
	pp->synack_retries = pol->synack_retries;
	pp->syn_rate_trigger = pol->syn_rate_trigger ? (pol->syn_rate_trigger + n - 1) / n : 0;
	pp->fill_trigger = pol->half_open_fill_trigger / 100.0;
	pp->calm_ms = pol->auto_calm_time * 1000;
	pp->syn_rate = pol->per_source.syn_rate;
	pp->burst = pol->per_source.burst;
	pp->rate_table_size = pol->per_source.table_size;
	pp->prefix_v4 = pol->per_source.prefix_v4;
	pp->prefix_v6 = pol->per_source.prefix_v6;
	pp->access = access;
}
