/*
 * Configuration parser and validator. libconfig turns the text into a tree;
 * this file walks the tree once, checks every key against the table of keys
 * its group allows, applies defaults and fills struct conf. Nothing is kept
 * from libconfig: the result is plain memory owned by the caller.
 *
 * Two libconfig 1.5 behaviours are dealt with before the tree is trusted:
 * - "@include" makes libconfig open a file relative to the working
 *   directory. This library does no I/O, so includes are refused with an
 *   error before libconfig sees the text.
 * - An integer literal that does not fit in 32 bits is silently truncated
 *   ("port = 4294967376" reads as 80). A small scanner records the true value
 *   of every integer literal; the k-th literal in the text is the k-th
 *   integer setting of the tree in document order, so every setting whose
 *   stored value differs from its literal is marked (through the setting's
 *   hook) and reported as out of range under its own key.
 * A third one cannot be fixed from here: libconfig 1.5 leaks the buffer of a
 * string token that is the lookahead of a syntax error ("a = 1 "x";"), about
 * 64 bytes per rejected file.
 *
 * Error messages: "FILE:LINE: KEY: what is wrong and what is allowed", KEY
 * being the full path of the setting ("listeners.[0].port"). A missing key is
 * reported at the line of the group that should contain it.
 */
#include "conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <libconfig.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX   256
#define QUOTE_MAX 72

#define DEFAULT_CONTROL_SOCKET "/run/synguard/control.sock"
#define DEFAULT_USER           "synguard"
#define DEFAULT_METRICS        "127.0.0.1:9477"
#define DEFAULT_POLICY         "default"

struct int_lit {
	unsigned line;
	bool overflow; /* does not even fit in 64 bits */
	long long value;
};

struct ctx {
	const char *file;
	char *err;
	size_t errlen;
	struct int_lit *lits;
	size_t n_lits;
	size_t cap_lits;
	char truncated; /* its address is the hook that marks a truncated integer */
};

static const char *const firewall_names[] = {
    [CONF_FW_IPTABLES] = "iptables",
    [CONF_FW_NONE] = "none",
    NULL,
};
static const char *const handoff_names[] = {
    [CONF_HANDOFF_PROXY] = "proxy",
    [CONF_HANDOFF_PASSFD] = "pass-fd",
    NULL,
};
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

static const char *const queue_full_names[] = {
    [CONF_QUEUE_FULL_DROP] = "drop",
    [CONF_QUEUE_FULL_ACCEPT] = "accept",
    NULL,
};

