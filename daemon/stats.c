#include "stats.h"

#include <stdlib.h>

const char *const stats_names[ST_MAX] = {
#define STATS_NAME(id, name, kind) name,
    STATS_LIST(STATS_NAME)
#undef STATS_NAME
};

const enum stats_kind stats_kinds[ST_MAX] = {
#define STATS_KIND(id, name, kind) STATS_##kind,
    STATS_LIST(STATS_KIND)
#undef STATS_KIND
};

int stats_block_init(struct stats_block *b, size_t n_listeners)
{
	b->n_rows = n_listeners + 1;
	b->rows = calloc(b->n_rows, sizeof(*b->rows));
	return b->rows ? 0 : -1;
}

void stats_block_free(struct stats_block *b)
{
	free(b->rows);
	b->rows = NULL;
	b->n_rows = 0;
}

void stats_block_sum(struct stats_row *dst, const struct stats_block *src)
{
	for (size_t r = 0; r < src->n_rows; r++)
		for (size_t i = 0; i < ST_MAX; i++)
			dst[r].v[i] += __atomic_load_n(&src->rows[r].v[i], __ATOMIC_RELAXED);
}

void stats_row_add(struct stats_row *dst, const struct stats_row *src)
{
	for (size_t i = 0; i < ST_MAX; i++)
		stats_add(dst, (enum stats_id)i, __atomic_load_n(&src->v[i], __ATOMIC_RELAXED));
}

size_t stats_sum_blocks(const struct stats_block *const *blocks, size_t n_blocks, size_t n_queues,
                        struct stats_row *rows, size_t n_rows, struct stats_row *per_queue)
{
	size_t skipped = 0;

	for (size_t b = 0; b < n_blocks; b++) {
		const struct stats_block *blk = blocks[b];

		if (!blk)
			continue;
		if (blk->n_rows != n_rows) {
			skipped++;
			continue;
		}
		stats_block_sum(rows, blk);
		if (!per_queue || b >= n_queues)
			continue;
		for (size_t r = 0; r < blk->n_rows; r++)
			for (size_t i = 0; i < ST_MAX; i++)
				per_queue[b].v[i] +=
				    __atomic_load_n(&blk->rows[r].v[i], __ATOMIC_RELAXED);
	}
	return skipped;
}
