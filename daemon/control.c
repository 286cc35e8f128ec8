/*
 * Control socket. Each client sends one request line, gets one answer and is
 * closed. Everything runs on the main loop without blocking: the request is
 * bounded (CONTROL_REQ_MAX), every client has a deadline (CONTROL_TIMEOUT),
 * and the number of clients in flight is capped (CONTROL_CLIENTS_MAX), so a
 * stuck or hostile client costs a file descriptor for a few seconds at most.
 *
 * Answers are built in memory first (open_memstream) and then written as the
 * socket accepts them: a client that does not read cannot stall the loop.
 *
 * Counters come from the stats blocks of the source, summed with relaxed
 * loads (stats_block_sum); a block whose shape does not match the
 * configuration's listener count is left out and reported.
 */
#define _GNU_SOURCE
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "ctlfmt.h"
#include "log.h"
#include "reqsrv.h"
#include "sockutil.h"

#define CONTROL_REQ_MAX 256
#define CONTROL_TIMEOUT 5.0
/* An answer that comes later (a reload): the client gives up sooner (synguardctl: 10 s). */
#define CONTROL_DEFER_TIMEOUT 30.0
#define CONTROL_CLIENTS_MAX   32
#define CONTROL_ARGS_MAX      8

struct control;

struct control {
	struct ev_loop *loop;
	int fd;
	struct stat st; /* our socket file, so control_free unlinks only ours */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct control_source src;
	struct control_hooks hooks;
	struct timespec started; /* CLOCK_MONOTONIC */
	struct reqsrv *srv;
};

/* A command writes its answer to `out`; answers that start with "error:" are failures. */
struct control_cmd {
	const char *name;
	const char *usage;
	void (*run)(struct control *c, int argc, char **argv, FILE *out);
};

static void cmd_stats(struct control *c, int argc, char **argv, FILE *out);
static void cmd_status(struct control *c, int argc, char **argv, FILE *out);
static void cmd_help(struct control *c, int argc, char **argv, FILE *out);
static void cmd_reload(struct control *c, int argc, char **argv, FILE *out);
static void cmd_listeners(struct control *c, int argc, char **argv, FILE *out);
static void cmd_policy(struct control *c, int argc, char **argv, FILE *out);
static bool printable(const char *s);

static const struct control_cmd control_cmds[] = {
    {"stats", "stats [--json]", cmd_stats}, {"status", "status", cmd_status},
    {"reload", "reload", cmd_reload},       {"listeners", "listeners [--json]", cmd_listeners},
    {"policy", "policy NAME", cmd_policy},  {"help", "help", cmd_help},
};

#define N_CMDS (sizeof(control_cmds) / sizeof(control_cmds[0]))

/* ---- counters ---- */

static size_t sum_blocks(const struct control *c, struct stats_row *rows, size_t n_rows,
                         struct stats_row *per_queue)
{
	size_t skipped = stats_sum_blocks(c->src.blocks, c->src.n_queues + 1, c->src.n_queues, rows,
	                                  n_rows, per_queue);
	control_source_kernel_sum(&c->src, rows, n_rows);
	control_source_accept_queue(&c->src, rows, n_rows);
	return skipped;
}

static void row_total(struct stats_row *total, const struct stats_row *rows, size_t n_rows)
{
	memset(total, 0, sizeof(*total));
	for (size_t r = 0; r < n_rows; r++)
		for (size_t i = 0; i < ST_MAX; i++)
			total->v[i] += rows[r].v[i];
}

