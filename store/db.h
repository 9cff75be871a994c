/* SPDX-License-Identifier: MIT */
/*
 * Internal to store/: the only interface to LMDB.  db.c is the one file that
 * includes <lmdb.h>; it translates every LMDB code into a KS_E* code and
 * logs the detail there.
 *
 * Transactions carry a sticky error (Knot's knot_lmdb pattern): after the
 * first failure every operation is a no-op returning false, and the caller
 * checks txn->ret once.  db_get() returning false with txn->ret == 0 means
 * "not found".  Views returned point into the map and live as long as the
 * transaction (read-only; never written through).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Named databases; the order is internal, the names are on disk. */
enum db_name {
	DB_META,
	DB_LOG,
	DB_PEERS,
	DB_REC0,
	DB_REC1,
	DB_BKT0,
	DB_BKT1,
	DB_STAGE,
	DB_RELAY,
	DB_COUNT
};

typedef struct db_env db_env_t;

typedef struct db_txn {
	db_env_t *env;
	void *txn; /* MDB_txn *, internal */
	int ret;   /* sticky: first error, 0 while fine */
	bool rdonly;
	bool map_full; /* ret is KS_ESPACE because the map filled: grow, rerun */
} db_txn_t;

typedef struct db_cur {
	db_txn_t *txn;
	void *cur; /* MDB_cursor *, internal */
} db_cur_t;

/* Called inside the transaction that opens the named databases; a nonzero
 * return aborts it, so a refused store is left exactly as it was. */
typedef int (*db_init_fn)(db_txn_t *txn, void *ctx);

/**
 * \brief Open or create the environment in \p dir (created 0700 if absent;
 *        files 0600), run \p init in the first write txn.  \p out owned by
 *        the caller until db_close().
 */
int db_open(const char *dir, size_t map_size, bool nosync, db_init_fn init,
	    void *ctx, db_env_t **out);
void db_close(db_env_t *env);

/** \brief Current map size in bytes. */
size_t db_map_size(db_env_t *env);

/** Bytes of the map in use (pages up to the last one written). */
uint64_t db_used_bytes(db_env_t *env);

/**
 * \brief Double the map (after a write txn failed with map_full and was
 *        aborted).  \retval KS_ESPACE the file system cannot hold it
 *        \retval KS_EBUSY read transactions of this process are open.
 */
int db_grow(db_env_t *env);

/**
 * \brief Make sure \p bytes more fit in the map without growing it (grow
 *        now if not), before a step that holds a read txn across writes.
 */
int db_ensure_room(db_env_t *env, uint64_t bytes);

/**
 * \brief Begin a transaction.  A reader slot shortage is handled with
 *        mdb_reader_check and one retry (KS_EREADERS after that); a map
 *        grown by another process is adopted.
 */
int db_txn_begin(db_env_t *env, bool rdonly, db_txn_t *out);

/** \brief Commit if txn->ret == 0, else abort; returns the final result. */
int db_txn_commit(db_txn_t *txn);
void db_txn_abort(db_txn_t *txn);

/** \brief Fail the txn with \p ret (if it has not failed yet). */
void db_txn_fail(db_txn_t *txn, int ret);

bool db_get(db_txn_t *txn, enum db_name db, ks_view_t key, ks_view_t *val);
bool db_put(db_txn_t *txn, enum db_name db, ks_view_t key, ks_view_t val);

/**
 * \brief Reserve \p len bytes for the value of \p key and return where to
 *        write them (valid until the next write in the txn).  \p append:
 *        the key sorts after every existing key (MDB_APPEND).
 */
uint8_t *db_put_reserve(db_txn_t *txn, enum db_name db, ks_view_t key,
			size_t len, bool append);

/** \brief Delete \p key; a missing key is not an error (returns false). */
bool db_del(db_txn_t *txn, enum db_name db, ks_view_t key);

/** \brief Empty a database (its pages go to the free list). */
bool db_clear(db_txn_t *txn, enum db_name db);

/** \brief Bytes of pages a database occupies as of this txn. */
bool db_bytes(db_txn_t *txn, enum db_name db, uint64_t *bytes);

/** \brief Number of entries in a database as of this txn. */
bool db_count(db_txn_t *txn, enum db_name db, uint64_t *count);

bool db_cur_open(db_txn_t *txn, enum db_name db, db_cur_t *cur);
void db_cur_close(db_cur_t *cur);

/* Positioning; false at the end (txn->ret 0) or on error (txn->ret set). */
bool db_cur_first(db_cur_t *cur, ks_view_t *key, ks_view_t *val);
bool db_cur_next(db_cur_t *cur, ks_view_t *key, ks_view_t *val);
bool db_cur_last(db_cur_t *cur, ks_view_t *key, ks_view_t *val);
bool db_cur_prev(db_cur_t *cur, ks_view_t *key, ks_view_t *val);
/* First entry with key >= \p from (an empty \p from = first). */
bool db_cur_seek(db_cur_t *cur, ks_view_t from, ks_view_t *key, ks_view_t *val);
/* Delete the entry under the cursor. */
bool db_cur_del(db_cur_t *cur);
/*
 * Exact lookup that leaves the cursor on (or next to) \p key: false if
 * absent (txn->ret 0) or on error.  Through one cursor, lookups and puts of
 * keys near the previous one search only the current leaf page instead of
 * descending from the root.
 */
bool db_cur_find(db_cur_t *cur, ks_view_t key, ks_view_t *val);
/* Put through the cursor; \p append: the key sorts after every existing key
 * (MDB_APPEND: the page split keeps full pages). */
bool db_cur_put(db_cur_t *cur, ks_view_t key, ks_view_t val, bool append);
/* As db_put_reserve(), through the cursor. */
uint8_t *db_cur_put_reserve(db_cur_t *cur, ks_view_t key, size_t len,
			    bool append);
