/* SPDX-License-Identifier: MIT */
/*
 * Private to node/repl/: the engine's structures and the functions its
 * files share (double-underscore names, style §9.2).  Nothing outside
 * node/repl/ includes this header.
 *
 * Files and what each owns:
 *   engine.c   lifecycle (new/start/reconfigure/stop/free), links (up,
 *              frame dispatch, writable, down), the tick, feeding the state
 *              machine and performing its actions (do_action, reset)
 *   primary.c  batches (signed frame cache, send_from), the log-grew
 *              fan-out, sending a snapshot, log trimming
 *   replica.c  received blobs: batch apply, snapshot staging and install
 *              (the KDB load committed, then the staged store switched in),
 *              history adoption
 *   capture.c  the primary's capture: KDB scans (timer, start, `kdcsync
 *              snapshot`, audits) and the KDB module's capture socket
 *   compare.c  `kdcsync verify PEER`: digest requests and responses
 *   ctl.c      control requests: dump, local verify (KDB against store)
 *   promote.c  `kdcsync promote`: a replica's store starts a new history
 *   rewind.c   rewind (PROTOCOL.md §3.9): a replica past the fork point
 *              goes back to it (diverged file, values put back) instead
 *              of taking a full copy; the primary's VALUES
 *   status.c   status reports
 *
 * Words (one per concept):
 *   scan      read the whole KDB into the store (`kdcsync snapshot` asks
 *             for one; the control request keeps that name)
 *   snapshot  the full transfer of a record set over a link
 *   install   make a received snapshot live: load the side KDB over the
 *             live one, then switch the staged store set in
 *   promote   a replica becomes the start of a new history (role change)
 *   verify    the local comparison of the KDB with the store
 *   compare   the comparison of the store with a peer's over the link
 *
 * Threads: everything here runs on the daemon's loop thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "bridge/bridge.h"
#include "common/buf.h"
#include "node/repl/repl.h"
#include "node/repl/reports.h"
#include "node/repl/sm.h"
#include "proto/msg.h"
#include "proto/sign.h"
#include "store/store.h"

#define REPL_TICK_MS	      1000u
#define REPL_TRIM_EVERY_TICKS 10u
#define REPL_CACHE_SLOTS      64u /* shared signed batch frames */

/* Per configured peer, surviving its links: for status. */
typedef struct repl_peer {
	struct repl_peer *next;
	char *name;
	node_repl_link_t *link; /* current link, NULL if none */
	uint64_t acked;		/* primary: peer's acked seq */
	bool have_ack;
	uint64_t full_transfers, incremental_sessions;
	uint64_t batches, ops;	 /* sent (primary) or applied (replica) */
	uint64_t last_commit_us; /* replica: commit time of the last batch */
	uint64_t last_apply_us;	 /* replica: when it was applied */
	uint64_t peer_last_seq;	 /* replica: the primary's last seq known */
	char last_error[200];
	char last_session[160]; /* "incremental from 5", "full snapshot ..." */
	/* metrics (node/status.h) */
	node_status_reason_t errors[NODE_STATUS_ERR_REASONS]; /* links
								 that ended in
								 an error */
	size_t n_errors;
	ks_hist_t propagation; /* replica: batch commit -> applied here */
	ks_hist_t apply;       /* replica: apply time of one batch */
} repl_peer_t;

/* One signed BATCH frame, shared by every link that needs it. */
typedef struct repl_cached_batch {
	uint64_t first, last;
	ks_buf_t frame;
} repl_cached_batch_t;

/* A range (RANGES) or a bucket (LIST) still to compare with the peer. */
typedef struct repl_compare_item {
	uint8_t kind; /* enum proto_digest_kind */
	uint16_t lo, hi;
} repl_compare_item_t;

/*
 * One content comparison with a peer over its link (PROTOCOL.md §3.8):
 * a stack of ranges to compare, one request in flight at a time.
 */
typedef struct repl_compare {
	char peer[256];
	bool running, done;
	int err;	   /* KS_EOK, or why it could not finish */
	char errtext[200]; /* with err */
	repl_compare_item_t *stack;
	size_t n, cap;
	uint32_t next_id, wait_id;
	repl_compare_item_t wait; /* the request in flight */
	bool have_pos;
	uint8_t peer_history[16], our_history[16];
	uint64_t peer_seq, our_seq, our_records;
	uint64_t requests, lists, differ;
	ks_buf_t report; /* one line per differing key */
} repl_compare_t;

struct cap_client;

