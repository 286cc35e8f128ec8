/*
 * Counter slots of a kernel program: its per-CPU array map holds
 * n_counters counters per slot, and each protected listener gets a slot,
 * stable by name across reloads. A slot taken anew starts from the counters'
 * values at that moment (the map is never cleared: a slot's old figures stay
 * until it is taken again), so a listener's counters always start at 0.
 * Also the map pruning both programs' reloads need.
 */
#ifndef SYNGUARD_BPFSLOTS_H
#define SYNGUARD_BPFSLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

struct bpfslots;

/* counters_fd: the per-CPU array map (kept open by the caller), n_slots * n_counters
 * entries at least. NULL when out of memory or the CPUs cannot be counted. */
struct bpfslots *bpfslots_new(int counters_fd, size_t n_slots, size_t n_counters);
void bpfslots_free(struct bpfslots *s);

/* The slot of name, or -1. */
int bpfslots_of(const struct bpfslots *s, const char *name);
/* The slot of name, taken when it has none; -1 when every slot is taken. */
int bpfslots_get(struct bpfslots *s, const char *name);
/* Frees the slots whose name no listener of c that keep() accepts has. */
void bpfslots_keep(struct bpfslots *s, const struct conf *c,
                   bool (*keep)(const struct conf_listener *l));

/*
 * Entry key of the per-CPU counter map fd summed over its ncpus CPUs into *out
 * (percpu: ncpus values of room, the caller's); 0, or -1 with errno.
 */
int bpfmap_percpu_sum(int fd, uint32_t key, int ncpus, uint64_t *percpu, uint64_t *out);
/* Counter id of slot (any slot of the map, taken or not): summed over the CPUs. */
uint64_t bpfslots_raw(struct bpfslots *s, uint32_t slot, uint32_t id);
/* The same since the slot was taken. */
uint64_t bpfslots_read(struct bpfslots *s, uint32_t slot, uint32_t id);

/* Deletes the keys of map fd (keys of ksz bytes, at most 64) that drop() names. */
void bpfmap_prune(int fd, size_t ksz, bool (*drop)(const void *k, const void *arg),
                  const void *arg);

#endif
