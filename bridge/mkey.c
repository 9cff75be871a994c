/* SPDX-License-Identifier: MIT */
/*
 * Master-key rollover on a KDC that receives records (a replica, or a
 * kprop-compat receiver): before the master key principal (K/M) from the
 * primary is written, this KDC's stash must be able to decrypt the master
 * key list the record carries, and must hold that list's latest key before
 * a later purge_mkeys makes the older ones useless.
 *
 * How MIT 1.20 reads the list (libkdb5's default fetch_master_key_list):
 * K/M's first key is the latest master key, encrypted under itself; the
 * other keys are encrypted under the latest; the KRB5_TL_MKEY_AUX tl-data
 * holds the latest key encrypted under each older master key.  So a stash
 * holding only an older key decrypts the list through MKEY_AUX until
 * purge_mkeys removes that entry.
 *
 * What happens here, for each K/M record about to be written:
 *   - the stash's key (the highest kvno in it) decrypts the record's latest
 *     key, directly or through MKEY_AUX; if it cannot, the record is
 *     refused with KS_EMKEY and nothing of its batch or load is written
 *     (the replica then says why and stays on its last good state);
 *   - if the stash's kvno is not the latest, the whole list is written to
 *     the stash (krb5_def_store_mkey_list: a temporary keytab renamed over
 *     the stash, created 0600), as `kdb5_util stash` would after add_mkey.
 * Thereafter kdb5_util, kadmin.local and a restarted krb5kdc on this KDC
 * find the latest key in the stash, through add_mkey, use_mkey,
 * update_princ_encryption and purge_mkeys.  Keys are never logged.
 *
 * Which K/M states reach a replica.  Incrementally, every one the primary
 * logged, in order (a batch holding several is followed record by record,
 * bridge_apply); and the primary logs every state its kdb5_util wrote,
 * however fast a chain runs, because the KDB module waits for the node's
 * capture of each K/M change (bridge/report.h, repl_mkey_fast).  The log
 * keeps each version until it is trimmed from the oldest end.
 *
 * A full copy (snapshot, a kprop load) carries only the final K/M, and no
 * master key: master keys never cross the wire, only records encrypted
 * under them.  So a replica follows a full copy only if its stash decrypts
 * that K/M's latest key, directly or through an MKEY_AUX entry the primary
 * has not purged yet.  A replica that needs a full copy across a finished
 * rollover (its store lost, or away while the primary's log was trimmed
 * past the chain: [node] log_retain counts update_princ_encryption's
 * re-encryption of every principal too) is refused with KS_EMKEY: status
 * and log say why, its KDB stays as it was, and once the operator installs
 * the new key in its stash (a copy of the primary's stash, or `kdb5_util
 * stash` with the new master password) it catches up on its own
 * (repl_mkey, part 3).  The same holds when the primary's node was down
 * through a whole chain (no node captured the intermediate states; the
 * module says so on kdb5_util's stderr).
 */
#include <stdlib.h>
#include <string.h>

#include <krb5.h>
#include <kdb.h>
#include <profile.h>

#include "bridge/err.h"
#include "bridge/internal.h"
#include "common/errors.h"
#include "common/log.h"

int bridge__mkey_setup(bridge_t *b)
{
	profile_t prof = NULL;
	char *realm = NULL, *name = NULL, *stash = NULL;
	krb5_error_code code;
	int ret = KS_EOK;

	code = krb5_get_default_realm(b->ctx, &realm);
	if (code)
		return bridge__err(b->ctx, code, "krb5_get_default_realm");
	if (krb5_get_profile(b->ctx, &prof) == 0) {
		(void)profile_get_string(prof, KDB_REALM_SECTION, realm,
					 "master_key_name", NULL, &name);
		(void)profile_get_string(prof, KDB_REALM_SECTION, realm,
					 "key_stash_file", NULL, &stash);
		profile_release(prof);
	}
	code = krb5_db_setup_mkey_name(b->ctx, name, realm, NULL, &b->mname);
	if (code)
		ret = bridge__err(b->ctx, code, "krb5_db_setup_mkey_name");
	if (ret == KS_EOK && stash != NULL &&
	    (b->stash_path = strdup(stash)) == NULL)
		ret = KS_ENOMEM;
	profile_release_string(name);
	profile_release_string(stash);
	krb5_free_default_realm(b->ctx, realm);
	return ret;
}

