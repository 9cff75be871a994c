/* SPDX-License-Identifier: MIT */
/*
 * One key=value line (common/logfmt.h) per replication session and per
 * full transfer, for journald and log shippers; sessions that end in an
 * error are also counted by reason for the metrics (node/status.h).
 */
#include <inttypes.h>
#include <stdio.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/logfmt.h"
#include "common/time.h"
#include "node/repl/repl_int.h"

/* The seq this side stands at for the session: applied (replica) or the
 * peer's ack (primary). */
static uint64_t position(node_repl_link_t *l, char history[33])
{
	store_meta_t m;

	history[0] = '\0';
	if (node_repl__meta(l->r->store, &m) != KS_EOK)
		return 0;
	if (l->sm.role == REPL_ROLE_PRIMARY) {
		/* a relay serves the history it applied */
		ks_hex_encode(l->relay ? m.applied_history : m.history, 16,
			      history);
		return l->peer->have_ack ? l->peer->acked : 0;
	}
	ks_hex_encode(m.applied_history, 16, history);
	return m.applied_seq;
}

void node_repl__session_begin(node_repl_link_t *l)
{
	char h[33];

	l->sess_t0_ns = ks_mono_ns();
	l->sess_seq0 = position(l, h);
	l->sess_batches0 = l->peer->batches;
	l->sess_ops0 = l->peer->ops;
}

void node_repl__session_end(node_repl_link_t *l, int err, const char *reason)
{
	repl_peer_t *p = l->peer;
	char h[33];
	char peer[300], why[300];
	uint64_t to = position(l, h), in, out;

	node_repl__io_bytes(l, &in, &out);
	if (err != KS_EOK)
		node_status_count_error(p->errors, &p->n_errors, err);
	ks_log_notice(REPL,
		      "session peer=%s role=%s history=%s from_seq=%" PRIu64
		      " to_seq=%" PRIu64 " batches=%" PRIu64 " changes=%" PRIu64
		      " bytes_in=%" PRIu64 " bytes_out=%" PRIu64 " ms=%" PRIu64
		      " result=%s%s%s",
		      ks_logfmt(p->name, peer, sizeof(peer)),
		      l->relay				? "relay"
		      : l->sm.role == REPL_ROLE_PRIMARY ? "primary"
							: "replica",
		      h[0] ? h : "none", l->sess_seq0, to,
		      p->batches - l->sess_batches0, p->ops - l->sess_ops0, in,
		      out, (ks_mono_ns() - l->sess_t0_ns) / 1000000,
		      err == KS_EOK ? "ok" : ks_errname(err),
		      err != KS_EOK && reason ? " reason=" : "",
		      err != KS_EOK && reason
			      ? ks_logfmt(reason, why, sizeof(why))
			      : "");
}

void node_repl__log_transfer(node_repl_link_t *l, const char *direction,
			     const uint8_t history[16], uint64_t seq,
			     uint64_t records, uint64_t bytes, uint64_t ms)
{
	char peer[300], h[33];

	ks_hex_encode(history, 16, h);
	ks_log_notice(REPL,
		      "transfer peer=%s direction=%s kind=full history=%s "
		      "to_seq=%" PRIu64 " records=%" PRIu64 " bytes=%" PRIu64
		      " ms=%" PRIu64 " result=ok",
		      ks_logfmt(l->peer->name, peer, sizeof(peer)), direction,
		      h, seq, records, bytes, ms);
}
