/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the signed-blob decoders (batches, snapshot chunks,
 * snapshot end).  A fixed test key (from a constant seed) is trusted, and
 * byte 0 of the input picks how much the harness helps the fuzzer past the
 * signature:
 *   0: the rest is a blob, opened as batch, chunk and snapshot end as is;
 *   1: the rest is a blob whose key id, body length and signature the
 *      harness fixes up, so header checks and zstd decoding are reached;
 *   2: the rest is [kind u8][op count u32][raw body]: the harness builds
 *      the header, compresses and signs, so the op parser is reached; ops
 *      that open are re-encoded and must open to the same ops;
 *   3: the rest is [chunk size u8] then records [key len u8][key][value
 *      len u16][value]: they go through the snapshot writer, and the frames
 *      it produces must read back (assembler, decoder, verifier, tracker)
 *      to exactly the records it accepted;
 *   4: the rest is [part size u16][op count u32][raw body]: a values blob
 *      (kind 4) is built as in mode 2; the ops that open are cut into
 *      values parts of at most part size + 1 raw bytes (proto_batch_fit,
 *      PROTOCOL.md §3.9/§3.12), each encoded, signed and opened again:
 *      the parts must hold the ops in order, each no larger than the
 *      part size unless it is one op.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "common/buf.h"
#include "common/wire.h"
#include "proto/batch.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "proto/snap.h"
#include "proto/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fixed seed shared with the corpus generator (proto_corpus.c). */
static const uint8_t SEED[32] = "kdcsync fuzz key, never trusted";

static proto_key_t *key;
static proto_trust_t *trust;
static proto_limits_t lim;

static void init(void)
{
	if (key != NULL)
		return;
	if (proto_key_from_raw_private(SEED, &key) != 0 ||
	    proto_trust_new(&trust) != 0 || proto_trust_add(trust, key) != 0)
		abort();
	proto_limits_default(&lim);
	lim.max_ops = 4096;
	lim.max_raw = 1u << 20;
	lim.max_key = 512;
	lim.max_value = 64 * 1024;
}

static void check_opened(const proto_batch_t *b)
{
	for (uint32_t i = 0; i < b->hdr.op_count; i++) {
		const proto_op_t *op = &b->ops[i];
		if (op->key.ptr < b->raw ||
		    op->key.ptr + op->key.len > b->raw + b->hdr.raw_size ||
		    (op->value.len &&
		     op->value.ptr + op->value.len > b->raw + b->hdr.raw_size))
			abort();
		if (op->key.len == 0 || op->key.len > lim.max_key ||
		    op->value.len > lim.max_value)
			abort();
	}
}

static void open_all(ks_view_t blob)
{
	proto_batch_t b = { 0 };
	proto_snap_end_t e;
	proto_batch_hdr_t h;
	(void)proto_batch_peek(blob, &h);
	if (proto_batch_open(blob, PROTO_BLOB_BATCH, trust, &lim, &b) == 0) {
		check_opened(&b);
		proto_batch_deinit(&b);
	}
	if (proto_batch_open(blob, PROTO_BLOB_CHUNK, trust, &lim, &b) == 0) {
		check_opened(&b);
		proto_batch_deinit(&b);
	}
	(void)proto_snap_end_open(blob, trust, &e);
}

static void fixup_and_open(const uint8_t *data, size_t size)
{
	if (size < PROTO_BATCH_HDR_LEN + PROTO_SIG_LEN) {
		open_all((ks_view_t){ data, size });
		return;
	}
	uint8_t *blob = malloc(size);
	memcpy(blob, data, size);
	size_t body = size - PROTO_BATCH_HDR_LEN - PROTO_SIG_LEN;
	if (blob[1] == PROTO_BLOB_SNAP_END && size >= PROTO_SNAP_END_LEN) {
		memcpy(blob + 4, proto_key_id(key), PROTO_KEYID_LEN);
		if (proto_sign(key, blob, PROTO_SNAP_END_LEN - PROTO_SIG_LEN,
			       blob + PROTO_SNAP_END_LEN - PROTO_SIG_LEN) != 0)
			abort();
	} else {
		memcpy(blob + 4, proto_key_id(key), PROTO_KEYID_LEN);
		ks_put_u32be(blob + 60, (uint32_t)body);
		if (proto_sign(key, blob, PROTO_BATCH_HDR_LEN + body,
			       blob + PROTO_BATCH_HDR_LEN + body) != 0)
			abort();
	}
	open_all((ks_view_t){ blob, size });
	free(blob);
}

