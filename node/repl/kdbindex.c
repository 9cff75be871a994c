/* SPDX-License-Identifier: MIT */
/*
 * The KDB's record set in the store's bucket scheme (store.h, "Digest
 * design"), for comparing what two nodes' KDBs hold (PROTOCOL.md §3.11):
 * every KDB record (its dump line, as bridge_foreach_record() encodes it)
 * hashed and filed by bucket, with per-bucket digests and counts.  Built
 * in one read of the KDB on the worker (the KDB's shared lock is held per
 * iteration batch, as for a scan); read-only afterwards, so a built index
 * may be read from any one thread at a time.
 *
 * The index a node keeps for answering its peers' KDB_DIGEST_REQs
 * (r->kdb_answer, the worker's) is read again at each comparison's first
 * request and freed after REPL_KDB_ANSWER_KEEP_MS without requests (the
 * tick), so that a large KDB's keys are not held in memory for nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "node/repl/repl_int.h"

typedef struct kdbi_ent {
	uint64_t off; /* key in the arena */
	uint32_t len;
	uint16_t bucket;
	uint8_t hash[32];
} kdbi_ent_t;

struct repl_kdbindex {
	ks_buf_t arena;
	kdbi_ent_t *e;
	size_t n, cap;
	uint32_t
		first[STORE_BUCKETS + 1]; /* bucket b: [first[b], first[b+1]) */
	uint8_t digest[STORE_BUCKETS][32];
};

static ks_view_t ent_key(const repl_kdbindex_t *x, const kdbi_ent_t *e)
{
	return (ks_view_t){ x->arena.data + e->off, e->len };
}

static int add_cb(ks_view_t key, ks_view_t value, void *arg)
{
	repl_kdbindex_t *x = arg;
	kdbi_ent_t *e;
	int ret;

	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 1024;
		kdbi_ent_t *v = realloc(x->e, cap * sizeof(*v));
		if (v == NULL)
			return KS_ENOMEM;
		x->e = v;
		x->cap = cap;
	}
	e = &x->e[x->n];
	*e = (kdbi_ent_t){ .off = x->arena.len,
			   .len = (uint32_t)key.len,
			   .bucket = (uint16_t)store_key_bucket(key) };
	ret = store_record_hash(key, value, e->hash);
	if (ret == KS_EOK)
		ret = ks_buf_append(&x->arena, key.ptr, key.len);
	if (ret == KS_EOK)
		x->n++;
	return ret;
}

static const repl_kdbindex_t *sort_index; /* qsort has no context; the
					     worker is the only builder */

static int ent_cmp(const void *a, const void *b)
{
	const kdbi_ent_t *x = a, *y = b;
	ks_view_t kx, ky;
	size_t n;
	int c;

	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	kx = ent_key(sort_index, x);
	ky = ent_key(sort_index, y);
	n = kx.len < ky.len ? kx.len : ky.len;
	c = n ? memcmp(kx.ptr, ky.ptr, n) : 0;
	return c ? c : (kx.len > ky.len) - (kx.len < ky.len);
}

int node_repl__kdbindex_build(node_repl_t *r, repl_kdbindex_t **out)
{
	repl_kdbindex_t *x;
	int ret;

	*out = NULL;
	if (!node_repl__kdb_usable(r))
		return KS_EKDBDAMAGED; /* status says why */
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return KS_ENOMEM;
	ret = bridge_foreach_record(r->bridge, add_cb, x);
	if (ret != KS_EOK) {
		node_repl__kdbindex_free(x);
		return ret;
	}
	sort_index = x;
	qsort(x->e, x->n, sizeof(*x->e), ent_cmp);
	sort_index = NULL;
	for (size_t i = 0, b = 0; b <= STORE_BUCKETS; b++) {
		x->first[b] = (uint32_t)i;
		while (b < STORE_BUCKETS && i < x->n && x->e[i].bucket == b)
			store_digest_add(x->digest[b], x->e[i++].hash);
	}
	*out = x;
	return KS_EOK;
}

