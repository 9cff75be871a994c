/* SPDX-License-Identifier: MIT */
/*
 * A whole replication session in memory, as node/ will drive it: the
 * primary writes HELLO, ANSWER(SNAPSHOT), a chunked signed snapshot and
 * signed batches into one byte stream; the replica feeds that stream to the
 * frame assembler in random pieces, decodes, verifies, checks continuity,
 * applies to an in-memory record set, and must end with the primary's set.
 * Then streams with a dropped batch, a dropped chunk, a spliced chunk from
 * another snapshot and a foreign signer must each stop with their error.
 */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "proto/batch.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "proto/sign.h"
#include "helpers/test.h"

#define NREC  250
#define CHUNK 100

static const uint8_t HIST[16] = "history-0000001";

/* A record set: parallel arrays of owned strings. */
typedef struct recset {
	char *key[NREC + 64];
	char *val[NREC + 64];
	size_t n;
} recset_t;

/* A NUL-terminated copy of a view (strndup would read past the view under
 * ASan's strict string checks). */
static char *dup_view(ks_view_t v)
{
	char *p = malloc(v.len + 1);
	assert_non_null(p);
	memcpy(p, v.ptr, v.len);
	p[v.len] = 0;
	return p;
}

static ssize_t find(const recset_t *s, ks_view_t key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->key[i]) == key.len &&
		    memcmp(s->key[i], key.ptr, key.len) == 0)
			return (ssize_t)i;
	return -1;
}

static void apply(recset_t *s, const proto_op_t *op)
{
	ssize_t i = find(s, op->key);
	if (op->type == PROTO_OP_DEL) {
		if (i >= 0) {
			free(s->key[i]);
			free(s->val[i]);
			s->key[i] = s->key[s->n - 1];
			s->val[i] = s->val[s->n - 1];
			s->n--;
		}
		return;
	}
	char *v = dup_view(op->value);
	if (i >= 0) {
		free(s->val[i]);
		s->val[i] = v;
	} else {
		assert_true(s->n < NREC + 64);
		s->key[s->n] = dup_view(op->key);
		s->val[s->n++] = v;
	}
}

static void recset_free(recset_t *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->key[i]);
		free(s->val[i]);
	}
	s->n = 0;
}

/* Order-independent digest stand-in: byte-wise sum of per-record FNV-1a
 * expansions (the real one is the store's; the protocol treats it as
 * opaque bytes). */
static void digest(const recset_t *s, uint8_t out[32])
{
	memset(out, 0, 32);
	for (size_t i = 0; i < s->n; i++) {
		uint64_t h = 0xcbf29ce484222325ull;
		for (const char *p = s->key[i]; *p; p++)
			h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
		for (const char *p = s->val[i]; *p; p++)
			h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
		for (int k = 0; k < 32; k++) {
			h = (h ^ (uint64_t)k) * 0x100000001b3ull;
			out[k] = (uint8_t)(out[k] + (h >> 56));
		}
	}
}

static proto_op_t op_of(const recset_t *s, size_t i)
{
	return (proto_op_t){ PROTO_OP_PUT,
			     { (const uint8_t *)s->key[i], strlen(s->key[i]) },
			     { (const uint8_t *)s->val[i],
			       strlen(s->val[i]) } };
}

/* What the primary sends; `skip_*` make faulty streams. */
typedef struct faults {
	int drop_batch;	  /* 1 = leave out the first batch */
	int drop_chunk;	  /* 1 = leave out chunk 1 */
	int splice_chunk; /* 1 = chunk 1 from a snapshot at another seq */
	int foreign_key;  /* 1 = batches signed by an untrusted key */
} faults_t;

