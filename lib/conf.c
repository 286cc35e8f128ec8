/*
 * Configuration parser and validator. libconfig turns the text into a tree;
 * the parser walks the tree once, checks every key against the table of keys
 * its group allows, applies defaults and fills struct conf. Nothing is kept
 * from libconfig: the result is plain memory owned by the caller.
 *
 * This file: the entry point and the daemon section. conf_prescan.c fixes what
 * libconfig gets wrong (includes, truncated integers), conf_util.c reports
 * errors and reads typed values, conf_policy.c and conf_listener.c parse the
 * other two sections.
 *
 * One libconfig 1.5 defect cannot be fixed from here: it leaks the buffer of
 * a string token that is the lookahead of a syntax error ("a = 1 "x";"),
 * about 64 bytes per rejected file.
 *
 * Error messages: "FILE:LINE: KEY: what is wrong and what is allowed", KEY
 * being the full path of the setting ("listeners.[0].port"). A missing key is
 * reported at the line of the group that should contain it.
 */
#include "conf_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONTROL_SOCKET "/run/synguard/control.sock"
#define DEFAULT_USER           "synguard"
#define DEFAULT_METRICS        "127.0.0.1:9477"

static const char *const firewall_names[] = {
    [CONF_FW_IPTABLES] = "iptables",
    [CONF_FW_NONE] = "none",
    NULL,
};

static const char *const queue_full_names[] = {
    [CONF_QUEUE_FULL_DROP] = "drop",
    [CONF_QUEUE_FULL_ACCEPT] = "accept",
    NULL,
};

static const char *const datapath_names[] = {
    [CONF_DATAPATH_NFQUEUE] = "nfqueue",
    [CONF_DATAPATH_XDP] = "xdp",
    NULL,
};

static const char *const root_keys[] = {"daemon", "listeners", "policies", NULL};
static const char *const daemon_keys[] = {
    "queue",           "firewall",       "fail_open",      "control_socket",
    "cookie_rotation", "user",           "metrics_listen", "cookie_secret_file",
    "queue_cpus",      "queue_priority", "synack_layer2",  "queue_full",
    "queue_nice",      "datapath",       "devices",        NULL,
};

static int parse_queue(struct ctx *x, const config_setting_t *s, struct conf_daemon *d)
{
	const char *rule = "\"N\" or \"N:M\", NFQUEUE numbers 0..65535 with N <= M and at most "
	                   "64 queues";
	const char *v = "", *p;
	char q[QUOTE_MAX];
	uint16_t first, last;

	if (conf_want_string(x, s, rule, &v) < 0)
		return -1;
	p = v;
	if (!conf_parse_u16(&p, &first))
		goto bad;
	last = first;
	if (*p == ':') {
		p++;
		if (!conf_parse_u16(&p, &last))
			goto bad;
	}
	if (*p)
		goto bad;
	if (first > last)
		return conf_fail(x, s, "\"%s\": the first queue is above the last: must be %s",
		                 conf_quote(v, q, sizeof(q)), rule);
	if (last - first + 1 > CONF_QUEUES_MAX)
		return conf_fail(x, s, "\"%s\" is %d queues: must be %s",
		                 conf_quote(v, q, sizeof(q)), last - first + 1, rule);
	d->queue_first = first;
	d->queue_last = last;
	return 0;
bad:
	return conf_fail(x, s, "\"%s\" is not valid: must be %s", conf_quote(v, q, sizeof(q)),
	                 rule);
}

#define DEVICES_RULE                                                                               \
	"a list of at most 64 distinct device names (1..15 bytes, not \".\" or \"..\", no "        \
	"/, : or white space), e.g. [\"eth0\", \"eth1\"]; [] or no setting: every usable device"

/* The kernel's own rule for a device name (dev_valid_name). */
static bool valid_ifname(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n >= CONF_IFNAME_MAX || strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
		return false;
	for (const char *p = v; *p; p++)
		if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

static int parse_devices(struct ctx *x, const config_setting_t *s, struct conf_daemon *d)
{
	int n;

	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return conf_fail(x, s, "must be " DEVICES_RULE);
	n = config_setting_length(s);
	if (n > CONF_DEVICES_MAX)
		return conf_fail(x, s, "has %d entries: must be " DEVICES_RULE, n);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		char q[QUOTE_MAX];

		if (!v)
			return conf_fail(x, s, "entry [%d] is not a string: must be " DEVICES_RULE,
			                 i);
		if (!valid_ifname(v))
			return conf_fail(
			    x, s, "entry [%d] \"%s\" is not a device name: must be " DEVICES_RULE,
			    i, conf_quote(v, q, sizeof(q)));
		for (int k = 0; k < i; k++)
			if (strcmp(d->devices[k], v) == 0)
				return conf_fail(
				    x, s,
				    "entry [%d] \"%s\" repeats entry [%d]: must be " DEVICES_RULE,
				    i, conf_quote(v, q, sizeof(q)), k);
		memcpy(d->devices[i], v, strlen(v) + 1);
	}
	d->n_devices = (uint8_t)n;
	return 0;
}

