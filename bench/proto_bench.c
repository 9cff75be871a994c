/* SPDX-License-Identifier: MIT */
/*
 * proto benchmark: encode+sign and verify+decode of delta batches of 1, 100
 * and 10,000 records, and compressed size versus raw.  Records are
 * load_dump v7 principal lines shaped like kdb5_util's (tl-data, two
 * encrypted keys as hex from a seeded generator, varied names and times),
 * about 450 bytes each; then a 100,000-record snapshot through the
 * snapshot writer and back through the assembler, verifier and tracker,
 * with its size against the equivalent dump.  Prints tables and one JSON
 * line; never asserts on time.  Build it in a release (non-sanitizer) tree for meaningful figures.
 * Usage: proto_bench [zstd level]
 */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/time.h"
#include "proto/batch.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "proto/sign.h"
#include "proto/snap.h"

#define MAXN  10000  /* largest batch */
#define NSNAP 100000 /* records in the snapshot run */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static void hex(char *dst, size_t nbytes)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < nbytes; i++) {
		uint8_t b = (uint8_t)next_rand();
		dst[2 * i] = digits[b >> 4];
		dst[2 * i + 1] = digits[b & 15];
	}
	dst[2 * nbytes] = 0;
}

static void le32hex(char *dst, uint32_t v)
{
	snprintf(dst, 9, "%02x%02x%02x%02x", v & 0xff, (v >> 8) & 0xff,
		 (v >> 16) & 0xff, v >> 24);
}

/* One principal line: name, attributes, lifetimes, tl-data (last password
 * change, mod-princ, ...), an AES-256 and an AES-128 key, encrypted. */
static char *make_line(size_t i, char **key_out)
{
	static const char *kinds[] = { "", "/admin", "" };
	char name[128], k256[2 * 62 + 1], k128[2 * 46 + 1], t1[9], t2[9];
	char tl3[2 * 24 + 1];
	if (i % 10 == 7)
		snprintf(name, sizeof(name),
			 "host/node%05zu.corp.example.com@EXAMPLE.COM", i);
	else
		snprintf(name, sizeof(name), "user%06zu%s@EXAMPLE.COM",
			 i * 7919 % 1000003, kinds[i % 3]);
	uint32_t changed = 1700000000u + (uint32_t)(next_rand() % 50000000u);
	uint32_t modified = changed + (uint32_t)(next_rand() % 1000000u);
	snprintf(tl3, sizeof(tl3), "12345c01%08x000000000000000200000000%08x",
		 (unsigned)(next_rand() & 0xff), (unsigned)i);
	le32hex(t1, changed);
	le32hex(t2, modified);
	/* Keys: 2-byte length then ciphertext, as the dump's key contents. */
	memcpy(k256, "2000", 4);
	hex(k256 + 4, 60);
	memcpy(k128, "1000", 4);
	hex(k128 + 4, 44);
	char *line = NULL;
	int n = asprintf(
		&line,
		"princ\t38\t%zu\t4\t2\t0\t%s\t%u\t36000\t604800\t0\t0\t0\t%u\t%u\t3\t24\t%s\t2\t20\t%s4b2f4d404558414d504c452e434f4d00\t8\t2\t0200\t1\t4\t%s\t1\t%u\t18\t62\t%s\t1\t%u\t17\t46\t%s\t-1;",
		strlen(name), name, i % 5 == 0 ? 128u : 0u,
		(unsigned)(i % 3 == 0 ? 0 : changed + 86400),
		(unsigned)(next_rand() % 3), tl3, t2, t1,
		(unsigned)(1 + next_rand() % 3), k256,
		(unsigned)(1 + next_rand() % 3), k128);
	if (n < 0)
		abort();
	if (asprintf(key_out, "P%s", name) < 0)
		abort();
	return line;
}

