/*
 * The TC program of handoff "local" (daemon/bpf/local_ack.bpf.c) under
 * BPF_PROG_TEST_RUN, in a network namespace of its own (no socket matches,
 * so a valid ACK ends as "no listening socket"): the shared cookie vectors
 * as real ACK packets give the verdicts and counters lib/cookie.c's answers
 * call for; packets that are no handshake candidate pass untouched and
 * uncounted; the deny list drops, a longer allow entry inside it does not;
 * wildcard listeners match any address of their family; malformed options
 * are counted; a listener flagged stateful reports no handshake it did not
 * hand over. Needs root and BPF: otherwise exits 77 and says why.
 */
#define _GNU_SOURCE /* unshare */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfkeys.h"
#include "cookie.h"
#include "bpf_test.h"
#include "cookie_vectors.h"
#include "local_ack.h"
#include "local_ack.skel.h"
#include "pkt.h"

#define TCX_NEXT (-1)
#define TCX_PASS 0
#define TCX_DROP 2

static struct local_ack *skel;
static int ncpus;

static const uint8_t master[COOKIE_MASTER_LEN] = {1,  2,  3,  4,  5,  6,  7,  8, 9,
                                                  10, 11, 12, 13, 14, 15, 16, 17};

static uint64_t counter(uint32_t slot, uint32_t id)
{
	uint64_t v[512], s = 0;
	uint32_t k = slot * SG_LOCAL_NCOUNTERS + id;

	assert_true(ncpus > 0 && ncpus <= 512);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.sg_local_counters), &k, v), 0);
	for (int c = 0; c < ncpus; c++)
		s += v[c];
	return s;
}

static void counters(uint32_t slot, uint64_t out[SG_LOCAL_NCOUNTERS])
{
	for (uint32_t id = 0; id < SG_LOCAL_NCOUNTERS; id++)
		out[id] = counter(slot, id);
}

static void put_listener(int family, const uint8_t *addr, uint16_t port, uint32_t slot,
                         const uint16_t mss[4], uint32_t policy, uint8_t flags)
{
	struct sg_local_key k = {.family = family == AF_INET ? 4 : 6, .port = port};
	struct sg_local_listener v = {.slot = slot, .policy = policy, .wscale = 7, .flags = flags};

	memcpy(k.addr, addr, family == AF_INET ? 4 : 16);
	memcpy(v.mss, mss, sizeof(v.mss));
	assert_int_equal(
	    bpf_map_update_elem(bpf_map__fd(skel->maps.sg_local_listeners), &k, &v, BPF_ANY), 0);
}

static void clear_listeners(void)
{
	int fd = bpf_map__fd(skel->maps.sg_local_listeners);
	struct sg_local_key k;

	while (bpf_map_get_next_key(fd, NULL, &k) == 0)
		assert_int_equal(bpf_map_delete_elem(fd, &k), 0);
}

/* One run over an Ethernet frame carrying the packet spec builds; the verdict. */
static int run(const struct pkt_spec *spec)
{
	uint8_t frame[14 + PKT_BUILD_MAX] = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};
	size_t n = pkt_build(frame + 14, sizeof(frame) - 14, spec);

	assert_true(n > 0);
	frame[12] = spec->t.family == AF_INET ? 0x08 : 0x86;
	frame[13] = spec->t.family == AF_INET ? 0x00 : 0xdd;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = 14 + n, .repeat = 1);
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sg_local_ack), &opts),
	                 0);
	return (int)opts.retval;
}

static void keys_for(const struct cookie_vec *v)
{
	int fd = bpf_map__fd(skel->maps.sg_cookie_keys);

	assert_int_equal(bpfkeys_clear(fd), 0);
	for (unsigned i = 0; i < v->nkeys; i++) {
		uint8_t key[COOKIE_KEY_LEN];

		cookie_derive_key(key, cookie_vec_master, v->keys[i]);
		assert_int_equal(bpfkeys_put_key(fd, v->keys[i], key), 0);
	}
	assert_int_equal(bpfkeys_put_now(fd, v->epoch), 0);
}

