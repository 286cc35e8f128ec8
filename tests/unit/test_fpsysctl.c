/*
 * The kernel switches against local listeners' policies (lib/fpsysctl.h):
 * which mismatch is reported, how harmful, and what the line says.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "conf.h"
#include "fpsysctl.h"

static const char conf_text[] =
    "daemon: { queue = \"0\"; };\n"
    "listeners = (\n"
    "  { name = \"web\"; address = \"192.0.2.1\"; port = 80; handoff = \"local\"; },\n"
    "  { name = \"bare\"; address = \"2001:db8::1\"; port = 81; handoff = \"local\";\n"
    "    policy = \"bare\"; },\n"
    "  { name = \"prox\"; address = \"192.0.2.1\"; port = 82; backend = \"127.0.0.1:8080\"; }\n"
    ");\n"
    "policies = {\n"
    "  default = { mode = \"cookie\"; sack = true; timestamps = true; };\n"
    "  bare = { mode = \"cookie\"; sack = false; timestamps = false; };\n"
    "};\n";

static struct conf *parse(void)
{
	struct conf *c = NULL;
	char err[512];

	if (conf_parse(conf_text, "t.conf", &c, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return c;
}

static const struct fpsysctl_values all_on = {1, 1, 1, 1};

static void test_all_allowed(void **state)
{
	struct conf *c = parse();
	struct fpsysctl_values unknown = {-1, -1, -1, -1};

	(void)state;
	assert_int_equal(fpsysctl_check(c, &all_on, NULL, 0), 0);
	/* unreadable switches are not guessed at */
	assert_int_equal(fpsysctl_check(c, &unknown, NULL, 0), 0);
	conf_free(c);
}

static void test_timestamps_sack(void **state)
{
	struct conf *c = parse();
	struct fpsysctl_values v = all_on;
	struct fpsysctl_issue is[4];
	char line[512];

	(void)state;
	v.timestamps = 0;
	v.sack = 0;
	/* only "web" grants them; "bare" grants neither, "prox" is not local */
	assert_int_equal(fpsysctl_check(c, &v, is, 4), 2);
	assert_int_equal(is[0].listener, 0);
	assert_string_equal(is[0].policy_key, "timestamps");
	assert_string_equal(is[0].sysctl, "net.ipv4.tcp_timestamps");
	assert_int_equal(is[0].harm, FPSYSCTL_SOME);
	assert_string_equal(is[1].policy_key, "sack");
	fpsysctl_describe(c, &is[0], line, sizeof(line));
	assert_non_null(strstr(line, "listener web (policy default, timestamps = true)"));
	assert_non_null(strstr(line, "net.ipv4.tcp_timestamps = 0"));
	assert_non_null(strstr(line, "set net.ipv4.tcp_timestamps to 1, or timestamps = false in "
	                             "policy default"));
	fpsysctl_describe(c, &is[1], line, sizeof(line));
	assert_non_null(strstr(line, "every client that offers SACK"));
	conf_free(c);
}

static void test_window_scaling(void **state)
{
	struct conf *c = parse();
	struct fpsysctl_values v = all_on;
	struct fpsysctl_issue is[4];
	char line[512];

	(void)state;
	v.window_scaling = 0;
	/* no policy turns window scaling off: both local listeners */
	assert_int_equal(fpsysctl_check(c, &v, is, 4), 2);
	assert_int_equal(is[0].listener, 0);
	assert_int_equal(is[1].listener, 1);
	assert_string_equal(is[1].policy_key, "wscale");
	assert_int_equal(is[1].harm, FPSYSCTL_SOME);
	fpsysctl_describe(c, &is[1], line, sizeof(line));
	assert_non_null(strstr(line, "listener bare (policy bare, wscale): "
	                             "net.ipv4.tcp_window_scaling = 0"));
	conf_free(c);
}

static void test_syncookies_every(void **state)
{
	struct conf *c = parse();
	struct fpsysctl_values v = {0, 0, 0, 0};
	struct fpsysctl_issue is[2];
	char line[512];

	(void)state;
	/* every issue counted, only max filled */
	assert_int_equal(fpsysctl_check(c, &v, is, 2), 2 + 3 + 1);
	assert_string_equal(is[0].sysctl, "net.ipv4.tcp_syncookies");
	assert_int_equal(is[0].harm, FPSYSCTL_EVERY);
	fpsysctl_describe(c, &is[0], line, sizeof(line));
	assert_non_null(strstr(line, "every handshake fails: set net.ipv4.tcp_syncookies to 1"));
	conf_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_all_allowed),
	    cmocka_unit_test(test_timestamps_sack),
	    cmocka_unit_test(test_window_scaling),
	    cmocka_unit_test(test_syncookies_every),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
