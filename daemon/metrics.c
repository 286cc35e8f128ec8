/*
 * Prometheus endpoint. See metrics.h.
 *
 * A scrape sums the stats blocks with relaxed loads, like the control
 * socket, and reads the kernel's NFQUEUE table (a small procfs file; the
 * read does not block). The answer is built in memory, then written as the
 * socket accepts it, so a client that does not read cannot stall the loop.
 */
#define _GNU_SOURCE
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "reqsrv.h"

#define NFQ_TEXT_MAX (64 * 1024)

/* HELP lines; a counter added to stats.h gets a generic one until it is described here. */
static const char *const stats_help[ST_MAX] = {
    [ST_SYN_RECEIVED] = "SYNs received from the NFQUEUE queues.",
    [ST_SYNACK_SENT] = "Cookie SYN-ACKs sent.",
    [ST_SYNACK_SEND_FAILED] = "SYN-ACKs that could not be sent.",
    [ST_ACK_VALID] = "Handshake ACKs with a valid cookie.",
    [ST_ACK_INVALID] = "ACKs with an invalid cookie (forged or stray), dropped.",
    [ST_ACK_EXPIRED] = "ACKs whose cookie key epoch had expired, dropped.",
    [ST_ACK_FLOW_PASSED] = "ACKs of recently handed-off flows passed to the kernel.",
    [ST_PKT_MALFORMED] = "Queued packets that could not be parsed, dropped.",
    [ST_MALFORMED_TRUNC] = "Unparseable packets: cut short.",
    [ST_MALFORMED_VERSION] = "Unparseable packets: IP version.",
    [ST_MALFORMED_IHL] = "Unparseable packets: IPv4 header length.",
    [ST_MALFORMED_LEN] = "Unparseable packets: IP length field.",
    [ST_MALFORMED_FRAG] = "Unparseable packets: IP fragments.",
    [ST_MALFORMED_EXTHDR] = "Unparseable packets: IPv6 extension header chain.",
    [ST_MALFORMED_NEXTHDR] = "Unparseable packets: unknown IPv6 next header.",
    [ST_MALFORMED_NOTTCP] = "Unparseable packets: not TCP.",
    [ST_MALFORMED_TCPOFF] = "Unparseable packets: TCP data offset.",
    [ST_MALFORMED_OPT] = "Unparseable packets: TCP option.",
    [ST_BAD_CSUM] = "SYNs and ACKs with a wrong TCP checksum the kernel had not verified, dropped.",
    [ST_PKT_OTHER] = "Queued packets of no listener, or neither SYN nor handshake ACK, passed "
                     "to the kernel.",
    [ST_REPAIR_FAILED] = "Validated handshakes whose TCP_REPAIR socket could not be built.",
    [ST_HANDOFFS] = "Connections handed to the backend.",
    [ST_HANDOFF_FAILED] = "Connections that could not be handed to the backend.",
    [ST_ACTIVE_CONNECTIONS] = "Connections being relayed or passed now.",
    [ST_BYTES_TO_BACKEND] = "Bytes relayed from clients to backends.",
    [ST_BYTES_TO_CLIENT] = "Bytes relayed from backends to clients.",
    [ST_ACCEPT_QUEUE] = "Proven connections not yet taken by the backend: in the inbox, waiting "
                        "for a connect slot, connecting, or waiting for a pass-fd backend.",
};

struct metrics {
	struct ev_loop *loop;
	int fd;
	int nfq_fd; /* the NFQUEUE table, re-read from offset 0 at each scrape; -1: not open */
	struct control_source src;
	struct reqsrv *srv;
};

/* ---- pure part ----------------------------------------------------------- */

