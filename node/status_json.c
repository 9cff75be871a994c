/* SPDX-License-Identifier: MIT */
/*
 * `kdcsync status --json`: the JSON renderer of node_status_t.  Member
 * names and their order are a contract (DESIGN.md §4): new members are
 * appended, none is renamed or removed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "node/status.h"

/* A string member value, or null for "". */
static int str_or_null(ks_buf_t *out, const char *s)
{
	return s[0] ? ks_buf_append_json_str(out, s)
		    : ks_buf_appendf(out, "null");
}

static int hist_json(ks_buf_t *out, const char *name, const ks_hist_t *h)
{
	int ret = ks_buf_appendf(
		out, ",\"%s\":{\"count\":%" PRIu64 ",\"sum_ms\":%" PRIu64 "}",
		name, h->count, h->sum_us / 1000);
	return ret;
}

/* "drift": the replica's periodic KDB-against-store check; "keys" holds
 * the first differing keys as "what: KEY". */
static int drift_json(const node_status_repl_t *r, ks_buf_t *out)
{
	const node_status_drift_t *d = &r->drift;
	char when[32];
	int ret;

	node_status_iso((time_t)(d->checked_us / 1000000u), when, sizeof(when));
	ret = ks_buf_appendf(
		out,
		",\"drift\":{\"interval_s\":%" PRIu64 ",\"checks\":%" PRIu64
		",\"records\":%" PRIu64 ",\"seq\":%" PRIu64 ",\"checked_at\":",
		r->drift_interval_ms / 1000, d->checks, d->records, d->seq);
	if (ret == KS_EOK)
		ret = d->checked_us ? ks_buf_append_json_str(out, when)
				    : ks_buf_appendf(out, "null");
	if (ret == KS_EOK)
		ret = ks_buf_appendf(out, ",\"keys\":[");
	/* lines "  what:   KEY": one "what: KEY" string each */
	const char *p = r->drift_keys;
	for (bool first = true; ret == KS_EOK && *p != '\0'; first = false) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[600], item[600];
		size_t n = 0;
		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		/* squeeze the alignment blanks */
		for (const char *c = line; *c != '\0' && n + 1 < sizeof(item);
		     c++)
			if (*c != ' ' || (n > 0 && item[n - 1] != ' '))
				item[n++] = *c;
		item[n] = '\0';
		ret = ks_buf_appendf(out, "%s", first ? "" : ",");
		if (ret == KS_EOK)
			ret = ks_buf_append_json_str(out, item);
		p = nl ? nl + 1 : p + len;
	}
	return ret == KS_EOK ? ks_buf_appendf(out, "]}") : ret;
}

