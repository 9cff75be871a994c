/* SPDX-License-Identifier: MIT */
/*
 * The KDB's record set in the store's bucket scheme (store.h, "Digest
 * design"), for comparing what two nodes' KDBs hold (PROTOCOL.md §3.11),
 * in bounded memory whatever the KDB's size.
 *
 * One streaming read of the KDB (node_repl__kdbindex_build) keeps only
 * each bucket's digest, record count and listing size (1,024 x 48 bytes):
 * every KDB record is its dump line, as bridge_foreach_record() encodes
 * it, hashed and added to its bucket.  The (key, hash) listing of a bucket
 * that differs is collected by another read of the KDB
 * (node_repl__kdbindex_list), which takes along the other buckets that
 * will be listed (the "wanted" ones, marked by the caller) as far as
 * [node] verify_memory allows; with few differences one extra read lists
 * them all, and when everything differs the KDB is read once per
 * verify_memory worth of listings.  A later read may see changes made
 * since the first; they show as differences, as changes in flight do.
 *
 * The same listings of the node's store (node_repl__kdbindex_store_new)
 * come from one scan of the store's records per verify_memory worth of
 * buckets, instead of one scan per bucket (the store keeps per-bucket
 * digests and counts, not per-bucket key lists): the comparing side's and
 * the answering side's (r->store_answer) listings.
 *
 * Threads: an index is used by one thread at a time (the worker reads the
 * KDB; the loop may read the digests of an index the worker has handed
 * back).  The index a node keeps for answering its peers' KDB_DIGEST_REQs
 * (r->kdb_answer) is the worker's, read again at each comparison's first
 * request and freed after REPL_KDB_ANSWER_KEEP_MS without requests.
 */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "node/repl/repl_int.h"

/* A listed record: its LIST entry (u16 length, key, hash) in the arena. */
typedef struct kdbi_ent {
	uint32_t off;
	uint16_t bucket;
} kdbi_ent_t;

struct repl_kdbindex {
	bool from_store; /* the store's records, not the KDB's */
	uint64_t gen;	 /* store answers: of the comparison */
	uint64_t n;	 /* records */
	size_t budget;	 /* listing bytes one read may collect */
	uint8_t digest[STORE_BUCKETS][32];
	uint64_t count[STORE_BUCKETS];
	uint64_t bytes[STORE_BUCKETS]; /* LIST body bytes of each bucket */
	bool want[STORE_BUCKETS];      /* will be listed, not yet */
	bool done[STORE_BUCKETS];      /* listed (store answers: not again) */
	/* the listings held: buckets with held[b], entries [first, end) */
	bool held[STORE_BUCKETS];
	uint32_t first[STORE_BUCKETS], end[STORE_BUCKETS];
	ks_buf_t arena;
	kdbi_ent_t *e;
	size_t ne, cap;
	uint64_t reads; /* reads of the KDB (the first included) */
};

static size_t list_entry_len(ks_view_t key)
{
	return 2 + key.len + PROTO_DIGEST_HASH_LEN;
}

static int digest_cb(ks_view_t key, ks_view_t value, void *arg)
{
	repl_kdbindex_t *x = arg;
	uint32_t b = store_key_bucket(key);
	uint8_t h[32];
	int ret = store_record_hash(key, value, h);

	if (ret != KS_EOK)
		return ret;
	store_digest_add(x->digest[b], h);
	x->count[b]++;
	x->bytes[b] += list_entry_len(key);
	x->n++;
	return 0;
}

/* A store listing's entry size, for choosing how many buckets one scan
 * lists (the store counts records per bucket, not key bytes): a record
 * key of 46 bytes, more than most principal names with their realm. */
#define STORE_ENTRY_GUESS (2 + 46 + PROTO_DIGEST_HASH_LEN)

int node_repl__kdbindex_store_new(node_repl_t *r, repl_kdbindex_t **out)
{
	repl_kdbindex_t *x;
	store_txn_t *t = NULL;
	int ret;

	*out = NULL;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return KS_ENOMEM;
	x->from_store = true;
	x->budget = r->verify_memory;
	ret = store_read_begin(r->store, &t);
	for (uint32_t b = 0; ret == KS_EOK && b < STORE_BUCKETS; b++) {
		ret = store_range_digest(t, b, b + 1, x->digest[b],
					 &x->count[b]);
		x->bytes[b] = x->count[b] * STORE_ENTRY_GUESS;
		x->n += x->count[b];
	}
	if (t != NULL)
		store_read_end(t);
	if (ret != KS_EOK) {
		node_repl__kdbindex_free(x);
		return ret;
	}
	*out = x;
	return KS_EOK;
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
	x->budget = r->verify_memory;
	ret = bridge_foreach_record(r->bridge, digest_cb, x);
	if (ret != KS_EOK) {
		node_repl__kdbindex_free(x);
		return ret;
	}
	x->reads = 1;
	*out = x;
	return KS_EOK;
}

