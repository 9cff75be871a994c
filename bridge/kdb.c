/* SPDX-License-Identifier: MIT */
/*
 * KDB access through libkdb5: context and DB open, full scan into the store,
 * single-principal capture, incremental apply and atomic full load.  The
 * rules (locking, consistency, lockout fields) are in bridge/bridge.h.
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
#include "bridge/report.h"
#include "common/errors.h"
#include "common/log.h"

#define DEFAULT_LOCK_BATCH 4096u
/* Any nonzero return stops krb5_db_iterate; the real error is kept aside. */
#define ITER_STOP (-1)

struct bridge {
	krb5_context ctx;
	char *realm;	   /* owned, may be NULL */
	char *kdc_profile; /* owned, may be NULL */
	bool lockout;
	bool read_only;
	bool quiet; /* the KDB module is in the way: pass KS_REPORT_QUIET_ARG */
	uint32_t lock_batch;
};

/* --- context ------------------------------------------------------------- */

/* A context reading kdc.conf on top of krb5.conf, as kdb5_util does. */
static int make_context(const char *kdc_profile, const char *realm,
			krb5_context *out)
{
	krb5_context ctx = NULL;
	profile_t prof = NULL;
	char *path = NULL;
	krb5_error_code code;
	int ret;

	if (kdc_profile) {
		const char *cfg = getenv("KRB5_CONFIG");
		if (cfg == NULL || *cfg == '\0')
			cfg = "/etc/krb5.conf";
		size_t n = strlen(kdc_profile) + strlen(cfg) + 2;
		path = malloc(n);
		if (path == NULL)
			return KS_ENOMEM;
		snprintf(path, n, "%s:%s", kdc_profile, cfg);
		code = profile_init_path(path, &prof);
		if (code) {
			ks_log_err(KDB, "cannot read profile '%s'", path);
			ret = bridge__err(NULL, code, "profile_init_path");
			goto fail;
		}
	}
	code = krb5_init_context_profile(prof, KRB5_INIT_CONTEXT_KDC, &ctx);
	if (code) {
		ret = bridge__err(NULL, code, "krb5_init_context_profile");
		goto fail;
	}
	if (realm) {
		code = krb5_set_default_realm(ctx, realm);
		if (code) {
			ret = bridge__err(ctx, code, "krb5_set_default_realm");
			goto fail;
		}
	}
	if (prof)
		profile_release(prof);
	free(path);
	*out = ctx;
	return KS_EOK;
fail:
	if (ctx)
		krb5_free_context(ctx);
	if (prof)
		profile_release(prof);
	free(path);
	return ret;
}

static char *dup_opt(const char *s, int *ret)
{
	if (s == NULL)
		return NULL;
	char *d = strdup(s);
	if (d == NULL)
		*ret = KS_ENOMEM;
	return d;
}

/*
 * Does the realm's KDB go through the kdcsync KDB module?  Then every DB
 * this bridge opens passes it "kdcsync_quiet", so the node's own writes
 * (applies, full loads) are not reported back to the node (no echo); a
 * plain back end would refuse that argument.
 */
static bool via_kdcsync_module(krb5_context ctx)
{
	profile_t prof = NULL;
	char *realm = NULL, *section = NULL, *lib = NULL;
	bool yes = false;

	if (krb5_get_default_realm(ctx, &realm) != 0)
		return false;
	if (krb5_get_profile(ctx, &prof) == 0 &&
	    profile_get_string(prof, KDB_REALM_SECTION, realm,
			       KDB_MODULE_POINTER, realm, &section) == 0 &&
	    profile_get_string(prof, KDB_MODULE_SECTION, section,
			       KDB_LIB_POINTER, "db2", &lib) == 0)
		yes = lib != NULL && strcmp(lib, KS_REPORT_MODULE) == 0;
	profile_release_string(lib);
	profile_release_string(section);
	if (prof)
		profile_release(prof);
	krb5_free_default_realm(ctx, realm);
	return yes;
}

static char arg_quiet[] = KS_REPORT_QUIET_ARG;

