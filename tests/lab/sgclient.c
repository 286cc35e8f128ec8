/*
 * sgclient: the client side of the lab's data tests, matching sgbackend.
 *
 *   sgclient [--timeout S] [--seed N] [--local-port P] ADDR PORT MODE [ARG]
 *
 *   sink N      send N pseudo-random bytes, half-close, expect sgbackend's
 *               sink answer "bytes=N fnv1a64=H" to match what was sent
 *   source N    read to EOF; expect exactly N bytes with byte i == i mod 251
 *               (sgbackend's source pattern)
 *   echo N      send N pseudo-random bytes at once after connect, read them
 *               back, compare; half-closes after sending unless
 *               --no-halfclose, in which case it stops reading after N bytes
 *   http PATH   GET PATH over HTTP/1.0, print the answer's body; expect 200
 *   hold FILE   stay connected until FILE exists (or the timeout), then close
 *
 * Prints key=value lines (local=ADDR:PORT as sgbackend writes addresses,
 * bytes counts, fnv1a64, result=ok or result=error: why) and exits 0 only
 * when the exchange matched. Sending and receiving are interleaved with
 * poll(), so no amount of data in flight deadlocks the exchange.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK     65536
#define FNV_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

struct gen {
	uint64_t s;
};

static uint8_t gen_byte(struct gen *g)
{
	/* xorshift64*: cheap, and no period a reordering could hide in */
	g->s ^= g->s >> 12;
	g->s ^= g->s << 25;
	g->s ^= g->s >> 27;
	return (uint8_t)((g->s * 0x2545f4914f6cdd1dULL) >> 56);
}

static void gen_fill(struct gen *g, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = gen_byte(g);
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

static double timeout_s = 30;
static double deadline;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	printf("result=error: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return 1;
}

static void fmt_sa(char *out, size_t len, const struct sockaddr_storage *ss)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(out, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(out, len, "%s:%u", a, ntohs(s4->sin_port));
	}
}

/* Waits for events on fd until the deadline. Returns revents, 0 on timeout. */
static short wait_fd(int fd, short events)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		double left = deadline - now_s();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		return p.revents;
	}
}

static uint16_t local_port; /* --local-port; 0: any */

static int connect_to(const char *addr, const char *port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *ai;
	struct sockaddr_storage local;
	socklen_t ll = sizeof(local);
	char who[INET6_ADDRSTRLEN + 8];
	int fd, r, err = 0;

	r = getaddrinfo(addr, port, &hints, &ai);
	if (r) {
		fail("address %s port %s: %s", addr, port, gai_strerror(r));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(ai);
		fail("socket: %s", strerror(errno));
		return -1;
	}
	if (local_port) {
		struct sockaddr_storage any = {.ss_family = ai->ai_family};
		int one = 1;

		/* port only: the address stays the kernel's choice */
		if (ai->ai_family == AF_INET)
			((struct sockaddr_in *)&any)->sin_port = htons(local_port);
		else
			((struct sockaddr_in6 *)&any)->sin6_port = htons(local_port);
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&any, ai->ai_addrlen) < 0) {
			freeaddrinfo(ai);
			fail("bind to port %u: %s", local_port, strerror(errno));
			close(fd);
			return -1;
		}
	}
	r = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (r < 0 && errno != EINPROGRESS) {
		fail("connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (r < 0) {
		socklen_t el = sizeof(err);

		if (!(wait_fd(fd, POLLOUT) & (POLLOUT | POLLERR | POLLHUP))) {
			fail("connect: timed out");
			close(fd);
			return -1;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			fail("connect: %s", strerror(err));
			close(fd);
			return -1;
		}
	}
	getsockname(fd, (struct sockaddr *)&local, &ll);
	fmt_sa(who, sizeof(who), &local);
	printf("local=%s\n", who);
	return fd;
}

/*
 * The exchange: sends `out_len` bytes produced by `fill` (NULL: nothing),
 * half-closes when done if `halfclose`, and hands every received chunk to
 * `got` until EOF or until `in_max` bytes arrived (0: until EOF).
 */
struct xfer {
	uint64_t out_len, out_done, in, in_max;
	bool halfclose;
	struct gen gen;
	uint64_t out_fnv, in_fnv;
	void (*got)(struct xfer *x, const uint8_t *p, size_t n);
	/* echo: the receiver regenerates what was sent to compare */
	struct gen check;
	uint64_t mismatch_at;
	bool mismatch;
	/* source: pattern check */
	/* http: the answer */
	char *text;
	size_t text_len, text_cap;
};

