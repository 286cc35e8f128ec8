/*
 * The kernel switches a local listener's connections depend on. The fast
 * path hands a proven handshake to the kernel (bpf_sk_assign_tcp_reqsk),
 * which builds the connection from the options the cookie carries, and the
 * kfunc refuses (-EINVAL) a request carrying window scaling, SACK or
 * timestamps that net.ipv4.tcp_window_scaling, tcp_sack or tcp_timestamps
 * of the packet's network namespace turns off: the program then drops the
 * ACK (counted handoff_failed), so the client, which thinks itself
 * connected, hangs. With net.ipv4.tcp_syncookies = 0 the kernel takes no
 * such connection at all (cookie_v4_check / cookie_v6_check return before
 * looking at it, and the listener resets the client). The ipv4 switches
 * apply to IPv6 too.
 *
 * A policy grants an option only to a client that offers it, so a switch
 * that is off breaks the handshakes of the clients offering that option
 * (FPSYSCTL_SOME: nearly every client for SACK and window scaling), and
 * tcp_syncookies = 0 breaks every handshake (FPSYSCTL_EVERY).
 */
#ifndef SYNGUARD_FPSYSCTL_H
#define SYNGUARD_FPSYSCTL_H

#include <stddef.h>

#include "conf.h"

/* The switches' values; -1 where unknown (not checked). */
struct fpsysctl_values {
	int syncookies;
	int timestamps;
	int sack;
	int window_scaling;
};

enum fpsysctl_harm {
	FPSYSCTL_SOME,  /* the handshakes of clients offering the option */
	FPSYSCTL_EVERY, /* every handshake of the listener */
};

struct fpsysctl_issue {
	size_t listener;        /* index in the configuration */
	const char *policy_key; /* what the policy grants: "timestamps", "sack", "wscale";
	                         * "handoff" for tcp_syncookies */
	const char *sysctl;     /* "net.ipv4.tcp_timestamps" */
	int value;
	enum fpsysctl_harm harm;
};

/*
 * The issues of c's local listeners under v, listener by listener: fills
 * out[0..max) and returns how many there are (possibly more than max).
 */
size_t fpsysctl_check(const struct conf *c, const struct fpsysctl_values *v,
                      struct fpsysctl_issue *out, size_t max);

/* One line about is (no newline): listener, policy key, switch, value, what to change. */
void fpsysctl_describe(const struct conf *c, const struct fpsysctl_issue *is, char *buf,
                       size_t len);

#endif
