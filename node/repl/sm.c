/* SPDX-License-Identifier: MIT */
/*
 * Replication state machine (sm.h): every decision of a link, no I/O.
 *
 *  PRIMARY                                   REPLICA
 *
 *  IDLE --CONNECTED/send HELLO--> HELLO_WAIT  IDLE --CONNECTED/send HELLO-->
 *                                    |            HELLO_WAIT
 *        HELLO(replica, hist, seq):  |                | HELLO(primary)
 *        repl_sm_decide()            |                v
 *     +------------------------------+           ANSWER_WAIT
 *     | INCREMENTAL / PREVIOUS       | FULL           |
 *     | send ANSWER(INCR, from)      | send ANSWER    +-- ANSWER(INCR, own hist,
 *     v                              | (SNAPSHOT) +   |   from = pos+1) --> STREAM
 *   STREAM <--ACK(S)/record ack-- SNAP_SEND     |     +-- ANSWER(INCR, other hist)
 *     |  LOG_GREW/send from sent+1  (snapshot   |     |   /adopt history --> STREAM
 *     |  SENT(seq)/sent = seq        streamed)  |     +-- ANSWER(SNAPSHOT) --> SNAP_WAIT
 *     |  ACK(seq <= sent)/record ack            |     +-- ANSWER(REFUSED) --> reset
 *     |                                               SNAP_WAIT --SNAP_BEGIN/stage begin-->
 *     |                                               SNAP_RECV --SNAP_CHUNK/stage chunk--+
 *     |                                                   |  ^------------------------+
 *     |                                                   | SNAP_END/install
 *     |                                                   v
 *     |                                           SNAP_INSTALL --APPLIED/send ACK-->
 *     |                                           STREAM --BATCH next/apply-->
 *     |                                           STREAM --APPLIED/send ACK--> STREAM
 *     |                                           STREAM --BATCH already applied/ACK-->
 *
 *  Rewind (PROTOCOL.md §3.9), decide() = REWIND and the replica announced
 *  PROTO_CAP_REWIND (else FULL):
 *    PRIMARY  HELLO/send ANSWER(REWIND, F+1) --> REWIND_WAIT
 *             REWIND_WAIT --FETCH(F)/send VALUES--> REWIND_SEND
 *             REWIND_SEND --ACK(hist, F)/record ack--> STREAM (log from F+1)
 *    REPLICA  ANSWER_WAIT --ANSWER(REWIND, F+1 <= pos)/send FETCH(F)-->
 *             REWIND_RECV --VALUES(hist, F), ops < keys fetched/keep the
 *             part--> REWIND_RECV (each part restarts the timeout)
 *             REWIND_RECV --VALUES(hist, F), ops = keys/rewind--> REWIND_APPLY
 *             REWIND_APPLY --APPLIED(hist, F)/send ACK--> STREAM
 *
 *  PRIMARY during its start-up scan (the store not yet read from the KDB):
 *    IDLE --CONNECTED(not_ready)--> NOT_READY (nothing sent; frames wait
 *    in the I/O layer) --READY/send HELLO--> HELLO_WAIT; past not_ready_ms
 *    a TICK resets with ERROR(KS_EBUSY, "not ready"): the peer retries.
 *
 *  Both roles, every state:
 *    ERROR from the peer            -> reset (nothing sent back)
 *    a message not valid now, a bad
 *    batch/chunk/end, a local error -> reset (ERROR sent, link closed)
 *    TICK past a timeout            -> reset (KS_ETIMEDOUT)
 *    CLOSED                         -> IDLE
 *  A reset always returns to IDLE; the daemon's dialler reconnects.
 */
#include "node/repl/sm.h"

#include <string.h>

#include "common/errors.h"

