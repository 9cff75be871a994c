/* SPDX-License-Identifier: MIT */
/*
 * `kdcsync verify PEER`: compare this node's store with a connected peer's
 * over the replication link (PROTOCOL.md §3.8), and, when the peer answers
 * KDB_DIGEST_REQ (§3.11), what the two KDBs hold too.  Digests of bucket
 * ranges are bisected down to single buckets, then the (key, hash)
 * listings of a differing bucket are merged: two (the stores) or four
 * (both stores, both KDBs: compare_merge.c).  Every range is compared
 * before the first bucket is listed, and the buckets are listed in
 * ascending order, so that each side reads its KDB for many listings at
 * once (kdbindex.c: our KDB's digests are read on the worker once the
 * first KDB request is sent, while the peer reads its own for it; the
 * listings as they are needed).  Either side answers; the requester keeps
 * one comparison (r->compare) with one request in flight.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/wire.h"
#include "node/repl/repl_int.h"

_Static_assert(PROTO_DIGEST_BUCKETS == STORE_BUCKETS,
	       "the wire's bucket space is the store's");

#define COMPARE_PARTS 16u

static void compare_fail(repl_compare_t *v, int err, const char *text)
{
	v->running = false;
	v->done = true;
	v->err = err;
	snprintf(v->errtext, sizeof(v->errtext), "%s", text);
	if (v->collect)
		node_repl__refetch_compared(v->r, NULL, err);
}

static int compare_push(repl_compare_t *v, uint8_t kind, uint16_t lo,
			uint16_t hi)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 64;
		repl_compare_item_t *s = realloc(v->stack, cap * sizeof(*s));
		if (s == NULL)
			return KS_ENOMEM;
		v->stack = s;
		v->cap = cap;
	}
	v->stack[v->n++] =
		(repl_compare_item_t){ .kind = kind, .lo = lo, .hi = hi };
	return KS_EOK;
}

/* Our position as a HELLO would announce it. */
static void own_position(node_repl_t *r, const store_meta_t *m,
			 uint8_t history[16], uint64_t *seq)
{
	if (r->role == REPL_ROLE_PRIMARY) {
		memcpy(history, m->history, 16);
		*seq = m->last_seq;
	} else {
		memcpy(history, m->applied_history, 16);
		*seq = m->applied_seq;
	}
}

static int bucket_desc(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;

	return (x < y) - (x > y);
}

/* Send the next request, or finish when nothing is left: the ranges
 * first, then the single buckets in ascending order. */
static int compare_next(node_repl_link_t *l)
{
	repl_compare_t *v = &l->r->compare;
	proto_msg_t m = { .type = PROTO_MSG_DIGEST_REQ };

	if (v->n == 0 && v->n_lists > 0) {
		if (!v->lists_sorted)
			qsort(v->lists_todo, v->n_lists,
			      sizeof(v->lists_todo[0]), bucket_desc);
		v->lists_sorted = true;
		uint16_t b = v->lists_todo[--v->n_lists];
		v->stack[v->n++] =
			(repl_compare_item_t){ .kind = PROTO_DIGEST_LIST,
					       .lo = b,
					       .hi = (uint16_t)(b + 1) };
	}
	if (v->n == 0) {
		v->running = false;
		v->done = true;
		v->err = KS_EOK;
		ks_log_notice(REPL,
			      "verify with '%s': %" PRIu64
			      " keys differ (%" PRIu64 " requests, %" PRIu64
			      " buckets listed, reads of this node's KDB: "
			      "%" PRIu64 ")",
			      v->peer, v->differ, v->requests, v->lists,
			      v->mine_kdb != NULL
				      ? node_repl__kdbindex_reads(v->mine_kdb)
				      : 0);
		if (v->collect)
			node_repl__refetch_compared(l->r, l, KS_EOK);
		return KS_EOK;
	}
	v->wait = v->stack[--v->n];
	v->wait_id = ++v->next_id;
	v->phase = 0;
	m.u.digest_req = (proto_digest_req_t){
		.id = v->wait_id,
		.kind = v->wait.kind,
		.lo = v->wait.lo,
		.hi = v->wait.hi,
	};
	if (v->wait.kind == PROTO_DIGEST_RANGES) {
		uint16_t w = (uint16_t)(v->wait.hi - v->wait.lo);
		m.u.digest_req.parts = w < COMPARE_PARTS ? w : COMPARE_PARTS;
	}
	v->requests++;
	return node_repl__send_msg(l, &m);
}

