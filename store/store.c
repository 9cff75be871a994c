/* SPDX-License-Identifier: MIT */
/*
 * The store's operations: open/initialise, primary commits, replica applies,
 * snapshot staging, reads, retention, history ids and range digests.  All
 * LMDB access goes through the sticky-error wrapper in db.c; every write
 * runs through store_write(), which reruns the whole transaction after
 * growing the map when LMDB reports it full.
 */
#define _GNU_SOURCE /* qsort_r */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "common/time.h"
#include "common/wire.h"
#include "store/internal.h"

/* Meta keys (readable strings, as in Knot's journal metadata). */
#define MK_FORMAT	   "format"
#define MK_HISTORY	   "history"
#define MK_PREV_HISTORY	   "prev_history"
#define MK_PREV_LAST_SEQ   "prev_last_seq"
#define MK_APPLIED_HISTORY "applied_history"
#define MK_APPLIED_SEQ	   "applied_seq"
#define MK_LAST_SEQ	   "last_seq"
#define MK_OLDEST_SEQ	   "oldest_seq"
#define MK_LOG_BYTES	   "log_bytes"
#define MK_LIVE		   "live"
#define MK_SET_COUNT(i)	   ((i) ? "set1.count" : "set0.count")
#define MK_SET_DIGEST(i)   ((i) ? "set1.digest" : "set0.digest")

#define TRIM_CHUNK	  10000u /* log entries deleted per trim txn */
#define MIN_MAP_SIZE	  ((size_t)256 << 10)
#define MAX_GROW_ATTEMPTS 40

static ks_view_t sv(const char *s)
{
	return (ks_view_t){ .ptr = (const uint8_t *)s, .len = strlen(s) };
}

static ks_view_t bv(const void *p, size_t n)
{
	return (ks_view_t){ .ptr = p, .len = n };
}

/* --- meta ---------------------------------------------------------------- */

static bool meta_get_fixed(db_txn_t *txn, const char *key, void *dst,
			   size_t len)
{
	ks_view_t v;
	if (!db_get(txn, DB_META, sv(key), &v)) {
		if (txn->ret == 0) {
			ks_log_err(STORE, "meta key '%s' is missing", key);
			db_txn_fail(txn, KS_ECORRUPT);
		}
		return false;
	}
	if (v.len != len) {
		ks_log_err(STORE, "meta key '%s' has %zu bytes, expected %zu",
			   key, v.len, len);
		db_txn_fail(txn, KS_ECORRUPT);
		return false;
	}
	memcpy(dst, v.ptr, len);
	return true;
}

static uint64_t meta_get_u64(db_txn_t *txn, const char *key)
{
	uint8_t b[8] = { 0 };
	meta_get_fixed(txn, key, b, 8);
	return ks_get_u64be(b);
}

int meta_load(db_txn_t *txn, meta_t *m)
{
	uint8_t b4[4] = { 0 }, d[32] = { 0 };
	memset(m, 0, sizeof(*m));
	meta_get_fixed(txn, MK_FORMAT, b4, 4);
	m->format = ks_get_u32be(b4);
	meta_get_fixed(txn, MK_HISTORY, m->history, 16);
	meta_get_fixed(txn, MK_PREV_HISTORY, m->prev_history, 16);
	meta_get_fixed(txn, MK_APPLIED_HISTORY, m->applied_history, 16);
	m->prev_last_seq = meta_get_u64(txn, MK_PREV_LAST_SEQ);
	m->applied_seq = meta_get_u64(txn, MK_APPLIED_SEQ);
	m->last_seq = meta_get_u64(txn, MK_LAST_SEQ);
	m->oldest_seq = meta_get_u64(txn, MK_OLDEST_SEQ);
	m->log_bytes = meta_get_u64(txn, MK_LOG_BYTES);
	meta_get_fixed(txn, MK_LIVE, &m->live, 1);
	for (unsigned i = 0; i < 2; i++) {
		m->set_count[i] = meta_get_u64(txn, MK_SET_COUNT(i));
		meta_get_fixed(txn, MK_SET_DIGEST(i), d, 32);
		dg_from_bytes(&m->set_digest[i], d);
	}
	if (txn->ret)
		return txn->ret;
	if (m->format != STORE_FORMAT_VERSION) {
		ks_log_err(STORE,
			   "store format version %u, this build reads %u",
			   m->format, STORE_FORMAT_VERSION);
		return KS_EFORMAT;
	}
	if (m->live > 1 || m->oldest_seq == 0 ||
	    m->oldest_seq > m->last_seq + 1) {
		ks_log_err(
			STORE,
			"meta inconsistent: live %u, oldest_seq %llu, last_seq %llu",
			m->live, (unsigned long long)m->oldest_seq,
			(unsigned long long)m->last_seq);
		return KS_ECORRUPT;
	}
	return KS_EOK;
}

static void meta_put_u64(db_txn_t *txn, const char *key, uint64_t v)
{
	uint8_t b[8];
	ks_put_u64be(b, v);
	db_put(txn, DB_META, sv(key), bv(b, 8));
}

static void meta_save(db_txn_t *txn, const meta_t *m)
{
	uint8_t b4[4], d[32];
	ks_put_u32be(b4, m->format);
	db_put(txn, DB_META, sv(MK_FORMAT), bv(b4, 4));
	db_put(txn, DB_META, sv(MK_HISTORY), bv(m->history, 16));
	db_put(txn, DB_META, sv(MK_PREV_HISTORY), bv(m->prev_history, 16));
	db_put(txn, DB_META, sv(MK_APPLIED_HISTORY),
	       bv(m->applied_history, 16));
	meta_put_u64(txn, MK_PREV_LAST_SEQ, m->prev_last_seq);
	meta_put_u64(txn, MK_APPLIED_SEQ, m->applied_seq);
	meta_put_u64(txn, MK_LAST_SEQ, m->last_seq);
	meta_put_u64(txn, MK_OLDEST_SEQ, m->oldest_seq);
	meta_put_u64(txn, MK_LOG_BYTES, m->log_bytes);
	db_put(txn, DB_META, sv(MK_LIVE), bv(&m->live, 1));
	for (unsigned i = 0; i < 2; i++) {
		meta_put_u64(txn, MK_SET_COUNT(i), m->set_count[i]);
		dg_to_bytes(&m->set_digest[i], d);
		db_put(txn, DB_META, sv(MK_SET_DIGEST(i)), bv(d, 32));
	}
}

static int random_history(uint8_t out[16])
{
	static const uint8_t zero[16];
	do {
		size_t got = 0;
		while (got < 16) {
			ssize_t r = getrandom(out + got, 16 - got, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				int ret = ks_errno(errno);
				ks_log_err(STORE, "getrandom failed (%s)",
					   ks_strerror(ret));
				return ret;
			}
			got += (size_t)r;
		}
	} while (memcmp(out, zero, 16) == 0); /* all-zero means "none" */
	return KS_EOK;
}

