/* SPDX-License-Identifier: MIT */
/*
 * Drift: the KDB against the store, key by key, both ways.  One walk
 * (repl_drift_walk, on the worker) serves three users:
 *   `kdcsync verify`   lists every differing key (control request)
 *   `kdcsync repair`   a replica writes the store's values over the keys
 *                      where its KDB drifted (kadmin.local on the replica,
 *                      a restored backup ...) through the normal apply
 *                      path (room check, bridge_apply); first, when its
 *                      primary is connected, refetch.c puts the primary's
 *                      values over the records where the store itself
 *                      differs from the primary's
 *   the drift check    every [node] drift_check_interval on a replica, the
 *                      count and the first keys go to status (text, JSON
 *                      "drift", Prometheus kdcsync_drift_records); skipped
 *                      while neither the KDB files nor the applied position
 *                      changed since a check that found none.
 * Lockout fields are never drift: without replicate_lockout the bridge
 * encodes them as zero; with it, a KDC's newer lockout state is on its way
 * upstream (lockout_only()).  The walk holds the KDB's shared lock for the
 * iteration, as `kdb5_util dump` does.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/time.h"
#include "node/repl/repl_int.h"

#define DRIFT_LIST_MAX	 10000u /* keys listed by verify and repair */
#define DRIFT_STATUS_MAX 20u	/* keys kept for status */

/* Owned keys (u32 length + bytes, one after the other) with offsets. */
typedef struct keyset {
	ks_buf_t arena;
	uint64_t *off;
	size_t n, cap, pos;
} keyset_t;

static int keyset_add(keyset_t *k, ks_view_t key)
{
	uint32_t len = (uint32_t)key.len;
	int ret;

	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 1024;
		uint64_t *off = realloc(k->off, cap * sizeof(*off));
		if (off == NULL)
			return KS_ENOMEM;
		k->off = off;
		k->cap = cap;
	}
	k->off[k->n] = k->arena.len;
	ret = ks_buf_append(&k->arena, &len, 4);
	if (ret == KS_EOK)
		ret = ks_buf_append(&k->arena, key.ptr, key.len);
	if (ret == KS_EOK)
		k->n++;
	return ret;
}

static ks_view_t keyset_at(const ks_buf_t *arena, uint64_t off)
{
	uint32_t len;

	memcpy(&len, arena->data + off, 4);
	return (ks_view_t){ arena->data + off + 4, len };
}

static int view_cmp(ks_view_t a, ks_view_t b)
{
	int c = memcmp(a.ptr, b.ptr, a.len < b.len ? a.len : b.len);

	return c ? c : (a.len > b.len) - (a.len < b.len);
}

static const ks_buf_t *sort_arena; /* qsort has no context (one worker) */

static int off_cmp(const void *x, const void *y)
{
	return view_cmp(keyset_at(sort_arena, *(const uint64_t *)x),
			keyset_at(sort_arena, *(const uint64_t *)y));
}

static void keyset_free(keyset_t *k)
{
	ks_buf_free(&k->arena);
	free(k->off);
	*k = (keyset_t){ 0 };
}

int node_repl__key_line(ks_buf_t *out, const char *what, ks_view_t key)
{
	int ret = ks_buf_appendf(out, "  %-14s ", what);

	for (size_t i = 0; ret == KS_EOK && i < key.len; i++) {
		uint8_t c = key.ptr[i];
		ret = c >= 0x21 && c < 0x7f && c != '\\'
			      ? ks_buf_append(out, &c, 1)
			      : ks_buf_appendf(out, "\\x%02x", c);
	}
	return ret == KS_EOK ? ks_buf_appendf(out, "\n") : ret;
}

