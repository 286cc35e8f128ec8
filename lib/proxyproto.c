#include "proxyproto.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "bytes.h"

const uint8_t pp_v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                               0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

#define PP_V2_VER_CMD_PROXY 0x21
#define PP_V2_FAM_TCP4      0x11
#define PP_V2_FAM_TCP6      0x21
#define PP_V2_LEN_INET      12
#define PP_V2_LEN_INET6     36
#define PP_V2_LEN_UNIX      216

/* Enough for "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" and its NUL. */
#define ADDR_STR_MAX 46

/*
 * RFC 5952 text form of an IPv6 address: lowercase hex, no leading zeros,
 * the longest run (first on a tie) of two or more zero groups as "::", and
 * IPv4-mapped addresses with a dotted quad. Written here rather than taken
 * from inet_ntop so the output does not depend on the C library.
 */
static void format_ip6(char *out, const uint8_t a[16])
{
	uint16_t w[8];
	int best = -1, best_len = 0;
	char *p = out;

	for (int i = 0; i < 8; i++)
		w[i] = (uint16_t)(a[2 * i] << 8 | a[2 * i + 1]);
	if (!w[0] && !w[1] && !w[2] && !w[3] && !w[4] && w[5] == 0xffff) {
		sprintf(out, "::ffff:%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
		return;
	}
	for (int i = 0; i < 8;) {
		int j = i;

		while (j < 8 && w[j] == 0)
			j++;
		if (j - i > best_len) {
			best = i;
			best_len = j - i;
		}
		i = j > i ? j : i + 1;
	}
	if (best_len < 2)
		best = -1;
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			*p++ = ':';
			*p++ = ':';
			i += best_len - 1;
			continue;
		}
		if (i > 0 && i != best + best_len)
			*p++ = ':';
		p += sprintf(p, "%x", w[i]);
	}
	*p = '\0';
}

