/*
 * The half-open table: see halfopen.h for the layout and the retransmit
 * schedule.
 */
#include "halfopen.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bytes.h"
#include "srccount.h"

#define NIL    UINT32_MAX
#define NLISTS (HALFOPEN_MAX_RETRIES + 1)

#define F_V6     0x01
#define F_WSCALE 0x02
#define F_SACK   0x04
#define F_TS     0x08
#define F_ECN    0x10

/* A tuple normalised so that IPv4 keys carry no stray bytes and compare with memcmp. */
struct ho_key {
	uint8_t saddr[16];
	uint8_t daddr[16];
	uint16_t sport;
	uint16_t dport;
};

struct ho_entry {
	struct ho_key k;
	uint32_t client_isn;
	uint32_t our_isn;
	uint32_t our_tsval;
	uint32_t client_tsval;
	uint16_t mss;
	uint8_t wscale;
	uint8_t flags;
	uint8_t stage; /* retransmits so far; the entry is in list[stage] */
	uint8_t pad[3];
	uint32_t free_next; /* the free list, while free */
	uint32_t prev;      /* list[stage] */
	uint32_t next;
	uint64_t created_ms;
};

_Static_assert(sizeof(struct ho_key) == 36, "ho_key has no padding");
_Static_assert(sizeof(struct ho_entry) == 80, "ho_entry is packed");

/* An index slot: the entry's hash (its low bits are the home slot) and the entry. */
struct ho_slot {
	uint32_t hash;
	uint32_t idx; /* NIL: empty */
};

struct ho_list {
	uint32_t head;
	uint32_t tail;
};

struct halfopen {
	struct ho_entry *e;
	struct ho_slot *index;
	uint32_t imask;
	uint32_t free;
	size_t count;
	struct ho_list list[NLISTS];
	struct srccount *src; /* NULL when per_source is 0 */
	struct halfopen_params p;
	uint8_t seed_bytes[HALFOPEN_SEED_LEN];
	struct siphash_key seed;
	uint64_t last_ms;
};

static bool ho_params_ok(const struct halfopen_params *p)
{
	return p->capacity >= 1 && p->capacity <= HALFOPEN_MAX_CAPACITY && p->prefix_v4 <= 32 &&
	       p->prefix_v6 <= 64 && p->rto_ms >= 1 && p->retries <= HALFOPEN_MAX_RETRIES;
}

/* Sets up *h for p with every entry free; on failure *h is left without arrays. */
static int ho_alloc(struct halfopen *h, const struct halfopen_params *p,
                    const uint8_t seed[HALFOPEN_SEED_LEN], uint64_t last_ms)
{
	size_t nb = 2;

	while (nb < 2 * p->capacity)
		nb <<= 1;
	memset(h, 0, sizeof(*h));
	memcpy(h->seed_bytes, seed, HALFOPEN_SEED_LEN);
	h->seed = siphash_key_from_bytes(seed);
	h->last_ms = last_ms;
	h->p = *p;
	h->e = calloc(p->capacity, sizeof(*h->e));
	h->index = malloc(nb * sizeof(*h->index));
	if (p->per_source != 0)
		h->src = srccount_new(p->capacity, p->prefix_v4, p->prefix_v6, seed);
	if (h->e == NULL || h->index == NULL || (p->per_source != 0 && h->src == NULL)) {
		free(h->e);
		free(h->index);
		srccount_free(h->src);
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < nb; i++)
		h->index[i].idx = NIL;
	h->imask = (uint32_t)(nb - 1);
	for (size_t i = 0; i < p->capacity; i++)
		h->e[i].free_next = i + 1 < p->capacity ? (uint32_t)(i + 1) : NIL;
	h->free = 0;
	for (int k = 0; k < NLISTS; k++)
		h->list[k].head = h->list[k].tail = NIL;
	return 0;
}

struct halfopen *halfopen_new(const struct halfopen_params *p,
                              const uint8_t seed[HALFOPEN_SEED_LEN])
{
	struct halfopen *h;

	if (!ho_params_ok(p)) {
		errno = EINVAL;
		return NULL;
	}
	h = malloc(sizeof(*h));
	if (h == NULL)
		return NULL;
	if (ho_alloc(h, p, seed, 0) < 0) {
		free(h);
		return NULL;
	}
	return h;
}

static void ho_release(struct halfopen *h)
{
	free(h->e);
	free(h->index);
	srccount_free(h->src);
}

void halfopen_free(struct halfopen *h)
{
	if (h == NULL)
		return;
	ho_release(h);
	free(h);
}

