/*
 * Reloads on the main loop, without root: the queue threads are stand-ins
 * (queue_gen_seq and friends are wrapped at link time) that move to a new
 * generation when the test says so, the handoff is real, and iptables-restore
 * is a stand-in found first in PATH that waits for a file before it exits.
 * Checked: a refused file is answered at once and changes nothing; a reload
 * is answered only once every thread moved and the firewall tool exited,
 * while the loop keeps turning; a request during a reload is queued and gets
 * its own answer; a thread that does not move is reported, the old counters
 * stay, further requests are refused until it moves.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "handoff.h"
#include "queue.h"
#include "reload.h"

/* ---- stand-in queue threads ---- */

struct fake_thread {
	uint64_t seq;
	int wakes;
	int freed_prev;
	struct stats_block block;
};

static struct fake_thread threads[2];

uint64_t __wrap_queue_gen_seq(const struct queue_thread *q);
void __wrap_queue_wake(struct queue_thread *q);
const struct stats_block *__wrap_queue_stats(const struct queue_thread *q);
void __wrap_queue_stats_free_prev(struct queue_thread *q);

uint64_t __wrap_queue_gen_seq(const struct queue_thread *q)
{
	return ((const struct fake_thread *)(const void *)q)->seq;
}

void __wrap_queue_wake(struct queue_thread *q)
{
	((struct fake_thread *)(void *)q)->wakes++;
}

const struct stats_block *__wrap_queue_stats(const struct queue_thread *q)
{
	return &((const struct fake_thread *)(const void *)q)->block;
}

void __wrap_queue_stats_free_prev(struct queue_thread *q)
{
	((struct fake_thread *)(void *)q)->freed_prev++;
}

/* ---- fixture ---- */

static const char restore_tool[] =
    "#!/bin/sh\n"
    "d=$(dirname \"$0\")\n"
    "echo \"$(basename \"$0\") $*\" >>\"$d/calls\"\n"
    "cat >/dev/null\n"
    "i=0\n"
    "while [ ! -e \"$d/go\" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done\n"
    "exit 0\n";

struct answer {
	uint64_t ticket;
	char *text;
};

struct fixture {
	char dir[64];
	char conf_path[128];
	char *old_path;
	struct ev_loop *loop;
	struct handoff *handoff;
	struct queue_shared shared;
	struct queue_thread *queues[2];
	uint16_t nums[2];
	const struct stats_block *blocks[3];
	struct conf view;
	struct reload *r;
	struct answer answers[8];
	int n_answers;
};

static void write_conf(struct fixture *f, const char *policy)
{
	FILE *out = fopen(f->conf_path, "w");

	assert_non_null(out);
	fprintf(out,
	        "daemon = { queue = \"0:1\"; firewall = \"iptables\"; control_socket = "
	        "\"%s/c.sock\"; };\n"
	        "listeners = ( { name = \"web\"; address = \"192.0.2.1\"; port = 80; "
	        "backend = \"127.0.0.1:8080\"; policy = \"p\"; } );\n"
	        "policies = { p = { %s }; };\n",
	        f->dir, policy);
	assert_int_equal(fclose(out), 0);
}

static void touch(struct fixture *f, const char *name, bool on)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/%s", f->dir, name);
	if (on) {
		FILE *out = fopen(p, "w");

		assert_non_null(out);
		fclose(out);
	} else {
		unlink(p);
	}
}

