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

/* --- scan ----------------------------------------------------------------
 *
 * Bounded memory: the changes are committed to the store in chunks of at
 * most SCAN_CHUNK_BYTES / SCAN_CHUNK_N (the store read transaction is ended
 * before each commit and a new one begun after, so map growth is never
 * blocked for long), so only one chunk is ever held, whatever the KDB size.
 *
 * Deletions: pass 1 counts the KDB objects whose key was already in the
 * store (matched).  Nothing else writes the store while a scan runs (the
 * database worker runs one job at a time), so when matched equals the
 * store's record count at the start, no stored record can be gone and the
 * scan is over.  Otherwise pass 2 walks the stored keys in chunks and
 * confirms each with a KDB point lookup (DEL if gone, PUT if it differs):
 * no per-key memory, at the cost of one lookup per stored record, and only
 * when a deletion escaped the capture (a `kdb5_util load`, a program not
 * using the KDB module). */

#define SCAN_CHUNK_BYTES (4u << 20)
#define SCAN_CHUNK_N	 4096u

typedef struct scan {
	bridge_t *b;
	store_t *s;
	store_txn_t *txn;
	chglist_t chg;
	ks_buf_t key, line;
	ks_buf_t resume; /* pass 2: the last stored key confirmed */
	bool have_resume;
	size_t pass2_n;	  /* keys confirmed in this pass-2 chunk */
	uint64_t matched; /* KDB objects whose key exists in the store */
	uint32_t since_relock;
	uint64_t locked_at_us; /* when our lock was (re)taken */
	bool locked;	       /* our own outer shared lock */
	bool committed;	       /* a chunk with changes was committed */
	int err;
	bridge_scan_stats_t st;
} scan_t;

static bool scan_chunk_full(const scan_t *sc)
{
	return sc->chg.arena.len >= SCAN_CHUNK_BYTES ||
	       sc->chg.n >= SCAN_CHUNK_N;
}

/* Commit the chunk's changes between two read transactions.  \p last: the
 * final flush, which commits even an empty set when nothing was committed
 * before (so the stats get the store's "nothing logged" range). */
static int scan_flush(scan_t *sc, bool last)
{
	uint64_t first = 0, lastseq = 0;
	if (sc->chg.n == 0 && !(last && !sc->committed))
		return KS_EOK;
	if (sc->txn) {
		store_read_end(sc->txn);
		sc->txn = NULL;
	}
	int ret = bridge__chg_commit(sc->s, &sc->chg, &first, &lastseq);
	if (ret != KS_EOK)
		return ret;
	if (!sc->committed)
		sc->st.first_seq = first;
	sc->st.last_seq = lastseq;
	sc->committed = true;
	sc->chg.n = 0; /* keep the memory for the next chunk */
	sc->chg.arena.len = 0;
	if (!last)
		ret = store_read_begin(sc->s, &sc->txn);
	return ret;
}

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

static int scan_relock(scan_t *sc)
{
	krb5_error_code code =
		krb5_db_lock(sc->b->ctx, KRB5_DB_LOCKMODE_SHARED);
	if (code)
		return bridge__err(sc->b->ctx, code, "krb5_db_lock");
	sc->locked = true;
	sc->locked_at_us = bridge__mono_us();
	return KS_EOK;
}

