/* SPDX-License-Identifier: MIT */
/* Reconnect back-off: doubling steps, capped, jittered within [d/2, d]. */
#include <stdint.h>

#include "node/backoff.h"
#include "helpers/test.h"

static void test_bounds_and_growth(void **st)
{
	(void)st;
	uint64_t seed = test_seed();
	uint64_t step = 200;
	for (unsigned a = 0; a < 64; a++) {
		uint64_t lo = UINT64_MAX, hi = 0;
		for (int i = 0; i < 200; i++) {
			uint64_t d = node_backoff_delay(200, 30000, a,
							test_rand(&seed));
			assert_true(d >= step / 2 && d <= step);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
		assert_true(hi > lo); /* jitter spreads the delays */
		step = step * 2 > 30000 ? 30000 : step * 2;
	}
}

static void test_edges(void **st)
{
	(void)st;
	/* rnd 0 gives the full step; the largest jitter gives half */
	assert_int_equal(node_backoff_delay(100, 1000, 0, 0), 100);
	assert_int_equal(node_backoff_delay(100, 1000, 0, 50), 50);
	assert_int_equal(node_backoff_delay(100, 1000, 3, 0), 800);
	assert_int_equal(node_backoff_delay(100, 1000, 4, 0), 1000);
	assert_int_equal(node_backoff_delay(100, 1000, 4000000000u, 0), 1000);
	assert_int_equal(node_backoff_delay(1000, 1000, 7, 0), 1000);
	assert_true(node_backoff_delay(0, 10, 0, 0) >= 1);
	/* no overflow near the top of the range */
	assert_int_equal(
		node_backoff_delay(UINT64_MAX / 2 + 1, UINT64_MAX, 9, 0),
		UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds_and_growth),
		cmocka_unit_test(test_edges),
	};
	return test_run_group(tests, NULL, NULL);
}
