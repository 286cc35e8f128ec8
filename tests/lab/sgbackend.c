/*
 * sgbackend: a test backend for synguard's integration tests and lab.
 *
 * It takes connections from a TCP listener (optionally behind a PROXY
 * protocol header, as synguard's proxy handoff sends them) or from a
 * synguard pass-fd socket, and serves each one in a fixed, checkable way:
 * http, echo, sink (byte count + FNV-1a 64 of what arrived) or source (a
 * deterministic byte pattern). One libev loop, non-blocking sockets, no
 * limit on concurrent connections but the fd limit. See usage() below.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxyproto.h"
#include "synguard_client.h"

#define CONN_BUF 4096
#define LINGER_S 10.0 /* how long a finished connection waits for the client's FIN */
#define ADDR_MAX (INET6_ADDRSTRLEN + 8)

enum mode { MODE_HTTP, MODE_ECHO, MODE_SINK, MODE_SOURCE };

enum phase {
	PH_PROXY, /* reading the PROXY header */
	PH_SERVE, /* the mode's work */
	PH_FLUSH, /* writing the last bytes, then half-close */
	PH_DRAIN, /* our side is done: discard input until the client's FIN */
};

struct opts {
	const char *listen;
	const char *passfd;
	const char *log;
	int proxy_protocol;
	enum mode mode;
	uint64_t source_len;
	uint64_t pace; /* bytes/s per connection, 0: as fast as it goes */
	bool quiet;
};

struct conn {
	int fd;
	ev_io io;
	ev_timer linger;
	enum phase ph;
	bool eof;           /* the client sent FIN */
	char who[ADDR_MAX]; /* the client as this backend knows it */
	uint64_t in, out;   /* payload bytes */
	uint64_t fnv;       /* sink */
	size_t len, off;    /* buf: bytes held, bytes already written */
	uint8_t buf[CONN_BUF];
};

static struct opts opt;
static FILE *log_out;
static struct ev_loop *loop;
static int listen_fd = -1, passfd_sock = -1;
static ev_io listen_w, passfd_w;
static ev_timer retry_w;
static uint8_t scratch[65536];

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: sgbackend (--listen ADDR:PORT | --passfd PATH) [options] MODE\n"
	    "\n"
	    "Where connections come from:\n"
	    "  --listen ADDR:PORT    plain TCP listener (IPv6 as [ADDR]:PORT)\n"
	    "  --passfd PATH         connect to synguard's pass-fd socket and serve the\n"
	    "                        connections it hands over (reconnects if it goes away)\n"
	    "  --proxy-protocol 1|2  with --listen: every connection must start with a PROXY\n"
	    "                        header of exactly this version; a missing, malformed or\n"
	    "                        other-version header is logged and the connection reset\n"
	    "  --pace BYTES_PER_S    send at most this fast per connection (the kernel's\n"
	    "                        pacing, SO_MAX_PACING_RATE): a steady stream whose\n"
	    "                        gaps show a stall downstream\n"
	    "Output:\n"
	    "  --log FILE            write the log here instead of stdout (appends)\n"
	    "  --quiet               no line per connection\n"
	    "\n"
	    "MODE, per connection:\n"
	    "  http        read a request up to the blank line; answer GET with\n"
	    "              \"HTTP/1.0 200 OK\" and the body \"client=ADDR:PORT\\n\" (the client\n"
	    "              as this backend sees it: PROXY header, pass-fd peer or TCP peer);\n"
	    "              other methods get 405, an over-long request 431\n"
	    "  echo        send back everything received; when the client half-closes,\n"
	    "              finish sending and close\n"
	    "  sink        read until the client half-closes, then answer\n"
	    "              \"bytes=N fnv1a64=HHHHHHHHHHHHHHHH\\n\" (FNV-1a 64 of all bytes) and "
	    "close\n"
	    "  source N    send N bytes, byte i being i mod 251, then close (input is discarded)\n"
	    "\n"
	    "Log lines (one per event, flushed at once):\n"
	    "  listening ADDR:PORT | passfd connected PATH | passfd waiting PATH\n"
	    "  accept peer=ADDR:PORT\n"
	    "  proxy v1|v2 client=ADDR:PORT server=ADDR:PORT peer=ADDR:PORT\n"
	    "  proxy v1|v2 local peer=ADDR:PORT\n"
	    "  proxy invalid peer=ADDR:PORT[: reason]\n"
	    "  passfd client=ADDR:PORT server=ADDR:PORT listener=NAME peer=ADDR:PORT\n"
	    "  close client=ADDR:PORT in=N out=M (reset)?\n");
}

