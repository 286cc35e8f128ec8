/*
 * Packet parsing and building against packets made by scapy
 * (the fixtures/pkt files, see fixtures/gen_pkt_fixtures.py), plus every
 * truncation, lying length field and random corruption of them.
 *
 * Inputs are always copied into heap buffers of exactly the length handed to
 * pkt_parse(), so an AddressSanitizer build turns any read past the end into
 * a failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"

#define FIXDIR  "fixtures/pkt/"
#define MAXTOK  32
#define MAXLIST 16

struct fix {
	char name[64];
	enum pkt_err err;
	unsigned pflags;
	uint8_t *pkt;
	size_t len;
	/* parse_ok.txt: what scapy read back; the IP length; header layout. */
	struct pkt_tcp want;
	size_t iplen;
	size_t next;
	size_t ext_off[MAXLIST], ext_len[MAXLIST];
	size_t nopt;
	size_t opt_off[MAXLIST];
	uint8_t opt_kind[MAXLIST], opt_len[MAXLIST];
	/* build.txt */
	struct pkt_spec spec;
};

struct fixset {
	struct fix *v;
	size_t n;
};

static struct fixset build_set, ok_set, err_set;

/* ---- fixture reading ---- */

struct kv {
	char *key[MAXTOK];
	char *val[MAXTOK];
	int n;
};

static void kv_split(char *line, struct kv *kv)
{
	char *save = NULL, *tok;

	kv->n = 0;
	for (tok = strtok_r(line, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
		char *eq = strchr(tok, '=');

		assert_non_null(eq);
		assert_true(kv->n < MAXTOK);
		*eq = '\0';
		kv->key[kv->n] = tok;
		kv->val[kv->n] = eq + 1;
		kv->n++;
	}
}

static const char *kv_get(const struct kv *kv, const char *key)
{
	for (int i = 0; i < kv->n; i++)
		if (strcmp(kv->key[i], key) == 0)
			return kv->val[i];
	fail_msg("fixture key %s missing", key);
	return NULL;
}

static unsigned long kv_num(const struct kv *kv, const char *key)
{
	return strtoul(kv_get(kv, key), NULL, 0);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	fail_msg("bad hex digit %c", c);
	return 0;
}

static void kv_hex(const struct kv *kv, uint8_t **out, size_t *len)
{
	const char *h = kv_get(kv, "hex");
	size_t n = strlen(h) / 2;

	*out = malloc(n ? n : 1);
	assert_non_null(*out);
	for (size_t i = 0; i < n; i++)
		(*out)[i] = (uint8_t)(hexval(h[2 * i]) << 4 | hexval(h[2 * i + 1]));
	*len = n;
}

static void kv_addrs(const struct kv *kv, struct pkt_tuple *t)
{
	int af = kv_num(kv, "fam") == 4 ? AF_INET : AF_INET6;

	t->family = (uint8_t)af;
	assert_int_equal(inet_pton(af, kv_get(kv, "src"), t->saddr), 1);
	assert_int_equal(inet_pton(af, kv_get(kv, "dst"), t->daddr), 1);
}

static void kv_opts(const struct kv *kv, struct pkt_tcpopts *o)
{
	const char *ws = kv_get(kv, "ws"), *ts = kv_get(kv, "ts");

	o->mss = (uint16_t)kv_num(kv, "mss");
	o->has_wscale = strcmp(ws, "-") != 0;
	o->wscale = o->has_wscale ? (uint8_t)strtoul(ws, NULL, 10) : 0;
	o->sack_ok = kv_num(kv, "sack") != 0;
	o->has_ts = strcmp(ts, "-") != 0;
	if (o->has_ts) {
		unsigned long v, e;

		assert_int_equal(sscanf(ts, "%lu:%lu", &v, &e), 2);
		o->tsval = (uint32_t)v;
		o->tsecr = (uint32_t)e;
	}
}

static enum pkt_err err_by_name(const char *s)
{
	static const char *const names[PKT_NERR] = {
	    "PKT_OK",      "PKT_ETRUNC",   "PKT_EVERSION", "PKT_EIHL",    "PKT_ELEN", "PKT_EFRAG",
	    "PKT_EEXTHDR", "PKT_ENEXTHDR", "PKT_ENOTTCP",  "PKT_ETCPOFF", "PKT_EOPT",
	};

	for (int i = 0; i < PKT_NERR; i++)
		if (strcmp(names[i], s) == 0)
			return (enum pkt_err)i;
	fail_msg("unknown error name %s", s);
	return PKT_OK;
}

static void parse_list(const char *s, size_t *n, size_t *a, size_t *b, size_t *c)
{
	*n = 0;
	if (strcmp(s, "-") == 0)
		return;
	while (*s) {
		char *end;

		assert_true(*n < MAXLIST);
		a[*n] = strtoul(s, &end, 10);
		assert_int_equal(*end, ':');
		b[*n] = strtoul(end + 1, &end, 10);
		if (c) {
			assert_int_equal(*end, ':');
			c[*n] = strtoul(end + 1, &end, 10);
		}
		(*n)++;
		s = *end == ',' ? end + 1 : end;
	}
}

enum fixkind { FIX_BUILD, FIX_OK, FIX_ERR };

static void fix_fill(struct fix *f, const struct kv *kv, enum fixkind kind)
{
	snprintf(f->name, sizeof(f->name), "%s", kv_get(kv, "name"));
	kv_hex(kv, &f->pkt, &f->len);
	if (kind == FIX_BUILD) {
		struct pkt_spec *s = &f->spec;

		kv_addrs(kv, &s->t);
		s->t.sport = (uint16_t)kv_num(kv, "sport");
		s->t.dport = (uint16_t)kv_num(kv, "dport");
		s->seq = (uint32_t)kv_num(kv, "seq");
		s->ack = (uint32_t)kv_num(kv, "ack");
		s->window = (uint16_t)kv_num(kv, "win");
		s->flags = (uint8_t)kv_num(kv, "flags");
		s->ttl = (uint8_t)kv_num(kv, "ttl");
		kv_opts(kv, &s->opt);
		return;
	}
	f->err = err_by_name(kv_get(kv, "err"));
	if (kind == FIX_ERR) {
		f->pflags = (unsigned)kv_num(kv, "pflags");
		return;
	}
	struct pkt_tcp *w = &f->want;
	size_t kinds[MAXLIST], lens[MAXLIST];

	kv_addrs(kv, &w->t);
	w->t.sport = (uint16_t)kv_num(kv, "sport");
	w->t.dport = (uint16_t)kv_num(kv, "dport");
	w->seq = (uint32_t)kv_num(kv, "seq");
	w->ack = (uint32_t)kv_num(kv, "ack");
	w->window = (uint16_t)kv_num(kv, "win");
	w->flags = (uint8_t)kv_num(kv, "flags");
	w->ttl = (uint8_t)kv_num(kv, "ttl");
	kv_opts(kv, &w->opt);
	w->l4off = (uint16_t)kv_num(kv, "l4off");
	w->tcp_hlen = (uint16_t)kv_num(kv, "hlen");
	w->payload_len = (uint32_t)kv_num(kv, "paylen");
	f->iplen = (size_t)w->l4off + w->tcp_hlen + w->payload_len;
	parse_list(kv_get(kv, "ext"), &f->next, f->ext_off, f->ext_len, NULL);
	parse_list(kv_get(kv, "opts"), &f->nopt, f->opt_off, kinds, lens);
	for (size_t i = 0; i < f->nopt; i++) {
		f->opt_kind[i] = (uint8_t)kinds[i];
		f->opt_len[i] = (uint8_t)lens[i];
	}
}

static void load(const char *file, struct fixset *set, enum fixkind kind)
{
	FILE *fp = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0;

	if (!fp)
		fail_msg("cannot open %s (tests run from the tests/ directory)", file);
	set->v = NULL;
	set->n = 0;
	while (getline(&line, &cap, fp) > 0) {
		struct kv kv;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		set->v = realloc(set->v, (set->n + 1) * sizeof(*set->v));
		assert_non_null(set->v);
		memset(&set->v[set->n], 0, sizeof(set->v[0]));
		kv_split(line, &kv);
		fix_fill(&set->v[set->n], &kv, kind);
		set->n++;
	}
	free(line);
	fclose(fp);
	assert_true(set->n > 0);
}

static void unload(struct fixset *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->v[i].pkt);
	free(set->v);
	set->v = NULL;
	set->n = 0;
}