typedef struct result {
	size_t n;
	size_t raw, wire;
	double enc_ms, dec_ms;
	int reps;
} result_t;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void run(size_t n, const proto_op_t *ops, const proto_key_t *key,
		const proto_trust_t *trust, int level, result_t *r)
{
	int reps = n == 1 ? 2000 : n == 100 ? 200 : 15;
	double *enc = calloc((size_t)reps, sizeof(double));
	double *dec = calloc((size_t)reps, sizeof(double));
	ks_buf_t blob = KS_BUF_INIT;
	proto_batch_hdr_t h = { .kind = PROTO_BLOB_BATCH,
				.first_seq = 1000001,
				.last_seq = 1000000 + n,
				.commit_time_us = ks_real_us() };
	memset(h.history, 0x42, sizeof(h.history));

	for (int i = 0; i < reps; i++) {
		ks_buf_reset(&blob);
		uint64_t t0 = ks_mono_ns();
		int ret = proto_batch_encode(&h, ops, n, key, level, &blob);
		uint64_t t1 = ks_mono_ns();
		if (ret != 0) {
			fprintf(stderr, "encode: %s\n", ks_strerror(ret));
			exit(1);
		}
		proto_batch_t b = { 0 };
		uint64_t t2 = ks_mono_ns();
		ret = proto_batch_open(ks_buf_view(&blob), PROTO_BLOB_BATCH,
				       trust, NULL, &b);
		uint64_t t3 = ks_mono_ns();
		if (ret != 0 || b.hdr.op_count != n) {
			fprintf(stderr, "open: %s\n", ks_strerror(ret));
			exit(1);
		}
		/* Check the content once, outside the timing. */
		if (i == 0)
			for (size_t k = 0; k < n; k++)
				if (b.ops[k].value.len != ops[k].value.len ||
				    memcmp(b.ops[k].value.ptr, ops[k].value.ptr,
					   ops[k].value.len) != 0) {
					fprintf(stderr, "content mismatch\n");
					exit(1);
				}
		r->raw = b.hdr.raw_size;
		proto_batch_deinit(&b);
		enc[i] = (double)(t1 - t0) / 1e6;
		dec[i] = (double)(t3 - t2) / 1e6;
	}
	qsort(enc, (size_t)reps, sizeof(double), cmp_double);
	qsort(dec, (size_t)reps, sizeof(double), cmp_double);
	r->n = n;
	r->reps = reps;
	r->enc_ms = enc[reps / 2]; /* median */
	r->dec_ms = dec[reps / 2];
	/* On the wire: frame prefix + type byte + blob. */
	r->wire = PROTO_FRAME_PREFIX + 1 + blob.len;
	free(enc);
	free(dec);
	ks_buf_free(&blob);
}

/* Snapshot: writer -> frames -> assembler -> decoder -> verifier/tracker. */
typedef struct snap_result {
	int level;
	size_t chunks, wire;
	double enc_ms, dec_ms;
} snap_result_t;

typedef struct snap_reader {
	const proto_trust_t *trust;
	proto_snap_rx_t rx;
	int ended;
} snap_reader_t;

static int snap_frame(ks_view_t frame, void *ctx)
{
	snap_reader_t *r = ctx;
	proto_msg_t m;
	proto_batch_t b = { 0 };
	proto_snap_end_t e;
	int ret = proto_msg_decode(frame, &m);
	if (ret != 0)
		return ret;
	switch (m.type) {
	case PROTO_MSG_SNAP_BEGIN:
		proto_snap_rx_begin(&r->rx, &m.u.snap_begin);
		return 0;
	case PROTO_MSG_SNAP_CHUNK:
		ret = proto_batch_open(m.u.blob, PROTO_BLOB_CHUNK, r->trust,
				       NULL, &b);
		if (ret == 0)
			ret = proto_snap_rx_chunk(&r->rx, &b.hdr);
		proto_batch_deinit(&b);
		return ret;
	case PROTO_MSG_SNAP_END:
		ret = proto_snap_end_open(m.u.blob, r->trust, &e);
		if (ret == 0)
			ret = proto_snap_rx_end(&r->rx, &e);
		r->ended = ret == 0;
		return ret;
	default:
		return KS_ESTATE;
	}
}

