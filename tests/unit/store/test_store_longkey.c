/* SPDX-License-Identifier: MIT */
/*
 * store/: record keys longer than LMDB's 511-byte key limit (store.h,
 * "Long keys"): point reads, updates and deletes; iteration in full-key
 * byte order when short and long keys share their first 478 bytes, from
 * any starting key; forced hash collisions (store__key_weak_hash) and the
 * 256-slot limit; staging, replica applies and commits of the same records
 * giving the same digests; bucket bisection finding differing long keys;
 * the key size limit.  Every mutation is followed by store_check().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "store/internal.h"

typedef struct rec {
	uint8_t *key;
	size_t klen;
	char val[64];
	bool present;
} rec_t;

static uint64_t rng(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* 'P' + printable bytes: the first \p plen from \p pseed (shared prefix),
 * the rest from \p tseed, \p len in all. */
static void make_key(rec_t *r, size_t len, uint64_t pseed, size_t plen,
		     uint64_t tseed)
{
	static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789./-@";
	r->key = malloc(len);
	assert_non_null(r->key);
	r->klen = len;
	r->key[0] = 'P';
	for (size_t i = 1; i < len; i++) {
		uint64_t *s = i < plen ? &pseed : &tseed;
		r->key[i] = (uint8_t)al[rng(s) % (sizeof(al) - 1)];
	}
}

static ks_view_t kv(const rec_t *r)
{
	return (ks_view_t){ .ptr = r->key, .len = r->klen };
}

static ks_view_t vv(const rec_t *r)
{
	return (ks_view_t){ .ptr = (const uint8_t *)r->val,
			    .len = strlen(r->val) };
}

static int key_cmp(ks_view_t a, ks_view_t b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = memcmp(a.ptr, b.ptr, n);
	return c ? c : (a.len > b.len) - (a.len < b.len);
}

static int rec_cmp(const void *x, const void *y)
{
	return key_cmp(kv(x), kv(y));
}

static void recs_free(rec_t *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(r[i].key);
	free(r);
}

static store_t *open_store(const char *dir)
{
	store_t *s = NULL;
	store_opts_t o = { .nosync = true };
	assert_ks_ok(store_open(dir, &o, &s));
	return s;
}

/* Commit PUTs (or DELs) of the records flagged in \p sel. */
static void commit_recs(store_t *s, rec_t *r, size_t n, const bool *sel,
			enum store_op op)
{
	store_change_t *ch = calloc(n ? n : 1, sizeof(*ch));
	size_t k = 0;
	assert_non_null(ch);
	for (size_t i = 0; i < n; i++) {
		if (sel && !sel[i])
			continue;
		ch[k].op = op;
		ch[k].key = kv(&r[i]);
		if (op == STORE_PUT)
			ch[k].value = vv(&r[i]);
		r[i].present = op == STORE_PUT;
		k++;
	}
	assert_ks_ok(store_commit(s, ch, k, 1, NULL, NULL));
	assert_ks_ok(store_check(s));
	free(ch);
}

/* PUT all records in \p k commits (record i in commit i % k). */
static void commit_in_batches(store_t *s, rec_t *r, size_t n, bool *sel,
			      size_t k)
{
	for (size_t b = 0; b < k; b++) {
		for (size_t i = 0; i < n; i++)
			sel[i] = i % k == b;
		commit_recs(s, r, n, sel, STORE_PUT);
	}
}

/* 256-bit big-endian sum of the record hashes: the documented digest. */
static void add256(uint8_t acc[32], const uint8_t x[32])
{
	unsigned carry = 0;
	for (int i = 31; i >= 0; i--) {
		unsigned v = acc[i] + x[i] + carry;
		acc[i] = (uint8_t)v;
		carry = v >> 8;
	}
}

struct walk {
	const rec_t *want; /* present records, sorted */
	size_t n, pos;
};

static int walk_cb(ks_view_t k, ks_view_t v, void *ctx)
{
	struct walk *w = ctx;
	assert_true(w->pos < w->n);
	const rec_t *r = &w->want[w->pos++];
	test_assert_mem_eq(k.ptr, k.len, r->key, r->klen);
	test_assert_mem_eq(v.ptr, v.len, r->val, strlen(r->val));
	return 0;
}