/* First txn of an open: initialise a new store or check the format. */
static int store_init(db_txn_t *txn, void *ctx)
{
	(void)ctx;
	ks_view_t v;
	if (db_get(txn, DB_META, sv(MK_FORMAT), &v)) {
		uint32_t fmt = v.len == 4 ? ks_get_u32be(v.ptr) : 0;
		if (v.len != 4) {
			ks_log_err(STORE, "meta 'format' has %zu bytes", v.len);
			return KS_ECORRUPT;
		}
		if (fmt != STORE_FORMAT_VERSION) {
			ks_log_err(
				STORE,
				"store has format version %u, this build reads %u only",
				fmt, STORE_FORMAT_VERSION);
			return KS_EFORMAT;
		}
		meta_t m;
		return meta_load(txn, &m);
	}
	if (txn->ret)
		return txn->ret;
	uint64_t n = 0;
	if (db_count(txn, DB_META, &n) && n != 0) {
		ks_log_err(STORE, "meta has %llu keys but no format version",
			   (unsigned long long)n);
		return KS_ECORRUPT;
	}
	meta_t m = { .format = STORE_FORMAT_VERSION, .oldest_seq = 1 };
	int ret = random_history(m.history);
	if (ret)
		return ret;
	meta_save(txn, &m);
	return txn->ret;
}

/* --- write transactions -------------------------------------------------- */

static void delta_reset(store_t *s)
{
	for (size_t i = 0; i < s->ndirty; i++) {
		uint16_t b = s->dirty_list[i];
		s->dirty[b] = false;
		memset(&s->delta[b], 0, sizeof(s->delta[b]));
	}
	s->ndirty = 0;
}

static void delta_note(store_t *s, uint32_t b, const uint8_t h[32], bool add)
{
	dg256_t x;
	dg_from_bytes(&x, h);
	if (!s->dirty[b]) {
		s->dirty[b] = true;
		s->dirty_list[s->ndirty++] = (uint16_t)b;
	}
	if (add) {
		dg_add(&s->delta[b].add, &x);
		s->delta[b].count++;
	} else {
		dg_add(&s->delta[b].sub, &x);
		s->delta[b].count--;
	}
}

bool bkt_parse(ks_view_t key, ks_view_t val, uint32_t *bucket, dg256_t *d,
	       uint64_t *count)
{
	if (key.len != 2 || val.len != 40)
		return false;
	*bucket = (uint32_t)key.ptr[0] << 8 | key.ptr[1];
	if (*bucket >= STORE_BUCKETS)
		return false;
	dg_from_bytes(d, val.ptr);
	*count = ks_get_u64be(val.ptr + 32);
	return true;
}

static int bucket_cmp(const void *x, const void *y)
{
	uint16_t a = *(const uint16_t *)x, b = *(const uint16_t *)y;
	return (a > b) - (a < b);
}

/*
 * Fold the pending bucket deltas into set \p set's bucket table and meta,
 * in bucket order through one cursor (neighbouring buckets share a leaf).
 */
static int delta_flush(store_t *s, db_txn_t *txn, meta_t *m, unsigned set)
{
	db_cur_t cur;
	int ret = KS_EOK;
	qsort(s->dirty_list, s->ndirty, sizeof(s->dirty_list[0]), bucket_cmp);
	if (!db_cur_open(txn, bkt_db(set), &cur))
		return txn->ret;
	for (size_t i = 0; i < s->ndirty && txn->ret == 0; i++) {
		uint16_t b = s->dirty_list[i];
		const bucket_delta_t *bd = &s->delta[b];
		uint8_t k[2] = { (uint8_t)(b >> 8), (uint8_t)b };
		dg256_t d = { { 0 } };
		uint64_t count = 0;
		uint32_t got;
		ks_view_t v;
		bool found = db_cur_find(&cur, bv(k, 2), &v);
		if (found && !bkt_parse(bv(k, 2), v, &got, &d, &count)) {
			ks_log_err(STORE, "bucket %u entry malformed", b);
			ret = KS_ECORRUPT;
			break;
		}
		dg_add(&d, &bd->add);
		dg_sub(&d, &bd->sub);
		if (bd->count < 0 && (uint64_t)-bd->count > count) {
			ks_log_err(STORE, "bucket %u count underflow", b);
			ret = KS_ECORRUPT;
			break;
		}
		count = (uint64_t)((int64_t)count + bd->count);
		if (count == 0) {
			if (!dg_is_zero(&d)) {
				ks_log_err(
					STORE,
					"bucket %u empty with nonzero digest",
					b);
				ret = KS_ECORRUPT;
				break;
			}
			if (found) /* the cursor is on it */
				db_cur_del(&cur);
		} else {
			uint8_t val[40];
			dg_to_bytes(&d, val);
			ks_put_u64be(val + 32, count);
			db_cur_put(&cur, bv(k, 2), bv(val, 40), false);
		}
		dg_add(&m->set_digest[set], &bd->add);
		dg_sub(&m->set_digest[set], &bd->sub);
		if (bd->count < 0 && (uint64_t)-bd->count > m->set_count[set]) {
			ks_log_err(STORE, "set %u count underflow", set);
			ret = KS_ECORRUPT;
			break;
		}
		m->set_count[set] =
			(uint64_t)((int64_t)m->set_count[set] + bd->count);
	}
	db_cur_close(&cur);
	return ret ? ret : txn->ret;
}

/*
 * Writes to one record set within a write txn, through one cursor (a key
 * near the previous one is found in the current leaf page, without a
 * descent from the root).  \c last is an upper bound of the set's greatest
 * key (a copy: the page it came from moves when written): a new key beyond
 * it is appended (MDB_APPEND), which fills pages instead of splitting them
 * in half, so a load in key order writes fewer pages.
 */
typedef struct set_writer {
	db_cur_t cur;
	unsigned set;
	bool empty; /* the set had no key at all when opened */
	size_t last_len;
	uint8_t last[STORE_MAX_KEY];
} set_writer_t;

static bool set_writer_open(db_txn_t *txn, unsigned set, set_writer_t *w)
{
	ks_view_t k;
	w->set = set;
	w->empty = false;
	w->last_len = 0;
	if (!db_cur_open(txn, rec_db(set), &w->cur))
		return false;
	if (db_cur_last(&w->cur, &k, NULL)) {
		if (k.len > STORE_MAX_KEY) {
			ks_log_err(STORE, "record key of %zu bytes", k.len);
			db_txn_fail(txn, KS_ECORRUPT);
			return false;
		}
		memcpy(w->last, k.ptr, k.len);
		w->last_len = k.len;
	} else {
		w->empty = txn->ret == 0;
	}
	return txn->ret == 0;
}

static bool key_after_last(const set_writer_t *w, ks_view_t key)
{
	if (w->empty)
		return true;
	if (w->last_len == 0)
		return false;
	size_t n = key.len < w->last_len ? key.len : w->last_len;
	int c = memcmp(key.ptr, w->last, n);
	return c > 0 || (c == 0 && key.len > w->last_len);
}

/*
 * Apply one change through \p w, noting the digest deltas; *changed tells
 * whether anything changed.
 */
