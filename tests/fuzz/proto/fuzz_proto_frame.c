/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the frame assembler fed an arbitrary stream in
 * arbitrary chunks, each delivered frame then decoded as a message.
 * Input: byte 0 picks the frame limit, byte 1 seeds the chunk sizes, the
 * rest is the stream.  Checks that every delivered frame respects the
 * limit and that consumed counts add up.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/frame.h"
#include "proto/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct state {
	uint32_t max;
	size_t frames, bytes;
} state_t;

static int on_frame(ks_view_t frame, void *ctx)
{
	state_t *st = ctx;
	proto_msg_t m;
	if (frame.len == 0 || frame.len > st->max)
		abort();
	st->frames++;
	st->bytes += PROTO_FRAME_PREFIX + frame.len;
	(void)proto_msg_decode(frame, &m);
	/* Stop now and then to exercise the resume path. */
	return (st->frames % 5 == 4) ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	static const uint32_t limits[] = { 1, 16, 300, 4096, 0 };
	state_t st = { 0 };
	proto_frame_t f;
	proto_frame_init(&f, limits[data[0] % 5]);
	st.max = f.max_frame;
	uint32_t rnd = data[1] | 1u;
	const uint8_t *p = data + 2;
	size_t left = size - 2, fed = 0;
	while (left > 0) {
		rnd = rnd * 1103515245u + 12345u;
		size_t n = 1 + (rnd >> 16) % 64;
		if (n > left)
			n = left;
		size_t used = 0;
		int ret = proto_frame_feed(&f, p, n, on_frame, &st, &used);
		if (used > n)
			abort();
		p += used;
		left -= used;
		fed += used;
		if (ret < 0)
			break; /* sticky error: the connection would close */
	}
	/* Bytes of whole frames never exceed what was consumed. */
	if (st.bytes > fed)
		abort();
	proto_frame_deinit(&f);
	return 0;
}
