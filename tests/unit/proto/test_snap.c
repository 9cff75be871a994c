/* SPDX-License-Identifier: MIT */
/* Snapshot writer: records in, SNAP_BEGIN / SNAP_CHUNK... / SNAP_END frames
 * out, cut by raw size and by op count, read back through the assembler,
 * the decoder, the verifier and the snapshot tracker. */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "proto/batch.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "proto/snap.h"
#include "helpers/test.h"

static const uint8_t HIST[16] = "snapshot-hist-01";

typedef struct reader {
	const proto_trust_t *trust;
	proto_snap_rx_t rx;
	int begun, ended;
	uint64_t announced;
	size_t chunk_ops[64];
	size_t nchunks;
	uint64_t next_record; /* records must come back in order */
	uint8_t digest[32];
} reader_t;

static int on_frame(ks_view_t frame, void *ctx)
{
	reader_t *r = ctx;
	proto_msg_t m;
	proto_batch_t b = { 0 };
	proto_snap_end_t e;
	int ret = proto_msg_decode(frame, &m);
	if (ret != KS_EOK)
		return ret;
	switch (m.type) {
	case PROTO_MSG_SNAP_BEGIN:
		if (r->begun)
			return KS_ESTATE;
		r->begun = 1;
		r->announced = m.u.snap_begin.record_count;
		proto_snap_rx_begin(&r->rx, &m.u.snap_begin);
		return KS_EOK;
	case PROTO_MSG_SNAP_CHUNK:
		ret = proto_batch_open(m.u.blob, PROTO_BLOB_CHUNK, r->trust,
				       NULL, &b);
		if (ret == KS_EOK)
			ret = proto_snap_rx_chunk(&r->rx, &b.hdr);
		if (ret == KS_EOK) {
			assert_true(r->nchunks < 64);
			r->chunk_ops[r->nchunks++] = b.hdr.op_count;
			for (uint32_t i = 0; i < b.hdr.op_count; i++) {
				char want[64];
				int n = snprintf(
					want, sizeof(want), "Pp%06llu@R",
					(unsigned long long)r->next_record++);
				test_assert_mem_eq(b.ops[i].key.ptr,
						   b.ops[i].key.len, want,
						   (size_t)n);
			}
		}
		proto_batch_deinit(&b);
		return ret;
	case PROTO_MSG_SNAP_END:
		ret = proto_snap_end_open(m.u.blob, r->trust, &e);
		if (ret == KS_EOK)
			ret = proto_snap_rx_end(&r->rx, &e);
		if (ret == KS_EOK) {
			memcpy(r->digest, e.digest, 32);
			r->ended = 1;
		}
		return ret;
	default:
		return KS_ESTATE;
	}
}

/* Write n records; return how many chunks the cutting rule (cut once the
 * pending raw body reaches chunk_raw or chunk_ops ops) must produce. */
static size_t write_snapshot(proto_key_t *key, size_t n, uint32_t chunk_raw,
			     uint32_t chunk_ops, ks_buf_t *out)
{
	size_t expect = 0, pend_raw = 0, pend_ops = 0;
	proto_snap_tx_t tx;
	uint8_t dg[32];
	memset(dg, 0x3c, sizeof(dg));
	assert_ks_ok(proto_snap_tx_init(&tx, HIST, 5000, n, 77, key, out));
	if (chunk_raw)
		tx.chunk_raw = chunk_raw;
	if (chunk_ops)
		tx.chunk_ops = chunk_ops;
	chunk_raw = tx.chunk_raw;
	chunk_ops = tx.chunk_ops;
	for (size_t i = 0; i < n; i++) {
		char k[64], v[256];
		snprintf(k, sizeof(k), "Pp%06zu@R", i);
		int vl = snprintf(
			v, sizeof(v),
			"princ\t38\t9\t1\t1\t0\tp%06zu@R\t0\t36000\t604800\t0\t0\t0\t0\t0\t1\t1\t18\t32\t%016zx%016zx",
			i, i * 0x9e3779b97f4a7c15u, ~i);
		assert_ks_ok(proto_snap_tx_add(
			&tx, (ks_view_t){ (const uint8_t *)k, strlen(k) },
			(ks_view_t){ (const uint8_t *)v, (size_t)vl }, out));
		pend_raw += 7 + strlen(k) + (size_t)vl;
		pend_ops++;
		if (pend_raw >= chunk_raw || pend_ops >= chunk_ops) {
			expect++;
			pend_raw = pend_ops = 0;
		}
	}
	assert_ks_ok(proto_snap_tx_finish(&tx, dg, out));
	proto_snap_tx_deinit(&tx);
	return expect + (pend_ops > 0);
}

