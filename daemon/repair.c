#include "repair.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockutil.h"

static int repair_setint(int fd, int level, int opt, int val)
{
	return setsockopt(fd, level, opt, &val, sizeof(val));
}

static int repair_queue_seq(int fd, int queue, uint32_t seq)
{
	if (repair_setint(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, queue) < 0)
		return -1;
	return setsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, sizeof(seq));
}

static int repair_options(int fd, const struct repair_params *p)
{
	struct tcp_repair_opt opts[4];
	size_t n = 0;

	opts[n].opt_code = TCPOPT_MAXSEG;
	opts[n++].opt_val = p->mss;
	/* Always sent: without it the socket keeps the receive shift connect() chose for itself
	 * and would shift its advertised windows although the client does not scale them. Shifts
	 * of zero are exactly "not negotiated". */
	opts[n].opt_code = TCPOPT_WINDOW;
	opts[n++].opt_val =
	    p->has_wscale ? (uint32_t)p->snd_wscale | (uint32_t)p->rcv_wscale << 16 : 0;
	if (p->sack_ok) {
		opts[n].opt_code = TCPOPT_SACK_PERMITTED;
		opts[n++].opt_val = 0;
	}
	if (p->has_ts) {
		opts[n].opt_code = TCPOPT_TIMESTAMP;
		opts[n++].opt_val = 0;
	}
	return setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, opts,
	                  (socklen_t)(n * sizeof(opts[0])));
}

static int repair_window(int fd, const struct repair_params *p)
{
	uint32_t rcv_nxt = p->client_isn + 1;
	uint32_t snd_wnd = p->ack_window;
	struct tcp_repair_window w;

	if (p->has_wscale)
		snd_wnd <<= p->snd_wscale;
	w.snd_wl1 = rcv_nxt; /* the ACK (seq = rcv_nxt) is the last window update */
	w.snd_wnd = snd_wnd;
	w.max_window = snd_wnd;
	w.rcv_wnd = p->our_window;
	w.rcv_wup = rcv_nxt; /* where our advertised window was anchored */
	return setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w));
}

int repair_socket(const struct repair_params *p)
{
	const struct pkt_tuple *t = &p->t;
	struct sockaddr_storage local, peer;
	socklen_t local_len, peer_len;
	int fd, saved;

	if (t->family != AF_INET && t->family != AF_INET6) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	fd = socket(t->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return -1;
	if (repair_setint(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON) < 0)
		goto fail;
	if (repair_queue_seq(fd, TCP_RECV_QUEUE, p->client_isn + 1) < 0)
		goto fail;
	if (repair_queue_seq(fd, TCP_SEND_QUEUE, p->our_isn + 1) < 0)
		goto fail;
	if (repair_setint(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE) < 0)
		goto fail;
	if (t->family == AF_INET6 && repair_setint(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) < 0)
		goto fail;
	if (repair_setint(fd, IPPROTO_TCP, TCP_MAXSEG, p->mss) < 0)
		goto fail;

	/* Before connect(): from connect() on, the socket is in the established hash and
	 * the client's data (let in by -m socket) may reach it, and an ACK it sends
	 * must already carry our timestamp clock, or the client's PAWS check will
	 * drop everything after it. */
	if (p->has_ts) {
		uint32_t ts = (p->ack_tsecr + 1) & ~1U;

		if (setsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &ts, sizeof(ts)) < 0)
			goto fail;
	}
	local_len = sock_addr_from_tuple(&local, t, true);
	peer_len = sock_addr_from_tuple(&peer, t, false);
	if (bind(fd, (struct sockaddr *)&local, local_len) < 0)
		goto fail;
	if (connect(fd, (struct sockaddr *)&peer, peer_len) < 0 && errno != EINPROGRESS)
		goto fail;

	if (repair_options(fd, p) < 0)
		goto fail;
	if (repair_window(fd, p) < 0)
		goto fail;
	if (repair_setint(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF_NO_WP) < 0)
		goto fail;
	/* Leaving repair mode resets the socket's address reuse, and its TIME_WAIT keeps the
	 * reuse the socket had: without this, a server binding the protected address with
	 * SO_REUSEADDR (synguard stopped, or failed open) gets EADDRINUSE for a minute after
	 * a connection closed. */
	if (repair_setint(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0)
		goto fail;
	if (repair_setint(fd, SOL_SOCKET, SO_MARK, REPAIR_MARK) < 0)
		goto fail;
	return fd;

fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}
