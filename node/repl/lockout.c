/* SPDX-License-Identifier: MIT */
/*
 * Lockout on every KDC (PROTOCOL.md §3.10), with replicate_lockout = yes.
 *
 * Replica: its KDC's lockout writes arrive as LOCKOUT reports on the
 * capture socket (the only reports a replica takes: every other write on
 * a replica is the node's own apply, which the module does not report, or
 * an operator's local change, which never flows upstream).  The names are
 * coalesced (coalesce.h); a flush reads each principal's three fields on
 * the worker and sends one LOCKOUT message per principal to a primary
 * that announced PROTO_CAP_LOCKOUT.  While no link is up the names wait
 * (bounded), and go out once one is.
 *
 * Primary: its own KDC's LOCKOUT reports are coalesced the same way and
 * captured into the log a window at a time (the record is re-read as it
 * is then).  Each LOCKOUT from a replica that announced the capability is
 * queued (bounded); one worker job at a time merges the queue into the
 * KDB (bridge_lockout_merge: the entry is the base, only the three fields
 * of an existing principal change, written through the bridge's quiet
 * handle) and captures the changed principals into the log in one commit,
 * which replicates them like any change.
 *
 * Relay (a replica serving replicas, PROTOCOL.md §3.13): it takes
 * LOCKOUT from its downstream links as a primary does and merges them into
 * its own KDB the same way, but does not log them (its log is the
 * primary's history); the names the merge changed join its own KDC's
 * pending names and go upstream at the next flush, re-read and coalesced.
 * So lockout flows the whole chain up, one LOCKOUT per principal per
 * window on each hop, and comes back down as the primary's batches
 * (lockout_route.h: why nothing loops).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/repl/repl_int.h"
#include "node/repl/lockout_route.h"

#define LK_IN_MAX 65536u /* primary: reports waiting for the merge job */
#define LK_FUTURE_MAX                                                          \
	600u /* s: a report this far ahead of our clock is
				refused (a replica's clock gone wrong would
				lock accounts for ever) */

/* --- both sides ------------------------------------------------------------ */

void node_repl__lockout_init(node_repl_t *r)
{
	repl_coalesce_init(&r->lk_pending, 0, 0);
}

void node_repl__lockout_free(node_repl_t *r)
{
	repl_coalesce_deinit(&r->lk_pending);
	repl_coalesce_set_free(&r->lk_in.names);
	free(r->lk_in.fields);
	r->lk_in.fields = NULL;
}

bool node_repl__lockout_cap(const node_repl_link_t *l)
{
	/* a primary takes LOCKOUT on every link, a relay on its downstream
	 * links; a replica sends it on the link to its upstream
	 * (lockout_route.h) */
	return repl_lockout_link(l->r->replicate_lockout, l->sm.role) &
	       REPL_LK_ANNOUNCE;
}

/* The link to the primary, once its HELLO is in (NULL if none). */
static node_repl_link_t *upstream(node_repl_t *r)
{
	for (repl_peer_t *p = r->peers; p != NULL; p = p->next)
		if (p->link != NULL && !p->link->down && p->link->hello_seen &&
		    p->link->sm.role == REPL_ROLE_REPLICA)
			return p->link;
	return NULL;
}

/* --- this node's KDC: reports in; replica: LOCKOUT out ---------------------- */

void node_repl__lockout_report(node_repl_t *r, const ks_report_t *rep)
{
	if (rep->kind != KS_REPORT_LOCKOUT && r->role != REPL_ROLE_PRIMARY) {
		/* an operator's local change, or a load: never upstream */
		r->lk.replica_ignored++;
		return;
	}
	r->lk.reports++;
	if (!r->replicate_lockout)
		return; /* not listening then; a stale connection */
	(void)repl_coalesce_add(&r->lk_pending, rep->name, rep->name_len);
}

typedef struct read_job {
	node_repl_job_t job;
	node_repl_t *r;
	repl_coalesce_set_t set;
	ks_lockout_t *f; /* per name */
	bool *found;
} read_job_t;

static int read_run(node_repl_job_t *job)
{
	read_job_t *j = (read_job_t *)job;
	node_repl_t *r = j->r;

	if (!node_repl__kdb_usable(r))
		return KS_EKDB;
	for (size_t i = 0; i < j->set.n; i++) {
		int ret = bridge_lockout_read(
			r->bridge, repl_coalesce_name(&j->set, i), &j->f[i]);
		if (ret == KS_EOK)
			j->found[i] = true;
		else if (ret != KS_ENOENT)
			return ret;
	}
	return KS_EOK;
}

