/* SPDX-License-Identifier: MIT */
/*
 * The daemon's peers (daemon_int.h): one entry per [peers] name, kept in
 * line with the configuration.  A replica dials its primary and keeps that
 * link up, reconnecting with exponential back-off and jitter; a primary
 * accepts only configured native peers (certificate name check), a newer
 * connection from the same peer replacing the older.  Each established
 * native link gets a replication link in the engine, which receives its
 * frames.  Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/backoff.h"
#include "node/daemon_int.h"
#include "proto/msg.h"

/* A link up this long resets the reconnect back-off. */
#define STABLE_LINK_MS 10000

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
node_net_opts_t node__daemon_net_opts(const node_conf_t *c, const char ***addrs)
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

int node__daemon_build_tls(const node_conf_t *c, node_tls_ctx_t **out)
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

const node_conn_cbs_t node__daemon_conn_cbs = {
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
int node__daemon_sync_peers(node_daemon_t *d)
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
		const char *prim = node__daemon_primary_of(d);
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

void node__daemon_peers_release(node_daemon_t *d)
{
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
}

const char *node__daemon_peer_state(const peer_t *p)
{
	if (p->conn != NULL)
		return node_conn_state_name(node_conn_state(p->conn));
	if (p->mode == NODE_PEER_KPROP)
		return "kprop (see kprop: below)";
	if (p->retry_pending)
		return "waiting to reconnect";
	return p->dial ? "disconnected" : "not connected";
}