static int set_apply(store_t *s, db_txn_t *txn, set_writer_t *w,
		     const store_change_t *c, bool *changed)
{
	ks_view_t old;
	uint8_t h[32];
	int ret;
	*changed = false;
	bool had = db_cur_find(&w->cur, c->key, &old);
	if (txn->ret)
		return txn->ret;
	if (c->op == STORE_PUT && had && old.len == c->value.len &&
	    (old.len == 0 || memcmp(old.ptr, c->value.ptr, old.len) == 0))
		return KS_EOK;
	if (c->op == STORE_DEL && !had)
		return KS_EOK;
	uint32_t b = dg_bucket(c->key);
	if (had) {
		if ((ret = dg_record_hash(s->dg, c->key, old, h)) != 0)
			return ret;
		delta_note(s, b, h, false);
	}
	if (c->op == STORE_PUT) {
		if ((ret = dg_record_hash(s->dg, c->key, c->value, h)) != 0)
			return ret;
		delta_note(s, b, h, true);
		bool append = !had && key_after_last(w, c->key);
		db_cur_put(&w->cur, c->key, c->value, append);
		if (append) {
			memcpy(w->last, c->key.ptr, c->key.len);
			w->last_len = c->key.len;
			w->empty = false;
		}
	} else {
		/* the cursor is on the key found above (nothing moved it) */
		db_cur_del(&w->cur);
	}
	*changed = true;
	return txn->ret;
}

/*
 * Apply ch[0..n) to the set in key order (stable: changes to one key keep
 * their order, so a later one sees the earlier), setting changed[i].  Key
 * order keeps consecutive changes on neighbouring pages: found from the
 * current leaf or along a path still in cache.  The order array is kept in
 * \p s between calls (used under the writer lock only).
 */
struct order_ctx {
	const store_change_t *ch;
};

static int order_cmp(const void *x, const void *y, void *arg)
{
	const store_change_t *ch = ((const struct order_ctx *)arg)->ch;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	ks_view_t a = ch[i].key, b = ch[j].key;
	size_t n = a.len < b.len ? a.len : b.len;
	int c = memcmp(a.ptr, b.ptr, n);
	if (c == 0)
		c = (a.len > b.len) - (a.len < b.len);
	if (c == 0)
		c = (i > j) - (i < j);
	return c;
}

static int set_apply_sorted(store_t *s, db_txn_t *txn, unsigned set,
			    const store_change_t *ch, size_t n)
{
	struct order_ctx oc = { ch };
	if (n > SIZE_MAX / sizeof(*s->order))
		return KS_ELIMIT;
	if (n > s->order_cap) {
		size_t *o = realloc(s->order, n * sizeof(*o));
		if (!o)
			return KS_ENOMEM;
		s->order = o;
		bool *c = realloc(s->changed, n * sizeof(*c));
		if (!c)
			return KS_ENOMEM;
		s->changed = c;
		s->order_cap = n;
	}
	bool sorted = true;
	for (size_t i = 0; i < n; i++) {
		s->order[i] = i;
		if (i > 0 && sorted &&
		    order_cmp(&s->order[i - 1], &s->order[i], &oc) > 0)
			sorted = false;
	}
	if (!sorted)
		qsort_r(s->order, n, sizeof(*s->order), order_cmp, &oc);
	set_writer_t w;
	int ret = KS_EOK;
	if (!set_writer_open(txn, set, &w))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		size_t k = s->order[i];
		if ((ret = set_apply(s, txn, &w, &ch[k], &s->changed[k])) != 0)
			break;
	}
fail:
	db_cur_close(&w.cur);
	return ret ? ret : txn->ret;
}

static void log_append(db_cur_t *cur, meta_t *m, uint64_t seq,
		       const store_change_t *c, uint64_t time_us)
{
	uint8_t k[8];
	ks_put_u64be(k, seq);
	size_t vlen = c->op == STORE_PUT ? c->value.len : 0;
	size_t len = STORE_LOG_HDR + c->key.len + vlen;
	uint8_t *p = db_cur_put_reserve(cur, bv(k, 8), len, true);
	if (!p)
		return;
	p[0] = (uint8_t)c->op;
	ks_put_u64be(p + 1, time_us);
	ks_put_u32be(p + 9, (uint32_t)c->key.len);
	memcpy(p + STORE_LOG_HDR, c->key.ptr, c->key.len);
	if (vlen)
		memcpy(p + STORE_LOG_HDR + c->key.len, c->value.ptr, vlen);
	m->log_bytes += 8 + len;
}

typedef int (*write_fn)(store_t *s, db_txn_t *txn, void *ctx);

/*
 * Run \p fn in a write transaction and commit it.  The bucket deltas in
 * \p s are only touched while this thread holds LMDB's writer lock.  \p fn reads meta itself
 * and must not keep state outside \p ctx's outputs: when the map fills the
 * transaction is aborted, the map grown and \p fn run again from scratch.
 */
static int store_write(store_t *s, write_fn fn, void *ctx)
{
	for (int attempt = 0;; attempt++) {
		db_txn_t txn;
		int ret = db_txn_begin(s->env, false, &txn);
		if (ret)
			return ret;
		delta_reset(s);
		ret = fn(s, &txn, ctx);
		if (ret == 0)
			ret = txn.ret;
		if (ret == 0)
			ret = db_txn_commit(&txn);
		else
			db_txn_abort(&txn);
		/* (the deltas are reset under the writer lock, at the start
		 * of the next write txn, never after it is released) */
		if (ret == KS_ESPACE && txn.map_full &&
		    attempt < MAX_GROW_ATTEMPTS) {
			ret = db_grow(s->env);
			if (ret)
				return ret;
			continue;
		}
		return ret;
	}
}

static int check_changes(const store_change_t *ch, size_t n, bool puts_only)
{
	if (n > 0 && !ch)
		return KS_EINVAL;
	for (size_t i = 0; i < n; i++) {
		const store_change_t *c = &ch[i];
		if (c->op != STORE_PUT && (puts_only || c->op != STORE_DEL))
			return KS_EINVAL;
		if (c->key.len == 0 || c->key.len > STORE_MAX_KEY ||
		    !c->key.ptr)
			return KS_EINVAL;
		if (c->op == STORE_PUT && (c->value.len > STORE_MAX_VALUE ||
					   (c->value.len && !c->value.ptr)))
			return KS_EINVAL;
	}
	return KS_EOK;
}

/* --- open / close -------------------------------------------------------- */

int store_open(const char *dir, const store_opts_t *opts, store_t **out)
{
	int ret;
	if (!dir || !out)
		return KS_EINVAL;
	store_t *s = calloc(1, sizeof(*s));
	if (!s)
		return KS_ENOMEM;
	if (opts)
		s->opts = *opts;
	if (!s->opts.map_size)
		s->opts.map_size = STORE_DEFAULT_MAP_SIZE;
	if (s->opts.map_size < MIN_MAP_SIZE)
		s->opts.map_size = MIN_MAP_SIZE;
	if (!s->opts.retain_count)
		s->opts.retain_count = STORE_DEFAULT_RETAIN_COUNT;
	if (!s->opts.retain_bytes)
		s->opts.retain_bytes = STORE_DEFAULT_RETAIN_BYTES;
	if (!s->opts.hard_cap_bytes)
		s->opts.hard_cap_bytes = STORE_DEFAULT_HARD_CAP;
	if ((ret = dg_ctx_new(&s->dg)) != 0)
		goto fail;
	ret = db_open(dir, s->opts.map_size, s->opts.nosync, store_init, s,
		      &s->env);
	if (ret)
		goto fail;
	*out = s;
	return KS_EOK;
fail:
	store_close(s);
	return ret;
}

