/* SPDX-License-Identifier: MIT */
/*
 * Native replication: the actions of the state machine (sm.h) performed
 * against the store, the KDB (bridge), the keys and the links (repl.h).
 */
#define _GNU_SOURCE /* accept4 */
#include "node/repl/repl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bridge/bridge.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/time.h"
#include "common/wire.h"
#include "node/repl/sm.h"
#include "proto/batch.h"
#include "proto/msg.h"
#include "proto/sign.h"
#include "proto/snap.h"

#define TICK_MS		  1000u
#define TRIM_EVERY_TICKS  10u
#define BATCH_MAX_OPS	  5000u	     /* per batch we build */
#define BATCH_MAX_RAW	  (4u << 20) /* raw bytes per batch we build */
#define CACHE_SLOTS	  64u	     /* shared signed batch frames */
#define SNAP_FLUSH	  (1u << 20) /* hand snapshot frames over */
#define HOOK_MAX_DGRAM	  4096u
#define HOOK_MAX_PER_WAKE 10000u

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
} repl_peer_t;

/* One signed BATCH frame, shared by every link that needs it. */
typedef struct cached_batch {
	uint64_t first, last;
	ks_buf_t frame;
} cached_batch_t;

/* A range (RANGES) or a bucket (LIST) still to compare with the peer. */
typedef struct verify_item {
	uint8_t kind; /* enum proto_digest_kind */
	uint16_t lo, hi;
} verify_item_t;

/*
 * One content comparison with a peer over its link (PROTOCOL.md §3.8):
 * a stack of ranges to compare, one request in flight at a time.
 */
typedef struct verify {
	char peer[256];
	bool running, done;
	int err;	   /* KS_EOK, or why it could not finish */
	char errtext[200]; /* with err */
	verify_item_t *stack;
	size_t n, cap;
	uint32_t next_id, wait_id;
	verify_item_t wait; /* the request in flight */
	bool have_pos;
	uint8_t peer_history[16], our_history[16];
	uint64_t peer_seq, our_seq, our_records;
	uint64_t requests, lists, differ;
	ks_buf_t report; /* one line per differing key */
} verify_t;

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
	uv_poll_t hook;
	int hook_fd;
	struct hook_client *hook_clients;
	char hook_path[600];
	bool started, stopping;
	bool promoted;	    /* replica promoted: follows no primary */
	char disabled[300]; /* why replication is off, "" when on */
	int closing;
	void (*done)(void *);
	void *done_arg;
	unsigned ticks;
	repl_peer_t *peers;
	cached_batch_t cache[CACHE_SLOTS];
	unsigned cache_next;
	uint8_t cache_history[16];
	/* capture statistics */
	uint64_t scans, hook_msgs, hook_changes, last_scan_ms;
	uint64_t last_scan_us;
	verify_t verify; /* kdcsync verify PEER: one at a time */
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
	ks_buf_t out; /* scratch for encoding */
};

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

static int read_meta(node_repl_t *r, store_meta_t *m)
{
	store_txn_t *t = NULL;
	int ret = store_read_begin(r->store, &t);

	if (ret != KS_EOK)
		return ret;
	ret = store_meta_get(t, m);
	store_read_end(t);
	return ret;
}

static void window_of(const store_meta_t *m, repl_sm_window_t *w)
{
	memcpy(w->history, m->history, 16);
	w->last_seq = m->last_seq;
	w->oldest_seq = m->oldest_seq;
	memcpy(w->prev_history, m->prev_history, 16);
	w->prev_last_seq = m->prev_last_seq;
}

/* --- sending --------------------------------------------------------------- */

static int send_msg(node_repl_link_t *l, const proto_msg_t *m)
{
	int ret;

	ks_buf_reset(&l->out);
	ret = proto_msg_encode(m, &l->out);
	if (ret == KS_EOK)
		ret = node_conn_send(l->conn, l->out.data, l->out.len);
	return ret;
}

static int send_hello(node_repl_link_t *l)
{
	node_repl_t *r = l->r;
	store_meta_t m;
	proto_msg_t msg = { .type = PROTO_MSG_HELLO };
	int ret = read_meta(r, &m);

	if (ret != KS_EOK)
		return ret;
	msg.u.hello = (proto_hello_t){
		.version_min = PROTO_VERSION_MIN,
		.version_max = PROTO_VERSION_MAX,
		.role = (uint8_t)r->role,
		.caps = PROTO_CAP_ZSTD | PROTO_CAP_DIGEST,
		.name = { (const uint8_t *)r->name, strlen(r->name) },
	};
	if (r->role == REPL_ROLE_PRIMARY) {
		memcpy(msg.u.hello.history, m.history, 16);
		msg.u.hello.seq = m.last_seq;
	} else {
		memcpy(msg.u.hello.history, m.applied_history, 16);
		msg.u.hello.seq = m.applied_seq;
	}
	return send_msg(l, &msg);
}

static void cache_clear(node_repl_t *r)
{
	for (unsigned i = 0; i < CACHE_SLOTS; i++) {
		ks_buf_free(&r->cache[i].frame);
		r->cache[i].first = r->cache[i].last = 0;
	}
}

typedef struct collect {
	proto_op_t *ops;
	size_t n, cap;
	size_t raw;
	uint64_t last_seq, commit_us;
	ks_buf_t
		keep; /* copies of keys/values (the txn ends before encoding) */
	size_t *offs; /* per op: key off, key len, val off, val len */
} collect_t;

static int collect_cb(const store_log_entry_t *e, void *arg)
{
	collect_t *c = arg;

	if (c->n >= BATCH_MAX_OPS || (c->n > 0 && c->raw >= BATCH_MAX_RAW))
		return 1;
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 64;
		proto_op_t *o = realloc(c->ops, nc * sizeof(*o));
		size_t *f;
		if (o == NULL)
			return KS_ENOMEM;
		c->ops = o;
		f = realloc(c->offs, nc * 4 * sizeof(*f));
		if (f == NULL)
			return KS_ENOMEM;
		c->offs = f;
		c->cap = nc;
	}
	size_t *f = &c->offs[c->n * 4];
	f[0] = c->keep.len;
	f[1] = e->key.len;
	if (ks_buf_append(&c->keep, e->key.ptr, e->key.len) != KS_EOK)
		return KS_ENOMEM;
	f[2] = c->keep.len;
	f[3] = e->op == STORE_PUT ? e->value.len : 0;
	if (f[3] && ks_buf_append(&c->keep, e->value.ptr, f[3]) != KS_EOK)
		return KS_ENOMEM;
	c->ops[c->n].type = e->op == STORE_PUT ? PROTO_OP_PUT : PROTO_OP_DEL;
	c->n++;
	c->raw += 7 + e->key.len + f[3];
	c->last_seq = e->seq;
	c->commit_us = e->commit_time_us;
	return 0;
}

/*
 * The signed BATCH frame starting at \p from: from the cache, or built from
 * the log (and cached).  *out borrows the cache slot until the next call.
 */
static int batch_frame(node_repl_t *r, uint64_t from,
		       const cached_batch_t **out)
{
	store_meta_t m;
	store_txn_t *t = NULL;
	collect_t c = { 0 };
	proto_batch_hdr_t h = { .kind = PROTO_BLOB_BATCH };
	ks_buf_t blob = KS_BUF_INIT;
	proto_msg_t msg = { .type = PROTO_MSG_BATCH };
	cached_batch_t *slot;
	int ret;

	for (unsigned i = 0; i < CACHE_SLOTS; i++)
		if (r->cache[i].frame.len && r->cache[i].first == from) {
			*out = &r->cache[i];
			return KS_EOK;
		}
	ret = store_read_begin(r->store, &t);
	if (ret != KS_EOK)
		return ret;
	ret = store_meta_get(t, &m);
	if (ret == KS_EOK) {
		ret = store_log_foreach(t, from, collect_cb, &c);
		if (ret == 1)
			ret = KS_EOK;
	}
	store_read_end(t);
	if (ret != KS_EOK)
		goto out;
	if (c.n == 0) {
		ret = KS_ENOENT;
		goto out;
	}
	if (memcmp(r->cache_history, m.history, 16) != 0) {
		cache_clear(r);
		memcpy(r->cache_history, m.history, 16);
	}
	for (size_t i = 0; i < c.n; i++) {
		size_t *f = &c.offs[i * 4];
		c.ops[i].key = (ks_view_t){ c.keep.data + f[0], f[1] };
		c.ops[i].value = (ks_view_t){ c.keep.data + f[2], f[3] };
	}
	memcpy(h.history, m.history, 16);
	h.first_seq = from;
	h.last_seq = c.last_seq;
	h.commit_time_us = c.commit_us;
	ret = proto_batch_encode(&h, c.ops, c.n, r->key, 0, &blob);
	if (ret != KS_EOK)
		goto out;
	slot = &r->cache[r->cache_next++ % CACHE_SLOTS];
	ks_buf_reset(&slot->frame);
	slot->first = slot->last = 0;
	msg.u.blob = ks_buf_view(&blob);
	ret = proto_msg_encode(&msg, &slot->frame);
	if (ret != KS_EOK)
		goto out;
	slot->first = from;
	slot->last = c.last_seq;
	*out = slot;
out:
	ks_buf_free(&blob);
	ks_buf_free(&c.keep);
	free(c.ops);
	free(c.offs);
	return ret;
}