struct node_repl {
	uv_loop_t *loop;
	store_t *store;
	bridge_t *bridge;
	proto_key_t *key;     /* primary: signing key */
	proto_trust_t *trust; /* replica: trusted keys */
	int role;
	char *name, *state_dir, *kdc_profile, *signing_key;
	node_strlist_t trusted;
	bool replicate_lockout;
	uint64_t scan_interval_ms;
	uv_timer_t tick, scan;
	uv_poll_t cap_poll; /* the capture socket (KDB module reports) */
	int cap_fd;
	struct cap_client *cap_clients;
	char cap_path[600];
	bool started, stopping;
	bool promoted;	    /* replica promoted: follows no primary */
	bool no_rewind;	    /* replica: cannot rewind (rewind.c): HELLO
			       without PROTO_CAP_REWIND, so a full copy */
	char disabled[300]; /* why replication is off, "" when on */
	char kdb_full[200]; /* replica: why the last apply waited for room on
			       the KDB's file system, "" once one worked */
	int closing;	    /* handles still closing after stop */
	void (*done)(void *);
	void *done_arg;
	unsigned ticks;
	repl_peer_t *peers;
	repl_cached_batch_t cache[REPL_CACHE_SLOTS];
	unsigned cache_next;
	uint8_t cache_history[16];
	/* capture state and statistics (capture.c; status.c shows them) */
	uint64_t scans, last_scan_ms, last_scan_us;
	uint64_t scans_skipped;	     /* audits skipped: KDB files unchanged */
	uint64_t scan_changes;	     /* changes logged by scans */
	uint64_t scan_skipped_names; /* last scan: names too long to store */
	uint64_t cap_changes;	     /* changes logged from module reports */
	uint64_t cap_failed;	     /* objects a report named, not captured */
	repl_report_stats_t reports; /* reports received, by kind */
	char last_scan_reason[32];   /* start, audit, snapshot, report:... */
	bool scan_due;		     /* a capture failed: the audit must run */
	bool have_scan_stamp;
	bridge_kdb_stamp_t scan_stamp; /* KDB files when the last scan began */
	ks_hist_t scan_hist;	       /* full scan durations */
	repl_compare_t compare;	       /* kdcsync verify PEER: one at a time */
};

struct node_repl_link {
	node_repl_t *r;
	node_conn_t *conn;
	repl_peer_t *peer;
	repl_sm_t sm;
	bridge_load_t *load; /* replica: side KDB during a snapshot */
	uint32_t peer_caps;  /* from the peer's HELLO */
	bool hello_seen;
	uint64_t snap_records;
	uint64_t t_session_us;
	uint64_t snap_bytes; /* snapshot chunk bytes received (signed blobs) */
	/* the session (this link) for its key=value log line */
	uint64_t sess_t0_ns, sess_seq0, sess_batches0, sess_ops0;
	ks_buf_t out; /* scratch for encoding */
};

/* --- engine.c ------------------------------------------------------------ */

/** \brief The store's metadata (one short read transaction). */
int node_repl__meta(store_t *s, store_meta_t *m);

/** \brief A primary's log window as the state machine wants it. */
void node_repl__window_of(const store_meta_t *m, repl_sm_window_t *w);

/** \brief Encode \p m and queue it on the link. */
int node_repl__send_msg(node_repl_link_t *l, const proto_msg_t *m);

/** \brief Step the link's machine with \p ev and perform the action. */
void node_repl__feed(node_repl_link_t *l, const repl_sm_event_t *ev);

/** \brief An action failed: REPL_EV_LOCAL_ERROR (resets the link). */
void node_repl__local_error(node_repl_link_t *l, int code);

/** \brief Perform one action of the state machine. */
void node_repl__do_action(node_repl_link_t *l, repl_sm_action_t *act);

/** \brief The RESET action: record why, tell the peer, close the link. */
void node_repl__reset_link(node_repl_link_t *l, const repl_sm_action_t *act);

/** \brief One more handle of the engine closed (stop's accounting). */
void node_repl__closed_one(node_repl_t *r);

/** \brief uv_close callback for a handle whose data is the engine. */
void node_repl__closed_uv(uv_handle_t *h);

/* --- primary.c ----------------------------------------------------------- */

/** \brief Queue batches from \p from while the link takes them. */
void node_repl__send_from(node_repl_link_t *l, uint64_t from);

/** \brief Tell one streaming link that the log grew. */
void node_repl__link_log_grew(node_repl_link_t *l);

/** \brief Tell every link that the log grew. */
void node_repl__all_log_grew(node_repl_t *r);

