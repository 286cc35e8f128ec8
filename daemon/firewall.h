/*
 * The daemon's own iptables/ip6tables rules. Everything lives in chains named
 * SYNGUARD (filter table, jumped to from INPUT; raw table, jumped to from
 * PREROUTING) and SYNGUARD_OUT (raw table, jumped to from OUTPUT), so removal
 * is exact: delete our jumps, flush and delete our chains, and nothing an
 * admin wrote is touched. The rules themselves are described in firewall.c.
 */
#ifndef SYNGUARD_FIREWALL_H
#define SYNGUARD_FIREWALL_H

#include <ev.h>
#include <stddef.h>
#include <stdio.h>

#include "conf.h"

/*
 * Packet mark set by our rules on a packet for which some socket exists that
 * is not a connection the daemon completed (a TIME_WAIT, a socket still
 * being built): the queue thread lets such a packet through unless it is a
 * new handshake. Completed connections carry REPAIR_MARK (repair.h) and
 * bypass the queue.
 */
#define FW_SOCKET_MARK 0x5348

/*
 * The tools run one after another, as a job. At start and exit the daemon
 * waits for them (nothing is relayed yet, or any more); a reload runs them
 * under a child watcher of its loop, which must be the default loop (libev
 * reaps children there), so the relayed traffic never waits for iptables.
 */
struct fw_job;

/* rc 0, or -1 with err: the job is over (done may free it). */
typedef void (*fw_done_fn)(void *arg, int rc, const char *err);

/* Removes stale rules of an earlier run, then installs the rules for every listener. Waits. */
int fw_install(const struct conf *c, char *err, size_t errlen);

/*
 * Reload: the job that replaces the rules of `old` with those of c (neither
 * needs to outlive this call). Each family's chains are re-declared and
 * filled in one iptables-restore transaction (atomic: the rules of listeners
 * that stay never go missing, established connections see no gap); a family
 * that appears gets its chains and jumps, one that disappears loses them. On
 * failure the family keeps its previous rules and the families after it are
 * left alone. NULL + err when it cannot be prepared.
 */
struct fw_job *fw_update_job(const struct conf *old, const struct conf *c, char *err,
                             size_t errlen);
/* Runs the job on loop; done is called once it is over (at once when nothing runs). */
void fw_job_start(struct fw_job *j, struct ev_loop *loop, fw_done_fn done, void *arg);
/* Frees a job; one still running is waited for (exit: before the rules are removed). */
void fw_job_free(struct fw_job *j);

/* Removes exactly our rules, for both families. Safe when none are installed. */
void fw_remove(void);

/* Prints the iptables/ip6tables commands fw_install would run, and an equivalent
 * nftables ruleset for hosts whose kernel has the nft queue statement. */
void fw_print(FILE *out, const struct conf *c);

#endif
