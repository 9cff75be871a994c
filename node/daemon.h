/* SPDX-License-Identifier: MIT */
/*
 * The running node (kdcsyncd without its command line): configuration,
 * store, TLS listener and dialler, one link per configured peer, the
 * control socket and the signals.
 *
 *   SIGHUP           reload: the file is validated whole and swapped in, or
 *                    rejected (logged) and the running configuration kept.
 *   SIGTERM, SIGINT  orderly shutdown: close links (close_notify), the
 *                    control socket and the store; the loop then runs dry.
 *
 * A replica dials the peer named by [node] primary and keeps that link up,
 * reconnecting with exponential back-off and jitter; a primary listens and
 * accepts only the peers in [peers] (certificate name check).  The
 * replication exchange itself (DESIGN.md §3) is node/repl/repl.h: each
 * established native link gets a replication link there, which receives
 * its frames; status and the control requests "snapshot" and "dump" are
 * forwarded to it.
 *
 * Ownership: node_daemon_new() takes the configuration; the daemon is freed
 * with node_daemon_free() after the loop has finished running.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "common/buf.h"
#include "node/conf.h"

typedef struct node_daemon node_daemon_t;

/**
 * \brief Create a daemon on \p loop.
 * \param conf transferred: freed by the daemon.
 */
int node_daemon_new(uv_loop_t *loop, node_conf_t *conf, node_daemon_t **out);

/**
 * \brief Start: state directory, store, TLS, listener, control socket,
 *        signal handlers, dial the primary.  Errors are logged with what
 *        to fix.
 * \return 0 or KS_E*; after an error call node_daemon_stop(), run the loop
 *         dry and free.
 */
int node_daemon_start(node_daemon_t *d);

/**
 * \brief Re-read the configuration file, validate it whole and swap it in.
 *
 * The file's own checks (keys, values, what cannot change while running,
 * the files it names, TLS) run at once.  Its KDB is then opened as at
 * start-up (node_preflight_kdb()), off the loop and holding the KDB
 * (node/kdb_lock.h); the configuration is swapped in only when that
 * works.  Either way the outcome is logged and counted in the status.
 * \param err a one-line reason on failure; the old configuration stays.
 * \return 0 the file passed and its KDB check is under way; KS_EBUSY a
 *         reload is still being checked; else rejected (\p err says why).
 */
int node_daemon_reload(node_daemon_t *d, char *err, size_t errlen);

/** \brief Begin the orderly shutdown (idempotent). */
void node_daemon_stop(node_daemon_t *d);

enum node_status_format {
	NODE_STATUS_TEXT, /* kdcsync status */
	NODE_STATUS_JSON, /* kdcsync status --json */
	NODE_STATUS_PROM, /* kdcsync metrics, [metrics] listen */
};

/**
 * \brief Append the status report to \p out: filled as data by each
 *        component (node/status.h) and rendered in \p fmt.  Reads memory
 *        and the store's metadata page only, never the KDB.
 */
int node_daemon_status(node_daemon_t *d, enum node_status_format fmt,
		       ks_buf_t *out);

/** \brief The running configuration (borrowed until the next reload). */
const node_conf_t *node_daemon_conf(const node_daemon_t *d);

/**
 * \brief Check what node_conf_load() cannot: that the TLS files load and
 *        match (CA, certificate, key).  For `kdcsyncd -t`.
 * \param err one line naming the keys on failure.
 */
int node_daemon_check(const node_conf_t *conf, char *err, size_t errlen);

/** \brief Free after the loop has run dry.  NULL is ignored. */
void node_daemon_free(node_daemon_t *d);