int bridge_open(const bridge_opts_t *opts, bridge_t **out)
{
	static char arg_unlockiter[] = "unlockiter";
	char *db_args[] = { arg_unlockiter, NULL, NULL };
	int ret = KS_EOK;
	bridge_t *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return KS_ENOMEM;
	b->realm = dup_opt(opts->realm, &ret);
	b->kdc_profile = dup_opt(opts->kdc_profile, &ret);
	if (ret != KS_EOK)
		goto fail;
	b->lockout = opts->replicate_lockout;
	b->read_only = opts->read_only;
	b->lock_batch = opts->scan_lock_batch ? opts->scan_lock_batch
					      : DEFAULT_LOCK_BATCH;
	ret = make_context(b->kdc_profile, b->realm, &b->ctx);
	if (ret != KS_EOK)
		goto fail;
	b->quiet = via_kdcsync_module(b->ctx);
	if (b->quiet)
		db_args[1] = arg_quiet;
	int mode = (b->read_only ? KRB5_KDB_OPEN_RO : KRB5_KDB_OPEN_RW) |
		   KRB5_KDB_SRV_TYPE_ADMIN;
	krb5_error_code code = krb5_db_open(b->ctx, db_args, mode);
	if (code) {
		ret = bridge__err(b->ctx, code, "krb5_db_open");
		goto fail;
	}
	*out = b;
	return KS_EOK;
fail:
	if (b->ctx)
		krb5_free_context(b->ctx);
	free(b->realm);
	free(b->kdc_profile);
	free(b);
	return ret;
}

void bridge_close(bridge_t *b)
{
	if (b == NULL)
		return;
	krb5_db_fini(b->ctx);
	krb5_free_context(b->ctx);
	free(b->realm);
	free(b->kdc_profile);
	free(b);
}

/* --- encoding helpers ---------------------------------------------------- */

/* Encode entry e into line (reset first) and its key into key. */
_Static_assert(BRIDGE_NAME_MAX + 1 <= STORE_MAX_KEY,
	       "a principal's store key ('P' + name) must fit STORE_MAX_KEY");

static int encode_princ(bridge_t *b, krb5_db_entry *e, ks_buf_t *key,
			ks_buf_t *line)
{
	char *name = NULL;
	krb5_error_code code = krb5_unparse_name(b->ctx, e->princ, &name);
	if (code)
		return bridge__err(b->ctx, code, "krb5_unparse_name");
	ks_buf_reset(key);
	ks_buf_reset(line);
	int ret = ks_buf_append_u8(key, STORE_KEY_PRINCIPAL);
	if (ret == KS_EOK)
		ret = ks_buf_append(key, name, strlen(name));
	if (ret == KS_EOK)
		ret = bridge_convert_princ_encode(e, name, b->lockout, line);
	krb5_free_unparsed_name(b->ctx, name);
	return ret;
}

static int encode_policy(osa_policy_ent_t p, ks_buf_t *key, ks_buf_t *line)
{
	ks_buf_reset(key);
	ks_buf_reset(line);
	int ret = ks_buf_append_u8(key, STORE_KEY_POLICY);
	if (ret == KS_EOK && p->name)
		ret = ks_buf_append(key, p->name, strlen(p->name));
	if (ret == KS_EOK)
		ret = bridge_convert_policy_encode(p, line);
	return ret;
}

static bool view_eq(ks_view_t a, const ks_buf_t *b)
{
	return a.len == b->len &&
	       (a.len == 0 || !memcmp(a.ptr, b->data, a.len));
}

/* --- change list: owned copies of keys and values -------------------------
 */

typedef struct chg {
	enum store_op op;
	size_t key_off, key_len, val_off, val_len;
} chg_t;

typedef struct chglist {
	ks_buf_t arena;
	chg_t *v;
	size_t n, cap;
} chglist_t;

static int chg_add(chglist_t *l, enum store_op op, const ks_buf_t *key,
		   const ks_buf_t *val)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		chg_t *v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return KS_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	chg_t *c = &l->v[l->n];
	c->op = op;
	c->key_off = l->arena.len;
	c->key_len = key->len;
	int ret = ks_buf_append(&l->arena, key->data, key->len);
	c->val_off = l->arena.len;
	c->val_len = val ? val->len : 0;
	if (ret == KS_EOK && val)
		ret = ks_buf_append(&l->arena, val->data, val->len);
	if (ret == KS_EOK)
		l->n++;
	return ret;
}

