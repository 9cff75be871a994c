/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers for the store tests: a plain in-memory model of the record
 * set, a deterministic generator of change batches over a small key space,
 * an independent computation of the documented digest, and a comparison of
 * a store with the model.  Include after system headers, before test.h
 * users' cmocka assertions (this header includes test.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "helpers/test.h"
#include "store/store.h"

#define MODEL_MAX_BATCH 64

/* Record set as an array indexed by key id; owns its value buffers. */
typedef struct model {
	size_t nkeys;
	ks_buf_t *val;
	bool *present;
	size_t count;
	uint64_t last_seq; /* seqs the store should have assigned */
} model_t;

/* One generated batch; owns key and value storage, ch[] borrows them. */
typedef struct batch {
	size_t n;
	store_change_t ch[MODEL_MAX_BATCH];
	size_t id[MODEL_MAX_BATCH];
	char key[MODEL_MAX_BATCH][48];
	ks_buf_t val[MODEL_MAX_BATCH];
} batch_t;

void model_init(model_t *m, size_t nkeys);
void model_free(model_t *m);

/** \brief Key of id \p id ("Puser<id>@EXAMPLE.COM"), into \p buf. */
ks_view_t model_key(size_t id, char buf[48]);

/** \brief A dump-line-like value of about \p len bytes for (id, version). */
void model_value(size_t id, uint64_t version, size_t len, ks_buf_t *out);

/**
 * \brief Generate up to \p max changes from \p seed against the model's
 *        current state: new values, identical puts, deletes of present and
 *        missing keys, empty values.
 */
void batch_gen(batch_t *b, const model_t *m, uint64_t *seed, size_t max);
void batch_free(batch_t *b);

/** \brief Apply like store_commit(); returns the number of logged changes. */
uint64_t model_apply(model_t *m, const batch_t *b);

/** \brief The documented digest of the model, computed independently. */
void model_digest(const model_t *m, uint8_t out[32]);

/** \brief Assert that the store's live records and meta equal the model. */
void model_verify(const model_t *m, store_t *s);

/** \brief Digest of a store's records, recomputed from a full scan. */
void test_store_scan_digest(store_t *s, uint8_t out[32], uint64_t *count);

/* Log entries copied out of a store as a batch; owns its buffers. */
struct copy_batch {
	store_change_t ch[64];
	ks_buf_t keys[64], vals[64];
	size_t n;
	uint64_t first;
};

/**
 * \brief Read up to \p max (<= 64) log entries of \p src from \p from into
 *        \p cb and describe them as a replica batch in \p b (history =
 *        src's current history).
 */
void read_batch(store_t *src, uint64_t from, size_t max, struct copy_batch *cb,
		store_batch_t *b);
void copy_free(struct copy_batch *cb);

/** \brief A PUT of \p k = \p v (both borrowed: string literals or buffers
 *         that outlive the commit). */
store_change_t model_put(const char *k, const char *v);

/** \brief A DEL of \p k (borrowed, as for model_put()). */
store_change_t model_del(const char *k);

/** \brief The store's metadata through a read transaction (asserts). */
void model_meta(store_t *s, store_meta_t *m);

/** \brief \p r, an empty store, becomes \p p's replica: p's history staged
 *         with an empty digest (no records yet, no seq applied). */
void model_replica_init(store_t *r, store_t *p);

/** \brief Assert that \p k holds \p want (NULL: that \p k is absent). */
void model_assert_value(store_t *s, const char *k, const char *want);
