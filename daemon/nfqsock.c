/*
 * The netlink side of one NFQUEUE queue. See nfqsock.h.
 */
#define _GNU_SOURCE /* recvmmsg */
#include "nfqsock.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "firewall.h"
#include "log.h"

/* Only the headers are copied to us: IPv6 + extension headers + TCP with options fit. */
#define NFQS_COPY_RANGE 128
/* Kernel-side queue length: about 30 ms of a 500k SYN/s flood. */
#define NFQS_MAXLEN 16384
/* Netlink receive buffer: room for a full queue's messages (each charged about 1 KiB). */
#define NFQS_RCVBUF (16 * 1024 * 1024)
/* Datagrams per recvmmsg(), and the size of each: a packet message with 128 bytes of
 * payload is about 350 bytes. */
#define NFQS_RX_BATCH 64
#define NFQS_RX_BUFSZ 2048
/* Verdict send buffer; a run costs 32 bytes. */
#define NFQS_VBUF_SIZE       (64 * 1024)
#define NFQS_VERDICT_MSG_MAX 64

#define NFQS_SETUP_TIMEOUT_MS 2000
#define NFQS_CFG_BUFSZ        512 /* one configuration message */

struct nfqs {
	uint16_t num;
	struct nfqs_cb cb;
	struct mnl_socket *nl;
	int fd;

	/* receive ring */
	struct mmsghdr rx_msgs[NFQS_RX_BATCH];
	struct iovec rx_iov[NFQS_RX_BATCH];
	uint8_t (*rx_buf)[NFQS_RX_BUFSZ];

	/* pending verdicts */
	char *vbuf;
	size_t vlen;
	bool run_open;
	uint32_t run_last;
	int run_verdict;

	/* the configuration acknowledgment, during start-up only */
	uint32_t cfg_seq;
	bool cfg_acked;
	int cfg_error;
};

/* ---- verdicts ---- */

static void nfqs_emit_run(struct nfqs *s)
{
	struct nlmsghdr *nlh;

	if (!s->run_open)
		return;
	nlh = nfq_nlmsg_put(s->vbuf + s->vlen, NFQNL_MSG_VERDICT_BATCH, s->num);
	nfq_nlmsg_verdict_put(nlh, (int)s->run_last, s->run_verdict);
	s->vlen += nlh->nlmsg_len;
	s->run_open = false;
}

void nfqs_flush(struct nfqs *s)
{
	nfqs_emit_run(s);
	if (s->vlen == 0)
		return;
	for (int tries = 0; tries < 3; tries++) {
		/* The kernel processes the whole buffer synchronously: either every message
		 * was seen (errors come back as NLMSG_ERROR) or none was (no memory). */
		if (mnl_socket_sendto(s->nl, s->vbuf, s->vlen) >= 0)
			break;
		if (errno != ENOBUFS && errno != ENOMEM && errno != EINTR) {
			log_warnx_ratelimited(10, "queue %u: sending verdicts: %s", s->num,
			                      strerror(errno));
			break;
		}
	}
	s->vlen = 0;
}

void nfqs_verdict(struct nfqs *s, uint32_t id, int verdict)
{
	if (s->run_open && verdict == s->run_verdict && id == s->run_last + 1) {
		s->run_last = id;
		return;
	}
	nfqs_emit_run(s);
	if (s->vlen + NFQS_VERDICT_MSG_MAX > NFQS_VBUF_SIZE)
		nfqs_flush(s);
	s->run_open = true;
	s->run_last = id;
	s->run_verdict = verdict;
}

/* ---- netlink messages ---- */

