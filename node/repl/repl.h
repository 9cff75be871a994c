/* SPDX-License-Identifier: MIT */
/*
 * Native replication inside the daemon (DESIGN.md §3): change capture and
 * shipping on a primary, verification and apply on a replica.  The
 * decisions are made by the pure state machine in node/repl/sm.h; this
 * layer performs them against the store (store/), the KDB (bridge/), the
 * signing keys (proto/sign.h) and the link (node/repl/link.h: a node_conn
 * in the daemon, in-memory queues in tests/unit/repl/test_engine.c).
 *
 * Primary:  targeted re-reads of the principals and policies the KDB
 *           module (bridge/kdbmod) reports on STATE_DIR/capture.sock (a
 *           Unix SOCK_SEQPACKET listener, one report per message,
 *           bridge/report.h), in dependency order; a full scan of the KDB
 *           at start, on `kdcsync snapshot`, when a report says reports
 *           were lost or a whole DB was loaded, and every [node]
 *           scan_interval as an audit, skipped while the KDB files are
 *           unchanged.  Every connected replica gets the batches after its
 *           position; batch frames are signed once and cached, so replicas
 *           at the same position share them.  A replica outside the
 *           retained log or under another history gets a full snapshot.
 *           Acks move each peer's position (stored) and the log is trimmed
 *           honouring them.
 * Replica:  the link to [node] primary: HELLO with the applied position,
 *           every batch verified (signature, continuity), applied to the
 *           KDB through the bridge, then records + log + position in one
 *           store transaction, then ACK.  A full snapshot is staged in the
 *           store and loaded into a side KDB, checked against the signed
 *           digest, then installed (KDB rename first, store switch
 *           second), so the replica's krb5kdc serves the old data until
 *           the switch.
 *
 * Threads: every function here is called on the daemon's loop thread,
 * which does only network I/O, timers, control requests and status.  The
 * KDB (bridge) and every store write belong to the engine's database
 * worker thread (node/repl/worker.h): scans, captures, batch apply,
 * staging and install, acks, trims, dump, local verify, bucket listings;
 * their results come back to the loop.  A primary's snapshot is encoded,
 * and its signed batches are built (log read, zstd, Ed25519), on libuv's
 * threadpool from store read transactions.  Files and their
 * shares: node/repl/repl_int.h.
 *
 * Ownership: node_repl_t belongs to the daemon (new .. stop .. free); the
 * store is borrowed and must outlive it (stop's done callback comes after
 * the worker thread has ended; a snapshot being encoded keeps the loop
 * alive until its slice is done).  A node_repl_link_t is created by
 * node_repl_link_up() for one established connection; node_repl_link_down()
 * (the connection's closed callback) ends it for the caller, and the engine
 * frees it once the jobs still running for it are done.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "common/buf.h"
#include "node/conf.h"
#include "node/repl/link.h"
#include "node/status.h"
#include "store/store.h"

typedef struct node_repl node_repl_t;
typedef struct node_repl_link node_repl_link_t;

#define NODE_REPL_CAPTURE_SOCKET "capture.sock" /* in [node] state_dir */

/**
 * \brief Create the replication engine.
 * \param conf  borrowed; values are copied (node_repl_reconfigure() on
 *              reload).
 * \param store borrowed until node_repl_free().
 */
int node_repl_new(uv_loop_t *loop, const node_conf_t *conf, store_t *store,
		  node_repl_t **out);

/**
 * \brief Load keys, open the KDB, open the capture socket, queue the
 *        start-up scan (primary: the worker's first job; replicas are
 *        served once it succeeded, status says "scanning" meanwhile) and
 *        start the timers.  Returns at once.  Errors name the key to fix.
 */
int node_repl_start(node_repl_t *r);

/** \brief Use \p c as the engine's clock instead of the loop's (link.h;
 *         in-process tests), before node_repl_start().  NULL: the loop's. */
void node_repl_set_clock(node_repl_t *r, const node_repl_clock_t *c);

/** \brief The periodic work (timeouts, trims, keepalive acks, KDB and
 *         drift checks): run by the engine's timer every second, or by the
 *         caller when it set a clock. */
void node_repl_tick(node_repl_t *r);

/** \brief Take over reloadable settings (scan interval, log level). */
void node_repl_reconfigure(node_repl_t *r, const node_conf_t *conf);

/**
 * \brief Close the timers and the capture socket and stop the worker (jobs not
 *        started are cancelled, the running one finishes; never blocks the
 *        loop); \p done(arg) runs from the loop when everything is closed.
 *        Links are closed by the daemon.
 */
void node_repl_stop(node_repl_t *r, void (*done)(void *), void *arg);

/** \brief Free (after stop's done callback).  NULL is fine. */
void node_repl_free(node_repl_t *r);

