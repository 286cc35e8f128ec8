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
 *
 * sg_xdp_acl4 / sg_xdp_acl6: the policies' allow and deny lists, defined
 * exactly as local_ack.h's sg_local_acl4 / sg_local_acl6 (same LPM trie, key,
 * value, size and flags), so one writer fills both with the same tags, or the
 * daemon hands the TC program's maps to this program (bpf_map__reuse_fd before
 * loading). sg_xdp_listener.policy is the tag its keys start with: the policy
 * index plus the generation bit, switched as for the TC program (new
 * generation written, listeners updated, old generation deleted). Looked up
 * only for listeners flagged SG_XDP_F_ACL.
 *
 * sg_xdp_rate: the per-source SYN token buckets of listeners flagged
 * SG_XDP_F_RATE, an LRU hash of SG_XDP_RATE_MAX entries shared by every
 * listener and CPU (struct sg_xdp_rate_key: the listener's slot, family and
 * source prefix; value: the bucket's TAT, __u64 ns of bpf_ktime_get_ns). The
 * program alone writes it; the daemon may resize it before loading
 * (bpf_map__set_max_entries) and never needs to clear it: a slot taken over
 * by another listener starts with buckets that refill within one burst time.
 *
 * sg_xdp_auto: per slot, the answer of a listener flagged SG_XDP_F_AUTO:
 * SG_XDP_AUTO_QUEUE (0, the initial value: its SYNs go to the NFQUEUE path,
 * whose half-open table answers them) or SG_XDP_AUTO_XDP (cookies answered
 * here). The daemon writes the slot's __u32 when its auto mode switches, and
 * writes SG_XDP_AUTO_QUEUE when it gives a slot to a new listener.
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
	SG_XC_SYN_ANSWERED,     /* syn_answered: a cookie SYN-ACK went back with XDP_TX */
	SG_XC_SYN_PASSED,       /* syn_passed: the listener's SYNs are the queue path's (its mode:
	                         * SG_XDP_F_SYN clear, auto mode calm), or no key is written yet */
	SG_XC_ACK_VALID,        /* ack_valid: the cookie checked; on to the normal path */
	SG_XC_ACK_INVALID,      /* ack_invalid: dropped */
	SG_XC_ACK_EXPIRED,      /* ack_expired: no key for the cookie's epoch; dropped */
	SG_XC_FLOW_PASSED,      /* flow_passed: a TIME_WAIT or a request holds the tuple (not
	                         * counted for an established connection) */
	SG_XC_PASSED_UNPARSED,  /* passed_unparsed: malformed TCP options, a SYN carrying data,
	                         * lying lengths; in the unmatched slot (no port read): VLAN
	                         * tags, IPv4 options, IPv6 extension headers, fragments */
	SG_XC_PASSED_CSUM,      /* passed_csum: a SYN whose checksums do not verify (a local
	                         * sender's partial checksum, or damage): the kernel decides */
	SG_XC_PASSED_NOROOM,    /* passed_noroom: the frame could not grow to the SYN-ACK's size */
	SG_XC_SYN_DENIED,       /* syn_denied: deny list (SG_XDP_F_ACL); dropped */
	SG_XC_ACK_DENIED,       /* ack_denied: deny list, an ACK candidate of a listener flagged
	                         * SG_XDP_F_ACK; dropped before its cookie is checked */
	SG_XC_SYN_RATE_LIMITED, /* syn_rate_limited: its source prefix's bucket was empty
	                         * (SG_XDP_F_RATE); dropped */
	SG_XC_SYN_SEEN,         /* syn_seen: SYNs the policies here let through, answered here or
	                         * passed (syn_answered, syn_passed, passed_csum, passed_noroom):
	                         * policy_syn_check()'s count for the auto mode's SYN rate. Not
	                         * counted: SYNs passed unparsed or to a connection (flow_passed) */
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
/* Look the source up in the policy's allow and deny lists (the policy has lists): a denied
 * source's SYNs and ACK candidates are dropped, an allowed one skips the rate limit. */
#define SG_XDP_F_ACL 0x20
/* Per-source SYN rate limit (rate, burst, prefix lengths below), on every SYN of the
 * listener, answered here or passed, before the answer is chosen (policy_syn_check()). */
#define SG_XDP_F_RATE 0x40
/* Auto mode: SYNs are answered here while sg_xdp_auto[slot] is SG_XDP_AUTO_XDP, passed to the
 * NFQUEUE path otherwise. SG_XDP_F_SYN, when set as well, answers them here regardless. */
#define SG_XDP_F_AUTO 0x80

/* sg_xdp_auto's values */
#define SG_XDP_AUTO_QUEUE 0
#define SG_XDP_AUTO_XDP   1

/* sg_xdp_rate's default size: conf's per_source.table_size default. */
#define SG_XDP_RATE_MAX 65536

/* A bucket of sg_xdp_rate. */
struct sg_xdp_rate_key {
	__u32 slot;   /* the listener's: buckets are per listener, as the queue path's policies */
	__u8 family;  /* 4 or 6 */
	__u8 pad[3];  /* zero */
	__u64 prefix; /* lib/srckey.h's srckey_of(): the source's first rate_plen4 / rate_plen6
	               * bits, IPv4 in the low 32 bits */
};

struct sg_xdp_listener {
	__u32 slot;   /* counters */
	__u16 mss[4]; /* the policy's MSS table of this family */
	__u8 wscale;  /* ours (conf "wscale"), announced when the client offers scaling */
	__u8 flags;   /* SG_XDP_F_* */
	__u8 pad[2];
	/* policies (SG_XDP_F_ACL, SG_XDP_F_RATE) */
	__u32 policy;    /* tag of the ACL keys: the policy index | the generation bit */
	__u32 rate;      /* SYNs per second per source prefix (per_source.syn_rate); 0: none */
	__u32 burst;     /* per_source.burst (0 counts as 1) */
	__u8 rate_plen4; /* per_source.prefix_v4, 0..32 */
	__u8 rate_plen6; /* per_source.prefix_v6, 0..64 */
	__u8 pad2[2];
};

#endif
