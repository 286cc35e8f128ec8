#include "flows.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A tuple normalised so that IPv4 keys carry no stray bytes and compare with memcmp. */
struct flows_key {
	uint8_t saddr[16];
	uint8_t daddr[16];
	uint16_t sport;
	uint16_t dport;
	uint8_t family;
	uint8_t pad[3];
};

struct flows_slot {
	struct flows_key key;
	uint32_t ack;
	uint64_t expires_ms; /* 0: never used */
};

struct flows {
	struct flows_slot *slots;
	size_t mask;
	uint32_t ttl_ms;
	uint64_t seed;
};

static void flows_key_make(struct flows_key *k, const struct pkt_tuple *t)
{
	size_t alen = t->family == AF_INET ? 4 : 16;

	memset(k, 0, sizeof(*k));
	memcpy(k->saddr, t->saddr, alen);
	memcpy(k->daddr, t->daddr, alen);
	k->sport = t->sport;
	k->dport = t->dport;
	k->family = t->family;
}

static uint64_t flows_mix(uint64_t h)
{
	/* splitmix64 finaliser: every input bit reaches every output bit */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

static size_t flows_hash(const struct flows *f, const struct flows_key *k)
{
	uint64_t w[5];
	uint64_t h = f->seed;

	memcpy(w, k, sizeof(w));
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		h = flows_mix(h ^ w[i]);
	return (size_t)h;
}

_Static_assert(sizeof(struct flows_key) == 40, "flows_key is hashed as five 64-bit words");

struct flows *flows_new(size_t capacity, uint32_t ttl_ms, uint64_t seed)
{
	struct flows *f;
	size_t n = FLOWS_PROBE;

	while (n < capacity) {
		if (n > SIZE_MAX / 2 / sizeof(struct flows_slot))
			return NULL;
		n <<= 1;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->slots = calloc(n, sizeof(*f->slots));
	if (f->slots == NULL) {
		free(f);
		return NULL;
	}
	f->mask = n - 1;
	f->ttl_ms = ttl_ms ? ttl_ms : 1;
	f->seed = seed;
	return f;
}

void flows_free(struct flows *f)
{
	if (f == NULL)
		return;
	free(f->slots);
	free(f);
}

size_t flows_capacity(const struct flows *f)
{
	return f->mask + 1;
}

bool flows_insert(struct flows *f, const struct pkt_tuple *t, uint32_t ack, uint64_t now_ms)
{
	struct flows_key k;
	struct flows_slot *victim = NULL;
	size_t h;
	bool evicted;

	flows_key_make(&k, t);
	h = flows_hash(f, &k);
	for (size_t i = 0; i < FLOWS_PROBE; i++) {
		struct flows_slot *s = &f->slots[(h + i) & f->mask];

		if (s->expires_ms > now_ms && memcmp(&s->key, &k, sizeof(k)) == 0) {
			victim = s; /* refresh in place: never two live entries for one flow */
			break;
		}
		if (victim == NULL || s->expires_ms < victim->expires_ms)
			victim = s;
	}
	evicted = victim->expires_ms > now_ms && memcmp(&victim->key, &k, sizeof(k)) != 0;
	victim->key = k;
	victim->ack = ack;
	victim->expires_ms = now_ms + f->ttl_ms;
	return evicted;
}

bool flows_contains(const struct flows *f, const struct pkt_tuple *t, uint32_t ack, uint64_t now_ms)
{
	struct flows_key k;
	size_t h;

	flows_key_make(&k, t);
	h = flows_hash(f, &k);
	for (size_t i = 0; i < FLOWS_PROBE; i++) {
		const struct flows_slot *s = &f->slots[(h + i) & f->mask];

		if (s->expires_ms == 0)
			return false; /* never used: nothing was ever placed further along */
		if (s->expires_ms > now_ms && memcmp(&s->key, &k, sizeof(k)) == 0)
			return s->ack == ack; /* one live entry per tuple: no need to go on */
	}
	return false;
}
