#define _GNU_SOURCE /* accept4 */
#include "passfd.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "synguard_client.h"

#define PASSFD_MODE 0660

struct pbackend {
	struct passfd *p;
	int fd;
	ev_io w;  /* readable: the backend left (it never sends anything) */
	ev_io wr; /* writable again, while connections wait */
};

/* A connection waiting for a backend. */
struct pwait {
	struct pwait *next;
	struct handoff_conn c;
	ev_tstamp since;
};

struct passfd {
	struct ev_loop *loop;
	const struct conf_listener *l;
	const struct conf_policy *pol;
	struct stats_row *row;
	struct pwait *wait_head, *wait_tail;
	size_t n_wait;
	ev_timer wait_timer;
	int lfd;
	ev_io accept_w;
	struct sockaddr_un sun;
	socklen_t sun_len;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1]; /* "" when abstract */
	bool on_disk; /* a filesystem socket (not abstract) that we created */
	dev_t dev;    /* ... identified so we never remove someone else's */
	ino_t ino;
	struct pbackend *b[PASSFD_BACKENDS_MAX];
	size_t n;
	size_t next; /* round-robin position */
};

static void flush(struct passfd *p);

static void backend_drop(struct passfd *p, size_t i, const char *why)
{
	struct pbackend *b = p->b[i];

	ev_io_stop(p->loop, &b->w);
	ev_io_stop(p->loop, &b->wr);
	close(b->fd);
	free(b);
	p->b[i] = p->b[--p->n];
	p->b[p->n] = NULL;
	log_info("pass-fd %s: backend %s (%zu connected)", p->l->name, why, p->n);
}

static size_t backend_index(const struct passfd *p, const struct pbackend *b)
{
	size_t i = 0;

	while (p->b[i] != b)
		i++;
	return i;
}

static void on_backend(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pbackend *b = w->data;
	char buf[256];
	ssize_t n;

	(void)loop;
	(void)revents;
	/* Backends have nothing to tell us yet: read only to notice them leave. */
	n = recv(b->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n == 0)
		backend_drop(b->p, backend_index(b->p, b), "disconnected");
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		backend_drop(b->p, backend_index(b->p, b), "failed");
}

static void on_backend_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pbackend *b = w->data;

	(void)revents;
	ev_io_stop(loop, w);
	flush(b->p);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct passfd *p = w->data;

	(void)revents;
	for (;;) {
		int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct pbackend *b;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("pass-fd %s: accept", p->l->name);
			return;
		}
		if (p->n == PASSFD_BACKENDS_MAX || !(b = calloc(1, sizeof(*b)))) {
			log_warnx("pass-fd %s: backend refused: %d already connected", p->l->name,
			          PASSFD_BACKENDS_MAX);
			close(fd);
			continue;
		}
		b->p = p;
		b->fd = fd;
		ev_io_init(&b->w, on_backend, fd, EV_READ);
		b->w.data = b;
		ev_io_start(loop, &b->w);
		ev_io_init(&b->wr, on_backend_writable, fd, EV_WRITE);
		b->wr.data = b;
		p->b[p->n++] = b;
		log_info("pass-fd %s: backend connected (%zu connected, %zu connections waiting)",
		         p->l->name, p->n, p->n_wait);
		flush(p);
	}
}

static void to_sockaddr(struct sockaddr_storage *ss, int family, const uint8_t *addr, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, addr, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, addr, 16);
	}
}

