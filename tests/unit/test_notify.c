/*
 * systemd STATUS= line: samples summed over every thread's block, rates over
 * the interval, the modes in use; then the notifications themselves, sent
 * to a datagram socket standing in for the service manager.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

static const char conf_text[] =
    "listeners = ( { name = \"web\"; address = \"192.0.2.1\"; port = 80; backend = "
    "\"127.0.0.1:8080\"; },\n { name = \"api\"; address = \"192.0.2.1\"; port = 443; backend = "
    "\"127.0.0.1:8443\"; policy = \"other\"; } );\n"
    "policies = { default = { }; other = { mode = \"cookie\"; }; };\n";

static struct conf *make_conf(void)
{
	struct conf *c = NULL;
	char err[256];

	if (conf_parse(conf_text, "t.conf", &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return c;
}

static void test_sample_and_status(void **state)
{
	struct conf *conf = make_conf();
	struct stats_block q0, q1, h;
	const struct stats_block *blocks[3] = {&q0, &q1, &h};
	uint16_t nums[2] = {7, 8};
	struct control_source src = {conf, blocks, nums, 2, NULL, NULL, NULL, NULL};
	struct notify_sample a, b;
	char modes[64], status[256];

	(void)state;
	assert_int_equal(stats_block_init(&q0, conf->n_listeners), 0);
	assert_int_equal(stats_block_init(&q1, conf->n_listeners), 0);
	assert_int_equal(stats_block_init(&h, conf->n_listeners), 0);

	notify_sample_take(&src, 100.0, &a);
	assert_int_equal(a.syn, 0);
	assert_int_equal(a.active, 0);

	/* both queue threads, every row (the unmatched one too) */
	stats_add(&q0.rows[0], ST_SYN_RECEIVED, 1000);
	stats_add(&q1.rows[1], ST_SYN_RECEIVED, 2000);
	stats_add(&q1.rows[2], ST_SYN_RECEIVED, 5);
	stats_add(&q0.rows[0], ST_ACK_VALID, 30);
	stats_add(&q1.rows[1], ST_ACK_VALID, 20);
	stats_add(&h.rows[0], ST_HANDOFFS, 48);
	stats_add(&h.rows[1], ST_ACTIVE_CONNECTIONS, 3);
	stats_dec(&h.rows[0], ST_ACTIVE_CONNECTIONS); /* a gauge may go below 0 in one row */
	notify_sample_take(&src, 110.0, &b);
	assert_int_equal(b.syn, 3005);
	assert_int_equal(b.ack_valid, 50);
	assert_int_equal(b.handoffs, 48);
	assert_int_equal(b.active, 2);

	notify_modes(conf, modes, sizeof(modes));
	assert_string_equal(modes, "cookie"); /* two policies, one mode */
	notify_format_status(status, sizeof(status), modes, &a, &b);
	assert_string_equal(status, "mode cookie; 300 SYN/s, 5 valid ACK/s, 5 handoffs/s; 2 "
	                            "active; 48 handoffs in all");

	/* no time passed, or counters went backwards: no made-up rate */
	notify_format_status(status, sizeof(status), modes, &b, &b);
	assert_non_null(strstr(status, "0 SYN/s, 0 valid ACK/s, 0 handoffs/s"));
	notify_format_status(status, sizeof(status), modes, &b, &a);
	assert_non_null(strstr(status, "0 SYN/s"));

	/* a short buffer is cut, not overrun */
	notify_format_status(status, 12, modes, &a, &b);
	assert_string_equal(status, "mode cookie");

	stats_block_free(&q0);
	stats_block_free(&q1);
	stats_block_free(&h);
	conf_free(conf);
}

static struct control_kcounters xdp_kc;

static const struct control_kcounters *fake_xdp(void *arg)
{
	(void)arg;
	return &xdp_kc;
}

/* SYNs answered in XDP never reach a queue thread: the SYN rate counts them too. */
static void test_sample_xdp(void **state)
{
	struct conf *conf = make_conf();
	struct stats_block q0, sum;
	const struct stats_block *blocks[2] = {&q0, NULL};
	uint16_t nums[1] = {0};
	struct control_source src = {conf, blocks, nums, 1, NULL, NULL, fake_xdp, NULL};
	static const uint64_t v[3] = {0};
	struct notify_sample a;

	(void)state;
	assert_int_equal(stats_block_init(&q0, conf->n_listeners), 0);
	assert_int_equal(stats_block_init(&sum, conf->n_listeners), 0);
	xdp_kc = (struct control_kcounters){NULL, 1, conf->n_listeners + 1, v, &sum};
	stats_add(&q0.rows[0], ST_SYN_RECEIVED, 10);
	stats_add(&sum.rows[0], ST_SYN_RECEIVED, 5000);
	stats_add(&sum.rows[1], ST_SYN_RECEIVED, 7);
	stats_add(&sum.rows[0], ST_ACK_INVALID, 99); /* no valid ACK: not in the rates */
	notify_sample_take(&src, 1.0, &a);
	assert_int_equal(a.syn, 5017);
	assert_int_equal(a.ack_valid, 0);
	/* counters of another configuration's shape are left out */
	xdp_kc.n_rows++;
	notify_sample_take(&src, 2.0, &a);
	assert_int_equal(a.syn, 10);
	stats_block_free(&q0);
	stats_block_free(&sum);
	conf_free(conf);
}

