/*
 * The handshake decisions (daemon/handshake.h), driven with fake operations
 * and injected time and keys: the classification (malformed kinds, no
 * listener, other flags, bad checksums), every SYN outcome of a policy
 * (deny, rate limit, stateful new / resend / full / source full, cookie,
 * auto falling back to cookies), every ACK outcome (recent flow, deny,
 * half-open, cookie valid / invalid / expired, a socket holding the tuple,
 * admission refused with accept_overflow drop and reset, repair and submit
 * failures), the RST and ECN semantics and the timer, in both families.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "handshake.h"

#define EPOCH   1000
#define NOW_MS  500000
#define FAKE_FD 1234

static const char conf_text[] =
    "listeners = ( { name = \"v4\"; address = \"192.0.2.1\"; port = 80; "
    "backend = \"127.0.0.1:8080\"; },\n"
    " { name = \"v6\"; address = \"2001:db8::1\"; port = 80; backend = \"127.0.0.1:8080\"; } );\n";

/* The same listeners with handoff "local" (ECN can be agreed) and "pass-fd". */
static const char conf_local[] =
    "listeners = ( { name = \"v4\"; address = \"192.0.2.1\"; port = 80; handoff = \"local\"; },\n"
    " { name = \"v6\"; address = \"2001:db8::1\"; port = 80; handoff = \"local\"; } );\n";
static const char conf_passfd[] =
    "listeners = ( { name = \"v4\"; address = \"192.0.2.1\"; port = 80; handoff = \"pass-fd\"; "
    "backend = \"unix:/run/t4.sock\"; },\n"
    " { name = \"v6\"; address = \"2001:db8::1\"; port = 80; handoff = \"pass-fd\"; "
    "backend = \"unix:/run/t6.sock\"; } );\n";

/* What the operations saw. */
struct fake {
	int synacks;
	struct pkt_spec synack;
	const struct tx_l2 *l2;
	struct stats_row *synack_row;
	int builds;
	struct repair_params rp;
	int build_ret, build_errno;
	int admits;
	enum handoff_admit admit_ret;
	bool skip_source;
	int unadmits, submits, submit_ret;
	struct handoff_conn submitted;
	int resets, reset_fd;
	bool flow_seen;
	int flow_adds;
	struct pkt_tuple flow_t;
	uint32_t flow_ack;
	int modes;
	size_t mode_li;
};

struct env {
	struct conf *conf;
	struct cookie_ctx *cookies;
	struct stats_block block;
	struct hs_listener ls[2];
	struct hs_ctx c;
	struct fake f;
	struct cidr_set *access;
	int dummy_ls; /* handoff_listener stand-in: only its address is used */
};

static void f_send_synack(void *arg, const struct pkt_spec *s, const struct tx_l2 *l2,
                          struct stats_row *row)
{
	struct fake *f = arg;

	f->synacks++;
	f->synack = *s;
	f->l2 = l2;
	f->synack_row = row;
}

static int f_build_socket(void *arg, const struct repair_params *rp)
{
	struct fake *f = arg;

	f->builds++;
	f->rp = *rp;
	errno = f->build_errno;
	return f->build_ret;
}

static enum handoff_admit f_admit(void *arg, struct handoff_conn *c, const struct conf_policy *pol,
                                  bool skip_source)
{
	struct fake *f = arg;

	(void)c;
	(void)pol;
	f->admits++;
	f->skip_source = skip_source;
	return f->admit_ret;
}

static void f_unadmit(void *arg, struct handoff_conn *c)
{
	struct fake *f = arg;

	(void)c;
	f->unadmits++;
}

static int f_submit(void *arg, struct handoff_conn *c)
{
	struct fake *f = arg;

	f->submits++;
	f->submitted = *c;
	return f->submit_ret;
}

static void f_reset_fd(void *arg, int fd)
{
	struct fake *f = arg;

	f->resets++;
	f->reset_fd = fd;
}

static bool f_flow_seen(void *arg, const struct pkt_tuple *t, uint32_t ack)
{
	struct fake *f = arg;

	(void)t;
	(void)ack;
	return f->flow_seen;
}

static bool f_flow_add(void *arg, const struct pkt_tuple *t, uint32_t ack)
{
	struct fake *f = arg;

	f->flow_adds++;
	f->flow_t = *t;
	f->flow_ack = ack;
	return false;
}

static void f_mode_changed(void *arg, size_t li)
{
	struct fake *f = arg;

	f->modes++;
	f->mode_li = li;
}

static const struct hs_ops fake_ops = {
    .send_synack = f_send_synack,
    .build_socket = f_build_socket,
    .admit = f_admit,
    .unadmit = f_unadmit,
    .submit = f_submit,
    .reset_fd = f_reset_fd,
    .flow_seen = f_flow_seen,
    .flow_add = f_flow_add,
    .mode_changed = f_mode_changed,
};

static const uint8_t seed[POLICY_SEED_LEN] = {9, 8, 7, 6, 5, 4, 3, 2, 1};

static struct policy_params params(enum mode_kind kind)
{
	struct policy_params p;

	memset(&p, 0, sizeof(p));
	p.kind = kind;
	p.half_open_capacity = 64;
	p.rto_ms = 1000;
	p.synack_retries = 1;
	p.fill_trigger = 1.0;
	p.calm_ms = 5000;
	p.prefix_v4 = 32;
	p.prefix_v6 = 64;
	p.rate_table_size = 1024;
	return p;
}

static struct env *env_new_conf(const char *text)
{
	struct env *e = calloc(1, sizeof(*e));
	uint8_t key[COOKIE_KEY_LEN];
	char err[256];

