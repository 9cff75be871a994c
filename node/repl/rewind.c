/* SPDX-License-Identifier: MIT */
/*
 * Rewind (PROTOCOL.md §3.9): a replica whose position lies past the point
 * where its history and its primary's parted (an old primary that made
 * changes the new one never had) goes back to that point instead of taking
 * a full copy.
 *
 * Replica: on ANSWER(REWIND) it names the keys of its own log after the
 * fork point (FETCH); the primary's signed current values of those keys
 * come in one VALUES or, as it announces PROTO_CAP_VALUES_PARTS, in
 * consecutive parts of at most 8 MiB raw each (the link keeps them until
 * the last, so that the rewind below is made from all at once); it then
 * writes what it had for them to
 * STATE_DIR/diverged-HISTORY-SEQ.dump (kdb5_util dump format, 0600),
 * puts the primary's values into the KDB, then rewinds the store to the
 * fork point (store_rewind) and adopts the primary's history; the batches
 * after the fork point follow as usual.  A replica whose log no longer
 * reaches back to the fork point, or that changed too many keys, stops
 * announcing the capability and gets a full snapshot instead.
 *
 * Primary: on FETCH it signs the current value (PUT) or absence (DEL) of
 * each named key into VALUES blobs (node_repl__send_values, which the
 * repair's REFETCH uses too): parts of at most PROTO_VALUES_PART_RAW to a
 * replica announcing PROTO_CAP_VALUES_PARTS, else one; batches from the
 * fork point follow the replica's ACK.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/time.h"
#include "node/repl/repl_int.h"
#include "proto/batch.h"

/* --- replica: FETCH ------------------------------------------------------- */

typedef struct owned_key {
	uint8_t *ptr; /* heap copy */
	size_t len;
} owned_key_t;

typedef struct keyset {
	owned_key_t *v;
	size_t n, cap;
} keyset_t;

static void keyset_free(keyset_t *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i].ptr);
	free(k->v);
	*k = (keyset_t){ 0 };
}

static int key_add_cb(const store_log_entry_t *e, void *arg)
{
	keyset_t *k = arg;
	uint8_t *p;

	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 64;
		owned_key_t *v = realloc(k->v, cap * sizeof(*v));
		if (v == NULL)
			return KS_ENOMEM;
		k->v = v;
		k->cap = cap;
	}
	if ((p = malloc(e->key.len)) == NULL)
		return KS_ENOMEM;
	memcpy(p, e->key.ptr, e->key.len);
	k->v[k->n++] = (owned_key_t){ .ptr = p, .len = e->key.len };
	return 0;
}

static int view_cmp(const void *a, const void *b)
{
	const owned_key_t *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->ptr, y->ptr, n);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The distinct keys of the own log after \p seq, sorted. */
static int diverged_keys(node_repl_t *r, uint64_t seq, keyset_t *out)
{
	store_txn_t *t = NULL;
	size_t j = 0;
	int ret = store_read_begin(r->store, &t);

	if (ret != KS_EOK)
		return ret;
	ret = store_log_foreach(t, seq + 1, key_add_cb, out);
	store_read_end(t);
	if (ret != KS_EOK)
		return ret;
	if (out->n == 0)
		return KS_EOK;
	qsort(out->v, out->n, sizeof(*out->v), view_cmp);
	for (size_t i = 1; i < out->n; i++) {
		if (view_cmp(&out->v[i], &out->v[j]) == 0)
			free(out->v[i].ptr);
		else
			out->v[++j] = out->v[i];
	}
	out->n = j + 1;
	return KS_EOK;
}

int node_repl__send_fetch(node_repl_link_t *l, uint64_t seq)
{
	node_repl_t *r = l->r;
	keyset_t k = { 0 };
	ks_buf_t body = KS_BUF_INIT;
	proto_msg_t m = { .type = PROTO_MSG_FETCH };
	int ret = diverged_keys(r, seq, &k);

	if (ret == KS_EOK && (k.n == 0 || k.n > PROTO_FETCH_KEYS_MAX))
		ret = KS_ELIMIT;
	for (size_t i = 0; ret == KS_EOK && i < k.n; i++)
		ret = proto_fetch_add(&body, (ks_view_t){ .ptr = k.v[i].ptr,
							  .len = k.v[i].len });
	if (ret == KS_EOK) {
		m.u.fetch = (proto_fetch_t){ .seq = seq,
					     .count = (uint32_t)k.n,
					     .body = ks_buf_view(&body) };
		ret = node_repl__send_msg(l, &m);
	}
	if (ret == KS_EOK) {
		repl_sm_rewind_fetched(&l->sm, (uint32_t)k.n);
		ks_log_notice(REPL,
			      "'%s': rewinding to seq %" PRIu64
			      ": %zu records changed here since; asking "
			      "for their values",
			      l->peer->name, seq, k.n);
	} else {
		/* Cannot name what changed since the fork: full copy. */
		r->no_rewind = true;
		ks_log_warn(REPL,
			    "'%s': cannot rewind to seq %" PRIu64
			    " (%s): asking for a full copy instead",
			    l->peer->name, seq, ks_strerror(ret));
	}
	keyset_free(&k);
	ks_buf_free(&body);
	return ret;
}

