/* SPDX-License-Identifier: MIT */
/*
 * Bounds-checked big-endian read/write cursor with a sticky error.
 *
 * After the first failure (short buffer, write to a read-only cursor) every
 * further call is a no-op that reads zeroes, and ->err holds the first error
 * (KS_ETRUNC when reading past the end, KS_ELIMIT when writing past it), so a
 * parser reads field after field and checks once at the end.
 *
 * The cursor borrows its buffer; nothing here allocates.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/errors.h"

typedef struct ks_wire {
	uint8_t *pos;  /* next byte */
	uint8_t *end;  /* one past the last byte */
	uint8_t *base; /* start, for ks_wire_offset() */
	int err;       /* first error, KS_EOK while fine */
	bool readonly;
} ks_wire_t;

static inline ks_wire_t ks_wire_reader(const void *buf, size_t len)
{
	uint8_t *p = (uint8_t *)(uintptr_t)buf;
	return (ks_wire_t){
		.pos = p, .end = p + len, .base = p, .readonly = true
	};
}

static inline ks_wire_t ks_wire_writer(void *buf, size_t len)
{
	uint8_t *p = buf;
	return (ks_wire_t){ .pos = p, .end = p + len, .base = p };
}

static inline size_t ks_wire_left(const ks_wire_t *w)
{
	return w->err ? 0 : (size_t)(w->end - w->pos);
}

static inline size_t ks_wire_offset(const ks_wire_t *w)
{
	return (size_t)(w->pos - w->base);
}

/* Reserve n bytes for reading or writing; NULL (and sticky error) if short. */
static inline uint8_t *ks_wire__take(ks_wire_t *w, size_t n, bool write)
{
	if (w->err)
		return NULL;
	if (write && w->readonly) {
		w->err = KS_EINVAL;
		return NULL;
	}
	if ((size_t)(w->end - w->pos) < n) {
		w->err = write ? KS_ELIMIT : KS_ETRUNC;
		return NULL;
	}
	uint8_t *p = w->pos;
	w->pos += n;
	return p;
}

static inline uint8_t ks_wire_read_u8(ks_wire_t *w)
{
	const uint8_t *p = ks_wire__take(w, 1, false);
	return p ? p[0] : 0;
}

static inline uint16_t ks_wire_read_u16(ks_wire_t *w)
{
	const uint8_t *p = ks_wire__take(w, 2, false);
	return p ? (uint16_t)((uint16_t)p[0] << 8 | p[1]) : 0;
}

static inline uint32_t ks_wire_read_u32(ks_wire_t *w)
{
	const uint8_t *p = ks_wire__take(w, 4, false);
	if (!p)
		return 0;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t ks_wire_read_u64(ks_wire_t *w)
{
	uint64_t hi = ks_wire_read_u32(w);
	uint64_t lo = ks_wire_read_u32(w);
	return hi << 32 | lo;
}

/* Borrow n bytes in place; NULL on error.  Valid while the buffer is. */
static inline const uint8_t *ks_wire_read_view(ks_wire_t *w, size_t n)
{
	return ks_wire__take(w, n, false);
}

static inline void ks_wire_read_bytes(ks_wire_t *w, void *dst, size_t n)
{
	const uint8_t *p = ks_wire__take(w, n, false);
	if (p)
		memcpy(dst, p, n);
	else if (n)
		memset(dst, 0, n);
}

static inline void ks_wire_write_u8(ks_wire_t *w, uint8_t v)
{
	uint8_t *p = ks_wire__take(w, 1, true);
	if (p)
		p[0] = v;
}

static inline void ks_wire_write_u16(ks_wire_t *w, uint16_t v)
{
	uint8_t *p = ks_wire__take(w, 2, true);
	if (p) {
		p[0] = (uint8_t)(v >> 8);
		p[1] = (uint8_t)v;
	}
}

static inline void ks_wire_write_u32(ks_wire_t *w, uint32_t v)
{
	uint8_t *p = ks_wire__take(w, 4, true);
	if (p) {
		p[0] = (uint8_t)(v >> 24);
		p[1] = (uint8_t)(v >> 16);
		p[2] = (uint8_t)(v >> 8);
		p[3] = (uint8_t)v;
	}
}

static inline void ks_wire_write_u64(ks_wire_t *w, uint64_t v)
{
	ks_wire_write_u32(w, (uint32_t)(v >> 32));
	ks_wire_write_u32(w, (uint32_t)v);
}

static inline void ks_wire_write_bytes(ks_wire_t *w, const void *src, size_t n)
{
	uint8_t *p = ks_wire__take(w, n, true);
	if (p && n)
		memcpy(p, src, n);
}

/* Big-endian helpers for fixed buffers (keys, headers). */
static inline void ks_put_u64be(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint64_t ks_get_u64be(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void ks_put_u32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t ks_get_u32be(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}
