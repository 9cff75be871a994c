/* SPDX-License-Identifier: MIT */
/*
 * The daemon's lifecycle (daemon.h): create, start every component in
 * order, `kdcsyncd -t`'s check, the signals, the orderly stop and free;
 * the pid file that keeps a second daemon off the state directory.  The
 * rest of the daemon is split by concept (daemon_int.h).  Loop thread.
 */
#include "node/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/daemon_int.h"
#include "node/preflight.h"

int node_daemon_new(uv_loop_t *loop, node_conf_t *conf, node_daemon_t **out)
{
	node_daemon_t *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		node_conf_free(conf);
		return KS_ENOMEM;
	}
	d->loop = loop;
	d->conf = conf;
	d->pid_fd = -1;
	if (getrandom(&d->rng, sizeof(d->rng), 0) != sizeof(d->rng) ||
	    d->rng == 0)
		d->rng = (uint64_t)time(NULL) * 2654435761u + 1;
	*out = d;
	return KS_EOK;
}

static void on_signal(uv_signal_t *s, int signum)
{
	node_daemon_t *d = s->data;
	char err[600];

	if (signum == SIGHUP) {
		/* the outcome is logged and counted in the status */
		(void)node_daemon_reload(d, err, sizeof(err));
		return;
	}
	ks_log_notice(GENERAL, "signal %d: shutting down", signum);
	node_daemon_stop(d);
}

/*
 * STATE_DIR/kdcsyncd.pid, locked for the daemon's life: a second daemon on
 * the same state directory (and store) is refused.
 */
static int lock_pidfile(node_daemon_t *d)
{
	char buf[32];
	int fd, n;

	snprintf(d->pid_path, sizeof(d->pid_path), "%s/kdcsyncd.pid",
		 d->conf->state_dir);
	fd = open(d->pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;
		ks_log_err(GENERAL, "cannot open '%s' (%s)", d->pid_path,
			   strerror(e));
		d->pid_path[0] = '\0';
		return ks_errno(e);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		n = (int)read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n - (buf[n - 1] == '\n') : 0] = '\0';
		ks_log_err(GENERAL,
			   "another kdcsyncd (pid %s) uses state_dir '%s'",
			   buf[0] ? buf : "?", d->conf->state_dir);
		close(fd);
		d->pid_path[0] = '\0'; /* not ours to remove */
		return KS_EBUSY;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || write(fd, buf, (size_t)n) != n) {
		close(fd);
		return KS_EIO;
	}
	d->pid_fd = fd;
	return KS_EOK;
}

/* Secrets and state should be private to the daemon's user: say so. */
static void warn_mode(const char *path, const char *key)
{
	struct stat st;

	if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
		ks_log_warn(
			GENERAL,
			"%s '%s' is accessible to other users (mode %04o); use chmod %s",
			key, path, (unsigned)(st.st_mode & 07777),
			S_ISDIR(st.st_mode) ? "700" : "600");
}

/* The KDB check of node_preflight_kdb(); a replica's note is logged. */
int node__daemon_preflight_kdb(const node_conf_t *c, int role, char *err,
			       size_t errlen)
{
	char note[1600];
	int ret = node_preflight_kdb(c, role, err, errlen, note, sizeof(note));

	if (ret == KS_EOK && note[0] != '\0')
		ks_log_warn(CONF, "%s", note);
	return ret;
}