static void nfqs_on_nlmsg(struct nfqs *s, const struct nlmsghdr *nlh)
{
	struct nlattr *attr[NFQA_MAX + 1];
	const struct nfqnl_msg_packet_hdr *ph;
	struct nfqs_packet p;

	if (nlh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

		if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
			return;
		if (s->cfg_seq != 0 && nlh->nlmsg_seq == s->cfg_seq) {
			s->cfg_acked = true;
			s->cfg_error = -e->error;
		} else if (e->error != 0) {
			log_warnx_ratelimited(10, "queue %u: kernel refused a verdict: %s", s->num,
			                      strerror(-e->error));
		}
		return;
	}
	if (nlh->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET))
		return;
	memset(attr, 0, sizeof(attr));
	if (nfq_nlmsg_parse(nlh, attr) < 0 || attr[NFQA_PACKET_HDR] == NULL ||
	    mnl_attr_get_payload_len(attr[NFQA_PACKET_HDR]) < sizeof(*ph))
		return; /* no id: nothing can be decided */
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	memset(&p, 0, sizeof(p));
	if (attr[NFQA_PAYLOAD]) {
		p.data = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
		p.len = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	}
	/* Sent because the queue is configured with NFQA_CFG_F_GSO. Without the NOTVERIFIED
	 * flag there is nothing to check: hardware or the stack verified the checksum, or
	 * the packet is local and its checksum not computed yet (NFQA_SKB_CSUMNOTREADY). */
	if (attr[NFQA_SKB_INFO] && mnl_attr_get_payload_len(attr[NFQA_SKB_INFO]) >= 4)
		p.csum_unverified =
		    ntohl(mnl_attr_get_u32(attr[NFQA_SKB_INFO])) & NFQA_SKB_CSUM_NOTVERIFIED;
	/* The firewall marks packets for which some socket exists (firewall.h). */
	p.has_socket = attr[NFQA_MARK] && mnl_attr_get_payload_len(attr[NFQA_MARK]) >= 4 &&
	               ntohl(mnl_attr_get_u32(attr[NFQA_MARK])) == FW_SOCKET_MARK;
	/* The way back at layer 2 (tx.h): an Ethernet source address and the input device. */
	if (attr[NFQA_IFINDEX_INDEV] && attr[NFQA_HWADDR] &&
	    mnl_attr_get_payload_len(attr[NFQA_HWADDR]) >= sizeof(struct nfqnl_msg_packet_hw)) {
		const struct nfqnl_msg_packet_hw *hw = mnl_attr_get_payload(attr[NFQA_HWADDR]);

		if (ntohs(hw->hw_addrlen) == sizeof(p.l2.mac)) {
			p.l2.ifindex = (int)ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_INDEV]));
			memcpy(p.l2.mac, hw->hw_addr, sizeof(p.l2.mac));
		}
	}
	nfqs_verdict(s, ntohl(ph->packet_id), s->cb.packet(s->cb.arg, &p));
}

static void nfqs_on_datagram(struct nfqs *s, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int left = (int)len;

	while (mnl_nlmsg_ok(nlh, left)) {
		nfqs_on_nlmsg(s, nlh);
		nlh = mnl_nlmsg_next(nlh, &left);
	}
}

int nfqs_read(struct nfqs *s, int rounds)
{
	for (int r = 0; r < rounds; r++) {
		int n = recvmmsg(s->fd, s->rx_msgs, NFQS_RX_BATCH, MSG_DONTWAIT, NULL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS)
				continue; /* overrun reported despite NETLINK_NO_ENOBUFS: go on */
			return -1;
		}
		for (int i = 0; i < n; i++) {
			if (s->rx_msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
				continue; /* cannot happen with our copy range */
			nfqs_on_datagram(s, s->rx_buf[i], s->rx_msgs[i].msg_len);
			s->rx_msgs[i].msg_hdr.msg_flags = 0;
		}
		/* What this round decided goes out now (one sendmmsg, one verdict message;
		 * the SYN-ACKs first: a client waits for them, nobody waits for the verdicts
		 * that drop SYNs).
		 * Then read again, even after a short round. A thread that keeps up with a
		 * flood finds a few packets each time; going back through epoll_wait() for
		 * them would add a fourth system call to the three each round needs, and
		 * the last read, the one that finds nothing, costs less than that. */
		s->cb.round(s->cb.arg);
		nfqs_flush(s);
	}
	return 0;
}

int nfqs_fd(const struct nfqs *s)
{
	return s->fd;
}

/* ---- set-up ---- */

/* Binds the queue and configures it in one message, so the copy mode, length and flags
 * apply from the first packet on; waits for the kernel's acknowledgment. Packets that
 * arrive meanwhile are handled normally. */