/* --- replica: VALUES ------------------------------------------------------- */

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return ks_errno(errno);
		b += w;
		n -= (size_t)w;
	}
	return KS_EOK;
}

/*
 * What this node has for the fetched keys, as a load_dump v7 file:
 * policies first (principals may name them).  Keys it deleted since the
 * fork have no line; they are counted and logged.
 */
static int write_diverged(node_repl_t *r, const store_change_t *ch, size_t n,
			  const char *path, uint64_t *lines, uint64_t *gone)
{
	static const char hdr[] = "kdb5_util load_dump version 7\n";
	store_txn_t *t = NULL;
	int fd, ret;

	*lines = *gone = 0;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return ks_errno(errno);
	ret = write_all(fd, hdr, sizeof(hdr) - 1);
	if (ret == KS_EOK)
		ret = store_read_begin(r->store, &t);
	for (int pass = 0; ret == KS_EOK && pass < 2; pass++) {
		for (size_t i = 0; ret == KS_EOK && i < n; i++) {
			ks_view_t k = ch[i].key, v;
			bool policy = k.len > 0 && k.ptr[0] == STORE_KEY_POLICY;
			if (policy != (pass == 0))
				continue;
			ret = store_get(t, k, &v);
			if (ret == KS_ENOENT) {
				(*gone)++;
				ret = KS_EOK;
				continue;
			}
			if (ret == KS_EOK)
				ret = write_all(fd, v.ptr, v.len);
			(*lines)++;
		}
	}
	if (t != NULL)
		store_read_end(t);
	if (ret == KS_EOK && fsync(fd) != 0)
		ret = ks_errno(errno);
	if (close(fd) != 0 && ret == KS_EOK)
		ret = ks_errno(errno);
	return ret;
}

/* One VALUES part: the frame (owned copy) and the blob opened in it. */
typedef struct repl_values_part {
	ks_buf_t frame;
	proto_msg_t m; /* points into frame */
	proto_batch_t b;
} repl_values_part_t;

static void parts_free(repl_values_part_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		proto_batch_deinit(&p[i].b);
		ks_buf_free(&p[i].frame);
	}
	free(p);
}

void node_repl__values_parts_free(node_repl_link_t *l)
{
	parts_free(l->values_parts, l->n_values_parts);
	l->values_parts = NULL;
	l->n_values_parts = 0;
}

/* The rewind, on the worker: it owns the KDB and the store writes. */
typedef struct rewind_job {
	node_repl_job_t job;
	node_repl_link_t *l; /* loop side only */
	node_repl_t *r;
	char peer[256];
	repl_values_part_t *parts; /* every VALUES part, in order */
	size_t n_parts;
	uint32_t ops;	   /* in all parts */
	uint64_t last_seq; /* the primary's, when it read the values */
	uint8_t history[16];
	uint64_t seq;
} rewind_job_t;