int node_daemon_start(node_daemon_t *d)
{
	const node_conf_t *c = d->conf;
	char path[1200];
	const char **addrs = NULL;
	node_net_opts_t o;
	int ret;
	static const int sigs[] = { SIGHUP, SIGTERM, SIGINT };

	d->start_ms = uv_now(d->loop);
	ks_log_set_level_all(c->log_level);
	/* measured from the start: the start-up itself runs on the loop */
	if (node_loopstat_new(d->loop, &d->loopstat) == KS_EOK)
		d->closing++;
	ret = node_preflight(c, path, sizeof(path));
	if (ret != KS_EOK) {
		ks_log_err(CONF, "%s", path);
		return ret;
	}
	ret = node_notify_new(d->loop, node__daemon_notify_status, d,
			      &d->notify);
	if (ret != KS_EOK)
		return ret;
	if (mkdir(c->state_dir, 0700) != 0 && errno != EEXIST) {
		ks_log_err(GENERAL, "cannot create state_dir '%s' (%s)",
			   c->state_dir, strerror(errno));
		return ks_errno(errno);
	}
	warn_mode(c->state_dir, "[node] state_dir");
	ret = lock_pidfile(d);
	if (ret != KS_EOK)
		return ret;
	snprintf(path, sizeof(path), "%s/store", c->state_dir);
	store_opts_t so = { .retain_count = c->log_retain };
	ret = store_open(path, &so, &d->store);
	if (ret != KS_EOK) {
		ks_log_err(GENERAL, "cannot open the store in '%s' (%s)", path,
			   ks_strerror(ret));
		return ret;
	}
	ret = node__daemon_build_tls(c, &d->tls);
	if (ret != KS_EOK) {
		ks_log_err(TLS, "cannot set up TLS from [tls] ca/cert/key (%s)",
			   ks_strerror(ret));
		return ret;
	}
	node__daemon_load_role(d);
	/* the KDB for the role the node runs in (a promote may have made a
	 * configured replica a primary) */
	ret = node__daemon_preflight_kdb(c, d->role, path, sizeof(path));
	if (ret != KS_EOK) {
		ks_log_err(CONF, "%s", path);
		return ret;
	}
	/* Replication: keys, KDB, first scan (primary), capture socket. */
	node_conf_t ec = node__daemon_engine_conf(d);
	ret = node_repl_new(d->loop, &ec, d->store, &d->repl);
	if (ret != KS_EOK)
		return ret;
	node__daemon_observe(d);
	uv_timer_init(d->loop, &d->revert);
	d->revert.data = d;
	d->revert_init = true;
	d->closing++; /* the revert timer, until closed */
	d->closing++; /* the engine, until its done callback */
	ret = node_repl_start(d->repl);
	if (ret != KS_EOK)
		return ret;
	o = node__daemon_net_opts(c, &addrs);
	o.owner = d;
	ret = addrs == NULL ? KS_ENOMEM
			    : node_net_new(d->loop, d->tls, &o,
					   &node__daemon_conn_cbs, &d->net);
	free(addrs);
	if (ret != KS_EOK)
		return ret;
	d->closing++; /* the net, until its done callback */
	if (c->listen.host != NULL) {
		ret = node_net_listen(d->net, c->listen.host, c->listen.port);
		if (ret != KS_EOK) {
			ks_log_err(
				NET,
				"cannot listen on [node] listen = %s:%u (%s)",
				c->listen.host, c->listen.port,
				ks_strerror(ret));
			return ret;
		}
	}
	snprintf(d->ctl_path, sizeof(d->ctl_path), "%s/%s", c->state_dir,
		 NODE_CTL_SOCKET);
	ret = node_ctl_open(d->loop, d->ctl_path, node__daemon_ctl_handler, d,
			    &d->ctl);
	if (ret != KS_EOK)
		return ret;
	if (c->metrics_listen.host != NULL) {
		ret = node_metrics_open(
			d->loop, c->metrics_listen.host, c->metrics_listen.port,
			node__daemon_render_metrics, d, &d->metrics);
		if (ret != KS_EOK)
			return ret;
		d->closing++;
	}
	ret = node_kprop_svc_start(c, d->store, &d->kprop);
	if (ret != KS_EOK)
		return ret;
	d->closing++;
	for (int i = 0; i < 3; i++) {
		uv_signal_init(d->loop, &d->sig[i]);
		d->sig[i].data = d;
		d->nsig++;
		if (uv_signal_start(&d->sig[i], on_signal, sigs[i]) != 0)
			return KS_EINTERNAL;
	}
	signal(SIGPIPE, SIG_IGN);
	ret = node__daemon_sync_peers(d);
	if (ret != KS_EOK)
		return ret;
	ks_log_notice(GENERAL, "kdcsyncd '%s' started as %s (pid %ld)", c->name,
		      node_role_name(d->role), (long)getpid());
	/* store open, KDB checked (replication enabled or not: status says
	 * which), listeners and control socket bound */
	node_notify_ready(d->notify);
	return KS_EOK;
}

