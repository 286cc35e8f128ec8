/*
 * Privilege drop, the pure part: reading /proc/PID/status, judging a set of
 * credentials against what a dropped daemon must hold, file access for a
 * user. The drop itself runs in tests/netns/privdrop.sh (it needs root and
 * changes the process for good).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "privdrop.h"

/* A real status of a dropped synguardd (uid/gid 65534), abridged in the middle. */
static const char dropped_status[] = "Name:\tsynguardd\n"
                                     "Umask:\t0022\n"
                                     "State:\tS (sleeping)\n"
                                     "Tgid:\t19226\n"
                                     "Uid:\t65534\t65534\t65534\t65534\n"
                                     "Gid:\t65534\t65534\t65534\t65534\n"
                                     "FDSize:\t64\n"
                                     "Groups:\t65534 \n"
                                     "NStgid:\t19226\n"
                                     "VmPeak:\t   90000 kB\n"
                                     "SigCgt:\t0000000000004a02\n"
                                     "CapInh:\t0000000000003000\n"
                                     "CapPrm:\t0000000000003000\n"
                                     "CapEff:\t0000000000003000\n"
                                     "CapBnd:\t0000000000003000\n"
                                     "CapAmb:\t0000000000003000\n"
                                     "NoNewPrivs:\t1\n"
                                     "Seccomp:\t0\n"
                                     "Cpus_allowed_list:\t0-1\n";

/* A root-started daemon with iptables and no port below 1024. */
static const struct privdrop_want want_fw = {.uid = 65534,
                                             .gid = 65534,
                                             .caps = PRIVDROP_CAPS_BASE,
                                             .ambient = PRIVDROP_CAPS_BASE,
                                             .caps_max = PRIVDROP_CAPS_BASE,
                                             .ambient_max = PRIVDROP_CAPS_BASE};

static struct privdrop_creds parsed(const char *text)
{
	struct privdrop_creds c;
	char err[256];

	if (privdrop_parse_status(text, &c, err, sizeof(err)) != 0)
		fail_msg("parse: %s", err);
	return c;
}

static void expect_exact_fails(const struct privdrop_creds *c, const struct privdrop_want *w,
                               const char *needle)
{
	char err[512] = "";

	assert_int_equal(privdrop_check_exact(c, w, err, sizeof(err)), -1);
	if (!strstr(err, needle))
		fail_msg("\"%s\" does not contain \"%s\"", err, needle);
}

static void test_parse(void **state)
{
	struct privdrop_creds c = parsed(dropped_status);

	(void)state;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(c.uid[i], 65534);
		assert_int_equal(c.gid[i], 65534);
	}
	assert_int_equal(c.n_groups, 1);
	assert_int_equal(c.groups[0], 65534);
	assert_int_equal(c.cap_inh, 0x3000);
	assert_int_equal(c.cap_prm, 0x3000);
	assert_int_equal(c.cap_eff, 0x3000);
	assert_int_equal(c.cap_bnd, 0x3000);
	assert_int_equal(c.cap_amb, 0x3000);
	assert_true(c.no_new_privs);
	assert_int_equal(PRIVDROP_CAPS_BASE, 0x3000);
	assert_int_equal(PRIVDROP_CAPS_MAX, 0x3400);
}