static void cmd_stats(struct control *c, int argc, char **argv, FILE *out)
{
	const struct conf *conf = c->src.conf;
	size_t n_rows = conf->n_listeners + 1;
	bool json = false;
	struct stats_row *rows, *per_queue, total;
	size_t skipped;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else {
			/* echoed back: only if printable, like an unknown command */
			fprintf(out,
			        "error: stats: unknown argument \"%s\" (usage: stats [--json])\n",
			        printable(argv[i]) ? argv[i] : "?");
			return;
		}
	}

	rows = calloc(n_rows, sizeof(*rows));
	per_queue = calloc(c->src.n_queues ? c->src.n_queues : 1, sizeof(*per_queue));
	if (!rows || !per_queue) {
		fputs("error: out of memory\n", out);
		goto out;
	}
	skipped = sum_blocks(c, rows, n_rows, per_queue);
	if (skipped)
		log_warnx_ratelimited(60,
		                      "control: %zu stats block(s) do not match the "
		                      "configuration's %zu listener(s); left out",
		                      skipped, conf->n_listeners);
	row_total(&total, rows, n_rows);
	if (json)
		ctlfmt_stats_json(out, conf, rows, &total, c->src.queue_nums, per_queue,
		                  c->src.n_queues, control_source_tc(&c->src, n_rows),
		                  control_source_xdp(&c->src, n_rows));
	else
		ctlfmt_stats_table(out, conf, rows, &total, control_source_tc(&c->src, n_rows),
		                   control_source_xdp(&c->src, n_rows));
out:
	free(rows);
	free(per_queue);
}

