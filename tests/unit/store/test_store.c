/* SPDX-License-Identifier: MIT */
/*
 * store/: every API path and its errors on a real LMDB environment: open and
 * format check, commits and the log, replica apply (gap, history, state),
 * staging and promotion, retention, history ids, peers, map growth, reader
 * slots, digests across batchings, bisection, and store_check() catching
 * corruption.  Every mutation is followed by store_check().
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "store/internal.h"

static const ks_view_t NOKEY = { 0 };

static store_t *open_store(const char *dir, const store_opts_t *o)
{
	store_t *s = NULL;
	store_opts_t def = { .nosync = true };
	assert_ks_ok(store_open(dir, o ? o : &def, &s));
	assert_non_null(s);
	assert_ks_ok(store_check(s));
	return s;
}

static void commit_ok(store_t *s, const store_change_t *ch, size_t n,
		      uint64_t want_first, uint64_t want_last)
{
	uint64_t f = 0, l = 0;
	assert_ks_ok(store_commit(s, ch, n, 1000, &f, &l));
	assert_int_equal(f, want_first);
	assert_int_equal(l, want_last);
	assert_ks_ok(store_check(s));
}

/* Raw LMDB access for corrupting a store behind its back. */
static void raw_put(const char *dir, const char *db, const void *k, size_t kl,
		    const void *v, size_t vl, bool delete)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, MDB_CREATE, &dbi), 0);
	MDB_val key = { kl, (void *)(uintptr_t)k };
	MDB_val val = { vl, (void *)(uintptr_t)v };
	if (delete)
		assert_int_equal(mdb_del(txn, dbi, &key, NULL), 0);
	else
		assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static int raw_db_exists(const char *dir, const char *db)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	int rc = mdb_dbi_open(txn, db, 0, &dbi);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc == 0;
}

/* --- open, format ---------------------------------------------------------- */

static void test_open_new_and_reopen(void **state)
{
	(void)state;
	static const uint8_t zero[32];
	char *dir = test_mkdtemp("store");
	int fds = test_count_fds();
	store_t *s = open_store(dir, NULL);
	store_meta_t m, m2;
	model_meta(s, &m);
	assert_int_equal(m.format_version, STORE_FORMAT_VERSION);
	assert_memory_not_equal(m.history, zero, 16);
	assert_memory_equal(m.prev_history, zero, 16);
	assert_memory_equal(m.applied_history, zero, 16);
	assert_int_equal(m.last_seq, 0);
	assert_int_equal(m.oldest_seq, 1);
	assert_int_equal(m.record_count, 0);
	assert_int_equal(m.log_bytes, 0);
	assert_memory_equal(m.digest, zero, 32);
	store_close(s);
	assert_int_equal(test_count_fds(), fds);

	s = open_store(dir, NULL);
	model_meta(s, &m2);
	assert_memory_equal(m.history, m2.history, 16);
	store_close(s);

	/* another store gets another history id */
	char *dir2 = test_mkdtemp("store");
	s = open_store(dir2, NULL);
	model_meta(s, &m2);
	assert_memory_not_equal(m.history, m2.history, 16);
	store_close(s);
	test_rmtree_free(dir2);

	store_t *bad = NULL;
	assert_ks_err(store_open(NULL, NULL, &bad), KS_EINVAL);
	assert_ks_err(store_open("/proc/no/such/dir", NULL, &bad), KS_ENOENT);
	assert_null(bad);
	store_close(NULL);
	test_rmtree_free(dir);
}

static void test_format_mismatch(void **state)
{
	(void)state;
	char *dir = test_mkdtemp("store");
	store_t *s = open_store(dir, NULL);
	store_close(s);
	uint8_t v99[4] = { 0, 0, 0, 99 };
	raw_put(dir, "meta", "format", 6, v99, 4, false);
	s = NULL;
	assert_ks_err(store_open(dir, NULL, &s), KS_EFORMAT);
	assert_null(s);
	/* a malformed version is corruption, not a version */
	raw_put(dir, "meta", "format", 6, v99, 3, false);
	assert_ks_err(store_open(dir, NULL, &s), KS_ECORRUPT);
	uint8_t v1[4] = { 0, 0, 0, STORE_FORMAT_VERSION };
	raw_put(dir, "meta", "format", 6, v1, 4, false);
	s = open_store(dir, NULL);
	store_close(s);
	test_rmtree_free(dir);

	/* a refused store is left untouched: no databases get created */
	dir = test_mkdtemp("store");
	raw_put(dir, "meta", "format", 6, v99, 4, false);
	assert_ks_err(store_open(dir, NULL, &s), KS_EFORMAT);
	assert_false(raw_db_exists(dir, "log"));
	assert_false(raw_db_exists(dir, "rec0"));
	test_rmtree_free(dir);
}

/* --- commit, reads, log --------------------------------------------------- */

struct log_collect {
	uint64_t seqs[16];
	store_log_entry_t e[16];
	char keys[16][32], vals[16][32];
	size_t n, stop_at;
};

static int log_collect_cb(const store_log_entry_t *e, void *ctx)
{
	struct log_collect *c = ctx;
	assert_true(c->n < 16);
	c->e[c->n] = *e;
	snprintf(c->keys[c->n], 32, "%.*s", (int)e->key.len,
		 (const char *)e->key.ptr);
	snprintf(c->vals[c->n], 32, "%.*s", (int)e->value.len,
		 (const char *)e->value.ptr);
	c->n++;
	return c->n == c->stop_at ? 42 : 0;
}

struct rec_collect {
	char keys[16][32];
	size_t n, stop_at;
};

static int rec_collect_cb(ks_view_t k, ks_view_t v, void *ctx)
{
	(void)v;
	struct rec_collect *c = ctx;
	assert_true(c->n < 16);
	snprintf(c->keys[c->n], 32, "%.*s", (int)k.len, (const char *)k.ptr);
	c->n++;
	return c->n == c->stop_at ? 7 : 0;
}

