/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the replication state machine (node/repl/sm.c): one test per
 * transition of the diagram at the top of sm.c, for both roles, plus the
 * resume-or-full decision.  Pure: no sockets, no store.
 */
#include <stdint.h>
#include <string.h>

#include "helpers/test.h"

#include "common/errors.h"
#include "node/repl/sm.h"

static const uint8_t H1[16] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
};
static const uint8_t H2[16] = {
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2
};
static const uint8_t H0[16] = { 0 };

static repl_sm_window_t window(const uint8_t *h, uint64_t oldest, uint64_t last)
{
	repl_sm_window_t w = { .last_seq = last, .oldest_seq = oldest };
	memcpy(w.history, h, 16);
	return w;
}

static proto_msg_t hello(int role, const uint8_t *h, uint64_t seq)
{
	proto_msg_t m = { .type = PROTO_MSG_HELLO };
	m.u.hello = (proto_hello_t){ .version_min = 1,
				     .version_max = 1,
				     .role = (uint8_t)role,
				     .caps = PROTO_CAP_ZSTD,
				     .seq = seq,
				     .name = { (const uint8_t *)"peer", 4 } };
	memcpy(m.u.hello.history, h, 16);
	return m;
}

static int step(repl_sm_t *sm, repl_sm_event_t ev, repl_sm_action_t *act)
{
	return repl_sm_step(sm, &ev, act);
}

static int msg(repl_sm_t *sm, const proto_msg_t *m, repl_sm_action_t *act)
{
	return step(
		sm,
		(repl_sm_event_t){ .type = REPL_EV_MSG, .msg = m, .now_ms = 1 },
		act);
}

/* --- primary ------------------------------------------------------------ */

static void primary_connected(repl_sm_t *sm)
{
	repl_sm_action_t act;
	repl_sm_init(sm, REPL_ROLE_PRIMARY, NULL);
	assert_int_equal(
		step(sm, (repl_sm_event_t){ .type = REPL_EV_CONNECTED }, &act),
		REPL_ACT_SEND_HELLO);
	assert_int_equal(sm->state, REPL_ST_HELLO_WAIT);
}

/* primary at (H1, oldest 5, last 20) meets a replica at (h, seq) */
static int primary_hello(repl_sm_t *sm, const uint8_t *h, uint64_t seq,
			 repl_sm_action_t *act)
{
	repl_sm_window_t w = window(H1, 5, 20);
	proto_msg_t m = hello(PROTO_ROLE_REPLICA, h, seq);
	primary_connected(sm);
	return step(sm,
		    (repl_sm_event_t){
			    .type = REPL_EV_MSG, .msg = &m, .window = &w },
		    act);
}

static void test_primary_connect_sends_hello(void **state)
{
	repl_sm_t sm;
	(void)state;
	primary_connected(&sm);
}

static void test_primary_hello_incremental(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	assert_int_equal(primary_hello(&sm, H1, 10, &act),
			 REPL_ACT_SEND_ANSWER);
	assert_int_equal(act.answer_mode, PROTO_ANSWER_INCREMENTAL);
	assert_int_equal(act.seq, 11);
	assert_memory_equal(act.history, H1, 16);
	assert_int_equal(sm.state, REPL_ST_STREAM);
	assert_int_equal(sm.sent, 10);
	assert_false(sm.full);
}

static void test_primary_hello_outside_window_full(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	/* entries 4.. needed, oldest kept is 5 */
	assert_int_equal(primary_hello(&sm, H1, 3, &act),
			 REPL_ACT_SEND_SNAPSHOT);
	assert_int_equal(act.seq, 20);
	assert_memory_equal(act.history, H1, 16);
	assert_int_equal(sm.state, REPL_ST_SNAP_SEND);
	assert_true(sm.full);
}

static void test_primary_hello_other_history_full(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	assert_int_equal(primary_hello(&sm, H2, 10, &act),
			 REPL_ACT_SEND_SNAPSHOT);
	assert_int_equal(sm.state, REPL_ST_SNAP_SEND);
}

static void test_primary_hello_empty_replica_full(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	assert_int_equal(primary_hello(&sm, H0, 0, &act),
			 REPL_ACT_SEND_SNAPSHOT);
}

static void test_primary_hello_ahead_full(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	assert_int_equal(primary_hello(&sm, H1, 21, &act),
			 REPL_ACT_SEND_SNAPSHOT);
}

static void test_primary_hello_previous_history(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	repl_sm_window_t w = window(H2, 5, 20);
	proto_msg_t m = hello(PROTO_ROLE_REPLICA, H1, 12);
	(void)state;
	memcpy(w.prev_history, H1, 16);
	w.prev_last_seq = 15;
	primary_connected(&sm);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_MSG,
						 .msg = &m,
						 .window = &w },
			      &act),
			 REPL_ACT_SEND_ANSWER);
	assert_memory_equal(act.history, H2, 16);
	assert_int_equal(act.seq, 13);
	/* diverged: past the previous history's end */
	m = hello(PROTO_ROLE_REPLICA, H1, 16);
	primary_connected(&sm);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_MSG,
						 .msg = &m,
						 .window = &w },
			      &act),
			 REPL_ACT_SEND_SNAPSHOT);
}

static void test_primary_hello_wrong_role_resets(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	repl_sm_window_t w = window(H1, 1, 0);
	proto_msg_t m = hello(PROTO_ROLE_PRIMARY, H1, 0);
	(void)state;
	primary_connected(&sm);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_MSG,
						 .msg = &m,
						 .window = &w },
			      &act),
			 REPL_ACT_RESET);
	assert_int_equal(act.code, KS_ESTATE);
	assert_true(act.send_error);
	assert_int_equal(sm.state, REPL_ST_IDLE);
}

static void test_primary_hello_no_zstd_resets(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	repl_sm_window_t w = window(H1, 1, 0);
	proto_msg_t m = hello(PROTO_ROLE_REPLICA, H1, 0);
	(void)state;
	m.u.hello.caps = 0;
	primary_connected(&sm);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_MSG,
						 .msg = &m,
						 .window = &w },
			      &act),
			 REPL_ACT_RESET);
	assert_int_equal(act.code, KS_ENOTSUP);
}

static void test_primary_log_grew_sends_from(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	repl_sm_window_t w = window(H1, 5, 25);
	(void)state;
	primary_hello(&sm, H1, 20, &act);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_LOG_GREW,
						 .window = &w },
			      &act),
			 REPL_ACT_SEND_FROM);
	assert_int_equal(act.seq, 21);
	/* congested: nothing now */
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_LOG_GREW,
						 .window = &w,
						 .congested = true },
			      &act),
			 REPL_ACT_NONE);
}

static void test_primary_sent_moves_sent(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	repl_sm_window_t w = window(H1, 5, 25);
	(void)state;
	primary_hello(&sm, H1, 20, &act);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_SENT,
						 .seq = 25,
						 .now_ms = 7 },
			      &act),
			 REPL_ACT_NONE);
	assert_int_equal(sm.sent, 25);
	assert_int_equal(sm.sent_at_ms, 7);
	/* everything sent: nothing more to do */
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_LOG_GREW,
						 .window = &w },
			      &act),
			 REPL_ACT_NONE);
}

static void test_primary_log_grew_new_history_resets(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	repl_sm_window_t w = window(H2, 1, 30);
	(void)state;
	primary_hello(&sm, H1, 20, &act);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_LOG_GREW,
						 .window = &w },
			      &act),
			 REPL_ACT_RESET);
	assert_int_equal(act.code, KS_EHISTORY);
}

