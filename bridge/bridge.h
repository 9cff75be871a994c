/* SPDX-License-Identifier: MIT */
/*
 * bridge/: the only code that touches the MIT Kerberos database (libkdb5).
 *
 * It reads the KDB (full scan into the store, single-principal capture),
 * applies change batches to it, and loads complete record sets atomically.
 * Records are `kdb5_util dump` version 7 lines (see bridge/convert.h); keys
 * are STORE_KEY_PRINCIPAL + unparsed name or STORE_KEY_POLICY + policy name.
 *
 * Rules
 * - A bridge_t owns one krb5 context with the realm's database open.  It is
 *   not thread-safe: one thread at a time.  Never use it after fork().
 * - Keys in the KDB stay encrypted under the realm's master key: records
 *   copy them verbatim, so every KDB that receives records must share the
 *   source's master key (its stash); no master key is ever read here.
 * - Lockout state (last_success, last_failed, fail_auth_count) is written by
 *   each KDC locally.  With replicate_lockout = false (the default) records
 *   carry those fields as 0 and apply/load keep the target's own values;
 *   with true they are carried and apply merges them with the target's
 *   by the rule of common/lockout.h, the record as base (a newer failure
 *   or login counted on this KDC is never rolled back; a full load still
 *   copies the record's fields: why, PROTOCOL.md §3.10).
 * - With replicate_lockout = false, apply keeps last_success, last_failed
 *   and fail_auth_count of the target entry; module-internal (negative)
 *   tl-data are replaced like any other tl-data (a full load's merge_nra
 *   keeps them too, as `kdb5_util load -i` does).
 * - When the realm's [dbmodules] db_library is the kdcsync KDB module
 *   (KS_REPORT_MODULE, bridge/kdbmod), every database opened here passes
 *   it KS_REPORT_QUIET_ARG: the node's own writes are never reported back
 *   to the node as captures.
 * - Master-key rollover (bridge/mkey.c): before bridge_apply() or a full
 *   load writes the master key principal (K/M), this KDC's stash must
 *   decrypt the record's master key list; when the stash lacks the list's
 *   latest key the list is written to the stash (atomically, 0600).  A list
 *   the stash cannot decrypt fails the whole batch or load with KS_EMKEY,
 *   nothing written.
 * - Nothing here writes the MIT iprop ulog (the DB is opened with plain
 *   krb5_db_open; logging is never mapped).
 *
 * Scan consistency and locking (DB2 back end)
 *   The DB is opened with db_arg "unlockiter" and the scan holds its own
 *   shared lock, dropped and re-taken every opts.scan_lock_batch entries
 *   (default 4096; UINT32_MAX = hold it for the whole scan).  So krb5kdc
 *   lockout writes and kadmind wait at most for one batch (measured: 16-26
 *   ms at 4096 entries on a loaded 2-core machine), never for the whole
 *   scan (2.2 s at 1M principals with the lock held, as `kdb5_util dump`
 *   holds it for its whole run).  Each principal is read atomically, but a scan is not a
 *   point-in-time snapshot of the whole DB: a change made between batches
 *   may or may not be seen, and an entry renamed during the scan may be
 *   seen under both names or only the new one.  A record that looks
 *   deleted is confirmed by a point lookup before a DEL is logged, so a
 *   scan never logs a spurious deletion; anything missed is logged by the
 *   next scan (or by a targeted capture).  Policies are read first,
 *   under the same shared lock.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/lockout.h"
#include "store/store.h"

typedef struct bridge bridge_t;

typedef struct bridge_opts {
	/* Realm whose DB to open; NULL = the profile's default realm. */
	const char *realm;
	/* KDC profile (kdc.conf) read on top of KRB5_CONFIG; NULL =
	 * $KRB5_KDC_PROFILE or the built-in default, as kdb5_util does. */
	const char *kdc_profile;
	bool replicate_lockout;
	/* Principals per shared-lock hold during a scan, and records per
	 * exclusive-lock hold during an apply; 0 = default 4096;
	 * UINT32_MAX = hold the lock for the whole scan or batch. */
	uint32_t scan_lock_batch;
	bool read_only; /* primary capture only: open the DB read-only */
	bool no_db;	/* context only: the KDB is opened later with
			   bridge_db_open() (a replica checks it first) */
} bridge_opts_t;

