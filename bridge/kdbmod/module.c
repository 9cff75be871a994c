/* SPDX-License-Identifier: MIT */
/*
 * The KDB module "kdcsync": sits where db2 sits, forwards every call to the
 * real back end, and after each successful write tells the local node what
 * changed (bridge/report.h), whichever MIT program made the write.
 *
 *   [dbmodules]
 *       EXAMPLE.ORG = {
 *           db_library = kdcsync
 *           kdcsync_backend = db2          # default db2
 *           kdcsync_socket = /var/lib/kdcsync/capture.sock
 *           kdcsync_mkey_wait = 30         # seconds a master key change
 *                                          # waits for the node (send.c)
 *           database_name = ...            # read by the back end as usual
 *       }
 *       db_module_dir = /usr/lib/kdcsync   # only if kdcsync.so is not in
 *                                          # krb5's own KDB plugin directory
 *
 * libkdb5 finds "kdcsync.so" in the [dbmodules] db_module_dir directories,
 * then in its built-in directory (KDCSYNC_KDB_DIR here); the back end is
 * looked up in the same places, in the same order, as "<backend>.so".
 * KDCSYNC_CAPTURE_SOCKET overrides kdcsync_socket.
 *
 * What is reported (and why that is every write, checked against MIT
 * krb5 1.20's libkdb5 and db2):
 *   put_principal     PRINC_PUT (MKEY when the entry carries the master key
 *                     list: KRB5_TL_MKEY_AUX / KRB5_TL_ACTKVNO on K/M, the
 *                     only place add_mkey, use_mkey and purge_mkeys write;
 *                     update_princ_encryption re-puts every principal)
 *   delete_principal  PRINC_DEL
 *   create_policy, put_policy  POLICY_PUT;  delete_policy  POLICY_DEL
 *   audit_as_req      LOCKOUT, when the call changed the client entry's
 *                     last_success, last_failed or fail_auth_count: db2
 *                     writes those itself (krb5_db2_lockout_audit ->
 *                     krb5_db2_put_principal, not through the vtable)
 *   promote_db        LOAD (kdb5_util load without -update)
 *   rename            arrives as PRINC_PUT(new) + PRINC_DEL(old): db2 has
 *                     no rename entry, so libkdb5's default renames through
 *                     get/put/delete, which pass through here.
 * Writes to a side database (db_arg "temporary", kdb5_util load) are not
 * reported one by one: its promotion is.  A database opened with the extra
 * db_arg "kdcsync_quiet" (the node's own bridge: its applies on a replica,
 * its full loads) reports nothing, so no change echoes back to the node;
 * the argument is removed before the back end sees db_args.
 *
 * Forwarding "unchanged": libkdb5 copies a module's vtable before calling
 * its init_library, so this table's NULL entries cannot depend on the back
 * end.  Entries libkdb5 replaces by its own defaults when NULL
 * (rename_principal, fetch_master_key, fetch_master_key_list,
 * store_master_key_list, dbe_search_enctype, change_pwd, decrypt_key_data,
 * encrypt_key_data) stay NULL here, so libkdb5 uses the same defaults it
 * would use for db2 or klmdb, and those defaults reach the back end through
 * this module; a back end that implements any of them (LDAP) is refused
 * with a message.  Every other entry is forwarded, and where the back end
 * has none the wrapper does what libkdb5 does for a NULL entry
 * (KRB5_PLUGIN_OP_NOTSUPP, nothing, or free()).
 *
 * Cost: lookups (get_principal, iterate, check_policy_*) are one indirect
 * call.  Writes take a process-wide mutex for the context table and, when
 * a node listens, one non-blocking send (bridge/kdbmod/send.c).
 *
 * State: the back end (one per process; a second realm naming another back
 * end is refused) is loaded at the first open or create and unloaded by
 * fini_library; a table of contexts records which ones are quiet or hold a
 * side database, from init_module/create until fini_module.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <krb5.h>
#include <kdb.h>
#include <profile.h>

#include "bridge/kdbmod/kdbmod.h"
#include "bridge/report.h"

#ifndef KDCSYNC_KDB_DIR
#error "KDCSYNC_KDB_DIR (krb5's KDB plugin directory) must be defined"
#endif

#define ARG_TEMPORARY "temporary"

enum {
	CTX_QUIET = 1,
	CTX_TEMP = 2
};

typedef struct ctx_state {
	struct ctx_state *next;
	krb5_context ctx;
	unsigned flags;
} ctx_state_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static ctx_state_t *contexts;	      /* guarded by mu */
static void *be_handle;		      /* guarded by mu */
static char be_name[KDB_MAX_DB_NAME]; /* guarded by mu */
static const kdb_vftabl *be;	      /* set once under mu, then read */

