/* SPDX-License-Identifier: MIT */
/*
 * Private to node/repl/: the engine's structures and the functions its
 * files share (double-underscore names, style §9.2).  Nothing outside
 * node/repl/ includes this header.
 *
 * Files and what each owns:
 *   engine.c   lifecycle (new/start/reconfigure/stop/free), the tick,
 *              shared helpers (metadata, position, realm)
 *   dispatch.c links: up (held in NOT_READY during the start-up scan),
 *              frame dispatch, the inbox, link jobs, writable, down
 *   actions.c  feeding the state machine and performing its actions
 *              (do_action, the reset path), following the primary
 *   link.c     the seam to the network (link.h): a link's calls to its
 *              connection, the engine's clock, the node_conn implementation
 *   primary.c  batches (built on the pool, signed frame cache,
 *              send_from), the log-grew fan-out, sending a snapshot, acks,
 *              log trimming
 *   replica.c  received blobs: batch apply, snapshot staging and install
 *              (the KDB load committed, then the staged store switched in),
 *              history adoption
 *   capture.c  the primary's capture: KDB scans (timer, start, `kdcsync
 *              snapshot`, audits) and the KDB module's capture socket
 *              (also a replica's, with replicate_lockout: lockout.c)
 *   compare.c  `kdcsync verify PEER`: digest requests and responses, for
 *              the stores and (§3.11) the KDBs
 *   compare_merge.c  the four listings of a bucket merged, key by key
 *   kdbindex.c the KDB's record set filed by bucket (for §3.11), and the
 *              answers to the peer's KDB_DIGEST_REQ
 *   refetch.c  `kdcsync repair` from the primary (§3.12): the store's
 *              differing records refetched; the primary's REVALUES
 *   ctl.c      control requests: dump, local verify (KDB against store)
 *   promote.c  `kdcsync promote`: a replica's store starts a new history
 *   rewind.c   rewind (PROTOCOL.md §3.9): a replica past the fork point
 *              goes back to it (diverged file, values put back) instead
 *              of taking a full copy; the primary's VALUES
 *   status.c   status reports
 *   drift.c    the KDB against the store, both ways: `kdcsync verify`
 *              (local), `kdcsync repair`, the periodic drift check
 *   kdb.c      the replica's KDB health: check (in a child process),
 *              rebuild from the store when damaged, retry when it cannot
 *   syncmode.c synchronous mode: writes waiting for replicas' acks
 *   lockout.c  lockout on every KDC (PROTOCOL.md §3.10): the KDC's lockout
 *              reports coalesced (coalesce.c, pure), a replica's LOCKOUT
 *              upstream, the primary's merge of them into its KDB and log
 *   relay.c    cascades: a replica serving replicas relays the primary's
 *              signed batches as they came (PROTOCOL.md §3.13)
 *
 * Words (one per concept):
 *   scan      read the whole KDB into the store (`kdcsync snapshot` asks
 *             for one; the control request keeps that name)
 *   snapshot  the full transfer of a record set over a link
 *   install   make a received snapshot live: load the side KDB over the
 *             live one, then switch the staged store set in
 *   promote   a replica becomes the start of a new history (role change)
 *   verify    the local comparison of the KDB with the store
 *   compare   the comparison of the store and the KDB with a peer's over
 *             the link
 *
 * Threads (see worker.h for the queue between them):
 *   loop thread    everything in node_repl_t and node_repl_link_t except
 *                  the fields marked "worker"; the links, the state
 *                  machines, the peers' statistics, the control requests,
 *                  status; store reads that are short (meta, one log
 *                  batch, range digests).
 *   worker thread  the bridge (the KDB) and every store write: scans,
 *                  captures, batch apply, staging, install, acks, trims,
 *                  adopt history; and the long store reads (dump, local
 *                  verify, bucket listings).  Jobs carry copies of their
 *                  inputs; their results come back to the loop as the
 *                  job's done callback, which feeds the state machine.
 *   pool thread    (libuv's threadpool, uv_queue_work) a primary's snapshot
 *                  of the store is encoded there a slice at a time, from
 *                  one read transaction, and its signed batches are built
 *                  there (log read, zstd, Ed25519); store reads only.
 * A link with a job in flight is "busy": frames that arrive meanwhile wait
 * in its inbox, in order, and are handled when the job is done.  A link
 * that goes down while jobs are in flight stays allocated (refs) until
 * their done callbacks have run; they then only clean up.  A primary's
 * link that comes up during the start-up scan waits in REPL_ST_NOT_READY
 * (its frames in the inbox) until the scan is done.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "bridge/bridge.h"
#include "common/buf.h"
#include "node/repl/coalesce.h"
#include "node/repl/link.h"
#include "node/repl/repl.h"
#include "node/repl/reports.h"
#include "node/ctl.h"
#include "node/repl/sm.h"
#include "node/repl/sync.h"
#include "node/repl/worker.h"
#include "proto/msg.h"
#include "proto/sign.h"
#include "store/store.h"

#define REPL_TICK_MS	      1000u
#define REPL_TRIM_EVERY_TICKS 10u
#define REPL_CACHE_SLOTS      64u    /* shared signed batch frames */
#define REPL_ENCODE_MAX	      4u     /* batch builds in flight (pool) */
#define REPL_KDB_RETRY_MS     15000u /* a KDB that could not be fixed */
#define REPL_HELD_RETRY_MS                                                     \
	2000u /* a batch waiting for room on the KDB's
				       file system */

