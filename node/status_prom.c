/* SPDX-License-Identifier: MIT */
/*
 * Prometheus text exposition (format 0.0.4) of node_status_t: what
 * `kdcsync metrics` prints and the [metrics] listen endpoint serves.
 * Names follow Prometheus conventions: kdcsync_ prefix, base units in the
 * name (_seconds, _bytes), counters end in _total; every series of a
 * metric follows its one HELP/TYPE header.  Add metrics, never rename one
 * (dashboards and alert rules, deploy/prometheus/, depend on them).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "node/status.h"

static int head(ks_buf_t *out, const char *name, const char *type,
		const char *help)
{
	return ks_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
			      name, type);
}

/* A label value with \\, \" and \n escaped. */
static int label(ks_buf_t *out, const char *v)
{
	int ret = 0;

	for (const char *c = v; *c && ret == 0; c++) {
		if (*c == '\\' || *c == '"')
			ret = ks_buf_appendf(out, "\\%c", *c);
		else if (*c == '\n')
			ret = ks_buf_appendf(out, "\\n");
		else
			ret = ks_buf_append(out, c, 1);
	}
	return ret;
}

/* name{peer="P"} value  (peer may be NULL: no labels) */
static int series(ks_buf_t *out, const char *name, const char *peer, uint64_t v)
{
	int ret = ks_buf_appendf(out, "%s", name);

	if (peer != NULL) {
		ret |= ks_buf_appendf(out, "{peer=\"");
		ret |= label(out, peer);
		ret |= ks_buf_appendf(out, "\"}");
	}
	ret |= ks_buf_appendf(out, " %" PRIu64 "\n", v);
	return ret;
}

/* name{peer="P",KEY="VAL"} value  (peer may be NULL) */
static int series2(ks_buf_t *out, const char *name, const char *peer,
		   const char *key, const char *val, uint64_t v)
{
	int ret = ks_buf_appendf(out, "%s{", name);

	if (peer != NULL) {
		ret |= ks_buf_appendf(out, "peer=\"");
		ret |= label(out, peer);
		ret |= ks_buf_appendf(out, "\",");
	}
	ret |= ks_buf_appendf(out, "%s=\"", key);
	ret |= label(out, val);
	ret |= ks_buf_appendf(out, "\"} %" PRIu64 "\n", v);
	return ret;
}

static int seconds(ks_buf_t *out, const char *name, const char *peer,
		   uint64_t us)
{
	int ret = ks_buf_appendf(out, "%s", name);

	if (peer != NULL) {
		ret |= ks_buf_appendf(out, "{peer=\"");
		ret |= label(out, peer);
		ret |= ks_buf_appendf(out, "\"}");
	}
	ret |= ks_buf_appendf(out, " %" PRIu64 ".%06" PRIu64 "\n", us / 1000000,
			      us % 1000000);
	return ret;
}

/* The series of one histogram (its header written by the caller). */
static int hist(ks_buf_t *out, const char *name, const char *peer,
		const ks_hist_t *h)
{
	uint64_t cum = 0;
	int ret = 0;
	char pl[600] = "";

	if (peer != NULL) {
		ks_buf_t b = KS_BUF_INIT;
		ret |= ks_buf_appendf(&b, "peer=\"");
		ret |= label(&b, peer);
		ret |= ks_buf_appendf(&b, "\",");
		if (ret == 0)
			snprintf(pl, sizeof(pl), "%.*s", (int)b.len,
				 (const char *)b.data);
		ks_buf_free(&b);
	}
	for (unsigned i = 0; i <= KS_HIST_N; i++) {
		cum += h->bucket[i];
		if (i < KS_HIST_N) {
			uint64_t us = ks_hist_bound_us(i);
			char le[32];
			snprintf(le, sizeof(le), "%" PRIu64 ".%06" PRIu64,
				 us / 1000000, us % 1000000);
			/* trim trailing zeros: 0.000500 -> 0.0005, 1.000000 -> 1 */
			size_t n = strlen(le);
			while (n > 0 && le[n - 1] == '0')
				le[--n] = '\0';
			if (n > 0 && le[n - 1] == '.')
				le[--n] = '\0';
			ret |= ks_buf_appendf(
				out, "%s_bucket{%sle=\"%s\"} %" PRIu64 "\n",
				name, pl, le, cum);
		} else {
			ret |= ks_buf_appendf(
				out, "%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n",
				name, pl, cum);
		}
	}
	if (pl[0])
		pl[strlen(pl) - 1] = '\0'; /* drop the trailing comma */
	ret |= ks_buf_appendf(out, "%s_sum%s%s%s %" PRIu64 ".%06" PRIu64 "\n",
			      name, pl[0] ? "{" : "", pl, pl[0] ? "}" : "",
			      h->sum_us / 1000000, h->sum_us % 1000000);
	ret |= ks_buf_appendf(out, "%s_count%s%s%s %" PRIu64 "\n", name,
			      pl[0] ? "{" : "", pl, pl[0] ? "}" : "", h->count);
	return ret;
}

