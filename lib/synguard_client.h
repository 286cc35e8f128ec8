/*
 * synguard pass-fd client API, for synguard-aware backends.
 *
 * A listener with handoff = "pass-fd" hands each connection that completed the
 * SYN-cookie handshake to a backend over a Unix stream socket: the backend
 * connects to the listener's socket (its `backend = "unix:PATH"`) and
 * receives, per connection, the client's established TCP socket by
 * SCM_RIGHTS together with a small record describing it. getpeername() on
 * the received socket is the real client; no byte of the connection passes
 * through synguard.
 *
 *   int s = sgc_connect("/run/synguard/web.sock");
 *   struct sgc_conn c;
 *   while (sgc_recv(s, &c) == 0) {
 *           serve(c.fd);  // an ordinary connected TCP socket, yours to close
 *   }
 *
 * The record on the wire (one per connection, sent with exactly one fd):
 *   magic "SGFD" (4) | version 1 (1) | family (1: 4 or 6) | reserved (2, zero)
 *   client addr (16) | server addr (16) | client port (2, BE) | server port (2, BE)
 *   listener name (32, NUL padded, at most 31 bytes)
 * Addresses are in network order; an IPv4 address fills the first 4 bytes
 * and the other 12 are zero. The fd's file status flags are as synguard
 * made the socket: set O_NONBLOCK yourself if you want it.
 *
 * When no backend is connected, or a backend does not read its socket fast
 * enough (its socket buffer is full), synguard resets the client instead of
 * queueing: run enough backends, or accept on several sockets, and keep
 * reading. Several backends may connect to one socket; connections are
 * dealt to them round-robin.
 */
#ifndef SYNGUARD_CLIENT_H
#define SYNGUARD_CLIENT_H

#include <sys/socket.h>

#define SGC_LISTENER_MAX 32
#define SGC_RECORD_LEN   76

struct sgc_conn {
	int fd; /* the client's connected TCP socket, close-on-exec */
	struct sockaddr_storage client;
	struct sockaddr_storage server;
	char listener[SGC_LISTENER_MAX]; /* NUL terminated */
};

/* Connects to a pass-fd socket. Returns the socket, or -1 with errno set. */
int sgc_connect(const char *path);

/*
 * Receives one connection. Blocks unless sock is non-blocking. Returns 0, or
 * -1 with errno: EAGAIN (non-blocking, nothing yet), ECONNRESET (synguard
 * closed the socket), EPROTO (malformed record, or not exactly one fd with
 * it; every fd that came with it is closed, and the stream should be closed
 * too since record boundaries are lost), or that of recvmsg (EINTR included:
 * call again).
 */
int sgc_recv(int sock, struct sgc_conn *out);

/* Encodes a record (used by the daemon; exposed for tests). Returns
 * SGC_RECORD_LEN, or 0 when client and server are not both AF_INET or both
 * AF_INET6. */
size_t sgc_encode(unsigned char rec[SGC_RECORD_LEN], const struct sgc_conn *c);
/* Decodes a record. Returns 0, or -1 when it is malformed. out->fd is left alone. */
int sgc_decode(const unsigned char *rec, size_t len, struct sgc_conn *out);

#endif
