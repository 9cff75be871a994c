/* SPDX-License-Identifier: MIT */
/*
 * Private to bridge/: the bridge handle and the helpers its files share
 * (double-underscore names).  Same threading rule as bridge.h: one thread
 * at a time per bridge_t.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <krb5.h>
#include <kdb.h>

#include "bridge/bridge.h"
#include "common/buf.h"
#include "store/store.h"

#define DEFAULT_LOCK_BATCH 4096u
#define DEFAULT_DB_PATH	   "/var/lib/krb5kdc/principal" /* db2's, Debian */

struct bridge {
	krb5_context ctx;
	char *realm;	   /* owned, may be NULL */
	char *kdc_profile; /* owned, may be NULL */
	bool lockout;
	bool read_only;
	bool quiet; /* the KDB module is in the way: pass KS_REPORT_QUIET_ARG */
	char *db_path;	      /* owned; the database file, NULL if unknown */
	krb5_principal mname; /* owned; the master key principal (K/M) */
	char *stash_path;     /* owned; key_stash_file, NULL = MIT default */
	uint32_t lock_batch;
	bool db_open; /* krb5_db_open done (bridge_db_open) */
	/* objects the running scan has read so far: written by the scanning
	 * thread, read by any (__atomic, relaxed): bridge_scan_progress() */
	uint64_t scan_seen;
};

/* The extra db_arg of every DB the bridge opens when b->quiet. */
extern char bridge__arg_quiet[];

/** \brief A context reading kdc.conf on top of krb5.conf, as kdb5_util. */
int bridge__make_context(const char *kdc_profile, const char *realm,
			 krb5_context *out);

/** \brief Encode entry \p e into \p line and its store key into \p key
 *         (both reset first). */
int bridge__encode_princ(bridge_t *b, krb5_db_entry *e, ks_buf_t *key,
			 ks_buf_t *line);

/** \brief The same for a policy. */
int bridge__encode_policy(osa_policy_ent_t p, ks_buf_t *key, ks_buf_t *line);

/** \brief Are the bytes of \p a those of \p b? */
bool bridge__view_eq(ks_view_t a, const ks_buf_t *b);

/** \brief Read master_key_name and key_stash_file (open). */
int bridge__mkey_setup(bridge_t *b);

/* fsync the KDB's files (db2: the principal file and its .kadm5 policy
 * file; a missing one is skipped), so that what a replica acknowledges
 * survives a power loss and not only a crash of the process. */
int bridge__kdb_sync(bridge_t *b);

/** \brief Free what bridge__mkey_setup made (close). */
void bridge__mkey_free(bridge_t *b);

/** \brief Is \p e the master key principal? */
bool bridge__is_mkey(bridge_t *b, krb5_context ctx, const krb5_db_entry *e);

/**
 * \brief Before K/M from a primary is written (bridge/mkey.c): check that
 *        this KDC's stash decrypts its master key list, and write the list
 *        to the stash when the stash lacks its latest key.
 * \retval KS_EMKEY the stash cannot decrypt it (logged): do not write it
 */
int bridge__mkey_follow(bridge_t *b, krb5_context ctx, krb5_db_entry *km);

/** \brief KS_EKDBFULL (logged, naming \p what) unless the KDB's file
 *         system has \p need bytes free (0 when the path is unknown). */
int bridge__kdb_room_bytes(bridge_t *b, uint64_t need, const char *what);

/** \brief Wall-clock and monotonic microseconds. */
uint64_t bridge__now_us(void);
uint64_t bridge__mono_us(void);

/*
 * A change list: owned copies of keys and values, committed to the store
 * in the order added.
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

/** \brief Append a change (copies \p key and \p val; \p val NULL for DEL). */
int bridge__chg_add(chglist_t *l, enum store_op op, const ks_buf_t *key,
		    const ks_buf_t *val);

/** \brief Free the list's memory and empty it. */
void bridge__chg_free(chglist_t *l);

/** \brief store_commit() the list as one change set, stamped now. */
int bridge__chg_commit(store_t *s, chglist_t *l, uint64_t *first,
		       uint64_t *last);
