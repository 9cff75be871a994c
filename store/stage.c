/* SPDX-License-Identifier: MIT */
/*
 * Full-snapshot staging: puts appended to the stage log, the staging
 * record set built from it in key order (or merged change by change), and
 * installation of the staging set (made live) in one small transaction.
 */
#define _GNU_SOURCE /* qsort_r */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/time.h"
#include "common/wire.h"
#include "store/internal.h"

/* --- staging ------------------------------------------------------------- */

/*
 * store_stage_put() writes into the staging record set as the puts arrive:
 * a native snapshot (the primary's set in key order) and a kprop dump of a
 * db2 KDB (name order) arrive sorted, so nearly every put is an append
 * (MDB_APPEND, no lookup, each page written once) and nothing is left to
 * do at the end; a put out of order is located and put (a later put of a
 * key replaces the earlier).  Memory is one transaction's dirty pages,
 * whatever the snapshot's size.
 *
 * The "stage" log (key = u64be arrival number, value = u32be key length,
 * key, value) is what earlier versions wrote; one left by a crash is
 * still honoured: while it is not empty, puts append to it (arrival order
 * wins), and stage_seal() turns it into the staging set when first needed:
 * keys copied out and sorted, the set written in key order in bounded
 * transactions; if the staging set is not empty the log is merged change
 * by change instead.
 */
#define STAGE_HDR	  4u
#define STAGE_BUILD_CHUNK 100000u
#define STAGE_MERGE_CHUNK 10000u

static int stage_clear_fn(store_t *s, db_txn_t *txn, void *arg)
{
	(void)s;
	(void)arg;
	meta_t m;
	int ret = store__meta_load(txn, &m);
	if (ret)
		return ret;
	unsigned st = 1u - m.live;
	db_clear(txn, rec_db(st));
	db_clear(txn, bkt_db(st));
	db_clear(txn, DB_STAGE);
	m.set_count[st] = 0;
	memset(&m.set_digest[st], 0, sizeof(m.set_digest[st]));
	store__meta_save(txn, &m);
	return txn->ret;
}

int store_stage_begin(store_t *s)
{
	if (!s)
		return KS_EINVAL;
	return store__write(s, stage_clear_fn, NULL);
}

int store_stage_abort(store_t *s)
{
	return store_stage_begin(s);
}

int store__stage_parse(ks_view_t key, ks_view_t val, ks_view_t *rkey,
		       ks_view_t *rval)
{
	if (key.len != 8 || val.len < STAGE_HDR)
		return KS_ECORRUPT;
	uint32_t klen = ks_get_u32be(val.ptr);
	if (klen == 0 || klen > STORE_MAX_KEY || klen > val.len - STAGE_HDR)
		return KS_ECORRUPT;
	*rkey = bv(val.ptr + STAGE_HDR, klen);
	*rval = bv(val.ptr + STAGE_HDR + klen, val.len - STAGE_HDR - klen);
	return KS_EOK;
}

struct stage_ctx {
	const store_change_t *puts;
	size_t n;
};

/* Puts straight into the staging set (stage log empty): appended while
 * they arrive in key order, located and put otherwise. */
static int stage_put_set(store_t *s, db_txn_t *txn, const struct stage_ctx *c)
{
	meta_t m;
	set_writer_t w;
	bool changed;
	int ret = store__meta_load(txn, &m);
	if (ret)
		return ret;
	unsigned st = 1u - m.live;
	if (!store__set_writer_open(txn, st, &w)) {
		db_cur_close(&w.cur);
		return txn->ret;
	}
	for (size_t i = 0; i < c->n && ret == 0 && txn->ret == 0; i++)
		ret = store__set_apply(s, txn, &w, &c->puts[i], &changed);
	db_cur_close(&w.cur);
	if (ret)
		return ret;
	if ((ret = store__delta_flush(s, txn, &m, st)) != 0)
		return ret;
	store__meta_save(txn, &m);
	return txn->ret;
}

