/*
 * Privilege drop and its verification. See privdrop.h.
 *
 * libcap sets the capability sets (capset's versioned structs are its
 * business); the bounding and ambient sets and no_new_privs are plain
 * prctl calls. Verification reads /proc/self/status, an independent view
 * of what the kernel really holds, with the same parser the tests use.
 */
#define _GNU_SOURCE
#include "privdrop.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sockutil.h"

#define STATUS_MAX 8192

/* ---- pure part ----------------------------------------------------------- */

static const char *const cap_names[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

#define N_CAP_NAMES (sizeof(cap_names) / sizeof(cap_names[0]))

void privdrop_caps_str(uint64_t caps, char *buf, size_t len)
{
	size_t n = 0;

	if (!len)
		return;
	buf[0] = '\0';
	if (!caps) {
		snprintf(buf, len, "none");
		return;
	}
	for (unsigned i = 0; i < 64 && n + 1 < len; i++) {
		int w;

		if (!(caps & (1ULL << i)))
			continue;
		if (i < N_CAP_NAMES)
			w = snprintf(buf + n, len - n, "%s%s", n ? " " : "", cap_names[i]);
		else
			w = snprintf(buf + n, len - n, "%scap_%u", n ? " " : "", i);
		if (w < 0)
			break;
		n += (size_t)w;
		if (n >= len)
			n = len - 1;
	}
}

/* "\t1000\t1000\t1000\t1000" into four ids. */
static int parse_ids(const char *p, unsigned long v[4])
{
	for (int i = 0; i < 4; i++) {
		char *end;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			return -1;
		errno = 0;
		v[i] = strtoul(p, &end, 10);
		if (errno || end == p)
			return -1;
		p = end;
	}
	return 0;
}

static int parse_hex64(const char *p, uint64_t *out)
{
	char *end;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
		return -1;
	errno = 0;
	*out = strtoull(p, &end, 16);
	if (errno || (*end != '\n' && *end != '\0' && *end != ' ' && *end != '\t'))
		return -1;
	return 0;
}

static int parse_groups(const char *p, struct privdrop_creds *out)
{
	out->n_groups = 0;
	for (;;) {
		char *end;
		unsigned long g;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\n' || *p == '\0')
			return 0;
		errno = 0;
		g = strtoul(p, &end, 10);
		if (errno || end == p)
			return -1;
		if (out->n_groups < PRIVDROP_GROUPS_MAX)
			out->groups[out->n_groups] = (gid_t)g;
		out->n_groups++;
		p = end;
	}
}

int privdrop_parse_status(const char *text, struct privdrop_creds *out, char *err, size_t errlen)
{
	enum { F_UID, F_GID, F_GROUPS, F_INH, F_PRM, F_EFF, F_BND, F_AMB, F_NNP, F_MAX };
	static const char *const keys[F_MAX] = {
	    "Uid:",    "Gid:",    "Groups:", "CapInh:",    "CapPrm:",
	    "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:"};
	bool seen[F_MAX] = {false};
	const char *line = text;

	memset(out, 0, sizeof(*out));
	while (line && *line) {
		const char *next = strchr(line, '\n');

		for (int f = 0; f < F_MAX; f++) {
			size_t kl = strlen(keys[f]);
			const char *v = line + kl;
			unsigned long ids[4];
			uint64_t *capp = NULL;
			int r = 0;

			if (strncmp(line, keys[f], kl) != 0)
				continue;
			switch (f) {
			case F_UID:
			case F_GID:
				r = parse_ids(v, ids);
				for (int i = 0; i < 4 && r == 0; i++) {
					if (f == F_UID)
						out->uid[i] = (uid_t)ids[i];
					else
						out->gid[i] = (gid_t)ids[i];
				}
				break;
			case F_GROUPS:
				r = parse_groups(v, out);
				break;
			case F_NNP:
				while (*v == ' ' || *v == '\t')
					v++;
				if (*v != '0' && *v != '1')
					r = -1;
				out->no_new_privs = *v == '1';
				break;
			default:
				capp = f == F_INH   ? &out->cap_inh
				       : f == F_PRM ? &out->cap_prm
				       : f == F_EFF ? &out->cap_eff
				       : f == F_BND ? &out->cap_bnd
				                    : &out->cap_amb;
				r = parse_hex64(v, capp);
				break;
			}
			if (r < 0) {
				snprintf(err, errlen, "status: cannot parse the \"%s\" line",
				         keys[f]);
				return -1;
			}
			seen[f] = true;
			break;
		}
		line = next ? next + 1 : NULL;
	}
	for (int f = 0; f < F_MAX; f++) {
		if (!seen[f]) {
			snprintf(err, errlen, "status: no \"%s\" line", keys[f]);
			return -1;
		}
	}
	return 0;
}

int privdrop_check_needed(const struct privdrop_creds *c, const struct privdrop_want *want,
                          char *err, size_t errlen)
{
	char names[256];
	uint64_t missing = want->caps & ~c->cap_eff;

	if (missing) {
		privdrop_caps_str(missing, names, sizeof(names));
		snprintf(err, errlen,
		         "the process lacks %s: start it as root, or grant it (systemd: "
		         "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE)",
		         names);
		return -1;
	}
	missing = want->ambient & ~c->cap_amb;
	if (missing) {
		privdrop_caps_str(missing, names, sizeof(names));
		snprintf(err, errlen,
		         "%s not in the ambient set: iptables, which the daemon runs, would not "
		         "get it (systemd: AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW), or set "
		         "daemon.firewall = \"none\" and install the rules yourself",
		         names);
		return -1;
	}
	return 0;
}

static int extra(const char *set, uint64_t have, uint64_t allowed, char *err, size_t errlen)
{
	char names[512];

	if (!(have & ~allowed))
		return 0;
	privdrop_caps_str(have & ~allowed, names, sizeof(names));
	snprintf(err, errlen, "%s capability set holds more than needed: %s", set, names);
	return -1;
}

int privdrop_check_exact(const struct privdrop_creds *c, const struct privdrop_want *want,
                         char *err, size_t errlen)
{
	for (int i = 0; i < 4; i++) {
		if (c->uid[i] != want->uid) {
			snprintf(err, errlen, "uids are %u/%u/%u/%u, expected %u everywhere",
			         (unsigned)c->uid[0], (unsigned)c->uid[1], (unsigned)c->uid[2],
			         (unsigned)c->uid[3], (unsigned)want->uid);
			return -1;
		}
		if (c->gid[i] != want->gid) {
			snprintf(err, errlen, "gids are %u/%u/%u/%u, expected %u everywhere",
			         (unsigned)c->gid[0], (unsigned)c->gid[1], (unsigned)c->gid[2],
			         (unsigned)c->gid[3], (unsigned)want->gid);
			return -1;
		}
	}
	for (size_t i = 0; i < c->n_groups; i++) {
		gid_t g = i < PRIVDROP_GROUPS_MAX ? c->groups[i] : (gid_t)-1;

		if (g != want->gid) {
			snprintf(err, errlen, "supplementary group %u kept (only %u is expected)",
			         (unsigned)g, (unsigned)want->gid);
			return -1;
		}
	}
	if (extra("effective", c->cap_eff, want->caps_max, err, errlen) < 0 ||
	    extra("permitted", c->cap_prm, want->caps_max, err, errlen) < 0 ||
	    extra("bounding", c->cap_bnd, want->caps_max | want->bounding_extra, err, errlen) < 0 ||
	    extra("ambient", c->cap_amb, want->ambient_max, err, errlen) < 0 ||
	    extra("inheritable", c->cap_inh, want->ambient_max, err, errlen) < 0)
		return -1;
	if (privdrop_check_needed(c, want, err, errlen) < 0)
		return -1;
	if ((c->cap_prm & want->caps) != want->caps) {
		snprintf(err, errlen, "permitted set lacks what the effective set holds");
		return -1;
	}
	if (!c->no_new_privs) {
		snprintf(err, errlen, "no_new_privs is not set");
		return -1;
	}
	return 0;
}

uint64_t privdrop_needed_caps(const struct conf *c, unsigned unprivileged_port_start)
{
	uint64_t caps = PRIVDROP_CAPS_BASE;
	const struct sockaddr *m = (const struct sockaddr *)&c->daemon.metrics;
	unsigned mport = 0;

	if (c->daemon.metrics_len && m->sa_family == AF_INET)
		mport = ntohs(((const struct sockaddr_in *)m)->sin_port);
	else if (c->daemon.metrics_len && m->sa_family == AF_INET6)
		mport = ntohs(((const struct sockaddr_in6 *)m)->sin6_port);
	if (mport && mport < unprivileged_port_start)
		caps |= 1ULL << PRIVDROP_CAP_NET_BIND_SERVICE;
	for (size_t i = 0; i < c->n_listeners; i++)
		if (c->listeners[i].port < unprivileged_port_start)
			caps |= 1ULL << PRIVDROP_CAP_NET_BIND_SERVICE;
	return caps;
}

bool privdrop_may(const struct stat *st, uid_t uid, gid_t gid, int bits)
{
	mode_t m = st->st_mode;
	mode_t need = 0;

	if (st->st_uid == uid) {
		need = (bits & R_OK ? S_IRUSR : 0) | (bits & W_OK ? S_IWUSR : 0) |
		       (bits & X_OK ? S_IXUSR : 0);
	} else if (st->st_gid == gid) {
		need = (bits & R_OK ? S_IRGRP : 0) | (bits & W_OK ? S_IWGRP : 0) |
		       (bits & X_OK ? S_IXGRP : 0);
	} else {
		need = (bits & R_OK ? S_IROTH : 0) | (bits & W_OK ? S_IWOTH : 0) |
		       (bits & X_OK ? S_IXOTH : 0);
	}
	return (m & need) == need;
}

/* ---- the process --------------------------------------------------------- */

static int read_status(struct privdrop_creds *c, char *err, size_t errlen)
{
	char buf[STATUS_MAX];
	size_t got = 0;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "/proc/self/status: %s", strerror(errno));
		return -1;
	}
	while (got < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "/proc/self/status: %s", strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return privdrop_parse_status(buf, c, err, errlen);
}

