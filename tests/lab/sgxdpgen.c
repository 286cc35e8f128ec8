/*
 * sgxdpgen: loads sgxdpgen.bpf.c with the template in its read-only data and
 * runs it in live-frames mode on the device (sgxdpgen.h).
 */
#include "sgxdpgen.h"

#include <errno.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sgxdpgen_prog.skel.h"

/* frames per batch the kernel sends before it lets the receiver's softirq run */
#define SGXDPGEN_BATCH 64

struct sgxdpgen {
	struct sgxdpgen_prog *skel;
	unsigned ifindex;
	uint8_t frame[SGXDPGEN_FRAME_MAX];
	uint32_t len;
};

static int silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

struct sgxdpgen *sgxdpgen_open(const char *iface, const uint8_t *frame, size_t len, bool ipv4,
                               const uint8_t saddr_mask[8], bool with_ack, char *err, size_t errlen)
{
	struct sgxdpgen *g;
	uint32_t l4off = ipv4 ? 34 : 54;
	int rc;

	if (len < l4off + 20 || len > SGXDPGEN_FRAME_MAX) {
		snprintf(err, errlen, "a template of %zu bytes: not a TCP frame of at most %d", len,
		         SGXDPGEN_FRAME_MAX);
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	g->ifindex = if_nametoindex(iface);
	if (g->ifindex == 0) {
		snprintf(err, errlen, "interface %s: %s", iface, strerror(errno));
		free(g);
		return NULL;
	}
	libbpf_set_print(silent);
	g->skel = sgxdpgen_prog__open();
	if (!g->skel) {
		snprintf(err, errlen, "opening the XDP generator: %s", strerror(errno));
		free(g);
		return NULL;
	}
	g->skel->rodata->tmpl_len = (uint32_t)len;
	g->skel->rodata->ipv4 = ipv4;
	memcpy((void *)g->skel->rodata->saddr_mask, saddr_mask, ipv4 ? 4 : 8);
	g->skel->rodata->with_ack = with_ack;
	memcpy((void *)g->skel->rodata->tmpl, frame, len);
	rc = sgxdpgen_prog__load(g->skel);
	if (rc) {
		snprintf(err, errlen, "loading the XDP generator: %s", strerror(-rc));
		sgxdpgen_free(g);
		return NULL;
	}
	memcpy(g->frame, frame, len);
	g->len = (uint32_t)len;
	/* one frame, to see at once whether this kernel and device take it */
	if (sgxdpgen_send(g, 1) < 0) {
		snprintf(err, errlen, "sending on %s in live-frames mode: %s", iface,
		         strerror(errno));
		sgxdpgen_free(g);
		return NULL;
	}
	return g;
}

int sgxdpgen_send(struct sgxdpgen *g, uint32_t n)
{
	struct xdp_md ctx = {.data_end = g->len, .ingress_ifindex = g->ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = g->frame, .data_size_in = g->len,
	            .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = n,
	            .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = SGXDPGEN_BATCH);

	if (n == 0)
		return 0;
	/* live frames report no verdict: the program's XDP_ABORTED shows as the device's drops */
	return bpf_prog_test_run_opts(bpf_program__fd(g->skel->progs.sg_xdp_gen), &o) < 0 ? -1 : 0;
}

void sgxdpgen_free(struct sgxdpgen *g)
{
	if (!g)
		return;
	sgxdpgen_prog__destroy(g->skel);
	free(g);
}
