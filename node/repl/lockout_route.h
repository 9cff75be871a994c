/* SPDX-License-Identifier: MIT */
/*
 * Which way lockout state flows (PROTOCOL.md §3.10, §3.13), as pure
 * decisions: what a node announces and does on one link, and what it does
 * with a report it merged.  lockout.c asks these; test_lockout_route.c
 * drives every case, including the loop-freedom argument of a cascade:
 *
 *   third's KDC -> third --LOCKOUT--> relay --LOCKOUT--> primary
 *                  (merge, re-read, coalesce) (merge, capture into the log)
 *   primary's log --BATCH--> relay --BATCH (unchanged)--> third
 *
 * LOCKOUT travels only towards the primary (sent on a link where this
 * node plays the replica, taken on one where it plays the primary: a
 * primary, or a relay for its downstream), and a node's own merges and
 * applies are never reported by its KDB module, so a report cannot come
 * back down as a LOCKOUT; the merged result comes down as an ordinary
 * batch.  Each hop coalesces by principal, so a relay sends at most one
 * LOCKOUT per principal per window whatever its downstream sends.
 *
 * Ownership: values only; no state.  Any thread.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* What a node does with lockout on one link (flags). */
#define REPL_LK_ANNOUNCE 0x1u /* PROTO_CAP_LOCKOUT in its HELLO */
#define REPL_LK_SEND	 0x2u /* sends LOCKOUT (if the peer announced) */
#define REPL_LK_TAKE	 0x4u /* takes LOCKOUT (if the peer announced) */

/* What a node does with a report it merged into its KDB. */
typedef enum repl_lk_after {
	REPL_LK_DROP,	 /* the KDB already held it (or newer) */
	REPL_LK_CAPTURE, /* primary: into its log, replicated as a batch */
	REPL_LK_FORWARD, /* relay: re-read and sent upstream, coalesced */
} repl_lk_after_t;

/**
 * \brief Lockout on one link: \p link_role is the role this node plays on
 *        it (PROTO_ROLE_PRIMARY for a primary's links and a relay's
 *        downstream links, PROTO_ROLE_REPLICA for the link to its
 *        upstream).
 * \return REPL_LK_* flags; 0 without replicate_lockout.
 */
unsigned repl_lockout_link(bool replicate_lockout, int link_role);

/**
 * \brief Whether a LOCKOUT received on a link is valid: this node takes
 *        it there (\p flags from repl_lockout_link), both HELLOs are in
 *        and the peer announced the capability.  Otherwise the message is
 *        not valid in the link's state (ERROR KS_ESTATE, reset).
 */
bool repl_lockout_takes(unsigned flags, bool hello_seen, uint32_t peer_caps);

/**
 * \brief What a node whose own role is \p node_role does with a report
 *        that changed (\p changed) or did not change its KDB.
 */
repl_lk_after_t repl_lockout_after(int node_role, bool changed);