	assert_non_null(e);
	if (conf_parse(text, "t.conf", &e->conf, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(e->conf->n_listeners, 2);
	e->cookies = cookie_new();
	assert_non_null(e->cookies);
	for (uint32_t ep = EPOCH - 1; ep <= EPOCH; ep++) {
		memset(key, (int)ep, sizeof(key));
		cookie_set_key(e->cookies, ep, key);
	}
	assert_int_equal(stats_block_init(&e->block, 2), 0);
	for (size_t i = 0; i < 2; i++) {
		e->ls[i].ls = (struct handoff_listener *)&e->dummy_ls;
		e->ls[i].pol = &e->conf->policies[e->conf->listeners[i].policy];
		e->ls[i].row = &e->block.rows[i];
	}
	e->c.ops = &fake_ops;
	e->c.arg = &e->f;
	e->c.conf = e->conf;
	e->c.ls = e->ls;
	e->c.unmatched = &e->block.rows[2];
	e->c.cookies = e->cookies;
	e->c.epoch = EPOCH;
	e->c.now_ms = NOW_MS;
	e->f.build_ret = FAKE_FD;
	e->f.admit_ret = HANDOFF_ADMIT_OK;
	return e;
}

static struct env *env_new(void)
{
	return env_new_conf(conf_text);
}

/* Both listeners get a policy of these params (the access set too, when given). */
static void env_policy(struct env *e, struct policy_params p)
{
	p.access = e->access;
	for (size_t i = 0; i < 2; i++) {
		policy_free(e->ls[i].ps);
		e->ls[i].ps = policy_new(&p, seed, NOW_MS);
		assert_non_null(e->ls[i].ps);
	}
}

static void env_access(struct env *e, const char *allow, const char *deny)
{
	struct cidr a, d;
	char err[128];

	memset(&a, 0, sizeof(a));
	memset(&d, 0, sizeof(d));
	if (allow)
		assert_int_equal(cidr_parse(allow, &a, err, sizeof(err)), 0);
	if (deny)
		assert_int_equal(cidr_parse(deny, &d, err, sizeof(err)), 0);
	e->access = policy_access_new(&a, allow ? 1 : 0, &d, deny ? 1 : 0, err, sizeof(err));
	assert_non_null(e->access);
}

static void env_free(struct env *e)
{
	for (size_t i = 0; i < 2; i++)
		policy_free(e->ls[i].ps);
	cidr_set_free(e->access);
	stats_block_free(&e->block);
	cookie_free(e->cookies);
	conf_free(e->conf);
	free(e);
}

static uint64_t st(const struct env *e, int family, enum stats_id id)
{
	return e->block.rows[family == AF_INET ? 0 : 1].v[id];
}

/* A client's segment: 198.51.100.7 or 2001:db8::7, port sport, to the family's listener. */
struct seg {
	int family;
	uint16_t sport;
	uint16_t dport;
	uint8_t flags;
	uint32_t seq, ack;
	uint16_t window;
	struct pkt_tcpopts opt;
};

static struct seg seg_of(int family, uint8_t flags, uint32_t seq, uint32_t ack)
{
	struct seg s;

	memset(&s, 0, sizeof(s));
	s.family = family;
	s.sport = 40000;
	s.dport = 80;
	s.flags = flags;
	s.seq = seq;
	s.ack = ack;
	s.window = 29200;
	return s;
}

static size_t seg_build(const struct seg *g, uint8_t *buf, size_t cap)
{
	struct pkt_spec s;
	size_t n;

	memset(&s, 0, sizeof(s));
	s.t.family = (uint8_t)g->family;
	if (g->family == AF_INET) {
		inet_pton(AF_INET, "198.51.100.7", s.t.saddr);
		inet_pton(AF_INET, "192.0.2.1", s.t.daddr);
	} else {
		inet_pton(AF_INET6, "2001:db8::7", s.t.saddr);
		inet_pton(AF_INET6, "2001:db8::1", s.t.daddr);
	}
	s.t.sport = g->sport;
	s.t.dport = g->dport;
	s.seq = g->seq;
	s.ack = g->ack;
	s.window = g->window;
	s.flags = g->flags;
	s.opt = g->opt;
	n = pkt_build(buf, cap, &s);
	assert_true(n > 0);
	return n;
}

static struct hs_decision run(struct env *e, const struct seg *g, bool has_socket)
{
	static const struct tx_l2 l2 = {.ifindex = 3, .mac = {2, 0, 0, 0, 0, 7}};
	uint8_t buf[PKT_BUILD_MAX];
	struct hs_decision d;
	size_t n = seg_build(g, buf, sizeof(buf));

	hs_packet(&e->c, buf, n, true, has_socket, &l2, &d);
	return d;
}

static struct pkt_tcpopts full_opts(void)
{
	struct pkt_tcpopts o;

	memset(&o, 0, sizeof(o));
	o.mss = 1400;
	o.has_wscale = true;
	o.wscale = 7;
	o.sack_ok = true;
	o.has_ts = true;
	o.tsval = 777;
	return o;
}

/* Field by field: the structs have padding. */
static void assert_spec_equal(const struct pkt_spec *a, const struct pkt_spec *b)
{
	assert_int_equal(a->t.family, b->t.family);
	assert_memory_equal(a->t.saddr, b->t.saddr, sizeof(a->t.saddr));
	assert_memory_equal(a->t.daddr, b->t.daddr, sizeof(a->t.daddr));
	assert_int_equal(a->t.sport, b->t.sport);
	assert_int_equal(a->t.dport, b->t.dport);
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->ack, b->ack);
	assert_int_equal(a->window, b->window);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->ttl, b->ttl);
	assert_int_equal(a->opt.mss, b->opt.mss);
	assert_int_equal(a->opt.has_wscale, b->opt.has_wscale);
	assert_int_equal(a->opt.wscale, b->opt.wscale);
	assert_int_equal(a->opt.sack_ok, b->opt.sack_ok);
	assert_int_equal(a->opt.has_ts, b->opt.has_ts);
	assert_int_equal(a->opt.tsval, b->opt.tsval);
	assert_int_equal(a->opt.tsecr, b->opt.tsecr);
}

/* SYN with the given options; returns the SYN-ACK sent. */
static struct pkt_spec do_syn(struct env *e, int family, uint32_t isn, struct pkt_tcpopts opt)
{
	struct seg g = seg_of(family, PKT_SYN, isn, 0);
	struct hs_decision d;
	int before = e->f.synacks;

	g.opt = opt;
	d = run(e, &g, false);
	assert_int_equal(d.action, HS_SYNACK);
	assert_false(d.accept);
	assert_int_equal(e->f.synacks, before + 1);
	assert_spec_equal(&d.synack, &e->f.synack);
	return d.synack;
}

/* The ACK completing the handshake of synack. */
static struct seg ack_of(int family, const struct pkt_spec *synack)
{
	struct seg g = seg_of(family, PKT_ACK, synack->ack, synack->seq + 1);

	if (synack->opt.has_ts) {
		g.opt.has_ts = true;
		g.opt.tsval = 778;
		g.opt.tsecr = synack->opt.tsval;
	}
	return g;
}

static const int families[] = {AF_INET, AF_INET6};

/* ---- SYNs ---- */

