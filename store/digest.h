/* SPDX-License-Identifier: MIT */
/*
 * Internal to store/: record hashes (SHA-256 through OpenSSL; digest.c is
 * the one store file that calls OpenSSL) and the 256-bit modular sums that
 * make up bucket and set digests (see the design in store/store.h).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"

/* A 256-bit integer, w[0] least significant. */
typedef struct dg256 {
	uint64_t w[4];
} dg256_t;

/* Reusable hashing context; owned by its creator, one thread at a time. */
typedef struct dg_ctx dg_ctx_t;

/** \retval KS_ECRYPTO, KS_ENOMEM */
int dg_ctx_new(dg_ctx_t **out);
void dg_ctx_free(dg_ctx_t *ctx);

/** \brief out = SHA-256(u32be(len(key)) || key || value). \retval KS_ECRYPTO */
int dg_record_hash(dg_ctx_t *ctx, ks_view_t key, ks_view_t value,
		   uint8_t out[32]);

/** \brief out = SHA-256(data), one shot, any thread.  \retval KS_ECRYPTO */
int dg_sha256(ks_view_t data, uint8_t out[32]);

void dg_from_bytes(dg256_t *d, const uint8_t in[32]); /* big-endian */
void dg_to_bytes(const dg256_t *d, uint8_t out[32]);
void dg_add(dg256_t *acc, const dg256_t *x); /* acc += x mod 2^256 */
void dg_sub(dg256_t *acc, const dg256_t *x); /* acc -= x mod 2^256 */
bool dg_is_zero(const dg256_t *d);
bool dg_equal(const dg256_t *a, const dg256_t *b);

/** \brief The bucket of a key (see store_key_bucket()). */
uint32_t dg_bucket(ks_view_t key);