static int repl_json(const node_status_repl_t *r, ks_buf_t *out)
{
	int ret;

	if (!r->present)
		return KS_EOK;
	if (r->disabled[0]) {
		ret = ks_buf_appendf(out, ",\"replication_disabled\":");
		return ret ? ret : ks_buf_append_json_str(out, r->disabled);
	}
	if (r->kdb_full[0]) {
		ret = ks_buf_appendf(out, ",\"kdb_full\":");
		if (ret == KS_EOK)
			ret = ks_buf_append_json_str(out, r->kdb_full);
		if (ret != KS_EOK)
			return ret;
	}
	if (r->kdb_state[0]) {
		ret = ks_buf_appendf(out, ",\"kdb\":{\"state\":");
		if (ret == KS_EOK)
			ret = ks_buf_append_json_str(out, r->kdb_state);
		if (ret == KS_EOK)
			ret = ks_buf_appendf(out, ",\"error\":");
		if (ret == KS_EOK)
			ret = str_or_null(out, r->kdb_error);
		if (ret == KS_EOK)
			ret = ks_buf_appendf(out,
					     ",\"checks\":%" PRIu64
					     ",\"rebuilds\":%" PRIu64
					     ",\"last_rebuild\":",
					     r->kdb_checks, r->kdb_rebuilds);
		if (ret == KS_EOK)
			ret = str_or_null(out, r->kdb_last_rebuild);
		if (ret == KS_EOK)
			ret = ks_buf_appendf(out, "}");
		if (ret != KS_EOK)
			return ret;
	}
	if (r->kdb_state[0]) {
		ret = drift_json(r, out);
		if (ret != KS_EOK)
			return ret;
	}
	/* hook_notifications and hook_changes (from the retired kadm5_hook)
	 * keep their names and count the KDB module's reports */
	ret = ks_buf_appendf(
		out,
		",\"capture\":{\"scans\":%" PRIu64 ",\"last_scan_ms\":%" PRIu64
		",\"hook_notifications\":%" PRIu64 ",\"hook_changes\":%" PRIu64
		",\"module_reports\":%" PRIu64 ",\"module_changes\":%" PRIu64
		",\"reports\":{",
		r->scans, r->last_scan_us / 1000, r->hook_notifications,
		r->hook_changes, r->hook_notifications, r->hook_changes);
	for (unsigned k = 1; ret == KS_EOK && k < KS_REPORT_KIND_COUNT; k++)
		ret = ks_buf_appendf(out, "%s\"%s\":%" PRIu64, k > 1 ? "," : "",
				     ks_report_kind_name(k),
				     r->reports_by_kind[k]);
	if (ret == KS_EOK)
		ret = ks_buf_appendf(out,
				     "},\"reports_dropped\":%" PRIu64
				     ",\"reports_malformed\":%" PRIu64
				     ",\"lockout_ignored\":%" PRIu64
				     ",\"capture_failed\":%" PRIu64
				     ",\"scan_changes\":%" PRIu64
				     ",\"scans_skipped\":%" PRIu64
				     ",\"scan_skipped_names\":%" PRIu64
				     ",\"last_scan_reason\":",
				     r->reports_dropped, r->reports_malformed,
				     r->lockout_ignored, r->capture_failed,
				     r->scan_changes, r->scans_skipped,
				     r->scan_skipped_names);
	if (ret == KS_EOK)
		ret = ks_buf_append_json_str(out, r->last_scan_reason);
	if (ret == KS_EOK)
		ret = ks_buf_appendf(out,
				     ",\"scan_running\":%s"
				     ",\"scan_progress\":%" PRIu64
				     ",\"scans_pending\":%" PRIu64
				     ",\"startup\":",
				     r->scan_running ? "true" : "false",
				     r->scan_progress, r->scans_pending);
	if (ret == KS_EOK)
		ret = str_or_null(out, r->startup);
	if (ret == KS_EOK)
		ret = ks_buf_appendf(out, ",\"startup_error\":");
	if (ret == KS_EOK)
		ret = str_or_null(out, r->startup_error);
	if (ret == KS_EOK)
		ret = ks_buf_appendf(out,
				     ",\"startup_failures\":%" PRIu64
				     ",\"startup_retry_ms\":%" PRId64,
				     r->startup_failures, r->startup_retry_ms);
	if (ret == KS_EOK)
		ret = ks_buf_appendf(
			out,
			"},\"sync\":{\"wanted\":%" PRIu64
			",\"timeout_ms\":%" PRIu64 ",\"state\":\"%s\""
			",\"waiting\":%" PRIu64 ",\"degradations\":%" PRIu64
			",\"acked\":%" PRIu64 ",\"timeouts\":%" PRIu64 "}",
			r->sync_wanted, r->sync_timeout_ms, r->sync_state,
			r->sync_waiting, r->sync_degradations, r->sync_acked,
			r->sync_timeouts);
	if (ret == KS_EOK)
		ret = ks_buf_appendf(
			out,
			",\"lockout\":{\"replicate\":%s,\"reports\":%" PRIu64
			",\"coalesced\":%" PRIu64 ",\"pending\":%" PRIu64
			",\"overflow\":%" PRIu64 ",\"flushes\":%" PRIu64
			",\"sent\":%" PRIu64 ",\"unsent\":%" PRIu64
			",\"ignored_reports\":%" PRIu64 ",\"received\":%" PRIu64
			",\"merged\":%" PRIu64 ",\"unchanged\":%" PRIu64
			",\"rejected\":%" PRIu64 ",\"dropped\":%" PRIu64
			",\"failed\":%" PRIu64 ",\"gone\":%" PRIu64
			",\"forwarded\":%" PRIu64 "}",
			r->lockout_on ? "true" : "false", r->lockout_reports,
			r->lockout_coalesced, r->lockout_pending,
			r->lockout_overflow, r->lockout_flushes,
			r->lockout_sent, r->lockout_unsent,
			r->lockout_ignored_reports, r->lockout_received,
			r->lockout_merged, r->lockout_unchanged,
			r->lockout_rejected, r->lockout_dropped,
			r->lockout_failed, r->lockout_gone,
			r->lockout_forwarded);
	return ret;
}

