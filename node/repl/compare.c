/* SPDX-License-Identifier: MIT */
/*
 * `kdcsync verify PEER`: compare this node's store with a connected peer's
 * over the replication link (PROTOCOL.md §3.8).  Digests of bucket ranges
 * are bisected down to single buckets, then both sides' (key, hash)
 * listings of a differing bucket are merged.  Either side answers
 * DIGEST_REQ; the requester keeps one comparison (r->compare) with one
 * request in flight.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/wire.h"
#include "node/repl/repl_int.h"

_Static_assert(PROTO_DIGEST_BUCKETS == STORE_BUCKETS,
	       "the wire's bucket space is the store's");

#define COMPARE_PARTS 16u

static void compare_fail(repl_compare_t *v, int err, const char *text)
{
	v->running = false;
	v->done = true;
	v->err = err;
	snprintf(v->errtext, sizeof(v->errtext), "%s", text);
}

static int compare_push(repl_compare_t *v, uint8_t kind, uint16_t lo,
			uint16_t hi)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 64;
		repl_compare_item_t *s = realloc(v->stack, cap * sizeof(*s));
		if (s == NULL)
			return KS_ENOMEM;
		v->stack = s;
		v->cap = cap;
	}
	v->stack[v->n++] =
		(repl_compare_item_t){ .kind = kind, .lo = lo, .hi = hi };
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
static int compare_next(node_repl_link_t *l)
{
	repl_compare_t *v = &l->r->compare;
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
		m.u.digest_req.parts = w < COMPARE_PARTS ? w : COMPARE_PARTS;
	}
	v->requests++;
	return node_repl__send_msg(l, &m);
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

/* A bucket listing (either side) or our ranges' digests: built on the
 * worker for LIST (a scan of the record set), on the loop for RANGES. */
typedef struct list_job {
	node_repl_job_t job;
	node_repl_link_t *l;
	node_repl_t *r;
	bool answer;	      /* true: answer a request; false: compare */
	proto_digest_req_t q; /* answer: the request */
	proto_digest_rsp_t a; /* compare: the peer's response (body is
				     theirs, copied) */
	ks_buf_t theirs;      /* compare: their body */
	ks_buf_t body;	      /* our listing */
	uint8_t history[16];  /* answer: our position */
	uint64_t seq, count;
} list_job_t;

/* Our listing of buckets [lo, hi) and, for an answer, our position. */
static int list_run(node_repl_job_t *job)
{
	list_job_t *j = (list_job_t *)job;
	uint16_t lo = j->answer ? j->q.lo : j->a.lo;
	uint16_t hi = j->answer ? j->q.hi : j->a.hi;
	list_ctx_t c = { .b = &j->body };
	store_txn_t *t = NULL;
	store_meta_t meta;
	int ret = store_read_begin(j->r->store, &t);

	if (ret != KS_EOK)
		return ret;
	ret = store_meta_get(t, &meta);
	if (ret == KS_EOK && j->answer)
		own_position(j->r, &meta, j->history, &j->seq);
	if (ret == KS_EOK)
		ret = store_bucket_foreach(t, lo, hi, list_cb, &c);
	store_read_end(t);
	j->count = c.count;
	return ret;
}

static int send_rsp(node_repl_link_t *l, const proto_digest_req_t *q,
		    const uint8_t history[16], uint64_t seq, uint32_t count,
		    const ks_buf_t *body)
{
	proto_msg_t m = { .type = PROTO_MSG_DIGEST_RSP };
	proto_digest_rsp_t *a = &m.u.digest_rsp;

	*a = (proto_digest_rsp_t){ .id = q->id,
				   .kind = q->kind,
				   .lo = q->lo,
				   .hi = q->hi,
				   .seq = seq,
				   .count = count,
				   .body = ks_buf_view(body) };
	memcpy(a->history, history, 16);
	return node_repl__send_msg(l, &m);
}