static proto_msg_t ack(const uint8_t *h, uint64_t seq)
{
	proto_msg_t m = { .type = PROTO_MSG_ACK };
	memcpy(m.u.ack.history, h, 16);
	m.u.ack.seq = seq;
	return m;
}

static void test_primary_ack_records(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_msg_t a = ack(H1, 23);
	(void)state;
	primary_hello(&sm, H1, 20, &act);
	step(&sm, (repl_sm_event_t){ .type = REPL_EV_SENT, .seq = 25 }, &act);
	assert_int_equal(msg(&sm, &a, &act), REPL_ACT_RECORD_ACK);
	assert_int_equal(act.seq, 23);
	assert_int_equal(sm.pos, 23);
	/* an older ack changes nothing */
	a = ack(H1, 21);
	assert_int_equal(msg(&sm, &a, &act), REPL_ACT_NONE);
	assert_int_equal(sm.pos, 23);
}

static void test_primary_ack_beyond_sent_resets(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_msg_t a = ack(H1, 30);
	(void)state;
	primary_hello(&sm, H1, 20, &act);
	assert_int_equal(msg(&sm, &a, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_ESTATE);
}

static void test_primary_ack_other_history_resets(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_msg_t a = ack(H2, 20);
	(void)state;
	primary_hello(&sm, H1, 20, &act);
	assert_int_equal(msg(&sm, &a, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_EHISTORY);
}

static void test_primary_snapshot_ack_streams(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_msg_t a = ack(H1, 19);
	(void)state;
	primary_hello(&sm, H2, 0, &act);
	/* wrong seq for the snapshot */
	assert_int_equal(msg(&sm, &a, &act), REPL_ACT_RESET);
	primary_hello(&sm, H2, 0, &act);
	a = ack(H1, 20);
	assert_int_equal(msg(&sm, &a, &act), REPL_ACT_RECORD_ACK);
	assert_int_equal(act.seq, 20);
	assert_int_equal(sm.state, REPL_ST_STREAM);
	assert_int_equal(sm.sent, 20);
}

static void test_primary_unexpected_message_resets(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_msg_t m = { .type = PROTO_MSG_BATCH };
	(void)state;
	primary_hello(&sm, H1, 20, &act);
	assert_int_equal(msg(&sm, &m, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_ESTATE);
	assert_true(act.send_error);
}

static void test_primary_hello_timeout(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	primary_connected(&sm);
	assert_int_equal(
		step(&sm,
		     (repl_sm_event_t){ .type = REPL_EV_TICK, .now_ms = 5000 },
		     &act),
		REPL_ACT_NONE);
	assert_int_equal(
		step(&sm,
		     (repl_sm_event_t){ .type = REPL_EV_TICK, .now_ms = 10001 },
		     &act),
		REPL_ACT_RESET);
	assert_int_equal(act.code, KS_ETIMEDOUT);
}

/* connected during the start-up scan: nothing is sent, the peer's frames
 * are not taken; READY sends the HELLO and the handshake goes on */
static void test_primary_not_ready_then_ready(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	repl_sm_window_t w = window(H1, 5, 20);
	proto_msg_t m = hello(PROTO_ROLE_REPLICA, H1, 10);
	(void)state;
	repl_sm_init(&sm, REPL_ROLE_PRIMARY, NULL);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_CONNECTED,
						 .not_ready = true,
						 .now_ms = 100 },
			      &act),
			 REPL_ACT_NONE);
	assert_int_equal(sm.state, REPL_ST_NOT_READY);
	assert_string_equal(repl_sm_state_name(sm.state), "starting");
	/* a frame fed meanwhile is not acted on (the I/O layer keeps it) */
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_MSG,
						 .msg = &m,
						 .window = &w,
						 .now_ms = 200 },
			      &act),
			 REPL_ACT_NONE);
	assert_int_equal(sm.state, REPL_ST_NOT_READY);
	/* within not_ready_ms: no reset */
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_TICK,
						 .now_ms = 100 + 5000 },
			      &act),
			 REPL_ACT_NONE);
	assert_int_equal(
		step(&sm,
		     (repl_sm_event_t){ .type = REPL_EV_READY, .now_ms = 5200 },
		     &act),
		REPL_ACT_SEND_HELLO);
	assert_int_equal(sm.state, REPL_ST_HELLO_WAIT);
	/* the handshake time counts from READY */
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_TICK,
						 .now_ms = 5200 + 9000 },
			      &act),
			 REPL_ACT_NONE);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_MSG,
						 .msg = &m,
						 .window = &w,
						 .now_ms = 14300 },
			      &act),
			 REPL_ACT_SEND_ANSWER);
	assert_int_equal(sm.state, REPL_ST_STREAM);
	/* READY once streaming: nothing */
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_READY,
						 .now_ms = 14400 },
			      &act),
			 REPL_ACT_NONE);
	assert_int_equal(sm.state, REPL_ST_STREAM);
}

/* the start-up scan takes longer than not_ready_ms: the peer is told why
 * (ERROR KS_EBUSY) and retries; ready links are not affected */
static void test_primary_not_ready_timeout(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	repl_sm_init(&sm, REPL_ROLE_PRIMARY, NULL);
	step(&sm,
	     (repl_sm_event_t){ .type = REPL_EV_CONNECTED,
				.not_ready = true,
				.now_ms = 0 },
	     &act);
	assert_int_equal(
		step(&sm,
		     (repl_sm_event_t){ .type = REPL_EV_TICK,
					.now_ms = REPL_SM_NOT_READY_MS_DEFAULT +
						  1 },
		     &act),
		REPL_ACT_RESET);
	assert_int_equal(act.code, KS_EBUSY);
	assert_true(act.send_error);
	assert_non_null(strstr(act.reason, "not ready"));
	assert_int_equal(sm.state, REPL_ST_IDLE);
	/* a replica ignores not_ready: it sends its HELLO at once */
	repl_sm_init(&sm, REPL_ROLE_REPLICA, NULL);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_CONNECTED,
						 .not_ready = true,
						 .history = H1,
						 .seq = 3 },
			      &act),
			 REPL_ACT_SEND_HELLO);
	assert_int_equal(sm.state, REPL_ST_HELLO_WAIT);
}

static void test_primary_ack_timeout(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	primary_hello(&sm, H1, 20, &act);
	step(&sm,
	     (repl_sm_event_t){
		     .type = REPL_EV_SENT, .seq = 25, .now_ms = 100 },
	     &act);
	assert_int_equal(
		step(&sm,
		     (repl_sm_event_t){ .type = REPL_EV_TICK, .now_ms = 60100 },
		     &act),
		REPL_ACT_NONE);
	assert_int_equal(
		step(&sm,
		     (repl_sm_event_t){ .type = REPL_EV_TICK, .now_ms = 60101 },
		     &act),
		REPL_ACT_RESET);
}

/* A paused replica repeats its position: the ack clock restarts, nothing
 * else moves; silence after that still times out. */
