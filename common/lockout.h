/* SPDX-License-Identifier: MIT */
/*
 * The lockout merge rule (PROTOCOL.md §3.10): how two KDCs' views of one
 * principal's lockout fields (last_success, last_failed, fail_auth_count)
 * combine.  Pure: no I/O, no allocation, any thread.
 *
 * One side is authoritative on ties: the primary's record when a replica
 * applies it (bridge/apply.c), the primary's own entry when it merges a
 * replica's report.  That is what makes an administrator's unlock on the
 * primary (fail_auth_count reset, last_failed unchanged) win over failures
 * that are not newer than the primary's last_failed.  A tie with a
 * nonzero base count is the same failures counted further within one
 * second (timestamps are seconds): the larger count wins.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct ks_lockout {
	uint32_t last_success; /* krb5_timestamp, unsigned (MIT ts_after) */
	uint32_t last_failed;
	int32_t fail_auth_count;
} ks_lockout_t;

/**
 * \brief Merge \p other into \p base (base wins ties); result in \p out
 * (may alias either).  last_success and last_failed are the later of the
 * two; fail_auth_count is 0 when the latest event is a success newer than
 * every failure, else the count of the side with the newer last_failed;
 * on a tie of last_failed, 0 if base's count is 0 (an unlock), else the
 * larger count.
 */
void ks_lockout_merge(const ks_lockout_t *base, const ks_lockout_t *other,
		      ks_lockout_t *out);

/** \brief True if both hold the same three fields. */
bool ks_lockout_equal(const ks_lockout_t *a, const ks_lockout_t *b);
