/* SPDX-License-Identifier: MIT */
/*
 * The engine's links, one per established native connection: up (the
 * state machine starts; held in REPL_ST_NOT_READY during a primary's
 * start-up scan), frame dispatch, the inbox that keeps frames in order
 * while the link's worker jobs run, and down.  Loop thread only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/wire.h"
#include "node/repl/repl_int.h"

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

/* One frame waiting in a link's inbox. */
struct inbox_frame {
	struct inbox_frame *next;
	size_t len;
	uint8_t data[];
};

static void inbox_clear(node_repl_link_t *l)
{
	while (l->inbox_head != NULL) {
		struct inbox_frame *f = l->inbox_head;
		l->inbox_head = f->next;
		free(f);
	}
	l->inbox_tail = NULL;
	l->inbox_bytes = 0;
}

/* Drop \p n references at once; the last frees the link. */
static void link_release(node_repl_link_t *l, int n)
{
	l->refs -= n;
	if (l->refs > 0)
		return;
	ks_buf_free(&l->out);
	inbox_clear(l);
	ks_buf_free(&l->snap);
	node_repl__values_parts_free(l);
	free(l);
}

static void link_unref(node_repl_link_t *l)
{
	link_release(l, 1);
}

/* --- frames --------------------------------------------------------------- */

