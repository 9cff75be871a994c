/* SPDX-License-Identifier: MIT */
/*
 * The replication engine's lifecycle (new, start, reconfigure, stop,
 * free), the tick, and the small helpers every file shares (the store's
 * metadata, a replica's position, the KDB's realm).  Links: dispatch.c;
 * the state machine's actions: actions.c; the seam to the network and the
 * clock: link.c.  Loop thread only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/repl/repl_int.h"

/* --- helpers ------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int node_repl__meta(store_t *s, store_meta_t *m)
{
	store_txn_t *t = NULL;
	int ret = store_read_begin(s, &t);

	if (ret != KS_EOK)
		return ret;
	ret = store_meta_get(t, m);
	store_read_end(t);
	return ret;
}

void node_repl__position(const store_meta_t *m, const uint8_t **history,
			 uint64_t *seq)
{
	bool own_ahead = m->last_seq > 0 &&
			 (memcmp(m->history, m->applied_history, 16) != 0 ||
			  m->last_seq != m->applied_seq);

	*history = own_ahead ? m->history : m->applied_history;
	*seq = own_ahead ? m->last_seq : m->applied_seq;
}

/* The realm of the KDB, from its K/M principal's key ("" if none yet). */
static int realm_cb(ks_view_t key, ks_view_t value, void *arg)
{
	char *out = arg;
	static const char km[] = "PK/M@";

	(void)value;
	if (key.len > sizeof(km) - 1 && key.len - (sizeof(km) - 1) < 256 &&
	    memcmp(key.ptr, km, sizeof(km) - 1) == 0) {
		size_t n = key.len - (sizeof(km) - 1);
		memcpy(out, key.ptr + sizeof(km) - 1, n);
		out[n] = '\0';
	}
	return 1; /* the first key at or after "PK/M@" only */
}

const char *node_repl__realm(node_repl_t *r)
{
	store_txn_t *t = NULL;

	if (r->realm[0] == '\0' && store_read_begin(r->store, &t) == KS_EOK) {
		store_records_foreach(
			t, (ks_view_t){ (const uint8_t *)"PK/M@", 5 }, realm_cb,
			r->realm);
		store_read_end(t);
	}
	return r->realm;
}

void node_repl_set_observer(node_repl_t *r, const node_repl_observer_t *o)
{
	if (r != NULL)
		r->observer = o ? *o : (node_repl_observer_t){ 0 };
}

void node_repl__window_of(const store_meta_t *m, repl_sm_window_t *w)
{
	memcpy(w->history, m->history, 16);
	w->last_seq = m->last_seq;
	w->oldest_seq = m->oldest_seq;
	memcpy(w->prev_history, m->prev_history, 16);
	w->prev_last_seq = m->prev_last_seq;
}

bool node_repl__job(node_repl_t *r, node_repl_job_t *j)
{
	if (r->worker == NULL || r->stopping)
		return false;
	node_repl_worker_submit(r->worker, j);
	return true;
}

/* --- the start-up scan's retries ---------------------------------------------- */

void node_repl__startup_failed(node_repl_t *r, int err)
{
	uint64_t wait = repl_sm_startup_retry_ms(++r->startup_failures);

	snprintf(r->startup_error, sizeof(r->startup_error),
		 "scan of the KDB failed (%s)", ks_strerror(err));
	r->scan_due = true; /* the audit must not skip it */
	r->startup_retry_at = node_repl__now(r) + wait;
	ks_log_err(KDB,
		   "start-up scan of the KDB failed (%s); replicas wait, "
		   "retry %u in %" PRIu64 " ms",
		   ks_strerror(err), r->startup_failures, wait);
}

/* A retry that is due, unless a scan is queued already (its outcome
 * decides: a failure sets the next retry). */
static void startup_retry_tick(node_repl_t *r, uint64_t now)
{
	if (r->ready || r->startup_retry_at == 0 || now < r->startup_retry_at)
		return;
	r->startup_retry_at = 0;
	if (r->scans_pending == 0)
		node_repl__scan(r, "start (retry)", false, NULL);
}

