/* SPDX-License-Identifier: MIT */
/*
 * A primary and a replica engine (node/repl/) end to end in one process,
 * through the link seam (node/repl/link.h) with in-memory links
 * (memlink.h): real MIT KDBs made by kdb5_util (deploy/lib/realm.sh), real
 * LMDB stores, real Ed25519 keys, the real database worker threads.  The
 * test owns the clock and moves every frame, so each step is deterministic:
 * hello and capabilities, the first full copy, incremental catch-up, a full
 * copy for a replica behind the retained log, a link dropped in the middle
 * of a copy and of a batch (then resumed), a batch with a bad signature, a
 * lost batch (a gap), a malformed frame and an untrusted signer refused,
 * back-pressure, the handshake and ack timeouts, a replica connecting
 * during the primary's start-up scan, a peer in the wrong role, a failed
 * start-up scan retried after its back-off, and the replica's 16 MiB read
 * pause while its worker is held.  Convergence is checked on the stores
 * and on `kdb5_util dump` of both KDBs.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "common/log.h"
#include "memlink.h"
#include "node/kdb_lock.h"
#include "node/repl/repl_int.h"
#include "helpers/test.h"

#ifndef KS_SOURCE_DIR
#error "KS_SOURCE_DIR must name the source tree (deploy/lib/realm.sh)"
#endif

#define REALM "ENGINE.TEST"
#define PNAME "primary.test"
#define RNAME "replica.test"

typedef struct node {
	char dir[512]; /* state_dir; the KDB's realm files in dir/kdb */
	char kdb[560];
	char profile[600];
	int role;
	store_t *store;
	node_repl_t *r;
	/* observer: what the engine told the daemon */
	int refused_code;
	char refused_why[300];
	unsigned followed;
} node_t;

typedef struct fix {
	char *dir;
	uv_loop_t loop;
	uint64_t now;
	node_t p, r;
	char pub[600], other_pub[600], key[600];
	memlink_t *ml;
	uv_sem_t *held; /* a worker held (worker_hold): released at the end */
} fix_t;

static fix_t *F;

static uint64_t clock_now(void *arg)
{
	return ((fix_t *)arg)->now;
}

/* Run a shell command (the test's own text), failing the test on error. */
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) >= 0);
	va_end(ap);
	int rc = system(cmd);
	if (rc != 0)
		fail_msg("command failed (%d): %s", rc, cmd);
	free(cmd);
}

/* A realm's KDB in n->kdb, made as the integration tests make theirs. */
static void make_kdb(node_t *n)
{
	sh("bash -c '. %s/deploy/lib/realm.sh && realm_write_conf \"$0\" %s 9 "
	   "&& realm_create \"$0\" %s master-password-123' %s",
	   KS_SOURCE_DIR, REALM, REALM, n->kdb);
}

/* kadmin.local on the primary's KDB, one query per line of \p queries. */
static void kadmin(const char *queries)
{
	sh("printf '%s\\n' | KRB5_CONFIG=%s/krb5.conf KRB5_KDC_PROFILE=%s "
	   "kadmin.local -r %s >/dev/null 2>&1",
	   queries, F->p.kdb, F->p.profile, REALM);
}

/* \p n principals named PREFIX-i, one kadmin.local run. */
static void add_principals(const char *prefix, int n)
{
	ks_buf_t q = KS_BUF_INIT;

	for (int i = 0; i < n; i++) {
		char line[128];
		int len = snprintf(line, sizeof(line),
				   "addprinc -randkey %s-%d\\n", prefix, i);
		assert_ks_ok(ks_buf_append(&q, line, (size_t)len));
	}
	assert_ks_ok(ks_buf_append(&q, "", 1));
	kadmin((const char *)q.data);
	ks_buf_free(&q);
}

static void on_followed(void *arg, const char *peer)
{
	(void)peer;
	((node_t *)arg)->followed++;
}

static void on_refused(void *arg, const char *peer, int code,
		       const char *reason)
{
	node_t *n = arg;

	(void)peer;
	n->refused_code = code;
	snprintf(n->refused_why, sizeof(n->refused_why), "%s", reason);
}

/* Work of the engine still to come back to the loop. */
static bool busy(const node_t *n)
{
	if (n->r == NULL || n->r->worker == NULL)
		return false;
	if (node_repl_worker_pending(n->r->worker) > 0 || n->r->enc_n > 0)
		return true; /* worker jobs, batches being built */
	for (repl_peer_t *p = n->r->peers; p != NULL; p = p->next)
		if (p->link != NULL && p->link->snap_running)
			return true;
	return false;
}

/* Start an engine; its start-up jobs (the primary's scan, the replica's
 * KDB check) run on its worker, not waited for. */
static void node_launch(node_t *n, int role, const char *trusted,
			uint64_t retain)
{
	char tbuf[600];
	char *trust[1] = { tbuf };
	store_opts_t so = { .retain_count = retain, .nosync = true };
	node_conf_t c = {
		.name = role == REPL_ROLE_PRIMARY ? PNAME : RNAME,
		.role = role == REPL_ROLE_PRIMARY ? NODE_ROLE_PRIMARY
						  : NODE_ROLE_REPLICA,
		.state_dir = n->dir,
		.kdc_profile = n->profile,
		.signing_key = role == REPL_ROLE_PRIMARY ? F->key : NULL,
		.trusted_keys = { trusted ? trust : NULL, trusted ? 1 : 0 },
	};
	node_repl_clock_t clk = { clock_now, F };
	node_repl_observer_t obs = { on_followed, on_refused, n };

	snprintf(tbuf, sizeof(tbuf), "%s", trusted ? trusted : "");
	n->role = role;
	assert_ks_ok(store_open(n->dir, &so, &n->store));
	assert_ks_ok(node_repl_new(&F->loop, &c, n->store, &n->r));
	node_repl_set_clock(n->r, &clk);
	node_repl_set_observer(n->r, &obs);
	assert_ks_ok(node_repl_start(n->r));
	assert_string_equal(n->r->disabled, "");
}

