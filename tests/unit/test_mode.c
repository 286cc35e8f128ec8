/*
 * The auto mode switch with injected time: the rate window, both triggers,
 * hysteresis on the way back, transitions reported once, fixed modes and
 * reloads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mode.h"

static struct mode_params auto_params(void)
{
	struct mode_params p = {
	    .kind = MODE_AUTO,
	    .syn_rate_trigger = 1000,
	    .fill_trigger = 0.75,
	    .calm_ms = 5000,
	};

	return p;
}

/* n SYNs spread evenly over [t0, t0 + span_ms), each evaluated; counts the events. */
static void syns(struct mode *m, uint64_t t0, uint64_t span_ms, unsigned n, double fill,
                 unsigned *to_cookie, unsigned *to_stateful)
{
	for (unsigned i = 0; i < n; i++) {
		enum mode_event ev;

		mode_syn(m, t0 + span_ms * i / n, fill, &ev);
		*to_cookie += ev == MODE_EV_TO_COOKIE;
		*to_stateful += ev == MODE_EV_TO_STATEFUL;
	}
}

static void test_rate_window(void **state)
{
	struct mode_params p = auto_params();
	struct mode *m;

	(void)state;
	p.syn_rate_trigger = 0;
	m = mode_new(&p, 10000);
	assert_int_equal(mode_rate(m, 10000), 0);
	mode_note_syns(m, 10000, 5);  /* slot 100 */
	mode_note_syns(m, 10099, 7);  /* slot 100 */
	mode_note_syns(m, 10100, 11); /* slot 101 */
	assert_int_equal(mode_rate(m, 10100), 23);
	/* slot 100 leaves the window when slot 110 begins */
	assert_int_equal(mode_rate(m, 10999), 23);
	assert_int_equal(mode_rate(m, 11000), 11);
	assert_int_equal(mode_rate(m, 11099), 11);
	assert_int_equal(mode_rate(m, 11100), 0);
	assert_int_equal(mode_rate(m, 99999), 0);
	/* the same through advancing the window itself */
	mode_note_syns(m, 11000, 1);
	assert_int_equal(mode_rate(m, 11000), 12);
	mode_note_syns(m, 11100, 1);
	assert_int_equal(mode_rate(m, 11100), 2);
	mode_note_syns(m, 50000, 3);
	assert_int_equal(mode_rate(m, 50000), 3);
	/* a clock step back counts into the current slot */
	mode_note_syns(m, 40000, 1);
	assert_int_equal(mode_rate(m, 50000), 4);
	/* no auto switch with both triggers off */
	p.fill_trigger = 0;
	mode_set_params(m, &p);
	mode_note_syns(m, 50000, 1000000);
	assert_int_equal(mode_eval(m, 50000, 1.0, NULL), MODE_USE_STATEFUL);
	mode_free(m);
}

static void test_fixed_modes(void **state)
{
	struct mode_params p = auto_params();
	struct mode *m;
	enum mode_event ev;
	unsigned c = 0, s = 0;

	(void)state;
	p.kind = MODE_STATEFUL;
	m = mode_new(&p, 0);
	syns(m, 0, 100, 100000, 1.0, &c, &s);
	assert_int_equal(mode_eval(m, 100, 1.0, &ev), MODE_USE_STATEFUL);
	assert_int_equal(ev, MODE_EV_NONE);
	assert_int_equal(c + s, 0);
	mode_free(m);
	p.kind = MODE_COOKIE;
	m = mode_new(&p, 0);
	assert_int_equal(mode_current(m), MODE_USE_COOKIE);
	syns(m, 0, 100, 10, 0.0, &c, &s);
	assert_int_equal(mode_eval(m, 100000, 0.0, &ev), MODE_USE_COOKIE);
	assert_int_equal(ev, MODE_EV_NONE);
	assert_int_equal(c + s, 0);
	mode_free(m);
}

