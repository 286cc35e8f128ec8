#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int log_verbosity = LOG_LVL_INFO;
static int log_journal;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_init(int verbosity, int journal)
{
	log_verbosity = verbosity;
	log_journal = journal;
}

__attribute__((format(printf, 3, 0))) static void vlog(int level, int with_errno, const char *fmt,
                                                       va_list ap)
{
	char msg[1024];
	int saved = errno;

	if (level > log_verbosity)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	pthread_mutex_lock(&log_lock);
	if (log_journal) {
		fprintf(stderr, "<%d>", level);
	} else {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld ", when, ts.tv_nsec / 1000000);
	}
	if (with_errno)
		fprintf(stderr, "%s: %s\n", msg, strerror(saved));
	else
		fprintf(stderr, "%s\n", msg);
	pthread_mutex_unlock(&log_lock);
	errno = saved;
}

#define LOG_FN(name, level, with_errno)                                                            \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		vlog(level, with_errno, fmt, ap);                                                  \
		va_end(ap);                                                                        \
	}

LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

/*
 * Queue threads share a call site's state, so every field is atomic and the
 * right to print is taken by a compare-and-swap on `last`: of the threads that
 * see the interval elapsed, exactly one prints; the others count as suppressed.
 */
int log_ratelimit_pass(struct log_ratelimit *rl, int interval)
{
	struct timespec ts;
	long now, last;
	unsigned skipped;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec;
	last = __atomic_load_n(&rl->last, __ATOMIC_RELAXED);
	if ((last != 0 && now - last < interval) ||
	    !__atomic_compare_exchange_n(&rl->last, &last, now, 0, __ATOMIC_RELAXED,
	                                 __ATOMIC_RELAXED)) {
		__atomic_add_fetch(&rl->suppressed, 1, __ATOMIC_RELAXED);
		return 0;
	}
	skipped = __atomic_exchange_n(&rl->suppressed, 0, __ATOMIC_RELAXED);
	if (skipped)
		log_warnx("(%u similar messages suppressed)", skipped);
	return 1;
}