void store_close(store_t *s)
{
	if (!s)
		return;
	db_close(s->env);
	dg_ctx_free(s->dg);
	free(s->order);
	free(s->changed);
	free(s);
}

/* --- primary commit ------------------------------------------------------ */

struct commit_ctx {
	const store_change_t *ch;
	size_t n;
	uint64_t time_us, first, last;
};

static int commit_fn(store_t *s, db_txn_t *txn, void *arg)
{
	struct commit_ctx *c = arg;
	meta_t m;
	int ret = meta_load(txn, &m);
	if (ret)
		return ret;
	uint64_t seq = m.last_seq;
	if ((ret = set_apply_sorted(s, txn, m.live, c->ch, c->n)) != 0)
		return ret;
	db_cur_t lc;
	if (!db_cur_open(txn, DB_LOG, &lc))
		return txn->ret;
	for (size_t i = 0; i < c->n && txn->ret == 0; i++) {
		if (!s->changed[i])
			continue;
		if (seq == UINT64_MAX) {
			db_cur_close(&lc);
			return KS_ERANGE;
		}
		log_append(&lc, &m, ++seq, &c->ch[i], c->time_us);
	}
	db_cur_close(&lc);
	if (txn->ret)
		return txn->ret;
	if ((ret = delta_flush(s, txn, &m, m.live)) != 0)
		return ret;
	c->first = m.last_seq + 1;
	c->last = seq;
	if (seq != m.last_seq) {
		m.last_seq = seq;
		meta_save(txn, &m);
	}
	return txn->ret;
}

int store_commit(store_t *s, const store_change_t *ch, size_t n,
		 uint64_t commit_time_us, uint64_t *first_seq,
		 uint64_t *last_seq)
{
	if (!s)
		return KS_EINVAL;
	int ret = check_changes(ch, n, false);
	if (ret)
		return ret;
	struct commit_ctx c = { .ch = ch, .n = n, .time_us = commit_time_us };
	ret = store_write(s, commit_fn, &c);
	if (ret) {
		ks_log_err(STORE, "commit of %zu changes failed (%s)", n,
			   ks_strerror(ret));
		return ret;
	}
	if (first_seq)
		*first_seq = c.first;
	if (last_seq)
		*last_seq = c.last;
	return KS_EOK;
}

/* --- replica apply ------------------------------------------------------- */

static int apply_fn(store_t *s, db_txn_t *txn, void *arg)
{
	const store_batch_t *b = arg;
	meta_t m;
	int ret = meta_load(txn, &m);
	if (ret)
		return ret;
	if (memcmp(m.applied_history, b->history, 16) != 0)
		return KS_EHISTORY;
	if (b->first_seq != m.applied_seq + 1)
		return KS_EGAP;
	if (memcmp(m.history, m.applied_history, 16) != 0 ||
	    m.last_seq != m.applied_seq)
		return KS_ESTATE;
	if (b->n > UINT64_MAX - b->first_seq)
		return KS_ERANGE;
	if ((ret = set_apply_sorted(s, txn, m.live, b->ch, b->n)) != 0)
		return ret;
	db_cur_t lc;
	if (!db_cur_open(txn, DB_LOG, &lc))
		return txn->ret;
	for (size_t i = 0; i < b->n && txn->ret == 0; i++)
		log_append(&lc, &m, b->first_seq + i, &b->ch[i],
			   b->commit_time_us);
	db_cur_close(&lc);
	if (txn->ret)
		return txn->ret;
	if ((ret = delta_flush(s, txn, &m, m.live)) != 0)
		return ret;
	m.last_seq = m.applied_seq = b->first_seq + b->n - 1;
	meta_save(txn, &m);
	return txn->ret;
}

int store_apply(store_t *s, const store_batch_t *b)
{
	if (!s || !b || b->n == 0)
		return KS_EINVAL;
	int ret = check_changes(b->ch, b->n, false);
	if (ret)
		return ret;
	ret = store_write(s, apply_fn, (void *)(uintptr_t)b);
	if (ret == KS_EHISTORY || ret == KS_EGAP || ret == KS_ESTATE)
		ks_log_warn(STORE, "batch at seq %llu refused (%s)",
			    (unsigned long long)b->first_seq, ks_strerror(ret));
	else if (ret)
		ks_log_err(STORE, "apply of batch at seq %llu failed (%s)",
			   (unsigned long long)b->first_seq, ks_strerror(ret));
	return ret;
}

struct adopt_ctx {
	const uint8_t *new_history, *prev_history;
	uint64_t prev_last_seq;
};

static int adopt_fn(store_t *s, db_txn_t *txn, void *arg)
{
	(void)s;
	const struct adopt_ctx *a = arg;
	meta_t m;
	int ret = meta_load(txn, &m);
	if (ret)
		return ret;
	if (memcmp(m.applied_history, a->prev_history, 16) != 0)
		return KS_EHISTORY;
	if (m.applied_seq > a->prev_last_seq)
		return KS_ESTALE;
	if (memcmp(m.history, m.applied_history, 16) != 0 ||
	    m.last_seq != m.applied_seq)
		return KS_ESTATE;
	memcpy(m.prev_history, a->prev_history, 16);
	m.prev_last_seq = a->prev_last_seq;
	memcpy(m.history, a->new_history, 16);
	memcpy(m.applied_history, a->new_history, 16);
	meta_save(txn, &m);
	return txn->ret;
}

int store_adopt_history(store_t *s, const uint8_t new_history[16],
			const uint8_t prev_history[16], uint64_t prev_last_seq)
{
	static const uint8_t zero[16];
	if (!s || !new_history || !prev_history ||
	    memcmp(new_history, zero, 16) == 0)
		return KS_EINVAL;
	struct adopt_ctx a = { new_history, prev_history, prev_last_seq };
	int ret = store_write(s, adopt_fn, &a);
	if (ret)
		ks_log_warn(STORE, "cannot adopt new history (%s)",
			    ks_strerror(ret));
	return ret;
}

/* --- staging ------------------------------------------------------------- */

/*
 * store_stage_put() appends to the "stage" log (key = u64be arrival number,
 * value = u32be key length, key, value): sequential writes whatever the key
 * order.  stage_seal() turns the log into the staging record set when it is
 * first needed: keys are copied out and sorted, then the set is written in
 * key order with MDB_APPEND in bounded transactions (each page written
 * once), and the last one empties the stage log.  If the staging set is
 * not empty (more puts after a seal, or a crash mid-build) the log is
 * merged change by change instead: slower, same result.
 */
#define STAGE_HDR	  4u
#define STAGE_BUILD_CHUNK 100000u
#define STAGE_MERGE_CHUNK 10000u

static int stage_clear_fn(store_t *s, db_txn_t *txn, void *arg)
{
	(void)s;
	(void)arg;
	meta_t m;
	int ret = meta_load(txn, &m);
	if (ret)
		return ret;
	unsigned st = 1u - m.live;
	db_clear(txn, rec_db(st));
	db_clear(txn, bkt_db(st));
	db_clear(txn, DB_STAGE);
	m.set_count[st] = 0;
	memset(&m.set_digest[st], 0, sizeof(m.set_digest[st]));
	meta_save(txn, &m);
	return txn->ret;
}

