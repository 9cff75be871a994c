/* SPDX-License-Identifier: MIT */
/*
 * Replication messages (PROTOCOL.md §3-§4): structs, encoding to whole
 * frames, decoding from one frame as delivered by proto/frame.h.
 *
 * Decoding is zero-copy: every ks_view_t in a decoded message borrows the
 * frame bytes passed to proto_msg_decode() and is valid only as long as they
 * are (for a frame from the assembler: until its callback returns).
 * Decoding allocates nothing and checks every length against the frame and
 * against the limits below before use.  Batches, snapshot chunks and the
 * snapshot end travel as signed blobs (proto/batch.h): proto_msg_decode()
 * only delimits them; proto_batch_open() / proto_snap_end_verify() check the
 * signature and the content.
 *
 * Encoding appends one whole frame (length prefix, type byte, payload) to a
 * caller-owned ks_buf_t; on error the buffer is left as it was.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Protocol versions this implementation speaks (PROTOCOL.md §3.1). */
#define PROTO_VERSION_MIN 1
#define PROTO_VERSION_MAX 1

/* "KSYN": first four payload bytes of HELLO, so a stray client (or a kprop
 * peer on the wrong port) is recognised at once. */
#define PROTO_HELLO_MAGIC 0x4b53594eu

#define PROTO_HISTORY_LEN 16 /* history id */
#define PROTO_DIGEST_LEN  32 /* snapshot content digest (opaque) */
#define PROTO_KEYID_LEN	  8  /* first 8 bytes of SHA-256(raw public key) */
#define PROTO_SIG_LEN	  64 /* Ed25519 signature */

#define PROTO_NAME_MAX 255 /* node name, bytes */
#define PROTO_TEXT_MAX 255 /* error / refusal text, bytes */

/* Message types: the first byte of every frame.  Values are wire-fixed. */
enum proto_msg_type {
	PROTO_MSG_HELLO = 0x01,
	PROTO_MSG_ANSWER = 0x02,
	PROTO_MSG_SNAP_BEGIN = 0x03,
	PROTO_MSG_SNAP_CHUNK = 0x04,
	PROTO_MSG_SNAP_END = 0x05,
	PROTO_MSG_BATCH = 0x06,
	PROTO_MSG_ACK = 0x07,
	PROTO_MSG_KEEPALIVE = 0x08,
	PROTO_MSG_ERROR = 0x09,
	PROTO_MSG_DIGEST_REQ = 0x0a, /* only to a peer with PROTO_CAP_DIGEST */
	PROTO_MSG_DIGEST_RSP = 0x0b,
	PROTO_MSG_FETCH = 0x0c,	  /* rewind: keys the replica changed */
	PROTO_MSG_VALUES = 0x0d,  /* rewind: signed values blob (kind 4) */
	PROTO_MSG_LOCKOUT = 0x0e, /* replica -> primary, PROTO_CAP_LOCKOUT */
	/* KDB content comparison (§3.11): the DIGEST_REQ / DIGEST_RSP
	 * layouts over the records the sender's KDB holds; only to a peer
	 * with PROTO_CAP_KDB_DIGEST */
	PROTO_MSG_KDB_DIGEST_REQ = 0x0f,
	PROTO_MSG_KDB_DIGEST_RSP = 0x10,
	/* repair (§3.12): the primary's current values of named keys; only
	 * to a primary with PROTO_CAP_REFETCH */
	PROTO_MSG_REFETCH = 0x11,  /* replica -> primary, FETCH layout */
	PROTO_MSG_REVALUES = 0x12, /* primary -> replica, values blob */
};

/** \brief Name of a message type for logs ("hello", ...; "?" if unknown). */
const char *proto_msg_type_name(int type);

/* Roles announced in HELLO. */
enum proto_role {
	PROTO_ROLE_PRIMARY = 1,
	PROTO_ROLE_REPLICA = 2,
};

/* Capability bits in HELLO (others must be sent as 0 and ignored). */
#define PROTO_CAP_ZSTD	 0x00000001u
#define PROTO_CAP_DIGEST 0x00000002u /* answers DIGEST_REQ (§3.8) */
#define PROTO_CAP_REWIND 0x00000004u /* replica: can rewind (§3.9) */
/* primary: takes LOCKOUT; replica: sends it (replicate_lockout, §3.10) */
#define PROTO_CAP_LOCKOUT    0x00000008u
#define PROTO_CAP_KDB_DIGEST 0x00000010u /* answers KDB_DIGEST_REQ (§3.11) */
#define PROTO_CAP_REFETCH    0x00000020u /* primary: answers REFETCH (§3.12) */
/* primary role: a relay (a replica serving replicas, §3.13): its batches
 * are another node's signed blobs, its position the applied one */
