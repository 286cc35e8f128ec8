/*
 * Privilege drop. synguardd needs two capabilities for its whole life:
 * CAP_NET_ADMIN (NFQUEUE binding, TCP_REPAIR, iptables) and CAP_NET_RAW (raw
 * sockets for SYN-ACKs); and CAP_NET_BIND_SERVICE when it protects a port
 * below net.ipv4.ip_unprivileged_port_start (1024), because each repaired
 * socket is bound to the protected port, and bind() checks that capability
 * whether or not the socket is in repair mode. Nothing else: no file access
 * beyond its own runtime directory, no other user's files, no way back to
 * root.
 *
 * Started as root (outside systemd), the daemon becomes daemon.user at once,
 * before any thread exists (capabilities are per thread: threads created
 * later inherit the reduced set, threads created earlier would not):
 *   1. the bounding set is trimmed to the capabilities kept (needs
 *      CAP_SETPCAP, so while still root);
 *   2. with PR_SET_KEEPCAPS, groups, gids and uids become the user's;
 *   3. permitted = effective = the capabilities kept; when the daemon runs
 *      iptables, CAP_NET_ADMIN and CAP_NET_RAW are also inheritable and
 *      ambient, because iptables is an ordinary program exec'd by a non-root
 *      process and only ambient capabilities survive that exec;
 *   4. no_new_privs is set;
 *   5. the result is read back from /proc/self/status (not from the API that
 *      set it) and checked, and setuid(0)/setgid(0) must fail.
 * Started non-root (systemd's User= with AmbientCapabilities=), nothing is
 * changed: missing capabilities are fatal, and anything beyond the three
 * network capabilities the unit grants is reported.
 *
 * The only thing done as root for the daemon's later use is the directory
 * of the control socket (/run/synguard by default), created for the user the
 * way systemd's RuntimeDirectory= would.
 */
#ifndef SYNGUARD_PRIVDROP_H
#define SYNGUARD_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "conf.h"

#define PRIVDROP_CAP_NET_BIND_SERVICE 10
#define PRIVDROP_CAP_NET_ADMIN        12
#define PRIVDROP_CAP_NET_RAW          13
/* always needed, and what iptables needs (ambient) */
#define PRIVDROP_CAPS_BASE ((1ULL << PRIVDROP_CAP_NET_ADMIN) | (1ULL << PRIVDROP_CAP_NET_RAW))
/* the most the daemon ever needs (and what the systemd unit grants) */
#define PRIVDROP_CAPS_MAX   (PRIVDROP_CAPS_BASE | (1ULL << PRIVDROP_CAP_NET_BIND_SERVICE))
#define PRIVDROP_GROUPS_MAX 64

/* Credentials of a process as /proc/PID/status shows them. */
struct privdrop_creds {
	uid_t uid[4]; /* real, effective, saved, filesystem */
	gid_t gid[4];
	gid_t groups[PRIVDROP_GROUPS_MAX];
	size_t n_groups; /* may exceed PRIVDROP_GROUPS_MAX: only the first ones are kept */
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	bool no_new_privs;
};

/* What a dropped daemon must look like. */
struct privdrop_want {
	uid_t uid;
	gid_t gid;
	uint64_t caps;        /* must be effective and permitted */
	uint64_t ambient;     /* must be ambient (and so inheritable) */
	uint64_t caps_max;    /* nothing beyond this effective, permitted or in the bounding set */
	uint64_t ambient_max; /* nothing beyond this ambient or inheritable */
	/* also allowed in the bounding set: handoff "local"'s CAP_BPF and CAP_PERFMON, which
	 * the unit's drop-in grants and only CAP_SETPCAP could take out of it again */
	uint64_t bounding_extra;
};

/* Pure. The capabilities a configuration needs: PRIVDROP_CAPS_BASE, plus
 * CAP_NET_BIND_SERVICE when a listener or the metrics endpoint uses a port
 * below unprivileged_port_start (net.ipv4.ip_unprivileged_port_start). */
uint64_t privdrop_needed_caps(const struct conf *c, unsigned unprivileged_port_start);

/* Parses the text of /proc/PID/status. Pure. 0, or -1 with a message. */
int privdrop_parse_status(const char *text, struct privdrop_creds *out, char *err, size_t errlen);

/*
 * Pure. The capabilities the daemon cannot work without: want->caps
 * effective and want->ambient ambient. 0, or -1 naming what is missing.
 */
int privdrop_check_needed(const struct privdrop_creds *c, const struct privdrop_want *want,
                          char *err, size_t errlen);

/*
 * Pure. The complete drop: every uid and gid the user's, no other group,
 * nothing beyond want->caps_max (effective, permitted, bounding) or
 * want->ambient_max (ambient, inheritable), what is needed present,
 * no_new_privs set. 0, or -1 naming the first difference.
 */
int privdrop_check_exact(const struct privdrop_creds *c, const struct privdrop_want *want,
                         char *err, size_t errlen);

/* Pure. Whether a user (uid, gid) may access a file with these bits (R_OK, W_OK, X_OK)
 * by the file's owner, group and other permissions; root is not special here. */
bool privdrop_may(const struct stat *st, uid_t uid, gid_t gid, int bits);

/* "CAP_NET_ADMIN CAP_NET_RAW ..." for a capability mask, or "none". Pure. */
void privdrop_caps_str(uint64_t caps, char *buf, size_t len);

/*
 * Drops to conf->daemon.user when root, or checks the running credentials
 * when not (see above). Logs what it did. 0, or -1 with a message: the
 * daemon must not start.
 */
int privdrop_run(const struct conf *conf, char *err, size_t errlen);

#endif