/* The user must be able to reach `dir` (search every ancestor) and create files in it. */
static int check_dir_for_user(const char *dir, const char *user, uid_t uid, gid_t gid, char *err,
                              size_t errlen)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s", dir);
	if (stat(p, &st) < 0) {
		snprintf(err, errlen, "%s: %s", p, strerror(errno));
		return -1;
	}
	if (!privdrop_may(&st, uid, gid, W_OK | X_OK)) {
		snprintf(err, errlen,
		         "directory %s (owner %u, group %u, mode %04o) is not writable by user %s: "
		         "remove it so that the daemon creates it, or give it to that user",
		         p, (unsigned)st.st_uid, (unsigned)st.st_gid,
		         (unsigned)(st.st_mode & 07777), user);
		return -1;
	}
	for (char *slash = strrchr(p, '/'); slash; slash = strrchr(p, '/')) {
		if (slash == p)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(p, &st) < 0) {
			snprintf(err, errlen, "%s: %s", p, strerror(errno));
			return -1;
		}
		if (!privdrop_may(&st, uid, gid, X_OK)) {
			snprintf(
			    err, errlen,
			    "directory %s (owner %u, mode %04o) cannot be searched by user %s, "
			    "so %s cannot be reached",
			    p, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), user, dir);
			return -1;
		}
		if (slash == p)
			break;
	}
	return 0;
}

