#define _GNU_SOURCE /* accept4 */
#include "passfd.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sockutil.h"
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
	struct acceptq_wait w;
	struct acceptq_conn c;
};

struct passfd {
	struct ev_loop *loop;
	const struct conf_listener *l;
	const struct conf_policy *pol;
	struct stats_row *row;
	struct acceptq_fifo line; /* connections waiting for a backend */
	int lfd;
	ev_io accept_w;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1]; /* "" when abstract */
	struct stat st; /* our socket file, so we never remove someone else's */
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
		         p->l->name, p->n, p->line.n);
		flush(p);
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
static void give_up(struct passfd *p, struct acceptq_conn *c)
{
	sock_close_reset(c->fd);
	stats_inc(p->row, ST_HANDOFF_FAILED);
	acceptq_drop(&c->h, &c->t);
}

/*
 * Offers c to each connected backend once, starting where the last
 * connection left off; one that is merely full is skipped (and watched until
 * it drains), not dropped. True when a backend took it (c->fd is closed).
 */
static bool deliver(struct passfd *p, struct acceptq_conn *c)
{
	unsigned char rec[SGC_RECORD_LEN];
	struct sgc_conn sc;

	memset(&sc, 0, sizeof(sc));
	(void)sock_addr_from_tuple(&sc.client, &c->t, false);
	(void)sock_addr_from_tuple(&sc.server, &c->t, true);
	snprintf(sc.listener, sizeof(sc.listener), "%s", p->l->name);
	if (sgc_encode(rec, &sc) != SGC_RECORD_LEN)
		return false;

	for (size_t tries = p->n; tries > 0 && p->n > 0; tries--) {
		size_t i = p->next++ % p->n;
		ssize_t n = send_record(p->b[i]->fd, rec, c->fd);

		if (n == SGC_RECORD_LEN) {
			close(c->fd);
			stats_inc(p->row, ST_HANDOFFS);
			acceptq_drop(&c->h, &c->t); /* the backend's now, out of our sight */
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

static struct pwait *pwait_of(struct acceptq_wait *w)
{
	return (struct pwait *)((char *)w - offsetof(struct pwait, w));
}

/* Gives waiting connections, oldest first, to whichever backend takes them. */
static void flush(struct passfd *p)
{
	while (p->line.head && deliver(p, &pwait_of(p->line.head)->c))
		free(pwait_of(acceptq_fifo_pop(&p->line, ev_now(p->loop))));
}

static void on_wait_expired(struct acceptq_fifo *f, struct acceptq_wait *w, void *arg)
{
	struct passfd *p = arg;
	struct pwait *x = pwait_of(w);

	(void)f;
	stats_inc(p->row, ST_ACCEPT_TIMEOUT);
	give_up(p, &x->c);
	free(x);
	log_warnx_ratelimited(10,
	                      "pass-fd %s: connection waited %u s for a backend: reset (%zu "
	                      "backends connected)",
	                      p->l->name, p->pol->accept_timeout, p->n);
}

void passfd_send(struct passfd *p, const struct acceptq_conn *conn)
{
	struct acceptq_conn c = *conn;
	struct pwait *w;

	sock_keepalive(c.fd, &p->pol->keepalive);
	if (!p->line.head && deliver(p, &c))
		return;
	if (p->pol->accept_timeout == 0 || p->line.n >= p->pol->accept_backlog ||
	    !(w = calloc(1, sizeof(*w)))) {
		if (p->pol->accept_timeout && p->line.n >= p->pol->accept_backlog)
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
	acceptq_fifo_push(&p->line, &w->w, ev_now(p->loop));
}

void passfd_requeue(struct passfd *p, struct acceptq *from, struct acceptq *to)
{
	for (struct acceptq_wait *w = p->line.head; w; w = w->next) {
		struct acceptq_conn *c = &pwait_of(w)->c;

		if (c->h.q != from)
			continue;
		acceptq_drop(&c->h, &c->t);
		memset(&c->h, 0, sizeof(c->h));
		acceptq_enter(to, &c->h);
	}
}

void passfd_update(struct passfd *p, const struct conf_listener *l, const struct conf_policy *pol,
                   struct stats_row *row)
{
	p->l = l;
	p->pol = pol;
	p->row = row;
	/* the connections already waiting get the new timeout too */
	acceptq_fifo_set_timeout(&p->line, pol->accept_timeout, ev_now(p->loop));
}

size_t passfd_waiting(const struct passfd *p)
{
	return p->line.n;
}

struct passfd *passfd_new(struct ev_loop *loop, const struct conf_listener *l,
                          const struct conf_policy *pol, struct stats_row *row, char *err,
                          size_t errlen)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&l->backend;
	struct passfd *p;

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
	acceptq_fifo_init(&p->line, loop, pol->accept_timeout, on_wait_expired, p);
	/* sun_path need not be NUL terminated when it is full */
	memcpy(p->path, sun->sun_path,
	       strnlen(sun->sun_path, l->backend_len - offsetof(struct sockaddr_un, sun_path)));
	p->lfd = sock_unix_listen(sun, l->backend_len, PASSFD_MODE, 64, &p->st, err, errlen);
	if (p->lfd < 0) {
		free(p);
		return NULL;
	}
	ev_io_init(&p->accept_w, on_accept, p->lfd, EV_READ);
	p->accept_w.data = p;
	ev_io_start(loop, &p->accept_w);
	return p;
}

void passfd_free(struct passfd *p)
{
	if (!p)
		return;
	while (p->line.head) {
		struct pwait *w = pwait_of(acceptq_fifo_pop(&p->line, ev_now(p->loop)));

		give_up(p, &w->c);
		free(w);
	}
	acceptq_fifo_fini(&p->line);
	while (p->n > 0)
		backend_drop(p, p->n - 1, "closed");
	if (ev_is_active(&p->accept_w))
		ev_io_stop(p->loop, &p->accept_w);
	if (p->lfd >= 0)
		close(p->lfd);
	/* Only our own file: a later daemon may already have replaced it. */
	sock_unix_unlink(p->path, &p->st);
	free(p);
}

size_t passfd_backends(const struct passfd *p)
{
	return p->n;
}