static void do_action(node_repl_link_t *l, repl_sm_action_t *act,
		      const proto_msg_t *msg, ks_view_t blob);

static void feed(node_repl_link_t *l, const repl_sm_event_t *ev)
{
	repl_sm_action_t act;

	repl_sm_step(&l->sm, ev, &act);
	do_action(l, &act, ev->msg, (ks_view_t){ 0 });
}

static void local_error(node_repl_link_t *l, int code)
{
	repl_sm_event_t ev = { .type = REPL_EV_LOCAL_ERROR,
			       .code = code,
			       .now_ms = uv_now(l->r->loop) };
	feed(l, &ev);
}

/* Primary: queue batches from \p from while the link takes them. */
static void send_from(node_repl_link_t *l, uint64_t from)
{
	node_repl_t *r = l->r;
	const cached_batch_t *b = NULL;
	int ret;

	while (!node_conn_congested(l->conn)) {
		ret = batch_frame(r, from, &b);
		if (ret == KS_ENOENT)
			return; /* nothing more */
		if (ret != KS_EOK) {
			ks_log_err(REPL,
				   "'%s': cannot build the batch from %" PRIu64
				   " (%s)",
				   l->peer->name, from, ks_strerror(ret));
			local_error(l, ret);
			return;
		}
		ret = node_conn_send(l->conn, b->frame.data, b->frame.len);
		if (ret != KS_EOK) {
			local_error(l, ret);
			return;
		}
		l->peer->batches++;
		l->peer->ops += b->last - b->first + 1;
		repl_sm_event_t ev = { .type = REPL_EV_SENT,
				       .seq = b->last,
				       .now_ms = uv_now(r->loop) };
		repl_sm_action_t act;
		repl_sm_step(&l->sm, &ev, &act);
		from = b->last + 1;
	}
}

/* Primary: tell one streaming link that the log grew. */
static void link_log_grew(node_repl_link_t *l)
{
	store_meta_t m;
	repl_sm_window_t w;

	if (l->sm.state != REPL_ST_STREAM)
		return;
	if (read_meta(l->r, &m) != KS_EOK)
		return;
	window_of(&m, &w);
	repl_sm_event_t ev = { .type = REPL_EV_LOG_GREW,
			       .window = &w,
			       .congested = node_conn_congested(l->conn),
			       .now_ms = uv_now(l->r->loop) };
	feed(l, &ev);
}

static void all_log_grew(node_repl_t *r)
{
	for (repl_peer_t *p = r->peers; p != NULL; p = p->next)
		if (p->link != NULL)
			link_log_grew(p->link);
}

typedef struct snap_ctx {
	proto_snap_tx_t tx;
	ks_buf_t *buf;
	node_conn_t *conn;
	int err;
} snap_ctx_t;

static int snap_cb(ks_view_t key, ks_view_t value, void *arg)
{
	snap_ctx_t *s = arg;
	int ret = proto_snap_tx_add(&s->tx, key, value, s->buf);

	if (ret == KS_EOK && s->buf->len >= SNAP_FLUSH) {
		ret = node_conn_send(s->conn, s->buf->data, s->buf->len);
		ks_buf_reset(s->buf);
	}
	if (ret != KS_EOK) {
		s->err = ret;
		return 1;
	}
	return 0;
}

/* Primary: ANSWER(SNAPSHOT) and the whole snapshot at (history, seq). */
static int send_snapshot(node_repl_link_t *l, const uint8_t history[16],
			 uint64_t seq)
{
	node_repl_t *r = l->r;
	store_txn_t *t = NULL;
	store_meta_t m;
	proto_msg_t msg = { .type = PROTO_MSG_ANSWER };
	ks_buf_t buf = KS_BUF_INIT;
	snap_ctx_t s = { .buf = &buf, .conn = l->conn };
	uint64_t t0 = ks_mono_ns();
	int ret;

	msg.u.answer = (proto_answer_t){ .version = l->sm.version,
					 .mode = PROTO_ANSWER_SNAPSHOT };
	memcpy(msg.u.answer.history, history, 16);
	ret = send_msg(l, &msg);
	if (ret != KS_EOK)
		return ret;
	ret = store_read_begin(r->store, &t);
	if (ret != KS_EOK)
		return ret;
	ret = store_meta_get(t, &m);
	if (ret == KS_EOK &&
	    (memcmp(m.history, history, 16) != 0 || m.last_seq != seq))
		ret = KS_ESTATE; /* cannot happen on one thread; be sure */
	if (ret == KS_EOK)
		ret = proto_snap_tx_init(&s.tx, m.history, m.last_seq,
					 m.record_count, ks_real_us(), r->key,
					 &buf);
	if (ret == KS_EOK) {
		ret = store_records_foreach(t, (ks_view_t){ 0 }, snap_cb, &s);
		if (ret == 1 || s.err)
			ret = s.err ? s.err : KS_EINTERNAL;
	}
	if (ret == KS_EOK)
		ret = proto_snap_tx_finish(&s.tx, m.digest, &buf);
	store_read_end(t);
	if (ret == KS_EOK && buf.len)
		ret = node_conn_send(l->conn, buf.data, buf.len);
	proto_snap_tx_deinit(&s.tx);
	ks_buf_free(&buf);
	if (ret == KS_EOK) {
		l->peer->full_transfers++;
		snprintf(l->peer->last_session, sizeof(l->peer->last_session),
			 "full snapshot at seq %" PRIu64 " (%" PRIu64
			 " records, built in %" PRIu64 " ms)",
			 seq, m.record_count, (ks_mono_ns() - t0) / 1000000);
		ks_log_notice(REPL,
			      "'%s': full snapshot sent at seq %" PRIu64
			      " (%" PRIu64 " records)",
			      l->peer->name, seq, m.record_count);
	}
	return ret;
}

/* --- replica actions ------------------------------------------------------- */

static int to_changes(const proto_batch_t *b, store_change_t **out)
{
	store_change_t *ch =
		calloc(b->hdr.op_count ? b->hdr.op_count : 1, sizeof(*ch));

	if (ch == NULL)
		return KS_ENOMEM;
	for (uint32_t i = 0; i < b->hdr.op_count; i++) {
		ch[i].op =
			b->ops[i].type == PROTO_OP_PUT ? STORE_PUT : STORE_DEL;
		ch[i].key = b->ops[i].key;
		ch[i].value = b->ops[i].value;
	}
	*out = ch;
	return KS_EOK;
}

/* KDB first, then records + log + position in one store transaction: a
 * crash in between replays an idempotent batch. */
static int apply_batch(node_repl_link_t *l, const proto_batch_t *b)
{
	node_repl_t *r = l->r;
	store_change_t *ch = NULL;
	store_batch_t sb = { .first_seq = b->hdr.first_seq,
			     .commit_time_us = b->hdr.commit_time_us };
	int ret = to_changes(b, &ch);

	if (ret != KS_EOK)
		return ret;
	ret = bridge_apply(r->bridge, ch, b->hdr.op_count);
	if (ret != KS_EOK) {
		ks_log_err(REPL,
			   "'%s': applying batch %" PRIu64 "..%" PRIu64
			   " to the KDB failed (%s)",
			   l->peer->name, b->hdr.first_seq, b->hdr.last_seq,
			   ks_strerror(ret));
		goto out;
	}
	memcpy(sb.history, b->hdr.history, 16);
	sb.ch = ch;
	sb.n = b->hdr.op_count;
	ret = store_apply(r->store, &sb);
	if (ret != KS_EOK)
		ks_log_err(REPL,
			   "'%s': storing batch %" PRIu64 "..%" PRIu64
			   " failed (%s)",
			   l->peer->name, b->hdr.first_seq, b->hdr.last_seq,
			   ks_strerror(ret));
out:
	free(ch);
	return ret;
}

static int stage_chunk(node_repl_link_t *l, const proto_batch_t *b)
{
	store_change_t *ch = NULL;
	int ret = to_changes(b, &ch);

	if (ret != KS_EOK)
		return ret;
	ret = store_stage_put(l->r->store, ch, b->hdr.op_count);
	for (uint32_t i = 0; ret == KS_EOK && i < b->hdr.op_count; i++)
		ret = bridge_load_put(l->load, ch[i].key, ch[i].value);
	l->snap_records += b->hdr.op_count;
	free(ch);
	return ret;
}