static void format_addr(char *out, int family, const uint8_t *a)
{
	if (family == AF_INET)
		sprintf(out, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
	else
		format_ip6(out, a);
}

size_t pp_build_v1(char *buf, size_t cap, const struct pkt_tuple *t)
{
	char src[ADDR_STR_MAX], dst[ADDR_STR_MAX], line[PP_V1_MAX + 1];
	int n;

	if (t->family != AF_INET && t->family != AF_INET6)
		return 0;
	format_addr(src, t->family, t->saddr);
	format_addr(dst, t->family, t->daddr);
	n = snprintf(line, sizeof(line), "PROXY %s %s %s %u %u\r\n",
	             t->family == AF_INET ? "TCP4" : "TCP6", src, dst, t->sport, t->dport);
	if (n < 0 || (size_t)n >= sizeof(line) || (size_t)n > cap)
		return 0;
	memcpy(buf, line, (size_t)n);
	return (size_t)n;
}

size_t pp_build_v2(uint8_t *buf, size_t cap, const struct pkt_tuple *t)
{
	size_t alen, addrlen;
	uint8_t *p;

	if (t->family == AF_INET)
		alen = 4;
	else if (t->family == AF_INET6)
		alen = 16;
	else
		return 0;
	addrlen = 2 * alen + 4;
	if (cap < PP_V2_HDR + addrlen)
		return 0;
	memcpy(buf, pp_v2_sig, sizeof(pp_v2_sig));
	buf[12] = PP_V2_VER_CMD_PROXY;
	buf[13] = t->family == AF_INET ? PP_V2_FAM_TCP4 : PP_V2_FAM_TCP6;
	bytes_put_be16(buf + 14, (uint16_t)addrlen);
	p = buf + PP_V2_HDR;
	memcpy(p, t->saddr, alen);
	memcpy(p + alen, t->daddr, alen);
	bytes_put_be16(p + 2 * alen, t->sport);
	bytes_put_be16(p + 2 * alen + 2, t->dport);
	return PP_V2_HDR + addrlen;
}

static enum pp_status parse_v2(const uint8_t *buf, size_t len, struct pp_result *out)
{
	size_t n = len < sizeof(pp_v2_sig) ? len : sizeof(pp_v2_sig);
	uint8_t cmd, af, proto;
	size_t addrlen, alen;

	if (memcmp(buf, pp_v2_sig, n) != 0)
		return PP_INVALID;
	if (len < PP_V2_HDR)
		return PP_INCOMPLETE;
	if (buf[12] >> 4 != 2)
		return PP_INVALID;
	cmd = buf[12] & 0x0f;
	af = buf[13] >> 4;
	proto = buf[13] & 0x0f;
	if (cmd > 1 || af > 3 || proto > 2)
		return PP_INVALID;
	addrlen = bytes_get_be16(buf + 14);
	if ((af == 1 && addrlen < PP_V2_LEN_INET) || (af == 2 && addrlen < PP_V2_LEN_INET6) ||
	    (af == 3 && addrlen < PP_V2_LEN_UNIX))
		return PP_INVALID;
	if (len < PP_V2_HDR + addrlen)
		return PP_INCOMPLETE;

	memset(out, 0, sizeof(*out));
	out->version = 2;
	out->len = PP_V2_HDR + addrlen;
	/* LOCAL (health checks from the proxy itself), and anything but TCP
	 * over IP, carry no client address we could use. */
	if (cmd == 0 || proto != 1 || (af != 1 && af != 2)) {
		out->local = true;
		return PP_OK;
	}
	alen = af == 1 ? 4 : 16;
	out->t.family = af == 1 ? AF_INET : AF_INET6;
	memcpy(out->t.saddr, buf + PP_V2_HDR, alen);
	memcpy(out->t.daddr, buf + PP_V2_HDR + alen, alen);
	out->t.sport = bytes_get_be16(buf + PP_V2_HDR + 2 * alen);
	out->t.dport = bytes_get_be16(buf + PP_V2_HDR + 2 * alen + 2);
	return PP_OK;
}

/* A decimal port as the spec writes it: 0..65535, no sign, no leading zero. */
static int parse_port(const char *s, size_t n, uint16_t *out)
{
	unsigned v = 0;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static int parse_addr(const char *s, size_t n, int family, uint8_t *out)
{
	char tmp[ADDR_STR_MAX];

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(family, tmp, out) == 1 ? 0 : -1;
}

static enum pp_status parse_v1(const uint8_t *buf, size_t len, struct pp_result *out)
{
	static const char prefix[] = "PROXY ";
	const char *line = (const char *)buf, *tok[6];
	size_t n = len < sizeof(prefix) - 1 ? len : sizeof(prefix) - 1;
	size_t end = 0, toklen[6], ntok = 0;
	int family;

	if (memcmp(buf, prefix, n) != 0)
		return PP_INVALID;
	/* Only printable ASCII and the final CRLF: garbage is refused before
	 * the reader waits for a line end that will never come. */
	while (end < len && end < PP_V1_MAX && buf[end] != '\r') {
		if (buf[end] < 0x20 || buf[end] > 0x7e)
			return PP_INVALID;
		end++;
	}
	if (end == PP_V1_MAX || end + 1 >= PP_V1_MAX)
		return PP_INVALID;
	if (end + 1 >= len)
		return PP_INCOMPLETE;
	if (buf[end + 1] != '\n')
		return PP_INVALID;

	memset(out, 0, sizeof(*out));
	out->version = 1;
	out->len = end + 2;
	for (size_t i = 0; i <= end && ntok < 6;) {
		size_t j = i;

		while (j < end && line[j] != ' ')
			j++;
		tok[ntok] = line + i;
		toklen[ntok++] = j - i;
		if (j == end)
			break;
		i = j + 1;
	}
	if (ntok >= 2 && toklen[1] == 7 && memcmp(tok[1], "UNKNOWN", 7) == 0) {
		/* Whatever follows UNKNOWN is to be ignored. */
		out->local = true;
		return PP_OK;
	}
	if (ntok != 6 || tok[5] + toklen[5] != line + end || toklen[1] != 4)
		return PP_INVALID;
	if (memcmp(tok[1], "TCP4", 4) == 0)
		family = AF_INET;
	else if (memcmp(tok[1], "TCP6", 4) == 0)
		family = AF_INET6;
	else
		return PP_INVALID;
	out->t.family = (uint8_t)family;
	if (parse_addr(tok[2], toklen[2], family, out->t.saddr) < 0 ||
	    parse_addr(tok[3], toklen[3], family, out->t.daddr) < 0 ||
	    parse_port(tok[4], toklen[4], &out->t.sport) < 0 ||
	    parse_port(tok[5], toklen[5], &out->t.dport) < 0)
		return PP_INVALID;
	return PP_OK;
}

enum pp_status pp_parse(const uint8_t *buf, size_t len, struct pp_result *out)
{
	if (len == 0)
		return PP_INCOMPLETE;
	if (buf[0] == pp_v2_sig[0])
		return parse_v2(buf, len, out);
	if (buf[0] == 'P')
		return parse_v1(buf, len, out);
	return PP_INVALID;
}