static void test_syn_cookie(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct env *e = env_new();
		int fam = families[k];
		struct pkt_spec s = do_syn(e, fam, 5000, full_opts());
		struct seg g = seg_of(fam, PKT_SYN, 5000, 0);
		uint8_t buf[PKT_BUILD_MAX];

		(void)seg_build(&g, buf, sizeof(buf));
		assert_int_equal(s.t.family, fam);
		assert_int_equal(s.t.sport, 80);
		assert_int_equal(s.t.dport, 40000);
		assert_memory_equal(s.t.saddr, buf + (fam == AF_INET ? 16 : 24),
		                    fam == AF_INET ? 4 : 16);
		assert_int_equal(s.ack, 5001);
		assert_int_equal(s.window, HS_SYNACK_WINDOW);
		assert_int_equal(s.flags, PKT_SYN | PKT_ACK);
		assert_int_equal(s.opt.mss, fam == AF_INET ? HS_OUR_MSS4 : HS_OUR_MSS6);
		assert_true(s.opt.has_wscale);
		assert_int_equal(s.opt.wscale, e->ls[0].pol->wscale);
		assert_true(s.opt.sack_ok);
		assert_true(s.opt.has_ts);
		assert_int_equal(s.opt.tsecr, 777);
		assert_non_null(e->f.l2);
		assert_int_equal(e->f.l2->ifindex, 3);
		assert_ptr_equal(e->f.synack_row, e->ls[k].row);
		assert_int_equal(st(e, fam, ST_SYN_RECEIVED), 1);
		assert_int_equal(st(e, fam, ST_SYNACK_STATEFUL), 0);
		env_free(e);
	}
}

/* Our MSS is capped by the table's largest entry; options the policy refuses are not offered. */
static void test_syn_policy_options(void **state)
{
	struct env *e = env_new();
	struct conf_policy *pol = &e->conf->policies[0];
	struct pkt_spec s;

	(void)state;
	pol->mss[3] = 1300;
	pol->sack = false;
	pol->timestamps = false;
	s = do_syn(e, AF_INET, 1, full_opts());
	assert_int_equal(s.opt.mss, 1300);
	assert_false(s.opt.sack_ok);
	assert_false(s.opt.has_ts);
	env_free(e);
}

static void test_syn_deny(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct env *e = env_new();
		int fam = families[k];
		struct seg g = seg_of(fam, PKT_SYN, 1, 0);
		struct hs_decision d;

		env_access(e, NULL, fam == AF_INET ? "198.51.100.0/24" : "2001:db8::/64");
		env_policy(e, params(MODE_STATEFUL));
		d = run(e, &g, false);
		assert_int_equal(d.action, HS_DROP);
		assert_false(d.accept);
		assert_int_equal(d.why, ST_SYN_DENIED);
		assert_int_equal(st(e, fam, ST_SYN_DENIED), 1);
		assert_int_equal(e->f.synacks, 0);
		assert_int_equal(st(e, fam, ST_HALFOPEN_ENTRIES), 0);
		env_free(e);
	}
}

static void test_syn_rate_limited(void **state)
{
	struct env *e = env_new();
	struct policy_params p = params(MODE_COOKIE);
	struct seg g = seg_of(AF_INET6, PKT_SYN, 1, 0);
	struct hs_decision d;

	(void)state;
	p.syn_rate = 1;
	p.burst = 1;
	env_policy(e, p);
	(void)do_syn(e, AF_INET6, 1, full_opts());
	g.sport = 40001;
	d = run(e, &g, false);
	assert_int_equal(d.action, HS_DROP);
	assert_int_equal(d.why, ST_SYN_RATE_LIMITED);
	assert_int_equal(st(e, AF_INET6, ST_SYN_RATE_LIMITED), 1);
	assert_int_equal(e->f.synacks, 1);
	env_free(e);
}

static void test_syn_stateful_new_resend(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct env *e = env_new();
		int fam = families[k];
		struct pkt_spec a, b;

		env_policy(e, params(MODE_STATEFUL));
		a = do_syn(e, fam, 700, full_opts());
		assert_int_equal(st(e, fam, ST_SYNACK_STATEFUL), 1);
		assert_int_equal(st(e, fam, ST_HALFOPEN_ENTRIES), 1);
		/* the client did not hear us: the same SYN-ACK again, still one entry */
		e->c.now_ms += 300;
		b = do_syn(e, fam, 700, full_opts());
		assert_spec_equal(&a, &b);
		assert_int_equal(st(e, fam, ST_SYNACK_STATEFUL), 2);
		assert_int_equal(st(e, fam, ST_HALFOPEN_ENTRIES), 1);
		env_free(e);
	}
}

static void test_syn_stateful_full(void **state)
{
	struct env *e = env_new();
	struct policy_params p = params(MODE_STATEFUL);
	struct seg g = seg_of(AF_INET, PKT_SYN, 1, 0);
	struct hs_decision d;

	(void)state;
	p.half_open_capacity = 1;
	env_policy(e, p);
	(void)do_syn(e, AF_INET, 1, full_opts());
	g.sport = 40001;
	d = run(e, &g, false);
	assert_int_equal(d.action, HS_DROP);
	assert_int_equal(d.why, ST_SYN_HALFOPEN_FULL);
	assert_int_equal(st(e, AF_INET, ST_SYN_HALFOPEN_FULL), 1);
	assert_int_equal(e->f.synacks, 1);
	env_free(e);
}

static void test_syn_stateful_source_full(void **state)
{
	struct env *e = env_new();
	struct policy_params p = params(MODE_STATEFUL);
	struct seg g = seg_of(AF_INET6, PKT_SYN, 1, 0);
	struct hs_decision d;

	(void)state;
	p.half_open_per_source = 1;
	env_policy(e, p);
	(void)do_syn(e, AF_INET6, 1, full_opts());
	g.sport = 40001;
	d = run(e, &g, false);
	assert_int_equal(d.action, HS_DROP);
	assert_int_equal(d.why, ST_SYN_HALFOPEN_SOURCE);
	assert_int_equal(st(e, AF_INET6, ST_SYN_HALFOPEN_SOURCE), 1);
	assert_int_equal(st(e, AF_INET6, ST_HALFOPEN_ENTRIES), 1);
	env_free(e);
}

/* Mode auto: a full table switches to cookies (the owner is told) and the SYN still gets an
 * answer, from its cookie alone. */
static void test_syn_auto_to_cookie(void **state)
{
	struct env *e = env_new();
	struct policy_params p = params(MODE_AUTO);

	(void)state;
	p.half_open_capacity = 1;
	env_policy(e, p);
	(void)do_syn(e, AF_INET, 1, full_opts());
	assert_int_equal(e->f.modes, 0);
	assert_int_equal(st(e, AF_INET, ST_SYNACK_STATEFUL), 1);
	e->c.now_ms += 10;
	{
		struct seg g = seg_of(AF_INET, PKT_SYN, 2, 0);
		struct hs_decision d;

		g.sport = 40001;
		d = run(e, &g, false);
		assert_int_equal(d.action, HS_SYNACK);
	}
	assert_int_equal(e->f.modes, 1);
	assert_int_equal(e->f.mode_li, 0);
	assert_int_equal(st(e, AF_INET, ST_SYNACK_STATEFUL), 1);
	assert_int_equal(st(e, AF_INET, ST_HALFOPEN_ENTRIES), 1);
	env_free(e);
}