static int compare_listed(node_repl_link_t *l, list_job_t *j);

static void list_done(node_repl_job_t *job, int ret)
{
	list_job_t *j = (list_job_t *)job;
	node_repl_link_t *l = j->l;

	if (!l->down && ret != KS_ECANCELED) {
		if (j->answer && ret == KS_EOK)
			ret = send_rsp(l, &j->q, j->history, j->seq,
				       (uint32_t)j->count, &j->body);
		else if (!j->answer)
			ret = compare_listed(l, j);
		if (ret != KS_EOK) {
			ks_log_err(REPL,
				   "'%s': cannot answer a digest request (%s)",
				   l->peer->name, ks_strerror(ret));
			node_repl__io_close(l, ret,
					    "cannot answer a digest request");
		}
	}
	ks_buf_free(&j->body);
	ks_buf_free(&j->theirs);
	free(j);
	node_repl__link_job_end(l);
}

static list_job_t *list_job_new(node_repl_link_t *l, bool answer)
{
	list_job_t *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	*j = (list_job_t){ .job = { .run = list_run, .done = list_done },
			   .l = l,
			   .r = l->r,
			   .answer = answer,
			   .theirs = KS_BUF_INIT,
			   .body = KS_BUF_INIT };
	return j;
}

int node_repl__digest_req(node_repl_link_t *l, const proto_digest_req_t *q)
{
	node_repl_t *r = l->r;
	ks_buf_t body = KS_BUF_INIT;
	store_txn_t *t = NULL;
	store_meta_t meta;
	uint8_t history[16];
	uint64_t seq;
	int ret;

	if (!l->hello_seen) {
		snprintf(l->peer->last_error, sizeof(l->peer->last_error),
			 "digest request before HELLO");
		return KS_ESTATE;
	}
	if (q->kind != PROTO_DIGEST_RANGES) {
		list_job_t *j = list_job_new(l, true);
		if (j == NULL)
			return KS_ENOMEM;
		j->q = *q;
		node_repl__link_job(l, &j->job);
		return KS_EOK;
	}
	ret = store_read_begin(r->store, &t);
	if (ret != KS_EOK)
		goto fail;
	ret = store_meta_get(t, &meta);
	if (ret == KS_EOK) {
		own_position(r, &meta, history, &seq);
		ret = ranges_body(t, q->lo, q->hi, q->parts, &body);
	}
	store_read_end(t);
	if (ret == KS_EOK)
		ret = send_rsp(l, q, history, seq, q->parts, &body);
fail:
	ks_buf_free(&body);
	if (ret != KS_EOK)
		ks_log_err(REPL, "'%s': cannot answer a digest request (%s)",
			   l->peer->name, ks_strerror(ret));
	return ret;
}

