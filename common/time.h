/* SPDX-License-Identifier: MIT */
/* Clock helpers: monotonic for durations and timeouts, real time for records. */
#pragma once

#include <stdint.h>
#include <time.h>

/** \brief Monotonic clock in nanoseconds (durations, never stored). */
static inline uint64_t ks_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/** \brief Wall clock in microseconds since the epoch (commit times). */
static inline uint64_t ks_real_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
