/* SPDX-License-Identifier: MIT */
/* Growable byte buffer behind buf.h. */
#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/wire.h"

int ks_buf_reserve(ks_buf_t *b, size_t extra)
{
	if (extra <= b->cap - b->len)
		return KS_EOK;
	if (extra > SIZE_MAX / 2 - b->len)
		return KS_ENOMEM;
	size_t need = b->len + extra;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	uint8_t *p = realloc(b->data, cap);
	if (p == NULL)
		return KS_ENOMEM;
	b->data = p;
	b->cap = cap;
	return KS_EOK;
}

int ks_buf_append(ks_buf_t *b, const void *src, size_t n)
{
	int ret = ks_buf_reserve(b, n);
	if (ret != KS_EOK)
		return ret;
	if (n)
		memcpy(b->data + b->len, src, n);
	b->len += n;
	return KS_EOK;
}

int ks_buf_append_u8(ks_buf_t *b, uint8_t v)
{
	return ks_buf_append(b, &v, 1);
}

int ks_buf_append_u16(ks_buf_t *b, uint16_t v)
{
	uint8_t p[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	return ks_buf_append(b, p, sizeof(p));
}

int ks_buf_append_u32(ks_buf_t *b, uint32_t v)
{
	uint8_t p[4];
	ks_put_u32be(p, v);
	return ks_buf_append(b, p, sizeof(p));
}

int ks_buf_append_u64(ks_buf_t *b, uint64_t v)
{
	uint8_t p[8];
	ks_put_u64be(p, v);
	return ks_buf_append(b, p, sizeof(p));
}

int ks_buf_appendf(ks_buf_t *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return KS_EINVAL;
	/* room for vsnprintf's NUL, which is not counted in len */
	int ret = ks_buf_reserve(b, (size_t)n + 1);
	if (ret != KS_EOK)
		return ret;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return KS_EOK;
}

int ks_buf_append_json_str(ks_buf_t *b, const char *s)
{
	int ret = ks_buf_append_u8(b, '"');
	for (; ret == KS_EOK && s != NULL && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			ret = ks_buf_appendf(b, "\\%c", ch);
		else if (ch < 0x20)
			ret = ks_buf_appendf(b, "\\u%04x", ch);
		else
			ret = ks_buf_append_u8(b, ch);
	}
	return ret == KS_EOK ? ks_buf_append_u8(b, '"') : ret;
}

void ks_hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void ks_buf_free(ks_buf_t *b)
{
	free(b->data);
	*b = KS_BUF_INIT;
}
