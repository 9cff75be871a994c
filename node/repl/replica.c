/* SPDX-License-Identifier: MIT */
/*
 * The replica's side of a link: signed blobs from the primary are opened
 * (signature checked, decompressed) and performed on the database worker:
 * a batch is applied (KDB, then store), a snapshot chunk is staged (store
 * stage and side KDB), a snapshot end installs the snapshot (digest
 * checked, the side KDB renamed over the live one, then the staged store
 * set switched in).  Also the adoption of a promoted primary's new history.
 *
 * A blob takes two link jobs: "open" (worker), then the state machine
 * decides on the loop, then the action (worker), whose result comes back
 * as REPL_EV_APPLIED.  The link is busy throughout, so frames stay in
 * order.  The side KDB (r->load) belongs to the worker, which hands the
 * parsed records of each chunk to the side KDB's writer thread (loader.h)
 * and goes on with the next chunk while they are written; the install
 * waits for the writer first.  A transfer_phases log line says where a
 * copy's time went.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/logfmt.h"
#include "common/time.h"
#include "node/repl/loader.h"
#include "node/repl/repl_int.h"
#include "proto/batch.h"
#include "proto/snap.h"

void node_repl__note_peer_last(node_repl_link_t *l, uint64_t seq)
{
	if (seq > l->peer->peer_last_seq)
		l->peer->peer_last_seq = seq;
}

/* --- worker side --------------------------------------------------------- */

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
static int apply_batch(node_repl_t *r, const char *peer, const proto_batch_t *b,
		       ks_view_t blob, char *kdb_full, size_t kdb_full_len,
		       bool *kdb_failed)
{
	store_change_t *ch = NULL;
	store_batch_t sb = { .first_seq = b->hdr.first_seq,
			     .commit_time_us = b->hdr.commit_time_us };
	uint64_t avail, need;
	int ret = to_changes(b, &ch);

	if (ret != KS_EOK)
		return ret;
	if (!node_repl__kdb_usable(r)) {
		ret = KS_EKDBDAMAGED; /* kdb.c: status says why */
		goto out;
	}
	/* Never a write the KDB's file system cannot hold (bridge.h). */
	ret = bridge_kdb_room(r->bridge, ch, b->hdr.op_count, &avail, &need);
	if (ret == KS_EKDBFULL)
		snprintf(kdb_full, kdb_full_len,
			 "KDB filesystem full (%" PRIu64 " bytes free, %" PRIu64
			 " needed): not applying until there is room",
			 avail, need);
	else if ((ret = bridge_apply(r->bridge, ch, b->hdr.op_count)) != KS_EOK)
		*kdb_failed = true;
	if (ret != KS_EOK) {
		ks_log_err(REPL,
			   "'%s': applying batch %" PRIu64 "..%" PRIu64
			   " to the KDB failed (%s)",
			   peer, b->hdr.first_seq, b->hdr.last_seq,
			   ks_strerror(ret));
		goto out;
	}
	memcpy(sb.history, b->hdr.history, 16);
	sb.ch = ch;
	sb.n = b->hdr.op_count;
	sb.blob = blob; /* kept as it came, for replicas of this one */
	ret = store_apply(r->store, &sb);
	if (ret != KS_EOK)
		ks_log_err(REPL,
			   "'%s': storing batch %" PRIu64 "..%" PRIu64
			   " failed (%s)",
			   peer, b->hdr.first_seq, b->hdr.last_seq,
			   ks_strerror(ret));
out:
	free(ch);
	return ret;
}

/* The side KDB's writer stopped (what it had queued written, or with
 * \p cancel dropped): the load is the worker's alone again.  Its sticky
 * error; its put time added to *put_us. */
static int loader_end(node_repl_t *r, bool cancel, uint64_t *put_us)
{
	uint64_t us = 0;
	int ret = node_repl_loader_stop(r->loader, cancel, &us);

	r->loader = NULL;
	*put_us += us;
	return ret;
}

void node_repl__load_abort(node_repl_t *r)
{
	uint64_t us = 0;

	(void)loader_end(r, true, &us);
	bridge_load_abort(r->load);
	r->load = NULL;
}

/* Parse the chunk's records for the side KDB and hand them to its writer
 * (or put them here without one, or when a record is the master key,
 * which changes this KDC's stash: the writer drained first). */
