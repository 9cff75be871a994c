/* SPDX-License-Identifier: MIT */
/*
 * One node-to-node connection: a libuv TCP socket carrying TLS (node/net/tls.h)
 * carrying frames (proto/frame.h).  The connection hands whole frames up,
 * swallows keepalives, and owns its timeouts:
 *
 *   - handshake timeout: the TLS handshake must finish in time;
 *   - idle timeout: nothing received for that long closes the link; a
 *     KEEPALIVE frame goes out whenever nothing was sent for
 *     keepalive_interval (shorter than the peer's idle timeout);
 *   - back-pressure: when plaintext queued plus bytes in flight pass
 *     write_queue_limit, reading stops (so the peer cannot make us produce
 *     more) and node_conn_congested() tells the owner to stop producing;
 *     when the queue drains below half the limit, reading resumes and the
 *     writable callback runs.
 *
 * States are ordered (code compares with <):
 *   CONNECTING -> HANDSHAKE -> IO -> CLOSING -> CLOSED
 *
 * Lifetime: a connection is heap-allocated by node_conn_new() and frees
 * itself once its handles are closed and its writes have completed, some
 * time after the closed callback.  The closed callback runs exactly once
 * per connection (also for connect failures); after it returns the owner
 * must not touch the connection again.  The owner may call node_conn_close()
 * and node_conn_send() from inside any callback.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/buf.h"
#include "node/net/tls.h"

typedef struct node_conn node_conn_t;

enum node_conn_state {
	NODE_CONN_CONNECTING, /* TCP connect (client) in progress */
	NODE_CONN_HANDSHAKE,  /* TLS handshake */
	NODE_CONN_IO,	      /* authenticated, frames flow */
	NODE_CONN_CLOSING,    /* closing: close_notify, shutdown, close */
	NODE_CONN_CLOSED,     /* handles closed, about to be freed */
	NODE_CONN_STATE_COUNT
};

/** \brief Name of a state for logs and status ("handshake", ...). */
const char *node_conn_state_name(enum node_conn_state s);

typedef struct node_conn_limits {
	uint64_t handshake_timeout_ms;
	uint64_t idle_timeout_ms;
	uint64_t keepalive_ms;
	size_t write_queue_limit;
	uint32_t max_frame; /* 0 = proto default */
} node_conn_limits_t;

typedef struct node_conn_cbs {
	/* Handshake done; \p peer is the verified name (borrowed, valid for
	 * the connection's life).  Return 0, or KS_E* to refuse the peer. */
	int (*established)(node_conn_t *c, const char *peer, void *arg);
	/* One whole frame (type byte + payload), borrowed for the call.
	 * Return 0, or KS_E* to close the connection with that error. */
	int (*frame)(node_conn_t *c, ks_view_t frame, void *arg);
	/* The write queue drained below half the limit (optional). */
	void (*writable)(node_conn_t *c, void *arg);
	/* Exactly once.  \p err is 0 for an orderly close (either side);
	 * \p reason is a short phrase, borrowed for the call. */
	void (*closed)(node_conn_t *c, int err, const char *reason, void *arg);
} node_conn_cbs_t;

/**
 * \brief Allocate a connection on \p loop.
 * \param tls    attached by the connection.
 * \param server true for an accepted connection.
 * \param expect for a client: the peer name the server must carry (copied).
 * \param cbs    copied; \p arg is passed to every callback.
 * \return 0, KS_ENOMEM, KS_ETLS.
 */
int node_conn_new(uv_loop_t *loop, node_tls_ctx_t *tls, bool server,
		  const char *expect, const node_conn_limits_t *lim,
		  const node_conn_cbs_t *cbs, void *arg, node_conn_t **out);

/**
 * \brief Accept a pending connection from \p listener (the remote address
 *        is known afterwards); node_conn_start() then starts the handshake,
 *        or node_conn_close() refuses it.
 * \return 0, or KS_ENET and the closed callback runs (deferred).
 */
int node_conn_accept(node_conn_t *c, uv_stream_t *listener);

/** \brief Start the TLS handshake of an accepted connection. */
void node_conn_start(node_conn_t *c);

/**
 * \brief Resolve \p host, connect to it on \p port and start the
 *        handshake.  On any failure the closed callback runs (deferred).
 */
void node_conn_connect(node_conn_t *c, const char *host, uint16_t port);

/**
 * \brief Queue one frame's bytes (copied) for sending.
 * \return 0, KS_ESTATE (not established or closing), KS_ENOMEM.
 */
int node_conn_send(node_conn_t *c, const void *p, size_t n);

/** \brief Whether the write queue is over its limit: stop producing. */
bool node_conn_congested(const node_conn_t *c);

/**
 * \brief The owner's own back-pressure: stop reading (\p pause) because
 *        what was received is not consumed yet, or read again.  While
 *        paused the idle timeout does not run (the peer's keepalives wait
 *        in the socket); it counts again from the resume.  Frames already
 *        decrypted from the last read are still handed up.  Loop thread.
 */
void node_conn_pause(node_conn_t *c, bool pause);

/**
 * \brief Close: an orderly close (close_notify) when \p err is 0 and the
 *        link is established, an abortive one otherwise.  Idempotent.
 * \param reason borrowed for the call; logged and passed to closed.
 */
void node_conn_close(node_conn_t *c, int err, const char *reason);

enum node_conn_state node_conn_state(const node_conn_t *c);

/** \brief Verified peer name, NULL before the handshake completes. */
const char *node_conn_peer(const node_conn_t *c);

/** \brief Remote address as "ip:port" (borrowed), "" if unknown. */
const char *node_conn_remote(const node_conn_t *c);

/** \brief Remote address without the port (borrowed), "" if unknown. */
const char *node_conn_remote_ip(const node_conn_t *c);

/** \brief Ciphertext bytes received and sent on the socket. */
uint64_t node_conn_bytes_in(const node_conn_t *c);
uint64_t node_conn_bytes_out(const node_conn_t *c);

/** \brief Frames delivered / sent (keepalives included). */
uint64_t node_conn_frames_in(const node_conn_t *c);
uint64_t node_conn_frames_out(const node_conn_t *c);

/** \brief The owner's opaque pointer, changeable (e.g. on adoption). */
void node_conn_set_arg(node_conn_t *c, void *arg);
void *node_conn_arg(const node_conn_t *c);