static void test_commit_and_reads(void **state)
{
	(void)state;
	char *dir = test_mkdtemp("store");
	store_t *s = open_store(dir, NULL);
	store_change_t a[] = { model_put("Pb", "v1"), model_put("Pa", "v2"),
			       model_put("Oc", "pol") };
	commit_ok(s, a, 3, 1, 3);
	/* nothing changes: identical put, delete of a missing key */
	store_change_t same[] = { model_put("Pa", "v2"), model_del("Pzz") };
	commit_ok(s, same, 2, 4, 3);
	commit_ok(s, NULL, 0, 4, 3);
	/* a change, then the same key within one set */
	store_change_t b[] = { model_del("Pb"), model_put("Pa", "v3"),
			       model_put("Pa", "v3"), model_put("Pb", "") };
	uint64_t f, l;
	assert_ks_ok(store_commit(s, b, 4, 2000, &f, &l));
	assert_int_equal(f, 4);
	assert_int_equal(l, 6);
	assert_ks_ok(store_check(s));
	model_assert_value(s, "Pa", "v3");
	model_assert_value(s, "Pb", "");
	model_assert_value(s, "Oc", "pol");
	model_assert_value(s, "Pzz", NULL);
	assert_ks_ok(store_commit(s, a, 1, 1, NULL, NULL)); /* outputs NULL */
	assert_ks_ok(store_check(s));

	store_txn_t *t;
	store_meta_t m;
	assert_ks_ok(store_read_begin(s, &t));
	assert_ks_ok(store_meta_get(t, &m));
	assert_int_equal(m.last_seq, 7);
	assert_int_equal(m.record_count, 3);
	/* log from 1: ops, keys, values, times in order */
	struct log_collect lc = { .stop_at = 0 };
	assert_ks_ok(store_log_foreach(t, 1, log_collect_cb, &lc));
	assert_int_equal(lc.n, 7);
	static const char *keys[] = {
		"Pb", "Pa", "Oc", "Pb", "Pa", "Pb", "Pb"
	};
	static const char *vals[] = { "v1", "v2", "pol", "", "v3", "", "v1" };
	for (size_t i = 0; i < 7; i++) {
		assert_int_equal(lc.e[i].seq, i + 1);
		assert_string_equal(lc.keys[i], keys[i]);
		assert_string_equal(lc.vals[i], vals[i]);
	}
	assert_int_equal(lc.e[3].op, STORE_DEL);
	assert_int_equal(lc.e[4].op, STORE_PUT);
	assert_int_equal(lc.e[0].commit_time_us, 1000);
	assert_int_equal(lc.e[4].commit_time_us, 2000);
	/* from the middle, stop early, at the end, beyond, before */
	lc = (struct log_collect){ .stop_at = 2 };
	assert_int_equal(store_log_foreach(t, 5, log_collect_cb, &lc), 42);
	assert_int_equal(lc.n, 2);
	assert_int_equal(lc.e[0].seq, 5);
	lc = (struct log_collect){ .stop_at = 0 };
	assert_ks_ok(store_log_foreach(t, 8, log_collect_cb, &lc));
	assert_int_equal(lc.n, 0);
	assert_ks_err(store_log_foreach(t, 9, log_collect_cb, &lc), KS_ERANGE);
	assert_ks_err(store_log_foreach(t, 0, log_collect_cb, &lc), KS_ESTALE);
	/* records in key order, from a key, stopping */
	struct rec_collect rc = { .stop_at = 0 };
	assert_ks_ok(store_records_foreach(t, NOKEY, rec_collect_cb, &rc));
	assert_int_equal(rc.n, 3);
	assert_string_equal(rc.keys[0], "Oc");
	assert_string_equal(rc.keys[1], "Pa");
	assert_string_equal(rc.keys[2], "Pb");
	rc = (struct rec_collect){ .stop_at = 0 };
	assert_ks_ok(store_records_foreach(t, sv("Pa"), rec_collect_cb, &rc));
	assert_int_equal(rc.n, 2);
	rc = (struct rec_collect){ .stop_at = 0 };
	assert_ks_ok(store_records_foreach(t, sv("P"), rec_collect_cb, &rc));
	assert_int_equal(rc.n, 2);
	rc = (struct rec_collect){ .stop_at = 1 };
	assert_int_equal(store_records_foreach(t, NOKEY, rec_collect_cb, &rc),
			 7);
	/* argument errors */
	ks_view_t v;
	assert_ks_err(store_get(t, NOKEY, &v), KS_EINVAL);
	assert_ks_err(store_log_foreach(t, 1, NULL, NULL), KS_EINVAL);
	assert_ks_err(store_records_foreach(t, NOKEY, NULL, NULL), KS_EINVAL);
	assert_ks_err(store_meta_get(t, NULL), KS_EINVAL);
	store_read_end(t);
	store_read_end(NULL);
	store_close(s);
	test_rmtree_free(dir);
}

/*
 * A change set in descending key order, with several changes to one key
 * and keys beyond the set's greatest key (applied in key order with
 * appends): the record set and the seqs are as if applied in the given
 * order, the log keeps the given order, and a replica applying the same
 * batch ends equal.
 */
static void test_commit_order_and_append(void **state)
{
	(void)state;
	char *dir = test_mkdtemp("store"), *dr = test_mkdtemp("replica");
	store_t *s = open_store(dir, NULL), *r = open_store(dr, NULL);
	store_change_t a[] = { model_put("Pm", "m0") };
	commit_ok(s, a, 1, 1, 1);
	/* Pz twice appended beyond Pm, deleted, put again; Pzz appended
	 * after the greatest key was deleted; Pa before everything */
	store_change_t b[] = {
		model_put("Pzz", "zz1"), model_put("Pz", "z1"),
		model_del("Pz"),	 model_del("Py"),
		model_put("Pz", "z2"),	 model_put("Pm", "m0"),
		model_put("Pa", "a1"),	 model_del("Pzz"),
		model_put("Pzz", "zz2"), model_put("Pzzz", "zzz")
	};
	commit_ok(s, b, 10, 2, 9);
	model_assert_value(s, "Pm", "m0");
	model_assert_value(s, "Pz", "z2");
	model_assert_value(s, "Pzz", "zz2");
	model_assert_value(s, "Pzzz", "zzz");
	model_assert_value(s, "Pa", "a1");
	model_assert_value(s, "Py", NULL);
	static const char *keys[] = { "Pzz", "Pz",  "Pz",  "Pz",
				      "Pa",  "Pzz", "Pzz", "Pzzz" };
	static const char *vals[] = { "zz1", "z1", "",	  "z2",
				      "a1",  "",   "zz2", "zzz" };
	store_txn_t *t;
	struct log_collect lc = { .stop_at = 0 };
	assert_ks_ok(store_read_begin(s, &t));
	assert_ks_ok(store_log_foreach(t, 2, log_collect_cb, &lc));
	store_read_end(t);
	assert_int_equal(lc.n, 8);
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(lc.e[i].seq, i + 2);
		assert_string_equal(lc.keys[i], keys[i]);
		assert_string_equal(lc.vals[i], vals[i]);
	}
	assert_int_equal(lc.e[2].op, STORE_DEL);
	assert_int_equal(lc.e[5].op, STORE_DEL);

	/* the replica: the same changes as one batch from an empty snapshot */
	store_meta_t pm, rm;
	model_meta(s, &pm);
	assert_ks_ok(store_stage_begin(r));
	assert_ks_ok(store_stage_put(r, a, 1));
	assert_ks_ok(store_stage_install(r, pm.history, 1, NULL));
	store_batch_t bt = { .first_seq = 2, .commit_time_us = 5, .ch = b };
	memcpy(bt.history, pm.history, 16);
	/* every change is logged on a replica, even one that changes nothing */
	bt.n = 10;
	assert_ks_ok(store_apply(r, &bt));
	assert_ks_ok(store_check(r));
	model_meta(r, &rm);
	assert_int_equal(rm.last_seq, 11);
	assert_int_equal(rm.record_count, pm.record_count);
	assert_memory_equal(rm.digest, pm.digest, 32);
	store_close(r);
	store_close(s);
	test_rmtree_free(dr);
	test_rmtree_free(dir);
}

