/* SPDX-License-Identifier: MIT */
/*
 * The replica's side of a link: signed blobs from the primary are opened
 * (signature checked), given to the state machine, and performed: a batch
 * is applied (KDB, then store), a snapshot chunk is staged (store stage
 * and side KDB), a snapshot end installs the snapshot (digest checked, the
 * side KDB renamed over the live one, then the staged store set switched
 * in).  Also the adoption of a promoted primary's new history.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/time.h"
#include "node/repl/repl_int.h"
#include "proto/batch.h"
#include "proto/snap.h"

void node_repl__note_peer_last(node_repl_link_t *l, uint64_t seq)
{
	if (seq > l->peer->peer_last_seq)
		l->peer->peer_last_seq = seq;
}

void node_repl__load_abort(node_repl_link_t *l)
{
	if (l->load != NULL) {
		bridge_load_abort(l->load);
		l->load = NULL;
	}
}

int node_repl__adopt_history(node_repl_link_t *l, const uint8_t history[16],
			     uint64_t seq)
{
	store_meta_t meta;
	int ret = node_repl__meta(l->r->store, &meta);

	if (ret == KS_EOK)
		ret = store_adopt_history(l->r->store, history,
					  meta.applied_history, seq);
	if (ret == KS_EOK)
		ks_log_notice(REPL,
			      "'%s': following the primary's new "
			      "history from seq %" PRIu64,
			      l->peer->name, seq);
	return ret;
}

int node_repl__stage_begin(node_repl_link_t *l, uint64_t seq)
{
	node_repl_t *r = l->r;
	int ret;

	node_repl__load_abort(l);
	l->snap_records = 0;
	l->t_session_us = ks_real_us();
	l->snap_bytes = 0;
	ret = store_stage_begin(r->store);
	if (ret == KS_EOK)
		ret = bridge_load_begin(r->bridge, &l->load);
	if (ret == KS_EOK)
		ks_log_notice(REPL,
			      "'%s': receiving a full snapshot at seq %" PRIu64,
			      l->peer->name, seq);
	return ret;
}

static int to_changes(const proto_batch_t *b, store_change_t **out)
{
	store_change_t *ch =
		calloc(b->hdr.op_count ? b->hdr.op_count : 1, sizeof(*ch));

	if (ch == NULL)
		return KS_ENOMEM;
	for (uint32_t i = 0; i < b->hdr.op_count; i++) {
		ch[i].op =
			b->ops[i].type == PROTO_OP_PUT ? STORE_PUT : STORE_DEL;
		ch[i].key = b->ops[i].key;
		ch[i].value = b->ops[i].value;
	}
	*out = ch;
	return KS_EOK;
}

/* KDB first, then records + log + position in one store transaction: a
 * crash in between replays an idempotent batch. */
static int apply_batch(node_repl_link_t *l, const proto_batch_t *b)
{
	node_repl_t *r = l->r;
	store_change_t *ch = NULL;
	store_batch_t sb = { .first_seq = b->hdr.first_seq,
			     .commit_time_us = b->hdr.commit_time_us };
	uint64_t avail, need;
	int ret = to_changes(b, &ch);

	if (ret != KS_EOK)
		return ret;
	/* Never a write the KDB's file system cannot hold (bridge.h). */
	ret = bridge_kdb_room(r->bridge, ch, b->hdr.op_count, &avail, &need);
	if (ret == KS_EKDBFULL)
		snprintf(r->kdb_full, sizeof(r->kdb_full),
			 "KDB filesystem full (%" PRIu64 " bytes free, %" PRIu64
			 " needed): not applying until there is room",
			 avail, need);
	else
		ret = bridge_apply(r->bridge, ch, b->hdr.op_count);
	if (ret == KS_EOK)
		r->kdb_full[0] = '\0';
	if (ret != KS_EOK) {
		ks_log_err(REPL,
			   "'%s': applying batch %" PRIu64 "..%" PRIu64
			   " to the KDB failed (%s)",
			   l->peer->name, b->hdr.first_seq, b->hdr.last_seq,
			   ks_strerror(ret));
		goto out;
	}
	memcpy(sb.history, b->hdr.history, 16);
	sb.ch = ch;
	sb.n = b->hdr.op_count;
	ret = store_apply(r->store, &sb);
	if (ret != KS_EOK)
		ks_log_err(REPL,
			   "'%s': storing batch %" PRIu64 "..%" PRIu64
			   " failed (%s)",
			   l->peer->name, b->hdr.first_seq, b->hdr.last_seq,
			   ks_strerror(ret));
out:
	free(ch);
	return ret;
}

