/*
 * sgreplay: plays a pcap file of TCP attack traffic into the lab.
 *
 *   sgreplay --dst ADDR [--dst ADDR6] [--dport PORT] (--iface IF --dst-mac MAC | --out FILE)
 *            [--pps N | --speed F] [--loop] [--count N] [--duration S] [--filter EXPR]
 *            [options] FILE
 *
 * The capture (any link type libpcap reads among Ethernet, raw IP, Linux
 * cooked v1/v2, BSD loopback) is loaded into memory. Each packet is rewritten
 * on its way out: the destination becomes the protected address of its
 * family (and port, with --dport), the source is mapped into the spoofed
 * range (198.18.0.0/15, 2001:db8:ffff::/48 by default) by a keyed hash of the
 * original source, so one attacking host stays one host and the mapping is
 * the same on every run with the same --seed. With --loop each further pass
 * over the capture uses the next key, so a replayed flood keeps bringing new
 * 4-tuples, as the original did. Ports, sequence numbers, flags, options and
 * payload are kept byte for byte (malformed options included); the IPv4
 * header checksum and the TCP checksum are recomputed. Fragments, non-TCP
 * packets, packets of a family without --dst and packets captured short are
 * skipped and counted; --filter keeps only what a pcap-filter expression
 * matches (a capture usually holds the victim's answers too).
 *
 * Timing: --pps sends at a constant rate; --speed F keeps the capture's
 * inter-packet times divided by F (default 1: real time); --pps 0 sends as
 * fast as possible. Frames go out through the lab's common sender (sgsend.h:
 * AF_PACKET TX ring), or are written to a pcap file with --out, with the
 * timestamps they would have been sent at (nothing waits then).
 *
 * Safety as sgflood: destinations and source prefixes must lie in the
 * documentation/benchmark ranges; --loop needs --count or --duration; no run
 * lasts longer than SGSEND_MAX_SECONDS.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csum.h"
#include "siphash.h"
#include "sgsend.h"

#define MAX_PACKETS (4u << 20)
#define MAX_BYTES   ((size_t)512 << 20)
#define IP_MAX      (SGSEND_FRAME_MAX - ETH_HLEN - 64)
#define LOOKAHEAD_S 0.001 /* send what is due within a millisecond in one batch */
#define MAX_SLEEP_S 0.05

/* Linktypes libpcap may report for raw-IP captures. */
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif
#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

struct rpkt {
	double ts;    /* capture timestamp, seconds */
	size_t off;   /* of the IP packet in the byte store */
	uint16_t len; /* IP packet length (the IP length field's, not the capture's) */
	uint16_t l4off;
	uint8_t family;
};

struct skipped {
	uint64_t non_ip, non_tcp, fragment, truncated, family, too_big;
};

struct opts {
	const char *file;
	const char *iface;
	const char *out;
	const char *filter; /* BPF expression: replay only the packets it matches */
	uint8_t dst_mac[6], src_mac[6];
	bool dst_mac_set, src_mac_set;
	struct sgsend_prefix dst4, dst6, src4, src6;
	bool dst4_set, dst6_set;
	uint16_t dport;
	double pps;   /* <0: use speed */
	double speed; /* relative to the capture's clock */
	bool loop;
	uint64_t count;
	double duration;
	uint64_t seed;
	bool quiet;
};