static const char *const root_keys[] = {"daemon", "listeners", "policies", NULL};
static const char *const daemon_keys[] = {
    "queue",           "firewall",
    "fail_open",       "control_socket",
    "cookie_rotation", "user",
    "metrics_listen",  "cookie_secret_file",
    "queue_cpus",      "queue_priority",
    "synack_layer2",   "queue_full",
    "queue_nice",      NULL,
};
static const char *const listener_keys[] = {
    "name", "address", "port", "backend", "handoff", "proxy_protocol", "policy", NULL,
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

static const uint16_t default_mss[4] = {536, 1300, 1440, 1460};
static const uint16_t default_mss6[4] = {1220, 1420, 1440, 8940};

/* ---- messages ---------------------------------------------------------- */

/* Full path of a setting: names joined by '.', list elements as "[i]". */
static size_t path_of(const config_setting_t *s, char *buf, size_t len)
{
	size_t n;
	int w;

	if (!s || config_setting_is_root(s)) {
		buf[0] = '\0';
		return 0;
	}
	n = path_of(config_setting_parent(s), buf, len);
	if (n + 1 >= len)
		return n;
	if (config_setting_name(s))
		w = snprintf(buf + n, len - n, "%s%s", n ? "." : "", config_setting_name(s));
	else
		w = snprintf(buf + n, len - n, "%s[%d]", n ? "." : "", config_setting_index(s));
	if (w < 0)
		return n;
	n += (size_t)w;
	return n < len ? n : len - 1;
}

/* The root group has no line of its own: the file starts at line 1. */
static unsigned line_of(const config_setting_t *s)
{
	unsigned line = config_setting_source_line(s);

	return line ? line : 1;
}

__attribute__((format(printf, 4, 0))) static void
vreport(struct ctx *x, unsigned line, const char *key, const char *fmt, va_list ap)
{
	int n;

	if (!x->err || !x->errlen)
		return;
	n = snprintf(x->err, x->errlen, "%s:%u: %s: ", x->file, line, key);
	if (n < 0 || (size_t)n >= x->errlen)
		return;
	vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
}

__attribute__((format(printf, 3, 4))) static int fail(struct ctx *x, const config_setting_t *s,
                                                      const char *fmt, ...)
{
	char key[KEY_MAX];
	va_list ap;

	path_of(s, key, sizeof(key));
	va_start(ap, fmt);
	vreport(x, line_of(s), key, fmt, ap);
	va_end(ap);
	return -1;
}

/* A required key is absent: blame the group that should hold it. */
__attribute__((format(printf, 4, 5))) static int
fail_missing(struct ctx *x, const config_setting_t *group, const char *name, const char *fmt, ...)
{
	char key[KEY_MAX];
	size_t n = path_of(group, key, sizeof(key));
	va_list ap;

	snprintf(key + n, sizeof(key) - n, "%s%s", n ? "." : "", name);
	va_start(ap, fmt);
	vreport(x, line_of(group), key, fmt, ap);
	va_end(ap);
	return -1;
}

/* Bare error with a line but no key (syntax errors, includes). */
__attribute__((format(printf, 3, 4))) static int fail_line(struct ctx *x, unsigned line,
                                                           const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!x->err || !x->errlen)
		return -1;
	n = snprintf(x->err, x->errlen, "%s:%u: ", x->file, line);
	if (n < 0 || (size_t)n >= x->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* A user string made safe for a one-line message: printable, bounded. */
static const char *quote(const char *s, char *buf, size_t len)
{
	size_t n = strlen(s), o = 0;
	bool cut = n >= len;
	size_t keep = cut ? len - 4 : n;

	for (size_t i = 0; i < keep; i++)
		buf[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (cut) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* "a", "b", "c" */
static void join_names(const char *const *names, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; names[i] && n + 1 < len; i++) {
		int w = snprintf(buf + n, len - n, "%s\"%s\"", i ? ", " : "", names[i]);

		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/* ---- text prescan ------------------------------------------------------ */

static int add_lit(struct ctx *x, unsigned line, bool overflow, long long value)
{
	if (x->n_lits == x->cap_lits) {
		size_t cap = x->cap_lits ? 2 * x->cap_lits : 32;
		struct int_lit *l = realloc(x->lits, cap * sizeof(*l));

		if (!l)
			return fail_line(x, line, "out of memory");
		x->lits = l;
		x->cap_lits = cap;
	}
	x->lits[x->n_lits++] = (struct int_lit){line, overflow, value};
	return 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_xdigit(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * Scans a numeric token at *pp with libconfig's rules (integer, integer64,
 * hex, hex64, float) and records integers. Returns -1 only on memory failure.
 */
static int scan_number(struct ctx *x, const char **pp, unsigned line)
{
	const char *p = *pp, *q = p;
	bool is_float = false, overflow;
	long long value;
	char *end;

	errno = 0;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && is_xdigit(p[2])) {
		unsigned long long u = strtoull(p, &end, 16);

		overflow = errno == ERANGE || u > (unsigned long long)LLONG_MAX;
		value = overflow ? 0 : (long long)u;
		q = end;
	} else {
		if (*q == '+' || *q == '-')
			q++;
		while (is_digit(*q))
			q++;
		if (*q == '.') {
			is_float = true;
			for (q++; is_digit(*q); q++)
				;
		}
		if ((*q == 'e' || *q == 'E') &&
		    (is_digit(q[1]) || ((q[1] == '+' || q[1] == '-') && is_digit(q[2])))) {
			is_float = true;
			for (q += 2; is_digit(*q); q++)
				;
		}
		if (is_float) {
			*pp = q;
			return 0;
		}
		value = strtoll(p, &end, 10);
		overflow = errno == ERANGE;
	}
	if (*q == 'L')
		q++;
	if (*q == 'L')
		q++;
	*pp = q;
	return add_lit(x, line, overflow, value);
}

/*
 * Walks the text with libconfig's lexical rules just far enough to skip
 * strings and comments, refuse @include and record integer literals.
 */
static int prescan(struct ctx *x, const char *p)
{
	unsigned line = 1;

	while (*p) {
		char c = *p;

		if (c == '\n') {
			line++;
			p++;
		} else if (c == '#' || (c == '/' && p[1] == '/')) {
			while (*p && *p != '\n')
				p++;
		} else if (c == '/' && p[1] == '*') {
			for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
				line += *p == '\n';
			if (*p)
				p += 2;
		} else if (c == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				line += *p == '\n';
			}
			if (*p)
				p++;
		} else if (c == '@' && strncmp(p, "@include", 8) == 0) {
			return fail_line(x, line,
			                 "@include: includes are not supported: keep the whole "
			                 "configuration in one file");
		} else if (is_alpha(c) || c == '*') {
			while (is_alpha(*p) || is_digit(*p) || *p == '-' || *p == '_' || *p == '*')
				p++;
		} else if (is_digit(c) || ((c == '+' || c == '-' || c == '.') &&
		                           (is_digit(p[1]) || p[1] == '.'))) {
			if (scan_number(x, &p, line) < 0)
				return -1;
		} else {
			p++;
		}
	}
	return 0;
}

static size_t count_ints(const config_setting_t *s)
{
	size_t n = 0;
	int t = config_setting_type(s);

	if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
		return 1;
	if (config_setting_is_aggregate(s))
		for (int i = 0; i < config_setting_length(s); i++)
			n += count_ints(config_setting_get_elem(s, (unsigned)i));
	return n;
}

static void mark_truncated(struct ctx *x, config_setting_t *s, size_t *k)
{
	int t = config_setting_type(s);

	if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
		const struct int_lit *l = &x->lits[(*k)++];

		if (l->overflow || l->value != config_setting_get_int64(s))
			config_setting_set_hook(s, &x->truncated);
	} else if (config_setting_is_aggregate(s)) {
		for (int i = 0; i < config_setting_length(s); i++)
			mark_truncated(x, config_setting_get_elem(s, (unsigned)i), k);
	}
}

static int check_int_literals(struct ctx *x, config_setting_t *root)
{
	size_t k = 0;

	if (count_ints(root) == x->n_lits) {
		mark_truncated(x, root, &k);
		return 0;
	}
	/* The scanner and libconfig disagree: fall back to blaming the line. */
	for (size_t i = 0; i < x->n_lits; i++)
		if (x->lits[i].overflow || x->lits[i].value < INT32_MIN ||
		    x->lits[i].value > INT32_MAX)
			return fail_line(x, x->lits[i].line,
			                 "syntax error: integer literal does not fit in 32 bits");
	return 0;
}

/* ---- typed getters ----------------------------------------------------- */

static int check_keys(struct ctx *x, const config_setting_t *g, const char *const *keys)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		size_t k;

		for (k = 0; keys[k] && strcmp(keys[k], name) != 0; k++)
			;
		if (!keys[k]) {
			char allowed[512];
			size_t n = 0;

			allowed[0] = '\0';
			for (k = 0; keys[k] && n + 1 < sizeof(allowed); k++) {
				int w = snprintf(allowed + n, sizeof(allowed) - n, "%s%s",
				                 k ? ", " : "", keys[k]);
				if (w < 0)
					break;
				n += (size_t)w;
			}
			return fail(x, s, "unknown key (allowed here: %s)", allowed);
		}
	}
	return 0;
}

static int want_group(struct ctx *x, const config_setting_t *s, const char *example)
{
	if (!config_setting_is_group(s))
		return fail(x, s, "must be a group %s", example);
	return 0;
}

static int want_int(struct ctx *x, const config_setting_t *s, long long lo, long long hi,
                    long long *out)
{
	int t = config_setting_type(s);
	long long v;

	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
		return fail(x, s, "must be an integer %lld..%lld", lo, hi);
	if (config_setting_get_hook(s) == &x->truncated)
		return fail(x, s, "integer literal is out of range: must be an integer %lld..%lld",
		            lo, hi);
	v = config_setting_get_int64(s);
	if (v < lo || v > hi)
		return fail(x, s, "%lld is out of range: must be an integer %lld..%lld", v, lo, hi);
	*out = v;
	return 0;
}

static int want_bool(struct ctx *x, const config_setting_t *s, bool *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail(x, s, "must be a boolean: true or false");
	*out = config_setting_get_bool(s);
	return 0;
}

static int want_string(struct ctx *x, const config_setting_t *s, const char *what, const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(x, s, "must be a string: %s", what);
	*out = config_setting_get_string(s);
	return 0;
}

static int want_enum(struct ctx *x, const config_setting_t *s, const char *const *names, int *out)
{
	char list[128], q[QUOTE_MAX];
	const char *v = "";

	join_names(names, list, sizeof(list));
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(x, s, "must be a string, one of %s", list);
	v = config_setting_get_string(s);
	for (int i = 0; names[i]; i++) {
		if (strcmp(names[i], v) == 0) {
			*out = i;
			return 0;
		}
	}
	return fail(x, s, "\"%s\" is not allowed: must be one of %s", quote(v, q, sizeof(q)), list);
}

/* ---- values ------------------------------------------------------------ */

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n >= CONF_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

#define NAME_RULE "1..31 characters of A-Z a-z 0-9 _ . -"

/* Decimal 0..65535 without sign or spaces; advances *pp. */
static bool parse_u16(const char **pp, uint16_t *out)
{
	const char *p = *pp;
	unsigned long v = 0;

	if (!is_digit(*p))
		return false;
	for (; is_digit(*p); p++) {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return false;
	}
	*out = (uint16_t)v;
	*pp = p;
	return true;
}

static bool all_zero(const uint8_t *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i])
			return false;
	return true;
}

