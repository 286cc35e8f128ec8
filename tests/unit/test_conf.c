/*
 * Configuration parser tests: good fixtures checked field by field (defaults,
 * every key, IPv6, wildcards, pass-fd, the shipped example), then one bad
 * input per rule, each asserting the exact "file:line: key:" prefix and the
 * gist of the message. Runs in tests/, so fixtures are at fixtures/conf/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "conf.h"

#define FIXTURES "fixtures/conf/"
#define EXAMPLE  "../conf/synguard.conf"

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		fail_msg("cannot open %s (tests run from the tests/ directory)", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static struct conf *parse_ok(const char *text, const char *name)
{
	struct conf *c = (struct conf *)0x1;
	char err[512];

	if (conf_parse(text, name, &c, err, sizeof(err)) != 0)
		fail_msg("%s: unexpected error: %s", name, err);
	assert_non_null(c);
	return c;
}

static struct conf *parse_fixture(const char *path)
{
	char *text = read_file(path);
	struct conf *c = parse_ok(text, path);

	free(text);
	return c;
}

static void expect_error(const char *text, const char *name, const char *prefix, const char *needle)
{
	struct conf *c = (struct conf *)0x1;
	char err[512];

	if (conf_parse(text, name, &c, err, sizeof(err)) == 0) {
		conf_free(c);
		fail_msg("%s: accepted, expected \"%s\"\n--- text ---\n%s", name, prefix, text);
	}
	assert_null(c);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("%s: message \"%s\" does not start with \"%s\"", name, err, prefix);
	if (needle && !strstr(err, needle))
		fail_msg("%s: message \"%s\" does not contain \"%s\"", name, err, needle);
}

static void assert_mss(const uint16_t *got, uint16_t a, uint16_t b, uint16_t c, uint16_t d)
{
	assert_int_equal(got[0], a);
	assert_int_equal(got[1], b);
	assert_int_equal(got[2], c);
	assert_int_equal(got[3], d);
}

static void assert_default_policy(const struct conf_policy *p)
{
	assert_string_equal(p->name, "default");
	assert_int_equal(p->mode, CONF_MODE_COOKIE);
	assert_mss(p->mss, 536, 1300, 1440, 1460);
	assert_mss(p->mss6, 1220, 1420, 1440, 8940);
	assert_int_equal(p->wscale, 7);
	assert_true(p->sack);
	assert_true(p->timestamps);
	assert_int_equal(p->idle_timeout, 300);
	assert_int_equal(p->half_open_max, 65536);
	assert_int_equal(p->half_open_per_source, 0);
	assert_int_equal(p->synack_retries, 5);
	assert_int_equal(p->syn_rate_trigger, 20000);
	assert_int_equal(p->half_open_fill_trigger, 75);
	assert_int_equal(p->auto_calm_time, 10);
	assert_int_equal(p->accept_backlog, 1024);
	assert_int_equal(p->accept_overflow, CONF_OVERFLOW_DROP);
	assert_int_equal(p->accept_timeout, 10);
	assert_int_equal(p->max_connections, 0);
	assert_int_equal(p->max_backend_connects, 256);
	assert_int_equal(p->per_source.syn_rate, 0);
	assert_int_equal(p->per_source.burst, 1);
	assert_int_equal(p->per_source.prefix_v4, 32);
	assert_int_equal(p->per_source.prefix_v6, 64);
	assert_int_equal(p->per_source.max_connections, 0);
	assert_int_equal(p->per_source.table_size, 65536);
	assert_int_equal(p->n_allow, 0);
	assert_null(p->allow);
	assert_int_equal(p->n_deny, 0);
	assert_null(p->deny);
	assert_int_equal(p->keepalive.idle, 0);
	assert_int_equal(p->keepalive.interval, 75);
	assert_int_equal(p->keepalive.count, 9);
}

static void assert_inet_addr(const struct sockaddr_storage *ss, socklen_t len, int family,
                             const char *addr, uint16_t port)
{
	uint8_t want[16];

	assert_int_equal(inet_pton(family, addr, want), 1);
	assert_int_equal(ss->ss_family, family);
	if (family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		assert_int_equal(len, sizeof(*a));
		assert_memory_equal(&a->sin_addr, want, 4);
		assert_int_equal(ntohs(a->sin_port), port);
	} else {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		assert_int_equal(len, sizeof(*a));
		assert_memory_equal(&a->sin6_addr, want, 16);
		assert_int_equal(ntohs(a->sin6_port), port);
	}
}

static void assert_default_daemon(const struct conf_daemon *d)
{
	assert_int_equal(d->queue_first, 0);
	assert_int_equal(d->queue_last, 0);
	assert_int_equal(d->firewall, CONF_FW_IPTABLES);
	assert_true(d->fail_open);
	assert_int_equal(d->queue_full, CONF_QUEUE_FULL_DROP);
	assert_string_equal(d->control_socket, "/run/synguard/control.sock");
	assert_int_equal(d->cookie_rotation, 30);
	assert_string_equal(d->user, "synguard");
	assert_inet_addr(&d->metrics, d->metrics_len, AF_INET, "127.0.0.1", 9477);
	assert_string_equal(d->cookie_secret_file, "");
	assert_int_equal(d->n_queue_cpus, 0);
	assert_int_equal(d->queue_priority, 0);
	assert_int_equal(d->queue_nice, 0);
	assert_true(d->synack_layer2);
	assert_int_equal(d->datapath, CONF_DATAPATH_NFQUEUE);
	assert_int_equal(d->n_devices, 0);
}

static void assert_inet_backend(const struct conf_listener *l, int family, const char *addr,
                                uint16_t port)
{
	assert_inet_addr(&l->backend, l->backend_len, family, addr, port);
}

static void assert_address(const struct conf_listener *l, int family, const char *addr)
{
	uint8_t want[16] = {0};

	assert_int_equal(l->family, family);
	assert_int_equal(inet_pton(family, addr, want), 1);
	assert_memory_equal(l->addr, want, 16);
}

/* ---- good configurations ----------------------------------------------- */

static void test_minimal_defaults(void **state)
{
	struct conf *c = parse_fixture(FIXTURES "good-minimal.conf");
	const struct conf_listener *l;

	(void)state;
	assert_default_daemon(&c->daemon);
	assert_int_equal(c->n_policies, 1);
	assert_default_policy(&c->policies[0]);
	assert_int_equal(c->n_listeners, 1);
	l = &c->listeners[0];
	assert_string_equal(l->name, "web");
	assert_address(l, AF_INET, "192.0.2.1");
	assert_false(l->wildcard);
	assert_int_equal(l->port, 80);
	assert_int_equal(l->handoff, CONF_HANDOFF_PROXY);
	assert_inet_backend(l, AF_INET, "127.0.0.1", 8080);
	assert_int_equal(l->proxy_protocol, 0);
	assert_int_equal(l->policy, 0);
	conf_free(c);
}

static void test_queue_placement(void **state)
{
	struct conf *c = NULL;
	char err[256];

	(void)state;
	assert_int_equal(conf_parse("daemon: { queue = \"0:2\"; queue_cpus = [1, 0, 1]; "
	                            "queue_priority = 10; synack_layer2 = false; "
	                            "queue_full = \"accept\"; queue_nice = -20; };\n"
	                            "listeners = ( { name = \"w\"; address = \"192.0.2.1\"; "
	                            "port = 80; backend = \"127.0.0.1:8080\"; } );\n",
	                            "t.conf", &c, err, sizeof(err)),
	                 0);
	assert_int_equal(c->daemon.n_queue_cpus, 3);
	assert_int_equal(c->daemon.queue_cpus[0], 1);
	assert_int_equal(c->daemon.queue_cpus[1], 0);
	assert_int_equal(c->daemon.queue_cpus[2], 1);
	assert_int_equal(c->daemon.queue_priority, 10);
	assert_false(c->daemon.synack_layer2);
	assert_int_equal(c->daemon.queue_full, CONF_QUEUE_FULL_ACCEPT);
	assert_int_equal(c->daemon.queue_nice, -20);
	conf_free(c);
}

