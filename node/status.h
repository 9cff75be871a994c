/* SPDX-License-Identifier: MIT */
/*
 * Status as data: one structure per component, each filled by its
 * component, and three renderers over the whole:
 *
 *   node_status_text()   `kdcsync status`
 *   node_status_json()   `kdcsync status --json` (field names are a
 *                        contract, DESIGN.md §4: add, never rename)
 *   node_status_prom()   Prometheus text exposition: `kdcsync metrics` and
 *                        the [metrics] listen endpoint (node/metrics.h)
 *
 * Who fills what: the daemon (node/daemon_status.c) the node part and each peer's
 * link; the replication engine (node/repl/) its capture counters and each
 * peer's replication; the kprop service (node/kprop/svc.c) its pushers and
 * listener.  Filling reads only memory and the store's metadata page (one
 * LMDB read transaction): never the KDB, never a record scan, so a scrape
 * costs the same at any database size.
 *
 * Everything runs on the loop thread.  A node_status_t owns all its memory
 * (strings are copied in); free it with node_status_free().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "bridge/report.h"
#include "common/buf.h"
#include "common/hist.h"

#define NODE_STATUS_ERR_REASONS 8 /* distinct error reasons kept per peer */

/* One reason (a KS_E* code) and how often it ended a session. */
typedef struct node_status_reason {
	int code;
	uint64_t count;
} node_status_reason_t;

/* A peer's replication, as the engine sees it (node/repl/). */
typedef struct node_status_repl_peer {
	bool present; /* the engine knows this peer */
	bool primary; /* we are its primary: position = its ack */
	bool relayed; /* we serve it as a relay (a replica ourselves) */
	const char *link_role; /* static: "upstream" (we follow it),
				  "downstream" (we serve it), "" (no link
				  yet) */
	char state[32];	       /* state machine state, "down" without a link */
	uint64_t position;     /* acked (primary) or applied (replica) seq */
	uint64_t peer_last_seq, lag_changes, lag_s;
	uint64_t batches, changes; /* sent (primary) / applied (replica) */
	uint64_t full_transfers, incremental_sessions;
	uint64_t last_apply_latency_ms;
	char last_session[160]; /* "" = none */
	char last_error[200];	/* "" = none */
	node_status_reason_t errors[NODE_STATUS_ERR_REASONS];
	size_t n_errors;
	ks_hist_t propagation; /* replica: batch commit -> applied here */
	ks_hist_t apply;       /* replica: time to apply one batch */
} node_status_repl_peer_t;

/* The periodic drift check of a replica (node/repl/drift.c). */
typedef struct node_status_drift {
	uint64_t checks;     /* checks that compared (not skipped) */
	uint64_t records;    /* differing records found by the last one */
	uint64_t checked_us; /* when (wall clock), 0 = never */
	uint64_t seq;	     /* the applied seq it compared at */
} node_status_drift_t;

/* The replication engine itself (capture on a primary). */
typedef struct node_status_repl {
	bool present;	    /* replication configured at all */
	bool primary;	    /* the engine runs as primary */
	char disabled[300]; /* why replication is off; "" when on */
	char kdb_full[200]; /* replica: why the last apply waited for room */
	/* replica: the KDB's health (node/repl/kdb.c) */
	char kdb_state[16];	    /* "ok", "checking", "rebuilding",
				       "damaged"; "" on a primary */
	char kdb_error[300];	    /* why it is not usable, "" = ok */
	char kdb_last_rebuild[300]; /* "" = never rebuilt */
	uint64_t kdb_checks, kdb_rebuilds;
	/* replica: drift of the KDB from the store */
	uint64_t drift_interval_ms; /* 0 = off */
	node_status_drift_t drift;
	char drift_keys[2048]; /* "  what: KEY" lines of the last check */
	/* capture through the KDB module (hook_* keep their JSON names) */
	uint64_t hook_notifications; /* module reports received */
	uint64_t hook_changes;	     /* changes logged from them */
	uint64_t reports_by_kind[KS_REPORT_KIND_COUNT];
	uint64_t reports_dropped, reports_malformed, lockout_ignored;
	uint64_t capture_failed; /* objects a report named, not captured */
	/* full scans */
	uint64_t scans, last_scan_us;
	uint64_t scan_changes; /* changes a scan found (the module missed) */
	uint64_t scans_skipped, scan_skipped_names;
	char last_scan_reason[32];
	ks_hist_t scan; /* duration of full scans */
	/* primary: "scanning" until the start-up scan succeeded (replicas
	 * wait), "failed" while it cannot (retried), then "ready"; "" on a
	 * replica */
	char startup[16];
	char startup_error[200];
	bool scan_running;	/* a scan runs on the worker now */
	uint64_t scan_progress; /* objects it read so far (or the last) */
	uint64_t scans_pending; /* scans queued or running */

	/* primary: failed start-up scans since start; while "failed", ms
	 * until the retry (0: due or running), -1 otherwise */
	uint64_t startup_failures;
	int64_t startup_retry_ms;
	/* synchronous mode ([node] synchronous; primary) */
	uint64_t sync_wanted, sync_timeout_ms;
	char sync_state[16]; /* "off", "sync", "degraded" */
	uint64_t sync_waiting, sync_degradations, sync_acked, sync_timeouts;
	/* lockout on every KDC (PROTOCOL.md §3.10; node/repl/lockout.c) */
	bool lockout_on; /* replicate_lockout */
	/* replica: its KDC's reports, coalesced, sent upstream */
	uint64_t lockout_reports, lockout_coalesced, lockout_pending;
	uint64_t lockout_overflow, lockout_flushes, lockout_sent;
	uint64_t lockout_unsent, lockout_ignored_reports;
	/* primary: replicas' LOCKOUT messages merged into the KDB */
	uint64_t lockout_received, lockout_merged, lockout_unchanged;
	uint64_t lockout_rejected, lockout_dropped, lockout_failed;
	uint64_t lockout_gone;	    /* either: named no existing principal */
	uint64_t lockout_forwarded; /* relay: merged reports sent upstream */
} node_status_repl_t;

