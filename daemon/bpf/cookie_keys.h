/*
 * The cookie keys as the kernel programs see them: a BPF array map that the
 * daemon writes (bpfkeys.c) and the programs only read. Shared by user space
 * (with <linux/types.h>) and BPF code (with vmlinux.h).
 *
 * Entries 0..3 are key slots, the key of epoch e in slot e % 4, each tagged
 * with its epoch; entry SG_COOKIE_KEYS_NOW holds the current epoch. A program
 * reads the current epoch first, then only the slots of that epoch and the one
 * before (a cookie names one of them by its parity bit, see lib/cookie.h).
 *
 * Rotation to epoch e + 1 (from e):
 *   1. write the key of e + 1 into slot (e + 1) % 4, tagged e + 1 and live;
 *   2. then write e + 1 into SG_COOKIE_KEYS_NOW.
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

#define SG_COOKIE_KEY_LIVE 0x1u /* epoch 0 is an epoch: an empty entry needs its own mark */

struct sg_cookie_keyent {
	__u8 key[COOKIE_KEY_LEN]; /* slots only */
	__u32 epoch;              /* the slot's epoch, or the current epoch (SG_COOKIE_KEYS_NOW) */
	__u32 flags;              /* SG_COOKIE_KEY_LIVE */
};

#endif