static int stage_chunk(node_repl_link_t *l, const proto_batch_t *b)
{
	store_change_t *ch = NULL;
	uint64_t avail, need;
	int ret = to_changes(b, &ch);

	if (ret != KS_EOK)
		return ret;
	/* the side database grows by this chunk: room for it first */
	ret = bridge_kdb_room(l->r->bridge, ch, b->hdr.op_count, &avail, &need);
	if (ret == KS_EKDBFULL)
		snprintf(l->r->kdb_full, sizeof(l->r->kdb_full),
			 "KDB filesystem full (%" PRIu64 " bytes free, %" PRIu64
			 " needed): snapshot abandoned until there is room",
			 avail, need);
	if (ret == KS_EOK)
		ret = store_stage_put(l->r->store, ch, b->hdr.op_count);
	for (uint32_t i = 0; ret == KS_EOK && i < b->hdr.op_count; i++)
		ret = bridge_load_put(l->load, ch[i].key, ch[i].value);
	l->snap_records += b->hdr.op_count;
	free(ch);
	return ret;
}

/* Check the staged set against the signed end, then the KDB first (a
 * crash before the store switch only repeats the transfer), then the
 * store. */
static int install(node_repl_link_t *l, const proto_snap_end_t *e)
{
	node_repl_t *r = l->r;
	uint8_t digest[32];
	uint64_t count = 0;
	int ret = store_stage_info(r->store, digest, &count);

	if (ret != KS_EOK)
		return ret;
	if (memcmp(digest, e->digest, 32) != 0 || count != e->record_count) {
		ks_log_err(REPL,
			   "'%s': snapshot digest differs from the signed "
			   "one; nothing installed",
			   l->peer->name);
		return KS_EDIGEST;
	}
	ret = bridge_load_commit(l->load);
	l->load = NULL;
	if (ret != KS_EOK) {
		ks_log_err(REPL, "'%s': installing the loaded KDB failed (%s)",
			   l->peer->name, ks_strerror(ret));
		return ret;
	}
	ret = store_stage_promote(r->store, e->history, e->seq, e->digest);
	if (ret != KS_EOK)
		ks_log_err(REPL,
			   "'%s': switching in the staged store failed (%s)",
			   l->peer->name, ks_strerror(ret));
	return ret;
}

/* A blob that does not open: reset with "rejected", nothing applied. */
static void rejected(node_repl_link_t *l, const proto_msg_t *m, int code,
		     uint64_t now)
{
	const char *what = m->type == PROTO_MSG_BATCH	     ? "batch"
			   : m->type == PROTO_MSG_SNAP_CHUNK ? "snapshot chunk"
							     : "snapshot end";
	repl_sm_action_t act = {
		.type = REPL_ACT_RESET,
		.code = code,
		.send_error = true,
		.reason = m->type == PROTO_MSG_BATCH ? "batch rejected"
						     : "snapshot rejected",
	};
	repl_sm_event_t le = { .type = REPL_EV_LOCAL_ERROR,
			       .code = code,
			       .now_ms = now };
	repl_sm_action_t ignored;

	ks_log_err(REPL, "'%s': %s rejected (%s); nothing applied",
		   l->peer->name, what, ks_strerror(code));
	repl_sm_step(&l->sm, &le, &ignored); /* back to IDLE */
	node_repl__reset_link(l, &act);
}

