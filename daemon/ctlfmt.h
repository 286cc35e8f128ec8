/*
 * The control socket's formats for counters (ctlfmt.c): the `stats` table and
 * JSON, and JSON strings.
 */
#ifndef SYNGUARD_CTLFMT_H
#define SYNGUARD_CTLFMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "stats.h"

struct control_kcounters;

/* s as a JSON string, quotes included. */
void ctlfmt_json_string(FILE *out, const char *s);

/* The stats answer as JSON: total, listeners (rows, one per listener of conf, then the
 * unmatched row), queues (per_queue, named by queue_nums), and, when tc is not NULL, the
 * kernel fast path's rows of the local listeners, and when xdp is not NULL, the XDP
 * program's counters ("xdp": {"listeners": {name: {...}}, "unmatched": {...}}). */
void ctlfmt_stats_json(FILE *out, const struct conf *conf, const struct stats_row *rows,
                       const struct stats_row *total, const uint16_t *queue_nums,
                       const struct stats_row *per_queue, size_t n_queues,
                       const struct stats_block *tc, const struct control_kcounters *xdp);

/* The same as a table: a column for the total, each listener and the unmatched row; then
 * the tc.* and xdp.* rows. */
void ctlfmt_stats_table(FILE *out, const struct conf *conf, const struct stats_row *rows,
                        const struct stats_row *total, const struct stats_block *tc,
                        const struct control_kcounters *xdp);

#endif
