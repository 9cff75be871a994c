/* SPDX-License-Identifier: MIT */
/*
 * Random operations against a simple in-memory model: commits (with no-op
 * changes mixed in), log reads, retention trims, peer acks, new history ids,
 * reopening, and a replica kept in step by incremental batches, history
 * adoption or full snapshots.  After every step both stores pass
 * store_check() and equal the model.  Reproduce a failure with the printed
 * KS_TEST_SEED; KS_STORE_RANDOM_STEPS sets the number of steps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define RETAIN 40

typedef struct world {
	char *pdir, *rdir;
	store_t *p, *r;
	store_opts_t opts;
	model_t m;
	batch_t b;
	uint64_t seed;
	uint64_t peer_ack;
	bool have_ack;
} world_t;

/* The log entries from first on must be exactly the batch's real changes,
 * in order. */
struct expect_log {
	const batch_t *b;
	const bool *real;
	size_t idx;
	uint64_t n;
};

static int expect_cb(const store_log_entry_t *e, void *ctx)
{
	struct expect_log *x = ctx;
	const batch_t *b = x->b;
	while (x->idx < b->n && !x->real[x->idx])
		x->idx++;
	assert_true(x->idx < b->n);
	const store_change_t *c = &b->ch[x->idx++];
	assert_int_equal(e->op, c->op);
	test_assert_mem_eq(e->key.ptr, e->key.len, c->key.ptr, c->key.len);
	if (c->op == STORE_PUT)
		test_assert_mem_eq(e->value.ptr, e->value.len, c->value.ptr,
				   c->value.len);
	else
		assert_int_equal(e->value.len, 0);
	assert_int_equal(e->commit_time_us, 77);
	x->n++;
	return 0;
}

static void step_commit(world_t *w)
{
	store_meta_t before;
	static batch_t one;
	bool real[MODEL_MAX_BATCH];
	uint64_t want = 0;
	model_meta(w->p, &before);
	batch_gen(&w->b, &w->m, &w->seed, 1 + test_rand(&w->seed) % 20);
	/* which changes are real, one by one through the model */
	for (size_t i = 0; i < w->b.n; i++) {
		one.n = 1;
		one.id[0] = w->b.id[i];
		one.ch[0] = w->b.ch[i];
		real[i] = model_apply(&w->m, &one) == 1;
		want += real[i];
	}
	uint64_t f = 0, l = 0;
	assert_ks_ok(store_commit(w->p, w->b.ch, w->b.n, 77, &f, &l));
	assert_int_equal(f, before.last_seq + 1);
	assert_int_equal(l, before.last_seq + want);
	store_txn_t *t;
	struct expect_log x = { .b = &w->b, .real = real };
	assert_ks_ok(store_read_begin(w->p, &t));
	assert_ks_ok(store_log_foreach(t, f, expect_cb, &x));
	store_read_end(t);
	assert_int_equal(x.n, want);
}

static void step_trim(world_t *w)
{
	store_meta_t before, after;
	model_meta(w->p, &before);
	uint64_t keep = UINT64_MAX;
	if (w->have_ack)
		keep = w->peer_ack + 1;
	assert_ks_ok(store_log_trim(w->p, keep));
	model_meta(w->p, &after);
	/* count retention only (bytes and hard cap are out of reach here) */
	uint64_t target = before.oldest_seq;
	if (before.last_seq + 1 > RETAIN + before.oldest_seq) {
		uint64_t by_count = before.last_seq - RETAIN + 1;
		target = by_count < keep ? by_count : keep;
		if (target < before.oldest_seq)
			target = before.oldest_seq;
	}
	assert_int_equal(after.oldest_seq, target);
	assert_int_equal(after.last_seq, before.last_seq);
}

static void step_ack(world_t *w)
{
	store_meta_t pm;
	model_meta(w->p, &pm);
	uint64_t seq =
		pm.last_seq ? test_rand(&w->seed) % (pm.last_seq + 1) : 0;
	assert_ks_ok(store_peer_ack(w->p, "replica", seq));
	if (!w->have_ack || seq > w->peer_ack)
		w->peer_ack = seq;
	w->have_ack = true;
	store_txn_t *t;
	uint64_t got;
	assert_ks_ok(store_read_begin(w->p, &t));
	assert_ks_ok(store_peer_get(t, "replica", &got));
	store_read_end(t);
	assert_int_equal(got, w->peer_ack);
}

static void step_reopen(world_t *w)
{
	store_close(w->p);
	w->p = NULL;
	assert_ks_ok(store_open(w->pdir, &w->opts, &w->p));
}

static void step_new_history(world_t *w)
{
	store_meta_t a, b;
	model_meta(w->p, &a);
	assert_ks_ok(store_new_history(w->p));
	model_meta(w->p, &b);
	assert_memory_equal(b.prev_history, a.history, 16);
	assert_int_equal(b.prev_last_seq, a.last_seq);
	assert_memory_not_equal(b.history, a.history, 16);
}

/* Full snapshot of the primary into the replica through staging. */
struct stage_copy {
	store_t *r;
	struct copy_batch cb;
	store_change_t ch[64];
	size_t n;
};