static int setup(void **state)
{
	(void)state;
	load(FIXDIR "build.txt", &build_set, FIX_BUILD);
	load(FIXDIR "parse_ok.txt", &ok_set, FIX_OK);
	load(FIXDIR "parse_err.txt", &err_set, FIX_ERR);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unload(&build_set);
	unload(&ok_set);
	unload(&err_set);
	return 0;
}

/* ---- helpers ---- */

static const char *cur; /* case being checked, for failure messages */

#define EXPECT_EQ(got, want)                                                                       \
	do {                                                                                       \
		long long got_ = (long long)(got), want_ = (long long)(want);                      \
		if (got_ != want_)                                                                 \
			fail_msg("%s: %s is %lld, expected %lld", cur, #got, got_, want_);         \
	} while (0)

#define EXPECT_ERR(got, want)                                                                      \
	do {                                                                                       \
		enum pkt_err g_ = (got), w_ = (want);                                              \
		if (g_ != w_)                                                                      \
			fail_msg("%s: got %s, expected %s (%s)", cur, pkt_strerror(g_),            \
			         pkt_strerror(w_), #got);                                          \
	} while (0)

/* A heap copy of exactly n bytes (ASan flags any access beyond it). */
static uint8_t *dup_exact(const uint8_t *src, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	memcpy(p, src, n);
	return p;
}

static enum pkt_err parse_exact(const uint8_t *src, size_t n, unsigned flags, struct pkt_tcp *out)
{
	uint8_t *p;
	enum pkt_err err;

	/* A 0-byte request is a real zero-size allocation under ASan: any read faults. */
	p = calloc(1, n);
	if (n) {
		assert_non_null(p);
		memcpy(p, src, n);
	}
	err = pkt_parse(p, n, flags, out);
	free(p);
	return err;
}

static void expect_fields(const struct pkt_tcp *g, const struct pkt_tcp *w)
{
	EXPECT_EQ(g->t.family, w->t.family);
	if (memcmp(g->t.saddr, w->t.saddr, 16) != 0)
		fail_msg("%s: saddr differs", cur);
	if (memcmp(g->t.daddr, w->t.daddr, 16) != 0)
		fail_msg("%s: daddr differs", cur);
	EXPECT_EQ(g->t.sport, w->t.sport);
	EXPECT_EQ(g->t.dport, w->t.dport);
	EXPECT_EQ(g->seq, w->seq);
	EXPECT_EQ(g->ack, w->ack);
	EXPECT_EQ(g->window, w->window);
	EXPECT_EQ(g->flags, w->flags);
	EXPECT_EQ(g->ttl, w->ttl);
	EXPECT_EQ(g->opt.mss, w->opt.mss);
	EXPECT_EQ(g->opt.has_wscale, w->opt.has_wscale);
	if (w->opt.has_wscale)
		EXPECT_EQ(g->opt.wscale, w->opt.wscale);
	EXPECT_EQ(g->opt.sack_ok, w->opt.sack_ok);
	EXPECT_EQ(g->opt.has_ts, w->opt.has_ts);
	if (w->opt.has_ts) {
		EXPECT_EQ(g->opt.tsval, w->opt.tsval);
		EXPECT_EQ(g->opt.tsecr, w->opt.tsecr);
	}
	EXPECT_EQ(g->l4off, w->l4off);
	EXPECT_EQ(g->tcp_hlen, w->tcp_hlen);
	EXPECT_EQ(g->payload_len, w->payload_len);
}

/* What must hold for any packet pkt_parse() accepts, whatever its bytes. */
static void expect_sane(const uint8_t *buf, size_t caplen, unsigned flags, const struct pkt_tcp *p)
{
	EXPECT_EQ(p->t.family, (buf[0] >> 4) == 4 ? AF_INET : AF_INET6);
	if (p->tcp_hlen < 20 || p->tcp_hlen > 60 || p->tcp_hlen % 4)
		fail_msg("%s: tcp_hlen %u", cur, p->tcp_hlen);
	if ((size_t)p->l4off + p->tcp_hlen > caplen)
		fail_msg("%s: headers end at %u past caplen %zu", cur, p->l4off + p->tcp_hlen,
		         caplen);
	if (!(flags & PKT_PARSE_PARTIAL) &&
	    (size_t)p->l4off + p->tcp_hlen + p->payload_len > caplen)
		fail_msg("%s: IP length past caplen without PKT_PARSE_PARTIAL", cur);
	if (p->opt.has_wscale && p->opt.wscale > 14)
		fail_msg("%s: wscale %u not clamped", cur, p->opt.wscale);
}

static void dump_diff(const uint8_t *got, const uint8_t *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i])
			print_error("  byte %zu: got %02x want %02x\n", i, got[i], want[i]);
}