static void test_commit_invalid(void **state)
{
	(void)state;
	char *dir = test_mkdtemp("store");
	store_t *s = open_store(dir, NULL);
	char big[STORE_MAX_KEY + 2];
	memset(big, 'P', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	store_change_t ok = model_put("Pa", "x");
	store_change_t bad_op = { .op = 3, .key = sv("Pb") };
	store_change_t empty_key = model_put("", "x");
	store_change_t long_key = model_put(big, "x");
	store_change_t null_val = { .op = STORE_PUT,
				    .key = sv("Pc"),
				    .value = { NULL, 5 } };
	store_change_t sets[][2] = { { ok, bad_op },
				     { ok, empty_key },
				     { ok, long_key },
				     { ok, null_val } };
	for (size_t i = 0; i < 4; i++)
		assert_ks_err(store_commit(s, sets[i], 2, 1, NULL, NULL),
			      KS_EINVAL);
	assert_ks_err(store_commit(s, NULL, 1, 1, NULL, NULL), KS_EINVAL);
	assert_ks_err(store_commit(NULL, &ok, 1, 1, NULL, NULL), KS_EINVAL);
	store_meta_t m;
	model_meta(s, &m);
	assert_int_equal(m.last_seq, 0);
	assert_int_equal(m.record_count, 0);
	model_assert_value(s, "Pa", NULL);
	/* the longest allowed key works */
	big[STORE_MAX_KEY] = '\0';
	store_change_t maxk = model_put(big, "x");
	commit_ok(s, &maxk, 1, 1, 1);
	store_close(s);
	test_rmtree_free(dir);
}

/* --- map growth, readers ----------------------------------------------------- */

static void test_map_growth(void **state)
{
	(void)state;
	char *dir = test_mkdtemp("store");
	store_opts_t o = { .map_size = 64 << 10, .nosync = true };
	store_t *s = open_store(dir, &o);
	model_t m;
	batch_t b = { 0 };
	model_init(&m, 4000);
	/* 4000 records of ~450 bytes plus their log: far beyond 256 KiB */
	for (size_t base = 0; base < 4000; base += 50) {
		b.n = 50;
		for (size_t i = 0; i < 50; i++) {
			b.id[i] = base + i;
			b.ch[i].op = STORE_PUT;
			b.ch[i].key = model_key(base + i, b.key[i]);
			model_value(base + i, 1, 450, &b.val[i]);
			b.ch[i].value = ks_buf_view(&b.val[i]);
		}
		uint64_t f, l;
		assert_ks_ok(store_commit(s, b.ch, b.n, 1, &f, &l));
		model_apply(&m, &b);
		assert_int_equal(l, m.last_seq);
	}
	assert_ks_ok(store_check(s));
	model_verify(&m, s);
	store_close(s);
	/* reopening with the tiny size keeps everything and still grows */
	s = open_store(dir, &o);
	model_verify(&m, s);
	store_close(s);
	model_free(&m);
	batch_free(&b);
	test_rmtree_free(dir);
}

static void test_map_growth_blocked_by_reader(void **state)
{
	(void)state;
	char *dir = test_mkdtemp("store");
	store_opts_t o = { .map_size = 64 << 10, .nosync = true };
	store_t *s = open_store(dir, &o);
	store_txn_t *t;
	char k[32];
	char *val = malloc(100000);
	memset(val, 'x', 99999);
	val[99999] = '\0';
	assert_ks_ok(store_read_begin(s, &t));
	int ret = 0;
	uint64_t before_last = 0;
	for (int i = 0; i < 100 && ret == 0; i++) {
		snprintf(k, sizeof(k), "Pk%d", i);
		store_change_t c = model_put(k, val);
		store_meta_t m;
		model_meta(s, &m);
		before_last = m.last_seq;
		ret = store_commit(s, &c, 1, 1, NULL, NULL);
	}
	assert_ks_err(ret, KS_EBUSY);
	store_meta_t m;
	model_meta(s, &m);
	assert_int_equal(m.last_seq, before_last);
	store_read_end(t);
	assert_ks_ok(store_check(s));
	snprintf(k, sizeof(k), "Pk%llu", (unsigned long long)before_last);
	store_change_t c = model_put(k, val);
	commit_ok(s, &c, 1, before_last + 1, before_last + 1);
	free(val);
	store_close(s);
	test_rmtree_free(dir);
}

static void test_readers_full(void **state)
{
	(void)state;
	char *dir = test_mkdtemp("store");
	store_t *s = open_store(dir, NULL);
	store_txn_t *t[300];
	size_t n = 0;
	int ret = 0;
	while (n < 300 && (ret = store_read_begin(s, &t[n])) == 0)
		n++;
	assert_ks_err(ret, KS_EREADERS);
	assert_true(n > 100);
	while (n > 0)
		store_read_end(t[--n]);
	store_change_t c = model_put("Pa", "1");
	commit_ok(s, &c, 1, 1, 1);
	store_close(s);
	test_rmtree_free(dir);
}

/* --- replica apply ------------------------------------------------------------ */

/* Copy everything after the replica's position, \p step entries a batch. */
static void replicate(store_t *r, store_t *p, size_t step)
{
	struct copy_batch cb = { .n = 0 };
	store_meta_t pm, rm;
	model_meta(p, &pm);
	for (;;) {
		model_meta(r, &rm);
		if (rm.applied_seq >= pm.last_seq)
			break;
		store_batch_t b;
		read_batch(p, rm.applied_seq + 1, step, &cb, &b);
		assert_true(b.n > 0);
		assert_ks_ok(store_apply(r, &b));
		assert_ks_ok(store_check(r));
	}
	copy_free(&cb);
}

static void test_apply(void **state)
{
	(void)state;
	char *dp = test_mkdtemp("primary"), *dr = test_mkdtemp("replica");
	store_t *p = open_store(dp, NULL), *r = open_store(dr, NULL);
	uint64_t seed = test_seed();
	model_t m;
	batch_t gb = { 0 };
	model_init(&m, 50);
	for (int i = 0; i < 20; i++) {
		batch_gen(&gb, &m, &seed, 10);
		uint64_t f, l;
		assert_ks_ok(store_commit(p, gb.ch, gb.n, 1, &f, &l));
		model_apply(&m, &gb);
	}
	assert_ks_ok(store_check(p));
	store_meta_t pm, rm, rm2;
	model_meta(p, &pm);
	assert_true(pm.last_seq >= 3);

	struct copy_batch cb = { .n = 0 };
	store_batch_t b;
	read_batch(p, 1, 3, &cb, &b);
	/* a fresh replica has no position: any history is foreign */
	assert_ks_err(store_apply(r, &b), KS_EHISTORY);
	model_replica_init(r, p);
	model_meta(r, &rm);
	assert_memory_equal(rm.applied_history, pm.history, 16);
	assert_memory_equal(rm.history, pm.history, 16);
	assert_int_equal(rm.applied_seq, 0);
	/* a gap, a wrong history, bad args: refused, nothing changed */
	read_batch(p, 2, 3, &cb, &b);
	assert_ks_err(store_apply(r, &b), KS_EGAP);
	read_batch(p, 1, 3, &cb, &b);
	b.history[0] ^= 1;
	assert_ks_err(store_apply(r, &b), KS_EHISTORY);
	b.history[0] ^= 1;
	b.n = 0;
	assert_ks_err(store_apply(r, &b), KS_EINVAL);
	assert_ks_err(store_apply(r, NULL), KS_EINVAL);
	b.n = 3;
	store_change_t saved = cb.ch[1];
	cb.ch[1].op = 9;
	assert_ks_err(store_apply(r, &b), KS_EINVAL);
	cb.ch[1] = saved;
	model_meta(r, &rm2);
	assert_memory_equal(&rm, &rm2, sizeof(rm));
	assert_ks_ok(store_check(r));
	/* the real thing, then a replay of an applied batch is a gap */
	assert_ks_ok(store_apply(r, &b));
	assert_ks_ok(store_check(r));
	assert_ks_err(store_apply(r, &b), KS_EGAP);
	replicate(r, p, 4);
	model_meta(r, &rm);
	assert_int_equal(rm.applied_seq, pm.last_seq);
	assert_int_equal(rm.last_seq, pm.last_seq);
	assert_int_equal(rm.oldest_seq, 1);
	assert_memory_equal(rm.digest, pm.digest, 32);
	assert_int_equal(rm.log_bytes, pm.log_bytes);
	model_verify(&m, r);

	/* a replica that was written to as a primary refuses batches */
	store_change_t c = model_put("Plocal", "x");
	assert_ks_ok(store_commit(r, &c, 1, 1, NULL, NULL));
	c = model_put("Pnew", "y");
	uint64_t f, l;
	assert_ks_ok(store_commit(p, &c, 1, 1, &f, &l));
	assert_int_equal(f, l);
	read_batch(p, f, 64, &cb, &b);
	assert_ks_err(store_apply(r, &b), KS_ESTATE);
	assert_ks_ok(store_check(r));
	copy_free(&cb);
	model_free(&m);
	batch_free(&gb);
	store_close(p);
	store_close(r);
	test_rmtree_free(dp);
	test_rmtree_free(dr);
}

/* Same change stream, different batchings: equal digests and records. */
static void test_batchings_equal_digest(void **state)
{
	(void)state;
	uint64_t seed = test_seed();
	char *d1 = test_mkdtemp("a"), *d2 = test_mkdtemp("b"),
	     *d3 = test_mkdtemp("c");
	store_t *s1 = open_store(d1, NULL), *s2 = open_store(d2, NULL),
		*s3 = open_store(d3, NULL);
	model_t m;
	batch_t b = { 0 };
	model_init(&m, 80);
	for (int i = 0; i < 40; i++) {
		batch_gen(&b, &m, &seed, 30);
		model_apply(&m, &b);
		/* s1: the batch; s2: one change per commit; s3: halves */
		assert_ks_ok(store_commit(s1, b.ch, b.n, 1, NULL, NULL));
		for (size_t j = 0; j < b.n; j++)
			assert_ks_ok(
				store_commit(s2, &b.ch[j], 1, 1, NULL, NULL));
		size_t h = b.n / 2;
		assert_ks_ok(store_commit(s3, b.ch, h, 1, NULL, NULL));
		assert_ks_ok(
			store_commit(s3, b.ch + h, b.n - h, 1, NULL, NULL));
	}
	assert_ks_ok(store_check(s1));
	assert_ks_ok(store_check(s2));
	assert_ks_ok(store_check(s3));
	store_meta_t m1, m2, m3;
	model_meta(s1, &m1);
	model_meta(s2, &m2);
	model_meta(s3, &m3);
	assert_memory_equal(m1.digest, m2.digest, 32);
	assert_memory_equal(m1.digest, m3.digest, 32);
	assert_int_equal(m1.last_seq, m2.last_seq);
	assert_int_equal(m1.last_seq, m.last_seq);
	model_verify(&m, s1);
	model_verify(&m, s2);
	model_verify(&m, s3);
	/* ranges agree bucket by bucket too */
	store_txn_t *t1, *t2;
	assert_ks_ok(store_read_begin(s1, &t1));
	assert_ks_ok(store_read_begin(s2, &t2));
	for (uint32_t lo = 0; lo < STORE_BUCKETS; lo += 64) {
		uint8_t a[32], c[32];
		uint64_t na, nc;
		assert_ks_ok(store_range_digest(t1, lo, lo + 64, a, &na));
		assert_ks_ok(store_range_digest(t2, lo, lo + 64, c, &nc));
		assert_memory_equal(a, c, 32);
		assert_int_equal(na, nc);
	}
	store_read_end(t1);
	store_read_end(t2);
	/* and an order of changes that ends in the same state */
	model_free(&m);
	batch_free(&b);
	store_close(s1);
	store_close(s2);
	store_close(s3);
	test_rmtree_free(d1);
	test_rmtree_free(d2);
	test_rmtree_free(d3);
}

/* --- bisection --------------------------------------------------------------- */

struct bucket_list {
	char keys[512][48];
	uint8_t hash[512][32];
	size_t n;
};

static int bucket_list_cb(uint32_t bucket, ks_view_t k, ks_view_t v,
			  const uint8_t h[32], void *ctx)
{
	struct bucket_list *bl = ctx;
	uint8_t want[32];
	assert_int_equal(bucket, store_key_bucket(k));
	assert_ks_ok(store_record_hash(k, v, want));
	assert_memory_equal(want, h, 32);
	assert_true(bl->n < 512 && k.len < 48);
	memcpy(bl->keys[bl->n], k.ptr, k.len);
	bl->keys[bl->n][k.len] = '\0';
	memcpy(bl->hash[bl->n], h, 32);
	bl->n++;
	return 0;
}

static int lookup(const struct bucket_list *bl, const char *k)
{
	for (size_t i = 0; i < bl->n; i++)
		if (strcmp(bl->keys[i], k) == 0)
			return (int)i;
	return -1;
}

struct diff {
	char keys[64][48];
	size_t n;
	size_t range_queries;
};

static void diff_add(struct diff *d, const char *k)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->keys[i], k) == 0)
			return;
	assert_true(d->n < 64);
	snprintf(d->keys[d->n++], 48, "%s", k);
}

