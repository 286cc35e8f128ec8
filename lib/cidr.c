/*
 * CIDR prefixes and longest-prefix-match sets: see cidr.h.
 */
#include "cidr.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bytes.h"

/* An address as one number: IPv6 in (hi, lo); IPv4 in lo. */
struct u128 {
	uint64_t hi;
	uint64_t lo;
};

struct cidr_set {
	size_t n4;
	size_t n6;
	uint32_t *start4; /* sorted; start4[0] == 0 */
	int32_t *val4;
	unsigned __int128 *start6; /* sorted; start6[0] == 0 */
	int32_t *val6;
};

static void cidr_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void cidr_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static unsigned cidr_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

/* Clears the bits of addr past len. */
static void cidr_mask(uint8_t *addr, unsigned bits, unsigned len)
{
	for (unsigned i = 0; i < bits / 8; i++) {
		if (len >= 8 * (i + 1))
			continue;
		addr[i] &= len <= 8 * i ? 0 : (uint8_t)(0xff << (8 - (len - 8 * i)));
	}
}

int cidr_parse(const char *text, struct cidr *out, char *err, size_t errlen)
{
	const char *slash = strchr(text, '/');
	size_t alen = slash != NULL ? (size_t)(slash - text) : strlen(text);
	char abuf[INET6_ADDRSTRLEN];
	struct cidr c;
	unsigned bits;

	memset(&c, 0, sizeof(c));
	if (alen == 0) {
		cidr_err(err, errlen,
		         slash != NULL ? "missing address before '/'" : "empty address");
		return -1;
	}
	if (alen >= sizeof(abuf)) {
		cidr_err(err, errlen, "not an IPv4 or IPv6 address: \"%.*s...\"", 20, text);
		return -1;
	}
	memcpy(abuf, text, alen);
	abuf[alen] = '\0';
	c.family = memchr(abuf, ':', alen) != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(c.family, abuf, c.addr) != 1) {
		cidr_err(err, errlen, "not an IPv4 or IPv6 address: \"%s\"", abuf);
		return -1;
	}
	bits = cidr_bits(c.family);
	c.len = (uint8_t)bits;
	if (slash != NULL) {
		const char *p = slash + 1;
		size_t n = strlen(p);
		unsigned v = 0;

		if (n == 0) {
			cidr_err(err, errlen, "missing prefix length after '/'");
			return -1;
		}
		if (strspn(p, "0123456789") != n) {
			cidr_err(err, errlen, "prefix length \"%.8s\" is not a decimal number", p);
			return -1;
		}
		for (size_t i = 0; i < n && v <= bits; i++)
			v = v * 10 + (unsigned)(p[i] - '0');
		if (v > bits) {
			cidr_err(err, errlen, "prefix length %.8s is out of range for %s (0..%u)",
			         p, c.family == AF_INET ? "IPv4" : "IPv6", bits);
			return -1;
		}
		c.len = (uint8_t)v;
	}
	{
		struct cidr net = c;

		cidr_mask(net.addr, bits, net.len);
		if (memcmp(net.addr, c.addr, sizeof(c.addr)) != 0) {
			char want[CIDR_TEXT_MAX];

			cidr_format(&net, want, sizeof(want));
			cidr_err(err, errlen, "host bits set in \"%s\": the network is %s", text,
			         want);
			return -1;
		}
	}
	*out = c;
	return 0;
}

void cidr_format(const struct cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(c->family, c->addr, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, "%s/%u", a, c->len);
}

bool cidr_contains(const struct cidr *c, int family, const uint8_t *addr)
{
	uint8_t a[16] = {0};
	unsigned bits;

	if (family != c->family || (family != AF_INET && family != AF_INET6))
		return false;
	bits = cidr_bits(family);
	memcpy(a, addr, bits / 8);
	cidr_mask(a, bits, c->len);
	return memcmp(a, c->addr, bits / 8) == 0;
}

static struct u128 u128_of(int family, const uint8_t *addr)
{
	struct u128 v = {0, 0};

	if (family == AF_INET) {
		v.lo = bytes_get_be32(addr);
	} else {
		v.hi = bytes_get_be64(addr);
		v.lo = bytes_get_be64(addr + 8);
	}
	return v;
}

static bool u128_lt(struct u128 a, struct u128 b)
{
	return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo);
}

static bool u128_eq(struct u128 a, struct u128 b)
{
	return a.hi == b.hi && a.lo == b.lo;
}

static struct u128 u128_inc(struct u128 a)
{
	a.lo++;
	if (a.lo == 0)
		a.hi++;
	return a;
}

/* The last address of a prefix: its host bits (the low bits - len) set. */
static struct u128 u128_last(struct u128 start, unsigned bits, unsigned len)
{
	unsigned host = bits - len;

