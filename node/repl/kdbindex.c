/* SPDX-License-Identifier: MIT */
/*
 * The KDB's record set in the store's bucket scheme (store.h, "Digest
 * design"), for comparing what two nodes' KDBs hold (PROTOCOL.md §3.11):
 * every KDB record (its dump line, as bridge_foreach_record() encodes it)
 * hashed and filed by bucket, with per-bucket digests and counts.  Built
 * in one read of the KDB on the worker (the KDB's shared lock is held per
 * iteration batch, as for a scan); read-only afterwards, so a built index
 * may be read from any one thread at a time.
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