/* Every check vector of family 4 or 6, as the ACK packet it describes. */
static void test_vectors_as_packets(void **state)
{
	unsigned runs = 0, valid = 0;

	(void)state;
	for (unsigned i = 0; i < COOKIE_NVECS; i++) {
		const struct cookie_vec *v = &cookie_vecs[i];
		int af = v->family == 4 ? AF_INET : AF_INET6;
		struct pkt_spec ack = {
		    .seq = v->seq, .ack = v->ack, .window = 502, .flags = PKT_ACK};
		uint64_t before[SG_LOCAL_NCOUNTERS], after[SG_LOCAL_NCOUNTERS];
		uint32_t want;
		int verdict;

		if (v->op != VEC_CHECK || (v->family != 4 && v->family != 6))
			continue;
		ack.t.family = (uint8_t)af;
		memcpy(ack.t.saddr, v->saddr, 16);
		memcpy(ack.t.daddr, v->daddr, 16);
		ack.t.sport = v->sport;
		ack.t.dport = v->dport;
		ack.opt.has_ts = v->flags & VEC_TS;
		ack.opt.tsval = 0x11223344;
		ack.opt.tsecr = v->tsecr;
		clear_listeners();
		put_listener(af, v->daddr, v->dport, i % SG_LOCAL_SLOTS, v->mss_table, 0, 0);
		keys_for(v);
		counters(i % SG_LOCAL_SLOTS, before);
		verdict = run(&ack);
		counters(i % SG_LOCAL_SLOTS, after);
		want = v->rc == COOKIE_VALID    ? SG_LC_ACK_VALID
		       : v->rc == COOKIE_ENOKEY ? SG_LC_ACK_EXPIRED
		                                : SG_LC_ACK_INVALID;
		for (uint32_t id = 0; id < SG_LOCAL_NCOUNTERS; id++) {
			uint64_t d = after[id] - before[id];
			uint64_t e =
			    id == want || (v->rc == COOKIE_VALID && id == SG_LC_HANDOFF_FAILED);

			if (d != e)
				fail_msg("vector %u (%s): counter %u grew by %llu, expected %llu",
				         i, v->name, id, (unsigned long long)d,
				         (unsigned long long)e);
		}
		/* no socket in this namespace: even a valid ACK has nobody to go to */
		assert_int_equal(verdict, TCX_DROP);
		runs++;
		valid += v->rc == COOKIE_VALID;
	}
	printf("%u check vectors as packets, %u valid\n", runs, valid);
	assert_true(runs > 100 && valid > 10);
}

static const uint16_t mss4[4] = COOKIE_MSS4_DEFAULT;
static const uint8_t server4[4] = {192, 0, 2, 1};
static const uint8_t client4[4] = {198, 51, 100, 7};

/* A handshake's ACK with a valid cookie made by lib/cookie.c at epoch e. */
static struct pkt_spec valid_ack(const uint8_t saddr[4], uint16_t dport, uint32_t e)
{
	struct cookie_ctx *ctx = cookie_new();
	struct pkt_spec ack = {.window = 502, .flags = PKT_ACK};
	struct cookie_syn in = {.mss = 1460, .wscale = 7, .has_wscale = true, .sack_ok = true};
	uint8_t key[COOKIE_KEY_LEN];
	uint32_t isn, tsval;

	assert_non_null(ctx);
	cookie_derive_key(key, master, e);
	cookie_set_key(ctx, e, key);
	ack.t.family = AF_INET;
	memcpy(ack.t.saddr, saddr, 4);
	memcpy(ack.t.daddr, server4, 4);
	ack.t.sport = 40000;
	ack.t.dport = dport;
	assert_int_equal(cookie_make(ctx, e, mss4, &ack.t, 1000, &in, &isn, &tsval), 0);
	ack.seq = 1001;
	ack.ack = isn + 1;
	cookie_free(ctx);
	return ack;
}

static void keys_at(uint32_t e)
{
	struct bpfkeys *b = bpfkeys_new(bpf_map__fd(skel->maps.sg_cookie_keys), master);

	assert_non_null(b);
	assert_int_equal(bpfkeys_clear(bpf_map__fd(skel->maps.sg_cookie_keys)), 0);
	assert_int_equal(bpfkeys_set_epoch(b, e), 0);
	bpfkeys_free(b);
}

static void acl(const uint8_t addr[4], uint8_t len, uint32_t policy, uint8_t what)
{
	struct sg_local_acl4 k = {.prefixlen = 32u + len, .policy = policy};

	memcpy(k.addr, addr, 4);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.sg_local_acl4), &k, &what, 0),
	                 0);
}

