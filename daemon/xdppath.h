/*
 * Datapath "xdp": the XDP program bpf/xdp_syn.bpf.c in the driver of the
 * devices of daemon.devices (every up, non-loopback Ethernet device when the
 * list is empty), attached with XDP links (native, or generic where the
 * driver has no XDP, logged) and followed as devices come and go (fpdev.h).
 * It answers the SYNs of listeners flagged SG_XDP_F_SYN with the same cookie
 * SYN-ACK the queue threads send, and drops handshake ACKs whose cookie does
 * not check; valid ACKs go on to the NFQUEUE path (proxy, pass-fd) or the TC
 * program (handoff "local", fastpath.h). The firewall's NFQUEUE rules are as
 * with datapath "nfqueue": what XDP passes (SYNs it may not answer, what it
 * cannot parse) is answered there.
 *
 * Policies: the allow and deny lists and the per-source SYN rate limits
 * apply in XDP first (bpfacl.h's generations, switched on reload as for the
 * TC program). Then XDP answers the SYNs of listeners whose policy has mode
 * "cookie"; those of mode stateful stay on the NFQUEUE path, where the
 * half-open table lives. Mode auto's listeners are flagged SG_XDP_F_AUTO:
 * their SYNs go to the NFQUEUE path while its queue threads answer
 * statefully, and are answered in XDP once they switch to cookies (the
 * program's switch sg_xdp_auto, written by the queue threads, queue.h). The
 * SYNs answered in XDP then count toward the threads' SYN rate
 * (syn_answered, read at each timer tick), so that the switch back waits
 * for the flood to end. Invalid ACKs are dropped in XDP for
 * every listener but proxy and pass-fd listeners in modes stateful and auto,
 * whose half-open table accepts a handshake it holds without its cookie
 * (which may have expired after late SYN-ACK retransmissions): their ACKs go
 * to the NFQUEUE path as with datapath "nfqueue".
 *
 * Lifecycle, keys and privileges as fastpath.h: the links are fds of this
 * process, the keys come from the same master on the same tick (bpftick.h),
 * loading needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN before the drop.
 *
 * Where the BPF parts are not built, xdppath_conf_check refuses datapath
 * "xdp" and says why.
 */
#ifndef SYNGUARD_XDPPATH_H
#define SYNGUARD_XDPPATH_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "control.h"
#include "cookie.h"

struct xdppath;

/* True when c asks for datapath "xdp". */
bool xdppath_wanted(const struct conf *c);

/* 0, or -1 with the reason when c asks for datapath "xdp" and it cannot be served. */
int xdppath_conf_check(const struct conf *c, char *err, size_t errlen);

/*
 * synguardd -t, when c asks for datapath "xdp" (silent otherwise): whether the
 * program loads and attaches on each device (native or generic), and why not.
 * Returns 0 when it loads and attaches somewhere, -1 otherwise.
 */
int xdppath_report(FILE *out, const struct conf *c);

/* Loads the program, fills its maps from c, installs the keys and attaches it. */
struct xdppath *xdppath_new(struct ev_loop *loop, const struct conf *c,
                            const uint8_t master[COOKIE_MASTER_LEN], char *err, size_t errlen);
/* Detaches (closes the links) and unloads. */
void xdppath_free(struct xdppath *x);

/*
 * Reload: the listener map follows c without detaching; a changed
 * daemon.devices releases and attaches links. A change of datapath needs a
 * restart: xdppath_check_update refuses it.
 */
int xdppath_check_update(const struct xdppath *x, const struct conf *c, char *err, size_t errlen);
void xdppath_update(struct xdppath *x, const struct conf *c);

/*
 * The program's counters shaped for view (control.h): its own per listener
 * and unmatched, and those summed into the listeners' rows. Valid until the
 * next call or xdppath_free.
 */
const struct control_kcounters *xdppath_stats(struct xdppath *x, const struct conf *view);

/* The devices the program is attached to, for the log: "eth0 eth1 (generic)". */
const char *xdppath_devices(const struct xdppath *x);

/*
 * Auto mode, for the queue threads (queue.h): the program's switch and
 * counters. Which thread decides and when is the queue threads' business;
 * these calls only read and write the maps, from any thread, and allocate
 * nothing. The fds stay valid until xdppath_free.
 */
struct xdppath_auto {
	int counters_fd; /* -1: no XDP program (datapath "nfqueue") */
	int switch_fd;
	int ncpus; /* the size of the buffer xdppath_auto_answered needs */
};

/* The maps of x (NULL: counters_fd -1). */
void xdppath_auto_maps(const struct xdppath *x, struct xdppath_auto *out);
/* The slot of listener i of c when XDP answers its SYNs in auto mode (its policy's mode is
 * auto: flag SG_XDP_F_AUTO), else -1. c is the configuration last applied (xdppath_new,
 * xdppath_update). */
int xdppath_auto_slot(const struct xdppath *x, const struct conf *c, size_t i);
/* SYNs of slot answered in XDP since the program loaded (syn_answered, summed over the
 * CPUs), through percpu (a->ncpus values). 0, or -1 with errno. */
int xdppath_auto_answered(const struct xdppath_auto *a, uint32_t slot, uint64_t *percpu,
                          uint64_t *out);
/* Sets the slot's switch: its SYNs answered in XDP (xdp), or passed to the NFQUEUE path. */
int xdppath_auto_set(const struct xdppath_auto *a, uint32_t slot, bool xdp);

#endif