static void lockout_schedule(node_repl_t *r);
static void merge_submit(node_repl_t *r);

/* Put a set's names back (the link went away meanwhile). */
static void set_requeue(node_repl_t *r, const repl_coalesce_set_t *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const char *n = repl_coalesce_name(s, i);
		(void)repl_coalesce_add(&r->lk_pending, n, strlen(n));
	}
}

static void read_done(node_repl_job_t *job, int ret)
{
	read_job_t *j = (read_job_t *)job;
	node_repl_t *r = j->r;
	node_repl_link_t *l = upstream(r);

	r->lk_job = false;
	if (ret == KS_ECANCELED) {
		/* stopping */
	} else if (ret != KS_EOK) {
		ks_log_limited(KS_LOG_REPL, LOG_WARNING,
			       "lockout: cannot read %zu principals' lockout "
			       "fields (%s)",
			       j->set.n, ks_strerror(ret));
		r->lk.unsent += j->set.n;
	} else if (l == NULL) {
		set_requeue(r, &j->set);
	} else if (!(l->peer_caps & PROTO_CAP_LOCKOUT)) {
		r->lk.unsent += j->set.n;
	} else {
		for (size_t i = 0; i < j->set.n; i++) {
			const char *name = repl_coalesce_name(&j->set, i);
			proto_msg_t m = { .type = PROTO_MSG_LOCKOUT };
			if (!j->found[i]) {
				r->lk.gone++;
				continue;
			}
			m.u.lockout = (proto_lockout_t){
				.name = { (const uint8_t *)name, strlen(name) },
				.last_success = j->f[i].last_success,
				.last_failed = j->f[i].last_failed,
				.fail_auth_count = j->f[i].fail_auth_count,
			};
			if (node_repl__send_msg(l, &m) != KS_EOK) {
				r->lk.unsent++;
				continue;
			}
			r->lk.sent++;
		}
	}
	repl_coalesce_set_free(&j->set);
	free(j->f);
	free(j->found);
	free(j);
	if (!r->stopping) {
		merge_submit(r); /* a relay's downstream reports that came */
		lockout_schedule(r);
	}
}

/* A flush: take the pending names and read them on the worker (replica),
 * or capture them into the log (primary). */
