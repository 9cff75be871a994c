/* SPDX-License-Identifier: MIT */
/* The lockout merge rule (common/lockout.h, PROTOCOL.md §3.10). */
#include "common/lockout.h"

static uint32_t later(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

void ks_lockout_merge(const ks_lockout_t *base, const ks_lockout_t *other,
		      ks_lockout_t *out)
{
	ks_lockout_t r;
	r.last_success = later(base->last_success, other->last_success);
	r.last_failed = later(base->last_failed, other->last_failed);
	if (r.last_success > r.last_failed)
		/* a success newer than every failure reset the count (MIT's
		 * lockout audit zeroes it on success) */
		r.fail_auth_count = 0;
	else if (other->last_failed > base->last_failed)
		r.fail_auth_count = other->fail_auth_count;
	else if (base->last_failed > other->last_failed ||
		 base->fail_auth_count == 0)
		/* base's failures are newer; or, at a tie, base counts none:
		 * the authoritative side's unlock (kadmin -unlock zeroes the
		 * count and keeps last_failed) wins over the failures it
		 * unlocked */
		r.fail_auth_count = base->fail_auth_count;
	else
		/* the same second on both sides (timestamps are seconds):
		 * the failures reported so far, counted again with more */
		r.fail_auth_count =
			other->fail_auth_count > base->fail_auth_count
				? other->fail_auth_count
				: base->fail_auth_count;
	*out = r;
}

bool ks_lockout_equal(const ks_lockout_t *a, const ks_lockout_t *b)
{
	return a->last_success == b->last_success &&
	       a->last_failed == b->last_failed &&
	       a->fail_auth_count == b->fail_auth_count;
}
