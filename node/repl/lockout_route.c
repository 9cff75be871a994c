/* SPDX-License-Identifier: MIT */
/*
 * Which way lockout state flows (node/repl/lockout_route.h): pure code.
 */
#include "node/repl/lockout_route.h"

#include "proto/msg.h"

unsigned repl_lockout_link(bool replicate_lockout, int link_role)
{
	if (!replicate_lockout)
		return 0;
	/* towards the primary only: a replica side sends, a primary side
	 * (a primary, or a relay to its downstream) takes */
	return REPL_LK_ANNOUNCE |
	       (link_role == PROTO_ROLE_REPLICA ? REPL_LK_SEND : REPL_LK_TAKE);
}

bool repl_lockout_takes(unsigned flags, bool hello_seen, uint32_t peer_caps)
{
	return (flags & REPL_LK_TAKE) && hello_seen &&
	       (peer_caps & PROTO_CAP_LOCKOUT);
}

repl_lk_after_t repl_lockout_after(int node_role, bool changed)
{
	if (!changed)
		return REPL_LK_DROP; /* nothing new here: nothing new above */
	return node_role == PROTO_ROLE_PRIMARY ? REPL_LK_CAPTURE
					       : REPL_LK_FORWARD;
}