static int rewind_run(node_repl_job_t *job)
{
	rewind_job_t *j = (rewind_job_t *)job;
	node_repl_t *r = j->r;
	const char *peer = j->peer;
	uint64_t seq = j->seq;
	store_meta_t m;
	store_change_t *ch = NULL;
	char hist[33], path[700];
	uint64_t lines = 0, gone = 0;
	size_t n = 0;
	int ret = node_repl__meta(r->store, &m);

	if (ret != KS_EOK)
		return ret;
	/* the parts' ops in order: the FETCH's keys */
	ch = calloc(j->ops ? j->ops : 1, sizeof(*ch));
	if (ch == NULL)
		return KS_ENOMEM;
	for (size_t p = 0; p < j->n_parts; p++) {
		const proto_batch_t *b = &j->parts[p].b;
		for (uint32_t i = 0; i < b->hdr.op_count && n < j->ops; i++)
			ch[n++] = (store_change_t){
				.op = b->ops[i].type == PROTO_OP_PUT
					      ? STORE_PUT
					      : STORE_DEL,
				.key = b->ops[i].key,
				.value = b->ops[i].value
			};
	}
	ks_hex_encode(m.history, 16, hist);
	snprintf(path, sizeof(path), "%s/diverged-%s-%" PRIu64 ".dump",
		 r->state_dir, hist, seq);
	ret = write_diverged(r, ch, n, path, &lines, &gone);
	if (ret != KS_EOK) {
		ks_log_err(REPL, "'%s': cannot write '%s' (%s): not rewinding",
			   peer, path, ks_strerror(ret));
		free(ch);
		return ret;
	}
	ks_log_warn(REPL,
		    "'%s': %" PRIu64
		    " changes this node made after seq %" PRIu64
		    " were never on '%s': its records are in %s (%" PRIu64
		    " lines; %" PRIu64 " records it had deleted)",
		    peer, m.last_seq - seq, seq, peer, path, lines, gone);
	/* KDB first, then the store: a crash in between repeats the rewind
	 * (the store still names the same keys and values). */
	ret = node_repl__kdb_usable(r) ? bridge_apply(r->bridge, ch, n)
				       : KS_EKDBDAMAGED;
	if (ret == KS_EOK)
		ret = store_rewind(r->store, seq, ch, n);
	if (ret == KS_EOK && memcmp(j->history, m.history, 16) != 0)
		ret = store_adopt_history(r->store, j->history, m.history, seq);
	free(ch);
	if (ret != KS_EOK)
		ks_log_err(REPL, "'%s': rewind to seq %" PRIu64 " failed (%s)",
			   peer, seq, ks_strerror(ret));
	return ret;
}

static void rewind_done(node_repl_job_t *job, int ret)
{
	rewind_job_t *j = (rewind_job_t *)job;
	node_repl_link_t *l = j->l;

	if (!l->down && ret != KS_ECANCELED) {
		if (ret != KS_EOK) {
			node_repl__local_error(l, ret);
		} else {
			snprintf(l->peer->last_session,
				 sizeof(l->peer->last_session),
				 "rewound to seq %" PRIu64 " (%" PRIu32
				 " records put back, %zu part%s), then "
				 "incremental",
				 j->seq, j->ops, j->n_parts,
				 j->n_parts == 1 ? "" : "s");
			node_repl__note_peer_last(l, j->last_seq);
			repl_sm_event_t ap = { .type = REPL_EV_APPLIED,
					       .history = j->history,
					       .seq = j->seq,
					       .now_ms = node_repl__now(l->r) };
			node_repl__feed(l, &ap);
		}
	}
	parts_free(j->parts, j->n_parts);
	free(j);
	node_repl__link_job_end(l);
}

/* A VALUES frame opened into a new part at the end of l's list. */
static int part_open(node_repl_link_t *l, ks_view_t frame,
		     repl_values_part_t **out)
{
	repl_values_part_t *v, *p;
	int ret;

	v = realloc(l->values_parts,
		    (l->n_values_parts + 1) * sizeof(*l->values_parts));
	if (v == NULL)
		return KS_ENOMEM;
	l->values_parts = v;
	p = &v[l->n_values_parts];
	*p = (repl_values_part_t){ .frame = KS_BUF_INIT };
	/* the part keeps the values: its own copy of the frame */
	ret = ks_buf_append(&p->frame, frame.ptr, frame.len);
	if (ret == KS_EOK)
		ret = proto_msg_decode(ks_buf_view(&p->frame), &p->m);
	if (ret == KS_EOK)
		ret = proto_batch_open(p->m.u.blob, PROTO_BLOB_VALUES,
				       l->r->trust, NULL, &p->b);
	if (ret != KS_EOK) {
		proto_batch_deinit(&p->b);
		ks_buf_free(&p->frame);
		return ret;
	}
	l->n_values_parts++;
	*out = p;
	return KS_EOK;
}

int node_repl__on_values(node_repl_link_t *l, ks_view_t frame,
			 const proto_msg_t *m)
{
	node_repl_t *r = l->r;
	repl_sm_event_t ev = { .type = REPL_EV_MSG,
			       .msg = m,
			       .now_ms = node_repl__now(r) };
	repl_sm_action_t act;
	repl_values_part_t *p = NULL;
	rewind_job_t *j;
	int ret = KS_ESTATE;

	if (l->sm.role == REPL_ROLE_REPLICA)
		ret = part_open(l, frame, &p);
	if (ret != KS_EOK) {
		if (l->sm.role == REPL_ROLE_REPLICA)
			ks_log_err(REPL,
				   "'%s': rewind values rejected (%s); "
				   "nothing changed",
				   l->peer->name, ks_strerror(ret));
		node_repl__values_parts_free(l);
		node_repl__feed(l, &ev); /* no header: reset */
		return KS_EOK;
	}
	ev.hdr = &p->b.hdr;
	repl_sm_step(&l->sm, &ev, &act);
	if (act.type == REPL_ACT_REWIND_PART)
		return KS_EOK; /* kept; more follow */
	if (act.type != REPL_ACT_REWIND) {
		node_repl__values_parts_free(l);
		node_repl__do_action(l, &act);
		return KS_EOK;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		node_repl__values_parts_free(l);
		node_repl__local_error(l, KS_ENOMEM);
		return KS_EOK;
	}
	*j = (rewind_job_t){ .job = { .run = rewind_run, .done = rewind_done },
			     .l = l,
			     .r = r,
			     .parts = l->values_parts,
			     .n_parts = l->n_values_parts,
			     .last_seq = p->b.hdr.last_seq };
	for (size_t i = 0; i < j->n_parts; i++)
		j->ops += j->parts[i].b.hdr.op_count;
	l->values_parts = NULL;
	l->n_values_parts = 0;
	snprintf(j->peer, sizeof(j->peer), "%s", l->peer->name);
	memcpy(j->history, act.history, 16);
	j->seq = act.seq;
	node_repl__link_job(l, &j->job);
	return KS_EOK;
}

