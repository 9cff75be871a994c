/* SPDX-License-Identifier: MIT */
/*
 * Full scans of the KDB into the store (bridge_scan), the plain record walk
 * (bridge_foreach_record) and a dump line's store key.  Locking and
 * consistency rules: bridge/bridge.h.
 */
#include "bridge/bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <krb5.h>
#include <kdb.h>
#include <profile.h>

#include "bridge/convert.h"
#include "bridge/err.h"
#include "bridge/internal.h"
#include "common/errors.h"
#include "common/log.h"

/* Any nonzero return stops krb5_db_iterate; the real error is kept aside. */
#define ITER_STOP (-1)

/* --- keys seen by a scan ------------------------------------------------
 *
 * Appended in iteration order (sequential, cheap); only when the scan finds
 * that some stored record was not seen are they sorted (DB2's btree order
 * already is the store's memcmp order for principals, so this is usually a
 * linear check) and merged with the store's key-ordered walk. */

typedef struct seen {
	ks_buf_t arena; /* u32 length + bytes, per key */
	uint64_t *off;	/* arena offset of each key */
	size_t n, cap;
	size_t pos; /* merge cursor */
} seen_t;

static int seen_add(seen_t *k, const uint8_t *p, size_t n)
{
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 4096;
		uint64_t *off = realloc(k->off, cap * sizeof(*off));
		if (off == NULL)
			return KS_ENOMEM;
		k->off = off;
		k->cap = cap;
	}
	uint64_t at = k->arena.len;
	uint32_t len = (uint32_t)n;
	int ret = ks_buf_append(&k->arena, &len, 4);
	if (ret == KS_EOK)
		ret = ks_buf_append(&k->arena, p, n);
	if (ret != KS_EOK)
		return ret;
	k->off[k->n++] = at;
	return KS_EOK;
}

static ks_view_t seen_key(const ks_buf_t *arena, uint64_t off)
{
	uint32_t len;
	memcpy(&len, arena->data + off, 4);
	return (ks_view_t){ arena->data + off + 4, len };
}

