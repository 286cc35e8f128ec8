/*
 * lib/mailbox.c: order, fullness, wrap-around, no allocation after _new, and
 * a producer and a consumer thread exchanging many items (built with the
 * TSan build type, this is the check of the atomics).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>

#include "alloccount.h"
#include "mailbox.h"

struct item {
	uint64_t n;
	uint8_t pad[40];
};

static void test_params(void **state)
{
	struct mailbox *m;

	(void)state;
	errno = 0;
	assert_null(mailbox_new(0, 8));
	assert_int_equal(errno, EINVAL);
	assert_null(mailbox_new(8, 0));
	assert_null(mailbox_new(MAILBOX_MAX_CAPACITY + 1, 8));
	assert_null(mailbox_new(8, MAILBOX_MAX_ITEM + 1));
	m = mailbox_new(5, 8);
	assert_non_null(m);
	assert_int_equal(mailbox_capacity(m), 8);
	mailbox_free(m);
	m = mailbox_new(1, 1);
	assert_non_null(m);
	assert_int_equal(mailbox_capacity(m), 1);
	mailbox_free(m);
	mailbox_free(NULL);
}

/* First in, first out; full refuses without changing anything; indexes wrap. */
static void test_order_and_full(void **state)
{
	struct mailbox *m = mailbox_new(4, sizeof(struct item));
	struct item it;
	uint64_t next_in = 0, next_out = 0;
	size_t before;

	(void)state;
	assert_non_null(m);
	before = alloccount;
	assert_false(mailbox_get(m, &it));
	for (int round = 0; round < 100; round++) {
		int k = 1 + round % 4;

		for (int i = 0; i < k; i++) {
			memset(&it, 0, sizeof(it));
			it.n = next_in++;
			it.pad[39] = (uint8_t)it.n;
			assert_true(mailbox_put(m, &it));
		}
		if (k == 4) {
			it.n = 999999;
			assert_false(mailbox_put(m, &it));
		}
		for (int i = 0; i < k; i++) {
			assert_true(mailbox_get(m, &it));
			assert_int_equal(it.n, next_out);
			assert_int_equal(it.pad[39], (uint8_t)next_out);
			next_out++;
		}
		assert_false(mailbox_get(m, &it));
	}
	assert_int_equal(alloccount, before);
	mailbox_free(m);
}

#define MANY 200000

static void *producer(void *arg)
{
	struct mailbox *m = arg;
	struct item it;

	memset(&it, 0, sizeof(it));
	for (uint64_t n = 0; n < MANY;) {
		it.n = n;
		memset(it.pad, (int)(n & 0xff), sizeof(it.pad));
		if (mailbox_put(m, &it))
			n++;
		else
			sched_yield();
	}
	return NULL;
}

/* Every item arrives, once, in order, whole, however the two threads interleave. */
static void test_two_threads(void **state)
{
	struct mailbox *m = mailbox_new(64, sizeof(struct item));
	struct item it;
	pthread_t th;

	(void)state;
	assert_non_null(m);
	assert_int_equal(pthread_create(&th, NULL, producer, m), 0);
	for (uint64_t n = 0; n < MANY;) {
		if (!mailbox_get(m, &it)) {
			sched_yield();
			continue;
		}
		assert_int_equal(it.n, n);
		for (size_t i = 0; i < sizeof(it.pad); i++)
			assert_int_equal(it.pad[i], n & 0xff);
		n++;
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_false(mailbox_get(m, &it));
	mailbox_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_params),
	    cmocka_unit_test(test_order_and_full),
	    cmocka_unit_test(test_two_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