int metrics_nfq_find(const char *text, uint16_t num, struct metrics_nfq *out)
{
	const char *line = text;

	while (line && *line) {
		unsigned long long f[9];
		const char *p = line;
		int n = 0;

		for (; n < 9; n++) {
			char *end;

			while (*p == ' ' || *p == '\t')
				p++;
			if (*p < '0' || *p > '9')
				break;
			errno = 0;
			f[n] = strtoull(p, &end, 10);
			if (errno)
				break;
			p = end;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (n == 9 && (*p == '\n' || *p == '\0') && f[0] == num) {
			out->queue = num;
			out->portid = (uint32_t)f[1];
			out->length = f[2];
			out->dropped = f[5];
			out->user_dropped = f[6];
			return 0;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -1;
}

static void put_label_value(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(out, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void put_value(FILE *out, size_t id, uint64_t v)
{
	if (stats_kinds[id] == STATS_GAUGE)
		fprintf(out, " %" PRId64 "\n", (int64_t)v);
	else
		fprintf(out, " %" PRIu64 "\n", v);
}

static void put_header(FILE *out, const char *prefix, size_t id, const char *per)
{
	const char *suffix = stats_kinds[id] == STATS_COUNTER ? "_total" : "";
	const char *help = stats_help[id];

	fprintf(out, "# HELP synguard_%s%s%s ", prefix, stats_names[id], suffix);
	if (help)
		fprintf(out, "%s", help);
	else
		fprintf(out, "synguard %s.", stats_names[id]);
	fprintf(out, " Per %s.\n", per);
	fprintf(out, "# TYPE synguard_%s%s%s %s\n", prefix, stats_names[id], suffix,
	        stats_kinds[id] == STATS_COUNTER ? "counter" : "gauge");
}

/* Blocks of the wrong shape (a configuration they were not made for) are left out. */
static void sum_rows(const struct control_source *src, struct stats_row *rows, size_t n_rows,
                     struct stats_row *per_queue)
{
	(void)stats_sum_blocks(src->blocks, src->n_queues + 1, src->n_queues, rows, n_rows,
	                       per_queue);
	control_source_kernel_sum(src, rows, n_rows);
	control_source_accept_queue(src, rows, n_rows);
}

/* The fast path's share of the listener families: synguard_tc_* for the local listeners. */
static void render_tc(FILE *out, const struct control_source *src, size_t n_rows)
{
	const struct stats_block *tc = control_source_tc(src, n_rows);
	const struct conf *conf = src->conf;

	for (size_t i = 0; tc && i < ST_MAX; i++) {
		if (!control_tc_counter(i))
			continue;
		put_header(out, "tc_", i, "listener (kernel fast path, handoff local)");
		for (size_t r = 0; r < conf->n_listeners; r++) {
			if (conf->listeners[r].handoff != CONF_HANDOFF_LOCAL)
				continue;
			fprintf(out, "synguard_tc_%s_total{listener=\"", stats_names[i]);
			put_label_value(out, conf->listeners[r].name);
			fputs("\"}", out);
			put_value(out, i, tc->rows[r].v[i]);
		}
	}
}

/* The XDP program's own counters: synguard_xdp_* per listener and unmatched. */
static void render_xdp(FILE *out, const struct control_source *src, size_t n_rows)
{
	const struct control_kcounters *xdp = control_source_xdp(src, n_rows);
	const struct conf *conf = src->conf;

	for (size_t i = 0; xdp && i < xdp->n_ids; i++) {
		fprintf(out,
		        "# HELP synguard_xdp_%s_total XDP program (datapath xdp): %s. Per "
		        "listener.\n# TYPE synguard_xdp_%s_total counter\n",
		        xdp->names[i], xdp->names[i], xdp->names[i]);
		for (size_t r = 0; r < n_rows; r++) {
			fprintf(out, "synguard_xdp_%s_total{listener=\"", xdp->names[i]);
			put_label_value(out, r < conf->n_listeners ? conf->listeners[r].name
			                                           : "(unmatched)");
			fprintf(out, "\"} %" PRIu64 "\n", xdp->v[r * xdp->n_ids + i]);
		}
	}
}

static void render_nfq(FILE *out, const struct control_source *src, const char *nfq_text)
{
	static const struct {
		const char *name, *type, *help;
	} fams[] = {
	    {"synguard_nfqueue_dropped_total", "counter",
	     "Packets the kernel dropped because the NFQUEUE queue was full."},
	    {"synguard_nfqueue_user_dropped_total", "counter",
	     "Packets the kernel dropped because the daemon's netlink socket buffer was full."},
	    {"synguard_nfqueue_length", "gauge", "Packets waiting in the NFQUEUE queue now."},
	};
	struct metrics_nfq q[CONF_QUEUES_MAX];
	bool have[CONF_QUEUES_MAX] = {false};
	size_t n = src->n_queues < CONF_QUEUES_MAX ? src->n_queues : CONF_QUEUES_MAX;
	bool any = false;

	if (!nfq_text)
		return;
	for (size_t i = 0; i < n; i++) {
		have[i] = metrics_nfq_find(nfq_text, src->queue_nums[i], &q[i]) == 0;
		any |= have[i];
	}
	if (!any)
		return;
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", fams[f].name, fams[f].help,
		        fams[f].name, fams[f].type);
		for (size_t i = 0; i < n; i++) {
			if (!have[i])
				continue;
			fprintf(out, "%s{queue=\"%u\"} %" PRIu64 "\n", fams[f].name, q[i].queue,
			        f == 0   ? q[i].dropped
			        : f == 1 ? q[i].user_dropped
			                 : q[i].length);
		}
	}
}

void metrics_render(FILE *out, const struct control_source *src, const char *nfq_text)
{
	const struct conf *conf = src->conf;
	size_t n_rows = conf->n_listeners + 1;
	struct stats_row *rows = calloc(n_rows, sizeof(*rows));
	struct stats_row *per_queue = calloc(src->n_queues ? src->n_queues : 1, sizeof(*per_queue));

	if (!rows || !per_queue)
		goto out;
	sum_rows(src, rows, n_rows, per_queue);

	for (size_t i = 0; i < ST_MAX; i++) {
		const char *suffix = stats_kinds[i] == STATS_COUNTER ? "_total" : "";

		put_header(out, "", i, "listener");
		for (size_t r = 0; r < n_rows; r++) {
			fprintf(out, "synguard_%s%s{listener=\"", stats_names[i], suffix);
			put_label_value(out, r < conf->n_listeners ? conf->listeners[r].name
			                                           : "(unmatched)");
			fputs("\"}", out);
			put_value(out, i, rows[r].v[i]);
		}
	}
	for (size_t i = 0; i < ST_MAX && src->n_queues; i++) {
		const char *suffix = stats_kinds[i] == STATS_COUNTER ? "_total" : "";

		put_header(out, "queue_", i, "queue thread");
		for (size_t q = 0; q < src->n_queues; q++) {
			fprintf(out, "synguard_queue_%s%s{queue=\"%u\"}", stats_names[i], suffix,
			        src->queue_nums[q]);
			put_value(out, i, per_queue[q].v[i]);
		}
	}
	render_tc(out, src, n_rows);
	render_xdp(out, src, n_rows);
	render_nfq(out, src, nfq_text);
out:
	free(rows);
	free(per_queue);
}

static bool is_token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

enum metrics_req metrics_parse_request(const char *buf, size_t len)
{
	const char *eol = memchr(buf, '\n', len);
	const char *p = buf, *target, *target_end, *version;
	size_t method_len, line_len;

	if (!eol)
		return METRICS_REQ_INCOMPLETE;
	/* the request line is complete: judge it, but answer only once all headers are in */
	line_len = (size_t)(eol - buf);
	if (line_len && buf[line_len - 1] == '\r')
		line_len--;
	while (p < buf + line_len && *p && is_token_char(*p))
		p++;
	method_len = (size_t)(p - buf);
	if (!method_len || p >= buf + line_len || *p != ' ')
		return METRICS_REQ_BAD;
	target = p + 1;
	target_end = memchr(target, ' ', (size_t)(buf + line_len - target));
	if (!target_end || target_end == target)
		return METRICS_REQ_BAD;
	version = target_end + 1;
	if ((size_t)(buf + line_len - version) != 8 || strncmp(version, "HTTP/1.", 7) != 0 ||
	    version[7] < '0' || version[7] > '9')
		return METRICS_REQ_BAD;
	for (const char *c = target; c < target_end; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return METRICS_REQ_BAD;

	/* end of headers: an empty line */
	if (!memmem(buf, len, "\r\n\r\n", 4) && !memmem(buf, len, "\n\n", 2))
		return METRICS_REQ_INCOMPLETE;
	if (method_len != 3 || memcmp(buf, "GET", 3) != 0)
		return METRICS_REQ_BAD_METHOD;
	{
		size_t tl = (size_t)(target_end - target);
		const char *path = "/metrics";

		if (tl >= 8 && memcmp(target, path, 8) == 0 && (tl == 8 || target[8] == '?'))
			return METRICS_REQ_OK;
	}
	return METRICS_REQ_NOT_FOUND;
}

bool metrics_addr_is_loopback(const struct sockaddr *addr)
{
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)addr;

		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;

		if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

void metrics_addr_str(const struct sockaddr *addr, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)addr;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s->sin_port));
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)addr;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
}