static void test_datapath_xdp(void **state)
{
	struct conf *c = NULL;
	char err[256];

	(void)state;
	assert_int_equal(conf_parse("daemon: { datapath = \"xdp\"; devices = [\"eth0\", "
	                            "\"veth-a.10\", \"abcdefghijklmno\"]; };\n"
	                            "listeners = ( { name = \"w\"; address = \"192.0.2.1\"; "
	                            "port = 80; backend = \"127.0.0.1:8080\"; } );\n",
	                            "t.conf", &c, err, sizeof(err)),
	                 0);
	assert_int_equal(c->daemon.datapath, CONF_DATAPATH_XDP);
	assert_int_equal(c->daemon.n_devices, 3);
	assert_string_equal(c->daemon.devices[0], "eth0");
	assert_string_equal(c->daemon.devices[1], "veth-a.10");
	assert_string_equal(c->daemon.devices[2], "abcdefghijklmno");
	conf_free(c);
	/* an empty list: every usable device, as without the setting */
	assert_int_equal(conf_parse("daemon: { datapath = \"nfqueue\"; devices = []; };\n"
	                            "listeners = ( { name = \"w\"; address = \"192.0.2.1\"; "
	                            "port = 80; backend = \"127.0.0.1:8080\"; } );\n",
	                            "t.conf", &c, err, sizeof(err)),
	                 0);
	assert_int_equal(c->daemon.datapath, CONF_DATAPATH_NFQUEUE);
	assert_int_equal(c->daemon.n_devices, 0);
	conf_free(c);
}

static void test_full(void **state)
{
	struct conf *c = parse_fixture(FIXTURES "good-full.conf");
	const struct conf_policy *def, *strict;

	(void)state;
	assert_int_equal(c->daemon.queue_first, 2);
	assert_int_equal(c->daemon.queue_last, 5);
	assert_int_equal(c->daemon.firewall, CONF_FW_NONE);
	assert_false(c->daemon.fail_open);
	assert_string_equal(c->daemon.control_socket, "/var/run/sg/ctl.sock");
	assert_int_equal(c->daemon.cookie_rotation, 15);
	assert_string_equal(c->daemon.user, "sg-daemon_1.x");
	assert_inet_addr(&c->daemon.metrics, c->daemon.metrics_len, AF_INET6, "::", 9100);
	assert_string_equal(c->daemon.cookie_secret_file, "/etc/synguard/cookie.key");

	assert_int_equal(c->n_policies, 2);
	def = &c->policies[0];
	strict = &c->policies[1];
	assert_string_equal(def->name, "default");
	assert_string_equal(strict->name, "strict");
	/* Short tables are padded at the front with their smallest entry. */
	assert_mss(def->mss, 1460, 1460, 1460, 1460);
	assert_mss(def->mss6, 1280, 1280, 1280, 1440);
	assert_int_equal(def->wscale, 0);
	assert_false(def->sack);
	assert_false(def->timestamps);
	assert_int_equal(def->idle_timeout, 86400);
	assert_int_equal(strict->mode, CONF_MODE_COOKIE);
	assert_mss(strict->mss, 88, 88, 536, 1220);
	assert_mss(strict->mss6, 1220, 1400, 9000, 65535);
	assert_int_equal(strict->wscale, 14);
	assert_true(strict->sack);
	assert_true(strict->timestamps);
	assert_int_equal(strict->idle_timeout, 1);

	assert_int_equal(c->n_listeners, 2);
	assert_string_equal(c->listeners[0].name, "web");
	assert_int_equal(c->listeners[0].proxy_protocol, 2);
	assert_int_equal(c->listeners[0].policy, 1);
	assert_inet_backend(&c->listeners[0], AF_INET, "192.0.2.10", 8080);
	assert_string_equal(c->listeners[1].name, "smtp_1.relay-a");
	assert_int_equal(c->listeners[1].port, 25);
	assert_int_equal(c->listeners[1].proxy_protocol, 1);
	assert_int_equal(c->listeners[1].policy, 0);
	conf_free(c);
}

static void test_ipv6(void **state)
{
	struct conf *c = parse_fixture(FIXTURES "good-ipv6.conf");
	const struct conf_listener *l = &c->listeners[0];

	(void)state;
	assert_int_equal(c->n_listeners, 1);
	assert_address(l, AF_INET6, "2001:db8::1");
	assert_false(l->wildcard);
	assert_int_equal(l->port, 443);
	assert_inet_backend(l, AF_INET6, "2001:db8::10", 8443);
	assert_int_equal(l->proxy_protocol, 1);
	conf_free(c);
}