int store_stage_begin(store_t *s)
{
	if (!s)
		return KS_EINVAL;
	return store_write(s, stage_clear_fn, NULL);
}

int store_stage_abort(store_t *s)
{
	return store_stage_begin(s);
}

int stage_parse(ks_view_t key, ks_view_t val, ks_view_t *rkey, ks_view_t *rval)
{
	if (key.len != 8 || val.len < STAGE_HDR)
		return KS_ECORRUPT;
	uint32_t klen = ks_get_u32be(val.ptr);
	if (klen == 0 || klen > STORE_MAX_KEY || klen > val.len - STAGE_HDR)
		return KS_ECORRUPT;
	*rkey = bv(val.ptr + STAGE_HDR, klen);
	*rval = bv(val.ptr + STAGE_HDR + klen, val.len - STAGE_HDR - klen);
	return KS_EOK;
}

struct stage_ctx {
	const store_change_t *puts;
	size_t n;
};

static int stage_put_fn(store_t *s, db_txn_t *txn, void *arg)
{
	(void)s;
	const struct stage_ctx *c = arg;
	db_cur_t cur;
	ks_view_t k, v;
	uint64_t next = 1;
	if (!db_cur_open(txn, DB_STAGE, &cur))
		return txn->ret;
	if (db_cur_last(&cur, &k, &v)) {
		if (k.len != 8) {
			db_cur_close(&cur);
			return KS_ECORRUPT;
		}
		next = ks_get_u64be(k.ptr) + 1;
	}
	db_cur_close(&cur);
	for (size_t i = 0; i < c->n && txn->ret == 0; i++) {
		const store_change_t *p = &c->puts[i];
		uint8_t kb[8];
		ks_put_u64be(kb, next++);
		uint8_t *dst = db_put_reserve(
			txn, DB_STAGE, bv(kb, 8),
			STAGE_HDR + p->key.len + p->value.len, true);
		if (!dst)
			break;
		ks_put_u32be(dst, (uint32_t)p->key.len);
		memcpy(dst + STAGE_HDR, p->key.ptr, p->key.len);
		if (p->value.len)
			memcpy(dst + STAGE_HDR + p->key.len, p->value.ptr,
			       p->value.len);
	}
	return txn->ret;
}

int store_stage_put(store_t *s, const store_change_t *puts, size_t n)
{
	if (!s)
		return KS_EINVAL;
	int ret = check_changes(puts, n, true);
	if (ret)
		return ret;
	if (n == 0)
		return KS_EOK;
	struct stage_ctx c = { puts, n };
	return store_write(s, stage_put_fn, &c);
}

/* Slow path: move up to STAGE_MERGE_CHUNK stage entries into the set. */
static int stage_merge_fn(store_t *s, db_txn_t *txn, void *arg)
{
	uint64_t *left = arg;
	meta_t m;
	db_cur_t cur;
	ks_view_t k, v, rk, rv;
	int ret = meta_load(txn, &m);
	if (ret)
		return ret;
	unsigned st = 1u - m.live;
	size_t done = 0;
	set_writer_t w;
	if (!set_writer_open(txn, st, &w)) {
		db_cur_close(&w.cur);
		return txn->ret;
	}
	if (!db_cur_open(txn, DB_STAGE, &cur)) {
		db_cur_close(&w.cur);
		return txn->ret;
	}
	while (done < STAGE_MERGE_CHUNK && db_cur_first(&cur, &k, &v)) {
		bool changed;
		if ((ret = stage_parse(k, v, &rk, &rv)) != 0)
			break;
		store_change_t c = { .op = STORE_PUT, .key = rk, .value = rv };
		if ((ret = set_apply(s, txn, &w, &c, &changed)) != 0)
			break;
		/* the cursor's page may have moved: reposition and delete */
		if (!db_cur_first(&cur, &k, &v) || !db_cur_del(&cur))
			break;
		done++;
	}
	db_cur_close(&cur);
	db_cur_close(&w.cur);
	if (ret)
		return ret;
	if ((ret = delta_flush(s, txn, &m, st)) != 0)
		return ret;
	meta_save(txn, &m);
	uint64_t n = 0;
	db_count(txn, DB_STAGE, &n);
	*left = n;
	return txn->ret;
}

/* One staged key: where its bytes are in the arena, its arrival number. */
typedef struct stage_item {
	uint64_t seq;
	size_t off;
	uint32_t len;
	ks_view_t val; /* into the map, valid while the collect txn is open */
} stage_item_t;

