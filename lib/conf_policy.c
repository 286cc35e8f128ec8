/* The policies section: named groups of protection settings, with defaults. */
#include "conf_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cookie.h"

static const char *const mode_names[] = {
    [CONF_MODE_COOKIE] = "cookie",
    [CONF_MODE_STATEFUL] = "stateful",
    [CONF_MODE_AUTO] = "auto",
    NULL,
};
static const char *const overflow_names[] = {
    [CONF_OVERFLOW_DROP] = "drop",
    [CONF_OVERFLOW_RESET] = "reset",
    NULL,
};

static const char *const policy_keys[] = {
    "mode",
    "mss",
    "mss6",
    "wscale",
    "sack",
    "timestamps",
    "idle_timeout",
    "half_open_max",
    "half_open_per_source",
    "synack_retries",
    "syn_rate_trigger",
    "half_open_fill_trigger",
    "auto_calm_time",
    "accept_backlog",
    "accept_overflow",
    "accept_timeout",
    "max_connections",
    "max_backend_connects",
    "per_source",
    "allow",
    "deny",
    "keepalive",
    NULL,
};
static const char *const per_source_keys[] = {
    "syn_rate", "burst", "prefix_v4", "prefix_v6", "max_connections", "table_size", NULL,
};
static const char *const keepalive_keys[] = {"idle", "interval", "count", NULL};

static const uint16_t default_mss[COOKIE_MSS_SLOTS] = COOKIE_MSS4_DEFAULT;
static const uint16_t default_mss6[COOKIE_MSS_SLOTS] = COOKIE_MSS6_DEFAULT;

/* 1..4 ascending distinct values lo..65535, padded at the front to 4. */
static int parse_mss(struct ctx *x, const config_setting_t *s, unsigned lo, const char *example,
                     uint16_t out[4])
{
	uint16_t v[4];
	int n;

#define MSS_RULE "a list of 1..4 ascending distinct integers %u..65535, e.g. %s"
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return conf_fail(x, s, "must be " MSS_RULE, lo, example);
	n = config_setting_length(s);
	if (n < 1 || n > 4)
		return conf_fail(x, s, "has %d entries: must be " MSS_RULE, n, lo, example);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		int t = config_setting_type(e);
		long long m;

		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			return conf_fail(x, s, "entry [%d] is not an integer: must be " MSS_RULE, i,
			                 lo, example);
		if (config_setting_get_hook(e) == &x->truncated)
			return conf_fail(x, s, "entry [%d] is out of range: must be " MSS_RULE, i,
			                 lo, example);
		m = config_setting_get_int64(e);
		if (m < lo || m > 65535)
			return conf_fail(x, s,
			                 "entry [%d] = %lld is out of range: must be " MSS_RULE, i,
			                 m, lo, example);
		if (i && m <= v[i - 1])
			return conf_fail(
			    x, s,
			    "entry [%d] = %lld is not above entry [%d] = %u: must be " MSS_RULE, i,
			    m, i - 1, v[i - 1], lo, example);
		v[i] = (uint16_t)m;
	}
#undef MSS_RULE
	for (int i = 0; i < 4; i++)
		out[i] = v[i < 4 - n ? 0 : i - (4 - n)];
	return 0;
}

static void policy_defaults(struct conf_policy *p, const char *name)
{
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->mode = CONF_MODE_COOKIE;
	memcpy(p->mss, default_mss, sizeof(p->mss));
	memcpy(p->mss6, default_mss6, sizeof(p->mss6));
	p->wscale = 7;
	p->sack = true;
	p->timestamps = true;
	p->idle_timeout = 300;
	p->half_open_max = 65536;
	p->half_open_per_source = 0;
	p->synack_retries = 5;
	p->syn_rate_trigger = 20000;
	p->half_open_fill_trigger = 75;
	p->auto_calm_time = 10;
	p->accept_backlog = 1024;
	p->accept_overflow = CONF_OVERFLOW_DROP;
	p->accept_timeout = 10;
	p->max_connections = 0;
	p->max_backend_connects = 256;
	p->per_source.syn_rate = 0;
	p->per_source.burst = 1; /* with a syn_rate: one second's worth unless given */
	p->per_source.prefix_v4 = 32;
	p->per_source.prefix_v6 = 64;
	p->per_source.max_connections = 0;
	p->per_source.table_size = 65536;
	p->allow = p->deny = NULL;
	p->n_allow = p->n_deny = 0;
	p->keepalive.idle = 0;
	p->keepalive.interval = 75;
	p->keepalive.count = 9;
}