static void bisect(store_txn_t *a, store_txn_t *b, uint32_t lo, uint32_t hi,
		   struct diff *d)
{
	uint8_t da[32], db[32];
	uint64_t na, nb;
	assert_ks_ok(store_range_digest(a, lo, hi, da, &na));
	assert_ks_ok(store_range_digest(b, lo, hi, db, &nb));
	d->range_queries++;
	if (na == nb && memcmp(da, db, 32) == 0)
		return;
	if (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		bisect(a, b, lo, mid, d);
		bisect(a, b, mid, hi, d);
		return;
	}
	struct bucket_list *la = calloc(1, sizeof(*la));
	struct bucket_list *lb = calloc(1, sizeof(*lb));
	assert_non_null(la);
	assert_non_null(lb);
	assert_ks_ok(store_bucket_foreach(a, lo, hi, bucket_list_cb, la));
	assert_ks_ok(store_bucket_foreach(b, lo, hi, bucket_list_cb, lb));
	for (size_t i = 0; i < la->n; i++) {
		int j = lookup(lb, la->keys[i]);
		if (j < 0 || memcmp(la->hash[i], lb->hash[j], 32) != 0)
			diff_add(d, la->keys[i]);
	}
	for (size_t i = 0; i < lb->n; i++)
		if (lookup(la, lb->keys[i]) < 0)
			diff_add(d, lb->keys[i]);
	free(la);
	free(lb);
}

