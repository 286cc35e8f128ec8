/*
 * One cookie test vector as the test program cookie_vec.bpf.c reads and
 * answers it: the test writes the inputs as the "packet" of a
 * BPF_PROG_TEST_RUN and reads the outputs back from the same bytes.
 */
#ifndef SYNGUARD_COOKIE_VEC_IO_H
#define SYNGUARD_COOKIE_VEC_IO_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define COOKIE_VEC_MAKE  0
#define COOKIE_VEC_CHECK 1

struct cookie_vec_io {
	/* in */
	__u8 op;     /* COOKIE_VEC_* */
	__u8 family; /* 4 or 6 */
	__u8 flags;  /* SG_SYN_* (cookie.bpf.h): make: the SYN's; check: SG_SYN_TS = ACK has TS */
	__u8 wscale; /* make */
	__u16 mss;   /* make; 0 = none */
	__u16 sport; /* host order */
	__u16 dport;
	__u16 mss_table[4];
	__u8 saddr[16]; /* network order */
	__u8 daddr[16];
	__u8 pad[2];
	__u32 seq;   /* make: the client ISN; check: the ACK's */
	__u32 ack;   /* check */
	__u32 tsecr; /* check */
	/* out */
	__s32 rc;      /* make: 0 / -1; check: SG_COOKIE_* */
	__u32 isn;     /* make */
	__u32 tsval;   /* make */
	__u16 out_mss; /* check, when valid */
	__u8 out_wscale;
	__u8 out_flags;
};

#endif