static int stage_put_fn(store_t *s, db_txn_t *txn, void *arg)
{
	const struct stage_ctx *c = arg;
	db_cur_t cur;
	ks_view_t k, v;
	uint64_t next = 1;
	if (!db_cur_open(txn, DB_STAGE, &cur))
		return txn->ret;
	if (!db_cur_last(&cur, &k, &v)) {
		db_cur_close(&cur);
		return txn->ret ? txn->ret : stage_put_set(s, txn, c);
	}
	if (k.len != 8) {
		db_cur_close(&cur);
		return KS_ECORRUPT;
	}
	next = ks_get_u64be(k.ptr) + 1;
	db_cur_close(&cur);
	for (size_t i = 0; i < c->n && txn->ret == 0; i++) {
		const store_change_t *p = &c->puts[i];
		uint8_t kb[8];
		ks_put_u64be(kb, next++);
		uint8_t *dst = db_put_reserve(
			txn, DB_STAGE, bv(kb, 8),
			STAGE_HDR + p->key.len + p->value.len, true);
		if (!dst)
			break;
		ks_put_u32be(dst, (uint32_t)p->key.len);
		memcpy(dst + STAGE_HDR, p->key.ptr, p->key.len);
		if (p->value.len)
			memcpy(dst + STAGE_HDR + p->key.len, p->value.ptr,
			       p->value.len);
	}
	return txn->ret;
}

int store_stage_put(store_t *s, const store_change_t *puts, size_t n)
{
	if (!s)
		return KS_EINVAL;
	int ret = store__check_changes(puts, n, true);
	if (ret)
		return ret;
	if (n == 0)
		return KS_EOK;
	struct stage_ctx c = { puts, n };
	return store__write(s, stage_put_fn, &c);
}

/* Slow path: move up to STAGE_MERGE_CHUNK stage entries into the set. */
static int stage_merge_fn(store_t *s, db_txn_t *txn, void *arg)
{
	uint64_t *left = arg;
	meta_t m;
	db_cur_t cur;
	ks_view_t k, v, rk, rv;
	int ret = store__meta_load(txn, &m);
	if (ret)
		return ret;
	unsigned st = 1u - m.live;
	size_t done = 0;
	set_writer_t w;
	if (!store__set_writer_open(txn, st, &w)) {
		db_cur_close(&w.cur);
		return txn->ret;
	}
	if (!db_cur_open(txn, DB_STAGE, &cur)) {
		db_cur_close(&w.cur);
		return txn->ret;
	}
	while (done < STAGE_MERGE_CHUNK && db_cur_first(&cur, &k, &v)) {
		bool changed;
		if ((ret = store__stage_parse(k, v, &rk, &rv)) != 0)
			break;
		store_change_t c = { .op = STORE_PUT, .key = rk, .value = rv };
		if ((ret = store__set_apply(s, txn, &w, &c, &changed)) != 0)
			break;
		/* the cursor's page may have moved: reposition and delete */
		if (!db_cur_first(&cur, &k, &v) || !db_cur_del(&cur))
			break;
		done++;
	}
	db_cur_close(&cur);
	db_cur_close(&w.cur);
	if (ret)
		return ret;
	if ((ret = store__delta_flush(s, txn, &m, st)) != 0)
		return ret;
	store__meta_save(txn, &m);
	uint64_t n = 0;
	db_count(txn, DB_STAGE, &n);
	*left = n;
	return txn->ret;
}

/*
 * One staged record: its LMDB key (the record key, or a long key's LMDB
 * form) in the arena, its arrival number, and its value in the map (valid
 * while the collect txn is open), right after its full key of klen bytes
 * in the stage-log entry.
 */
typedef struct stage_item {
	uint64_t seq;
	size_t off;
	uint32_t len, klen;
	ks_view_t val;
} stage_item_t;

static ks_view_t item_key(const stage_item_t *it)
{
	return bv(it->val.ptr - it->klen, it->klen);
}

static int view_cmp(ks_view_t a, ks_view_t b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = memcmp(a.ptr, b.ptr, n);
	return c ? c : (a.len > b.len) - (a.len < b.len);
}