	if (host >= 64) {
		start.lo = ~0ULL;
		start.hi |= host == 128 ? ~0ULL : (1ULL << (host - 64)) - 1;
	} else if (host > 0) {
		start.lo |= (1ULL << host) - 1;
	}
	return start;
}

struct cidr_prefix {
	struct u128 start;
	struct u128 last;
	uint8_t len;
	int32_t value;
};

static int cidr_prefix_cmp(const void *a, const void *b)
{
	const struct cidr_prefix *x = a, *y = b;

	if (!u128_eq(x->start, y->start))
		return u128_lt(x->start, y->start) ? -1 : 1;
	return (int)x->len - (int)y->len;
}

struct cidr_flat {
	struct u128 *start;
	int32_t *val;
	size_t n;
};

/* Appends a range start, replacing the previous one when it starts at the same address. */
static void cidr_emit(struct cidr_flat *f, struct u128 start, int32_t val)
{
	if (f->n > 0 && u128_eq(f->start[f->n - 1], start)) {
		f->val[f->n - 1] = val;
		return;
	}
	f->start[f->n] = start;
	f->val[f->n] = val;
	f->n++;
}

/*
 * Flattens n prefixes of one family, sorted by start then length, no two
 * equal, into range starts. Sorted that way, prefixes nest like brackets: a
 * stack holds the open ones, innermost on top. Each prefix opens a range with
 * its value; each prefix that ends before the next one starts closes, and
 * the range after it takes the value of the prefix below it on the stack. f
 * has room for 2n + 1 starts, stack for n prefixes.
 */
static void cidr_flatten(const struct cidr_prefix *p, size_t n, unsigned bits, struct cidr_flat *f,
                         const struct cidr_prefix **stack)
{
	struct u128 top = u128_last((struct u128){0, 0}, bits, 0);
	size_t sp = 0;

	f->n = 0;
	cidr_emit(f, (struct u128){0, 0}, -1);
	for (size_t i = 0; i <= n; i++) {
		/* after the last prefix, close everything */
		while (sp > 0 && (i == n || u128_lt(stack[sp - 1]->last, p[i].start))) {
			const struct cidr_prefix *c = stack[--sp];

			if (!u128_eq(c->last, top))
				cidr_emit(f, u128_inc(c->last), sp > 0 ? stack[sp - 1]->value : -1);
		}
		if (i == n)
			break;
		stack[sp++] = &p[i];
		cidr_emit(f, p[i].start, p[i].value);
	}
	/* neighbours with the same value are one range */
	{
		size_t w = 1;

		for (size_t r = 1; r < f->n; r++) {
			if (f->val[r] == f->val[w - 1])
				continue;
			f->start[w] = f->start[r];
			f->val[w] = f->val[r];
			w++;
		}
		f->n = w;
	}
}

/* Sorts and checks one family's prefixes, then flattens them. */
static int cidr_build_family(struct cidr_prefix *p, size_t n, unsigned bits, struct cidr_flat *f,
                             int family, char *err, size_t errlen)
{
	const struct cidr_prefix **stack;
	size_t w = 0;

	qsort(p, n, sizeof(*p), cidr_prefix_cmp);
	for (size_t r = 0; r < n; r++) {
		if (w > 0 && u128_eq(p[w - 1].start, p[r].start) && p[w - 1].len == p[r].len) {
			if (p[w - 1].value != p[r].value) {
				struct cidr c = {.family = (uint8_t)family, .len = p[r].len};
				char t[CIDR_TEXT_MAX];
				uint64_t hi = p[r].start.hi, lo = p[r].start.lo;

				if (family == AF_INET) {
					for (int i = 3; i >= 0; i--, lo >>= 8)
						c.addr[i] = (uint8_t)lo;
				} else {
					for (int i = 7; i >= 0; i--, hi >>= 8, lo >>= 8) {
						c.addr[i] = (uint8_t)hi;
						c.addr[8 + i] = (uint8_t)lo;
					}
				}
				cidr_format(&c, t, sizeof(t));
				cidr_err(err, errlen, "%s is listed twice with different values",
				         t);
				return -1;
			}
			continue;
		}
		p[w++] = p[r];
	}
	f->start = malloc((2 * w + 1) * sizeof(*f->start));
	f->val = malloc((2 * w + 1) * sizeof(*f->val));
	stack = malloc((w + 1) * sizeof(*stack));
	if (f->start == NULL || f->val == NULL || stack == NULL) {
		free(stack);
		cidr_err(err, errlen, "out of memory");
		return -1;
	}
	cidr_flatten(p, w, bits, f, stack);
	free(stack);
	return 0;
}

