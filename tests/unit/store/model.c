/* SPDX-License-Identifier: MIT */
/* In-memory model, batch generator and independent digest for store tests. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

void model_init(model_t *m, size_t nkeys)
{
	memset(m, 0, sizeof(*m));
	m->nkeys = nkeys;
	m->val = calloc(nkeys, sizeof(*m->val));
	m->present = calloc(nkeys, sizeof(*m->present));
	assert_non_null(m->val);
	assert_non_null(m->present);
}

void model_free(model_t *m)
{
	for (size_t i = 0; i < m->nkeys; i++)
		ks_buf_free(&m->val[i]);
	free(m->val);
	free(m->present);
	memset(m, 0, sizeof(*m));
}

ks_view_t model_key(size_t id, char buf[48])
{
	int n = snprintf(buf, 48, "Puser%zu@EXAMPLE.COM", id);
	return (ks_view_t){ .ptr = (const uint8_t *)buf, .len = (size_t)n };
}

void model_value(size_t id, uint64_t version, size_t len, ks_buf_t *out)
{
	char head[160];
	ks_buf_reset(out);
	int n = snprintf(
		head, sizeof(head),
		"princ\t38\t20\t4\t3\t0\tuser%zu@EXAMPLE.COM\t0\t86400\t604800\t0\t0\t0\t%llu\t0\t",
		id, (unsigned long long)version);
	assert_ks_ok(ks_buf_append(out, head, (size_t)n));
	/* hex "key data" up to len, derived from (id, version) */
	uint64_t x = (uint64_t)id * 0x9e3779b97f4a7c15ull ^ version;
	while (out->len + 1 < len) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		char c = "0123456789abcdef"[(x >> 60) & 15];
		assert_ks_ok(ks_buf_append(out, &c, 1));
	}
	if (len > 0)
		assert_ks_ok(ks_buf_append(out, ";", 1));
}

void batch_gen(batch_t *b, const model_t *m, uint64_t *seed, size_t max)
{
	size_t n = 1 + test_rand(seed) %
			       (max < MODEL_MAX_BATCH ? max : MODEL_MAX_BATCH);
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		size_t id = test_rand(seed) % m->nkeys;
		unsigned kind = (unsigned)(test_rand(seed) % 100);
		store_change_t *c = &b->ch[i];
		b->id[i] = id;
		c->key = model_key(id, b->key[i]);
		c->value = (ks_view_t){ 0 };
		if (kind < 50) { /* new value */
			c->op = STORE_PUT;
			model_value(id, test_rand(seed),
				    60 + test_rand(seed) % 400, &b->val[i]);
		} else if (kind < 65 && m->present[id]) { /* identical */
			c->op = STORE_PUT;
			ks_buf_reset(&b->val[i]);
			assert_ks_ok(ks_buf_append(&b->val[i], m->val[id].data,
						   m->val[id].len));
		} else if (kind < 70) { /* empty value */
			c->op = STORE_PUT;
			ks_buf_reset(&b->val[i]);
		} else { /* delete, present or not */
			c->op = STORE_DEL;
		}
		if (c->op == STORE_PUT)
			c->value = ks_buf_view(&b->val[i]);
	}
}

void batch_free(batch_t *b)
{
	for (size_t i = 0; i < MODEL_MAX_BATCH; i++)
		ks_buf_free(&b->val[i]);
}

uint64_t model_apply(model_t *m, const batch_t *b)
{
	uint64_t logged = 0;
	for (size_t i = 0; i < b->n; i++) {
		size_t id = b->id[i];
		const store_change_t *c = &b->ch[i];
		if (c->op == STORE_PUT) {
			if (m->present[id] && m->val[id].len == c->value.len &&
			    (c->value.len == 0 ||
			     memcmp(m->val[id].data, c->value.ptr,
				    c->value.len) == 0))
				continue;
			if (!m->present[id])
				m->count++;
			m->present[id] = true;
			ks_buf_reset(&m->val[id]);
			if (c->value.len)
				assert_ks_ok(ks_buf_append(&m->val[id],
							   c->value.ptr,
							   c->value.len));
		} else {
			if (!m->present[id])
				continue;
			m->present[id] = false;
			m->count--;
		}
		logged++;
	}
	m->last_seq += logged;
	return logged;
}

