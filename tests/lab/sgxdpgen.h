/*
 * sgxdpgen: sgflood's XDP sender (--xdp), the kernel's live-frames mode of
 * BPF_PROG_RUN on a frame template (sgxdpgen.bpf.c says how).
 */
#ifndef SGXDPGEN_H
#define SGXDPGEN_H

#define SGXDPGEN_FRAME_MAX 128 /* a template frame's bytes at most */
#define SGXDPGEN_WORDS_MAX 5   /* 32-bit words a frame's TCP checksum is updated for */

#ifndef __bpf__
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sgxdpgen;

/*
 * The template: an Ethernet frame with an IPv4 or IPv6 header without options
 * (l4off = 34 or 54), whose source address bits under mask (saddr_mask, the
 * source's last 4 bytes for IPv4, last 8 for IPv6, in the frame's order),
 * source port, sequence number and (with_ack) acknowledgment number are zero,
 * and its checksums computed so. Returns NULL with a message in err.
 */
struct sgxdpgen *sgxdpgen_open(const char *iface, const uint8_t *frame, size_t len, bool ipv4,
                               const uint8_t saddr_mask[8], bool with_ack, char *err,
                               size_t errlen);
/* Sends n frames (one BPF_PROG_RUN call); returns 0, or -1 with errno. */
int sgxdpgen_send(struct sgxdpgen *g, uint32_t n);
void sgxdpgen_free(struct sgxdpgen *g);
#endif

#endif
