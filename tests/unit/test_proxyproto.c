/* PROXY protocol v1/v2 builders and parser, against the bytes the spec defines. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyproto.h"

static struct pkt_tuple tuple(int family, const char *src, const char *dst, uint16_t sport,
                              uint16_t dport)
{
	struct pkt_tuple t;

	memset(&t, 0, sizeof(t));
	t.family = (uint8_t)family;
	assert_int_equal(inet_pton(family, src, t.saddr), 1);
	assert_int_equal(inet_pton(family, dst, t.daddr), 1);
	t.sport = sport;
	t.dport = dport;
	return t;
}

static void check_v1(const struct pkt_tuple *t, const char *want)
{
	char buf[PP_BUILD_MAX];
	size_t n = pp_build_v1(buf, sizeof(buf), t);

	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);
}

static void test_v1_ipv4(void **state)
{
	(void)state;
	struct pkt_tuple t = tuple(AF_INET, "198.51.100.7", "192.0.2.1", 40000, 80);

	check_v1(&t, "PROXY TCP4 198.51.100.7 192.0.2.1 40000 80\r\n");
	t = tuple(AF_INET, "0.0.0.0", "255.255.255.255", 0, 65535);
	check_v1(&t, "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n");
}

static void test_v1_ipv6_rfc5952(void **state)
{
	(void)state;
	struct pkt_tuple t = tuple(AF_INET6, "2001:db8::7", "2001:db8::1", 40000, 443);

	check_v1(&t, "PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n");
	/* Longest zero run compressed; on a tie, the first. */
	t = tuple(AF_INET6, "2001:db8:0:0:1:0:0:1", "2001:0db8:0000:0001:0000:0000:0000:0001", 1,
	          2);
	check_v1(&t, "PROXY TCP6 2001:db8::1:0:0:1 2001:db8:0:1::1 1 2\r\n");
	/* A single zero group is not compressed; hex is lowercase. */
	t = tuple(AF_INET6, "2001:DB8:0:1:1:1:1:1", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", 1, 2);
	check_v1(&t,
	         "PROXY TCP6 2001:db8:0:1:1:1:1:1 2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff 1 2\r\n");
	/* Edges: all zero, trailing run, IPv4-mapped in dotted form. */
	t = tuple(AF_INET6, "::", "2001:db8:1::", 1, 2);
	check_v1(&t, "PROXY TCP6 :: 2001:db8:1:: 1 2\r\n");
	t = tuple(AF_INET6, "::ffff:192.0.2.9", "::1", 1, 2);
	check_v1(&t, "PROXY TCP6 ::ffff:192.0.2.9 ::1 1 2\r\n");
}

static void test_v1_longest_fits(void **state)
{
	(void)state;
	struct pkt_tuple t;
	char buf[PP_BUILD_MAX];
	size_t n;

	memset(&t, 0, sizeof(t));
	t.family = AF_INET6;
	memset(t.saddr, 0xff, 16);
	memset(t.daddr, 0xff, 16);
	t.sport = t.dport = 65535;
	n = pp_build_v1(buf, sizeof(buf), &t);
	assert_int_equal(n, 104);
	assert_true(n <= PP_V1_MAX);
	/* Too small a buffer: nothing, not a truncated line. */
	assert_int_equal(pp_build_v1(buf, n - 1, &t), 0);
	assert_int_equal(pp_build_v1(buf, n, &t), n);
	t.family = AF_UNIX;
	assert_int_equal(pp_build_v1(buf, sizeof(buf), &t), 0);
}

static void test_v2_ipv4_bytes(void **state)
{
	(void)state;
	static const uint8_t want[] = {
	    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, /* sig */
	    0x21,                /* version 2, PROXY */
	    0x11,                /* AF_INET, STREAM */
	    0x00, 0x0C,          /* 12 bytes follow */
	    198,  51,   100,  7, /* source */
	    192,  0,    2,    1, /* destination */
	    0x9C, 0x40,          /* 40000 */
	    0x00, 0x50,          /* 80 */
	};
	struct pkt_tuple t = tuple(AF_INET, "198.51.100.7", "192.0.2.1", 40000, 80);
	uint8_t buf[PP_BUILD_MAX];
	size_t n = pp_build_v2(buf, sizeof(buf), &t);

	assert_int_equal(n, sizeof(want));
	assert_memory_equal(buf, want, n);
	assert_int_equal(pp_build_v2(buf, n - 1, &t), 0);
}

static void test_v2_ipv6_bytes(void **state)
{
	(void)state;
	/* clang-format off */
	static const uint8_t want[] = {
		0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, /* sig */
		0x21,       /* version 2, PROXY */
		0x21,       /* AF_INET6, STREAM */
		0x00, 0x24, /* 36 bytes follow */
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07, /* source */
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, /* destination */
		0x01, 0xBB, /* 443 */
		0xFF, 0xFF, /* 65535 */
	};
	/* clang-format on */
	struct pkt_tuple t = tuple(AF_INET6, "2001:db8::7", "2001:db8::1", 443, 65535);
	uint8_t buf[PP_BUILD_MAX];
	size_t n = pp_build_v2(buf, sizeof(buf), &t);

	assert_int_equal(n, sizeof(want));
	assert_int_equal(n, PP_V2_MAX);
	assert_memory_equal(buf, want, n);
}