/*
 * Proxy and pass-fd listeners answer an ECN-setup SYN (ECE and CWR) without ECE or CWR, even
 * with timestamps and a host that accepts ECN: their repaired socket cannot keep ECN (see
 * handshake.h).
 */
static void test_syn_ecn_setup(void **state)
{
	(void)state;
	for (int passfd = 0; passfd < 2; passfd++) {
		for (size_t k = 0; k < 2; k++) {
			for (int stateful = 0; stateful < 2; stateful++) {
				struct env *e = env_new_conf(passfd ? conf_passfd : conf_text);
				int fam = families[k];
				struct seg g = seg_of(fam, PKT_SYN | PKT_ECE | PKT_CWR, 42, 0);
				struct hs_decision d;

				e->c.host_ecn = true;
				if (stateful)
					env_policy(e, params(MODE_STATEFUL));
				g.opt = full_opts();
				d = run(e, &g, false);
				assert_int_equal(d.action, HS_SYNACK);
				assert_int_equal(d.synack.flags, PKT_SYN | PKT_ACK);
				assert_int_equal(e->f.synack.flags & (PKT_ECE | PKT_CWR), 0);
				assert_int_equal(d.synack.opt.tsval & COOKIE_TS_ECN, 0);
				assert_false(d.ecn);
				env_free(e);
			}
		}
	}
}

/*
 * Handoff "local": an ECN-setup SYN with timestamps, on a host that accepts ECN, gets an
 * ECN-setup SYN-ACK (ECE, not CWR) whose TSval carries the ECN bit, so the ACK's cookie
 * tells the kernel; a stateful entry's retransmit says the same.
 */
static void test_syn_ecn_local(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		for (int stateful = 0; stateful < 2; stateful++) {
			struct env *e = env_new_conf(conf_local);
			int fam = families[k];
			struct seg g = seg_of(fam, PKT_SYN | PKT_ECE | PKT_CWR, 42, 0);
			const struct conf_policy *pol = e->ls[k].pol;
			struct pkt_tcpopts ack_opt;
			struct cookie_syn out;
			struct hs_decision d;
			struct pkt_tuple t;

			e->c.host_ecn = true;
			if (stateful)
				env_policy(e, params(MODE_STATEFUL));
			g.opt = full_opts();
			d = run(e, &g, false);
			assert_int_equal(d.action, HS_SYNACK);
			assert_true(d.ecn);
			assert_int_equal(d.synack.flags, PKT_SYN | PKT_ACK | PKT_ECE);
			assert_int_equal(e->f.synack.flags, PKT_SYN | PKT_ACK | PKT_ECE);
			assert_int_equal(d.synack.opt.tsval & COOKIE_TS_ECN, COOKIE_TS_ECN);
			assert_int_equal(st(e, fam, ST_SYNACK_STATEFUL), stateful ? 1 : 0);

			/* the ACK echoing it: the cookie says ECN */
			memset(&ack_opt, 0, sizeof(ack_opt));
			ack_opt.has_ts = true;
			ack_opt.tsecr = d.synack.opt.tsval;
			t = d.synack.t;
			memcpy(t.saddr, d.synack.t.daddr, sizeof(t.saddr));
			memcpy(t.daddr, d.synack.t.saddr, sizeof(t.daddr));
			t.sport = d.synack.t.dport;
			t.dport = d.synack.t.sport;
			assert_int_equal(cookie_check(e->cookies, EPOCH,
			                              fam == AF_INET ? pol->mss : pol->mss6, &t, 43,
			                              d.synack.seq + 1, &ack_opt, &out),
			                 COOKIE_VALID);
			assert_true(out.ecn);

			if (stateful) {
				e->c.now_ms += 1000;
				hs_timer(&e->c, k);
				assert_int_equal(e->f.synacks, 2);
				assert_spec_equal(&e->f.synack, &d.synack);
				assert_int_equal(e->f.synack.flags, PKT_SYN | PKT_ACK | PKT_ECE);
			}
			env_free(e);
		}
	}
}

/* Handoff "local" answers without ECE whenever one condition is missing (handshake.h). */
static void test_syn_ecn_local_refused(void **state)
{
	enum {
		NO_HOST_ECN,
		NO_TS,
		POLICY_NO_TS,
		ECE_ONLY,
		CWR_ONLY,
		NO_ECN_ASKED,
		ECT_SYN,
		NCASES
	};
	static const char *const names[NCASES] = {"host refuses ECN",
	                                          "SYN without timestamps",
	                                          "policy without timestamps",
	                                          "ECE only",
	                                          "CWR only",
	                                          "no ECN asked",
	                                          "ECT(0) SYN"};

	(void)state;
	for (int c = 0; c < NCASES; c++) {
		for (size_t k = 0; k < 2; k++) {
			struct env *e = env_new_conf(conf_local);
			int fam = families[k];
			uint8_t flags =
			    PKT_SYN | (c == CWR_ONLY ? 0 : PKT_ECE) | (c == ECE_ONLY ? 0 : PKT_CWR);
			struct seg g;
			struct hs_decision d;

			if (c == NO_ECN_ASKED)
				flags = PKT_SYN;
			g = seg_of(fam, flags, 42, 0);
			e->c.host_ecn = c != NO_HOST_ECN;
			g.opt = full_opts();
			if (c == NO_TS)
				g.opt.has_ts = false;
			if (c == POLICY_NO_TS)
				e->conf->policies[e->conf->listeners[k].policy].timestamps = false;
			if (c == ECT_SYN) {
				uint8_t buf[PKT_BUILD_MAX];
				size_t n = seg_build(&g, buf, sizeof(buf));

				/* ECT(0): the TCP checksum does not cover it, nor does
				 * anything here check IPv4's header checksum */
				if (fam == AF_INET)
					buf[1] |= 0x2;
				else
					buf[1] |= 0x2 << 4;
				hs_packet(&e->c, buf, n, true, false, NULL, &d);
			} else {
				d = run(e, &g, false);
			}
			assert_int_equal(d.action, HS_SYNACK);
			if (d.ecn || d.synack.flags != (PKT_SYN | PKT_ACK) ||
			    (d.synack.opt.tsval & COOKIE_TS_ECN))
				fail_msg("%s (IPv%d): answered with ECN", names[c],
				         fam == AF_INET ? 4 : 6);
			assert_int_equal(d.synack.opt.has_ts, c < NO_TS || c > POLICY_NO_TS);
			env_free(e);
		}
	}
}

/* ---- ACKs ---- */