static int kprop_json(const node_status_kprop_t *k, ks_buf_t *out)
{
	char when[32];
	int ret = 0;

	if (!k->present)
		return KS_EOK;
	ret |= ks_buf_appendf(out, ",\"kprop\":{\"peers\":[");
	for (size_t i = 0; i < k->n_peers; i++) {
		const node_status_kprop_peer_t *p = &k->peers[i];
		node_status_iso(p->last_start, when, sizeof(when));
		ret |= ks_buf_appendf(out, "%s{\"name\":", i ? "," : "");
		ret |= ks_buf_append_json_str(out, p->name);
		ret |= ks_buf_appendf(out, ",\"address\":");
		ret |= ks_buf_append_json_str(out, p->host);
		ret |= ks_buf_appendf(
			out,
			",\"port\":%u,\"running\":%s,\"last_push\":\"%s\",\"last_duration_ms\":%" PRIu64
			",\"last_bytes\":%" PRIu64 ",\"pushes\":%" PRIu64
			",\"failures\":%" PRIu64 ",\"last_result\":",
			p->port, p->running ? "true" : "false", when,
			p->last_ms, p->last_bytes, p->pushes, p->failures);
		ret |= ks_buf_append_json_str(out, p->last_result);
		ret |= ks_buf_appendf(out, "}");
	}
	ret |= ks_buf_appendf(out, "]");
	if (k->listening) {
		node_status_iso(k->last_at, when, sizeof(when));
		ret |= ks_buf_appendf(
			out,
			",\"listener\":{\"port\":%u,\"transfers\":%" PRIu64
			",\"refused\":%" PRIu64
			",\"last_at\":\"%s\",\"last_result\":",
			k->listen_port, k->transfers, k->refused, when);
		ret |= ks_buf_append_json_str(out, k->last_result);
		ret |= ks_buf_appendf(out, "}");
	}
	ret |= ks_buf_appendf(out, "}");
	return ret ? KS_ENOMEM : KS_EOK;
}

static int peer_repl_json(const node_status_repl_peer_t *r, ks_buf_t *out)
{
	int ret = 0;

	if (!r->present)
		return KS_EOK;
	ret |= ks_buf_appendf(
		out,
		",\"repl\":{\"state\":\"%s\",\"position\":%" PRIu64
		",\"peer_last_seq\":%" PRIu64 ",\"lag_changes\":%" PRIu64
		",\"lag_s\":%" PRIu64 ",\"batches\":%" PRIu64
		",\"changes\":%" PRIu64 ",\"full_transfers\":%" PRIu64
		",\"incremental_sessions\":%" PRIu64
		",\"last_apply_latency_ms\":%" PRIu64 ",\"last_session\":",
		r->state, r->position, r->peer_last_seq, r->lag_changes,
		r->lag_s, r->batches, r->changes, r->full_transfers,
		r->incremental_sessions, r->last_apply_latency_ms);
	ret |= ks_buf_append_json_str(out, r->last_session);
	ret |= ks_buf_appendf(out, ",\"last_error\":");
	ret |= str_or_null(out, r->last_error);
	ret |= ks_buf_appendf(out, ",\"errors\":{");
	for (size_t i = 0; i < r->n_errors; i++)
		ret |= ks_buf_appendf(out, "%s\"%s\":%" PRIu64, i ? "," : "",
				      ks_errname(r->errors[i].code),
				      r->errors[i].count);
	ret |= ks_buf_appendf(out, "}");
	ret |= ks_buf_appendf(out, ",\"link_role\":");
	ret |= str_or_null(out, r->link_role ? r->link_role : "");
	ret |= ks_buf_appendf(out, ",\"relayed\":%s",
			      r->relayed ? "true" : "false");
	if (!r->primary) {
		ret |= hist_json(out, "propagation", &r->propagation);
		ret |= hist_json(out, "apply", &r->apply);
	}
	ret |= ks_buf_appendf(out, "}");
	return ret ? KS_ENOMEM : KS_EOK;
}

