/* SPDX-License-Identifier: MIT */
/*
 * The database worker (node/repl/worker.h) on a real libuv loop and a real
 * thread: jobs run off the loop thread, one at a time, in order; their done
 * callbacks run on the loop thread in the same order; the loop keeps
 * running timers while a long job runs; stop cancels the jobs not started,
 * lets the running one finish, and never blocks the loop; a job submitted
 * after stop is cancelled, its done deferred to the loop.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "node/repl/worker.h"
#include "helpers/test.h"

#define JOBS 64

typedef struct tjob {
	node_repl_job_t job;
	int id;
	unsigned sleep_ms;
	pthread_t ran_on; /* set by run */
	bool ran;
	int ret; /* what done got */
	struct tctx *ctx;
} tjob_t;

typedef struct tctx {
	uv_loop_t loop;
	node_repl_worker_t *w;
	pthread_t loop_thread;
	int order[JOBS + 8]; /* ids in done order */
	int n_done;
	bool done_on_loop;	  /* every done ran on the loop thread */
	int running_max, running; /* concurrency seen by run */
	pthread_mutex_t mu;
	int ticks; /* timer ticks while a long job ran */
	bool stopped;
	uv_timer_t timer;
} tctx_t;

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int run_cb(node_repl_job_t *job)
{
	tjob_t *j = (tjob_t *)job;
	tctx_t *c = j->ctx;

	pthread_mutex_lock(&c->mu);
	if (++c->running > c->running_max)
		c->running_max = c->running;
	pthread_mutex_unlock(&c->mu);
	j->ran_on = pthread_self();
	__atomic_store_n(&j->ran, true, __ATOMIC_RELEASE);
	if (j->sleep_ms)
		sleep_ms(j->sleep_ms);
	pthread_mutex_lock(&c->mu);
	c->running--;
	pthread_mutex_unlock(&c->mu);
	return j->id == 7 ? KS_EIO : KS_EOK; /* results are passed through */
}

static void done_cb(node_repl_job_t *job, int ret)
{
	tjob_t *j = (tjob_t *)job;
	tctx_t *c = j->ctx;

	if (!pthread_equal(pthread_self(), c->loop_thread))
		c->done_on_loop = false;
	j->ret = ret;
	c->order[c->n_done++] = j->id;
}

static void ctx_init(tctx_t *c)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(uv_loop_init(&c->loop), 0);
	c->loop_thread = pthread_self();
	c->done_on_loop = true;
	pthread_mutex_init(&c->mu, NULL);
	assert_ks_ok(node_repl_worker_new(&c->loop, &c->w));
}

static void on_stopped(void *arg)
{
	((tctx_t *)arg)->stopped = true;
}

static void ctx_deinit(tctx_t *c)
{
	if (!c->stopped)
		node_repl_worker_stop(c->w, on_stopped, c);
	assert_int_equal(uv_run(&c->loop, UV_RUN_DEFAULT), 0);
	assert_true(c->stopped);
	node_repl_worker_free(c->w);
	assert_int_equal(uv_loop_close(&c->loop), 0);
	pthread_mutex_destroy(&c->mu);
}

static void job_init(tjob_t *j, tctx_t *c, int id, unsigned sleep)
{
	*j = (tjob_t){ .job = { .run = run_cb, .done = done_cb },
		       .id = id,
		       .sleep_ms = sleep,
		       .ctx = c,
		       .ret = 1 };
}

/* Run the loop until n done callbacks ran. */
static void run_until(tctx_t *c, int n)
{
	while (c->n_done < n)
		uv_run(&c->loop, UV_RUN_ONCE);
}

static void test_order_and_threads(void **state)
{
	tctx_t c;
	tjob_t j[JOBS];

	(void)state;
	ctx_init(&c);
	for (int i = 0; i < JOBS; i++) {
		job_init(&j[i], &c, i, i % 8 == 0 ? 2 : 0);
		node_repl_worker_submit(c.w, &j[i].job);
	}
	assert_int_equal(node_repl_worker_pending(c.w), JOBS);
	assert_int_equal(c.n_done, 0); /* never inside submit */
	run_until(&c, JOBS);
	assert_int_equal(node_repl_worker_pending(c.w), 0);
	for (int i = 0; i < JOBS; i++) {
		assert_int_equal(c.order[i], i);
		assert_true(j[i].ran);
		assert_false(pthread_equal(j[i].ran_on, c.loop_thread));
		assert_int_equal(j[i].ret, i == 7 ? KS_EIO : KS_EOK);
	}
	assert_true(c.done_on_loop);
	assert_int_equal(c.running_max, 1); /* one at a time */
	ctx_deinit(&c);
}