static int load_chunk(node_repl_t *r, const store_change_t *ch, uint32_t n,
		      uint64_t *wait_us)
{
	bridge_load_rec_t **recs = calloc(n ? n : 1, sizeof(*recs));
	bool sync = r->loader == NULL;
	uint32_t got = 0;
	int ret = recs == NULL ? KS_ENOMEM : KS_EOK;

	for (; ret == KS_EOK && got < n; got++) {
		ret = bridge_load_parse(r->load, ch[got].key, ch[got].value,
					&recs[got]);
		if (ret == KS_EOK && bridge_load_rec_is_mkey(recs[got]))
			sync = true;
	}
	if (ret == KS_EOK && !sync) {
		uint64_t t0 = ks_mono_ns();
		ret = node_repl_loader_put(r->loader, recs, n); /* taken */
		*wait_us += (ks_mono_ns() - t0) / 1000;
		return ret;
	}
	if (ret == KS_EOK && r->loader != NULL) {
		uint64_t t0 = ks_mono_ns();
		ret = node_repl_loader_drain(r->loader);
		*wait_us += (ks_mono_ns() - t0) / 1000;
	}
	for (uint32_t i = 0; ret == KS_EOK && i < n; i++)
		ret = bridge_load_put_parsed(r->load, recs[i]);
	for (uint32_t i = 0; recs != NULL && i < got; i++)
		bridge_load_rec_free(r->load, recs[i]);
	free(recs);
	return ret;
}

static int stage_chunk(node_repl_t *r, const proto_batch_t *b, char *kdb_full,
		       size_t kdb_full_len, uint64_t phase_us[3])
{
	store_change_t *ch = NULL;
	uint64_t avail, need, t0;
	int ret;

	if (r->load == NULL)
		return KS_ESTATE; /* the staging was abandoned */
	ret = to_changes(b, &ch);
	if (ret != KS_EOK)
		return ret;
	/* the side database grows by this chunk: room for it first */
	ret = bridge_kdb_room(r->bridge, ch, b->hdr.op_count, &avail, &need);
	if (ret == KS_EKDBFULL)
		snprintf(kdb_full, kdb_full_len,
			 "KDB filesystem full (%" PRIu64 " bytes free, %" PRIu64
			 " needed): snapshot abandoned until there is room",
			 avail, need);
	t0 = ks_mono_ns();
	if (ret == KS_EOK)
		ret = store_stage_put(r->store, ch, b->hdr.op_count);
	phase_us[0] = (ks_mono_ns() - t0) / 1000;
	t0 = ks_mono_ns();
	phase_us[2] = 0;
	if (ret == KS_EOK)
		ret = load_chunk(r, ch, b->hdr.op_count, &phase_us[2]);
	phase_us[1] = (ks_mono_ns() - t0) / 1000 - phase_us[2];
	free(ch);
	return ret;
}

/* Check the staged set against the signed end, then the KDB first (a
 * crash before the store switch only repeats the transfer), then the
 * store. */
static int install(node_repl_t *r, const char *peer, const proto_snap_end_t *e,
		   bool *kdb_failed, uint64_t phase_us[5])
{
	uint8_t digest[32];
	uint64_t count = 0, t0 = ks_mono_ns();
	int ret;

	if (r->load == NULL)
		return KS_ESTATE;
	/* the writer's last parts, then the load is ours again */
	ret = loader_end(r, false, &phase_us[3]);
	phase_us[4] = (ks_mono_ns() - t0) / 1000;
	if (ret != KS_EOK) {
		node_repl__load_abort(r);
		return ret;
	}
	t0 = ks_mono_ns();
	ret = store_stage_info(r->store, digest, &count);
	phase_us[0] = (ks_mono_ns() - t0) / 1000;
	if (ret != KS_EOK)
		return ret;
	if (memcmp(digest, e->digest, 32) != 0 || count != e->record_count) {
		ks_log_err(REPL,
			   "'%s': snapshot digest differs from the signed "
			   "one; nothing installed",
			   peer);
		return KS_EDIGEST;
	}
	if (r->kdb_bad) {
		/* the merge of lockout fields would read a damaged KDB */
		ks_log_warn(KDB,
			    "'%s': the live KDB is damaged: the full copy "
			    "replaces it without its lockout fields",
			    peer);
		bridge_load_no_merge(r->load);
	}
	t0 = ks_mono_ns();
	ret = bridge_load_commit(r->load);
	r->load = NULL;
	phase_us[1] = (ks_mono_ns() - t0) / 1000;
	if (ret != KS_EOK) {
		ks_log_err(REPL, "'%s': installing the loaded KDB failed (%s)",
			   peer, ks_strerror(ret));
		*kdb_failed = true;
		return ret;
	}
	if (r->kdb_bad) {
		/* a full copy replaced the damaged KDB: ours again */
		bridge_db_close(r->bridge);
		ret = bridge_db_open(r->bridge);
		if (ret != KS_EOK)
			return ret;
		r->kdb_bad = false;
		ks_log_notice(KDB,
			      "'%s': the full copy replaced the damaged "
			      "KDB",
			      peer);
	}
	t0 = ks_mono_ns();
	ret = store_stage_install(r->store, e->history, e->seq, e->digest);
	phase_us[2] = (ks_mono_ns() - t0) / 1000;
	if (ret != KS_EOK)
		ks_log_err(REPL,
			   "'%s': switching in the staged store failed (%s)",
			   peer, ks_strerror(ret));
	return ret;
}

