/* SPDX-License-Identifier: MIT */
/* The lockout merge rule: every case PROTOCOL.md §3.10 names. */
#include "common/lockout.h"
#include "helpers/test.h"

#define LO(s, f, c)                                                            \
	{                                                                      \
		.last_success = (s), .last_failed = (f),                       \
		.fail_auth_count = (c)                                         \
	}

/* One merge: base (the record here) merged with other (the peer's) gives
 * want. */
typedef struct merge_case {
	const char *what;
	ks_lockout_t base, other, want;
} merge_case_t;

static const merge_case_t cases[] = {
	/* a newer failure wins */
	{ "the replica locked the account after the primary's last failure",
	  LO(100, 200, 1), LO(100, 300, 3), LO(100, 300, 3) },
	{ "and the other way round: base's newer failures stand",
	  LO(100, 300, 3), LO(100, 200, 1), LO(100, 300, 3) },
	/* a newer success resets */
	{ "a login after every failure anywhere unlocks", LO(100, 300, 3),
	  LO(400, 250, 0), LO(400, 300, 0) },
	{ "a login after every failure anywhere unlocks (other side)",
	  LO(400, 250, 0), LO(100, 300, 3), LO(400, 300, 0) },
	{ "a success older than the other side's failures does not unlock",
	  LO(250, 200, 0), LO(100, 300, 2), LO(250, 300, 2) },
	/* an unlock wins ties */
	{ "kadmin -unlock on the primary (count 0, last_failed unchanged) "
	  "beats the replica's report of the same older failures; applied "
	  "on a replica the primary's record is base: unlocked",
	  LO(0, 300, 0), LO(0, 300, 5), LO(0, 300, 0) },
	{ "a failure after the unlock counts again", LO(0, 300, 0),
	  LO(0, 301, 1), LO(0, 301, 1) },
	{ "a success in the same second as the failures reset the count",
	  LO(300, 300, 0), LO(0, 300, 2), LO(300, 300, 0) },
	/* failures in the same second count on */
	{ "one failure reported, then two more in the same second: the "
	  "primary (base) holds 1, the report says 3; the same back on the "
	  "replica, which counted 3, is not rolled back",
	  LO(0, 300, 1), LO(0, 300, 3), LO(0, 300, 3) },
	{ "the higher count of the same second stands", LO(0, 300, 4),
	  LO(0, 300, 2), LO(0, 300, 4) },
	{ "the other side's zero at a tie (its own local unlock) is not "
	  "authoritative",
	  LO(0, 300, 2), LO(0, 300, 0), LO(0, 300, 2) },
	/* identity */
	{ "merging with itself changes nothing", LO(5, 6, 1), LO(5, 6, 1),
	  LO(5, 6, 1) },
	{ "all zero stays zero", LO(0, 0, 0), LO(0, 0, 0), LO(0, 0, 0) },
	{ "timestamps past 2038 compare unsigned, as MIT's ts_after does",
	  LO(0, 0x80000010u, 2), LO(0, 0x7ffffff0u, 4), LO(0, 0x80000010u, 2) },
};

static void test_merge_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const merge_case_t *c = &cases[i];
		ks_lockout_t got;
		ks_lockout_merge(&c->base, &c->other, &got);
		if (got.last_success != c->want.last_success ||
		    got.last_failed != c->want.last_failed ||
		    got.fail_auth_count != c->want.fail_auth_count ||
		    !ks_lockout_equal(&got, &c->want))
			fail_msg("case %zu (%s): got %u/%u/%d, want %u/%u/%d",
				 i, c->what, got.last_success, got.last_failed,
				 got.fail_auth_count, c->want.last_success,
				 c->want.last_failed, c->want.fail_auth_count);
	}
}

static void test_alias_and_identity(void **state)
{
	(void)state;
	ks_lockout_t a = LO(7, 9, 2), b = LO(8, 3, 0);
	/* the result may be one of the inputs */
	ks_lockout_merge(&a, &b, &a);
	assert_true(ks_lockout_equal(&a, &(ks_lockout_t){ 8, 9, 2 }));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_cases),
		cmocka_unit_test(test_alias_and_identity),
	};
	return test_run_group(tests, NULL, NULL);
}
