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
		return ks_buf_appendf(out,
				      ",\"capture\":{\"scans\":%" PRIu64
				      ",\"last_scan_ms\":%" PRIu64
				      ",\"hook_notifications\":%" PRIu64
				      ",\"hook_changes\":%" PRIu64 "}",
				      r->scans, r->last_scan_us / 1000,
				      r->hook_msgs, r->hook_changes);
	if (r->role != REPL_ROLE_PRIMARY)
		return KS_EOK;
	return ks_buf_appendf(out,
			      "capture:   %" PRIu64 " scans (last %" PRIu64
			      " ms), hook: %" PRIu64 " notifications, %" PRIu64
			      " changes\n",
			      r->scans, r->last_scan_us / 1000, r->hook_msgs,
			      r->hook_changes);
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
