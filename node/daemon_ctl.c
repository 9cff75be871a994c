/* SPDX-License-Identifier: MIT */
/*
 * The daemon's control-socket requests (node/ctl.h): promote, follow,
 * follow-result and status; everything else goes to the engine
 * (node_repl_ctl).  Each request is answered from the loop thread.
 */
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/daemon_int.h"

/* kdcsync promote (DESIGN.md §4): new history, primary at once. */
static int ctl_promote(node_daemon_t *d, ks_buf_t *out)
{
	const node_conf_t *c = d->conf;
	store_meta_t before, after;
	char why[300], nh[33], oh[33];
	const char *was = node__daemon_primary_of(d);
	char old_primary[256];
	int ret;

	if (d->follow_pending) { /* promote wins over a follow not done */
		snprintf(d->follow_result, sizeof(d->follow_result),
			 "error: the follow of '%s' was cancelled by a "
			 "promote\n",
			 d->follow);
		node__daemon_follow_revert(d);
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
	ret = node__daemon_set_role(d, NODE_ROLE_PRIMARY, NULL,
				    ROLE_FROM_PROMOTE);
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
	const char *cur = node__daemon_primary_of(d);

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
	node__daemon_switch_role(d);
	ks_log_notice(GENERAL,
		      "kdcsync follow '%s': connecting (was %s; nothing is "
		      "kept until it answers)",
		      peer, node_role_name(d->prev_role));
	return ks_buf_appendf(out, "checking '%s'\n", peer);
}

int node__daemon_ctl_handler(const char *req, ks_buf_t *out, void *arg)
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