/* memcmp order, shorter first on a common prefix (LMDB's default). */
static int key_cmp(ks_view_t a, ks_view_t b)
{
	int c = memcmp(a.ptr, b.ptr, a.len < b.len ? a.len : b.len);
	if (c)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

static const ks_buf_t *sort_arena; /* qsort has no context argument */

static int off_cmp(const void *x, const void *y)
{
	return key_cmp(seen_key(sort_arena, *(const uint64_t *)x),
		       seen_key(sort_arena, *(const uint64_t *)y));
}

/* Put the keys in store order (a linear check when they already are). */
static void seen_sort(seen_t *k)
{
	for (size_t i = 1; i < k->n; i++) {
		if (key_cmp(seen_key(&k->arena, k->off[i - 1]),
			    seen_key(&k->arena, k->off[i])) > 0) {
			sort_arena = &k->arena;
			qsort(k->off, k->n, sizeof(*k->off), off_cmp);
			sort_arena = NULL;
			break;
		}
	}
	k->pos = 0;
}

/* Merge step: was \p key seen?  Keys must be asked in ascending order. */
static bool seen_next_has(seen_t *k, ks_view_t key)
{
	while (k->pos < k->n) {
		int c = key_cmp(seen_key(&k->arena, k->off[k->pos]), key);
		if (c == 0)
			return true;
		if (c > 0)
			return false;
		k->pos++;
	}
	return false;
}

static void seen_free(seen_t *k)
{
	ks_buf_free(&k->arena);
	free(k->off);
	*k = (seen_t){ 0 };
}

/* --- scan ---------------------------------------------------------------- */

typedef struct scan {
	bridge_t *b;
	store_txn_t *txn;
	chglist_t chg;
	seen_t seen;
	ks_buf_t key, line;
	uint64_t matched; /* KDB objects whose key exists in the store */
	uint32_t since_relock;
	uint64_t locked_at_us; /* when our lock was (re)taken */
	bool locked;	       /* our own outer shared lock */
	int err;
	bridge_scan_stats_t st;
} scan_t;

/* Compare one encoded object (sc->key, sc->line) with the store. */
static int scan_compare(scan_t *sc)
{
	ks_view_t cur;
	int ret = store_get(sc->txn, ks_buf_view(&sc->key), &cur);
	if (ret == KS_EOK) {
		sc->matched++;
		if (!bridge__view_eq(cur, &sc->line)) {
			ret = bridge__chg_add(&sc->chg, STORE_PUT, &sc->key,
					      &sc->line);
			sc->st.puts++;
		}
	} else if (ret == KS_ENOENT) {
		ret = bridge__chg_add(&sc->chg, STORE_PUT, &sc->key, &sc->line);
		sc->st.puts++;
	}
	if (ret == KS_EOK)
		ret = seen_add(&sc->seen, sc->key.data, sc->key.len);
	return ret;
}

/* Drop our shared lock, keeping the longest hold for the stats. */
static void scan_unlock(scan_t *sc)
{
	uint64_t held = bridge__mono_us() - sc->locked_at_us;
	if (held > sc->st.max_lock_us)
		sc->st.max_lock_us = held;
	krb5_db_unlock(sc->b->ctx);
	sc->locked = false;
}

static krb5_error_code scan_princ_cb(krb5_pointer arg, krb5_db_entry *e)
{
	scan_t *sc = arg;
	bridge_t *b = sc->b;
	sc->st.principals++;
	int ret = bridge__encode_princ(b, e, &sc->key, &sc->line);
	if (ret == KS_ELIMIT) {
		/* beyond the dump format's bounds (logged by the encoder):
		 * nothing a replica could load either */
		sc->st.skipped++;
		ret = KS_EOK;
	} else if (ret == KS_EOK) {
		ret = scan_compare(sc);
	}
	if (ret == KS_EOK && sc->locked && b->lock_batch != UINT32_MAX &&
	    ++sc->since_relock >= b->lock_batch) {
		/* Let writers in: drop our shared lock (the iterator holds
		 * none between entries with unlockiter) and take it again. */
		sc->since_relock = 0;
		scan_unlock(sc);
		krb5_error_code code =
			krb5_db_lock(b->ctx, KRB5_DB_LOCKMODE_SHARED);
		if (code) {
			ret = bridge__err(b->ctx, code, "krb5_db_lock");
		} else {
			sc->locked = true;
			sc->locked_at_us = bridge__mono_us();
		}
	}
	if (ret != KS_EOK) {
		sc->err = ret;
		return ITER_STOP;
	}
	return 0;
}

static void scan_policy_cb(void *arg, osa_policy_ent_t p)
{
	scan_t *sc = arg;
	if (sc->err)
		return;
	sc->st.policies++;
	int ret = bridge__encode_policy(p, &sc->key, &sc->line);
	if (ret == KS_EOK)
		ret = scan_compare(sc);
	if (ret != KS_EOK)
		sc->err = ret;
}

/* A store record not seen by the iteration: confirm with a point lookup. */
static int scan_gone_cb(ks_view_t key, ks_view_t value, void *arg)
{
	scan_t *sc = arg;
	bridge_t *b = sc->b;
	if (key.len < 2 || seen_next_has(&sc->seen, key))
		return 0;
	char *name = malloc(key.len);
	if (name == NULL)
		return sc->err = KS_ENOMEM;
	memcpy(name, key.ptr + 1, key.len - 1);
	name[key.len - 1] = '\0';
	ks_buf_t kb = { .data = (uint8_t *)(uintptr_t)key.ptr, .len = key.len };
	krb5_error_code code = 0;
	int ret = KS_EOK;
	bool exists = false;
	if (key.ptr[0] == STORE_KEY_PRINCIPAL) {
		krb5_principal princ = NULL;
		krb5_db_entry *e = NULL;
		code = krb5_parse_name(b->ctx, name, &princ);
		if (code == 0)
			code = krb5_db_get_principal(b->ctx, princ, 0, &e);
		if (code == 0) {
			exists = true;
			ret = bridge__encode_princ(b, e, &sc->key, &sc->line);
			krb5_db_free_principal(b->ctx, e);
		}
		krb5_free_principal(b->ctx, princ);
	} else if (key.ptr[0] == STORE_KEY_POLICY) {
		osa_policy_ent_t p = NULL;
		code = krb5_db_get_policy(b->ctx, name, &p);
		if (code == 0) {
			exists = true;
			ret = bridge__encode_policy(p, &sc->key, &sc->line);
			krb5_db_free_policy(b->ctx, p);
		}
	} else {
		goto out; /* not ours */
	}
	if (code && bridge__err_quiet(code) != KS_ENOENT) {
		ret = bridge__err(b->ctx, code, "confirming a deletion");
	} else if (ret == KS_EOK && !exists) {
		ret = bridge__chg_add(&sc->chg, STORE_DEL, &kb, NULL);
		sc->st.dels++;
	} else if (ret == KS_EOK && !bridge__view_eq(value, &sc->line)) {
		/* Missed by the iteration (changed concurrently). */
		ret = bridge__chg_add(&sc->chg, STORE_PUT, &sc->key, &sc->line);
		sc->st.puts++;
	}
out:
	free(name);
	if (ret != KS_EOK)
		sc->err = ret;
	return ret;
}

int bridge_scan(bridge_t *b, store_t *s, bridge_scan_stats_t *stats)
{
	scan_t sc = { .b = b };
	store_meta_t meta;
	krb5_error_code code;
	int ret = store_read_begin(s, &sc.txn);
	if (ret != KS_EOK)
		return ret;
	ret = store_meta_get(sc.txn, &meta);
	if (ret != KS_EOK)
		goto fail;

	code = krb5_db_lock(b->ctx, KRB5_DB_LOCKMODE_SHARED);
	if (code) {
		ret = bridge__err(b->ctx, code, "krb5_db_lock");
		goto fail;
	}
	sc.locked = true;
	sc.locked_at_us = bridge__mono_us();
	/* Policies first: their keys ('O') sort before the principals' ('P'),
	 * so the seen list is already in store order for a btree DB. */
	code = krb5_db_iter_policy(b->ctx, NULL, scan_policy_cb, &sc);
	if (sc.err == KS_EOK && code)
		sc.err = bridge__err(b->ctx, code, "krb5_db_iter_policy");
	if (sc.err == KS_EOK) {
		code = krb5_db_iterate(b->ctx, NULL, scan_princ_cb, &sc, 0);
		if (sc.err == KS_EOK && code)
			sc.err = bridge__err(b->ctx, code, "krb5_db_iterate");
	}
	/* Some stored record was not seen: find it, confirm it is gone. */
	if (sc.err == KS_EOK && sc.matched != meta.record_count) {
		seen_sort(&sc.seen);
		ret = store_records_foreach(sc.txn, (ks_view_t){ 0 },
					    scan_gone_cb, &sc);
		if (sc.err == KS_EOK)
			sc.err = ret;
	}
	if (sc.locked)
		scan_unlock(&sc);
	ret = sc.err;
	if (ret != KS_EOK)
		goto fail;
	store_read_end(sc.txn);
	sc.txn = NULL;
	ret = bridge__chg_commit(s, &sc.chg, &sc.st.first_seq, &sc.st.last_seq);
	if (ret != KS_EOK)
		goto fail;
	ks_log_info(KDB,
		    "scan: %llu principals, %llu policies, %llu puts, %llu "
		    "dels, seq %llu..%llu, longest lock hold %llu us",
		    (unsigned long long)sc.st.principals,
		    (unsigned long long)sc.st.policies,
		    (unsigned long long)sc.st.puts,
		    (unsigned long long)sc.st.dels,
		    (unsigned long long)sc.st.first_seq,
		    (unsigned long long)sc.st.last_seq,
		    (unsigned long long)sc.st.max_lock_us);
	if (stats)
		*stats = sc.st;
fail:
	if (sc.txn)
		store_read_end(sc.txn);
	bridge__chg_free(&sc.chg);
	seen_free(&sc.seen);
	ks_buf_free(&sc.key);
	ks_buf_free(&sc.line);
	return ret;
}

int bridge_record_key(ks_view_t value, ks_buf_t *key)
{
	const char *name;
	size_t nlen;
	bool pol;
	int ret = bridge_convert_line_name((const char *)value.ptr, value.len,
					   &name, &nlen, &pol);
	if (ret != KS_EOK)
		return ret;
	ret = ks_buf_append_u8(key,
			       pol ? STORE_KEY_POLICY : STORE_KEY_PRINCIPAL);
	if (ret == KS_EOK)
		ret = ks_buf_append(key, name, nlen);
	return ret;
}

typedef struct each {
	bridge_t *b;
	bridge_record_cb cb;
	void *ctx;
	ks_buf_t key, line;
	int err;
} each_t;

static krb5_error_code each_princ_cb(krb5_pointer arg, krb5_db_entry *e)
{
	each_t *x = arg;
	int ret = bridge__encode_princ(x->b, e, &x->key, &x->line);
	if (ret == KS_EOK)
		ret = x->cb(ks_buf_view(&x->key), ks_buf_view(&x->line),
			    x->ctx);
	if (ret) {
		x->err = ret;
		return ITER_STOP;
	}
	return 0;
}

static void each_policy_cb(void *arg, osa_policy_ent_t p)
{
	each_t *x = arg;
	if (x->err)
		return;
	int ret = bridge__encode_policy(p, &x->key, &x->line);
	if (ret == KS_EOK)
		ret = x->cb(ks_buf_view(&x->key), ks_buf_view(&x->line),
			    x->ctx);
	x->err = ret;
}

int bridge_foreach_record(bridge_t *b, bridge_record_cb cb, void *ctx)
{
	each_t x = { .b = b, .cb = cb, .ctx = ctx };
	krb5_error_code code = krb5_db_lock(b->ctx, KRB5_DB_LOCKMODE_SHARED);
	if (code)
		return bridge__err(b->ctx, code, "krb5_db_lock");
	code = krb5_db_iterate(b->ctx, NULL, each_princ_cb, &x, 0);
	if (x.err == KS_EOK && code)
		x.err = bridge__err(b->ctx, code, "krb5_db_iterate");
	if (x.err == KS_EOK) {
		code = krb5_db_iter_policy(b->ctx, NULL, each_policy_cb, &x);
		if (x.err == KS_EOK && code)
			x.err = bridge__err(b->ctx, code,
					    "krb5_db_iter_policy");
	}
	krb5_db_unlock(b->ctx);
	ks_buf_free(&x.key);
	ks_buf_free(&x.line);
	return x.err;
}