static int read_snapshot(const ks_buf_t *stream, const proto_trust_t *trust,
			 reader_t *r)
{
	proto_frame_t f;
	*r = (reader_t){ .trust = trust };
	proto_frame_init(&f, 0);
	int ret = proto_frame_feed(&f, stream->data, stream->len, on_frame, r,
				   NULL);
	if (ret == KS_EOK && !proto_frame_idle(&f))
		ret = KS_ETRUNC;
	proto_frame_deinit(&f);
	return ret;
}

static void test_snapshot_writer(void **state)
{
	(void)state;
	proto_key_t *key = NULL;
	proto_trust_t *trust = NULL;
	assert_ks_ok(proto_key_generate(&key));
	assert_ks_ok(proto_trust_new(&trust));
	assert_ks_ok(proto_trust_add(trust, key));

	/* Cut by op count: 1000 records, 300 per chunk -> 300,300,300,100. */
	ks_buf_t s = KS_BUF_INIT;
	reader_t r;
	assert_int_equal(write_snapshot(key, 1000, 0, 300, &s), 4);
	assert_ks_ok(read_snapshot(&s, trust, &r));
	assert_true(r.ended && r.announced == 1000 && r.next_record == 1000);
	assert_int_equal(r.nchunks, 4);
	assert_int_equal(r.chunk_ops[0], 300);
	assert_int_equal(r.chunk_ops[3], 100);
	uint8_t dg[32];
	memset(dg, 0x3c, sizeof(dg));
	assert_memory_equal(r.digest, dg, 32);

	/* Cut by raw size: ~150-byte records, 16 KiB chunks. */
	ks_buf_reset(&s);
	size_t want = write_snapshot(key, 1000, 16 * 1024, 0, &s);
	assert_ks_ok(read_snapshot(&s, trust, &r));
	assert_true(r.ended && r.next_record == 1000);
	assert_true(want > 4);
	assert_int_equal(r.nchunks, want);

	/* Empty snapshot: begin and end only. */
	ks_buf_reset(&s);
	assert_int_equal(write_snapshot(key, 0, 0, 0, &s), 0);
	assert_ks_ok(read_snapshot(&s, trust, &r));
	assert_true(r.begun && r.ended);
	assert_int_equal(r.nchunks, 0);

	/* Default cut, one chunk; then drop the last byte: truncated. */
	ks_buf_reset(&s);
	assert_int_equal(write_snapshot(key, 50, 0, 0, &s), 1);
	assert_ks_ok(read_snapshot(&s, trust, &r));
	assert_int_equal(r.nchunks, 1);
	s.len--;
	assert_ks_err(read_snapshot(&s, trust, &r), KS_ETRUNC);
	ks_buf_free(&s);

	/* Another signer is not trusted. */
	proto_key_t *other = NULL;
	assert_ks_ok(proto_key_generate(&other));
	write_snapshot(other, 10, 0, 0, &s);
	assert_ks_err(read_snapshot(&s, trust, &r), KS_EUNTRUSTED);
	ks_buf_free(&s);

	/* Bad records are refused without poisoning the writer. */
	proto_snap_tx_t tx;
	assert_ks_ok(proto_snap_tx_init(&tx, HIST, 1, 0, 0, key, &s));
	assert_ks_err(proto_snap_tx_add(
			      &tx, (ks_view_t){ (const uint8_t *)"Xbad", 4 },
			      (ks_view_t){ (const uint8_t *)"v", 1 }, &s),
		      KS_EINVAL);
	assert_ks_ok(proto_snap_tx_add(
		&tx, (ks_view_t){ (const uint8_t *)"Ogood", 5 },
		(ks_view_t){ (const uint8_t *)"v", 1 }, &s));
	assert_ks_ok(proto_snap_tx_finish(&tx, dg, &s));
	proto_snap_tx_deinit(&tx);
	ks_buf_free(&s);

	/* A public-only key cannot write a snapshot. */
	uint8_t raw[32];
	proto_key_t *pub = NULL;
	proto_key_raw_public(key, raw);
	assert_ks_ok(proto_key_from_raw(raw, &pub));
	assert_ks_err(proto_snap_tx_init(&tx, HIST, 1, 0, 0, pub, &s),
		      KS_EINVAL);
	assert_ks_err(proto_snap_tx_add(
			      &tx, (ks_view_t){ (const uint8_t *)"Ogood", 5 },
			      (ks_view_t){ (const uint8_t *)"v", 1 }, &s),
		      KS_EINVAL);
	assert_int_equal(s.len, 0);
	proto_snap_tx_deinit(&tx);
	ks_buf_free(&s);

	proto_key_free(pub);
	proto_key_free(other);
	proto_trust_free(trust);
	proto_key_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapshot_writer),
	};
	return test_run_group(tests, NULL, NULL);
}