/* The one exported symbol: libkdb5 looks it up by this name. */
extern __attribute__((visibility("default"))) kdb_vftabl kdb_function_table;

static const kdb_vftabl *backend(void)
{
	return __atomic_load_n(&be, __ATOMIC_ACQUIRE);
}

/* --- the back end ------------------------------------------------------- */

/* Which libkdb5 defaults the back end overrides (see the file comment). */
static const char *overridden_default(const kdb_vftabl *v)
{
	if (v->rename_principal)
		return "rename_principal";
	if (v->fetch_master_key)
		return "fetch_master_key";
	if (v->fetch_master_key_list)
		return "fetch_master_key_list";
	if (v->store_master_key_list)
		return "store_master_key_list";
	if (v->dbe_search_enctype)
		return "dbe_search_enctype";
	if (v->change_pwd)
		return "change_pwd";
	if (v->decrypt_key_data)
		return "decrypt_key_data";
	if (v->encrypt_key_data)
		return "encrypt_key_data";
	return NULL;
}

/* dlopen NAME.so from the first directory that has it.  RTLD_NODELETE as
 * libkdb5's own plugin loader uses: db2 keeps process-wide state (its
 * lock-file list) that must outlive a dlclose. */
static void *open_in_dirs(krb5_context ctx, const char *name)
{
	static const char *const names[] = { KDB_MODULE_SECTION,
					     "db_module_dir", NULL };
	char **dirs = NULL;
	profile_t prof = NULL;
	void *h = NULL;
	char path[4096];

	if (krb5_get_profile(ctx, &prof) == 0) {
		(void)profile_get_values(prof, names, &dirs);
		profile_release(prof);
	}
	for (size_t i = 0; h == NULL && dirs != NULL && dirs[i] != NULL; i++) {
		int n = snprintf(path, sizeof(path), "%s/%s.so", dirs[i], name);
		if (n > 0 && (size_t)n < sizeof(path) &&
		    access(path, F_OK) == 0)
			h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	}
	if (h == NULL) {
		int n = snprintf(path, sizeof(path), "%s/%s.so",
				 KDCSYNC_KDB_DIR, name);
		if (n > 0 && (size_t)n < sizeof(path))
			h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	}
	profile_free_list(dirs);
	return h;
}

static char *profile_str(krb5_context ctx, const char *section, const char *key)
{
	profile_t prof = NULL;
	char *v = NULL, *out = NULL;

	if (section == NULL || krb5_get_profile(ctx, &prof) != 0)
		return NULL;
	if (profile_get_string(prof, KDB_MODULE_SECTION, section, key, NULL,
			       &v) == 0 &&
	    v != NULL)
		out = strdup(v);
	profile_release_string(v);
	profile_release(prof);
	return out;
}

/* kdcsync_mkey_wait in milliseconds; -1 (the default) when unset or not
 * a number of seconds. */
static long profile_mkey_wait(krb5_context ctx, const char *section)
{
	char *v = profile_str(ctx, section, "kdcsync_mkey_wait");
	long ms = -1;

	if (v != NULL) {
		char *end = NULL;
		errno = 0;
		long secs = strtol(v, &end, 10);
		if (errno == 0 && end != v && *end == '\0' && secs >= 0 &&
		    secs <= 600)
			ms = secs * 1000;
		else
			fprintf(stderr,
				"kdcsync: [dbmodules] kdcsync_mkey_wait '%s' "
				"is not a number of seconds (0..600); using "
				"the default\n",
				v);
	}
	free(v);
	return ms;
}