/* "KS_EBADSIG" -> "badsig", "KS_ECONNRESET" -> "connreset" */
static void reason_name(int code, char *buf, size_t len)
{
	const char *n = ks_errname(code);
	size_t i = 0;

	if (strncmp(n, "KS_E", 4) == 0)
		n += 4;
	for (; *n && i + 1 < len; n++)
		buf[i++] = (char)tolower((unsigned char)*n);
	buf[i] = '\0';
}

static int node_part(const node_status_t *s, ks_buf_t *out)
{
	int ret = 0;
	bool primary = strcmp(s->role, "primary") == 0;

	ret |= head(
		out, "kdcsync_info", "gauge",
		"Node name, role, where the role comes from (config, promote, follow) and history id (value 1).");
	ret |= ks_buf_appendf(out, "kdcsync_info{node=\"");
	ret |= label(out, s->name);
	ret |= ks_buf_appendf(
		out,
		"\",role=\"%s\",role_source=\"%s\",history=\"%s\"} "
		"1\n",
		s->role, s->role_source, s->history);
	ret |= head(out, "kdcsync_role", "gauge",
		    "1 for the role this node runs as, 0 for the other.");
	ret |= series2(out, "kdcsync_role", NULL, "role", "primary", primary);
	ret |= series2(out, "kdcsync_role", NULL, "role", "replica", !primary);
	ret |= head(out, "kdcsync_promoted", "gauge",
		    "1 when a replica was promoted and awaits a restart as "
		    "primary.");
	ret |= series(out, "kdcsync_promoted", NULL, s->promoted);
	ret |= head(out, "kdcsync_uptime_seconds", "gauge",
		    "Seconds since kdcsyncd started.");
	ret |= series(out, "kdcsync_uptime_seconds", NULL, s->uptime_s);
	if (s->have_meta) {
		ret |= head(out, "kdcsync_last_seq", "gauge",
			    "Last sequence number in the store's change log.");
		ret |= series(out, "kdcsync_last_seq", NULL, s->last_seq);
		ret |= head(out, "kdcsync_applied_seq", "gauge",
			    "Sequence number of the primary's history applied "
			    "here (replica).");
		ret |= series(out, "kdcsync_applied_seq", NULL, s->applied_seq);
		ret |= head(out, "kdcsync_records", "gauge",
			    "Records (principals and policies) in the store.");
		ret |= series(out, "kdcsync_records", NULL, s->records);
	}
	if (s->have_usage) {
		ret |= head(out, "kdcsync_store_map_size_bytes", "gauge",
			    "Size of the store's LMDB map.");
		ret |= series(out, "kdcsync_store_map_size_bytes", NULL,
			      s->store_map_bytes);
		ret |= head(out, "kdcsync_store_used_bytes", "gauge",
			    "Bytes of the store's LMDB map in use.");
		ret |= series(out, "kdcsync_store_used_bytes", NULL,
			      s->store_used_bytes);
	}
	if (s->loop.present) {
		ret |= head(out, "kdcsync_loop_busy_seconds", "histogram",
			    "Event loop busy time per iteration (callbacks run "
			    "in a row between two waits for I/O).");
		ret |= hist(out, "kdcsync_loop_busy_seconds", NULL,
			    &s->loop.busy);
		ret |= head(out, "kdcsync_loop_busy_max_seconds", "gauge",
			    "Longest event loop iteration in the last minute.");
		ret |= seconds(out, "kdcsync_loop_busy_max_seconds", NULL,
			       s->loop.busy_max_60s_us);
	}
	if (s->have_net) {
		ret |= head(
			out, "kdcsync_unauthenticated_connections", "gauge",
			"Accepted connections still in their TLS handshake.");
		ret |= series(out, "kdcsync_unauthenticated_connections", NULL,
			      s->handshakes);
		ret |= head(out, "kdcsync_connections_refused_total", "counter",
			    "Connections refused by admission limits.");
		ret |= series(out, "kdcsync_connections_refused_total", NULL,
			      s->refused);
		ret |= head(
			out, "kdcsync_connections_evicted_total", "counter",
			"Unauthenticated handshakes evicted for newcomers.");
		ret |= series(out, "kdcsync_connections_evicted_total", NULL,
			      s->evicted);
	}
	ret |= head(out, "kdcsync_config_reloads_total", "counter",
		    "Configuration reloads (SIGHUP) by result.");
	ret |= series2(out, "kdcsync_config_reloads_total", NULL, "result",
		       "ok", s->reloads);
	ret |= series2(out, "kdcsync_config_reloads_total", NULL, "result",
		       "rejected", s->reloads_rejected);
	ret |= head(out, "kdcsync_config_last_reload_successful", "gauge",
		    "0 when the last reload was rejected.");
	ret |= series(out, "kdcsync_config_last_reload_successful", NULL,
		      s->reload_error[0] == '\0');
	return ret;
}