/* What the KDB job is doing now (kdb.c; status reads it). */
enum repl_kdb_phase {
	REPL_KDB_PHASE_IDLE,
	REPL_KDB_PHASE_CHECK,
	REPL_KDB_PHASE_REBUILD
};

/* Which way a peer's link goes, seen from this node (status). */
enum repl_link_role {
	REPL_LINK_NONE,
	REPL_LINK_UPSTREAM,   /* we follow it (replica role) */
	REPL_LINK_DOWNSTREAM, /* we serve it (primary, or a relay) */
};

/* Per configured peer, surviving its links: for status. */
typedef struct repl_peer {
	struct repl_peer *next;
	char *name;
	int link_role; /* enum repl_link_role, of its last link */
	bool relayed;  /* its last link was served by this node as a relay */
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
	/* KDBs too (PROTOCOL.md §3.11; the peer has PROTO_CAP_KDB_DIGEST):
	 * each step asks for the peer's store digests, then its KDB's, and
	 * compares all four record sets */
	bool kdb;
	bool collect; /* for a repair: stores only, differing keys to
			 refetch.c (node_repl__refetch_key) */
	struct node_repl *r;
	uint64_t gen;			  /* of this comparison (jobs check) */
	struct repl_kdbindex *mine_store; /* our store's listings (NULL
					     while a list job holds it) */
	struct repl_kdbindex *mine_kdb;	  /* our KDB's digests, read at the
					   start (NULL while a list job on
					   the worker holds it) */
	/* single buckets to list, after every range was compared (so that
	 * both sides read their KDB once for many listings) */
	uint16_t lists_todo[STORE_BUCKETS];
	size_t n_lists;
	bool lists_sorted;
	bool indexing;	      /* our KDB's digests are being read (or were) */
	uint8_t phase;	      /* 0: store request, 1: KDB request */
	ks_buf_t their_store; /* phase 1: the store response's body */
	uint32_t their_store_count;
	uint64_t our_kdb_records;
	/* keys per kind of difference (a key may count in several) */
	uint64_t d_store, d_kdb, d_here, d_peer;
} repl_compare_t;

/* `kdcsync repair` from the primary (refetch.c), one at a time. */
typedef struct repl_refetch {
	bool running;
	struct node_ctl_wait *wait; /* the control request, answered once */
	char peer[256];
	uint64_t seq;	/* our applied seq, named in the REFETCH */
	ks_buf_t keys;	/* the REFETCH body: keys that differ */
	uint32_t count; /* keys in it */
	uint32_t recv;	/* ops received so far in REVALUES parts */
	uint32_t gen;	/* this repair's number: older parts' jobs ignored */
	/* ops of a failed repair's answer still on the wire from skip_peer,
	 * dropped as they arrive (kept across a new start) */
	uint32_t skip;
	char skip_peer[256];
	ks_buf_t report;
} repl_refetch_t;

/* The KDB's record set filed by bucket (kdbindex.c). */
typedef struct repl_kdbindex repl_kdbindex_t;

struct cap_client;

/* Lockout upstream (lockout.c): cumulative counters for status. */
typedef struct repl_lockout_stats {
	/* replica */
	uint64_t reports;	  /* LOCKOUT reports from this KDC */
	uint64_t replica_ignored; /* other reports on a replica's socket */
	uint64_t flushes;	  /* read jobs (one per coalescing window) */
	uint64_t sent;		  /* LOCKOUT messages sent upstream */
	uint64_t unsent; /* names not sent (primary without the capability,
			    KDB unreadable, send failed) */
	/* primary, and a relay for its downstream */
	uint64_t received;  /* LOCKOUT messages from replicas */
	uint64_t merged;    /* that changed the KDB (then logged; a relay:
			       forwarded upstream) */
	uint64_t unchanged; /* that the merge left as they were */
	uint64_t rejected;  /* refused: master key principal, future date */
	uint64_t overflow;  /* dropped: the merge queue was full */
	uint64_t failed;    /* a KDB error while merging */
	/* both */
	uint64_t gone; /* named a principal that does not exist */
	/* relay */
	uint64_t forwarded; /* merged downstream reports queued upstream */
} repl_lockout_stats_t;

/* Primary or relay: LOCKOUT reports waiting for the merge job (lockout.c). */
typedef struct repl_lockout_in {
	repl_coalesce_set_t names; /* one per report, in arrival order */
	ks_lockout_t *fields;	   /* per name */
	size_t cap;
} repl_lockout_in_t;

/* A synchronous-mode request of the KDB module: answered once its write
 * is captured and acknowledged (capture.c, syncmode.c). */
typedef struct repl_cap_req {
	uint64_t conn, id;
} repl_cap_req_t;

