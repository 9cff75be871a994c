/* SPDX-License-Identifier: MIT */
/*
 * Reload (SIGHUP, `kdcsync reload`): the file is loaded and checked whole
 * (what may change at run time, preflight, TLS) before anything is
 * swapped in; on any error the running configuration stays and status
 * and the log say why.  Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/logfmt.h"
#include "node/daemon_int.h"
#include "node/preflight.h"

static int reload(node_daemon_t *d, char *err, size_t errlen);

int node_daemon_reload(node_daemon_t *d, char *err, size_t errlen)
{
	uint64_t t0 = uv_hrtime();
	char file[600], why[700];
	int ret;

	ks_logfmt(d->conf->path, file, sizeof(file));
	ret = reload(d, err, errlen);
	d->reload_at = time(NULL);
	if (ret == KS_EOK) {
		d->reloads_ok++;
		d->reload_error[0] = '\0';
	} else {
		d->reloads_failed++;
		snprintf(d->reload_error, sizeof(d->reload_error), "%s", err);
	}
	/* one key=value line per reload for log shippers */
	ks_log_notice(CONF, "reload file=%s result=%s ms=%llu%s%s", file,
		      ret == KS_EOK ? "ok" : "rejected",
		      (unsigned long long)(uv_hrtime() - t0) / 1000000,
		      ret == KS_EOK ? "" : " reason=",
		      ret == KS_EOK ? "" : ks_logfmt(err, why, sizeof(why)));
	return ret;
}

static int reload(node_daemon_t *d, char *err, size_t errlen)
{
	node_conf_t *nc = NULL;
	node_tls_ctx_t *tls = NULL;
	const char **addrs = NULL;
	node_net_opts_t o;
	int ret;

	if (d->stopping) {
		snprintf(err, errlen, "shutting down");
		return KS_ESTATE;
	}
	ret = node_conf_load(d->conf->path, &nc, err, errlen);
	if (ret != KS_EOK)
		return ret;
	ret = node_conf_reloadable(d->conf, nc, err, errlen);
	if (ret != KS_EOK)
		goto fail;
	ret = node_preflight(nc, err, errlen);
	if (ret != KS_EOK)
		goto fail;
	ret = node__daemon_build_tls(nc, &tls);
	if (ret != KS_EOK) {
		snprintf(
			err, errlen,
			"%s: [tls] ca/cert/key: cannot be loaded (%s; see the tls log line)",
			nc->path, ks_strerror(ret));
		goto fail;
	}
	/* Everything checked: swap. */
	o = node__daemon_net_opts(nc, &addrs);
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
fail:
	node_conf_free(nc);
	return ret;
}
