/*
 * Regressions found by fuzz_control (tests/fuzz): requests over a real
 * control socket, answers checked byte by byte.
 *
 * "stats \x01..." (a stats argument with control characters) was echoed back
 * raw in the error message, so a request could write escape sequences to the
 * terminal of whoever reads the answer; unknown commands were already kept
 * printable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"

struct fixture {
	char dir[64];
	char path[108];
	struct ev_loop *loop;
	struct conf conf;
	struct conf_listener listener;
	struct stats_block blocks[2];
	const struct stats_block *block_ptrs[2];
	uint16_t queue_num;
	struct control_source src;
	struct control *ctl;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/sgregress.XXXXXX", P_tmpdir);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/control.sock", f->dir);
	f->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(f->loop);
	snprintf(f->listener.name, CONF_NAME_MAX, "web");
	f->conf.listeners = &f->listener;
	f->conf.n_listeners = 1;
	for (int b = 0; b < 2; b++) {
		assert_int_equal(stats_block_init(&f->blocks[b], 1), 0);
		f->block_ptrs[b] = &f->blocks[b];
	}
	f->src.conf = &f->conf;
	f->src.blocks = f->block_ptrs;
	f->src.queue_nums = &f->queue_num;
	f->src.n_queues = 1;
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
	for (int b = 0; b < 2; b++)
		stats_block_free(&f->blocks[b]);
	ev_loop_destroy(f->loop);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Sends len bytes as one request, returns the whole answer (NUL-terminated). */
static char *request(struct fixture *f, const char *req, size_t len, size_t *alen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t cap = 1 << 16, got = 0;
	char *buf = malloc(cap);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_non_null(buf);
	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(send(fd, req, len, 0), (ssize_t)len);
	shutdown(fd, SHUT_WR);
	for (int rounds = 0; rounds < 10000; rounds++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		ev_run(f->loop, EVRUN_NOWAIT);
		if (poll(&p, 1, 1) <= 0)
			continue;
		n = recv(fd, buf + got, cap - 1 - got, 0);
		if (n < 0 && errno == ECONNRESET)
			n = 0;
		assert_true(n >= 0);
		if (n == 0) {
			buf[got] = '\0';
			close(fd);
			*alen = got;
			return buf;
		}
		got += (size_t)n;
		assert_true(got < cap - 1);
	}
	fail_msg("no answer");
	return NULL;
}

static void assert_printable(const char *a, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (a[i] != '\n' && ((unsigned char)a[i] < 0x20 || (unsigned char)a[i] == 0x7f))
			fail_msg("control character 0x%02x at %zu in \"%s\"", (unsigned char)a[i],
			         i, a);
}

/* The input fuzz_control found, cut to what matters: a control byte, then a NUL. */
static void test_stats_argument_control_char(void **state)
{
	static const char req[] = "stats \x01\x00\xff\xff--json\r\n";
	size_t len;
	char *a = request(*state, req, sizeof(req) - 1, &len);

	assert_printable(a, len);
	assert_string_equal(a, "error: stats: unknown argument \"?\" (usage: stats [--json])\n");
	free(a);
}

static void test_stats_argument_escape_sequence(void **state)
{
	static const char req[] = "stats \x1b[2J\x1b]0;owned\x07\n";
	size_t len;
	char *a = request(*state, req, sizeof(req) - 1, &len);

	assert_printable(a, len);
	assert_non_null(strstr(a, "unknown argument \"?\""));
	free(a);
}

/* Printable words are still echoed: the message says what was wrong. */
static void test_stats_argument_printable_echoed(void **state)
{
	size_t len;
	char *a = request(*state, "stats --xml\n", 12, &len);

	assert_string_equal(a,
	                    "error: stats: unknown argument \"--xml\" (usage: stats [--json])\n");
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_stats_argument_control_char, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stats_argument_escape_sequence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stats_argument_printable_echoed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
