#define _GNU_SOURCE /* accept4 */
#include "reqsrv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

struct reqsrv_client {
	struct reqsrv *s;
	struct reqsrv_client *next;
	uint64_t id;
	bool deferred; /* the answer is built, but not complete yet */
	int fd;
	ev_io io;
	ev_timer timer;
	size_t req_len;
	char *out; /* the answer, from open_memstream */
	size_t out_len;
	size_t out_off;
	char req[]; /* req_max + 1 */
};

struct reqsrv {
	struct ev_loop *loop;
	int fd;
	struct reqsrv_params p;
	struct reqsrv_ops ops;
	void *ctx;
	ev_io accept_io;
	struct reqsrv_client *clients;
	size_t n_clients;
	uint64_t last_id;
	struct reqsrv_client *answering; /* inside ops.answer */
};

static void client_close(struct reqsrv_client *cl)
{
	struct reqsrv *s = cl->s;
	struct reqsrv_client **pp;

	ev_io_stop(s->loop, &cl->io);
	ev_timer_stop(s->loop, &cl->timer);
	close(cl->fd);
	free(cl->out);
	for (pp = &s->clients; *pp; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	s->n_clients--;
	free(cl);
}

static void client_write(struct reqsrv_client *cl)
{
	while (cl->out_off < cl->out_len) {
		ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return; /* the write watcher calls again */
			client_close(cl);
			return;
		}
		cl->out_off += (size_t)n;
	}
	client_close(cl);
}

static void client_answer(struct reqsrv_client *cl, bool full)
{
	struct reqsrv *s = cl->s;
	FILE *out = open_memstream(&cl->out, &cl->out_len);

	if (!out) {
		log_warn("%s: open_memstream", s->p.name);
		client_close(cl);
		return;
	}
	cl->req[cl->req_len] = '\0';
	s->answering = cl;
	s->ops.answer(s->ctx, cl->req, cl->req_len, full, out);
	s->answering = NULL;
	if (fclose(out) != 0) {
		log_warn("%s: building the answer", s->p.name);
		client_close(cl);
		return;
	}
	ev_io_stop(s->loop, &cl->io);
	if (cl->deferred)
		return; /* reqsrv_finish sends it */
	ev_io_set(&cl->io, cl->fd, EV_WRITE);
	ev_io_start(s->loop, &cl->io);
	client_write(cl);
}

static void client_read(struct reqsrv_client *cl)
{
	struct reqsrv *s = cl->s;

	for (;;) {
		size_t room = s->p.req_max - cl->req_len;
		bool eof = false, full;
		ssize_t n = 0;

		if (room > 0) {
			n = recv(cl->fd, cl->req + cl->req_len, room, MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					client_close(cl);
				return;
			}
			eof = n == 0;
			cl->req_len += (size_t)n;
		}
		full = cl->req_len == s->p.req_max;
		switch (s->ops.judge(s->ctx, cl->req, cl->req_len, eof, full)) {
		case REQSRV_ANSWER:
			client_answer(cl, full);
			return;
		case REQSRV_MORE:
			if (!eof && !full)
				continue;
			client_close(cl); /* nothing more can come */
			return;
		case REQSRV_DROP:
			client_close(cl);
			return;
		}
	}
}

static void client_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct reqsrv_client *cl = w->data;

	(void)loop;
	if (revents & EV_READ)
		client_read(cl);
	else if (revents & EV_WRITE)
		client_write(cl);
}

static void client_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	client_close(w->data);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct reqsrv *s = w->data;

	(void)revents;
	for (;;) {
		struct reqsrv_client *cl;
		int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warnx_ratelimited(10, "%s: accept: %s", s->p.name,
				                      strerror(errno));
			return;
		}
		if (s->n_clients >= s->p.clients_max) {
			(void)!send(fd, s->p.busy, strlen(s->p.busy), MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		cl = calloc(1, sizeof(*cl) + s->p.req_max + 1);
		if (!cl) {
			close(fd);
			continue;
		}
		cl->s = s;
		cl->id = ++s->last_id;
		cl->fd = fd;
		cl->next = s->clients;
		s->clients = cl;
		s->n_clients++;
		ev_io_init(&cl->io, client_io_cb, fd, EV_READ);
		cl->io.data = cl;
		ev_timer_init(&cl->timer, client_timeout_cb, s->p.timeout, 0.);
		cl->timer.data = cl;
		ev_io_start(loop, &cl->io);
		ev_timer_start(loop, &cl->timer);
	}
}

struct reqsrv *reqsrv_new(struct ev_loop *loop, int listen_fd, const struct reqsrv_params *p,
                          const struct reqsrv_ops *ops, void *ctx)
{
	struct reqsrv *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->loop = loop;
	s->fd = listen_fd;
	s->p = *p;
	s->ops = *ops;
	s->ctx = ctx;
	ev_io_init(&s->accept_io, accept_cb, listen_fd, EV_READ);
	s->accept_io.data = s;
	ev_io_start(loop, &s->accept_io);
	return s;
}

uint64_t reqsrv_current(const struct reqsrv *s)
{
	return s->answering ? s->answering->id : 0;
}

void reqsrv_defer(struct reqsrv *s, double timeout)
{
	struct reqsrv_client *cl = s->answering;

	if (!cl)
		return;
	cl->deferred = true;
	ev_timer_stop(s->loop, &cl->timer);
	ev_timer_set(&cl->timer, timeout, 0.);
	ev_timer_start(s->loop, &cl->timer);
}

int reqsrv_finish(struct reqsrv *s, uint64_t id, const char *text)
{
	struct reqsrv_client *cl;
	size_t len = strlen(text);
	char *out;

	for (cl = s->clients; cl && cl->id != id; cl = cl->next)
		;
	if (!cl || !cl->deferred)
		return -1;
	out = realloc(cl->out, cl->out_len + len + 1);
	if (!out) {
		log_warnx("%s: out of memory for an answer", s->p.name);
		client_close(cl);
		return -1;
	}
	memcpy(out + cl->out_len, text, len + 1);
	cl->out = out;
	cl->out_len += len;
	cl->deferred = false;
	ev_io_set(&cl->io, cl->fd, EV_WRITE);
	ev_io_start(s->loop, &cl->io);
	client_write(cl);
	return 0;
}

void reqsrv_free(struct reqsrv *s)
{
	if (!s)
		return;
	while (s->clients)
		client_close(s->clients);
	ev_io_stop(s->loop, &s->accept_io);
	free(s);
}