/* acc += h, both 32-byte big-endian, modulo 2^256 (byte-wise on purpose:
 * independent of the store's 64-bit limb code). */
static void add_be256(uint8_t acc[32], const uint8_t h[32])
{
	unsigned carry = 0;
	for (int i = 31; i >= 0; i--) {
		unsigned s = (unsigned)acc[i] + h[i] + carry;
		acc[i] = (uint8_t)s;
		carry = s >> 8;
	}
}

static void sha_record(ks_view_t k, ks_view_t v, uint8_t out[32])
{
	uint8_t len[4] = { (uint8_t)(k.len >> 24), (uint8_t)(k.len >> 16),
			   (uint8_t)(k.len >> 8), (uint8_t)k.len };
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int olen = 0;
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, len, 4), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, k.ptr, k.len), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, v.ptr, v.len), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, out, &olen), 1);
	EVP_MD_CTX_free(ctx);
}

void model_digest(const model_t *m, uint8_t out[32])
{
	char kb[48];
	uint8_t h[32];
	memset(out, 0, 32);
	for (size_t id = 0; id < m->nkeys; id++) {
		if (!m->present[id])
			continue;
		sha_record(model_key(id, kb), ks_buf_view(&m->val[id]), h);
		add_be256(out, h);
	}
}

struct scan {
	uint8_t digest[32];
	uint64_t count;
};

static int scan_cb(ks_view_t k, ks_view_t v, void *ctx)
{
	struct scan *sc = ctx;
	uint8_t h[32];
	sha_record(k, v, h);
	add_be256(sc->digest, h);
	sc->count++;
	return 0;
}

void test_store_scan_digest(store_t *s, uint8_t out[32], uint64_t *count)
{
	store_txn_t *t;
	struct scan sc = { { 0 }, 0 };
	assert_ks_ok(store_read_begin(s, &t));
	assert_ks_ok(store_records_foreach(t, (ks_view_t){ 0 }, scan_cb, &sc));
	store_read_end(t);
	memcpy(out, sc.digest, 32);
	if (count)
		*count = sc.count;
}

struct verify {
	const model_t *m;
	size_t seen;
};

static int verify_cb(ks_view_t k, ks_view_t v, void *ctx)
{
	struct verify *vf = ctx;
	char kb[48];
	unsigned long id = 0;
	int used = 0;
	assert_true(k.len < sizeof(kb));
	memcpy(kb, k.ptr, k.len);
	kb[k.len] = '\0';
	assert_int_equal(sscanf(kb, "Puser%lu@EXAMPLE.COM%n", &id, &used), 1);
	assert_int_equal((size_t)used, k.len);
	assert_true(id < vf->m->nkeys);
	assert_true(vf->m->present[id]);
	test_assert_mem_eq(v.ptr, v.len, vf->m->val[id].data,
			   vf->m->val[id].len);
	vf->seen++;
	return 0;
}

void model_verify(const model_t *m, store_t *s)
{
	store_txn_t *t;
	store_meta_t meta;
	uint8_t want[32];
	struct verify vf = { m, 0 };
	assert_ks_ok(store_read_begin(s, &t));
	assert_ks_ok(store_meta_get(t, &meta));
	assert_ks_ok(
		store_records_foreach(t, (ks_view_t){ 0 }, verify_cb, &vf));
	assert_int_equal(vf.seen, m->count);
	assert_int_equal(meta.record_count, m->count);
	/* point reads of every key, present or not */
	for (size_t id = 0; id < m->nkeys; id++) {
		char kb[48];
		ks_view_t v;
		int ret = store_get(t, model_key(id, kb), &v);
		if (m->present[id]) {
			assert_ks_ok(ret);
			test_assert_mem_eq(v.ptr, v.len, m->val[id].data,
					   m->val[id].len);
		} else {
			assert_ks_err(ret, KS_ENOENT);
		}
	}
	store_read_end(t);
	model_digest(m, want);
	test_assert_mem_eq(meta.digest, 32, want, 32);
}