static void on_tick(uv_timer_t *t)
{
	((tctx_t *)t->data)->ticks++;
}

static void on_timer_closed(uv_handle_t *h)
{
	(void)h;
}

/* A long job does not hold up the loop: its timer keeps firing. */
static void test_loop_free_while_busy(void **state)
{
	tctx_t c;
	tjob_t j;

	(void)state;
	ctx_init(&c);
	uv_timer_init(&c.loop, &c.timer);
	c.timer.data = &c;
	uv_timer_start(&c.timer, on_tick, 10, 10);
	job_init(&j, &c, 1, 400);
	node_repl_worker_submit(c.w, &j.job);
	run_until(&c, 1);
	/* 400 ms of work: a loop blocked by it would have ticked once or
	 * twice (libuv timers do not catch up) */
	assert_true(c.ticks >= 5);
	uv_close((uv_handle_t *)&c.timer, on_timer_closed);
	ctx_deinit(&c);
}

/* Stop while a job runs: the running one finishes (its result kept), the
 * queued ones are cancelled, later submissions are cancelled too; the
 * loop is not blocked meanwhile. */
static void test_stop(void **state)
{
	tctx_t c;
	tjob_t j[4], late;
	int running;

	(void)state;
	ctx_init(&c);
	job_init(&j[0], &c, 0, 500);
	node_repl_worker_submit(c.w, &j[0].job);
	for (int i = 1; i < 4; i++) {
		job_init(&j[i], &c, i, 0);
		node_repl_worker_submit(c.w, &j[i].job);
	}
	while (!__atomic_load_n(&j[0].ran, __ATOMIC_ACQUIRE))
		sleep_ms(1); /* the long one has started */
	node_repl_worker_stop(c.w, on_stopped, &c);
	/* stop returned without waiting for the running job */
	pthread_mutex_lock(&c.mu);
	running = c.running;
	pthread_mutex_unlock(&c.mu);
	assert_int_equal(running, 1);
	job_init(&late, &c, 9, 0);
	node_repl_worker_submit(c.w, &late.job);
	assert_int_equal(c.n_done, 0);
	assert_int_equal(uv_run(&c.loop, UV_RUN_DEFAULT), 0);
	assert_true(c.stopped);
	assert_int_equal(c.n_done, 5);
	assert_int_equal(j[0].ret, KS_EOK);
	for (int i = 1; i < 4; i++) {
		assert_false(j[i].ran);
		assert_int_equal(j[i].ret, KS_ECANCELED);
	}
	assert_false(late.ran);
	assert_int_equal(late.ret, KS_ECANCELED);
	assert_true(c.done_on_loop);
	node_repl_worker_free(c.w);
	assert_int_equal(uv_loop_close(&c.loop), 0);
	pthread_mutex_destroy(&c.mu);
}

/* Background jobs: what ran, in which order, on the worker thread. */
static char bg_log[16][16];
static int bg_n;

static void bg_note(tctx_t *c, const char *what, int id)
{
	pthread_mutex_lock(&c->mu);
	snprintf(bg_log[bg_n++], sizeof(bg_log[0]), "%s%d", what, id);
	pthread_mutex_unlock(&c->mu);
}

static int bg_run(node_repl_job_t *job)
{
	tjob_t *j = (tjob_t *)job;

	bg_note(j->ctx, "run", j->id);
	return j->job.finish != NULL ? KS_EINPROGRESS : KS_EOK;
}

static int bg_finish(node_repl_job_t *job)
{
	tjob_t *j = (tjob_t *)job;

	sleep_ms(j->sleep_ms);
	bg_note(j->ctx, "finish", j->id);
	return KS_EIO; /* finish's result is what done gets */
}

static void bg_init(tjob_t *j, tctx_t *c, int id, bool background,
		    bool side_only)
{
	job_init(j, c, id, 30);
	j->job.run = bg_run;
	j->job.finish = background ? bg_finish : NULL;
	j->job.side_only = side_only;
}

