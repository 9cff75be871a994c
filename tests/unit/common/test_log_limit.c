/* SPDX-License-Identifier: MIT */
/*
 * The log rate limiter: the pure table (bursts, windows, summaries, slot
 * reuse, site-wide keys) with explicit times, and the logger using it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/log_limit.h"
#include "helpers/test.h"

static const char site_a[] = "a %d", site_b[] = "b %s";

static bool check(ks_log_limit_t *l, const void *site, const char *text,
		  uint64_t now, ks_log_limit_summary_t *sum)
{
	return ks_log_limit_check(l, site, ks_log_limit_hash(text), 7, text,
				  now, sum);
}

static void test_burst_then_summary(void **state)
{
	(void)state;
	static ks_log_limit_t l;
	ks_log_limit_summary_t sum;

	ks_log_limit_init(&l, 3, 1000);
	for (int i = 0; i < 3; i++) {
		assert_true(check(&l, site_a, "same", 10 + i, &sum));
		assert_int_equal(sum.count, 0);
	}
	for (int i = 0; i < 5; i++)
		assert_false(check(&l, site_a, "same", 20 + i, &sum));
	/* other text from the same site, and the same text elsewhere: own keys */
	assert_true(check(&l, site_a, "other", 30, &sum));
	assert_true(check(&l, site_b, "same", 30, &sum));
	/* the window ends: one summary, then the line goes out */
	assert_true(check(&l, site_a, "same", 1010, &sum));
	assert_int_equal(sum.count, 5);
	assert_int_equal(sum.tag, 7);
	assert_int_equal(sum.seconds, 1);
	assert_string_equal(sum.text, "same");
	/* nothing dropped in a window: no summary */
	assert_true(check(&l, site_a, "same", 2100, &sum));
	assert_int_equal(sum.count, 0);
}

static void test_sweep_reports_a_burst_that_stopped(void **state)
{
	(void)state;
	static ks_log_limit_t l;
	ks_log_limit_summary_t sum;

	ks_log_limit_init(&l, 1, 500);
	assert_true(check(&l, site_a, "x", 0, &sum));
	assert_false(check(&l, site_a, "x", 1, &sum));
	assert_false(check(&l, site_a, "x", 2, &sum));
	assert_false(ks_log_limit_sweep(&l, 499, &sum)); /* window still open */
	assert_true(ks_log_limit_sweep(&l, 500, &sum));
	assert_int_equal(sum.count, 2);
	assert_false(ks_log_limit_sweep(&l, 501, &sum)); /* reported once */
	/* the key starts a new window: the next line goes out */
	assert_true(check(&l, site_a, "x", 502, &sum));
	assert_int_equal(sum.count, 0);
}

static void test_site_wide_key(void **state)
{
	(void)state;
	static ks_log_limit_t l;
	ks_log_limit_summary_t sum;
	char text[32];

	ks_log_limit_init(&l, 2, 1000);
	for (int i = 0; i < 10; i++) {
		snprintf(text, sizeof(text), "from 192.0.2.%d", i);
		bool w = ks_log_limit_check(&l, site_b, 0, 1, text, 5, &sum);
		assert_int_equal(w, i < 2);
	}
	assert_true(ks_log_limit_check(&l, site_b, 0, 1, "late", 1005, &sum));
	assert_int_equal(sum.count, 8);
	assert_string_equal(sum.text, "from 192.0.2.9"); /* the last dropped */
}

static void test_slot_reuse_reports_the_evicted_key(void **state)
{
	(void)state;
	static ks_log_limit_t l;
	ks_log_limit_summary_t sum;
	char text[32];

	ks_log_limit_init(&l, 1, 60000);
	assert_true(check(&l, site_a, "old", 0, &sum));
	assert_false(check(&l, site_a, "old", 1, &sum));
	/* fill every other slot with newer keys: "old" is reused last */
	int summaries = 0;
	for (int i = 0; i < KS_LOG_LIMIT_SLOTS; i++) {
		snprintf(text, sizeof(text), "k%d", i);
		assert_true(check(&l, site_a, text, 10 + (uint64_t)i, &sum));
		if (sum.count > 0) {
			summaries++;
			assert_string_equal(sum.text, "old");
			assert_int_equal(sum.count, 1);
		}
	}
	assert_int_equal(summaries, 1);
	/* no limit at all */
	ks_log_limit_init(&l, 0, 1000);
	for (int i = 0; i < 100; i++)
		assert_true(check(&l, site_a, "same", 0, &sum));
}

static void flood(void)
{
	ks_log_set_level_all(LOG_INFO);
	ks_log_set_limit(4, 300);
	for (int i = 0; i < 50; i++)
		ks_log_notice(NET, "refused connection from '%s'", "192.0.2.1");
	for (int i = 0; i < 50; i++)
		ks_log_limited(KS_LOG_NET, LOG_NOTICE, "client %d gone", i);
	ks_log_set_level(KS_LOG_NET, LOG_DEBUG);
	for (int i = 0; i < 12; i++)
		ks_log_debug(NET, "debug is never limited");
	ks_log_set_level(KS_LOG_NET, LOG_INFO);
	usleep(350 * 1000);
	ks_log_info(STORE, "something else");
	ks_log_set_limit(10, 60000);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void test_logger_limits_repeats(void **state)
{
	(void)state;
	char out[16384];

	test_capture_stderr(flood, out, sizeof(out));
	assert_int_equal(count(out, "refused connection from '192.0.2.1'\n"),
			 4 + 1); /* four, then the summary's copy */
	assert_non_null(strstr(out, " notice net: last message repeated 46 "
				    "times in 1s: refused connection from "
				    "'192.0.2.1'\n"));
	assert_int_equal(count(out, " gone\n"), 4 + 1);
	assert_non_null(strstr(out, "repeated 46 times in 1s: client 49 gone"));
	assert_int_equal(count(out, "never limited"), 12);
	assert_non_null(strstr(out, "info store: something else\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_summary),
		cmocka_unit_test(test_sweep_reports_a_burst_that_stopped),
		cmocka_unit_test(test_site_wide_key),
		cmocka_unit_test(test_slot_reuse_reports_the_evicted_key),
		cmocka_unit_test(test_logger_limits_repeats),
	};
	return test_run_group(tests, NULL, NULL);
}