static void chg_free(chglist_t *l)
{
	ks_buf_free(&l->arena);
	free(l->v);
	*l = (chglist_t){ 0 };
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int chg_commit(store_t *s, chglist_t *l, uint64_t *first, uint64_t *last)
{
	store_change_t *ch = NULL;
	if (l->n) {
		ch = calloc(l->n, sizeof(*ch));
		if (ch == NULL)
			return KS_ENOMEM;
	}
	for (size_t i = 0; i < l->n; i++) {
		ch[i].op = l->v[i].op;
		ch[i].key = (ks_view_t){ l->arena.data + l->v[i].key_off,
					 l->v[i].key_len };
		ch[i].value = (ks_view_t){ l->arena.data + l->v[i].val_off,
					   l->v[i].val_len };
	}
	int ret = store_commit(s, ch, l->n, now_us(), first, last);
	free(ch);
	return ret;
}

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
		if (!view_eq(cur, &sc->line)) {
			ret = chg_add(&sc->chg, STORE_PUT, &sc->key, &sc->line);
			sc->st.puts++;
		}
	} else if (ret == KS_ENOENT) {
		ret = chg_add(&sc->chg, STORE_PUT, &sc->key, &sc->line);
		sc->st.puts++;
	}
	if (ret == KS_EOK)
		ret = seen_add(&sc->seen, sc->key.data, sc->key.len);
	return ret;
}

/* Drop our shared lock, keeping the longest hold for the stats. */
static void scan_unlock(scan_t *sc)
{
	uint64_t held = mono_us() - sc->locked_at_us;
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
	int ret = encode_princ(b, e, &sc->key, &sc->line);
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
			sc->locked_at_us = mono_us();
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
	int ret = encode_policy(p, &sc->key, &sc->line);
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
			ret = encode_princ(b, e, &sc->key, &sc->line);
			krb5_db_free_principal(b->ctx, e);
		}
		krb5_free_principal(b->ctx, princ);
	} else if (key.ptr[0] == STORE_KEY_POLICY) {
		osa_policy_ent_t p = NULL;
		code = krb5_db_get_policy(b->ctx, name, &p);
		if (code == 0) {
			exists = true;
			ret = encode_policy(p, &sc->key, &sc->line);
			krb5_db_free_policy(b->ctx, p);
		}
	} else {
		goto out; /* not ours */
	}
	if (code && bridge__err_quiet(code) != KS_ENOENT) {
		ret = bridge__err(b->ctx, code, "confirming a deletion");
	} else if (ret == KS_EOK && !exists) {
		ret = chg_add(&sc->chg, STORE_DEL, &kb, NULL);
		sc->st.dels++;
	} else if (ret == KS_EOK && !view_eq(value, &sc->line)) {
		/* Missed by the iteration (changed concurrently). */
		ret = chg_add(&sc->chg, STORE_PUT, &sc->key, &sc->line);
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
	sc.locked_at_us = mono_us();
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
	ret = chg_commit(s, &sc.chg, &sc.st.first_seq, &sc.st.last_seq);
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
	chg_free(&sc.chg);
	seen_free(&sc.seen);
	ks_buf_free(&sc.key);
	ks_buf_free(&sc.line);
	return ret;
}

/* --- single principal ---------------------------------------------------- */

static int read_one(bridge_t *b, const char *name, ks_buf_t *key,
		    ks_buf_t *line)
{
	krb5_principal princ = NULL;
	krb5_db_entry *e = NULL;
	krb5_error_code code = krb5_parse_name(b->ctx, name, &princ);
	if (code)
		return bridge__err(b->ctx, code, "krb5_parse_name");
	int ret;
	code = krb5_db_get_principal(b->ctx, princ, 0, &e);
	if (code == KRB5_KDB_NOENTRY)
		ret = KS_ENOENT;
	else if (code)
		ret = bridge__err(b->ctx, code, "krb5_db_get_principal");
	else
		ret = encode_princ(b, e, key, line);
	krb5_db_free_principal(b->ctx, e);
	krb5_free_principal(b->ctx, princ);
	return ret;
}

int bridge_read_principal(bridge_t *b, const char *name, ks_buf_t *value)
{
	ks_buf_t key = KS_BUF_INIT, line = KS_BUF_INIT;
	int ret = read_one(b, name, &key, &line);
	if (ret == KS_EOK)
		ret = ks_buf_append(value, line.data, line.len);
	ks_buf_free(&key);
	ks_buf_free(&line);
	return ret;
}