/*
 * The store holds exactly the present records: each one by store_get(),
 * the whole set in full-key order from the start and from each key (and
 * from a key just after each), and the digest and count.
 */
static void verify(store_t *s, const rec_t *r, size_t n, bool from_each)
{
	rec_t *p = calloc(n ? n : 1, sizeof(*p));
	size_t np = 0;
	uint8_t dg[32] = { 0 }, h[32];
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		if (r[i].present)
			p[np++] = r[i];
	qsort(p, np, sizeof(*p), rec_cmp);
	store_txn_t *t;
	assert_ks_ok(store_read_begin(s, &t));
	for (size_t i = 0; i < n; i++) {
		ks_view_t v;
		if (!r[i].present) {
			assert_ks_err(store_get(t, kv(&r[i]), &v), KS_ENOENT);
			continue;
		}
		assert_ks_ok(store_get(t, kv(&r[i]), &v));
		test_assert_mem_eq(v.ptr, v.len, r[i].val, strlen(r[i].val));
		assert_ks_ok(store_record_hash(kv(&r[i]), vv(&r[i]), h));
		add256(dg, h);
	}
	struct walk w = { p, np, 0 };
	assert_ks_ok(store_records_foreach(t, (ks_view_t){ 0 }, walk_cb, &w));
	assert_int_equal(w.pos, np);
	for (size_t i = 0; from_each && i < np; i++) {
		w = (struct walk){ p + i, np - i, 0 };
		assert_ks_ok(store_records_foreach(t, kv(&p[i]), walk_cb, &w));
		assert_int_equal(w.pos, np - i);
		/* the least key after p[i] (p[i] + 0x00) starts at p[i + 1] */
		if (p[i].klen == STORE_MAX_KEY)
			continue;
		uint8_t *nk = malloc(p[i].klen + 1);
		assert_non_null(nk);
		memcpy(nk, p[i].key, p[i].klen);
		nk[p[i].klen] = 0;
		w = (struct walk){ p + i + 1, np - i - 1, 0 };
		assert_ks_ok(store_records_foreach(
			t, (ks_view_t){ nk, p[i].klen + 1 }, walk_cb, &w));
		assert_int_equal(w.pos, np - i - 1);
		free(nk);
	}
	store_meta_t m;
	assert_ks_ok(store_meta_get(t, &m));
	assert_int_equal(m.record_count, np);
	assert_memory_equal(m.digest, dg, 32);
	store_read_end(t);
	free(p);
}

/* --- tests ------------------------------------------------------------------- */

static void test_long_basic(void **state)
{
	(void)state;
	char *dir = test_mkdtemp("store");
	store_t *s = open_store(dir);
	static const size_t lens[] = { 2,    478,  510,	  511,
				       511,  512,  600,	  1000,
				       2001, 4096, 40000, STORE_MAX_KEY };
	size_t n = sizeof(lens) / sizeof(lens[0]);
	rec_t *r = calloc(n, sizeof(*r));
	assert_non_null(r);
	for (size_t i = 0; i < n; i++) {
		make_key(&r[i], lens[i], 100 + i, 0, 200 + i);
		snprintf(r[i].val, sizeof(r[i].val), "value %zu;\n", i);
	}
	r[4].key[STORE_KEY_PREFIX] = 0; /* 511 bytes, long form */
	assert_false(store__key_is_long(kv(&r[3])));
	assert_true(store__key_is_long(kv(&r[4])));
	assert_true(store__key_is_long(kv(&r[5])));
	commit_recs(s, r, n, NULL, STORE_PUT);
	verify(s, r, n, true);

	/* change some, delete some; values survive a reopen */
	bool sel[12] = { false };
	snprintf(r[8].val, sizeof(r[8].val), "changed;\n");
	snprintf(r[4].val, sizeof(r[4].val), "%s", "");
	sel[8] = sel[4] = true;
	commit_recs(s, r, n, sel, STORE_PUT);
	memset(sel, 0, sizeof(sel));
	sel[6] = sel[11] = sel[5] = true;
	commit_recs(s, r, n, sel, STORE_DEL);
	verify(s, r, n, true);
	store_close(s);
	s = open_store(dir);
	assert_ks_ok(store_check(s));
	verify(s, r, n, true);

	/* the log carries full keys */
	store_txn_t *t;
	assert_ks_ok(store_read_begin(s, &t));
	store_meta_t m;
	assert_ks_ok(store_meta_get(t, &m));
	assert_int_equal(m.last_seq, n + 2 + 3);
	store_read_end(t);

	/* a key of STORE_MAX_KEY + 1 bytes is refused; nothing changes */
	rec_t big = { 0 };
	make_key(&big, STORE_MAX_KEY + 1, 1, 0, 2);
	store_change_t c = { .op = STORE_PUT, .key = kv(&big) };
	assert_ks_err(store_commit(s, &c, 1, 1, NULL, NULL), KS_EINVAL);
	assert_ks_err(store_stage_put(s, &c, 1), KS_EINVAL);
	assert_ks_ok(store_read_begin(s, &t));
	ks_view_t v;
	assert_ks_err(store_get(t, kv(&big), &v), KS_EINVAL);
	store_read_end(t);
	verify(s, r, n, false);
	free(big.key);
	recs_free(r, n);
	store_close(s);
	test_rmtree_free(dir);
}

