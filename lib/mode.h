/*
 * Which answer a new SYN gets: a SYN-ACK backed by a half-open entry
 * (stateful: the client's exact options, retransmits) or a cookie
 * (stateless: nothing to fill). Modes `stateful` and `cookie` always answer
 * the same. Mode `auto` is stateful until a flood shows, then cookies, like
 * the kernel's tcp_syncookies=1 but also triggered by rate, and with
 * hysteresis so that a flood hovering at the trigger does not flap:
 *
 *   stateful -> cookie   when the SYN rate reaches syn_rate_trigger, or the
 *                        half-open table's fill reaches fill_trigger;
 *   cookie -> stateful   when the rate is below half its trigger and the
 *                        fill below half its trigger, continuously (at
 *                        every evaluation) for calm_ms.
 *
 * SYN rate: SYNs counted in ten 100 ms slots, the current one included, so
 * it is the count of the last 0.9 to 1 s. A flood trips the trigger as soon
 * as that many SYNs have arrived, without waiting for a second to end.
 *
 * Transitions are reported once, by the evaluation that makes them, for the
 * daemon to log and count. Time is a parameter (ms, any monotonic origin; a
 * step backwards counts as no time passing). Not thread-safe.
 */
#ifndef SYNGUARD_MODE_H
#define SYNGUARD_MODE_H

#include <stdint.h>

#define MODE_SLOTS   10
#define MODE_SLOT_MS 100

enum mode_kind { MODE_STATEFUL, MODE_COOKIE, MODE_AUTO };

enum mode_use { MODE_USE_STATEFUL, MODE_USE_COOKIE };

enum mode_event {
	MODE_EV_NONE = 0,
	MODE_EV_TO_COOKIE,
	MODE_EV_TO_STATEFUL,
};

/* Why the latest switch happened (bits). */
#define MODE_WHY_RATE   0x1 /* to cookie: the SYN rate reached its trigger */
#define MODE_WHY_FILL   0x2 /* to cookie: the half-open fill reached its trigger */
#define MODE_WHY_CALM   0x4 /* to stateful: both stayed below half their trigger for calm_ms */
#define MODE_WHY_CONFIG 0x8 /* the mode was changed to stateful or cookie by a reload */

struct mode_params {
	enum mode_kind kind;
	uint32_t syn_rate_trigger; /* SYNs per second; 0: the rate never triggers */
	double fill_trigger;       /* half-open fill, (0, 1]; 0: the fill never triggers */
	uint32_t calm_ms;          /* how long both stay below half their trigger to go back */
};

struct mode;

/* NULL when out of memory. Starts stateful, unless kind is MODE_COOKIE. */
struct mode *mode_new(const struct mode_params *p, uint64_t now_ms);
void mode_free(struct mode *m);

/* Reload: the state and the rate window stay; the next evaluation applies p. */
void mode_set_params(struct mode *m, const struct mode_params *p);

/* Counts n SYNs at now_ms (a batch, or one). */
void mode_note_syns(struct mode *m, uint64_t now_ms, uint32_t n);

/*
 * The answer for new SYNs at now_ms, given the half-open table's fill
 * (halfopen_occupancy). *ev (may be NULL) reports a switch made by this call.
 * Called per SYN, and from a timer so that the way back is noticed in a
 * quiet period too. O(1).
 */
enum mode_use mode_eval(struct mode *m, uint64_t now_ms, double fill, enum mode_event *ev);

/* mode_note_syns(m, now_ms, 1) then mode_eval(): the per-SYN call. */
enum mode_use mode_syn(struct mode *m, uint64_t now_ms, double fill, enum mode_event *ev);

/* SYNs counted in the window ending at now_ms (at or after the latest time seen). */
uint32_t mode_rate(const struct mode *m, uint64_t now_ms);

/* The current answer, without evaluating. */
enum mode_use mode_current(const struct mode *m);

/* MODE_WHY_* bits of the latest switch (0 before any). */
unsigned mode_why(const struct mode *m);

struct mode_stats {
	uint64_t to_cookie;
	uint64_t to_stateful;
};
void mode_get_stats(const struct mode *m, struct mode_stats *out);

#endif
