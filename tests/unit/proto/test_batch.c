/* SPDX-License-Identifier: MIT */
/* Signed compressed blobs: round trips of batches, chunks and the snapshot
 * end; tampering with header, body and signature; untrusted signers; every
 * limit; malformed bodies under a valid signature; decompression bombs;
 * history and sequence continuity; snapshot tracking. */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "common/buf.h"
#include "common/wire.h"
#include "proto/batch.h"
#include "proto/frame.h"
#include "proto/sign.h"
#include "helpers/test.h"

static const uint8_t HIST[16] = { 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6,
				  0x07, 0x18, 0x29, 0x3a, 0x4b, 0x5c,
				  0x6d, 0x7e, 0x8f, 0x90 };

typedef struct fixture {
	proto_key_t *key;     /* trusted signer */
	proto_key_t *other;   /* untrusted signer */
	proto_trust_t *trust; /* holds key's public half */
	char *values[64];     /* dump-line-like values */
	char keys[64][64];
	proto_op_t ops[64];
} fixture_t;

/* A load_dump v7 principal line with hex key data, like kdb5_util's. */
static char *dump_line(const char *princ, uint64_t *seed)
{
	char hex[3][129];
	for (int k = 0; k < 3; k++) {
		for (int i = 0; i < 64; i++)
			snprintf(hex[k] + 2 * i, 3, "%02x",
				 (unsigned)(test_rand(seed) & 0xff));
	}
	char *line = NULL;
	int n = asprintf(
		&line,
		"princ\t38\t%zu\t4\t3\t0\t%s\t0\t36000\t604800\t0\t0\t0\t0\t0\t2\t0\t2\t8\t%08x\t1\t19\t6b61646d696e4045584"
		"14d504c452e4f524700\t1\t1\t18\t32\t%s\t1\t1\t17\t16\t%.64s\t1\t1\t16\t24\t%.96s\t-1;",
		strlen(princ), princ, (unsigned)(test_rand(seed) >> 32), hex[0],
		hex[1], hex[2]);
	assert_true(n > 0);
	return line;
}

static int setup(void **state)
{
	fixture_t *fx = calloc(1, sizeof(*fx));
	uint64_t seed = 0x1234567;
	assert_ks_ok(proto_key_generate(&fx->key));
	assert_ks_ok(proto_key_generate(&fx->other));
	assert_ks_ok(proto_trust_new(&fx->trust));
	assert_ks_ok(proto_trust_add(fx->trust, fx->key));
	for (int i = 0; i < 64; i++) {
		char princ[48];
		snprintf(princ, sizeof(princ), "user%04d@EXAMPLE.ORG", i);
		snprintf(fx->keys[i], sizeof(fx->keys[i]), "P%s", princ);
		fx->values[i] = dump_line(princ, &seed);
		fx->ops[i] = (proto_op_t){
			.type = i % 7 == 3 ? PROTO_OP_DEL : PROTO_OP_PUT,
			.key = { (const uint8_t *)fx->keys[i],
				 strlen(fx->keys[i]) },
		};
		if (fx->ops[i].type == PROTO_OP_PUT)
			fx->ops[i].value =
				(ks_view_t){ (const uint8_t *)fx->values[i],
					     strlen(fx->values[i]) };
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *fx = *state;
	for (int i = 0; i < 64; i++)
		free(fx->values[i]);
	proto_trust_free(fx->trust);
	proto_key_free(fx->key);
	proto_key_free(fx->other);
	free(fx);
	return 0;
}

static proto_batch_hdr_t batch_hdr(uint64_t first, size_t n)
{
	proto_batch_hdr_t h = { .kind = PROTO_BLOB_BATCH,
				.first_seq = first,
				.last_seq = first + n - 1,
				.commit_time_us = 1790000000123456ull };
	memcpy(h.history, HIST, 16);
	return h;
}

static void assert_ops_eq(const proto_op_t *a, const proto_op_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(a[i].type, b[i].type);
		test_assert_mem_eq(a[i].key.ptr, a[i].key.len, b[i].key.ptr,
				   b[i].key.len);
		test_assert_mem_eq(a[i].value.ptr, a[i].value.len,
				   b[i].value.ptr, b[i].value.len);
	}
}

static ks_view_t view(const ks_buf_t *b)
{
	return ks_buf_view(b);
}

static void test_roundtrip_batch(void **state)
{
	fixture_t *fx = *state;
	size_t counts[] = { 1, 2, 64 };
	for (size_t c = 0; c < 3; c++) {
		size_t n = counts[c];
		proto_batch_hdr_t h = batch_hdr(1000, n);
		ks_buf_t b = KS_BUF_INIT;
		proto_batch_t got = { 0 };
		proto_batch_hdr_t peek;
		assert_ks_ok(
			proto_batch_encode(&h, fx->ops, n, fx->key, 0, &b));
		assert_ks_ok(proto_batch_peek(view(&b), &peek));
		assert_int_equal(peek.op_count, n);
		assert_ks_ok(proto_batch_open(view(&b), PROTO_BLOB_BATCH,
					      fx->trust, NULL, &got));
		assert_int_equal(got.hdr.kind, PROTO_BLOB_BATCH);
		assert_memory_equal(got.hdr.history, HIST, 16);
		assert_memory_equal(got.hdr.key_id, proto_key_id(fx->key), 8);
		assert_true(got.hdr.first_seq == 1000);
		assert_true(got.hdr.last_seq == 1000 + n - 1);
		assert_int_equal(got.hdr.op_count, n);
		assert_true(got.hdr.commit_time_us == h.commit_time_us);
		assert_int_equal(got.hdr.body_len,
				 b.len - PROTO_BATCH_HDR_LEN - PROTO_SIG_LEN);
		assert_ops_eq(got.ops, fx->ops, n);
		if (n == 1)
			/* One change is well under 1 KB on the wire. */
			assert_true(b.len + 5 < 1024);
		proto_batch_deinit(&got);
		proto_batch_deinit(&got); /* idempotent */
		ks_buf_free(&b);
	}
}