typedef struct repl_cap_reqs {
	repl_cap_req_t *v;
	size_t n, cap;
} repl_cap_reqs_t;

struct node_repl {
	uv_loop_t *loop;
	node_repl_clock_t clock; /* now_ms NULL: the loop's, and the tick
				    timer runs (link.h) */
	store_t *store;
	bridge_t *bridge;
	proto_key_t *key;     /* primary: signing key */
	proto_trust_t *trust; /* replica: trusted keys */
	int role;
	char *name, *state_dir, *kdc_profile, *signing_key;
	char *primary;	   /* replica: the peer it follows (NULL: none) */
	bool relay_listen; /* replica with a listen address: may relay */
	node_strlist_t trusted;
	bool replicate_lockout;
	uint64_t scan_interval_ms;
	size_t verify_memory; /* [node] verify_memory: KDB listings per read */
	uv_timer_t tick, scan;
	uv_poll_t cap_poll; /* the capture socket (KDB module reports) */
	int cap_fd;
	struct cap_client *cap_clients;
	uint64_t cap_next_conn; /* ids of capture connections, from 1 */
	/* reports and requests read while a capture job is queued or running:
	 * the next job takes them all (capture.c) */
	bool cap_busy;
	repl_reports_t cap_rs;
	repl_cap_reqs_t cap_reqs;
	char cap_path[600];
	/* lockout on every KDC (lockout.c) */
	repl_coalesce_t lk_pending; /* replica: principals to report */
	uv_timer_t lk_timer;	    /* replica: the next flush */
	repl_lockout_in_t lk_in;    /* primary, relay: reports to merge */
	bool lk_job;		    /* a read or merge job is in flight */
	repl_lockout_stats_t lk;
	/* synchronous mode (syncmode.c) */
	repl_sync_t sync;
	uv_timer_t sync_timer;
	char sync_marker[620];
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
	/* batches being built on the pool (primary.c): their first seqs */
	uint64_t enc_from[REPL_ENCODE_MAX];
	unsigned enc_n;
	unsigned snap_n; /* snapshot slices being encoded on the pool */
	uint64_t batches_built, batch_build_us; /* for status */
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
	bridge_kdb_stamp_t scan_stamp;	/* KDB files when the last scan began */
	ks_hist_t scan_hist;		/* full scan durations */
	repl_compare_t compare;		/* kdcsync verify PEER: one at a time */
	repl_refetch_t refetch;		/* kdcsync repair from the primary */
	repl_kdbindex_t *kdb_answer;	/* worker: our KDB for the peer's
					  KDB_DIGEST_REQs (rebuilt at each
					  comparison's first request) */
	repl_kdbindex_t *store_answer;	/* worker: our store's listings for
					  the peer's DIGEST_REQ LISTs */
	bool store_want[STORE_BUCKETS]; /* loop: buckets the peer's RANGES
					   named alone (may be listed) */
	uint64_t store_want_gen;	/* loop: its comparison, counted at
					   each RANGES over every bucket */
	uint64_t kdb_answer_ms;		/* when it last answered (loop) */
	bool kdb_answer_held;		/* it may hold an index (loop) */
	node_repl_worker_t *worker;	/* NULL until started */
	unsigned scans_pending;		/* scan jobs queued or running */
	struct scan_job *scan_queued;	/* the last one queued, until done */
	bool trim_pending;
	/* primary: the start-up scan (capture.c).  Replicas are served only
	 * once a scan succeeded since start (ready): a link that comes up
	 * before waits (held, dispatch.c) rather than see the store before
	 * the KDB was read into it. */
	bool ready;
	uint64_t start_ms;	 /* when the engine started */
	char startup_error[200]; /* why the start-up scan failed, "" */
	int scan_active;	 /* a scan runs on the worker now (__atomic: the
			    worker writes it, status reads it) */
	/* failed start-up scans so far, and when the next retry is due
	 * (node_repl__now; 0: none): node_repl__startup_failed() */
	unsigned startup_failures;
	uint64_t startup_retry_at;
	/* worker: the side KDB of the snapshot being received (one primary,
	 * so one staging area; the store's stage has the same owner) */
	bridge_load_t *load;
	node_repl_observer_t observer; /* the daemon (follow), may be unset */
	char realm[256];	       /* of the KDB, "" until known */
	/* worker: the side KDB's writer thread while r->load is filled
	 * (loader.h); NULL when the worker writes itself */
	struct node_repl_loader *loader;
	/* the replica's KDB health (kdb.c) */
	bool kdb_bad;		  /* worker: keep away from the live KDB */
	atomic_int kdb_phase;	  /* written by the worker, read by status */
	bool kdb_check_pending;	  /* a KDB job is queued or running */
	bool kdb_blocked;	  /* cannot fix it: links refused */
	uint64_t kdb_retry_at_ms; /* when to try again (kdb_error set) */
	uint64_t kdb_checks, kdb_rebuilds;
	char kdb_error[300];	    /* why the KDB is not usable, "" = ok */
	char kdb_last_rebuild[300]; /* what the last rebuild said */
	/* drift (drift.c): the periodic check, loop side */
	uint64_t drift_interval_ms, drift_next_ms;
	bool drift_pending;
	node_status_drift_t drift; /* the last check's result */
	ks_buf_t drift_keys;	   /* its first key lines */
	/* worker: what the last clean check saw (to skip the next) */
	bool drift_clean;
	uint64_t drift_seq;
	bridge_kdb_stamp_t drift_stamp;
};

