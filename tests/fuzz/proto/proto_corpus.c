/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpora of the proto fuzz targets (committed under
 * tests/fuzz/corpus/): real messages, frame streams and signed blobs made
 * with the same fixed key the batch target trusts.
 * Usage: proto_corpus CORPUS_DIR  (creates fuzz_proto_{frame,msg,batch}/)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "proto/batch.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "proto/sign.h"

static const uint8_t SEED[32] = "kdcsync fuzz key, never trusted";
static const uint8_t HIST[16] = { 0x5a, 1, 2,  3,  4,  5,  6,  7,
				  8,	9, 10, 11, 12, 13, 14, 15 };

static const char *root;

static void put(const char *target, const char *name, uint8_t mode_byte,
		bool use_mode, const uint8_t *data, size_t len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	FILE *fp = fopen(path, "wb");
	if (fp == NULL) {
		perror(path);
		exit(1);
	}
	if (use_mode)
		fputc(mode_byte, fp);
	fwrite(data, 1, len, fp);
	fclose(fp);
}

#define CHECK(x)                                                               \
	do {                                                                   \
		if ((x) != 0) {                                                \
			fprintf(stderr, "failed: %s\n", #x);                   \
			exit(1);                                               \
		}                                                              \
	} while (0)

static ks_view_t sv(const char *s)
{
	return (ks_view_t){ (const uint8_t *)s, strlen(s) };
}

/* The body format of a batch before compression: per op its type, key
 * length (u16), value length (u32), key and value. */
static void append_raw_ops(ks_buf_t *raw, const proto_op_t *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		CHECK(ks_buf_append_u8(raw, ops[i].type));
		CHECK(ks_buf_append_u16(raw, (uint16_t)ops[i].key.len));
		CHECK(ks_buf_append_u32(raw, (uint32_t)ops[i].value.len));
		CHECK(ks_buf_append(raw, ops[i].key.ptr, ops[i].key.len));
		CHECK(ks_buf_append(raw, ops[i].value.ptr, ops[i].value.len));
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	root = argv[1];
	proto_key_t *key = NULL;
	CHECK(proto_key_from_raw_private(SEED, &key));

	/* Signed blobs. */
	static const char *vals[] = {
		"princ\t38\t23\t4\t3\t0\talice@EXAMPLE.ORG\t0\t36000\t604800\t0\t0\t0\t0\t0\t2\t0\t1\t1\t18\t32\t8f3ac0ffee12\t-1;",
		"princ\t38\t21\t4\t3\t0\tbob@EXAMPLE.ORG\t4096\t36000\t604800\t0\t0\t0\t0\t0\t2\t0\t1\t1\t17\t16\tdeadbeef\t-1;",
		"policy\tdefault\t0\t0\t1\t1\t1\t0\t0\t0\t0\t0\t0\t-\t1\t2\t2\t2\t2",
	};
	proto_op_t ops[4] = {
		{ PROTO_OP_PUT, sv("Palice@EXAMPLE.ORG"), sv(vals[0]) },
		{ PROTO_OP_PUT, sv("Pbob@EXAMPLE.ORG"), sv(vals[1]) },
		{ PROTO_OP_DEL, sv("Pcarol@EXAMPLE.ORG"), { 0 } },
		{ PROTO_OP_PUT, sv("Odefault"), sv(vals[2]) },
	};
	proto_batch_hdr_t bh = { .kind = PROTO_BLOB_BATCH,
				 .first_seq = 41,
				 .last_seq = 44,
				 .commit_time_us = 1790000000000000ull };
	memcpy(bh.history, HIST, 16);
	ks_buf_t batch = KS_BUF_INIT, batch1 = KS_BUF_INIT, chunk = KS_BUF_INIT,
		 end = KS_BUF_INIT;
	CHECK(proto_batch_encode(&bh, ops, 4, key, 0, &batch));
	bh.last_seq = 41;
	CHECK(proto_batch_encode(&bh, ops, 1, key, 0, &batch1));
	proto_batch_hdr_t ch = bh;
	ch.kind = PROTO_BLOB_CHUNK;
	ch.first_seq = 44;
	ch.last_seq = 0;
	proto_op_t puts[3] = { ops[0], ops[1], ops[3] };
	CHECK(proto_batch_encode(&ch, puts, 3, key, 0, &chunk));
	proto_snap_end_t e = { .seq = 44, .chunk_count = 1, .record_count = 3 };
	memcpy(e.history, HIST, 16);
	memset(e.digest, 0xd1, sizeof(e.digest));
	CHECK(proto_snap_end_encode(&e, key, &end));

	const char *bt = "fuzz_proto_batch";
	for (uint8_t mode = 0; mode < 2; mode++) {
		char n[32];
		snprintf(n, sizeof(n), "m%u-batch4", mode);
		put(bt, n, mode, true, batch.data, batch.len);
		snprintf(n, sizeof(n), "m%u-batch1", mode);
		put(bt, n, mode, true, batch1.data, batch1.len);
		snprintf(n, sizeof(n), "m%u-chunk", mode);
		put(bt, n, mode, true, chunk.data, chunk.len);
		snprintf(n, sizeof(n), "m%u-snapend", mode);
		put(bt, n, mode, true, end.data, end.len);
	}
	/* Mode 2: kind byte, op count, raw body. */
	{
		ks_buf_t raw = KS_BUF_INIT;
		CHECK(ks_buf_append_u8(&raw, 0)); /* batch */
		CHECK(ks_buf_append_u32(&raw, 4));
		append_raw_ops(&raw, ops, 4);
		put(bt, "m2-raw4", 2, true, raw.data, raw.len);
		raw.data[0] = 1; /* as a chunk (has a DEL: refused) */
		put(bt, "m2-raw4-chunk", 2, true, raw.data, raw.len);
		ks_buf_free(&raw);
	}

	/* Mode 4: part size u16, op count, raw body: a values answer cut
	 * into parts of 80 bytes (each of the four ops alone, or two), and
	 * of 300 (all in one). */
	{
		ks_buf_t raw = KS_BUF_INIT;
		CHECK(ks_buf_append_u16(&raw, 79));
		CHECK(ks_buf_append_u32(&raw, 4));
		append_raw_ops(&raw, ops, 4);
		put(bt, "m4-values-parts", 4, true, raw.data, raw.len);
		raw.data[0] = 1, raw.data[1] = 43; /* 300 */
		put(bt, "m4-values-one", 4, true, raw.data, raw.len);
		ks_buf_free(&raw);
	}

	/* Mode 3: chunk-size byte, then [key len u8][key][value len u16]
	 * [value] records for the snapshot writer. */
	{
		ks_buf_t recs = KS_BUF_INIT;
		CHECK(ks_buf_append_u8(&recs, 40));
		for (int i = 0; i < 4; i++) {
			if (ops[i].type != PROTO_OP_PUT)
				continue;
			CHECK(ks_buf_append_u8(&recs, (uint8_t)ops[i].key.len));
			CHECK(ks_buf_append(&recs, ops[i].key.ptr,
					    ops[i].key.len));
			CHECK(ks_buf_append_u16(&recs,
						(uint16_t)ops[i].value.len));
			CHECK(ks_buf_append(&recs, ops[i].value.ptr,
					    ops[i].value.len));
		}
		put(bt, "m3-snapshot", 3, true, recs.data, recs.len);
		ks_buf_free(&recs);
	}

	/* Messages, one frame each (without the prefix). */
	proto_msg_t m[16];
	size_t n = 0;
	m[n] = (proto_msg_t){ .type = PROTO_MSG_HELLO };
	m[n].u.hello = (proto_hello_t){ .version_min = 1,
					.version_max = 1,
					.role = PROTO_ROLE_REPLICA,
					.caps = PROTO_CAP_ZSTD,
					.name = sv("kdc2.example.org"),
					.seq = 40 };
	memcpy(m[n++].u.hello.history, HIST, 16);
	for (uint8_t mode = 1; mode <= 3; mode++) {
		m[n] = (proto_msg_t){ .type = PROTO_MSG_ANSWER };
		m[n].u.answer.version = 1;
		m[n].u.answer.mode = mode;
		memcpy(m[n].u.answer.history, HIST, 16);
		if (mode == PROTO_ANSWER_INCREMENTAL)
			m[n].u.answer.from_seq = 41;
		if (mode == PROTO_ANSWER_REFUSED) {
			m[n].u.answer.reason = -1600;
			m[n].u.answer.text = sv("unknown history");
		}
		n++;
	}
	m[n] = (proto_msg_t){ .type = PROTO_MSG_SNAP_BEGIN };
	memcpy(m[n].u.snap_begin.history, HIST, 16);
	m[n].u.snap_begin.seq = 44;
	m[n++].u.snap_begin.record_count = 3;
	m[n] = (proto_msg_t){ .type = PROTO_MSG_SNAP_CHUNK };
	m[n++].u.blob = ks_buf_view(&chunk);
	m[n] = (proto_msg_t){ .type = PROTO_MSG_SNAP_END };
	m[n++].u.blob = ks_buf_view(&end);
	m[n] = (proto_msg_t){ .type = PROTO_MSG_BATCH };
	m[n++].u.blob = ks_buf_view(&batch1);
	m[n] = (proto_msg_t){ .type = PROTO_MSG_ACK };
	memcpy(m[n].u.ack.history, HIST, 16);
	m[n++].u.ack.seq = 44;
	m[n] = (proto_msg_t){ .type = PROTO_MSG_KEEPALIVE };
	m[n++].u.keepalive.time_us = 1790000000000000ull;
	m[n] = (proto_msg_t){ .type = PROTO_MSG_ERROR };
	m[n].u.error.code = -1601;
	m[n++].u.error.text = sv("sequence gap");
	/* the KDB comparison (PROTOCOL.md §3.11) */
	uint8_t list[2 + 18 + 32] = { 0, 18 };
	memcpy(list + 2, "Palice@EXAMPLE.ORG", 18);
	memset(list + 20, 0x11, 32);
	m[n] = (proto_msg_t){ .type = PROTO_MSG_KDB_DIGEST_REQ };
	m[n++].u.digest_req = (proto_digest_req_t){
		.id = 1, .kind = PROTO_DIGEST_RANGES, .hi = 1024, .parts = 16
	};
	m[n] = (proto_msg_t){ .type = PROTO_MSG_KDB_DIGEST_RSP };
	m[n].u.digest_rsp =
		(proto_digest_rsp_t){ .id = 2,
				      .kind = PROTO_DIGEST_LIST,
				      .lo = 5,
				      .hi = 6,
				      .seq = 44,
				      .count = 1,
				      .body = { list, sizeof(list) } };
	memcpy(m[n++].u.digest_rsp.history, HIST, 16);
	/* repair (§3.12) */
	uint8_t keys[2 + 18 + 2 + 8] = { 0, 18 };
	memcpy(keys + 2, "Palice@EXAMPLE.ORG", 18);
	keys[21] = 8;
	memcpy(keys + 22, "Opolicy1", 8);
	m[n] = (proto_msg_t){ .type = PROTO_MSG_REFETCH };
	m[n++].u.fetch = (proto_fetch_t){ .seq = 44,
					  .count = 2,
					  .body = { keys, sizeof(keys) } };

	ks_buf_t stream = KS_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		ks_buf_t one = KS_BUF_INIT;
		char name[32];
		CHECK(proto_msg_encode(&m[i], &one));
		snprintf(name, sizeof(name), "%02zu-%s", i,
			 proto_msg_type_name(m[i].type));
		put("fuzz_proto_msg", name, 0, false,
		    one.data + PROTO_FRAME_PREFIX,
		    one.len - PROTO_FRAME_PREFIX);
		CHECK(ks_buf_append(&stream, one.data, one.len));
		ks_buf_free(&one);
	}
	/* Frame streams: limit selector, chunk seed, stream. */
	uint8_t hdr[2] = { 4, 7 };
	ks_buf_t fs = KS_BUF_INIT;
	CHECK(ks_buf_append(&fs, hdr, 2));
	CHECK(ks_buf_append(&fs, stream.data, stream.len));
	put("fuzz_proto_frame", "all-default-limit", 0, false, fs.data, fs.len);
	fs.data[0] = 2; /* 300-byte limit: the batch frame is refused */
	put("fuzz_proto_frame", "all-300-limit", 0, false, fs.data, fs.len);
	fs.len = 2 + 60;
	fs.data[0] = 3;
	put("fuzz_proto_frame", "partial", 0, false, fs.data, fs.len);

	ks_buf_free(&fs);
	ks_buf_free(&stream);
	ks_buf_free(&batch);
	ks_buf_free(&batch1);
	ks_buf_free(&chunk);
	ks_buf_free(&end);
	proto_key_free(key);
	return 0;
}