/* Compresses raw as the batch body and signs it with the fuzz key into
 * blob (aborts on an encoder failure: the fuzzer's own set-up). */
static void sign_raw(const proto_batch_hdr_t *h, const uint8_t *raw,
		     size_t raw_len, ks_buf_t *blob)
{
	size_t bound = ZSTD_compressBound(raw_len);
	uint8_t *z = malloc(bound ? bound : 1);
	size_t zlen = ZSTD_compress(z, bound, raw, raw_len, 1);
	if (ZSTD_isError(zlen) ||
	    proto_batch_sign(h, (ks_view_t){ z, zlen }, key, blob) != 0)
		abort();
	free(z);
}

static void raw_and_open(const uint8_t *data, size_t size)
{
	if (size < 5)
		return;
	proto_batch_hdr_t h = { .kind = data[0] & 1 ? PROTO_BLOB_CHUNK
						    : PROTO_BLOB_BATCH,
				.first_seq = 1 };
	memset(h.history, 0x5a, sizeof(h.history));
	h.op_count = ks_get_u32be(data + 1) % 8192;
	h.last_seq =
		h.kind == PROTO_BLOB_BATCH ? h.first_seq + h.op_count - 1 : 0;
	const uint8_t *raw = data + 5;
	size_t raw_len = size - 5;
	h.raw_size = (uint32_t)raw_len;

	ks_buf_t blob = KS_BUF_INIT, again = KS_BUF_INIT;
	sign_raw(&h, raw, raw_len, &blob);
	proto_batch_t b = { 0 }, b2 = { 0 };
	if (proto_batch_open(ks_buf_view(&blob), h.kind, trust, &lim, &b) ==
	    0) {
		check_opened(&b);
		/* Round trip: what opened re-encodes and opens identically. */
		if (proto_batch_encode(&b.hdr, b.ops, b.hdr.op_count, key, 1,
				       &again) != 0 ||
		    proto_batch_open(ks_buf_view(&again), h.kind, trust, &lim,
				     &b2) != 0 ||
		    b2.hdr.raw_size != b.hdr.raw_size ||
		    memcmp(b2.raw, b.raw, b.hdr.raw_size) != 0)
			abort();
		proto_batch_deinit(&b2);
		proto_batch_deinit(&b);
	}
	ks_buf_free(&again);
	ks_buf_free(&blob);
}

/* Mode 4: a values answer cut into parts and read back. */
static void values_parts(const uint8_t *data, size_t size)
{
	if (size < 6)
		return;
	size_t part = 1u + ((size_t)data[0] << 8 | data[1]);
	proto_batch_hdr_t h = { .kind = PROTO_BLOB_VALUES,
				.first_seq = 3,
				.last_seq = 9 };
	memset(h.history, 0x5a, sizeof(h.history));
	h.op_count = ks_get_u32be(data + 2) % 8192;
	const uint8_t *raw = data + 6;
	size_t raw_len = size - 6;
	h.raw_size = (uint32_t)raw_len;

	ks_buf_t blob = KS_BUF_INIT;
	sign_raw(&h, raw, raw_len, &blob);
	proto_batch_t b = { 0 };
	if (proto_batch_open(ks_buf_view(&blob), PROTO_BLOB_VALUES, trust, &lim,
			     &b) == 0) {
		check_opened(&b);
		size_t n = b.hdr.op_count, done = 0;
		while (done < n) {
			size_t k = proto_batch_fit(b.ops + done, n - done, part,
						   lim.max_ops);
			ks_buf_t p = KS_BUF_INIT;
			proto_batch_t got = { 0 };
			if (k == 0 || k > n - done ||
			    proto_batch_encode(&b.hdr, b.ops + done, k, key, 1,
					       &p) != 0 ||
			    proto_batch_open(ks_buf_view(&p), PROTO_BLOB_VALUES,
					     trust, &lim, &got) != 0 ||
			    got.hdr.op_count != k || got.hdr.first_seq != 3 ||
			    got.hdr.last_seq != 9 ||
			    (k > 1 && got.hdr.raw_size > part))
				abort();
			for (size_t i = 0; i < k; i++) {
				const proto_op_t *x = &got.ops[i],
						 *y = &b.ops[done + i];
				if (x->type != y->type ||
				    x->key.len != y->key.len ||
				    x->value.len != y->value.len ||
				    memcmp(x->key.ptr, y->key.ptr,
					   x->key.len) != 0 ||
				    (x->value.len &&
				     memcmp(x->value.ptr, y->value.ptr,
					    x->value.len) != 0))
					abort();
			}
			proto_batch_deinit(&got);
			ks_buf_free(&p);
			done += k;
		}
		proto_batch_deinit(&b);
	}
	ks_buf_free(&blob);
}