static int stage_cb(ks_view_t k, ks_view_t v, void *ctx)
{
	struct stage_copy *sc = ctx;
	size_t i = sc->n++;
	ks_buf_reset(&sc->cb.keys[i]);
	ks_buf_reset(&sc->cb.vals[i]);
	assert_ks_ok(ks_buf_append(&sc->cb.keys[i], k.ptr, k.len));
	if (v.len)
		assert_ks_ok(ks_buf_append(&sc->cb.vals[i], v.ptr, v.len));
	sc->ch[i] = (store_change_t){ .op = STORE_PUT,
				      .key = ks_buf_view(&sc->cb.keys[i]),
				      .value = ks_buf_view(&sc->cb.vals[i]) };
	if (sc->n == 64) {
		assert_ks_ok(store_stage_put(sc->r, sc->ch, sc->n));
		sc->n = 0;
	}
	return 0;
}

static void snapshot(world_t *w)
{
	struct stage_copy *sc = calloc(1, sizeof(*sc));
	store_txn_t *t;
	store_meta_t pm;
	assert_non_null(sc);
	sc->r = w->r;
	assert_ks_ok(store_stage_begin(w->r));
	assert_ks_ok(store_read_begin(w->p, &t));
	assert_ks_ok(store_meta_get(t, &pm));
	assert_ks_ok(store_records_foreach(t, (ks_view_t){ 0 }, stage_cb, sc));
	store_read_end(t);
	if (sc->n)
		assert_ks_ok(store_stage_put(w->r, sc->ch, sc->n));
	assert_ks_ok(store_check(w->r));
	assert_ks_ok(
		store_stage_install(w->r, pm.history, pm.last_seq, pm.digest));
	copy_free(&sc->cb);
	free(sc);
}

static void step_replicate(world_t *w)
{
	store_meta_t pm, rm;
	struct copy_batch *cb = calloc(1, sizeof(*cb));
	assert_non_null(cb);
	model_meta(w->p, &pm);
	model_meta(w->r, &rm);
	if (memcmp(rm.applied_history, pm.history, 16) != 0) {
		int ret = store_adopt_history(w->r, pm.history, pm.prev_history,
					      pm.prev_last_seq);
		if (ret != 0) {
			assert_true(ret == KS_EHISTORY || ret == KS_ESTALE);
			snapshot(w);
		}
		model_meta(w->r, &rm);
	}
	if (rm.applied_seq + 1 < pm.oldest_seq) {
		snapshot(w); /* position trimmed away */
		model_meta(w->r, &rm);
	}
	size_t step = 1 + test_rand(&w->seed) % 64;
	while (rm.applied_seq < pm.last_seq) {
		store_batch_t b;
		read_batch(w->p, rm.applied_seq + 1, step, cb, &b);
		assert_ks_ok(store_apply(w->r, &b));
		model_meta(w->r, &rm);
	}
	copy_free(cb);
	free(cb);
	assert_ks_ok(store_check(w->r));
	model_meta(w->r, &rm);
	assert_memory_equal(rm.digest, pm.digest, 32);
	assert_int_equal(rm.applied_seq, pm.last_seq);
	model_verify(&w->m, w->r);
}

static void test_random_ops(void **state)
{
	(void)state;
	world_t *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	w->seed = test_seed();
	const char *env = getenv("KS_STORE_RANDOM_STEPS");
	int steps = env ? atoi(env) : 600;
	w->opts = (store_opts_t){ .retain_count = RETAIN,
				  .retain_bytes = UINT64_MAX / 4,
				  .hard_cap_bytes = UINT64_MAX / 2,
				  .map_size = 1 << 20,
				  .nosync = true };
	w->pdir = test_mkdtemp("prim");
	w->rdir = test_mkdtemp("repl");
	model_init(&w->m, 120);
	assert_ks_ok(store_open(w->pdir, &w->opts, &w->p));
	assert_ks_ok(store_open(w->rdir, &w->opts, &w->r));
	snapshot(w);
	unsigned counts[7] = { 0 };
	for (int i = 0; i < steps; i++) {
		unsigned k = (unsigned)(test_rand(&w->seed) % 100);
		unsigned op = k < 55   ? 0
			      : k < 67 ? 1
			      : k < 75 ? 2
			      : k < 80 ? 3
			      : k < 84 ? 4
				       : 5;
		counts[op]++;
		switch (op) {
		case 0:
			step_commit(w);
			break;
		case 1:
			step_trim(w);
			break;
		case 2:
			step_ack(w);
			break;
		case 3:
			step_reopen(w);
			break;
		case 4:
			step_new_history(w);
			break;
		default:
			step_replicate(w);
			break;
		}
		assert_ks_ok(store_check(w->p));
		model_verify(&w->m, w->p);
	}
	step_replicate(w);
	print_message(
		"random: %d steps: %u commits, %u trims, %u acks, %u reopens, %u new histories, %u replications\n",
		steps, counts[0], counts[1], counts[2], counts[3], counts[4],
		counts[5]);
	store_close(w->p);
	store_close(w->r);
	model_free(&w->m);
	batch_free(&w->b);
	test_rmtree_free(w->pdir);
	test_rmtree_free(w->rdir);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_ops),
	};
	return test_run_group(tests, NULL, NULL);
}