/* Load the back end named in conf_section (once per process). */
static krb5_error_code load_backend(krb5_context ctx, const char *section)
{
	krb5_error_code code = 0;
	char *name = profile_str(ctx, section, "kdcsync_backend");
	const char *want = name ? name : "db2";
	char *sock = profile_str(ctx, section, "kdcsync_socket");

	kdbmod_send_configure(sock, profile_mkey_wait(ctx, section));
	free(sock);
	pthread_mutex_lock(&mu);
	if (be != NULL) {
		if (strcmp(be_name, want) != 0) {
			code = KRB5_KDB_DBTYPE_MISMATCH;
			krb5_set_error_message(
				ctx, code,
				"kdcsync: this process already wraps back end "
				"'%s', not '%s'",
				be_name, want);
		}
		goto out;
	}
	if (strchr(want, '/') != NULL || strcmp(want, KS_REPORT_MODULE) == 0 ||
	    strlen(want) >= sizeof(be_name)) {
		code = KRB5_KDB_DBTYPE_NOTFOUND;
		krb5_set_error_message(ctx, code,
				       "kdcsync: kdcsync_backend '%s' is not a "
				       "KDB module name (e.g. db2)",
				       want);
		goto out;
	}
	void *h = open_in_dirs(ctx, want);
	const kdb_vftabl *v = h ? dlsym(h, "kdb_function_table") : NULL;
	const char *why = NULL, *entry = NULL;
	if (h == NULL)
		why = "cannot load it from [dbmodules] db_module_dir "
		      "or " KDCSYNC_KDB_DIR;
	else if (v == NULL)
		why = "it has no kdb_function_table";
	else if (v->maj_ver != KRB5_KDB_DAL_MAJOR_VERSION || v->min_ver != 0)
		why = "its DAL version is not this module's (9.0)";
	else if ((entry = overridden_default(v)) != NULL)
		why = "it implements an entry libkdb5 would otherwise "
		      "default, which this module cannot forward:";
	else if (v->init_library == NULL || v->fini_library == NULL ||
		 v->init_module == NULL || v->fini_module == NULL)
		why = "it lacks a mandatory entry";
	if (why != NULL) {
		code = KRB5_KDB_DBTYPE_INIT;
		krb5_set_error_message(ctx, code,
				       "kdcsync: back end '%s' refused: %s %s",
				       want, why, entry ? entry : "");
		if (h != NULL)
			dlclose(h);
		goto out;
	}
	code = v->init_library();
	if (code) {
		dlclose(h);
		goto out;
	}
	be_handle = h;
	snprintf(be_name, sizeof(be_name), "%s", want);
	__atomic_store_n(&be, v, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&mu);
	free(name);
	return code;
}

/* --- contexts ----------------------------------------------------------- */

static void ctx_set(krb5_context ctx, unsigned flags)
{
	pthread_mutex_lock(&mu);
	ctx_state_t *c = contexts;
	while (c != NULL && c->ctx != ctx)
		c = c->next;
	if (c == NULL && flags != 0 && (c = calloc(1, sizeof(*c))) != NULL) {
		c->ctx = ctx;
		c->next = contexts;
		contexts = c;
	}
	if (c != NULL)
		c->flags = flags;
	pthread_mutex_unlock(&mu);
}

static void ctx_forget(krb5_context ctx)
{
	pthread_mutex_lock(&mu);
	for (ctx_state_t **pp = &contexts; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->ctx == ctx) {
			ctx_state_t *c = *pp;
			*pp = c->next;
			free(c);
			break;
		}
	}
	pthread_mutex_unlock(&mu);
}

static unsigned ctx_flags(krb5_context ctx)
{
	unsigned flags = 0;

	pthread_mutex_lock(&mu);
	for (ctx_state_t *c = contexts; c != NULL; c = c->next)
		if (c->ctx == ctx) {
			flags = c->flags;
			break;
		}
	pthread_mutex_unlock(&mu);
	return flags;
}

