/* SPDX-License-Identifier: MIT */
/*
 * The seam between the replication engine and the network: what a link
 * (node_repl_link_t) needs from the connection under it, and where the
 * engine's time comes from.  The daemon gives every native connection the
 * node_conn implementation (node_repl_conn_io, libuv + TLS, node/net/conn.h);
 * in-process tests give in-memory frame queues, so that a primary and a
 * replica run end to end in one process (tests/unit/repl/test_engine.c).
 *
 * Contract of an implementation (node_conn's behaviour, which the engine
 * relies on):
 *   send       queues bytes of the frame stream (proto/frame.h; copied):
 *              whole frames, or a slice of a run of frames (a snapshot
 *              goes a slice at a time); the other end reassembles them.
 *              Fails with KS_ESTATE once the link is closing.  Never calls
 *              back into the engine.
 *   congested  the queue is over its limit: produce nothing more until
 *              node_repl_link_writable().
 *   pause      stop (true) or resume (false) reading, because the engine
 *              has not consumed what it got (frames already read may
 *              still be handed up).
 *   close      idempotent; node_repl_link_down() follows later, never from
 *              inside this call; no frame is handed up after it.
 *   bytes      bytes received and sent so far (for the session's log line).
 * Every call is on the loop thread; \p io is the implementation's own
 * pointer, borrowed by the link until node_repl_link_down().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct node_repl_io {
	int (*send)(void *io, const void *p, size_t n);
	bool (*congested)(void *io);
	void (*pause)(void *io, bool pause);
	void (*close)(void *io, int err, const char *reason);
	void (*bytes)(void *io, uint64_t *in, uint64_t *out);
} node_repl_io_t;

/** The implementation over a node_conn_t (\p io is the node_conn_t *). */
extern const node_repl_io_t node_repl_conn_io;

/*
 * The engine's clock and tick.  By default the time is the loop's
 * (uv_now) and a timer ticks every second; a test sets its own clock
 * before node_repl_start(): then no tick timer runs and the test calls
 * node_repl_tick() when its time has moved.
 */
typedef struct node_repl_clock {
	uint64_t (*now_ms)(void *arg);
	void *arg;
} node_repl_clock_t;