static void test_primary_repeated_ack_keeps_link(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_msg_t a = ack(H1, 20);
	(void)state;
	primary_hello(&sm, H1, 20, &act);
	step(&sm,
	     (repl_sm_event_t){
		     .type = REPL_EV_SENT, .seq = 25, .now_ms = 100 },
	     &act);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_MSG,
						 .msg = &a,
						 .now_ms = 50000 },
			      &act),
			 REPL_ACT_NONE);
	assert_int_equal(sm.pos, 20);
	assert_int_equal(sm.sent, 25);
	assert_int_equal(
		step(&sm,
		     (repl_sm_event_t){ .type = REPL_EV_TICK, .now_ms = 60101 },
		     &act),
		REPL_ACT_NONE);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_TICK,
						 .now_ms = 110001 },
			      &act),
			 REPL_ACT_RESET);
}

static void test_primary_snapshot_ack_timeout(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	primary_hello(&sm, H0, 0, &act);
	assert_int_equal(
		step(&sm,
		     (repl_sm_event_t){ .type = REPL_EV_TICK, .now_ms = 60001 },
		     &act),
		REPL_ACT_RESET);
}

/* A full copy that keeps moving is not cut at transfer_ms: the timeout
 * counts from the last part that went out (REPL_EV_SENT); once nothing
 * goes out (a replica that stopped reading, or no final ack) it fires. */
static void test_primary_snapshot_progress_timeout(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	primary_hello(&sm, H0, 0, &act);
	assert_int_equal(sm.state, REPL_ST_SNAP_SEND);
	uint64_t sent = sm.sent;
	for (uint64_t t = 20000; t <= 200000; t += 20000) {
		step(&sm,
		     (repl_sm_event_t){ .type = REPL_EV_SENT, .now_ms = t },
		     &act);
		assert_int_equal(act.type, REPL_ACT_NONE);
		assert_int_equal(step(&sm,
				      (repl_sm_event_t){ .type = REPL_EV_TICK,
							 .now_ms = t + 19999 },
				      &act),
				 REPL_ACT_NONE);
	}
	assert_int_equal(sm.state, REPL_ST_SNAP_SEND);
	assert_int_equal(sm.sent, sent); /* not a stream position */
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_TICK,
						 .now_ms = 260000 },
			      &act),
			 REPL_ACT_NONE);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_TICK,
						 .now_ms = 260001 },
			      &act),
			 REPL_ACT_RESET);
}

/* --- replica ------------------------------------------------------------ */

static void replica_connected(repl_sm_t *sm, const uint8_t *h, uint64_t seq)
{
	repl_sm_action_t act;
	repl_sm_init(sm, REPL_ROLE_REPLICA, NULL);
	assert_int_equal(step(sm,
			      (repl_sm_event_t){ .type = REPL_EV_CONNECTED,
						 .history = h,
						 .seq = seq },
			      &act),
			 REPL_ACT_SEND_HELLO);
	assert_int_equal(sm->state, REPL_ST_HELLO_WAIT);
	assert_int_equal(sm->pos, seq);
}

static void replica_hello(repl_sm_t *sm, const uint8_t *h, uint64_t seq)
{
	repl_sm_action_t act;
	proto_msg_t m = hello(PROTO_ROLE_PRIMARY, H1, 50);
	replica_connected(sm, h, seq);
	assert_int_equal(msg(sm, &m, &act), REPL_ACT_NONE);
	assert_int_equal(sm->state, REPL_ST_ANSWER_WAIT);
}

static proto_msg_t answer(int mode, const uint8_t *h, uint64_t from)
{
	proto_msg_t m = { .type = PROTO_MSG_ANSWER };
	m.u.answer = (proto_answer_t){ .version = 1,
				       .mode = (uint8_t)mode,
				       .from_seq = from };
	memcpy(m.u.answer.history, h, 16);
	return m;
}

static void test_replica_connect_sends_hello(void **state)
{
	repl_sm_t sm;
	(void)state;
	replica_connected(&sm, H1, 7);
}

static void test_replica_hello_waits_answer(void **state)
{
	repl_sm_t sm;
	(void)state;
	replica_hello(&sm, H1, 7);
}