/**
 * \brief Create a krb5 context for the realm and open its KDB.
 * \param opts borrowed for the call (strings are copied).
 * \param out  must point to NULL; owned by the caller until bridge_close().
 * \retval KS_EKDB, KS_ENOENT, -errno  the DB cannot be opened (path and
 *         reason logged)
 * \retval KS_EKRB5 the profile cannot be read
 */
int bridge_open(const bridge_opts_t *opts, bridge_t **out);

/** \brief Close the DB and free everything.  NULL is fine. */
void bridge_close(bridge_t *b);

/** \brief Open the KDB of a bridge made with opts.no_db, or reopen it
 *         after bridge_db_close() (nothing when it is open).
 *  \return 0 or the reason it cannot be opened (logged) */
int bridge_db_open(bridge_t *b);

/** \brief Close the KDB, keep the context (nothing when it is closed):
 *         before the live files are checked or replaced. */
void bridge_db_close(bridge_t *b);

/*
 * Can the KDB be opened at all (bridge/probe.c)?  The profile gives a realm
 * and its database, the database file is there and readable, the stash
 * gives the master key, and libkdb5 opens the database read-only.  No
 * record is read (that is bridge_kdb_check()'s job, in a child process).
 */
typedef struct bridge_probe {
	char key[48];	 /* what failed: "[node] kdc_profile", "database_name",
			   "key_stash_file" (profile keys) */
	char file[1024]; /* the file that key names */
	char why[300];
	char realm[256];  /* the realm whose KDB it is ("" if none) */
	bool rebuildable; /* the database file itself: a replica can rebuild
			     it from its store or a full copy */
} bridge_probe_t;

/**
 * \brief Check that the KDB of \p opts can be opened (nothing written).
 * \return 0; KS_EKRB5 (the profile), KS_EKDB (the database), KS_EMKEY (the
 *         stash), with \p out saying which file and why; KS_ENOMEM.
 */
int bridge_kdb_probe(const bridge_opts_t *opts, bridge_probe_t *out);

/*
 * Checking a KDB for damage (bridge/check.c).  DB2 given a write the file
 * system could not hold, or a file torn by a crash, leaves a database on
 * which libkdb5 returns "Database record is incomplete or corrupted" or,
 * for some tears, crashes inside the btree code.  So the check is meant to
 * run in a process of its own (kdcsyncd --kdb-check, node/kdb_check.h):
 * open the realm's KDB read-only, read the master key principal, and read
 * and encode every principal and policy, as a full load would.  A crash or
 * a hang of that process is a verdict too.
 */
typedef struct bridge_check {
	uint64_t principals, policies;
	char why[300]; /* damaged: what failed, "" when sound */
} bridge_check_t;

/**
 * \brief Check the KDB of \p opts in this process (read-only).
 * \return 0 sound; KS_EKDBDAMAGED with out->why; KS_ENOMEM.
 */
int bridge_kdb_check(const bridge_opts_t *opts, bridge_check_t *out);

/**
 * \brief Rebuild the KDB from the store's live record set, never reading
 *        the live KDB: a side database is filled from the store and renamed
 *        over the live one (krb5kdc serves the old file until then), with
 *        no merge of the live lockout fields (the damaged file cannot be
 *        trusted; they start at what the records carry, zero unless
 *        replicate_lockout).  Checks first that the KDB's file system has
 *        room for twice the records' bytes plus BRIDGE_ROOM_RESERVE.
 *        The bridge's own KDB handle must be closed (bridge_db_close()).
 * \param records receives the count loaded (may be NULL).
 * \return 0, KS_EKDBFULL, or the load's error (nothing installed then).
 */