static int run_xfer(int fd, struct xfer *x)
{
	static uint8_t obuf[CHUNK], ibuf[CHUNK];
	size_t olen = 0, ooff = 0;
	bool wr_open = true, rd_open = true;

	x->out_fnv = FNV_BASIS;
	x->in_fnv = FNV_BASIS;
	if (x->out_len == 0 && x->halfclose) {
		shutdown(fd, SHUT_WR);
		wr_open = false;
	}
	while (rd_open || (wr_open && x->out_done < x->out_len)) {
		short ev = 0, rev;

		if (rd_open)
			ev |= POLLIN;
		if (wr_open && x->out_done < x->out_len)
			ev |= POLLOUT;
		rev = wait_fd(fd, ev);
		if (!rev)
			return fail("timed out after %.0f s (sent %" PRIu64 ", received %" PRIu64
			            ")",
			            timeout_s, x->out_done, x->in);
		if (rev & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(fd, ibuf, sizeof(ibuf), 0);

			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return fail("recv: %s (sent %" PRIu64 ", received %" PRIu64 ")",
				            strerror(errno), x->out_done, x->in);
			if (n == 0) {
				rd_open = false;
				if (x->out_done < x->out_len)
					return fail("EOF after sending %" PRIu64 " of %" PRIu64
					            " bytes",
					            x->out_done, x->out_len);
			}
			if (n > 0) {
				x->in += (uint64_t)n;
				x->in_fnv = fnv1a(x->in_fnv, ibuf, (size_t)n);
				if (x->got)
					x->got(x, ibuf, (size_t)n);
				if (x->in_max && x->in >= x->in_max)
					rd_open = false;
			}
		}
		if ((rev & POLLOUT) && wr_open && x->out_done < x->out_len) {
			ssize_t n;

			if (ooff == olen) {
				uint64_t left = x->out_len - x->out_done - (olen - ooff);

				olen = left < sizeof(obuf) ? (size_t)left : sizeof(obuf);
				gen_fill(&x->gen, obuf, olen);
				x->out_fnv = fnv1a(x->out_fnv, obuf, olen);
				ooff = 0;
			}
			n = send(fd, obuf + ooff, olen - ooff, MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return fail("send: %s (sent %" PRIu64 ")", strerror(errno),
				            x->out_done);
			if (n > 0) {
				ooff += (size_t)n;
				x->out_done += (uint64_t)n;
			}
			if (x->out_done == x->out_len && x->halfclose) {
				shutdown(fd, SHUT_WR);
				wr_open = false;
			}
		}
	}
	return 0;
}

static void got_echo(struct xfer *x, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!x->mismatch && p[i] != gen_byte(&x->check)) {
			x->mismatch = true;
			x->mismatch_at = x->in - n + i;
		}
	}
}

static void got_source(struct xfer *x, const uint8_t *p, size_t n)
{
	uint64_t base = x->in - n;

	for (size_t i = 0; i < n; i++) {
		if (!x->mismatch && p[i] != (uint8_t)((base + i) % 251)) {
			x->mismatch = true;
			x->mismatch_at = base + i;
		}
	}
}

static void got_text(struct xfer *x, const uint8_t *p, size_t n)
{
	if (x->text_len + n + 1 > x->text_cap) {
		size_t cap = (x->text_len + n + 1) * 2;
		char *t = realloc(x->text, cap);

		if (!t)
			return;
		x->text = t;
		x->text_cap = cap;
	}
	memcpy(x->text + x->text_len, p, n);
	x->text_len += n;
	x->text[x->text_len] = '\0';
}

