/* SPDX-License-Identifier: MIT */
/* The rate-limit table behind the logger (see log_limit.h). */
#include "common/log_limit.h"

#include <stdio.h>
#include <string.h>

void ks_log_limit_init(ks_log_limit_t *l, unsigned burst, uint64_t interval_ms)
{
	memset(l, 0, sizeof(*l));
	l->burst = burst;
	l->interval_ms = interval_ms;
}

uint64_t ks_log_limit_hash(const char *text)
{
	uint64_t h = 1469598103934665603ull;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		h ^= *p;
		h *= 1099511628211ull;
	}
	return h != 0 ? h : 1;
}

/* Move a slot's dropped count into a summary and start it afresh. */
static void take_summary(const ks_log_limit_t *l, ks_log_limit_slot_t *s,
			 uint64_t now_ms, ks_log_limit_summary_t *sum)
{
	uint64_t span = now_ms - s->start_ms;

	if (span > l->interval_ms)
		span = l->interval_ms;
	sum->count = s->suppressed;
	sum->seconds = (span + 999) / 1000;
	sum->tag = s->tag;
	snprintf(sum->text, sizeof(sum->text), "%s", s->last);
	s->suppressed = 0;
}

bool ks_log_limit_check(ks_log_limit_t *l, const void *site, uint64_t hash,
			unsigned tag, const char *text, uint64_t now_ms,
			ks_log_limit_summary_t *sum)
{
	ks_log_limit_slot_t *s = NULL, *lru = &l->slot[0];

	sum->count = 0;
	if (l->burst == 0 || site == NULL)
		return true;
	for (size_t i = 0; i < KS_LOG_LIMIT_SLOTS; i++) {
		ks_log_limit_slot_t *c = &l->slot[i];
		if (c->site == site && c->hash == hash) {
			s = c;
			break;
		}
		/* Prefer a free slot, then the least recently used one. */
		if (lru->site != NULL &&
		    (c->site == NULL || c->used_ms < lru->used_ms))
			lru = c;
	}
	if (s == NULL) {
		s = lru;
		if (s->site != NULL && s->suppressed > 0)
			take_summary(l, s, now_ms, sum);
		*s = (ks_log_limit_slot_t){ .site = site,
					    .hash = hash,
					    .tag = tag,
					    .start_ms = now_ms };
	} else if (now_ms - s->start_ms >= l->interval_ms) {
		if (s->suppressed > 0)
			take_summary(l, s, now_ms, sum);
		s->start_ms = now_ms;
		s->count = 0;
	}
	s->used_ms = now_ms;
	if (s->count < l->burst) {
		s->count++;
		return true;
	}
	s->suppressed++;
	snprintf(s->last, sizeof(s->last), "%s", text);
	return false;
}

bool ks_log_limit_sweep(ks_log_limit_t *l, uint64_t now_ms,
			ks_log_limit_summary_t *sum)
{
	for (size_t i = 0; i < KS_LOG_LIMIT_SLOTS; i++) {
		ks_log_limit_slot_t *s = &l->slot[i];
		if (s->site != NULL && s->suppressed > 0 &&
		    now_ms - s->start_ms >= l->interval_ms) {
			take_summary(l, s, now_ms, sum);
			/* A new window: the next lines go out again. */
			s->start_ms = now_ms;
			s->count = 0;
			return true;
		}
	}
	return false;
}
