/*
 * Control socket: requests and answers over a real Unix socket, driven from
 * one thread by turning the daemon's loop between client reads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"

struct fixture {
	char dir[64];
	char sub[80];
	char path[108];
	struct ev_loop *loop;
	struct conf conf;
	struct conf_listener listeners[2];
	struct stats_block blocks[3]; /* queue 0, queue 1, handoff */
	const struct stats_block *block_ptrs[3];
	uint16_t queue_nums[2];
	struct control_source src;
	struct control *ctl;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/sgctl.XXXXXX", P_tmpdir);
	assert_non_null(mkdtemp(f->dir));
	/* a directory that does not exist yet: control_new creates it */
	snprintf(f->sub, sizeof(f->sub), "%s/run", f->dir);
	snprintf(f->path, sizeof(f->path), "%s/control.sock", f->sub);
	f->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(f->loop);

	snprintf(f->listeners[0].name, CONF_NAME_MAX, "web4");
	snprintf(f->listeners[1].name, CONF_NAME_MAX, "we\"b6");
	f->conf.listeners = f->listeners;
	f->conf.n_listeners = 2;

	for (int b = 0; b < 3; b++) {
		assert_int_equal(stats_block_init(&f->blocks[b], 2), 0);
		f->block_ptrs[b] = &f->blocks[b];
	}
	/* queue 0: 3 SYNs for web4, 1 unmatched; queue 1: 2 SYNs for web6 */
	stats_add(&f->blocks[0].rows[0], ST_SYN_RECEIVED, 3);
	stats_add(&f->blocks[0].rows[2], ST_SYN_RECEIVED, 1);
	stats_add(&f->blocks[1].rows[1], ST_SYN_RECEIVED, 2);
	stats_add(&f->blocks[1].rows[1], ST_ACK_INVALID, 10000);
	/* handoff: two connections opened on web4, one closed */
	stats_add(&f->blocks[2].rows[0], ST_HANDOFFS, 2);
	stats_inc(&f->blocks[2].rows[0], ST_ACTIVE_CONNECTIONS);
	stats_inc(&f->blocks[2].rows[0], ST_ACTIVE_CONNECTIONS);
	stats_dec(&f->blocks[2].rows[0], ST_ACTIVE_CONNECTIONS);

	f->queue_nums[0] = 7;
	f->queue_nums[1] = 8;
	f->src.conf = &f->conf;
	f->src.blocks = f->block_ptrs;
	f->src.queue_nums = f->queue_nums;
	f->src.n_queues = 2;

	f->ctl = control_new(f->loop, f->path, &f->src, err, sizeof(err));
	if (!f->ctl)
		fail_msg("control_new: %s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	control_free(f->ctl);
	for (int b = 0; b < 3; b++)
		stats_block_free(&f->blocks[b]);
	ev_loop_destroy(f->loop);
	unlink(f->path);
	rmdir(f->sub);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int client_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads the answer until EOF, running the daemon's loop in between. */
static char *read_answer(struct fixture *f, int fd)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);

	assert_non_null(buf);
	for (int rounds = 0; rounds < 10000; rounds++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		ev_run(f->loop, EVRUN_NOWAIT);
		if (poll(&p, 1, 1) <= 0)
			continue;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		/* the daemon closes on a request it did not read whole */
		if (n < 0 && errno == ECONNRESET)
			n = 0;
		assert_true(n >= 0);
		if (n == 0) {
			buf[len] = '\0';
			close(fd);
			return buf;
		}
		len += (size_t)n;
		assert_true(len < cap - 1);
	}
	fail_msg("no answer");
	return NULL;
}

static char *request(struct fixture *f, const char *req)
{
	int fd = client_connect(f->path);

	assert_true(fd >= 0);
	assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	shutdown(fd, SHUT_WR);
	return read_answer(f, fd);
}

