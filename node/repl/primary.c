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
#include "common/wire.h"
#include "node/repl/repl_int.h"
#include "proto/batch.h"
#include "proto/frame.h"
#include "proto/snap.h"

#define BATCH_MAX_OPS 5000u	 /* per batch we build */
#define BATCH_MAX_RAW (4u << 20) /* raw bytes per batch we build */
#define SNAP_SLICE    (1u << 20) /* snapshot bytes queued per send */
/* Unacknowledged changes a replica may have in flight: it reads every
 * frame (so its keepalives and acks keep flowing) and applies them in
 * turn, so this bounds what waits in its inbox. */
#define SEND_WINDOW 20000u

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
 * Batches are built off the loop: reading the log (an LMDB read
 * transaction), zstd and the Ed25519 signature run on a libuv pool thread
 * (store reads only, like a snapshot slice), not on the database worker,
 * so a batch never waits behind a scan or an apply.  The frame comes back
 * to the loop, goes into the cache (shared by every replica at that
 * position) and every streaming link is told the log grew: the state
 * machine asks again for what it needs (SEND_FROM sent+1) and finds it
 * cached.  One build per starting seq at a time, REPL_ENCODE_MAX at most;
 * stop waits for the builds in flight (they use the store and the key).
 */
typedef struct enc_job {
	uv_work_t req;
	node_repl_t *r;
	store_t *store;		/* pool thread: reads only */
	const proto_key_t *key; /* pool thread: signs */
	uint64_t from;
	uint8_t history[16]; /* the log's history when built */
	uint64_t last;
	ks_buf_t frame; /* the BATCH message */
	uint64_t took_us;
	int ret;
} enc_job_t;

