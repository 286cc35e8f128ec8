/*
 * TCP/IP packet parsing and building, IPv4 and IPv6. Pure functions over
 * caller-owned buffers: no allocation, no I/O.
 *
 * Parsing checks every length against the buffer; a truncated or lying packet
 * returns an error and is never read past its end. Building writes the IP and
 * TCP headers with correct checksums.
 */
#ifndef SYNGUARD_PKT_H
#define SYNGUARD_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* TCP flag bits, as on the wire. */
#define PKT_FIN 0x01
#define PKT_SYN 0x02
#define PKT_RST 0x04
#define PKT_PSH 0x08
#define PKT_ACK 0x10
#define PKT_URG 0x20
#define PKT_ECE 0x40
#define PKT_CWR 0x80

/* The largest window scale shift (RFC 7323 2.3): parsing and building clamp larger shifts to
 * it, as Linux does. */
#define PKT_MAX_WSCALE 14

/* The MSS a peer that sent no MSS option can take (RFC 9293 3.7.1): 576 - 40 for IPv4,
 * IPv6's minimum MTU (RFC 8200) - 60. */
#define PKT_DEFAULT_MSS4 536
#define PKT_DEFAULT_MSS6 1220

/* Largest packet pkt_build() writes: IPv6 header + TCP header with 40 bytes of options. */
#define PKT_BUILD_MAX (40 + 60)

enum pkt_err {
	PKT_OK = 0,
	PKT_ETRUNC,   /* buffer ends before a header does */
	PKT_EVERSION, /* IP version is neither 4 nor 6 */
	PKT_EIHL,     /* IPv4 header length below 20 */
	PKT_ELEN,     /* IP length field lies: smaller than the headers or larger than the buffer */
	PKT_EFRAG,    /* a fragment (IPv4 MF/offset, IPv6 fragment header) */
	PKT_EEXTHDR,  /* IPv6 extension header chain too long or malformed */
	PKT_ENEXTHDR, /* unknown IPv6 next header, not guessed at */
	PKT_ENOTTCP,  /* transport is not TCP */
	PKT_ETCPOFF,  /* TCP data offset below 5 or beyond the segment */
	PKT_EOPT,     /* malformed TCP option (length 0/1, overrun, wrong size for its kind) */
};
#define PKT_NERR (PKT_EOPT + 1)

/* Human-readable name of an error, for counters and messages. */
const char *pkt_strerror(enum pkt_err err);

/* Addresses in network order; IPv4 uses the first 4 bytes. Ports in host order. */
struct pkt_tuple {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t saddr[16];
	uint8_t daddr[16];
	uint16_t sport;
	uint16_t dport;
};

/* The TCP options synguard cares about. Absent options read as zero/false. */
struct pkt_tcpopts {
	uint16_t mss;   /* 0: no MSS option */
	uint8_t wscale; /* meaningful when has_wscale */
	bool has_wscale;
	bool sack_ok;
	bool has_ts;
	uint32_t tsval;
	uint32_t tsecr;
};

struct pkt_tcp {
	struct pkt_tuple t;
	uint32_t seq; /* host order */
	uint32_t ack; /* host order */
	uint16_t window;
	uint8_t flags;
	uint8_t ttl;    /* IPv4 TTL or IPv6 hop limit */
	uint8_t ip_ecn; /* the IP header's ECN field (RFC 3168 5): 0 Not-ECT, 1 and 2 ECT, 3 CE */
	struct pkt_tcpopts opt;
	uint16_t l4off;       /* offset of the TCP header in the buffer */
	uint16_t tcp_hlen;    /* TCP header length including options */
	uint32_t payload_len; /* TCP payload length from the IP length fields */
};

/* Parse flags. */
#define PKT_PARSE_PARTIAL 0x1 /* the capture may stop after the headers (NFQUEUE copy range) */

/* Most IPv6 extension headers pkt_parse() walks before PKT_EEXTHDR. */
#define PKT_IPV6_MAX_EXTHDR 8

/*
 * Parses an IP packet starting at buf (no link-layer header). All headers up
 * to the end of the TCP options must lie within caplen. Without
 * PKT_PARSE_PARTIAL the IP length must also fit in caplen (trailing bytes past
 * it, e.g. Ethernet padding, are ignored). On error *out is unspecified.
 */
enum pkt_err pkt_parse(const uint8_t *buf, size_t caplen, unsigned flags, struct pkt_tcp *out);

/* True when the TCP checksum of a fully captured, parsed packet is right. */
bool pkt_tcp_csum_ok(const uint8_t *buf, size_t caplen, const struct pkt_tcp *p);

/*
 * What pkt_build() writes. The tuple is as sent: saddr is the sender. Options
 * are written in Linux's order and only when present in opt: MSS (mss != 0),
 * SACK-permitted, timestamps, window scale. No payload.
 */
struct pkt_spec {
	struct pkt_tuple t;
	uint32_t seq;
	uint32_t ack;
	uint16_t window;
	uint8_t flags;
	uint8_t ttl; /* 0 means 64 */
	struct pkt_tcpopts opt;
};

/* Builds the IP + TCP packet into buf. Returns its length, or 0 if cap is too small. */
size_t pkt_build(uint8_t *buf, size_t cap, const struct pkt_spec *spec);

#endif