/*
 * Copy db_args without ours; *flags gets what they asked for.  *out is
 * NULL when db_args is; free with free() (the strings are borrowed).
 */
static krb5_error_code strip_args(char **db_args, char ***out, unsigned *flags)
{
	size_t n = 0, k = 0;

	*out = NULL;
	*flags = 0;
	if (db_args == NULL)
		return 0;
	while (db_args[n] != NULL)
		n++;
	char **v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		return ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(db_args[i], KS_REPORT_QUIET_ARG) == 0) {
			*flags |= CTX_QUIET;
			continue;
		}
		if (strcmp(db_args[i], ARG_TEMPORARY) == 0)
			*flags |= CTX_TEMP;
		v[k++] = db_args[i];
	}
	*out = v;
	return 0;
}

/* --- reporting ---------------------------------------------------------- */

static bool reporting(krb5_context ctx)
{
	return ctx_flags(ctx) == 0;
}

/* \p rollover: for KS_REPORT_MKEY, K/M holds several master keys. */
static void report_princ(krb5_context ctx, uint8_t kind,
			 krb5_const_principal princ, bool rollover)
{
	char *name = NULL;

	if (princ == NULL || !reporting(ctx))
		return;
	if (krb5_unparse_name(ctx, princ, &name) != 0) {
		kdbmod_send(KS_REPORT_LOST, NULL, 0);
		return;
	}
	if (kind == KS_REPORT_MKEY)
		kdbmod_send_mkey(name, strlen(name), rollover);
	else
		kdbmod_send(kind, name, strlen(name));
	krb5_free_unparsed_name(ctx, name);
}

static void report_policy(krb5_context ctx, uint8_t kind, const char *name)
{
	if (name == NULL || !reporting(ctx))
		return;
	kdbmod_send(kind, name, strlen(name));
}

static bool carries_mkey_list(const krb5_db_entry *e)
{
	for (const krb5_tl_data *t = e->tl_data; t != NULL; t = t->tl_data_next)
		if (t->tl_data_type == KRB5_TL_MKEY_AUX ||
		    t->tl_data_type == KRB5_TL_ACTKVNO)
			return true;
	return false;
}

/* --- the vtable --------------------------------------------------------- */

#define BE_OR(ret)                                                             \
	const kdb_vftabl *v = backend();                                       \
	if (v == NULL)                                                         \
	return (ret)

static krb5_error_code w_init_library(void)
{
	return 0; /* the back end is loaded with the first context */
}

static krb5_error_code w_fini_library(void)
{
	krb5_error_code code = 0;

	kdbmod_send_flush();
	kdbmod_send_close();
	pthread_mutex_lock(&mu);
	if (be != NULL) {
		code = be->fini_library();
		dlclose(be_handle);
		be_handle = NULL;
		be_name[0] = '\0';
		__atomic_store_n(&be, NULL, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&mu);
	return code;
}

static krb5_error_code w_init_module(krb5_context ctx, char *section,
				     char **db_args, int mode)
{
	char **args = NULL;
	unsigned flags;
	krb5_error_code code = load_backend(ctx, section);

	if (code == 0)
		code = strip_args(db_args, &args, &flags);
	if (code == 0)
		code = backend()->init_module(ctx, section, args, mode);
	if (code == 0)
		ctx_set(ctx, flags);
	free(args);
	return code;
}

static krb5_error_code w_fini_module(krb5_context ctx)
{
	BE_OR(0);
	krb5_error_code code = v->fini_module(ctx);
	ctx_forget(ctx);
	kdbmod_send_flush();
	return code;
}

static krb5_error_code w_create(krb5_context ctx, char *section, char **db_args)
{
	char **args = NULL;
	unsigned flags;
	krb5_error_code code = load_backend(ctx, section);

	if (code == 0)
		code = strip_args(db_args, &args, &flags);
	if (code == 0)
		code = backend()->create ? backend()->create(ctx, section, args)
					 : KRB5_PLUGIN_OP_NOTSUPP;
	if (code == 0)
		ctx_set(ctx, flags);
	free(args);
	return code;
}

static krb5_error_code w_destroy(krb5_context ctx, char *section,
				 char **db_args)
{
	char **args = NULL;
	unsigned flags;
	krb5_error_code code = load_backend(ctx, section);

	if (code == 0)
		code = strip_args(db_args, &args, &flags);
	if (code == 0)
		code = backend()->destroy
			       ? backend()->destroy(ctx, section, args)
			       : KRB5_PLUGIN_OP_NOTSUPP;
	free(args);
	return code;
}

static krb5_error_code w_get_age(krb5_context ctx, char *db_name, time_t *age)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	return v->get_age ? v->get_age(ctx, db_name, age)
			  : KRB5_PLUGIN_OP_NOTSUPP;
}