static void lockout_flush(node_repl_t *r)
{
	node_repl_link_t *l = upstream(r);
	read_job_t *j;

	if (r->role == REPL_ROLE_PRIMARY || r->lk_in.names.n > 0) {
		/* a primary; or a relay with its downstream's reports to
		 * merge first (its done callback schedules the flush) */
		merge_submit(r);
		return;
	}
	if (r->lk_job || r->stopping ||
	    repl_coalesce_pending(&r->lk_pending) == 0)
		return;
	if (l == NULL)
		return; /* they wait for a link (the tick looks again) */
	if (!(l->peer_caps & PROTO_CAP_LOCKOUT)) {
		/* a primary without replicate_lockout: never sent */
		repl_coalesce_set_t s;
		repl_coalesce_take(&r->lk_pending, node_repl__now(r), &s);
		r->lk.unsent += s.n;
		repl_coalesce_set_free(&s);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return;
	j->job = (node_repl_job_t){ .run = read_run, .done = read_done };
	j->r = r;
	repl_coalesce_take(&r->lk_pending, node_repl__now(r), &j->set);
	j->f = calloc(j->set.n, sizeof(*j->f));
	j->found = calloc(j->set.n, sizeof(*j->found));
	if (j->f == NULL || j->found == NULL) {
		set_requeue(r, &j->set);
		read_done(&j->job, KS_ECANCELED);
		return;
	}
	r->lk.flushes++;
	r->lk_job = true;
	if (!node_repl__job(r, &j->job)) {
		r->lk_job = false;
		repl_coalesce_set_free(&j->set);
		free(j->f);
		free(j->found);
		free(j);
	}
}

static void on_lockout_timer(uv_timer_t *t)
{
	lockout_flush(t->data);
}

/* Start the flush timer for when the window allows. */
static void lockout_schedule(node_repl_t *r)
{
	uint64_t due;

	if (r->lk_job || !r->started || r->stopping)
		return; /* its done callback schedules again */
	due = repl_coalesce_due_in(&r->lk_pending, node_repl__now(r));
	if (due == UINT64_MAX || uv_is_active((uv_handle_t *)&r->lk_timer))
		return;
	uv_timer_start(&r->lk_timer, on_lockout_timer, due, 0);
}

void node_repl__lockout_kick(node_repl_t *r)
{
	lockout_schedule(r);
}

/* --- primary: LOCKOUT in, merged into the KDB and the log -------------------- */

bool node_repl__lockout_accepts(const node_repl_link_t *l)
{
	return repl_lockout_takes(
		repl_lockout_link(l->r->replicate_lockout, l->sm.role),
		l->hello_seen, l->peer_caps);
}

typedef struct merge_job {
	node_repl_job_t job;
	node_repl_t *r;
	repl_coalesce_set_t names; /* one entry per report, in order */
	ks_lockout_t *fields;
	repl_coalesce_set_t own; /* this node's KDC wrote these: capture */
	bool *changed;		 /* per name: the merge changed the KDB */
	int role;		 /* the node's role when submitted */
	uint64_t merged, unchanged, gone, refused, failed;
	uint64_t first, last; /* the log's seqs of the capture */
} merge_job_t;

static int merge_run(node_repl_job_t *job)
{
	merge_job_t *j = (merge_job_t *)job;
	node_repl_t *r = j->r;
	bridge_ref_t *refs = calloc(j->names.n + j->own.n + 1, sizeof(*refs));
	size_t n = 0;
	int ret = KS_EOK;

	if (refs == NULL)
		return KS_ENOMEM;
	for (size_t i = 0; i < j->own.n; i++)
		refs[n++] = (bridge_ref_t){ .type = STORE_KEY_PRINCIPAL,
					    .name = repl_coalesce_name(&j->own,
								       i) };
	for (size_t i = 0; i < j->names.n; i++) {
		const char *name = repl_coalesce_name(&j->names, i);
		bool changed = false;
		ret = bridge_lockout_merge(r->bridge, name, &j->fields[i],
					   &changed);
		if (ret == KS_ENOENT) {
			j->gone++;
			ks_log_limited(KS_LOG_REPL, LOG_INFO,
				       "lockout: a report names '%s', which "
				       "does not exist here; dropped",
				       name);
		} else if (ret == KS_EACCES) {
			j->refused++;
			ks_log_limited(KS_LOG_REPL, LOG_WARNING,
				       "lockout: refused a report for the "
				       "master key principal '%s'",
				       name);
		} else if (ret != KS_EOK) {
			j->failed++;
		} else if (repl_lockout_after(j->role, changed) ==
			   REPL_LK_CAPTURE) {
			j->merged++;
			refs[n++] = (bridge_ref_t){ .type = STORE_KEY_PRINCIPAL,
						    .name = name };
		} else if (changed) {
			j->merged++; /* a relay: forwarded by the loop */
			j->changed[i] = true;
		} else {
			j->unchanged++;
		}
	}
	/* the merged entries into the log at once, in one commit (a name
	 * twice is captured once as it is now) */
	ret = n > 0 ? bridge_capture(r->bridge, r->store, refs, n, &j->first,
				     &j->last)
		    : KS_EOK;
	free(refs);
	return ret;
}

static void merge_done(node_repl_job_t *job, int ret)
{
	merge_job_t *j = (merge_job_t *)job;
	node_repl_t *r = j->r;

	r->lk_job = false;
	r->lk.merged += j->merged;
	r->lk.unchanged += j->unchanged;
	r->lk.gone += j->gone;
	r->lk.rejected += j->refused;
	r->lk.failed += j->failed;
	/* a relay: what changed its KDB goes upstream, re-read at the next
	 * flush and coalesced with its own KDC's reports (lockout_route.h);
	 * never back down, where it came from (a node promoted meanwhile
	 * captures these names as its own KDC's writes instead) */
	for (size_t i = 0; j->changed != NULL && i < j->names.n; i++)
		if (j->changed[i]) {
			const char *name = repl_coalesce_name(&j->names, i);
			if (repl_coalesce_add(&r->lk_pending, name,
					      strlen(name)) == KS_EOK)
				r->lk.forwarded++;
		}
	if (ret == KS_EOK && j->last >= j->first && j->last != 0) {
		r->cap_changes += j->last - j->first + 1;
		node_repl__all_log_grew(r);
	} else if (ret != KS_EOK && ret != KS_ECANCELED) {
		/* merged into the KDB but not logged: the audit scan will */
		r->scan_due = true;
		ks_log_warn(REPL,
			    "lockout: %" PRIu64 " merged principals not "
			    "captured (%s); the next scan will",
			    j->merged, ks_strerror(ret));
	}
	repl_coalesce_set_free(&j->names);
	repl_coalesce_set_free(&j->own);
	free(j->fields);
	free(j->changed);
	free(j);
	if (!r->stopping) {
		merge_submit(r);
		lockout_schedule(r);
	}
}

/*
 * One job at a time: the replicas' reports queued so far, and a primary's
 * own KDC's lockout writes when their window allows (coalesced like a
 * replica's, so a busy KDC costs the log at most one change per principal
 * per window).  A relay merges its downstream's reports only (its own
 * KDC's go upstream through the read job).
 */
static void merge_submit(node_repl_t *r)
{
	bool primary = r->role == REPL_ROLE_PRIMARY;
	bool own = primary &&
		   repl_coalesce_due_in(&r->lk_pending, node_repl__now(r)) == 0;
	merge_job_t *j;

	if (r->lk_job || r->stopping || (r->lk_in.names.n == 0 && !own))
		return;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return; /* the next report tries again */
	j->job = (node_repl_job_t){ .run = merge_run, .done = merge_done };
	j->r = r;
	j->role = r->role;
	if (!primary && (j->changed = calloc(r->lk_in.names.n,
					     sizeof(*j->changed))) == NULL) {
		free(j);
		return; /* the next report or tick tries again */
	}
	if (own) {
		repl_coalesce_take(&r->lk_pending, node_repl__now(r), &j->own);
		r->lk.flushes++;
	}
	j->names = r->lk_in.names;
	j->fields = r->lk_in.fields;
	r->lk_in.names = (repl_coalesce_set_t){ .arena = KS_BUF_INIT };
	r->lk_in.fields = NULL;
	r->lk_in.cap = 0;
	r->lk_job = true;
	if (!node_repl__job(r, &j->job)) {
		r->lk_job = false;
		repl_coalesce_set_free(&j->names);
		repl_coalesce_set_free(&j->own);
		free(j->fields);
		free(j->changed);
		free(j);
	}
}

/* Queue one report for the merge job. */
static int in_add(node_repl_t *r, const proto_lockout_t *lk)
{
	repl_coalesce_set_t *s = &r->lk_in.names;
	size_t at = s->arena.len;
	int ret;

	if (s->n >= LK_IN_MAX)
		return KS_ELIMIT;
	if (s->n == r->lk_in.cap) {
		size_t cap = r->lk_in.cap ? 2 * r->lk_in.cap : 64;
		size_t *off = realloc(s->off, cap * sizeof(*off));
		if (off == NULL)
			return KS_ENOMEM;
		s->off = off;
		ks_lockout_t *f = realloc(r->lk_in.fields, cap * sizeof(*f));
		if (f == NULL)
			return KS_ENOMEM;
		r->lk_in.fields = f;
		r->lk_in.cap = cap;
	}
	ret = ks_buf_append(&s->arena, lk->name.ptr, lk->name.len);
	if (ret == KS_EOK)
		ret = ks_buf_append_u8(&s->arena, 0);
	if (ret != KS_EOK) {
		s->arena.len = at;
		return ret;
	}
	s->off[s->n] = at;
	r->lk_in.fields[s->n] =
		(ks_lockout_t){ .last_success = lk->last_success,
				.last_failed = lk->last_failed,
				.fail_auth_count = lk->fail_auth_count };
	s->n++;
	return KS_EOK;
}

int node_repl__on_lockout(node_repl_link_t *l, const proto_lockout_t *lk)
{
	node_repl_t *r = l->r;
	uint64_t now = (uint64_t)time(NULL);
	int ret;

	r->lk.received++;
	if ((uint64_t)lk->last_failed > now + LK_FUTURE_MAX ||
	    (uint64_t)lk->last_success > now + LK_FUTURE_MAX) {
		r->lk.rejected++;
		ks_log_limited(KS_LOG_REPL, LOG_WARNING,
			       "'%s': refused a lockout report for '%.*s' "
			       "dated more than %u s ahead of this node's "
			       "clock",
			       l->peer->name,
			       (int)(lk->name.len > 200 ? 200 : lk->name.len),
			       (const char *)lk->name.ptr, LK_FUTURE_MAX);
		return KS_EOK;
	}
	ret = in_add(r, lk);
	if (ret != KS_EOK) {
		/* the worker is behind by LK_IN_MAX reports: this one is
		 * lost, the replica's next write of that principal is not */
		r->lk.overflow++;
		ks_log_limited(KS_LOG_REPL, LOG_WARNING,
			       "'%s': lockout reports arrive faster than they "
			       "are merged; dropped one (%s)",
			       l->peer->name, ks_strerror(ret));
		return KS_EOK;
	}
	merge_submit(r);
	return KS_EOK;
}