static void test_bisect(void **state)
{
	(void)state;
	uint64_t seed = test_seed();
	char *d1 = test_mkdtemp("a"), *d2 = test_mkdtemp("b");
	store_t *s1 = open_store(d1, NULL), *s2 = open_store(d2, NULL);
	model_t m1, m2;
	batch_t b = { 0 };
	model_init(&m1, 3000);
	model_init(&m2, 3000);
	/* common base of 3000 records */
	for (size_t base = 0; base < 3000; base += 50) {
		b.n = 50;
		for (size_t i = 0; i < 50; i++) {
			b.id[i] = base + i;
			b.ch[i].op = STORE_PUT;
			b.ch[i].key = model_key(base + i, b.key[i]);
			model_value(base + i, 7, 200, &b.val[i]);
			b.ch[i].value = ks_buf_view(&b.val[i]);
		}
		assert_ks_ok(store_commit(s1, b.ch, b.n, 1, NULL, NULL));
		assert_ks_ok(store_commit(s2, b.ch, b.n, 1, NULL, NULL));
		model_apply(&m1, &b);
		model_apply(&m2, &b);
	}
	/* diverge: random changes to either side */
	for (int i = 0; i < 12; i++) {
		model_t *mm = (i & 1) ? &m1 : &m2;
		store_t *ss = (i & 1) ? s1 : s2;
		batch_gen(&b, mm, &seed, 3);
		model_apply(mm, &b);
		assert_ks_ok(store_commit(ss, b.ch, b.n, 1, NULL, NULL));
	}
	assert_ks_ok(store_check(s1));
	assert_ks_ok(store_check(s2));
	model_verify(&m1, s1);
	model_verify(&m2, s2);
	/* expected: ids whose presence or value differs */
	struct diff want = { .n = 0 };
	for (size_t id = 0; id < 3000; id++) {
		bool diff = m1.present[id] != m2.present[id] ||
			    (m1.present[id] &&
			     (m1.val[id].len != m2.val[id].len ||
			      memcmp(m1.val[id].data, m2.val[id].data,
				     m1.val[id].len) != 0));
		if (diff) {
			char kb[48];
			ks_view_t k = model_key(id, kb);
			(void)k;
			diff_add(&want, kb);
		}
	}
	struct diff got = { .n = 0 };
	store_txn_t *t1, *t2;
	assert_ks_ok(store_read_begin(s1, &t1));
	assert_ks_ok(store_read_begin(s2, &t2));
	bisect(t1, t2, 0, STORE_BUCKETS, &got);
	uint8_t dg[32];
	assert_ks_err(store_range_digest(t1, 5, 4, dg, NULL), KS_EINVAL);
	assert_ks_err(store_range_digest(t1, 0, STORE_BUCKETS + 1, dg, NULL),
		      KS_EINVAL);
	assert_ks_err(store_bucket_foreach(t1, 0, STORE_BUCKETS + 1,
					   bucket_list_cb, NULL),
		      KS_EINVAL);
	store_read_end(t1);
	store_read_end(t2);
	print_message(
		"bisect: %zu differing keys found with %zu range queries\n",
		got.n, got.range_queries);
	assert_int_equal(got.n, want.n);
	for (size_t i = 0; i < want.n; i++) {
		bool found = false;
		for (size_t j = 0; j < got.n; j++)
			found |= strcmp(want.keys[i], got.keys[j]) == 0;
		if (!found)
			fail_msg("differing key '%s' not found", want.keys[i]);
	}
	model_free(&m1);
	model_free(&m2);
	batch_free(&b);
	store_close(s1);
	store_close(s2);
	test_rmtree_free(d1);
	test_rmtree_free(d2);
}

/* --- staging ------------------------------------------------------------------ */