static void on_reply(void *arg, uint64_t ticket, const char *text)
{
	struct fixture *f = arg;

	assert_true(f->n_answers < 8);
	f->answers[f->n_answers].ticket = ticket;
	f->answers[f->n_answers].text = strdup(text);
	f->n_answers++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct reload_env env;
	char p[160], err[256], *path;
	struct conf *c;
	FILE *out;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/sgrl.XXXXXX", P_tmpdir);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->conf_path, sizeof(f->conf_path), "%s/synguard.conf", f->dir);
	snprintf(p, sizeof(p), "%s/iptables-restore", f->dir);
	out = fopen(p, "w");
	assert_non_null(out);
	fputs(restore_tool, out);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(chmod(p, 0755), 0);
	touch(f, "go", true);
	f->old_path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	assert_true(asprintf(&path, "%s:%s", f->dir, f->old_path) > 0);
	setenv("PATH", path, 1);
	free(path);

	write_conf(f, "half_open_max = 100;");
	c = reload_conf_load(f->conf_path, err, sizeof(err));
	if (!c)
		fail_msg("%s", err);
	f->loop = ev_default_loop(0);
	f->handoff = handoff_new(f->loop, c, err, sizeof(err));
	if (!f->handoff)
		fail_msg("handoff_new: %s", err);
	memset(threads, 0, sizeof(threads));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(stats_block_init(&threads[i].block, 1), 0);
		f->queues[i] = (struct queue_thread *)(void *)&threads[i];
		f->nums[i] = (uint16_t)i;
	}
	memset(&env, 0, sizeof(env));
	env.loop = f->loop;
	env.conf_path = f->conf_path;
	env.handoff = f->handoff;
	env.shared = &f->shared;
	env.view = &f->view;
	env.blocks = f->blocks;
	env.firewall = true;
	env.handover_ms = 100;
	env.reply = on_reply;
	env.reply_arg = f;
	f->r = reload_new(&env, c, err, sizeof(err));
	if (!f->r)
		fail_msg("reload_new: %s", err);
	assert_ptr_equal(f->shared.gen->conf, c);
	for (int i = 0; i < 2; i++)
		threads[i].seq = f->shared.gen->seq; /* started on generation 1 */
	reload_set_queues(f->r, f->queues, f->nums, 2);
	f->view = *c;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	touch(f, "go", true);
	reload_shutdown(f->r);
	handoff_free(f->handoff);
	reload_free(f->r);
	for (int i = 0; i < 2; i++)
		stats_block_free(&threads[i].block);
	for (int i = 0; i < f->n_answers; i++)
		free(f->answers[i].text);
	setenv("PATH", f->old_path, 1);
	free(f->old_path);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Turns the loop until n answers are in (bounded), or a while when n is 0. */
static void spin(struct fixture *f, int n)
{
	for (int i = 0; i < 3000 && (n == 0 ? i < 30 : f->n_answers < n); i++) {
		ev_run(f->loop, EVRUN_NOWAIT);
		usleep(1000);
	}
}

/* Thread i moves to the published generation and says so. */
static void move(struct fixture *f, int i)
{
	threads[i].seq = f->shared.gen->seq;
	f->shared.moved_on(f->shared.moved_arg);
}

static long policy_half_open(const struct reload *r)
{
	return (long)reload_conf(r)->policies[0].half_open_max;
}

static void test_refused(void **state)
{
	struct fixture *f = *state;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	char want[256];

	assert_non_null(out);
	write_conf(f, "half_open_max = ;");
	assert_false(reload_request(f->r, "test", 1, out));
	fclose(out);
	snprintf(want, sizeof(want), "error: %s:3: syntax error", f->conf_path);
	assert_true(strncmp(text, want, strlen(want)) == 0);
	assert_non_null(strstr(text, "; configuration kept\n"));
	assert_int_equal(f->shared.gen->seq, 1);
	assert_int_equal(threads[0].wakes, 0);
	spin(f, 0);
	assert_int_equal(f->n_answers, 0);
	free(text);
}

