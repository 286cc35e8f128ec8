/*
 * hostile: a corpus of malformed and odd TCP/IP packets aimed at a protected
 * port, for robustness tests of the daemon and of the firewall path in front
 * of it.
 *
 * Every case has a name, a family and an expected fate, printed by --list:
 *
 *   syn                  reaches the daemon, parses, is answered with a cookie
 *                        SYN-ACK (syn_received and synack_sent count it)
 *   ack_invalid          reaches the daemon as an ACK whose cookie fails
 *   bad_checksum         reaches the daemon, whose TCP checksum check drops it
 *   malformed_*          reaches the daemon, which cannot parse it and drops
 *                        it; the counter of that name says why
 *   kernel               never reaches the daemon: the kernel drops it before
 *                        netfilter's INPUT hook (ip_rcv / ipv6_rcv length and
 *                        header checks, IP header checksum), holds it for
 *                        reassembly (fragments: -m socket turns on
 *                        defragmentation), or the queue rules do not match it
 *                        (SYN+FIN, SYN+RST, no flags, a TCP header cut by the
 *                        IP length, TCP behind AH, ...: the kernel's IP or TCP
 *                        then discards or resets it)
 *
 * The fates are what a kernel 6.x with synguard's rules does; the netns test
 * robust_hostile.sh checks each one against the daemon's counters.
 *
 * With daemon.datapath "xdp" the XDP program sees each packet first:
 * `--list --xdp` adds a column, derived from the packet's bytes by that
 * program's rules (xdp_fate()), saying whether it answers it, drops it, or
 * passes it on to the fate above (robust_hostile.sh BUILD xdp).
 *
 * Output: raw over AF_PACKET from one interface (the lab's attacker), a pcap
 * file (Ethernet), or one file per case with the bare IP packet (seeds for the
 * packet parser's fuzz target). Spoofed sources are sequential in
 * 198.18.0.0/15 and 2001:db8:ffff::/48; destinations must lie in the
 * documentation ranges; every run is bounded in count and time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "csum.h"
#include "pkt.h"
#include "sgsend.h"

#define HOSTILE_MAX_SECONDS 600
#define HOSTILE_MAX_COUNT   1000000
#define PKT_MAX             2048 /* the largest case is about 1100 bytes */

/* ---- packet assembly ---- */

struct hctx {
	int family; /* AF_INET or AF_INET6 */
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
};

/* What mk() writes; a case then breaks what it wants. */
struct shape {
	uint8_t flags;
	uint16_t window;
	const uint8_t *opts; /* TCP options, padded with EOL to a multiple of 4 */
	size_t optlen;
	size_t plen;        /* payload bytes (a fixed pattern) */
	const uint8_t *ext; /* IPv6 extension headers, raw, the last one's next header TCP */
	size_t extlen;
	uint8_t ext_nh;        /* the first extension header's type */
	const uint8_t *ipopts; /* IPv4 options, a multiple of 4 */
	size_t ipoptlen;
};

/* Layout of a built packet, for the mutations. */
struct built {
	size_t len;   /* IP packet length */
	size_t l4off; /* TCP header offset */
	size_t thlen; /* TCP header length */
};

static const uint8_t linux_syn_opts[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
                                           0, 1, 0,    0,    0, 0, 1, 3,  3, 7};

static void fix_ip4_csum(uint8_t *ip)
{
	uint16_t c;

	memset(ip + 10, 0, 2);
	c = csum_fold(csum_partial(ip, (size_t)(ip[0] & 0x0f) * 4, 0));
	memcpy(ip + 10, &c, 2);
}

/* The TCP checksum over l4len bytes at l4off, with the packet's own addresses. */
static void fix_tcp_csum(uint8_t *ip, int family, size_t l4off, size_t l4len)
{
	const uint8_t *s = ip + (family == AF_INET ? 12 : 8);
	const uint8_t *d = ip + (family == AF_INET ? 16 : 24);
	uint16_t c;

	memset(ip + l4off + 16, 0, 2);
	c = csum_fold(csum_partial(ip + l4off, l4len,
	                           csum_pseudo(family, s, d, IPPROTO_TCP, (uint32_t)l4len)));
	memcpy(ip + l4off + 16, &c, 2);
}

static struct built mk(uint8_t *ip, const struct hctx *c, const struct shape *sh)
{
	struct built b;
	size_t optpad = (sh->optlen + 3) & ~(size_t)3;
	size_t l4len;
	uint8_t *th;

	memset(ip, 0, PKT_MAX);
	b.thlen = 20 + optpad;
	l4len = b.thlen + sh->plen;
	if (c->family == AF_INET) {
		b.l4off = 20 + sh->ipoptlen;
		b.len = b.l4off + l4len;
		ip[0] = (uint8_t)(0x40 | b.l4off / 4);
		bytes_put_be16(ip + 2, (uint16_t)b.len);
		bytes_put_be16(
		    ip + 4, (uint16_t)c->seq);  /* id: fragments of different packets never merge */
		bytes_put_be16(ip + 6, 0x4000); /* DF */
		ip[8] = 64;
		ip[9] = IPPROTO_TCP;
		memcpy(ip + 12, c->src, 4);
		memcpy(ip + 16, c->dst, 4);
		if (sh->ipoptlen)
			memcpy(ip + 20, sh->ipopts, sh->ipoptlen);
		fix_ip4_csum(ip);
	} else {
		b.l4off = 40 + sh->extlen;
		b.len = b.l4off + l4len;
		ip[0] = 0x60;
		bytes_put_be16(ip + 4, (uint16_t)(b.len - 40));
		ip[6] = sh->extlen ? sh->ext_nh : IPPROTO_TCP;
		ip[7] = 64;
		memcpy(ip + 8, c->src, 16);
		memcpy(ip + 24, c->dst, 16);
		if (sh->extlen)
			memcpy(ip + 40, sh->ext, sh->extlen);
	}
	th = ip + b.l4off;
	bytes_put_be16(th, c->sport);
	bytes_put_be16(th + 2, c->dport);
	bytes_put_be32(th + 4, c->seq);
	bytes_put_be32(th + 8, sh->flags & PKT_ACK ? c->ack : 0);
	th[12] = (uint8_t)(b.thlen / 4 << 4);
	th[13] = sh->flags;
	bytes_put_be16(th + 14, sh->window);
	if (sh->optlen)
		memcpy(th + 20, sh->opts, sh->optlen);
	for (size_t i = 0; i < sh->plen; i++)
		th[b.thlen + i] = (uint8_t)("GET / HTTP/1.0\r\n\r\n"[i % 18]);
	fix_tcp_csum(ip, c->family, b.l4off, l4len);
	return b;
}