/* The walk's state and results. */
typedef struct drift {
	store_txn_t *t;
	unsigned list_max; /* keys listed in list */
	bool repair;	   /* collect the changes that undo the drift */
	bool lockout;	   /* replicate_lockout: see lockout_only() */
	uint64_t kdb, store, differ, kdb_only, store_only;
	ks_buf_t list;
	keyset_t seen;
	/* repair: PUT (value from the store) or DEL, owned copies */
	keyset_t fix_keys, fix_vals;
	uint8_t *fix_ops;
	size_t fix_cap;
} drift_t;

static uint64_t drift_count(const drift_t *d)
{
	return d->differ + d->kdb_only + d->store_only;
}

static int note(drift_t *d, const char *what, ks_view_t key, bool put,
		ks_view_t value)
{
	int ret = KS_EOK;

	if (drift_count(d) <= d->list_max)
		ret = node_repl__key_line(&d->list, what, key);
	if (ret != KS_EOK || !d->repair)
		return ret;
	if (d->fix_keys.n == d->fix_cap) {
		size_t cap = d->fix_cap ? 2 * d->fix_cap : 64;
		uint8_t *ops = realloc(d->fix_ops, cap);
		if (ops == NULL)
			return KS_ENOMEM;
		d->fix_ops = ops;
		d->fix_cap = cap;
	}
	d->fix_ops[d->fix_keys.n] = put ? STORE_PUT : STORE_DEL;
	ret = keyset_add(&d->fix_vals, put ? value : (ks_view_t){ NULL, 0 });
	return ret == KS_EOK ? keyset_add(&d->fix_keys, key) : ret;
}

/*
 * Do two principal records differ only in the lockout fields (dump fields
 * 13-15: last_success, last_failed, fail_auth_count)?  With
 * replicate_lockout that is this KDC's live state ahead of the store, on
 * its way through the primary (PROTOCOL.md §3.10; an apply never rolls it
 * back), not drift.
 */
static bool lockout_only(ks_view_t a, ks_view_t b)
{
	size_t i = 0, j = 0;
	unsigned field = 1;

	if (a.len < 6 || b.len < 6 || memcmp(a.ptr, "princ\t", 6) != 0 ||
	    memcmp(b.ptr, "princ\t", 6) != 0)
		return false;
	for (;;) {
		size_t ei = i, ej = j;
		while (ei < a.len && a.ptr[ei] != '\t')
			ei++;
		while (ej < b.len && b.ptr[ej] != '\t')
			ej++;
		bool skip = field >= 13 && field <= 15;
		if (!skip && (ei - i != ej - j ||
			      memcmp(a.ptr + i, b.ptr + j, ei - i) != 0))
			return false;
		if (ei == a.len || ej == b.len)
			return ei == a.len && ej == b.len;
		i = ei + 1;
		j = ej + 1;
		field++;
	}
}

static int kdb_cb(ks_view_t key, ks_view_t value, void *arg)
{
	drift_t *d = arg;
	ks_view_t sv;
	int ret = store_get(d->t, key, &sv);

	d->kdb++;
	if (ret == KS_EOK || ret == KS_ENOENT) {
		int r2 = keyset_add(&d->seen, key);
		if (r2 != KS_EOK)
			return r2;
	}
	if (ret == KS_ENOENT) {
		d->kdb_only++;
		return note(d, "only in KDB:", key, false, (ks_view_t){ 0 });
	}
	if (ret != KS_EOK)
		return ret;
	if ((sv.len != value.len || memcmp(sv.ptr, value.ptr, sv.len) != 0) &&
	    !(d->lockout && lockout_only(sv, value))) {
		d->differ++;
		return note(d, "differs:", key, true, sv);
	}
	return 0;
}

/* Store records in key order, merged with the sorted KDB keys. */
static int store_cb(ks_view_t key, ks_view_t value, void *arg)
{
	drift_t *d = arg;
	keyset_t *k = &d->seen;

	d->store++;
	while (k->pos < k->n) {
		int c = view_cmp(keyset_at(&k->arena, k->off[k->pos]), key);
		if (c == 0)
			return 0;
		if (c > 0)
			break;
		k->pos++;
	}
	d->store_only++;
	return note(d, "only in store:", key, true, value);
}