static int repl_part(const node_status_t *s, ks_buf_t *out)
{
	const node_status_repl_t *r = &s->repl;
	int ret = 0;

	if (!r->present)
		return 0;
	ret |= head(out, "kdcsync_replication_enabled", "gauge",
		    "0 when native replication is disabled (status says "
		    "why).");
	ret |= series(out, "kdcsync_replication_enabled", NULL,
		      r->disabled[0] == '\0');
	if (r->disabled[0])
		return ret;
	if (!r->primary) {
		ret |= head(out, "kdcsync_kdb_full", "gauge",
			    "1 while applies wait for room on the KDB's file "
			    "system (replica).");
		ret |= series(out, "kdcsync_kdb_full", NULL,
			      r->kdb_full[0] != '\0');
		ret |= head(out, "kdcsync_kdb_damaged", "gauge",
			    "1 while the KDB is damaged and not applied to "
			    "(replica; status says why).");
		ret |= series(out, "kdcsync_kdb_damaged", NULL,
			      r->kdb_error[0] != '\0');
		ret |= head(out, "kdcsync_kdb_rebuilds_total", "counter",
			    "Damaged KDBs rebuilt from the store (replica).");
		ret |= series(out, "kdcsync_kdb_rebuilds_total", NULL,
			      r->kdb_rebuilds);
		ret |= head(out, "kdcsync_drift_records", "gauge",
			    "Records where the KDB differs from the store, as "
			    "of the last drift check (replica).");
		ret |= series(out, "kdcsync_drift_records", NULL,
			      r->drift.records);
		ret |= head(out, "kdcsync_drift_checks_total", "counter",
			    "Drift checks that compared the KDB with the store "
			    "(replica).");
		ret |= series(out, "kdcsync_drift_checks_total", NULL,
			      r->drift.checks);
		return ret;
	}
	ret |= head(out, "kdcsync_sync_wanted", "gauge",
		    "Replicas a write waits for ([node] synchronous; 0: "
		    "asynchronous).");
	ret |= series(out, "kdcsync_sync_wanted", NULL, r->sync_wanted);
	ret |= head(out, "kdcsync_sync_degraded", "gauge",
		    "1 while synchronous mode is degraded to asynchronous "
		    "(too few replicas acknowledged within sync_timeout).");
	ret |= series(out, "kdcsync_sync_degraded", NULL,
		      strcmp(r->sync_state, "degraded") == 0);
	ret |= head(out, "kdcsync_sync_writes_total", "counter",
		    "Writes that waited for replicas, by outcome (acked: "
		    "enough replicas applied them; timeout: sync_timeout "
		    "passed).");
	ret |= series2(out, "kdcsync_sync_writes_total", NULL, "outcome",
		       "acked", r->sync_acked);
	ret |= series2(out, "kdcsync_sync_writes_total", NULL, "outcome",
		       "timeout", r->sync_timeouts);
	ret |= head(out, "kdcsync_capture_changes_total", "counter",
		    "Changes captured into the log, by path (module: reported "
		    "by the KDB module; scan: found by a full scan).");
	ret |= series2(out, "kdcsync_capture_changes_total", NULL, "path",
		       "module", r->hook_changes);
	ret |= series2(out, "kdcsync_capture_changes_total", NULL, "path",
		       "scan", r->scan_changes);
	ret |= head(out, "kdcsync_capture_reports_total", "counter",
		    "Reports received from the KDB module, by kind.");
	for (unsigned k = 1; k < KS_REPORT_KIND_COUNT; k++)
		ret |= series2(out, "kdcsync_capture_reports_total", NULL,
			       "kind", ks_report_kind_name(k),
			       r->reports_by_kind[k]);
	ret |= head(out, "kdcsync_capture_reports_dropped_total", "counter",
		    "Reports the KDB modules could not send (a scan follows).");
	ret |= series(out, "kdcsync_capture_reports_dropped_total", NULL,
		      r->reports_dropped);
	ret |= head(out, "kdcsync_capture_reports_malformed_total", "counter",
		    "Reports refused by the decoder.");
	ret |= series(out, "kdcsync_capture_reports_malformed_total", NULL,
		      r->reports_malformed);
	ret |= head(out, "kdcsync_capture_failed_total", "counter",
		    "Objects a report named that could not be captured (the "
		    "audit scan catches them).");
	ret |= series(out, "kdcsync_capture_failed_total", NULL,
		      r->capture_failed);
	ret |= head(out, "kdcsync_lockout_upstream_total", "counter",
		    "Replica: lockout writes of this KDC, by what became of "
		    "them (report: reported by the KDB module; coalesced: "
		    "folded into a pending one; overflow: dropped, the "
		    "pending set was full; sent: LOCKOUT sent upstream; "
		    "unsent: not sent).");
	ret |= series2(out, "kdcsync_lockout_upstream_total", NULL, "what",
		       "report", r->lockout_reports);
	ret |= series2(out, "kdcsync_lockout_upstream_total", NULL, "what",
		       "coalesced", r->lockout_coalesced);
	ret |= series2(out, "kdcsync_lockout_upstream_total", NULL, "what",
		       "overflow", r->lockout_overflow);
	ret |= series2(out, "kdcsync_lockout_upstream_total", NULL, "what",
		       "sent", r->lockout_sent);
	ret |= series2(out, "kdcsync_lockout_upstream_total", NULL, "what",
		       "unsent", r->lockout_unsent);
	ret |= head(out, "kdcsync_lockout_merge_total", "counter",
		    "Primary: LOCKOUT messages from replicas, by outcome "
		    "(merged: changed the KDB; unchanged; rejected; dropped: "
		    "queue full; failed: KDB error; gone: no such "
		    "principal).");
	ret |= series2(out, "kdcsync_lockout_merge_total", NULL, "outcome",
		       "merged", r->lockout_merged);
	ret |= series2(out, "kdcsync_lockout_merge_total", NULL, "outcome",
		       "unchanged", r->lockout_unchanged);
	ret |= series2(out, "kdcsync_lockout_merge_total", NULL, "outcome",
		       "rejected", r->lockout_rejected);
	ret |= series2(out, "kdcsync_lockout_merge_total", NULL, "outcome",
		       "dropped", r->lockout_dropped);
	ret |= series2(out, "kdcsync_lockout_merge_total", NULL, "outcome",
		       "failed", r->lockout_failed);
	ret |= series2(out, "kdcsync_lockout_merge_total", NULL, "outcome",
		       "gone", r->lockout_gone);
	ret |= head(
		out, "kdcsync_scans_skipped_total", "counter",
		"Audit scans skipped because the KDB files were unchanged.");
	ret |= series(out, "kdcsync_scans_skipped_total", NULL,
		      r->scans_skipped);
	ret |= head(out, "kdcsync_scan_duration_seconds", "histogram",
		    "Duration of full KDB scans.");
	ret |= hist(out, "kdcsync_scan_duration_seconds", NULL, &r->scan);
	ret |= head(out, "kdcsync_scan_last_duration_seconds", "gauge",
		    "Duration of the last full KDB scan.");
	ret |= seconds(out, "kdcsync_scan_last_duration_seconds", NULL,
		       r->last_scan_us);
	return ret;
}

