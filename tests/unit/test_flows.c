/* The per-thread table of recently handed-off flows (daemon/flows.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <sys/socket.h>

#include "flows.h"

#define ACK 0x8badf00dU /* our ISN + 1 in every flow below, unless said otherwise */

static struct pkt_tuple tuple4(uint32_t src, uint16_t sport)
{
	struct pkt_tuple t;

	memset(&t, 0, sizeof(t));
	t.family = AF_INET;
	src = htonl(src);
	memcpy(t.saddr, &src, 4);
	inet_pton(AF_INET, "192.0.2.1", t.daddr);
	t.sport = sport;
	t.dport = 80;
	return t;
}

static struct pkt_tuple tuple6(uint16_t sport)
{
	struct pkt_tuple t;

	memset(&t, 0, sizeof(t));
	t.family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::2", t.saddr);
	inet_pton(AF_INET6, "2001:db8::1", t.daddr);
	t.sport = sport;
	t.dport = 80;
	return t;
}

static void test_capacity_rounds_up(void **state)
{
	struct flows *f = flows_new(1000, 100, 1);

	(void)state;
	assert_non_null(f);
	assert_int_equal(flows_capacity(f), 1024);
	flows_free(f);
	f = flows_new(0, 100, 1);
	assert_int_equal(flows_capacity(f), FLOWS_PROBE);
	flows_free(f);
}

static void test_insert_then_expire(void **state)
{
	struct flows *f = flows_new(64, 5000, 42);
	struct pkt_tuple a = tuple4(0xc0000202, 40000);

	(void)state;
	assert_false(flows_contains(f, &a, ACK, 1000));
	assert_false(flows_insert(f, &a, ACK, 1000));
	assert_true(flows_contains(f, &a, ACK, 1000));
	assert_true(flows_contains(f, &a, ACK, 5999));
	assert_false(flows_contains(f, &a, ACK, 6000)); /* lives exactly ttl */
	flows_free(f);
}

static void test_key_is_the_whole_tuple(void **state)
{
	struct flows *f = flows_new(64, 5000, 7);
	struct pkt_tuple a = tuple4(0xc0000202, 40000);
	struct pkt_tuple b;

	(void)state;
	flows_insert(f, &a, ACK, 10);
	b = a;
	b.sport++;
	assert_false(flows_contains(f, &b, ACK, 10));
	b = a;
	b.dport++;
	assert_false(flows_contains(f, &b, ACK, 10));
	b = a;
	b.saddr[3] ^= 1;
	assert_false(flows_contains(f, &b, ACK, 10));
	b = a;
	b.daddr[0] ^= 1;
	assert_false(flows_contains(f, &b, ACK, 10));
	b = a;
	b.family = AF_INET6;
	assert_false(flows_contains(f, &b, ACK, 10));
	/* bytes past an IPv4 address are not part of the key */
	b = a;
	memset(b.saddr + 4, 0xaa, 12);
	memset(b.daddr + 4, 0x55, 12);
	assert_true(flows_contains(f, &b, ACK, 10));
	flows_free(f);
}

/* A new connection on the same tuple acknowledges another cookie: not the remembered flow. */
static void test_ack_must_match(void **state)
{
	struct flows *f = flows_new(64, 5000, 13);
	struct pkt_tuple a = tuple4(0xc0000202, 40000);

	(void)state;
	flows_insert(f, &a, ACK, 10);
	assert_true(flows_contains(f, &a, ACK, 20));
	assert_false(flows_contains(f, &a, ACK + 1, 20));
	assert_false(flows_contains(f, &a, 0x12345678, 20));
	/* its own handshake then replaces the entry in place */
	assert_false(flows_insert(f, &a, 0x12345678, 30));
	assert_true(flows_contains(f, &a, 0x12345678, 40));
	assert_false(flows_contains(f, &a, ACK, 40));
	flows_free(f);
}

static void test_ipv6(void **state)
{
	struct flows *f = flows_new(64, 5000, 9);
	struct pkt_tuple a = tuple6(1234), b = tuple6(1235);

	(void)state;
	flows_insert(f, &a, ACK, 1);
	assert_true(flows_contains(f, &a, ACK, 2));
	assert_false(flows_contains(f, &b, ACK, 2));
	flows_free(f);
}

