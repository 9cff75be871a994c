/* SPDX-License-Identifier: MIT */
/*
 * The store's LMDB boundary: environment set-up, map growth, sticky-error
 * transactions and cursors.  Every LMDB return code is translated here (and
 * only here) into a KS_E* code, with LMDB's own message logged.
 */
#define _GNU_SOURCE /* fallocate */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "common/errors.h"
#include "common/log.h"
#include "store/db.h"

static const char *const db_names[DB_COUNT] = {
	[DB_META] = "meta", [DB_LOG] = "log",	  [DB_PEERS] = "peers",
	[DB_REC0] = "rec0", [DB_REC1] = "rec1",	  [DB_BKT0] = "bkt0",
	[DB_BKT1] = "bkt1", [DB_STAGE] = "stage", [DB_RELAY] = "relay",
};

struct db_env {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	char *dir;
	atomic_int readers;    /* open read txns of this process */
	uint64_t prealloc_end; /* data.mdb blocks allocated up to here */
};

/* Preallocation of data.mdb ahead of its use: between these bounds, a
 * quarter of the used size. */
#define PREALLOC_MIN ((uint64_t)16 << 20)
#define PREALLOC_MAX ((uint64_t)256 << 20)

/* Translate an LMDB or errno code, logging the detail. */
static int db_err(int rc, const char *what)
{
	int ret;
	switch (rc) {
	case MDB_SUCCESS:
		return KS_EOK;
	case MDB_NOTFOUND:
		return KS_ENOENT;
	case MDB_MAP_FULL:
		return KS_ESPACE; /* expected; the caller grows and retries */
	case MDB_READERS_FULL:
		ret = KS_EREADERS;
		break;
	case MDB_TXN_FULL:
	case MDB_CURSOR_FULL:
	case MDB_DBS_FULL:
		ret = KS_ELIMIT;
		break;
	case MDB_BAD_VALSIZE:
		ret = KS_EINVAL;
		break;
	case MDB_VERSION_MISMATCH:
		ret = KS_EVERSION;
		break;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
		ret = KS_ECORRUPT;
		break;
	case ENOSPC:
		ret = KS_ENOSPC;
		break;
	default:
		ret = rc > 0 ? -rc : KS_ELMDB;
		break;
	}
	ks_log_err(STORE, "lmdb %s failed (%s)", what, mdb_strerror(rc));
	return ret;
}

int db_open(const char *dir, size_t map_size, bool nosync, db_init_fn init,
	    void *ctx, db_env_t **out)
{
	int ret = KS_EOK;
	int rc;
	MDB_txn *txn = NULL;
	db_env_t *e = calloc(1, sizeof(*e));
	if (!e)
		return KS_ENOMEM;
	e->dir = strdup(dir);
	if (!e->dir) {
		ret = KS_ENOMEM;
		goto fail;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		ret = ks_errno(errno);
		ks_log_err(STORE, "cannot create store directory '%s' (%s)",
			   dir, ks_strerror(ret));
		goto fail;
	}
	if ((rc = mdb_env_create(&e->env)) != 0) {
		ret = db_err(rc, "env_create");
		goto fail;
	}
	if ((rc = mdb_env_set_maxdbs(e->env, DB_COUNT + 1)) != 0 ||
	    (rc = mdb_env_set_maxreaders(e->env, 254)) != 0 ||
	    (rc = mdb_env_set_mapsize(e->env, map_size)) != 0) {
		ret = db_err(rc, "env_set");
		goto fail;
	}
	unsigned flags = MDB_NOTLS | (nosync ? MDB_NOSYNC : 0);
	if ((rc = mdb_env_open(e->env, dir, flags, 0600)) != 0) {
		ret = db_err(rc, "env_open");
		ks_log_err(STORE, "cannot open store '%s' (%s)", dir,
			   ks_strerror(ret));
		goto fail;
	}
	/* Clear reader slots left by dead processes before we start. */
	int dead = 0;
	mdb_reader_check(e->env, &dead);
	if ((rc = mdb_txn_begin(e->env, NULL, 0, &txn)) != 0) {
		ret = db_err(rc, "txn_begin");
		goto fail;
	}
	for (int i = 0; i < DB_COUNT; i++) {
		if ((rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE,
				       &e->dbi[i])) != 0) {
			ret = db_err(rc, "dbi_open");
			goto fail;
		}
	}
	db_txn_t t = { .env = e, .txn = txn };
	ret = init(&t, ctx);
	if (ret == 0)
		ret = t.ret;
	if (ret != 0)
		goto fail;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		ret = db_err(rc, "txn_commit");
		goto fail;
	}
	*out = e;
	return KS_EOK;