/* Digests of [lo, hi) split in parts, as a RANGES body. */
static int ranges_body(store_txn_t *t, uint16_t lo, uint16_t hi, uint16_t parts,
		       ks_buf_t *b)
{
	for (uint16_t i = 0; i < parts; i++) {
		uint16_t a, z;
		uint8_t dg[32];
		uint64_t cnt = 0;
		proto_digest_part(lo, hi, parts, i, &a, &z);
		int ret = store_range_digest(t, a, z, dg, &cnt);
		if (ret == KS_EOK)
			ret = ks_buf_append(b, dg, sizeof(dg));
		if (ret == KS_EOK)
			ret = ks_buf_append_u64(b, cnt);
		if (ret != KS_EOK)
			return ret;
	}
	return KS_EOK;
}

/* A bucket listing (either side) or our ranges' digests: built on the
 * worker for LIST (a scan of the record set), on the loop for RANGES. */
typedef struct list_job {
	node_repl_job_t job;
	node_repl_link_t *l;
	node_repl_t *r;
	bool answer;		  /* true: answer a request; false: compare */
	proto_digest_req_t q;	  /* answer: the request */
	proto_digest_rsp_t a;	  /* compare: the peer's response (body is
				     theirs, copied) */
	ks_buf_t theirs;	  /* compare: their body */
	ks_buf_t their_kdb;	  /* compare with KDBs: their KDB's body */
	ks_buf_t mine_kdb;	  /* compare with KDBs: our KDB's listing */
	bool kdb;		  /* answer: from our KDB (kdbindex) */
	repl_kdbindex_t *x;	  /* compare with KDBs: v->mine_kdb, lent */
	repl_kdbindex_t *sx;	  /* compare: v->mine_store, lent */
	bool want[STORE_BUCKETS]; /* answer from the store: r->store_want */
	uint64_t gen;		  /* compare: of the comparison */
	ks_buf_t body;		  /* our listing */
	uint8_t history[16];	  /* answer: our position */
	uint64_t seq, count;
} list_job_t;

/* Our listing of buckets [lo, hi) and, for an answer, our position. */
static int list_run(node_repl_job_t *job)
{
	list_job_t *j = (list_job_t *)job;
	uint16_t lo = j->answer ? j->q.lo : j->a.lo;
	store_txn_t *t = NULL;
	store_meta_t meta;
	int ret = store_read_begin(j->r->store, &t);

	if (ret != KS_EOK)
		return ret;
	ret = store_meta_get(t, &meta);
	if (ret == KS_EOK && j->answer)
		own_position(j->r, &meta, j->history, &j->seq);
	store_read_end(t);
	/* a store listing: from our comparison's index, or for an answer
	 * from r->store_answer (one scan for many buckets either way) */
	if (ret == KS_EOK && !j->kdb) {
		uint32_t n = 0;
		ret = j->answer ? node_repl__kdbindex_store_answer(j->r, j->gen,
								   j->want, lo,
								   &j->body, &n)
				: node_repl__kdbindex_list(j->r, j->sx, lo,
							   &j->body, &n);
		j->count = n;
	}
	if (ret == KS_EOK && j->kdb) {
		uint32_t n = 0;
		ret = node_repl__kdbindex_answer(j->r, &j->q, &j->body, &n);
		j->count = n;
	}
	if (ret == KS_EOK && j->x != NULL) {
		uint32_t n = 0;
		ret = node_repl__kdbindex_list(j->r, j->x, lo, &j->mine_kdb,
					       &n);
	}
	return ret;
}

