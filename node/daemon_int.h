/* SPDX-License-Identifier: MIT */
/*
 * Inside the daemon (not for other modules): the daemon's state and the
 * functions its files share.  The daemon is split by concept:
 *
 *   daemon.c         lifecycle: create, start, `kdcsyncd -t`'s check,
 *                    signals, orderly stop, free; the pid file
 *   daemon_peers.c   one entry per configured peer: dialling with back-off,
 *                    the net's callbacks, the replication link of each
 *                    native connection, following the configuration
 *   daemon_role.c    the running role (config, promote, follow), kept in
 *                    the store, and switching the engine between roles
 *   daemon_ctl.c     control-socket requests: promote, follow, status
 *   daemon_reload.c  SIGHUP / `kdcsync reload`: check the new file whole,
 *                    then swap it in, or keep the running one
 *   daemon_status.c  status, metrics and systemd's STATUS= line, filled
 *                    from the daemon's own state, the engine and kprop
 *
 * Threads: everything here runs on the loop thread.  The kprop service
 * (node/kprop/svc.h) has its own threads and shares the store only
 * through its API; the engine's worker (node/repl/worker.h) reports back
 * to the loop.  The daemon owns every component it points to; a peer_t is
 * refcounted (list, live connection, retry timer) and freed by the last.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "common/buf.h"
#include "node/conf.h"
#include "node/ctl.h"
#include "node/daemon.h"
#include "node/kprop/svc.h"
#include "node/loopstat.h"
#include "node/metrics.h"
#include "node/net/net.h"
#include "node/notify.h"
#include "node/repl/repl.h"
#include "node/status.h"
#include "store/store.h"

typedef struct peer {
	struct peer *next;
	node_daemon_t *d;
	char *name;
	char *host; /* NULL: we do not know where it is */
	uint16_t port;
	int mode;
	bool dial; /* we keep a link to it up (a replica's primary) */
	bool removed;
	int refs; /* list + live connection + retry timer */
	node_conn_t *conn;
	node_repl_link_t *link; /* replication state of conn (native) */
	bool inbound;
	uv_timer_t retry;
	bool retry_pending;
	unsigned attempt;
	uint64_t bytes_in, bytes_out; /* of connections already closed */
	uint64_t frames_in;
	uint64_t connects;
	uint64_t up_since_ms; /* loop time when the link came up */
	time_t last_error_at;
	char last_error[200];
} peer_t;

struct node_daemon {
	uv_loop_t *loop;
	node_conf_t *conf;
	node_tls_ctx_t *tls;
	node_net_t *net;
	node_ctl_t *ctl;
	store_t *store;
	node_kprop_svc_t *kprop; /* kprop pushers and listener threads */
	node_repl_t *repl;
	node_notify_t *notify;	   /* systemd READY/STATUS/WATCHDOG */
	node_metrics_t *metrics;   /* [metrics] listen, NULL when unset */
	node_loopstat_t *loopstat; /* the loop's busy time, NULL if none */
	uv_signal_t sig[3];
	int nsig;
	peer_t *peers;
	uint64_t start_ms;
	bool stopping;
	/* The role it runs in: the config's, or the one `kdcsync promote` /
	 * `follow PEER` switched to (kept in the store: survives restarts). */
	int role;		 /* enum node_role */
	int role_source;	 /* enum role_source */
	char follow[256];	 /* replica by follow: the peer, else "" */
	node_repl_t *switch_old; /* engine being stopped for a role switch */
	/* kdcsync follow PEER: running as its replica, kept in the store
	 * only once PEER answers; refused: back to the role before. */
	bool follow_pending;
	int prev_role, prev_source;
	char prev_follow[256];
	char follow_result[600]; /* for "follow-result" */
	uv_timer_t revert;	 /* the refusal's switch back, off the link */
	bool revert_init;
	int closing; /* components still closing */
	uint64_t rng;
	char ctl_path[512];
	char pid_path[512];
	struct daemon_reload *reload; /* a reload whose KDB is being checked */
	uint64_t reloads_ok, reloads_failed;
	time_t reload_at;	/* last attempt */
	char reload_error[600]; /* of the last attempt, "" if it worked */
	int pid_fd;		/* holds the lock; -1 when not open */
};

