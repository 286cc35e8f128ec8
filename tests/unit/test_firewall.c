/*
 * Firewall tool sequences without root: iptables, ip6tables and their restore tools
 * are stand-ins found first in PATH, which record how they were called and
 * what they read. A reload's sequence runs on the default loop under child
 * watchers and reports only once its last tool exited; a failing restore
 * ends it with the tool's message and leaves the other family alone.
 * fw_install runs the same steps and waits.
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

#include "conf.h"
#include "firewall.h"

static const char tool[] =
    "#!/bin/sh\n"
    "name=$(basename \"$0\")\n"
    "dir=$(dirname \"$0\")\n"
    "echo \"$name $*\" >>\"$dir/calls\"\n"
    "case $name in *-restore) cat >\"$dir/$name.in\" ;; esac\n"
    "if [ -e \"$dir/fail-$name\" ]; then echo 'line 3: bad rule' >&2; exit 2; fi\n"
    /* no rule to delete: a -D loop stops at once */
    "case \" $* \" in *' -D '*) exit 1 ;; esac\n"
    "exit 0\n";

static const char *const tools[] = {"iptables", "ip6tables", "iptables-restore",
                                    "ip6tables-restore"};

struct fixture {
	char dir[64];
	char *old_path;
	struct conf *v4, *both;
	struct ev_loop *loop;
	int done;
	int rc;
	char err[512];
};

static struct conf *parse(const char *listeners)
{
	char text[1024], err[256];
	struct conf *c = NULL;

	snprintf(text, sizeof(text),
	         "daemon = { queue = \"0\"; firewall = \"iptables\"; };\n"
	         "listeners = ( %s );\n",
	         listeners);
	if (conf_parse(text, "t.conf", &c, err, sizeof(err)) < 0)
		fail_msg("conf_parse: %s", err);
	return c;
}

#define L4 "{ name = \"a\"; address = \"192.0.2.1\"; port = 80; backend = \"127.0.0.1:8080\"; }"
#define L6 "{ name = \"b\"; address = \"2001:db8::1\"; port = 80; backend = \"127.0.0.1:8080\"; }"

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char p[128], *path;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/sgfw.XXXXXX", P_tmpdir);
	assert_non_null(mkdtemp(f->dir));
	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
		FILE *out;

		snprintf(p, sizeof(p), "%s/%s", f->dir, tools[i]);
		out = fopen(p, "w");
		assert_non_null(out);
		fputs(tool, out);
		assert_int_equal(fclose(out), 0);
		assert_int_equal(chmod(p, 0755), 0);
	}
	f->old_path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	assert_true(asprintf(&path, "%s:%s", f->dir, f->old_path) > 0);
	setenv("PATH", path, 1);
	free(path);
	f->v4 = parse(L4);
	f->both = parse(L4 ", " L6);
	f->loop = ev_default_loop(0);
	assert_non_null(f->loop);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	setenv("PATH", f->old_path, 1);
	free(f->old_path);
	conf_free(f->v4);
	conf_free(f->both);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* The tools' calls so far, one per line. */
static char *calls(struct fixture *f)
{
	char p[128], *buf = calloc(1, 8192);
	FILE *in;

	assert_non_null(buf);
	snprintf(p, sizeof(p), "%s/calls", f->dir);
	in = fopen(p, "r");
	if (in) {
		size_t n = fread(buf, 1, 8191, in);

		buf[n] = '\0';
		fclose(in);
		unlink(p);
	}
	return buf;
}

static char *slurp(struct fixture *f, const char *name)
{
	char p[128], *buf = calloc(1, 8192);
	FILE *in;

	assert_non_null(buf);
	snprintf(p, sizeof(p), "%s/%s", f->dir, name);
	in = fopen(p, "r");
	assert_non_null(in);
	buf[fread(buf, 1, 8191, in)] = '\0';
	fclose(in);
	return buf;
}