/* Add the change for one principal (PUT if it exists, DEL if gone). */
static int capture_one(bridge_t *b, const char *name, chglist_t *chg)
{
	ks_buf_t key = KS_BUF_INIT, line = KS_BUF_INIT;
	int ret = read_one(b, name, &key, &line);
	if (ret == KS_ENOENT) {
		/* Gone: the key is the canonical name we were given. */
		krb5_principal princ = NULL;
		char *canon = NULL;
		krb5_error_code code = krb5_parse_name(b->ctx, name, &princ);
		if (code == 0)
			code = krb5_unparse_name(b->ctx, princ, &canon);
		ret = bridge__err(b->ctx, code, "krb5_unparse_name");
		ks_buf_reset(&key);
		if (ret == KS_EOK)
			ret = ks_buf_append_u8(&key, STORE_KEY_PRINCIPAL);
		if (ret == KS_EOK)
			ret = ks_buf_append(&key, canon, strlen(canon));
		if (ret == KS_EOK && key.len > STORE_MAX_KEY)
			ret = KS_ELIMIT;
		if (ret == KS_EOK)
			ret = chg_add(chg, STORE_DEL, &key, NULL);
		krb5_free_unparsed_name(b->ctx, canon);
		krb5_free_principal(b->ctx, princ);
	} else if (ret == KS_EOK) {
		ret = key.len > STORE_MAX_KEY
			      ? KS_ELIMIT
			      : chg_add(chg, STORE_PUT, &key, &line);
	}
	ks_buf_free(&key);
	ks_buf_free(&line);
	return ret;
}

int bridge_capture_principal(bridge_t *b, store_t *s, const char *name,
			     uint64_t *first_seq, uint64_t *last_seq)
{
	return bridge_capture_principals(b, s, &name, 1, first_seq, last_seq);
}