/* ---- parsing ---- */

static void test_parse_ok_fixtures(void **state)
{
	(void)state;
	for (size_t i = 0; i < ok_set.n; i++) {
		const struct fix *f = &ok_set.v[i];
		struct pkt_tcp p;

		cur = f->name;
		EXPECT_ERR(parse_exact(f->pkt, f->len, 0, &p), PKT_OK);
		expect_fields(&p, &f->want);
		EXPECT_ERR(parse_exact(f->pkt, f->len, PKT_PARSE_PARTIAL, &p), PKT_OK);
		expect_fields(&p, &f->want);
		EXPECT_EQ(pkt_tcp_csum_ok(f->pkt, f->len, &p), true);
	}
	assert_true(ok_set.n >= 30);
}

static void test_parse_err_fixtures(void **state)
{
	(void)state;
	for (size_t i = 0; i < err_set.n; i++) {
		const struct fix *f = &err_set.v[i];
		struct pkt_tcp p;

		cur = f->name;
		EXPECT_ERR(parse_exact(f->pkt, f->len, f->pflags, &p), f->err);
	}
	assert_true(err_set.n >= 60);
}

static void test_parse_zero_length(void **state)
{
	struct pkt_tcp p;
	static const uint8_t v4 = 0x45, v6 = 0x60;

	(void)state;
	cur = "zero length";
	EXPECT_ERR(parse_exact(NULL, 0, 0, &p), PKT_ETRUNC);
	EXPECT_ERR(parse_exact(NULL, 0, PKT_PARSE_PARTIAL, &p), PKT_ETRUNC);
	EXPECT_ERR(parse_exact(&v4, 1, PKT_PARSE_PARTIAL, &p), PKT_ETRUNC);
	EXPECT_ERR(parse_exact(&v6, 1, PKT_PARSE_PARTIAL, &p), PKT_ETRUNC);
}

/*
 * Every prefix of every good packet. Without PKT_PARSE_PARTIAL anything short
 * of the IP length is refused; with it, a prefix holding all headers parses to
 * the same fields (payload length still from the IP header) and a shorter one
 * is PKT_ETRUNC. The checksum needs the whole segment.
 */
static void test_parse_every_prefix(void **state)
{
	(void)state;
	for (size_t i = 0; i < ok_set.n; i++) {
		const struct fix *f = &ok_set.v[i];
		size_t iphdr = f->want.t.family == AF_INET ? 20 : 40;
		size_t hdrs = (size_t)f->want.l4off + f->want.tcp_hlen;

		cur = f->name;
		for (size_t k = 0; k < f->len; k++) {
			struct pkt_tcp p;
			enum pkt_err e = parse_exact(f->pkt, k, 0, &p);

			if (k >= f->iplen) {
				EXPECT_ERR(e, PKT_OK);
				expect_fields(&p, &f->want);
			} else {
				EXPECT_ERR(e, k < iphdr ? PKT_ETRUNC : PKT_ELEN);
			}
			e = parse_exact(f->pkt, k, PKT_PARSE_PARTIAL, &p);
			if (k >= hdrs) {
				EXPECT_ERR(e, PKT_OK);
				expect_fields(&p, &f->want);
				uint8_t *b = dup_exact(f->pkt, k);

				EXPECT_EQ(pkt_tcp_csum_ok(b, k, &p), k >= f->iplen);
				free(b);
			} else {
				EXPECT_ERR(e, PKT_ETRUNC);
			}
		}
	}
}

