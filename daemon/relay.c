#define _GNU_SOURCE /* splice, pipe2, F_SETPIPE_SZ */
#include "relay.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "proxyproto.h"
#include "sockutil.h"

#define SPLICE_FLAGS (SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
/* Pipefuls one wake-up may move in one direction of one connection. */
#define RELAY_ROUNDS 4

enum { CLIENT = 0, BACKEND = 1 };

/* One direction: bytes read from fd[i] wait in the pipe until written to fd[1 - i]. */
struct dir {
	int pipe[2];
	size_t queued; /* bytes in the pipe */
	bool full;     /* the pipe refused more although we counted room (out of slots) */
	bool eof;      /* the source sent FIN */
	bool shut;     /* the destination is shut down for writing */
};

struct rconn {
	struct relay *r;
	struct rconn *prev, *next;
	struct acceptq_wait wait; /* in its listener's slot line, while waiting */
	struct stats_row *row;
	struct acceptq_conn ac; /* the tuple and the accounting; ac.fd is fd[CLIENT] */
	int fd[2];
	ev_io rd[2], wr[2];
	ev_timer timer;  /* connect timeout, then idle timeout */
	struct dir d[2]; /* d[CLIENT]: client -> backend, d[BACKEND]: backend -> client */
	ev_tstamp idle;  /* 0: none */
	ev_tstamp last;  /* last byte moved */
	bool connecting; /* holds a connect slot */
	bool counted;    /* in ST_ACTIVE_CONNECTIONS */
	uint8_t hdr_len, hdr_off;
	uint8_t hdr[PP_BUILD_MAX];
};

struct relay {
	struct ev_loop *loop;
	const struct conf *conf;
	struct stats_block *stats;
	struct rconn *conns;
	size_t n;
	bool closing; /* relay_free: start nothing new */
	bool kicking; /* starting waiting connections (see slot_freed) */
};

static void conn_connect(struct rconn *c);

static const char *conn_name(const struct rconn *c)
{
	return c->ac.h.q ? acceptq_name(c->ac.h.q) : "(removed)";
}

/* The index of c's listener in the relay's configuration; -1 once it was removed. */
static int conn_index(const struct rconn *c)
{
	return c->ac.h.q ? acceptq_index(c->ac.h.q) : -1;
}

/* The policy of c's listener; NULL once the listener was removed. */
static const struct conf_policy *conn_policy(const struct rconn *c)
{
	int idx = conn_index(c);

	if (idx < 0)
		return NULL;
	return conf_listener_policy(c->r->conf, (size_t)idx);
}

static bool conn_waiting(const struct rconn *c)
{
	return c->wait.linked;
}

static void wait_remove(struct rconn *c)
{
	if (conn_waiting(c))
		acceptq_fifo_remove(acceptq_slot_line(c->ac.h.q), &c->wait, ev_now(c->r->loop));
}

/*
 * A connect slot of accept queue q is free: the longest-waiting connections
 * take the free slots. A connect that fails at once frees its slot again
 * from inside this loop; `kicking` keeps that from recursing.
 */
static void slot_freed(struct relay *r, struct acceptq *q)
{
	struct acceptq_fifo *line = acceptq_slot_line(q);
	int idx = acceptq_index(q);
	uint32_t max;

	if (r->kicking || r->closing || idx < 0 ||
	    r->conf->listeners[idx].handoff != CONF_HANDOFF_PROXY)
		return;
	max = conf_listener_policy(r->conf, idx)->max_backend_connects;
	r->kicking = true;
	while (line->head && (max == 0 || acceptq_slots_used(q) < max)) {
		struct acceptq_wait *w = acceptq_fifo_pop(line, ev_now(r->loop));

		conn_connect((struct rconn *)((char *)w - offsetof(struct rconn, wait)));
	}
	r->kicking = false;
}

/* c gives back its connect slot and its place in the accept queue. */
static void conn_leave_queue(struct rconn *c)
{
	struct acceptq *q = c->ac.h.q;

	wait_remove(c);
	acceptq_leave(&c->ac.h);
	if (c->connecting && q) {
		c->connecting = false;
		acceptq_slot_give(q);
		slot_freed(c->r, q);
		return;
	}
	c->connecting = false;
}

static void io_set(struct ev_loop *loop, ev_io *w, bool on)
{
	if (on && !ev_is_active(w))
		ev_io_start(loop, w);
	else if (!on && ev_is_active(w))
		ev_io_stop(loop, w);
}

