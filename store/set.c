/* SPDX-License-Identifier: MIT */
/*
 * Writes to one record set inside a write transaction: a change at a
 * time through one cursor (digest deltas noted for bucket.c), and whole
 * change sets applied in key order so that neighbouring keys share pages
 * and keys beyond the set's greatest are appended.
 */
#define _GNU_SOURCE /* qsort_r */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "store/internal.h"

bool store__set_writer_open(db_txn_t *txn, unsigned set, set_writer_t *w)
{
	ks_view_t k;
	w->set = set;
	w->empty = false;
	w->last_len = 0;
	if (!db_cur_open(txn, rec_db(set), &w->cur))
		return false;
	if (db_cur_last(&w->cur, &k, NULL)) {
		if (k.len > STORE_LMDB_KEY) {
			ks_log_err(STORE, "record key of %zu bytes", k.len);
			db_txn_fail(txn, KS_ECORRUPT);
			return false;
		}
		memcpy(w->last, k.ptr, k.len);
		w->last_len = k.len;
	} else {
		w->empty = txn->ret == 0;
	}
	return txn->ret == 0;
}

static bool key_after_last(const set_writer_t *w, ks_view_t key)
{
	if (w->empty)
		return true;
	if (w->last_len == 0)
		return false;
	size_t n = key.len < w->last_len ? key.len : w->last_len;
	int c = memcmp(key.ptr, w->last, n);
	return c > 0 || (c == 0 && key.len > w->last_len);
}

/*
 * Apply one change through \p w, noting the digest deltas (over the full
 * key); *changed tells whether anything changed.  A long key is written in
 * its LMDB form, with the full key in front of the value.
 */
int store__set_apply(store_t *s, db_txn_t *txn, set_writer_t *w,
		     const store_change_t *c, bool *changed)
{
	store__rec_pos_t pos;
	uint8_t h[32];
	int ret;
	*changed = false;
	if (!store__key_is_long(c->key) && key_after_last(w, c->key)) {
		/* past the greatest key (a snapshot or a dump arriving in
		 * key order): absent, and appended without a lookup */
		if (c->op == STORE_DEL)
			return KS_EOK;
		if ((ret = dg_record_hash(s->dg, c->key, c->value, h)) != 0)
			return ret;
		store__delta_note(s, dg_bucket(c->key), h, true);
		db_cur_put(&w->cur, c->key, c->value, true);
		memcpy(w->last, c->key.ptr, c->key.len);
		w->last_len = c->key.len;
		w->empty = false;
		*changed = true;
		return txn->ret;
	}
	if ((ret = store__rec_locate(&w->cur, c->key, &pos)) != 0)
		return ret;
	bool had = pos.found;
	ks_view_t old = pos.value;
	if (c->op == STORE_PUT && had && old.len == c->value.len &&
	    (old.len == 0 || memcmp(old.ptr, c->value.ptr, old.len) == 0))
		return KS_EOK;
	if (c->op == STORE_DEL && !had)
		return KS_EOK;
	uint32_t b = dg_bucket(c->key);
	if (had) {
		if ((ret = dg_record_hash(s->dg, c->key, old, h)) != 0)
			return ret;
		store__delta_note(s, b, h, false);
	}
	if (c->op == STORE_PUT) {
		if ((ret = dg_record_hash(s->dg, c->key, c->value, h)) != 0)
			return ret;
		store__delta_note(s, b, h, true);
		ks_view_t lk = bv(pos.lkey, pos.lkey_len);
		bool append = !had && key_after_last(w, lk);
		if (!store__key_is_long(c->key)) {
			db_cur_put(&w->cur, lk, c->value, append);
		} else {
			/* (the old value is not read after this point) */
			uint8_t *dst = db_cur_put_reserve(
				&w->cur, lk,
				store__long_value_len(c->key, c->value),
				append);
			if (dst)
				store__long_value_write(dst, c->key, c->value);
		}
		if (append) {
			memcpy(w->last, lk.ptr, lk.len);
			w->last_len = lk.len;
			w->empty = false;
		}
	} else {
		/* the cursor is on the key found above (nothing moved it) */
		db_cur_del(&w->cur);
	}
	*changed = true;
	return txn->ret;
}

/*
 * Apply ch[0..n) to the set in key order (stable: changes to one key keep
 * their order, so a later one sees the earlier), setting changed[i].  Key
 * order keeps consecutive changes on neighbouring pages: found from the
 * current leaf or along a path still in cache.  The order array is kept in
 * \p s between calls (used under the writer lock only).
 */
struct order_ctx {
	const store_change_t *ch;
};

static int order_cmp(const void *x, const void *y, void *arg)
{
	const store_change_t *ch = ((const struct order_ctx *)arg)->ch;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	ks_view_t a = ch[i].key, b = ch[j].key;
	size_t n = a.len < b.len ? a.len : b.len;
	int c = memcmp(a.ptr, b.ptr, n);
	if (c == 0)
		c = (a.len > b.len) - (a.len < b.len);
	if (c == 0)
		c = (i > j) - (i < j);
	return c;
}

int store__set_apply_sorted(store_t *s, db_txn_t *txn, unsigned set,
			    const store_change_t *ch, size_t n)
{
	struct order_ctx oc = { ch };
	if (n > SIZE_MAX / sizeof(*s->order))
		return KS_ELIMIT;
	if (n > s->order_cap) {
		size_t *o = realloc(s->order, n * sizeof(*o));
		if (!o)
			return KS_ENOMEM;
		s->order = o;
		bool *c = realloc(s->changed, n * sizeof(*c));
		if (!c)
			return KS_ENOMEM;
		s->changed = c;
		s->order_cap = n;
	}
	bool sorted = true;
	for (size_t i = 0; i < n; i++) {
		s->order[i] = i;
		if (i > 0 && sorted &&
		    order_cmp(&s->order[i - 1], &s->order[i], &oc) > 0)
			sorted = false;
	}
	if (!sorted)
		qsort_r(s->order, n, sizeof(*s->order), order_cmp, &oc);
	set_writer_t w;
	int ret = KS_EOK;
	if (!store__set_writer_open(txn, set, &w))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		size_t k = s->order[i];
		if ((ret = store__set_apply(s, txn, &w, &ch[k],
					    &s->changed[k])) != 0)
			break;
	}
fail:
	db_cur_close(&w.cur);
	return ret ? ret : txn->ret;
}
