/* SPDX-License-Identifier: MIT */
/*
 * The replica's lockout coalescer (node/repl/coalesce.h): a set of names
 * with an open-addressing hash table over an arena.  Pure code, no I/O.
 */
#include "node/repl/coalesce.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

#define SLOTS_MIN	   64u
#define SLOTS_KEEP_ON_TAKE 4096u /* larger tables are freed at a take */

void repl_coalesce_init(repl_coalesce_t *c, size_t max, uint32_t window_ms)
{
	*c = (repl_coalesce_t){
		.cur = { .arena = KS_BUF_INIT },
		.max = max ? max : REPL_COALESCE_MAX,
		.window_ms = window_ms ? window_ms : REPL_COALESCE_WINDOW_MS,
	};
}

void repl_coalesce_set_free(repl_coalesce_set_t *s)
{
	ks_buf_free(&s->arena);
	free(s->off);
	*s = (repl_coalesce_set_t){ .arena = KS_BUF_INIT };
}

void repl_coalesce_deinit(repl_coalesce_t *c)
{
	repl_coalesce_set_free(&c->cur);
	free(c->slot);
	c->slot = NULL;
	c->nslot = c->cap = 0;
}

static uint64_t hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603u;
	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)s[i];
		h *= 1099511628211u;
	}
	return h;
}

const char *repl_coalesce_name(const repl_coalesce_set_t *s, size_t i)
{
	return (const char *)s->arena.data + s->off[i];
}

/* The slot holding \p name, or the free slot where it would go. */
static size_t find(const repl_coalesce_t *c, const char *name, size_t len,
		   bool *found)
{
	size_t mask = c->nslot - 1, i = (size_t)hash(name, len) & mask;

	for (;; i = (i + 1) & mask) {
		uint32_t v = c->slot[i];
		if (v == 0) {
			*found = false;
			return i;
		}
		const char *other = repl_coalesce_name(&c->cur, v - 1);
		if (strncmp(other, name, len) == 0 && other[len] == '\0') {
			*found = true;
			return i;
		}
	}
}

/* Room for one more name: the table at most half full, cur.off grown. */
static int grow(repl_coalesce_t *c)
{
	size_t n = c->cur.n;

	if (n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		size_t *off = realloc(c->cur.off, cap * sizeof(*off));
		if (off == NULL)
			return KS_ENOMEM;
		c->cur.off = off;
		c->cap = cap;
	}
	if (c->nslot >= 2 * (n + 1))
		return KS_EOK;
	size_t nslot = c->nslot ? 2 * c->nslot : SLOTS_MIN;
	while (nslot < 2 * (n + 1))
		nslot *= 2;
	uint32_t *slot = calloc(nslot, sizeof(*slot));
	if (slot == NULL)
		return KS_ENOMEM;
	free(c->slot);
	c->slot = slot;
	c->nslot = nslot;
	for (size_t k = 0; k < n; k++) {
		const char *s = repl_coalesce_name(&c->cur, k);
		bool found;
		size_t i = find(c, s, strlen(s), &found);
		c->slot[i] = (uint32_t)(k + 1);
	}
	return KS_EOK;
}

int repl_coalesce_add(repl_coalesce_t *c, const char *name, size_t len)
{
	bool found = false;
	size_t i;
	int ret;

	if (len == 0 || memchr(name, '\0', len) != NULL)
		return KS_EINVAL;
	if (c->nslot > 0) {
		i = find(c, name, len, &found);
		if (found) {
			c->coalesced++;
			return KS_EOK;
		}
	}
	if (len > REPL_COALESCE_NAME_MAX || c->cur.n >= c->max) {
		c->overflow++;
		return KS_ELIMIT;
	}
	ret = grow(c);
	if (ret != KS_EOK)
		return ret;
	size_t at = c->cur.arena.len;
	ret = ks_buf_append(&c->cur.arena, name, len);
	if (ret == KS_EOK)
		ret = ks_buf_append_u8(&c->cur.arena, 0);
	if (ret != KS_EOK) {
		c->cur.arena.len = at;
		return ret;
	}
	i = find(c, name, len, &found);
	c->cur.off[c->cur.n] = at;
	c->slot[i] = (uint32_t)(++c->cur.n);
	c->added++;
	return KS_EOK;
}

size_t repl_coalesce_pending(const repl_coalesce_t *c)
{
	return c->cur.n;
}

uint64_t repl_coalesce_due_in(const repl_coalesce_t *c, uint64_t now_ms)
{
	if (c->cur.n == 0)
		return UINT64_MAX;
	if (!c->flushed || now_ms >= c->last_flush_ms + c->window_ms)
		return 0;
	return c->last_flush_ms + c->window_ms - now_ms;
}

void repl_coalesce_take(repl_coalesce_t *c, uint64_t now_ms,
			repl_coalesce_set_t *out)
{
	*out = c->cur;
	c->cur = (repl_coalesce_set_t){ .arena = KS_BUF_INIT };
	c->cap = 0;
	if (c->nslot > SLOTS_KEEP_ON_TAKE) {
		free(c->slot); /* a burst's table goes back */
		c->slot = NULL;
		c->nslot = 0;
	} else if (c->slot != NULL) {
		memset(c->slot, 0, c->nslot * sizeof(*c->slot));
	}
	c->last_flush_ms = now_ms;
	c->flushed = true;
}