static int promote(node_repl_link_t *l, const proto_snap_end_t *e)
{
	node_repl_t *r = l->r;
	uint8_t digest[32];
	uint64_t count = 0;
	int ret = store_stage_info(r->store, digest, &count);

	if (ret != KS_EOK)
		return ret;
	if (memcmp(digest, e->digest, 32) != 0 || count != e->record_count) {
		ks_log_err(REPL,
			   "'%s': snapshot digest differs from the signed "
			   "one; nothing promoted",
			   l->peer->name);
		return KS_EDIGEST;
	}
	/* KDB first: a crash before the store promotion only repeats the
	 * transfer. */
	ret = bridge_load_commit(l->load);
	l->load = NULL;
	if (ret != KS_EOK) {
		ks_log_err(REPL, "'%s': promoting the loaded KDB failed (%s)",
			   l->peer->name, ks_strerror(ret));
		return ret;
	}
	ret = store_stage_promote(r->store, e->history, e->seq, e->digest);
	if (ret != KS_EOK)
		ks_log_err(REPL, "'%s': promoting the staged store failed (%s)",
			   l->peer->name, ks_strerror(ret));
	return ret;
}

static void reset_link(node_repl_link_t *l, const repl_sm_action_t *act)
{
	char reason[200];

	snprintf(reason, sizeof(reason), "%s (%s)", act->reason,
		 ks_strerror(act->code));
	snprintf(l->peer->last_error, sizeof(l->peer->last_error), "%s",
		 reason);
	if (l->load != NULL) {
		bridge_load_abort(l->load);
		l->load = NULL;
	}
	if (act->send_error) {
		proto_msg_t m = { .type = PROTO_MSG_ERROR };
		size_t n = strlen(act->reason);
		m.u.error.code = act->code;
		m.u.error.text =
			(ks_view_t){ (const uint8_t *)act->reason,
				     n > PROTO_TEXT_MAX ? PROTO_TEXT_MAX : n };
		(void)send_msg(l, &m);
	}
	ks_log_warn(REPL, "'%s': link reset: %s", l->peer->name, reason);
	node_conn_close(l->conn, act->code ? act->code : KS_EINTERNAL, reason);
}

static void do_action(node_repl_link_t *l, repl_sm_action_t *act,
		      const proto_msg_t *msg, ks_view_t blob)
{
	node_repl_t *r = l->r;
	repl_peer_t *p = l->peer;
	uint64_t now = uv_now(r->loop);
	int ret = KS_EOK;
	proto_msg_t m;

	(void)msg;
	(void)blob;
	switch (act->type) {
	case REPL_ACT_NONE:
		return;
	case REPL_ACT_SEND_HELLO:
		ret = send_hello(l);
		break;
	case REPL_ACT_SEND_ANSWER:
		m = (proto_msg_t){ .type = PROTO_MSG_ANSWER };
		m.u.answer = (proto_answer_t){ .version = l->sm.version,
					       .mode = act->answer_mode,
					       .from_seq = act->seq };
		memcpy(m.u.answer.history, act->history, 16);
		ret = send_msg(l, &m);
		if (ret == KS_EOK) {
			p->incremental_sessions++;
			snprintf(p->last_session, sizeof(p->last_session),
				 "incremental from seq %" PRIu64, act->seq);
			ks_log_notice(
				REPL,
				"'%s': resuming incrementally from seq %" PRIu64,
				p->name, act->seq);
			link_log_grew(l);
		}
		break;
	case REPL_ACT_SEND_SNAPSHOT:
		ret = send_snapshot(l, act->history, act->seq);
		break;
	case REPL_ACT_SEND_FROM:
		send_from(l, act->seq);
		return;
	case REPL_ACT_RECORD_ACK:
		p->acked = act->seq;
		p->have_ack = true;
		ret = store_peer_ack(r->store, p->name, act->seq);
		if (ret == KS_EOK)
			link_log_grew(l);
		break;
	case REPL_ACT_ADOPT_HISTORY: {
		store_meta_t meta;
		ret = read_meta(r, &meta);
		if (ret == KS_EOK)
			ret = store_adopt_history(r->store, act->history,
						  meta.applied_history,
						  act->seq);
		if (ret == KS_EOK)
			ks_log_notice(REPL,
				      "'%s': following the primary's new "
				      "history from seq %" PRIu64,
				      p->name, act->seq);
		break;
	}
	case REPL_ACT_STAGE_BEGIN:
		if (l->load != NULL) {
			bridge_load_abort(l->load);
			l->load = NULL;
		}
		l->snap_records = 0;
		l->t_session_us = ks_real_us();
		ret = store_stage_begin(r->store);
		if (ret == KS_EOK)
			ret = bridge_load_begin(r->bridge, &l->load);
		if (ret == KS_EOK)
			ks_log_notice(
				REPL,
				"'%s': receiving a full snapshot at seq %" PRIu64,
				p->name, act->seq);
		break;
	case REPL_ACT_SEND_ACK:
		m = (proto_msg_t){ .type = PROTO_MSG_ACK };
		memcpy(m.u.ack.history, act->history, 16);
		m.u.ack.seq = act->seq;
		ret = send_msg(l, &m);
		break;
	case REPL_ACT_RESET:
		reset_link(l, act);
		return;
	default:
		/* STAGE_CHUNK, PROMOTE, APPLY_BATCH need the opened blob:
		 * handled by on_blob(). */
		ret = KS_EINTERNAL;
		break;
	}
	(void)now;
	if (ret != KS_EOK)
		local_error(l, ret);
}

/* --- frames --------------------------------------------------------------- */

static void note_peer_last(node_repl_link_t *l, uint64_t seq)
{
	if (seq > l->peer->peer_last_seq)
		l->peer->peer_last_seq = seq;
}

static int on_blob(node_repl_link_t *l, const proto_msg_t *m, uint64_t now)
{
	node_repl_t *r = l->r;
	repl_sm_event_t ev = { .type = REPL_EV_MSG, .msg = m, .now_ms = now };
	repl_sm_action_t act;
	proto_batch_t b = { 0 };
	proto_snap_end_t e;
	const char *what = m->type == PROTO_MSG_BATCH	     ? "batch"
			   : m->type == PROTO_MSG_SNAP_CHUNK ? "snapshot chunk"
							     : "snapshot end";
	int ret;

	if (r->role != REPL_ROLE_REPLICA) {
		feed(l, &ev); /* not valid at a primary: reset */
		return KS_EOK;
	}
	if (m->type == PROTO_MSG_SNAP_END) {
		ret = proto_snap_end_open(m->u.blob, r->trust, &e);
		ev.end = &e;
	} else {
		ret = proto_batch_open(m->u.blob,
				       m->type == PROTO_MSG_BATCH
					       ? PROTO_BLOB_BATCH
					       : PROTO_BLOB_CHUNK,
				       r->trust, NULL, &b);
		ev.hdr = &b.hdr;
	}
	if (ret != KS_EOK) {
		char why[120];
		snprintf(why, sizeof(why), "%s rejected", what);
		ks_log_err(REPL, "'%s': %s rejected (%s); nothing applied",
			   l->peer->name, what, ks_strerror(ret));
		act = (repl_sm_action_t){
			.type = REPL_ACT_RESET,
			.code = ret,
			.send_error = true,
			.reason = m->type == PROTO_MSG_BATCH
					  ? "batch rejected"
					  : "snapshot rejected"
		};
		repl_sm_event_t le = { .type = REPL_EV_LOCAL_ERROR,
				       .code = ret,
				       .now_ms = now };
		repl_sm_action_t ignored;
		repl_sm_step(&l->sm, &le, &ignored); /* back to IDLE */
		reset_link(l, &act);
		proto_batch_deinit(&b);
		return KS_EOK;
	}
	if (m->type == PROTO_MSG_BATCH)
		note_peer_last(l, b.hdr.last_seq);
	repl_sm_step(&l->sm, &ev, &act);
	switch (act.type) {
	case REPL_ACT_APPLY_BATCH:
		ret = apply_batch(l, &b);
		if (ret == KS_EOK) {
			l->peer->batches++;
			l->peer->ops += b.hdr.op_count;
			l->peer->last_commit_us = b.hdr.commit_time_us;
			l->peer->last_apply_us = ks_real_us();
			ks_log_info(REPL,
				    "'%s': applied batch %" PRIu64 "..%" PRIu64
				    " (%u changes)",
				    l->peer->name, b.hdr.first_seq,
				    b.hdr.last_seq, b.hdr.op_count);
			repl_sm_event_t ap = { .type = REPL_EV_APPLIED,
					       .history = b.hdr.history,
					       .seq = b.hdr.last_seq,
					       .now_ms = now };
			feed(l, &ap);
		}
		break;
	case REPL_ACT_STAGE_CHUNK:
		ret = stage_chunk(l, &b);
		break;
	case REPL_ACT_PROMOTE:
		ret = promote(l, &e);
		if (ret == KS_EOK) {
			note_peer_last(l, e.seq);
			l->peer->full_transfers++;
			snprintf(l->peer->last_session,
				 sizeof(l->peer->last_session),
				 "full snapshot at seq %" PRIu64 " (%" PRIu64
				 " records, %" PRIu64 " ms)",
				 e.seq, e.record_count,
				 (ks_real_us() - l->t_session_us) / 1000);
			ks_log_notice(REPL, "'%s': %s", l->peer->name,
				      l->peer->last_session);
			repl_sm_event_t ap = { .type = REPL_EV_APPLIED,
					       .history = e.history,
					       .seq = e.seq,
					       .now_ms = now };
			feed(l, &ap);
		}
		break;
	default:
		do_action(l, &act, m, m->u.blob);
		ret = KS_EOK;
		break;
	}
	proto_batch_deinit(&b);
	if (ret != KS_EOK)
		local_error(l, ret);
	return KS_EOK;
}

