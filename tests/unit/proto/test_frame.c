/* SPDX-License-Identifier: MIT */
/* Frame assembler: every split point, byte-by-byte, random chunkings, limits
 * checked from the prefix before allocating, stop-and-resume, sticky errors. */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/wire.h"
#include "proto/frame.h"
#include "helpers/test.h"

#define MAX_FRAMES 16

/* What the callback saw: copies of every delivered frame. */
typedef struct seen {
	ks_buf_t frames[MAX_FRAMES];
	size_t n;
	size_t stop_after; /* return 1 after this many frames (0 = never) */
} seen_t;

static int collect(ks_view_t frame, void *ctx)
{
	seen_t *s = ctx;
	assert_true(s->n < MAX_FRAMES);
	assert_ks_ok(ks_buf_append(&s->frames[s->n], frame.ptr, frame.len));
	s->n++;
	if (s->stop_after && s->n == s->stop_after)
		return 1;
	return 0;
}

static void seen_free(seen_t *s)
{
	for (size_t i = 0; i < MAX_FRAMES; i++)
		ks_buf_free(&s->frames[i]);
	s->n = 0;
}

/* A stream of frames of the given body sizes, bodies patterned by index. */
static void make_stream(ks_buf_t *stream, ks_buf_t *bodies, const size_t *sizes,
			size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ks_buf_reset(&bodies[i]);
		for (size_t j = 0; j < sizes[i]; j++)
			assert_ks_ok(ks_buf_append_u8(
				&bodies[i], (uint8_t)(i * 31 + j * 7 + 1)));
		assert_ks_ok(proto_frame_put_prefix(stream, sizes[i]));
		assert_ks_ok(
			ks_buf_append(stream, bodies[i].data, bodies[i].len));
	}
}

static void check_seen(const seen_t *s, const ks_buf_t *bodies, size_t n)
{
	assert_int_equal(s->n, n);
	for (size_t i = 0; i < n; i++)
		test_assert_mem_eq(s->frames[i].data, s->frames[i].len,
				   bodies[i].data, bodies[i].len);
}