static void snap_run(int level, const proto_op_t *ops, size_t n,
		     const proto_key_t *key, const proto_trust_t *trust,
		     snap_result_t *r)
{
	enum {
		REPS = 3
	};
	double enc[REPS], dec[REPS];
	uint8_t history[16], digest[32];
	memset(history, 0x42, sizeof(history));
	memset(digest, 0x17, sizeof(digest));
	ks_buf_t out = KS_BUF_INIT;

	for (int rep = 0; rep < REPS; rep++) {
		proto_snap_tx_t tx;
		ks_buf_reset(&out);
		uint64_t t0 = ks_mono_ns();
		int ret = proto_snap_tx_init(&tx, history, 1000000, n,
					     ks_real_us(), key, &out);
		tx.level = level;
		for (size_t i = 0; i < n && ret == 0; i++)
			ret = proto_snap_tx_add(&tx, ops[i].key, ops[i].value,
						&out);
		if (ret == 0)
			ret = proto_snap_tx_finish(&tx, digest, &out);
		uint64_t t1 = ks_mono_ns();
		r->chunks = tx.chunks;
		proto_snap_tx_deinit(&tx);
		if (ret != 0) {
			fprintf(stderr, "snapshot: %s\n", ks_strerror(ret));
			exit(1);
		}
		proto_frame_t f;
		snap_reader_t rd = { .trust = trust };
		proto_frame_init(&f, 0);
		uint64_t t2 = ks_mono_ns();
		ret = proto_frame_feed(&f, out.data, out.len, snap_frame, &rd,
				       NULL);
		uint64_t t3 = ks_mono_ns();
		proto_frame_deinit(&f);
		if (ret != 0 || !rd.ended || rd.rx.records != n) {
			fprintf(stderr, "snapshot read: %s\n",
				ks_strerror(ret));
			exit(1);
		}
		enc[rep] = (double)(t1 - t0) / 1e6;
		dec[rep] = (double)(t3 - t2) / 1e6;
	}
	qsort(enc, REPS, sizeof(double), cmp_double);
	qsort(dec, REPS, sizeof(double), cmp_double);
	r->level = level;
	r->enc_ms = enc[REPS / 2];
	r->dec_ms = dec[REPS / 2];
	r->wire = out.len;
	ks_buf_free(&out);
}

