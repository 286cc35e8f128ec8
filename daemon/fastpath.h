/*
 * The kernel fast path of listeners with handoff "local": the TC ingress
 * program bpf/local_ack.bpf.c, attached with tcx links to every up,
 * non-loopback Ethernet device (at start, then as devices come and go:
 * rtnetlink link events, and each reload), checks the handshake ACKs with
 * the daemon's cookie and hands valid ones to the server's own listening
 * socket. SYNs are answered on the NFQUEUE path, or in XDP with datapath
 * "xdp" (xdppath.h), whose program passes valid handshake ACKs on to this
 * one (the firewall queues no ACK of such listeners).
 *
 * Lifecycle: the links are file descriptors of this process, so the
 * programs go when the daemon goes, however it ends (no pins, nothing left
 * attached, a restart never finds a second program). Loading and attaching
 * need CAP_BPF and CAP_NET_ADMIN: fastpath_new runs before the privilege
 * drop; afterwards only map updates are made, through the open map fds.
 *
 * Keys: derived from the same master as the queue threads' (bpfkeys.h),
 * published a little before each epoch boundary (see fastpath.c); a failed
 * publish is tried again every 0.25 s until it succeeds, counted in the log.
 *
 * Kernel switches: the kernel builds each connection from the cookie's
 * options and refuses options its net.ipv4 switches turn off (fpsysctl.h):
 * fastpath_new fails when every handshake would, and logs what breaks some;
 * switches changed later are reported at the next key tick.
 *
 * Half-open entries: for a listener whose policy has mode stateful or auto,
 * the program reports each handshake it completed (struct fastpath_done,
 * through a BPF ring buffer read by the main loop), so that the entry made
 * for its SYN is retired instead of expiring (fastpath_set_sink).
 *
 * Where the BPF parts are not built, every call but fastpath_conf_check and
 * fastpath_report refuses, and those two say why.
 */
#ifndef SYNGUARD_FASTPATH_H
#define SYNGUARD_FASTPATH_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "cookie.h"
#include "pkt.h"
#include "stats.h"

struct fastpath;

/*
 * A handshake the TC program handed to the server for a listener whose
 * policy keeps half-open entries (modes stateful and auto): the queue
 * thread that answered its SYN holds an entry for it, which should go.
 */
struct fastpath_done {
	struct pkt_tuple t; /* client -> server */
	uint32_t seq;       /* the ACK's: the client's ISN + 1 */
	uint32_t ack;       /* the ACK's: our ISN + 1 */
};

/*
 * Where those reports go. The program writes them into a ring buffer; the
 * main loop drains it whenever it is readable, calls deliver once per
 * report (it returns how many recipients had no room: the report counts as
 * lost, halfopen_tc_lost, and the entry expires as it would have) and flush
 * once after each drain.
 */
struct fastpath_sink {
	size_t (*deliver)(void *arg, const struct fastpath_done *d);
	void (*flush)(void *arg);
	void *arg;
};

/* True when some listener of c has handoff "local". */
bool fastpath_wanted(const struct conf *c);

/* 0, or -1 with the reason when c has local listeners and the fast path is not built. */
int fastpath_conf_check(const struct conf *c, char *err, size_t errlen);

/*
 * synguardd -t, when c has local listeners (silent otherwise): whether the
 * build, the kernel and each device support the fast path, and why not;
 * loads and attaches for a moment when it can (as root). Returns 0 when
 * every check passed, -1 otherwise.
 */
int fastpath_report(FILE *out, const struct conf *c);

/* Loads the program, fills its maps from c, installs the keys and attaches it. */
struct fastpath *fastpath_new(struct ev_loop *loop, const struct conf *c,
                              const uint8_t master[COOKIE_MASTER_LEN], char *err, size_t errlen);
/* Where handshake reports go from now on; NULL: nowhere (each report counts as lost). */
void fastpath_set_sink(struct fastpath *f, const struct fastpath_sink *sink);

/* Detaches (closes the links) and unloads. */
void fastpath_free(struct fastpath *f);

/*
 * Reload: the maps follow c without detaching (listeners that go free their
 * slots before new ones take theirs), links of devices gone are released
 * and devices that came up since get a link too (CAP_NET_ADMIN suffices).
 * fastpath_check_update refuses, before anything changes, a c this fast path
 * cannot serve, or one under which the kernel would refuse every handshake
 * (fpsysctl.h); fastpath_update logs what breaks only some.
 */
int fastpath_check_update(const struct fastpath *f, const struct conf *c, char *err, size_t errlen);
void fastpath_update(struct fastpath *f, const struct conf *c);

/*
 * The TC path's counters as one stats block shaped for view (one row per
 * listener, the unmatched row empty): read from the kernel's per-CPU map on
 * each call. The block stays valid until the next call or fastpath_free.
 */
const struct stats_block *fastpath_stats(struct fastpath *f, const struct conf *view);

/* The devices the program is attached to, for the log: "eth0 eth1". */
const char *fastpath_devices(const struct fastpath *f);

#endif