static void primary_stream(const recset_t *snap, proto_key_t *key,
			   proto_key_t *foreign, const faults_t *f,
			   ks_buf_t *out, recset_t *final)
{
	proto_msg_t m = { .type = PROTO_MSG_HELLO };
	m.u.hello = (proto_hello_t){ .version_min = 1,
				     .version_max = 1,
				     .role = PROTO_ROLE_PRIMARY,
				     .caps = PROTO_CAP_ZSTD,
				     .name = { (const uint8_t *)"kdc1", 4 },
				     .seq = 1000 };
	memcpy(m.u.hello.history, HIST, 16);
	assert_ks_ok(proto_msg_encode(&m, out));

	m = (proto_msg_t){ .type = PROTO_MSG_ANSWER };
	m.u.answer.version = 1;
	m.u.answer.mode = PROTO_ANSWER_SNAPSHOT;
	memcpy(m.u.answer.history, HIST, 16);
	assert_ks_ok(proto_msg_encode(&m, out));

	m = (proto_msg_t){ .type = PROTO_MSG_SNAP_BEGIN };
	memcpy(m.u.snap_begin.history, HIST, 16);
	m.u.snap_begin.seq = 1000;
	m.u.snap_begin.record_count = snap->n;
	assert_ks_ok(proto_msg_encode(&m, out));

	uint32_t chunks = 0;
	for (size_t off = 0; off < snap->n; off += CHUNK, chunks++) {
		size_t n = snap->n - off < CHUNK ? snap->n - off : CHUNK;
		proto_op_t ops[CHUNK];
		for (size_t i = 0; i < n; i++)
			ops[i] = op_of(snap, off + i);
		proto_batch_hdr_t h = { .kind = PROTO_BLOB_CHUNK,
					.first_seq = 1000,
					.last_seq = chunks,
					.commit_time_us = 1 };
		if (f->splice_chunk && chunks == 1)
			h.first_seq = 999;
		memcpy(h.history, HIST, 16);
		ks_buf_t blob = KS_BUF_INIT;
		assert_ks_ok(proto_batch_encode(&h, ops, n, key, 0, &blob));
		if (!(f->drop_chunk && chunks == 1)) {
			m = (proto_msg_t){ .type = PROTO_MSG_SNAP_CHUNK };
			m.u.blob = ks_buf_view(&blob);
			assert_ks_ok(proto_msg_encode(&m, out));
		}
		ks_buf_free(&blob);
	}
	proto_snap_end_t e = { .seq = 1000,
			       .chunk_count = chunks,
			       .record_count = snap->n };
	memcpy(e.history, HIST, 16);
	digest(snap, e.digest);
	ks_buf_t blob = KS_BUF_INIT;
	assert_ks_ok(proto_snap_end_encode(&e, key, &blob));
	m = (proto_msg_t){ .type = PROTO_MSG_SNAP_END };
	m.u.blob = ks_buf_view(&blob);
	assert_ks_ok(proto_msg_encode(&m, out));
	ks_buf_free(&blob);

	/* Two batches after the snapshot: 1001..1010 modify and delete,
	 * 1011 adds one principal.  `final` follows along. */
	for (size_t i = 0; i < snap->n; i++) {
		proto_op_t op = op_of(snap, i);
		apply(final, &op);
	}
	char *vals[10];
	proto_op_t ops[10];
	for (int i = 0; i < 10; i++) {
		if (i % 4 == 3) {
			ops[i] = (proto_op_t){ PROTO_OP_DEL,
					       { (const uint8_t *)snap->key[i],
						 strlen(snap->key[i]) },
					       { 0 } };
			vals[i] = NULL;
		} else {
			assert_true(asprintf(&vals[i], "%s\tchanged-%d",
					     snap->val[i], i) > 0);
			ops[i] = (proto_op_t){ PROTO_OP_PUT,
					       { (const uint8_t *)snap->key[i],
						 strlen(snap->key[i]) },
					       { (const uint8_t *)vals[i],
						 strlen(vals[i]) } };
		}
	}
	proto_batch_hdr_t h = { .kind = PROTO_BLOB_BATCH,
				.first_seq = 1001,
				.last_seq = 1010,
				.commit_time_us = 2 };
	memcpy(h.history, HIST, 16);
	proto_key_t *signer = f->foreign_key ? foreign : key;
	assert_ks_ok(proto_batch_encode(&h, ops, 10, signer, 0, &blob));
	if (!f->drop_batch) {
		m = (proto_msg_t){ .type = PROTO_MSG_BATCH };
		m.u.blob = ks_buf_view(&blob);
		assert_ks_ok(proto_msg_encode(&m, out));
	}
	ks_buf_reset(&blob);
	for (int i = 0; i < 10; i++)
		apply(final, &ops[i]);
	proto_op_t add = { PROTO_OP_PUT,
			   { (const uint8_t *)"Pnew@EXAMPLE.ORG", 16 },
			   { (const uint8_t *)"princ\tnew", 9 } };
	h.first_seq = h.last_seq = 1011;
	assert_ks_ok(proto_batch_encode(&h, &add, 1, signer, 0, &blob));
	m = (proto_msg_t){ .type = PROTO_MSG_BATCH };
	m.u.blob = ks_buf_view(&blob);
	assert_ks_ok(proto_msg_encode(&m, out));
	apply(final, &add);
	ks_buf_free(&blob);
	for (int i = 0; i < 10; i++)
		free(vals[i]);
}

