/* SPDX-License-Identifier: MIT */
/* `kdcsync status`: the human-readable renderer of node_status_t. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "node/status.h"

static int repl_text(const node_status_repl_t *r, ks_buf_t *out)
{
	if (!r->present)
		return KS_EOK;
	const uint64_t *k = r->reports_by_kind;
	int ret;

	if (r->disabled[0])
		return ks_buf_appendf(out, "replication: DISABLED: %s\n",
				      r->disabled);
	if (r->kdb_full[0] && (ret = ks_buf_appendf(out, "kdb:       %s\n",
						    r->kdb_full)) != KS_EOK)
		return ret;
	if (r->kdb_state[0] &&
	    (ret = ks_buf_appendf(out,
				  "kdb state: %s%s%s (%" PRIu64
				  " checks, %" PRIu64 " rebuilds%s%s)\n",
				  r->kdb_state, r->kdb_error[0] ? ": " : "",
				  r->kdb_error, r->kdb_checks, r->kdb_rebuilds,
				  r->kdb_last_rebuild[0] ? "; last: " : "",
				  r->kdb_last_rebuild)) != KS_EOK)
		return ret;
	if (!r->primary && r->kdb_state[0]) {
		char when[32];
		node_status_iso((time_t)(r->drift.checked_us / 1000000u), when,
				sizeof(when));
		if (r->drift_interval_ms == 0)
			ret = ks_buf_appendf(out, "drift:     check off\n");
		else if (r->drift.checks == 0)
			ret = ks_buf_appendf(out,
					     "drift:     not checked yet "
					     "(every %" PRIu64 " s)\n",
					     r->drift_interval_ms / 1000);
		else
			ret = ks_buf_appendf(
				out,
				"drift:     %" PRIu64
				" records differ between the KDB and the "
				"store (checked %s at seq %" PRIu64
				"; every %" PRIu64 " s)\n%s",
				r->drift.records, when, r->drift.seq,
				r->drift_interval_ms / 1000, r->drift_keys);
		if (ret != KS_EOK)
			return ret;
	}
	if (r->lockout_on &&
	    (ret = ks_buf_appendf(
		     out,
		     "lockout:   upstream: %" PRIu64 " KDC reports, %" PRIu64
		     " coalesced, %" PRIu64 " pending, %" PRIu64
		     " overflowed, %" PRIu64 " sent, %" PRIu64
		     " not sent; merged: %" PRIu64 " received, %" PRIu64
		     " merged, %" PRIu64 " unchanged, %" PRIu64
		     " rejected, %" PRIu64 " dropped, %" PRIu64
		     " failed, %" PRIu64 " unknown principals; %" PRIu64
		     " forwarded upstream\n",
		     r->lockout_reports, r->lockout_coalesced,
		     r->lockout_pending, r->lockout_overflow, r->lockout_sent,
		     r->lockout_unsent, r->lockout_received, r->lockout_merged,
		     r->lockout_unchanged, r->lockout_rejected,
		     r->lockout_dropped, r->lockout_failed, r->lockout_gone,
		     r->lockout_forwarded)) != KS_EOK)
		return ret;
	if (!r->primary)
		return KS_EOK;
	if (r->sync_wanted > 0 &&
	    (ret = ks_buf_appendf(
		     out,
		     "sync:      %s: writes wait for %" PRIu64
		     " replica(s), at most %" PRIu64 " ms; %" PRIu64
		     " waiting, %" PRIu64 " acknowledged, %" PRIu64
		     " timed out, degraded %" PRIu64 " time(s)\n",
		     r->sync_state, r->sync_wanted, r->sync_timeout_ms,
		     r->sync_waiting, r->sync_acked, r->sync_timeouts,
		     r->sync_degradations)) != KS_EOK)
		return ret;
	if (r->startup[0] && strcmp(r->startup, "ready") != 0 &&
	    (ret = ks_buf_appendf(out,
				  "start-up:  %s: replicas wait until the "
				  "KDB was scanned (%" PRIu64
				  " objects read so far)%s%s\n",
				  r->startup, r->scan_progress,
				  r->startup_error[0] ? "; " : "",
				  r->startup_error)) != KS_EOK)
		return ret;
	if (strcmp(r->startup, "failed") == 0 && r->startup_retry_ms >= 0 &&
	    (ret = ks_buf_appendf(
		     out, "           retry %" PRIu64 " in %" PRId64 " ms\n",
		     r->startup_failures, r->startup_retry_ms)) != KS_EOK)
		return ret;
	if (r->scan_running && r->startup[0] &&
	    strcmp(r->startup, "ready") == 0 &&
	    (ret = ks_buf_appendf(
		     out, "scanning:  %" PRIu64 " objects read so far\n",
		     r->scan_progress)) != KS_EOK)
		return ret;
	return ks_buf_appendf(
		out,
		"capture:   module: %" PRIu64 " reports, %" PRIu64
		" changes logged (%" PRIu64 " principal, %" PRIu64
		" policy, %" PRIu64 " lockout, %" PRIu64 " master key, %" PRIu64
		" load reports); %" PRIu64 " dropped by modules, %" PRIu64
		" malformed, %" PRIu64 " lockout ignored (replicate_lockout "
		"off), %" PRIu64 " not captured\n"
		"           scans: %" PRIu64 " (last: %s, %" PRIu64
		" ms), %" PRIu64 " changes logged, %" PRIu64
		" audits skipped (KDB unchanged), %" PRIu64
		" names skipped (too long)\n",
		r->hook_notifications, r->hook_changes,
		k[KS_REPORT_PRINC_PUT] + k[KS_REPORT_PRINC_DEL],
		k[KS_REPORT_POLICY_PUT] + k[KS_REPORT_POLICY_DEL],
		k[KS_REPORT_LOCKOUT], k[KS_REPORT_MKEY], k[KS_REPORT_LOAD],
		r->reports_dropped, r->reports_malformed, r->lockout_ignored,
		r->capture_failed, r->scans,
		r->last_scan_reason[0] ? r->last_scan_reason : "none",
		r->last_scan_us / 1000, r->scan_changes, r->scans_skipped,
		r->scan_skipped_names);
}

static int kprop_text(const node_status_kprop_t *k, ks_buf_t *out)
{
	char when[32];
	int ret = 0;

	if (!k->present)
		return KS_EOK;
	ret |= ks_buf_appendf(out, "kprop:\n");
	for (size_t i = 0; i < k->n_peers; i++) {
		const node_status_kprop_peer_t *p = &k->peers[i];
		node_status_iso(p->last_start, when, sizeof(when));
		ret |= ks_buf_appendf(
			out,
			"  push %s (%s:%u)%s: last %s, %" PRIu64 " ms, %" PRIu64
			" bytes, %s (pushes %" PRIu64 ", failed %" PRIu64 ")\n",
			p->name, p->host, p->port,
			p->running ? " [pushing]" : "", when, p->last_ms,
			p->last_bytes, p->last_result, p->pushes, p->failures);
	}
	if (k->listening) {
		node_status_iso(k->last_at, when, sizeof(when));
		ret |= ks_buf_appendf(
			out,
			"  listener %s:%u: %" PRIu64 " loaded, %" PRIu64
			" refused; last %s: %s\n",
			k->listen_host, k->listen_port, k->transfers,
			k->refused, when, k->last_result);
	}
	return ret ? KS_ENOMEM : KS_EOK;
}

static int peer_repl_text(const node_status_repl_peer_t *r, ks_buf_t *out)
{
	if (!r->present)
		return KS_EOK;
	return ks_buf_appendf(
		out,
		"    replication: %s; %s %" PRIu64 " of %" PRIu64
		" (lag %" PRIu64 " changes, %" PRIu64 " s); %" PRIu64
		" batches, %" PRIu64 " changes; full %" PRIu64
		", incremental %" PRIu64
		"\n    last session: %s\n    replication error: %s\n",
		r->state, r->primary ? "acked" : "applied", r->position,
		r->peer_last_seq, r->lag_changes, r->lag_s, r->batches,
		r->changes, r->full_transfers, r->incremental_sessions,
		r->last_session[0] ? r->last_session : "none",
		r->last_error[0] ? r->last_error : "none");
}

int node_status_text(const node_status_t *s, ks_buf_t *out)
{
	int ret = 0;

	ret |= ks_buf_appendf(
		out,
		"node:      %s\nrole:      %s%s\npid:       %ld\nuptime:    %" PRIu64
		"s\n",
		s->name, s->role,
		strcmp(s->role_source, "promote") == 0 ? " (by kdcsync promote)"
		: strcmp(s->role_source, "follow") == 0 ? " (by kdcsync follow)"
							: "",
		s->pid, s->uptime_s);
	if (s->listen[0])
		ret |= ks_buf_appendf(out, "listen:    %s\n", s->listen);
	if (s->upstream[0])
		ret |= ks_buf_appendf(out, "upstream:  %s\n", s->upstream);
	ret |= ks_buf_appendf(out, "config:    %s", s->config);
	if (s->reload_at != 0) {
		char when[32];
		node_status_iso(s->reload_at, when, sizeof(when));
		if (s->reload_error[0])
			ret |= ks_buf_appendf(out,
					      " (last reload %s REJECTED: %s)",
					      when, s->reload_error);
		else
			ret |= ks_buf_appendf(out, " (reloaded %s)", when);
	}
	ret |= ks_buf_appendf(out, "\n");
	if (s->have_meta)
		ret |= ks_buf_appendf(out,
				      "history:   %s\nlast seq:  %" PRIu64
				      "\napplied:   %s seq %" PRIu64
				      "\nrecords:   %" PRIu64 "\n",
				      s->history, s->last_seq,
				      s->applied_history, s->applied_seq,
				      s->records);
	if (s->loop.present)
		ret |= ks_buf_appendf(out,
				      "loop:      longest iteration %" PRIu64
				      " ms (last minute %" PRIu64
				      " ms); %" PRIu64 " over 10 ms\n",
				      s->loop.busy_max_us / 1000,
				      s->loop.busy_max_60s_us / 1000,
				      s->loop.over_10ms);
	if (s->have_net)
		ret |= ks_buf_appendf(out,
				      "clients:   %" PRIu64
				      " unauthenticated; refused %" PRIu64
				      ", evicted %" PRIu64 " (admission)\n",
				      s->handshakes, s->refused, s->evicted);
	if (s->have_usage)
		ret |= ks_buf_appendf(out,
				      "store:     %" PRIu64 " of %" PRIu64
				      " bytes of the map in use\n",
				      s->store_used_bytes, s->store_map_bytes);
	ret |= repl_text(&s->repl, out);
	ret |= kprop_text(&s->kprop, out);
	ret |= ks_buf_appendf(out, "peers:     %s\n",
			      s->n_peers ? "" : "(none)");
	for (size_t i = 0; i < s->n_peers; i++) {
		const node_status_peer_t *p = &s->peers[i];
		ret |= ks_buf_appendf(out, "  %s (%s", p->name, p->mode);
		if (p->repl.present && p->repl.link_role != NULL &&
		    p->repl.link_role[0])
			ret |= ks_buf_appendf(out, ", %s%s", p->repl.link_role,
					      p->repl.relayed ? ", relayed"
							      : "");
		ret |= ks_buf_appendf(out, "): %s", p->state);
		if (p->remote[0])
			ret |= ks_buf_appendf(out, ", %s %s",
					      p->direction[0] == 'i' ? "from"
								     : "to",
					      p->remote);
		if (p->link_up)
			ret |= ks_buf_appendf(out, ", up %" PRIu64 "s",
					      p->connected_s);
		ret |= ks_buf_appendf(
			out,
			"\n    bytes in %" PRIu64 ", out %" PRIu64
			"; connects %" PRIu64 "; last error: %s\n",
			p->bytes_in, p->bytes_out, p->connects,
			p->last_error[0] ? p->last_error : "none");
		ret |= peer_repl_text(&p->repl, out);
	}
	return ret ? KS_ENOMEM : KS_EOK;
}