/* Outside systemd there is nothing to do, and nothing is started. */
static void test_not_under_systemd(void **state)
{
	struct conf *conf = make_conf();
	const struct stats_block *blocks[1] = {NULL};
	struct control_source src = {conf, blocks, NULL, 0, NULL, NULL, NULL, NULL};

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_null(notify_new(NULL, &src));
	conf_free(conf);
}

static void stop_loop(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* The fake service manager reads as it goes, like the real one: sd_notify() blocks on a
 * full datagram queue (net.unix.max_dgram_qlen, 10 by default). */
struct manager {
	ev_io io;
	int pings;
	char status[256];
};

static void drain(int fd, struct manager *mg)
{
	char buf[512];
	ssize_t r;

	while ((r = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		char *s;

		buf[r] = '\0';
		mg->pings += strstr(buf, "WATCHDOG=1") != NULL;
		if ((s = strstr(buf, "STATUS=")))
			snprintf(mg->status, sizeof(mg->status), "%s", s + 7);
	}
}

static void on_manager(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	drain(w->fd, (struct manager *)w);
}

/* A fake service manager: watchdog pings at half of WATCHDOG_USEC, then a STATUS= line. */
static void test_under_fake_systemd(void **state)
{
	struct conf *conf = make_conf();
	struct stats_block q0;
	const struct stats_block *blocks[2] = {&q0, NULL};
	uint16_t nums[1] = {0};
	struct control_source src = {conf, blocks, nums, 1, NULL, NULL, NULL, NULL};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	const char *dir = getenv("SG_TEST_DIR");
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct notify *n;
	ev_timer stop;
	struct manager mg = {.pings = 0};
	char pid[32];
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	(void)state;
	assert_true(fd >= 0);
	assert_non_null(loop);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/notify.%ld.sock", dir ? dir : ".",
	         (long)getpid());
	unlink(sun.sun_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(stats_block_init(&q0, conf->n_listeners), 0);

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("NOTIFY_SOCKET", sun.sun_path, 1);
	setenv("WATCHDOG_USEC", "400000", 1);
	setenv("WATCHDOG_PID", pid, 1);
	n = notify_new(loop, &src);
	assert_non_null(n);
	drain(fd, &mg);
	assert_int_equal(mg.pings, 1); /* one at once */
	ev_io_init(&mg.io, on_manager, fd, EV_READ);
	ev_io_start(loop, &mg.io);

	/* 1000 SYNs during the first status interval */
	stats_add(&q0.rows[0], ST_SYN_RECEIVED, 1000);
	ev_timer_init(&stop, stop_loop, NOTIFY_STATUS_INTERVAL + 0.3, 0.);
	ev_timer_start(loop, &stop);
	ev_run(loop, 0);

	drain(fd, &mg);
	/* every 0.2 s for 5.3 s: about 27; allow for a slow machine */
	if (mg.pings < 15 || mg.pings > 29)
		fail_msg("%d watchdog pings in %.1f s", mg.pings, NOTIFY_STATUS_INTERVAL + 0.3);
	/* The rate divides by the time the status timer really took: 5 s, or more when the
	 * loop woke late on a busy machine, and never more than the 5.3 s the loop ran.
	 * test_sample_and_status checks the exact figures under injected time. */
	{
		const char *rest = "0 valid ACK/s, 0 handoffs/s; 0 active; 0 handoffs in all";
		int syn = -1, off = 0;

		if (sscanf(mg.status, "mode cookie; %d SYN/s, %n", &syn, &off) != 1 || off == 0 ||
		    strcmp(mg.status + off, rest) != 0)
			fail_msg("status \"%s\"", mg.status);
		if (syn < (int)(1000 / (NOTIFY_STATUS_INTERVAL + 0.3)) || syn > 200)
			fail_msg("%d SYN/s: 1000 SYNs in 5.0..5.3 s", syn);
	}

	ev_io_stop(loop, &mg.io);
	notify_free(n);
	ev_loop_destroy(loop);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	close(fd);
	unlink(sun.sun_path);
	stats_block_free(&q0);
	conf_free(conf);
}

/* "<N>" prefixes only when stderr really is the stream JOURNAL_STREAM names. */
static void test_fd_is_journal(void **state)
{
	int fds[2];
	struct stat st;
	char js[64];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(fstat(fds[1], &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino);
	assert_true(notify_fd_is_journal(fds[1], js));
	assert_true(notify_fd_is_journal(fds[0], js)); /* both ends are one pipe inode */
	/* inherited from a service into a shell whose stderr is something else */
	{
		int other = open("/dev/null", O_WRONLY | O_CLOEXEC);

		assert_true(other >= 0);
		assert_false(notify_fd_is_journal(other, js));
		close(other);
	}
	assert_false(notify_fd_is_journal(-1, js));
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino + 1);
	assert_false(notify_fd_is_journal(fds[1], js));
	assert_false(notify_fd_is_journal(fds[1], NULL));
	assert_false(notify_fd_is_journal(fds[1], ""));
	assert_false(notify_fd_is_journal(fds[1], "8:1x"));
	assert_false(notify_fd_is_journal(fds[1], "garbage"));
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sample_and_status), cmocka_unit_test(test_sample_xdp),
	    cmocka_unit_test(test_not_under_systemd), cmocka_unit_test(test_under_fake_systemd),
	    cmocka_unit_test(test_fd_is_journal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
