/*
 * iptables/ip6tables rules. See firewall.h.
 *
 * Per family that has listeners, per listener (address A or wildcard, port P),
 * never for loopback traffic:
 *
 *   raw    PREROUTING -> SYNGUARD:      -p tcp -d A --dport P -j CT --notrack
 *   raw    OUTPUT     -> SYNGUARD_OUT:  -p tcp -s A --sport P -j CT --notrack
 *   filter INPUT (1)  -> SYNGUARD:
 *     1. -p tcp -d A --dport P --syn -j NFQUEUE ...                    every SYN to us
 *     2. -p tcp -d A --dport P -m socket --restore-skmark -m mark --mark REPAIR_MARK
 *        -j ACCEPT                                                     handed-off flows
 *     2b. -p tcp -d A --dport P -m socket -j MARK --set-mark FW_SOCKET_MARK
 *                                                                      other sockets
 *     3. -p tcp -d A --dport P --tcp-flags SYN,RST,ACK ACK -j NFQUEUE ...
 *                                                                      handshake ACKs
 *     4. -p tcp -d A --dport P --tcp-flags RST RST -m mark ! --mark FW_SOCKET_MARK
 *        -j NFQUEUE ...            RSTs that met no socket; only for a listener whose
 *                                  policy keeps half-open entries (stateful, auto)
 *
 * A listener with handoff "local" gets rule 1 only: its handshake ACKs are
 * checked by the kernel fast path (TC ingress, fastpath.h) before netfilter,
 * and every later packet belongs to the server's own socket, so nothing but
 * its SYNs is queued; with nothing queued after rule 1 it needs no socket
 * mark either. Its rule 1 skips SYNs the fast path marked FW_TW_MARK (a
 * TIME_WAIT holds their 4-tuple: the kernel's to recycle). Its raw-table
 * rules stay: conntrack never saw the SYN.
 *
 * Why rule 4: the kernel drops a pending request when its client resets it;
 * the daemon does the same with its half-open entry (handshake.h), for which
 * it must see the RST. Cookie-mode listeners keep nothing to drop, and a RST
 * for a socket goes to that socket as before.
 *
 * Why rule 3 ignores FIN: a client that half-closes at once sends its FIN
 * right behind the handshake ACK, before the daemon has built the socket. A
 * FIN outside the queue would meet no socket and draw a kernel RST; in the
 * queue it waits behind its ACK and then reaches the new socket.
 *
 * Why notrack: conntrack never saw the SYN (we dropped it), so it would call
 * our SYN-ACK and the client's ACK INVALID, and a host's `--ctstate INVALID
 * -j DROP` would break every connection. The connections are real kernel
 * sockets, tracked by TCP itself. Inbound and outbound get separate chains so
 * that a direction-less port match never untracks the host's own outgoing
 * connections to port P elsewhere (a wildcard inbound rule also requires a
 * local destination, so forwarded traffic keeps its conntrack and NAT).
 *
 * Why `-m socket` between the two queue rules: once a connection is handed
 * off, its packets match its established socket and go straight in; only
 * packets without a socket (handshake ACKs, ACK floods) reach the daemon.
 * Only sockets the daemon completed carry REPAIR_MARK (repair.h), which the
 * rule copies to the packet (--restore-skmark) and requires. A socket still
 * being built, a TIME_WAIT socket, or anybody else's socket on the port
 * leaves the packet to the queue, marked FW_SOCKET_MARK: the daemon takes a
 * valid handshake ACK as a new connection (a client reusing the 4-tuple of
 * a connection whose server side waits in TIME_WAIT) and lets anything else
 * through to that socket (the client's late FIN to the TIME_WAIT).
 *
 * --queue-bypass only when fail_open: without it a dead daemon means dropped
 * handshakes (fail-closed), with it the kernel takes over (fail-open).
 * --queue-balance hashes on addresses, so every packet of a flow reaches the
 * same queue thread (whose table of recent flows must see them).
 *
 * Installation is one `iptables-restore --noflush` per family: atomic, and
 * declaring our chains empties them. Removal runs single commands whose
 * failure only means "already gone".
 */
#define _GNU_SOURCE /* memfd_create */
#include "firewall.h"
#include "repair.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

#define FW_STR_(x) #x
#define FW_STR(x)  FW_STR_(x)