/* VALUES blobs (rewind): any op count with DELs, fork point 0 allowed,
 * not accepted as a batch, last_seq below first_seq refused. */
static void test_values_blob(void **state)
{
	fixture_t *fx = *state;
	proto_batch_hdr_t h = { .kind = PROTO_BLOB_VALUES,
				.first_seq = 0,
				.last_seq = 900 };
	ks_buf_t b = KS_BUF_INIT;
	proto_batch_t got = { 0 };

	memcpy(h.history, HIST, 16);
	assert_ks_ok(proto_batch_encode(&h, fx->ops, 10, fx->key, 0, &b));
	assert_ks_ok(proto_batch_open(view(&b), PROTO_BLOB_VALUES, fx->trust,
				      NULL, &got));
	assert_int_equal(got.hdr.op_count, 10);
	assert_true(got.hdr.last_seq == 900);
	assert_int_equal(got.ops[3].type, PROTO_OP_DEL);
	assert_ops_eq(got.ops, fx->ops, 10);
	proto_batch_deinit(&got);
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       NULL, &got),
		      KS_ETYPE);
	/* untrusted signer */
	ks_buf_reset(&b);
	assert_ks_ok(proto_batch_encode(&h, fx->ops, 10, fx->other, 0, &b));
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_VALUES, fx->trust,
				       NULL, &got),
		      KS_EUNTRUSTED);
	ks_buf_reset(&b);
	h.first_seq = 901;
	assert_ks_err(proto_batch_encode(&h, fx->ops, 10, fx->key, 0, &b),
		      KS_EINVAL);
	ks_buf_free(&b);
}

/* A values answer of any size is sent as consecutive parts
 * (proto_batch_fit): each part's frame stays under the default frame limit
 * and opens under the default receive limits, and the parts together are
 * the ops in order.  40 incompressible 1 MiB values: 40 MiB in one blob
 * would be refused (frame limit 16 MiB, raw limit 64 MiB at 70+). */
static void test_values_split(void **state)
{
	fixture_t *fx = *state;
	enum {
		N = 40
	};
	const size_t vlen = PROTO_LIMIT_VALUE_DEFAULT;
	proto_op_t ops[N];
	char keys[N][16];
	uint8_t *vals = malloc(N * vlen);
	uint64_t seed = 77;
	proto_batch_hdr_t h = { .kind = PROTO_BLOB_VALUES,
				.first_seq = 5,
				.last_seq = 9 };
	size_t done = 0, parts = 0;

	assert_non_null(vals);
	for (size_t i = 0; i < N * vlen; i += 8) {
		uint64_t x = test_rand(&seed);
		memcpy(vals + i, &x, 8);
	}
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "Pbig%02d@R", i);
		ops[i] = (proto_op_t){
			.type = i == 7 ? PROTO_OP_DEL : PROTO_OP_PUT,
			.key = { (const uint8_t *)keys[i], strlen(keys[i]) },
		};
		if (i != 7)
			ops[i].value = (ks_view_t){ vals + i * vlen, vlen };
	}
	memcpy(h.history, HIST, 16);
	while (done < N) {
		size_t k = proto_batch_fit(ops + done, N - done,
					   PROTO_VALUES_PART_RAW,
					   PROTO_LIMIT_OPS_DEFAULT);
		ks_buf_t b = KS_BUF_INIT;
		proto_batch_t got = { 0 };
		assert_true(k >= 1 && k <= N - done);
		assert_ks_ok(
			proto_batch_encode(&h, ops + done, k, fx->key, 0, &b));
		/* the REVALUES frame: type byte + blob, under 16 MiB */
		assert_true(1 + b.len <= PROTO_FRAME_MAX_DEFAULT);
		assert_ks_ok(proto_batch_open(view(&b), PROTO_BLOB_VALUES,
					      fx->trust, NULL, &got));
		assert_int_equal(got.hdr.op_count, k);
		assert_ops_eq(got.ops, ops + done, k);
		proto_batch_deinit(&got);
		ks_buf_free(&b);
		done += k;
		parts++;
	}
	assert_true(parts >= 5); /* 39 MiB in parts of at most 8 MiB */

	/* the cut itself: raw size = 7 + key + value per op */
	proto_op_t small[4];
	for (int i = 0; i < 4; i++)
		small[i] = (proto_op_t){ .type = PROTO_OP_PUT,
					 .key = { (const uint8_t *)"Pk", 2 },
					 .value = { vals, 91 } }; /* 100 each */
	assert_int_equal(proto_batch_fit(small, 4, 300, 100), 3); /* exact */
	assert_int_equal(proto_batch_fit(small, 4, 299, 100), 2);
	assert_int_equal(proto_batch_fit(small, 4, 1000, 100), 4);
	assert_int_equal(proto_batch_fit(small, 4, 1000, 2), 2); /* ops cap */
	assert_int_equal(proto_batch_fit(small, 4, 10, 100), 1); /* too big */
	assert_int_equal(proto_batch_fit(small, 0, 1000, 100), 0);
	free(vals);
}

/* The rewind's and the repair's values in parts (PROTOCOL.md §3.9,
 * §3.12) at every split point: for each part size from one op's to the
 * whole, the parts proto_batch_fit cuts are maximal (the next op would
 * not fit), at most that size raw (or one op), each a VALUES blob that
 * opens to its run of ops with the answer's seqs, and together the ops in
 * order. */