/* One metric over every peer with replication data. */
#define FOR_REPL_PEERS(s, p)                                                   \
	for (const node_status_peer_t *p = (s)->peers;                         \
	     p < (s)->peers + (s)->n_peers; p++)                               \
		if (p->repl.present)

static int peers_part(const node_status_t *s, ks_buf_t *out)
{
	int ret = 0;
	char rn[64];
	const node_status_peer_t *p;
	bool any_replica_side = false;

	if (s->n_peers == 0)
		return 0;
	ret |= head(out, "kdcsync_peer_up", "gauge",
		    "1 while the TLS link to the peer is established.");
	for (p = s->peers; p < s->peers + s->n_peers; p++)
		ret |= series(out, "kdcsync_peer_up", p->name, p->link_up);
	ret |= head(out, "kdcsync_peer_connects_total", "counter",
		    "Links established with the peer.");
	for (p = s->peers; p < s->peers + s->n_peers; p++)
		ret |= series(out, "kdcsync_peer_connects_total", p->name,
			      p->connects);
	ret |= head(out, "kdcsync_peer_received_bytes_total", "counter",
		    "Bytes received from the peer (TLS payload).");
	for (p = s->peers; p < s->peers + s->n_peers; p++)
		ret |= series(out, "kdcsync_peer_received_bytes_total", p->name,
			      p->bytes_in);
	ret |= head(out, "kdcsync_peer_sent_bytes_total", "counter",
		    "Bytes sent to the peer (TLS payload).");
	for (p = s->peers; p < s->peers + s->n_peers; p++)
		ret |= series(out, "kdcsync_peer_sent_bytes_total", p->name,
			      p->bytes_out);

	ret |= head(out, "kdcsync_peer_link_role", "gauge",
		    "1 for the way the peer's link goes: upstream (this node "
		    "follows it) or downstream (this node serves it, relayed "
		    "by a replica in a cascade).");
	FOR_REPL_PEERS(s, q)
	if (q->repl.link_role != NULL && q->repl.link_role[0])
		ret |= series2(out, "kdcsync_peer_link_role", q->name,
			       "link_role", q->repl.link_role, 1);
	ret |= head(out, "kdcsync_peer_relayed", "gauge",
		    "1 while this node, a replica, serves the peer as a relay "
		    "(the primary's signed batches, unchanged).");
	FOR_REPL_PEERS(s, q)
	ret |= series(out, "kdcsync_peer_relayed", q->name, q->repl.relayed);
	ret |= head(out, "kdcsync_peer_streaming", "gauge",
		    "1 while replication with the peer streams changes.");
	FOR_REPL_PEERS(s, q)
	ret |= series(out, "kdcsync_peer_streaming", q->name,
		      strcmp(q->repl.state, "stream") == 0);
	ret |= head(out, "kdcsync_peer_position", "gauge",
		    "Seq the peer acknowledged (primary) or this replica "
		    "applied.");
	FOR_REPL_PEERS(s, q)
	ret |= series(out, "kdcsync_peer_position", q->name, q->repl.position);
	ret |= head(out, "kdcsync_peer_lag_changes", "gauge",
		    "Changes the replica is behind the primary.");
	FOR_REPL_PEERS(s, q)
	ret |= series(out, "kdcsync_peer_lag_changes", q->name,
		      q->repl.lag_changes);
	ret |= head(out, "kdcsync_peer_lag_seconds", "gauge",
		    "Age of the oldest change the replica has not applied.");
	FOR_REPL_PEERS(s, q)
	ret |= series(out, "kdcsync_peer_lag_seconds", q->name, q->repl.lag_s);
	ret |= head(out, "kdcsync_peer_batches_total", "counter",
		    "Delta batches sent (primary) or applied (replica).");
	FOR_REPL_PEERS(s, q)
	ret |= series(out, "kdcsync_peer_batches_total", q->name,
		      q->repl.batches);
	ret |= head(out, "kdcsync_peer_changes_total", "counter",
		    "Changes sent (primary) or applied (replica).");
	FOR_REPL_PEERS(s, q)
	ret |= series(out, "kdcsync_peer_changes_total", q->name,
		      q->repl.changes);
	ret |= head(out, "kdcsync_peer_sessions_total", "counter",
		    "Replication sessions by kind (full snapshot or "
		    "incremental).");
	FOR_REPL_PEERS(s, q)
	{
		ret |= series2(out, "kdcsync_peer_sessions_total", q->name,
			       "kind", "full", q->repl.full_transfers);
		ret |= series2(out, "kdcsync_peer_sessions_total", q->name,
			       "kind", "incremental",
			       q->repl.incremental_sessions);
	}
	ret |= head(out, "kdcsync_peer_errors_total", "counter",
		    "Replication sessions with the peer that ended in an "
		    "error, by reason.");
	FOR_REPL_PEERS(s, q)
	for (size_t i = 0; i < q->repl.n_errors; i++) {
		reason_name(q->repl.errors[i].code, rn, sizeof(rn));
		ret |= series2(out, "kdcsync_peer_errors_total", q->name,
			       "reason", rn, q->repl.errors[i].count);
	}
	FOR_REPL_PEERS(s, q)
	any_replica_side |= !q->repl.primary;
	if (!any_replica_side)
		return ret;
	ret |= head(out, "kdcsync_propagation_seconds", "histogram",
		    "From a batch's commit on the primary to its apply here "
		    "(replica's clock).");
	FOR_REPL_PEERS(s, q)
	if (!q->repl.primary)
		ret |= hist(out, "kdcsync_propagation_seconds", q->name,
			    &q->repl.propagation);
	ret |= head(out, "kdcsync_apply_seconds", "histogram",
		    "Time to apply one batch to the KDB and the store.");
	FOR_REPL_PEERS(s, q)
	if (!q->repl.primary)
		ret |= hist(out, "kdcsync_apply_seconds", q->name,
			    &q->repl.apply);
	return ret;
}