static void test_reinsert_refreshes_without_duplicate(void **state)
{
	struct flows *f = flows_new(FLOWS_PROBE, 100, 3);
	struct pkt_tuple a = tuple4(0xc0000202, 1);

	(void)state;
	assert_false(flows_insert(f, &a, ACK, 0));
	assert_false(flows_insert(f, &a, ACK, 50)); /* same flow: a refresh, nothing evicted */
	assert_true(flows_contains(f, &a, ACK, 149));
	/* Filling the rest of the table evicts nothing: the refresh took no second slot. */
	for (uint16_t p = 2; p <= FLOWS_PROBE; p++) {
		struct pkt_tuple t = tuple4(0xc0000202, p);

		assert_false(flows_insert(f, &t, ACK, 60));
	}
	flows_free(f);
}

/* A full table evicts the entry that expires first and says so; lookups stay bounded. */
static void test_full_table_evicts_oldest(void **state)
{
	struct flows *f = flows_new(FLOWS_PROBE, 1000, 5);
	struct pkt_tuple t[FLOWS_PROBE + 1];

	(void)state;
	/* With capacity == FLOWS_PROBE every probe window is the whole table. */
	for (size_t i = 0; i < FLOWS_PROBE; i++) {
		t[i] = tuple4(0xc6120000 + (uint32_t)i, 1000);
		assert_false(flows_insert(f, &t[i], ACK, 100 + i));
	}
	for (size_t i = 0; i < FLOWS_PROBE; i++)
		assert_true(flows_contains(f, &t[i], ACK, 200));
	t[FLOWS_PROBE] = tuple4(0xc6120100, 1000);
	assert_true(flows_insert(f, &t[FLOWS_PROBE], ACK, 200));
	assert_false(flows_contains(f, &t[0], ACK, 200)); /* inserted first, expires first */
	for (size_t i = 1; i <= FLOWS_PROBE; i++)
		assert_true(flows_contains(f, &t[i], ACK, 200));
	flows_free(f);
}

/* Expired entries are reused without counting as evictions. */
static void test_expired_slots_are_reused(void **state)
{
	struct flows *f = flows_new(FLOWS_PROBE, 10, 11);

	(void)state;
	for (uint32_t i = 0; i < 1000; i++) {
		struct pkt_tuple t = tuple4(0xc6120000 + i, 80);

		/* each insert comes after every earlier entry expired */
		assert_false(flows_insert(f, &t, ACK, (uint64_t)i * 10 + 1));
		assert_true(flows_contains(f, &t, ACK, (uint64_t)i * 10 + 1));
	}
	flows_free(f);
}

/* Many live flows in a large table: all found (the probe window rarely overflows). */
static void test_many_flows(void **state)
{
	struct flows *f = flows_new(8192, 5000, 0x1234);
	size_t evicted = 0, found = 0;

	(void)state;
	for (uint32_t i = 0; i < 2048; i++) {
		struct pkt_tuple t = tuple4(0xc6120000 + (i >> 4), (uint16_t)(30000 + i));

		evicted += flows_insert(f, &t, ACK, 1);
	}
	for (uint32_t i = 0; i < 2048; i++) {
		struct pkt_tuple t = tuple4(0xc6120000 + (i >> 4), (uint16_t)(30000 + i));

		found += flows_contains(f, &t, ACK, 2);
	}
	assert_int_equal(evicted, 0);
	assert_int_equal(found, 2048);
	flows_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_capacity_rounds_up),
	    cmocka_unit_test(test_insert_then_expire),
	    cmocka_unit_test(test_key_is_the_whole_tuple),
	    cmocka_unit_test(test_ack_must_match),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_reinsert_refreshes_without_duplicate),
	    cmocka_unit_test(test_full_table_evicts_oldest),
	    cmocka_unit_test(test_expired_slots_are_reused),
	    cmocka_unit_test(test_many_flows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
