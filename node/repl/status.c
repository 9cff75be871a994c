/* SPDX-License-Identifier: MIT */
/*
 * The engine's part of `kdcsync status` (text and JSON; the JSON member
 * names are a contract, DESIGN.md §4).
 */
#include <inttypes.h>
#include <string.h>

#include "common/errors.h"
#include "common/time.h"
#include "node/repl/repl_int.h"

/*
 * The "capture" object.  hook_notifications and hook_changes (from the
 * retired kadm5_hook) keep their names and now count the KDB module's
 * reports and the changes they logged; everything else was added with the
 * module.
 */
static int capture_json(node_repl_t *r, ks_buf_t *out)
{
	const repl_report_stats_t *st = &r->reports;
	int ret = ks_buf_appendf(
		out,
		",\"capture\":{\"scans\":%" PRIu64 ",\"last_scan_ms\":%" PRIu64
		",\"hook_notifications\":%" PRIu64 ",\"hook_changes\":%" PRIu64
		",\"module_reports\":%" PRIu64 ",\"module_changes\":%" PRIu64
		",\"reports\":{",
		r->scans, r->last_scan_us / 1000, st->messages, r->cap_changes,
		st->messages, r->cap_changes);
	for (unsigned k = 1; ret == KS_EOK && k < KS_REPORT_KIND_COUNT; k++)
		ret = ks_buf_appendf(out, "%s\"%s\":%" PRIu64, k > 1 ? "," : "",
				     ks_report_kind_name(k), st->by_kind[k]);
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
				     st->dropped, st->malformed,
				     st->lockout_ignored, r->cap_failed,
				     r->scan_changes, r->scans_skipped,
				     r->scan_skipped_names);
	if (ret == KS_EOK)
		ret = ks_buf_append_json_str(out, r->last_scan_reason);
	if (ret == KS_EOK)
		ret = ks_buf_appendf(out, "}");
	return ret;
}

int node_repl_status(node_repl_t *r, bool json, ks_buf_t *out)
{
	int ret;

	if (r->disabled[0] && json) {
		ret = ks_buf_appendf(out, ",\"replication_disabled\":");
		return ret == KS_EOK ? ks_buf_append_json_str(out, r->disabled)
				     : ret;
	}
	if (r->disabled[0])
		return ks_buf_appendf(out, "replication: DISABLED: %s\n",
				      r->disabled);
	if (r->kdb_full[0]) {
		ret = json ? ks_buf_appendf(out, ",\"kdb_full\":")
			   : ks_buf_appendf(out, "kdb:       %s\n",
					    r->kdb_full);
		if (ret == KS_EOK && json)
			ret = ks_buf_append_json_str(out, r->kdb_full);
		if (ret != KS_EOK)
			return ret;
	}
	if (json)
		return capture_json(r, out);
	if (r->role != REPL_ROLE_PRIMARY)
		return KS_EOK;
	const repl_report_stats_t *st = &r->reports;
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
		st->messages, r->cap_changes,
		st->by_kind[KS_REPORT_PRINC_PUT] +
			st->by_kind[KS_REPORT_PRINC_DEL],
		st->by_kind[KS_REPORT_POLICY_PUT] +
			st->by_kind[KS_REPORT_POLICY_DEL],
		st->by_kind[KS_REPORT_LOCKOUT], st->by_kind[KS_REPORT_MKEY],
		st->by_kind[KS_REPORT_LOAD], st->dropped, st->malformed,
		st->lockout_ignored, r->cap_failed, r->scans,
		r->last_scan_reason[0] ? r->last_scan_reason : "none",
		r->last_scan_us / 1000, r->scan_changes, r->scans_skipped,
		r->scan_skipped_names);
}

int node_repl_peer_status(node_repl_t *r, const char *name, bool json,
			  ks_buf_t *out)
{
	repl_peer_t *p;
	store_meta_t m;
	uint64_t pos = 0, last = 0, lag_s = 0;
	const char *state;

	for (p = r->peers; p != NULL; p = p->next)
		if (strcmp(p->name, name) == 0)
			break;
	if (p == NULL || node_repl__meta(r->store, &m) != KS_EOK)
		return KS_EOK;
	state = p->link ? repl_sm_state_name(p->link->sm.state) : "down";
	if (r->role == REPL_ROLE_PRIMARY) {
		pos = p->have_ack ? p->acked : 0;
		last = m.last_seq;
		if (p->link && p->link->sm.pos < p->link->sm.sent)
			lag_s = (uv_now(r->loop) - p->link->sm.sent_at_ms) /
				1000;
	} else {
		pos = m.applied_seq;
		last = p->peer_last_seq > pos ? p->peer_last_seq : pos;
		if (last > pos && p->last_commit_us)
			lag_s = (ks_real_us() - p->last_commit_us) / 1000000;
	}
	if (json) {
		int ret = ks_buf_appendf(
			out,
			",\"repl\":{\"state\":\"%s\",\"position\":%" PRIu64
			",\"peer_last_seq\":%" PRIu64
			",\"lag_changes\":%" PRIu64 ",\"lag_s\":%" PRIu64
			",\"batches\":%" PRIu64 ",\"changes\":%" PRIu64
			",\"full_transfers\":%" PRIu64
			",\"incremental_sessions\":%" PRIu64
			",\"last_apply_latency_ms\":%" PRIu64
			",\"last_session\":",
			state, pos, last, last - pos, lag_s, p->batches, p->ops,
			p->full_transfers, p->incremental_sessions,
			p->last_apply_us > p->last_commit_us
				? (p->last_apply_us - p->last_commit_us) / 1000
				: 0);
		if (ret == KS_EOK)
			ret = ks_buf_append_json_str(out, p->last_session);
		if (ret == KS_EOK)
			ret = ks_buf_appendf(out, ",\"last_error\":");
		if (ret == KS_EOK)
			ret = p->last_error[0] ? ks_buf_append_json_str(
							 out, p->last_error)
					       : ks_buf_appendf(out, "null");
		if (ret == KS_EOK)
			ret = ks_buf_appendf(out, "}");
		return ret;
	}
	return ks_buf_appendf(
		out,
		"    replication: %s; %s %" PRIu64 " of %" PRIu64
		" (lag %" PRIu64 " changes, %" PRIu64 " s); %" PRIu64
		" batches, %" PRIu64 " changes; full %" PRIu64
		", incremental %" PRIu64
		"\n    last session: %s\n    replication error: %s\n",
		state, r->role == REPL_ROLE_PRIMARY ? "acked" : "applied", pos,
		last, last - pos, lag_s, p->batches, p->ops, p->full_transfers,
		p->incremental_sessions,
		p->last_session[0] ? p->last_session : "none",
		p->last_error[0] ? p->last_error : "none");
}