static void test_parse_root_and_groups(void **state)
{
	const char *root = "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t0 1 2 3 4 6 10 \n"
	                   "CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\n"
	                   "CapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n"
	                   "CapAmb:\t0000000000000000\nNoNewPrivs:\t0\n";
	const char *no_groups =
	    "Uid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nGroups:\t\nCapInh:\t0\nCapPrm:\t0\n"
	    "CapEff:\t0\nCapBnd:\t0\nCapAmb:\t0\nNoNewPrivs:\t1";
	struct privdrop_creds c = parsed(root);

	(void)state;
	assert_int_equal(c.n_groups, 7);
	assert_int_equal(c.groups[6], 10);
	assert_int_equal(c.cap_eff, 0x1ffffffffffULL);
	assert_false(c.no_new_privs);

	c = parsed(no_groups);
	assert_int_equal(c.uid[0], 1);
	assert_int_equal(c.uid[3], 4);
	assert_int_equal(c.gid[0], 5);
	assert_int_equal(c.gid[3], 8);
	assert_int_equal(c.n_groups, 0);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *text, *needle;
	} bad[] = {
	    {"", "no \"Uid:\" line"},
	    {"Uid:\t0\t0\t0\n", "cannot parse the \"Uid:\" line"},
	    {"Uid:\tx\t0\t0\t0\n", "\"Uid:\""},
	    {"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\nCapInh:\tzz\n", "\"CapInh:\""},
	    {"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\nCapInh:\t0\nCapPrm:\t0\nCapEff:\t0\n"
	     "CapBnd:\t0\nCapAmb:\t0\n",
	     "no \"NoNewPrivs:\" line"},
	    {"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\nCapInh:\t0\nCapPrm:\t0\nCapEff:\t0\n"
	     "CapBnd:\t0\nCapAmb:\t0\nNoNewPrivs:\tyes\n",
	     "\"NoNewPrivs:\""},
	    {"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t1 x\n", "\"Groups:\""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct privdrop_creds c;
		char err[256] = "";

		assert_int_equal(privdrop_parse_status(bad[i].text, &c, err, sizeof(err)), -1);
		if (!strstr(err, bad[i].needle))
			fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err, bad[i].needle);
	}
}

/* The dropped daemon passes; every single way of holding too much fails, with a reason. */
static void test_check_exact(void **state)
{
	struct privdrop_creds ok = parsed(dropped_status), c;
	struct privdrop_want no_fw = want_fw;
	char err[256];

	(void)state;
	assert_int_equal(privdrop_check_exact(&ok, &want_fw, err, sizeof(err)), 0);
	assert_int_equal(privdrop_check_needed(&ok, &want_fw, err, sizeof(err)), 0);

	c = ok;
	c.uid[2] = 0; /* saved uid still root: could setuid(0) back */
	expect_exact_fails(&c, &want_fw, "uids are 65534/65534/0/65534");
	c = ok;
	c.uid[3] = 0;
	expect_exact_fails(&c, &want_fw, "uids are");
	c = ok;
	c.gid[0] = 0;
	expect_exact_fails(&c, &want_fw, "gids are 0/65534/65534/65534");
	c = ok;
	c.n_groups = 2;
	c.groups[1] = 0;
	expect_exact_fails(&c, &want_fw, "supplementary group 0 kept");
	c = ok;
	c.n_groups = 0; /* no supplementary group at all is fine */
	assert_int_equal(privdrop_check_exact(&c, &want_fw, err, sizeof(err)), 0);
	c = ok;
	c.cap_eff |= 1ULL << 21;
	expect_exact_fails(&c, &want_fw,
	                   "effective capability set holds more than needed: "
	                   "CAP_SYS_ADMIN");
	c = ok;
	c.cap_prm |= 1ULL << 7;
	expect_exact_fails(&c, &want_fw,
	                   "permitted capability set holds more than needed: "
	                   "CAP_SETUID");
	c = ok;
	c.cap_bnd = 0x1ffffffffffULL;
	expect_exact_fails(&c, &want_fw, "bounding capability set holds more");
	c = ok;
	c.cap_inh |= 1ULL << 1;
	expect_exact_fails(&c, &want_fw,
	                   "inheritable capability set holds more than needed: "
	                   "CAP_DAC_OVERRIDE");
	c = ok;
	c.no_new_privs = false;
	expect_exact_fails(&c, &want_fw, "no_new_privs is not set");
	c = ok;
	c.cap_prm = 1ULL << PRIVDROP_CAP_NET_ADMIN;
	c.cap_eff = c.cap_prm;
	expect_exact_fails(&c, &want_fw, "lacks CAP_NET_RAW");

	/* without the firewall, ambient (and inheritable) capabilities are extra */
	no_fw.ambient = 0;
	no_fw.ambient_max = 0;
	expect_exact_fails(&ok, &no_fw,
	                   "ambient capability set holds more than needed: "
	                   "CAP_NET_ADMIN CAP_NET_RAW");
	c = ok;
	c.cap_amb = 0;
	c.cap_inh = 0;
	assert_int_equal(privdrop_check_exact(&c, &no_fw, err, sizeof(err)), 0);
}

