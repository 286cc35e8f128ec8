#define _GNU_SOURCE /* sendmmsg */
#include "tx.h"

#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Raw sockets drop, not block, when their buffer is full: give bursts room. */
#define TX_SNDBUF (4 * 1024 * 1024)

/* Devices whose address we know; a host answers floods on a handful of them. */
#define TX_DEVS 16

struct tx_slot {
	uint8_t pkt[ETH_HLEN + PKT_BUILD_MAX];
	struct stats_row *row;
};

struct tx_dev {
	int ifindex; /* 0: free */
	bool ether;  /* an Ethernet device whose address we read: answer at layer 2 */
	uint8_t mac[ETH_ALEN];
};

struct tx_fam {
	int fd;
	int open_errno; /* why fd is -1 (a family the host or a sandbox refuses); 0: open */
	size_t n;       /* queued */
	struct tx_slot *slots;
	struct sockaddr_storage *to;
	struct iovec *iov;
	struct mmsghdr *msgs;
};

enum { TX_IP4, TX_IP6, TX_L2, TX_NFAM };

struct tx {
	size_t batch;
	struct tx_fam fam[TX_NFAM];
	struct tx_dev devs[TX_DEVS];
	unsigned next_dev; /* the entry a new device replaces when all are taken */
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
	/* IPPROTO_RAW implies IP_HDRINCL / IPV6_HDRINCL: we write the whole IP header.
	 * The packet socket has protocol 0: it sends and never receives anything. */
	f->fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
	               family == AF_PACKET ? 0 : IPPROTO_RAW);
	if (f->fd < 0 && (errno == EAFNOSUPPORT || family == AF_PACKET)) {
		f->open_errno = errno;
		return 0; /* this family's packets use another path, or none will come */
	}
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
	tx->fam[TX_IP4].fd = tx->fam[TX_IP6].fd = tx->fam[TX_L2].fd = -1;
	if (tx_fam_open(&tx->fam[TX_IP4], AF_INET, tx->batch, err, errlen) < 0 ||
	    tx_fam_open(&tx->fam[TX_IP6], AF_INET6, tx->batch, err, errlen) < 0 ||
	    tx_fam_open(&tx->fam[TX_L2], AF_PACKET, tx->batch, err, errlen) < 0) {
		tx_free(tx);
		return NULL;
	}
	return tx;
}

void tx_free(struct tx *tx)
{
	if (tx == NULL)
		return;
	for (int i = 0; i < TX_NFAM; i++)
		tx_fam_close(&tx->fam[i]);
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
	for (int i = 0; i < TX_NFAM; i++)
		tx_fam_flush(&tx->fam[i]);
}

int tx_layer2_errno(const struct tx *tx)
{
	return tx->fam[TX_L2].open_errno;
}

void tx_forget_devices(struct tx *tx)
{
	memset(tx->devs, 0, sizeof(tx->devs));
}

/* The device ifindex as we know it, reading its type and address on first use. */
static const struct tx_dev *tx_dev(struct tx *tx, int ifindex)
{
	struct tx_dev *d;
	struct ifreq ifr;

	for (size_t i = 0; i < TX_DEVS; i++)
		if (tx->devs[i].ifindex == ifindex)
			return &tx->devs[i];
	d = &tx->devs[tx->next_dev++ % TX_DEVS];
	memset(d, 0, sizeof(*d));
	d->ifindex = ifindex;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_ifindex = ifindex;
	if (ioctl(tx->fam[TX_L2].fd, SIOCGIFNAME, &ifr) == 0 &&
	    ioctl(tx->fam[TX_L2].fd, SIOCGIFHWADDR, &ifr) == 0 &&
	    ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER) {
		memcpy(d->mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
		d->ether = true;
	}
	return d;
}

int tx_queue(struct tx *tx, const struct pkt_spec *spec, const struct tx_l2 *l2,
             struct stats_row *row)
{
	const struct tx_dev *dev = NULL;
	struct tx_fam *f;
	struct tx_slot *s;
	struct msghdr *mh;
	size_t len, off = 0;

	if (spec->t.family != AF_INET && spec->t.family != AF_INET6) {
		stats_inc(row, ST_SYNACK_SEND_FAILED);
		return -1;
	}
	if (l2 && l2->ifindex > 0 && tx->fam[TX_L2].fd >= 0) {
		dev = tx_dev(tx, l2->ifindex);
		if (!dev->ether)
			dev = NULL;
	}
	f = &tx->fam[dev ? TX_L2 : spec->t.family == AF_INET6 ? TX_IP6 : TX_IP4];
	if (f->fd < 0) {
		stats_inc(row, ST_SYNACK_SEND_FAILED);
		return -1;
	}
	if (f->n == tx->batch)
		tx_fam_flush(f);
	s = &f->slots[f->n];
	if (dev)
		off = ETH_HLEN;
	len = pkt_build(s->pkt + off, sizeof(s->pkt) - off, spec);
	if (len == 0) {
		stats_inc(row, ST_SYNACK_SEND_FAILED);
		return -1;
	}
	s->row = row;
	f->iov[f->n].iov_len = off + len;
	mh = &f->msgs[f->n].msg_hdr;
	if (dev) {
		struct sockaddr_ll *sll = (struct sockaddr_ll *)&f->to[f->n];
		uint16_t proto = htons(spec->t.family == AF_INET ? ETH_P_IP : ETH_P_IPV6);

		memcpy(s->pkt, l2->mac, ETH_ALEN);
		memcpy(s->pkt + ETH_ALEN, dev->mac, ETH_ALEN);
		memcpy(s->pkt + 2 * ETH_ALEN, &proto, 2);
		memset(sll, 0, sizeof(*sll));
		sll->sll_family = AF_PACKET;
		sll->sll_protocol = proto;
		sll->sll_ifindex = dev->ifindex;
		mh->msg_namelen = sizeof(*sll);
	} else if (spec->t.family == AF_INET) {
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