static void assert_tuple_equal(const struct pkt_tuple *a, const struct pkt_tuple *b)
{
	size_t alen = a->family == AF_INET ? 4 : 16;

	assert_int_equal(a->family, b->family);
	assert_memory_equal(a->saddr, b->saddr, alen);
	assert_memory_equal(a->daddr, b->daddr, alen);
	assert_int_equal(a->sport, b->sport);
	assert_int_equal(a->dport, b->dport);
}

/* Builds, appends payload, parses: the result is the tuple and the payload
 * starts right after the header; every proper prefix is INCOMPLETE. */
static void round_trip(const struct pkt_tuple *t, int version)
{
	uint8_t buf[PP_BUILD_MAX + 8];
	struct pp_result r;
	size_t n = version == 1 ? pp_build_v1((char *)buf, PP_BUILD_MAX, t)
	                        : pp_build_v2(buf, PP_BUILD_MAX, t);

	assert_true(n > 0);
	memcpy(buf + n, "GET /\r\n", 7);
	assert_int_equal(pp_parse(buf, n + 7, &r), PP_OK);
	assert_int_equal(r.version, version);
	assert_false(r.local);
	assert_int_equal(r.len, n);
	assert_tuple_equal(&r.t, t);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(pp_parse(buf, k, &r), PP_INCOMPLETE);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct pkt_tuple v4 = tuple(AF_INET, "203.0.113.200", "192.0.2.1", 1, 65535);
	struct pkt_tuple v6 = tuple(AF_INET6, "2001:db8:ffff::fe", "::ffff:192.0.2.1", 54321, 8080);
	struct pkt_tuple v6b = tuple(AF_INET6, "2001:db8:1:2:3:4:5:6", "::", 0, 0);

	round_trip(&v4, 1);
	round_trip(&v4, 2);
	round_trip(&v6, 1);
	round_trip(&v6, 2);
	round_trip(&v6b, 1);
	round_trip(&v6b, 2);
}

static enum pp_status parse_str(const char *s, struct pp_result *r)
{
	return pp_parse((const uint8_t *)s, strlen(s), r);
}

static void test_v1_unknown(void **state)
{
	(void)state;
	struct pp_result r;

	assert_int_equal(parse_str("PROXY UNKNOWN\r\n", &r), PP_OK);
	assert_true(r.local);
	assert_int_equal(r.len, 15);
	assert_int_equal(parse_str("PROXY UNKNOWN ffff:: 2001:db8::1 1 2\r\nxyz", &r), PP_OK);
	assert_true(r.local);
	assert_int_equal(r.len, 38);
}

static void test_v1_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "GET / HTTP/1.0\r\n",
	    "proxy TCP4 198.51.100.7 192.0.2.1 40000 80\r\n",
	    "PROXY TCP4 198.51.100.7 192.0.2.1 40000 80\n",
	    "PROXY TCP4 198.51.100.7 192.0.2.1 40000 80\r\r\n",
	    "PROXY TCP5 198.51.100.7 192.0.2.1 40000 80\r\n",
	    "PROXY TCP4 198.51.100.7 192.0.2.1 40000\r\n",
	    "PROXY TCP4 198.51.100.7 192.0.2.1 40000 80 9\r\n",
	    "PROXY TCP4 198.51.100.7  192.0.2.1 40000 80\r\n",
	    "PROXY TCP4 198.51.100.7 192.0.2.1 40000 80 \r\n",
	    "PROXY TCP4 198.51.100.256 192.0.2.1 40000 80\r\n",
	    "PROXY TCP4 2001:db8::1 192.0.2.1 40000 80\r\n",
	    "PROXY TCP6 198.51.100.7 2001:db8::1 40000 80\r\n",
	    "PROXY TCP4 198.51.100.7 192.0.2.1 65536 80\r\n",
	    "PROXY TCP4 198.51.100.7 192.0.2.1 040000 80\r\n",
	    "PROXY TCP4 198.51.100.7 192.0.2.1 -1 80\r\n",
	    "PROXY TCP4 198.51.100.7 192.0.2.1 4a 80\r\n",
	    "PROXY TCP4 198.51.100.7\t192.0.2.1 40000 80\r\n",
	    "PROXY TCP4 198.51.100.7 192.0.2.1 40000 \x80\r\n",
	    "PROXY\r\n",
	    "XPROXY",
	    "PROXX",
	};
	char longline[200];
	struct pp_result r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_str(bad[i], &r) != PP_INVALID)
			fail_msg("accepted: %s", bad[i]);
	}
	/* No CR within the first 106 bytes: the line cannot end within 107. */
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "PROXY UNKNOWN ", 14);
	assert_int_equal(pp_parse((uint8_t *)longline, 105, &r), PP_INCOMPLETE);
	assert_int_equal(pp_parse((uint8_t *)longline, 106, &r), PP_INVALID);
	assert_int_equal(pp_parse((uint8_t *)longline, sizeof(longline), &r), PP_INVALID);
	/* A 107-byte line (CRLF included) is the longest allowed. */
	memcpy(longline + 105, "\r\n", 2);
	assert_int_equal(pp_parse((uint8_t *)longline, 107, &r), PP_OK);
	assert_int_equal(r.len, 107);
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "PROXY UNKNOWN ", 14);
	memcpy(longline + 106, "\r\n", 2);
	assert_int_equal(pp_parse((uint8_t *)longline, 108, &r), PP_INVALID);
	/* Prefixes of garbage are refused at once, not waited on. */
	assert_int_equal(parse_str("PRO", &r), PP_INCOMPLETE);
	assert_int_equal(parse_str("PROXY TCP4 1", &r), PP_INCOMPLETE);
	assert_int_equal(parse_str("PROXY TCP4 1\n", &r), PP_INVALID);
	assert_int_equal(parse_str("", &r), PP_INCOMPLETE);
}