struct node_repl_link {
	node_repl_t *r;
	const node_repl_io_t *io; /* the connection under it (link.h) */
	void *conn;		  /* its pointer; NULL once down */
	repl_peer_t *peer;
	repl_sm_t sm;
	bool relay;	    /* a replica's downstream link (relay.c): the
			       primary role, relaying the blobs it applied */
	uint32_t peer_caps; /* from the peer's HELLO */
	bool hello_seen;
	uint64_t snap_records;
	uint64_t t_session_us;
	uint64_t snap_bytes; /* snapshot chunk bytes received (signed blobs) */
	/* replica: where a full copy's time went (worker time per phase,
	 * microseconds; logged with the install) */
	struct {
		uint64_t open_us;  /* signature checks and decompression */
		uint64_t stage_us; /* the store's staging writes */
		uint64_t parse_us; /* records parsed for the side KDB */
		uint64_t wait_us;  /* the worker waiting for the writer */
		uint64_t load_us;  /* puts into the side KDB (writer thread) */
		uint64_t seal_us;  /* the staged set built and checked */
		uint64_t kdb_us;   /* the side KDB promoted over the live */
		uint64_t store_us; /* the staged store set switched in */
		uint64_t chunks;
	} snap_phase;
	/* the session (this link) for its key=value log line */
	uint64_t sess_t0_ns, sess_seq0, sess_batches0, sess_ops0;
	ks_buf_t out;	 /* scratch for encoding */
	int refs;	 /* the connection's, plus one per job in flight */
	unsigned jobs;	 /* link jobs in flight: busy when nonzero */
	bool down;	 /* the connection is gone (conn is NULL) */
	bool paused;	 /* reading stopped: the inbox is full (dispatch.c) */
	uint64_t pauses; /* times reading was stopped for it */
	/* frames waiting while busy, oldest first, each its own allocation
	 * (dispatch.c); inbox_bytes: their total length */
	struct inbox_frame *inbox_head, *inbox_tail;
	size_t inbox_bytes;
	struct snap_src *snap_src; /* primary: the snapshot being sent */
	ks_buf_t snap;		   /* primary: snapshot frames still to send */
	size_t snap_off;   /* bytes of snap already queued on the link */
	bool snap_running; /* primary: a slice is being encoded */
	/* replica: a batch waiting for room on the KDB's file system; it
	 * keeps the link busy (its job is counted) and is tried again on
	 * the tick, while an ACK of the applied position keeps the link */
	struct blob_job *held;
	uint64_t held_retry_ms;
	/* replica: the rewind's VALUES parts received so far (rewind.c),
	 * until the last one hands them all to the rewind */
	struct repl_values_part *values_parts;
	size_t n_values_parts;
};

/* --- link.c -------------------------------------------------------------- */

/** \brief The engine's time in milliseconds (its clock, or the loop's). */
uint64_t node_repl__now(const node_repl_t *r);

/** \brief Queue one frame's bytes on the link (KS_ESTATE once down). */
int node_repl__io_send(node_repl_link_t *l, const void *p, size_t n);

/** \brief Whether the link's queue is over its limit (true once down). */
bool node_repl__io_congested(node_repl_link_t *l);

/** \brief Stop or resume reading the link (nothing once down). */
void node_repl__io_pause(node_repl_link_t *l, bool pause);

/** \brief Close the link; node_repl_link_down() follows later. */
void node_repl__io_close(node_repl_link_t *l, int err, const char *reason);

/** \brief Bytes received and sent on the link (0 once down). */
void node_repl__io_bytes(node_repl_link_t *l, uint64_t *in, uint64_t *out);

/* --- engine.c ------------------------------------------------------------ */

/** \brief The store's metadata (one short read transaction). */
int node_repl__meta(store_t *s, store_meta_t *m);

/** \brief A replica's position: its applied one, or its own last seq
 *         when its own log went further (an old primary following). */
void node_repl__position(const store_meta_t *m, const uint8_t **history,
			 uint64_t *seq);

/** \brief A primary's log window as the state machine wants it. */
void node_repl__window_of(const store_meta_t *m, repl_sm_window_t *w);

/** \brief The realm of the KDB (from the store's K/M record; "" until
 *         known).  Cached in r->realm. */
const char *node_repl__realm(node_repl_t *r);

/** \brief Submit a job of the engine (not of a link).  False when the
 *         engine is stopping: the job was not queued (free it). */
bool node_repl__job(node_repl_t *r, node_repl_job_t *j);

/** \brief One more handle of the engine closed (stop's accounting). */
void node_repl__closed_one(node_repl_t *r);

/** \brief uv_close callback for a handle whose data is the engine. */
void node_repl__closed_uv(uv_handle_t *h);

/* --- actions.c ----------------------------------------------------------- */

