/* pass-fd client API: record encoding and fd passing over a real socketpair. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "synguard_client.h"

static void set_in(struct sockaddr_storage *ss, const char *addr, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
}

static void set_in6(struct sockaddr_storage *ss, const char *addr, uint16_t port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
}

static struct sgc_conn conn4(void)
{
	struct sgc_conn c;

	memset(&c, 0, sizeof(c));
	c.fd = -1;
	set_in(&c.client, "198.51.100.7", 40000);
	set_in(&c.server, "192.0.2.1", 80);
	strcpy(c.listener, "web");
	return c;
}

static void assert_conn_equal(const struct sgc_conn *a, const struct sgc_conn *b)
{
	assert_int_equal(a->client.ss_family, b->client.ss_family);
	if (a->client.ss_family == AF_INET) {
		assert_memory_equal(&a->client, &b->client, sizeof(struct sockaddr_in));
		assert_memory_equal(&a->server, &b->server, sizeof(struct sockaddr_in));
	} else {
		assert_memory_equal(&a->client, &b->client, sizeof(struct sockaddr_in6));
		assert_memory_equal(&a->server, &b->server, sizeof(struct sockaddr_in6));
	}
	assert_string_equal(a->listener, b->listener);
}

static void test_encode_layout(void **state)
{
	(void)state;
	/* clang-format off */
	static const unsigned char want[SGC_RECORD_LEN] = {
		'S', 'G', 'F', 'D', 1, 4, 0, 0,                         /* magic, version, family */
		198, 51, 100, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    /* client */
		192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,       /* server */
		0x9C, 0x40, 0x00, 0x50,                                 /* ports */
		'w', 'e', 'b',                                          /* name, NUL padded */
	};
	/* clang-format on */
	struct sgc_conn c = conn4();
	unsigned char rec[SGC_RECORD_LEN];

	assert_int_equal(sgc_encode(rec, &c), SGC_RECORD_LEN);
	assert_memory_equal(rec, want, SGC_RECORD_LEN);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct sgc_conn c = conn4(), d;
	unsigned char rec[SGC_RECORD_LEN];

	assert_int_equal(sgc_encode(rec, &c), SGC_RECORD_LEN);
	memset(&d, 0xaa, sizeof(d));
	d.fd = 1234;
	assert_int_equal(sgc_decode(rec, sizeof(rec), &d), 0);
	assert_conn_equal(&c, &d);
	assert_int_equal(d.fd, 1234); /* left alone */

	set_in6(&c.client, "2001:db8::7", 1);
	set_in6(&c.server, "2001:db8:ffff::1", 65535);
	/* The longest name that fits: 31 bytes and the NUL. */
	memset(c.listener, 'x', SGC_LISTENER_MAX - 1);
	c.listener[SGC_LISTENER_MAX - 1] = '\0';
	assert_int_equal(sgc_encode(rec, &c), SGC_RECORD_LEN);
	assert_int_equal(rec[5], 6);
	assert_int_equal(sgc_decode(rec, sizeof(rec), &d), 0);
	assert_conn_equal(&c, &d);
}

static void test_encode_rejects(void **state)
{
	(void)state;
	struct sgc_conn c = conn4();
	unsigned char rec[SGC_RECORD_LEN];

	set_in6(&c.server, "2001:db8::1", 80); /* mixed families */
	assert_int_equal(sgc_encode(rec, &c), 0);
	c = conn4();
	c.client.ss_family = AF_UNIX;
	assert_int_equal(sgc_encode(rec, &c), 0);
}

static void test_decode_rejects(void **state)
{
	(void)state;
	struct sgc_conn c = conn4(), d;
	unsigned char good[SGC_RECORD_LEN], rec[SGC_RECORD_LEN + 1];
	/* offset, value: each makes the record malformed */
	static const struct {
		size_t off;
		unsigned char v;
	} bad[] = {
	    {0, 'X'}, {3, 'd'}, {4, 2},  {4, 0},  {5, 5},    {5, 0},    {6, 1},    {7, 0x80},
	    {12, 1},  {23, 1},  {28, 1}, {39, 1}, {75, 'x'}, {60, 'y'}, {48, 'z'},
	};

	assert_int_equal(sgc_encode(good, &c), SGC_RECORD_LEN);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(rec, good, sizeof(good));
		rec[bad[i].off] = bad[i].v;
		if (sgc_decode(rec, SGC_RECORD_LEN, &d) == 0)
			fail_msg("accepted byte %zu = %u", bad[i].off, bad[i].v);
	}
	/* Wrong lengths. */
	memcpy(rec, good, sizeof(good));
	rec[SGC_RECORD_LEN] = 0;
	assert_int_equal(sgc_decode(rec, SGC_RECORD_LEN + 1, &d), -1);
	assert_int_equal(sgc_decode(rec, SGC_RECORD_LEN - 1, &d), -1);
	assert_int_equal(sgc_decode(rec, 0, &d), -1);
	/* A 32-byte name with no NUL. */
	memset(rec + 44, 'n', 32);
	assert_int_equal(sgc_decode(rec, SGC_RECORD_LEN, &d), -1);
}

/* Sends `len` bytes of rec with nfds copies of the given fds. */
static void send_with_fds(int s, const void *rec, size_t len, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	struct iovec iov = {.iov_base = (void *)rec, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	assert_true(nfds <= 4);
	if (nfds) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(s, &msg, MSG_NOSIGNAL), (ssize_t)len);
}

/* Number of open fds other than ref and also that refer to the same pipe
 * as ref (both ends of a pipe share its inode). */
