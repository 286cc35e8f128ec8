/*
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
 */
#include "conf_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int add_lit(struct ctx *x, unsigned line, bool overflow, long long value)
{
	if (x->n_lits == x->cap_lits) {
		size_t cap = x->cap_lits ? 2 * x->cap_lits : 32;
		struct int_lit *l = realloc(x->lits, cap * sizeof(*l));

		if (!l)
			return conf_fail_line(x, line, "out of memory");
		x->lits = l;
		x->cap_lits = cap;
	}
	x->lits[x->n_lits++] = (struct int_lit){line, overflow, value};
	return 0;
}

static bool is_xdigit(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
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
int conf_prescan(struct ctx *x, const char *p)
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
			return conf_fail_line(
			    x, line,
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

int conf_check_int_literals(struct ctx *x, config_setting_t *root)
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
			return conf_fail_line(
			    x, x->lits[i].line,
			    "syntax error: integer literal does not fit in 32 bits");
	return 0;
}
