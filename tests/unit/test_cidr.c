/*
 * CIDR parsing and longest-prefix-match sets: parse errors and their
 * messages, exact matches at /0, /32, /128 and nested prefixes, and many
 * random, overlapping prefixes checked against a brute-force scan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static struct cidr parse_ok(const char *text)
{
	struct cidr c;
	char err[128] = "";

	if (cidr_parse(text, &c, err, sizeof(err)) != 0)
		fail_msg("cidr_parse(\"%s\"): %s", text, err);
	return c;
}

static void parse_fails(const char *text, const char *want)
{
	struct cidr c;
	char err[128] = "";

	if (cidr_parse(text, &c, err, sizeof(err)) == 0)
		fail_msg("cidr_parse(\"%s\") accepted", text);
	if (strstr(err, want) == NULL)
		fail_msg("cidr_parse(\"%s\"): \"%s\" lacks \"%s\"", text, err, want);
}

static void test_parse(void **state)
{
	struct cidr c;
	char text[CIDR_TEXT_MAX];

	(void)state;
	c = parse_ok("192.0.2.0/24");
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.len, 24);
	assert_memory_equal(c.addr, ((uint8_t[]){192, 0, 2, 0}), 4);
	c = parse_ok("198.51.100.7");
	assert_int_equal(c.len, 32);
	c = parse_ok("0.0.0.0/0");
	assert_int_equal(c.len, 0);
	c = parse_ok("2001:db8::/32");
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.len, 32);
	assert_memory_equal(c.addr, ((uint8_t[]){0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0}), 8);
	c = parse_ok("2001:db8::1");
	assert_int_equal(c.len, 128);
	c = parse_ok("::/0");
	assert_int_equal(c.len, 0);
	c = parse_ok("192.0.2.0/024"); /* leading zeros are still decimal */
	assert_int_equal(c.len, 24);
	c = parse_ok("2001:db8:ffff:ffff:ffff:ffff:ffff:fffe/127");
	cidr_format(&c, text, sizeof(text));
	assert_string_equal(text, "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe/127");
	cidr_format(&(struct cidr){.family = AF_INET6,
	                           .len = 128,
	                           .addr = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	            text, sizeof(text));
	assert_string_equal(text, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
	assert_true(strlen(text) < CIDR_TEXT_MAX);
}

static void test_parse_errors(void **state)
{
	(void)state;
	parse_fails("", "empty address");
	parse_fails("/24", "missing address");
	parse_fails("192.0.2.0/", "missing prefix length");
	parse_fails("192.0.2.0/33", "out of range for IPv4 (0..32)");
	parse_fails("192.0.2.0/99999999999999999999", "out of range");
	parse_fails("2001:db8::/129", "out of range for IPv6 (0..128)");
	parse_fails("192.0.2.1/24", "the network is 192.0.2.0/24");
	parse_fails("2001:db8::1/32", "the network is 2001:db8::/32");
	parse_fails("0.0.0.1/0", "the network is 0.0.0.0/0");
	parse_fails("192.0.2.0/2x", "not a decimal number");
	parse_fails("192.0.2.0/-1", "not a decimal number");
	parse_fails("192.0.2.0/+8", "not a decimal number");
	parse_fails("192.0.2.0/ 8", "not a decimal number");
	parse_fails("192.0.2.0/24/1", "not a decimal number");
	parse_fails("300.1.2.3", "not an IPv4 or IPv6 address");
	parse_fails("192.0.2", "not an IPv4 or IPv6 address");
	parse_fails("192.0.2.0 ", "not an IPv4 or IPv6 address");
	parse_fails("2001:db8:::1", "not an IPv4 or IPv6 address");
	parse_fails("example.org", "not an IPv4 or IPv6 address");
	parse_fails("0123456789012345678901234567890123456789012345678901234567890123456789",
	            "not an IPv4 or IPv6 address");
}

static void test_contains(void **state)
{
	struct cidr n = parse_ok("192.0.2.128/25");
	uint8_t a[16];

	(void)state;
	inet_pton(AF_INET, "192.0.2.128", a);
	assert_true(cidr_contains(&n, AF_INET, a));
	inet_pton(AF_INET, "192.0.2.255", a);
	assert_true(cidr_contains(&n, AF_INET, a));
	inet_pton(AF_INET, "192.0.2.127", a);
	assert_false(cidr_contains(&n, AF_INET, a));
	assert_false(cidr_contains(&n, AF_INET6, a));
	n = parse_ok("2001:db8::/33");
	inet_pton(AF_INET6, "2001:db8:7fff::1", a);
	assert_true(cidr_contains(&n, AF_INET6, a));
	inet_pton(AF_INET6, "2001:db8:8000::", a);
	assert_false(cidr_contains(&n, AF_INET6, a));
}

static int32_t look(const struct cidr_set *s, const char *addr)
{
	uint8_t a[16];
	int family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(family, addr, a), 1);
	return cidr_set_lookup(s, family, a);
}