/* --- primary: FETCH --------------------------------------------------------- */

int node_repl__send_values(node_repl_link_t *l, const proto_fetch_t *f,
			   const uint8_t *history, uint64_t seq, uint8_t type,
			   size_t part_raw)
{
	node_repl_t *r = l->r;
	store_txn_t *t = NULL;
	store_meta_t m;
	proto_op_t *ops = calloc(f->count, sizeof(*ops));
	ks_buf_t blob = KS_BUF_INIT;
	size_t pos = 0, n = 0;
	ks_view_t key;
	int ret = ops ? store_read_begin(r->store, &t) : KS_ENOMEM;

	if (ret == KS_EOK)
		ret = store_meta_get(t, &m);
	while (ret == KS_EOK && n < f->count &&
	       proto_fetch_next(f->body, &pos, &key)) {
		ks_view_t v;
		int g = store_get(t, key, &v);
		if (g == KS_EOK)
			ops[n] = (proto_op_t){ .type = PROTO_OP_PUT,
					       .key = key,
					       .value = v };
		else if (g == KS_ENOENT)
			ops[n] = (proto_op_t){ .type = PROTO_OP_DEL,
					       .key = key };
		else
			ret = g;
		n++;
	}
	/* the values point into the read transaction: every part is encoded
	 * and queued (copied) before it ends */
	for (size_t done = 0, k; ret == KS_EOK && done < n; done += k) {
		/* a relay's values are of its applied position (§3.13) */
		proto_batch_hdr_t h = { .kind = PROTO_BLOB_VALUES,
					.first_seq = seq,
					.last_seq = l->relay ? m.applied_seq
							     : m.last_seq,
					.commit_time_us = ks_real_us() };
		k = part_raw > 0
			    ? proto_batch_fit(ops + done, n - done, part_raw,
					      PROTO_LIMIT_OPS_DEFAULT)
			    : n - done;
		memcpy(h.history,
		       history	  ? history
		       : l->relay ? m.applied_history
				  : m.history,
		       16);
		ks_buf_reset(&blob);
		ret = proto_batch_encode(&h, ops + done, k, r->key, 0, &blob);
		if (ret == KS_EOK) {
			proto_msg_t msg = { .type = type,
					    .u.blob = ks_buf_view(&blob) };
			ret = node_repl__send_msg(l, &msg);
		}
	}
	if (t != NULL)
		store_read_end(t);
	ks_buf_free(&blob);
	free(ops);
	return ret;
}

int node_repl__on_fetch(node_repl_link_t *l, const proto_msg_t *m, uint64_t now)
{
	repl_sm_event_t ev = { .type = REPL_EV_MSG, .msg = m, .now_ms = now };
	repl_sm_action_t act;
	int ret;

	repl_sm_step(&l->sm, &ev, &act);
	if (act.type != REPL_ACT_SEND_VALUES) {
		node_repl__do_action(l, &act);
		return KS_EOK;
	}
	/* in parts to a replica that takes them (else one frame, which a
	 * rewind of more than the frame limit cannot fit) */
	ret = node_repl__send_values(
		l, &m->u.fetch, act.history, act.seq, PROTO_MSG_VALUES,
		(l->peer_caps & PROTO_CAP_VALUES_PARTS) ? PROTO_VALUES_PART_RAW
							: 0);
	if (ret == KS_EOK)
		ks_log_notice(REPL,
			      "'%s': sent the values of %" PRIu32
			      " records it changed after seq %" PRIu64
			      " (rewind)",
			      l->peer->name, m->u.fetch.count, act.seq);
	if (ret != KS_EOK)
		node_repl__local_error(l, ret);
	return KS_EOK;
}
