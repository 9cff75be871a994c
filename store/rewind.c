/* SPDX-License-Identifier: MIT */
/*
 * store_rewind(): a follower goes back to the seq where its history and the
 * one it will follow diverged (store.h): fixups put the records back to
 * the followed node's values, the log after that seq is dropped, and the
 * own and applied positions meet there.
 */
#include <string.h>

#include "common/log.h"
#include "common/wire.h"
#include "store/internal.h"

struct rewind_ctx {
	uint64_t seq;
	const store_change_t *fix;
	size_t n;
	uint64_t dropped;
};

static int rewind_fn(store_t *s, db_txn_t *txn, void *arg)
{
	struct rewind_ctx *r = arg;
	meta_t m;
	int ret = store__meta_load(txn, &m);
	if (ret)
		return ret;
	if (r->seq > m.last_seq)
		return KS_ERANGE;
	if ((ret = store__set_apply_sorted(s, txn, m.live, r->fix, r->n)) != 0)
		return ret;
	if ((ret = store__delta_flush(s, txn, &m, m.live)) != 0)
		return ret;
	/* Drop the log after seq, newest first. */
	db_cur_t cur;
	ks_view_t k, v;
	r->dropped = 0;
	if (!db_cur_open(txn, DB_LOG, &cur))
		return txn->ret;
	while (db_cur_last(&cur, &k, &v)) {
		if (k.len != 8 || 8 + v.len > m.log_bytes) {
			db_cur_close(&cur);
			ks_log_err(STORE,
				   "malformed log entry while rewinding");
			return KS_ECORRUPT;
		}
		if (ks_get_u64be(k.ptr) <= r->seq)
			break;
		m.log_bytes -= 8 + v.len;
		if (!db_cur_del(&cur))
			break;
		r->dropped++;
	}
	db_cur_close(&cur);
	store__relay_drop_after(txn, r->seq);
	if (txn->ret)
		return txn->ret;
	if (m.oldest_seq > r->seq + 1)
		m.oldest_seq = r->seq + 1;
	m.last_seq = r->seq;
	memcpy(m.applied_history, m.history, 16);
	m.applied_seq = r->seq;
	if (m.prev_last_seq > r->seq) { /* that history ended after us */
		memset(m.prev_history, 0, 16);
		m.prev_last_seq = 0;
	}
	store__meta_save(txn, &m);
	return txn->ret;
}

int store_rewind(store_t *s, uint64_t seq, const store_change_t *fix, size_t n)
{
	if (!s)
		return KS_EINVAL;
	int ret = store__check_changes(fix, n, false);
	if (ret)
		return ret;
	struct rewind_ctx r = { .seq = seq, .fix = fix, .n = n };
	ret = store__write(s, rewind_fn, &r);
	if (ret)
		ks_log_err(STORE, "rewind to seq %llu failed (%s)",
			   (unsigned long long)seq, ks_strerror(ret));
	else
		ks_log_notice(STORE,
			      "rewound to seq %llu: %llu log entries and %zu "
			      "records put back",
			      (unsigned long long)seq,
			      (unsigned long long)r.dropped, n);
	return ret;
}