/* One record with the fd attached. Returns what sendmsg returns. */
static ssize_t send_record(int sock, const unsigned char *rec, int fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {.iov_base = (void *)rec, .iov_len = SGC_RECORD_LEN};
	struct msghdr msg = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = ctl.buf,
	    .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *cm;

	memset(&ctl, 0, sizeof(ctl));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Drops a connection for good: reset, counted, accounts settled. */
static void give_up(struct passfd *p, struct handoff_conn *c)
{
	handoff_reset_fd(c->fd);
	stats_inc(p->row, ST_HANDOFF_FAILED);
	handoff_conn_dequeued(c, p->row);
	handoff_conn_closed(c);
}

/*
 * Offers c to each connected backend once, starting where the last
 * connection left off; one that is merely full is skipped (and watched until
 * it drains), not dropped. True when a backend took it (c->fd is closed).
 */
static bool deliver(struct passfd *p, struct handoff_conn *c)
{
	unsigned char rec[SGC_RECORD_LEN];
	struct sgc_conn sc;

	memset(&sc, 0, sizeof(sc));
	to_sockaddr(&sc.client, c->t.family, c->t.saddr, c->t.sport);
	to_sockaddr(&sc.server, c->t.family, c->t.daddr, c->t.dport);
	snprintf(sc.listener, sizeof(sc.listener), "%s", p->l->name);
	if (sgc_encode(rec, &sc) != SGC_RECORD_LEN)
		return false;

	for (size_t tries = p->n; tries > 0 && p->n > 0; tries--) {
		size_t i = p->next++ % p->n;
		ssize_t n = send_record(p->b[i]->fd, rec, c->fd);

		if (n == SGC_RECORD_LEN) {
			close(c->fd);
			stats_inc(p->row, ST_HANDOFFS);
			handoff_conn_dequeued(c, p->row);
			handoff_conn_closed(c); /* the backend's now, out of our sight */
			return true;
		}
		if (n >= 0) {
			/* A split record cannot happen on a Unix stream socket
			 * for so small a message; if it did, the stream is lost. */
			backend_drop(p, i, "lost a record");
		} else if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN) {
			backend_drop(p, i, "disconnected");
		} else if (errno == EAGAIN) {
			if (!ev_is_active(&p->b[i]->wr))
				ev_io_start(p->loop, &p->b[i]->wr);
		} else {
			log_warnx_ratelimited(10, "pass-fd %s: sendmsg: %s", p->l->name,
			                      strerror(errno));
		}
	}
	return false;
}

static void wait_timer_arm(struct passfd *p)
{
	ev_tstamp left;

	if (!p->wait_head) {
		ev_timer_stop(p->loop, &p->wait_timer);
		return;
	}
	left = p->wait_head->since + p->pol->accept_timeout - ev_now(p->loop);
	p->wait_timer.repeat = left > 0.001 ? left : 0.001;
	ev_timer_again(p->loop, &p->wait_timer);
}

static struct pwait *wait_pop(struct passfd *p)
{
	struct pwait *w = p->wait_head;

	p->wait_head = w->next;
	if (!p->wait_head)
		p->wait_tail = NULL;
	p->n_wait--;
	return w;
}

/* Gives waiting connections, oldest first, to whichever backend takes them. */
static void flush(struct passfd *p)
{
	while (p->wait_head && deliver(p, &p->wait_head->c))
		free(wait_pop(p));
	wait_timer_arm(p);
}

static void on_wait_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct passfd *p = w->data;
	ev_tstamp now = ev_now(loop);
	size_t expired = 0;

	(void)revents;
	while (p->wait_head && p->wait_head->since + p->pol->accept_timeout <= now + 0.0005) {
		struct pwait *x = wait_pop(p);

		stats_inc(p->row, ST_ACCEPT_TIMEOUT);
		give_up(p, &x->c);
		free(x);
		expired++;
	}
	if (expired)
		log_warnx_ratelimited(10,
		                      "pass-fd %s: %zu connection(s) waited %u s for a backend: "
		                      "reset (%zu backends connected)",
		                      p->l->name, expired, p->pol->accept_timeout, p->n);
	wait_timer_arm(p);
}

void passfd_send(struct passfd *p, const struct handoff_conn *conn)
{
	struct handoff_conn c = *conn;
	struct pwait *w;

	handoff_keepalive(c.fd, &p->pol->keepalive);
	if (!p->wait_head && deliver(p, &c))
		return;
	if (p->pol->accept_timeout == 0 || p->n_wait >= p->pol->accept_backlog ||
	    !(w = calloc(1, sizeof(*w)))) {
		if (p->pol->accept_timeout && p->n_wait >= p->pol->accept_backlog)
			stats_inc(p->row, ST_ACCEPT_OVERFLOW);
		if (p->n == 0)
			log_warnx_ratelimited(
			    10, "pass-fd %s: no backend connected: resetting clients", p->l->name);
		give_up(p, &c);
		return;
	}
	if (p->n == 0)
		log_warnx_ratelimited(10,
		                      "pass-fd %s: no backend connected: clients wait up to %u s",
		                      p->l->name, p->pol->accept_timeout);
	w->c = c;
	w->since = ev_now(p->loop);
	if (p->wait_tail)
		p->wait_tail->next = w;
	else
		p->wait_head = w;
	p->wait_tail = w;
	p->n_wait++;
	if (!ev_is_active(&p->wait_timer))
		wait_timer_arm(p);
}

