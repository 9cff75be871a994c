/* SPDX-License-Identifier: MIT */
/*
 * kdcsync promote at the store level (node_repl_promote_store): a real LMDB
 * store as a replica's (snapshot at seq 10, then a batch to 12) is promoted
 * to a new history remembering (old id, 12); the primary's resume decision
 * over the promoted window continues the old primary's replicas; a store
 * without a position, a primary's own store and a second promotion are
 * refused and change nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/repl/repl.h"
#include "node/repl/sm.h"
#include "store/store.h"
#include "helpers/test.h"

static const uint8_t H1[16] = { 0x11, 1, 2,  3,	 4,  5,	 6,  7,
				8,    9, 10, 11, 12, 13, 14, 15 };

static store_meta_t meta(store_t *s)
{
	store_txn_t *t = NULL;
	store_meta_t m;
	assert_ks_ok(store_read_begin(s, &t));
	assert_ks_ok(store_meta_get(t, &m));
	store_read_end(t);
	return m;
}

static store_change_t put(const char *k, const char *v)
{
	return (store_change_t){ .op = STORE_PUT,
				 .key = { (const uint8_t *)k, strlen(k) },
				 .value = { (const uint8_t *)v, strlen(v) } };
}

/* A replica's store: snapshot (H1, 10) of two records, batch 11..12. */
static store_t *replica_store(const char *dir)
{
	store_t *s = NULL;
	store_change_t snap[2] = { put("Pa@R", "a1"), put("Pb@R", "b1") };
	store_change_t ch[2] = { put("Pa@R", "a2"), put("Pc@R", "c1") };
	assert_ks_ok(store_open(dir, NULL, &s));
	assert_ks_ok(store_stage_begin(s));
	assert_ks_ok(store_stage_put(s, snap, 2));
	assert_ks_ok(store_stage_install(s, H1, 10, NULL));
	store_batch_t b = { .first_seq = 11, .ch = ch, .n = 2 };
	memcpy(b.history, H1, 16);
	assert_ks_ok(store_apply(s, &b));
	return s;
}

static void test_promote_replica(void **state)
{
	char *dir = test_mkdtemp("ks-promote");
	char why[300] = "";
	store_meta_t before, after;
	(void)state;
	store_t *s = replica_store(dir);
	assert_false(node_repl_store_promoted(&(store_meta_t){ 0 }));
	before = meta(s);
	assert_false(node_repl_store_promoted(&before));
	assert_ks_ok(
		node_repl_promote_store(s, NULL, &after, why, sizeof(why)));
	assert_memory_not_equal(after.history, H1, 16);
	assert_memory_equal(after.prev_history, H1, 16);
	assert_int_equal(after.prev_last_seq, 12);
	assert_int_equal(after.last_seq, 12);
	assert_memory_equal(after.digest, before.digest, 32);
	assert_true(node_repl_store_promoted(&after));

	/* A replica of the old primary at 12 (or 11) continues. */
	repl_sm_window_t w;
	memcpy(w.history, after.history, 16);
	w.last_seq = after.last_seq;
	w.oldest_seq = after.oldest_seq;
	memcpy(w.prev_history, after.prev_history, 16);
	w.prev_last_seq = after.prev_last_seq;
	assert_int_equal(repl_sm_decide(&w, H1, 12, NULL),
			 REPL_RESUME_PREVIOUS);
	assert_int_equal(repl_sm_decide(&w, H1, 11, NULL),
			 REPL_RESUME_PREVIOUS);
	assert_int_equal(repl_sm_decide(&w, H1, 10, NULL),
			 REPL_RESUME_PREVIOUS);
	/* before the snapshot: those entries were never in this log */
	assert_int_equal(repl_sm_decide(&w, H1, 9, NULL), REPL_RESUME_FULL);

	/* The promoted node commits under its new history, seqs continue. */
	store_change_t ch = put("Pd@R", "d1");
	uint64_t first = 0, last = 0;
	assert_ks_ok(store_commit(s, &ch, 1, 1, &first, &last));
	assert_int_equal(first, 13);
	store_meta_t m = meta(s);
	assert_memory_equal(m.history, after.history, 16);
	assert_int_equal(m.last_seq, 13);
	w.last_seq = m.last_seq;
	assert_int_equal(repl_sm_decide(&w, H1, 12, NULL),
			 REPL_RESUME_PREVIOUS);

	/* A second promotion is refused and changes nothing. */
	why[0] = '\0';
	assert_ks_err(node_repl_promote_store(s, NULL, NULL, why, sizeof(why)),
		      KS_EEXIST);
	assert_non_null(strstr(why, "already promoted"));
	store_meta_t m2 = meta(s);
	assert_memory_equal(m2.history, m.history, 16);
	assert_memory_equal(m2.prev_history, H1, 16);
	assert_ks_ok(store_check(s));
	store_close(s);
	test_rmtree_free(dir);
}

static void test_promote_refused(void **state)
{
	char *dir = test_mkdtemp("ks-promote");
	char why[300] = "";
	store_t *s = NULL;
	(void)state;
	/* never synced: no position */
	assert_ks_ok(store_open(dir, NULL, &s));
	store_meta_t m0 = meta(s);
	assert_ks_err(node_repl_promote_store(s, NULL, NULL, why, sizeof(why)),
		      KS_ESTATE);
	assert_non_null(strstr(why, "no data from a primary"));
	/* a store committed to as a primary (its log past the position) */
	store_change_t ch = put("Px@R", "x");
	assert_ks_ok(store_commit(s, &ch, 1, 1, NULL, NULL));
	assert_ks_err(node_repl_promote_store(s, NULL, NULL, why, sizeof(why)),
		      KS_ESTATE);
	store_meta_t m1 = meta(s);
	assert_memory_equal(m1.history, m0.history, 16);
	assert_true(repl_sm_history_zero(m1.prev_history));
	store_close(s);
	test_rmtree_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_promote_replica),
		cmocka_unit_test(test_promote_refused),
	};
	return test_run_group(tests, NULL, NULL);
}
