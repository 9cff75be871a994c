/* SPDX-License-Identifier: MIT */
/* The running node: links to peers, reload, shutdown, status (daemon.h). */
#include "node/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
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
#include "common/logfmt.h"
#include "node/backoff.h"
#include "node/ctl.h"
#include "node/kprop/svc.h"
#include "node/loopstat.h"
#include "node/metrics.h"
#include "node/net/net.h"
#include "node/preflight.h"
#include "node/notify.h"
#include "node/repl/repl.h"
#include "node/status.h"
#include "proto/msg.h"
#include "store/store.h"

/* A link up this long resets the reconnect back-off. */
#define STABLE_LINK_MS 10000

typedef struct peer {
	struct peer *next;
	node_daemon_t *d;
	char *name;
	char *host; /* NULL: we do not know where it is */
	uint16_t port;
	int mode;
	bool dial; /* we keep a link to it up (a replica's primary) */
	bool removed;
	int refs; /* list + live connection + retry timer */
	node_conn_t *conn;
	node_repl_link_t *link; /* replication state of conn (native) */
	bool inbound;
	uv_timer_t retry;
	bool retry_pending;
	unsigned attempt;
	uint64_t bytes_in, bytes_out; /* of connections already closed */
	uint64_t frames_in;
	uint64_t connects;
	uint64_t up_since_ms; /* loop time when the link came up */
	time_t last_error_at;
	char last_error[200];
} peer_t;

struct node_daemon {
	uv_loop_t *loop;
	node_conf_t *conf;
	node_tls_ctx_t *tls;
	node_net_t *net;
	node_ctl_t *ctl;
	store_t *store;
	node_kprop_svc_t *kprop; /* kprop pushers and listener threads */
	node_repl_t *repl;
	node_notify_t *notify;	   /* systemd READY/STATUS/WATCHDOG */
	node_metrics_t *metrics;   /* [metrics] listen, NULL when unset */
	node_loopstat_t *loopstat; /* the loop's busy time, NULL if none */
	uv_signal_t sig[3];
	int nsig;
	peer_t *peers;
	uint64_t start_ms;
	bool stopping;
	/* The role it runs in: the config's, or the one `kdcsync promote` /
	 * `follow PEER` switched to (kept in the store: survives restarts). */
	int role;		 /* enum node_role */
	int role_source;	 /* enum role_source */
	char follow[256];	 /* replica by follow: the peer, else "" */
	node_repl_t *switch_old; /* engine being stopped for a role switch */
	/* kdcsync follow PEER: running as its replica, kept in the store
	 * only once PEER answers; refused: back to the role before. */
	bool follow_pending;
	int prev_role, prev_source;
	char prev_follow[256];
	char follow_result[600]; /* for "follow-result" */
	uv_timer_t revert;	 /* the refusal's switch back, off the link */
	bool revert_init;
	int closing; /* components still closing */
	uint64_t rng;
	char ctl_path[512];
	char pid_path[512];
	uint64_t reloads_ok, reloads_failed;
	time_t reload_at;	/* last attempt */
	char reload_error[600]; /* of the last attempt, "" if it worked */
	int pid_fd;		/* holds the lock; -1 when not open */
};

enum role_source {
	ROLE_FROM_CONFIG,
	ROLE_FROM_PROMOTE,
	ROLE_FROM_FOLLOW,
};

static const char *role_source_name(int src)
{
	return src == ROLE_FROM_PROMOTE	 ? "promote"
	       : src == ROLE_FROM_FOLLOW ? "follow"
					 : "config";
}

/* The peer a replica follows (NULL for a primary). */
static const char *primary_of(const node_daemon_t *d)
{
	if (d->role != NODE_ROLE_REPLICA)
		return NULL;
	return d->follow[0] ? d->follow : d->conf->primary;
}

/* The configuration as the engine sees it: the running role. */
static node_conf_t engine_conf(node_daemon_t *d)
{
	node_conf_t c = *d->conf;

	c.role = d->role;
	if (d->role != NODE_ROLE_REPLICA)
		c.primary = NULL;
	else if (d->follow[0])
		c.primary = d->follow;
	return c;
}

static void peer_unref(peer_t *p)
{
	if (--p->refs > 0)
		return;
	free(p->name);
	free(p->host);
	free(p);
}

static void on_retry_close(uv_handle_t *h)
{
	peer_unref(h->data);
}

static uint64_t next_rand(node_daemon_t *d)
{
	uint64_t x = d->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	d->rng = x;
	return x;
}

/* \p addrs receives the peers' addresses (borrowed from \p c; the net
 * copies them); the caller frees the array. */
