/*
 * lib/cookie.c's SYN cookie in BPF: the same layout (cookie_layout.h), the
 * same 46-byte MAC input, SipHash-2-4, the same epoch rules, with keys from
 * the sg_cookie_keys map (cookie_keys.h). Shared test vectors hold the two
 * to the same answers (tests/unit/test_bpf_cookie.c).
 *
 * Include after vmlinux.h and bpf/bpf_helpers.h. Everything is inlined and
 * loop-free, so the verifier walks straight-line code: SipHash's rounds are
 * written out, the two table searches are unrolled.
 */
#ifndef SYNGUARD_COOKIE_BPF_H
#define SYNGUARD_COOKIE_BPF_H

#include "cookie_keys.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the MAC input words are loaded little-endian, as SipHash reads them"
#endif

/* enum cookie_result in lib/cookie.h */
#define SG_COOKIE_VALID  0
#define SG_COOKIE_ENOKEY 1
#define SG_COOKIE_EMAC   2
#define SG_COOKIE_ETS    3

/* Option flags of struct sg_cookie_syn. */
#define SG_SYN_WSCALE 0x1
#define SG_SYN_SACK   0x2
#define SG_SYN_TS     0x4
#define SG_SYN_ECN    0x8 /* ECN agreed: carried in the TSval, only with SG_SYN_TS */

/* As lib/pkt.h's struct pkt_tuple, with the cookie's family numbers (4 or 6). */
struct sg_cookie_tuple {
	/* network order; IPv4 in the first 4 bytes; aligned: checksums read them by words */
	__u8 saddr[16] __attribute__((aligned(8)));
	__u8 daddr[16];
	__u16 sport; /* host order */
	__u16 dport;
	__u8 family; /* COOKIE_IN_FAMILY4 or COOKIE_IN_FAMILY6 */
};

/* struct cookie_syn: the options to grant (make) or as decoded (check). */
struct sg_cookie_syn {
	__u16 mss; /* make: the client's, 0 = none */
	__u8 wscale;
	__u8 flags; /* SG_SYN_* */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SG_COOKIE_KEYS_ENTRIES);
	__type(key, __u32);
	__type(value, struct sg_cookie_keyent);
} sg_cookie_keys SEC(".maps");

/*
 * SEC(".rodata"): clang 14 would put it in .rodata.cst8, which libbpf 1.1
 * rejects. One spare entry so that a 3-bit index needs no further bound.
 */
static const __u8 sg_wscale_table[8] SEC(".rodata") = COOKIE_WSCALE_TABLE;

#define SG_ROTL(x, b) (__u64)(((x) << (b)) | ((x) >> (64 - (b))))
#define SG_SIPROUND                                                                                \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = SG_ROTL(v1, 13);                                                              \
		v1 ^= v0;                                                                          \
		v0 = SG_ROTL(v0, 32);                                                              \
		v2 += v3;                                                                          \
		v3 = SG_ROTL(v3, 16);                                                              \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = SG_ROTL(v3, 21);                                                              \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = SG_ROTL(v1, 17);                                                              \
		v1 ^= v2;                                                                          \
		v2 = SG_ROTL(v2, 32);                                                              \
	} while (0)
#define SG_SIP_WORD(m)                                                                             \
	do {                                                                                       \
		v3 ^= (m);                                                                         \
		SG_SIPROUND;                                                                       \
		SG_SIPROUND;                                                                       \
		v0 ^= (m);                                                                         \
	} while (0)