static void cmd_status(struct control *c, int argc, char **argv, FILE *out)
{
	struct timespec now;
	long up;

	(void)argv;
	if (argc > 1) {
		fputs("error: status takes no arguments\n", out);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	up = (long)(now.tv_sec - c->started.tv_sec);

	fprintf(out, "pid: %ld\n", (long)getpid());
	fprintf(out, "uptime: %ldd %02ld:%02ld:%02ld (%ld s)\n", up / 86400, up / 3600 % 24,
	        up / 60 % 60, up % 60, up);
	fprintf(out, "queues: %zu (", c->src.n_queues);
	for (size_t q = 0; q < c->src.n_queues; q++)
		fprintf(out, "%s%u", q ? "," : "", c->src.queue_nums[q]);
	fputs(")\n", out);
	fprintf(out, "listeners: %zu\n", c->src.conf->n_listeners);
}

static void cmd_reload(struct control *c, int argc, char **argv, FILE *out)
{
	(void)argv;
	if (argc > 1) {
		fputs("error: reload takes no arguments\n", out);
		return;
	}
	if (!c->hooks.reload) {
		fputs("error: reload is not available\n", out);
		return;
	}
	if (c->hooks.reload(c->hooks.arg, out, reqsrv_current(c->srv)))
		reqsrv_defer(c->srv, CONTROL_DEFER_TIMEOUT);
}

/* ---- listeners and policies ---- */

static void addr_port(const struct conf_listener *l, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(l->family, l->addr, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, l->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, l->port);
}

static const char *handoff_name(const struct conf_listener *l)
{
	return l->handoff == CONF_HANDOFF_PASSFD  ? "pass-fd"
	       : l->handoff == CONF_HANDOFF_LOCAL ? "local"
	                                          : "proxy";
}

static void backend_str(const struct conf_listener *l, char *buf, size_t len)
{
	if (l->backend.ss_family == AF_UNIX) {
		snprintf(buf, len, "unix:%s", ((const struct sockaddr_un *)&l->backend)->sun_path);
	} else if (l->backend.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&l->backend;
		char h[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &a->sin_addr, h, sizeof(h));
		snprintf(buf, len, "%s:%u", h, ntohs(a->sin_port));
	} else if (l->backend.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&l->backend;
		char h[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof(h));
		snprintf(buf, len, "[%s]:%u", h, ntohs(a->sin6_port));
	} else {
		snprintf(buf, len, "-");
	}
}

/* A listener's policy; NULL for a configuration that has none (never from conf_parse). */
static const struct conf_policy *policy_of(const struct conf *conf, const struct conf_listener *l)
{
	return l->policy < conf->n_policies ? &conf->policies[l->policy] : NULL;
}

/* What the listener answers SYNs with right now: its mode, and for auto the current use
 * (cookie_threads: the listener's summed cookie_threads gauge, the one count of it). */
static void mode_now(const struct control *c, size_t i, uint32_t cookie_threads, char *buf,
                     size_t len)
{
	const struct conf *conf = c->src.conf;
	const struct conf_policy *p = policy_of(conf, &conf->listeners[i]);
	enum conf_mode m = p ? p->mode : CONF_MODE_COOKIE;

	if (!p)
		snprintf(buf, len, "?");
	else if (m != CONF_MODE_AUTO || !c->hooks.listener_info)
		snprintf(buf, len, "%s", conf_mode_name(m));
	else if (cookie_threads == 0)
		snprintf(buf, len, "auto:stateful");
	else if (cookie_threads >= c->src.n_queues)
		snprintf(buf, len, "auto:cookie");
	else
		snprintf(buf, len, "auto:cookie(%u/%zu)", cookie_threads, c->src.n_queues);
}

static void cmd_listeners(struct control *c, int argc, char **argv, FILE *out)
{
	const struct conf *conf = c->src.conf;
	size_t n_rows = conf->n_listeners + 1;
	struct stats_row *rows;
	bool json = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") != 0) {
			fprintf(out,
			        "error: listeners: unknown argument \"%s\" (usage: listeners "
			        "[--json])\n",
			        printable(argv[i]) ? argv[i] : "?");
			return;
		}
		json = true;
	}
	rows = calloc(n_rows, sizeof(*rows));
	if (!rows) {
		fputs("error: out of memory\n", out);
		return;
	}
	sum_blocks(c, rows, n_rows, NULL);
	if (json)
		fputs("{", out);
	else
		fprintf(out, "%-16s %-24s %-7s %-28s %-12s %-16s %8s %8s %8s\n", "name", "address",
		        "handoff", "backend", "policy", "mode", "accept_q", "conns", "halfopen");
	for (size_t i = 0; i < conf->n_listeners; i++) {
		const struct conf_listener *l = &conf->listeners[i];
		struct control_listener_info in = {0};
		char ap[INET6_ADDRSTRLEN + 8], be[128], mode[64];

		if (c->hooks.listener_info)
			c->hooks.listener_info(c->hooks.arg, i, &in);
		uint32_t cookie_threads = (uint32_t)rows[i].v[ST_COOKIE_THREADS];

		/* the one accept_queue figure, as in the stats */
		if (c->src.accept_queue)
			in.accept_queue = (uint32_t)rows[i].v[ST_ACCEPT_QUEUE];
		addr_port(l, ap, sizeof(ap));
		backend_str(l, be, sizeof(be));
		mode_now(c, i, cookie_threads, mode, sizeof(mode));
		if (json) {
			fprintf(out, "%s", i ? "," : "");
			ctlfmt_json_string(out, l->name);
			fputs(":{\"address\":", out);
			ctlfmt_json_string(out, ap);
			fprintf(out, ",\"handoff\":\"%s\",\"backend\":", handoff_name(l));
			ctlfmt_json_string(out, be);
			fputs(",\"policy\":", out);
			ctlfmt_json_string(out, policy_of(conf, l) ? policy_of(conf, l)->name : "");
			fprintf(out,
			        ",\"mode\":\"%s\",\"cookie_threads\":%u,\"threads\":%zu,"
			        "\"accept_queue\":%u,\"connections\":%u,\"sources\":%u,"
			        "\"halfopen\":%" PRId64 "}",
			        mode, cookie_threads, c->src.n_queues, in.accept_queue,
			        in.connections, in.sources,
			        (int64_t)rows[i].v[ST_HALFOPEN_ENTRIES]);
		} else {
			fprintf(out, "%-16s %-24s %-7s %-28s %-12s %-16s %8u %8u %8" PRId64 "\n",
			        l->name, ap, handoff_name(l), be,
			        policy_of(conf, l) ? policy_of(conf, l)->name : "-", mode,
			        in.accept_queue, in.connections,
			        (int64_t)rows[i].v[ST_HALFOPEN_ENTRIES]);
		}
	}
	if (json)
		fputs("}\n", out);
	free(rows);
}

static void cidr_list(FILE *out, const char *key, const struct cidr *v, size_t n)
{
	fprintf(out, "\t%s = [", key);
	for (size_t i = 0; i < n; i++) {
		char t[CIDR_TEXT_MAX];

		cidr_format(&v[i], t, sizeof(t));
		fprintf(out, "%s \"%s\"", i ? "," : "", t);
	}
	fputs(" ];\n", out);
}

