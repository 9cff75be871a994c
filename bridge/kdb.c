/* SPDX-License-Identifier: MIT */
/*
 * The bridge's context: krb5 context and DB open/close, and the helpers
 * every bridge file shares (record encoding, the change list committed to
 * the store).  Scans are in scan.c, targeted captures in capture.c, apply
 * and full load in apply.c; the rules are in bridge/bridge.h.
 */
#include "bridge/bridge.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <krb5.h>
#include <kdb.h>
#include <profile.h>

#include "bridge/convert.h"
#include "bridge/err.h"
#include "bridge/internal.h"
#include "bridge/report.h"
#include "common/errors.h"
#include "common/log.h"

/* --- context ------------------------------------------------------------- */

/* A context reading kdc.conf on top of krb5.conf, as kdb5_util does. */
int bridge__make_context(const char *kdc_profile, const char *realm,
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
 * What the profile says about the realm's KDB, read the way libkdb5 and db2
 * do: whether it goes through the kdcsync KDB module (then every DB this
 * bridge opens passes it "kdcsync_quiet", so the node's own writes --
 * applies, full loads -- are not reported back to the node; a plain back
 * end would refuse that argument), and the database file's path
 * ([dbmodules] database_name, else [realms] database_name, else db2's
 * default) for bridge_kdb_stamp().
 */
static int read_db_config(bridge_t *b)
{
	profile_t prof = NULL;
	char *realm = NULL, *section = NULL, *lib = NULL, *path = NULL;
	int ret = KS_EOK;

	if (krb5_get_default_realm(b->ctx, &realm) != 0 ||
	    krb5_get_profile(b->ctx, &prof) != 0)
		goto out;
	if (profile_get_string(prof, KDB_REALM_SECTION, realm,
			       KDB_MODULE_POINTER, realm, &section) != 0)
		goto out;
	if (profile_get_string(prof, KDB_MODULE_SECTION, section,
			       KDB_LIB_POINTER, "db2", &lib) == 0 &&
	    lib != NULL)
		b->quiet = strcmp(lib, KS_REPORT_MODULE) == 0;
	if (profile_get_string(prof, KDB_MODULE_SECTION, section,
			       "database_name", NULL, &path) == 0 &&
	    path == NULL)
		(void)profile_get_string(prof, KDB_REALM_SECTION, realm,
					 "database_name", DEFAULT_DB_PATH,
					 &path);
	if (path != NULL && (b->db_path = strdup(path)) == NULL)
		ret = KS_ENOMEM;
out:
	profile_release_string(path);
	profile_release_string(lib);
	profile_release_string(section);
	if (prof)
		profile_release(prof);
	krb5_free_default_realm(b->ctx, realm);
	return ret;
}

char bridge__arg_quiet[] = KS_REPORT_QUIET_ARG;

int bridge_db_open(bridge_t *b)
{
	static char arg_unlockiter[] = "unlockiter";
	char *db_args[] = { arg_unlockiter, NULL, NULL };

	if (b->db_open)
		return KS_EOK;
	if (b->quiet)
		db_args[1] = bridge__arg_quiet;
	int mode = (b->read_only ? KRB5_KDB_OPEN_RO : KRB5_KDB_OPEN_RW) |
		   KRB5_KDB_SRV_TYPE_ADMIN;
	krb5_error_code code = krb5_db_open(b->ctx, db_args, mode);
	if (code)
		return bridge__err(b->ctx, code, "krb5_db_open");
	b->db_open = true;
	return KS_EOK;
}

void bridge_db_close(bridge_t *b)
{
	if (b == NULL || !b->db_open)
		return;
	krb5_db_fini(b->ctx);
	b->db_open = false;
}

int bridge_open(const bridge_opts_t *opts, bridge_t **out)
{
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
	ret = bridge__make_context(b->kdc_profile, b->realm, &b->ctx);
	if (ret != KS_EOK)
		goto fail;
	ret = read_db_config(b);
	if (ret == KS_EOK)
		ret = bridge__mkey_setup(b);
	if (ret == KS_EOK && !opts->no_db)
		ret = bridge_db_open(b);
	if (ret != KS_EOK)
		goto fail;
	*out = b;
	return KS_EOK;
fail:
	if (b->ctx) {
		bridge__mkey_free(b);
		krb5_free_context(b->ctx);
	}
	free(b->db_path);
	free(b->realm);
	free(b->kdc_profile);
	free(b);
	return ret;
}

void bridge_close(bridge_t *b)
{
	if (b == NULL)
		return;
	bridge_db_close(b);
	bridge__mkey_free(b);
	krb5_free_context(b->ctx);
	free(b->db_path);
	free(b->realm);
	free(b->kdc_profile);
	free(b);
}

/* One file's identity and last change, zero if it does not exist. */
static int stamp_file(const char *path, uint64_t v[5])
{
	struct stat st;

	memset(v, 0, 5 * sizeof(v[0]));
	if (stat(path, &st) != 0)
		return errno == ENOENT ? KS_EOK : ks_errno(errno);
	v[0] = (uint64_t)st.st_dev;
	v[1] = (uint64_t)st.st_ino;
	v[2] = (uint64_t)st.st_size;
	v[3] = (uint64_t)st.st_mtim.tv_sec * 1000000000u +
	       (uint64_t)st.st_mtim.tv_nsec;
	v[4] = (uint64_t)st.st_ctim.tv_sec * 1000000000u +
	       (uint64_t)st.st_ctim.tv_nsec;
	return KS_EOK;
}

int bridge_kdb_stamp(bridge_t *b, bridge_kdb_stamp_t *out)
{
	char path[4096];
	bridge_kdb_stamp_t st = { 0 };

	if (b->db_path == NULL ||
	    (size_t)snprintf(path, sizeof(path), "%s.kadm5", b->db_path) >=
		    sizeof(path))
		return KS_ENOTSUP;
	int ret = stamp_file(b->db_path, st.principal);
	if (ret == KS_EOK)
		ret = stamp_file(path, st.policy);
	if (ret == KS_EOK)
		*out = st;
	return ret;
}

static int sync_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret = KS_EOK;

	if (fd < 0)
		return errno == ENOENT ? KS_EOK : ks_errno(errno);
	if (fsync(fd) != 0)
		ret = ks_errno(errno);
	close(fd);
	return ret;
}