static uint8_t ho_key_make(struct ho_key *k, const struct pkt_tuple *t)
{
	size_t alen = t->family == AF_INET ? 4 : 16;

	memset(k, 0, sizeof(*k));
	memcpy(k->saddr, t->saddr, alen);
	memcpy(k->daddr, t->daddr, alen);
	k->sport = t->sport;
	k->dport = t->dport;
	return t->family == AF_INET ? 0 : F_V6;
}

static uint32_t ho_hash(const struct halfopen *h, const struct ho_key *k, uint8_t v6)
{
	uint64_t w[5];
	uint64_t ports = (uint64_t)v6 << 32 | (uint64_t)k->sport << 16 | k->dport;
	size_t n;

	if (v6) {
		w[0] = bytes_get_be64(k->saddr);
		w[1] = bytes_get_be64(k->saddr + 8);
		w[2] = bytes_get_be64(k->daddr);
		w[3] = bytes_get_be64(k->daddr + 8);
		w[4] = ports;
		n = 5;
	} else {
		w[0] = (uint64_t)bytes_get_be32(k->saddr) << 32 | bytes_get_be32(k->daddr);
		w[1] = ports;
		n = 2;
	}
	return (uint32_t)siphash13(&h->seed, w, n);
}

/*
 * The index slot holding the entry of k, or the empty slot that ends its
 * probe: the index is at most half full, so one always does. Entries are
 * read only when the whole 32-bit hash matches, so a miss usually touches
 * nothing but the index.
 */
static uint32_t ho_lookup(const struct halfopen *h, const struct ho_key *k, uint8_t v6,
                          uint32_t hash)
{
	for (uint32_t i = hash & h->imask;; i = (i + 1) & h->imask) {
		const struct ho_slot *s = &h->index[i];
		const struct ho_entry *e;

		if (s->idx == NIL)
			return i;
		if (s->hash != hash)
			continue;
		e = &h->e[s->idx];
		if ((e->flags & F_V6) == v6 && memcmp(&e->k, k, sizeof(*k)) == 0)
			return i;
	}
}

/* Empties index slot `hole`, pulling later members of its cluster back (Knuth's algorithm R). */
static void ho_unindex(struct halfopen *h, uint32_t hole)
{
	uint32_t j = hole;

	for (;;) {
		uint32_t home;

		j = (j + 1) & h->imask;
		if (h->index[j].idx == NIL)
			break;
		home = h->index[j].hash & h->imask;
		/* the slot at j may move to the hole unless its home lies cyclically in (hole, j]
		 */
		if (((j - home) & h->imask) >= ((j - hole) & h->imask)) {
			h->index[hole] = h->index[j];
			hole = j;
		}
	}
	h->index[hole].idx = NIL;
}

static uint64_t ho_deadline(const struct halfopen *h, const struct ho_entry *e, unsigned stage)
{
	return e->created_ms + (uint64_t)h->p.rto_ms * ((2ULL << stage) - 1);
}

static void ho_list_append(struct halfopen *h, unsigned k, uint32_t i)
{
	struct ho_entry *e = &h->e[i];

	e->stage = (uint8_t)k;
	e->next = NIL;
	e->prev = h->list[k].tail;
	if (e->prev == NIL)
		h->list[k].head = i;
	else
		h->e[e->prev].next = i;
	h->list[k].tail = i;
}

static void ho_list_unlink(struct halfopen *h, uint32_t i)
{
	struct ho_entry *e = &h->e[i];
	struct ho_list *l = &h->list[e->stage];

	if (e->prev == NIL)
		l->head = e->next;
	else
		h->e[e->prev].next = e->next;
	if (e->next == NIL)
		l->tail = e->prev;
	else
		h->e[e->next].prev = e->prev;
}

static void ho_to_entry(const struct ho_entry *e, struct halfopen_entry *out)
{
	struct halfopen_syn *s = &out->syn;

	memset(out, 0, sizeof(*out));
	s->t.family = e->flags & F_V6 ? AF_INET6 : AF_INET;
	memcpy(s->t.saddr, e->k.saddr, 16);
	memcpy(s->t.daddr, e->k.daddr, 16);
	s->t.sport = e->k.sport;
	s->t.dport = e->k.dport;
	s->client_isn = e->client_isn;
	s->our_isn = e->our_isn;
	s->our_tsval = e->our_tsval;
	s->opt.mss = e->mss;
	s->opt.wscale = e->wscale;
	s->opt.has_wscale = e->flags & F_WSCALE;
	s->opt.sack_ok = e->flags & F_SACK;
	s->opt.has_ts = e->flags & F_TS;
	s->opt.tsval = e->client_tsval;
	s->ecn = e->flags & F_ECN;
	out->created_ms = e->created_ms;
	out->retransmits = e->stage;
}

