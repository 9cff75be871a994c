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
#include <stddef.h>
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

/* {peer="P",KEY="VAL"}: either part may be absent (NULL); nothing at all
 * when both are. */
static int labels(ks_buf_t *out, const char *peer, const char *key,
		  const char *val)
{
	int ret = 0;

	if (peer == NULL && key == NULL)
		return 0;
	ret |= ks_buf_append(out, "{", 1);
	if (peer != NULL) {
		ret |= ks_buf_appendf(out, "peer=\"");
		ret |= label(out, peer);
		ret |= ks_buf_appendf(out, "\"%s", key != NULL ? "," : "");
	}
	if (key != NULL) {
		ret |= ks_buf_appendf(out, "%s=\"", key);
		ret |= label(out, val);
		ret |= ks_buf_append(out, "\"", 1);
	}
	ret |= ks_buf_append(out, "}", 1);
	return ret;
}

/* name{peer="P",KEY="VAL"} value  (peer and key may be NULL) */
static int series2(ks_buf_t *out, const char *name, const char *peer,
		   const char *key, const char *val, uint64_t v)
{
	int ret = ks_buf_appendf(out, "%s", name);

	ret |= labels(out, peer, key, val);
	ret |= ks_buf_appendf(out, " %" PRIu64 "\n", v);
	return ret;
}

/* name{peer="P"} value  (peer may be NULL: no labels) */
static int series(ks_buf_t *out, const char *name, const char *peer, uint64_t v)
{
	return series2(out, name, peer, NULL, NULL, v);
}

/* name{peer="P"} seconds, from microseconds */
static int seconds(ks_buf_t *out, const char *name, const char *peer,
		   uint64_t us)
{
	int ret = ks_buf_appendf(out, "%s", name);

	ret |= labels(out, peer, NULL, NULL);
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

	for (unsigned i = 0; i <= KS_HIST_N; i++) {
		char le[32] = "+Inf";
		cum += h->bucket[i];
		if (i < KS_HIST_N) {
			uint64_t us = ks_hist_bound_us(i);
			snprintf(le, sizeof(le), "%" PRIu64 ".%06" PRIu64,
				 us / 1000000, us % 1000000);
			/* trim trailing zeros: 0.000500 -> 0.0005, 1.000000 -> 1 */
			size_t n = strlen(le);
			while (n > 0 && le[n - 1] == '0')
				le[--n] = '\0';
			if (n > 0 && le[n - 1] == '.')
				le[--n] = '\0';
		}
		ret |= ks_buf_appendf(out, "%s_bucket", name);
		ret |= labels(out, peer, "le", le);
		ret |= ks_buf_appendf(out, " %" PRIu64 "\n", cum);
	}
	ret |= ks_buf_appendf(out, "%s_sum", name);
	ret |= labels(out, peer, NULL, NULL);
	ret |= ks_buf_appendf(out, " %" PRIu64 ".%06" PRIu64 "\n",
			      h->sum_us / 1000000, h->sum_us % 1000000);
	ret |= ks_buf_appendf(out, "%s_count", name);
	ret |= labels(out, peer, NULL, NULL);
	ret |= ks_buf_appendf(out, " %" PRIu64 "\n", h->count);
	return ret;
}

static const char GAUGE[] = "gauge", COUNTER[] = "counter";

#define FAMILY_SERIES_MAX 8 /* label values of one family_t */

/*
 * A node-wide metric with its header and series: one unlabelled value, or
 * (key set) one series per entry of by[] up to the first without a label
 * value.  One row per metric, so a name, its help and its value are read
 * (and reviewed) together.
 */
typedef struct family {
	const char *name, *type, *help;
	uint64_t v; /* the value when key is NULL */
	const char *key;
	struct {
		const char *val;
		uint64_t v;
	} by[FAMILY_SERIES_MAX];
} family_t;