#define PROTO_CAP_RELAY 0x00000040u
/* replica: takes the rewind's VALUES in consecutive parts (§3.9) */
#define PROTO_CAP_VALUES_PARTS 0x00000080u

/* Answer modes (primary -> replica). */
enum proto_answer_mode {
	PROTO_ANSWER_INCREMENTAL = 1, /* batches from from_seq follow */
	PROTO_ANSWER_SNAPSHOT = 2,    /* a full snapshot follows */
	PROTO_ANSWER_REFUSED = 3,     /* reason + text; connection closes */
	PROTO_ANSWER_REWIND = 4,      /* rewind to from_seq - 1 (§3.9) */
};

typedef struct proto_hello {
	uint16_t version_min, version_max;
	uint8_t role;	/* enum proto_role */
	uint32_t caps;	/* PROTO_CAP_* */
	ks_view_t name; /* 1..PROTO_NAME_MAX printable ASCII */
	uint8_t history
		[PROTO_HISTORY_LEN]; /* sender's history id (zero: none) */
	uint64_t seq; /* replica: applied seq; primary: last seq */
	/* Identity extension after the name (PROTOCOL.md §3.2), optional:
	 * the realm the sender's KDB serves (may be empty: unknown) and the
	 * id of the key it signs with (all zero: none). */
	bool has_ident;
	ks_view_t realm; /* 0..PROTO_NAME_MAX printable ASCII */
	uint8_t key_id[PROTO_KEYID_LEN];
} proto_hello_t;

typedef struct proto_answer {
	uint16_t version; /* negotiated version */
	uint8_t mode;	  /* enum proto_answer_mode */
	uint8_t history
		[PROTO_HISTORY_LEN]; /* history the replica will follow */
	uint64_t from_seq; /* INCREMENTAL: first seq to come; else 0 */
	int32_t reason;	   /* REFUSED: a KS_E* code; else 0 */
	ks_view_t text;	   /* REFUSED: 0..PROTO_TEXT_MAX bytes; else empty */
} proto_answer_t;

typedef struct proto_snap_begin {
	uint8_t history[PROTO_HISTORY_LEN];
	uint64_t seq;	       /* position the snapshot represents */
	uint64_t record_count; /* records that will follow (informational) */
} proto_snap_begin_t;

typedef struct proto_ack {
	uint8_t history[PROTO_HISTORY_LEN];
	uint64_t seq; /* highest seq durably applied */
} proto_ack_t;

typedef struct proto_keepalive {
	uint64_t time_us; /* sender's wall clock, informational */
} proto_keepalive_t;

typedef struct proto_error {
	int32_t code;	/* a KS_E* code */
	ks_view_t text; /* 0..PROTO_TEXT_MAX bytes */
} proto_error_t;

/*
 * Content comparison (PROTOCOL.md §3.8): digests of bucket ranges of the
 * store's record set (store.h, "Bisection"), then a bucket's key listing.
 */
#define PROTO_DIGEST_BUCKETS   1024u  /* = STORE_BUCKETS */
#define PROTO_DIGEST_PARTS_MAX 64u    /* sub-ranges per RANGES request */
#define PROTO_DIGEST_KEY_MAX   65535u /* key length in a LIST entry (u16) */
#define PROTO_DIGEST_HASH_LEN  32u

enum proto_digest_kind {
	PROTO_DIGEST_RANGES = 1, /* digest + count of `parts` sub-ranges */
	PROTO_DIGEST_LIST = 2,	 /* (key, record hash) of one bucket */
};

typedef struct proto_digest_req {
	uint32_t id;	 /* echoed in the response */
	uint8_t kind;	 /* enum proto_digest_kind */
	uint16_t lo, hi; /* buckets [lo, hi), lo < hi <= BUCKETS */
	uint16_t parts;	 /* RANGES: 1..min(PARTS_MAX, hi - lo); LIST: 0 */
} proto_digest_req_t;

/*
 * RANGES: `body` is `count` entries of (32-byte digest, u64 record count),
 * sub-range i being [lo + (hi-lo)*i/count, lo + (hi-lo)*(i+1)/count).
 * LIST: `body` is `count` entries of (u16 key length 1..KEY_MAX, key,
 * 32-byte record hash), keys in ascending byte order.  The decoder checks
 * the whole body; proto_digest_list_next() walks a checked LIST body.
 */
typedef struct proto_digest_rsp {
	uint32_t id;
	uint8_t kind;
	uint16_t lo, hi;
	uint8_t history[PROTO_HISTORY_LEN]; /* responder's (applied) history */
	uint64_t seq;			    /* responder's (applied) seq */
	uint32_t count;
	ks_view_t body;
} proto_digest_rsp_t;