static void test_replica_hello_from_replica_resets(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_msg_t m = hello(PROTO_ROLE_REPLICA, H1, 0);
	(void)state;
	replica_connected(&sm, H1, 7);
	assert_int_equal(msg(&sm, &m, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_ESTATE);
}

/* The primary's identity (HELLO extension): realm and signing key. */
static void test_replica_hello_identity(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_key_t *k = NULL, *other = NULL;
	proto_trust_t *trust = NULL;
	const char *why = NULL;
	(void)state;
	assert_int_equal(proto_key_generate(&k), KS_EOK);
	assert_int_equal(proto_key_generate(&other), KS_EOK);
	assert_int_equal(proto_trust_new(&trust), KS_EOK);
	assert_int_equal(proto_trust_add(trust, k), KS_EOK);
	proto_msg_t m = hello(PROTO_ROLE_PRIMARY, H1, 50);
	m.u.hello.has_ident = true;
	m.u.hello.realm = (ks_view_t){ (const uint8_t *)"EXAMPLE.ORG", 11 };
	memcpy(m.u.hello.key_id, proto_key_id(k), PROTO_KEYID_LEN);
	repl_sm_event_t ev = { .type = REPL_EV_MSG,
			       .msg = &m,
			       .now_ms = 1,
			       .realm = "EXAMPLE.ORG",
			       .trust = trust };
	/* same realm, trusted key: waits for the answer */
	replica_connected(&sm, H1, 7);
	assert_int_equal(repl_sm_step(&sm, &ev, &act), REPL_ACT_NONE);
	assert_int_equal(sm.state, REPL_ST_ANSWER_WAIT);
	/* another realm */
	ev.realm = "OTHER.ORG";
	replica_connected(&sm, H1, 7);
	assert_int_equal(repl_sm_step(&sm, &ev, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_EREALM);
	assert_true(act.send_error);
	/* realm unknown on either side: not checked */
	ev.realm = "";
	replica_connected(&sm, H1, 7);
	assert_int_equal(repl_sm_step(&sm, &ev, &act), REPL_ACT_NONE);
	ev.realm = "EXAMPLE.ORG";
	m.u.hello.realm = (ks_view_t){ 0 };
	replica_connected(&sm, H1, 7);
	assert_int_equal(repl_sm_step(&sm, &ev, &act), REPL_ACT_NONE);
	/* a key it does not trust */
	memcpy(m.u.hello.key_id, proto_key_id(other), PROTO_KEYID_LEN);
	replica_connected(&sm, H1, 7);
	assert_int_equal(repl_sm_step(&sm, &ev, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_EUNTRUSTED);
	assert_int_equal(
		repl_sm_check_identity(&m.u.hello, "EXAMPLE.ORG", trust, &why),
		KS_EUNTRUSTED);
	assert_string_equal(why, "peer signs with a key not in trusted_keys");
	/* no key named, no trust set given, or no extension: not checked */
	memset(m.u.hello.key_id, 0, PROTO_KEYID_LEN);
	assert_int_equal(
		repl_sm_check_identity(&m.u.hello, "EXAMPLE.ORG", trust, &why),
		KS_EOK);
	memcpy(m.u.hello.key_id, proto_key_id(other), PROTO_KEYID_LEN);
	assert_int_equal(
		repl_sm_check_identity(&m.u.hello, "EXAMPLE.ORG", NULL, &why),
		KS_EOK);
	m.u.hello.has_ident = false;
	m.u.hello.realm = (ks_view_t){ (const uint8_t *)"OTHER.ORG", 9 };
	assert_int_equal(
		repl_sm_check_identity(&m.u.hello, "EXAMPLE.ORG", trust, &why),
		KS_EOK);
	proto_trust_free(trust);
	proto_key_free(k);
	proto_key_free(other);
}

static void test_replica_answer_incremental_streams(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_msg_t m = answer(PROTO_ANSWER_INCREMENTAL, H1, 8);
	(void)state;
	replica_hello(&sm, H1, 7);
	assert_int_equal(msg(&sm, &m, &act), REPL_ACT_NONE);
	assert_int_equal(sm.state, REPL_ST_STREAM);
	assert_false(sm.full);
}

static void test_replica_answer_wrong_from_resets(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_msg_t m = answer(PROTO_ANSWER_INCREMENTAL, H1, 9);
	(void)state;
	replica_hello(&sm, H1, 7);
	assert_int_equal(msg(&sm, &m, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_EGAP);
}

static void test_replica_answer_new_history_adopts(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_msg_t m = answer(PROTO_ANSWER_INCREMENTAL, H2, 8);
	(void)state;
	replica_hello(&sm, H1, 7);
	assert_int_equal(msg(&sm, &m, &act), REPL_ACT_ADOPT_HISTORY);
	assert_memory_equal(act.history, H2, 16);
	assert_int_equal(act.seq, 7);
	assert_int_equal(sm.state, REPL_ST_STREAM);
	assert_memory_equal(sm.history, H2, 16);
}

static void test_replica_answer_incremental_without_position(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_msg_t m = answer(PROTO_ANSWER_INCREMENTAL, H1, 1);
	(void)state;
	replica_hello(&sm, H0, 0);
	assert_int_equal(msg(&sm, &m, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_EHISTORY);
}

static void test_replica_answer_refused_resets(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_msg_t m = answer(PROTO_ANSWER_REFUSED, H0, 0);
	(void)state;
	m.u.answer.reason = KS_EBUSY;
	replica_hello(&sm, H1, 7);
	assert_int_equal(msg(&sm, &m, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_EBUSY);
	assert_false(act.send_error);
}

static void test_replica_answer_wrong_version_resets(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_msg_t m = answer(PROTO_ANSWER_INCREMENTAL, H1, 8);
	(void)state;
	m.u.answer.version = 2;
	replica_hello(&sm, H1, 7);
	assert_int_equal(msg(&sm, &m, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_EVERSION);
}

/* A replica in SNAP_RECV for (H1, 40). */
static void replica_snap(repl_sm_t *sm)
{
	repl_sm_action_t act;
	proto_msg_t m = answer(PROTO_ANSWER_SNAPSHOT, H1, 0);
	proto_msg_t b = { .type = PROTO_MSG_SNAP_BEGIN };
	replica_hello(sm, H0, 0);
	assert_int_equal(msg(sm, &m, &act), REPL_ACT_NONE);
	assert_int_equal(sm->state, REPL_ST_SNAP_WAIT);
	memcpy(b.u.snap_begin.history, H1, 16);
	b.u.snap_begin.seq = 40;
	b.u.snap_begin.record_count = 3;
	assert_int_equal(msg(sm, &b, &act), REPL_ACT_STAGE_BEGIN);
	assert_int_equal(act.seq, 40);
	assert_int_equal(sm->state, REPL_ST_SNAP_RECV);
}

static void test_replica_snapshot_begin_stages(void **state)
{
	repl_sm_t sm;
	(void)state;
	replica_snap(&sm);
	assert_true(sm.full);
}

static proto_batch_hdr_t chunk_hdr(const uint8_t *h, uint64_t s, uint64_t idx,
				   uint32_t ops)
{
	proto_batch_hdr_t hd = { .kind = PROTO_BLOB_CHUNK,
				 .first_seq = s,
				 .last_seq = idx,
				 .op_count = ops };
	memcpy(hd.history, h, 16);
	return hd;
}

static int chunk(repl_sm_t *sm, const proto_batch_hdr_t *hd,
		 repl_sm_action_t *act)
{
	proto_msg_t m = { .type = PROTO_MSG_SNAP_CHUNK };
	return step(
		sm,
		(repl_sm_event_t){ .type = REPL_EV_MSG, .msg = &m, .hdr = hd },
		act);
}

static void test_replica_snapshot_chunk_stages(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_batch_hdr_t hd = chunk_hdr(H1, 40, 0, 2);
	(void)state;
	replica_snap(&sm);
	assert_int_equal(chunk(&sm, &hd, &act), REPL_ACT_STAGE_CHUNK);
	hd = chunk_hdr(H1, 40, 1, 1);
	assert_int_equal(chunk(&sm, &hd, &act), REPL_ACT_STAGE_CHUNK);
	assert_int_equal(sm.rx.records, 3);
}

static void test_replica_snapshot_chunk_out_of_order_resets(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_batch_hdr_t hd = chunk_hdr(H1, 40, 1, 2);
	(void)state;
	replica_snap(&sm);
	assert_int_equal(chunk(&sm, &hd, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_EGAP);
	replica_snap(&sm);
	hd = chunk_hdr(H2, 40, 0, 2);
	assert_int_equal(chunk(&sm, &hd, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_EHISTORY);
}

static int snap_end(repl_sm_t *sm, uint32_t chunks, uint64_t records,
		    repl_sm_action_t *act)
{
	proto_msg_t m = { .type = PROTO_MSG_SNAP_END };
	proto_snap_end_t e = { .seq = 40,
			       .chunk_count = chunks,
			       .record_count = records };
	memcpy(e.history, H1, 16);
	return step(
		sm,
		(repl_sm_event_t){ .type = REPL_EV_MSG, .msg = &m, .end = &e },
		act);
}

static void test_replica_snapshot_end_promotes(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_batch_hdr_t hd = chunk_hdr(H1, 40, 0, 3);
	(void)state;
	replica_snap(&sm);
	chunk(&sm, &hd, &act);
	assert_int_equal(snap_end(&sm, 1, 3, &act), REPL_ACT_INSTALL);
	assert_memory_equal(act.history, H1, 16);
	assert_int_equal(act.seq, 40);
	assert_int_equal(sm.state, REPL_ST_SNAP_INSTALL);
}

static void test_replica_snapshot_end_count_mismatch_resets(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_batch_hdr_t hd = chunk_hdr(H1, 40, 0, 3);
	(void)state;
	replica_snap(&sm);
	chunk(&sm, &hd, &act);
	assert_int_equal(snap_end(&sm, 2, 3, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_ECOUNT);
}

static void test_replica_promoted_acks_and_streams(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	replica_snap(&sm);
	snap_end(&sm, 0, 0, &act);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_APPLIED,
						 .history = H1,
						 .seq = 40 },
			      &act),
			 REPL_ACT_SEND_ACK);
	assert_int_equal(act.seq, 40);
	assert_memory_equal(act.history, H1, 16);
	assert_int_equal(sm.state, REPL_ST_STREAM);
}

static int batch(repl_sm_t *sm, const uint8_t *h, uint64_t first, uint64_t last,
		 repl_sm_action_t *act)
{
	proto_msg_t m = { .type = PROTO_MSG_BATCH };
	proto_batch_hdr_t hd = { .kind = PROTO_BLOB_BATCH,
				 .first_seq = first,
				 .last_seq = last,
				 .op_count = (uint32_t)(last - first + 1) };
	memcpy(hd.history, h, 16);
	return step(
		sm,
		(repl_sm_event_t){ .type = REPL_EV_MSG, .msg = &m, .hdr = &hd },
		act);
}

static void replica_streaming(repl_sm_t *sm, uint64_t pos)
{
	repl_sm_action_t act;
	proto_msg_t m = answer(PROTO_ANSWER_INCREMENTAL, H1, pos + 1);
	replica_hello(sm, H1, pos);
	msg(sm, &m, &act);
	assert_int_equal(sm->state, REPL_ST_STREAM);
}

static void test_replica_batch_next_applies(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	replica_streaming(&sm, 7);
	assert_int_equal(batch(&sm, H1, 8, 12, &act), REPL_ACT_APPLY_BATCH);
	assert_int_equal(act.seq, 12);
}

static void test_replica_applied_acks(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	replica_streaming(&sm, 7);
	batch(&sm, H1, 8, 12, &act);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_APPLIED,
						 .history = H1,
						 .seq = 12 },
			      &act),
			 REPL_ACT_SEND_ACK);
	assert_int_equal(act.seq, 12);
	assert_int_equal(sm.pos, 12);
}

static void test_replica_batch_replay_acks(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	replica_streaming(&sm, 12);
	assert_int_equal(batch(&sm, H1, 8, 12, &act), REPL_ACT_SEND_ACK);
	assert_int_equal(act.seq, 12);
}

static void test_replica_batch_gap_resets(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	replica_streaming(&sm, 7);
	assert_int_equal(batch(&sm, H1, 9, 12, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_EGAP);
	replica_streaming(&sm, 7);
	assert_int_equal(batch(&sm, H2, 8, 12, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_EHISTORY);
}

static void test_replica_batch_during_snapshot_resets(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	replica_snap(&sm);
	assert_int_equal(batch(&sm, H1, 41, 41, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_ESTATE);
}

static void test_replica_answer_timeout(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	replica_hello(&sm, H1, 7);
	assert_int_equal(
		step(&sm,
		     (repl_sm_event_t){ .type = REPL_EV_TICK, .now_ms = 20000 },
		     &act),
		REPL_ACT_RESET);
	assert_int_equal(act.code, KS_ETIMEDOUT);
}

static void test_replica_snapshot_stall_timeout(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	replica_snap(&sm);
	assert_int_equal(
		step(&sm,
		     (repl_sm_event_t){ .type = REPL_EV_TICK, .now_ms = 30000 },
		     &act),
		REPL_ACT_NONE);
	assert_int_equal(
		step(&sm,
		     (repl_sm_event_t){ .type = REPL_EV_TICK, .now_ms = 60002 },
		     &act),
		REPL_ACT_RESET);
}

/* --- both --------------------------------------------------------------- */

static void test_peer_error_resets_silently(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_msg_t m = { .type = PROTO_MSG_ERROR };
	(void)state;
	m.u.error.code = KS_ESIG;
	replica_streaming(&sm, 7);
	assert_int_equal(msg(&sm, &m, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_ESIG);
	assert_false(act.send_error);
	assert_int_equal(sm.last_err, KS_ESIG);
}

static void test_local_error_resets(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	replica_streaming(&sm, 7);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_LOCAL_ERROR,
						 .code = KS_EKDB },
			      &act),
			 REPL_ACT_RESET);
	assert_int_equal(act.code, KS_EKDB);
	assert_true(act.send_error);
}

static void test_closed_returns_idle(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	replica_snap(&sm);
	assert_int_equal(
		step(&sm, (repl_sm_event_t){ .type = REPL_EV_CLOSED }, &act),
		REPL_ACT_NONE);
	assert_int_equal(sm.state, REPL_ST_IDLE);
	assert_int_equal(sm.rx.started, 0);
	/* a late frame after the reset is ignored */
	proto_msg_t m = { .type = PROTO_MSG_BATCH };
	assert_int_equal(msg(&sm, &m, &act), REPL_ACT_NONE);
	/* and the link can connect again */
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_CONNECTED,
						 .history = H1,
						 .seq = 3 },
			      &act),
			 REPL_ACT_SEND_HELLO);
}

/* --- relay (PROTOCOL.md §3.13) ------------------------------------------- */

/* a relay applied H2 up to 30; H2 continues H1 from seq 20 (adopted) */
static repl_sm_relay_t relay_view(const uint8_t *next, bool can_snapshot)
{
	repl_sm_relay_t v = { .seq = 30,
			      .prev_last_seq = 20,
			      .can_snapshot = can_snapshot };
	memcpy(v.history, H2, 16);
	memcpy(v.prev_history, H1, 16);
	if (next != NULL)
		memcpy(v.next_history, next, 16);
	return v;
}

static void test_relay_decide(void **state)
{
	const char *why = NULL;
	repl_sm_relay_t v = relay_view(H2, true);
	repl_sm_relay_t none = relay_view(NULL, true);
	repl_sm_relay_t old = relay_view(H1, true);
	(void)state;
	/* a kept batch of the same history starts right after: resume */
	assert_int_equal(repl_sm_relay_decide(&v, H2, 25, &why),
			 REPL_RESUME_INCREMENTAL);
	/* at the relay's position: nothing to send yet */
	assert_int_equal(repl_sm_relay_decide(&none, H2, 30, &why),
			 REPL_RESUME_INCREMENTAL);
	/* no batch kept from there (a full copy came in between) */
	assert_int_equal(repl_sm_relay_decide(&none, H2, 25, &why),
			 REPL_RESUME_FULL);
	/* never a rewind: a replica ahead gets a full copy */
	assert_int_equal(repl_sm_relay_decide(&v, H2, 31, &why),
			 REPL_RESUME_FULL);
	/* the previous history at its end, and H2 goes on: adopt */
	assert_int_equal(repl_sm_relay_decide(&v, H1, 20, &why),
			 REPL_RESUME_PREVIOUS);
	/* ... but not when what follows is still H1 (the relay cannot
	 * re-sign it under H2) or past the previous history's end */
	assert_int_equal(repl_sm_relay_decide(&old, H1, 15, &why),
			 REPL_RESUME_FULL);
	assert_int_equal(repl_sm_relay_decide(&v, H1, 21, &why),
			 REPL_RESUME_FULL);
	assert_int_equal(repl_sm_relay_decide(&v, H0, 0, &why),
			 REPL_RESUME_FULL);
	assert_non_null(why);
}

static int relay_hello(repl_sm_t *sm, const repl_sm_relay_t *v,
		       const uint8_t *h, uint64_t seq, repl_sm_action_t *act)
{
	repl_sm_window_t w = window(v->history, v->seq + 1, v->seq);
	proto_msg_t m = hello(PROTO_ROLE_REPLICA, h, seq);
	primary_connected(sm);
	return step(sm,
		    (repl_sm_event_t){ .type = REPL_EV_MSG,
				       .msg = &m,
				       .window = &w,
				       .relay = v },
		    act);
}

static void test_relay_hello(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	repl_sm_relay_t v = relay_view(H2, true);
	repl_sm_relay_t nokey = relay_view(NULL, false);
	(void)state;
	/* incremental on the replica's own history */
	assert_int_equal(relay_hello(&sm, &v, H2, 25, &act),
			 REPL_ACT_SEND_ANSWER);
	assert_int_equal(act.answer_mode, PROTO_ANSWER_INCREMENTAL);
	assert_int_equal(act.seq, 26);
	assert_memory_equal(act.history, H2, 16);
	assert_int_equal(sm.state, REPL_ST_STREAM);
	/* previous history: the answer names the relay's current one */
	assert_int_equal(relay_hello(&sm, &v, H1, 20, &act),
			 REPL_ACT_SEND_ANSWER);
	assert_memory_equal(act.history, H2, 16);
	assert_int_equal(act.seq, 21);
	/* a full copy of the relay's applied position, signed by it */
	assert_int_equal(relay_hello(&sm, &v, H0, 0, &act),
			 REPL_ACT_SEND_SNAPSHOT);
	assert_int_equal(act.seq, 30);
	assert_memory_equal(act.history, H2, 16);
	/* without a signing key it refuses instead, applying nothing */
	assert_int_equal(relay_hello(&sm, &nokey, H0, 0, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_ENOTSUP);
	assert_true(act.send_error);
	assert_int_equal(sm.state, REPL_ST_IDLE);
}

static void test_decide_table(void **state)
{
	repl_sm_window_t w = window(H1, 5, 20);
	const char *why = NULL;
	(void)state;
	assert_int_equal(repl_sm_decide(&w, H1, 20, &why),
			 REPL_RESUME_INCREMENTAL);
	assert_int_equal(repl_sm_decide(&w, H1, 4, &why),
			 REPL_RESUME_INCREMENTAL); /* needs 5.. : kept */
	assert_int_equal(repl_sm_decide(&w, H1, 3, &why), REPL_RESUME_FULL);
	assert_string_equal(why, "position outside the retained log");
	/* an empty log (all trimmed) still resumes a replica at last_seq */
	w = window(H1, 21, 20);
	assert_int_equal(repl_sm_decide(&w, H1, 20, &why),
			 REPL_RESUME_INCREMENTAL);
	assert_int_equal(repl_sm_decide(&w, H1, 19, &why), REPL_RESUME_FULL);
	assert_int_equal(repl_sm_decide(&w, H0, 0, &why), REPL_RESUME_FULL);
	assert_string_equal(why, "replica has no position");
}

/*
 * Promotion (DESIGN.md §2): the promoted node's window has a new history
 * and remembers the old one with its last seq.  One case per rule.
 */
static void test_decide_previous_history(void **state)
{
	const char *why = NULL;
	(void)state;
	/* promoted at seq 20 (its log 5..20 kept), 4 changes since */
	repl_sm_window_t w = window(H2, 5, 24);
	memcpy(w.prev_history, H1, 16);
	w.prev_last_seq = 20;
	/* exactly at the previous history's end */
	assert_int_equal(repl_sm_decide(&w, H1, 20, &why),
			 REPL_RESUME_PREVIOUS);
	assert_string_equal(why, "continuing from the previous history");
	/* behind on the previous history, entries still kept */
	assert_int_equal(repl_sm_decide(&w, H1, 4, &why), REPL_RESUME_PREVIOUS);
	/* behind, entries needed (4..) trimmed */
	assert_int_equal(repl_sm_decide(&w, H1, 3, &why), REPL_RESUME_FULL);
	assert_string_equal(why, "position outside the retained log");
	/* past the previous history's end: it saw changes we never had */
	assert_int_equal(repl_sm_decide(&w, H1, 21, &why), REPL_RESUME_REWIND);
	assert_string_equal(why, "replica diverged from the previous history: "
				 "rewind");
	assert_int_equal(repl_sm_fork_seq(&w, H1), 20);
	assert_int_equal(repl_sm_fork_seq(&w, H2), 24);
	/* the new history itself still resumes as usual */
	assert_int_equal(repl_sm_decide(&w, H2, 22, &why),
			 REPL_RESUME_INCREMENTAL);
	/* a third history is unknown */
	uint8_t h3[16];
	memset(h3, 0x33, sizeof(h3));
	assert_int_equal(repl_sm_decide(&w, h3, 20, &why), REPL_RESUME_FULL);
	assert_string_equal(why, "unknown history");

	/* promoted right after a full snapshot at 20: its log is empty
	 * (oldest 21), nothing new yet: a replica at 20 still resumes */
	w = window(H2, 21, 20);
	memcpy(w.prev_history, H1, 16);
	w.prev_last_seq = 20;
	assert_int_equal(repl_sm_decide(&w, H1, 20, &why),
			 REPL_RESUME_PREVIOUS);
	assert_int_equal(repl_sm_decide(&w, H1, 19, &why), REPL_RESUME_FULL);
	/* ... and after 3 new changes (log 21..23) too */
	w = window(H2, 21, 23);
	memcpy(w.prev_history, H1, 16);
	w.prev_last_seq = 20;
	assert_int_equal(repl_sm_decide(&w, H1, 20, &why),
			 REPL_RESUME_PREVIOUS);

	/* no previous history: an all-zero id never matches it */
	w = window(H2, 5, 24);
	assert_int_equal(repl_sm_decide(&w, H0, 0, &why), REPL_RESUME_FULL);
	assert_string_equal(why, "replica has no position");
}

/* The replica's side of a resume under the promoted primary's new id. */
static void test_replica_adopts_promoted_history(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	proto_msg_t m;
	(void)state;
	repl_sm_init(&sm, REPL_ROLE_REPLICA, NULL);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_CONNECTED,
						 .history = H1,
						 .seq = 20 },
			      &act),
			 REPL_ACT_SEND_HELLO);
	m = hello(PROTO_ROLE_PRIMARY, H2, 24);
	assert_int_equal(msg(&sm, &m, &act), REPL_ACT_NONE);
	m = (proto_msg_t){ .type = PROTO_MSG_ANSWER };
	m.u.answer = (proto_answer_t){ .version = sm.version,
				       .mode = PROTO_ANSWER_INCREMENTAL,
				       .from_seq = 21 };
	memcpy(m.u.answer.history, H2, 16);
	assert_int_equal(msg(&sm, &m, &act), REPL_ACT_ADOPT_HISTORY);
	assert_memory_equal(act.history, H2, 16);
	assert_int_equal(act.seq, 20);
	assert_int_equal(sm.state, REPL_ST_STREAM);
	assert_memory_equal(sm.history, H2, 16);
}