struct replay {
	const struct opts *o;
	struct rpkt *pkts;
	size_t npkts;
	uint8_t *store;
	double span; /* one pass, in capture seconds, including one mean gap */
	/* position */
	size_t i;      /* next packet in the capture */
	uint64_t pass; /* passes completed */
	uint64_t sent;
	struct siphash_key key; /* source mapping of the current pass */
	uint8_t src_mac[6];
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* ---- loading ---- */

/* Offset of the IP header in a captured frame, or -1 (not IP). */
static long ip_offset(int dlt, const uint8_t *p, size_t caplen)
{
	size_t off;
	uint16_t type;

	switch (dlt) {
	case DLT_EN10MB:
		if (caplen < ETH_HLEN)
			return -1;
		off = 12;
		type = (uint16_t)(p[off] << 8 | p[off + 1]);
		/* 802.1Q / 802.1ad tags */
		while ((type == 0x8100 || type == 0x88a8) && off + 6 <= caplen) {
			off += 4;
			type = (uint16_t)(p[off] << 8 | p[off + 1]);
		}
		if (type != ETH_P_IP && type != ETH_P_IPV6)
			return -1;
		return (long)off + 2;
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return 0;
	case DLT_LINUX_SLL:
		if (caplen < 16)
			return -1;
		type = (uint16_t)(p[14] << 8 | p[15]);
		return type == ETH_P_IP || type == ETH_P_IPV6 ? 16 : -1;
	case DLT_LINUX_SLL2:
		if (caplen < 20)
			return -1;
		type = (uint16_t)(p[0] << 8 | p[1]);
		return type == ETH_P_IP || type == ETH_P_IPV6 ? 20 : -1;
	case DLT_NULL:
	case DLT_LOOP:
		return caplen >= 4 ? 4 : -1;
	default:
		return -1;
	}
}

/*
 * Finds the TCP header of an IP packet and its real length. Only what the
 * rewrite needs is checked: the TCP header itself may be nonsense (the
 * attack may be exactly that); it is carried as it is.
 */
static int locate_tcp(const uint8_t *ip, size_t caplen, struct rpkt *r, struct skipped *sk)
{
	if (caplen < 1) {
		sk->truncated++;
		return -1;
	}
	if (ip[0] >> 4 == 4) {
		size_t ihl = (size_t)(ip[0] & 0x0f) * 4, tot;

		if (caplen < 20 || ihl < 20 || caplen < ihl) {
			sk->truncated++;
			return -1;
		}
		tot = (size_t)(ip[2] << 8 | ip[3]);
		if (tot < ihl + 20 || tot > caplen) {
			sk->truncated++;
			return -1;
		}
		if ((ip[6] & 0x3f) || ip[7]) { /* MF or an offset */
			sk->fragment++;
			return -1;
		}
		if (ip[9] != IPPROTO_TCP) {
			sk->non_tcp++;
			return -1;
		}
		r->family = AF_INET;
		r->len = (uint16_t)tot;
		r->l4off = (uint16_t)ihl;
		return 0;
	}
	if (ip[0] >> 4 == 6) {
		size_t off = 40, tot;
		uint8_t nh;

		if (caplen < 40) {
			sk->truncated++;
			return -1;
		}
		tot = 40 + (size_t)(ip[4] << 8 | ip[5]);
		if (tot > caplen) {
			sk->truncated++;
			return -1;
		}
		nh = ip[6];
		for (int hops = 0; nh != IPPROTO_TCP; hops++) {
			if (nh == IPPROTO_FRAGMENT) {
				sk->fragment++;
				return -1;
			}
			if ((nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING &&
			     nh != IPPROTO_DSTOPTS) ||
			    hops >= 8) {
				sk->non_tcp++;
				return -1;
			}
			if (off + 8 > tot) {
				sk->truncated++;
				return -1;
			}
			nh = ip[off];
			off += ((size_t)ip[off + 1] + 1) * 8;
		}
		if (off + 20 > tot) {
			sk->truncated++;
			return -1;
		}
		r->family = AF_INET6;
		r->len = (uint16_t)tot;
		r->l4off = (uint16_t)off;
		return 0;
	}
	sk->non_ip++;
	return -1;
}

static int load(struct replay *rp, const struct opts *o, struct skipped *sk)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *pc =
	    pcap_open_offline_with_tstamp_precision(o->file, PCAP_TSTAMP_PRECISION_NANO, err);
	struct pcap_pkthdr *h;
	const u_char *data;
	size_t cap_pkts = 1024, cap_bytes = 1 << 16, used = 0;
	int dlt, rc;

	if (!pc) {
		fprintf(stderr, "sgreplay: %s\n", err);
		return -1;
	}
	if (o->filter) {
		struct bpf_program prog;

		if (pcap_compile(pc, &prog, o->filter, 1, PCAP_NETMASK_UNKNOWN) < 0 ||
		    pcap_setfilter(pc, &prog) < 0) {
			fprintf(stderr, "sgreplay: --filter \"%s\": %s\n", o->filter,
			        pcap_geterr(pc));
			pcap_close(pc);
			return -1;
		}
		pcap_freecode(&prog);
	}
	dlt = pcap_datalink(pc);
	rp->pkts = malloc(cap_pkts * sizeof(*rp->pkts));
	rp->store = malloc(cap_bytes);
	if (!rp->pkts || !rp->store)
		goto oom;
	while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
		struct rpkt r = {0};
		long ipo = ip_offset(dlt, data, h->caplen);

