/* SPDX-License-Identifier: MIT */
/*
 * The KDB damage check (bridge.h, bridge_kdb_check): everything a full
 * read of the database touches, read-only.  Meant for a process of its
 * own (node/kdb_check.h), because a torn DB2 file can crash libkdb5.
 */
#include <stdio.h>
#include <string.h>

#include <krb5.h>
#include <kdb.h>

#include "bridge/internal.h"
#include "common/errors.h"

static int count_cb(ks_view_t key, ks_view_t value, void *arg)
{
	bridge_check_t *c = arg;

	(void)value;
	if (key.len && key.ptr[0] == STORE_KEY_POLICY)
		c->policies++;
	else
		c->principals++;
	return 0;
}

int bridge_kdb_check(const bridge_opts_t *opts, bridge_check_t *out)
{
	bridge_opts_t o = *opts;
	bridge_t *b = NULL;
	krb5_db_entry *km = NULL;
	krb5_error_code code;
	int ret;

	*out = (bridge_check_t){ 0 };
	o.read_only = true;
	o.no_db = false;
	ret = bridge_open(&o, &b);
	if (ret == KS_ENOMEM)
		return ret;
	if (ret != KS_EOK) {
		snprintf(out->why, sizeof(out->why),
			 "the KDB cannot be opened (%s)", ks_strerror(ret));
		return KS_EKDBDAMAGED;
	}
	/* a database file DB2 found empty opens fine: the master key
	 * principal every realm has tells it from a sound one */
	code = krb5_db_get_principal(b->ctx, b->mname, 0, &km);
	if (code) {
		const char *msg = krb5_get_error_message(b->ctx, code);
		snprintf(out->why, sizeof(out->why),
			 "the master key principal cannot be read (%s)",
			 msg ? msg : "unknown krb5 error");
		krb5_free_error_message(b->ctx, msg);
		bridge_close(b);
		return KS_EKDBDAMAGED;
	}
	krb5_db_free_principal(b->ctx, km);
	ret = bridge_foreach_record(b, count_cb, out);
	bridge_close(b);
	if (ret == KS_ENOMEM)
		return ret;
	if (ret != KS_EOK) {
		snprintf(out->why, sizeof(out->why),
			 "reading the KDB failed after %llu principals and "
			 "%llu policies (%s)",
			 (unsigned long long)out->principals,
			 (unsigned long long)out->policies, ks_strerror(ret));
		return KS_EKDBDAMAGED;
	}
	return KS_EOK;
}