/* A failed start-up scan is retried after 1 s, 2 s, 4 s ... at most
 * 30 s (the engine resets the count when a scan succeeds). */
static void test_startup_retry_backoff(void **state)
{
	(void)state;
	assert_int_equal(repl_sm_startup_retry_ms(0), 1000);
	assert_int_equal(repl_sm_startup_retry_ms(1), 1000);
	assert_int_equal(repl_sm_startup_retry_ms(2), 2000);
	assert_int_equal(repl_sm_startup_retry_ms(3), 4000);
	assert_int_equal(repl_sm_startup_retry_ms(5), 16000);
	assert_int_equal(repl_sm_startup_retry_ms(6), 30000);
	assert_int_equal(repl_sm_startup_retry_ms(7), 30000);
	assert_int_equal(repl_sm_startup_retry_ms(1000000), 30000);
	for (unsigned f = 1; f < 40; f++)
		assert_true(repl_sm_startup_retry_ms(f + 1) >=
			    repl_sm_startup_retry_ms(f));
}

static void test_state_names(void **state)
{
	(void)state;
	for (int s = 0; s < REPL_ST_COUNT; s++)
		assert_string_not_equal(repl_sm_state_name(s), "?");
	assert_string_equal(repl_sm_state_name(REPL_ST_COUNT), "?");
}