static void conn_free(struct rconn *c)
{
	struct relay *r = c->r;

	conn_leave_queue(c);
	acceptq_drop(&c->ac.h, &c->ac.t);
	for (int i = 0; i < 2; i++) {
		io_set(r->loop, &c->rd[i], false);
		io_set(r->loop, &c->wr[i], false);
		for (int k = 0; k < 2; k++)
			if (c->d[i].pipe[k] >= 0)
				close(c->d[i].pipe[k]);
	}
	ev_timer_stop(r->loop, &c->timer);
	if (c->counted)
		stats_dec(c->row, ST_ACTIVE_CONNECTIONS);
	if (c->prev)
		c->prev->next = c->next;
	else
		r->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	r->n--;
	free(c);
}

/* Resets both sides: an error on one, a timeout, or shutdown. */
static void conn_abort(struct rconn *c)
{
	sock_close_reset(c->fd[CLIENT]);
	sock_close_reset(c->fd[BACKEND]);
	conn_free(c);
}

/* Both directions finished cleanly: an ordinary close, FINs already sent. */
static void conn_close(struct rconn *c)
{
	close(c->fd[CLIENT]);
	close(c->fd[BACKEND]);
	conn_free(c);
}

static void connect_failed(struct rconn *c, const char *why, int err)
{
	stats_inc(c->row, ST_HANDOFF_FAILED);
	log_warnx_ratelimited(10, "relay: listener %s: backend %s: %s", conn_name(c), why,
	                      strerror(err));
	conn_abort(c);
}

/*
 * Moves what the pipe holds to the destination. Returns -1 when the
 * destination failed (the connection must be aborted).
 */
static int pump_out(struct rconn *c, int i)
{
	struct dir *d = &c->d[i];
	ssize_t n;

	if (d->queued == 0)
		return 0;
	n = splice(d->pipe[0], NULL, c->fd[1 - i], NULL, d->queued, SPLICE_FLAGS);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	d->queued -= (size_t)n;
	d->full = false;
	c->last = ev_now(c->r->loop);
	stats_add(c->row, i == CLIENT ? ST_BYTES_TO_BACKEND : ST_BYTES_TO_CLIENT, (uint64_t)n);
	return 0;
}

/*
 * Reads what the source has into the pipe and passes it on, again while the
 * destination takes everything and the source filled the room it was given
 * (a bulk stream: one wake-up moves several pipefuls), at most RELAY_ROUNDS
 * times so other connections get their turn.
 */
static int pump_in(struct rconn *c, int i)
{
	struct dir *d = &c->d[i];

	for (int round = 0; round < RELAY_ROUNDS; round++) {
		size_t room = RELAY_PIPE_SIZE - d->queued;
		ssize_t n;

		n = splice(c->fd[i], NULL, d->pipe[1], NULL, room, SPLICE_FLAGS);
		if (n == 0) {
			d->eof = true;
			return 0;
		}
		if (n < 0) {
			if (errno == EINTR)
				return 0;
			if (errno != EAGAIN)
				return -1;
			/* The socket was readable when we were woken, so EAGAIN in the
			 * first round means the pipe ran out of buffer slots before
			 * bytes: stop reading until it drains, or we would spin. */
			if (round == 0 && d->queued > 0)
				d->full = true;
			return 0;
		}
		d->queued += (size_t)n;
		c->last = ev_now(c->r->loop);
		if (pump_out(c, i) < 0)
			return -1;
		if (d->queued > 0 || (size_t)n < room)
			return 0; /* the destination is full, or the source ran dry */
	}
	return 0;
}

/*
 * Propagates finished directions and sets the watchers to what each side can
 * do now. Returns -1 when the connection is gone (closed or aborted).
 */
static int settle(struct rconn *c)
{
	struct ev_loop *loop = c->r->loop;
	bool header_pending = c->hdr_off < c->hdr_len;

	for (int i = 0; i < 2; i++) {
		struct dir *d = &c->d[i];

		if (d->eof && d->queued == 0 && !d->shut) {
			if (shutdown(c->fd[1 - i], SHUT_WR) < 0) {
				conn_abort(c);
				return -1;
			}
			d->shut = true;
		}
	}
	if (c->d[CLIENT].shut && c->d[BACKEND].shut) {
		conn_close(c);
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		const struct dir *d = &c->d[i];
		bool relaying = !c->connecting && !header_pending;

		io_set(loop, &c->rd[i],
		       relaying && !d->eof && !d->full && d->queued < RELAY_PIPE_SIZE);
		io_set(loop, &c->wr[i],
		       i == BACKEND && (c->connecting || header_pending) ? true
		                                                         : c->d[1 - i].queued > 0);
	}
	return 0;
}

