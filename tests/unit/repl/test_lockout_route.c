/* SPDX-License-Identifier: MIT */
/*
 * node/repl/lockout_route.c: which way lockout state flows.  The single
 * decisions (announce, send or take on a link; capture, forward or drop
 * after a merge), then cascades simulated with those decisions and the
 * real coalescer (coalesce.c): a report made at any node of a chain or a
 * tree reaches the primary and comes back down to every node as a batch,
 * LOCKOUT never travels downwards or back to its sender, it terminates,
 * and a storm of reports costs one LOCKOUT per hop per window.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "node/repl/coalesce.h"
#include "node/repl/lockout_route.h"
#include "proto/msg.h"
#include "helpers/test.h"

static void test_link(void **state)
{
	(void)state;
	assert_int_equal(repl_lockout_link(false, PROTO_ROLE_PRIMARY), 0);
	assert_int_equal(repl_lockout_link(false, PROTO_ROLE_REPLICA), 0);
	assert_int_equal(repl_lockout_link(true, PROTO_ROLE_REPLICA),
			 REPL_LK_ANNOUNCE | REPL_LK_SEND);
	/* a primary's link and a relay's downstream link alike */
	assert_int_equal(repl_lockout_link(true, PROTO_ROLE_PRIMARY),
			 REPL_LK_ANNOUNCE | REPL_LK_TAKE);
}

static void test_takes(void **state)
{
	(void)state;
	unsigned take = repl_lockout_link(true, PROTO_ROLE_PRIMARY);
	unsigned send = repl_lockout_link(true, PROTO_ROLE_REPLICA);

	assert_true(repl_lockout_takes(take, true,
				       PROTO_CAP_LOCKOUT | PROTO_CAP_ZSTD));
	assert_false(repl_lockout_takes(take, false, PROTO_CAP_LOCKOUT));
	assert_false(repl_lockout_takes(take, true, PROTO_CAP_ZSTD));
	/* from its upstream a node never takes one (no bounce down) */
	assert_false(repl_lockout_takes(send, true, PROTO_CAP_LOCKOUT));
	assert_false(repl_lockout_takes(0, true, PROTO_CAP_LOCKOUT));
}

static void test_after(void **state)
{
	(void)state;
	assert_int_equal(repl_lockout_after(PROTO_ROLE_PRIMARY, true),
			 REPL_LK_CAPTURE);
	assert_int_equal(repl_lockout_after(PROTO_ROLE_REPLICA, true),
			 REPL_LK_FORWARD);
	assert_int_equal(repl_lockout_after(PROTO_ROLE_PRIMARY, false),
			 REPL_LK_DROP);
	assert_int_equal(repl_lockout_after(PROTO_ROLE_REPLICA, false),
			 REPL_LK_DROP);
}

/* --- cascades ---------------------------------------------------------- */

#define NODES 8

/* A tree of nodes (node 0 the primary, up[i] the node i follows); one
 * principal whose lockout state is a number (newer = larger, the merge
 * rule's order); each node's pending names in a real coalescer. */
typedef struct sim {
	int n, up[NODES];
	unsigned v[NODES];
	repl_coalesce_t pend[NODES];
	unsigned sent[NODES]; /* LOCKOUT messages node i sent (upwards) */
	unsigned batches;     /* captures at the primary */
	unsigned msgs;
	uint64_t now; /* ms */
} sim_t;

static int role_of(int i)
{
	return i == 0 ? PROTO_ROLE_PRIMARY : PROTO_ROLE_REPLICA;
}

static void sim_init(sim_t *s, int n, const int *up)
{
	*s = (sim_t){ .n = n, .now = 1000 };
	for (int i = 0; i < n; i++) {
		s->up[i] = up[i];
		repl_coalesce_init(&s->pend[i], 0, 0);
	}
}

static void sim_free(sim_t *s)
{
	for (int i = 0; i < s->n; i++)
		repl_coalesce_deinit(&s->pend[i]);
}

/* The primary captured: the record goes down every link as a batch and is
 * applied with the merge rule (never reported by a KDB module). */
static void capture(sim_t *s)
{
	s->batches++;
	for (int i = 1; i < s->n; i++)
		if (s->v[0] > s->v[i])
			s->v[i] = s->v[0];
}

/* A KDC's own lockout write at node \p i. */
static void kdc_write(sim_t *s, int i, unsigned v)
{
	if (v > s->v[i])
		s->v[i] = v;
	if (role_of(i) == PROTO_ROLE_PRIMARY)
		capture(s); /* coalesced and captured (lockout.c) */
	else
		assert_ks_ok(repl_coalesce_add(&s->pend[i], "lr@R", 4));
}

/* Node \p from sends a LOCKOUT on every link where it may; each receiver
 * decides with the pure functions. */
