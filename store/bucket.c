/* SPDX-License-Identifier: MIT */
/*
 * Bucket tables (see the digest design in store.h): the per-bucket deltas
 * a write transaction accumulates and folds into its set's table and meta,
 * range digests over the live table, bucket listings for bisection, and
 * the public key-bucket and record-hash functions.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/wire.h"
#include "store/internal.h"

/* --- write transactions -------------------------------------------------- */

void store__delta_reset(store_t *s)
{
	for (size_t i = 0; i < s->ndirty; i++) {
		uint16_t b = s->dirty_list[i];
		s->dirty[b] = false;
		memset(&s->delta[b], 0, sizeof(s->delta[b]));
	}
	s->ndirty = 0;
}

void store__delta_note(store_t *s, uint32_t b, const uint8_t h[32], bool add)
{
	dg256_t x;
	dg_from_bytes(&x, h);
	if (!s->dirty[b]) {
		s->dirty[b] = true;
		s->dirty_list[s->ndirty++] = (uint16_t)b;
	}
	if (add) {
		dg_add(&s->delta[b].add, &x);
		s->delta[b].count++;
	} else {
		dg_add(&s->delta[b].sub, &x);
		s->delta[b].count--;
	}
}

bool store__bkt_parse(ks_view_t key, ks_view_t val, uint32_t *bucket,
		      dg256_t *d, uint64_t *count)
{
	if (key.len != 2 || val.len != 40)
		return false;
	*bucket = (uint32_t)key.ptr[0] << 8 | key.ptr[1];
	if (*bucket >= STORE_BUCKETS)
		return false;
	dg_from_bytes(d, val.ptr);
	*count = ks_get_u64be(val.ptr + 32);
	return true;
}

static int bucket_cmp(const void *x, const void *y)
{
	uint16_t a = *(const uint16_t *)x, b = *(const uint16_t *)y;
	return (a > b) - (a < b);
}

/*
 * Fold the pending bucket deltas into set \p set's bucket table and meta,
 * in bucket order through one cursor (neighbouring buckets share a leaf).
 */
int store__delta_flush(store_t *s, db_txn_t *txn, meta_t *m, unsigned set)
{
	db_cur_t cur;
	int ret = KS_EOK;
	qsort(s->dirty_list, s->ndirty, sizeof(s->dirty_list[0]), bucket_cmp);
	if (!db_cur_open(txn, bkt_db(set), &cur))
		return txn->ret;
	for (size_t i = 0; i < s->ndirty && txn->ret == 0; i++) {
		uint16_t b = s->dirty_list[i];
		const bucket_delta_t *bd = &s->delta[b];
		uint8_t k[2] = { (uint8_t)(b >> 8), (uint8_t)b };
		dg256_t d = { { 0 } };
		uint64_t count = 0;
		uint32_t got;
		ks_view_t v;
		bool found = db_cur_find(&cur, bv(k, 2), &v);
		if (found && !store__bkt_parse(bv(k, 2), v, &got, &d, &count)) {
			ks_log_err(STORE, "bucket %u entry malformed", b);
			ret = KS_ECORRUPT;
			break;
		}
		dg_add(&d, &bd->add);
		dg_sub(&d, &bd->sub);
		if (bd->count < 0 && (uint64_t)-bd->count > count) {
			ks_log_err(STORE, "bucket %u count underflow", b);
			ret = KS_ECORRUPT;
			break;
		}
		count = (uint64_t)((int64_t)count + bd->count);
		if (count == 0) {
			if (!dg_is_zero(&d)) {
				ks_log_err(
					STORE,
					"bucket %u empty with nonzero digest",
					b);
				ret = KS_ECORRUPT;
				break;
			}
			if (found) /* the cursor is on it */
				db_cur_del(&cur);
		} else {
			uint8_t val[40];
			dg_to_bytes(&d, val);
			ks_put_u64be(val + 32, count);
			db_cur_put(&cur, bv(k, 2), bv(val, 40), false);
		}
		dg_add(&m->set_digest[set], &bd->add);
		dg_sub(&m->set_digest[set], &bd->sub);
		if (bd->count < 0 && (uint64_t)-bd->count > m->set_count[set]) {
			ks_log_err(STORE, "set %u count underflow", set);
			ret = KS_ECORRUPT;
			break;
		}
		m->set_count[set] =
			(uint64_t)((int64_t)m->set_count[set] + bd->count);
	}
	db_cur_close(&cur);
	return ret ? ret : txn->ret;
}
/* --- digests ------------------------------------------------------------- */