/* While a program holds the DB lock (kdb5_util load -update, kadmin's
 * lock), the node cannot read what it reports: its writes do not wait. */
static krb5_error_code w_lock(krb5_context ctx, int mode)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	krb5_error_code code =
		v->lock ? v->lock(ctx, mode) : KRB5_PLUGIN_OP_NOTSUPP;
	if (code == 0)
		kdbmod_send_locked(1);
	return code;
}

static krb5_error_code w_unlock(krb5_context ctx)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	krb5_error_code code =
		v->unlock ? v->unlock(ctx) : KRB5_PLUGIN_OP_NOTSUPP;
	if (code == 0)
		kdbmod_send_locked(-1);
	return code;
}

static krb5_error_code w_get_principal(krb5_context ctx,
				       krb5_const_principal search_for,
				       unsigned int flags,
				       krb5_db_entry **entry)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	return v->get_principal
		       ? v->get_principal(ctx, search_for, flags, entry)
		       : KRB5_PLUGIN_OP_NOTSUPP;
}

static krb5_error_code w_put_principal(krb5_context ctx, krb5_db_entry *entry,
				       char **db_args)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	if (v->put_principal == NULL)
		return KRB5_PLUGIN_OP_NOTSUPP;
	krb5_error_code code = v->put_principal(ctx, entry, db_args);
	if (code == 0)
		report_princ(ctx,
			     carries_mkey_list(entry) ? KS_REPORT_MKEY
						      : KS_REPORT_PRINC_PUT,
			     entry->princ, entry->n_key_data > 1);
	return code;
}

static krb5_error_code w_delete_principal(krb5_context ctx,
					  krb5_const_principal search_for)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	if (v->delete_principal == NULL)
		return KRB5_PLUGIN_OP_NOTSUPP;
	krb5_error_code code = v->delete_principal(ctx, search_for);
	if (code == 0)
		report_princ(ctx, KS_REPORT_PRINC_DEL, search_for, false);
	return code;
}

static krb5_error_code w_iterate(krb5_context ctx, char *match_entry,
				 int (*func)(krb5_pointer, krb5_db_entry *),
				 krb5_pointer func_arg, krb5_flags iterflags)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	return v->iterate
		       ? v->iterate(ctx, match_entry, func, func_arg, iterflags)
		       : KRB5_PLUGIN_OP_NOTSUPP;
}

static krb5_error_code w_create_policy(krb5_context ctx,
				       osa_policy_ent_t policy)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	if (v->create_policy == NULL)
		return KRB5_PLUGIN_OP_NOTSUPP;
	krb5_error_code code = v->create_policy(ctx, policy);
	if (code == 0)
		report_policy(ctx, KS_REPORT_POLICY_PUT, policy->name);
	return code;
}

static krb5_error_code w_get_policy(krb5_context ctx, char *name,
				    osa_policy_ent_t *policy)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	return v->get_policy ? v->get_policy(ctx, name, policy)
			     : KRB5_PLUGIN_OP_NOTSUPP;
}

static krb5_error_code w_put_policy(krb5_context ctx, osa_policy_ent_t policy)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	if (v->put_policy == NULL)
		return KRB5_PLUGIN_OP_NOTSUPP;
	krb5_error_code code = v->put_policy(ctx, policy);
	if (code == 0)
		report_policy(ctx, KS_REPORT_POLICY_PUT, policy->name);
	return code;
}