int main(int argc, char **argv)
{
	int level = argc > 1 ? atoi(argv[1]) : 0;
	static proto_op_t ops[NSNAP];
	static char *lines[NSNAP], *keys[NSNAP];
	proto_key_t *key = NULL;
	proto_trust_t *trust = NULL;
	size_t total = 0;

	for (size_t i = 0; i < NSNAP; i++) {
		lines[i] = make_line(i, &keys[i]);
		total += strlen(lines[i]);
		ops[i] = (proto_op_t){
			.type = PROTO_OP_PUT,
			.key = { (const uint8_t *)keys[i], strlen(keys[i]) },
			.value = { (const uint8_t *)lines[i],
				   strlen(lines[i]) },
		};
	}
	if (proto_key_generate(&key) != 0 || proto_trust_new(&trust) != 0 ||
	    proto_trust_add(trust, key) != 0)
		return 1;

	static const size_t sizes[] = { 1, 100, 10000 };
	result_t res[3] = { 0 };
	for (int i = 0; i < 3; i++)
		run(sizes[i], ops, key, trust, level, &res[i]);

	printf("proto_bench: zstd level %d, Ed25519, mean value %zu bytes "
	       "(median of repetitions)\n",
	       level ? level : PROTO_ZSTD_LEVEL_DEFAULT, total / NSNAP);
	printf("%8s %11s %11s %7s %12s %12s %12s %14s\n", "records",
	       "raw bytes", "wire bytes", "ratio", "encode ms", "verify ms",
	       "enc+ver ms", "enc rec/s");
	for (int i = 0; i < 3; i++) {
		const result_t *r = &res[i];
		printf("%8zu %11zu %11zu %7.3f %12.3f %12.3f %12.3f %14.0f\n",
		       r->n, r->raw, r->wire, (double)r->wire / (double)r->raw,
		       r->enc_ms, r->dec_ms, r->enc_ms + r->dec_ms,
		       (double)r->n / (r->enc_ms / 1e3));
	}
	printf("targets: single change < 1024 wire bytes: %s; 10,000 records "
	       "encode+verify < 50 ms: %s\n",
	       res[0].wire < 1024 ? "met" : "NOT met",
	       res[2].enc_ms + res[2].dec_ms < 50 ? "met" : "NOT met");
	printf("{\"bench\":\"proto\",\"zstd_level\":%d,\"mean_value_bytes\":%zu,"
	       "\"rows\":[",
	       level ? level : PROTO_ZSTD_LEVEL_DEFAULT, total / NSNAP);
	for (int i = 0; i < 3; i++) {
		const result_t *r = &res[i];
		printf("%s{\"records\":%zu,\"raw_bytes\":%zu,\"wire_bytes\":%zu,"
		       "\"ratio\":%.4f,\"encode_ms\":%.3f,\"verify_decode_ms\":%.3f,"
		       "\"reps\":%d}",
		       i ? "," : "", r->n, r->raw, r->wire,
		       (double)r->wire / (double)r->raw, r->enc_ms, r->dec_ms,
		       r->reps);
	}
	printf("]}\n");

	/* The equivalent kdb5_util dump: header line plus one line each. */
	size_t dump = strlen("kdb5_util load_dump version 7\n") + total + NSNAP;
	static const int levels[] = { 1, 3, 6 };
	snap_result_t sr[3];
	for (int i = 0; i < 3; i++)
		snap_run(levels[i], ops, NSNAP, key, trust, &sr[i]);
	printf("\nsnapshot of %d records (dump would be %zu bytes), writer -> "
	       "frames -> verify+decode (median of 3)\n",
	       NSNAP, dump);
	printf("%6s %7s %11s %9s %10s %10s %9s %13s\n", "level", "chunks",
	       "wire bytes", "vs dump", "write ms", "read ms", "MB/s",
	       "1M est. s");
	for (int i = 0; i < 3; i++) {
		const snap_result_t *r = &sr[i];
		double ms = r->enc_ms + r->dec_ms;
		printf("%6d %7zu %11zu %9.3f %10.1f %10.1f %9.1f %13.1f\n",
		       r->level, r->chunks, r->wire,
		       (double)r->wire / (double)dump, r->enc_ms, r->dec_ms,
		       (double)dump / 1e6 / (ms / 1e3),
		       ms / 1e3 * (1e6 / NSNAP));
	}
	printf("{\"bench\":\"proto_snapshot\",\"records\":%d,\"dump_bytes\":%zu,"
	       "\"rows\":[",
	       NSNAP, dump);
	for (int i = 0; i < 3; i++)
		printf("%s{\"level\":%d,\"chunks\":%zu,\"wire_bytes\":%zu,"
		       "\"ratio_vs_dump\":%.4f,\"write_ms\":%.1f,\"read_ms\":%.1f}",
		       i ? "," : "", sr[i].level, sr[i].chunks, sr[i].wire,
		       (double)sr[i].wire / (double)dump, sr[i].enc_ms,
		       sr[i].dec_ms);
	printf("]}\n");

	for (size_t i = 0; i < NSNAP; i++) {
		free(lines[i]);
		free(keys[i]);
	}
	proto_trust_free(trust);
	proto_key_free(key);
	return 0;
}
