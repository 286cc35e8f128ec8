/*
 * TCP options in BPF: the ones a cookie carries (MSS, window scale,
 * SACK-permitted, timestamps), parsed from the option bytes copied into a
 * zeroed stack buffer. An open-coded option loop exceeds the verifier's
 * instruction budget; bpf_loop with an index masked into the buffer does not.
 *
 * Include after vmlinux.h, bpf/bpf_helpers.h and cookie.bpf.h (SG_SYN_*).
 */
#ifndef SYNGUARD_TCPOPT_BPF_H
#define SYNGUARD_TCPOPT_BPF_H

#define SG_TCPOPT_BUF 64 /* a power of two above the 40 option bytes TCP allows */

struct sg_tcpopts {
	__u16 mss; /* 0: none */
	__u8 wscale;
	__u8 flags; /* SG_SYN_WSCALE, SG_SYN_SACK, SG_SYN_TS */
	__u32 tsval;
	__u32 tsecr;
};

struct sg_tcpopt_parse {
	__u8 buf[SG_TCPOPT_BUF];
	__u32 len; /* option bytes in buf */
	__u32 off;
	bool bad; /* malformed, as lib/pkt.c's PKT_EOPT: length 0/1, overrun, wrong size */
	struct sg_tcpopts o;
};

static __always_inline __u32 sg_opt_be32(const __u8 *b, __u32 off)
{
	return (__u32)b[off & (SG_TCPOPT_BUF - 1)] << 24 |
	       (__u32)b[(off + 1) & (SG_TCPOPT_BUF - 1)] << 16 |
	       (__u32)b[(off + 2) & (SG_TCPOPT_BUF - 1)] << 8 | b[(off + 3) & (SG_TCPOPT_BUF - 1)];
}

static long sg_tcpopt_step(__u32 i, void *ctx)
{
	struct sg_tcpopt_parse *p = ctx;
	__u32 off = p->off;
	__u8 kind, len;

	(void)i;
	if (off >= p->len)
		return 1;
	kind = p->buf[off & (SG_TCPOPT_BUF - 1)];
	if (kind == 0) /* end of options */
		return 1;
	if (kind == 1) { /* no-op */
		p->off = off + 1;
		return 0;
	}
	if (off + 1 >= p->len) {
		p->bad = true;
		return 1;
	}
	len = p->buf[(off + 1) & (SG_TCPOPT_BUF - 1)];
	if (len < 2 || off + len > p->len) {
		p->bad = true;
		return 1;
	}
	switch (kind) {
	case 2:
		if (len != 4)
			goto bad;
		p->o.mss = (__u16)(p->buf[(off + 2) & (SG_TCPOPT_BUF - 1)] << 8 |
		                   p->buf[(off + 3) & (SG_TCPOPT_BUF - 1)]);
		break;
	case 3:
		if (len != 3)
			goto bad;
		/* RFC 7323 2.3: a shift above 14 is read as 14 (as lib/pkt.c does). */
		p->o.wscale = p->buf[(off + 2) & (SG_TCPOPT_BUF - 1)];
		if (p->o.wscale > 14)
			p->o.wscale = 14;
		p->o.flags |= SG_SYN_WSCALE;
		break;
	case 4:
		if (len != 2)
			goto bad;
		p->o.flags |= SG_SYN_SACK;
		break;
	case 8:
		if (len != 10)
			goto bad;
		p->o.tsval = sg_opt_be32(p->buf, off + 2);
		p->o.tsecr = sg_opt_be32(p->buf, off + 6);
		p->o.flags |= SG_SYN_TS;
		break;
	}
	p->off = off + len;
	return 0;
bad:
	p->bad = true;
	return 1;
}

/*
 * The layouts nearly every SYN and ACK carries, read without the loop: Linux's
 * SYN (MSS, SACK-permitted, timestamps, NOP, window scale: 20 bytes) and the
 * timestamps of an ACK after two NOPs (12 bytes). True when buf holds one of
 * them, with p->o filled as sg_tcpopt_step() would.
 */
static __always_inline bool sg_tcpopt_common(struct sg_tcpopt_parse *p)
{
	const __u8 *b = p->buf;

	if (p->len == 20 && sg_opt_be32(b, 0) >> 16 == 0x0204 && sg_opt_be32(b, 4) == 0x0402080a &&
	    sg_opt_be32(b, 16) >> 8 == 0x010303) {
		p->o.mss = (__u16)(b[2] << 8 | b[3]);
		p->o.tsval = sg_opt_be32(b, 8);
		p->o.tsecr = sg_opt_be32(b, 12);
		p->o.wscale = b[19] > 14 ? 14 : b[19];
		p->o.flags = SG_SYN_WSCALE | SG_SYN_SACK | SG_SYN_TS;
		return true;
	}
	if (p->len == 12 && sg_opt_be32(b, 0) == 0x0101080a) {
		p->o.tsval = sg_opt_be32(b, 4);
		p->o.tsecr = sg_opt_be32(b, 8);
		p->o.flags = SG_SYN_TS;
		return true;
	}
	return p->len == 0;
}

/* Parses p->buf[0 .. p->len); false when the options are malformed. */
static __always_inline bool sg_tcpopt_parse(struct sg_tcpopt_parse *p)
{
	__builtin_memset(&p->o, 0, sizeof(p->o));
	if (sg_tcpopt_common(p))
		return true;
	p->off = 0;
	p->bad = false;
	/* Every step consumes at least one byte. */
	bpf_loop(SG_TCPOPT_BUF, sg_tcpopt_step, p, 0);
	return !p->bad;
}

#endif
