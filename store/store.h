/* SPDX-License-Identifier: MIT */
/*
 * The node's persistent state: one LMDB environment per node holding the
 * current record set, the ordered change log and the metadata (history id,
 * log window, replica position, per-peer acknowledgements), plus a second
 * record set used to stage full snapshots.
 *
 * Conventions
 * - Every function returns 0 (KS_EOK) or a negative KS_E* code; LMDB and
 *   OpenSSL codes never leave store/ (they are logged where they occur).
 * - Ownership: store_t is owned by the caller of store_open() until
 *   store_close().  store_txn_t is owned by the caller of store_read_begin()
 *   until store_read_end().  Every ks_view_t handed to a callback or
 *   returned by a read (store_get(), store_log_foreach(), ...) points into
 *   the LMDB map: it is read-only and valid only until store_read_end() of
 *   the transaction it came from (copy what you keep).  Views passed IN
 *   (store_change_t keys and values) are borrowed for the duration of the
 *   call only.
 * - Threads: write calls (commit, apply, stage, trim, ack, new history) are
 *   serialised by LMDB's writer lock; read transactions may be used from any
 *   thread (the env is opened with MDB_NOTLS), one thread at a time each.
 *   Keep read transactions short: a write that must grow the map while this
 *   process holds a read transaction fails with KS_EBUSY instead (LMDB cannot
 *   remap under live readers).
 * - Never use a store_t in a child after fork(); open a new one there.
 *
 * Map size policy: the map starts at opts->map_size (default
 * STORE_DEFAULT_MAP_SIZE; address space only, the file grows with the data).
 * When a write transaction hits MDB_MAP_FULL it is aborted, the map is
 * doubled (bounded by the space the file system still has) and the whole
 * transaction is run again, so MDB_MAP_FULL never reaches the caller; only
 * when the disk cannot hold a larger map does the call fail with KS_ESPACE.
 * Other processes pick up the larger size at their next transaction.
 *
 * Digest design (order-independent, incremental, bisectable)
 * - record hash  h(k, v) = SHA-256( u32be(len(k)) || k || v ).
 * - bucket       b(k) = top 10 bits of splitmix64's finaliser applied to
 *                FNV-1a-64(k): 0..1023 (STORE_BUCKETS).  The finaliser is
 *                x ^= x >> 30; x *= 0xbf58476d1ce4e5b9; x ^= x >> 27;
 *                x *= 0x94d049bb133111eb; x ^= x >> 31.
 * - bucket digest D_b = sum of h(k, v) over the records with b(k) = b,
 *                each hash read as a 256-bit big-endian integer, modulo
 *                2^256; stored with the bucket's record count.
 * - set digest   D = sum of all D_b modulo 2^256 = sum of all h(k, v).
 * A PUT adds h(new) and subtracts h(old); a DEL subtracts h(old): each
 * change updates exactly one bucket entry and the total in the same
 * transaction; nothing is ever recomputed by scanning (except by
 * store_check(), which verifies exactly that).  The empty set has the
 * all-zero digest.  Two stores with equal record sets have equal digests
 * regardless of the order or batching of the changes that built them.
 * Bisection: compare store_range_digest() over [0, STORE_BUCKETS), split
 * differing ranges in halves down to single buckets, then list the
 * (key, record hash) pairs of the differing buckets with
 * store_bucket_foreach() on both sides and compare them: the keys whose
 * hashes differ or that exist on one side only are exactly the differing
 * keys.
 *
 * On-disk layout (format STORE_FORMAT_VERSION; a store of any other version
 * is refused at open with KS_EFORMAT): named databases "meta" (readable
 * string keys, big-endian integer values), "log" (key = u64be seq, value =
 * u8 op, u64be commit_time_us, u32be key length, key, value), "peers"
 * (key = peer name, value = u64be acked seq), "stage" (pending snapshot
 * puts: key = u64be arrival number, value = u32be key length, key, value)
 * and two record sets "rec0" / "rec1" (key = record key, value = record
 * bytes; a long key as below) each with a bucket table "bkt0" / "bkt1"
 * (key = u16be bucket, value = 32-byte digest, u64be count; empty buckets
 * have no entry).
 * The data file is preallocated ahead of use (fallocate, KEEP_SIZE, a
 * quarter of its size between 16 and 256 MiB) so that durable commits of a
 * growing store write into allocated blocks.
 * Meta "live" names the live set; the other one is the staging set.
 *
 * Long keys.  Record keys may have up to STORE_MAX_KEY bytes (MIT accepts
 * principal names far longer than LMDB's 511-byte key limit).  A key is
 * "long" if it has more than 511 bytes, or exactly 511 with byte 478 zero;
 * a long key k is stored under the 511-byte LMDB key
 *     k[0..478) || 0x00 || SHA-256(k)[0..31) || slot
 * with the value u32be len(k) || k || record bytes.  Short keys are stored
 * as they are (they never have that length with a zero at 478, so the two
 * forms cannot be confused; principal and policy names contain no NUL).
 * slot is 0 unless different long keys share the first 510 bytes of the
 * form (a SHA-256 collision, or forced in tests): then each takes the
 * lowest free slot, and a lookup compares the full keys stored in the
 * values of every slot (at most 256).  Everything above the LMDB layer
 * sees full keys only: commits, applies, the log, staging, reads and
 * iteration; digests and buckets are computed over full keys, so a long
 * key's form never reaches another node.  Iteration stays in full-key
 * byte order: LMDB keeps every key sharing the first 478 bytes together,
 * and such a run (two or more entries only when names share 478 bytes) is
 * sorted by full key before it is handed out.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/errors.h"

#define STORE_FORMAT_VERSION	   1u
#define STORE_BUCKETS		   1024u
#define STORE_DIGEST_LEN	   32u
#define STORE_HISTORY_LEN	   16u
#define STORE_DEFAULT_MAP_SIZE	   ((size_t)64 << 30) /* 64 GiB of address space */
#define STORE_DEFAULT_RETAIN_COUNT 1000000u
#define STORE_DEFAULT_RETAIN_BYTES ((uint64_t)1 << 30) /* 1 GiB */
#define STORE_DEFAULT_HARD_CAP	   ((uint64_t)8 << 30) /* 8 GiB */
#define STORE_MAX_KEY		   65535u /* bytes of a record key (u16 on the wire) */
#define STORE_MAX_VALUE		   ((size_t)64 << 20) /* 64 MiB per record */
#define STORE_MAX_PEER_NAME	   255u