void passfd_update(struct passfd *p, const struct conf_listener *l, const struct conf_policy *pol,
                   struct stats_row *row)
{
	p->l = l;
	p->pol = pol;
	p->row = row;
	wait_timer_arm(p); /* the timeout may have changed */
}

size_t passfd_waiting(const struct passfd *p)
{
	return p->n_wait;
}

/*
 * Clears the way for our socket: nothing there, or a socket nobody serves
 * (a daemon that died without cleaning up). A live one or a non-socket is
 * left alone and reported.
 */
static int clear_stale(const struct passfd *p, char *err, size_t errlen)
{
	const char *path = p->path;
	struct stat st;
	int s, r, e;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s: exists and is not a socket", path);
		return -1;
	}
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	r = connect(s, (const struct sockaddr *)&p->sun, p->sun_len);
	e = errno;
	close(s);
	if (r == 0) {
		snprintf(err, errlen, "%s: in use by another process", path);
		return -1;
	}
	if (e != ECONNREFUSED) {
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: cannot remove stale socket: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

struct passfd *passfd_new(struct ev_loop *loop, const struct conf_listener *l,
                          const struct conf_policy *pol, struct stats_row *row, char *err,
                          size_t errlen)
{
	struct passfd *p;
	struct stat st;

	if (l->backend.ss_family != AF_UNIX ||
	    l->backend_len <= offsetof(struct sockaddr_un, sun_path) ||
	    l->backend_len > sizeof(struct sockaddr_un)) {
		snprintf(err, errlen, "pass-fd needs a unix: backend path");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->loop = loop;
	p->l = l;
	p->pol = pol;
	p->row = row;
	p->lfd = -1;
	ev_init(&p->wait_timer, on_wait_timer);
	p->wait_timer.data = p;
	memcpy(&p->sun, &l->backend, l->backend_len);
	p->sun_len = l->backend_len;
	/* sun_path need not be NUL terminated when it is full */
	memcpy(p->path, p->sun.sun_path,
	       strnlen(p->sun.sun_path, p->sun_len - offsetof(struct sockaddr_un, sun_path)));

	if (p->path[0] != '\0' && clear_stale(p, err, errlen) < 0)
		goto fail;
	p->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->lfd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	/* The file is created with the socket inode's mode (less the umask):
	 * set it first so the socket is never reachable with wider access. */
	(void)fchmod(p->lfd, PASSFD_MODE);
	if (bind(p->lfd, (const struct sockaddr *)&p->sun, p->sun_len) < 0) {
		snprintf(err, errlen, "bind %s: %s", p->path, strerror(errno));
		goto fail;
	}
	if (p->path[0] != '\0') {
		if (lstat(p->path, &st) == 0) {
			p->on_disk = true;
			p->dev = st.st_dev;
			p->ino = st.st_ino;
		}
		if (chmod(p->path, PASSFD_MODE) < 0) {
			snprintf(err, errlen, "chmod %s: %s", p->path, strerror(errno));
			goto fail;
		}
	}
	if (listen(p->lfd, 64) < 0) {
		snprintf(err, errlen, "listen %s: %s", p->path, strerror(errno));
		goto fail;
	}
	ev_io_init(&p->accept_w, on_accept, p->lfd, EV_READ);
	p->accept_w.data = p;
	ev_io_start(loop, &p->accept_w);
	return p;
fail:
	passfd_free(p);
	return NULL;
}

void passfd_free(struct passfd *p)
{
	struct stat st;

	if (!p)
		return;
	while (p->wait_head) {
		struct pwait *w = wait_pop(p);

		give_up(p, &w->c);
		free(w);
	}
	ev_timer_stop(p->loop, &p->wait_timer);
	while (p->n > 0)
		backend_drop(p, p->n - 1, "closed");
	if (ev_is_active(&p->accept_w))
		ev_io_stop(p->loop, &p->accept_w);
	if (p->lfd >= 0)
		close(p->lfd);
	/* Only our own file: a later daemon may already have replaced it. */
	if (p->on_disk && lstat(p->path, &st) == 0 && st.st_dev == p->dev && st.st_ino == p->ino)
		unlink(p->path);
	free(p);
}

size_t passfd_backends(const struct passfd *p)
{
	return p->n;
}
