/* SPDX-License-Identifier: MIT */
/* Fixed-bucket duration histograms (hist.h). */
#include "common/hist.h"

static const uint64_t bounds[KS_HIST_N] = KS_HIST_BOUNDS;

uint64_t ks_hist_bound_us(unsigned i)
{
	return i < KS_HIST_N ? bounds[i] : UINT64_MAX;
}

void ks_hist_observe(ks_hist_t *h, uint64_t us)
{
	unsigned i = 0;

	while (i < KS_HIST_N && us > bounds[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum_us += us;
}
