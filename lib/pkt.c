/*
 * TCP/IP parsing and building.
 *
 * Parsing keeps two limits apart: the end the IP length fields declare
 * (iplen) and the end of the captured bytes (caplen). A header that does not
 * fit in iplen is a lie in some length field; one that fits in iplen but not
 * in caplen was cut by the capture (possible only with PKT_PARSE_PARTIAL,
 * since otherwise iplen <= caplen is required up front). Which field is
 * blamed when a header overruns iplen:
 *
 *   fixed part of a header (IPv4 IHL bytes, 8 bytes of an IPv6 extension
 *   header, 20 bytes of TCP)            -> PKT_ELEN (the IP length is short)
 *   the header's own length field       -> PKT_EEXTHDR / PKT_ETCPOFF
 *   a TCP option's length               -> PKT_EOPT (against the data offset)
 *
 * IPv6 next headers fall into four groups: the extension headers skipped by
 * their length (hop-by-hop, first only; routing; destination options), the
 * fragment header (PKT_EFRAG), well-known upper layers that are not TCP
 * (PKT_ENOTTCP), and everything else, including ESP, AH, Mobility, HIP, Shim6
 * and unassigned numbers (PKT_ENEXTHDR): its layout is not guessed at.
 *
 * Building writes whole 32-bit words at fixed offsets; the only loop is the
 * checksum over the 40 to 80 bytes written.
 */
#include "pkt.h"

#include "bytes.h"
#include "csum.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#define IPV4_HLEN 20
#define IPV6_HLEN 40
#define TCP_HLEN  20

#define IP_DF      0x4000
#define IP_MF      0x2000
#define IP_OFFMASK 0x1fff

#define NH_HOPOPTS  0
#define NH_TCP      6
#define NH_ROUTING  43
#define NH_FRAGMENT 44
#define NH_DSTOPTS  60

#define TCPOPT_EOL       0
#define TCPOPT_NOP       1
#define TCPOPT_MSS       2
#define TCPOPT_WS        3
#define TCPOPT_SACK_PERM 4
#define TCPOPT_TS        8

#define TCPOLEN_MSS       4
#define TCPOLEN_WS        3
#define TCPOLEN_SACK_PERM 2
#define TCPOLEN_TS        10

static const char *const pkt_errstr[PKT_NERR] = {
    [PKT_OK] = "ok",
    [PKT_ETRUNC] = "truncated",
    [PKT_EVERSION] = "bad IP version",
    [PKT_EIHL] = "bad IPv4 header length",
    [PKT_ELEN] = "bad IP length",
    [PKT_EFRAG] = "fragment",
    [PKT_EEXTHDR] = "bad IPv6 extension header chain",
    [PKT_ENEXTHDR] = "unknown IPv6 next header",
    [PKT_ENOTTCP] = "not TCP",
    [PKT_ETCPOFF] = "bad TCP data offset",
    [PKT_EOPT] = "bad TCP option",
};

const char *pkt_strerror(enum pkt_err err)
{
	if ((unsigned)err >= PKT_NERR)
		return "unknown error";
	return pkt_errstr[err];
}

/* Well-known upper layers that end the chain without being TCP. */
static bool nh_is_other_transport(uint8_t nh)
{
	switch (nh) {
	case 1:   /* ICMP (misused over IPv6, still a transport) */
	case 4:   /* IPv4 encapsulation */
	case 17:  /* UDP */
	case 33:  /* DCCP */
	case 41:  /* IPv6 encapsulation */
	case 47:  /* GRE */
	case 58:  /* ICMPv6 */
	case 59:  /* no next header */
	case 132: /* SCTP */
	case 136: /* UDP-Lite */
		return true;
	default:
		return false;
	}
}

/*
 * Walks the IPv6 header chain to the TCP header. On success *l4off is the TCP
 * header's offset; iplen bounds the chain, caplen the bytes that may be read.
 */
static enum pkt_err parse_ipv6_chain(const uint8_t *buf, size_t caplen, size_t iplen, size_t *l4off)
{
	uint8_t nh = buf[6];
	size_t off = IPV6_HLEN;
	unsigned n;

	for (n = 0;; n++) {
		size_t len;

		if (nh == NH_TCP)
			break;
		if (nh == NH_FRAGMENT)
			return PKT_EFRAG;
		if (nh != NH_HOPOPTS && nh != NH_ROUTING && nh != NH_DSTOPTS)
			return nh_is_other_transport(nh) ? PKT_ENOTTCP : PKT_ENEXTHDR;
		/* RFC 8200 4.1: hop-by-hop options only right after the IPv6 header. */
		if (nh == NH_HOPOPTS && n != 0)
			return PKT_EEXTHDR;
		if (n == PKT_IPV6_MAX_EXTHDR)
			return PKT_EEXTHDR;
		/* All three are at least 8 bytes long: next header, length, 6 more. */
		if (off + 8 > iplen)
			return PKT_ELEN;
		if (off + 8 > caplen)
			return PKT_ETRUNC;
		len = ((size_t)buf[off + 1] + 1) * 8;
		if (off + len > iplen)
			return PKT_EEXTHDR;
		if (off + len > caplen)
			return PKT_ETRUNC;
		nh = buf[off];
		off += len;
	}
	*l4off = off;
	return PKT_OK;
}