/* ---- the cases ---- */

enum hid {
	H_SYN,
	H_SYN_IPOPTS,
	H_SYN_TRAILER,
	H_SYN_ZERO_WINDOW,
	H_SYN_ECN,
	H_SYN_URG_PSH,
	H_SYN_DATA,
	H_SYN_DATA_BIG_BADSUM,
	H_SYN_NOOPTS,
	H_OPT_NOP40,
	H_OPT_EOL_GARBAGE,
	H_OPT_WS255,
	H_OPT_MSS0,
	H_OPT_UNKNOWN,
	H_OPT_DUP,
	H_ACK,
	H_ACK_FIN,
	H_ACK_ZERO_WINDOW,
	H_ACK_DATA,
	H_SYN_BADSUM,
	H_ACK_BADSUM,
	H_DOFF0,
	H_DOFF4,
	H_DOFF15,
	H_DOFF_PAST_IP,
	H_OPT_LEN0,
	H_OPT_LEN1,
	H_OPT_OVERRUN,
	H_OPT_KIND_AT_END,
	H_OPT_MSS_LEN3,
	H_OPT_WS_LEN4,
	H_OPT_TS_LEN8,
	H_OPT_SACKPERM_LEN3,
	H_SYN_FIN,
	H_SYN_RST,
	H_SYN_ACK,
	H_NULL_FLAGS,
	H_XMAS,
	H_FIN,
	H_RST,
	H_IP_TRUNC,
	H_IP_VERSION,
	H_IP_IHL4,
	H_IP_TOTLEN_LONG,
	H_IP_TOTLEN_SHORT,
	H_IP_BADSUM,
	H_IP_TCP_CUT,
	H_IP_FRAG_FIRST,
	H_IP_FRAG_LATER,
	H_V6_EXT8_SHORT,
	H_V6_EXT8_LONG,
	H_V6_EXT9,
	H_V6_HBH_TWICE,
	H_V6_DSTOPT_BIG,
	H_V6_ROUTING0,
	H_V6_DSTOPT_LIES,
	H_V6_AH,
	H_V6_ESP,
	H_V6_NONEXT,
	H_V6_FRAG_FIRST,
	H_V6_ATOMIC_FRAG,
	H_ACK_IPOPTS,
	H_V6_ACK_DSTOPT,
	H_V6_ACK_ATOMIC_FRAG,
};

struct hcase {
	enum hid id;
	int family;
	const char *name;
	const char *fate;
	const char *what;
};

#define V4 AF_INET
#define V6 AF_INET6

