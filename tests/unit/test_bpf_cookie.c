/*
 * The kernel programs' cookie (daemon/bpf/cookie.bpf.h) against the shared
 * vectors that lib/cookie.c answers (test_cookie_vectors), each vector run
 * through the test program cookie_vec.bpf.c with BPF_PROG_TEST_RUN; and the
 * daemon's key writer (bpfkeys) rotating across epochs while the program and
 * lib/cookie.c keep agreeing. Needs root and a kernel with BPF: otherwise it
 * exits 77 (skipped) and says why.
 */
#define _GNU_SOURCE /* unshare, in bpf_test.h */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bpfkeys.h"
#include "cookie.h"
#include "cookie_keys.h"
#include "cookie_pkt_prog.skel.h"
#include "cookie_vec_prog.skel.h"
#include "cookie_vec_io.h"
#include "bpf_test.h"
#include "cookie_vectors.h"

/* The vectors' flags and results are the program's. */
#define SG_SYN_WSCALE 0x1
#define SG_SYN_SACK   0x2
#define SG_SYN_TS     0x4
#define SG_SYN_ECN    0x8
_Static_assert(VEC_WSCALE == SG_SYN_WSCALE && VEC_SACK == SG_SYN_SACK && VEC_TS == SG_SYN_TS &&
                   VEC_ECN == SG_SYN_ECN,
               "option flags");
_Static_assert(VEC_MAKE == COOKIE_VEC_MAKE && VEC_CHECK == COOKIE_VEC_CHECK, "operations");
_Static_assert(sizeof(struct cookie_vec_io) == 80, "record layout as the program reads it");

static struct cookie_vec_prog *skel;
static struct cookie_pkt_prog *pkt_skel;
static int prog_fd, map_fd;

static void io_of(const struct cookie_vec *v, struct cookie_vec_io *io)
{
	memset(io, 0, sizeof(*io));
	io->op = v->op;
	io->family = v->family;
	io->flags = v->flags;
	io->wscale = v->wscale;
	io->mss = v->mss;
	io->sport = v->sport;
	io->dport = v->dport;
	memcpy(io->mss_table, v->mss_table, sizeof(io->mss_table));
	memcpy(io->saddr, v->saddr, 16);
	memcpy(io->daddr, v->daddr, 16);
	io->seq = v->seq;
	io->ack = v->ack;
	io->tsecr = v->tsecr;
}

/* One run of the test program over io, in place. */
static void run_io(struct cookie_vec_io *io)
{
	struct cookie_vec_io out;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = io, .data_size_in = sizeof(*io),
	            .data_out = &out, .data_size_out = sizeof(out), .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(prog_fd, &opts), 0);
	assert_int_equal(opts.retval, XDP_PASS);
	assert_int_equal(opts.data_size_out, sizeof(out));
	*io = out;
}

/* The map as the vector's keys (derived from the vectors' master) and epoch make it. */
static void keys_of(const struct cookie_vec *v)
{
	assert_int_equal(bpfkeys_clear(map_fd), 0);
	for (unsigned i = 0; i < v->nkeys; i++) {
		uint8_t key[COOKIE_KEY_LEN];

		cookie_derive_key(key, cookie_vec_master, v->keys[i]);
		assert_int_equal(bpfkeys_put_key(map_fd, v->keys[i], key), 0);
	}
	assert_int_equal(bpfkeys_put_now(map_fd, v->epoch), 0);
}

/* True when the program's answer io is the vector's. */
static bool same(const struct cookie_vec *v, const struct cookie_vec_io *io)
{
	if (io->rc != v->rc)
		return false;
	if (v->op == VEC_MAKE)
		return v->rc != 0 || (io->isn == v->isn && io->tsval == v->tsval);
	return v->rc != COOKIE_VALID ||
	       (io->out_mss == v->out_mss && io->out_wscale == v->out_wscale &&
	        io->out_flags == v->out_flags);
}