/* --- blob jobs ------------------------------------------------------------ */

enum blob_step {
	BLOB_OPEN, /* decode and open (signature, decompression) */
	BLOB_ACT,  /* perform act (APPLY_BATCH, STAGE_CHUNK, INSTALL) */
};

typedef struct blob_job {
	node_repl_job_t job;
	node_repl_link_t *l; /* loop side only */
	node_repl_t *r;
	char peer[256]; /* for the worker's logs */
	int step;	/* enum blob_step */
	int act;	/* enum repl_sm_action_type, BLOB_ACT */
	ks_buf_t frame; /* owned copy; m and b point into it */
	proto_msg_t m;
	proto_batch_t b;
	proto_snap_end_t e;
	char kdb_full[200];   /* APPLY_BATCH, STAGE_CHUNK: why the KDB had
			       no room */
	bool kdb_failed;      /* the action failed in the live KDB */
	uint64_t took_us;     /* how long the step ran */
	uint64_t phase_us[5]; /* STAGE_CHUNK: stage, parse, wait; INSTALL:
				 seal, kdb, store, load, wait (snap_phase in
				 repl_int.h) */
} blob_job_t;

static int blob_run(node_repl_job_t *job)
{
	blob_job_t *j = (blob_job_t *)job;
	node_repl_t *r = j->r;
	int ret;

	uint64_t t0 = ks_mono_ns();
	if (j->step == BLOB_OPEN) {
		ret = proto_msg_decode(ks_buf_view(&j->frame), &j->m);
		if (ret == KS_EOK && j->m.type == PROTO_MSG_SNAP_END)
			ret = proto_snap_end_open(j->m.u.blob, r->trust, &j->e);
		else if (ret == KS_EOK)
			ret = proto_batch_open(j->m.u.blob,
					       j->m.type == PROTO_MSG_BATCH
						       ? PROTO_BLOB_BATCH
						       : PROTO_BLOB_CHUNK,
					       r->trust, NULL, &j->b);
		j->took_us = (ks_mono_ns() - t0) / 1000;
		return ret;
	}
	switch (j->act) {
	case REPL_ACT_APPLY_BATCH:
		ret = apply_batch(r, j->peer, &j->b, j->m.u.blob, j->kdb_full,
				  sizeof(j->kdb_full), &j->kdb_failed);
		break;
	case REPL_ACT_STAGE_CHUNK:
		ret = stage_chunk(r, &j->b, j->kdb_full, sizeof(j->kdb_full),
				  j->phase_us);
		break;
	case REPL_ACT_INSTALL:
		ret = install(r, j->peer, &j->e, &j->kdb_failed, j->phase_us);
		break;
	default:
		ret = KS_EINTERNAL;
		break;
	}
	j->took_us = (ks_mono_ns() - t0) / 1000;
	return ret;
}

static void blob_free(blob_job_t *j)
{
	proto_batch_deinit(&j->b);
	ks_buf_free(&j->frame);
	free(j);
}

/* A blob that does not open: reset with "rejected", nothing applied. */
static void rejected(node_repl_link_t *l, const proto_msg_t *m, int code)
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
			       .now_ms = node_repl__now(l->r) };
	repl_sm_action_t ignored;

	ks_log_err(REPL, "'%s': %s rejected (%s); nothing applied",
		   l->peer->name, what, ks_strerror(code));
	repl_sm_step(&l->sm, &le, &ignored); /* back to IDLE */
	node_repl__reset_link(l, &act);
}

/* The blob opened: the state machine decides; true when an action job was
 * submitted (j is then in flight again). */
