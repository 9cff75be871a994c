/* SPDX-License-Identifier: MIT */
/*
 * Targeted captures: read named principals and policies from the KDB and
 * commit what changed to the store in one change set, ordered so that a
 * replica never sees a principal before the policy it names, nor a policy
 * deleted before a principal leaves it.
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
		ret = bridge__encode_princ(b, e, key, line);
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
			ret = bridge__chg_add(chg, STORE_DEL, &key, NULL);
		krb5_free_unparsed_name(b->ctx, canon);
		krb5_free_principal(b->ctx, princ);
	} else if (ret == KS_EOK) {
		ret = key.len > STORE_MAX_KEY
			      ? KS_ELIMIT
			      : bridge__chg_add(chg, STORE_PUT, &key, &line);
	}
	ks_buf_free(&key);
	ks_buf_free(&line);
	return ret;
}

/* Read one policy: KS_EOK with key and line, or KS_ENOENT with key only. */
static int read_policy(bridge_t *b, const char *name, ks_buf_t *key,
		       ks_buf_t *line)
{
	osa_policy_ent_t p = NULL;
	krb5_error_code code =
		krb5_db_get_policy(b->ctx, (char *)(uintptr_t)name, &p);
	int ret;

	if (code == 0) {
		ret = bridge__encode_policy(p, key, line);
		krb5_db_free_policy(b->ctx, p);
	} else if (bridge__err_quiet(code) == KS_ENOENT) {
		ks_buf_reset(key);
		ret = ks_buf_append_u8(key, STORE_KEY_POLICY);
		if (ret == KS_EOK)
			ret = ks_buf_append(key, name, strlen(name));
		if (ret == KS_EOK)
			ret = KS_ENOENT;
	} else {
		ret = bridge__err(b->ctx, code, "krb5_db_get_policy");
	}
	if ((ret == KS_EOK || ret == KS_ENOENT) && key->len > STORE_MAX_KEY)
		ret = KS_ELIMIT;
	return ret;
}

int bridge_capture(bridge_t *b, store_t *s, const bridge_ref_t *refs, size_t n,
		   uint64_t *first_seq, uint64_t *last_seq)
{
	chglist_t chg = { 0 };
	ks_buf_t key = KS_BUF_INIT, line = KS_BUF_INIT;
	bool *gone = n ? calloc(n, sizeof(*gone)) : NULL;
	int ret = n && gone == NULL ? KS_ENOMEM : KS_EOK;

	/* 1. policies that exist: before any principal that may name them */
	for (size_t i = 0; ret == KS_EOK && i < n; i++) {
		if (refs[i].type != STORE_KEY_POLICY)
			continue;
		ret = read_policy(b, refs[i].name, &key, &line);
		if (ret == KS_EOK)
			ret = bridge__chg_add(&chg, STORE_PUT, &key, &line);
		else if (ret == KS_ENOENT) {
			gone[i] = true;
			ret = KS_EOK;
		}
	}
	/* 2. principals, in the order given */
	for (size_t i = 0; ret == KS_EOK && i < n; i++) {
		if (refs[i].type == STORE_KEY_PRINCIPAL)
			ret = capture_one(b, refs[i].name, &chg);
		else if (refs[i].type != STORE_KEY_POLICY)
			ret = KS_EINVAL;
	}
	/* 3. policies that are gone: after every principal that left them */
	for (size_t i = 0; ret == KS_EOK && i < n; i++) {
		if (!gone[i])
			continue;
		ks_buf_reset(&key);
		ret = ks_buf_append_u8(&key, STORE_KEY_POLICY);
		if (ret == KS_EOK)
			ret = ks_buf_append(&key, refs[i].name,
					    strlen(refs[i].name));
		if (ret == KS_EOK)
			ret = bridge__chg_add(&chg, STORE_DEL, &key, NULL);
	}
	if (ret == KS_EOK)
		ret = bridge__chg_commit(s, &chg, first_seq, last_seq);
	bridge__chg_free(&chg);
	ks_buf_free(&key);
	ks_buf_free(&line);
	free(gone);
	return ret;
}