static node_net_opts_t net_opts(const node_conf_t *c, const char ***addrs)
{
	size_t n = 0;
	node_net_opts_t o = {
		.limits = { .handshake_timeout_ms = c->handshake_timeout_ms,
			    .idle_timeout_ms = c->idle_timeout_ms,
			    .keepalive_ms = c->keepalive_ms,
			    .write_queue_limit = c->write_queue_limit },
		.max_connections = (unsigned)c->max_connections,
		.max_handshakes = (unsigned)c->max_handshakes,
		.max_per_address = (unsigned)c->max_per_address,
		/* one link per peer plus one replacing it */
		.reserved = (unsigned)(c->n_peers + 1 < c->max_connections
					       ? c->n_peers + 1
					       : c->max_connections - 1),
	};

	*addrs = calloc(c->n_peers + 1, sizeof(char *));
	for (size_t i = 0; *addrs != NULL && i < c->n_peers; i++)
		if (c->peers[i].address.host != NULL)
			(*addrs)[n++] = c->peers[i].address.host;
	o.peer_addrs = *addrs;
	o.n_peer_addrs = n;
	return o;
}

static int build_tls(const node_conf_t *c, node_tls_ctx_t **out)
{
	const char **names = calloc(c->n_peers + 1, sizeof(char *));
	size_t n = 0;
	int ret;

	if (names == NULL)
		return KS_ENOMEM;
	for (size_t i = 0; i < c->n_peers; i++)
		if (c->peers[i].mode == NODE_PEER_NATIVE)
			names[n++] = c->peers[i].name;
	node_tls_ctx_opts_t o = { .ca_file = c->tls_ca,
				  .cert_file = c->tls_cert,
				  .key_file = c->tls_key,
				  .own_name = c->name,
				  .peer_names = names,
				  .n_peer_names = n };
	ret = node_tls_ctx_new(&o, out);
	free(names);
	return ret;
}

static peer_t *find_peer(node_daemon_t *d, const char *name)
{
	for (peer_t *p = d->peers; p != NULL; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static void dial(peer_t *p);
static const char *peer_state(const peer_t *p);

static void on_retry(uv_timer_t *t)
{
	peer_t *p = t->data;
	p->retry_pending = false;
	dial(p);
}

static void schedule_dial(peer_t *p, bool now)
{
	node_daemon_t *d = p->d;
	uint64_t delay = 0;

	if (d->stopping || p->removed || !p->dial || p->conn != NULL ||
	    p->retry_pending)
		return;
	if (!now) {
		delay = node_backoff_delay(d->conf->reconnect_min_ms,
					   d->conf->reconnect_max_ms,
					   p->attempt++, next_rand(d));
		ks_log_info(NET, "reconnecting to '%s' in %llu ms", p->name,
			    (unsigned long long)delay);
	}
	p->retry_pending = true;
	uv_timer_start(&p->retry, on_retry, delay, 0);
}

static void dial(peer_t *p)
{
	node_daemon_t *d = p->d;
	int ret;

	if (d->stopping || p->removed || p->conn != NULL || p->host == NULL)
		return;
	ret = node_net_dial(d->net, p->name, p->host, p->port, p, &p->conn);
	if (ret != KS_EOK) {
		ks_log_err(NET, "cannot dial '%s' (%s)", p->name,
			   ks_strerror(ret));
		p->conn = NULL;
		schedule_dial(p, false);
		return;
	}
	p->inbound = false;
	p->refs++;
}

static int on_established(node_conn_t *c, const char *name, void *arg)
{
	peer_t *p = arg;

	(void)name;
	/* A role switch replaces the engine: come back when it is done. */
	if (p->mode == NODE_PEER_NATIVE && p->d->switch_old != NULL)
		return KS_EBUSY;
	p->connects++;
	p->up_since_ms = uv_now(p->d->loop);
	p->last_error[0] = '\0'; /* whatever broke the last link is over */
	/* NULL when native replication is disabled (status says why) */
	if (p->mode == NODE_PEER_NATIVE && p->d->repl != NULL)
		p->link = node_repl_link_up(p->d->repl, &node_repl_conn_io, c,
					    p->name);
	return KS_EOK;
}

static int accept_established(node_daemon_t *d, node_conn_t *c,
			      const char *name)
{
	peer_t *p = find_peer(d, name);

	if (p == NULL || p->removed || p->mode != NODE_PEER_NATIVE)
		return KS_EPEERNAME;
	if (p->conn != NULL && p->conn != c) {
		node_repl_link_down(p->link, KS_EOK, NULL);
		p->link = NULL;
		node_conn_close(
			p->conn, KS_EOK,
			"replaced by a new connection from the same peer");
	}
	if (p->retry_pending) {
		uv_timer_stop(&p->retry);
		p->retry_pending = false;
	}
	p->conn = c;
	p->inbound = true;
	p->refs++;
	node_net_set_arg(c, p);
	return on_established(c, name, p);
}

static int on_frame(node_conn_t *c, ks_view_t frame, void *arg)
{
	peer_t *p = arg;
	proto_msg_t m;
	int ret;

	if (p != NULL)
		p->frames_in++;
	if (p != NULL && p->conn == c && p->link != NULL)
		return node_repl_link_frame(p->link, frame);
	ret = proto_msg_decode(frame, &m);
	if (ret != KS_EOK) {
		ks_log_notice(NET, "'%s': malformed message (%s)",
			      p ? p->name : "?", ks_strerror(ret));
		return ret;
	}
	ks_log_debug(REPL,
		     "'%s': message type %u ignored (no replication link)",
		     p ? p->name : "?", m.type);
	return KS_EOK;
}

static void on_closed(node_conn_t *c, int err, const char *reason, void *arg)
{
	peer_t *p = arg;

	if (p == NULL)
		return; /* refused before it was a peer; logged by conn */
	p->bytes_in += node_conn_bytes_in(c);
	p->bytes_out += node_conn_bytes_out(c);
	if (err != KS_EOK) {
		snprintf(p->last_error, sizeof(p->last_error), "%s", reason);
		p->last_error_at = time(NULL);
	}
	if (p->conn == c) {
		node_repl_link_down(p->link, err, reason);
		p->link = NULL;
		/*
		 * The back-off starts over only after a link that lasted: with
		 * TLS 1.3 a client sees its handshake complete before the
		 * server has judged its certificate, so "established then
		 * dropped at once" must keep backing off.
		 */
		if (p->up_since_ms != 0 &&
		    uv_now(p->d->loop) - p->up_since_ms >= STABLE_LINK_MS)
			p->attempt = 0;
		p->up_since_ms = 0;
		p->conn = NULL;
		schedule_dial(p, false);
	}
	peer_unref(p);
}

/* net's established callback: dialled links carry their peer already. */
static int net_established(node_conn_t *c, const char *name, void *arg);

static void on_writable(node_conn_t *c, void *arg)
{
	peer_t *p = arg;

	if (p != NULL && p->conn == c)
		node_repl_link_writable(p->link);
}

static const node_conn_cbs_t conn_cbs = {
	.established = net_established,
	.frame = on_frame,
	.writable = on_writable,
	.closed = on_closed,
};

static int net_established(node_conn_t *c, const char *name, void *arg)
{
	if (arg == NULL) /* accepted: the owner is the daemon */
		return accept_established(node_net_owner(c), c, name);
	return on_established(c, name, arg);
}

static int add_peer(node_daemon_t *d, const node_peer_conf_t *pc)
{
	peer_t *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->name = strdup(pc->name)) == NULL) {
		free(p);
		return KS_ENOMEM;
	}
	p->d = d;
	p->refs = 2; /* list + retry timer handle */
	uv_timer_init(d->loop, &p->retry);
	p->retry.data = p;
	p->next = d->peers;
	d->peers = p;
	return KS_EOK;
}