typedef struct store store_t;	      /* one LMDB env per node, opaque */
typedef struct store_txn store_txn_t; /* a read transaction, opaque */

typedef struct store_opts {
	size_t map_size;	 /* initial map size; 0 = default; grows */
	uint64_t retain_count;	 /* log entries to keep; 0 = default */
	uint64_t retain_bytes;	 /* log bytes to keep; 0 = default */
	uint64_t hard_cap_bytes; /* log bytes beyond which acks are no longer
				    honoured; 0 = default */
	bool nosync;		 /* tests and benches only: MDB_NOSYNC */
} store_opts_t;

/**
 * \brief Open (creating if needed, mode 0700/0600) the store in \p dir.
 *
 * A new store gets format STORE_FORMAT_VERSION, a history id of 128 random
 * bits (getrandom), last_seq 0 and an empty log (oldest_seq 1).
 * \param opts  NULL for defaults; copied, not kept.
 * \param out   receives the store, owned by the caller until store_close().
 * \retval KS_EFORMAT  the store has another format version (nothing changed)
 * \retval KS_ECORRUPT meta is unreadable or inconsistent
 * \retval KS_ENOMEM, KS_EACCES, KS_EIO, KS_ELMDB, other -errno
 */
int store_open(const char *dir, const store_opts_t *opts, store_t **out);

/** \brief Close the store.  All read transactions must have ended.  NULL ok. */
void store_close(store_t *s);

#define STORE_KEY_PRINCIPAL 'P' /* key = 'P' + unparsed principal name */
#define STORE_KEY_POLICY    'O' /* key = 'O' + policy name */

enum store_op {
	STORE_PUT = 1,
	STORE_DEL = 2,
};

