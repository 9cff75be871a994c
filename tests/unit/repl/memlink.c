/* SPDX-License-Identifier: MIT */
/*
 * In-memory links (memlink.h): node/repl/link.h implemented with a frame
 * queue per direction, for in-process engine tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/wire.h"
#include "proto/frame.h"
#include "memlink.h"

static size_t waiting_bytes(const memlink_end_t *e)
{
	return e->q.len - e->q_off;
}

static int ml_send(void *io, const void *p, size_t n)
{
	memlink_end_t *e = io;
	int ret;

	if (e->ml->closing)
		return KS_ESTATE;
	if (e->q_off == e->q.len) {
		ks_buf_reset(&e->q);
		e->q_off = 0;
	}
	ret = ks_buf_append_u32(&e->q, (uint32_t)n);
	if (ret == KS_EOK)
		ret = ks_buf_append(&e->q, p, n);
	if (ret != KS_EOK)
		return ret;
	e->out += n;
	if (waiting_bytes(e) > e->q_max)
		e->q_max = waiting_bytes(e);
	return KS_EOK;
}

static bool ml_congested(void *io)
{
	memlink_end_t *e = io;

	if (waiting_bytes(e) > e->ml->limit)
		e->congested = true;
	return e->congested;
}

static void ml_pause(void *io, bool pause)
{
	memlink_end_t *e = io;

	if (pause && !e->paused)
		e->pauses++;
	e->paused = pause;
}

static void ml_close(void *io, int err, const char *reason)
{
	memlink_end_t *e = io;
	memlink_t *ml = e->ml;

	if (ml->closing)
		return;
	ml->closing = true;
	ml->err = err;
	ml->closer = e == &ml->end[0] ? 0 : 1;
	snprintf(ml->reason, sizeof(ml->reason), "%s", reason);
}

static void ml_bytes(void *io, uint64_t *in, uint64_t *out)
{
	memlink_end_t *e = io;

	*in = e->in;
	*out = e->out;
}

static const node_repl_io_t memlink_io = {
	.send = ml_send,
	.congested = ml_congested,
	.pause = ml_pause,
	.close = ml_close,
	.bytes = ml_bytes,
};

memlink_t *memlink_up(node_repl_t *a, const char *a_peer, node_repl_t *b,
		      const char *b_peer, size_t limit)
{
	memlink_t *ml = calloc(1, sizeof(*ml));

	if (ml == NULL)
		return NULL;
	ml->limit = limit;
	for (int i = 0; i < 2; i++) {
		ml->end[i].ml = ml;
		ml->end[i].q = (ks_buf_t)KS_BUF_INIT;
		proto_frame_init(&ml->end[i].framer, 0);
	}
	ml->end[0].r = a;
	ml->end[1].r = b;
	/* each engine is told the name of the other end */
	ml->end[0].link =
		node_repl_link_up(a, &memlink_io, &ml->end[0], a_peer);
	ml->end[1].link =
		node_repl_link_up(b, &memlink_io, &ml->end[1], b_peer);
	return ml;
}

void memlink_drop(memlink_t *ml, int from, int err, const char *reason)
{
	ml_close(&ml->end[from], err, reason);
}

size_t memlink_waiting(const memlink_t *ml, int from)
{
	const memlink_end_t *e = &ml->end[from];
	size_t n = 0;

	for (size_t off = e->q_off; off < e->q.len;
	     off += 4 + ks_get_u32be(e->q.data + off))
		n++;
	return n;
}

static int hand_up(ks_view_t frame, void *arg)
{
	memlink_end_t *d = arg;

	d->ml->frames++;
	if (d->link == NULL || d->ml->closing)
		return KS_EOK; /* no frame after a close */
	return node_repl_link_frame(d->link, frame);
}

/* One send's bytes from end \p from to the other's frame assembler, if
 * they can move. */
static bool move_one(memlink_t *ml, int from)
{
	memlink_end_t *s = &ml->end[from], *d = &ml->end[1 - from];
	ks_buf_t f = KS_BUF_INIT;
	bool keep = true;
	int ret;

	if (ml->closing || d->paused || s->q_off == s->q.len)
		return false;
	uint32_t n = ks_get_u32be(s->q.data + s->q_off);
	if (ks_buf_append(&f, s->q.data + s->q_off + 4, n) != KS_EOK)
		return false;
	s->q_off += 4 + n;
	d->in += n;
	if (ml->mangle != NULL)
		keep = ml->mangle(ml, from, &f, ml->mangle_arg);
	if (keep) {
		ret = proto_frame_feed(&d->framer, f.data, f.len, hand_up, d,
				       NULL);
		if (ret != KS_EOK) /* as node_conn: the frame's error closes */
			ml_close(d, ret, ks_strerror(ret));
	}
	ks_buf_free(&f);
	if (s->congested && waiting_bytes(s) <= ml->limit / 2 && !ml->closing) {
		s->congested = false;
		s->writables++;
		if (s->link != NULL)
			node_repl_link_writable(s->link);
	}
	return true;
}

size_t memlink_pump(memlink_t *ml, size_t max)
{
	size_t moved = 0;
	bool any = true;

	while (any && (max == 0 || moved < max)) {
		any = false;
		for (int i = 0; i < 2 && (max == 0 || moved < max); i++)
			if (move_one(ml, i)) {
				moved++;
				any = true;
			}
	}
	if (ml->closing && !ml->down) {
		ml->down = true;
		for (int i = 0; i < 2; i++) {
			node_repl_link_t *l = ml->end[i].link;
			int err = i == ml->closer     ? ml->err
				  : ml->err != KS_EOK ? KS_ENET
						      : KS_EOK;
			ml->end[i].link = NULL;
			if (l != NULL)
				node_repl_link_down(l, err, ml->reason);
		}
		moved++;
	}
	return moved;
}

void memlink_free(memlink_t *ml)
{
	if (ml == NULL)
		return;
	for (int i = 0; i < 2; i++) {
		ks_buf_free(&ml->end[i].q);
		proto_frame_deinit(&ml->end[i].framer);
	}
	free(ml);
}