/* SipHash-2-4 of the 46-byte MAC input (6 words, the last with the length). */
static __always_inline __u64 sg_siphash46(const __u8 key[COOKIE_KEY_LEN], const __u8 *in)
{
	__u64 k0, k1, m0, m1, m2, m3, m4, m5 = 0;

	__builtin_memcpy(&k0, key, 8);
	__builtin_memcpy(&k1, key + 8, 8);
	__builtin_memcpy(&m0, in, 8);
	__builtin_memcpy(&m1, in + 8, 8);
	__builtin_memcpy(&m2, in + 16, 8);
	__builtin_memcpy(&m3, in + 24, 8);
	__builtin_memcpy(&m4, in + 32, 8);
	__builtin_memcpy(&m5, in + 40, COOKIE_IN_LEN - 40);
	m5 |= (__u64)COOKIE_IN_LEN << 56;

	__u64 v0 = k0 ^ 0x736f6d6570736575ULL;
	__u64 v1 = k1 ^ 0x646f72616e646f6dULL;
	__u64 v2 = k0 ^ 0x6c7967656e657261ULL;
	__u64 v3 = k1 ^ 0x7465646279746573ULL;

	SG_SIP_WORD(m0);
	SG_SIP_WORD(m1);
	SG_SIP_WORD(m2);
	SG_SIP_WORD(m3);
	SG_SIP_WORD(m4);
	SG_SIP_WORD(m5);
	v2 ^= 0xff;
	SG_SIPROUND;
	SG_SIPROUND;
	SG_SIPROUND;
	SG_SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* The live key of exactly this epoch, or NULL. */
static __always_inline const struct sg_cookie_keyent *sg_cookie_key(__u32 epoch)
{
	__u32 idx = epoch & (SG_COOKIE_KEY_SLOTS - 1);
	const struct sg_cookie_keyent *k = bpf_map_lookup_elem(&sg_cookie_keys, &idx);

	if (k == NULL || !(k->flags & SG_COOKIE_KEY_LIVE) || k->epoch != epoch)
		return NULL;
	return k;
}

/* The current epoch (cookie_keys.h: off the clock, or as written); false until the daemon
 * has written one. */
static __always_inline bool sg_cookie_now(__u32 *epoch)
{
	__u32 idx = SG_COOKIE_KEYS_NOW;
	const struct sg_cookie_keyent *k = bpf_map_lookup_elem(&sg_cookie_keys, &idx);

	if (k == NULL || !(k->flags & SG_COOKIE_KEY_LIVE))
		return false;
	if (!(k->flags & SG_COOKIE_NOW_CLOCK)) {
		*epoch = k->epoch;
		return true;
	}
	if (k->rotation_ns == 0)
		return false;
	*epoch = (__u32)((bpf_ktime_get_ns() + k->clock_off_ns) / k->rotation_ns);
	return true;
}

static __always_inline void sg_put_be16(__u8 *p, __u16 v)
{
	p[0] = (__u8)(v >> 8);
	p[1] = (__u8)v;
}

static __always_inline void sg_put_be32(__u8 *p, __u32 v)
{
	p[0] = (__u8)(v >> 24);
	p[1] = (__u8)(v >> 16);
	p[2] = (__u8)(v >> 8);
	p[3] = (__u8)v;
}

/* lib/cookie.c's mac(): false for an unknown family. */
static __always_inline bool sg_cookie_mac(const struct sg_cookie_keyent *k,
                                          const struct sg_cookie_tuple *t, __u32 client_isn,
                                          __u8 info, __u64 *hash)
{
	__u8 in[48];

	__builtin_memset(in, 0, sizeof(in));
	if (t->family == COOKIE_IN_FAMILY4) {
		__builtin_memcpy(in + COOKIE_IN_SADDR, t->saddr, 4);
		__builtin_memcpy(in + COOKIE_IN_DADDR, t->daddr, 4);
	} else if (t->family == COOKIE_IN_FAMILY6) {
		__builtin_memcpy(in + COOKIE_IN_SADDR, t->saddr, 16);
		__builtin_memcpy(in + COOKIE_IN_DADDR, t->daddr, 16);
	} else {
		return false;
	}
	in[COOKIE_IN_FAMILY] = t->family;
	sg_put_be16(in + COOKIE_IN_SPORT, t->sport);
	sg_put_be16(in + COOKIE_IN_DPORT, t->dport);
	sg_put_be32(in + COOKIE_IN_CISN, client_isn);
	sg_put_be32(in + COOKIE_IN_EPOCH, k->epoch);
	in[COOKIE_IN_INFO] = info;
	*hash = sg_siphash46(k->key, in);
	return true;
}

/* The TSval: the hash's low 32 bits, the ECN bit in place of its lowest. */
static __always_inline __u32 sg_cookie_ts_of(__u64 hash, bool ecn)
{
	return ((__u32)hash & ~COOKIE_TS_ECN) | (ecn ? COOKIE_TS_ECN : 0);
}

static __always_inline __u32 sg_cookie_isn_of(__u64 hash, __u8 info)
{
	return (__u32)(hash >> COOKIE_HASH_MAC_SHIFT) << COOKIE_ISN_MAC_SHIFT | info;
}

/* The largest table entry not above mss, entry 0 if none is. */
static __always_inline __u32 sg_cookie_mss_index(const __u16 mss_table[COOKIE_MSS_SLOTS], __u16 mss)
{
	if (mss >= mss_table[3])
		return 3;
	if (mss >= mss_table[2])
		return 2;
	if (mss >= mss_table[1])
		return 1;
	return 0;
}

/* 0: no window scale; else 1 + the largest table entry not above the shift. */
static __always_inline __u32 sg_cookie_wscale_index(const struct sg_cookie_syn *in)
{
	if (!(in->flags & SG_SYN_WSCALE))
		return 0;
	__u32 i = COOKIE_WSCALE_SLOTS - 1;

#pragma unroll
	for (int n = 0; n < COOKIE_WSCALE_SLOTS - 1; n++)
		if (i > 0 && sg_wscale_table[i] > in->wscale)
			i--;
	return i + 1;
}

/*
 * cookie_make() in the current epoch: the ISN, and the TSval to send when the
 * timestamps are granted (with the ECN bit when in->flags has SG_SYN_ECN too). Returns 0, or -1
 * when the epoch has no live key or the family is unknown.
 */
static __always_inline int sg_cookie_make(const struct sg_cookie_tuple *t, __u32 client_isn,
                                          const struct sg_cookie_syn *in,
                                          const __u16 mss_table[COOKIE_MSS_SLOTS], __u32 *isn,
                                          __u32 *tsval)
{
	const struct sg_cookie_keyent *k;
	__u32 epoch;
	__u64 hash;

	if (!sg_cookie_now(&epoch) || (k = sg_cookie_key(epoch)) == NULL)
		return -1;

	__u8 info =
	    (__u8)(sg_cookie_mss_index(mss_table, in->mss) << COOKIE_INFO_MSS_SHIFT |
	           sg_cookie_wscale_index(in) << COOKIE_INFO_WSCALE_SHIFT |
	           (in->flags & SG_SYN_SACK ? COOKIE_INFO_SACK : 0) |
	           (in->flags & SG_SYN_TS ? COOKIE_INFO_TS : 0) | (epoch & COOKIE_INFO_PARITY));

	if (!sg_cookie_mac(k, t, client_isn, info, &hash))
		return -1;
	*isn = sg_cookie_isn_of(hash, info);
	*tsval = sg_cookie_ts_of(hash, (in->flags & (SG_SYN_TS | SG_SYN_ECN)) ==
	                                   (SG_SYN_TS | SG_SYN_ECN));
	return 0;
}

/*
 * cookie_check() in the current epoch, for the ACK with sequence and
 * acknowledgment numbers seq and ack; has_ts/tsecr are its timestamp option.
 * Returns SG_COOKIE_*; on SG_COOKIE_VALID fills *out with the decoded options
 * (SG_SYN_ECN: the TSecr's ECN bit, when the cookie has timestamps).
 */
static __always_inline int sg_cookie_check(const struct sg_cookie_tuple *t, __u32 seq, __u32 ack,
                                           bool has_ts, __u32 tsecr,
                                           const __u16 mss_table[COOKIE_MSS_SLOTS],
                                           struct sg_cookie_syn *out)
{
	const struct sg_cookie_keyent *k;
	__u32 isn = ack - 1;
	__u8 info = (__u8)isn;
	__u32 now, epoch;
	__u64 hash;

	if (!sg_cookie_now(&now))
		return SG_COOKIE_ENOKEY;
	/* Unsigned wrap-around keeps epoch 0 - 1 consistent with a cookie made at UINT32_MAX. */
	epoch = (now & COOKIE_INFO_PARITY) == (info & COOKIE_INFO_PARITY) ? now : now - 1;
	k = sg_cookie_key(epoch);
	if (k == NULL)
		return SG_COOKIE_ENOKEY;
	if (!sg_cookie_mac(k, t, seq - 1, info, &hash) || sg_cookie_isn_of(hash, info) != isn)
		return SG_COOKIE_EMAC;
	if ((info & COOKIE_INFO_TS) &&
	    (!has_ts || (tsecr & ~COOKIE_TS_ECN) != sg_cookie_ts_of(hash, false)))
		return SG_COOKIE_ETS;

	__u32 widx = info >> COOKIE_INFO_WSCALE_SHIFT & COOKIE_INFO_WSCALE_MASK;

	__u32 midx = info >> COOKIE_INFO_MSS_SHIFT & COOKIE_INFO_MSS_MASK;

	/*
	 * Not mss_table[midx]: on an aligned stack table clang turns the
	 * addition into an OR, which the verifier refuses on a pointer.
	 */
	out->mss = midx == 0   ? mss_table[0]
	           : midx == 1 ? mss_table[1]
	           : midx == 2 ? mss_table[2]
	                       : mss_table[3];
	out->wscale = widx != 0 ? sg_wscale_table[(widx - 1) & 7] : 0;
	out->flags = (widx != 0 ? SG_SYN_WSCALE : 0) | (info & COOKIE_INFO_SACK ? SG_SYN_SACK : 0) |
	             (info & COOKIE_INFO_TS ? SG_SYN_TS : 0) |
	             (info & COOKIE_INFO_TS && tsecr & COOKIE_TS_ECN ? SG_SYN_ECN : 0);
	return SG_COOKIE_VALID;
}

#endif