static int applied_batch(node_repl_link_t *l, const proto_batch_t *b,
			 uint64_t now)
{
	uint64_t t0 = ks_mono_ns();
	int ret = apply_batch(l, b);

	if (ret != KS_EOK)
		return ret;
	l->peer->batches++;
	l->peer->ops += b->hdr.op_count;
	l->peer->last_commit_us = b->hdr.commit_time_us;
	l->peer->last_apply_us = ks_real_us();
	ks_hist_observe(&l->peer->apply, (ks_mono_ns() - t0) / 1000);
	/* capture -> applied, as this replica sees it (its clock against
	 * the primary's commit time in the batch header) */
	ks_hist_observe(&l->peer->propagation,
			l->peer->last_apply_us > b->hdr.commit_time_us
				? l->peer->last_apply_us - b->hdr.commit_time_us
				: 0);
	ks_log_info(REPL,
		    "'%s': applied batch %" PRIu64 "..%" PRIu64 " (%u changes)",
		    l->peer->name, b->hdr.first_seq, b->hdr.last_seq,
		    b->hdr.op_count);
	repl_sm_event_t ap = { .type = REPL_EV_APPLIED,
			       .history = b->hdr.history,
			       .seq = b->hdr.last_seq,
			       .now_ms = now };
	node_repl__feed(l, &ap);
	return KS_EOK;
}

static int installed(node_repl_link_t *l, const proto_snap_end_t *e,
		     uint64_t now)
{
	repl_peer_t *p = l->peer;
	int ret = install(l, e);

	if (ret != KS_EOK)
		return ret;
	node_repl__note_peer_last(l, e->seq);
	l->r->kdb_full[0] = '\0';
	p->full_transfers++;
	l->r->no_rewind = false; /* the new position is the primary's */
	snprintf(p->last_session, sizeof(p->last_session),
		 "full snapshot at seq %" PRIu64 " (%" PRIu64
		 " records, %" PRIu64 " ms)",
		 e->seq, e->record_count,
		 (ks_real_us() - l->t_session_us) / 1000);
	ks_log_notice(REPL, "'%s': %s", p->name, p->last_session);
	node_repl__log_transfer(l, "receive", e->history, e->seq,
				e->record_count, l->snap_bytes,
				(ks_real_us() - l->t_session_us) / 1000);
	repl_sm_event_t ap = { .type = REPL_EV_APPLIED,
			       .history = e->history,
			       .seq = e->seq,
			       .now_ms = now };
	node_repl__feed(l, &ap);
	return KS_EOK;
}

int node_repl__on_blob(node_repl_link_t *l, const proto_msg_t *m, uint64_t now)
{
	node_repl_t *r = l->r;
	repl_sm_event_t ev = { .type = REPL_EV_MSG, .msg = m, .now_ms = now };
	repl_sm_action_t act;
	proto_batch_t b = { 0 };
	proto_snap_end_t e;
	int ret;

	if (r->role != REPL_ROLE_REPLICA) {
		node_repl__feed(l, &ev); /* not valid at a primary: reset */
		return KS_EOK;
	}
	if (m->type != PROTO_MSG_BATCH)
		l->snap_bytes += m->u.blob.len;
	if (m->type == PROTO_MSG_SNAP_END) {
		ret = proto_snap_end_open(m->u.blob, r->trust, &e);
		ev.end = &e;
	} else {
		ret = proto_batch_open(m->u.blob,
				       m->type == PROTO_MSG_BATCH
					       ? PROTO_BLOB_BATCH
					       : PROTO_BLOB_CHUNK,
				       r->trust, NULL, &b);
		ev.hdr = &b.hdr;
	}
	if (ret != KS_EOK) {
		rejected(l, m, ret, now);
		proto_batch_deinit(&b);
		return KS_EOK;
	}
	if (m->type == PROTO_MSG_BATCH)
		node_repl__note_peer_last(l, b.hdr.last_seq);
	repl_sm_step(&l->sm, &ev, &act);
	switch (act.type) {
	case REPL_ACT_APPLY_BATCH:
		ret = applied_batch(l, &b, now);
		break;
	case REPL_ACT_STAGE_CHUNK:
		ret = stage_chunk(l, &b);
		break;
	case REPL_ACT_INSTALL:
		ret = installed(l, &e, now);
		break;
	default:
		node_repl__do_action(l, &act);
		ret = KS_EOK;
		break;
	}
	proto_batch_deinit(&b);
	if (ret != KS_EOK)
		node_repl__local_error(l, ret);
	return KS_EOK;
}