/* --- content comparison with a peer (PROTOCOL.md §3.8) ----------------- */

_Static_assert(PROTO_DIGEST_BUCKETS == STORE_BUCKETS,
	       "the wire's bucket space is the store's");

#define VERIFY_PARTS 16u

static void verify_fail(verify_t *v, int err, const char *text)
{
	v->running = false;
	v->done = true;
	v->err = err;
	snprintf(v->errtext, sizeof(v->errtext), "%s", text);
}

static int verify_push(verify_t *v, uint8_t kind, uint16_t lo, uint16_t hi)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 64;
		verify_item_t *s = realloc(v->stack, cap * sizeof(*s));
		if (s == NULL)
			return KS_ENOMEM;
		v->stack = s;
		v->cap = cap;
	}
	v->stack[v->n++] = (verify_item_t){ .kind = kind, .lo = lo, .hi = hi };
	return KS_EOK;
}

/* Our position as a HELLO would announce it. */
static void own_position(node_repl_t *r, const store_meta_t *m,
			 uint8_t history[16], uint64_t *seq)
{
	if (r->role == REPL_ROLE_PRIMARY) {
		memcpy(history, m->history, 16);
		*seq = m->last_seq;
	} else {
		memcpy(history, m->applied_history, 16);
		*seq = m->applied_seq;
	}
}

/* Send the next request, or finish when nothing is left. */
static int verify_next(node_repl_link_t *l)
{
	verify_t *v = &l->r->verify;
	proto_msg_t m = { .type = PROTO_MSG_DIGEST_REQ };

	if (v->n == 0) {
		v->running = false;
		v->done = true;
		v->err = KS_EOK;
		ks_log_notice(REPL,
			      "verify with '%s': %" PRIu64
			      " keys differ (%" PRIu64 " requests, %" PRIu64
			      " buckets listed)",
			      v->peer, v->differ, v->requests, v->lists);
		return KS_EOK;
	}
	v->wait = v->stack[--v->n];
	v->wait_id = ++v->next_id;
	m.u.digest_req = (proto_digest_req_t){
		.id = v->wait_id,
		.kind = v->wait.kind,
		.lo = v->wait.lo,
		.hi = v->wait.hi,
	};
	if (v->wait.kind == PROTO_DIGEST_RANGES) {
		uint16_t w = (uint16_t)(v->wait.hi - v->wait.lo);
		m.u.digest_req.parts = w < VERIFY_PARTS ? w : VERIFY_PARTS;
	}
	v->requests++;
	return send_msg(l, &m);
}

typedef struct list_ctx {
	ks_buf_t *b;
	uint32_t count;
} list_ctx_t;

/* A bucket listing in the LIST body layout. */
static int list_cb(uint32_t bucket, ks_view_t key, ks_view_t value,
		   const uint8_t hash[32], void *arg)
{
	list_ctx_t *c = arg;
	(void)bucket;
	(void)value;
	if (key.len == 0 || key.len > PROTO_DIGEST_KEY_MAX)
		return KS_ELIMIT;
	if (ks_buf_append_u16(c->b, (uint16_t)key.len) != KS_EOK ||
	    ks_buf_append(c->b, key.ptr, key.len) != KS_EOK ||
	    ks_buf_append(c->b, hash, PROTO_DIGEST_HASH_LEN) != KS_EOK)
		return KS_ENOMEM;
	c->count++;
	return 0;
}

/* Digests of [lo, hi) split in parts, as a RANGES body. */
static int ranges_body(store_txn_t *t, uint16_t lo, uint16_t hi, uint16_t parts,
		       ks_buf_t *b)
{
	for (uint16_t i = 0; i < parts; i++) {
		uint16_t a, z;
		uint8_t dg[32];
		uint64_t cnt = 0;
		proto_digest_part(lo, hi, parts, i, &a, &z);
		int ret = store_range_digest(t, a, z, dg, &cnt);
		if (ret == KS_EOK)
			ret = ks_buf_append(b, dg, sizeof(dg));
		if (ret == KS_EOK)
			ret = ks_buf_append_u64(b, cnt);
		if (ret != KS_EOK)
			return ret;
	}
	return KS_EOK;
}

/* Either side: answer a DIGEST_REQ from our store. */
static int on_digest_req(node_repl_link_t *l, const proto_digest_req_t *q)
{
	node_repl_t *r = l->r;
	proto_msg_t m = { .type = PROTO_MSG_DIGEST_RSP };
	proto_digest_rsp_t *a = &m.u.digest_rsp;
	ks_buf_t body = KS_BUF_INIT;
	store_txn_t *t = NULL;
	store_meta_t meta;
	int ret;

	if (!l->hello_seen) {
		snprintf(l->peer->last_error, sizeof(l->peer->last_error),
			 "digest request before HELLO");
		return KS_ESTATE;
	}
	*a = (proto_digest_rsp_t){
		.id = q->id, .kind = q->kind, .lo = q->lo, .hi = q->hi
	};
	ret = store_read_begin(r->store, &t);
	if (ret != KS_EOK)
		goto fail;
	ret = store_meta_get(t, &meta);
	if (ret != KS_EOK)
		goto fail;
	own_position(r, &meta, a->history, &a->seq);
	if (q->kind == PROTO_DIGEST_RANGES) {
		ret = ranges_body(t, q->lo, q->hi, q->parts, &body);
		a->count = q->parts;
	} else {
		list_ctx_t c = { .b = &body };
		ret = store_bucket_foreach(t, q->lo, q->hi, list_cb, &c);
		a->count = c.count;
	}
	if (ret != KS_EOK)
		goto fail;
	store_read_end(t);
	t = NULL;
	a->body = (ks_view_t){ body.data, body.len };
	ret = send_msg(l, &m);
fail:
	if (t != NULL)
		store_read_end(t);
	ks_buf_free(&body);
	if (ret != KS_EOK)
		ks_log_err(REPL, "'%s': cannot answer a digest request (%s)",
			   l->peer->name, ks_strerror(ret));
	return ret;
}

/* One key of the report, printable (non-printable bytes as \xNN). */
static int report_key(verify_t *v, const char *what, ks_view_t key)
{
	int ret = ks_buf_appendf(&v->report, "  %-14s ", what);
	for (size_t i = 0; ret == KS_EOK && i < key.len; i++) {
		uint8_t c = key.ptr[i];
		ret = c >= 0x21 && c < 0x7f && c != '\\'
			      ? ks_buf_append(&v->report, &c, 1)
			      : ks_buf_appendf(&v->report, "\\x%02x", c);
	}
	if (ret == KS_EOK)
		ret = ks_buf_appendf(&v->report, "\n");
	v->differ++;
	return ret;
}

