/* SPDX-License-Identifier: MIT */
/*
 * Internal to store/: the store object, the in-memory image of the meta
 * database and the helpers the store's files share (double-underscore
 * names).  Who does what:
 *   store.c   open/close, the write-transaction runner, change validation
 *   meta.c    the meta database, history ids (new store, new history)
 *   key.c     long keys: LMDB form, lookup, iteration in full-key order
 *   set.c     writes to a record set (one cursor, key order, append)
 *   bucket.c  bucket tables: per-txn deltas, range digests, listings
 *   commit.c  primary commits, replica applies, adopting a history
 *   log.c     the change log: append, parse, iterate, trim
 *   stage.c   full-snapshot staging and installation
 *   read.c    read transactions, point reads, record iteration
 *   peers.c   per-peer acknowledgements
 *   relay.c   the signed blobs of applied batches, for relaying
 *   check.c   the invariant checker (store_check)
 * Everything here runs under the rules of store.h: write helpers only
 * inside a store__write() callback (LMDB's writer lock held).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "store/db.h"
#include "store/digest.h"
#include "store/store.h"

/* Log value header: u8 op, u64be commit time, u32be key length. */
#define STORE_LOG_HDR 13u

/* LMDB's maximum key size, and the bytes of a long key its LMDB form keeps
 * (see "Long keys" in store.h). */
#define STORE_LMDB_KEY	 511u
#define STORE_KEY_PREFIX 478u

/* Everything in "meta", loaded at the start of each txn. */
typedef struct meta {
	uint32_t format;
	uint8_t history[16], prev_history[16], applied_history[16];
	uint64_t last_seq, oldest_seq, prev_last_seq, applied_seq, log_bytes;
	uint8_t live; /* 0 or 1: which record set is live */
	uint64_t set_count[2];
	dg256_t set_digest[2];
} meta_t;

/* Pending per-bucket changes of the record set a write txn modifies. */
typedef struct bucket_delta {
	dg256_t add, sub;
	int64_t count;
} bucket_delta_t;

struct store {
	db_env_t *env;
	store_opts_t opts;
	dg_ctx_t *dg; /* used inside write txns only (serialised) */
	bucket_delta_t delta[STORE_BUCKETS];
	bool dirty[STORE_BUCKETS];
	uint16_t dirty_list[STORE_BUCKETS];
	size_t ndirty;
	/* change-set order and per-change results of the current write txn */
	size_t *order;
	bool *changed;
	size_t order_cap;
};

struct store_txn {
	store_t *s;
	db_txn_t txn;
	meta_t m;
};

static inline enum db_name rec_db(unsigned set)
{
	return set ? DB_REC1 : DB_REC0;
}

static inline enum db_name bkt_db(unsigned set)
{
	return set ? DB_BKT1 : DB_BKT0;
}

static inline ks_view_t bv(const void *p, size_t n)
{
	return (ks_view_t){ .ptr = p, .len = n };
}

static inline ks_view_t sv(const char *s)
{
	return bv(s, strlen(s));
}

/* --- store.c --- */

/** A write-transaction body for store__write(). */
typedef int (*store__write_fn)(store_t *s, db_txn_t *txn, void *ctx);

/**
 * \brief Run \p fn in a write transaction and commit it.  \p fn reads meta
 *        itself and keeps no state outside \p ctx's outputs: when the map
 *        fills, the transaction is aborted, the map grown and \p fn run
 *        again from scratch.
 */
int store__write(store_t *s, store__write_fn fn, void *ctx);

/** \brief Validate a change set (ops, key and value sizes): KS_EINVAL. */
int store__check_changes(const store_change_t *ch, size_t n, bool puts_only);

/* --- meta.c --- */

/** \brief Load meta; KS_ECORRUPT if a key is missing or malformed. */
int store__meta_load(db_txn_t *txn, meta_t *m);

/** \brief Write every meta key (sticky errors in \p txn). */
void store__meta_save(db_txn_t *txn, const meta_t *m);

/** \brief 16 random bytes, never all zero (getrandom). */
int store__random_history(uint8_t out[16]);

/** \brief db_open()'s init: create a new store's meta or check the format. */
int store__meta_init(db_txn_t *txn, void *ctx);

/* --- bucket.c --- */

/** \brief Forget the pending bucket deltas (start of a write txn). */
void store__delta_reset(store_t *s);

/** \brief Note a record hash added to (\p add) or removed from bucket \p b. */
void store__delta_note(store_t *s, uint32_t b, const uint8_t h[32], bool add);

/** \brief Fold the pending deltas into set \p set's bucket table and \p m. */
int store__delta_flush(store_t *s, db_txn_t *txn, meta_t *m, unsigned set);

/** \brief Parse a bucket-table entry; false if malformed. */
bool store__bkt_parse(ks_view_t key, ks_view_t val, uint32_t *bucket,
		      dg256_t *d, uint64_t *count);

/* --- set.c --- */

/*
 * Writes to one record set within a write txn, through one cursor (a key
 * near the previous one is found in the current leaf page, without a
 * descent from the root).  \c last is an upper bound of the set's greatest
 * key (a copy: the page it came from moves when written): a new key beyond
 * it is appended (MDB_APPEND), which fills pages instead of splitting them
 * in half, so a load in key order writes fewer pages.
 */
