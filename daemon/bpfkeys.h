/*
 * The cookie keys of the kernel programs: derives each epoch's key from the
 * master secret exactly as the NFQUEUE path does (cookie_derive_key) and
 * writes them into a program's sg_cookie_keys map with the rotation protocol
 * of bpf/cookie_keys.h, so that the programs and lib/cookie.c accept the same
 * cookies at the same epoch. Time is passed in: the caller computes the epoch
 * as the NFQUEUE path does (real-time seconds / cookie_rotation).
 */
#ifndef SYNGUARD_BPFKEYS_H
#define SYNGUARD_BPFKEYS_H

#include <stdint.h>

#include "cookie.h"

struct bpfkeys;

/* map_fd: a sg_cookie_keys map (kept open by the caller); the master is copied. */
struct bpfkeys *bpfkeys_new(int map_fd, const uint8_t master[COOKIE_MASTER_LEN]);
void bpfkeys_free(struct bpfkeys *b);

/*
 * Makes epoch the current epoch: writes the keys of epoch - 1 and epoch
 * where the map does not hold them yet, then publishes epoch. Cheap when
 * nothing changed. After a jump of more than one epoch (clock step, first
 * call) a slot being written may be one a program still reads for a cookie
 * that the jump expires anyway. Returns 0, or -1 with errno set.
 */
int bpfkeys_set_epoch(struct bpfkeys *b, uint32_t epoch);

/*
 * The daemon's way (cookie_keys.h, SG_COOKIE_NOW_CLOCK): epoch is the
 * current epoch (real-time seconds / rotation); writes the keys of epoch - 1,
 * epoch and epoch + 1 where the map does not hold them yet, then lets the
 * programs read the epoch off their clock: CLOCK_MONOTONIC + clock_off_ns,
 * with clock_off_ns = CLOCK_REALTIME - CLOCK_MONOTONIC. The clock entry is
 * written again only when the offset moved by BPFKEYS_CLOCK_SLACK_NS (the
 * real-time clock was set) or the rotation changed. Returns 0, or -1 with
 * errno set.
 */
#define BPFKEYS_CLOCK_SLACK_NS 1000000 /* 1 ms: two readings of the offset differ by less */
int bpfkeys_set_clock(struct bpfkeys *b, uint32_t epoch, uint64_t clock_off_ns, uint32_t rotation);

/* The protocol's two steps, for callers and tests that set keys one by one. */
int bpfkeys_put_key(int map_fd, uint32_t epoch, const uint8_t key[COOKIE_KEY_LEN]);
int bpfkeys_put_now(int map_fd, uint32_t epoch);
int bpfkeys_put_clock(int map_fd, uint64_t clock_off_ns, uint32_t rotation);
/* Marks every entry empty: no key, no current epoch. */
int bpfkeys_clear(int map_fd);

#endif