#define PROXY_BACKEND_RULE                                                                         \
	"handoff \"proxy\" needs \"IPv4:port\" or \"[IPv6]:port\", e.g. \"127.0.0.1:8080\" or "    \
	"\"[2001:db8::1]:8080\""
#define PASSFD_BACKEND_RULE                                                                        \
	"handoff \"pass-fd\" needs \"unix:/absolute/path\" of at most 107 bytes, e.g. "            \
	"\"unix:/run/synguard/web.sock\""

/* "IPv4:port" or "[IPv6]:port", port 1..65535; the wildcard address only if allowed. */
static bool parse_inet_addr_port(const char *s, bool wildcard_ok, struct sockaddr_storage *ss,
                                 socklen_t *len)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon, *p;
	uint16_t port;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return false;
		hl = (size_t)(close - s - 1);
		if (hl >= sizeof(host))
			return false;
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		p = close + 2;
		if (!parse_u16(&p, &port) || *p || !port)
			return false;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1 ||
		    (!wildcard_ok && all_zero(a6->sin6_addr.s6_addr, 16)))
			return false;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof(*a6);
		return true;
	}
	colon = strrchr(s, ':');
	if (!colon)
		return false;
	hl = (size_t)(colon - s);
	if (hl >= sizeof(host))
		return false;
	memcpy(host, s, hl);
	host[hl] = '\0';
	p = colon + 1;
	if (!parse_u16(&p, &port) || *p || !port)
		return false;
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

	if (inet_pton(AF_INET, host, &a4->sin_addr) != 1 ||
	    (!wildcard_ok && a4->sin_addr.s_addr == 0))
		return false;
	a4->sin_family = AF_INET;
	a4->sin_port = htons(port);
	*len = sizeof(*a4);
	return true;
}

