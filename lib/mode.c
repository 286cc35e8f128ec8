/*
 * The auto mode switch: see mode.h.
 */
#include "mode.h"

#include <stdbool.h>
#include <stdlib.h>

struct mode {
	struct mode_params p;
	enum mode_use use;
	unsigned why;
	/* rate window: slot s (absolute: time / MODE_SLOT_MS) counts in cnt[s % MODE_SLOTS] */
	uint32_t cnt[MODE_SLOTS];
	uint64_t slot; /* the current slot */
	uint64_t sum;  /* of cnt */
	bool calm;     /* below both exit thresholds since calm_since */
	uint64_t calm_since;
	struct mode_stats st;
};

static enum mode_use mode_fixed(enum mode_kind kind)
{
	return kind == MODE_COOKIE ? MODE_USE_COOKIE : MODE_USE_STATEFUL;
}

struct mode *mode_new(const struct mode_params *p, uint64_t now_ms)
{
	struct mode *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->p = *p;
	m->use = mode_fixed(p->kind);
	m->slot = now_ms / MODE_SLOT_MS;
	return m;
}

void mode_free(struct mode *m)
{
	free(m);
}

void mode_set_params(struct mode *m, const struct mode_params *p)
{
	m->p = *p;
	m->calm = false;
}

/* Moves the window to now's slot, clearing the slots it leaves behind. */
static void mode_advance(struct mode *m, uint64_t now_ms)
{
	uint64_t s = now_ms / MODE_SLOT_MS;

	if (s <= m->slot)
		return;
	if (s - m->slot >= MODE_SLOTS) {
		for (int i = 0; i < MODE_SLOTS; i++)
			m->cnt[i] = 0;
		m->sum = 0;
	} else {
		for (uint64_t x = m->slot + 1; x <= s; x++) {
			m->sum -= m->cnt[x % MODE_SLOTS];
			m->cnt[x % MODE_SLOTS] = 0;
		}
	}
	m->slot = s;
}

void mode_note_syns(struct mode *m, uint64_t now_ms, uint32_t n)
{
	uint32_t *c;

	mode_advance(m, now_ms);
	c = &m->cnt[m->slot % MODE_SLOTS];
	if (*c > UINT32_MAX - n)
		n = UINT32_MAX - *c;
	*c += n;
	m->sum += n;
}

uint32_t mode_rate(const struct mode *m, uint64_t now_ms)
{
	uint64_t s = now_ms / MODE_SLOT_MS;
	uint64_t sum = 0;

	if (s <= m->slot) {
		sum = m->sum;
	} else if (s - m->slot < MODE_SLOTS) {
		/* the window at s is slots s - 9 .. s; those after m->slot have counted nothing yet
		 */
		uint64_t first = s >= MODE_SLOTS - 1 ? s - (MODE_SLOTS - 1) : 0;

		for (uint64_t x = first; x <= m->slot; x++)
			sum += m->cnt[x % MODE_SLOTS];
	}
	return sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}

static enum mode_use mode_switch(struct mode *m, enum mode_use to, unsigned why,
                                 enum mode_event *ev)
{
	m->use = to;
	m->why = why;
	m->calm = false;
	if (to == MODE_USE_COOKIE) {
		m->st.to_cookie++;
		*ev = MODE_EV_TO_COOKIE;
	} else {
		m->st.to_stateful++;
		*ev = MODE_EV_TO_STATEFUL;
	}
	return to;
}

enum mode_use mode_eval(struct mode *m, uint64_t now_ms, double fill, enum mode_event *ev)
{
	enum mode_event none;
	uint64_t rate;
	uint64_t trig = m->p.syn_rate_trigger;
	double ftrig = m->p.fill_trigger;
	unsigned hot = 0;

	if (ev == NULL)
		ev = &none;
	*ev = MODE_EV_NONE;
	if (m->p.kind != MODE_AUTO) {
		enum mode_use want = mode_fixed(m->p.kind);

		return m->use == want ? want : mode_switch(m, want, MODE_WHY_CONFIG, ev);
	}
	mode_advance(m, now_ms);
	rate = m->sum;
	if (trig != 0 && rate >= trig)
		hot |= MODE_WHY_RATE;
	if (ftrig > 0 && fill >= ftrig)
		hot |= MODE_WHY_FILL;
	if (m->use == MODE_USE_STATEFUL)
		return hot ? mode_switch(m, MODE_USE_COOKIE, hot, ev) : MODE_USE_STATEFUL;
	if ((trig != 0 && 2 * rate >= trig) || (ftrig > 0 && 2 * fill >= ftrig)) {
		m->calm = false;
		return MODE_USE_COOKIE;
	}
	if (!m->calm) {
		m->calm = true;
		m->calm_since = now_ms;
	}
	if (now_ms >= m->calm_since && now_ms - m->calm_since >= m->p.calm_ms)
		return mode_switch(m, MODE_USE_STATEFUL, MODE_WHY_CALM, ev);
	return MODE_USE_COOKIE;
}

enum mode_use mode_syn(struct mode *m, uint64_t now_ms, double fill, enum mode_event *ev)
{
	mode_note_syns(m, now_ms, 1);
	return mode_eval(m, now_ms, fill, ev);
}

enum mode_use mode_current(const struct mode *m)
{
	return m->use;
}

unsigned mode_why(const struct mode *m)
{
	return m->why;
}

void mode_get_stats(const struct mode *m, struct mode_stats *out)
{
	*out = m->st;
}