static void logline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logline(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(log_out, fmt, ap);
	va_end(ap);
	fputc('\n', log_out);
	fflush(log_out);
}

static void fmt_sa(char *out, const struct sockaddr_storage *ss)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		snprintf(out, ADDR_MAX, "%s:%u", a, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		snprintf(out, ADDR_MAX, "[%s]:%u", a, ntohs(sin6->sin6_port));
	} else {
		snprintf(out, ADDR_MAX, "?");
	}
}

static void fmt_addr(char *out, int family, const uint8_t *addr, uint16_t port)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(family, addr, a, sizeof(a));
	snprintf(out, ADDR_MAX, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
}

static void fmt_peer(char *out, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		snprintf(out, ADDR_MAX, "?");
	else
		fmt_sa(out, &ss);
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void conn_end(struct conn *c, bool reset)
{
	if (reset) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	if (!opt.quiet)
		logline("close client=%s in=%" PRIu64 " out=%" PRIu64 "%s", c->who, c->in, c->out,
		        reset ? " reset" : "");
	ev_io_stop(loop, &c->io);
	ev_timer_stop(loop, &c->linger);
	close(c->fd);
	free(c);
}

static void conn_want(struct conn *c, int events)
{
	if ((c->io.events & (EV_READ | EV_WRITE)) == events && ev_is_active(&c->io) == !!events)
		return;
	ev_io_stop(loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	if (events)
		ev_io_start(loop, &c->io);
}

static void on_linger(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)revents;
	conn_end(w->data, false);
}

/*
 * Our side is finished: FIN, then wait (bounded) for the client's, so that
 * unread input never turns our close into a reset. Like every function
 * here that returns -1, it means: c is closed or fully set up, do not touch.
 */
static int conn_finish(struct conn *c)
{
	shutdown(c->fd, SHUT_WR);
	if (c->eof) {
		conn_end(c, false);
		return -1;
	}
	c->ph = PH_DRAIN;
	ev_timer_set(&c->linger, LINGER_S, 0);
	ev_timer_start(loop, &c->linger);
	conn_want(c, EV_READ);
	return -1;
}

static void http_answer(struct conn *c)
{
	char body[ADDR_MAX + 16];
	const char *status = "200 OK";
	int blen;

	if (c->len >= 4 && memcmp(c->buf, "GET ", 4) != 0)
		status = "405 Method Not Allowed";
	blen = snprintf(body, sizeof(body), "client=%s\n", c->who);
	c->len = (size_t)snprintf((char *)c->buf, sizeof(c->buf),
	                          "HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: "
	                          "%d\r\nConnection: close\r\n\r\n%s",
	                          status, blen, body);
	c->off = 0;
	c->ph = PH_FLUSH;
}

/* Takes payload bytes (from the socket, or left over after a PROXY header). */
static void serve_input(struct conn *c, const uint8_t *p, size_t n)
{
	c->in += n;
	switch (opt.mode) {
	case MODE_HTTP:
		if (c->ph != PH_SERVE)
			return;
		if (n > sizeof(c->buf) - c->len) {
			static const char e431[] = "HTTP/1.0 431 Request Header Fields Too "
			                           "Large\r\nConnection: close\r\n\r\n";

			memcpy(c->buf, e431, sizeof(e431) - 1);
			c->len = sizeof(e431) - 1;
			c->off = 0;
			c->ph = PH_FLUSH;
			return;
		}
		memcpy(c->buf + c->len, p, n);
		c->len += n;
		if (memmem(c->buf, c->len, "\r\n\r\n", 4) || memmem(c->buf, c->len, "\n\n", 2))
			http_answer(c);
		return;
	case MODE_ECHO:
		/* the caller reads at most the free space */
		memcpy(c->buf + c->len, p, n);
		c->len += n;
		return;
	case MODE_SINK:
		c->fnv = fnv1a(c->fnv, p, n);
		return;
	case MODE_SOURCE:
		return;
	}
}

static int serve_eof(struct conn *c)
{
	c->eof = true;
	if (c->ph != PH_SERVE)
		return 0;
	switch (opt.mode) {
	case MODE_HTTP:
		/* no complete request: nothing to answer */
		return conn_finish(c);
	case MODE_ECHO:
		c->ph = PH_FLUSH;
		return 0;
	case MODE_SINK:
		c->len =
		    (size_t)snprintf((char *)c->buf, sizeof(c->buf),
		                     "bytes=%" PRIu64 " fnv1a64=%016" PRIx64 "\n", c->in, c->fnv);
		c->off = 0;
		c->ph = PH_FLUSH;
		return 0;
	case MODE_SOURCE:
		return 0;
	}
	return 0;
}

static int proxy_input(struct conn *c)
{
	struct pp_result r;
	char peer[ADDR_MAX];
	size_t rest;

	switch (pp_parse(c->buf, c->len, &r)) {
	case PP_INCOMPLETE:
		if (c->len < sizeof(c->buf))
			return 0;
		/* a header that does not fit is not one we accept */
		__attribute__((fallthrough));
	case PP_INVALID:
		fmt_peer(peer, c->fd);
		logline("proxy invalid peer=%s", peer);
		conn_end(c, true);
		return -1;
	case PP_OK:
		break;
	}
	fmt_peer(peer, c->fd);
	if (r.version != opt.proxy_protocol) {
		logline("proxy invalid peer=%s: version %u, want %d", peer, r.version,
		        opt.proxy_protocol);
		conn_end(c, true);
		return -1;
	}
	if (r.local) {
		snprintf(c->who, sizeof(c->who), "%s", peer);
		if (!opt.quiet)
			logline("proxy v%u local peer=%s", r.version, peer);
	} else {
		char server[ADDR_MAX];

		fmt_addr(c->who, r.t.family, r.t.saddr, r.t.sport);
		fmt_addr(server, r.t.family, r.t.daddr, r.t.dport);
		if (!opt.quiet)
			logline("proxy v%u client=%s server=%s peer=%s", r.version, c->who, server,
			        peer);
	}
	rest = c->len - r.len;
	memcpy(scratch, c->buf + r.len, rest);
	c->len = c->off = 0;
	c->ph = PH_SERVE;
	if (rest)
		serve_input(c, scratch, rest);
	return 0;
}

/* Writes what is pending. Returns -1 on a write error (connection ended). */
static int conn_write(struct conn *c)
{
	for (;;) {
		const uint8_t *p;
		size_t n;
		ssize_t w;

		if (opt.mode == MODE_SOURCE && c->ph == PH_SERVE) {
			if (c->out == opt.source_len)
				return conn_finish(c);
			n = sizeof(scratch);
			if (n > opt.source_len - c->out)
				n = (size_t)(opt.source_len - c->out);
			for (size_t i = 0; i < n; i++)
				scratch[i] = (uint8_t)((c->out + i) % 251);
			p = scratch;
		} else {
			if (c->off == c->len)
				break;
			p = c->buf + c->off;
			n = c->len - c->off;
		}
		w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			conn_end(c, true);
			return -1;
		}
		c->out += (uint64_t)w;
		if (!(opt.mode == MODE_SOURCE && c->ph == PH_SERVE))
			c->off += (size_t)w;
		if ((size_t)w < n)
			return 0;
	}
	c->len = c->off = 0;
	if (c->ph == PH_FLUSH)
		return conn_finish(c);
	return 0;
}