static void test_passfd(void **state)
{
	struct conf *c = parse_fixture(FIXTURES "good-passfd.conf");
	const struct conf_listener *l = &c->listeners[0];
	const struct sockaddr_un *un = (const struct sockaddr_un *)&l->backend;
	const char *path = "/run/synguard/api.sock";

	(void)state;
	assert_int_equal(l->handoff, CONF_HANDOFF_PASSFD);
	assert_int_equal(un->sun_family, AF_UNIX);
	assert_string_equal(un->sun_path, path);
	assert_int_equal(l->backend_len, offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
	assert_int_equal(l->proxy_protocol, 0);
	assert_address(l, AF_INET, "198.51.100.7");
	conf_free(c);
}

/* handoff "local": no backend, no PROXY header; a policy without connection caps, in any
 * mode (the half-open bounds of stateful and auto apply to the SYNs). */
static void test_local(void **state)
{
	struct conf *c = parse_ok("listeners = ( { name = \"web\"; address = \"2001:db8::1\"; "
	                          "port = 443; handoff = \"local\"; policy = \"p\"; } );\n"
	                          "policies = { p = { deny = [ \"198.51.100.0/24\" ]; }; };\n",
	                          "t.conf");
	const struct conf_listener *l = &c->listeners[0];

	(void)state;
	assert_int_equal(l->handoff, CONF_HANDOFF_LOCAL);
	assert_int_equal(l->backend_len, 0);
	assert_int_equal(l->proxy_protocol, 0);
	assert_int_equal(c->policies[l->policy].n_deny, 1);
	conf_free(c);

	c = parse_ok("listeners = ( { name = \"web\"; address = \"192.0.2.1\"; port = 80; "
	             "handoff = \"local\"; policy = \"s\"; }, { name = \"web6\"; address = "
	             "\"2001:db8::1\"; port = 80; handoff = \"local\"; policy = \"a\"; } );\n"
	             "policies = { s = { mode = \"stateful\"; half_open_max = 100; "
	             "half_open_per_source = 4; synack_retries = 2; }; a = { mode = \"auto\"; "
	             "syn_rate_trigger = 50; }; };\n",
	             "t.conf");
	assert_int_equal(c->policies[c->listeners[0].policy].mode, CONF_MODE_STATEFUL);
	assert_int_equal(c->policies[c->listeners[0].policy].half_open_max, 100);
	assert_int_equal(c->policies[c->listeners[1].policy].mode, CONF_MODE_AUTO);
	assert_int_equal(c->listeners[1].handoff, CONF_HANDOFF_LOCAL);
	conf_free(c);
}

static void assert_cidr(const struct cidr *c, const char *text)
{
	char got[CIDR_TEXT_MAX];

	cidr_format(c, got, sizeof(got));
	assert_string_equal(got, text);
}

static void test_policies(void **state)
{
	struct conf *c = parse_fixture(FIXTURES "good-policies.conf");
	const struct conf_policy *g, *k;

	(void)state;
	assert_int_equal(c->n_policies, 3);
	g = &c->policies[0];
	k = &c->policies[1];
	assert_string_equal(g->name, "guarded");
	assert_int_equal(g->mode, CONF_MODE_AUTO);
	assert_int_equal(g->half_open_max, 1000);
	assert_int_equal(g->half_open_per_source, 4);
	assert_int_equal(g->synack_retries, 2);
	assert_int_equal(g->syn_rate_trigger, 0);
	assert_int_equal(g->half_open_fill_trigger, 50);
	assert_int_equal(g->auto_calm_time, 3);
	assert_int_equal(g->accept_backlog, 2);
	assert_int_equal(g->accept_overflow, CONF_OVERFLOW_RESET);
	assert_int_equal(g->accept_timeout, 60);
	assert_int_equal(g->max_connections, 10000);
	assert_int_equal(g->max_backend_connects, 8);
	assert_int_equal(g->per_source.syn_rate, 20);
	assert_int_equal(g->per_source.burst, 50);
	assert_int_equal(g->per_source.prefix_v4, 24);
	assert_int_equal(g->per_source.prefix_v6, 48);
	assert_int_equal(g->per_source.max_connections, 16);
	assert_int_equal(g->per_source.table_size, 4096);
	assert_int_equal(g->n_allow, 3);
	assert_cidr(&g->allow[0], "192.0.2.0/24");
	assert_cidr(&g->allow[1], "2001:db8::/64");
	assert_cidr(&g->allow[2], "198.51.100.7/32");
	assert_int_equal(g->n_deny, 2);
	assert_cidr(&g->deny[0], "198.51.100.0/24");
	assert_cidr(&g->deny[1], "2001:db8:bad::/48");
	assert_int_equal(g->keepalive.idle, 60);
	assert_int_equal(g->keepalive.interval, 10);
	assert_int_equal(g->keepalive.count, 6);

	/* Left out: defaults; burst follows syn_rate; a partial keepalive group. */
	assert_string_equal(k->name, "kernel-like");
	assert_int_equal(k->mode, CONF_MODE_STATEFUL);
	assert_int_equal(k->per_source.syn_rate, 100);
	assert_int_equal(k->per_source.burst, 100);
	assert_int_equal(k->per_source.prefix_v4, 32);
	assert_int_equal(k->keepalive.idle, 30);
	assert_int_equal(k->keepalive.interval, 75);
	assert_int_equal(k->keepalive.count, 9);
	assert_int_equal(k->half_open_max, 65536);
	assert_int_equal(k->accept_overflow, CONF_OVERFLOW_DROP);
	assert_default_policy(&c->policies[2]);

	assert_int_equal(c->listeners[0].policy, 0);
	assert_int_equal(c->listeners[1].policy, 1);
	assert_int_equal(c->listeners[2].policy, 2);
	assert_string_equal(conf_mode_name(g->mode), "auto");
	assert_string_equal(conf_mode_name(k->mode), "stateful");
	assert_string_equal(conf_mode_name(CONF_MODE_COOKIE), "cookie");
	assert_string_equal(conf_overflow_name(CONF_OVERFLOW_RESET), "reset");
	assert_string_equal(conf_overflow_name(CONF_OVERFLOW_DROP), "drop");
	conf_free(c);
}

static int match(const struct conf *c, int family, const char *addr, uint16_t port)
{
	uint8_t a[16];

	assert_int_equal(inet_pton(family, addr, a), 1);
	return conf_match_listener(c, family, a, port);
}

static void test_wildcard_match(void **state)
{
	struct conf *c = parse_fixture(FIXTURES "good-wildcard.conf");
	uint8_t a[16] = {0};

	(void)state;
	assert_int_equal(c->n_listeners, 6);
	assert_true(c->listeners[0].wildcard);
	assert_int_equal(c->listeners[0].family, AF_INET);
	assert_false(c->listeners[1].wildcard);
	assert_true(c->listeners[2].wildcard);
	assert_int_equal(c->listeners[2].family, AF_INET6);
	assert_false(c->listeners[3].wildcard);

	/* The specific address wins over the wildcard, whatever the order. */
	assert_int_equal(match(c, AF_INET, "192.0.2.1", 80), 1);
	assert_int_equal(match(c, AF_INET, "192.0.2.2", 80), 4);
	assert_int_equal(match(c, AF_INET, "192.0.2.3", 80), 0);
	assert_int_equal(match(c, AF_INET, "192.0.2.1", 8080), 5);
	assert_int_equal(match(c, AF_INET, "192.0.2.2", 8080), -1);
	assert_int_equal(match(c, AF_INET, "192.0.2.1", 81), -1);
	assert_int_equal(match(c, AF_INET6, "2001:db8::1", 80), 3);
	assert_int_equal(match(c, AF_INET6, "2001:db8::2", 80), 2);
	/* IPv4-mapped IPv6 is just another IPv6 address. */
	assert_int_equal(match(c, AF_INET6, "::ffff:192.0.2.1", 80), 2);
	assert_int_equal(match(c, AF_INET6, "2001:db8::1", 8080), -1);
	assert_int_equal(conf_match_listener(c, AF_UNIX, a, 80), -1);
	assert_int_equal(conf_match_listener(c, AF_INET, NULL, 80), -1);
	assert_int_equal(conf_match_listener(NULL, AF_INET, a, 80), -1);
	conf_free(c);

	/* Without a wildcard an unknown address matches nothing. */
	c = parse_fixture(FIXTURES "good-minimal.conf");
	assert_int_equal(match(c, AF_INET, "192.0.2.1", 80), 0);
	assert_int_equal(match(c, AF_INET, "192.0.2.2", 80), -1);
	assert_int_equal(match(c, AF_INET6, "::ffff:192.0.2.1", 80), -1);
	conf_free(c);
}

/* The shipped example parses, and every value it shows is the default. */
static void test_example(void **state)
{
	struct conf *c = parse_fixture(EXAMPLE);

	(void)state;
	assert_default_daemon(&c->daemon);
	assert_int_equal(c->n_policies, 1);
	assert_default_policy(&c->policies[0]);
	assert_int_equal(c->n_listeners, 1);
	assert_string_equal(c->listeners[0].name, "web");
	assert_address(&c->listeners[0], AF_INET, "192.0.2.1");
	assert_int_equal(c->listeners[0].handoff, CONF_HANDOFF_PROXY);
	conf_free(c);
}

/*
 * Uncommenting the example's commented-out listeners ("\t# , {" blocks) and
 * policy ("\t# guarded = {") gives a valid configuration too, so the examples
 * cannot rot.
 */
static void test_example_uncommented(void **state)
{
	char *text = read_file(EXAMPLE), *out = malloc(strlen(text) + 1);
	const char *p = text;
	char *o = out;
	bool in_block = false;
	struct conf *c;

	(void)state;
	assert_non_null(out);
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p + 1) : strlen(p);

		if (strncmp(p, "\t# , {", 6) == 0 || strncmp(p, "\t# guarded = {", 14) == 0)
			in_block = true;
		if (in_block && strncmp(p, "\t#", 2) == 0) {
			*o++ = '\t';
			p += 2;
			n -= 2;
			if (*p == ' ') {
				p++;
				n--;
			}
		}
		if (in_block && strncmp(p, "}", 1) == 0)
			in_block = false;
		memcpy(o, p, n);
		o += n;
		p += n;
	}
	*o = '\0';
	c = parse_ok(out, EXAMPLE " (uncommented)");
	assert_int_equal(c->n_listeners, 4);
	assert_string_equal(c->listeners[1].name, "api");
	assert_int_equal(c->listeners[1].handoff, CONF_HANDOFF_PASSFD);
	assert_string_equal(c->listeners[2].name, "direct");
	assert_int_equal(c->listeners[2].handoff, CONF_HANDOFF_LOCAL);
	assert_string_equal(c->listeners[3].name, "web6");
	assert_int_equal(c->listeners[3].family, AF_INET6);
	assert_true(c->listeners[3].wildcard);
	/* and the example policy */
	assert_int_equal(c->n_policies, 2);
	assert_string_equal(c->policies[1].name, "guarded");
	assert_int_equal(c->policies[1].mode, CONF_MODE_AUTO);
	assert_int_equal(c->policies[1].per_source.prefix_v4, 24);
	assert_int_equal(c->policies[1].n_deny, 2);
	assert_int_equal(c->policies[1].accept_overflow, CONF_OVERFLOW_RESET);
	assert_int_equal(c->policies[1].keepalive.idle, 60);
	conf_free(c);
	free(out);
	free(text);
}

/*
 * Comments, strings, names, floats and 64-bit literals must not upset the
 * scanner that pairs integer literals with settings: a truncated integer
 * after all of them is still blamed on its own key.
 */