static int kprop_part(const node_status_kprop_t *k, ks_buf_t *out)
{
	int ret = 0;

	if (!k->present)
		return 0;
	if (k->n_peers > 0) {
		ret |= head(out, "kdcsync_kprop_pushes_total", "counter",
			    "kprop-protocol pushes to stock kpropd peers, by "
			    "result.");
		for (size_t i = 0; i < k->n_peers; i++) {
			const node_status_kprop_peer_t *p = &k->peers[i];
			ret |= series2(out, "kdcsync_kprop_pushes_total",
				       p->name, "result", "ok",
				       p->pushes - p->failures);
			ret |= series2(out, "kdcsync_kprop_pushes_total",
				       p->name, "result", "failed",
				       p->failures);
		}
		ret |= head(out, "kdcsync_kprop_last_push_bytes", "gauge",
			    "Bytes of the last kprop push.");
		for (size_t i = 0; i < k->n_peers; i++)
			ret |= series(out, "kdcsync_kprop_last_push_bytes",
				      k->peers[i].name, k->peers[i].last_bytes);
		ret |= head(out, "kdcsync_kprop_last_push_duration_seconds",
			    "gauge", "Duration of the last kprop push.");
		for (size_t i = 0; i < k->n_peers; i++)
			ret |= seconds(
				out, "kdcsync_kprop_last_push_duration_seconds",
				k->peers[i].name, k->peers[i].last_ms * 1000);
		ret |= head(
			out, "kdcsync_kprop_last_push_successful", "gauge",
			"1 when the last kprop push to the peer succeeded.");
		for (size_t i = 0; i < k->n_peers; i++)
			ret |= series(out, "kdcsync_kprop_last_push_successful",
				      k->peers[i].name,
				      k->peers[i].pushes > 0 &&
					      strcmp(k->peers[i].last_result,
						     "SUCCEEDED") == 0);
	}
	if (k->listening) {
		ret |= head(out, "kdcsync_kprop_receives_total", "counter",
			    "Dumps received from stock kprop, by result.");
		ret |= series2(out, "kdcsync_kprop_receives_total", NULL,
			       "result", "loaded", k->transfers);
		ret |= series2(out, "kdcsync_kprop_receives_total", NULL,
			       "result", "failed", k->refused);
	}
	return ret;
}

int node_status_prom(const node_status_t *s, ks_buf_t *out)
{
	int ret = 0;

	ret |= node_part(s, out);
	ret |= repl_part(s, out);
	ret |= peers_part(s, out);
	ret |= kprop_part(&s->kprop, out);
	return ret ? KS_ENOMEM : KS_EOK;
}