typedef struct store_change {
	enum store_op op;
	ks_view_t key;	 /* borrowed; 1..STORE_MAX_KEY bytes */
	ks_view_t value; /* borrowed; PUT only (the dump line), may be empty */
} store_change_t;

/**
 * \brief Primary: apply a change set atomically and durably (unless nosync).
 *
 * Changes are applied in order (a later change to the same key sees the
 * earlier one).  Only changes that change something get consecutive seqs:
 * a PUT of bytes identical to the stored value and a DEL of a missing key
 * are skipped.  Each logged change records \p commit_time_us.
 *
 * Cost: LMDB copies every B-tree page a transaction touches, so a commit of
 * n records with scattered keys writes about n pages (4 KiB each) to the
 * record set, plus the log; keys in order share pages.  The set is updated
 * in key order (a stable sort of the change set; the log and the seqs keep
 * the given order) through one cursor, and keys beyond the set's greatest
 * key are appended, which keeps pages full.  To load a whole record set (a
 * first scan into an empty store, a resync) the staging path below is
 * several times faster in random key order (see bench/store_bench.c).
 * \param first_seq, last_seq  receive the assigned range (either may be
 *        NULL); nothing logged => *first_seq = last + 1, *last_seq = last.
 * \retval KS_EINVAL  a bad op, an empty or oversized key or value (nothing
 *                    changed)
 * \retval KS_ESPACE  the disk cannot hold the map (nothing changed)
 * \retval KS_EBUSY   the map must grow but this process holds a read txn
 * \retval KS_ELIMIT  the change set is too large for one transaction
 */
int store_commit(store_t *s, const store_change_t *ch, size_t n,
		 uint64_t commit_time_us, uint64_t *first_seq,
		 uint64_t *last_seq);

/**
 * A batch received by a replica: changes ch[0..n) have seqs first_seq,
 * first_seq + 1, ... under history \p history.  All pointers borrowed for
 * the call.
 */
typedef struct store_batch {
	uint8_t history[STORE_HISTORY_LEN];
	uint64_t first_seq;
	uint64_t commit_time_us;
	const store_change_t *ch;
	size_t n;
	/* optional: the signed blob the batch came in, kept as received
	 * for relaying (store_relay_get); empty = none */
	ks_view_t blob;
} store_batch_t;

/**
 * \brief Replica: apply a received batch, its log entries and the new
 *        position (history, first_seq + n - 1) in one transaction.
 *
 * Every change is logged under its given seq, even one that changes nothing
 * here (the log mirrors the primary's).  Nothing changes on any error.
 * A fresh store has no position (all-zero applied history): it must receive
 * a snapshot (store_stage_*) first, possibly an empty one.
 * \retval KS_EHISTORY  b->history differs from the applied history
 * \retval KS_EGAP      b->first_seq != applied_seq + 1
 * \retval KS_ESTATE    this store's own log is not at its applied position
 *                      (it was committed to as a primary)
 * \retval KS_EINVAL    n == 0, a bad op, key or value
 * A non-empty b->blob is kept in the same transaction, for
 * store_relay_get().
 */
int store_apply(store_t *s, const store_batch_t *b);

/*
 * Relayed batches (a replica serving further replicas, PROTOCOL.md §3.13):
 * the signed blob of every batch a replica applied, exactly as it came,
 * in database "relay" (key = u64be first seq, value = u64be last seq ||
 * blob).  Kept and dropped with the log: store_log_trim() drops blobs
 * that start before the oldest log entry, store_rewind() those that end
 * after the seq it goes back to, store_stage_install() all of them.  The
 * store never parses a blob.
 */

/**
 * \brief The blob of the applied batch whose first seq is \p first_seq.
 * \param blob     receives a view into the map (valid until
 *                 store_read_end()).
 * \param last_seq receives its last seq (may be NULL).
 * \retval KS_ENOENT  no such batch kept
 * \retval KS_ECORRUPT a malformed entry
 */
int store_relay_get(store_txn_t *t, uint64_t first_seq, ks_view_t *blob,
		    uint64_t *last_seq);