void node_repl__kdbindex_range(const repl_kdbindex_t *x, uint32_t lo,
			       uint32_t hi, uint8_t digest[32], uint64_t *count)
{
	memset(digest, 0, 32);
	for (uint32_t b = lo; b < hi; b++)
		store_digest_add(digest, x->digest[b]);
	*count = x->first[hi] - x->first[lo];
}

int node_repl__kdbindex_list(const repl_kdbindex_t *x, uint32_t lo, uint32_t hi,
			     ks_buf_t *body, uint32_t *count)
{
	*count = 0;
	for (uint32_t i = x->first[lo]; i < x->first[hi]; i++) {
		const kdbi_ent_t *e = &x->e[i];
		if (e->len == 0 || e->len > PROTO_DIGEST_KEY_MAX)
			return KS_ELIMIT;
		if (ks_buf_append_u16(body, (uint16_t)e->len) != KS_EOK ||
		    ks_buf_append(body, x->arena.data + e->off, e->len) !=
			    KS_EOK ||
		    ks_buf_append(body, e->hash, 32) != KS_EOK)
			return KS_ENOMEM;
		(*count)++;
	}
	return KS_EOK;
}

/* Worker: a KDB_DIGEST_REQ answered from our KDB, read again at the
 * first request of a comparison (RANGES over every bucket). */
int node_repl__kdbindex_answer(node_repl_t *r, const proto_digest_req_t *q,
			       ks_buf_t *body, uint32_t *count)
{
	int ret = KS_EOK;

	*count = 0;
	if (r->kdb_answer == NULL ||
	    (q->kind == PROTO_DIGEST_RANGES && q->lo == 0 &&
	     q->hi == PROTO_DIGEST_BUCKETS)) {
		node_repl__kdbindex_free(r->kdb_answer);
		r->kdb_answer = NULL;
		ret = node_repl__kdbindex_build(r, &r->kdb_answer);
		if (ret != KS_EOK)
			return ret;
	}
	if (q->kind == PROTO_DIGEST_LIST)
		return node_repl__kdbindex_list(r->kdb_answer, q->lo, q->hi,
						body, count);
	for (uint16_t i = 0; ret == KS_EOK && i < q->parts; i++) {
		uint16_t a, z;
		uint8_t dg[32];
		uint64_t cnt;
		proto_digest_part(q->lo, q->hi, q->parts, i, &a, &z);
		node_repl__kdbindex_range(r->kdb_answer, a, z, dg, &cnt);
		ret = ks_buf_append(body, dg, sizeof(dg));
		if (ret == KS_EOK)
			ret = ks_buf_append_u64(body, cnt);
	}
	*count = q->parts;
	return ret;
}

/* Free the answer index on the worker (it is the worker's). */
typedef struct unindex_job {
	node_repl_job_t job;
	node_repl_t *r;
} unindex_job_t;

static int unindex_run(node_repl_job_t *job)
{
	node_repl_t *r = ((unindex_job_t *)job)->r;

	node_repl__kdbindex_free(r->kdb_answer);
	r->kdb_answer = NULL;
	return KS_EOK;
}

static void unindex_done(node_repl_job_t *job, int ret)
{
	(void)ret;
	free(job);
}

void node_repl__kdbindex_tick(node_repl_t *r, uint64_t now)
{
	unindex_job_t *j;

	if (!r->kdb_answer_held ||
	    now - r->kdb_answer_ms < REPL_KDB_ANSWER_KEEP_MS)
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return; /* next tick */
	*j = (unindex_job_t){
		.job = { .run = unindex_run, .done = unindex_done }, .r = r
	};
	if (node_repl__job(r, &j->job))
		r->kdb_answer_held = false;
	else
		free(j);
}

uint64_t node_repl__kdbindex_records(const repl_kdbindex_t *x)
{
	return x->n;
}

void node_repl__kdbindex_free(repl_kdbindex_t *x)
{
	if (x == NULL)
		return;
	ks_buf_free(&x->arena);
	free(x->e);
	free(x);
}
