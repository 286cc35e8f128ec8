/*
 * The maps of local_ack.bpf.c as the daemon (fastpath.c) writes and reads
 * them. Shared by user space (with <linux/types.h>) and BPF code (with
 * vmlinux.h).
 *
 * sg_local_listeners: which destinations are protected. Key: family (4 or
 * 6, the cookie's numbers), port in host order, address in network order
 * (IPv4 in the first 4 bytes, zero for a wildcard listener). A packet's exact
 * destination is looked up first, then the wildcard of its family and port.
 *
 * sg_local_acl4 / sg_local_acl6: the policies' allow and deny lists, longest
 * prefix wins as in lib/policy.c. Each key starts with the policy tag of its
 * listener value (the policy index plus a generation bit), so that a reload
 * writes the new generation's entries, then switches the listeners, then
 * removes the old ones: no packet sees a half-written list.
 *
 * sg_local_counters: per-CPU counters, entry slot * SG_LOCAL_NCOUNTERS + id.
 * Slots are the daemon's, stable per listener name across reloads.
 *
 * sg_local_done: a ring buffer of struct sg_local_done, one per handshake
 * handed to the server for a listener flagged SG_LOCAL_F_STATEFUL (its
 * policy keeps half-open entries: mode stateful or auto), so that the daemon
 * retires the entry the queue thread made for its SYN. A full ring loses the
 * report, counted in SG_LC_DONE_LOST: that entry then expires as usual.
 */
#ifndef SYNGUARD_LOCAL_ACK_H
#define SYNGUARD_LOCAL_ACK_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define SG_LOCAL_SLOTS     256 /* listeners with handoff "local", at most */
#define SG_LOCAL_ACL_MAX   (2 * 65536 + 1024)
#define SG_LOCAL_GEN_BIT   0x80000000u
#define SG_LOCAL_ACL_DENY  1
#define SG_LOCAL_ACL_ALLOW 2
#define SG_LOCAL_TW_MARK   0x5349 /* firewall.h's FW_TW_MARK */

/* Counter ids; fastpath.c maps each to the stats id of the same name. */
enum sg_local_counter {
	SG_LC_ACK_VALID,      /* ack_valid: the cookie checked */
	SG_LC_HANDOFFS,       /* handoffs: the kernel took the connection */
	SG_LC_HANDOFF_FAILED, /* handoff_failed: no listening socket, or the kernel refused */
	SG_LC_ACK_INVALID,    /* ack_invalid */
	SG_LC_ACK_EXPIRED,    /* ack_expired: no key for the cookie's epoch */
	SG_LC_ACK_DENIED,     /* ack_denied: deny list */
	SG_LC_ACK_FLOW,       /* ack_flow_passed: a TIME_WAIT or a request holds the tuple (not
	                       * counted for an established connection); also SYNs marked for a
	                       * TIME_WAIT to recycle */
	SG_LC_MALFORMED_OPT,  /* malformed_tcp_option */
	SG_LC_DONE_LOST,      /* halfopen_tc_lost: sg_local_done was full */
	SG_LOCAL_NCOUNTERS
};

struct sg_local_key {
	__u8 family; /* 4 or 6 */
	__u8 pad;
	__u16 port; /* host order */
	__u8 addr[16];
};

#define SG_LOCAL_F_ACL      0x1 /* the policy has an allow or deny list */
#define SG_LOCAL_F_STATEFUL 0x2 /* the policy may hold half-open entries: report handoffs */

/* Bytes of the sg_local_done ring (a power of two, pages): about 4,600 reports. */
#define SG_LOCAL_DONE_RING (256 * 1024)

/* A handshake the program handed to the server (sg_local_done). */
struct sg_local_done {
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
	__u32 slot;     /* the listener's counters slot */
	__u16 sport;    /* the client's, host order */
	__u16 dport;    /* host order */
	__u32 seq;      /* the ACK's sequence number: the client's ISN + 1 */
	__u32 ack;      /* the ACK's acknowledgment number: our ISN + 1 */
	__u8 saddr[16]; /* the client; IPv4 in the first 4 bytes */
	__u8 daddr[16];
};

struct sg_local_listener {
	__u32 slot;   /* counters */
	__u32 policy; /* tag of the ACL keys */
	__u16 mss[4]; /* the policy's MSS table of this family */
	__u8 wscale;  /* ours, as the SYN-ACK announced it */
	__u8 flags;   /* SG_LOCAL_F_* */
	__u8 pad[2];
};

struct sg_local_acl4 {
	__u32 prefixlen; /* 32 + the prefix length */
	__u32 policy;    /* sg_local_listener.policy: all 32 bits always match */
	__u8 addr[4];
};

struct sg_local_acl6 {
	__u32 prefixlen;
	__u32 policy;
	__u8 addr[16];
};

#endif
