/* SPDX-License-Identifier: MIT */
/*
 * The one place where a link's state machine (sm.h) is stepped and its
 * actions performed: sending HELLO, ANSWER, ACK and ERROR, handing the
 * others to primary.c, replica.c and rewind.c; the reset path; and what a
 * replica does with the primary's HELLO and ANSWER (following it).  Loop
 * thread only (the alignment of an old primary's log is a link job).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/repl/repl_int.h"

/* --- sending --------------------------------------------------------------- */

int node_repl__send_msg(node_repl_link_t *l, const proto_msg_t *m)
{
	int ret;

	ks_buf_reset(&l->out);
	ret = proto_msg_encode(m, &l->out);
	if (ret == KS_EOK)
		ret = node_repl__io_send(l, l->out.data, l->out.len);
	return ret;
}

static int send_hello(node_repl_link_t *l)
{
	node_repl_t *r = l->r;
	store_meta_t m;
	proto_msg_t msg = { .type = PROTO_MSG_HELLO };
	int ret = node_repl__meta(r->store, &m);

	if (ret != KS_EOK)
		return ret;
	msg.u.hello = (proto_hello_t){
		.version_min = PROTO_VERSION_MIN,
		.version_max = PROTO_VERSION_MAX,
		.role = (uint8_t)l->sm.role,
		.caps = PROTO_CAP_ZSTD | PROTO_CAP_DIGEST |
			PROTO_CAP_KDB_DIGEST |
			(node_repl__refetch_serves(l) ? PROTO_CAP_REFETCH : 0) |
			(l->sm.role == REPL_ROLE_REPLICA && !r->no_rewind
				 ? PROTO_CAP_REWIND | PROTO_CAP_VALUES_PARTS
				 : 0) |
			(node_repl__lockout_cap(l) ? PROTO_CAP_LOCKOUT : 0) |
			(l->relay ? PROTO_CAP_RELAY : 0),
		.name = { (const uint8_t *)r->name, strlen(r->name) },
		.has_ident = true,
	};
	const char *realm = node_repl__realm(r);
	msg.u.hello.realm =
		(ks_view_t){ (const uint8_t *)realm, strlen(realm) };
	if (l->relay) {
		/* the primary's position as applied here; the key it signs
		 * a full copy with */
		memcpy(msg.u.hello.history, m.applied_history, 16);
		msg.u.hello.seq = m.applied_seq;
		if (r->key != NULL)
			memcpy(msg.u.hello.key_id, proto_key_id(r->key),
			       PROTO_KEYID_LEN);
	} else if (r->role == REPL_ROLE_PRIMARY) {
		memcpy(msg.u.hello.history, m.history, 16);
		msg.u.hello.seq = m.last_seq;
		if (r->key != NULL)
			memcpy(msg.u.hello.key_id, proto_key_id(r->key),
			       PROTO_KEYID_LEN);
	} else {
		const uint8_t *h;
		node_repl__position(&m, &h, &msg.u.hello.seq);
		memcpy(msg.u.hello.history, h, 16);
	}
	return node_repl__send_msg(l, &msg);
}

/* --- the state machine's actions ------------------------------------------- */

void node_repl__feed(node_repl_link_t *l, const repl_sm_event_t *ev)
{
	repl_sm_action_t act;

	repl_sm_step(&l->sm, ev, &act);
	/* Streaming again: the error that broke an earlier link is over
	 * (cleared before the action, which may end the link). */
	if (l->sm.state == REPL_ST_STREAM)
		l->peer->last_error[0] = '\0';
	node_repl__do_action(l, &act);
}

void node_repl__fail(node_repl_link_t *l, int code, const char *reason)
{
	repl_sm_event_t ev = { .type = REPL_EV_LOCAL_ERROR,
			       .code = code,
			       .reason = reason,
			       .now_ms = node_repl__now(l->r) };
	repl_sm_action_t act;

	if (l->down)
		return;
	repl_sm_step(&l->sm, &ev, &act);
	if (act.type == REPL_ACT_RESET)
		node_repl__do_action(l, &act);
	else /* reset already: the link is closing */
		node_repl__io_close(l, code, reason ? reason : "local failure");
}