/* One peer link (node/daemon_status.c) with its replication. */
typedef struct node_status_peer {
	char name[256];
	const char *mode;      /* static: "native" / "kprop" */
	char state[64];	       /* connection state or why none */
	const char *direction; /* static: "none", "inbound", "outbound" */
	char remote[80];       /* address of the live connection, "" */
	bool link_up;	       /* established (TLS done, I/O state) */
	uint64_t connected_s, connects, bytes_in, bytes_out;
	char last_error[200]; /* "" = none */
	node_status_repl_peer_t repl;
} node_status_peer_t;

/* A kprop push target (node/kprop/svc.c). */
typedef struct node_status_kprop_peer {
	char name[256];
	char host[256];
	unsigned port;
	bool running;
	time_t last_start; /* 0 = never */
	uint64_t last_ms, last_bytes, pushes, failures;
	char last_result[512]; /* "none" before the first push */
} node_status_kprop_peer_t;

typedef struct node_status_kprop {
	bool present; /* the kprop service runs */
	node_status_kprop_peer_t *peers;
	size_t n_peers;
	bool listening;
	char listen_host[256];
	unsigned listen_port;
	uint64_t transfers, refused;
	time_t last_at;	       /* last transfer received, 0 = none */
	char last_result[512]; /* "none", "loaded" or the reason */
} node_status_kprop_t;

/* The event loop's busy time per iteration (node/loopstat.h). */
typedef struct node_status_loop {
	bool present;
	uint64_t iterations;
	uint64_t busy_us;	  /* total busy time */
	uint64_t busy_max_us;	  /* longest iteration since start */
	uint64_t busy_max_60s_us; /* longest iteration in the last minute */
	uint64_t busy_max_2s_us;  /* ... in this second and the one before */
	uint64_t over_10ms, over_100ms; /* iterations busier than that */
	/* the loop thread's CPU time per iteration: what the loop itself did
	 * (busy time also counts waiting for a CPU on a loaded machine) */
	uint64_t cpu_max_us, cpu_max_2s_us, cpu_over_10ms;
	ks_hist_t busy; /* per iteration */
} node_status_loop_t;

typedef struct node_status {
	char name[256];
	const char *role;	 /* static: "primary" / "replica" */
	const char *role_source; /* static: "config", "promote", "follow" */
	bool promoted;		 /* role_source is "promote" */
	long pid;
	uint64_t uptime_s;
	char listen[300];   /* "HOST:PORT", "" = none */
	char upstream[256]; /* the peer it follows (replica), "" = none;
			       the peers it serves have repl.link_role
			       "downstream" */
	char config[1024];
	uint64_t reloads, reloads_rejected;
	time_t reload_at;	/* last attempt, 0 = none */
	char reload_error[600]; /* of the last attempt, "" = it worked */
	bool have_meta;		/* the store's metadata was read */
	char history[33], applied_history[33];
	uint64_t last_seq, applied_seq, records;
	bool have_net; /* connection admission counters (node/net) */
	uint64_t handshakes, refused, evicted;
	bool have_usage; /* the store's size was read */
	uint64_t store_map_bytes, store_used_bytes;
	node_status_repl_t repl;
	node_status_kprop_t kprop;
	node_status_loop_t loop;
	node_status_peer_t *peers;
	size_t n_peers;
} node_status_t;

/** \brief Free what \p s owns (not \p s itself); NULL is fine. */
void node_status_free(node_status_t *s);

/** \brief Count one error reason on a peer (the last slot collects the
 *         rest once all are taken). */
void node_status_count_error(node_status_reason_t *r, size_t *n, int code);

/** \brief \p t as "2026-11-30T08:43:03Z" (UTC), or "never" for 0. */
void node_status_iso(time_t t, char *buf, size_t len);

/** \brief `kdcsync status`. */
int node_status_text(const node_status_t *s, ks_buf_t *out);

/** \brief `kdcsync status --json`: one object and a newline. */
int node_status_json(const node_status_t *s, ks_buf_t *out);

/** \brief Prometheus text exposition (version 0.0.4). */
int node_status_prom(const node_status_t *s, ks_buf_t *out);
