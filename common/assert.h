/* SPDX-License-Identifier: MIT */
/*
 * Assertions for programming errors only.  KS_REQUIRE is always on and aborts.
 * ks_fails_assert() is for "should not happen but survivable": it logs, aborts
 * in debug builds, and evaluates to true so the caller returns an error.
 * Never assert on anything derived from network input or disk contents: such
 * input is rejected with KS_EMALF.
 */
#pragma once

#include <stdbool.h>
#include <stdlib.h>

#include "common/log.h"

#define KS_REQUIRE(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			ks_log(KS_LOG_GENERAL, LOG_CRIT,                       \
			       "requirement failed: %s (%s:%d)", #cond,        \
			       __FILE__, __LINE__);                            \
			abort();                                               \
		}                                                              \
	} while (0)

static inline bool ks__fails_assert(bool failed, const char *expr,
				    const char *file, int line)
{
	if (failed) {
		ks_log(KS_LOG_GENERAL, LOG_ERR, "assertion failed: %s (%s:%d)",
		       expr, file, line);
#ifndef NDEBUG
		abort();
#endif
	}
	return failed;
}

#define ks_fails_assert(cond)                                                  \
	ks__fails_assert(!(cond), #cond, __FILE__, __LINE__)
