/*
 * The devices of the kernel fast path: one tcx ingress link of the program
 * per usable device (up, not loopback, Ethernet framing, which the program
 * reads), at most FPDEV_MAX. Devices are followed as they come and go:
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

#define FPDEV_MAX 64

struct fpdev;

/* Attaches prog_fd (kept open by the caller) to every usable device and listens to link
 * events on loop. NULL only when out of memory. */
struct fpdev *fpdev_new(struct ev_loop *loop, int prog_fd);
/* Detaches (closes every link). */
void fpdev_free(struct fpdev *d);

/* Releases the links of devices gone, attaches to the usable devices not covered yet. */
void fpdev_scan(struct fpdev *d);

size_t fpdev_count(const struct fpdev *d);
/* Their names, for the log: "eth0 eth1". */
const char *fpdev_names(const struct fpdev *d);

/* synguardd -t: one line per device on out: attached and detached at once, or why not. */
void fpdev_report(FILE *out, int prog_fd);

#endif
