/* SPDX-License-Identifier: MIT */
/*
 * The relay path of a cascade (PROTOCOL.md §3.13) on a real LMDB store and
 * real Ed25519 keys: a replica keeps each applied batch's signed blob as it
 * came (store_apply with a blob) and serves it back byte for byte
 * (store_relay_get); the end replica verifies the primary's signature with
 * its trusted keys, so a blob the middle node changed (one body byte, or
 * re-signed with the middle's own key) is rejected and nothing of it is
 * opened.  Kept blobs follow the log: a rewind drops those that end after
 * its seq, a trim those that start before the oldest entry, a full copy
 * all of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/test.h"

#include "common/errors.h"
#include "proto/batch.h"
#include "proto/sign.h"
#include "store/store.h"

static const uint8_t H[16] = { 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7 };

typedef struct fixture {
	proto_key_t *primary, *middle;
	proto_trust_t *trust; /* the end replica's: the primary's key only */
	char *dir;
	store_t *s;
} fixture_t;

static store_t *open_store(const char *dir, uint64_t retain)
{
	store_t *s = NULL;
	store_opts_t o = { .nosync = true, .retain_count = retain };
	assert_ks_ok(store_open(dir, &o, &s));
	return s;
}

static int setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));
	uint8_t zero[32] = { 0 };

	assert_non_null(f);
	assert_ks_ok(proto_key_generate(&f->primary));
	assert_ks_ok(proto_key_generate(&f->middle));
	assert_ks_ok(proto_trust_new(&f->trust));
	assert_ks_ok(proto_trust_add(f->trust, f->primary));
	f->dir = test_mkdtemp("relay");
	f->s = open_store(f->dir, 0);
	/* a replica with a position: an empty snapshot at (H, 0) */
	assert_ks_ok(store_stage_begin(f->s));
	assert_ks_ok(store_stage_install(f->s, H, 0, zero));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	store_close(f->s);
	proto_key_free(f->primary);
	proto_key_free(f->middle);
	proto_trust_free(f->trust);
	free(f->dir);
	free(f);
	return 0;
}

/* The primary's signed batch [first, first + n) putting KEY<seq> = VAL. */
static void primary_batch(const fixture_t *f, uint64_t first, size_t n,
			  ks_buf_t *blob)
{
	proto_op_t ops[8];
	char keys[8][16];
	proto_batch_hdr_t h = { .kind = PROTO_BLOB_BATCH,
				.first_seq = first,
				.last_seq = first + n - 1,
				.commit_time_us = 1 };

	assert_true(n <= 8);
	memcpy(h.history, H, 16);
	for (size_t i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "Pk%llu",
			 (unsigned long long)(first + i));
		ops[i] = (proto_op_t){
			.type = PROTO_OP_PUT,
			.key = { (const uint8_t *)keys[i], strlen(keys[i]) },
			.value = { (const uint8_t *)"value\n", 6 },
		};
	}
	assert_ks_ok(proto_batch_encode(&h, ops, n, f->primary, 0, blob));
}

/* What a replica does with a batch it received: open it with its trusted
 * keys, apply it keeping the blob. */
static void replica_apply(fixture_t *f, ks_view_t blob)
{
	proto_batch_t b = { 0 };
	store_change_t ch[8];

	assert_ks_ok(
		proto_batch_open(blob, PROTO_BLOB_BATCH, f->trust, NULL, &b));
	for (uint32_t i = 0; i < b.hdr.op_count; i++)
		ch[i] = (store_change_t){ .op = STORE_PUT,
					  .key = b.ops[i].key,
					  .value = b.ops[i].value };
	store_batch_t sb = { .first_seq = b.hdr.first_seq,
			     .commit_time_us = b.hdr.commit_time_us,
			     .ch = ch,
			     .n = b.hdr.op_count,
			     .blob = blob };
	memcpy(sb.history, b.hdr.history, 16);
	assert_ks_ok(store_apply(f->s, &sb));
	proto_batch_deinit(&b);
}

/* The kept blob starting at \p first, copied (NULL view: none). */
static int kept(fixture_t *f, uint64_t first, ks_buf_t *out, uint64_t *last)
{
	store_txn_t *t = NULL;
	ks_view_t v;
	int ret;

	assert_ks_ok(store_read_begin(f->s, &t));
	ret = store_relay_get(t, first, &v, last);
	if (ret == KS_EOK) {
		ks_buf_reset(out);
		assert_ks_ok(ks_buf_append(out, v.ptr, v.len));
	}
	store_read_end(t);
	return ret;
}