#define USER_RULE                                                                                  \
	"a user name of 1..31 characters of A-Z a-z 0-9 _ . - not starting with -, e.g. "          \
	"\"synguard\""

/* The name is looked up by the daemon; here only its shape is checked. */
static int parse_user(struct ctx *x, const config_setting_t *s, struct conf_daemon *d)
{
	const char *v = "";
	char q[QUOTE_MAX];

	if (conf_want_string(x, s, USER_RULE, &v) < 0)
		return -1;
	if (!conf_valid_name(v) || v[0] == '-' || strlen(v) >= sizeof(d->user))
		return conf_fail(x, s, "\"%s\" is not valid: must be " USER_RULE,
		                 conf_quote(v, q, sizeof(q)));
	memcpy(d->user, v, strlen(v) + 1);
	return 0;
}

#define METRICS_RULE                                                                               \
	"\"IPv4:port\" or \"[IPv6]:port\" to serve HTTP GET /metrics there, or \"none\" (or "      \
	"\"\") "                                                                                   \
	"to disable, e.g. \"127.0.0.1:9477\""

static int parse_metrics(struct ctx *x, const config_setting_t *s, struct conf_daemon *d)
{
	const char *v = "";
	char q[QUOTE_MAX];

	if (conf_want_string(x, s, METRICS_RULE, &v) < 0)
		return -1;
	if (v[0] == '\0' || strcmp(v, "none") == 0) {
		memset(&d->metrics, 0, sizeof(d->metrics));
		d->metrics_len = 0;
		return 0;
	}
	if (!conf_parse_inet_addr_port(v, true, &d->metrics, &d->metrics_len))
		return conf_fail(x, s, "\"%s\" is not valid: must be " METRICS_RULE,
		                 conf_quote(v, q, sizeof(q)));
	return 0;
}

/* A list of 0..64 CPU numbers, repeats allowed (two queues may share a CPU). */
static int parse_queue_cpus(struct ctx *x, const config_setting_t *s, struct conf_daemon *d)
{
#define CPUS_RULE "a list of at most 64 CPU numbers 0..1023, e.g. [0, 1]"
	int n;

	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return conf_fail(x, s, "must be " CPUS_RULE);
	n = config_setting_length(s);
	if (n > CONF_QUEUE_CPUS_MAX)
		return conf_fail(x, s, "has %d entries: must be " CPUS_RULE, n);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		int t = config_setting_type(e);
		long long m;

		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			return conf_fail(x, s, "entry [%d] is not an integer: must be " CPUS_RULE,
			                 i);
		m = config_setting_get_int64(e);
		if (config_setting_get_hook(e) == &x->truncated || m < 0 || m > CONF_CPU_MAX)
			return conf_fail(x, s, "entry [%d] is out of range: must be " CPUS_RULE, i);
		d->queue_cpus[i] = (uint16_t)m;
	}
#undef CPUS_RULE
	d->n_queue_cpus = (uint8_t)n;
	return 0;
}