/* clang-format off */
static const struct hcase cases[] = {
	/* parsed and answered */
	{H_SYN, V4, "v4_syn", "syn", "Linux-like SYN (baseline)"},
	{H_SYN, V6, "v6_syn", "syn", "Linux-like SYN (baseline)"},
	{H_SYN_IPOPTS, V4, "v4_syn_ip_options", "syn", "IHL 15: 40 bytes of NOP IP options"},
	{H_SYN_TRAILER, V4, "v4_syn_trailer", "syn", "bytes after the IP length (padding)"},
	{H_SYN_TRAILER, V6, "v6_syn_trailer", "syn", "bytes after the IP length (padding)"},
	{H_SYN_ZERO_WINDOW, V4, "v4_syn_zero_window", "syn", "window 0"},
	{H_SYN_ECN, V4, "v4_syn_ecn", "syn", "SYN+ECE+CWR (ECN setup)"},
	{H_SYN_URG_PSH, V4, "v4_syn_urg_psh", "syn", "SYN+URG+PSH, urgent pointer set"},
	{H_SYN_DATA, V4, "v4_syn_data", "syn", "SYN with 40 bytes of data"},
	{H_SYN_DATA, V6, "v6_syn_data", "syn", "SYN with 40 bytes of data"},
	{H_SYN_DATA_BIG_BADSUM, V4, "v4_syn_data_big_badsum", "syn",
	 "SYN, 1000 bytes of data, bad checksum: beyond the copy range, cannot be checked"},
	{H_SYN_NOOPTS, V4, "v4_syn_no_options", "syn", "SYN without options"},
	{H_OPT_NOP40, V4, "v4_opt_nop40", "syn", "40 NOP options"},
	{H_OPT_EOL_GARBAGE, V4, "v4_opt_eol_garbage", "syn", "MSS, EOL, then garbage"},
	{H_OPT_WS255, V4, "v4_opt_ws255", "syn", "window scale 255"},
	{H_OPT_MSS0, V4, "v4_opt_mss0", "syn", "MSS 0"},
	{H_OPT_MSS0, V6, "v6_opt_mss0", "syn", "MSS 0"},
	{H_OPT_UNKNOWN, V4, "v4_opt_unknown", "syn", "unknown option kinds of valid lengths"},
	{H_OPT_DUP, V4, "v4_opt_dup", "syn", "MSS, window scale and timestamps twice"},
	{H_ACK, V4, "v4_ack", "ack_invalid", "bare ACK, random cookie"},
	{H_ACK, V6, "v6_ack", "ack_invalid", "bare ACK, random cookie"},
	{H_ACK_FIN, V4, "v4_ack_fin", "ack_invalid", "FIN+ACK, random cookie"},
	{H_ACK_ZERO_WINDOW, V4, "v4_ack_zero_window", "ack_invalid", "ACK, window 0"},
	{H_ACK_DATA, V4, "v4_ack_data", "ack_invalid", "ACK+PSH with data"},
	/* checksums */
	{H_SYN_BADSUM, V4, "v4_syn_bad_checksum", "bad_checksum", "SYN, TCP checksum off by one"},
	{H_SYN_BADSUM, V6, "v6_syn_bad_checksum", "bad_checksum", "SYN, TCP checksum off by one"},
	{H_ACK_BADSUM, V4, "v4_ack_bad_checksum", "bad_checksum", "ACK, TCP checksum off by one"},
	{H_ACK_BADSUM, V6, "v6_ack_bad_checksum", "bad_checksum", "ACK, TCP checksum off by one"},
	/* TCP header and options the daemon cannot parse */
	{H_DOFF0, V4, "v4_doff0", "malformed_tcp_offset", "TCP data offset 0"},
	{H_DOFF4, V4, "v4_doff4", "malformed_tcp_offset", "TCP data offset 4"},
	{H_DOFF4, V6, "v6_doff4", "malformed_tcp_offset", "TCP data offset 4"},
	{H_DOFF15, V4, "v4_doff15", "malformed_tcp_offset", "data offset 15 in a 20-byte segment"},
	{H_DOFF_PAST_IP, V4, "v4_doff_past_ip", "malformed_tcp_offset",
	 "data offset 10 with 32 bytes of TCP in the IP length"},
	{H_OPT_LEN0, V4, "v4_opt_len0", "malformed_tcp_option", "option length 0"},
	{H_OPT_LEN0, V6, "v6_opt_len0", "malformed_tcp_option", "option length 0"},
	{H_OPT_LEN1, V4, "v4_opt_len1", "malformed_tcp_option", "option length 1"},
	{H_OPT_OVERRUN, V4, "v4_opt_overrun", "malformed_tcp_option",
	 "option length past the data offset"},
	{H_OPT_OVERRUN, V6, "v6_opt_overrun", "malformed_tcp_option",
	 "option length past the data offset"},
	{H_OPT_KIND_AT_END, V4, "v4_opt_kind_at_end", "malformed_tcp_option",
	 "an option kind in the last byte, no length"},
	{H_OPT_MSS_LEN3, V4, "v4_opt_mss_len3", "malformed_tcp_option", "MSS of length 3"},
	{H_OPT_WS_LEN4, V4, "v4_opt_ws_len4", "malformed_tcp_option", "window scale of length 4"},
	{H_OPT_TS_LEN8, V4, "v4_opt_ts_len8", "malformed_tcp_option", "timestamps of length 8"},
	{H_OPT_SACKPERM_LEN3, V4, "v4_opt_sackperm_len3", "malformed_tcp_option",
	 "SACK-permitted of length 3"},
	/* flag combinations the queue rules leave to the kernel */
	{H_SYN_FIN, V4, "v4_syn_fin", "kernel", "SYN+FIN"},
	{H_SYN_FIN, V6, "v6_syn_fin", "kernel", "SYN+FIN"},
	{H_SYN_RST, V4, "v4_syn_rst", "kernel", "SYN+RST"},
	{H_SYN_ACK, V4, "v4_syn_ack", "kernel", "SYN+ACK to the server"},
	{H_NULL_FLAGS, V4, "v4_null_flags", "kernel", "no flags at all"},
	{H_XMAS, V4, "v4_xmas", "kernel", "every flag"},
	{H_FIN, V4, "v4_fin", "kernel", "bare FIN"},
	{H_RST, V4, "v4_rst", "kernel", "bare RST"},
	/* IP headers the kernel refuses before netfilter */
	{H_IP_TRUNC, V4, "v4_ip_truncated", "kernel", "12 bytes of an IPv4 header"},
	{H_IP_TRUNC, V6, "v6_ip_truncated", "kernel", "30 bytes of an IPv6 header"},
	{H_IP_VERSION, V4, "v4_ip_version5", "kernel", "IPv4 Ethertype, version 5"},
	{H_IP_VERSION, V6, "v6_ip_version4", "kernel", "IPv6 Ethertype, version 4"},
	{H_IP_IHL4, V4, "v4_ihl4", "kernel", "IHL 4"},
	{H_IP_TOTLEN_LONG, V4, "v4_totlen_long", "kernel", "total length beyond the frame"},
	{H_IP_TOTLEN_LONG, V6, "v6_payload_len_long", "kernel", "payload length beyond the frame"},
	{H_IP_TOTLEN_SHORT, V4, "v4_totlen_short", "kernel", "total length below the IHL"},
	{H_IP_BADSUM, V4, "v4_ip_bad_checksum", "kernel", "IPv4 header checksum wrong"},
	{H_IP_TCP_CUT, V4, "v4_tcp_cut", "kernel", "IP length ends inside the TCP header"},
	{H_IP_TCP_CUT, V6, "v6_tcp_cut", "kernel", "IP length ends inside the TCP header"},
	{H_IP_FRAG_FIRST, V4, "v4_frag_first", "kernel", "first fragment (MF) of a SYN"},
	{H_IP_FRAG_LATER, V4, "v4_frag_later", "kernel", "a fragment at offset 8"},
	/* IPv6 extension header chains */
	{H_V6_EXT8_SHORT, V6, "v6_ext8_short", "syn",
	 "8 destination options headers, bare TCP header: fits the copy range"},
	{H_V6_EXT8_LONG, V6, "v6_ext8_long", "malformed_truncated",
	 "8 destination options headers and TCP options: past the 128-byte copy range"},
	{H_V6_EXT9, V6, "v6_ext9", "malformed_ipv6_exthdr", "9 destination options headers"},
	{H_V6_HBH_TWICE, V6, "v6_hbh_twice", "malformed_ipv6_exthdr",
	 "hop-by-hop, then hop-by-hop again (loop-like)"},
	{H_V6_DSTOPT_BIG, V6, "v6_dstopt_1k", "malformed_truncated",
	 "a 1 KiB destination options header"},
	{H_V6_ROUTING0, V6, "v6_routing0", "syn", "routing header type 0, no segments left"},
	{H_V6_DSTOPT_LIES, V6, "v6_dstopt_len_lies", "kernel",
	 "destination options length past the packet"},
	{H_V6_AH, V6, "v6_ah", "kernel", "TCP behind an authentication header: not matched as TCP, no SA"},
	{H_V6_ESP, V6, "v6_esp", "kernel", "ESP"},
	{H_V6_NONEXT, V6, "v6_no_next_header", "kernel", "next header 59"},
	{H_V6_FRAG_FIRST, V6, "v6_frag_first", "kernel", "first fragment (M) of a SYN"},
	{H_V6_ATOMIC_FRAG, V6, "v6_atomic_frag", "syn",
	 "atomic fragment (offset 0, no M): reassembly strips it"},
	/* ACKs behind what a fast path may leave to the queue path: still checked */
	{H_ACK_IPOPTS, V4, "v4_ack_ip_options", "ack_invalid",
	 "ACK, random cookie, IHL 15: 40 bytes of NOP IP options"},
	{H_V6_ACK_DSTOPT, V6, "v6_ack_dstopt", "ack_invalid",
	 "ACK, random cookie, behind a destination options header"},
	{H_V6_ACK_ATOMIC_FRAG, V6, "v6_ack_atomic_frag", "ack_invalid",
	 "ACK, random cookie, in an atomic fragment"},
};
/* clang-format on */

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

