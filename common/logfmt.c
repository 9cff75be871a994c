/* SPDX-License-Identifier: MIT */
/* logfmt values for key=value log lines (logfmt.h). */
#include "common/logfmt.h"

#include <stdbool.h>
#include <string.h>

static bool bare(const char *v)
{
	if (v[0] == '\0')
		return false;
	for (const unsigned char *c = (const unsigned char *)v; *c; c++)
		if (*c <= ' ' || *c == '"' || *c == '=' || *c == '\\' ||
		    *c == 0x7f)
			return false;
	return true;
}

const char *ks_logfmt(const char *v, char *buf, size_t len)
{
	size_t o = 0;

	if (len == 0)
		return buf;
	if (v == NULL)
		v = "";
	if (bare(v)) {
		size_t n = strlen(v);
		if (n >= len)
			n = len - 1;
		memcpy(buf, v, n);
		buf[n] = '\0';
		return buf;
	}
	if (len < 3) {
		buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
		bool esc = *c == '"' || *c == '\\';
		if (o + (esc ? 2 : 1) + 1 >= len) /* room for the closing " */
			break;
		if (esc)
			buf[o++] = '\\';
		buf[o++] = (char)(*c < ' ' || *c == 0x7f ? ' ' : *c);
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