fail:
	if (txn)
		mdb_txn_abort(txn);
	db_close(e);
	return ret;
}

void db_close(db_env_t *e)
{
	if (!e)
		return;
	if (e->env)
		mdb_env_close(e->env);
	free(e->dir);
	free(e);
}

size_t db_map_size(db_env_t *e)
{
	MDB_envinfo info;
	mdb_env_info(e->env, &info);
	return info.me_mapsize;
}

uint64_t db_used_bytes(db_env_t *e)
{
	MDB_envinfo info;
	MDB_stat st;

	if (mdb_env_info(e->env, &info) != 0 || mdb_env_stat(e->env, &st) != 0)
		return 0;
	return ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
}

static bool txn_rc(db_txn_t *t, int rc, const char *what);

/* Grow the map to at least \p min bytes (at least doubling it). */
static int db_grow_to(db_env_t *e, uint64_t min)
{
	int n = atomic_load(&e->readers);
	if (n > 0) {
		ks_log_err(
			STORE,
			"map is full but cannot grow while %d read transactions are open",
			n);
		return KS_EBUSY;
	}
	size_t cur = db_map_size(e);
	size_t want = cur * 2;
	if (want < cur)
		return KS_ESPACE;
	if (want < min)
		want = (size_t)min;
	/* The file grows only as pages are used; refuse a map the file
	 * system could never fill, so a full disk surfaces as KS_ESPACE. */
	struct statvfs vfs;
	struct stat st;
	char path[4096];
	int plen = snprintf(path, sizeof(path), "%s/data.mdb", e->dir);
	if (plen > 0 && plen < (int)sizeof(path) &&
	    statvfs(e->dir, &vfs) == 0 && stat(path, &st) == 0) {
		uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		uint64_t have =
			(uint64_t)st.st_blocks * 512; /* incl. prealloc */
		if (have < (uint64_t)st.st_size)
			have = (uint64_t)st.st_size;
		uint64_t limit = avail + have;
		if ((uint64_t)cur >= limit) {
			ks_log_err(
				STORE,
				"map is full at %zu bytes and the file system has %llu bytes free (%s)",
				cur, (unsigned long long)avail,
				ks_strerror(KS_ENOSPC));
			return KS_ENOSPC;
		}
		if ((uint64_t)want > limit)
			want = (size_t)limit;
	}
	int rc = mdb_env_set_mapsize(e->env, want);
	if (rc != 0)
		return db_err(rc, "env_set_mapsize");
	ks_log_info(STORE, "map grown from %zu to %zu bytes", cur, want);
	if (e->prealloc_end == UINT64_MAX)
		e->prealloc_end = 0; /* the map bounded it: try again */
	return KS_EOK;
}

int db_grow(db_env_t *e)
{
	return db_grow_to(e, 0);
}

int db_ensure_room(db_env_t *e, uint64_t bytes)
{
	MDB_envinfo info;
	MDB_stat st;
	if (mdb_env_info(e->env, &info) != 0 || mdb_env_stat(e->env, &st) != 0)
		return KS_ELMDB;
	uint64_t used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	if (used + bytes <= info.me_mapsize)
		return KS_EOK;
	return db_grow_to(e, used + bytes);
}

