/*
 * sgflood: a bounded TCP flood generator for the lab.
 *
 * Builds IPv4/IPv6 TCP packets with pkt_build() (plus hand-made options and
 * payloads for the odd kinds), wraps them in Ethernet and hands them to the
 * lab's common sender (sgsend.h): an AF_PACKET TX ring on one interface, or a
 * pcap file. Spoofed sources are random inside a prefix (198.18.0.0/15 and
 * 2001:db8:ffff::/48 by default).
 *
 * --xdp (kinds syn and ack) sends through the kernel's XDP live-frames mode
 * instead (sgxdpgen.h): a BPF program randomises a template per frame, at a
 * fraction of the AF_PACKET sender's cost per packet, so that the machine's
 * CPU during a benchmark is the defense's rather than the generator's.
 *
 * Safety: every destination and source prefix must lie inside the
 * documentation/benchmark ranges (192.0.2.0/24, 198.51.100.0/24,
 * 203.0.113.0/24, 198.18.0.0/15, 2001:db8::/32); a run needs --count or
 * --duration, and never lasts longer than SGSEND_MAX_SECONDS whatever it was
 * asked.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "csum.h"
#include "pkt.h"
#include "sgsend.h"
#ifdef SGFLOOD_XDP
#include "sgxdpgen.h"
#endif

#define PAYLOAD_MAX 512

enum kind { K_SYN, K_ACK, K_SYNOPTS, K_SYNDATA, K_JUNK, K_MIX };

static const char *const kind_names[] = {"syn", "ack", "synopts", "syndata", "junk", "mix"};

struct opts {
	const char *iface;
	const char *pcap;
	enum kind kind;
	int family;
	uint8_t dst[16];
	uint16_t dport;
	struct sgsend_prefix src;
	bool src_set;
	uint8_t dst_mac[6];
	bool dst_mac_set;
	uint8_t src_mac[6];
	bool src_mac_set;
	uint64_t rate;  /* packets per second, 0: unpaced */
	uint64_t count; /* 0: unbounded by count */
	double duration;
	uint64_t seed;
	bool seed_set;
	bool quiet;
	bool xdp;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* ---- randomness: xoshiro-like quality is not needed, speed is ---- */

static uint64_t rng_state;

