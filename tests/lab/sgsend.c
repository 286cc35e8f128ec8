/*
 * sgsend: see sgsend.h. The TX ring is TPACKET_V2 with fixed 2 KB frames;
 * the socket has protocol 0, so it only sends (the flood's answers are never
 * copied back to it), and the kernel reads each frame's EtherType from the
 * frame itself, so one sender carries IPv4 and IPv6 alike.
 */
#define _GNU_SOURCE
#include "sgsend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RING_FRAME_SIZE 2048
#define RING_BLOCK_SIZE (1 << 16)
#define RING_BLOCKS     16

static void sgsend_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sgsend_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int sgsend_iface_mac(const char *iface, uint8_t mac[6])
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
	if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		sgsend_err("%s: no hardware address: %s", iface, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

int sgsend_open_iface(struct sgsend *s, const char *iface, uint8_t src_mac[6], bool src_mac_known,
                      bool quiet)
{
	int ver = TPACKET_V2, one = 1;
	struct tpacket_req req = {
	    .tp_block_size = RING_BLOCK_SIZE,
	    .tp_block_nr = RING_BLOCKS,
	    .tp_frame_size = RING_FRAME_SIZE,
	    .tp_frame_nr = RING_BLOCKS * (RING_BLOCK_SIZE / RING_FRAME_SIZE),
	};
	unsigned ifindex = if_nametoindex(iface);

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	if (!ifindex) {
		sgsend_err("interface %s: %s", iface, strerror(errno));
		return -1;
	}
	s->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		sgsend_err("AF_PACKET socket: %s", strerror(errno));
		return -1;
	}
	if (!src_mac_known && sgsend_iface_mac(iface, src_mac) < 0)
		return -1;
	s->sll.sll_family = AF_PACKET;
	s->sll.sll_ifindex = (int)ifindex;
	if (bind(s->fd, (struct sockaddr *)&s->sll, sizeof(s->sll)) < 0) {
		sgsend_err("bind to %s: %s", iface, strerror(errno));
		return -1;
	}
	/* the qdisc would only add a lock and a queue to drop from */
	setsockopt(s->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));

	if (setsockopt(s->fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof(ver)) == 0 &&
	    setsockopt(s->fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) == 0) {
		s->ring_len = (size_t)req.tp_block_size * req.tp_block_nr;
		s->ring = mmap(NULL, s->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
		if (s->ring != MAP_FAILED) {
			s->frames = req.tp_frame_nr;
			return 0;
		}
		s->ring = NULL;
	}
	if (!quiet)
		sgsend_err("no TX ring (%s); using sendmmsg", strerror(errno));
	s->bufs = calloc(SGSEND_BATCH, sizeof(*s->bufs));
	s->msgs = calloc(SGSEND_BATCH, sizeof(*s->msgs));
	s->iov = calloc(SGSEND_BATCH, sizeof(*s->iov));
	if (!s->bufs || !s->msgs || !s->iov) {
		sgsend_err("out of memory");
		return -1;
	}
	return 0;
}

