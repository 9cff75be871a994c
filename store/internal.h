/* SPDX-License-Identifier: MIT */
/*
 * Internal to store/: the store object, the in-memory image of the meta
 * database and helpers shared by store.c (operations) and check.c
 * (invariant checker).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "store/db.h"
#include "store/digest.h"
#include "store/store.h"

/* Log value header: u8 op, u64be commit time, u32be key length. */
#define STORE_LOG_HDR 13u

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

/** \brief Load meta; KS_ECORRUPT if a key is missing or malformed. */
int meta_load(db_txn_t *txn, meta_t *m);

/** \brief Parse a log entry; KS_ECORRUPT if malformed. */
int log_parse(ks_view_t key, ks_view_t val, store_log_entry_t *e);

/** \brief Parse a stage-log entry; KS_ECORRUPT if malformed. */
int stage_parse(ks_view_t key, ks_view_t val, ks_view_t *rkey, ks_view_t *rval);

/** \brief Parse a bucket-table entry; false if malformed. */
bool bkt_parse(ks_view_t key, ks_view_t val, uint32_t *bucket, dg256_t *d,
	       uint64_t *count);