static bool run_vec(const struct cookie_vec *v, unsigned idx, bool quiet)
{
	struct cookie_vec_io io;

	keys_of(v);
	io_of(v, &io);
	run_io(&io);
	if (same(v, &io))
		return true;
	if (quiet)
		return false;
	printf("vector %u (%s, %s, IPv%u): program rc %d isn %#x tsval %#x mss %u wscale %u "
	       "flags %#x; expected %d %#x %#x %u %u %#x\n",
	       idx, v->name, v->op == VEC_MAKE ? "make" : "check", v->family, io.rc, io.isn,
	       io.tsval, io.out_mss, io.out_wscale, io.out_flags, v->rc, v->isn, v->tsval,
	       v->out_mss, v->out_wscale, v->out_flags);
	return false;
}

static void test_program_matches_vectors(void **state)
{
	unsigned bad = 0;

	(void)state;
	for (unsigned i = 0; i < COOKIE_NVECS; i++)
		bad += !run_vec(&cookie_vecs[i], i, false);
	printf("%u vectors, %u differ\n", COOKIE_NVECS, bad);
	assert_int_equal(bad, 0);
}

/* The comparison can fail: every vector with one expected bit flipped is told apart. */
static void test_comparison_detects_a_flipped_bit(void **state)
{
	unsigned caught = 0, tried = 0;

	(void)state;
	for (unsigned i = 0; i < COOKIE_NVECS; i += 7) {
		struct cookie_vec v = cookie_vecs[i];

		if (v.op == VEC_MAKE && v.rc == 0)
			v.isn ^= 1u << (i % 32);
		else if (v.op == VEC_CHECK && v.rc == COOKIE_VALID)
			v.out_mss ^= 1;
		else
			v.rc ^= 1;
		tried++;
		caught += !run_vec(&v, i, true);
	}
	assert_true(tried > 100);
	assert_int_equal(caught, tried);
}

static const uint8_t master[COOKIE_MASTER_LEN] = {
    0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0,
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
};