int bridge_rebuild(bridge_t *b, store_t *s, uint64_t *records);

/*
 * The KDB files' identity and last change (DB2: the principal file and its
 * ".kadm5" policy file; device, inode, size, mtime, ctime).  Equal stamps
 * mean no process wrote the KDB in between (a load renames new files in:
 * another inode), so a periodic scan can be skipped.
 */
typedef struct bridge_kdb_stamp {
	uint64_t principal[5], policy[5];
} bridge_kdb_stamp_t;

/**
 * \brief Stat the KDB files (a missing file stamps as zeros).
 * \retval KS_ENOTSUP the database path is unknown (a back end other than
 *         db2, or no database_name): never skip then
 * \return or -errno from stat
 */
int bridge_kdb_stamp(bridge_t *b, bridge_kdb_stamp_t *out);

/** \brief Same files, unchanged? */
bool bridge_kdb_stamp_eq(const bridge_kdb_stamp_t *a,
			 const bridge_kdb_stamp_t *b);

typedef struct bridge_scan_stats {
	uint64_t principals, policies; /* objects seen in the KDB */
	uint64_t puts, dels;	       /* changes handed to store_commit */
	uint64_t skipped; /* principals with a name over BRIDGE_NAME_MAX
			     (65534) bytes, more than a store key holds
			     (each logged; MIT cannot dump them either) */
	uint64_t first_seq, last_seq; /* as reported by store_commit */
	uint64_t max_lock_us;	      /* longest hold of our shared DB lock */
} bridge_scan_stats_t;

/**
 * \brief Full scan: compare every KDB principal and policy with the store
 *        and commit the differences (new/changed -> PUT, gone -> DEL;
 *        unchanged records cost no write).
 * Bounded memory: the differences are committed in chunks of at most 4 MiB
 * or 4096 changes, each between two store read transactions (so map growth
 * waits for one chunk at most), so a scan holds one chunk whatever the KDB
 * size.  Deletions cost nothing when every stored key was met again
 * (counted); otherwise a second pass walks the stored keys in chunks and
 * confirms each by a KDB point lookup (details: bridge/scan.c).
 * The caller must be the store's only writer for the duration (the node's
 * database worker): the deletion count relies on it.
 * \param stats may be NULL; filled on success.  first_seq..last_seq span
 *        every chunk committed.
 * \return 0, KS_EKDB/KS_EKDBLOCK/KS_EKRB5 (KDB side, logged), store errors,
 *         KS_ENOMEM.  On error the chunks committed before it stay (each is
 *         a consistent set of whole records; the next scan goes on).
 */
int bridge_scan(bridge_t *b, store_t *s, bridge_scan_stats_t *stats);

/**
 * \brief Principals and policies the running (or last) scan has read so
 *        far: a progress count for status.  Any thread (the count is
 *        written by the scanning thread with relaxed atomics); NULL: 0.
 */
uint64_t bridge_scan_progress(const bridge_t *b);

/**
 * \brief Read one principal (unparsed name, with realm) as a record value.
 * \param value appended to (its old contents are kept in front).
 * \retval KS_ENOENT no such principal
 */
int bridge_read_principal(bridge_t *b, const char *name, ks_buf_t *value);

/*
 * Lockout fields of one principal (bridge/lockout.c; PROTOCOL.md §3.10).
 * A replica reads its own to report them upstream; the primary merges a
 * replica's report into its entry (the entry is `base`), writing only
 * last_success, last_failed and fail_auth_count of an existing principal,
 * through this bridge's quiet handle (no capture report of its own).
 */

/**
 * \brief Read the lockout fields of principal \p name (unparsed, with realm).
 * \retval KS_ENOENT no such principal (or an unparsable name)
 */
