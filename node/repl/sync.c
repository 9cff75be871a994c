/* SPDX-License-Identifier: MIT */
/*
 * Synchronous mode's waiting writes and sync/degraded state (pure; see
 * node/repl/sync.h).
 */
#include "node/repl/sync.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

void repl_sync_init(repl_sync_t *s, unsigned wanted, uint64_t timeout_ms)
{
	*s = (repl_sync_t){ .wanted = wanted, .timeout_ms = timeout_ms };
}

void repl_sync_deinit(repl_sync_t *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static int desc(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? 1 : a > b ? -1 : 0;
}

uint64_t repl_sync_quorum(uint64_t *acked, size_t n, unsigned wanted)
{
	if (wanted == 0 || n < wanted)
		return 0;
	qsort(acked, n, sizeof(*acked), desc);
	return acked[wanted - 1];
}

int repl_sync_add(repl_sync_t *s, uint64_t seq, uint64_t conn, uint64_t id,
		  uint64_t now_ms, uint64_t quorum, repl_sync_answer_fn fn,
		  void *ctx)
{
	if (s->wanted == 0 || s->degraded || quorum >= seq) {
		s->immediate += s->wanted == 0 || s->degraded;
		s->acked += s->wanted > 0 && !s->degraded;
		fn(ctx, conn, id);
		return KS_EOK;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		repl_sync_req_t *v = realloc(s->v, cap * sizeof(*v));
		if (v == NULL) {
			fn(ctx, conn, id);
			return KS_ENOMEM;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] =
		(repl_sync_req_t){ .seq = seq,
				   .conn = conn,
				   .id = id,
				   .deadline_ms = now_ms + s->timeout_ms };
	return KS_EOK;
}

/* Answer and remove the requests \p pick selects, keeping the order. */
static size_t answer_if(repl_sync_t *s,
			bool (*pick)(const repl_sync_req_t *, uint64_t),
			uint64_t arg, repl_sync_answer_fn fn, void *ctx)
{
	size_t k = 0, done = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (pick(&s->v[i], arg)) {
			fn(ctx, s->v[i].conn, s->v[i].id);
			done++;
		} else {
			s->v[k++] = s->v[i];
		}
	}
	s->n = k;
	return done;
}

static bool covered(const repl_sync_req_t *q, uint64_t quorum)
{
	return q->seq <= quorum;
}

static bool expired(const repl_sync_req_t *q, uint64_t now_ms)
{
	return q->deadline_ms <= now_ms;
}

static bool any(const repl_sync_req_t *q, uint64_t unused)
{
	(void)q;
	(void)unused;
	return true;
}

bool repl_sync_progress(repl_sync_t *s, uint64_t quorum, uint64_t last_seq,
			repl_sync_answer_fn fn, void *ctx)
{
	s->acked += answer_if(s, covered, quorum, fn, ctx);
	if (s->degraded && s->wanted > 0 && quorum >= last_seq) {
		s->degraded = false;
		return true;
	}
	return false;
}

bool repl_sync_expire(repl_sync_t *s, uint64_t now_ms, repl_sync_answer_fn fn,
		      void *ctx)
{
	size_t n = answer_if(s, expired, now_ms, fn, ctx);

	s->timeouts += n;
	if (n == 0 || s->degraded)
		return false;
	s->degraded = true;
	s->degradations++;
	/* what still waits would only wait for the same slow replicas */
	s->immediate += answer_if(s, any, 0, fn, ctx);
	return true;
}

void repl_sync_flush(repl_sync_t *s, repl_sync_answer_fn fn, void *ctx)
{
	s->immediate += answer_if(s, any, 0, fn, ctx);
}

const char *repl_sync_state(const repl_sync_t *s)
{
	if (s->wanted == 0)
		return "off";
	return s->degraded ? "degraded" : "sync";
}
