#include "synguard_client.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

/* Record layout: see synguard_client.h. */
#define REC_MAGIC    "SGFD"
#define REC_VERSION  1
#define OFF_VERSION  4
#define OFF_FAMILY   5
#define OFF_RESERVED 6
#define OFF_CLIENT   8
#define OFF_SERVER   24
#define OFF_CPORT    40
#define OFF_SPORT    42
#define OFF_LISTENER 44
/* More fds than the one we expect fit, so extra ones arrive (and get closed)
 * instead of being silently dropped by a truncated control buffer. */
#define RECV_MAX_FDS 8

_Static_assert(OFF_LISTENER + SGC_LISTENER_MAX == SGC_RECORD_LEN, "record layout");

int sgc_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	int s;

	if (n == 0 || n >= sizeof(sun.sun_path)) {
		errno = n ? ENAMETOOLONG : EINVAL;
		return -1;
	}
	memcpy(sun.sun_path, path, n);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;

		close(s);
		errno = e;
		return -1;
	}
	return s;
}

static int put_addr(uint8_t *addr, uint8_t *port, const struct sockaddr_storage *ss, int family)
{
	if (ss->ss_family != family)
		return -1;
	if (family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		memcpy(addr, &sin->sin_addr, 4);
		memcpy(port, &sin->sin_port, 2);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		memcpy(addr, &sin6->sin6_addr, 16);
		memcpy(port, &sin6->sin6_port, 2);
	}
	return 0;
}

size_t sgc_encode(unsigned char rec[SGC_RECORD_LEN], const struct sgc_conn *c)
{
	int family = c->client.ss_family;

	if (family != AF_INET && family != AF_INET6)
		return 0;
	memset(rec, 0, SGC_RECORD_LEN);
	memcpy(rec, REC_MAGIC, 4);
	rec[OFF_VERSION] = REC_VERSION;
	rec[OFF_FAMILY] = family == AF_INET ? 4 : 6;
	if (put_addr(rec + OFF_CLIENT, rec + OFF_CPORT, &c->client, family) < 0 ||
	    put_addr(rec + OFF_SERVER, rec + OFF_SPORT, &c->server, family) < 0)
		return 0;
	memcpy(rec + OFF_LISTENER, c->listener, strnlen(c->listener, SGC_LISTENER_MAX - 1));
	return SGC_RECORD_LEN;
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void get_addr(struct sockaddr_storage *ss, int family, const unsigned char *addr,
                     const unsigned char *port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, addr, 4);
		memcpy(&sin->sin_port, port, 2);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, addr, 16);
		memcpy(&sin6->sin6_port, port, 2);
	}
}

int sgc_decode(const unsigned char *rec, size_t len, struct sgc_conn *out)
{
	const unsigned char *name = rec + OFF_LISTENER;
	size_t namelen;
	int family;

	if (len != SGC_RECORD_LEN || memcmp(rec, REC_MAGIC, 4) != 0 ||
	    rec[OFF_VERSION] != REC_VERSION || !all_zero(rec + OFF_RESERVED, 2))
		return -1;
	if (rec[OFF_FAMILY] == 4) {
		family = AF_INET;
		/* IPv4 addresses use the first 4 of 16 bytes; the rest is zero. */
		if (!all_zero(rec + OFF_CLIENT + 4, 12) || !all_zero(rec + OFF_SERVER + 4, 12))
			return -1;
	} else if (rec[OFF_FAMILY] == 6) {
		family = AF_INET6;
	} else {
		return -1;
	}
	namelen = strnlen((const char *)name, SGC_LISTENER_MAX);
	if (namelen == SGC_LISTENER_MAX || !all_zero(name + namelen, SGC_LISTENER_MAX - namelen))
		return -1;

	get_addr(&out->client, family, rec + OFF_CLIENT, rec + OFF_CPORT);
	get_addr(&out->server, family, rec + OFF_SERVER, rec + OFF_SPORT);
	memset(out->listener, 0, sizeof(out->listener));
	memcpy(out->listener, name, namelen);
	return 0;
}

int sgc_recv(int sock, struct sgc_conn *out)
{
	unsigned char rec[SGC_RECORD_LEN];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * RECV_MAX_FDS)];
	} ctl;
	struct iovec iov = {.iov_base = rec, .iov_len = sizeof(rec)};
	struct msghdr msg = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = ctl.buf,
	    .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *cm;
	int fd = -1, nfds = 0, bad = 0;
	ssize_t n;

	n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -1;

	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
			bad = 1;
			continue;
		}
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int f;

			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (nfds++ == 0)
				fd = f;
			else
				close(f);
		}
	}
	if (n == 0 && nfds == 0) {
		errno = ECONNRESET;
		return -1;
	}
	if (bad || nfds != 1 || (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) ||
	    sgc_decode(rec, (size_t)n, out) < 0) {
		if (fd >= 0)
			close(fd);
		errno = EPROTO;
		return -1;
	}
	out->fd = fd;
	return 0;
}