static void test_values_parts_split_points(void **state)
{
	fixture_t *fx = *state;
	enum {
		N = 9
	};
	static const size_t vlen[N] = { 0, 1, 50, 3, 200, 0, 17, 120, 9 };
	proto_op_t ops[N];
	char keys[N][16];
	uint8_t vals[256];
	size_t raw[N], total = 0;
	proto_batch_hdr_t h = { .kind = PROTO_BLOB_VALUES,
				.first_seq = 20,
				.last_seq = 31 };

	memcpy(h.history, HIST, 16);
	for (size_t i = 0; i < sizeof(vals); i++)
		vals[i] = (uint8_t)(i * 37 + 11);
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "Pkey%d@R", i * 7);
		ops[i] = (proto_op_t){
			.type = vlen[i] ? PROTO_OP_PUT : PROTO_OP_DEL,
			.key = { (const uint8_t *)keys[i], strlen(keys[i]) },
			.value = { vlen[i] ? vals : NULL, vlen[i] },
		};
		raw[i] = 7 + ops[i].key.len + vlen[i]; /* op header 7 */
		total += raw[i];
	}
	for (size_t part = 1; part <= total + 1; part++) {
		size_t done = 0, parts = 0;
		while (done < N) {
			size_t k = proto_batch_fit(ops + done, N - done, part,
						   PROTO_LIMIT_OPS_DEFAULT);
			size_t sum = 0;
			assert_true(k >= 1 && k <= N - done);
			for (size_t i = done; i < done + k; i++)
				sum += raw[i];
			assert_true(sum <= part || k == 1);
			if (done + k < N) /* maximal */
				assert_true(sum + raw[done + k] > part);
			ks_buf_t b = KS_BUF_INIT;
			proto_batch_t got = { 0 };
			assert_ks_ok(proto_batch_encode(&h, ops + done, k,
							fx->key, 0, &b));
			assert_ks_ok(proto_batch_open(view(&b),
						      PROTO_BLOB_VALUES,
						      fx->trust, NULL, &got));
			assert_int_equal(got.hdr.op_count, k);
			assert_int_equal(got.hdr.first_seq, 20);
			assert_int_equal(got.hdr.last_seq, 31);
			assert_int_equal(got.hdr.raw_size, sum);
			assert_ops_eq(got.ops, ops + done, k);
			proto_batch_deinit(&got);
			ks_buf_free(&b);
			done += k;
			parts++;
		}
		if (part >= total)
			assert_int_equal(parts, 1);
	}
	/* a values part is never empty: an op count of 0 is refused */
	ks_buf_t b = KS_BUF_INIT;
	assert_int_equal(proto_batch_encode(&h, ops, 0, fx->key, 0, &b),
			 KS_EINVAL);
	assert_int_equal(b.len, 0);
}

