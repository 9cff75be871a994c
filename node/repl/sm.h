/* SPDX-License-Identifier: MIT */
/*
 * The replication state machine of one link (DESIGN.md §3, PROTOCOL.md
 * §3.1), for both roles, as pure code: no sockets, no store, no KDB.
 *
 * The I/O layer (node/repl/dispatch.c, actions.c and the files they
 * call) turns what happens on a link into a repl_sm_event_t, calls
 * repl_sm_step() once, and performs the one action
 * it gets back (send a message, apply a batch, stage a chunk, install a
 * snapshot, record an ack, reset the link).  Results of actions that take
 * effect later (a batch durably applied, a snapshot installed, batches
 * queued) come back as events of their own.  So every decision (resume or
 * full, accept or reject a batch, what to send next, timeouts) is made
 * here and every transition can be driven by a unit test.
 *
 * Ownership: repl_sm_t is a plain value owned by the link that embeds it;
 * events and actions are caller-owned values; views inside an event (a
 * HELLO's name, a refusal text) are only read during the call.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/batch.h"
#include "proto/msg.h"

/*
 * Link states.  The order matters (compared with <): everything before
 * REPL_ST_STREAM is "not yet in sync".
 */
enum repl_sm_state {
	/* connecting */
	REPL_ST_IDLE,	   /* no link (initial, and after a reset) */
	REPL_ST_NOT_READY, /* primary: connected during its start-up scan;
			      nothing sent, frames wait (REPL_EV_READY) */
	/* handshake */
	REPL_ST_HELLO_WAIT,  /* our HELLO sent, waiting for the peer's */
	REPL_ST_ANSWER_WAIT, /* replica: HELLO seen, waiting for ANSWER */
	/* full transfer */
	REPL_ST_SNAP_WAIT,    /* replica: ANSWER(SNAPSHOT), waiting BEGIN */
	REPL_ST_SNAP_RECV,    /* replica: receiving chunks */
	REPL_ST_SNAP_INSTALL, /* replica: SNAP_END ok, install running */
	REPL_ST_SNAP_SEND,    /* primary: snapshot sent, waiting for ACK */
	/* rewind (PROTOCOL.md §3.9) */
	REPL_ST_REWIND_WAIT,  /* primary: ANSWER(REWIND) sent, wait FETCH */
	REPL_ST_REWIND_SEND,  /* primary: VALUES sent, waiting for ACK */
	REPL_ST_REWIND_RECV,  /* replica: FETCH sent, waiting for VALUES */
	REPL_ST_REWIND_APPLY, /* replica: VALUES ok, rewind running */
	/* streaming */
	REPL_ST_STREAM, /* batches flow (primary sends, replica applies) */
	REPL_ST_COUNT
};

/** \brief Name of a state for logs and status ("stream", ...). */
const char *repl_sm_state_name(enum repl_sm_state s);

enum repl_sm_role {
	REPL_ROLE_PRIMARY = PROTO_ROLE_PRIMARY,
	REPL_ROLE_REPLICA = PROTO_ROLE_REPLICA,
};

/* A primary's log window, as the store reports it (store_meta_t). */
typedef struct repl_sm_window {
	uint8_t history[PROTO_HISTORY_LEN];
	uint64_t last_seq, oldest_seq;		 /* oldest > last: empty log */
	uint8_t prev_history[PROTO_HISTORY_LEN]; /* all-zero: none */
	uint64_t prev_last_seq;
} repl_sm_window_t;

/*
 * A relay's view for a replica's HELLO (PROTOCOL.md §3.13): a replica
 * serving further replicas sends the primary's signed batches as they came
 * (store_relay_get), so it can resume a replica only where such a batch
 * starts, and never re-sign: no rewind; a full copy only when it has a
 * signing key of its own.
 */
typedef struct repl_sm_relay {
	uint8_t history[PROTO_HISTORY_LEN]; /* the relay's applied position */
	uint64_t seq;
	uint8_t prev_history[PROTO_HISTORY_LEN]; /* all-zero: none */
	uint64_t prev_last_seq;
	/* the history of the kept batch that starts right after the
	 * replica's seq (all-zero: none kept) */
	uint8_t next_history[PROTO_HISTORY_LEN];
	bool can_snapshot; /* it has a signing key for a full copy */
} repl_sm_relay_t;

/* Timeouts, in milliseconds (0 = never). */
typedef struct repl_sm_timeouts {
	uint64_t handshake_ms; /* HELLO / ANSWER / SNAP_BEGIN must come */
	uint64_t transfer_ms;  /* silence allowed inside a snapshot */
	uint64_t ack_ms;       /* primary: unacknowledged data this old */
	uint64_t not_ready_ms; /* primary: a link waits this long for the
				  start-up scan, then ERROR(KS_EBUSY) */
} repl_sm_timeouts_t;

#define REPL_SM_HANDSHAKE_MS_DEFAULT 10000u
#define REPL_SM_TRANSFER_MS_DEFAULT  60000u
#define REPL_SM_ACK_MS_DEFAULT	     60000u
#define REPL_SM_NOT_READY_MS_DEFAULT                                           \
	5000u /* under the peer's handshake timeout: it hears why */

