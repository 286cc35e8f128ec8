/*
 * The key tick of a kernel program: writes into its sg_cookie_keys map
 * (bpfkeys.h) the keys of the previous, current and next epoch and the
 * offset that lets the program read real time off its own clock, so that it
 * changes epoch at the moment the queue threads do (bpf/cookie_keys.h). The
 * tick comes in the middle of each epoch: the next epoch's key is in half a
 * rotation before it is needed, and the offset follows a real-time clock
 * that was set. A failed publish is tried again every 0.25 s until it
 * succeeds, counted in the log. Every program (TC, XDP) has its own map and
 * its own tick, on the same schedule.
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