/* Options between the fixed TCP header and the data offset. */
static enum pkt_err parse_tcpopts(const uint8_t *p, size_t len, struct pkt_tcpopts *o)
{
	const uint8_t *end = p + len;

	while (p < end) {
		uint8_t kind = p[0];
		uint8_t olen;

		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			p++;
			continue;
		}
		if (end - p < 2)
			return PKT_EOPT;
		olen = p[1];
		if (olen < 2 || olen > end - p)
			return PKT_EOPT;
		switch (kind) {
		case TCPOPT_MSS:
			if (olen != TCPOLEN_MSS)
				return PKT_EOPT;
			o->mss = bytes_get_be16(p + 2);
			break;
		case TCPOPT_WS:
			if (olen != TCPOLEN_WS)
				return PKT_EOPT;
			o->wscale = p[2] > PKT_MAX_WSCALE ? PKT_MAX_WSCALE : p[2];
			o->has_wscale = true;
			break;
		case TCPOPT_SACK_PERM:
			if (olen != TCPOLEN_SACK_PERM)
				return PKT_EOPT;
			o->sack_ok = true;
			break;
		case TCPOPT_TS:
			if (olen != TCPOLEN_TS)
				return PKT_EOPT;
			o->tsval = bytes_get_be32(p + 2);
			o->tsecr = bytes_get_be32(p + 6);
			o->has_ts = true;
			break;
		default:
			break;
		}
		p += olen;
	}
	return PKT_OK;
}

enum pkt_err pkt_parse(const uint8_t *buf, size_t caplen, unsigned flags, struct pkt_tcp *out)
{
	size_t iplen, l4off, doff;
	const uint8_t *th;
	enum pkt_err err;

	if (caplen < 1)
		return PKT_ETRUNC;
	memset(out, 0, sizeof(*out));

	switch (buf[0] >> 4) {
	case 4: {
		size_t ihl;

		if (caplen < IPV4_HLEN)
			return PKT_ETRUNC;
		ihl = (size_t)(buf[0] & 0x0f) * 4;
		if (ihl < IPV4_HLEN)
			return PKT_EIHL;
		iplen = bytes_get_be16(buf + 2);
		if (iplen < ihl)
			return PKT_ELEN;
		if (!(flags & PKT_PARSE_PARTIAL) && iplen > caplen)
			return PKT_ELEN;
		if (ihl > caplen)
			return PKT_ETRUNC;
		if (bytes_get_be16(buf + 6) & (IP_MF | IP_OFFMASK))
			return PKT_EFRAG;
		if (buf[9] != NH_TCP)
			return PKT_ENOTTCP;
		out->t.family = AF_INET;
		out->ttl = buf[8];
		out->ip_ecn = buf[1] & 0x3; /* the low bits of the TOS byte */
		memcpy(out->t.saddr, buf + 12, 4);
		memcpy(out->t.daddr, buf + 16, 4);
		l4off = ihl;
		break;
	}
	case 6:
		if (caplen < IPV6_HLEN)
			return PKT_ETRUNC;
		iplen = IPV6_HLEN + (size_t)bytes_get_be16(buf + 4);
		if (!(flags & PKT_PARSE_PARTIAL) && iplen > caplen)
			return PKT_ELEN;
		err = parse_ipv6_chain(buf, caplen, iplen, &l4off);
		if (err != PKT_OK)
			return err;
		out->t.family = AF_INET6;
		out->ttl = buf[7];
		out->ip_ecn = buf[1] >> 4 & 0x3; /* the low bits of the traffic class */
		memcpy(out->t.saddr, buf + 8, 16);
		memcpy(out->t.daddr, buf + 24, 16);
		break;
	default:
		return PKT_EVERSION;
	}

	if (l4off + TCP_HLEN > iplen)
		return PKT_ELEN;
	if (l4off + TCP_HLEN > caplen)
		return PKT_ETRUNC;
	doff = (size_t)(buf[l4off + 12] >> 4) * 4;
	if (doff < TCP_HLEN || l4off + doff > iplen)
		return PKT_ETCPOFF;
	if (l4off + doff > caplen)
		return PKT_ETRUNC;

	th = buf + l4off;
	out->t.sport = bytes_get_be16(th);
	out->t.dport = bytes_get_be16(th + 2);
	out->seq = bytes_get_be32(th + 4);
	out->ack = bytes_get_be32(th + 8);
	out->flags = th[13];
	out->window = bytes_get_be16(th + 14);
	out->l4off = (uint16_t)l4off;
	out->tcp_hlen = (uint16_t)doff;
	out->payload_len = (uint32_t)(iplen - l4off - doff);
	return parse_tcpopts(th + TCP_HLEN, doff - TCP_HLEN, &out->opt);
}