static void test_stage(void **state)
{
	(void)state;
	char *dir = test_mkdtemp("store");
	store_t *s = open_store(dir, NULL);
	store_change_t live[] = { model_put("Pold", "1"),
				  model_put("Pkeep", "2") };
	commit_ok(s, live, 2, 1, 2);
	store_meta_t before, after;
	model_meta(s, &before);

	model_t m;
	batch_t b = { 0 };
	model_init(&m, 300);
	assert_ks_ok(store_stage_begin(s));
	for (size_t base = 0; base < 300; base += 30) {
		b.n = 30;
		for (size_t i = 0; i < 30; i++) {
			b.id[i] = base + i;
			b.ch[i].op = STORE_PUT;
			b.ch[i].key = model_key(base + i, b.key[i]);
			model_value(base + i, 1, 100, &b.val[i]);
			b.ch[i].value = ks_buf_view(&b.val[i]);
		}
		assert_ks_ok(store_stage_put(s, b.ch, b.n));
		model_apply(&m, &b);
		assert_ks_ok(store_check(s));
	}
	/* a key put twice keeps the last value */
	b.n = 1;
	b.id[0] = 7;
	b.ch[0].key = model_key(7, b.key[0]);
	model_value(7, 2, 90, &b.val[0]);
	b.ch[0].value = ks_buf_view(&b.val[0]);
	assert_ks_ok(store_stage_put(s, b.ch, 1));
	model_apply(&m, &b);
	store_change_t d = model_del("Pold");
	assert_ks_err(store_stage_put(s, &d, 1), KS_EINVAL);
	assert_ks_ok(store_check(s));

	uint8_t want[32], got[32], wrong[32];
	uint64_t count;
	model_digest(&m, want);
	assert_ks_ok(store_stage_info(s, got, &count));
	assert_memory_equal(got, want, 32);
	assert_int_equal(count, 300);
	/* more puts after the set was built are merged into it */
	b.n = 2;
	for (size_t i = 0; i < 2; i++) {
		b.id[i] = 11 + i;
		b.ch[i].op = STORE_PUT;
		b.ch[i].key = model_key(11 + i, b.key[i]);
		model_value(11 + i, 3, 70 + i, &b.val[i]);
		b.ch[i].value = ks_buf_view(&b.val[i]);
	}
	assert_ks_ok(store_stage_put(s, b.ch, 2));
	assert_ks_ok(store_check(s));
	model_apply(&m, &b);
	model_digest(&m, want);
	assert_ks_ok(store_stage_info(s, got, &count));
	assert_memory_equal(got, want, 32);
	assert_int_equal(count, 300);
	assert_ks_ok(store_check(s));
	/* the live set is untouched while staging */
	model_meta(s, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	model_assert_value(s, "Pold", "1");

	/* wrong digest: nothing changes */
	uint8_t hist[16];
	memset(hist, 0xab, 16);
	memcpy(wrong, want, 32);
	wrong[31] ^= 1;
	assert_ks_err(store_stage_install(s, hist, 500, wrong), KS_EDIGEST);
	assert_ks_ok(store_check(s));
	model_meta(s, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	model_assert_value(s, "Pold", "1");
	assert_ks_ok(store_stage_info(s, got, &count));
	assert_memory_equal(got, want, 32);
	static const uint8_t zero16[16];
	assert_ks_err(store_stage_install(s, zero16, 500, want), KS_EINVAL);

	/* right digest: live, log reset to the snapshot's position */
	assert_ks_ok(store_stage_install(s, hist, 500, want));
	assert_ks_ok(store_check(s));
	model_verify(&m, s);
	model_meta(s, &after);
	assert_memory_equal(after.history, hist, 16);
	assert_memory_equal(after.applied_history, hist, 16);
	assert_int_equal(after.last_seq, 500);
	assert_int_equal(after.applied_seq, 500);
	assert_int_equal(after.oldest_seq, 501);
	assert_int_equal(after.log_bytes, 0);
	store_txn_t *t;
	assert_ks_ok(store_read_begin(s, &t));
	assert_ks_err(store_log_foreach(t, 500, log_collect_cb, NULL),
		      KS_ESTALE);
	assert_ks_ok(store_log_foreach(t, 501, log_collect_cb, NULL));
	store_read_end(t);
	/* the old live set is now stale staging; begin/abort empty it */
	assert_ks_ok(store_stage_info(s, got, &count));
	assert_int_equal(count, 2);
	assert_ks_ok(store_stage_abort(s));
	assert_ks_ok(store_stage_info(s, got, &count));
	assert_int_equal(count, 0);
	assert_memory_equal(got, (uint8_t[32]){ 0 }, 32);
	assert_ks_ok(store_check(s));
	/* promote without a digest check, of an empty set */
	assert_ks_ok(store_stage_begin(s));
	assert_ks_ok(store_stage_install(s, hist, 0, NULL));
	assert_ks_ok(store_check(s));
	model_meta(s, &after);
	assert_int_equal(after.record_count, 0);
	assert_int_equal(after.last_seq, 0);
	model_free(&m);
	batch_free(&b);
	store_close(s);
	test_rmtree_free(dir);
}

/* Staging larger than one build transaction, in reverse key order, with
 * every 10th key put twice (the later value must win). */
static void test_stage_large(void **state)
{
	(void)state;
	char *dir = test_mkdtemp("store");
	store_t *s = open_store(dir, NULL);
	enum {
		N = 130000
	};
	static char keys[1000][24], vals[1000][16];
	store_change_t ch[1000];
	size_t n = 0;
	for (int i = N - 1; i >= 0; i--) {
		snprintf(keys[n], sizeof(keys[n]), "P%07d", i);
		snprintf(vals[n], sizeof(vals[n]), "v%d", i);
		ch[n] = model_put(keys[n], vals[n]);
		n++;
		if (i % 10 == 0 && n < 1000) { /* again, new value */
			snprintf(keys[n], sizeof(keys[n]), "P%07d", i);
			snprintf(vals[n], sizeof(vals[n]), "w%d", i);
			ch[n] = model_put(keys[n], vals[n]);
			n++;
		}
		if (n >= 999 || i == 0) {
			assert_ks_ok(store_stage_put(s, ch, n));
			n = 0;
		}
	}
	uint8_t dg[32], scan[32];
	uint64_t count, scount;
	assert_ks_ok(store_stage_info(s, dg, &count));
	assert_int_equal(count, N);
	assert_ks_ok(store_check(s));
	uint8_t hist[16] = { 1 };
	assert_ks_ok(store_stage_install(s, hist, 9, dg));
	assert_ks_ok(store_check(s));
	test_store_scan_digest(s, scan, &scount);
	assert_memory_equal(scan, dg, 32);
	assert_int_equal(scount, N);
	model_assert_value(s, "P0000000", "w0");
	model_assert_value(s, "P0000010", "w10");
	model_assert_value(s, "P0000011", "v11");
	model_assert_value(s, "P0129999", "v129999");
	store_close(s);
	test_rmtree_free(dir);
}

/* --- retention ----------------------------------------------------------------- */

static void commit_n(store_t *s, int n, size_t vlen)
{
	static int serial;
	char k[32];
	char *v = malloc(vlen + 1);
	for (int i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "Pk%d", i % 7);
		memset(v, 'a' + (char)(i % 26), vlen);
		snprintf(v, vlen + 1, "%d", serial++); /* always new */
		memset(v + strlen(v), 'z', vlen - strlen(v));
		v[vlen] = '\0';
		store_change_t c = model_put(k, v);
		assert_ks_ok(store_commit(s, &c, 1, 1, NULL, NULL));
	}
	free(v);
	assert_ks_ok(store_check(s));
}

static void test_trim(void **state)
{
	(void)state;
	char *dir = test_mkdtemp("store");
	store_opts_t o = { .retain_count = 10,
			   .retain_bytes = 1 << 20,
			   .hard_cap_bytes = 4000,
			   .nosync = true };
	store_t *s = open_store(dir, &o);
	store_meta_t m;
	commit_n(s, 30, 50); /* each entry 8 + 13 + 3 + 50 = 74 bytes */
	model_meta(s, &m);
	assert_int_equal(m.log_bytes, 30 * 74);
	/* acks protect entries: nothing below keep_from is dropped... */
	assert_ks_ok(store_log_trim(s, 5));
	assert_ks_ok(store_check(s));
	model_meta(s, &m);
	assert_int_equal(m.oldest_seq, 5);
	/* ...until the retention count is met */
	assert_ks_ok(store_log_trim(s, UINT64_MAX));
	assert_ks_ok(store_check(s));
	model_meta(s, &m);
	assert_int_equal(m.oldest_seq, 21);
	assert_int_equal(m.log_bytes, 10 * 74);
	store_txn_t *t;
	assert_ks_ok(store_read_begin(s, &t));
	assert_ks_err(store_log_foreach(t, 20, log_collect_cb, NULL),
		      KS_ESTALE);
	store_read_end(t);
	/* the hard cap overrides an ack: 4000 bytes = 54 entries */
	commit_n(s, 80, 50);
	assert_ks_ok(store_log_trim(s, 25));
	assert_ks_ok(store_check(s));
	model_meta(s, &m);
	assert_int_equal(m.last_seq, 110);
	assert_true(m.log_bytes <= 4000);
	assert_int_equal(m.oldest_seq, 110 - 4000 / 74 + 1);
	store_close(s);

	/* retention by bytes */
	o = (store_opts_t){ .retain_count = 1000,
			    .retain_bytes = 740,
			    .nosync = true };
	s = open_store(dir, &o);
	assert_ks_ok(store_log_trim(s, UINT64_MAX));
	assert_ks_ok(store_check(s));
	model_meta(s, &m);
	assert_int_equal(m.log_bytes, 740);
	assert_int_equal(m.oldest_seq, 101);
	/* trimming everything that is allowed, then committing on */
	store_close(s);
	o.retain_bytes = 1;
	s = open_store(dir, &o);
	assert_ks_ok(store_log_trim(s, UINT64_MAX));
	model_meta(s, &m);
	assert_int_equal(m.oldest_seq, 111);
	assert_int_equal(m.log_bytes, 0);
	assert_ks_ok(store_check(s));
	commit_n(s, 2, 10);
	model_meta(s, &m);
	assert_int_equal(m.oldest_seq, 111);
	assert_int_equal(m.last_seq, 112);
	store_close(s);

	/* a big trim spans several transactions */
	char *dir2 = test_mkdtemp("store");
	o = (store_opts_t){ .retain_count = 5, .nosync = true };
	s = open_store(dir2, &o);
	model_t mm;
	batch_t b = { 0 };
	model_init(&mm, 25000);
	for (size_t base = 0; base < 25000; base += 50) {
		b.n = 50;
		for (size_t i = 0; i < 50; i++) {
			b.id[i] = base + i;
			b.ch[i].op = STORE_PUT;
			b.ch[i].key = model_key(base + i, b.key[i]);
			model_value(base + i, 1, 20, &b.val[i]);
			b.ch[i].value = ks_buf_view(&b.val[i]);
		}
		assert_ks_ok(store_commit(s, b.ch, b.n, 1, NULL, NULL));
	}
	assert_ks_ok(store_log_trim(s, UINT64_MAX));
	assert_ks_ok(store_check(s));
	model_meta(s, &m);
	assert_int_equal(m.oldest_seq, 24996);
	model_free(&mm);
	batch_free(&b);
	store_close(s);
	test_rmtree_free(dir2);
	test_rmtree_free(dir);
}

/* --- history ids ------------------------------------------------------------- */

static void test_history(void **state)
{
	(void)state;
	char *dp = test_mkdtemp("p"), *dr = test_mkdtemp("r");
	store_t *p = open_store(dp, NULL), *r = open_store(dr, NULL);
	commit_n(p, 5, 20);
	model_replica_init(r, p);
	replicate(r, p, 2);
	store_meta_t pm, pm2, rm;
	model_meta(p, &pm);
	/* promotion on the primary: a new id, the old remembered */
	assert_ks_ok(store_new_history(p));
	assert_ks_ok(store_check(p));
	model_meta(p, &pm2);
	assert_memory_not_equal(pm2.history, pm.history, 16);
	assert_memory_equal(pm2.prev_history, pm.history, 16);
	assert_int_equal(pm2.prev_last_seq, 5);
	commit_n(p, 3, 20);
	model_meta(p, &pm2);
	assert_int_equal(pm2.last_seq, 8);
	assert_int_equal(pm2.oldest_seq, 1);

	/* the replica at seq 5 of the old history cannot apply the new one */
	struct copy_batch cb = { .n = 0 };
	store_batch_t b;
	read_batch(p, 6, 64, &cb, &b);
	assert_ks_err(store_apply(r, &b), KS_EHISTORY);
	/* wrong previous id, diverged position */
	uint8_t other[16];
	memset(other, 0x11, 16);
	assert_ks_err(store_adopt_history(r, pm2.history, other, 5),
		      KS_EHISTORY);
	assert_ks_err(store_adopt_history(r, pm2.history, pm.history, 4),
		      KS_ESTALE);
	assert_ks_err(store_adopt_history(r, (uint8_t[16]){ 0 }, pm.history, 5),
		      KS_EINVAL);
	model_meta(r, &rm);
	assert_memory_equal(rm.history, pm.history, 16);
	assert_ks_ok(store_adopt_history(r, pm2.history, pm.history, 5));
	assert_ks_ok(store_check(r));
	model_meta(r, &rm);
	assert_memory_equal(rm.history, pm2.history, 16);
	assert_memory_equal(rm.applied_history, pm2.history, 16);
	assert_memory_equal(rm.prev_history, pm.history, 16);
	assert_int_equal(rm.prev_last_seq, 5);
	assert_ks_ok(store_apply(r, &b));
	assert_ks_ok(store_check(r));
	model_meta(r, &rm);
	model_meta(p, &pm2);
	assert_memory_equal(rm.digest, pm2.digest, 32);
	assert_int_equal(rm.applied_seq, 8);
	/* a promoted replica stops taking batches of the old primary */
	assert_ks_ok(store_new_history(r));
	assert_ks_ok(store_check(r));
	commit_n(p, 1, 20);
	read_batch(p, 9, 64, &cb, &b);
	assert_ks_err(store_apply(r, &b), KS_ESTATE);
	copy_free(&cb);
	store_close(p);
	store_close(r);
	test_rmtree_free(dp);
	test_rmtree_free(dr);
}

/* --- peers -------------------------------------------------------------------- */

static void test_peers(void **state)
{
	(void)state;
	char *dir = test_mkdtemp("store");
	store_t *s = open_store(dir, NULL);
	char longname[STORE_MAX_PEER_NAME + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_ks_ok(store_peer_ack(s, "kdc2", 10));
	assert_ks_ok(store_peer_ack(s, "kdc3", 4));
	assert_ks_ok(store_peer_ack(s, "kdc2", 7)); /* never backwards */
	assert_ks_err(store_peer_ack(s, "", 1), KS_EINVAL);
	assert_ks_err(store_peer_ack(s, NULL, 1), KS_EINVAL);
	assert_ks_err(store_peer_ack(s, longname, 1), KS_EINVAL);
	assert_ks_ok(store_check(s));
	store_close(s);
	s = open_store(dir, NULL);
	store_txn_t *t;
	uint64_t seq = 0;
	assert_ks_ok(store_read_begin(s, &t));
	assert_ks_ok(store_peer_get(t, "kdc2", &seq));
	assert_int_equal(seq, 10);
	assert_ks_ok(store_peer_get(t, "kdc3", &seq));
	assert_int_equal(seq, 4);
	assert_ks_err(store_peer_get(t, "kdc4", &seq), KS_ENOENT);
	assert_ks_err(store_peer_get(t, "", &seq), KS_EINVAL);
	store_read_end(t);
	assert_ks_ok(store_peer_ack(s, "kdc3", 11));
	assert_ks_ok(store_read_begin(s, &t));
	assert_ks_ok(store_peer_get(t, "kdc3", &seq));
	assert_int_equal(seq, 11);
	store_read_end(t);
	store_close(s);
	test_rmtree_free(dir);
}

/* --- store_check catches corruption ------------------------------------------- */

static void test_check_detects_corruption(void **state)
{
	(void)state;
	char *dir = test_mkdtemp("store");
	store_t *s = open_store(dir, NULL);
	store_change_t c[] = { model_put("Pa", "1"), model_put("Pb", "2"),
			       model_put("Pc", "3") };
	commit_ok(s, c, 3, 1, 3);
	store_close(s);
	/* a record changed behind the digest's back (and the log's) */
	raw_put(dir, "rec0", "Pb", 2, "X", 1, false);
	assert_ks_ok(store_open(dir, NULL, &s));
	assert_ks_err(store_check(s), KS_ECORRUPT);
	store_close(s);
	raw_put(dir, "rec0", "Pb", 2, "2", 1, false);
	assert_ks_ok(store_open(dir, NULL, &s));
	assert_ks_ok(store_check(s));
	store_close(s);
	/* a hole in the log */
	uint8_t k2[8] = { 0, 0, 0, 0, 0, 0, 0, 2 };
	raw_put(dir, "log", k2, 8, NULL, 0, true);
	assert_ks_ok(store_open(dir, NULL, &s));
	assert_ks_err(store_check(s), KS_ECORRUPT);
	store_txn_t *t;
	assert_ks_ok(store_read_begin(s, &t));
	assert_ks_err(store_log_foreach(t, 1, log_collect_cb,
					&(struct log_collect){ .n = 0 }),
		      KS_ECORRUPT);
	store_read_end(t);
	store_close(s);
	test_rmtree_free(dir);

	/* a bucket entry that disagrees, a record the log does not explain */
	dir = test_mkdtemp("store");
	s = open_store(dir, NULL);
	commit_ok(s, c, 3, 1, 3);
	store_close(s);
	uint32_t bk = store_key_bucket(sv("Pa"));
	uint8_t key[2] = { (uint8_t)(bk >> 8), (uint8_t)bk };
	uint8_t val[40] = { 0 };
	val[39] = 1;
	raw_put(dir, "bkt0", key, 2, val, 40, false);
	assert_ks_ok(store_open(dir, NULL, &s));
	assert_ks_err(store_check(s), KS_ECORRUPT);
	store_close(s);
	test_rmtree_free(dir);

	/* long keys (store.h "Long keys"): a record under another key's LMDB
	 * form, a copy in a second slot, a malformed value */
	char lk[601];
	memset(lk, 'L', 600);
	lk[0] = 'P';
	lk[600] = '\0';
	uint8_t form[STORE_LMDB_KEY];
	assert_ks_ok(store__key_long_form(sv(lk), form));
	size_t vlen = store__long_value_len(sv(lk), sv("v"));
	uint8_t *lv = malloc(vlen);
	assert_non_null(lv);
	store__long_value_write(lv, sv(lk), sv("v"));
	for (int bad = 0; bad < 3; bad++) {
		dir = test_mkdtemp("store");
		s = open_store(dir, NULL);
		store_change_t lc = model_put(lk, "v");
		commit_ok(s, &lc, 1, 1, 1);
		store_close(s);
		uint8_t f2[STORE_LMDB_KEY];
		memcpy(f2, form, sizeof(f2));
		if (bad == 0) { /* the record under a wrong hash */
			f2[STORE_KEY_PREFIX + 1] ^= 1;
			raw_put(dir, "rec0", form, sizeof(form), NULL, 0, true);
			raw_put(dir, "rec0", f2, sizeof(f2), lv, vlen, false);
		} else if (bad == 1) { /* the same key in slot 1 too */
			f2[STORE_LMDB_KEY - 1] = 1;
			raw_put(dir, "rec0", f2, sizeof(f2), lv, vlen, false);
		} else { /* a key length beyond the value */
			uint8_t b[4] = { 0, 0, 9, 0 };
			raw_put(dir, "rec0", form, sizeof(form), b, 4, false);
		}
		assert_ks_ok(store_open(dir, NULL, &s));
		assert_ks_err(store_check(s), KS_ECORRUPT);
		if (bad == 2) {
			store_txn_t *t2;
			ks_view_t v;
			assert_ks_ok(store_read_begin(s, &t2));
			assert_ks_err(store_get(t2, sv(lk), &v), KS_ECORRUPT);
			store_read_end(t2);
		}
		store_close(s);
		test_rmtree_free(dir);
	}
	free(lv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_new_and_reopen),
		cmocka_unit_test(test_format_mismatch),
		cmocka_unit_test(test_commit_and_reads),
		cmocka_unit_test(test_commit_order_and_append),
		cmocka_unit_test(test_commit_invalid),
		cmocka_unit_test(test_map_growth),
		cmocka_unit_test(test_map_growth_blocked_by_reader),
		cmocka_unit_test(test_readers_full),
		cmocka_unit_test(test_apply),
		cmocka_unit_test(test_batchings_equal_digest),
		cmocka_unit_test(test_bisect),
		cmocka_unit_test(test_stage),
		cmocka_unit_test(test_stage_large),
		cmocka_unit_test(test_trim),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_peers),
		cmocka_unit_test(test_check_detects_corruption),
	};
	return test_run_group(tests, NULL, NULL);
}
