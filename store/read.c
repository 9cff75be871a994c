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
	if (!t || !value || key.len == 0 || key.len > STORE_MAX_KEY)
		return KS_EINVAL;
	if (db_get(&t->txn, rec_db(t->m.live), key, value))
		return KS_EOK;
	return t->txn.ret ? t->txn.ret : KS_ENOENT;
}

int store_records_foreach(store_txn_t *t, ks_view_t from_key,
			  store_record_cb cb, void *ctx)
{
	if (!t || !cb || from_key.len > STORE_MAX_KEY)
		return KS_EINVAL;
	db_cur_t cur;
	ks_view_t k, v;
	int ret = 0;
	if (!db_cur_open(&t->txn, rec_db(t->m.live), &cur))
		return t->txn.ret;
	for (bool ok = db_cur_seek(&cur, from_key, &k, &v); ok;
	     ok = db_cur_next(&cur, &k, &v)) {
		if ((ret = cb(k, v, ctx)) != 0)
			break;
	}
	db_cur_close(&cur);
	return ret ? ret : t->txn.ret;
}