static const char *const state_names[REPL_ST_COUNT] = {
	[REPL_ST_IDLE] = "idle",
	[REPL_ST_NOT_READY] = "starting",
	[REPL_ST_HELLO_WAIT] = "hello",
	[REPL_ST_ANSWER_WAIT] = "answer",
	[REPL_ST_SNAP_WAIT] = "snapshot-wait",
	[REPL_ST_SNAP_RECV] = "snapshot-receive",
	[REPL_ST_SNAP_INSTALL] = "snapshot-install",
	[REPL_ST_SNAP_SEND] = "snapshot-send",
	[REPL_ST_REWIND_WAIT] = "rewind-wait",
	[REPL_ST_REWIND_SEND] = "rewind-send",
	[REPL_ST_REWIND_RECV] = "rewind-receive",
	[REPL_ST_REWIND_APPLY] = "rewind-apply",
	[REPL_ST_STREAM] = "stream",
};

const char *repl_sm_state_name(enum repl_sm_state s)
{
	return (unsigned)s < REPL_ST_COUNT ? state_names[s] : "?";
}

void repl_sm_rewind_fetched(repl_sm_t *sm, uint32_t keys)
{
	if (sm->state == REPL_ST_REWIND_RECV && sm->rewind_ops == 0)
		sm->rewind_keys = keys;
}

bool repl_sm_history_zero(const uint8_t h[PROTO_HISTORY_LEN])
{
	for (size_t i = 0; i < PROTO_HISTORY_LEN; i++)
		if (h[i] != 0)
			return false;
	return true;
}

uint64_t repl_sm_startup_retry_ms(unsigned failures)
{
	uint64_t ms = REPL_STARTUP_RETRY_MIN_MS;

	for (unsigned i = 1; i < failures && ms < REPL_STARTUP_RETRY_MAX_MS;
	     i++)
		ms *= 2;
	return ms < REPL_STARTUP_RETRY_MAX_MS ? ms : REPL_STARTUP_RETRY_MAX_MS;
}

static bool hist_eq(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, PROTO_HISTORY_LEN) == 0;
}

void repl_sm_init(repl_sm_t *sm, int role, const repl_sm_timeouts_t *to)
{
	*sm = (repl_sm_t){ .role = role, .state = REPL_ST_IDLE };
	if (to != NULL)
		sm->timeouts = *to;
	else
		sm->timeouts = (repl_sm_timeouts_t){
			.handshake_ms = REPL_SM_HANDSHAKE_MS_DEFAULT,
			.transfer_ms = REPL_SM_TRANSFER_MS_DEFAULT,
			.ack_ms = REPL_SM_ACK_MS_DEFAULT,
			.not_ready_ms = REPL_SM_NOT_READY_MS_DEFAULT,
		};
}

int repl_sm_decide(const repl_sm_window_t *w,
		   const uint8_t history[PROTO_HISTORY_LEN], uint64_t seq,
		   const char **why)
{
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	if (repl_sm_history_zero(history)) {
		*why = "replica has no position";
		return REPL_RESUME_FULL;
	}
	if (hist_eq(history, w->history)) {
		if (seq > w->last_seq) {
			*why = "replica is ahead of the primary: rewind";
			return REPL_RESUME_REWIND;
		}
		/* Entries seq+1 .. last must still be in the log. */
		if (seq < w->last_seq && seq + 1 < w->oldest_seq) {
			*why = "position outside the retained log";
			return REPL_RESUME_FULL;
		}
		*why = "position inside the retained log";
		return REPL_RESUME_INCREMENTAL;
	}
	if (!repl_sm_history_zero(w->prev_history) &&
	    hist_eq(history, w->prev_history)) {
		if (seq > w->prev_last_seq) {
			uint64_t f = w->prev_last_seq;
			if (f < w->last_seq && f + 1 < w->oldest_seq) {
				*why = "replica diverged before the retained "
				       "log";
				return REPL_RESUME_FULL;
			}
			*why = "replica diverged from the previous history: "
			       "rewind";
			return REPL_RESUME_REWIND;
		}
		if (seq < w->last_seq && seq + 1 < w->oldest_seq) {
			*why = "position outside the retained log";
			return REPL_RESUME_FULL;
		}
		*why = "continuing from the previous history";
		return REPL_RESUME_PREVIOUS;
	}
	*why = "unknown history";
	return REPL_RESUME_FULL;
}