/* Pool thread: the BATCH frame starting at j->from (KS_ENOENT: none). */
static void enc_work(uv_work_t *req)
{
	enc_job_t *j = req->data;
	store_meta_t m;
	store_txn_t *t = NULL;
	collect_t c = { 0 };
	proto_batch_hdr_t h = { .kind = PROTO_BLOB_BATCH };
	ks_buf_t blob = KS_BUF_INIT;
	proto_msg_t msg = { .type = PROTO_MSG_BATCH };
	uint64_t t0 = ks_mono_ns();
	int ret = store_read_begin(j->store, &t);

	if (ret != KS_EOK)
		goto out;
	ret = store_meta_get(t, &m);
	if (ret == KS_EOK) {
		ret = store_log_foreach(t, j->from, collect_cb, &c);
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
	for (size_t i = 0; i < c.n; i++) {
		size_t *f = &c.offs[i * 4];
		c.ops[i].key = (ks_view_t){ c.keep.data + f[0], f[1] };
		c.ops[i].value = (ks_view_t){ c.keep.data + f[2], f[3] };
	}
	memcpy(j->history, m.history, 16);
	memcpy(h.history, m.history, 16);
	h.first_seq = j->from;
	h.last_seq = c.last_seq;
	h.commit_time_us = c.commit_us;
	ret = proto_batch_encode(&h, c.ops, c.n, j->key, 0, &blob);
	if (ret != KS_EOK)
		goto out;
	msg.u.blob = ks_buf_view(&blob);
	ret = proto_msg_encode(&msg, &j->frame);
	j->last = c.last_seq;
out:
	j->took_us = (ks_mono_ns() - t0) / 1000;
	ks_buf_free(&blob);
	ks_buf_free(&c.keep);
	free(c.ops);
	free(c.offs);
	j->ret = ret;
}

static const repl_cached_batch_t *cache_find(node_repl_t *r, uint64_t from)
{
	for (unsigned i = 0; i < REPL_CACHE_SLOTS; i++)
		if (r->cache[i].frame.len && r->cache[i].first == from)
			return &r->cache[i];
	return NULL;
}

/* Loop: the frame moves into the cache. */
static void cache_put(node_repl_t *r, enc_job_t *j)
{
	repl_cached_batch_t *slot;

	if (memcmp(r->cache_history, j->history, 16) != 0) {
		node_repl__cache_clear(r);
		memcpy(r->cache_history, j->history, 16);
	}
	slot = &r->cache[r->cache_next++ % REPL_CACHE_SLOTS];
	ks_buf_free(&slot->frame);
	slot->frame = j->frame;
	j->frame = (ks_buf_t)KS_BUF_INIT;
	slot->first = j->from;
	slot->last = j->last;
}

static void enc_done(uv_work_t *req, int status)
{
	enc_job_t *j = req->data;
	node_repl_t *r = j->r;
	int ret = status < 0 ? KS_ECANCELED : j->ret;

	for (unsigned i = 0; i < r->enc_n; i++)
		if (r->enc_from[i] == j->from) {
			r->enc_from[i] = r->enc_from[--r->enc_n];
			break;
		}
	r->batches_built++;
	r->batch_build_us += j->took_us;
	if (r->stopping) {
		ks_buf_free(&j->frame);
		free(j);
		node_repl__closed_one(r);
		return;
	}
	if (ret == KS_EOK)
		cache_put(r, j);
	ks_buf_free(&j->frame);
	if (ret != KS_EOK && ret != KS_ENOENT) {
		ks_log_err(REPL, "cannot build the batch from %" PRIu64 " (%s)",
			   j->from, ks_strerror(ret));
		/* the links waiting for it end (they retry from their ack) */
		for (repl_peer_t *p = r->peers; p != NULL; p = p->next)
			if (p->link != NULL && !p->link->down &&
			    p->link->sm.state == REPL_ST_STREAM &&
			    p->link->sm.sent + 1 == j->from)
				node_repl__local_error(p->link, ret);
	}
	free(j);
	if (ret == KS_EOK)
		node_repl__all_log_grew(r);
}

/* Start building the batch at \p from, unless one is being built. */
static int enc_start(node_repl_t *r, uint64_t from)
{
	enc_job_t *j;

	for (unsigned i = 0; i < r->enc_n; i++)
		if (r->enc_from[i] == from)
			return KS_EOK; /* its done tells every link */
	if (r->enc_n >= REPL_ENCODE_MAX || r->stopping)
		return KS_EOK; /* a build in flight ends with a new try */
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return KS_ENOMEM;
	*j = (enc_job_t){ .r = r,
			  .store = r->store,
			  .key = r->key,
			  .from = from,
			  .frame = KS_BUF_INIT };
	j->req.data = j;
	if (uv_queue_work(r->loop, &j->req, enc_work, enc_done) != 0) {
		free(j);
		return KS_ENOMEM;
	}
	r->enc_from[r->enc_n++] = from;
	return KS_EOK;
}

void node_repl__encode_stop(node_repl_t *r)
{
	/* each build and each snapshot slice in flight closes one when
	 * done (enc_done, snap_done) */
	r->closing += (int)(r->enc_n + r->snap_n);
}

void node_repl__send_from(node_repl_link_t *l, uint64_t from)
{
	node_repl_t *r = l->r;
	const repl_cached_batch_t *b = NULL;
	uint64_t last = 0;
	int ret;

	while (!node_repl__io_congested(l) &&
	       l->sm.sent - l->sm.pos < SEND_WINDOW) {
		if (l->relay) {
			/* the primary's blobs as they came (relay.c) */
			ret = node_repl__relay_send(l, from, &last);
			if (ret == KS_ENOENT)
				return; /* nothing more applied yet */
			if (ret != KS_EOK) {
				ks_log_err(REPL,
					   "'%s': cannot relay the batch from "
					   "%" PRIu64 " (%s)",
					   l->peer->name, from,
					   ks_strerror(ret));
				node_repl__local_error(l, ret);
				return;
			}
		} else {
			b = cache_find(r, from);
			if (b == NULL) {
				/* built off the loop; its done sends it */
				ret = enc_start(r, from);
				if (ret != KS_EOK)
					node_repl__local_error(l, ret);
				return;
			}
			ret = node_repl__io_send(l, b->frame.data,
						 b->frame.len);
			if (ret != KS_EOK) {
				node_repl__local_error(l, ret);
				return;
			}
			last = b->last;
		}
		l->peer->batches++;
		l->peer->ops += last - from + 1;
		repl_sm_event_t ev = { .type = REPL_EV_SENT,
				       .seq = last,
				       .now_ms = node_repl__now(r) };
		repl_sm_action_t act;
		repl_sm_step(&l->sm, &ev, &act);
		from = last + 1;
	}
	/* congested or the window is full, in a large stream (the last batch
	 * was full): the next one is built meanwhile, so that it is ready
	 * when the link drains or the ack comes */
	if (b != NULL && b->last - b->first + 1 >= BATCH_MAX_OPS &&
	    cache_find(r, from) == NULL)
		(void)enc_start(r, from);
}

void node_repl__link_log_grew(node_repl_link_t *l)
{
	store_meta_t m;
	repl_sm_window_t w;

	if (l->sm.state != REPL_ST_STREAM)
		return;
	if (node_repl__meta(l->r->store, &m) != KS_EOK)
		return;
	if (l->relay)
		node_repl__relay_window(&m, &w);
	else
		node_repl__window_of(&m, &w);
	repl_sm_event_t ev = { .type = REPL_EV_LOG_GREW,
			       .window = &w,
			       .congested =
				       node_repl__io_congested(l) ||
				       l->sm.sent - l->sm.pos >= SEND_WINDOW,
			       .now_ms = node_repl__now(l->r) };
	node_repl__feed(l, &ev);
}

void node_repl__all_log_grew(node_repl_t *r)
{
	for (repl_peer_t *p = r->peers; p != NULL; p = p->next)
		if (p->link != NULL)
			node_repl__link_log_grew(p->link);
}

/*
 * The snapshot of a link, produced as the link drains: a slice of frames
 * (SNAP_SLICE_BYTES) at a time is encoded on a libuv pool thread; the
 * loop queues it on the link, and once a slice is queued the next one is
 * encoded while the link drains.  So the snapshot is never whole in memory
 * (about two slices plus the link's write queue).
 *
 * Each slice reads in its own store read transaction, from the key where
 * the last one stopped: no read transaction lives across network waits
 * (one would keep the map from growing under the writers for the whole
 * transfer, store/db.c).  Changes committed meanwhile may or may not be in
 * the slices still to come, so the snapshot is "fuzzy" after its seq: it
 * is announced at the seq of its start, and the replica then applies the
 * log from that seq on (kept for it: node_repl__trim), which puts and
 * deletes whole records in order and so ends at the primary's exact set
 * whichever version a slice had read.  The signed end carries the digest
 * of the records actually sent (equal to the store's digest at seq when
 * nothing changed), so the replica still checks what it staged against
 * what the primary sent.  A new history (promotion, log reset) mid-way
 * ends the snapshot.  One slice job at a time per link; between jobs the
 * source belongs to the loop.
 */
#define SNAP_SLICE_BYTES (4u << 20)

typedef struct snap_src {
	uv_work_t req;
	node_repl_link_t *l;
	store_t *store;
	const proto_key_t *key;
	uint8_t history[16];
	uint64_t seq;
	store_digest_acc_t *sent; /* digest of the records sent */
	bool relay;		  /* a relay's copy: of its applied position */
	proto_snap_tx_t tx;
	bool tx_open, finished;
	ks_buf_t next_key; /* resume at this key ("" = from the start) */
	ks_buf_t out;	   /* this slice's frames */
	uint64_t records, t0_ns;
	uint64_t encode_ns; /* pool-thread time reading and encoding */
	uint64_t bytes;	    /* frames handed to the connection */
	int ret;
} snap_src_t;

static void snap_src_free(snap_src_t *src)
{
	if (src->tx_open)
		proto_snap_tx_deinit(&src->tx);
	store_digest_acc_free(src->sent);
	ks_buf_free(&src->next_key);
	ks_buf_free(&src->out);
	free(src);
}

static int snap_cb(ks_view_t key, ks_view_t value, void *arg)
{
	snap_src_t *src = arg;
	int ret;

	if (src->out.len >= SNAP_SLICE_BYTES) {
		/* the slice is full: the next one starts at this key */
		ks_buf_reset(&src->next_key);
		ret = ks_buf_append(&src->next_key, key.ptr, key.len);
		if (ret != KS_EOK) {
			src->ret = ret;
			return 1;
		}
		return 2;
	}
	ret = proto_snap_tx_add(&src->tx, key, value, &src->out);
	if (ret == KS_EOK)
		ret = store_digest_acc_add(src->sent, key, value);
	if (ret != KS_EOK) {
		src->ret = ret;
		return 1;
	}
	src->records++;
	return 0;
}

/* Pool thread: store reads and encoding only. */
static void snap_work(uv_work_t *req)
{
	snap_src_t *src = req->data;
	ks_view_t from = { 0 };
	store_txn_t *t = NULL;
	store_meta_t m;
	uint8_t digest[32];
	int ret = KS_EOK;
	uint64_t t0 = ks_mono_ns();

	ks_buf_reset(&src->out);
	ret = store_read_begin(src->store, &t);
	if (ret == KS_EOK)
		ret = store_meta_get(t, &m);
	if (ret == KS_EOK && memcmp(src->relay ? m.applied_history : m.history,
				    src->history, 16) != 0)
		ret = KS_ESTATE; /* a new history: the replica starts over */
	if (ret == KS_EOK && !src->tx_open) {
		if ((src->relay ? m.applied_seq : m.last_seq) != src->seq)
			ret = KS_ESTATE; /* the log moved on since the decision */
		if (ret == KS_EOK)
			ret = store_digest_acc_new(&src->sent);
		if (ret == KS_EOK)
			ret = proto_snap_tx_init(&src->tx, src->history,
						 src->seq, m.record_count,
						 ks_real_us(), src->key,
						 &src->out);
		src->tx_open = ret == KS_EOK;
	}
	if (ret == KS_EOK && src->next_key.len > 0)
		from = ks_buf_view(&src->next_key);
	if (ret == KS_EOK) {
		src->ret = KS_EOK;
		ret = store_records_foreach(t, from, snap_cb, src);
		if (ret == 2) {
			ret = KS_EOK; /* a slice is full */
		} else if (ret == 0) {
			store_digest_acc_get(src->sent, digest);
			ret = proto_snap_tx_finish(&src->tx, digest, &src->out);
			src->finished = true;
		} else {
			ret = src->ret ? src->ret : KS_EINTERNAL;
		}
	}
	store_read_end(t); /* NULL is fine */
	src->ret = ret;
	src->encode_ns += ks_mono_ns() - t0;
}

static void snap_done(uv_work_t *req, int status);

static int snap_next(node_repl_link_t *l, snap_src_t *src)
{
	if (uv_queue_work(l->r->loop, &src->req, snap_work, snap_done) != 0)
		return KS_ENOMEM;
	l->r->snap_n++;
	l->snap_src = src;
	l->snap_running = true;
	return KS_EOK;
}

/* The snapshot ended (sent, failed, or the link went down). */
static void snap_end(node_repl_link_t *l, snap_src_t *src, int ret)
{
	if (!l->down && ret == KS_EOK) {
		l->peer->full_transfers++;
		snprintf(l->peer->last_session, sizeof(l->peer->last_session),
			 "full snapshot at seq %" PRIu64 " (%" PRIu64
			 " records, encoded in %" PRIu64 " ms)",
			 src->seq, src->records,
			 (ks_mono_ns() - src->t0_ns) / 1000000);
		ks_log_notice(REPL,
			      "'%s': full snapshot queued at seq %" PRIu64
			      " (%" PRIu64 " records)",
			      l->peer->name, src->seq, src->records);
		node_repl__log_transfer(l, "send", src->history, src->seq,
					src->records, src->bytes,
					(ks_mono_ns() - src->t0_ns) / 1000000);
		ks_log_notice(
			REPL,
			"transfer_phases direction=send encode_ms=%" PRIu64
			" total_ms=%" PRIu64,
			src->encode_ns / 1000000,
			(ks_mono_ns() - src->t0_ns) / 1000000);
	} else if (!l->down) {
		ks_log_err(REPL, "'%s': cannot send the snapshot (%s)",
			   l->peer->name, ks_strerror(ret));
		node_repl__local_error(l, ret);
	}
	l->snap_src = NULL;
	snap_src_free(src);
	node_repl__link_job_end(l);
}

static void snap_done(uv_work_t *req, int status)
{
	snap_src_t *src = req->data;
	node_repl_link_t *l = src->l;
	node_repl_t *r = l->r;
	int ret = status < 0 ? KS_ECANCELED : src->ret;

	r->snap_n--;
	l->snap_running = false;
	if (r->stopping) {
		/* the engine waits for this slice (node_repl__encode_stop):
		 * it read the store and key the engine owns */
		l->snap_src = NULL;
		snap_src_free(src);
		node_repl__link_job_end(l);
		node_repl__closed_one(r); /* last: it may free the engine */
		return;
	}
	if (l->down || ret != KS_EOK) {
		snap_end(l, src, l->down ? KS_ECLOSED : ret);
		return;
	}
	/* hand the slice over (moved) and send what the link takes */
	ks_buf_free(&l->snap);
	l->snap = src->out;
	src->out = (ks_buf_t)KS_BUF_INIT;
	l->snap_off = 0;
	node_repl__snapshot_pump(l);
}

void node_repl__snapshot_abort(node_repl_link_t *l)
{
	/* a slice being encoded ends in snap_done, which sees l->down */
	if (l->snap_src != NULL && !l->snap_running)
		snap_end(l, l->snap_src, KS_ECLOSED);
}

bool node_repl__snapshot_pump(node_repl_link_t *l)
{
	snap_src_t *src = l->snap_src;
	int ret;

	if (src == NULL)
		return false;
	if (l->snap_running)
		return true;
	size_t off0 = l->snap_off;
	while (!l->down && l->snap_off < l->snap.len &&
	       !node_repl__io_congested(l)) {
		/* whole frames only (node_conn_send's contract): the
		 * connection may put a keepalive between two sends, and one
		 * inside a frame would corrupt the stream */
		size_t n = 0;
		while (n < SNAP_SLICE && l->snap_off + n < l->snap.len)
			n += PROTO_FRAME_PREFIX +
			     ks_get_u32be(l->snap.data + l->snap_off + n);
		if (n > l->snap.len - l->snap_off)
			n = l->snap.len - l->snap_off; /* (built whole) */
		ret = node_repl__io_send(l, l->snap.data + l->snap_off, n);
		if (ret != KS_EOK) {
			snap_end(l, src, ret);
			return false;
		}
		l->snap_off += n;
		src->bytes += n;
	}
	if (l->snap_off > off0) {
		/* the copy moves: its timeout counts from here */
		repl_sm_event_t ev = { .type = REPL_EV_SENT,
				       .now_ms = node_repl__now(l->r) };
		repl_sm_action_t act;
		repl_sm_step(&l->sm, &ev, &act);
	}
	if (l->snap_off < l->snap.len)
		return true; /* more when the link drains */
	ks_buf_free(&l->snap);
	l->snap_off = 0;
	if (src->finished) {
		snap_end(l, src, KS_EOK);
		return false;
	}
	/* this slice is queued: encode the next while the link drains */
	ret = snap_next(l, src);
	if (ret != KS_EOK) {
		snap_end(l, src, ret);
		return false;
	}
	return true;
}

int node_repl__send_snapshot(node_repl_link_t *l, const uint8_t history[16],
			     uint64_t seq)
{
	node_repl_t *r = l->r;
	proto_msg_t msg = { .type = PROTO_MSG_ANSWER };
	snap_src_t *src;
	int ret;

	if (l->snap_src != NULL)
		return KS_ESTATE; /* one snapshot per link at a time */
	msg.u.answer = (proto_answer_t){ .version = l->sm.version,
					 .mode = PROTO_ANSWER_SNAPSHOT };
	memcpy(msg.u.answer.history, history, 16);
	ret = node_repl__send_msg(l, &msg);
	if (ret != KS_EOK)
		return ret;
	src = calloc(1, sizeof(*src));
	if (src == NULL)
		return KS_ENOMEM;
	*src = (snap_src_t){ .l = l,
			     .store = r->store,
			     .key = r->key,
			     .seq = seq,
			     .relay = l->relay,
			     .next_key = KS_BUF_INIT,
			     .out = KS_BUF_INIT,
			     .t0_ns = ks_mono_ns() };
	memcpy(src->history, history, 16);
	src->req.data = src;
	ks_buf_free(&l->snap);
	l->snap_off = 0;
	ret = snap_next(l, src);
	if (ret != KS_EOK) {
		free(src);
		return ret;
	}
	/* a link job until the last slice is queued: frames wait meanwhile
	 * (only keepalives, which the connection swallows, are expected
	 * before the ack) */
	l->refs++;
	l->jobs++;
	return KS_EOK;
}

typedef struct ack_job {
	node_repl_job_t job;
	uint64_t seq;
	store_t *store;
	char peer[];
} ack_job_t;

static int ack_run(node_repl_job_t *job)
{
	ack_job_t *j = (ack_job_t *)job;

	return store_peer_ack(j->store, j->peer, j->seq);
}

static void ack_done(node_repl_job_t *job, int ret)
{
	ack_job_t *j = (ack_job_t *)job;

	if (ret != KS_EOK && ret != KS_ECANCELED)
		ks_log_warn(REPL,
			    "'%s': cannot store the ack of seq %" PRIu64
			    " (%s)",
			    j->peer, j->seq, ks_strerror(ret));
	free(j);
}

void node_repl__record_ack(node_repl_link_t *l, uint64_t seq)
{
	repl_peer_t *p = l->peer;
	size_t n = strlen(p->name) + 1;
	ack_job_t *j = calloc(1, sizeof(*j) + n);

	p->acked = seq;
	p->have_ack = true;
	node_repl__sync_acked(l->r); /* writes waiting for this ack */
	if (j != NULL) {
		j->job = (node_repl_job_t){ .run = ack_run, .done = ack_done };
		j->seq = seq;
		j->store = l->r->store;
		memcpy(j->peer, p->name, n);
		if (!node_repl__job(l->r, &j->job))
			free(j);
	}
	/* the window moved: send more (the stored ack is for restarts and
	 * status; the state machine already knows) */
	node_repl__link_log_grew(l);
}

/*
 * Trim the log to [node] log_retain entries, but never below what a
 * connected replica still needs (store_log_trim's hard cap aside).  A
 * disconnected replica is not waited for: if it falls out of the window it
 * gets a full snapshot when it returns (as iprop's ulog does).
 */
typedef struct trim_job {
	node_repl_job_t job;
	node_repl_t *r;
	store_t *store;
	uint64_t keep;
} trim_job_t;

static int trim_run(node_repl_job_t *job)
{
	trim_job_t *j = (trim_job_t *)job;

	return store_log_trim(j->store, j->keep);
}

static void trim_done(node_repl_job_t *job, int ret)
{
	trim_job_t *j = (trim_job_t *)job;

	j->r->trim_pending = false;
	if (ret != KS_EOK && ret != KS_ECANCELED)
		ks_log_warn(REPL, "trimming the log failed (%s)",
			    ks_strerror(ret));
	free(j);
}

void node_repl__trim(node_repl_t *r)
{
	uint64_t keep = UINT64_MAX;
	trim_job_t *j;

	if (r->trim_pending)
		return;
	for (repl_peer_t *p = r->peers; p != NULL; p = p->next)
		if (p->link != NULL && p->link->sm.state >= REPL_ST_SNAP_SEND) {
			uint64_t need = p->link->sm.pos + 1;
			if (need < keep)
				keep = need;
		}
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return;
	*j = (trim_job_t){ .job = { .run = trim_run, .done = trim_done },
			   .r = r,
			   .store = r->store,
			   .keep = keep };
	if (node_repl__job(r, &j->job))
		r->trim_pending = true;
	else
		free(j);
}
