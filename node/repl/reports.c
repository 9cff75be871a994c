/* SPDX-License-Identifier: MIT */
/*
 * Capture reports in, a capture plan out (node/repl/reports.h): pure code,
 * no I/O.
 */
#include "node/repl/reports.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

void repl_reports_init(repl_reports_t *rs)
{
	*rs = (repl_reports_t){ .arena = KS_BUF_INIT };
}

void repl_reports_deinit(repl_reports_t *rs)
{
	ks_buf_free(&rs->arena);
	free(rs->off);
	free(rs->type);
	free(rs->plan);
	*rs = (repl_reports_t){ .arena = KS_BUF_INIT };
}

static void want_scan(repl_reports_t *rs, const char *why)
{
	if (!rs->scan)
		rs->scan_why = why;
	rs->scan = true;
}

static int add_ref(repl_reports_t *rs, uint8_t type, const char *name,
		   size_t len)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? 2 * rs->cap : 64;
		size_t *off = realloc(rs->off, cap * sizeof(*off));
		if (off == NULL)
			return KS_ENOMEM;
		rs->off = off;
		uint8_t *t = realloc(rs->type, cap * sizeof(*t));
		if (t == NULL)
			return KS_ENOMEM;
		rs->type = t;
		rs->cap = cap;
	}
	size_t at = rs->arena.len;
	int ret = ks_buf_append(&rs->arena, name, len);
	if (ret == KS_EOK)
		ret = ks_buf_append_u8(&rs->arena, 0);
	if (ret != KS_EOK) {
		rs->arena.len = at;
		return ret;
	}
	rs->off[rs->n] = at;
	rs->type[rs->n] = type;
	rs->n++;
	return KS_EOK;
}

int repl_reports_add(repl_reports_t *rs, const uint8_t *msg, size_t len,
		     bool replicate_lockout, repl_report_stats_t *st)
{
	ks_report_t r;

	if (ks_report_decode(msg, len, &r) != KS_EOK) {
		st->malformed++;
		return KS_EOK;
	}
	st->messages++;
	st->by_kind[r.kind]++;
	if (r.dropped > 0) {
		st->dropped += r.dropped;
		want_scan(rs, "report:dropped");
	}
	switch (r.kind) {
	case KS_REPORT_LOCKOUT:
		if (!replicate_lockout) {
			st->lockout_ignored++;
			return KS_EOK;
		}
		/* fall through */
	case KS_REPORT_PRINC_PUT:
	case KS_REPORT_PRINC_DEL:
	case KS_REPORT_MKEY:
		return add_ref(rs, STORE_KEY_PRINCIPAL, r.name, r.name_len);
	case KS_REPORT_POLICY_PUT:
	case KS_REPORT_POLICY_DEL:
		return add_ref(rs, STORE_KEY_POLICY, r.name, r.name_len);
	case KS_REPORT_LOAD:
		want_scan(rs, "report:load");
		return KS_EOK;
	case KS_REPORT_LOST:
		want_scan(rs, "report:lost");
		return KS_EOK;
	default:
		return KS_EOK; /* the decoder admits no other kind */
	}
}

static int ref_cmp(const void *x, const void *y)
{
	const bridge_ref_t *a = x, *b = y;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	return strcmp(a->name, b->name);
}

int repl_reports_plan(repl_reports_t *rs, const bridge_ref_t **refs, size_t *n)
{
	*refs = NULL;
	*n = 0;
	if (rs->scan || rs->n == 0)
		return KS_EOK;
	bridge_ref_t *v = realloc(rs->plan, rs->n * sizeof(*v));
	if (v == NULL)
		return KS_ENOMEM;
	rs->plan = v;
	for (size_t i = 0; i < rs->n; i++)
		v[i] = (bridge_ref_t){ .type = rs->type[i],
				       .name = (const char *)rs->arena.data +
					       rs->off[i] };
	qsort(v, rs->n, sizeof(*v), ref_cmp);
	size_t k = 0;
	for (size_t i = 0; i < rs->n; i++)
		if (k == 0 || ref_cmp(&v[k - 1], &v[i]) != 0)
			v[k++] = v[i];
	*refs = v;
	*n = k;
	return KS_EOK;
}