void node_repl__kdbindex_range(const repl_kdbindex_t *x, uint32_t lo,
			       uint32_t hi, uint8_t digest[32], uint64_t *count)
{
	memset(digest, 0, 32);
	*count = 0;
	for (uint32_t b = lo; b < hi; b++) {
		store_digest_add(digest, x->digest[b]);
		*count += x->count[b];
	}
}

void node_repl__kdbindex_want(repl_kdbindex_t *x, uint32_t bucket)
{
	if (bucket < STORE_BUCKETS)
		x->want[bucket] = true;
}

/* --- the listing read ----------------------------------------------------- */

typedef struct collect_ctx {
	repl_kdbindex_t *x;
	const bool *in; /* the buckets this read lists */
} collect_ctx_t;

static int collect_cb(ks_view_t key, ks_view_t value, void *arg)
{
	collect_ctx_t *c = arg;
	repl_kdbindex_t *x = c->x;
	uint32_t b = store_key_bucket(key);
	uint8_t h[32];
	int ret;

	if (!c->in[b])
		return 0;
	if (key.len == 0 || key.len > PROTO_DIGEST_KEY_MAX)
		return KS_ELIMIT;
	if (x->arena.len > UINT32_MAX - list_entry_len(key))
		return KS_ELIMIT; /* verify_memory is far below */
	if (x->ne == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 1024;
		kdbi_ent_t *v = realloc(x->e, cap * sizeof(*v));
		if (v == NULL)
			return KS_ENOMEM;
		x->e = v;
		x->cap = cap;
	}
	ret = store_record_hash(key, value, h);
	if (ret != KS_EOK)
		return ret;
	x->e[x->ne] = (kdbi_ent_t){ .off = (uint32_t)x->arena.len,
				    .bucket = (uint16_t)b };
	if (ks_buf_append_u16(&x->arena, (uint16_t)key.len) != KS_EOK ||
	    ks_buf_append(&x->arena, key.ptr, key.len) != KS_EOK ||
	    ks_buf_append(&x->arena, h, sizeof(h)) != KS_EOK)
		return KS_ENOMEM;
	x->ne++;
	return 0;
}

static const repl_kdbindex_t *sort_index; /* qsort has no context; one
					     thread sorts at a time (the
					     worker) */

static ks_view_t ent_key(const repl_kdbindex_t *x, const kdbi_ent_t *e)
{
	const uint8_t *p = x->arena.data + e->off;

	return (ks_view_t){ p + 2, ((size_t)p[0] << 8) | p[1] };
}

static int ent_cmp(const void *a, const void *b)
{
	const kdbi_ent_t *u = a, *w = b;
	ks_view_t ku, kw;
	size_t n;
	int c;

	if (u->bucket != w->bucket)
		return u->bucket < w->bucket ? -1 : 1;
	ku = ent_key(sort_index, u);
	kw = ent_key(sort_index, w);
	n = ku.len < kw.len ? ku.len : kw.len;
	c = n ? memcmp(ku.ptr, kw.ptr, n) : 0;
	return c ? c : (ku.len > kw.len) - (ku.len < kw.len);
}

/* Choose what one read lists: \p bucket, then the wanted buckets after it
 * (then before it), while their listings fit the budget. */
static void choose(const repl_kdbindex_t *x, uint32_t bucket, bool in[])
{
	uint64_t total = x->bytes[bucket];

	memset(in, 0, STORE_BUCKETS * sizeof(in[0]));
	in[bucket] = true;
	for (uint32_t i = 1; i < STORE_BUCKETS; i++) {
		uint32_t b = (bucket + i) % STORE_BUCKETS;
		if (!x->want[b])
			continue;
		if (total + x->bytes[b] > x->budget)
			continue; /* a smaller one further on may fit */
		total += x->bytes[b];
		in[b] = true;
	}
}

/* Read the KDB (or the store) once for the listings of \p bucket and the
 * wanted buckets that fit beside it; the previous listings are dropped. */
