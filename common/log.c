/* SPDX-License-Identifier: MIT */
/* Line-oriented logger behind log.h: stderr by default, syslog on request. */
#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int group_level[KS_LOG_GROUP_COUNT] = {
#define KS__LOG_DEFAULT(name, str) [KS_LOG_##name] = LOG_INFO,
	KS_LOG_GROUPS(KS__LOG_DEFAULT)
#undef KS__LOG_DEFAULT
};

static const char *const group_names[KS_LOG_GROUP_COUNT] = {
#define KS__LOG_NAME(name, str) [KS_LOG_##name] = str,
	KS_LOG_GROUPS(KS__LOG_NAME)
#undef KS__LOG_NAME
};

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg",	   [LOG_ALERT] = "alert",
	[LOG_CRIT] = "crit",	   [LOG_ERR] = "error",
	[LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",	   [LOG_DEBUG] = "debug",
};

static _Atomic bool use_syslog;

static int clamp_level(int level)
{
	if (level < LOG_EMERG)
		return LOG_EMERG;
	if (level > LOG_DEBUG)
		return LOG_DEBUG;
	return level;
}

void ks_log_set_level(enum ks_log_group group, int level)
{
	if ((unsigned)group < KS_LOG_GROUP_COUNT)
		group_level[group] = clamp_level(level);
}

void ks_log_set_level_all(int level)
{
	for (int i = 0; i < KS_LOG_GROUP_COUNT; i++)
		group_level[i] = clamp_level(level);
}

bool ks_log_enabled(enum ks_log_group group, int level)
{
	if ((unsigned)group >= KS_LOG_GROUP_COUNT)
		return false;
	return level <= group_level[group];
}

int ks_log_level_parse(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i <= LOG_DEBUG; i++) {
		if (strcasecmp(name, level_names[i]) == 0)
			return i;
	}
	if (strcasecmp(name, "err") == 0)
		return LOG_ERR;
	if (strcasecmp(name, "warn") == 0)
		return LOG_WARNING;
	return -1;
}

int ks_log_group_parse(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < KS_LOG_GROUP_COUNT; i++) {
		if (strcasecmp(name, group_names[i]) == 0)
			return i;
	}
	return -1;
}

const char *ks_log_group_name(enum ks_log_group group)
{
	if ((unsigned)group >= KS_LOG_GROUP_COUNT)
		return "?";
	return group_names[group];
}

void ks_log_open_syslog(const char *ident)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	use_syslog = true;
}

void ks_log_close(void)
{
	if (use_syslog) {
		use_syslog = false;
		closelog();
	}
}

void ks_log(enum ks_log_group group, int level, const char *fmt, ...)
{
	char line[2048];
	size_t off = 0;
	va_list ap;
	int n;

	if (!ks_log_enabled(group, level))
		return;
	level = clamp_level(level);

	if (use_syslog) {
		n = snprintf(line, sizeof(line), "%s: ", group_names[group]);
		off = n > 0 ? (size_t)n : 0;
		va_start(ap, fmt);
		vsnprintf(line + off, sizeof(line) - off, fmt, ap);
		va_end(ap);
		syslog(level, "%s", line);
		return;
	}

	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	off = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line + off, sizeof(line) - off,
		     ".%03ldZ %s %s: ", ts.tv_nsec / 1000000L,
		     level_names[level], group_names[group]);
	if (n > 0)
		off += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
	va_end(ap);
	if (n > 0)
		off += (size_t)n;
	if (off > sizeof(line) - 2)
		off = sizeof(line) - 2; /* truncated: keep the newline */
	line[off++] = '\n';

	const char *p = line;
	while (off > 0) {
		ssize_t w = write(STDERR_FILENO, p, off);
		if (w <= 0)
			break;
		p += w;
		off -= (size_t)w;
	}
}
