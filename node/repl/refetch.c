/* SPDX-License-Identifier: MIT */
/*
 * `kdcsync repair` on a replica whose store differs from its primary's
 * (PROTOCOL.md §3.12): compare the store with the primary's (compare.c,
 * collecting the differing keys), ask the primary for those keys' current
 * values (REFETCH; the answer comes in REVALUES parts of at most 8 MiB,
 * each written as it arrives), and put them -- or the deletions of keys
 * the primary does not have -- into the KDB and the store through the apply path on
 * the worker (room check, bridge_apply, store_fix; no position moves: the
 * batches after the applied position bring later changes as usual).  Then
 * the local repair (drift.c) puts the store's values over whatever else of
 * the KDB drifted, and answers the control request with both reports.
 *
 * Primary: on REFETCH it signs the current value or absence of each named
 * key into a values blob (rewind.c's node_repl__send_values), whatever
 * the session state; the replica checks the signature, its history and
 * that it has not applied past the values' position.  A relay with a
 * signing_key answers its downstream the same way from its own store, at
 * its applied position and signed with its own key (PROTOCOL.md §3.13):
 * its store holds the primary's records up to that position, which the
 * downstream already trusts it for (full copies).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/ctl.h"
#include "node/repl/repl_int.h"
#include "proto/batch.h"

/* The link to a primary that answers REFETCH and DIGEST_REQ, or NULL. */
static node_repl_link_t *primary_link(node_repl_t *r)
{
	const uint32_t need = PROTO_CAP_DIGEST | PROTO_CAP_REFETCH;

	for (repl_peer_t *p = r->peers; p != NULL; p = p->next)
		if (p->link != NULL && p->link->hello_seen && !p->link->down &&
		    (p->link->peer_caps & need) == need)
			return p->link;
	return NULL;
}

/* The end: the local repair answers the request (with our report first),
 * or the request is answered with the error. */
static void finish(node_repl_t *r, int err, const char *why)
{
	repl_refetch_t *f = &r->refetch;
	node_ctl_wait_t *w = f->wait;
	ks_buf_t out = KS_BUF_INIT;

	f->running = false;
	f->wait = NULL;
	if (f->recv > 0 && f->recv < f->count) {
		/* the rest of the primary's answer is still on its way */
		f->skip = f->count - f->recv;
		snprintf(f->skip_peer, sizeof(f->skip_peer), "%s", f->peer);
	}
	if (err == KS_EOK) {
		node_repl__repair_local(r, w, ks_buf_view(&f->report));
	} else {
		ks_log_err(REPL, "repair from '%s' failed: %s (%s)", f->peer,
			   why, ks_strerror(err));
		(void)ks_buf_appendf(
			&out, "error: repair from '%s' failed: %s (%s)\n",
			f->peer, why, ks_strerror(err));
		node_ctl_answer(w, KS_EOK, ks_buf_view(&out));
	}
	ks_buf_free(&out);
	ks_buf_free(&f->keys);
	ks_buf_free(&f->report);
	f->count = 0;
}

int node_repl__refetch_start(node_repl_t *r)
{
	repl_refetch_t *f = &r->refetch;
	node_repl_link_t *l = primary_link(r);
	int ret;

	if (l == NULL || f->running || r->compare.running)
		return KS_ENOTAVAIL; /* the local repair only */
	uint32_t gen = f->gen, skip = f->skip;
	char skip_peer[sizeof(f->skip_peer)];

	memcpy(skip_peer, f->skip_peer, sizeof(skip_peer));
	*f = (repl_refetch_t){ .running = true,
			       .gen = gen + 1,
			       .skip = skip,
			       .keys = KS_BUF_INIT,
			       .report = KS_BUF_INIT };
	memcpy(f->skip_peer, skip_peer, sizeof(skip_peer));
	snprintf(f->peer, sizeof(f->peer), "%s", l->peer->name);
	ret = node_repl__compare_begin(r, l, true);
	if (ret != KS_EOK) {
		f->running = false;
		return ret;
	}
	f->wait = node_ctl_defer(); /* answered by finish() */
	ks_log_notice(REPL, "repair: comparing the store with '%s'", f->peer);
	return KS_EOK;
}

int node_repl__refetch_key(node_repl_t *r, ks_view_t key)
{
	repl_refetch_t *f = &r->refetch;

	if (f->count >= PROTO_FETCH_KEYS_MAX)
		return KS_ELIMIT;
	f->count++;
	return proto_fetch_add(&f->keys, key);
}

