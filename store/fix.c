/* SPDX-License-Identifier: MIT */
/*
 * store_fix(): records written over without a log entry and without moving
 * any position (store.h): a replica's repair puts its primary's current
 * values over records that differ from them.
 */
#include "common/log.h"
#include "store/internal.h"

struct fix_ctx {
	const store_change_t *fix;
	size_t n;
};

static int fix_fn(store_t *s, db_txn_t *txn, void *arg)
{
	struct fix_ctx *f = arg;
	meta_t m;
	int ret = store__meta_load(txn, &m);

	if (ret)
		return ret;
	if ((ret = store__set_apply_sorted(s, txn, m.live, f->fix, f->n)) != 0)
		return ret;
	if ((ret = store__delta_flush(s, txn, &m, m.live)) != 0)
		return ret;
	store__meta_save(txn, &m);
	return txn->ret;
}

int store_fix(store_t *s, const store_change_t *fix, size_t n)
{
	if (!s)
		return KS_EINVAL;
	int ret = store__check_changes(fix, n, false);
	if (ret)
		return ret;
	struct fix_ctx f = { .fix = fix, .n = n };
	ret = store__write(s, fix_fn, &f);
	if (ret)
		ks_log_err(STORE, "fixing %zu records failed (%s)", n,
			   ks_strerror(ret));
	return ret;
}
