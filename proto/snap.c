/* SPDX-License-Identifier: MIT */
/*
 * Snapshot writer behind snap.h: accumulates serialised PUT ops and seals
 * them into signed chunk blobs framed as SNAP_CHUNK messages, then the
 * signed snapshot end.
 */
#include "proto/snap.h"

#include <string.h>

#include "common/errors.h"
#include "common/wire.h"
#include "proto/batch_int.h"
#include "proto/frame.h"
#include "proto/msg.h"

int proto_snap_tx_init(proto_snap_tx_t *tx,
		       const uint8_t history[PROTO_HISTORY_LEN], uint64_t seq,
		       uint64_t record_count, uint64_t time_us,
		       const proto_key_t *key, ks_buf_t *out)
{
	*tx = (proto_snap_tx_t){ .chunk_raw = PROTO_SNAP_CHUNK_RAW_DEFAULT,
				 .chunk_ops = PROTO_SNAP_CHUNK_OPS_DEFAULT,
				 .key = key,
				 .seq = seq,
				 .time_us = time_us };
	memcpy(tx->history, history, PROTO_HISTORY_LEN);
	if (!proto_key_has_private(key)) {
		tx->err = KS_EINVAL;
		return tx->err;
	}
	proto_msg_t m = { .type = PROTO_MSG_SNAP_BEGIN };
	memcpy(m.u.snap_begin.history, history, PROTO_HISTORY_LEN);
	m.u.snap_begin.seq = seq;
	m.u.snap_begin.record_count = record_count;
	int ret = proto_msg_encode(&m, out);
	if (ret != KS_EOK)
		tx->err = ret;
	return ret;
}

/* Seal the pending ops as chunk number tx->chunks, framed as SNAP_CHUNK. */
static int flush_chunk(proto_snap_tx_t *tx, ks_buf_t *out)
{
	if (tx->ops == 0)
		return KS_EOK;
	proto_batch_hdr_t h = { .kind = PROTO_BLOB_CHUNK,
				.first_seq = tx->seq,
				.last_seq = tx->chunks,
				.op_count = tx->ops,
				.commit_time_us = tx->time_us };
	memcpy(h.history, tx->history, PROTO_HISTORY_LEN);

	/* Prefix and type first, the blob sealed in place after them, then
	 * the length patched: no copy of the compressed chunk. */
	size_t start = out->len;
	int ret = ks_buf_reserve(out, PROTO_FRAME_PREFIX + 1);
	if (ret != KS_EOK)
		return ret;
	out->len += PROTO_FRAME_PREFIX + 1;
	ret = proto__batch_seal_raw(&h, tx->raw.data, tx->raw.len, tx->key,
				    tx->level, out);
	if (ret == KS_EOK &&
	    out->len - start - PROTO_FRAME_PREFIX > PROTO_FRAME_MAX_DEFAULT)
		ret = KS_ETOOBIG;
	if (ret != KS_EOK) {
		out->len = start;
		return ret;
	}
	ks_put_u32be(out->data + start,
		     (uint32_t)(out->len - start - PROTO_FRAME_PREFIX));
	out->data[start + PROTO_FRAME_PREFIX] = PROTO_MSG_SNAP_CHUNK;
	tx->chunks++;
	tx->ops = 0;
	ks_buf_reset(&tx->raw);
	return KS_EOK;
}

int proto_snap_tx_add(proto_snap_tx_t *tx, ks_view_t key, ks_view_t value,
		      ks_buf_t *out)
{
	if (tx->err != KS_EOK)
		return tx->err;
	proto_op_t op = { .type = PROTO_OP_PUT, .key = key, .value = value };
	int ret = proto__op_put(&tx->raw, PROTO_BLOB_CHUNK, &op);
	if (ret == KS_EINVAL)
		return ret; /* a bad record is the caller's; not sticky */
	if (ret == KS_EOK) {
		tx->ops++;
		tx->records++;
		if (tx->raw.len >= tx->chunk_raw || tx->ops >= tx->chunk_ops)
			ret = flush_chunk(tx, out);
	}
	if (ret != KS_EOK)
		tx->err = ret;
	return ret;
}

int proto_snap_tx_finish(proto_snap_tx_t *tx,
			 const uint8_t digest[PROTO_DIGEST_LEN], ks_buf_t *out)
{
	if (tx->err != KS_EOK)
		return tx->err;
	int ret = flush_chunk(tx, out);
	ks_buf_t blob = KS_BUF_INIT;
	if (ret == KS_EOK) {
		proto_snap_end_t e = { .seq = tx->seq,
				       .chunk_count = tx->chunks,
				       .record_count = tx->records };
		memcpy(e.history, tx->history, PROTO_HISTORY_LEN);
		memcpy(e.digest, digest, PROTO_DIGEST_LEN);
		ret = proto_snap_end_encode(&e, tx->key, &blob);
	}
	if (ret == KS_EOK) {
		proto_msg_t m = { .type = PROTO_MSG_SNAP_END };
		m.u.blob = ks_buf_view(&blob);
		ret = proto_msg_encode(&m, out);
	}
	ks_buf_free(&blob);
	if (ret != KS_EOK)
		tx->err = ret;
	return ret;
}

void proto_snap_tx_deinit(proto_snap_tx_t *tx)
{
	ks_buf_free(&tx->raw);
}