/* --- rewind (PROTOCOL.md §3.9) -------------------------------------------- */

static void test_decide_rewind(void **state)
{
	const char *why = NULL;
	(void)state;
	/* same history, replica ahead: rewind to our last seq */
	repl_sm_window_t w = window(H1, 5, 20);
	assert_int_equal(repl_sm_decide(&w, H1, 25, &why), REPL_RESUME_REWIND);
	assert_int_equal(repl_sm_fork_seq(&w, H1), 20);
	/* promoted at 10, the fork's successors (11..) trimmed: full */
	w = window(H2, 12, 30);
	memcpy(w.prev_history, H1, 16);
	w.prev_last_seq = 10;
	assert_int_equal(repl_sm_decide(&w, H1, 14, &why), REPL_RESUME_FULL);
	assert_string_equal(why, "replica diverged before the retained log");
	w.oldest_seq = 11;
	assert_int_equal(repl_sm_decide(&w, H1, 14, &why), REPL_RESUME_REWIND);
}

/* A primary at (H2, 5..24, previous H1 ended at 20) and a replica at
 * (H1, 23): ANSWER(REWIND from 21), FETCH(20), VALUES, ACK(H2, 20). */
static void test_rewind_primary(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	repl_sm_window_t w = window(H2, 5, 24);
	proto_msg_t m = hello(PROTO_ROLE_REPLICA, H1, 23);
	(void)state;
	memcpy(w.prev_history, H1, 16);
	w.prev_last_seq = 20;
	/* without the capability: a full snapshot, as before */
	primary_connected(&sm);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_MSG,
						 .msg = &m,
						 .window = &w },
			      &act),
			 REPL_ACT_SEND_SNAPSHOT);
	m.u.hello.caps |= PROTO_CAP_REWIND;
	primary_connected(&sm);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_MSG,
						 .msg = &m,
						 .window = &w },
			      &act),
			 REPL_ACT_SEND_ANSWER);
	assert_int_equal(act.answer_mode, PROTO_ANSWER_REWIND);
	assert_int_equal(act.seq, 21);
	assert_memory_equal(act.history, H2, 16);
	assert_int_equal(sm.state, REPL_ST_REWIND_WAIT);
	/* an ACK or a FETCH for another fork point is refused */
	proto_msg_t f = { .type = PROTO_MSG_FETCH };
	f.u.fetch.seq = 19;
	repl_sm_t copy = sm;
	assert_int_equal(msg(&copy, &f, &act), REPL_ACT_RESET);
	copy = sm;
	proto_msg_t a = ack(H2, 20);
	assert_int_equal(msg(&copy, &a, &act), REPL_ACT_RESET);
	f.u.fetch.seq = 20;
	assert_int_equal(msg(&sm, &f, &act), REPL_ACT_SEND_VALUES);
	assert_int_equal(act.seq, 20);
	assert_memory_equal(act.history, H2, 16);
	assert_int_equal(sm.state, REPL_ST_REWIND_SEND);
	a = ack(H2, 21);
	copy = sm;
	assert_int_equal(msg(&copy, &a, &act), REPL_ACT_RESET);
	a = ack(H2, 20);
	assert_int_equal(msg(&sm, &a, &act), REPL_ACT_RECORD_ACK);
	assert_int_equal(act.seq, 20);
	assert_int_equal(sm.state, REPL_ST_STREAM);
	/* then the log from 21 */
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_LOG_GREW,
						 .window = &w },
			      &act),
			 REPL_ACT_SEND_FROM);
	assert_int_equal(act.seq, 21);
}