static krb5_error_code w_iter_policy(krb5_context ctx, char *match_entry,
				     osa_adb_iter_policy_func func, void *data)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	return v->iter_policy ? v->iter_policy(ctx, match_entry, func, data)
			      : 0; /* libkdb5: no policies */
}

static krb5_error_code w_delete_policy(krb5_context ctx, char *policy)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	if (v->delete_policy == NULL)
		return KRB5_PLUGIN_OP_NOTSUPP;
	krb5_error_code code = v->delete_policy(ctx, policy);
	if (code == 0)
		report_policy(ctx, KS_REPORT_POLICY_DEL, policy);
	return code;
}

static krb5_error_code w_promote_db(krb5_context ctx, char *section,
				    char **db_args)
{
	char **args = NULL;
	unsigned flags;
	krb5_error_code code = load_backend(ctx, section);

	if (code == 0)
		code = strip_args(db_args, &args, &flags);
	if (code == 0)
		code = backend()->promote_db
			       ? backend()->promote_db(ctx, section, args)
			       : KRB5_PLUGIN_OP_NOTSUPP;
	free(args);
	if (code != 0)
		return code;
	/* The side DB is now the live one: later writes are live writes. */
	unsigned cur = ctx_flags(ctx);
	ctx_set(ctx, cur & ~(unsigned)CTX_TEMP);
	if (!(cur & CTX_QUIET) && !(flags & CTX_QUIET))
		kdbmod_send(KS_REPORT_LOAD, NULL, 0);
	return 0;
}

static krb5_error_code w_check_transited_realms(krb5_context ctx,
						const krb5_data *tr_contents,
						const krb5_data *client_realm,
						const krb5_data *server_realm)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	return v->check_transited_realms
		       ? v->check_transited_realms(ctx, tr_contents,
						   client_realm, server_realm)
		       : KRB5_PLUGIN_OP_NOTSUPP;
}

static krb5_error_code
w_check_policy_as(krb5_context ctx, krb5_kdc_req *request,
		  krb5_db_entry *client, krb5_db_entry *server,
		  krb5_timestamp kdc_time, const char **status,
		  krb5_pa_data ***e_data)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	return v->check_policy_as
		       ? v->check_policy_as(ctx, request, client, server,
					    kdc_time, status, e_data)
		       : KRB5_PLUGIN_OP_NOTSUPP;
}

static krb5_error_code
w_check_policy_tgs(krb5_context ctx, krb5_kdc_req *request,
		   krb5_db_entry *server, krb5_ticket *ticket,
		   const char **status, krb5_pa_data ***e_data)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	return v->check_policy_tgs ? v->check_policy_tgs(ctx, request, server,
							 ticket, status, e_data)
				   : KRB5_PLUGIN_OP_NOTSUPP;
}

static void w_audit_as_req(krb5_context ctx, krb5_kdc_req *request,
			   const krb5_address *local_addr,
			   const krb5_address *remote_addr,
			   krb5_db_entry *client, krb5_db_entry *server,
			   krb5_timestamp authtime, krb5_error_code error_code)
{
	const kdb_vftabl *v = backend();

	if (v == NULL || v->audit_as_req == NULL)
		return;
	if (client == NULL) {
		v->audit_as_req(ctx, request, local_addr, remote_addr, client,
				server, authtime, error_code);
		return;
	}
	/* The back end writes lockout fields itself, into this entry first:
	 * a change of any of them means it wrote the principal. */
	krb5_timestamp ls = client->last_success, lf = client->last_failed;
	krb5_kvno fc = client->fail_auth_count;
	v->audit_as_req(ctx, request, local_addr, remote_addr, client, server,
			authtime, error_code);
	if (client->last_success != ls || client->last_failed != lf ||
	    client->fail_auth_count != fc)
		report_princ(ctx, KS_REPORT_LOCKOUT, client->princ, false);
}

