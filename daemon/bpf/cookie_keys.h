/*
 * The cookie keys as the kernel programs see them: a BPF array map that the
 * daemon writes (bpfkeys.c) and the programs only read. Shared by user space
 * (with <linux/types.h>) and BPF code (with vmlinux.h).
 *
 * Entries 0..3 are key slots, the key of epoch e in slot e % 4, each tagged
 * with its epoch; entry SG_COOKIE_KEYS_NOW says what the current epoch is. A
 * program reads the current epoch first, then only the slots of that epoch and
 * the one before (a cookie names one of them by its parity bit, see
 * lib/cookie.h).
 *
 * The daemon's programs read the current epoch off the clock, as the queue
 * threads do (SG_COOKIE_NOW_CLOCK): real time is the kernel's monotonic clock
 * (bpf_ktime_get_ns) plus the offset the daemon writes, and the epoch is real
 * time / rotation. So a program changes epoch at the very moment the queue
 * threads do, however late the daemon's main loop runs: a cookie made by one
 * path always validates in the other. The daemon writes the key of e + 1 in
 * the middle of epoch e, half a rotation before any program reads it, and the
 * offset again only when the real-time clock was set. Without the flag the
 * entry's epoch field is the current epoch (tests set epochs that way).
 *
 * Rotation to epoch e + 1 (from e):
 *   1. write the key of e + 1 into slot (e + 1) % 4, tagged e + 1 and live;
 *   2. then e + 1 becomes current: the clock gets there, or (without the
 *      clock) e + 1 is written into SG_COOKIE_KEYS_NOW.
 * Slot (e + 1) % 4 last held the key of e - 3, which no program has read since
 * the current epoch became e - 1: a program never reads a key that is being
 * written, so no 128-bit key is ever seen torn. With two slots the one written
 * would be that of e - 1, still live for cookies made in e - 1 until step 2.
 * Four slots rather than three so that slot numbers run on across the 32-bit
 * wrap of the epoch (2^32 is a multiple of 4). Which keys count as live is
 * exactly lib/cookie.c's rule: a program at epoch now accepts the keys of now
 * and now - 1 when their slots carry those epochs; a slot tagged otherwise is
 * no key (COOKIE_ENOKEY).
 *
 * Each map update writes one entry, and the syscall returns only once it is
 * written, so step 1 is complete before step 2 starts. Step 2 changes only the
 * aligned 32-bit epoch of its entry; should a program ever read it half
 * written, the value names an epoch without a key: COOKIE_ENOKEY for that
 * packet, never a wrong acceptance.
 */
#ifndef SYNGUARD_COOKIE_KEYS_H
#define SYNGUARD_COOKIE_KEYS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "cookie_layout.h"

#define SG_COOKIE_KEY_SLOTS    4 /* a power of two, see above */
#define SG_COOKIE_KEYS_NOW     SG_COOKIE_KEY_SLOTS
#define SG_COOKIE_KEYS_ENTRIES (SG_COOKIE_KEY_SLOTS + 1)

#define SG_COOKIE_KEY_LIVE  0x1u /* epoch 0 is an epoch: an empty entry needs its own mark */
#define SG_COOKIE_NOW_CLOCK 0x2u /* SG_COOKIE_KEYS_NOW: the epoch comes from the clock */

struct sg_cookie_keyent {
	union {
		__u8 key[COOKIE_KEY_LEN];   /* slots */
		struct {                    /* SG_COOKIE_KEYS_NOW with SG_COOKIE_NOW_CLOCK */
			__u64 clock_off_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
			__u64 rotation_ns;  /* never 0 */
		};
	};
	__u32 epoch; /* the slot's epoch, or the current epoch (SG_COOKIE_KEYS_NOW, no clock) */
	__u32 flags; /* SG_COOKIE_KEY_LIVE, SG_COOKIE_NOW_CLOCK */
};

#endif