/* An integer key of group g into *out, when present. */
static int opt_u32(struct ctx *x, const config_setting_t *g, const char *key, long long lo,
                   long long hi, uint32_t *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	long long n;

	if (!s)
		return 0;
	if (conf_want_int(x, s, lo, hi, &n) < 0)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

static int opt_u8(struct ctx *x, const config_setting_t *g, const char *key, long long lo,
                  long long hi, uint8_t *out)
{
	uint32_t v = *out;

	if (opt_u32(x, g, key, lo, hi, &v) < 0)
		return -1;
	*out = (uint8_t)v;
	return 0;
}

static int parse_per_source(struct ctx *x, const config_setting_t *g, struct conf_per_source *ps)
{
	bool burst_given = config_setting_get_member(g, "burst") != NULL;

	if (conf_want_group(
	        x, g, "{ syn_rate = 20; burst = 40; prefix_v4 = 32; prefix_v6 = 64; ... }") < 0 ||
	    conf_check_keys(x, g, per_source_keys) < 0 ||
	    opt_u32(x, g, "syn_rate", 0, 1000000, &ps->syn_rate) < 0 ||
	    opt_u32(x, g, "burst", 1, 10000000, &ps->burst) < 0 ||
	    opt_u8(x, g, "prefix_v4", 24, 32, &ps->prefix_v4) < 0 ||
	    opt_u8(x, g, "prefix_v6", 48, 64, &ps->prefix_v6) < 0 ||
	    opt_u32(x, g, "max_connections", 0, 1000000, &ps->max_connections) < 0 ||
	    opt_u32(x, g, "table_size", 1024, 16777216, &ps->table_size) < 0)
		return -1;
	if (burst_given && ps->syn_rate == 0)
		return conf_fail(
		    x, config_setting_get_member(g, "burst"),
		    "is set but syn_rate is 0 (no limit): set syn_rate too, or leave burst "
		    "out");
	if (!burst_given && ps->syn_rate)
		ps->burst = ps->syn_rate;
	return 0;
}

static int parse_keepalive(struct ctx *x, const config_setting_t *g, struct conf_keepalive *k)
{
	if (conf_want_group(x, g, "{ idle = 60; interval = 10; count = 6; }") < 0 ||
	    conf_check_keys(x, g, keepalive_keys) < 0 ||
	    opt_u32(x, g, "idle", 0, 32767, &k->idle) < 0 ||
	    opt_u32(x, g, "interval", 1, 32767, &k->interval) < 0 ||
	    opt_u32(x, g, "count", 1, 127, &k->count) < 0)
		return -1;
	return 0;
}

#define CIDR_LIST_RULE                                                                             \
	"a list of IPv4 or IPv6 prefixes or addresses, e.g. [ \"198.51.100.0/24\", "               \
	"\"2001:db8:bad::/48\", \"203.0.113.9\" ]"

static int parse_cidr_list(struct ctx *x, const config_setting_t *s, struct cidr **out, size_t *n)
{
	int len;

	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return conf_fail(x, s, "must be " CIDR_LIST_RULE);
	len = config_setting_length(s);
	if (len > CONF_CIDRS_MAX)
		return conf_fail(x, s, "has %d entries: at most %d are allowed", len,
		                 CONF_CIDRS_MAX);
	if (len == 0)
		return 0;
	*out = calloc((size_t)len, sizeof(**out));
	if (!*out)
		return conf_fail(x, s, "out of memory");
	for (int i = 0; i < len; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		char why[128], q[QUOTE_MAX];
		const char *v;

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return conf_fail(x, s,
			                 "entry [%d] is not a string: must be " CIDR_LIST_RULE, i);
		v = config_setting_get_string(e);
		if (cidr_parse(v, &(*out)[i], why, sizeof(why)) < 0)
			return conf_fail(x, s, "entry [%d] \"%s\" is not valid: %s", i,
			                 conf_quote(v, q, sizeof(q)), why);
		(*n)++;
	}
	return 0;
}

static int cidr_cmp(const void *a, const void *b)
{
	const struct cidr *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

/* The same prefix in allow and deny would make the longest match ambiguous: refused. */
static int check_access_overlap(struct ctx *x, const config_setting_t *deny_s,
                                const struct conf_policy *p)
{
	struct cidr *sorted;
	int rc = 0;

	if (!p->n_allow || !p->n_deny)
		return 0;
	sorted = malloc(p->n_allow * sizeof(*sorted));
	if (!sorted)
		return conf_fail(x, deny_s, "out of memory");
	memcpy(sorted, p->allow, p->n_allow * sizeof(*sorted));
	qsort(sorted, p->n_allow, sizeof(*sorted), cidr_cmp);
	for (size_t i = 0; i < p->n_deny; i++) {
		if (bsearch(&p->deny[i], sorted, p->n_allow, sizeof(*sorted), cidr_cmp)) {
			char t[CIDR_TEXT_MAX];

			cidr_format(&p->deny[i], t, sizeof(t));
			rc = conf_fail(
			    x, deny_s,
			    "entry [%zu] %s is in allow too: a prefix may be in one list only "
			    "(the longest prefix decides between them)",
			    i, t);
			break;
		}
	}
	free(sorted);
	return rc;
}

static int parse_policy(struct ctx *x, const config_setting_t *g, struct conf_policy *p)
{
	const config_setting_t *s;
	long long n;
	int e;

	if (!conf_valid_name(config_setting_name(g)))
		return conf_fail(x, g, "policy name must be " NAME_RULE);
	policy_defaults(p, config_setting_name(g));
	if (conf_want_group(x, g, "{ mode = \"cookie\"; mss = [ ... ]; ... }") < 0 ||
	    conf_check_keys(x, g, policy_keys) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "mode"))) {
		if (conf_want_enum(x, s, mode_names, &e) < 0)
			return -1;
		p->mode = (enum conf_mode)e;
	}
	if ((s = config_setting_get_member(g, "mss")) &&
	    parse_mss(x, s, 88, "[ 536, 1300, 1440, 1460 ]", p->mss) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "mss6")) &&
	    parse_mss(x, s, PKT_DEFAULT_MSS6, "[ 1220, 1420, 1440, 8940 ]", p->mss6) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "wscale"))) {
		if (conf_want_int(x, s, 0, PKT_MAX_WSCALE, &n) < 0)
			return -1;
		p->wscale = (uint8_t)n;
	}
	if ((s = config_setting_get_member(g, "sack")) && conf_want_bool(x, s, &p->sack) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "timestamps")) &&
	    conf_want_bool(x, s, &p->timestamps) < 0)
		return -1;
	if (opt_u32(x, g, "idle_timeout", 1, 86400, &p->idle_timeout) < 0 ||
	    opt_u32(x, g, "half_open_max", 1, 1 << 28, &p->half_open_max) < 0 ||
	    opt_u32(x, g, "half_open_per_source", 0, 1 << 28, &p->half_open_per_source) < 0 ||
	    opt_u8(x, g, "synack_retries", 0, 15, &p->synack_retries) < 0 ||
	    opt_u32(x, g, "syn_rate_trigger", 0, 100000000, &p->syn_rate_trigger) < 0 ||
	    opt_u8(x, g, "half_open_fill_trigger", 1, 100, &p->half_open_fill_trigger) < 0 ||
	    opt_u32(x, g, "auto_calm_time", 1, 3600, &p->auto_calm_time) < 0 ||
	    opt_u32(x, g, "accept_backlog", 1, 1000000, &p->accept_backlog) < 0 ||
	    opt_u32(x, g, "accept_timeout", 1, 3600, &p->accept_timeout) < 0 ||
	    opt_u32(x, g, "max_connections", 0, 10000000, &p->max_connections) < 0 ||
	    opt_u32(x, g, "max_backend_connects", 1, 65535, &p->max_backend_connects) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "accept_overflow"))) {
		if (conf_want_enum(x, s, overflow_names, &e) < 0)
			return -1;
		p->accept_overflow = (enum conf_overflow)e;
	}
	if ((s = config_setting_get_member(g, "per_source")) &&
	    parse_per_source(x, s, &p->per_source) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "allow")) &&
	    parse_cidr_list(x, s, &p->allow, &p->n_allow) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "deny")) &&
	    (parse_cidr_list(x, s, &p->deny, &p->n_deny) < 0 || check_access_overlap(x, s, p) < 0))
		return -1;
	if ((s = config_setting_get_member(g, "keepalive")) &&
	    parse_keepalive(x, s, &p->keepalive) < 0)
		return -1;
	return 0;
}