static void test_lexical_lookalikes(void **state)
{
	struct conf *c =
	    parse_ok("# @include \"x.conf\"\n"
	             "/* @include \"y.conf\"\n port = 4294967376; */\n"
	             "// port = 99999999999\n"
	             "listeners = ( { name = \"web-4294967376\"; address = \"192.0.2.1\";\n"
	             "  port = 0x50; backend = \"127.0.0.1:8080\"; policy = \"p2\"; } );\n"
	             "policies = { p2 = { idle_timeout = 600L; mss = [ 0x218 ]; }; };\n",
	             "t.conf");

	(void)state;
	assert_int_equal(c->listeners[0].port, 80);
	assert_int_equal(c->policies[0].idle_timeout, 600);
	assert_mss(c->policies[0].mss, 536, 536, 536, 536);
	conf_free(c);

	expect_error("listeners = ( { name = \"x\\\"1 2 // 3\"; address = \"192.0.2.1\";\n"
	             "  port = 8.0e1; proxy_protocol = -.5; backend = \"1.2.3.4:5\";\n"
	             "  policy = \"p-9\"; } );\n"
	             "policies = { p-9 = { wscale = 5.; idle_timeout = 1E3; sack = TRUE; }; };\n"
	             "daemon: { queue = \"1:2\"; cookie_rotation = 4294967326; };\n",
	             "t.conf", "t.conf:5: daemon.cookie_rotation: ",
	             "integer literal is out of range: must be an integer 1..3600");
}

static void test_small_error_buffer(void **state)
{
	struct conf *c = NULL;
	char err[8];

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(
	    conf_parse("listeners = 5;", "a-long-file-name.conf", &c, err, sizeof(err)), -1);
	assert_null(c);
	assert_string_equal(err, "a-long-");
	assert_int_equal(conf_parse("listeners = 5;", "t.conf", &c, NULL, 0), -1);
	assert_null(c);
	assert_int_equal(conf_parse(NULL, "t.conf", &c, err, sizeof(err)), -1);
	assert_int_equal(conf_parse("", "t.conf", NULL, err, sizeof(err)), -1);
}

/* ---- bad configurations ------------------------------------------------ */

struct bad_file {
	const char *path;
	const char *prefix;
	const char *needle;
};

static const struct bad_file bad_files[] = {
    {FIXTURES "bad-include.conf",
     FIXTURES "bad-include.conf:3: @include: ", "includes are not supported"},
    {FIXTURES "bad-syntax.conf", FIXTURES "bad-syntax.conf:3: syntax error", NULL},
    /* A missing key is reported at its group's line. */
    {FIXTURES "bad-missing-port.conf",
     FIXTURES "bad-missing-port.conf:8: listeners.[1].port: ", "is required: an integer 1..65535"},
    {FIXTURES "bad-port-truncated.conf", FIXTURES "bad-port-truncated.conf:6: listeners.[0].port: ",
     "out of range: must be an integer 1..65535"},
    {FIXTURES "bad-access-overlap.conf",
     FIXTURES "bad-access-overlap.conf:5: policies.default.deny: ",
     "entry [1] 2001:db8::/32 is in allow too: a prefix may be in one list only"},
    {FIXTURES "bad-per-source-prefix.conf",
     FIXTURES "bad-per-source-prefix.conf:7: policies.default.per_source.prefix_v4: ",
     "16 is out of range: must be an integer 24..32"},
    {FIXTURES "bad-cidr.conf", FIXTURES "bad-cidr.conf:4: policies.default.deny: ",
     "entry [1] \"198.51.100.1/24\" is not valid: host bits set in \"198.51.100.1/24\": the "
     "network is 198.51.100.0/24"},
};

static void test_bad_files(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		char *text = read_file(bad_files[i].path);

		expect_error(text, bad_files[i].path, bad_files[i].prefix, bad_files[i].needle);
		free(text);
	}
}

#define LST(...)                                                                                   \
	"listeners = ( { name = \"web\"; address = \"192.0.2.1\"; port = 80; "                     \
	"backend = \"127.0.0.1:8080\"; " __VA_ARGS__ " } );\n"
#define LSTX(addr, port, backend, ...)                                                             \
	"listeners = ( { name = \"web\"; address = " addr "; port = " port "; backend = " backend  \
	"; " __VA_ARGS__ " } );\n"
#define POL(...) LST() "policies = { default = { " __VA_ARGS__ " }; };\n"
#define DMN(...) "daemon: { " __VA_ARGS__ " };\n" LST()

struct bad_text {
	const char *text;
	const char *prefix; /* after "t.conf:" */
	const char *needle;
};