int node_status_json(const node_status_t *s, ks_buf_t *out)
{
	int ret = 0;

	ret |= ks_buf_appendf(out, "{\"node\":");
	ret |= ks_buf_append_json_str(out, s->name);
	ret |= ks_buf_appendf(
		out,
		",\"role\":\"%s\",\"role_source\":\"%s\","
		"\"promoted\":%s,\"pid\":%ld,\"uptime_s\":%" PRIu64,
		s->role, s->role_source, s->promoted ? "true" : "false", s->pid,
		s->uptime_s);
	if (s->have_meta)
		ret |= ks_buf_appendf(
			out,
			",\"history\":\"%s\",\"last_seq\":%" PRIu64
			",\"applied_history\":\"%s\",\"applied_seq\":%" PRIu64
			",\"records\":%" PRIu64,
			s->history, s->last_seq, s->applied_history,
			s->applied_seq, s->records);
	ret |= ks_buf_appendf(out, ",\"config\":");
	ret |= ks_buf_append_json_str(out, s->config);
	ret |= ks_buf_appendf(out,
			      ",\"reloads\":%" PRIu64
			      ",\"reloads_rejected\":%" PRIu64
			      ",\"last_reload_error\":",
			      s->reloads, s->reloads_rejected);
	ret |= str_or_null(out, s->reload_error);
	if (s->have_net)
		ret |= ks_buf_appendf(
			out,
			",\"connections\":{\"handshakes\":%" PRIu64
			",\"refused\":%" PRIu64 ",\"evicted\":%" PRIu64 "}",
			s->handshakes, s->refused, s->evicted);
	if (s->have_usage)
		ret |= ks_buf_appendf(out,
				      ",\"store\":{\"map_bytes\":%" PRIu64
				      ",\"used_bytes\":%" PRIu64 "}",
				      s->store_map_bytes, s->store_used_bytes);
	if (s->loop.present)
		ret |= ks_buf_appendf(
			out,
			",\"loop\":{\"iterations\":%" PRIu64
			",\"busy_ms\":%" PRIu64 ",\"busy_max_us\":%" PRIu64
			",\"busy_max_60s_us\":%" PRIu64
			",\"busy_max_2s_us\":%" PRIu64 ",\"over_10ms\":%" PRIu64
			",\"over_100ms\":%" PRIu64 ",\"cpu_max_us\":%" PRIu64
			",\"cpu_max_2s_us\":%" PRIu64
			",\"cpu_over_10ms\":%" PRIu64 "}",
			s->loop.iterations, s->loop.busy_us / 1000,
			s->loop.busy_max_us, s->loop.busy_max_60s_us,
			s->loop.busy_max_2s_us, s->loop.over_10ms,
			s->loop.over_100ms, s->loop.cpu_max_us,
			s->loop.cpu_max_2s_us, s->loop.cpu_over_10ms);
	/* both directions of a cascade (PROTOCOL.md §3.13) */
	ret |= ks_buf_appendf(out, ",\"upstream\":");
	ret |= str_or_null(out, s->upstream);
	ret |= ks_buf_appendf(out, ",\"downstream\":[");
	size_t nd = 0;
	for (size_t i = 0; i < s->n_peers; i++) {
		const node_status_repl_peer_t *q = &s->peers[i].repl;
		if (!q->present || q->link_role == NULL ||
		    strcmp(q->link_role, "downstream") != 0)
			continue;
		ret |= ks_buf_appendf(out, "%s", nd++ ? "," : "");
		ret |= ks_buf_append_json_str(out, s->peers[i].name);
	}
	ret |= ks_buf_appendf(
		out, "],\"relay\":%s",
		nd > 0 && strcmp(s->role, "replica") == 0 ? "true" : "false");
	ret |= repl_json(&s->repl, out);
	ret |= kprop_json(&s->kprop, out);
	ret |= ks_buf_appendf(out, ",\"peers\":[");
	for (size_t i = 0; i < s->n_peers; i++) {
		const node_status_peer_t *p = &s->peers[i];
		ret |= ks_buf_appendf(out, "%s{\"name\":", i ? "," : "");
		ret |= ks_buf_append_json_str(out, p->name);
		ret |= ks_buf_appendf(out,
				      ",\"mode\":\"%s\",\"state\":", p->mode);
		ret |= ks_buf_append_json_str(out, p->state);
		ret |= ks_buf_appendf(
			out, ",\"direction\":\"%s\",\"remote\":", p->direction);
		ret |= ks_buf_append_json_str(out, p->remote);
		ret |= ks_buf_appendf(
			out,
			",\"connected_s\":%" PRIu64 ",\"connects\":%" PRIu64
			",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
			",\"last_error\":",
			p->link_up ? p->connected_s : 0, p->connects,
			p->bytes_in, p->bytes_out);
		ret |= str_or_null(out, p->last_error);
		ret |= peer_repl_json(&p->repl, out);
		ret |= ks_buf_appendf(out, "}");
	}
	ret |= ks_buf_appendf(out, "]}\n");
	return ret ? KS_ENOMEM : KS_EOK;
}