int repl_sm_relay_decide(const repl_sm_relay_t *v,
			 const uint8_t history[PROTO_HISTORY_LEN], uint64_t seq,
			 const char **why)
{
	const char *dummy;
	/* the relay's current history goes on right after seq */
	bool goes_on = (hist_eq(history, v->history) ||
			hist_eq(history, v->prev_history)) &&
		       (seq == v->seq || hist_eq(v->next_history, v->history));

	if (why == NULL)
		why = &dummy;
	if (repl_sm_history_zero(history)) {
		*why = "replica has no position";
		return REPL_RESUME_FULL;
	}
	if (hist_eq(history, v->history) && seq > v->seq) {
		*why = "replica is ahead of the relay";
		return REPL_RESUME_FULL;
	}
	if (hist_eq(history, v->history) && goes_on) {
		*why = "relayed batches go on from the position";
		return REPL_RESUME_INCREMENTAL;
	}
	if (!repl_sm_history_zero(v->prev_history) &&
	    hist_eq(history, v->prev_history) && seq <= v->prev_last_seq &&
	    seq <= v->seq && goes_on) {
		*why = "continuing from the previous history";
		return REPL_RESUME_PREVIOUS;
	}
	*why = "position not among the relayed batches";
	return REPL_RESUME_FULL;
}

uint64_t repl_sm_fork_seq(const repl_sm_window_t *w,
			  const uint8_t history[PROTO_HISTORY_LEN])
{
	return hist_eq(history, w->history) ? w->last_seq : w->prev_last_seq;
}

static void enter(repl_sm_t *sm, enum repl_sm_state st, uint64_t now)
{
	sm->state = st;
	sm->state_since_ms = now;
}

static int act_none(repl_sm_action_t *act)
{
	*act = (repl_sm_action_t){ .type = REPL_ACT_NONE };
	return REPL_ACT_NONE;
}

static int reset(repl_sm_t *sm, uint64_t now, int code, bool send_error,
		 const char *reason, repl_sm_action_t *act)
{
	*act = (repl_sm_action_t){ .type = REPL_ACT_RESET,
				   .code = code,
				   .send_error = send_error,
				   .reason = reason };
	sm->last_err = code;
	sm->snap_seq = 0;
	memset(&sm->rx, 0, sizeof(sm->rx));
	enter(sm, REPL_ST_IDLE, now);
	return REPL_ACT_RESET;
}

/* Checks common to both roles on the peer's HELLO. */
static int check_hello(repl_sm_t *sm, const proto_hello_t *h, int want_role,
		       const char **reason)
{
	proto_hello_t mine = { .version_min = PROTO_VERSION_MIN,
			       .version_max = PROTO_VERSION_MAX };

	if (h->role != want_role) {
		*reason = "peer announced the wrong role";
		return KS_ESTATE;
	}
	if ((h->caps & PROTO_CAP_ZSTD) == 0) {
		*reason = "peer lacks the zstd capability";
		return KS_ENOTSUP;
	}
	if (proto_version_negotiate(&mine, h, &sm->version) != KS_EOK) {
		*reason = "no common protocol version";
		return KS_EVERSION;
	}
	return KS_EOK;
}

int repl_sm_check_identity(const proto_hello_t *h, const char *realm,
			   const proto_trust_t *trust, const char **reason)
{
	static const uint8_t none[PROTO_KEYID_LEN];

	if (!h->has_ident)
		return KS_EOK; /* an older peer: the signatures decide */
	if (realm != NULL && realm[0] != '\0' && h->realm.len > 0 &&
	    (h->realm.len != strlen(realm) ||
	     memcmp(h->realm.ptr, realm, h->realm.len) != 0)) {
		*reason = "peer serves another realm";
		return KS_EREALM;
	}
	if (trust != NULL && memcmp(h->key_id, none, PROTO_KEYID_LEN) != 0 &&
	    !proto_trust_has(trust, h->key_id)) {
		*reason = "peer signs with a key not in trusted_keys";
		return KS_EUNTRUSTED;
	}
	return KS_EOK;
}