int node_daemon_check(const node_conf_t *conf, char *err, size_t errlen)
{
	node_tls_ctx_t *tls = NULL;
	int ret = node_preflight(conf, err, errlen);

	if (ret == KS_EOK)
		ret = node__daemon_preflight_kdb(conf, conf->role, err, errlen);
	if (ret != KS_EOK)
		return ret;
	ret = node__daemon_build_tls(conf, &tls);
	if (ret != KS_EOK)
		snprintf(
			err, errlen,
			"%s: [tls] ca/cert/key: cannot be loaded (%s; see the tls log line)",
			conf->path, ks_strerror(ret));
	node_tls_ctx_detach(tls);
	return ret;
}

void node__daemon_component_closed(void *arg)
{
	node_daemon_t *d = arg;

	if (--d->closing > 0)
		return;
	store_close(d->store);
	d->store = NULL;
	if (d->pid_fd >= 0) {
		unlink(d->pid_path);
		close(d->pid_fd);
		d->pid_fd = -1;
	}
	ks_log_notice(GENERAL, "stopped");
}

static void on_sig_close(uv_handle_t *h)
{
	node__daemon_component_closed(h->data);
}

void node_daemon_stop(node_daemon_t *d)
{
	if (d->stopping)
		return;
	d->stopping = true;
	if (d->notify != NULL) {
		node_notify_stopping(d->notify);
		d->closing++;
		node_notify_close(d->notify, node__daemon_component_closed, d);
		d->notify = NULL;
	}
	if (d->revert_init) {
		d->revert_init = false;
		uv_close((uv_handle_t *)&d->revert, on_sig_close);
	}
	node__daemon_reload_cancel(d);
	/* kprop threads use the store: joined before anything closes */
	node_kprop_svc_stop(d->kprop);
	d->kprop = NULL;
	d->closing++; /* held while we start closing things */
	for (int i = 0; i < d->nsig; i++) {
		d->closing++;
		uv_close((uv_handle_t *)&d->sig[i], on_sig_close);
	}
	node__daemon_peers_release(d);
	/* the control socket first: requests still waiting for the worker or
	 * a peer are answered "kdcsyncd is stopping" before the engine
	 * cancels their work */
	if (d->ctl != NULL)
		node_ctl_close(d->ctl, node__daemon_component_closed, d);
	if (d->repl != NULL)
		node_repl_stop(d->repl, node__daemon_component_closed, d);
	if (d->metrics != NULL)
		node_metrics_close(d->metrics, node__daemon_component_closed,
				   d);
	d->metrics = NULL;
	if (d->net != NULL)
		node_net_close(d->net, node__daemon_component_closed, d);
	if (d->loopstat != NULL)
		node_loopstat_close(d->loopstat, node__daemon_component_closed,
				    d);
	d->ctl = NULL;
	d->net = NULL;
	node__daemon_component_closed(d);
}

const node_conf_t *node_daemon_conf(const node_daemon_t *d)
{
	return d->conf;
}

void node_daemon_free(node_daemon_t *d)
{
	if (d == NULL)
		return;
	node_kprop_svc_stop(d->kprop);
	node_repl_free(d->repl);
	node_repl_free(d->switch_old);
	store_close(d->store);
	if (d->pid_fd >= 0)
		close(d->pid_fd);
	node_tls_ctx_detach(d->tls);
	node_conf_free(d->conf);
	node_loopstat_free(d->loopstat);
	free(d);
}
