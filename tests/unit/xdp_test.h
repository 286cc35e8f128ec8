/*
 * What the XDP program's tests (test_bpf_xdp.c, test_bpf_xdp_policy.c) share:
 * the addresses and keys of their packets, frames built by lib/pkt.c, one
 * BPF_PROG_TEST_RUN, the listener and key maps, the counters, and the
 * namespace they run in. Each test sets xt to the object it loaded (the
 * daemon's program, or the same source built with a test clock). Included
 * after <cmocka.h>, with _GNU_SOURCE defined before any header (unshare).
 */
#ifndef SYNGUARD_XDP_TEST_H
#define SYNGUARD_XDP_TEST_H

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfkeys.h"
#include "cookie.h"
#include "pkt.h"
#include "xdp_syn.h"

#define FRAME_MAX 256

/* The loaded object's program and maps. */
struct xdp_test_fds {
	int prog;
	int listeners;
	int counters;
	int keys; /* sg_cookie_keys */
	int ncpus;
};

static struct xdp_test_fds xt;

static const uint8_t mac_client[6] = {0x02, 0, 0, 0, 0, 0x0c};
static const uint8_t mac_server[6] = {0x02, 0, 0, 0, 0, 0x05};
static const uint8_t master[COOKIE_MASTER_LEN] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
static const uint16_t mss4[4] = COOKIE_MSS4_DEFAULT;
static const uint16_t mss6[4] = COOKIE_MSS6_DEFAULT;
static const uint8_t server4[16] = {192, 0, 2, 1};
static const uint8_t client4[16] = {198, 51, 100, 7};
static const uint8_t server6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
static const uint8_t client6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 7};

struct frame {
	uint8_t b[FRAME_MAX];
	size_t len;
};

static inline uint64_t xt_counter(uint32_t slot, uint32_t id)
{
	uint64_t v[512], s = 0;
	uint32_t k = slot * SG_XDP_NCOUNTERS + id;

	assert_true(xt.ncpus > 0 && xt.ncpus <= 512);
	assert_int_equal(bpf_map_lookup_elem(xt.counters, &k, v), 0);
	for (int c = 0; c < xt.ncpus; c++)
		s += v[c];
	return s;
}

static inline void xt_counters(uint32_t slot, uint64_t out[SG_XDP_NCOUNTERS])
{
	for (uint32_t id = 0; id < SG_XDP_NCOUNTERS; id++)
		out[id] = xt_counter(slot, id);
}

/* The listener (family AF_INET or AF_INET6, addr in network order) with value *v. */
static inline void xt_put(int family, const uint8_t *addr, uint16_t port,
                          const struct sg_xdp_listener *v)
{
	struct sg_xdp_key k = {.family = family == AF_INET ? 4 : 6, .port = port};

	memcpy(k.addr, addr, family == AF_INET ? 4 : 16);
	assert_int_equal(bpf_map_update_elem(xt.listeners, &k, v, BPF_ANY), 0);
}

static inline void put_listener(int family, const uint8_t *addr, uint16_t port, uint32_t slot,
                                const uint16_t mss[4], uint8_t wscale, uint8_t flags)
{
	struct sg_xdp_listener v = {.slot = slot, .wscale = wscale, .flags = flags};

	memcpy(v.mss, mss, sizeof(v.mss));
	xt_put(family, addr, port, &v);
}

static inline void clear_listeners(void)
{
	struct sg_xdp_key k;

	while (bpf_map_get_next_key(xt.listeners, NULL, &k) == 0)
		assert_int_equal(bpf_map_delete_elem(xt.listeners, &k), 0);
}

/* The map holds the keys of epochs keys[0 .. n) and the current epoch now. */
static inline void map_keys(const uint8_t *m, const uint32_t *keys, unsigned n, uint32_t now)
{
	assert_int_equal(bpfkeys_clear(xt.keys), 0);
	for (unsigned i = 0; i < n; i++) {
		uint8_t key[COOKIE_KEY_LEN];

		cookie_derive_key(key, m, keys[i]);
		assert_int_equal(bpfkeys_put_key(xt.keys, keys[i], key), 0);
	}
	assert_int_equal(bpfkeys_put_now(xt.keys, now), 0);
}

/* The packet s behind an Ethernet header from the client to the server. */
static inline void frame_of(const struct pkt_spec *s, struct frame *f)
{
	size_t n;

	memset(f, 0, sizeof(*f));
	memcpy(f->b, mac_server, 6);
	memcpy(f->b + 6, mac_client, 6);
	f->b[12] = s->t.family == AF_INET ? 0x08 : 0x86;
	f->b[13] = s->t.family == AF_INET ? 0x00 : 0xdd;
	n = pkt_build(f->b + 14, sizeof(f->b) - 14, s);
	assert_true(n > 0);
	f->len = 14 + n;
}

/* A client's SYN to the server's dport with the common options. */
static inline struct pkt_spec syn_of(int af, uint16_t dport)
{
	struct pkt_spec s = {.seq = 0x11223344, .window = 64240, .flags = PKT_SYN};

	s.t.family = (uint8_t)af;
	memcpy(s.t.saddr, af == AF_INET ? client4 : client6, 16);
	memcpy(s.t.daddr, af == AF_INET ? server4 : server6, 16);
	s.t.sport = 40123;
	s.t.dport = dport;
	s.opt.mss = af == AF_INET ? 1460 : 1440;
	s.opt.has_wscale = true;
	s.opt.wscale = 7;
	s.opt.sack_ok = true;
	s.opt.has_ts = true;
	s.opt.tsval = 0xa1b2c3d4;
	return s;
}

/* One run; the verdict, with the frame it left in *out. */
static inline int run(const struct frame *in, struct frame *out)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in->b, .data_size_in = (uint32_t)in->len,
	            .data_out = out->b, .data_size_out = sizeof(out->b), .repeat = 1);

	memset(out, 0, sizeof(*out));
	assert_int_equal(bpf_prog_test_run_opts(xt.prog, &opts), 0);
	out->len = opts.data_size_out;
	return (int)opts.retval;
}

#endif
