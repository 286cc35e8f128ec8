/*
 * Prometheus endpoint: the NFQUEUE table parser, the request classifier, the
 * exposition of made-up counters (every value where it belongs, nothing
 * counted twice), and the HTTP server for real on loopback with its loop in
 * another thread: 200/404/405/400/431, the client cap and the deadline.
 * `promtool check metrics` runs on a live daemon's output in
 * tests/netns/metrics.sh.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"

/* As the kernel prints it: queue, portid, waiting, copy mode, copy range, queue dropped,
 * user dropped, id sequence, 1. */
static const char nfq_text[] = "    0  12345     3 2 65531     7     0      100  1\n"
                               "    8 4242424242    0 2 65531 18446744073709551615  11 5 1\n"
                               "   65535      1     0 2  65531     0     0        0  1\n";

static void test_nfq_find(void **state)
{
	struct metrics_nfq q;

	(void)state;
	assert_int_equal(metrics_nfq_find(nfq_text, 0, &q), 0);
	assert_int_equal(q.queue, 0);
	assert_int_equal(q.portid, 12345);
	assert_int_equal(q.length, 3);
	assert_int_equal(q.dropped, 7);
	assert_int_equal(q.user_dropped, 0);
	assert_int_equal(metrics_nfq_find(nfq_text, 8, &q), 0);
	assert_int_equal(q.portid, 4242424242u);
	assert_true(q.dropped == UINT64_MAX);
	assert_int_equal(q.user_dropped, 11);
	assert_int_equal(metrics_nfq_find(nfq_text, 65535, &q), 0);
	assert_int_equal(metrics_nfq_find(nfq_text, 1, &q), -1);
	assert_int_equal(metrics_nfq_find("", 0, &q), -1);
	/* lines of the wrong shape are no match */
	assert_int_equal(metrics_nfq_find("    0  1  2  3  4  5  6  7\n", 0, &q), -1);
	assert_int_equal(metrics_nfq_find("    0  1  2  3  4  5  6  7  8  9\n", 0, &q), -1);
	assert_int_equal(metrics_nfq_find("    0  1  2  3  4  5  6  7  x\n", 0, &q), -1);
	assert_int_equal(metrics_nfq_find("garbage\n    5 1 2 3 4 5 6 7 1", 5, &q), 0);
	assert_int_equal(q.user_dropped, 6);
}

