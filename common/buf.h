/* SPDX-License-Identifier: MIT */
/*
 * Byte views and growable buffers.
 *
 * ks_view_t borrows memory owned elsewhere (say who owns it where it is
 * returned).  ks_buf_t owns its heap memory: zero-initialise it
 * (KS_BUF_INIT), grow it with the functions below, release with
 * ks_buf_free().  On KS_ENOMEM the buffer keeps its old contents.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct ks_view {
	const uint8_t *ptr;
	size_t len;
} ks_view_t;

typedef struct ks_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
} ks_buf_t;

#define KS_BUF_INIT ((ks_buf_t){ 0 })

/** \brief Make room for \p extra more bytes past len.  \return 0, KS_ENOMEM. */
int ks_buf_reserve(ks_buf_t *b, size_t extra);

/** \brief Append \p n bytes.  \return 0, KS_ENOMEM. */
int ks_buf_append(ks_buf_t *b, const void *src, size_t n);

/** \brief Append a big-endian integer.  \return 0, KS_ENOMEM. */
int ks_buf_append_u8(ks_buf_t *b, uint8_t v);
int ks_buf_append_u16(ks_buf_t *b, uint16_t v);
int ks_buf_append_u32(ks_buf_t *b, uint32_t v);
int ks_buf_append_u64(ks_buf_t *b, uint64_t v);

/**
 * \brief Append printf-formatted text (no terminating NUL is kept).
 * \return 0, KS_ENOMEM, KS_EINVAL (bad format).
 */
int ks_buf_appendf(ks_buf_t *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/**
 * \brief Append \p s as a JSON string literal: quotes added, '"', '\\' and
 *        control bytes escaped; NULL is appended as "".
 * \return 0, KS_ENOMEM.
 */
int ks_buf_append_json_str(ks_buf_t *b, const char *s);

/**
 * \brief Write \p n bytes as lower-case hex into \p out, which must hold
 *        2 * n + 1 bytes; NUL-terminated.
 */
void ks_hex_encode(const uint8_t *p, size_t n, char *out);

/** \brief Forget the contents, keep the memory. */
static inline void ks_buf_reset(ks_buf_t *b)
{
	b->len = 0;
}

/** \brief Release the memory; the buffer is empty and reusable afterwards. */
void ks_buf_free(ks_buf_t *b);

static inline ks_view_t ks_buf_view(const ks_buf_t *b)
{
	return (ks_view_t){ .ptr = b->data, .len = b->len };
}