static void test_stats_json(void **state)
{
	struct fixture *f = *state;
	char *a = request(f, "stats --json\n");
	char key[64];

	assert_non_null(strstr(a, "{\"total\":{\"syn_received\":6,"));
	assert_non_null(strstr(a, "\"ack_invalid\":10000"));
	assert_non_null(strstr(a, "\"listeners\":{\"web4\":{\"syn_received\":3,"));
	/* names are escaped */
	assert_non_null(strstr(a, "\"we\\\"b6\":{\"syn_received\":2,"));
	assert_non_null(strstr(a, "\"unmatched\":{\"syn_received\":1,"));
	/* a queue's entry folds all its rows; the handoff block is no queue */
	assert_non_null(strstr(a, "\"queues\":{\"7\":{\"syn_received\":4,"));
	assert_non_null(strstr(a, "\"8\":{\"syn_received\":2,"));
	assert_non_null(strstr(a, "\"handoffs\":2"));
	assert_non_null(strstr(a, "\"active_connections\":1"));
	for (size_t i = 0; i < ST_MAX; i++) {
		snprintf(key, sizeof(key), "\"%s\":", stats_names[i]);
		assert_non_null(strstr(a, key));
	}
	assert_string_equal(a + strlen(a) - 3, "}}\n");
	free(a);
}

static void test_stats_table(void **state)
{
	struct fixture *f = *state;
	char *a = request(f, "stats");
	char *line;

	assert_true(strncmp(a, "counter", 7) == 0);
	assert_non_null(strstr(a, "total"));
	assert_non_null(strstr(a, "web4"));
	assert_non_null(strstr(a, "unmatched"));
	line = strstr(a, "\nsyn_received ");
	assert_non_null(line);
	/* total 6, web4 3, web6 2, unmatched 1 */
	assert_non_null(strstr(line, " 6 "));
	free(a);
}

static void test_status(void **state)
{
	struct fixture *f = *state;
	char *a = request(f, "status\n");
	char pid[32];

	snprintf(pid, sizeof(pid), "pid: %ld\n", (long)getpid());
	assert_non_null(strstr(a, pid));
	assert_non_null(strstr(a, "uptime: "));
	assert_non_null(strstr(a, "queues: 2 (7,8)\n"));
	assert_non_null(strstr(a, "listeners: 2\n"));
	free(a);
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	char big[1000];
	char *a;

	a = request(f, "frobnicate now\n");
	assert_string_equal(a, "error: unknown command \"frobnicate\" (try \"help\")\n");
	free(a);
	a = request(f, "stats --xml\n");
	assert_true(strncmp(a, "error: stats: unknown argument", 30) == 0);
	free(a);
	a = request(f, "\n");
	assert_true(strncmp(a, "error: empty request", 20) == 0);
	free(a);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	a = request(f, big);
	assert_string_equal(a, "error: request too long\n");
	free(a);
}

/* A client that connects and says nothing must not hold up the next one. */
static void test_stuck_client(void **state)
{
	struct fixture *f = *state;
	int stuck = client_connect(f->path);
	char *a;

	assert_true(stuck >= 0);
	ev_run(f->loop, EVRUN_NOWAIT);
	a = request(f, "status");
	assert_non_null(strstr(a, "listeners: 2"));
	free(a);
	close(stuck);
}

