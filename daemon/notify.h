/*
 * systemd service notifications beyond READY=1 and STOPPING=1 (main.c):
 * - WATCHDOG=1 from the main event loop at half the unit's WatchdogSec=
 *   (sd_watchdog_enabled), so a stuck main loop gets the service restarted;
 * - STATUS= every few seconds with the answer mode and the rates that tell
 *   an operator at a glance what is going on: SYNs and valid ACKs per
 *   second, handoffs per second, connections relayed now.
 * Outside systemd (no NOTIFY_SOCKET) nothing is started.
 */
#ifndef SYNGUARD_NOTIFY_H
#define SYNGUARD_NOTIFY_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control.h"

#define NOTIFY_STATUS_INTERVAL 5.0 /* seconds between STATUS= updates */

/* Counter totals at one moment. */
struct notify_sample {
	double when; /* seconds, any monotonic origin */
	uint64_t syn, ack_valid, handoffs;
	int64_t active;
};

/* Pure: sums every block of the source into one sample taken at `when`. */
void notify_sample_take(const struct control_source *src, double when, struct notify_sample *s);

/* Pure: the modes the listeners' policies use, "cookie" or "cookie+...". */
void notify_modes(const struct conf *conf, char *buf, size_t len);

/* Pure: the STATUS= text for the interval from prev to cur. */
void notify_format_status(char *buf, size_t len, const char *modes,
                          const struct notify_sample *prev, const struct notify_sample *cur);

/*
 * Whether file descriptor fd is the journal stream systemd connected it to:
 * JOURNAL_STREAM names the stream's "device:inode", and a daemon started by
 * hand from a shell that inherited the variable must not prefix its
 * terminal output with "<N>". Pure apart from fstat.
 */
bool notify_fd_is_journal(int fd, const char *journal_stream);

struct notify;

/* NULL when not run by systemd with Type=notify (nothing to do). */
struct notify *notify_new(struct ev_loop *loop, const struct control_source *src);
void notify_free(struct notify *n);

#endif