int sgsend_open_pcap(struct sgsend *s, const char *path)
{
	/* classic pcap: magic, v2.4, GMT offset, accuracy, snaplen, LINKTYPE_ETHERNET */
	const uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->pcap = fopen(path, "wbe");
	if (!s->pcap) {
		sgsend_err("%s: %s", path, strerror(errno));
		return -1;
	}
	if (fwrite(hdr, sizeof(hdr), 1, s->pcap) != 1) {
		sgsend_err("writing %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static struct tpacket2_hdr *ring_frame(struct sgsend *s, unsigned i)
{
	return (struct tpacket2_hdr *)(s->ring + (size_t)i * RING_FRAME_SIZE);
}

static uint8_t *ring_data(struct tpacket2_hdr *h)
{
	return (uint8_t *)h + TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
}

#define RING_DATA_MAX (RING_FRAME_SIZE - (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)))

static unsigned batch_pcap(struct sgsend *s, unsigned n, sgsend_fill_fn fill, void *ctx)
{
	uint8_t frame[SGSEND_FRAME_MAX];

	for (unsigned i = 0; i < n; i++) {
		double ts = 0;
		size_t len = fill(ctx, frame, sizeof(frame), &ts);
		uint32_t rec[4] = {(uint32_t)ts, (uint32_t)((ts - (double)(uint32_t)ts) * 1e6),
		                   (uint32_t)len, (uint32_t)len};

		if (fwrite(rec, sizeof(rec), 1, s->pcap) != 1 ||
		    fwrite(frame, len, 1, s->pcap) != 1) {
			s->errors++;
			s->last_errno = errno;
		}
	}
	return n;
}

static unsigned batch_ring(struct sgsend *s, unsigned n, sgsend_fill_fn fill, void *ctx)
{
	unsigned done;

	for (done = 0; done < n; done++) {
		struct tpacket2_hdr *h = ring_frame(s, s->next);
		uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
		double ts;

		if (st & TP_STATUS_WRONG_FORMAT) {
			s->errors++;
			st = TP_STATUS_AVAILABLE;
		}
		if (st != TP_STATUS_AVAILABLE)
			break;
		h->tp_len = (uint32_t)fill(ctx, ring_data(h), RING_DATA_MAX, &ts);
		__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
		s->next = (s->next + 1) % s->frames;
	}
	if (send(s->fd, NULL, 0, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS) {
		s->errors++;
		s->last_errno = errno;
	}
	return done;
}

static unsigned batch_mmsg(struct sgsend *s, unsigned n, sgsend_fill_fn fill, void *ctx)
{
	unsigned done = 0;

	if (n > SGSEND_BATCH)
		n = SGSEND_BATCH;
	for (unsigned i = 0; i < n; i++) {
		double ts;

		s->iov[i].iov_base = s->bufs[i];
		s->iov[i].iov_len = fill(ctx, s->bufs[i], SGSEND_FRAME_MAX, &ts);
		s->msgs[i].msg_hdr = (struct msghdr){.msg_name = &s->sll,
		                                     .msg_namelen = sizeof(s->sll),
		                                     .msg_iov = &s->iov[i],
		                                     .msg_iovlen = 1};
	}
	while (done < n) {
		int r = sendmmsg(s->fd, s->msgs + done, n - done, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* a full device queue: count the frame as lost, move on */
			s->errors++;
			s->last_errno = errno;
			done++;
			continue;
		}
		done += (unsigned)r;
	}
	return n;
}

unsigned sgsend_batch(struct sgsend *s, unsigned n, sgsend_fill_fn fill, void *ctx)
{
	if (s->pcap)
		return batch_pcap(s, n, fill, ctx);
	if (s->ring)
		return batch_ring(s, n, fill, ctx);
	return batch_mmsg(s, n, fill, ctx);
}

void sgsend_wait(struct sgsend *s, int ms)
{
	struct pollfd p = {.fd = s->fd, .events = POLLOUT};

	if (s->fd >= 0)
		poll(&p, 1, ms);
}

void sgsend_drain(struct sgsend *s)
{
	double deadline = sgsend_now() + 2;

	if (!s->ring)
		return;
	while (sgsend_now() < deadline) {
		bool busy = false;

		send(s->fd, NULL, 0, MSG_DONTWAIT);
		for (unsigned i = 0; i < s->frames; i++) {
			uint32_t st =
			    __atomic_load_n(&ring_frame(s, i)->tp_status, __ATOMIC_ACQUIRE);

			if (st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING))
				busy = true;
		}
		if (!busy)
			return;
		usleep(1000);
	}
}

int sgsend_close(struct sgsend *s)
{
	int rc = 0;

	if (s->pcap) {
		if (fclose(s->pcap) != 0) {
			s->last_errno = errno;
			rc = -1;
		}
		if (s->errors)
			rc = -1;
		s->pcap = NULL;
	}
	if (s->ring)
		munmap(s->ring, s->ring_len);
	s->ring = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->bufs);
	free(s->msgs);
	free(s->iov);
	s->bufs = NULL;
	s->msgs = NULL;
	s->iov = NULL;
	return rc;
}

/* ---- pacing ---- */

double sgsend_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sgsend_pacer_init(struct sgsend_pacer *p, uint64_t rate)
{
	p->rate = (double)rate;
	/* a millisecond's worth, at least one batch: smooth without a syscall per packet */
	p->burst = p->rate / 1000 > SGSEND_BATCH ? p->rate / 1000 : SGSEND_BATCH;
	p->tokens = 0;
	p->last = sgsend_now();
}

unsigned sgsend_pacer_take(struct sgsend_pacer *p, unsigned want)
{
	double t;
	unsigned n;

	if (p->rate == 0)
		return want;
	t = sgsend_now();
	p->tokens += (t - p->last) * p->rate;
	p->last = t;
	if (p->tokens > p->burst)
		p->tokens = p->burst;
	if (p->tokens < 1) {
		double wait = (1 - p->tokens) / p->rate;
		struct timespec ts = {.tv_sec = (time_t)wait,
		                      .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9)};

		if (ts.tv_sec == 0 && ts.tv_nsec < 20000)
			ts.tv_nsec = 20000;
		nanosleep(&ts, NULL);
		return 0;
	}
	n = p->tokens < want ? (unsigned)p->tokens : want;
	p->tokens -= n;
	return n;
}

void sgsend_pacer_giveback(struct sgsend_pacer *p, unsigned n)
{
	if (p->rate)
		p->tokens += n;
}

/* ---- addresses ---- */

static const struct {
	int family;
	const char *addr;
	unsigned len;
} allowed_ranges[] = {
    {AF_INET, "192.0.2.0", 24},  {AF_INET, "198.51.100.0", 24}, {AF_INET, "203.0.113.0", 24},
    {AF_INET, "198.18.0.0", 15}, {AF_INET6, "2001:db8::", 32},
};

static bool prefix_contains(const uint8_t *net, unsigned netlen, const uint8_t *addr)
{
	unsigned bytes = netlen / 8, bits = netlen % 8;

	if (memcmp(net, addr, bytes) != 0)
		return false;
	if (bits) {
		uint8_t mask = (uint8_t)(0xff << (8 - bits));

		if ((net[bytes] & mask) != (addr[bytes] & mask))
			return false;
	}
	return true;
}

bool sgsend_prefix_allowed(const struct sgsend_prefix *p)
{
	for (size_t i = 0; i < sizeof(allowed_ranges) / sizeof(allowed_ranges[0]); i++) {
		uint8_t net[16] = {0};

		if (allowed_ranges[i].family != p->family)
			continue;
		inet_pton(p->family, allowed_ranges[i].addr, net);
		if (p->len >= allowed_ranges[i].len &&
		    prefix_contains(net, allowed_ranges[i].len, p->addr))
			return true;
	}
	return false;
}

int sgsend_parse_prefix(const char *s, struct sgsend_prefix *p)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash, *end;
	unsigned max;

	if (strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	memset(p, 0, sizeof(*p));
	if (inet_pton(AF_INET, buf, p->addr) == 1)
		p->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, p->addr) == 1)
		p->family = AF_INET6;
	else
		return -1;
	max = p->family == AF_INET ? 32 : 128;
	p->len = max;
	if (slash) {
		unsigned long l = strtoul(slash + 1, &end, 10);

		if (*end || end == slash + 1 || l > max)
			return -1;
		p->len = (unsigned)l;
	}
	return 0;
}

