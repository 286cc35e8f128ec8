/*
 * Fuzz target: the control protocol, through the real control socket.
 *
 * One control server (control_new on a Unix socket in a private temporary
 * directory, a libev loop, a parsed configuration with three listeners and
 * two policies, stats blocks for two queues and the handoff, hooks standing in
 * for the daemon's reload and listener state) lives for the whole run. Each input is one client
 * connection: the bytes are sent, the write side is shut, and the loop is turned until the daemon
 * has answered and closed. So the whole request path is exercised: partial
 * reads, the line limit, requests without a newline, NUL bytes, the command
 * table and every command's argument parsing.
 *
 * Invariants: the daemon always answers with at least one line ending in a
 * newline, an answer never carries a control character other than newline
 * and tab (words of the request are echoed back: they must not reach a
 * terminal raw), and the server keeps no client once the exchange is over
 * (the next connection gets the same descriptor number).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

/* Longer inputs say nothing new: the server stops reading at 255 bytes. */
#define FUZZ_MAX_INPUT 4096

static struct ev_loop *loop;
static struct control *ctl;
static struct sockaddr_un addr = {.sun_family = AF_UNIX};
static char dir[64];
static struct conf *conf;
static struct stats_block blocks[3];
static const struct stats_block *block_ptrs[3];
static const uint16_t queue_nums[2] = {0, 1};

static const char conf_text[] =
    "daemon: { queue = \"0:1\"; firewall = \"none\"; };\n"
    "listeners = (\n"
    " { name = \"web4\"; address = \"192.0.2.1\"; port = 80; handoff = \"proxy\";\n"
    "   backend = \"127.0.0.1:8080\"; proxy_protocol = 2; },\n"
    " { name = \"web6\"; address = \"2001:db8::1\"; port = 443; handoff = \"proxy\";\n"
    "   backend = \"[2001:db8::10]:8443\"; policy = \"strict\"; },\n"
    " { name = \"pf\"; address = \"0.0.0.0\"; port = 25; handoff = \"pass-fd\";\n"
    "   backend = \"unix:/run/synguard/pf.sock\"; }\n"
    ");\n"
    "policies = { default = { mode = \"cookie\"; };\n"
    "  strict = { mode = \"cookie\"; mss = [536, 1220]; wscale = 14; }; };\n";

/* Answers at once (false: no deferred answer follows). */
static bool fake_reload(void *arg, FILE *out, uint64_t ticket)
{
	(void)arg;
	(void)ticket;
	fputs("error: the fuzzer keeps its configuration\n", out);
	return false;
}

static void fake_listener_info(void *arg, size_t i, struct control_listener_info *out)
{
	(void)arg;
	out->accept_queue = (uint32_t)i * 7;
	out->connections = (uint32_t)i * 1000;
	out->sources = (uint32_t)i + 1;
}

static void cleanup(void)
{
	control_free(ctl);
	rmdir(dir);
	conf_free(conf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct control_source src = {0};
	char err[256];

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/sgfuzz.XXXXXX", P_tmpdir);
	if (!mkdtemp(dir))
		abort();
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/control.sock", dir);
	loop = ev_loop_new(EVFLAG_AUTO);
	if (conf_parse(conf_text, "fuzz.conf", &conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_control: %s\n", err);
		abort();
	}
	for (int b = 0; b < 3; b++) {
		if (stats_block_init(&blocks[b], conf->n_listeners) < 0)
			abort();
		block_ptrs[b] = &blocks[b];
		for (size_t r = 0; r < blocks[b].n_rows; r++)
			for (int i = 0; i < ST_MAX; i++)
				stats_add(&blocks[b].rows[r], (enum stats_id)i,
				          (uint64_t)(b + 1) * (uint64_t)(r + 1) *
				              (uint64_t)(i + 1));
	}
	/* a gauge summing to a negative value prints signed */
	stats_add(&blocks[2].rows[1], ST_ACTIVE_CONNECTIONS, (uint64_t)-1000);
	src.conf = conf;
	src.blocks = block_ptrs;
	src.queue_nums = queue_nums;
	src.n_queues = 2;
	ctl = control_new(loop, addr.sun_path, &src, err, sizeof(err));
	if (!loop || !ctl) {
		fprintf(stderr, "fuzz_control: %s\n", err);
		abort();
	}
	control_set_hooks(ctl, &(struct control_hooks){.reload = fake_reload,
	                                               .listener_info = fake_listener_info});
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char answer[64 * 1024];
	static int first_fd = -1;
	size_t got = 0, off = 0;
	int fd;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	CHECK(fd >= 0);
	/* the server closed every earlier client: the descriptor numbers do not creep up */
	if (first_fd < 0)
		first_fd = fd;
	CHECK(fd == first_fd);
	CHECK(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	/* send what fits, let the server read, repeat; then half-close */
	while (off < size) {
		ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			ev_run(loop, EVRUN_ONCE);
			continue;
		}
		break; /* the server answered early and closed: fine */
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		ssize_t n = recv(fd, answer + got, sizeof(answer) - got, MSG_DONTWAIT);

		if (n > 0) {
			got += (size_t)n;
			CHECK(got < sizeof(answer));
			continue;
		}
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			break;
		/* nothing yet: the server has an event pending (accept, read or write) */
		ev_run(loop, EVRUN_ONCE);
	}
	close(fd);

	CHECK(got > 0);
	CHECK(answer[got - 1] == '\n');
	for (size_t i = 0; i < got; i++)
		CHECK(answer[i] == '\n' || answer[i] == '\t' ||
		      ((unsigned char)answer[i] >= 0x20 && (unsigned char)answer[i] != 0x7f));
	return 0;
}
