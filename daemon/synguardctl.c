/*
 * synguardctl: the control socket's client. Sends one request line, prints
 * the answer. The daemon marks failures with an answer starting "error:",
 * which goes to stderr with exit status 1.
 *
 * The socket path comes from -s, else from the configuration's
 * daemon.control_socket (-c, default /etc/synguard/synguard.conf), else the
 * built-in default.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"

#define DEFAULT_CONFIG  "/etc/synguard/synguard.conf"
#define DEFAULT_SOCKET  "/run/synguard/control.sock"
#define CONFIG_SIZE_MAX (1 << 20)
#define REPLY_TIMEOUT_S 10
#define REQUEST_LEN_MAX 256

/* What the client knows of each command: enough to reject bad usage before
 * bothering the daemon, and to print help. */
struct ctl_cmd {
	const char *name;
	const char *usage;
	const char *help;
	const char *const *options; /* allowed arguments, NULL-terminated; NULL: none */
	bool takes_name;            /* exactly one free argument instead */
};

static const char *const stats_opts[] = {"--json", NULL};

static const struct ctl_cmd ctl_cmds[] = {
    {"stats", "stats [--json]", "counters, per listener and queue", stats_opts, false},
    {"status", "status", "pid, uptime, queues, listeners", NULL, false},
    {"listeners", "listeners [--json]",
     "each listener: address, backend, policy, mode now, accept queue", stats_opts, false},
    {"policy", "policy NAME", "the effective policy NAME, every key", NULL, true},
    {"reload", "reload", "re-read the configuration file (as SIGHUP); says why if it is kept", NULL,
     false},
};

#define N_CMDS (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: synguardctl [-s SOCKET] [-c CONFIG] COMMAND [ARGS]\n"
	        "  -s SOCKET  control socket (default: the configuration's, else %s)\n"
	        "  -c CONFIG  configuration file (default %s)\n"
	        "commands:\n",
	        DEFAULT_SOCKET, DEFAULT_CONFIG);
	for (size_t i = 0; i < N_CMDS; i++)
		fprintf(out, "  %-20s %s\n", ctl_cmds[i].usage, ctl_cmds[i].help);
}

static const struct ctl_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < N_CMDS; i++)
		if (strcmp(ctl_cmds[i].name, name) == 0)
			return &ctl_cmds[i];
	return NULL;
}

static bool option_allowed(const struct ctl_cmd *cmd, const char *arg)
{
	if (!cmd->options)
		return false;
	for (const char *const *o = cmd->options; *o; o++)
		if (strcmp(*o, arg) == 0)
			return true;
	return false;
}

/* Reads a whole (bounded) file. Returns malloc'ed text or NULL with errno. */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(CONFIG_SIZE_MAX + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, CONFIG_SIZE_MAX, f);
	if (ferror(f) || !feof(f)) {
		int e = ferror(f) ? EIO : EFBIG;

		fclose(f);
		free(buf);
		errno = e;
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/*
 * The configured socket path into out. Returns 0, or -1 with a message when
 * the configuration cannot be used: an error if the user named it, a reason
 * to fall back to the default otherwise.
 */
static int socket_from_config(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
	struct conf *conf;
	char *text = read_file(path);

	if (!text) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (conf_parse(text, path, &conf, err, errlen) < 0) {
		free(text);
		return -1;
	}
	free(text);
	snprintf(out, outlen, "%s", conf->daemon.control_socket);
	conf_free(conf);
	return 0;
}

static int ctl_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = REPLY_TIMEOUT_S};
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "synguardctl: socket path too long: %s\n", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "synguardctl: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;

		if (e == ENOENT || e == ECONNREFUSED)
			fprintf(stderr,
			        "synguardctl: cannot connect to %s: daemon not running? (%s)\n",
			        path, strerror(e));
		else if (e == EACCES || e == EPERM)
			fprintf(stderr,
			        "synguardctl: cannot connect to %s: permission denied (run as root "
			        "or as a member of the socket's group)\n",
			        path);
		else
			fprintf(stderr, "synguardctl: cannot connect to %s: %s\n", path,
			        strerror(e));
		close(fd);
		return -1;
	}
	/* a daemon that stops answering must not hang the caller */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_all(FILE *f, const char *buf, size_t len)
{
	return fwrite(buf, 1, len, f) == len ? 0 : -1;
}

/*
 * Sends the request and copies the answer to stdout, or to stderr when the
 * daemon reports an error. Returns the exit status.
 */
static int run(const char *path, const char *request)
{
	char buf[8192];
	size_t seen = 0;
	bool failed = false;
	FILE *out = stdout;
	int fd = ctl_connect(path);

	if (fd < 0)
		return 1;
	if (send_all(fd, request, strlen(request)) < 0) {
		fprintf(stderr, "synguardctl: sending to %s: %s\n", path, strerror(errno));
		close(fd);
		return 1;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "synguardctl: reading from %s: %s\n", path,
			        errno == EAGAIN ? "no answer (timed out)" : strerror(errno));
			close(fd);
			return 1;
		}
		if (n == 0)
			break;
		if (seen == 0) {
			failed = n >= 6 && memcmp(buf, "error:", 6) == 0;
			if (failed) {
				out = stderr;
				fputs("synguardctl: ", out);
			}
		}
		seen += (size_t)n;
		if (write_all(out, buf, (size_t)n) < 0) {
			close(fd);
			return 1;
		}
	}
	close(fd);
	if (seen == 0) {
		fprintf(stderr, "synguardctl: %s closed without an answer\n", path);
		return 1;
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "synguardctl: writing output: %s\n", strerror(errno));
		return 1;
	}
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *config = NULL;
	char conf_sock[CONF_PATH_MAX], err[512], request[REQUEST_LEN_MAX];
	const struct ctl_cmd *cmd;
	size_t len;
	int ch;

	while ((ch = getopt(argc, argv, "+s:c:h")) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return 1;
	}
	cmd = find_cmd(argv[0]);
	if (!cmd) {
		fprintf(stderr, "synguardctl: unknown command \"%s\"\n", argv[0]);
		usage(stderr);
		return 1;
	}
	len = (size_t)snprintf(request, sizeof(request), "%s", cmd->name);
	if (cmd->takes_name && argc != 2) {
		fprintf(stderr, "synguardctl: %s: usage: %s\n", cmd->name, cmd->usage);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		if (!cmd->takes_name && !option_allowed(cmd, argv[i])) {
			fprintf(stderr, "synguardctl: %s: unexpected argument \"%s\" (usage: %s)\n",
			        cmd->name, argv[i], cmd->usage);
			return 1;
		}
		len += (size_t)snprintf(request + len, sizeof(request) - len, " %s", argv[i]);
		if (len >= sizeof(request) - 1) {
			fprintf(stderr, "synguardctl: request too long\n");
			return 1;
		}
	}
	snprintf(request + len, sizeof(request) - len, "\n");

	if (!sock) {
		if (socket_from_config(config ? config : DEFAULT_CONFIG, conf_sock,
		                       sizeof(conf_sock), err, sizeof(err)) == 0) {
			sock = conf_sock;
		} else if (config) {
			/* a configuration named on the command line must work */
			fprintf(stderr, "synguardctl: %s\n", err);
			return 1;
		} else {
			if (access(DEFAULT_CONFIG, F_OK) == 0)
				fprintf(stderr, "synguardctl: warning: %s; trying %s\n", err,
				        DEFAULT_SOCKET);
			sock = DEFAULT_SOCKET;
		}
	}
	return run(sock, request);
}