int bridge_capture_principals(bridge_t *b, store_t *s, const char *const *names,
			      size_t n, uint64_t *first_seq, uint64_t *last_seq)
{
	chglist_t chg = { 0 };
	int ret = KS_EOK;

	for (size_t i = 0; ret == KS_EOK && i < n; i++)
		ret = capture_one(b, names[i], &chg);
	if (ret == KS_EOK)
		ret = chg_commit(s, &chg, first_seq, last_seq);
	chg_free(&chg);
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
	int ret = encode_princ(x->b, e, &x->key, &x->line);
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
	int ret = encode_policy(p, &x->key, &x->line);
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

/* --- apply --------------------------------------------------------------- */

/* One parsed change. */
typedef struct item {
	enum store_op op;
	bool policy;
	krb5_db_entry *e;      /* principal PUT */
	osa_policy_ent_rec *p; /* policy PUT */
	krb5_principal princ;  /* principal DEL */
	char *polname;	       /* policy DEL */
} item_t;

static void item_free(krb5_context ctx, item_t *it)
{
	bridge_convert_princ_free(ctx, it->e);
	bridge_convert_policy_free(it->p);
	krb5_free_principal(ctx, it->princ);
	free(it->polname);
	*it = (item_t){ 0 };
}

/* Parse one change and check that its key names its value. */
static int item_parse(krb5_context ctx, const store_change_t *c, item_t *it)
{
	if (c->key.len < 2 || (c->op != STORE_PUT && c->op != STORE_DEL) ||
	    (c->key.ptr[0] != STORE_KEY_PRINCIPAL &&
	     c->key.ptr[0] != STORE_KEY_POLICY)) {
		ks_log_warn(KDB, "malformed change: bad op or key");
		return KS_EMALF;
	}
	const char *kname = (const char *)c->key.ptr + 1;
	size_t klen = c->key.len - 1;
	it->op = c->op;
	it->policy = c->key.ptr[0] == STORE_KEY_POLICY;
	if (memchr(kname, '\0', klen)) {
		ks_log_warn(KDB, "malformed change: NUL in key");
		return KS_EMALF;
	}
	if (c->op == STORE_PUT) {
		const char *name;
		size_t nlen;
		bool is_pol;
		int ret = bridge_convert_line_name((const char *)c->value.ptr,
						   c->value.len, &name, &nlen,
						   &is_pol);
		if (ret != KS_EOK)
			return ret;
		if (is_pol != it->policy || nlen != klen ||
		    memcmp(name, kname, klen)) {
			ks_log_warn(KDB,
				    "malformed change: key '%.*s' does "
				    "not match its record",
				    (int)(klen > 200 ? 200 : klen), kname);
			return KS_EMALF;
		}
		if (it->policy)
			return bridge_convert_policy_parse(
				(const char *)c->value.ptr, c->value.len,
				&it->p);
		return bridge_convert_princ_parse(
			ctx, (const char *)c->value.ptr, c->value.len, &it->e);
	}
	char *name = malloc(klen + 1);
	if (name == NULL)
		return KS_ENOMEM;
	memcpy(name, kname, klen);
	name[klen] = '\0';
	if (it->policy) {
		it->polname = name;
		return KS_EOK;
	}
	krb5_error_code code = krb5_parse_name_flags(
		ctx, name, KRB5_PRINCIPAL_PARSE_REQUIRE_REALM, &it->princ);
	free(name);
	if (code) {
		ks_log_warn(KDB, "malformed change: bad principal key");
		return KS_EMALF;
	}
	return KS_EOK;
}

/* Keep the target's own lockout fields (replicate_lockout = false). */
static int keep_nra(bridge_t *b, krb5_context ctx, krb5_db_entry *e)
{
	if (b->lockout)
		return KS_EOK;
	krb5_db_entry *cur = NULL;
	krb5_error_code code = krb5_db_get_principal(ctx, e->princ, 0, &cur);
	if (code == KRB5_KDB_NOENTRY)
		return KS_EOK;
	if (code)
		return bridge__err(ctx, code, "krb5_db_get_principal");
	e->last_success = cur->last_success;
	e->last_failed = cur->last_failed;
	e->fail_auth_count = cur->fail_auth_count;
	krb5_db_free_principal(ctx, cur);
	return KS_EOK;
}

static int put_policy(krb5_context ctx, osa_policy_ent_rec *p)
{
	osa_policy_ent_t cur = NULL;
	krb5_error_code code = krb5_db_get_policy(ctx, p->name, &cur);
	if (code == 0) {
		krb5_db_free_policy(ctx, cur);
		code = krb5_db_put_policy(ctx, p);
	} else if (bridge__err_quiet(code) == KS_ENOENT) {
		code = krb5_db_create_policy(ctx, p);
	}
	return bridge__err(ctx, code, "storing a policy");
}

static int item_apply(bridge_t *b, item_t *it)
{
	krb5_context ctx = b->ctx;
	krb5_error_code code;
	if (it->op == STORE_PUT && !it->policy) {
		int ret = keep_nra(b, ctx, it->e);
		if (ret != KS_EOK)
			return ret;
		code = krb5_db_put_principal(ctx, it->e);
		return bridge__err(ctx, code, "krb5_db_put_principal");
	}
	if (it->op == STORE_PUT)
		return put_policy(ctx, it->p);
	if (it->policy)
		code = krb5_db_delete_policy(ctx, it->polname);
	else
		code = krb5_db_delete_principal(ctx, it->princ);
	if (bridge__err_quiet(code) == KS_ENOENT)
		return KS_EOK; /* already gone: idempotent */
	return bridge__err(ctx, code, "deleting a record");
}

int bridge_apply(bridge_t *b, const store_change_t *ch, size_t n)
{
	int ret = KS_EOK;
	bool locked = false;
	item_t *items = n ? calloc(n, sizeof(*items)) : NULL;
	if (n && items == NULL)
		return KS_ENOMEM;
	for (size_t i = 0; i < n && ret == KS_EOK; i++)
		ret = item_parse(b->ctx, &ch[i], &items[i]);
	if (ret != KS_EOK)
		goto out;
	krb5_error_code code = krb5_db_lock(b->ctx, KRB5_DB_LOCKMODE_EXCLUSIVE);
	if (code) {
		ret = bridge__err(b->ctx, code, "krb5_db_lock");
		goto out;
	}
	locked = true;
	for (size_t i = 0; i < n && ret == KS_EOK; i++) {
		ret = item_apply(b, &items[i]);
		/* A long batch lets the KDC in every lock_batch records: each
		 * record is complete on its own, so readers may see a prefix
		 * of the batch (as they do of a kadmind session). */
		if (ret == KS_EOK && b->lock_batch != UINT32_MAX &&
		    (i + 1) % b->lock_batch == 0 && i + 1 < n) {
			krb5_db_unlock(b->ctx);
			locked = false;
			code = krb5_db_lock(b->ctx, KRB5_DB_LOCKMODE_EXCLUSIVE);
			if (code)
				ret = bridge__err(b->ctx, code, "krb5_db_lock");
			else
				locked = true;
		}
	}
out:
	if (locked)
		krb5_db_unlock(b->ctx);
	for (size_t i = 0; i < n; i++)
		item_free(b->ctx, &items[i]);
	free(items);
	return ret;
}

/* --- full load ----------------------------------------------------------- */

struct bridge_load {
	bridge_t *b;
	krb5_context ctx;
	char *args[4];
	uint64_t n;
};

static char arg_temporary[] = "temporary";
static char arg_merge_nra[] = "merge_nra";

int bridge_load_begin(bridge_t *b, bridge_load_t **out)
{
	bridge_load_t *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return KS_ENOMEM;
	l->b = b;
	l->args[0] = arg_temporary;
	l->args[1] = b->lockout ? NULL : arg_merge_nra;
	if (b->quiet)
		l->args[l->args[1] ? 2 : 1] = arg_quiet;
	int ret = make_context(b->kdc_profile, b->realm, &l->ctx);
	if (ret != KS_EOK) {
		free(l);
		return ret;
	}
	krb5_error_code code = krb5_db_create(l->ctx, l->args);
	if (code) {
		ret = bridge__err(l->ctx, code, "creating the side database");
		krb5_free_context(l->ctx);
		free(l);
		return ret;
	}
	*out = l;
	return KS_EOK;
}

int bridge_load_put(bridge_load_t *l, ks_view_t key, ks_view_t value)
{
	store_change_t c = { .op = STORE_PUT, .key = key, .value = value };
	item_t it = { 0 };
	int ret = item_parse(l->ctx, &c, &it);
	if (ret == KS_EOK) {
		if (it.policy) {
			ret = bridge__err(l->ctx,
					  krb5_db_create_policy(l->ctx, it.p),
					  "krb5_db_create_policy");
		} else {
			ret = bridge__err(l->ctx,
					  krb5_db_put_principal(l->ctx, it.e),
					  "krb5_db_put_principal");
		}
	}
	item_free(l->ctx, &it);
	if (ret == KS_EOK)
		l->n++;
	return ret;
}

static void load_free(bridge_load_t *l)
{
	krb5_db_fini(l->ctx);
	krb5_free_context(l->ctx);
	free(l);
}

void bridge_load_abort(bridge_load_t *l)
{
	if (l == NULL)
		return;
	/* DB2 keeps a temporary DB open and locked for its lifetime and its
	 * fini does not close that handle: release the lock first so the
	 * handle is closed, then destroy the files. */
	(void)krb5_db_unlock(l->ctx);
	krb5_error_code code = krb5_db_destroy(l->ctx, l->args);
	if (code && code != KRB5_PLUGIN_OP_NOTSUPP)
		bridge__err(l->ctx, code, "destroying the side database");
	load_free(l);
}

int bridge_load_commit(bridge_load_t *l)
{
	krb5_error_code code = krb5_db_promote(l->ctx, l->args);
	if (code) {
		int ret = bridge__err(l->ctx, code,
				      "promoting the side database");
		bridge_load_abort(l);
		return ret;
	}
	ks_log_info(KDB, "full load: %llu records promoted",
		    (unsigned long long)l->n);
	load_free(l);
	return KS_EOK;
}

static int load_store_cb(ks_view_t key, ks_view_t value, void *arg)
{
	return bridge_load_put(arg, key, value);
}

int bridge_load_from_store(bridge_t *b, store_t *s)
{
	bridge_load_t *l = NULL;
	store_txn_t *t = NULL;
	int ret = bridge_load_begin(b, &l);
	if (ret != KS_EOK)
		return ret;
	ret = store_read_begin(s, &t);
	if (ret == KS_EOK)
		ret = store_records_foreach(t, (ks_view_t){ 0 }, load_store_cb,
					    l);
	if (t)
		store_read_end(t);
	if (ret != KS_EOK) {
		bridge_load_abort(l);
		return ret;
	}
	return bridge_load_commit(l);
}