int bridge__kdb_sync(bridge_t *b)
{
	char path[4096];

	if (b->db_path == NULL ||
	    (size_t)snprintf(path, sizeof(path), "%s.kadm5", b->db_path) >=
		    sizeof(path))
		return KS_EOK; /* a back end without files of its own */
	int ret = sync_file(b->db_path);
	if (ret == KS_EOK)
		ret = sync_file(path);
	if (ret != KS_EOK)
		ks_log_err(KDB, "cannot fsync the KDB '%s' (%s)", b->db_path,
			   ks_strerror(ret));
	return ret;
}

bool bridge_kdb_stamp_eq(const bridge_kdb_stamp_t *a,
			 const bridge_kdb_stamp_t *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* --- encoding helpers ---------------------------------------------------- */

/* Encode entry e into line (reset first) and its key into key. */
_Static_assert(BRIDGE_NAME_MAX + 1 <= STORE_MAX_KEY,
	       "a principal's store key ('P' + name) must fit STORE_MAX_KEY");

int bridge__encode_princ(bridge_t *b, krb5_db_entry *e, ks_buf_t *key,
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

int bridge__encode_policy(osa_policy_ent_t p, ks_buf_t *key, ks_buf_t *line)
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

bool bridge__view_eq(ks_view_t a, const ks_buf_t *b)
{
	return a.len == b->len &&
	       (a.len == 0 || !memcmp(a.ptr, b->data, a.len));
}

/* --- change list: owned copies of keys and values -------------------------
 */

int bridge__chg_add(chglist_t *l, enum store_op op, const ks_buf_t *key,
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

void bridge__chg_free(chglist_t *l)
{
	ks_buf_free(&l->arena);
	free(l->v);
	*l = (chglist_t){ 0 };
}

uint64_t bridge__now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t bridge__mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int bridge__chg_commit(store_t *s, chglist_t *l, uint64_t *first,
		       uint64_t *last)
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
	int ret = store_commit(s, ch, l->n, bridge__now_us(), first, last);
	free(ch);
	return ret;
}
