/*
 * How the control socket writes counters: the `stats` command's table and
 * JSON (every counter per listener, the total, the unmatched row, per queue,
 * and the kernel fast path's own rows), and JSON strings. Pure formatting
 * into a stream; control.c sums the blocks.
 */
#include "ctlfmt.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "control.h"

/* Gauges are sums of increments and decrements from different rows: print them signed. */
static void print_value(FILE *out, size_t id, uint64_t v)
{
	if (stats_kinds[id] == STATS_GAUGE)
		fprintf(out, "%" PRId64, (int64_t)v);
	else
		fprintf(out, "%" PRIu64, v);
}

void ctlfmt_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void json_row(FILE *out, const struct stats_row *r)
{
	fputc('{', out);
	for (size_t i = 0; i < ST_MAX; i++) {
		if (i)
			fputc(',', out);
		ctlfmt_json_string(out, stats_names[i]);
		fputc(':', out);
		print_value(out, i, r->v[i]);
	}
	fputc('}', out);
}

/* The fast path's counters of the local listeners: {"name":{"ack_valid":N,...},...}. */
static void tc_json(FILE *out, const struct conf *conf, const struct stats_block *tc)
{
	bool first = true;

	fputs(",\"tc\":{", out);
	for (size_t l = 0; l < conf->n_listeners; l++) {
		bool f2 = true;

		if (conf->listeners[l].handoff != CONF_HANDOFF_LOCAL)
			continue;
		fputs(first ? "" : ",", out);
		first = false;
		ctlfmt_json_string(out, conf->listeners[l].name);
		fputs(":{", out);
		for (size_t i = 0; i < ST_MAX; i++) {
			if (!control_tc_counter(i))
				continue;
			fputs(f2 ? "" : ",", out);
			f2 = false;
			ctlfmt_json_string(out, stats_names[i]);
			fputc(':', out);
			print_value(out, i, tc->rows[l].v[i]);
		}
		fputc('}', out);
	}
	fputc('}', out);
}

/* One row of the XDP program's counters: {"syn_answered":N,...}. */
static void kc_json_row(FILE *out, const struct control_kcounters *k, size_t r)
{
	fputc('{', out);
	for (size_t i = 0; i < k->n_ids; i++) {
		fputs(i ? "," : "", out);
		ctlfmt_json_string(out, k->names[i]);
		fprintf(out, ":%" PRIu64, k->v[r * k->n_ids + i]);
	}
	fputc('}', out);
}

static void xdp_json(FILE *out, const struct conf *conf, const struct control_kcounters *xdp)
{
	fputs(",\"xdp\":{\"listeners\":{", out);
	for (size_t l = 0; l < conf->n_listeners; l++) {
		fputs(l ? "," : "", out);
		ctlfmt_json_string(out, conf->listeners[l].name);
		fputc(':', out);
		kc_json_row(out, xdp, l);
	}
	fputs("},\"unmatched\":", out);
	kc_json_row(out, xdp, conf->n_listeners);
	fputc('}', out);
}

void ctlfmt_stats_json(FILE *out, const struct conf *conf, const struct stats_row *rows,
                       const struct stats_row *total, const uint16_t *queue_nums,
                       const struct stats_row *per_queue, size_t n_queues,
                       const struct stats_block *tc, const struct control_kcounters *xdp)
{
	fputs("{\"total\":", out);
	json_row(out, total);
	fputs(",\"listeners\":{", out);
	for (size_t l = 0; l < conf->n_listeners; l++) {
		if (l)
			fputc(',', out);
		ctlfmt_json_string(out, conf->listeners[l].name);
		fputc(':', out);
		json_row(out, &rows[l]);
	}
	fputs("},\"unmatched\":", out);
	json_row(out, &rows[conf->n_listeners]);
	fputs(",\"queues\":{", out);
	for (size_t q = 0; q < n_queues; q++) {
		if (q)
			fputc(',', out);
		fprintf(out, "\"%u\":", queue_nums[q]);
		json_row(out, &per_queue[q]);
	}
	fputc('}', out);
	if (tc)
		tc_json(out, conf, tc);
	if (xdp)
		xdp_json(out, conf, xdp);
	fputs("}\n", out);
}

