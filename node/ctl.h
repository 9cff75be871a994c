/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a Unix-domain stream socket, mode 0600, in the state
 * directory (STATE_DIR/kdcsyncd.sock), through which `kdcsync` talks to the
 * running daemon.  One request per connection: a single line ("status" or
 * "status json"), answered with text and then end of stream.
 *
 * Server side (libuv, inside kdcsyncd): node_ctl_open / node_ctl_close.
 * Client side (blocking, for kdcsync): node_ctl_request.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "common/buf.h"

#define NODE_CTL_SOCKET	 "kdcsyncd.sock"
#define NODE_CTL_REQ_MAX 256 /* longest request line */

typedef struct node_ctl node_ctl_t;

/*
 * Answer one request line (without the newline) by appending the reply to
 * \p out.  Return 0, or KS_E* to answer "error: ..." instead.
 */
typedef int (*node_ctl_handler_cb)(const char *request, ks_buf_t *out,
				   void *arg);

/**
 * \brief Listen on \p path (mode 0600).  A stale socket left by a dead
 *        daemon is replaced; a live one is KS_EBUSY.
 * \return 0, KS_EBUSY, KS_ENAMETOOLONG, KS_ENET, KS_ENOMEM.
 */
int node_ctl_open(uv_loop_t *loop, const char *path, node_ctl_handler_cb cb,
		  void *arg, node_ctl_t **out);

/*
 * Deferred answers: a handler whose work runs elsewhere (the database
 * worker) calls node_ctl_defer() during its call, returns 0 with nothing
 * in \p out, and answers later from the loop with node_ctl_answer().
 */
typedef struct node_ctl_wait node_ctl_wait_t;

/**
 * \brief From inside a handler only: answer this request later.
 * \return the pending answer (must be passed to node_ctl_answer() exactly
 *         once, also when the work fails or is cancelled), or NULL when
 *         not called from a handler.
 */
node_ctl_wait_t *node_ctl_defer(void);

/**
 * \brief Send a deferred answer (loop thread): \p reply (copied) when
 *        \p ret is 0, else "error: ...".  Nothing is sent when the client
 *        has gone meanwhile.  Releases \p w.  NULL is ignored.
 */
void node_ctl_answer(node_ctl_wait_t *w, int ret, ks_view_t reply);

/**
 * \brief Stop listening, answer the requests still deferred with
 *        "error: kdcsyncd is stopping" (their later node_ctl_answer()
 *        sends nothing), drop clients, remove the socket file; \p done(arg)
 *        runs from the loop once everything is closed and freed.
 */
void node_ctl_close(node_ctl_t *ctl, void (*done)(void *), void *arg);

/**
 * \brief Client: send \p request to the daemon at \p path and collect the
 *        whole reply into \p out (blocking, with a 10 s timeout; 1 h for
 *        "snapshot", "verify" and "dump PATH", which the daemon answers
 *        when the database work is done).
 * \return 0, KS_ENOENT / KS_ECONNREFUSED (daemon not running), KS_ETIMEDOUT,
 *         KS_ENAMETOOLONG, KS_EIO, KS_ENOMEM.
 */
int node_ctl_request(const char *path, const char *request, ks_buf_t *out);