typedef struct set_writer {
	db_cur_t cur;
	unsigned set;
	bool empty; /* the set had no key at all when opened */
	size_t last_len;
	uint8_t last[STORE_LMDB_KEY];
} set_writer_t;

/** \brief Open a writer on record set \p set; false on error (txn->ret). */
bool store__set_writer_open(db_txn_t *txn, unsigned set, set_writer_t *w);

/**
 * \brief Apply one change through \p w, noting the digest deltas;
 *        *changed tells whether anything changed.
 */
int store__set_apply(store_t *s, db_txn_t *txn, set_writer_t *w,
		     const store_change_t *c, bool *changed);

/**
 * \brief Apply ch[0..n) to set \p set in key order (stable: a later change
 *        to a key sees the earlier), setting s->changed[i] for each.
 */
int store__set_apply_sorted(store_t *s, db_txn_t *txn, unsigned set,
			    const store_change_t *ch, size_t n);

/* --- key.c --- */

/* Tests only: long-key hashes all zero, so every long key with the same
 * prefix collides (exercises the slots).  Set before opening a store. */
extern bool store__key_weak_hash;

/** \brief Whether a record key is stored in long form. */
bool store__key_is_long(ks_view_t key);

/** \brief Whether an LMDB key of a record set is a long key's form. */
bool store__lkey_is_long(ks_view_t lkey);

/** \brief A long key's LMDB form with slot 0.  \retval KS_ECRYPTO */
int store__key_long_form(ks_view_t key, uint8_t out[STORE_LMDB_KEY]);

/** \brief Size and bytes of a long key's LMDB value (key, then value). */
size_t store__long_value_len(ks_view_t key, ks_view_t value);
void store__long_value_write(uint8_t *dst, ks_view_t key, ks_view_t value);

/** \brief A record set entry's full key and value (views into \p lv for a
 *        long key).  \retval KS_ECORRUPT a malformed long-key entry */
int store__rec_decode(ks_view_t lk, ks_view_t lv, ks_view_t *key,
		      ks_view_t *value);

/* Where a record key is, or would go, in a record set. */
typedef struct store__rec_pos {
	uint8_t lkey[STORE_LMDB_KEY]; /* its LMDB key (free slot if absent) */
	size_t lkey_len;
	bool found;
	ks_view_t value; /* found: the record's value, into the map */
} store__rec_pos_t;

/**
 * \brief Find \p key through \p cur (a cursor on a record set); when found,
 *        the cursor is on it.  \retval KS_ELIMIT absent and 256 keys share
 *        its long form's prefix and hash (no free slot).
 */
int store__rec_locate(db_cur_t *cur, ks_view_t key, store__rec_pos_t *pos);

/** \brief Point read in record set \p set (any key length); false if
 *        absent (txn->ret 0) or on error (txn->ret set). */
bool store__rec_get(db_txn_t *txn, unsigned set, ks_view_t key,
		    ks_view_t *value);

typedef struct store__rec_ent {
	ks_view_t key, value;
} store__rec_ent_t;

/* Iterator over a record set in full-key byte order (read txns). */
typedef struct store__rec_iter {
	db_cur_t cur;
	ks_view_t from, seek;
	bool started, done, have_peek;
	ks_view_t pk, pv;      /* peeked raw entry */
	store__rec_ent_t *grp; /* current group, sorted */
	size_t n, pos, cap;
	int err;
} store__rec_iter_t;

/** \brief Start at the first key >= \p from (empty: the first); false on
 *        error (txn->ret).  Close it whatever the result. */
bool store__rec_iter_open(db_txn_t *txn, unsigned set, ks_view_t from,
			  store__rec_iter_t *it);
/** \brief Next record; false at the end or on error (see close). */
bool store__rec_iter_next(store__rec_iter_t *it, ks_view_t *key,
			  ks_view_t *value);
/** \brief Free the iterator; returns the first error, 0 if none. */
int store__rec_iter_close(store__rec_iter_t *it);

/* --- log.c --- */

/** \brief Append one change as log entry \p seq through \p cur (a cursor
 *        on the log), adding its size to m->log_bytes. */
void store__log_append(db_cur_t *cur, meta_t *m, uint64_t seq,
		       const store_change_t *c, uint64_t time_us);

/** \brief Parse a log entry; KS_ECORRUPT if malformed. */
int store__log_parse(ks_view_t key, ks_view_t val, store_log_entry_t *e);

/* --- relay.c --- */

/** \brief Keep the blob of batch [first, last] (sticky errors in \p txn). */
void store__relay_put(db_txn_t *txn, uint64_t first, uint64_t last,
		      ks_view_t blob);

/** \brief Drop the blobs that start before \p oldest_seq. */
void store__relay_trim(db_txn_t *txn, uint64_t oldest_seq);

/** \brief Drop the blobs that end after \p seq. */
void store__relay_drop_after(db_txn_t *txn, uint64_t seq);

/* --- stage.c --- */

/** \brief Parse a stage-log entry; KS_ECORRUPT if malformed. */
int store__stage_parse(ks_view_t key, ks_view_t val, ks_view_t *rkey,
		       ks_view_t *rval);