void node_repl__refetch_compared(node_repl_t *r, node_repl_link_t *l, int err)
{
	repl_refetch_t *f = &r->refetch;
	proto_msg_t m = { .type = PROTO_MSG_REFETCH };
	store_meta_t meta;
	int ret = err;

	if (!f->running)
		return;
	if (ret == KS_EOK && l == NULL)
		ret = KS_ECLOSED;
	if (ret != KS_EOK) {
		finish(r, ret, "comparing the stores");
		return;
	}
	if (f->count == 0) {
		(void)ks_buf_appendf(&f->report,
				     "the store holds what '%s' holds\n",
				     f->peer);
		finish(r, KS_EOK, NULL);
		return;
	}
	ret = node_repl__meta(r->store, &meta);
	if (ret == KS_EOK) {
		f->seq = meta.applied_seq;
		m.u.fetch = (proto_fetch_t){ .seq = f->seq,
					     .count = f->count,
					     .body = ks_buf_view(&f->keys) };
		ret = node_repl__send_msg(l, &m);
	}
	if (ret != KS_EOK) {
		finish(r, ret, "asking for the primary's values");
		return;
	}
	ks_log_notice(REPL,
		      "repair: %" PRIu32 " records differ from '%s''s store: "
		      "asking for their values",
		      f->count, f->peer);
}

/* --- replica: REVALUES ---------------------------------------------------- */

typedef struct refetch_job {
	node_repl_job_t job;
	node_repl_t *r;
	proto_batch_t b;
	ks_buf_t lines; /* the worker's report */
	char why[120];
	uint32_t gen; /* the repair it belongs to */
	bool last;    /* the answer's last part */
} refetch_job_t;

static int refetch_run(node_repl_job_t *job)
{
	refetch_job_t *j = (refetch_job_t *)job;
	node_repl_t *r = j->r;
	const proto_batch_t *b = &j->b;
	size_t n = b->hdr.op_count;
	store_change_t *ch;
	store_meta_t m;
	uint64_t avail, need;
	int ret = node_repl__meta(r->store, &m);

	if (ret != KS_EOK)
		return ret;
	if (memcmp(m.applied_history, b->hdr.history, 16) != 0) {
		snprintf(j->why, sizeof(j->why),
			 "the primary's history is not this node's");
		return KS_EHISTORY;
	}
	if (m.applied_seq > b->hdr.last_seq) {
		/* applied past the values: they may be older than ours */
		snprintf(j->why, sizeof(j->why),
			 "changes arrived meanwhile (run it again)");
		return KS_ESTALE;
	}
	if (!node_repl__kdb_usable(r)) {
		snprintf(j->why, sizeof(j->why), "the KDB is not usable");
		return KS_EKDBDAMAGED;
	}
	if ((ch = calloc(n ? n : 1, sizeof(*ch))) == NULL)
		return KS_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const proto_op_t *o = &b->ops[i];
		ch[i] = (store_change_t){ .op = o->type == PROTO_OP_PUT
							? STORE_PUT
							: STORE_DEL,
					  .key = o->key,
					  .value = o->value };
		if (ret == KS_EOK)
			ret = node_repl__key_line(&j->lines,
						  o->type == PROTO_OP_PUT
							  ? "refetched:"
							  : "deleted:",
						  o->key);
	}
	/* KDB first, then the store: a crash in between leaves the store
	 * differing, and the next repair finds the same keys */
	if (ret == KS_EOK)
		ret = bridge_kdb_room(r->bridge, ch, n, &avail, &need);
	if (ret == KS_EOK)
		ret = bridge_apply(r->bridge, ch, n);
	if (ret == KS_EOK)
		ret = store_fix(r->store, ch, n);
	free(ch);
	if (ret != KS_EOK && j->why[0] == '\0')
		snprintf(j->why, sizeof(j->why),
			 "writing the primary's values");
	if (ret == KS_EOK)
		ks_log_notice(KDB,
			      "repair: %zu records rewritten with the "
			      "primary's values (seq %" PRIu64 ")",
			      n, b->hdr.last_seq);
	return ret;
}

static void refetch_done(node_repl_job_t *job, int ret)
{
	refetch_job_t *j = (refetch_job_t *)job;
	node_repl_t *r = j->r;
	repl_refetch_t *f = &r->refetch;

	if (!f->running || j->gen != f->gen) {
		/* a part of a repair that has ended (failed) meanwhile */
	} else if (ret == KS_EOK) {
		if (f->report.len == 0)
			(void)ks_buf_appendf(
				&f->report,
				"refetched %u records from '%s' (this node's "
				"store differed from the primary's):\n",
				f->count, f->peer);
		(void)ks_buf_append(&f->report, j->lines.data, j->lines.len);
		if (j->last)
			finish(r, KS_EOK, NULL);
	} else {
		finish(r, ret,
		       j->why[0] ? j->why : "writing the primary's values");
	}
	proto_batch_deinit(&j->b);
	ks_buf_free(&j->lines);
	free(j);
}