/** \brief Encode \p m and queue it on the link. */
int node_repl__send_msg(node_repl_link_t *l, const proto_msg_t *m);

/** \brief Step the link's machine with \p ev and perform the action. */
void node_repl__feed(node_repl_link_t *l, const repl_sm_event_t *ev);

/**
 * \brief The one way a link ends on an error of ours or a frame we refuse:
 *        REPL_EV_LOCAL_ERROR into the state machine, whose RESET records
 *        why, tells the peer and closes (node_repl__reset_link).
 * \param reason static text (NULL: "local failure").
 */
void node_repl__fail(node_repl_link_t *l, int code, const char *reason);

/** \brief An action failed: node_repl__fail(l, code, NULL). */
void node_repl__local_error(node_repl_link_t *l, int code);

/** \brief Perform one action of the state machine. */
void node_repl__do_action(node_repl_link_t *l, repl_sm_action_t *act);

/** \brief The RESET action: record why, tell the peer, close the link. */
void node_repl__reset_link(node_repl_link_t *l, const repl_sm_action_t *act);

/** \brief Replica: the state machine refused the primary's HELLO: name
 *         the details for the operator, tell the observer. */
void node_repl__hello_refused(node_repl_link_t *l, const proto_hello_t *h,
			      int code);

/** \brief Replica: the primary answered: align an old primary's log (a
 *         link job), tell the observer. */
void node_repl__answered(node_repl_link_t *l, const proto_answer_t *a);

/* --- dispatch.c ---------------------------------------------------------- */

/**
 * \brief Submit a job that belongs to link \p l: the link is busy (its
 *        frames wait in the inbox) until the job's done callback calls
 *        node_repl__link_job_end().  The link stays allocated meanwhile;
 *        done callbacks check l->down first.
 */
void node_repl__link_job(node_repl_link_t *l, node_repl_job_t *j);

/**
 * \brief A link job's done callback is finished with the link: frames that
 *        waited are handled, the link is released (it may be freed here).
 */
void node_repl__link_job_end(node_repl_link_t *l);

/** \brief Primary: the first scan since start succeeded: the links that
 *         came up meanwhile start (HELLO, their waiting frames). */
void node_repl__links_ready(node_repl_t *r);

/** \brief The start-up scan failed with \p err (primary, not ready):
 *         say why and retry it from the tick after a back-off
 *         (repl_sm_startup_retry_ms).  Loop thread. */
void node_repl__startup_failed(node_repl_t *r, int err);

/* --- primary.c ----------------------------------------------------------- */

/** \brief Queue batches from \p from while the link takes them; one not
 *         built yet is built on a pool thread (its done sends it). */
void node_repl__send_from(node_repl_link_t *l, uint64_t from);

/** \brief Tell one streaming link that the log grew. */
void node_repl__link_log_grew(node_repl_link_t *l);

/** \brief Tell every link that the log grew. */
void node_repl__all_log_grew(node_repl_t *r);

/** \brief ANSWER(SNAPSHOT), then the snapshot at (history, seq), encoded
 *         a slice at a time on a pool thread as the link drains. */
int node_repl__send_snapshot(node_repl_link_t *l, const uint8_t history[16],
			     uint64_t seq);

/** \brief The link drained: queue more of a snapshot being sent.
 *  \return whether a snapshot is still in progress on the link. */
bool node_repl__snapshot_pump(node_repl_link_t *l);

/** \brief The link went down: release a snapshot being sent (its read
 *         transaction); one being encoded is released when its slice ends. */
void node_repl__snapshot_abort(node_repl_link_t *l);

/** \brief REPL_ACT_RECORD_ACK: remember the peer's ack, store it (a
 *         worker job), send more. */
void node_repl__record_ack(node_repl_link_t *l, uint64_t seq);

/** \brief Stop: count the batch builds in flight as closing (each
 *         closes one when done). */
void node_repl__encode_stop(node_repl_t *r);

/** \brief Free the signed batch frames. */
void node_repl__cache_clear(node_repl_t *r);

/** \brief Trim the log honouring the connected replicas (a worker job;
 *         one at a time). */
void node_repl__trim(node_repl_t *r);

/* --- replica.c ----------------------------------------------------------- */

/** \brief A BATCH, SNAP_CHUNK or SNAP_END frame (\p frame borrowed, \p m
 *         its decoded message): opened and performed by link jobs. */
int node_repl__on_blob(node_repl_link_t *l, ks_view_t frame,
		       const proto_msg_t *m);

/** \brief Remember the primary's last seq as the highest seen. */
void node_repl__note_peer_last(node_repl_link_t *l, uint64_t seq);

/** \brief The tick: try a batch held for room again, tell the primary we
 *         are still here (an ACK of the applied position). */
void node_repl__held_tick(node_repl_link_t *l, uint64_t now);

/** \brief The link went down: drop a held batch (ends its job). */
void node_repl__held_drop(node_repl_link_t *l);

/** \brief REPL_ACT_STAGE_BEGIN: empty the stage, open a side KDB (a link
 *         job). */
