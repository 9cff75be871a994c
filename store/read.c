/* SPDX-License-Identifier: MIT */
/*
 * Read transactions (meta loaded at the start), point reads and
 * iteration of the live record set.
 */
#include <stdlib.h>

#include "store/internal.h"

/* --- reads --------------------------------------------------------------- */

int store_read_begin(store_t *s, store_txn_t **out)
{
	if (!s || !out)
		return KS_EINVAL;
	store_txn_t *t = calloc(1, sizeof(*t));
	if (!t)
		return KS_ENOMEM;
	t->s = s;
	int ret = db_txn_begin(s->env, true, &t->txn);
	if (ret) {
		free(t);
		return ret;
	}
	ret = store__meta_load(&t->txn, &t->m);
	if (ret) {
		store_read_end(t);
		return ret;
	}
	*out = t;
	return KS_EOK;
}

void store_read_end(store_txn_t *t)
{
	if (!t)
		return;
	db_txn_abort(&t->txn);
	free(t);
}

int store_get(store_txn_t *t, ks_view_t key, ks_view_t *value)
{
	if (!t || !value || key.len == 0 || key.len > STORE_MAX_KEY || !key.ptr)
		return KS_EINVAL;
	if (store__rec_get(&t->txn, t->m.live, key, value))
		return KS_EOK;
	return t->txn.ret ? t->txn.ret : KS_ENOENT;
}

int store_records_foreach(store_txn_t *t, ks_view_t from_key,
			  store_record_cb cb, void *ctx)
{
	if (!t || !cb || from_key.len > STORE_MAX_KEY)
		return KS_EINVAL;
	store__rec_iter_t it;
	ks_view_t k, v;
	int ret = 0;
	if (store__rec_iter_open(&t->txn, t->m.live, from_key, &it)) {
		while (store__rec_iter_next(&it, &k, &v)) {
			if ((ret = cb(k, v, ctx)) != 0)
				break;
		}
	}
	int iret = store__rec_iter_close(&it);
	return ret ? ret : iret ? iret : t->txn.ret;
}