static void test_policy_and_candidates(void **state)
{
	const uint32_t e = 0x5000, slot = 3, pol = 0x80000001;
	const uint8_t net[4] = {198, 51, 100, 0}, host[4] = {198, 51, 100, 9};
	uint64_t c0[SG_LOCAL_NCOUNTERS], c1[SG_LOCAL_NCOUNTERS];
	struct pkt_spec p;

	(void)state;
	keys_at(e);
	clear_listeners();
	put_listener(AF_INET, server4, 80, slot, mss4, pol, SG_LOCAL_F_ACL);
	acl(net, 24, pol, SG_LOCAL_ACL_DENY);
	acl(host, 32, pol, SG_LOCAL_ACL_ALLOW);
	counters(slot, c0);

	/* not candidates: another port, a SYN, a RST, a FIN: untouched, uncounted */
	p = valid_ack(client4, 81, e);
	assert_int_equal(run(&p), TCX_NEXT);
	p = valid_ack(client4, 80, e);
	p.flags = PKT_SYN;
	assert_int_equal(run(&p), TCX_NEXT);
	p.flags = PKT_RST | PKT_ACK;
	assert_int_equal(run(&p), TCX_NEXT);
	p.flags = PKT_FIN | PKT_ACK;
	assert_int_equal(run(&p), TCX_NEXT);
	counters(slot, c1);
	assert_memory_equal(c0, c1, sizeof(c0));

	/* denied source: dropped before the cookie is looked at */
	p = valid_ack(client4, 80, e);
	assert_int_equal(run(&p), TCX_DROP);
	assert_int_equal(counter(slot, SG_LC_ACK_DENIED), c0[SG_LC_ACK_DENIED] + 1);
	assert_int_equal(counter(slot, SG_LC_ACK_VALID), c0[SG_LC_ACK_VALID]);

	/* the longer allow entry wins inside the denied /24: the cookie is checked */
	p = valid_ack(host, 80, e);
	assert_int_equal(run(&p), TCX_DROP); /* no listening socket here */
	assert_int_equal(counter(slot, SG_LC_ACK_DENIED), c0[SG_LC_ACK_DENIED] + 1);
	assert_int_equal(counter(slot, SG_LC_ACK_VALID), c0[SG_LC_ACK_VALID] + 1);
	assert_int_equal(counter(slot, SG_LC_HANDOFF_FAILED), c0[SG_LC_HANDOFF_FAILED] + 1);

	/* without the ACL flag the lists are not consulted */
	put_listener(AF_INET, server4, 80, slot, mss4, pol, 0);
	p = valid_ack(client4, 80, e);
	run(&p);
	assert_int_equal(counter(slot, SG_LC_ACK_DENIED), c0[SG_LC_ACK_DENIED] + 1);
	assert_int_equal(counter(slot, SG_LC_ACK_VALID), c0[SG_LC_ACK_VALID] + 2);

	/* a tampered cookie; an expired one (two epochs on) */
	p.ack ^= 0x100;
	assert_int_equal(run(&p), TCX_DROP);
	assert_int_equal(counter(slot, SG_LC_ACK_INVALID), c0[SG_LC_ACK_INVALID] + 1);
	p = valid_ack(client4, 80, e);
	keys_at(e + 2);
	run(&p);
	assert_int_equal(counter(slot, SG_LC_ACK_VALID), c0[SG_LC_ACK_VALID] + 2);
	assert_int_equal(counter(slot, SG_LC_ACK_INVALID), c0[SG_LC_ACK_INVALID] + 2);
	keys_at(e + 1);
	run(&p);
	assert_int_equal(counter(slot, SG_LC_ACK_VALID), c0[SG_LC_ACK_VALID] + 3);

	/* malformed options (a length of 1) */
	p.opt.has_ts = true;
	{
		uint8_t frame[14 + PKT_BUILD_MAX] = {[12] = 0x08};
		size_t n = pkt_build(frame + 14, sizeof(frame) - 14, &p);
		uint8_t *opt = frame + 14 + 20 + 20;

		assert_true(n > 40);
		opt[0] = 8; /* timestamps */
		opt[1] = 1; /* length 1 */
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = 14 + n,
		            .repeat = 1);
		assert_int_equal(
		    bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sg_local_ack), &o), 0);
		assert_int_equal((int)o.retval, TCX_DROP);
		assert_int_equal(counter(slot, SG_LC_MALFORMED_OPT), c0[SG_LC_MALFORMED_OPT] + 1);
	}
}

