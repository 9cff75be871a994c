/* SPDX-License-Identifier: MIT */
/*
 * The run-time role (store.h, store_role_set/get): meta "role" holds u8
 * role then the followed peer's name; no entry = the configuration's role.
 */
#include <string.h>

#include "common/log.h"
#include "store/internal.h"

#define MK_ROLE "role"

struct role_ctx {
	int role;
	const char *peer;
};

static int role_fn(store_t *s, db_txn_t *txn, void *arg)
{
	(void)s;
	const struct role_ctx *r = arg;
	uint8_t b[1 + STORE_MAX_PEER_NAME];
	size_t n = r->peer ? strlen(r->peer) : 0;
	if (r->role == STORE_ROLE_CONFIG) {
		db_del(txn, DB_META, sv(MK_ROLE));
		return txn->ret;
	}
	b[0] = (uint8_t)r->role;
	if (n)
		memcpy(b + 1, r->peer, n);
	db_put(txn, DB_META, sv(MK_ROLE), bv(b, 1 + n));
	return txn->ret;
}

int store_role_set(store_t *s, int role, const char *peer)
{
	size_t n = peer ? strlen(peer) : 0;
	if (!s || n > STORE_MAX_PEER_NAME ||
	    (role != STORE_ROLE_CONFIG && role != STORE_ROLE_PRIMARY &&
	     role != STORE_ROLE_REPLICA) ||
	    (role == STORE_ROLE_REPLICA) != (n > 0))
		return KS_EINVAL;
	struct role_ctx r = { role, peer };
	return store__write(s, role_fn, &r);
}

int store_role_get(store_txn_t *t, int *role, char *peer, size_t peerlen)
{
	ks_view_t v;
	if (!t || !role || !peer || peerlen == 0)
		return KS_EINVAL;
	*role = STORE_ROLE_CONFIG;
	peer[0] = '\0';
	if (!db_get(&t->txn, DB_META, sv(MK_ROLE), &v))
		return t->txn.ret;
	if (v.len < 1 || v.len > 1 + STORE_MAX_PEER_NAME ||
	    (v.ptr[0] != STORE_ROLE_PRIMARY &&
	     v.ptr[0] != STORE_ROLE_REPLICA) ||
	    (v.ptr[0] == STORE_ROLE_REPLICA) != (v.len > 1) ||
	    memchr(v.ptr + 1, '\0', v.len - 1) != NULL) {
		ks_log_err(STORE, "meta 'role' is malformed (%zu bytes)",
			   v.len);
		return KS_ECORRUPT;
	}
	if (v.len - 1 >= peerlen)
		return KS_ELIMIT;
	*role = v.ptr[0];
	memcpy(peer, v.ptr + 1, v.len - 1);
	peer[v.len - 1] = '\0';
	return KS_EOK;
}