static void dir_of(const char *path, char *dir, size_t len)
{
	char *slash;

	snprintf(dir, len, "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
}

/*
 * As root, for the user: the control socket's directory is created like
 * systemd's RuntimeDirectory= (mode 0750, owned by the user, so that members
 * of its group may use synguardctl); pass-fd socket directories must already
 * allow the user to create sockets. An existing directory is never changed.
 */
static int prepare_dirs(const struct conf *conf, const struct passwd *pw, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	int r;

	dir_of(conf->daemon.control_socket, dir, sizeof(dir));
	r = sock_mkdir_p(dir, 0750, err, errlen);
	if (r < 0)
		return -1;
	if (r == 1) {
		if (chown(dir, pw->pw_uid, pw->pw_gid) < 0) {
			snprintf(err, errlen, "chown %s: %s", dir, strerror(errno));
			return -1;
		}
		log_info("created %s for user %s", dir, pw->pw_name);
	}
	if (check_dir_for_user(dir, pw->pw_name, pw->pw_uid, pw->pw_gid, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < conf->n_listeners; i++) {
		const struct conf_listener *l = &conf->listeners[i];
		const struct sockaddr_un *un = (const struct sockaddr_un *)&l->backend;

		if (l->handoff != CONF_HANDOFF_PASSFD || un->sun_path[0] != '/')
			continue;
		dir_of(un->sun_path, dir, sizeof(dir));
		if (check_dir_for_user(dir, pw->pw_name, pw->pw_uid, pw->pw_gid, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int trim_bounding_set(uint64_t keep, char *err, size_t errlen)
{
	for (unsigned long cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
			break; /* past the kernel's last capability */
		if (keep & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			snprintf(err, errlen, "dropping capability %lu from the bounding set: %s",
			         cap, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int set_caps(uint64_t caps, uint64_t ambient, char *err, size_t errlen)
{
	cap_value_t list[64], inh[64];
	int n = 0, ni = 0, r;
	cap_t c = cap_init();

	if (!c) {
		snprintf(err, errlen, "cap_init: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < 64; i++) {
		if (caps & (1ULL << i))
			list[n++] = i;
		if (ambient & (1ULL << i))
			inh[ni++] = i;
	}
	r = cap_set_flag(c, CAP_PERMITTED, n, list, CAP_SET);
	if (r == 0)
		r = cap_set_flag(c, CAP_EFFECTIVE, n, list, CAP_SET);
	if (r == 0 && ni)
		r = cap_set_flag(c, CAP_INHERITABLE, ni, inh, CAP_SET);
	if (r == 0)
		r = cap_set_proc(c);
	if (r < 0)
		snprintf(err, errlen, "setting capabilities: %s", strerror(errno));
	cap_free(c);
	if (r < 0)
		return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
		snprintf(err, errlen, "clearing the ambient set: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < ni; i++) {
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long)inh[i], 0, 0) < 0) {
			snprintf(err, errlen, "raising ambient capability %d: %s", inh[i],
			         strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Whatever the sets say: the process must not get root back. */
static int check_no_way_back(char *err, size_t errlen)
{
	if (setuid(0) == 0 || setgid(0) == 0) {
		snprintf(err, errlen, "setuid(0) or setgid(0) succeeded after the drop");
		return -1;
	}
	if (errno != EPERM) {
		snprintf(err, errlen, "setuid(0)/setgid(0) failed with %s, not EPERM",
		         strerror(errno));
		return -1;
	}
	return 0;
}

static int drop_to(const struct passwd *pw, const struct privdrop_want *want, char *err,
                   size_t errlen)
{
	struct privdrop_creds c;

	if (trim_bounding_set(want->caps_max, err, errlen) < 0)
		return -1;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "PR_SET_KEEPCAPS: %s", strerror(errno));
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
		snprintf(err, errlen, "switching to user %s: %s", pw->pw_name, strerror(errno));
		return -1;
	}
	if (set_caps(want->caps, want->ambient, err, errlen) < 0)
		return -1;
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "prctl: %s", strerror(errno));
		return -1;
	}
	if (read_status(&c, err, errlen) < 0)
		return -1;
	if (privdrop_check_exact(&c, want, err, errlen) < 0)
		return -1;
	return check_no_way_back(err, errlen);
}

/* Not root: nothing to change; what is missing is fatal, what is extra is reported. */
static int verify_as_is(const struct conf *conf, struct privdrop_want *want, char *err,
                        size_t errlen)
{
	struct privdrop_creds c;
	struct passwd *pw;
	char names[256], why[512];

	if (read_status(&c, err, errlen) < 0)
		return -1;
	if (privdrop_check_needed(&c, want, err, errlen) < 0)
		return -1;
	if (privdrop_check_exact(&c, want, why, sizeof(why)) < 0)
		log_warnx("privileges: %s", why);
	if (c.uid[0] == 0 || c.uid[1] == 0) {
		log_warnx("privileges: running with uid 0 but not as root");
	} else if (check_no_way_back(why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	pw = getpwuid(c.uid[1]);
	if (!pw || strcmp(pw->pw_name, conf->daemon.user) != 0)
		log_warnx("privileges: running as %s (uid %u), not daemon.user \"%s\": kept",
		          pw ? pw->pw_name : "?", (unsigned)c.uid[1], conf->daemon.user);
	privdrop_caps_str(c.cap_eff, names, sizeof(names));
	log_info("privileges: started as uid %u, capabilities %s", (unsigned)c.uid[1], names);
	return 0;
}

/* True when the process holds v in its effective, permitted, inheritable or ambient set. */
static bool holds_cap(cap_t caps, cap_value_t v)
{
	static const cap_flag_t sets[] = {CAP_EFFECTIVE, CAP_PERMITTED, CAP_INHERITABLE};
	cap_flag_value_t on;

	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
		if (cap_get_flag(caps, v, sets[i], &on) == 0 && on == CAP_SET)
			return true;
	return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, v, 0, 0) == 1;
}

/*
 * CAP_BPF and CAP_PERFMON out of every set this process can change. Nothing to
 * do, and no capset(2), when it holds neither: the unit's system-call filter
 * denies capset (@privileged), and only the local-handoff drop-in, which grants
 * the two, allows it back.
 */
static int drop_bpf_caps(char *err, size_t errlen)
{
	static const cap_value_t bpf_caps[] = {CAP_BPF, CAP_PERFMON};
	cap_t caps;
	int rc;

	caps = cap_get_proc();
	if (!caps) {
		snprintf(err, errlen, "cap_get_proc: %s", strerror(errno));
		return -1;
	}
	rc = holds_cap(caps, CAP_BPF) || holds_cap(caps, CAP_PERFMON);
	cap_free(caps);
	if (!rc)
		return 0;

	for (size_t i = 0; i < 2; i++)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, bpf_caps[i], 0, 0) < 0 &&
		    errno != EINVAL) {
			snprintf(err, errlen, "lowering the ambient %s: %s", cap_names[bpf_caps[i]],
			         strerror(errno));
			return -1;
		}
	caps = cap_get_proc();
	if (!caps) {
		snprintf(err, errlen, "cap_get_proc: %s", strerror(errno));
		return -1;
	}
	rc = cap_set_flag(caps, CAP_EFFECTIVE, 2, bpf_caps, CAP_CLEAR) < 0 ||
	             cap_set_flag(caps, CAP_PERMITTED, 2, bpf_caps, CAP_CLEAR) < 0 ||
	             cap_set_flag(caps, CAP_INHERITABLE, 2, bpf_caps, CAP_CLEAR) < 0 ||
	             cap_set_proc(caps) < 0
	         ? -1
	         : 0;
	if (rc < 0)
		snprintf(err, errlen, "dropping CAP_BPF and CAP_PERFMON: %s", strerror(errno));
	cap_free(caps);
	return rc;
}

/* net.ipv4.ip_unprivileged_port_start; the kernel's default when unreadable. */
static unsigned unprivileged_port_start(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");
	unsigned v = 1024;

	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 1024;
		fclose(f);
	}
	return v;
}

int privdrop_run(const struct conf *conf, char *err, size_t errlen)
{
	struct privdrop_want want = {
	    .caps = privdrop_needed_caps(conf, unprivileged_port_start()),
	    .ambient = conf->daemon.firewall == CONF_FW_IPTABLES ? PRIVDROP_CAPS_BASE : 0,
	};
	struct passwd *pw;
	char names[256];

	if (getuid() != 0 && geteuid() != 0) {
		/* The kernel programs are loaded by now (fastpath.h, xdppath.h); their map updates
		 * need no capability. The unit grants CAP_BPF and CAP_PERFMON for that load only.
		 */
		if (drop_bpf_caps(err, errlen) < 0)
			return -1;
		/* what the systemd unit grants is fine, even if this configuration needs less */
		want.uid = geteuid();
		want.gid = getegid();
		want.caps_max = PRIVDROP_CAPS_MAX;
		want.ambient_max = PRIVDROP_CAPS_MAX;
		for (size_t i = 0; i < conf->n_listeners; i++)
			if (conf->listeners[i].handoff == CONF_HANDOFF_LOCAL)
				want.bounding_extra = 1ULL << CAP_BPF | 1ULL << CAP_PERFMON;
		/* datapath "xdp" loads its program with the same drop-in */
		if (conf->daemon.datapath == CONF_DATAPATH_XDP)
			want.bounding_extra = 1ULL << CAP_BPF | 1ULL << CAP_PERFMON;
		return verify_as_is(conf, &want, err, errlen);
	}
	want.caps_max = want.caps;
	want.ambient_max = want.ambient;

	errno = 0;
	pw = getpwnam(conf->daemon.user);
	if (!pw) {
		if (errno)
			snprintf(err, errlen, "daemon.user \"%s\": looking it up: %s",
			         conf->daemon.user, strerror(errno));
		else
			snprintf(err, errlen,
			         "daemon.user \"%s\" does not exist: create it (systemd-sysusers "
			         "synguard.conf, or useradd --system --no-create-home --shell "
			         "/usr/sbin/nologin %s), or name another user in daemon.user",
			         conf->daemon.user, conf->daemon.user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		privdrop_caps_str(want.caps, names, sizeof(names));
		log_warnx("privileges: daemon.user \"%s\" is root: the daemon keeps every "
		          "privilege (it needs only %s)",
		          conf->daemon.user, names);
		return 0;
	}
	if (pw->pw_gid == 0) {
		snprintf(err, errlen,
		         "daemon.user \"%s\" has group root (gid 0): give it a group of "
		         "its own",
		         conf->daemon.user);
		return -1;
	}
	want.uid = pw->pw_uid;
	want.gid = pw->pw_gid;
	if (prepare_dirs(conf, pw, err, errlen) < 0)
		return -1;
	if (drop_to(pw, &want, err, errlen) < 0)
		return -1;
	privdrop_caps_str(want.caps, names, sizeof(names));
	log_info("privileges: now user %s (uid %u, gid %u) with %s%s", pw->pw_name,
	         (unsigned)pw->pw_uid, (unsigned)pw->pw_gid, names,
	         want.ambient ? " (CAP_NET_ADMIN CAP_NET_RAW ambient, for iptables)" : "");
	return 0;
}
