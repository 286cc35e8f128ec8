/* The listeners section: what each protected address and port hands off, and to where. */
#include "conf_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"

static const char *const handoff_names[] = {
    [CONF_HANDOFF_PROXY] = "proxy",
    [CONF_HANDOFF_PASSFD] = "pass-fd",
    [CONF_HANDOFF_LOCAL] = "local",
    NULL,
};
static const char *const listener_keys[] = {
    "name", "address", "port", "backend", "handoff", "proxy_protocol", "policy", NULL,
};

#define PROXY_BACKEND_RULE                                                                         \
	"handoff \"proxy\" needs \"IPv4:port\" or \"[IPv6]:port\", e.g. \"127.0.0.1:8080\" or "    \
	"\"[2001:db8::1]:8080\""
#define PASSFD_BACKEND_RULE                                                                        \
	"handoff \"pass-fd\" needs \"unix:/absolute/path\" of at most 107 bytes, e.g. "            \
	"\"unix:/run/synguard/web.sock\""

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

/*
 * What a policy cannot do for a local listener: the connection is the server's
 * the moment the kernel takes it, so the daemon keeps no count of it. Modes
 * stateful and auto apply: their half-open entries are retired when the
 * kernel program reports the handshake it completed.
 */
static int check_local_policy(struct ctx *x, const config_setting_t *s, const struct conf_policy *p)
{
	/* the kernel refuses to complete a connection from a cookie below the protocol's
	 * default MSS (bpf_sk_assign_tcp_reqsk) */
	if (p->mss[0] < PKT_DEFAULT_MSS4)
		return conf_fail(x, s,
		                 "policy \"%s\" has an mss table starting at %u, below %u, which "
		                 "handoff \"local\" cannot use (the kernel refuses such a "
		                 "connection): start the table at %u or above",
		                 p->name, p->mss[0], PKT_DEFAULT_MSS4, PKT_DEFAULT_MSS4);
	if (p->per_source.max_connections || p->max_connections)
		return conf_fail(x, s,
		                 "policy \"%s\" sets %smax_connections, which handoff \"local\" "
		                 "cannot apply (the server owns each connection from the start and "
		                 "the daemon never sees it): use a policy without it",
		                 p->name, p->per_source.max_connections ? "per_source." : "");
	return 0;
}

static int parse_backend(struct ctx *x, const config_setting_t *g, const struct conf *c,
                         struct conf_listener *l)
{
	const config_setting_t *s;
	const char *v = "";
	char q[QUOTE_MAX];

	const char *rule =
	    l->handoff == CONF_HANDOFF_PROXY ? PROXY_BACKEND_RULE : PASSFD_BACKEND_RULE;
	if (!(s = config_setting_get_member(g, "backend")))
		return conf_fail_missing(x, g, "backend", "is required: %s", rule);
	if (conf_want_string(x, s, rule, &v) < 0)
		return -1;
	if (l->handoff == CONF_HANDOFF_PROXY) {
		if (strncmp(v, "unix:", 5) == 0)
			return conf_fail(
			    x, s, "\"%s\" is a Unix socket, which is for handoff \"pass-fd\": %s",
			    conf_quote(v, q, sizeof(q)), rule);
		if (!conf_parse_inet_addr_port(v, false, &l->backend, &l->backend_len))
			return conf_fail(x, s, "\"%s\" is not valid: %s",
			                 conf_quote(v, q, sizeof(q)), rule);
	} else {
		if (strncmp(v, "unix:", 5) != 0)
			return conf_fail(
			    x, s,
			    "\"%s\" is not a Unix socket, which handoff \"pass-fd\" needs: %s",
			    conf_quote(v, q, sizeof(q)), rule);
		if (!parse_unix_backend(v, &l->backend, &l->backend_len))
			return conf_fail(x, s, "\"%s\" is not valid: %s",
			                 conf_quote(v, q, sizeof(q)), rule);
		for (size_t i = 0; i < c->n_listeners; i++) {
			const struct conf_listener *o = &c->listeners[i];

			if (o->handoff == CONF_HANDOFF_PASSFD && o->backend_len == l->backend_len &&
			    memcmp(&o->backend, &l->backend, l->backend_len) == 0)
				return conf_fail(
				    x, s,
				    "\"%s\" is already the socket of listeners.[%zu] \"%s\": "
				    "each pass-fd listener needs a socket of its own",
				    conf_quote(v, q, sizeof(q)), i, o->name);
		}
	}

	return 0;
}

static int parse_listener(struct ctx *x, const config_setting_t *g, struct conf *c,
                          struct conf_listener *l)
{
	const config_setting_t *s;
	const char *v = "";
	char q[QUOTE_MAX], names[192];
	long long n;
	int e;

	if (conf_want_group(x, g, "{ name = \"web\"; address = \"192.0.2.1\"; port = 80; ... }") <
	        0 ||
	    conf_check_keys(x, g, listener_keys) < 0)
		return -1;