/* --- log to batch ---------------------------------------------------- */

static int copy_cb(const store_log_entry_t *e, void *ctx)
{
	struct copy_batch *cb = ctx;
	if (cb->n == 0)
		cb->first = e->seq;
	assert_true(cb->n < 64);
	size_t i = cb->n++;
	ks_buf_reset(&cb->keys[i]);
	ks_buf_reset(&cb->vals[i]);
	assert_ks_ok(ks_buf_append(&cb->keys[i], e->key.ptr, e->key.len));
	if (e->value.len)
		assert_ks_ok(ks_buf_append(&cb->vals[i], e->value.ptr,
					   e->value.len));
	cb->ch[i] = (store_change_t){ .op = e->op,
				      .key = ks_buf_view(&cb->keys[i]),
				      .value = ks_buf_view(&cb->vals[i]) };
	return cb->n == 64 ? 1 : 0;
}

void copy_free(struct copy_batch *cb)
{
	for (size_t i = 0; i < 64; i++) {
		ks_buf_free(&cb->keys[i]);
		ks_buf_free(&cb->vals[i]);
	}
}

/* Read up to \p max log entries from \p from as a batch of \p src. */
void read_batch(store_t *src, uint64_t from, size_t max, struct copy_batch *cb,
		store_batch_t *b)
{
	store_txn_t *t;
	store_meta_t m;
	cb->n = 0;
	assert_ks_ok(store_read_begin(src, &t));
	assert_ks_ok(store_meta_get(t, &m));
	int ret = store_log_foreach(t, from, copy_cb, cb);
	assert_true(ret == 0 || ret == 1);
	store_read_end(t);
	if (cb->n > max)
		cb->n = max;
	*b = (store_batch_t){
		.first_seq = from, .commit_time_us = 5, .ch = cb->ch, .n = cb->n
	};
	memcpy(b->history, m.history, 16);
}

store_change_t model_put(const char *k, const char *v)
{
	return (store_change_t){ .op = STORE_PUT,
				 .key = { (const uint8_t *)k, strlen(k) },
				 .value = { (const uint8_t *)v, strlen(v) } };
}

store_change_t model_del(const char *k)
{
	return (store_change_t){ .op = STORE_DEL,
				 .key = { (const uint8_t *)k, strlen(k) } };
}

void model_meta(store_t *s, store_meta_t *m)
{
	store_txn_t *t;

	assert_ks_ok(store_read_begin(s, &t));
	assert_ks_ok(store_meta_get(t, m));
	store_read_end(t);
}

void model_assert_value(store_t *s, const char *k, const char *want)
{
	store_txn_t *t;
	ks_view_t v;
	ks_view_t key = { (const uint8_t *)k, strlen(k) };

	assert_ks_ok(store_read_begin(s, &t));
	if (want) {
		assert_ks_ok(store_get(t, key, &v));
		test_assert_mem_eq(v.ptr, v.len, want, strlen(want));
	} else {
		assert_ks_err(store_get(t, key, &v), KS_ENOENT);
	}
	store_read_end(t);
}

void model_replica_init(store_t *r, store_t *p)
{
	store_meta_t pm;
	uint8_t empty[32] = { 0 };

	model_meta(p, &pm);
	assert_ks_ok(store_stage_begin(r));
	assert_ks_ok(store_stage_install(r, pm.history, 0, empty));
	assert_ks_ok(store_check(r));
}