static int send_header(struct rconn *c)
{
	while (c->hdr_off < c->hdr_len) {
		ssize_t n = send(c->fd[BACKEND], c->hdr + c->hdr_off, c->hdr_len - c->hdr_off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->hdr_off = (uint8_t)(c->hdr_off + n);
	}
	return 0;
}

static void connected(struct rconn *c)
{
	struct ev_loop *loop = c->r->loop;

	conn_leave_queue(c);
	c->counted = true;
	stats_inc(c->row, ST_HANDOFFS);
	stats_inc(c->row, ST_ACTIVE_CONNECTIONS);
	if (c->idle > 0) {
		c->last = ev_now(loop);
		c->timer.repeat = c->idle;
		ev_timer_again(loop, &c->timer);
	} else {
		ev_timer_stop(loop, &c->timer);
	}
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rconn *c = w->data;
	ev_tstamp left;

	(void)revents;
	if (c->connecting) {
		connect_failed(c, "connect", ETIMEDOUT);
		return;
	}
	left = c->last + c->idle - ev_now(loop);
	if (left <= 0) {
		conn_abort(c);
		return;
	}
	w->repeat = left;
	ev_timer_again(loop, w);
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct rconn *c = w->data;
	int i = w == &c->rd[CLIENT] ? CLIENT : BACKEND;

	(void)loop;
	(void)revents;
	if (pump_in(c, i) < 0) {
		conn_abort(c);
		return;
	}
	settle(c);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct rconn *c = w->data;
	int i = w == &c->wr[CLIENT] ? CLIENT : BACKEND;

	(void)loop;
	(void)revents;
	if (i == BACKEND && c->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->fd[BACKEND], SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err == EINPROGRESS)
			return;
		if (err) {
			connect_failed(c, "connect", err);
			return;
		}
		connected(c);
	}
	if (i == BACKEND && c->hdr_off < c->hdr_len) {
		if (send_header(c) < 0) {
			conn_abort(c);
			return;
		}
	} else if (pump_out(c, 1 - i) < 0) {
		conn_abort(c);
		return;
	}
	settle(c);
}

static int make_pipe(int p[2])
{
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	/* Ask for the size we account for; if the kernel gives less (the
	 * per-user pipe limit), EAGAIN on a full pipe covers the difference. */
	(void)fcntl(p[1], F_SETPIPE_SZ, RELAY_PIPE_SIZE);
	return 0;
}

/* Starts the backend connect (the connection holds a connect slot from here on). */
static void conn_connect(struct rconn *c)
{
	struct relay *r = c->r;
	int idx = conn_index(c);
	const struct conf_listener *l;

	if (idx < 0) {
		connect_failed(c, "connect", ENOENT); /* the listener was removed meanwhile */
		return;
	}
	l = &r->conf->listeners[idx];
	c->connecting = true;
	(void)acceptq_slot_take(c->ac.h.q, 0);
	if (l->proxy_protocol == 1)
		c->hdr_len = (uint8_t)pp_build_v1((char *)c->hdr, sizeof(c->hdr), &c->ac.t);
	else if (l->proxy_protocol == 2)
		c->hdr_len = (uint8_t)pp_build_v2(c->hdr, sizeof(c->hdr), &c->ac.t);
	if (l->proxy_protocol && c->hdr_len == 0) {
		connect_failed(c, "PROXY header", EAFNOSUPPORT);
		return;
	}

	c->fd[BACKEND] =
	    socket(l->backend.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd[BACKEND] < 0) {
		connect_failed(c, "socket", errno);
		return;
	}
	sock_keepalive(c->fd[BACKEND], &conn_policy(c)->keepalive);
	sock_nodelay(c->fd[BACKEND]);
	for (int i = 0; i < 2; i++) {
		ev_io_init(&c->rd[i], on_read, c->fd[i], EV_READ);
		ev_io_init(&c->wr[i], on_write, c->fd[i], EV_WRITE);
		c->rd[i].data = c->wr[i].data = c;
	}
	if (connect(c->fd[BACKEND], (const struct sockaddr *)&l->backend, l->backend_len) < 0 &&
	    errno != EINPROGRESS) {
		connect_failed(c, "connect", errno);
		return;
	}
	/* Even an immediate success is finished in on_write, one path for both. */
	c->timer.repeat = RELAY_CONNECT_TIMEOUT;
	ev_timer_again(r->loop, &c->timer);
	settle(c);
}

/* Seconds a connection may wait for a connect slot. */
static double slot_timeout(const struct conf_policy *pol)
{
	return pol->accept_timeout ? pol->accept_timeout : RELAY_CONNECT_TIMEOUT;
}

static void on_slot_expired(struct acceptq_fifo *f, struct acceptq_wait *w, void *arg)
{
	struct rconn *c = (struct rconn *)((char *)w - offsetof(struct rconn, wait));

	(void)f;
	(void)arg;
	stats_inc(c->row, ST_ACCEPT_TIMEOUT);
	stats_inc(c->row, ST_HANDOFF_FAILED);
	log_warnx_ratelimited(10,
	                      "relay: listener %s: no backend connect slot within the "
	                      "accept timeout: client reset",
	                      conn_name(c));
	conn_abort(c);
}