static void test_rate_trigger(void **state)
{
	struct mode_params p = auto_params();
	struct mode *m = mode_new(&p, 0);
	enum mode_event ev;
	unsigned c = 0, s = 0;
	struct mode_stats st;

	(void)state;
	/* 999 SYNs in half a second: still stateful */
	syns(m, 0, 500, 999, 0.0, &c, &s);
	assert_int_equal(mode_current(m), MODE_USE_STATEFUL);
	assert_int_equal(c, 0);
	/* the thousandth trips it, at once, reported once */
	assert_int_equal(mode_syn(m, 500, 0.0, &ev), MODE_USE_COOKIE);
	assert_int_equal(ev, MODE_EV_TO_COOKIE);
	assert_int_equal(mode_why(m), MODE_WHY_RATE);
	syns(m, 501, 499, 5000, 0.0, &c, &s);
	assert_int_equal(c + s, 0);
	mode_get_stats(m, &st);
	assert_int_equal(st.to_cookie, 1);
	assert_int_equal(st.to_stateful, 0);
	mode_free(m);
}

static void test_fill_trigger(void **state)
{
	struct mode_params p = auto_params();
	struct mode *m = mode_new(&p, 0);
	enum mode_event ev;

	(void)state;
	assert_int_equal(mode_syn(m, 0, 0.7499, &ev), MODE_USE_STATEFUL);
	assert_int_equal(mode_syn(m, 1, 0.75, &ev), MODE_USE_COOKIE);
	assert_int_equal(ev, MODE_EV_TO_COOKIE);
	assert_int_equal(mode_why(m), MODE_WHY_FILL);
	mode_free(m);
	/* both at once */
	m = mode_new(&p, 0);
	mode_note_syns(m, 0, 999);
	assert_int_equal(mode_syn(m, 0, 0.9, &ev), MODE_USE_COOKIE);
	assert_int_equal(mode_why(m), MODE_WHY_RATE | MODE_WHY_FILL);
	mode_free(m);
}

static void test_hysteresis(void **state)
{
	struct mode_params p = auto_params();
	struct mode *m = mode_new(&p, 0);
	unsigned c = 0, s = 0;
	enum mode_event ev;
	uint64_t t;
	struct mode_stats st;

	(void)state;
	/* a flood of 5000/s for 10 s */
	syns(m, 0, 10000, 50000, 0.2, &c, &s);
	assert_int_equal(c, 1);
	/* then 600/s for a minute: above half the trigger, below it: cookies all along */
	syns(m, 10000, 60000, 36000, 0.2, &c, &s);
	assert_int_equal(mode_current(m), MODE_USE_COOKIE);
	assert_int_equal(c + s, 1);
	/* then 400/s with the table at 0.4 (above half its trigger): still cookies */
	syns(m, 70000, 20000, 8000, 0.4, &c, &s);
	assert_int_equal(mode_current(m), MODE_USE_COOKIE);
	/* the table drains to 0.3: calm, but only after 5 s of it. The window still holds the
	 * old rate for a second (400/s is calm too), so calm starts at the first SYN: 90 s */
	for (t = 90000; t < 95000; t += 10) {
		assert_int_equal(mode_syn(m, t, 0.3, &ev), MODE_USE_COOKIE);
		assert_int_equal(ev, MODE_EV_NONE);
	}
	assert_int_equal(mode_syn(m, 95000, 0.3, &ev), MODE_USE_STATEFUL);
	assert_int_equal(ev, MODE_EV_TO_STATEFUL);
	assert_int_equal(mode_why(m), MODE_WHY_CALM);
	assert_int_equal(mode_syn(m, 95001, 0.3, &ev), MODE_USE_STATEFUL);
	assert_int_equal(ev, MODE_EV_NONE);
	/* stateful now: 600/s or fill 0.5 do not trip it */
	c = s = 0;
	syns(m, 96000, 10000, 6000, 0.5, &c, &s);
	assert_int_equal(c + s, 0);
	mode_get_stats(m, &st);
	assert_int_equal(st.to_cookie, 1);
	assert_int_equal(st.to_stateful, 1);
	mode_free(m);
}