/**
 * \brief A native link to \p peer came up over \p conn, reached through
 *        \p io (link.h; the daemon: node_repl_conn_io and a node_conn_t).
 * \return the link (owned by the engine until node_repl_link_down()), or
 *         NULL when out of memory.
 */
node_repl_link_t *node_repl_link_up(node_repl_t *r, const node_repl_io_t *io,
				    void *conn, const char *peer);

/** \brief One frame of the link (borrowed for the call).  A frame the
 *         engine refuses resets the link itself (ERROR to the peer, then
 *         the close).  \return 0 */
int node_repl_link_frame(node_repl_link_t *l, ks_view_t frame);

/** \brief The link's write queue drained: produce more. */
void node_repl_link_writable(node_repl_link_t *l);

/** \brief The link closed; \p l must not be used again (the engine frees
 *         it once its jobs are done). */
void node_repl_link_down(node_repl_link_t *l, int err, const char *reason);

/**
 * \brief Control requests: "snapshot" (scan now), "dump PATH" (write a
 *        load_dump v7 dump of the store to PATH), "verify" (compare the
 *        KDB with the store record by record; the reply starts with
 *        "error:" when they differ), "verify PEER" (start comparing the
 *        store with PEER's over the link: digests of bucket ranges
 *        bisected down to buckets, then the buckets' key listings;
 *        replies "started" or "error: ..."), "verify-result" ("running",
 *        or "equal: ..." / "differ: N ..." followed by one line per
 *        differing key, or "error: ...").
 * "snapshot", "dump PATH" and "verify" run on the worker: called from a
 * node_ctl handler, they defer the answer (node_ctl_defer) and return 0
 * with nothing in \p out; the reply follows when the job is done.
 * \return 0 with the reply in \p out (or deferred), KS_ENOTSUP for an
 *         unknown request, or the failure's KS_E*.
 */
int node_repl_ctl(node_repl_t *r, const char *req, ks_buf_t *out);

/**
 * \brief Write the store's records as a load_dump v7 dump to \p path
 *        (absolute; written to PATH.tmp, then renamed) and append "wrote N
 *        records at seq S to PATH" to \p out.  Synchronous: runs on the
 *        caller's thread (the control request "dump" runs it on the
 *        worker).  \p primary: report last_seq, else the applied seq.
 */
int node_repl_dump_store(store_t *s, bool primary, const char *path,
			 ks_buf_t *out);

/*
 * Promotion (DESIGN.md §2, §4): a replica's store starts a new history id
 * that remembers the applied one and its last seq (store_new_history), so
 * the replicas of the old primary resume incrementally against this node
 * once it runs as a primary (repl_sm_decide: REPL_RESUME_PREVIOUS).
 */

/**
 * \brief Promote the store of a replica: checks, then store_new_history().
 * \param before, after  receive the metadata before and after (NULL ok).
 * \param why    receives a one-line reason when refused.
 * \retval KS_EEXIST  already promoted (its history continues the applied
 *                    one): nothing changed
 * \retval KS_ESTATE  no position yet (never synced), or the store's own
 *                    log is not at its applied position: nothing changed
 */
int node_repl_promote_store(store_t *s, store_meta_t *before,
			    store_meta_t *after, char *why, size_t whylen);

/** \brief Whether a store was promoted (its own history continues its
 *         applied one under a new id): such a node follows no primary. */
bool node_repl_store_promoted(const store_meta_t *m);

/** \brief Replica: stop applying anything (after a promotion): frames on
 *         a remaining link close it, new links are refused. */
void node_repl_stop_following(node_repl_t *r);

/*
 * What a replica's engine tells the daemon about the peer it follows
 * (kdcsync follow: the role is kept only once the peer is confirmed).
 * Called on the loop thread from inside the link's frame handling: the
 * callee must not stop or free the engine there (defer that).
 */
typedef struct node_repl_observer {
	/* the peer answered as a primary this node accepts */
	void (*followed)(void *arg, const char *peer);
	/* the peer cannot be followed (not a primary, another realm, a
	 * signing key not trusted, refused): nothing was changed */
	void (*refused)(void *arg, const char *peer, int code,
			const char *reason);
	void *arg;
} node_repl_observer_t;

/** \brief Set (copy) the observer; NULL clears it. */
void node_repl_set_observer(node_repl_t *r, const node_repl_observer_t *o);

/** \brief Fill the engine's part of the status (node/status.h): capture
 *         counters, or why replication is disabled. */
int node_repl_status(node_repl_t *r, node_status_repl_t *out);

/** \brief Fill one peer's replication status; present = false for a
 *         peer the engine does not know. */
int node_repl_peer_status(node_repl_t *r, const char *peer,
			  node_status_repl_peer_t *out);
