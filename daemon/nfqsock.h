/*
 * The netlink side of one NFQUEUE queue: the socket, the bind and its
 * configuration, reading packet messages, and the verdicts.
 *
 * Reading: nfqs_read() reads packet messages with recvmmsg() until EAGAIN (or
 * a bounded number of rounds), hands each packet to the owner's callback,
 * which returns its verdict at once; after each full round the owner's round
 * callback sends what the owner queued and the round's verdicts go out (so a
 * long burst does not hold the first answers back: under a flood the queue
 * never runs dry).
 *
 * Verdicts are appended to one send buffer as runs: consecutive packet ids
 * with the same verdict collapse into one NFQNL_MSG_VERDICT_BATCH message
 * (the kernel applies it to every queued id up to the run's last, and every
 * earlier id already got its own verdict earlier in the same buffer). The
 * buffer goes out on nfqs_flush(), or earlier when full.
 *
 * Nothing is allocated after nfqs_open().
 */
#ifndef SYNGUARD_NFQSOCK_H
#define SYNGUARD_NFQSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tx.h"

/* What NFQUEUE told about a queued packet. */
struct nfqs_packet {
	const uint8_t *data; /* the copy: IP header on, at most the copy range */
	size_t len;
	/* the kernel has not verified the TCP checksum (NFQA_SKB_CSUM_NOTVERIFIED) */
	bool csum_unverified;
	bool has_socket; /* the firewall's FW_SOCKET_MARK: some socket holds the tuple */
	struct tx_l2 l2; /* the way back at layer 2; ifindex 0: unknown */
};

struct nfqs_cb {
	/* Decides a packet: NF_ACCEPT or NF_DROP. */
	int (*packet)(void *arg, const struct nfqs_packet *p);
	/* A recvmmsg() round was handled: the owner sends what it queued; the round's
	 * verdicts follow. */
	void (*round)(void *arg);
	void *arg;
};

struct nfqs;

/*
 * Opens the netlink socket and binds queue num, configured in the same
 * message (copy range, queue length, GSO, fail-open when fail_open), and
 * waits for the kernel's acknowledgment; packets that arrive meanwhile go to
 * the callbacks. NULL + err on failure (nothing left open).
 */
struct nfqs *nfqs_open(uint16_t num, bool fail_open, const struct nfqs_cb *cb, char *err,
                       size_t errlen);
/* Unbinds the queue and closes the socket. */
void nfqs_close(struct nfqs *s);

int nfqs_fd(const struct nfqs *s);

/* Reads up to `rounds` recvmmsg() rounds; -1 (errno) on a socket error other than EAGAIN. */
int nfqs_read(struct nfqs *s, int rounds);

/* Queues the verdict of packet id (flushing first when the buffer is full). */
void nfqs_verdict(struct nfqs *s, uint32_t id, int verdict);
/* Sends the queued verdicts. */
void nfqs_flush(struct nfqs *s);

#endif