int conf_parse_policies(struct ctx *x, const config_setting_t *g, struct conf *c)
{
	int n;

	if (!g) {
		c->policies = calloc(1, sizeof(*c->policies));
		if (!c->policies)
			return conf_fail_line(x, 1, "out of memory");
		c->n_policies = 1;
		policy_defaults(&c->policies[0], DEFAULT_POLICY);
		return 0;
	}
	if (conf_want_group(x, g, "of named policies { default = { mode = \"cookie\"; ... }; }") <
	    0)
		return -1;
	n = config_setting_length(g);
	if (n < 1)
		return conf_fail(
		    x, g,
		    "is empty: define at least one policy, or leave \"policies\" out to "
		    "use the built-in \"default\"");
	c->policies = calloc((size_t)n, sizeof(*c->policies));
	if (!c->policies)
		return conf_fail(x, g, "out of memory");
	for (int i = 0; i < n; i++) {
		/* counted first: conf_free releases what a failing policy allocated */
		c->n_policies++;
		if (parse_policy(x, config_setting_get_elem(g, (unsigned)i), &c->policies[i]) < 0)
			return -1;
	}
	return 0;
}

void conf_policy_names(const struct conf *c, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < c->n_policies && n + 1 < len; i++) {
		int w = snprintf(buf + n, len - n, "%s\"%s\"", i ? ", " : "", c->policies[i].name);

		if (w < 0)
			break;
		n += (size_t)w;
	}
}

int conf_find_policy(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->n_policies; i++)
		if (strcmp(c->policies[i].name, name) == 0)
			return (int)i;
	return -1;
}

const char *conf_mode_name(enum conf_mode m)
{
	return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) - 1 ? mode_names[m] : "?";
}

const char *conf_overflow_name(enum conf_overflow o)
{
	return (unsigned)o < sizeof(overflow_names) / sizeof(overflow_names[0]) - 1
	           ? overflow_names[o]
	           : "?";
}