static void test_waits_for_threads_and_firewall(void **state)
{
	struct fixture *f = *state;
	char want[256];

	write_conf(f, "half_open_max = 200;");
	touch(f, "go", false);
	assert_true(reload_request(f->r, "test", 7, NULL));
	assert_int_equal(f->shared.gen->seq, 2);
	assert_int_equal(threads[0].wakes, 1);
	assert_int_equal(threads[1].wakes, 1);
	assert_true(reload_handing_over(f->r));
	move(f, 0);
	spin(f, 0);
	assert_int_equal(f->n_answers, 0);
	assert_int_equal(threads[0].freed_prev, 0); /* thread 1 may still count in it */
	move(f, 1);
	spin(f, 0);
	/* every thread moved: counters and view follow; the firewall tool still runs */
	assert_false(reload_handing_over(f->r));
	assert_int_equal(threads[0].freed_prev, 1);
	assert_int_equal(threads[1].freed_prev, 1);
	assert_int_equal(f->view.policies[0].half_open_max, 200);
	assert_int_equal(f->n_answers, 0);
	touch(f, "go", true);
	spin(f, 1);
	assert_int_equal(f->n_answers, 1);
	assert_int_equal(f->answers[0].ticket, 7);
	snprintf(want, sizeof(want), "reloaded %s: 1 listener(s);\n", f->conf_path);
	assert_string_equal(f->answers[0].text, want);
	assert_int_equal(policy_half_open(f->r), 200);
}

static void test_second_request_queued(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "half_open_max = 300;");
	assert_true(reload_request(f->r, "test", 1, NULL));
	write_conf(f, "half_open_max = 400;");
	assert_true(reload_request(f->r, "test", 2, NULL));
	assert_int_equal(f->shared.gen->seq, 2); /* the second waits */
	move(f, 0);
	move(f, 1);
	spin(f, 1);
	assert_int_equal(f->n_answers, 1);
	assert_int_equal(f->answers[0].ticket, 1);
	/* the queued one started at once, reading the file as it is now */
	assert_int_equal(f->shared.gen->seq, 3);
	assert_int_equal(policy_half_open(f->r), 400);
	move(f, 0);
	move(f, 1);
	spin(f, 2);
	assert_int_equal(f->n_answers, 2);
	assert_int_equal(f->answers[1].ticket, 2);
	assert_int_equal(strncmp(f->answers[1].text, "reloaded ", 9), 0);
}

static void test_thread_stuck(void **state)
{
	struct fixture *f = *state;
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	write_conf(f, "half_open_max = 500;");
	assert_true(reload_request(f->r, "test", 1, NULL));
	move(f, 0);
	spin(f, 1); /* the hand-over timer (100 ms here) answers */
	assert_int_equal(f->n_answers, 1);
	assert_non_null(strstr(f->answers[0].text, "; some queue threads have not switched yet: "
	                                           "the firewall follows when they do\n"));
	/* nothing thread 1 may use is freed */
	assert_true(reload_handing_over(f->r));
	assert_int_equal(threads[0].freed_prev, 0);
	assert_int_equal(threads[1].freed_prev, 0);
	out = open_memstream(&text, &len);
	assert_non_null(out);
	assert_false(reload_request(f->r, "test", 2, out));
	fclose(out);
	assert_string_equal(text, "error: a reload is still finishing (a queue thread has not "
	                          "switched yet); configuration kept\n");
	free(text);
	/* it moves at last: the reload completes */
	move(f, 1);
	for (int i = 0; i < 3000 && reload_handing_over(f->r); i++) {
		ev_run(f->loop, EVRUN_NOWAIT);
		usleep(1000);
	}
	assert_false(reload_handing_over(f->r));
	assert_int_equal(threads[1].freed_prev, 1);
	/* and takes requests again (queued while its firewall step runs) */
	assert_true(reload_request(f->r, "test", 3, NULL));
	for (int i = 0; i < 3000 && f->n_answers < 2; i++) {
		move(f, 0);
		move(f, 1);
		ev_run(f->loop, EVRUN_NOWAIT);
		usleep(1000);
	}
	assert_int_equal(f->n_answers, 2);
	assert_int_equal(f->answers[1].ticket, 3);
	assert_int_equal(strncmp(f->answers[1].text, "reloaded ", 9), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_waits_for_threads_and_firewall, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_second_request_queued, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_thread_stuck, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