/**
 * \brief Replica: adopt a promoted primary's new history without a transfer.
 *
 * Allowed when the applied position is (\p prev_history, s) with
 * s <= \p prev_last_seq: the entries up to s are common to both histories.
 * The applied and own history become \p new_history; seqs continue; the old
 * id is remembered as prev_history/prev_last_seq.
 * \retval KS_EHISTORY  the position is not on \p prev_history
 * \retval KS_ESTALE    applied_seq > prev_last_seq (diverged: snapshot)
 */
int store_adopt_history(store_t *s, const uint8_t new_history[16],
			const uint8_t prev_history[16], uint64_t prev_last_seq);

/*
 * Full snapshot on a replica: store_stage_begin() empties the staging set,
 * store_stage_put() adds records in as many calls as the caller likes, and
 * store_stage_install() makes it live in one small transaction.  The live
 * set is untouched and readable throughout.
 *
 * Puts are appended to a stage log (sequential writes in any key order);
 * the staging set is built from it, in key order and in bounded
 * transactions, the first time it is needed (store_stage_info() or
 * store_stage_install()).  Building copies the staged keys into memory to
 * sort them (transiently about key size + 100 bytes per record: some
 * 130 MB for a million records) and holds one read transaction meanwhile.
 * A primary can load its first full scan into an empty store this way too
 * (install with its own history id and last_seq): several times faster
 * than store_commit() for scattered keys, and nothing is lost by not
 * logging it, since replicas of an empty log need a snapshot anyway.
 */

/** \brief Empty the staging set and the stage log. */
int store_stage_begin(store_t *s);

/**
 * \brief Add records (op must be STORE_PUT) to the staging set: one durable
 *        transaction appending to the stage log.  A key put twice keeps the
 *        last value.  Nothing changes on error.
 * \retval KS_EINVAL  an op other than PUT, a bad key or value
 */
int store_stage_put(store_t *s, const store_change_t *puts, size_t n);

/**
 * \brief Digest and record count of the staging set (either may be NULL);
 *        builds the set from pending puts first.
 */
int store_stage_info(store_t *s, uint8_t digest[32], uint64_t *count);

/**
 * \brief Make the staging set live, in one transaction (after building it
 *        from pending puts, in transactions of its own).
 *
 * The store's history and the applied position become (\p history, \p seq);
 * the log is emptied (last_seq = seq, oldest_seq = seq + 1); prev_history
 * is cleared.  The previous live set becomes the (stale) staging set.
 * \param digest  the expected digest of the staged set, NULL = don't check.
 * \retval KS_EDIGEST  the staged set's digest differs; the live set, log and
 *                     meta are unchanged (the staging set stays, built)
 */
int store_stage_install(store_t *s, const uint8_t history[16], uint64_t seq,
			const uint8_t digest[32]);

/** \brief Abandon a staging in progress (empties the staging set). */
int store_stage_abort(store_t *s);

/**
 * \brief Begin a read transaction on a consistent snapshot.
 * \param out  owned by the caller until store_read_end().
 * \retval KS_EREADERS  the reader table is full even after clearing stale
 *                      slots (mdb_reader_check)
 */
int store_read_begin(store_t *s, store_txn_t **out);

/** \brief End a read transaction; every view it produced becomes invalid. */
void store_read_end(store_txn_t *t);

/**
 * \brief Point read in the live record set.
 * \param value  receives a view into the map, valid until store_read_end().
 * \retval KS_ENOENT  no such key
 */
int store_get(store_txn_t *t, ks_view_t key, ks_view_t *value);

/** Record callback: views valid until store_read_end(); nonzero stops. */
typedef int (*store_record_cb)(ks_view_t key, ks_view_t value, void *ctx);

/**
 * \brief Iterate the live records in key order (memcmp) from \p from_key
 *        (inclusive; empty view = first record).
 * \return 0 after the last record, or the callback's nonzero value.
 */
int store_records_foreach(store_txn_t *t, ks_view_t from_key,
			  store_record_cb cb, void *ctx);

typedef struct store_log_entry {
	uint64_t seq, commit_time_us;
	enum store_op op;
	ks_view_t key, value; /* into the map; value empty for DEL */
} store_log_entry_t;