/* Reads once. Returns -1 when the connection ended. */
static int conn_read(struct conn *c)
{
	uint8_t *p = scratch;
	size_t cap = sizeof(scratch);
	ssize_t n;

	if (c->ph == PH_PROXY || (c->ph == PH_SERVE && opt.mode == MODE_ECHO)) {
		p = c->buf + c->len;
		cap = sizeof(c->buf) - c->len;
	}
	n = recv(c->fd, p, cap, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		conn_end(c, true);
		return -1;
	}
	if (n == 0) {
		if (c->ph == PH_DRAIN) {
			conn_end(c, false);
			return -1;
		}
		if (c->ph == PH_PROXY) {
			char peer[ADDR_MAX];

			fmt_peer(peer, c->fd);
			logline("proxy invalid peer=%s", peer);
			conn_end(c, true);
			return -1;
		}
		return serve_eof(c);
	}
	if (c->ph == PH_DRAIN || c->ph == PH_FLUSH) {
		c->in += (uint64_t)n;
		return 0;
	}
	if (c->ph == PH_PROXY) {
		c->len += (size_t)n;
		return proxy_input(c);
	}
	if (opt.mode == MODE_ECHO) {
		c->in += (uint64_t)n;
		c->len += (size_t)n;
		return 0;
	}
	serve_input(c, p, (size_t)n);
	return 0;
}