static void test_relayed_unchanged_and_verified(void **state)
{
	fixture_t *f = *state;
	ks_buf_t b1 = KS_BUF_INIT, b2 = KS_BUF_INIT, got = KS_BUF_INIT;
	uint64_t last = 0;
	proto_batch_t b = { 0 };

	primary_batch(f, 1, 2, &b1);
	primary_batch(f, 3, 3, &b2);
	replica_apply(f, ks_buf_view(&b1));
	replica_apply(f, ks_buf_view(&b2));
	/* served byte for byte, with its range */
	assert_ks_ok(kept(f, 1, &got, &last));
	assert_int_equal(last, 2);
	assert_int_equal(got.len, b1.len);
	assert_memory_equal(got.data, b1.data, b1.len);
	assert_ks_ok(kept(f, 3, &got, &last));
	assert_int_equal(last, 5);
	assert_memory_equal(got.data, b2.data, b2.len);
	/* only where a batch starts */
	assert_int_equal(kept(f, 2, &got, &last), KS_ENOENT);
	assert_int_equal(kept(f, 6, &got, &last), KS_ENOENT);
	/* and it kept them across a reopen */
	store_close(f->s);
	f->s = open_store(f->dir, 0);
	assert_ks_ok(kept(f, 3, &got, &last));
	/* the end replica opens what it relays with the primary's key */
	assert_ks_ok(proto_batch_open(ks_buf_view(&got), PROTO_BLOB_BATCH,
				      f->trust, NULL, &b));
	assert_int_equal(b.hdr.first_seq, 3);
	assert_int_equal(b.hdr.op_count, 3);
	proto_batch_deinit(&b);
	ks_buf_free(&b1);
	ks_buf_free(&b2);
	ks_buf_free(&got);
}

static void test_tampered_by_middle_rejected(void **state)
{
	fixture_t *f = *state;
	ks_buf_t blob = KS_BUF_INIT, got = KS_BUF_INIT, forged = KS_BUF_INIT;
	proto_batch_hdr_t h;
	proto_batch_t b = { 0 };
	uint64_t last;

	primary_batch(f, 1, 3, &blob);
	replica_apply(f, ks_buf_view(&blob));
	assert_ks_ok(kept(f, 1, &got, &last));
	/* one byte of the compressed body changed by the middle node */
	got.data[PROTO_BATCH_HDR_LEN + 2] ^= 0x01;
	assert_int_equal(proto_batch_open(ks_buf_view(&got), PROTO_BLOB_BATCH,
					  f->trust, NULL, &b),
			 KS_ESIG);
	assert_null(b.ops);
	/* a header field changed (the commit time): the same */
	assert_ks_ok(kept(f, 1, &got, &last));
	got.data[59] ^= 0x01; /* low byte of the commit time */
	assert_int_equal(proto_batch_open(ks_buf_view(&got), PROTO_BLOB_BATCH,
					  f->trust, NULL, &b),
			 KS_ESIG);
	/* the middle re-signs its own version: not a key the end trusts */
	assert_ks_ok(proto_batch_peek(ks_buf_view(&blob), &h));
	ks_view_t zbody = { blob.data + PROTO_BATCH_HDR_LEN, h.body_len };
	assert_ks_ok(proto_batch_sign(&h, zbody, f->middle, &forged));
	assert_int_equal(proto_batch_open(ks_buf_view(&forged),
					  PROTO_BLOB_BATCH, f->trust, NULL, &b),
			 KS_EUNTRUSTED);
	ks_buf_free(&blob);
	ks_buf_free(&got);
	ks_buf_free(&forged);
}

static void test_kept_blobs_follow_the_log(void **state)
{
	fixture_t *f = *state;
	ks_buf_t blob = KS_BUF_INIT, got = KS_BUF_INIT;
	uint64_t last;
	uint8_t zero[32] = { 0 };

	for (uint64_t first = 1; first <= 10; first += 2) {
		primary_batch(f, first, 2, &blob);
		replica_apply(f, ks_buf_view(&blob));
		ks_buf_reset(&blob);
	}
	/* a rewind to 6 drops the batches that end after it (5..6 stays) */
	assert_ks_ok(store_rewind(f->s, 6, NULL, 0));
	assert_ks_ok(kept(f, 5, &got, &last));
	assert_int_equal(kept(f, 7, &got, &last), KS_ENOENT);
	/* a trim to 2 entries (5..6): batches starting before 5 go */
	store_close(f->s);
	f->s = open_store(f->dir, 2);
	assert_ks_ok(store_log_trim(f->s, UINT64_MAX));
	assert_int_equal(kept(f, 3, &got, &last), KS_ENOENT);
	assert_ks_ok(kept(f, 5, &got, &last));
	/* a full copy replaces the log: nothing kept */
	assert_ks_ok(store_stage_begin(f->s));
	assert_ks_ok(store_stage_install(f->s, H, 40, zero));
	assert_int_equal(kept(f, 5, &got, &last), KS_ENOENT);
	/* a batch without a blob (a primary's apply path) keeps nothing */
	store_change_t c = { .op = STORE_PUT,
			     .key = { (const uint8_t *)"Px", 2 },
			     .value = { (const uint8_t *)"v\n", 2 } };
	store_batch_t sb = { .first_seq = 41, .ch = &c, .n = 1 };
	memcpy(sb.history, H, 16);
	assert_ks_ok(store_apply(f->s, &sb));
	assert_int_equal(kept(f, 41, &got, &last), KS_ENOENT);
	ks_buf_free(&blob);
	ks_buf_free(&got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_relayed_unchanged_and_verified, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_tampered_by_middle_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kept_blobs_follow_the_log,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
