/* SPDX-License-Identifier: MIT */
/* Line-oriented logger behind log.h: stderr by default, syslog on request. */
#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/log_limit.h"

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

/*
 * Repeated lines: 10 of one key per minute, then a count.  A flood (one line
 * per refused connection) stays a few lines a minute, while a line an
 * operator needs once in a while is never held back.
 */
static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;
static ks_log_limit_t limit = { .burst = 10, .interval_ms = 60000 };

void ks_log_set_limit(unsigned burst, unsigned interval_ms)
{
	pthread_mutex_lock(&limit_lock);
	ks_log_limit_init(&limit, burst, interval_ms);
	pthread_mutex_unlock(&limit_lock);
}

static void write_all(const char *p, size_t off)
{
	while (off > 0) {
		ssize_t w = write(STDERR_FILENO, p, off);
		if (w <= 0)
			break;
		p += w;
		off -= (size_t)w;
	}
}

/* One formatted line out: \p text is the message without any prefix. */
static void emit(enum ks_log_group group, int level, const char *text)
{
	char line[2048];
	size_t off;
	int n;

	if (use_syslog) {
		syslog(level, "%s: %s", group_names[group], text);
		return;
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	off = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line + off, sizeof(line) - off, ".%03ldZ %s %s: %s",
		     ts.tv_nsec / 1000000L, level_names[level],
		     group_names[group], text);
	if (n > 0)
		off += (size_t)n;
	if (off > sizeof(line) - 2)
		off = sizeof(line) - 2; /* truncated: keep the newline */
	line[off++] = '\n';
	write_all(line, off);
}

static void emit_summary(const ks_log_limit_summary_t *s)
{
	char text[KS_LOG_LIMIT_TEXT + 100];

	snprintf(text, sizeof(text),
		 "last message repeated %llu times in %llus: %s",
		 (unsigned long long)s->count, (unsigned long long)s->seconds,
		 s->text);
	emit((enum ks_log_group)(s->tag >> 3), (int)(s->tag & 7), text);
}

static void vlog(enum ks_log_group group, int level, bool site_wide,
		 const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void vlog(enum ks_log_group group, int level, bool site_wide,
		 const char *fmt, va_list ap)
{
	char text[1900];
	ks_log_limit_summary_t sum;
	struct timespec ts;
	uint64_t now_ms;
	bool write_it;

	if (!ks_log_enabled(group, level))
		return;
	level = clamp_level(level);
	vsnprintf(text, sizeof(text), fmt, ap);
	if (level == LOG_DEBUG) {
		emit(group, level, text);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	/* Summaries and the line go out under the lock, in order. */
	pthread_mutex_lock(&limit_lock);
	while (ks_log_limit_sweep(&limit, now_ms, &sum))
		emit_summary(&sum);
	write_it = ks_log_limit_check(
		&limit, fmt, site_wide ? 0 : ks_log_limit_hash(text),
		(unsigned)group << 3 | (unsigned)level, text, now_ms, &sum);
	if (sum.count > 0)
		emit_summary(&sum);
	if (write_it)
		emit(group, level, text);
	pthread_mutex_unlock(&limit_lock);
}

void ks_log(enum ks_log_group group, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(group, level, false, fmt, ap);
	va_end(ap);
}

void ks_log_limited(enum ks_log_group group, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(group, level, true, fmt, ap);
	va_end(ap);
}