#define FW_CHAIN     "SYNGUARD"
#define FW_CHAIN_OUT "SYNGUARD_OUT"

struct fw_family {
	int af;
	const char *cmd;     /* iptables / ip6tables */
	const char *restore; /* iptables-restore / ip6tables-restore */
	const char *nft;     /* "ip" / "ip6" in nft expressions */
	const char *host_prefix;
};

static const struct fw_family fw_families[] = {
    {AF_INET, "iptables", "iptables-restore", "ip", "/32"},
    {AF_INET6, "ip6tables", "ip6tables-restore", "ip6", "/128"},
};

/* One rule: table, chain, and the match + target after "-A CHAIN". */
typedef void (*fw_rule_fn)(void *ctx, const char *table, const char *chain, const char *spec);

static bool fw_has_family(const struct conf *c, int af)
{
	for (size_t i = 0; i < c->n_listeners; i++)
		if (c->listeners[i].family == af)
			return true;
	return false;
}

static void fw_queue_target(const struct conf *c, char *buf, size_t len)
{
	const struct conf_daemon *d = &c->daemon;

	if (d->queue_first == d->queue_last)
		snprintf(buf, len, "-j NFQUEUE --queue-num %u%s", d->queue_first,
		         d->fail_open ? " --queue-bypass" : "");
	else
		snprintf(buf, len, "-j NFQUEUE --queue-balance %u:%u%s", d->queue_first,
		         d->queue_last, d->fail_open ? " --queue-bypass" : "");
}

static void fw_addr(const struct fw_family *f, const struct conf_listener *l, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(f->af, l->addr, a, sizeof(a));
	snprintf(buf, len, "%s%s", a, f->host_prefix);
}

/* Rule 4: the listener's policy keeps half-open entries a client's RST retires. */
static bool fw_queues_rst(const struct conf *c, const struct conf_listener *l)
{
	return c->policies[l->policy].mode != CONF_MODE_COOKIE;
}

/* Calls fn for every rule of one family, in the order they must appear in their chain. */
static void fw_rules(const struct conf *c, const struct fw_family *f, fw_rule_fn fn, void *ctx)
{
	char q[96], addr[64], spec[512];

	fw_queue_target(c, q, sizeof(q));
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		char dst[96] = "", src[96] = "";

		if (l->family != f->af)
			continue;
		if (!l->wildcard) {
			fw_addr(f, l, addr, sizeof(addr));
			snprintf(dst, sizeof(dst), " -d %s", addr);
			snprintf(src, sizeof(src), " -s %s", addr);
		}
		snprintf(spec, sizeof(spec), "! -i lo%s -p tcp --dport %u%s -j CT --notrack",
		         l->wildcard ? "" : dst, l->port,
		         l->wildcard ? " -m addrtype --dst-type LOCAL" : "");
		fn(ctx, "raw", FW_CHAIN, spec);
		snprintf(spec, sizeof(spec), "! -o lo%s -p tcp --sport %u -j CT --notrack", src,
		         l->port);
		fn(ctx, "raw", FW_CHAIN_OUT, spec);
	}
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		char dst[96] = "";

		if (l->family != f->af)
			continue;
		if (!l->wildcard) {
			fw_addr(f, l, addr, sizeof(addr));
			snprintf(dst, sizeof(dst), " -d %s", addr);
		}
		if (l->handoff == CONF_HANDOFF_LOCAL) {
			snprintf(spec, sizeof(spec),
			         "! -i lo%s -p tcp --dport %u --syn -m mark ! --mark 0x%x %s", dst,
			         l->port, FW_TW_MARK, q);
			fn(ctx, "filter", FW_CHAIN, spec);
			continue;
		}
		snprintf(spec, sizeof(spec), "! -i lo%s -p tcp --dport %u --syn %s", dst, l->port,
		         q);
		fn(ctx, "filter", FW_CHAIN, spec);
		snprintf(spec, sizeof(spec),
		         "! -i lo%s -p tcp --dport %u -m socket --restore-skmark -m mark --mark "
		         "0x%x -j ACCEPT",
		         dst, l->port, REPAIR_MARK);
		fn(ctx, "filter", FW_CHAIN, spec);
		snprintf(spec, sizeof(spec),
		         "! -i lo%s -p tcp --dport %u -m socket -j MARK --set-mark 0x%x", dst,
		         l->port, FW_SOCKET_MARK);
		fn(ctx, "filter", FW_CHAIN, spec);
		snprintf(spec, sizeof(spec),
		         "! -i lo%s -p tcp --dport %u --tcp-flags SYN,RST,ACK ACK %s", dst, l->port,
		         q);
		fn(ctx, "filter", FW_CHAIN, spec);
		if (!fw_queues_rst(c, l))
			continue;
		snprintf(spec, sizeof(spec),
		         "! -i lo%s -p tcp --dport %u --tcp-flags RST RST -m mark ! --mark 0x%x %s",
		         dst, l->port, FW_SOCKET_MARK, q);
		fn(ctx, "filter", FW_CHAIN, spec);
	}
}