static void test_parse_request(void **state)
{
	static const struct {
		const char *req;
		enum metrics_req want;
	} cases[] = {
	    {"", METRICS_REQ_INCOMPLETE},
	    {"GET /metrics HTTP/1.1", METRICS_REQ_INCOMPLETE},
	    {"GET /metrics HTTP/1.1\r\n", METRICS_REQ_INCOMPLETE},
	    {"GET /metrics HTTP/1.1\r\nHost: x\r\n", METRICS_REQ_INCOMPLETE},
	    {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", METRICS_REQ_OK},
	    {"GET /metrics HTTP/1.0\n\n", METRICS_REQ_OK},
	    {"GET /metrics?name[]=x HTTP/1.1\r\n\r\n", METRICS_REQ_OK},
	    {"GET / HTTP/1.1\r\n\r\n", METRICS_REQ_NOT_FOUND},
	    {"GET /metricsx HTTP/1.1\r\n\r\n", METRICS_REQ_NOT_FOUND},
	    {"GET /metrics/ HTTP/1.1\r\n\r\n", METRICS_REQ_NOT_FOUND},
	    {"GET http://h/metrics HTTP/1.1\r\n\r\n", METRICS_REQ_NOT_FOUND},
	    {"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", METRICS_REQ_BAD_METHOD},
	    {"HEAD /metrics HTTP/1.1\r\n\r\n", METRICS_REQ_BAD_METHOD},
	    {"get /metrics HTTP/1.1\r\n\r\n", METRICS_REQ_BAD_METHOD},
	    /* a bad request line is answered at once, headers or not */
	    {"GET /metrics\r\n", METRICS_REQ_BAD},
	    {"GET /metrics HTTP/2\r\n", METRICS_REQ_BAD},
	    {"GET  /metrics HTTP/1.1\r\n", METRICS_REQ_BAD},
	    {"GET /met rics HTTP/1.1\r\n", METRICS_REQ_BAD},
	    {"\r\n\r\n", METRICS_REQ_BAD},
	    {"G(T /metrics HTTP/1.1\r\n", METRICS_REQ_BAD},
	    {"GET /metrics HTTP/1.1 extra\r\n", METRICS_REQ_BAD},
	    {"\x16\x03\x01\x02\x05\x01\x02\x01\xfc\x03\x03\n", METRICS_REQ_BAD}, /* TLS */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum metrics_req got = metrics_parse_request(cases[i].req, strlen(cases[i].req));

		if (got != cases[i].want)
			fail_msg("case %zu \"%s\": got %d, want %d", i, cases[i].req, got,
			         cases[i].want);
	}
	/* a NUL in the method ends it: bad, not a read past the buffer */
	assert_int_equal(metrics_parse_request("GE\0T / HTTP/1.1\n\n", 17), METRICS_REQ_BAD);
}

static void test_loopback(void **state)
{
	struct sockaddr_in a4 = {.sin_family = AF_INET};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
	char buf[80];

	(void)state;
	inet_pton(AF_INET, "127.3.2.1", &a4.sin_addr);
	a4.sin_port = htons(9477);
	assert_true(metrics_addr_is_loopback((struct sockaddr *)&a4));
	metrics_addr_str((struct sockaddr *)&a4, buf, sizeof(buf));
	assert_string_equal(buf, "127.3.2.1:9477");
	inet_pton(AF_INET, "0.0.0.0", &a4.sin_addr);
	assert_false(metrics_addr_is_loopback((struct sockaddr *)&a4));
	inet_pton(AF_INET, "192.0.2.1", &a4.sin_addr);
	assert_false(metrics_addr_is_loopback((struct sockaddr *)&a4));
	inet_pton(AF_INET6, "::1", &a6.sin6_addr);
	a6.sin6_port = htons(1);
	assert_true(metrics_addr_is_loopback((struct sockaddr *)&a6));
	metrics_addr_str((struct sockaddr *)&a6, buf, sizeof(buf));
	assert_string_equal(buf, "[::1]:1");
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &a6.sin6_addr);
	assert_true(metrics_addr_is_loopback((struct sockaddr *)&a6));
	inet_pton(AF_INET6, "::", &a6.sin6_addr);
	assert_false(metrics_addr_is_loopback((struct sockaddr *)&a6));
	inet_pton(AF_INET6, "2001:db8::1", &a6.sin6_addr);
	assert_false(metrics_addr_is_loopback((struct sockaddr *)&a6));
}

/* ---- exposition ---------------------------------------------------------- */

static const char conf_text[] =
    "listeners = ( { name = \"web\"; address = \"192.0.2.1\"; port = 80; backend = "
    "\"127.0.0.1:8080\"; },\n { name = \"a.b-c_d\"; address = \"2001:db8::1\"; port = 443; "
    "backend = \"127.0.0.1:8443\"; } );\n";

struct fixture {
	struct conf *conf;
	struct stats_block q0, q1, h;
	const struct stats_block *blocks[3];
	uint16_t nums[2];
	struct control_source src;
};

