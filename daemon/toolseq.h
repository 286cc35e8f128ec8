/*
 * External tools run one after another (the firewall's iptables calls).
 * A step's failure ends the sequence with the tool's message
 * (TOOLSEQ_MUST), is ignored (TOOLSEQ_TRY: "already gone"), or ends a
 * repetition (TOOLSEQ_REPEAT: run again until it fails, at most
 * TOOLSEQ_REPEAT_MAX times). A sequence runs to its end at once, waited for
 * (toolseq_run), or on a libev loop under child watchers (toolseq_start),
 * which never blocks the loop; that loop must be the default loop, where
 * libev reaps children.
 */
#ifndef SYNGUARD_TOOLSEQ_H
#define SYNGUARD_TOOLSEQ_H

#include <ev.h>
#include <stddef.h>

enum toolseq_kind { TOOLSEQ_MUST, TOOLSEQ_TRY, TOOLSEQ_REPEAT };

#define TOOLSEQ_ARGS_MAX   8 /* the program and its arguments */
#define TOOLSEQ_REPEAT_MAX 16

struct toolseq;

/* rc 0, or -1 with err: the sequence is over (and may be freed here). */
typedef void (*toolseq_done_fn)(void *arg, int rc, const char *err);

struct toolseq *toolseq_new(void);

/*
 * Adds a step: argv (up to TOOLSEQ_ARGS_MAX strings, then NULL; the strings
 * must outlive the sequence) run from PATH, with stdin from in_fd (taken
 * over, read from its start each run) or /dev/null when -1, stdout to
 * /dev/null, stderr kept as the message of a TOOLSEQ_MUST step. -1 when out
 * of memory (in_fd is closed).
 */
int toolseq_add(struct toolseq *s, enum toolseq_kind kind, const char *const *argv, int in_fd);

/* Logged once the step added last is over (info). */
void toolseq_note(struct toolseq *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs every step, waiting for each. 0, or -1 with err. */
int toolseq_run(struct toolseq *s, char *err, size_t errlen);

/* Runs the steps on loop; done is called once the last is over (at once when none can
 * start). */
void toolseq_start(struct toolseq *s, struct ev_loop *loop, toolseq_done_fn done, void *arg);

/* Frees a sequence; a tool still running is waited for (at exit: before the rules go). */
void toolseq_free(struct toolseq *s);

#endif
