/* SPDX-License-Identifier: MIT */
/*
 * The daemon's kprop-compatibility service: one pusher thread per
 * [peers] entry with mode = kprop, and the kprop listener thread when
 * [kprop] listen is set.
 *
 * Pusher: watches the store's digest (every 500 ms); when it differs from
 * the digest last delivered to the peer (or nothing was delivered yet), or
 * when [kprop] push_interval has passed since the last push (the safety
 * net), it pushes the whole store with node_kprop_push().  Pushes to one
 * peer never overlap (one thread each) and changes made during a push
 * start the next push as soon as it ends; changes are coalesced into it.
 * A failed push is retried after a back-off ([node] reconnect_min doubling
 * up to reconnect_max).
 *
 * Threads share the daemon's store_t (store.h allows reads and writes
 * from several threads).  Ownership: node_kprop_svc_start() copies what it
 * needs from the configuration; node_kprop_svc_stop() cancels any transfer
 * in progress, joins every thread and frees the service.
 */
#pragma once

#include <stdbool.h>

#include "common/buf.h"
#include "node/conf.h"
#include "node/status.h"
#include "store/store.h"

typedef struct node_kprop_svc node_kprop_svc_t;

/**
 * \brief Start pushers and the listener as configured (nothing to do:
 *        *out = NULL and 0).
 * \return 0, KS_EADDRINUSE / -errno (listener), KS_ENOMEM, -errno (thread)
 */
int node_kprop_svc_start(const node_conf_t *conf, store_t *s,
			 node_kprop_svc_t **out);

/**
 * \brief Reload: stop *\p svc and start it again from \p conf, keeping
 *        each unchanged peer's (same name and address) delivered digest
 *        and statistics, so an unchanged peer is not pushed again.
 */
int node_kprop_svc_reload(node_kprop_svc_t **svc, const node_conf_t *conf,
			  store_t *s);

/** \brief Cancel, join, free.  NULL is fine.  Blocks at most ~1 s plus a
 *         KDB install in progress. */
void node_kprop_svc_stop(node_kprop_svc_t *svc);

/**
 * \brief Fill the kprop part of the node's status (node/status.h): per
 *        peer last push time, duration, bytes, result and counts; the
 *        listener's transfers.  Copied under the service's lock, so the
 *        pusher and listener threads may run meanwhile.  NULL svc fills
 *        nothing (present = false).
 * \return 0, KS_ENOMEM.
 */
int node_kprop_svc_status(node_kprop_svc_t *svc, node_status_kprop_t *out);
