/* SPDX-License-Identifier: MIT */
/* Error table: every code has a distinct name and a message; POSIX maps 1:1. */
#include <errno.h>
#include <string.h>

#include "helpers/test.h"

static const int all_codes[] = {
#define X_POSIX(name, msg) KS_##name,
	KS_POSIX_ERRORS(X_POSIX)
#undef X_POSIX
#define X_PROJ(name, val, msg) KS_##name,
		KS_PROJECT_ERRORS(X_PROJ)
#undef X_PROJ
};

static void test_posix_one_to_one(void **state)
{
	(void)state;
	assert_int_equal(KS_ENOMEM, -ENOMEM);
	assert_int_equal(KS_EINVAL, -EINVAL);
	assert_int_equal(KS_ETIMEDOUT, -ETIMEDOUT);
	assert_int_equal(ks_errno(ENOENT), KS_ENOENT);
	assert_int_equal(ks_errno(0), KS_EOK);
	/* an errno we do not name still gets a message */
	assert_string_equal(ks_strerror(-EROFS), strerror(EROFS));
	assert_string_equal(ks_errname(-EROFS), "KS_E?");
}

static void test_names_distinct(void **state)
{
	(void)state;
	size_t n = sizeof(all_codes) / sizeof(all_codes[0]);
	for (size_t i = 0; i < n; i++) {
		assert_true(all_codes[i] < 0);
		assert_string_not_equal(ks_errname(all_codes[i]), "KS_E?");
		assert_string_not_equal(ks_strerror(all_codes[i]),
					"unknown error");
		for (size_t j = i + 1; j < n; j++) {
			assert_int_not_equal(all_codes[i], all_codes[j]);
			assert_string_not_equal(ks_errname(all_codes[i]),
						ks_errname(all_codes[j]));
		}
	}
	assert_true(KS_EMALF <= -1000);
	assert_string_equal(ks_errname(KS_EMALF), "KS_EMALF");
	assert_string_equal(ks_errname(KS_EOK), "KS_EOK");
	assert_string_equal(ks_strerror(-99999), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_posix_one_to_one),
		cmocka_unit_test(test_names_distinct),
	};
	return test_run_group(tests, NULL, NULL);
}