void cidr_set_free(struct cidr_set *s)
{
	if (s == NULL)
		return;
	free(s->start4);
	free(s->val4);
	free(s->start6);
	free(s->val6);
	free(s);
}

struct cidr_set *cidr_set_new(const struct cidr_entry *entries, size_t n, char *err, size_t errlen)
{
	struct cidr_set *s = calloc(1, sizeof(*s));
	struct cidr_prefix *p4 = calloc(n + 1, sizeof(*p4));
	struct cidr_prefix *p6 = calloc(n + 1, sizeof(*p6));
	struct cidr_flat f4 = {0}, f6 = {0};
	size_t n4 = 0, n6 = 0;

	if (s == NULL || p4 == NULL || p6 == NULL) {
		cidr_err(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cidr *c = &entries[i].net;
		struct cidr_prefix *x;
		uint8_t net[16] = {0};
		unsigned bits;

		if ((c->family != AF_INET && c->family != AF_INET6) ||
		    c->len > cidr_bits(c->family)) {
			cidr_err(err, errlen, "entry %zu: not a valid prefix", i);
			goto fail;
		}
		bits = cidr_bits(c->family);
		memcpy(net, c->addr, bits / 8);
		cidr_mask(net, bits, c->len);
		if (memcmp(net, c->addr, bits / 8) != 0) {
			char t[CIDR_TEXT_MAX];

			cidr_format(c, t, sizeof(t));
			cidr_err(err, errlen, "entry %zu: host bits set in %s", i, t);
			goto fail;
		}
		if (entries[i].value < 0) {
			cidr_err(err, errlen, "entry %zu: negative value", i);
			goto fail;
		}
		x = c->family == AF_INET ? &p4[n4++] : &p6[n6++];
		x->start = u128_of(c->family, c->addr);
		x->last = u128_last(x->start, bits, c->len);
		x->len = c->len;
		x->value = entries[i].value;
	}
	if (cidr_build_family(p4, n4, 32, &f4, AF_INET, err, errlen) < 0 ||
	    cidr_build_family(p6, n6, 128, &f6, AF_INET6, err, errlen) < 0)
		goto fail;
	s->n4 = f4.n;
	s->start4 = malloc(f4.n * sizeof(*s->start4));
	if (s->start4 == NULL) {
		cidr_err(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < f4.n; i++)
		s->start4[i] = (uint32_t)f4.start[i].lo;
	s->val4 = f4.val;
	f4.val = NULL;
	s->n6 = f6.n;
	s->start6 = malloc(f6.n * sizeof(*s->start6));
	if (s->start6 == NULL) {
		cidr_err(err, errlen, "out of memory");
		goto fail;
	}
	/* one 128-bit number compares without branches */
	for (size_t i = 0; i < f6.n; i++)
		s->start6[i] = (unsigned __int128)f6.start[i].hi << 64 | f6.start[i].lo;
	s->val6 = f6.val;
	f6.val = NULL;
	free(f4.start);
	free(f6.start);
	free(p4);
	free(p6);
	return s;
fail:
	free(f4.start);
	free(f4.val);
	free(f6.start);
	free(f6.val);
	free(p4);
	free(p6);
	cidr_set_free(s);
	return NULL;
}

int32_t cidr_set_lookup(const struct cidr_set *s, int family, const uint8_t *addr)
{
	/* the last start <= addr; start[0] is 0, so there is one */
	if (family == AF_INET) {
		uint32_t a = (uint32_t)bytes_get_be32(addr);
		const uint32_t *base = s->start4;
		size_t n = s->n4;

		while (n > 1) {
			size_t half = n / 2;

			/* both candidates for the next probe: large sets wait on memory */
			__builtin_prefetch(base + half / 2);
			__builtin_prefetch(base + half + half / 2);
			base = base[half] <= a ? base + half : base;
			n -= half;
		}
		return s->val4[base - s->start4];
	}
	if (family == AF_INET6) {
		unsigned __int128 a =
		    (unsigned __int128)bytes_get_be64(addr) << 64 | bytes_get_be64(addr + 8);
		const unsigned __int128 *base = s->start6;
		size_t n = s->n6;

		while (n > 1) {
			size_t half = n / 2;

			/* both candidates for the next probe: large sets wait on memory */
			__builtin_prefetch(base + half / 2);
			__builtin_prefetch(base + half + half / 2);
			base = base[half] <= a ? base + half : base;
			n -= half;
		}
		return s->val6[base - s->start6];
	}
	return -1;
}

size_t cidr_set_ranges(const struct cidr_set *s, int family)
{
	return family == AF_INET ? s->n4 : family == AF_INET6 ? s->n6 : 0;
}
