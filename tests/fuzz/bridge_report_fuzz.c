/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for bridge/report.c's decoder: arbitrary bytes never
 * crash it, and whatever it accepts re-encodes to exactly the same bytes
 * (the format has one encoding per report).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/report.h"
#include "common/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[KS_REPORT_MAX_LEN];
	ks_report_t r;
	size_t n = 0;

	if (ks_report_decode(data, size, &r) != KS_EOK)
		return 0;
	if (ks_report_encode(&r, out, sizeof(out), &n) != KS_EOK || n != size ||
	    memcmp(out, data, size) != 0)
		abort();
	return 0;
}