uint32_t store_key_bucket(ks_view_t key)
{
	return dg_bucket(key);
}

int store_record_hash(ks_view_t key, ks_view_t value, uint8_t out[32])
{
	dg_ctx_t *ctx;
	int ret = dg_ctx_new(&ctx);
	if (ret)
		return ret;
	ret = dg_record_hash(ctx, key, value, out);
	dg_ctx_free(ctx);
	return ret;
}

void store_digest_add(uint8_t acc[32], const uint8_t x[32])
{
	dg256_t a, b;

	dg_from_bytes(&a, acc);
	dg_from_bytes(&b, x);
	dg_add(&a, &b);
	dg_to_bytes(&a, acc);
}

struct store_digest_acc {
	dg_ctx_t *ctx;
	dg256_t sum;
};

int store_digest_acc_new(store_digest_acc_t **out)
{
	store_digest_acc_t *a = calloc(1, sizeof(*a));
	int ret;

	*out = NULL;
	if (a == NULL)
		return KS_ENOMEM;
	if ((ret = dg_ctx_new(&a->ctx)) != 0) {
		free(a);
		return ret;
	}
	*out = a;
	return KS_EOK;
}

int store_digest_acc_add(store_digest_acc_t *a, ks_view_t key, ks_view_t value)
{
	uint8_t h[32];
	dg256_t x;
	int ret = dg_record_hash(a->ctx, key, value, h);

	if (ret)
		return ret;
	dg_from_bytes(&x, h);
	dg_add(&a->sum, &x);
	return KS_EOK;
}

void store_digest_acc_get(const store_digest_acc_t *a, uint8_t out[32])
{
	dg_to_bytes(&a->sum, out);
}

void store_digest_acc_free(store_digest_acc_t *a)
{
	if (a == NULL)
		return;
	dg_ctx_free(a->ctx);
	free(a);
}

int store_range_digest(store_txn_t *t, uint32_t lo, uint32_t hi,
		       uint8_t digest[32], uint64_t *count)
{
	if (!t || lo > hi || hi > STORE_BUCKETS)
		return KS_EINVAL;
	dg256_t sum = { { 0 } };
	uint64_t n = 0;
	db_cur_t cur;
	ks_view_t k, v;
	uint8_t kb[2] = { (uint8_t)(lo >> 8), (uint8_t)lo };
	int ret = 0;
	if (lo < hi && db_cur_open(&t->txn, bkt_db(t->m.live), &cur)) {
		for (bool ok = db_cur_seek(&cur, bv(kb, 2), &k, &v); ok;
		     ok = db_cur_next(&cur, &k, &v)) {
			uint32_t b;
			dg256_t d;
			uint64_t c;
			if (!store__bkt_parse(k, v, &b, &d, &c)) {
				ks_log_err(STORE,
					   "bucket table entry malformed");
				ret = KS_ECORRUPT;
				break;
			}
			if (b >= hi)
				break;
			dg_add(&sum, &d);
			n += c;
		}
		db_cur_close(&cur);
	}
	if (!ret)
		ret = t->txn.ret;
	if (ret)
		return ret;
	if (digest)
		dg_to_bytes(&sum, digest);
	if (count)
		*count = n;
	return KS_EOK;
}

int store_bucket_foreach(store_txn_t *t, uint32_t lo, uint32_t hi,
			 store_bucket_cb cb, void *ctx)
{
	if (!t || !cb || lo > hi || hi > STORE_BUCKETS)
		return KS_EINVAL;
	dg_ctx_t *dg;
	store__rec_iter_t it;
	ks_view_t k, v;
	uint8_t h[32];
	int ret = dg_ctx_new(&dg);
	if (ret)
		return ret;
	if (store__rec_iter_open(&t->txn, t->m.live, (ks_view_t){ 0 }, &it)) {
		while (store__rec_iter_next(&it, &k, &v)) {
			uint32_t b = dg_bucket(k);
			if (b < lo || b >= hi)
				continue;
			if ((ret = dg_record_hash(dg, k, v, h)) != 0 ||
			    (ret = cb(b, k, v, h, ctx)) != 0)
				break;
		}
	}
	int iret = store__rec_iter_close(&it);
	dg_ctx_free(dg);
	return ret ? ret : iret ? iret : t->txn.ret;
}