static const struct bad_text bad_texts[] = {
    /* syntax and lexical */
    {"a = 1;\na = 2;\n", "2: syntax error: duplicate setting name", NULL},
    {"daemon: { queue = \"0\"; fail_open = yes; };\n", "1: syntax error", NULL},
    {LST() "@include \"more.conf\"\n", "2: @include: ", "not supported"},

    /* root */
    {LST() "listener = ( );\n", "2: listener: ",
     "unknown key (allowed here: daemon, listeners, "
     "policies)"},
    {"daemon: { };\n", "1: listeners: ", "is required: a list of at least one listener"},
    {"listeners = ( );\n", "1: listeners: ", "is empty"},
    {"listeners = { web = { }; };\n", "1: listeners: ", "must be a list"},
    {"listeners = ( 80 );\n", "1: listeners.[0]: ", "must be a group"},

    /* daemon */
    {"daemon = 5;\n" LST(), "1: daemon: ", "must be a group"},
    {DMN("queues = \"0\";"), "1: daemon.queues: ",
     "unknown key (allowed here: queue, firewall, fail_open, control_socket, cookie_rotation, "
     "user, metrics_listen, cookie_secret_file, queue_cpus, queue_priority, synack_layer2, "
     "queue_full, queue_nice, datapath, devices)"},
    {DMN("queue = 0;"), "1: daemon.queue: ", "must be a string: \"N\" or \"N:M\""},
    {DMN("queue = \"x\";"), "1: daemon.queue: ", "\"x\" is not valid: must be \"N\" or \"N:M\""},
    {DMN("queue = \"\";"), "1: daemon.queue: ", "is not valid"},
    {DMN("queue = \"-1\";"), "1: daemon.queue: ", "is not valid"},
    {DMN("queue = \" 1\";"), "1: daemon.queue: ", "is not valid"},
    {DMN("queue = \"1:\";"), "1: daemon.queue: ", "is not valid"},
    {DMN("queue = \"1:2:3\";"), "1: daemon.queue: ", "is not valid"},
    {DMN("queue = \"65536\";"), "1: daemon.queue: ", "0..65535"},
    {DMN("queue = \"5:3\";"), "1: daemon.queue: ", "the first queue is above the last"},
    {DMN("queue = \"0:64\";"), "1: daemon.queue: ", "\"0:64\" is 65 queues"},
    {DMN("firewall = \"nft\";"),
     "1: daemon.firewall: ", "\"nft\" is not allowed: must be one of \"iptables\", \"none\""},
    {DMN("firewall = true;"),
     "1: daemon.firewall: ", "must be a string, one of \"iptables\", \"none\""},
    {DMN("fail_open = \"yes\";"), "1: daemon.fail_open: ", "must be a boolean: true or false"},
    {DMN("fail_open = 1;"), "1: daemon.fail_open: ", "must be a boolean"},
    {DMN("synack_layer2 = \"no\";"), "1: daemon.synack_layer2: ", "must be a boolean"},
    {DMN("datapath = \"tc\";"),
     "1: daemon.datapath: ", "\"tc\" is not allowed: must be one of \"nfqueue\", \"xdp\""},
    {DMN("datapath = 1;"), "1: daemon.datapath: ", "must be a string, one of \"nfqueue\", \"xdp\""},
    {DMN("devices = \"eth0\";"),
     "1: daemon.devices: ", "must be a list of at most 64 distinct device names (1..15 bytes"},
    {DMN("devices = [1];"), "1: daemon.devices: ", "entry [0] is not a string"},
    {DMN("devices = [\"eth0\", \"\"];"),
     "1: daemon.devices: ", "entry [1] \"\" is not a device name"},
    {DMN("devices = [\"abcdefghijklmnop\"];"),
     "1: daemon.devices: ", "entry [0] \"abcdefghijklmnop\" is not a device name"},
    {DMN("devices = [\"a/b\"];"), "1: daemon.devices: ", "is not a device name"},
    {DMN("devices = [\"a b\"];"), "1: daemon.devices: ", "is not a device name"},
    {DMN("devices = [\"..\"];"), "1: daemon.devices: ", "is not a device name"},
    {DMN("devices = [\"eth0\", \"eth1\", \"eth0\"];"),
     "1: daemon.devices: ", "entry [2] \"eth0\" repeats entry [0]"},
    {DMN("queue_full = \"bypass\";"),
     "1: daemon.queue_full: ", "\"bypass\" is not allowed: must be one of \"drop\", \"accept\""},
    {DMN("queue_full = false;"),
     "1: daemon.queue_full: ", "must be a string, one of \"drop\", \"accept\""},
    {DMN("queue_nice = -21;"),
     "1: daemon.queue_nice: ", "-21 is out of range: must be an integer -20..19"},
    {DMN("queue_nice = 20;"), "1: daemon.queue_nice: ", "must be an integer -20..19"},
    {DMN("control_socket = \"run/ctl.sock\";"),
     "1: daemon.control_socket: ", "must be an absolute path of at most 107 bytes"},
    {DMN("control_socket = 5;"), "1: daemon.control_socket: ", "must be a string"},
    {DMN("cookie_rotation = 0;"),
     "1: daemon.cookie_rotation: ", "0 is out of range: must be an integer 1..3600"},
    {DMN("cookie_rotation = 3601;"), "1: daemon.cookie_rotation: ", "1..3600"},
    {DMN("cookie_rotation = 30.0;"), "1: daemon.cookie_rotation: ", "must be an integer 1..3600"},
    {DMN("cookie_rotation = \"30\";"), "1: daemon.cookie_rotation: ", "must be an integer"},
    {DMN("user = 0;"), "1: daemon.user: ",
     "must be a string: a user name of 1..31 characters of A-Z a-z 0-9 _ . - not starting "
     "with -, e.g. \"synguard\""},
    {DMN("user = \"\";"), "1: daemon.user: ", "\"\" is not valid: must be a user name"},
    {DMN("user = \"-x\";"), "1: daemon.user: ", "\"-x\" is not valid"},
    {DMN("user = \"a b\";"), "1: daemon.user: ", "\"a b\" is not valid"},
    {DMN("user = \"abcdefghijklmnopqrstuvwxyz123456\";"), "1: daemon.user: ", "is not valid"},
    {DMN("metrics_listen = 9477;"), "1: daemon.metrics_listen: ",
     "must be a string: \"IPv4:port\" or \"[IPv6]:port\" to serve HTTP GET /metrics there, or "
     "\"none\" (or \"\") to disable"},
    {DMN("metrics_listen = \"127.0.0.1\";"),
     "1: daemon.metrics_listen: ", "\"127.0.0.1\" is not valid: must be \"IPv4:port\""},
    {DMN("metrics_listen = \"localhost:9477\";"), "1: daemon.metrics_listen: ", "is not valid"},
    {DMN("metrics_listen = \"127.0.0.1:0\";"), "1: daemon.metrics_listen: ", "is not valid"},
    {DMN("metrics_listen = \"::1:9477\";"), "1: daemon.metrics_listen: ", "is not valid"},
    {DMN("metrics_listen = \"off\";"), "1: daemon.metrics_listen: ", "\"off\" is not valid"},
    {DMN("cookie_secret_file = \"cookie.key\";"), "1: daemon.cookie_secret_file: ",
     "\"cookie.key\" is not valid: must be an absolute path of at most 255 bytes, or \"\" to "
     "keep random keys in memory only"},
    {DMN("cookie_secret_file = true;"), "1: daemon.cookie_secret_file: ", "must be a string"},
    {DMN("queue_cpus = 0;"),
     "1: daemon.queue_cpus: ", "must be a list of at most 64 CPU numbers 0..1023, e.g. [0, 1]"},
    {DMN("queue_cpus = ( 0, \"1\" );"), "1: daemon.queue_cpus: ", "entry [1] is not an integer"},
    {DMN("queue_cpus = [1024];"), "1: daemon.queue_cpus: ", "entry [0] is out of range"},
    {DMN("queue_cpus = [-1];"), "1: daemon.queue_cpus: ", "entry [0] is out of range"},
    {DMN("queue_cpus = [4294967296];"), "1: daemon.queue_cpus: ", "entry [0] is out of range"},
    {DMN("queue_cpus = [0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,"
         "5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4];"),
     "1: daemon.queue_cpus: ", "has 65 entries"},
    {DMN("queue_priority = 100;"), "1: daemon.queue_priority: ", "0..99"},
    {DMN("queue_priority = \"rr\";"), "1: daemon.queue_priority: ", "must be an integer"},

    /* listener keys */
    {LST("nmae = \"x\";"), "1: listeners.[0].nmae: ",
     "unknown key (allowed here: name, "
     "address, port, backend, handoff, "
     "proxy_protocol, policy)"},
    {"listeners = (\n { address = \"192.0.2.1\"; port = 80; backend = \"127.0.0.1:1\"; } );\n",
     "2: listeners.[0].name: ", "is required"},
    {LSTX("\"192.0.2.1\"", "80", "\"127.0.0.1:1\"", "name = 5;"), "1: ", "syntax error"},
    {"listeners = ( { name = 5; address = \"192.0.2.1\"; port = 80; backend = \"1.2.3.4:5\"; } "
     ");\n",
     "1: listeners.[0].name: ", "must be a string: 1..31 characters of A-Z a-z 0-9 _ . -"},
    {"listeners = ( { name = \"\"; address = \"192.0.2.1\"; port = 80; backend = \"1.2.3.4:5\"; "
     "} );\n",
     "1: listeners.[0].name: ", "\"\" is not valid"},
    {"listeners = ( { name = \"a b\"; address = \"192.0.2.1\"; port = 80; backend = "
     "\"1.2.3.4:5\"; } );\n",
     "1: listeners.[0].name: ", "\"a b\" is not valid: must be 1..31 characters"},
    {"listeners = ( { name = \"abcdefghijklmnopqrstuvwxyz123456\"; address = \"192.0.2.1\"; port "
     "= 80; backend = \"1.2.3.4:5\"; } );\n",
     "1: listeners.[0].name: ", "is not valid"},
    {"listeners = ( { name = \"web\"; address = \"192.0.2.1\"; port = 80; backend = "
     "\"1.2.3.4:5\"; },\n { name = \"web\"; address = \"192.0.2.2\"; port = 80; backend = "
     "\"1.2.3.4:5\"; } );\n",
     "2: listeners.[1].name: ", "\"web\" is already the name of listeners.[0]"},
    {"listeners = ( { name = \"web\"; port = 80; backend = \"1.2.3.4:5\"; } );\n",
     "1: listeners.[0].address: ", "is required: an IPv4 or IPv6 address literal"},
    {LSTX("\"192.0.2.256\"", "80", "\"127.0.0.1:1\""), "1: listeners.[0].address: ",
     "\"192.0.2.256\" is not valid: must be an IPv4 or IPv6 address literal"},
    {LSTX("\"www.example.com\"", "80", "\"127.0.0.1:1\""),
     "1: listeners.[0].address: ", "is not valid"},
    {LSTX("\"fe80::1%eth0\"", "80", "\"127.0.0.1:1\""),
     "1: listeners.[0].address: ", "is not valid"},
    {LSTX("3221225985", "80", "\"127.0.0.1:1\""), "1: listeners.[0].address: ", "must be a string"},
    {LSTX("\"192.0.2.1\"", "0", "\"127.0.0.1:1\""),
     "1: listeners.[0].port: ", "0 is out of range: must be an integer 1..65535"},
    {LSTX("\"192.0.2.1\"", "65536", "\"127.0.0.1:1\""),
     "1: listeners.[0].port: ", "65536 is out of range"},
    {LSTX("\"192.0.2.1\"", "-80", "\"127.0.0.1:1\""),
     "1: listeners.[0].port: ", "-80 is out of range"},
    {LSTX("\"192.0.2.1\"", "\"80\"", "\"127.0.0.1:1\""),
     "1: listeners.[0].port: ", "must be an integer 1..65535"},
    /* 2^32 + 80 and 2^32 + 80 in hex: libconfig alone would read 80 */
    {LSTX("\"192.0.2.1\"", "4294967376", "\"127.0.0.1:1\""),
     "1: listeners.[0].port: ", "integer literal is out of range: must be an integer 1..65535"},
    {LSTX("\"192.0.2.1\"", "0x100000050", "\"127.0.0.1:1\""),
     "1: listeners.[0].port: ", "out of range"},
    {LSTX("\"192.0.2.1\"", "99999999999999999999", "\"127.0.0.1:1\""),
     "1: listeners.[0].port: ", "out of range"},
    {LSTX("\"192.0.2.1\"", "4294967376L", "\"127.0.0.1:1\""),
     "1: listeners.[0].port: ", "4294967376 is out of range"},

    /* address and port pairs */
    {"listeners = ( { name = \"a\"; address = \"192.0.2.1\"; port = 80; backend = "
     "\"1.2.3.4:5\"; },\n { name = \"b\"; address = \"192.0.2.1\"; port = 80; backend = "
     "\"1.2.3.4:6\"; } );\n",
     "2: listeners.[1]: ", "address 192.0.2.1 port 80 is already taken by listeners.[0] \"a\""},
    {"listeners = ( { name = \"a\"; address = \"0.0.0.0\"; port = 80; backend = \"1.2.3.4:5\"; "
     "},\n { name = \"b\"; address = \"0.0.0.0\"; port = 80; backend = \"1.2.3.4:6\"; } );\n",
     "2: listeners.[1]: ", "address 0.0.0.0 port 80 is already taken"},
    {"listeners = ( { name = \"a\"; address = \"::\"; port = 80; backend = \"1.2.3.4:5\"; },\n"
     " { name = \"b\"; address = \"0::0\"; port = 80; backend = \"1.2.3.4:6\"; } );\n",
     "2: listeners.[1]: ", "address :: port 80 is already taken"},
    {"listeners = ( { name = \"a\"; address = \"2001:db8::1\"; port = 80; backend = "
     "\"1.2.3.4:5\"; },\n { name = \"b\"; address = \"2001:DB8:0::1\"; port = 80; backend = "
     "\"1.2.3.4:6\"; } );\n",
     "2: listeners.[1]: ", "address 2001:db8::1 port 80 is already taken"},

    /* handoff and backend */
    {LST("handoff = \"splice\";"), "1: listeners.[0].handoff: ",
     "\"splice\" is not allowed: must be one of \"proxy\", \"pass-fd\""},
    {LST("handoff = 1;"), "1: listeners.[0].handoff: ", "must be a string, one of"},
    {LST("handoff = \"local\";"), "1: listeners.[0].backend: ",
     "is not allowed with handoff \"local\": the protected server itself listens on the "
     "listener's address and port 80; leave backend out"},
    {"listeners = ( { name = \"web\"; address = \"192.0.2.1\"; port = 80; handoff = "
     "\"local\"; proxy_protocol = 1; } );\n",
     "1: listeners.[0].proxy_protocol: ",
     "is only allowed with handoff \"proxy\": with \"local\" the server accepts the client's "
     "connection itself"},
    {"listeners = ( { name = \"web\"; address = \"192.0.2.1\"; port = 80; handoff = "
     "\"local\"; policy = \"a\"; } );\npolicies = { a = { mode = \"auto\"; "
     "max_connections = 5; }; };\n",
     "1: listeners.[0].policy: ", "policy \"a\" sets max_connections"},
    {"listeners = ( { name = \"web\"; address = \"192.0.2.1\"; port = 80; handoff = "
     "\"local\"; } );\npolicies = { default = { per_source = { max_connections = 5; }; }; };\n",
     "1: listeners.[0]: ",
     "policy \"default\" sets per_source.max_connections, which handoff \"local\" cannot "
     "apply"},
    {"listeners = ( { name = \"web\"; address = \"192.0.2.1\"; port = 80; handoff = "
     "\"local\"; } );\npolicies = { default = { max_connections = 5; }; };\n",
     "1: listeners.[0]: ", "policy \"default\" sets max_connections"},
    {"listeners = ( { name = \"web\"; address = \"0.0.0.0\"; port = 80; handoff = "
     "\"local\"; } );\n",
     "1: listeners.[0].address: ",
     "a wildcard address is not allowed with handoff \"local\": the kernel program would "
     "check traffic to port 80 that this host only forwards"},
    {"listeners = ( { name = \"web\"; address = \"::\"; port = 80; handoff = "
     "\"local\"; } );\n",
     "1: listeners.[0].address: ", "a wildcard address is not allowed with handoff"},
    {"listeners = ( { name = \"web\"; address = \"192.0.2.1\"; port = 80; handoff = "
     "\"local\"; } );\npolicies = { default = { mss = [ 88, 536, 1440, 1460 ]; }; };\n",
     "1: listeners.[0]: ",
     "policy \"default\" has an mss table starting at 88, below 536, which handoff "
     "\"local\" cannot use"},
    {"listeners = ( { name = \"web\"; address = \"192.0.2.1\"; port = 80; } );\n",
     "1: listeners.[0].backend: ",
     "is required: handoff \"proxy\" needs \"IPv4:port\" or "
     "\"[IPv6]:port\""},
    {"listeners = ( { name = \"web\"; address = \"192.0.2.1\"; port = 80; handoff = "
     "\"pass-fd\"; } );\n",
     "1: listeners.[0].backend: ",
     "is required: handoff \"pass-fd\" needs "
     "\"unix:/absolute/path\""},
    {LSTX("\"192.0.2.1\"", "80", "\"unix:/run/web.sock\""), "1: listeners.[0].backend: ",
     "\"unix:/run/web.sock\" is a Unix socket, which is for handoff \"pass-fd\": handoff "
     "\"proxy\" needs \"IPv4:port\" or \"[IPv6]:port\""},
    {LSTX("\"192.0.2.1\"", "80", "\"127.0.0.1:8080\"", "handoff = \"pass-fd\";"),
     "1: listeners.[0].backend: ",
     "\"127.0.0.1:8080\" is not a Unix socket, which handoff \"pass-fd\" needs: handoff "
     "\"pass-fd\" needs \"unix:/absolute/path\""},
    {"listeners = ( { name = \"a\"; address = \"192.0.2.1\"; port = 80; handoff = \"pass-fd\"; "
     "backend = \"unix:/run/a.sock\"; },\n { name = \"b\"; address = \"192.0.2.1\"; port = 81; "
     "handoff = \"pass-fd\"; backend = \"unix:/run/a.sock\"; } );\n",
     "2: listeners.[1].backend: ",
     "\"unix:/run/a.sock\" is already the socket of listeners.[0] \"a\": each pass-fd listener "
     "needs a socket of its own"},
    {LSTX("\"192.0.2.1\"", "80", "\"unix:run/web.sock\"", "handoff = \"pass-fd\";"),
     "1: listeners.[0].backend: ", "\"unix:run/web.sock\" is not valid: handoff \"pass-fd\""},
    {LSTX("\"192.0.2.1\"", "80", "\"127.0.0.1\""), "1: listeners.[0].backend: ",
     "\"127.0.0.1\" is not valid: handoff \"proxy\" needs \"IPv4:port\" or \"[IPv6]:port\""},
    {LSTX("\"192.0.2.1\"", "80", "\"127.0.0.1:0\""), "1: listeners.[0].backend: ", "is not valid"},
    {LSTX("\"192.0.2.1\"", "80", "\"127.0.0.1:65536\""),
     "1: listeners.[0].backend: ", "is not valid"},
    {LSTX("\"192.0.2.1\"", "80", "\"127.0.0.1:80x\""),
     "1: listeners.[0].backend: ", "is not valid"},
    {LSTX("\"192.0.2.1\"", "80", "\"localhost:80\""), "1: listeners.[0].backend: ", "is not valid"},
    {LSTX("\"192.0.2.1\"", "80", "\"0.0.0.0:80\""), "1: listeners.[0].backend: ", "is not valid"},
    {LSTX("\"192.0.2.1\"", "80", "\"2001:db8::1:80\""),
     "1: listeners.[0].backend: ", "is not valid"},
    {LSTX("\"192.0.2.1\"", "80", "\"[2001:db8::1]80\""),
     "1: listeners.[0].backend: ", "is not valid"},
    {LSTX("\"192.0.2.1\"", "80", "\"[192.0.2.9]:80\""),
     "1: listeners.[0].backend: ", "is not valid"},
    {LSTX("\"192.0.2.1\"", "80", "\"[::]:80\""), "1: listeners.[0].backend: ", "is not valid"},
    {LSTX("\"192.0.2.1\"", "80", "8080"),
     "1: listeners.[0].backend: ", "must be a string: handoff \"proxy\" needs"},

    /* proxy_protocol */
    {LST("proxy_protocol = 3;"),
     "1: listeners.[0].proxy_protocol: ", "3 is out of range: must be an integer 0..2"},
    {LST("proxy_protocol = true;"), "1: listeners.[0].proxy_protocol: ", "must be an integer 0..2"},
    {LSTX("\"192.0.2.1\"", "80", "\"unix:/run/web.sock\"",
          "handoff = \"pass-fd\"; proxy_protocol = 1;"),
     "1: listeners.[0].proxy_protocol: ", "is only allowed with handoff \"proxy\""},

    /* policy references */
    {LST("policy = \"strict\";"),
     "1: listeners.[0].policy: ", "no policy is named \"strict\": must be one of \"default\""},
    {LST("policy = 1;"), "1: listeners.[0].policy: ", "must be a string"},
    {LST() "policies = {\n strict = { };\n lax = { }; };\n", "1: listeners.[0].policy: ",
     "not given and there is no policy \"default\" to fall back to: must be one of \"strict\", "
     "\"lax\""},

    /* policies */
    {LST() "policies = ( );\n", "2: policies: ", "must be a group"},
    {LST() "policies = { };\n", "2: policies: ", "is empty"},
    {LST() "policies = {\n default = 5; };\n", "3: policies.default: ", "must be a group"},
    {LST() "policies = {\n a*b = { }; };\n",
     "3: policies.a*b: ", "policy name must be 1..31 characters"},
    {LST() "policies = {\n abcdefghijklmnopqrstuvwxyz123456 = { }; };\n",
     "3: policies.abcdefghijklmnopqrstuvwxyz123456: ", "policy name must be"},
    {POL("moed = \"cookie\";"), "2: policies.default.moed: ",
     "unknown key (allowed here: mode, mss, mss6, wscale, sack, timestamps, idle_timeout, "
     "half_open_max, half_open_per_source, synack_retries, syn_rate_trigger, "
     "half_open_fill_trigger, auto_calm_time, accept_backlog, accept_overflow, accept_timeout, "
     "max_connections, max_backend_connects, per_source, allow, deny, keepalive)"},
    {POL("mode = \"adaptive\";"), "2: policies.default.mode: ",
     "\"adaptive\" is not allowed: must be one of \"cookie\", \"stateful\", \"auto\""},
    {POL("mode = 1;"),
     "2: policies.default.mode: ", "must be a string, one of \"cookie\", \"stateful\", \"auto\""},
    {POL("mss = 1460;"),
     "2: policies.default.mss: ", "must be a list of 1..4 ascending distinct integers 88..65535"},
    {POL("mss = [ ];"), "2: policies.default.mss: ", "has 0 entries: must be a list of 1..4"},
    {POL("mss = [ 536, 1300, 1400, 1440, 1460 ];"), "2: policies.default.mss: ", "has 5 entries"},
    {POL("mss = [ 87 ];"), "2: policies.default.mss: ",
     "entry [0] = 87 is out of range: must be a list of 1..4 ascending distinct integers "
     "88..65535"},
    {POL("mss = [ 536, 65536 ];"), "2: policies.default.mss: ", "entry [1] = 65536 is out"},
    {POL("mss = [ 536, 4294967832 ];"), "2: policies.default.mss: ", "entry [1] is out of range"},
    {POL("mss = [ 536, 536 ];"),
     "2: policies.default.mss: ", "entry [1] = 536 is not above entry [0] = 536"},
    {POL("mss = [ 1460, 536 ];"),
     "2: policies.default.mss: ", "entry [1] = 536 is not above entry [0] = 1460"},
    {POL("mss = ( 536, \"1460\" );"), "2: policies.default.mss: ", "entry [1] is not an integer"},
    {POL("mss = [ 536.0 ];"), "2: policies.default.mss: ", "entry [0] is not an integer"},
    {POL("mss6 = [ 1219 ];"), "2: policies.default.mss6: ",
     "entry [0] = 1219 is out of range: must be a list of 1..4 ascending distinct integers "
     "1220..65535"},
    {POL("mss6 = [ 1280, 1280 ];"), "2: policies.default.mss6: ", "is not above"},
    {POL("wscale = 15;"),
     "2: policies.default.wscale: ", "15 is out of range: must be an integer 0..14"},
    {POL("wscale = -1;"), "2: policies.default.wscale: ", "0..14"},
    {POL("sack = 1;"), "2: policies.default.sack: ", "must be a boolean: true or false"},
    {POL("timestamps = \"yes\";"), "2: policies.default.timestamps: ", "must be a boolean"},
    {POL("idle_timeout = 0;"),
     "2: policies.default.idle_timeout: ", "0 is out of range: must be an integer 1..86400"},
    {POL("idle_timeout = 86401;"), "2: policies.default.idle_timeout: ", "1..86400"},

    /* half-open table and modes */
    {POL("half_open_max = 0;"),
     "2: policies.default.half_open_max: ", "0 is out of range: must be an integer 1..268435456"},
    {POL("half_open_max = 268435457;"), "2: policies.default.half_open_max: ", "1..268435456"},
    {POL("half_open_max = \"1k\";"), "2: policies.default.half_open_max: ", "must be an integer"},
    {POL("half_open_per_source = -1;"),
     "2: policies.default.half_open_per_source: ", "-1 is out of range: must be an integer 0.."},
    {POL("synack_retries = 16;"),
     "2: policies.default.synack_retries: ", "16 is out of range: must be an integer 0..15"},
    {POL("syn_rate_trigger = 100000001;"),
     "2: policies.default.syn_rate_trigger: ", "must be an integer 0..100000000"},
    {POL("syn_rate_trigger = 1.5;"),
     "2: policies.default.syn_rate_trigger: ", "must be an integer"},
    {POL("half_open_fill_trigger = 0;"), "2: policies.default.half_open_fill_trigger: ",
     "0 is out of range: must be an integer 1..100"},
    {POL("half_open_fill_trigger = 101;"),
     "2: policies.default.half_open_fill_trigger: ", "1..100"},
    {POL("auto_calm_time = 0;"), "2: policies.default.auto_calm_time: ", "1..3600"},

    /* accept queue and caps */
    {POL("accept_backlog = 0;"),
     "2: policies.default.accept_backlog: ", "0 is out of range: must be an integer 1..1000000"},
    {POL("accept_overflow = \"queue\";"), "2: policies.default.accept_overflow: ",
     "\"queue\" is not allowed: must be one of \"drop\", \"reset\""},
    {POL("accept_overflow = false;"),
     "2: policies.default.accept_overflow: ", "must be a string, one of \"drop\", \"reset\""},
    {POL("accept_timeout = 0;"), "2: policies.default.accept_timeout: ", "1..3600"},
    {POL("max_connections = 10000001;"), "2: policies.default.max_connections: ", "0..10000000"},
    {POL("max_backend_connects = 0;"), "2: policies.default.max_backend_connects: ", "1..65535"},

    /* per source */
    {POL("per_source = 5;"), "2: policies.default.per_source: ", "must be a group { syn_rate = "},
    {POL("per_source = { rate = 5; };"), "2: policies.default.per_source.rate: ",
     "unknown key (allowed here: syn_rate, burst, prefix_v4, prefix_v6, max_connections, "
     "table_size)"},
    {POL("per_source = { syn_rate = 1000001; };"),
     "2: policies.default.per_source.syn_rate: ", "must be an integer 0..1000000"},
    {POL("per_source = { syn_rate = 5; burst = 0; };"),
     "2: policies.default.per_source.burst: ", "0 is out of range: must be an integer 1..10000000"},
    {POL("per_source = { burst = 10; };"),
     "2: policies.default.per_source.burst: ", "is set but syn_rate is 0 (no limit)"},
    {POL("per_source = { prefix_v4 = 33; };"),
     "2: policies.default.per_source.prefix_v4: ", "must be an integer 24..32"},
    {POL("per_source = { prefix_v6 = 47; };"),
     "2: policies.default.per_source.prefix_v6: ", "47 is out of range: must be an integer 48..64"},
    {POL("per_source = { prefix_v6 = 128; };"),
     "2: policies.default.per_source.prefix_v6: ", "48..64"},
    {POL("per_source = { max_connections = -1; };"),
     "2: policies.default.per_source.max_connections: ", "0..1000000"},
    {POL("per_source = { table_size = 1000; };"),
     "2: policies.default.per_source.table_size: ", "must be an integer 1024..16777216"},

    /* access lists */
    {POL("deny = \"198.51.100.0/24\";"),
     "2: policies.default.deny: ", "must be a list of IPv4 or IPv6 prefixes or addresses"},
    {POL("allow = [ 5 ];"), "2: policies.default.allow: ", "entry [0] is not a string"},
    {POL("allow = ( \"192.0.2.0/24\", 7 );"),
     "2: policies.default.allow: ", "entry [1] is not a string"},
    {POL("deny = [ \"198.51.100.0/33\" ];"), "2: policies.default.deny: ",
     "entry [0] \"198.51.100.0/33\" is not valid: prefix length 33 is out of range"},
    {POL("deny = [ \"example.com\" ];"), "2: policies.default.deny: ",
     "entry [0] \"example.com\" is not valid: not an IPv4 or IPv6 address"},
    {POL("deny = [ \"2001:db8::/\" ];"), "2: policies.default.deny: ", "missing prefix length"},
    {POL("allow = [ \"192.0.2.0/24\" ]; deny = [ \"192.0.2.0/24\" ];"),
     "2: policies.default.deny: ", "entry [0] 192.0.2.0/24 is in allow too"},

    /* keepalive */
    {POL("keepalive = true;"), "2: policies.default.keepalive: ", "must be a group { idle = 60;"},
    {POL("keepalive = { idle = 32768; };"),
     "2: policies.default.keepalive.idle: ", "must be an integer 0..32767"},
    {POL("keepalive = { interval = 0; };"), "2: policies.default.keepalive.interval: ", "1..32767"},
    {POL("keepalive = { count = 128; };"), "2: policies.default.keepalive.count: ", "1..127"},
    {POL("keepalive = { probes = 3; };"),
     "2: policies.default.keepalive.probes: ", "unknown key (allowed here: idle, interval, count)"},
};