static uint64_t rnd64(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rnd32(void)
{
	return (uint32_t)rnd64();
}

static void random_in_prefix(const struct sgsend_prefix *p, uint8_t *out)
{
	uint8_t r[16];

	for (size_t i = 0; i < 16; i += 8) {
		uint64_t v = rnd64();

		memcpy(r + i, &v, 8);
	}
	sgsend_prefix_fill(p, r, out);
}

/* ---- packet building ---- */

struct frame_ctx {
	const struct opts *o;
	uint8_t eth[ETH_HLEN]; /* dst, src, type */
	size_t iphlen;
	uint64_t index; /* frames built so far */
	double start;
};

/* Fixes IP length fields and both checksums after options or payload were added. */
static void finalize(uint8_t *ip, int family, size_t iphlen, size_t thlen, size_t plen)
{
	uint8_t *th = ip + iphlen;
	uint32_t l4len = (uint32_t)(thlen + plen);
	uint16_t csum;

	if (family == AF_INET) {
		uint16_t tot = htons((uint16_t)(iphlen + l4len));

		memcpy(ip + 2, &tot, 2);
		memset(ip + 10, 0, 2);
		csum = csum_fold(csum_partial(ip, iphlen, 0));
		memcpy(ip + 10, &csum, 2);
	} else {
		uint16_t pl = htons((uint16_t)l4len);

		memcpy(ip + 4, &pl, 2);
	}
	th[12] = (uint8_t)((thlen / 4) << 4 | (th[12] & 0x0f));
	memset(th + 16, 0, 2);
	csum = csum_fold(
	    csum_partial(th, l4len,
	                 csum_pseudo(family, ip + (family == AF_INET ? 12 : 8),
	                             ip + (family == AF_INET ? 16 : 24), IPPROTO_TCP, l4len)));
	memcpy(th + 16, &csum, 2);
}

/* Odd but plausible (and some malformed) SYN option blocks; returns the length (mult. of 4). */
static size_t odd_options(uint8_t *p)
{
	uint32_t ts = rnd32();

	switch (rnd32() % 8) {
	case 0: /* tiny MSS only */
		memcpy(p, (uint8_t[]){2, 4, 0, 88}, 4);
		return 4;
	case 1: /* window scale beyond 14, unknown option kind */
		memcpy(p, (uint8_t[]){1, 3, 3, 20, 0xfe, 4, 0xab, 0xcd}, 8);
		return 8;
	case 2: /* a long NOP run, then EOL */
		memset(p, 1, 36);
		memset(p + 36, 0, 4);
		return 40;
	case 3: /* MSS with a wrong length: malformed */
		memcpy(p, (uint8_t[]){2, 3, 5, 0}, 4);
		return 4;
	case 4: /* MSS twice, different values */
		memcpy(p, (uint8_t[]){2, 4, 5, 180, 2, 4, 2, 0}, 8);
		return 8;
	case 5: /* timestamps with a nonzero echo, SACK-permitted after them */
		memcpy(p, (uint8_t[]){8, 10}, 2);
		memcpy(p + 2, &ts, 4);
		memcpy(p + 6, &ts, 4);
		memcpy(p + 10, (uint8_t[]){4, 2}, 2);
		return 12;
	case 6: /* an option whose length runs past the header: malformed */
		memcpy(p, (uint8_t[]){1, 1, 30, 40}, 4);
		return 4;
	default: /* option length 0: malformed, loops a careless parser */
		memcpy(p, (uint8_t[]){0x22, 0, 1, 1}, 4);
		return 4;
	}
}

/* A SYN as Linux sends it: MSS, SACK-permitted, timestamps, window scale 7. */
static void linux_syn(struct pkt_spec *s, int family)
{
	s->flags = PKT_SYN;
	s->opt.mss = family == AF_INET ? 1460 : 1440;
	s->opt.sack_ok = true;
	s->opt.has_ts = true;
	s->opt.tsval = rnd32();
	s->opt.has_wscale = true;
	s->opt.wscale = 7;
}

static enum kind pick_kind(enum kind k)
{
	uint32_t r;

	if (k != K_MIX)
		return k;
	r = rnd32() % 100;
	if (r < 50)
		return K_SYN;
	if (r < 70)
		return K_ACK;
	if (r < 80)
		return K_SYNOPTS;
	if (r < 90)
		return K_SYNDATA;
	return K_JUNK;
}

/*
 * Builds one Ethernet frame into buf (sgsend_fill_fn). In a pcap file, frames
 * get synthetic timestamps at the requested rate, which keeps the capture
 * replayable at that rate; unpaced, the time they were built.
 */
static size_t build_frame(void *ctx, uint8_t *buf, size_t cap, double *ts)
{
	struct frame_ctx *fc = ctx;
	const struct opts *o = fc->o;
	struct pkt_spec s;
	enum kind k = pick_kind(o->kind);
	uint8_t *ip = buf + ETH_HLEN;
	size_t len, thlen, plen = 0;

	memcpy(buf, fc->eth, ETH_HLEN);
	memset(&s, 0, sizeof(s));
	s.t.family = (uint8_t)o->family;
	random_in_prefix(&o->src, s.t.saddr);
	memcpy(s.t.daddr, o->dst, o->family == AF_INET ? 4 : 16);
	s.t.sport = (uint16_t)(1024 + rnd32() % (65536 - 1024));
	s.t.dport = o->dport;
	s.seq = rnd32();
	s.window = 64240;
	s.ttl = 64;

	switch (k) {
	case K_SYN:
	case K_SYNDATA:
		linux_syn(&s, o->family);
		break;
	case K_SYNOPTS:
		s.flags = PKT_SYN;
		break;
	case K_ACK:
		s.flags = PKT_ACK;
		s.ack = rnd32();
		s.window = 502;
		break;
	case K_JUNK:
	default:
		s.flags = (uint8_t[]){PKT_RST, PKT_RST | PKT_ACK, PKT_FIN | PKT_ACK,
		                      PKT_FIN}[rnd32() % 4];
		s.ack = rnd32();
		break;
	}

	*ts = o->rate ? (double)fc->index / (double)o->rate : sgsend_now() - fc->start;
	fc->index++;
	if (cap < ETH_HLEN + PKT_BUILD_MAX + 40 + PAYLOAD_MAX)
		return 0;
	len = pkt_build(ip, PKT_BUILD_MAX, &s);
	if (!len)
		return 0;
	thlen = len - fc->iphlen;
	if (k == K_SYNOPTS) {
		thlen += odd_options(ip + len);
		finalize(ip, o->family, fc->iphlen, thlen, 0);
	} else if (k == K_SYNDATA) {
		static const char req[] = "GET / HTTP/1.1\r\nHost: flood.example\r\n\r\n";

		plen = 1 + rnd32() % PAYLOAD_MAX;
		for (size_t i = 0; i < plen; i++)
			ip[len + i] = (uint8_t)req[i % (sizeof(req) - 1)];
		finalize(ip, o->family, fc->iphlen, thlen, plen);
	}
	return ETH_HLEN + fc->iphlen + thlen + plen;
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: sgflood --dst ADDR --dport PORT (--count N | --duration S)\n"
	        "               (--iface IF --dst-mac MAC | --pcap FILE) [options]\n"
	        "  --kind K        syn | ack | synopts | syndata | junk | mix (default syn)\n"
	        "  --src CIDR      spoofed source prefix (default 198.18.0.0/15 or\n"
	        "                  2001:db8:ffff::/48 by the destination's family)\n"
	        "  --rate PPS      token-bucket pacing; 0 = as fast as possible (default)\n"
	        "  --count N       stop after N packets\n"
	        "  --duration S    stop after S seconds (at most %d)\n"
	        "  --src-mac MAC   source MAC (default: the interface's)\n"
	        "  --seed N        random seed, for repeatable packets\n"
	        "  --xdp           send with XDP live frames (kinds syn and ack, unpaced; a\n"
	        "                  veth's peer needs an XDP program of its own)\n"
	        "  --quiet         print only the final line\n"
	        "Destinations and sources must lie in 192.0.2.0/24, 198.51.100.0/24,\n"
	        "203.0.113.0/24, 198.18.0.0/15 or 2001:db8::/32.\n",
	        SGSEND_MAX_SECONDS);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
	    {"iface", required_argument, NULL, 'i'},   {"dst", required_argument, NULL, 'd'},
	    {"dport", required_argument, NULL, 'p'},   {"dst-mac", required_argument, NULL, 'm'},
	    {"src-mac", required_argument, NULL, 'M'}, {"src", required_argument, NULL, 's'},
	    {"kind", required_argument, NULL, 'k'},    {"rate", required_argument, NULL, 'r'},
	    {"count", required_argument, NULL, 'n'},   {"duration", required_argument, NULL, 't'},
	    {"pcap", required_argument, NULL, 'w'},    {"seed", required_argument, NULL, 'S'},
	    {"quiet", no_argument, NULL, 'q'},         {"xdp", no_argument, NULL, 'x'},
	    {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	struct sgsend_prefix dst = {0};
	bool dst_set = false;
	uint64_t v;
	int ch;

	o->kind = K_SYN;
	while ((ch = getopt_long(argc, argv, "i:d:p:m:M:s:k:r:n:t:w:S:qxh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			o->iface = optarg;
			break;
		case 'd':
			if (sgsend_parse_prefix(optarg, &dst) < 0 || strchr(optarg, '/')) {
				fprintf(stderr, "sgflood: bad destination address: %s\n", optarg);
				return -1;
			}
			dst_set = true;
			break;
		case 'p':
			if (sgsend_parse_u64(optarg, &v) < 0 || v < 1 || v > 65535) {
				fprintf(stderr, "sgflood: --dport must be 1..65535\n");
				return -1;
			}
			o->dport = (uint16_t)v;
			break;
		case 'm':
			if (sgsend_parse_mac(optarg, o->dst_mac) < 0) {
				fprintf(stderr, "sgflood: bad MAC address: %s\n", optarg);
				return -1;
			}
			o->dst_mac_set = true;
			break;
		case 'M':
			if (sgsend_parse_mac(optarg, o->src_mac) < 0) {
				fprintf(stderr, "sgflood: bad MAC address: %s\n", optarg);
				return -1;
			}
			o->src_mac_set = true;
			break;
		case 's':
			if (sgsend_parse_prefix(optarg, &o->src) < 0) {
				fprintf(stderr, "sgflood: bad source prefix: %s\n", optarg);
				return -1;
			}
			o->src_set = true;
			break;
		case 'k': {
			size_t k;

			for (k = 0; k < sizeof(kind_names) / sizeof(kind_names[0]); k++)
				if (strcmp(optarg, kind_names[k]) == 0)
					break;
			if (k == sizeof(kind_names) / sizeof(kind_names[0])) {
				fprintf(stderr, "sgflood: unknown kind: %s\n", optarg);
				return -1;
			}
			o->kind = (enum kind)k;
			break;
		}
		case 'r':
			if (sgsend_parse_u64(optarg, &o->rate) < 0) {
				fprintf(stderr, "sgflood: bad --rate: %s\n", optarg);
				return -1;
			}
			break;
		case 'n':
			if (sgsend_parse_count("sgflood", optarg, &o->count) < 0)
				return -1;
			break;
		case 't':
			if (sgsend_parse_duration("sgflood", optarg, &o->duration) < 0)
				return -1;
			break;
		case 'w':
			o->pcap = optarg;
			break;
		case 'S':
			if (sgsend_parse_u64(optarg, &o->seed) < 0) {
				fprintf(stderr, "sgflood: bad --seed\n");
				return -1;
			}
			o->seed_set = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'x':
			o->xdp = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sgflood: unexpected argument: %s\n", argv[optind]);
		return -1;
	}
	if (!dst_set || !o->dport) {
		fprintf(stderr, "sgflood: --dst and --dport are required\n");
		return -1;
	}
	if (!sgsend_prefix_allowed(&dst)) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(dst.family, dst.addr, a, sizeof(a));
		fprintf(stderr,
		        "sgflood: refusing destination %s: outside the documentation "
		        "ranges\n",
		        a);
		return -1;
	}
	o->family = dst.family;
	memcpy(o->dst, dst.addr, 16);
	if (!o->src_set)
		sgsend_parse_prefix(o->family == AF_INET ? "198.18.0.0/15" : "2001:db8:ffff::/48",
		                    &o->src);
	if (o->src.family != o->family) {
		fprintf(stderr, "sgflood: --src and --dst must be of the same family\n");
		return -1;
	}
	if (!sgsend_prefix_allowed(&o->src)) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(o->src.family, o->src.addr, a, sizeof(a));
		fprintf(stderr,
		        "sgflood: refusing source prefix %s/%u: outside the "
		        "documentation ranges\n",
		        a, o->src.len);
		return -1;
	}
	if (!o->count && o->duration == 0) {
		fprintf(stderr, "sgflood: refusing an unbounded flood: give --count or "
		                "--duration\n");
		return -1;
	}
	if (!o->pcap && (!o->iface || !o->dst_mac_set)) {
		fprintf(stderr, "sgflood: sending needs --iface and --dst-mac (or use --pcap)\n");
		return -1;
	}
	if (o->xdp && (o->pcap || o->rate || (o->kind != K_SYN && o->kind != K_ACK))) {
		fprintf(stderr,
		        "sgflood: --xdp sends kinds syn and ack on an interface, unpaced\n");
		return -1;
	}
#ifndef SGFLOOD_XDP
	if (o->xdp) {
		fprintf(stderr, "sgflood: --xdp: built without the BPF parts\n");
		return -1;
	}
#endif
	if (o->duration == 0)
		o->duration = SGSEND_MAX_SECONDS;
	return 0;
}

#ifdef SGFLOOD_XDP
/*
 * The XDP sender's template: build_frame()'s SYN or ACK with zeros where the
 * program puts random values (the source's last 4 or 8 bytes under the mask,
 * the source port, the sequence and acknowledgment numbers).
 */
static size_t xdp_template(const struct opts *o, const uint8_t eth[ETH_HLEN], uint8_t *buf,
                           uint8_t mask[8])
{
	struct pkt_spec s;
	size_t region = o->family == AF_INET ? 0 : 8, n = o->family == AF_INET ? 4 : 16, len;
	uint8_t pfx[16] = {0}, ones[16];

	/* the host bits: set with all ones, clear with all zeros */
	memset(ones, 0xff, sizeof(ones));
	sgsend_prefix_fill(&o->src, ones, ones);
	sgsend_prefix_fill(&o->src, pfx, pfx);
	memset(&s, 0, sizeof(s));
	s.t.family = (uint8_t)o->family;
	random_in_prefix(&o->src, s.t.saddr); /* IPv6: random host bits before the last 8 bytes */
	for (size_t i = region; i < n; i++) {
		mask[i - region] = (uint8_t)(ones[i] ^ pfx[i]);
		s.t.saddr[i] &= (uint8_t)~mask[i - region];
	}
	memcpy(s.t.daddr, o->dst, n);
	s.t.dport = o->dport;
	s.window = 64240;
	s.ttl = 64;
	if (o->kind == K_SYN) {
		linux_syn(&s, o->family);
	} else {
		s.flags = PKT_ACK;
		s.window = 502;
	}
	memcpy(buf, eth, ETH_HLEN);
	len = pkt_build(buf + ETH_HLEN, SGXDPGEN_FRAME_MAX - ETH_HLEN, &s);
	return len ? ETH_HLEN + len : 0;
}

static int xdp_flood(const struct opts *o, const uint8_t eth[ETH_HLEN], uint64_t *sent)
{
	uint8_t frame[SGXDPGEN_FRAME_MAX], mask[8] = {0};
	uint64_t chunk = 4096;
	double pps = 0;
	struct sgxdpgen *g;
	char err[256];
	size_t len;
	double end;

	len = xdp_template(o, eth, frame, mask);
	g = len ? sgxdpgen_open(o->iface, frame, len, o->family == AF_INET, mask, o->kind == K_ACK,
	                        err, sizeof(err))
	        : NULL;
	if (!g) {
		fprintf(stderr, "sgflood: --xdp: %s\n", len ? err : "no template");
		return -1;
	}
	*sent = 1; /* sgxdpgen_open() sent one to try */
	end = sgsend_now() + o->duration;
	while (!stop_flag && (!o->count || *sent < o->count)) {
		double t0 = sgsend_now(), left = end - t0, dt;
		uint64_t want = chunk;

		if (left <= 0)
			break;
		/* the last call: as many as the time left takes at the rate so far */
		if (pps > 0 && (double)want > pps * left)
			want = (uint64_t)(pps * left) + 1;
		if (o->count && o->count - *sent < want)
			want = o->count - *sent;
		if (sgxdpgen_send(g, (uint32_t)want) < 0) {
			fprintf(stderr, "sgflood: --xdp: sending: %s\n", strerror(errno));
			sgxdpgen_free(g);
			return -1;
		}
		*sent += want;
		/*
		 * Each call sets up and tears down a page pool, which takes
		 * milliseconds: calls of about 0.1 s keep that a few percent.
		 */
		dt = sgsend_now() - t0;
		if (dt > 0) {
			pps = (double)want / dt;
			chunk = (uint64_t)(pps * 0.1);
			chunk = chunk < 4096 ? 4096 : chunk > (1u << 22) ? (1u << 22) : chunk;
		}
	}
	sgxdpgen_free(g);
	return 0;
}
#endif

int main(int argc, char **argv)
{
	struct opts o = {0};
	struct sgsend w;
	struct frame_ctx fc;
	struct sgsend_pacer pacer;
	uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
	uint64_t sent = 0;
	double start, end, elapsed;
	uint16_t ethertype;

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	if (o.seed_set)
		rng_state = o.seed;
	else if (getrandom(&rng_state, sizeof(rng_state), 0) != sizeof(rng_state))
		rng_state = (uint64_t)time(NULL) ^ (uint64_t)getpid();

	if (o.src_mac_set)
		memcpy(src_mac, o.src_mac, 6);
	else if (o.xdp && sgsend_iface_mac(o.iface, src_mac) < 0)
		return 1;
	if (!o.xdp &&
	    (o.pcap ? sgsend_open_pcap(&w, o.pcap) < 0
	            : sgsend_open_iface(&w, o.iface, src_mac, o.src_mac_set, o.quiet) < 0))
		return 1;

	memset(&fc, 0, sizeof(fc));
	fc.o = &o;
	fc.iphlen = o.family == AF_INET ? 20 : 40;
	memcpy(fc.eth, o.dst_mac_set ? o.dst_mac : (uint8_t[]){0x02, 0, 0, 0, 0, 0x01}, 6);
	memcpy(fc.eth + 6, src_mac, 6);
	ethertype = htons(o.family == AF_INET ? ETH_P_IP : ETH_P_IPV6);
	memcpy(fc.eth + 12, &ethertype, 2);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
#ifdef SGFLOOD_XDP
	if (o.xdp) {
		start = sgsend_now();
		if (xdp_flood(&o, fc.eth, &sent) < 0)
			return 1;
		elapsed = sgsend_now() - start;
		printf("sgflood: %s sent %" PRIu64 " packets in %.3f s (%.0f pps, XDP)\n",
		       kind_names[o.kind], sent, elapsed, elapsed > 0 ? (double)sent / elapsed : 0);
		return 0;
	}
#endif
	sgsend_pacer_init(&pacer, o.rate);
	start = sgsend_now();
	fc.start = start;
	end = start + o.duration;
	while (!stop_flag) {
		unsigned want = SGSEND_BATCH, n, q;

		if (sgsend_now() >= end)
			break;
		if (o.count && o.count - sent < want)
			want = (unsigned)(o.count - sent);
		if (want == 0)
			break;
		n = sgsend_pacer_take(&pacer, want);
		if (!n)
			continue;
		q = sgsend_batch(&w, n, build_frame, &fc);
		sent += q;
		if (q < n) {
			/* the ring is full: give back the tokens not used, wait for room */
			sgsend_pacer_giveback(&pacer, n - q);
			sgsend_wait(&w, 1);
		}
	}
	sgsend_drain(&w);
	elapsed = sgsend_now() - start;
	if (w.errors && !o.pcap)
		fprintf(stderr, "sgflood: %" PRIu64 " send errors (last: %s)\n", w.errors,
		        strerror(w.last_errno));
	if (sgsend_close(&w) < 0) {
		fprintf(stderr, "sgflood: writing %s: %s\n", o.pcap, strerror(w.last_errno));
		return 1;
	}
	printf("sgflood: %s %s %" PRIu64 " packets in %.3f s (%.0f pps)\n", kind_names[o.kind],
	       o.pcap ? "wrote" : "sent", sent, elapsed, elapsed > 0 ? (double)sent / elapsed : 0);
	return 0;
}