static void drift_free(drift_t *d)
{
	ks_buf_free(&d->list);
	keyset_free(&d->seen);
	keyset_free(&d->fix_keys);
	keyset_free(&d->fix_vals);
	free(d->fix_ops);
}

/* Worker: compare the KDB with the store (one store read transaction). */
static int drift_walk(node_repl_t *r, drift_t *d)
{
	int ret;

	if (!node_repl__kdb_usable(r))
		return KS_EKDBDAMAGED; /* status says why */
	d->lockout = r->replicate_lockout;
	ret = store_read_begin(r->store, &d->t);
	if (ret != KS_EOK)
		return ret;
	ret = bridge_foreach_record(r->bridge, kdb_cb, d);
	if (ret == KS_EOK) {
		sort_arena = &d->seen.arena;
		qsort(d->seen.off, d->seen.n, sizeof(*d->seen.off), off_cmp);
		sort_arena = NULL;
		ret = store_records_foreach(d->t, (ks_view_t){ 0 }, store_cb,
					    d);
	}
	store_read_end(d->t);
	d->t = NULL;
	return ret;
}

static int drift_summary(const drift_t *d, ks_buf_t *out, bool primary)
{
	int ret;

	if (drift_count(d) == 0)
		return ks_buf_appendf(out,
				      "ok: the KDB and the store hold the same "
				      "%" PRIu64 " records\n",
				      d->kdb);
	ret = ks_buf_appendf(
		out,
		"error: KDB %" PRIu64 " records, store %" PRIu64 ": %" PRIu64
		" differ, %" PRIu64 " only in the KDB, %" PRIu64
		" only in the store%s\n",
		d->kdb, d->store, d->differ, d->kdb_only, d->store_only,
		primary ? "; a primary's scan takes such changes"
			: "; 'kdcsync repair' rewrites them from the store");
	if (ret == KS_EOK)
		ret = ks_buf_append(out, d->list.data, d->list.len);
	if (ret == KS_EOK && drift_count(d) > d->list_max)
		ret = ks_buf_appendf(out, "  ... and %" PRIu64 " more\n",
				     drift_count(d) - d->list_max);
	return ret;
}

/* --- control requests: verify, repair --------------------------------- */

typedef struct drift_job {
	node_repl_job_t job;
	node_repl_t *r;
	node_ctl_wait_t *wait; /* loop only: set after the job is queued */
	bool ctl;	       /* a control request (false: the periodic
				  check); the worker reads this, never wait */
	bool repair, primary, skipped;
	uint64_t count, applied_seq, ms;
	ks_buf_t out;
} drift_job_t;

/* Repair: the store's values over the drifted keys, then look again. */
static int repair(node_repl_t *r, drift_t *d, ks_buf_t *out)
{
	size_t n = d->fix_keys.n;
	store_change_t *ch = calloc(n ? n : 1, sizeof(*ch));
	uint64_t avail, need;
	int ret;

	if (ch == NULL)
		return KS_ENOMEM;
	for (size_t i = 0; i < n; i++)
		ch[i] = (store_change_t){
			.op = d->fix_ops[i],
			.key = keyset_at(&d->fix_keys.arena,
					 d->fix_keys.off[i]),
			.value = keyset_at(&d->fix_vals.arena,
					   d->fix_vals.off[i]),
		};
	ret = bridge_kdb_room(r->bridge, ch, n, &avail, &need);
	if (ret == KS_EOK)
		ret = bridge_apply(r->bridge, ch, n);
	free(ch);
	if (ret != KS_EOK)
		return ret;
	ks_log_notice(KDB,
		      "repair: %zu drifted records rewritten from the store "
		      "(%" PRIu64 " differed, %" PRIu64
		      " only in the KDB, %" PRIu64 " only in the store)",
		      n, d->differ, d->kdb_only, d->store_only);
	ret = ks_buf_appendf(out,
			     "repaired %zu records (the store's values written "
			     "to the KDB):\n",
			     n);
	if (ret == KS_EOK)
		ret = ks_buf_append(out, d->list.data, d->list.len);
	drift_free(d);
	*d = (drift_t){ .list_max = DRIFT_LIST_MAX };
	if (ret == KS_EOK)
		ret = drift_walk(r, d);
	if (ret == KS_EOK && drift_count(d) > 0) {
		/* the reply starts with "error:" (exit 1): drift remains */
		ks_buf_t head = KS_BUF_INIT;
		ret = ks_buf_appendf(&head, "error: drift remains after the "
					    "repair\n");
		if (ret == KS_EOK)
			ret = ks_buf_append(&head, out->data, out->len);
		ks_buf_free(out);
		*out = head;
	}
	if (ret == KS_EOK)
		ret = ks_buf_appendf(out, "after the repair: ");
	if (ret == KS_EOK)
		ret = drift_summary(d, out, false);
	return ret;
}