static int key_cmp(ks_view_t a, ks_view_t b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
	if (c != 0)
		return c;
	return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

/* Merge our listing of a bucket with the peer's (both in key order). */
static int compare_bucket(node_repl_t *r, const proto_digest_rsp_t *a)
{
	verify_t *v = &r->verify;
	ks_buf_t mine = KS_BUF_INIT;
	list_ctx_t c = { .b = &mine };
	store_txn_t *t = NULL;
	char peer_only[300];
	int ret = store_read_begin(r->store, &t);

	if (ret == KS_EOK) {
		ret = store_bucket_foreach(t, a->lo, a->hi, list_cb, &c);
		store_read_end(t);
	}
	if (ret != KS_EOK)
		goto fail;
	snprintf(peer_only, sizeof(peer_only), "only on %s:", v->peer);
	ks_view_t ours = { mine.data, mine.len };
	size_t pm = 0, pt = 0;
	ks_view_t km, kt;
	const uint8_t *hm, *ht;
	bool have_m = proto_digest_list_next(ours, &pm, &km, &hm);
	bool have_t = proto_digest_list_next(a->body, &pt, &kt, &ht);
	while (ret == KS_EOK && (have_m || have_t)) {
		int cmp = !have_m ? 1 : !have_t ? -1 : key_cmp(km, kt);
		if (cmp < 0) {
			ret = report_key(v, "only here:", km);
			have_m = proto_digest_list_next(ours, &pm, &km, &hm);
		} else if (cmp > 0) {
			ret = report_key(v, peer_only, kt);
			have_t = proto_digest_list_next(a->body, &pt, &kt, &ht);
		} else {
			if (memcmp(hm, ht, PROTO_DIGEST_HASH_LEN) != 0)
				ret = report_key(v, "differs:", km);
			have_m = proto_digest_list_next(ours, &pm, &km, &hm);
			have_t = proto_digest_list_next(a->body, &pt, &kt, &ht);
		}
	}
fail:
	ks_buf_free(&mine);
	return ret;
}

/* Requester: a DIGEST_RSP for the request in flight. */
static int on_digest_rsp(node_repl_link_t *l, const proto_digest_rsp_t *a)
{
	node_repl_t *r = l->r;
	verify_t *v = &r->verify;
	store_txn_t *t = NULL;
	store_meta_t meta;
	int ret;

	if (!v->running || strcmp(v->peer, l->peer->name) != 0 ||
	    a->id != v->wait_id || a->kind != v->wait.kind ||
	    a->lo != v->wait.lo || a->hi != v->wait.hi) {
		snprintf(l->peer->last_error, sizeof(l->peer->last_error),
			 "unexpected digest response");
		return KS_ESTATE;
	}
	if (!v->have_pos) {
		v->have_pos = true;
		memcpy(v->peer_history, a->history, 16);
		v->peer_seq = a->seq;
	}
	if (a->kind == PROTO_DIGEST_LIST) {
		v->lists++;
		ret = compare_bucket(r, a);
		if (ret != KS_EOK)
			goto fail;
		return verify_next(l);
	}
	uint16_t w = (uint16_t)(a->hi - a->lo);
	if (a->count != (w < VERIFY_PARTS ? w : VERIFY_PARTS)) {
		ret = KS_ECOUNT;
		goto fail;
	}
	ret = store_read_begin(r->store, &t);
	if (ret != KS_EOK)
		goto fail;
	if (v->requests == 1 && store_meta_get(t, &meta) == KS_EOK) {
		own_position(r, &meta, v->our_history, &v->our_seq);
		v->our_records = meta.record_count;
	}
	for (uint16_t i = 0; ret == KS_EOK && i < a->count; i++) {
		uint16_t lo, hi;
		uint8_t dg[32];
		uint64_t cnt = 0;
		const uint8_t *theirs = a->body.ptr + (size_t)i * 40;
		proto_digest_part(a->lo, a->hi, (uint16_t)a->count, i, &lo,
				  &hi);
		ret = store_range_digest(t, lo, hi, dg, &cnt);
		if (ret != KS_EOK)
			break;
		if (memcmp(dg, theirs, 32) == 0 &&
		    cnt == ks_get_u64be(theirs + 32))
			continue;
		ret = verify_push(v,
				  hi - lo == 1 ? PROTO_DIGEST_LIST
					       : PROTO_DIGEST_RANGES,
				  lo, hi);
	}
	store_read_end(t);
	if (ret != KS_EOK)
		goto fail;
	return verify_next(l);
fail:
	verify_fail(v, ret, "local failure while comparing");
	ks_log_err(REPL, "verify with '%s' failed (%s)", v->peer,
		   ks_strerror(ret));
	return KS_EOK; /* the link itself is fine */
}

static int verify_start(node_repl_t *r, const char *peer, ks_buf_t *out)
{
	verify_t *v = &r->verify;
	repl_peer_t *p;

	if (v->running)
		return ks_buf_appendf(
			out, "error: a comparison with '%s' is running\n",
			v->peer);
	for (p = r->peers; p != NULL; p = p->next)
		if (strcmp(p->name, peer) == 0)
			break;
	if (r->bridge == NULL)
		return ks_buf_appendf(
			out, "error: native replication is disabled (see "
			     "kdcsync status)\n");
	if (p == NULL || p->link == NULL || !p->link->hello_seen)
		return ks_buf_appendf(
			out,
			"error: no replication link with '%s' (is it a "
			"[peers] entry with mode = native, and up? see "
			"kdcsync status)\n",
			peer);
	if ((p->link->peer_caps & PROTO_CAP_DIGEST) == 0)
		return ks_buf_appendf(
			out,
			"error: '%s' runs a version without content "
			"comparison (no digest capability)\n",
			peer);
	ks_buf_free(&v->report);
	free(v->stack);
	*v = (verify_t){ .running = true };
	snprintf(v->peer, sizeof(v->peer), "%s", peer);
	int ret = verify_push(v, PROTO_DIGEST_RANGES, 0, PROTO_DIGEST_BUCKETS);
	if (ret == KS_EOK)
		ret = verify_next(p->link);
	if (ret != KS_EOK) {
		verify_fail(v, ret, "cannot send the first request");
		return ks_buf_appendf(out, "error: cannot start: %s\n",
				      ks_strerror(ret));
	}
	return ks_buf_appendf(out, "started\n");
}

static int verify_result(node_repl_t *r, ks_buf_t *out)
{
	verify_t *v = &r->verify;
	char ph[33], oh[33];
	int ret;

	if (v->running)
		return ks_buf_appendf(out, "running\n");
	if (!v->done)
		return ks_buf_appendf(out,
				      "error: no comparison was started\n");
	if (v->err != KS_EOK)
		return ks_buf_appendf(
			out, "error: comparison with '%s' failed: %s (%s)\n",
			v->peer, v->errtext, ks_strerror(v->err));
	for (int i = 0; i < 16; i++) {
		snprintf(ph + 2 * i, 3, "%02x", v->peer_history[i]);
		snprintf(oh + 2 * i, 3, "%02x", v->our_history[i]);
	}
	if (v->differ == 0)
		ret = ks_buf_appendf(out,
				     "equal: this node and '%s' hold the same "
				     "records (%" PRIu64 " here)\n",
				     v->peer, v->our_records);
	else
		ret = ks_buf_appendf(out,
				     "differ: %" PRIu64
				     " keys differ between this "
				     "node and '%s'\n",
				     v->differ, v->peer);
	if (ret == KS_EOK)
		ret = ks_buf_appendf(
			out,
			"  here:  history %s seq %" PRIu64 "\n"
			"  %s: history %s seq %" PRIu64 "%s\n",
			oh, v->our_seq, v->peer, ph, v->peer_seq,
			memcmp(oh, ph, 32) != 0 || v->our_seq != v->peer_seq
				? " (positions differ: changes in flight "
				  "show as differences)"
				: "");
	if (ret == KS_EOK && v->report.len)
		ret = ks_buf_append(out, v->report.data, v->report.len);
	return ret;
}

int node_repl_link_frame(node_repl_link_t *l, ks_view_t frame)
{
	node_repl_t *r = l->r;
	uint64_t now = uv_now(r->loop);
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
		return on_blob(l, &m, now);
	case PROTO_MSG_DIGEST_REQ:
		return on_digest_req(l, &m.u.digest_req);
	case PROTO_MSG_DIGEST_RSP:
		return on_digest_rsp(l, &m.u.digest_rsp);
	case PROTO_MSG_HELLO:
		l->peer_caps = m.u.hello.caps;
		l->hello_seen = true;
		break;
	default:
		break;
	}
	repl_sm_event_t ev = { .type = REPL_EV_MSG, .msg = &m, .now_ms = now };
	if (r->role == REPL_ROLE_PRIMARY && m.type == PROTO_MSG_HELLO) {
		ret = read_meta(r, &meta);
		if (ret != KS_EOK)
			return ret;
		window_of(&meta, &w);
		ev.window = &w;
		const char *why = NULL;
		int d = repl_sm_decide(&w, m.u.hello.history, m.u.hello.seq,
				       &why);
		ks_log_notice(REPL, "'%s' at seq %" PRIu64 ": %s (%s)",
			      l->peer->name, m.u.hello.seq,
			      d == REPL_RESUME_FULL ? "full snapshot"
						    : "incremental",
			      why);
	}
	if (r->role == REPL_ROLE_REPLICA && m.type == PROTO_MSG_HELLO)
		note_peer_last(l, m.u.hello.seq);
	if (m.type == PROTO_MSG_ERROR)
		ks_log_err(REPL, "'%s' reported: %.*s (%s)", l->peer->name,
			   (int)m.u.error.text.len,
			   (const char *)m.u.error.text.ptr,
			   ks_strerror(m.u.error.code));
	feed(l, &ev);
	return KS_EOK;
}

/* --- links ----------------------------------------------------------------- */

node_repl_link_t *node_repl_link_up(node_repl_t *r, node_conn_t *c,
				    const char *peer)
{
	node_repl_link_t *l;
	repl_peer_t *p;
	store_meta_t m;

	if (r->bridge == NULL || r->promoted) /* disabled, or promoted */
		return NULL;
	l = calloc(1, sizeof(*l));
	p = peer_get(r, peer);
	if (l == NULL || p == NULL) {
		free(l);
		return NULL;
	}
	l->r = r;
	l->conn = c;
	l->peer = p;
	p->link = l;
	repl_sm_init(&l->sm, r->role, NULL);
	repl_sm_event_t ev = { .type = REPL_EV_CONNECTED,
			       .now_ms = uv_now(r->loop) };
	if (r->role == REPL_ROLE_REPLICA && read_meta(r, &m) == KS_EOK) {
		ev.history = m.applied_history;
		ev.seq = m.applied_seq;
		repl_sm_step(&l->sm, &ev, &(repl_sm_action_t){ 0 });
	} else {
		repl_sm_step(&l->sm, &ev, &(repl_sm_action_t){ 0 });
	}
	if (send_hello(l) != KS_EOK)
		node_conn_close(c, KS_ENOMEM, "cannot send hello");
	return l;
}

