/*
 * sgload: legitimate load for the lab's benchmark, as real clients make it.
 *
 *   sgload [options] ADDR PORT
 *
 * Opens --rate new TCP connections per second for --duration seconds,
 * open-loop: connection i starts at i/rate seconds whatever happened to the
 * ones before, as independent clients would, so a server that stalls does
 * not slow the load down and hide its own latency. Connects are non-blocking;
 * the kernel retransmits a lost SYN as it does for any client (after 1 s,
 * then 3 s), so those delays count in the connect latency, up to
 * --connect-timeout. Each connection then does --requests exchanges of
 * --size bytes with an echo server (sgbackend echo), checking every byte,
 * half-closes and waits for the server's FIN, all within --timeout.
 *
 * A connection succeeds when every exchange came back intact and the server
 * closed cleanly. Connect latency is measured from connect() to the
 * connection's first writability, over the connections that connected.
 * Results: a summary line on stdout; with --json, the summary over the
 * connections started inside --window (e.g. while a flood ran) and over all,
 * with latency percentiles (p50, p90, p99, p99.9, max, nearest rank), failure
 * counts by kind, and one entry per second of start time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SECONDS 600
#define MAX_RATE    100000
#define MAX_SIZE    65536
#define MAX_EVENTS  256
#define MAX_CONNS   10000000u
/* a connect slower than this needed at least one SYN retransmission (initial RTO 1 s) */
#define RETRANSMIT_MS 900.0

enum state { ST_IDLE, ST_CONNECTING, ST_SEND, ST_RECV, ST_DRAIN, ST_DONE };

enum result {
	LR_PENDING,
	LR_OK,
	LR_CONNECT_TIMEOUT, /* no SYN-ACK (or no usable one) within --connect-timeout */
	LR_REFUSED,         /* RST to the SYN */
	LR_CONNECT_ERROR,   /* another connect error (unreachable, ...) */
	LR_RESET,           /* reset after the connection was up */
	LR_EARLY_EOF,       /* the server closed before answering everything */
	LR_MISMATCH,        /* an answer differed from the request */
	LR_TIMEOUT,         /* connected, but the exchange did not finish within --timeout */
	LR_LOCAL,           /* no socket here (fd limit, ...) */
	LR_NRESULTS
};

static const char *const result_names[LR_NRESULTS] = {
    "pending", "ok",        "connect_timeout", "refused", "connect_error",
    "reset",   "early_eof", "mismatch",        "timeout", "local_error",
};

struct conn {
	double start;     /* connect() call, seconds from the run's start */
	float connect_ms; /* <0: never connected */
	float total_ms;   /* until success or failure */
	int fd;
	uint8_t state;
	uint8_t result;
	uint16_t reqs_done;
	uint32_t off; /* bytes of the current request sent, then received */
};

struct opts {
	struct sockaddr_storage dst;
	socklen_t dstlen;
	double rate, duration, connect_timeout, timeout;
	unsigned requests, size;
	double win_from, win_to;
	const char *json, *records;
	bool quiet;
};

static struct opts o = {
    .rate = 100,
    .duration = 10,
    .connect_timeout = 3,
    .timeout = 10,
    .requests = 1,
    .size = 64,
    .win_from = 0,
    .win_to = INFINITY,
};
static struct conn *conns;
static uint64_t nconns, started, finished;
static double t0, t0_realtime; /* the run's start, monotonic and wall clock */
static int ep = -1;
static uint8_t *rxbuf;
static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_rel(void)
{
	return mono() - t0;
}

/* Byte j of request r of connection i: differs per connection and per request. */
static uint8_t pattern(uint64_t i, unsigned r, unsigned j)
{
	return (uint8_t)(i * 131 + r * 31 + j * 7 + (j >> 8));
}

static void finish(uint64_t i, enum result r)
{
	struct conn *c = &conns[i];

	if (c->state == ST_DONE)
		return;
	if (c->fd >= 0)
		close(c->fd); /* also leaves the epoll set */
	c->fd = -1;
	c->state = ST_DONE;
	c->result = (uint8_t)r;
	c->total_ms = (float)((now_rel() - c->start) * 1e3);
	finished++;
}