int node_repl__on_revalues(node_repl_link_t *l, const proto_msg_t *m)
{
	node_repl_t *r = l->r;
	repl_refetch_t *f = &r->refetch;
	refetch_job_t *j;
	int ret;

	if (f->skip > 0 && strcmp(f->skip_peer, l->peer->name) == 0) {
		/* a part of a failed repair's answer: dropped */
		proto_batch_t b = { 0 };
		ret = proto_batch_open(m->u.blob, PROTO_BLOB_VALUES, r->trust,
				       NULL, &b);
		f->skip = ret == KS_EOK && b.hdr.op_count < f->skip
				  ? f->skip - b.hdr.op_count
				  : 0;
		proto_batch_deinit(&b);
		return KS_EOK;
	}
	if (r->role != REPL_ROLE_REPLICA || !f->running || f->wait == NULL ||
	    f->recv >= f->count || strcmp(f->peer, l->peer->name) != 0) {
		snprintf(l->peer->last_error, sizeof(l->peer->last_error),
			 "unexpected repair values");
		return KS_ESTATE;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		finish(r, KS_ENOMEM, "receiving the primary's values");
		return KS_EOK;
	}
	*j = (refetch_job_t){ .job = { .run = refetch_run,
				       .done = refetch_done },
			      .r = r,
			      .gen = f->gen,
			      .lines = KS_BUF_INIT };
	ret = proto_batch_open(m->u.blob, PROTO_BLOB_VALUES, r->trust, NULL,
			       &j->b);
	/* one part of the answer (§3.12): the parts' ops add up to the keys
	 * asked for, in order */
	if (ret == KS_EOK && (j->b.hdr.first_seq != f->seq ||
			      j->b.hdr.op_count > f->count - f->recv))
		ret = KS_EMALF;
	if (ret == KS_EOK) {
		f->recv += j->b.hdr.op_count;
		j->last = f->recv == f->count;
	} else {
		/* counted as received (finish() drops the rest of the answer);
		 * one that cannot be opened leaves nothing known to drop */
		f->recv = j->b.hdr.op_count > 0 &&
					  j->b.hdr.op_count < f->count - f->recv
				  ? f->recv + j->b.hdr.op_count
				  : f->count;
	}
	if (ret != KS_EOK) {
		proto_batch_deinit(&j->b);
		free(j);
		finish(r, ret, "the primary's values were rejected");
		return KS_EOK; /* the link itself is fine */
	}
	if (!node_repl__job(r, &j->job)) {
		proto_batch_deinit(&j->b);
		free(j);
		finish(r, KS_ECANCELED, "the node is stopping");
	}
	return KS_EOK;
}

void node_repl__refetch_link_down(node_repl_link_t *l)
{
	repl_refetch_t *f = &l->r->refetch;

	/* waiting for the values (the comparison reports its own end; the
	 * parts received are written and end the repair themselves) */
	if (f->running && !l->r->compare.running &&
	    strcmp(f->peer, l->peer->name) == 0 && f->count > 0 &&
	    f->recv < f->count)
		finish(l->r, KS_ECLOSED, "the link to the primary went down");
	/* nothing more of an old answer comes on a new link */
	if (strcmp(f->skip_peer, l->peer->name) == 0)
		f->skip = 0;
}

/* --- primary: REFETCH ----------------------------------------------------- */

bool node_repl__refetch_serves(const node_repl_link_t *l)
{
	/* a relay answers from its own store, signed with its own key, as
	 * it sends a full copy (§3.13); without a key it cannot */
	return l->r->role == REPL_ROLE_PRIMARY ||
	       (l->relay && l->r->key != NULL);
}

int node_repl__on_refetch(node_repl_link_t *l, const proto_msg_t *m)
{
	node_repl_t *r = l->r;
	int ret;

	if (l->relay && r->key == NULL) {
		snprintf(l->peer->last_error, sizeof(l->peer->last_error),
			 "repair request to a relay without a signing_key");
		return KS_ENOTSUP;
	}
	if (!node_repl__refetch_serves(l) || !l->hello_seen || r->key == NULL) {
		snprintf(l->peer->last_error, sizeof(l->peer->last_error),
			 "repair request to a node that is not its primary");
		return KS_ESTATE;
	}
	ret = node_repl__send_values(l, &m->u.fetch, NULL, m->u.fetch.seq,
				     PROTO_MSG_REVALUES, PROTO_VALUES_PART_RAW);
	if (ret == KS_EOK)
		ks_log_notice(REPL,
			      "'%s': sent the current values of %" PRIu32
			      " records (repair)",
			      l->peer->name, m->u.fetch.count);
	return ret;
}

void node_repl__refetch_free(node_repl_t *r)
{
	ks_buf_free(&r->refetch.keys);
	ks_buf_free(&r->refetch.report);
}