static bool parse_unix_backend(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_un *un = (struct sockaddr_un *)ss;
	const char *path = s + 5;
	size_t n = strlen(path);

	if (strncmp(s, "unix:", 5) != 0 || path[0] != '/' || n >= sizeof(un->sun_path))
		return false;
	memset(ss, 0, sizeof(*ss));
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, path, n + 1);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return true;
}

/* ---- sections ---------------------------------------------------------- */

static int parse_queue(struct ctx *x, const config_setting_t *s, struct conf_daemon *d)
{
	const char *rule = "\"N\" or \"N:M\", NFQUEUE numbers 0..65535 with N <= M and at most "
	                   "64 queues";
	const char *v = "", *p;
	char q[QUOTE_MAX];
	uint16_t first, last;

	if (want_string(x, s, rule, &v) < 0)
		return -1;
	p = v;
	if (!parse_u16(&p, &first))
		goto bad;
	last = first;
	if (*p == ':') {
		p++;
		if (!parse_u16(&p, &last))
			goto bad;
	}
	if (*p)
		goto bad;
	if (first > last)
		return fail(x, s, "\"%s\": the first queue is above the last: must be %s",
		            quote(v, q, sizeof(q)), rule);
	if (last - first + 1 > CONF_QUEUES_MAX)
		return fail(x, s, "\"%s\" is %d queues: must be %s", quote(v, q, sizeof(q)),
		            last - first + 1, rule);
	d->queue_first = first;
	d->queue_last = last;
	return 0;
bad:
	return fail(x, s, "\"%s\" is not valid: must be %s", quote(v, q, sizeof(q)), rule);
}

#define USER_RULE                                                                                  \
	"a user name of 1..31 characters of A-Z a-z 0-9 _ . - not starting with -, e.g. "          \
	"\"synguard\""

/* The name is looked up by the daemon; here only its shape is checked. */
static int parse_user(struct ctx *x, const config_setting_t *s, struct conf_daemon *d)
{
	const char *v = "";
	char q[QUOTE_MAX];

	if (want_string(x, s, USER_RULE, &v) < 0)
		return -1;
	if (!valid_name(v) || v[0] == '-' || strlen(v) >= sizeof(d->user))
		return fail(x, s, "\"%s\" is not valid: must be " USER_RULE,
		            quote(v, q, sizeof(q)));
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

	if (want_string(x, s, METRICS_RULE, &v) < 0)
		return -1;
	if (v[0] == '\0' || strcmp(v, "none") == 0) {
		memset(&d->metrics, 0, sizeof(d->metrics));
		d->metrics_len = 0;
		return 0;
	}
	if (!parse_inet_addr_port(v, true, &d->metrics, &d->metrics_len))
		return fail(x, s, "\"%s\" is not valid: must be " METRICS_RULE,
		            quote(v, q, sizeof(q)));
	return 0;
}

