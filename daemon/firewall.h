/*
 * The daemon's own iptables/ip6tables rules. Everything lives in chains named
 * SYNGUARD (filter table, jumped to from INPUT; raw table, jumped to from
 * PREROUTING) and SYNGUARD_OUT (raw table, jumped to from OUTPUT), so removal
 * is exact: delete our jumps, flush and delete our chains, and nothing an
 * admin wrote is touched. The rules themselves are described in firewall.c.
 */
#ifndef SYNGUARD_FIREWALL_H
#define SYNGUARD_FIREWALL_H

#include <stddef.h>
#include <stdio.h>

#include "conf.h"
#include "toolseq.h"

/*
 * Packet mark set by our rules on a packet for which some socket exists that
 * is not a connection the daemon completed (a TIME_WAIT, a socket still
 * being built): the queue thread lets such a packet through unless it is a
 * new handshake. Completed connections carry REPAIR_MARK (repair.h) and
 * bypass the queue.
 */
#define FW_SOCKET_MARK 0x5348

/*
 * Packet mark the kernel fast path (bpf/local_ack.bpf.c) sets on a SYN to a
 * listener with handoff "local" whose 4-tuple is held by a TIME_WAIT socket:
 * the SYN rule leaves it to the kernel, which recycles the TIME_WAIT into a
 * new connection of the server's (the cookie path cannot: the kernel refuses
 * a connection whose 4-tuple a TIME_WAIT still holds).
 */
#define FW_TW_MARK 0x5349

/* Removes stale rules of an earlier run, then installs the rules for every listener. Waits
 * for the tools (start-up: nothing is relayed yet). */
int fw_install(const struct conf *c, char *err, size_t errlen);

/*
 * Reload: the tools that replace the rules of `old` with those of c (neither
 * needs to outlive this call), to run with toolseq_start so the loop never
 * waits for them. Each family's chains are re-declared and filled in one
 * iptables-restore transaction (atomic: the rules of listeners that stay
 * never go missing, established connections see no gap); a family that
 * appears gets its chains and jumps, one that disappears loses them. On
 * failure the family keeps its previous rules and the families after it are
 * left alone. NULL + err when it cannot be prepared.
 */
struct toolseq *fw_update_seq(const struct conf *old, const struct conf *c, char *err,
                              size_t errlen);

/* Removes exactly our rules, for both families. Safe when none are installed. Waits
 * (exit). */
void fw_remove(void);

/* Prints the iptables/ip6tables commands fw_install would run, and an equivalent
 * nftables ruleset for hosts whose kernel has the nft queue statement. */
void fw_print(FILE *out, const struct conf *c);

#endif
