/*
 * Batched raw-socket transmit for hand-built packets (our SYN-ACKs).
 *
 * One IPPROTO_RAW socket per address family (the kernel takes our IP header
 * as is and only fills in the IPv4 id and header checksum). Packets are
 * built straight into a fixed ring of slots and sent with one sendmmsg()
 * per family when the batch is full or the owner flushes (from the event
 * loop's prepare watcher, before it blocks). Each slot remembers the counter
 * row of the listener it answers, so success and failure are counted per
 * listener when the batch actually goes out. Nothing is allocated after
 * tx_new.
 */
#ifndef SYNGUARD_TX_H
#define SYNGUARD_TX_H

#include <stddef.h>

#include "pkt.h"
#include "stats.h"

struct tx;

/* Opens the raw sockets (needs CAP_NET_RAW). batch: packets per family per sendmmsg. */
struct tx *tx_new(size_t batch, char *err, size_t errlen);
void tx_free(struct tx *tx);

/*
 * Builds the packet described by spec into the next slot. Counts
 * ST_SYNACK_SENT or ST_SYNACK_SEND_FAILED in `row` once the packet has been
 * handed to the kernel or refused. Flushes first when the batch is full.
 * Returns 0, or -1 when the packet could not be built (counted as failed).
 */
int tx_queue(struct tx *tx, const struct pkt_spec *spec, struct stats_row *row);

/* Sends every queued packet. */
void tx_flush(struct tx *tx);

/* Packets queued and not yet flushed. */
size_t tx_pending(const struct tx *tx);

#endif