		if (ipo < 0) {
			sk->non_ip++;
			continue;
		}
		if (locate_tcp(data + ipo, h->caplen - (size_t)ipo, &r, sk) < 0)
			continue;
		if ((r.family == AF_INET && !o->dst4_set) ||
		    (r.family == AF_INET6 && !o->dst6_set)) {
			sk->family++;
			continue;
		}
		if (r.len > IP_MAX) {
			sk->too_big++;
			continue;
		}
		if (rp->npkts == MAX_PACKETS || used + r.len > MAX_BYTES) {
			fprintf(stderr,
			        "sgreplay: %s: more than %u packets or %zu MB; keeping the "
			        "first %zu\n",
			        o->file, MAX_PACKETS, MAX_BYTES >> 20, rp->npkts);
			break;
		}
		if (rp->npkts == cap_pkts) {
			struct rpkt *n = realloc(rp->pkts, 2 * cap_pkts * sizeof(*n));

			if (!n)
				goto oom;
			rp->pkts = n;
			cap_pkts *= 2;
		}
		while (used + r.len > cap_bytes) {
			uint8_t *n = realloc(rp->store, 2 * cap_bytes);

			if (!n)
				goto oom;
			rp->store = n;
			cap_bytes *= 2;
		}
		memcpy(rp->store + used, data + ipo, r.len);
		r.off = used;
		r.ts = (double)h->ts.tv_sec + (double)h->ts.tv_usec / 1e9;
		used += r.len;
		rp->pkts[rp->npkts++] = r;
	}
	if (rc == -1) {
		fprintf(stderr, "sgreplay: %s: %s\n", o->file, pcap_geterr(pc));
		pcap_close(pc);
		return -1;
	}
	pcap_close(pc);
	if (rp->npkts) {
		double first = rp->pkts[0].ts, last;

		/* a capture's clock may step back: keep times monotonic from the first */
		for (size_t i = 0; i < rp->npkts; i++) {
			double t = rp->pkts[i].ts - first;

			rp->pkts[i].ts = i && t < rp->pkts[i - 1].ts ? rp->pkts[i - 1].ts : t;
		}
		last = rp->pkts[rp->npkts - 1].ts;
		rp->span = rp->npkts > 1 ? last + last / (double)(rp->npkts - 1) : 0;
	}
	return 0;
oom:
	fprintf(stderr, "sgreplay: out of memory loading %s\n", o->file);
	pcap_close(pc);
	return -1;
}

/* ---- rewriting ---- */

static void pass_key(struct replay *rp)
{
	rp->key.k0 = rp->o->seed ^ 0x73677265706c6179ull; /* "sgreplay" */
	rp->key.k1 = rp->pass;
}

/* Maps an original source address into prefix p, by the pass's key. */
static void map_source(const struct replay *rp, const struct sgsend_prefix *p, const uint8_t *orig,
                       uint8_t *out)
{
	size_t n = p->family == AF_INET ? 4 : 16;
	uint64_t w[3] = {0, 0, 0};
	uint8_t r[16];

	if (n == 4)
		w[0] = (uint64_t)orig[0] | (uint64_t)orig[1] << 8 | (uint64_t)orig[2] << 16 |
		       (uint64_t)orig[3] << 24;
	else {
		w[0] = bytes_get_le64(orig);
		w[1] = bytes_get_le64(orig + 8);
	}
	for (int half = 0; half < 2; half++) {
		uint64_t h;

		w[2] = (uint64_t)half;
		h = siphash13(&rp->key, w, 3);
		for (int b = 0; b < 8; b++)
			r[half * 8 + b] = (uint8_t)(h >> (8 * b));
	}
	sgsend_prefix_fill(p, r, out);
}

