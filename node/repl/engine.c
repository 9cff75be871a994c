/* SPDX-License-Identifier: MIT */
/*
 * The replication engine: its lifecycle, its links (one per established
 * native connection), frame dispatch, and the one place where the state
 * machine (sm.h) is stepped and its actions performed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/wire.h"
#include "node/repl/repl_int.h"

/* --- helpers ------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static repl_peer_t *peer_get(node_repl_t *r, const char *name)
{
	repl_peer_t *p;

	for (p = r->peers; p != NULL; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	p = calloc(1, sizeof(*p));
	if (p == NULL || (p->name = strdup(name)) == NULL) {
		free(p);
		return NULL;
	}
	p->next = r->peers;
	r->peers = p;
	return p;
}

int node_repl__meta(store_t *s, store_meta_t *m)
{
	store_txn_t *t = NULL;
	int ret = store_read_begin(s, &t);

	if (ret != KS_EOK)
		return ret;
	ret = store_meta_get(t, m);
	store_read_end(t);
	return ret;
}

void node_repl__position(const store_meta_t *m, const uint8_t **history,
			 uint64_t *seq)
{
	bool own_ahead = m->last_seq > 0 &&
			 (memcmp(m->history, m->applied_history, 16) != 0 ||
			  m->last_seq != m->applied_seq);

	*history = own_ahead ? m->history : m->applied_history;
	*seq = own_ahead ? m->last_seq : m->applied_seq;
}

/* The realm of the KDB, from its K/M principal's key ("" if none yet). */
static int realm_cb(ks_view_t key, ks_view_t value, void *arg)
{
	char *out = arg;
	static const char km[] = "PK/M@";

	(void)value;
	if (key.len > sizeof(km) - 1 && key.len - (sizeof(km) - 1) < 256 &&
	    memcmp(key.ptr, km, sizeof(km) - 1) == 0) {
		size_t n = key.len - (sizeof(km) - 1);
		memcpy(out, key.ptr + sizeof(km) - 1, n);
		out[n] = '\0';
	}
	return 1; /* the first key at or after "PK/M@" only */
}

static const char *own_realm(node_repl_t *r)
{
	store_txn_t *t = NULL;

	if (r->realm[0] == '\0' && store_read_begin(r->store, &t) == KS_EOK) {
		store_records_foreach(
			t, (ks_view_t){ (const uint8_t *)"PK/M@", 5 }, realm_cb,
			r->realm);
		store_read_end(t);
	}
	return r->realm;
}

void node_repl_set_observer(node_repl_t *r, const node_repl_observer_t *o)
{
	if (r != NULL)
		r->observer = o ? *o : (node_repl_observer_t){ 0 };
}

void node_repl__window_of(const store_meta_t *m, repl_sm_window_t *w)
{
	memcpy(w->history, m->history, 16);
	w->last_seq = m->last_seq;
	w->oldest_seq = m->oldest_seq;
	memcpy(w->prev_history, m->prev_history, 16);
	w->prev_last_seq = m->prev_last_seq;
}