/* The jumps into our chains, inserted first in the built-in chains. */
static const struct {
	const char *table, *from, *to;
} fw_jumps[] = {
    {"raw", "PREROUTING", FW_CHAIN},
    {"raw", "OUTPUT", FW_CHAIN_OUT},
    {"filter", "INPUT", FW_CHAIN},
};

/* ---- iptables-restore input ---- */

struct fw_restore_ctx {
	FILE *out;
	const char *table;
};

static void fw_restore_rule(void *ctx, const char *table, const char *chain, const char *spec)
{
	struct fw_restore_ctx *r = ctx;

	if (strcmp(table, r->table) == 0)
		fprintf(r->out, "-A %s %s\n", chain, spec);
}

/* jumps: also insert the jumps from the built-in chains (a first install; a reload only
 * re-declares, and so empties and refills, our own chains). */
static void fw_restore_text(FILE *out, const struct conf *c, const struct fw_family *f, bool jumps)
{
	static const char *const tables[] = {"raw", "filter"};

	for (size_t t = 0; t < 2; t++) {
		struct fw_restore_ctx r = {out, tables[t]};

		fprintf(out, "*%s\n", tables[t]);
		for (size_t j = 0; j < sizeof(fw_jumps) / sizeof(fw_jumps[0]); j++)
			if (strcmp(fw_jumps[j].table, tables[t]) == 0)
				fprintf(out, ":%s - [0:0]\n", fw_jumps[j].to);
		for (size_t j = 0; jumps && j < sizeof(fw_jumps) / sizeof(fw_jumps[0]); j++)
			if (strcmp(fw_jumps[j].table, tables[t]) == 0)
				fprintf(out, "-I %s 1 -j %s\n", fw_jumps[j].from, fw_jumps[j].to);
		fw_rules(c, f, fw_restore_rule, &r);
		fprintf(out, "COMMIT\n");
	}
}

/* ---- the steps ---- */

static int fw_add_cmd(struct toolseq *q, enum toolseq_kind kind, const struct fw_family *f,
                      const char *table, const char *a1, const char *a2, const char *a3,
                      const char *a4)
{
	const char *const argv[] = {f->cmd, "-w", "-t", table, a1, a2, a3, a4, NULL};

	return toolseq_add(q, kind, argv, -1);
}

static int fw_add_remove_family(struct toolseq *q, const struct fw_family *f)
{
	/* an earlier crash may have left more than one jump */
	for (size_t k = 0; k < sizeof(fw_jumps) / sizeof(fw_jumps[0]); k++)
		if (fw_add_cmd(q, TOOLSEQ_REPEAT, f, fw_jumps[k].table, "-D", fw_jumps[k].from,
		               "-j", fw_jumps[k].to) < 0)
			return -1;
	for (size_t k = 0; k < sizeof(fw_jumps) / sizeof(fw_jumps[0]); k++)
		if (fw_add_cmd(q, TOOLSEQ_TRY, f, fw_jumps[k].table, "-F", fw_jumps[k].to, NULL,
		               NULL) < 0 ||
		    fw_add_cmd(q, TOOLSEQ_TRY, f, fw_jumps[k].table, "-X", fw_jumps[k].to, NULL,
		               NULL) < 0)
			return -1;
	return 0;
}

