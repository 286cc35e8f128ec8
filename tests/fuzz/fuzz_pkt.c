/*
 * Fuzz target: the packet parser on arbitrary bytes, with and without
 * PKT_PARSE_PARTIAL, then the TCP checksum check and a rebuild.
 *
 * Invariants checked on top of "no crash, no out-of-bounds read" (the input is
 * copied to a buffer of exactly its size, so ASan sees any overread):
 * - a strict success implies a partial success with the same result;
 * - a success keeps every header inside the buffer, and the fields are sane;
 * - a partial success at caplen means: every shorter capture that still holds
 *   the headers parses the same, every shorter one fails with PKT_ETRUNC;
 * - pkt_build() of the parsed fields parses back to the same fields and has a
 *   valid checksum.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static bool same(const struct pkt_tcp *a, const struct pkt_tcp *b)
{
	return memcmp(&a->t, &b->t, sizeof(a->t)) == 0 && a->seq == b->seq && a->ack == b->ack &&
	       a->window == b->window && a->flags == b->flags && a->ttl == b->ttl &&
	       a->opt.mss == b->opt.mss && a->opt.has_wscale == b->opt.has_wscale &&
	       a->opt.wscale == b->opt.wscale && a->opt.sack_ok == b->opt.sack_ok &&
	       a->opt.has_ts == b->opt.has_ts && a->opt.tsval == b->opt.tsval &&
	       a->opt.tsecr == b->opt.tsecr && a->l4off == b->l4off && a->tcp_hlen == b->tcp_hlen &&
	       a->payload_len == b->payload_len;
}

static void check_fields(const uint8_t *buf, size_t size, const struct pkt_tcp *p)
{
	CHECK(p->t.family == AF_INET || p->t.family == AF_INET6);
	CHECK((buf[0] >> 4) == (p->t.family == AF_INET ? 4 : 6));
	CHECK(p->tcp_hlen >= 20 && p->tcp_hlen <= 60 && p->tcp_hlen % 4 == 0);
	CHECK((size_t)p->l4off + p->tcp_hlen <= size);
	CHECK(p->l4off >= (p->t.family == AF_INET ? 20 : 40));
	CHECK(!p->opt.has_wscale || p->opt.wscale <= 14);
	CHECK(p->opt.has_wscale || p->opt.wscale == 0);
}

/* Rebuilds what was parsed and parses it again. */
static void check_rebuild(const struct pkt_tcp *p)
{
	uint8_t out[PKT_BUILD_MAX];
	struct pkt_spec s;
	struct pkt_tcp q;
	size_t len;

	memset(&s, 0, sizeof(s));
	s.t = p->t;
	if (p->t.family == AF_INET) {
		/* IPv4 tuples carry only 4 address bytes */
		memset(s.t.saddr + 4, 0, 12);
		memset(s.t.daddr + 4, 0, 12);
	}
	s.seq = p->seq;
	s.ack = p->ack;
	s.window = p->window;
	s.flags = p->flags;
	s.ttl = p->ttl;
	s.opt = p->opt;
	len = pkt_build(out, sizeof(out), &s);
	CHECK(len > 0);
	CHECK(pkt_parse(out, len, 0, &q) == PKT_OK);
	CHECK(pkt_tcp_csum_ok(out, len, &q));
	CHECK(memcmp(&q.t, &s.t, sizeof(q.t)) == 0);
	CHECK(q.seq == s.seq && q.ack == s.ack && q.window == s.window && q.flags == s.flags);
	CHECK(q.ttl == (s.ttl ? s.ttl : 64));
	CHECK(q.opt.mss == s.opt.mss && q.opt.has_wscale == s.opt.has_wscale &&
	      q.opt.wscale == s.opt.wscale && q.opt.sack_ok == s.opt.sack_ok &&
	      q.opt.has_ts == s.opt.has_ts);
	if (q.opt.has_ts)
		CHECK(q.opt.tsval == s.opt.tsval && q.opt.tsecr == s.opt.tsecr);
	CHECK(q.payload_len == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt_tcp strict, partial, cut;
	enum pkt_err es, ep;
	uint8_t *buf;

	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);

	es = pkt_parse(buf, size, 0, &strict);
	ep = pkt_parse(buf, size, PKT_PARSE_PARTIAL, &partial);
	CHECK((unsigned)es < PKT_NERR);
	CHECK((unsigned)ep < PKT_NERR);
	CHECK(pkt_strerror(es) != NULL && pkt_strerror(ep) != NULL);

	if (es == PKT_OK) {
		CHECK(ep == PKT_OK && same(&strict, &partial));
		check_fields(buf, size, &strict);
		/* the whole segment is in the buffer: the checksum can be computed */
		CHECK((size_t)strict.l4off + strict.tcp_hlen + strict.payload_len <= size);
		(void)pkt_tcp_csum_ok(buf, size, &strict);
		check_rebuild(&strict);
	}
	if (ep == PKT_OK) {
		size_t hdr_end = (size_t)partial.l4off + partial.tcp_hlen;

		check_fields(buf, size, &partial);
		/* may or may not have the payload; must never read past size */
		(void)pkt_tcp_csum_ok(buf, size, &partial);
		/* shorter captures: a few lengths around the end of the headers, and 0 */
		for (size_t k = 0; k <= 3; k++) {
			size_t lens[3] = {hdr_end - k, hdr_end + k, k};

			for (size_t i = 0; i < 3; i++) {
				size_t l = lens[i];
				enum pkt_err e;

				uint8_t *c;

				if (l > size)
					continue;
				/* a buffer of exactly l bytes: reading past the capture is caught
				 */
				c = malloc(l ? l : 1);
				if (!c)
					continue;
				memcpy(c, buf, l);
				e = pkt_parse(c, l, PKT_PARSE_PARTIAL, &cut);
				free(c);
				if (l >= hdr_end)
					CHECK(e == PKT_OK && same(&cut, &partial));
				else
					CHECK(e == PKT_ETRUNC);
			}
		}
	}
	free(buf);
	return 0;
}
