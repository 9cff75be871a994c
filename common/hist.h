/* SPDX-License-Identifier: MIT */
/*
 * A fixed-bucket histogram of durations, the shape Prometheus exposes
 * (cumulative buckets, sum, count).  Observations are in microseconds; the
 * bounds are the same for every histogram so renderers need no per-metric
 * table: 0.5 ms .. 60 s, roughly 1-2.5-5 steps.
 *
 * Not thread-safe: one owner thread observes and reads (the loop thread
 * for node status), or the owner copies it under its own lock.
 */
#pragma once

#include <stdint.h>

#define KS_HIST_BOUNDS                                                         \
	{                                                                      \
		500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,    \
			500000, 1000000, 2500000, 5000000, 10000000, 30000000, \
			60000000                                               \
	}
#define KS_HIST_N 16 /* finite bounds; one more bucket for +Inf */

typedef struct ks_hist {
	uint64_t bucket[KS_HIST_N + 1]; /* not cumulative; last = +Inf */
	uint64_t count;
	uint64_t sum_us;
} ks_hist_t;

/** \brief The upper bound of bucket \p i in microseconds (i < KS_HIST_N). */
uint64_t ks_hist_bound_us(unsigned i);

/** \brief Count one observation of \p us microseconds. */
void ks_hist_observe(ks_hist_t *h, uint64_t us);
