/*
 * The SYN cookie's bit layout and MAC input, shared by lib/cookie.c and the
 * kernel programs in daemon/bpf: the two must compute the same cookie, so the
 * layout lives in one place (cookie.h explains it). Macros only, no types and
 * no includes, so that BPF code can take it as is.
 */
#ifndef SYNGUARD_COOKIE_LAYOUT_H
#define SYNGUARD_COOKIE_LAYOUT_H

#define COOKIE_KEY_LEN   16
#define COOKIE_MSS_SLOTS 4

/* clang-format off */
/* Window scale values a cookie can carry (index 1..7 in the ISN). */
#define COOKIE_WSCALE_TABLE {0, 4, 6, 7, 8, 9, 10}
#define COOKIE_WSCALE_SLOTS 7

/* Default MSS tables: the protocol's default MSS first (RFC 879 / RFC 8200, pkt.h's
 * PKT_DEFAULT_MSS4/6, which cookie.c checks this against); common Ethernet last. The one
 * definition: the configuration's defaults are these. */
#define COOKIE_MSS4_FIRST 536
#define COOKIE_MSS6_FIRST 1220
#define COOKIE_MSS4_DEFAULT {COOKIE_MSS4_FIRST, 1300, 1440, 1460}
#define COOKIE_MSS6_DEFAULT {COOKIE_MSS6_FIRST, 1420, 1440, 8940}
/* clang-format on */

/* The ISN's low byte ("info"). */
#define COOKIE_INFO_MSS_SHIFT    6
#define COOKIE_INFO_MSS_MASK     0x3u
#define COOKIE_INFO_WSCALE_SHIFT 3
#define COOKIE_INFO_WSCALE_MASK  0x7u
#define COOKIE_INFO_SACK         0x04u
#define COOKIE_INFO_TS           0x02u
#define COOKIE_INFO_PARITY       0x01u

/*
 * The ISN is (hash >> COOKIE_HASH_MAC_SHIFT) << COOKIE_ISN_MAC_SHIFT | info,
 * the TSval the low 32 bits of the hash with bit COOKIE_TS_ECN replaced by
 * "ECN agreed" (not authenticated: cookie.h says why).
 */
#define COOKIE_HASH_MAC_SHIFT 40
#define COOKIE_ISN_MAC_SHIFT  8
#define COOKIE_TS_ECN         0x1u

/*
 * MAC input, fixed layout (multi-byte fields big-endian):
 *   0 family (4 or 6)   1 saddr[16]   17 daddr[16]   33 sport   35 dport
 *   37 client ISN       41 epoch      45 info byte   (46 bytes)
 * IPv4 addresses fill the first 4 bytes of their field and the rest is zero,
 * whatever the tuple holds there; the family byte keeps an IPv4 tuple from
 * ever hashing like an IPv6 one with the same leading bytes.
 */
#define COOKIE_IN_FAMILY 0
#define COOKIE_IN_SADDR  1
#define COOKIE_IN_DADDR  17
#define COOKIE_IN_SPORT  33
#define COOKIE_IN_DPORT  35
#define COOKIE_IN_CISN   37
#define COOKIE_IN_EPOCH  41
#define COOKIE_IN_INFO   45
#define COOKIE_IN_LEN    46

#define COOKIE_IN_FAMILY4 4
#define COOKIE_IN_FAMILY6 6

#endif