static bool str_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Bring the peer list in line with the configuration. */
static int sync_peers(node_daemon_t *d)
{
	const node_conf_t *c = d->conf;
	int ret;

	for (size_t i = 0; i < c->n_peers; i++) {
		if (find_peer(d, c->peers[i].name) == NULL &&
		    (ret = add_peer(d, &c->peers[i])) != KS_EOK)
			return ret;
	}
	for (peer_t **pp = &d->peers; *pp != NULL;) {
		peer_t *p = *pp;
		const node_peer_conf_t *pc = node_conf_peer(c, p->name);
		if (pc == NULL) {
			ks_log_notice(CONF, "peer '%s' removed", p->name);
			*pp = p->next;
			p->removed = true;
			if (p->conn != NULL)
				node_conn_close(
					p->conn, KS_EOK,
					"peer removed from the configuration");
			uv_close((uv_handle_t *)&p->retry, on_retry_close);
			peer_unref(p);
			continue;
		}
		const char *prim = primary_of(d);
		bool dial = prim != NULL && strcmp(prim, p->name) == 0;
		bool moved = !str_same(p->host, pc->address.host) ||
			     p->port != pc->address.port;
		char *host = NULL;
		if (pc->address.host != NULL &&
		    (host = strdup(pc->address.host)) == NULL)
			return KS_ENOMEM;
		free(p->host);
		p->host = host;
		p->port = pc->address.port;
		p->mode = pc->mode;
		/* An outgoing link that is no longer wanted, or that points
		 * at an old address, is closed (and redialled if wanted). */
		if (p->conn != NULL && !p->inbound && (!dial || moved))
			node_conn_close(p->conn, KS_EOK,
					dial ? "peer address changed"
					     : "no longer the primary");
		if (!dial && p->retry_pending) {
			uv_timer_stop(&p->retry);
			p->retry_pending = false;
		}
		p->dial = dial;
		pp = &p->next;
	}
	for (peer_t *p = d->peers; p != NULL; p = p->next)
		if (p->dial && p->conn == NULL && !p->retry_pending)
			schedule_dial(p, true);
	return KS_EOK;
}

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

static void component_closed(void *arg);

static void switch_role(node_daemon_t *d);

/* A follow that was refused: back to the role before, nothing kept. */
static void follow_revert(node_daemon_t *d)
{
	if (!d->follow_pending)
		return;
	d->follow_pending = false;
	d->role = d->prev_role;
	d->role_source = d->prev_source;
	snprintf(d->follow, sizeof(d->follow), "%s", d->prev_follow);
	switch_role(d);
}