static void test_bad_texts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_texts) / sizeof(bad_texts[0]); i++) {
		char prefix[256];

		snprintf(prefix, sizeof(prefix), "t.conf:%s", bad_texts[i].prefix);
		expect_error(bad_texts[i].text, "t.conf", prefix, bad_texts[i].needle);
	}
}

/* Both Unix socket paths may use sun_path up to its last byte, the NUL. */
static void test_path_limits(void **state)
{
	char path[CONF_PATH_MAX + 1], text[512], err[512];
	struct conf *c;

	(void)state;
	for (size_t len = CONF_PATH_MAX - 1; len <= CONF_PATH_MAX; len++) {
		bool fits = len < CONF_PATH_MAX;

		memset(path, 'a', len);
		path[0] = '/';
		path[len] = '\0';
		snprintf(text, sizeof(text), "daemon: { control_socket = \"%s\"; };\n" LST(), path);
		c = NULL;
		assert_int_equal(conf_parse(text, "t.conf", &c, err, sizeof(err)), fits ? 0 : -1);
		if (fits)
			assert_string_equal(c->daemon.control_socket, path);
		else
			assert_non_null(strstr(err, "t.conf:1: daemon.control_socket: \"/aaa"));
		conf_free(c);

		snprintf(text, sizeof(text),
		         LSTX("\"192.0.2.1\"", "80", "\"unix:%s\"", "handoff = \"pass-fd\";"),
		         path);
		c = NULL;
		assert_int_equal(conf_parse(text, "t.conf", &c, err, sizeof(err)), fits ? 0 : -1);
		if (fits) {
			const struct sockaddr_un *un =
			    (const struct sockaddr_un *)&c->listeners[0].backend;

			assert_string_equal(un->sun_path, path);
			assert_int_equal(c->listeners[0].backend_len, sizeof(*un));
		} else {
			assert_non_null(
			    strstr(err, "t.conf:1: listeners.[0].backend: \"unix:/aaa"));
			assert_non_null(strstr(err, "is not valid: handoff \"pass-fd\" needs"));
		}
		conf_free(c);
	}
}

