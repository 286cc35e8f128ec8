/*
 * Test program: runs one cookie test vector (cookie_vec_io.h), read from the
 * start of the packet, through cookie.bpf.h and writes the answer back in
 * place. Driven by test_bpf_cookie through BPF_PROG_TEST_RUN.
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "cookie.bpf.h"
#include "cookie_vec_io.h"

SEC("xdp")
int cookie_vec(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct cookie_vec_io *io = data;
	struct sg_cookie_tuple t = {};
	__u16 mss_table[COOKIE_MSS_SLOTS];
	struct sg_cookie_syn syn = {};

	if ((void *)(io + 1) > end)
		return XDP_ABORTED;
	t.family = io->family;
	__builtin_memcpy(t.saddr, io->saddr, sizeof(t.saddr));
	__builtin_memcpy(t.daddr, io->daddr, sizeof(t.daddr));
	t.sport = io->sport;
	t.dport = io->dport;
	__builtin_memcpy(mss_table, io->mss_table, sizeof(mss_table));

	if (io->op == COOKIE_VEC_MAKE) {
		__u32 isn = 0, tsval = 0;

		syn.mss = io->mss;
		syn.wscale = io->wscale;
		syn.flags = io->flags;
		io->rc = sg_cookie_make(&t, io->seq, &syn, mss_table, &isn, &tsval);
		io->isn = isn;
		io->tsval = tsval;
		return XDP_PASS;
	}
	io->rc = sg_cookie_check(&t, io->seq, io->ack, io->flags & SG_SYN_TS, io->tsecr, mss_table,
	                         &syn);
	io->out_mss = syn.mss;
	io->out_wscale = syn.wscale;
	io->out_flags = syn.flags;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