static void on_revert(uv_timer_t *t)
{
	follow_revert(t->data);
}

static void repl_followed(void *arg, const char *peer)
{
	node_daemon_t *d = arg;
	int ret;

	if (!d->follow_pending || strcmp(peer, d->follow) != 0)
		return;
	d->follow_pending = false;
	ret = store_role_set(d->store, STORE_ROLE_REPLICA, peer);
	if (ret != KS_EOK)
		ks_log_err(GENERAL,
			   "following '%s', but the role could not be kept "
			   "in the store (%s): a restart runs as configured",
			   peer, ks_strerror(ret));
	ks_log_notice(GENERAL, "following '%s' (kdcsync follow)", peer);
	snprintf(d->follow_result, sizeof(d->follow_result),
		 "following '%s': it answered as primary%s\n", peer,
		 ret == KS_EOK ? "" : " (role not kept in the store)");
}

static void repl_refused(void *arg, const char *peer, int code,
			 const char *reason)
{
	node_daemon_t *d = arg;

	if (!d->follow_pending || strcmp(peer, d->follow) != 0)
		return;
	ks_log_err(GENERAL,
		   "kdcsync follow '%s' refused: %s (%s); back to %s, "
		   "nothing changed",
		   peer, reason, ks_strerror(code),
		   node_role_name(d->prev_role));
	snprintf(d->follow_result, sizeof(d->follow_result),
		 "error: refused to follow '%s': %s; nothing changed (still "
		 "%s)\n",
		 peer, reason, node_role_name(d->prev_role));
	/* the engine is inside its frame handling: switch back from the
	 * loop, not from here */
	uv_timer_start(&d->revert, on_revert, 0, 0);
}

static void observe(node_daemon_t *d)
{
	node_repl_observer_t o = { .followed = repl_followed,
				   .refused = repl_refused,
				   .arg = d };
	node_repl_set_observer(d->repl, &o);
}

/* The old engine is closed: start one in the new role. */
static void switch_done(void *arg)
{
	node_daemon_t *d = arg;
	node_conf_t ec = engine_conf(d);
	int ret;

	node_repl_free(d->switch_old);
	d->switch_old = NULL;
	if (d->stopping) {
		component_closed(d); /* the engine's reference */
		return;
	}
	ret = node_repl_new(d->loop, &ec, d->store, &d->repl);
	if (ret != KS_EOK) {
		d->repl = NULL;
		component_closed(d); /* no engine holds its reference */
	} else {
		observe(d);
		ret = node_repl_start(d->repl);
	}
	if (ret != KS_EOK)
		ks_log_err(REPL, "replication engine not restarted as %s (%s)",
			   node_role_name(d->role), ks_strerror(ret));
	else
		ks_log_notice(GENERAL, "now running as %s%s%s",
			      node_role_name(d->role),
			      d->role == NODE_ROLE_REPLICA ? " of " : "",
			      d->role == NODE_ROLE_REPLICA ? primary_of(d)
							   : "");
	ret = sync_peers(d);
	if (ret != KS_EOK)
		ks_log_err(GENERAL, "cannot update the peers (%s)",
			   ks_strerror(ret));
}

/*
 * Switch the running role: the replication links are closed, the engine
 * is stopped and a new one started in the role now set in d->role
 * (primary: scan, capture socket, signing key; replica: trusted keys, the
 * KDB opened for writing, the link to its primary).  Peers reconnect.
 */
static void switch_role(node_daemon_t *d)
{
	if (d->switch_old != NULL || d->repl == NULL)
		return; /* switch_done() starts the role then in d->role */
	for (peer_t *p = d->peers; p != NULL; p = p->next) {
		if (p->conn == NULL || p->mode != NODE_PEER_NATIVE)
			continue;
		node_repl_link_down(p->link, KS_EOK, NULL);
		p->link = NULL;
		node_conn_close(p->conn, KS_EOK, "the node changed its role");
	}
	d->switch_old = d->repl;
	d->repl = NULL;
	node_repl_stop(d->switch_old, switch_done, d);
}

static int set_role(node_daemon_t *d, int role, const char *peer, int src)
{
	int ret = store_role_set(d->store,
				 role == NODE_ROLE_PRIMARY ? STORE_ROLE_PRIMARY
							   : STORE_ROLE_REPLICA,
				 peer);
	if (ret != KS_EOK)
		return ret;
	d->role = role;
	d->role_source = src;
	snprintf(d->follow, sizeof(d->follow), "%s", peer ? peer : "");
	switch_role(d);
	return KS_EOK;
}

