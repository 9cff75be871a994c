/* SPDX-License-Identifier: MIT */
/*
 * The set of connections of one node: a TLS listener whose accepted
 * connections pass admission (admit.h: handshakes bounded apart from
 * established links, per source address, room kept for peers' addresses),
 * outgoing dials, the TLS context used for new
 * connections (swappable on reload), and "close everything" for shutdown.
 * Each connection callback is forwarded to the owner with the owner's
 * per-connection pointer (node_net_set_arg), so the owner never sees the
 * bookkeeping.
 *
 * Lifetime: node_net_new() allocates; node_net_close() closes the listener
 * and every connection (orderly), and calls \p done once everything is
 * closed and freed, from the loop.  The object is freed right before done.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "node/net/conn.h"
#include "node/net/tls.h"

typedef struct node_net node_net_t;

typedef struct node_net_opts {
	node_conn_limits_t limits;
	unsigned max_connections; /* accepted connections alive at once */
	unsigned max_handshakes; /* unauthenticated ones; 0 = max_connections */
	unsigned max_per_address; /* unauthenticated from one address; 0 = no
				     limit of its own */
	unsigned reserved;	  /* slots only known addresses take */
	/* Numeric addresses of the configured peers (copied): known from the
	 * start; an address that authenticates as a peer becomes known too. */
	const char *const *peer_addrs;
	size_t n_peer_addrs;
	void *owner; /* see node_net_owner() */
} node_net_opts_t;

/**
 * \brief Create the connection set.
 * \param tls   attached; used for every new connection.
 * \param cbs   copied; the \p arg given to each callback is the owner's
 *              per-connection pointer (NULL for accepted ones until
 *              node_net_set_arg).
 */
int node_net_new(uv_loop_t *loop, node_tls_ctx_t *tls,
		 const node_net_opts_t *opts, const node_conn_cbs_t *cbs,
		 node_net_t **out);

/**
 * \brief Listen on \p host (numeric IPv4/IPv6) and \p port (0 = any free
 *        port; see node_net_port).
 * \return 0, KS_EINVAL (not a numeric address), KS_EADDRINUSE, KS_ENET.
 */
int node_net_listen(node_net_t *n, const char *host, uint16_t port);

/** \brief The port actually bound, 0 if not listening. */
uint16_t node_net_port(const node_net_t *n);

/**
 * \brief Dial \p host:\p port expecting the peer name \p peer.
 * \param arg owner's pointer for this connection's callbacks.
 * \param out if not NULL, receives the connection (valid until closed).
 * \return 0 (closed runs later on failure), KS_ESTATE when closing,
 *         KS_ENOMEM.
 */
int node_net_dial(node_net_t *n, const char *peer, const char *host,
		  uint16_t port, void *arg, node_conn_t **out);

/** \brief opts.owner of the net a connection belongs to. */
void *node_net_owner(node_conn_t *c);

/** \brief Change the owner's pointer of a connection. */
void node_net_set_arg(node_conn_t *c, void *arg);

/** \brief Use \p tls (attached) and \p opts for connections made from now on. */
void node_net_reconfigure(node_net_t *n, node_tls_ctx_t *tls,
			  const node_net_opts_t *opts);

/** \brief Live connections (accepted + dialled). */
size_t node_net_count(const node_net_t *n);

/** \brief Accepted connections refused by admission, so far. */
uint64_t node_net_refused(const node_net_t *n);

/** \brief Unauthenticated connections evicted for newcomers, so far. */
uint64_t node_net_evicted(const node_net_t *n);

/** \brief Accepted connections still in the handshake. */
size_t node_net_handshakes(const node_net_t *n);

/**
 * \brief Close the listener and every connection; \p done(arg) runs once all
 *        is freed (the net object included).
 */
void node_net_close(node_net_t *n, void (*done)(void *arg), void *arg);
