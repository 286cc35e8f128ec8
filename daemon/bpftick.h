/*
 * The key tick of a kernel program: publishes the cookie keys of the
 * current epoch into its sg_cookie_keys map (bpfkeys.h) half a rotation (at
 * most 2 s) before each epoch boundary, so that an ACK answering a SYN-ACK the queue threads
 * made just after the boundary never meets the program still in the old
 * epoch. A failed publish is tried again every 0.25 s until it succeeds,
 * counted in the log. Every program (TC, XDP) has its own map and its own
 * tick, on the same schedule.
 */
#ifndef SYNGUARD_BPFTICK_H
#define SYNGUARD_BPFTICK_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "cookie.h"

struct bpftick;

/*
 * Publishes the current epoch's keys into map_fd (kept open by the caller)
 * at once, then at every tick on loop; hook(arg), when given, runs after
 * each tick's publish. who names the program in the log ("fast path").
 * NULL with the reason in err when the first publish fails.
 */
struct bpftick *bpftick_new(struct ev_loop *loop, int map_fd,
                            const uint8_t master[COOKIE_MASTER_LEN], uint32_t rotation,
                            const char *who, void (*hook)(void *arg), void *arg, char *err,
                            size_t errlen);
void bpftick_free(struct bpftick *t);

#endif
