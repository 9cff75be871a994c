/* SPDX-License-Identifier: MIT */
/*
 * Relayed batches (store.h): the signed blob of each applied batch, kept
 * as received under its first seq so that a replica can serve it, byte
 * for byte, to replicas of its own; dropped with the log entries it
 * covers.
 */
#include "common/wire.h"
#include "store/internal.h"

#define RELAY_HDR 8u /* u64be last seq, then the blob */

void store__relay_put(db_txn_t *txn, uint64_t first, uint64_t last,
		      ks_view_t blob)
{
	uint8_t k[8];
	uint8_t *p;

	ks_put_u64be(k, first);
	p = db_put_reserve(txn, DB_RELAY, bv(k, 8), RELAY_HDR + blob.len,
			   false);
	if (p == NULL)
		return;
	ks_put_u64be(p, last);
	memcpy(p + RELAY_HDR, blob.ptr, blob.len);
}

void store__relay_trim(db_txn_t *txn, uint64_t oldest_seq)
{
	db_cur_t cur;
	ks_view_t k, v;

	if (!db_cur_open(txn, DB_RELAY, &cur))
		return;
	while (db_cur_first(&cur, &k, &v)) {
		if (k.len == 8 && ks_get_u64be(k.ptr) >= oldest_seq)
			break;
		if (!db_cur_del(&cur))
			break;
	}
	db_cur_close(&cur);
}

void store__relay_drop_after(db_txn_t *txn, uint64_t seq)
{
	db_cur_t cur;
	ks_view_t k, v;

	if (!db_cur_open(txn, DB_RELAY, &cur))
		return;
	while (db_cur_last(&cur, &k, &v)) {
		if (k.len == 8 && v.len >= RELAY_HDR &&
		    ks_get_u64be(v.ptr) <= seq)
			break;
		if (!db_cur_del(&cur))
			break;
	}
	db_cur_close(&cur);
}

int store_relay_get(store_txn_t *t, uint64_t first_seq, ks_view_t *blob,
		    uint64_t *last_seq)
{
	uint8_t k[8];
	ks_view_t v;

	if (!t || !blob)
		return KS_EINVAL;
	ks_put_u64be(k, first_seq);
	if (!db_get(&t->txn, DB_RELAY, bv(k, 8), &v))
		return t->txn.ret ? t->txn.ret : KS_ENOENT;
	if (v.len <= RELAY_HDR || ks_get_u64be(v.ptr) < first_seq)
		return KS_ECORRUPT;
	if (last_seq)
		*last_seq = ks_get_u64be(v.ptr);
	*blob = bv(v.ptr + RELAY_HDR, v.len - RELAY_HDR);
	return KS_EOK;
}