/** \brief ANSWER(SNAPSHOT) and the whole snapshot at (history, seq). */
int node_repl__send_snapshot(node_repl_link_t *l, const uint8_t history[16],
			     uint64_t seq);

/** \brief Free the signed batch frames. */
void node_repl__cache_clear(node_repl_t *r);

/** \brief Trim the log honouring the connected replicas. */
void node_repl__trim(node_repl_t *r);

/* --- replica.c ----------------------------------------------------------- */

/** \brief A BATCH, SNAP_CHUNK or SNAP_END frame (decoded, not opened). */
int node_repl__on_blob(node_repl_link_t *l, const proto_msg_t *m, uint64_t now);

/** \brief Remember the primary's last seq as the highest seen. */
void node_repl__note_peer_last(node_repl_link_t *l, uint64_t seq);

/** \brief REPL_ACT_STAGE_BEGIN: empty the stage, open a side KDB. */
int node_repl__stage_begin(node_repl_link_t *l, uint64_t seq);

/** \brief Drop the link's side KDB, if any. */
void node_repl__load_abort(node_repl_link_t *l);

/** \brief REPL_ACT_ADOPT_HISTORY. */
int node_repl__adopt_history(node_repl_link_t *l, const uint8_t history[16],
			     uint64_t seq);

/* --- rewind.c ------------------------------------------------------------ */

/** \brief Replica, REPL_ACT_SEND_FETCH: name the keys changed since \p seq
 *         (or give up rewinding: r->no_rewind, the caller resets). */
int node_repl__send_fetch(node_repl_link_t *l, uint64_t seq);

/** \brief Replica: a VALUES frame (decoded, not opened). */
int node_repl__on_values(node_repl_link_t *l, const proto_msg_t *m,
			 uint64_t now);

/** \brief Primary: a FETCH frame. */
int node_repl__on_fetch(node_repl_link_t *l, const proto_msg_t *m,
			uint64_t now);

/* --- capture.c ----------------------------------------------------------- */

/** \brief Scan the KDB into the store now, then trim and fan out;
 *         \p reason (static text: "start", "snapshot", "audit", ...) is
 *         shown by status. */
int node_repl__scan(node_repl_t *r, const char *reason,
		    bridge_scan_stats_t *st);

/** \brief Primary: the capture socket, the first scan, the scan timer. */
int node_repl__capture_start(node_repl_t *r);

/** \brief A new scan interval. */
void node_repl__capture_reconfigure(node_repl_t *r, uint64_t interval_ms);

/** \brief Close the capture socket and its clients (counted in closing). */
void node_repl__capture_stop(node_repl_t *r);

/** \brief Close the capture socket's descriptor and unlink it (free). */
void node_repl__capture_free(node_repl_t *r);

/* --- compare.c ----------------------------------------------------------- */

/** \brief Either side: answer a DIGEST_REQ from our store. */
int node_repl__digest_req(node_repl_link_t *l, const proto_digest_req_t *q);

/** \brief Requester: a DIGEST_RSP for the request in flight. */
int node_repl__digest_rsp(node_repl_link_t *l, const proto_digest_rsp_t *a);

/** \brief Control "verify PEER": start a comparison. */
int node_repl__compare_start(node_repl_t *r, const char *peer, ks_buf_t *out);

/** \brief Control "verify-result". */
int node_repl__compare_result(node_repl_t *r, ks_buf_t *out);

/** \brief The link of \p l went down: fail a comparison running on it. */
void node_repl__compare_link_down(node_repl_link_t *l);

/** \brief Free the comparison's memory. */
void node_repl__compare_free(node_repl_t *r);

/* --- logs.c --------------------------------------------------------------- */

/**
 * \brief One key=value line for a full snapshot sent or received:
 *        "transfer peer= direction=send|receive kind=full history= to_seq=
 *        records= bytes= ms= result=ok".
 */
void node_repl__log_transfer(node_repl_link_t *l, const char *direction,
			     const uint8_t history[16], uint64_t seq,
			     uint64_t records, uint64_t bytes, uint64_t ms);

/** \brief Note where a session (link) starts, for its log line. */
void node_repl__session_begin(node_repl_link_t *l);

/**
 * \brief One key=value line when a session (link) ends: "session peer=
 *        role= history= from_seq= to_seq= batches= changes= bytes_in=
 *        bytes_out= ms= result=ok|ERRNAME [reason=...]"; counts the error
 *        by reason for the metrics.
 */
void node_repl__session_end(node_repl_link_t *l, int err, const char *reason);