/* What the connection waits for in its current state. */
static void conn_update(struct conn *c)
{
	int ev = 0;

	switch (c->ph) {
	case PH_PROXY:
		ev = EV_READ;
		break;
	case PH_SERVE:
		if (opt.mode == MODE_ECHO) {
			if (c->len > c->off)
				ev |= EV_WRITE;
			if (c->len < sizeof(c->buf) && c->off == 0)
				ev |= EV_READ;
		} else if (opt.mode == MODE_SOURCE) {
			ev = EV_WRITE | (c->eof ? 0 : EV_READ);
		} else {
			ev = EV_READ;
		}
		break;
	case PH_FLUSH:
		ev = EV_WRITE | (c->eof ? 0 : EV_READ);
		break;
	case PH_DRAIN:
		ev = EV_READ;
		break;
	}
	conn_want(c, ev);
}

static void on_conn(struct ev_loop *l, ev_io *w, int revents)
{
	struct conn *c = w->data;

	(void)l;
	if ((revents & EV_READ) && conn_read(c) < 0)
		return;
	/* Reading may have produced output (an answer, an echo): try it now. */
	if ((revents & EV_WRITE) || c->ph == PH_FLUSH || (opt.mode == MODE_ECHO && c->len)) {
		if (conn_write(c) < 0)
			return;
	}
	conn_update(c);
}

static void conn_start(int fd, const char *who, bool proxy)
{
	struct conn *c = calloc(1, sizeof(*c));
	int fl = fcntl(fd, F_GETFL);

	if (!c || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		free(c);
		close(fd);
		return;
	}
	if (opt.pace &&
	    setsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, &opt.pace, sizeof(opt.pace)) < 0)
		logline("pace: %s", strerror(errno));
	c->fd = fd;
	c->fnv = 0xcbf29ce484222325ULL;
	c->ph = proxy ? PH_PROXY : PH_SERVE;
	snprintf(c->who, sizeof(c->who), "%s", who);
	ev_init(&c->io, on_conn);
	c->io.data = c;
	ev_init(&c->linger, on_linger);
	c->linger.data = c;
	conn_update(c);
}

static void on_accept(struct ev_loop *l, ev_io *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	for (;;) {
		char peer[ADDR_MAX];
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				logline("accept: %s", strerror(errno));
			return;
		}
		fmt_peer(peer, fd);
		if (!opt.quiet && !opt.proxy_protocol)
			logline("accept peer=%s", peer);
		conn_start(fd, peer, opt.proxy_protocol != 0);
	}
}

static void passfd_connect(void);

static void passfd_lost(const char *why)
{
	logline("passfd lost %s: %s", opt.passfd, why);
	ev_io_stop(loop, &passfd_w);
	close(passfd_sock);
	passfd_sock = -1;
	ev_timer_set(&retry_w, 0.1, 0);
	ev_timer_start(loop, &retry_w);
}

static void on_passfd(struct ev_loop *l, ev_io *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	for (;;) {
		struct sgc_conn sc;
		char client[ADDR_MAX], server[ADDR_MAX], peer[ADDR_MAX];

		if (sgc_recv(passfd_sock, &sc) < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			passfd_lost(strerror(errno));
			return;
		}
		fmt_sa(client, &sc.client);
		fmt_sa(server, &sc.server);
		fmt_peer(peer, sc.fd);
		if (!opt.quiet)
			logline("passfd client=%s server=%s listener=%s peer=%s", client, server,
			        sc.listener, peer);
		conn_start(sc.fd, peer, false);
	}
}

static void passfd_connect(void)
{
	static bool waiting_logged;
	int fl;

	passfd_sock = sgc_connect(opt.passfd);
	if (passfd_sock < 0) {
		if (!waiting_logged)
			logline("passfd waiting %s: %s", opt.passfd, strerror(errno));
		waiting_logged = true;
		ev_timer_set(&retry_w, 0.1, 0);
		ev_timer_start(loop, &retry_w);
		return;
	}
	waiting_logged = false;
	fl = fcntl(passfd_sock, F_GETFL);
	fcntl(passfd_sock, F_SETFL, fl | O_NONBLOCK);
	ev_io_init(&passfd_w, on_passfd, passfd_sock, EV_READ);
	ev_io_start(loop, &passfd_w);
	logline("passfd connected %s", opt.passfd);
}

static void on_retry(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	passfd_connect();
}

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon;
	char *end;
	unsigned long port;
	size_t hlen;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -1;
		hlen = (size_t)(rb - s - 1);
		if (hlen >= sizeof(host))
			return -1;
		memcpy(host, s + 1, hlen);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hlen = (size_t)(colon - s);
		if (hlen >= sizeof(host))
			return -1;
		memcpy(host, s, hlen);
	}
	host[hlen] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port > 65535)
		return -1;
	if (s[0] != '[') {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
		return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		return inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1 ? 0 : -1;
	}
}