/* The effective policy, every key with its value, in configuration syntax. */
static void cmd_policy(struct control *c, int argc, char **argv, FILE *out)
{
	const struct conf *conf = c->src.conf;
	const struct conf_policy *p = NULL;
	size_t pi = 0, n_rows = conf->n_listeners + 1;
	struct stats_row *rows;
	bool any = false;

	if (argc != 2) {
		fputs("error: usage: policy NAME\n", out);
		return;
	}
	for (pi = 0; pi < conf->n_policies && !p; pi++)
		if (strcmp(conf->policies[pi].name, argv[1]) == 0)
			p = &conf->policies[pi];
	if (!p) {
		fprintf(out, "error: no policy is named \"%s\"\n",
		        printable(argv[1]) ? argv[1] : "?");
		return;
	}
	pi--;
	rows = calloc(n_rows, sizeof(*rows)); /* NULL: modes shown without their current use */
	if (rows)
		sum_blocks(c, rows, n_rows, NULL);
	fprintf(out, "# listeners:");
	for (size_t i = 0; i < conf->n_listeners; i++) {
		char mode[64];

		if (conf->listeners[i].policy != pi)
			continue;
		mode_now(c, i, rows ? (uint32_t)rows[i].v[ST_COOKIE_THREADS] : 0, mode,
		         sizeof(mode));
		fprintf(out, " %s (%s)", conf->listeners[i].name, mode);
		any = true;
	}
	free(rows);
	fprintf(out, "%s\n%s = {\n", any ? "" : " none", p->name);
	fprintf(out, "\tmode = \"%s\";\n", conf_mode_name(p->mode));
	fprintf(out, "\tmss = [ %u, %u, %u, %u ];\n", p->mss[0], p->mss[1], p->mss[2], p->mss[3]);
	fprintf(out, "\tmss6 = [ %u, %u, %u, %u ];\n", p->mss6[0], p->mss6[1], p->mss6[2],
	        p->mss6[3]);
	fprintf(out, "\twscale = %u;\n\tsack = %s;\n\ttimestamps = %s;\n\tidle_timeout = %u;\n",
	        p->wscale, p->sack ? "true" : "false", p->timestamps ? "true" : "false",
	        p->idle_timeout);
	fprintf(out,
	        "\thalf_open_max = %u;\n\thalf_open_per_source = %u;\n\tsynack_retries = %u;\n"
	        "\tsyn_rate_trigger = %u;\n\thalf_open_fill_trigger = %u;\n"
	        "\tauto_calm_time = %u;\n",
	        p->half_open_max, p->half_open_per_source, p->synack_retries, p->syn_rate_trigger,
	        p->half_open_fill_trigger, p->auto_calm_time);
	fprintf(out,
	        "\taccept_backlog = %u;\n\taccept_overflow = \"%s\";\n\taccept_timeout = %u;\n"
	        "\tmax_connections = %u;\n\tmax_backend_connects = %u;\n",
	        p->accept_backlog, conf_overflow_name(p->accept_overflow), p->accept_timeout,
	        p->max_connections, p->max_backend_connects);
	fprintf(out,
	        "\tper_source = { syn_rate = %u; burst = %u; prefix_v4 = %u; prefix_v6 = %u; "
	        "max_connections = %u; table_size = %u; };\n",
	        p->per_source.syn_rate, p->per_source.burst, p->per_source.prefix_v4,
	        p->per_source.prefix_v6, p->per_source.max_connections, p->per_source.table_size);
	cidr_list(out, "allow", p->allow, p->n_allow);
	cidr_list(out, "deny", p->deny, p->n_deny);
	fprintf(out, "\tkeepalive = { idle = %u; interval = %u; count = %u; };\n};\n",
	        p->keepalive.idle, p->keepalive.interval, p->keepalive.count);
}

static void cmd_help(struct control *c, int argc, char **argv, FILE *out)
{
	(void)c;
	(void)argc;
	(void)argv;
	fputs("commands:\n", out);
	for (size_t i = 0; i < N_CMDS; i++)
		fprintf(out, "  %s\n", control_cmds[i].usage);
}

/* ---- request handling ---- */

