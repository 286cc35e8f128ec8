/*
 * The devices of a kernel program: one link of the program per usable
 * device (up, not loopback, Ethernet framing, which the programs read; for
 * XDP also listed in daemon.devices when that list is not empty), at most
 * FPDEV_MAX. The TC program of handoff "local" gets tcx ingress links; the
 * XDP program of datapath "xdp" XDP links, native where the driver has XDP,
 * generic (slower, logged) where it has not. Devices are followed as they come and go:
 * rtnetlink link events make a scan a moment after the last of a burst,
 * and so does each reload (fpdev_scan). A device that goes takes its link
 * out of the kernel, but the link lives on as long as its fd: a scan closes
 * it, so that its place is free again.
 *
 * Attaching needs CAP_NET_ADMIN only, which the daemon keeps.
 */
#ifndef SYNGUARD_FPDEV_H
#define SYNGUARD_FPDEV_H

#include <ev.h>
#include <stddef.h>
#include <stdio.h>

#include "conf.h"

#define FPDEV_MAX CONF_DEVICES_MAX

enum fpdev_kind {
	FPDEV_TCX, /* tcx ingress: the TC program (the log says "fast path") */
	FPDEV_XDP, /* XDP, native or generic: the XDP program (the log says "xdp") */
};

struct fpdev;

/* Attaches prog_fd (kept open by the caller) to every usable device and listens to link
 * events on loop. only[0..n_only) (copied): the devices allowed, none: every usable one.
 * NULL only when out of memory. */
struct fpdev *fpdev_new(struct ev_loop *loop, enum fpdev_kind kind, int prog_fd,
                        const char (*only)[CONF_IFNAME_MAX], size_t n_only);
/* A new list of allowed devices (reload): links of devices no longer allowed are released,
 * newly allowed devices attached. */
void fpdev_set_devices(struct fpdev *d, const char (*only)[CONF_IFNAME_MAX], size_t n_only);
/* Detaches (closes every link). */
void fpdev_free(struct fpdev *d);

/* Releases the links of devices gone, attaches to the usable devices not covered yet. */
void fpdev_scan(struct fpdev *d);

size_t fpdev_count(const struct fpdev *d);
/* Their names, for the log: "eth0 eth1"; XDP links in generic mode as "eth1 (generic)". */
const char *fpdev_names(const struct fpdev *d);

/* synguardd -t: one line per device on out: attached (native or generic for XDP) and
 * detached at once, or why not. Returns how many devices the program attached to. */
size_t fpdev_report(FILE *out, enum fpdev_kind kind, int prog_fd,
                    const char (*only)[CONF_IFNAME_MAX], size_t n_only);

#endif