/* Short and long keys sharing their first 478 bytes, in any order. */
static void test_long_order(void **state)
{
	(void)state;
	uint64_t seed = test_seed();
	char *dir = test_mkdtemp("store");
	store_t *s = open_store(dir);
	enum {
		N = 60
	};
	rec_t *r = calloc(N, sizeof(*r));
	assert_non_null(r);
	for (size_t i = 0; i < N; i++) {
		/* lengths around the boundaries, three shared prefixes */
		static const size_t lens[] = { 477, 478, 479, 500, 510,
					       511, 512, 513, 700, 1500 };
		size_t len = lens[rng(&seed) % 10];
		make_key(&r[i], len, 7 + i % 3, STORE_KEY_PREFIX + 1 + i % 4,
			 1000 + i);
		if (i % 7 == 0 && len > STORE_KEY_PREFIX)
			r[i].key[STORE_KEY_PREFIX] = 0;
		if (i % 11 == 0 && len > STORE_KEY_PREFIX + 1)
			r[i].key[STORE_KEY_PREFIX + 1] = 1;
		snprintf(r[i].val, sizeof(r[i].val), "v%zu;\n", i);
	}
	/* duplicates are possible with short tails: keep the first */
	qsort(r, N, sizeof(*r), rec_cmp);
	size_t n = 0;
	for (size_t i = 0; i < N; i++) {
		if (n && key_cmp(kv(&r[n - 1]), kv(&r[i])) == 0) {
			free(r[i].key);
			continue;
		}
		r[n++] = r[i];
	}
	/* commit in shuffled batches */
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = rng(&seed) % (i + 1);
		rec_t x = r[i];
		r[i] = r[j];
		r[j] = x;
	}
	bool *sel = calloc(n, sizeof(*sel));
	assert_non_null(sel);
	commit_in_batches(s, r, n, sel, 4);
	verify(s, r, n, true);
	for (size_t i = 0; i < n; i++)
		sel[i] = i % 3 == 0;
	commit_recs(s, r, n, sel, STORE_DEL);
	verify(s, r, n, true);
	free(sel);
	recs_free(r, n);
	store_close(s);
	test_rmtree_free(dir);
}

/* Stage \p r (present ones) into \p s in shuffled order, with an earlier
 * wrong value for some keys (the last put wins), and promote. */
