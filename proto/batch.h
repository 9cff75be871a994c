/* SPDX-License-Identifier: MIT */
/*
 * Signed, compressed blobs (PROTOCOL.md §4): delta batches, snapshot chunks
 * and the snapshot end, plus the continuity checks a replica runs on them.
 *
 * A batch or chunk blob is a 64-byte header, a zstd body holding PUT/DEL
 * ops, and an Ed25519 signature over header and body.  The same bytes are
 * what the primary stores, sends in a BATCH / SNAP_CHUNK message, and what a
 * relay forwards unchanged.
 *
 * Opening a blob checks, in this order and before any work that depends on
 * the checked value: header lengths against the blob, version, kind, flags,
 * seq/op-count consistency, op count and declared size against the limits,
 * the signature (so nothing untrusted is ever decompressed), the zstd
 * frame's declared content size against the header, a bounded
 * decompression into exactly raw_size bytes, and then every op's lengths.
 *
 * Ownership: proto_batch_t owns the decompressed body and the op array; op
 * views point into that body and are valid until proto_batch_deinit().
 * The blob passed to proto_batch_open() / _peek() is only read during the
 * call.  The primary-side snapshot writer is in proto/snap.h.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/msg.h"
#include "proto/sign.h"

#define PROTO_BLOB_VERSION  1
#define PROTO_BATCH_HDR_LEN 64
#define PROTO_SNAP_END_LEN  (80 + PROTO_SIG_LEN)

/* Signed object kinds: byte 1 of every signed blob (domain separation). */
enum proto_blob_kind {
	PROTO_BLOB_BATCH = 1,
	PROTO_BLOB_CHUNK = 2,
	PROTO_BLOB_SNAP_END = 3,
	PROTO_BLOB_VALUES = 4, /* rewind: current values of fetched keys */
};

/* Op types; same values as the store's enum store_op. */
enum proto_op_type {
	PROTO_OP_PUT = 1,
	PROTO_OP_DEL = 2,
};

typedef struct proto_op {
	uint8_t type;	 /* enum proto_op_type */
	ks_view_t key;	 /* 'P' + principal or 'O' + policy */
	ks_view_t value; /* PUT: the dump line; DEL: empty */
} proto_op_t;

/* Receive limits; each is checked before the work it bounds. */
typedef struct proto_limits {
	uint32_t max_ops;   /* ops in one batch or chunk */
	uint32_t max_raw;   /* declared (= decompressed) body size */
	uint32_t max_key;   /* bytes of one key */
	uint32_t max_value; /* bytes of one value */
} proto_limits_t;

#define PROTO_LIMIT_OPS_DEFAULT	  100000u
#define PROTO_LIMIT_RAW_DEFAULT	  (64u * 1024u * 1024u)
#define PROTO_LIMIT_KEY_DEFAULT	  65535u /* any record key (u16) */
#define PROTO_LIMIT_VALUE_DEFAULT (1024u * 1024u)

/* zstd level used when the caller passes 0.  Level 1 measured both faster
 * and smaller than level 3 on dump lines (bench/proto_bench.c). */
#define PROTO_ZSTD_LEVEL_DEFAULT 1

/** \brief Fill \p lim with the defaults above. */
void proto_limits_default(proto_limits_t *lim);

/*
 * Header of a batch or chunk blob.  For kind CHUNK, first_seq is the
 * snapshot's position and last_seq the 0-based chunk index (PROTOCOL.md §4.3).
 * For kind VALUES (§4.5), first_seq is the fork point of a rewind and
 * last_seq the primary's last seq when it read the values; ops are PUT
 * (the record) or DEL (no such record), any number.
 */
typedef struct proto_batch_hdr {
	uint8_t kind; /* PROTO_BLOB_BATCH or PROTO_BLOB_CHUNK */
	uint8_t key_id[PROTO_KEYID_LEN];
	uint8_t history[PROTO_HISTORY_LEN];
	uint64_t first_seq;
	uint64_t last_seq;
	uint32_t op_count;
	uint32_t raw_size; /* uncompressed body bytes */
	uint64_t commit_time_us;
	uint32_t body_len; /* compressed body bytes */
} proto_batch_hdr_t;

/* An opened (verified, decompressed, parsed) batch or chunk. */
typedef struct proto_batch {
	proto_batch_hdr_t hdr;
	proto_op_t *ops; /* hdr.op_count entries, owned */
	uint8_t *raw;	 /* decompressed body, owned; ops point here */
} proto_batch_t;

/**
 * \brief Encode, compress and sign ops into a blob appended to \p out.
 * \param h kind, history, first_seq, last_seq, commit_time_us are used;
 *        key_id, op_count, raw_size and body_len are computed.
 * \param level zstd level (0 = PROTO_ZSTD_LEVEL_DEFAULT).
 * \return KS_EOK, KS_EINVAL (bad op, inconsistent seqs, DEL in a chunk),
 *         KS_ELIMIT (over PROTO_LIMIT_* hard wire limits), KS_ECOMPRESS,
 *         KS_EKEY, KS_ECRYPTO, KS_ENOMEM.  \p out unchanged on error.
 */
int proto_batch_encode(const proto_batch_hdr_t *h, const proto_op_t *ops,
		       size_t n, const proto_key_t *key, int level,
		       ks_buf_t *out);

/*
 * Raw body bytes per part when a values answer is split over several
 * blobs (REVALUES, PROTOCOL.md §3.12): zstd never grows a body by more
 * than a small fraction, so the frame of an incompressible 8 MiB part stays
 * well under the 16 MiB default frame limit, and the receiver's raw limit
 * (64 MiB) is never reached; one op (value <= 1 MiB) always fits.
 */