static int parse_daemon(struct ctx *x, const config_setting_t *g, struct conf_daemon *d)
{
	const config_setting_t *s;
	long long n;
	int e;

	d->queue_first = 0;
	d->queue_last = 0;
	d->firewall = CONF_FW_IPTABLES;
	d->fail_open = true;
	d->queue_full = CONF_QUEUE_FULL_DROP;
	d->synack_layer2 = true;
	d->datapath = CONF_DATAPATH_NFQUEUE;
	d->n_devices = 0;
	snprintf(d->control_socket, sizeof(d->control_socket), "%s", DEFAULT_CONTROL_SOCKET);
	d->cookie_rotation = 30;
	snprintf(d->user, sizeof(d->user), "%s", DEFAULT_USER);
	if (!conf_parse_inet_addr_port(DEFAULT_METRICS, false, &d->metrics, &d->metrics_len))
		return conf_fail_line(x, 1, "internal error: bad default metrics address");
	d->cookie_secret_file[0] = '\0';
	if (!g)
		return 0;
	if (conf_want_group(x, g, "{ queue = \"0\"; firewall = \"iptables\"; ... }") < 0 ||
	    conf_check_keys(x, g, daemon_keys) < 0)
		return -1;

	if ((s = config_setting_get_member(g, "queue")) && parse_queue(x, s, d) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "firewall"))) {
		if (conf_want_enum(x, s, firewall_names, &e) < 0)
			return -1;
		d->firewall = (enum conf_firewall)e;
	}
	if ((s = config_setting_get_member(g, "synack_layer2")) &&
	    conf_want_bool(x, s, &d->synack_layer2) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "datapath"))) {
		if (conf_want_enum(x, s, datapath_names, &e) < 0)
			return -1;
		d->datapath = (enum conf_datapath)e;
	}
	if ((s = config_setting_get_member(g, "devices")) && parse_devices(x, s, d) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "fail_open")) &&
	    conf_want_bool(x, s, &d->fail_open) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "queue_full"))) {
		if (conf_want_enum(x, s, queue_full_names, &e) < 0)
			return -1;
		d->queue_full = (enum conf_queue_full)e;
	}
	if ((s = config_setting_get_member(g, "control_socket"))) {
		const char *rule = "an absolute path of at most 107 bytes";
		const char *v = "";
		char q[QUOTE_MAX];

		if (conf_want_string(x, s, rule, &v) < 0)
			return -1;
		if (v[0] != '/' || strlen(v) >= sizeof(d->control_socket))
			return conf_fail(x, s, "\"%s\" is not valid: must be %s",
			                 conf_quote(v, q, sizeof(q)), rule);
		memcpy(d->control_socket, v, strlen(v) + 1);
	}
	if ((s = config_setting_get_member(g, "cookie_rotation"))) {
		if (conf_want_int(x, s, 1, 3600, &n) < 0)
			return -1;
		d->cookie_rotation = (uint32_t)n;
	}
	if ((s = config_setting_get_member(g, "user")) && parse_user(x, s, d) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "metrics_listen")) && parse_metrics(x, s, d) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "queue_cpus")) && parse_queue_cpus(x, s, d) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "queue_priority"))) {
		if (conf_want_int(x, s, 0, 99, &n) < 0)
			return -1;
		d->queue_priority = (uint8_t)n;
	}
	if ((s = config_setting_get_member(g, "queue_nice"))) {
		if (conf_want_int(x, s, -20, 19, &n) < 0)
			return -1;
		d->queue_nice = (int8_t)n;
	}
	if ((s = config_setting_get_member(g, "cookie_secret_file"))) {
		const char *rule = "an absolute path of at most 255 bytes, or \"\" to keep random "
		                   "keys in memory only";
		const char *v = "";
		char q[QUOTE_MAX];

		if (conf_want_string(x, s, rule, &v) < 0)
			return -1;
		if ((v[0] && v[0] != '/') || strlen(v) >= sizeof(d->cookie_secret_file))
			return conf_fail(x, s, "\"%s\" is not valid: must be %s",
			                 conf_quote(v, q, sizeof(q)), rule);
		memcpy(d->cookie_secret_file, v, strlen(v) + 1);
	}
	return 0;
}

int conf_parse(const char *text, const char *filename, struct conf **out, char *err, size_t errlen)
{
	struct ctx x = {.file = filename ? filename : "(config)", .err = err, .errlen = errlen};
	config_setting_t *root;
	struct conf *c = NULL;
	config_t cfg;
	int rc = -1;

	if (err && errlen)
		err[0] = '\0';
	if (!out)
		return -1;
	*out = NULL;
	if (!text)
		return conf_fail_line(&x, 1, "no configuration text");

	config_init(&cfg);
	if (conf_prescan(&x, text) < 0)
		goto done;
	if (!config_read_string(&cfg, text)) {
		const char *why = config_error_text(&cfg);

		if (!why || strcmp(why, "syntax error") == 0)
			conf_fail_line(&x, (unsigned)config_error_line(&cfg), "syntax error");
		else
			conf_fail_line(&x, (unsigned)config_error_line(&cfg), "syntax error: %s",
			               why);
		goto done;
	}
	root = config_root_setting(&cfg);
	if (conf_check_int_literals(&x, root) < 0)
		goto done;

	c = calloc(1, sizeof(*c));
	if (!c) {
		conf_fail_line(&x, 1, "out of memory");
		goto done;
	}
	if (conf_check_keys(&x, root, root_keys) < 0 ||
	    parse_daemon(&x, config_setting_get_member(root, "daemon"), &c->daemon) < 0 ||
	    conf_parse_policies(&x, config_setting_get_member(root, "policies"), c) < 0 ||
	    conf_parse_listeners(&x, root, config_setting_get_member(root, "listeners"), c) < 0)
		goto done;
	*out = c;
	c = NULL;
	rc = 0;
done:
	conf_free(c);
	config_destroy(&cfg);
	free(x.lits);
	return rc;
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	free(c->listeners);
	for (size_t i = 0; i < c->n_policies; i++) {
		free(c->policies[i].allow);
		free(c->policies[i].deny);
	}
	free(c->policies);
	free(c);
}