static void stage_recs(store_t *s, rec_t *r, size_t n, uint64_t *seed,
		       const uint8_t digest[32])
{
	size_t *ord = malloc(n * sizeof(*ord));
	store_change_t *ch = calloc(2 * n, sizeof(*ch));
	size_t k = 0;
	assert_non_null(ord);
	assert_non_null(ch);
	for (size_t i = 0; i < n; i++)
		ord[i] = i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = rng(seed) % (i + 1), x = ord[i];
		ord[i] = ord[j];
		ord[j] = x;
	}
	for (size_t i = 0; i < n; i++) {
		const rec_t *x = &r[ord[i]];
		if (!x->present)
			continue;
		if (i % 5 == 0)
			ch[k++] = (store_change_t){
				.op = STORE_PUT,
				.key = kv(x),
				.value = { (const uint8_t *)"old", 3 }
			};
	}
	for (size_t i = 0; i < n; i++) {
		const rec_t *x = &r[ord[i]];
		if (x->present)
			ch[k++] = (store_change_t){ .op = STORE_PUT,
						    .key = kv(x),
						    .value = vv(x) };
	}
	uint8_t hist[16] = { 9 };
	assert_ks_ok(store_stage_begin(s));
	for (size_t i = 0; i < k; i += 7) {
		assert_ks_ok(store_stage_put(s, ch + i, k - i < 7 ? k - i : 7));
		/* half-way, build the set: the rest is merged put by put */
		if (i < k / 2 && i + 7 >= k / 2)
			assert_ks_ok(store_stage_info(s, NULL, NULL));
	}
	assert_ks_ok(store_stage_install(s, hist, 5, digest));
	assert_ks_ok(store_check(s));
	free(ord);
	free(ch);
}

static void get_digest(store_t *s, uint8_t out[32])
{
	store_txn_t *t;
	store_meta_t m;
	assert_ks_ok(store_read_begin(s, &t));
	assert_ks_ok(store_meta_get(t, &m));
	memcpy(out, m.digest, 32);
	store_read_end(t);
}

/* Every long key with one prefix collides: slots, the 256 limit. */
static void test_long_collisions(void **state)
{
	(void)state;
	uint64_t seed = test_seed();
	char *d1 = test_mkdtemp("a"), *d2 = test_mkdtemp("b");
	store__key_weak_hash = true;
	store_t *s = open_store(d1);
	enum {
		N = 40
	};
	rec_t *r = calloc(N, sizeof(*r));
	assert_non_null(r);
	for (size_t i = 0; i < N; i++) {
		make_key(&r[i], 520 + 37 * i, 5, STORE_KEY_PREFIX + 2, 300 + i);
		snprintf(r[i].val, sizeof(r[i].val), "c%zu;\n", i);
	}
	bool sel[N];
	commit_in_batches(s, r, N, sel, 3);
	verify(s, r, N, true);
	/* delete some (holes in the slots), then add them back changed */
	for (size_t i = 0; i < N; i++)
		sel[i] = i % 4 == 1;
	commit_recs(s, r, N, sel, STORE_DEL);
	verify(s, r, N, true);
	for (size_t i = 0; i < N; i++)
		if (sel[i])
			snprintf(r[i].val, sizeof(r[i].val), "again%zu;\n", i);
	commit_recs(s, r, N, sel, STORE_PUT);
	verify(s, r, N, true);

	/* at most 256 keys per prefix and hash: the 257th is refused */
	enum {
		M = 256 - N + 1
	};
	rec_t *more = calloc(M, sizeof(*more));
	assert_non_null(more);
	store_change_t *ch = calloc(M, sizeof(*ch));
	assert_non_null(ch);
	for (size_t i = 0; i < M; i++) {
		make_key(&more[i], 600, 5, STORE_KEY_PREFIX + 2, 9000 + i);
		snprintf(more[i].val, sizeof(more[i].val), "m;\n");
		ch[i] = (store_change_t){ .op = STORE_PUT,
					  .key = kv(&more[i]),
					  .value = vv(&more[i]) };
	}
	uint8_t before[32], after[32];
	get_digest(s, before);
	assert_ks_err(store_commit(s, ch, M, 1, NULL, NULL), KS_ELIMIT);
	get_digest(s, after);
	assert_memory_equal(before, after, 32);
	assert_ks_ok(store_commit(s, ch, M - 1, 1, NULL, NULL));
	assert_ks_ok(store_check(s));
	assert_ks_ok(store_commit(s, ch, M - 1, 1, NULL, NULL)); /* no-op */
	store_change_t dels[M - 1];
	for (size_t i = 0; i + 1 < M; i++)
		dels[i] = (store_change_t){ .op = STORE_DEL, .key = ch[i].key };
	assert_ks_ok(store_commit(s, dels, M - 1, 1, NULL, NULL));
	assert_ks_ok(store_check(s));
	verify(s, r, N, false);

	/* staging the same records (colliding too) gives the same set */
	uint8_t want[32];
	get_digest(s, want);
	store_t *s2 = open_store(d2);
	stage_recs(s2, r, N, &seed, want);
	verify(s2, r, N, true);
	store_close(s2);
	store_close(s);
	store__key_weak_hash = false;

	/* and the digest does not depend on the LMDB form */
	test_rmtree_free(d2);
	d2 = test_mkdtemp("c");
	s2 = open_store(d2);
	stage_recs(s2, r, N, &seed, want);
	verify(s2, r, N, false);
	store_close(s2);
	for (size_t i = 0; i < M; i++)
		free(more[i].key);
	free(more);
	free(ch);
	recs_free(r, N);
	test_rmtree_free(d1);
	test_rmtree_free(d2);
}