static int timeout_check(repl_sm_t *sm, uint64_t now, repl_sm_action_t *act)
{
	const repl_sm_timeouts_t *to = &sm->timeouts;
	uint64_t in_state = now - sm->state_since_ms;

	switch (sm->state) {
	case REPL_ST_NOT_READY:
		if (to->not_ready_ms && in_state > to->not_ready_ms)
			return reset(sm, now, KS_EBUSY, true,
				     "not ready: the start-up scan of the KDB "
				     "is still running",
				     act);
		break;
	case REPL_ST_HELLO_WAIT:
	case REPL_ST_ANSWER_WAIT:
	case REPL_ST_SNAP_WAIT:
		if (to->handshake_ms && in_state > to->handshake_ms)
			return reset(sm, now, KS_ETIMEDOUT, true,
				     "handshake timed out", act);
		break;
	case REPL_ST_SNAP_RECV:
		if (to->transfer_ms && now - sm->last_rx_ms > to->transfer_ms &&
		    in_state > to->transfer_ms)
			return reset(sm, now, KS_ETIMEDOUT, true,
				     "snapshot transfer stalled", act);
		break;
	case REPL_ST_SNAP_SEND:
		/* from the last part that went out, not from the start: a
		 * large copy to a slow (busy) replica takes as long as it
		 * takes while it moves; a replica that stops reading stops
		 * it (the link congests), and the final ack must come within
		 * transfer_ms of the last part */
		if (to->transfer_ms && in_state > to->transfer_ms &&
		    now - sm->snap_sent_ms > to->transfer_ms)
			return reset(sm, now, KS_ETIMEDOUT, true,
				     "snapshot not acknowledged in time", act);
		break;
	case REPL_ST_REWIND_WAIT:
	case REPL_ST_REWIND_RECV:
		if (to->handshake_ms && in_state > to->handshake_ms)
			return reset(sm, now, KS_ETIMEDOUT, true,
				     "rewind exchange timed out", act);
		break;
	case REPL_ST_REWIND_SEND:
		if (to->transfer_ms && in_state > to->transfer_ms)
			return reset(sm, now, KS_ETIMEDOUT, true,
				     "rewind not acknowledged in time", act);
		break;
	case REPL_ST_STREAM:
		if (sm->role == REPL_ROLE_PRIMARY && to->ack_ms &&
		    sm->pos < sm->sent && now - sm->sent_at_ms > to->ack_ms)
			return reset(sm, now, KS_ETIMEDOUT, true,
				     "batches not acknowledged in time", act);
		break;
	default:
		break;
	}
	return act_none(act);
}

