/* SPDX-License-Identifier: MIT */
/*
 * node/loopstat.h on a real libuv loop: a callback that keeps the loop
 * busy is counted as one long iteration (wall and CPU time); time the loop
 * spends waiting for
 * a timer (idle in the poll) is not; the unreferenced prepare handle does
 * not keep the loop alive; close calls back once.
 */
#include <time.h>

#include <uv.h>

#include "common/errors.h"
#include "node/loopstat.h"
#include "helpers/test.h"

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	assert_int_equal(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts), 0);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Keep the CPU busy for \p ms of this thread's CPU time (so at least as
 * long in wall time, however loaded the machine). */
static void spin_ms(unsigned ms)
{
	uint64_t end = thread_cpu_ns() + (uint64_t)ms * 1000000u;

	while (thread_cpu_ns() < end)
		;
}

static void on_busy(uv_timer_t *t)
{
	spin_ms(40);
	uv_close((uv_handle_t *)t, NULL);
}

static void on_idle(uv_timer_t *t)
{
	uv_close((uv_handle_t *)t, NULL);
}

static void closed(void *arg)
{
	(*(int *)arg)++;
}

static void test_busy_and_idle(void **st)
{
	uv_loop_t loop;
	uv_timer_t t;
	node_loopstat_t *ls = NULL;
	node_status_loop_t s;
	int n_closed = 0;
	(void)st;

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_ks_ok(node_loopstat_new(&loop, &ls));
	/* a quiet wait of 150 ms: idle, not busy (bounds generous for a
	 * loaded machine: a preempted process looks busy) */
	uv_timer_init(&loop, &t);
	uv_timer_start(&t, on_idle, 150, 0);
	/* returns once the timer is closed: the prepare handle is unref'd */
	uv_run(&loop, UV_RUN_DEFAULT);
	node_loopstat_get(ls, &s);
	assert_true(s.present);
	assert_true(s.iterations >= 1);
	assert_int_equal(s.over_100ms, 0);
	assert_true(s.busy_max_us < 100000);

	/* a callback that runs 40 ms: one iteration over 10 ms */
	uv_timer_init(&loop, &t);
	uv_timer_start(&t, on_busy, 0, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	/* the busy iteration is counted at the next prepare: one more turn */
	uv_timer_init(&loop, &t);
	uv_timer_start(&t, on_idle, 1, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	node_loopstat_get(ls, &s);
	assert_true(s.over_10ms >= 1);
	assert_true(s.busy_max_us >= 35000);
	assert_true(s.busy_max_60s_us >= 35000);
	assert_true(s.busy_max_2s_us >= 35000);
	assert_true(s.busy.count == s.iterations);
	/* the spin is CPU time of the loop thread, preempted or not */
	assert_true(s.cpu_max_us >= 35000);
	assert_true(s.cpu_max_2s_us >= 35000);
	assert_true(s.cpu_over_10ms >= 1);

	node_loopstat_close(ls, closed, &n_closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(n_closed, 1);
	node_loopstat_free(ls);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_null(void **st)
{
	node_status_loop_t s = { .present = true, .iterations = 3 };
	(void)st;
	node_loopstat_get(NULL, &s);
	assert_false(s.present);
	assert_int_equal(s.iterations, 0);
	node_loopstat_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_busy_and_idle),
		cmocka_unit_test(test_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
