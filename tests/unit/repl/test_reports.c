/* SPDX-License-Identifier: MIT */
/*
 * node/repl/reports.c: from capture reports to a capture plan.  Each kind
 * maps to the right object (or to a scan), names are re-read once each,
 * lockout reports count only with replicate_lockout, a dropped count or a
 * load or lost report turns the plan into a scan, malformed messages are
 * counted and ignored, counters accumulate.
 */
#include <stdlib.h>
#include <string.h>

#include "node/repl/reports.h"
#include "helpers/test.h"

static size_t msg(uint8_t *buf, uint8_t kind, const char *name,
		  uint32_t dropped)
{
	static uint64_t id;
	ks_report_t r = { .kind = kind,
			  .id = ++id,
			  .dropped = dropped,
			  .name = name,
			  .name_len = name ? strlen(name) : 0 };
	size_t n = 0;
	assert_ks_ok(ks_report_encode(&r, buf, KS_REPORT_MAX_LEN, &n));
	return n;
}

static void add(repl_reports_t *rs, repl_report_stats_t *st, bool lockout,
		uint8_t kind, const char *name, uint32_t dropped)
{
	static uint8_t buf[KS_REPORT_MAX_LEN];
	size_t n = msg(buf, kind, name, dropped);
	assert_ks_ok(repl_reports_add(rs, buf, n, lockout, st));
}

static void test_plan(void **state)
{
	(void)state;
	repl_reports_t rs;
	repl_report_stats_t st = { 0 };
	const bridge_ref_t *refs;
	size_t n;

	repl_reports_init(&rs);
	add(&rs, &st, false, KS_REPORT_PRINC_PUT, "b@R", 0);
	add(&rs, &st, false, KS_REPORT_POLICY_PUT, "pol", 0);
	add(&rs, &st, false, KS_REPORT_PRINC_PUT, "b@R", 0); /* again */
	add(&rs, &st, false, KS_REPORT_PRINC_DEL, "a@R", 0);
	add(&rs, &st, false, KS_REPORT_MKEY, "K/M@R", 0);
	add(&rs, &st, false, KS_REPORT_LOCKOUT, "c@R", 0); /* ignored */
	add(&rs, &st, false, KS_REPORT_POLICY_DEL, "old", 0);
	add(&rs, &st, false, KS_REPORT_POLICY_PUT, "pol", 0);
	assert_ks_ok(repl_reports_plan(&rs, &refs, &n));
	assert_false(rs.scan);
	assert_int_equal(n, 5);
	const struct {
		uint8_t type;
		const char *name;
	} want[] = { { STORE_KEY_POLICY, "old" },
		     { STORE_KEY_POLICY, "pol" },
		     { STORE_KEY_PRINCIPAL, "K/M@R" },
		     { STORE_KEY_PRINCIPAL, "a@R" },
		     { STORE_KEY_PRINCIPAL, "b@R" } };
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(refs[i].type, want[i].type);
		assert_string_equal(refs[i].name, want[i].name);
	}
	assert_int_equal(st.messages, 8);
	assert_int_equal(st.by_kind[KS_REPORT_PRINC_PUT], 2);
	assert_int_equal(st.by_kind[KS_REPORT_POLICY_PUT], 2);
	assert_int_equal(st.by_kind[KS_REPORT_LOCKOUT], 1);
	assert_int_equal(st.lockout_ignored, 1);
	assert_int_equal(st.dropped, 0);
	repl_reports_deinit(&rs);

	/* with replicate_lockout the principal is re-read */
	repl_reports_init(&rs);
	add(&rs, &st, true, KS_REPORT_LOCKOUT, "c@R", 0);
	assert_ks_ok(repl_reports_plan(&rs, &refs, &n));
	assert_int_equal(n, 1);
	assert_int_equal(refs[0].type, STORE_KEY_PRINCIPAL);
	assert_string_equal(refs[0].name, "c@R");
	assert_int_equal(st.lockout_ignored, 1);
	assert_int_equal(st.by_kind[KS_REPORT_LOCKOUT], 2);
	repl_reports_deinit(&rs);

	/* nothing: an empty plan */
	repl_reports_init(&rs);
	assert_ks_ok(repl_reports_plan(&rs, &refs, &n));
	assert_int_equal(n, 0);
	assert_false(rs.scan);
	repl_reports_deinit(&rs);
}

static void test_scan(void **state)
{
	(void)state;
	static const struct {
		uint8_t kind;
		const char *name;
		uint32_t dropped;
		const char *why;
	} cases[] = {
		{ KS_REPORT_LOAD, NULL, 0, "report:load" },
		{ KS_REPORT_LOST, NULL, 0, "report:lost" },
		{ KS_REPORT_PRINC_PUT, "x@R", 3, "report:dropped" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		repl_reports_t rs;
		repl_report_stats_t st = { 0 };
		const bridge_ref_t *refs;
		size_t n = 9;
		repl_reports_init(&rs);
		add(&rs, &st, false, KS_REPORT_PRINC_PUT, "a@R", 0);
		add(&rs, &st, false, cases[i].kind, cases[i].name,
		    cases[i].dropped);
		add(&rs, &st, false, KS_REPORT_LOAD, NULL, 0); /* first wins */
		assert_true(rs.scan);
		assert_string_equal(rs.scan_why, cases[i].why);
		assert_ks_ok(repl_reports_plan(&rs, &refs, &n));
		assert_int_equal(n, 0); /* the scan covers every name */
		assert_int_equal(st.dropped, cases[i].dropped);
		repl_reports_deinit(&rs);
	}
}

static void test_malformed(void **state)
{
	(void)state;
	repl_reports_t rs;
	repl_report_stats_t st = { 0 };
	uint8_t buf[KS_REPORT_MAX_LEN];
	const bridge_ref_t *refs;
	size_t n = msg(buf, KS_REPORT_PRINC_PUT, "a@R", 0);

	repl_reports_init(&rs);
	/* every truncation and a flipped version: counted, ignored */
	for (size_t len = 0; len < n; len++)
		assert_ks_ok(repl_reports_add(&rs, buf, len, true, &st));
	buf[2] = 9;
	assert_ks_ok(repl_reports_add(&rs, buf, n, true, &st));
	assert_int_equal(st.malformed, n + 1);
	assert_int_equal(st.messages, 0);
	assert_ks_ok(repl_reports_plan(&rs, &refs, &n));
	assert_int_equal(n, 0);
	assert_false(rs.scan);
	repl_reports_deinit(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