/* A calm spell interrupted starts over; the way back is found by a timer with no SYNs. */
static void test_calm_restarts_and_timer(void **state)
{
	struct mode_params p = auto_params();
	struct mode *m = mode_new(&p, 0);
	enum mode_event ev;

	(void)state;
	assert_int_equal(mode_syn(m, 0, 0.8, &ev), MODE_USE_COOKIE);
	assert_int_equal(mode_eval(m, 1000, 0.1, &ev), MODE_USE_COOKIE); /* calm from 1 s */
	assert_int_equal(mode_eval(m, 5999, 0.1, &ev), MODE_USE_COOKIE);
	assert_int_equal(mode_eval(m, 6000, 0.5, &ev), MODE_USE_COOKIE);  /* not calm: restart */
	assert_int_equal(mode_eval(m, 11000, 0.1, &ev), MODE_USE_COOKIE); /* calm from 11 s */
	assert_int_equal(mode_eval(m, 15999, 0.1, &ev), MODE_USE_COOKIE);
	assert_int_equal(ev, MODE_EV_NONE);
	assert_int_equal(mode_eval(m, 16000, 0.1, &ev), MODE_USE_STATEFUL);
	assert_int_equal(ev, MODE_EV_TO_STATEFUL);
	/* a rate of exactly half the trigger is not calm */
	mode_note_syns(m, 20000, 1000);
	assert_int_equal(mode_eval(m, 20000, 0.0, &ev), MODE_USE_COOKIE);
	for (uint64_t t = 21000; t < 30000; t += 100)
		mode_note_syns(m, t, 50); /* 500 per second */
	assert_int_equal(mode_eval(m, 29999, 0.0, &ev), MODE_USE_COOKIE);
	/* a step back in time is no time passing */
	assert_int_equal(mode_eval(m, 31000, 0.0, &ev), MODE_USE_COOKIE); /* calm from 31 s */
	assert_int_equal(mode_eval(m, 100, 0.0, &ev), MODE_USE_COOKIE);
	assert_int_equal(mode_eval(m, 36000, 0.0, &ev), MODE_USE_STATEFUL);
	mode_free(m);
}

static void test_reload(void **state)
{
	struct mode_params p = auto_params();
	struct mode *m = mode_new(&p, 0);
	enum mode_event ev;

	(void)state;
	p.kind = MODE_COOKIE;
	mode_set_params(m, &p);
	assert_int_equal(mode_eval(m, 10, 0.0, &ev), MODE_USE_COOKIE);
	assert_int_equal(ev, MODE_EV_TO_COOKIE);
	assert_int_equal(mode_why(m), MODE_WHY_CONFIG);
	assert_int_equal(mode_eval(m, 11, 0.0, &ev), MODE_USE_COOKIE);
	assert_int_equal(ev, MODE_EV_NONE);
	/* back to auto while quiet: cookies until calm_ms has passed */
	p.kind = MODE_AUTO;
	mode_set_params(m, &p);
	assert_int_equal(mode_eval(m, 20, 0.0, &ev), MODE_USE_COOKIE);
	assert_int_equal(mode_eval(m, 5020, 0.0, &ev), MODE_USE_STATEFUL);
	assert_int_equal(ev, MODE_EV_TO_STATEFUL);
	/* a lower trigger applies at the next evaluation, the counted SYNs kept */
	mode_note_syns(m, 5100, 300);
	assert_int_equal(mode_eval(m, 5100, 0.0, &ev), MODE_USE_STATEFUL);
	p.syn_rate_trigger = 300;
	mode_set_params(m, &p);
	assert_int_equal(mode_eval(m, 5100, 0.0, &ev), MODE_USE_COOKIE);
	assert_int_equal(ev, MODE_EV_TO_COOKIE);
	/* to stateful by reload */
	p.kind = MODE_STATEFUL;
	mode_set_params(m, &p);
	assert_int_equal(mode_eval(m, 5200, 0.0, &ev), MODE_USE_STATEFUL);
	assert_int_equal(ev, MODE_EV_TO_STATEFUL);
	assert_int_equal(mode_why(m), MODE_WHY_CONFIG);
	mode_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rate_window),  cmocka_unit_test(test_fixed_modes),
	    cmocka_unit_test(test_rate_trigger), cmocka_unit_test(test_fill_trigger),
	    cmocka_unit_test(test_hysteresis),   cmocka_unit_test(test_calm_restarts_and_timer),
	    cmocka_unit_test(test_reload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