static int stage_item_cmp(const void *a, const void *b, void *arena)
{
	const stage_item_t *x = a, *y = b;
	const uint8_t *base = arena;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(base + x->off, base + y->off, n);
	if (c)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sort entry: 8 key bytes after the keys' common prefix, big-endian, so
 * most comparisons are one integer compare; ties fall back to the keys. */
typedef struct sort_ent {
	uint64_t pfx;
	const stage_item_t *it;
} sort_ent_t;

static int sort_ent_cmp(const void *a, const void *b, void *arena)
{
	const sort_ent_t *x = a, *y = b;
	if (x->pfx != y->pfx)
		return x->pfx < y->pfx ? -1 : 1;
	return stage_item_cmp(x->it, y->it, arena);
}

/* Sort *items by (key, arrival); replaces the array. */
static int stage_sort(stage_item_t **items, size_t n, const uint8_t *arena)
{
	stage_item_t *in = *items, *out = NULL;
	sort_ent_t *ent = NULL;
	if (n < 2)
		return KS_EOK;
	size_t lcp = in[0].len;
	const uint8_t *k0 = arena + in[0].off;
	for (size_t i = 1; i < n && lcp > 0; i++) {
		const uint8_t *k = arena + in[i].off;
		size_t m = in[i].len < lcp ? in[i].len : lcp, j = 0;
		while (j < m && k[j] == k0[j])
			j++;
		lcp = j;
	}
	ent = malloc(n * sizeof(*ent));
	out = malloc(n * sizeof(*out));
	if (!ent || !out) {
		free(ent);
		free(out);
		return KS_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *k = arena + in[i].off;
		uint64_t p = 0;
		for (size_t j = 0; j < 8; j++)
			p = p << 8 | (lcp + j < in[i].len ? k[lcp + j] : 0);
		ent[i] = (sort_ent_t){ p, &in[i] };
	}
	qsort_r(ent, n, sizeof(*ent), sort_ent_cmp, (void *)(uintptr_t)arena);
	for (size_t i = 0; i < n; i++)
		out[i] = *ent[i].it;
	free(ent);
	free(in);
	*items = out;
	return KS_EOK;
}

struct build_ctx {
	const stage_item_t *items;
	const uint8_t *arena;
	size_t from, to;
	bool first, last;
};

/* Fast path: write items [from, to) (sorted, unique) into the set. */
static int stage_build_fn(store_t *s, db_txn_t *txn, void *arg)
{
	const struct build_ctx *c = arg;
	meta_t m;
	int ret = meta_load(txn, &m);
	if (ret)
		return ret;
	unsigned st = 1u - m.live;
	if (c->first) {
		db_clear(txn, rec_db(st));
		db_clear(txn, bkt_db(st));
		m.set_count[st] = 0;
		memset(&m.set_digest[st], 0, sizeof(m.set_digest[st]));
	}
	for (size_t i = c->from; i < c->to && txn->ret == 0; i++) {
		const stage_item_t *it = &c->items[i];
		ks_view_t rk = bv(c->arena + it->off, it->len), rv = it->val;
		uint8_t h[32];
		if ((ret = dg_record_hash(s->dg, rk, rv, h)) != 0)
			return ret;
		delta_note(s, dg_bucket(rk), h, true);
		uint8_t *dst =
			db_put_reserve(txn, rec_db(st), rk, rv.len, true);
		if (dst && rv.len)
			memcpy(dst, rv.ptr, rv.len);
	}
	if (txn->ret)
		return txn->ret;
	if ((ret = delta_flush(s, txn, &m, st)) != 0)
		return ret;
	if (c->last)
		db_clear(txn, DB_STAGE);
	meta_save(txn, &m);
	return txn->ret;
}

/*
 * Copy the staged keys out, sorted by (key, arrival), last one per key.
 * Values stay in the map: *txn_out is the read txn that keeps them valid;
 * the caller ends it after the build.
 */
static int stage_collect(store_t *s, ks_buf_t *arena, stage_item_t **out,
			 size_t *count, store_txn_t **txn_out)
{
	store_txn_t *t = NULL;
	db_cur_t cur = { 0 };
	ks_view_t k, v, rk, rv;
	stage_item_t *items = NULL;
	uint64_t n = 0;
	size_t got = 0;
	int ret = store_read_begin(s, &t);
	if (ret)
		return ret;
	if (!db_count(&t->txn, DB_STAGE, &n))
		goto fail_txn;
	if (n > SIZE_MAX / sizeof(*items)) {
		ret = KS_ENOMEM;
		goto fail;
	}
	items = malloc((n ? n : 1) * sizeof(*items));
	if (!items) {
		ret = KS_ENOMEM;
		goto fail;
	}
	if (!db_cur_open(&t->txn, DB_STAGE, &cur))
		goto fail_txn;
	for (bool ok = db_cur_first(&cur, &k, &v); ok && got < n;
	     ok = db_cur_next(&cur, &k, &v)) {
		if ((ret = stage_parse(k, v, &rk, &rv)) != 0) {
			ks_log_err(STORE, "stage entry malformed");
			goto fail;
		}
		items[got] = (stage_item_t){ .seq = ks_get_u64be(k.ptr),
					     .off = arena->len,
					     .len = (uint32_t)rk.len,
					     .val = rv };
		if ((ret = ks_buf_append(arena, rk.ptr, rk.len)) != 0)
			goto fail;
		got++;
	}
fail_txn:
	if (ret == 0)
		ret = t->txn.ret;
fail:
	db_cur_close(&cur);
	if (ret) {
		store_read_end(t);
		free(items);
		return ret;
	}
	if ((ret = stage_sort(&items, got, arena->data)) != 0) {
		store_read_end(t);
		free(items);
		return ret;
	}
	/* keep the last arrival of each key */
	size_t w = 0;
	for (size_t i = 0; i < got; i++) {
		if (i + 1 < got && items[i].len == items[i + 1].len &&
		    memcmp(arena->data + items[i].off,
			   arena->data + items[i + 1].off, items[i].len) == 0)
			continue;
		items[w++] = items[i];
	}
	*out = items;
	*count = w;
	*txn_out = t;
	return KS_EOK;
}

/* Turn pending stage-log entries into the staging record set. */
static int stage_seal(store_t *s)
{
	store_txn_t *t;
	uint64_t pending = 0, staged, stage_bytes = 0;
	int ret = store_read_begin(s, &t);
	if (ret)
		return ret;
	staged = t->m.set_count[1u - t->m.live];
	if (!db_count(&t->txn, DB_STAGE, &pending) ||
	    !db_bytes(&t->txn, DB_STAGE, &stage_bytes))
		ret = t->txn.ret;
	store_read_end(t);
	if (ret || pending == 0)
		return ret;
	if (staged > 0) {
		uint64_t left = pending;
		while (left > 0 && ret == 0)
			ret = store_write(s, stage_merge_fn, &left);
		return ret;
	}
	ks_buf_t arena = KS_BUF_INIT;
	stage_item_t *items = NULL;
	store_txn_t *rt = NULL;
	size_t n = 0;
	uint64_t t0 = ks_mono_ns();
	/* The collect txn stays open during the build (values are read in
	 * place), and the map cannot grow under it: make room first. */
	if ((ret = db_ensure_room(s->env, 2 * stage_bytes + (64u << 20))))
		goto fail;
	if ((ret = stage_collect(s, &arena, &items, &n, &rt)) != 0)
		goto fail;
	for (size_t i = 0; i == 0 || i < n; i += STAGE_BUILD_CHUNK) {
		size_t to =
			n - i < STAGE_BUILD_CHUNK ? n : i + STAGE_BUILD_CHUNK;
		struct build_ctx c = {
			items, arena.data, i, to, i == 0, to == n
		};
		if ((ret = store_write(s, stage_build_fn, &c)) != 0)
			goto fail;
	}
	ks_log_info(STORE, "staged %zu records (%llu puts) built in %llu ms", n,
		    (unsigned long long)pending,
		    (unsigned long long)((ks_mono_ns() - t0) / 1000000));
fail:
	store_read_end(rt);
	free(items);
	ks_buf_free(&arena);
	return ret;
}

int store_stage_info(store_t *s, uint8_t digest[32], uint64_t *count)
{
	if (!s)
		return KS_EINVAL;
	int ret = stage_seal(s);
	if (ret)
		return ret;
	store_txn_t *t;
	if ((ret = store_read_begin(s, &t)) != 0)
		return ret;
	unsigned st = 1u - t->m.live;
	if (digest)
		dg_to_bytes(&t->m.set_digest[st], digest);
	if (count)
		*count = t->m.set_count[st];
	store_read_end(t);
	return KS_EOK;
}

struct promote_ctx {
	const uint8_t *history, *digest;
	uint64_t seq;
};

static int promote_fn(store_t *s, db_txn_t *txn, void *arg)
{
	(void)s;
	const struct promote_ctx *p = arg;
	meta_t m;
	int ret = meta_load(txn, &m);
	if (ret)
		return ret;
	unsigned st = 1u - m.live;
	if (p->digest) {
		dg256_t want;
		dg_from_bytes(&want, p->digest);
		if (!dg_equal(&want, &m.set_digest[st])) {
			ks_log_err(
				STORE,
				"staged snapshot of %llu records does not match the expected digest",
				(unsigned long long)m.set_count[st]);
			return KS_EDIGEST;
		}
	}
	db_clear(txn, DB_LOG);
	m.live = (uint8_t)st;
	memcpy(m.history, p->history, 16);
	memcpy(m.applied_history, p->history, 16);
	memset(m.prev_history, 0, 16);
	m.prev_last_seq = 0;
	m.last_seq = m.applied_seq = p->seq;
	m.oldest_seq = p->seq + 1;
	m.log_bytes = 0;
	meta_save(txn, &m);
	return txn->ret;
}

int store_stage_promote(store_t *s, const uint8_t history[16], uint64_t seq,
			const uint8_t digest[32])
{
	static const uint8_t zero[16];
	if (!s || !history || memcmp(history, zero, 16) == 0 ||
	    seq == UINT64_MAX)
		return KS_EINVAL;
	struct promote_ctx p = { history, digest, seq };
	int ret = stage_seal(s);
	if (ret == 0)
		ret = store_write(s, promote_fn, &p);
	if (ret == 0)
		ks_log_info(STORE, "snapshot promoted at seq %llu",
			    (unsigned long long)seq);
	return ret;
}

/* --- reads --------------------------------------------------------------- */

int store_read_begin(store_t *s, store_txn_t **out)
{
	if (!s || !out)
		return KS_EINVAL;
	store_txn_t *t = calloc(1, sizeof(*t));
	if (!t)
		return KS_ENOMEM;
	t->s = s;
	int ret = db_txn_begin(s->env, true, &t->txn);
	if (ret) {
		free(t);
		return ret;
	}
	ret = meta_load(&t->txn, &t->m);
	if (ret) {
		store_read_end(t);
		return ret;
	}
	*out = t;
	return KS_EOK;
}

void store_read_end(store_txn_t *t)
{
	if (!t)
		return;
	db_txn_abort(&t->txn);
	free(t);
}

int store_get(store_txn_t *t, ks_view_t key, ks_view_t *value)
{
	if (!t || !value || key.len == 0 || key.len > STORE_MAX_KEY)
		return KS_EINVAL;
	if (db_get(&t->txn, rec_db(t->m.live), key, value))
		return KS_EOK;
	return t->txn.ret ? t->txn.ret : KS_ENOENT;
}

int store_records_foreach(store_txn_t *t, ks_view_t from_key,
			  store_record_cb cb, void *ctx)
{
	if (!t || !cb || from_key.len > STORE_MAX_KEY)
		return KS_EINVAL;
	db_cur_t cur;
	ks_view_t k, v;
	int ret = 0;
	if (!db_cur_open(&t->txn, rec_db(t->m.live), &cur))
		return t->txn.ret;
	for (bool ok = db_cur_seek(&cur, from_key, &k, &v); ok;
	     ok = db_cur_next(&cur, &k, &v)) {
		if ((ret = cb(k, v, ctx)) != 0)
			break;
	}
	db_cur_close(&cur);
	return ret ? ret : t->txn.ret;
}

int log_parse(ks_view_t key, ks_view_t val, store_log_entry_t *e)
{
	if (key.len != 8 || val.len < STORE_LOG_HDR)
		return KS_ECORRUPT;
	e->seq = ks_get_u64be(key.ptr);
	uint8_t op = val.ptr[0];
	e->commit_time_us = ks_get_u64be(val.ptr + 1);
	uint32_t klen = ks_get_u32be(val.ptr + 9);
	size_t rest = val.len - STORE_LOG_HDR;
	if ((op != STORE_PUT && op != STORE_DEL) || klen == 0 ||
	    klen > STORE_MAX_KEY || klen > rest ||
	    (op == STORE_DEL && klen != rest))
		return KS_ECORRUPT;
	e->op = (enum store_op)op;
	e->key = bv(val.ptr + STORE_LOG_HDR, klen);
	e->value = bv(val.ptr + STORE_LOG_HDR + klen, rest - klen);
	return KS_EOK;
}

int store_log_foreach(store_txn_t *t, uint64_t from_seq, store_log_cb cb,
		      void *ctx)
{
	if (!t || !cb)
		return KS_EINVAL;
	const meta_t *m = &t->m;
	if (from_seq < m->oldest_seq)
		return KS_ESTALE;
	if (from_seq > m->last_seq + 1)
		return KS_ERANGE;
	if (from_seq > m->last_seq)
		return KS_EOK;
	db_cur_t cur;
	ks_view_t k, v;
	uint8_t kb[8];
	uint64_t expect = from_seq;
	int ret = 0;
	ks_put_u64be(kb, from_seq);
	if (!db_cur_open(&t->txn, DB_LOG, &cur))
		return t->txn.ret;
	for (bool ok = db_cur_seek(&cur, bv(kb, 8), &k, &v);
	     ok && expect <= m->last_seq; ok = db_cur_next(&cur, &k, &v)) {
		store_log_entry_t e;
		if (log_parse(k, v, &e) != 0 || e.seq != expect) {
			ks_log_err(STORE,
				   "log entry at seq %llu malformed or missing",
				   (unsigned long long)expect);
			ret = KS_ECORRUPT;
			break;
		}
		expect++;
		if ((ret = cb(&e, ctx)) != 0)
			break;
	}
	db_cur_close(&cur);
	if (ret)
		return ret;
	if (t->txn.ret)
		return t->txn.ret;
	if (expect != m->last_seq + 1) {
		ks_log_err(STORE, "log ends at seq %llu, meta says %llu",
			   (unsigned long long)expect - 1,
			   (unsigned long long)m->last_seq);
		return KS_ECORRUPT;
	}
	return KS_EOK;
}

int store_meta_get(store_txn_t *t, store_meta_t *out)
{
	if (!t || !out)
		return KS_EINVAL;
	const meta_t *m = &t->m;
	memset(out, 0, sizeof(*out));
	out->format_version = m->format;
	memcpy(out->history, m->history, 16);
	out->last_seq = m->last_seq;
	out->oldest_seq = m->oldest_seq;
	memcpy(out->prev_history, m->prev_history, 16);
	out->prev_last_seq = m->prev_last_seq;
	memcpy(out->applied_history, m->applied_history, 16);
	out->applied_seq = m->applied_seq;
	out->record_count = m->set_count[m->live];
	dg_to_bytes(&m->set_digest[m->live], out->digest);
	out->log_bytes = m->log_bytes;
	return KS_EOK;
}

/* --- peers, retention, history ------------------------------------------- */

static int peer_name(const char *peer, ks_view_t *out)
{
	if (!peer)
		return KS_EINVAL;
	size_t n = strnlen(peer, STORE_MAX_PEER_NAME + 1);
	if (n == 0 || n > STORE_MAX_PEER_NAME)
		return KS_EINVAL;
	*out = bv(peer, n);
	return KS_EOK;
}

struct ack_ctx {
	ks_view_t name;
	uint64_t seq;
};

static int ack_fn(store_t *s, db_txn_t *txn, void *arg)
{
	(void)s;
	const struct ack_ctx *a = arg;
	ks_view_t v;
	if (db_get(txn, DB_PEERS, a->name, &v)) {
		if (v.len != 8)
			return KS_ECORRUPT;
		if (ks_get_u64be(v.ptr) >= a->seq)
			return KS_EOK;
	}
	uint8_t b[8];
	ks_put_u64be(b, a->seq);
	db_put(txn, DB_PEERS, a->name, bv(b, 8));
	return txn->ret;
}

int store_peer_ack(store_t *s, const char *peer, uint64_t seq)
{
	struct ack_ctx a = { .seq = seq };
	if (!s)
		return KS_EINVAL;
	int ret = peer_name(peer, &a.name);
	if (ret)
		return ret;
	return store_write(s, ack_fn, &a);
}

int store_peer_get(store_txn_t *t, const char *peer, uint64_t *seq)
{
	ks_view_t name, v;
	if (!t || !seq)
		return KS_EINVAL;
	int ret = peer_name(peer, &name);
	if (ret)
		return ret;
	if (!db_get(&t->txn, DB_PEERS, name, &v))
		return t->txn.ret ? t->txn.ret : KS_ENOENT;
	if (v.len != 8) {
		ks_log_err(STORE, "peer '%s' entry malformed", peer);
		return KS_ECORRUPT;
	}
	*seq = ks_get_u64be(v.ptr);
	return KS_EOK;
}

struct trim_ctx {
	uint64_t keep_from;
	uint64_t dropped; /* this txn */
	uint64_t forced;  /* protected entries dropped for the hard cap */
	uint64_t new_oldest;
};

static int trim_fn(store_t *s, db_txn_t *txn, void *arg)
{
	struct trim_ctx *c = arg;
	meta_t m;
	int ret = meta_load(txn, &m);
	if (ret)
		return ret;
	c->dropped = 0;
	c->forced = 0;
	db_cur_t cur;
	ks_view_t k, v;
	if (!db_cur_open(txn, DB_LOG, &cur))
		return txn->ret;
	while (c->dropped < TRIM_CHUNK && m.oldest_seq <= m.last_seq) {
		uint64_t n = m.last_seq - m.oldest_seq + 1;
		bool over = n > s->opts.retain_count ||
			    m.log_bytes > s->opts.retain_bytes;
		bool over_cap = m.log_bytes > s->opts.hard_cap_bytes;
		bool protected = m.oldest_seq >= c->keep_from;
		if (!((over && !protected) || over_cap))
			break;
		if (!db_cur_first(&cur, &k, &v))
			break;
		if (k.len != 8 || ks_get_u64be(k.ptr) != m.oldest_seq ||
		    8 + v.len > m.log_bytes) {
			ks_log_err(STORE,
				   "log does not start at oldest_seq %llu",
				   (unsigned long long)m.oldest_seq);
			db_cur_close(&cur);
			return KS_ECORRUPT;
		}
		m.log_bytes -= 8 + v.len;
		if (!db_cur_del(&cur))
			break;
		if (protected)
			c->forced++;
		m.oldest_seq++;
		c->dropped++;
	}
	db_cur_close(&cur);
	if (txn->ret)
		return txn->ret;
	c->new_oldest = m.oldest_seq;
	if (c->dropped)
		meta_save(txn, &m);
	return txn->ret;
}

int store_log_trim(store_t *s, uint64_t keep_from_seq)
{
	if (!s)
		return KS_EINVAL;
	struct trim_ctx c = { .keep_from = keep_from_seq };
	uint64_t total = 0, forced = 0;
	int ret;
	do {
		if ((ret = store_write(s, trim_fn, &c)) != 0)
			return ret;
		total += c.dropped;
		forced += c.forced;
	} while (c.dropped == TRIM_CHUNK);
	if (forced)
		ks_log_warn(
			STORE,
			"log over the hard cap of %llu bytes: dropped %llu entries a peer still needs",
			(unsigned long long)s->opts.hard_cap_bytes,
			(unsigned long long)forced);
	if (total)
		ks_log_info(STORE,
			    "log trimmed by %llu entries, oldest seq now %llu",
			    (unsigned long long)total,
			    (unsigned long long)c.new_oldest);
	return KS_EOK;
}

static int new_history_fn(store_t *s, db_txn_t *txn, void *arg)
{
	(void)s;
	uint8_t *fresh = arg;
	meta_t m;
	int ret = meta_load(txn, &m);
	if (ret)
		return ret;
	memcpy(m.prev_history, m.history, 16);
	m.prev_last_seq = m.last_seq;
	memcpy(m.history, fresh, 16);
	meta_save(txn, &m);
	return txn->ret;
}

int store_new_history(store_t *s)
{
	uint8_t fresh[16];
	if (!s)
		return KS_EINVAL;
	int ret = random_history(fresh);
	if (ret)
		return ret;
	ret = store_write(s, new_history_fn, fresh);
	if (ret == 0)
		ks_log_notice(STORE, "new history id started");
	return ret;
}

/* --- digests ------------------------------------------------------------- */

uint32_t store_key_bucket(ks_view_t key)
{
	return dg_bucket(key);
}

int store_record_hash(ks_view_t key, ks_view_t value, uint8_t out[32])
{
	dg_ctx_t *ctx;
	int ret = dg_ctx_new(&ctx);
	if (ret)
		return ret;
	ret = dg_record_hash(ctx, key, value, out);
	dg_ctx_free(ctx);
	return ret;
}

int store_range_digest(store_txn_t *t, uint32_t lo, uint32_t hi,
		       uint8_t digest[32], uint64_t *count)
{
	if (!t || lo > hi || hi > STORE_BUCKETS)
		return KS_EINVAL;
	dg256_t sum = { { 0 } };
	uint64_t n = 0;
	db_cur_t cur;
	ks_view_t k, v;
	uint8_t kb[2] = { (uint8_t)(lo >> 8), (uint8_t)lo };
	int ret = 0;
	if (lo < hi && db_cur_open(&t->txn, bkt_db(t->m.live), &cur)) {
		for (bool ok = db_cur_seek(&cur, bv(kb, 2), &k, &v); ok;
		     ok = db_cur_next(&cur, &k, &v)) {
			uint32_t b;
			dg256_t d;
			uint64_t c;
			if (!bkt_parse(k, v, &b, &d, &c)) {
				ks_log_err(STORE,
					   "bucket table entry malformed");
				ret = KS_ECORRUPT;
				break;
			}
			if (b >= hi)
				break;
			dg_add(&sum, &d);
			n += c;
		}
		db_cur_close(&cur);
	}
	if (!ret)
		ret = t->txn.ret;
	if (ret)
		return ret;
	if (digest)
		dg_to_bytes(&sum, digest);
	if (count)
		*count = n;
	return KS_EOK;
}

int store_bucket_foreach(store_txn_t *t, uint32_t lo, uint32_t hi,
			 store_bucket_cb cb, void *ctx)
{
	if (!t || !cb || lo > hi || hi > STORE_BUCKETS)
		return KS_EINVAL;
	dg_ctx_t *dg;
	db_cur_t cur;
	ks_view_t k, v;
	uint8_t h[32];
	int ret = dg_ctx_new(&dg);
	if (ret)
		return ret;
	if (db_cur_open(&t->txn, rec_db(t->m.live), &cur)) {
		for (bool ok = db_cur_first(&cur, &k, &v); ok;
		     ok = db_cur_next(&cur, &k, &v)) {
			uint32_t b = dg_bucket(k);
			if (b < lo || b >= hi)
				continue;
			if ((ret = dg_record_hash(dg, k, v, h)) != 0 ||
			    (ret = cb(b, k, v, h, ctx)) != 0)
				break;
		}
		db_cur_close(&cur);
	}
	dg_ctx_free(dg);
	return ret ? ret : t->txn.ret;
}
