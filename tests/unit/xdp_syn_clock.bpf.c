/*
 * daemon/bpf/xdp_syn.bpf.c with a clock the test sets (sg_xdp_test_now), so
 * that the rate limiter's refills happen when the test says, not when a
 * sleep lines up. Built for test_bpf_xdp_policy only, never installed.
 */
#define SG_XDP_TEST_CLOCK
#include "xdp_syn.bpf.c"
