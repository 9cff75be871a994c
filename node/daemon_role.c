/* SPDX-License-Identifier: MIT */
/*
 * The role the daemon runs in (daemon_int.h): the configuration's, or the
 * one `kdcsync promote` / `kdcsync follow PEER` switched to, kept in the
 * store so that it survives restarts.  A switch closes the native links,
 * stops the engine and starts one in the new role.  A follow is kept only
 * once the peer answers as a primary (the engine's observer); a refusal
 * switches back.  Loop thread only.
 */
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/daemon_int.h"

const char *node__daemon_role_source_name(int src)
{
	return src == ROLE_FROM_PROMOTE	 ? "promote"
	       : src == ROLE_FROM_FOLLOW ? "follow"
					 : "config";
}

/* The peer a replica follows (NULL for a primary). */
const char *node__daemon_primary_of(const node_daemon_t *d)
{
	if (d->role != NODE_ROLE_REPLICA)
		return NULL;
	return d->follow[0] ? d->follow : d->conf->primary;
}

/* The configuration as the engine sees it: the running role. */
node_conf_t node__daemon_engine_conf(node_daemon_t *d)
{
	node_conf_t c = *d->conf;

	c.role = d->role;
	if (d->role != NODE_ROLE_REPLICA)
		c.primary = NULL;
	else if (d->follow[0])
		c.primary = d->follow;
	return c;
}

/* A follow that was refused: back to the role before, nothing kept. */
void node__daemon_follow_revert(node_daemon_t *d)
{
	if (!d->follow_pending)
		return;
	d->follow_pending = false;
	d->role = d->prev_role;
	d->role_source = d->prev_source;
	snprintf(d->follow, sizeof(d->follow), "%s", d->prev_follow);
	node__daemon_switch_role(d);
}

static void on_revert(uv_timer_t *t)
{
	node__daemon_follow_revert(t->data);
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

void node__daemon_observe(node_daemon_t *d)
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
	node_conf_t ec = node__daemon_engine_conf(d);
	int ret;

	node_repl_free(d->switch_old);
	d->switch_old = NULL;
	if (d->stopping) {
		node__daemon_component_closed(d); /* the engine's reference */
		return;
	}
	ret = node_repl_new(d->loop, &ec, d->store, &d->repl);
	if (ret != KS_EOK) {
		d->repl = NULL;
		node__daemon_component_closed(
			d); /* no engine holds its reference */
	} else {
		node__daemon_observe(d);
		ret = node_repl_start(d->repl);
	}
	if (ret != KS_EOK)
		ks_log_err(REPL, "replication engine not restarted as %s (%s)",
			   node_role_name(d->role), ks_strerror(ret));
	else
		ks_log_notice(GENERAL, "now running as %s%s%s",
			      node_role_name(d->role),
			      d->role == NODE_ROLE_REPLICA ? " of " : "",
			      d->role == NODE_ROLE_REPLICA
				      ? node__daemon_primary_of(d)
				      : "");
	ret = node__daemon_sync_peers(d);
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
void node__daemon_switch_role(node_daemon_t *d)
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

int node__daemon_set_role(node_daemon_t *d, int role, const char *peer, int src)
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
	node__daemon_switch_role(d);
	return KS_EOK;
}

/* The role a promote or follow left in the store wins over the config. */
void node__daemon_load_role(node_daemon_t *d)
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
			      node__daemon_role_source_name(d->role_source),
			      c->path, node_role_name(c->role));
}