static void test_roundtrip_chunk_and_snapshot(void **state)
{
	fixture_t *fx = *state;
	proto_op_t puts[64];
	size_t np = 0;
	for (int i = 0; i < 64; i++)
		if (fx->ops[i].type == PROTO_OP_PUT)
			puts[np++] = fx->ops[i];

	proto_snap_begin_t begin = { .seq = 777, .record_count = np };
	memcpy(begin.history, HIST, 16);
	proto_snap_rx_t rx;
	proto_snap_rx_begin(&rx, &begin);

	/* Three chunks of the puts. */
	size_t per = (np + 2) / 3, off = 0;
	for (uint32_t idx = 0; off < np; idx++) {
		size_t n = np - off < per ? np - off : per;
		proto_batch_hdr_t h = { .kind = PROTO_BLOB_CHUNK,
					.first_seq = 777,
					.last_seq = idx,
					.commit_time_us = 5 };
		memcpy(h.history, HIST, 16);
		ks_buf_t b = KS_BUF_INIT;
		proto_batch_t got = { 0 };
		assert_ks_ok(
			proto_batch_encode(&h, puts + off, n, fx->key, 1, &b));
		/* A chunk is not a batch, and vice versa. */
		assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH,
					       fx->trust, NULL, &got),
			      KS_ETYPE);
		assert_ks_ok(proto_batch_open(view(&b), PROTO_BLOB_CHUNK,
					      fx->trust, NULL, &got));
		assert_ops_eq(got.ops, puts + off, n);
		assert_ks_ok(proto_snap_rx_chunk(&rx, &got.hdr));
		/* The same chunk again is out of order. */
		assert_ks_err(proto_snap_rx_chunk(&rx, &got.hdr), KS_EGAP);
		proto_batch_deinit(&got);
		ks_buf_free(&b);
		off += n;
	}
	/* A DEL cannot be part of a snapshot. */
	{
		proto_batch_hdr_t h = { .kind = PROTO_BLOB_CHUNK,
					.first_seq = 777 };
		memcpy(h.history, HIST, 16);
		ks_buf_t b = KS_BUF_INIT;
		assert_ks_err(
			proto_batch_encode(&h, &fx->ops[3], 1, fx->key, 0, &b),
			KS_EINVAL);
		assert_int_equal(b.len, 0);
		ks_buf_free(&b);
	}

	proto_snap_end_t end = { .seq = 777,
				 .chunk_count = 3,
				 .record_count = np };
	memcpy(end.history, HIST, 16);
	for (int i = 0; i < 32; i++)
		end.digest[i] = (uint8_t)(i * 9);
	ks_buf_t eb = KS_BUF_INIT;
	proto_snap_end_t got;
	assert_ks_ok(proto_snap_end_encode(&end, fx->key, &eb));
	assert_int_equal(eb.len, PROTO_SNAP_END_LEN);
	assert_ks_ok(proto_snap_end_open(view(&eb), fx->trust, &got));
	assert_memory_equal(got.digest, end.digest, 32);
	assert_memory_equal(got.key_id, proto_key_id(fx->key), 8);
	assert_true(got.record_count == np && got.chunk_count == 3 &&
		    got.seq == 777);
	assert_ks_ok(proto_snap_rx_end(&rx, &got));

	/* Counts that disagree with what arrived. */
	proto_snap_end_t bad = got;
	bad.record_count++;
	assert_ks_err(proto_snap_rx_end(&rx, &bad), KS_ECOUNT);
	bad = got;
	bad.chunk_count = 2;
	assert_ks_err(proto_snap_rx_end(&rx, &bad), KS_ECOUNT);
	bad = got;
	bad.seq = 778;
	assert_ks_err(proto_snap_rx_end(&rx, &bad), KS_EHISTORY);
	proto_snap_rx_t none = { 0 };
	assert_ks_err(proto_snap_rx_end(&none, &got), KS_ESTATE);

	/* Tampered, untrusted, short, long, wrong kind/version/flags. */
	for (size_t i = 0; i < eb.len; i++) {
		ks_buf_t t = KS_BUF_INIT;
		assert_ks_ok(ks_buf_append(&t, eb.data, eb.len));
		t.data[i] ^= 0x01;
		int ret = proto_snap_end_open(view(&t), fx->trust, &got);
		/* chunk_count (bytes 36..39) is 3: flipping the low bit of
		 * bytes 36..38 makes it exceed record_count (55); any other
		 * change is caught by the signature. */
		int want = i == 0		 ? KS_EVERSION
			   : i == 1		 ? KS_ETYPE
			   : i < 4		 ? KS_EMALF
			   : i < 12		 ? KS_EUNTRUSTED
			   : (i >= 36 && i < 39) ? KS_ECOUNT
						 : KS_ESIG;
		if (ret != want)
			fail_msg("snap end byte %zu: got %s want %s", i,
				 ks_errname(ret), ks_errname(want));
		ks_buf_free(&t);
	}
	ks_view_t v = view(&eb);
	v.len--;
	assert_ks_err(proto_snap_end_open(v, fx->trust, &got), KS_ETRUNC);
	assert_ks_ok(ks_buf_append_u8(&eb, 0));
	assert_ks_err(proto_snap_end_open(view(&eb), fx->trust, &got),
		      KS_ETRAILING);
	ks_buf_free(&eb);

	proto_trust_t *empty = NULL;
	assert_ks_ok(proto_trust_new(&empty));
	assert_ks_ok(proto_snap_end_encode(&end, fx->other, &eb));
	assert_ks_err(proto_snap_end_open(view(&eb), fx->trust, &got),
		      KS_EUNTRUSTED);
	assert_ks_err(proto_snap_end_open(view(&eb), empty, &got),
		      KS_EUNTRUSTED);
	proto_trust_free(empty);
	ks_buf_free(&eb);

	/* Empty snapshot: zero chunks, zero records. */
	end.chunk_count = 0;
	end.record_count = 0;
	assert_ks_ok(proto_snap_end_encode(&end, fx->key, &eb));
	assert_ks_ok(proto_snap_end_open(view(&eb), fx->trust, &got));
	ks_buf_free(&eb);
	end.chunk_count = 2;
	assert_ks_err(proto_snap_end_encode(&end, fx->key, &eb), KS_EINVAL);
}

static void test_snap_rx_rejects(void **state)
{
	(void)state;
	proto_snap_begin_t begin = { .seq = 10 };
	memcpy(begin.history, HIST, 16);
	proto_snap_rx_t rx = { 0 };
	proto_batch_hdr_t h = { .kind = PROTO_BLOB_CHUNK,
				.first_seq = 10,
				.last_seq = 0,
				.op_count = 5 };
	memcpy(h.history, HIST, 16);
	assert_ks_err(proto_snap_rx_chunk(&rx, &h), KS_ESTATE);
	proto_snap_rx_begin(&rx, &begin);
	h.last_seq = 1; /* chunk 1 before chunk 0 */
	assert_ks_err(proto_snap_rx_chunk(&rx, &h), KS_EGAP);
	h.last_seq = 0;
	h.first_seq = 11; /* another snapshot position */
	assert_ks_err(proto_snap_rx_chunk(&rx, &h), KS_EHISTORY);
	h.first_seq = 10;
	h.history[0] ^= 1; /* another history */
	assert_ks_err(proto_snap_rx_chunk(&rx, &h), KS_EHISTORY);
	h.history[0] ^= 1;
	h.kind = PROTO_BLOB_BATCH;
	assert_ks_err(proto_snap_rx_chunk(&rx, &h), KS_ETYPE);
	h.kind = PROTO_BLOB_CHUNK;
	assert_ks_ok(proto_snap_rx_chunk(&rx, &h));
	assert_int_equal(rx.next_chunk, 1);
	assert_true(rx.records == 5);
}

/* Flip each bit position class of every header byte, the body and the
 * signature: each flip is refused, most by the signature. */
