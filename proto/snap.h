/* SPDX-License-Identifier: MIT */
/*
 * Primary-side snapshot writer (PROTOCOL.md §3.4, §4.3, §4.4): takes the
 * records one at a time, cuts them into signed compressed chunks of about
 * `chunk_raw` bytes, and appends whole frames (SNAP_BEGIN, SNAP_CHUNK...,
 * SNAP_END) to a caller-owned ks_buf_t that the caller sends and empties at
 * its own pace.  The replica side is proto_snap_rx_* in batch.h.
 *
 * Ownership: record views passed to proto_snap_tx_add() are copied before
 * it returns; the key is borrowed and must outlive the writer.  Errors are
 * sticky: after one failure every call returns it and appends nothing.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/batch.h"
#include "proto/sign.h"

#define PROTO_SNAP_CHUNK_RAW_DEFAULT (1024u * 1024u) /* cut at ~1 MiB raw */
#define PROTO_SNAP_CHUNK_OPS_DEFAULT 10000u	     /* and at most 10k ops */

/* Writer state.  Fields under "set by caller" may be changed between
 * proto_snap_tx_init() and the first proto_snap_tx_add(); the rest is
 * private. */
typedef struct proto_snap_tx {
	/* set by caller */
	uint32_t chunk_raw; /* target raw bytes per chunk */
	uint32_t chunk_ops; /* maximum ops per chunk */
	int level;	    /* zstd level, 0 = PROTO_ZSTD_LEVEL_DEFAULT */
	/* private */
	const proto_key_t *key;
	uint8_t history[PROTO_HISTORY_LEN];
	uint64_t seq;
	uint64_t time_us;
	ks_buf_t raw;	  /* body of the chunk being filled */
	uint32_t ops;	  /* ops in it */
	uint32_t chunks;  /* chunks emitted */
	uint64_t records; /* records emitted or pending */
	int err;
} proto_snap_tx_t;

/**
 * \brief Start a snapshot of (\p history, \p seq) and append SNAP_BEGIN.
 * \param record_count announced count (informational, may be 0).
 * \param time_us commit time written into each chunk header.
 * \return KS_EOK, KS_EINVAL (zero history, public-only key), KS_ENOMEM.
 */
int proto_snap_tx_init(proto_snap_tx_t *tx,
		       const uint8_t history[PROTO_HISTORY_LEN], uint64_t seq,
		       uint64_t record_count, uint64_t time_us,
		       const proto_key_t *key, ks_buf_t *out);

/**
 * \brief Add one record; may append a SNAP_CHUNK frame to \p out.
 * \return KS_EOK, KS_EINVAL (bad key), KS_ELIMIT, KS_ECOMPRESS,
 *         KS_ECRYPTO, KS_ENOMEM, or the sticky error.
 */
int proto_snap_tx_add(proto_snap_tx_t *tx, ks_view_t key, ks_view_t value,
		      ks_buf_t *out);

/**
 * \brief Flush the last chunk and append the signed SNAP_END carrying the
 *        counts and \p digest (the store's content digest).
 */
int proto_snap_tx_finish(proto_snap_tx_t *tx,
			 const uint8_t digest[PROTO_DIGEST_LEN], ks_buf_t *out);

/** \brief Release the writer's buffer (after finish, or to abandon). */
void proto_snap_tx_deinit(proto_snap_tx_t *tx);