/* Table columns: total, one per listener, unmatched. */
static const char *col_title(const struct conf *conf, size_t col)
{
	if (col == 0)
		return "total";
	if (col == conf->n_listeners + 1)
		return "unmatched";
	return conf->listeners[col - 1].name;
}

static int col_width(const char *title)
{
	return strlen(title) > 14 ? (int)strlen(title) : 14;
}

/* The fast path's share of the table above, one column per local listener. */
static void tc_table(FILE *out, const struct conf *conf, const struct stats_block *tc, int name_w)
{
	fprintf(out, "\nkernel fast path (handoff \"local\", counted above too):\n%-*s", name_w,
	        "counter");
	for (size_t l = 0; l < conf->n_listeners; l++)
		if (conf->listeners[l].handoff == CONF_HANDOFF_LOCAL)
			fprintf(out, "  %*s", col_width(conf->listeners[l].name),
			        conf->listeners[l].name);
	fputc('\n', out);
	for (size_t i = 0; i < ST_MAX; i++) {
		if (!control_tc_counter(i))
			continue;
		fprintf(out, "tc.%-*s", name_w - 3, stats_names[i]);
		for (size_t l = 0; l < conf->n_listeners; l++)
			if (conf->listeners[l].handoff == CONF_HANDOFF_LOCAL)
				fprintf(out, "  %*" PRIu64, col_width(conf->listeners[l].name),
				        tc->rows[l].v[i]);
		fputc('\n', out);
	}
}

/* The XDP program's counters, one column per listener and the unmatched one. */
static void xdp_table(FILE *out, const struct conf *conf, const struct control_kcounters *xdp,
                      int name_w)
{
	fprintf(out,
	        "\nXDP (datapath \"xdp\"; syn_answered counts in syn_received and synack_sent "
	        "above, ack_invalid and ack_expired there too):\n%-*s",
	        name_w, "counter");
	for (size_t col = 1; col <= conf->n_listeners + 1; col++)
		fprintf(out, "  %*s", col_width(col_title(conf, col)), col_title(conf, col));
	fputc('\n', out);
	for (size_t i = 0; i < xdp->n_ids; i++) {
		fprintf(out, "xdp.%-*s", name_w - 4, xdp->names[i]);
		for (size_t r = 0; r <= conf->n_listeners; r++)
			fprintf(out, "  %*" PRIu64, col_width(col_title(conf, r + 1)),
			        xdp->v[r * xdp->n_ids + i]);
		fputc('\n', out);
	}
}

void ctlfmt_stats_table(FILE *out, const struct conf *conf, const struct stats_row *rows,
                        const struct stats_row *total, const struct stats_block *tc,
                        const struct control_kcounters *xdp)
{
	size_t n_cols = conf->n_listeners + 2;
	int name_w = (int)strlen("counter");

	for (size_t i = 0; i < ST_MAX; i++)
		if ((int)strlen(stats_names[i]) > name_w)
			name_w = (int)strlen(stats_names[i]);

	fprintf(out, "%-*s", name_w, "counter");
	for (size_t col = 0; col < n_cols; col++)
		fprintf(out, "  %*s", col_width(col_title(conf, col)), col_title(conf, col));
	fputc('\n', out);

	for (size_t i = 0; i < ST_MAX; i++) {
		fprintf(out, "%-*s", name_w, stats_names[i]);
		for (size_t col = 0; col < n_cols; col++) {
			const struct stats_row *r = col == 0 ? total : &rows[col - 1];
			char num[24];

			if (stats_kinds[i] == STATS_GAUGE)
				snprintf(num, sizeof(num), "%" PRId64, (int64_t)r->v[i]);
			else
				snprintf(num, sizeof(num), "%" PRIu64, r->v[i]);
			fprintf(out, "  %*s", col_width(col_title(conf, col)), num);
		}
		fputc('\n', out);
	}
	if (tc)
		tc_table(out, conf, tc, name_w);
	if (xdp)
		xdp_table(out, conf, xdp, name_w);
}