static void test_tampered(void **state)
{
	fixture_t *fx = *state;
	proto_batch_hdr_t h = batch_hdr(50, 8);
	ks_buf_t b = KS_BUF_INIT;
	proto_batch_t got = { 0 };
	assert_ks_ok(proto_batch_encode(&h, fx->ops, 8, fx->key, 0, &b));

	for (size_t i = 0; i < b.len; i++) {
		uint8_t flips[2] = { 0x01, 0x80 };
		for (int f = 0; f < 2; f++) {
			b.data[i] ^= flips[f];
			int ret = proto_batch_open(view(&b), PROTO_BLOB_BATCH,
						   fx->trust, NULL, &got);
			b.data[i] ^= flips[f];
			if (ret == KS_EOK)
				fail_msg("flip 0x%02x at byte %zu accepted",
					 flips[f], i);
			int want = KS_ESIG;
			if (i == 0)
				want = KS_EVERSION;
			else if (i == 1)
				want = KS_ETYPE;
			else if (i < 4)
				want = KS_EMALF;
			else if (i < 12)
				want = KS_EUNTRUSTED;
			else if (i >= 28 && i < 48)
				want = -1; /* seqs/count: checked below */
			else if (i >= 48 && i < 52)
				want = -2; /* raw_size */
			else if (i >= 60 && i < 64)
				want = -3; /* body_len */
			if (want == -1)
				assert_true(ret == KS_ECOUNT ||
					    ret == KS_EMALF ||
					    ret == KS_ELIMIT || ret == KS_ESIG);
			else if (want == -2)
				assert_true(ret == KS_ESIG ||
					    ret == KS_ECOUNT ||
					    ret == KS_ELIMIT);
			else if (want == -3)
				assert_true(ret == KS_ETRUNC ||
					    ret == KS_ETRAILING);
			else if (ret != want)
				fail_msg("byte %zu flip 0x%02x: got %s want %s",
					 i, flips[f], ks_errname(ret),
					 ks_errname(want));
		}
	}
	/* Specific cases with exact codes. */
	size_t body = PROTO_BATCH_HDR_LEN, sig = b.len - PROTO_SIG_LEN;
	size_t spots[] = { body, body + 7, sig - 1, sig, b.len - 1 };
	for (size_t k = 0; k < 5; k++) {
		b.data[spots[k]] ^= 0x40;
		assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH,
					       fx->trust, NULL, &got),
			      KS_ESIG);
		b.data[spots[k]] ^= 0x40;
	}
	b.data[52 + 7] ^= 1; /* commit time */
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       NULL, &got),
		      KS_ESIG);
	b.data[52 + 7] ^= 1;
	b.data[12] ^= 1; /* history */
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       NULL, &got),
		      KS_ESIG);
	b.data[12] ^= 1;
	assert_ks_ok(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				      NULL, &got));
	proto_batch_deinit(&got);
	ks_buf_free(&b);
}

static void test_untrusted_and_multi_key(void **state)
{
	fixture_t *fx = *state;
	proto_batch_hdr_t h = batch_hdr(1, 3);
	ks_buf_t b = KS_BUF_INIT;
	proto_batch_t got = { 0 };
	assert_ks_ok(proto_batch_encode(&h, fx->ops, 3, fx->other, 0, &b));
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       NULL, &got),
		      KS_EUNTRUSTED);
	assert_null(got.ops);

	/* A key id that matches a trusted key, signature from another key:
	 * rewrite the id to the trusted one. */
	memcpy(b.data + 4, proto_key_id(fx->key), 8);
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       NULL, &got),
		      KS_ESIG);

	/* Trust both keys: batches from either verify. */
	proto_trust_t *two = NULL;
	assert_ks_ok(proto_trust_new(&two));
	assert_ks_ok(proto_trust_add(two, fx->key));
	assert_ks_ok(proto_trust_add(two, fx->other));
	assert_ks_ok(proto_trust_add(two, fx->other));
	assert_int_equal(proto_trust_count(two), 2);
	ks_buf_reset(&b);
	assert_ks_ok(proto_batch_encode(&h, fx->ops, 3, fx->other, 0, &b));
	assert_ks_ok(
		proto_batch_open(view(&b), PROTO_BLOB_BATCH, two, NULL, &got));
	proto_batch_deinit(&got);
	ks_buf_reset(&b);
	assert_ks_ok(proto_batch_encode(&h, fx->ops, 3, fx->key, 0, &b));
	assert_ks_ok(
		proto_batch_open(view(&b), PROTO_BLOB_BATCH, two, NULL, &got));
	proto_batch_deinit(&got);
	proto_trust_free(two);

	/* A public-only key cannot sign. */
	uint8_t raw[32];
	proto_key_t *pub = NULL;
	proto_key_raw_public(fx->key, raw);
	assert_ks_ok(proto_key_from_raw(raw, &pub));
	ks_buf_reset(&b);
	assert_ks_err(proto_batch_encode(&h, fx->ops, 3, pub, 0, &b), KS_EKEY);
	assert_int_equal(b.len, 0);
	proto_key_free(pub);
	ks_buf_free(&b);
}

static void test_limits(void **state)
{
	fixture_t *fx = *state;
	proto_batch_hdr_t h = batch_hdr(1, 10);
	ks_buf_t b = KS_BUF_INIT;
	proto_batch_t got = { 0 };
	proto_limits_t lim;
	assert_ks_ok(proto_batch_encode(&h, fx->ops, 10, fx->key, 0, &b));

	proto_limits_default(&lim);
	lim.max_ops = 9;
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       &lim, &got),
		      KS_ELIMIT);
	proto_limits_default(&lim);
	lim.max_raw = ks_get_u32be(b.data + 48) - 1;
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       &lim, &got),
		      KS_ELIMIT);
	proto_limits_default(&lim);
	lim.max_key = 10; /* keys are "Puser0000@EXAMPLE.ORG" */
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       &lim, &got),
		      KS_ELIMIT);
	proto_limits_default(&lim);
	lim.max_value = 100;
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       &lim, &got),
		      KS_ELIMIT);
	proto_limits_default(&lim);
	assert_ks_ok(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				      &lim, &got));
	proto_batch_deinit(&got);
	ks_buf_free(&b);
}

