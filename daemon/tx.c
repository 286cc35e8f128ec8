#define _GNU_SOURCE /* sendmmsg */
#include "tx.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Raw sockets drop, not block, when their buffer is full: give bursts room. */
#define TX_SNDBUF (4 * 1024 * 1024)

struct tx_slot {
	uint8_t pkt[PKT_BUILD_MAX];
	struct stats_row *row;
};

struct tx_fam {
	int fd;
	size_t n; /* queued */
	struct tx_slot *slots;
	struct sockaddr_storage *to;
	struct iovec *iov;
	struct mmsghdr *msgs;
};

struct tx {
	size_t batch;
	struct tx_fam fam[2]; /* [0] IPv4, [1] IPv6 */
};

static int tx_fam_open(struct tx_fam *f, int family, size_t batch, char *err, size_t errlen)
{
	int sndbuf = TX_SNDBUF;

	f->fd = -1;
	f->slots = calloc(batch, sizeof(*f->slots));
	f->to = calloc(batch, sizeof(*f->to));
	f->iov = calloc(batch, sizeof(*f->iov));
	f->msgs = calloc(batch, sizeof(*f->msgs));
	if (!f->slots || !f->to || !f->iov || !f->msgs) {
		snprintf(err, errlen, "tx: out of memory");
		return -1;
	}
	/* IPPROTO_RAW implies IP_HDRINCL / IPV6_HDRINCL: we write the whole IP header. */
	f->fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
	if (f->fd < 0 && errno == EAFNOSUPPORT)
		return 0; /* a kernel without this family: none of its packets will come */
	if (f->fd < 0) {
		snprintf(err, errlen, "tx: raw %s socket: %s", family == AF_INET ? "IPv4" : "IPv6",
		         strerror(errno));
		return -1;
	}
	if (setsockopt(f->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
		(void)setsockopt(f->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	for (size_t i = 0; i < batch; i++) {
		f->iov[i].iov_base = f->slots[i].pkt;
		f->msgs[i].msg_hdr.msg_iov = &f->iov[i];
		f->msgs[i].msg_hdr.msg_iovlen = 1;
		f->msgs[i].msg_hdr.msg_name = &f->to[i];
	}
	return 0;
}

static void tx_fam_close(struct tx_fam *f)
{
	if (f->fd >= 0)
		close(f->fd);
	free(f->slots);
	free(f->to);
	free(f->iov);
	free(f->msgs);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
}

struct tx *tx_new(size_t batch, char *err, size_t errlen)
{
	struct tx *tx = calloc(1, sizeof(*tx));

	if (tx == NULL) {
		snprintf(err, errlen, "tx: out of memory");
		return NULL;
	}
	tx->batch = batch ? batch : 1;
	tx->fam[0].fd = tx->fam[1].fd = -1;
	if (tx_fam_open(&tx->fam[0], AF_INET, tx->batch, err, errlen) < 0 ||
	    tx_fam_open(&tx->fam[1], AF_INET6, tx->batch, err, errlen) < 0) {
		tx_free(tx);
		return NULL;
	}
	return tx;
}

void tx_free(struct tx *tx)
{
	if (tx == NULL)
		return;
	tx_fam_close(&tx->fam[0]);
	tx_fam_close(&tx->fam[1]);
	free(tx);
}

static void tx_fam_flush(struct tx_fam *f)
{
	size_t done = 0;

	while (done < f->n) {
		int r = sendmmsg(f->fd, &f->msgs[done], (unsigned)(f->n - done), MSG_DONTWAIT);

		if (r > 0) {
			for (size_t i = done; i < done + (size_t)r; i++)
				stats_inc(f->slots[i].row, ST_SYNACK_SENT);
			done += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == ENOBUFS || errno == ENOMEM)) {
			/* out of buffer space: retrying now would only fail again */
			for (; done < f->n; done++)
				stats_inc(f->slots[done].row, ST_SYNACK_SEND_FAILED);
			break;
		}
		/* sendmmsg reports the first message's error; that message is lost, the rest
		 * may still go out (a per-destination error such as EHOSTUNREACH). */
		stats_inc(f->slots[done].row, ST_SYNACK_SEND_FAILED);
		done++;
	}
	f->n = 0;
}

void tx_flush(struct tx *tx)
{
	tx_fam_flush(&tx->fam[0]);
	tx_fam_flush(&tx->fam[1]);
}

size_t tx_pending(const struct tx *tx)
{
	return tx->fam[0].n + tx->fam[1].n;
}

int tx_queue(struct tx *tx, const struct pkt_spec *spec, struct stats_row *row)
{
	struct tx_fam *f;
	struct tx_slot *s;
	struct msghdr *mh;
	size_t len;

	if (spec->t.family != AF_INET && spec->t.family != AF_INET6) {
		stats_inc(row, ST_SYNACK_SEND_FAILED);
		return -1;
	}
	f = &tx->fam[spec->t.family == AF_INET6];
	if (f->fd < 0) {
		stats_inc(row, ST_SYNACK_SEND_FAILED);
		return -1;
	}
	if (f->n == tx->batch)
		tx_fam_flush(f);
	s = &f->slots[f->n];
	len = pkt_build(s->pkt, sizeof(s->pkt), spec);
	if (len == 0) {
		stats_inc(row, ST_SYNACK_SEND_FAILED);
		return -1;
	}
	s->row = row;
	f->iov[f->n].iov_len = len;
	mh = &f->msgs[f->n].msg_hdr;
	if (spec->t.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&f->to[f->n];

		sin->sin_family = AF_INET;
		sin->sin_port = 0;
		memcpy(&sin->sin_addr, spec->t.daddr, 4);
		mh->msg_namelen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&f->to[f->n];

		memset(sin6, 0, sizeof(*sin6));
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, spec->t.daddr, 16);
		mh->msg_namelen = sizeof(*sin6);
	}
	f->n++;
	return 0;
}