/* A wildcard listener takes any address of its family, an addressed one only its own. */
static void test_wildcard(void **state)
{
	const uint8_t any[16] = {0}, other[4] = {203, 0, 113, 5};
	const uint32_t e = 0x6000;
	struct pkt_spec p;
	uint64_t v0;

	(void)state;
	keys_at(e);
	clear_listeners();
	put_listener(AF_INET, any, 8080, 9, mss4, 0, 0);
	v0 = counter(9, SG_LC_ACK_VALID);
	p = valid_ack(client4, 8080, e);
	assert_int_equal(run(&p), TCX_DROP);
	assert_int_equal(counter(9, SG_LC_ACK_VALID), v0 + 1);
	/* another destination address, same port: the wildcard's too (the cookie, bound to
	 * the address, fails) */
	memcpy(p.t.daddr, other, 4);
	assert_int_equal(run(&p), TCX_DROP);
	assert_int_equal(counter(9, SG_LC_ACK_INVALID) > 0, 1);
	/* an IPv6 packet to the same port is not the IPv4 wildcard's */
	p.t.family = AF_INET6;
	assert_int_equal(run(&p), TCX_NEXT);
}

/* For the record, not asserted: the program's time per forged ACK and per valid one. */
static void test_timing(void **state)
{
	const uint32_t e = 0x7000;
	uint8_t frame[14 + PKT_BUILD_MAX] = {[12] = 0x08};
	struct pkt_spec p;
	size_t n;

	(void)state;
	keys_at(e);
	clear_listeners();
	put_listener(AF_INET, server4, 80, 1, mss4, 0, 0);
	for (int valid = 0; valid < 2; valid++) {
		p = valid_ack(client4, 80, e);
		p.opt.has_ts = true;
		if (!valid)
			p.ack ^= 0x12345;
		n = pkt_build(frame + 14, sizeof(frame) - 14, &p);
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = 14 + n,
		            .repeat = 100000);
		assert_int_equal(
		    bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sg_local_ack), &o), 0);
		printf("%s ACK with timestamps: %u ns per run (BPF_PROG_TEST_RUN, repeat %u)\n",
		       valid ? "valid (no listener)" : "forged", o.duration, o.repeat);
	}
}

static int count_report(void *ctx, void *data, size_t size)
{
	(void)data;
	(void)size;
	(*(unsigned *)ctx)++;
	return 0;
}

/* A listener flagged stateful reports handshakes it handed over, and only those: a valid ACK
 * with no socket to take it, or a forged one, reports nothing (handoffs themselves need a
 * real ingress: tests/netns/local_stateful.sh). */
static void test_stateful_reports(void **state)
{
	uint32_t e = 5000;
	unsigned reports = 0;
	struct ring_buffer *rb;
	struct pkt_spec p;
	uint64_t before[SG_LOCAL_NCOUNTERS], after[SG_LOCAL_NCOUNTERS];

	(void)state;
	rb = ring_buffer__new(bpf_map__fd(skel->maps.sg_local_done), count_report, &reports, NULL);
	assert_non_null(rb);
	keys_at(e);
	clear_listeners();
	put_listener(AF_INET, server4, 80, 3, mss4, 0, SG_LOCAL_F_STATEFUL);
	counters(3, before);
	p = valid_ack(client4, 80, e);
	assert_int_equal(run(&p), TCX_DROP);
	p.ack ^= 0x12345;
	assert_int_equal(run(&p), TCX_DROP);
	counters(3, after);
	assert_int_equal(after[SG_LC_ACK_VALID] - before[SG_LC_ACK_VALID], 1);
	assert_int_equal(after[SG_LC_HANDOFF_FAILED] - before[SG_LC_HANDOFF_FAILED], 1);
	assert_int_equal(after[SG_LC_ACK_INVALID] - before[SG_LC_ACK_INVALID], 1);
	assert_int_equal(after[SG_LC_DONE_LOST], before[SG_LC_DONE_LOST]);
	assert_int_equal(ring_buffer__consume(rb), 0);
	assert_int_equal(reports, 0);
	ring_buffer__free(rb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors_as_packets),
	    cmocka_unit_test(test_policy_and_candidates),
	    cmocka_unit_test(test_wildcard),
	    cmocka_unit_test(test_stateful_reports),
	    cmocka_unit_test(test_timing),
	};
	int rc;

	/* its own network namespace: no socket of this machine can match a test packet */
	rc = bpf_test_enter(BPF_TEST_NETNS);
	if (rc != 0)
		return rc;
	ncpus = libbpf_num_possible_cpus();
	skel = local_ack__open_and_load();
	if (skel == NULL)
		return bpf_test_load_failed("local_ack");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	local_ack__destroy(skel);
	return rc;
}