/* Rewrites packet r into an Ethernet frame at buf; returns the frame length. */
static size_t rewrite(const struct replay *rp, const struct rpkt *r, uint8_t *buf)
{
	const struct opts *o = rp->o;
	uint8_t *ip = buf + ETH_HLEN, *th;
	uint16_t type = htons(r->family == AF_INET ? ETH_P_IP : ETH_P_IPV6), csum;
	size_t alen = r->family == AF_INET ? 4 : 16;
	uint8_t *saddr = ip + (r->family == AF_INET ? 12 : 8);
	uint8_t *daddr = saddr + alen;
	uint32_t l4len = (uint32_t)(r->len - r->l4off);

	memcpy(buf, o->dst_mac, 6);
	memcpy(buf + 6, rp->src_mac, 6);
	memcpy(buf + 12, &type, 2);
	memcpy(ip, rp->store + r->off, r->len);
	map_source(rp, r->family == AF_INET ? &o->src4 : &o->src6, saddr, saddr);
	memcpy(daddr, r->family == AF_INET ? o->dst4.addr : o->dst6.addr, alen);
	th = ip + r->l4off;
	if (o->dport) {
		th[2] = (uint8_t)(o->dport >> 8);
		th[3] = (uint8_t)o->dport;
	}
	if (r->family == AF_INET) {
		memset(ip + 10, 0, 2);
		csum = csum_fold(csum_partial(ip, r->l4off, 0));
		memcpy(ip + 10, &csum, 2);
	}
	memset(th + 16, 0, 2);
	csum = csum_fold(
	    csum_partial(th, l4len, csum_pseudo(r->family, saddr, daddr, IPPROTO_TCP, l4len)));
	memcpy(th + 16, &csum, 2);
	return ETH_HLEN + r->len;
}

/* When (seconds from the start) packet number rp->sent is due. */
static double due(const struct replay *rp)
{
	const struct opts *o = rp->o;

	if (o->pps == 0)
		return 0;
	if (o->pps > 0)
		return (double)rp->sent / o->pps;
	return ((double)rp->pass * rp->span + rp->pkts[rp->i].ts) / o->speed;
}