static int count_refs(int ref, int also)
{
	struct stat want, st;
	int n = 0;

	assert_int_equal(fstat(ref, &want), 0);
	for (int fd = 0; fd < 1024; fd++) {
		if (fd != ref && fd != also && fstat(fd, &st) == 0 && st.st_ino == want.st_ino &&
		    st.st_dev == want.st_dev)
			n++;
	}
	return n;
}

static void test_recv_fd(void **state)
{
	(void)state;
	struct sgc_conn c = conn4(), d;
	unsigned char rec[SGC_RECORD_LEN];
	int sp[2], pp[2];
	char byte = 0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(pipe(pp), 0);
	sgc_encode(rec, &c);
	send_with_fds(sp[0], rec, sizeof(rec), &pp[1], 1);
	close(pp[1]); /* the only write end left is the one in flight */

	memset(&d, 0, sizeof(d));
	assert_int_equal(sgc_recv(sp[1], &d), 0);
	assert_conn_equal(&c, &d);
	assert_true(d.fd >= 0);
	assert_int_equal(fcntl(d.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	/* It is the pipe's write end: bytes written to it come out of pp[0]. */
	assert_int_equal(write(d.fd, "k", 1), 1);
	assert_int_equal(read(pp[0], &byte, 1), 1);
	assert_int_equal(byte, 'k');
	close(d.fd);

	/* Two records back to back keep their boundaries. */
	assert_int_equal(pipe(pp), 0);
	send_with_fds(sp[0], rec, sizeof(rec), &pp[0], 1);
	send_with_fds(sp[0], rec, sizeof(rec), &pp[1], 1);
	assert_int_equal(sgc_recv(sp[1], &d), 0);
	close(d.fd);
	assert_int_equal(sgc_recv(sp[1], &d), 0);
	close(d.fd);
	close(pp[0]);
	close(pp[1]);

	/* Peer gone: ECONNRESET. */
	close(sp[0]);
	errno = 0;
	assert_int_equal(sgc_recv(sp[1], &d), -1);
	assert_int_equal(errno, ECONNRESET);
	close(sp[1]);
}

static void test_recv_nonblocking(void **state)
{
	(void)state;
	struct sgc_conn d;
	int sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
	errno = 0;
	assert_int_equal(sgc_recv(sp[1], &d), -1);
	assert_int_equal(errno, EAGAIN);
	close(sp[0]);
	close(sp[1]);
}

static void test_recv_extra_fds_closed(void **state)
{
	(void)state;
	struct sgc_conn c = conn4(), d;
	unsigned char rec[SGC_RECORD_LEN];
	int sp[2], pp[2], fds[3];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(pipe(pp), 0);
	sgc_encode(rec, &c);
	fds[0] = fds[1] = fds[2] = pp[1];
	send_with_fds(sp[0], rec, sizeof(rec), fds, 3);
	/* Three fds with one record: malformed, and none of them stays open. */
	errno = 0;
	assert_int_equal(sgc_recv(sp[1], &d), -1);
	assert_int_equal(errno, EPROTO);
	assert_int_equal(count_refs(pp[1], pp[0]), 0);
	close(pp[0]);
	close(pp[1]);
	close(sp[0]);
	close(sp[1]);
}

static void test_recv_missing_fd(void **state)
{
	(void)state;
	struct sgc_conn c = conn4(), d;
	unsigned char rec[SGC_RECORD_LEN];
	int sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	sgc_encode(rec, &c);
	send_with_fds(sp[0], rec, sizeof(rec), NULL, 0);
	errno = 0;
	assert_int_equal(sgc_recv(sp[1], &d), -1);
	assert_int_equal(errno, EPROTO);
	close(sp[0]);
	close(sp[1]);
}

static void test_recv_bad_record_closes_fd(void **state)
{
	(void)state;
	struct sgc_conn c = conn4(), d;
	unsigned char rec[SGC_RECORD_LEN];
	int sp[2], pp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(pipe(pp), 0);
	sgc_encode(rec, &c);
	rec[4] = 9; /* unknown version */
	send_with_fds(sp[0], rec, sizeof(rec), &pp[1], 1);
	errno = 0;
	assert_int_equal(sgc_recv(sp[1], &d), -1);
	assert_int_equal(errno, EPROTO);
	assert_int_equal(count_refs(pp[1], pp[0]), 0);

	/* A short record with an fd: also malformed, fd closed. */
	sgc_encode(rec, &c);
	send_with_fds(sp[0], rec, 10, &pp[1], 1);
	errno = 0;
	assert_int_equal(sgc_recv(sp[1], &d), -1);
	assert_int_equal(errno, EPROTO);
	assert_int_equal(count_refs(pp[1], pp[0]), 0);
	close(pp[0]);
	close(pp[1]);
	close(sp[0]);
	close(sp[1]);
}

static void test_connect(void **state)
{
	(void)state;
	char longpath[200];

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	errno = 0;
	assert_int_equal(sgc_connect(longpath), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	errno = 0;
	assert_int_equal(sgc_connect("no-such-dir/none.sock"), -1);
	assert_int_equal(errno, ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode_layout),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_encode_rejects),
	    cmocka_unit_test(test_decode_rejects),
	    cmocka_unit_test(test_recv_fd),
	    cmocka_unit_test(test_recv_nonblocking),
	    cmocka_unit_test(test_recv_extra_fds_closed),
	    cmocka_unit_test(test_recv_missing_fd),
	    cmocka_unit_test(test_recv_bad_record_closes_fd),
	    cmocka_unit_test(test_connect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
