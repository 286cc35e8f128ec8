#include "sockutil.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

socklen_t sock_addr_from_tuple(struct sockaddr_storage *ss, const struct pkt_tuple *t, bool server)
{
	const uint8_t *addr = server ? t->daddr : t->saddr;
	uint16_t port = server ? t->dport : t->sport;

	memset(ss, 0, sizeof(*ss));
	if (t->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, addr, 4);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	memcpy(&sin6->sin6_addr, addr, 16);
	return sizeof(*sin6);
}

void sock_close_reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (fd < 0)
		return;
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

void sock_keepalive(int fd, const struct conf_keepalive *k)
{
	int on = 1, idle = (int)k->idle, intvl = (int)k->interval, cnt = (int)k->count;

	if (fd < 0 || k->idle == 0)
		return;
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

void sock_nodelay(int fd)
{
	int on = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

/*
 * Clears the way for a socket at path: nothing there, or a socket nobody answers. Only
 * ECONNREFUSED proves nobody listens; any other failure (EACCES, EAGAIN of a full
 * backlog...) may hide a live daemon, so the file stays.
 */
static int clear_stale(const struct sockaddr_un *sun, socklen_t len, const char *path, char *err,
                       size_t errlen)
{
	struct stat st;
	int s, r, e;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s: exists and is not a socket", path);
		return -1;
	}
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	r = connect(s, (const struct sockaddr *)sun, len);
	e = errno;
	close(s);
	if (r == 0) {
		snprintf(err, errlen, "%s: in use by another process", path);
		return -1;
	}
	if (e != ECONNREFUSED) {
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: cannot remove stale socket: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int sock_unix_listen(const struct sockaddr_un *sun, socklen_t len, mode_t mode, int backlog,
                     struct stat *st, char *err, size_t errlen)
{
	char path[sizeof(sun->sun_path) + 1] = "";
	struct stat mine = {0};
	bool on_disk;
	int fd;

	if (sun->sun_family != AF_UNIX || len <= offsetof(struct sockaddr_un, sun_path) ||
	    len > sizeof(*sun)) {
		snprintf(err, errlen, "not a unix socket address");
		return -1;
	}
	/* sun_path need not be NUL terminated when it is full */
	memcpy(path, sun->sun_path,
	       strnlen(sun->sun_path, len - offsetof(struct sockaddr_un, sun_path)));
	on_disk = path[0] != '\0';
	if (on_disk && clear_stale(sun, len, path, err, errlen) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* bind creates the file with the socket inode's mode less the umask: set it first, so
	 * the file never has a wider mode than asked for. */
	(void)fchmod(fd, mode);
	if (bind(fd, (const struct sockaddr *)sun, len) < 0) {
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	/* The umask may have narrowed it: the exact mode before listen(), since until then a
	 * connect is refused whatever the mode. */
	if (on_disk && (chmod(path, mode) < 0 || lstat(path, &mine) < 0)) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		goto fail;
	}
	if (listen(fd, backlog) < 0) {
		snprintf(err, errlen, "listen %s: %s", path, strerror(errno));
		goto fail;
	}
	if (st)
		*st = mine;
	return fd;
fail:
	close(fd);
	if (on_disk)
		sock_unix_unlink(path, &mine);
	return -1;
}

void sock_unix_unlink(const char *path, const struct stat *st)
{
	struct stat now;

	if (!path[0] || st->st_ino == 0)
		return;
	if (lstat(path, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino)
		unlink(path);
}

int sock_mkdir_p(const char *dir, mode_t mode, char *err, size_t errlen)
{
	char p[PATH_MAX];
	struct stat st;
	int created = 0;

	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p)) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -1;
	}
	if (!p[0]) {
		snprintf(err, errlen, "empty directory name");
		return -1;
	}
	for (char *s = p + 1;; s++) {
		bool last = *s == '\0' || (s[0] == '/' && s[1] == '\0');

		if (*s != '/' && *s != '\0')
			continue;
		*s = '\0';
		if (mkdir(p, last ? mode : 0755) == 0) {
			created = last;
		} else if (errno != EEXIST) {
			snprintf(err, errlen, "cannot create directory %s: %s", p, strerror(errno));
			return -1;
		}
		if (last)
			break;
		*s = '/';
	}
	if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", p);
		return -1;
	}
	return created;
}

int sock_sysctl_ipv4(const char *name)
{
	char path[64];
	FILE *f;
	int v = -1;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/%s", name);
	if ((f = fopen(path, "re"))) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}