static void bg_expect(const char *const *want, int n)
{
	assert_int_equal(bg_n, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(bg_log[i], want[i]);
}

static void test_background(void **state)
{
	tctx_t c;
	tjob_t j[5];
	static const char *const want[] = { "run0",    "run1", "run2",
					    "finish0", "run3", "run4" };

	(void)state;
	bg_n = 0;
	ctx_init(&c);
	bg_init(&j[0], &c, 0, true, false); /* the background one */
	bg_init(&j[1], &c, 1, false, true); /* side only: while it runs */
	bg_init(&j[2], &c, 2, false, true);
	bg_init(&j[3], &c, 3, false, false); /* waits for its finish */
	bg_init(&j[4], &c, 4, false, true);
	for (int i = 0; i < 5; i++)
		node_repl_worker_submit(c.w, &j[i].job);
	run_until(&c, 5);
	bg_expect(want, 6);
	/* done in completion order: the background job once finished */
	assert_int_equal(c.order[0], 1);
	assert_int_equal(c.order[1], 2);
	assert_int_equal(c.order[2], 0);
	assert_int_equal(c.order[3], 3);
	assert_int_equal(c.order[4], 4);
	assert_int_equal(j[0].ret, KS_EIO);
	assert_int_equal(j[1].ret, KS_EOK);
	assert_true(c.done_on_loop);
	ctx_deinit(&c);
}

/* Stop with a background job open: it is finished before the thread
 * exits, its done gets finish's result; queued jobs are cancelled. */
static void test_background_stop(void **state)
{
	tctx_t c;
	tjob_t j[2];
	static const char *const want[] = { "run0", "finish0" };

	(void)state;
	bg_n = 0;
	ctx_init(&c);
	bg_init(&j[0], &c, 0, true, false);
	j[0].sleep_ms = 200;
	node_repl_worker_submit(c.w, &j[0].job);
	for (;;) { /* it ran and is open */
		pthread_mutex_lock(&c.mu);
		int n = bg_n;
		pthread_mutex_unlock(&c.mu);
		if (n > 0)
			break;
		sleep_ms(1);
	}
	bg_init(&j[1], &c, 1, false, false);
	node_repl_worker_submit(c.w, &j[1].job);
	node_repl_worker_stop(c.w, on_stopped, &c);
	assert_int_equal(uv_run(&c.loop, UV_RUN_DEFAULT), 0);
	assert_true(c.stopped);
	assert_int_equal(c.n_done, 2);
	/* job 1 may have been waiting for the finish or cancelled before
	 * it: never run */
	bg_expect(want, 2);
	assert_int_equal(j[0].ret, KS_EIO);
	assert_int_equal(j[1].ret, KS_ECANCELED);
	node_repl_worker_free(c.w);
	assert_int_equal(uv_loop_close(&c.loop), 0);
	pthread_mutex_destroy(&c.mu);
}

/* A background job whose work says it ended is finished at once, with
 * no other job to wait for. */
typedef struct rjob {
	tjob_t t;
	pthread_t thread;
} rjob_t;

static void *ready_main(void *arg)
{
	rjob_t *j = arg;

	sleep_ms(20);
	bg_note(j->t.ctx, "work", j->t.id);
	node_repl_worker_ready(j->t.ctx->w);
	return NULL;
}

static int ready_run(node_repl_job_t *job)
{
	rjob_t *j = (rjob_t *)job;

	bg_note(j->t.ctx, "run", j->t.id);
	assert_int_equal(pthread_create(&j->thread, NULL, ready_main, j), 0);
	return KS_EINPROGRESS;
}

static int ready_finish(node_repl_job_t *job)
{
	rjob_t *j = (rjob_t *)job;

	pthread_join(j->thread, NULL);
	bg_note(j->t.ctx, "finish", j->t.id);
	return KS_EOK;
}

static void test_background_ready(void **state)
{
	tctx_t c;
	rjob_t j;
	static const char *const want[] = { "run0", "work0", "finish0" };

	(void)state;
	bg_n = 0;
	ctx_init(&c);
	job_init(&j.t, &c, 0, 0);
	j.t.job.run = ready_run;
	j.t.job.finish = ready_finish;
	node_repl_worker_submit(c.w, &j.t.job);
	run_until(&c, 1); /* hangs (test timeout) if it waited for a job */
	bg_expect(want, 3);
	assert_int_equal(j.t.ret, KS_EOK);
	ctx_deinit(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_threads),
		cmocka_unit_test(test_loop_free_while_busy),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_background),
		cmocka_unit_test(test_background_stop),
		cmocka_unit_test(test_background_ready),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