static int primary_msg(repl_sm_t *sm, const repl_sm_event_t *ev,
		       repl_sm_action_t *act)
{
	const proto_msg_t *m = ev->msg;
	uint64_t now = ev->now_ms;
	const char *reason = NULL;
	int ret;

	switch (m->type) {
	case PROTO_MSG_HELLO: {
		const proto_hello_t *h = &m->u.hello;
		if (sm->state != REPL_ST_HELLO_WAIT || ev->window == NULL)
			break;
		ret = check_hello(sm, h, PROTO_ROLE_REPLICA, &reason);
		if (ret != KS_EOK)
			return reset(sm, now, ret, true, reason, act);
		const repl_sm_window_t *w = ev->window;
		int d = ev->relay != NULL
				? repl_sm_relay_decide(ev->relay, h->history,
						       h->seq, NULL)
				: repl_sm_decide(w, h->history, h->seq, NULL);
		if (d == REPL_RESUME_FULL && ev->relay != NULL &&
		    !ev->relay->can_snapshot)
			return reset(sm, now, KS_ENOTSUP, true,
				     "the relay cannot send a full copy "
				     "(no signing_key): follow the primary",
				     act);
		if (d == REPL_RESUME_REWIND && (h->caps & PROTO_CAP_REWIND)) {
			uint64_t f = repl_sm_fork_seq(w, h->history);
			memcpy(sm->history, w->history, PROTO_HISTORY_LEN);
			sm->snap_seq = f;
			sm->pos = 0;
			sm->sent = f;
			sm->full = false;
			enter(sm, REPL_ST_REWIND_WAIT, now);
			*act = (repl_sm_action_t){
				.type = REPL_ACT_SEND_ANSWER,
				.answer_mode = PROTO_ANSWER_REWIND,
				.seq = f + 1,
			};
			memcpy(act->history, w->history, PROTO_HISTORY_LEN);
			return act->type;
		}
		if (d != REPL_RESUME_INCREMENTAL && d != REPL_RESUME_PREVIOUS) {
			memcpy(sm->history, w->history, PROTO_HISTORY_LEN);
			sm->snap_seq = w->last_seq;
			sm->pos = 0;
			sm->sent = w->last_seq;
			sm->full = true;
			enter(sm, REPL_ST_SNAP_SEND, now);
			*act = (repl_sm_action_t){
				.type = REPL_ACT_SEND_SNAPSHOT,
				.answer_mode = PROTO_ANSWER_SNAPSHOT,
				.seq = w->last_seq,
			};
			memcpy(act->history, w->history, PROTO_HISTORY_LEN);
			return act->type;
		}
		/* Both resumes continue on the primary's current history. */
		memcpy(sm->history, w->history, PROTO_HISTORY_LEN);
		sm->pos = sm->sent = h->seq;
		sm->full = false;
		enter(sm, REPL_ST_STREAM, now);
		*act = (repl_sm_action_t){
			.type = REPL_ACT_SEND_ANSWER,
			.answer_mode = PROTO_ANSWER_INCREMENTAL,
			.seq = h->seq + 1,
		};
		memcpy(act->history,
		       d == REPL_RESUME_INCREMENTAL ? h->history : w->history,
		       PROTO_HISTORY_LEN);
		return act->type;
	}
	case PROTO_MSG_FETCH:
		if (sm->state != REPL_ST_REWIND_WAIT)
			break;
		if (m->u.fetch.seq != sm->snap_seq)
			return reset(sm, now, KS_EMALF, true,
				     "fetch for another fork point", act);
		enter(sm, REPL_ST_REWIND_SEND, now);
		*act = (repl_sm_action_t){ .type = REPL_ACT_SEND_VALUES,
					   .seq = sm->snap_seq };
		memcpy(act->history, sm->history, PROTO_HISTORY_LEN);
		return act->type;
	case PROTO_MSG_ACK: {
		const proto_ack_t *a = &m->u.ack;
		if (sm->state != REPL_ST_STREAM &&
		    sm->state != REPL_ST_SNAP_SEND &&
		    sm->state != REPL_ST_REWIND_SEND)
			break;
		if (!hist_eq(a->history, sm->history))
			return reset(sm, now, KS_EHISTORY, true,
				     "acknowledgement for another history",
				     act);
		if (sm->state == REPL_ST_SNAP_SEND ||
		    sm->state == REPL_ST_REWIND_SEND) {
			if (a->seq != sm->snap_seq)
				return reset(
					sm, now, KS_ESTATE, true,
					"snapshot acknowledged at the wrong seq",
					act);
			sm->pos = sm->sent = a->seq;
			enter(sm, REPL_ST_STREAM, now);
		} else {
			if (a->seq > sm->sent)
				return reset(
					sm, now, KS_ESTATE, true,
					"acknowledgement beyond what was sent",
					act);
			/* A repeat of the acknowledged position: the replica
			 * is there but cannot apply now (its KDB file system
			 * is full) and says so instead of letting the link
			 * time out; nothing moves. */
			if (a->seq == sm->pos && sm->pos < sm->sent) {
				sm->sent_at_ms = now;
				return act_none(act);
			}
			if (a->seq <= sm->pos)
				return act_none(act); /* never backwards */
			sm->pos = a->seq;
			sm->sent_at_ms = now; /* progress restarts the clock */
		}
		*act = (repl_sm_action_t){ .type = REPL_ACT_RECORD_ACK,
					   .seq = sm->pos };
		return act->type;
	}
	default:
		break;
	}
	return reset(sm, now, KS_ESTATE, true, "message not valid now", act);
}