/* Bytes past the IP length (Ethernet padding, a larger capture) are ignored. */
static void test_parse_oversize(void **state)
{
	const size_t extra[] = {1, 2, 3, 6, 17, 64, 70000};
	uint32_t pat = 0xa5a5a5a5;

	(void)state;
	for (size_t i = 0; i < ok_set.n; i++) {
		const struct fix *f = &ok_set.v[i];

		cur = f->name;
		for (size_t j = 0; j < sizeof(extra) / sizeof(extra[0]); j++) {
			size_t n = f->len + extra[j];
			uint8_t *b = malloc(n);
			struct pkt_tcp p;

			assert_non_null(b);
			memcpy(b, f->pkt, f->len);
			for (size_t k = f->len; k < n; k++)
				b[k] = (uint8_t)(pat = pat * 1103515245u + 12345u) >> 8;
			EXPECT_ERR(pkt_parse(b, n, 0, &p), PKT_OK);
			expect_fields(&p, &f->want);
			EXPECT_EQ(pkt_tcp_csum_ok(b, n, &p), true);
			EXPECT_ERR(pkt_parse(b, n, PKT_PARSE_PARTIAL, &p), PKT_OK);
			expect_fields(&p, &f->want);
			free(b);
		}
	}
}

static void set16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Every value of the IPv4 total length field. */
static void test_ipv4_total_length_sweep(void **state)
{
	(void)state;
	for (size_t i = 0; i < ok_set.n; i++) {
		const struct fix *f = &ok_set.v[i];
		size_t ihl = f->want.l4off, doff = f->want.tcp_hlen;
		uint8_t *b;

		if (f->want.t.family != AF_INET)
			continue;
		cur = f->name;
		b = dup_exact(f->pkt, f->len);
		for (size_t v = 0; v <= 0xffff; v++) {
			for (unsigned fl = 0; fl <= PKT_PARSE_PARTIAL; fl++) {
				enum pkt_err want = PKT_OK;
				struct pkt_tcp p;

				if (v < ihl)
					want = PKT_ELEN;
				else if (!(fl & PKT_PARSE_PARTIAL) && v > f->len)
					want = PKT_ELEN;
				else if (v < ihl + 20)
					want = PKT_ELEN;
				else if (v < ihl + doff)
					want = PKT_ETCPOFF;
				set16(b + 2, v);
				EXPECT_ERR(pkt_parse(b, f->len, fl, &p), want);
				if (want == PKT_OK) {
					struct pkt_tcp w = f->want;

					w.payload_len = (uint32_t)(v - ihl - doff);
					expect_fields(&p, &w);
					EXPECT_EQ(pkt_tcp_csum_ok(b, f->len, &p), v == f->iplen);
				}
			}
		}
		free(b);
	}
}

/* Every IHL value: too small, past the IP length, or pointing at the wrong bytes. */
static void test_ipv4_ihl_sweep(void **state)
{
	(void)state;
	for (size_t i = 0; i < ok_set.n; i++) {
		const struct fix *f = &ok_set.v[i];
		uint8_t *b;

		if (f->want.t.family != AF_INET)
			continue;
		cur = f->name;
		b = dup_exact(f->pkt, f->len);
		for (unsigned ihl = 0; ihl < 16; ihl++) {
			struct pkt_tcp p;
			enum pkt_err e;

			b[0] = (uint8_t)(0x40 | ihl);
			e = pkt_parse(b, f->len, 0, &p);
			if (ihl < 5) {
				EXPECT_ERR(e, PKT_EIHL);
			} else if (ihl * 4 + 20 > f->iplen) {
				EXPECT_ERR(e, PKT_ELEN);
			} else if (ihl * 4 == f->want.l4off) {
				EXPECT_ERR(e, PKT_OK);
				expect_fields(&p, &f->want);
			} else if (e == PKT_OK) {
				EXPECT_EQ(p.l4off, ihl * 4);
				expect_sane(b, f->len, 0, &p);
			} else if (e != PKT_ETCPOFF && e != PKT_EOPT) {
				fail_msg("%s: ihl %u gave %s", cur, ihl, pkt_strerror(e));
			}
		}
		free(b);
	}
}

/* Expected result of an IPv6 packet whose payload length says iplen - 40. */
static enum pkt_err v6_expect(const struct fix *f, size_t iplen, unsigned fl)
{
	if (!(fl & PKT_PARSE_PARTIAL) && iplen > f->len)
		return PKT_ELEN;
	for (size_t j = 0; j < f->next; j++) {
		if (f->ext_off[j] + 8 > iplen)
			return PKT_ELEN;
		if (f->ext_off[j] + f->ext_len[j] > iplen)
			return PKT_EEXTHDR;
	}
	if ((size_t)f->want.l4off + 20 > iplen)
		return PKT_ELEN;
	if ((size_t)f->want.l4off + f->want.tcp_hlen > iplen)
		return PKT_ETCPOFF;
	return PKT_OK;
}

static void test_ipv6_payload_length_sweep(void **state)
{
	(void)state;
	for (size_t i = 0; i < ok_set.n; i++) {
		const struct fix *f = &ok_set.v[i];
		uint8_t *b;

		if (f->want.t.family != AF_INET6)
			continue;
		cur = f->name;
		b = dup_exact(f->pkt, f->len);
		for (size_t v = 0; v <= 0xffff; v++) {
			for (unsigned fl = 0; fl <= PKT_PARSE_PARTIAL; fl++) {
				enum pkt_err want = v6_expect(f, 40 + v, fl);
				struct pkt_tcp p;

				set16(b + 4, v);
				EXPECT_ERR(pkt_parse(b, f->len, fl, &p), want);
				if (want == PKT_OK) {
					struct pkt_tcp w = f->want;

					w.payload_len =
					    (uint32_t)(40 + v - f->want.l4off - f->want.tcp_hlen);
					expect_fields(&p, &w);
					EXPECT_EQ(pkt_tcp_csum_ok(b, f->len, &p),
					          40 + v == f->iplen);
				}
			}
		}
		free(b);
	}
}

