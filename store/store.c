/* SPDX-License-Identifier: MIT */
/*
 * The store object: open (defaults, map, meta initialisation through
 * meta.c), close, and store__write(), the one way every write transaction
 * runs: it reruns the whole transaction after growing the map when LMDB
 * reports it full.  Also the validation of change sets shared by commits,
 * applies and staging.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "store/internal.h"

#define MIN_MAP_SIZE	  ((size_t)256 << 10)
#define MAX_GROW_ATTEMPTS 40

/*
 * Run \p fn in a write transaction and commit it.  The bucket deltas in
 * \p s are only touched while this thread holds LMDB's writer lock.  \p fn reads meta itself
 * and must not keep state outside \p ctx's outputs: when the map fills the
 * transaction is aborted, the map grown and \p fn run again from scratch.
 */
int store__write(store_t *s, store__write_fn fn, void *ctx)
{
	for (int attempt = 0;; attempt++) {
		db_txn_t txn;
		int ret = db_txn_begin(s->env, false, &txn);
		if (ret)
			return ret;
		store__delta_reset(s);
		ret = fn(s, &txn, ctx);
		if (ret == 0)
			ret = txn.ret;
		if (ret == 0)
			ret = db_txn_commit(&txn);
		else
			db_txn_abort(&txn);
		/* (the deltas are reset under the writer lock, at the start
		 * of the next write txn, never after it is released) */
		if (ret == KS_ESPACE && txn.map_full &&
		    attempt < MAX_GROW_ATTEMPTS) {
			ret = db_grow(s->env);
			if (ret)
				return ret;
			continue;
		}
		return ret;
	}
}

int store__check_changes(const store_change_t *ch, size_t n, bool puts_only)
{
	if (n > 0 && !ch)
		return KS_EINVAL;
	for (size_t i = 0; i < n; i++) {
		const store_change_t *c = &ch[i];
		if (c->op != STORE_PUT && (puts_only || c->op != STORE_DEL))
			return KS_EINVAL;
		if (c->key.len == 0 || c->key.len > STORE_MAX_KEY ||
		    !c->key.ptr)
			return KS_EINVAL;
		if (c->op == STORE_PUT && (c->value.len > STORE_MAX_VALUE ||
					   (c->value.len && !c->value.ptr)))
			return KS_EINVAL;
	}
	return KS_EOK;
}

/* --- open / close -------------------------------------------------------- */

int store_open(const char *dir, const store_opts_t *opts, store_t **out)
{
	int ret;
	if (!dir || !out)
		return KS_EINVAL;
	store_t *s = calloc(1, sizeof(*s));
	if (!s)
		return KS_ENOMEM;
	if (opts)
		s->opts = *opts;
	if (!s->opts.map_size)
		s->opts.map_size = STORE_DEFAULT_MAP_SIZE;
	if (s->opts.map_size < MIN_MAP_SIZE)
		s->opts.map_size = MIN_MAP_SIZE;
	if (!s->opts.retain_count)
		s->opts.retain_count = STORE_DEFAULT_RETAIN_COUNT;
	if (!s->opts.retain_bytes)
		s->opts.retain_bytes = STORE_DEFAULT_RETAIN_BYTES;
	if (!s->opts.hard_cap_bytes)
		s->opts.hard_cap_bytes = STORE_DEFAULT_HARD_CAP;
	if ((ret = dg_ctx_new(&s->dg)) != 0)
		goto fail;
	ret = db_open(dir, s->opts.map_size, s->opts.nosync, store__meta_init,
		      s, &s->env);
	if (ret)
		goto fail;
	*out = s;
	return KS_EOK;
fail:
	store_close(s);
	return ret;
}

void store_close(store_t *s)
{
	if (!s)
		return;
	db_close(s->env);
	dg_ctx_free(s->dg);
	free(s->order);
	free(s->changed);
	free(s);
}
