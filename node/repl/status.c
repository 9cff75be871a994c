/* SPDX-License-Identifier: MIT */
/*
 * The engine's part of the node's status as data (node/status.h): capture
 * counters and each peer's replication.  Renderers (text, JSON with its
 * contract names, Prometheus) live in node/status_*.c.  Reads memory and
 * the store's metadata page only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "common/time.h"
#include "node/repl/repl_int.h"

int node_repl_status(node_repl_t *r, node_status_repl_t *out)
{
	*out = (node_status_repl_t){ .present = true };
	out->primary = r->role == REPL_ROLE_PRIMARY;
	snprintf(out->disabled, sizeof(out->disabled), "%s", r->disabled);
	snprintf(out->kdb_full, sizeof(out->kdb_full), "%s", r->kdb_full);
	out->hook_notifications = r->reports.messages;
	out->hook_changes = r->cap_changes;
	memcpy(out->reports_by_kind, r->reports.by_kind,
	       sizeof(out->reports_by_kind));
	out->reports_dropped = r->reports.dropped;
	out->reports_malformed = r->reports.malformed;
	out->lockout_ignored = r->reports.lockout_ignored;
	out->capture_failed = r->cap_failed;
	out->scans = r->scans;
	out->last_scan_us = r->last_scan_us;
	out->scan_changes = r->scan_changes;
	out->scans_skipped = r->scans_skipped;
	out->scan_skipped_names = r->scan_skipped_names;
	snprintf(out->last_scan_reason, sizeof(out->last_scan_reason), "%s",
		 r->last_scan_reason);
	out->scan = r->scan_hist;
	if (out->primary)
		snprintf(out->startup, sizeof(out->startup), "%s",
			 r->ready	       ? "ready"
			 : r->startup_error[0] ? "failed"
					       : "scanning");
	snprintf(out->startup_error, sizeof(out->startup_error), "%s",
		 r->startup_error);
	out->startup_failures = r->startup_failures;
	out->startup_retry_ms = -1;
	if (out->primary && !r->ready && r->startup_error[0]) {
		uint64_t now = node_repl__now(r);
		out->startup_retry_ms =
			r->startup_retry_at > now
				? (int64_t)(r->startup_retry_at - now)
				: 0;
	}
	out->scan_running = __atomic_load_n(&r->scan_active, __ATOMIC_RELAXED);
	out->scan_progress = bridge_scan_progress(r->bridge);
	out->scans_pending = r->scans_pending;
	node_repl__kdb_status(r, out);
	node_repl__drift_status(r, out);
	out->sync_wanted = r->sync.wanted;
	out->sync_timeout_ms = r->sync.timeout_ms;
	snprintf(out->sync_state, sizeof(out->sync_state), "%s",
		 out->primary ? repl_sync_state(&r->sync) : "off");
	out->sync_waiting = r->sync.n;
	out->sync_degradations = r->sync.degradations;
	out->sync_acked = r->sync.acked;
	out->sync_timeouts = r->sync.timeouts;
	out->lockout_on = r->replicate_lockout;
	out->lockout_reports = r->lk.reports;
	out->lockout_coalesced = r->lk_pending.coalesced;
	out->lockout_pending = repl_coalesce_pending(&r->lk_pending);
	out->lockout_overflow = r->lk_pending.overflow;
	out->lockout_flushes = r->lk.flushes;
	out->lockout_sent = r->lk.sent;
	out->lockout_unsent = r->lk.unsent;
	out->lockout_ignored_reports = r->lk.replica_ignored;
	out->lockout_received = r->lk.received;
	out->lockout_merged = r->lk.merged;
	out->lockout_unchanged = r->lk.unchanged;
	out->lockout_rejected = r->lk.rejected;
	out->lockout_dropped = r->lk.overflow;
	out->lockout_failed = r->lk.failed;
	out->lockout_gone = r->lk.gone;
	out->lockout_forwarded = r->lk.forwarded;
	return KS_EOK;
}

int node_repl_peer_status(node_repl_t *r, const char *name,
			  node_status_repl_peer_t *out)
{
	repl_peer_t *p;
	store_meta_t m;
	uint64_t pos = 0, last = 0, lag_s = 0;

	*out = (node_status_repl_peer_t){ 0 };
	for (p = r->peers; p != NULL; p = p->next)
		if (strcmp(p->name, name) == 0)
			break;
	if (p == NULL || node_repl__meta(r->store, &m) != KS_EOK)
		return KS_EOK;
	out->present = true;
	out->primary = r->role == REPL_ROLE_PRIMARY || p->relayed;
	out->relayed = p->relayed;
	out->link_role = p->link_role == REPL_LINK_UPSTREAM	? "upstream"
			 : p->link_role == REPL_LINK_DOWNSTREAM ? "downstream"
								: "";
	snprintf(out->state, sizeof(out->state), "%s",
		 p->link ? repl_sm_state_name(p->link->sm.state) : "down");
	if (out->primary) {
		pos = p->have_ack ? p->acked : 0;
		/* a relay serves what it applied */
		last = p->relayed ? m.applied_seq : m.last_seq;
		if (p->link && p->link->sm.pos < p->link->sm.sent)
			lag_s = (node_repl__now(r) - p->link->sm.sent_at_ms) /
				1000;
	} else {
		pos = m.applied_seq;
		last = p->peer_last_seq > pos ? p->peer_last_seq : pos;
		if (last > pos && p->last_commit_us)
			lag_s = (ks_real_us() - p->last_commit_us) / 1000000;
	}
	out->position = pos;
	out->peer_last_seq = last;
	out->lag_changes = last - pos;
	out->lag_s = lag_s;
	out->batches = p->batches;
	out->changes = p->ops;
	out->full_transfers = p->full_transfers;
	out->incremental_sessions = p->incremental_sessions;
	out->last_apply_latency_ms =
		p->last_apply_us > p->last_commit_us
			? (p->last_apply_us - p->last_commit_us) / 1000
			: 0;
	snprintf(out->last_session, sizeof(out->last_session), "%s",
		 p->last_session);
	snprintf(out->last_error, sizeof(out->last_error), "%s", p->last_error);
	memcpy(out->errors, p->errors, sizeof(out->errors));
	out->n_errors = p->n_errors;
	out->propagation = p->propagation;
	out->apply = p->apply;
	return KS_EOK;
}
