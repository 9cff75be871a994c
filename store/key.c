/* SPDX-License-Identifier: MIT */
/*
 * Record keys of any length (up to STORE_MAX_KEY) in record sets whose
 * LMDB keys hold at most STORE_LMDB_KEY bytes (see "Long keys" in
 * store.h): the LMDB form of a long key, the encoding of its value, the
 * lookup of a key through a cursor (collisions included) and an iterator
 * that yields a set's records in the byte order of their full keys.
 */
#define _GNU_SOURCE /* qsort_r */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/wire.h"
#include "store/internal.h"

bool store__key_weak_hash = false;

/* Byte offsets in the LMDB form of a long key. */
#define LONG_SEP  STORE_KEY_PREFIX	 /* the 0x00 byte */
#define LONG_HASH (STORE_KEY_PREFIX + 1) /* 31 hash bytes */
#define LONG_SLOT (STORE_LMDB_KEY - 1)	 /* slot byte */
#define LONG_RUN  (STORE_LMDB_KEY - 1)	 /* bytes shared by a key's slots */
#define LONG_VHDR 4u			 /* u32be key length */

static int view_cmp(ks_view_t a, ks_view_t b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
	return c ? c : (a.len > b.len) - (a.len < b.len);
}

static bool view_eq(ks_view_t a, ks_view_t b)
{
	return a.len == b.len &&
	       (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool store__key_is_long(ks_view_t key)
{
	return key.len > STORE_LMDB_KEY ||
	       (key.len == STORE_LMDB_KEY && key.ptr[LONG_SEP] == 0);
}

bool store__lkey_is_long(ks_view_t lkey)
{
	return lkey.len == STORE_LMDB_KEY && lkey.ptr[LONG_SEP] == 0;
}

int store__key_long_form(ks_view_t key, uint8_t out[STORE_LMDB_KEY])
{
	uint8_t h[32];
	int ret = dg_sha256(key, h);
	if (ret)
		return ret;
	if (store__key_weak_hash)
		memset(h, 0, sizeof(h));
	memcpy(out, key.ptr, STORE_KEY_PREFIX);
	out[LONG_SEP] = 0;
	memcpy(out + LONG_HASH, h, LONG_SLOT - LONG_HASH);
	out[LONG_SLOT] = 0;
	return KS_EOK;
}

size_t store__long_value_len(ks_view_t key, ks_view_t value)
{
	return LONG_VHDR + key.len + value.len;
}

void store__long_value_write(uint8_t *dst, ks_view_t key, ks_view_t value)
{
	ks_put_u32be(dst, (uint32_t)key.len);
	memcpy(dst + LONG_VHDR, key.ptr, key.len);
	if (value.len)
		memcpy(dst + LONG_VHDR + key.len, value.ptr, value.len);
}

int store__rec_decode(ks_view_t lk, ks_view_t lv, ks_view_t *key,
		      ks_view_t *value)
{
	if (lk.len == 0 || lk.len > STORE_LMDB_KEY)
		return KS_ECORRUPT;
	if (!store__lkey_is_long(lk)) {
		*key = lk;
		*value = lv;
		return KS_EOK;
	}
	if (lv.len < LONG_VHDR)
		return KS_ECORRUPT;
	uint32_t klen = ks_get_u32be(lv.ptr);
	if (klen > STORE_MAX_KEY || klen > lv.len - LONG_VHDR)
		return KS_ECORRUPT;
	ks_view_t k = bv(lv.ptr + LONG_VHDR, klen);
	if (!store__key_is_long(k) || memcmp(k.ptr, lk.ptr, STORE_KEY_PREFIX))
		return KS_ECORRUPT;
	*key = k;
	*value = bv(lv.ptr + LONG_VHDR + klen, lv.len - LONG_VHDR - klen);
	return KS_EOK;
}

/*
 * A long key's slots are the LMDB keys sharing its first LONG_RUN bytes:
 * normally one, more only when the hashes of different keys with the same
 * prefix collide.  Walk them, comparing full keys.
 */
static int locate_long(db_cur_t *cur, ks_view_t key, store__rec_pos_t *pos)
{
	uint8_t used[256 / 8] = { 0 };
	ks_view_t k, v, fk, fv;
	int ret = store__key_long_form(key, pos->lkey);
	if (ret)
		return ret;
	pos->lkey_len = STORE_LMDB_KEY;
	for (bool ok = db_cur_seek(cur, bv(pos->lkey, STORE_LMDB_KEY), &k, &v);
	     ok && k.len == STORE_LMDB_KEY &&
	     memcmp(k.ptr, pos->lkey, LONG_RUN) == 0;
	     ok = db_cur_next(cur, &k, &v)) {
		if (store__rec_decode(k, v, &fk, &fv) != 0) {
			ks_log_err(STORE, "long-key record malformed");
			return KS_ECORRUPT;
		}
		uint8_t slot = k.ptr[LONG_SLOT];
		if (view_eq(fk, key)) {
			pos->lkey[LONG_SLOT] = slot;
			pos->found = true;
			pos->value = fv;
			return KS_EOK; /* the cursor is on it */
		}
		used[slot / 8] |= (uint8_t)(1u << (slot % 8));
	}
	if (cur->txn->ret)
		return cur->txn->ret;
	for (unsigned i = 0; i < 256; i++) {
		if (!(used[i / 8] & (1u << (i % 8)))) {
			pos->lkey[LONG_SLOT] = (uint8_t)i;
			return KS_EOK;
		}
	}
	ks_log_err(STORE, "256 long keys share one prefix and hash");
	return KS_ELIMIT;
}

int store__rec_locate(db_cur_t *cur, ks_view_t key, store__rec_pos_t *pos)
{
	pos->found = false;
	pos->value = (ks_view_t){ 0 };
	if (store__key_is_long(key))
		return locate_long(cur, key, pos);
	memcpy(pos->lkey, key.ptr, key.len);
	pos->lkey_len = key.len;
	pos->found = db_cur_find(cur, key, &pos->value);
	return cur->txn->ret;
}

bool store__rec_get(db_txn_t *txn, unsigned set, ks_view_t key,
		    ks_view_t *value)
{
	if (!store__key_is_long(key))
		return db_get(txn, rec_db(set), key, value);
	db_cur_t cur;
	store__rec_pos_t pos;
	if (!db_cur_open(txn, rec_db(set), &cur))
		return false;
	int ret = store__rec_locate(&cur, key, &pos);
	db_cur_close(&cur);
	if (ret) {
		db_txn_fail(txn, ret);
		return false;
	}
	if (pos.found)
		*value = pos.value;
	return pos.found;
}

/* --- iteration in full-key order ----------------------------------------- */

/*
 * LMDB orders a long key by its first STORE_KEY_PREFIX bytes and then by
 * hash, not by the rest of the key.  Every key sharing those first bytes
 * (a "group": short keys of at least STORE_KEY_PREFIX bytes and long keys)
 * is contiguous in LMDB, and groups and other keys are in the right order
 * relative to each other, so sorting each group of two or more entries by
 * full key gives the full-key order.  Groups are one entry unless names
 * share their first STORE_KEY_PREFIX bytes.
 */

static int ent_cmp(const void *a, const void *b, void *arg)
{
	(void)arg;
	const store__rec_ent_t *x = a, *y = b;
	return view_cmp(x->key, y->key);
}

/* Next raw entry (peeked, sought or the cursor's next). */
static bool raw_next(store__rec_iter_t *it, ks_view_t *k, ks_view_t *v)
{
	if (it->have_peek) {
		it->have_peek = false;
		*k = it->pk;
		*v = it->pv;
		return true;
	}
	if (it->done)
		return false;
	bool ok;
	if (!it->started) {
		it->started = true;
		ok = db_cur_seek(&it->cur, it->seek, k, v);
	} else {
		ok = db_cur_next(&it->cur, k, v);
	}
	if (!ok)
		it->done = true;
	return ok;
}

static int group_push(store__rec_iter_t *it, ks_view_t k, ks_view_t v)
{
	if (it->n == it->cap) {
		size_t cap = it->cap ? 2 * it->cap : 8;
		store__rec_ent_t *g = realloc(it->grp, cap * sizeof(*g));
		if (!g)
			return KS_ENOMEM;
		it->grp = g;
		it->cap = cap;
	}
	store__rec_ent_t *e = &it->grp[it->n];
	if (store__rec_decode(k, v, &e->key, &e->value) != 0) {
		ks_log_err(STORE, "record of %zu-byte LMDB key malformed",
			   k.len);
		return KS_ECORRUPT;
	}
	it->n++;
	return KS_EOK;
}

/* Fill the group with the entries sharing the first entry's prefix. */
static int group_fill(store__rec_iter_t *it, ks_view_t k, ks_view_t v)
{
	ks_view_t first = k;
	int ret;
	it->n = it->pos = 0;
	if ((ret = group_push(it, k, v)) != 0)
		return ret;
	if (k.len < STORE_KEY_PREFIX)
		return KS_EOK;
	while (raw_next(it, &k, &v)) {
		if (k.len < STORE_KEY_PREFIX ||
		    memcmp(k.ptr, first.ptr, STORE_KEY_PREFIX) != 0) {
			it->have_peek = true;
			it->pk = k;
			it->pv = v;
			break;
		}
		if ((ret = group_push(it, k, v)) != 0)
			return ret;
	}
	if (it->cur.txn->ret)
		return it->cur.txn->ret;
	if (it->n > 1)
		qsort_r(it->grp, it->n, sizeof(*it->grp), ent_cmp, NULL);
	return KS_EOK;
}

bool store__rec_iter_open(db_txn_t *txn, unsigned set, ks_view_t from,
			  store__rec_iter_t *it)
{
	memset(it, 0, sizeof(*it));
	it->from = from;
	it->seek = from.len > STORE_KEY_PREFIX ? bv(from.ptr, STORE_KEY_PREFIX)
					       : from;
	return db_cur_open(txn, rec_db(set), &it->cur);
}

bool store__rec_iter_next(store__rec_iter_t *it, ks_view_t *key,
			  ks_view_t *value)
{
	ks_view_t k, v;
	for (;;) {
		if (it->err)
			return false;
		if (it->pos == it->n) {
			if (!raw_next(it, &k, &v))
				return false;
			if ((it->err = group_fill(it, k, v)) != 0)
				return false;
		}
		const store__rec_ent_t *e = &it->grp[it->pos++];
		/* a seek to a long key's prefix may start before it */
		if (it->from.len > STORE_KEY_PREFIX &&
		    view_cmp(e->key, it->from) < 0)
			continue;
		*key = e->key;
		*value = e->value;
		return true;
	}
}

int store__rec_iter_close(store__rec_iter_t *it)
{
	int ret = it->err ? it->err : it->cur.txn ? it->cur.txn->ret : 0;
	db_cur_close(&it->cur);
	free(it->grp);
	it->grp = NULL;
	return ret;
}