#define PROTO_VALUES_PART_RAW (8u * 1024u * 1024u)

/**
 * \brief How many of the leading \p n ops form one blob whose raw body is
 *        at most \p raw_max bytes and holds at most \p ops_max ops: at
 *        least 1 (a single op larger than \p raw_max goes alone; encoding
 *        it checks the hard limits), 0 only when \p n is 0.  Splitting an
 *        op list into consecutive parts: call it on the rest until empty.
 */
size_t proto_batch_fit(const proto_op_t *ops, size_t n, size_t raw_max,
		       size_t ops_max);

/**
 * \brief Low level: append header \p h (as given, except key_id from \p key
 *        and body_len = zbody.len), the already compressed \p zbody, and the
 *        signature.  For tests and tools; proto_batch_encode() is the normal
 *        path.
 */
int proto_batch_sign(const proto_batch_hdr_t *h, ks_view_t zbody,
		     const proto_key_t *key, ks_buf_t *out);

/**
 * \brief Parse and check a blob's header and framing, without the signature
 *        or the body (for storing or relaying, and for logs).
 * \return KS_EOK; KS_ETRUNC/KS_ETRAILING (blob length vs body_len),
 *         KS_EVERSION, KS_ETYPE (kind), KS_EMALF (flags, seqs), KS_ECOUNT
 *         (batch op count vs seq range).
 */
int proto_batch_peek(ks_view_t blob, proto_batch_hdr_t *out);

/**
 * \brief Verify and decode a blob of the expected \p kind.
 * \param lim NULL = defaults.
 * \param out zero-initialise; set only on success; release with
 *        proto_batch_deinit().
 * \retval KS_ELIMIT op count or declared size over the limits, key/value
 *         over the limits
 * \retval KS_EUNTRUSTED, KS_ESIG signature checks
 * \retval KS_EBOMB the zstd frame declares a content size other than
 *         raw_size, or decompresses to more than raw_size
 * \retval KS_ECOMPRESS not exactly one zstd frame with a content size, or
 *         corrupt compressed data
 * \retval KS_ECOUNT body holds fewer ops than op_count, or op_count * 8 >
 *         raw_size (checked from the header, before anything else)
 * \retval KS_ETRUNC an op's header or key/value runs past the body
 * \retval KS_ETRAILING body holds bytes after the last op
 * \retval KS_EMALF bad op type, empty or badly typed key, DEL with a value,
 *         DEL in a chunk
 * plus the codes of proto_batch_peek().
 */
int proto_batch_open(ks_view_t blob, uint8_t kind, const proto_trust_t *trust,
		     const proto_limits_t *lim, proto_batch_t *out);

/** \brief Release what proto_batch_open() allocated; idempotent. */
void proto_batch_deinit(proto_batch_t *b);

/**
 * \brief Replica-side continuity: may batch \p h be applied at position
 *        (\p history, \p applied_seq)?
 * \retval KS_EOK h->first_seq == applied_seq + 1 on the same history
 * \retval KS_EEXIST already applied entirely (last_seq <= applied_seq): skip
 * \retval KS_EHISTORY a different history id
 * \retval KS_EGAP a gap, or a partial overlap
 */
int proto_batch_check_next(const uint8_t history[PROTO_HISTORY_LEN],
			   uint64_t applied_seq, const proto_batch_hdr_t *h);

/* Snapshot end: signed manifest closing a snapshot (PROTOCOL.md §4.4). */
typedef struct proto_snap_end {
	uint8_t key_id[PROTO_KEYID_LEN]; /* set by encode from the key */
	uint8_t history[PROTO_HISTORY_LEN];
	uint64_t seq;
	uint32_t chunk_count;
	uint64_t record_count;
	uint8_t digest[PROTO_DIGEST_LEN]; /* opaque content digest */
} proto_snap_end_t;

/** \brief Append a signed snapshot-end blob (PROTO_SNAP_END_LEN bytes). */
int proto_snap_end_encode(const proto_snap_end_t *e, const proto_key_t *key,
			  ks_buf_t *out);

/**
 * \brief Verify and decode a snapshot-end blob.
 * \return KS_EOK, KS_ETRUNC, KS_ETRAILING, KS_EVERSION, KS_ETYPE, KS_EMALF,
 *         KS_EUNTRUSTED, KS_ESIG, KS_ECRYPTO.
 */
int proto_snap_end_open(ks_view_t blob, const proto_trust_t *trust,
			proto_snap_end_t *out);

/*
 * Replica-side snapshot tracker: checks that chunks belong to the announced
 * snapshot, arrive in order, and that the end's counts match what came.
 * Plain value type; all fields read-only for callers.
 */
typedef struct proto_snap_rx {
	uint8_t history[PROTO_HISTORY_LEN];
	uint64_t seq;
	uint32_t next_chunk;
	uint64_t records;
	int started;
} proto_snap_rx_t;

/** \brief Start tracking the snapshot announced by \p b. */
void proto_snap_rx_begin(proto_snap_rx_t *rx, const proto_snap_begin_t *b);

/**
 * \brief Account for one opened chunk.
 * \retval KS_ESTATE no snapshot begun
 * \retval KS_EHISTORY chunk of another history or position
 * \retval KS_EGAP chunk index out of order
 */
int proto_snap_rx_chunk(proto_snap_rx_t *rx, const proto_batch_hdr_t *h);

/**
 * \brief Check an opened snapshot end against what arrived.
 * \retval KS_ESTATE, KS_EHISTORY as above
 * \retval KS_ECOUNT chunk or record count differs
 * The digest is checked by the store (store_stage_install()).
 */
int proto_snap_rx_end(const proto_snap_rx_t *rx, const proto_snap_end_t *e);