static int families(ks_buf_t *out, const family_t *f, size_t n)
{
	int ret = 0;

	for (; n > 0; f++, n--) {
		ret |= head(out, f->name, f->type, f->help);
		if (f->key == NULL)
			ret |= series(out, f->name, NULL, f->v);
		for (size_t i = 0;
		     f->key != NULL && i < FAMILY_SERIES_MAX && f->by[i].val;
		     i++)
			ret |= series2(out, f->name, NULL, f->key, f->by[i].val,
				       f->by[i].v);
	}
	return ret;
}

#define FAMILIES(out, table)                                                   \
	families(out, table, sizeof(table) / sizeof(table[0]))

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
	const family_t node[] = {
		{ "kdcsync_role", GAUGE,
		  "1 for the role this node runs as, 0 for the other.",
		  .key = "role",
		  .by = { { "primary", primary }, { "replica", !primary } } },
		{ "kdcsync_promoted", GAUGE,
		  "1 when a replica was promoted and awaits a restart as "
		  "primary.",
		  .v = s->promoted },
		{ "kdcsync_uptime_seconds", GAUGE,
		  "Seconds since kdcsyncd started.", .v = s->uptime_s },
	};
	const family_t meta[] = {
		{ "kdcsync_last_seq", GAUGE,
		  "Last sequence number in the store's change log.",
		  .v = s->last_seq },
		{ "kdcsync_applied_seq", GAUGE,
		  "Sequence number of the primary's history applied here "
		  "(replica).",
		  .v = s->applied_seq },
		{ "kdcsync_records", GAUGE,
		  "Records (principals and policies) in the store.",
		  .v = s->records },
	};
	const family_t usage[] = {
		{ "kdcsync_store_map_size_bytes", GAUGE,
		  "Size of the store's LMDB map.", .v = s->store_map_bytes },
		{ "kdcsync_store_used_bytes", GAUGE,
		  "Bytes of the store's LMDB map in use.",
		  .v = s->store_used_bytes },
	};
	const family_t net[] = {
		{ "kdcsync_unauthenticated_connections", GAUGE,
		  "Accepted connections still in their TLS handshake.",
		  .v = s->handshakes },
		{ "kdcsync_connections_refused_total", COUNTER,
		  "Connections refused by admission limits.", .v = s->refused },
		{ "kdcsync_connections_evicted_total", COUNTER,
		  "Unauthenticated handshakes evicted for newcomers.",
		  .v = s->evicted },
	};
	const family_t reload[] = {
		{ "kdcsync_config_reloads_total", COUNTER,
		  "Configuration reloads (SIGHUP) by result.", .key = "result",
		  .by = { { "ok", s->reloads },
			  { "rejected", s->reloads_rejected } } },
		{ "kdcsync_config_last_reload_successful", GAUGE,
		  "0 when the last reload was rejected.",
		  .v = s->reload_error[0] == '\0' },
	};

	ret |= head(
		out, "kdcsync_info", GAUGE,
		"Node name, role, where the role comes from (config, promote, follow) and history id (value 1).");
	ret |= ks_buf_appendf(out, "kdcsync_info{node=\"");
	ret |= label(out, s->name);
	ret |= ks_buf_appendf(
		out,
		"\",role=\"%s\",role_source=\"%s\",history=\"%s\"} "
		"1\n",
		s->role, s->role_source, s->history);
	ret |= FAMILIES(out, node);
	if (s->have_meta)
		ret |= FAMILIES(out, meta);
	if (s->have_usage)
		ret |= FAMILIES(out, usage);
	if (s->loop.present) {
		ret |= head(out, "kdcsync_loop_busy_seconds", "histogram",
			    "Event loop busy time per iteration (callbacks run "
			    "in a row between two waits for I/O).");
		ret |= hist(out, "kdcsync_loop_busy_seconds", NULL,
			    &s->loop.busy);
		ret |= head(out, "kdcsync_loop_busy_max_seconds", GAUGE,
			    "Longest event loop iteration in the last minute.");
		ret |= seconds(out, "kdcsync_loop_busy_max_seconds", NULL,
			       s->loop.busy_max_60s_us);
	}
	if (s->have_net)
		ret |= FAMILIES(out, net);
	ret |= FAMILIES(out, reload);
	return ret;
}

