/* The rate-limited warning: one print per interval even when threads share a call site. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log.h"

#define THREADS 4
#define CALLS   20000

static struct log_ratelimit shared_rl;
static pthread_barrier_t start;

static void *hammer(void *arg)
{
	long passed = 0;

	(void)arg;
	pthread_barrier_wait(&start);
	for (int i = 0; i < CALLS; i++)
		passed += log_ratelimit_pass(&shared_rl, 3600);
	return (void *)passed;
}

static void test_ratelimit_one_print_across_threads(void **state)
{
	pthread_t t[THREADS];
	long passed = 0;

	(void)state;
	assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < THREADS; i++) {
		void *r;

		assert_int_equal(pthread_join(t[i], &r), 0);
		passed += (long)r;
	}
	pthread_barrier_destroy(&start);
	/* one winner; every other call is counted for the next print */
	assert_int_equal(passed, 1);
	assert_int_equal(__atomic_load_n(&shared_rl.suppressed, __ATOMIC_RELAXED),
	                 THREADS * CALLS - 1);
}

static void test_ratelimit_prints_again_after_interval(void **state)
{
	struct log_ratelimit rl = {0, 0};

	(void)state;
	assert_true(log_ratelimit_pass(&rl, 10));
	assert_false(log_ratelimit_pass(&rl, 10));
	assert_int_equal(rl.suppressed, 1);
	rl.last -= 10; /* the interval has elapsed */
	assert_true(log_ratelimit_pass(&rl, 10));
	assert_int_equal(rl.suppressed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ratelimit_one_print_across_threads),
	    cmocka_unit_test(test_ratelimit_prints_again_after_interval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