/* ---- server -------------------------------------------------------------- */

int metrics_nfq_open(void)
{
	return open(METRICS_NFQUEUE_PROC, O_RDONLY | O_CLOEXEC);
}

/* The NFQUEUE table, or NULL when this kernel (or a sandbox) does not show it to us. */
static char *read_nfq_text(struct metrics *m)
{
	char *buf;
	size_t got = 0;

	if (m->nfq_fd < 0) {
		m->nfq_fd = metrics_nfq_open();
		if (m->nfq_fd < 0) {
			log_warnx_ratelimited(3600,
			                      "metrics: %s: %s: the NFQUEUE drop counters are left "
			                      "out (see synguardd(8))",
			                      METRICS_NFQUEUE_PROC, strerror(errno));
			return NULL;
		}
	}
	buf = malloc(NFQ_TEXT_MAX);
	if (!buf)
		return NULL;
	if (lseek(m->nfq_fd, 0, SEEK_SET) < 0) {
		free(buf);
		return NULL;
	}
	while (got < NFQ_TEXT_MAX - 1) {
		ssize_t n = read(m->nfq_fd, buf + got, NFQ_TEXT_MAX - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return buf;
}

static enum reqsrv_verdict metrics_judge(void *ctx, const char *req, size_t len, bool eof,
                                         bool full)
{
	(void)ctx;
	if (eof)
		return REQSRV_DROP; /* gone before the request was complete */
	return full || metrics_parse_request(req, len) != METRICS_REQ_INCOMPLETE ? REQSRV_ANSWER
	                                                                         : REQSRV_MORE;
}

static void respond(struct metrics *m, FILE *out, int code, const char *reason, const char *extra)
{
	char *body = NULL;
	size_t body_len = 0;
	FILE *b = open_memstream(&body, &body_len);

	if (!b) {
		log_warn("metrics: building the answer");
		return; /* an empty answer: the client sees the connection close */
	}
	if (code == 200) {
		char *nfq = read_nfq_text(m);

		metrics_render(b, &m->src, nfq);
		free(nfq);
	} else {
		fprintf(b, "%d %s\n", code, reason);
	}
	if (fclose(b) != 0) {
		log_warn("metrics: building the answer");
		free(body);
		return;
	}
	fprintf(out,
	        "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: "
	        "close\r\n\r\n",
	        code, reason,
	        code == 200 ? "text/plain; version=0.0.4; charset=utf-8"
	                    : "text/plain; charset=utf-8",
	        body_len, extra ? extra : "");
	fwrite(body, 1, body_len, out);
	free(body);
}

static void metrics_answer(void *ctx, char *req, size_t len, bool full, FILE *out)
{
	struct metrics *m = ctx;

	switch (metrics_parse_request(req, len)) {
	case METRICS_REQ_INCOMPLETE:
		if (full)
			respond(m, out, 431, "Request Header Fields Too Large", NULL);
		return;
	case METRICS_REQ_OK:
		respond(m, out, 200, "OK", NULL);
		return;
	case METRICS_REQ_NOT_FOUND:
		respond(m, out, 404, "Not Found", NULL);
		return;
	case METRICS_REQ_BAD_METHOD:
		respond(m, out, 405, "Method Not Allowed", "Allow: GET\r\n");
		return;
	case METRICS_REQ_BAD:
		respond(m, out, 400, "Bad Request", NULL);
		return;
	}
}

static const struct reqsrv_params metrics_srv_params = {
    .name = "metrics",
    .req_max = METRICS_REQ_MAX,
    .timeout = METRICS_TIMEOUT,
    .clients_max = METRICS_CLIENTS_MAX,
    .busy = "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
};

static const struct reqsrv_ops metrics_srv_ops = {
    .judge = metrics_judge,
    .answer = metrics_answer,
};

struct metrics *metrics_new(struct ev_loop *loop, const struct sockaddr *addr, socklen_t addrlen,
                            const struct control_source *src, int nfq_fd, char *err, size_t errlen)
{
	struct metrics *m;
	char where[INET6_ADDRSTRLEN + 16];
	int one = 1;

	metrics_addr_str(addr, where, sizeof(where));
	if (!src || !src->conf || !src->blocks) {
		snprintf(err, errlen, "metrics: no stats source");
		if (nfq_fd >= 0)
			close(nfq_fd);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		if (nfq_fd >= 0)
			close(nfq_fd);
		return NULL;
	}
	m->nfq_fd = nfq_fd;
	m->loop = loop;
	m->src = *src;
	m->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	(void)setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(m->fd, addr, addrlen) < 0) {
		int e = errno;
		uint16_t port = addr->sa_family == AF_INET
		                    ? ntohs(((const struct sockaddr_in *)addr)->sin_port)
		                    : ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);

		snprintf(err, errlen, "bind %s: %s%s", where, strerror(e),
		         e == EACCES && port < 1024
		             ? " (ports below net.ipv4.ip_unprivileged_port_start need "
		               "CAP_NET_BIND_SERVICE)"
		             : "");
		goto fail;
	}
	if (listen(m->fd, 16) < 0) {
		snprintf(err, errlen, "listen %s: %s", where, strerror(errno));
		goto fail;
	}
	m->srv = reqsrv_new(loop, m->fd, &metrics_srv_params, &metrics_srv_ops, m);
	if (!m->srv) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return m;
fail:
	if (m->fd >= 0)
		close(m->fd);
	if (m->nfq_fd >= 0)
		close(m->nfq_fd);
	free(m);
	return NULL;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	reqsrv_free(m->srv);
	close(m->fd);
	if (m->nfq_fd >= 0)
		close(m->nfq_fd);
	free(m);
}

uint16_t metrics_port(const struct metrics *m)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(m->fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}