static int drift_run(node_repl_job_t *job)
{
	drift_job_t *j = (drift_job_t *)job;
	node_repl_t *r = j->r;
	drift_t d = { .list_max = j->ctl ? DRIFT_LIST_MAX : DRIFT_STATUS_MAX,
		      .repair = j->repair };
	bridge_kdb_stamp_t stamp;
	store_meta_t m;
	uint64_t t0 = ks_mono_ns();
	bool have_stamp;
	int ret = node_repl__meta(r->store, &m);

	if (ret != KS_EOK)
		return ret;
	j->applied_seq = m.applied_seq;
	have_stamp = r->bridge != NULL &&
		     bridge_kdb_stamp(r->bridge, &stamp) == KS_EOK;
	/* the periodic check: nothing changed since a clean one */
	if (!j->ctl && have_stamp && r->drift_clean &&
	    r->drift_seq == m.applied_seq &&
	    bridge_kdb_stamp_eq(&stamp, &r->drift_stamp)) {
		j->skipped = true;
		return KS_EOK;
	}
	ret = drift_walk(r, &d);
	if (ret == KS_EOK && j->repair && drift_count(&d) > 0)
		ret = repair(r, &d, &j->out);
	else if (ret == KS_EOK)
		ret = drift_summary(&d, &j->out, j->primary);
	if (ret == KS_EOK) {
		j->count = drift_count(&d);
		/* a clean result; the stamp after our own reads */
		r->drift_clean =
			j->count == 0 && have_stamp &&
			bridge_kdb_stamp(r->bridge, &r->drift_stamp) == KS_EOK;
		r->drift_seq = m.applied_seq;
	}
	drift_free(&d);
	j->ms = (ks_mono_ns() - t0) / 1000000u;
	return ret;
}

static void drift_done(node_repl_job_t *job, int ret)
{
	drift_job_t *j = (drift_job_t *)job;
	node_repl_t *r = j->r;

	if (j->ctl) {
		node_ctl_answer(j->wait, ret, ks_buf_view(&j->out));
	} else {
		r->drift_pending = false;
		if (ret == KS_EOK && !j->skipped) {
			r->drift.checks++;
			r->drift.records = j->count;
			r->drift.checked_us = ks_real_us();
			r->drift.seq = j->applied_seq;
			ks_buf_reset(&r->drift_keys);
			/* the key lines, without the summary line */
			const char *nl = memchr(j->out.data, '\n', j->out.len);
			if (j->count > 0 && nl != NULL)
				(void)ks_buf_append(
					&r->drift_keys, nl + 1,
					j->out.len -
						(size_t)(nl + 1 -
							 (const char *)
								 j->out.data));
			if (j->count > 0)
				ks_log_warn(KDB,
					    "drift check: %" PRIu64
					    " records differ between the KDB "
					    "and the store ('kdcsync verify' "
					    "lists them, 'kdcsync repair' "
					    "fixes them)",
					    j->count);
			else
				ks_log_info(KDB,
					    "drift check: none (%" PRIu64
					    " ms)",
					    j->ms);
		} else if (ret != KS_EOK && ret != KS_ECANCELED) {
			ks_log_warn(KDB, "drift check failed (%s)",
				    ks_strerror(ret));
		}
	}
	ks_buf_free(&j->out);
	free(j);
}