static void test_ack_halfopen(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct env *e = env_new();
		int fam = families[k];
		struct pkt_spec s;
		struct seg g;
		struct hs_decision d;

		env_policy(e, params(MODE_STATEFUL));
		s = do_syn(e, fam, 9000, full_opts());
		g = ack_of(fam, &s);
		g.window = 501;
		d = run(e, &g, false);
		assert_int_equal(d.action, HS_SOCKET);
		assert_true(d.accept);
		assert_int_equal(e->f.builds, 1);
		assert_int_equal(e->f.rp.our_isn, d.rp.our_isn);
		assert_int_equal(e->f.rp.mss, d.rp.mss);
		assert_int_equal(d.rp.t.family, fam);
		assert_int_equal(d.rp.t.sport, 40000);
		assert_int_equal(d.rp.client_isn, 9000);
		assert_int_equal(d.rp.our_isn, s.seq);
		assert_int_equal(d.rp.mss, 1400); /* the client's exact MSS, not a table entry */
		assert_true(d.rp.has_wscale);
		assert_int_equal(d.rp.snd_wscale, 7);
		assert_int_equal(d.rp.rcv_wscale, e->ls[k].pol->wscale);
		assert_true(d.rp.sack_ok);
		assert_true(d.rp.has_ts);
		assert_int_equal(d.rp.ack_tsecr, s.opt.tsval);
		assert_int_equal(d.rp.ack_window, 501);
		assert_int_equal(d.rp.our_window, HS_SYNACK_WINDOW);
		assert_int_equal(st(e, fam, ST_ACK_VALID), 1);
		assert_int_equal(st(e, fam, ST_ACK_HALFOPEN), 1);
		assert_int_equal(st(e, fam, ST_HALFOPEN_ENTRIES), 0);
		assert_int_equal(e->f.admits, 1);
		assert_false(e->f.skip_source);
		assert_int_equal(e->f.submits, 1);
		assert_int_equal(e->f.submitted.fd, FAKE_FD);
		assert_ptr_equal(e->f.submitted.ls, e->ls[k].ls);
		assert_memory_equal(e->f.submitted.t.saddr, d.rp.t.saddr, sizeof(d.rp.t.saddr));
		assert_int_equal(e->f.submitted.t.sport, d.rp.t.sport);
		assert_int_equal(e->f.flow_adds, 1);
		assert_int_equal(e->f.flow_ack, s.seq + 1);
		assert_int_equal(e->f.resets + e->f.unadmits, 0);
		env_free(e);
	}
}

/* A client that sent no MSS gets the protocol's default; a window scale above the
 * maximum is read as the maximum. */
static void test_ack_halfopen_defaults(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct env *e = env_new();
		int fam = families[k];
		struct pkt_tcpopts o;
		struct pkt_spec s;
		struct seg g;
		struct hs_decision d;

		memset(&o, 0, sizeof(o));
		o.has_wscale = true;
		o.wscale = 15;
		env_policy(e, params(MODE_STATEFUL));
		s = do_syn(e, fam, 1, o);
		assert_false(s.opt.has_ts);
		g = ack_of(fam, &s);
		d = run(e, &g, false);
		assert_int_equal(d.action, HS_SOCKET);
		assert_int_equal(d.rp.mss, fam == AF_INET ? PKT_DEFAULT_MSS4 : PKT_DEFAULT_MSS6);
		assert_int_equal(PKT_DEFAULT_MSS4 + PKT_DEFAULT_MSS6, 536 + 1220);
		assert_int_equal(d.rp.snd_wscale, PKT_MAX_WSCALE);
		assert_false(d.rp.sack_ok);
		assert_false(d.rp.has_ts);
		env_free(e);
	}
}

static void test_ack_cookie_valid(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct env *e = env_new();
		int fam = families[k];
		struct pkt_spec s = do_syn(e, fam, 31337, full_opts());
		struct seg g = ack_of(fam, &s);
		struct hs_decision d;

		d = run(e, &g, false);
		assert_int_equal(d.action, HS_SOCKET);
		assert_true(d.accept);
		/* the cookie's MSS: the table's largest entry not above the client's */
		assert_int_equal(d.rp.mss, fam == AF_INET ? 1300 : 1220);
		assert_true(d.rp.has_wscale);
		assert_int_equal(d.rp.snd_wscale, 7);
		assert_true(d.rp.sack_ok);
		assert_true(d.rp.has_ts);
		assert_int_equal(d.rp.ack_tsecr, s.opt.tsval);
		assert_int_equal(st(e, fam, ST_ACK_VALID), 1);
		assert_int_equal(st(e, fam, ST_ACK_HALFOPEN), 0);
		assert_int_equal(e->f.submits, 1);
		assert_int_equal(e->f.flow_adds, 1);
		env_free(e);
	}
}

static void test_ack_cookie_invalid(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct env *e = env_new();
		int fam = families[k];
		struct pkt_spec s = do_syn(e, fam, 5, full_opts());
		struct seg g = ack_of(fam, &s);
		struct hs_decision d;

		g.ack ^= 0x100; /* a forged cookie */
		d = run(e, &g, false);
		assert_int_equal(d.action, HS_DROP);
		assert_false(d.accept);
		assert_int_equal(d.why, ST_ACK_INVALID);
		assert_int_equal(st(e, fam, ST_ACK_INVALID), 1);
		assert_int_equal(e->f.admits + e->f.builds, 0);
		/* a socket holds the tuple (a TIME_WAIT): the kernel gets it */
		d = run(e, &g, true);
		assert_int_equal(d.action, HS_PASS);
		assert_true(d.accept);
		assert_int_equal(d.why, ST_ACK_FLOW_PASSED);
		assert_int_equal(st(e, fam, ST_ACK_FLOW_PASSED), 1);
		env_free(e);
	}
}

static void test_ack_cookie_expired(void **state)
{
	struct env *e = env_new();
	struct pkt_spec s = do_syn(e, AF_INET, 5, full_opts());
	struct seg g = ack_of(AF_INET, &s);
	struct hs_decision d;

	(void)state;
	/* two epochs later, the rotation not yet done: no key for the cookie's epoch */
	e->c.epoch = EPOCH + 2;
	d = run(e, &g, false);
	assert_int_equal(d.action, HS_DROP);
	assert_int_equal(d.why, ST_ACK_EXPIRED);
	assert_int_equal(st(e, AF_INET, ST_ACK_EXPIRED), 1);
	/* one epoch later it still validates */
	e->c.epoch = EPOCH + 1;
	d = run(e, &g, false);
	assert_int_equal(d.action, HS_SOCKET);
	env_free(e);
}

static void test_ack_recent_flow(void **state)
{
	struct env *e = env_new();
	struct seg g = seg_of(AF_INET6, PKT_ACK, 1, 2);
	struct hs_decision d;

	(void)state;
	e->f.flow_seen = true;
	d = run(e, &g, false);
	assert_int_equal(d.action, HS_PASS);
	assert_true(d.accept);
	assert_int_equal(d.why, ST_ACK_FLOW_PASSED);
	assert_int_equal(st(e, AF_INET6, ST_ACK_FLOW_PASSED), 1);
	assert_int_equal(e->f.admits, 0);
	env_free(e);
}