/* Mode 3: snapshot writer round trip. */
typedef struct snap_check {
	const ks_buf_t
		*want; /* accepted records: [u16 klen][key][u32 vlen][value] */
	size_t off;
	proto_snap_rx_t rx;
	int ended;
} snap_check_t;

static int snap_frame(ks_view_t frame, void *ctx)
{
	snap_check_t *c = ctx;
	proto_msg_t m;
	proto_batch_t b = { 0 };
	proto_snap_end_t e;
	if (proto_msg_decode(frame, &m) != 0)
		abort();
	switch (m.type) {
	case PROTO_MSG_SNAP_BEGIN:
		proto_snap_rx_begin(&c->rx, &m.u.snap_begin);
		return 0;
	case PROTO_MSG_SNAP_CHUNK:
		if (proto_batch_open(m.u.blob, PROTO_BLOB_CHUNK, trust, &lim,
				     &b) != 0 ||
		    proto_snap_rx_chunk(&c->rx, &b.hdr) != 0)
			abort();
		for (uint32_t i = 0; i < b.hdr.op_count; i++) {
			const uint8_t *p = c->want->data + c->off;
			size_t kl = (size_t)p[0] << 8 | p[1];
			size_t vl = ks_get_u32be(p + 2 + kl);
			if (b.ops[i].key.len != kl ||
			    b.ops[i].value.len != vl ||
			    memcmp(b.ops[i].key.ptr, p + 2, kl) != 0 ||
			    memcmp(b.ops[i].value.ptr, p + 6 + kl, vl) != 0)
				abort();
			c->off += 6 + kl + vl;
		}
		proto_batch_deinit(&b);
		return 0;
	case PROTO_MSG_SNAP_END:
		if (proto_snap_end_open(m.u.blob, trust, &e) != 0 ||
		    proto_snap_rx_end(&c->rx, &e) != 0)
			abort();
		c->ended = 1;
		return 0;
	default:
		abort();
	}
}

static void snapshot_roundtrip(const uint8_t *data, size_t size)
{
	if (size < 1)
		return;
	static const uint8_t hist[16] = "fuzz-snapshot-01";
	uint8_t digest[32] = { 0 };
	ks_buf_t out = KS_BUF_INIT, want = KS_BUF_INIT;
	proto_snap_tx_t tx;
	if (proto_snap_tx_init(&tx, hist, 7, 0, 0, key, &out) != 0)
		abort();
	tx.chunk_raw = 16u + data[0] * 8u;
	tx.chunk_ops = 1u + data[0] % 7u;
	size_t off = 1;
	while (off < size) {
		size_t kl = data[off++];
		if (kl > size - off)
			break;
		const uint8_t *k = data + off;
		off += kl;
		if (size - off < 2)
			break;
		size_t vl = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (vl > size - off)
			vl = size - off;
		const uint8_t *v = data + off;
		off += vl;
		int ret = proto_snap_tx_add(&tx, (ks_view_t){ k, kl },
					    (ks_view_t){ v, vl }, &out);
		if (ret == 0) {
			if (ks_buf_append_u16(&want, (uint16_t)kl) != 0 ||
			    ks_buf_append(&want, k, kl) != 0 ||
			    ks_buf_append_u32(&want, (uint32_t)vl) != 0 ||
			    ks_buf_append(&want, v, vl) != 0)
				abort();
		} else if (ret != KS_EINVAL) {
			abort();
		}
	}
	if (proto_snap_tx_finish(&tx, digest, &out) != 0)
		abort();
	proto_snap_tx_deinit(&tx);

	snap_check_t c = { .want = &want };
	proto_frame_t f;
	proto_frame_init(&f, 0);
	if (proto_frame_feed(&f, out.data, out.len, snap_frame, &c, NULL) !=
		    0 ||
	    !proto_frame_idle(&f) || !c.ended || c.off != want.len)
		abort();
	proto_frame_deinit(&f);
	ks_buf_free(&out);
	ks_buf_free(&want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init();
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		open_all((ks_view_t){ data + 1, size - 1 });
		break;
	case 1:
		fixup_and_open(data + 1, size - 1);
		break;
	case 2:
		raw_and_open(data + 1, size - 1);
		break;
	case 3:
		snapshot_roundtrip(data + 1, size - 1);
		break;
	default:
		values_parts(data + 1, size - 1);
		break;
	}
	return 0;
}
