/*
 * The maps of xdp_syn.bpf.c as the daemon writes and reads them. Shared by
 * user space (with <linux/types.h>) and BPF code (with vmlinux.h).
 *
 * sg_xdp_listeners: which destinations are protected, and how. Key: family
 * (4 or 6, the cookie's numbers), port in host order, address in network
 * order (IPv4 in the first 4 bytes, zero for a wildcard listener). A packet's
 * exact destination is looked up first, then the wildcard of its family and
 * port. Every listener must be a socket of the host the program runs on (same
 * network namespace): the program lets a packet of an established connection
 * through only because the kernel's socket lookup finds that connection, so a
 * wildcard key on a host that forwards traffic would drop its forwarded flows'
 * ACKs.
 *
 * sg_xdp_counters: per-CPU counters, entry slot * SG_XDP_NCOUNTERS + id.
 * Slots 0 .. SG_XDP_SLOTS - 1 are the daemon's (sg_xdp_listener.slot must
 * stay below SG_XDP_SLOTS), stable per listener name across reloads; slot
 * SG_XDP_SLOT_UNMATCHED counts what could not be matched to a listener at all.
 */
#ifndef SYNGUARD_XDP_SYN_H
#define SYNGUARD_XDP_SYN_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define SG_XDP_SLOTS          256 /* protected listeners, at most */
#define SG_XDP_SLOT_UNMATCHED SG_XDP_SLOTS

/* Our MSS in SYN-ACKs before the policy's cap: daemon/handshake.h's HS_OUR_MSS4/6. */
#define SG_XDP_OUR_MSS4 1460
#define SG_XDP_OUR_MSS6 1440
/* The SYN-ACK's window: HS_SYNACK_WINDOW. */
#define SG_XDP_SYNACK_WINDOW 65535

/* Counter ids, per listener slot. */
enum sg_xdp_counter {
	SG_XC_SYN_ANSWERED,    /* syn_answered: a cookie SYN-ACK went back with XDP_TX */
	SG_XC_SYN_PASSED,      /* syn_passed: the listener's SYNs are the queue path's (its mode,
	                        * SG_XDP_F_SYN clear), or no key is written yet */
	SG_XC_ACK_VALID,       /* ack_valid: the cookie checked; on to the normal path */
	SG_XC_ACK_INVALID,     /* ack_invalid: dropped */
	SG_XC_ACK_EXPIRED,     /* ack_expired: no key for the cookie's epoch; dropped */
	SG_XC_FLOW_PASSED,     /* flow_passed: a TIME_WAIT or a request holds the tuple (not
	                        * counted for an established connection) */
	SG_XC_PASSED_UNPARSED, /* passed_unparsed: malformed TCP options, a SYN carrying data,
	                        * lying lengths; in the unmatched slot (no port read): VLAN
	                        * tags, IPv4 options, IPv6 extension headers, fragments */
	SG_XC_PASSED_CSUM,     /* passed_csum: a SYN whose checksums do not verify (a local
	                        * sender's partial checksum, or damage): the kernel decides */
	SG_XC_PASSED_NOROOM,   /* passed_noroom: the frame could not grow to the SYN-ACK's size */
	SG_XDP_NCOUNTERS
};

struct sg_xdp_key {
	__u8 family; /* 4 or 6 */
	__u8 pad;
	__u16 port; /* host order */
	__u8 addr[16];
};

#define SG_XDP_F_SYN  0x01 /* answer SYNs here (cookie mode, auto mode under attack) */
#define SG_XDP_F_ACK  0x02 /* drop ACKs whose cookie does not check */
#define SG_XDP_F_SACK 0x04 /* the policy grants SACK (conf "sack") */
#define SG_XDP_F_TS   0x08 /* the policy grants timestamps (conf "timestamps") */
/* The SYN-ACK may agree to ECN, as hs_ecn_agreed(): handoff "local" and the host accepts ECN
 * (net.ipv4.tcp_ecn != 0). It does when timestamps are granted and the SYN asks (ECE and CWR)
 * without being ECN-capable itself. */
#define SG_XDP_F_ECN 0x10

struct sg_xdp_listener {
	__u32 slot;   /* counters */
	__u16 mss[4]; /* the policy's MSS table of this family */
	__u8 wscale;  /* ours (conf "wscale"), announced when the client offers scaling */
	__u8 flags;   /* SG_XDP_F_* */
	__u8 pad[2];
};

#endif