/* A replica's engine: the KDB's health and its drift from the store. */
static int repl_replica_part(const node_status_repl_t *r, ks_buf_t *out)
{
	const family_t replica[] = {
		{ "kdcsync_kdb_full", GAUGE,
		  "1 while applies wait for room on the KDB's file system "
		  "(replica).",
		  .v = r->kdb_full[0] != '\0' },
		{ "kdcsync_kdb_damaged", GAUGE,
		  "1 while the KDB is damaged and not applied to (replica; "
		  "status says why).",
		  .v = r->kdb_error[0] != '\0' },
		{ "kdcsync_kdb_rebuilds_total", COUNTER,
		  "Damaged KDBs rebuilt from the store (replica).",
		  .v = r->kdb_rebuilds },
		{ "kdcsync_drift_records", GAUGE,
		  "Records where the KDB differs from the store, as of the "
		  "last drift check (replica).",
		  .v = r->drift.records },
		{ "kdcsync_drift_checks_total", COUNTER,
		  "Drift checks that compared the KDB with the store "
		  "(replica).",
		  .v = r->drift.checks },
	};

	return FAMILIES(out, replica);
}

/* Lockout on every KDC (replicate_lockout): a replica reports upstream, a
 * primary merges, a relay does both; rendered on either role. */
static int repl_lockout_part(const node_status_repl_t *r, ks_buf_t *out)
{
	const family_t lockout[] = {
		{ "kdcsync_lockout_upstream_total", COUNTER,
		  "Lockout writes of this KDC (a replica's, or a relay's), by "
		  "what became of them (report: reported by the KDB module; "
		  "coalesced: folded into a pending one; overflow: dropped, "
		  "the pending set was full; sent: LOCKOUT sent upstream; "
		  "unsent: not sent).",
		  .key = "what",
		  .by = { { "report", r->lockout_reports },
			  { "coalesced", r->lockout_coalesced },
			  { "overflow", r->lockout_overflow },
			  { "sent", r->lockout_sent },
			  { "unsent", r->lockout_unsent } } },
		{ "kdcsync_lockout_merge_total", COUNTER,
		  "LOCKOUT messages from replicas (a primary, or a relay), by "
		  "outcome (merged: changed the KDB; unchanged; rejected; "
		  "dropped: queue full; failed: KDB error; gone: no such "
		  "principal).",
		  .key = "outcome",
		  .by = { { "merged", r->lockout_merged },
			  { "unchanged", r->lockout_unchanged },
			  { "rejected", r->lockout_rejected },
			  { "dropped", r->lockout_dropped },
			  { "failed", r->lockout_failed },
			  { "gone", r->lockout_gone } } },
		{ "kdcsync_lockout_forwarded_total", COUNTER,
		  "Relay: LOCKOUT messages from its replicas that changed "
		  "this KDB and went on upstream (PROTOCOL.md 3.10).",
		  .v = r->lockout_forwarded },
	};

	return FAMILIES(out, lockout);
}