static void test_ack_denied(void **state)
{
	struct env *e = env_new();
	struct pkt_spec s = do_syn(e, AF_INET, 5, full_opts());
	struct seg g = ack_of(AF_INET, &s);
	struct hs_decision d;

	(void)state;
	/* a valid cookie, but the source is denied since */
	env_access(e, NULL, "198.51.100.7/32");
	env_policy(e, params(MODE_COOKIE));
	d = run(e, &g, false);
	assert_int_equal(d.action, HS_DROP);
	assert_int_equal(d.why, ST_ACK_DENIED);
	assert_int_equal(st(e, AF_INET, ST_ACK_DENIED), 1);
	assert_int_equal(e->f.admits, 0);
	env_free(e);
}

static void test_ack_allow_listed_skips_source_cap(void **state)
{
	struct env *e = env_new();
	struct pkt_spec s;
	struct seg g;

	(void)state;
	env_access(e, "2001:db8::/64", NULL);
	env_policy(e, params(MODE_COOKIE));
	s = do_syn(e, AF_INET6, 5, full_opts());
	g = ack_of(AF_INET6, &s);
	assert_int_equal(run(e, &g, false).action, HS_SOCKET);
	assert_true(e->f.skip_source);
	env_free(e);
}

/* Refused admission, accept_overflow "drop": nothing built, the entry stays. */
static void test_ack_admission_drop(void **state)
{
	static const struct {
		enum handoff_admit adm;
		enum stats_id id;
	} cases[] = {
	    {HANDOFF_ADMIT_BACKLOG, ST_ACCEPT_OVERFLOW},
	    {HANDOFF_ADMIT_CONNS, ST_CONN_LIMITED},
	    {HANDOFF_ADMIT_SOURCE, ST_SOURCE_CONN_LIMITED},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct env *e = env_new();
		struct pkt_spec s;
		struct seg g;
		struct hs_decision d;

		env_policy(e, params(MODE_STATEFUL));
		e->conf->policies[0].accept_overflow = CONF_OVERFLOW_DROP;
		s = do_syn(e, AF_INET, 5, full_opts());
		g = ack_of(AF_INET, &s);
		e->f.admit_ret = cases[i].adm;
		d = run(e, &g, false);
		assert_int_equal(d.action, HS_DROP);
		assert_int_equal(d.why, cases[i].id);
		assert_int_equal(st(e, AF_INET, cases[i].id), 1);
		assert_int_equal(e->f.builds + e->f.resets + e->f.submits, 0);
		assert_int_equal(st(e, AF_INET, ST_HALFOPEN_ENTRIES), 1);
		/* the retransmitted ACK, once there is room, is served from the entry */
		e->f.admit_ret = HANDOFF_ADMIT_OK;
		d = run(e, &g, false);
		assert_int_equal(d.action, HS_SOCKET);
		assert_int_equal(st(e, AF_INET, ST_ACK_HALFOPEN), 2);
		env_free(e);
	}
}

/* Refused admission, accept_overflow "reset": a socket built only to be reset; the entry
 * goes. */
static void test_ack_admission_reset(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct env *e = env_new();
		int fam = families[k];
		struct pkt_spec s;
		struct seg g;
		struct hs_decision d;

		env_policy(e, params(MODE_STATEFUL));
		e->conf->policies[0].accept_overflow = CONF_OVERFLOW_RESET;
		s = do_syn(e, fam, 5, full_opts());
		g = ack_of(fam, &s);
		e->f.admit_ret = HANDOFF_ADMIT_BACKLOG;
		d = run(e, &g, false);
		assert_int_equal(d.action, HS_DROP);
		assert_false(d.accept);
		assert_int_equal(d.why, ST_ACCEPT_OVERFLOW);
		assert_int_equal(e->f.builds, 1);
		assert_int_equal(e->f.rp.our_isn, s.seq);
		assert_int_equal(e->f.resets, 1);
		assert_int_equal(e->f.reset_fd, FAKE_FD);
		assert_int_equal(e->f.submits + e->f.unadmits, 0);
		assert_int_equal(st(e, fam, ST_HALFOPEN_ENTRIES), 0);
		env_free(e);
	}
}

static void test_ack_repair_failed(void **state)
{
	struct env *e = env_new();
	struct pkt_spec s;
	struct seg g;
	struct hs_decision d;

	(void)state;
	env_policy(e, params(MODE_STATEFUL));
	s = do_syn(e, AF_INET6, 5, full_opts());
	g = ack_of(AF_INET6, &s);
	e->f.build_ret = -1;
	e->f.build_errno = EPERM;
	d = run(e, &g, false);
	assert_int_equal(d.action, HS_DROP);
	assert_int_equal(d.why, ST_REPAIR_FAILED);
	assert_int_equal(d.err, EPERM);
	assert_int_equal(d.listener, 1);
	assert_int_equal(st(e, AF_INET6, ST_REPAIR_FAILED), 1);
	assert_int_equal(e->f.unadmits, 1);
	assert_int_equal(e->f.submits + e->f.resets + e->f.flow_adds, 0);
	assert_int_equal(st(e, AF_INET6, ST_HALFOPEN_ENTRIES), 1);
	env_free(e);
}

static void test_ack_submit_failed(void **state)
{
	struct env *e = env_new();
	struct pkt_spec s = do_syn(e, AF_INET, 5, full_opts());
	struct seg g = ack_of(AF_INET, &s);
	struct hs_decision d;

	(void)state;
	e->f.submit_ret = -1;
	d = run(e, &g, false);
	assert_int_equal(d.action, HS_DROP);
	assert_int_equal(d.why, ST_HANDOFF_FAILED);
	assert_int_equal(st(e, AF_INET, ST_HANDOFF_FAILED), 1);
	assert_int_equal(e->f.resets, 1);
	assert_int_equal(e->f.reset_fd, FAKE_FD);
	assert_int_equal(e->f.unadmits, 1);
	assert_int_equal(e->f.flow_adds, 0);
	env_free(e);
}

/* ---- RST ---- */

/* A RST in sequence retires the entry (with or without ACK); one out of sequence does not.
 * The ACK that follows no longer comes from the entry but still validates by cookie. */
