/* SPDX-License-Identifier: MIT */
/*
 * `kdcsync promote` (DESIGN.md §2, §4): a replica's store starts a new
 * history that remembers the applied one and its last seq, and the running
 * engine stops following its primary.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/repl/repl_int.h"

bool node_repl_store_promoted(const store_meta_t *m)
{
	static const uint8_t zero[16];

	return memcmp(m->applied_history, zero, 16) != 0 &&
	       memcmp(m->history, m->applied_history, 16) != 0 &&
	       memcmp(m->prev_history, m->applied_history, 16) == 0;
}

int node_repl_promote_store(store_t *s, store_meta_t *before,
			    store_meta_t *after, char *why, size_t whylen)
{
	store_meta_t m, n;
	int ret = node_repl__meta(s, &m);

	if (ret != KS_EOK) {
		snprintf(why, whylen, "cannot read the store (%s)",
			 ks_strerror(ret));
		goto done;
	}
	if (node_repl_store_promoted(&m)) {
		snprintf(why, whylen,
			 "this node was already promoted (it no longer "
			 "follows a primary)");
		ret = KS_EEXIST;
		goto done;
	}
	if (repl_sm_history_zero(m.applied_history)) {
		snprintf(why, whylen,
			 "this replica holds no data from a primary yet (no "
			 "first sync completed): nothing to promote");
		ret = KS_ESTATE;
		goto done;
	}
	if (memcmp(m.history, m.applied_history, 16) != 0 ||
	    m.last_seq != m.applied_seq) {
		snprintf(why, whylen,
			 "the store's own log is not at its applied position "
			 "(seq %" PRIu64 " vs applied %" PRIu64 ")",
			 m.last_seq, m.applied_seq);
		ret = KS_ESTATE;
		goto done;
	}
	ret = store_new_history(s);
	if (ret == KS_EOK)
		ret = node_repl__meta(s, &n);
	if (ret != KS_EOK) {
		snprintf(why, whylen, "cannot start a new history (%s)",
			 ks_strerror(ret));
		goto done;
	}
	ks_log_notice(REPL,
		      "promoted: new history continues the applied one at "
		      "seq %" PRIu64,
		      n.prev_last_seq);
	if (after != NULL)
		*after = n;
done:
	if (before != NULL)
		*before = m;
	return ret;
}

void node_repl_stop_following(node_repl_t *r)
{
	if (r == NULL || r->role != REPL_ROLE_REPLICA)
		return;
	r->promoted = true;
	node_repl__stage_abort(r); /* a snapshot being received, if any */
}
