/* SPDX-License-Identifier: MIT */
/*
 * Signed compressed blobs behind batch.h: delta batches, snapshot chunks,
 * the snapshot end, and the replica's continuity checks.  The only file in
 * proto/ that calls libzstd; zstd errors are translated and logged here.
 * Signing and verification go through sign.h.
 */
#include "proto/batch.h"

#include <stdlib.h>
#include <string.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/wire.h"
#include "proto/batch_int.h"

#define OP_MIN_LEN   (PROTO__OP_HDR_LEN + 1)
#define KEY_MAX_WIRE 0xffffu

void proto_limits_default(proto_limits_t *lim)
{
	*lim = (proto_limits_t){
		.max_ops = PROTO_LIMIT_OPS_DEFAULT,
		.max_raw = PROTO_LIMIT_RAW_DEFAULT,
		.max_key = PROTO_LIMIT_KEY_DEFAULT,
		.max_value = PROTO_LIMIT_VALUE_DEFAULT,
	};
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

static bool key_type_ok(ks_view_t key)
{
	return key.len >= 1 && (key.ptr[0] == 'P' || key.ptr[0] == 'O');
}

/* Header fields that do not depend on the body; shared by encode and peek. */
static int check_hdr(const proto_batch_hdr_t *h)
{
	if (all_zero(h->history, sizeof(h->history)))
		return KS_EMALF;
	if (h->op_count == 0)
		return KS_EMALF;
	if (h->kind == PROTO_BLOB_BATCH) {
		if (h->first_seq == 0 || h->last_seq < h->first_seq)
			return KS_EMALF;
		if (h->last_seq - h->first_seq != (uint64_t)h->op_count - 1)
			return KS_ECOUNT;
	} else if (h->kind == PROTO_BLOB_VALUES) {
		if (h->last_seq < h->first_seq)
			return KS_EMALF;
	} else if (h->kind != PROTO_BLOB_CHUNK) {
		return KS_ETYPE;
	}
	/* Every op takes at least OP_MIN_LEN bytes: a count the declared
	 * size cannot hold is refused before anything is allocated. */
	if ((uint64_t)h->op_count * OP_MIN_LEN > h->raw_size)
		return KS_ECOUNT;
	return KS_EOK;
}

static void write_hdr(uint8_t *p, const proto_batch_hdr_t *h)
{
	ks_wire_t w = ks_wire_writer(p, PROTO_BATCH_HDR_LEN);
	ks_wire_write_u8(&w, PROTO_BLOB_VERSION);
	ks_wire_write_u8(&w, h->kind);
	ks_wire_write_u16(&w, 0); /* flags */
	ks_wire_write_bytes(&w, h->key_id, PROTO_KEYID_LEN);
	ks_wire_write_bytes(&w, h->history, PROTO_HISTORY_LEN);
	ks_wire_write_u64(&w, h->first_seq);
	ks_wire_write_u64(&w, h->last_seq);
	ks_wire_write_u32(&w, h->op_count);
	ks_wire_write_u32(&w, h->raw_size);
	ks_wire_write_u64(&w, h->commit_time_us);
	ks_wire_write_u32(&w, h->body_len);
}

int proto_batch_peek(ks_view_t blob, proto_batch_hdr_t *out)
{
	proto_batch_hdr_t h = { 0 };

	if (blob.len < PROTO_BATCH_HDR_LEN)
		return KS_ETRUNC;
	ks_wire_t w = ks_wire_reader(blob.ptr, PROTO_BATCH_HDR_LEN);
	uint8_t version = ks_wire_read_u8(&w);
	h.kind = ks_wire_read_u8(&w);
	uint16_t flags = ks_wire_read_u16(&w);
	ks_wire_read_bytes(&w, h.key_id, PROTO_KEYID_LEN);
	ks_wire_read_bytes(&w, h.history, PROTO_HISTORY_LEN);
	h.first_seq = ks_wire_read_u64(&w);
	h.last_seq = ks_wire_read_u64(&w);
	h.op_count = ks_wire_read_u32(&w);
	h.raw_size = ks_wire_read_u32(&w);
	h.commit_time_us = ks_wire_read_u64(&w);
	h.body_len = ks_wire_read_u32(&w);
	if (w.err)
		return w.err;
	if (version != PROTO_BLOB_VERSION)
		return KS_EVERSION;
	if (h.kind != PROTO_BLOB_BATCH && h.kind != PROTO_BLOB_CHUNK &&
	    h.kind != PROTO_BLOB_VALUES)
		return KS_ETYPE;
	if (flags != 0)
		return KS_EMALF;
	size_t want = (size_t)PROTO_BATCH_HDR_LEN + h.body_len + PROTO_SIG_LEN;
	if (blob.len < want)
		return KS_ETRUNC;
	if (blob.len > want)
		return KS_ETRAILING;
	if (h.body_len == 0)
		return KS_ECOMPRESS;
	int ret = check_hdr(&h);
	if (ret != KS_EOK)
		return ret;
	*out = h;
	return KS_EOK;
}

int proto_batch_sign(const proto_batch_hdr_t *h, ks_view_t zbody,
		     const proto_key_t *key, ks_buf_t *out)
{
	size_t total = PROTO_BATCH_HDR_LEN + zbody.len + PROTO_SIG_LEN;
	if (zbody.len > UINT32_MAX)
		return KS_ELIMIT;
	int ret = ks_buf_reserve(out, total);
	if (ret != KS_EOK)
		return ret;
	proto_batch_hdr_t hh = *h;
	memcpy(hh.key_id, proto_key_id(key), PROTO_KEYID_LEN);
	hh.body_len = (uint32_t)zbody.len;
	uint8_t *p = out->data + out->len;
	write_hdr(p, &hh);
	/* zbody may already sit in place (proto_batch_encode); memmove. */
	if (zbody.len && zbody.ptr != p + PROTO_BATCH_HDR_LEN)
		memmove(p + PROTO_BATCH_HDR_LEN, zbody.ptr, zbody.len);
	ret = proto_sign(key, p, PROTO_BATCH_HDR_LEN + zbody.len,
			 p + PROTO_BATCH_HDR_LEN + zbody.len);
	if (ret != KS_EOK)
		return ret;
	out->len += total;
	return KS_EOK;
}

int proto__op_put(ks_buf_t *raw, uint8_t kind, const proto_op_t *op)
{
	if (op->type != PROTO_OP_PUT && op->type != PROTO_OP_DEL)
		return KS_EINVAL;
	if (op->type == PROTO_OP_DEL &&
	    (op->value.len != 0 || kind == PROTO_BLOB_CHUNK))
		return KS_EINVAL;
	if (!key_type_ok(op->key) || op->key.len > KEY_MAX_WIRE ||
	    op->value.len > UINT32_MAX)
		return KS_EINVAL;
	size_t len = PROTO__OP_HDR_LEN + op->key.len + op->value.len;
	int ret = ks_buf_reserve(raw, len);
	if (ret != KS_EOK)
		return ret;
	ks_wire_t w = ks_wire_writer(raw->data + raw->len, len);
	ks_wire_write_u8(&w, op->type);
	ks_wire_write_u16(&w, (uint16_t)op->key.len);
	ks_wire_write_u32(&w, (uint32_t)op->value.len);
	ks_wire_write_bytes(&w, op->key.ptr, op->key.len);
	ks_wire_write_bytes(&w, op->value.ptr, op->value.len);
	if (w.err != KS_EOK)
		return KS_EINTERNAL;
	raw->len += len;
	return KS_EOK;
}

int proto__batch_seal_raw(const proto_batch_hdr_t *h, const uint8_t *raw,
			  size_t raw_len, const proto_key_t *key, int level,
			  ks_buf_t *out)
{
	proto_batch_hdr_t hh = *h;

	if (!proto_key_has_private(key))
		return KS_EKEY;
	if (raw_len > UINT32_MAX)
		return KS_ELIMIT;
	hh.raw_size = (uint32_t)raw_len;
	hh.body_len = 0;
	if (check_hdr(&hh) != KS_EOK)
		return KS_EINVAL;

	/* Compress straight into place after the header. */
	size_t bound = ZSTD_compressBound(raw_len);
	int ret = ks_buf_reserve(out,
				 PROTO_BATCH_HDR_LEN + bound + PROTO_SIG_LEN);
	if (ret != KS_EOK)
		return ret;
	uint8_t *zdst = out->data + out->len + PROTO_BATCH_HDR_LEN;
	size_t zlen = ZSTD_compress(zdst, bound, raw, raw_len,
				    level ? level : PROTO_ZSTD_LEVEL_DEFAULT);
	if (ZSTD_isError(zlen)) {
		ks_log_err(PROTO, "zstd compression failed ('%s')",
			   ZSTD_getErrorName(zlen));
		return KS_ECOMPRESS;
	}
	return proto_batch_sign(&hh, (ks_view_t){ .ptr = zdst, .len = zlen },
				key, out);
}

int proto_batch_encode(const proto_batch_hdr_t *h, const proto_op_t *ops,
		       size_t n, const proto_key_t *key, int level,
		       ks_buf_t *out)
{
	int ret;
	ks_buf_t raw = KS_BUF_INIT;
	size_t total = 0;
	proto_batch_hdr_t hh = *h;

	if (n == 0 || n > UINT32_MAX)
		return KS_EINVAL;
	if (!proto_key_has_private(key))
		return KS_EKEY;
	for (size_t i = 0; i < n; i++) {
		total += PROTO__OP_HDR_LEN + ops[i].key.len + ops[i].value.len;
		if (total > UINT32_MAX)
			return KS_ELIMIT;
	}
	ret = ks_buf_reserve(&raw, total ? total : 1);
	if (ret != KS_EOK)
		return ret;
	for (size_t i = 0; i < n && ret == KS_EOK; i++)
		ret = proto__op_put(&raw, h->kind, &ops[i]);
	if (ret != KS_EOK)
		goto out;
	hh.op_count = (uint32_t)n;
	ret = proto__batch_seal_raw(&hh, raw.data, raw.len, key, level, out);
out:
	ks_buf_free(&raw);
	return ret;
}

size_t proto_batch_fit(const proto_op_t *ops, size_t n, size_t raw_max,
		       size_t ops_max)
{
	size_t total = 0, i;

	for (i = 0; i < n && i < ops_max; i++) {
		total += PROTO__OP_HDR_LEN + ops[i].key.len + ops[i].value.len;
		if (total > raw_max)
			break;
	}
	return i == 0 && n > 0 ? 1 : i;
}

/* Decompress exactly h->raw_size bytes into a fresh buffer, never more. */
static int decompress_body(const proto_batch_hdr_t *h, const uint8_t *body,
			   uint8_t **raw)
{
	size_t fsz = ZSTD_findFrameCompressedSize(body, h->body_len);
	if (ZSTD_isError(fsz) || fsz != h->body_len) {
		ks_log_info(PROTO, "batch body is not one zstd frame ('%s')",
			    ZSTD_isError(fsz) ? ZSTD_getErrorName(fsz)
					      : "trailing data");
		return KS_ECOMPRESS;
	}
	unsigned long long csz = ZSTD_getFrameContentSize(body, h->body_len);
	if (csz == ZSTD_CONTENTSIZE_UNKNOWN || csz == ZSTD_CONTENTSIZE_ERROR) {
		ks_log_info(PROTO, "batch zstd frame has no content size");
		return KS_ECOMPRESS;
	}
	if (csz > h->raw_size) {
		ks_log_info(PROTO,
			    "batch zstd frame declares %llu bytes, header %u",
			    csz, h->raw_size);
		return KS_EBOMB;
	}
	if (csz < h->raw_size) {
		ks_log_info(PROTO,
			    "batch zstd frame declares %llu bytes, header %u",
			    csz, h->raw_size);
		return KS_ECOMPRESS;
	}
	uint8_t *buf = malloc(h->raw_size);
	if (buf == NULL)
		return KS_ENOMEM;
	/* The output capacity is the declared size: a frame that lies about
	 * its content size stops at the bound with dstSize_tooSmall. */
	size_t got = ZSTD_decompress(buf, h->raw_size, body, h->body_len);
	if (ZSTD_isError(got)) {
		int ret = ZSTD_getErrorCode(got) == ZSTD_error_dstSize_tooSmall
				  ? KS_EBOMB
				  : KS_ECOMPRESS;
		ks_log_info(PROTO, "batch decompression failed ('%s')",
			    ZSTD_getErrorName(got));
		free(buf);
		return ret;
	}
	if (got != h->raw_size) {
		free(buf);
		return KS_ECOMPRESS;
	}
	*raw = buf;
	return KS_EOK;
}

/* Parse h->op_count ops out of raw; views point into raw. */
static int parse_ops(const proto_batch_hdr_t *h, const uint8_t *raw,
		     const proto_limits_t *lim, proto_op_t *ops)
{
	ks_wire_t w = ks_wire_reader(raw, h->raw_size);
	for (uint32_t i = 0; i < h->op_count; i++) {
		if (ks_wire_left(&w) == 0)
			return KS_ECOUNT;
		proto_op_t *op = &ops[i];
		op->type = ks_wire_read_u8(&w);
		size_t klen = ks_wire_read_u16(&w);
		size_t vlen = ks_wire_read_u32(&w);
		if (w.err)
			return KS_ETRUNC;
		if (op->type != PROTO_OP_PUT && op->type != PROTO_OP_DEL)
			return KS_EMALF;
		if (klen > lim->max_key || vlen > lim->max_value)
			return KS_ELIMIT;
		if (op->type == PROTO_OP_DEL &&
		    (vlen != 0 || h->kind == PROTO_BLOB_CHUNK))
			return KS_EMALF;
		if (klen + vlen > ks_wire_left(&w))
			return KS_ETRUNC;
		op->key.ptr = ks_wire_read_view(&w, klen);
		op->key.len = klen;
		op->value.ptr = ks_wire_read_view(&w, vlen);
		op->value.len = vlen;
		if (!key_type_ok(op->key))
			return KS_EMALF;
	}
	if (ks_wire_left(&w) != 0)
		return KS_ETRAILING;
	return KS_EOK;
}

int proto_batch_open(ks_view_t blob, uint8_t kind, const proto_trust_t *trust,
		     const proto_limits_t *lim, proto_batch_t *out)
{
	int ret;
	proto_limits_t dflt;
	proto_batch_hdr_t h;
	uint8_t *raw = NULL;
	proto_op_t *ops = NULL;

	if (lim == NULL) {
		proto_limits_default(&dflt);
		lim = &dflt;
	}
	ret = proto_batch_peek(blob, &h);
	if (ret != KS_EOK)
		goto fail;
	if (h.kind != kind) {
		ret = KS_ETYPE;
		goto fail;
	}
	if (h.op_count > lim->max_ops || h.raw_size > lim->max_raw) {
		ret = KS_ELIMIT;
		goto fail;
	}
	ret = proto_verify(trust, h.key_id, blob.ptr,
			   PROTO_BATCH_HDR_LEN + h.body_len,
			   blob.ptr + PROTO_BATCH_HDR_LEN + h.body_len);
	if (ret != KS_EOK)
		goto fail;
	ret = decompress_body(&h, blob.ptr + PROTO_BATCH_HDR_LEN, &raw);
	if (ret != KS_EOK)
		goto fail;
	ops = calloc(h.op_count, sizeof(*ops));
	if (ops == NULL) {
		ret = KS_ENOMEM;
		goto fail;
	}
	ret = parse_ops(&h, raw, lim, ops);
	if (ret != KS_EOK)
		goto fail;
	*out = (proto_batch_t){ .hdr = h, .ops = ops, .raw = raw };
	return KS_EOK;
fail:
	ks_log_debug(PROTO, "rejected %s blob (%s)",
		     kind == PROTO_BLOB_CHUNK ? "chunk" : "batch",
		     ks_strerror(ret));
	free(ops);
	free(raw);
	return ret;
}

void proto_batch_deinit(proto_batch_t *b)
{
	free(b->ops);
	free(b->raw);
	b->ops = NULL;
	b->raw = NULL;
}

int proto_batch_check_next(const uint8_t history[PROTO_HISTORY_LEN],
			   uint64_t applied_seq, const proto_batch_hdr_t *h)
{
	if (h->kind != PROTO_BLOB_BATCH)
		return KS_ETYPE;
	if (memcmp(history, h->history, PROTO_HISTORY_LEN) != 0)
		return KS_EHISTORY;
	if (h->last_seq <= applied_seq)
		return KS_EEXIST;
	if (applied_seq == UINT64_MAX || h->first_seq != applied_seq + 1)
		return KS_EGAP;
	return KS_EOK;
}

/* Snapshot end layout (PROTOCOL.md §4.4): 80 signed bytes + signature. */
int proto_snap_end_encode(const proto_snap_end_t *e, const proto_key_t *key,
			  ks_buf_t *out)
{
	if (all_zero(e->history, PROTO_HISTORY_LEN) ||
	    e->chunk_count > e->record_count ||
	    (e->record_count > 0 && e->chunk_count == 0))
		return KS_EINVAL;
	uint8_t p[PROTO_SNAP_END_LEN];
	ks_wire_t w = ks_wire_writer(p, PROTO_SNAP_END_LEN - PROTO_SIG_LEN);
	ks_wire_write_u8(&w, PROTO_BLOB_VERSION);
	ks_wire_write_u8(&w, PROTO_BLOB_SNAP_END);
	ks_wire_write_u16(&w, 0);
	ks_wire_write_bytes(&w, proto_key_id(key), PROTO_KEYID_LEN);
	ks_wire_write_bytes(&w, e->history, PROTO_HISTORY_LEN);
	ks_wire_write_u64(&w, e->seq);
	ks_wire_write_u32(&w, e->chunk_count);
	ks_wire_write_u64(&w, e->record_count);
	ks_wire_write_bytes(&w, e->digest, PROTO_DIGEST_LEN);
	if (w.err != KS_EOK || ks_wire_left(&w) != 0)
		return KS_EINTERNAL;
	int ret = proto_sign(key, p, PROTO_SNAP_END_LEN - PROTO_SIG_LEN,
			     p + PROTO_SNAP_END_LEN - PROTO_SIG_LEN);
	if (ret != KS_EOK)
		return ret;
	return ks_buf_append(out, p, sizeof(p));
}

int proto_snap_end_open(ks_view_t blob, const proto_trust_t *trust,
			proto_snap_end_t *out)
{
	proto_snap_end_t e = { 0 };

	if (blob.len < PROTO_SNAP_END_LEN)
		return KS_ETRUNC;
	if (blob.len > PROTO_SNAP_END_LEN)
		return KS_ETRAILING;
	ks_wire_t w = ks_wire_reader(blob.ptr, PROTO_SNAP_END_LEN);
	uint8_t version = ks_wire_read_u8(&w);
	uint8_t kind = ks_wire_read_u8(&w);
	uint16_t flags = ks_wire_read_u16(&w);
	ks_wire_read_bytes(&w, e.key_id, PROTO_KEYID_LEN);
	ks_wire_read_bytes(&w, e.history, PROTO_HISTORY_LEN);
	e.seq = ks_wire_read_u64(&w);
	e.chunk_count = ks_wire_read_u32(&w);
	e.record_count = ks_wire_read_u64(&w);
	ks_wire_read_bytes(&w, e.digest, PROTO_DIGEST_LEN);
	const uint8_t *sig = ks_wire_read_view(&w, PROTO_SIG_LEN);
	if (w.err)
		return w.err;
	if (version != PROTO_BLOB_VERSION)
		return KS_EVERSION;
	if (kind != PROTO_BLOB_SNAP_END)
		return KS_ETYPE;
	if (flags != 0 || all_zero(e.history, PROTO_HISTORY_LEN))
		return KS_EMALF;
	if (e.chunk_count > e.record_count ||
	    (e.record_count > 0 && e.chunk_count == 0))
		return KS_ECOUNT;
	int ret = proto_verify(trust, e.key_id, blob.ptr,
			       PROTO_SNAP_END_LEN - PROTO_SIG_LEN, sig);
	if (ret != KS_EOK)
		return ret;
	*out = e;
	return KS_EOK;
}

void proto_snap_rx_begin(proto_snap_rx_t *rx, const proto_snap_begin_t *b)
{
	*rx = (proto_snap_rx_t){ .seq = b->seq, .started = 1 };
	memcpy(rx->history, b->history, PROTO_HISTORY_LEN);
}

int proto_snap_rx_chunk(proto_snap_rx_t *rx, const proto_batch_hdr_t *h)
{
	if (!rx->started)
		return KS_ESTATE;
	if (h->kind != PROTO_BLOB_CHUNK)
		return KS_ETYPE;
	if (memcmp(rx->history, h->history, PROTO_HISTORY_LEN) != 0 ||
	    h->first_seq != rx->seq)
		return KS_EHISTORY;
	if (h->last_seq != rx->next_chunk)
		return KS_EGAP;
	rx->next_chunk++;
	rx->records += h->op_count;
	return KS_EOK;
}

int proto_snap_rx_end(const proto_snap_rx_t *rx, const proto_snap_end_t *e)
{
	if (!rx->started)
		return KS_ESTATE;
	if (memcmp(rx->history, e->history, PROTO_HISTORY_LEN) != 0 ||
	    e->seq != rx->seq)
		return KS_EHISTORY;
	if (e->chunk_count != rx->next_chunk || e->record_count != rx->records)
		return KS_ECOUNT;
	return KS_EOK;
}
