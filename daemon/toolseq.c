/*
 * External tools one after another. See toolseq.h.
 */
#define _GNU_SOURCE /* memfd_create */
#include "toolseq.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

extern char **environ;

struct toolseq_step {
	enum toolseq_kind kind;
	const char *argv[TOOLSEQ_ARGS_MAX + 1];
	int in_fd;
	char note[128];
};

struct toolseq {
	struct toolseq_step *steps;
	size_t n, cap, cur;
	int repeats;   /* runs of the current TOOLSEQ_REPEAT step */
	pid_t pid;     /* the tool running now, or 0 */
	int err_fd;    /* its stderr (TOOLSEQ_MUST steps), or -1 */
	char msg[512]; /* the tool's message, or why it could not run */
	int rc;
	char err[640];
	struct ev_loop *loop;
	ev_child child;
	toolseq_done_fn done;
	void *arg;
};

struct toolseq *toolseq_new(void)
{
	struct toolseq *s = calloc(1, sizeof(*s));

	if (s)
		s->err_fd = -1;
	return s;
}

int toolseq_add(struct toolseq *s, enum toolseq_kind kind, const char *const *argv, int in_fd)
{
	struct toolseq_step *st;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		struct toolseq_step *v = realloc(s->steps, cap * sizeof(*v));

		if (!v) {
			if (in_fd >= 0)
				close(in_fd);
			return -1;
		}
		s->steps = v;
		s->cap = cap;
	}
	st = &s->steps[s->n++];
	memset(st, 0, sizeof(*st));
	st->kind = kind;
	for (size_t i = 0; i < TOOLSEQ_ARGS_MAX && argv[i]; i++)
		st->argv[i] = argv[i];
	st->in_fd = in_fd;
	return 0;
}

void toolseq_note(struct toolseq *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->n)
		return;
	va_start(ap, fmt);
	vsnprintf(s->steps[s->n - 1].note, sizeof(s->steps[0].note), fmt, ap);
	va_end(ap);
}

/* Starts the current step's tool: 0, or -1 with s->msg when it could not run. */
static int toolseq_spawn(struct toolseq *s)
{
	const struct toolseq_step *st = &s->steps[s->cur];
	posix_spawn_file_actions_t fa;
	int e;

	s->msg[0] = '\0';
	if (st->kind == TOOLSEQ_MUST)
		s->err_fd = memfd_create("synguard-tool-err", MFD_CLOEXEC);
	if (st->in_fd >= 0 && lseek(st->in_fd, 0, SEEK_SET) < 0) {
		snprintf(s->msg, sizeof(s->msg), "lseek: %s", strerror(errno));
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	if (st->in_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, st->in_fd, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (s->err_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, s->err_fd, 2);
	else
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	e = posix_spawnp(&s->pid, st->argv[0], &fa, NULL, (char *const *)st->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e != 0) {
		s->pid = 0;
		snprintf(s->msg, sizeof(s->msg), "cannot run %s: %s", st->argv[0], strerror(e));
		return -1;
	}
	return 0;
}

static int toolseq_exit_status(int wstatus)
{
	return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

/* Takes the current step's outcome (status -1: it did not run). True when the sequence is
 * over. */
static bool toolseq_advance(struct toolseq *s, int status)
{
	struct toolseq_step *st = &s->steps[s->cur];

	s->pid = 0;
	if (s->err_fd >= 0) {
		if (status > 0 && !s->msg[0]) {
			ssize_t n = pread(s->err_fd, s->msg, sizeof(s->msg) - 1, 0);

			s->msg[n > 0 ? n : 0] = '\0';
			for (char *p = s->msg; *p; p++)
				if (*p == '\n')
					*p = (p[1] ? ' ' : '\0');
		}
		close(s->err_fd);
		s->err_fd = -1;
	}
	if (status != 0 && st->kind == TOOLSEQ_MUST) {
		if (status < 0)
			snprintf(s->err, sizeof(s->err), "%s", s->msg);
		else
			snprintf(s->err, sizeof(s->err), "%s failed (%d): %s", st->argv[0], status,
			         s->msg[0] ? s->msg : "no message");
		s->rc = -1;
		return true;
	}
	if (status == 0 && st->kind == TOOLSEQ_REPEAT && ++s->repeats < TOOLSEQ_REPEAT_MAX)
		return false;
	if (st->note[0])
		log_info("%s", st->note);
	s->repeats = 0;
	return ++s->cur == s->n;
}

int toolseq_run(struct toolseq *s, char *err, size_t errlen)
{
	while (s->cur < s->n) {
		int status = -1, w;

		if (toolseq_spawn(s) == 0) {
			pid_t r;

			while ((r = waitpid(s->pid, &w, 0)) < 0 && errno == EINTR)
				;
			if (r == s->pid)
				status = toolseq_exit_status(w);
			else
				snprintf(s->msg, sizeof(s->msg), "waitpid: %s", strerror(errno));
		}
		if (toolseq_advance(s, status))
			break;
	}
	if (s->rc < 0)
		snprintf(err, errlen, "%s", s->err);
	return s->rc;
}

/* Runs steps until one is under way; when none is left, reports (last: s may be freed). */
static void toolseq_next(struct toolseq *s)
{
	while (s->cur < s->n) {
		if (toolseq_spawn(s) == 0) {
			ev_child_set(&s->child, s->pid, 0);
			ev_child_start(s->loop, &s->child);
			return;
		}
		if (toolseq_advance(s, -1))
			break;
	}
	s->done(s->arg, s->rc, s->err);
}

static void toolseq_child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct toolseq *s = w->data;

	(void)revents;
	ev_child_stop(loop, w);
	if (toolseq_advance(s, toolseq_exit_status(w->rstatus))) {
		s->done(s->arg, s->rc, s->err);
		return;
	}
	toolseq_next(s);
}

void toolseq_start(struct toolseq *s, struct ev_loop *loop, toolseq_done_fn done, void *arg)
{
	s->loop = loop;
	s->done = done;
	s->arg = arg;
	ev_child_init(&s->child, toolseq_child_cb, 0, 0);
	s->child.data = s;
	toolseq_next(s);
}

void toolseq_free(struct toolseq *s)
{
	if (!s)
		return;
	if (s->pid > 0) {
		if (s->loop)
			ev_child_stop(s->loop, &s->child);
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (s->err_fd >= 0)
		close(s->err_fd);
	for (size_t i = 0; i < s->n; i++)
		if (s->steps[i].in_fd >= 0)
			close(s->steps[i].in_fd);
	free(s->steps);
	free(s);
}
