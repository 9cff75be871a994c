/* SPDX-License-Identifier: MIT */
/*
 * The replica's KDB health: check it at start and after an apply failed in
 * the KDB; when damaged, rebuild it from the store (the store holds every
 * record) through a side database renamed over the live one, so krb5kdc
 * serves the old file until the swap; when that is impossible, stay up,
 * say why in status, apply nothing, and try again every
 * REPL_KDB_RETRY_MS (an operator's fix is picked up without a restart).
 *
 * The check (node/kdb_check.h) runs in a child process: a torn DB2 file can
 * crash libkdb5, and a crash here would be a crash loop.  The job runs on
 * the worker; while it does, the worker's own KDB handle is closed and
 * r->kdb_bad (worker) keeps every later job away from the live KDB until
 * it is sound again.  The loop keeps the state shown by status.
 *
 * The child reads the whole KDB (seconds at a million principals), so the
 * job is a background one (worker.h): a thread of its own waits for the
 * child, and meanwhile the worker stages a full copy (side-only jobs: they
 * touch no live KDB), which would otherwise wait for the verdict; the
 * verdict is taken as soon as the child answers, and every other job waits
 * for it, the install of that copy too (its merge of the live lockout
 * fields reads the live KDB only once it is known sound).
 * Without a child (a program other than kdcsyncd checks in its own
 * process) the check runs on the worker itself, as a plain job.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/time.h"
#include "node/kdb_check.h"
#include "node/repl/repl_int.h"

enum kdb_outcome {
	KDB_SOUND,	/* checked: sound, open */
	KDB_REBUILT,	/* damaged, rebuilt from the store, open */
	KDB_AWAIT_COPY, /* damaged, the store is empty: a full copy */
	KDB_UNFIXABLE,	/* damaged (or unusable), not rebuilt */
	KDB_UNCHECKED,	/* the check could not run: opened as before */
};

typedef struct kdb_job {
	node_repl_job_t job;
	node_repl_t *r;
	char reason[48];
	int outcome; /* enum kdb_outcome */
	char why[300];
	uint64_t records, ms;
	uint64_t t0;		    /* ks_mono_ns() at the start */
	bool threaded;		    /* the child is waited for by thread */
	node_repl_worker_t *worker; /* told when the verdict is in */
	uv_thread_t thread;
	int check_ret;	  /* node_kdb_check()'s result ... */
	bridge_check_t c; /* ... and verdict (thread, then worker) */
} kdb_job_t;

bool node_repl__kdb_usable(const node_repl_t *r)
{
	return r->bridge != NULL && !r->kdb_bad;
}

bool node_repl__kdb_suspect(int code)
{
	switch (code) {
	case KS_EOK:
	case KS_EMALF:	  /* the batch, not the KDB */
	case KS_EMKEY:	  /* the stash */
	case KS_EKDBFULL: /* nothing was written */
	case KS_EKDBLOCK: /* busy */
	case KS_ENOMEM:
	case KS_ECANCELED:
	case KS_EDIGEST:
	case KS_ESTATE:
	case KS_EKDBDAMAGED: /* known already */
		return false;
	default:
		return true;
	}
}