/* Every value of every extension header's length byte. */
static void test_ipv6_exthdr_length_sweep(void **state)
{
	size_t swept = 0;

	(void)state;
	for (size_t i = 0; i < ok_set.n; i++) {
		const struct fix *f = &ok_set.v[i];

		cur = f->name;
		for (size_t j = 0; j < f->next; j++) {
			uint8_t *b = dup_exact(f->pkt, f->len);
			size_t off = f->ext_off[j];

			for (unsigned v = 0; v < 256; v++) {
				size_t len = (v + 1) * 8;
				struct pkt_tcp p;
				enum pkt_err e;

				b[off + 1] = (uint8_t)v;
				for (unsigned fl = 0; fl <= PKT_PARSE_PARTIAL; fl++) {
					e = pkt_parse(b, f->len, fl, &p);
					if (len == f->ext_len[j]) {
						EXPECT_ERR(e, PKT_OK);
						expect_fields(&p, &f->want);
					} else if (off + len > f->iplen) {
						EXPECT_ERR(e, PKT_EEXTHDR);
					} else if (e == PKT_OK) {
						expect_sane(b, f->len, fl, &p);
					}
				}
				/* Cut the capture right after the lying header. */
				size_t cut = off + len < f->len ? off + len : f->len;

				e = parse_exact(b, cut, PKT_PARSE_PARTIAL, &p);
				if (off + len > f->iplen)
					EXPECT_ERR(e, PKT_EEXTHDR);
				else if (len == f->ext_len[j])
					EXPECT_ERR(e, PKT_ETRUNC);
				else if (e == PKT_OK)
					expect_sane(b, cut, PKT_PARSE_PARTIAL, &p);
				swept++;
			}
			free(b);
		}
	}
	assert_true(swept >= 256 * 10);
}

/* Every next header value right after the IPv6 header. */
static void test_ipv6_next_header_sweep(void **state)
{
	const struct fix *f = NULL;
	uint8_t *b;

	(void)state;
	for (size_t i = 0; i < ok_set.n; i++)
		if (strcmp(ok_set.v[i].name, "v6_syn_linux") == 0)
			f = &ok_set.v[i];
	assert_non_null(f);
	cur = f->name;
	b = dup_exact(f->pkt, f->len);
	for (unsigned nh = 0; nh < 256; nh++) {
		struct pkt_tcp p;
		enum pkt_err e;

		b[6] = (uint8_t)nh;
		e = pkt_parse(b, f->len, 0, &p);
		switch (nh) {
		case 6:
			EXPECT_ERR(e, PKT_OK);
			expect_fields(&p, &f->want);
			break;
		case 44:
			EXPECT_ERR(e, PKT_EFRAG);
			break;
		case 0:
		case 43:
		case 60:
			/* The TCP header read as an extension header: anything but a crash. */
			if (e == PKT_OK)
				expect_sane(b, f->len, 0, &p);
			break;
		case 1:
		case 4:
		case 17:
		case 33:
		case 41:
		case 47:
		case 58:
		case 59:
		case 132:
		case 136:
			EXPECT_ERR(e, PKT_ENOTTCP);
			break;
		default:
			EXPECT_ERR(e, PKT_ENEXTHDR);
		}
	}
	free(b);
}

/* Every TCP data offset, with the whole packet and with a capture cut after the headers. */
static void test_tcp_data_offset_sweep(void **state)
{
	(void)state;
	for (size_t i = 0; i < ok_set.n; i++) {
		const struct fix *f = &ok_set.v[i];
		size_t l4 = f->want.l4off, hdrs = l4 + f->want.tcp_hlen;
		uint8_t *b = dup_exact(f->pkt, f->len);

		cur = f->name;
		for (unsigned d = 0; d < 16; d++) {
			struct pkt_tcp p;
			enum pkt_err e;

			b[l4 + 12] = (uint8_t)(d << 4 | (f->pkt[l4 + 12] & 0x0f));
			e = pkt_parse(b, f->len, 0, &p);
			if (d < 5 || l4 + d * 4 > f->iplen) {
				EXPECT_ERR(e, PKT_ETCPOFF);
			} else if (d * 4 == f->want.tcp_hlen) {
				EXPECT_ERR(e, PKT_OK);
				expect_fields(&p, &f->want);
			} else if (e == PKT_OK) {
				expect_sane(b, f->len, 0, &p);
				EXPECT_EQ(p.tcp_hlen, d * 4);
				EXPECT_EQ(p.payload_len, f->iplen - l4 - d * 4);
			} else {
				EXPECT_ERR(e, PKT_EOPT);
			}
			/* NFQUEUE copied only the real headers; the offset claims more. */
			e = parse_exact(b, hdrs, PKT_PARSE_PARTIAL, &p);
			if (d < 5 || l4 + d * 4 > f->iplen)
				EXPECT_ERR(e, PKT_ETCPOFF);
			else if (l4 + d * 4 > hdrs)
				EXPECT_ERR(e, PKT_ETRUNC);
			else if (e == PKT_OK)
				expect_sane(b, hdrs, PKT_PARSE_PARTIAL, &p);
			else
				EXPECT_ERR(e, PKT_EOPT);
		}
		free(b);
	}
}

static int known_optlen(uint8_t kind)
{
	switch (kind) {
	case 2:
		return 4;
	case 3:
		return 3;
	case 4:
		return 2;
	case 8:
		return 10;
	default:
		return -1;
	}
}

