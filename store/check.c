/* SPDX-License-Identifier: MIT */
/*
 * store_check(): a full consistency check of one store, for tests (called
 * after every mutation) and for operators after a crash.  It recomputes in
 * one read transaction everything the write path maintains incrementally
 * and reports the first violated invariant (logged) as KS_ECORRUPT.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/wire.h"
#include "store/internal.h"

#define FAIL(...)                                                              \
	do {                                                                   \
		ks_log_err(STORE, "check: " __VA_ARGS__);                      \
		ret = KS_ECORRUPT;                                             \
		goto fail;                                                     \
	} while (0)

/* Set of borrowed key views (open addressing), for the log/record check. */
typedef struct keyset {
	ks_view_t *slot;
	size_t mask;
} keyset_t;

static uint64_t key_hash(ks_view_t k)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < k.len; i++) {
		h ^= k.ptr[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

/* Insert; returns true if the key was new. */
static bool keyset_add(keyset_t *ks, ks_view_t k)
{
	size_t i = key_hash(k) & ks->mask;
	while (ks->slot[i].ptr) {
		if (ks->slot[i].len == k.len &&
		    memcmp(ks->slot[i].ptr, k.ptr, k.len) == 0)
			return false;
		i = (i + 1) & ks->mask;
	}
	ks->slot[i] = k;
	return true;
}

static int check_log(store_txn_t *t)
{
	const meta_t *m = &t->m;
	db_txn_t *txn = &t->txn;
	db_cur_t cur = { 0 };
	ks_view_t k, v;
	keyset_t seen = { 0 };
	int ret = KS_EOK;
	uint64_t expect = m->oldest_seq, bytes = 0, n = 0;
	if (!db_cur_open(txn, DB_LOG, &cur))
		return txn->ret;
	/* Contiguity, well-formedness and the byte total. */
	for (bool ok = db_cur_first(&cur, &k, &v); ok;
	     ok = db_cur_next(&cur, &k, &v)) {
		store_log_entry_t e;
		if (store__log_parse(k, v, &e) != 0)
			FAIL("log entry after seq %llu malformed",
			     (unsigned long long)expect - 1);
		if (e.seq != expect)
			FAIL("log has seq %llu where %llu was expected",
			     (unsigned long long)e.seq,
			     (unsigned long long)expect);
		if (e.seq > m->last_seq)
			FAIL("log entry %llu beyond last_seq %llu",
			     (unsigned long long)e.seq,
			     (unsigned long long)m->last_seq);
		bytes += 8 + v.len;
		expect++;
		n++;
	}
	if (txn->ret) {
		ret = txn->ret;
		goto fail;
	}
	if (expect != m->last_seq + 1)
		FAIL("log ends at seq %llu, meta last_seq is %llu",
		     (unsigned long long)expect - 1,
		     (unsigned long long)m->last_seq);
	if (bytes != m->log_bytes)
		FAIL("log holds %llu bytes, meta says %llu",
		     (unsigned long long)bytes,
		     (unsigned long long)m->log_bytes);
	/* The newest entry of each key agrees with the live records. */
	size_t cap = 16;
	while (cap < 2 * n)
		cap <<= 1;
	seen.slot = calloc(cap, sizeof(*seen.slot));
	if (!seen.slot) {
		ret = KS_ENOMEM;
		goto fail;
	}
	seen.mask = cap - 1;
	for (bool ok = db_cur_last(&cur, &k, &v); ok;
	     ok = db_cur_prev(&cur, &k, &v)) {
		store_log_entry_t e;
		ks_view_t rec;
		if (store__log_parse(k, v, &e) != 0 ||
		    !keyset_add(&seen, e.key))
			continue;
		bool had = store__rec_get(txn, m->live, e.key, &rec);
		if (txn->ret)
			break;
		if (e.op == STORE_DEL && had)
			FAIL("key '%.*s' deleted at seq %llu is present",
			     (int)e.key.len, (const char *)e.key.ptr,
			     (unsigned long long)e.seq);
		if (e.op == STORE_PUT &&
		    (!had || rec.len != e.value.len ||
		     (rec.len && memcmp(rec.ptr, e.value.ptr, rec.len) != 0)))
			FAIL("key '%.*s' differs from its last change at seq %llu",
			     (int)e.key.len, (const char *)e.key.ptr,
			     (unsigned long long)e.seq);
	}
	ret = txn->ret;
fail:
	free(seen.slot);
	db_cur_close(&cur);
	return ret;
}

static int check_set(store_txn_t *t, dg_ctx_t *dg, unsigned set)
{
	const meta_t *m = &t->m;
	db_txn_t *txn = &t->txn;
	db_cur_t cur = { 0 };
	ks_view_t k, v;
	uint8_t h[32], lform[STORE_LMDB_KEY];
	int ret = KS_EOK;
	dg256_t *bd = calloc(STORE_BUCKETS, sizeof(*bd));
	uint64_t *bc = calloc(STORE_BUCKETS, sizeof(*bc));
	bool *bseen = calloc(STORE_BUCKETS, sizeof(*bseen));
	dg256_t total = { { 0 } };
	uint64_t n = 0;
	if (!bd || !bc || !bseen) {
		ret = KS_ENOMEM;
		goto fail;
	}
	/* Recompute every bucket from the records. */
	if (!db_cur_open(txn, rec_db(set), &cur))
		goto fail_txn;
	for (bool ok = db_cur_first(&cur, &k, &v); ok;
	     ok = db_cur_next(&cur, &k, &v)) {
		ks_view_t rk, rv;
		if (store__rec_decode(k, v, &rk, &rv) != 0)
			FAIL("set %u has a malformed record (LMDB key of %zu bytes)",
			     set, k.len);
		if (store__lkey_is_long(k)) {
			if ((ret = store__key_long_form(rk, lform)) != 0)
				goto fail;
			if (memcmp(lform, k.ptr, STORE_LMDB_KEY - 1) != 0)
				FAIL("set %u: long key of %zu bytes under the wrong LMDB key",
				     set, rk.len);
		}
		if ((ret = dg_record_hash(dg, rk, rv, h)) != 0)
			goto fail;
		dg256_t x;
		dg_from_bytes(&x, h);
		uint32_t b = dg_bucket(rk);
		dg_add(&bd[b], &x);
		dg_add(&total, &x);
		bc[b]++;
		n++;
	}
	db_cur_close(&cur);
	if (txn->ret)
		goto fail_txn;
	if (n != m->set_count[set])
		FAIL("set %u has %llu records, meta says %llu", set,
		     (unsigned long long)n,
		     (unsigned long long)m->set_count[set]);
	if (!dg_equal(&total, &m->set_digest[set]))
		FAIL("set %u digest differs from a full recomputation", set);
	/* Compare with the stored bucket table. */
	if (!db_cur_open(txn, bkt_db(set), &cur))
		goto fail_txn;
	for (bool ok = db_cur_first(&cur, &k, &v); ok;
	     ok = db_cur_next(&cur, &k, &v)) {
		uint32_t b;
		dg256_t d;
		uint64_t c;
		if (!store__bkt_parse(k, v, &b, &d, &c))
			FAIL("set %u bucket table entry malformed", set);
		if (c == 0)
			FAIL("set %u bucket %u stored with count 0", set, b);
		if (c != bc[b] || !dg_equal(&d, &bd[b]))
			FAIL("set %u bucket %u: stored %llu records, recomputed %llu, digest %s",
			     set, b, (unsigned long long)c,
			     (unsigned long long)bc[b],
			     dg_equal(&d, &bd[b]) ? "equal" : "differs");
		bseen[b] = true;
	}
	db_cur_close(&cur);
	if (txn->ret)
		goto fail_txn;
	for (uint32_t b = 0; b < STORE_BUCKETS; b++)
		if (!bseen[b] && bc[b] != 0)
			FAIL("set %u bucket %u missing (%llu records)", set, b,
			     (unsigned long long)bc[b]);
	goto fail;
fail_txn:
	ret = txn->ret;
fail:
	db_cur_close(&cur);
	free(bd);
	free(bc);
	free(bseen);
	return ret;
}

static int check_meta_peers(store_txn_t *t)
{
	static const uint8_t zero[16];
	const meta_t *m = &t->m;
	db_txn_t *txn = &t->txn;
	db_cur_t cur = { 0 };
	ks_view_t k, v;
	int ret = KS_EOK;
	if (memcmp(m->history, zero, 16) == 0)
		FAIL("history id is all-zero");
	if (memcmp(m->prev_history, zero, 16) == 0 && m->prev_last_seq != 0)
		FAIL("prev_last_seq %llu without a previous history",
		     (unsigned long long)m->prev_last_seq);
	/* (prev_last_seq may exceed last_seq: a replica that adopted a new
	 * history records the primary's fork point, which it may not have
	 * reached yet.) */
	if (memcmp(m->applied_history, m->history, 16) == 0 &&
	    m->applied_seq > m->last_seq)
		FAIL("applied_seq %llu beyond last_seq %llu",
		     (unsigned long long)m->applied_seq,
		     (unsigned long long)m->last_seq);
	if (!db_cur_open(txn, DB_PEERS, &cur))
		goto fail_txn;
	for (bool ok = db_cur_first(&cur, &k, &v); ok;
	     ok = db_cur_next(&cur, &k, &v)) {
		if (k.len == 0 || k.len > STORE_MAX_PEER_NAME || v.len != 8)
			FAIL("peer entry malformed");
	}
	db_cur_close(&cur);
	if (!db_cur_open(txn, DB_STAGE, &cur))
		goto fail_txn;
	for (bool ok = db_cur_first(&cur, &k, &v); ok;
	     ok = db_cur_next(&cur, &k, &v)) {
		ks_view_t rk, rv;
		if (store__stage_parse(k, v, &rk, &rv) != 0)
			FAIL("stage log entry malformed");
	}
fail_txn:
	if (ret == 0)
		ret = txn->ret;
fail:
	db_cur_close(&cur);
	return ret;
}

int store_check(store_t *s)
{
	store_txn_t *t = NULL;
	dg_ctx_t *dg = NULL;
	if (!s)
		return KS_EINVAL;
	int ret = store_read_begin(s, &t);
	if (ret)
		return ret == KS_EFORMAT ? ret : KS_ECORRUPT;
	if ((ret = dg_ctx_new(&dg)) != 0)
		goto fail;
	if ((ret = check_meta_peers(t)) != 0 || (ret = check_log(t)) != 0 ||
	    (ret = check_set(t, dg, 0)) != 0 ||
	    (ret = check_set(t, dg, 1)) != 0)
		goto fail;
fail:
	dg_ctx_free(dg);
	store_read_end(t);
	return ret;
}