/* sgsend_fill_fn: the next packet, rewritten. */
static size_t fill(void *ctx, uint8_t *buf, size_t cap, double *ts)
{
	struct replay *rp = ctx;
	size_t len;

	*ts = due(rp);
	len =
	    cap >= (size_t)ETH_HLEN + rp->pkts[rp->i].len ? rewrite(rp, &rp->pkts[rp->i], buf) : 0;
	rp->sent++;
	if (++rp->i == rp->npkts) {
		rp->i = 0;
		rp->pass++;
		pass_key(rp);
	}
	return len;
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: sgreplay --dst ADDR [--dst ADDR] (--iface IF --dst-mac MAC | --out FILE)\n"
	        "                [options] CAPTURE.pcap\n"
	        "  --dst ADDR      where the capture's packets of ADDR's family go (one IPv4\n"
	        "                  and/or one IPv6; packets of a family without one are skipped)\n"
	        "  --dport PORT    rewrite the destination port too (default: keep it)\n"
	        "  --src4 CIDR     spoofed IPv4 sources (default 198.18.0.0/15)\n"
	        "  --src6 CIDR     spoofed IPv6 sources (default 2001:db8:ffff::/48)\n"
	        "  --pps N         constant rate; 0 = as fast as possible\n"
	        "  --speed F       the capture's own timing, F times faster (default 1)\n"
	        "  --loop          replay the capture again and again (needs --count or\n"
	        "                  --duration); each pass maps the sources anew\n"
	        "  --count N       stop after N packets\n"
	        "  --duration S    stop after S seconds (at most %d)\n"
	        "  --seed N        key of the source mapping (default 0)\n"
	        "  --src-mac MAC   source MAC (default: the interface's)\n"
	        "  --filter EXPR   replay only the packets this pcap-filter expression matches\n"
	        "                  (e.g. \"tcp dst port 80\": a capture's answers are not attack)\n"
	        "  --out FILE      write the rewritten frames to a pcap file instead of sending\n"
	        "  --quiet         print only the final line\n"
	        "Destinations and source prefixes must lie in 192.0.2.0/24, 198.51.100.0/24,\n"
	        "203.0.113.0/24, 198.18.0.0/15 or 2001:db8::/32.\n",
	        SGSEND_MAX_SECONDS);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
	    {"dst", required_argument, NULL, 'd'},      {"dport", required_argument, NULL, 'p'},
	    {"src4", required_argument, NULL, '4'},     {"src6", required_argument, NULL, '6'},
	    {"iface", required_argument, NULL, 'i'},    {"dst-mac", required_argument, NULL, 'm'},
	    {"src-mac", required_argument, NULL, 'M'},  {"out", required_argument, NULL, 'w'},
	    {"pps", required_argument, NULL, 'r'},      {"speed", required_argument, NULL, 'x'},
	    {"loop", no_argument, NULL, 'l'},           {"count", required_argument, NULL, 'n'},
	    {"duration", required_argument, NULL, 't'}, {"seed", required_argument, NULL, 'S'},
	    {"quiet", no_argument, NULL, 'q'},          {"filter", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
	};
	struct sgsend_prefix p;
	uint64_t v;
	char *end, buf[64];
	int ch;

	o->pps = -1;
	o->speed = 1;
	sgsend_parse_prefix("198.18.0.0/15", &o->src4);
	sgsend_parse_prefix("2001:db8:ffff::/48", &o->src6);
	while ((ch = getopt_long(argc, argv, "d:p:4:6:i:m:M:w:r:x:ln:t:S:f:qh", lopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'd':
			if (sgsend_parse_prefix(optarg, &p) < 0 || strchr(optarg, '/')) {
				fprintf(stderr, "sgreplay: bad destination address: %s\n", optarg);
				return -1;
			}
			if (!sgsend_prefix_allowed(&p)) {
				fprintf(stderr,
				        "sgreplay: refusing destination %s: outside the "
				        "documentation ranges\n",
				        optarg);
				return -1;
			}
			if (p.family == AF_INET) {
				o->dst4 = p;
				o->dst4_set = true;
			} else {
				o->dst6 = p;
				o->dst6_set = true;
			}
			break;
		case 'p':
			if (sgsend_parse_u64(optarg, &v) < 0 || v < 1 || v > 65535) {
				fprintf(stderr, "sgreplay: --dport must be 1..65535\n");
				return -1;
			}
			o->dport = (uint16_t)v;
			break;
		case '4':
		case '6':
			if (sgsend_parse_prefix(optarg, &p) < 0 ||
			    p.family != (ch == '4' ? AF_INET : AF_INET6)) {
				fprintf(stderr, "sgreplay: bad --src%c prefix: %s\n", ch, optarg);
				return -1;
			}
			if (!sgsend_prefix_allowed(&p)) {
				fprintf(stderr,
				        "sgreplay: refusing source prefix %s: outside the "
				        "documentation ranges\n",
				        sgsend_prefix_str(&p, buf, sizeof(buf)));
				return -1;
			}
			*(ch == '4' ? &o->src4 : &o->src6) = p;
			break;
		case 'i':
			o->iface = optarg;
			break;
		case 'm':
		case 'M':
			if (sgsend_parse_mac(optarg, ch == 'm' ? o->dst_mac : o->src_mac) < 0) {
				fprintf(stderr, "sgreplay: bad MAC address: %s\n", optarg);
				return -1;
			}
			*(ch == 'm' ? &o->dst_mac_set : &o->src_mac_set) = true;
			break;
		case 'w':
			o->out = optarg;
			break;
		case 'r':
			o->pps = strtod(optarg, &end);
			if (*end || end == optarg || !(o->pps >= 0) || o->pps > 1e9) {
				fprintf(stderr, "sgreplay: bad --pps: %s\n", optarg);
				return -1;
			}
			break;
		case 'x':
			o->speed = strtod(optarg, &end);
			if (*end || end == optarg || !(o->speed > 0) || o->speed > 1e9) {
				fprintf(stderr, "sgreplay: --speed must be a positive factor\n");
				return -1;
			}
			break;
		case 'l':
			o->loop = true;
			break;
		case 'n':
			if (sgsend_parse_count("sgreplay", optarg, &o->count) < 0)
				return -1;
			break;
		case 't':
			if (sgsend_parse_duration("sgreplay", optarg, &o->duration) < 0)
				return -1;
			break;
		case 'S':
			if (sgsend_parse_u64(optarg, &o->seed) < 0) {
				fprintf(stderr, "sgreplay: bad --seed\n");
				return -1;
			}
			break;
		case 'f':
			o->filter = optarg;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "sgreplay: give exactly one capture file\n");
		usage(stderr);
		return -1;
	}
	o->file = argv[optind];
	if (!o->dst4_set && !o->dst6_set) {
		fprintf(stderr, "sgreplay: --dst is required\n");
		return -1;
	}
	if (o->loop && !o->count && o->duration == 0) {
		fprintf(stderr, "sgreplay: refusing an unbounded replay: --loop needs --count or "
		                "--duration\n");
		return -1;
	}
	if (o->out && o->loop && o->pps == 0 && !o->count) {
		fprintf(stderr, "sgreplay: writing a file as fast as possible with --loop needs "
		                "--count\n");
		return -1;
	}
	if (!o->out && (!o->iface || !o->dst_mac_set)) {
		fprintf(stderr, "sgreplay: sending needs --iface and --dst-mac (or use --out)\n");
		return -1;
	}
	if (o->duration == 0)
		o->duration = SGSEND_MAX_SECONDS;
	return 0;
}