/** \brief Sub-range i of [lo, hi) split in \p parts (RANGES). */
void proto_digest_part(uint16_t lo, uint16_t hi, uint16_t parts, uint16_t i,
		       uint16_t *a, uint16_t *b);

/**
 * \brief Next entry of a decoded LIST body: \p *pos starts at 0.
 * \return true with \p key (borrowing the body) and \p hash, false at
 *         the end.
 */
bool proto_digest_list_next(ks_view_t body, size_t *pos, ks_view_t *key,
			    const uint8_t **hash);

/*
 * Rewind (PROTOCOL.md §3.9): the replica names the keys it changed after
 * the fork point `seq`; `body` is `count` entries of (u16 key length
 * 1..PROTO_DIGEST_KEY_MAX, key).  The decoder checks the whole body;
 * proto_fetch_next() walks it.
 */
#define PROTO_FETCH_KEYS_MAX 100000u

typedef struct proto_fetch {
	uint64_t seq; /* the fork point: the answer's from_seq - 1 */
	uint32_t count;
	ks_view_t body;
} proto_fetch_t;

/**
 * \brief Next key of a decoded FETCH body: \p *pos starts at 0.
 * \return true with \p key (borrowing the body), false at the end.
 */
bool proto_fetch_next(ks_view_t body, size_t *pos, ks_view_t *key);

/**
 * \brief Append one key to a FETCH body being built in \p body.
 * \return KS_EOK, KS_EINVAL (empty or over PROTO_DIGEST_KEY_MAX), KS_ENOMEM.
 */
int proto_fetch_add(ks_buf_t *body, ks_view_t key);

/*
 * Lockout report (PROTOCOL.md §3.10): a replica's KDC changed the lockout
 * fields of an existing principal; the primary merges them by the rule in
 * common/lockout.h.  `name` is the unparsed principal name with realm.
 */
#define PROTO_LOCKOUT_NAME_MAX 65535u

typedef struct proto_lockout {
	ks_view_t name; /* 1..PROTO_LOCKOUT_NAME_MAX bytes, no NUL */
	uint32_t last_success, last_failed;
	int32_t fail_auth_count; /* >= 0 */
} proto_lockout_t;

/*
 * A decoded message.  For SNAP_CHUNK, SNAP_END, BATCH, VALUES and REVALUES,
 * `blob` is the
 * signed object (proto/batch.h) borrowed from the frame.
 */
typedef struct proto_msg {
	uint8_t type; /* enum proto_msg_type */
	union {
		proto_hello_t hello;
		proto_answer_t answer;
		proto_snap_begin_t snap_begin;
		ks_view_t blob;
		proto_ack_t ack;
		proto_keepalive_t keepalive;
		proto_error_t error;
		proto_digest_req_t digest_req; /* also KDB_DIGEST_REQ */
		proto_digest_rsp_t digest_rsp; /* also KDB_DIGEST_RSP */
		proto_fetch_t fetch;	       /* also REFETCH */
		proto_lockout_t lockout;
	} u;
} proto_msg_t;

/**
 * \brief Decode one frame (type byte + payload, as the assembler delivers).
 * \param out written only on success; its views borrow \p frame.
 * \retval KS_ETYPE unknown type byte
 * \retval KS_ETRUNC payload shorter than its fields / declared lengths
 * \retval KS_ETRAILING bytes after the last field (HELLO excepted: see §3.1)
 * \retval KS_EMALF a field has a value outside its domain (zero name, bad
 *         role/mode, non-printable name, reserved bits set ...)
 * \retval KS_ELIMIT a declared length above its limit
 * \retval KS_EVERSION HELLO with bad magic or version_min 0 or >
 *         version_max; ANSWER with a version this build does not speak
 */
int proto_msg_decode(ks_view_t frame, proto_msg_t *out);

/**
 * \brief Append \p m as one whole frame (prefix + type + payload) to \p out.
 * \note Views in \p m are read, not kept.  \p out is unchanged on error.
 * \return KS_EOK, KS_EINVAL (a field the decoder would reject), KS_ETOOBIG,
 *         KS_ENOMEM.
 */
int proto_msg_encode(const proto_msg_t *m, ks_buf_t *out);

/**
 * \brief Negotiate the version from two HELLOs: the highest version both
 *        ranges contain.
 * \return KS_EOK and *version, or KS_EVERSION if the ranges do not meet.
 */
int proto_version_negotiate(const proto_hello_t *a, const proto_hello_t *b,
			    uint16_t *version);