/* \p w: a request deferred already (else a control request defers here);
 * \p prefix goes before the report. */
static int drift_job(node_repl_t *r, bool repair_it, bool ctl,
		     node_ctl_wait_t *w, ks_view_t prefix)
{
	drift_job_t *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return KS_ENOMEM;
	*j = (drift_job_t){ .job = { .run = drift_run, .done = drift_done },
			    .r = r,
			    .ctl = ctl,
			    .repair = repair_it,
			    .primary = r->role == REPL_ROLE_PRIMARY,
			    .out = KS_BUF_INIT };
	if (prefix.len > 0 &&
	    ks_buf_append(&j->out, prefix.ptr, prefix.len) != KS_EOK) {
		free(j);
		return KS_ENOMEM;
	}
	if (!node_repl__job(r, &j->job)) {
		ks_buf_free(&j->out);
		free(j);
		return KS_ECANCELED;
	}
	if (ctl)
		j->wait = w != NULL ? w : node_ctl_defer(); /* drift_done */
	return KS_EOK;
}

void node_repl__repair_local(node_repl_t *r, node_ctl_wait_t *w,
			     ks_view_t prefix)
{
	int ret = r->bridge == NULL ? KS_ENOTAVAIL
				    : drift_job(r, true, true, w, prefix);

	if (ret != KS_EOK)
		node_ctl_answer(w, ret, (ks_view_t){ 0 });
}

int node_repl__verify(node_repl_t *r)
{
	if (r->bridge == NULL)
		return KS_ENOTAVAIL;
	return drift_job(r, false, true, NULL, (ks_view_t){ 0 });
}

int node_repl__repair(node_repl_t *r, ks_buf_t *out)
{
	if (r->bridge == NULL)
		return KS_ENOTAVAIL;
	if (r->role != REPL_ROLE_REPLICA)
		return ks_buf_appendf(out,
				      "error: repair is for a replica; a "
				      "primary's KDB is the source (its scan "
				      "takes KDB changes into the store)\n");
	/* the store against the primary's first, when it can answer */
	if (node_repl__refetch_start(r) == KS_EOK)
		return KS_EOK;
	return drift_job(r, true, true, NULL, (ks_view_t){ 0 });
}

void node_repl__drift_tick(node_repl_t *r, uint64_t now)
{
	if (r->role != REPL_ROLE_REPLICA || r->drift_interval_ms == 0 ||
	    r->drift_pending || r->kdb_error[0] != '\0' || r->kdb_check_pending)
		return;
	if (r->drift_next_ms == 0)
		r->drift_next_ms = now + r->drift_interval_ms;
	if (now < r->drift_next_ms)
		return;
	r->drift_next_ms = now + r->drift_interval_ms;
	if (drift_job(r, false, false, NULL, (ks_view_t){ 0 }) == KS_EOK)
		r->drift_pending = true;
}

void node_repl__drift_status(node_repl_t *r, node_status_repl_t *out)
{
	if (r->role != REPL_ROLE_REPLICA)
		return;
	out->drift = r->drift;
	out->drift_interval_ms = r->drift_interval_ms;
	snprintf(out->drift_keys, sizeof(out->drift_keys), "%.*s",
		 (int)(r->drift_keys.len < sizeof(out->drift_keys)
			       ? r->drift_keys.len
			       : sizeof(out->drift_keys) - 1),
		 r->drift_keys.len ? (const char *)r->drift_keys.data : "");
}