/* A list of 0..64 CPU numbers, repeats allowed (two queues may share a CPU). */
static int parse_queue_cpus(struct ctx *x, const config_setting_t *s, struct conf_daemon *d)
{
#define CPUS_RULE "a list of at most 64 CPU numbers 0..1023, e.g. [0, 1]"
	int n;

	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return fail(x, s, "must be " CPUS_RULE);
	n = config_setting_length(s);
	if (n > CONF_QUEUE_CPUS_MAX)
		return fail(x, s, "has %d entries: must be " CPUS_RULE, n);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		int t = config_setting_type(e);
		long long m;

		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			return fail(x, s, "entry [%d] is not an integer: must be " CPUS_RULE, i);
		m = config_setting_get_int64(e);
		if (config_setting_get_hook(e) == &x->truncated || m < 0 || m > CONF_CPU_MAX)
			return fail(x, s, "entry [%d] is out of range: must be " CPUS_RULE, i);
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
	snprintf(d->control_socket, sizeof(d->control_socket), "%s", DEFAULT_CONTROL_SOCKET);
	d->cookie_rotation = 30;
	snprintf(d->user, sizeof(d->user), "%s", DEFAULT_USER);
	if (!parse_inet_addr_port(DEFAULT_METRICS, false, &d->metrics, &d->metrics_len))
		return fail_line(x, 1, "internal error: bad default metrics address");
	d->cookie_secret_file[0] = '\0';
	if (!g)
		return 0;
	if (want_group(x, g, "{ queue = \"0\"; firewall = \"iptables\"; ... }") < 0 ||
	    check_keys(x, g, daemon_keys) < 0)
		return -1;

	if ((s = config_setting_get_member(g, "queue")) && parse_queue(x, s, d) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "firewall"))) {
		if (want_enum(x, s, firewall_names, &e) < 0)
			return -1;
		d->firewall = (enum conf_firewall)e;
	}
	if ((s = config_setting_get_member(g, "synack_layer2")) &&
	    want_bool(x, s, &d->synack_layer2) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "fail_open")) && want_bool(x, s, &d->fail_open) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "queue_full"))) {
		if (want_enum(x, s, queue_full_names, &e) < 0)
			return -1;
		d->queue_full = (enum conf_queue_full)e;
	}
	if ((s = config_setting_get_member(g, "control_socket"))) {
		const char *rule = "an absolute path of at most 107 bytes";
		const char *v = "";
		char q[QUOTE_MAX];

		if (want_string(x, s, rule, &v) < 0)
			return -1;
		if (v[0] != '/' || strlen(v) >= sizeof(d->control_socket))
			return fail(x, s, "\"%s\" is not valid: must be %s", quote(v, q, sizeof(q)),
			            rule);
		memcpy(d->control_socket, v, strlen(v) + 1);
	}
	if ((s = config_setting_get_member(g, "cookie_rotation"))) {
		if (want_int(x, s, 1, 3600, &n) < 0)
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
		if (want_int(x, s, 0, 99, &n) < 0)
			return -1;
		d->queue_priority = (uint8_t)n;
	}
	if ((s = config_setting_get_member(g, "queue_nice"))) {
		if (want_int(x, s, -20, 19, &n) < 0)
			return -1;
		d->queue_nice = (int8_t)n;
	}
	if ((s = config_setting_get_member(g, "cookie_secret_file"))) {
		const char *rule = "an absolute path of at most 255 bytes, or \"\" to keep random "
		                   "keys in memory only";
		const char *v = "";
		char q[QUOTE_MAX];

		if (want_string(x, s, rule, &v) < 0)
			return -1;
		if ((v[0] && v[0] != '/') || strlen(v) >= sizeof(d->cookie_secret_file))
			return fail(x, s, "\"%s\" is not valid: must be %s", quote(v, q, sizeof(q)),
			            rule);
		memcpy(d->cookie_secret_file, v, strlen(v) + 1);
	}
	return 0;
}