void bridge__mkey_free(bridge_t *b)
{
	krb5_free_principal(b->ctx, b->mname);
	b->mname = NULL;
	free(b->stash_path);
	b->stash_path = NULL;
}

bool bridge__is_mkey(bridge_t *b, krb5_context ctx, const krb5_db_entry *e)
{
	return b->mname != NULL && e->princ != NULL &&
	       krb5_principal_compare(ctx, b->mname, e->princ);
}

/* The record's latest master key, decrypted with the stash's key. */
static bool decrypt_latest(krb5_context ctx, const krb5_keyblock *stash,
			   krb5_db_entry *km, krb5_keyblock *latest)
{
	krb5_mkey_aux_node *aux = NULL;
	bool ok = false;

	if (stash->enctype == km->key_data[0].key_data_type[0] &&
	    krb5_dbe_decrypt_key_data(ctx, stash, &km->key_data[0], latest,
				      NULL) == 0)
		return true;
	if (krb5_dbe_lookup_mkey_aux(ctx, km, &aux) != 0)
		return false;
	for (krb5_mkey_aux_node *a = aux; a != NULL && !ok; a = a->next)
		ok = krb5_dbe_decrypt_key_data(ctx, stash, &a->latest_mkey,
					       latest, NULL) == 0;
	krb5_dbe_free_mkey_aux_list(ctx, aux);
	return ok;
}

int bridge__mkey_follow(bridge_t *b, krb5_context ctx, krb5_db_entry *km)
{
	krb5_keyblock stash = { 0 }, latest = { 0 };
	krb5_kvno skvno = 0; /* MIT IGNORE_VNO: the stash's highest kvno */
	krb5_keylist_node *list = NULL, **tail = &list;
	krb5_error_code code;
	int ret = KS_EOK;

	if (km->n_key_data < 1) {
		ks_log_err(KDB, "master key record without keys: refused");
		return KS_EMKEY;
	}
	code = krb5_db_fetch_mkey(ctx, b->mname, ENCTYPE_UNKNOWN, FALSE, FALSE,
				  b->stash_path, &skvno, NULL, &stash);
	if (code) {
		bridge__err(ctx, code, "reading this KDC's stash");
		return KS_EMKEY;
	}
	krb5_kvno want = km->key_data[0].key_data_kvno;
	if (!decrypt_latest(ctx, &stash, km, &latest)) {
		ks_log_err(KDB,
			   "the primary's master key list (latest kvno %u) "
			   "cannot be decrypted with this KDC's stash (kvno "
			   "%u): not applied; put the new master key in "
			   "this KDC's stash (kdb5_util stash) or reload it "
			   "from a dump",
			   (unsigned)want, (unsigned)skvno);
		ret = KS_EMKEY;
		goto out;
	}
	if (skvno == want)
		goto out; /* the stash has the latest key already */
	/* The whole list, latest first, as kdb5_util stash writes it. */
	for (int i = 0; i < km->n_key_data && ret == KS_EOK; i++) {
		krb5_keylist_node *n = calloc(1, sizeof(*n));
		if (n == NULL) {
			ret = KS_ENOMEM;
			break;
		}
		*tail = n;
		tail = &n->next;
		n->kvno = km->key_data[i].key_data_kvno;
		if (i == 0) {
			n->keyblock = latest;
			latest = (krb5_keyblock){ 0 };
			continue;
		}
		code = krb5_dbe_decrypt_key_data(ctx, &list->keyblock,
						 &km->key_data[i], &n->keyblock,
						 NULL);
		if (code) {
			bridge__err(ctx, code,
				    "decrypting an older master key");
			ret = KS_EMKEY;
		}
	}
	if (ret == KS_EOK) {
		code = krb5_def_store_mkey_list(ctx, b->stash_path, b->mname,
						list, NULL);
		if (code) {
			bridge__err(ctx, code, "writing this KDC's stash");
			ret = KS_EMKEY;
		} else {
			ks_log_notice(KDB,
				      "stash updated to the primary's master "
				      "key list (latest kvno %u, %d keys)",
				      (unsigned)want, km->n_key_data);
		}
	}
out:
	krb5_dbe_free_key_list(ctx, list);
	krb5_free_keyblock_contents(ctx, &latest);
	krb5_free_keyblock_contents(ctx, &stash);
	return ret;
}