	if (!(s = config_setting_get_member(g, "name")))
		return conf_fail_missing(x, g, "name", "is required: " NAME_RULE);
	if (conf_want_string(x, s, NAME_RULE, &v) < 0)
		return -1;
	if (!conf_valid_name(v))
		return conf_fail(x, s, "\"%s\" is not valid: must be " NAME_RULE,
		                 conf_quote(v, q, sizeof(q)));
	for (size_t i = 0; i < c->n_listeners; i++)
		if (strcmp(c->listeners[i].name, v) == 0)
			return conf_fail(
			    x, s,
			    "\"%s\" is already the name of listeners.[%zu]: names must "
			    "be unique",
			    v, i);
	memcpy(l->name, v, strlen(v) + 1);

#define ADDRESS_RULE                                                                               \
	"an IPv4 or IPv6 address literal, or 0.0.0.0 or :: for any address, e.g. \"192.0.2.1\" "   \
	"or \"2001:db8::1\""
	if (!(s = config_setting_get_member(g, "address")))
		return conf_fail_missing(x, g, "address", "is required: " ADDRESS_RULE);
	if (conf_want_string(x, s, ADDRESS_RULE, &v) < 0)
		return -1;
	if (inet_pton(AF_INET, v, l->addr) == 1) {
		l->family = AF_INET;
		l->wildcard = conf_all_zero(l->addr, 4);
	} else if (inet_pton(AF_INET6, v, l->addr) == 1) {
		l->family = AF_INET6;
		l->wildcard = conf_all_zero(l->addr, 16);
	} else {
		return conf_fail(x, s, "\"%s\" is not valid: must be " ADDRESS_RULE,
		                 conf_quote(v, q, sizeof(q)));
	}
#undef ADDRESS_RULE

	if (!(s = config_setting_get_member(g, "port")))
		return conf_fail_missing(x, g, "port", "is required: an integer 1..65535");
	if (conf_want_int(x, s, 1, 65535, &n) < 0)
		return -1;
	l->port = (uint16_t)n;
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *o = &c->listeners[i];

		if (o->family == l->family && o->port == l->port &&
		    memcmp(o->addr, l->addr, sizeof(l->addr)) == 0) {
			char a[INET6_ADDRSTRLEN];

			inet_ntop(l->family, l->addr, a, sizeof(a));
			return conf_fail(x, g,
			                 "address %s port %u is already taken by listeners.[%zu] "
			                 "\"%s\": each address and port may have one listener",
			                 a, l->port, i, o->name);
		}
	}

	l->handoff = CONF_HANDOFF_PROXY;
	if ((s = config_setting_get_member(g, "handoff"))) {
		if (conf_want_enum(x, s, handoff_names, &e) < 0)
			return -1;
		l->handoff = (enum conf_handoff)e;
	}

	if (l->handoff == CONF_HANDOFF_LOCAL) {
		if ((s = config_setting_get_member(g, "backend")))
			return conf_fail(
			    x, s,
			    "is not allowed with handoff \"local\": the protected server "
			    "itself listens on the listener's address and port %u; leave "
			    "backend out",
			    l->port);
	} else if (parse_backend(x, g, c, l) < 0) {
		return -1;
	}

	if ((s = config_setting_get_member(g, "proxy_protocol"))) {
		if (conf_want_int(x, s, 0, 2, &n) < 0)
			return -1;
		if (n && l->handoff == CONF_HANDOFF_PASSFD)
			return conf_fail(
			    x, s,
			    "is only allowed with handoff \"proxy\": with \"pass-fd\" the "
			    "backend gets the client's socket itself; use 0 or leave it out");
		if (n && l->handoff == CONF_HANDOFF_LOCAL)
			return conf_fail(
			    x, s,
			    "is only allowed with handoff \"proxy\": with \"local\" the "
			    "server accepts the client's connection itself and sees its "
			    "address; use 0 or leave it out");
		l->proxy_protocol = (uint8_t)n;
	}

	conf_policy_names(c, names, sizeof(names));
	if ((s = config_setting_get_member(g, "policy"))) {
		if (conf_want_string(x, s, "the name of a policy", &v) < 0)
			return -1;
		if ((e = conf_find_policy(c, v)) < 0)
			return conf_fail(x, s, "no policy is named \"%s\": must be one of %s",
			                 conf_quote(v, q, sizeof(q)), names);
	} else if ((e = conf_find_policy(c, DEFAULT_POLICY)) < 0) {
		return conf_fail_missing(x, g, "policy",
		                         "not given and there is no policy \"" DEFAULT_POLICY
		                         "\" to fall back to: must be one of %s",
		                         names);
	}
	l->policy = (size_t)e;
	if (l->handoff != CONF_HANDOFF_LOCAL)
		return 0;
	/* The kernel program sees every packet of the devices it is attached to, forwarded ones
	 * too (containers, virtual machines, routing): only this host's own address is sure to be
	 * this host's. */
	if (l->wildcard)
		return conf_fail(
		    x, config_setting_get_member(g, "address"),
		    "a wildcard address is not allowed with handoff \"local\": the "
		    "kernel program would check traffic to port %u that this host only "
		    "forwards; name the address the server listens on",
		    l->port);
	return check_local_policy(x, s ? s : g, &c->policies[e]);
}

int conf_parse_listeners(struct ctx *x, const config_setting_t *root, const config_setting_t *g,
                         struct conf *c)
{
	int n;

	if (!g)
		return conf_fail_missing(x, root, "listeners",
		                         "is required: a list of at least one listener ( { name = "
		                         "\"web\"; address = \"192.0.2.1\"; port = 80; ... } )");
	if (!config_setting_is_list(g))
		return conf_fail(x, g, "must be a list ( { name = \"web\"; ... }, ... )");
	n = config_setting_length(g);
	if (n < 1)
		return conf_fail(x, g, "is empty: must be a list of at least one listener");
	c->listeners = calloc((size_t)n, sizeof(*c->listeners));
	if (!c->listeners)
		return conf_fail(x, g, "out of memory");
	for (int i = 0; i < n; i++) {
		if (parse_listener(x, config_setting_get_elem(g, (unsigned)i), c,
		                   &c->listeners[i]) < 0)
			return -1;
		c->n_listeners++;
	}
	return 0;
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