/* Every value of every TCP option's length byte. */
static void test_tcp_option_length_sweep(void **state)
{
	size_t swept = 0;

	(void)state;
	for (size_t i = 0; i < ok_set.n; i++) {
		const struct fix *f = &ok_set.v[i];
		size_t optend = (size_t)f->want.l4off + f->want.tcp_hlen;

		cur = f->name;
		for (size_t j = 0; j < f->nopt; j++) {
			uint8_t *b = dup_exact(f->pkt, f->len);
			size_t off = f->opt_off[j];
			int known = known_optlen(f->opt_kind[j]);

			for (unsigned v = 0; v < 256; v++) {
				struct pkt_tcp p;
				enum pkt_err e;

				b[off + 1] = (uint8_t)v;
				e = pkt_parse(b, f->len, 0, &p);
				if (v == f->opt_len[j]) {
					EXPECT_ERR(e, PKT_OK);
					expect_fields(&p, &f->want);
				} else if (v < 2 || off + v > optend || known >= 0) {
					EXPECT_ERR(e, PKT_EOPT);
				} else if (e == PKT_OK) {
					expect_sane(b, f->len, 0, &p);
				} else {
					EXPECT_ERR(e, PKT_EOPT);
				}
				/* The same with the capture ending at the options. */
				e = parse_exact(b, optend, PKT_PARSE_PARTIAL, &p);
				if (v == f->opt_len[j])
					EXPECT_ERR(e, PKT_OK);
				else if (v < 2 || off + v > optend || known >= 0)
					EXPECT_ERR(e, PKT_EOPT);
				else if (e == PKT_OK)
					expect_sane(b, optend, PKT_PARSE_PARTIAL, &p);
				swept++;
			}
			free(b);
		}
	}
	assert_true(swept >= 256 * 70);
}

/* TCP options straddling or ending exactly at the data offset. */
static void test_tcp_option_edges(void **state)
{
	/* IPv4 + TCP with doff 6: four option bytes at 40..43. */
	static const uint8_t base[44] = {
	    0x45, 0,    0, 44, 0, 0, 0x40, 0, 64, 6, 0, 0, 192,  0,    2,    1, 198, 51, 100, 7,
	    0x80, 0xe8, 0, 22, 0, 0, 0,    1, 0,  0, 0, 0, 0x60, 0x02, 0x04, 0, 0,   0,  0,   0,
	};
	static const struct {
		uint8_t o[4];
		enum pkt_err err;
	} cases[] = {
	    {{1, 1, 1, 1}, PKT_OK},    {{0, 0x1e, 0x00, 0}, PKT_OK}, /* EOL ends */
	    {{1, 1, 1, 2}, PKT_EOPT},  {{1, 1, 1, 0x1e}, PKT_EOPT},
	    {{1, 1, 4, 2}, PKT_OK},    {{1, 1, 4, 3}, PKT_EOPT},
	    {{1, 3, 3, 14}, PKT_OK},   {{1, 3, 3, 200}, PKT_OK}, /* clamped */
	    {{2, 4, 0, 0}, PKT_OK},    {{2, 4, 5}, PKT_OK},
	    {{1, 1, 0x1e, 2}, PKT_OK}, {{1, 1, 0x1e, 3}, PKT_EOPT},
	    {{0x1e, 4, 9, 9}, PKT_OK}, {{0x1e, 5, 9, 9}, PKT_EOPT},
	    {{8, 10, 0, 0}, PKT_EOPT}, {{0xff, 0xff, 0, 0}, PKT_EOPT},
	};

	(void)state;
	cur = "option edges";
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t pkt[44];
		struct pkt_tcp p;
		enum pkt_err e;

		memcpy(pkt, base, 40);
		memcpy(pkt + 40, cases[i].o, 4);
		e = parse_exact(pkt, sizeof(pkt), 0, &p);
		if (e != cases[i].err)
			fail_msg("case %zu: got %s", i, pkt_strerror(e));
		if (e == PKT_OK && cases[i].o[1] == 3 && cases[i].o[0] == 1) {
			EXPECT_EQ(p.opt.has_wscale, true);
			EXPECT_EQ(p.opt.wscale, cases[i].o[3] > 14 ? 14 : cases[i].o[3]);
		}
	}
}

/* Random corruption of every fixture: no crash, no overread, sane results. */
static void test_parse_fuzz(void **state)
{
	uint32_t s = 0x5eed1234;
	size_t accepted = 0;

	(void)state;
	cur = "fuzz";
	for (unsigned it = 0; it < 200000; it++) {
		const struct fixset *set = it % 3 ? &ok_set : &err_set;
		const struct fix *f;
		size_t n, nmut;
		uint8_t *b;
		unsigned fl;
		struct pkt_tcp p;

		s ^= s << 13, s ^= s >> 17, s ^= s << 5;
		f = &set->v[s % set->n];
		s ^= s << 13, s ^= s >> 17, s ^= s << 5;
		n = f->len ? s % (f->len + 9) : s % 9;
		fl = (s >> 20) & 1;
		b = malloc(n ? n : 1);
		assert_non_null(b);
		for (size_t k = 0; k < n; k++)
			b[k] = k < f->len ? f->pkt[k] : (uint8_t)(s >> (k % 24));
		nmut = (s >> 24) % 5;
		for (size_t m = 0; m < nmut && n; m++) {
			s ^= s << 13, s ^= s >> 17, s ^= s << 5;
			/* Mostly the headers: that is where the lengths live. */
			size_t at = s % (n < 128 ? n : 128);

			b[at] = (s >> 8) & 1 ? (uint8_t)(s >> 16)
			                     : (uint8_t)(b[at] ^ (1u << (s >> 29)));
		}
		if (pkt_parse(b, n, fl, &p) == PKT_OK) {
			expect_sane(b, n, fl, &p);
			(void)pkt_tcp_csum_ok(b, n, &p);
			accepted++;
		}
		free(b);
	}
	assert_true(accepted > 1000);
}

