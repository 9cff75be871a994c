/* SPDX-License-Identifier: MIT */
/*
 * Cascades (PROTOCOL.md §3.13): a replica with a listen address serves
 * further replicas.  On such a "downstream" link it takes the primary role
 * of the protocol, but it never signs a batch: it sends the primary's
 * signed blobs exactly as it applied them (kept by store_apply(),
 * store_relay_get()), so the end replica checks the primary's signature
 * with its own trusted keys and the relay cannot forge a change.  Its
 * position is its applied one (the primary's history id and seqs), so a
 * replica of a relay can later follow the primary itself incrementally.
 * A full copy from a relay is built from its store and signed with its
 * own [node] signing_key (the downstream must trust that key); without
 * one it refuses and the replica must follow the primary.
 *
 * Every batch the relay applies is offered at once to its downstream
 * links (node_repl__relay_fanout, from the apply's done callback): one
 * extra hop costs one store read and a send, no timer.
 *
 * Everything here runs on the loop thread; store reads are short (meta,
 * one blob).
 */
#include <inttypes.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/repl/repl_int.h"
#include "proto/batch.h"

bool node_repl__relay_peer(const node_repl_t *r, const char *peer)
{
	/* (a replica engine without a named primary: every link is to it) */
	return r->role == REPL_ROLE_REPLICA && r->primary != NULL &&
	       strcmp(peer, r->primary) != 0;
}

void node_repl__relay_window(const store_meta_t *m, repl_sm_window_t *w)
{
	*w = (repl_sm_window_t){ .last_seq = m->applied_seq,
				 .oldest_seq = m->applied_seq + 1,
				 .prev_last_seq = m->prev_last_seq };
	memcpy(w->history, m->applied_history, 16);
	memcpy(w->prev_history, m->prev_history, 16);
}

int node_repl__relay_view(node_repl_t *r, uint64_t seq, repl_sm_relay_t *v,
			  repl_sm_window_t *w)
{
	store_txn_t *t = NULL;
	store_meta_t m;
	ks_view_t blob;
	proto_batch_hdr_t h;
	int ret = store_read_begin(r->store, &t);

	if (ret != KS_EOK)
		return ret;
	ret = store_meta_get(t, &m);
	if (ret == KS_EOK) {
		*v = (repl_sm_relay_t){ .seq = m.applied_seq,
					.prev_last_seq = m.prev_last_seq,
					.can_snapshot = r->key != NULL };
		memcpy(v->history, m.applied_history, 16);
		memcpy(v->prev_history, m.prev_history, 16);
		node_repl__relay_window(&m, w);
		if (seq < UINT64_MAX &&
		    store_relay_get(t, seq + 1, &blob, NULL) == KS_EOK &&
		    proto_batch_peek(blob, &h) == KS_EOK)
			memcpy(v->next_history, h.history, 16);
	}
	store_read_end(t);
	return ret;
}

int node_repl__relay_send(node_repl_link_t *l, uint64_t from, uint64_t *last)
{
	node_repl_t *r = l->r;
	store_txn_t *t = NULL;
	store_meta_t m;
	ks_view_t blob;
	proto_batch_hdr_t h;
	proto_msg_t msg = { .type = PROTO_MSG_BATCH };
	int ret = store_read_begin(r->store, &t);

	if (ret != KS_EOK)
		return ret;
	ret = store_meta_get(t, &m);
	if (ret == KS_EOK)
		ret = store_relay_get(t, from, &blob, last);
	if (ret == KS_ENOENT && from <= m.applied_seq &&
	    memcmp(m.applied_history, l->sm.history, 16) == 0) {
		/* applied here, but not as a batch that starts there (a full
		 * copy or a rewind in between): the replica needs a full copy
		 * from its next session */
		ks_log_warn(REPL,
			    "'%s': no relayed batch starts at seq %" PRIu64
			    ": ending the session",
			    l->peer->name, from);
		ret = KS_ESTALE;
	}
	if (ret == KS_EOK)
		ret = proto_batch_peek(blob, &h);
	if (ret == KS_EOK && memcmp(h.history, l->sm.history, 16) != 0)
		ret = KS_EHISTORY; /* the primary started a new history */
	if (ret == KS_EOK) {
		msg.u.blob = blob;
		ks_buf_reset(&l->out);
		ret = proto_msg_encode(&msg, &l->out);
	}
	store_read_end(t);
	if (ret == KS_EOK)
		ret = node_repl__io_send(l, l->out.data, l->out.len);
	return ret;
}

void node_repl__relay_fanout(node_repl_t *r)
{
	for (repl_peer_t *p = r->peers; p != NULL; p = p->next)
		if (p->link != NULL && p->link->relay && !p->link->down)
			node_repl__link_log_grew(p->link);
}