bool db_bytes(db_txn_t *t, enum db_name db, uint64_t *bytes)
{
	if (t->ret)
		return false;
	MDB_stat st;
	if (!txn_rc(t, mdb_stat(t->txn, t->env->dbi[db], &st), "stat"))
		return false;
	*bytes = ((uint64_t)st.ms_branch_pages + st.ms_leaf_pages +
		  st.ms_overflow_pages) *
		 st.ms_psize;
	return true;
}

/*
 * Keep data.mdb's blocks allocated ahead of the pages LMDB uses
 * (fallocate with FALLOC_FL_KEEP_SIZE, invisible to LMDB).  A durable
 * commit that extends the file otherwise makes the file system allocate
 * blocks and journal them inside every fdatasync; writing into allocated
 * blocks is several times faster on ext4.  Best effort: a file system
 * without fallocate, or a full disk, just keeps the slow path (a full disk
 * surfaces from LMDB itself).
 */
/* Whether the store's file system is (all but) out of space: less than
 * what one more commit of a few pages would need. */
static bool fs_full(db_env_t *e)
{
	struct statvfs vfs;

	return statvfs(e->dir, &vfs) == 0 &&
	       (uint64_t)vfs.f_bavail * vfs.f_frsize < ((uint64_t)1 << 20);
}

static void db_prealloc(db_env_t *e)
{
	MDB_envinfo info;
	MDB_stat st;
	int fd;
	if (mdb_env_info(e->env, &info) != 0 ||
	    mdb_env_stat(e->env, &st) != 0 || mdb_env_get_fd(e->env, &fd) != 0)
		return;
	uint64_t used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	uint64_t chunk = used / 4;
	if (chunk < PREALLOC_MIN)
		chunk = PREALLOC_MIN;
	if (chunk > PREALLOC_MAX)
		chunk = PREALLOC_MAX;
	if (used + chunk / 2 < e->prealloc_end)
		return;
	uint64_t end = used + chunk;
	if (end > info.me_mapsize)
		end = info.me_mapsize;
	if (end <= used)
		return;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)used,
		      (off_t)(end - used)) != 0) {
		ks_log_debug(STORE, "preallocation of %llu bytes failed (%s)",
			     (unsigned long long)(end - used),
			     ks_strerror(ks_errno(errno)));
		e->prealloc_end = UINT64_MAX; /* don't retry every commit */
		return;
	}
	e->prealloc_end = end;
}

int db_txn_begin(db_env_t *e, bool rdonly, db_txn_t *out)
{
	*out = (db_txn_t){ .env = e, .rdonly = rdonly };
	MDB_txn *txn = NULL;
	unsigned flags = rdonly ? MDB_RDONLY : 0;
	bool checked = false, resized = false;
	for (;;) {
		int rc = mdb_txn_begin(e->env, NULL, flags, &txn);
		if (rc == 0)
			break;
		if (rc == MDB_READERS_FULL && !checked) {
			int dead = 0;
			mdb_reader_check(e->env, &dead);
			ks_log_warn(STORE,
				    "reader table full, cleared %d stale slots",
				    dead);
			checked = true;
			continue;
		}
		if (rc == MDB_MAP_RESIZED && !resized &&
		    atomic_load(&e->readers) == 0) {
			/* Another process grew the map: adopt its size. */
			rc = mdb_env_set_mapsize(e->env, 0);
			if (rc != 0)
				return db_err(rc, "env_set_mapsize");
			resized = true;
			continue;
		}
		if (rc == MDB_MAP_RESIZED)
			return KS_EBUSY;
		return db_err(rc, "txn_begin");
	}
	out->txn = txn;
	if (rdonly)
		atomic_fetch_add(&e->readers, 1);
	return KS_EOK;
}