/* --- the tick --------------------------------------------------------------- */

void node_repl_tick(node_repl_t *r)
{
	uint64_t now = node_repl__now(r);

	for (repl_peer_t *p = r->peers; p != NULL; p = p->next) {
		if (p->link == NULL)
			continue;
		repl_sm_event_t ev = { .type = REPL_EV_TICK, .now_ms = now };
		node_repl__feed(p->link, &ev);
		if (p->link != NULL && p->link->sm.role == REPL_ROLE_REPLICA)
			node_repl__held_tick(p->link, now);
	}
	/* a relay's log and kept batches are trimmed like a primary's */
	if ((r->role == REPL_ROLE_PRIMARY || r->relay_listen) &&
	    ++r->ticks % REPL_TRIM_EVERY_TICKS == 0)
		node_repl__trim(r);
	if (r->role == REPL_ROLE_PRIMARY)
		startup_retry_tick(r, now);
	if (r->role == REPL_ROLE_REPLICA) {
		node_repl__kdb_tick(r, now);
		node_repl__drift_tick(r, now);
		node_repl__lockout_kick(r);
	}
	node_repl__kdbindex_tick(r, now);
}

static void on_tick(uv_timer_t *t)
{
	node_repl_tick(t->data);
}

void node_repl_set_clock(node_repl_t *r, const node_repl_clock_t *c)
{
	r->clock = c ? *c : (node_repl_clock_t){ 0 };
}

/* --- lifecycle ---------------------------------------------------------------- */

static int copy_conf(node_repl_t *r, const node_conf_t *c)
{
	r->role = c->role == NODE_ROLE_PRIMARY ? REPL_ROLE_PRIMARY
					       : REPL_ROLE_REPLICA;
	r->name = strdup(c->name);
	r->state_dir = strdup(c->state_dir);
	r->kdc_profile = dup_or_null(c->kdc_profile);
	r->signing_key = dup_or_null(c->signing_key);
	r->primary = dup_or_null(c->primary);
	r->relay_listen =
		c->role == NODE_ROLE_REPLICA && c->listen.host != NULL;
	r->replicate_lockout = c->replicate_lockout;
	r->scan_interval_ms = c->scan_interval_ms;
	r->drift_interval_ms = c->drift_check_interval_ms;
	r->verify_memory = (size_t)c->verify_memory;
	repl_sync_init(&r->sync, (unsigned)c->synchronous, c->sync_timeout_ms);
	r->trusted.v = calloc(c->trusted_keys.n + 1, sizeof(char *));
	if (r->name == NULL || r->state_dir == NULL || r->trusted.v == NULL ||
	    (c->kdc_profile && !r->kdc_profile) ||
	    (c->primary && !r->primary) || (c->signing_key && !r->signing_key))
		return KS_ENOMEM;
	for (size_t i = 0; i < c->trusted_keys.n; i++) {
		if ((r->trusted.v[i] = strdup(c->trusted_keys.v[i])) == NULL)
			return KS_ENOMEM;
		r->trusted.n++;
	}
	return KS_EOK;
}

int node_repl_new(uv_loop_t *loop, const node_conf_t *conf, store_t *store,
		  node_repl_t **out)
{
	node_repl_t *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return KS_ENOMEM;
	r->loop = loop;
	r->store = store;
	r->cap_fd = -1;
	node_repl__lockout_init(r);
	repl_reports_init(&r->cap_rs);
	if (copy_conf(r, conf) != KS_EOK) {
		node_repl_free(r);
		return KS_ENOMEM;
	}
	*out = r;
	return KS_EOK;
}

