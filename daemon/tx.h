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
 *
 * Answering at layer 2: when the caller knows the Ethernet device the SYN
 * came in on and the SYN's source MAC (NFQUEUE tells both), the SYN-ACK is
 * framed here and sent on that device through an AF_PACKET socket, back to
 * the hop that delivered the SYN. That skips, for every SYN-ACK, the route
 * lookup, the netfilter OUTPUT and POSTROUTING hooks and the neighbour
 * lookup of the raw IP path: the profile of a flood showed about a quarter
 * of a queue thread's time there. Consequences an administrator may notice:
 * SYN-ACKs no longer pass the host's OUTPUT rules nor policy routing (they
 * follow the SYN's path back, which is what a router in front of the host
 * expects). Devices that are not Ethernet (loopback, tunnels), or whose
 * address cannot be read, use the raw IP sockets as before, and so does
 * every SYN-ACK when daemon.synack_layer2 is false (the caller passes no
 * way back).
 */
#ifndef SYNGUARD_TX_H
#define SYNGUARD_TX_H

#include <stddef.h>
#include <stdint.h>

#include "pkt.h"
#include "stats.h"

struct tx;

/* Where a SYN came from at layer 2: answers go back the same way. */
struct tx_l2 {
	int ifindex;    /* input device; 0: unknown (the raw IP path is used) */
	uint8_t mac[6]; /* the SYN's source MAC: the SYN-ACK's destination */
};

/* Opens the raw sockets (needs CAP_NET_RAW). batch: packets per family per sendmmsg. */
struct tx *tx_new(size_t batch, char *err, size_t errlen);
void tx_free(struct tx *tx);

/*
 * Builds the packet described by spec into the next slot. Counts
 * ST_SYNACK_SENT or ST_SYNACK_SEND_FAILED in `row` once the packet has been
 * handed to the kernel or refused. Flushes first when the batch is full.
 * Returns 0, or -1 when the packet could not be built (counted as failed).
 */
int tx_queue(struct tx *tx, const struct pkt_spec *spec, const struct tx_l2 *l2,
             struct stats_row *row);

/* Forget the devices' addresses read so far (they are read again on first use), so a
 * changed MAC is picked up; the owner calls this every few seconds. */
void tx_forget_devices(struct tx *tx);

/* Sends every queued packet. */
void tx_flush(struct tx *tx);

/* 0 when SYN-ACKs can leave at layer 2; otherwise the errno that kept the packet
 * socket from opening (every SYN-ACK then takes the routed raw sockets). */
int tx_layer2_errno(const struct tx *tx);

#endif
