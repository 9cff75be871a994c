/* SPDX-License-Identifier: MIT */
/*
 * Writing to the KDB: incremental apply of change sets (replica) and the
 * atomic full load through a side database.  Rules: bridge/bridge.h.
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
#include "bridge/report.h"
#include "common/errors.h"
#include "common/lockout.h"
#include "common/log.h"

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

/*
 * The target's own lockout fields: kept as they are when replicate_lockout
 * is off; merged with the primary's (the base, PROTOCOL.md §3.10) when on,
 * so a record from the primary never rolls back a newer failure or login
 * this KDC counted itself.
 */
static int keep_nra(bridge_t *b, krb5_context ctx, krb5_db_entry *e)
{
	krb5_db_entry *cur = NULL;
	krb5_error_code code = krb5_db_get_principal(ctx, e->princ, 0, &cur);
	if (code == KRB5_KDB_NOENTRY)
		return KS_EOK;
	if (code)
		return bridge__err(ctx, code, "krb5_db_get_principal");
	ks_lockout_t mine = { .last_success = (uint32_t)cur->last_success,
			      .last_failed = (uint32_t)cur->last_failed,
			      .fail_auth_count =
				      (int32_t)cur->fail_auth_count };
	krb5_db_free_principal(ctx, cur);
	if (b->lockout) {
		ks_lockout_t base = { .last_success = (uint32_t)e->last_success,
				      .last_failed = (uint32_t)e->last_failed,
				      .fail_auth_count =
					      (int32_t)e->fail_auth_count };
		ks_lockout_merge(&base, &mine, &mine);
	}
	e->last_success = (krb5_timestamp)mine.last_success;
	e->last_failed = (krb5_timestamp)mine.last_failed;
	e->fail_auth_count = (krb5_kvno)mine.fail_auth_count;
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
	/* A new master key list: this KDC's stash first (bridge/mkey.c). */
	for (size_t i = 0; i < n && ret == KS_EOK; i++)
		if (items[i].e != NULL &&
		    bridge__is_mkey(b, b->ctx, items[i].e))
			ret = bridge__mkey_follow(b, b->ctx, items[i].e);
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
	/* the back end wrote the records out at unlock: make them durable
	 * before the caller records (and the replica acknowledges) them */
	if (ret == KS_EOK && n > 0)
		ret = bridge__kdb_sync(b);
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

static int load_begin(bridge_t *b, bool merge, bridge_load_t **out)
{
	bridge_load_t *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return KS_ENOMEM;
	size_t na = 0;
	l->b = b;
	l->args[na++] = arg_temporary;
	if (b->quiet)
		l->args[na++] = bridge__arg_quiet;
	if (merge)
		l->args[na++] = arg_merge_nra; /* last: bridge_load_no_merge */
	int ret = bridge__make_context(b->kdc_profile, b->realm, &l->ctx);
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

int bridge_load_begin(bridge_t *b, bridge_load_t **out)
{
	return load_begin(b, !b->lockout, out);
}

void bridge_load_no_merge(bridge_load_t *l)
{
	for (size_t i = 0; l->args[i] != NULL; i++)
		if (l->args[i] == arg_merge_nra)
			l->args[i] = NULL;
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
		} else if (bridge__is_mkey(l->b, l->ctx, it.e) &&
			   (ret = bridge__mkey_follow(l->b, l->ctx, it.e)) !=
				   KS_EOK) {
			/* this KDC's stash cannot follow: load nothing */
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

struct bridge_load_rec {
	item_t it;
	bool mkey; /* the master key principal: bridge__mkey_follow first */
};

int bridge_load_parse(bridge_load_t *l, ks_view_t key, ks_view_t value,
		      bridge_load_rec_t **out)
{
	store_change_t c = { .op = STORE_PUT, .key = key, .value = value };
	bridge_load_rec_t *r = calloc(1, sizeof(*r));
	int ret;

	*out = NULL;
	if (r == NULL)
		return KS_ENOMEM;
	/* the bridge's context: the side DB's belongs to the writer */
	ret = item_parse(l->b->ctx, &c, &r->it);
	if (ret == KS_EOK && !r->it.policy)
		r->mkey = bridge__is_mkey(l->b, l->b->ctx, r->it.e);
	if (ret != KS_EOK) {
		bridge_load_rec_free(l, r);
		return ret;
	}
	*out = r;
	return KS_EOK;
}

bool bridge_load_rec_is_mkey(const bridge_load_rec_t *r)
{
	return r->mkey;
}

int bridge_load_put_parsed(bridge_load_t *l, bridge_load_rec_t *r)
{
	int ret = KS_EOK;

	if (r->it.policy)
		ret = bridge__err(l->ctx,
				  krb5_db_create_policy(l->ctx, r->it.p),
				  "krb5_db_create_policy");
	else if (r->mkey &&
		 (ret = bridge__mkey_follow(l->b, l->ctx, r->it.e)) != KS_EOK)
		; /* this KDC's stash cannot follow: load nothing */
	else
		ret = bridge__err(l->ctx,
				  krb5_db_put_principal(l->ctx, r->it.e),
				  "krb5_db_put_principal");
	if (ret == KS_EOK)
		l->n++;
	return ret;
}

void bridge_load_rec_free(bridge_load_t *l, bridge_load_rec_t *r)
{
	if (r == NULL)
		return;
	item_free(l->ctx, &r->it);
	free(r);
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
				      "installing the side database");
		bridge_load_abort(l);
		return ret;
	}
	ks_log_info(KDB, "full load: %llu records installed",
		    (unsigned long long)l->n);
	load_free(l);
	return KS_EOK;
}

static int load_store_cb(ks_view_t key, ks_view_t value, void *arg)
{
	return bridge_load_put(arg, key, value);
}

static int load_from_store(bridge_t *b, store_t *s, bool merge,
			   uint64_t *records)
{
	bridge_load_t *l = NULL;
	store_txn_t *t = NULL;
	int ret = load_begin(b, merge, &l);
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
	if (records != NULL)
		*records = l->n;
	return bridge_load_commit(l);
}

int bridge_load_from_store(bridge_t *b, store_t *s)
{
	return load_from_store(b, s, !b->lockout, NULL);
}

static int sum_cb(ks_view_t key, ks_view_t value, void *arg)
{
	*(uint64_t *)arg += key.len + value.len;
	return 0;
}

int bridge_rebuild(bridge_t *b, store_t *s, uint64_t *records)
{
	store_txn_t *t = NULL;
	uint64_t bytes = 0;
	int ret = store_read_begin(s, &t);

	if (ret == KS_EOK)
		ret = store_records_foreach(t, (ks_view_t){ 0 }, sum_cb,
					    &bytes);
	if (t)
		store_read_end(t);
	/* a bulk load in key order fills pages about half full at worst */
	if (ret == KS_EOK)
		ret = bridge__kdb_room_bytes(b, 2 * bytes + BRIDGE_ROOM_RESERVE,
					     "a rebuild");
	if (ret == KS_EOK)
		ret = load_from_store(b, s, false, records);
	return ret;
}