/** Log callback: *e and its views valid until store_read_end(); nonzero
 * stops. */
typedef int (*store_log_cb)(const store_log_entry_t *e, void *ctx);

/**
 * \brief Iterate log entries from \p from_seq to last_seq in order.
 * \return 0 at the end, or the callback's nonzero value.
 * \retval KS_ESTALE   from_seq < oldest_seq (trimmed away)
 * \retval KS_ERANGE   from_seq > last_seq + 1 (beyond the log)
 * \retval KS_ECORRUPT a malformed entry on disk (logged)
 */
int store_log_foreach(store_txn_t *t, uint64_t from_seq, store_log_cb cb,
		      void *ctx);

typedef struct store_meta {
	uint32_t format_version;
	uint8_t history[16];	       /* this store's current history id */
	uint64_t last_seq, oldest_seq; /* log window (oldest > last: empty) */
	uint8_t prev_history[16];      /* previous history, all-zero if none */
	uint64_t prev_last_seq;
	uint8_t applied_history[16]; /* replica position; all-zero: none */
	uint64_t applied_seq;
	uint64_t record_count; /* live set */
	uint8_t digest[32];    /* live set's content digest */
	uint64_t log_bytes;    /* sum of (8 + value size) over the log */
} store_meta_t;

/** \brief Read the metadata as of the transaction's snapshot. */
int store_meta_get(store_txn_t *t, store_meta_t *out);

/**
 * \brief Record that \p peer acknowledged everything up to \p seq.
 * Acks never move backwards (a lower seq is ignored).
 * \retval KS_EINVAL  empty or over-long (> STORE_MAX_PEER_NAME) name
 */
int store_peer_ack(store_t *s, const char *peer, uint64_t seq);

/** \brief A peer's acknowledged seq.  \retval KS_ENOENT  never acked. */
int store_peer_get(store_txn_t *t, const char *peer, uint64_t *seq);

/**
 * \brief Trim the log from the oldest end to the retention limits.
 *
 * Entries are dropped while more than retain_count entries or more than
 * retain_bytes bytes remain, but never an entry with seq >= \p keep_from_seq
 * (pass the lowest acked seq + 1 of the connected peers, UINT64_MAX for
 * none) unless the log exceeds hard_cap_bytes: then protected entries are
 * dropped too until it is within hard_cap_bytes (logged as a warning).
 * Runs in bounded transactions; consistent after each.
 */
int store_log_trim(store_t *s, uint64_t keep_from_seq);

/**
 * \brief Start a new history id (promotion, reset): prev_history and
 *        prev_last_seq remember the current id and last_seq; seqs continue.
 */
int store_new_history(store_t *s);

/**
 * \brief Follower: go back to seq \p seq of this store's own history (the
 *        point where it and the history it will follow diverged), in one
 *        transaction.
 *
 * The fixups \p fix (PUT/DEL, not logged) put the records the dropped
 * entries changed back to the followed node's values; log entries after
 * \p seq are dropped; the own and the applied position both become
 * (history, \p seq) (oldest_seq at most seq + 1); a previous history that
 * ended after \p seq is forgotten.  Then store_adopt_history() or
 * store_apply() continue from there.  Until the followed node's entries
 * after \p seq are applied, a fixed record may be newer than its newest
 * log entry (store_check() would say so).
 * \retval KS_ERANGE  seq > last_seq (nothing changed)
 * \retval KS_EINVAL  a bad fixup (nothing changed)
 */
int store_rewind(store_t *s, uint64_t seq, const store_change_t *fix, size_t n);

/**
 * \brief Replica: write \p fix (PUT/DEL) over the live records in one
 *        transaction, without a log entry and without moving any position
 *        (digests and counts follow).  For a repair that puts the primary's
 *        current values over records that differ from them; the batches
 *        after the applied position bring every record the primary changes
 *        later, as after store_rewind().
 * \retval KS_EINVAL  a bad change (nothing changed)
 */
int store_fix(store_t *s, const store_change_t *fix, size_t n);