static void test_rst_retires_entry(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		for (int with_ack = 0; with_ack < 2; with_ack++) {
			struct env *e = env_new();
			int fam = families[k];
			uint8_t flags = PKT_RST | (with_ack ? PKT_ACK : 0);
			struct pkt_spec s;
			struct seg g;
			struct hs_decision d;

			env_policy(e, params(MODE_STATEFUL));
			s = do_syn(e, fam, 8000, full_opts());
			/* blind: a wrong sequence number */
			g = seg_of(fam, flags, 8000 + 2, with_ack ? s.seq + 1 : 0);
			d = run(e, &g, false);
			assert_int_equal(d.action, HS_PASS);
			assert_true(d.accept);
			assert_int_equal(d.why, ST_PKT_OTHER);
			assert_int_equal(st(e, fam, ST_HALFOPEN_ENTRIES), 1);
			if (with_ack) {
				/* right sequence, wrong acknowledgment */
				g = seg_of(fam, flags, 8001, s.seq + 2);
				d = run(e, &g, false);
				assert_int_equal(d.why, ST_PKT_OTHER);
				assert_int_equal(st(e, fam, ST_HALFOPEN_ENTRIES), 1);
			}
			g = seg_of(fam, flags, 8001, with_ack ? s.seq + 1 : 0);
			d = run(e, &g, false);
			assert_int_equal(d.action, HS_PASS);
			assert_true(d.accept);
			assert_int_equal(d.why, ST_HALFOPEN_RESET);
			assert_int_equal(st(e, fam, ST_HALFOPEN_RESET), 1);
			assert_int_equal(st(e, fam, ST_HALFOPEN_ENTRIES), 0);
			/* no retransmit for a retired entry */
			e->c.now_ms += 5000;
			hs_timer(&e->c, (size_t)k);
			assert_int_equal(e->f.synacks, 1);
			g = ack_of(fam, &s);
			d = run(e, &g, false);
			assert_int_equal(d.action, HS_SOCKET);
			assert_int_equal(st(e, fam, ST_ACK_HALFOPEN), 0);
			assert_int_equal(st(e, fam, ST_ACK_VALID), 1);
			env_free(e);
		}
	}
}

/* A RST whose checksum the kernel has not verified yet, and which is wrong, retires
 * nothing: the kernel would drop it. */
static void test_rst_bad_checksum(void **state)
{
	struct env *e = env_new();
	struct pkt_spec s;
	struct seg g;
	uint8_t buf[PKT_BUILD_MAX];
	size_t n;
	struct hs_decision d;

	(void)state;
	env_policy(e, params(MODE_STATEFUL));
	s = do_syn(e, AF_INET6, 8000, full_opts());
	g = seg_of(AF_INET6, PKT_RST | PKT_ACK, 8001, s.seq + 1);
	n = seg_build(&g, buf, sizeof(buf));
	buf[n - 1] ^= 0x5a;
	hs_packet(&e->c, buf, n, true, false, NULL, &d);
	assert_int_equal(d.action, HS_DROP);
	assert_int_equal(d.why, ST_BAD_CSUM);
	assert_int_equal(st(e, AF_INET6, ST_HALFOPEN_ENTRIES), 1);
	assert_int_equal(st(e, AF_INET6, ST_HALFOPEN_RESET), 0);
	env_free(e);
}

/* In cookie mode there is nothing to retire: the RST goes on, counted as other. */
static void test_rst_cookie_mode(void **state)
{
	struct env *e = env_new();
	struct pkt_spec s = do_syn(e, AF_INET, 8000, full_opts());
	struct seg g = seg_of(AF_INET, PKT_RST, 8001, 0);
	struct hs_decision d;

	(void)state;
	(void)s;
	d = run(e, &g, false);
	assert_int_equal(d.action, HS_PASS);
	assert_int_equal(d.why, ST_PKT_OTHER);
	assert_int_equal(st(e, AF_INET, ST_HALFOPEN_RESET), 0);
	env_free(e);
}

/* ---- classification ---- */

static void test_bad_checksum(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		for (int is_ack = 0; is_ack < 2; is_ack++) {
			struct env *e = env_new();
			int fam = families[k];
			struct seg g = seg_of(fam, is_ack ? PKT_ACK : PKT_SYN, 1, is_ack ? 2 : 0);
			uint8_t buf[PKT_BUILD_MAX];
			size_t n = seg_build(&g, buf, sizeof(buf));
			struct hs_decision d;

			buf[n - 1] ^= 0xff; /* the last byte of the TCP header */
			buf[n - 2] ^= 0x01;
			hs_packet(&e->c, buf, n, true, false, NULL, &d);
			assert_int_equal(d.action, HS_DROP);
			assert_int_equal(d.why, ST_BAD_CSUM);
			assert_int_equal(st(e, fam, ST_BAD_CSUM), 1);
			assert_int_equal(e->f.synacks + e->f.admits, 0);
			/* verified by the kernel already: not ours to check */
			hs_packet(&e->c, buf, n, false, false, NULL, &d);
			assert_int_not_equal(d.why, ST_BAD_CSUM);
			env_free(e);
		}
	}
}

static void test_malformed(void **state)
{
	struct env *e = env_new();
	struct seg g = seg_of(AF_INET, PKT_SYN, 1, 0);
	uint8_t buf[PKT_BUILD_MAX];
	size_t n;
	struct hs_decision d;

	(void)state;
	g.opt.mss = 1460;
	n = seg_build(&g, buf, sizeof(buf));
	/* truncated */
	hs_packet(&e->c, buf, 10, false, false, NULL, &d);
	assert_int_equal(d.action, HS_DROP);
	assert_int_equal(d.why, ST_PKT_MALFORMED);
	assert_int_equal(d.listener, -1);
	assert_int_equal(e->block.rows[2].v[ST_MALFORMED_TRUNC], 1);
	/* IP version 5 */
	buf[0] = (uint8_t)(0x50 | (buf[0] & 0x0f));
	hs_packet(&e->c, buf, n, false, false, NULL, &d);
	assert_int_equal(d.why, ST_PKT_MALFORMED);
	assert_int_equal(e->block.rows[2].v[ST_MALFORMED_VERSION], 1);
	buf[0] = (uint8_t)(0x40 | (buf[0] & 0x0f));
	/* an MSS option of length 0 */
	assert_int_equal(buf[40], 2);
	buf[41] = 0;
	hs_packet(&e->c, buf, n, false, false, NULL, &d);
	assert_int_equal(d.why, ST_PKT_MALFORMED);
	assert_int_equal(e->block.rows[2].v[ST_MALFORMED_OPT], 1);
	assert_int_equal(e->block.rows[2].v[ST_PKT_MALFORMED], 3);
	assert_int_equal(e->f.synacks, 0);
	env_free(e);
}