static int send_rsp(node_repl_link_t *l, uint8_t type,
		    const proto_digest_req_t *q, const uint8_t history[16],
		    uint64_t seq, uint32_t count, const ks_buf_t *body)
{
	proto_msg_t m = { .type = type };
	proto_digest_rsp_t *a = &m.u.digest_rsp;

	*a = (proto_digest_rsp_t){ .id = q->id,
				   .kind = q->kind,
				   .lo = q->lo,
				   .hi = q->hi,
				   .seq = seq,
				   .count = count,
				   .body = ks_buf_view(body) };
	memcpy(a->history, history, 16);
	return node_repl__send_msg(l, &m);
}

static int compare_listed(node_repl_link_t *l, list_job_t *j);
static int step_failed(repl_compare_t *v, int ret);

static void list_done(node_repl_job_t *job, int ret)
{
	list_job_t *j = (list_job_t *)job;
	node_repl_link_t *l = j->l;
	repl_compare_t *v = &j->r->compare;

	/* our KDB's index back to its comparison, if it still runs */
	if (j->x != NULL && v->running && v->gen == j->gen &&
	    v->mine_kdb == NULL) {
		v->mine_kdb = j->x;
		j->x = NULL;
	}
	node_repl__kdbindex_free(j->x);
	j->x = NULL;
	if (j->sx != NULL && v->running && v->gen == j->gen &&
	    v->mine_store == NULL) {
		v->mine_store = j->sx;
		j->sx = NULL;
	}
	node_repl__kdbindex_free(j->sx);
	j->sx = NULL;
	if (!j->answer && ret != KS_EOK && ret != KS_ECANCELED && !l->down &&
	    v->running && v->gen == j->gen) {
		/* our own listing failed: the comparison, not the link */
		ret = step_failed(v, ret);
	} else if (!l->down && ret != KS_ECANCELED) {
		if (j->answer && ret == KS_EOK)
			ret = send_rsp(l,
				       j->kdb ? PROTO_MSG_KDB_DIGEST_RSP
					      : PROTO_MSG_DIGEST_RSP,
				       &j->q, j->history, j->seq,
				       (uint32_t)j->count, &j->body);
		else if (!j->answer)
			ret = compare_listed(l, j);
		if (ret != KS_EOK) {
			ks_log_err(REPL,
				   "'%s': cannot answer a digest request (%s)",
				   l->peer->name, ks_strerror(ret));
			node_repl__fail(l, ret,
					"cannot answer a digest request");
		}
	}
	if (j->answer) { /* r->kdb_answer or r->store_answer */
		j->r->kdb_answer_ms = node_repl__now(j->r);
		j->r->kdb_answer_held = true;
	}
	ks_buf_free(&j->body);
	ks_buf_free(&j->theirs);
	ks_buf_free(&j->their_kdb);
	ks_buf_free(&j->mine_kdb);
	free(j);
	node_repl__link_job_end(l);
}

static list_job_t *list_job_new(node_repl_link_t *l, bool answer)
{
	list_job_t *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	*j = (list_job_t){ .job = { .run = list_run, .done = list_done },
			   .l = l,
			   .r = l->r,
			   .answer = answer,
			   .theirs = KS_BUF_INIT,
			   .their_kdb = KS_BUF_INIT,
			   .mine_kdb = KS_BUF_INIT,
			   .body = KS_BUF_INIT };
	return j;
}

