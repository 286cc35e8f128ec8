/*
 * The service side for real, on loopback: a test "protected port" accepts
 * the client, the accepted socket goes through handoff_submit() from this
 * thread while the handoff runs its own libev loop in another (as queue
 * threads and the main loop do), and a test backend checks what arrives.
 * Covers proxy relay (PROXY v1/v2, half-close both ways, resets both ways,
 * refused and unanswered backends, idle timeout, bulk full-duplex transfer
 * with backpressure) and pass-fd (stale socket, mode, round-robin, no
 * backend, backend not reading, backend leaving).
 */
#define _GNU_SOURCE /* accept4 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "handoff.h"
#include "proxyproto.h"
#include "relay.h"
#include "synguard_client.h"

#define IO_TIMEOUT_S 8

struct env {
	struct conf conf;
	struct conf_listener listeners[2];
	struct conf_policy policy;
	/* what a reload switches to */
	struct conf conf2;
	struct conf_listener listeners2[2];
	struct ev_loop *loop;
	struct handoff *h;
	ev_async stop;
	pthread_t thread;
	int front;   /* the "protected port" clients connect to */
	int backend; /* test backend listener (proxy mode) */
	char dir[256];
	char sock_path[300];
};

static int env_count;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set_timeouts(int fd)
{
	struct timeval tv = {.tv_sec = IO_TIMEOUT_S};

	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
}

static int tcp_listen(uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s, 1024), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	set_timeouts(s); /* accept() times out too */
	return s;
}

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	                          .sin_port = htons(port)};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	assert_int_equal(connect(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	set_timeouts(s);
	return s;
}

static void *loop_thread(void *arg)
{
	struct env *e = arg;

	ev_run(e->loop, 0);
	return NULL;
}

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void backend_addr(struct conf_listener *l, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&l->backend;

	memset(&l->backend, 0, sizeof(l->backend));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons(port);
	l->backend_len = sizeof(*sin);
}

static void passfd_addr(struct conf_listener *l, const char *path)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&l->backend;

	memset(&l->backend, 0, sizeof(l->backend));
	sun->sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sun->sun_path));
	strcpy(sun->sun_path, path);
	l->backend_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
}

/* Fills the configuration: listener 0 is proxy to the test backend,
 * listener 1 is pass-fd at sock_path. */
static struct env *env_conf(uint8_t proxy_protocol, uint32_t idle)
{
	struct env *e = calloc(1, sizeof(*e));
	const char *dir = getenv("SG_TEST_DIR");
	uint16_t port;

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "%s", dir ? dir : ".");
	/* One path per test: a failed test cannot spoil the next one. */
	snprintf(e->sock_path, sizeof(e->sock_path), "%s/test_handoff.%d.%d.sock", e->dir,
	         (int)getpid(), ++env_count);
	e->front = tcp_listen(&port);
	e->backend = tcp_listen(&port);

	strcpy(e->policy.name, "default");
	e->policy.idle_timeout = idle;
	strcpy(e->listeners[0].name, "web");
	e->listeners[0].family = AF_INET;
	e->listeners[0].port = 80;
	e->listeners[0].handoff = CONF_HANDOFF_PROXY;
	e->listeners[0].proxy_protocol = proxy_protocol;
	backend_addr(&e->listeners[0], port);
	strcpy(e->listeners[1].name, "app");
	e->listeners[1].family = AF_INET;
	e->listeners[1].port = 81;
	e->listeners[1].handoff = CONF_HANDOFF_PASSFD;
	passfd_addr(&e->listeners[1], e->sock_path);
	e->conf.listeners = e->listeners;
	e->conf.n_listeners = 2;
	e->conf.policies = &e->policy;
	e->conf.n_policies = 1;
	return e;
}

static void env_run(struct env *e)
{
	char err[256] = "";

	e->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(e->loop);
	e->h = handoff_new(e->loop, &e->conf, err, sizeof(err));
	if (!e->h)
		fail_msg("handoff_new: %s", err);
	ev_async_init(&e->stop, on_stop);
	ev_async_start(e->loop, &e->stop);
	assert_int_equal(pthread_create(&e->thread, NULL, loop_thread, e), 0);
}

static struct env *env_new(uint8_t proxy_protocol, uint32_t idle)
{
	struct env *e = env_conf(proxy_protocol, idle);

	env_run(e);
	return e;
}

static void env_free(struct env *e)
{
	struct stat st;

	ev_async_send(e->loop, &e->stop);
	pthread_join(e->thread, NULL);
	handoff_free(e->h);
	ev_loop_destroy(e->loop);
	/* handoff_free removes the pass-fd socket file */
	assert_int_equal(lstat(e->sock_path, &st), -1);
	close(e->front);
	close(e->backend);
	free(e);
}

static uint64_t stat_get(struct env *e, uint32_t listener, enum stats_id id)
{
	const struct stats_block *b = handoff_stats(e->h);

	return __atomic_load_n(&b->rows[listener].v[id], __ATOMIC_RELAXED);
}

/* Waits until listener's accept_queue figure (acceptq.h) is want. */
static void wait_queue(struct env *e, uint32_t listener, uint32_t want)
{
	double end = now_s() + IO_TIMEOUT_S;
	struct handoff_listener_counts lc;

	for (;;) {
		handoff_listener_counts(handoff_listener(e->h, listener), &lc);
		if (lc.accept_queue == want)
			return;
		if (now_s() > end)
			fail_msg("accept_queue of listener %u is %u, want %u", listener,
			         lc.accept_queue, want);
		usleep(2000);
	}
}

/* Waits until a counter reaches want (counters move on the loop thread). */
static void wait_stat(struct env *e, uint32_t listener, enum stats_id id, uint64_t want)
{
	double end = now_s() + IO_TIMEOUT_S;

	while (stat_get(e, listener, id) != want) {
		if (now_s() > end)
			fail_msg("counter %d of listener %u is %llu, want %llu", (int)id, listener,
			         (unsigned long long)stat_get(e, listener, id),
			         (unsigned long long)want);
		usleep(2000);
	}
}

static void tuple_of(int fd, struct pkt_tuple *t)
{
	struct sockaddr_in peer, self;
	socklen_t len = sizeof(peer);

	assert_int_equal(getpeername(fd, (struct sockaddr *)&peer, &len), 0);
	len = sizeof(self);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&self, &len), 0);
	memset(t, 0, sizeof(*t));
	t->family = AF_INET;
	memcpy(t->saddr, &peer.sin_addr, 4);
	memcpy(t->daddr, &self.sin_addr, 4);
	t->sport = ntohs(peer.sin_port);
	t->dport = ntohs(self.sin_port);
}