static int replica_msg(repl_sm_t *sm, const repl_sm_event_t *ev,
		       repl_sm_action_t *act)
{
	const proto_msg_t *m = ev->msg;
	uint64_t now = ev->now_ms;
	const char *reason = NULL;
	int ret;

	switch (m->type) {
	case PROTO_MSG_HELLO:
		if (sm->state != REPL_ST_HELLO_WAIT)
			break;
		ret = check_hello(sm, &m->u.hello, PROTO_ROLE_PRIMARY, &reason);
		if (ret == KS_EOK)
			ret = repl_sm_check_identity(&m->u.hello, ev->realm,
						     ev->trust, &reason);
		if (ret != KS_EOK)
			return reset(sm, now, ret, true, reason, act);
		enter(sm, REPL_ST_ANSWER_WAIT, now);
		return act_none(act);
	case PROTO_MSG_ANSWER: {
		const proto_answer_t *a = &m->u.answer;
		if (sm->state != REPL_ST_ANSWER_WAIT)
			break;
		if (a->version != sm->version)
			return reset(sm, now, KS_EVERSION, true,
				     "answer in another protocol version", act);
		if (a->mode == PROTO_ANSWER_REFUSED)
			return reset(sm, now,
				     a->reason < 0 ? a->reason : KS_EPEER,
				     false, "refused by the primary", act);
		if (a->mode == PROTO_ANSWER_REWIND) {
			/* from_seq >= 1 (decoder): the fork point is below */
			if (repl_sm_history_zero(sm->history) ||
			    a->from_seq - 1 >= sm->pos)
				return reset(sm, now, KS_EMALF, true,
					     "rewind answer not behind this "
					     "replica's position",
					     act);
			sm->full = false;
			sm->snap_seq = a->from_seq - 1;
			memcpy(sm->rewind_history, a->history,
			       PROTO_HISTORY_LEN);
			sm->rewind_keys = sm->rewind_ops = 0;
			sm->rewind_last = 0;
			enter(sm, REPL_ST_REWIND_RECV, now);
			*act = (repl_sm_action_t){ .type = REPL_ACT_SEND_FETCH,
						   .seq = sm->snap_seq };
			memcpy(act->history, a->history, PROTO_HISTORY_LEN);
			return act->type;
		}
		if (a->mode == PROTO_ANSWER_SNAPSHOT) {
			sm->full = true;
			enter(sm, REPL_ST_SNAP_WAIT, now);
			return act_none(act);
		}
		/* INCREMENTAL */
		if (a->from_seq != sm->pos + 1)
			return reset(sm, now, KS_EGAP, true,
				     "incremental answer from the wrong seq",
				     act);
		sm->full = false;
		if (hist_eq(a->history, sm->history)) {
			enter(sm, REPL_ST_STREAM, now);
			return act_none(act);
		}
		if (repl_sm_history_zero(sm->history))
			return reset(sm, now, KS_EHISTORY, true,
				     "incremental answer to a replica without "
				     "position",
				     act);
		/* The primary continues our history under a new id. */
		*act = (repl_sm_action_t){ .type = REPL_ACT_ADOPT_HISTORY,
					   .seq = sm->pos };
		memcpy(act->history, a->history, PROTO_HISTORY_LEN);
		memcpy(sm->history, a->history, PROTO_HISTORY_LEN);
		enter(sm, REPL_ST_STREAM, now);
		return act->type;
	}
	case PROTO_MSG_SNAP_BEGIN:
		if (sm->state != REPL_ST_SNAP_WAIT)
			break;
		proto_snap_rx_begin(&sm->rx, &m->u.snap_begin);
		sm->snap_seq = m->u.snap_begin.seq;
		enter(sm, REPL_ST_SNAP_RECV, now);
		*act = (repl_sm_action_t){ .type = REPL_ACT_STAGE_BEGIN,
					   .seq = sm->snap_seq };
		memcpy(act->history, m->u.snap_begin.history,
		       PROTO_HISTORY_LEN);
		return act->type;
	case PROTO_MSG_SNAP_CHUNK:
		if (sm->state != REPL_ST_SNAP_RECV || ev->hdr == NULL)
			break;
		ret = proto_snap_rx_chunk(&sm->rx, ev->hdr);
		if (ret != KS_EOK)
			return reset(sm, now, ret, true,
				     "snapshot chunk out of place", act);
		*act = (repl_sm_action_t){ .type = REPL_ACT_STAGE_CHUNK,
					   .seq = ev->hdr->last_seq };
		return act->type;
	case PROTO_MSG_SNAP_END:
		if (sm->state != REPL_ST_SNAP_RECV || ev->end == NULL)
			break;
		ret = proto_snap_rx_end(&sm->rx, ev->end);
		if (ret != KS_EOK)
			return reset(sm, now, ret, true,
				     "snapshot end does not match what came",
				     act);
		enter(sm, REPL_ST_SNAP_INSTALL, now);
		*act = (repl_sm_action_t){ .type = REPL_ACT_INSTALL,
					   .seq = ev->end->seq };
		memcpy(act->history, ev->end->history, PROTO_HISTORY_LEN);
		return act->type;
	case PROTO_MSG_VALUES:
		if (sm->state != REPL_ST_REWIND_RECV || ev->hdr == NULL)
			break;
		if (!hist_eq(ev->hdr->history, sm->rewind_history) ||
		    ev->hdr->first_seq != sm->snap_seq)
			return reset(sm, now, KS_EHISTORY, true,
				     "values for another rewind", act);
		/* parts: one read of the primary's (same last_seq), their
		 * ops adding up to the keys fetched, never more */
		if (sm->rewind_ops > 0 && ev->hdr->last_seq != sm->rewind_last)
			return reset(sm, now, KS_EMALF, true,
				     "values parts from different reads", act);
		if (sm->rewind_keys > 0 &&
		    ev->hdr->op_count > sm->rewind_keys - sm->rewind_ops)
			return reset(sm, now, KS_EMALF, true,
				     "more values than keys fetched", act);
		sm->rewind_ops += ev->hdr->op_count;
		sm->rewind_last = ev->hdr->last_seq;
		if (sm->rewind_keys > 0 && sm->rewind_ops < sm->rewind_keys) {
			sm->last_rx_ms = now; /* the handshake timeout again */
			sm->state_since_ms = now;
			*act = (repl_sm_action_t){ .type = REPL_ACT_REWIND_PART,
						   .seq = sm->snap_seq };
			memcpy(act->history, sm->rewind_history,
			       PROTO_HISTORY_LEN);
			return act->type;
		}
		enter(sm, REPL_ST_REWIND_APPLY, now);
		*act = (repl_sm_action_t){ .type = REPL_ACT_REWIND,
					   .seq = sm->snap_seq };
		memcpy(act->history, sm->rewind_history, PROTO_HISTORY_LEN);
		return act->type;
	case PROTO_MSG_BATCH:
		if (sm->state != REPL_ST_STREAM || ev->hdr == NULL)
			break;
		ret = proto_batch_check_next(sm->history, sm->pos, ev->hdr);
		if (ret == KS_EEXIST) { /* harmless replay: ack again */
			*act = (repl_sm_action_t){ .type = REPL_ACT_SEND_ACK,
						   .seq = sm->pos };
			memcpy(act->history, sm->history, PROTO_HISTORY_LEN);
			return act->type;
		}
		if (ret != KS_EOK)
			return reset(sm, now, ret, true,
				     "batch does not continue the position",
				     act);
		*act = (repl_sm_action_t){ .type = REPL_ACT_APPLY_BATCH,
					   .seq = ev->hdr->last_seq };
		memcpy(act->history, sm->history, PROTO_HISTORY_LEN);
		return act->type;
	default:
		break;
	}
	return reset(sm, now, KS_ESTATE, true, "message not valid now", act);
}