int node_repl__digest_req(node_repl_link_t *l, const proto_digest_req_t *q)
{
	node_repl_t *r = l->r;
	ks_buf_t body = KS_BUF_INIT;
	store_txn_t *t = NULL;
	store_meta_t meta;
	uint8_t history[16];
	uint64_t seq;
	int ret;

	if (!l->hello_seen) {
		snprintf(l->peer->last_error, sizeof(l->peer->last_error),
			 "digest request before HELLO");
		return KS_ESTATE;
	}
	if (q->kind != PROTO_DIGEST_RANGES) {
		list_job_t *j = list_job_new(l, true);
		if (j == NULL)
			return KS_ENOMEM;
		j->q = *q;
		j->gen = r->store_want_gen;
		memcpy(j->want, r->store_want, sizeof(j->want));
		node_repl__link_job(l, &j->job);
		return KS_EOK;
	}
	/* the buckets a LIST may follow for (compare.c lists each bucket
	 * that a part of one bucket showed different) */
	if (q->lo == 0 && q->hi == PROTO_DIGEST_BUCKETS) {
		r->store_want_gen++;
		memset(r->store_want, 0, sizeof(r->store_want));
	}
	for (uint16_t i = 0; i < q->parts; i++) {
		uint16_t a, z;
		proto_digest_part(q->lo, q->hi, q->parts, i, &a, &z);
		if (z == a + 1)
			r->store_want[a] = true;
	}
	ret = store_read_begin(r->store, &t);
	if (ret != KS_EOK)
		goto fail;
	ret = store_meta_get(t, &meta);
	if (ret == KS_EOK) {
		own_position(r, &meta, history, &seq);
		ret = ranges_body(t, q->lo, q->hi, q->parts, &body);
	}
	store_read_end(t);
	if (ret == KS_EOK)
		ret = send_rsp(l, PROTO_MSG_DIGEST_RSP, q, history, seq,
			       q->parts, &body);
fail:
	ks_buf_free(&body);
	if (ret != KS_EOK)
		ks_log_err(REPL, "'%s': cannot answer a digest request (%s)",
			   l->peer->name, ks_strerror(ret));
	return ret;
}

/* One key of the report. */
static int report_key(repl_compare_t *v, const char *what, ks_view_t key)
{
	int ret;

	v->differ++;
	ret = node_repl__key_line(&v->report, what, key);
	if (ret == KS_EOK && v->collect)
		ret = node_repl__refetch_key(v->r, key);
	return ret;
}