/* metrics_listen: loopback, wildcard and IPv6 addresses, and both ways to disable it. */
static void test_metrics_listen(void **state)
{
	static const struct {
		const char *value;
		int family; /* 0: disabled */
		const char *addr;
		uint16_t port;
	} cases[] = {
	    {"127.0.0.1:9477", AF_INET, "127.0.0.1", 9477},
	    {"0.0.0.0:9100", AF_INET, "0.0.0.0", 9100},
	    {"192.0.2.1:65535", AF_INET, "192.0.2.1", 65535},
	    {"[::1]:9477", AF_INET6, "::1", 9477},
	    {"[::]:1", AF_INET6, "::", 1},
	    {"none", 0, NULL, 0},
	    {"", 0, NULL, 0},
	};
	char text[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conf *c;

		snprintf(text, sizeof(text), DMN("metrics_listen = \"%s\";"), cases[i].value);
		c = parse_ok(text, cases[i].value);
		if (cases[i].family)
			assert_inet_addr(&c->daemon.metrics, c->daemon.metrics_len, cases[i].family,
			                 cases[i].addr, cases[i].port);
		else
			assert_int_equal(c->daemon.metrics_len, 0);
		conf_free(c);
	}
}

/* cookie_secret_file: "" (the default) or an absolute path of up to 255 bytes. */
static void test_secret_file_path(void **state)
{
	char path[CONF_FILE_MAX + 1], text[1024], err[512];
	struct conf *c;

	(void)state;
	for (size_t len = CONF_FILE_MAX - 1; len <= CONF_FILE_MAX; len++) {
		bool fits = len < CONF_FILE_MAX;

		memset(path, 'k', len);
		path[0] = '/';
		path[len] = '\0';
		snprintf(text, sizeof(text), DMN("cookie_secret_file = \"%s\";"), path);
		c = NULL;
		assert_int_equal(conf_parse(text, "t.conf", &c, err, sizeof(err)), fits ? 0 : -1);
		if (fits)
			assert_string_equal(c->daemon.cookie_secret_file, path);
		else
			assert_non_null(strstr(err, "t.conf:1: daemon.cookie_secret_file: \"/kkk"));
		conf_free(c);
	}
	c = parse_ok(DMN("cookie_secret_file = \"\";"), "empty");
	assert_string_equal(c->daemon.cookie_secret_file, "");
	conf_free(c);
}