/* Sign a hand-made body (compressed here) under header \p h. */
static void seal_raw(fixture_t *fx, proto_batch_hdr_t h, const void *raw,
		     size_t raw_len, ks_buf_t *out)
{
	size_t bound = ZSTD_compressBound(raw_len);
	uint8_t *z = malloc(bound);
	size_t zlen = ZSTD_compress(z, bound, raw, raw_len, 3);
	assert_false(ZSTD_isError(zlen));
	assert_ks_ok(
		proto_batch_sign(&h, (ks_view_t){ z, zlen }, fx->key, out));
	free(z);
}

/* Append one op in body format. */
static void put_op(ks_buf_t *raw, uint8_t type, const char *key,
		   const char *value)
{
	size_t kl = strlen(key), vl = value ? strlen(value) : 0;
	assert_ks_ok(ks_buf_append_u8(raw, type));
	assert_ks_ok(ks_buf_append_u16(raw, (uint16_t)kl));
	assert_ks_ok(ks_buf_append_u32(raw, (uint32_t)vl));
	assert_ks_ok(ks_buf_append(raw, key, kl));
	assert_ks_ok(ks_buf_append(raw, value, vl));
}

static int open_raw(fixture_t *fx, proto_batch_hdr_t h, const ks_buf_t *raw)
{
	ks_buf_t b = KS_BUF_INIT;
	proto_batch_t got = { 0 };
	if (h.raw_size == 0)
		h.raw_size = (uint32_t)raw->len;
	seal_raw(fx, h, raw->data, raw->len, &b);
	int ret = proto_batch_open(view(&b), h.kind, fx->trust, NULL, &got);
	if (ret == KS_EOK)
		proto_batch_deinit(&got);
	ks_buf_free(&b);
	return ret;
}

static void test_malformed_body(void **state)
{
	fixture_t *fx = *state;
	ks_buf_t raw = KS_BUF_INIT;
	proto_batch_hdr_t h;

	/* Baseline: a hand-made two-op body opens. */
	put_op(&raw, PROTO_OP_PUT, "Pa@R", "princ\tline");
	put_op(&raw, PROTO_OP_DEL, "Pb@R", NULL);
	h = batch_hdr(5, 2);
	h.op_count = 2;
	assert_ks_ok(open_raw(fx, h, &raw));

	/* Count larger than payload: three ops declared, two present. */
	h = batch_hdr(5, 3);
	h.op_count = 3;
	assert_ks_err(open_raw(fx, h, &raw), KS_ECOUNT);
	/* Fewer declared than present: trailing bytes. */
	h = batch_hdr(5, 1);
	h.op_count = 1;
	assert_ks_err(open_raw(fx, h, &raw), KS_ETRAILING);
	/* Truncated op: value length beyond the body. */
	ks_buf_t t = KS_BUF_INIT;
	put_op(&t, PROTO_OP_PUT, "Pa@R", "princ\tline");
	ks_put_u32be(t.data + 3, 1000);
	h = batch_hdr(5, 1);
	h.op_count = 1;
	assert_ks_err(open_raw(fx, h, &t), KS_ETRUNC);
	/* A second op whose header is cut short. */
	ks_buf_reset(&t);
	put_op(&t, PROTO_OP_PUT, "Pa@R", "princ\tline");
	put_op(&t, PROTO_OP_DEL, "Pb@R", NULL);
	t.len -= 6; /* keeps 5 bytes of the second op's 7-byte header */
	h = batch_hdr(5, 2);
	h.op_count = 2;
	assert_ks_err(open_raw(fx, h, &t), KS_ETRUNC);
	/* A body too small for its op count is refused from the header. */
	t.len = 5;
	h = batch_hdr(5, 1);
	h.op_count = 1;
	assert_ks_err(open_raw(fx, h, &t), KS_ECOUNT);
	/* Bad op type. */
	ks_buf_reset(&t);
	put_op(&t, 3, "Pa@R", "x");
	assert_ks_err(open_raw(fx, h, &t), KS_EMALF);
	/* DEL carrying a value. */
	ks_buf_reset(&t);
	put_op(&t, PROTO_OP_DEL, "Pa@R", "x");
	assert_ks_err(open_raw(fx, h, &t), KS_EMALF);
	/* Key of an unknown kind, and an empty key. */
	ks_buf_reset(&t);
	put_op(&t, PROTO_OP_PUT, "Xa@R", "x");
	assert_ks_err(open_raw(fx, h, &t), KS_EMALF);
	ks_buf_reset(&t);
	put_op(&t, PROTO_OP_PUT, "", "xxxxxx");
	assert_ks_err(open_raw(fx, h, &t), KS_EMALF);
	/* A DEL inside a snapshot chunk. */
	ks_buf_reset(&t);
	put_op(&t, PROTO_OP_DEL, "Pa@R", NULL);
	proto_batch_hdr_t ch = { .kind = PROTO_BLOB_CHUNK, .op_count = 1 };
	memcpy(ch.history, HIST, 16);
	assert_ks_err(open_raw(fx, ch, &t), KS_EMALF);

	/* Header inconsistencies refused before the signature. */
	h = batch_hdr(5, 2);
	h.op_count = 2;
	h.last_seq = 7; /* three seqs for two ops */
	assert_ks_err(open_raw(fx, h, &raw), KS_ECOUNT);
	h = batch_hdr(0, 2);
	h.op_count = 2;
	assert_ks_err(open_raw(fx, h, &raw), KS_EMALF); /* seq 0 */
	h = batch_hdr(5, 2);
	h.op_count = 2;
	memset(h.history, 0, 16);
	assert_ks_err(open_raw(fx, h, &raw), KS_EMALF);
	/* A count the declared size cannot hold: 100000 ops in 40 bytes. */
	h = batch_hdr(1, 100000);
	h.op_count = 100000;
	assert_ks_err(open_raw(fx, h, &raw), KS_ECOUNT);
	/* Unknown kind and bad version, by patching a good blob. */
	ks_buf_t b = KS_BUF_INIT;
	proto_batch_t got = { 0 };
	h = batch_hdr(5, 2);
	h.op_count = 2;
	h.raw_size = (uint32_t)raw.len;
	seal_raw(fx, h, raw.data, raw.len, &b);
	b.data[1] = 9;
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       NULL, &got),
		      KS_ETYPE);
	b.data[1] = PROTO_BLOB_BATCH;
	b.data[0] = 2;
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       NULL, &got),
		      KS_EVERSION);
	b.data[0] = 1;
	b.data[3] = 1; /* flags */
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       NULL, &got),
		      KS_EMALF);
	b.data[3] = 0;
	/* Short and long blobs. */
	for (size_t len = 0; len < b.len; len += 7) {
		ks_view_t v = { b.data, len };
		int ret = proto_batch_open(v, PROTO_BLOB_BATCH, fx->trust, NULL,
					   &got);
		assert_int_equal(ret, KS_ETRUNC);
	}
	assert_ks_ok(ks_buf_append_u8(&b, 0));
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       NULL, &got),
		      KS_ETRAILING);
	ks_buf_free(&b);
	ks_buf_free(&t);
	ks_buf_free(&raw);
}

