/*
 * Socket and file helpers without root: addresses from a tuple, a reset
 * close and keepalive on loopback TCP, the Unix listening socket over a
 * stale socket file, a live one and a regular file (in a temporary
 * directory), mkdir -p with a mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sockutil.h"

static char dir[256];

static int setup(void **state)
{
	const char *base = getenv("SG_TEST_DIR");

	(void)state;
	snprintf(dir, sizeof(dir), "%s/test_sockutil.XXXXXX", base ? base : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_in(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static struct sockaddr_un unix_addr(const char *path, socklen_t *len)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	assert_true(strlen(path) < sizeof(sun.sun_path));
	strcpy(sun.sun_path, path);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
	return sun;
}

static void test_addr_from_tuple(void **state)
{
	(void)state;
	struct pkt_tuple t;
	struct sockaddr_storage ss;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
	uint8_t want[16];

	memset(&t, 0, sizeof(t));
	t.family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", t.saddr);
	inet_pton(AF_INET, "198.51.100.2", t.daddr);
	t.sport = 40000;
	t.dport = 80;
	assert_int_equal(sock_addr_from_tuple(&ss, &t, false), sizeof(struct sockaddr_in));
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 40000);
	assert_memory_equal(&sin->sin_addr, t.saddr, 4);
	assert_int_equal(sock_addr_from_tuple(&ss, &t, true), sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(sin->sin_port), 80);
	assert_memory_equal(&sin->sin_addr, t.daddr, 4);

	t.family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", t.saddr);
	inet_pton(AF_INET6, "2001:db8::2", t.daddr);
	assert_int_equal(sock_addr_from_tuple(&ss, &t, true), sizeof(struct sockaddr_in6));
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 80);
	inet_pton(AF_INET6, "2001:db8::2", want);
	assert_memory_equal(&sin6->sin6_addr, want, 16);
	assert_int_equal(sin6->sin6_flowinfo, 0);
	assert_int_equal(sin6->sin6_scope_id, 0);
}

/* A connected loopback TCP pair: *a connected to *b. */
static void tcp_pair(int *a, int *b)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &len), 0);
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(*a, (struct sockaddr *)&sin, sizeof(sin)), 0);
	*b = accept(l, NULL, NULL);
	assert_true(*b >= 0);
	close(l);
}

static void test_close_reset(void **state)
{
	(void)state;
	struct timeval tv = {.tv_sec = 5};
	int a, b;
	char c;

	tcp_pair(&a, &b);
	assert_int_equal(setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	sock_close_reset(b);
	assert_int_equal(recv(a, &c, 1, 0), -1);
	assert_int_equal(errno, ECONNRESET);
	close(a);
	sock_close_reset(-1); /* nothing */
}

static int getint(int fd, int level, int opt)
{
	int v = -1;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(fd, level, opt, &v, &len), 0);
	return v;
}

static void test_keepalive(void **state)
{
	(void)state;
	struct conf_keepalive off = {0}, on = {.idle = 30, .interval = 7, .count = 4};
	int a, b;

	tcp_pair(&a, &b);
	sock_keepalive(a, &off);
	assert_int_equal(getint(a, SOL_SOCKET, SO_KEEPALIVE), 0);
	sock_keepalive(a, &on);
	assert_int_equal(getint(a, SOL_SOCKET, SO_KEEPALIVE), 1);
	assert_int_equal(getint(a, IPPROTO_TCP, TCP_KEEPIDLE), 30);
	assert_int_equal(getint(a, IPPROTO_TCP, TCP_KEEPINTVL), 7);
	assert_int_equal(getint(a, IPPROTO_TCP, TCP_KEEPCNT), 4);
	close(a);
	close(b);
}

static void test_nodelay(void **state)
{
	(void)state;
	int a, b;

	tcp_pair(&a, &b);
	assert_int_equal(getint(a, IPPROTO_TCP, TCP_NODELAY), 0);
	sock_nodelay(a);
	assert_int_equal(getint(a, IPPROTO_TCP, TCP_NODELAY), 1);
	close(a);
	close(b);
}

static void test_unix_listen_fresh(void **state)
{
	(void)state;
	char path[300];
	struct sockaddr_un sun;
	struct stat st, mine;
	socklen_t len;
	mode_t old = umask(0077); /* narrower than asked: the mode is exact anyway */
	int fd, c;
	char err[256];

	path_in(path, sizeof(path), "fresh.sock");
	sun = unix_addr(path, &len);
	fd = sock_unix_listen(&sun, len, 0660, 4, &mine, err, sizeof(err));
	umask(old);
	if (fd < 0)
		fail_msg("sock_unix_listen: %s", err);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(st.st_ino, mine.st_ino);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sun, len), 0);
	close(c);
	/* a second one at the same path: the first is alive */
	assert_int_equal(sock_unix_listen(&sun, len, 0660, 4, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "in use"));
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_ino, mine.st_ino);
	close(fd);
	sock_unix_unlink(path, &mine);
	assert_int_equal(lstat(path, &st), -1);
}