static void w_refresh_config(krb5_context ctx)
{
	const kdb_vftabl *v = backend();
	if (v != NULL && v->refresh_config != NULL)
		v->refresh_config(ctx);
}

static krb5_error_code w_check_allowed_to_delegate(krb5_context ctx,
						   krb5_const_principal client,
						   const krb5_db_entry *server,
						   krb5_const_principal proxy)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	return v->check_allowed_to_delegate
		       ? v->check_allowed_to_delegate(ctx, client, server,
						      proxy)
		       : KRB5_PLUGIN_OP_NOTSUPP;
}

static void w_free_principal_e_data(krb5_context ctx, krb5_octet *e_data)
{
	const kdb_vftabl *v = backend();
	if (v != NULL && v->free_principal_e_data != NULL)
		v->free_principal_e_data(ctx, e_data);
	else
		free(e_data); /* what libkdb5 does without the entry */
}

static krb5_error_code w_get_s4u_x509_principal(krb5_context ctx,
						const krb5_data *client_cert,
						krb5_const_principal princ,
						unsigned int flags,
						krb5_db_entry **entry_out)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	return v->get_s4u_x509_principal
		       ? v->get_s4u_x509_principal(ctx, client_cert, princ,
						   flags, entry_out)
		       : KRB5_PLUGIN_OP_NOTSUPP;
}

static krb5_error_code w_allowed_to_delegate_from(krb5_context ctx,
						  krb5_const_principal client,
						  krb5_const_principal server,
						  krb5_pac server_pac,
						  const krb5_db_entry *proxy)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	return v->allowed_to_delegate_from
		       ? v->allowed_to_delegate_from(ctx, client, server,
						     server_pac, proxy)
		       : KRB5_PLUGIN_OP_NOTSUPP;
}

static krb5_error_code
w_issue_pac(krb5_context ctx, unsigned int flags, krb5_db_entry *client,
	    krb5_keyblock *replaced_reply_key, krb5_db_entry *server,
	    krb5_db_entry *signing_krbtgt, krb5_timestamp authtime,
	    krb5_pac old_pac, krb5_pac new_pac, krb5_data ***auth_indicators)
{
	BE_OR(KRB5_KDB_DBNOTINITED);
	return v->issue_pac
		       ? v->issue_pac(ctx, flags, client, replaced_reply_key,
				      server, signing_krbtgt, authtime, old_pac,
				      new_pac, auth_indicators)
		       : KRB5_PLUGIN_OP_NOTSUPP;
}

kdb_vftabl kdb_function_table = {
	.maj_ver = KRB5_KDB_DAL_MAJOR_VERSION,
	.min_ver = 0,
	.init_library = w_init_library,
	.fini_library = w_fini_library,
	.init_module = w_init_module,
	.fini_module = w_fini_module,
	.create = w_create,
	.destroy = w_destroy,
	.get_age = w_get_age,
	.lock = w_lock,
	.unlock = w_unlock,
	.get_principal = w_get_principal,
	.put_principal = w_put_principal,
	.delete_principal = w_delete_principal,
	/* rename_principal: NULL, libkdb5's default (see above) */
	.iterate = w_iterate,
	.create_policy = w_create_policy,
	.get_policy = w_get_policy,
	.put_policy = w_put_policy,
	.iter_policy = w_iter_policy,
	.delete_policy = w_delete_policy,
	/* fetch_master_key .. change_pwd: NULL, libkdb5's defaults */
	.promote_db = w_promote_db,
	/* decrypt_key_data, encrypt_key_data: NULL, libkdb5's defaults */
	.check_transited_realms = w_check_transited_realms,
	.check_policy_as = w_check_policy_as,
	.check_policy_tgs = w_check_policy_tgs,
	.audit_as_req = w_audit_as_req,
	.refresh_config = w_refresh_config,
	.check_allowed_to_delegate = w_check_allowed_to_delegate,
	.free_principal_e_data = w_free_principal_e_data,
	.get_s4u_x509_principal = w_get_s4u_x509_principal,
	.allowed_to_delegate_from = w_allowed_to_delegate_from,
	.issue_pac = w_issue_pac,
};
