/*
 * PROXY protocol headers (HAProxy's proxy-protocol.txt, versions 1 and 2):
 * the first bytes a proxy writes on its connection to a backend, telling the
 * backend the real client address and the address the client connected to.
 *
 * v1 is one text line:
 *   "PROXY TCP4 198.51.100.7 192.0.2.1 40000 80\r\n"
 * (source first; IPv6 addresses in RFC 5952 form; at most 107 bytes).
 * v2 is binary: a 12-byte signature, version/command (0x21: v2, PROXY),
 * family/transport (0x11: TCP over IPv4, 0x21: TCP over IPv6), the length of
 * what follows (2 bytes, big endian), then source address, destination
 * address, source port, destination port, all in network order, then
 * optional TLVs (we write none; the parser skips them).
 *
 * Pure functions over caller buffers: no allocation, no I/O.
 */
#ifndef SYNGUARD_PROXYPROTO_H
#define SYNGUARD_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkt.h"

#define PP_V1_MAX    107              /* longest v1 line the spec allows, CRLF included */
#define PP_V2_HDR    16               /* signature + ver/cmd + family + length */
#define PP_V2_MAX    (PP_V2_HDR + 36) /* what pp_build_v2 writes at most (IPv6, no TLVs) */
#define PP_BUILD_MAX PP_V1_MAX        /* fits any header the builders write (v1 is the longer) */

extern const uint8_t pp_v2_sig[12];

/*
 * Builds a header for the TCP connection t (t->saddr/sport: the client,
 * t->daddr/dport: where it connected). Returns the header length, or 0 when
 * cap is too small or t->family is neither AF_INET nor AF_INET6. pp_build_v1
 * does not write a NUL terminator.
 */
size_t pp_build_v1(char *buf, size_t cap, const struct pkt_tuple *t);
size_t pp_build_v2(uint8_t *buf, size_t cap, const struct pkt_tuple *t);

enum pp_status {
	PP_OK,         /* a complete, valid header: see pp_result */
	PP_INCOMPLETE, /* valid so far; read more and call again with the longer buffer */
	PP_INVALID,    /* not a PROXY header, or a malformed one */
};

struct pp_result {
	uint8_t version; /* 1 or 2 */
	/* No addresses to use: v1 "UNKNOWN", v2 LOCAL command, or a v2 family
	 * other than TCP over IPv4/IPv6. Use the connection's own endpoints. */
	bool local;
	struct pkt_tuple t; /* when !local: client (s) -> server (d) */
	size_t len;         /* header bytes, TLVs included: the payload starts here */
};

/* Parses a v1 or v2 header at the start of buf. */
enum pp_status pp_parse(const uint8_t *buf, size_t len, struct pp_result *out);

#endif