static void test_unix_listen_stale(void **state)
{
	(void)state;
	char path[300], err[256];
	struct sockaddr_un sun;
	struct stat old, mine;
	socklen_t len;
	int s, fd;

	/* a socket file whose daemon died: bound, never listening any more */
	path_in(path, sizeof(path), "stale.sock");
	sun = unix_addr(path, &len);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sun, len), 0);
	close(s);
	assert_int_equal(lstat(path, &old), 0);
	fd = sock_unix_listen(&sun, len, 0600, 4, &mine, err, sizeof(err));
	if (fd < 0)
		fail_msg("over a stale socket: %s", err);
	/* the file is ours now: it answers */
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(s, (struct sockaddr *)&sun, len), 0);
	close(s);
	close(fd);
	sock_unix_unlink(path, &mine);
}

static void test_unix_listen_not_socket(void **state)
{
	(void)state;
	char path[300], err[256];
	struct sockaddr_un sun;
	struct stat st;
	socklen_t len;
	int f;

	path_in(path, sizeof(path), "regular");
	sun = unix_addr(path, &len);
	f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(f >= 0);
	assert_int_equal(write(f, "keep", 4), 4);
	close(f);
	assert_int_equal(sock_unix_listen(&sun, len, 0660, 4, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 4);
	/* a missing directory: an error, nothing created */
	path_in(path, sizeof(path), "missing/x.sock");
	sun = unix_addr(path, &len);
	assert_int_equal(sock_unix_listen(&sun, len, 0660, 4, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bind"));
}

/* sock_unix_unlink removes only the file it was given. */
static void test_unix_unlink_own_only(void **state)
{
	(void)state;
	char path[300], moved[300], err[256];
	struct sockaddr_un sun;
	struct stat first, second, st;
	socklen_t len;
	int a, b;

	path_in(path, sizeof(path), "replaced.sock");
	sun = unix_addr(path, &len);
	a = sock_unix_listen(&sun, len, 0660, 4, &first, err, sizeof(err));
	assert_true(a >= 0);
	/* another daemon's file replaces ours (ours moved away, so its inode stays taken) */
	path_in(moved, sizeof(moved), "moved.sock");
	assert_int_equal(rename(path, moved), 0);
	b = sock_unix_listen(&sun, len, 0660, 4, &second, err, sizeof(err));
	assert_true(b >= 0);
	sock_unix_unlink(path, &first);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_ino, second.st_ino);
	sock_unix_unlink(path, &second);
	assert_int_equal(lstat(path, &st), -1);
	close(a);
	close(b);
}

static void test_unix_listen_abstract(void **state)
{
	(void)state;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char name[64], err[256];
	struct stat mine;
	socklen_t len;
	int fd, c;

	snprintf(name, sizeof(name), "synguard-test-%d", (int)getpid());
	memcpy(sun.sun_path + 1, name, strlen(name));
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	fd = sock_unix_listen(&sun, len, 0660, 4, &mine, err, sizeof(err));
	if (fd < 0)
		fail_msg("abstract: %s", err);
	assert_int_equal(mine.st_ino, 0);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sun, len), 0);
	close(c);
	close(fd);
}

static void test_mkdir_p(void **state)
{
	(void)state;
	char path[300], file[300], err[256];
	struct stat st;
	mode_t old = umask(0);
	int f;

	path_in(path, sizeof(path), "a/b/c");
	assert_int_equal(sock_mkdir_p(path, 0750, err, sizeof(err)), 1);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	path_in(path, sizeof(path), "a/b");
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	/* it exists: 0, and its mode is left alone */
	assert_int_equal(sock_mkdir_p(path, 0700, err, sizeof(err)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	/* a trailing slash names the same directory */
	path_in(path, sizeof(path), "a/b/c/");
	assert_int_equal(sock_mkdir_p(path, 0750, err, sizeof(err)), 0);
	umask(old);

	/* a regular file in the way, as the directory or as a parent */
	path_in(file, sizeof(file), "file");
	f = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(f >= 0);
	close(f);
	assert_int_equal(sock_mkdir_p(file, 0750, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a directory"));
	path_in(path, sizeof(path), "file/sub");
	assert_int_equal(sock_mkdir_p(path, 0750, err, sizeof(err)), -1);
	assert_int_equal(lstat(file, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* a symlink to a directory is not taken for one */
	path_in(path, sizeof(path), "link");
	path_in(file, sizeof(file), "a");
	assert_int_equal(symlink(file, path), 0);
	assert_int_equal(sock_mkdir_p(path, 0750, err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addr_from_tuple),
	    cmocka_unit_test(test_close_reset),
	    cmocka_unit_test(test_keepalive),
	    cmocka_unit_test(test_nodelay),
	    cmocka_unit_test_setup_teardown(test_unix_listen_fresh, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unix_listen_stale, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unix_listen_not_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unix_unlink_own_only, setup, teardown),
	    cmocka_unit_test(test_unix_listen_abstract),
	    cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
