/* SPDX-License-Identifier: MIT */
/*
 * The database worker: one thread that owns the KDB (bridge/) and every
 * store write of the node, so that the event loop only does network I/O,
 * timers, the control socket and status.
 *
 * Queue (the only state shared between the threads):
 *   loop -> worker   node_repl_worker_submit() appends a job to a FIFO under
 *                    the worker's mutex and signals its condition variable;
 *                    the thread runs jobs one at a time, in order.
 *   worker -> loop   a finished job is appended to the done list under the
 *                    same mutex and a uv_async_t wakes the loop, which calls
 *                    each job's done callback in order.
 * A job is a caller-allocated node_repl_job_t (usually embedded in a larger
 * struct holding its inputs and outputs).  Its run callback executes on the
 * worker thread and may touch only the job's own memory, the store and the
 * bridge (and anything documented as owned by the worker); its done
 * callback executes on the loop thread and owns the job again (frees it).
 * The mutex hand-over orders every write made by run before done reads it.
 *
 * Each job runs holding the process-wide KDB lock (node/kdb_lock.h), so
 * the kprop listener's loads and the worker's jobs take turns.
 *
 * Background jobs: a run that returns KS_EINPROGRESS has started work that
 * goes on without the worker (the KDB check's child process, repl/kdb.c);
 * the job stays open.  The worker goes on with the jobs marked side_only
 * (they touch neither the live KDB nor the bridge's handle of it: the
 * staging of a full copy); it calls the open job's finish (which may
 * wait) as soon as the background work reports its end
 * (node_repl_worker_ready, from any thread), or before the first other
 * job, or before it exits, whichever comes first; only then is the open
 * job done.  One job at most is open at a time (a second background run
 * waits for the first to finish).
 *
 * Stop: node_repl_worker_stop() never blocks the loop.  Jobs not yet
 * started are not run (their done callback gets KS_ECANCELED); the job that
 * is running finishes; then the thread exits, the loop joins it (it has
 * already returned, so the join does not wait) and closes the async; only
 * then does stop's callback run.
 *
 * Ownership: node_repl_worker_t belongs to the engine (new .. stop ..
 * free).  All functions except run callbacks are loop-thread only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

typedef struct node_repl_worker node_repl_worker_t;
typedef struct node_repl_job node_repl_job_t;

/** Runs on the worker thread; returns 0 or KS_E*, passed to done. */
typedef int (*node_repl_job_run_cb)(node_repl_job_t *j);
/** Runs on the loop thread with run's result (KS_ECANCELED: not run). */
typedef void (*node_repl_job_done_cb)(node_repl_job_t *j, int ret);

struct node_repl_job {
	/* set by the caller */
	node_repl_job_run_cb run;
	node_repl_job_done_cb done;
	node_repl_job_run_cb finish; /* completes a run that returned
					KS_EINPROGRESS (NULL: run never
					does); worker thread */
	bool side_only;		     /* may run while a job is open */
	/* private */
	node_repl_job_t *next;
	int ret;
};

/** \brief Create the worker and start its thread. */
int node_repl_worker_new(uv_loop_t *loop, node_repl_worker_t **out);

/**
 * \brief Queue \p j (not copied: it must stay valid until its done
 *        callback).  After stop, done runs at once with KS_ECANCELED
 *        (deferred to the loop, never inside this call).
 */
void node_repl_worker_submit(node_repl_worker_t *w, node_repl_job_t *j);

/**
 * \brief The open background job's work has ended (any thread; before
 *        the work's thread exits, so that finish, which joins it, comes
 *        after): the worker finishes the job when it is next between jobs.
 */
void node_repl_worker_ready(node_repl_worker_t *w);

/** \brief Jobs queued or running (loop thread). */
size_t node_repl_worker_pending(const node_repl_worker_t *w);

/** \brief Finish asynchronously (see above); \p done(arg) runs from the
 *         loop once the thread is gone and the async closed. */
void node_repl_worker_stop(node_repl_worker_t *w, void (*done)(void *),
			   void *arg);

/** \brief Free after stop's callback.  NULL is fine. */
void node_repl_worker_free(node_repl_worker_t *w);