/* A primary's engine: synchronous mode, capture, scans. */
static int repl_primary_part(const node_status_repl_t *r, ks_buf_t *out)
{
	int ret = 0;
	const family_t sync_capture[] = {
		{ "kdcsync_sync_wanted", GAUGE,
		  "Replicas a write waits for ([node] synchronous; 0: "
		  "asynchronous).",
		  .v = r->sync_wanted },
		{ "kdcsync_sync_degraded", GAUGE,
		  "1 while synchronous mode is degraded to asynchronous (too "
		  "few replicas acknowledged within sync_timeout).",
		  .v = strcmp(r->sync_state, "degraded") == 0 },
		{ "kdcsync_sync_writes_total", COUNTER,
		  "Writes that waited for replicas, by outcome (acked: "
		  "enough replicas applied them; timeout: sync_timeout "
		  "passed).",
		  .key = "outcome",
		  .by = { { "acked", r->sync_acked },
			  { "timeout", r->sync_timeouts } } },
		{ "kdcsync_capture_changes_total", COUNTER,
		  "Changes captured into the log, by path (module: reported "
		  "by the KDB module; scan: found by a full scan).",
		  .key = "path",
		  .by = { { "module", r->hook_changes },
			  { "scan", r->scan_changes } } },
	};
	const family_t reports[] = {
		{ "kdcsync_capture_reports_dropped_total", COUNTER,
		  "Reports the KDB modules could not send (a scan follows).",
		  .v = r->reports_dropped },
		{ "kdcsync_capture_reports_malformed_total", COUNTER,
		  "Reports refused by the decoder.",
		  .v = r->reports_malformed },
		{ "kdcsync_capture_failed_total", COUNTER,
		  "Objects a report named that could not be captured (the "
		  "audit scan catches them).",
		  .v = r->capture_failed },
		{ "kdcsync_scans_skipped_total", COUNTER,
		  "Audit scans skipped because the KDB files were unchanged.",
		  .v = r->scans_skipped },
	};

	ret |= FAMILIES(out, sync_capture);
	ret |= head(out, "kdcsync_capture_reports_total", COUNTER,
		    "Reports received from the KDB module, by kind.");
	for (unsigned k = 1; k < KS_REPORT_KIND_COUNT; k++)
		ret |= series2(out, "kdcsync_capture_reports_total", NULL,
			       "kind", ks_report_kind_name(k),
			       r->reports_by_kind[k]);
	ret |= FAMILIES(out, reports);
	ret |= head(out, "kdcsync_scan_duration_seconds", "histogram",
		    "Duration of full KDB scans.");
	ret |= hist(out, "kdcsync_scan_duration_seconds", NULL, &r->scan);
	ret |= head(out, "kdcsync_scan_last_duration_seconds", GAUGE,
		    "Duration of the last full KDB scan.");
	ret |= seconds(out, "kdcsync_scan_last_duration_seconds", NULL,
		       r->last_scan_us);
	return ret;
}

static int repl_part(const node_status_t *s, ks_buf_t *out)
{
	const node_status_repl_t *r = &s->repl;
	int ret = 0;

	if (!r->present)
		return 0;
	ret |= head(out, "kdcsync_replication_enabled", GAUGE,
		    "0 when native replication is disabled (status says "
		    "why).");
	ret |= series(out, "kdcsync_replication_enabled", NULL,
		      r->disabled[0] == '\0');
	if (r->disabled[0])
		return ret;
	ret |= repl_lockout_part(r, out);
	return ret | (r->primary ? repl_primary_part(r, out)
				 : repl_replica_part(r, out));
}

/* A per-peer metric read from a uint64_t field of node_status_peer_t. */
typedef struct peer_metric {
	const char *name, *type, *help;
	size_t off;
} peer_metric_t;

#define PEER_FIELD(f) offsetof(node_status_peer_t, f)

/* Of every peer. */
static const peer_metric_t link_metrics[] = {
	{ "kdcsync_peer_connects_total", COUNTER,
	  "Links established with the peer.", PEER_FIELD(connects) },
	{ "kdcsync_peer_received_bytes_total", COUNTER,
	  "Bytes received from the peer (TLS payload).", PEER_FIELD(bytes_in) },
	{ "kdcsync_peer_sent_bytes_total", COUNTER,
	  "Bytes sent to the peer (TLS payload).", PEER_FIELD(bytes_out) },
};