/* Start an engine and wait for its start-up jobs. */
static void node_start(node_t *n, int role, const char *trusted,
		       uint64_t retain)
{
	node_launch(n, role, trusted, retain);
	while (busy(n))
		uv_run(&F->loop, UV_RUN_ONCE);
}

static void stopped(void *arg)
{
	*(bool *)arg = true;
}

static void node_stop(node_t *n)
{
	bool done = false;

	if (n->r == NULL)
		return;
	node_repl_stop(n->r, stopped, &done);
	while (!done)
		uv_run(&F->loop, UV_RUN_ONCE);
	node_repl_free(n->r);
	n->r = NULL;
	store_close(n->store);
	n->store = NULL;
}

static void node_init(node_t *n, const char *sub)
{
	snprintf(n->dir, sizeof(n->dir), "%s/%s", F->dir, sub);
	snprintf(n->kdb, sizeof(n->kdb), "%s/kdb", n->dir);
	snprintf(n->profile, sizeof(n->profile), "%s/kdc.conf", n->kdb);
	sh("mkdir -p %s", n->kdb);
	make_kdb(n);
}

static int setup(void **state)
{
	F = calloc(1, sizeof(*F));
	assert_non_null(F);
	F->dir = test_mkdtemp("ks-engine");
	F->now = 1000000;
	assert_int_equal(uv_loop_init(&F->loop), 0);
	snprintf(F->key, sizeof(F->key), "%s/sign.key", F->dir);
	snprintf(F->pub, sizeof(F->pub), "%s/sign.pub", F->dir);
	snprintf(F->other_pub, sizeof(F->other_pub), "%s/other.pub", F->dir);
	char prefix[560];
	snprintf(prefix, sizeof(prefix), "%s/sign", F->dir);
	assert_ks_ok(proto_keygen(prefix, NULL));
	snprintf(prefix, sizeof(prefix), "%s/other", F->dir);
	assert_ks_ok(proto_keygen(prefix, NULL));
	node_init(&F->p, "p");
	node_init(&F->r, "r");
	/* both KDBs are of one realm: one krb5.conf serves the process */
	char conf[600];
	snprintf(conf, sizeof(conf), "%s/krb5.conf", F->p.kdb);
	setenv("KRB5_CONFIG", conf, 1);
	*state = F;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (F->held != NULL) /* a failed test's held worker */
		uv_sem_post(F->held);
	if (F->ml != NULL && !F->ml->down) { /* the daemon closes links */
		memlink_drop(F->ml, 0, KS_EOK, "test ends");
		memlink_pump(F->ml, 0);
	}
	node_stop(&F->r);
	node_stop(&F->p);
	memlink_free(F->ml);
	uv_run(&F->loop, UV_RUN_NOWAIT);
	assert_int_equal(uv_loop_close(&F->loop), 0);
	test_rmtree_free(F->dir);
	free(F);
	F = NULL;
	return 0;
}

/* --- driving ------------------------------------------------------------- */

/* One step: move at most \p frames frames (0: all that can move), then
 * let the loop deliver what the threads finished (waiting for them when
 * they are busy).  \return whether anything happened. */
static bool step(size_t frames)
{
	size_t moved = F->ml ? memlink_pump(F->ml, frames) : 0;

	if (busy(&F->p) || busy(&F->r)) {
		uv_run(&F->loop, UV_RUN_ONCE);
		return true;
	}
	uv_run(&F->loop, UV_RUN_NOWAIT);
	return moved > 0;
}

/* Until nothing moves and no thread has work. */
static void settle(void)
{
	for (unsigned i = 0; i < 1000000; i++)
		if (!step(0) && !busy(&F->p) && !busy(&F->r))
			return;
	fail_msg("the engines did not settle");
}

/* Advance the clock by \p ms and tick both engines. */
static void advance(uint64_t ms)
{
	F->now += ms;
	if (F->p.r != NULL)
		node_repl_tick(F->p.r);
	if (F->r.r != NULL)
		node_repl_tick(F->r.r);
}

static void connect_pair(size_t limit)
{
	memlink_free(F->ml);
	F->ml = memlink_up(F->r.r, PNAME, F->p.r, RNAME, limit);
	assert_non_null(F->ml);
}

