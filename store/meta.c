/* SPDX-License-Identifier: MIT */
/*
 * The meta database: its readable string keys (as in Knot's journal
 * metadata) and big-endian values, loaded into a meta_t at the start of
 * each transaction and saved whole; the initialisation of a new store;
 * history ids (random, never all zero) and store_new_history().
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
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

int store__meta_load(db_txn_t *txn, meta_t *m)
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

void store__meta_save(db_txn_t *txn, const meta_t *m)
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

int store__random_history(uint8_t out[16])
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

static int new_history_fn(store_t *s, db_txn_t *txn, void *arg)
{
	(void)s;
	uint8_t *fresh = arg;
	meta_t m;
	int ret = store__meta_load(txn, &m);
	if (ret)
		return ret;
	memcpy(m.prev_history, m.history, 16);
	m.prev_last_seq = m.last_seq;
	memcpy(m.history, fresh, 16);
	store__meta_save(txn, &m);
	return txn->ret;
}

int store_new_history(store_t *s)
{
	uint8_t fresh[16];
	if (!s)
		return KS_EINVAL;
	int ret = store__random_history(fresh);
	if (ret)
		return ret;
	ret = store__write(s, new_history_fn, fresh);
	if (ret == 0)
		ks_log_notice(STORE, "new history id started");
	return ret;
}

/* First txn of an open: initialise a new store or check the format. */
int store__meta_init(db_txn_t *txn, void *ctx)
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
		return store__meta_load(txn, &m);
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
	int ret = store__random_history(m.history);
	if (ret)
		return ret;
	store__meta_save(txn, &m);
	return txn->ret;
}