static void test_compression_attacks(void **state)
{
	fixture_t *fx = *state;
	proto_batch_t got = { 0 };
	ks_buf_t b = KS_BUF_INIT;

	/* 64 MiB of zeros compresses to a few KB.  The header declares 1 KB:
	 * the frame's content size is refused before any output buffer. */
	size_t big = 64u * 1024u * 1024u;
	uint8_t *zeros = calloc(1, big);
	assert_non_null(zeros);
	proto_batch_hdr_t h = batch_hdr(1, 1);
	h.op_count = 1;
	h.raw_size = 1024;
	seal_raw(fx, h, zeros, big, &b);
	free(zeros);
	assert_true(b.len < 64 * 1024);
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       NULL, &got),
		      KS_EBOMB);
	ks_buf_reset(&b);

	/* A frame whose header lies about its content size: compress 200 KB
	 * as one segment with a 4-byte content size field, then patch that
	 * field to 1 KB and sign.  Decompression is bounded to 1 KB and
	 * stops (ASan would flag any write past the 1 KB buffer). */
	size_t n = 200 * 1024;
	uint8_t *src = malloc(n);
	uint64_t seed = 7;
	for (size_t i = 0; i < n; i++)
		src[i] = (uint8_t)("abcdefgh"[test_rand(&seed) % 8]);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t bound = ZSTD_compressBound(n);
	uint8_t *z = malloc(bound);
	size_t zlen = ZSTD_compress2(cc, z, bound, src, n);
	assert_false(ZSTD_isError(zlen));
	ZSTD_freeCCtx(cc);
	/* Frame header: magic (4), descriptor (1), [window (1)], fcs. */
	uint8_t fhd = z[4];
	unsigned fcs_flag = fhd >> 6, single = (fhd >> 5) & 1;
	assert_int_equal(fcs_flag, 2); /* 4-byte content size */
	size_t fcs_off = 5 + (single ? 0 : 1);
	assert_true(ZSTD_getFrameContentSize(z, zlen) == n);
	z[fcs_off] = 0x00;
	z[fcs_off + 1] = 0x04;
	z[fcs_off + 2] = 0;
	z[fcs_off + 3] = 0; /* little-endian 1024 */
	assert_true(ZSTD_getFrameContentSize(z, zlen) == 1024);
	h.raw_size = 1024;
	assert_ks_ok(proto_batch_sign(&h, (ks_view_t){ z, zlen }, fx->key, &b));
	int ret = proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust, NULL,
				   &got);
	/* Either the window check (corruption) or the bound stops it. */
	assert_true(ret == KS_EBOMB || ret == KS_ECOMPRESS);
	ks_buf_reset(&b);
	free(z);
	free(src);

	/* A frame without a content size is refused. */
	ks_buf_t raw = KS_BUF_INIT;
	put_op(&raw, PROTO_OP_PUT, "Pa@R", "value");
	cc = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
	uint8_t zz[256];
	ZSTD_outBuffer ob = { zz, sizeof(zz), 0 };
	ZSTD_inBuffer ib = { raw.data, raw.len, 0 };
	assert_int_equal(ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end), 0);
	ZSTD_freeCCtx(cc);
	assert_true(ZSTD_getFrameContentSize(zz, ob.pos) ==
		    ZSTD_CONTENTSIZE_UNKNOWN);
	h.raw_size = (uint32_t)raw.len;
	assert_ks_ok(
		proto_batch_sign(&h, (ks_view_t){ zz, ob.pos }, fx->key, &b));
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       NULL, &got),
		      KS_ECOMPRESS);
	ks_buf_reset(&b);

	/* Two concatenated frames, and garbage instead of zstd. */
	uint8_t two[512];
	size_t l1 = ZSTD_compress(two, 256, raw.data, raw.len, 1);
	size_t l2 = ZSTD_compress(two + l1, 256, "", 0, 1);
	assert_ks_ok(
		proto_batch_sign(&h, (ks_view_t){ two, l1 + l2 }, fx->key, &b));
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       NULL, &got),
		      KS_ECOMPRESS);
	ks_buf_reset(&b);
	assert_ks_ok(proto_batch_sign(&h, (ks_view_t){ raw.data, raw.len },
				      fx->key, &b));
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       NULL, &got),
		      KS_ECOMPRESS);
	ks_buf_reset(&b);
	/* Declared size larger than the content: not a bomb, but wrong. */
	h.raw_size = (uint32_t)raw.len + 10;
	seal_raw(fx, h, raw.data, raw.len, &b);
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       NULL, &got),
		      KS_ECOMPRESS);
	ks_buf_free(&b);
	ks_buf_free(&raw);
}