static repl_peer_t *peer_of(node_t *n, const char *name)
{
	for (repl_peer_t *p = n->r->peers; p != NULL; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	fail_msg("no peer %s", name);
	return NULL;
}

static node_status_repl_peer_t replica_status(void)
{
	node_status_repl_peer_t s;

	assert_ks_ok(node_repl_peer_status(F->r.r, PNAME, &s));
	return s;
}

static node_status_repl_peer_t primary_status(void)
{
	node_status_repl_peer_t s;

	assert_ks_ok(node_repl_peer_status(F->p.r, RNAME, &s));
	return s;
}

static store_meta_t meta(node_t *n)
{
	store_meta_t m;

	assert_ks_ok(node_repl__meta(n->store, &m));
	return m;
}

/* Both sides streaming, the replica at the primary's last seq. */
static void assert_streaming(void)
{
	assert_non_null(F->ml->end[0].link);
	assert_non_null(F->ml->end[1].link);
	assert_int_equal(F->ml->end[0].link->sm.state, REPL_ST_STREAM);
	assert_int_equal(F->ml->end[1].link->sm.state, REPL_ST_STREAM);
	store_meta_t pm = meta(&F->p), rm = meta(&F->r);
	assert_memory_equal(rm.applied_history, pm.history, 16);
	assert_int_equal(rm.applied_seq, pm.last_seq);
}

/* Primary: scan its KDB now (after kadmin changed it), and wait for the
 * scan only: nothing moves on the link. */
static void scan_only(void)
{
	ks_buf_t out = KS_BUF_INIT;

	assert_ks_ok(node_repl_ctl(F->p.r, "snapshot", &out));
	ks_buf_free(&out);
	while (busy(&F->p))
		uv_run(&F->loop, UV_RUN_ONCE);
}

/* Primary: scan, then everything settles. */
static void scan(void)
{
	scan_only();
	settle();
}

/* --- checking ------------------------------------------------------------ */

static int collect(ks_view_t key, ks_view_t value, void *arg)
{
	ks_buf_t *b = arg;

	if (ks_buf_append_u32(b, (uint32_t)key.len) != KS_EOK ||
	    ks_buf_append(b, key.ptr, key.len) != KS_EOK ||
	    ks_buf_append_u32(b, (uint32_t)value.len) != KS_EOK ||
	    ks_buf_append(b, value.ptr, value.len) != KS_EOK)
		return KS_ENOMEM;
	return 0;
}

static void store_records(node_t *n, ks_buf_t *b)
{
	store_txn_t *t = NULL;

	assert_ks_ok(store_read_begin(n->store, &t));
	assert_ks_ok(store_records_foreach(t, (ks_view_t){ 0 }, collect, b));
	store_read_end(t);
}

static void kdb_dump(node_t *n, const char *out)
{
	/* without the header line (it carries nothing of the records) */
	sh("KRB5_CONFIG=%s/krb5.conf KRB5_KDC_PROFILE=%s kdb5_util -r %s "
	   "dump %s.full && tail -n +2 %s.full | sort >%s",
	   n->kdb, n->profile, REALM, out, out, out);
}

/* The replica holds what the primary holds: store records and KDB. */
static void assert_converged(void)
{
	ks_buf_t a = KS_BUF_INIT, b = KS_BUF_INIT;
	char pd[600], rd[600];

	store_records(&F->p, &a);
	store_records(&F->r, &b);
	assert_true(a.len > 0);
	test_assert_mem_eq(b.data, b.len, a.data, a.len);
	ks_buf_free(&a);
	ks_buf_free(&b);
	snprintf(pd, sizeof(pd), "%s/p.dump", F->dir);
	snprintf(rd, sizeof(rd), "%s/r.dump", F->dir);
	kdb_dump(&F->p, pd);
	kdb_dump(&F->r, rd);
	sh("cmp -s %s %s || { diff %s %s | head -20; false; }", pd, rd, pd, rd);
}

/* Primary and replica started, 20 principals, linked and in sync. */
static void pair_in_sync(size_t limit, uint64_t retain)
{
	add_principals("first", 20);
	node_start(&F->p, REPL_ROLE_PRIMARY, NULL, retain);
	node_start(&F->r, REPL_ROLE_REPLICA, F->pub, 0);
	connect_pair(limit);
	settle();
	assert_streaming();
}

/* A new link (the last one is down): both stream and hold the same. */
static void reconnect_converges(size_t limit)
{
	connect_pair(limit);
	settle();
	assert_streaming();
	assert_converged();
}

/* In sync, then \p n new principals go through \p mangle on the link.
 * \return the replica's applied seq before them. */
static uint64_t changes_through(bool (*mangle)(memlink_t *, int, ks_buf_t *,
					       void *),
				void *arg, const char *prefix, int n)
{
	pair_in_sync(1u << 20, 0);
	uint64_t before = meta(&F->r).applied_seq;
	F->ml->mangle = mangle;
	F->ml->mangle_arg = arg;
	add_principals(prefix, n);
	scan();
	return before;
}

/* The link ended on \p err and the replica applied nothing more. */
static void assert_refused(int err, uint64_t applied_before)
{
	assert_true(F->ml->down);
	assert_int_equal(F->ml->err, err);
	assert_int_equal(meta(&F->r).applied_seq, applied_before);
}

/* --- tests --------------------------------------------------------------- */

/* Hello and capabilities, the first full copy, then incremental changes. */
static void test_hello_full_then_incremental(void **state)
{
	(void)state;
	pair_in_sync(1u << 20, 0);
	node_repl_link_t *rl = F->ml->end[0].link, *pl = F->ml->end[1].link;
	assert_true(rl->hello_seen && pl->hello_seen);
	assert_true(rl->peer_caps & PROTO_CAP_ZSTD);
	assert_true(rl->peer_caps & PROTO_CAP_DIGEST);
	assert_true(pl->peer_caps & PROTO_CAP_REWIND);
	assert_int_equal(F->r.followed, 1);
	node_status_repl_peer_t s = replica_status();
	assert_int_equal(s.full_transfers, 1);
	assert_converged();

	uint64_t seq0 = meta(&F->p).last_seq;
	kadmin("addprinc -randkey late-1\\naddprinc -randkey late-2\\n"
	       "modprinc -maxlife 2h first-3\\ndelprinc -force first-4");
	scan();
	assert_true(meta(&F->p).last_seq >= seq0 + 4);
	assert_streaming();
	s = replica_status();
	assert_int_equal(s.full_transfers, 1);
	assert_true(s.changes >= 4);
	assert_converged();
}

/* A replica that comes back inside the retained log resumes
 * incrementally; one behind it gets a full copy. */
static void test_resume_and_behind_log(void **state)
{
	(void)state;
	pair_in_sync(1u << 20, 3);
	memlink_drop(F->ml, 0, KS_EOK, "replica leaves");
	settle();
	assert_null(F->ml->end[0].link);
	assert_null(peer_of(&F->p, RNAME)->link);

	/* inside the window: incremental */
	add_principals("gap", 2);
	scan();
	connect_pair(1u << 20);
	settle();
	assert_streaming();
	node_status_repl_peer_t s = replica_status();
	assert_int_equal(s.full_transfers, 1);
	assert_int_equal(primary_status().incremental_sessions, 1);
	assert_converged();

	/* away while the primary trims past it: a full copy */
	memlink_drop(F->ml, 0, KS_EOK, "replica leaves");
	settle();
	add_principals("far", 8);
	scan();
	for (unsigned i = 0; i < REPL_TRIM_EVERY_TICKS; i++)
		advance(REPL_TICK_MS);
	settle();
	assert_true(meta(&F->p).oldest_seq > meta(&F->r).applied_seq + 1);
	connect_pair(1u << 20);
	settle();
	assert_streaming();
	s = replica_status();
	assert_int_equal(s.full_transfers, 2);
	assert_converged();
}

/* The link drops in the middle of a full copy: nothing is installed; the
 * next link copies again and converges. */
static void test_drop_mid_snapshot(void **state)
{
	(void)state;
	add_principals("bulk", 300);
	node_start(&F->p, REPL_ROLE_PRIMARY, NULL, 0);
	node_start(&F->r, REPL_ROLE_REPLICA, F->pub, 0);
	connect_pair(2048); /* small: the copy comes in many frames */
	for (unsigned i = 0; i < 100000; i++) {
		node_repl_link_t *rl = F->ml->end[0].link;
		if (rl != NULL && rl->sm.state == REPL_ST_SNAP_RECV &&
		    rl->snap_records > 0)
			break;
		assert_true(step(1) || busy(&F->p) || busy(&F->r));
	}
	assert_int_equal(F->ml->end[0].link->sm.state, REPL_ST_SNAP_RECV);
	memlink_drop(F->ml, 1, KS_ENET, "cable cut");
	settle();
	assert_int_equal(meta(&F->r).applied_seq, 0); /* nothing installed */
	node_status_repl_peer_t s = replica_status();
	assert_int_equal(s.full_transfers, 0);
	assert_string_not_equal(s.last_error, "");

	reconnect_converges(2048);
}

/* The link drops while a batch is being applied: the replica resumes
 * from what it durably applied. */
static void test_drop_mid_batch(void **state)
{
	(void)state;
	pair_in_sync(1u << 20, 0);
	add_principals("batch", 40);
	ks_buf_t out = KS_BUF_INIT;
	assert_ks_ok(node_repl_ctl(F->p.r, "snapshot", &out));
	ks_buf_free(&out);
	/* the scan on the primary's worker, then the first batch frame */
	for (unsigned i = 0; i < 100000; i++) {
		node_repl_link_t *rl = F->ml->end[0].link;
		if (rl->jobs > 0)
			break; /* a batch is being applied */
		assert_true(step(1) || busy(&F->p) || busy(&F->r));
	}
	assert_true(F->ml->end[0].link->jobs > 0);
	memlink_drop(F->ml, 0, KS_ENET, "cable cut");
	settle();
	/* the apply that was running finished (a worker job is not torn),
	 * but its ack never reached the primary */
	assert_true(primary_status().position < meta(&F->p).last_seq);

	connect_pair(1u << 20);
	settle();
	assert_streaming();
	assert_int_equal(replica_status().full_transfers, 1);
	assert_int_equal(primary_status().incremental_sessions, 1);
	/* nothing new was sent, yet the primary knows where the replica is:
	 * its hello said so */
	assert_int_equal(primary_status().position, meta(&F->r).applied_seq);
	assert_int_equal(primary_status().position, meta(&F->p).last_seq);
	add_principals("after", 1); /* acked as it streams on */
	scan();
	assert_int_equal(primary_status().position, meta(&F->p).last_seq);
	assert_converged();
}

static bool flip_batch(memlink_t *ml, int from, ks_buf_t *f, void *arg)
{
	(void)ml;
	/* a batch frame is one send (prefix, type, payload) */
	if (from == 1 && f->len > 100 && f->data[4] == PROTO_MSG_BATCH) {
		f->data[f->len - 10] ^= 0x01; /* inside the signed blob */
		(*(unsigned *)arg)++;
	}
	return true;
}

/* A batch altered in flight is refused and nothing of it applied; a clean
 * link then resumes.  A primary signing with a key the replica does not
 * trust is refused at the hello. */
static void test_bad_signature(void **state)
{
	(void)state;
	unsigned flipped = 0;

	uint64_t before = changes_through(flip_batch, &flipped, "evil", 3);
	assert_int_equal(flipped, 1);
	assert_refused(KS_ESIG, before);

	reconnect_converges(1u << 20);

	/* the replica trusts another key only */
	memlink_drop(F->ml, 0, KS_EOK, "restart");
	settle();
	node_stop(&F->r);
	node_start(&F->r, REPL_ROLE_REPLICA, F->other_pub, 0);
	F->r.refused_code = 0;
	connect_pair(1u << 20);
	settle();
	assert_int_equal(F->r.refused_code, KS_EUNTRUSTED);
	assert_true(F->ml->down);
	assert_int_equal(meta(&F->r).applied_seq, meta(&F->p).last_seq);
}

static bool drop_first_batch(memlink_t *ml, int from, ks_buf_t *f, void *arg)
{
	unsigned *dropped = arg;

	(void)ml;
	if (from == 1 && f->len > 4 && f->data[4] == PROTO_MSG_BATCH &&
	    *dropped == 0) {
		(*dropped)++;
		return false;
	}
	return true;
}

/* A batch lost on the way: the next one does not continue the replica's
 * position, is refused whole, and the next link fills the gap. */
static void test_lost_batch(void **state)
{
	(void)state;
	unsigned dropped = 0;

	uint64_t before =
		changes_through(drop_first_batch, &dropped, "lost", 2);
	assert_int_equal(dropped, 1);
	assert_false(F->ml->closing);
	add_principals("next", 2);
	scan();
	assert_refused(KS_EGAP, before);

	reconnect_converges(1u << 20);
}

static bool garble_batch(memlink_t *ml, int from, ks_buf_t *f, void *arg)
{
	(void)ml;
	(void)arg;
	if (from == 1 && f->len > 5 && f->data[4] == PROTO_MSG_BATCH)
		f->data[4] = 0x7f; /* no such message type */
	return true;
}

/* A frame the replica cannot decode resets the link through the state
 * machine (the one reset path): the reason is recorded, nothing applied. */
static void test_malformed_frame(void **state)
{
	(void)state;
	uint64_t before = changes_through(garble_batch, NULL, "garbled", 1);
	assert_refused(KS_ETYPE, before);
	assert_int_equal(F->ml->closer, 0); /* the replica reset it */
	assert_non_null(
		strstr(replica_status().last_error, "malformed message ("));

	reconnect_converges(1u << 20);
}

/* A queue over its limit: the primary holds the next batch back until
 * the link drains, then sends it. */
static void test_back_pressure(void **state)
{
	(void)state;
	pair_in_sync(64, 0); /* any frame fills the queue */
	memlink_end_t *pe = &F->ml->end[1];
	uint64_t writables = pe->writables;
	add_principals("bp1", 5);
	scan_only();
	assert_int_equal(memlink_waiting(F->ml, 1), 1); /* the batch */
	add_principals("bp2", 5);
	scan_only();
	assert_int_equal(memlink_waiting(F->ml, 1), 1); /* held back */
	memlink_pump(F->ml, 1); /* the batch goes: writable */
	assert_int_equal(pe->writables, writables + 1);
	while (busy(&F->p)) /* the next batch is built off the loop */
		uv_run(&F->loop, UV_RUN_ONCE);
	assert_int_equal(memlink_waiting(F->ml, 1), 1); /* and sent */
	settle();
	assert_streaming();
	assert_converged();
}

static bool drop_acks(memlink_t *ml, int from, ks_buf_t *f, void *arg)
{
	(void)ml;
	(void)arg;
	return !(from == 0 && f->len > 4 && f->data[4] == PROTO_MSG_ACK);
}

/* Timeouts on the test's clock: a hello that never comes, then batches
 * whose acks never come. */
static void test_timeouts(void **state)
{
	(void)state;
	node_start(&F->p, REPL_ROLE_PRIMARY, NULL, 0);
	node_start(&F->r, REPL_ROLE_REPLICA, F->pub, 0);
	connect_pair(1u << 20); /* hellos queued, never moved */
	advance(REPL_SM_HANDSHAKE_MS_DEFAULT / 2);
	assert_false(F->ml->closing);
	advance(REPL_SM_HANDSHAKE_MS_DEFAULT / 2 + 1);
	assert_true(F->ml->closing);
	settle();
	assert_true(F->ml->down);
	assert_int_equal(F->ml->err, KS_ETIMEDOUT);
	assert_non_null(strstr(replica_status().last_error, "handshake"));

	connect_pair(1u << 20);
	settle();
	assert_streaming();
	F->ml->mangle = drop_acks;
	add_principals("unacked", 3);
	scan();
	assert_false(F->ml->closing);
	advance(REPL_SM_ACK_MS_DEFAULT + 1);
	settle();
	assert_true(F->ml->down);
	assert_int_equal(F->ml->err, KS_ETIMEDOUT);
	node_status_repl_peer_t ps;
	assert_ks_ok(node_repl_peer_status(F->p.r, RNAME, &ps));
	assert_non_null(strstr(ps.last_error, "not acknowledged"));

	reconnect_converges(1u << 20);
}

/* A replica that connects while the primary's start-up scan runs waits
 * (its frames kept) and is served once the scan is done. */
static void test_connect_during_startup_scan(void **state)
{
	(void)state;
	add_principals("early", 30);
	node_start(&F->r, REPL_ROLE_REPLICA, F->pub, 0);
	node_launch(&F->p, REPL_ROLE_PRIMARY, NULL, 0);
	connect_pair(1u << 20);
	assert_int_equal(F->ml->end[1].link->sm.state, REPL_ST_NOT_READY);
	assert_int_equal(memlink_waiting(F->ml, 1), 0); /* no hello yet */
	memlink_pump(F->ml, 0); /* the replica's hello waits in the inbox */
	assert_int_equal(F->ml->end[1].link->sm.state, REPL_ST_NOT_READY);
	settle();
	assert_streaming();
	assert_converged();
}

/* The primary's start-up scan fails for real (its KDB's database file is
 * away), is retried after 1 s, then 2 s (the back-off, on the test's
 * clock), and once the file is back the retry succeeds and the replica
 * that waited meanwhile is served. */
static void test_startup_scan_retry(void **state)
{
	(void)state;
	node_status_repl_t st;
	char db[600];

	add_principals("retry", 10);
	snprintf(db, sizeof(db), "%s/principal", F->p.kdb);
	node_start(&F->r, REPL_ROLE_REPLICA, F->pub, 0);
	/* the file goes away after the engine opened the KDB, before its
	 * start-up scan (the worker's first job) can read it: the job waits
	 * for the process's KDB lock (node/kdb_lock.h), held here */
	node_kdb_lock();
	node_launch(&F->p, REPL_ROLE_PRIMARY, NULL, 0);
	sh("mv %s %s.away", db, db);
	node_kdb_unlock();
	while (busy(&F->p))
		uv_run(&F->loop, UV_RUN_ONCE);
	assert_false(F->p.r->ready);
	assert_int_equal(F->p.r->startup_failures, 1);
	assert_ks_ok(node_repl_status(F->p.r, &st));
	assert_string_equal(st.startup, "failed");
	assert_non_null(strstr(st.startup_error, "scan of the KDB failed"));
	assert_int_equal(st.startup_retry_ms, 1000);

	/* the replica connects meanwhile and waits */
	connect_pair(1u << 20);
	memlink_pump(F->ml, 0);
	assert_int_equal(F->ml->end[1].link->sm.state, REPL_ST_NOT_READY);

	/* not yet due; then due: the retry fails again, the next in 2 s */
	uint64_t scans = F->p.r->scans;
	advance(999);
	assert_int_equal(F->p.r->scans_pending, 0);
	advance(1);
	assert_int_equal(F->p.r->scans_pending, 1);
	while (busy(&F->p))
		uv_run(&F->loop, UV_RUN_ONCE);
	assert_int_equal(F->p.r->startup_failures, 2);
	assert_ks_ok(node_repl_status(F->p.r, &st));
	assert_int_equal(st.startup_retry_ms, 2000);
	assert_string_equal(st.startup, "failed");

	/* the file is back: the retry 2 s later succeeds, the replica is
	 * served (before its 5 s wait for the start-up scan ran out) */
	sh("mv %s.away %s", db, db);
	advance(1999);
	assert_int_equal(F->p.r->scans_pending, 0);
	advance(1);
	assert_int_equal(F->p.r->scans_pending, 1);
	settle();
	assert_true(F->p.r->ready);
	assert_int_equal(F->p.r->scans, scans + 1);
	assert_ks_ok(node_repl_status(F->p.r, &st));
	assert_string_equal(st.startup, "ready");
	assert_string_equal(st.startup_error, "");
	assert_int_equal(st.startup_retry_ms, -1);
	assert_int_equal(st.startup_failures, 2);
	assert_false(F->ml->down);
	assert_streaming();
	assert_converged();
	/* ready: no more retries */
	advance(60000);
	assert_int_equal(F->p.r->scans_pending, 0);
}

/* A replica linked to another replica: neither follows the other. */
/* Holds every thread of libuv's pool until released (pool_release). */
typedef struct pool_block {
	uv_sem_t go;
	unsigned n, done;
	uv_work_t req[128];
} pool_block_t;

static void block_work(uv_work_t *req)
{
	uv_sem_wait(&((pool_block_t *)req->data)->go);
}

static void block_done(uv_work_t *req, int status)
{
	(void)status;
	((pool_block_t *)req->data)->done++;
}

static void pool_hold(pool_block_t *b)
{
	const char *env = getenv("UV_THREADPOOL_SIZE");

	b->n = env != NULL ? (unsigned)atoi(env) : 4; /* libuv's default */
	assert_true(b->n >= 1 && b->n <= 128);
	assert_int_equal(uv_sem_init(&b->go, 0), 0);
	for (unsigned i = 0; i < b->n; i++) {
		b->req[i].data = b;
		assert_int_equal(uv_queue_work(&F->loop, &b->req[i], block_work,
					       block_done),
				 0);
	}
}

static void pool_release(pool_block_t *b)
{
	for (unsigned i = 0; i < b->n; i++)
		uv_sem_post(&b->go);
	while (b->done < b->n)
		uv_run(&F->loop, UV_RUN_ONCE);
	uv_sem_destroy(&b->go);
}

/* Holds an engine's database worker until released (worker_release): a
 * job that waits on the block's semaphore, as pool_hold's do. */
typedef struct worker_block {
	node_repl_job_t job;
	pool_block_t *b;
} worker_block_t;

static int worker_block_run(node_repl_job_t *job)
{
	uv_sem_wait(&((worker_block_t *)job)->b->go);
	return KS_EOK;
}

static void worker_block_done(node_repl_job_t *job, int ret)
{
	(void)ret;
	((worker_block_t *)job)->b->done++;
	free(job);
}

static void worker_hold(node_repl_t *r, pool_block_t *b)
{
	worker_block_t *j = calloc(1, sizeof(*j));

	assert_non_null(j);
	b->n = 1;
	assert_int_equal(uv_sem_init(&b->go, 0), 0);
	j->job = (node_repl_job_t){ .run = worker_block_run,
				    .done = worker_block_done };
	j->b = b;
	node_repl_worker_submit(r->worker, &j->job);
	F->held = &b->go;
}

/* \p n principals PREFIX-i, each with a string attribute of \p size
 * random bytes (incompressible: the full copy is about n * size bytes on
 * the wire), loaded into the primary's KDB at once (kdb5_util load
 * -update of a dump made from a template principal). */
static void add_big_principals(const char *prefix, int n, int size)
{
	char d[600];

	snprintf(d, sizeof(d), "%s/big.dump", F->dir);
	kadmin("addprinc -randkey big-template\\nsetstr big-template k v");
	sh("KRB5_CONFIG=%s/krb5.conf KRB5_KDC_PROFILE=%s kdb5_util -r %s "
	   "dump %s.all",
	   F->p.kdb, F->p.profile, REALM, d);
	/* princ lines (load_dump version 7): name length in field 3, the
	 * count of tl_data in 4, the name in 7, tl_data triples from 16
	 * (type, length, hex); type 11 holds the string attributes */
	sh("python3 - %s.all %s %s %d %d <<'PY'\n"
	   "import os, sys\n"
	   "src, out, prefix, n, size = sys.argv[1], sys.argv[2], "
	   "sys.argv[3], int(sys.argv[4]), int(sys.argv[5])\n"
	   "lines = open(src).read().split('\\n')\n"
	   "tpl = [l for l in lines if l.startswith('princ\\t') and "
	   "'\\tbig-template@' in l][0].split('\\t')\n"
	   "ntl = int(tpl[3])\n"
	   "with open(out, 'w') as f:\n"
	   "    f.write(lines[0] + '\\n')\n"
	   "    for i in range(n):\n"
	   "        p = list(tpl)\n"
	   "        name = '%%s-%%d@%%s' %% (prefix, i, p[6].split('@')[1])\n"
	   "        p[2], p[6] = str(len(name)), name\n"
	   "        for t in range(ntl):\n"
	   "            if p[15 + 3 * t] == '11':\n"
	   "                v = bytes(b %% 255 + 1 for b in os.urandom(size))\n"
	   "                a = b'k\\0' + v + b'\\0'\n"
	   "                p[16 + 3 * t], p[17 + 3 * t] = str(len(a)), a.hex()\n"
	   "        f.write('\\t'.join(p) + '\\n')\n"
	   "PY",
	   d, d, prefix, n, size);
	sh("KRB5_CONFIG=%s/krb5.conf KRB5_KDC_PROFILE=%s kdb5_util -r %s "
	   "load -update %s",
	   F->p.kdb, F->p.profile, REALM, d);
}

/* The replica's 16 MiB read pause: while its worker is held, a full copy
 * of more than 16 MiB arrives; the replica stops reading past 16 MiB
 * waiting (the rest stays with the primary), resumes once the worker has
 * drained half of it, and applies everything exactly once, in order (any
 * chunk lost, repeated or out of order resets the link). */
static void test_read_pause(void **state)
{
	(void)state;
	static pool_block_t b; /* teardown releases it if a check fails */

	b = (pool_block_t){ 0 };
	add_big_principals("big", 440, 50000); /* ~22 MB */
	node_start(&F->p, REPL_ROLE_PRIMARY, NULL, 0);
	node_start(&F->r, REPL_ROLE_REPLICA, F->pub, 0);
	worker_hold(F->r.r, &b);
	connect_pair(64u << 20); /* the primary sends as fast as it encodes */
	memlink_end_t *re = &F->ml->end[0];
	node_repl_link_t *rl = re->link;
	for (unsigned i = 0; i < 1000000 && !rl->paused; i++) {
		size_t moved = memlink_pump(F->ml, 1);
		if (moved == 0 && busy(&F->p))
			uv_run(&F->loop, UV_RUN_ONCE); /* a slice encoded */
		else
			uv_run(&F->loop, UV_RUN_NOWAIT);
		assert_false(F->ml->down);
	}
	assert_true(rl->paused);
	assert_true(re->paused);
	assert_int_equal(re->pauses, 1);
	assert_int_equal(rl->pauses, 1);
	assert_true(rl->inbox_bytes > 16u << 20);
	assert_true(rl->inbox_bytes < (16u << 20) + (4u << 20));
	/* held: nothing more is read, nothing applied */
	for (unsigned i = 0; i < 50; i++) {
		memlink_pump(F->ml, 0);
		uv_run(&F->loop, UV_RUN_NOWAIT);
	}
	size_t held = rl->inbox_bytes;
	assert_true(memlink_waiting(F->ml, 1) > 0);
	assert_int_equal(meta(&F->r).applied_seq, 0);
	assert_true(rl->sm.state == REPL_ST_SNAP_WAIT ||
		    rl->sm.state == REPL_ST_SNAP_RECV);

	/* released: the inbox drains to half, reading resumes */
	F->held = NULL;
	pool_release(&b);
	bool resumed = false;
	for (unsigned i = 0; i < 1000000 && !resumed; i++) {
		if (!step(0) && !busy(&F->r) && !busy(&F->p))
			break;
		resumed = !re->paused;
	}
	assert_true(resumed);
	assert_true(rl->inbox_bytes <= 8u << 20);
	assert_true(rl->inbox_bytes < held);
	settle();
	assert_false(F->ml->down);
	assert_streaming();
	assert_int_equal(replica_status().full_transfers, 1);
	assert_true(re->in > 16u << 20);
	assert_converged();
}

/* Stop while a snapshot slice waits for the pool: the stop is not done
 * (the engine and its store stay) until the slice has ended, since the
 * slice reads the store and key the engine owns. */
static void test_stop_during_snapshot_slice(void **state)
{
	(void)state;
	pool_block_t b = { 0 };
	bool done = false;

	add_principals("bulk", 50);
	node_start(&F->p, REPL_ROLE_PRIMARY, NULL, 0);
	node_start(&F->r, REPL_ROLE_REPLICA, F->pub, 0);
	pool_hold(&b);
	connect_pair(1u << 20);
	for (unsigned i = 0; i < 100000; i++) {
		node_repl_link_t *pl = F->ml->end[1].link;
		if (pl != NULL && pl->snap_running)
			break;
		memlink_pump(F->ml, 1);
		uv_run(&F->loop, UV_RUN_NOWAIT);
	}
	assert_true(F->ml->end[1].link->snap_running);
	assert_int_equal(F->p.r->snap_n, 1);
	memlink_drop(F->ml, 1, KS_EOK, "stopping"); /* as the daemon does */
	memlink_pump(F->ml, 0);
	assert_true(F->ml->end[1].link == NULL || F->ml->end[1].link->down);
	node_repl_stop(F->p.r, stopped, &done);
	for (unsigned i = 0; i < 200; i++) { /* worker and handles close */
		uv_run(&F->loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	assert_false(done); /* the slice still holds the engine */
	pool_release(&b);
	while (!done)
		uv_run(&F->loop, UV_RUN_ONCE);
	assert_int_equal(F->p.r->snap_n, 0);
	node_repl_free(F->p.r);
	F->p.r = NULL;
	store_close(F->p.store);
	F->p.store = NULL;
}

static void test_role_mismatch(void **state)
{
	(void)state;
	node_t *other = &F->p; /* a replica in the primary's place */

	node_start(other, REPL_ROLE_REPLICA, F->pub, 0);
	node_start(&F->r, REPL_ROLE_REPLICA, F->pub, 0);
	F->ml = memlink_up(F->r.r, PNAME, other->r, RNAME, 1u << 20);
	settle();
	assert_true(F->ml->down);
	/* the first to hear the other's hello refuses it, and says why */
	assert_int_equal(other->followed, 0);
	assert_int_equal(F->r.followed, 0);
	assert_int_equal(other->refused_code, KS_ESTATE);
	assert_non_null(strstr(other->refused_why, "is not a primary"));
	assert_non_null(strstr(replica_status().last_error, "wrong role"));
	assert_int_equal(meta(&F->r).applied_seq, 0);
	assert_int_equal(meta(other).applied_seq, 0);
}

/* --- rewind in parts (PROTOCOL.md §3.9) ---------------------------------- */

enum {
	BIG_N = 300,
	BIG_TL = 60000
};

/* BIG_N principals in the primary's KDB, each with a string attribute of
 * BIG_TL - 5 random bytes (no NUL; hex in the dump: ~120 KB of record
 * each, ~36 MB in all, about half of it left by compression): made with
 * kadmin.local, then dumped, given the attribute (tl-data 11,
 * KRB5_TL_STRING_ATTRS: "big", NUL, the value, NUL) and loaded back with
 * -update. */
static void big_principals(void)
{
	add_principals("big", BIG_N);
	sh("cd %s && KRB5_CONFIG=%s/krb5.conf KRB5_KDC_PROFILE=%s "
	   "kdb5_util -r %s dump big.all && python3 -c '"
	   "import os, sys\n"
	   "out = [\"kdb5_util load_dump version 7\"]\n"
	   "for l in open(\"big.all\").read().split(\"\\n\")[1:]:\n"
	   "    f = l.split(\"\\t\")\n"
	   "    if f[0] != \"princ\" or not f[6].startswith(\"big-\"): continue\n"
	   "    f[3] = str(int(f[3]) + 1)\n"
	   "    v = b\"big\\0\" + bytes(b %% 255 + 1 for b in os.urandom(%d))"
	   " + b\"\\0\"\n"
	   "    f[15:15] = [\"11\", str(len(v)), v.hex()]\n"
	   "    out.append(\"\\t\".join(f))\n"
	   "assert len(out) == %d + 1, len(out)\n"
	   "open(\"big.load\", \"w\").write(\"\\n\".join(out) + \"\\n\")\n"
	   "' && KRB5_CONFIG=%s/krb5.conf KRB5_KDC_PROFILE=%s kdb5_util -r %s "
	   "load -update big.load",
	   F->p.kdb, F->p.kdb, F->p.profile, REALM, BIG_TL - 5, BIG_N, F->p.kdb,
	   F->p.profile, REALM);
}

typedef struct values_seen {
	unsigned frames;
	size_t largest;
} values_seen_t;

static bool count_values(memlink_t *ml, int from, ks_buf_t *f, void *arg)
{
	values_seen_t *v = arg;

	(void)ml;
	/* one send: u32 length prefix, type, payload */
	if (from == 1 && f->len > 5 && f->data[4] == PROTO_MSG_VALUES) {
		v->frames++;
		if (f->len > v->largest)
			v->largest = f->len;
	}
	return true;
}

/* An old primary whose own changes after the fork hold more than the
 * frame limit of the new primary's values follows it: the new primary
 * answers the FETCH with several VALUES parts, each under 16 MiB, and the
 * old primary rewinds (no full copy) and converges. */
static void test_rewind_values_in_parts(void **state)
{
	values_seen_t seen = { 0 };
	store_opts_t so = { .nosync = true };
	store_t *st = NULL;
	char why[200], path[700];
	ks_buf_t q = KS_BUF_INIT;

	(void)state;
	big_principals();
	pair_in_sync(1u << 20, 0);
	assert_converged();
	uint64_t fork = meta(&F->p).last_seq;

	/* the primary changes every big record while the replica is away */
	memlink_drop(F->ml, 0, KS_EOK, "replica leaves");
	settle();
	for (int i = 0; i < BIG_N; i++) {
		char line[80];
		int len = snprintf(line, sizeof(line),
				   "modprinc -maxlife 3h big-%d\\n", i);
		assert_ks_ok(ks_buf_append(&q, line, (size_t)len));
	}
	assert_ks_ok(ks_buf_append(&q, "", 1));
	kadmin((const char *)q.data);
	ks_buf_free(&q);
	scan_only();
	assert_int_equal(meta(&F->p).last_seq, fork + BIG_N);

	/* the replica is promoted; the old primary follows it */
	node_stop(&F->r);
	node_stop(&F->p);
	assert_ks_ok(store_open(F->r.dir, &so, &st));
	assert_ks_ok(node_repl_promote_store(st, NULL, NULL, why, sizeof(why)));
	store_close(st);
	node_start(&F->r, REPL_ROLE_PRIMARY, NULL, 0);
	node_start(&F->p, REPL_ROLE_REPLICA, F->pub, 0);
	memlink_free(F->ml);
	F->ml = memlink_up(F->p.r, PNAME, F->r.r, RNAME, 1u << 20);
	assert_non_null(F->ml);
	F->ml->mangle = count_values;
	F->ml->mangle_arg = &seen;
	settle();

	/* rewound from parts, each frame under the limit, then streaming */
	print_message("VALUES: %u frames, the largest %zu bytes\n", seen.frames,
		      seen.largest);
	assert_true(seen.frames >= 3);
	assert_true(seen.largest <= 4 + PROTO_FRAME_MAX_DEFAULT);
	node_repl_link_t *pl = F->ml->end[0].link, *rl = F->ml->end[1].link;
	assert_non_null(pl);
	assert_non_null(rl);
	assert_int_equal(pl->sm.state, REPL_ST_STREAM);
	assert_int_equal(rl->sm.state, REPL_ST_STREAM);
	repl_peer_t *pp = peer_of(&F->p, PNAME);
	assert_non_null(strstr(pp->last_session, "rewound to seq"));
	node_status_repl_peer_t s;
	assert_ks_ok(node_repl_peer_status(F->p.r, PNAME, &s));
	assert_int_equal(s.full_transfers, 0);
	store_meta_t pm = meta(&F->p), rm = meta(&F->r);
	assert_memory_equal(pm.applied_history, rm.history, 16);
	assert_int_equal(pm.applied_seq, rm.last_seq);
	assert_converged();
	/* what the old primary had for those keys is kept */
	char hist[33];
	ks_hex_encode(meta(&F->r).prev_history, 16, hist);
	snprintf(path, sizeof(path), "%s/diverged-%s-%" PRIu64 ".dump",
		 F->p.dir, hist, fork);
	sh("test $(grep -c '^princ.*big-' %s) = %d", path, BIG_N);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_hello_full_then_incremental, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_and_behind_log,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_mid_snapshot, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_drop_mid_batch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_signature, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lost_batch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_malformed_frame, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_back_pressure, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_connect_during_startup_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_role_mismatch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_startup_scan_retry, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_pause, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stop_during_snapshot_slice,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewind_values_in_parts,
						setup, teardown),
	};

	alarm(600); /* a hang fails instead of waiting for ctest */
	return test_run_group(tests, NULL, NULL);
}
