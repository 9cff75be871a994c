/* SPDX-License-Identifier: MIT */
/*
 * The primary's synchronous mode on the loop ([node] synchronous,
 * sync_timeout): the marker file that tells the KDB module to wait, the
 * writes waiting for replicas' acks (the pure table in node/repl/sync.h),
 * answered from the ack path (node_repl__record_ack) and from a timer,
 * never by blocking the loop.  The answers go out on the capture socket
 * (capture.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/repl/repl_int.h"

#define SYNC_TICK_MS 50u /* how late a timed-out write is answered, at most */

static bool active(const node_repl_t *r)
{
	return r->role == REPL_ROLE_PRIMARY && r->sync.wanted > 0 &&
	       !r->stopping;
}

static void answer(void *ctx, uint64_t conn, uint64_t id)
{
	node_repl__cap_answer(ctx, conn, id);
}

/* The quorum seq: the N-th highest replica ack. */
static uint64_t quorum(node_repl_t *r)
{
	uint64_t acked[64];
	size_t n = 0;

	for (repl_peer_t *p = r->peers; p != NULL && n < 64; p = p->next)
		if (p->have_ack)
			acked[n++] = p->acked;
	return repl_sync_quorum(acked, n, r->sync.wanted);
}

static void log_state(node_repl_t *r, uint64_t q)
{
	if (r->sync.degraded)
		ks_log_warn(REPL,
			    "synchronous mode degraded: fewer than %u "
			    "replica(s) acknowledged within %" PRIu64
			    " ms; writes proceed asynchronously until they "
			    "catch up",
			    r->sync.wanted, r->sync.timeout_ms);
	else
		ks_log_notice(REPL,
			      "synchronous mode restored: %u replica(s) "
			      "caught up (seq %" PRIu64 ")",
			      r->sync.wanted, q);
}

static void on_sync_tick(uv_timer_t *t)
{
	node_repl_t *r = t->data;

	if (repl_sync_expire(&r->sync, node_repl__now(r), answer, r))
		log_state(r, 0);
}

void node_repl__sync_start(node_repl_t *r)
{
	char text[32];
	int fd;

	snprintf(r->sync_marker, sizeof(r->sync_marker), "%s/%s%s",
		 r->state_dir, NODE_REPL_CAPTURE_SOCKET, KS_REPORT_SYNC_SUFFIX);
	(void)unlink(r->sync_marker);
	if (r->role != REPL_ROLE_PRIMARY || r->sync.wanted == 0)
		return;
	/* written whole under another name, then renamed: a module never
	 * reads half a number */
	char tmp[sizeof(r->sync_marker) + 4];
	snprintf(tmp, sizeof(tmp), "%s.tmp", r->sync_marker);
	int n = snprintf(text, sizeof(text), "%" PRIu64 "\n",
			 r->sync.timeout_ms);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, (size_t)n) != n ||
	    rename(tmp, r->sync_marker) != 0) {
		ks_log_err(REPL, "synchronous mode off: cannot write '%s' (%s)",
			   r->sync_marker, strerror(errno));
		if (fd >= 0)
			close(fd);
		(void)unlink(tmp);
		return;
	}
	close(fd);
	uv_timer_start(&r->sync_timer, on_sync_tick, SYNC_TICK_MS,
		       SYNC_TICK_MS);
	ks_log_notice(REPL,
		      "synchronous mode: writes wait for %u replica(s), at "
		      "most %" PRIu64 " ms",
		      r->sync.wanted, r->sync.timeout_ms);
}

void node_repl__sync_stop(node_repl_t *r)
{
	if (r->sync_marker[0])
		(void)unlink(r->sync_marker);
	repl_sync_flush(&r->sync, answer, r);
}

void node_repl__sync_reconfigure(node_repl_t *r, unsigned wanted,
				 uint64_t timeout_ms)
{
	if (wanted == r->sync.wanted && timeout_ms == r->sync.timeout_ms)
		return;
	/* what waits was asked under the old terms: it goes now */
	repl_sync_flush(&r->sync, answer, r);
	r->sync.wanted = wanted;
	r->sync.timeout_ms = timeout_ms;
	r->sync.degraded = false;
	uv_timer_stop(&r->sync_timer);
	node_repl__sync_start(r);
	if (wanted == 0)
		ks_log_notice(REPL, "synchronous mode off");
}

bool node_repl__sync_now(const node_repl_t *r)
{
	return !active(r) || r->sync.degraded;
}

void node_repl__sync_wait(node_repl_t *r, uint64_t seq, uint64_t conn,
			  uint64_t id)
{
	if (!active(r)) {
		answer(r, conn, id);
		return;
	}
	(void)repl_sync_add(&r->sync, seq, conn, id, node_repl__now(r),
			    quorum(r), answer, r);
}

void node_repl__sync_acked(node_repl_t *r)
{
	store_meta_t m;
	uint64_t q, last = UINT64_MAX;

	if (!active(r))
		return;
	q = quorum(r);
	/* the log's end matters only to leave the degraded state */
	if (r->sync.degraded && node_repl__meta(r->store, &m) == KS_EOK)
		last = m.last_seq;
	if (repl_sync_progress(&r->sync, q, last, answer, r))
		log_state(r, q);
}