/* Takes a free entry, fills it from syn and indexes it in the empty index slot `slot` (from
 * ho_lookup); per-source accounting is the caller's. */
static uint32_t ho_place(struct halfopen *h, uint32_t slot, uint32_t hash, const struct ho_key *k,
                         uint8_t v6, const struct halfopen_syn *syn, uint64_t created_ms,
                         unsigned stage)
{
	uint32_t i = h->free;
	struct ho_entry *e = &h->e[i];

	h->free = e->free_next;
	e->k = *k;
	e->client_isn = syn->client_isn;
	e->our_isn = syn->our_isn;
	e->our_tsval = syn->our_tsval;
	e->client_tsval = syn->opt.tsval;
	e->mss = syn->opt.mss;
	e->wscale = syn->opt.wscale;
	e->flags = v6 | (syn->opt.has_wscale ? F_WSCALE : 0) | (syn->opt.sack_ok ? F_SACK : 0) |
	           (syn->opt.has_ts ? F_TS : 0) | (syn->ecn ? F_ECN : 0);
	e->created_ms = created_ms;
	h->index[slot].hash = hash;
	h->index[slot].idx = i;
	ho_list_append(h, stage, i);
	h->count++;
	return i;
}

static uint64_t ho_now(struct halfopen *h, uint64_t now_ms)
{
	if (now_ms < h->last_ms)
		return h->last_ms;
	h->last_ms = now_ms;
	return now_ms;
}

enum halfopen_result halfopen_insert(struct halfopen *h, const struct halfopen_syn *syn,
                                     uint64_t now_ms)
{
	struct ho_key k;
	uint8_t v6 = ho_key_make(&k, &syn->t);
	uint32_t hash = ho_hash(h, &k, v6);
	uint32_t slot = ho_lookup(h, &k, v6, hash);

	now_ms = ho_now(h, now_ms);
	if (h->index[slot].idx != NIL)
		return HALFOPEN_EEXIST;
	if (h->free == NIL)
		return HALFOPEN_EFULL;
	if (h->src != NULL) {
		switch (srccount_acquire(h->src, syn->t.family, syn->t.saddr, h->p.per_source)) {
		case SRCCOUNT_OK:
			break;
		case SRCCOUNT_ECAP:
			return HALFOPEN_ESOURCE;
		case SRCCOUNT_EFULL: /* sized to the capacity: cannot happen while an entry is free
		                      */
			return HALFOPEN_EFULL;
		}
	}
	ho_place(h, slot, hash, &k, v6, syn, now_ms, 0);
	return HALFOPEN_OK;
}

bool halfopen_find(const struct halfopen *h, const struct pkt_tuple *t, struct halfopen_entry *out)
{
	struct ho_key k;
	uint8_t v6 = ho_key_make(&k, t);
	uint32_t idx = h->index[ho_lookup(h, &k, v6, ho_hash(h, &k, v6))].idx;

	if (idx == NIL)
		return false;
	if (out != NULL)
		ho_to_entry(&h->e[idx], out);
	return true;
}

/* Frees the entry of index slot `slot`. */
static void ho_drop(struct halfopen *h, uint32_t slot)
{
	uint32_t i = h->index[slot].idx;
	struct ho_entry *e = &h->e[i];

	ho_unindex(h, slot);
	ho_list_unlink(h, i);
	if (h->src != NULL)
		srccount_release(h->src, e->flags & F_V6 ? AF_INET6 : AF_INET, e->k.saddr);
	e->free_next = h->free;
	h->free = i;
	h->count--;
}

bool halfopen_remove(struct halfopen *h, const struct pkt_tuple *t)
{
	struct ho_key k;
	uint8_t v6 = ho_key_make(&k, t);
	uint32_t slot = ho_lookup(h, &k, v6, ho_hash(h, &k, v6));

	if (h->index[slot].idx == NIL)
		return false;
	ho_drop(h, slot);
	return true;
}

static void ho_expire(struct halfopen *h, uint32_t i, struct halfopen_event *ev)
{
	struct ho_entry *e = &h->e[i];
	uint32_t slot = ho_hash(h, &e->k, e->flags & F_V6) & h->imask;

	while (h->index[slot].idx != i)
		slot = (slot + 1) & h->imask;
	ev->kind = HALFOPEN_EXPIRED;
	ho_to_entry(e, &ev->e);
	ho_drop(h, slot);
}

