/*
 * Fuzz target: the PROXY protocol v1/v2 header parser on arbitrary bytes.
 *
 * Invariants on top of "no crash, no read past len" (exact-size buffers):
 * - a header found is inside the buffer, v1 within 107 bytes, with an address
 *   family the builders know unless it is "local";
 * - reading is incremental: every prefix shorter than a complete header is
 *   PP_INCOMPLETE, every longer buffer gives the same header; an incomplete
 *   buffer has only incomplete prefixes;
 * - a header built from the parsed addresses (v1 and v2) parses back to them.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static enum pp_status parse_exact(const uint8_t *data, size_t len, struct pp_result *r)
{
	uint8_t *b = malloc(len ? len : 1);
	enum pp_status st;

	if (!b)
		abort();
	memcpy(b, data, len);
	memset(r, 0xa5, sizeof(*r));
	st = pp_parse(b, len, r);
	free(b);
	return st;
}

static bool same_tuple(const struct pkt_tuple *a, const struct pkt_tuple *b)
{
	size_t alen = a->family == AF_INET ? 4 : 16;

	return a->family == b->family && memcmp(a->saddr, b->saddr, alen) == 0 &&
	       memcmp(a->daddr, b->daddr, alen) == 0 && a->sport == b->sport &&
	       a->dport == b->dport;
}

static void check_rebuild(const struct pkt_tuple *t)
{
	char v1[PP_BUILD_MAX];
	uint8_t v2[PP_V2_MAX];
	struct pp_result r;
	size_t n;

	n = pp_build_v1(v1, sizeof(v1), t);
	CHECK(n > 0 && n <= PP_V1_MAX);
	CHECK(parse_exact((const uint8_t *)v1, n, &r) == PP_OK);
	CHECK(r.version == 1 && !r.local && r.len == n && same_tuple(&r.t, t));
	n = pp_build_v2(v2, sizeof(v2), t);
	CHECK(n > 0 && n <= PP_V2_MAX);
	CHECK(parse_exact(v2, n, &r) == PP_OK);
	CHECK(r.version == 2 && !r.local && r.len == n && same_tuple(&r.t, t));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_result r, p;
	enum pp_status st = parse_exact(data, size, &r);

	CHECK(st == PP_OK || st == PP_INCOMPLETE || st == PP_INVALID);
	if (st == PP_OK) {
		CHECK(r.len >= 1 && r.len <= size);
		CHECK(r.version == 1 || r.version == 2);
		if (r.version == 1)
			CHECK(r.len <= PP_V1_MAX);
		else
			CHECK(r.len >= PP_V2_HDR);
		if (!r.local) {
			CHECK(r.t.family == AF_INET || r.t.family == AF_INET6);
			check_rebuild(&r.t);
		}
		/* prefixes: incomplete below the header, the same header from its end on */
		for (size_t k = 0; k <= size && k <= 300; k++) {
			enum pp_status s = parse_exact(data, k, &p);

			if (k < r.len) {
				CHECK(s == PP_INCOMPLETE);
			} else {
				CHECK(s == PP_OK && p.len == r.len && p.version == r.version &&
				      p.local == r.local);
				if (!r.local)
					CHECK(same_tuple(&p.t, &r.t));
			}
		}
	} else if (st == PP_INCOMPLETE) {
		for (size_t k = 0; k < size && k <= 300; k++)
			CHECK(parse_exact(data, k, &p) == PP_INCOMPLETE);
	}
	return 0;
}