static void test_rewind_replica(void **state)
{
	repl_sm_t sm;
	repl_sm_action_t act;
	(void)state;
	/* at (H1, 23): a rewind to a point not behind it is refused */
	replica_hello(&sm, H1, 23);
	proto_msg_t a = answer(PROTO_ANSWER_REWIND, H2, 24);
	assert_int_equal(msg(&sm, &a, &act), REPL_ACT_RESET);
	replica_hello(&sm, H1, 23);
	a = answer(PROTO_ANSWER_REWIND, H2, 21);
	assert_int_equal(msg(&sm, &a, &act), REPL_ACT_SEND_FETCH);
	assert_int_equal(act.seq, 20);
	assert_memory_equal(act.history, H2, 16);
	assert_int_equal(sm.state, REPL_ST_REWIND_RECV);
	/* a batch now, or values for another rewind, are refused */
	proto_msg_t v = { .type = PROTO_MSG_VALUES };
	proto_batch_hdr_t hd = { .kind = PROTO_BLOB_VALUES,
				 .first_seq = 19,
				 .last_seq = 30,
				 .op_count = 2 };
	memcpy(hd.history, H2, 16);
	repl_sm_t copy = sm;
	assert_int_equal(step(&copy,
			      (repl_sm_event_t){ .type = REPL_EV_MSG,
						 .msg = &v,
						 .hdr = &hd },
			      &act),
			 REPL_ACT_RESET);
	hd.first_seq = 20;
	memcpy(hd.history, H1, 16);
	copy = sm;
	assert_int_equal(step(&copy,
			      (repl_sm_event_t){ .type = REPL_EV_MSG,
						 .msg = &v,
						 .hdr = &hd },
			      &act),
			 REPL_ACT_RESET);
	memcpy(hd.history, H2, 16);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_MSG,
						 .msg = &v,
						 .hdr = &hd },
			      &act),
			 REPL_ACT_REWIND);
	assert_int_equal(act.seq, 20);
	assert_memory_equal(act.history, H2, 16);
	assert_int_equal(sm.state, REPL_ST_REWIND_APPLY);
	assert_int_equal(step(&sm,
			      (repl_sm_event_t){ .type = REPL_EV_APPLIED,
						 .history = H2,
						 .seq = 20 },
			      &act),
			 REPL_ACT_SEND_ACK);
	assert_int_equal(act.seq, 20);
	assert_memory_equal(act.history, H2, 16);
	assert_int_equal(sm.state, REPL_ST_STREAM);
	assert_int_equal(sm.pos, 20);
	/* the rewind exchange times out like a handshake */
	replica_hello(&sm, H1, 23);
	a = answer(PROTO_ANSWER_REWIND, H2, 21);
	assert_int_equal(msg(&sm, &a, &act), REPL_ACT_SEND_FETCH);
	assert_int_equal(
		step(&sm,
		     (repl_sm_event_t){
			     .type = REPL_EV_TICK,
			     .now_ms = 1 + REPL_SM_HANDSHAKE_MS_DEFAULT + 1 },
		     &act),
		REPL_ACT_RESET);
	assert_string_equal(act.reason, "rewind exchange timed out");
}

/* One VALUES part with \p ops ops, last_seq \p last, at time \p now. */
static int values_part(repl_sm_t *sm, uint32_t ops, uint64_t last, uint64_t now,
		       repl_sm_action_t *act)
{
	proto_msg_t v = { .type = PROTO_MSG_VALUES };
	proto_batch_hdr_t hd = { .kind = PROTO_BLOB_VALUES,
				 .first_seq = 20,
				 .last_seq = last,
				 .op_count = ops };

	memcpy(hd.history, H2, 16);
	return step(sm,
		    (repl_sm_event_t){ .type = REPL_EV_MSG,
				       .msg = &v,
				       .hdr = &hd,
				       .now_ms = now },
		    act);
}