size_t halfopen_due(struct halfopen *h, uint64_t now_ms, struct halfopen_event *ev, size_t max)
{
	unsigned last = h->p.retries;
	size_t n = 0;

	now_ms = ho_now(h, now_ms);
	/* entries past a retries count lowered by a reload: their time is up */
	for (unsigned k = NLISTS - 1; k > last; k--)
		while (n < max && h->list[k].head != NIL)
			ho_expire(h, h->list[k].head, &ev[n++]);
	/* from the last list down, so that an entry moved up is not seen twice in one call */
	for (int k = (int)last; k >= 0; k--) {
		uint32_t i;

		while (n < max && (i = h->list[k].head) != NIL &&
		       ho_deadline(h, &h->e[i], (unsigned)k) <= now_ms) {
			if ((unsigned)k == last) {
				ho_expire(h, i, &ev[n++]);
				continue;
			}
			ho_list_unlink(h, i);
			ho_list_append(h, (unsigned)k + 1, i);
			ev[n].kind = HALFOPEN_RETRANSMIT;
			ho_to_entry(&h->e[i], &ev[n].e);
			n++;
		}
	}
	return n;
}

uint64_t halfopen_next_due(const struct halfopen *h)
{
	uint64_t next = UINT64_MAX;

	for (unsigned k = 0; k < NLISTS; k++) {
		uint32_t i = h->list[k].head;
		uint64_t d;

		if (i == NIL)
			continue;
		if (k > h->p.retries)
			return 0;
		d = ho_deadline(h, &h->e[i], k);
		if (d < next)
			next = d;
	}
	return next;
}

/* The entry with the smallest creation time among the list heads (lists are sorted by it). */
static uint32_t ho_oldest(const struct halfopen *h, const uint32_t cur[NLISTS], unsigned *list)
{
	uint32_t best = NIL;

	for (unsigned k = 0; k < NLISTS; k++) {
		if (cur[k] == NIL)
			continue;
		if (best == NIL || h->e[cur[k]].created_ms < h->e[best].created_ms) {
			best = cur[k];
			*list = k;
		}
	}
	return best;
}

/* Moves every entry of `old` into the empty table `nh`, oldest first, dropping the oldest
 * ones that do not fit; each keeps its creation time and retransmit count. */
static size_t ho_migrate(struct halfopen *nh, const struct halfopen *old)
{
	uint32_t cur[NLISTS];
	size_t drop = old->count > nh->p.capacity ? old->count - nh->p.capacity : 0;
	size_t dropped = 0;
	uint32_t i;
	unsigned k = 0;

	for (unsigned j = 0; j < NLISTS; j++)
		cur[j] = old->list[j].head;
	while ((i = ho_oldest(old, cur, &k)) != NIL) {
		const struct ho_entry *e = &old->e[i];
		struct halfopen_entry x;
		uint8_t v6 = e->flags & F_V6;
		uint32_t hash;

		cur[k] = e->next;
		if (dropped < drop) {
			dropped++;
			continue;
		}
		ho_to_entry(e, &x);
		if (nh->src != NULL) /* already admitted: never refused by a lowered cap */
			srccount_acquire(nh->src, x.syn.t.family, x.syn.t.saddr, 0);
		hash = ho_hash(nh, &e->k, v6);
		ho_place(nh, ho_lookup(nh, &e->k, v6, hash), hash, &e->k, v6, &x.syn, e->created_ms,
		         e->stage);
	}
	return dropped;
}

int halfopen_reconfigure(struct halfopen *h, const struct halfopen_params *p, size_t *dropped)
{
	struct halfopen nh;

	if (dropped != NULL)
		*dropped = 0;
	if (!ho_params_ok(p)) {
		errno = EINVAL;
		return -1;
	}
	if (p->capacity == h->p.capacity && (p->per_source != 0) == (h->src != NULL) &&
	    (p->per_source == 0 ||
	     (p->prefix_v4 == h->p.prefix_v4 && p->prefix_v6 == h->p.prefix_v6))) {
		/* lists stay sorted: a deadline is creation time plus a function of the list */
		h->p = *p;
		return 0;
	}
	if (ho_alloc(&nh, p, h->seed_bytes, h->last_ms) < 0)
		return -1;
	if (dropped != NULL)
		*dropped = ho_migrate(&nh, h);
	else
		ho_migrate(&nh, h);
	ho_release(h);
	*h = nh;
	return 0;
}

size_t halfopen_count(const struct halfopen *h)
{
	return h->count;
}

size_t halfopen_capacity(const struct halfopen *h)
{
	return h->p.capacity;
}

double halfopen_occupancy(const struct halfopen *h)
{
	return (double)h->count / (double)h->p.capacity;
}