/* The replica's side: a minimal state machine over decoded messages. */
typedef struct replica {
	const proto_trust_t *trust;
	int got_hello, got_answer, in_snapshot;
	uint16_t version;
	proto_snap_rx_t rx;
	recset_t staged, live;
	uint8_t history[16];
	uint64_t applied;
	uint64_t acks[8];
	size_t nacks;
} replica_t;

static int on_frame(ks_view_t frame, void *ctx)
{
	replica_t *r = ctx;
	proto_msg_t m;
	proto_batch_t b = { 0 };
	int ret = proto_msg_decode(frame, &m);
	if (ret != KS_EOK)
		return ret;
	switch (m.type) {
	case PROTO_MSG_HELLO: {
		proto_hello_t ours = { .version_min = PROTO_VERSION_MIN,
				       .version_max = PROTO_VERSION_MAX };
		if (r->got_hello || m.u.hello.role != PROTO_ROLE_PRIMARY)
			return KS_ESTATE;
		r->got_hello = 1;
		return proto_version_negotiate(&ours, &m.u.hello, &r->version);
	}
	case PROTO_MSG_ANSWER:
		if (!r->got_hello || r->got_answer)
			return KS_ESTATE;
		r->got_answer = 1;
		if (m.u.answer.mode != PROTO_ANSWER_SNAPSHOT ||
		    m.u.answer.version != r->version)
			return KS_ESTATE;
		return KS_EOK;
	case PROTO_MSG_SNAP_BEGIN:
		if (!r->got_answer || r->in_snapshot)
			return KS_ESTATE;
		proto_snap_rx_begin(&r->rx, &m.u.snap_begin);
		recset_free(&r->staged);
		r->in_snapshot = 1;
		return KS_EOK;
	case PROTO_MSG_SNAP_CHUNK:
		if (!r->in_snapshot)
			return KS_ESTATE;
		ret = proto_batch_open(m.u.blob, PROTO_BLOB_CHUNK, r->trust,
				       NULL, &b);
		if (ret == KS_EOK)
			ret = proto_snap_rx_chunk(&r->rx, &b.hdr);
		if (ret == KS_EOK)
			for (uint32_t i = 0; i < b.hdr.op_count; i++)
				apply(&r->staged, &b.ops[i]);
		proto_batch_deinit(&b);
		return ret;
	case PROTO_MSG_SNAP_END: {
		proto_snap_end_t e;
		uint8_t dg[32];
		if (!r->in_snapshot)
			return KS_ESTATE;
		ret = proto_snap_end_open(m.u.blob, r->trust, &e);
		if (ret == KS_EOK)
			ret = proto_snap_rx_end(&r->rx, &e);
		if (ret != KS_EOK)
			return ret;
		digest(&r->staged, dg);
		if (memcmp(dg, e.digest, 32) != 0)
			return KS_EDIGEST;
		/* Promote: the staged set becomes live in one step. */
		recset_free(&r->live);
		r->live = r->staged;
		r->staged.n = 0;
		memcpy(r->history, e.history, 16);
		r->applied = e.seq;
		r->in_snapshot = 0;
		r->acks[r->nacks++] = r->applied;
		return KS_EOK;
	}
	case PROTO_MSG_BATCH:
		if (!r->got_answer || r->in_snapshot)
			return KS_ESTATE;
		ret = proto_batch_open(m.u.blob, PROTO_BLOB_BATCH, r->trust,
				       NULL, &b);
		if (ret == KS_EOK)
			ret = proto_batch_check_next(r->history, r->applied,
						     &b.hdr);
		if (ret == KS_EOK) {
			for (uint32_t i = 0; i < b.hdr.op_count; i++)
				apply(&r->live, &b.ops[i]);
			r->applied = b.hdr.last_seq;
			r->acks[r->nacks++] = r->applied;
		}
		proto_batch_deinit(&b);
		return ret;
	default:
		return KS_ESTATE;
	}
}

/* Run a replica over the stream in random pieces; return the first error. */
static int run_replica(const ks_buf_t *stream, const proto_trust_t *trust,
		       replica_t *r, uint64_t *seed)
{
	proto_frame_t f;
	int ret = KS_EOK;
	*r = (replica_t){ .trust = trust };
	proto_frame_init(&f, 0);
	size_t off = 0;
	while (off < stream->len && ret == KS_EOK) {
		size_t n = 1 + test_rand(seed) % 3000;
		if (n > stream->len - off)
			n = stream->len - off;
		ret = proto_frame_feed(&f, stream->data + off, n, on_frame, r,
				       NULL);
		off += n;
	}
	if (ret == KS_EOK && !proto_frame_idle(&f))
		ret = KS_ETRUNC;
	proto_frame_deinit(&f);
	return ret;
}