static void start_conn(uint64_t i)
{
	struct conn *c = &conns[i];
	struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = i};
	int one = 1;

	c->start = now_rel();
	c->connect_ms = -1;
	c->state = ST_CONNECTING;
	c->fd = socket(o.dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		finish(i, LR_LOCAL);
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&o.dst, o.dstlen) < 0 && errno != EINPROGRESS) {
		finish(i, errno == ECONNREFUSED ? LR_REFUSED : LR_CONNECT_ERROR);
		return;
	}
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		finish(i, LR_LOCAL);
}

static void set_events(uint64_t i, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.u64 = i};

	epoll_ctl(ep, EPOLL_CTL_MOD, conns[i].fd, &ev);
}

static enum result io_error(int err)
{
	return err == ECONNRESET || err == EPIPE ? LR_RESET : LR_CONNECT_ERROR;
}

/* After connect or a completed answer: the next request, or the half-close. */
static void next_step(uint64_t i)
{
	struct conn *c = &conns[i];

	c->off = 0;
	if (c->reqs_done == o.requests) {
		shutdown(c->fd, SHUT_WR);
		c->state = ST_DRAIN;
		set_events(i, EPOLLIN);
	} else {
		c->state = ST_SEND;
		set_events(i, EPOLLOUT);
	}
}

static void on_event(uint64_t i, uint32_t events)
{
	struct conn *c = &conns[i];
	uint8_t req[MAX_SIZE];
	ssize_t n;

	if (c->state == ST_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			finish(i, err == ECONNREFUSED ? LR_REFUSED : LR_CONNECT_ERROR);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		c->connect_ms = (float)((now_rel() - c->start) * 1e3);
		next_step(i);
		return;
	}
	if (c->state == ST_SEND) {
		for (unsigned j = c->off; j < o.size; j++)
			req[j] = pattern(i, c->reqs_done, j);
		n = send(c->fd, req + c->off, o.size - c->off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN)
				finish(i, io_error(errno));
			return;
		}
		c->off += (uint32_t)n;
		if (c->off == o.size) {
			c->off = 0;
			c->state = ST_RECV;
			set_events(i, EPOLLIN);
		}
		return;
	}
	/* ST_RECV or ST_DRAIN */
	n = recv(c->fd, rxbuf, MAX_SIZE, 0);
	if (n < 0) {
		if (errno != EAGAIN)
			finish(i, io_error(errno));
		return;
	}
	if (n == 0) {
		finish(i, c->state == ST_DRAIN ? LR_OK : LR_EARLY_EOF);
		return;
	}
	if (c->state == ST_DRAIN || c->off + (size_t)n > o.size) {
		finish(i, LR_MISMATCH); /* more than was asked for */
		return;
	}
	for (ssize_t k = 0; k < n; k++)
		if (rxbuf[k] != pattern(i, c->reqs_done, c->off + (unsigned)k)) {
			finish(i, LR_MISMATCH);
			return;
		}
	c->off += (uint32_t)n;
	if (c->off == o.size) {
		c->reqs_done++;
		next_step(i);
	}
}

/* ---- results ---- */

struct summary {
	uint64_t attempts, ok, connected, retransmitted;
	uint64_t by_result[LR_NRESULTS];
	double p50, p90, p99, p999, max;
};

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

static double rank(const float *v, uint64_t n, double p)
{
	uint64_t k = (uint64_t)ceil(p / 100.0 * (double)n);

	if (!n)
		return NAN;
	return v[k ? k - 1 : 0];
}

