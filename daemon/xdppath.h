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
 * "cookie"; those of modes stateful and auto stay on the NFQUEUE path, where
 * the half-open table and auto mode's switch live (the program's auto flag,
 * SG_XDP_F_AUTO, is not used yet), so auto mode's SYN rate sees every SYN
 * the policies let through. Invalid ACKs are dropped in XDP for
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

#endif
