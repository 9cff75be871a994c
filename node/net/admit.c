/* SPDX-License-Identifier: MIT */
/* The admission decision for accepted connections (see admit.h). */
#include "node/net/admit.h"

enum node_admit node_admit_decide(const node_admit_limits_t *l,
				  const node_admit_in_t *in)
{
	unsigned total =
		in->handshakes + in->known_handshakes + in->established;
	unsigned open = l->max_connections > l->reserved
				? l->max_connections - l->reserved
				: 1;

	if (in->known) {
		if (total < l->max_connections)
			return NODE_ADMIT_ACCEPT;
		return in->evictable ? NODE_ADMIT_EVICT
				     : NODE_ADMIT_REFUSE_FULL;
	}
	if (in->from_address >= l->max_per_address)
		return NODE_ADMIT_REFUSE_ADDRESS;
	if (in->handshakes < l->max_handshakes && total < open)
		return NODE_ADMIT_ACCEPT;
	return in->evictable ? NODE_ADMIT_EVICT : NODE_ADMIT_REFUSE_FULL;
}

const char *node_admit_reason(enum node_admit a)
{
	switch (a) {
	case NODE_ADMIT_EVICT:
		return "evicted: unauthenticated connection slots full "
		       "(tls.max_handshakes), oldest handshake closed";
	case NODE_ADMIT_REFUSE_ADDRESS:
		return "too many unauthenticated connections from this address "
		       "(tls.max_per_address)";
	case NODE_ADMIT_REFUSE_FULL:
		return "connection limit reached (tls.max_connections)";
	default:
		return "";
	}
}
