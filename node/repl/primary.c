/* SPDX-License-Identifier: MIT */
/*
 * The primary's side of a link: signed batches built from the log (cached,
 * so replicas at the same position share them), the log-grew fan-out, the
 * full snapshot of the store, and log trimming that honours the connected
 * replicas.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/time.h"
#include "node/repl/repl_int.h"
#include "proto/batch.h"
#include "proto/snap.h"

#define BATCH_MAX_OPS 5000u	 /* per batch we build */
#define BATCH_MAX_RAW (4u << 20) /* raw bytes per batch we build */
#define SNAP_FLUSH    (1u << 20) /* hand snapshot frames over */

void node_repl__cache_clear(node_repl_t *r)
{
	for (unsigned i = 0; i < REPL_CACHE_SLOTS; i++) {
		ks_buf_free(&r->cache[i].frame);
		r->cache[i].first = r->cache[i].last = 0;
	}
}

typedef struct collect {
	proto_op_t *ops;
	size_t n, cap;
	size_t raw;
	uint64_t last_seq, commit_us;
	ks_buf_t keep; /* copies of keys/values (the txn ends first) */
	size_t *offs;  /* per op: key off, key len, val off, val len */
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
		       const repl_cached_batch_t **out)
{
	store_meta_t m;
	store_txn_t *t = NULL;
	collect_t c = { 0 };
	proto_batch_hdr_t h = { .kind = PROTO_BLOB_BATCH };
	ks_buf_t blob = KS_BUF_INIT;
	proto_msg_t msg = { .type = PROTO_MSG_BATCH };
	repl_cached_batch_t *slot;
	int ret;

	for (unsigned i = 0; i < REPL_CACHE_SLOTS; i++)
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
		node_repl__cache_clear(r);
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
	slot = &r->cache[r->cache_next++ % REPL_CACHE_SLOTS];
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

void node_repl__send_from(node_repl_link_t *l, uint64_t from)
{
	node_repl_t *r = l->r;
	const repl_cached_batch_t *b = NULL;
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
			node_repl__local_error(l, ret);
			return;
		}
		ret = node_conn_send(l->conn, b->frame.data, b->frame.len);
		if (ret != KS_EOK) {
			node_repl__local_error(l, ret);
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

void node_repl__link_log_grew(node_repl_link_t *l)
{
	store_meta_t m;
	repl_sm_window_t w;

	if (l->sm.state != REPL_ST_STREAM)
		return;
	if (node_repl__meta(l->r->store, &m) != KS_EOK)
		return;
	node_repl__window_of(&m, &w);
	repl_sm_event_t ev = { .type = REPL_EV_LOG_GREW,
			       .window = &w,
			       .congested = node_conn_congested(l->conn),
			       .now_ms = uv_now(l->r->loop) };
	node_repl__feed(l, &ev);
}

void node_repl__all_log_grew(node_repl_t *r)
{
	for (repl_peer_t *p = r->peers; p != NULL; p = p->next)
		if (p->link != NULL)
			node_repl__link_log_grew(p->link);
}

typedef struct snap_ctx {
	proto_snap_tx_t tx;
	ks_buf_t *buf;
	node_conn_t *conn;
	int err;
	uint64_t bytes; /* frames handed to the connection */
} snap_ctx_t;

static int snap_cb(ks_view_t key, ks_view_t value, void *arg)
{
	snap_ctx_t *s = arg;
	int ret = proto_snap_tx_add(&s->tx, key, value, s->buf);

	if (ret == KS_EOK && s->buf->len >= SNAP_FLUSH) {
		s->bytes += s->buf->len;
		ret = node_conn_send(s->conn, s->buf->data, s->buf->len);
		ks_buf_reset(s->buf);
	}
	if (ret != KS_EOK) {
		s->err = ret;
		return 1;
	}
	return 0;
}

int node_repl__send_snapshot(node_repl_link_t *l, const uint8_t history[16],
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
	ret = node_repl__send_msg(l, &msg);
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
	s.bytes += buf.len;
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
		node_repl__log_transfer(l, "send", history, seq, m.record_count,
					s.bytes, (ks_mono_ns() - t0) / 1000000);
	}
	return ret;
}

/*
 * Trim the log to [node] log_retain entries, but never below what a
 * connected replica still needs (store_log_trim's hard cap aside).  A
 * disconnected replica is not waited for: if it falls out of the window it
 * gets a full snapshot when it returns (as iprop's ulog does).
 */
void node_repl__trim(node_repl_t *r)
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
