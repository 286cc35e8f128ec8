/*
 * Counts per source prefix: see srccount.h.
 */
#include "srccount.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "srckey.h"

#define META_V6   0x80000000u
#define META_HOME 0x7fffffffu

struct srccount_slot {
	uint64_t key;
	uint32_t count; /* 0: empty */
	uint32_t meta;  /* META_V6 | home slot (the hash's slot, for backward-shift deletion) */
};

struct srccount {
	struct srccount_slot *slots;
	uint32_t mask;
	size_t n;
	size_t max;
	struct srckey_masks masks;
	struct siphash_key seed;
};

struct srccount *srccount_new(size_t max_sources, unsigned prefix_v4, unsigned prefix_v6,
                              const uint8_t seed[SRCCOUNT_SEED_LEN])
{
	struct srccount *sc;
	size_t size = 2;

	if (max_sources == 0 || max_sources > SRCCOUNT_MAX_SOURCES) {
		errno = EINVAL;
		return NULL;
	}
	while (size < 2 * max_sources)
		size <<= 1;
	sc = calloc(1, sizeof(*sc));
	if (sc == NULL)
		return NULL;
	if (!srckey_masks_make(&sc->masks, prefix_v4, prefix_v6)) {
		free(sc);
		errno = EINVAL;
		return NULL;
	}
	sc->slots = calloc(size, sizeof(*sc->slots));
	if (sc->slots == NULL) {
		free(sc);
		return NULL;
	}
	sc->mask = (uint32_t)(size - 1);
	sc->max = max_sources;
	sc->seed = siphash_key_from_bytes(seed);
	return sc;
}

void srccount_free(struct srccount *sc)
{
	if (sc == NULL)
		return;
	free(sc->slots);
	free(sc);
}

/* The slot holding the key, or the empty slot that ends its probe sequence. */
static struct srccount_slot *srccount_find(const struct srccount *sc, int family,
                                           const uint8_t *addr, uint64_t *key, uint32_t *meta)
{
	uint32_t v6 = family == AF_INET ? 0 : META_V6;
	uint64_t w[2];
	uint32_t i;

	*key = srckey_of(&sc->masks, family, addr);
	w[0] = *key;
	w[1] = v6 != 0;
	i = (uint32_t)siphash13(&sc->seed, w, 2) & sc->mask;
	*meta = v6 | i;
	for (;; i = (i + 1) & sc->mask) {
		struct srccount_slot *s = &sc->slots[i];

		/* at most half the slots are used, so an empty one ends every probe */
		if (s->count == 0 || (s->key == *key && (s->meta & META_V6) == v6))
			return s;
	}
}

enum srccount_result srccount_acquire(struct srccount *sc, int family, const uint8_t *addr,
                                      uint32_t cap)
{
	uint64_t key;
	uint32_t meta;
	struct srccount_slot *s = srccount_find(sc, family, addr, &key, &meta);

	if (s->count != 0) {
		if ((cap != 0 && s->count >= cap) || s->count == UINT32_MAX)
			return SRCCOUNT_ECAP;
		s->count++;
		return SRCCOUNT_OK;
	}
	if (sc->n >= sc->max)
		return SRCCOUNT_EFULL;
	s->key = key;
	s->meta = meta;
	s->count = 1;
	sc->n++;
	return SRCCOUNT_OK;
}

/* Knuth's algorithm R: pull later members of the cluster back over the hole. */
static void srccount_delete(struct srccount *sc, uint32_t hole)
{
	uint32_t j = hole;

	for (;;) {
		uint32_t home;

		j = (j + 1) & sc->mask;
		if (sc->slots[j].count == 0)
			break;
		home = sc->slots[j].meta & META_HOME;
		/* the entry at j may move to the hole unless its home lies cyclically in (hole, j]
		 */
		if (((j - home) & sc->mask) >= ((j - hole) & sc->mask)) {
			sc->slots[hole] = sc->slots[j];
			hole = j;
		}
	}
	sc->slots[hole].count = 0;
}

bool srccount_release(struct srccount *sc, int family, const uint8_t *addr)
{
	uint64_t key;
	uint32_t meta;
	struct srccount_slot *s = srccount_find(sc, family, addr, &key, &meta);

	if (s->count == 0)
		return false;
	if (--s->count == 0) {
		sc->n--;
		srccount_delete(sc, (uint32_t)(s - sc->slots));
	}
	return true;
}

uint32_t srccount_get(const struct srccount *sc, int family, const uint8_t *addr)
{
	uint64_t key;
	uint32_t meta;

	return srccount_find(sc, family, addr, &key, &meta)->count;
}

size_t srccount_sources(const struct srccount *sc)
{
	return sc->n;
}

size_t srccount_max_sources(const struct srccount *sc)
{
	return sc->max;
}