/* kdcsync promote (DESIGN.md §4): new history, primary at once. */
static int ctl_promote(node_daemon_t *d, ks_buf_t *out)
{
	const node_conf_t *c = d->conf;
	store_meta_t before, after;
	char why[300], nh[33], oh[33];
	const char *was = primary_of(d);
	char old_primary[256];
	int ret;

	if (d->follow_pending) { /* promote wins over a follow not done */
		snprintf(d->follow_result, sizeof(d->follow_result),
			 "error: the follow of '%s' was cancelled by a "
			 "promote\n",
			 d->follow);
		follow_revert(d);
	}
	if (d->role == NODE_ROLE_PRIMARY)
		return ks_buf_appendf(
			out,
			"error: this node is already the primary (role from "
			"%s): nothing to promote\n",
			d->role_source == ROLE_FROM_CONFIG ? c->path
							   : "kdcsync promote");
	if (d->switch_old != NULL)
		return ks_buf_appendf(out, "error: a role switch is in "
					   "progress; try again\n");
	if (c->signing_key == NULL)
		return ks_buf_appendf(
			out,
			"error: cannot promote: [node] signing_key is not set "
			"in %s (the key the replicas trust; make one with "
			"'kdcsync keygen')\n",
			c->path);
	snprintf(old_primary, sizeof(old_primary), "%s", was ? was : "?");
	ret = node_repl_promote_store(d->store, &before, &after, why,
				      sizeof(why));
	if (ret == KS_EEXIST) { /* history started before: finish the job */
		after = before;
		ret = KS_EOK;
	}
	if (ret != KS_EOK)
		return ks_buf_appendf(out, "error: cannot promote: %s\n", why);
	ret = set_role(d, NODE_ROLE_PRIMARY, NULL, ROLE_FROM_PROMOTE);
	if (ret != KS_EOK)
		return ks_buf_appendf(out,
				      "error: cannot keep the role in the "
				      "store (%s)\n",
				      ks_strerror(ret));
	ks_hex_encode(after.history, 16, nh);
	ks_hex_encode(after.prev_history, 16, oh);
	ks_log_notice(GENERAL,
		      "promoted by 'kdcsync promote': history %s continues %s "
		      "at seq %llu; no longer following '%s'; primary now",
		      nh, oh, (unsigned long long)after.prev_last_seq,
		      old_primary);
	ret = ks_buf_appendf(
		out,
		"promoted: new history %s\n"
		"  continues history %s up to seq %llu: replicas of the "
		"old primary at or before that seq resume incrementally\n"
		"no longer following '%s'; now the primary: capturing KDB "
		"changes, signing with %s\n",
		nh, oh, (unsigned long long)after.prev_last_seq, old_primary,
		c->signing_key);
	if (ret == KS_EOK && c->listen.host != NULL)
		ret = ks_buf_appendf(out, "serving replicas on %s:%u\n",
				     c->listen.host, c->listen.port);
	else if (ret == KS_EOK)
		ret = ks_buf_appendf(out,
				     "warning: no [node] listen address: "
				     "replicas cannot connect until one is "
				     "set (restart)\n");
	return ret;
}

/*
 * kdcsync follow PEER: become a replica of PEER at once.  Nothing is kept
 * until PEER answers as a primary of the same realm signing with a trusted
 * key (repl_followed); a refusal switches back (repl_refused).  The
 * position offered is this node's own last seq: PEER resumes it, rewinds
 * it (PROTOCOL.md §3.9) or sends a full copy.
 */
static int ctl_follow(node_daemon_t *d, const char *peer, ks_buf_t *out)
{
	const node_conf_t *c = d->conf;
	const node_peer_conf_t *pc = node_conf_peer(c, peer);
	const char *cur = primary_of(d);

	if (pc == NULL || pc->mode != NODE_PEER_NATIVE ||
	    pc->address.host == NULL)
		return ks_buf_appendf(
			out,
			"error: cannot follow '%s': not a [peers] entry with "
			"an address and mode = native in %s\n",
			peer, c->path);
	if (cur != NULL && strcmp(cur, peer) == 0 && !d->follow_pending)
		return ks_buf_appendf(out, "error: already following '%s'\n",
				      peer);
	if (d->follow_pending)
		return ks_buf_appendf(out,
				      "error: a follow of '%s' is still being "
				      "checked ('kdcsync follow-result')\n",
				      d->follow);
	if (c->trusted_keys.n == 0)
		return ks_buf_appendf(
			out,
			"error: cannot follow: [node] trusted_keys is not set "
			"in %s (the public key '%s' signs with)\n",
			c->path, peer);
	if (d->repl == NULL && d->switch_old == NULL)
		return ks_buf_appendf(out, "error: replication is not "
					   "running\n");
	d->prev_role = d->role;
	d->prev_source = d->role_source;
	snprintf(d->prev_follow, sizeof(d->prev_follow), "%s", d->follow);
	d->follow_pending = true;
	d->role = NODE_ROLE_REPLICA;
	d->role_source = ROLE_FROM_FOLLOW;
	snprintf(d->follow, sizeof(d->follow), "%s", peer);
	snprintf(d->follow_result, sizeof(d->follow_result),
		 "pending: waiting for '%s' to answer\n", peer);
	switch_role(d);
	ks_log_notice(GENERAL,
		      "kdcsync follow '%s': connecting (was %s; nothing is "
		      "kept until it answers)",
		      peer, node_role_name(d->prev_role));
	return ks_buf_appendf(out, "checking '%s'\n", peer);
}

