/* SPDX-License-Identifier: MIT */
/*
 * Frame assembler behind frame.h: collects the 4-byte length prefix, checks
 * it against the limit, then delivers whole frames, zero-copy when a frame
 * lies wholly inside the caller's chunk and from an owned buffer otherwise.
 */
#include "proto/frame.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/wire.h"

/* A partial-frame buffer larger than this is released after delivery, so an
 * idle connection does not pin a 16 MiB allocation. */
#define KEEP_CAP (256u * 1024u)

void proto_frame_init(proto_frame_t *f, uint32_t max_frame)
{
	if (max_frame == 0)
		max_frame = PROTO_FRAME_MAX_DEFAULT;
	if (max_frame > PROTO_FRAME_MAX_HARD)
		max_frame = PROTO_FRAME_MAX_HARD;
	*f = (proto_frame_t){ .max_frame = max_frame };
}

void proto_frame_deinit(proto_frame_t *f)
{
	free(f->buf);
	f->buf = NULL;
	f->cap = 0;
	f->hdr_have = 0;
	f->have = 0;
	f->need = 0;
}

int proto_frame_idle(const proto_frame_t *f)
{
	return f->hdr_have == 0;
}

int proto_frame_put_prefix(ks_buf_t *out, size_t n)
{
	if (n == 0 || n > PROTO_FRAME_MAX_HARD)
		return KS_ETOOBIG;
	return ks_buf_append_u32(out, (uint32_t)n);
}

/* The prefix is complete: validate N before allocating for it. */
static int start_frame(proto_frame_t *f)
{
	uint32_t n = ks_get_u32be(f->hdr);
	if (n == 0) {
		ks_log_info(PROTO, "zero-length frame");
		return KS_EMALF;
	}
	if (n > f->max_frame) {
		ks_log_info(PROTO, "frame of %u bytes exceeds limit %u", n,
			    f->max_frame);
		return KS_ETOOBIG;
	}
	f->need = n;
	f->have = 0;
	return KS_EOK;
}

/* Make room for the whole frame being collected. */
static int reserve(proto_frame_t *f)
{
	if (f->cap >= f->need)
		return KS_EOK;
	uint8_t *p = realloc(f->buf, f->need);
	if (p == NULL)
		return KS_ENOMEM;
	f->buf = p;
	f->cap = f->need;
	return KS_EOK;
}

/* Forget the delivered frame; trim a large buffer. */
static void finish_frame(proto_frame_t *f)
{
	f->hdr_have = 0;
	f->need = 0;
	f->have = 0;
	if (f->cap > KEEP_CAP) {
		free(f->buf);
		f->buf = NULL;
		f->cap = 0;
	}
}

int proto_frame_feed(proto_frame_t *f, const uint8_t *bytes, size_t len,
		     proto_frame_cb cb, void *ctx, size_t *consumed)
{
	size_t off = 0;
	int ret = f->err;

	if (ret != KS_EOK)
		goto out;
	while (off < len) {
		if (f->hdr_have < PROTO_FRAME_PREFIX) {
			size_t take = PROTO_FRAME_PREFIX - f->hdr_have;
			if (take > len - off)
				take = len - off;
			memcpy(f->hdr + f->hdr_have, bytes + off, take);
			f->hdr_have = (uint8_t)(f->hdr_have + take);
			off += take;
			if (f->hdr_have < PROTO_FRAME_PREFIX)
				break;
			ret = start_frame(f);
			if (ret != KS_EOK) {
				f->err = ret;
				goto out;
			}
		}
		ks_view_t frame;
		size_t left = len - off;
		if (f->have == 0 && left >= f->need) {
			/* Whole frame inside the chunk: no copy. */
			frame = (ks_view_t){ .ptr = bytes + off,
					     .len = f->need };
			off += f->need;
		} else {
			ret = reserve(f);
			if (ret != KS_EOK)
				goto out; /* not sticky: caller may retry */
			size_t take = f->need - f->have;
			if (take > left)
				take = left;
			memcpy(f->buf + f->have, bytes + off, take);
			f->have += (uint32_t)take;
			off += take;
			if (f->have < f->need)
				break;
			frame = (ks_view_t){ .ptr = f->buf, .len = f->need };
		}
		ret = cb(frame, ctx);
		finish_frame(f);
		if (ret != 0)
			goto out;
	}
	ret = KS_EOK;
out:
	if (consumed)
		*consumed = off;
	return ret;
}