/* The rewind's VALUES in parts (PROTOCOL.md §3.9): kept until their ops
 * add up to the keys fetched; more ops than that, or parts of different
 * reads (last_seq), reset with KS_EMALF; each part restarts the timeout;
 * without the FETCH's key count (repl_sm_rewind_fetched not called) one
 * VALUES ends the rewind, as before parts. */
static void test_rewind_replica_parts(void **state)
{
	repl_sm_t sm, copy;
	repl_sm_action_t act;
	(void)state;
	replica_hello(&sm, H1, 23);
	proto_msg_t a = answer(PROTO_ANSWER_REWIND, H2, 21);
	assert_int_equal(msg(&sm, &a, &act), REPL_ACT_SEND_FETCH);
	repl_sm_rewind_fetched(&sm, 10);
	assert_int_equal(values_part(&sm, 4, 30, 2, &act),
			 REPL_ACT_REWIND_PART);
	assert_int_equal(sm.state, REPL_ST_REWIND_RECV);
	/* too many ops: 4 + 7 > 10 */
	copy = sm;
	assert_int_equal(values_part(&copy, 7, 30, 3, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_EMALF);
	/* another read of the primary's */
	copy = sm;
	assert_int_equal(values_part(&copy, 3, 31, 3, &act), REPL_ACT_RESET);
	assert_int_equal(act.code, KS_EMALF);
	/* each part restarts the handshake timeout */
	uint64_t t = 2 + REPL_SM_HANDSHAKE_MS_DEFAULT - 1;
	assert_int_equal(values_part(&sm, 3, 30, t, &act),
			 REPL_ACT_REWIND_PART);
	assert_int_equal(
		step(&sm,
		     (repl_sm_event_t){ .type = REPL_EV_TICK, .now_ms = t + 2 },
		     &act),
		REPL_ACT_NONE);
	copy = sm;
	assert_int_equal(
		step(&copy,
		     (repl_sm_event_t){
			     .type = REPL_EV_TICK,
			     .now_ms = t + REPL_SM_HANDSHAKE_MS_DEFAULT + 1 },
		     &act),
		REPL_ACT_RESET);
	/* the last part: 4 + 3 + 3 = 10 */
	assert_int_equal(values_part(&sm, 3, 30, t + 3, &act), REPL_ACT_REWIND);
	assert_int_equal(act.seq, 20);
	assert_memory_equal(act.history, H2, 16);
	assert_int_equal(sm.state, REPL_ST_REWIND_APPLY);
	/* a part after the last one is not valid any more */
	assert_int_equal(values_part(&sm, 1, 30, t + 4, &act), REPL_ACT_RESET);
	/* a new rewind starts counting again; the count is only taken
	 * before the first part */
	replica_hello(&sm, H1, 23);
	assert_int_equal(msg(&sm, &a, &act), REPL_ACT_SEND_FETCH);
	repl_sm_rewind_fetched(&sm, 2);
	assert_int_equal(values_part(&sm, 1, 30, 2, &act),
			 REPL_ACT_REWIND_PART);
	repl_sm_rewind_fetched(&sm, 9);
	assert_int_equal(values_part(&sm, 1, 30, 3, &act), REPL_ACT_REWIND);
	/* no count: one VALUES of any op count ends it */
	replica_hello(&sm, H1, 23);
	assert_int_equal(msg(&sm, &a, &act), REPL_ACT_SEND_FETCH);
	assert_int_equal(values_part(&sm, 5, 30, 2, &act), REPL_ACT_REWIND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_primary_connect_sends_hello),
		cmocka_unit_test(test_primary_not_ready_then_ready),
		cmocka_unit_test(test_primary_not_ready_timeout),
		cmocka_unit_test(test_primary_hello_incremental),
		cmocka_unit_test(test_primary_hello_outside_window_full),
		cmocka_unit_test(test_primary_hello_other_history_full),
		cmocka_unit_test(test_primary_hello_empty_replica_full),
		cmocka_unit_test(test_primary_hello_ahead_full),
		cmocka_unit_test(test_decide_rewind),
		cmocka_unit_test(test_rewind_primary),
		cmocka_unit_test(test_rewind_replica),
		cmocka_unit_test(test_rewind_replica_parts),
		cmocka_unit_test(test_replica_hello_identity),
		cmocka_unit_test(test_primary_hello_previous_history),
		cmocka_unit_test(test_primary_hello_wrong_role_resets),
		cmocka_unit_test(test_primary_hello_no_zstd_resets),
		cmocka_unit_test(test_primary_log_grew_sends_from),
		cmocka_unit_test(test_primary_sent_moves_sent),
		cmocka_unit_test(test_primary_log_grew_new_history_resets),
		cmocka_unit_test(test_primary_ack_records),
		cmocka_unit_test(test_primary_ack_beyond_sent_resets),
		cmocka_unit_test(test_primary_ack_other_history_resets),
		cmocka_unit_test(test_primary_snapshot_ack_streams),
		cmocka_unit_test(test_primary_unexpected_message_resets),
		cmocka_unit_test(test_primary_hello_timeout),
		cmocka_unit_test(test_primary_ack_timeout),
		cmocka_unit_test(test_primary_repeated_ack_keeps_link),
		cmocka_unit_test(test_primary_snapshot_ack_timeout),
		cmocka_unit_test(test_primary_snapshot_progress_timeout),
		cmocka_unit_test(test_replica_connect_sends_hello),
		cmocka_unit_test(test_replica_hello_waits_answer),
		cmocka_unit_test(test_replica_hello_from_replica_resets),
		cmocka_unit_test(test_replica_answer_incremental_streams),
		cmocka_unit_test(test_replica_answer_wrong_from_resets),
		cmocka_unit_test(test_replica_answer_new_history_adopts),
		cmocka_unit_test(
			test_replica_answer_incremental_without_position),
		cmocka_unit_test(test_replica_answer_refused_resets),
		cmocka_unit_test(test_replica_answer_wrong_version_resets),
		cmocka_unit_test(test_replica_snapshot_begin_stages),
		cmocka_unit_test(test_replica_snapshot_chunk_stages),
		cmocka_unit_test(
			test_replica_snapshot_chunk_out_of_order_resets),
		cmocka_unit_test(test_replica_snapshot_end_promotes),
		cmocka_unit_test(
			test_replica_snapshot_end_count_mismatch_resets),
		cmocka_unit_test(test_replica_promoted_acks_and_streams),
		cmocka_unit_test(test_replica_batch_next_applies),
		cmocka_unit_test(test_replica_applied_acks),
		cmocka_unit_test(test_replica_batch_replay_acks),
		cmocka_unit_test(test_replica_batch_gap_resets),
		cmocka_unit_test(test_replica_batch_during_snapshot_resets),
		cmocka_unit_test(test_replica_answer_timeout),
		cmocka_unit_test(test_replica_snapshot_stall_timeout),
		cmocka_unit_test(test_peer_error_resets_silently),
		cmocka_unit_test(test_local_error_resets),
		cmocka_unit_test(test_closed_returns_idle),
		cmocka_unit_test(test_decide_table),
		cmocka_unit_test(test_relay_decide),
		cmocka_unit_test(test_relay_hello),
		cmocka_unit_test(test_decide_previous_history),
		cmocka_unit_test(test_replica_adopts_promoted_history),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_startup_retry_backoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