static void test_v2_rejects(void **state)
{
	(void)state;
	struct pkt_tuple t = tuple(AF_INET, "198.51.100.7", "192.0.2.1", 40000, 80);
	uint8_t good[PP_BUILD_MAX], buf[PP_BUILD_MAX];
	size_t n = pp_build_v2(good, sizeof(good), &t);
	struct pp_result r;

	/* Every single-byte corruption of the signature. */
	for (size_t i = 0; i < 12; i++) {
		memcpy(buf, good, n);
		buf[i] ^= 0x01;
		assert_int_equal(pp_parse(buf, n, &r), PP_INVALID);
		/* ... is refused as soon as the corrupt byte has arrived */
		assert_int_equal(pp_parse(buf, i + 1, &r), PP_INVALID);
	}
	memcpy(buf, good, n);
	buf[12] = 0x11; /* version 1 in a binary header */
	assert_int_equal(pp_parse(buf, n, &r), PP_INVALID);
	buf[12] = 0x22; /* command 2 */
	assert_int_equal(pp_parse(buf, n, &r), PP_INVALID);
	memcpy(buf, good, n);
	buf[13] = 0x41; /* address family 4 */
	assert_int_equal(pp_parse(buf, n, &r), PP_INVALID);
	buf[13] = 0x13; /* transport 3 */
	assert_int_equal(pp_parse(buf, n, &r), PP_INVALID);
	memcpy(buf, good, n);
	buf[15] = 11; /* shorter than an IPv4 address block */
	assert_int_equal(pp_parse(buf, n, &r), PP_INVALID);
	memcpy(buf, good, n);
	buf[13] = 0x21; /* claims IPv6 with 12 bytes */
	assert_int_equal(pp_parse(buf, n, &r), PP_INVALID);
	/* A longer length than the buffer holds: wait for it. */
	memcpy(buf, good, n);
	buf[15] = 20;
	assert_int_equal(pp_parse(buf, n, &r), PP_INCOMPLETE);
}

static void test_v2_local_and_tlvs(void **state)
{
	(void)state;
	struct pkt_tuple t = tuple(AF_INET, "198.51.100.7", "192.0.2.1", 40000, 80);
	uint8_t buf[64];
	size_t n = pp_build_v2(buf, sizeof(buf), &t);
	struct pp_result r;

	/* TLVs after the addresses are skipped: len covers them. */
	buf[15] = 12 + 5;
	memcpy(buf + n, "\x04\x00\x02hi", 5);
	assert_int_equal(pp_parse(buf, n + 5, &r), PP_OK);
	assert_int_equal(r.len, n + 5);
	assert_false(r.local);
	assert_tuple_equal(&r.t, &t);
	/* LOCAL command: no addresses to use. */
	buf[12] = 0x20;
	assert_int_equal(pp_parse(buf, n + 5, &r), PP_OK);
	assert_true(r.local);
	/* LOCAL with AF_UNSPEC and no address block, as health checks send it. */
	buf[13] = 0x00;
	buf[14] = buf[15] = 0;
	assert_int_equal(pp_parse(buf, 16, &r), PP_OK);
	assert_true(r.local);
	assert_int_equal(r.len, 16);
	/* UDP over IPv4: valid, but not a TCP client address. */
	n = pp_build_v2(buf, sizeof(buf), &t);
	buf[13] = 0x12;
	assert_int_equal(pp_parse(buf, n, &r), PP_OK);
	assert_true(r.local);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v1_ipv4),         cmocka_unit_test(test_v1_ipv6_rfc5952),
	    cmocka_unit_test(test_v1_longest_fits), cmocka_unit_test(test_v2_ipv4_bytes),
	    cmocka_unit_test(test_v2_ipv6_bytes),   cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_v1_unknown),      cmocka_unit_test(test_v1_rejects),
	    cmocka_unit_test(test_v2_rejects),      cmocka_unit_test(test_v2_local_and_tlvs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