void node_repl_link_writable(node_repl_link_t *l)
{
	if (l != NULL && l->r->role == REPL_ROLE_PRIMARY)
		link_log_grew(l);
}

void node_repl_link_down(node_repl_link_t *l, int err, const char *reason)
{
	if (l == NULL)
		return;
	repl_sm_event_t ev = { .type = REPL_EV_CLOSED,
			       .now_ms = uv_now(l->r->loop) };
	repl_sm_action_t act;
	repl_sm_step(&l->sm, &ev, &act);
	if (err != KS_EOK && reason != NULL && l->peer->last_error[0] == '\0')
		snprintf(l->peer->last_error, sizeof(l->peer->last_error), "%s",
			 reason);
	if (l->load != NULL)
		bridge_load_abort(l->load);
	verify_t *v = &l->r->verify;
	if (v->running && strcmp(v->peer, l->peer->name) == 0)
		verify_fail(v, KS_ECLOSED,
			    "the link to the peer went down during the "
			    "comparison");
	if (l->peer->link == l)
		l->peer->link = NULL;
	ks_buf_free(&l->out);
	free(l);
}

/* --- capture (primary) ----------------------------------------------------- */

static void trim(node_repl_t *r);

static int scan_now(node_repl_t *r, bridge_scan_stats_t *st)
{
	uint64_t t0 = ks_mono_ns();
	int ret = bridge_scan(r->bridge, r->store, st);

	r->last_scan_us = (ks_mono_ns() - t0) / 1000;
	r->last_scan_ms = uv_now(r->loop);
	if (ret != KS_EOK) {
		ks_log_err(KDB, "scan of the KDB failed (%s)",
			   ks_strerror(ret));
		return ret;
	}
	r->scans++;
	trim(r);
	if (st->puts || st->dels)
		ks_log_notice(KDB,
			      "scan: %" PRIu64 " principals, %" PRIu64
			      " policies; logged %" PRIu64 " puts, %" PRIu64
			      " deletes (seq %" PRIu64 "..%" PRIu64
			      ") in %" PRIu64 " ms",
			      st->principals, st->policies, st->puts, st->dels,
			      st->first_seq, st->last_seq,
			      r->last_scan_us / 1000);
	else
		ks_log_debug(KDB, "scan: no change (%" PRIu64 " principals)",
			     st->principals);
	all_log_grew(r);
	return KS_EOK;
}

static void on_scan(uv_timer_t *t)
{
	node_repl_t *r = t->data;
	bridge_scan_stats_t st;

	(void)scan_now(r, &st);
}

/*
 * The kadm5_hook socket: a Unix SOCK_SEQPACKET listener (libuv has no
 * seqpacket, so raw sockets under uv_poll); each kadmind / kadmin.local
 * connects and sends one principal name per message.  All names pending at
 * a wake-up are captured in one store commit.
 */
typedef struct hook_client {
	struct hook_client *next;
	node_repl_t *r;
	uv_poll_t poll;
	int fd;
	bool closing;
} hook_client_t;

typedef struct names {
	char **v;
	size_t n, cap;
} names_t;

static int names_add(names_t *ns, const char *s)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i], s) == 0)
			return KS_EOK; /* once per wake-up is enough */
	if (ns->n == ns->cap) {
		size_t nc = ns->cap ? ns->cap * 2 : 32;
		char **v = realloc(ns->v, nc * sizeof(*v));
		if (v == NULL)
			return KS_ENOMEM;
		ns->v = v;
		ns->cap = nc;
	}
	if ((ns->v[ns->n] = strdup(s)) == NULL)
		return KS_ENOMEM;
	ns->n++;
	return KS_EOK;
}

