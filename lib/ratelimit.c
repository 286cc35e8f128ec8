/*
 * Per-source token buckets: see ratelimit.h for the bucket (GCRA), the table
 * layout and the eviction guarantees.
 */
#include "ratelimit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "srckey.h"

#define NS_PER_MS  1000000ULL
#define NS_PER_SEC 1000000000ULL

/* The family bit rides in the TAT word, which then fits 63 bits of nanoseconds (292 years). */
#define TAT_V6   (1ULL << 63)
#define TAT_MASK (~TAT_V6)

struct rl_slot {
	uint64_t key;
	uint64_t
	    tat; /* TAT_V6 | theoretical arrival time in ns; 0: empty (a live TAT is >= T > 0) */
};

_Static_assert(sizeof(struct rl_slot) == 16, "four slots per cache line");
_Static_assert((RL_WAYS & (RL_WAYS - 1)) == 0, "RL_WAYS is a power of two");

struct rl {
	struct rl_slot *slots; /* nsets * RL_WAYS, 64-byte aligned */
	size_t set_mask;
	uint64_t t_ns;   /* emission interval T = 1 s / rate */
	uint64_t tau_ns; /* tolerance (burst - 1) T */
	uint32_t burst;
	struct srckey_masks masks;
	struct siphash_key seed;
	struct rl_stats st;
};

static void rl_timing(struct rl *rl, uint32_t rate, uint32_t burst)
{
	rl->t_ns = NS_PER_SEC / rate;
	if (rl->t_ns == 0)
		rl->t_ns = 1;
	rl->tau_ns = (uint64_t)(burst - 1) * rl->t_ns;
	rl->burst = burst;
}

struct rl *rl_new(size_t capacity, uint32_t rate_per_sec, uint32_t burst, unsigned prefix_v4,
                  unsigned prefix_v6, const uint8_t seed[RL_SEED_LEN])
{
	struct rl *rl;
	size_t n = RL_WAYS;

	if (rate_per_sec == 0 || burst == 0 || capacity > RL_MAX_SLOTS) {
		errno = EINVAL;
		return NULL;
	}
	while (n < capacity)
		n <<= 1;
	rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return NULL;
	if (!srckey_masks_make(&rl->masks, prefix_v4, prefix_v6)) {
		free(rl);
		errno = EINVAL;
		return NULL;
	}
	rl->slots = aligned_alloc(64, n * sizeof(struct rl_slot));
	if (rl->slots == NULL) {
		free(rl);
		return NULL;
	}
	memset(rl->slots, 0, n * sizeof(struct rl_slot));
	rl->set_mask = n / RL_WAYS - 1;
	rl->seed = siphash_key_from_bytes(seed);
	rl_timing(rl, rate_per_sec, burst);
	return rl;
}

void rl_free(struct rl *rl)
{
	if (rl == NULL)
		return;
	free(rl->slots);
	free(rl);
}

static struct rl_slot *rl_set(const struct rl *rl, uint64_t key, uint64_t fam)
{
	uint64_t w[2] = {key, fam >> 63};

	return &rl->slots[(siphash13(&rl->seed, w, 2) & rl->set_mask) * RL_WAYS];
}

bool rl_allow(struct rl *rl, int family, const uint8_t *addr, uint64_t now_ms)
{
	uint64_t t = now_ms * NS_PER_MS;
	uint64_t fam = family == AF_INET ? 0 : TAT_V6;
	uint64_t key = srckey_of(&rl->masks, family, addr);
	struct rl_slot *set = rl_set(rl, key, fam);
	struct rl_slot *victim = &set[0];
	uint64_t vtat = UINT64_MAX;

	for (int i = 0; i < RL_WAYS; i++) {
		struct rl_slot *s = &set[i];
		uint64_t tat = s->tat & TAT_MASK;

		if (s->key == key && (s->tat & ~TAT_MASK) == fam && tat != 0) {
			if (tat < t)
				tat = t;
			if (tat - t > rl->tau_ns) {
				rl->st.denied++;
				return false;
			}
			s->tat = (tat + rl->t_ns) | fam;
			rl->st.allowed++;
			return true;
		}
		if (tat < vtat) {
			vtat = tat;
			victim = s;
		}
	}
	/* New source: a full bucket, of which this packet takes one token. */
	rl->st.inserted++;
	if (vtat > t)
		rl->st.evicted++;
	else if (vtat != 0)
		rl->st.reclaimed++;
	victim->key = key;
	victim->tat = (t + rl->t_ns) | fam;
	rl->st.allowed++;
	return true;
}

int rl_set_params(struct rl *rl, uint32_t rate_per_sec, uint32_t burst, uint64_t now_ms)
{
	uint64_t t = now_ms * NS_PER_MS;
	uint64_t old_t = rl->t_ns;
	uint64_t old_full = (uint64_t)rl->burst * rl->t_ns; /* a full bucket, in old time units */
	uint64_t full;

	if (rate_per_sec == 0 || burst == 0) {
		errno = EINVAL;
		return -1;
	}
	rl_timing(rl, rate_per_sec, burst);
	full = (uint64_t)burst * rl->t_ns;
	for (size_t i = 0; i < rl_capacity(rl); i++) {
		struct rl_slot *s = &rl->slots[i];
		uint64_t tat = s->tat & TAT_MASK;
		unsigned __int128 tokens;

		if (tat <= t)
			continue; /* full bucket: full under any parameters */
		/* the tokens it holds, (old_full - (tat - t)) / old_t, in new time units, capped */
		tokens = tat - t >= old_full ? 0 : old_full - (tat - t);
		tokens = tokens * rl->t_ns / old_t;
		if (tokens > full)
			tokens = full;
		s->tat = (t + (full - (uint64_t)tokens)) | (s->tat & TAT_V6);
	}
	return 0;
}

size_t rl_capacity(const struct rl *rl)
{
	return (rl->set_mask + 1) * RL_WAYS;
}

void rl_get_stats(const struct rl *rl, struct rl_stats *out)
{
	*out = rl->st;
}

size_t rl_active(const struct rl *rl, uint64_t now_ms)
{
	uint64_t t = now_ms * NS_PER_MS;
	size_t n = 0;

	for (size_t i = 0; i < rl_capacity(rl); i++)
		n += (rl->slots[i].tat & TAT_MASK) > t;
	return n;
}

double rl_tokens(const struct rl *rl, int family, const uint8_t *addr, uint64_t now_ms)
{
	uint64_t t = now_ms * NS_PER_MS;
	uint64_t fam = family == AF_INET ? 0 : TAT_V6;
	uint64_t key = srckey_of(&rl->masks, family, addr);
	const struct rl_slot *set = rl_set(rl, key, fam);

	for (int i = 0; i < RL_WAYS; i++) {
		uint64_t tat = set[i].tat & TAT_MASK;

		if (set[i].key == key && (set[i].tat & ~TAT_MASK) == fam && tat != 0)
			return tat <= t ? rl->burst : rl->burst - (double)(tat - t) / rl->t_ns;
	}
	return rl->burst;
}