/* The ruleset goes into a memfd now: the sequence does not keep the configuration. */
static int fw_add_restore(struct toolseq *q, const struct conf *c, const struct fw_family *f,
                          bool jumps, char *err, size_t errlen)
{
	const char *const argv[] = {f->restore, "-w", "--noflush", NULL};
	FILE *in;
	int fd;

	fd = memfd_create("synguard-fw-rules", MFD_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "memfd_create: %s", strerror(errno));
		return -1;
	}
	in = fdopen(dup(fd), "w");
	if (in == NULL) {
		snprintf(err, errlen, "fdopen: %s", strerror(errno));
		close(fd);
		return -1;
	}
	fw_restore_text(in, c, f, jumps);
	if (fclose(in) != 0) {
		snprintf(err, errlen, "writing the ruleset: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (toolseq_add(q, TOOLSEQ_MUST, argv, fd) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int fw_add_remove_all(struct toolseq *q)
{
	for (size_t i = 0; i < sizeof(fw_families) / sizeof(fw_families[0]); i++)
		if (fw_add_remove_family(q, &fw_families[i]) < 0)
			return -1;
	return 0;
}

void fw_remove(void)
{
	struct toolseq *q = toolseq_new();
	char err[64];

	if (!q || fw_add_remove_all(q) < 0)
		log_warnx("firewall: out of memory: rules not removed");
	else
		(void)toolseq_run(q, err, sizeof(err));
	toolseq_free(q);
}

int fw_install(const struct conf *c, char *err, size_t errlen)
{
	struct toolseq *q = toolseq_new();
	int rc = -1;

	if (!q || fw_add_remove_all(q) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < sizeof(fw_families) / sizeof(fw_families[0]); i++) {
		const struct fw_family *f = &fw_families[i];

		if (!fw_has_family(c, f->af))
			continue;
		if (fw_add_restore(q, c, f, true, err, errlen) < 0)
			goto out;
		toolseq_note(q, "%s: rules installed in chains " FW_CHAIN " and " FW_CHAIN_OUT,
		             f->cmd);
	}
	rc = toolseq_run(q, err, errlen);
out:
	toolseq_free(q);
	return rc;
}

struct toolseq *fw_update_seq(const struct conf *old, const struct conf *c, char *err,
                              size_t errlen)
{
	struct toolseq *q = toolseq_new();

	if (!q) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < sizeof(fw_families) / sizeof(fw_families[0]); i++) {
		const struct fw_family *f = &fw_families[i];
		bool had = fw_has_family(old, f->af), has = fw_has_family(c, f->af);

		if (had && !has) {
			if (fw_add_remove_family(q, f) < 0)
				goto nomem;
			toolseq_note(q, "%s: no listener of this family left: rules removed",
			             f->cmd);
		} else if (has) {
			/* a family that appears: stale rules of an earlier run go first */
			if (!had && fw_add_remove_family(q, f) < 0)
				goto nomem;
			if (fw_add_restore(q, c, f, !had, err, errlen) < 0) {
				toolseq_free(q);
				return NULL;
			}
			toolseq_note(q, "%s: rules %s", f->cmd, had ? "updated" : "installed");
		}
	}
	return q;
nomem:
	snprintf(err, errlen, "out of memory");
	toolseq_free(q);
	return NULL;
}

/* ---- printing ---- */

struct fw_print_ctx {
	FILE *out;
	const struct fw_family *f;
};

static void fw_print_rule(void *ctx, const char *table, const char *chain, const char *spec)
{
	struct fw_print_ctx *p = ctx;

	fprintf(p->out, "%s -w -t %s -A %s %s\n", p->f->cmd, table, chain, spec);
}

static void fw_nft_match(FILE *out, const struct fw_family *f, const struct conf_listener *l,
                         bool inbound)
{
	char a[INET6_ADDRSTRLEN];

	if (l->wildcard) {
		fprintf(out, "meta nfproto %s ", f->af == AF_INET ? "ipv4" : "ipv6");
		if (inbound)
			fprintf(out, "fib daddr type local ");
		return;
	}
	inet_ntop(f->af, l->addr, a, sizeof(a));
	fprintf(out, "%s %s %s ", f->nft, inbound ? "daddr" : "saddr", a);
}

static void fw_print_nft(FILE *out, const struct conf *c)
{
	const struct conf_daemon *d = &c->daemon;
	char q[64];

	if (d->queue_first == d->queue_last)
		snprintf(q, sizeof(q), "queue num %u%s", d->queue_first,
		         d->fail_open ? " bypass" : "");
	else
		snprintf(q, sizeof(q), "queue num %u-%u%s", d->queue_first, d->queue_last,
		         d->fail_open ? " bypass" : "");

	fprintf(out, "#\n# Equivalent nftables ruleset, for hosts whose kernel has the nft queue\n"
	             "# statement (CONFIG_NFT_QUEUE); the daemon does not install it. Checked\n"
	             "# with nft -c, not run with traffic. Note that an accept in this table\n"
	             "# does not skip other base chains on the same hook.\n#\n");
	fprintf(out, "# table inet synguard {\n");
	fprintf(out, "# \tchain prerouting {\n#\t\ttype filter hook prerouting priority -300; "
	             "policy accept;\n");
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		const struct fw_family *f = &fw_families[l->family == AF_INET6];

		fprintf(out, "# \t\tiifname != \"lo\" ");
		fw_nft_match(out, f, l, true);
		fprintf(out, "tcp dport %u notrack\n", l->port);
	}
	fprintf(out, "# \t}\n# \tchain output {\n#\t\ttype filter hook output priority -300; "
	             "policy accept;\n");
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		const struct fw_family *f = &fw_families[l->family == AF_INET6];

		fprintf(out, "# \t\toifname != \"lo\" ");
		fw_nft_match(out, f, l, false);
		fprintf(out, "tcp sport %u notrack\n", l->port);
	}
	fprintf(out, "# \t}\n# \tchain input {\n#\t\ttype filter hook input priority -1; "
	             "policy accept;\n");
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		const struct fw_family *f = &fw_families[l->family == AF_INET6];
		static const char *const tails[] = {
		    "tcp flags & (fin|syn|rst|ack) == syn ",
		    "socket mark " FW_STR(REPAIR_MARK) " accept",
		    "socket wildcard 0 meta mark set " FW_STR(FW_SOCKET_MARK),
		    "tcp flags & (fin|syn|rst|ack) == ack ",
		    "tcp flags & rst == rst meta mark != " FW_STR(FW_SOCKET_MARK) " ",
		};

		size_t n_rules = l->handoff == CONF_HANDOFF_LOCAL ? 1 : fw_queues_rst(c, l) ? 5 : 4;

		if (l->handoff == CONF_HANDOFF_LOCAL) {
			fprintf(out, "# \t\tiifname != \"lo\" ");
			if (!l->wildcard)
				fw_nft_match(out, f, l, true);
			else
				fprintf(out, "meta nfproto %s ",
				        f->af == AF_INET ? "ipv4" : "ipv6");
			fprintf(out, "tcp dport %u %smeta mark != " FW_STR(FW_TW_MARK) " %s\n",
			        l->port, tails[0], q);
			continue;
		}
		for (size_t k = 0; k < n_rules; k++) {
			fprintf(out, "# \t\tiifname != \"lo\" ");
			if (!l->wildcard)
				fw_nft_match(out, f, l, true);
			else
				fprintf(out, "meta nfproto %s ",
				        f->af == AF_INET ? "ipv4" : "ipv6");
			fprintf(out, "tcp dport %u %s%s\n", l->port, tails[k],
			        k == 0 || k >= 3 ? q : "");
		}
	}
	fprintf(out, "# \t}\n# }\n");
}

void fw_print(FILE *out, const struct conf *c)
{
	fprintf(out,
	        "# synguard firewall rules: what synguardd installs at start (atomically, per\n"
	        "# family, with iptables-restore --noflush) and removes at exit.\n");
	for (size_t i = 0; i < sizeof(fw_families) / sizeof(fw_families[0]); i++) {
		const struct fw_family *f = &fw_families[i];
		struct fw_print_ctx p = {out, f};

		if (!fw_has_family(c, f->af))
			continue;
		for (size_t j = 0; j < sizeof(fw_jumps) / sizeof(fw_jumps[0]); j++)
			fprintf(out, "%s -w -t %s -N %s\n", f->cmd, fw_jumps[j].table,
			        fw_jumps[j].to);
		for (size_t j = 0; j < sizeof(fw_jumps) / sizeof(fw_jumps[0]); j++)
			fprintf(out, "%s -w -t %s -I %s 1 -j %s\n", f->cmd, fw_jumps[j].table,
			        fw_jumps[j].from, fw_jumps[j].to);
		fw_rules(c, f, fw_print_rule, &p);
	}
	fw_print_nft(out, c);
}