struct klist {
	ks_view_t key[1024];
	uint8_t hash[1024][32];
	size_t n;
};

static int list_cb(uint32_t b, ks_view_t k, ks_view_t v, const uint8_t h[32],
		   void *ctx)
{
	struct klist *l = ctx;
	uint8_t want[32];
	assert_int_equal(b, store_key_bucket(k));
	assert_ks_ok(store_record_hash(k, v, want));
	assert_memory_equal(want, h, 32);
	assert_true(l->n < 1024);
	if (l->n)
		assert_true(key_cmp(l->key[l->n - 1], k) < 0);
	l->key[l->n] = k;
	memcpy(l->hash[l->n], h, 32);
	l->n++;
	return 0;
}

static void bisect(store_txn_t *a, store_txn_t *b, uint32_t lo, uint32_t hi,
		   struct klist *diff)
{
	uint8_t da[32], db[32];
	uint64_t na, nb;
	assert_ks_ok(store_range_digest(a, lo, hi, da, &na));
	assert_ks_ok(store_range_digest(b, lo, hi, db, &nb));
	if (na == nb && memcmp(da, db, 32) == 0)
		return;
	if (hi - lo > 1) {
		bisect(a, b, lo, lo + (hi - lo) / 2, diff);
		bisect(a, b, lo + (hi - lo) / 2, hi, diff);
		return;
	}
	struct klist *la = calloc(1, sizeof(*la)), *lb = calloc(1, sizeof(*lb));
	assert_non_null(la);
	assert_non_null(lb);
	assert_ks_ok(store_bucket_foreach(a, lo, hi, list_cb, la));
	assert_ks_ok(store_bucket_foreach(b, lo, hi, list_cb, lb));
	/* merge the two ordered listings */
	size_t i = 0, j = 0;
	while (i < la->n || j < lb->n) {
		int c = i == la->n   ? 1
			: j == lb->n ? -1
				     : key_cmp(la->key[i], lb->key[j]);
		if (c == 0 && memcmp(la->hash[i], lb->hash[j], 32) == 0) {
			i++, j++;
			continue;
		}
		assert_true(diff->n < 1024);
		diff->key[diff->n++] = c <= 0 ? la->key[i] : lb->key[j];
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	free(la);
	free(lb);
}

/* Replays a log into a replica in batches of up to 64 (views valid while
 * the source's read txn is open). */
struct replay {
	store_t *dst;
	uint8_t hist[16];
	store_change_t ch[64];
	size_t n;
	uint64_t first;
};

static void replay_flush(struct replay *rp)
{
	if (rp->n == 0)
		return;
	store_batch_t b = { .first_seq = rp->first,
			    .commit_time_us = 1,
			    .ch = rp->ch,
			    .n = rp->n };
	memcpy(b.history, rp->hist, 16);
	assert_ks_ok(store_apply(rp->dst, &b));
	rp->n = 0;
}

static int replay_cb(const store_log_entry_t *e, void *ctx)
{
	struct replay *rp = ctx;
	if (rp->n == 0)
		rp->first = e->seq;
	rp->ch[rp->n++] = (store_change_t){ .op = e->op,
					    .key = e->key,
					    .value = e->value };
	if (rp->n == 64)
		replay_flush(rp);
	return 0;
}

/* Commit, stage and replica apply agree; bisection finds long keys. */
static void test_long_paths_and_bisect(void **state)
{
	(void)state;
	uint64_t seed = test_seed();
	char *d1 = test_mkdtemp("a"), *d2 = test_mkdtemp("b"),
	     *d3 = test_mkdtemp("c");
	store_t *a = open_store(d1), *b = open_store(d2), *c = open_store(d3);
	enum {
		N = 600
	};
	rec_t *r = calloc(N, sizeof(*r));
	assert_non_null(r);
	for (size_t i = 0; i < N; i++) {
		size_t len =
			i % 3 ? 10 + rng(&seed) % 60 : 480 + rng(&seed) % 3000;
		/* odd long keys share 481 bytes with others */
		size_t plen = len > STORE_KEY_PREFIX && i % 2
				      ? STORE_KEY_PREFIX + 3
				      : 4;
		make_key(&r[i], len, 42 + i % 5, plen, 77 + i);
		snprintf(r[i].val, sizeof(r[i].val), "val %zu;\n", i);
	}
	bool sel[N];
	for (size_t k = 0; k < 5; k++) {
		for (size_t i = 0; i < N; i++)
			sel[i] = rng(&seed) % 5 == k;
		commit_recs(a, r, N, sel, STORE_PUT);
	}
	for (size_t i = 0; i < N; i++)
		sel[i] = !r[i].present;
	commit_recs(a, r, N, sel, STORE_PUT);
	verify(a, r, N, false);
	uint8_t want[32];
	get_digest(a, want);
	stage_recs(b, r, N, &seed, want);
	verify(b, r, N, false);

	/* replica c: an empty snapshot, then a's log as batches */
	store_txn_t *t;
	store_meta_t m;
	assert_ks_ok(store_read_begin(a, &t));
	assert_ks_ok(store_meta_get(t, &m));
	assert_ks_ok(store_stage_begin(c));
	assert_ks_ok(store_stage_install(c, m.history, 0, NULL));
	struct replay rp = { .dst = c };
	memcpy(rp.hist, m.history, 16);
	assert_ks_ok(store_log_foreach(t, 1, replay_cb, &rp));
	replay_flush(&rp);
	store_read_end(t);
	assert_ks_ok(store_check(c));
	verify(c, r, N, false);

	/* a and b differ in three long keys: bisection finds exactly them */
	size_t gone = 0, changed = 3, added_i = 6;
	bool one[N];
	memset(one, 0, sizeof(one));
	one[gone] = true;
	commit_recs(a, r, N, one, STORE_DEL);
	r[gone].present = true; /* still in b */
	memset(one, 0, sizeof(one));
	one[changed] = true;
	snprintf(r[changed].val, sizeof(r[changed].val), "b only;\n");
	commit_recs(b, r, N, one, STORE_PUT);
	rec_t extra = { 0 };
	make_key(&extra, 2000, 42, STORE_KEY_PREFIX + 3, 5555);
	snprintf(extra.val, sizeof(extra.val), "extra;\n");
	commit_recs(b, &extra, 1, NULL, STORE_PUT);
	(void)added_i;
	store_txn_t *ta, *tb;
	assert_ks_ok(store_read_begin(a, &ta));
	assert_ks_ok(store_read_begin(b, &tb));
	struct klist *diff = calloc(1, sizeof(*diff));
	assert_non_null(diff);
	bisect(ta, tb, 0, STORE_BUCKETS, diff);
	assert_int_equal(diff->n, 3);
	const rec_t *want_k[3] = { &r[gone], &r[changed], &extra };
	for (size_t i = 0; i < 3; i++) {
		bool found = false;
		for (size_t j = 0; j < diff->n; j++)
			found |= key_cmp(diff->key[j], kv(want_k[i])) == 0;
		assert_true(found);
	}
	free(diff);
	store_read_end(ta);
	store_read_end(tb);
	free(extra.key);
	recs_free(r, N);
	store_close(a);
	store_close(b);
	store_close(c);
	test_rmtree_free(d1);
	test_rmtree_free(d2);
	test_rmtree_free(d3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_basic),
		cmocka_unit_test(test_long_order),
		cmocka_unit_test(test_long_collisions),
		cmocka_unit_test(test_long_paths_and_bisect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