/* A client connects to the front; the accepted socket goes to the handoff. */
static int client_via(struct env *e, uint32_t listener, struct pkt_tuple *t)
{
	uint16_t port;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct handoff_conn hc;
	int c, s;

	assert_int_equal(getsockname(e->front, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	c = tcp_connect(port);
	s = accept4(e->front, NULL, NULL, SOCK_CLOEXEC);
	assert_true(s >= 0);
	memset(&hc, 0, sizeof(hc));
	hc.fd = s;
	hc.ls = handoff_listener(e->h, listener);
	tuple_of(s, &hc.t);
	if (t)
		*t = hc.t;
	assert_int_equal(handoff_submit(e->h, &hc), 0);
	return c;
}

static int backend_accept(struct env *e)
{
	int b = accept4(e->backend, NULL, NULL, SOCK_CLOEXEC);

	assert_true(b >= 0);
	set_timeouts(b);
	return b;
}

/*
 * A pass-fd backend's connect() returns before the daemon's loop has
 * accepted it, so a client may still find no backend: retry until one is
 * handed over (the resets are counted, and checked by the callers).
 */
static int passfd_client(struct env *e, struct pkt_tuple *t, int *resets)
{
	for (int tries = 0; tries < 100; tries++) {
		uint64_t ok = stat_get(e, 1, ST_HANDOFFS), bad = stat_get(e, 1, ST_HANDOFF_FAILED);
		int c = client_via(e, 1, t);

		while (stat_get(e, 1, ST_HANDOFFS) == ok &&
		       stat_get(e, 1, ST_HANDOFF_FAILED) == bad)
			usleep(1000);
		if (stat_get(e, 1, ST_HANDOFFS) > ok)
			return c;
		close(c);
		(*resets)++;
		usleep(10000);
	}
	fail_msg("no pass-fd backend registered");
	return -1;
}

static void read_exact(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(fd, (char *)buf + got, n - got, 0);

		if (r <= 0)
			fail_msg("read_exact: %zd after %zu of %zu bytes (%s)", r, got, n,
			         strerror(errno));
		got += (size_t)r;
	}
}

static void expect_eof(int fd)
{
	char c;

	assert_int_equal(recv(fd, &c, 1, 0), 0);
}

static void expect_reset(int fd)
{
	char buf[256];
	ssize_t r;

	/* Bytes already in flight may come first; then the reset. */
	do
		r = recv(fd, buf, sizeof(buf), 0);
	while (r > 0);
	if (r == 0)
		fail_msg("got a FIN, want a reset");
	assert_int_equal(errno, ECONNRESET);
}

static void reset_close(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
}

/* The relay's own socket at the other end of peer: the descriptor of this process connected
 * from peer's remote address to peer's local one. */
static int relay_end_of(int peer)
{
	struct sockaddr_storage want[2], have[2];
	socklen_t wl[2] = {sizeof(want[0]), sizeof(want[1])};

	assert_int_equal(getpeername(peer, (struct sockaddr *)&want[0], &wl[0]), 0);
	assert_int_equal(getsockname(peer, (struct sockaddr *)&want[1], &wl[1]), 0);
	for (int fd = 3; fd < 4096; fd++) {
		socklen_t hl[2] = {sizeof(have[0]), sizeof(have[1])};

		if (fd == peer || getsockname(fd, (struct sockaddr *)&have[0], &hl[0]) < 0 ||
		    getpeername(fd, (struct sockaddr *)&have[1], &hl[1]) < 0)
			continue;
		if (hl[0] == wl[0] && hl[1] == wl[1] && memcmp(&have[0], &want[0], wl[0]) == 0 &&
		    memcmp(&have[1], &want[1], wl[1]) == 0)
			return fd;
	}
	fail_msg("no socket of the relay faces fd %d", peer);
	return -1;
}

static int nodelay_of(int fd)
{
	int v = -1;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
	return v;
}

static void test_relay_half_close(void **state)
{
	(void)state;
	struct env *e = env_new(0, 0);
	char buf[16];
	int c = client_via(e, 0, NULL), b = backend_accept(e);

	/* the relay passes short segments on at once, on both of its sockets (sockutil.h) */
	assert_int_equal(nodelay_of(relay_end_of(c)), 1);
	assert_int_equal(nodelay_of(relay_end_of(b)), 1);
	/* Client -> backend, then the client's FIN reaches the backend ... */
	assert_int_equal(send(c, "hello", 5, 0), 5);
	read_exact(b, buf, 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(shutdown(c, SHUT_WR), 0);
	expect_eof(b);
	/* ... while the other direction still works, and ends with its own FIN. */
	assert_int_equal(send(b, "world!", 6, 0), 6);
	read_exact(c, buf, 6);
	assert_memory_equal(buf, "world!", 6);
	assert_int_equal(shutdown(b, SHUT_WR), 0);
	expect_eof(c);

	wait_stat(e, 0, ST_ACTIVE_CONNECTIONS, 0);
	assert_int_equal(stat_get(e, 0, ST_HANDOFFS), 1);
	assert_int_equal(stat_get(e, 0, ST_HANDOFF_FAILED), 0);
	assert_int_equal(stat_get(e, 0, ST_BYTES_TO_BACKEND), 5);
	assert_int_equal(stat_get(e, 0, ST_BYTES_TO_CLIENT), 6);
	close(c);
	close(b);
	env_free(e);
}

static void test_relay_backend_closes_first(void **state)
{
	(void)state;
	struct env *e = env_new(0, 0);
	char buf[16];
	int c = client_via(e, 0, NULL), b = backend_accept(e);

	/* A server that answers and closes before the client is done. */
	assert_int_equal(send(b, "bye", 3, 0), 3);
	assert_int_equal(shutdown(b, SHUT_WR), 0);
	read_exact(c, buf, 3);
	expect_eof(c);
	assert_int_equal(stat_get(e, 0, ST_ACTIVE_CONNECTIONS), 1);
	assert_int_equal(send(c, "late", 4, 0), 4);
	read_exact(b, buf, 4);
	assert_memory_equal(buf, "late", 4);
	close(c);
	expect_eof(b);
	wait_stat(e, 0, ST_ACTIVE_CONNECTIONS, 0);
	close(b);
	env_free(e);
}

static void check_proxy_header(uint8_t version)
{
	struct env *e = env_new(version, 0);
	struct pkt_tuple t;
	struct pp_result r;
	uint8_t buf[PP_BUILD_MAX + 16];
	size_t want, got = 0;
	int c = client_via(e, 0, &t), b;

	assert_int_equal(send(c, "GET /", 5, 0), 5);
	b = backend_accept(e);
	want = version == 1 ? pp_build_v1((char *)buf, sizeof(buf), &t)
	                    : pp_build_v2(buf, sizeof(buf), &t);
	assert_true(want > 0);
	/* The header comes first and alone, the client's bytes right after. */
	while (got < want + 5) {
		ssize_t n = recv(b, buf + got, want + 5 - got, 0);

		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_int_equal(pp_parse(buf, got, &r), PP_OK);
	assert_int_equal(r.version, version);
	assert_false(r.local);
	assert_int_equal(r.len, want);
	assert_memory_equal(r.t.saddr, t.saddr, 4);
	assert_memory_equal(r.t.daddr, t.daddr, 4);
	assert_int_equal(r.t.sport, t.sport);
	assert_int_equal(r.t.dport, t.dport);
	assert_memory_equal(buf + r.len, "GET /", 5);
	/* Header bytes are not client bytes. */
	wait_stat(e, 0, ST_BYTES_TO_BACKEND, 5);
	close(c);
	close(b);
	env_free(e);
}

static void test_relay_proxy_v1(void **state)
{
	(void)state;
	check_proxy_header(1);
}

static void test_relay_proxy_v2(void **state)
{
	(void)state;
	check_proxy_header(2);
}

static void test_relay_backend_reset(void **state)
{
	(void)state;
	struct env *e = env_new(0, 0);
	char buf[4];
	int c = client_via(e, 0, NULL), b = backend_accept(e);

	assert_int_equal(send(c, "x", 1, 0), 1);
	read_exact(b, buf, 1);
	reset_close(b);
	expect_reset(c);
	wait_stat(e, 0, ST_ACTIVE_CONNECTIONS, 0);
	close(c);
	env_free(e);
}

static void test_relay_client_reset(void **state)
{
	(void)state;
	struct env *e = env_new(0, 0);
	char buf[4];
	int c = client_via(e, 0, NULL), b = backend_accept(e);

	assert_int_equal(send(b, "y", 1, 0), 1);
	read_exact(c, buf, 1);
	reset_close(c);
	expect_reset(b);
	wait_stat(e, 0, ST_ACTIVE_CONNECTIONS, 0);
	close(b);
	env_free(e);
}

static void test_relay_backend_refused(void **state)
{
	(void)state;
	struct env *e = env_conf(0, 0);
	uint16_t port;
	int dead = tcp_listen(&port), c;

	close(dead); /* nothing listens on port now */
	backend_addr(&e->listeners[0], port);
	env_run(e);
	c = client_via(e, 0, NULL);
	expect_reset(c);
	wait_stat(e, 0, ST_HANDOFF_FAILED, 1);
	assert_int_equal(stat_get(e, 0, ST_HANDOFFS), 0);
	assert_int_equal(stat_get(e, 0, ST_ACTIVE_CONNECTIONS), 0);
	close(c);
	env_free(e);
}

static void test_relay_backend_timeout(void **state)
{
	(void)state;
	struct env *e = env_conf(0, 0);
	uint16_t port;
	int full, filler, c;
	double t0;

	/* A backlog that is already full drops further SYNs: the connect
	 * neither succeeds nor fails until our timeout. */
	full = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	{
		struct sockaddr_in sin = {.sin_family = AF_INET,
		                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t len = sizeof(sin);

		assert_int_equal(bind(full, (struct sockaddr *)&sin, sizeof(sin)), 0);
		assert_int_equal(listen(full, 0), 0);
		assert_int_equal(getsockname(full, (struct sockaddr *)&sin, &len), 0);
		port = ntohs(sin.sin_port);
	}
	filler = tcp_connect(port);
	backend_addr(&e->listeners[0], port);
	env_run(e);
	t0 = now_s();
	c = client_via(e, 0, NULL);
	expect_reset(c);
	assert_true(now_s() - t0 > 4.0);
	assert_int_equal(stat_get(e, 0, ST_HANDOFF_FAILED), 1);
	close(c);
	close(filler);
	close(full);
	env_free(e);
}

static void test_relay_idle_timeout(void **state)
{
	(void)state;
	struct env *e = env_new(0, 1);
	char buf[4];
	int c = client_via(e, 0, NULL), b = backend_accept(e);
	double t0;

	/* Traffic every 400 ms keeps a 1 s idle timeout away ... */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(send(c, "p", 1, 0), 1);
		read_exact(b, buf, 1);
		usleep(400 * 1000);
	}
	assert_int_equal(stat_get(e, 0, ST_ACTIVE_CONNECTIONS), 1);
	/* ... silence ends it, with a reset on both sides. */
	t0 = now_s();
	expect_reset(c);
	expect_reset(b);
	assert_true(now_s() - t0 < 3.0);
	wait_stat(e, 0, ST_ACTIVE_CONNECTIONS, 0);
	close(c);
	close(b);
	env_free(e);
}

static uint8_t pattern(uint64_t i, uint8_t seed)
{
	return (uint8_t)((i % 251) ^ seed);
}

/* Pushes `up` bytes client -> backend and `down` bytes backend -> client at
 * the same time, each side reading only once it has written `lag` bytes,
 * and checks every byte. */
static void duplex(int c, int b, uint64_t up, uint64_t down, uint64_t lag)
{
	uint64_t sent[2] = {0, 0}, rcvd[2] = {0, 0}, total[2] = {up, down};
	int fds[2] = {c, b};
	bool shut[2] = {false, false};
	static uint8_t buf[65536];
	double end = now_s() + 60;

	for (int k = 0; k < 2; k++)
		assert_int_equal(fcntl(fds[k], F_SETFL, O_NONBLOCK), 0);
	while (rcvd[0] < total[1] || rcvd[1] < total[0]) {
		struct pollfd pfd[2];

		assert_true(now_s() < end);
		for (int k = 0; k < 2; k++) {
			pfd[k].fd = fds[k];
			pfd[k].events = 0;
			if (sent[k] < total[k])
				pfd[k].events |= POLLOUT;
			if (sent[k] >= lag || sent[k] == total[k])
				pfd[k].events |= POLLIN;
		}
		assert_true(poll(pfd, 2, 1000) >= 0);
		for (int k = 0; k < 2; k++) {
			if (pfd[k].revents & POLLOUT) {
				size_t n = sizeof(buf);
				ssize_t w;

				if (n > total[k] - sent[k])
					n = total[k] - sent[k];
				for (size_t i = 0; i < n; i++)
					buf[i] = pattern(sent[k] + i, (uint8_t)k);
				w = send(fds[k], buf, n, MSG_NOSIGNAL);
				if (w < 0)
					assert_int_equal(errno, EAGAIN);
				else
					sent[k] += (uint64_t)w;
			}
			if (sent[k] == total[k] && !shut[k]) {
				assert_int_equal(shutdown(fds[k], SHUT_WR), 0);
				shut[k] = true;
			}
			if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t r = recv(fds[k], buf, sizeof(buf), 0);

				if (r < 0) {
					assert_int_equal(errno, EAGAIN);
					continue;
				}
				assert_true(r > 0 || rcvd[k] == total[1 - k]);
				for (ssize_t i = 0; i < r; i++)
					if (buf[i] !=
					    pattern(rcvd[k] + (uint64_t)i, (uint8_t)(1 - k)))
						fail_msg(
						    "side %d: byte %llu differs", k,
						    (unsigned long long)(rcvd[k] + (uint64_t)i));
				rcvd[k] += (uint64_t)r;
			}
		}
	}
	for (int k = 0; k < 2; k++)
		assert_int_equal(fcntl(fds[k], F_SETFL, 0), 0);
}

static void test_relay_bulk_duplex(void **state)
{
	(void)state;
	struct env *e = env_new(0, 0);
	int c = client_via(e, 0, NULL), b = backend_accept(e);
	const uint64_t up = 48u << 20, down = 32u << 20;

	duplex(c, b, up, down, 0);
	expect_eof(c);
	expect_eof(b);
	wait_stat(e, 0, ST_ACTIVE_CONNECTIONS, 0);
	assert_int_equal(stat_get(e, 0, ST_BYTES_TO_BACKEND), up);
	assert_int_equal(stat_get(e, 0, ST_BYTES_TO_CLIENT), down);
	close(c);
	close(b);
	env_free(e);
}

static bool same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_family == b->sin_family && a->sin_port == b->sin_port &&
	       a->sin_addr.s_addr == b->sin_addr.s_addr;
}

/* The relay's own socket in this process: local address `self` if self, else peer `peer`. */
static int find_socket(const struct sockaddr_in *self, const struct sockaddr_in *peer)
{
	for (int fd = 3; fd < 65536; fd++) {
		struct sockaddr_in a;
		socklen_t len = sizeof(a);

		if (self && getsockname(fd, (struct sockaddr *)&a, &len) == 0 &&
		    same_addr(&a, self))
			return fd;
		len = sizeof(a);
		if (peer && getpeername(fd, (struct sockaddr *)&a, &len) == 0 &&
		    same_addr(&a, peer))
			return fd;
	}
	fail_msg("no socket of the relay found");
	return -1;
}

static int ioctl_int(int fd, unsigned long req)
{
	int n = -1;

	assert_int_equal(ioctl(fd, req, &n), 0);
	return n;
}

/*
 * Waits until the relay of client c (which sent `sent` bytes) and backend b
 * (which reads nothing) is stalled by backpressure, a state that holds no
 * matter how long one looks: every byte it delivered to the backend is in the
 * backend's kernel side (b's receive queue, or the relay's backend socket's
 * send queue, which holds bytes: the backend's window is closed, so nothing
 * more can move), the client's bytes wait in the kernel (the relay's client
 * socket holds unread bytes) and the relay itself holds at most one pipeful.
 */
static void wait_stalled(struct env *e, int c, int b, uint64_t sent)
{
	struct sockaddr_in bpeer, cself;
	socklen_t len = sizeof(bpeer);
	int rback, rclient;
	double end = now_s() + IO_TIMEOUT_S;

	assert_int_equal(getpeername(b, (struct sockaddr *)&bpeer, &len), 0);
	len = sizeof(cself);
	assert_int_equal(getsockname(c, (struct sockaddr *)&cself, &len), 0);
	rback = find_socket(&bpeer, NULL);
	rclient = find_socket(NULL, &cself);
	assert_int_not_equal(rclient, c);
	for (;;) {
		uint64_t to_backend = stat_get(e, 0, ST_BYTES_TO_BACKEND);
		uint64_t at_backend =
		    (uint64_t)ioctl_int(b, SIOCINQ) + (uint64_t)ioctl_int(rback, SIOCOUTQ);
		uint64_t client_side =
		    (uint64_t)ioctl_int(c, SIOCOUTQ) + (uint64_t)ioctl_int(rclient, SIOCINQ);
		int64_t in_pipe = (int64_t)(sent - client_side - to_backend);

		if (to_backend == at_backend && ioctl_int(rback, SIOCOUTQ) > 0 &&
		    ioctl_int(rclient, SIOCINQ) > 0 && in_pipe >= 0 && in_pipe <= RELAY_PIPE_SIZE)
			return;
		if (now_s() > end)
			fail_msg(
			    "relay not stalled: %llu bytes delivered, %llu held at the backend, "
			    "%llu at the client side, %lld in between, of %llu sent",
			    (unsigned long long)to_backend, (unsigned long long)at_backend,
			    (unsigned long long)client_side, (long long)in_pipe,
			    (unsigned long long)sent);
		usleep(10000);
	}
}

static void test_relay_backpressure(void **state)
{
	(void)state;
	struct env *e = env_new(0, 0);
	int c = client_via(e, 0, NULL), b = backend_accept(e);
	static uint8_t buf[65536];
	uint64_t sent = 0;
	const uint64_t limit = 256u << 20;

	/* The backend does not read: the client can fill the socket buffers
	 * and the pipe, then must be stopped, long before `limit`. */
	assert_int_equal(fcntl(c, F_SETFL, O_NONBLOCK), 0);
	for (double quiet = 0; quiet < 0.5 && sent < limit;) {
		ssize_t w;

		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = pattern(sent + i, 0);
		w = send(c, buf, sizeof(buf), MSG_NOSIGNAL);
		if (w > 0) {
			sent += (uint64_t)w;
			quiet = 0;
		} else {
			assert_int_equal(errno, EAGAIN);
			usleep(10000);
			quiet += 0.01;
		}
	}
	assert_true(sent < limit);
	wait_stalled(e, c, b, sent);
	/* Everything that was accepted arrives intact once the backend reads. */
	assert_int_equal(fcntl(c, F_SETFL, 0), 0);
	assert_int_equal(shutdown(c, SHUT_WR), 0);
	for (uint64_t got = 0; got < sent;) {
		ssize_t r = recv(b, buf, sizeof(buf), 0);

		assert_true(r > 0);
		for (ssize_t i = 0; i < r; i++)
			assert_int_equal(buf[i], pattern(got + (uint64_t)i, 0));
		got += (uint64_t)r;
	}
	expect_eof(b);
	close(b);
	expect_eof(c);
	close(c);
	wait_stat(e, 0, ST_ACTIVE_CONNECTIONS, 0);
	env_free(e);
}

static void test_relay_many(void **state)
{
	(void)state;
	struct env *e = env_new(1, 0);
	enum { N = 200 };
	int c[N], b[N];
	char buf[PP_BUILD_MAX + 8];

	/* Many relays at once, each answered on its own connection. */
	for (int i = 0; i < N; i++) {
		c[i] = client_via(e, 0, NULL);
		b[i] = backend_accept(e);
	}
	wait_stat(e, 0, ST_ACTIVE_CONNECTIONS, N);
	for (int i = 0; i < N; i++) {
		struct pp_result r;
		ssize_t n;
		size_t got = 0;

		do {
			n = recv(b[i], buf + got, sizeof(buf) - got, 0);
			assert_true(n > 0);
			got += (size_t)n;
		} while (pp_parse((uint8_t *)buf, got, &r) == PP_INCOMPLETE);
		assert_int_equal(got, r.len);
		/* Send the client its own port back: no cross-talk. */
		n = snprintf(buf, sizeof(buf), "%05u", r.t.sport);
		assert_int_equal(send(b[i], buf, (size_t)n, 0), n);
	}
	for (int i = 0; i < N; i++) {
		struct sockaddr_in self;
		socklen_t len = sizeof(self);
		char want[8];

		assert_int_equal(getsockname(c[i], (struct sockaddr *)&self, &len), 0);
		snprintf(want, sizeof(want), "%05u", ntohs(self.sin_port));
		read_exact(c[i], buf, 5);
		assert_memory_equal(buf, want, 5);
		close(c[i]);
		close(b[i]);
	}
	wait_stat(e, 0, ST_ACTIVE_CONNECTIONS, 0);
	assert_int_equal(stat_get(e, 0, ST_HANDOFFS), N);
	env_free(e);
}

static void test_inbox_bounded(void **state)
{
	(void)state;
	struct env *e = env_conf(0, 0);
	struct handoff_conn hc;
	char err[256];
	int n = 0;

	/* The loop is not running yet: nothing drains the inbox. Entries
	 * carry no socket (fd -1), so draining them later only counts. */
	e->loop = ev_loop_new(EVFLAG_AUTO);
	e->h = handoff_new(e->loop, &e->conf, err, sizeof(err));
	assert_non_null(e->h);
	memset(&hc, 0, sizeof(hc));
	hc.fd = -1;
	hc.ls = handoff_listener(e->h, 0);
	while (handoff_submit(e->h, &hc) == 0) {
		assert_true(++n <= 1 << 20);
		memset(&hc.hold, 0, sizeof(hc.hold)); /* each entry accounts for itself */
	}
	assert_int_equal(n, 4096);
	/* Once the loop runs, everything is taken out (more than one wakeup's
	 * budget), and there is room again. */
	ev_async_init(&e->stop, on_stop);
	ev_async_start(e->loop, &e->stop);
	assert_int_equal(pthread_create(&e->thread, NULL, loop_thread, e), 0);
	wait_stat(e, 0, ST_HANDOFF_FAILED, 4096);
	assert_int_equal(handoff_submit(e->h, &hc), 0);
	wait_stat(e, 0, ST_HANDOFF_FAILED, 4097);
	/* A connection of no listener is refused, counted apart. */
	memset(&hc, 0, sizeof(hc));
	hc.fd = -1;
	assert_int_equal(handoff_submit(e->h, &hc), 0);
	wait_stat(e, 2, ST_HANDOFF_FAILED, 1);
	/* Every entry's accounting was settled. */
	{
		struct handoff_listener_counts lc;

		handoff_listener_counts(handoff_listener(e->h, 0), &lc);
		assert_int_equal(lc.accept_queue, 0);
		assert_int_equal(lc.connections, 0);
	}
	env_free(e);
}

static void test_passfd_basic(void **state)
{
	(void)state;
	struct env *e = env_conf(0, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct sockaddr_in peer, self;
	socklen_t len;
	struct pkt_tuple t;
	struct sgc_conn conn;
	struct stat st;
	char buf[8];
	int stale, s, c, resets = 0;

	/* A socket file left by a dead daemon is replaced. */
	strcpy(sun.sun_path, e->sock_path);
	stale = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(stale, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(stale);
	env_run(e);
	assert_int_equal(lstat(e->sock_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);

	s = sgc_connect(e->sock_path);
	assert_true(s >= 0);
	set_timeouts(s);
	c = passfd_client(e, &t, &resets);
	assert_int_equal(sgc_recv(s, &conn), 0);
	assert_int_equal(stat_get(e, 1, ST_HANDOFFS), 1);
	assert_int_equal(stat_get(e, 1, ST_HANDOFF_FAILED), resets);
	assert_string_equal(conn.listener, "app");
	memcpy(&peer, &conn.client, sizeof(peer));
	assert_int_equal(peer.sin_family, AF_INET);
	assert_memory_equal(&peer.sin_addr, t.saddr, 4);
	assert_int_equal(ntohs(peer.sin_port), t.sport);
	memcpy(&self, &conn.server, sizeof(self));
	assert_memory_equal(&self.sin_addr, t.daddr, 4);
	assert_int_equal(ntohs(self.sin_port), t.dport);
	/* The fd is the client's connection itself: its peer is the client, and
	 * the daemon kept no copy (the client sees our close as EOF). */
	len = sizeof(peer);
	assert_int_equal(getpeername(conn.fd, (struct sockaddr *)&peer, &len), 0);
	assert_int_equal(ntohs(peer.sin_port), t.sport);
	assert_int_equal(send(conn.fd, "direct", 6, 0), 6);
	read_exact(c, buf, 6);
	assert_memory_equal(buf, "direct", 6);
	close(conn.fd);
	expect_eof(c);
	close(c);
	close(s);
	env_free(e);
}

static void test_passfd_refuses_non_socket(void **state)
{
	(void)state;
	struct env *e = env_conf(0, 0);
	char err[256];
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	int fd = open(e->sock_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	close(fd);
	assert_null(handoff_new(loop, &e->conf, err, sizeof(err)));
	assert_non_null(strstr(err, "not a socket"));
	/* ... and the file is left alone. */
	assert_int_equal(access(e->sock_path, F_OK), 0);
	unlink(e->sock_path);
	ev_loop_destroy(loop);
	close(e->front);
	close(e->backend);
	free(e);
}

static void test_passfd_refuses_live_socket(void **state)
{
	(void)state;
	struct env *e = env_new(0, 0);
	char err[256];
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

	/* A second daemon must not steal the socket of a running one. */
	assert_null(handoff_new(loop, &e->conf, err, sizeof(err)));
	assert_non_null(strstr(err, "in use"));
	ev_loop_destroy(loop);
	env_free(e);
}

/* Non-blocking: how many connections backend socket s has waiting (closing them). */
static int drain_backend(int s)
{
	struct sgc_conn conn;
	int n = 0, fl = fcntl(s, F_GETFL);

	assert_int_equal(fcntl(s, F_SETFL, fl | O_NONBLOCK), 0);
	while (sgc_recv(s, &conn) == 0) {
		close(conn.fd);
		n++;
	}
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fcntl(s, F_SETFL, fl), 0);
	return n;
}

static void test_passfd_round_robin(void **state)
{
	(void)state;
	struct env *e = env_new(0, 0);
	int s[2], c[4], got[2] = {0, 0}, resets = 0, probes = 0;

	for (int k = 0; k < 2; k++) {
		s[k] = sgc_connect(e->sock_path);
		assert_true(s[k] >= 0);
		set_timeouts(s[k]);
	}
	/* Probe until both backends are known to the daemon. */
	while (got[0] == 0 || got[1] == 0) {
		close(passfd_client(e, NULL, &resets));
		probes++;
		assert_true(probes < 100);
		for (int k = 0; k < 2; k++)
			got[k] += drain_backend(s[k]);
	}
	/* Now they take turns. */
	for (int i = 0; i < 4; i++)
		c[i] = client_via(e, 1, NULL);
	wait_stat(e, 1, ST_HANDOFFS, (uint64_t)probes + 4);
	assert_int_equal(stat_get(e, 1, ST_HANDOFF_FAILED), resets);
	assert_int_equal(drain_backend(s[0]), 2);
	assert_int_equal(drain_backend(s[1]), 2);
	for (int i = 0; i < 4; i++)
		close(c[i]);
	close(s[0]);
	close(s[1]);
	env_free(e);
}

static void test_passfd_no_backend(void **state)
{
	(void)state;
	struct env *e = env_new(0, 0);
	int c = client_via(e, 1, NULL), s, resets = 0;

	expect_reset(c);
	wait_stat(e, 1, ST_HANDOFF_FAILED, 1);
	close(c);

	/* A backend that leaves is dropped; the next client is reset again. */
	s = sgc_connect(e->sock_path);
	assert_true(s >= 0);
	close(passfd_client(e, NULL, &resets));
	assert_int_equal(drain_backend(s), 1);
	close(s);
	c = client_via(e, 1, NULL);
	expect_reset(c);
	wait_stat(e, 1, ST_HANDOFF_FAILED, 2 + (uint64_t)resets);
	assert_int_equal(stat_get(e, 1, ST_HANDOFFS), 1);
	close(c);
	env_free(e);
}

static void test_passfd_backend_not_reading(void **state)
{
	(void)state;
	struct env *e;
	enum { N = 1500 };
	static int c[N];
	struct rlimit rl;
	uint64_t ok, failed;
	int s, resets = 0;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 2 * N + 64)
		skip();
	e = env_new(0, 0);
	s = sgc_connect(e->sock_path);
	assert_true(s >= 0);
	set_timeouts(s);
	close(passfd_client(e, NULL, &resets));
	assert_int_equal(drain_backend(s), 1);
	/* The backend reads nothing while connections pile up: once its
	 * socket buffer is full the rest are reset, nothing waits in memory. */
	for (int i = 0; i < N; i++)
		c[i] = client_via(e, 1, NULL);
	for (double end = now_s() + IO_TIMEOUT_S;; usleep(10000)) {
		ok = stat_get(e, 1, ST_HANDOFFS) - 1;
		failed = stat_get(e, 1, ST_HANDOFF_FAILED) - (uint64_t)resets;
		if (ok + failed == N)
			break;
		assert_true(now_s() < end);
	}
	assert_true(ok > 0);
	assert_true(failed > 0);
	assert_int_equal(drain_backend(s), ok);
	for (int i = 0; i < N; i++)
		close(c[i]);
	close(s);
	env_free(e);
}

/* Stops the loop thread, so the test thread may act as the main thread. */
static void env_pause(struct env *e)
{
	ev_async_send(e->loop, &e->stop);
	pthread_join(e->thread, NULL);
}

static void env_resume(struct env *e)
{
	assert_int_equal(pthread_create(&e->thread, NULL, loop_thread, e), 0);
}

static struct handoff_conn conn_from(struct env *e, uint32_t listener, const char *src)
{
	struct handoff_conn hc;

	memset(&hc, 0, sizeof(hc));
	hc.fd = -1;
	hc.ls = handoff_listener(e->h, listener);
	hc.t.family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, src, hc.t.saddr), 1);
	return hc;
}

static void assert_counts(struct env *e, uint32_t listener, uint32_t queue, uint32_t conns,
                          uint32_t sources)
{
	struct handoff_listener_counts lc;

	handoff_listener_counts(handoff_listener(e->h, listener), &lc);
	assert_int_equal(lc.accept_queue, queue);
	assert_int_equal(lc.connections, conns);
	assert_int_equal(lc.sources, sources);
}

/* Admission: accept_backlog, max_connections and the per-source cap, all given back. */
static void test_admit_limits(void **state)
{
	(void)state;
	struct env *e = env_conf(0, 0);
	struct handoff_conn a, b, c, d, x;
	char err[256];

	e->policy.accept_backlog = 2;
	e->policy.max_connections = 3;
	e->policy.per_source.max_connections = 1;
	e->policy.per_source.prefix_v4 = 24;
	e->policy.per_source.prefix_v6 = 64;
	e->loop = ev_loop_new(EVFLAG_AUTO);
	e->h = handoff_new(e->loop, &e->conf, err, sizeof(err));
	assert_non_null(e->h);
	assert_string_equal(handoff_listener_name(handoff_listener(e->h, 0)), "web");
	assert_null(handoff_listener(e->h, 2));

	a = conn_from(e, 0, "192.0.2.10");
	b = conn_from(e, 0, "192.0.2.11"); /* the same /24 */
	c = conn_from(e, 0, "198.51.100.1");
	assert_int_equal(handoff_admit(&a, &e->policy, false), HANDOFF_ADMIT_OK);
	assert_int_equal(handoff_admit(&b, &e->policy, false), HANDOFF_ADMIT_SOURCE);
	assert_counts(e, 0, 1, 1, 1);
	/* allow-listed: no per-source cap */
	assert_int_equal(handoff_admit(&b, &e->policy, true), HANDOFF_ADMIT_OK);
	assert_int_equal(handoff_admit(&c, &e->policy, false), HANDOFF_ADMIT_BACKLOG);
	assert_counts(e, 0, 2, 2, 1);
	/* the other listener has its own counts */
	x = conn_from(e, 1, "192.0.2.10");
	assert_int_equal(handoff_admit(&x, &e->policy, false), HANDOFF_ADMIT_OK);
	handoff_unadmit(&x);
	assert_counts(e, 1, 0, 0, 0);

	handoff_unadmit(&a);
	handoff_unadmit(&a); /* twice changes nothing */
	assert_counts(e, 0, 1, 1, 0);
	e->policy.accept_backlog = 10;
	assert_int_equal(handoff_admit(&a, &e->policy, false), HANDOFF_ADMIT_OK);
	assert_int_equal(handoff_admit(&c, &e->policy, false), HANDOFF_ADMIT_OK);
	d = conn_from(e, 0, "203.0.113.1");
	assert_int_equal(handoff_admit(&d, &e->policy, false), HANDOFF_ADMIT_CONNS);
	assert_counts(e, 0, 3, 3, 2);
	/* leaving the accept queue keeps the connection held */
	acceptq_leave(&a.hold);
	assert_counts(e, 0, 2, 3, 2);
	acceptq_leave(&a.hold); /* twice changes nothing */
	assert_counts(e, 0, 2, 3, 2);
	acceptq_drop(&a.hold, &a.t);
	handoff_unadmit(&b);
	handoff_unadmit(&c);
	assert_counts(e, 0, 0, 0, 0);
	assert_int_equal(handoff_listener_cookie(handoff_listener(e->h, 0), 1), 1);
	assert_int_equal(handoff_listener_cookie(handoff_listener(e->h, 0), -1), 0);
	handoff_free(e->h);
	ev_loop_destroy(e->loop);
	close(e->front);
	close(e->backend);
	free(e);
}

/* True when nothing arrives on fd (no data, no FIN, no reset) for ms milliseconds. */
static bool quiet_for(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 0;
}

static void test_passfd_hold(void **state)
{
	(void)state;
	struct env *e = env_conf(0, 0);
	struct sgc_conn conn;
	char buf[4];
	int c, s;

	e->policy.accept_timeout = 5;
	e->policy.accept_backlog = 8;
	env_run(e);
	c = client_via(e, 1, NULL);
	/* no backend: the client waits, it is not reset */
	assert_true(quiet_for(c, 300));
	wait_queue(e, 1, 1);
	assert_int_equal(stat_get(e, 1, ST_HANDOFF_FAILED), 0);
	/* the first backend to connect gets it */
	s = sgc_connect(e->sock_path);
	assert_true(s >= 0);
	set_timeouts(s);
	assert_int_equal(sgc_recv(s, &conn), 0);
	wait_stat(e, 1, ST_HANDOFFS, 1);
	wait_queue(e, 1, 0);
	assert_int_equal(send(conn.fd, "late", 4, 0), 4);
	read_exact(c, buf, 4);
	assert_memory_equal(buf, "late", 4);
	close(conn.fd);
	close(c);
	close(s);
	env_free(e);
}

static void test_passfd_hold_timeout(void **state)
{
	(void)state;
	struct env *e = env_conf(0, 0);
	double t0;
	int c;

	e->policy.accept_timeout = 1;
	e->policy.accept_backlog = 8;
	env_run(e);
	t0 = now_s();
	c = client_via(e, 1, NULL);
	expect_reset(c);
	assert_true(now_s() - t0 > 0.9);
	wait_stat(e, 1, ST_ACCEPT_TIMEOUT, 1);
	/* counted one after the other by the handoff thread: wait for each */
	wait_stat(e, 1, ST_HANDOFF_FAILED, 1);
	wait_queue(e, 1, 0);
	close(c);
	env_free(e);
}

/* The wait list never holds more than accept_backlog, whoever submits. */
static void test_passfd_hold_backlog(void **state)
{
	(void)state;
	struct env *e = env_conf(0, 0);
	int c[3], s, got = 0;

	e->policy.accept_timeout = 5;
	e->policy.accept_backlog = 2;
	env_run(e);
	for (int i = 0; i < 3; i++)
		c[i] = client_via(e, 1, NULL);
	expect_reset(c[2]);
	wait_stat(e, 1, ST_ACCEPT_OVERFLOW, 1);
	assert_true(quiet_for(c[0], 100));
	s = sgc_connect(e->sock_path);
	assert_true(s >= 0);
	set_timeouts(s);
	for (double end = now_s() + IO_TIMEOUT_S; got < 2; usleep(5000)) {
		got += drain_backend(s);
		assert_true(now_s() < end);
	}
	wait_stat(e, 1, ST_HANDOFFS, 2);
	for (int i = 0; i < 3; i++)
		close(c[i]);
	close(s);
	env_free(e);
}

/* max_backend_connects: the next connection waits for a slot, within accept_timeout. */
static void test_relay_connect_slots(void **state)
{
	(void)state;
	struct env *e = env_conf(0, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int full, filler, a, b;
	double t0;

	/* a backend whose connects hang (full backlog), as in test_relay_backend_timeout */
	full = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(full, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(full, 0), 0);
	assert_int_equal(getsockname(full, (struct sockaddr *)&sin, &len), 0);
	filler = tcp_connect(ntohs(sin.sin_port));
	backend_addr(&e->listeners[0], ntohs(sin.sin_port));
	e->policy.max_backend_connects = 1;
	e->policy.accept_timeout = 1;
	e->policy.accept_backlog = 8;
	env_run(e);
	t0 = now_s();
	a = client_via(e, 0, NULL);
	b = client_via(e, 0, NULL);
	wait_queue(e, 0, 2);
	/* b never got a slot: reset after the accept timeout; a is still connecting */
	expect_reset(b);
	assert_true(now_s() - t0 > 0.9);
	assert_true(now_s() - t0 < 4.0);
	wait_stat(e, 0, ST_ACCEPT_TIMEOUT, 1);
	/* the handoff thread counts the timeout before it takes b off the queue */
	wait_queue(e, 0, 1);
	assert_true(quiet_for(a, 100));
	close(a);
	close(b);
	env_free(e);
	close(filler);
	close(full);
}

/*
 * Reload: "web" goes, "app" stays (same pass-fd path: its backend stays
 * connected), "api" comes. A relay of the removed listener runs on; the
 * counters follow the names; a reload that cannot open a socket changes
 * nothing.
 */
static void test_reconfigure(void **state)
{
	(void)state;
	struct env *e = env_new(0, 0);
	struct handoff_listener *app = handoff_listener(e->h, 1);
	char buf[6], err[256], bad_path[320];
	struct sgc_conn conn;
	int c, b, s, c2, b2, fd;
	struct stat st;

	c = client_via(e, 0, NULL);
	b = backend_accept(e);
	wait_stat(e, 0, ST_HANDOFFS, 1);
	s = sgc_connect(e->sock_path);
	assert_true(s >= 0);
	set_timeouts(s);
	{
		int resets = 0;

		close(passfd_client(e, NULL, &resets));
		assert_int_equal(sgc_recv(s, &conn), 0);
		close(conn.fd);
	}

	/* new configuration: [0] "app" (same pass-fd), [1] "api" (proxy, same backend) */
	e->listeners2[0] = e->listeners[1];
	e->listeners2[1] = e->listeners[0];
	strcpy(e->listeners2[1].name, "api");
	e->conf2 = e->conf;
	e->conf2.listeners = e->listeners2;

	/* first a bad one: api as pass-fd on a path that is not a socket */
	snprintf(bad_path, sizeof(bad_path), "%s/test_handoff.%d.notsock", e->dir, (int)getpid());
	fd = open(bad_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	e->listeners2[1].handoff = CONF_HANDOFF_PASSFD;
	passfd_addr(&e->listeners2[1], bad_path);
	env_pause(e);
	assert_int_equal(handoff_reconfigure(e->h, &e->conf2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a socket"));
	assert_string_equal(handoff_listener_name(handoff_listener(e->h, 0)), "web");
	assert_ptr_equal(handoff_listener(e->h, 1), app);
	unlink(bad_path);

	e->listeners2[1].handoff = CONF_HANDOFF_PROXY;
	e->listeners2[1].backend = e->listeners[0].backend;
	e->listeners2[1].backend_len = e->listeners[0].backend_len;
	assert_int_equal(handoff_reconfigure(e->h, &e->conf2, err, sizeof(err)), 0);
	/* the same state object, at its new index */
	assert_ptr_equal(handoff_listener(e->h, 0), app);
	assert_string_equal(handoff_listener_name(handoff_listener(e->h, 1)), "api");
	/* counters by name: app's pass-fd handoff at [0], web's relay in unmatched [2] */
	assert_int_equal(stat_get(e, 0, ST_HANDOFFS), 1);
	assert_int_equal(stat_get(e, 1, ST_HANDOFFS), 0);
	assert_int_equal(stat_get(e, 2, ST_HANDOFFS), 1);
	assert_int_equal(stat_get(e, 2, ST_ACTIVE_CONNECTIONS), 1);
	handoff_commit(e->h);
	env_resume(e);

	/* the removed listener's relay runs on */
	assert_int_equal(send(c, "before", 6, 0), 6);
	read_exact(b, buf, 6);
	assert_memory_equal(buf, "before", 6);
	assert_int_equal(send(b, "after!", 6, 0), 6);
	read_exact(c, buf, 6);
	assert_memory_equal(buf, "after!", 6);
	/* the pass-fd socket is the same one: its backend is still connected */
	assert_int_equal(lstat(e->sock_path, &st), 0);
	{
		int pc = client_via(e, 0, NULL); /* app is listener 0 now */

		assert_int_equal(sgc_recv(s, &conn), 0);
		wait_stat(e, 0, ST_HANDOFFS, 2);
		close(conn.fd);
		close(pc);
	}
	/* the new listener works */
	c2 = client_via(e, 1, NULL);
	b2 = backend_accept(e);
	wait_stat(e, 1, ST_HANDOFFS, 1);
	close(c2);
	close(b2);
	/* the old relay ends cleanly, in the unmatched row */
	close(c);
	close(b);
	wait_stat(e, 2, ST_ACTIVE_CONNECTIONS, 0);
	wait_stat(e, 1, ST_ACTIVE_CONNECTIONS, 0);
	close(s);
	env_free(e);
}

/*
 * Reload: the pass-fd listener is renamed, its path stays. A connection
 * waiting in the socket for a backend is counted in the new listener's
 * accept queue (the old one is freed at commit) and still reaches the first
 * backend that connects.
 */
static void test_reconfigure_passfd_rename(void **state)
{
	(void)state;
	struct env *e = env_conf(0, 0);
	struct sgc_conn conn;
	char err[256];
	int c, s;

	e->policy.accept_timeout = 5;
	e->policy.accept_backlog = 8;
	env_run(e);
	c = client_via(e, 1, NULL);
	wait_queue(e, 1, 1);
	e->listeners2[0] = e->listeners[0];
	e->listeners2[1] = e->listeners[1];
	strcpy(e->listeners2[1].name, "app2");
	e->conf2 = e->conf;
	e->conf2.listeners = e->listeners2;
	env_pause(e);
	assert_int_equal(handoff_reconfigure(e->h, &e->conf2, err, sizeof(err)), 0);
	handoff_commit(e->h);
	assert_string_equal(handoff_listener_name(handoff_listener(e->h, 1)), "app2");
	env_resume(e);
	wait_queue(e, 1, 1);
	s = sgc_connect(e->sock_path);
	assert_true(s >= 0);
	set_timeouts(s);
	assert_int_equal(sgc_recv(s, &conn), 0);
	assert_string_equal(conn.listener, "app2");
	wait_stat(e, 1, ST_HANDOFFS, 1);
	wait_queue(e, 1, 0);
	{
		struct handoff_listener_counts lc;

		handoff_listener_counts(handoff_listener(e->h, 1), &lc);
		assert_int_equal(lc.connections, 0);
	}
	close(conn.fd);
	close(c);
	close(s);
	env_free(e);
}

int main(void)
{
	struct rlimit rl;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_relay_half_close),
	    cmocka_unit_test(test_relay_backend_closes_first),
	    cmocka_unit_test(test_relay_proxy_v1),
	    cmocka_unit_test(test_relay_proxy_v2),
	    cmocka_unit_test(test_relay_backend_reset),
	    cmocka_unit_test(test_relay_client_reset),
	    cmocka_unit_test(test_relay_backend_refused),
	    cmocka_unit_test(test_relay_backend_timeout),
	    cmocka_unit_test(test_relay_idle_timeout),
	    cmocka_unit_test(test_relay_bulk_duplex),
	    cmocka_unit_test(test_relay_backpressure),
	    cmocka_unit_test(test_relay_many),
	    cmocka_unit_test(test_inbox_bounded),
	    cmocka_unit_test(test_passfd_basic),
	    cmocka_unit_test(test_passfd_refuses_non_socket),
	    cmocka_unit_test(test_passfd_refuses_live_socket),
	    cmocka_unit_test(test_passfd_round_robin),
	    cmocka_unit_test(test_passfd_no_backend),
	    cmocka_unit_test(test_passfd_backend_not_reading),
	    cmocka_unit_test(test_admit_limits),
	    cmocka_unit_test(test_passfd_hold),
	    cmocka_unit_test(test_passfd_hold_timeout),
	    cmocka_unit_test(test_passfd_hold_backlog),
	    cmocka_unit_test(test_relay_connect_slots),
	    cmocka_unit_test(test_reconfigure),
	    cmocka_unit_test(test_reconfigure_passfd_rename),
	};

	/* Hundreds of relays at once: six fds each on the daemon's side. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
