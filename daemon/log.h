/*
 * Daemon logging, after OpenBSD's log.c: stderr in the foreground, the
 * journal (via stderr with sd-daemon level prefixes) under systemd.
 * Never call these per packet: count instead.
 */
#ifndef SYNGUARD_LOG_H
#define SYNGUARD_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

/* Call once at start. `journal` selects "<N>" priority prefixes (stderr connected to the
 * journal: JOURNAL_STREAM is set); otherwise lines carry a time stamp. */
void log_init(int verbosity, int journal);

void log_warn(const char *fmt, ...)
    __attribute__((format(printf, 1, 2))); /* appends strerror(errno) */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn)); /* + strerror */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A warning that prints at most once per `interval` seconds per call site and says how
 * many were suppressed in between. */
#define log_warnx_ratelimited(interval, ...)                                                       \
	do {                                                                                       \
		static struct log_ratelimit _rl = {0, 0};                                          \
		if (log_ratelimit_pass(&_rl, (interval)))                                          \
			log_warnx(__VA_ARGS__);                                                    \
	} while (0)

/* Shared by every thread through a call site: read and written only atomically. */
struct log_ratelimit {
	long last;           /* monotonic seconds of the last print */
	unsigned suppressed; /* calls swallowed since */
};
int log_ratelimit_pass(struct log_ratelimit *rl, int interval);

#endif