static struct pkt_tuple tuple6(void)
{
	struct pkt_tuple t = {.family = AF_INET6, .sport = 51000, .dport = 443};
	static const uint8_t s[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
	static const uint8_t d[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

	memcpy(t.saddr, s, 16);
	memcpy(t.daddr, d, 16);
	return t;
}

static void io_tuple(struct cookie_vec_io *io, const struct pkt_tuple *t, uint8_t op)
{
	static const uint16_t mss6[COOKIE_MSS_SLOTS] = COOKIE_MSS6_DEFAULT;

	memset(io, 0, sizeof(*io));
	io->op = op;
	io->family = t->family == AF_INET ? 4 : 6;
	memcpy(io->saddr, t->saddr, 16);
	memcpy(io->daddr, t->daddr, 16);
	io->sport = t->sport;
	io->dport = t->dport;
	memcpy(io->mss_table, mss6, sizeof(mss6));
}

/* The program's make in its current epoch; lib/cookie.c makes the same cookie. */
static void bpf_make(const struct pkt_tuple *t, uint32_t cisn, uint32_t *isn, uint32_t *tsval)
{
	struct cookie_vec_io io;

	io_tuple(&io, t, COOKIE_VEC_MAKE);
	io.seq = cisn;
	io.mss = 1500;
	io.wscale = 7;
	io.flags = SG_SYN_WSCALE | SG_SYN_SACK | SG_SYN_TS;
	run_io(&io);
	assert_int_equal(io.rc, 0);
	*isn = io.isn;
	*tsval = io.tsval;
}

static int bpf_check(const struct pkt_tuple *t, uint32_t cisn, uint32_t isn, uint32_t tsval)
{
	struct cookie_vec_io io;

	io_tuple(&io, t, COOKIE_VEC_CHECK);
	io.seq = cisn + 1;
	io.ack = isn + 1;
	io.flags = SG_SYN_TS;
	io.tsecr = tsval;
	run_io(&io);
	if (io.rc == COOKIE_VALID) {
		assert_int_equal(io.out_mss, 1440);
		assert_int_equal(io.out_wscale, 7);
		assert_int_equal(io.out_flags, SG_SYN_WSCALE | SG_SYN_SACK | SG_SYN_TS);
	}
	return io.rc;
}

/* lib/cookie.c with the keys the NFQUEUE path installs at epoch e (queue.c). */
static void lib_refresh(struct cookie_ctx *ctx, uint32_t e)
{
	for (uint32_t x = e - 1;; x = e) {
		if (!cookie_has_key(ctx, x)) {
			uint8_t key[COOKIE_KEY_LEN];

			cookie_derive_key(key, master, x);
			cookie_set_key(ctx, x, key);
		}
		if (x == e)
			break;
	}
}

static int lib_check(const struct cookie_ctx *ctx, uint32_t now, const struct pkt_tuple *t,
                     uint32_t cisn, uint32_t isn, uint32_t tsval)
{
	static const uint16_t mss6[COOKIE_MSS_SLOTS] = COOKIE_MSS6_DEFAULT;
	struct pkt_tcpopts opt = {.has_ts = true, .tsecr = tsval};
	struct cookie_syn out;

	return (int)cookie_check(ctx, now, mss6, t, cisn + 1, isn + 1, &opt, &out);
}

static void read_map(struct sg_cookie_keyent ent[SG_COOKIE_KEYS_ENTRIES])
{
	for (uint32_t i = 0; i < SG_COOKIE_KEYS_ENTRIES; i++)
		assert_int_equal(bpf_map_lookup_elem(map_fd, &i, &ent[i]), 0);
}

/* A rotation writes the spare slot and then the current epoch, nothing else. */
static void rotate(struct bpfkeys *b, uint32_t e)
{
	struct sg_cookie_keyent before[SG_COOKIE_KEYS_ENTRIES], after[SG_COOKIE_KEYS_ENTRIES];
	uint32_t spare = e & (SG_COOKIE_KEY_SLOTS - 1);

	read_map(before);
	assert_int_equal(bpfkeys_set_epoch(b, e), 0);
	read_map(after);
	for (uint32_t i = 0; i < SG_COOKIE_KEY_SLOTS; i++)
		if (i != spare)
			assert_memory_equal(&before[i], &after[i], sizeof(before[i]));
	assert_int_equal(after[spare].epoch, e);
	assert_int_equal(after[spare].flags, SG_COOKIE_KEY_LIVE);
	assert_int_equal(after[SG_COOKIE_KEYS_NOW].epoch, e);
}

static void rotation_from(uint32_t e)
{
	struct pkt_tuple t = tuple6();
	struct cookie_ctx *ctx = cookie_new();
	struct bpfkeys *b = bpfkeys_new(map_fd, master);
	static const uint16_t mss6[COOKIE_MSS_SLOTS] = COOKIE_MSS6_DEFAULT;
	struct cookie_syn in = {
	    .mss = 1500, .wscale = 7, .has_wscale = true, .sack_ok = true, .has_ts = true};
	uint32_t isn, tsval, lisn, ltsval, isn1, tsval1;

	assert_non_null(ctx);
	assert_non_null(b);
	assert_int_equal(bpfkeys_clear(map_fd), 0);
	assert_int_equal(bpfkeys_set_epoch(b, e), 0);
	lib_refresh(ctx, e);

	/* Made in e by the program: the same cookie as lib/cookie.c's, valid in both. */
	bpf_make(&t, 1000 + e, &isn, &tsval);
	assert_int_equal(cookie_make(ctx, e, mss6, &t, 1000 + e, &in, &lisn, &ltsval), 0);
	assert_int_equal(isn, lisn);
	assert_int_equal(tsval, ltsval);
	assert_int_equal(bpf_check(&t, 1000 + e, isn, tsval), COOKIE_VALID);
	assert_int_equal(bpf_check(&t, 1000 + e, isn, tsval ^ 2), COOKIE_ETS);

	/* e + 1: still valid, in both. */
	rotate(b, e + 1);
	lib_refresh(ctx, e + 1);
	assert_int_equal(bpf_check(&t, 1000 + e, isn, tsval), COOKIE_VALID);
	assert_int_equal(lib_check(ctx, e + 1, &t, 1000 + e, isn, tsval), COOKIE_VALID);
	bpf_make(&t, 2000 + e, &isn1, &tsval1);
	assert_int_equal(lib_check(ctx, e + 1, &t, 2000 + e, isn1, tsval1), COOKIE_VALID);

	/* e + 2: gone (the key of e + 2 took its parity), in both; e + 1's still valid. */
	rotate(b, e + 2);
	lib_refresh(ctx, e + 2);
	assert_int_equal(bpf_check(&t, 1000 + e, isn, tsval), COOKIE_EMAC);
	assert_int_equal(lib_check(ctx, e + 2, &t, 1000 + e, isn, tsval), COOKIE_EMAC);
	assert_int_equal(bpf_check(&t, 2000 + e, isn1, tsval1), COOKIE_VALID);

	/* The same epoch again writes nothing. */
	struct sg_cookie_keyent before[SG_COOKIE_KEYS_ENTRIES], after[SG_COOKIE_KEYS_ENTRIES];

	read_map(before);
	assert_int_equal(bpfkeys_set_epoch(b, e + 2), 0);
	read_map(after);
	assert_memory_equal(before, after, sizeof(before));

	bpfkeys_free(b);
	cookie_free(ctx);
}

/* The programs' clock offset that puts them half way through epoch e of rotation seconds. */
static uint64_t offset_to(uint32_t e, uint32_t rotation)
{
	struct timespec m;
	uint64_t r_ns = (uint64_t)rotation * 1000000000u;

	clock_gettime(CLOCK_MONOTONIC, &m);
	return (uint64_t)e * r_ns + r_ns / 2 -
	       ((uint64_t)m.tv_sec * 1000000000u + (uint64_t)m.tv_nsec);
}

/*
 * The daemon's way (SG_COOKIE_NOW_CLOCK): the program reads its epoch off the
 * clock, so it changes epoch when the clock does, with no write from the
 * daemon: the next epoch's key, written ahead, is there. Made in e, a cookie is
 * lib/cookie.c's; once the clock is in e + 1 the program makes e + 1's cookies
 * and still takes e's; in e + 2, where no key was written, it makes none.
 */
static void test_clock(void **state)
{
	const uint32_t rot = 1000, e = 1796277; /* real time / rotation fits in 64-bit ns */
	struct pkt_tuple t = tuple6();
	struct cookie_ctx *ctx = cookie_new();
	struct bpfkeys *b = bpfkeys_new(map_fd, master);
	static const uint16_t mss6[COOKIE_MSS_SLOTS] = COOKIE_MSS6_DEFAULT;
	struct cookie_syn in = {
	    .mss = 1500, .wscale = 7, .has_wscale = true, .sack_ok = true, .has_ts = true};
	uint32_t isn, tsval, lisn, ltsval, isn1, tsval1;
	struct cookie_vec_io io;
	(void)state;

	assert_non_null(ctx);
	assert_non_null(b);
	assert_int_equal(bpfkeys_clear(map_fd), 0);
	assert_int_equal(bpfkeys_set_clock(b, e, offset_to(e, rot), rot), 0);

	lib_refresh(ctx, e);
	bpf_make(&t, 3000, &isn, &tsval);
	assert_int_equal(cookie_make(ctx, e, mss6, &t, 3000, &in, &lisn, &ltsval), 0);
	assert_int_equal(isn, lisn);
	assert_int_equal(tsval, ltsval);

	/* the clock moves on to e + 1: only the offset changes, as time would */
	assert_int_equal(bpfkeys_put_clock(map_fd, offset_to(e + 1, rot), rot), 0);
	lib_refresh(ctx, e + 1);
	bpf_make(&t, 4000, &isn1, &tsval1);
	assert_int_equal(cookie_make(ctx, e + 1, mss6, &t, 4000, &in, &lisn, &ltsval), 0);
	assert_int_equal(isn1, lisn);
	assert_int_equal(tsval1, ltsval);
	assert_int_equal(bpf_check(&t, 3000, isn, tsval), COOKIE_VALID);
	assert_int_equal(bpf_check(&t, 4000, isn1, tsval1), COOKIE_VALID);

	/* e + 2 with no key written for it: no cookie made; e's cookie names e + 2 (same
	 * parity) and finds no key; e + 1's is still good, as in lib/cookie.c */
	assert_int_equal(bpfkeys_put_clock(map_fd, offset_to(e + 2, rot), rot), 0);
	io_tuple(&io, &t, COOKIE_VEC_MAKE);
	io.seq = 5000;
	run_io(&io);
	assert_int_not_equal(io.rc, 0);
	assert_int_equal(bpf_check(&t, 3000, isn, tsval), COOKIE_ENOKEY);
	assert_int_equal(bpf_check(&t, 4000, isn1, tsval1), COOKIE_VALID);

	/* a later call in the same epoch writes nothing; a moved clock is written again */
	struct sg_cookie_keyent before[SG_COOKIE_KEYS_ENTRIES], after[SG_COOKIE_KEYS_ENTRIES];

	assert_int_equal(bpfkeys_set_clock(b, e + 2, offset_to(e + 2, rot), rot), 0);
	read_map(before);
	assert_int_equal(bpfkeys_set_clock(b, e + 2, before[SG_COOKIE_KEYS_NOW].clock_off_ns, rot),
	                 0);
	read_map(after);
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(after[SG_COOKIE_KEYS_NOW].flags, SG_COOKIE_KEY_LIVE | SG_COOKIE_NOW_CLOCK);
	assert_int_equal(after[(e + 3) & (SG_COOKIE_KEY_SLOTS - 1)].epoch, e + 3);
	assert_int_equal(bpfkeys_set_clock(b, e + 2, offset_to(e + 2, rot) + 1000000000u, rot), 0);
	read_map(after);
	assert_int_not_equal(after[SG_COOKIE_KEYS_NOW].clock_off_ns,
	                     before[SG_COOKIE_KEYS_NOW].clock_off_ns);

	bpfkeys_free(b);
	cookie_free(ctx);
}

static void test_rotation_even(void **state)
{
	(void)state;
	rotation_from(0x6a000000);
}

static void test_rotation_odd(void **state)
{
	(void)state;
	rotation_from(0x6a000001);
}

static void test_rotation_across_wrap(void **state)
{
	(void)state;
	rotation_from(UINT32_MAX - 1);
}

/* As cookie_pkt.bpf.c writes it. */
struct cookie_pkt_out {
	int32_t rc;
	uint32_t isn;
	uint32_t tsval;
	uint16_t mss;
	uint8_t wscale;
	uint8_t flags;
};

/* Runs the packet program over an Ethernet frame carrying the IP packet that spec builds. */
static struct cookie_pkt_out run_pkt(const struct pkt_spec *spec, uint8_t *ip, size_t *iplen)
{
	uint8_t frame[14 + PKT_BUILD_MAX];
	struct cookie_pkt_out out;
	uint32_t zero = 0;
	size_t n;

	memset(frame, 0, 14);
	frame[0] = 0x02, frame[5] = 0x01, frame[6] = 0x02, frame[11] = 0x02;
	frame[12] = spec->t.family == AF_INET ? 0x08 : 0x86;
	frame[13] = spec->t.family == AF_INET ? 0x00 : 0xdd;
	n = pkt_build(frame + 14, sizeof(frame) - 14, spec);
	assert_true(n > 0);
	memcpy(ip, frame + 14, n);
	*iplen = n;

	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = 14 + n, .repeat = 1);
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(pkt_skel->progs.cookie_pkt), &opts),
	                 0);
	assert_int_equal(opts.retval, XDP_PASS);
	assert_int_equal(
	    bpf_map_lookup_elem(bpf_map__fd(pkt_skel->maps.cookie_pkt_out), &zero, &out), 0);
	return out;
}