/* An 8-byte destination options (or hop-by-hop) header: PadN over 6 bytes. */
static void opt_hdr(uint8_t *p, uint8_t nh)
{
	static const uint8_t padn[8] = {0, 0, 1, 4, 0, 0, 0, 0};

	memcpy(p, padn, 8);
	p[0] = nh;
}

/* Builds case h into ip; returns the IP packet length. */
static size_t build_case(const struct hcase *h, const struct hctx *c, uint8_t *ip)
{
	static const uint8_t nop40[40] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	                                  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	                                  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
	uint8_t opts[40], ext[1100];
	struct shape sh = {.flags = PKT_SYN,
	                   .window = 64240,
	                   .opts = linux_syn_opts,
	                   .optlen = sizeof(linux_syn_opts)};
	struct built b;
	uint8_t *th;

	switch (h->id) {
	case H_SYN:
	case H_SYN_TRAILER:
		b = mk(ip, c, &sh);
		if (h->id == H_SYN_TRAILER) {
			memset(ip + b.len, 0xa5, 18);
			return b.len + 18;
		}
		return b.len;
	case H_SYN_IPOPTS:
		memset(opts, 1, 40);
		sh.ipopts = opts;
		sh.ipoptlen = 40;
		return mk(ip, c, &sh).len;
	case H_SYN_ZERO_WINDOW:
		sh.window = 0;
		return mk(ip, c, &sh).len;
	case H_SYN_ECN:
		sh.flags = PKT_SYN | PKT_ECE | PKT_CWR;
		return mk(ip, c, &sh).len;
	case H_SYN_URG_PSH:
		sh.flags = PKT_SYN | PKT_URG | PKT_PSH;
		b = mk(ip, c, &sh);
		bytes_put_be16(ip + b.l4off + 18, 1);
		fix_tcp_csum(ip, c->family, b.l4off, b.len - b.l4off);
		return b.len;
	case H_SYN_DATA:
		sh.plen = 40;
		return mk(ip, c, &sh).len;
	case H_SYN_DATA_BIG_BADSUM:
		sh.plen = 1000;
		b = mk(ip, c, &sh);
		ip[b.l4off + 17] ^= 1;
		return b.len;
	case H_SYN_NOOPTS:
		sh.optlen = 0;
		return mk(ip, c, &sh).len;
	case H_OPT_NOP40:
		sh.opts = nop40;
		sh.optlen = 40;
		return mk(ip, c, &sh).len;
	case H_OPT_EOL_GARBAGE:
		memcpy(opts, (const uint8_t[]){2, 4, 5, 0xb4, 0, 2, 3, 0x99, 0x22, 0, 1, 0}, 12);
		sh.opts = opts;
		sh.optlen = 12;
		return mk(ip, c, &sh).len;
	case H_OPT_WS255:
		memcpy(opts, (const uint8_t[]){1, 3, 3, 255}, 4);
		sh.opts = opts;
		sh.optlen = 4;
		return mk(ip, c, &sh).len;
	case H_OPT_MSS0:
		memcpy(opts, (const uint8_t[]){2, 4, 0, 0}, 4);
		sh.opts = opts;
		sh.optlen = 4;
		return mk(ip, c, &sh).len;
	case H_OPT_UNKNOWN:
		memcpy(opts, (const uint8_t[]){30, 5, 1, 2, 3, 254, 4, 0xf9, 0x89, 34, 2, 1}, 12);
		sh.opts = opts;
		sh.optlen = 12;
		return mk(ip, c, &sh).len;
	case H_OPT_DUP:
		memcpy(opts, linux_syn_opts, 20);
		memcpy(opts + 20, linux_syn_opts, 20);
		opts[22] = 0x02; /* second MSS: 0x02b4 = 692 */
		sh.opts = opts;
		sh.optlen = 40;
		return mk(ip, c, &sh).len;
	case H_ACK:
	case H_ACK_FIN:
	case H_ACK_ZERO_WINDOW:
	case H_ACK_DATA:
	case H_ACK_BADSUM:
		sh.flags = PKT_ACK;
		sh.window = 502;
		sh.optlen = 0;
		if (h->id == H_ACK_FIN)
			sh.flags |= PKT_FIN;
		if (h->id == H_ACK_ZERO_WINDOW)
			sh.window = 0;
		if (h->id == H_ACK_DATA) {
			sh.flags |= PKT_PSH;
			sh.plen = 18;
		}
		b = mk(ip, c, &sh);
		if (h->id == H_ACK_BADSUM)
			ip[b.l4off + 17] ^= 1;
		return b.len;
	case H_SYN_BADSUM:
		b = mk(ip, c, &sh);
		ip[b.l4off + 17] ^= 1;
		return b.len;
	case H_DOFF0:
	case H_DOFF4:
	case H_DOFF15:
		sh.optlen = 0;
		b = mk(ip, c, &sh);
		th = ip + b.l4off;
		th[12] = h->id == H_DOFF0 ? 0 : h->id == H_DOFF4 ? 0x40 : 0xf0;
		fix_tcp_csum(ip, c->family, b.l4off, b.len - b.l4off);
		return b.len;
	case H_DOFF_PAST_IP:
		memcpy(opts, linux_syn_opts, 12);
		sh.opts = opts;
		sh.optlen = 12;
		b = mk(ip, c, &sh);
		ip[b.l4off + 12] = 0xa0;
		fix_tcp_csum(ip, c->family, b.l4off, b.len - b.l4off);
		return b.len;
	case H_OPT_LEN0:
	case H_OPT_LEN1:
	case H_OPT_OVERRUN:
	case H_OPT_KIND_AT_END:
	case H_OPT_MSS_LEN3:
	case H_OPT_WS_LEN4:
	case H_OPT_TS_LEN8:
	case H_OPT_SACKPERM_LEN3: {
		static const uint8_t bad[][12] = {
		    [H_OPT_LEN0 - H_OPT_LEN0] = {2, 4, 5, 0xb4, 0x22, 0, 1, 1},
		    [H_OPT_LEN1 - H_OPT_LEN0] = {2, 4, 5, 0xb4, 0x22, 1, 1, 1},
		    [H_OPT_OVERRUN - H_OPT_LEN0] = {2, 4, 5, 0xb4, 1, 1, 30, 40},
		    [H_OPT_KIND_AT_END - H_OPT_LEN0] = {2, 4, 5, 0xb4, 1, 1, 1, 0x22},
		    [H_OPT_MSS_LEN3 - H_OPT_LEN0] = {2, 3, 5, 1, 1, 1, 1, 1},
		    [H_OPT_WS_LEN4 - H_OPT_LEN0] = {3, 4, 7, 0, 1, 1, 1, 1},
		    [H_OPT_TS_LEN8 - H_OPT_LEN0] = {8, 8, 1, 2, 3, 4, 5, 6},
		    [H_OPT_SACKPERM_LEN3 - H_OPT_LEN0] = {4, 3, 0, 1, 1, 1, 1, 1},
		};

		sh.opts = bad[h->id - H_OPT_LEN0];
		sh.optlen = 8;
		return mk(ip, c, &sh).len;
	}
	case H_SYN_FIN:
	case H_SYN_RST:
	case H_SYN_ACK:
	case H_NULL_FLAGS:
	case H_XMAS:
	case H_FIN:
	case H_RST: {
		static const uint8_t fl[] = {
		    [H_SYN_FIN - H_SYN_FIN] = PKT_SYN | PKT_FIN,
		    [H_SYN_RST - H_SYN_FIN] = PKT_SYN | PKT_RST,
		    [H_SYN_ACK - H_SYN_FIN] = PKT_SYN | PKT_ACK,
		    [H_NULL_FLAGS - H_SYN_FIN] = 0,
		    [H_XMAS - H_SYN_FIN] = 0xff,
		    [H_FIN - H_SYN_FIN] = PKT_FIN,
		    [H_RST - H_SYN_FIN] = PKT_RST,
		};

		sh.flags = fl[h->id - H_SYN_FIN];
		return mk(ip, c, &sh).len;
	}
	case H_IP_TRUNC:
		b = mk(ip, c, &sh);
		return c->family == AF_INET ? 12 : 30;
	case H_IP_VERSION:
		b = mk(ip, c, &sh);
		ip[0] = c->family == AF_INET ? 0x55 : 0x45;
		if (c->family == AF_INET)
			fix_ip4_csum(ip);
		return b.len;
	case H_IP_IHL4:
		b = mk(ip, c, &sh);
		ip[0] = 0x44;
		return b.len;
	case H_IP_TOTLEN_LONG:
		b = mk(ip, c, &sh);
		if (c->family == AF_INET) {
			bytes_put_be16(ip + 2, (uint16_t)(b.len + 100));
			fix_ip4_csum(ip);
		} else {
			bytes_put_be16(ip + 4, (uint16_t)(b.len - 40 + 100));
		}
		return b.len;
	case H_IP_TOTLEN_SHORT:
		b = mk(ip, c, &sh);
		bytes_put_be16(ip + 2, 16);
		fix_ip4_csum(ip);
		return b.len;
	case H_IP_BADSUM:
		b = mk(ip, c, &sh);
		ip[11] ^= 1;
		return b.len;
	case H_IP_TCP_CUT:
		/* the frame still holds the whole segment; only the IP length cuts it */
		b = mk(ip, c, &sh);
		if (c->family == AF_INET) {
			bytes_put_be16(ip + 2, (uint16_t)(b.l4off + 10));
			fix_ip4_csum(ip);
		} else {
			bytes_put_be16(ip + 4, 10);
		}
		return b.len;
	case H_IP_FRAG_FIRST:
		b = mk(ip, c, &sh);
		bytes_put_be16(ip + 6, 0x2000); /* MF */
		fix_ip4_csum(ip);
		return b.len;
	case H_IP_FRAG_LATER:
		b = mk(ip, c, &sh);
		bytes_put_be16(ip + 6, 1); /* offset 8 bytes, last fragment */
		fix_ip4_csum(ip);
		return b.len;
	case H_V6_EXT8_SHORT:
	case H_V6_EXT8_LONG:
	case H_V6_EXT9: {
		size_t n = h->id == H_V6_EXT9 ? 9 : 8;

		for (size_t i = 0; i < n; i++)
			opt_hdr(ext + 8 * i, i + 1 < n ? 60 : IPPROTO_TCP);
		sh.ext = ext;
		sh.extlen = 8 * n;
		sh.ext_nh = 60;
		if (h->id == H_V6_EXT8_SHORT)
			sh.optlen = 0;
		return mk(ip, c, &sh).len;
	}
	case H_V6_HBH_TWICE:
		opt_hdr(ext, 0);
		opt_hdr(ext + 8, IPPROTO_TCP);
		sh.ext = ext;
		sh.extlen = 16;
		sh.ext_nh = 0;
		return mk(ip, c, &sh).len;
	case H_V6_DSTOPT_BIG:
		/* 1024 bytes (the link's MTU is 1500): next header, length 127, PadN options */
		memset(ext, 0, 1024);
		ext[0] = IPPROTO_TCP;
		ext[1] = 127;
		for (size_t off = 2; off < 1024;) {
			size_t n = 1024 - off - 2 > 255 ? 255 : 1024 - off - 2;

			ext[off] = 1;
			ext[off + 1] = (uint8_t)n;
			off += n + 2;
		}
		sh.ext = ext;
		sh.extlen = 1024;
		sh.ext_nh = 60;
		return mk(ip, c, &sh).len;
	case H_V6_ROUTING0:
		/* type 0, segments left 0, one address */
		memset(ext, 0, 24);
		ext[0] = IPPROTO_TCP;
		ext[1] = 2;
		memcpy(ext + 8, c->dst, 16);
		sh.ext = ext;
		sh.extlen = 24;
		sh.ext_nh = 43;
		return mk(ip, c, &sh).len;
	case H_V6_DSTOPT_LIES:
		opt_hdr(ext, IPPROTO_TCP);
		ext[1] = 200;
		sh.ext = ext;
		sh.extlen = 8;
		sh.ext_nh = 60;
		return mk(ip, c, &sh).len;
	case H_V6_AH:
		/* AH: next header, length (in 4-byte units minus 2), SPI, sequence, 8 ICV bytes */
		memset(ext, 0, 24);
		ext[0] = IPPROTO_TCP;
		ext[1] = 4;
		bytes_put_be32(ext + 4, 0x100);
		bytes_put_be32(ext + 8, 1);
		sh.ext = ext;
		sh.extlen = 24;
		sh.ext_nh = 51;
		return mk(ip, c, &sh).len;
	case H_V6_ESP:
	case H_V6_NONEXT:
		b = mk(ip, c, &sh);
		ip[6] = h->id == H_V6_ESP ? 50 : 59;
		return b.len;
	case H_ACK_IPOPTS:
	case H_V6_ACK_DSTOPT:
	case H_V6_ACK_ATOMIC_FRAG:
		sh.flags = PKT_ACK;
		sh.window = 502;
		sh.optlen = 0;
		if (h->id == H_ACK_IPOPTS) {
			memset(opts, 1, 40);
			sh.ipopts = opts;
			sh.ipoptlen = 40;
		} else if (h->id == H_V6_ACK_DSTOPT) {
			opt_hdr(ext, IPPROTO_TCP);
			sh.ext = ext;
			sh.extlen = 8;
			sh.ext_nh = 60;
		} else {
			memset(ext, 0, 8);
			ext[0] = IPPROTO_TCP;
			bytes_put_be32(ext + 4, c->seq);
			sh.ext = ext;
			sh.extlen = 8;
			sh.ext_nh = 44;
		}
		return mk(ip, c, &sh).len;
	case H_V6_FRAG_FIRST:
	case H_V6_ATOMIC_FRAG:
		memset(ext, 0, 8);
		ext[0] = IPPROTO_TCP;
		bytes_put_be16(ext + 2, h->id == H_V6_FRAG_FIRST ? 1 : 0); /* offset 0, M flag */
		bytes_put_be32(ext + 4, c->seq);
		sh.ext = ext;
		sh.extlen = 8;
		sh.ext_nh = 44;
		return mk(ip, c, &sh).len;
	}
	return 0;
}