/* 1..4 ascending distinct values lo..65535, padded at the front to 4. */
static int parse_mss(struct ctx *x, const config_setting_t *s, unsigned lo, const char *example,
                     uint16_t out[4])
{
	uint16_t v[4];
	int n;

#define MSS_RULE "a list of 1..4 ascending distinct integers %u..65535, e.g. %s"
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return fail(x, s, "must be " MSS_RULE, lo, example);
	n = config_setting_length(s);
	if (n < 1 || n > 4)
		return fail(x, s, "has %d entries: must be " MSS_RULE, n, lo, example);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		int t = config_setting_type(e);
		long long m;

		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			return fail(x, s, "entry [%d] is not an integer: must be " MSS_RULE, i, lo,
			            example);
		if (config_setting_get_hook(e) == &x->truncated)
			return fail(x, s, "entry [%d] is out of range: must be " MSS_RULE, i, lo,
			            example);
		m = config_setting_get_int64(e);
		if (m < lo || m > 65535)
			return fail(x, s, "entry [%d] = %lld is out of range: must be " MSS_RULE, i,
			            m, lo, example);
		if (i && m <= v[i - 1])
			return fail(
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
	if (want_int(x, s, lo, hi, &n) < 0)
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

	if (want_group(x, g, "{ syn_rate = 20; burst = 40; prefix_v4 = 32; prefix_v6 = 64; ... }") <
	        0 ||
	    check_keys(x, g, per_source_keys) < 0 ||
	    opt_u32(x, g, "syn_rate", 0, 1000000, &ps->syn_rate) < 0 ||
	    opt_u32(x, g, "burst", 1, 10000000, &ps->burst) < 0 ||
	    opt_u8(x, g, "prefix_v4", 24, 32, &ps->prefix_v4) < 0 ||
	    opt_u8(x, g, "prefix_v6", 48, 64, &ps->prefix_v6) < 0 ||
	    opt_u32(x, g, "max_connections", 0, 1000000, &ps->max_connections) < 0 ||
	    opt_u32(x, g, "table_size", 1024, 16777216, &ps->table_size) < 0)
		return -1;
	if (burst_given && ps->syn_rate == 0)
		return fail(x, config_setting_get_member(g, "burst"),
		            "is set but syn_rate is 0 (no limit): set syn_rate too, or leave burst "
		            "out");
	if (!burst_given && ps->syn_rate)
		ps->burst = ps->syn_rate;
	return 0;
}

static int parse_keepalive(struct ctx *x, const config_setting_t *g, struct conf_keepalive *k)
{
	if (want_group(x, g, "{ idle = 60; interval = 10; count = 6; }") < 0 ||
	    check_keys(x, g, keepalive_keys) < 0 || opt_u32(x, g, "idle", 0, 32767, &k->idle) < 0 ||
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
		return fail(x, s, "must be " CIDR_LIST_RULE);
	len = config_setting_length(s);
	if (len > CONF_CIDRS_MAX)
		return fail(x, s, "has %d entries: at most %d are allowed", len, CONF_CIDRS_MAX);
	if (len == 0)
		return 0;
	*out = calloc((size_t)len, sizeof(**out));
	if (!*out)
		return fail(x, s, "out of memory");
	for (int i = 0; i < len; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		char why[128], q[QUOTE_MAX];
		const char *v;

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return fail(x, s, "entry [%d] is not a string: must be " CIDR_LIST_RULE, i);
		v = config_setting_get_string(e);
		if (cidr_parse(v, &(*out)[i], why, sizeof(why)) < 0)
			return fail(x, s, "entry [%d] \"%s\" is not valid: %s", i,
			            quote(v, q, sizeof(q)), why);
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
		return fail(x, deny_s, "out of memory");
	memcpy(sorted, p->allow, p->n_allow * sizeof(*sorted));
	qsort(sorted, p->n_allow, sizeof(*sorted), cidr_cmp);
	for (size_t i = 0; i < p->n_deny; i++) {
		if (bsearch(&p->deny[i], sorted, p->n_allow, sizeof(*sorted), cidr_cmp)) {
			char t[CIDR_TEXT_MAX];

			cidr_format(&p->deny[i], t, sizeof(t));
			rc =
			    fail(x, deny_s,
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

	if (!valid_name(config_setting_name(g)))
		return fail(x, g, "policy name must be " NAME_RULE);
	policy_defaults(p, config_setting_name(g));
	if (want_group(x, g, "{ mode = \"cookie\"; mss = [ ... ]; ... }") < 0 ||
	    check_keys(x, g, policy_keys) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "mode"))) {
		if (want_enum(x, s, mode_names, &e) < 0)
			return -1;
		p->mode = (enum conf_mode)e;
	}
	if ((s = config_setting_get_member(g, "mss")) &&
	    parse_mss(x, s, 88, "[ 536, 1300, 1440, 1460 ]", p->mss) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "mss6")) &&
	    parse_mss(x, s, 1220, "[ 1220, 1420, 1440, 8940 ]", p->mss6) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "wscale"))) {
		if (want_int(x, s, 0, 14, &n) < 0)
			return -1;
		p->wscale = (uint8_t)n;
	}
	if ((s = config_setting_get_member(g, "sack")) && want_bool(x, s, &p->sack) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "timestamps")) && want_bool(x, s, &p->timestamps) < 0)
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
		if (want_enum(x, s, overflow_names, &e) < 0)
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