static void on_done(void *arg, int rc, const char *err)
{
	struct fixture *f = arg;

	f->done++;
	f->rc = rc;
	snprintf(f->err, sizeof(f->err), "%s", err);
	ev_break(f->loop, EVBREAK_ALL);
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Runs the sequence on the loop until it reports (bounded). */
static void run_seq(struct fixture *f, struct toolseq *j)
{
	ev_timer guard;

	f->done = 0;
	toolseq_start(j, f->loop, on_done, f);
	assert_int_equal(f->done, 0); /* a tool runs: the answer is not in yet */
	ev_timer_init(&guard, on_guard, 10., 0.);
	ev_timer_start(f->loop, &guard);
	ev_run(f->loop, 0);
	ev_timer_stop(f->loop, &guard);
	assert_int_equal(f->done, 1);
	toolseq_free(j);
}

static void test_update_adds_family(void **state)
{
	struct fixture *f = *state;
	char err[256], *c, *in4, *in6;
	struct toolseq *j = fw_update_seq(f->v4, f->both, err, sizeof(err));

	assert_non_null(j);
	run_seq(f, j);
	assert_int_equal(f->rc, 0);
	c = calls(f);
	/* IPv4 refilled in one transaction; IPv6 new: stale rules out, then chains and jumps */
	assert_string_equal(c, "iptables-restore -w --noflush\n"
	                       "ip6tables -w -t raw -D PREROUTING -j SYNGUARD\n"
	                       "ip6tables -w -t raw -D OUTPUT -j SYNGUARD_OUT\n"
	                       "ip6tables -w -t filter -D INPUT -j SYNGUARD\n"
	                       "ip6tables -w -t raw -F SYNGUARD\n"
	                       "ip6tables -w -t raw -X SYNGUARD\n"
	                       "ip6tables -w -t raw -F SYNGUARD_OUT\n"
	                       "ip6tables -w -t raw -X SYNGUARD_OUT\n"
	                       "ip6tables -w -t filter -F SYNGUARD\n"
	                       "ip6tables -w -t filter -X SYNGUARD\n"
	                       "ip6tables-restore -w --noflush\n");
	in4 = slurp(f, "iptables-restore.in");
	in6 = slurp(f, "ip6tables-restore.in");
	assert_non_null(strstr(in4, "*filter\n:SYNGUARD - [0:0]\n"));
	assert_non_null(strstr(in4, "-d 192.0.2.1/32 -p tcp --dport 80 --syn -j NFQUEUE"));
	assert_null(strstr(in4, "-I INPUT"));
	assert_null(strstr(in4, "2001:db8::1"));
	assert_non_null(strstr(in6, "-I INPUT 1 -j SYNGUARD\n"));
	assert_non_null(strstr(in6, "-d 2001:db8::1/128 -p tcp --dport 80 --syn -j NFQUEUE"));
	free(c);
	free(in4);
	free(in6);

	/* and back: IPv6 loses its rules */
	j = fw_update_seq(f->both, f->v4, err, sizeof(err));
	assert_non_null(j);
	run_seq(f, j);
	assert_int_equal(f->rc, 0);
	c = calls(f);
	assert_true(strncmp(c, "iptables-restore -w --noflush\nip6tables -w -t raw -D ", 52) == 0);
	assert_null(strstr(c, "ip6tables-restore"));
	free(c);
}

static void test_update_fails(void **state)
{
	struct fixture *f = *state;
	char err[256], p[128], *c;
	struct toolseq *j;
	FILE *mark;

	snprintf(p, sizeof(p), "%s/fail-iptables-restore", f->dir);
	mark = fopen(p, "w");
	assert_non_null(mark);
	fclose(mark);
	j = fw_update_seq(f->both, f->both, err, sizeof(err));
	assert_non_null(j);
	run_seq(f, j);
	assert_int_equal(f->rc, -1);
	assert_string_equal(f->err, "iptables-restore failed (2): line 3: bad rule");
	c = calls(f);
	assert_string_equal(c, "iptables-restore -w --noflush\n"); /* IPv6 left alone */
	free(c);
	unlink(p);
}

static void test_tool_missing(void **state)
{
	struct fixture *f = *state;
	char err[256], p[128];
	struct toolseq *j;

	snprintf(p, sizeof(p), "%s/iptables-restore", f->dir);
	assert_int_equal(unlink(p), 0);
	setenv("PATH", f->dir, 1);
	j = fw_update_seq(f->v4, f->v4, err, sizeof(err));
	assert_non_null(j);
	/* nothing could start: the sequence reports at once */
	f->done = 0;
	toolseq_start(j, f->loop, on_done, f);
	assert_int_equal(f->done, 1);
	assert_int_equal(f->rc, -1);
	assert_string_equal(f->err, "cannot run iptables-restore: No such file or directory");
	toolseq_free(j);
}

/* Start-up: the same steps, waited for. */
static void test_install_waits(void **state)
{
	struct fixture *f = *state;
	char err[256], *c;

	assert_int_equal(fw_install(f->both, err, sizeof(err)), 0);
	c = calls(f);
	assert_non_null(strstr(c, "iptables -w -t filter -X SYNGUARD\n"
	                          "ip6tables -w -t raw -D PREROUTING -j SYNGUARD\n"));
	assert_non_null(strstr(c, "ip6tables -w -t filter -X SYNGUARD\n"
	                          "iptables-restore -w --noflush\n"
	                          "ip6tables-restore -w --noflush\n"));
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_update_adds_family, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tool_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_install_waits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