static int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	if (!f || conf_parse(conf_text, "t.conf", &f->conf, err, sizeof(err)) != 0)
		return -1;
	if (stats_block_init(&f->q0, 2) || stats_block_init(&f->q1, 2) ||
	    stats_block_init(&f->h, 2))
		return -1;
	f->blocks[0] = &f->q0;
	f->blocks[1] = &f->q1;
	f->blocks[2] = &f->h;
	f->nums[0] = 0;
	f->nums[1] = 8;
	f->src = (struct control_source){f->conf, f->blocks, f->nums, 2, NULL, NULL, NULL, NULL};
	/* queue 0: web 100 SYNs, unmatched 2 malformed; queue 8: web 10, a.b-c_d 20 */
	stats_add(&f->q0.rows[0], ST_SYN_RECEIVED, 100);
	stats_add(&f->q0.rows[2], ST_PKT_MALFORMED, 2);
	stats_add(&f->q1.rows[0], ST_SYN_RECEIVED, 10);
	stats_add(&f->q1.rows[1], ST_SYN_RECEIVED, 20);
	stats_add(&f->h.rows[1], ST_HANDOFFS, 5);
	stats_add(&f->h.rows[1], ST_ACTIVE_CONNECTIONS, 1);
	stats_dec(&f->h.rows[0], ST_ACTIVE_CONNECTIONS);
	*state = f;
	return 0;
}

static int fixture_teardown(void **state)
{
	struct fixture *f = *state;

	stats_block_free(&f->q0);
	stats_block_free(&f->q1);
	stats_block_free(&f->h);
	conf_free(f->conf);
	free(f);
	return 0;
}

static char *render(const struct control_source *src, const char *nfq)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	metrics_render(out, src, nfq);
	assert_int_equal(fclose(out), 0);
	return text;
}

static void expect_line(const char *text, const char *line)
{
	const char *p = text;
	size_t n = strlen(line);

	for (; (p = strstr(p, line)); p++) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
	}
	fail_msg("no line \"%s\" in:\n%s", line, text);
}

static size_t count_lines(const char *text, const char *prefix)
{
	size_t n = 0;

	for (const char *p = text; *p;) {
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
	return n;
}

static void test_render(void **state)
{
	struct fixture *f = *state;
	char *text = render(&f->src, nfq_text);

	/* per listener: summed over both queue threads and the handoff */
	expect_line(text, "# TYPE synguard_syn_received_total counter");
	expect_line(text, "# HELP synguard_syn_received_total SYNs received from the NFQUEUE "
	                  "queues. Per listener.");
	expect_line(text, "synguard_syn_received_total{listener=\"web\"} 110");
	expect_line(text, "synguard_syn_received_total{listener=\"a.b-c_d\"} 20");
	expect_line(text, "synguard_syn_received_total{listener=\"(unmatched)\"} 0");
	expect_line(text, "synguard_packets_malformed_total{listener=\"(unmatched)\"} 2");
	expect_line(text, "synguard_handoffs_total{listener=\"a.b-c_d\"} 5");
	/* gauges: no _total, signed */
	expect_line(text, "# TYPE synguard_active_connections gauge");
	expect_line(text, "synguard_active_connections{listener=\"web\"} -1");
	expect_line(text, "synguard_active_connections{listener=\"a.b-c_d\"} 1");
	/* per queue, in families of their own; the handoff block is no queue */
	expect_line(text, "# TYPE synguard_queue_syn_received_total counter");
	expect_line(text, "synguard_queue_syn_received_total{queue=\"0\"} 100");
	expect_line(text, "synguard_queue_syn_received_total{queue=\"8\"} 30");
	expect_line(text, "synguard_queue_packets_malformed_total{queue=\"0\"} 2");
	expect_line(text, "synguard_queue_handoffs_total{queue=\"0\"} 0");
	expect_line(text, "synguard_queue_handoffs_total{queue=\"8\"} 0");
	/* the kernel's side of our two queues only (the table also lists queue 65535) */
	expect_line(text, "# TYPE synguard_nfqueue_dropped_total counter");
	expect_line(text, "synguard_nfqueue_dropped_total{queue=\"0\"} 7");
	expect_line(text, "synguard_nfqueue_dropped_total{queue=\"8\"} 18446744073709551615");
	expect_line(text, "synguard_nfqueue_user_dropped_total{queue=\"8\"} 11");
	expect_line(text, "# TYPE synguard_nfqueue_length gauge");
	expect_line(text, "synguard_nfqueue_length{queue=\"0\"} 3");
	assert_int_equal(count_lines(text, "synguard_nfqueue_length{"), 2);

	/* every stats.h counter, three rows each, and one HELP and TYPE per family */
	assert_int_equal(count_lines(text, "synguard_syn_received_total{"), 3);
	assert_int_equal(count_lines(text, "# TYPE "), 2 * ST_MAX + 3);
	assert_int_equal(count_lines(text, "# HELP "), 2 * ST_MAX + 3);
	assert_int_equal(text[strlen(text) - 1], '\n');
	free(text);

	/* without the kernel's table (or our queues in it) the nfqueue families are absent */
	text = render(&f->src, NULL);
	assert_null(strstr(text, "synguard_nfqueue_"));
	free(text);
	text = render(&f->src, "    3  1  0 2 65531 0 0 0 1\n");
	assert_null(strstr(text, "synguard_nfqueue_"));
	free(text);
}

/* A block of another shape (made for another configuration) is left out, not misread. */
static void test_render_mismatched_block(void **state)
{
	struct fixture *f = *state;
	struct stats_block odd;
	char *text;

	assert_int_equal(stats_block_init(&odd, 5), 0);
	stats_add(&odd.rows[0], ST_SYN_RECEIVED, 1000000);
	f->blocks[1] = &odd;
	text = render(&f->src, NULL);
	expect_line(text, "synguard_syn_received_total{listener=\"web\"} 100");
	expect_line(text, "synguard_queue_syn_received_total{queue=\"8\"} 0");
	free(text);
	f->blocks[1] = &f->q1;
	stats_block_free(&odd);
}

/* ---- the server ---------------------------------------------------------- */

struct server {
	struct ev_loop *loop;
	struct metrics *m;
	ev_async stop;
	pthread_t thread;
	uint16_t port;
};

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void *server_main(void *arg)
{
	struct server *s = arg;

	ev_run(s->loop, 0);
	return NULL;
}

static void server_start(struct server *s, const struct control_source *src)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char err[256];

	s->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(s->loop);
	s->m = metrics_new(s->loop, (struct sockaddr *)&a, sizeof(a), src, -1, err, sizeof(err));
	if (!s->m)
		fail_msg("metrics_new: %s", err);
	s->port = metrics_port(s->m);
	assert_true(s->port > 0);
	ev_async_init(&s->stop, on_stop);
	ev_async_start(s->loop, &s->stop);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
	ev_async_send(s->loop, &s->stop);
	pthread_join(s->thread, NULL);
	metrics_free(s->m);
	ev_loop_destroy(s->loop);
}