/* ---- addresses ---- */

static const struct {
	int family;
	const char *addr;
	unsigned len;
} allowed_ranges[] = {
    {AF_INET, "192.0.2.0", 24},  {AF_INET, "198.51.100.0", 24}, {AF_INET, "203.0.113.0", 24},
    {AF_INET, "198.18.0.0", 15}, {AF_INET6, "2001:db8::", 32},
};

static bool addr_allowed(int family, const uint8_t *a)
{
	for (size_t i = 0; i < sizeof(allowed_ranges) / sizeof(allowed_ranges[0]); i++) {
		uint8_t net[16] = {0};
		unsigned bytes = allowed_ranges[i].len / 8, bits = allowed_ranges[i].len % 8;

		if (allowed_ranges[i].family != family)
			continue;
		inet_pton(family, allowed_ranges[i].addr, net);
		if (memcmp(net, a, bytes) != 0)
			continue;
		if (bits && (net[bytes] ^ a[bytes]) & (uint8_t)(0xff << (8 - bits)))
			continue;
		return true;
	}
	return false;
}

/* The n-th spoofed source: 198.18.0.0/15 or 2001:db8:ffff::/48, never 0 in the host part. */
static void spoofed_source(int family, uint64_t n, uint8_t *out)
{
	memset(out, 0, 16);
	if (family == AF_INET) {
		uint32_t host = (uint32_t)(n % ((1u << 17) - 2)) + 1;

		out[0] = 198;
		out[1] = (uint8_t)(18 + (host >> 16));
		out[2] = (uint8_t)(host >> 8);
		out[3] = (uint8_t)host;
	} else {
		static const uint8_t pfx[6] = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff};

		memcpy(out, pfx, 6);
		bytes_put_be32(out + 12, (uint32_t)n + 1);
	}
}