/* Summary of the connections started in [from, to). */
static void summarize(double from, double to, struct summary *s, float *scratch)
{
	uint64_t n = 0;

	memset(s, 0, sizeof(*s));
	for (uint64_t i = 0; i < started; i++) {
		const struct conn *c = &conns[i];

		if (c->start < from || c->start >= to)
			continue;
		s->attempts++;
		s->by_result[c->result]++;
		if (c->result == LR_OK)
			s->ok++;
		if (c->connect_ms >= 0) {
			scratch[n++] = c->connect_ms;
			if (c->connect_ms > RETRANSMIT_MS)
				s->retransmitted++;
		}
	}
	s->connected = n;
	qsort(scratch, n, sizeof(*scratch), cmp_float);
	s->p50 = rank(scratch, n, 50);
	s->p90 = rank(scratch, n, 90);
	s->p99 = rank(scratch, n, 99);
	s->p999 = rank(scratch, n, 99.9);
	s->max = n ? scratch[n - 1] : NAN;
}

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : NAN;
}

/* JSON has no NaN: null stands for "no connection to measure". */
static void jnum(FILE *f, const char *key, double v, const char *sep)
{
	if (isnan(v))
		fprintf(f, "\"%s\": null%s", key, sep);
	else
		fprintf(f, "\"%s\": %.3f%s", key, v, sep);
}

static void json_summary(FILE *f, const struct summary *s)
{
	fprintf(f, "{\"attempts\": %" PRIu64 ", \"ok\": %" PRIu64 ", ", s->attempts, s->ok);
	jnum(f, "success_pct", pct(s->ok, s->attempts), ", ");
	fprintf(f, "\"connected\": %" PRIu64 ", \"connect_retransmitted\": %" PRIu64 ", ",
	        s->connected, s->retransmitted);
	fprintf(f, "\"connect_ms\": {");
	jnum(f, "p50", s->p50, ", ");
	jnum(f, "p90", s->p90, ", ");
	jnum(f, "p99", s->p99, ", ");
	jnum(f, "p99.9", s->p999, ", ");
	jnum(f, "max", s->max, "}, ");
	fprintf(f, "\"results\": {");
	for (int r = LR_OK; r < LR_NRESULTS; r++)
		fprintf(f, "\"%s\": %" PRIu64 "%s", result_names[r], s->by_result[r],
		        r + 1 < LR_NRESULTS ? ", " : "}}");
}

