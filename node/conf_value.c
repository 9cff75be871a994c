/* SPDX-License-Identifier: MIT */
/*
 * One configuration value (see conf_int.h): the parsers of each value type
 * (durations, sizes, booleans, names, HOST:PORT, files) and the check of a
 * value against its key's type and range, with the message naming the
 * key.  Called by conf.c while it loads a file.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"
#include "node/conf_int.h"

int node_conf__say(conf_loader_t *l, int code, const char *fmt, ...)
{
	va_list ap;
	char msg[400];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l->err != NULL && l->errlen > 0)
		snprintf(l->err, l->errlen, "%s: %s", l->path, msg);
	return code;
}

static int parse_u64(const char *s, uint64_t *out, const char **rest)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	*out = v;
	*rest = end;
	return 0;
}

static int parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = { { "ms", 1 },     { "s", 1000 },	 { "", 1000 },
		      { "m", 60000 },  { "h", 3600000 }, { "d", 86400000 },
		      { "sec", 1000 }, { "min", 60000 } };
	uint64_t v;
	const char *rest;

	if (parse_u64(s, &v, &rest) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(rest, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].mult)
				return -1;
			*ms = v * units[i].mult;
			return 0;
		}
	}
	return -1;
}

static int parse_size(const char *s, uint64_t *bytes)
{
	uint64_t v, mult;
	const char *rest;

	if (parse_u64(s, &v, &rest) != 0)
		return -1;
	if (*rest == '\0')
		mult = 1;
	else if (strcasecmp(rest, "K") == 0 || strcasecmp(rest, "KiB") == 0)
		mult = 1024;
	else if (strcasecmp(rest, "M") == 0 || strcasecmp(rest, "MiB") == 0)
		mult = 1024 * 1024;
	else if (strcasecmp(rest, "G") == 0 || strcasecmp(rest, "GiB") == 0)
		mult = 1024 * 1024 * 1024;
	else
		return -1;
	if (v > UINT64_MAX / mult)
		return -1;
	*bytes = v * mult;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1", "y", "t" };
	static const char *const no[] = { "no", "false", "off", "0", "n", "f" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

bool node_conf__valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!isalnum(ch) && ch != '-' && ch != '.' && ch != '_')
			return false;
		if (ch == '.' && s[i + 1] == '.')
			return false;
	}
	return true;
}

int node_hostport_parse(const char *s, node_hostport_t *out)
{
	const char *colon, *hs = s;
	size_t hl;
	uint64_t port;
	const char *rest;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			return KS_ECONFVAL;
		hs = s + 1;
		hl = (size_t)(rb - hs);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon)
			return KS_ECONFVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl > 253)
		return KS_ECONFVAL;
	if (parse_u64(colon + 1, &port, &rest) != 0 || *rest != '\0' ||
	    port < 1 || port > 65535)
		return KS_ECONFVAL;
	for (size_t i = 0; i < hl; i++) {
		unsigned char ch = (unsigned char)hs[i];
		if (!isalnum(ch) && ch != '-' && ch != '.' && ch != ':' &&
		    ch != '_')
			return KS_ECONFVAL;
	}
	out->host = strndup(hs, hl);
	if (out->host == NULL)
		return KS_ENOMEM;
	out->port = (uint16_t)port;
	return KS_EOK;
}

static const char *range_text(const conf_key_t *k, char *buf, size_t len)
{
	if (k->type == K_DURATION)
		snprintf(buf, len, "%llums..%llums", (unsigned long long)k->min,
			 (unsigned long long)k->max);
	else
		snprintf(buf, len, "%llu..%llu", (unsigned long long)k->min,
			 (unsigned long long)k->max);
	return buf;
}

static int check_file(conf_loader_t *l, const char *where, const char *v)
{
	struct stat st;

	if (v[0] != '/')
		return node_conf__say(l, KS_ECONFVAL,
				      "%s: '%s' is not an absolute path", where,
				      v);
	if (stat(v, &st) != 0)
		return node_conf__say(l, KS_ECONFVAL,
				      "%s: cannot use file '%s' (%s)", where, v,
				      strerror(errno));
	if (!S_ISREG(st.st_mode))
		return node_conf__say(l, KS_ECONFVAL,
				      "%s: '%s' is not a regular file", where,
				      v);
	if (access(v, R_OK) != 0)
		return node_conf__say(l, KS_ECONFVAL,
				      "%s: cannot read file '%s' (%s)", where,
				      v, strerror(errno));
	return KS_EOK;
}

/* Parse one value of key k into the configuration. */
int node_conf__set_value(conf_loader_t *l, const conf_key_t *k, const char *v)
{
	char where[80], rb[64];
	void *field = (char *)l->conf + k->off;
	uint64_t n;
	int ret;

	snprintf(where, sizeof(where), "[%s] %s", k->section, k->name);
	if (v == NULL || v[0] == '\0')
		return node_conf__say(l, KS_ECONFVAL, "%s: empty value", where);
	switch (k->type) {
	case K_NAME:
		if (!node_conf__valid_name(v))
			return node_conf__say(
				l, KS_ECONFVAL,
				"%s: '%s' is not a valid name (letters, digits, '.', '-', '_')",
				where, v);
		/* fall through */
	case K_STRING:
	case K_PATH:
	case K_FILE:
		if (k->type == K_PATH && v[0] != '/')
			return node_conf__say(
				l, KS_ECONFVAL,
				"%s: '%s' is not an absolute path", where, v);
		if (k->type == K_FILE && (ret = check_file(l, where, v)) != 0)
			return ret;
		free(*(char **)field);
		*(char **)field = strdup(v);
		return *(char **)field ? KS_EOK : KS_ENOMEM;
	case K_FILES: {
		node_strlist_t *sl = field;
		char **nv;
		if ((ret = check_file(l, where, v)) != 0)
			return ret;
		nv = realloc(sl->v, (sl->n + 1) * sizeof(char *));
		if (nv == NULL)
			return KS_ENOMEM;
		sl->v = nv;
		if ((sl->v[sl->n] = strdup(v)) == NULL)
			return KS_ENOMEM;
		sl->n++;
		return KS_EOK;
	}
	case K_ENUM:
		for (int i = 0; k->choices[i] != NULL; i++) {
			if (strcmp(v, k->choices[i]) == 0) {
				*(int *)field = i;
				return KS_EOK;
			}
		}
		return node_conf__say(l, KS_ECONFVAL,
				      "%s: '%s' is not one of %s%s%s", where, v,
				      k->choices[0], k->choices[1] ? "|" : "",
				      k->choices[1] ? k->choices[1] : "");
	case K_BOOL:
		if (parse_bool(v, (bool *)field) != 0)
			return node_conf__say(
				l, KS_ECONFVAL,
				"%s: '%s' is not a boolean (yes|no)", where, v);
		return KS_EOK;
	case K_LOGLEVEL: {
		int lv = ks_log_level_parse(v);
		if (lv < 0)
			return node_conf__say(
				l, KS_ECONFVAL,
				"%s: '%s' is not a level (err|warning|notice|info|debug)",
				where, v);
		*(int *)field = lv;
		return KS_EOK;
	}
	case K_DURATION:
		if (parse_duration(v, &n) != 0)
			return node_conf__say(
				l, KS_ECONFVAL,
				"%s: '%s' is not a duration (e.g. 500ms, 30s, 5m, 1h)",
				where, v);
		goto range;
	case K_SIZE:
		if (parse_size(v, &n) != 0)
			return node_conf__say(
				l, KS_ECONFVAL,
				"%s: '%s' is not a size (e.g. 65536, 64K, 4M)",
				where, v);
		goto range;
	case K_UINT: {
		const char *rest;
		if (parse_u64(v, &n, &rest) != 0 || *rest != '\0')
			return node_conf__say(l, KS_ECONFVAL,
					      "%s: '%s' is not a whole number",
					      where, v);
		goto range;
	}
	case K_HOSTPORT: {
		node_hostport_t *hp = field;
		free(hp->host);
		hp->host = NULL;
		ret = node_hostport_parse(v, hp);
		if (ret == KS_ECONFVAL)
			return node_conf__say(
				l, ret,
				"%s: '%s' is not HOST:PORT (port 1..65535)",
				where, v);
		return ret;
	}
	}
	return KS_EINTERNAL;
range:
	if (n < k->min || n > k->max)
		return node_conf__say(l, KS_ECONFVAL,
				      "%s: '%s' is out of range %s", where, v,
				      range_text(k, rb, sizeof(rb)));
	*(uint64_t *)field = n;
	return KS_EOK;
}
