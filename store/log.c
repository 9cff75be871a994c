/* SPDX-License-Identifier: MIT */
/*
 * The change log: entries appended by commits and applies, parsed and
 * iterated in seq order, and trimmed from the oldest end to the retention
 * limits in bounded transactions.
 */
#include <string.h>

#include "common/log.h"
#include "common/wire.h"
#include "store/internal.h"

#define TRIM_CHUNK 10000u /* log entries deleted per trim txn */

void store__log_append(db_cur_t *cur, meta_t *m, uint64_t seq,
		       const store_change_t *c, uint64_t time_us)
{
	uint8_t k[8];
	ks_put_u64be(k, seq);
	size_t vlen = c->op == STORE_PUT ? c->value.len : 0;
	size_t len = STORE_LOG_HDR + c->key.len + vlen;
	uint8_t *p = db_cur_put_reserve(cur, bv(k, 8), len, true);
	if (!p)
		return;
	p[0] = (uint8_t)c->op;
	ks_put_u64be(p + 1, time_us);
	ks_put_u32be(p + 9, (uint32_t)c->key.len);
	memcpy(p + STORE_LOG_HDR, c->key.ptr, c->key.len);
	if (vlen)
		memcpy(p + STORE_LOG_HDR + c->key.len, c->value.ptr, vlen);
	m->log_bytes += 8 + len;
}
int store__log_parse(ks_view_t key, ks_view_t val, store_log_entry_t *e)
{
	if (key.len != 8 || val.len < STORE_LOG_HDR)
		return KS_ECORRUPT;
	e->seq = ks_get_u64be(key.ptr);
	uint8_t op = val.ptr[0];
	e->commit_time_us = ks_get_u64be(val.ptr + 1);
	uint32_t klen = ks_get_u32be(val.ptr + 9);
	size_t rest = val.len - STORE_LOG_HDR;
	if ((op != STORE_PUT && op != STORE_DEL) || klen == 0 ||
	    klen > STORE_MAX_KEY || klen > rest ||
	    (op == STORE_DEL && klen != rest))
		return KS_ECORRUPT;
	e->op = (enum store_op)op;
	e->key = bv(val.ptr + STORE_LOG_HDR, klen);
	e->value = bv(val.ptr + STORE_LOG_HDR + klen, rest - klen);
	return KS_EOK;
}

int store_log_foreach(store_txn_t *t, uint64_t from_seq, store_log_cb cb,
		      void *ctx)
{
	if (!t || !cb)
		return KS_EINVAL;
	const meta_t *m = &t->m;
	if (from_seq < m->oldest_seq)
		return KS_ESTALE;
	if (from_seq > m->last_seq + 1)
		return KS_ERANGE;
	if (from_seq > m->last_seq)
		return KS_EOK;
	db_cur_t cur;
	ks_view_t k, v;
	uint8_t kb[8];
	uint64_t expect = from_seq;
	int ret = 0;
	ks_put_u64be(kb, from_seq);
	if (!db_cur_open(&t->txn, DB_LOG, &cur))
		return t->txn.ret;
	for (bool ok = db_cur_seek(&cur, bv(kb, 8), &k, &v);
	     ok && expect <= m->last_seq; ok = db_cur_next(&cur, &k, &v)) {
		store_log_entry_t e;
		if (store__log_parse(k, v, &e) != 0 || e.seq != expect) {
			ks_log_err(STORE,
				   "log entry at seq %llu malformed or missing",
				   (unsigned long long)expect);
			ret = KS_ECORRUPT;
			break;
		}
		expect++;
		if ((ret = cb(&e, ctx)) != 0)
			break;
	}
	db_cur_close(&cur);
	if (ret)
		return ret;
	if (t->txn.ret)
		return t->txn.ret;
	if (expect != m->last_seq + 1) {
		ks_log_err(STORE, "log ends at seq %llu, meta says %llu",
			   (unsigned long long)expect - 1,
			   (unsigned long long)m->last_seq);
		return KS_ECORRUPT;
	}
	return KS_EOK;
}

struct trim_ctx {
	uint64_t keep_from;
	uint64_t dropped; /* this txn */
	uint64_t forced;  /* protected entries dropped for the hard cap */
	uint64_t new_oldest;
};

static int trim_fn(store_t *s, db_txn_t *txn, void *arg)
{
	struct trim_ctx *c = arg;
	meta_t m;
	int ret = store__meta_load(txn, &m);
	if (ret)
		return ret;
	c->dropped = 0;
	c->forced = 0;
	db_cur_t cur;
	ks_view_t k, v;
	if (!db_cur_open(txn, DB_LOG, &cur))
		return txn->ret;
	while (c->dropped < TRIM_CHUNK && m.oldest_seq <= m.last_seq) {
		uint64_t n = m.last_seq - m.oldest_seq + 1;
		bool over = n > s->opts.retain_count ||
			    m.log_bytes > s->opts.retain_bytes;
		bool over_cap = m.log_bytes > s->opts.hard_cap_bytes;
		bool protected = m.oldest_seq >= c->keep_from;
		if (!((over && !protected) || over_cap))
			break;
		if (!db_cur_first(&cur, &k, &v))
			break;
		if (k.len != 8 || ks_get_u64be(k.ptr) != m.oldest_seq ||
		    8 + v.len > m.log_bytes) {
			ks_log_err(STORE,
				   "log does not start at oldest_seq %llu",
				   (unsigned long long)m.oldest_seq);
			db_cur_close(&cur);
			return KS_ECORRUPT;
		}
		m.log_bytes -= 8 + v.len;
		if (!db_cur_del(&cur))
			break;
		if (protected)
			c->forced++;
		m.oldest_seq++;
		c->dropped++;
	}
	db_cur_close(&cur);
	if (c->dropped)
		store__relay_trim(txn, m.oldest_seq);
	if (txn->ret)
		return txn->ret;
	c->new_oldest = m.oldest_seq;
	if (c->dropped)
		store__meta_save(txn, &m);
	return txn->ret;
}

int store_log_trim(store_t *s, uint64_t keep_from_seq)
{
	if (!s)
		return KS_EINVAL;
	struct trim_ctx c = { .keep_from = keep_from_seq };
	uint64_t total = 0, forced = 0;
	int ret;
	do {
		if ((ret = store__write(s, trim_fn, &c)) != 0)
			return ret;
		total += c.dropped;
		forced += c.forced;
	} while (c.dropped == TRIM_CHUNK);
	if (forced)
		ks_log_warn(
			STORE,
			"log over the hard cap of %llu bytes: dropped %llu entries a peer still needs",
			(unsigned long long)s->opts.hard_cap_bytes,
			(unsigned long long)forced);
	if (total)
		ks_log_info(STORE,
			    "log trimmed by %llu entries, oldest seq now %llu",
			    (unsigned long long)total,
			    (unsigned long long)c.new_oldest);
	return KS_EOK;
}