int bridge_lockout_read(bridge_t *b, const char *name, ks_lockout_t *out);

/**
 * \brief Merge \p report into the entry of \p name under the exclusive DB
 *        lock and write it back if the merge changed it (\p changed).
 * \retval KS_ENOENT no such principal: nothing written
 * \retval KS_EACCES the master key principal: nothing written
 * \retval KS_ESTATE the bridge was opened read-only
 * \return or a KDB error (logged)
 */
int bridge_lockout_merge(bridge_t *b, const char *name,
			 const ks_lockout_t *report, bool *changed);

/** A principal or policy to capture by name. */
typedef struct bridge_ref {
	uint8_t type;	  /* STORE_KEY_PRINCIPAL or STORE_KEY_POLICY */
	const char *name; /* unparsed principal name (with realm), or policy
			     name; borrowed */
} bridge_ref_t;

/**
 * \brief Targeted capture of principals and policies (e.g. everything the
 *        KDB module reported since the last wake-up) in ONE store commit.
 *        Each object is read as it is now: PUT if it exists and differs
 *        from the store, DEL if it is gone, nothing if unchanged.
 *        Order in the change set (and so on every replica): the policies
 *        that exist, then the principals in the order given, then the
 *        policies that are gone; so a principal never arrives before the
 *        policy it names, and a policy is deleted only after the principals
 *        that left it.  Nothing is committed on error.
 * \param refs borrowed for the call; an object may appear twice.
 * \retval KS_EINVAL a ref of another type
 * \retval KS_ELIMIT a name too long for a store key
 * \return or a KDB/store error (logged)
 */
int bridge_capture(bridge_t *b, store_t *s, const bridge_ref_t *refs, size_t n,
		   uint64_t *first_seq, uint64_t *last_seq);

/**
 * \brief The store key of a record value (a dump line): 'P' + principal name
 *        or 'O' + policy name, appended to \p key.  For taking a received
 *        dump (kprop-compat) into the store; the value is not fully parsed.
 * \retval KS_EMALF not a principal or policy line
 */
int bridge_record_key(ks_view_t value, ks_buf_t *key);

/** Callback for bridge_foreach_record: views valid during the call only. */
typedef int (*bridge_record_cb)(ks_view_t key, ks_view_t value, void *ctx);

/**
 * \brief Encode every principal, then every policy, in KDB order (the order
 *        of `kdb5_util dump`), without touching a store.  Holds a shared DB
 *        lock for the whole iteration, as `kdb5_util dump` does: for tools
 *        and tests, not for the daemon's periodic work (use bridge_scan).
 * \return 0, a KS_E* error, or the callback's nonzero value.
 */
int bridge_foreach_record(bridge_t *b, bridge_record_cb cb, void *ctx);

/**
 * \brief Replica: apply a batch of PUT/DEL records to the KDB under the
 *        exclusive DB lock, released and re-taken every scan_lock_batch
 *        records so a long batch does not stall the KDC (readers may see a
 *        prefix of the batch; each record is whole).  Idempotent:
 *        re-applying a batch yields the same KDB.  On success the KDB's
 *        files are fsynced (durable before the caller records the batch).
 *        Every record is parsed and checked (key matches value)
 *        before the DB is touched, so a malformed batch changes nothing.
 * \param ch borrowed for the call.
 * \retval KS_EMALF a malformed record (field logged); nothing applied
 * \retval KS_EKDB  a DB write failed part-way (re-apply after fixing)
 * \retval KS_EMKEY this KDC's stash cannot decrypt the batch's master key
 *         list (see the rules above); nothing applied
 */
int bridge_apply(bridge_t *b, const store_change_t *ch, size_t n);