static void db_txn_done(db_txn_t *t)
{
	if (t->rdonly)
		atomic_fetch_sub(&t->env->readers, 1);
	t->txn = NULL;
}

int db_txn_commit(db_txn_t *t)
{
	if (!t->txn)
		return t->ret ? t->ret : KS_EINVAL;
	if (t->ret != 0) {
		db_txn_abort(t);
		return t->ret;
	}
	int rc = mdb_txn_commit(t->txn);
	db_txn_done(t);
	if (rc == MDB_MAP_FULL)
		t->map_full = true;
	/* LMDB reports a short page write as EIO: on a full file system
	 * that is ENOSPC, and the operator must read that. */
	if (rc == EIO && fs_full(t->env))
		rc = ENOSPC;
	t->ret = db_err(rc, "txn_commit");
	if (rc == 0 && !t->rdonly)
		db_prealloc(t->env);
	return t->ret;
}

void db_txn_abort(db_txn_t *t)
{
	if (!t->txn)
		return;
	mdb_txn_abort(t->txn);
	db_txn_done(t);
}

void db_txn_fail(db_txn_t *t, int ret)
{
	if (t->ret == 0)
		t->ret = ret;
}

/* Record a failure from LMDB call \p what. */
static bool txn_rc(db_txn_t *t, int rc, const char *what)
{
	if (rc == 0)
		return true;
	if (rc == MDB_MAP_FULL)
		t->map_full = true;
	db_txn_fail(t, db_err(rc, what));
	return false;
}

static MDB_val to_val(ks_view_t v)
{
	return (MDB_val){ .mv_size = v.len,
			  .mv_data = (void *)(uintptr_t)v.ptr };
}

static ks_view_t to_view(MDB_val v)
{
	return (ks_view_t){ .ptr = v.mv_data, .len = v.mv_size };
}

bool db_get(db_txn_t *t, enum db_name db, ks_view_t key, ks_view_t *val)
{
	if (t->ret)
		return false;
	MDB_val k = to_val(key), v;
	int rc = mdb_get(t->txn, t->env->dbi[db], &k, &v);
	if (rc == MDB_NOTFOUND)
		return false;
	if (!txn_rc(t, rc, "get"))
		return false;
	*val = to_view(v);
	return true;
}

bool db_put(db_txn_t *t, enum db_name db, ks_view_t key, ks_view_t val)
{
	if (t->ret)
		return false;
	MDB_val k = to_val(key), v = to_val(val);
	return txn_rc(t, mdb_put(t->txn, t->env->dbi[db], &k, &v, 0), "put");
}

uint8_t *db_put_reserve(db_txn_t *t, enum db_name db, ks_view_t key, size_t len,
			bool append)
{
	if (t->ret)
		return NULL;
	MDB_val k = to_val(key), v = { .mv_size = len, .mv_data = NULL };
	unsigned flags = MDB_RESERVE | (append ? MDB_APPEND : 0);
	if (!txn_rc(t, mdb_put(t->txn, t->env->dbi[db], &k, &v, flags), "put"))
		return NULL;
	return v.mv_data;
}

bool db_del(db_txn_t *t, enum db_name db, ks_view_t key)
{
	if (t->ret)
		return false;
	MDB_val k = to_val(key);
	int rc = mdb_del(t->txn, t->env->dbi[db], &k, NULL);
	if (rc == MDB_NOTFOUND)
		return false;
	return txn_rc(t, rc, "del");
}

bool db_clear(db_txn_t *t, enum db_name db)
{
	if (t->ret)
		return false;
	return txn_rc(t, mdb_drop(t->txn, t->env->dbi[db], 0), "drop");
}

bool db_count(db_txn_t *t, enum db_name db, uint64_t *count)
{
	if (t->ret)
		return false;
	MDB_stat st;
	if (!txn_rc(t, mdb_stat(t->txn, t->env->dbi[db], &st), "stat"))
		return false;
	*count = st.ms_entries;
	return true;
}

