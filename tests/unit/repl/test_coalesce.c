/* SPDX-License-Identifier: MIT */
/*
 * node/repl/coalesce.c: the replica's lockout coalescer.  A name reported
 * many times within a window is taken once; flushes are at least a window
 * apart (an isolated report after a quiet window goes at once); the set is
 * bounded (overflow counted, nothing kept); bad names are refused; a
 * random workload against a plain model keeps exactly the distinct names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "node/repl/coalesce.h"
#include "helpers/test.h"

static int add(repl_coalesce_t *c, const char *name)
{
	return repl_coalesce_add(c, name, strlen(name));
}

static void test_storm_coalesces(void **state)
{
	(void)state;
	repl_coalesce_t c;
	repl_coalesce_set_t s;
	char name[32];

	repl_coalesce_init(&c, 0, 0);
	assert_int_equal(repl_coalesce_due_in(&c, 1000), UINT64_MAX);
	/* 10 principals, 10,000 reports each (a busy KDC's AS requests) */
	for (int k = 0; k < 10000; k++)
		for (int i = 0; i < 10; i++) {
			snprintf(name, sizeof(name), "user%d@R", i);
			assert_ks_ok(add(&c, name));
		}
	assert_int_equal(repl_coalesce_pending(&c), 10);
	assert_int_equal(c.added, 10);
	assert_int_equal(c.coalesced, 99990);
	assert_int_equal(repl_coalesce_due_in(&c, 1000), 0); /* first: now */
	repl_coalesce_take(&c, 1000, &s);
	assert_int_equal(s.n, 10);
	for (size_t i = 0; i < s.n; i++) {
		snprintf(name, sizeof(name), "user%zu@R", i);
		assert_string_equal(repl_coalesce_name(&s, i), name);
	}
	repl_coalesce_set_free(&s);
	assert_int_equal(repl_coalesce_pending(&c), 0);
	assert_int_equal(repl_coalesce_due_in(&c, 1001), UINT64_MAX);
	repl_coalesce_deinit(&c);
}

static void test_window(void **state)
{
	(void)state;
	repl_coalesce_t c;
	repl_coalesce_set_t s;

	repl_coalesce_init(&c, 0, 150);
	assert_ks_ok(add(&c, "a@R"));
	repl_coalesce_take(&c, 1000, &s);
	repl_coalesce_set_free(&s);
	/* the next flush waits for the window */
	assert_ks_ok(add(&c, "a@R"));
	assert_int_equal(repl_coalesce_due_in(&c, 1000), 150);
	assert_int_equal(repl_coalesce_due_in(&c, 1100), 50);
	assert_int_equal(repl_coalesce_due_in(&c, 1150), 0);
	/* a name taken before is new again in the next window */
	assert_int_equal(c.added, 2);
	assert_int_equal(c.coalesced, 0);
	repl_coalesce_take(&c, 1150, &s);
	assert_int_equal(s.n, 1);
	repl_coalesce_set_free(&s);
	/* after a quiet window, at once */
	assert_ks_ok(add(&c, "b@R"));
	assert_int_equal(repl_coalesce_due_in(&c, 5000), 0);
	repl_coalesce_deinit(&c);
}

static void test_bounded(void **state)
{
	(void)state;
	repl_coalesce_t c;
	repl_coalesce_set_t s;
	char *big = malloc(REPL_COALESCE_NAME_MAX + 2);

	assert_non_null(big);
	repl_coalesce_init(&c, 3, 0);
	assert_ks_ok(add(&c, "a@R"));
	assert_ks_ok(add(&c, "b@R"));
	assert_ks_ok(add(&c, "c@R"));
	assert_int_equal(add(&c, "d@R"), KS_ELIMIT);
	assert_ks_ok(add(&c, "b@R")); /* pending already: no room needed */
	assert_int_equal(c.overflow, 1);
	assert_int_equal(repl_coalesce_pending(&c), 3);
	/* names: empty, NUL inside, too long */
	assert_int_equal(repl_coalesce_add(&c, "", 0), KS_EINVAL);
	assert_int_equal(repl_coalesce_add(&c, "a\0b", 3), KS_EINVAL);
	repl_coalesce_take(&c, 10, &s);
	repl_coalesce_set_free(&s);
	memset(big, 'x', REPL_COALESCE_NAME_MAX + 1);
	assert_int_equal(repl_coalesce_add(&c, big, REPL_COALESCE_NAME_MAX + 1),
			 KS_ELIMIT);
	assert_ks_ok(repl_coalesce_add(&c, big, REPL_COALESCE_NAME_MAX));
	/* prefixes are other names */
	assert_ks_ok(repl_coalesce_add(&c, big, 5));
	assert_int_equal(repl_coalesce_pending(&c), 2);
	free(big);
	repl_coalesce_deinit(&c);
}

/* Random names from a small alphabet (prefixes of each other collide a
 * lot) against a plain model: the set holds each distinct name once, in
 * first-arrival order, across takes and table growth. */
static void test_random_model(void **state)
{
	(void)state;
	uint64_t seed = test_seed();
	repl_coalesce_t c;
	repl_coalesce_set_t s;
	enum {
		N = 3000
	};
	char(*model)[8] = calloc(N, sizeof(*model));
	size_t nm = 0;

	assert_non_null(model);
	repl_coalesce_init(&c, 0, 0);
	for (int round = 0; round < 20; round++) {
		nm = 0;
		int ops = (int)(test_rand(&seed) % N) + 1;
		for (int k = 0; k < ops; k++) {
			char name[8];
			size_t len = test_rand(&seed) % 6 + 1;
			for (size_t i = 0; i < len; i++)
				name[i] = (char)('a' + test_rand(&seed) % 3);
			name[len] = '\0';
			bool seen = false;
			for (size_t i = 0; i < nm && !seen; i++)
				seen = strcmp(model[i], name) == 0;
			if (!seen)
				memcpy(model[nm++], name, len + 1);
			assert_ks_ok(add(&c, name));
		}
		assert_int_equal(repl_coalesce_pending(&c), nm);
		repl_coalesce_take(&c, (uint64_t)round * 1000, &s);
		assert_int_equal(s.n, nm);
		for (size_t i = 0; i < nm; i++)
			assert_string_equal(repl_coalesce_name(&s, i),
					    model[i]);
		repl_coalesce_set_free(&s);
	}
	free(model);
	repl_coalesce_deinit(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_storm_coalesces),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_random_model),
	};
	return test_run_group(tests, NULL, NULL);
}
