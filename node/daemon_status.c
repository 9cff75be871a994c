/* SPDX-License-Identifier: MIT */
/*
 * The daemon's status (daemon.h node_daemon_status): each call fills a
 * node_status_t as data from the daemon's own state, the store's metadata
 * page, the engine and the kprop service, then renders it as text, JSON
 * or Prometheus (node/status.h).  Also systemd's STATUS= line.  Reads
 * memory and the store's metadata only, never the KDB.  Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/errors.h"
#include "node/daemon_int.h"

static int status_fill(node_daemon_t *d, node_status_t *st);

/* systemd's STATUS= line: role, position, each peer's link and lag. */
void node__daemon_notify_status(ks_buf_t *out, void *arg)
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

int node__daemon_render_metrics(ks_buf_t *out, void *arg)
{
	return node_daemon_status(arg, NODE_STATUS_PROM, out);
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
	st->role_source = node__daemon_role_source_name(d->role_source);
	st->promoted = d->role_source == ROLE_FROM_PROMOTE;
	st->pid = (long)getpid();
	st->uptime_s = (now - d->start_ms) / 1000;
	if (c->listen.host)
		snprintf(st->listen, sizeof(st->listen), "%s:%u",
			 c->listen.host, c->listen.port);
	snprintf(st->upstream, sizeof(st->upstream), "%s",
		 node__daemon_primary_of(d) ? node__daemon_primary_of(d) : "");
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
		snprintf(o->state, sizeof(o->state), "%s",
			 node__daemon_peer_state(p));
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