static void test_check_needed(void **state)
{
	struct privdrop_creds c = parsed(dropped_status);
	char err[512] = "";

	(void)state;
	/* more than needed is not the business of this check */
	c.cap_eff = ~0ULL;
	c.cap_amb = ~0ULL;
	assert_int_equal(privdrop_check_needed(&c, &want_fw, err, sizeof(err)), 0);

	c.cap_eff = 1ULL << PRIVDROP_CAP_NET_RAW;
	assert_int_equal(privdrop_check_needed(&c, &want_fw, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "the process lacks CAP_NET_ADMIN"));
	assert_non_null(
	    strstr(err, "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE"));

	c.cap_eff = PRIVDROP_CAPS_BASE;
	c.cap_amb = 0;
	assert_int_equal(privdrop_check_needed(&c, &want_fw, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CAP_NET_ADMIN CAP_NET_RAW not in the ambient set"));
}

/* Under systemd the unit grants CAP_NET_BIND_SERVICE too: allowed, not required. */
static void test_check_ranges(void **state)
{
	struct privdrop_creds c = parsed(dropped_status);
	struct privdrop_want unit = want_fw;
	char err[512] = "";

	(void)state;
	unit.caps_max = PRIVDROP_CAPS_MAX;
	unit.ambient_max = PRIVDROP_CAPS_MAX;
	c.cap_eff = c.cap_prm = c.cap_bnd = c.cap_amb = c.cap_inh = PRIVDROP_CAPS_MAX;
	assert_int_equal(privdrop_check_exact(&c, &unit, err, sizeof(err)), 0);
	/* a root-started drop keeps exactly what the configuration needs */
	expect_exact_fails(&c, &want_fw,
	                   "effective capability set holds more than needed: "
	                   "CAP_NET_BIND_SERVICE");
	/* and when it needs the low ports, lacking the capability is fatal */
	unit.caps = PRIVDROP_CAPS_MAX;
	c.cap_eff = PRIVDROP_CAPS_BASE;
	assert_int_equal(privdrop_check_needed(&c, &unit, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "the process lacks CAP_NET_BIND_SERVICE"));
}

/* handoff "local" under its drop-in: CAP_BPF and CAP_PERFMON may stay in the bounding set
 * (only CAP_SETPCAP could take them out), never in the other sets. */
static void test_check_bounding_extra(void **state)
{
	struct privdrop_creds c = parsed(dropped_status);
	struct privdrop_want unit = want_fw;
	const uint64_t bpf = 1ULL << 39 | 1ULL << 38; /* CAP_BPF, CAP_PERFMON */
	char err[512] = "";

	(void)state;
	c.cap_bnd |= bpf;
	expect_exact_fails(&c, &unit,
	                   "bounding capability set holds more than needed: "
	                   "CAP_PERFMON CAP_BPF");
	unit.bounding_extra = bpf;
	assert_int_equal(privdrop_check_exact(&c, &unit, err, sizeof(err)), 0);
	c.cap_eff |= bpf;
	expect_exact_fails(&c, &unit,
	                   "effective capability set holds more than needed: "
	                   "CAP_PERFMON CAP_BPF");
}

static struct conf *conf_of(const char *text)
{
	struct conf *c = NULL;
	char err[256];

	if (conf_parse(text, "t.conf", &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return c;
}

/* CAP_NET_BIND_SERVICE: only when a repaired socket (or the metrics) binds a privileged port. */
static void test_needed_caps(void **state)
{
#define L(port)                                                                                    \
	"{ name = \"l" #port "\"; address = \"192.0.2.1\"; port = " #port                          \
	"; backend = \"127.0.0.1:9\"; }"
	struct conf *c;

	(void)state;
	c = conf_of("listeners = ( " L(8080) " );");
	assert_int_equal(privdrop_needed_caps(c, 1024), PRIVDROP_CAPS_BASE);
	conf_free(c);
	c = conf_of("listeners = ( " L(8080) ", " L(1023) " );");
	assert_int_equal(privdrop_needed_caps(c, 1024), PRIVDROP_CAPS_MAX);
	/* net.ipv4.ip_unprivileged_port_start moves the line */
	assert_int_equal(privdrop_needed_caps(c, 1000), PRIVDROP_CAPS_BASE);
	assert_int_equal(privdrop_needed_caps(c, 0), PRIVDROP_CAPS_BASE);
	conf_free(c);
	c = conf_of("listeners = ( " L(80) " );");
	assert_int_equal(privdrop_needed_caps(c, 1024), PRIVDROP_CAPS_MAX);
	conf_free(c);
	c = conf_of("daemon: { metrics_listen = \"[::1]:80\"; };\nlisteners = ( " L(8080) " );");
	assert_int_equal(privdrop_needed_caps(c, 1024), PRIVDROP_CAPS_MAX);
	conf_free(c);
	c = conf_of("daemon: { metrics_listen = \"none\"; };\nlisteners = ( " L(8080) " );");
	assert_int_equal(privdrop_needed_caps(c, 1024), PRIVDROP_CAPS_BASE);
	conf_free(c);
#undef L
}

static void test_caps_str(void **state)
{
	char buf[64];

	(void)state;
	privdrop_caps_str(0, buf, sizeof(buf));
	assert_string_equal(buf, "none");
	privdrop_caps_str(PRIVDROP_CAPS_BASE, buf, sizeof(buf));
	assert_string_equal(buf, "CAP_NET_ADMIN CAP_NET_RAW");
	privdrop_caps_str(PRIVDROP_CAPS_MAX, buf, sizeof(buf));
	assert_string_equal(buf, "CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_NET_RAW");
	privdrop_caps_str((1ULL << 40) | (1ULL << 50) | 1, buf, sizeof(buf));
	assert_string_equal(buf, "CAP_CHOWN CAP_CHECKPOINT_RESTORE cap_50");
	privdrop_caps_str(~0ULL, buf, 16); /* truncated, still terminated */
	assert_int_equal(strlen(buf), 15);
}

static void test_may(void **state)
{
	struct stat st = {.st_uid = 100, .st_gid = 200, .st_mode = S_IFDIR | 0750};

	(void)state;
	assert_true(privdrop_may(&st, 100, 1, R_OK | W_OK | X_OK));
	assert_true(privdrop_may(&st, 5, 200, R_OK | X_OK));
	assert_false(privdrop_may(&st, 5, 200, W_OK));
	assert_false(privdrop_may(&st, 5, 6, X_OK));
	/* the owner class applies to the owner even when the group class would allow more */
	st.st_mode = S_IFDIR | 0070;
	assert_false(privdrop_may(&st, 100, 200, X_OK));
	assert_true(privdrop_may(&st, 101, 200, W_OK | X_OK));
	/* root is nobody special here: the daemon never is root when this matters */
	st.st_mode = S_IFDIR | 0700;
	assert_false(privdrop_may(&st, 0, 0, X_OK));
	/* sticky world-writable directories (/tmp) let anyone create files */
	st.st_mode = S_IFDIR | 01777;
	assert_true(privdrop_may(&st, 7, 7, W_OK | X_OK));
}

/* The parser reads this very process correctly. */
static void test_self(void **state)
{
	FILE *f = fopen("/proc/self/status", "r");
	char text[8192];
	size_t n;
	struct privdrop_creds c;

	(void)state;
	if (!f)
		skip();
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	c = parsed(text);
	assert_int_equal(c.uid[0], getuid());
	assert_int_equal(c.uid[1], geteuid());
	assert_int_equal(c.gid[0], getgid());
	assert_int_equal(c.gid[1], getegid());
	assert_int_equal((int)c.n_groups, getgroups(0, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_parse_root_and_groups),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_check_exact),
	    cmocka_unit_test(test_check_needed),
	    cmocka_unit_test(test_check_ranges),
	    cmocka_unit_test(test_check_bounding_extra),
	    cmocka_unit_test(test_needed_caps),
	    cmocka_unit_test(test_caps_str),
	    cmocka_unit_test(test_may),
	    cmocka_unit_test(test_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