/*
 * Room on the KDB's file system, checked before each apply: DB2 given a
 * write the file system cannot hold leaves a torn database that libkdb5
 * then crashes on, so a batch is applied only when the worst case it can
 * need is free.  The worst case of one PUT in DB2's btree: the record on
 * fresh pages (a record larger than a page goes to whole overflow pages,
 * and an update of a different size is written anew, the old pages freed
 * only for later reuse), plus one new page per tree level when the insert
 * splits pages all the way up (BRIDGE_ROOM_LEVELS; 4 levels of 4 KiB pages
 * hold far more than a million principals).  A DEL needs nothing.  On top
 * of the batch, BRIDGE_ROOM_RESERVE stays free for the KDC's own writes
 * (lockout counters) and for an operator's kadmin.local.
 */
#define BRIDGE_ROOM_LEVELS  4
#define BRIDGE_ROOM_RESERVE ((uint64_t)1 << 20)

/**
 * \brief Bytes of free space a batch needs before it is applied (pure).
 * \param page the file system's block size (at least 4096 is used).
 */
uint64_t bridge_room_needed(const store_change_t *ch, size_t n, uint64_t page);

/**
 * \brief Check the KDB's file system for bridge_room_needed() bytes.
 * \param avail, need receive the bytes free and needed (may be NULL).
 * \return 0 (also when the KDB's path is unknown), KS_EKDBFULL (logged with
 *         both numbers and the directory).
 */
int bridge_kdb_room(bridge_t *b, const store_change_t *ch, size_t n,
		    uint64_t *avail, uint64_t *need);

/*
 * Full load: bridge_load_begin() creates an empty side database next to the
 * live one (DB2 "temporary": principal~ and friends, exclusively locked for
 * its lifetime), bridge_load_put() adds records to it, bridge_load_commit()
 * installs it over the live DB in one rename (krb5_db_promote, as
 * `kdb5_util load` does), copying the live lockout fields first unless
 * replicate_lockout.  krb5kdc keeps serving the old DB until the rename and
 * never sees a half-loaded one.  bridge_load_abort() (or any failure)
 * destroys the side DB; the live DB is untouched.
 */
typedef struct bridge_load bridge_load_t;

/** \param out must point to NULL; ends with commit or abort. */
int bridge_load_begin(bridge_t *b, bridge_load_t **out);

/** \brief No merge of the live DB's lockout fields at commit: for a live
 *         KDB known to be damaged (its records must not be read).  Before
 *         commit, on the thread that owns the load. */
void bridge_load_no_merge(bridge_load_t *l);

/** \brief Add one record (key and value borrowed). KS_EMALF, KS_EMKEY:
 *         see apply. */
int bridge_load_put(bridge_load_t *l, ks_view_t key, ks_view_t value);

/*
 * The same put in two steps, so that parsing (bridge_load_parse, on the
 * thread that owns the bridge: it uses the bridge's own context) and
 * writing (bridge_load_put_parsed, on one other thread at a time: the side
 * DB's context) can overlap.  A record for which bridge_load_rec_is_mkey()
 * is true changes this KDC's stash when put: put it on the bridge's thread
 * with no other put running.  bridge_load_rec_free() on either thread.
 */
typedef struct bridge_load_rec bridge_load_rec_t;
int bridge_load_parse(bridge_load_t *l, ks_view_t key, ks_view_t value,
		      bridge_load_rec_t **out);
bool bridge_load_rec_is_mkey(const bridge_load_rec_t *r);
int bridge_load_put_parsed(bridge_load_t *l, bridge_load_rec_t *r);
void bridge_load_rec_free(bridge_load_t *l, bridge_load_rec_t *r);

/** \brief Promote the side DB.  Frees \p l whatever the result; on failure
 *         the side DB is destroyed and the live DB is untouched. */
int bridge_load_commit(bridge_load_t *l);

/** \brief Destroy the side DB and free \p l (NULL is fine). */
void bridge_load_abort(bridge_load_t *l);

/**
 * \brief Full load of the store's live record set (one read txn).
 * \return 0 or the first error (nothing installed then).
 */
int bridge_load_from_store(bridge_t *b, store_t *s);
