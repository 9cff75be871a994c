/* SPDX-License-Identifier: MIT */
/*
 * The admission decision as a table: per-address cap, handshake cap,
 * reserved room, eviction, and a configured peer's address under a flood.
 */
#include <stdio.h>

#include "node/net/admit.h"
#include "helpers/test.h"

static const node_admit_limits_t lim = { .max_connections = 10,
					 .max_handshakes = 4,
					 .max_per_address = 2,
					 .reserved = 3 };

static void test_table(void **state)
{
	(void)state;
	static const struct {
		node_admit_in_t in;
		enum node_admit want;
	} t[] = {
		/* unknown addresses */
		{ { 0, 0, 0, 0, false, false }, NODE_ADMIT_ACCEPT },
		{ { 3, 0, 2, 1, false, true }, NODE_ADMIT_ACCEPT },
		{ { 1, 0, 0, 2, false, true }, NODE_ADMIT_REFUSE_ADDRESS },
		{ { 4, 0, 0, 0, false, true }, NODE_ADMIT_EVICT },
		{ { 4, 0, 0, 0, false, false }, NODE_ADMIT_REFUSE_FULL },
		/* handshakes below their cap, but the reserved room is hit:
		 * 3 + 4 established = 7 = 10 - 3 */
		{ { 3, 0, 4, 0, false, true }, NODE_ADMIT_EVICT },
		{ { 0, 3, 4, 0, false, false }, NODE_ADMIT_REFUSE_FULL },
		/* known addresses: no per-address or handshake cap, the
		 * reserved room is theirs, then eviction */
		{ { 4, 0, 0, 9, true, true }, NODE_ADMIT_ACCEPT },
		{ { 4, 2, 3, 0, true, true }, NODE_ADMIT_ACCEPT },
		{ { 4, 3, 3, 0, true, true }, NODE_ADMIT_EVICT },
		{ { 0, 7, 3, 0, true, false }, NODE_ADMIT_REFUSE_FULL },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum node_admit a = node_admit_decide(&lim, &t[i].in);
		if (a != t[i].want)
			fail_msg("row %zu: got %d, want %d", i, (int)a,
				 (int)t[i].want);
	}
	assert_string_equal(node_admit_reason(NODE_ADMIT_ACCEPT), "");
	assert_non_null(node_admit_reason(NODE_ADMIT_EVICT));
}

/*
 * A flood simulated on the decision alone: 500 unknown clients from 50
 * addresses keep reconnecting; whenever the peer's address turns up it is
 * admitted, and unknown handshakes never pass their caps.
 */
static void test_flood_never_locks_out_a_peer(void **state)
{
	(void)state;
	node_admit_limits_t l = { .max_connections = 64,
				  .max_handshakes = 32,
				  .max_per_address = 8,
				  .reserved = 2 };
	unsigned per_addr[50] = { 0 };
	unsigned hs = 0, known_hs = 0, est = 1;
	uint64_t seed = 12345;

	for (int step = 0; step < 20000; step++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		bool peer = step % 997 == 0;
		unsigned addr = (unsigned)(seed >> 33) % 50;
		node_admit_in_t in = { .handshakes = hs,
				       .known_handshakes = known_hs,
				       .established = est,
				       .from_address =
					       peer ? known_hs : per_addr[addr],
				       .known = peer,
				       .evictable = hs > 0 };
		enum node_admit a = node_admit_decide(&l, &in);
		if (peer) {
			assert_true(a == NODE_ADMIT_ACCEPT ||
				    a == NODE_ADMIT_EVICT);
			if (a == NODE_ADMIT_EVICT) {
				hs--; /* any unknown one: counts only */
				for (unsigned k = 0; k < 50; k++)
					if (per_addr[k] > 0) {
						per_addr[k]--;
						break;
					}
			}
			continue; /* its handshake completes at once */
		}
		if (a == NODE_ADMIT_ACCEPT) {
			hs++;
			per_addr[addr]++;
		} else if (a == NODE_ADMIT_EVICT) {
			for (unsigned k = 0; k < 50; k++)
				if (per_addr[k] > 0) {
					per_addr[k]--;
					break;
				}
			per_addr[addr]++;
		}
		assert_true(hs <= l.max_handshakes);
		assert_true(per_addr[addr] <= l.max_per_address);
		assert_true(hs + est <= l.max_connections - l.reserved);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_flood_never_locks_out_a_peer),
	};
	return test_run_group(tests, NULL, NULL);
}