static int parse_policies(struct ctx *x, const config_setting_t *g, struct conf *c)
{
	int n;

	if (!g) {
		c->policies = calloc(1, sizeof(*c->policies));
		if (!c->policies)
			return fail_line(x, 1, "out of memory");
		c->n_policies = 1;
		policy_defaults(&c->policies[0], DEFAULT_POLICY);
		return 0;
	}
	if (want_group(x, g, "of named policies { default = { mode = \"cookie\"; ... }; }") < 0)
		return -1;
	n = config_setting_length(g);
	if (n < 1)
		return fail(x, g,
		            "is empty: define at least one policy, or leave \"policies\" out to "
		            "use the built-in \"default\"");
	c->policies = calloc((size_t)n, sizeof(*c->policies));
	if (!c->policies)
		return fail(x, g, "out of memory");
	for (int i = 0; i < n; i++) {
		/* counted first: conf_free releases what a failing policy allocated */
		c->n_policies++;
		if (parse_policy(x, config_setting_get_elem(g, (unsigned)i), &c->policies[i]) < 0)
			return -1;
	}
	return 0;
}

static void policy_names(const struct conf *c, char *buf, size_t len)
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

static int find_policy(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->n_policies; i++)
		if (strcmp(c->policies[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int parse_listener(struct ctx *x, const config_setting_t *g, struct conf *c,
                          struct conf_listener *l)
{
	const config_setting_t *s;
	const char *v = "";
	char q[QUOTE_MAX], names[192];
	long long n;
	int e;

	if (want_group(x, g, "{ name = \"web\"; address = \"192.0.2.1\"; port = 80; ... }") < 0 ||
	    check_keys(x, g, listener_keys) < 0)
		return -1;

	if (!(s = config_setting_get_member(g, "name")))
		return fail_missing(x, g, "name", "is required: " NAME_RULE);
	if (want_string(x, s, NAME_RULE, &v) < 0)
		return -1;
	if (!valid_name(v))
		return fail(x, s, "\"%s\" is not valid: must be " NAME_RULE,
		            quote(v, q, sizeof(q)));
	for (size_t i = 0; i < c->n_listeners; i++)
		if (strcmp(c->listeners[i].name, v) == 0)
			return fail(x, s,
			            "\"%s\" is already the name of listeners.[%zu]: names must "
			            "be unique",
			            v, i);
	memcpy(l->name, v, strlen(v) + 1);

#define ADDRESS_RULE                                                                               \
	"an IPv4 or IPv6 address literal, or 0.0.0.0 or :: for any address, e.g. \"192.0.2.1\" "   \
	"or \"2001:db8::1\""
	if (!(s = config_setting_get_member(g, "address")))
		return fail_missing(x, g, "address", "is required: " ADDRESS_RULE);
	if (want_string(x, s, ADDRESS_RULE, &v) < 0)
		return -1;
	if (inet_pton(AF_INET, v, l->addr) == 1) {
		l->family = AF_INET;
		l->wildcard = all_zero(l->addr, 4);
	} else if (inet_pton(AF_INET6, v, l->addr) == 1) {
		l->family = AF_INET6;
		l->wildcard = all_zero(l->addr, 16);
	} else {
		return fail(x, s, "\"%s\" is not valid: must be " ADDRESS_RULE,
		            quote(v, q, sizeof(q)));
	}
#undef ADDRESS_RULE

	if (!(s = config_setting_get_member(g, "port")))
		return fail_missing(x, g, "port", "is required: an integer 1..65535");
	if (want_int(x, s, 1, 65535, &n) < 0)
		return -1;
	l->port = (uint16_t)n;
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *o = &c->listeners[i];

		if (o->family == l->family && o->port == l->port &&
		    memcmp(o->addr, l->addr, sizeof(l->addr)) == 0) {
			char a[INET6_ADDRSTRLEN];

			inet_ntop(l->family, l->addr, a, sizeof(a));
			return fail(x, g,
			            "address %s port %u is already taken by listeners.[%zu] "
			            "\"%s\": each address and port may have one listener",
			            a, l->port, i, o->name);
		}
	}

	l->handoff = CONF_HANDOFF_PROXY;
	if ((s = config_setting_get_member(g, "handoff"))) {
		if (want_enum(x, s, handoff_names, &e) < 0)
			return -1;
		l->handoff = (enum conf_handoff)e;
	}

	const char *rule =
	    l->handoff == CONF_HANDOFF_PROXY ? PROXY_BACKEND_RULE : PASSFD_BACKEND_RULE;
	if (!(s = config_setting_get_member(g, "backend")))
		return fail_missing(x, g, "backend", "is required: %s", rule);
	if (want_string(x, s, rule, &v) < 0)
		return -1;
	if (l->handoff == CONF_HANDOFF_PROXY) {
		if (strncmp(v, "unix:", 5) == 0)
			return fail(x, s,
			            "\"%s\" is a Unix socket, which is for handoff \"pass-fd\": %s",
			            quote(v, q, sizeof(q)), rule);
		if (!parse_inet_addr_port(v, false, &l->backend, &l->backend_len))
			return fail(x, s, "\"%s\" is not valid: %s", quote(v, q, sizeof(q)), rule);
	} else {
		if (strncmp(v, "unix:", 5) != 0)
			return fail(
			    x, s,
			    "\"%s\" is not a Unix socket, which handoff \"pass-fd\" needs: %s",
			    quote(v, q, sizeof(q)), rule);
		if (!parse_unix_backend(v, &l->backend, &l->backend_len))
			return fail(x, s, "\"%s\" is not valid: %s", quote(v, q, sizeof(q)), rule);
		for (size_t i = 0; i < c->n_listeners; i++) {
			const struct conf_listener *o = &c->listeners[i];

			if (o->handoff == CONF_HANDOFF_PASSFD && o->backend_len == l->backend_len &&
			    memcmp(&o->backend, &l->backend, l->backend_len) == 0)
				return fail(
				    x, s,
				    "\"%s\" is already the socket of listeners.[%zu] \"%s\": "
				    "each pass-fd listener needs a socket of its own",
				    quote(v, q, sizeof(q)), i, o->name);
		}
	}

	if ((s = config_setting_get_member(g, "proxy_protocol"))) {
		if (want_int(x, s, 0, 2, &n) < 0)
			return -1;
		if (n && l->handoff != CONF_HANDOFF_PROXY)
			return fail(
			    x, s,
			    "is only allowed with handoff \"proxy\": with \"pass-fd\" the "
			    "backend gets the client's socket itself; use 0 or leave it out");
		l->proxy_protocol = (uint8_t)n;
	}

	policy_names(c, names, sizeof(names));
	if ((s = config_setting_get_member(g, "policy"))) {
		if (want_string(x, s, "the name of a policy", &v) < 0)
			return -1;
		if ((e = find_policy(c, v)) < 0)
			return fail(x, s, "no policy is named \"%s\": must be one of %s",
			            quote(v, q, sizeof(q)), names);
	} else if ((e = find_policy(c, DEFAULT_POLICY)) < 0) {
		return fail_missing(x, g, "policy",
		                    "not given and there is no policy \"" DEFAULT_POLICY
		                    "\" to fall back to: must be one of %s",
		                    names);
	}
	l->policy = (size_t)e;
	return 0;
}

static int parse_listeners(struct ctx *x, const config_setting_t *root, const config_setting_t *g,
                           struct conf *c)
{
	int n;

	if (!g)
		return fail_missing(x, root, "listeners",
		                    "is required: a list of at least one listener ( { name = "
		                    "\"web\"; address = \"192.0.2.1\"; port = 80; ... } )");
	if (!config_setting_is_list(g))
		return fail(x, g, "must be a list ( { name = \"web\"; ... }, ... )");
	n = config_setting_length(g);
	if (n < 1)
		return fail(x, g, "is empty: must be a list of at least one listener");
	c->listeners = calloc((size_t)n, sizeof(*c->listeners));
	if (!c->listeners)
		return fail(x, g, "out of memory");
	for (int i = 0; i < n; i++) {
		if (parse_listener(x, config_setting_get_elem(g, (unsigned)i), c,
		                   &c->listeners[i]) < 0)
			return -1;
		c->n_listeners++;
	}
	return 0;
}

/* ---- API --------------------------------------------------------------- */

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
		return fail_line(&x, 1, "no configuration text");

	config_init(&cfg);
	if (prescan(&x, text) < 0)
		goto done;
	if (!config_read_string(&cfg, text)) {
		const char *why = config_error_text(&cfg);

		if (!why || strcmp(why, "syntax error") == 0)
			fail_line(&x, (unsigned)config_error_line(&cfg), "syntax error");
		else
			fail_line(&x, (unsigned)config_error_line(&cfg), "syntax error: %s", why);
		goto done;
	}
	root = config_root_setting(&cfg);
	if (check_int_literals(&x, root) < 0)
		goto done;

	c = calloc(1, sizeof(*c));
	if (!c) {
		fail_line(&x, 1, "out of memory");
		goto done;
	}
	if (check_keys(&x, root, root_keys) < 0 ||
	    parse_daemon(&x, config_setting_get_member(root, "daemon"), &c->daemon) < 0 ||
	    parse_policies(&x, config_setting_get_member(root, "policies"), c) < 0 ||
	    parse_listeners(&x, root, config_setting_get_member(root, "listeners"), c) < 0)
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

int conf_match_listener(const struct conf *c, int family, const uint8_t *addr, uint16_t port)
{
	size_t alen = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
	int wild = -1;

	if (!c || !addr || !alen)
		return -1;
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];

		if (l->family != family || l->port != port)
			continue;
		if (l->wildcard) {
			if (wild < 0)
				wild = (int)i;
		} else if (memcmp(l->addr, addr, alen) == 0) {
			return (int)i;
		}
	}
	return wild;
}