static int connect_to(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	                        .sin_port = htons(port)};
	struct timeval tv = {.tv_sec = 10};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Everything the server sends until it closes (bounded by the receive timeout). */
static char *read_all(int fd)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);

	assert_non_null(buf);
	for (;;) {
		ssize_t n;

		if (len + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

static char *exchange(uint16_t port, const char *req, size_t len)
{
	int fd = connect_to(port);
	char *resp;

	assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	resp = read_all(fd);
	close(fd);
	return resp;
}

static void expect_status(const char *resp, const char *status_line)
{
	if (strncmp(resp, status_line, strlen(status_line)) != 0)
		fail_msg("response starts \"%.60s\", expected \"%s\"", resp, status_line);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The server side of loopback port `port`, from the kernel's table: its connections still
 * open (established or awaiting our close) and the listener's accept queue. */
static void server_side(uint16_t port, int *open_conns, int *backlog)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	char line[512];

	assert_non_null(f);
	*open_conns = 0;
	*backlog = -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned int lport, st, rxq;

		if (sscanf(line, " %*u: %*x:%x %*x:%*x %x %*x:%x", &lport, &st, &rxq) != 3 ||
		    lport != port)
			continue;
		if (st == 0x0A) /* LISTEN: rx_queue is the accept queue's length */
			*backlog = (int)rxq;
		else if (st == 0x01 || st == 0x08) /* ESTABLISHED, CLOSE_WAIT */
			(*open_conns)++;
	}
	fclose(f);
}

/* Polls the kernel's table until the server accepted `n` connections (none left in its
 * accept queue: the server counts a client when it accepts it) or, for n == 0, closed all. */
static void wait_server_side(uint16_t port, int n)
{
	double deadline = now_s() + 5.0;
	int open_conns, backlog;

	for (;;) {
		server_side(port, &open_conns, &backlog);
		if (n > 0 ? open_conns >= n && backlog == 0 : open_conns == 0)
			return;
		if (now_s() > deadline)
			fail_msg("port %u: %d connections open, %d in the accept queue; want %d "
			         "accepted",
			         port, open_conns, backlog, n);
		usleep(1000);
	}
}

static void test_server(void **state)
{
	struct fixture *f = *state;
	struct server s;
	char *resp, big[METRICS_REQ_MAX + 100], *body;
	int fds[METRICS_CLIENTS_MAX], extra;
	const char *get = "GET /metrics HTTP/1.1\r\nHost: t\r\nAccept: */*\r\n\r\n";
	double t0;

	server_start(&s, &f->src);

	resp = exchange(s.port, get, strlen(get));
	expect_status(resp, "HTTP/1.0 200 OK\r\n");
	assert_non_null(
	    strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	body = strstr(resp, "\r\n\r\n");
	assert_non_null(body);
	body += 4;
	{
		char want[64];

		snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n", strlen(body));
		assert_non_null(strstr(resp, want));
	}
	assert_non_null(strstr(body, "synguard_syn_received_total{listener=\"web\"} 110\n"));
	free(resp);

	/* the request may arrive in pieces */
	{
		int fd = connect_to(s.port);

		for (const char *p = get; *p; p++) {
			assert_int_equal(send(fd, p, 1, MSG_NOSIGNAL), 1);
			usleep(1000);
		}
		resp = read_all(fd);
		close(fd);
		expect_status(resp, "HTTP/1.0 200 OK\r\n");
		free(resp);
	}

	resp = exchange(s.port, "GET / HTTP/1.0\r\n\r\n", 18);
	expect_status(resp, "HTTP/1.0 404 Not Found\r\n");
	free(resp);
	resp = exchange(s.port, "POST /metrics HTTP/1.0\r\n\r\n", 26);
	expect_status(resp, "HTTP/1.0 405 Method Not Allowed\r\n");
	assert_non_null(strstr(resp, "\r\nAllow: GET\r\n"));
	free(resp);
	resp = exchange(s.port, "HELLO\r\n", 7);
	expect_status(resp, "HTTP/1.0 400 Bad Request\r\n");
	free(resp);

	/* a request that never ends is cut at METRICS_REQ_MAX */
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	memset(big + 26, 'x', sizeof(big) - 26);
	resp = exchange(s.port, big, sizeof(big));
	expect_status(resp, "HTTP/1.0 431 Request Header Fields Too Large\r\n");
	free(resp);

	/* METRICS_CLIENTS_MAX silent clients hold every slot: the next one is turned away */
	for (int i = 0; i < METRICS_CLIENTS_MAX; i++)
		fds[i] = connect_to(s.port);
	wait_server_side(s.port, METRICS_CLIENTS_MAX);
	t0 = now_s();
	resp = exchange(s.port, get, strlen(get));
	expect_status(resp, "HTTP/1.0 503 Service Unavailable\r\n");
	free(resp);

	/* and the silent ones are closed at their deadline */
	extra = fds[0];
	resp = read_all(extra);
	assert_string_equal(resp, "");
	free(resp);
	{
		double waited = now_s() - t0;

		if (waited < METRICS_TIMEOUT - 1.0 || waited > METRICS_TIMEOUT + 2.0)
			fail_msg("silent client closed after %.1f s, deadline is %.1f s", waited,
			         METRICS_TIMEOUT);
	}
	for (int i = 0; i < METRICS_CLIENTS_MAX; i++)
		close(fds[i]);
	wait_server_side(s.port, 0);

	/* slots are free again */
	resp = exchange(s.port, get, strlen(get));
	expect_status(resp, "HTTP/1.0 200 OK\r\n");
	free(resp);

	server_stop(&s);
}

static uint32_t fake_queue(void *arg, size_t i)
{
	(void)arg;
	return (uint32_t)(3 + i);
}

/* accept_queue is the accept queue's own figure, whatever a block's gauge says. */
static void test_render_accept_queue(void **state)
{
	struct fixture *f = *state;
	char *text;

	stats_add(&f->h.rows[0], ST_ACCEPT_QUEUE, 99);
	stats_add(&f->h.rows[2], ST_ACCEPT_QUEUE, 7);
	text = render(&f->src, NULL);
	expect_line(text, "synguard_accept_queue{listener=\"web\"} 99");
	free(text);
	f->src.accept_queue = fake_queue;
	text = render(&f->src, NULL);
	expect_line(text, "# TYPE synguard_accept_queue gauge");
	expect_line(text, "synguard_accept_queue{listener=\"web\"} 3");
	expect_line(text, "synguard_accept_queue{listener=\"a.b-c_d\"} 4");
	expect_line(text, "synguard_accept_queue{listener=\"(unmatched)\"} 0");
	assert_non_null(
	    strstr(text, "# HELP synguard_accept_queue Proven connections not yet taken"));
	free(text);
}

/* A fake XDP program's counters: two ids over the two listeners and the unmatched row. */
static const char *const xdp_names[] = {"syn_answered", "ack_invalid"};
static const uint64_t xdp_v[] = {1000, 7, 0, 0, 3, 2};
static struct stats_block xdp_sum;
static struct control_kcounters xdp_kc = {xdp_names, 2, 3, xdp_v, &xdp_sum};

static const struct control_kcounters *fake_xdp(void *arg)
{
	(void)arg;
	return &xdp_kc;
}

/* The XDP rows: families of their own, and their sum in the listeners' families. */
static void test_render_xdp(void **state)
{
	struct fixture *f = *state;
	char *text;

	assert_int_equal(stats_block_init(&xdp_sum, 2), 0);
	stats_add(&xdp_sum.rows[0], ST_SYN_RECEIVED, 1000);
	stats_add(&xdp_sum.rows[0], ST_SYNACK_SENT, 1000);
	stats_add(&xdp_sum.rows[0], ST_ACK_INVALID, 7);
	f->src.xdp_stats = fake_xdp;
	text = render(&f->src, NULL);
	expect_line(text, "# TYPE synguard_xdp_syn_answered_total counter");
	expect_line(text, "synguard_xdp_syn_answered_total{listener=\"web\"} 1000");
	expect_line(text, "synguard_xdp_syn_answered_total{listener=\"(unmatched)\"} 3");
	expect_line(text, "synguard_xdp_ack_invalid_total{listener=\"web\"} 7");
	expect_line(text, "synguard_xdp_ack_invalid_total{listener=\"(unmatched)\"} 2");
	assert_int_equal(count_lines(text, "synguard_xdp_"), 6);
	/* summed: 100 + 10 from the queue threads, 1000 from XDP */
	expect_line(text, "synguard_syn_received_total{listener=\"web\"} 1110");
	expect_line(text, "synguard_synack_sent_total{listener=\"web\"} 1000");
	expect_line(text, "synguard_ack_invalid_total{listener=\"web\"} 7");
	expect_line(text, "synguard_queue_syn_received_total{queue=\"0\"} 100");
	free(text);
	/* counters of another shape (another configuration's) are left out */
	xdp_kc.n_rows = 4;
	text = render(&f->src, NULL);
	assert_null(strstr(text, "synguard_xdp_"));
	expect_line(text, "synguard_syn_received_total{listener=\"web\"} 110");
	free(text);
	xdp_kc.n_rows = 3;
	f->src.xdp_stats = NULL;
	stats_block_free(&xdp_sum);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nfq_find),
	    cmocka_unit_test(test_parse_request),
	    cmocka_unit_test(test_loopback),
	    cmocka_unit_test_setup_teardown(test_render, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_render_mismatched_block, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_server, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_render_accept_queue, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_render_xdp, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
