/* SPDX-License-Identifier: MIT */
/* The lockout merge rule: every case PROTOCOL.md §3.10 names. */
#include "common/lockout.h"
#include "helpers/test.h"

static ks_lockout_t lo(uint32_t s, uint32_t f, int32_t c)
{
	return (ks_lockout_t){ .last_success = s,
			       .last_failed = f,
			       .fail_auth_count = c };
}

static void check(ks_lockout_t base, ks_lockout_t other, ks_lockout_t want)
{
	ks_lockout_t got;
	ks_lockout_merge(&base, &other, &got);
	assert_int_equal(got.last_success, want.last_success);
	assert_int_equal(got.last_failed, want.last_failed);
	assert_int_equal(got.fail_auth_count, want.fail_auth_count);
	assert_true(ks_lockout_equal(&got, &want));
}

static void test_newer_failure_wins(void **state)
{
	(void)state;
	/* the replica locked the account after the primary's last failure */
	check(lo(100, 200, 1), lo(100, 300, 3), lo(100, 300, 3));
	/* and the other way round: base's newer failures stand */
	check(lo(100, 300, 3), lo(100, 200, 1), lo(100, 300, 3));
}

static void test_newer_success_resets(void **state)
{
	(void)state;
	/* a login after every failure anywhere unlocks */
	check(lo(100, 300, 3), lo(400, 250, 0), lo(400, 300, 0));
	check(lo(400, 250, 0), lo(100, 300, 3), lo(400, 300, 0));
	/* a success older than the other side's failures does not */
	check(lo(250, 200, 0), lo(100, 300, 2), lo(250, 300, 2));
}

static void test_unlock_wins_ties(void **state)
{
	(void)state;
	/* kadmin -unlock on the primary: count 0, last_failed unchanged;
	 * the replica's report of the same (older) failures loses */
	check(lo(0, 300, 0), lo(0, 300, 5), lo(0, 300, 0));
	/* applied on a replica, the primary's record is base: unlocked */
	check(lo(0, 300, 0), lo(0, 300, 5), lo(0, 300, 0));
	/* a failure after the unlock counts again */
	check(lo(0, 300, 0), lo(0, 301, 1), lo(0, 301, 1));
	/* a success in the same second as the failures reset the count */
	check(lo(300, 300, 0), lo(0, 300, 2), lo(300, 300, 0));
}

static void test_same_second_counts_on(void **state)
{
	(void)state;
	/* the replica reported one failure, then two more in the same
	 * second: the primary (base) holds 1, the report says 3 */
	check(lo(0, 300, 1), lo(0, 300, 3), lo(0, 300, 3));
	/* the primary's record of 1 back on the replica, which counted 3:
	 * not rolled back */
	check(lo(0, 300, 1), lo(0, 300, 3), lo(0, 300, 3));
	check(lo(0, 300, 4), lo(0, 300, 2), lo(0, 300, 4));
	/* the other side's zero at a tie (its own local unlock) is not
	 * authoritative */
	check(lo(0, 300, 2), lo(0, 300, 0), lo(0, 300, 2));
}

static void test_alias_and_identity(void **state)
{
	(void)state;
	ks_lockout_t a = lo(7, 9, 2), b = lo(8, 3, 0);
	ks_lockout_merge(&a, &b, &a);
	assert_true(ks_lockout_equal(&a, &(ks_lockout_t){ 8, 9, 2 }));
	/* merging with itself changes nothing; all zero stays zero */
	check(lo(5, 6, 1), lo(5, 6, 1), lo(5, 6, 1));
	check(lo(0, 0, 0), lo(0, 0, 0), lo(0, 0, 0));
	/* timestamps past 2038 compare unsigned, as MIT's ts_after does */
	check(lo(0, 0x80000010u, 2), lo(0, 0x7ffffff0u, 4),
	      lo(0, 0x80000010u, 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_newer_failure_wins),
		cmocka_unit_test(test_newer_success_resets),
		cmocka_unit_test(test_unlock_wins_ties),
		cmocka_unit_test(test_same_second_counts_on),
		cmocka_unit_test(test_alias_and_identity),
	};
	return test_run_group(tests, NULL, NULL);
}
