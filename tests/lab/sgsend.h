/*
 * sgsend: the frame sender shared by the lab's packet generators (sgflood,
 * sgreplay).
 *
 * A sender writes whole Ethernet frames either to one interface, from an
 * AF_PACKET socket through a PACKET_TX_RING when the kernel gives one
 * (sendmmsg batches otherwise), or to a classic pcap file. Frames are not
 * copied in: the caller's fill function writes each one straight into the
 * ring slot (or batch buffer), so a generator builds a frame only when there
 * is room to send it.
 *
 * Also here, because every generator needs the same: a token-bucket pacer,
 * and the address safety rule (documentation and benchmark ranges only).
 */
#ifndef SYNGUARD_SGSEND_H
#define SYNGUARD_SGSEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* Hard bound on any run of a lab generator, whatever it was asked. */
#define SGSEND_MAX_SECONDS 600
#define SGSEND_FRAME_MAX   2048
#define SGSEND_BATCH       64

struct sgsend {
	int fd;
	FILE *pcap;
	/* TX ring (NULL: sendmmsg batches) */
	uint8_t *ring;
	size_t ring_len;
	unsigned frames, next;
	/* sendmmsg fallback */
	struct sockaddr_ll sll;
	uint8_t (*bufs)[SGSEND_FRAME_MAX];
	struct mmsghdr *msgs;
	struct iovec *iov;
	uint64_t errors;
	int last_errno;
};

/*
 * Writes one frame (Ethernet header first) of at most cap bytes into buf and
 * returns its length; *ts is the frame's pcap timestamp in seconds (ignored
 * when sending). A fill function is called exactly once per frame sent.
 */
typedef size_t (*sgsend_fill_fn)(void *ctx, uint8_t *buf, size_t cap, double *ts);

/*
 * Opens a sender on interface iface. When src_mac_known is false, src_mac
 * receives the interface's hardware address. Messages go to stderr, prefixed
 * with the program's name. Returns 0 or -1.
 */
/* The device's hardware address; 0, or -1 with a message on stderr. */
int sgsend_iface_mac(const char *iface, uint8_t mac[6]);

int sgsend_open_iface(struct sgsend *s, const char *iface, uint8_t src_mac[6], bool src_mac_known,
                      bool quiet);

/* Opens a sender that writes a classic pcap file (LINKTYPE_ETHERNET). */
int sgsend_open_pcap(struct sgsend *s, const char *path);

/*
 * Sends (or writes) up to n frames, filled by fill. Returns how many went:
 * fewer than n only when the TX ring is full (then sgsend_wait()). Frames the
 * device refused are counted in s->errors, not retried.
 */
unsigned sgsend_batch(struct sgsend *s, unsigned n, sgsend_fill_fn fill, void *ctx);

/* Waits up to ms milliseconds for room in the TX ring. */
void sgsend_wait(struct sgsend *s, int ms);

/* Waits (bounded) until the kernel has taken every queued frame. */
void sgsend_drain(struct sgsend *s);

/* Flushes and closes; returns -1 when the pcap file could not be written. */
int sgsend_close(struct sgsend *s);

/* ---- pacing ---- */

double sgsend_now(void); /* CLOCK_MONOTONIC, seconds */

struct sgsend_pacer {
	double rate, burst, tokens, last;
};

/* rate: packets per second, 0 = unpaced. */
void sgsend_pacer_init(struct sgsend_pacer *p, uint64_t rate);

/* How many packets may go now (at most want); sleeps briefly and returns 0 when none may. */
unsigned sgsend_pacer_take(struct sgsend_pacer *p, unsigned want);

/* Returns tokens taken but not used (the ring was full). */
void sgsend_pacer_giveback(struct sgsend_pacer *p, unsigned n);

/* ---- addresses ---- */

struct sgsend_prefix {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned len;
};

/* Parses ADDR or ADDR/LEN. Returns 0 or -1. */
int sgsend_parse_prefix(const char *s, struct sgsend_prefix *p);

/* True when the whole prefix lies inside one documentation/benchmark range:
 * 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 198.18.0.0/15, 2001:db8::/32. */
bool sgsend_prefix_allowed(const struct sgsend_prefix *p);

/* An address of the prefix: its first len bits, the rest from bits (16 bytes). */
void sgsend_prefix_fill(const struct sgsend_prefix *p, const uint8_t *bits, uint8_t *out);

/* Formats a prefix as ADDR/LEN into out (at least 64 bytes). */
const char *sgsend_prefix_str(const struct sgsend_prefix *p, char *out, size_t len);

int sgsend_parse_mac(const char *s, uint8_t mac[6]);

/* Strict unsigned decimal; returns 0 or -1. */
int sgsend_parse_u64(const char *s, uint64_t *out);

/* The bounds every sender must have: --count (a positive integer) and --duration (seconds in
 * (0, SGSEND_MAX_SECONDS]). Return 0, or -1 after saying why on stderr, prefixed with prog. */
int sgsend_parse_count(const char *prog, const char *s, uint64_t *out);
int sgsend_parse_duration(const char *prog, const char *s, double *out);

#endif