/* LMDB key, then full key (long keys whose forms collide), then arrival. */
static int stage_item_cmp(const void *a, const void *b, void *arena)
{
	const stage_item_t *x = a, *y = b;
	const uint8_t *base = arena;
	int c = view_cmp(bv(base + x->off, x->len), bv(base + y->off, y->len));
	if (c == 0 && x->len == STORE_LMDB_KEY)
		c = view_cmp(item_key(x), item_key(y));
	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sort entry: 8 key bytes after the keys' common prefix, big-endian, so
 * most comparisons are one integer compare; ties fall back to the keys. */
typedef struct sort_ent {
	uint64_t pfx;
	const stage_item_t *it;
} sort_ent_t;

static int sort_ent_cmp(const void *a, const void *b, void *arena)
{
	const sort_ent_t *x = a, *y = b;
	if (x->pfx != y->pfx)
		return x->pfx < y->pfx ? -1 : 1;
	return stage_item_cmp(x->it, y->it, arena);
}

/* Sort *items by (key, arrival); replaces the array. */
static int stage_sort(stage_item_t **items, size_t n, const uint8_t *arena)
{
	stage_item_t *in = *items, *out = NULL;
	sort_ent_t *ent = NULL;
	if (n < 2)
		return KS_EOK;
	size_t lcp = in[0].len;
	const uint8_t *k0 = arena + in[0].off;
	for (size_t i = 1; i < n && lcp > 0; i++) {
		const uint8_t *k = arena + in[i].off;
		size_t m = in[i].len < lcp ? in[i].len : lcp, j = 0;
		while (j < m && k[j] == k0[j])
			j++;
		lcp = j;
	}
	ent = malloc(n * sizeof(*ent));
	out = malloc(n * sizeof(*out));
	if (!ent || !out) {
		free(ent);
		free(out);
		return KS_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *k = arena + in[i].off;
		uint64_t p = 0;
		for (size_t j = 0; j < 8; j++)
			p = p << 8 | (lcp + j < in[i].len ? k[lcp + j] : 0);
		ent[i] = (sort_ent_t){ p, &in[i] };
	}
	qsort_r(ent, n, sizeof(*ent), sort_ent_cmp, (void *)(uintptr_t)arena);
	for (size_t i = 0; i < n; i++)
		out[i] = *ent[i].it;
	free(ent);
	free(in);
	*items = out;
	return KS_EOK;
}

struct build_ctx {
	const stage_item_t *items;
	const uint8_t *arena;
	size_t from, to;
	bool first, last;
};

/* Fast path: write items [from, to) (sorted, unique) into the set. */
static int stage_build_fn(store_t *s, db_txn_t *txn, void *arg)
{
	const struct build_ctx *c = arg;
	meta_t m;
	int ret = store__meta_load(txn, &m);
	if (ret)
		return ret;
	unsigned st = 1u - m.live;
	if (c->first) {
		db_clear(txn, rec_db(st));
		db_clear(txn, bkt_db(st));
		m.set_count[st] = 0;
		memset(&m.set_digest[st], 0, sizeof(m.set_digest[st]));
	}
	for (size_t i = c->from; i < c->to && txn->ret == 0; i++) {
		const stage_item_t *it = &c->items[i];
		ks_view_t lk = bv(c->arena + it->off, it->len), rv = it->val;
		ks_view_t rk = item_key(it);
		bool is_long = store__key_is_long(rk);
		uint8_t h[32];
		if ((ret = dg_record_hash(s->dg, rk, rv, h)) != 0)
			return ret;
		store__delta_note(s, dg_bucket(rk), h, true);
		size_t len = is_long ? store__long_value_len(rk, rv) : rv.len;
		uint8_t *dst = db_put_reserve(txn, rec_db(st), lk, len, true);
		if (dst && is_long)
			store__long_value_write(dst, rk, rv);
		else if (dst && rv.len)
			memcpy(dst, rv.ptr, rv.len);
	}
	if (txn->ret)
		return txn->ret;
	if ((ret = store__delta_flush(s, txn, &m, st)) != 0)
		return ret;
	if (c->last)
		db_clear(txn, DB_STAGE);
	store__meta_save(txn, &m);
	return txn->ret;
}

/*
 * Copy the staged keys out, sorted by (key, arrival), last one per key.
 * Values stay in the map: *txn_out is the read txn that keeps them valid;
 * the caller ends it after the build.
 */
static int stage_collect(store_t *s, ks_buf_t *arena, stage_item_t **out,
			 size_t *count, store_txn_t **txn_out)
{
	store_txn_t *t = NULL;
	db_cur_t cur = { 0 };
	ks_view_t k, v, rk, rv;
	uint8_t lform[STORE_LMDB_KEY];
	stage_item_t *items = NULL;
	uint64_t n = 0;
	size_t got = 0;
	int ret = store_read_begin(s, &t);
	if (ret)
		return ret;
	if (!db_count(&t->txn, DB_STAGE, &n))
		goto fail_txn;
	if (n > SIZE_MAX / sizeof(*items)) {
		ret = KS_ENOMEM;
		goto fail;
	}
	items = malloc((n ? n : 1) * sizeof(*items));
	if (!items) {
		ret = KS_ENOMEM;
		goto fail;
	}
	if (!db_cur_open(&t->txn, DB_STAGE, &cur))
		goto fail_txn;
	for (bool ok = db_cur_first(&cur, &k, &v); ok && got < n;
	     ok = db_cur_next(&cur, &k, &v)) {
		if ((ret = store__stage_parse(k, v, &rk, &rv)) != 0) {
			ks_log_err(STORE, "stage entry malformed");
			goto fail;
		}
		ks_view_t lk = rk;
		if (store__key_is_long(rk)) {
			if ((ret = store__key_long_form(rk, lform)) != 0)
				goto fail;
			lk = bv(lform, STORE_LMDB_KEY);
		}
		items[got] = (stage_item_t){ .seq = ks_get_u64be(k.ptr),
					     .off = arena->len,
					     .len = (uint32_t)lk.len,
					     .klen = (uint32_t)rk.len,
					     .val = rv };
		if ((ret = ks_buf_append(arena, lk.ptr, lk.len)) != 0)
			goto fail;
		got++;
	}
fail_txn:
	if (ret == 0)
		ret = t->txn.ret;
fail:
	db_cur_close(&cur);
	if (ret) {
		store_read_end(t);
		free(items);
		return ret;
	}
	if ((ret = stage_sort(&items, got, arena->data)) != 0) {
		store_read_end(t);
		free(items);
		return ret;
	}
	/* keep the last arrival of each key; long keys whose forms collide
	 * take the next slots, in key order */
	size_t w = 0;
	for (size_t i = 0; i < got; i++) {
		if (i + 1 < got &&
		    view_cmp(item_key(&items[i]), item_key(&items[i + 1])) == 0)
			continue;
		items[w++] = items[i];
	}
	for (size_t i = 1; i < w; i++) {
		uint8_t *lk = arena->data + items[i].off;
		const uint8_t *prev = arena->data + items[i - 1].off;
		if (items[i].len != STORE_LMDB_KEY ||
		    items[i - 1].len != STORE_LMDB_KEY ||
		    !store__lkey_is_long(bv(lk, STORE_LMDB_KEY)) ||
		    memcmp(lk, prev, STORE_LMDB_KEY - 1) != 0)
			continue;
		if (prev[STORE_LMDB_KEY - 1] == UINT8_MAX) {
			ks_log_err(
				STORE,
				"256 staged long keys share one prefix and hash");
			store_read_end(t);
			free(items);
			return KS_ELIMIT;
		}
		lk[STORE_LMDB_KEY - 1] =
			(uint8_t)(prev[STORE_LMDB_KEY - 1] + 1);
	}
	*out = items;
	*count = w;
	*txn_out = t;
	return KS_EOK;
}

/* Turn pending stage-log entries into the staging record set. */
static int stage_seal(store_t *s)
{
	store_txn_t *t;
	uint64_t pending = 0, staged, stage_bytes = 0;
	int ret = store_read_begin(s, &t);
	if (ret)
		return ret;
	staged = t->m.set_count[1u - t->m.live];
	if (!db_count(&t->txn, DB_STAGE, &pending) ||
	    !db_bytes(&t->txn, DB_STAGE, &stage_bytes))
		ret = t->txn.ret;
	store_read_end(t);
	if (ret || pending == 0)
		return ret;
	if (staged > 0) {
		uint64_t left = pending;
		while (left > 0 && ret == 0)
			ret = store__write(s, stage_merge_fn, &left);
		return ret;
	}
	ks_buf_t arena = KS_BUF_INIT;
	stage_item_t *items = NULL;
	store_txn_t *rt = NULL;
	size_t n = 0;
	uint64_t t0 = ks_mono_ns();
	/* The collect txn stays open during the build (values are read in
	 * place), and the map cannot grow under it: make room first. */
	if ((ret = db_ensure_room(s->env, 2 * stage_bytes + (64u << 20))))
		goto fail;
	if ((ret = stage_collect(s, &arena, &items, &n, &rt)) != 0)
		goto fail;
	for (size_t i = 0; i == 0 || i < n; i += STAGE_BUILD_CHUNK) {
		size_t to =
			n - i < STAGE_BUILD_CHUNK ? n : i + STAGE_BUILD_CHUNK;
		struct build_ctx c = {
			items, arena.data, i, to, i == 0, to == n
		};
		if ((ret = store__write(s, stage_build_fn, &c)) != 0)
			goto fail;
	}
	ks_log_info(STORE, "staged %zu records (%llu puts) built in %llu ms", n,
		    (unsigned long long)pending,
		    (unsigned long long)((ks_mono_ns() - t0) / 1000000));
fail:
	store_read_end(rt);
	free(items);
	ks_buf_free(&arena);
	return ret;
}

int store_stage_info(store_t *s, uint8_t digest[32], uint64_t *count)
{
	if (!s)
		return KS_EINVAL;
	int ret = stage_seal(s);
	if (ret)
		return ret;
	store_txn_t *t;
	if ((ret = store_read_begin(s, &t)) != 0)
		return ret;
	unsigned st = 1u - t->m.live;
	if (digest)
		dg_to_bytes(&t->m.set_digest[st], digest);
	if (count)
		*count = t->m.set_count[st];
	store_read_end(t);
	return KS_EOK;
}

struct install_ctx {
	const uint8_t *history, *digest;
	uint64_t seq;
};

static int install_fn(store_t *s, db_txn_t *txn, void *arg)
{
	(void)s;
	const struct install_ctx *p = arg;
	meta_t m;
	int ret = store__meta_load(txn, &m);
	if (ret)
		return ret;
	unsigned st = 1u - m.live;
	if (p->digest) {
		dg256_t want;
		dg_from_bytes(&want, p->digest);
		if (!dg_equal(&want, &m.set_digest[st])) {
			ks_log_err(
				STORE,
				"staged snapshot of %llu records does not match the expected digest",
				(unsigned long long)m.set_count[st]);
			return KS_EDIGEST;
		}
	}
	db_clear(txn, DB_LOG);
	db_clear(txn, DB_RELAY);
	m.live = (uint8_t)st;
	memcpy(m.history, p->history, 16);
	memcpy(m.applied_history, p->history, 16);
	memset(m.prev_history, 0, 16);
	m.prev_last_seq = 0;
	m.last_seq = m.applied_seq = p->seq;
	m.oldest_seq = p->seq + 1;
	m.log_bytes = 0;
	store__meta_save(txn, &m);
	return txn->ret;
}

int store_stage_install(store_t *s, const uint8_t history[16], uint64_t seq,
			const uint8_t digest[32])
{
	static const uint8_t zero[16];
	if (!s || !history || memcmp(history, zero, 16) == 0 ||
	    seq == UINT64_MAX)
		return KS_EINVAL;
	struct install_ctx p = { history, digest, seq };
	int ret = stage_seal(s);
	if (ret == 0)
		ret = store__write(s, install_fn, &p);
	if (ret == 0)
		ks_log_info(STORE, "snapshot installed at seq %llu",
			    (unsigned long long)seq);
	return ret;
}