enum role_source {
	ROLE_FROM_CONFIG,
	ROLE_FROM_PROMOTE,
	ROLE_FROM_FOLLOW,
};

/* --- daemon.c -------------------------------------------------------------- */

/** \brief One component finished closing; the last one closes the store
 *         and removes the pid file. */
void node__daemon_component_closed(void *arg);

/**
 * \brief The KDB check of node_preflight_kdb() for \p role; a replica's
 *        note is logged.
 * \param err one line naming profile, realm, key and file on failure.
 */
int node__daemon_preflight_kdb(const node_conf_t *c, int role, char *err,
			       size_t errlen);

/* --- daemon_peers.c -------------------------------------------------------- */

/** \brief The net's callbacks; the peer is the connection's argument. */
extern const node_conn_cbs_t node__daemon_conn_cbs;

/**
 * \brief The net's options from \p c.
 * \param addrs receives the peers' addresses (borrowed from \p c; the net
 *        copies them); the caller frees the array, NULL if out of memory.
 */
node_net_opts_t node__daemon_net_opts(const node_conf_t *c,
				      const char ***addrs);

/** \brief The TLS context of \p c ([tls] and the native peers' names).
 *  \param out transferred: node_tls_ctx_detach(). */
int node__daemon_build_tls(const node_conf_t *c, node_tls_ctx_t **out);

/** \brief Bring the peer list in line with d->conf and the running role:
 *         add, remove, redial. */
int node__daemon_sync_peers(node_daemon_t *d);

/** \brief Stop dialling and drop the list's references (shutdown). */
void node__daemon_peers_release(node_daemon_t *d);

/** \brief The peer's link state in words, for status (static string). */
const char *node__daemon_peer_state(const peer_t *p);

/* --- daemon_role.c --------------------------------------------------------- */

/** \brief "config", "promote" or "follow" (static string). */
const char *node__daemon_role_source_name(int src);

/** \brief The peer a replica follows (borrowed; NULL for a primary). */
const char *node__daemon_primary_of(const node_daemon_t *d);

/** \brief The configuration as the engine sees it: the running role
 *         (a shallow copy borrowing d->conf's strings). */
node_conf_t node__daemon_engine_conf(node_daemon_t *d);

/** \brief Tell the engine to report follow outcomes to the daemon. */
void node__daemon_observe(node_daemon_t *d);

/** \brief The role a promote or follow left in the store wins over the
 *         configuration: sets d->role, d->role_source, d->follow. */
void node__daemon_load_role(node_daemon_t *d);

/** \brief Restart the engine in d->role (links closed, peers reconnect). */
void node__daemon_switch_role(node_daemon_t *d);

/** \brief Keep \p role in the store, then switch to it. */
int node__daemon_set_role(node_daemon_t *d, int role, const char *peer,
			  int src);

/** \brief A follow not yet answered is abandoned: back to the role before. */
void node__daemon_follow_revert(node_daemon_t *d);

/* --- daemon_ctl.c ---------------------------------------------------------- */

/** \brief The control socket's handler (node/ctl.h node_ctl_handler_cb). */
int node__daemon_ctl_handler(const char *req, ks_buf_t *out, void *arg);

/* --- daemon_reload.c ------------------------------------------------------- */

/** \brief Stop: a reload still waiting for the KDB gives up (its done
 *         callback still runs, and releases the daemon's count). */
void node__daemon_reload_cancel(node_daemon_t *d);

/* --- daemon_status.c ------------------------------------------------------- */

/** \brief systemd's STATUS= line (node/notify.h). */
void node__daemon_notify_status(ks_buf_t *out, void *arg);

/** \brief The [metrics] endpoint's body (node/metrics.h). */
int node__daemon_render_metrics(ks_buf_t *out, void *arg);