void relay_start(struct relay *r, const struct acceptq_conn *ac, size_t idx)
{
	const struct conf_listener *l = &r->conf->listeners[idx];
	const struct conf_policy *pol = &r->conf->policies[l->policy];
	struct stats_row *row = &r->stats->rows[idx];
	struct rconn *c = calloc(1, sizeof(*c));
	struct acceptq *q = ac->h.q;
	int fl;

	if (!c) {
		struct acceptq_conn lost = *ac;

		stats_inc(row, ST_HANDOFF_FAILED);
		sock_close_reset(lost.fd);
		acceptq_drop(&lost.h, &lost.t);
		log_warnx_ratelimited(10, "relay: out of memory");
		return;
	}
	c->r = r;
	c->row = row;
	c->ac = *ac;
	c->fd[CLIENT] = ac->fd;
	c->fd[BACKEND] = -1;
	c->d[0].pipe[0] = c->d[0].pipe[1] = c->d[1].pipe[0] = c->d[1].pipe[1] = -1;
	c->idle = pol->idle_timeout;
	c->next = r->conns;
	if (r->conns)
		r->conns->prev = c;
	r->conns = c;
	r->n++;
	ev_init(&c->timer, on_timer);
	c->timer.data = c;

	fl = fcntl(c->fd[CLIENT], F_GETFL);
	if (fl < 0 || fcntl(c->fd[CLIENT], F_SETFL, fl | O_NONBLOCK) < 0 ||
	    make_pipe(c->d[0].pipe) < 0 || make_pipe(c->d[1].pipe) < 0) {
		connect_failed(c, "relay setup", errno);
		return;
	}
	sock_keepalive(c->fd[CLIENT], &pol->keepalive);
	sock_nodelay(c->fd[CLIENT]);

	if (pol->max_backend_connects && acceptq_slots_used(q) >= pol->max_backend_connects) {
		/* every connect slot is taken: wait in line, bounded in time */
		struct acceptq_fifo *line = acceptq_slot_line(q);

		if (!line->expired)
			acceptq_fifo_init(line, r->loop, slot_timeout(pol), on_slot_expired, r);
		acceptq_fifo_set_timeout(line, slot_timeout(pol), ev_now(r->loop));
		acceptq_fifo_push(line, &c->wait, ev_now(r->loop));
		return;
	}
	conn_connect(c);
}

void relay_listener_removed(struct relay *r, struct acceptq *q)
{
	struct rconn *c = r->conns, *next;

	for (; c; c = next) {
		next = c->next;
		if (c->ac.h.q != q)
			continue;
		if (conn_waiting(c)) {
			stats_inc(c->row, ST_HANDOFF_FAILED);
			conn_abort(c);
			continue;
		}
		/* The rest goes on without its listener: settle the accounts now. */
		if (c->connecting) {
			c->connecting = false;
			acceptq_slot_give(q);
		}
		acceptq_drop(&c->ac.h, &c->ac.t);
		c->ac.h.q = NULL;
	}
	/* conn_abort of the waiting may have unlinked entries; next was read before */
}

void relay_reconfigure(struct relay *r, const struct conf *conf, struct stats_block *stats)
{
	struct rconn *c, *next;

	r->conf = conf;
	r->stats = stats;
	for (c = r->conns; c; c = c->next) {
		int idx = conn_index(c);

		c->row = &stats->rows[idx < 0 ? conf->n_listeners : (size_t)idx];
	}
	/* A listener that is pass-fd now (same name): its connections still waiting for a
	 * connect slot have no proxy backend any more. */
	for (c = r->conns; c; c = next) {
		int idx = conn_index(c);

		next = c->next;
		if (!conn_waiting(c) || idx < 0)
			continue;
		if (conf->listeners[idx].handoff != CONF_HANDOFF_PROXY) {
			stats_inc(c->row, ST_HANDOFF_FAILED);
			conn_abort(c);
			continue;
		}
		/* a new accept_timeout applies to those already waiting too */
		acceptq_fifo_set_timeout(acceptq_slot_line(c->ac.h.q),
		                         slot_timeout(conf_listener_policy(conf, idx)),
		                         ev_now(r->loop));
	}
}

struct relay *relay_new(struct ev_loop *loop, const struct conf *conf, struct stats_block *stats)
{
	struct relay *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->loop = loop;
	r->conf = conf;
	r->stats = stats;
	return r;
}

void relay_free(struct relay *r)
{
	if (!r)
		return;
	r->closing = true;
	while (r->conns)
		conn_abort(r->conns);
	free(r);
}

size_t relay_count(const struct relay *r)
{
	return r->n;
}