/* One frame, in order (the link is not busy). */
static int link_frame(node_repl_link_t *l, ks_view_t frame, const char **why)
{
	node_repl_t *r = l->r;
	uint64_t now = node_repl__now(r);
	proto_msg_t m;
	store_meta_t meta;
	repl_sm_window_t w;
	int ret;

	*why = "cannot handle a message";
	if (r->promoted) {
		*why = "this node was promoted";
		return KS_ESTATE;
	}
	ret = proto_msg_decode(frame, &m);
	if (ret != KS_EOK) {
		*why = "malformed message";
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
	case PROTO_MSG_KDB_DIGEST_REQ:
		return node_repl__kdb_digest_req(l, &m.u.digest_req);
	case PROTO_MSG_KDB_DIGEST_RSP:
		return node_repl__kdb_digest_rsp(l, &m.u.digest_rsp);
	case PROTO_MSG_REFETCH:
		return node_repl__on_refetch(l, &m);
	case PROTO_MSG_REVALUES:
		return node_repl__on_revalues(l, &m);
	case PROTO_MSG_LOCKOUT:
		if (node_repl__lockout_accepts(l))
			return node_repl__on_lockout(l, &m.u.lockout);
		break; /* not valid here: the state machine resets */
	case PROTO_MSG_HELLO:
		l->peer_caps = m.u.hello.caps;
		l->hello_seen = true;
		break;
	default:
		break;
	}
	repl_sm_event_t ev = { .type = REPL_EV_MSG, .msg = &m, .now_ms = now };
	repl_sm_relay_t rv;
	if (l->sm.role == REPL_ROLE_PRIMARY && m.type == PROTO_MSG_HELLO) {
		const char *how = NULL;
		int d;
		if (l->relay) {
			ret = node_repl__relay_view(r, m.u.hello.seq, &rv, &w);
			if (ret != KS_EOK)
				return ret;
			ev.relay = &rv;
			d = repl_sm_relay_decide(&rv, m.u.hello.history,
						 m.u.hello.seq, &how);
		} else {
			ret = node_repl__meta(r->store, &meta);
			if (ret != KS_EOK)
				return ret;
			node_repl__window_of(&meta, &w);
			d = repl_sm_decide(&w, m.u.hello.history, m.u.hello.seq,
					   &how);
		}
		ev.window = &w;
		ks_log_notice(REPL, "'%s' at seq %" PRIu64 ": %s (%s)",
			      l->peer->name, m.u.hello.seq,
			      d == REPL_RESUME_FULL	? "full snapshot"
			      : d == REPL_RESUME_REWIND ? "rewind"
							: "incremental",
			      how);
	}
	if (l->sm.role == REPL_ROLE_REPLICA && m.type == PROTO_MSG_HELLO) {
		repl_sm_action_t act;
		node_repl__note_peer_last(l, m.u.hello.seq);
		ev.realm = node_repl__realm(r);
		ev.trust = r->trust;
		repl_sm_step(&l->sm, &ev, &act);
		if (act.type == REPL_ACT_RESET)
			node_repl__hello_refused(l, &m.u.hello, act.code);
		node_repl__do_action(l, &act);
		node_repl__lockout_kick(
			r); /* lockouts that waited for a link */
		return KS_EOK;
	}
	if (l->sm.role == REPL_ROLE_REPLICA && m.type == PROTO_MSG_ANSWER &&
	    l->sm.state == REPL_ST_ANSWER_WAIT)
		node_repl__answered(l, &m.u.answer);
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
 * socket read at most, and TCP flow control holds the primary back.
 * Each frame is its own allocation, copied once: the loop never moves or
 * grows a buffer the size of the inbox (at 16 MiB that took milliseconds
 * of one loop iteration during a full copy). */
#define INBOX_PAUSE (16u << 20)

static int inbox_put(node_repl_link_t *l, ks_view_t frame)
{
	struct inbox_frame *f = malloc(sizeof(*f) + frame.len);

	if (f == NULL)
		return KS_ENOMEM;
	f->next = NULL;
	f->len = frame.len;
	memcpy(f->data, frame.ptr, frame.len);
	if (l->inbox_tail != NULL)
		l->inbox_tail->next = f;
	else
		l->inbox_head = f;
	l->inbox_tail = f;
	l->inbox_bytes += frame.len;
	if (!l->paused && l->inbox_bytes > INBOX_PAUSE) {
		l->paused = true;
		l->pauses++;
		node_repl__io_pause(l, true);
	}
	return KS_EOK;
}

/* One frame; its failure resets the link (the one way a link ends on an
 * error: node_repl__fail, through the state machine). */
static void handle_frame(node_repl_link_t *l, ks_view_t frame)
{
	const char *why = NULL;
	int ret = link_frame(l, frame, &why);

	if (ret != KS_EOK)
		node_repl__fail(l, ret, why);
}

/*
 * Handle waiting frames until the inbox is empty or the link busy.  A frame
 * may close the link: the caller holds a reference across the call (and
 * drops it after), so that \p l outlives it.
 */
static void inbox_run(node_repl_link_t *l)
{
	while (!l->down && !l->r->stopping && l->jobs == 0 &&
	       l->sm.state != REPL_ST_NOT_READY && l->inbox_head != NULL) {
		struct inbox_frame *f = l->inbox_head;
		l->inbox_head = f->next;
		if (l->inbox_head == NULL)
			l->inbox_tail = NULL;
		l->inbox_bytes -= f->len;
		handle_frame(l, (ks_view_t){ f->data, f->len });
		free(f);
	}
	if (l->paused && !l->down && l->inbox_bytes <= INBOX_PAUSE / 2) {
		l->paused = false;
		node_repl__io_pause(l, false);
	}
}

int node_repl_link_frame(node_repl_link_t *l, ks_view_t frame)
{
	if (l->r->stopping)
		return KS_EOK; /* the daemon closes the links */
	if (l->jobs > 0 || l->sm.state == REPL_ST_NOT_READY ||
	    l->inbox_head != NULL) {
		int ret = inbox_put(l, frame);
		if (ret != KS_EOK)
			node_repl__fail(l, ret, "cannot keep a message");
		return KS_EOK;
	}
	handle_frame(l, frame);
	return KS_EOK;
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
		inbox_run(l); /* the job's reference covers it */
	link_unref(l);
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
	l->relay = node_repl__relay_peer(r, peer);
	p->link = l;
	p->relayed = l->relay;
	p->link_role = r->role == REPL_ROLE_PRIMARY || l->relay
			       ? REPL_LINK_DOWNSTREAM
			       : REPL_LINK_UPSTREAM;
	repl_sm_init(&l->sm, l->relay ? REPL_ROLE_PRIMARY : r->role, NULL);
	node_repl__session_begin(l);
	repl_sm_event_t ev = { .type = REPL_EV_CONNECTED,
			       .now_ms = node_repl__now(r),
			       /* the start-up scan runs: say nothing yet,
				* keep the peer's frames in the inbox */
			       .not_ready = !r->ready };
	if (l->sm.role == REPL_ROLE_REPLICA &&
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
		if (!l->down && l->jobs == 0) {
			l->refs++; /* for inbox_run */
			inbox_run(l);
			link_unref(l);
		}
	}
}

void node_repl_link_writable(node_repl_link_t *l)
{
	if (l == NULL || l->sm.role != REPL_ROLE_PRIMARY)
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
	if (l->sm.role == REPL_ROLE_REPLICA)
		node_repl__stage_abort(l->r);
	node_repl__compare_link_down(l);
	if (l->peer->link == l)
		l->peer->link = NULL;
	l->down = true;
	l->conn = NULL;
	node_repl__snapshot_abort(l);
	inbox_clear(l);
	l->refs++; /* the held batch's job may hold the last reference */
	node_repl__held_drop(l);
	/* ours and the link's own; jobs in flight keep it until their done */
	link_release(l, 2);
}
