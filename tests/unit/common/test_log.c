/* SPDX-License-Identifier: MIT */
/* Logger: thresholds per group, parsing, and the one-line output format. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "helpers/test.h"

static void emit(void)
{
	ks_log_set_level_all(LOG_INFO);
	ks_log_set_level(KS_LOG_TLS, LOG_ERR);
	ks_log_info(STORE, "opened '%s' (%d records)", "/x", 3);
	ks_log_info(TLS, "hidden");
	ks_log_err(TLS, "handshake failed (%s)", "bad cert");
	ks_log_debug(STORE, "hidden too");
}

static void test_output(void **state)
{
	(void)state;
	char out[1024];
	test_capture_stderr(emit, out, sizeof(out));
	assert_non_null(strstr(out, " info store: opened '/x' (3 records)\n"));
	assert_non_null(
		strstr(out, " error tls: handshake failed (bad cert)\n"));
	assert_null(strstr(out, "hidden"));
	/* exactly two lines, each starting with an ISO-8601 UTC time */
	int lines = 0;
	for (char *p = out; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 2);
	assert_int_equal(out[4], '-');
	assert_int_equal(out[10], 'T');
	assert_int_equal(out[23], 'Z');
}

static void emit_long(void)
{
	char big[5000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ks_log_set_level_all(LOG_INFO);
	ks_log_info(GENERAL, "%s", big);
}

static void test_truncation_keeps_newline(void **state)
{
	(void)state;
	char out[8192];
	size_t n = test_capture_stderr(emit_long, out, sizeof(out));
	assert_true(n > 1000 && n < 2100);
	assert_int_equal(out[n - 1], '\n');
}

static void test_parse(void **state)
{
	(void)state;
	assert_int_equal(ks_log_level_parse("debug"), LOG_DEBUG);
	assert_int_equal(ks_log_level_parse("ERR"), LOG_ERR);
	assert_int_equal(ks_log_level_parse("warning"), LOG_WARNING);
	assert_int_equal(ks_log_level_parse("loud"), -1);
	assert_int_equal(ks_log_group_parse("kprop"), KS_LOG_KPROP);
	assert_int_equal(ks_log_group_parse("nope"), -1);
	assert_string_equal(ks_log_group_name(KS_LOG_REPL), "repl");
	ks_log_set_level(KS_LOG_REPL, LOG_DEBUG);
	assert_true(ks_log_enabled(KS_LOG_REPL, LOG_DEBUG));
	ks_log_set_level(KS_LOG_REPL, LOG_NOTICE);
	assert_false(ks_log_enabled(KS_LOG_REPL, LOG_INFO));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output),
		cmocka_unit_test(test_truncation_keeps_newline),
		cmocka_unit_test(test_parse),
	};
	return test_run_group(tests, NULL, NULL);
}