static int parse_count(const char *s, uint64_t *out)
{
	char *end;

	if (!s || *s == '-')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end || end == s ? -1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: sgclient [--timeout S] [--seed N] [--no-halfclose] [--local-port P] ADDR "
	        "PORT MODE [ARG]\n"
	        "  modes: sink N | source N | echo N | http PATH | hold FILE\n");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"timeout", required_argument, NULL, 't'}, {"seed", required_argument, NULL, 's'},
	    {"no-halfclose", no_argument, NULL, 'n'},  {"local-port", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	struct xfer x = {.halfclose = true};
	uint64_t seed = 1, n = 0;
	const char *mode, *arg;
	double t0;
	int ch, fd, rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((ch = getopt_long(argc, argv, "+t:s:np:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 't':
			timeout_s = atof(optarg);
			if (!(timeout_s > 0)) {
				fprintf(stderr, "sgclient: bad --timeout\n");
				return 2;
			}
			break;
		case 's':
			if (parse_count(optarg, &seed) < 0) {
				fprintf(stderr, "sgclient: bad --seed\n");
				return 2;
			}
			break;
		case 'n':
			x.halfclose = false;
			break;
		case 'p':
			if (parse_count(optarg, &n) < 0 || n == 0 || n > 65535) {
				fprintf(stderr, "sgclient: bad --local-port\n");
				return 2;
			}
			local_port = (uint16_t)n;
			n = 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind < 3) {
		usage(stderr);
		return 2;
	}
	mode = argv[optind + 2];
	arg = argc - optind > 3 ? argv[optind + 3] : NULL;
	if ((strcmp(mode, "sink") == 0 || strcmp(mode, "source") == 0 ||
	     strcmp(mode, "echo") == 0) &&
	    parse_count(arg, &n) < 0) {
		fprintf(stderr, "sgclient: %s needs a byte count\n", mode);
		return 2;
	}
	if ((strcmp(mode, "http") == 0 || strcmp(mode, "hold") == 0) && !arg) {
		fprintf(stderr, "sgclient: %s needs an argument\n", mode);
		return 2;
	}
	x.gen.s = seed * 0x9e3779b97f4a7c15ULL + 1;
	x.check = x.gen;

	t0 = now_s();
	deadline = t0 + timeout_s;
	fd = connect_to(argv[optind], argv[optind + 1]);
	if (fd < 0)
		return 1;

	if (strcmp(mode, "sink") == 0) {
		char want[64];

		x.out_len = n;
		x.got = got_text;
		rc = run_xfer(fd, &x);
		if (rc == 0) {
			snprintf(want, sizeof(want), "bytes=%" PRIu64 " fnv1a64=%016" PRIx64 "\n",
			         n, x.out_fnv);
			printf("sent=%" PRIu64 " fnv1a64=%016" PRIx64 "\n", x.out_done, x.out_fnv);
			printf("reply=%s", x.text ? x.text : "\n");
			if (!x.text || strcmp(x.text, want) != 0)
				rc = fail("the sink's answer does not match what was sent");
		}
	} else if (strcmp(mode, "source") == 0) {
		x.got = got_source;
		rc = run_xfer(fd, &x);
		if (rc == 0) {
			printf("received=%" PRIu64 " fnv1a64=%016" PRIx64 "\n", x.in, x.in_fnv);
			if (x.in != n)
				rc = fail("expected %" PRIu64 " bytes, received %" PRIu64, n, x.in);
			else if (x.mismatch)
				rc = fail("byte %" PRIu64 " breaks the i mod 251 pattern",
				          x.mismatch_at);
		}
	} else if (strcmp(mode, "echo") == 0) {
		x.out_len = n;
		x.in_max = x.halfclose ? 0 : n;
		x.got = got_echo;
		rc = run_xfer(fd, &x);
		if (rc == 0) {
			printf("sent=%" PRIu64 " received=%" PRIu64 " fnv1a64=%016" PRIx64 "\n",
			       x.out_done, x.in, x.in_fnv);
			if (x.in != n)
				rc = fail("sent %" PRIu64 " bytes, %" PRIu64 " came back", n, x.in);
			else if (x.mismatch || x.in_fnv != x.out_fnv)
				rc = fail("the echo differs from byte %" PRIu64, x.mismatch_at);
		}
	} else if (strcmp(mode, "http") == 0) {
		char req[512];
		ssize_t len =
		    snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: lab\r\n\r\n", arg);
		char *body;

		/* a request this small fits the socket buffer of a fresh connection */
		if (send(fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
			rc = fail("send: %s", strerror(errno));
		} else {
			x.got = got_text;
			x.halfclose = false;
			rc = run_xfer(fd, &x);
		}
		if (rc == 0) {
			body = x.text ? strstr(x.text, "\r\n\r\n") : NULL;
			printf("body=%s", body ? body + 4 : "\n");
			if (!x.text || strncmp(x.text, "HTTP/1.0 200", 12) != 0)
				rc = fail("no 200 answer: %.40s", x.text ? x.text : "(nothing)");
		}
	} else if (strcmp(mode, "hold") == 0) {
		struct stat st;

		rc = 0;
		while (stat(arg, &st) < 0) {
			if (now_s() > deadline) {
				rc = fail("%s did not appear", arg);
				break;
			}
			struct pollfd p = {.fd = fd, .events = POLLRDHUP};

			if (poll(&p, 1, 50) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
				rc = fail("the server closed while held");
				break;
			}
		}
	} else {
		fprintf(stderr, "sgclient: unknown mode %s\n", mode);
		usage(stderr);
		close(fd);
		return 2;
	}
	close(fd);
	free(x.text);
	printf("seconds=%.3f\n", now_s() - t0);
	if (rc == 0)
		printf("result=ok\n");
	return rc;
}