static void test_no_listener(void **state)
{
	struct env *e = env_new();
	struct seg g = seg_of(AF_INET6, PKT_SYN, 1, 0);
	struct hs_decision d;

	(void)state;
	g.dport = 81;
	d = run(e, &g, false);
	assert_int_equal(d.action, HS_PASS);
	assert_true(d.accept);
	assert_int_equal(d.listener, -1);
	assert_int_equal(e->block.rows[2].v[ST_PKT_OTHER], 1);
	assert_int_equal(e->f.synacks, 0);
	env_free(e);
}

/* Neither a SYN nor a handshake ACK: the kernel's. */
static void test_other_flags(void **state)
{
	static const uint8_t flags[] = {
	    PKT_ACK | PKT_FIN | PKT_PSH, /* counted as an ACK: FIN rides on ACKs */
	    PKT_SYN | PKT_ACK,           PKT_SYN | PKT_FIN, PKT_SYN | PKT_RST, PKT_FIN, 0,
	};

	(void)state;
	for (size_t i = 1; i < sizeof(flags); i++) {
		struct env *e = env_new();
		struct seg g = seg_of(AF_INET, flags[i], 1, 2);
		struct hs_decision d = run(e, &g, false);

		assert_int_equal(d.action, HS_PASS);
		assert_true(d.accept);
		assert_int_equal(d.why, ST_PKT_OTHER);
		assert_int_equal(d.listener, 0);
		assert_int_equal(st(e, AF_INET, ST_PKT_OTHER), 1);
		assert_int_equal(e->f.synacks + e->f.admits, 0);
		env_free(e);
	}
	{
		/* an ACK with FIN is a handshake ACK (its cookie is checked) */
		struct env *e = env_new();
		struct seg g = seg_of(AF_INET, flags[0], 1, 2);

		assert_int_equal(run(e, &g, false).why, ST_ACK_INVALID);
		env_free(e);
	}
}

/* ---- timer ---- */

static void test_timer_retransmit_expire(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct env *e = env_new();
		int fam = families[k];
		struct pkt_spec s;

		env_policy(e, params(MODE_STATEFUL)); /* one retransmit */
		s = do_syn(e, fam, 77, full_opts());
		e->c.now_ms += 999;
		hs_timer(&e->c, k);
		assert_int_equal(e->f.synacks, 1);
		e->c.now_ms += 1;
		hs_timer(&e->c, k);
		assert_int_equal(e->f.synacks, 2);
		assert_null(e->f.l2); /* the route decides */
		assert_spec_equal(&e->f.synack, &s);
		assert_int_equal(st(e, fam, ST_SYNACK_RETRANSMITS), 1);
		assert_int_equal(st(e, fam, ST_HALFOPEN_ENTRIES), 1);
		e->c.now_ms += 10000;
		hs_timer(&e->c, k);
		assert_int_equal(e->f.synacks, 2);
		assert_int_equal(st(e, fam, ST_HALFOPEN_EXPIRED), 1);
		assert_int_equal(st(e, fam, ST_HALFOPEN_ENTRIES), 0);
		env_free(e);
	}
}

/* A listener without a policy (its tables could not be built) has no timer work. */
static void test_timer_no_policy(void **state)
{
	struct env *e = env_new();

	(void)state;
	(void)do_syn(e, AF_INET, 1, full_opts());
	e->c.now_ms += 100000;
	hs_timer(&e->c, 0);
	assert_int_equal(e->f.synacks, 1);
	env_free(e);
}

/* A thread's share: the table and the auto trigger divided (rounded up), the rest as
 * configured. */
static void test_policy_params(void **state)
{
	struct env *e = env_new();
	struct conf_policy *pol = &e->conf->policies[0];
	struct policy_params pp;

	(void)state;
	pol->mode = CONF_MODE_AUTO;
	pol->half_open_max = 9;
	pol->syn_rate_trigger = 5;
	pol->half_open_fill_trigger = 50;
	pol->auto_calm_time = 3;
	pol->per_source.syn_rate = 7;
	hs_policy_params(e->conf, 1, 2, NULL, &pp);
	assert_int_equal(pp.kind, MODE_AUTO);
	assert_int_equal(pp.half_open_capacity, 5);
	assert_int_equal(pp.syn_rate_trigger, 3);
	assert_true(pp.fill_trigger > 0.49 && pp.fill_trigger < 0.51);
	assert_int_equal(pp.calm_ms, 3000);
	assert_int_equal(pp.syn_rate, 7);
	assert_int_equal(pp.rto_ms, 1000);
	assert_null(pp.access);
	pol->mode = CONF_MODE_STATEFUL;
	pol->syn_rate_trigger = 0;
	hs_policy_params(e->conf, 0, 0, NULL, &pp);
	assert_int_equal(pp.kind, MODE_STATEFUL);
	assert_int_equal(pp.half_open_capacity, 9);
	assert_int_equal(pp.syn_rate_trigger, 0);
	pol->mode = CONF_MODE_COOKIE;
	hs_policy_params(e->conf, 0, 1, NULL, &pp);
	assert_int_equal(pp.kind, MODE_COOKIE);
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_syn_cookie),
	    cmocka_unit_test(test_syn_policy_options),
	    cmocka_unit_test(test_syn_deny),
	    cmocka_unit_test(test_syn_rate_limited),
	    cmocka_unit_test(test_syn_stateful_new_resend),
	    cmocka_unit_test(test_syn_stateful_full),
	    cmocka_unit_test(test_syn_stateful_source_full),
	    cmocka_unit_test(test_syn_auto_to_cookie),
	    cmocka_unit_test(test_syn_ecn_setup),
	    cmocka_unit_test(test_syn_ecn_local),
	    cmocka_unit_test(test_syn_ecn_local_refused),
	    cmocka_unit_test(test_ack_halfopen),
	    cmocka_unit_test(test_ack_halfopen_defaults),
	    cmocka_unit_test(test_ack_cookie_valid),
	    cmocka_unit_test(test_ack_cookie_invalid),
	    cmocka_unit_test(test_ack_cookie_expired),
	    cmocka_unit_test(test_ack_recent_flow),
	    cmocka_unit_test(test_ack_denied),
	    cmocka_unit_test(test_ack_allow_listed_skips_source_cap),
	    cmocka_unit_test(test_ack_admission_drop),
	    cmocka_unit_test(test_ack_admission_reset),
	    cmocka_unit_test(test_ack_repair_failed),
	    cmocka_unit_test(test_ack_submit_failed),
	    cmocka_unit_test(test_rst_retires_entry),
	    cmocka_unit_test(test_rst_bad_checksum),
	    cmocka_unit_test(test_rst_cookie_mode),
	    cmocka_unit_test(test_bad_checksum),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_no_listener),
	    cmocka_unit_test(test_other_flags),
	    cmocka_unit_test(test_timer_retransmit_expire),
	    cmocka_unit_test(test_timer_no_policy),
	    cmocka_unit_test(test_policy_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