static int write_json(const char *path, float *scratch)
{
	FILE *f = fopen(path, "we");
	struct summary s;
	unsigned secs = (unsigned)ceil(o.duration);

	if (!f) {
		fprintf(stderr, "sgload: %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "{\"rate\": %.3f, \"duration\": %.3f, \"requests\": %u, \"size\": %u, ", o.rate,
	        o.duration, o.requests, o.size);
	fprintf(f, "\"connect_timeout\": %.3f, \"timeout\": %.3f, ", o.connect_timeout, o.timeout);
	fprintf(f, "\"t0_realtime\": %.6f, ", t0_realtime);
	fprintf(f, "\"window\": [%.3f, %.3f],\n", o.win_from,
	        isinf(o.win_to) ? o.duration : o.win_to);
	summarize(o.win_from, o.win_to, &s, scratch);
	fprintf(f, " \"window_summary\": ");
	json_summary(f, &s);
	summarize(0, INFINITY, &s, scratch);
	fprintf(f, ",\n \"all\": ");
	json_summary(f, &s);
	fprintf(f, ",\n \"series\": [\n");
	for (unsigned t = 0; t < secs; t++) {
		summarize(t, t + 1, &s, scratch);
		fprintf(f, "  {\"t\": %u, \"attempts\": %" PRIu64 ", \"ok\": %" PRIu64 ", ", t,
		        s.attempts, s.ok);
		jnum(f, "success_pct", pct(s.ok, s.attempts), ", ");
		jnum(f, "p50", s.p50, ", ");
		jnum(f, "p99", s.p99, ", ");
		jnum(f, "max", s.max, "}");
		fprintf(f, "%s\n", t + 1 < secs ? "," : "");
	}
	fprintf(f, " ]}\n");
	if (fclose(f) != 0) {
		fprintf(stderr, "sgload: writing %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int write_records(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f) {
		fprintf(stderr, "sgload: %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "start_s,connect_ms,total_ms,result\n");
	for (uint64_t i = 0; i < started; i++)
		fprintf(f, "%.6f,%.3f,%.3f,%s\n", conns[i].start, conns[i].connect_ms,
		        conns[i].total_ms, result_names[conns[i].result]);
	if (fclose(f) != 0) {
		fprintf(stderr, "sgload: writing %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: sgload [options] ADDR PORT\n"
	        "  --rate N             new connections per second (default 100, at most %d)\n"
	        "  --duration S         seconds of load (default 10, at most %d)\n"
	        "  --requests N         echo exchanges per connection (default 1; 0: connect,\n"
	        "                       half-close, wait for the server's FIN)\n"
	        "  --size BYTES         bytes per request (default 64, at most %d)\n"
	        "  --connect-timeout S  give up a connect after S seconds (default 3)\n"
	        "  --timeout S          give up a connection after S seconds (default 10)\n"
	        "  --window A:B         the JSON summary counts connections started in [A,B) s\n"
	        "  --json FILE          write summaries and the per-second series as JSON\n"
	        "  --records FILE       one CSV line per connection\n"
	        "  --quiet              no summary line\n"
	        "The server must echo (sgbackend echo).\n",
	        MAX_RATE, MAX_SECONDS, MAX_SIZE);
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;

	*out = strtod(s, &end);
	return (*end || end == s || !(*out >= lo) || !(*out <= hi)) ? -1 : 0;
}

static int parse_args(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"rate", required_argument, NULL, 'r'},
	    {"duration", required_argument, NULL, 't'},
	    {"requests", required_argument, NULL, 'n'},
	    {"size", required_argument, NULL, 's'},
	    {"connect-timeout", required_argument, NULL, 'c'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"window", required_argument, NULL, 'w'},
	    {"json", required_argument, NULL, 'j'},
	    {"records", required_argument, NULL, 'R'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sockaddr_in *sin = (struct sockaddr_in *)&o.dst;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&o.dst;
	double v;
	char *colon;
	int ch;

	while ((ch = getopt_long(argc, argv, "r:t:n:s:c:T:w:j:R:qh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			if (parse_double(optarg, 0.01, MAX_RATE, &o.rate) < 0)
				goto bad;
			break;
		case 't':
			if (parse_double(optarg, 0.001, MAX_SECONDS, &o.duration) < 0)
				goto bad;
			break;
		case 'n':
			if (parse_double(optarg, 0, 65535, &v) < 0 || v != floor(v))
				goto bad;
			o.requests = (unsigned)v;
			break;
		case 's':
			if (parse_double(optarg, 1, MAX_SIZE, &v) < 0 || v != floor(v))
				goto bad;
			o.size = (unsigned)v;
			break;
		case 'c':
			if (parse_double(optarg, 0.001, MAX_SECONDS, &o.connect_timeout) < 0)
				goto bad;
			break;
		case 'T':
			if (parse_double(optarg, 0.001, MAX_SECONDS, &o.timeout) < 0)
				goto bad;
			break;
		case 'w':
			colon = strchr(optarg, ':');
			if (!colon)
				goto bad;
			*colon = '\0';
			if (parse_double(optarg, 0, 1e9, &o.win_from) < 0 ||
			    parse_double(colon + 1, 0, 1e9, &o.win_to) < 0 ||
			    o.win_to <= o.win_from)
				goto bad;
			break;
		case 'j':
			o.json = optarg;
			break;
		case 'R':
			o.records = optarg;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind + 2 != argc) {
		usage(stderr);
		return -1;
	}
	if (parse_double(argv[optind + 1], 1, 65535, &v) < 0 || v != floor(v)) {
		fprintf(stderr, "sgload: bad port: %s\n", argv[optind + 1]);
		return -1;
	}
	memset(&o.dst, 0, sizeof(o.dst));
	if (inet_pton(AF_INET, argv[optind], &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)v);
		o.dstlen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, argv[optind], &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)v);
		o.dstlen = sizeof(*sin6);
	} else {
		fprintf(stderr, "sgload: bad address: %s\n", argv[optind]);
		return -1;
	}
	if (o.connect_timeout > o.timeout)
		o.connect_timeout = o.timeout;
	return 0;
bad:
	fprintf(stderr, "sgload: bad value for option %s: %s\n", argv[optind - 1], optarg);
	return -1;
}

int main(int argc, char **argv)
{
	struct epoll_event evs[MAX_EVENTS];
	struct rlimit rl;
	struct summary s;
	uint64_t cdl = 0, tdl = 0; /* oldest connection whose deadlines are still ahead */
	float *scratch;
	int rc = 0;

	if (parse_args(argc, argv) < 0)
		return 2;
	nconns = (uint64_t)ceil(o.rate * o.duration);
	if (nconns > MAX_CONNS) {
		fprintf(stderr, "sgload: rate x duration is more than %u connections\n", MAX_CONNS);
		return 2;
	}
	conns = calloc(nconns ? nconns : 1, sizeof(*conns));
	scratch = calloc(nconns ? nconns : 1, sizeof(*scratch));
	rxbuf = malloc(MAX_SIZE);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || !scratch || !rxbuf || ep < 0) {
		fprintf(stderr, "sgload: out of memory or epoll: %s\n", strerror(errno));
		return 1;
	}
	/* open-loop: up to rate x timeout connections may be open at once */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	t0 = mono();
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		t0_realtime = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	}
	while (!stop_flag && (started < nconns || finished < started)) {
		double now = now_rel(), next = INFINITY, wait;
		struct timespec ts;
		int n;

		while (started < nconns && (double)started / o.rate <= now)
			start_conn(started++);
		/* deadlines come in start order: only the oldest ones need looking at */
		for (; cdl < started && conns[cdl].start + o.connect_timeout <= now; cdl++)
			if (conns[cdl].state == ST_CONNECTING)
				finish(cdl, LR_CONNECT_TIMEOUT);
		for (; tdl < started && conns[tdl].start + o.timeout <= now; tdl++)
			if (conns[tdl].state != ST_DONE)
				finish(tdl, LR_TIMEOUT);
		if (started < nconns)
			next = (double)started / o.rate;
		if (cdl < started && conns[cdl].start + o.connect_timeout < next)
			next = conns[cdl].start + o.connect_timeout;
		if (tdl < started && conns[tdl].start + o.timeout < next)
			next = conns[tdl].start + o.timeout;
		wait = next - now_rel();
		if (wait < 0)
			wait = 0;
		if (wait > 0.1)
			wait = 0.1;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(wait * 1e9);
		n = epoll_pwait2(ep, evs, MAX_EVENTS, &ts, NULL);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "sgload: epoll: %s\n", strerror(errno));
			return 1;
		}
		for (int k = 0; k < n; k++) {
			uint64_t i = evs[k].data.u64;

			if (conns[i].state != ST_DONE)
				on_event(i, evs[k].events);
		}
	}
	for (uint64_t i = 0; i < started; i++)
		if (conns[i].state != ST_DONE)
			finish(i, LR_TIMEOUT); /* interrupted */
	if (!o.quiet) {
		summarize(o.win_from, o.win_to, &s, scratch);
		printf("sgload: %" PRIu64 " connections, %" PRIu64
		       " ok (%.2f%%); connect ms p50 %.1f "
		       "p99 %.1f p99.9 %.1f max %.1f; %" PRIu64 " needed a SYN retransmission",
		       s.attempts, s.ok, pct(s.ok, s.attempts), s.p50, s.p99, s.p999, s.max,
		       s.retransmitted);
		for (int r = LR_CONNECT_TIMEOUT; r < LR_NRESULTS; r++)
			if (s.by_result[r])
				printf("; %s %" PRIu64, result_names[r], s.by_result[r]);
		printf("\n");
	}
	if (o.json && write_json(o.json, scratch) < 0)
		rc = 1;
	if (o.records && write_records(o.records) < 0)
		rc = 1;
	free(scratch);
	return rc;
}