/*
 * The role a node was switched to at run time (kdcsync promote / follow),
 * kept in meta "role" so that it survives a restart; STORE_ROLE_CONFIG (no
 * entry) means the configuration's role applies.
 */
enum store_role {
	STORE_ROLE_CONFIG = 0,
	STORE_ROLE_PRIMARY = 1,
	STORE_ROLE_REPLICA = 2, /* with the name of the peer it follows */
};

/**
 * \brief Keep the run-time role (durable, one small transaction).
 * \param peer  the followed peer for STORE_ROLE_REPLICA, else NULL.
 * \retval KS_EINVAL  a bad role, a replica without peer (or a peer without
 *                    replica), a name over STORE_MAX_PEER_NAME
 */
int store_role_set(store_t *s, int role, const char *peer);

/**
 * \brief The run-time role as of the transaction (STORE_ROLE_CONFIG when
 *        none); \p peer receives the followed peer ("" for none).
 * \retval KS_ECORRUPT  a malformed entry;  KS_ELIMIT  \p peerlen too small
 */
int store_role_get(store_txn_t *t, int *role, char *peer, size_t peerlen);

/** \brief Bucket of a key, 0 .. STORE_BUCKETS - 1 (see the digest design). */
uint32_t store_key_bucket(ks_view_t key);

/** \brief Record hash h(key, value) of the digest design.
 * \retval KS_ECRYPTO  OpenSSL failed (logged) */
int store_record_hash(ks_view_t key, ks_view_t value, uint8_t out[32]);

/** \brief \p acc += \p x modulo 2^256 (both big-endian): the digest
 *         arithmetic, for digests of record sets kept outside a store. */
void store_digest_add(uint8_t acc[32], const uint8_t x[32]);

/*
 * The set digest of records added one at a time (those a snapshot sent,
 * read in several transactions): the sum of their record hashes, as the
 * store keeps it for its own sets.  One thread at a time; no store needed.
 */
typedef struct store_digest_acc store_digest_acc_t;
int store_digest_acc_new(store_digest_acc_t **out);
/** \retval KS_ECRYPTO  OpenSSL failed (logged) */
int store_digest_acc_add(store_digest_acc_t *a, ks_view_t key, ks_view_t value);
void store_digest_acc_get(const store_digest_acc_t *a, uint8_t out[32]);
void store_digest_acc_free(store_digest_acc_t *a);

/**
 * \brief Digest and record count of the live records in buckets
 *        [\p lo, \p hi); O(hi - lo), no record is read.
 * \retval KS_EINVAL  lo > hi or hi > STORE_BUCKETS
 */
int store_range_digest(store_txn_t *t, uint32_t lo, uint32_t hi,
		       uint8_t digest[32], uint64_t *count);

/** Bucket listing callback: views valid until store_read_end(); nonzero
 * stops. */
typedef int (*store_bucket_cb)(uint32_t bucket, ks_view_t key, ks_view_t value,
			       const uint8_t hash[32], void *ctx);

/**
 * \brief Call \p cb for every live record whose bucket is in [lo, hi), in
 *        key order, with its record hash.  Costs one scan of the record set
 *        (for the final step of a bisection, not for routine use).
 * \return 0, the callback's nonzero value, KS_EINVAL for a bad range.
 */
int store_bucket_foreach(store_txn_t *t, uint32_t lo, uint32_t hi,
			 store_bucket_cb cb, void *ctx);

/**
 * \brief Verify every invariant: format; log keys contiguous from
 *        oldest_seq to last_seq with well-formed entries and log_bytes
 *        equal to their sum; the newest log entry of each key agrees with
 *        the live record set; record counts, bucket digests and the set
 *        digests of both record sets equal a full recomputation; history
 *        ids and positions plausible; peer and stage-log entries
 *        well-formed.  Costs a full scan (about 2-3 s per million
 *        records).
 * \retval KS_ECORRUPT  the first violated invariant, logged with details
 */
int store_check(store_t *s);

/**
 * \brief Size of the LMDB map and the bytes of it in use, from the
 *        environment's info page: no transaction, no record read (what
 *        status and metrics show at any database size).
 */
void store_usage(store_t *s, uint64_t *map_bytes, uint64_t *used_bytes);
