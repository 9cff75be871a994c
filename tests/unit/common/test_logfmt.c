/* SPDX-License-Identifier: MIT */
/* logfmt values and duration histograms (common/logfmt.h, common/hist.h). */
#include <string.h>

#include "common/hist.h"
#include "common/logfmt.h"
#include "helpers/test.h"

static void test_logfmt(void **state)
{
	char b[32];
	(void)state;
	assert_string_equal(ks_logfmt("kdc2.example.com", b, sizeof(b)),
			    "kdc2.example.com");
	assert_string_equal(ks_logfmt("", b, sizeof(b)), "\"\"");
	assert_string_equal(ks_logfmt(NULL, b, sizeof(b)), "\"\"");
	assert_string_equal(ks_logfmt("bad signature", b, sizeof(b)),
			    "\"bad signature\"");
	assert_string_equal(ks_logfmt("a=b", b, sizeof(b)), "\"a=b\"");
	assert_string_equal(ks_logfmt("say \"hi\"\\", b, sizeof(b)),
			    "\"say \\\"hi\\\"\\\\\"");
	assert_string_equal(ks_logfmt("two\nlines\t", b, sizeof(b)),
			    "\"two lines \"");
	/* cut to fit, still quoted and terminated */
	assert_string_equal(ks_logfmt("a very long reason indeed", b, 10),
			    "\"a very \"");
	assert_string_equal(ks_logfmt("abcdefghijkl", b, 5), "abcd");
	assert_string_equal(ks_logfmt("a b", b, 2), "");
	/* an escape is never split from its character */
	assert_string_equal(ks_logfmt("ab\"cd", b, 6), "\"ab\"");
}

static void test_hist(void **state)
{
	ks_hist_t h = { 0 };
	(void)state;
	ks_hist_observe(&h, 0);
	ks_hist_observe(&h, 500); /* on a bound: that bucket */
	ks_hist_observe(&h, 501); /* just above: the next */
	ks_hist_observe(&h, 60000000);
	ks_hist_observe(&h, 60000001); /* +Inf */
	assert_int_equal(h.count, 5);
	assert_int_equal(h.bucket[0], 2);
	assert_int_equal(h.bucket[1], 1);
	assert_int_equal(h.bucket[KS_HIST_N - 1], 1);
	assert_int_equal(h.bucket[KS_HIST_N], 1);
	assert_true(h.sum_us == 500 + 501 + 60000000ull + 60000001ull);
	for (unsigned i = 1; i < KS_HIST_N; i++)
		assert_true(ks_hist_bound_us(i) > ks_hist_bound_us(i - 1));
	assert_true(ks_hist_bound_us(KS_HIST_N) == UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logfmt),
		cmocka_unit_test(test_hist),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
