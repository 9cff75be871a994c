/* SPDX-License-Identifier: MIT */
/*
 * Reconnect delays for the dialling side: exponential back-off with jitter.
 * Attempt n waits a random time in [d/2, d] where d = min(max, min << n),
 * so a fleet of replicas that lost their primary at the same moment does
 * not reconnect in lock step.  Pure function, tested in test_backoff.c.
 */
#pragma once

#include <stdint.h>

/**
 * \brief Delay before reconnect attempt \p attempt (0 = first retry).
 * \param rnd any random 64-bit value (the jitter source).
 * \return milliseconds, in [min/2, max].
 */
static inline uint64_t node_backoff_delay(uint64_t min_ms, uint64_t max_ms,
					  unsigned attempt, uint64_t rnd)
{
	uint64_t d = min_ms;

	if (min_ms == 0)
		d = min_ms = 1;
	while (attempt-- > 0 && d < max_ms)
		d = d > max_ms / 2 ? max_ms : d * 2;
	if (d > max_ms)
		d = max_ms;
	return d - (d / 2 > 0 ? rnd % (d / 2 + 1) : 0);
}
