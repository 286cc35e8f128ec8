/*
 * Builds the server side of a TCP connection whose handshake the daemon
 * completed on the wire (SYN -> cookie SYN-ACK -> valid ACK), as a real
 * ESTABLISHED kernel socket, with TCP_REPAIR (the facility CRIU uses to
 * restore sockets). No packet is sent while it is built; afterwards the
 * kernel owns the connection entirely: windows, retransmissions, FIN,
 * TIME_WAIT. Needs CAP_NET_ADMIN.
 *
 * The order matters, and each step exists for a reason:
 *
 *  1. socket(); TCP_REPAIR = 1. Repair mode makes connect() skip the SYN and
 *     jump to ESTABLISHED, lets the sequence numbers and options be written,
 *     and forces address reuse, so bind() to the protected address:port
 *     works even while other repaired sockets (or a listener) hold it.
 *  2. TCP_REPAIR_QUEUE = TCP_RECV_QUEUE, TCP_QUEUE_SEQ = client ISN + 1: the
 *     next byte we expect from the client (its SYN took one number).
 *     TCP_REPAIR_QUEUE = TCP_SEND_QUEUE, TCP_QUEUE_SEQ = our ISN + 1: the
 *     cookie was our ISN, our SYN took one number. Both must be set before
 *     connect(), which derives snd_una/snd_nxt/rcv_nxt from them.
 *  3. IPv6: IPV6_V6ONLY, so the socket never claims an IPv4-mapped tuple.
 *     TCP_MAXSEG = the client's MSS: connect() computes the socket's segment
 *     size from it (and the route's MTU). The MSS of TCP_REPAIR_OPTIONS in
 *     step 4 only sets the clamp and comes too late for that computation,
 *     which would otherwise use the 536-byte default for the whole life of
 *     the connection.
 *     bind(server address:port); connect(client address:port): in repair
 *     mode no SYN is sent and the socket is hashed as established, so the
 *     kernel delivers the client's segments to it from now on.
 *  4. TCP_REPAIR_OPTIONS: the kernel accepts these only on an established
 *     socket that has sent nothing, hence after connect(). MSS clamp = the
 *     client's MSS (as the cookie kept it), window scale (snd | rcv << 16)
 *     when both sides offered it and 0 | 0 otherwise (connect() picked a
 *     receive shift of its own, which the socket would otherwise apply to
 *     every window it advertises), SACK-permitted, timestamps: exactly what
 *     our SYN-ACK agreed to, no more.
 *  5. TCP_TIMESTAMP: sets the socket's timestamp offset so its next TSval
 *     continues from the TSval our SYN-ACK carried (the client echoed it in
 *     the ACK's TSecr). Without this, the kernel's clock would jump backwards
 *     relative to what the client already saw, and the client's PAWS check
 *     would drop our segments. The low bit of the value selects microsecond
 *     timestamps on recent kernels, so the value is rounded up to even:
 *     never below what the client saw.
 *  6. TCP_REPAIR_WINDOW: the peer's window from the ACK (scaled by its shift,
 *     as for any non-SYN segment), the window our SYN-ACK advertised, and the
 *     points they were last updated at. Otherwise the socket would start with
 *     whatever window connect() guessed, possibly shrinking below what we
 *     advertised (the client may already be sending into it).
 *  7. TCP_REPAIR = TCP_REPAIR_OFF_NO_WP: leave repair mode without the window
 *     probe the kernel would otherwise send: the handshake ACK is still
 *     waiting in NFQUEUE and reaches the socket right after, so the peer's
 *     window is already known.
 *  8. O_NONBLOCK and FD_CLOEXEC for the service side.
 *
 * The socket is visible to the kernel from connect() on, so a client segment
 * that arrives meanwhile (the request right behind the handshake ACK) could
 * meet a half-built socket: without timestamps, window scale or windows yet,
 * it would be answered wrongly and the connection could stall. So only once
 * the socket is complete does it get REPAIR_MARK (SO_MARK), and the
 * firewall's `-m socket` bypass passes only packets of sockets carrying it:
 * segments that arrive earlier take the queue, behind the handshake ACK, and
 * reach the socket after the queue thread (which built it) has finished. The
 * same rule keeps a TIME_WAIT socket (which has no mark) from swallowing the
 * handshake ACK of a new connection that reuses its 4-tuple (see
 * FW_SOCKET_MARK in firewall.h for how its own late packets still reach it).
 */
#define REPAIR_MARK 0x5347
/*
 * After repair_socket() returns, the caller must let the client's ACK through
 * (verdict ACCEPT): data riding on it goes to this socket.
 */
#ifndef SYNGUARD_REPAIR_H
#define SYNGUARD_REPAIR_H

#include <stdbool.h>
#include <stdint.h>

#include "pkt.h"

struct repair_params {
	struct pkt_tuple t;  /* client -> server, as in the ACK */
	uint32_t client_isn; /* the ACK's seq - 1 */
	uint32_t our_isn;    /* the ACK's ack - 1: the cookie */
	uint16_t mss;        /* the client's MSS (what we may send per segment) */
	bool has_wscale;     /* window scaling negotiated */
	uint8_t snd_wscale;  /* the client's shift: applies to windows it advertises */
	uint8_t rcv_wscale;  /* our shift: what our SYN-ACK offered */
	bool sack_ok;
	bool has_ts;
	uint32_t ack_tsecr;  /* the ACK's TSecr: our SYN-ACK's TSval, echoed */
	uint16_t ack_window; /* the ACK's raw window field */
	uint32_t our_window; /* the window our SYN-ACK advertised (unscaled, as SYN-ACKs are) */
};

/* Returns the established, non-blocking, close-on-exec socket, or -1 with errno set (nothing
 * is left open). */
int repair_socket(const struct repair_params *p);

#endif