static int ctl_handler(const char *req, ks_buf_t *out, void *arg)
{
	node_daemon_t *d = arg;

	if (strcmp(req, "promote") == 0)
		return ctl_promote(d, out);
	if (strncmp(req, "follow ", 7) == 0)
		return ctl_follow(d, req + 7, out);
	if (strcmp(req, "follow-result") == 0)
		return ks_buf_appendf(out, "%s",
				      d->follow_result[0] ? d->follow_result
							  : "error: no follow "
							    "requested\n");

	if (strcmp(req, "status") == 0)
		return node_daemon_status(d, NODE_STATUS_TEXT, out);
	if (strcmp(req, "status json") == 0)
		return node_daemon_status(d, NODE_STATUS_JSON, out);
	if (strcmp(req, "metrics") == 0)
		return node_daemon_status(d, NODE_STATUS_PROM, out);
	if (d->repl != NULL) {
		int ret = node_repl_ctl(d->repl, req, out);
		if (ret != KS_ENOTSUP)
			return ret;
	}
	ks_log_notice(CTL, "unknown control request '%.40s'", req);
	return KS_ENOTSUP;
}

static void on_signal(uv_signal_t *s, int signum)
{
	node_daemon_t *d = s->data;
	char err[600];
	int ret;

	if (signum == SIGHUP) {
		ks_log_notice(CONF, "reloading configuration from '%s'",
			      d->conf->path);
		node_notify_reloading(d->notify);
		ret = node_daemon_reload(d, err, sizeof(err));
		node_notify_ready(d->notify);
		if (ret != KS_EOK)
			ks_log_err(
				CONF,
				"reload rejected, keeping the running configuration: %s",
				err);
		else
			ks_log_notice(CONF, "configuration reloaded");
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

static int status_fill(node_daemon_t *d, node_status_t *st);

/* systemd's STATUS= line: role, position, each peer's link and lag. */
static void notify_status(ks_buf_t *out, void *arg)
{
	node_daemon_t *d = arg;
	node_status_t st = { 0 };

	if (status_fill(d, &st) != KS_EOK) {
		node_status_free(&st);
		ks_buf_appendf(out, "%s", node_role_name(d->role));
		return;
	}
	ks_buf_appendf(out, "%s (from %s)", st.role, st.role_source);
	if (st.have_meta)
		ks_buf_appendf(out, ", last seq %llu, applied %llu",
			       (unsigned long long)st.last_seq,
			       (unsigned long long)st.applied_seq);
	for (size_t i = 0; i < st.n_peers; i++) {
		const node_status_peer_t *p = &st.peers[i];
		ks_buf_appendf(out, "; %s: %s", p->name,
			       p->repl.present && p->link_up ? p->repl.state
							     : p->state);
		if (p->repl.present && p->link_up)
			ks_buf_appendf(out, ", lag %llu changes %llu s",
				       (unsigned long long)p->repl.lag_changes,
				       (unsigned long long)p->repl.lag_s);
	}
	node_status_free(&st);
}

static int render_metrics(ks_buf_t *out, void *arg)
{
	return node_daemon_status(arg, NODE_STATUS_PROM, out);
}

/* The role a promote or follow left in the store wins over the config. */
static void load_role(node_daemon_t *d)
{
	const node_conf_t *c = d->conf;
	store_txn_t *t = NULL;
	store_meta_t m;
	char peer[256] = "";
	int sr = STORE_ROLE_CONFIG;
	bool promoted = false;

	d->role = c->role;
	d->role_source = ROLE_FROM_CONFIG;
	d->follow[0] = '\0';
	if (store_read_begin(d->store, &t) == KS_EOK) {
		if (store_role_get(t, &sr, peer, sizeof(peer)) != KS_EOK)
			sr = STORE_ROLE_CONFIG;
		promoted = store_meta_get(t, &m) == KS_EOK &&
			   node_repl_store_promoted(&m);
		store_read_end(t);
	}
	if (sr == STORE_ROLE_PRIMARY || (sr == STORE_ROLE_CONFIG && promoted &&
					 c->role == NODE_ROLE_REPLICA)) {
		d->role = NODE_ROLE_PRIMARY;
		d->role_source = ROLE_FROM_PROMOTE;
	} else if (sr == STORE_ROLE_REPLICA) {
		const node_peer_conf_t *pc = node_conf_peer(c, peer);
		if (pc == NULL || pc->address.host == NULL ||
		    pc->mode != NODE_PEER_NATIVE) {
			ks_log_err(GENERAL,
				   "the store says this node follows '%s' "
				   "(kdcsync follow), but %s has no such "
				   "[peers] entry with an address: running "
				   "as configured (%s)",
				   peer, c->path, node_role_name(c->role));
			return;
		}
		d->role = NODE_ROLE_REPLICA;
		d->role_source = ROLE_FROM_FOLLOW;
		snprintf(d->follow, sizeof(d->follow), "%s", peer);
	}
	if (d->role_source != ROLE_FROM_CONFIG)
		ks_log_notice(GENERAL,
			      "running as %s%s%s (kept from kdcsync %s; "
			      "%s says %s)",
			      node_role_name(d->role),
			      d->follow[0] ? " of " : "", d->follow,
			      role_source_name(d->role_source), c->path,
			      node_role_name(c->role));
}

/* The KDB check of node_preflight_kdb(); a replica's note is logged. */
static int preflight_kdb(const node_conf_t *c, int role, char *err,
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
	ret = node_notify_new(d->loop, notify_status, d, &d->notify);
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
	ret = build_tls(c, &d->tls);
	if (ret != KS_EOK) {
		ks_log_err(TLS, "cannot set up TLS from [tls] ca/cert/key (%s)",
			   ks_strerror(ret));
		return ret;
	}
	load_role(d);
	/* the KDB for the role the node runs in (a promote may have made a
	 * configured replica a primary) */
	ret = preflight_kdb(c, d->role, path, sizeof(path));
	if (ret != KS_EOK) {
		ks_log_err(CONF, "%s", path);
		return ret;
	}
	/* Replication: keys, KDB, first scan (primary), capture socket. */
	node_conf_t ec = engine_conf(d);
	ret = node_repl_new(d->loop, &ec, d->store, &d->repl);
	if (ret != KS_EOK)
		return ret;
	observe(d);
	uv_timer_init(d->loop, &d->revert);
	d->revert.data = d;
	d->revert_init = true;
	d->closing++; /* the revert timer, until closed */
	d->closing++; /* the engine, until its done callback */
	ret = node_repl_start(d->repl);
	if (ret != KS_EOK)
		return ret;
	o = net_opts(c, &addrs);
	o.owner = d;
	ret = addrs == NULL
		      ? KS_ENOMEM
		      : node_net_new(d->loop, d->tls, &o, &conn_cbs, &d->net);
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
	ret = node_ctl_open(d->loop, d->ctl_path, ctl_handler, d, &d->ctl);
	if (ret != KS_EOK)
		return ret;
	if (c->metrics_listen.host != NULL) {
		ret = node_metrics_open(d->loop, c->metrics_listen.host,
					c->metrics_listen.port, render_metrics,
					d, &d->metrics);
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
	ret = sync_peers(d);
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
		ret = preflight_kdb(conf, conf->role, err, errlen);
	if (ret != KS_EOK)
		return ret;
	ret = build_tls(conf, &tls);
	if (ret != KS_EOK)
		snprintf(
			err, errlen,
			"%s: [tls] ca/cert/key: cannot be loaded (%s; see the tls log line)",
			conf->path, ks_strerror(ret));
	node_tls_ctx_detach(tls);
	return ret;
}

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
	ret = build_tls(nc, &tls);
	if (ret != KS_EOK) {
		snprintf(
			err, errlen,
			"%s: [tls] ca/cert/key: cannot be loaded (%s; see the tls log line)",
			nc->path, ks_strerror(ret));
		goto fail;
	}
	/* Everything checked: swap. */
	o = net_opts(nc, &addrs);
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
	return sync_peers(d);
fail:
	node_conf_free(nc);
	return ret;
}

static void component_closed(void *arg)
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
	component_closed(h->data);
}

void node_daemon_stop(node_daemon_t *d)
{
	if (d->stopping)
		return;
	d->stopping = true;
	if (d->notify != NULL) {
		node_notify_stopping(d->notify);
		d->closing++;
		node_notify_close(d->notify, component_closed, d);
		d->notify = NULL;
	}
	if (d->revert_init) {
		d->revert_init = false;
		uv_close((uv_handle_t *)&d->revert, on_sig_close);
	}
	/* kprop threads use the store: joined before anything closes */
	node_kprop_svc_stop(d->kprop);
	d->kprop = NULL;
	d->closing++; /* held while we start closing things */
	for (int i = 0; i < d->nsig; i++) {
		d->closing++;
		uv_close((uv_handle_t *)&d->sig[i], on_sig_close);
	}
	for (peer_t *p = d->peers; p != NULL;) {
		peer_t *next = p->next;
		if (p->retry_pending)
			uv_timer_stop(&p->retry);
		p->retry_pending = false;
		uv_close((uv_handle_t *)&p->retry, on_retry_close);
		p->removed = true;
		peer_unref(p); /* the list's reference */
		p = next;
	}
	d->peers = NULL;
	/* the control socket first: requests still waiting for the worker or
	 * a peer are answered "kdcsyncd is stopping" before the engine
	 * cancels their work */
	if (d->ctl != NULL)
		node_ctl_close(d->ctl, component_closed, d);
	if (d->repl != NULL)
		node_repl_stop(d->repl, component_closed, d);
	if (d->metrics != NULL)
		node_metrics_close(d->metrics, component_closed, d);
	d->metrics = NULL;
	if (d->net != NULL)
		node_net_close(d->net, component_closed, d);
	if (d->loopstat != NULL)
		node_loopstat_close(d->loopstat, component_closed, d);
	d->ctl = NULL;
	d->net = NULL;
	component_closed(d);
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

/* --- status ---------------------------------------------------------------- */

static const char *peer_state(const peer_t *p)
{
	if (p->conn != NULL)
		return node_conn_state_name(node_conn_state(p->conn));
	if (p->mode == NODE_PEER_KPROP)
		return "kprop (see kprop: below)";
	if (p->retry_pending)
		return "waiting to reconnect";
	return p->dial ? "disconnected" : "not connected";
}

/* The node's part and each peer link (status.h); repl and kprop fill
 * theirs. */
static int status_fill(node_daemon_t *d, node_status_t *st)
{
	const node_conf_t *c = d->conf;
	uint64_t now = uv_now(d->loop);
	store_meta_t meta;
	store_txn_t *t = NULL;
	size_t n = 0;
	int ret;

	snprintf(st->name, sizeof(st->name), "%s", c->name);
	st->role = node_role_name(d->role);
	st->role_source = role_source_name(d->role_source);
	st->promoted = d->role_source == ROLE_FROM_PROMOTE;
	st->pid = (long)getpid();
	st->uptime_s = (now - d->start_ms) / 1000;
	if (c->listen.host)
		snprintf(st->listen, sizeof(st->listen), "%s:%u",
			 c->listen.host, c->listen.port);
	snprintf(st->upstream, sizeof(st->upstream), "%s",
		 primary_of(d) ? primary_of(d) : "");
	snprintf(st->config, sizeof(st->config), "%s", c->path);
	node_loopstat_get(d->loopstat, &st->loop);
	st->reloads = d->reloads_ok;
	st->reloads_rejected = d->reloads_failed;
	st->reload_at = d->reload_at;
	snprintf(st->reload_error, sizeof(st->reload_error), "%s",
		 d->reload_error);
	if (d->store != NULL && store_read_begin(d->store, &t) == KS_EOK) {
		st->have_meta = store_meta_get(t, &meta) == KS_EOK;
		store_read_end(t);
	}
	if (st->have_meta) {
		ks_hex_encode(meta.history, 16, st->history);
		ks_hex_encode(meta.applied_history, 16, st->applied_history);
		st->last_seq = meta.last_seq;
		st->applied_seq = meta.applied_seq;
		st->records = meta.record_count;
	}
	if (d->net != NULL) {
		st->have_net = true;
		st->handshakes = node_net_handshakes(d->net);
		st->refused = node_net_refused(d->net);
		st->evicted = node_net_evicted(d->net);
	}
	if (d->store != NULL) {
		store_usage(d->store, &st->store_map_bytes,
			    &st->store_used_bytes);
		st->have_usage = true;
	}
	if (d->repl != NULL &&
	    (ret = node_repl_status(d->repl, &st->repl)) != KS_EOK)
		return ret;
	if ((ret = node_kprop_svc_status(d->kprop, &st->kprop)) != KS_EOK)
		return ret;
	for (peer_t *p = d->peers; p != NULL; p = p->next)
		n++;
	if (n > 0 && (st->peers = calloc(n, sizeof(*st->peers))) == NULL)
		return KS_ENOMEM;
	for (peer_t *p = d->peers; p != NULL; p = p->next) {
		node_status_peer_t *o = &st->peers[st->n_peers++];
		snprintf(o->name, sizeof(o->name), "%s", p->name);
		o->mode = node_peer_mode_name(p->mode);
		snprintf(o->state, sizeof(o->state), "%s", peer_state(p));
		o->direction = p->conn == NULL ? "none"
			       : p->inbound    ? "inbound"
					       : "outbound";
		o->bytes_in = p->bytes_in;
		o->bytes_out = p->bytes_out;
		if (p->conn != NULL) {
			snprintf(o->remote, sizeof(o->remote), "%s",
				 node_conn_remote(p->conn));
			o->bytes_in += node_conn_bytes_in(p->conn);
			o->bytes_out += node_conn_bytes_out(p->conn);
			o->link_up = node_conn_state(p->conn) == NODE_CONN_IO;
		}
		if (o->link_up)
			o->connected_s = (now - p->up_since_ms) / 1000;
		o->connects = p->connects;
		snprintf(o->last_error, sizeof(o->last_error), "%s",
			 p->last_error);
		if (d->repl != NULL &&
		    (ret = node_repl_peer_status(d->repl, p->name, &o->repl)) !=
			    KS_EOK)
			return ret;
	}
	return KS_EOK;
}

int node_daemon_status(node_daemon_t *d, enum node_status_format fmt,
		       ks_buf_t *out)
{
	node_status_t st = { 0 };
	int ret = status_fill(d, &st);

	if (ret == KS_EOK)
		ret = fmt == NODE_STATUS_JSON	? node_status_json(&st, out)
		      : fmt == NODE_STATUS_PROM ? node_status_prom(&st, out)
						: node_status_text(&st, out);
	node_status_free(&st);
	return ret;
}
