/* SPDX-License-Identifier: MIT */
/*
 * Per-peer acknowledgements ("peers" database: name -> u64be seq), which
 * never move backwards.
 */
#include <string.h>

#include "common/log.h"
#include "common/wire.h"
#include "store/internal.h"

/* --- peers, retention, history ------------------------------------------- */

static int peer_name(const char *peer, ks_view_t *out)
{
	if (!peer)
		return KS_EINVAL;
	size_t n = strnlen(peer, STORE_MAX_PEER_NAME + 1);
	if (n == 0 || n > STORE_MAX_PEER_NAME)
		return KS_EINVAL;
	*out = bv(peer, n);
	return KS_EOK;
}

struct ack_ctx {
	ks_view_t name;
	uint64_t seq;
};

static int ack_fn(store_t *s, db_txn_t *txn, void *arg)
{
	(void)s;
	const struct ack_ctx *a = arg;
	ks_view_t v;
	if (db_get(txn, DB_PEERS, a->name, &v)) {
		if (v.len != 8)
			return KS_ECORRUPT;
		if (ks_get_u64be(v.ptr) >= a->seq)
			return KS_EOK;
	}
	uint8_t b[8];
	ks_put_u64be(b, a->seq);
	db_put(txn, DB_PEERS, a->name, bv(b, 8));
	return txn->ret;
}

int store_peer_ack(store_t *s, const char *peer, uint64_t seq)
{
	struct ack_ctx a = { .seq = seq };
	if (!s)
		return KS_EINVAL;
	int ret = peer_name(peer, &a.name);
	if (ret)
		return ret;
	return store__write(s, ack_fn, &a);
}

int store_peer_get(store_txn_t *t, const char *peer, uint64_t *seq)
{
	ks_view_t name, v;
	if (!t || !seq)
		return KS_EINVAL;
	int ret = peer_name(peer, &name);
	if (ret)
		return ret;
	if (!db_get(&t->txn, DB_PEERS, name, &v))
		return t->txn.ret ? t->txn.ret : KS_ENOENT;
	if (v.len != 8) {
		ks_log_err(STORE, "peer '%s' entry malformed", peer);
		return KS_ECORRUPT;
	}
	*seq = ks_get_u64be(v.ptr);
	return KS_EOK;
}
