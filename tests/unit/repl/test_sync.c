/* SPDX-License-Identifier: MIT */
/*
 * node/repl/sync.c: synchronous mode's table of waiting writes.  Requests
 * are answered exactly once: at once when nothing is wanted, when degraded
 * or already acknowledged; by the quorum seq (the N-th highest ack) in any
 * order of arrival; at their deadline, which degrades the node and answers
 * every other waiting one; the node returns to sync only when N replicas
 * reached the log's last seq.
 */
#include <stdlib.h>
#include <string.h>

#include "node/repl/sync.h"
#include "helpers/test.h"

typedef struct answers {
	uint64_t id[64];
	size_t n;
} answers_t;

static void answer(void *ctx, uint64_t conn, uint64_t id)
{
	answers_t *a = ctx;
	assert_int_equal(conn, id * 10); /* the pair comes back together */
	assert_true(a->n < 64);
	a->id[a->n++] = id;
}

static void add(repl_sync_t *s, answers_t *a, uint64_t seq, uint64_t id,
		uint64_t now, uint64_t quorum)
{
	assert_ks_ok(
		repl_sync_add(s, seq, id * 10, id, now, quorum, answer, a));
}

static void test_quorum(void **state)
{
	(void)state;
	uint64_t v[] = { 5, 9, 7 };
	assert_int_equal(repl_sync_quorum(v, 3, 1), 9);
	uint64_t w[] = { 5, 9, 7 };
	assert_int_equal(repl_sync_quorum(w, 3, 2), 7);
	uint64_t x[] = { 5, 9, 7 };
	assert_int_equal(repl_sync_quorum(x, 3, 3), 5);
	uint64_t y[] = { 5, 9 };
	assert_int_equal(repl_sync_quorum(y, 2, 3), 0); /* too few */
	assert_int_equal(repl_sync_quorum(y, 2, 0), 0);
	assert_int_equal(repl_sync_quorum(NULL, 0, 1), 0);
}

static void test_off_answers_at_once(void **state)
{
	(void)state;
	repl_sync_t s;
	answers_t a = { 0 };
	repl_sync_init(&s, 0, 2000);
	add(&s, &a, 100, 1, 0, 0);
	assert_int_equal(a.n, 1);
	assert_int_equal(s.n, 0);
	assert_string_equal(repl_sync_state(&s), "off");
	assert_false(repl_sync_expire(&s, 1000000, answer, &a));
	assert_false(s.degraded);
	repl_sync_deinit(&s);
}

static void test_acks_answer_in_seq_order(void **state)
{
	(void)state;
	repl_sync_t s;
	answers_t a = { 0 };
	repl_sync_init(&s, 1, 2000);
	add(&s, &a, 10, 1, 0, 9);
	add(&s, &a, 12, 2, 0, 9);
	add(&s, &a, 11, 3, 0, 9);
	add(&s, &a, 9, 4, 0, 9); /* already acknowledged */
	assert_int_equal(a.n, 1);
	assert_int_equal(a.id[0], 4);
	assert_int_equal(s.n, 3);
	assert_false(repl_sync_progress(&s, 10, 12, answer, &a));
	assert_int_equal(a.n, 2);
	assert_int_equal(a.id[1], 1);
	assert_false(repl_sync_progress(&s, 11, 12, answer, &a));
	assert_int_equal(a.n, 3);
	assert_int_equal(a.id[2], 3);
	assert_false(repl_sync_progress(&s, 12, 12, answer, &a));
	assert_int_equal(a.n, 4);
	assert_int_equal(a.id[3], 2);
	assert_int_equal(s.n, 0);
	assert_int_equal(s.acked, 4);
	assert_int_equal(s.timeouts, 0);
	assert_string_equal(repl_sync_state(&s), "sync");
	/* nothing is answered twice */
	assert_false(repl_sync_progress(&s, 100, 100, answer, &a));
	assert_false(repl_sync_expire(&s, 100000, answer, &a));
	assert_int_equal(a.n, 4);
	repl_sync_deinit(&s);
}

static void test_timeout_degrades_and_recovers(void **state)
{
	(void)state;
	repl_sync_t s;
	answers_t a = { 0 };
	repl_sync_init(&s, 1, 2000);
	add(&s, &a, 20, 1, 1000, 19);
	add(&s, &a, 21, 2, 2500, 19);
	assert_false(repl_sync_expire(&s, 2999, answer, &a)); /* not yet */
	assert_int_equal(a.n, 0);
	assert_true(repl_sync_expire(&s, 3000, answer, &a));
	/* the late one, then every other waiting one */
	assert_int_equal(a.n, 2);
	assert_int_equal(a.id[0], 1);
	assert_int_equal(a.id[1], 2);
	assert_true(s.degraded);
	assert_int_equal(s.degradations, 1);
	assert_int_equal(s.timeouts, 1);
	assert_string_equal(repl_sync_state(&s), "degraded");
	/* degraded: answered at once, nothing kept */
	add(&s, &a, 22, 3, 3100, 19);
	assert_int_equal(a.n, 3);
	assert_int_equal(s.n, 0);
	/* an ack short of the last seq: still degraded */
	assert_false(repl_sync_progress(&s, 21, 22, answer, &a));
	assert_true(s.degraded);
	/* caught up: synchronous again, and requests wait again */
	assert_true(repl_sync_progress(&s, 22, 22, answer, &a));
	assert_false(s.degraded);
	add(&s, &a, 23, 4, 4000, 22);
	assert_int_equal(a.n, 3);
	assert_int_equal(s.n, 1);
	assert_false(repl_sync_progress(&s, 23, 23, answer, &a));
	assert_int_equal(a.n, 4);
	assert_int_equal(a.id[3], 4);
	repl_sync_deinit(&s);
}

static void test_flush_answers_all(void **state)
{
	(void)state;
	repl_sync_t s;
	answers_t a = { 0 };
	repl_sync_init(&s, 2, 2000);
	for (uint64_t i = 1; i <= 40; i++) /* past the first allocation */
		add(&s, &a, 100 + i, i, 0, 0);
	assert_int_equal(s.n, 40);
	repl_sync_flush(&s, answer, &a);
	assert_int_equal(a.n, 40);
	for (size_t i = 0; i < 40; i++)
		assert_int_equal(a.id[i], i + 1);
	assert_int_equal(s.n, 0);
	assert_false(s.degraded);
	repl_sync_deinit(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quorum),
		cmocka_unit_test(test_off_answers_at_once),
		cmocka_unit_test(test_acks_answer_in_seq_order),
		cmocka_unit_test(test_timeout_degrades_and_recovers),
		cmocka_unit_test(test_flush_answers_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