static struct cidr_set *build(const char *const *texts, const int32_t *values, size_t n)
{
	struct cidr_entry *e = calloc(n + 1, sizeof(*e));
	struct cidr_set *s;
	char err[128] = "";

	for (size_t i = 0; i < n; i++) {
		e[i].net = parse_ok(texts[i]);
		e[i].value = values[i];
	}
	s = cidr_set_new(e, n, err, sizeof(err));
	free(e);
	if (s == NULL)
		fail_msg("cidr_set_new: %s", err);
	return s;
}

static void test_lpm_v4(void **state)
{
	static const char *const nets[] = {
	    "0.0.0.0/0",       "192.0.2.0/24",    "192.0.2.128/25",
	    "192.0.2.255/32",  "198.51.100.0/24", "198.51.100.0/26",
	    "255.255.255.255", "0.0.0.0/32",      "203.0.113.64/26",
	};
	static const int32_t vals[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	struct cidr_set *s = build(nets, vals, 9);

	(void)state;
	assert_int_equal(look(s, "0.0.0.0"), 8);
	assert_int_equal(look(s, "0.0.0.1"), 1);
	assert_int_equal(look(s, "192.0.1.255"), 1);
	assert_int_equal(look(s, "192.0.2.0"), 2);
	assert_int_equal(look(s, "192.0.2.127"), 2);
	assert_int_equal(look(s, "192.0.2.128"), 3);
	assert_int_equal(look(s, "192.0.2.254"), 3);
	assert_int_equal(look(s, "192.0.2.255"), 4);
	assert_int_equal(look(s, "192.0.3.0"), 1);
	assert_int_equal(look(s, "198.51.100.0"), 6);
	assert_int_equal(look(s, "198.51.100.63"), 6);
	assert_int_equal(look(s, "198.51.100.64"), 5);
	assert_int_equal(look(s, "198.51.100.255"), 5);
	assert_int_equal(look(s, "203.0.113.63"), 1);
	assert_int_equal(look(s, "203.0.113.64"), 9);
	assert_int_equal(look(s, "203.0.113.127"), 9);
	assert_int_equal(look(s, "203.0.113.128"), 1);
	assert_int_equal(look(s, "255.255.255.254"), 1);
	assert_int_equal(look(s, "255.255.255.255"), 7);
	/* no IPv6 prefix: nothing matches, even with 0.0.0.0/0 present */
	assert_int_equal(look(s, "::"), -1);
	assert_int_equal(look(s, "2001:db8::1"), -1);
	assert_int_equal(cidr_set_lookup(s, AF_UNIX, (const uint8_t[16]){0}), -1);
	cidr_set_free(s);
}

static void test_lpm_v6(void **state)
{
	static const char *const nets[] = {
	    "::/0",
	    "2001:db8::/32",
	    "2001:db8::/48",
	    "2001:db8::1",
	    "2001:db8:0:1::/64",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "2001:db8:ffff:ffff:8000::/65",
	    "192.0.2.0/24",
	};
	static const int32_t vals[] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct cidr_set *s = build(nets, vals, 8);

	(void)state;
	assert_int_equal(look(s, "::"), 1);
	assert_int_equal(look(s, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"), 1);
	assert_int_equal(look(s, "2001:db8::"), 3);
	assert_int_equal(look(s, "2001:db8::1"), 4);
	assert_int_equal(look(s, "2001:db8::2"), 3);
	assert_int_equal(look(s, "2001:db8:0:1::"), 5);
	assert_int_equal(look(s, "2001:db8:0:1:ffff:ffff:ffff:ffff"), 5);
	assert_int_equal(look(s, "2001:db8:0:2::"), 3);
	assert_int_equal(look(s, "2001:db8:0:ffff:ffff:ffff:ffff:ffff"), 3);
	assert_int_equal(look(s, "2001:db8:1::"), 2);
	assert_int_equal(look(s, "2001:db8:ffff:ffff:7fff:ffff:ffff:ffff"), 2);
	assert_int_equal(look(s, "2001:db8:ffff:ffff:8000::"), 7);
	assert_int_equal(look(s, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), 7);
	assert_int_equal(look(s, "2001:db9::"), 1);
	assert_int_equal(look(s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), 1);
	assert_int_equal(look(s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 6);
	assert_int_equal(look(s, "192.0.2.1"), 8);
	assert_int_equal(look(s, "192.0.3.1"), -1);
	cidr_set_free(s);
}

static void test_set_errors(void **state)
{
	struct cidr_entry e[3];
	struct cidr_set *s;
	char err[128] = "";

	(void)state;
	/* the same prefix twice: fine with one value, an error with two */
	e[0].net = parse_ok("192.0.2.0/24");
	e[0].value = 1;
	e[1] = e[0];
	e[2].net = parse_ok("2001:db8::/32");
	e[2].value = 2;
	s = cidr_set_new(e, 3, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(look(s, "192.0.2.9"), 1);
	assert_int_equal(cidr_set_ranges(s, AF_INET), 3);
	cidr_set_free(s);
	e[1].value = 3;
	assert_null(cidr_set_new(e, 3, err, sizeof(err)));
	assert_string_equal(err, "192.0.2.0/24 is listed twice with different values");
	e[2].net = parse_ok("2001:db8::/32");
	e[1] = e[2];
	e[1].value = 7;
	assert_null(cidr_set_new(e, 3, err, sizeof(err)));
	assert_string_equal(err, "2001:db8::/32 is listed twice with different values");
	e[1].value = -1;
	e[1].net = parse_ok("198.51.100.0/24");
	assert_null(cidr_set_new(e, 3, err, sizeof(err)));
	assert_string_equal(err, "entry 1: negative value");
	e[1].value = 0;
	e[1].net.addr[3] = 1; /* built by hand with a host bit */
	assert_null(cidr_set_new(e, 3, err, sizeof(err)));
	assert_string_equal(err, "entry 1: host bits set in 198.51.100.1/24");
	e[1].net.len = 33;
	assert_null(cidr_set_new(e, 3, err, sizeof(err)));
	assert_string_equal(err, "entry 1: not a valid prefix");
	/* an empty set matches nothing */
	s = cidr_set_new(NULL, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(look(s, "192.0.2.1"), -1);
	assert_int_equal(look(s, "2001:db8::1"), -1);
	cidr_set_free(s);
}

/* Random prefixes drawn near a few bases, so that they nest and overlap a lot. */
static void random_prefix(uint64_t *rng, int family, struct cidr *c)
{
	static const uint8_t bases[4][16] = {
	    {192, 0, 2, 0},
	    {198, 18, 0, 0},
	    {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	    {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xf0},
	};
	unsigned bits = family == AF_INET ? 32 : 128;
	uint64_t r = rng_next(rng);
	unsigned len;

	memset(c, 0, sizeof(*c));
	c->family = (uint8_t)family;
	/* lengths mostly long, with some short ones (down to /0) covering everything */
	len = r % 8 == 0 ? (unsigned)(rng_next(rng) % (bits + 1))
	                 : bits - (unsigned)(rng_next(rng) % (bits / 4 + 1));
	memcpy(c->addr, bases[(family == AF_INET ? 0 : 2) + (r >> 8) % 2], bits / 8);
	/* randomise the last quarter of the bits */
	for (unsigned i = bits / 8 - bits / 32; i < bits / 8; i++)
		c->addr[i] = (uint8_t)rng_next(rng);
	c->len = (uint8_t)len;
	for (unsigned i = 0; i < bits / 8; i++) {
		if (len >= 8 * (i + 1))
			continue;
		c->addr[i] &= len <= 8 * i ? 0 : (uint8_t)(0xff << (8 - (len - 8 * i)));
	}
}

static int32_t brute(const struct cidr_entry *e, size_t n, int family, const uint8_t *a)
{
	int best_len = -1;
	int32_t v = -1;

	for (size_t i = 0; i < n; i++) {
		if (cidr_contains(&e[i].net, family, a) && e[i].net.len > best_len) {
			best_len = e[i].net.len;
			v = e[i].value;
		}
	}
	return v;
}

/* addr +/- 1 in place, as a big-endian number of n bytes (wrapping). */
static void addr_step(uint8_t *a, unsigned n, int dir)
{
	for (int i = (int)n - 1; i >= 0; i--) {
		a[i] = (uint8_t)(a[i] + dir);
		if ((dir > 0 && a[i] != 0) || (dir < 0 && a[i] != 0xff))
			break;
	}
}

static void random_vs_brute(int family, uint64_t seed, size_t n)
{
	uint64_t rng = seed;
	struct cidr_entry *e = calloc(n, sizeof(*e));
	struct cidr_set *s;
	char err[128];
	unsigned bytes = family == AF_INET ? 4 : 16;
	size_t checked = 0;

	for (size_t i = 0; i < n; i++) {
		random_prefix(&rng, family, &e[i].net);
		/* a value that depends on the prefix only, so repeats agree */
		e[i].value = (int32_t)((e[i].net.addr[bytes - 1] * 131u + e[i].net.addr[bytes - 2] +
		                        e[i].net.len * 7919u) &
		                       0x7fffffff);
	}
	s = cidr_set_new(e, n, err, sizeof(err));
	if (s == NULL)
		fail_msg("cidr_set_new: %s", err);
	assert_true(cidr_set_ranges(s, family) <= 2 * n + 1);
	/* every prefix's first and last address and their outside neighbours, where off-by-one
	 * errors live */
	for (size_t i = 0; i < n; i++) {
		uint8_t a[16];

		memcpy(a, e[i].net.addr, 16);
		assert_int_equal(cidr_set_lookup(s, family, a), brute(e, n, family, a));
		addr_step(a, bytes, -1);
		assert_int_equal(cidr_set_lookup(s, family, a), brute(e, n, family, a));
		memcpy(a, e[i].net.addr, 16);
		for (unsigned b = e[i].net.len; b < bytes * 8; b++)
			a[b / 8] |= (uint8_t)(0x80 >> (b % 8));
		assert_int_equal(cidr_set_lookup(s, family, a), brute(e, n, family, a));
		addr_step(a, bytes, 1);
		assert_int_equal(cidr_set_lookup(s, family, a), brute(e, n, family, a));
		checked += 4;
	}
	/* and random addresses around the bases */
	for (int i = 0; i < 20000; i++) {
		struct cidr c;

		random_prefix(&rng, family, &c);
		c.addr[bytes - 1] = (uint8_t)rng_next(&rng);
		assert_int_equal(cidr_set_lookup(s, family, c.addr), brute(e, n, family, c.addr));
		checked++;
	}
	assert_true(checked > 20000);
	cidr_set_free(s);
	free(e);
}

static void test_random_v4(void **state)
{
	(void)state;
	random_vs_brute(AF_INET, 1, 50);
	random_vs_brute(AF_INET, 2, 2000);
}

static void test_random_v6(void **state)
{
	(void)state;
	random_vs_brute(AF_INET6, 3, 50);
	random_vs_brute(AF_INET6, 4, 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),     cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_contains),  cmocka_unit_test(test_lpm_v4),
	    cmocka_unit_test(test_lpm_v6),    cmocka_unit_test(test_set_errors),
	    cmocka_unit_test(test_random_v4), cmocka_unit_test(test_random_v6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
