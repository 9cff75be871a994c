/* SPDX-License-Identifier: MIT */
/* krb5_error_code -> KS_E* translation and logging for all of bridge/. */
#include "bridge/err.h"

#include <errno.h>

#include <kdb.h>

#include "common/errors.h"
#include "common/log.h"

/* The policy database's com_err table ("adb", lib/kadm5/adb_err.et) is not
 * in the installed headers; its base and the two codes we act on. */
#define ADB_ERR_BASE  28810240L
#define OSA_ADB_DUP   (ADB_ERR_BASE + 1)
#define OSA_ADB_NOENT (ADB_ERR_BASE + 2)

int bridge__err_quiet(krb5_error_code code)
{
	switch (code) {
	case 0:
		return KS_EOK;
	case KRB5_KDB_NOENTRY:
	case OSA_ADB_NOENT:
		return KS_ENOENT;
	case OSA_ADB_DUP:
		return KS_EEXIST;
	case KRB5_KDB_CANTLOCK_DB:
	case KRB5_KDB_DB_INUSE:
		return KS_EKDBLOCK;
	case KRB5_KDB_INUSE:
	case EEXIST:
		return KS_EEXIST;
	case ENOMEM:
		return KS_ENOMEM;
	case KRB5_PARSE_MALFORMED:
	case KRB5_PARSE_ILLCHAR:
		return KS_EMALF;
	default:
		break;
	}
	/* com_err table of kdb5 errors: KRB5_KDB_* share one base. */
	if (code >= KRB5_KDB_RCSID && code <= KRB5_KDB_RCSID + 255)
		return KS_EKDB;
	if (code > 0 && code < 4096)
		return ks_errno(code);
	return KS_EKRB5;
}

int bridge__err(krb5_context ctx, krb5_error_code code, const char *what)
{
	if (code == 0)
		return KS_EOK;
	int ret = bridge__err_quiet(code);
	const char *msg = ctx ? krb5_get_error_message(ctx, code) : NULL;
	ks_log_err(KDB, "%s failed: %s (krb5 code %ld, %s)", what,
		   msg ? msg : "unknown krb5 error", (long)code,
		   ks_strerror(ret));
	if (msg)
		krb5_free_error_message(ctx, msg);
	return ret;
}