/* Damaged: rebuild from the store, then check again. */
static void rebuild(kdb_job_t *j, const char *damage)
{
	node_repl_t *r = j->r;
	store_meta_t m;
	bridge_check_t c;
	int ret = node_repl__meta(r->store, &m);

	if (ret == KS_EOK && m.record_count == 0) {
		snprintf(
			j->why, sizeof(j->why),
			"KDB damaged (%.160s); the store is empty: waiting for "
			"a full copy from the primary",
			damage);
		j->outcome = KDB_AWAIT_COPY;
		return;
	}
	if (r->load != NULL) {
		/* one side database at a time: the copy starts again */
		ks_log_warn(KDB, "the full copy being received is abandoned: "
				 "the damaged KDB is rebuilt from the store "
				 "first");
		node_repl__load_abort(r);
	}
	atomic_store(&r->kdb_phase, REPL_KDB_PHASE_REBUILD);
	ks_log_warn(
		KDB,
		"KDB damaged (%.160s): rebuilding it from the store (%" PRIu64
		" records at seq %" PRIu64
		") in a side database; krb5kdc serves the old file until "
		"the swap; lockout counters are not merged from the "
		"damaged KDB (they start at zero)",
		damage, m.record_count, m.applied_seq);
	if (ret == KS_EOK)
		ret = bridge_rebuild(r->bridge, r->store, &j->records);
	if (ret != KS_EOK) {
		snprintf(j->why, sizeof(j->why),
			 "KDB damaged (%.160s); rebuilding it from the store "
			 "failed (%s): not applying",
			 damage, ks_strerror(ret));
		j->outcome = KDB_UNFIXABLE;
		return;
	}
	ret = node_kdb_check(r->kdc_profile, &c);
	if (ret == KS_EOK)
		ret = bridge_db_open(r->bridge);
	if (ret != KS_EOK) {
		snprintf(
			j->why, sizeof(j->why),
			"KDB rebuilt from the store but still unusable (%.160s): "
			"not applying",
			ret == KS_EKDBDAMAGED ? c.why : ks_strerror(ret));
		j->outcome = KDB_UNFIXABLE;
		return;
	}
	snprintf(j->why, sizeof(j->why),
		 "KDB rebuilt from the store (%" PRIu64
		 " records) after damage: %.160s",
		 j->records, damage);
	j->outcome = KDB_REBUILT;
}

/* The background check's thread: it only waits for the child. */
static void check_main(void *arg)
{
	kdb_job_t *j = arg;

	j->check_ret = node_kdb_check(j->r->kdc_profile, &j->c);
	node_repl_worker_ready(j->worker); /* the verdict is in */
}

/* The verdict: the bridge's handle opened again, or the KDB rebuilt. */
static int kdb_finish(node_repl_job_t *job)
{
	kdb_job_t *j = (kdb_job_t *)job;
	node_repl_t *r = j->r;
	bridge_check_t c;
	int ret;

	if (j->threaded)
		uv_thread_join(&j->thread); /* the child's verdict */
	ret = j->check_ret;
	c = j->c;
	if (ret == KS_EOK) {
		ret = bridge_db_open(r->bridge);
		if (ret == KS_EOK) {
			j->outcome = KDB_SOUND;
			j->records = c.principals + c.policies;
		} else {
			snprintf(j->why, sizeof(j->why),
				 "the KDB reads fine but cannot be opened "
				 "for writing (%s): not applying",
				 ks_strerror(ret));
			j->outcome = KDB_UNFIXABLE;
		}
	} else if (ret == KS_EKDBDAMAGED) {
		rebuild(j, c.why);
	} else {
		/* the check itself could not run: go on as before it */
		snprintf(j->why, sizeof(j->why),
			 "the KDB check could not run (%s)", ks_strerror(ret));
		j->outcome = KDB_UNCHECKED;
		if (bridge_db_open(r->bridge) != KS_EOK)
			j->outcome = KDB_UNFIXABLE;
	}
	r->kdb_bad = j->outcome != KDB_SOUND && j->outcome != KDB_REBUILT &&
		     j->outcome != KDB_UNCHECKED;
	atomic_store(&r->kdb_phase, REPL_KDB_PHASE_IDLE);
	j->ms = (ks_mono_ns() - j->t0) / 1000000u;
	return KS_EOK;
}

static int kdb_run(node_repl_job_t *job)
{
	kdb_job_t *j = (kdb_job_t *)job;
	node_repl_t *r = j->r;

	atomic_store(&r->kdb_phase, REPL_KDB_PHASE_CHECK);
	j->t0 = ks_mono_ns();
	r->kdb_bad = true; /* until the verdict */
	bridge_db_close(r->bridge);
	if (node_kdb_check_isolated() &&
	    uv_thread_create(&j->thread, check_main, j) == 0) {
		j->threaded = true;
		return KS_EINPROGRESS; /* kdb_finish before the next job
					  that is not side-only */
	}
	j->check_ret = node_kdb_check(r->kdc_profile, &j->c);
	return kdb_finish(job);
}