static const size_t sizes[] = { 1, 5, 300, 2, 4099, 17 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static void test_every_split_point(void **state)
{
	(void)state;
	ks_buf_t stream = KS_BUF_INIT, bodies[NSIZES] = { 0 };
	make_stream(&stream, bodies, sizes, NSIZES);

	for (size_t cut = 0; cut <= stream.len; cut++) {
		proto_frame_t f;
		seen_t s = { 0 };
		size_t used = 99;
		proto_frame_init(&f, 0);
		assert_ks_ok(proto_frame_feed(&f, stream.data, cut, collect, &s,
					      &used));
		assert_int_equal(used, cut);
		assert_ks_ok(proto_frame_feed(&f, stream.data + cut,
					      stream.len - cut, collect, &s,
					      &used));
		assert_int_equal(used, stream.len - cut);
		check_seen(&s, bodies, NSIZES);
		assert_true(proto_frame_idle(&f));
		proto_frame_deinit(&f);
		seen_free(&s);
	}
	/* Three pieces: every pair of cut points over the first frames. */
	for (size_t a = 0; a < 320; a++) {
		for (size_t b = a; b < 330; b += 3) {
			proto_frame_t f;
			seen_t s = { 0 };
			proto_frame_init(&f, 0);
			assert_ks_ok(proto_frame_feed(&f, stream.data, a,
						      collect, &s, NULL));
			assert_ks_ok(proto_frame_feed(
				&f, stream.data + a, b - a, collect, &s, NULL));
			assert_ks_ok(proto_frame_feed(&f, stream.data + b,
						      stream.len - b, collect,
						      &s, NULL));
			check_seen(&s, bodies, NSIZES);
			proto_frame_deinit(&f);
			seen_free(&s);
		}
	}
	for (size_t i = 0; i < NSIZES; i++)
		ks_buf_free(&bodies[i]);
	ks_buf_free(&stream);
}

static void test_byte_by_byte_and_random(void **state)
{
	(void)state;
	ks_buf_t stream = KS_BUF_INIT, bodies[NSIZES] = { 0 };
	make_stream(&stream, bodies, sizes, NSIZES);
	proto_frame_t f;
	seen_t s = { 0 };

	proto_frame_init(&f, 0);
	size_t boundary = 0, next = 0;
	for (size_t i = 0; i < stream.len; i++) {
		assert_ks_ok(proto_frame_feed(&f, stream.data + i, 1, collect,
					      &s, NULL));
		if (i + 1 == boundary + PROTO_FRAME_PREFIX + sizes[next]) {
			boundary = i + 1;
			next++;
		}
		/* Idle exactly at frame boundaries; one frame per boundary. */
		assert_int_equal(proto_frame_idle(&f), boundary == i + 1);
		assert_int_equal(s.n, next);
	}
	check_seen(&s, bodies, NSIZES);
	proto_frame_deinit(&f);
	seen_free(&s);

	uint64_t seed = test_seed();
	for (int round = 0; round < 200; round++) {
		proto_frame_init(&f, 0);
		size_t off = 0;
		while (off < stream.len) {
			size_t n = 1 + test_rand(&seed) % 700;
			if (n > stream.len - off)
				n = stream.len - off;
			assert_ks_ok(proto_frame_feed(&f, stream.data + off, n,
						      collect, &s, NULL));
			off += n;
		}
		check_seen(&s, bodies, NSIZES);
		proto_frame_deinit(&f);
		seen_free(&s);
	}
	for (size_t i = 0; i < NSIZES; i++)
		ks_buf_free(&bodies[i]);
	ks_buf_free(&stream);
}

static void test_oversize_before_alloc(void **state)
{
	(void)state;
	proto_frame_t f;
	seen_t s = { 0 };
	uint8_t pfx[4];
	size_t used = 0;

	proto_frame_init(&f, 1000);
	/* Exactly the limit is fine. */
	ks_buf_t ok = KS_BUF_INIT, okb[1] = { 0 };
	size_t sz[1] = { 1000 };
	make_stream(&ok, okb, sz, 1);
	assert_ks_ok(proto_frame_feed(&f, ok.data, ok.len, collect, &s, NULL));
	assert_int_equal(s.n, 1);
	seen_free(&s);

	/* One more is refused from the prefix alone: nothing allocated (the
	 * first frame was delivered zero-copy), nothing delivered. */
	ks_put_u32be(pfx, 1001);
	assert_null(f.buf);
	assert_ks_err(proto_frame_feed(&f, pfx, 3, collect, &s, &used), KS_EOK);
	assert_int_equal(used, 3);
	assert_ks_err(proto_frame_feed(&f, pfx + 3, 1, collect, &s, &used),
		      KS_ETOOBIG);
	assert_null(f.buf);
	assert_int_equal(s.n, 0);
	/* Sticky: more input is refused with the same code. */
	assert_ks_err(proto_frame_feed(&f, ok.data, ok.len, collect, &s, &used),
		      KS_ETOOBIG);
	assert_int_equal(used, 0);
	assert_int_equal(s.n, 0);
	proto_frame_deinit(&f);

	/* A 4 GiB announcement with the default limit. */
	proto_frame_init(&f, 0);
	memset(pfx, 0xff, sizeof(pfx));
	assert_ks_err(proto_frame_feed(&f, pfx, 4, collect, &s, NULL),
		      KS_ETOOBIG);
	assert_null(f.buf);
	proto_frame_deinit(&f);

	/* The configured limit is clamped to the hard ceiling. */
	proto_frame_init(&f, UINT32_MAX);
	ks_put_u32be(pfx, PROTO_FRAME_MAX_HARD + 1);
	assert_ks_err(proto_frame_feed(&f, pfx, 4, collect, &s, NULL),
		      KS_ETOOBIG);
	proto_frame_deinit(&f);

	assert_ks_err(proto_frame_put_prefix(&ok, 0), KS_ETOOBIG);
	assert_ks_err(proto_frame_put_prefix(&ok, PROTO_FRAME_MAX_HARD + 1u),
		      KS_ETOOBIG);
	ks_buf_free(&okb[0]);
	ks_buf_free(&ok);
}

static void test_zero_length(void **state)
{
	(void)state;
	proto_frame_t f;
	seen_t s = { 0 };
	const uint8_t zero[6] = { 0, 0, 0, 0, 1, 2 };
	size_t used = 0;

	proto_frame_init(&f, 0);
	assert_ks_err(
		proto_frame_feed(&f, zero, sizeof(zero), collect, &s, &used),
		KS_EMALF);
	assert_int_equal(used, 4);
	assert_int_equal(s.n, 0);
	proto_frame_deinit(&f);
}

static void test_stop_and_resume(void **state)
{
	(void)state;
	ks_buf_t stream = KS_BUF_INIT, bodies[NSIZES] = { 0 };
	make_stream(&stream, bodies, sizes, NSIZES);
	proto_frame_t f;
	seen_t s = { .stop_after = 2 };
	size_t used = 0;

	proto_frame_init(&f, 0);
	/* Start with a partial first frame so the second comes from the
	 * buffer path and the stop happens on both paths over the loop. */
	assert_ks_ok(proto_frame_feed(&f, stream.data, 3, collect, &s, &used));
	size_t off = used;
	int ret = proto_frame_feed(&f, stream.data + off, stream.len - off,
				   collect, &s, &used);
	assert_int_equal(ret, 1);
	assert_int_equal(s.n, 2);
	off += used;
	/* Exactly the first two frames were consumed. */
	assert_int_equal(off, 4 + sizes[0] + 4 + sizes[1]);
	assert_true(proto_frame_idle(&f));
	s.stop_after = 0;
	assert_ks_ok(proto_frame_feed(&f, stream.data + off, stream.len - off,
				      collect, &s, &used));
	check_seen(&s, bodies, NSIZES);
	proto_frame_deinit(&f);
	seen_free(&s);
	for (size_t i = 0; i < NSIZES; i++)
		ks_buf_free(&bodies[i]);
	ks_buf_free(&stream);
}

static void test_truncated_stream_not_idle(void **state)
{
	(void)state;
	ks_buf_t stream = KS_BUF_INIT, bodies[NSIZES] = { 0 };
	make_stream(&stream, bodies, sizes, NSIZES);
	proto_frame_t f;
	seen_t s = { 0 };

	proto_frame_init(&f, 0);
	assert_true(proto_frame_idle(&f));
	assert_ks_ok(proto_frame_feed(&f, stream.data, stream.len - 1, collect,
				      &s, NULL));
	assert_int_equal(s.n, NSIZES - 1);
	assert_false(proto_frame_idle(&f));
	/* The partial frame's buffer is released by deinit (ASan checks). */
	proto_frame_deinit(&f);
	seen_free(&s);
	for (size_t i = 0; i < NSIZES; i++)
		ks_buf_free(&bodies[i]);
	ks_buf_free(&stream);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_split_point),
		cmocka_unit_test(test_byte_by_byte_and_random),
		cmocka_unit_test(test_oversize_before_alloc),
		cmocka_unit_test(test_zero_length),
		cmocka_unit_test(test_stop_and_resume),
		cmocka_unit_test(test_truncated_stream_not_idle),
	};
	return test_run_group(tests, NULL, NULL);
}