static bool blob_opened(node_repl_link_t *l, blob_job_t *j)
{
	repl_sm_event_t ev = { .type = REPL_EV_MSG,
			       .msg = &j->m,
			       .now_ms = node_repl__now(l->r) };
	repl_sm_action_t act;

	if (j->m.type == PROTO_MSG_SNAP_END)
		ev.end = &j->e;
	else
		ev.hdr = &j->b.hdr;
	if (j->m.type == PROTO_MSG_BATCH)
		node_repl__note_peer_last(l, j->b.hdr.last_seq);
	repl_sm_step(&l->sm, &ev, &act);
	switch (act.type) {
	case REPL_ACT_APPLY_BATCH:
	case REPL_ACT_STAGE_CHUNK:
	case REPL_ACT_INSTALL:
		j->step = BLOB_ACT;
		j->act = act.type;
		/* a chunk goes to the store's stage and the side KDB only;
		 * a batch or the install needs the live KDB */
		j->job.side_only = act.type == REPL_ACT_STAGE_CHUNK;
		node_repl__link_job(l, &j->job);
		return true;
	default:
		node_repl__do_action(l, &act);
		return false;
	}
}

/* Where the full copy's time went, for the operator and bench/. */
static void log_phases(const node_repl_link_t *l)
{
	char peer[300];

	ks_log_notice(
		REPL,
		"transfer_phases peer=%s chunks=%" PRIu64 " open_ms=%" PRIu64
		" stage_ms=%" PRIu64 " parse_ms=%" PRIu64 " wait_ms=%" PRIu64
		" load_ms=%" PRIu64 " seal_ms=%" PRIu64 " kdb_ms=%" PRIu64
		" store_ms=%" PRIu64 " total_ms=%" PRIu64,
		ks_logfmt(l->peer->name, peer, sizeof(peer)),
		l->snap_phase.chunks, l->snap_phase.open_us / 1000,
		l->snap_phase.stage_us / 1000, l->snap_phase.parse_us / 1000,
		l->snap_phase.wait_us / 1000, l->snap_phase.load_us / 1000,
		l->snap_phase.seal_us / 1000, l->snap_phase.kdb_us / 1000,
		l->snap_phase.store_us / 1000,
		(ks_real_us() - l->t_session_us) / 1000);
}

static void blob_performed(node_repl_link_t *l, blob_job_t *j)
{
	repl_peer_t *p = l->peer;
	uint64_t now = node_repl__now(l->r);
	repl_sm_event_t ap = { .type = REPL_EV_APPLIED, .now_ms = now };

	if (j->act == REPL_ACT_STAGE_CHUNK) {
		l->snap_records += j->b.hdr.op_count;
		l->snap_phase.stage_us += j->phase_us[0];
		l->snap_phase.parse_us += j->phase_us[1];
		l->snap_phase.wait_us += j->phase_us[2];
		l->snap_phase.chunks++;
		return;
	}
	if (j->act == REPL_ACT_APPLY_BATCH) {
		p->batches++;
		p->ops += j->b.hdr.op_count;
		p->last_commit_us = j->b.hdr.commit_time_us;
		p->last_apply_us = ks_real_us();
		ks_hist_observe(&p->apply, j->took_us);
		/* capture -> applied, as this replica sees it (its clock
		 * against the primary's commit time in the batch header) */
		ks_hist_observe(&p->propagation,
				p->last_apply_us > j->b.hdr.commit_time_us
					? p->last_apply_us -
						  j->b.hdr.commit_time_us
					: 0);
		ks_log_info(REPL,
			    "'%s': applied batch %" PRIu64 "..%" PRIu64
			    " (%u changes)",
			    p->name, j->b.hdr.first_seq, j->b.hdr.last_seq,
			    j->b.hdr.op_count);
		ap.history = j->b.hdr.history;
		ap.seq = j->b.hdr.last_seq;
	} else { /* INSTALL */
		const proto_snap_end_t *e = &j->e;
		node_repl__note_peer_last(l, e->seq);
		l->r->kdb_full[0] = '\0';
		if (!l->r->kdb_blocked)
			l->r->kdb_error[0] = '\0'; /* a damaged KDB replaced */
		p->full_transfers++;
		l->r->no_rewind = false; /* the new position is the primary's */
		snprintf(p->last_session, sizeof(p->last_session),
			 "full snapshot at seq %" PRIu64 " (%" PRIu64
			 " records, %" PRIu64 " ms)",
			 e->seq, e->record_count,
			 (ks_real_us() - l->t_session_us) / 1000);
		ks_log_notice(REPL, "'%s': %s", p->name, p->last_session);
		node_repl__log_transfer(
			l, "receive", e->history, e->seq, e->record_count,
			l->snap_bytes, (ks_real_us() - l->t_session_us) / 1000);
		l->snap_phase.seal_us = j->phase_us[0];
		l->snap_phase.kdb_us = j->phase_us[1];
		l->snap_phase.store_us = j->phase_us[2];
		l->snap_phase.load_us = j->phase_us[3];
		l->snap_phase.wait_us += j->phase_us[4];
		log_phases(l);
		ap.history = e->history;
		ap.seq = e->seq;
	}
	node_repl__feed(l, &ap);
	node_repl__relay_fanout(l->r); /* at once, no timer */
}