static krb5_error_code scan_princ_cb(krb5_pointer arg, krb5_db_entry *e)
{
	scan_t *sc = arg;
	bridge_t *b = sc->b;
	sc->st.principals++;
	__atomic_add_fetch(&b->scan_seen, 1, __ATOMIC_RELAXED);
	int ret = bridge__encode_princ(b, e, &sc->key, &sc->line);
	if (ret == KS_ELIMIT) {
		/* beyond the dump format's bounds (logged by the encoder):
		 * nothing a replica could load either */
		sc->st.skipped++;
		ret = KS_EOK;
	} else if (ret == KS_EOK) {
		ret = scan_compare(sc);
	}
	bool relock = sc->locked && b->lock_batch != UINT32_MAX;
	bool full = scan_chunk_full(sc);
	if (ret == KS_EOK && relock &&
	    (++sc->since_relock >= b->lock_batch || full)) {
		/* Let writers in: drop our shared lock (the iterator holds
		 * none between entries with unlockiter), commit a full chunk
		 * meanwhile, and take the lock again. */
		sc->since_relock = 0;
		scan_unlock(sc);
		if (full)
			ret = scan_flush(sc, false);
		if (ret == KS_EOK)
			ret = scan_relock(sc);
	} else if (ret == KS_EOK && full) {
		ret = scan_flush(sc, false); /* configured never to unlock */
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
	__atomic_add_fetch(&sc->b->scan_seen, 1, __ATOMIC_RELAXED);
	int ret = bridge__encode_policy(p, &sc->key, &sc->line);
	if (ret == KS_EOK)
		ret = scan_compare(sc);
	if (ret != KS_EOK)
		sc->err = ret;
}

/* Pass 2: a stored record, confirmed with a point lookup. */
static int scan_gone_cb(ks_view_t key, ks_view_t value, void *arg)
{
	scan_t *sc = arg;
	bridge_t *b = sc->b;
	if (sc->have_resume && bridge__view_eq(key, &sc->resume))
		return 0; /* confirmed before the last chunk's commit */
	if (sc->pass2_n >= SCAN_CHUNK_N || scan_chunk_full(sc))
		return ITER_STOP; /* resume from this key after a flush */
	sc->pass2_n++;
	sc->resume.len = 0;
	int ret = ks_buf_append(&sc->resume, key.ptr, key.len);
	if (ret != KS_EOK)
		return sc->err = ret;
	sc->have_resume = true;
	if (key.len < 2)
		return 0;
	char *name = malloc(key.len);
	if (name == NULL)
		return sc->err = KS_ENOMEM;
	memcpy(name, key.ptr + 1, key.len - 1);
	name[key.len - 1] = '\0';
	krb5_error_code code = 0;
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
		ret = bridge__chg_add(&sc->chg, STORE_DEL, &sc->resume, NULL);
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

/* Pass 2 over every stored key, a chunk per read transaction. */
static int scan_gone(scan_t *sc)
{
	for (;;) {
		sc->pass2_n = 0;
		ks_view_t from = sc->have_resume ? ks_buf_view(&sc->resume)
						 : (ks_view_t){ 0 };
		int ret =
			store_records_foreach(sc->txn, from, scan_gone_cb, sc);
		if (sc->err != KS_EOK)
			return sc->err;
		if (ret == 0)
			return KS_EOK; /* past the last record */
		if (ret != ITER_STOP)
			return ret; /* the store's own error */
		ret = scan_flush(sc, false);
		if (ret == KS_EOK && sc->txn == NULL)
			ret = store_read_begin(sc->s, &sc->txn);
		if (ret != KS_EOK)
			return ret;
	}
}

int bridge_scan(bridge_t *b, store_t *s, bridge_scan_stats_t *stats)
{
	scan_t sc = { .b = b, .s = s };
	store_meta_t meta;
	krb5_error_code code;
	int ret;

	__atomic_store_n(&b->scan_seen, 0, __ATOMIC_RELAXED);
	ret = store_read_begin(s, &sc.txn);
	if (ret != KS_EOK)
		return ret;
	ret = store_meta_get(sc.txn, &meta);
	if (ret != KS_EOK)
		goto fail;

	ret = scan_relock(&sc);
	if (ret != KS_EOK)
		goto fail;
	code = krb5_db_iter_policy(b->ctx, NULL, scan_policy_cb, &sc);
	if (sc.err == KS_EOK && code)
		sc.err = bridge__err(b->ctx, code, "krb5_db_iter_policy");
	if (sc.err == KS_EOK) {
		code = krb5_db_iterate(b->ctx, NULL, scan_princ_cb, &sc, 0);
		if (sc.err == KS_EOK && code)
			sc.err = bridge__err(b->ctx, code, "krb5_db_iterate");
	}
	if (sc.locked)
		scan_unlock(&sc);
	/* Some stored record was not seen: find it, confirm it is gone (the
	 * point lookups take the DB lock each, as the KDC's do). */
	if (sc.err == KS_EOK && sc.matched != meta.record_count) {
		if (sc.txn == NULL)
			sc.err = store_read_begin(s, &sc.txn);
		if (sc.err == KS_EOK)
			sc.err = scan_gone(&sc);
	}
	ret = sc.err;
	if (ret != KS_EOK)
		goto fail;
	ret = scan_flush(&sc, true);
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
	ks_buf_free(&sc.key);
	ks_buf_free(&sc.line);
	ks_buf_free(&sc.resume);
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

uint64_t bridge_scan_progress(const bridge_t *b)
{
	return b ? __atomic_load_n(&b->scan_seen, __ATOMIC_RELAXED) : 0;
}