static int open_listener(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char name[ADDR_MAX];
	int one = 1;

	if (parse_listen(opt.listen, &ss, &len) < 0) {
		fprintf(stderr, "sgbackend: --listen %s: want ADDR:PORT or [ADDR]:PORT\n",
		        opt.listen);
		return -1;
	}
	listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 ||
	    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(listen_fd, (struct sockaddr *)&ss, len) < 0 || listen(listen_fd, 4096) < 0) {
		fprintf(stderr, "sgbackend: %s: %s\n", opt.listen, strerror(errno));
		return -1;
	}
	len = sizeof(ss);
	getsockname(listen_fd, (struct sockaddr *)&ss, &len);
	fmt_sa(name, &ss);
	ev_io_init(&listen_w, on_accept, listen_fd, EV_READ);
	ev_io_start(loop, &listen_w);
	logline("listening %s", name);
	return 0;
}

static void on_signal(struct ev_loop *l, ev_signal *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(l, EVBREAK_ALL);
}

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"passfd", required_argument, NULL, 'p'},
	    {"proxy-protocol", required_argument, NULL, 'P'},
	    {"log", required_argument, NULL, 'o'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"pace", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *m;
	int ch;

	while ((ch = getopt_long(argc, argv, "l:p:P:o:qr:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			opt.listen = optarg;
			break;
		case 'p':
			opt.passfd = optarg;
			break;
		case 'P':
			if (strcmp(optarg, "1") && strcmp(optarg, "2")) {
				fprintf(stderr, "sgbackend: --proxy-protocol: 1 or 2\n");
				return -1;
			}
			opt.proxy_protocol = optarg[0] - '0';
			break;
		case 'o':
			opt.log = optarg;
			break;
		case 'q':
			opt.quiet = true;
			break;
		case 'r': {
			char *end;

			opt.pace = strtoull(optarg, &end, 10);
			if (end == optarg || *end || !opt.pace) {
				fprintf(stderr, "sgbackend: --pace: bytes per second\n");
				return -1;
			}
			break;
		}
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (!opt.listen == !opt.passfd) {
		fprintf(stderr, "sgbackend: exactly one of --listen and --passfd\n");
		return -1;
	}
	if (opt.passfd && opt.proxy_protocol) {
		fprintf(stderr, "sgbackend: --proxy-protocol needs --listen\n");
		return -1;
	}
	if (optind >= argc) {
		fprintf(stderr, "sgbackend: MODE missing\n");
		return -1;
	}
	m = argv[optind++];
	if (!strcmp(m, "http")) {
		opt.mode = MODE_HTTP;
	} else if (!strcmp(m, "echo")) {
		opt.mode = MODE_ECHO;
	} else if (!strcmp(m, "sink")) {
		opt.mode = MODE_SINK;
	} else if (!strcmp(m, "source")) {
		char *end;

		opt.mode = MODE_SOURCE;
		if (optind >= argc) {
			fprintf(stderr, "sgbackend: source needs a byte count\n");
			return -1;
		}
		errno = 0;
		opt.source_len = strtoull(argv[optind], &end, 10);
		if (errno || *end || end == argv[optind] || argv[optind][0] == '-') {
			fprintf(stderr, "sgbackend: source %s: not a byte count\n", argv[optind]);
			return -1;
		}
		optind++;
	} else {
		fprintf(stderr, "sgbackend: unknown mode %s\n", m);
		return -1;
	}
	if (optind != argc) {
		fprintf(stderr, "sgbackend: unexpected argument %s\n", argv[optind]);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	ev_signal sig_term, sig_int;
	struct rlimit rl;

	if (parse_args(argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	log_out = stdout;
	if (opt.log) {
		log_out = fopen(opt.log, "ae");
		if (!log_out) {
			fprintf(stderr, "sgbackend: %s: %s\n", opt.log, strerror(errno));
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	/* Many concurrent connections: take every fd we are allowed. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	loop = ev_default_loop(EVFLAG_AUTO);
	ev_signal_init(&sig_term, on_signal, SIGTERM);
	ev_signal_init(&sig_int, on_signal, SIGINT);
	ev_signal_start(loop, &sig_term);
	ev_signal_start(loop, &sig_int);
	ev_init(&retry_w, on_retry);

	if (opt.listen) {
		if (open_listener() < 0)
			return 1;
	} else {
		passfd_connect();
	}
	ev_run(loop, 0);
	logline("exit");
	return 0;
}