int repl_sm_step(repl_sm_t *sm, const repl_sm_event_t *ev,
		 repl_sm_action_t *act)
{
	uint64_t now = ev->now_ms;

	switch (ev->type) {
	case REPL_EV_CONNECTED:
		if (sm->state != REPL_ST_IDLE)
			return reset(sm, now, KS_ESTATE, true,
				     "connected twice", act);
		sm->last_rx_ms = now;
		sm->sent = sm->sent_at_ms = 0;
		sm->snap_seq = 0;
		sm->full = false;
		if (sm->role == REPL_ROLE_REPLICA) {
			if (ev->history == NULL)
				return reset(sm, now, KS_EINVAL, false,
					     "no position given", act);
			memcpy(sm->history, ev->history, PROTO_HISTORY_LEN);
			sm->pos = ev->seq;
		} else {
			memset(sm->history, 0, PROTO_HISTORY_LEN);
			sm->pos = 0;
			if (ev->not_ready) {
				enter(sm, REPL_ST_NOT_READY, now);
				return act_none(act);
			}
		}
		enter(sm, REPL_ST_HELLO_WAIT, now);
		*act = (repl_sm_action_t){ .type = REPL_ACT_SEND_HELLO };
		return act->type;
	case REPL_EV_READY:
		if (sm->state != REPL_ST_NOT_READY)
			return act_none(act);
		enter(sm, REPL_ST_HELLO_WAIT, now);
		*act = (repl_sm_action_t){ .type = REPL_ACT_SEND_HELLO };
		return act->type;
	case REPL_EV_MSG:
		if (sm->state == REPL_ST_IDLE || ev->msg == NULL)
			return act_none(act); /* a late frame after a reset */
		if (sm->state == REPL_ST_NOT_READY)
			return act_none(act); /* the I/O layer keeps them */
		sm->last_rx_ms = now;
		if (ev->msg->type == PROTO_MSG_ERROR)
			return reset(sm, now,
				     ev->msg->u.error.code < 0
					     ? ev->msg->u.error.code
					     : KS_EPEER,
				     false, "peer reported an error", act);
		if (ev->msg->type == PROTO_MSG_KEEPALIVE)
			return act_none(act);
		return sm->role == REPL_ROLE_PRIMARY ? primary_msg(sm, ev, act)
						     : replica_msg(sm, ev, act);
	case REPL_EV_APPLIED:
		if (sm->role != REPL_ROLE_REPLICA || ev->history == NULL ||
		    (sm->state != REPL_ST_STREAM &&
		     sm->state != REPL_ST_SNAP_INSTALL &&
		     sm->state != REPL_ST_REWIND_APPLY))
			return reset(sm, now, KS_ESTATE, true,
				     "applied outside a transfer", act);
		memcpy(sm->history, ev->history, PROTO_HISTORY_LEN);
		sm->pos = ev->seq;
		if (sm->state == REPL_ST_SNAP_INSTALL ||
		    sm->state == REPL_ST_REWIND_APPLY)
			enter(sm, REPL_ST_STREAM, now);
		*act = (repl_sm_action_t){ .type = REPL_ACT_SEND_ACK,
					   .seq = sm->pos };
		memcpy(act->history, sm->history, PROTO_HISTORY_LEN);
		return act->type;
	case REPL_EV_LOG_GREW:
		if (sm->role != REPL_ROLE_PRIMARY ||
		    sm->state != REPL_ST_STREAM || ev->window == NULL ||
		    ev->congested || sm->sent >= ev->window->last_seq)
			return act_none(act);
		if (!hist_eq(ev->window->history, sm->history))
			return reset(sm, now, KS_EHISTORY, true,
				     "the primary started a new history", act);
		*act = (repl_sm_action_t){ .type = REPL_ACT_SEND_FROM,
					   .seq = sm->sent + 1 };
		return act->type;
	case REPL_EV_SENT:
		if (sm->role == REPL_ROLE_PRIMARY &&
		    sm->state == REPL_ST_SNAP_SEND) {
			sm->snap_sent_ms = now;
			return act_none(act);
		}
		if (sm->role != REPL_ROLE_PRIMARY ||
		    sm->state != REPL_ST_STREAM || ev->seq < sm->sent)
			return act_none(act);
		if (sm->sent == sm->pos)
			sm->sent_at_ms = now; /* first unacked data */
		sm->sent = ev->seq;
		return act_none(act);
	case REPL_EV_TICK:
		return timeout_check(sm, now, act);
	case REPL_EV_LOCAL_ERROR:
		if (sm->state == REPL_ST_IDLE)
			return act_none(act);
		return reset(sm, now, ev->code < 0 ? ev->code : KS_EINTERNAL,
			     true, ev->reason ? ev->reason : "local failure",
			     act);
	case REPL_EV_CLOSED:
		sm->snap_seq = 0;
		memset(&sm->rx, 0, sizeof(sm->rx));
		enter(sm, REPL_ST_IDLE, now);
		return act_none(act);
	default:
		return reset(sm, now, KS_EINVAL, false, "unknown event", act);
	}
}
