/* SPDX-License-Identifier: MIT */
/*
 * store_rewind() and the run-time role (store_role_set/get) on a real LMDB
 * environment: a store that diverged from another after a common seq goes
 * back to that seq with the other's values, then adopts the other's new
 * history and applies its entries, ending with the same digest; bad
 * arguments change nothing; store_fix() rewrites records without moving
 * the position; the role survives a reopen.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "store/internal.h"

static store_t *open_store(const char *dir)
{
	store_t *s = NULL;
	store_opts_t o = { .nosync = true };
	assert_ks_ok(store_open(dir, &o, &s));
	return s;
}

static void commit1(store_t *s, store_change_t c)
{
	assert_ks_ok(store_commit(s, &c, 1, 1, NULL, NULL));
	assert_ks_ok(store_check(s));
}

/* The log entries of \p p from \p from on, applied to \p r as one batch. */
typedef struct ents {
	store_change_t ch[64];
	char *mem[128];
	size_t n, nmem;
} ents_t;

static int ent_cb(const store_log_entry_t *e, void *arg)
{
	ents_t *x = arg;
	char *k = strndup((const char *)e->key.ptr, e->key.len);
	char *v = strndup(e->value.len ? (const char *)e->value.ptr : "",
			  e->value.len);
	x->mem[x->nmem++] = k;
	x->mem[x->nmem++] = v;
	x->ch[x->n++] = e->op == STORE_PUT ? model_put(k, v) : model_del(k);
	return 0;
}

static void ents_free(ents_t *x)
{
	for (size_t i = 0; i < x->nmem; i++)
		free(x->mem[i]);
}

/* Apply \p from's log entries from \p seq on to \p to, as one batch under
 * \p from's history (what a replica receives). */
static void copy_log(store_t *from, uint64_t seq, store_t *to)
{
	store_meta_t m;
	store_txn_t *t;
	ents_t x = { .n = 0 };

	model_meta(from, &m);
	assert_ks_ok(store_read_begin(from, &t));
	assert_ks_ok(store_log_foreach(t, seq, ent_cb, &x));
	store_read_end(t);
	store_batch_t batch = { .first_seq = seq, .ch = x.ch, .n = x.n };
	memcpy(batch.history, m.history, 16);
	assert_ks_ok(store_apply(to, &batch));
	ents_free(&x);
}

/* \p b, empty, becomes \p a's replica: a's history staged, a's log applied. */
static void replica_of(store_t *a, store_t *b)
{
	model_replica_init(b, a);
	copy_log(a, 1, b);
}

/*
 * a (old primary) and b (its replica) share seqs 1..3; b is promoted and
 * logs 4..5 under a new history; a logs 4..6 of its own.  a rewinds to 3
 * with b's values for the keys of its entries 4..6, adopts b's history
 * and applies b's 4..5: both hold the same records.
 */
static void test_rewind_and_follow(void **state)
{
	(void)state;
	char *da = test_mkdtemp("a"), *db = test_mkdtemp("b");
	store_t *a = open_store(da), *b = open_store(db);
	store_meta_t am, bm;

	commit1(a, model_put("Pone", "1"));
	commit1(a, model_put("Ptwo", "2"));
	commit1(a, model_put("Pthree", "3"));
	replica_of(a, b);
	/* b promoted: its own changes under a new history */
	assert_ks_ok(store_new_history(b));
	commit1(b, model_put("Ptwo", "2b"));
	commit1(b, model_put("Pfour", "4b"));
	/* a diverges */
	commit1(a, model_put("Pone", "1a"));
	commit1(a, model_del("Pthree"));
	commit1(a, model_put("Pfive", "5a"));
	model_meta(a, &am);
	assert_int_equal(am.last_seq, 6);

	/* bad rewinds change nothing */
	store_change_t bad = model_put("", "x");
	assert_ks_err(store_rewind(a, 7, NULL, 0), KS_ERANGE);
	assert_ks_err(store_rewind(a, 3, &bad, 1), KS_EINVAL);
	model_meta(a, &bm);
	assert_memory_equal(&am, &bm, sizeof(am));

	/* b's values for the keys a changed after 3 */
	store_change_t fix[] = { model_put("Pone", "1"),
				 model_put("Pthree", "3"), model_del("Pfive") };
	assert_ks_ok(store_rewind(a, 3, fix, 3));
	assert_ks_ok(store_check(a));
	model_meta(a, &am);
	assert_int_equal(am.last_seq, 3);
	assert_int_equal(am.applied_seq, 3);
	assert_memory_equal(am.applied_history, am.history, 16);
	model_assert_value(a, "Pone", "1");
	model_assert_value(a, "Pthree", "3");
	model_assert_value(a, "Pfive", NULL);

	model_meta(b, &bm);
	assert_ks_ok(store_adopt_history(a, bm.history, bm.prev_history, 3));
	copy_log(b, 4, a);
	assert_ks_ok(store_check(a));
	model_meta(a, &am);
	assert_memory_equal(am.digest, bm.digest, 32);
	assert_int_equal(am.record_count, bm.record_count);
	assert_int_equal(am.applied_seq, 5);
	assert_memory_equal(am.applied_history, bm.history, 16);

	store_close(a);
	store_close(b);
	test_rmtree_free(da);
	test_rmtree_free(db);
}

