/* SPDX-License-Identifier: MIT */
/*
 * Lockout fields of one principal (PROTOCOL.md §3.10): read on a replica
 * for its report upstream, merged on the primary with a replica's report.
 * Rules: bridge/bridge.h.
 */
#include "bridge/bridge.h"

#include <krb5.h>
#include <kdb.h>

#include "bridge/err.h"
#include "bridge/internal.h"
#include "common/errors.h"

static void fields_of(const krb5_db_entry *e, ks_lockout_t *out)
{
	*out = (ks_lockout_t){ .last_success = (uint32_t)e->last_success,
			       .last_failed = (uint32_t)e->last_failed,
			       .fail_auth_count = (int32_t)e->fail_auth_count };
}

/* The entry of \p name: KS_ENOENT if none (or not a principal name). */
static int get(bridge_t *b, const char *name, krb5_db_entry **e)
{
	krb5_principal princ = NULL;
	krb5_error_code code = krb5_parse_name_flags(
		b->ctx, name, KRB5_PRINCIPAL_PARSE_REQUIRE_REALM, &princ);
	int ret;

	if (code)
		return KS_ENOENT; /* no principal has a name it cannot parse */
	code = krb5_db_get_principal(b->ctx, princ, 0, e);
	krb5_free_principal(b->ctx, princ);
	if (code == KRB5_KDB_NOENTRY)
		return KS_ENOENT;
	ret = bridge__err(b->ctx, code, "krb5_db_get_principal");
	return ret;
}

int bridge_lockout_read(bridge_t *b, const char *name, ks_lockout_t *out)
{
	krb5_db_entry *e = NULL;
	int ret = get(b, name, &e);

	if (ret != KS_EOK)
		return ret;
	fields_of(e, out);
	krb5_db_free_principal(b->ctx, e);
	return KS_EOK;
}

int bridge_lockout_merge(bridge_t *b, const char *name,
			 const ks_lockout_t *report, bool *changed)
{
	krb5_db_entry *e = NULL;
	ks_lockout_t cur, merged;
	krb5_error_code code;
	int ret;

	*changed = false;
	if (b->read_only)
		return KS_ESTATE;
	/* one exclusive hold from the read to the write: the KDC's own
	 * lockout write of the same principal lands before or after */
	code = krb5_db_lock(b->ctx, KRB5_DB_LOCKMODE_EXCLUSIVE);
	if (code)
		return bridge__err(b->ctx, code, "krb5_db_lock");
	ret = get(b, name, &e);
	if (ret == KS_EOK && bridge__is_mkey(b, b->ctx, e))
		ret = KS_EACCES; /* the master key principal is never a client */
	if (ret == KS_EOK) {
		fields_of(e, &cur);
		ks_lockout_merge(&cur, report, &merged);
		if (!ks_lockout_equal(&cur, &merged)) {
			/* only these three fields change: everything else
			 * is the entry just read */
			e->last_success = (krb5_timestamp)merged.last_success;
			e->last_failed = (krb5_timestamp)merged.last_failed;
			e->fail_auth_count = (krb5_kvno)merged.fail_auth_count;
			code = krb5_db_put_principal(b->ctx, e);
			ret = bridge__err(b->ctx, code,
					  "krb5_db_put_principal");
			*changed = ret == KS_EOK;
		}
	}
	krb5_db_free_principal(b->ctx, e);
	krb5_db_unlock(b->ctx);
	return ret;
}