/* ---- checksum verification ---- */

static void test_csum_ok_detects_corruption(void **state)
{
	(void)state;
	for (size_t i = 0; i < ok_set.n; i++) {
		const struct fix *f = &ok_set.v[i];
		size_t aoff = f->want.t.family == AF_INET ? 12 : 8;
		size_t alen = f->want.t.family == AF_INET ? 8 : 32;
		uint8_t *b = dup_exact(f->pkt, f->len);
		struct pkt_tcp p;

		cur = f->name;
		EXPECT_ERR(pkt_parse(b, f->len, 0, &p), PKT_OK);
		EXPECT_EQ(pkt_tcp_csum_ok(b, f->len, &p), true);
		/* Any single flipped bit of the segment or of an address. */
		for (size_t k = f->want.l4off; k < f->iplen; k++)
			for (int bit = 0; bit < 8; bit++) {
				b[k] ^= (uint8_t)(1 << bit);
				if (pkt_tcp_csum_ok(b, f->len, &p))
					fail_msg("%s: flip of byte %zu bit %d not detected", cur, k,
					         bit);
				b[k] ^= (uint8_t)(1 << bit);
			}
		for (size_t k = aoff; k < aoff + alen; k++) {
			b[k] ^= 0x10;
			struct pkt_tcp q;

			EXPECT_ERR(pkt_parse(b, f->len, 0, &q), PKT_OK);
			EXPECT_EQ(pkt_tcp_csum_ok(b, f->len, &q), false);
			b[k] ^= 0x10;
		}
		/* Fields outside the pseudo-header do not matter (IPv4 TTL, hop limit). */
		b[f->want.t.family == AF_INET ? 8 : 7] ^= 0xff;
		EXPECT_EQ(pkt_tcp_csum_ok(b, f->len, &p), true);
		/* A segment longer than the capture cannot be verified. */
		EXPECT_EQ(pkt_tcp_csum_ok(b, f->iplen - 1, &p), false);
		EXPECT_EQ(pkt_tcp_csum_ok(b, f->want.l4off, &p), false);
		EXPECT_EQ(pkt_tcp_csum_ok(b, 0, &p), false);
		free(b);
	}
}

/* ---- building ---- */

static void test_build_fixtures(void **state)
{
	(void)state;
	for (size_t i = 0; i < build_set.n; i++) {
		const struct fix *f = &build_set.v[i];
		uint8_t *b = malloc(f->len);
		size_t n;
		struct pkt_tcp p, w = {0};

		cur = f->name;
		assert_non_null(b);
		assert_true(f->len <= PKT_BUILD_MAX);
		/* One byte short: nothing written, 0 returned (ASan checks the first). */
		EXPECT_EQ(pkt_build(b, f->len - 1, &f->spec), 0);
		n = pkt_build(b, f->len, &f->spec);
		EXPECT_EQ(n, f->len);
		if (memcmp(b, f->pkt, f->len) != 0) {
			dump_diff(b, f->pkt, f->len);
			fail_msg("%s: built packet differs from scapy's", cur);
		}
		/* What we build, we parse back. */
		EXPECT_ERR(pkt_parse(b, n, 0, &p), PKT_OK);
		w.t = f->spec.t;
		w.seq = f->spec.seq;
		w.ack = f->spec.ack;
		w.window = f->spec.window;
		w.flags = f->spec.flags;
		w.ttl = f->spec.ttl ? f->spec.ttl : 64;
		w.opt = f->spec.opt;
		w.l4off = f->spec.t.family == AF_INET ? 20 : 40;
		w.tcp_hlen = (uint16_t)(n - w.l4off);
		w.payload_len = 0;
		expect_fields(&p, &w);
		EXPECT_EQ(pkt_tcp_csum_ok(b, n, &p), true);
		free(b);
	}
	assert_true(build_set.n >= 200);
}

static void test_build_all_option_sets(void **state)
{
	(void)state;
	cur = "option sets";
	for (unsigned m = 0; m < 32; m++) {
		struct pkt_spec s = {0};
		uint8_t b[PKT_BUILD_MAX];
		struct pkt_tcp p;
		size_t n, optlen;

		s.t.family = m & 16 ? AF_INET6 : AF_INET;
		inet_pton(s.t.family, m & 16 ? "2001:db8::5" : "203.0.113.5", s.t.saddr);
		inet_pton(s.t.family, m & 16 ? "2001:db8::6" : "198.18.0.6", s.t.daddr);
		s.t.sport = 443;
		s.t.dport = 1234;
		s.flags = PKT_SYN | PKT_ACK;
		s.opt.mss = m & 1 ? 1460 : 0;
		s.opt.sack_ok = m & 2;
		s.opt.has_ts = m & 4;
		s.opt.tsval = 0x01020304;
		s.opt.tsecr = 0x05060708;
		s.opt.has_wscale = m & 8;
		s.opt.wscale = 5;
		optlen = (m & 1 ? 4 : 0) + (m & 4 ? 12 : m & 2 ? 4 : 0) + (m & 8 ? 4 : 0);
		n = pkt_build(b, sizeof(b), &s);
		EXPECT_EQ(n, (m & 16 ? 40 : 20) + 20 + optlen);
		EXPECT_ERR(pkt_parse(b, n, 0, &p), PKT_OK);
		EXPECT_EQ(p.tcp_hlen, 20 + optlen);
		EXPECT_EQ(p.opt.mss, s.opt.mss);
		EXPECT_EQ(p.opt.sack_ok, s.opt.sack_ok);
		EXPECT_EQ(p.opt.has_ts, s.opt.has_ts);
		EXPECT_EQ(p.opt.has_wscale, s.opt.has_wscale);
		if (s.opt.has_ts) {
			EXPECT_EQ(p.opt.tsval, 0x01020304);
			EXPECT_EQ(p.opt.tsecr, 0x05060708);
		}
		EXPECT_EQ(pkt_tcp_csum_ok(b, n, &p), true);
	}
}