static void kdb_done(node_repl_job_t *job, int ret)
{
	kdb_job_t *j = (kdb_job_t *)job;
	node_repl_t *r = j->r;

	r->kdb_check_pending = false;
	if (ret == KS_ECANCELED) {
		free(j);
		return;
	}
	r->kdb_checks++;
	r->kdb_blocked = j->outcome == KDB_UNFIXABLE;
	r->kdb_retry_at_ms = node_repl__now(r) + REPL_KDB_RETRY_MS;
	switch (j->outcome) {
	case KDB_SOUND:
		r->kdb_error[0] = '\0';
		ks_log_info(KDB,
			    "KDB check (%s): sound, %" PRIu64
			    " records, %" PRIu64 " ms",
			    j->reason, j->records, j->ms);
		break;
	case KDB_REBUILT:
		r->kdb_error[0] = '\0';
		r->kdb_rebuilds++;
		snprintf(r->kdb_last_rebuild, sizeof(r->kdb_last_rebuild), "%s",
			 j->why);
		ks_log_notice(KDB, "%s (%" PRIu64 " ms)", j->why, j->ms);
		break;
	case KDB_UNCHECKED:
		r->kdb_error[0] = '\0';
		ks_log_warn(KDB, "%s", j->why);
		break;
	default:
		snprintf(r->kdb_error, sizeof(r->kdb_error), "%s", j->why);
		ks_log_err(KDB, "%s%s", j->why,
			   j->outcome == KDB_UNFIXABLE
				   ? "; the node stays up and tries again"
				   : "");
		break;
	}
	free(j);
}

void node_repl__kdb_check(node_repl_t *r, const char *reason)
{
	kdb_job_t *j;

	if (r->role != REPL_ROLE_REPLICA || r->bridge == NULL ||
	    r->kdb_check_pending)
		return;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return;
	*j = (kdb_job_t){ .job = { .run = kdb_run,
				   .done = kdb_done,
				   .finish = kdb_finish },
			  .r = r,
			  .worker = r->worker };
	snprintf(j->reason, sizeof(j->reason), "%s", reason);
	if (!node_repl__job(r, &j->job)) {
		free(j);
		return;
	}
	r->kdb_check_pending = true;
}

void node_repl__kdb_tick(node_repl_t *r, uint64_t now)
{
	if (r->kdb_error[0] != '\0' && !r->kdb_check_pending &&
	    now >= r->kdb_retry_at_ms)
		node_repl__kdb_check(r, "retry");
}

void node_repl__kdb_status(node_repl_t *r, node_status_repl_t *out)
{
	int phase = atomic_load(&r->kdb_phase);

	if (r->role != REPL_ROLE_REPLICA)
		return;
	snprintf(out->kdb_state, sizeof(out->kdb_state), "%s",
		 phase == REPL_KDB_PHASE_REBUILD ? "rebuilding"
		 : phase == REPL_KDB_PHASE_CHECK ? "checking"
		 : r->kdb_error[0]		 ? "damaged"
						 : "ok");
	if (phase == REPL_KDB_PHASE_REBUILD)
		snprintf(out->kdb_error, sizeof(out->kdb_error),
			 "rebuilding the damaged KDB from the store; krb5kdc "
			 "serves the old file until the swap");
	else
		snprintf(out->kdb_error, sizeof(out->kdb_error), "%s",
			 r->kdb_error);
	snprintf(out->kdb_last_rebuild, sizeof(out->kdb_last_rebuild), "%s",
		 r->kdb_last_rebuild);
	out->kdb_rebuilds = r->kdb_rebuilds;
	out->kdb_checks = r->kdb_checks;
}
