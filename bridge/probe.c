/* SPDX-License-Identifier: MIT */
/*
 * Can this node's KDB be opened at all?  Checked before the daemon starts
 * (and by `kdcsyncd -t`), so that a profile naming a database or a stash
 * that is not there stops the node with a line naming the profile key,
 * instead of a node that runs with replication disabled.  Reads no record:
 * a torn DB2 file can crash libkdb5 when its pages are read, and that
 * check belongs to node/kdb_check.h's child process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/internal.h"
#include "common/errors.h"

static void krb5_why(krb5_context ctx, krb5_error_code code, char *why,
		     size_t len)
{
	const char *msg = krb5_get_error_message(ctx, code);

	snprintf(why, len, "%s", msg ? msg : "unknown krb5 error");
	krb5_free_error_message(ctx, msg);
}

/* The database file: there and readable by us. */
static int probe_file(bridge_probe_t *out)
{
	struct stat st;
	int fd;

	if (stat(out->file, &st) != 0) {
		snprintf(out->why, sizeof(out->why), "%s", strerror(errno));
		return KS_EKDB;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(out->why, sizeof(out->why), "not a regular file");
		return KS_EKDB;
	}
	fd = open(out->file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(out->why, sizeof(out->why), "%s", strerror(errno));
		return KS_EKDB;
	}
	close(fd);
	return KS_EOK;
}

int bridge_kdb_probe(const bridge_opts_t *opts, bridge_probe_t *out)
{
	bridge_opts_t o = *opts;
	bridge_t *b = NULL;
	krb5_keyblock key = { 0 };
	krb5_kvno kvno = 0;
	krb5_error_code code;
	int ret;

	*out = (bridge_probe_t){ 0 };
	o.no_db = true;
	o.read_only = true;
	ret = bridge_open(&o, &b);
	if (ret == KS_ENOMEM)
		return ret;
	if (ret != KS_EOK) {
		snprintf(out->key, sizeof(out->key), "[node] kdc_profile");
		snprintf(out->file, sizeof(out->file), "%s",
			 opts->kdc_profile ? opts->kdc_profile : "(default)");
		snprintf(out->why, sizeof(out->why),
			 "no realm's KDB can be set up from it (%s; is the "
			 "default realm set in krb5.conf?)",
			 ks_strerror(ret));
		return KS_EKRB5;
	}
	char *realm = NULL;
	if (krb5_get_default_realm(b->ctx, &realm) == 0) {
		snprintf(out->realm, sizeof(out->realm), "%s", realm);
		krb5_free_default_realm(b->ctx, realm);
	}
	/* the database file */
	snprintf(out->key, sizeof(out->key), "database_name");
	snprintf(out->file, sizeof(out->file), "%s",
		 b->db_path ? b->db_path : DEFAULT_DB_PATH);
	ret = probe_file(out);
	if (ret != KS_EOK) {
		out->rebuildable = true;
		goto out;
	}
	/* the stash: a KDB whose master key is not at hand serves nothing */
	code = krb5_db_fetch_mkey(b->ctx, b->mname, ENCTYPE_UNKNOWN, FALSE,
				  FALSE, b->stash_path, &kvno, NULL, &key);
	if (code) {
		snprintf(out->key, sizeof(out->key), "key_stash_file");
		snprintf(out->file, sizeof(out->file), "%s",
			 b->stash_path ? b->stash_path
				       : "(the realm's default stash)");
		krb5_why(b->ctx, code, out->why, sizeof(out->why));
		ret = KS_EMKEY;
		goto out;
	}
	krb5_free_keyblock_contents(b->ctx, &key);
	/* the database itself (opened read-only, no record read) */
	b->read_only = true;
	ret = bridge_db_open(b);
	if (ret == KS_ENOMEM)
		goto out;
	if (ret != KS_EOK) {
		snprintf(out->why, sizeof(out->why),
			 "libkdb5 cannot open it (%s)", ks_strerror(ret));
		out->rebuildable = true;
		ret = KS_EKDB;
	}
out:
	/* krb5_db_fetch_mkey loaded the DB module; a KDB never opened
	 * still has it to unload */
	if (!b->db_open)
		(void)krb5_db_fini(b->ctx);
	bridge_close(b);
	return ret;
}
