/* SPDX-License-Identifier: MIT */
/* The database worker thread and its two queues (worker.h). */
#include "node/repl/worker.h"

#include <stdlib.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/thread.h"
#include "node/kdb_lock.h"

struct node_repl_worker {
	uv_loop_t *loop;
	uv_thread_t thread;
	uv_async_t async; /* worker -> loop: done jobs, exit */
	uv_mutex_t mu;	  /* guards everything below */
	uv_cond_t cond;	  /* loop -> worker: a job, or stop */
	node_repl_job_t *head, *tail;
	node_repl_job_t *done_head, *done_tail;
	node_repl_job_t *open; /* worker thread only: a background job */
	bool open_ready;       /* its work ended: finish it now */
	bool stopping, exited;
	/* loop thread only */
	size_t pending;
	bool joined;
	void (*stopped)(void *);
	void *stopped_arg;
};

static void push(node_repl_job_t **head, node_repl_job_t **tail,
		 node_repl_job_t *j)
{
	j->next = NULL;
	if (*tail != NULL)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

/* Run a job's step under the KDB lock (the KDB has one user at a time). */
static int run_locked(node_repl_job_run_cb fn, node_repl_job_t *j)
{
	node_kdb_lock();
	int ret = fn(j);
	node_kdb_unlock();
	return ret;
}

/* Called with w->mu held, returns with it held. */
static void finish_open(node_repl_worker_t *w)
{
	node_repl_job_t *j = w->open;

	w->open = NULL;
	uv_mutex_unlock(&w->mu);
	int ret = run_locked(j->finish, j);
	uv_mutex_lock(&w->mu);
	w->open_ready = false; /* its work's thread has said so, and ended */
	j->ret = ret;
	push(&w->done_head, &w->done_tail, j);
	uv_async_send(&w->async);
}

static void worker_main(void *arg)
{
	node_repl_worker_t *w = arg;

	ks_thread_background(); /* the loop comes first (common/thread.h) */
	uv_mutex_lock(&w->mu);
	for (;;) {
		while (w->head == NULL && !w->stopping &&
		       !(w->open != NULL && w->open_ready))
			uv_cond_wait(&w->cond, &w->mu);
		if (w->stopping)
			break;
		node_repl_job_t *j = w->head;
		if (w->open != NULL && (w->open_ready || !j->side_only)) {
			finish_open(w); /* ended, or needed before j */
			continue;
		}
		w->head = j->next;
		if (w->head == NULL)
			w->tail = NULL;
		uv_mutex_unlock(&w->mu);
		int ret = run_locked(j->run, j);
		uv_mutex_lock(&w->mu);
		if (ret == KS_EINPROGRESS && j->finish != NULL) {
			w->open = j;
			continue;
		}
		j->ret = ret;
		push(&w->done_head, &w->done_tail, j);
		uv_async_send(&w->async);
	}
	if (w->open != NULL)
		finish_open(w);
	/* not started: cancelled */
	while (w->head != NULL) {
		node_repl_job_t *j = w->head;
		w->head = j->next;
		j->ret = KS_ECANCELED;
		push(&w->done_head, &w->done_tail, j);
	}
	w->tail = NULL;
	w->exited = true;
	uv_async_send(&w->async);
	uv_mutex_unlock(&w->mu);
}

static void on_async_closed(uv_handle_t *h)
{
	node_repl_worker_t *w = h->data;

	if (w->stopped != NULL)
		w->stopped(w->stopped_arg);
}

static void on_async(uv_async_t *a)
{
	node_repl_worker_t *w = a->data;
	node_repl_job_t *list;
	bool exited;

	uv_mutex_lock(&w->mu);
	list = w->done_head;
	w->done_head = w->done_tail = NULL;
	exited = w->exited;
	uv_mutex_unlock(&w->mu);
	while (list != NULL) {
		node_repl_job_t *j = list;
		list = j->next;
		w->pending--;
		j->done(j, j->ret);
	}
	if (exited && !w->joined) {
		/* the thread posted its exit as its last act: no wait here */
		uv_thread_join(&w->thread);
		w->joined = true;
		uv_close((uv_handle_t *)&w->async, on_async_closed);
	}
}

int node_repl_worker_new(uv_loop_t *loop, node_repl_worker_t **out)
{
	node_repl_worker_t *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return KS_ENOMEM;
	w->loop = loop;
	if (uv_mutex_init(&w->mu) != 0) {
		free(w);
		return KS_ENOMEM;
	}
	if (uv_cond_init(&w->cond) != 0) {
		uv_mutex_destroy(&w->mu);
		free(w);
		return KS_ENOMEM;
	}
	if (uv_async_init(loop, &w->async, on_async) != 0)
		goto fail;
	w->async.data = w;
	if (uv_thread_create(&w->thread, worker_main, w) != 0) {
		/* close the async; free from its callback would need a stop:
		 * run it dry synchronously instead (nothing is queued) */
		w->joined = true;
		uv_close((uv_handle_t *)&w->async, NULL);
		ks_log_err(REPL, "cannot start the database worker thread");
		*out = w; /* freed by node_repl_worker_free after the loop */
		return KS_ENOMEM;
	}
	*out = w;
	return KS_EOK;
fail:
	uv_cond_destroy(&w->cond);
	uv_mutex_destroy(&w->mu);
	free(w);
	return KS_ENOMEM;
}

void node_repl_worker_submit(node_repl_worker_t *w, node_repl_job_t *j)
{
	uv_mutex_lock(&w->mu);
	w->pending++;
	if (w->stopping) {
		j->ret = KS_ECANCELED;
		push(&w->done_head, &w->done_tail, j);
		if (!w->exited || !w->joined)
			uv_async_send(&w->async);
	} else {
		push(&w->head, &w->tail, j);
		uv_cond_signal(&w->cond);
	}
	uv_mutex_unlock(&w->mu);
}

void node_repl_worker_ready(node_repl_worker_t *w)
{
	uv_mutex_lock(&w->mu);
	w->open_ready = true;
	uv_cond_signal(&w->cond);
	uv_mutex_unlock(&w->mu);
}

size_t node_repl_worker_pending(const node_repl_worker_t *w)
{
	return w->pending;
}

void node_repl_worker_stop(node_repl_worker_t *w, void (*done)(void *),
			   void *arg)
{
	w->stopped = done;
	w->stopped_arg = arg;
	uv_mutex_lock(&w->mu);
	w->stopping = true;
	uv_cond_signal(&w->cond);
	uv_mutex_unlock(&w->mu);
}

void node_repl_worker_free(node_repl_worker_t *w)
{
	if (w == NULL)
		return;
	uv_cond_destroy(&w->cond);
	uv_mutex_destroy(&w->mu);
	free(w);
}