static void blob_done(node_repl_job_t *job, int ret)
{
	blob_job_t *j = (blob_job_t *)job;
	node_repl_link_t *l = j->l;

	if (l->down || ret == KS_ECANCELED) {
		/* nothing to tell: the link is gone or the node stops */
	} else if (j->step == BLOB_OPEN) {
		if (j->m.type != PROTO_MSG_BATCH)
			l->snap_phase.open_us += j->took_us;
		if (ret != KS_EOK)
			rejected(l, &j->m, ret);
		else if (blob_opened(l, j)) {
			node_repl__link_job_end(l); /* j runs again */
			return;
		}
	} else if (ret == KS_EKDBFULL && j->act == REPL_ACT_APPLY_BATCH) {
		/* pause: keep the batch and the link, try again later */
		if (l->r->kdb_full[0] == '\0')
			ks_log_warn(REPL,
				    "'%s': %s; the link is kept and applying "
				    "resumes by itself",
				    l->peer->name, j->kdb_full);
		snprintf(l->r->kdb_full, sizeof(l->r->kdb_full), "%s",
			 j->kdb_full);
		l->held = j;
		l->held_retry_ms = node_repl__now(l->r) + REPL_HELD_RETRY_MS;
		return; /* the job stays counted: the link stays busy */
	} else if (ret != KS_EOK) {
		if (ret == KS_EKDBFULL)
			snprintf(l->r->kdb_full, sizeof(l->r->kdb_full), "%s",
				 j->kdb_full);
		/* a libkdb5 error may be a damaged KDB: check it (the
		 * check is queued before anything the next link does) */
		if (j->kdb_failed && node_repl__kdb_suspect(ret))
			node_repl__kdb_check(l->r, "apply failure");
		node_repl__local_error(l, ret);
	} else {
		if (j->act == REPL_ACT_APPLY_BATCH)
			l->r->kdb_full[0] = '\0';
		blob_performed(l, j);
	}
	blob_free(j);
	node_repl__link_job_end(l);
}

void node_repl__held_tick(node_repl_link_t *l, uint64_t now)
{
	blob_job_t *j = l->held;
	store_meta_t m;
	proto_msg_t ack = { .type = PROTO_MSG_ACK };

	if (j == NULL || l->down)
		return;
	/* still here: the applied position again (sm.c restarts the
	 * primary's ack clock on it instead of timing the link out) */
	if (node_repl__meta(l->r->store, &m) == KS_EOK) {
		memcpy(ack.u.ack.history, m.applied_history, 16);
		ack.u.ack.seq = m.applied_seq;
		(void)node_repl__send_msg(l, &ack);
	}
	if (now < l->held_retry_ms)
		return;
	l->held = NULL;
	j->kdb_full[0] = '\0';
	node_repl_worker_submit(l->r->worker, &j->job); /* still counted */
}

void node_repl__held_drop(node_repl_link_t *l)
{
	blob_job_t *j = l->held;

	if (j == NULL)
		return;
	l->held = NULL;
	blob_free(j);
	node_repl__link_job_end(l);
}

int node_repl__on_blob(node_repl_link_t *l, ks_view_t frame,
		       const proto_msg_t *m)
{
	node_repl_t *r = l->r;
	blob_job_t *j;

	if (l->sm.role != REPL_ROLE_REPLICA) {
		/* not valid at a primary (or on a relay's downstream link) */
		repl_sm_event_t ev = { .type = REPL_EV_MSG,
				       .msg = m,
				       .now_ms = node_repl__now(r) };
		node_repl__feed(l, &ev);
		return KS_EOK;
	}
	if (m->type != PROTO_MSG_BATCH)
		l->snap_bytes += m->u.blob.len;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return KS_ENOMEM;
	/* opening reads only the frame (worker.h: side only) */
	*j = (blob_job_t){ .job = { .run = blob_run,
				    .done = blob_done,
				    .side_only = true },
			   .l = l,
			   .r = r,
			   .step = BLOB_OPEN,
			   .frame = KS_BUF_INIT };
	j->m.type = m->type; /* for a rejection before decoding */
	snprintf(j->peer, sizeof(j->peer), "%s", l->peer->name);
	if (ks_buf_append(&j->frame, frame.ptr, frame.len) != KS_EOK) {
		free(j);
		return KS_ENOMEM;
	}
	node_repl__link_job(l, &j->job);
	return KS_EOK;
}