static void test_socket_file(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char err[256];

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(stat(f->sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);

	/* a live socket is not taken over */
	assert_null(control_new(f->loop, f->path, &f->src, err, sizeof(err)));
	assert_non_null(strstr(err, "in use"));

	/* a stale one is: after free, leave a bound but dead socket behind */
	control_free(f->ctl);
	f->ctl = NULL;
	assert_int_equal(stat(f->path, &st), -1);
	{
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
		assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
		close(fd);
	}
	f->ctl = control_new(f->loop, f->path, &f->src, err, sizeof(err));
	if (!f->ctl)
		fail_msg("control_new over a stale socket: %s", err);
}

/* ---- listeners, policy, reload (with a parsed configuration and daemon hooks) ---- */

static const char policy_conf[] =
    "listeners = (\n"
    " { name = \"web\"; address = \"192.0.2.1\"; port = 80; backend = \"127.0.0.1:8080\";\n"
    "   policy = \"strict\"; },\n"
    " { name = \"api\"; address = \"2001:db8::1\"; port = 443; handoff = \"pass-fd\";\n"
    "   backend = \"unix:/run/api.sock\"; policy = \"kernel\"; } );\n"
    "policies = {\n"
    " strict = { mode = \"auto\"; accept_overflow = \"reset\"; half_open_max = 1000;\n"
    "   per_source = { syn_rate = 20; prefix_v4 = 24; };\n"
    "   allow = [ \"192.0.2.0/24\", \"2001:db8::/48\" ]; deny = [ \"198.51.100.7\" ];\n"
    "   keepalive = { idle = 60; }; };\n"
    " kernel = { mode = \"stateful\"; };\n"
    "};\n";

static int reloads;
static bool defer_reload;
static uint64_t deferred_ticket;

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool fake_reload(void *arg, FILE *out, uint64_t ticket)
{
	(void)arg;
	reloads++;
	if (defer_reload) {
		fputs("reloaded x: 2 listener(s);", out);
		deferred_ticket = ticket;
		return true;
	}
	fputs("reloaded x: 2 listener(s);\n", out);
	return false;
}

static void fake_info(void *arg, size_t i, struct control_listener_info *out)
{
	(void)arg;
	out->accept_queue = (uint32_t)(10 + i);
	out->connections = (uint32_t)(20 + i);
	out->sources = 3;
}

static int setup_policies(void **state)
{
	struct fixture *f;
	struct conf *c = NULL;
	struct control_hooks hooks = {NULL, fake_reload, fake_info};
	char err[256];

	setup(state);
	f = *state;
	if (conf_parse(policy_conf, "t.conf", &c, err, sizeof(err)) < 0)
		fail_msg("conf_parse: %s", err);
	/* the fixture's blocks have two listener rows: so does this configuration */
	f->conf = *c;
	free(c); /* the arrays now belong to f->conf */
	stats_add(&f->blocks[1].rows[1], ST_HALFOPEN_ENTRIES, 5);
	/* listener web (auto): one of the two queue threads answers with cookies */
	stats_set(&f->blocks[0].rows[0], ST_COOKIE_THREADS, 1);
	control_set_hooks(f->ctl, &hooks);
	return 0;
}

static int teardown_policies(void **state)
{
	struct fixture *f = *state;
	struct conf *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	*c = f->conf;
	conf_free(c);
	return teardown(state);
}

static void test_policy_cmd(void **state)
{
	struct fixture *f = *state;
	char *a = request(f, "policy strict\n");

	assert_true(starts_with(a, "# listeners: web (auto:cookie(1/2))\nstrict = {\n"));
	assert_non_null(strstr(a, "\n\tmode = \"auto\";\n"));
	assert_non_null(strstr(a, "\n\thalf_open_max = 1000;\n"));
	assert_non_null(strstr(a, "\n\taccept_overflow = \"reset\";\n"));
	assert_non_null(strstr(a, "\n\tper_source = { syn_rate = 20; burst = 20; prefix_v4 = 24; "
	                          "prefix_v6 = 64; max_connections = 0; table_size = 65536; };\n"));
	assert_non_null(strstr(a, "\n\tallow = [ \"192.0.2.0/24\", \"2001:db8::/48\" ];\n"));
	assert_non_null(strstr(a, "\n\tdeny = [ \"198.51.100.7/32\" ];\n"));
	assert_non_null(
	    strstr(a, "\n\tkeepalive = { idle = 60; interval = 75; count = 9; };\n};\n"));
	free(a);
	a = request(f, "policy kernel\n");
	assert_true(starts_with(a, "# listeners: api (stateful)\nkernel = {\n"));
	assert_non_null(strstr(a, "\n\tallow = [ ];\n"));
	free(a);
	a = request(f, "policy nope\n");
	assert_string_equal(a, "error: no policy is named \"nope\"\n");
	free(a);
	a = request(f, "policy\n");
	assert_string_equal(a, "error: usage: policy NAME\n");
	free(a);
}

static void test_listeners_cmd(void **state)
{
	struct fixture *f = *state;
	char *a = request(f, "listeners --json\n");

	assert_non_null(strstr(a,
	                       "{\"web\":{\"address\":\"192.0.2.1:80\",\"handoff\":\"proxy\","
	                       "\"backend\":\"127.0.0.1:8080\",\"policy\":\"strict\","
	                       "\"mode\":\"auto:cookie(1/2)\",\"cookie_threads\":1,\"threads\":2,"
	                       "\"accept_queue\":10,\"connections\":20,\"sources\":3,"
	                       "\"halfopen\":0}"));
	assert_non_null(strstr(a,
	                       "\"api\":{\"address\":\"[2001:db8::1]:443\",\"handoff\":\"pass-fd\","
	                       "\"backend\":\"unix:/run/api.sock\",\"policy\":\"kernel\","
	                       "\"mode\":\"stateful\""));
	assert_non_null(strstr(a, "\"accept_queue\":11,\"connections\":21,\"sources\":3,"
	                          "\"halfopen\":5}}\n"));
	free(a);
	a = request(f, "listeners\n");
	assert_true(strncmp(a, "name ", 5) == 0);
	assert_non_null(strstr(a, "\nweb "));
	assert_non_null(strstr(a, " auto:cookie(1/2) "));
	free(a);
	a = request(f, "listeners --xml\n");
	assert_true(strncmp(a, "error: listeners: unknown argument", 34) == 0);
	free(a);
}

static uint32_t fake_queue(void *arg, size_t i)
{
	(void)arg;
	return (uint32_t)(10 + i); /* as fake_info */
}

/* The control socket again, now with the accept queue's figure in its source. */
static int setup_figure(void **state)
{
	struct fixture *f;
	struct control_hooks hooks = {NULL, fake_reload, fake_info};
	char err[256];

	setup_policies(state);
	f = *state;
	control_free(f->ctl);
	/* gauges in the blocks that must not show */
	stats_add(&f->blocks[2].rows[0], ST_ACCEPT_QUEUE, 99);
	stats_add(&f->blocks[2].rows[2], ST_ACCEPT_QUEUE, 5);
	f->src.accept_queue = fake_queue;
	f->ctl = control_new(f->loop, f->path, &f->src, err, sizeof(err));
	if (!f->ctl)
		fail_msg("control_new: %s", err);
	control_set_hooks(f->ctl, &hooks);
	return 0;
}

/* The value of "key": in the JSON object that follows `after` in a. */
static long json_after(const char *a, const char *after, const char *key)
{
	const char *p = strstr(a, after);
	char k[64];

	assert_non_null(p);
	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(p, k);
	assert_non_null(p);
	return strtol(p + strlen(k), NULL, 10);
}

/* One accept_queue figure in the stats (JSON and table) and the listeners view. */
static void test_accept_queue_figure(void **state)
{
	struct fixture *f = *state;
	char *a = request(f, "stats --json\n");

	assert_int_equal(json_after(a, "\"total\":{", "accept_queue"), 21);
	assert_int_equal(json_after(a, "\"web\":{", "accept_queue"), 10);
	assert_int_equal(json_after(a, "\"api\":{", "accept_queue"), 11);
	assert_int_equal(json_after(a, "\"unmatched\":{", "accept_queue"), 0);
	free(a);
	a = request(f, "stats\n");
	assert_non_null(strstr(a, "\naccept_queue "));
	{
		long v[4];
		const char *p = strstr(a, "\naccept_queue ") + strlen("\naccept_queue ");

		/* columns: total, then each listener, then unmatched */
		assert_int_equal(sscanf(p, "%ld %ld %ld %ld", &v[0], &v[1], &v[2], &v[3]), 4);
		assert_int_equal(v[0], 21);
		assert_int_equal(v[1], 10);
		assert_int_equal(v[2], 11);
		assert_int_equal(v[3], 0);
	}
	free(a);
	a = request(f, "listeners --json\n");
	assert_int_equal(json_after(a, "\"web\":{", "accept_queue"), 10);
	assert_int_equal(json_after(a, "\"api\":{", "accept_queue"), 11);
	free(a);
}

static void test_reload_cmd(void **state)
{
	struct fixture *f = *state;
	char *a;

	reloads = 0;
	a = request(f, "reload\n");
	assert_string_equal(a, "reloaded x: 2 listener(s);\n");
	assert_int_equal(reloads, 1);
	free(a);
	a = request(f, "reload now\n");
	assert_string_equal(a, "error: reload takes no arguments\n");
	assert_int_equal(reloads, 1);
	free(a);
}

/* A reload answered later: the client waits, the loop does not, the rest of the answer
 * follows what the hook wrote at once; a late answer for a client that left is dropped. */
static void test_reload_deferred(void **state)
{
	struct fixture *f = *state;
	struct pollfd p;
	char *a;
	int fd;

	reloads = 0;
	defer_reload = true;
	deferred_ticket = 0;
	fd = client_connect(f->path);
	assert_true(fd >= 0);
	assert_int_equal(send(fd, "reload\n", 7, 0), 7);
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 1000 && !deferred_ticket; i++) {
		ev_run(f->loop, EVRUN_NOWAIT);
		usleep(1000);
	}
	assert_int_equal(reloads, 1);
	assert_true(deferred_ticket != 0);
	/* the stats still answer meanwhile */
	a = request(f, "status\n");
	assert_true(starts_with(a, "pid: "));
	free(a);
	p = (struct pollfd){.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 0), 0);
	control_reply(f->ctl, deferred_ticket, " done\n");
	a = read_answer(f, fd);
	assert_string_equal(a, "reloaded x: 2 listener(s); done\n");
	free(a);
	control_reply(f->ctl, deferred_ticket, "again\n"); /* gone: nothing happens */

	/* a client that hangs up before the answer */
	deferred_ticket = 0;
	fd = client_connect(f->path);
	assert_true(fd >= 0);
	assert_int_equal(send(fd, "reload\n", 7, 0), 7);
	for (int i = 0; i < 1000 && !deferred_ticket; i++) {
		ev_run(f->loop, EVRUN_NOWAIT);
		usleep(1000);
	}
	assert_true(deferred_ticket != 0);
	close(fd);
	control_reply(f->ctl, deferred_ticket, " done\n");
	ev_run(f->loop, EVRUN_NOWAIT);
	defer_reload = false;
	a = request(f, "reload\n");
	assert_string_equal(a, "reloaded x: 2 listener(s);\n");
	free(a);
}

/* Without the daemon's hooks: reload is refused, modes are the configured ones. */
static void test_no_hooks(void **state)
{
	struct fixture *f = *state;
	char *a = request(f, "reload\n");

	assert_string_equal(a, "error: reload is not available\n");
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_stats_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stats_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stuck_client, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_hooks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_policy_cmd, setup_policies, teardown_policies),
	    cmocka_unit_test_setup_teardown(test_listeners_cmd, setup_policies, teardown_policies),
	    cmocka_unit_test_setup_teardown(test_reload_cmd, setup_policies, teardown_policies),
	    cmocka_unit_test_setup_teardown(test_accept_queue_figure, setup_figure,
	                                    teardown_policies),
	    cmocka_unit_test_setup_teardown(test_reload_deferred, setup_policies,
	                                    teardown_policies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