void node_repl__stage_begin(node_repl_link_t *l, uint64_t seq);

/** \brief Drop the side KDB of a snapshot being received, if any (a
 *         worker job, after the jobs already queued). */
void node_repl__stage_abort(node_repl_t *r);

/** \brief Stop the side KDB's writer and destroy the side KDB (worker,
 *         or the loop once the worker is gone). */
void node_repl__load_abort(node_repl_t *r);

/** \brief REPL_ACT_ADOPT_HISTORY (a link job). */
void node_repl__adopt_history(node_repl_link_t *l, const uint8_t history[16],
			      uint64_t seq);

/* --- drift.c --------------------------------------------------------------- */

/** \brief "  WHAT KEY\n", the key printable (other bytes as \xNN). */
int node_repl__key_line(ks_buf_t *out, const char *what, ks_view_t key);

/** \brief Control "verify": the KDB against the store (deferred answer). */
int node_repl__verify(node_repl_t *r);

/** \brief Control "repair": a replica rewrites its drifted KDB records
 *         from the store (deferred answer, or "error: ..." in \p out). */
int node_repl__repair(node_repl_t *r, ks_buf_t *out);

/** \brief The local repair for a request deferred already (\p w), its
 *         report after \p prefix (copied). */
void node_repl__repair_local(node_repl_t *r, struct node_ctl_wait *w,
			     ks_view_t prefix);

/** \brief The tick: start the periodic drift check when it is due. */
void node_repl__drift_tick(node_repl_t *r, uint64_t now);

/** \brief The drift check's part of the status. */
void node_repl__drift_status(node_repl_t *r, node_status_repl_t *out);

/* --- kdb.c ----------------------------------------------------------------- */

/** \brief Replica: queue a check of the KDB (rebuilt from the store when
 *         damaged); nothing when one is pending.  \p reason: for the log. */
void node_repl__kdb_check(node_repl_t *r, const char *reason);

/** \brief The tick: try again to fix a KDB that could not be fixed. */
void node_repl__kdb_tick(node_repl_t *r, uint64_t now);

/** \brief Worker: may jobs use the live KDB (open, not known damaged)? */
bool node_repl__kdb_usable(const node_repl_t *r);

/** \brief Could \p code (an apply's failure in the KDB) mean damage? */
bool node_repl__kdb_suspect(int code);

/** \brief The KDB's part of the status. */
void node_repl__kdb_status(node_repl_t *r, node_status_repl_t *out);

/* --- rewind.c ------------------------------------------------------------ */

/** \brief Replica, REPL_ACT_SEND_FETCH: name the keys changed since \p seq
 *         (or give up rewinding: r->no_rewind, the caller resets). */
int node_repl__send_fetch(node_repl_link_t *l, uint64_t seq);

/** \brief Replica: a VALUES frame (\p frame borrowed, \p m its decoded
 *         message): opened on the loop; the rewind itself (diverged file,
 *         KDB, store) is a link job. */
int node_repl__on_values(node_repl_link_t *l, ks_view_t frame,
			 const proto_msg_t *m);

/** \brief Primary: sign the current values (PUT) or absence (DEL) of the
 *         keys of \p f under \p history (NULL: the current one) with
 *         first_seq \p seq, and send them as \p type messages: one, or
 *         with \p part_raw > 0 consecutive parts of at most \p part_raw
 *         raw bytes each (proto_batch_fit), all read in one transaction. */
int node_repl__send_values(node_repl_link_t *l, const proto_fetch_t *f,
			   const uint8_t *history, uint64_t seq, uint8_t type,
			   size_t part_raw);

/** \brief Replica: free the rewind's VALUES parts a link still holds. */
void node_repl__values_parts_free(node_repl_link_t *l);

/** \brief Primary: a FETCH frame. */
int node_repl__on_fetch(node_repl_link_t *l, const proto_msg_t *m,
			uint64_t now);

/* --- capture.c ----------------------------------------------------------- */

/**
 * \brief Queue a scan of the KDB into the store (a worker job); when done:
 *        trim, fan out, and answer \p w (NULL: nobody waits) with the
 *        figures.  \p reason (static text: "snapshot", "audit", "report:
 *        ...") is shown by status.  A scan without a waiter is skipped
 *        while one is pending; an audit (\p audit) is skipped when the KDB
 *        files are unchanged since the last scan and no capture failed.
 */
void node_repl__scan(node_repl_t *r, const char *reason, bool audit,
		     node_ctl_wait_t *w);

/** \brief Primary: the capture socket, the start-up scan (the first
 *         worker job: replicas are held until it succeeded, r->ready),
 *         the scan timer. */
int node_repl__capture_start(node_repl_t *r);

/** \brief A new scan interval. */
void node_repl__capture_reconfigure(node_repl_t *r, uint64_t interval_ms);

/** \brief Close the capture socket and its clients (counted in closing). */
void node_repl__capture_stop(node_repl_t *r);

/** \brief Close the capture socket's descriptor and unlink it (free). */
void node_repl__capture_free(node_repl_t *r);

/** \brief Send the KDB module on connection \p conn the answer to its
 *         request \p id (gone connection: nothing). */