bool db_cur_open(db_txn_t *t, enum db_name db, db_cur_t *cur)
{
	cur->txn = t;
	cur->cur = NULL;
	if (t->ret)
		return false;
	MDB_cursor *c = NULL;
	if (!txn_rc(t, mdb_cursor_open(t->txn, t->env->dbi[db], &c),
		    "cursor_open"))
		return false;
	cur->cur = c;
	return true;
}

void db_cur_close(db_cur_t *cur)
{
	if (cur->cur)
		mdb_cursor_close(cur->cur);
	cur->cur = NULL;
}

static bool cur_op(db_cur_t *cur, MDB_val *k, MDB_val *v, MDB_cursor_op op,
		   ks_view_t *key, ks_view_t *val)
{
	db_txn_t *t = cur->txn;
	if (t->ret || !cur->cur)
		return false;
	int rc = mdb_cursor_get(cur->cur, k, v, op);
	if (rc == MDB_NOTFOUND)
		return false;
	if (!txn_rc(t, rc, "cursor_get"))
		return false;
	if (key)
		*key = to_view(*k);
	if (val)
		*val = to_view(*v);
	return true;
}

bool db_cur_first(db_cur_t *cur, ks_view_t *key, ks_view_t *val)
{
	MDB_val k, v;
	return cur_op(cur, &k, &v, MDB_FIRST, key, val);
}

bool db_cur_next(db_cur_t *cur, ks_view_t *key, ks_view_t *val)
{
	MDB_val k, v;
	return cur_op(cur, &k, &v, MDB_NEXT, key, val);
}

bool db_cur_last(db_cur_t *cur, ks_view_t *key, ks_view_t *val)
{
	MDB_val k, v;
	return cur_op(cur, &k, &v, MDB_LAST, key, val);
}

bool db_cur_prev(db_cur_t *cur, ks_view_t *key, ks_view_t *val)
{
	MDB_val k, v;
	return cur_op(cur, &k, &v, MDB_PREV, key, val);
}

bool db_cur_seek(db_cur_t *cur, ks_view_t from, ks_view_t *key, ks_view_t *val)
{
	if (from.len == 0)
		return db_cur_first(cur, key, val);
	MDB_val k = to_val(from), v;
	return cur_op(cur, &k, &v, MDB_SET_RANGE, key, val);
}

bool db_cur_del(db_cur_t *cur)
{
	db_txn_t *t = cur->txn;
	if (t->ret || !cur->cur)
		return false;
	return txn_rc(t, mdb_cursor_del(cur->cur, 0), "cursor_del");
}

bool db_cur_find(db_cur_t *cur, ks_view_t key, ks_view_t *val)
{
	MDB_val k = to_val(key), v;
	return cur_op(cur, &k, &v, MDB_SET_KEY, NULL, val);
}

bool db_cur_put(db_cur_t *cur, ks_view_t key, ks_view_t val, bool append)
{
	db_txn_t *t = cur->txn;
	if (t->ret || !cur->cur)
		return false;
	MDB_val k = to_val(key), v = to_val(val);
	return txn_rc(t,
		      mdb_cursor_put(cur->cur, &k, &v, append ? MDB_APPEND : 0),
		      "cursor_put");
}

uint8_t *db_cur_put_reserve(db_cur_t *cur, ks_view_t key, size_t len,
			    bool append)
{
	db_txn_t *t = cur->txn;
	if (t->ret || !cur->cur)
		return NULL;
	MDB_val k = to_val(key), v = { .mv_size = len, .mv_data = NULL };
	unsigned flags = MDB_RESERVE | (append ? MDB_APPEND : 0);
	if (!txn_rc(t, mdb_cursor_put(cur->cur, &k, &v, flags), "cursor_put"))
		return NULL;
	return v.mv_data;
}
