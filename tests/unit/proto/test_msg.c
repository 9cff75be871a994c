/* SPDX-License-Identifier: MIT */
/* Messages: round trip of every type, the exact HELLO bytes, every split
 * point of a multi-message stream through the assembler, and malformed input
 * for every field (short, long, bad type, bad version, bad values). */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/wire.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "helpers/test.h"

#define V(s) ((ks_view_t){ .ptr = (const uint8_t *)(s), .len = sizeof(s) - 1 })

static const uint8_t HIST[16] = { 0x10, 0x32, 0x54, 0x76, 0x98, 0xba,
				  0xdc, 0xfe, 1,    2,	  3,	4,
				  5,	6,    7,    8 };
static const uint8_t BLOB[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

/* One sample of every message type (and every answer mode). */
static size_t samples(proto_msg_t *m)
{
	size_t n = 0;
	m[n] = (proto_msg_t){ .type = PROTO_MSG_HELLO };
	m[n].u.hello = (proto_hello_t){ .version_min = 1,
					.version_max = 3,
					.role = PROTO_ROLE_REPLICA,
					.caps = PROTO_CAP_ZSTD,
					.name = V("kdc2.example.org"),
					.seq = 12345678901ull };
	memcpy(m[n++].u.hello.history, HIST, 16);
	for (int mode = 1; mode <= 3; mode++) {
		m[n] = (proto_msg_t){ .type = PROTO_MSG_ANSWER };
		m[n].u.answer.version = 1;
		m[n].u.answer.mode = (uint8_t)mode;
		memcpy(m[n].u.answer.history, HIST, 16);
		if (mode == PROTO_ANSWER_INCREMENTAL)
			m[n].u.answer.from_seq = 42;
		if (mode == PROTO_ANSWER_REFUSED) {
			m[n].u.answer.reason = KS_EHISTORY;
			m[n].u.answer.text = V("unknown history, no snapshot");
		}
		n++;
	}
	m[n] = (proto_msg_t){ .type = PROTO_MSG_SNAP_BEGIN };
	memcpy(m[n].u.snap_begin.history, HIST, 16);
	m[n].u.snap_begin.seq = 99;
	m[n++].u.snap_begin.record_count = 1000000;
	for (uint8_t t = PROTO_MSG_SNAP_CHUNK; t <= PROTO_MSG_BATCH; t++) {
		m[n] = (proto_msg_t){ .type = t };
		m[n++].u.blob = (ks_view_t){ .ptr = BLOB, .len = sizeof(BLOB) };
	}
	m[n] = (proto_msg_t){ .type = PROTO_MSG_ACK };
	memcpy(m[n].u.ack.history, HIST, 16);
	m[n++].u.ack.seq = UINT64_MAX - 1;
	m[n] = (proto_msg_t){ .type = PROTO_MSG_KEEPALIVE };
	m[n++].u.keepalive.time_us = 1790000000000000ull;
	m[n] = (proto_msg_t){ .type = PROTO_MSG_ERROR };
	m[n].u.error.code = KS_EGAP;
	m[n++].u.error.text = V("sequence gap after 41");
	m[n] = (proto_msg_t){ .type = PROTO_MSG_ANSWER };
	m[n].u.answer = (proto_answer_t){ .version = 1,
					  .mode = PROTO_ANSWER_REWIND,
					  .from_seq = 42 };
	memcpy(m[n++].u.answer.history, HIST, 16);
	static const uint8_t fetch_body[] = { 0, 3, 'P', 'a', '@',
					      0, 2, 'O', 'p' };
	m[n] = (proto_msg_t){ .type = PROTO_MSG_FETCH };
	m[n++].u.fetch =
		(proto_fetch_t){ .seq = 41,
				 .count = 2,
				 .body = { fetch_body, sizeof(fetch_body) } };
	m[n] = (proto_msg_t){ .type = PROTO_MSG_VALUES };
	m[n++].u.blob = (ks_view_t){ .ptr = BLOB, .len = sizeof(BLOB) };
	m[n] = (proto_msg_t){ .type = PROTO_MSG_LOCKOUT };
	m[n++].u.lockout = (proto_lockout_t){ .name = V("alice@EXAMPLE.ORG"),
					      .last_success = 1790000000u,
					      .last_failed = 0x80000001u,
					      .fail_auth_count = 5 };
	/* the KDB comparison (§3.11): a RANGES request and its response */
	static const uint8_t one_range[40] = { 0xd1, [39] = 7 };
	m[n] = (proto_msg_t){ .type = PROTO_MSG_KDB_DIGEST_REQ };
	m[n++].u.digest_req = (proto_digest_req_t){ .id = 3,
						    .kind = PROTO_DIGEST_RANGES,
						    .lo = 0,
						    .hi = 1024,
						    .parts = 1 };
	m[n] = (proto_msg_t){ .type = PROTO_MSG_KDB_DIGEST_RSP };
	m[n].u.digest_rsp =
		(proto_digest_rsp_t){ .id = 3,
				      .kind = PROTO_DIGEST_RANGES,
				      .lo = 0,
				      .hi = 1024,
				      .seq = 41,
				      .count = 1,
				      .body = { one_range,
						sizeof(one_range) } };
	memcpy(m[n++].u.digest_rsp.history, HIST, 16);
	/* repair (§3.12): the FETCH layout and a values blob */
	m[n] = (proto_msg_t){ .type = PROTO_MSG_REFETCH };
	m[n++].u.fetch =
		(proto_fetch_t){ .seq = 77,
				 .count = 2,
				 .body = { fetch_body, sizeof(fetch_body) } };
	m[n] = (proto_msg_t){ .type = PROTO_MSG_REVALUES };
	m[n++].u.blob = (ks_view_t){ .ptr = BLOB, .len = sizeof(BLOB) };
	return n;
}

static void assert_view_eq(ks_view_t a, ks_view_t b)
{
	test_assert_mem_eq(a.ptr, a.len, b.ptr, b.len);
}

static void assert_msg_eq(const proto_msg_t *a, const proto_msg_t *b)
{
	assert_int_equal(a->type, b->type);
	switch (a->type) {
	case PROTO_MSG_HELLO:
		assert_int_equal(a->u.hello.version_min,
				 b->u.hello.version_min);
		assert_int_equal(a->u.hello.version_max,
				 b->u.hello.version_max);
		assert_int_equal(a->u.hello.role, b->u.hello.role);
		assert_int_equal(a->u.hello.caps, b->u.hello.caps);
		assert_view_eq(a->u.hello.name, b->u.hello.name);
		assert_memory_equal(a->u.hello.history, b->u.hello.history, 16);
		assert_true(a->u.hello.seq == b->u.hello.seq);
		break;
	case PROTO_MSG_ANSWER:
		assert_int_equal(a->u.answer.version, b->u.answer.version);
		assert_int_equal(a->u.answer.mode, b->u.answer.mode);
		assert_memory_equal(a->u.answer.history, b->u.answer.history,
				    16);
		assert_true(a->u.answer.from_seq == b->u.answer.from_seq);
		assert_int_equal(a->u.answer.reason, b->u.answer.reason);
		assert_view_eq(a->u.answer.text, b->u.answer.text);
		break;
	case PROTO_MSG_SNAP_BEGIN:
		assert_memory_equal(a->u.snap_begin.history,
				    b->u.snap_begin.history, 16);
		assert_true(a->u.snap_begin.seq == b->u.snap_begin.seq);
		assert_true(a->u.snap_begin.record_count ==
			    b->u.snap_begin.record_count);
		break;
	case PROTO_MSG_SNAP_CHUNK:
	case PROTO_MSG_SNAP_END:
	case PROTO_MSG_BATCH:
	case PROTO_MSG_VALUES:
	case PROTO_MSG_REVALUES:
		assert_view_eq(a->u.blob, b->u.blob);
		break;
	case PROTO_MSG_REFETCH:
	case PROTO_MSG_FETCH:
		assert_true(a->u.fetch.seq == b->u.fetch.seq);
		assert_int_equal(a->u.fetch.count, b->u.fetch.count);
		assert_view_eq(a->u.fetch.body, b->u.fetch.body);
		break;
	case PROTO_MSG_LOCKOUT:
		assert_view_eq(a->u.lockout.name, b->u.lockout.name);
		assert_int_equal(a->u.lockout.last_success,
				 b->u.lockout.last_success);
		assert_int_equal(a->u.lockout.last_failed,
				 b->u.lockout.last_failed);
		assert_int_equal(a->u.lockout.fail_auth_count,
				 b->u.lockout.fail_auth_count);
		break;
	case PROTO_MSG_KDB_DIGEST_REQ:
		assert_int_equal(a->u.digest_req.id, b->u.digest_req.id);
		assert_int_equal(a->u.digest_req.kind, b->u.digest_req.kind);
		assert_int_equal(a->u.digest_req.lo, b->u.digest_req.lo);
		assert_int_equal(a->u.digest_req.hi, b->u.digest_req.hi);
		assert_int_equal(a->u.digest_req.parts, b->u.digest_req.parts);
		break;
	case PROTO_MSG_KDB_DIGEST_RSP:
		assert_int_equal(a->u.digest_rsp.id, b->u.digest_rsp.id);
		assert_int_equal(a->u.digest_rsp.kind, b->u.digest_rsp.kind);
		assert_int_equal(a->u.digest_rsp.lo, b->u.digest_rsp.lo);
		assert_int_equal(a->u.digest_rsp.hi, b->u.digest_rsp.hi);
		assert_memory_equal(a->u.digest_rsp.history,
				    b->u.digest_rsp.history, 16);
		assert_true(a->u.digest_rsp.seq == b->u.digest_rsp.seq);
		assert_int_equal(a->u.digest_rsp.count, b->u.digest_rsp.count);
		assert_view_eq(a->u.digest_rsp.body, b->u.digest_rsp.body);
		break;
	case PROTO_MSG_ACK:
		assert_memory_equal(a->u.ack.history, b->u.ack.history, 16);
		assert_true(a->u.ack.seq == b->u.ack.seq);
		break;
	case PROTO_MSG_KEEPALIVE:
		assert_true(a->u.keepalive.time_us == b->u.keepalive.time_us);
		break;
	case PROTO_MSG_ERROR:
		assert_int_equal(a->u.error.code, b->u.error.code);
		assert_view_eq(a->u.error.text, b->u.error.text);
		break;
	default:
		fail_msg("unexpected type %d", a->type);
	}
}

/* The frame (type + payload) of an encoded message, without the prefix. */
static ks_view_t frame_of(const ks_buf_t *b)
{
	assert_true(b->len > PROTO_FRAME_PREFIX);
	assert_int_equal(ks_get_u32be(b->data), b->len - PROTO_FRAME_PREFIX);
	return (ks_view_t){ .ptr = b->data + PROTO_FRAME_PREFIX,
			    .len = b->len - PROTO_FRAME_PREFIX };
}

static void test_roundtrip_every_type(void **state)
{
	(void)state;
	proto_msg_t m[20];
	size_t n = samples(m);
	int types_seen = 0;
	assert_int_equal(n, 19);
	for (size_t i = 0; i < n; i++) {
		ks_buf_t b = KS_BUF_INIT;
		proto_msg_t got;
		assert_ks_ok(proto_msg_encode(&m[i], &b));
		assert_ks_ok(proto_msg_decode(frame_of(&b), &got));
		assert_msg_eq(&got, &m[i]);
		assert_string_not_equal(proto_msg_type_name(got.type), "?");
		types_seen |= 1 << got.type;
		ks_buf_free(&b);
	}
	/* Every type 1..9, 0x0c..0x12 was covered. */
	assert_int_equal(types_seen, 0x7f3fe);
}

/* The exact bytes of a HELLO, as PROTOCOL.md §3.2 lays them out. */
static void test_hello_bytes(void **state)
{
	(void)state;
	proto_msg_t m = { .type = PROTO_MSG_HELLO };
	m.u.hello = (proto_hello_t){ .version_min = 1,
				     .version_max = 2,
				     .role = PROTO_ROLE_PRIMARY,
				     .caps = 1,
				     .name = V("kdc1"),
				     .seq = 0x0102030405060708ull };
	memcpy(m.u.hello.history, HIST, 16);
	static const uint8_t want[] = {
		0,    0,    0,	  43, /* length: 1 + 42 */
		0x01,		      /* HELLO */
		'K',  'S',  'Y',  'N',	0,    1,    0,	  2, /* versions 1..2 */
		0x01,					     /* role primary */
		0,    0,    0,	  1,			     /* caps: zstd */
		0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 1,   2,
		3,    4,    5,	  6,	7,    8,    1,	  2,	3,   4,
		5,    6,    7,	  8,	4,    'k',  'd',  'c',	'1',
	};
	ks_buf_t b = KS_BUF_INIT;
	assert_ks_ok(proto_msg_encode(&m, &b));
	test_assert_mem_eq(b.data, b.len, want, sizeof(want));
	ks_buf_free(&b);
}

static int decode_cb(ks_view_t frame, void *ctx)
{
	ks_buf_t *frames = ctx;
	/* Keep a copy: the view dies when we return. */
	assert_ks_ok(ks_buf_append_u32(frames, (uint32_t)frame.len));
	assert_ks_ok(ks_buf_append(frames, frame.ptr, frame.len));
	return 0;
}

static void test_stream_every_split_point(void **state)
{
	(void)state;
	proto_msg_t m[20];
	size_t n = samples(m);
	ks_buf_t stream = KS_BUF_INIT;
	for (size_t i = 0; i < n; i++)
		assert_ks_ok(proto_msg_encode(&m[i], &stream));

	for (size_t cut = 0; cut <= stream.len; cut++) {
		proto_frame_t f;
		ks_buf_t frames = KS_BUF_INIT;
		proto_frame_init(&f, 4096);
		assert_ks_ok(proto_frame_feed(&f, stream.data, cut, decode_cb,
					      &frames, NULL));
		assert_ks_ok(proto_frame_feed(&f, stream.data + cut,
					      stream.len - cut, decode_cb,
					      &frames, NULL));
		assert_true(proto_frame_idle(&f));
		size_t off = 0, k = 0;
		while (off < frames.len) {
			uint32_t len = ks_get_u32be(frames.data + off);
			proto_msg_t got;
			assert_ks_ok(proto_msg_decode(
				(ks_view_t){ .ptr = frames.data + off + 4,
					     .len = len },
				&got));
			assert_true(k < n);
			assert_msg_eq(&got, &m[k++]);
			off += 4 + len;
		}
		assert_int_equal(k, n);
		ks_buf_free(&frames);
		proto_frame_deinit(&f);
	}
	ks_buf_free(&stream);
}

/* Every proper prefix of every message is refused as truncated; one extra
 * byte is refused as trailing (HELLO ignores appended fields, §3.2). */
static void test_short_and_long(void **state)
{
	(void)state;
	proto_msg_t m[20];
	size_t n = samples(m);
	for (size_t i = 0; i < n; i++) {
		ks_buf_t b = KS_BUF_INIT;
		proto_msg_t got;
		assert_ks_ok(proto_msg_encode(&m[i], &b));
		ks_view_t fr = frame_of(&b);
		bool blob = m[i].type == PROTO_MSG_SNAP_CHUNK ||
			    m[i].type == PROTO_MSG_SNAP_END ||
			    m[i].type == PROTO_MSG_BATCH ||
			    m[i].type == PROTO_MSG_VALUES ||
			    m[i].type == PROTO_MSG_REVALUES;
		for (size_t len = 0; len < fr.len; len++) {
			ks_view_t cut = { .ptr = fr.ptr, .len = len };
			int ret = proto_msg_decode(cut, &got);
			if (blob && len > 1) {
				/* A blob is delimited by the frame: a
				 * shorter one is caught by batch.c. */
				assert_ks_ok(ret);
				continue;
			}
			if (ret != KS_ETRUNC)
				fail_msg("type %d cut at %zu: %s", m[i].type,
					 len, ks_errname(ret));
		}
		uint8_t *longer = malloc(fr.len + 1);
		memcpy(longer, fr.ptr, fr.len);
		longer[fr.len] = 0;
		int ret = proto_msg_decode(
			(ks_view_t){ .ptr = longer, .len = fr.len + 1 }, &got);
		if (m[i].type == PROTO_MSG_HELLO || blob)
			assert_ks_ok(ret);
		else if (m[i].type == PROTO_MSG_KDB_DIGEST_RSP)
			assert_ks_err(ret, KS_ECOUNT); /* the body is counted */
		else
			assert_ks_err(ret, KS_ETRAILING);
		free(longer);
		ks_buf_free(&b);
	}
}

static void test_bad_type(void **state)
{
	(void)state;
	static const uint8_t types[] = { 0x00, 0x13, 0x7f, 0xff };
	for (size_t i = 0; i < sizeof(types); i++) {
		uint8_t fr[32] = { types[i] };
		proto_msg_t got;
		assert_ks_err(proto_msg_decode((ks_view_t){ .ptr = fr,
							    .len = sizeof(fr) },
					       &got),
			      KS_ETYPE);
		assert_string_equal(proto_msg_type_name(types[i]), "?");
	}
}

/* Patch one byte of an encoded message's frame and expect \p want. */
static void expect_patched(const proto_msg_t *m, size_t off, uint8_t val,
			   int want)
{
	ks_buf_t b = KS_BUF_INIT;
	proto_msg_t got;
	assert_ks_ok(proto_msg_encode(m, &b));
	ks_view_t fr = frame_of(&b);
	assert_true(off < fr.len);
	((uint8_t *)(uintptr_t)fr.ptr)[off] = val;
	int ret = proto_msg_decode(fr, &got);
	if (ret != want)
		fail_msg("type %d byte %zu = 0x%02x: got %s, want %s", m->type,
			 off, val, ks_errname(ret), ks_errname(want));
	ks_buf_free(&b);
}

static void test_bad_fields(void **state)
{
	(void)state;
	proto_msg_t m[20];
	samples(m);
	const proto_msg_t *hello = &m[0], *incr = &m[1], *snap = &m[2],
			  *refused = &m[3], *begin = &m[4], *err = &m[10];

	/* HELLO: offsets inside the frame (type byte at 0). */
	expect_patched(hello, 1, 'X', KS_EVERSION); /* magic */
	expect_patched(hello, 6, 0, KS_EVERSION);   /* version_min = 0 */
	expect_patched(hello, 6, 9, KS_EVERSION);   /* min > max */
	expect_patched(hello, 9, 0, KS_EMALF);	    /* role 0 */
	expect_patched(hello, 9, 3, KS_EMALF);	    /* role 3 */
	expect_patched(hello, 38, 0, KS_EMALF);	    /* name length 0 */
	expect_patched(hello, 38, 200, KS_ETRUNC);  /* longer than payload */
	expect_patched(hello, 40, ' ', KS_EMALF);   /* space in name */
	expect_patched(hello, 40, 0x80, KS_EMALF);  /* non-ASCII in name */
	/* ANSWER: version u16 at 1, mode at 3, history 4..19, from_seq
	 * 20..27, reason 28..31, text length 32. */
	expect_patched(incr, 2, 2, KS_EVERSION);
	expect_patched(incr, 1, 1, KS_EVERSION);
	expect_patched(incr, 3, 0, KS_EMALF);
	expect_patched(incr, 3, 5, KS_EMALF);	  /* 4 = REWIND is valid */
	expect_patched(incr, 27, 0, KS_EMALF);	  /* from_seq 0 */
	expect_patched(incr, 31, 1, KS_EMALF);	  /* reason on success */
	expect_patched(snap, 27, 1, KS_EMALF);	  /* from_seq with snapshot */
	expect_patched(refused, 28, 0, KS_EMALF); /* reason >= 0 */
	expect_patched(refused, 32, 255, KS_ETRUNC);
	expect_patched(refused, 33, '\n', KS_EMALF);
	/* Answer with a zero history for INCREMENTAL. */
	{
		proto_msg_t z = *incr;
		memset(z.u.answer.history, 0, 16);
		ks_buf_t b = KS_BUF_INIT;
		assert_ks_err(proto_msg_encode(&z, &b), KS_EINVAL);
		assert_int_equal(b.len, 0);
		ks_buf_free(&b);
	}
	/* SNAP_BEGIN with zero history. */
	{
		proto_msg_t z = *begin;
		memset(z.u.snap_begin.history, 0, 16);
		ks_buf_t b = KS_BUF_INIT;
		assert_ks_err(proto_msg_encode(&z, &b), KS_EINVAL);
		ks_buf_free(&b);
	}
	/* ERROR: code >= 0, bad text, text length over payload. */
	expect_patched(err, 1, 0, KS_EMALF);
	expect_patched(err, 6, 0x01, KS_EMALF);
	expect_patched(err, 5, 100, KS_ETRUNC);
	/* Blob messages must carry something. */
	uint8_t only_type[1] = { PROTO_MSG_BATCH };
	proto_msg_t got;
	assert_ks_err(proto_msg_decode(
			      (ks_view_t){ .ptr = only_type, .len = 1 }, &got),
		      KS_ETRUNC);
}

static void test_encode_refuses_invalid(void **state)
{
	(void)state;
	proto_msg_t m[20];
	samples(m);
	ks_buf_t b = KS_BUF_INIT;
	assert_ks_ok(ks_buf_append(&b, "keep", 4));

	proto_msg_t h = m[0];
	h.u.hello.name = V("");
	assert_ks_err(proto_msg_encode(&h, &b), KS_EINVAL);
	h.u.hello.name = V("two words");
	assert_ks_err(proto_msg_encode(&h, &b), KS_EINVAL);
	h = m[0];
	h.u.hello.version_min = 4;
	assert_ks_err(proto_msg_encode(&h, &b), KS_EINVAL);
	proto_msg_t e = m[10];
	e.u.error.code = 5;
	assert_ks_err(proto_msg_encode(&e, &b), KS_EINVAL);
	char longtext[PROTO_TEXT_MAX + 1];
	memset(longtext, 'a', sizeof(longtext));
	e = m[10];
	e.u.error.text = (ks_view_t){ .ptr = (const uint8_t *)longtext,
				      .len = sizeof(longtext) };
	assert_ks_err(proto_msg_encode(&e, &b), KS_EINVAL);
	proto_msg_t t = { .type = 0x33 };
	assert_ks_err(proto_msg_encode(&t, &b), KS_EINVAL);
	proto_msg_t bl = { .type = PROTO_MSG_BATCH };
	assert_ks_err(proto_msg_encode(&bl, &b), KS_EINVAL);
	/* Nothing was appended by the failures. */
	assert_int_equal(b.len, 4);
	ks_buf_free(&b);
}

/* LIST body entry: u16 key length, key, 32-byte hash (filled with h). */
static void list_entry(ks_buf_t *b, const char *key, uint8_t h)
{
	uint8_t hdr[2] = { (uint8_t)(strlen(key) >> 8), (uint8_t)strlen(key) };
	uint8_t hash[32];
	memset(hash, h, sizeof(hash));
	assert_ks_ok(ks_buf_append(b, hdr, 2));
	assert_ks_ok(ks_buf_append(b, key, strlen(key)));
	assert_ks_ok(ks_buf_append(b, hash, 32));
}

/* The last encoded response: decoded views borrow it. */
static ks_buf_t rsp_frame = KS_BUF_INIT;

/* Encode (the encoder refuses what the decoder would) and decode. */
static int rsp_decode(proto_digest_rsp_t r, proto_msg_t *got)
{
	proto_msg_t m = { .type = PROTO_MSG_DIGEST_RSP };
	m.u.digest_rsp = r;
	ks_buf_free(&rsp_frame);
	int ret = proto_msg_encode(&m, &rsp_frame);
	if (ret == KS_EOK)
		ret = proto_msg_decode(frame_of(&rsp_frame), got);
	return ret;
}

/* DIGEST_REQ / DIGEST_RSP (PROTOCOL.md §3.8): round trips and every
 * malformed field. */
static void test_digest_messages(void **state)
{
	(void)state;
	proto_msg_t m = { .type = PROTO_MSG_DIGEST_REQ }, got;
	ks_buf_t b = KS_BUF_INIT;
	m.u.digest_req = (proto_digest_req_t){ .id = 7,
					       .kind = PROTO_DIGEST_RANGES,
					       .lo = 0,
					       .hi = 1024,
					       .parts = 16 };
	assert_ks_ok(proto_msg_encode(&m, &b));
	assert_int_equal(b.len, 4 + 1 + 11);
	assert_ks_ok(proto_msg_decode(frame_of(&b), &got));
	assert_int_equal(got.u.digest_req.id, 7);
	assert_int_equal(got.u.digest_req.hi, 1024);
	assert_int_equal(got.u.digest_req.parts, 16);
	assert_string_equal(proto_msg_type_name(got.type), "digest-req");
	ks_buf_free(&b);
	/* bad requests are refused by the encoder (the decoder's checks) */
	proto_digest_req_t bad[] = {
		{ .kind = PROTO_DIGEST_RANGES, .lo = 5, .hi = 5, .parts = 1 },
		{ .kind = PROTO_DIGEST_RANGES,
		  .lo = 0,
		  .hi = 1025,
		  .parts = 1 },
		{ .kind = PROTO_DIGEST_RANGES, .lo = 0, .hi = 4, .parts = 5 },
		{ .kind = PROTO_DIGEST_RANGES,
		  .lo = 0,
		  .hi = 1024,
		  .parts = 65 },
		{ .kind = PROTO_DIGEST_RANGES, .lo = 0, .hi = 4, .parts = 0 },
		{ .kind = PROTO_DIGEST_LIST, .lo = 3, .hi = 5, .parts = 0 },
		{ .kind = PROTO_DIGEST_LIST, .lo = 3, .hi = 4, .parts = 1 },
		{ .kind = 3, .lo = 3, .hi = 4, .parts = 1 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m.u.digest_req = bad[i];
		assert_ks_err(proto_msg_encode(&m, &b), KS_EINVAL);
		assert_int_equal(b.len, 0);
	}
	ks_buf_free(&b);
	/* the 65-parts request on the wire: KS_ELIMIT */
	m.u.digest_req = (proto_digest_req_t){
		.kind = PROTO_DIGEST_RANGES, .lo = 0, .hi = 1024, .parts = 64
	};
	expect_patched(&m, 1 + 4 + 1 + 2 + 2 + 1, 65, KS_ELIMIT);

	/* RANGES response: count x (digest, u64) */
	uint8_t ranges[2 * 40];
	memset(ranges, 0xab, sizeof(ranges));
	proto_digest_rsp_t r = { .id = 9,
				 .kind = PROTO_DIGEST_RANGES,
				 .lo = 0,
				 .hi = 1024,
				 .seq = 77,
				 .count = 2,
				 .body = { ranges, sizeof(ranges) } };
	memcpy(r.history, HIST, 16);
	assert_ks_ok(rsp_decode(r, &got));
	assert_int_equal(got.u.digest_rsp.count, 2);
	assert_true(got.u.digest_rsp.seq == 77);
	assert_memory_equal(got.u.digest_rsp.history, HIST, 16);
	test_assert_mem_eq(got.u.digest_rsp.body.ptr, got.u.digest_rsp.body.len,
			   ranges, sizeof(ranges));
	r.count = 3; /* body too short for 3 */
	assert_ks_err(rsp_decode(r, &got), KS_EINVAL);
	r.count = 1; /* body too long for 1 */
	assert_ks_err(rsp_decode(r, &got), KS_EINVAL);
	r.count = 0;
	assert_ks_err(rsp_decode(r, &got), KS_EINVAL);

	/* LIST response: ascending keys, each (u16 len, key, hash) */
	ks_buf_t body = KS_BUF_INIT;
	list_entry(&body, "Pa@R", 1);
	list_entry(&body, "Pab@R", 2);
	list_entry(&body, "Pb@R", 3);
	r = (proto_digest_rsp_t){ .id = 10,
				  .kind = PROTO_DIGEST_LIST,
				  .lo = 12,
				  .hi = 13,
				  .count = 3,
				  .body = { body.data, body.len } };
	assert_ks_ok(rsp_decode(r, &got));
	size_t pos = 0, n = 0;
	ks_view_t key;
	const uint8_t *hash;
	while (proto_digest_list_next(got.u.digest_rsp.body, &pos, &key,
				      &hash)) {
		assert_int_equal(hash[0], n + 1);
		n++;
	}
	assert_int_equal(n, 3);
	assert_ks_ok(ks_buf_append(&body, "", 0));
	r.count = 2;
	assert_ks_err(rsp_decode(r, &got), KS_EINVAL); /* count mismatch */
	r.count = 3;
	r.hi = 14; /* LIST is one bucket */
	assert_ks_err(rsp_decode(r, &got), KS_EINVAL);
	r.hi = 13;
	r.body.len -= 1; /* truncated last hash */
	assert_ks_err(rsp_decode(r, &got), KS_EINVAL);
	ks_buf_free(&body);
	/* keys out of order; an empty key */
	list_entry(&body, "Pb@R", 1);
	list_entry(&body, "Pa@R", 2);
	r.count = 2;
	r.body = (ks_view_t){ body.data, body.len };
	assert_ks_err(rsp_decode(r, &got), KS_EINVAL);
	ks_buf_free(&body);
	list_entry(&body, "", 1);
	r.count = 1;
	r.body = (ks_view_t){ body.data, body.len };
	assert_ks_err(rsp_decode(r, &got), KS_EINVAL);
	ks_buf_free(&body);
	/* an empty LIST (bucket without records) is fine */
	r.count = 0;
	r.body = (ks_view_t){ 0 };
	assert_ks_ok(rsp_decode(r, &got));

	/* the decoder's own codes: a valid RANGES response with its count
	 * patched on the wire */
	r = (proto_digest_rsp_t){ .kind = PROTO_DIGEST_RANGES,
				  .lo = 0,
				  .hi = 1024,
				  .count = 2,
				  .body = { ranges, sizeof(ranges) } };
	m = (proto_msg_t){ .type = PROTO_MSG_DIGEST_RSP };
	m.u.digest_rsp = r;
	size_t count_off = 1 + 4 + 1 + 2 + 2 + 16 + 8 + 3;
	expect_patched(&m, count_off, 1, KS_ECOUNT);
	expect_patched(&m, count_off, 3, KS_ETRUNC);
	expect_patched(&m, count_off, 65, KS_ELIMIT);
	expect_patched(&m, 1 + 4, 9, KS_EMALF); /* unknown kind */
	ks_buf_free(&rsp_frame);
}

/* KDB_DIGEST_REQ / KDB_DIGEST_RSP (§3.11): the DIGEST layouts under
 * their own types, with the same checks. */
static void test_kdb_digest_messages(void **state)
{
	(void)state;
	proto_msg_t m = { .type = PROTO_MSG_KDB_DIGEST_REQ }, got;
	ks_buf_t b = KS_BUF_INIT;
	m.u.digest_req = (proto_digest_req_t){
		.id = 9, .kind = PROTO_DIGEST_LIST, .lo = 7, .hi = 8
	};
	assert_ks_ok(proto_msg_encode(&m, &b));
	static const uint8_t want[] = { 0, 0, 0, 12, 0x0f, 0, 0, 0,
					9, 2, 0, 7,  0,	   8, 0, 0 };
	test_assert_mem_eq(b.data, b.len, want, sizeof(want));
	assert_ks_ok(proto_msg_decode(frame_of(&b), &got));
	assert_int_equal(got.type, PROTO_MSG_KDB_DIGEST_REQ);
	assert_string_equal(proto_msg_type_name(got.type), "kdb-digest-req");
	ks_buf_free(&b);
	m.u.digest_req.hi = 9; /* LIST is one bucket */
	assert_ks_err(proto_msg_encode(&m, &b), KS_EINVAL);
	m.u.digest_req = (proto_digest_req_t){
		.kind = PROTO_DIGEST_RANGES, .lo = 0, .hi = 1024, .parts = 64
	};
	expect_patched(&m, 1 + 4 + 1 + 2 + 2 + 1, 65, KS_ELIMIT);
	expect_patched(&m, 1 + 4, 3, KS_EMALF); /* unknown kind */

	/* a LIST response: ascending keys, each (u16 len, key, hash) */
	ks_buf_t body = KS_BUF_INIT;
	list_entry(&body, "Pa@R", 1);
	list_entry(&body, "Pb@R", 2);
	m = (proto_msg_t){ .type = PROTO_MSG_KDB_DIGEST_RSP };
	m.u.digest_rsp =
		(proto_digest_rsp_t){ .id = 9,
				      .kind = PROTO_DIGEST_LIST,
				      .lo = 7,
				      .hi = 8,
				      .count = 2,
				      .body = { body.data, body.len } };
	assert_ks_ok(proto_msg_encode(&m, &b));
	assert_ks_ok(proto_msg_decode(frame_of(&b), &got));
	assert_int_equal(got.type, PROTO_MSG_KDB_DIGEST_RSP);
	assert_string_equal(proto_msg_type_name(got.type), "kdb-digest-rsp");
	assert_int_equal(got.u.digest_rsp.count, 2);
	/* every cut is truncated, also one at the entry boundary (§3.8) */
	ks_view_t fr = frame_of(&b);
	for (size_t len = 0; len < fr.len; len++)
		assert_ks_err(
			proto_msg_decode((ks_view_t){ fr.ptr, len }, &got),
			KS_ETRUNC);
	ks_buf_free(&b);
	size_t count_off = 1 + 4 + 1 + 2 + 2 + 16 + 8 + 3;
	expect_patched(&m, count_off, 3, KS_ETRUNC); /* fewer entries */
	expect_patched(&m, count_off, 1, KS_ECOUNT); /* more entries */
	expect_patched(&m, 1 + 4, 5, KS_EMALF);	     /* unknown kind */
	m.u.digest_rsp.count = 3; /* fewer entries than counted */
	assert_ks_err(proto_msg_encode(&m, &b), KS_EINVAL);
	ks_buf_free(&body);
	list_entry(&body, "Pb@R", 1); /* out of order */
	list_entry(&body, "Pa@R", 2);
	m.u.digest_rsp.count = 2;
	m.u.digest_rsp.body = (ks_view_t){ body.data, body.len };
	assert_ks_err(proto_msg_encode(&m, &b), KS_EINVAL);
	assert_int_equal(b.len, 0);
	ks_buf_free(&b);
	ks_buf_free(&body);
}

/* LOCKOUT: exact bytes, the longest name, malformed fields. */
static void test_lockout(void **state)
{
	(void)state;
	ks_buf_t b = KS_BUF_INIT;
	proto_msg_t m = { .type = PROTO_MSG_LOCKOUT }, got;
	m.u.lockout = (proto_lockout_t){ .name = V("u@R"),
					 .last_success = 0x01020304u,
					 .last_failed = 0xa0b0c0d0u,
					 .fail_auth_count = 3 };
	assert_ks_ok(proto_msg_encode(&m, &b));
	static const uint8_t want[] = {
		0,    0,    0,	  18,  PROTO_MSG_LOCKOUT,
		0,    3,    'u',  '@', 'R',
		1,    2,    3,	  4,   0xa0,
		0xb0, 0xc0, 0xd0, 0,   0,
		0,    3
	};
	test_assert_mem_eq(b.data, b.len, want, sizeof(want));
	assert_string_equal(proto_msg_type_name(PROTO_MSG_LOCKOUT), "lockout");
	/* the longest name fits a u16 */
	size_t big = PROTO_LOCKOUT_NAME_MAX;
	uint8_t *name = malloc(big + 1);
	assert_non_null(name);
	memset(name, 'n', big + 1);
	ks_buf_reset(&b);
	m.u.lockout.name = (ks_view_t){ name, big };
	assert_ks_ok(proto_msg_encode(&m, &b));
	assert_ks_ok(proto_msg_decode(frame_of(&b), &got));
	assert_int_equal(got.u.lockout.name.len, big);
	assert_int_equal(got.u.lockout.fail_auth_count, 3);
	/* too long, empty, a NUL inside, a negative count: not encoded */
	ks_buf_reset(&b);
	m.u.lockout.name.len = big + 1;
	assert_ks_err(proto_msg_encode(&m, &b), KS_EINVAL);
	m.u.lockout.name = (ks_view_t){ 0 };
	assert_ks_err(proto_msg_encode(&m, &b), KS_EINVAL);
	m.u.lockout.name = (ks_view_t){ (const uint8_t *)"a\0b", 3 };
	assert_ks_err(proto_msg_encode(&m, &b), KS_EINVAL);
	m.u.lockout.name = V("u@R");
	m.u.lockout.fail_auth_count = -1;
	assert_ks_err(proto_msg_encode(&m, &b), KS_EINVAL);
	assert_int_equal(b.len, 0);
	free(name);
	/* and the same refused by the decoder (frames without the prefix) */
	uint8_t neg[] = { PROTO_MSG_LOCKOUT,
			  0,
			  1,
			  'u',
			  0,
			  0,
			  0,
			  0,
			  0,
			  0,
			  0,
			  0,
			  0xff,
			  0xff,
			  0xff,
			  0xff };
	assert_ks_err(proto_msg_decode((ks_view_t){ neg, sizeof(neg) }, &got),
		      KS_EMALF);
	uint8_t empty[] = {
		PROTO_MSG_LOCKOUT, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
	};
	assert_ks_err(
		proto_msg_decode((ks_view_t){ empty, sizeof(empty) }, &got),
		KS_EMALF);
	uint8_t nul[] = {
		PROTO_MSG_LOCKOUT, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
	};
	assert_ks_err(proto_msg_decode((ks_view_t){ nul, sizeof(nul) }, &got),
		      KS_EMALF);
	uint8_t longname[] = {
		PROTO_MSG_LOCKOUT, 0, 9, 'u', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
	};
	assert_ks_err(proto_msg_decode(
			      (ks_view_t){ longname, sizeof(longname) }, &got),
		      KS_ETRUNC);
	uint8_t trail[] = { PROTO_MSG_LOCKOUT,
			    0,
			    1,
			    'u',
			    0,
			    0,
			    0,
			    0,
			    0,
			    0,
			    0,
			    0,
			    0,
			    0,
			    0,
			    1,
			    7 };
	assert_ks_err(
		proto_msg_decode((ks_view_t){ trail, sizeof(trail) }, &got),
		KS_ETRAILING);
	assert_ks_ok(proto_msg_decode((ks_view_t){ trail, sizeof(trail) - 1 },
				      &got));
	assert_int_equal(got.u.lockout.fail_auth_count, 1);
	ks_buf_free(&b);
}

/* FETCH (rewind): round trip, every key walked, malformed bodies. */
static void test_fetch(void **state)
{
	(void)state;
	ks_buf_t body = KS_BUF_INIT, b = KS_BUF_INIT;
	proto_msg_t m = { .type = PROTO_MSG_FETCH }, got;
	const char *keys[] = { "Palice@R", "Obig-policy", "Pbob@R" };
	ks_view_t k;
	size_t pos = 0, n = 0;

	for (size_t i = 0; i < 3; i++)
		assert_ks_ok(proto_fetch_add(
			&body, (ks_view_t){ (const uint8_t *)keys[i],
					    strlen(keys[i]) }));
	assert_ks_err(proto_fetch_add(&body, (ks_view_t){ 0 }), KS_EINVAL);
	m.u.fetch = (proto_fetch_t){ .seq = 41,
				     .count = 3,
				     .body = { body.data, body.len } };
	assert_ks_ok(proto_msg_encode(&m, &b));
	assert_ks_ok(proto_msg_decode(frame_of(&b), &got));
	assert_int_equal(got.type, PROTO_MSG_FETCH);
	assert_int_equal(got.u.fetch.seq, 41);
	assert_int_equal(got.u.fetch.count, 3);
	while (proto_fetch_next(got.u.fetch.body, &pos, &k)) {
		assert_int_equal(k.len, strlen(keys[n]));
		assert_memory_equal(k.ptr, keys[n], k.len);
		n++;
	}
	assert_int_equal(n, 3);
	assert_string_equal(proto_msg_type_name(PROTO_MSG_FETCH), "fetch");
	/* count that does not match the body, zero count, truncated key */
	ks_buf_reset(&b);
	m.u.fetch.count = 4;
	assert_ks_err(proto_msg_encode(&m, &b), KS_EINVAL);
	m.u.fetch.count = 2;
	assert_ks_err(proto_msg_encode(&m, &b), KS_EINVAL);
	m.u.fetch.count = 0;
	assert_ks_err(proto_msg_encode(&m, &b), KS_EINVAL);
	m.u.fetch.count = 3;
	m.u.fetch.body.len--;
	assert_ks_err(proto_msg_encode(&m, &b), KS_EINVAL);
	uint8_t fr[] = {
		PROTO_MSG_FETCH, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0
	}; /* one key of length 0 */
	assert_ks_err(proto_msg_decode((ks_view_t){ fr, sizeof(fr) }, &got),
		      KS_EMALF);
	uint8_t big[] = {
		PROTO_MSG_FETCH, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff
	};
	assert_ks_err(proto_msg_decode((ks_view_t){ big, sizeof(big) }, &got),
		      KS_ELIMIT);
	/* REFETCH (§3.12) has FETCH's layout and checks */
	fr[0] = big[0] = PROTO_MSG_REFETCH;
	assert_ks_err(proto_msg_decode((ks_view_t){ fr, sizeof(fr) }, &got),
		      KS_EMALF);
	assert_ks_err(proto_msg_decode((ks_view_t){ big, sizeof(big) }, &got),
		      KS_ELIMIT);
	assert_string_equal(proto_msg_type_name(PROTO_MSG_REFETCH), "refetch");
	assert_string_equal(proto_msg_type_name(PROTO_MSG_REVALUES),
			    "revalues");
	/* ANSWER(REWIND) needs a from_seq */
	proto_msg_t a = { .type = PROTO_MSG_ANSWER };
	a.u.answer = (proto_answer_t){ .version = 1,
				       .mode = PROTO_ANSWER_REWIND,
				       .from_seq = 6 };
	memset(a.u.answer.history, 7, 16);
	ks_buf_reset(&b);
	assert_ks_ok(proto_msg_encode(&a, &b));
	assert_ks_ok(proto_msg_decode(frame_of(&b), &got));
	assert_int_equal(got.u.answer.mode, PROTO_ANSWER_REWIND);
	a.u.answer.from_seq = 0;
	assert_ks_err(proto_msg_encode(&a, &b), KS_EINVAL);
	ks_buf_free(&b);
	ks_buf_free(&body);
}

/* HELLO's identity extension: round trip; a cut or bad one is ignored. */
static void test_hello_ident(void **state)
{
	(void)state;
	proto_msg_t m = { .type = PROTO_MSG_HELLO }, got;
	ks_buf_t b = KS_BUF_INIT;
	m.u.hello = (proto_hello_t){ .version_min = 1,
				     .version_max = 1,
				     .role = PROTO_ROLE_PRIMARY,
				     .caps = PROTO_CAP_ZSTD,
				     .name = V("kdc1"),
				     .has_ident = true,
				     .realm = V("EXAMPLE.ORG") };
	memcpy(m.u.hello.history, HIST, 16);
	memset(m.u.hello.key_id, 0xab, PROTO_KEYID_LEN);
	assert_ks_ok(proto_msg_encode(&m, &b));
	ks_view_t fr = frame_of(&b);
	assert_ks_ok(proto_msg_decode(fr, &got));
	assert_true(got.u.hello.has_ident);
	assert_view_eq(got.u.hello.realm, V("EXAMPLE.ORG"));
	assert_memory_equal(got.u.hello.key_id, m.u.hello.key_id,
			    PROTO_KEYID_LEN);
	/* cut inside the key id: no identity, still a valid HELLO */
	fr.len -= 3;
	assert_ks_ok(proto_msg_decode(fr, &got));
	assert_false(got.u.hello.has_ident);
	/* a realm with a space: ignored */
	fr.len += 3;
	uint8_t *copy = malloc(fr.len);
	memcpy(copy, fr.ptr, fr.len);
	copy[fr.len - PROTO_KEYID_LEN - 2] = ' ';
	assert_ks_ok(proto_msg_decode((ks_view_t){ copy, fr.len }, &got));
	assert_false(got.u.hello.has_ident);
	free(copy);
	/* the encoder refuses what the decoder would ignore */
	m.u.hello.realm = V("BAD REALM");
	ks_buf_reset(&b);
	assert_ks_err(proto_msg_encode(&m, &b), KS_EINVAL);
	/* empty realm: unknown, still an identity */
	m.u.hello.realm = (ks_view_t){ 0 };
	assert_ks_ok(proto_msg_encode(&m, &b));
	assert_ks_ok(proto_msg_decode(frame_of(&b), &got));
	assert_true(got.u.hello.has_ident);
	assert_int_equal(got.u.hello.realm.len, 0);
	ks_buf_free(&b);
}

static void test_version_negotiate(void **state)
{
	(void)state;
	proto_hello_t a = { .version_min = 1, .version_max = 3 };
	proto_hello_t b = { .version_min = 2, .version_max = 5 };
	uint16_t v = 0;
	assert_ks_ok(proto_version_negotiate(&a, &b, &v));
	assert_int_equal(v, 3);
	assert_ks_ok(proto_version_negotiate(&b, &a, &v));
	assert_int_equal(v, 3);
	b.version_min = 4;
	v = 77;
	assert_ks_err(proto_version_negotiate(&a, &b, &v), KS_EVERSION);
	assert_int_equal(v, 77); /* untouched on failure */
	proto_hello_t ours = { .version_min = PROTO_VERSION_MIN,
			       .version_max = PROTO_VERSION_MAX };
	assert_ks_ok(proto_version_negotiate(&ours, &a, &v));
	assert_int_equal(v, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_type),
		cmocka_unit_test(test_hello_bytes),
		cmocka_unit_test(test_stream_every_split_point),
		cmocka_unit_test(test_kdb_digest_messages),
		cmocka_unit_test(test_short_and_long),
		cmocka_unit_test(test_bad_type),
		cmocka_unit_test(test_digest_messages),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_encode_refuses_invalid),
		cmocka_unit_test(test_version_negotiate),
		cmocka_unit_test(test_fetch),
		cmocka_unit_test(test_lockout),
		cmocka_unit_test(test_hello_ident),
	};
	return test_run_group(tests, NULL, NULL);
}