/*
 * One link's state.  Public read-only fields for logs and status; set
 * `role` and `timeouts` with repl_sm_init().
 */
typedef struct repl_sm {
	int role; /* enum repl_sm_role: ours */
	enum repl_sm_state state;
	repl_sm_timeouts_t timeouts;
	uint64_t state_since_ms; /* when the state was entered */
	uint64_t last_rx_ms;	 /* last message from the peer */
	/* replica: our applied position; primary: the peer's acked one */
	uint8_t history[PROTO_HISTORY_LEN];
	uint64_t pos;
	/* primary: highest seq queued to the peer (STREAM) */
	uint64_t sent;
	uint64_t sent_at_ms; /* when `sent` last moved past `pos` */
	/* primary, SNAP_SEND: when part of the snapshot last went out
	 * (REPL_EV_SENT); the transfer timeout counts from it */
	uint64_t snap_sent_ms;
	/* full transfer (either side); rewind: the fork point */
	uint64_t snap_seq;
	uint8_t rewind_history[PROTO_HISTORY_LEN]; /* replica: to follow */
	/* replica: keys named in the FETCH (repl_sm_rewind_fetched; 0:
	 * unknown, one VALUES ends the rewind), ops received in VALUES
	 * parts so far, and the last_seq they all carry */
	uint32_t rewind_keys, rewind_ops;
	uint64_t rewind_last;
	proto_snap_rx_t rx; /* replica */
	uint16_t version;   /* negotiated */
	bool full;	    /* this session began with a full transfer */
	int last_err;	    /* reason of the last reset, 0 if none */
} repl_sm_t;

/* What happened. */
enum repl_sm_event_type {
	REPL_EV_CONNECTED,   /* link authenticated (TLS done) */
	REPL_EV_READY,	     /* primary: the start-up scan is done */
	REPL_EV_MSG,	     /* a decoded message (batch/chunk: see below) */
	REPL_EV_APPLIED,     /* replica: batch/snapshot durably applied */
	REPL_EV_LOG_GREW,    /* primary: the log now ends at window.last_seq */
	REPL_EV_SENT,	     /* primary: batches up to `seq` queued; in a
				full copy: part of the snapshot queued */
	REPL_EV_TICK,	     /* periodic: check timeouts */
	REPL_EV_LOCAL_ERROR, /* an action failed (code) */
	REPL_EV_CLOSED,	     /* the link went away */
};

typedef struct repl_sm_event {
	int type; /* enum repl_sm_event_type */
	uint64_t now_ms;
	/* REPL_EV_MSG */
	const proto_msg_t *msg;
	/* REPL_EV_MSG with BATCH / SNAP_CHUNK / VALUES: the verified header
	 * (the I/O layer opened the blob); SNAP_END: the verified end. */
	const proto_batch_hdr_t *hdr;
	const proto_snap_end_t *end;
	/* primary: REPL_EV_MSG(HELLO), REPL_EV_LOG_GREW */
	const repl_sm_window_t *window;
	/* primary role of a relay: REPL_EV_MSG(HELLO) (window: its applied
	 * position, the snapshot it would send) */
	const repl_sm_relay_t *relay;
	/* replica: REPL_EV_MSG(HELLO): the realm of its KDB (NULL or "":
	 * unknown) and the keys it trusts (NULL: no check) */
	const char *realm;
	const proto_trust_t *trust;
	/* replica: REPL_EV_CONNECTED: our applied position;
	 * REPL_EV_APPLIED: the new position */
	const uint8_t *history;
	uint64_t seq;
	/* primary: REPL_EV_CONNECTED during the start-up scan: wait in
	 * REPL_ST_NOT_READY for REPL_EV_READY */
	bool not_ready;
	/* REPL_EV_LOCAL_ERROR: why (KS_E*), and a static text for logs and
	 * status (NULL: "local failure") */
	int code;
	const char *reason;
	/* primary: REPL_EV_LOG_GREW: the link is congested (send nothing;
	 * the link's writable callback brings another LOG_GREW) */
	bool congested;
} repl_sm_event_t;

/* What to do now (exactly one). */
enum repl_sm_action_type {
	REPL_ACT_NONE,
	REPL_ACT_SEND_HELLO,	/* send our HELLO (role, position) */
	REPL_ACT_SEND_ANSWER,	/* primary: ANSWER(answer_mode, history,
				    seq = from_seq); for INCREMENTAL then
				    stream from `seq` */
	REPL_ACT_SEND_SNAPSHOT, /* primary: ANSWER(SNAPSHOT) + the whole
				    snapshot of the current store */
	REPL_ACT_SEND_FROM,	/* primary: queue batches from `seq` */
	REPL_ACT_RECORD_ACK,	/* primary: store the peer's ack `seq`
				    (then the I/O layer feeds LOG_GREW) */
	REPL_ACT_ADOPT_HISTORY, /* replica: store_adopt_history(history) */
	REPL_ACT_STAGE_BEGIN,	/* replica: empty the staging areas */
	REPL_ACT_STAGE_CHUNK,	/* replica: stage the chunk's records */
	REPL_ACT_INSTALL,	/* replica: check the digest, rename the
				    side KDB over the live one, switch the
				    staged store in at (history, seq) */
	REPL_ACT_APPLY_BATCH,	/* replica: KDB then store, then APPLIED */
	REPL_ACT_SEND_ACK,	/* replica: ACK(history, seq) */
	REPL_ACT_SEND_FETCH,	/* replica: FETCH(seq) with the keys of its
				    own log after `seq` */
	REPL_ACT_SEND_VALUES,	/* primary: VALUES(history, fork `seq`) for
				    the FETCH's keys, then wait for ACK */
	REPL_ACT_REWIND_PART,	/* replica: keep this VALUES part for the
				    rewind; more follow */
	REPL_ACT_REWIND,	/* replica: keep the diverged changes, put
				    back the values (of every part kept
				    and this one), go back to `seq` and
				    follow `history`, then APPLIED */
	REPL_ACT_RESET,		/* send ERROR(code) if `send_error`, close,
				    discard partial transfer state */
};

