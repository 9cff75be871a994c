/* SPDX-License-Identifier: MIT */
/*
 * Admission of accepted connections, as one pure decision (net.c gathers the
 * counts and acts on the answer).  Unauthenticated connections (still in
 * the TLS handshake) are bounded on their own, per source address, and kept
 * out of room reserved for peers:
 *
 *   - a "known" address (a configured peer's, or one that authenticated as
 *     a configured peer before) is admitted while any connection slot is
 *     free, and otherwise by evicting the oldest handshake from an unknown
 *     address: a flood of unauthenticated connections can never lock a
 *     peer out;
 *   - an unknown address may hold at most max_per_address handshakes;
 *   - unknown addresses together hold at most max_handshakes handshakes and
 *     never the last `reserved` slots of max_connections; when those are
 *     used, the oldest unknown handshake is evicted for the newcomer (a
 *     peer connecting from a new address still gets its turn, and a
 *     stalled client loses its slot before the handshake timeout).
 */
#pragma once

#include <stdbool.h>

typedef struct node_admit_limits {
	unsigned max_connections; /* accepted connections, any state */
	unsigned max_handshakes;  /* unauthenticated, unknown addresses */
	unsigned max_per_address; /* unauthenticated from one address */
	unsigned reserved;	  /* slots unknown addresses never take */
} node_admit_limits_t;

typedef struct node_admit_in {
	unsigned handshakes; /* accepted, unauthenticated, unknown address */
	unsigned known_handshakes; /* the same from known addresses */
	unsigned established;	   /* accepted and authenticated */
	unsigned from_address;	   /* handshakes from the newcomer's address */
	bool known;		   /* the newcomer's address is a peer's */
	bool evictable; /* some handshake from an unknown address exists */
} node_admit_in_t;

enum node_admit {
	NODE_ADMIT_ACCEPT,
	NODE_ADMIT_EVICT,	   /* accept after closing the oldest unknown
				      handshake */
	NODE_ADMIT_REFUSE_ADDRESS, /* max_per_address reached */
	NODE_ADMIT_REFUSE_FULL,	   /* no slot, nothing to evict */
};

/** \brief What to do with a newly accepted connection. */
enum node_admit node_admit_decide(const node_admit_limits_t *l,
				  const node_admit_in_t *in);

/** \brief Words for a refusal or eviction, for logs ("" for accept). */
const char *node_admit_reason(enum node_admit a);
