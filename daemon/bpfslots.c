/*
 * Counter slots of a kernel program: see bpfslots.h.
 */
#include "bpfslots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

struct bpfslot {
	char name[CONF_NAME_MAX]; /* "": free */
	uint64_t *base;           /* n_counters: the counters when the slot was taken */
};

struct bpfslots {
	int fd;
	size_t n_slots, n_counters;
	int ncpus;
	uint64_t *percpu;
	uint64_t *bases;
	struct bpfslot *slots;
};

struct bpfslots *bpfslots_new(int counters_fd, size_t n_slots, size_t n_counters)
{
	struct bpfslots *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->fd = counters_fd;
	s->n_slots = n_slots;
	s->n_counters = n_counters;
	s->ncpus = libbpf_num_possible_cpus();
	if (s->ncpus <= 0 || !(s->percpu = calloc((size_t)s->ncpus, sizeof(uint64_t))) ||
	    !(s->bases = calloc(n_slots * n_counters, sizeof(uint64_t))) ||
	    !(s->slots = calloc(n_slots, sizeof(*s->slots)))) {
		bpfslots_free(s);
		return NULL;
	}
	for (size_t i = 0; i < n_slots; i++)
		s->slots[i].base = s->bases + i * n_counters;
	return s;
}

void bpfslots_free(struct bpfslots *s)
{
	if (!s)
		return;
	free(s->percpu);
	free(s->bases);
	free(s->slots);
	free(s);
}

int bpfmap_percpu_sum(int fd, uint32_t key, int ncpus, uint64_t *percpu, uint64_t *out)
{
	*out = 0;
	if (bpf_map_lookup_elem(fd, &key, percpu) < 0)
		return -1;
	for (int c = 0; c < ncpus; c++)
		*out += percpu[c];
	return 0;
}

uint64_t bpfslots_raw(struct bpfslots *s, uint32_t slot, uint32_t id)
{
	uint64_t sum; /* 0 when the lookup fails */

	(void)bpfmap_percpu_sum(s->fd, slot * (uint32_t)s->n_counters + id, s->ncpus, s->percpu,
	                        &sum);
	return sum;
}

uint64_t bpfslots_read(struct bpfslots *s, uint32_t slot, uint32_t id)
{
	uint64_t base = slot < s->n_slots ? s->slots[slot].base[id] : 0;

	return bpfslots_raw(s, slot, id) - base;
}

int bpfslots_of(const struct bpfslots *s, const char *name)
{
	for (size_t i = 0; i < s->n_slots; i++)
		if (strcmp(s->slots[i].name, name) == 0)
			return (int)i;
	return -1;
}

int bpfslots_get(struct bpfslots *s, const char *name)
{
	int i = bpfslots_of(s, name);

	if (i >= 0)
		return i;
	for (size_t k = 0; k < s->n_slots; k++) {
		struct bpfslot *sl = &s->slots[k];

		if (sl->name[0])
			continue;
		snprintf(sl->name, sizeof(sl->name), "%s", name);
		for (uint32_t id = 0; id < s->n_counters; id++)
			sl->base[id] = bpfslots_raw(s, (uint32_t)k, id);
		return (int)k;
	}
	return -1;
}

void bpfslots_keep(struct bpfslots *s, const struct conf *c,
                   bool (*keep)(const struct conf_listener *l))
{
	for (size_t k = 0; k < s->n_slots; k++) {
		bool named = false;

		for (size_t i = 0; s->slots[k].name[0] && i < c->n_listeners && !named; i++)
			named = keep(&c->listeners[i]) &&
			        strcmp(c->listeners[i].name, s->slots[k].name) == 0;
		if (!named)
			s->slots[k].name[0] = '\0';
	}
}

void bpfmap_prune(int fd, size_t ksz, bool (*drop)(const void *k, const void *arg), const void *arg)
{
	uint8_t k[64];
	uint8_t *doomed = NULL;
	size_t n = 0, cap = 0;

	if (ksz > sizeof(k))
		return;
	for (int rc = bpf_map_get_next_key(fd, NULL, k); rc == 0;
	     rc = bpf_map_get_next_key(fd, k, k)) {
		if (!drop(k, arg))
			continue;
		if (n == cap) {
			uint8_t *d = realloc(doomed, (cap = cap ? 2 * cap : 64) * ksz);

			if (!d)
				break;
			doomed = d;
		}
		memcpy(doomed + n++ * ksz, k, ksz);
	}
	for (size_t i = 0; i < n; i++)
		(void)bpf_map_delete_elem(fd, doomed + i * ksz);
	free(doomed);
}