static void names_free(names_t *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

static void on_client_closed(uv_handle_t *h)
{
	hook_client_t *c = h->data;
	node_repl_t *r = c->r;

	close(c->fd);
	free(c);
	if (--r->closing == 0 && r->done != NULL)
		r->done(r->done_arg);
}

static void client_close(hook_client_t *c)
{
	node_repl_t *r = c->r;

	if (c->closing)
		return;
	c->closing = true;
	for (hook_client_t **pp = &r->hook_clients; *pp != NULL;
	     pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	r->closing++;
	uv_poll_stop(&c->poll);
	uv_close((uv_handle_t *)&c->poll, on_client_closed);
}

/* Read every pending name of one client into \p ns. */
static void client_drain(hook_client_t *c, names_t *ns)
{
	char name[HOOK_MAX_DGRAM + 1];

	for (unsigned i = 0; i < HOOK_MAX_PER_WAKE; i++) {
		ssize_t n = recv(c->fd, name, HOOK_MAX_DGRAM, MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				client_close(c);
			return;
		}
		if (n == 0) { /* the admin process is done */
			client_close(c);
			return;
		}
		if (memchr(name, '\0', (size_t)n) != NULL)
			continue; /* not a name: ignore */
		name[n] = '\0';
		c->r->hook_msgs++;
		if (names_add(ns, name) != KS_EOK)
			return;
	}
}

static void capture_names(node_repl_t *r, names_t *ns)
{
	uint64_t first = 0, last = 0;
	int ret;

	if (ns->n == 0)
		return;
	ret = bridge_capture_principals(r->bridge, r->store,
					(const char *const *)ns->v, ns->n,
					&first, &last);
	if (ret != KS_EOK) {
		/* one bad name must not hold back the others */
		ks_log_warn(KDB,
			    "hook: capture of %zu principals failed (%s); "
			    "capturing one by one",
			    ns->n, ks_strerror(ret));
		for (size_t i = 0; i < ns->n; i++) {
			uint64_t f = 0, l = 0;
			ret = bridge_capture_principal(r->bridge, r->store,
						       ns->v[i], &f, &l);
			if (ret != KS_EOK)
				ks_log_warn(KDB,
					    "hook: cannot capture '%s' (%s); "
					    "the next scan will",
					    ns->v[i], ks_strerror(ret));
			else if (l >= f && l != 0)
				r->hook_changes += l - f + 1;
		}
	} else if (last >= first && last != 0) {
		r->hook_changes += last - first + 1;
		if (ns->n == 1)
			ks_log_info(KDB, "hook: '%s' logged as seq %" PRIu64,
				    ns->v[0], last);
		else
			ks_log_info(
				KDB,
				"hook: %zu principals logged as seq %" PRIu64
				"..%" PRIu64,
				ns->n, first, last);
	}
	all_log_grew(r);
}

static void on_hook_client(uv_poll_t *h, int status, int events)
{
	hook_client_t *c = h->data;
	node_repl_t *r = c->r;
	names_t ns = { 0 };

	(void)events;
	if (status < 0) {
		client_close(c);
		return;
	}
	/* everything pending on every client, then one commit */
	for (hook_client_t *o = r->hook_clients, *next; o != NULL; o = next) {
		next = o->next;
		client_drain(o, &ns);
	}
	capture_names(r, &ns);
	names_free(&ns);
}

static void on_hook(uv_poll_t *h, int status, int events)
{
	node_repl_t *r = h->data;

	(void)events;
	if (status < 0 || r->stopping)
		return;
	for (;;) {
		int fd = accept4(r->hook_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		hook_client_t *c;
		if (fd < 0)
			return; /* EAGAIN: no more */
		c = calloc(1, sizeof(*c));
		if (c == NULL || uv_poll_init(r->loop, &c->poll, fd) != 0) {
			close(fd);
			free(c);
			continue;
		}
		c->r = r;
		c->fd = fd;
		c->poll.data = c;
		c->next = r->hook_clients;
		r->hook_clients = c;
		uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT,
			      on_hook_client);
	}
}

static int hook_open(node_repl_t *r)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, ret;

	snprintf(r->hook_path, sizeof(r->hook_path), "%s/%s", r->state_dir,
		 NODE_REPL_HOOK_SOCKET);
	if (strlen(r->hook_path) >= sizeof(a.sun_path)) {
		ks_log_err(REPL,
			   "hook socket path '%s' is too long; shorten "
			   "[node] state_dir",
			   r->hook_path);
		return KS_ENAMETOOLONG;
	}
	memcpy(a.sun_path, r->hook_path, strlen(r->hook_path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ks_errno(errno);
	(void)unlink(r->hook_path); /* our pid lock says no one else uses it */
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 128) != 0) {
		ret = ks_errno(errno);
		ks_log_err(REPL, "cannot listen on the hook socket '%s' (%s)",
			   r->hook_path, strerror(errno));
		close(fd);
		return ret;
	}
	(void)chmod(r->hook_path, 0600);
	r->hook_fd = fd;
	uv_poll_init(r->loop, &r->hook, fd);
	r->hook.data = r;
	uv_poll_start(&r->hook, UV_READABLE, on_hook);
	return KS_EOK;
}

/* --- timers ----------------------------------------------------------------- */

/*
 * Trim the log to [node] log_retain entries, but never below what a
 * connected replica still needs (store_log_trim's hard cap aside).  A
 * disconnected replica is not waited for: if it falls out of the window it
 * gets a full snapshot when it returns (as iprop's ulog does).
 */
static void trim(node_repl_t *r)
{
	uint64_t keep = UINT64_MAX;

	for (repl_peer_t *p = r->peers; p != NULL; p = p->next)
		if (p->link != NULL && p->link->sm.state >= REPL_ST_SNAP_SEND) {
			uint64_t need = p->link->sm.pos + 1;
			if (need < keep)
				keep = need;
		}
	(void)store_log_trim(r->store, keep);
}

static void on_tick(uv_timer_t *t)
{
	node_repl_t *r = t->data;
	uint64_t now = uv_now(r->loop);

	for (repl_peer_t *p = r->peers; p != NULL; p = p->next) {
		if (p->link == NULL)
			continue;
		repl_sm_event_t ev = { .type = REPL_EV_TICK, .now_ms = now };
		feed(p->link, &ev);
	}
	if (r->role == REPL_ROLE_PRIMARY && ++r->ticks % TRIM_EVERY_TICKS == 0)
		trim(r);
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
	r->hook_fd = -1;
	if (copy_conf(r, conf) != KS_EOK) {
		node_repl_free(r);
		return KS_ENOMEM;
	}
	*out = r;
	return KS_EOK;
}

static int start(node_repl_t *r);

int node_repl_start(node_repl_t *r)
{
	int ret = start(r);

	/*
	 * Without keys or a KDB the node still runs (TLS links, status,
	 * kprop-compat peers) but replicates nothing natively; status says
	 * why.  Only a broken hook socket or a failing first scan is fatal.
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

static int start(node_repl_t *r)
{
	bridge_opts_t bo = { .kdc_profile = r->kdc_profile,
			     .replicate_lockout = r->replicate_lockout,
			     .read_only = r->role == REPL_ROLE_PRIMARY };
	bridge_scan_stats_t st;
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
	} else {
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
		if (ret != KS_EOK)
			return KS_EKEY;
	}
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
	r->started = true;
	uv_timer_start(&r->tick, on_tick, TICK_MS, TICK_MS);
	if (r->role == REPL_ROLE_PRIMARY) {
		ret = scan_now(r, &st);
		if (ret != KS_EOK)
			return ret;
		uv_timer_start(&r->scan, on_scan, r->scan_interval_ms,
			       r->scan_interval_ms);
		ret = hook_open(r);
		if (ret != KS_EOK)
			return ret;
	}
	return KS_EOK;
}

void node_repl_reconfigure(node_repl_t *r, const node_conf_t *conf)
{
	if (r == NULL || !r->started)
		return;
	if (conf->scan_interval_ms != r->scan_interval_ms &&
	    r->role == REPL_ROLE_PRIMARY) {
		r->scan_interval_ms = conf->scan_interval_ms;
		uv_timer_start(&r->scan, on_scan, r->scan_interval_ms,
			       r->scan_interval_ms);
	}
}

static void on_handle_closed(uv_handle_t *h)
{
	node_repl_t *r = h->data;

	if (--r->closing == 0 && r->done != NULL)
		r->done(r->done_arg);
}

void node_repl_stop(node_repl_t *r, void (*done)(void *), void *arg)
{
	r->stopping = true;
	r->done = done;
	r->done_arg = arg;
	r->closing = 1;
	if (r->started) {
		r->closing += 2;
		uv_close((uv_handle_t *)&r->tick, on_handle_closed);
		uv_close((uv_handle_t *)&r->scan, on_handle_closed);
		if (r->hook_fd >= 0) {
			r->closing++;
			uv_close((uv_handle_t *)&r->hook, on_handle_closed);
		}
		while (r->hook_clients != NULL)
			client_close(r->hook_clients);
	}
	/* the initial reference, released from the loop like the others */
	if (--r->closing == 0 && done != NULL)
		done(arg);
}

void node_repl_free(node_repl_t *r)
{
	if (r == NULL)
		return;
	if (r->hook_fd >= 0) {
		close(r->hook_fd);
		if (r->hook_path[0])
			unlink(r->hook_path);
	}
	bridge_close(r->bridge);
	proto_key_free(r->key);
	proto_trust_free(r->trust);
	cache_clear(r);
	ks_buf_free(&r->verify.report);
	free(r->verify.stack);
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

/* --- promotion ---------------------------------------------------------------- */

bool node_repl_store_promoted(const store_meta_t *m)
{
	static const uint8_t zero[16];

	return memcmp(m->applied_history, zero, 16) != 0 &&
	       memcmp(m->history, m->applied_history, 16) != 0 &&
	       memcmp(m->prev_history, m->applied_history, 16) == 0;
}

static int meta_of(store_t *s, store_meta_t *m)
{
	store_txn_t *t = NULL;
	int ret = store_read_begin(s, &t);

	if (ret != KS_EOK)
		return ret;
	ret = store_meta_get(t, m);
	store_read_end(t);
	return ret;
}

int node_repl_promote_store(store_t *s, store_meta_t *before,
			    store_meta_t *after, char *why, size_t whylen)
{
	store_meta_t m, n;
	int ret = meta_of(s, &m);

	if (ret != KS_EOK) {
		snprintf(why, whylen, "cannot read the store (%s)",
			 ks_strerror(ret));
		goto done;
	}
	if (node_repl_store_promoted(&m)) {
		snprintf(why, whylen,
			 "this node was already promoted (it no longer "
			 "follows a primary)");
		ret = KS_EEXIST;
		goto done;
	}
	if (repl_sm_history_zero(m.applied_history)) {
		snprintf(why, whylen,
			 "this replica holds no data from a primary yet (no "
			 "first sync completed): nothing to promote");
		ret = KS_ESTATE;
		goto done;
	}
	if (memcmp(m.history, m.applied_history, 16) != 0 ||
	    m.last_seq != m.applied_seq) {
		snprintf(why, whylen,
			 "the store's own log is not at its applied position "
			 "(seq %" PRIu64 " vs applied %" PRIu64 ")",
			 m.last_seq, m.applied_seq);
		ret = KS_ESTATE;
		goto done;
	}
	ret = store_new_history(s);
	if (ret == KS_EOK)
		ret = meta_of(s, &n);
	if (ret != KS_EOK) {
		snprintf(why, whylen, "cannot start a new history (%s)",
			 ks_strerror(ret));
		goto done;
	}
	ks_log_notice(REPL,
		      "promoted: new history continues the applied one at "
		      "seq %" PRIu64,
		      n.prev_last_seq);
	if (after != NULL)
		*after = n;
done:
	if (before != NULL)
		*before = m;
	return ret;
}

void node_repl_stop_following(node_repl_t *r)
{
	if (r == NULL || r->role != REPL_ROLE_REPLICA)
		return;
	r->promoted = true;
	for (repl_peer_t *p = r->peers; p != NULL; p = p->next)
		if (p->link != NULL && p->link->load != NULL) {
			bridge_load_abort(p->link->load);
			p->link->load = NULL;
		}
}

/* --- control ------------------------------------------------------------------ */

typedef struct dump_ctx {
	FILE *f;
	bool policies; /* second pass: stop at the first principal */
} dump_ctx_t;

static int dump_cb(ks_view_t key, ks_view_t value, void *arg)
{
	dump_ctx_t *d = arg;

	if (d->policies && key.len && key.ptr[0] != STORE_KEY_POLICY)
		return 1;
	/* values are whole dump lines, newline included (bridge/convert.h) */
	if (fwrite(value.ptr, 1, value.len, d->f) != value.len)
		return KS_EIO;
	return 0;
}

static int ctl_dump(node_repl_t *r, const char *path, ks_buf_t *out)
{
	store_txn_t *t = NULL;
	store_meta_t m;
	dump_ctx_t d = { 0 };
	char tmp[700];
	int fd, ret;

	if (path[0] != '/')
		return KS_EINVAL;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return ks_errno(errno);
	d.f = fdopen(fd, "w");
	if (d.f == NULL) {
		close(fd);
		return KS_ENOMEM;
	}
	ret = store_read_begin(r->store, &t);
	if (ret == KS_EOK) {
		ret = store_meta_get(t, &m);
		if (ret == KS_EOK &&
		    fputs("kdb5_util load_dump version 7\n", d.f) == EOF)
			ret = KS_EIO;
		/* principals first, then policies, as kdb5_util dump does */
		if (ret == KS_EOK)
			ret = store_records_foreach(
				t, (ks_view_t){ (const uint8_t *)"P", 1 },
				dump_cb, &d);
		if (ret == KS_EOK) {
			/* then the policies ('O' keys sort before 'P') */
			d.policies = true;
			ret = store_records_foreach(t, (ks_view_t){ 0 },
						    dump_cb, &d);
			if (ret == 1)
				ret = KS_EOK;
		}
		store_read_end(t);
	}
	if (fclose(d.f) != 0 && ret == KS_EOK)
		ret = KS_EIO;
	if (ret == KS_EOK && rename(tmp, path) != 0)
		ret = ks_errno(errno);
	if (ret != KS_EOK) {
		unlink(tmp);
		return ret;
	}
	return ks_buf_appendf(
		out, "wrote %" PRIu64 " records at seq %" PRIu64 " to %s\n",
		m.record_count,
		r->role == REPL_ROLE_PRIMARY ? m.last_seq : m.applied_seq,
		path);
}

/*
 * `kdcsync verify`: the KDB against the store, record by record (local: a
 * replica whose KDB was changed behind kdcsync's back, or a primary with
 * changes the scan has not taken yet, shows up here).  Replies "ok: ..." or
 * "error: N records differ ..." with up to VERIFY_LIST keys.
 */
#define VERIFY_LIST 20

typedef struct verify_ctx {
	store_txn_t *t;
	uint64_t kdb, differ, missing;
	ks_buf_t list;
} verify_ctx_t;

static int verify_cb(ks_view_t key, ks_view_t value, void *arg)
{
	verify_ctx_t *v = arg;
	ks_view_t sv;
	int ret = store_get(v->t, key, &sv);
	const char *what = NULL;

	v->kdb++;
	if (ret == KS_ENOENT) {
		v->missing++;
		what = "only in the KDB";
	} else if (ret != KS_EOK) {
		return ret;
	} else if (sv.len != value.len || memcmp(sv.ptr, value.ptr, sv.len)) {
		v->differ++;
		what = "differs";
	}
	if (what != NULL && v->differ + v->missing <= VERIFY_LIST)
		return ks_buf_appendf(&v->list, "  %.*s: %s\n", (int)key.len,
				      (const char *)key.ptr, what);
	return 0;
}

static int ctl_verify(node_repl_t *r, ks_buf_t *out)
{
	verify_ctx_t v = { 0 };
	store_meta_t m;
	uint64_t extra = 0;
	int ret;

	if (r->bridge == NULL)
		return KS_ENOTAVAIL;
	ret = store_read_begin(r->store, &v.t);
	if (ret != KS_EOK)
		return ret;
	ret = store_meta_get(v.t, &m);
	if (ret == KS_EOK)
		ret = bridge_foreach_record(r->bridge, verify_cb, &v);
	store_read_end(v.t);
	if (ret != KS_EOK) {
		ks_buf_free(&v.list);
		return ret;
	}
	/* records in the store but not in the KDB */
	if (m.record_count + v.missing > v.kdb)
		extra = m.record_count + v.missing - v.kdb;
	if (v.differ + v.missing + extra == 0)
		ret = ks_buf_appendf(
			out,
			"ok: the KDB and the store hold the same %" PRIu64
			" records (store digest ",
			v.kdb);
	else
		ret = ks_buf_appendf(
			out,
			"error: KDB %" PRIu64 " records, store %" PRIu64
			": %" PRIu64 " differ, %" PRIu64
			" only in the KDB, %" PRIu64
			" only in the store%s (store digest ",
			v.kdb, m.record_count, v.differ, v.missing, extra,
			r->role == REPL_ROLE_PRIMARY
				? "; a primary's scan takes such changes"
				: "");
	for (int i = 0; ret == KS_EOK && i < 8; i++)
		ret = ks_buf_appendf(out, "%02x", m.digest[i]);
	if (ret == KS_EOK)
		ret = ks_buf_appendf(out, "...)\n");
	if (ret == KS_EOK && v.list.len)
		ret = ks_buf_append(out, v.list.data, v.list.len);
	ks_buf_free(&v.list);
	return ret;
}

int node_repl_ctl(node_repl_t *r, const char *req, ks_buf_t *out)
{
	bridge_scan_stats_t st;
	int ret;

	if (strcmp(req, "snapshot") == 0) {
		if (r->bridge ==
		    NULL) /* replication disabled: status says why */
			return KS_ENOTAVAIL;
		if (r->role != REPL_ROLE_PRIMARY)
			return KS_ESTATE;
		ret = scan_now(r, &st);
		if (ret != KS_EOK)
			return ret;
		return ks_buf_appendf(
			out,
			"scanned %" PRIu64 " principals and %" PRIu64
			" policies: %" PRIu64 " puts, %" PRIu64
			" deletes logged\n",
			st.principals, st.policies, st.puts, st.dels);
	}
	if (strncmp(req, "dump ", 5) == 0)
		return ctl_dump(r, req + 5, out);
	if (strcmp(req, "verify") == 0)
		return ctl_verify(r, out);
	if (strncmp(req, "verify ", 7) == 0 && req[7] != '\0')
		return verify_start(r, req + 7, out);
	if (strcmp(req, "verify-result") == 0)
		return verify_result(r, out);
	return KS_ENOTSUP;
}

/* --- status ------------------------------------------------------------------- */

int node_repl_status(node_repl_t *r, bool json, ks_buf_t *out)
{
	int ret;

	if (r->disabled[0] && json) {
		ret = ks_buf_appendf(out, ",\"replication_disabled\":");
		return ret == KS_EOK ? ks_buf_append_json_str(out, r->disabled)
				     : ret;
	}
	if (r->disabled[0])
		return ks_buf_appendf(out, "replication: DISABLED: %s\n",
				      r->disabled);
	if (json)
		return ks_buf_appendf(out,
				      ",\"capture\":{\"scans\":%" PRIu64
				      ",\"last_scan_ms\":%" PRIu64
				      ",\"hook_notifications\":%" PRIu64
				      ",\"hook_changes\":%" PRIu64 "}",
				      r->scans, r->last_scan_us / 1000,
				      r->hook_msgs, r->hook_changes);
	if (r->role != REPL_ROLE_PRIMARY)
		return KS_EOK;
	return ks_buf_appendf(out,
			      "capture:   %" PRIu64 " scans (last %" PRIu64
			      " ms), hook: %" PRIu64 " notifications, %" PRIu64
			      " changes\n",
			      r->scans, r->last_scan_us / 1000, r->hook_msgs,
			      r->hook_changes);
}

int node_repl_peer_status(node_repl_t *r, const char *name, bool json,
			  ks_buf_t *out)
{
	repl_peer_t *p;
	store_meta_t m;
	uint64_t pos = 0, last = 0, lag_s = 0;
	const char *state;

	for (p = r->peers; p != NULL; p = p->next)
		if (strcmp(p->name, name) == 0)
			break;
	if (p == NULL || read_meta(r, &m) != KS_EOK)
		return KS_EOK;
	state = p->link ? repl_sm_state_name(p->link->sm.state) : "down";
	if (r->role == REPL_ROLE_PRIMARY) {
		pos = p->have_ack ? p->acked : 0;
		last = m.last_seq;
		if (p->link && p->link->sm.pos < p->link->sm.sent)
			lag_s = (uv_now(r->loop) - p->link->sm.sent_at_ms) /
				1000;
	} else {
		pos = m.applied_seq;
		last = p->peer_last_seq > pos ? p->peer_last_seq : pos;
		if (last > pos && p->last_commit_us)
			lag_s = (ks_real_us() - p->last_commit_us) / 1000000;
	}
	if (json) {
		int ret = ks_buf_appendf(
			out,
			",\"repl\":{\"state\":\"%s\",\"position\":%" PRIu64
			",\"peer_last_seq\":%" PRIu64
			",\"lag_changes\":%" PRIu64 ",\"lag_s\":%" PRIu64
			",\"batches\":%" PRIu64 ",\"changes\":%" PRIu64
			",\"full_transfers\":%" PRIu64
			",\"incremental_sessions\":%" PRIu64
			",\"last_apply_latency_ms\":%" PRIu64
			",\"last_session\":",
			state, pos, last, last - pos, lag_s, p->batches, p->ops,
			p->full_transfers, p->incremental_sessions,
			p->last_apply_us > p->last_commit_us
				? (p->last_apply_us - p->last_commit_us) / 1000
				: 0);
		if (ret == KS_EOK)
			ret = ks_buf_append_json_str(out, p->last_session);
		if (ret == KS_EOK)
			ret = ks_buf_appendf(out, ",\"last_error\":");
		if (ret == KS_EOK)
			ret = p->last_error[0] ? ks_buf_append_json_str(
							 out, p->last_error)
					       : ks_buf_appendf(out, "null");
		if (ret == KS_EOK)
			ret = ks_buf_appendf(out, "}");
		return ret;
	}
	return ks_buf_appendf(
		out,
		"    replication: %s; %s %" PRIu64 " of %" PRIu64
		" (lag %" PRIu64 " changes, %" PRIu64 " s); %" PRIu64
		" batches, %" PRIu64 " changes; full %" PRIu64
		", incremental %" PRIu64
		"\n    last session: %s\n    replication error: %s\n",
		state, r->role == REPL_ROLE_PRIMARY ? "acked" : "applied", pos,
		last, last - pos, lag_s, p->batches, p->ops, p->full_transfers,
		p->incremental_sessions,
		p->last_session[0] ? p->last_session : "none",
		p->last_error[0] ? p->last_error : "none");
}