bool pkt_tcp_csum_ok(const uint8_t *buf, size_t caplen, const struct pkt_tcp *p)
{
	size_t l4len = (size_t)p->tcp_hlen + p->payload_len;
	uint32_t sum;

	if (p->l4off > caplen || l4len > caplen - p->l4off)
		return false;
	sum = csum_pseudo(p->t.family, p->t.saddr, p->t.daddr, IPPROTO_TCP, (uint32_t)l4len);
	sum = csum_partial(buf + p->l4off, l4len, sum);
	return csum_fold(sum) == 0;
}

/* Length of the options pkt_build() writes for o; always a multiple of 4. */
static size_t build_optlen(const struct pkt_tcpopts *o)
{
	return (o->mss ? 4 : 0) + (o->has_ts ? 12 : o->sack_ok ? 4 : 0) + (o->has_wscale ? 4 : 0);
}

/* Linux's layout (tcp_options_write): SACK-permitted shares a word with the timestamp. */
static void build_opts(uint8_t *p, const struct pkt_tcpopts *o)
{
	if (o->mss) {
		bytes_put_be32(p, (uint32_t)TCPOPT_MSS << 24 | TCPOLEN_MSS << 16 | o->mss);
		p += 4;
	}
	if (o->has_ts) {
		if (o->sack_ok)
			bytes_put_be32(p, TCPOPT_SACK_PERM << 24 | TCPOLEN_SACK_PERM << 16 |
			                      TCPOPT_TS << 8 | TCPOLEN_TS);
		else
			bytes_put_be32(p, TCPOPT_NOP << 24 | TCPOPT_NOP << 16 | TCPOPT_TS << 8 |
			                      TCPOLEN_TS);
		bytes_put_be32(p + 4, o->tsval);
		bytes_put_be32(p + 8, o->tsecr);
		p += 12;
	} else if (o->sack_ok) {
		bytes_put_be32(p, TCPOPT_NOP << 24 | TCPOPT_NOP << 16 | TCPOPT_SACK_PERM << 8 |
		                      TCPOLEN_SACK_PERM);
		p += 4;
	}
	if (o->has_wscale) {
		uint8_t ws = o->wscale > PKT_MAX_WSCALE ? PKT_MAX_WSCALE : o->wscale;

		bytes_put_be32(p, TCPOPT_NOP << 24 | TCPOPT_WS << 16 | TCPOLEN_WS << 8 | ws);
	}
}

size_t pkt_build(uint8_t *buf, size_t cap, const struct pkt_spec *spec)
{
	const struct pkt_tuple *t = &spec->t;
	size_t iphlen, thlen = TCP_HLEN + build_optlen(&spec->opt);
	uint8_t ttl = spec->ttl ? spec->ttl : 64;
	uint8_t *th;
	uint16_t csum;

	if (t->family == AF_INET)
		iphlen = IPV4_HLEN;
	else if (t->family == AF_INET6)
		iphlen = IPV6_HLEN;
	else
		return 0;
	if (cap < iphlen + thlen)
		return 0;

	if (t->family == AF_INET) {
		bytes_put_be32(buf,
		               0x45u << 24 | (uint32_t)(iphlen + thlen)); /* version, IHL, TOS 0 */
		bytes_put_be32(buf + 4, IP_DF);                           /* id 0, DF, offset 0 */
		bytes_put_be32(buf + 8,
		               (uint32_t)ttl << 24 | NH_TCP << 16); /* checksum 0 for now */
		memcpy(buf + 12, t->saddr, 4);
		memcpy(buf + 16, t->daddr, 4);
		csum = csum_fold(csum_partial(buf, IPV4_HLEN, 0));
		memcpy(buf + 10, &csum, 2);
	} else {
		bytes_put_be32(buf, 0x6u << 28); /* traffic class 0, flow label 0 */
		bytes_put_be32(buf + 4, (uint32_t)thlen << 16 | NH_TCP << 8 | ttl);
		memcpy(buf + 8, t->saddr, 16);
		memcpy(buf + 24, t->daddr, 16);
	}

	th = buf + iphlen;
	bytes_put_be32(th, (uint32_t)t->sport << 16 | t->dport);
	bytes_put_be32(th + 4, spec->seq);
	bytes_put_be32(th + 8, spec->ack);
	bytes_put_be32(th + 12,
	               (uint32_t)(thlen / 4) << 28 | (uint32_t)spec->flags << 16 | spec->window);
	bytes_put_be32(th + 16, 0); /* checksum, urgent pointer */
	build_opts(th + TCP_HLEN, &spec->opt);
	csum = csum_fold(csum_partial(
	    th, thlen, csum_pseudo(t->family, t->saddr, t->daddr, IPPROTO_TCP, (uint32_t)thlen)));
	memcpy(th + 16, &csum, 2);
	return iphlen + thlen;
}