/* Messages are one line and bounded, whatever the input holds. */
static void test_hostile_strings(void **state)
{
	struct conf *c = NULL;
	char err[512], text[1024];

	(void)state;
	snprintf(
	    text, sizeof(text), LSTX("\"%s\"", "80", "\"127.0.0.1:1\""),
	    "\\n192.0.2.1\\x01"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	assert_int_equal(conf_parse(text, "t.conf", &c, err, sizeof(err)), -1);
	assert_null(strchr(err, '\n'));
	assert_null(strchr(err, '\x01'));
	assert_non_null(strstr(err, "\"?192.0.2.1?xxx"));
	assert_non_null(strstr(err, "x...\" is not valid"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal_defaults),
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_queue_placement),
	    cmocka_unit_test(test_datapath_xdp),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_passfd),
	    cmocka_unit_test(test_local),
	    cmocka_unit_test(test_policies),
	    cmocka_unit_test(test_wildcard_match),
	    cmocka_unit_test(test_example),
	    cmocka_unit_test(test_example_uncommented),
	    cmocka_unit_test(test_lexical_lookalikes),
	    cmocka_unit_test(test_small_error_buffer),
	    cmocka_unit_test(test_bad_files),
	    cmocka_unit_test(test_bad_texts),
	    cmocka_unit_test(test_path_limits),
	    cmocka_unit_test(test_hostile_strings),
	    cmocka_unit_test(test_metrics_listen),
	    cmocka_unit_test(test_secret_file_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
