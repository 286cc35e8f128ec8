/*
 * Error reporting and typed readers of the configuration parser: every error
 * is "FILE:LINE: KEY: what is wrong and what is allowed".
 */
#include "conf_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define KEY_MAX 256

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

__attribute__((format(printf, 3, 4))) int conf_fail(struct ctx *x, const config_setting_t *s,
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
__attribute__((format(printf, 4, 5))) int conf_fail_missing(struct ctx *x,
                                                            const config_setting_t *group,
                                                            const char *name, const char *fmt, ...)
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
__attribute__((format(printf, 3, 4))) int conf_fail_line(struct ctx *x, unsigned line,
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
const char *conf_quote(const char *s, char *buf, size_t len)
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

/* ---- typed getters ----------------------------------------------------- */

int conf_check_keys(struct ctx *x, const config_setting_t *g, const char *const *keys)
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
			return conf_fail(x, s, "unknown key (allowed here: %s)", allowed);
		}
	}
	return 0;
}

int conf_want_group(struct ctx *x, const config_setting_t *s, const char *example)
{
	if (!config_setting_is_group(s))
		return conf_fail(x, s, "must be a group %s", example);
	return 0;
}

int conf_want_int(struct ctx *x, const config_setting_t *s, long long lo, long long hi,
                  long long *out)
{
	int t = config_setting_type(s);
	long long v;

	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
		return conf_fail(x, s, "must be an integer %lld..%lld", lo, hi);
	if (config_setting_get_hook(s) == &x->truncated)
		return conf_fail(
		    x, s, "integer literal is out of range: must be an integer %lld..%lld", lo, hi);
	v = config_setting_get_int64(s);
	if (v < lo || v > hi)
		return conf_fail(x, s, "%lld is out of range: must be an integer %lld..%lld", v, lo,
		                 hi);
	*out = v;
	return 0;
}

int conf_want_bool(struct ctx *x, const config_setting_t *s, bool *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return conf_fail(x, s, "must be a boolean: true or false");
	*out = config_setting_get_bool(s);
	return 0;
}

int conf_want_string(struct ctx *x, const config_setting_t *s, const char *what, const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return conf_fail(x, s, "must be a string: %s", what);
	*out = config_setting_get_string(s);
	return 0;
}

int conf_want_enum(struct ctx *x, const config_setting_t *s, const char *const *names, int *out)
{
	char list[128], q[QUOTE_MAX];
	const char *v = "";

	join_names(names, list, sizeof(list));
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return conf_fail(x, s, "must be a string, one of %s", list);
	v = config_setting_get_string(s);
	for (int i = 0; names[i]; i++) {
		if (strcmp(names[i], v) == 0) {
			*out = i;
			return 0;
		}
	}
	return conf_fail(x, s, "\"%s\" is not allowed: must be one of %s",
	                 conf_quote(v, q, sizeof(q)), list);
}

/* ---- values ------------------------------------------------------------ */

bool conf_valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n >= CONF_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* Decimal 0..65535 without sign or spaces; advances *pp. */
bool conf_parse_u16(const char **pp, uint16_t *out)
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

bool conf_all_zero(const uint8_t *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i])
			return false;
	return true;
}

/* "IPv4:port" or "[IPv6]:port", port 1..65535; the wildcard address only if allowed. */
bool conf_parse_inet_addr_port(const char *s, bool wildcard_ok, struct sockaddr_storage *ss,
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
		if (!conf_parse_u16(&p, &port) || *p || !port)
			return false;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1 ||
		    (!wildcard_ok && conf_all_zero(a6->sin6_addr.s6_addr, 16)))
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
	if (!conf_parse_u16(&p, &port) || *p || !port)
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