static void tuple_of(struct pkt_tuple *t, int family, unsigned n)
{
	memset(t, 0, sizeof(*t));
	t->family = (uint8_t)family;
	t->sport = (uint16_t)(30000 + n);
	t->dport = 443;
	if (family == AF_INET) {
		memcpy(t->saddr, (const uint8_t[]){198, 51, 100, (uint8_t)n}, 4);
		memcpy(t->daddr, (const uint8_t[]){192, 0, 2, 1}, 4);
	} else {
		*t = tuple6();
		t->saddr[15] = (uint8_t)n;
	}
}

/*
 * Real SYNs in (ECN-setup or not): the program's ISN and TSval are
 * lib/cookie.c's for what lib/pkt.c parses from the same packet; the ACKs answering them validate
 * in both with the same decoded options, and a tampered one fails in both.
 */
static void test_packets(void **state)
{
	static const uint16_t mss4[COOKIE_MSS_SLOTS] = COOKIE_MSS4_DEFAULT;
	static const uint16_t mss6[COOKIE_MSS_SLOTS] = COOKIE_MSS6_DEFAULT;
	static const uint16_t msss[] = {0, 536, 1000, 1440, 1460, 8960};
	static const int wss[] = {-1, 0, 2, 7, 14, 15};
	int pmap = bpf_map__fd(pkt_skel->maps.sg_cookie_keys);
	unsigned n = 0;

	(void)state;
	for (int fam = 0; fam < 2; fam++) {
		for (unsigned i = 0; i < sizeof(msss) / sizeof(msss[0]); i++) {
			for (unsigned w = 0; w < sizeof(wss) / sizeof(wss[0]); w++) {
				for (unsigned f = 0; f < 4; f++, n++) {
					uint32_t e = 0x6b000000 + (n & 1);
					struct cookie_ctx *ctx = cookie_new();
					struct bpfkeys *b = bpfkeys_new(pmap, master);
					struct pkt_spec syn = {.seq = 0x9e3779b9u * (n + 1),
					                       .window = 64240,
					                       .flags = PKT_SYN};
					struct pkt_tcp p;
					uint8_t ip[PKT_BUILD_MAX];
					size_t iplen;

					assert_int_equal(bpfkeys_clear(pmap), 0);
					assert_int_equal(bpfkeys_set_epoch(b, e), 0);
					lib_refresh(ctx, e);
					tuple_of(&syn.t, fam ? AF_INET6 : AF_INET, n & 0xff);
					syn.opt.mss = msss[i];
					syn.opt.has_wscale = wss[w] >= 0;
					syn.opt.wscale = wss[w] >= 0 ? (uint8_t)wss[w] : 0;
					syn.opt.sack_ok = f & 1;
					syn.opt.has_ts = f & 2;
					syn.opt.tsval = 0x01020304u * n;
					/* ECN-setup SYNs on every other window scale: each option
					 * set meets ECN both ways */
					if (w & 1)
						syn.flags |= PKT_ECE | PKT_CWR;

					struct cookie_pkt_out got = run_pkt(&syn, ip, &iplen);
					const uint16_t *tab = fam ? mss6 : mss4;
					struct cookie_syn in;
					uint32_t isn, tsval;

					assert_int_equal(pkt_parse(ip, iplen, 0, &p), PKT_OK);
					in = (struct cookie_syn){
					    .mss = p.opt.mss,
					    .wscale = p.opt.wscale,
					    .has_wscale = p.opt.has_wscale,
					    .sack_ok = p.opt.sack_ok,
					    .has_ts = p.opt.has_ts,
					    .ecn = (p.flags & (PKT_ECE | PKT_CWR)) ==
					           (PKT_ECE | PKT_CWR)};
					assert_int_equal(cookie_make(ctx, e, tab, &p.t, p.seq, &in,
					                             &isn, &tsval),
					                 0);
					assert_int_equal(got.rc, 0);
					assert_int_equal(got.isn, isn);
					assert_int_equal(got.tsval, tsval);

					/* The ACK that completes the handshake, then a tampered
					 * one. */
					struct pkt_spec ack = {.t = syn.t,
					                       .seq = syn.seq + 1,
					                       .ack = isn + 1,
					                       .window = 502,
					                       .flags = PKT_ACK};
					struct cookie_syn lout;

					ack.opt.has_ts = syn.opt.has_ts;
					ack.opt.tsval = syn.opt.tsval + 1;
					ack.opt.tsecr = tsval;
					got = run_pkt(&ack, ip, &iplen);
					assert_int_equal(pkt_parse(ip, iplen, 0, &p), PKT_OK);
					assert_int_equal(cookie_check(ctx, e, tab, &p.t, p.seq,
					                              p.ack, &p.opt, &lout),
					                 COOKIE_VALID);
					assert_int_equal(got.rc, COOKIE_VALID);
					assert_int_equal(got.mss, lout.mss);
					assert_int_equal(got.wscale, lout.wscale);
					assert_int_equal(got.flags,
					                 (lout.has_wscale ? SG_SYN_WSCALE : 0) |
					                     (lout.sack_ok ? SG_SYN_SACK : 0) |
					                     (lout.has_ts ? SG_SYN_TS : 0) |
					                     (lout.ecn ? SG_SYN_ECN : 0));
					/* ECN survives exactly when timestamps carry it */
					assert_int_equal(lout.ecn, (w & 1) && syn.opt.has_ts);
					ack.ack += 0x100;
					got = run_pkt(&ack, ip, &iplen);
					assert_int_equal(pkt_parse(ip, iplen, 0, &p), PKT_OK);
					assert_int_equal(cookie_check(ctx, e, tab, &p.t, p.seq,
					                              p.ack, &p.opt, &lout),
					                 COOKIE_EMAC);
					assert_int_equal(got.rc, COOKIE_EMAC);
					bpfkeys_free(b);
					cookie_free(ctx);
				}
			}
		}
	}
	printf("%u handshakes\n", n);

	/* For the record, not asserted: the program's time per SYN (parse + cookie). */
	struct pkt_spec syn = {.seq = 1, .window = 64240, .flags = PKT_SYN};
	uint8_t frame[14 + PKT_BUILD_MAX] = {[12] = 0x08};
	size_t len;

	tuple_of(&syn.t, AF_INET, 1);
	syn.opt = (struct pkt_tcpopts){
	    .mss = 1460, .wscale = 7, .has_wscale = true, .sack_ok = true, .has_ts = true};
	len = pkt_build(frame + 14, sizeof(frame) - 14, &syn);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = 14 + len,
	            .repeat = 100000);
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(pkt_skel->progs.cookie_pkt), &opts),
	                 0);
	printf("SYN with MSS, SACK, TS, WS: %u ns per run (BPF_PROG_TEST_RUN, repeat %u)\n",
	       opts.duration, opts.repeat);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_program_matches_vectors),
	    cmocka_unit_test(test_comparison_detects_a_flipped_bit),
	    cmocka_unit_test(test_rotation_even),
	    cmocka_unit_test(test_rotation_odd),
	    cmocka_unit_test(test_rotation_across_wrap),
	    cmocka_unit_test(test_clock),
	    cmocka_unit_test(test_packets),
	};
	int rc;

	rc = bpf_test_enter(0);
	if (rc != 0)
		return rc;
	skel = cookie_vec_prog__open_and_load();
	if (skel == NULL)
		return bpf_test_load_failed("the test program");
	pkt_skel = cookie_pkt_prog__open_and_load();
	if (pkt_skel == NULL) {
		fprintf(stderr, "loading the packet test program failed: %s\n", strerror(errno));
		cookie_vec_prog__destroy(skel);
		return 1;
	}
	prog_fd = bpf_program__fd(skel->progs.cookie_vec);
	map_fd = bpf_map__fd(skel->maps.sg_cookie_keys);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	cookie_pkt_prog__destroy(pkt_skel);
	cookie_vec_prog__destroy(skel);
	return rc;
}