/* --- staging and history jobs --------------------------------------------- */

enum stage_kind {
	STAGE_BEGIN,
	STAGE_ABORT,
	ADOPT
};

typedef struct stage_job {
	node_repl_job_t job;
	node_repl_link_t *l; /* NULL for STAGE_ABORT */
	node_repl_t *r;
	int kind; /* enum stage_kind */
	uint8_t history[16];
	uint64_t seq;
} stage_job_t;

static int stage_run(node_repl_job_t *job)
{
	stage_job_t *j = (stage_job_t *)job;
	node_repl_t *r = j->r;
	store_meta_t meta;
	int ret;

	switch (j->kind) {
	case STAGE_BEGIN:
		node_repl__load_abort(r); /* an earlier attempt's */
		ret = store_stage_begin(r->store);
		/* side only (the KDB check may still be running): whether
		 * the live KDB is sound enough to merge from is decided at
		 * the install */
		if (ret == KS_EOK)
			ret = bridge_load_begin(r->bridge, &r->load);
		/* no writer thread: the worker puts the records itself */
		if (ret == KS_EOK &&
		    node_repl_loader_start(r->load, &r->loader) != KS_EOK)
			ks_log_warn(REPL, "no side-KDB writer thread: the full "
					  "copy is loaded by the worker alone");
		return ret;
	case STAGE_ABORT:
		node_repl__load_abort(r);
		return KS_EOK;
	default: /* ADOPT */
		ret = node_repl__meta(r->store, &meta);
		if (ret == KS_EOK)
			ret = store_adopt_history(r->store, j->history,
						  meta.applied_history, j->seq);
		return ret;
	}
}

static void stage_done(node_repl_job_t *job, int ret)
{
	stage_job_t *j = (stage_job_t *)job;
	node_repl_link_t *l = j->l;

	if (l == NULL) {
		free(j);
		return;
	}
	if (!l->down && ret != KS_ECANCELED) {
		if (ret != KS_EOK)
			node_repl__local_error(l, ret);
		else if (j->kind == STAGE_BEGIN)
			ks_log_notice(REPL,
				      "'%s': receiving a full snapshot at "
				      "seq %" PRIu64,
				      l->peer->name, j->seq);
		else {
			ks_log_notice(REPL,
				      "'%s': following the primary's new "
				      "history from seq %" PRIu64,
				      l->peer->name, j->seq);
			node_repl__relay_fanout(j->r);
		}
	}
	free(j);
	node_repl__link_job_end(l);
}

static void stage_job(node_repl_link_t *l, node_repl_t *r, int kind,
		      const uint8_t history[16], uint64_t seq)
{
	stage_job_t *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		if (l != NULL)
			node_repl__local_error(l, KS_ENOMEM);
		return;
	}
	/* staging touches only the store and the side KDB (worker.h) */
	*j = (stage_job_t){ .job = { .run = stage_run,
				     .done = stage_done,
				     .side_only = kind != ADOPT },
			    .l = l,
			    .r = r,
			    .kind = kind,
			    .seq = seq };
	if (history != NULL)
		memcpy(j->history, history, 16);
	if (l != NULL)
		node_repl__link_job(l, &j->job);
	else if (!node_repl__job(r, &j->job))
		free(j); /* stopping: node_repl_free aborts the load */
}

void node_repl__stage_begin(node_repl_link_t *l, uint64_t seq)
{
	l->snap_records = 0;
	memset(&l->snap_phase, 0, sizeof(l->snap_phase));
	l->t_session_us = ks_real_us();
	l->snap_bytes = 0;
	stage_job(l, l->r, STAGE_BEGIN, NULL, seq);
}

void node_repl__stage_abort(node_repl_t *r)
{
	stage_job(NULL, r, STAGE_ABORT, NULL, 0);
}

void node_repl__adopt_history(node_repl_link_t *l, const uint8_t history[16],
			      uint64_t seq)
{
	stage_job(l, l->r, ADOPT, history, seq);
}