static void make_snapshot(recset_t *s)
{
	for (int i = 0; i < NREC; i++) {
		assert_true(asprintf(&s->key[i], "Puser%04d@EXAMPLE.ORG", i) >
			    0);
		assert_true(
			asprintf(
				&s->val[i],
				"princ\t38\t20\t4\t2\t0\tuser%04d@EXAMPLE.ORG\t0\t36000\t604800\t0\t0\t0\t0\t0\t1\t1\t18\t32\t%08x%08x",
				i, i * 2654435761u, i ^ 0x5bd1e995u) > 0);
	}
	s->n = NREC;
}

static void test_session(void **state)
{
	(void)state;
	proto_key_t *key = NULL, *foreign = NULL;
	proto_trust_t *trust = NULL;
	recset_t snap = { 0 };
	uint64_t seed = test_seed();
	assert_ks_ok(proto_key_generate(&key));
	assert_ks_ok(proto_key_generate(&foreign));
	assert_ks_ok(proto_trust_new(&trust));
	assert_ks_ok(proto_trust_add(trust, key));
	make_snapshot(&snap);

	/* The good stream, several random chunkings. */
	for (int round = 0; round < 5; round++) {
		ks_buf_t stream = KS_BUF_INIT;
		recset_t final = { 0 };
		replica_t r;
		faults_t none = { 0 };
		primary_stream(&snap, key, foreign, &none, &stream, &final);
		assert_ks_ok(run_replica(&stream, trust, &r, &seed));
		assert_true(r.applied == 1011);
		assert_int_equal(r.nacks, 3);
		assert_true(r.acks[0] == 1000 && r.acks[1] == 1010 &&
			    r.acks[2] == 1011);
		/* Same set as the primary's. */
		assert_int_equal(r.live.n, final.n);
		for (size_t i = 0; i < final.n; i++) {
			ks_view_t k = { (const uint8_t *) final.key[i],
					strlen(final.key[i]) };
			ssize_t j = find(&r.live, k);
			assert_true(j >= 0);
			assert_string_equal(r.live.val[j], final.val[i]);
		}
		recset_free(&r.live);
		recset_free(&r.staged);
		recset_free(&final);
		ks_buf_free(&stream);
	}

	/* Faulty streams stop with their own error. */
	struct {
		faults_t f;
		int want;
		uint64_t applied; /* position reached before the stop */
	} cases[] = {
		{ { .drop_batch = 1 }, KS_EGAP, 1000 },
		{ { .drop_chunk = 1 }, KS_EGAP, 0 },
		{ { .splice_chunk = 1 }, KS_EHISTORY, 0 },
		{ { .foreign_key = 1 }, KS_EUNTRUSTED, 1000 },
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		ks_buf_t stream = KS_BUF_INIT;
		recset_t final = { 0 };
		replica_t r;
		primary_stream(&snap, key, foreign, &cases[c].f, &stream,
			       &final);
		int ret = run_replica(&stream, trust, &r, &seed);
		if (ret != cases[c].want)
			fail_msg("case %zu: got %s want %s", c, ks_errname(ret),
				 ks_errname(cases[c].want));
		assert_true(r.applied == cases[c].applied);
		recset_free(&r.live);
		recset_free(&r.staged);
		recset_free(&final);
		ks_buf_free(&stream);
	}

	/* A stream cut anywhere leaves the assembler mid-frame or the
	 * session incomplete, never a crash: try a few cut points. */
	{
		ks_buf_t stream = KS_BUF_INIT;
		recset_t final = { 0 };
		faults_t none = { 0 };
		primary_stream(&snap, key, foreign, &none, &stream, &final);
		for (int k = 0; k < 20; k++) {
			ks_buf_t cut = KS_BUF_INIT;
			size_t at = test_rand(&seed) % stream.len;
			assert_ks_ok(ks_buf_append(&cut, stream.data, at));
			replica_t r;
			int ret = run_replica(&cut, trust, &r, &seed);
			assert_true(ret == KS_EOK || ret == KS_ETRUNC);
			assert_true(r.applied <= 1011);
			recset_free(&r.live);
			recset_free(&r.staged);
			ks_buf_free(&cut);
		}
		recset_free(&final);
		ks_buf_free(&stream);
	}

	recset_free(&snap);
	proto_trust_free(trust);
	proto_key_free(key);
	proto_key_free(foreign);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_session),
	};
	return test_run_group(tests, NULL, NULL);
}