const char *sgsend_prefix_str(const struct sgsend_prefix *p, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(p->family, p->addr, a, sizeof(a));
	snprintf(out, len, "%s/%u", a, p->len);
	return out;
}

void sgsend_prefix_fill(const struct sgsend_prefix *p, const uint8_t *bits, uint8_t *out)
{
	size_t n = p->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < n; i++) {
		unsigned bit = (unsigned)i * 8;
		uint8_t keep;

		if (bit + 8 <= p->len)
			keep = 0xff;
		else if (bit >= p->len)
			keep = 0;
		else
			keep = (uint8_t)(0xff << (8 - (p->len - bit)));
		out[i] = (uint8_t)((p->addr[i] & keep) | (bits[i] & ~keep));
	}
}

int sgsend_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 0xff)
			return -1;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

int sgsend_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	if (*s == '-')
		return -1;
	*out = strtoull(s, &end, 10);
	return (errno || *end || end == s) ? -1 : 0;
}

int sgsend_parse_count(const char *prog, const char *s, uint64_t *out)
{
	if (sgsend_parse_u64(s, out) < 0 || *out == 0) {
		fprintf(stderr, "%s: --count must be a positive integer\n", prog);
		return -1;
	}
	return 0;
}

int sgsend_parse_duration(const char *prog, const char *s, double *out)
{
	char *end;

	*out = strtod(s, &end);
	if (*end || end == s || !(*out > 0) || *out > SGSEND_MAX_SECONDS) {
		fprintf(stderr, "%s: --duration must be in (0, %d] seconds\n", prog,
		        SGSEND_MAX_SECONDS);
		return -1;
	}
	return 0;
}
