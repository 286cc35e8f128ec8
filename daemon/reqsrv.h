/*
 * One request, one answer: the small stream server behind the control socket
 * and the metrics endpoint. Non-blocking on a libev loop. Every client gets a
 * bounded request buffer, a deadline and a place among a bounded number of
 * clients, so a stuck or hostile client cannot block the daemon; the answer is
 * built in memory and written without blocking, then the connection closes.
 */
#ifndef SYNGUARD_REQSRV_H
#define SYNGUARD_REQSRV_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum reqsrv_verdict {
	REQSRV_MORE,   /* wait for more bytes */
	REQSRV_ANSWER, /* the request is complete (or can never be): answer it */
	REQSRV_DROP,   /* close without an answer */
};

struct reqsrv_ops {
	/* Judges the bytes received so far. eof: the client half-closed; full: the
	 * buffer is full, so REQSRV_MORE is taken as REQSRV_DROP. */
	enum reqsrv_verdict (*judge)(void *ctx, const char *req, size_t len, bool eof, bool full);
	/* Writes the answer. req is NUL terminated (at len). */
	void (*answer)(void *ctx, char *req, size_t len, bool full, FILE *out);
};

struct reqsrv_params {
	const char *name; /* for log messages */
	size_t req_max;   /* request buffer size */
	double timeout;   /* seconds a client may take, request and answer */
	size_t clients_max;
	const char *busy; /* written to a client beyond clients_max before closing it */
};

struct reqsrv;

/* Serves clients of listen_fd (non-blocking, listening); does not take ownership of it. */
struct reqsrv *reqsrv_new(struct ev_loop *loop, int listen_fd, const struct reqsrv_params *p,
                          const struct reqsrv_ops *ops, void *ctx);
/* Closes every client and stops accepting. */
void reqsrv_free(struct reqsrv *s);

/*
 * Answers that take a while (a reload waits for threads and for the firewall
 * tools) are finished later, without holding the loop. Inside ops.answer,
 * reqsrv_current names the client being answered and reqsrv_defer says the
 * answer is not complete yet: what answer wrote is kept, the client waits
 * (its deadline becomes `timeout` seconds from now), and reqsrv_finish adds
 * the rest and sends it. Ids are never reused, so a late reqsrv_finish for a
 * client that timed out or hung up finds nothing and returns -1.
 */
uint64_t reqsrv_current(const struct reqsrv *s);
void reqsrv_defer(struct reqsrv *s, double timeout);
int reqsrv_finish(struct reqsrv *s, uint64_t id, const char *text);

#endif