static int nfqs_bind(struct nfqs *s, bool fail_open, char *err, size_t errlen)
{
	char buf[NFQS_CFG_BUFSZ];
	struct nlmsghdr *nlh;
	uint32_t flags = NFQA_CFG_F_GSO, mask = NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN;
	struct timespec start, now;

	if (fail_open)
		flags |= NFQA_CFG_F_FAIL_OPEN;
	/* libmnl 1.0.4 leaves attribute padding as it finds it (the 5-byte copy
	 * parameters are padded to 8): no stack bytes go to the kernel */
	memset(buf, 0, sizeof(buf));
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, s->num);
	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = s->cfg_seq = (uint32_t)time(NULL) | 1;
	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, NFQS_COPY_RANGE);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, NFQS_MAXLEN);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(mask));
	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0) {
		snprintf(err, errlen, "binding NFQUEUE %u: %s", s->num, strerror(errno));
		return -1;
	}

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!s->cfg_acked) {
		struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
		long waited;

		clock_gettime(CLOCK_MONOTONIC, &now);
		waited =
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (waited >= NFQS_SETUP_TIMEOUT_MS) {
			snprintf(err, errlen, "binding NFQUEUE %u: no answer from the kernel",
			         s->num);
			return -1;
		}
		if (poll(&pfd, 1, (int)(NFQS_SETUP_TIMEOUT_MS - waited)) < 0 && errno != EINTR) {
			snprintf(err, errlen, "binding NFQUEUE %u: poll: %s", s->num,
			         strerror(errno));
			return -1;
		}
		if (nfqs_read(s, 1) < 0) {
			snprintf(err, errlen, "binding NFQUEUE %u: receive: %s", s->num,
			         strerror(errno));
			return -1;
		}
	}
	s->cfg_seq = 0;
	if (s->cfg_error != 0) {
		snprintf(err, errlen, "binding NFQUEUE %u: %s%s", s->num, strerror(s->cfg_error),
		         s->cfg_error == EPERM ? " (bound by another process, or no CAP_NET_ADMIN)"
		                               : "");
		return -1;
	}
	return 0;
}

static int nfqs_socket(struct nfqs *s, char *err, size_t errlen)
{
	int rcvbuf = NFQS_RCVBUF, on = 1;

	s->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (s->nl == NULL) {
		snprintf(err, errlen, "netlink socket: %s", strerror(errno));
		return -1;
	}
	s->fd = mnl_socket_get_fd(s->nl);
	if (mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "netlink bind: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0 &&
	    setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		log_warn("queue %u: netlink receive buffer", s->num);
	/* A full buffer must not turn into an error on our socket: the kernel then drops (or,
	 * with queue_full = "accept", accepts) the packet, as for a full queue. */
	if (mnl_socket_setsockopt(s->nl, NETLINK_NO_ENOBUFS, &on, sizeof(on)) < 0)
		log_warn("queue %u: NETLINK_NO_ENOBUFS", s->num);
	return 0;
}

struct nfqs *nfqs_open(uint16_t num, bool fail_open, const struct nfqs_cb *cb, char *err,
                       size_t errlen)
{
	struct nfqs *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->num = num;
	s->cb = *cb;
	s->fd = -1;
	s->rx_buf = calloc(NFQS_RX_BATCH, sizeof(*s->rx_buf));
	s->vbuf = calloc(1, NFQS_VBUF_SIZE);
	if (!s->rx_buf || !s->vbuf) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < NFQS_RX_BATCH; i++) {
		s->rx_iov[i].iov_base = s->rx_buf[i];
		s->rx_iov[i].iov_len = NFQS_RX_BUFSZ;
		s->rx_msgs[i].msg_hdr.msg_iov = &s->rx_iov[i];
		s->rx_msgs[i].msg_hdr.msg_iovlen = 1;
	}
	if (nfqs_socket(s, err, errlen) < 0 || nfqs_bind(s, fail_open, err, errlen) < 0)
		goto fail;
	return s;
fail:
	nfqs_close(s);
	return NULL;
}

void nfqs_close(struct nfqs *s)
{
	if (s == NULL)
		return;
	if (s->nl) {
		char buf[NFQS_CFG_BUFSZ];
		struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, s->num);

		/* Closing the socket unbinds too; saying so is cleaner and immediate. */
		nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_UNBIND);
		(void)mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len);
		mnl_socket_close(s->nl);
	}
	free(s->rx_buf);
	free(s->vbuf);
	free(s);
}