void node_repl__cap_answer(node_repl_t *r, uint64_t conn, uint64_t id);

/** \brief Replica with replicate_lockout: listen on the capture socket
 *         for the KDC's LOCKOUT reports (no scan, no sync marker). */
int node_repl__capture_listen(node_repl_t *r);

/* --- lockout.c ------------------------------------------------------------ */

/** \brief Empty lockout state (new) / free it (free). */
void node_repl__lockout_init(node_repl_t *r);
void node_repl__lockout_free(node_repl_t *r);

/** \brief Replica: one report read from the capture socket (LOCKOUT
 *         reports are coalesced, every other kind is counted and
 *         ignored); call node_repl__lockout_kick() after a wake-up's. */
void node_repl__lockout_report(node_repl_t *r, const ks_report_t *rep);

/** \brief Replica: flush pending names when the window allows (after
 *         reports, on the tick, when a link comes up). */
void node_repl__lockout_kick(node_repl_t *r);

/** \brief Does this node announce PROTO_CAP_LOCKOUT on link \p l (its
 *         HELLO)?  With replicate_lockout: a primary on every link, a
 *         relay on its downstream links, a replica on the link to its
 *         upstream (lockout_route.h). */
bool node_repl__lockout_cap(const node_repl_link_t *l);

/** \brief Primary or relay: does this link take LOCKOUT (this node plays
 *         the primary on it, both sides announced PROTO_CAP_LOCKOUT)?  If
 *         not, the message is not valid. */
bool node_repl__lockout_accepts(const node_repl_link_t *l);

/** \brief Primary or relay: a LOCKOUT from link \p l (accepted): queued
 *         for the merge job.  Always KS_EOK (refusals are counted and logged). */
int node_repl__on_lockout(node_repl_link_t *l, const proto_lockout_t *lk);

/* --- syncmode.c ---------------------------------------------------------- */

/** \brief Start: write the module's marker (primary, synchronous > 0) and
 *         the timeout timer; any other role removes a stale marker. */
void node_repl__sync_start(node_repl_t *r);

/** \brief A reload changed synchronous or sync_timeout: answer what
 *         waits, take the new values, rewrite (or remove) the marker. */
void node_repl__sync_reconfigure(node_repl_t *r, unsigned wanted,
				 uint64_t timeout_ms);

/** \brief Stop: remove the marker, answer every waiting write. */
void node_repl__sync_stop(node_repl_t *r);

/** \brief Whether a request is answered on arrival (not synchronous now:
 *         off, not primary, or degraded). */
bool node_repl__sync_now(const node_repl_t *r);

/** \brief A request whose write was captured at or before \p seq: answer
 *         it now or once the replicas acked \p seq or at sync_timeout. */
void node_repl__sync_wait(node_repl_t *r, uint64_t seq, uint64_t conn,
			  uint64_t id);

/** \brief A replica acked: answer what the quorum covers now. */
void node_repl__sync_acked(node_repl_t *r);

/* --- kdbindex.c ---------------------------------------------------------- */

/** \brief Worker: read the whole KDB into a new index (\p out, owned by
 *         the caller): each bucket's digest, count and listing size only.
 *         KS_EKDBDAMAGED when the KDB is not usable. */
int node_repl__kdbindex_build(node_repl_t *r, repl_kdbindex_t **out);

/** \brief Digest and record count of buckets [lo, hi) of the index. */
void node_repl__kdbindex_range(const repl_kdbindex_t *x, uint32_t lo,
			       uint32_t hi, uint8_t digest[32],
			       uint64_t *count);

/** \brief Mark \p bucket as one that will be listed: a read of the KDB
 *         for another bucket's listing takes it along if it fits. */
void node_repl__kdbindex_want(repl_kdbindex_t *x, uint32_t bucket);

/** \brief Worker: append the LIST body entries (key, hash) of \p bucket
 *         in key order; \p count receives how many.  Reads the KDB again
 *         unless a previous read holds the bucket (then with the wanted
 *         buckets that fit [node] verify_memory). */
int node_repl__kdbindex_list(node_repl_t *r, repl_kdbindex_t *x,
			     uint32_t bucket, ks_buf_t *body, uint32_t *count);

/** \brief An index of the node's store for its bucket listings (not
 *         the KDB's): per-bucket digests and counts from the store, the
 *         listings read as for the KDB, from the store's records. */
int node_repl__kdbindex_store_new(node_repl_t *r, repl_kdbindex_t **out);

/** \brief Worker: answer a DIGEST_REQ LIST of \p bucket from
 *         r->store_answer (new for comparison \p gen), taking along the
 *         buckets in \p want. */
int node_repl__kdbindex_store_answer(node_repl_t *r, uint64_t gen,
				     const bool want[STORE_BUCKETS],
				     uint32_t bucket, ks_buf_t *body,
				     uint32_t *count);

/** \brief Worker: answer a KDB_DIGEST_REQ from r->kdb_answer (read
 *         again for a comparison's first request); \p body and \p count
 *         receive the response's. */