static int collect(node_repl_t *r, repl_kdbindex_t *x, uint32_t bucket)
{
	bool in[STORE_BUCKETS];
	collect_ctx_t c = { .x = x, .in = in };
	store_txn_t *t = NULL;
	int ret;

	if (!x->from_store && !node_repl__kdb_usable(r))
		return KS_EKDBDAMAGED;
	choose(x, bucket, in);
	memset(x->held, 0, sizeof(x->held));
	ks_buf_reset(&x->arena);
	x->ne = 0;
	if (x->from_store) {
		ret = store_read_begin(r->store, &t);
		if (ret == KS_EOK)
			ret = store_records_foreach(t, (ks_view_t){ 0 },
						    collect_cb, &c);
		if (t != NULL)
			store_read_end(t);
	} else {
		ret = bridge_foreach_record(r->bridge, collect_cb, &c);
	}
	x->reads++;
	if (ret != KS_EOK) {
		ks_buf_reset(&x->arena);
		x->ne = 0;
		return ret;
	}
	sort_index = x;
	qsort(x->e, x->ne, sizeof(*x->e), ent_cmp);
	sort_index = NULL;
	for (size_t i = 0, b = 0; b < STORE_BUCKETS; b++) {
		x->first[b] = (uint32_t)i;
		while (i < x->ne && x->e[i].bucket == b)
			i++;
		x->end[b] = (uint32_t)i;
		x->held[b] = in[b];
	}
	return KS_EOK;
}

int node_repl__kdbindex_list(node_repl_t *r, repl_kdbindex_t *x,
			     uint32_t bucket, ks_buf_t *body, uint32_t *count)
{
	int ret;

	*count = 0;
	if (bucket >= STORE_BUCKETS)
		return KS_EINVAL;
	if (!x->held[bucket] && (ret = collect(r, x, bucket)) != KS_EOK)
		return ret;
	for (uint32_t i = x->first[bucket]; i < x->end[bucket]; i++) {
		const uint8_t *p = x->arena.data + x->e[i].off;
		size_t len = list_entry_len(ent_key(x, &x->e[i]));
		if (ks_buf_append(body, p, len) != KS_EOK)
			return KS_ENOMEM;
		(*count)++;
	}
	x->want[bucket] = false;
	x->done[bucket] = true;
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
		return node_repl__kdbindex_list(r, r->kdb_answer, q->lo, body,
						count);
	for (uint16_t i = 0; ret == KS_EOK && i < q->parts; i++) {
		uint16_t a, z;
		uint8_t dg[32];
		uint64_t cnt;
		proto_digest_part(q->lo, q->hi, q->parts, i, &a, &z);
		/* a single-bucket part may be listed next (compare.c asks
		 * for every range first, then the buckets in order) */
		if (z == a + 1)
			node_repl__kdbindex_want(r->kdb_answer, a);
		node_repl__kdbindex_range(r->kdb_answer, a, z, dg, &cnt);
		ret = ks_buf_append(body, dg, sizeof(dg));
		if (ret == KS_EOK)
			ret = ks_buf_append_u64(body, cnt);
	}
	*count = q->parts;
	return ret;
}

/* Worker: a DIGEST_REQ LIST answered from our store, with the listings
 * of the buckets the comparison's RANGES requests named (\p want, the
 * loop's record of them, copied) taken along; a new comparison (\p gen)
 * starts afresh. */
int node_repl__kdbindex_store_answer(node_repl_t *r, uint64_t gen,
				     const bool want[STORE_BUCKETS],
				     uint32_t bucket, ks_buf_t *body,
				     uint32_t *count)
{
	repl_kdbindex_t *x = r->store_answer;
	int ret;

	*count = 0;
	if (x == NULL || x->gen != gen) {
		node_repl__kdbindex_free(x);
		r->store_answer = NULL;
		ret = node_repl__kdbindex_store_new(r, &r->store_answer);
		if (ret != KS_EOK)
			return ret;
		x = r->store_answer;
		x->gen = gen;
	}
	for (uint32_t b = 0; b < STORE_BUCKETS; b++)
		if (want[b] && !x->done[b])
			x->want[b] = true;
	return node_repl__kdbindex_list(r, x, bucket, body, count);
}

/* Free the answer indexes on the worker (they are the worker's). */
typedef struct unindex_job {
	node_repl_job_t job;
	node_repl_t *r;
} unindex_job_t;

static int unindex_run(node_repl_job_t *job)
{
	node_repl_t *r = ((unindex_job_t *)job)->r;

	node_repl__kdbindex_free(r->kdb_answer);
	r->kdb_answer = NULL;
	node_repl__kdbindex_free(r->store_answer);
	r->store_answer = NULL;
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

uint64_t node_repl__kdbindex_reads(const repl_kdbindex_t *x)
{
	return x->reads;
}

void node_repl__kdbindex_free(repl_kdbindex_t *x)
{
	if (x == NULL)
		return;
	ks_buf_free(&x->arena);
	free(x->e);
	free(x);
}