static void test_build_wscale_clamped(void **state)
{
	struct pkt_spec s = {0};
	uint8_t b[PKT_BUILD_MAX];
	struct pkt_tcp p;
	size_t n;

	(void)state;
	cur = "wscale clamp";
	s.t.family = AF_INET;
	s.flags = PKT_SYN | PKT_ACK;
	s.opt.has_wscale = true;
	s.opt.wscale = 15;
	n = pkt_build(b, sizeof(b), &s);
	EXPECT_EQ(n, 44);
	EXPECT_EQ(b[40], 1);
	EXPECT_EQ(b[41], 3);
	EXPECT_EQ(b[42], 3);
	EXPECT_EQ(b[43], 14);
	EXPECT_ERR(pkt_parse(b, n, 0, &p), PKT_OK);
	EXPECT_EQ(p.opt.wscale, 14);
}

static void test_build_invalid(void **state)
{
	struct pkt_spec s = {0};
	uint8_t b[PKT_BUILD_MAX];

	(void)state;
	cur = "build invalid";
	s.flags = PKT_RST;
	s.t.family = 0;
	EXPECT_EQ(pkt_build(b, sizeof(b), &s), 0);
	s.t.family = AF_UNIX;
	EXPECT_EQ(pkt_build(b, sizeof(b), &s), 0);
	s.t.family = AF_INET;
	EXPECT_EQ(pkt_build(b, 0, &s), 0);
	EXPECT_EQ(pkt_build(b, 39, &s), 0);
	EXPECT_EQ(pkt_build(b, 40, &s), 40);
	s.t.family = AF_INET6;
	EXPECT_EQ(pkt_build(b, 59, &s), 0);
	EXPECT_EQ(pkt_build(b, 60, &s), 60);
	/* The largest packet we build fits PKT_BUILD_MAX. */
	s.opt.mss = 1;
	s.opt.sack_ok = s.opt.has_ts = s.opt.has_wscale = true;
	EXPECT_EQ(pkt_build(b, sizeof(b), &s), 80);
}

/* The IP header's ECN field (RFC 3168 5): IPv4's TOS low bits, IPv6's traffic class low bits;
 * nothing around it leaks in. */
static void test_ip_ecn_field(void **state)
{
	(void)state;
	for (int fam = 0; fam < 2; fam++) {
		struct pkt_spec s = {
		    .seq = 1, .window = 1000, .flags = PKT_SYN | PKT_ECE | PKT_CWR};
		uint8_t buf[PKT_BUILD_MAX];
		struct pkt_tcp p;
		size_t n;

		s.t.family = fam ? AF_INET6 : AF_INET;
		s.t.saddr[0] = 0x20, s.t.daddr[0] = 0x20;
		s.t.sport = 1, s.t.dport = 2;
		n = pkt_build(buf, sizeof(buf), &s);
		assert_true(n > 0);
		assert_int_equal(pkt_parse(buf, n, 0, &p), PKT_OK);
		assert_int_equal(p.ip_ecn, 0); /* what pkt_build writes: Not-ECT */
		assert_int_equal(p.flags, PKT_SYN | PKT_ECE | PKT_CWR);
		for (uint8_t e = 0; e < 4; e++) {
			/* the ECN bits, with every other bit of the TOS / traffic class set */
			if (fam) {
				buf[0] = (uint8_t)(0x6f);
				buf[1] = (uint8_t)(0xcf | e << 4);
			} else {
				buf[1] = (uint8_t)(0xfc | e);
			}
			assert_int_equal(pkt_parse(buf, n, 0, &p), PKT_OK);
			assert_int_equal(p.ip_ecn, e);
		}
	}
}

static void test_strerror(void **state)
{
	(void)state;
	for (int i = 0; i < PKT_NERR; i++) {
		const char *s = pkt_strerror((enum pkt_err)i);

		assert_non_null(s);
		assert_true(s[0] != '\0');
		for (int j = 0; j < i; j++)
			assert_string_not_equal(s, pkt_strerror((enum pkt_err)j));
	}
	assert_string_equal(pkt_strerror((enum pkt_err)PKT_NERR), "unknown error");
	assert_string_equal(pkt_strerror((enum pkt_err) - 1), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ok_fixtures),
	    cmocka_unit_test(test_parse_err_fixtures),
	    cmocka_unit_test(test_parse_zero_length),
	    cmocka_unit_test(test_parse_every_prefix),
	    cmocka_unit_test(test_parse_oversize),
	    cmocka_unit_test(test_ipv4_total_length_sweep),
	    cmocka_unit_test(test_ipv4_ihl_sweep),
	    cmocka_unit_test(test_ipv6_payload_length_sweep),
	    cmocka_unit_test(test_ipv6_exthdr_length_sweep),
	    cmocka_unit_test(test_ipv6_next_header_sweep),
	    cmocka_unit_test(test_tcp_data_offset_sweep),
	    cmocka_unit_test(test_tcp_option_length_sweep),
	    cmocka_unit_test(test_tcp_option_edges),
	    cmocka_unit_test(test_parse_fuzz),
	    cmocka_unit_test(test_csum_ok_detects_corruption),
	    cmocka_unit_test(test_build_fixtures),
	    cmocka_unit_test(test_build_all_option_sets),
	    cmocka_unit_test(test_build_wscale_clamped),
	    cmocka_unit_test(test_build_invalid),
	    cmocka_unit_test(test_ip_ecn_field),
	    cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
