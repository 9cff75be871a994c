/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers for the cmocka unit tests: temp directories, error-aware
 * assertions, hex compare.  Include system and OpenSSL headers before this
 * file: cmocka redefines malloc under UNIT_TESTING.
 */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/errors.h"

/* Assert a KS_E* result is KS_EOK, printing its name and message if not. */
#define assert_ks_ok(expr)                                                     \
	do {                                                                   \
		int ks__r = (expr);                                            \
		if (ks__r != KS_EOK)                                           \
			fail_msg("%s returned %s (%s)", #expr,                 \
				 ks_errname(ks__r), ks_strerror(ks__r));       \
	} while (0)

/* Assert a KS_E* result equals an expected code, naming both. */
#define assert_ks_err(expr, want)                                              \
	do {                                                                   \
		int ks__r = (expr);                                            \
		int ks__w = (want);                                            \
		if (ks__r != ks__w)                                            \
			fail_msg("%s returned %s, expected %s", #expr,         \
				 ks_errname(ks__r), ks_errname(ks__w));        \
	} while (0)

/**
 * \brief Create a fresh directory under $TMPDIR (or /tmp).
 * \return a heap path the caller frees with test_rmtree_free().
 */
char *test_mkdtemp(const char *prefix);

/** \brief Remove the tree at \p path recursively and free the string. */
void test_rmtree_free(char *path);

/** \brief Count this process's open file descriptors (for leak checks). */
int test_count_fds(void);

/** \brief Fill \p buf with deterministic pseudo-random bytes from \p seed. */
void test_fill_random(void *buf, size_t len, uint64_t *seed);

/** \brief xorshift64* step, for reproducible random tests. */
uint64_t test_rand(uint64_t *seed);

/** \brief Seed from $KS_TEST_SEED if set, else from the clock; printed. */
uint64_t test_seed(void);

/** \brief Fail with a hex dump of both buffers if they differ. */
void test_assert_mem_eq(const void *got, size_t got_len, const void *want,
			size_t want_len);

/**
 * \brief Run \p fn with stderr redirected to a pipe; what it wrote (up to
 *        \p cap - 1 bytes, NUL-terminated) lands in \p out.
 * \return the number of bytes captured.
 */
size_t test_capture_stderr(void (*fn)(void), char *out, size_t cap);

/**
 * \brief Run the group, honouring $KS_TEST_FILTER (cmocka_set_test_filter).
 */
#define test_run_group(tests, setup, teardown)                                 \
	(test__apply_filter(), cmocka_run_group_tests(tests, setup, teardown))

void test__apply_filter(void);