/* ---- the XDP program's share (datapath "xdp") ---- */

/* daemon/bpf/tcpopt.bpf.h's rules: false when the options are malformed. */
static bool xdp_opts_ok(const uint8_t *o, size_t len)
{
	for (size_t off = 0; off < len;) {
		uint8_t kind = o[off], olen;

		if (kind == 0)
			return true;
		if (kind == 1) {
			off++;
			continue;
		}
		if (off + 1 >= len)
			return false;
		olen = o[off + 1];
		if (olen < 2 || off + olen > len)
			return false;
		if ((kind == 2 && olen != 4) || (kind == 3 && olen != 3) ||
		    (kind == 4 && olen != 2) || (kind == 8 && olen != 10))
			return false;
		off += olen;
	}
	return true;
}

/*
 * What daemon/bpf/xdp_syn.bpf.c does with a built packet to a listener of
 * mode cookie on its address and port, derived from the packet's bytes by
 * the program's rules (the cookie of an ACK is never valid here):
 *   answered                      a SYN answered with XDP_TX
 *   dropped:ack_invalid           an ACK candidate whose cookie fails
 *   passed                        on to the kernel and the NFQUEUE path, uncounted
 *   passed:C[,C]                  the same, counted in the XDP counters C of the
 *                                 listener, or of "unmatched" when prefixed so
 * Passed packets keep the fate of the NFQUEUE path (the fate column).
 */
static const char *xdp_fate(int family, const uint8_t *ip, size_t len)
{
	size_t l4off, l4len, olen;
	const uint8_t *th;
	bool syn, ack;

	if (family == AF_INET) {
		if (len < 20 || ip[0] >> 4 != 4 || ip[9] != IPPROTO_TCP)
			return "passed";
		if ((ip[0] & 0x0f) != 5 || (bytes_get_be16(ip + 6) & 0x3fff))
			return "passed:unmatched.passed_unparsed";
		l4off = 20;
		l4len = bytes_get_be16(ip + 2);
		l4len = l4len < 20 ? 0xffff : l4len - 20;
	} else {
		if (len < 40 || ip[0] >> 4 != 6)
			return "passed";
		switch (ip[6]) {
		case IPPROTO_TCP:
			break;
		case 0:
		case 43:
		case 44:
		case 51:
		case 60:
		case 135:
		case 139:
		case 140:
			return "passed:unmatched.passed_unparsed";
		default:
			return "passed";
		}
		l4off = 40;
		l4len = bytes_get_be16(ip + 4);
	}
	if (len < l4off + 20)
		return "passed";
	th = ip + l4off;
	syn = (th[13] & (PKT_SYN | PKT_ACK | PKT_RST | PKT_FIN)) == PKT_SYN;
	ack = (th[13] & (PKT_SYN | PKT_ACK | PKT_RST)) == PKT_ACK;
	if (!syn && !ack)
		return "passed";
	olen = (size_t)(th[12] >> 4) * 4;
	if (olen < 20 || l4len < olen || l4off + l4len > len || (syn && l4len != olen))
		return "passed:passed_unparsed";
	if (!xdp_opts_ok(th + 20, olen - 20))
		return "passed:passed_unparsed";
	if (ack)
		return "dropped:ack_invalid";
	if (family == AF_INET && csum_fold(csum_partial(ip, 20, 0)) != 0)
		return "passed:syn_seen,passed_csum";
	if (csum_fold(csum_partial(th, olen,
	                           csum_pseudo(family, ip + (family == AF_INET ? 12 : 8),
	                                       ip + (family == AF_INET ? 16 : 24), IPPROTO_TCP,
	                                       (uint32_t)olen))) != 0)
		return "passed:syn_seen,passed_csum";
	return "answered";
}