void node_repl__local_error(node_repl_link_t *l, int code)
{
	node_repl__fail(l, code, NULL);
}

void node_repl__reset_link(node_repl_link_t *l, const repl_sm_action_t *act)
{
	char reason[200];

	snprintf(reason, sizeof(reason), "%s (%s)", act->reason,
		 ks_strerror(act->code));
	snprintf(l->peer->last_error, sizeof(l->peer->last_error), "%s",
		 reason);
	if (l->sm.role == REPL_ROLE_REPLICA)
		node_repl__stage_abort(l->r);
	if (act->send_error) {
		proto_msg_t m = { .type = PROTO_MSG_ERROR };
		size_t n = strlen(act->reason);
		m.u.error.code = act->code;
		m.u.error.text =
			(ks_view_t){ (const uint8_t *)act->reason,
				     n > PROTO_TEXT_MAX ? PROTO_TEXT_MAX : n };
		(void)node_repl__send_msg(l, &m);
	}
	ks_log_warn(REPL, "'%s': link reset: %s", l->peer->name, reason);
	node_repl__io_close(l, act->code ? act->code : KS_EINTERNAL, reason);
}

static int send_answer(node_repl_link_t *l, const repl_sm_action_t *act)
{
	repl_peer_t *p = l->peer;
	proto_msg_t m = { .type = PROTO_MSG_ANSWER };
	int ret;

	m.u.answer = (proto_answer_t){ .version = l->sm.version,
				       .mode = act->answer_mode,
				       .from_seq = act->seq };
	memcpy(m.u.answer.history, act->history, 16);
	ret = node_repl__send_msg(l, &m);
	if (ret != KS_EOK)
		return ret;
	p->incremental_sessions++;
	if (act->answer_mode == PROTO_ANSWER_REWIND) {
		snprintf(p->last_session, sizeof(p->last_session),
			 "rewound to seq %" PRIu64 ", incremental after",
			 act->seq - 1);
		ks_log_notice(REPL,
			      "'%s': rewinding it to seq %" PRIu64
			      ", then incrementally",
			      p->name, act->seq - 1);
		return KS_EOK;
	}
	snprintf(p->last_session, sizeof(p->last_session),
		 "incremental from seq %" PRIu64, act->seq);
	ks_log_notice(REPL, "'%s': resuming incrementally from seq %" PRIu64,
		      p->name, act->seq);
	/* Its hello said it has applied up to here: that is its position
	 * (status, lag, synchronous mode) until its next ack, even when
	 * nothing new is sent (it kept the old ack's figure before). */
	if (!p->have_ack || p->acked != act->seq - 1)
		node_repl__record_ack(l, act->seq - 1);
	node_repl__link_log_grew(l);
	return KS_EOK;
}

void node_repl__do_action(node_repl_link_t *l, repl_sm_action_t *act)
{
	int ret = KS_EOK;
	proto_msg_t m;

	switch (act->type) {
	case REPL_ACT_NONE:
		return;
	case REPL_ACT_SEND_HELLO:
		ret = send_hello(l);
		break;
	case REPL_ACT_SEND_ANSWER:
		ret = send_answer(l, act);
		break;
	case REPL_ACT_SEND_SNAPSHOT:
		ret = node_repl__send_snapshot(l, act->history, act->seq);
		break;
	case REPL_ACT_SEND_FROM:
		node_repl__send_from(l, act->seq);
		return;
	case REPL_ACT_RECORD_ACK:
		node_repl__record_ack(l, act->seq);
		return;
	case REPL_ACT_ADOPT_HISTORY:
		node_repl__adopt_history(l, act->history, act->seq);
		return;
	case REPL_ACT_STAGE_BEGIN:
		node_repl__stage_begin(l, act->seq);
		return;
	case REPL_ACT_SEND_FETCH:
		ret = node_repl__send_fetch(l, act->seq);
		break;
	case REPL_ACT_SEND_ACK:
		m = (proto_msg_t){ .type = PROTO_MSG_ACK };
		memcpy(m.u.ack.history, act->history, 16);
		m.u.ack.seq = act->seq;
		ret = node_repl__send_msg(l, &m);
		break;
	case REPL_ACT_RESET:
		node_repl__reset_link(l, act);
		return;
	default:
		/* STAGE_CHUNK, INSTALL, APPLY_BATCH need the opened blob:
		 * performed by node_repl__on_blob(). */
		ret = KS_EINTERNAL;
		break;
	}
	if (ret != KS_EOK)
		node_repl__local_error(l, ret);
}