/*
 * store_fix(): a replica's records damaged, lost and added without a log
 * entry, then put back with its primary's values: position and log
 * unchanged throughout, the digest back to the primary's; a bad change
 * changes nothing.
 */
static void test_fix(void **state)
{
	(void)state;
	char *da = test_mkdtemp("a"), *db = test_mkdtemp("b");
	store_t *a = open_store(da), *b = open_store(db);
	store_meta_t am, bm, bm2;

	commit1(a, model_put("Pone", "1"));
	commit1(a, model_put("Ptwo", "2"));
	model_meta(a, &am);
	replica_of(a, b);
	model_meta(b, &bm);

	store_change_t damage[] = { model_put("Pone", "damaged"),
				    model_del("Ptwo"),
				    model_put("Pstray", "x") };
	assert_ks_ok(store_fix(b, damage, 3));
	model_meta(b, &bm2);
	assert_int_equal(bm2.applied_seq, bm.applied_seq);
	assert_int_equal(bm2.last_seq, bm.last_seq);
	assert_memory_equal(bm2.applied_history, bm.applied_history, 16);
	assert_memory_not_equal(bm2.digest, am.digest, 32);
	model_assert_value(b, "Ptwo", NULL);

	store_change_t bad = model_put("", "x");
	assert_ks_err(store_fix(b, &bad, 1), KS_EINVAL);
	model_meta(b, &bm);
	assert_memory_equal(&bm, &bm2, sizeof(bm));

	store_change_t back[] = { model_put("Pone", "1"),
				  model_put("Ptwo", "2"), model_del("Pstray") };
	assert_ks_ok(store_fix(b, back, 3));
	assert_ks_ok(store_check(b));
	model_meta(b, &bm);
	assert_memory_equal(bm.digest, am.digest, 32);
	assert_int_equal(bm.record_count, am.record_count);
	assert_int_equal(bm.applied_seq, bm2.applied_seq);
	model_assert_value(b, "Pone", "1");

	store_close(a);
	store_close(b);
	test_rmtree_free(da);
	test_rmtree_free(db);
}

static void role_of(store_t *s, int *role, char *peer, size_t len)
{
	store_txn_t *t;
	assert_ks_ok(store_read_begin(s, &t));
	assert_ks_ok(store_role_get(t, role, peer, len));
	store_read_end(t);
}

static void test_role(void **state)
{
	(void)state;
	char *d = test_mkdtemp("role");
	store_t *s = open_store(d);
	char peer[256], tiny[3];
	int role = -1;

	role_of(s, &role, peer, sizeof(peer));
	assert_int_equal(role, STORE_ROLE_CONFIG);
	assert_string_equal(peer, "");
	assert_ks_err(store_role_set(s, STORE_ROLE_REPLICA, NULL), KS_EINVAL);
	assert_ks_err(store_role_set(s, STORE_ROLE_PRIMARY, "x"), KS_EINVAL);
	assert_ks_err(store_role_set(s, 7, NULL), KS_EINVAL);
	assert_ks_ok(store_role_set(s, STORE_ROLE_REPLICA, "kdc2"));
	assert_ks_ok(store_check(s));
	store_close(s);
	s = open_store(d);
	role_of(s, &role, peer, sizeof(peer));
	assert_int_equal(role, STORE_ROLE_REPLICA);
	assert_string_equal(peer, "kdc2");
	store_txn_t *t;
	assert_ks_ok(store_read_begin(s, &t));
	assert_ks_err(store_role_get(t, &role, tiny, sizeof(tiny)), KS_ELIMIT);
	store_read_end(t);
	assert_ks_ok(store_role_set(s, STORE_ROLE_PRIMARY, NULL));
	role_of(s, &role, peer, sizeof(peer));
	assert_int_equal(role, STORE_ROLE_PRIMARY);
	assert_string_equal(peer, "");
	assert_ks_ok(store_role_set(s, STORE_ROLE_CONFIG, NULL));
	role_of(s, &role, peer, sizeof(peer));
	assert_int_equal(role, STORE_ROLE_CONFIG);
	assert_ks_ok(store_check(s));
	store_close(s);
	test_rmtree_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rewind_and_follow),
		cmocka_unit_test(test_fix),
		cmocka_unit_test(test_role),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