/* The header checks come before any cryptographic or decompression work:
 * with an untrusted signer, a header that fails them reports its own code,
 * not KS_EUNTRUSTED; and an untrusted body is never decompressed (the
 * lying 64 MiB frame reports KS_EUNTRUSTED, not KS_EBOMB). */
static void test_check_order(void **state)
{
	fixture_t *fx = *state;
	ks_buf_t raw = KS_BUF_INIT, b = KS_BUF_INIT;
	proto_batch_t got = { 0 };
	proto_limits_t lim;
	put_op(&raw, PROTO_OP_PUT, "Pa@R", "value");
	size_t bound = ZSTD_compressBound(raw.len);
	uint8_t *z = malloc(bound);
	size_t zlen = ZSTD_compress(z, bound, raw.data, raw.len, 1);

	proto_batch_hdr_t h = batch_hdr(1, 1000);
	h.op_count = 1000; /* 1000 ops cannot fit in raw.len bytes */
	h.raw_size = (uint32_t)raw.len;
	assert_ks_ok(
		proto_batch_sign(&h, (ks_view_t){ z, zlen }, fx->other, &b));
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       NULL, &got),
		      KS_ECOUNT);
	ks_buf_reset(&b);

	h = batch_hdr(1, 1);
	h.op_count = 1;
	h.raw_size = (uint32_t)raw.len;
	assert_ks_ok(
		proto_batch_sign(&h, (ks_view_t){ z, zlen }, fx->other, &b));
	proto_limits_default(&lim);
	lim.max_raw = (uint32_t)raw.len - 1;
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       &lim, &got),
		      KS_ELIMIT);
	lim.max_raw = (uint32_t)raw.len;
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       &lim, &got),
		      KS_EUNTRUSTED);
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_CHUNK, fx->trust,
				       &lim, &got),
		      KS_ETYPE);
	ks_buf_reset(&b);

	size_t big = 64u * 1024u * 1024u;
	uint8_t *zeros = calloc(1, big);
	h.raw_size = 1024;
	seal_raw(fx, h, zeros, big, &b); /* signed by the trusted key */
	free(zeros);
	memcpy(b.data + 4, proto_key_id(fx->other), 8); /* now untrusted */
	assert_ks_err(proto_batch_open(view(&b), PROTO_BLOB_BATCH, fx->trust,
				       NULL, &got),
		      KS_EUNTRUSTED);
	assert_null(got.raw);
	free(z);
	ks_buf_free(&b);
	ks_buf_free(&raw);
}

static void test_continuity(void **state)
{
	(void)state;
	proto_batch_hdr_t h = batch_hdr(101, 10); /* 101..110 */
	uint8_t other[16];
	memcpy(other, HIST, 16);
	other[15] ^= 0xff;
	assert_ks_ok(proto_batch_check_next(HIST, 100, &h));
	assert_ks_err(proto_batch_check_next(other, 100, &h), KS_EHISTORY);
	assert_ks_err(proto_batch_check_next(HIST, 99, &h), KS_EGAP);
	assert_ks_err(proto_batch_check_next(HIST, 0, &h), KS_EGAP);
	assert_ks_err(proto_batch_check_next(HIST, 105, &h), KS_EGAP);
	assert_ks_err(proto_batch_check_next(HIST, 110, &h), KS_EEXIST);
	assert_ks_err(proto_batch_check_next(HIST, 200, &h), KS_EEXIST);
	h.kind = PROTO_BLOB_CHUNK;
	assert_ks_err(proto_batch_check_next(HIST, 100, &h), KS_ETYPE);
}

static void test_encode_refuses_bad_ops(void **state)
{
	fixture_t *fx = *state;
	ks_buf_t b = KS_BUF_INIT;
	proto_batch_hdr_t h = batch_hdr(1, 1);
	proto_op_t op = fx->ops[0];
	op.type = 9;
	assert_ks_err(proto_batch_encode(&h, &op, 1, fx->key, 0, &b),
		      KS_EINVAL);
	op = fx->ops[0];
	op.key = (ks_view_t){ (const uint8_t *)"Zx", 2 };
	assert_ks_err(proto_batch_encode(&h, &op, 1, fx->key, 0, &b),
		      KS_EINVAL);
	op = fx->ops[3]; /* a DEL */
	op.value = fx->ops[0].value;
	assert_ks_err(proto_batch_encode(&h, &op, 1, fx->key, 0, &b),
		      KS_EINVAL);
	/* Seq range disagreeing with the op count. */
	h = batch_hdr(1, 5);
	assert_ks_err(proto_batch_encode(&h, fx->ops, 4, fx->key, 0, &b),
		      KS_EINVAL);
	assert_ks_err(proto_batch_encode(&h, fx->ops, 0, fx->key, 0, &b),
		      KS_EINVAL);
	assert_int_equal(b.len, 0);
	ks_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_batch),
		cmocka_unit_test(test_values_blob),
		cmocka_unit_test(test_values_split),
		cmocka_unit_test(test_values_parts_split_points),
		cmocka_unit_test(test_roundtrip_chunk_and_snapshot),
		cmocka_unit_test(test_snap_rx_rejects),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_untrusted_and_multi_key),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_malformed_body),
		cmocka_unit_test(test_compression_attacks),
		cmocka_unit_test(test_check_order),
		cmocka_unit_test(test_continuity),
		cmocka_unit_test(test_encode_refuses_bad_ops),
	};
	return test_run_group(tests, setup, teardown);
}