/* --- following: is the peer one this replica accepts? ----------------------- */

/*
 * The state machine refused the primary's HELLO (wrong role, another
 * realm, an untrusted signing key: repl_sm_check_identity); name the
 * details for the operator and tell the daemon (kdcsync follow).
 */
void node_repl__hello_refused(node_repl_link_t *l, const proto_hello_t *h,
			      int code)
{
	node_repl_t *r = l->r;
	char why[300], id[2 * PROTO_KEYID_LEN + 1];

	if (code == KS_EREALM) {
		snprintf(why, sizeof(why),
			 "'%s' serves realm %.*s, this node's KDB is of %s",
			 l->peer->name, (int)h->realm.len,
			 (const char *)h->realm.ptr, node_repl__realm(r));
	} else if (code == KS_EUNTRUSTED) {
		ks_hex_encode(h->key_id, PROTO_KEYID_LEN, id);
		snprintf(why, sizeof(why),
			 "'%s' signs with key %s, which [node] trusted_keys "
			 "does not list",
			 l->peer->name, id);
	} else if (h->role != PROTO_ROLE_PRIMARY) {
		snprintf(why, sizeof(why), "'%s' is not a primary",
			 l->peer->name);
	} else {
		return;
	}
	ks_log_err(REPL, "'%s': not following it: %s", l->peer->name, why);
	if (r->observer.refused != NULL)
		r->observer.refused(r->observer.arg, l->peer->name, code, why);
}

/*
 * An old primary following: its own log went beyond its applied position.
 * The applied position becomes its own last seq (a store write: on the
 * worker, as a job of the link, so the batches or the adoption the answer
 * leads to run after it).
 */
typedef struct align_job {
	node_repl_job_t job;
	node_repl_link_t *l; /* loop side only */
	node_repl_t *r;
	uint64_t seq; /* worker: the seq it aligned at, 0 if nothing */
} align_job_t;

static int align_run(node_repl_job_t *job)
{
	align_job_t *j = (align_job_t *)job;
	store_meta_t m;
	int ret = node_repl__meta(j->r->store, &m);

	if (ret != KS_EOK || m.last_seq == 0 ||
	    (memcmp(m.history, m.applied_history, 16) == 0 &&
	     m.last_seq == m.applied_seq))
		return ret;
	j->seq = m.last_seq;
	return store_rewind(j->r->store, m.last_seq, NULL, 0);
}

static void align_done(node_repl_job_t *job, int ret)
{
	align_job_t *j = (align_job_t *)job;
	node_repl_link_t *l = j->l;

	if (!l->down && ret != KS_ECANCELED) {
		if (ret != KS_EOK)
			node_repl__local_error(l, ret);
		else if (j->seq != 0)
			ks_log_notice(REPL,
				      "'%s': following it from this node's "
				      "own last seq %" PRIu64,
				      l->peer->name, j->seq);
	}
	free(j);
	node_repl__link_job_end(l);
}

/* The primary answered: align the position, tell the daemon. */
void node_repl__answered(node_repl_link_t *l, const proto_answer_t *a)
{
	node_repl_t *r = l->r;
	align_job_t *j;

	if (a->mode == PROTO_ANSWER_REFUSED) {
		if (r->observer.refused != NULL)
			r->observer.refused(r->observer.arg, l->peer->name,
					    a->reason < 0 ? a->reason
							  : KS_EPEER,
					    "refused by the peer");
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		node_repl__local_error(l, KS_ENOMEM);
		return;
	}
	/* the store only (worker.h: side only, so a full copy the answer
	 * leads to is not held up by the KDB check) */
	*j = (align_job_t){ .job = { .run = align_run,
				     .done = align_done,
				     .side_only = true },
			    .l = l,
			    .r = r };
	node_repl__link_job(l, &j->job);
	if (r->observer.followed != NULL)
		r->observer.followed(r->observer.arg, l->peer->name);
}