typedef struct repl_sm_action {
	int type; /* enum repl_sm_action_type */
	uint8_t answer_mode;
	uint8_t history[PROTO_HISTORY_LEN];
	uint64_t seq;
	int code;	    /* RESET: why (KS_E*) */
	bool send_error;    /* RESET: tell the peer */
	const char *reason; /* RESET: static text for logs and status */
} repl_sm_action_t;

/** \brief Initialise a link's machine in REPL_ST_IDLE.
 *  \param to NULL = defaults. */
void repl_sm_init(repl_sm_t *sm, int role, const repl_sm_timeouts_t *to);

/**
 * \brief Feed one event, get one action.
 * \return the action's type (also in \p act).  A RESET leaves the machine
 *         in REPL_ST_IDLE with last_err set.
 */
int repl_sm_step(repl_sm_t *sm, const repl_sm_event_t *ev,
		 repl_sm_action_t *act);

/* Primary's resume-or-full decision (PROTOCOL.md §3.3). */
enum repl_sm_resume {
	REPL_RESUME_INCREMENTAL, /* same history, inside the window */
	REPL_RESUME_PREVIOUS,	 /* previous history, at or before its end */
	REPL_RESUME_REWIND,	 /* ahead of where the histories part, which
				    is inside the log: the replica goes back
				    (repl_sm_fork_seq) if it can */
	REPL_RESUME_FULL,	 /* anything else */
};

/**
 * \brief Decide how to serve a replica at (\p history, \p seq).
 * \param why  receives a static reason text for the log (may be NULL).
 */
int repl_sm_decide(const repl_sm_window_t *w,
		   const uint8_t history[PROTO_HISTORY_LEN], uint64_t seq,
		   const char **why);

/**
 * \brief A relay's decision for a replica at (\p history, \p seq):
 *        REPL_RESUME_INCREMENTAL (same history: at the relay's position,
 *        or a kept batch of that history starts at seq + 1),
 *        REPL_RESUME_PREVIOUS (the relay's previous history, at or before
 *        its end, and the relay's current history goes on from seq + 1),
 *        or REPL_RESUME_FULL (anything else; never a rewind).
 */
int repl_sm_relay_decide(const repl_sm_relay_t *v,
			 const uint8_t history[PROTO_HISTORY_LEN], uint64_t seq,
			 const char **why);

/**
 * \brief Where a replica at \p history, which repl_sm_decide() would
 *        rewind, parts from the primary's log: the primary's last seq
 *        (same history) or the end of its previous history.
 */
uint64_t repl_sm_fork_seq(const repl_sm_window_t *w,
			  const uint8_t history[PROTO_HISTORY_LEN]);

/**
 * \brief A replica's check of its primary's identity (HELLO identity
 *        extension, PROTOCOL.md §3.2): the realm must be its own (when
 *        both are known) and the signing key one it trusts (when named).
 * \retval KS_EREALM, KS_EUNTRUSTED  with a static \p reason
 */
int repl_sm_check_identity(const proto_hello_t *h, const char *realm,
			   const proto_trust_t *trust, const char **reason);

/** \brief Whether a history id is all zero ("none"). */
bool repl_sm_history_zero(const uint8_t h[PROTO_HISTORY_LEN]);

/** \brief Replica: the FETCH of the rewind named \p keys keys; the
 *         VALUES parts end when their ops add up to that (PROTOCOL.md
 *         §3.9). */
void repl_sm_rewind_fetched(repl_sm_t *sm, uint32_t keys);

#define REPL_STARTUP_RETRY_MIN_MS 1000u
#define REPL_STARTUP_RETRY_MAX_MS 30000u

/**
 * \brief The primary's wait before retrying a failed start-up scan, after
 *        \p failures consecutive failures (>= 1): REPL_STARTUP_RETRY_MIN_MS
 *        doubling to at most REPL_STARTUP_RETRY_MAX_MS.  Replicas wait
 *        for that scan (REPL_ST_NOT_READY), so the first retries come
 *        soon; a KDB that stays unreadable is not read in a tight loop.
 */
uint64_t repl_sm_startup_retry_ms(unsigned failures);