/* The keys of our role; r->disabled says what is wrong on failure. */
static int load_keys(node_repl_t *r)
{
	int ret;

	if (r->role == REPL_ROLE_PRIMARY) {
		if (r->signing_key == NULL) {
			snprintf(r->disabled, sizeof(r->disabled),
				 "a primary needs [node] signing_key (make one "
				 "with 'kdcsync keygen')");
			return KS_ECONFIG;
		}
		ret = proto_key_load(r->signing_key, &r->key);
		if (ret == KS_EOK && !proto_key_has_private(r->key))
			ret = KS_EKEY;
		if (ret != KS_EOK) {
			snprintf(r->disabled, sizeof(r->disabled),
				 "cannot load [node] signing_key '%s' (%s)",
				 r->signing_key, ks_strerror(ret));
			return KS_EKEY;
		}
		return KS_EOK;
	}
	if (r->trusted.n == 0) {
		snprintf(r->disabled, sizeof(r->disabled),
			 "a replica needs [node] trusted_keys (the "
			 "primary's signing public key)");
		return KS_ECONFIG;
	}
	ret = proto_trust_new(&r->trust);
	for (size_t i = 0; ret == KS_EOK && i < r->trusted.n; i++) {
		ret = proto_trust_add_file(r->trust, r->trusted.v[i]);
		if (ret != KS_EOK)
			snprintf(r->disabled, sizeof(r->disabled),
				 "cannot load [node] trusted_keys '%s' "
				 "(%s)",
				 r->trusted.v[i], ks_strerror(ret));
	}
	if (ret != KS_EOK)
		return KS_EKEY;
	/* a relay signs the full copies it serves with its own key */
	if (r->relay_listen && r->signing_key != NULL &&
	    (proto_key_load(r->signing_key, &r->key) != KS_EOK ||
	     !proto_key_has_private(r->key))) {
		ks_log_warn(REPL,
			    "cannot load [node] signing_key '%s': replicas "
			    "of this one get no full copy from it",
			    r->signing_key);
		proto_key_free(r->key);
		r->key = NULL;
	}
	return KS_EOK;
}

static int start(node_repl_t *r)
{
	bridge_opts_t bo = { .kdc_profile = r->kdc_profile,
			     .replicate_lockout = r->replicate_lockout,
			     /* a primary writes only replicas' lockout
			      * fields (lockout.c) */
			     .read_only = r->role == REPL_ROLE_PRIMARY &&
					  !r->replicate_lockout,
			     /* a replica's KDB is checked first (kdb.c) */
			     .no_db = r->role == REPL_ROLE_REPLICA };
	int ret = load_keys(r);

	if (ret != KS_EOK)
		return ret;
	ret = bridge_open(&bo, &r->bridge);
	if (ret != KS_EOK) {
		/* fatal: the start-up check (node_preflight_kdb) passed, so
		 * the KDB went away since; never run without it */
		ks_log_err(REPL,
			   "cannot open the KDB of [node] kdc_profile '%s' "
			   "(%s)",
			   r->kdc_profile ? r->kdc_profile : "(default)",
			   ks_strerror(ret));
		return ret == KS_ENOMEM ? ret : KS_EKDB;
	}
	uv_timer_init(r->loop, &r->tick);
	r->tick.data = r;
	uv_timer_init(r->loop, &r->scan);
	r->scan.data = r;
	uv_timer_init(r->loop, &r->sync_timer);
	r->sync_timer.data = r;
	uv_timer_init(r->loop, &r->lk_timer);
	r->lk_timer.data = r;
	r->started = true;
	r->ready = r->role != REPL_ROLE_PRIMARY; /* primary: capture.c */
	if (r->clock.now_ms == NULL) /* else the caller ticks (link.h) */
		uv_timer_start(&r->tick, on_tick, REPL_TICK_MS, REPL_TICK_MS);
	if (r->role == REPL_ROLE_PRIMARY) {
		ret = node_repl__capture_start(r);
		if (ret != KS_EOK)
			return ret;
	} else {
		/* the first job: every apply waits for its verdict */
		node_repl__kdb_check(r, "start");
		node_repl__sync_start(r); /* a stale marker goes */
		/* the KDC's lockout writes, to report upstream (lockout.c) */
		if (r->replicate_lockout) {
			ret = node_repl__capture_listen(r);
			if (ret != KS_EOK)
				return ret;
		}
	}
	return KS_EOK;
}