static void send_all(sim_t *s, int from, unsigned v)
{
	for (int to = 0; to < s->n; to++) {
		int my_role, peer_role;
		if (to == from)
			continue;
		if (s->up[from] == to) {
			my_role = PROTO_ROLE_REPLICA;
			peer_role = PROTO_ROLE_PRIMARY;
		} else if (to > 0 && s->up[to] == from) {
			my_role = PROTO_ROLE_PRIMARY;
			peer_role = PROTO_ROLE_REPLICA;
		} else {
			continue; /* no link */
		}
		unsigned mine = repl_lockout_link(true, my_role);
		unsigned theirs = repl_lockout_link(true, peer_role);
		if (!(mine & REPL_LK_SEND) || !(theirs & REPL_LK_ANNOUNCE))
			continue;
		assert_true(
			repl_lockout_takes(theirs, true, PROTO_CAP_LOCKOUT));
		/* only ever upwards: the receiver is the one it follows */
		assert_int_equal(to, s->up[from]);
		s->sent[from]++;
		s->msgs++;
		bool changed = v > s->v[to];
		if (changed)
			s->v[to] = v;
		switch (repl_lockout_after(role_of(to), changed)) {
		case REPL_LK_CAPTURE:
			capture(s);
			break;
		case REPL_LK_FORWARD:
			assert_ks_ok(
				repl_coalesce_add(&s->pend[to], "lr@R", 4));
			break;
		case REPL_LK_DROP:
			break;
		}
	}
}

/* One window: every node with pending names flushes (re-reading its
 * current value).  Returns how many flushed. */
static int flush_round(sim_t *s, uint64_t now)
{
	int flushed = 0;

	for (int i = 0; i < s->n; i++) {
		repl_coalesce_set_t set;
		if (repl_coalesce_due_in(&s->pend[i], now) != 0)
			continue;
		repl_coalesce_take(&s->pend[i], now, &set);
		for (size_t k = 0; k < set.n; k++)
			send_all(s, i, s->v[i]);
		repl_coalesce_set_free(&set);
		flushed++;
	}
	return flushed;
}

static void run(sim_t *s)
{
	int rounds = 0;

	/* a window after the last flush, every pending name is due */
	s->now += REPL_COALESCE_WINDOW_MS;
	while (flush_round(s, s->now) > 0) {
		s->now += REPL_COALESCE_WINDOW_MS;
		assert_true(++rounds <= NODES); /* terminates: no loop */
	}
	for (int i = 0; i < s->n; i++)
		assert_int_equal(repl_coalesce_pending(&s->pend[i]), 0);
}

static int depth(const sim_t *s, int i)
{
	int d = 0;
	for (; i != 0; i = s->up[i])
		d++;
	return d;
}

/* A chain primary -> relay -> ... -> end: a write at each node in turn
 * reaches every node; one LOCKOUT per hop up, one capture at the top. */
static void test_chain_every_origin(void **state)
{
	(void)state;
	const int up[NODES] = { -1, 0, 1, 2, 3 };
	sim_t s;

	sim_init(&s, 5, up);
	for (int origin = 0; origin < 5; origin++) {
		unsigned v = 10 + (unsigned)origin, msgs = s.msgs;
		unsigned batches = s.batches;
		kdc_write(&s, origin, v);
		run(&s);
		for (int i = 0; i < 5; i++)
			assert_int_equal(s.v[i], v);
		assert_int_equal(s.msgs - msgs, (unsigned)depth(&s, origin));
		assert_int_equal(s.batches - batches, 1);
	}
	/* the primary sent nothing upwards: it has nowhere to */
	assert_int_equal(s.sent[0], 0);
	sim_free(&s);
}

/* A storm at the end of a chain, and at two leaves of one relay, within
 * one window: one LOCKOUT per hop, not one per report or per leaf. */
static void test_no_amplification(void **state)
{
	(void)state;
	const int up[NODES] = { -1, 0, 1, 1 }; /* 2 and 3 follow relay 1 */
	sim_t s;

	sim_init(&s, 4, up);
	for (unsigned k = 1; k <= 1000; k++) {
		kdc_write(&s, 2, k);
		kdc_write(&s, 3, k);
	}
	run(&s);
	assert_int_equal(s.sent[2], 1);
	assert_int_equal(s.sent[3], 1);
	/* the relay merged both; the second changed nothing and was dropped */
	assert_int_equal(s.sent[1], 1);
	assert_int_equal(s.batches, 1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(s.v[i], 1000);
	sim_free(&s);
}

/* An older report than what a node holds goes no further. */
static void test_stale_stops(void **state)
{
	(void)state;
	const int up[NODES] = { -1, 0, 1 };
	sim_t s;

	sim_init(&s, 3, up);
	kdc_write(&s, 0, 50); /* the primary's newer state, replicated */
	run(&s);
	/* the end's KDC writes again (a report re-reads 50, which the relay
	 * already holds) */
	kdc_write(&s, 2, 30);
	run(&s);
	assert_int_equal(s.sent[2], 1);
	assert_int_equal(s.sent[1], 0); /* unchanged at the relay: dropped */
	assert_int_equal(s.batches, 1);
	sim_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link),
		cmocka_unit_test(test_takes),
		cmocka_unit_test(test_after),
		cmocka_unit_test(test_chain_every_origin),
		cmocka_unit_test(test_no_amplification),
		cmocka_unit_test(test_stale_stops),
	};
	return test_run_group(tests, NULL, NULL);
}
