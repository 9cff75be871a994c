/* SPDX-License-Identifier: MIT */
/*
 * Changes entering the live record set with their log entries: a
 * primary's commits (new seqs), a replica's applies of received batches
 * (the primary's seqs, continuity checked) and a replica adopting a
 * promoted primary's new history.
 */
#include <string.h>

#include "common/log.h"
#include "store/internal.h"

/* --- primary commit ------------------------------------------------------ */

struct commit_ctx {
	const store_change_t *ch;
	size_t n;
	uint64_t time_us, first, last;
};

static int commit_fn(store_t *s, db_txn_t *txn, void *arg)
{
	struct commit_ctx *c = arg;
	meta_t m;
	int ret = store__meta_load(txn, &m);
	if (ret)
		return ret;
	uint64_t seq = m.last_seq;
	if ((ret = store__set_apply_sorted(s, txn, m.live, c->ch, c->n)) != 0)
		return ret;
	db_cur_t lc;
	if (!db_cur_open(txn, DB_LOG, &lc))
		return txn->ret;
	for (size_t i = 0; i < c->n && txn->ret == 0; i++) {
		if (!s->changed[i])
			continue;
		if (seq == UINT64_MAX) {
			db_cur_close(&lc);
			return KS_ERANGE;
		}
		store__log_append(&lc, &m, ++seq, &c->ch[i], c->time_us);
	}
	db_cur_close(&lc);
	if (txn->ret)
		return txn->ret;
	if ((ret = store__delta_flush(s, txn, &m, m.live)) != 0)
		return ret;
	c->first = m.last_seq + 1;
	c->last = seq;
	if (seq != m.last_seq) {
		m.last_seq = seq;
		store__meta_save(txn, &m);
	}
	return txn->ret;
}

int store_commit(store_t *s, const store_change_t *ch, size_t n,
		 uint64_t commit_time_us, uint64_t *first_seq,
		 uint64_t *last_seq)
{
	if (!s)
		return KS_EINVAL;
	int ret = store__check_changes(ch, n, false);
	if (ret)
		return ret;
	struct commit_ctx c = { .ch = ch, .n = n, .time_us = commit_time_us };
	ret = store__write(s, commit_fn, &c);
	if (ret) {
		ks_log_err(STORE, "commit of %zu changes failed (%s)", n,
			   ks_strerror(ret));
		return ret;
	}
	if (first_seq)
		*first_seq = c.first;
	if (last_seq)
		*last_seq = c.last;
	return KS_EOK;
}

/* --- replica apply ------------------------------------------------------- */

static int apply_fn(store_t *s, db_txn_t *txn, void *arg)
{
	const store_batch_t *b = arg;
	meta_t m;
	int ret = store__meta_load(txn, &m);
	if (ret)
		return ret;
	if (memcmp(m.applied_history, b->history, 16) != 0)
		return KS_EHISTORY;
	if (b->first_seq != m.applied_seq + 1)
		return KS_EGAP;
	if (memcmp(m.history, m.applied_history, 16) != 0 ||
	    m.last_seq != m.applied_seq)
		return KS_ESTATE;
	if (b->n > UINT64_MAX - b->first_seq)
		return KS_ERANGE;
	if ((ret = store__set_apply_sorted(s, txn, m.live, b->ch, b->n)) != 0)
		return ret;
	db_cur_t lc;
	if (!db_cur_open(txn, DB_LOG, &lc))
		return txn->ret;
	for (size_t i = 0; i < b->n && txn->ret == 0; i++)
		store__log_append(&lc, &m, b->first_seq + i, &b->ch[i],
				  b->commit_time_us);
	db_cur_close(&lc);
	if (txn->ret)
		return txn->ret;
	if ((ret = store__delta_flush(s, txn, &m, m.live)) != 0)
		return ret;
	if (b->blob.len > 0)
		store__relay_put(txn, b->first_seq, b->first_seq + b->n - 1,
				 b->blob);
	m.last_seq = m.applied_seq = b->first_seq + b->n - 1;
	store__meta_save(txn, &m);
	return txn->ret;
}

int store_apply(store_t *s, const store_batch_t *b)
{
	if (!s || !b || b->n == 0)
		return KS_EINVAL;
	int ret = store__check_changes(b->ch, b->n, false);
	if (ret)
		return ret;
	ret = store__write(s, apply_fn, (void *)(uintptr_t)b);
	if (ret == KS_EHISTORY || ret == KS_EGAP || ret == KS_ESTATE)
		ks_log_warn(STORE, "batch at seq %llu refused (%s)",
			    (unsigned long long)b->first_seq, ks_strerror(ret));
	else if (ret)
		ks_log_err(STORE, "apply of batch at seq %llu failed (%s)",
			   (unsigned long long)b->first_seq, ks_strerror(ret));
	return ret;
}

struct adopt_ctx {
	const uint8_t *new_history, *prev_history;
	uint64_t prev_last_seq;
};

static int adopt_fn(store_t *s, db_txn_t *txn, void *arg)
{
	(void)s;
	const struct adopt_ctx *a = arg;
	meta_t m;
	int ret = store__meta_load(txn, &m);
	if (ret)
		return ret;
	if (memcmp(m.applied_history, a->prev_history, 16) != 0)
		return KS_EHISTORY;
	if (m.applied_seq > a->prev_last_seq)
		return KS_ESTALE;
	if (memcmp(m.history, m.applied_history, 16) != 0 ||
	    m.last_seq != m.applied_seq)
		return KS_ESTATE;
	memcpy(m.prev_history, a->prev_history, 16);
	m.prev_last_seq = a->prev_last_seq;
	memcpy(m.history, a->new_history, 16);
	memcpy(m.applied_history, a->new_history, 16);
	store__meta_save(txn, &m);
	return txn->ret;
}

int store_adopt_history(store_t *s, const uint8_t new_history[16],
			const uint8_t prev_history[16], uint64_t prev_last_seq)
{
	static const uint8_t zero[16];
	if (!s || !new_history || !prev_history ||
	    memcmp(new_history, zero, 16) == 0)
		return KS_EINVAL;
	struct adopt_ctx a = { new_history, prev_history, prev_last_seq };
	int ret = store__write(s, adopt_fn, &a);
	if (ret)
		ks_log_warn(STORE, "cannot adopt new history (%s)",
			    ks_strerror(ret));
	return ret;
}