/* Splits the request in place on blanks. Returns argc, or -1 with too many words. */
static int split_words(char *s, char **argv, int max)
{
	int argc = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\r')
			s++;
		if (!*s)
			return argc;
		if (argc == max)
			return -1;
		argv[argc++] = s;
		while (*s && *s != ' ' && *s != '\t' && *s != '\r')
			s++;
		if (*s)
			*s++ = '\0';
	}
}

/* Words are echoed back in error messages: keep them printable. */
static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static void run_request(struct control *c, char *line, FILE *out)
{
	char *argv[CONTROL_ARGS_MAX];
	int argc = split_words(line, argv, CONTROL_ARGS_MAX);

	if (argc < 0) {
		fputs("error: too many arguments\n", out);
		return;
	}
	if (argc == 0) {
		fputs("error: empty request (try \"help\")\n", out);
		return;
	}
	for (size_t i = 0; i < N_CMDS; i++) {
		if (strcmp(argv[0], control_cmds[i].name) == 0) {
			control_cmds[i].run(c, argc, argv, out);
			return;
		}
	}
	if (printable(argv[0]))
		fprintf(out, "error: unknown command \"%s\" (try \"help\")\n", argv[0]);
	else
		fputs("error: unknown command (try \"help\")\n", out);
}

/* A request is one line; a client that half-closes sends what it has. */
static enum reqsrv_verdict control_judge(void *ctx, const char *req, size_t len, bool eof,
                                         bool full)
{
	(void)ctx;
	return eof || full || memchr(req, '\n', len) ? REQSRV_ANSWER : REQSRV_MORE;
}

static void control_answer(void *ctx, char *req, size_t len, bool full, FILE *out)
{
	char *nl = memchr(req, '\n', len);

	if (!nl && full) {
		fputs("error: request too long\n", out);
		return;
	}
	if (nl)
		*nl = '\0';
	run_request(ctx, req, out);
}

/* ---- setup ---- */

/* mkdir -p of the directory holding path, new components mode 0755. */
static int make_parent(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	return sock_mkdir_p(dir, 0755, err, errlen) < 0 ? -1 : 0;
}

static const struct reqsrv_params control_srv_params = {
    .name = "control",
    .req_max = CONTROL_REQ_MAX,
    .timeout = CONTROL_TIMEOUT,
    .clients_max = CONTROL_CLIENTS_MAX,
    .busy = "error: busy, try again\n",
};

static const struct reqsrv_ops control_srv_ops = {
    .judge = control_judge,
    .answer = control_answer,
};

struct control *control_new(struct ev_loop *loop, const char *path,
                            const struct control_source *src, char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct control *c;

	if (!path || !*path || strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket path must be 1..%zu characters",
		         sizeof(sun.sun_path) - 1);
		return NULL;
	}
	if (!src || !src->conf || !src->blocks) {
		snprintf(err, errlen, "control: no stats source");
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);

	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->loop = loop;
	c->fd = -1;
	c->src = *src;
	memcpy(c->path, path, strlen(path) + 1);
	clock_gettime(CLOCK_MONOTONIC, &c->started);

	if (make_parent(path, err, errlen) < 0)
		goto fail;
	c->fd = sock_unix_listen(&sun, sizeof(sun), 0660, 16, &c->st, err, errlen);
	if (c->fd < 0)
		goto fail;
	c->srv = reqsrv_new(loop, c->fd, &control_srv_params, &control_srv_ops, c);
	if (!c->srv) {
		snprintf(err, errlen, "out of memory");
		sock_unix_unlink(path, &c->st);
		goto fail;
	}
	return c;
fail:
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return NULL;
}

void control_set_hooks(struct control *c, const struct control_hooks *hooks)
{
	c->hooks = *hooks;
}

void control_reply(struct control *c, uint64_t ticket, const char *text)
{
	if (reqsrv_finish(c->srv, ticket, text) < 0)
		log_debug("control: the client of a late answer is gone");
}

void control_free(struct control *c)
{
	if (!c)
		return;
	reqsrv_free(c->srv);
	close(c->fd);
	/* a newer daemon may have taken the path over: remove only our own file */
	sock_unix_unlink(c->path, &c->st);
	free(c);
}
