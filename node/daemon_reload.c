/* SPDX-License-Identifier: MIT */
/*
 * Reload (SIGHUP, `kdcsync reload`): the file is checked whole before
 * anything is swapped in; on any error the running configuration stays and
 * status and the log say why.
 *
 * Two steps.  On the loop: the file itself (keys, values, what cannot
 * change while running, the files it names, TLS).  Then its KDB, as at
 * start-up and in `kdcsyncd -t` (node_preflight_kdb(): the database file,
 * the stash, libkdb5's open): that opens a database, so it runs on a libuv
 * pool thread holding the process's KDB (node/kdb_lock.h: the loop never
 * takes it, and two threads of one process must not open the KDB at once).
 * Its done callback, on the loop, swaps the configuration in or rejects it.
 *
 * Ownership: the daemon holds at most one reload under way (d->reload); the
 * job owns the new configuration and TLS context until it swaps them in.
 * The pool thread touches only the job's configuration (read) and its
 * result fields; stop sets job->cancel, so a job still waiting for the KDB
 * gives up, and the daemon counts the job as a component still closing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/logfmt.h"
#include "node/daemon_int.h"
#include "node/kdb_lock.h"
#include "node/preflight.h"

struct daemon_reload {
	uv_work_t work;
	node_daemon_t *d;
	node_conf_t *nc;     /* the new file, checked except for its KDB */
	node_tls_ctx_t *tls; /* built from it */
	int role;	     /* the role whose KDB rules apply */
	uint64_t t0;	     /* uv_hrtime() when the reload began */
	volatile int cancel; /* set by stop (atomic store) */
	/* written by the pool thread, read by the done callback */
	int ret;
	char err[600];
	char note[1600];
};

/* Count, log and tell systemd how a reload ended. */
static void reload_finish(node_daemon_t *d, int ret, const char *err,
			  uint64_t t0)
{
	char file[600], why[700];

	ks_logfmt(d->conf->path, file, sizeof(file));
	d->reload_at = time(NULL);
	if (ret == KS_EOK) {
		d->reloads_ok++;
		d->reload_error[0] = '\0';
		ks_log_notice(CONF, "configuration reloaded");
	} else {
		d->reloads_failed++;
		snprintf(d->reload_error, sizeof(d->reload_error), "%s", err);
		ks_log_err(CONF,
			   "reload rejected, keeping the running "
			   "configuration: %s",
			   err);
	}
	/* one key=value line per reload for log shippers */
	ks_log_notice(CONF, "reload file=%s result=%s ms=%llu%s%s", file,
		      ret == KS_EOK ? "ok" : "rejected",
		      (unsigned long long)(uv_hrtime() - t0) / 1000000,
		      ret == KS_EOK ? "" : " reason=",
		      ret == KS_EOK ? "" : ks_logfmt(err, why, sizeof(why)));
	if (d->notify != NULL) /* NULL once stopping */
		node_notify_ready(d->notify);
}

/* The loop's part: everything but the KDB.  On success \p nc and \p tls
 * are the caller's. */
static int reload_check_file(node_daemon_t *d, node_conf_t **nc,
			     node_tls_ctx_t **tls, char *err, size_t errlen)
{
	int ret = node_conf_load(d->conf->path, nc, err, errlen);

	if (ret != KS_EOK)
		return ret;
	ret = node_conf_reloadable(d->conf, *nc, err, errlen);
	if (ret == KS_EOK)
		ret = node_preflight(*nc, err, errlen);
	if (ret == KS_EOK) {
		ret = node__daemon_build_tls(*nc, tls);
		if (ret != KS_EOK)
			snprintf(err, errlen,
				 "%s: [tls] ca/cert/key: cannot be loaded (%s; "
				 "see the tls log line)",
				 (*nc)->path, ks_strerror(ret));
	}
	if (ret != KS_EOK) {
		node_conf_free(*nc);
		*nc = NULL;
	}
	return ret;
}