static void link_unref(node_repl_link_t *l)
{
	if (--l->refs > 0)
		return;
	ks_buf_free(&l->out);
	ks_buf_free(&l->inbox);
	ks_buf_free(&l->snap);
	free(l);
}

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
		.role = (uint8_t)r->role,
		.caps = PROTO_CAP_ZSTD | PROTO_CAP_DIGEST |
			(r->role == REPL_ROLE_REPLICA && !r->no_rewind
				 ? PROTO_CAP_REWIND
				 : 0),
		.name = { (const uint8_t *)r->name, strlen(r->name) },
		.has_ident = true,
	};
	const char *realm = own_realm(r);
	msg.u.hello.realm =
		(ks_view_t){ (const uint8_t *)realm, strlen(realm) };
	if (r->role == REPL_ROLE_PRIMARY) {
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

void node_repl__local_error(node_repl_link_t *l, int code)
{
	repl_sm_event_t ev = { .type = REPL_EV_LOCAL_ERROR,
			       .code = code,
			       .now_ms = node_repl__now(l->r) };
	node_repl__feed(l, &ev);
}

void node_repl__reset_link(node_repl_link_t *l, const repl_sm_action_t *act)
{
	char reason[200];

	snprintf(reason, sizeof(reason), "%s (%s)", act->reason,
		 ks_strerror(act->code));
	snprintf(l->peer->last_error, sizeof(l->peer->last_error), "%s",
		 reason);
	if (l->r->role == REPL_ROLE_REPLICA)
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
static void hello_refused(node_repl_link_t *l, const proto_hello_t *h, int code)
{
	node_repl_t *r = l->r;
	char why[300], id[2 * PROTO_KEYID_LEN + 1];

	if (code == KS_EREALM) {
		snprintf(why, sizeof(why),
			 "'%s' serves realm %.*s, this node's KDB is of %s",
			 l->peer->name, (int)h->realm.len,
			 (const char *)h->realm.ptr, own_realm(r));
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
static void answered(node_repl_link_t *l, const proto_answer_t *a)
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
	*j = (align_job_t){ .job = { .run = align_run, .done = align_done },
			    .l = l,
			    .r = r };
	node_repl__link_job(l, &j->job);
	if (r->observer.followed != NULL)
		r->observer.followed(r->observer.arg, l->peer->name);
}

/* --- frames --------------------------------------------------------------- */

/* One frame, in order (the link is not busy). */
static int link_frame(node_repl_link_t *l, ks_view_t frame)
{
	node_repl_t *r = l->r;
	uint64_t now = node_repl__now(r);
	proto_msg_t m;
	store_meta_t meta;
	repl_sm_window_t w;
	int ret;

	if (r->promoted)
		return KS_ESTATE; /* this node was promoted: close the link */
	ret = proto_msg_decode(frame, &m);

	if (ret != KS_EOK) {
		snprintf(l->peer->last_error, sizeof(l->peer->last_error),
			 "malformed message (%s)", ks_strerror(ret));
		return ret;
	}
	switch (m.type) {
	case PROTO_MSG_BATCH:
	case PROTO_MSG_SNAP_CHUNK:
	case PROTO_MSG_SNAP_END:
		return node_repl__on_blob(l, frame, &m);
	case PROTO_MSG_FETCH:
		return node_repl__on_fetch(l, &m, now);
	case PROTO_MSG_VALUES:
		return node_repl__on_values(l, frame, &m);
	case PROTO_MSG_DIGEST_REQ:
		return node_repl__digest_req(l, &m.u.digest_req);
	case PROTO_MSG_DIGEST_RSP:
		return node_repl__digest_rsp(l, &m.u.digest_rsp);
	case PROTO_MSG_HELLO:
		l->peer_caps = m.u.hello.caps;
		l->hello_seen = true;
		break;
	default:
		break;
	}
	repl_sm_event_t ev = { .type = REPL_EV_MSG, .msg = &m, .now_ms = now };
	if (r->role == REPL_ROLE_PRIMARY && m.type == PROTO_MSG_HELLO) {
		ret = node_repl__meta(r->store, &meta);
		if (ret != KS_EOK)
			return ret;
		node_repl__window_of(&meta, &w);
		ev.window = &w;
		const char *why = NULL;
		int d = repl_sm_decide(&w, m.u.hello.history, m.u.hello.seq,
				       &why);
		ks_log_notice(REPL, "'%s' at seq %" PRIu64 ": %s (%s)",
			      l->peer->name, m.u.hello.seq,
			      d == REPL_RESUME_FULL	? "full snapshot"
			      : d == REPL_RESUME_REWIND ? "rewind"
							: "incremental",
			      why);
	}
	if (r->role == REPL_ROLE_REPLICA && m.type == PROTO_MSG_HELLO) {
		repl_sm_action_t act;
		node_repl__note_peer_last(l, m.u.hello.seq);
		ev.realm = own_realm(r);
		ev.trust = r->trust;
		repl_sm_step(&l->sm, &ev, &act);
		if (act.type == REPL_ACT_RESET)
			hello_refused(l, &m.u.hello, act.code);
		node_repl__do_action(l, &act);
		return KS_EOK;
	}
	if (r->role == REPL_ROLE_REPLICA && m.type == PROTO_MSG_ANSWER &&
	    l->sm.state == REPL_ST_ANSWER_WAIT)
		answered(l, &m.u.answer);
	if (m.type == PROTO_MSG_ERROR)
		ks_log_err(REPL, "'%s' reported: %.*s (%s)", l->peer->name,
			   (int)m.u.error.text.len,
			   (const char *)m.u.error.text.ptr,
			   ks_strerror(m.u.error.code));
	node_repl__feed(l, &ev);
	return KS_EOK;
}

/* Frames that arrive while the link is busy wait here, in order.  The
 * primary keeps at most a window of unacknowledged changes in flight
 * (primary.c); a snapshot has no such window, so past INBOX_PAUSE bytes
 * waiting the link stops reading (node_repl__io_pause) until the worker has
 * drained the inbox to half of it: the inbox holds INBOX_PAUSE plus one
 * socket read at most, and TCP flow control holds the primary back. */
#define INBOX_PAUSE (16u << 20)

static size_t inbox_waiting(const node_repl_link_t *l)
{
	return l->inbox.len - l->inbox_off;
}

static int inbox_put(node_repl_link_t *l, ks_view_t frame)
{
	int ret;

	if (l->inbox_off == l->inbox.len) {
		ks_buf_reset(&l->inbox);
		l->inbox_off = 0;
	}
	ret = ks_buf_append_u32(&l->inbox, (uint32_t)frame.len);
	if (ret == KS_EOK)
		ret = ks_buf_append(&l->inbox, frame.ptr, frame.len);
	if (ret == KS_EOK && !l->paused && inbox_waiting(l) > INBOX_PAUSE) {
		l->paused = true;
		l->pauses++;
		node_repl__io_pause(l, true);
	}
	return ret;
}

/* Handle waiting frames until the inbox is empty or the link busy. */
static void inbox_run(node_repl_link_t *l)
{
	l->refs++; /* a frame may close the link */
	while (!l->down && !l->r->stopping && l->jobs == 0 &&
	       l->sm.state != REPL_ST_NOT_READY &&
	       l->inbox_off < l->inbox.len) {
		const uint8_t *p = l->inbox.data + l->inbox_off;
		ks_view_t f = { p + 4, ks_get_u32be(p) };
		l->inbox_off += 4 + f.len;
		int ret = link_frame(l, f);
		if (ret != KS_EOK && !l->down)
			node_repl__io_close(l, ret, ks_strerror(ret));
	}
	if (l->inbox_off == l->inbox.len && l->inbox.len > (1u << 20))
		ks_buf_free(&l->inbox); /* give a big burst's memory back */
	if (l->inbox_off == l->inbox.len)
		l->inbox_off = l->inbox.len = 0;
	if (l->paused && !l->down && inbox_waiting(l) <= INBOX_PAUSE / 2) {
		l->paused = false;
		node_repl__io_pause(l, false);
	}
	link_unref(l);
}

int node_repl_link_frame(node_repl_link_t *l, ks_view_t frame)
{
	if (l->r->stopping)
		return KS_EOK; /* the daemon closes the links */
	if (l->jobs > 0 || l->sm.state == REPL_ST_NOT_READY ||
	    l->inbox_off < l->inbox.len)
		return inbox_put(l, frame);
	return link_frame(l, frame);
}

void node_repl__link_job(node_repl_link_t *l, node_repl_job_t *j)
{
	l->refs++;
	l->jobs++;
	node_repl_worker_submit(l->r->worker, j);
}

void node_repl__link_job_end(node_repl_link_t *l)
{
	l->jobs--;
	if (l->jobs == 0 && !l->down)
		inbox_run(l);
	link_unref(l);
}

bool node_repl__job(node_repl_t *r, node_repl_job_t *j)
{
	if (r->worker == NULL || r->stopping)
		return false;
	node_repl_worker_submit(r->worker, j);
	return true;
}

/* --- links ----------------------------------------------------------------- */

node_repl_link_t *node_repl_link_up(node_repl_t *r, const node_repl_io_t *io,
				    void *conn, const char *peer)
{
	node_repl_link_t *l;
	repl_peer_t *p;
	store_meta_t m;

	/* disabled, promoted, or a KDB that could not be fixed (status says
	 * why; the primary's idle timeout ends the connection) */
	if (r->bridge == NULL || r->promoted || r->kdb_blocked)
		return NULL;
	l = calloc(1, sizeof(*l));
	p = peer_get(r, peer);
	if (l == NULL || p == NULL) {
		free(l);
		return NULL;
	}
	l->r = r;
	l->io = io;
	l->conn = conn;
	l->peer = p;
	l->refs = 1;
	p->link = l;
	repl_sm_init(&l->sm, r->role, NULL);
	node_repl__session_begin(l);
	repl_sm_event_t ev = { .type = REPL_EV_CONNECTED,
			       .now_ms = node_repl__now(r),
			       /* the start-up scan runs: say nothing yet,
				* keep the peer's frames in the inbox */
			       .not_ready = !r->ready };
	if (r->role == REPL_ROLE_REPLICA &&
	    node_repl__meta(r->store, &m) == KS_EOK)
		node_repl__position(&m, &ev.history, &ev.seq);
	if (!r->ready)
		ks_log_info(REPL,
			    "'%s': connected during the start-up scan: "
			    "served once it is done",
			    p->name);
	node_repl__feed(l, &ev);
	return l;
}

void node_repl__links_ready(node_repl_t *r)
{
	for (repl_peer_t *p = r->peers; p != NULL; p = p->next) {
		node_repl_link_t *l = p->link;
		if (l == NULL || l->down || l->sm.state != REPL_ST_NOT_READY)
			continue;
		repl_sm_event_t ev = { .type = REPL_EV_READY,
				       .now_ms = node_repl__now(r) };
		node_repl__feed(l, &ev);
		if (!l->down && l->jobs == 0)
			inbox_run(l);
	}
}

void node_repl_link_writable(node_repl_link_t *l)
{
	if (l == NULL || l->r->role != REPL_ROLE_PRIMARY)
		return;
	if (!node_repl__snapshot_pump(l))
		node_repl__link_log_grew(l);
}

void node_repl_link_down(node_repl_link_t *l, int err, const char *reason)
{
	if (l == NULL)
		return;
	repl_sm_event_t ev = { .type = REPL_EV_CLOSED,
			       .now_ms = node_repl__now(l->r) };
	repl_sm_action_t act;
	repl_sm_step(&l->sm, &ev, &act);
	if (err != KS_EOK && reason != NULL && l->peer->last_error[0] == '\0')
		snprintf(l->peer->last_error, sizeof(l->peer->last_error), "%s",
			 reason);
	node_repl__session_end(l, err, reason);
	if (l->r->role == REPL_ROLE_REPLICA)
		node_repl__stage_abort(l->r);
	node_repl__compare_link_down(l);
	if (l->peer->link == l)
		l->peer->link = NULL;
	l->down = true;
	l->conn = NULL;
	node_repl__snapshot_abort(l);
	ks_buf_free(&l->inbox);
	l->inbox_off = 0;
	l->refs++; /* the held batch's job may hold the last reference */
	node_repl__held_drop(l);
	link_unref(l);
	link_unref(l); /* jobs in flight keep it until their done */
}

/* --- the tick --------------------------------------------------------------- */

void node_repl_tick(node_repl_t *r)
{
	uint64_t now = node_repl__now(r);

	for (repl_peer_t *p = r->peers; p != NULL; p = p->next) {
		if (p->link == NULL)
			continue;
		repl_sm_event_t ev = { .type = REPL_EV_TICK, .now_ms = now };
		node_repl__feed(p->link, &ev);
		if (p->link != NULL && r->role == REPL_ROLE_REPLICA)
			node_repl__held_tick(p->link, now);
	}
	if (r->role == REPL_ROLE_PRIMARY &&
	    ++r->ticks % REPL_TRIM_EVERY_TICKS == 0)
		node_repl__trim(r);
	if (r->role == REPL_ROLE_REPLICA) {
		node_repl__kdb_tick(r, now);
		node_repl__drift_tick(r, now);
	}
}

static void on_tick(uv_timer_t *t)
{
	node_repl_tick(t->data);
}

void node_repl_set_clock(node_repl_t *r, const node_repl_clock_t *c)
{
	r->clock = c ? *c : (node_repl_clock_t){ 0 };
}

/* --- lifecycle ---------------------------------------------------------------- */

static int copy_conf(node_repl_t *r, const node_conf_t *c)
{
	r->role = c->role == NODE_ROLE_PRIMARY ? REPL_ROLE_PRIMARY
					       : REPL_ROLE_REPLICA;
	r->name = strdup(c->name);
	r->state_dir = strdup(c->state_dir);
	r->kdc_profile = dup_or_null(c->kdc_profile);
	r->signing_key = dup_or_null(c->signing_key);
	r->replicate_lockout = c->replicate_lockout;
	r->scan_interval_ms = c->scan_interval_ms;
	r->drift_interval_ms = c->drift_check_interval_ms;
	repl_sync_init(&r->sync, (unsigned)c->synchronous, c->sync_timeout_ms);
	r->trusted.v = calloc(c->trusted_keys.n + 1, sizeof(char *));
	if (r->name == NULL || r->state_dir == NULL || r->trusted.v == NULL ||
	    (c->kdc_profile && !r->kdc_profile) ||
	    (c->signing_key && !r->signing_key))
		return KS_ENOMEM;
	for (size_t i = 0; i < c->trusted_keys.n; i++) {
		if ((r->trusted.v[i] = strdup(c->trusted_keys.v[i])) == NULL)
			return KS_ENOMEM;
		r->trusted.n++;
	}
	return KS_EOK;
}

int node_repl_new(uv_loop_t *loop, const node_conf_t *conf, store_t *store,
		  node_repl_t **out)
{
	node_repl_t *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return KS_ENOMEM;
	r->loop = loop;
	r->store = store;
	r->cap_fd = -1;
	if (copy_conf(r, conf) != KS_EOK) {
		node_repl_free(r);
		return KS_ENOMEM;
	}
	*out = r;
	return KS_EOK;
}

/* The keys of our role; r->disabled says what is wrong on failure. */
static int load_keys(node_repl_t *r)
{
	int ret;

	if (r->role == REPL_ROLE_PRIMARY) {
		if (r->signing_key == NULL) {
			snprintf(r->disabled, sizeof(r->disabled),
				 "a primary needs [node] signing_key (make one "
				 "with 'kdcsync keygen')");
			return KS_ECONFIG;
		}
		ret = proto_key_load(r->signing_key, &r->key);
		if (ret == KS_EOK && !proto_key_has_private(r->key))
			ret = KS_EKEY;
		if (ret != KS_EOK) {
			snprintf(r->disabled, sizeof(r->disabled),
				 "cannot load [node] signing_key '%s' (%s)",
				 r->signing_key, ks_strerror(ret));
			return KS_EKEY;
		}
		return KS_EOK;
	}
	if (r->trusted.n == 0) {
		snprintf(r->disabled, sizeof(r->disabled),
			 "a replica needs [node] trusted_keys (the "
			 "primary's signing public key)");
		return KS_ECONFIG;
	}
	ret = proto_trust_new(&r->trust);
	for (size_t i = 0; ret == KS_EOK && i < r->trusted.n; i++) {
		ret = proto_trust_add_file(r->trust, r->trusted.v[i]);
		if (ret != KS_EOK)
			snprintf(r->disabled, sizeof(r->disabled),
				 "cannot load [node] trusted_keys '%s' "
				 "(%s)",
				 r->trusted.v[i], ks_strerror(ret));
	}
	return ret == KS_EOK ? KS_EOK : KS_EKEY;
}

static int start(node_repl_t *r)
{
	bridge_opts_t bo = { .kdc_profile = r->kdc_profile,
			     .replicate_lockout = r->replicate_lockout,
			     .read_only = r->role == REPL_ROLE_PRIMARY,
			     /* a replica's KDB is checked first (kdb.c) */
			     .no_db = r->role == REPL_ROLE_REPLICA };
	int ret = load_keys(r);

	if (ret != KS_EOK)
		return ret;
	ret = bridge_open(&bo, &r->bridge);
	if (ret != KS_EOK) {
		snprintf(r->disabled, sizeof(r->disabled),
			 "cannot open the KDB of [node] kdc_profile '%s' (%s)",
			 r->kdc_profile ? r->kdc_profile : "(default)",
			 ks_strerror(ret));
		return KS_EKDB;
	}
	uv_timer_init(r->loop, &r->tick);
	r->tick.data = r;
	uv_timer_init(r->loop, &r->scan);
	r->scan.data = r;
	uv_timer_init(r->loop, &r->sync_timer);
	r->sync_timer.data = r;
	r->started = true;
	r->ready = r->role != REPL_ROLE_PRIMARY; /* primary: capture.c */
	if (r->clock.now_ms == NULL) /* else the caller ticks (link.h) */
		uv_timer_start(&r->tick, on_tick, REPL_TICK_MS, REPL_TICK_MS);
	if (r->role == REPL_ROLE_PRIMARY) {
		ret = node_repl__capture_start(r);
		if (ret != KS_EOK)
			return ret;
	} else {
		/* the first job: every apply waits for its verdict */
		node_repl__kdb_check(r, "start");
		node_repl__sync_start(r); /* a stale marker goes */
	}
	return KS_EOK;
}

int node_repl_start(node_repl_t *r)
{
	/* The bridge and the store writes belong to the worker; on a
	 * primary the start-up scan is its first job. */
	int ret = node_repl_worker_new(r->loop, &r->worker);

	if (ret != KS_EOK)
		return ret;
	ret = start(r);

	/*
	 * Without keys or a KDB the node still runs (TLS links, status,
	 * kprop-compat peers) but replicates nothing natively; status says
	 * why.  Only a broken capture socket or a failing first scan is fatal.
	 */
	if (ret == KS_ECONFIG || ret == KS_EKEY || ret == KS_EKDB ||
	    ret == KS_EKRB5 || ret == KS_ENOENT || ret == KS_EACCES) {
		if (r->disabled[0] == '\0')
			snprintf(r->disabled, sizeof(r->disabled), "%s",
				 ks_strerror(ret));
		ks_log_err(REPL, "native replication disabled: %s",
			   r->disabled);
		bridge_close(r->bridge);
		r->bridge = NULL;
		return KS_EOK;
	}
	return ret;
}

void node_repl_reconfigure(node_repl_t *r, const node_conf_t *conf)
{
	if (r == NULL || !r->started)
		return;
	if (conf->drift_check_interval_ms != r->drift_interval_ms) {
		r->drift_interval_ms = conf->drift_check_interval_ms;
		r->drift_next_ms = 0; /* counted from now */
	}
	if (conf->scan_interval_ms != r->scan_interval_ms &&
	    r->role == REPL_ROLE_PRIMARY)
		node_repl__capture_reconfigure(r, conf->scan_interval_ms);
	node_repl__sync_reconfigure(r, (unsigned)conf->synchronous,
				    conf->sync_timeout_ms);
}

void node_repl__closed_one(node_repl_t *r)
{
	if (--r->closing == 0 && r->done != NULL)
		r->done(r->done_arg);
}

void node_repl__closed_uv(uv_handle_t *h)
{
	node_repl__closed_one(h->data);
}

static void worker_stopped(void *arg)
{
	node_repl__closed_one(arg);
}

void node_repl_stop(node_repl_t *r, void (*done)(void *), void *arg)
{
	r->stopping = true;
	r->done = done;
	r->done_arg = arg;
	r->closing = 1;
	if (r->started) {
		r->closing += 3;
		uv_close((uv_handle_t *)&r->tick, node_repl__closed_uv);
		uv_close((uv_handle_t *)&r->scan, node_repl__closed_uv);
		uv_close((uv_handle_t *)&r->sync_timer, node_repl__closed_uv);
		node_repl__capture_stop(r);
	}
	if (r->worker != NULL) {
		/* queued jobs are cancelled, the running one finishes */
		r->closing++;
		node_repl_worker_stop(r->worker, worker_stopped, r);
	}
	/* the initial reference, released from the loop like the others */
	node_repl__closed_one(r);
}

void node_repl_free(node_repl_t *r)
{
	if (r == NULL)
		return;
	node_repl__capture_free(r);
	repl_sync_deinit(&r->sync);
	node_repl_worker_free(r->worker);
	bridge_load_abort(r->load); /* the worker is gone: ours now */
	bridge_close(r->bridge);
	proto_key_free(r->key);
	proto_trust_free(r->trust);
	node_repl__cache_clear(r);
	node_repl__compare_free(r);
	ks_buf_free(&r->drift_keys);
	for (repl_peer_t *p = r->peers; p != NULL;) {
		repl_peer_t *n = p->next;
		free(p->name);
		free(p);
		p = n;
	}
	for (size_t i = 0; i < r->trusted.n; i++)
		free(r->trusted.v[i]);
	free(r->trusted.v);
	free(r->name);
	free(r->state_dir);
	free(r->kdc_profile);
	free(r->signing_key);
	free(r);
}