/* Of every peer with replication data. */
static const peer_metric_t repl_metrics[] = {
	{ "kdcsync_peer_position", GAUGE,
	  "Seq the peer acknowledged (primary) or this replica applied.",
	  PEER_FIELD(repl.position) },
	{ "kdcsync_peer_lag_changes", GAUGE,
	  "Changes the replica is behind the primary.",
	  PEER_FIELD(repl.lag_changes) },
	{ "kdcsync_peer_lag_seconds", GAUGE,
	  "Age of the oldest change the replica has not applied.",
	  PEER_FIELD(repl.lag_s) },
	{ "kdcsync_peer_batches_total", COUNTER,
	  "Delta batches sent (primary) or applied (replica).",
	  PEER_FIELD(repl.batches) },
	{ "kdcsync_peer_changes_total", COUNTER,
	  "Changes sent (primary) or applied (replica).",
	  PEER_FIELD(repl.changes) },
};

static uint64_t peer_value(const node_status_peer_t *p, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)p + off, sizeof(v));
	return v;
}

/* Each metric of \p m over the peers (only those with replication data
 * when \p repl_only). */
static int peer_metrics(const node_status_t *s, ks_buf_t *out,
			const peer_metric_t *m, size_t n, bool repl_only)
{
	int ret = 0;

	for (; n > 0; m++, n--) {
		ret |= head(out, m->name, m->type, m->help);
		for (const node_status_peer_t *p = s->peers;
		     p < s->peers + s->n_peers; p++)
			if (p->repl.present || !repl_only)
				ret |= series(out, m->name, p->name,
					      peer_value(p, m->off));
	}
	return ret;
}

#define PEER_METRICS(s, out, table, repl_only)                                 \
	peer_metrics(s, out, table, sizeof(table) / sizeof(table[0]), repl_only)

/* One metric over every peer with replication data. */
#define FOR_REPL_PEERS(s, p)                                                   \
	for (const node_status_peer_t *p = (s)->peers;                         \
	     p < (s)->peers + (s)->n_peers; p++)                               \
		if (p->repl.present)

static int peers_part(const node_status_t *s, ks_buf_t *out)
{
	int ret = 0;
	char rn[64];
	bool any_replica_side = false;

	if (s->n_peers == 0)
		return 0;
	ret |= head(out, "kdcsync_peer_up", GAUGE,
		    "1 while the TLS link to the peer is established.");
	for (const node_status_peer_t *p = s->peers; p < s->peers + s->n_peers;
	     p++)
		ret |= series(out, "kdcsync_peer_up", p->name, p->link_up);
	ret |= PEER_METRICS(s, out, link_metrics, false);

	ret |= head(out, "kdcsync_peer_link_role", GAUGE,
		    "1 for the way the peer's link goes: upstream (this node "
		    "follows it) or downstream (this node serves it, relayed "
		    "by a replica in a cascade).");
	FOR_REPL_PEERS(s, q)
	if (q->repl.link_role != NULL && q->repl.link_role[0])
		ret |= series2(out, "kdcsync_peer_link_role", q->name,
			       "link_role", q->repl.link_role, 1);
	ret |= head(out, "kdcsync_peer_relayed", GAUGE,
		    "1 while this node, a replica, serves the peer as a relay "
		    "(the primary's signed batches, unchanged).");
	FOR_REPL_PEERS(s, q)
	ret |= series(out, "kdcsync_peer_relayed", q->name, q->repl.relayed);
	ret |= head(out, "kdcsync_peer_streaming", GAUGE,
		    "1 while replication with the peer streams changes.");
	FOR_REPL_PEERS(s, q)
	ret |= series(out, "kdcsync_peer_streaming", q->name,
		      strcmp(q->repl.state, "stream") == 0);
	ret |= PEER_METRICS(s, out, repl_metrics, true);
	ret |= head(out, "kdcsync_peer_sessions_total", COUNTER,
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
	ret |= head(out, "kdcsync_peer_errors_total", COUNTER,
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