/* Everything checked: the new configuration replaces the running one. */
static int reload_swap(node_daemon_t *d, node_conf_t *nc, node_tls_ctx_t *tls)
{
	const char **addrs = NULL;
	node_net_opts_t o = node__daemon_net_opts(nc, &addrs);

	o.owner = d;
	node_net_reconfigure(d->net, tls, &o);
	free(addrs);
	node_tls_ctx_detach(d->tls);
	d->tls = tls;
	node_conf_free(d->conf);
	d->conf = nc;
	node_repl_reconfigure(d->repl, nc);
	/* kprop peers and listener follow the new file (a push in progress
	 * is cancelled; unchanged peers keep their delivered state). */
	if (node_kprop_svc_reload(&d->kprop, nc, d->store) != KS_EOK)
		ks_log_err(KPROP, "kprop service not restarted after reload");
	ks_log_set_level_all(nc->log_level);
	return node__daemon_sync_peers(d);
}

/* Pool thread: the new file's KDB, opened as at start-up. */
static void reload_kdb_work(uv_work_t *w)
{
	struct daemon_reload *r = w->data;

	r->ret = node_kdb_lock_wait(&r->cancel);
	if (r->ret != KS_EOK) {
		snprintf(r->err, sizeof(r->err), "%s", "kdcsyncd is stopping");
		return;
	}
	r->ret = node_preflight_kdb(r->nc, (enum node_role)r->role, r->err,
				    sizeof(r->err), r->note, sizeof(r->note));
	node_kdb_unlock();
}

static void reload_kdb_done(uv_work_t *w, int status)
{
	struct daemon_reload *r = w->data;
	node_daemon_t *d = r->d;
	int ret = status != 0 ? KS_ECANCELED : r->ret;

	d->reload = NULL;
	if (ret == KS_EOK && d->stopping) {
		ret = KS_ESTOPPING;
		snprintf(r->err, sizeof(r->err), "%s", "kdcsyncd is stopping");
	} else if (ret == KS_ECANCELED && status != 0) {
		snprintf(r->err, sizeof(r->err), "%s", "kdcsyncd is stopping");
	}
	if (ret == KS_EOK) {
		if (r->note[0] != '\0')
			ks_log_warn(CONF, "%s", r->note);
		ret = reload_swap(d, r->nc, r->tls);
		r->nc = NULL;
		r->tls = NULL;
		if (ret != KS_EOK)
			snprintf(r->err, sizeof(r->err),
				 "cannot update the peers (%s)",
				 ks_strerror(ret));
	}
	reload_finish(d, ret, r->err, r->t0);
	node_tls_ctx_detach(r->tls);
	node_conf_free(r->nc);
	free(r);
	node__daemon_component_closed(d); /* the job's reference */
}

int node_daemon_reload(node_daemon_t *d, char *err, size_t errlen)
{
	uint64_t t0 = uv_hrtime();
	struct daemon_reload *r = NULL;
	node_conf_t *nc = NULL;
	node_tls_ctx_t *tls = NULL;
	int ret;

	ks_log_notice(CONF, "reloading configuration from '%s'", d->conf->path);
	if (d->stopping || d->reload != NULL) {
		/* not counted: the reload under way, or the stop, is what
		 * the status will show */
		snprintf(err, errlen, "%s",
			 d->stopping ? "kdcsyncd is stopping"
				     : "a reload is still being checked (its "
				       "KDB); try again when the log says how "
				       "it ended");
		ks_log_err(CONF, "reload not started: %s", err);
		return d->stopping ? KS_ESTOPPING : KS_EBUSY;
	}
	node_notify_reloading(d->notify);
	ret = reload_check_file(d, &nc, &tls, err, errlen);
	if (ret == KS_EOK && (r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		ret = KS_ENOMEM;
	}
	if (ret == KS_EOK) {
		*r = (struct daemon_reload){
			.d = d, .nc = nc, .tls = tls, .role = d->role, .t0 = t0
		};
		r->work.data = r;
		if (uv_queue_work(d->loop, &r->work, reload_kdb_work,
				  reload_kdb_done) != 0) {
			snprintf(err, errlen, "cannot start the KDB check");
			free(r);
			ret = KS_EINTERNAL;
		}
	}
	if (ret != KS_EOK) {
		node_tls_ctx_detach(tls);
		node_conf_free(nc);
		reload_finish(d, ret, err, t0);
		return ret;
	}
	d->reload = r;
	d->closing++; /* until reload_kdb_done */
	return KS_EOK;
}

void node__daemon_reload_cancel(node_daemon_t *d)
{
	if (d->reload != NULL) {
		__atomic_store_n(&d->reload->cancel, 1, __ATOMIC_RELEASE);
		/* not started yet: done runs with UV_ECANCELED */
		(void)uv_cancel((uv_req_t *)&d->reload->work);
	}
}