static void sleep_s(double s)
{
	struct timespec ts;

	if (s > MAX_SLEEP_S)
		s = MAX_SLEEP_S;
	if (s < 20e-6)
		s = 20e-6;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(s * 1e9);
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	struct replay rp = {0};
	struct skipped sk = {0};
	struct sgsend w;
	double start, elapsed;
	int rc = 0;

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	rp.o = &o;
	if (load(&rp, &o, &sk) < 0) {
		rc = 1;
		goto out;
	}
	if (!o.quiet || !rp.npkts)
		fprintf(stderr,
		        "sgreplay: %s: %zu packets over %.3f s; skipped %" PRIu64
		        " non-IP, %" PRIu64 " non-TCP, %" PRIu64 " fragments, %" PRIu64
		        " truncated, %" PRIu64 " of a family without --dst, %" PRIu64 " too big\n",
		        o.file, rp.npkts, rp.npkts ? rp.pkts[rp.npkts - 1].ts : 0.0, sk.non_ip,
		        sk.non_tcp, sk.fragment, sk.truncated, sk.family, sk.too_big);
	if (!rp.npkts) {
		fprintf(stderr, "sgreplay: %s: no TCP packet to replay\n", o.file);
		rc = 1;
		goto out;
	}
	memcpy(rp.src_mac, o.src_mac_set ? o.src_mac : (uint8_t[]){0x02, 0, 0, 0, 0, 0x02}, 6);
	if (o.out ? sgsend_open_pcap(&w, o.out) < 0
	          : sgsend_open_iface(&w, o.iface, rp.src_mac, o.src_mac_set, o.quiet) < 0) {
		sgsend_close(&w);
		rc = 1;
		goto out;
	}
	pass_key(&rp);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	start = sgsend_now();
	while (!stop_flag) {
		/* writing a file, time is the schedule's own: nothing waits */
		double now = o.out ? due(&rp) : sgsend_now() - start;
		unsigned n = 0, q;
		struct replay probe;

		if (now >= o.duration || (o.count && rp.sent >= o.count) || (!o.loop && rp.pass))
			break;
		/* how many are due (within the lookahead), counted on a copy of the position */
		probe = rp;
		while (n < SGSEND_BATCH && due(&probe) <= now + LOOKAHEAD_S &&
		       due(&probe) < o.duration && !(o.count && probe.sent >= o.count) &&
		       !(!o.loop && probe.pass)) {
			n++;
			probe.sent++;
			if (++probe.i == probe.npkts) {
				probe.i = 0;
				probe.pass++;
			}
		}
		if (!n) {
			sleep_s(due(&rp) - now);
			continue;
		}
		q = sgsend_batch(&w, n, fill, &rp);
		if (q < n)
			sgsend_wait(&w, 1);
	}
	sgsend_drain(&w);
	elapsed = sgsend_now() - start;
	if (o.out)
		elapsed = due(&rp);
	if (w.errors && !o.out)
		fprintf(stderr, "sgreplay: %" PRIu64 " send errors (last: %s)\n", w.errors,
		        strerror(w.last_errno));
	if (sgsend_close(&w) < 0) {
		fprintf(stderr, "sgreplay: writing %s: %s\n", o.out, strerror(w.last_errno));
		rc = 1;
	}
	printf("sgreplay: %s %" PRIu64 " packets (%" PRIu64
	       " passes of %zu) in %.3f s (%.0f pps)\n",
	       o.out ? "wrote" : "sent", rp.sent, rp.pass + (rp.i ? 1 : 0), rp.npkts, elapsed,
	       elapsed > 0 ? (double)rp.sent / elapsed : 0);
out:
	free(rp.pkts);
	free(rp.store);
	return rc;
}