int node_repl_start(node_repl_t *r)
{
	/* The bridge and the store writes belong to the worker; on a
	 * primary the start-up scan is its first job. */
	int ret = node_repl_worker_new(r->loop, &r->worker);

	if (ret != KS_EOK)
		return ret;
	ret = start(r);

	/*
	 * Without keys configured the node still runs (TLS links, status,
	 * kprop-compat peers) but replicates nothing natively; status says
	 * why.  A KDB that cannot be opened is fatal (the start-up check
	 * names the profile key), as are a broken capture socket and a
	 * failing first scan.
	 */
	if (ret == KS_ECONFIG || ret == KS_EKEY) {
		if (r->disabled[0] == '\0')
			snprintf(r->disabled, sizeof(r->disabled), "%s",
				 ks_strerror(ret));
		ks_log_err(REPL, "native replication disabled: %s",
			   r->disabled);
		bridge_close(r->bridge);
		r->bridge = NULL;
		return KS_EOK;
	}
	return ret;
}

void node_repl_reconfigure(node_repl_t *r, const node_conf_t *conf)
{
	if (r == NULL || !r->started)
		return;
	if (conf->drift_check_interval_ms != r->drift_interval_ms) {
		r->drift_interval_ms = conf->drift_check_interval_ms;
		r->drift_next_ms = 0; /* counted from now */
	}
	r->verify_memory = (size_t)conf->verify_memory; /* next comparison */
	if (conf->scan_interval_ms != r->scan_interval_ms &&
	    r->role == REPL_ROLE_PRIMARY)
		node_repl__capture_reconfigure(r, conf->scan_interval_ms);
	node_repl__sync_reconfigure(r, (unsigned)conf->synchronous,
				    conf->sync_timeout_ms);
}

void node_repl__closed_one(node_repl_t *r)
{
	if (--r->closing == 0 && r->done != NULL)
		r->done(r->done_arg);
}

void node_repl__closed_uv(uv_handle_t *h)
{
	node_repl__closed_one(h->data);
}

static void worker_stopped(void *arg)
{
	node_repl__closed_one(arg);
}

void node_repl_stop(node_repl_t *r, void (*done)(void *), void *arg)
{
	r->stopping = true;
	r->done = done;
	r->done_arg = arg;
	r->closing = 1;
	if (r->started) {
		r->closing += 4;
		uv_close((uv_handle_t *)&r->lk_timer, node_repl__closed_uv);
		uv_close((uv_handle_t *)&r->tick, node_repl__closed_uv);
		uv_close((uv_handle_t *)&r->scan, node_repl__closed_uv);
		uv_close((uv_handle_t *)&r->sync_timer, node_repl__closed_uv);
		node_repl__capture_stop(r);
	}
	node_repl__encode_stop(r);
	if (r->worker != NULL) {
		/* queued jobs are cancelled, the running one finishes */
		r->closing++;
		node_repl_worker_stop(r->worker, worker_stopped, r);
	}
	/* the initial reference, released from the loop like the others */
	node_repl__closed_one(r);
}

void node_repl_free(node_repl_t *r)
{
	if (r == NULL)
		return;
	node_repl__capture_free(r);
	node_repl__lockout_free(r);
	repl_sync_deinit(&r->sync);
	node_repl_worker_free(r->worker);
	node_repl__load_abort(r); /* the worker is gone: ours now */
	bridge_close(r->bridge);
	proto_key_free(r->key);
	proto_trust_free(r->trust);
	node_repl__cache_clear(r);
	node_repl__compare_free(r);
	ks_buf_free(&r->drift_keys);
	for (repl_peer_t *p = r->peers; p != NULL;) {
		repl_peer_t *n = p->next;
		free(p->name);
		free(p);
		p = n;
	}
	for (size_t i = 0; i < r->trusted.n; i++)
		free(r->trusted.v[i]);
	free(r->trusted.v);
	free(r->name);
	free(r->state_dir);
	free(r->kdc_profile);
	free(r->signing_key);
	free(r->primary);
	free(r);
}