int node_repl__kdbindex_answer(node_repl_t *r, const proto_digest_req_t *q,
			       ks_buf_t *body, uint32_t *count);

/** \brief The tick: r->kdb_answer is freed (on the worker) after
 *         REPL_KDB_ANSWER_KEEP_MS without requests. */
void node_repl__kdbindex_tick(node_repl_t *r, uint64_t now);
#define REPL_KDB_ANSWER_KEEP_MS 60000u

/** \brief Records in the index. */
uint64_t node_repl__kdbindex_records(const repl_kdbindex_t *x);

/** \brief Reads of the KDB made for the index (the first included). */
uint64_t node_repl__kdbindex_reads(const repl_kdbindex_t *x);

void node_repl__kdbindex_free(repl_kdbindex_t *x);

/* --- compare_merge.c ---------------------------------------------------- */

/**
 * \brief Merge the four listings of one bucket (LIST bodies: our store,
 *        our KDB, the peer's store, the peer's KDB) and report every key
 *        they do not all hold with the same value, saying where it differs.
 */
int node_repl__compare_bucket4(node_repl_t *r, ks_view_t ms, ks_view_t mk,
			       ks_view_t ts, ks_view_t tk);

/* --- refetch.c ----------------------------------------------------------- */

/** \brief Replica: `kdcsync repair` from the primary: compare the stores,
 *         refetch what differs, then the local repair (answers the control
 *         request, deferred here).  KS_ENOTAVAIL: no primary link that can
 *         (the caller repairs locally only). */
int node_repl__refetch_start(node_repl_t *r);

/** \brief The comparison found \p key differing (collect mode). */
int node_repl__refetch_key(node_repl_t *r, ks_view_t key);

/** \brief The collecting comparison ended (\p err: how; \p l, its link,
 *         may be NULL on an error). */
void node_repl__refetch_compared(node_repl_t *r, node_repl_link_t *l, int err);

/** \brief Replica: REVALUES from the primary. */
int node_repl__on_revalues(node_repl_link_t *l, const proto_msg_t *m);

/** \brief Does this node answer REFETCH on link \p l (announce
 *         PROTO_CAP_REFETCH)?  A primary; a relay with a signing_key on
 *         its downstream links (PROTOCOL.md §3.13). */
bool node_repl__refetch_serves(const node_repl_link_t *l);

/** \brief Primary or relay: REFETCH from a replica.
 *  \retval KS_ENOTSUP a relay without a signing_key
 *  \retval KS_ESTATE not a node that serves this link */
int node_repl__on_refetch(node_repl_link_t *l, const proto_msg_t *m);

/** \brief The link went down (while the values are awaited). */
void node_repl__refetch_link_down(node_repl_link_t *l);

void node_repl__refetch_free(node_repl_t *r);

/* --- relay.c ------------------------------------------------------------ */

/** \brief Whether a link with \p peer is a relay's downstream link: this
 *         node runs as replica and \p peer is not the one it follows. */
bool node_repl__relay_peer(const node_repl_t *r, const char *peer);

/** \brief A relay's window for the state machine: its applied position
 *         (a full copy from it is at that position). */
void node_repl__relay_window(const store_meta_t *m, repl_sm_window_t *w);

/** \brief What a relay can offer a replica at \p seq (one short store
 *         read): \p v for repl_sm_relay_decide(), \p w its window. */
int node_repl__relay_view(node_repl_t *r, uint64_t seq, repl_sm_relay_t *v,
			  repl_sm_window_t *w);

/**
 * \brief Queue the kept blob that starts at \p from on a downstream link,
 *        unchanged; \p last receives its last seq.
 * \retval KS_ENOENT   nothing applied after \p from - 1 yet
 * \retval KS_ESTALE   applied, but no kept batch starts there (a full copy
 *                     or a rewind in between): the session must end
 * \retval KS_EHISTORY the blob is of another history than the session's
 */
int node_repl__relay_send(node_repl_link_t *l, uint64_t from, uint64_t *last);

/** \brief A batch was applied (or the position moved): offer it to every
 *         downstream link at once. */
void node_repl__relay_fanout(node_repl_t *r);

/* --- compare.c ----------------------------------------------------------- */

/** \brief Start a comparison with the peer of \p l (stores only when
 *         \p collect: for refetch.c). */
int node_repl__compare_begin(node_repl_t *r, node_repl_link_t *l, bool collect);

/** \brief Either side: answer a DIGEST_REQ from our store (a bucket
 *         listing is a link job). */
int node_repl__digest_req(node_repl_link_t *l, const proto_digest_req_t *q);

/** \brief Requester: a DIGEST_RSP for the request in flight (a listing
 *         is merged with ours after a link job listed ours). */
int node_repl__digest_rsp(node_repl_link_t *l, const proto_digest_rsp_t *a);

/** \brief The same for KDB_DIGEST_REQ / KDB_DIGEST_RSP (§3.11): answered
 *         from our KDB (on the worker). */
int node_repl__kdb_digest_req(node_repl_link_t *l, const proto_digest_req_t *q);
int node_repl__kdb_digest_rsp(node_repl_link_t *l, const proto_digest_rsp_t *a);

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