static int key_cmp(ks_view_t a, ks_view_t b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
	if (c != 0)
		return c;
	return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

/* Merge our listing of a bucket with the peer's (both in key order). */
static int compare_bucket(repl_compare_t *v, ks_view_t mine, ks_view_t body)
{
	char peer_only[300];
	int ret = KS_EOK;
	size_t pm = 0, pt = 0;
	ks_view_t km, kt;
	const uint8_t *hm, *ht;

	snprintf(peer_only, sizeof(peer_only), "only on %s:", v->peer);
	bool have_m = proto_digest_list_next(mine, &pm, &km, &hm);
	bool have_t = proto_digest_list_next(body, &pt, &kt, &ht);
	while (ret == KS_EOK && (have_m || have_t)) {
		int cmp = !have_m ? 1 : !have_t ? -1 : key_cmp(km, kt);
		if (cmp < 0) {
			ret = report_key(v, "only here:", km);
			have_m = proto_digest_list_next(mine, &pm, &km, &hm);
		} else if (cmp > 0) {
			ret = report_key(v, peer_only, kt);
			have_t = proto_digest_list_next(body, &pt, &kt, &ht);
		} else {
			if (memcmp(hm, ht, PROTO_DIGEST_HASH_LEN) != 0)
				ret = report_key(v, "differs:", km);
			have_m = proto_digest_list_next(mine, &pm, &km, &hm);
			have_t = proto_digest_list_next(body, &pt, &kt, &ht);
		}
	}
	return ret;
}

/* Our listing came back from the worker: merge, then the next request. */
static int compare_listed(node_repl_link_t *l, list_job_t *j)
{
	repl_compare_t *v = &l->r->compare;
	int ret;

	if (!v->running || strcmp(v->peer, l->peer->name) != 0 ||
	    v->gen != j->gen)
		return KS_EOK; /* the comparison ended meanwhile */
	if (v->kdb)
		ret = node_repl__compare_bucket4(
			l->r, ks_buf_view(&j->body), ks_buf_view(&j->mine_kdb),
			ks_buf_view(&j->theirs), ks_buf_view(&j->their_kdb));
	else
		ret = compare_bucket(v, ks_buf_view(&j->body),
				     ks_buf_view(&j->theirs));
	if (ret == KS_EOK)
		return compare_next(l);
	compare_fail(v, ret, "local failure while comparing");
	ks_log_err(REPL, "verify with '%s' failed (%s)", v->peer,
		   ks_strerror(ret));
	return KS_EOK; /* the link itself is fine */
}

/* The response to the request in flight, in phase \p phase? */
static bool rsp_expected(node_repl_link_t *l, const proto_digest_rsp_t *a,
			 uint8_t phase)
{
	repl_compare_t *v = &l->r->compare;

	if (!v->running || strcmp(v->peer, l->peer->name) != 0 ||
	    v->phase != phase || a->id != v->wait_id ||
	    a->kind != v->wait.kind || a->lo != v->wait.lo ||
	    a->hi != v->wait.hi) {
		snprintf(l->peer->last_error, sizeof(l->peer->last_error),
			 "unexpected digest response");
		return false;
	}
	return true;
}

static int step_failed(repl_compare_t *v, int ret)
{
	compare_fail(v, ret, "local failure while comparing");
	ks_log_err(REPL, "verify with '%s' failed (%s)", v->peer,
		   ks_strerror(ret));
	return KS_EOK; /* the link itself is fine */
}

/* A differing bucket: both listings on the worker, merged in list_done. */
static int step_list(node_repl_link_t *l, const proto_digest_rsp_t *st,
		     const proto_digest_rsp_t *kd)
{
	repl_compare_t *v = &l->r->compare;
	list_job_t *j = list_job_new(l, false);
	int ret = KS_ENOMEM;

	v->lists++;
	if (j == NULL)
		return step_failed(v, KS_ENOMEM);
	j->a = *st;
	j->a.body = (ks_view_t){ 0 };
	if (ks_buf_append(&j->theirs, st->body.ptr, st->body.len) != KS_EOK)
		goto fail;
	if (kd != NULL &&
	    ks_buf_append(&j->their_kdb, kd->body.ptr, kd->body.len) != KS_EOK)
		goto fail;
	/* our listings are read on the worker: lend it the indexes */
	if (v->mine_store == NULL || (kd != NULL && v->mine_kdb == NULL)) {
		ret = KS_EINTERNAL;
		goto fail;
	}
	if (kd != NULL) {
		j->x = v->mine_kdb;
		v->mine_kdb = NULL;
	}
	j->sx = v->mine_store;
	v->mine_store = NULL;
	j->gen = v->gen;
	node_repl__link_job(l, &j->job);
	return KS_EOK;
fail:
	ks_buf_free(&j->theirs);
	ks_buf_free(&j->their_kdb);
	ks_buf_free(&j->mine_kdb);
	free(j);
	return step_failed(v, ret == KS_EOK ? KS_ENOMEM : ret);
}

/* One step of the bisection with the peer's store response \p st and,
 * comparing KDBs too, its KDB response \p kd for the same range. */
static int step(node_repl_link_t *l, const proto_digest_rsp_t *st,
		const proto_digest_rsp_t *kd)
{
	node_repl_t *r = l->r;
	repl_compare_t *v = &r->compare;
	store_txn_t *t = NULL;
	store_meta_t meta;
	int ret;

	if (st->kind == PROTO_DIGEST_LIST)
		return step_list(l, st, kd);
	uint16_t w = (uint16_t)(st->hi - st->lo);
	uint16_t parts = w < COMPARE_PARTS ? w : COMPARE_PARTS;
	if (st->count != parts || (kd != NULL && kd->count != parts))
		return step_failed(v, KS_ECOUNT);
	ret = store_read_begin(r->store, &t);
	if (ret != KS_EOK)
		return step_failed(v, ret);
	/* the first request (the whole range, once): our position */
	if (st->lo == 0 && st->hi == PROTO_DIGEST_BUCKETS &&
	    store_meta_get(t, &meta) == KS_EOK) {
		own_position(r, &meta, v->our_history, &v->our_seq);
		v->our_records = meta.record_count;
	}
	for (uint16_t i = 0; ret == KS_EOK && i < parts; i++) {
		uint16_t lo, hi;
		uint8_t dg[32], kdg[32];
		uint64_t cnt = 0, kcnt = 0;
		const uint8_t *theirs = st->body.ptr + (size_t)i * 40;
		proto_digest_part(st->lo, st->hi, parts, i, &lo, &hi);
		ret = store_range_digest(t, lo, hi, dg, &cnt);
		if (ret != KS_EOK)
			break;
		bool eq = memcmp(dg, theirs, 32) == 0 &&
			  cnt == ks_get_u64be(theirs + 32);
		if (kd != NULL) {
			const uint8_t *tk = kd->body.ptr + (size_t)i * 40;
			node_repl__kdbindex_range(v->mine_kdb, lo, hi, kdg,
						  &kcnt);
			/* all four equal: ours, theirs, and KDB = store */
			eq = eq && memcmp(kdg, tk, 32) == 0 &&
			     kcnt == ks_get_u64be(tk + 32) &&
			     memcmp(kdg, dg, 32) == 0 && kcnt == cnt;
		}
		if (eq)
			continue;
		if (hi - lo > 1) {
			ret = compare_push(v, PROTO_DIGEST_RANGES, lo, hi);
			continue;
		}
		if (v->n_lists == STORE_BUCKETS) {
			ret = KS_EINTERNAL; /* each bucket is listed once */
			continue;
		}
		v->lists_todo[v->n_lists++] = lo;
		v->lists_sorted = false;
		if (v->mine_kdb != NULL)
			node_repl__kdbindex_want(v->mine_kdb, lo);
		if (v->mine_store != NULL)
			node_repl__kdbindex_want(v->mine_store, lo);
	}
	store_read_end(t);
	if (ret != KS_EOK)
		return step_failed(v, ret);
	return compare_next(l);
}

static int index_start(node_repl_link_t *l);

/* The answer to the request in flight when our side of the comparison
 * failed meanwhile (reading our KDB): dropped, the link is fine. */
static bool late_rsp(node_repl_link_t *l, const proto_digest_rsp_t *a)
{
	repl_compare_t *v = &l->r->compare;

	return !v->running && v->done && v->err != KS_EOK &&
	       a->id == v->wait_id && strcmp(v->peer, l->peer->name) == 0;
}

int node_repl__digest_rsp(node_repl_link_t *l, const proto_digest_rsp_t *a)
{
	repl_compare_t *v = &l->r->compare;
	proto_msg_t m = { .type = PROTO_MSG_KDB_DIGEST_REQ };

	if (late_rsp(l, a))
		return KS_EOK;
	if (!rsp_expected(l, a, 0))
		return KS_ESTATE;
	if (!v->have_pos) {
		v->have_pos = true;
		memcpy(v->peer_history, a->history, 16);
		v->peer_seq = a->seq;
	}
	if (!v->kdb)
		return step(l, a, NULL);
	/* the same range of the peer's KDB next */
	ks_buf_reset(&v->their_store);
	if (ks_buf_append(&v->their_store, a->body.ptr, a->body.len) != KS_EOK)
		return step_failed(v, KS_ENOMEM);
	v->their_store_count = a->count;
	v->phase = 1;
	v->wait_id = ++v->next_id;
	m.u.digest_req = (proto_digest_req_t){
		.id = v->wait_id, .kind = a->kind, .lo = a->lo, .hi = a->hi
	};
	if (a->kind == PROTO_DIGEST_RANGES)
		m.u.digest_req.parts = (uint16_t)a->count;
	v->requests++;
	int ret = node_repl__send_msg(l, &m);
	/* the first: our KDB is read while the peer reads its own; its
	 * answer waits (the link is busy with our job) until ours is done */
	if (ret == KS_EOK && v->mine_kdb == NULL && !v->indexing) {
		v->indexing = true;
		ret = index_start(l);
		if (ret != KS_EOK)
			return step_failed(v, ret);
	}
	return ret;
}

int node_repl__kdb_digest_rsp(node_repl_link_t *l, const proto_digest_rsp_t *a)
{
	repl_compare_t *v = &l->r->compare;
	proto_digest_rsp_t st;

	if (late_rsp(l, a))
		return KS_EOK;
	if (!rsp_expected(l, a, 1))
		return KS_ESTATE;
	if (v->mine_kdb == NULL) /* our KDB could not be read: failed */
		return step_failed(v, KS_EINTERNAL);
	st = *a;
	st.body = ks_buf_view(&v->their_store);
	st.count = v->their_store_count;
	return step(l, &st, a);
}

int node_repl__kdb_digest_req(node_repl_link_t *l, const proto_digest_req_t *q)
{
	list_job_t *j;

	if (!l->hello_seen) {
		snprintf(l->peer->last_error, sizeof(l->peer->last_error),
			 "KDB digest request before HELLO");
		return KS_ESTATE;
	}
	if ((j = list_job_new(l, true)) == NULL)
		return KS_ENOMEM;
	j->kdb = true;
	j->q = *q;
	node_repl__link_job(l, &j->job);
	return KS_EOK;
}

/* Free what a comparison holds (not r->kdb_answer: the worker's). */
static void compare_reset(repl_compare_t *v)
{
	ks_buf_free(&v->report);
	ks_buf_free(&v->their_store);
	free(v->stack);
	v->stack = NULL;
	v->n = v->cap = 0;
	node_repl__kdbindex_free(v->mine_kdb);
	v->mine_kdb = NULL;
	node_repl__kdbindex_free(v->mine_store);
	v->mine_store = NULL;
}

/* Our KDB read on the worker before the first request. */
typedef struct index_job {
	node_repl_job_t job;
	node_repl_link_t *l;
	uint64_t gen;
	repl_kdbindex_t *x;
} index_job_t;

static int index_run(node_repl_job_t *job)
{
	index_job_t *j = (index_job_t *)job;

	return node_repl__kdbindex_build(j->l->r, &j->x);
}

static void index_done(node_repl_job_t *job, int ret)
{
	index_job_t *j = (index_job_t *)job;
	node_repl_link_t *l = j->l;
	repl_compare_t *v = &l->r->compare;

	if (v->running && v->gen == j->gen && ret == KS_EOK && !l->down) {
		/* the peer's answer for its KDB follows (the inbox) */
		v->mine_kdb = j->x;
		j->x = NULL;
		v->our_kdb_records = node_repl__kdbindex_records(v->mine_kdb);
	} else if (v->running && v->gen == j->gen) {
		compare_fail(v, ret == KS_EOK ? KS_ECLOSED : ret,
			     ret == KS_EOK ? "the link to the peer went down"
					   : "cannot read this node's KDB");
	}
	node_repl__kdbindex_free(j->x);
	free(j);
	node_repl__link_job_end(l);
}

static int index_start(node_repl_link_t *l)
{
	index_job_t *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return KS_ENOMEM;
	*j = (index_job_t){ .job = { .run = index_run, .done = index_done },
			    .l = l,
			    .gen = l->r->compare.gen };
	node_repl__link_job(l, &j->job);
	return KS_EOK;
}

int node_repl__compare_start(node_repl_t *r, const char *peer, ks_buf_t *out)
{
	repl_compare_t *v = &r->compare;
	repl_peer_t *p;

	if (v->running)
		return ks_buf_appendf(
			out, "error: a comparison with '%s' is running\n",
			v->peer);
	for (p = r->peers; p != NULL; p = p->next)
		if (strcmp(p->name, peer) == 0)
			break;
	if (r->bridge == NULL)
		return ks_buf_appendf(
			out, "error: native replication is disabled (see "
			     "kdcsync status)\n");
	if (p == NULL || p->link == NULL || !p->link->hello_seen)
		return ks_buf_appendf(
			out,
			"error: no replication link with '%s' (is it a "
			"[peers] entry with mode = native, and up? see "
			"kdcsync status)\n",
			peer);
	if ((p->link->peer_caps & PROTO_CAP_DIGEST) == 0)
		return ks_buf_appendf(
			out,
			"error: '%s' runs a version without content "
			"comparison (no digest capability)\n",
			peer);
	int ret = node_repl__compare_begin(r, p->link, false);
	if (ret != KS_EOK)
		return ks_buf_appendf(out, "error: cannot start: %s\n",
				      ks_strerror(ret));
	return ks_buf_appendf(out, "started\n");
}

int node_repl__compare_begin(node_repl_t *r, node_repl_link_t *l, bool collect)
{
	repl_compare_t *v = &r->compare;

	compare_reset(v);
	uint64_t gen = v->gen + 1;
	*v = (repl_compare_t){
		.running = true, .gen = gen, .r = r, .collect = collect
	};
	snprintf(v->peer, sizeof(v->peer), "%s", l->peer->name);
	/* the KDBs too when the peer answers for its KDB and ours can be
	 * read (else the stores only, as before; the result says so) */
	v->kdb = !collect && (l->peer_caps & PROTO_CAP_KDB_DIGEST) != 0 &&
		 node_repl__kdb_usable(r);
	int ret = compare_push(v, PROTO_DIGEST_RANGES, 0, PROTO_DIGEST_BUCKETS);
	if (ret == KS_EOK)
		ret = node_repl__kdbindex_store_new(r, &v->mine_store);
	/* with KDBs, our KDB is read once the first KDB request is sent */
	if (ret == KS_EOK)
		ret = compare_next(l);
	if (ret != KS_EOK) {
		v->collect = false; /* the caller hears it from us */
		compare_fail(v, ret, "cannot send the first request");
	}
	return ret;
}

int node_repl__compare_result(node_repl_t *r, ks_buf_t *out)
{
	repl_compare_t *v = &r->compare;
	char ph[33], oh[33];
	int ret;

	if (v->running)
		return ks_buf_appendf(out, "running\n");
	if (!v->done)
		return ks_buf_appendf(out,
				      "error: no comparison was started\n");
	if (v->err != KS_EOK)
		return ks_buf_appendf(
			out, "error: comparison with '%s' failed: %s (%s)\n",
			v->peer, v->errtext, ks_strerror(v->err));
	for (int i = 0; i < 16; i++) {
		snprintf(ph + 2 * i, 3, "%02x", v->peer_history[i]);
		snprintf(oh + 2 * i, 3, "%02x", v->our_history[i]);
	}
	if (v->differ == 0 && v->kdb)
		ret = ks_buf_appendf(out,
				     "equal: this node and '%s' hold the same "
				     "records in their stores and their KDBs "
				     "(%" PRIu64 " here)\n",
				     v->peer, v->our_records);
	else if (v->differ == 0)
		ret = ks_buf_appendf(out,
				     "equal: this node and '%s' hold the same "
				     "records (%" PRIu64 " here)\n",
				     v->peer, v->our_records);
	else if (v->kdb)
		ret = ks_buf_appendf(
			out,
			"differ: %" PRIu64
			" keys differ between this node (%s) and '%s': "
			"%" PRIu64 " between the stores, %" PRIu64
			" between the KDBs, %" PRIu64
			" between the KDB and the store here, %" PRIu64
			" between the KDB and the store on '%s'\n",
			v->differ, r->name, v->peer, v->d_store, v->d_kdb,
			v->d_here, v->d_peer, v->peer);
	else
		ret = ks_buf_appendf(out,
				     "differ: %" PRIu64
				     " keys differ between this "
				     "node and '%s'\n",
				     v->differ, v->peer);
	if (ret == KS_EOK && !v->kdb)
		ret = ks_buf_appendf(out,
				     "  (stores only: '%s' does not compare "
				     "KDBs, or this node's KDB is not usable)"
				     "\n",
				     v->peer);
	if (ret == KS_EOK)
		ret = ks_buf_appendf(
			out,
			"  here:  history %s seq %" PRIu64 "\n"
			"  %s: history %s seq %" PRIu64 "%s\n",
			oh, v->our_seq, v->peer, ph, v->peer_seq,
			memcmp(oh, ph, 32) != 0 || v->our_seq != v->peer_seq
				? " (positions differ: changes in flight "
				  "show as differences)"
				: "");
	if (ret == KS_EOK && v->report.len)
		ret = ks_buf_append(out, v->report.data, v->report.len);
	return ret;
}

void node_repl__compare_link_down(node_repl_link_t *l)
{
	repl_compare_t *v = &l->r->compare;

	if (v->running && strcmp(v->peer, l->peer->name) == 0)
		compare_fail(v, KS_ECLOSED,
			     "the link to the peer went down during the "
			     "comparison");
	node_repl__refetch_link_down(l);
}

void node_repl__compare_free(node_repl_t *r)
{
	compare_reset(&r->compare);
	node_repl__refetch_free(r);
	node_repl__kdbindex_free(r->kdb_answer); /* the worker is gone */
	r->kdb_answer = NULL;
	node_repl__kdbindex_free(r->store_answer);
	r->store_answer = NULL;
}