/* One key of the report. */
static int report_key(repl_compare_t *v, const char *what, ks_view_t key)
{
	v->differ++;
	return node_repl__key_line(&v->report, what, key);
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
static int compare_bucket(repl_compare_t *v, ks_view_t mine, ks_view_t body)
{
	char peer_only[300];
	int ret = KS_EOK;
	size_t pm = 0, pt = 0;
	ks_view_t km, kt;
	const uint8_t *hm, *ht;

	snprintf(peer_only, sizeof(peer_only), "only on %s:", v->peer);
	bool have_m = proto_digest_list_next(mine, &pm, &km, &hm);
	bool have_t = proto_digest_list_next(body, &pt, &kt, &ht);
	while (ret == KS_EOK && (have_m || have_t)) {
		int cmp = !have_m ? 1 : !have_t ? -1 : key_cmp(km, kt);
		if (cmp < 0) {
			ret = report_key(v, "only here:", km);
			have_m = proto_digest_list_next(mine, &pm, &km, &hm);
		} else if (cmp > 0) {
			ret = report_key(v, peer_only, kt);
			have_t = proto_digest_list_next(body, &pt, &kt, &ht);
		} else {
			if (memcmp(hm, ht, PROTO_DIGEST_HASH_LEN) != 0)
				ret = report_key(v, "differs:", km);
			have_m = proto_digest_list_next(mine, &pm, &km, &hm);
			have_t = proto_digest_list_next(body, &pt, &kt, &ht);
		}
	}
	return ret;
}

/* Our listing came back from the worker: merge, then the next request. */
static int compare_listed(node_repl_link_t *l, list_job_t *j)
{
	repl_compare_t *v = &l->r->compare;
	int ret;

	if (!v->running || strcmp(v->peer, l->peer->name) != 0)
		return KS_EOK; /* the comparison ended meanwhile */
	ret = compare_bucket(v, ks_buf_view(&j->body), ks_buf_view(&j->theirs));
	if (ret == KS_EOK)
		return compare_next(l);
	compare_fail(v, ret, "local failure while comparing");
	ks_log_err(REPL, "verify with '%s' failed (%s)", v->peer,
		   ks_strerror(ret));
	return KS_EOK; /* the link itself is fine */
}

int node_repl__digest_rsp(node_repl_link_t *l, const proto_digest_rsp_t *a)
{
	node_repl_t *r = l->r;
	repl_compare_t *v = &r->compare;
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
		list_job_t *j = list_job_new(l, false);
		v->lists++;
		if (j == NULL || ks_buf_append(&j->theirs, a->body.ptr,
					       a->body.len) != KS_EOK) {
			if (j != NULL)
				ks_buf_free(&j->theirs);
			free(j);
			ret = KS_ENOMEM;
			goto fail;
		}
		j->a = *a;
		j->a.body = (ks_view_t){ 0 };
		node_repl__link_job(l, &j->job);
		return KS_EOK;
	}
	uint16_t w = (uint16_t)(a->hi - a->lo);
	if (a->count != (w < COMPARE_PARTS ? w : COMPARE_PARTS)) {
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
		ret = compare_push(v,
				   hi - lo == 1 ? PROTO_DIGEST_LIST
						: PROTO_DIGEST_RANGES,
				   lo, hi);
	}
	store_read_end(t);
	if (ret != KS_EOK)
		goto fail;
	return compare_next(l);
fail:
	compare_fail(v, ret, "local failure while comparing");
	ks_log_err(REPL, "verify with '%s' failed (%s)", v->peer,
		   ks_strerror(ret));
	return KS_EOK; /* the link itself is fine */
}

int node_repl__compare_start(node_repl_t *r, const char *peer, ks_buf_t *out)
{
	repl_compare_t *v = &r->compare;
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
	node_repl__compare_free(r);
	*v = (repl_compare_t){ .running = true };
	snprintf(v->peer, sizeof(v->peer), "%s", peer);
	int ret = compare_push(v, PROTO_DIGEST_RANGES, 0, PROTO_DIGEST_BUCKETS);
	if (ret == KS_EOK)
		ret = compare_next(p->link);
	if (ret != KS_EOK) {
		compare_fail(v, ret, "cannot send the first request");
		return ks_buf_appendf(out, "error: cannot start: %s\n",
				      ks_strerror(ret));
	}
	return ks_buf_appendf(out, "started\n");
}

int node_repl__compare_result(node_repl_t *r, ks_buf_t *out)
{
	repl_compare_t *v = &r->compare;
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

void node_repl__compare_link_down(node_repl_link_t *l)
{
	repl_compare_t *v = &l->r->compare;

	if (v->running && strcmp(v->peer, l->peer->name) == 0)
		compare_fail(v, KS_ECLOSED,
			     "the link to the peer went down during the "
			     "comparison");
}

void node_repl__compare_free(node_repl_t *r)
{
	ks_buf_free(&r->compare.report);
	free(r->compare.stack);
	r->compare.stack = NULL;
	r->compare.n = r->compare.cap = 0;
}
