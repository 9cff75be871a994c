/* SPDX-License-Identifier: MIT */
/*
 * Synchronous mode ([node] synchronous = N, sync_timeout) as pure code:
 * the table of writes waiting for N replicas, and the sync/degraded state.
 *
 * A write waits (the KDB module's report asked for an answer) until the
 * seq that captured it is acknowledged by N replicas (the quorum seq: the
 * N-th highest ack).  When one waits past sync_timeout it is answered
 * anyway and the node degrades to asynchronous: while degraded every new
 * request is answered at once.  It returns to synchronous when the quorum
 * seq reaches the log's last seq (N replicas caught up).  N = 0: every
 * request is answered at once and the state stays "sync" (nothing wanted).
 *
 * Who answers: repl_sync_* call the caller's function for each request to
 * answer (connection, request id); they never block and do no I/O.
 * Ownership: a repl_sync_t is its owner's (init .. deinit); loop thread only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct repl_sync_req {
	uint64_t seq;	      /* answered once the quorum seq reaches it */
	uint64_t conn, id;    /* whom to answer */
	uint64_t deadline_ms; /* answered anyway then (and degrade) */
} repl_sync_req_t;

typedef struct repl_sync {
	unsigned wanted;     /* N; 0 = asynchronous */
	uint64_t timeout_ms; /* sync_timeout */
	bool degraded;
	uint64_t degradations;	  /* times it degraded */
	uint64_t acked, timeouts; /* requests answered by acks / at timeout */
	uint64_t immediate;	  /* answered at once (N = 0 or degraded) */
	repl_sync_req_t *v;	  /* in arrival order */
	size_t n, cap;
} repl_sync_t;

/* Answer one request (the caller's I/O). */
typedef void (*repl_sync_answer_fn)(void *ctx, uint64_t conn, uint64_t id);

void repl_sync_init(repl_sync_t *s, unsigned wanted, uint64_t timeout_ms);
void repl_sync_deinit(repl_sync_t *s);

/** \brief The N-th highest of \p acked (n values); 0 when n < wanted.
 *         \p acked is reordered. */
uint64_t repl_sync_quorum(uint64_t *acked, size_t n, unsigned wanted);

/**
 * \brief A request whose change is at \p seq: answered at once when
 *        nothing is wanted, when degraded or when \p quorum >= seq; else
 *        kept until repl_sync_progress or repl_sync_expire answers it.
 * \retval KS_ENOMEM not kept: it was answered at once
 */
int repl_sync_add(repl_sync_t *s, uint64_t seq, uint64_t conn, uint64_t id,
		  uint64_t now_ms, uint64_t quorum, repl_sync_answer_fn fn,
		  void *ctx);

/**
 * \brief The quorum seq moved (an ack): answer what it covers; when
 *        degraded and \p quorum >= \p last_seq, back to synchronous.
 * \return true when the state changed (for the log)
 */
bool repl_sync_progress(repl_sync_t *s, uint64_t quorum, uint64_t last_seq,
			repl_sync_answer_fn fn, void *ctx);

/**
 * \brief Answer the requests past their deadline; degrade if any.
 * \return true when the state changed (for the log)
 */
bool repl_sync_expire(repl_sync_t *s, uint64_t now_ms, repl_sync_answer_fn fn,
		      void *ctx);

/** \brief Answer every pending request (stop, role change, N set to 0). */
void repl_sync_flush(repl_sync_t *s, repl_sync_answer_fn fn, void *ctx);

/** \brief "sync", "degraded" (or "off" when nothing is wanted). */
const char *repl_sync_state(const repl_sync_t *s);
