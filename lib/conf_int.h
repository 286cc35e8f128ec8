/*
 * Internals shared by the configuration parser's files: the parse context,
 * error reporting that names the file, line and key, the typed readers of a
 * setting and the value parsers. Not installed; lib/conf.h is the API.
 */
#ifndef SYNGUARD_CONF_INT_H
#define SYNGUARD_CONF_INT_H

#include <libconfig.h>
#include <stdbool.h>

#include "conf.h"

#define QUOTE_MAX 72 /* a user string quoted in a message */

#define DEFAULT_POLICY "default"
#define NAME_RULE      "1..31 characters of A-Z a-z 0-9 _ . -"

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

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ---- conf_util.c: messages (each returns -1) ---- */

/* "FILE:LINE: KEY: message", KEY the full path of setting s. */
__attribute__((format(printf, 3, 4))) int conf_fail(struct ctx *x, const config_setting_t *s,
                                                    const char *fmt, ...);
/* A required key is absent: blame the group that should hold it. */
__attribute__((format(printf, 4, 5))) int conf_fail_missing(struct ctx *x,
                                                            const config_setting_t *group,
                                                            const char *name, const char *fmt, ...);
/* Bare error with a line but no key (syntax errors, includes). */
__attribute__((format(printf, 3, 4))) int conf_fail_line(struct ctx *x, unsigned line,
                                                         const char *fmt, ...);
/* A user string made safe for a one-line message: printable, bounded. */
const char *conf_quote(const char *s, char *buf, size_t len);

/* ---- conf_util.c: typed readers (0, or -1 with the error reported) ---- */

int conf_check_keys(struct ctx *x, const config_setting_t *g, const char *const *keys);
int conf_want_group(struct ctx *x, const config_setting_t *s, const char *example);
int conf_want_int(struct ctx *x, const config_setting_t *s, long long lo, long long hi,
                  long long *out);
int conf_want_bool(struct ctx *x, const config_setting_t *s, bool *out);
int conf_want_string(struct ctx *x, const config_setting_t *s, const char *what, const char **out);
int conf_want_enum(struct ctx *x, const config_setting_t *s, const char *const *names, int *out);

/* ---- conf_util.c: values ---- */

bool conf_valid_name(const char *s); /* NAME_RULE */
/* Decimal 0..65535 without sign or spaces; advances *pp. */
bool conf_parse_u16(const char **pp, uint16_t *out);
bool conf_all_zero(const uint8_t *a, size_t n);
/* "IPv4:port" or "[IPv6]:port", port 1..65535; the wildcard address only if allowed. */
bool conf_parse_inet_addr_port(const char *s, bool wildcard_ok, struct sockaddr_storage *ss,
                               socklen_t *len);

/* ---- conf_prescan.c: what libconfig gets wrong, checked on the text ---- */

/* Refuses @include and records every integer literal's true value. */
int conf_prescan(struct ctx *x, const char *text);
/* Marks the settings libconfig truncated, for conf_want_int to refuse. */
int conf_check_int_literals(struct ctx *x, config_setting_t *root);

/* ---- conf_policy.c ---- */

int conf_parse_policies(struct ctx *x, const config_setting_t *g, struct conf *c);
int conf_find_policy(const struct conf *c, const char *name);
void conf_policy_names(const struct conf *c, char *buf, size_t len); /* "a", "b" */

/* ---- conf_listener.c ---- */

int conf_parse_listeners(struct ctx *x, const config_setting_t *root, const config_setting_t *g,
                         struct conf *c);

#endif