/* ---- outputs ---- */

struct out {
	int fd;
	struct sockaddr_ll sll;
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	FILE *pcap;
	const char *raw_dir;
	uint64_t errors;
	int last_errno;
};

static int open_iface(struct out *w, const char *iface)
{
	struct ifreq ifr = {0};
	unsigned ifindex = if_nametoindex(iface);

	if (!ifindex) {
		fprintf(stderr, "hostile: interface %s: %s\n", iface, strerror(errno));
		return -1;
	}
	/* protocol 0: send only */
	w->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (w->fd < 0) {
		fprintf(stderr, "hostile: AF_PACKET socket: %s\n", strerror(errno));
		return -1;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
	if (ioctl(w->fd, SIOCGIFHWADDR, &ifr) < 0) {
		fprintf(stderr, "hostile: %s: no hardware address: %s\n", iface, strerror(errno));
		return -1;
	}
	memcpy(w->src_mac, ifr.ifr_hwaddr.sa_data, 6);
	w->sll.sll_family = AF_PACKET;
	w->sll.sll_ifindex = (int)ifindex;
	w->sll.sll_halen = 6;
	memcpy(w->sll.sll_addr, w->dst_mac, 6);
	return 0;
}

static int pcap_open(struct out *w, const char *path)
{
	/* classic pcap: magic, v2.4, GMT offset, accuracy, snaplen, LINKTYPE_ETHERNET */
	const uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};

	w->pcap = fopen(path, "wbe");
	if (!w->pcap || fwrite(hdr, sizeof(hdr), 1, w->pcap) != 1) {
		fprintf(stderr, "hostile: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Emits one IP packet of family f in an Ethernet frame (or bare, per case, into raw_dir). */
static int emit(struct out *w, const struct hcase *h, const uint8_t *ip, size_t len,
                uint64_t seq_no)
{
	uint8_t frame[ETH_HLEN + PKT_MAX];
	uint16_t type = htons(h->family == AF_INET ? ETH_P_IP : ETH_P_IPV6);

	if (w->raw_dir) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", w->raw_dir, h->name);
		f = fopen(path, "wbe");
		if (!f || fwrite(ip, len, 1, f) != 1 || fclose(f) != 0) {
			fprintf(stderr, "hostile: %s: %s\n", path, strerror(errno));
			return -1;
		}
		return 0;
	}
	memcpy(frame, w->dst_mac, 6);
	memcpy(frame + 6, w->src_mac, 6);
	memcpy(frame + 12, &type, 2);
	memcpy(frame + ETH_HLEN, ip, len);
	if (w->pcap) {
		uint32_t rec[4] = {(uint32_t)(seq_no / 1000), (uint32_t)(seq_no % 1000) * 1000,
		                   (uint32_t)(ETH_HLEN + len), (uint32_t)(ETH_HLEN + len)};

		if (fwrite(rec, sizeof(rec), 1, w->pcap) != 1 ||
		    fwrite(frame, ETH_HLEN + len, 1, w->pcap) != 1) {
			fprintf(stderr, "hostile: writing the pcap: %s\n", strerror(errno));
			return -1;
		}
		return 0;
	}
	w->sll.sll_protocol = type;
	if (sendto(w->fd, frame, ETH_HLEN + len, 0, (struct sockaddr *)&w->sll, sizeof(w->sll)) <
	    0) {
		w->errors++;
		w->last_errno = errno;
	}
	return 0;
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: hostile --list [--xdp]\n"
	        "       hostile (--iface IF --dst-mac MAC | --pcap FILE | --raw-dir DIR)\n"
	        "               [--case NAME]... [--family 4|6] [--count N] [--interleave]\n"
	        "               [--rate PPS] [--duration S] [--dst4 A] [--dst6 A] [--dport P]\n"
	        "  --list        print every case: name, family, expected fate, description\n"
	        "  --xdp         with --list: a column after the fate, what the XDP program\n"
	        "                (datapath \"xdp\") does with the case (see xdp_fate())\n"
	        "  --case NAME   only this case (repeatable; default: every case)\n"
	        "  --count N     packets per case (default 1, at most %d)\n"
	        "  --interleave  one packet of each case in turn, instead of case by case\n"
	        "  --rate PPS    pacing (default 2000; 0: as fast as possible)\n"
	        "  --duration S  stop after S seconds (default and most: %d)\n"
	        "  --raw-dir DIR one file per case, the bare IP packet (fuzzing seeds)\n"
	        "Defaults: --dst4 192.0.2.1 --dst6 2001:db8::1 --dport 80 (the lab server).\n"
	        "Every address must lie in the documentation ranges.\n",
	        HOSTILE_MAX_COUNT, HOSTILE_MAX_SECONDS);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"list", no_argument, NULL, 'l'},
	    {"iface", required_argument, NULL, 'i'},
	    {"dst-mac", required_argument, NULL, 'm'},
	    {"pcap", required_argument, NULL, 'w'},
	    {"raw-dir", required_argument, NULL, 'R'},
	    {"case", required_argument, NULL, 'c'},
	    {"family", required_argument, NULL, 'f'},
	    {"count", required_argument, NULL, 'n'},
	    {"interleave", no_argument, NULL, 'I'},
	    {"rate", required_argument, NULL, 'r'},
	    {"duration", required_argument, NULL, 't'},
	    {"dst4", required_argument, NULL, '4'},
	    {"dst6", required_argument, NULL, '6'},
	    {"dport", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {"xdp", no_argument, NULL, 'X'},
	    {NULL, 0, NULL, 0},
	};
	struct out w = {.fd = -1};
	bool sel[N_CASES], any_sel = false, list = false, interleave = false, mac_set = false,
	                   xdp = false;
	const char *iface = NULL, *pcap = NULL;
	uint8_t dst4[16] = {192, 0, 2, 1}, dst6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	unsigned long count = 1, dport = 80, rate = 2000;
	int family = 0, ch;
	double duration = HOSTILE_MAX_SECONDS, start, deadline;
	uint64_t sent = 0;
	char *end;

	memset(sel, 0, sizeof(sel));
	while ((ch = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			list = true;
			break;
		case 'X':
			xdp = true;
			break;
		case 'i':
			iface = optarg;
			break;
		case 'm':
			if (sgsend_parse_mac(optarg, w.dst_mac) < 0) {
				fprintf(stderr, "hostile: bad MAC address: %s\n", optarg);
				return 2;
			}
			mac_set = true;
			break;
		case 'w':
			pcap = optarg;
			break;
		case 'R':
			w.raw_dir = optarg;
			break;
		case 'c': {
			bool found = false;

			for (size_t i = 0; i < N_CASES; i++) {
				if (strcmp(cases[i].name, optarg) == 0) {
					sel[i] = found = any_sel = true;
				}
			}
			if (!found) {
				fprintf(stderr, "hostile: no case %s (see --list)\n", optarg);
				return 2;
			}
			break;
		}
		case 'f':
			family = strcmp(optarg, "4") == 0   ? AF_INET
			         : strcmp(optarg, "6") == 0 ? AF_INET6
			                                    : -1;
			if (family < 0) {
				fprintf(stderr, "hostile: --family is 4 or 6\n");
				return 2;
			}
			break;
		case 'n':
			count = strtoul(optarg, &end, 10);
			if (*end || count < 1 || count > HOSTILE_MAX_COUNT) {
				fprintf(stderr, "hostile: --count must be 1..%d\n",
				        HOSTILE_MAX_COUNT);
				return 2;
			}
			break;
		case 'I':
			interleave = true;
			break;
		case 'r':
			rate = strtoul(optarg, &end, 10);
			if (*end) {
				fprintf(stderr, "hostile: bad --rate\n");
				return 2;
			}
			break;
		case 't':
			duration = strtod(optarg, &end);
			if (*end || !(duration > 0) || duration > HOSTILE_MAX_SECONDS) {
				fprintf(stderr, "hostile: --duration must be in (0, %d]\n",
				        HOSTILE_MAX_SECONDS);
				return 2;
			}
			break;
		case '4':
		case '6':
			if (inet_pton(ch == '4' ? AF_INET : AF_INET6, optarg,
			              ch == '4' ? dst4 : dst6) != 1) {
				fprintf(stderr, "hostile: bad address %s\n", optarg);
				return 2;
			}
			break;
		case 'p':
			dport = strtoul(optarg, &end, 10);
			if (*end || dport < 1 || dport > 65535) {
				fprintf(stderr, "hostile: --dport must be 1..65535\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "hostile: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	for (size_t i = 0; i < N_CASES; i++) {
		if (!any_sel)
			sel[i] = true;
		if (family && cases[i].family != family)
			sel[i] = false;
	}
	if (list) {
		for (size_t i = 0; i < N_CASES; i++) {
			uint8_t ip[PKT_MAX];
			struct hctx c = {
			    .family = cases[i].family, .sport = 1024, .seq = 1, .ack = 2};

			if (!sel[i])
				continue;
			printf("%-24s %d %-22s ", cases[i].name, c.family == AF_INET ? 4 : 6,
			       cases[i].fate);
			if (xdp) {
				spoofed_source(c.family, 0, c.src);
				memcpy(c.dst, c.family == AF_INET ? dst4 : dst6, 16);
				c.dport = (uint16_t)dport;
				printf("%-34s ",
				       xdp_fate(c.family, ip, build_case(&cases[i], &c, ip)));
			}
			printf("%s\n", cases[i].what);
		}
		return 0;
	}
	if (!addr_allowed(AF_INET, dst4) || !addr_allowed(AF_INET6, dst6)) {
		fprintf(stderr,
		        "hostile: refusing destinations outside the documentation ranges\n");
		return 2;
	}
	if (!!iface + !!pcap + !!w.raw_dir != 1 || (iface && !mac_set)) {
		fprintf(stderr, "hostile: give one of --iface with --dst-mac, --pcap, --raw-dir\n");
		return 2;
	}
	if (w.raw_dir) {
		if (mkdir(w.raw_dir, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "hostile: %s: %s\n", w.raw_dir, strerror(errno));
			return 1;
		}
		count = 1;
	} else if (pcap ? pcap_open(&w, pcap) < 0 : open_iface(&w, iface) < 0) {
		return 1;
	}

	start = now_s();
	deadline = start + duration;
	/* case by case: count of case ci, then the next; interleaved: one of each per round */
	for (unsigned long round = 0, done = 0, ci = 0;;) {
		size_t i = ci;
		uint8_t ip[PKT_MAX];
		struct hctx c;
		size_t len;

		if (ci == N_CASES) {
			if (!interleave || ++round == count)
				break;
			ci = 0;
			continue;
		}
		if (!sel[i]) {
			ci++;
			continue;
		}
		if (now_s() >= deadline)
			break;
		memset(&c, 0, sizeof(c));
		c.family = cases[i].family;
		/* sources differ between cases too: fragments held for reassembly by one case
		 * must not meet the next case's packets */
		spoofed_source(c.family, i * 1500 + sent, c.src);
		memcpy(c.dst, c.family == AF_INET ? dst4 : dst6, 16);
		c.sport = (uint16_t)(1024 + (sent * 7919) % 64000);
		c.dport = (uint16_t)dport;
		c.seq = (uint32_t)(0x9e3779b9u * (sent + 1));
		c.ack = (uint32_t)(0x7f4a7c15u * (sent + 1));
		len = build_case(&cases[i], &c, ip);
		if (!len || emit(&w, &cases[i], ip, len, sent) < 0)
			return 1;
		sent++;
		if (rate) {
			double due = start + (double)sent / (double)rate, t = now_s();

			if (due > t) {
				struct timespec ts = {
				    .tv_sec = (time_t)(due - t),
				    .tv_nsec = (long)((due - t - (double)(time_t)(due - t)) * 1e9)};

				nanosleep(&ts, NULL);
			}
		}
		if (interleave) {
			ci++;
		} else if (++done == count) {
			done = 0;
			ci++;
		}
	}
	if (w.pcap && fclose(w.pcap) != 0) {
		fprintf(stderr, "hostile: writing the pcap: %s\n", strerror(errno));
		return 1;
	}
	if (w.errors)
		fprintf(stderr, "hostile: %" PRIu64 " send errors (last: %s)\n", w.errors,
		        strerror(w.last_errno));
	printf("hostile: %" PRIu64 " packets in %.3f s\n", sent, now_s() - start);
	return w.errors ? 1 : 0;
}
